#include "client/triverse_client.h"

#include <algorithm>
#include <istream>
#include <ostream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "google/protobuf/duration.pb.h"
#include "google/rpc/error_details.pb.h"

namespace triverse::client {
namespace {

// WaitForTask gives up after this many transient poll errors in a row, so
// that an unreachable gateway fails the wait instead of stalling it.
constexpr int kMaxConsecutivePollErrors = 5;

// ErrorAfter builds a client-side error naming the operation.
absl::Status ErrorAfter(absl::StatusCode code, absl::string_view operation,
                        absl::string_view what) {
  return absl::Status(code, absl::StrCat(operation, ": ", what));
}

std::optional<absl::Duration> FromProto(const google::protobuf::Duration& d) {
  const absl::Duration out =
      absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
  if (out < absl::ZeroDuration()) return std::nullopt;
  return out;
}

template <typename Response, typename Request, typename Method>
absl::StatusOr<Response> Unary(grpc::ClientContext& context, Method method,
                               const Request& request) {
  Response response;
  grpc::Status status = method(&context, request, &response);
  if (!status.ok()) return FromGrpcStatus(status);
  return response;
}

}  // namespace

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  // gRPC and absl share the canonical code numbers (0-16); anything else is
  // UNKNOWN, as gRPC itself treats an unknown code.
  const int raw = static_cast<int>(status.error_code());
  const absl::StatusCode code = raw >= 0 && raw <= 16
                                    ? static_cast<absl::StatusCode>(raw)
                                    : absl::StatusCode::kUnknown;
  absl::Status out(code, status.error_message());
  if (!status.error_details().empty()) {
    out.SetPayload(kRpcStatusPayloadUrl, absl::Cord(status.error_details()));
  }
  return out;
}

std::optional<google::rpc::Status> RpcStatus(const absl::Status& status) {
  auto payload = status.GetPayload(kRpcStatusPayloadUrl);
  if (!payload.has_value()) return std::nullopt;
  google::rpc::Status rpc;
  if (!rpc.ParseFromString(std::string(*payload))) return std::nullopt;
  return rpc;
}

ErrorDetails Explain(const absl::Status& status) {
  ErrorDetails out;
  out.code = status.code();
  out.code_name = absl::StatusCodeToString(status.code());
  out.message = std::string(status.message());
  std::optional<google::rpc::Status> rpc = RpcStatus(status);
  if (!rpc.has_value()) return out;
  for (const google::protobuf::Any& any : rpc->details()) {
    if (google::rpc::ErrorInfo info; any.UnpackTo(&info)) {
      out.reason = info.reason();
      out.domain = info.domain();
      for (const auto& [key, value] : info.metadata()) {
        out.metadata[key] = value;
      }
      auto it = out.metadata.find("suggestion");
      if (it != out.metadata.end()) out.suggestion = it->second;
    } else if (google::rpc::RetryInfo retry; any.UnpackTo(&retry)) {
      if (retry.has_retry_delay())
        out.retry_delay = FromProto(retry.retry_delay());
    } else if (google::rpc::BadRequest bad; any.UnpackTo(&bad)) {
      for (const auto& v : bad.field_violations()) {
        out.field_violations.push_back({v.field(), v.description()});
      }
    } else if (google::rpc::QuotaFailure quota; any.UnpackTo(&quota)) {
      for (const auto& v : quota.violations()) {
        out.quota_violations.push_back({v.subject(), v.description()});
      }
    } else if (google::rpc::PreconditionFailure pre; any.UnpackTo(&pre)) {
      for (const auto& v : pre.violations()) {
        out.precondition_violations.push_back(
            {v.type(), v.subject(), v.description()});
      }
    }
  }
  return out;
}

bool IsTerminal(v1::TaskStatus status) {
  return status == v1::TASK_STATUS_SUCCESS ||
         status == v1::TASK_STATUS_FAILED ||
         status == v1::TASK_STATUS_CANCELLED;
}

Client::Client(std::shared_ptr<grpc::Channel> channel, ClientOptions options)
    : channel_(std::move(channel)),
      stub_(v1::TaskService::NewStub(channel_)),
      options_(std::move(options)) {}

void Client::PrepareContext(grpc::ClientContext& context,
                            absl::string_view method,
                            std::optional<absl::Time> cap) const {
  absl::Duration timeout = options_.default_timeout;
  auto it = options_.timeouts.find(std::string(method));
  if (it != options_.timeouts.end()) timeout = it->second;
  absl::Time deadline = absl::Now() + timeout;
  if (cap.has_value()) deadline = std::min(deadline, *cap);
  if (deadline != absl::InfiniteFuture()) {
    context.set_deadline(absl::ToChronoTime(deadline));
  }
  if (options_.api_key.has_value()) {
    context.AddMetadata(kApiKeyMetadata, *options_.api_key);
  }
}

absl::StatusOr<v1::TaskCreation> Client::CreateTask(
    const v1::CreateTaskRequest& request) const {
  grpc::ClientContext context;
  PrepareContext(context, "CreateTask");
  return Unary<v1::TaskCreation>(
      context,
      [this](grpc::ClientContext* c, const v1::CreateTaskRequest& r,
             v1::TaskCreation* out) { return stub_->CreateTask(c, r, out); },
      request);
}

absl::StatusOr<v1::Task> Client::GetTask(absl::string_view task_uuid) const {
  return GetTaskBefore(task_uuid, absl::InfiniteFuture());
}

absl::StatusOr<v1::Task> Client::GetTaskBefore(absl::string_view task_uuid,
                                               absl::Time cap) const {
  grpc::ClientContext context;
  PrepareContext(context, "GetTask", cap);
  v1::GetTaskRequest request;
  request.set_task_uuid(std::string(task_uuid));
  return Unary<v1::Task>(
      context,
      [this](grpc::ClientContext* c, const v1::GetTaskRequest& r,
             v1::Task* out) { return stub_->GetTask(c, r, out); },
      request);
}

absl::StatusOr<v1::PriceQuote> Client::QuotePrice(
    const v1::QuotePriceRequest& request) const {
  grpc::ClientContext context;
  PrepareContext(context, "QuotePrice");
  return Unary<v1::PriceQuote>(
      context,
      [this](grpc::ClientContext* c, const v1::QuotePriceRequest& r,
             v1::PriceQuote* out) { return stub_->QuotePrice(c, r, out); },
      request);
}

absl::StatusOr<v1::DownloadUrl> Client::GetDownloadUrl(
    absl::string_view task_uuid) const {
  grpc::ClientContext context;
  PrepareContext(context, "GetDownloadUrl");
  v1::GetDownloadUrlRequest request;
  request.set_task_uuid(std::string(task_uuid));
  return Unary<v1::DownloadUrl>(
      context,
      [this](grpc::ClientContext* c, const v1::GetDownloadUrlRequest& r,
             v1::DownloadUrl* out) { return stub_->GetDownloadUrl(c, r, out); },
      request);
}

absl::StatusOr<v1::ListOwnModelsResponse> Client::ListOwnModels(
    int32_t page_size, absl::string_view page_token) const {
  grpc::ClientContext context;
  PrepareContext(context, "ListOwnModels");
  v1::ListOwnModelsRequest request;
  request.set_page_size(page_size);
  request.set_page_token(std::string(page_token));
  return Unary<v1::ListOwnModelsResponse>(
      context,
      [this](grpc::ClientContext* c, const v1::ListOwnModelsRequest& r,
             v1::ListOwnModelsResponse* out) {
        return stub_->ListOwnModels(c, r, out);
      },
      request);
}

absl::StatusOr<v1::Account> Client::GetAccount() const {
  grpc::ClientContext context;
  PrepareContext(context, "GetAccount");
  return Unary<v1::Account>(
      context,
      [this](grpc::ClientContext* c, const v1::GetAccountRequest& r,
             v1::Account* out) { return stub_->GetAccount(c, r, out); },
      v1::GetAccountRequest());
}

absl::StatusOr<v1::AssetMetadata> Client::DownloadAsset(
    absl::string_view task_uuid, std::ostream& out) const {
  constexpr absl::string_view kOp = "DownloadAsset";
  grpc::ClientContext context;
  PrepareContext(context, kOp);
  v1::DownloadAssetRequest request;
  request.set_task_uuid(std::string(task_uuid));
  std::unique_ptr<grpc::ClientReader<v1::DownloadAssetResponse>> reader =
      stub_->DownloadAsset(&context, request);

  // The first local failure; once set the call is cancelled and the
  // gateway's status (CANCELLED) no longer matters.
  absl::Status local;
  std::optional<v1::AssetMetadata> metadata;
  int64_t received = 0;
  v1::DownloadAssetResponse message;
  while (reader->Read(&message)) {
    switch (message.part_case()) {
      case v1::DownloadAssetResponse::kMetadata:
        if (metadata.has_value()) {
          local = ErrorAfter(absl::StatusCode::kInternal, kOp,
                             "protocol violation: a second metadata message");
        } else {
          metadata = std::move(*message.mutable_metadata());
        }
        break;
      case v1::DownloadAssetResponse::kChunk:
        if (!metadata.has_value()) {
          local = ErrorAfter(absl::StatusCode::kInternal, kOp,
                             "protocol violation: a chunk before the metadata");
          break;
        }
        out.write(message.chunk().data(),
                  static_cast<std::streamsize>(message.chunk().size()));
        if (!out) {
          local = ErrorAfter(absl::StatusCode::kDataLoss, kOp,
                             absl::StrCat("writing the output failed after ",
                                          received, " bytes"));
          break;
        }
        received += static_cast<int64_t>(message.chunk().size());
        break;
      case v1::DownloadAssetResponse::PART_NOT_SET:
        local = ErrorAfter(absl::StatusCode::kInternal, kOp,
                           "protocol violation: an empty message");
        break;
    }
    if (!local.ok()) break;
  }
  if (!local.ok()) {
    context.TryCancel();
    // Drain so that Finish() does not wait on unread messages.
    while (reader->Read(&message)) {
    }
    reader->Finish().IgnoreError();
    return local;
  }
  grpc::Status status = reader->Finish();
  if (!status.ok()) return FromGrpcStatus(status);
  if (!metadata.has_value()) {
    return ErrorAfter(absl::StatusCode::kInternal, kOp,
                      "protocol violation: the stream ended without metadata");
  }
  out.flush();
  if (!out) {
    return ErrorAfter(absl::StatusCode::kDataLoss, kOp,
                      "flushing the output failed");
  }
  if (metadata->has_size_bytes() && metadata->size_bytes() != received) {
    return ErrorAfter(absl::StatusCode::kDataLoss, kOp,
                      absl::StrCat("received ", received, " bytes, expected ",
                                   metadata->size_bytes()));
  }
  return *std::move(metadata);
}

absl::StatusOr<std::string> Client::UploadFile(
    const v1::UploadMetadata& metadata, std::istream& in,
    size_t chunk_size) const {
  constexpr absl::string_view kOp = "UploadFile";
  if (chunk_size == 0) {
    return ErrorAfter(absl::StatusCode::kInvalidArgument, kOp,
                      "chunk_size must be positive");
  }
  grpc::ClientContext context;
  PrepareContext(context, kOp);
  v1::UploadFileResponse response;
  std::unique_ptr<grpc::ClientWriter<v1::UploadFileRequest>> writer =
      stub_->UploadFile(&context, &response);

  v1::UploadFileRequest message;
  *message.mutable_metadata() = metadata;
  // A failed Write means the stream is over (usually the gateway refused
  // the upload): Finish() then returns its status.
  bool open = writer->Write(message);
  std::string buffer(chunk_size, '\0');
  while (open) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    const std::streamsize n = in.gcount();
    if (in.bad() || (in.fail() && !in.eof())) {
      context.TryCancel();
      writer->Finish().IgnoreError();
      return ErrorAfter(absl::StatusCode::kDataLoss, kOp,
                        "reading the input failed");
    }
    if (n > 0) {
      message.set_chunk(buffer.data(), static_cast<size_t>(n));
      open = writer->Write(message);
    }
    if (in.eof()) break;
  }
  if (open) writer->WritesDone();
  grpc::Status status = writer->Finish();
  if (!status.ok()) return FromGrpcStatus(status);
  return std::move(*response.mutable_file_key());
}

absl::StatusOr<v1::Task> Client::WaitForTask(
    absl::string_view task_uuid, absl::Duration poll_interval,
    absl::Duration timeout, const ProgressCallback& on_progress) const {
  const absl::Time deadline = timeout == absl::InfiniteDuration()
                                  ? absl::InfiniteFuture()
                                  : absl::Now() + timeout;
  std::optional<v1::Task> last;
  absl::Status last_error;
  int consecutive_errors = 0;
  while (true) {
    absl::Duration pause = poll_interval;
    absl::StatusOr<v1::Task> task = GetTaskBefore(task_uuid, deadline);
    if (task.ok()) {
      const bool changed = !last.has_value() ||
                           last->status() != task->status() ||
                           last->progress() != task->progress();
      consecutive_errors = 0;
      last = *task;
      if (changed && on_progress) on_progress(*last);
      if (IsTerminal(last->status())) return *std::move(last);
    } else {
      const ErrorDetails details = Explain(task.status());
      const bool transient =
          task.status().code() == absl::StatusCode::kUnavailable ||
          (task.status().code() == absl::StatusCode::kResourceExhausted &&
           details.retry_delay.has_value());
      // A poll that ran out of the overall time is the wait's timeout.
      const bool out_of_time =
          task.status().code() == absl::StatusCode::kDeadlineExceeded &&
          absl::Now() >= deadline;
      if (!transient && !out_of_time) return task.status();
      if (transient && ++consecutive_errors >= kMaxConsecutivePollErrors) {
        return task.status();
      }
      last_error = task.status();
      if (details.retry_delay.has_value()) {
        pause = std::max(pause, *details.retry_delay);
      }
    }
    const absl::Time now = absl::Now();
    if (now >= deadline || now + pause >= deadline) {
      std::string seen =
          last.has_value()
              ? absl::StrCat("last status ",
                             v1::TaskStatus_Name(last->status()), " at ",
                             last->progress(), "%")
              : absl::StrCat("no status seen; last error: ",
                             absl::StatusCodeToString(last_error.code()), ": ",
                             last_error.message());
      return absl::DeadlineExceededError(
          absl::StrCat("WaitForTask: task ", task_uuid,
                       " not finished before the timeout (", seen, ")"));
    }
    absl::SleepFor(pause);
  }
}

}  // namespace triverse::client
