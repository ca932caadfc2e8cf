#include "client/triverse_client.h"

#include <algorithm>
#include <istream>
#include <map>
#include <ostream>
#include <utility>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/util/message_differencer.h"
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

// IsRetryable says whether a failed poll or a broken watch may be tried
// again: UNAVAILABLE (the gateway or its upstream unreachable, restarting,
// or ending a slow stream), or RESOURCE_EXHAUSTED that says when to retry.
bool IsRetryable(const absl::Status& status, const ErrorDetails& details) {
  return status.code() == absl::StatusCode::kUnavailable ||
         (status.code() == absl::StatusCode::kResourceExhausted &&
          details.retry_delay.has_value());
}

std::string DescribeLast(const std::optional<v1::Task>& last) {
  if (!last.has_value()) return "no event received";
  return absl::StrCat("last status ", v1::TaskStatus_Name(last->status()),
                      " at ", last->progress(), "%");
}

// EventOutcome is what a watch does after one event.
enum class EventOutcome {
  kNext,      // go on reading
  kFinished,  // the watch has its result (WatchTask's FINALIZED)
  kStopped,   // the callback asked to stop
  kError,     // the gateway broke the contract (see `error`)
};

struct EventResult {
  EventOutcome outcome = EventOutcome::kNext;
  // True when the event reached the callback (progress: the reconnection
  // count starts again).
  bool delivered = false;
  absl::Status error;
};

// OpenWatch starts one stream of a watch on `context` from `cursor`
// (empty: from the start).
using OpenWatch =
    std::function<std::unique_ptr<grpc::ClientReader<v1::TaskEvent>>(
        grpc::ClientContext& context, const std::string& cursor,
        absl::Time deadline)>;
// HandleEvent decides about one event; `resumed` is true on a stream
// opened with a cursor.
using HandleEvent =
    std::function<EventResult(const v1::TaskEvent& event, bool resumed)>;

// WatchEnd is how RunWatch ended when it returns OK.
enum class WatchEnd { kFinished, kStopped };

}  // namespace

void WatchCancellation::Cancel() {
  absl::MutexLock lock(&mu_);
  cancelled_ = true;
  for (grpc::ClientContext* context : contexts_) context->TryCancel();
}

bool WatchCancellation::IsCancelled() const {
  absl::MutexLock lock(&mu_);
  return cancelled_;
}

bool WatchCancellation::Attach(grpc::ClientContext* context) {
  absl::MutexLock lock(&mu_);
  if (cancelled_) return false;
  contexts_.push_back(context);
  return true;
}

void WatchCancellation::Detach(grpc::ClientContext* context) {
  absl::MutexLock lock(&mu_);
  contexts_.erase(std::remove(contexts_.begin(), contexts_.end(), context),
                  contexts_.end());
}

bool WatchCancellation::SleepFor(absl::Duration d) const {
  absl::MutexLock lock(&mu_);
  return mu_.AwaitWithTimeout(absl::Condition(&cancelled_), d);
}

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

void Client::PrepareWatchContext(grpc::ClientContext& context,
                                 absl::Time deadline) const {
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
      const bool transient = IsRetryable(task.status(), details);
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

namespace internal {

// WatchCancellationAccess lets the watch loop register its streams.
class WatchCancellationAccess {
 public:
  static bool Attach(WatchCancellation& c, grpc::ClientContext* context) {
    return c.Attach(context);
  }
  static void Detach(WatchCancellation& c, grpc::ClientContext* context) {
    c.Detach(context);
  }
  static bool SleepFor(const WatchCancellation& c, absl::Duration d) {
    return c.SleepFor(d);
  }
};

}  // namespace internal

namespace {

using internal::WatchCancellationAccess;

// RunWatch is the loop WatchTask and WatchTasks share: open a stream (with
// `deadline`), hand each event to `handle`, and on a retryable break reopen
// it from the newest cursor after a jittered backoff. Returns OK with `end`
// set when the watch finished or was stopped (callback or cancellation),
// else the error; `ended_ok` is the contract violation reported when a
// stream ends OK before the watch finished.
absl::Status RunWatch(absl::string_view op, const WatchOptions& options,
                      const OpenWatch& open, const HandleEvent& handle,
                      const std::function<std::string()>& describe,
                      absl::string_view ended_ok, WatchEnd& end) {
  const absl::Time deadline = options.timeout == absl::InfiniteDuration()
                                  ? absl::InfiniteFuture()
                                  : absl::Now() + options.timeout;
  WatchCancellation* const cancellation = options.cancellation;
  auto timed_out = [&] {
    return absl::DeadlineExceededError(absl::StrCat(
        op, ": not finished before the timeout (", describe(), ")"));
  };
  std::string cursor = options.resume_cursor;
  int reconnects = 0;
  absl::BitGen random;
  while (true) {
    grpc::ClientContext context;
    if (cancellation != nullptr &&
        !WatchCancellationAccess::Attach(*cancellation, &context)) {
      end = WatchEnd::kStopped;
      return absl::OkStatus();
    }
    const bool resumed = !cursor.empty();
    std::unique_ptr<grpc::ClientReader<v1::TaskEvent>> reader =
        open(context, cursor, deadline);
    EventResult result;
    bool finished = false;
    v1::TaskEvent event;
    while (reader->Read(&event)) {
      if (!event.cursor().empty()) cursor = event.cursor();
      // After the terminal event only the end of the stream is expected.
      if (finished) continue;
      result = handle(event, resumed);
      if (result.delivered) reconnects = 0;
      if (result.outcome == EventOutcome::kFinished) finished = true;
      if (result.outcome == EventOutcome::kStopped ||
          result.outcome == EventOutcome::kError) {
        context.TryCancel();
        // Drain so that Finish() does not wait on unread messages.
        while (reader->Read(&event)) {
        }
        break;
      }
    }
    const grpc::Status grpc_status = reader->Finish();
    bool cancelled = false;
    if (cancellation != nullptr) {
      WatchCancellationAccess::Detach(*cancellation, &context);
      cancelled = cancellation->IsCancelled();
    }
    if (result.outcome == EventOutcome::kError) return result.error;
    // The terminal event arrived: how the stream ended no longer matters.
    if (finished) {
      end = WatchEnd::kFinished;
      return absl::OkStatus();
    }
    if (result.outcome == EventOutcome::kStopped || cancelled) {
      end = WatchEnd::kStopped;
      return absl::OkStatus();
    }
    const absl::Status status = FromGrpcStatus(grpc_status);
    if (status.ok()) {
      return ErrorAfter(absl::StatusCode::kInternal, op,
                        absl::StrCat("protocol violation: ", ended_ok));
    }
    if (status.code() == absl::StatusCode::kDeadlineExceeded &&
        absl::Now() >= deadline) {
      return timed_out();
    }
    const ErrorDetails details = Explain(status);
    if (!IsRetryable(status, details) || reconnects >= options.max_reconnects) {
      return status;
    }
    ++reconnects;
    // The gateway names the cursor to resume from when it ends a stream
    // itself; it comes after every event of that stream, so it is newer.
    if (auto it = details.metadata.find(kCursorMetadataKey);
        it != details.metadata.end() && !it->second.empty()) {
      cursor = it->second;
    }
    absl::Duration cap = options.initial_backoff;
    for (int i = 1; i < reconnects && cap < options.max_backoff; ++i) cap *= 2;
    cap = std::min(cap, options.max_backoff);
    absl::Duration backoff = cap > absl::ZeroDuration()
                                 ? absl::Nanoseconds(absl::Uniform<int64_t>(
                                       absl::IntervalClosedClosed, random, 0,
                                       absl::ToInt64Nanoseconds(cap)))
                                 : absl::ZeroDuration();
    if (details.retry_delay.has_value()) {
      backoff = std::max(backoff, *details.retry_delay);
    }
    if (absl::Now() + backoff >= deadline) return timed_out();
    if (options.on_reconnect) options.on_reconnect(status, backoff);
    if (cancellation != nullptr) {
      if (WatchCancellationAccess::SleepFor(*cancellation, backoff)) {
        end = WatchEnd::kStopped;
        return absl::OkStatus();
      }
    } else {
      absl::SleepFor(backoff);
    }
  }
}

}  // namespace

absl::StatusOr<v1::Task> Client::WatchTask(absl::string_view task_uuid,
                                           const EventCallback& on_event,
                                           const WatchOptions& options) const {
  constexpr absl::string_view kOp = "WatchTask";
  const std::string uuid(task_uuid);
  std::optional<v1::Task> last;
  std::string last_cursor;
  std::optional<v1::Task> final_task;
  OpenWatch open = [this, &uuid](grpc::ClientContext& context,
                                 const std::string& cursor,
                                 absl::Time deadline) {
    PrepareWatchContext(context, deadline);
    v1::WatchTaskRequest request;
    request.set_task_uuid(uuid);
    request.set_resume_cursor(cursor);
    return stub_->WatchTask(&context, request);
  };
  HandleEvent handle = [&](const v1::TaskEvent& event,
                           bool resumed) -> EventResult {
    EventResult r;
    if (!event.task().task_uuid().empty() && event.task().task_uuid() != uuid) {
      r.outcome = EventOutcome::kError;
      r.error = ErrorAfter(absl::StatusCode::kInternal, kOp,
                           absl::StrCat("protocol violation: an event of task ",
                                        event.task().task_uuid()));
      return r;
    }
    // A resumed stream may repeat what was delivered already.
    if (!event.cursor().empty() && event.cursor() == last_cursor) return r;
    if (resumed && event.kind() == v1::TASK_EVENT_KIND_SNAPSHOT &&
        last.has_value() &&
        google::protobuf::util::MessageDifferencer::Equals(event.task(),
                                                           *last)) {
      return r;
    }
    const bool terminal = event.kind() == v1::TASK_EVENT_KIND_FINALIZED;
    if (terminal && !IsTerminal(event.task().status())) {
      r.outcome = EventOutcome::kError;
      r.error = ErrorAfter(
          absl::StatusCode::kInternal, kOp,
          absl::StrCat("protocol violation: a FINALIZED event with status ",
                       v1::TaskStatus_Name(event.task().status())));
      return r;
    }
    last = event.task();
    last_cursor = event.cursor();
    r.delivered = true;
    const bool go_on = !on_event || on_event(event);
    if (terminal) {
      final_task = event.task();
      r.outcome = EventOutcome::kFinished;
    } else if (!go_on) {
      r.outcome = EventOutcome::kStopped;
    }
    return r;
  };
  WatchEnd end = WatchEnd::kStopped;
  absl::Status status = RunWatch(
      kOp, options, open, handle, [&last] { return DescribeLast(last); },
      "the stream ended without a FINALIZED event", end);
  if (!status.ok()) return status;
  if (end == WatchEnd::kStopped || !final_task.has_value()) {
    return absl::CancelledError(absl::StrCat(kOp, ": stopped by the caller (",
                                             DescribeLast(last), ")"));
  }
  return *std::move(final_task);
}

absl::Status Client::WatchTasks(const WatchTasksOptions& select,
                                const EventCallback& on_event,
                                const WatchOptions& options) const {
  constexpr absl::string_view kOp = "WatchTasks";
  if (!on_event) {
    return ErrorAfter(absl::StatusCode::kInvalidArgument, kOp,
                      "on_event must not be null");
  }
  struct Seen {
    std::string cursor;
    bool finalized = false;
  };
  std::map<std::string, Seen> seen;
  std::optional<v1::Task> last;
  OpenWatch open = [this, &select](grpc::ClientContext& context,
                                   const std::string& cursor,
                                   absl::Time deadline) {
    PrepareWatchContext(context, deadline);
    v1::WatchTasksRequest request;
    if (!cursor.empty()) {
      request.set_resume_cursor(cursor);
    } else if (select.since.has_value()) {
      const absl::Duration since = *select.since - absl::UnixEpoch();
      absl::Duration rest;
      const int64_t seconds =
          absl::IDivDuration(since, absl::Seconds(1), &rest);
      request.mutable_since()->set_seconds(seconds);
      request.mutable_since()->set_nanos(
          static_cast<int32_t>(absl::ToInt64Nanoseconds(rest)));
    }
    for (v1::TaskStatus s : select.statuses) request.add_statuses(s);
    for (const std::string& f : select.flow_names) request.add_flow_names(f);
    return stub_->WatchTasks(&context, request);
  };
  HandleEvent handle = [&](const v1::TaskEvent& event, bool) -> EventResult {
    EventResult r;
    Seen& task = seen[event.task().task_uuid()];
    const bool terminal = event.kind() == v1::TASK_EVENT_KIND_FINALIZED;
    if ((!event.cursor().empty() && event.cursor() == task.cursor) ||
        (terminal && task.finalized)) {
      return r;
    }
    task.cursor = event.cursor();
    task.finalized = task.finalized || terminal;
    last = event.task();
    r.delivered = true;
    if (!on_event(event)) r.outcome = EventOutcome::kStopped;
    return r;
  };
  WatchEnd end = WatchEnd::kStopped;
  absl::Status status = RunWatch(
      kOp, options, open, handle,
      [&last] {
        return last.has_value()
                   ? absl::StrCat("last event of task ", last->task_uuid())
                   : std::string("no event received");
      },
      "the stream ended", end);
  return status;
}

}  // namespace triverse::client
