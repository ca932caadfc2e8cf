// RestTransport: what every REST provider stub shares. It sends a request
// over the CurlEngine with the bearer key, the default Accept header and the
// caller's extra headers; reports every exchange to an observer (for
// metrics); streams a download into a DownloadSink while keeping an error
// body (bounded) for the provider's error mapping; and opens a watch
// WebSocket whose messages the provider's parser turns into task events.
// The provider stubs (RestTriverseStub, RestTripoStub, RestSirayStub) keep
// only their routes, payloads and error tables.
#ifndef TRIVERSE_SERVER_UPSTREAM_REST_TRANSPORT_H_
#define TRIVERSE_SERVER_UPSTREAM_REST_TRANSPORT_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/http/curl_engine.h"
#include "server/translate/watch_frame.h"
#include "server/upstream/provider_stub.h"
#include "triverse/v1/assets.pb.h"

namespace triverse::upstream {

// IsSuccess: a 2xx.
bool IsSuccess(long status);  // NOLINT(runtime/int)

// Prefixed returns `status` with its message prefixed by the operation, so
// that every error names the operation. For translate and local errors,
// which carry no payloads.
absl::Status Prefixed(absl::string_view operation, const absl::Status& status);

// RestTransport sends a provider stub's requests.
//
// Thread-safety: thread-safe (its options are immutable; the two-step
// downloads in flight are kept under a lock). `engine` must outlive it, and
// it must outlive every request it started.
class RestTransport {
 public:
  struct Options {
    // The API base, without a trailing slash, e.g.
    // "https://api.triverse.ai/api/v1".
    std::string base_url;
    // The clock for HTTP-date Retry-After values.
    std::function<absl::Time()> now = [] { return absl::Now(); };
    // Called once per request that reached the network, when it ends (a
    // WebSocket: when the upgrade succeeded or failed), on the engine
    // thread; must not block. Requests rejected before the network are not
    // reported. Null: nothing is reported.
    std::function<void(const UpstreamExchange&)> observer;
  };

  // ErrorMapper turns a response that is not a success (its status,
  // headers and body) into the operation's error status. Runs on the engine
  // thread.
  using ErrorMapper = std::function<absl::Status(
      absl::string_view operation, const http::HttpResponse& response,
      bool caller_key)>;
  // FrameParser turns one text message of a watch socket into a task event
  // (nullopt: a message that carries none) or DATA_LOSS.
  using FrameParser =
      std::function<absl::StatusOr<std::optional<translate::WatchFrame>>(
          absl::string_view message)>;

  // Unwrap takes a 2xx response apart: the payload's JSON (the envelope's
  // data), or the error the envelope carries (already mapped), or
  // DATA_LOSS for a body that is not the provider's envelope.
  using Unwrap = std::function<absl::StatusOr<std::string>(
      absl::string_view operation, const http::HttpResponse& response,
      bool caller_key)>;
  // UrlCallback receives the URL a download's first step found.
  using UrlCallback = absl::AnyInvocable<void(absl::StatusOr<std::string>)>;

  RestTransport(http::CurlEngine* engine, Options options);
  ~RestTransport();

  RestTransport(const RestTransport&) = delete;
  RestTransport& operator=(const RestTransport&) = delete;

  const std::string& base_url() const { return options_.base_url; }
  absl::Time Now() const { return options_.now(); }

  // Send starts `request` with `options`' timeout and extra headers, the
  // bearer key when `authorize` (never to a host the provider does not
  // own, e.g. a signed asset URL), and Accept: application/json unless the
  // request has an Accept header. `on_response` gets the complete response
  // (any status) or the transport error. `endpoint` (a template, or empty:
  // not reported) goes to the observer with the status or error code.
  uint64_t Send(
      http::HttpRequest request, const CallOptions& options,
      absl::string_view endpoint,
      absl::AnyInvocable<void(absl::StatusOr<http::HttpResponse>)> on_response,
      bool authorize = true);

  // Call sends `request` and hands `done` the translated result: a
  // transport error as it is, a non-2xx through `map_error`, a 2xx through
  // `unwrap` and then `parse` (whose errors get the operation's name).
  template <typename T, typename Parse>
  uint64_t Call(absl::string_view operation, absl::string_view endpoint,
                http::HttpRequest request, const CallOptions& options,
                ErrorMapper map_error, Unwrap unwrap, Parse parse,
                absl::AnyInvocable<void(absl::StatusOr<T>)> done) {
    return Send(std::move(request), options, endpoint,
                [op = std::string(operation), caller_key = options.caller_key,
                 map_error = std::move(map_error), unwrap = std::move(unwrap),
                 parse = std::move(parse), done = std::move(done)](
                    absl::StatusOr<http::HttpResponse> response) mutable {
                  // Transport errors are statuses already, mapped by the
                  // engine.
                  if (!response.ok()) return done(std::move(response).status());
                  if (!IsSuccess(response->status)) {
                    return done(map_error(op, *response, caller_key));
                  }
                  absl::StatusOr<std::string> data =
                      unwrap(op, *response, caller_key);
                  if (!data.ok()) return done(std::move(data).status());
                  absl::StatusOr<T> result = parse(*data);
                  if (!result.ok()) return done(Prefixed(op, result.status()));
                  done(std::move(result));
                });
  }

  // DownloadAfter is a two-step download under one id: `resolve` starts the
  // request that finds the asset's URL (returning its id, 0 when it
  // completed inline) and hands the URL (or an error, which ends the call)
  // to its callback; then the URL is downloaded as by Download, following
  // up to `max_redirects` redirects, with the bearer key only when the URL
  // is on the API's own origin (never to a signed URL on another host).
  // Cancel(returned id) cancels whichever step is running.
  uint64_t DownloadAfter(absl::string_view operation,
                         absl::string_view endpoint,
                         absl::AnyInvocable<uint64_t(UrlCallback)> resolve,
                         const CallOptions& options, int max_redirects,
                         ErrorMapper map_error, DownloadSink sink,
                         absl::AnyInvocable<void(absl::Status)> done);

  // Download streams `request`'s response into `sink` (see
  // ProviderStub::DownloadAsset for the contract): a 2xx body goes to the
  // sink chunk by chunk; any other status keeps at most 64 KiB of its body
  // for `map_error`, and the sink never sees it.
  uint64_t Download(absl::string_view operation, absl::string_view endpoint,
                    http::HttpRequest request, const CallOptions& options,
                    bool authorize, ErrorMapper map_error, DownloadSink sink,
                    absl::AnyInvocable<void(absl::Status)> done);

  // Watch opens `ws` (its URL and headers set by the provider; `options`'
  // extra headers are added) and feeds every message through `parse` to
  // `handler` (a binary message, or a parse error, reaches on_frame as
  // DATA_LOSS; the socket stays open). `done` as ProviderStub::WatchAll; a
  // refused upgrade goes through `map_error` with its HTTP status.
  uint64_t Watch(absl::string_view operation, absl::string_view endpoint,
                 http::WebSocketRequest ws, const CallOptions& options,
                 FrameParser parse, ErrorMapper map_error, WatchHandler handler,
                 absl::AnyInvocable<void(absl::Status)> done);

  // Cancel stops request `id` (a DownloadAfter id included). Unknown,
  // completed and 0 ids are ignored.
  void Cancel(uint64_t id);

 private:
  // Chain is one DownloadAfter call: the id of the step in flight.
  struct Chain {
    absl::Mutex mu;
    uint64_t step_id ABSL_GUARDED_BY(mu) = 0;
    bool second_step ABSL_GUARDED_BY(mu) = false;
    bool cancelled ABSL_GUARDED_BY(mu) = false;
  };
  // DownloadAfter ids have this bit set; the engine's never do.
  static constexpr uint64_t kChainBit = uint64_t{1} << 63;

  void ForgetChain(uint64_t id);
  bool SameOrigin(absl::string_view url) const;

  void Observe(absl::string_view endpoint, absl::string_view code,
               std::chrono::steady_clock::time_point start) const;

  http::CurlEngine* const engine_;
  const Options options_;

  absl::Mutex chains_mu_;
  uint64_t next_chain_ ABSL_GUARDED_BY(chains_mu_) = 1;
  std::map<uint64_t, std::shared_ptr<Chain>> chains_
      ABSL_GUARDED_BY(chains_mu_);
};

// IsHttpToken tells whether `s` is an HTTP token (RFC 9110 section 5.6.2).
bool IsHttpToken(absl::string_view s);

// CheckUploadSpec checks what goes verbatim into a multipart part's headers:
// the file name (1-255 printable characters without `"` or `\`) and the
// content type (no control character). INVALID_ARGUMENT naming the field.
absl::Status CheckUploadSpec(const UploadSpec& file);

// MultipartBody builds a multipart/form-data body with one part `file`
// holding `file` (its bytes are moved out), and sets `*content_type` to the
// request's Content-Type (with the boundary). `file` must have passed
// CheckUploadSpec.
std::string MultipartBody(UploadSpec& file, std::string* content_type);

// WebSocketBase turns an http(s):// base URL into its ws(s):// form;
// nullopt for any other scheme.
std::optional<std::string> WebSocketBase(absl::string_view http_base);

// ParseRetryAfter parses a Retry-After value: delta-seconds or an HTTP-date
// (IMF-fixdate, RFC 850 or asctime), as a delay from `now` (never negative).
// nullopt when the value is empty or neither form.
std::optional<absl::Duration> ParseRetryAfter(absl::string_view value,
                                              absl::Time now);

// ParseContentDispositionFileName returns the filename parameter of a
// Content-Disposition value ("" when there is none). Quoted-string escapes
// are undone; path separators are kept (callers treat it as data).
std::string ParseContentDispositionFileName(absl::string_view value);

}  // namespace triverse::upstream

#endif  // TRIVERSE_SERVER_UPSTREAM_REST_TRANSPORT_H_
