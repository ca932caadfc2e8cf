// ProviderStub: the upstream provider interface of the gateway's Stub
// layer. One implementation per provider (RestTriverseStub, RestTripoStub,
// RestSirayStub), each turning the triverse.v1 operations into its
// provider's REST and WebSocket requests and its payloads back into
// triverse.v1 messages, and nothing else: no retries, no backoff, no
// deadline arithmetic, no idempotency-key generation. Those belong to the
// Connection above; auth, logging and metrics to decorators around it.
#ifndef TRIVERSE_SERVER_UPSTREAM_PROVIDER_STUB_H_
#define TRIVERSE_SERVER_UPSTREAM_PROVIDER_STUB_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/translate/upstream_json.h"
#include "server/translate/watch_frame.h"
#include "triverse/v1/account.pb.h"
#include "triverse/v1/assets.pb.h"
#include "triverse/v1/task.pb.h"
#include "triverse/v1/task_service.pb.h"

namespace triverse::upstream {

// ProviderKind names an upstream provider.
enum class ProviderKind { kTriverse, kTripo, kSiray };

// ProviderName is "triverse", "tripo" or "siray".
absl::string_view ProviderName(ProviderKind kind);

// ParseProviderKind reads a ProviderName (case-insensitive); nullopt for
// anything else.
std::optional<ProviderKind> ParseProviderKind(absl::string_view name);

// ProviderCapabilities say what a provider offers beyond the operations
// themselves (an operation it lacks answers UNIMPLEMENTED), so that the
// layers above choose their policy without naming the provider.
struct ProviderCapabilities {
  ProviderKind kind = ProviderKind::kTriverse;
  // WatchAll opens a push socket. False: watches poll every watched task
  // (one poller per task, whatever the number of watchers).
  bool push_watch = true;
  // The upstream honours client_order_id as an idempotency key, so that a
  // creation may be retried after an ambiguous failure. False: a creation
  // is retried only when the upstream provably created nothing.
  bool idempotent_create = true;
  // Task ids are UUIDs (8-4-4-4-12 hex digits). False: the provider's own
  // opaque ids (see IsValidTaskId).
  bool uuid_task_ids = true;
  // Advised polling interval bounds, for watches that poll (a provider
  // without push, or a socket that keeps failing).
  absl::Duration min_poll_interval = absl::Seconds(1);
  absl::Duration max_poll_interval = absl::Seconds(10);
};

// CapabilitiesOf returns the capabilities of `kind`'s adapter.
const ProviderCapabilities& CapabilitiesOf(ProviderKind kind);

// NotOffered is the UNIMPLEMENTED error of an operation `kind`'s API does
// not have, e.g. "QuotePrice: the tripo provider does not offer this".
absl::Status NotOffered(ProviderKind kind, absl::string_view operation,
                        absl::string_view what = "this operation");

// FinishedAssetUrl is the URL `pick` finds in `task`, once it is SUCCESS:
// FAILED_PRECONDITION naming the status before that (the assets do not
// exist yet, or never will), `pick`'s error otherwise.
absl::StatusOr<std::string> FinishedAssetUrl(
    absl::string_view operation, const v1::Task& task,
    absl::StatusOr<std::string> (*pick)(const v1::Task&));

// IsUuid: 8-4-4-4-12 hex digits.
bool IsUuid(absl::string_view id);

// IsValidTaskId tells whether `id` is a task id `kind` can issue, safe in
// a URL path segment: a UUID for Triverse and Tripo; for Siray 1-128
// characters of [A-Za-z0-9_-].
bool IsValidTaskId(ProviderKind kind, absl::string_view id);

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

// UpstreamExchange is one request that reached the network, as a REST
// stub's observer (RestTransport::Options::observer) sees it once it has
// ended.
struct UpstreamExchange {
  // The route template: the provider's path with every id replaced by a
  // placeholder (e.g. kEndpointGetTask, "GET /task/{id}").
  absl::string_view endpoint;
  // The final HTTP status as a decimal number ("200", "404", "101" for a
  // WebSocket upgrade), or the transport error's code name when no
  // response arrived ("UNAVAILABLE", "DEADLINE_EXCEEDED", "CANCELLED", ...).
  absl::string_view code;
  // From the request's start to its response (a WebSocket: to the upgrade;
  // a download: to the end of the body).
  absl::Duration elapsed;
};

// StubOperation names a ProviderStub method, for EndpointTemplate.
enum class StubOperation {
  kCreateTask,
  kGetTask,
  kQuotePrice,
  kGetDownloadUrl,
  kListOwnModels,
  kGetUser,
  kGetBalance,
  kUploadImage,
  kUploadModel,
  kDownloadAsset,
  kWatchAll,
};

// ProviderStub is the interface of the Stub layer: one upstream provider
// (Triverse, Tripo, Siray) behind the triverse.v1 operations. Every method
// starts the provider's request for that operation (one request, except
// where the provider needs two for it, e.g. a fresh task read before a
// download) and returns at once with an id for Cancel(); `done` runs
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
//   INVALID_ARGUMENT   a client-supplied id is not one the provider issues
//                      (BadRequest names the field), or another parameter
//                      is unusable or not supported by the provider;
//                      nothing was sent. Also the upstream's own
//                      validation errors, as mapped.
//   UNIMPLEMENTED      the provider has no such operation (or flow);
//                      nothing was sent. The message names the provider.
//   DATA_LOSS          a 2xx whose body is not the documented payload.
//   Upstream errors    everything errors::AsStatus (AsTripoStatus,
//                      AsSirayStatus) maps from an upstream
//                      error (NOT_FOUND, FAILED_PRECONDITION,
//                      RESOURCE_EXHAUSTED with RetryInfo, UNAVAILABLE,
//                      INTERNAL for the gateway's own rejected key, ...).
//   Transport errors   the http::CurlEngine codes unchanged (UNAVAILABLE,
//                      DEADLINE_EXCEEDED, CANCELLED, ...).
class ProviderStub {
 public:
  template <typename T>
  using Callback = absl::AnyInvocable<void(absl::StatusOr<T>)>;

  virtual ~ProviderStub() = default;

  // capabilities are fixed for the stub's lifetime.
  virtual const ProviderCapabilities& capabilities() const = 0;

  // EndpointTemplate is the route of `operation`'s request with every id
  // replaced by a placeholder (e.g. "GET /tasks/{uuid}"), for metrics
  // labels: never a concrete id, a key or a query string. For kCreateTask,
  // `request` (may be null) selects the flow where the route depends on it.
  virtual std::string EndpointTemplate(
      StubOperation operation,
      const v1::CreateTaskRequest* request = nullptr) const = 0;

  // CreateTask creates the task `request` describes (Triverse: POST
  // /tasks/{flow} with the body of translate::BuildCreateTaskBody(request,
  // client_order_id)). The client_order_id is sent only to a provider whose
  // capabilities say idempotent_create. The result's client_order_id is the
  // one given.
  virtual uint64_t CreateTask(const v1::CreateTaskRequest& request,
                              absl::string_view client_order_id,
                              CallOptions options,
                              Callback<v1::TaskCreation> done) = 0;

  // GetTask reads one task (Triverse: GET /tasks/{task_uuid}). When
  // `read_after_write_header` is not empty, that header (an HTTP token, as
  // announced by the creation response) is sent with the value "1" so that
  // a task created moments ago is visible. A provider status the contract
  // cannot name yet (Tripo's `unknown`) comes back as
  // TASK_STATUS_UNSPECIFIED: the caller polls again.
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

  // WatchAll opens the provider's all-task push socket (Triverse: the
  // WebSocket /tasks/watch/all?token=<api_key>[&since=T], since in UTC
  // ISO-8601, whole seconds, rounded down); UNIMPLEMENTED, inline, when
  // capabilities().push_watch is false. handler.on_open
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
  // The key (in the URL or a header) never reaches an error message.
  virtual uint64_t WatchAll(std::optional<absl::Time> since,
                            CallOptions options, WatchHandler handler,
                            absl::AnyInvocable<void(absl::Status)> done) = 0;

  // Cancel stops request `id`: unless it has completed, its `done` runs
  // promptly with CANCELLED. Unknown, completed and 0 ids are ignored.
  virtual void Cancel(uint64_t id) = 0;
};

// DownloadUrlOf turns a fresh task read into GetDownloadUrl's answer: the
// URL `pick` finds once the task is SUCCESS (FinishedAssetUrl), as a
// "model" DownloadUrl with the task's preview, if any.
ProviderStub::Callback<v1::Task> DownloadUrlOf(
    absl::StatusOr<std::string> (*pick)(const v1::Task&),
    ProviderStub::Callback<v1::DownloadUrl> done);

// AssetUrlOf turns a fresh task read into the URL a download fetches
// (FinishedAssetUrl), for `found`.
ProviderStub::Callback<v1::Task> AssetUrlOf(
    absl::string_view operation,
    absl::StatusOr<std::string> (*pick)(const v1::Task&),
    absl::AnyInvocable<void(absl::StatusOr<std::string>)> found);

}  // namespace triverse::upstream

#endif  // TRIVERSE_SERVER_UPSTREAM_PROVIDER_STUB_H_
