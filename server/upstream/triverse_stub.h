// TriverseStub: the gateway's Stub layer, one asynchronous method per
// Triverse REST endpoint and nothing else: no retries, no backoff, no
// deadline arithmetic, no idempotency-key generation. Those belong to the
// Connection above; auth, logging and metrics to decorators around it.
#ifndef TRIVERSE_SERVER_UPSTREAM_TRIVERSE_STUB_H_
#define TRIVERSE_SERVER_UPSTREAM_TRIVERSE_STUB_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/http/curl_engine.h"
#include "server/translate/upstream_json.h"
#include "server/translate/watch_frame.h"
#include "triverse/v1/account.pb.h"
#include "triverse/v1/assets.pb.h"
#include "triverse/v1/task.pb.h"
#include "triverse/v1/task_service.pb.h"

namespace triverse::upstream {

// CallOptions are the per-call settings every stub method takes.
struct CallOptions {
  // Sent as `Authorization: Bearer <api_key>`. Never logged nor copied into
  // an error message.
  std::string api_key;
  // The whole exchange must finish within it, else DEADLINE_EXCEEDED. Must
  // be positive.
  absl::Duration timeout = absl::Seconds(30);
  // True when api_key came from the caller's metadata (multi-tenant): an
  // upstream 401/403 is then the caller's UNAUTHENTICATED /
  // PERMISSION_DENIED rather than the gateway's INTERNAL.
  bool caller_key = false;
  // Further request headers (e.g. a request id), sent after the stub's own.
  // Names and values must not contain CR or LF (else INVALID_ARGUMENT).
  std::vector<std::pair<std::string, std::string>> extra_headers;
};

// UploadSpec describes one file for UploadFile.
struct UploadSpec {
  // FILE_KIND_IMAGE → POST /upload/image, FILE_KIND_MODEL → POST
  // /upload/model. FILE_KIND_UNSPECIFIED is INVALID_ARGUMENT.
  v1::FileKind kind = v1::FILE_KIND_UNSPECIFIED;
  // Models only: sent as ?modelVariant=geometry|textured when specified.
  v1::ModelVariant model_variant = v1::MODEL_VARIANT_UNSPECIFIED;
  // The multipart file name: 1-255 printable characters, no `"` or `\`.
  std::string file_name;
  // The part's Content-Type, e.g. "image/png"; empty sends
  // application/octet-stream. No control characters.
  std::string content_type;
  // The whole file.
  std::string bytes;
};

// DownloadSink receives a DownloadAsset body as it streams in: nothing but
// the current chunk is held, whatever the asset's size. Both callbacks run
// on the engine thread, one at a time, and must not block (hand the bytes
// to another thread, or stop the download, rather than wait).
struct DownloadSink {
  // Called once, on a 2xx only, as soon as the response head arrives and
  // before any chunk: the Content-Disposition file name ("" when absent),
  // the Content-Type, and the Content-Length when the upstream announced
  // one (size_bytes 0 otherwise). May be null.
  absl::AnyInvocable<void(v1::AssetMetadata)> on_metadata;
  // Called for every chunk of the body, in order, as it arrives (sizes are
  // the transport's, typically up to 16 KiB). Returning false stops the
  // download, which then completes with CANCELLED. `chunk` is valid only
  // during the call. May be null (the body is discarded).
  absl::AnyInvocable<bool(absl::string_view chunk)> on_chunk;
};

// WatchHandler receives what an upstream watch socket carries, on the
// engine thread; neither callback may block.
struct WatchHandler {
  // The upgrade succeeded. May be null.
  absl::AnyInvocable<void()> on_open;
  // One task event, or DATA_LOSS for a record that does not parse.
  // Required.
  absl::AnyInvocable<void(absl::StatusOr<translate::WatchFrame>)> on_frame;
};

// Endpoint templates: the route of each upstream request with every id
// replaced by a placeholder, for metrics labels (never a concrete id, a key
// or a query string).
inline constexpr absl::string_view kEndpointGetTask = "GET /tasks/{uuid}";
inline constexpr absl::string_view kEndpointQuotePrice =
    "POST /tasks/pricing/quote";
inline constexpr absl::string_view kEndpointGetDownloadUrl =
    "GET /tasks/url/{uuid}";
inline constexpr absl::string_view kEndpointListOwnModels =
    "GET /platform/generate/own-models";
inline constexpr absl::string_view kEndpointGetUser = "GET /users/me";
inline constexpr absl::string_view kEndpointGetBalance = "GET /users/balance";
inline constexpr absl::string_view kEndpointUploadImage = "POST /upload/image";
inline constexpr absl::string_view kEndpointUploadModel = "POST /upload/model";
inline constexpr absl::string_view kEndpointDownloadAsset =
    "GET /tasks/download/{uuid}";
inline constexpr absl::string_view kEndpointWatchAll = "GET /tasks/watch/all";

// CreateTaskEndpoint is "POST /tasks/<flow>" for the flow `request` selects
// (a name from our own table, e.g. "POST /tasks/text-to-model"), or
// "POST /tasks/{flow}" when none is selected.
std::string CreateTaskEndpoint(const v1::CreateTaskRequest& request);

// UploadEndpoint is kEndpointUploadImage or kEndpointUploadModel for
// `kind`, "POST /upload/{kind}" otherwise.
absl::string_view UploadEndpoint(v1::FileKind kind);

// UpstreamExchange is one request that reached the network, as
// RestTriverseStub::Options::observer sees it once it has ended.
struct UpstreamExchange {
  // The route template (one of the kEndpoint* values above, or
  // CreateTaskEndpoint's).
  absl::string_view endpoint;
  // The final HTTP status as a decimal number ("200", "404", "101" for a
  // WebSocket upgrade), or the transport error's code name when no
  // response arrived ("UNAVAILABLE", "DEADLINE_EXCEEDED", "CANCELLED", ...).
  absl::string_view code;
  // From the request's start to its response (a WebSocket: to the upgrade;
  // a download: to the end of the body).
  absl::Duration elapsed;
};

// TriverseStub is the interface of the Stub layer. Every method starts one
// upstream request and returns at once with an id for Cancel(); `done` runs
// exactly once with the translated result or an error.
//
// Thread-safety: implementations are thread-safe; every method may be called
// from any thread, including from inside a callback.
//
// Callbacks: `done` (and the DownloadSink callbacks) run on the transport's
// thread and must not block. A request rejected before reaching the network
// (an invalid id, file name or option) completes inline, on the calling
// thread, before the method returns; the returned id is then 0.
//
// Error codes (every method; messages name the operation, e.g. "GetTask"):
//   OK                 the upstream answered 2xx with envelope code 0 and a
//                      payload that translates.
//   INVALID_ARGUMENT   a client-supplied id is not 1-64 characters of
//                      [0-9A-Za-z-] (BadRequest names the field), or another
//                      parameter is unusable; nothing was sent. Also the
//                      upstream's own 400/1004, as mapped by AsStatus.
//   DATA_LOSS          a 2xx whose body is not the documented payload.
//   Upstream errors    everything errors::AsStatus maps from an upstream
//                      error (NOT_FOUND, FAILED_PRECONDITION,
//                      RESOURCE_EXHAUSTED with RetryInfo, UNAVAILABLE,
//                      INTERNAL for the gateway's own rejected key, ...).
//   Transport errors   the http::CurlEngine codes unchanged (UNAVAILABLE,
//                      DEADLINE_EXCEEDED, CANCELLED, ...).
class TriverseStub {
 public:
  template <typename T>
  using Callback = absl::AnyInvocable<void(absl::StatusOr<T>)>;

  virtual ~TriverseStub() = default;

  // CreateTask: POST /tasks/{flow} with the body of
  // translate::BuildCreateTaskBody(request, client_order_id). The result's
  // client_order_id is the one sent.
  virtual uint64_t CreateTask(const v1::CreateTaskRequest& request,
                              absl::string_view client_order_id,
                              CallOptions options,
                              Callback<v1::TaskCreation> done) = 0;

  // GetTask: GET /tasks/{task_uuid}. When `read_after_write_header` is not
  // empty, that header (an HTTP token, as announced by the creation
  // response) is sent with the value "1" so that a task created moments ago
  // is visible.
  virtual uint64_t GetTask(absl::string_view task_uuid,
                           absl::string_view read_after_write_header,
                           CallOptions options, Callback<v1::Task> done) = 0;

  // QuotePrice: POST /tasks/pricing/quote.
  virtual uint64_t QuotePrice(const v1::QuotePriceRequest& request,
                              CallOptions options,
                              Callback<v1::PriceQuote> done) = 0;

  // GetDownloadUrl: GET /tasks/url/{task_uuid}.
  virtual uint64_t GetDownloadUrl(absl::string_view task_uuid,
                                  CallOptions options,
                                  Callback<v1::DownloadUrl> done) = 0;

  // ListOwnModels: GET /platform/generate/own-models?current=page&size=size
  // (page is 1-based; the upstream checks the ranges).
  virtual uint64_t ListOwnModels(int64_t page, int64_t size,
                                 CallOptions options,
                                 Callback<translate::OwnModelsPage> done) = 0;

  // GetUser: GET /users/me.
  virtual uint64_t GetUser(CallOptions options, Callback<v1::User> done) = 0;

  // GetBalance: GET /users/balance.
  virtual uint64_t GetBalance(CallOptions options,
                              Callback<v1::Balance> done) = 0;

  // UploadFile: multipart/form-data POST (part `file`) to /upload/image or
  // /upload/model[?modelVariant=...]; the result is the file_key.
  virtual uint64_t UploadFile(UploadSpec file, CallOptions options,
                              Callback<std::string> done) = 0;

  // DownloadAsset: GET /tasks/download/{task_uuid}, streamed. On a 2xx the
  // sink gets the metadata, then the body chunk by chunk as it arrives, then
  // `done` gets OK; a transport error after the metadata (a connection that
  // breaks mid-body, the timeout) reaches `done` unchanged, with part of
  // the body delivered. On any other status the sink is never called and
  // `done` gets the error mapped from the (bounded) error body.
  virtual uint64_t DownloadAsset(
      absl::string_view task_uuid, CallOptions options, DownloadSink sink,
      absl::AnyInvocable<void(absl::Status)> done) = 0;

  // WatchAll: the WebSocket /tasks/watch/all?token=<api_key>[&since=T]
  // (since: UTC ISO-8601, whole seconds, rounded down). handler.on_open
  // runs once when the upgrade succeeded; handler.on_frame gets every
  // record that carries a task event, parsed (records of unknown kinds are
  // skipped; an unparseable record reaches it as DATA_LOSS and the socket
  // stays open). `done` runs once when the socket ends:
  //   OK                 the upstream closed it with a close frame.
  //   UNAVAILABLE        could not connect, or the connection dropped.
  //   an upstream error  the upgrade was refused: errors::AsStatus of its
  //                      HTTP status (401/403 on the gateway's own key:
  //                      INTERNAL, as for every call).
  //   CANCELLED          Cancel().
  // The URL carries the key: it never reaches an error message.
  virtual uint64_t WatchAll(std::optional<absl::Time> since,
                            CallOptions options, WatchHandler handler,
                            absl::AnyInvocable<void(absl::Status)> done) = 0;

  // Cancel stops request `id`: unless it has completed, its `done` runs
  // promptly with CANCELLED. Unknown, completed and 0 ids are ignored.
  virtual void Cancel(uint64_t id) = 0;
};

// RestTriverseStub is the TriverseStub over HTTP/1.1 REST via a CurlEngine.
//
// Thread-safety: immutable after construction; thread-safe. `engine` must
// outlive it, and it must outlive every request it started (callbacks use
// its options).
class RestTriverseStub : public TriverseStub {
 public:
  struct Options {
    // The API base, without a trailing slash, e.g.
    // "https://api.triverse.ai/api/v1".
    std::string base_url;
    // The clock for HTTP-date Retry-After values.
    absl::AnyInvocable<absl::Time() const> now = [] { return absl::Now(); };
    // Called once per request that reached the network, when it ends (a
    // WebSocket: when the upgrade succeeded or failed), on the engine
    // thread; must not block. Requests rejected before the network are not
    // reported. Null: nothing is reported.
    std::function<void(const UpstreamExchange&)> observer;
  };

  RestTriverseStub(http::CurlEngine* engine, Options options);

  uint64_t CreateTask(const v1::CreateTaskRequest& request,
                      absl::string_view client_order_id, CallOptions options,
                      Callback<v1::TaskCreation> done) override;
  uint64_t GetTask(absl::string_view task_uuid,
                   absl::string_view read_after_write_header,
                   CallOptions options, Callback<v1::Task> done) override;
  uint64_t QuotePrice(const v1::QuotePriceRequest& request, CallOptions options,
                      Callback<v1::PriceQuote> done) override;
  uint64_t GetDownloadUrl(absl::string_view task_uuid, CallOptions options,
                          Callback<v1::DownloadUrl> done) override;
  uint64_t ListOwnModels(int64_t page, int64_t size, CallOptions options,
                         Callback<translate::OwnModelsPage> done) override;
  uint64_t GetUser(CallOptions options, Callback<v1::User> done) override;
  uint64_t GetBalance(CallOptions options, Callback<v1::Balance> done) override;
  uint64_t UploadFile(UploadSpec file, CallOptions options,
                      Callback<std::string> done) override;
  uint64_t DownloadAsset(absl::string_view task_uuid, CallOptions options,
                         DownloadSink sink,
                         absl::AnyInvocable<void(absl::Status)> done) override;
  uint64_t WatchAll(std::optional<absl::Time> since, CallOptions options,
                    WatchHandler handler,
                    absl::AnyInvocable<void(absl::Status)> done) override;
  void Cancel(uint64_t id) override;

 private:
  // Start sends `request` with the stub's headers and hands the complete
  // response (any status) or the transport error to `on_response`.
  // `endpoint` (a template that outlives the request, or empty) is reported
  // to the observer with the response's status or the transport error.
  uint64_t Start(
      http::HttpRequest request, const CallOptions& options,
      absl::string_view endpoint,
      absl::AnyInvocable<void(absl::StatusOr<http::HttpResponse>)> on_response);
  template <typename T, typename Parse>
  uint64_t Call(absl::string_view operation, absl::string_view endpoint,
                http::HttpRequest request, CallOptions options, Parse parse,
                Callback<T> done);
  // Observe reports one exchange to the observer, if any.
  void Observe(absl::string_view endpoint, absl::string_view code,
               std::chrono::steady_clock::time_point start) const;

  http::CurlEngine* const engine_;
  const Options options_;
};

// IsValidPathId tells whether `id` may be placed in a URL path segment:
// 1-64 characters of [0-9A-Za-z-].
bool IsValidPathId(absl::string_view id);

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

#endif  // TRIVERSE_SERVER_UPSTREAM_TRIVERSE_STUB_H_
