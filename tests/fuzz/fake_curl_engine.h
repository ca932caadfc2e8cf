// A link-time fake of http::CurlEngine for the URL fuzzer: it replaces
// server/http/curl_engine.cc (which then is never linked) and records the
// requests RestTriverseStub hands to the engine instead of sending them.
#ifndef TRIVERSE_TESTS_FUZZ_FAKE_CURL_ENGINE_H_
#define TRIVERSE_TESTS_FUZZ_FAKE_CURL_ENGINE_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "server/http/curl_engine.h"

namespace triverse::fuzz {

// RecordedRequest is what the stub asked the engine for.
struct RecordedRequest {
  bool websocket = false;
  std::string method;
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
};

// Recorded returns the requests started since the last ClearRecorded().
std::vector<RecordedRequest>& Recorded();
void ClearRecorded();

// NewFakeEngine returns an engine that only records.
std::unique_ptr<http::CurlEngine> NewFakeEngine();

}  // namespace triverse::fuzz

#endif  // TRIVERSE_TESTS_FUZZ_FAKE_CURL_ENGINE_H_
