// Link-time fake of http::CurlEngine (see fake_curl_engine.h). It defines
// every out-of-line member the stub can reach, so the linker never pulls
// curl_engine.o from the static triverse_http library (if it did, the
// duplicate definitions would fail the link). No thread, no libcurl handle:
// Start() and OpenWebSocket() record the request and drop its callbacks.
#include "tests/fuzz/fake_curl_engine.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"

namespace triverse::http {

// The private members' types, complete here so that the engine's members
// can be destroyed; the real definitions are in curl_engine.cc, which is not
// part of this program.
struct CurlEngine::Transfer {};
struct CurlEngine::Command {};

std::string HttpResponse::Header(absl::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (absl::EqualsIgnoreCase(key, name)) return value;
  }
  return "";
}

CurlEngine::CurlEngine(Options options, void* multi)
    : options_(std::move(options)), multi_(multi) {}

CurlEngine::~CurlEngine() = default;

absl::StatusOr<std::unique_ptr<CurlEngine>> CurlEngine::Create(
    Options options) {
  return std::unique_ptr<CurlEngine>(
      new CurlEngine(std::move(options), nullptr));
}

uint64_t CurlEngine::Start(HttpRequest request, Callback done) {
  fuzz::RecordedRequest r;
  r.method = std::move(request.method);
  r.url = std::move(request.url);
  r.headers = std::move(request.headers);
  fuzz::Recorded().push_back(std::move(r));
  return next_id_++;
}

uint64_t CurlEngine::OpenWebSocket(WebSocketRequest request,
                                   WebSocketCallback done) {
  fuzz::RecordedRequest r;
  r.websocket = true;
  r.method = "GET";
  r.url = std::move(request.url);
  r.headers = std::move(request.headers);
  fuzz::Recorded().push_back(std::move(r));
  return next_id_++;
}

void CurlEngine::Cancel(uint64_t id) {}

}  // namespace triverse::http

namespace triverse::fuzz {

std::vector<RecordedRequest>& Recorded() {
  static auto* recorded = new std::vector<RecordedRequest>();
  return *recorded;
}

void ClearRecorded() { Recorded().clear(); }

std::unique_ptr<http::CurlEngine> NewFakeEngine() {
  absl::StatusOr<std::unique_ptr<http::CurlEngine>> engine =
      http::CurlEngine::Create({});
  return std::move(engine).value();
}

}  // namespace triverse::fuzz
