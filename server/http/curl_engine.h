// CurlEngine: the gateway's lowest layer, one thread running a libcurl multi
// handle that carries every upstream REST transfer and WebSocket. It knows
// nothing about tasks, JSON or retries: a request goes in, exactly one
// StatusOr<HttpResponse> (or StatusOr<WebSocketEnd>) comes out.
#ifndef TRIVERSE_SERVER_HTTP_CURL_ENGINE_H_
#define TRIVERSE_SERVER_HTTP_CURL_ENGINE_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace triverse::http {

struct HttpResponse;

// HttpRequest is one REST exchange to start. Move-only (it may carry a body
// sink).
struct HttpRequest {
  // "GET", "POST", "PUT", "DELETE", "HEAD", ... (an HTTP token).
  std::string method = "GET";
  // An absolute http:// or https:// URL. Its query string may carry secrets
  // (`?token=`): the engine never copies it into an error message.
  std::string url;
  // Request headers, sent in order. Values may carry secrets
  // (Authorization): the engine never copies them into an error message.
  // Names and values must not contain CR or LF.
  std::vector<std::pair<std::string, std::string>> headers;
  // Sent as the request body when non-empty, or always for POST.
  std::string body;
  // Redirects (a 3xx with a Location) followed, up to this many, to http(s)
  // URLs only; the redirect responses themselves reach neither on_headers
  // nor the result. 0: none (a 3xx is the response). libcurl sends the
  // request's Authorization header to the original host only.
  int max_redirects = 0;
  // The whole exchange (queueing for a connection, connecting, sending,
  // receiving) must finish within `timeout`, else DEADLINE_EXCEEDED.
  // Must be positive; absl::InfiniteDuration() means no limit.
  absl::Duration timeout = absl::Seconds(30);
  // Optional response-head observer. When set, it runs once, on the engine
  // thread, as soon as the final (non-1xx) response's status line and
  // headers have arrived, before any body chunk: `head` has the status and
  // the headers (as in the final HttpResponse) and an empty body. It lets a
  // streaming consumer decide what the body is (an asset or an error
  // envelope) before on_body_chunk sees it. It does not run when the
  // transfer fails before the headers are complete. Returning false aborts
  // the transfer, which then completes with CANCELLED. Must not block.
  // `head` is valid only during the call.
  absl::AnyInvocable<bool(const HttpResponse& head)> on_headers;
  // Optional body sink. When set, every chunk of the response body (whatever
  // the HTTP status) is handed to it as it arrives, on the engine thread, and
  // HttpResponse::body stays empty; the body size limit of the engine does not
  // apply. Returning false aborts the transfer, which then completes with
  // CANCELLED. Must not block. `chunk` is valid only during the call.
  absl::AnyInvocable<bool(absl::string_view chunk)> on_body_chunk;
};

// HttpResponse is a complete HTTP response of any status: 4xx and 5xx are
// data at this layer, not errors.
struct HttpResponse {
  long status = 0;  // NOLINT(runtime/int): libcurl's type for the code.
  // In arrival order, names in lower case, values without surrounding
  // whitespace. Only the final response's headers (no 1xx).
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  // Header returns the value of the first header named `name` (compared
  // ignoring case), or "" when there is none.
  std::string Header(absl::string_view name) const;
};

// WebSocketRequest opens one upstream WebSocket (RFC 6455 over HTTP/1.1).
// Move-only.
struct WebSocketRequest {
  // ws:// or wss://. Its query may carry secrets (`?token=`): never copied
  // into an error message.
  std::string url;
  // Extra headers on the upgrade request; same rules as HttpRequest::headers.
  std::vector<std::pair<std::string, std::string>> headers;
  // Called on the engine thread for every complete data message (fragments
  // reassembled; ping/pong/close frames are not messages). `is_text` tells a
  // text message from a binary one. Returning false ends the connection,
  // which then completes with CANCELLED. Must not block. `message` is valid
  // only during the call. Required.
  absl::AnyInvocable<bool(absl::string_view message, bool is_text)> on_message;
  // Optional: called once on the engine thread when the upgrade succeeded
  // (the 101 response head arrived), before any message. Must not block.
  absl::AnyInvocable<void()> on_open;
};

// WebSocketEnd is how a WebSocket that was not a transport failure ended.
struct WebSocketEnd {
  // 101 when the upgrade succeeded; otherwise the HTTP status of the refusal
  // (401, 403, 404, ...), which is data at this layer like any HTTP status.
  long http_status = 0;  // NOLINT(runtime/int)
  // The peer's close frame (http_status == 101 only): its code (1005 when
  // the frame carried none) and reason.
  int close_code = 0;
  std::string close_reason;
};

// CurlEngine owns one thread that runs every transfer through a CURLM with
// HTTP/1.1 keep-alive connection reuse, and every WebSocket on the same loop.
//
// Thread-safety: Start(), OpenWebSocket() and Cancel() may be called from any
// thread, including from inside a callback. The destructor must not run
// concurrently with those calls from other threads, nor on the engine thread
// (that is, never from inside a callback).
//
// Callbacks: every callback runs exactly once, on the engine thread, without
// any engine lock held. A callback must not block (no waiting on the network,
// on other transfers or on long locks): it delays every other transfer.
// Hand heavy work to another thread.
//
// Error codes delivered to Start() callbacks (messages name the operation as
// "METHOD /path", never the query string nor header values; OpenWebSocket()
// lists its own):
//   OK                  a complete HTTP response, whatever its status.
//   INVALID_ARGUMENT    the request was malformed (URL, method, headers,
//                       timeout); it never reached the network.
//   DEADLINE_EXCEEDED   HttpRequest::timeout passed.
//   UNAVAILABLE         could not resolve/connect, or the connection broke
//                       (partial body, reset, nothing received): retryable
//                       when the request is idempotent.
//   RESOURCE_EXHAUSTED  the body exceeded Options::max_response_body_bytes,
//                       or out of memory.
//   CANCELLED           Cancel(), engine destruction, or on_headers or
//                       on_body_chunk returned false.
//   FAILED_PRECONDITION TLS peer verification or local TLS setup failed.
//   DATA_LOSS           the body could not be decoded.
//   UNKNOWN             any other libcurl failure (the message names it).
class CurlEngine {
 public:
  using Callback = absl::AnyInvocable<void(absl::StatusOr<HttpResponse>) &&>;
  using WebSocketCallback =
      absl::AnyInvocable<void(absl::StatusOr<WebSocketEnd>) &&>;

  struct Options {
    // Connections open at once to one host, open WebSockets included;
    // further transfers wait in libcurl's queue (their timeout runs while
    // they wait; a queued WebSocket waits without limit).
    // Idle connections are kept for reuse up to 4 times this number.
    long max_connections_per_host = 16;  // NOLINT(runtime/int)
    // Limit for establishing one connection (TCP + TLS).
    absl::Duration connect_timeout = absl::Seconds(10);
    std::string user_agent = "triverse-gateway";
    // Largest accumulated response body, and largest WebSocket message;
    // larger → RESOURCE_EXHAUSTED.
    size_t max_response_body_bytes = size_t{64} << 20;
  };

  // Create starts the engine thread. Returns INVALID_ARGUMENT for bad
  // options, RESOURCE_EXHAUSTED / INTERNAL when libcurl cannot start.
  static absl::StatusOr<std::unique_ptr<CurlEngine>> Create(Options options);

  // Cancels every transfer still running or queued (their callbacks get
  // CANCELLED, including transfers started by those callbacks) and joins the
  // engine thread.
  ~CurlEngine();

  CurlEngine(const CurlEngine&) = delete;
  CurlEngine& operator=(const CurlEngine&) = delete;

  // Start queues `request` and returns at once (never blocks on the network)
  // with an id for Cancel(). `done` runs exactly once on the engine thread,
  // with the response or an error (see the class comment); invalid requests
  // are reported through `done` too.
  uint64_t Start(HttpRequest request, Callback done);

  // OpenWebSocket connects and upgrades `request` and returns at once with an
  // id for Cancel(). Messages go to request.on_message; `done` runs exactly
  // once, on the engine thread, when the connection ends:
  //   OK + WebSocketEnd   the upgrade was refused (http_status != 101), or
  //                       the peer sent a close frame (the engine echoes
  //                       its code and ends the connection at once).
  //   UNAVAILABLE         could not connect, or the connection dropped (no
  //                       close frame).
  //   CANCELLED           Cancel(), engine destruction, or on_message
  //                       returned false.
  //   RESOURCE_EXHAUSTED  one message exceeded max_response_body_bytes.
  //   INVALID_ARGUMENT, DEADLINE_EXCEEDED (connect_timeout), others as for
  //   Start().
  // The connection has no overall timeout: detecting a silent upstream is the
  // caller's job (it may Cancel()).
  uint64_t OpenWebSocket(WebSocketRequest request, WebSocketCallback done);

  // Cancel stops transfer or WebSocket `id`: unless it has completed already,
  // its callback runs with CANCELLED promptly. Unknown or completed ids are
  // ignored.
  void Cancel(uint64_t id);

 private:
  struct Transfer;
  struct Command;

  CurlEngine(Options options, void* multi);

  // libcurl's header and write callbacks; `user` is the Transfer.
  static size_t OnHeader(char* data, size_t size, size_t count, void* user);
  static size_t OnBody(char* data, size_t size, size_t count, void* user);
  static size_t OnWebSocketData(Transfer& t, char* data, size_t length);
  // Enqueues a prepared transfer for the engine thread.
  uint64_t Enqueue(std::unique_ptr<Transfer> t);
  // Queues a command for the engine thread and wakes it when needed.
  void Push(Command command);

  void Run();
  // The helpers below run on the engine thread only.
  bool DrainCommands();
  void AddTransfer(std::unique_ptr<Transfer> t);
  void CompleteFinished();
  // Finish removes active transfer `id` (if still there) and completes it.
  void Finish(uint64_t id, absl::Status status);
  // Complete runs the callback of `t` with `status`, or with its response
  // when `status` is OK.
  static void Complete(std::unique_ptr<Transfer> t, absl::Status status);
  static absl::Status Setup(Transfer& t, const Options& options);
  void CancelEverything();

  const Options options_;
  void* const multi_;  // CURLM*, used by the engine thread (and wakeup).

  absl::Mutex mu_;
  std::vector<Command> commands_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::atomic<uint64_t> next_id_{1};

  // Engine thread only: transfers added to the multi handle, by id.
  std::unordered_map<uint64_t, std::unique_ptr<Transfer>> active_;

  std::thread thread_;
};

}  // namespace triverse::http

#endif  // TRIVERSE_SERVER_HTTP_CURL_ENGINE_H_
