// Blocking HTTP and WebSocket clients for tests, built on libcurl: what a
// real client of the Triverse API would use.
#ifndef TRIVERSE_TESTS_EMULATOR_TESTING_UTIL_HTTP_CLIENT_H_
#define TRIVERSE_TESTS_EMULATOR_TESTING_UTIL_HTTP_CLIENT_H_

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace triverse::testing_util {

// HttpResponse is a finished exchange. `transport_error` is empty when a
// complete response arrived.
struct HttpResponse {
  long status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string transport_error;
  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
};

using Headers = std::vector<std::string>;  // "Name: value"

HttpResponse HttpGet(const std::string& url, const Headers& headers = {},
                     absl::Duration timeout = absl::Seconds(30));
HttpResponse HttpPost(const std::string& url, const std::string& body,
                      const Headers& headers = {},
                      absl::Duration timeout = absl::Seconds(30));
// HttpPostFile sends multipart/form-data with one part named `field`.
HttpResponse HttpPostFile(const std::string& url, const std::string& field,
                          const std::string& filename,
                          const std::string& content_type,
                          const std::string& data, const Headers& headers = {});

// Bearer returns the Authorization header line for `key`.
std::string Bearer(const std::string& key);

// WebSocketClient is one client connection. Not thread-safe.
class WebSocketClient {
 public:
  // Connect performs the upgrade. On failure returns null and sets `*status`
  // to the HTTP status of the refusal (0 when there was none).
  static std::unique_ptr<WebSocketClient> Connect(const std::string& url,
                                                  long* status);
  // With extra request headers ("Name: value", e.g. Bearer(key) for Tripo);
  // `response_headers` (optional) receives the upgrade or refusal headers.
  static std::unique_ptr<WebSocketClient> Connect(
      const std::string& url, const Headers& headers, long* status,
      std::map<std::string, std::string>* response_headers = nullptr);
  ~WebSocketClient();

  enum class State { kOpen, kClosed, kDropped };

  // Next returns the next text message, or nullopt once the connection was
  // closed (a close frame: State::kClosed) or dropped (State::kDropped), or
  // when `timeout` passes (state stays kOpen).
  std::optional<std::string> Next(absl::Duration timeout = absl::Seconds(10));
  State state() const { return state_; }
  int close_code() const { return close_code_; }

 private:
  explicit WebSocketClient(void* curl) : curl_(curl) {}
  void* curl_;
  State state_ = State::kOpen;
  int close_code_ = 0;
};

}  // namespace triverse::testing_util

#endif  // TRIVERSE_TESTS_EMULATOR_TESTING_UTIL_HTTP_CLIENT_H_
