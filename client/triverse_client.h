// Client: a typed, synchronous C++ client of triverse.v1.TaskService (the
// Triverse gateway). Every method is one gRPC call (WaitForTask: a series of
// GetTask calls) with a deadline, the caller's API key in the request
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

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
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
// WaitForTask.
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
  // Polling stands in until the gateway offers a streaming WatchTask.
  absl::StatusOr<v1::Task> WaitForTask(
      absl::string_view task_uuid, absl::Duration poll_interval,
      absl::Duration timeout = absl::InfiniteDuration(),
      const ProgressCallback& on_progress = nullptr) const;

 private:
  // PrepareContext sets the deadline of `method` (capped by `cap` when
  // given) and the API key metadata.
  void PrepareContext(grpc::ClientContext& context, absl::string_view method,
                      std::optional<absl::Time> cap = std::nullopt) const;
  absl::StatusOr<v1::Task> GetTaskBefore(absl::string_view task_uuid,
                                         absl::Time cap) const;

  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::TaskService::Stub> stub_;
  ClientOptions options_;
};

}  // namespace triverse::client

#endif  // TRIVERSE_CLIENT_TRIVERSE_CLIENT_H_
