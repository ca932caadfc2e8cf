// TaskService: the gRPC edge of the gateway. Each RPC validates its request
// (INVALID_ARGUMENT with BadRequest before any upstream call), resolves the
// upstream API key and deadline of the call, hands the work to the
// TriverseConnection, and answers with the result or a rich error. No gRPC
// thread ever waits on the network: every RPC is a callback-API reactor that
// finishes from the Connection's completion callback.
#ifndef TRIVERSE_SERVER_SERVICE_TASK_SERVICE_H_
#define TRIVERSE_SERVER_SERVICE_TASK_SERVICE_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/errors/upstream_status.h"
#include "server/service/watch_calls.h"
#include "server/upstream/triverse_connection.h"
#include "server/upstream/watch_hub.h"
#include "triverse/v1/task_service.grpc.pb.h"

namespace triverse::service {

// kApiKeyMetadata is the request metadata that carries a caller's own
// upstream key (multi-tenant use, when ServiceOptions::allow_caller_keys).
inline constexpr char kApiKeyMetadata[] = "x-triverse-api-key";

// ServiceOptions are the edge's settings (from config::Config).
struct ServiceOptions {
  // The provider behind the connection: its task ids and file references
  // are what validation accepts.
  upstream::ProviderKind provider = upstream::ProviderKind::kTriverse;
  // The gateway's own upstream key; empty when every caller brings one.
  std::string api_key;
  // Accept a key in kApiKeyMetadata. When false such a key is refused
  // (PERMISSION_DENIED) rather than silently replaced by the gateway's.
  bool allow_caller_keys = false;
  // The deadline of calls that arrive without one.
  absl::Duration default_deadline = absl::Seconds(30);
  // Upload limits of the upstream (documented: 50 MB images, 200 MB models),
  // enforced from the announced size and again while the bytes stream in.
  int64_t max_image_bytes = int64_t{50} * 1000 * 1000;
  int64_t max_model_bytes = int64_t{200} * 1000 * 1000;
  // The bytes all UploadFile calls together may hold (the gateway buffers
  // each upload whole before sending it upstream): a chunk that would take
  // the total past it ends its own upload with RESOURCE_EXHAUSTED
  // (UPLOAD_BUFFER_EXHAUSTED). At least the largest upload limit, else
  // such an upload could never succeed (config and Gateway check it).
  int64_t max_upload_buffer_bytes = int64_t{1} << 30;
  // DownloadAsset: bytes per message sent to the caller, and bytes the
  // gateway holds for a caller that reads more slowly than the upstream
  // sends (beyond it the call ends with RESOURCE_EXHAUSTED).
  size_t download_chunk_bytes = size_t{64} << 10;
  size_t max_download_buffer_bytes = size_t{32} << 20;
  // WatchTask / WatchTasks limits.
  WatchOptions watch;
  // The clock used to turn the default deadline into an absolute one.
  absl::Time (*now)() = &absl::Now;
};

// ResolveApiKey picks the upstream key of one call: the caller's key from
// kApiKeyMetadata (`caller_key` is then true in the result) when allowed,
// else the gateway's. Errors (with ErrorInfo):
//   PERMISSION_DENIED  a caller key while caller keys are disabled
//                      (CALLER_KEYS_DISABLED).
//   UNAUTHENTICATED    no key at all: the gateway has none and the caller
//                      sent none (API_KEY_MISSING).
//   INVALID_ARGUMENT   an empty caller key, or one with characters that
//                      cannot be sent in an HTTP header (BadRequest).
absl::StatusOr<upstream::CallContext> ResolveApiKey(
    const ServiceOptions& options, const std::string* caller_key);

// WithErrorInfo returns `status` unchanged when it carries an ErrorInfo
// already (upstream errors, validation); otherwise it adds one whose reason
// names what went wrong (UPSTREAM_PAYLOAD_INVALID for DATA_LOSS,
// UPSTREAM_UNAVAILABLE for transport failures, with RetryInfo, ...) and
// whose metadata names the RPC.
absl::Status WithErrorInfo(absl::Status status, absl::string_view rpc);

// ErrorStatus is a gateway-made error: `code`, the message "<rpc>: message"
// and an ErrorInfo with `reason` (domain errors::kErrorDomain, metadata
// "operation" = rpc).
absl::Status ErrorStatus(absl::StatusCode code, absl::string_view reason,
                         absl::string_view rpc, absl::string_view message);

// UploadBudget counts the bytes that UploadFile calls hold, gateway-wide,
// against a limit. Thread-safe (lock-free).
class UploadBudget {
 public:
  explicit UploadBudget(int64_t limit) : limit_(limit) {}

  UploadBudget(const UploadBudget&) = delete;
  UploadBudget& operator=(const UploadBudget&) = delete;

  // TryReserve adds `bytes` (>= 0) to the total unless that would take it
  // past the limit; false then, and nothing is reserved.
  bool TryReserve(int64_t bytes);
  // Release gives back `bytes` reserved earlier.
  void Release(int64_t bytes);

  int64_t reserved() const { return reserved_.load(std::memory_order_relaxed); }
  int64_t limit() const { return limit_; }

 private:
  const int64_t limit_;
  std::atomic<int64_t> reserved_{0};
};

// TaskServiceImpl implements triverse.v1.TaskService over a
// TriverseConnection.
//
// Thread-safety: thread-safe; gRPC calls it from any thread. The connection
// is shared and must stay usable until the server has shut down.
//
// Cancellation: a cancelled RPC (caller gone, deadline passed) cancels its
// upstream calls; a call that ends with an error leaves nothing behind
// (uploads that fail validation never reach the upstream).
//
// WatchTask and WatchTasks are raw methods (their messages are
// grpc::ByteBuffer): each event is serialized once for all its streams.
class TaskServiceImpl final
    : public v1::TaskService::WithRawCallbackMethod_WatchTask<
          v1::TaskService::WithRawCallbackMethod_WatchTasks<
              v1::TaskService::CallbackService>> {
 public:
  // `hubs` serves WatchTask / WatchTasks (null: they are UNIMPLEMENTED).
  TaskServiceImpl(std::shared_ptr<upstream::TriverseConnection> connection,
                  ServiceOptions options,
                  std::shared_ptr<upstream::WatchHubs> hubs = nullptr);

  grpc::ServerUnaryReactor* CreateTask(grpc::CallbackServerContext* context,
                                       const v1::CreateTaskRequest* request,
                                       v1::TaskCreation* response) override;
  grpc::ServerUnaryReactor* GetTask(grpc::CallbackServerContext* context,
                                    const v1::GetTaskRequest* request,
                                    v1::Task* response) override;
  grpc::ServerUnaryReactor* QuotePrice(grpc::CallbackServerContext* context,
                                       const v1::QuotePriceRequest* request,
                                       v1::PriceQuote* response) override;
  grpc::ServerUnaryReactor* GetDownloadUrl(
      grpc::CallbackServerContext* context,
      const v1::GetDownloadUrlRequest* request,
      v1::DownloadUrl* response) override;
  grpc::ServerUnaryReactor* ListOwnModels(
      grpc::CallbackServerContext* context,
      const v1::ListOwnModelsRequest* request,
      v1::ListOwnModelsResponse* response) override;
  grpc::ServerUnaryReactor* GetAccount(grpc::CallbackServerContext* context,
                                       const v1::GetAccountRequest* request,
                                       v1::Account* response) override;
  grpc::ServerWriteReactor<v1::DownloadAssetResponse>* DownloadAsset(
      grpc::CallbackServerContext* context,
      const v1::DownloadAssetRequest* request) override;
  grpc::ServerReadReactor<v1::UploadFileRequest>* UploadFile(
      grpc::CallbackServerContext* context,
      v1::UploadFileResponse* response) override;
  // The requests are a serialized WatchTaskRequest / WatchTasksRequest;
  // each message written a serialized TaskEvent.
  grpc::ServerWriteReactor<grpc::ByteBuffer>* WatchTask(
      grpc::CallbackServerContext* context,
      const grpc::ByteBuffer* request) override;
  grpc::ServerWriteReactor<grpc::ByteBuffer>* WatchTasks(
      grpc::CallbackServerContext* context,
      const grpc::ByteBuffer* request) override;

  // EndWatches ends every open watch stream with UNAVAILABLE
  // (GATEWAY_SHUTTING_DOWN) and the cursor to resume from, and refuses new
  // ones: the first step of a graceful shutdown.
  void EndWatches() { watch_limiter_->EndAll(); }
  // Watch streams open now.
  int64_t OpenWatches() const { return watch_limiter_->open(); }
  // Bytes UploadFile calls hold now (see
  // ServiceOptions::max_upload_buffer_bytes).
  int64_t UploadBufferBytes() const { return upload_budget_->reserved(); }

 private:
  using StartWatch = std::function<grpc::ServerWriteReactor<grpc::ByteBuffer>*(
      std::string client, const upstream::CallContext& call,
      std::optional<WatchCursor> resume)>;
  // AdmitWatch validates (violations + the resume cursor), resolves the key,
  // applies the watch limits, then calls `start`; or answers with the
  // error.
  grpc::ServerWriteReactor<grpc::ByteBuffer>* AdmitWatch(
      grpc::CallbackServerContext* context, absl::string_view rpc,
      std::vector<errors::FieldViolation> violations,
      absl::string_view resume_cursor, const StartWatch& start);

  // Admit turns the request's validation result into INVALID_ARGUMENT, or
  // resolves the key and the deadline of the RPC.
  absl::StatusOr<upstream::CallContext> Admit(
      grpc::CallbackServerContext* context,
      std::vector<errors::FieldViolation> violations) const;

  const std::shared_ptr<upstream::TriverseConnection> connection_;
  const ServiceOptions options_;
  const std::shared_ptr<upstream::WatchHubs> hubs_;
  const std::shared_ptr<WatchLimiter> watch_limiter_;
  const std::shared_ptr<UploadBudget> upload_budget_;
};

}  // namespace triverse::service

#endif  // TRIVERSE_SERVER_SERVICE_TASK_SERVICE_H_
