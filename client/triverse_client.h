// Client: a typed, synchronous C++ client of triverse.v1.TaskService (the
// Triverse gateway). Every method is one gRPC call (WaitForTask: a series of
// GetTask calls; WatchTask / WatchTasks: one stream, resumed after a break)
// with a deadline, the caller's API key in the request
// metadata when one is configured, and errors as absl::Status values that
// keep the gateway's google.rpc.Status details (see Explain()).
#ifndef TRIVERSE_CLIENT_TRIVERSE_CLIENT_H_
#define TRIVERSE_CLIENT_TRIVERSE_CLIENT_H_

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <grpcpp/support/status.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "google/rpc/status.pb.h"
#include "triverse/v1/account.pb.h"
#include "triverse/v1/assets.pb.h"
#include "triverse/v1/task.pb.h"
#include "triverse/v1/task_service.grpc.pb.h"
#include "triverse/v1/task_service.pb.h"

namespace triverse::client {

// kApiKeyMetadata is the request metadata key that carries a caller's
// Triverse API key to a multi-tenant gateway.
inline constexpr char kApiKeyMetadata[] = "x-triverse-api-key";

// kRpcStatusPayloadUrl is the absl::Status payload key under which
// FromGrpcStatus keeps the serialised google.rpc.Status of an error.
inline constexpr char kRpcStatusPayloadUrl[] =
    "type.googleapis.com/google.rpc.Status";

// kDefaultUploadChunkSize is the chunk size of UploadFile (64 KiB).
inline constexpr size_t kDefaultUploadChunkSize = 64 * 1024;

// ClientOptions are fixed when the Client is built.
struct ClientOptions {
  // The deadline of every call (now + this) unless `timeouts` names the
  // method. Must be positive.
  absl::Duration default_timeout = absl::Seconds(30);
  // Per-method overrides, keyed by the RPC name ("GetTask",
  // "DownloadAsset", ...). A streaming call's deadline covers the whole
  // stream, so large downloads and uploads usually want a longer one.
  std::map<std::string, absl::Duration> timeouts;
  // Sent as kApiKeyMetadata on every call when set (a multi-tenant gateway
  // then calls Triverse with this key); unset: the gateway's own key. Never
  // logged or put in an error message by this library.
  std::optional<std::string> api_key;
};

// FromGrpcStatus is the one grpc::Status → absl::Status conversion: same
// code (the numbers are shared), same message, and the google.rpc.Status
// from error_details() (grpc-status-details-bin) kept as the payload
// kRpcStatusPayloadUrl. OK maps to OK.
absl::Status FromGrpcStatus(const grpc::Status& status);

// RpcStatus returns the google.rpc.Status kept by FromGrpcStatus, or
// nullopt when the status carries none (or it does not parse).
std::optional<google::rpc::Status> RpcStatus(const absl::Status& status);

// ErrorDetails is an error taken apart for display or for decisions.
struct ErrorDetails {
  struct FieldViolation {
    std::string field;  // A request field path, e.g. "text_to_model.prompt".
    std::string description;
  };
  struct QuotaViolation {
    std::string subject;  // e.g. "api_credits", "requests".
    std::string description;
  };
  struct PreconditionViolation {
    std::string type;  // e.g. "TASK_STATE".
    std::string subject;
    std::string description;
  };

  absl::StatusCode code = absl::StatusCode::kOk;
  // The canonical name, e.g. "NOT_FOUND".
  std::string code_name;
  std::string message;
  // google.rpc.ErrorInfo; empty when the error carried none.
  std::string reason;  // e.g. "TASK_NOT_FOUND".
  std::string domain;  // "triverse.ai" for the gateway's errors.
  // httpStatus, upstreamCode, upstreamMessage, suggestion, operation, ...
  std::map<std::string, std::string> metadata;
  // metadata["suggestion"], for convenience.
  std::string suggestion;
  // google.rpc.RetryInfo: how long to wait before retrying, when given.
  std::optional<absl::Duration> retry_delay;
  std::vector<FieldViolation> field_violations;
  std::vector<QuotaViolation> quota_violations;
  std::vector<PreconditionViolation> precondition_violations;
};

// Explain takes apart an error returned by a Client method (or built with
// FromGrpcStatus). Unknown detail types are skipped; an OK status gives
// code kOk and nothing else.
ErrorDetails Explain(const absl::Status& status);

// IsTerminal is true for SUCCESS, FAILED and CANCELLED: a task in such a
// status never changes again.
bool IsTerminal(v1::TaskStatus status);

// kCursorMetadataKey is the ErrorInfo metadata key under which the gateway
// names the cursor to resume from when it ends a watch early (UNAVAILABLE).
inline constexpr char kCursorMetadataKey[] = "cursor";

namespace internal {
class WatchCancellationAccess;
}  // namespace internal

// WatchCancellation stops a running WatchTask / WatchTasks from another
// thread (e.g. a signal-handling thread or a UI).
//
// Thread-safety: Cancel() and IsCancelled() may be called from any thread,
// any number of times. A token stays cancelled: a watch started with a
// cancelled token returns at once. One token may serve several watches (they
// all stop). It must outlive every watch that uses it.
class WatchCancellation {
 public:
  WatchCancellation() = default;
  WatchCancellation(const WatchCancellation&) = delete;
  WatchCancellation& operator=(const WatchCancellation&) = delete;

  // Cancel ends the watches using this token: the current stream is
  // cancelled and a pending reconnection backoff is cut short.
  void Cancel();
  bool IsCancelled() const;

 private:
  friend class internal::WatchCancellationAccess;
  // Attach registers a stream's context; false (and nothing registered)
  // when the token is already cancelled.
  bool Attach(grpc::ClientContext* context);
  void Detach(grpc::ClientContext* context);
  // SleepFor waits `d` or until Cancel(); true when cancelled.
  bool SleepFor(absl::Duration d) const;

  mutable absl::Mutex mu_;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<grpc::ClientContext*> contexts_ ABSL_GUARDED_BY(mu_);
};

// WatchOptions tune WatchTask and WatchTasks: their deadline, how they
// resume after a break, and how they are cancelled.
struct WatchOptions {
  // Bounds the whole watch, reconnections and backoff included
  // (InfiniteDuration: none). ClientOptions' timeouts do not apply to
  // watches: a watch lasts as long as its task.
  absl::Duration timeout = absl::InfiniteDuration();
  // Reconnections allowed in a row without a new event delivered in
  // between; the next retryable failure is returned. 0: never reconnect.
  int max_reconnects = 8;
  // Full-jitter exponential backoff: before the n-th reconnection in a row
  // wait a uniformly random time in [0, min(max_backoff,
  // initial_backoff * 2^(n-1))], and never less than a RetryInfo delay.
  absl::Duration initial_backoff = absl::Milliseconds(250);
  absl::Duration max_backoff = absl::Seconds(15);
  // Continue after this cursor (one saved from an earlier watch's event);
  // empty: WatchTask starts with a snapshot, WatchTasks with `since`.
  std::string resume_cursor;
  // Stops the watch from another thread; may be null.
  WatchCancellation* cancellation = nullptr;
  // Called (on the watching thread) before each reconnection with the
  // error that broke the stream and the backoff about to be waited; may be
  // null.
  std::function<void(const absl::Status&, absl::Duration)> on_reconnect;
};

// WatchTasksOptions select what WatchTasks streams (the WatchTasksRequest
// fields other than the cursor).
struct WatchTasksOptions {
  // Catch-up: first the latest state of every task updated since then.
  // Unset: live changes only. Replaced by the cursor on a resume.
  std::optional<absl::Time> since;
  // Only tasks in one of these statuses (empty: all).
  std::vector<v1::TaskStatus> statuses;
  // Only tasks of one of these flows, e.g. "text-to-model" (empty: all).
  std::vector<std::string> flow_names;
};

// Client wraps one TaskService stub.
//
// Thread-safety: a Client is immutable after construction and every method
// is const: one Client may be shared by any number of threads calling it
// concurrently (each call has its own grpc::ClientContext). The istream /
// ostream passed to UploadFile / DownloadAsset are used only by that call.
//
// Error codes: every method returns the gateway's status as it came
// (INVALID_ARGUMENT with BadRequest, NOT_FOUND, RESOURCE_EXHAUSTED with
// RetryInfo / QuotaFailure, FAILED_PRECONDITION, UNAVAILABLE,
// UNAUTHENTICATED, PERMISSION_DENIED, INTERNAL, ...: see the table in
// the top-level README, "Errors"), DEADLINE_EXCEEDED when the call's deadline
// passes, UNAVAILABLE when the gateway cannot be reached, plus the client-side
// codes listed on each method. Nothing is retried by this class except inside
// WaitForTask, WatchTask and WatchTasks.
class Client {
 public:
  // `channel` must not be null; it is shared (channels are thread-safe).
  Client(std::shared_ptr<grpc::Channel> channel, ClientOptions options = {});

  absl::StatusOr<v1::TaskCreation> CreateTask(
      const v1::CreateTaskRequest& request) const;
  absl::StatusOr<v1::Task> GetTask(absl::string_view task_uuid) const;
  absl::StatusOr<v1::PriceQuote> QuotePrice(
      const v1::QuotePriceRequest& request) const;
  absl::StatusOr<v1::DownloadUrl> GetDownloadUrl(
      absl::string_view task_uuid) const;
  // ListOwnModels returns one page; pass its next_page_token to get the
  // next one (empty on the last page).
  absl::StatusOr<v1::ListOwnModelsResponse> ListOwnModels(
      int32_t page_size, absl::string_view page_token = {}) const;
  absl::StatusOr<v1::Account> GetAccount() const;

  // DownloadAsset streams a successful task's asset into `out` and returns
  // the stream's metadata. Bytes already written stay written when it
  // fails. Client-side errors (the call is cancelled first):
  //   INTERNAL   the gateway broke the stream's contract: a chunk before
  //              the metadata, a second metadata, an empty message, or no
  //              metadata at all.
  //   DATA_LOSS  the byte count differs from metadata.size_bytes, or
  //              writing to `out` failed.
  absl::StatusOr<v1::AssetMetadata> DownloadAsset(absl::string_view task_uuid,
                                                  std::ostream& out) const;

  // UploadFile sends `metadata`, then the bytes of `in` (until its end) in
  // chunks of `chunk_size` bytes, and returns the file_key that task
  // parameters accept. Client-side errors:
  //   INVALID_ARGUMENT  chunk_size is 0.
  //   DATA_LOSS         reading `in` failed (the call is cancelled).
  // When the gateway refuses early (e.g. a size over the limit), the
  // gateway's error is returned without sending the rest of the file.
  absl::StatusOr<std::string> UploadFile(
      const v1::UploadMetadata& metadata, std::istream& in,
      size_t chunk_size = kDefaultUploadChunkSize) const;

  // ProgressCallback sees the task after each poll where its status or
  // progress changed (and after the first poll).
  using ProgressCallback = std::function<void(const v1::Task&)>;

  // WaitForTask polls GetTask every `poll_interval` until the task reaches
  // a terminal status and returns that task: a FAILED or CANCELLED task is
  // a successful result (look at task.status / task.error). `timeout`
  // bounds the whole wait (InfiniteDuration: none); each poll's deadline is
  // the smaller of its usual one and the time left. A poll failing with
  // UNAVAILABLE, or RESOURCE_EXHAUSTED carrying RetryInfo, is retried after
  // max(poll_interval, the RetryInfo delay), up to 5 such failures in a row
  // (then that error is returned); any other error ends the wait and is
  // returned. Errors: those of GetTask, plus DEADLINE_EXCEEDED when
  // `timeout` passes first (its message names the last status seen).
  // Prefer WatchTask; this works with a gateway that has no WatchTask.
  absl::StatusOr<v1::Task> WaitForTask(
      absl::string_view task_uuid, absl::Duration poll_interval,
      absl::Duration timeout = absl::InfiniteDuration(),
      const ProgressCallback& on_progress = nullptr) const;

  // EventCallback sees each event of a watch, on the watching thread, in
  // order, each at most once (see WatchTask). Returning false stops the
  // watch (the stream is cancelled). May be null for WatchTask.
  using EventCallback = std::function<bool(const v1::TaskEvent&)>;

  // WatchTask streams one task's events to `on_event` (SNAPSHOT, UPDATEs,
  // one FINALIZED) and returns the task of the FINALIZED event: a FAILED or
  // CANCELLED task is a successful result (look at task.status / error).
  //
  // Resume: when the stream breaks with UNAVAILABLE (gateway restart,
  // connection lost, slow stream) or RESOURCE_EXHAUSTED carrying RetryInfo,
  // the watch reconnects after a jittered backoff (see WatchOptions) with
  // resume_cursor = the newer of the last event's cursor and the cursor the
  // error's ErrorInfo names (metadata kCursorMetadataKey). Events already
  // delivered are not delivered again (same cursor, or a resumed SNAPSHOT
  // equal to the last task delivered), and the terminal event is delivered
  // at most once: after it no reconnection happens.
  //
  // Errors: any other gateway error at once (NOT_FOUND, INVALID_ARGUMENT,
  // PERMISSION_DENIED, UNAUTHENTICATED, UNIMPLEMENTED from a gateway
  // without watches, ...); the last retryable error after
  // max_reconnects reconnections in a row without a new event;
  // DEADLINE_EXCEEDED when options.timeout passes (the message names the
  // last status seen); CANCELLED when the callback returned false or the
  // cancellation token was cancelled; INTERNAL when the gateway breaks the
  // contract (the stream ends OK without a FINALIZED event, a FINALIZED
  // event without a terminal status, an event of another task).
  absl::StatusOr<v1::Task> WatchTask(absl::string_view task_uuid,
                                     const EventCallback& on_event,
                                     const WatchOptions& options = {}) const;

  // WatchTasks streams every task of the API key (the catch-up from
  // `since` first) to `on_event` until the callback returns false or the
  // cancellation token is cancelled: both return OK. Resume and errors are
  // WatchTask's; a catch-up may repeat a task's state (the upstream's
  // `since` semantics), but an event with the cursor last delivered for its
  // task, or a second FINALIZED of a task, is never delivered (the client
  // keeps one cursor per task seen). An OK end of the stream is INTERNAL
  // (the stream has no end). `on_event` must not be null.
  absl::Status WatchTasks(const WatchTasksOptions& select,
                          const EventCallback& on_event,
                          const WatchOptions& options = {}) const;

 private:
  // PrepareContext sets the deadline of `method` (capped by `cap` when
  // given) and the API key metadata.
  void PrepareContext(grpc::ClientContext& context, absl::string_view method,
                      std::optional<absl::Time> cap = std::nullopt) const;
  absl::StatusOr<v1::Task> GetTaskBefore(absl::string_view task_uuid,
                                         absl::Time cap) const;
  // PrepareWatchContext sets a watch stream's deadline (none when
  // InfiniteFuture) and the API key metadata.
  void PrepareWatchContext(grpc::ClientContext& context,
                           absl::Time deadline) const;

  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::TaskService::Stub> stub_;
  ClientOptions options_;
};

}  // namespace triverse::client

#endif  // TRIVERSE_CLIENT_TRIVERSE_CLIENT_H_
