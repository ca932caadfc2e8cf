#include "server/service/task_service.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <deque>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "google/rpc/error_details.pb.h"
#include "server/errors/grpc_status.h"
#include "server/errors/upstream_status.h"
#include "server/service/validation.h"

namespace triverse::service {
namespace {

using upstream::CallContext;
using upstream::TriverseConnection;

bool HasDetail(const absl::Status& status, absl::string_view full_name) {
  const std::string url = absl::StrCat("type.googleapis.com/", full_name);
  for (const auto& any : errors::Details(status)) {
    if (any.type_url() == url) return true;
  }
  return false;
}

// ReasonFor names an error that carries no upstream ErrorInfo.
absl::string_view ReasonFor(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kDataLoss:
      return "UPSTREAM_PAYLOAD_INVALID";
    case absl::StatusCode::kUnavailable:
      return "UPSTREAM_UNAVAILABLE";
    case absl::StatusCode::kDeadlineExceeded:
      return "DEADLINE_EXCEEDED";
    case absl::StatusCode::kCancelled:
      return "CANCELLED";
    case absl::StatusCode::kResourceExhausted:
      return "RESOURCE_EXHAUSTED";
    case absl::StatusCode::kInvalidArgument:
      return "INVALID_ARGUMENT";
    case absl::StatusCode::kFailedPrecondition:
      return "UPSTREAM_TLS_FAILED";
    default:
      return "INTERNAL_ERROR";
  }
}

// FindMetadata copies request metadata `name` into `storage` (nullptr when
// the caller sent none).
const std::string* FindMetadata(const grpc::CallbackServerContext& context,
                                absl::string_view name, std::string* storage) {
  const auto& md = context.client_metadata();
  auto it = md.find(grpc::string_ref(name.data(), name.size()));
  if (it == md.end()) return nullptr;
  storage->assign(it->second.data(), it->second.size());
  return storage;
}

absl::Time DeadlineOf(const grpc::CallbackServerContext& context,
                      const ServiceOptions& options) {
  const auto deadline = context.deadline();
  // gRPC reports "no deadline" as the largest time point.
  if (deadline == std::chrono::system_clock::time_point::max()) {
    return options.now() + options.default_deadline;
  }
  return absl::FromChrono(deadline);
}

// FailedWatch is the reactor of a watch refused before it started.
class FailedWatch final : public grpc::ServerWriteReactor<grpc::ByteBuffer> {
 public:
  void OnDone() override { delete this; }
};

// ParseRequest reads a raw method's request; a message that is not a `T`
// gives INVALID_ARGUMENT.
template <typename T>
absl::Status ParseRequest(const grpc::ByteBuffer& raw, absl::string_view rpc,
                          T* request) {
  grpc::ByteBuffer copy(raw);  // Deserialize consumes its buffer.
  if (grpc::SerializationTraits<T>::Deserialize(&copy, request).ok()) {
    return absl::OkStatus();
  }
  return ErrorStatus(
      absl::StatusCode::kInvalidArgument, "INVALID_REQUEST", rpc,
      absl::StrCat("the request is not a ", T::descriptor()->full_name()));
}

// UpstreamCalls are the Connection calls one RPC started: cancelling the
// RPC cancels them, and those registered after it. Thread-safe.
class UpstreamCalls {
 public:
  explicit UpstreamCalls(std::shared_ptr<TriverseConnection> connection)
      : connection_(std::move(connection)) {}

  // Track registers call `id` (0: it completed inline), or cancels it at
  // once when CancelAll() ran already.
  void Track(uint64_t id) {
    if (id == 0) return;
    bool cancel_now;
    {
      absl::MutexLock lock(&mu_);
      cancel_now = cancelled_;
      if (!cancel_now) ids_.push_back(id);
    }
    if (cancel_now) connection_->Cancel(id);
  }

  void CancelAll() {
    std::vector<uint64_t> ids;
    {
      absl::MutexLock lock(&mu_);
      cancelled_ = true;
      ids.swap(ids_);
    }
    for (uint64_t id : ids) connection_->Cancel(id);
  }

  bool cancelled() const {
    absl::MutexLock lock(&mu_);
    return cancelled_;
  }

  TriverseConnection& connection() const { return *connection_; }

 private:
  const std::shared_ptr<TriverseConnection> connection_;
  mutable absl::Mutex mu_;
  std::vector<uint64_t> ids_ ABSL_GUARDED_BY(mu_);
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
};

// UnaryCall is the reactor of every unary RPC. It finishes exactly once,
// and only after the starting method has registered every upstream call id
// (so that a completion racing with the start never frees the reactor under
// it); a cancelled RPC cancels the registered calls.
class UnaryCall final : public grpc::ServerUnaryReactor {
 public:
  UnaryCall(std::shared_ptr<TriverseConnection> connection, std::string rpc)
      : calls_(std::move(connection)), rpc_(std::move(rpc)) {}

  // Track registers upstream call `id` (0: it completed inline).
  void Track(uint64_t id) { calls_.Track(id); }

  // Complete records the result; the RPC finishes with it once Started()
  // has run. Called once.
  void Complete(absl::Status status) {
    grpc::Status result =
        errors::ToGrpcStatus(WithErrorInfo(std::move(status), rpc_));
    {
      absl::MutexLock lock(&mu_);
      if (starting_) {
        result_ = std::move(result);
        return;
      }
    }
    Finish(result);
  }

  // Started ends the starting phase.
  void Started() {
    std::optional<grpc::Status> result;
    {
      absl::MutexLock lock(&mu_);
      starting_ = false;
      result.swap(result_);
    }
    if (result) Finish(*result);
  }

  // CancelUpstream cancels every registered call, and those registered
  // later.
  void CancelUpstream() { calls_.CancelAll(); }

  void OnCancel() override { CancelUpstream(); }
  void OnDone() override { delete this; }

 private:
  UpstreamCalls calls_;
  const std::string rpc_;
  absl::Mutex mu_;
  bool starting_ ABSL_GUARDED_BY(mu_) = true;
  std::optional<grpc::Status> result_ ABSL_GUARDED_BY(mu_);
};

// FinishNow answers an RPC that fails before any upstream call.
grpc::ServerUnaryReactor* FinishNow(grpc::CallbackServerContext* context,
                                    const absl::Status& status,
                                    absl::string_view rpc) {
  auto* reactor = context->DefaultReactor();
  reactor->Finish(errors::ToGrpcStatus(WithErrorInfo(status, rpc)));
  return reactor;
}

// StartUnary runs the common path of a one-call unary RPC: `start(context,
// done)` starts the Connection call; its value is moved into `response`.
template <typename T, typename Start>
grpc::ServerUnaryReactor* StartUnary(
    const std::shared_ptr<TriverseConnection>& connection,
    absl::string_view rpc, const CallContext& call, T* response, Start start) {
  auto* reactor = new UnaryCall(connection, std::string(rpc));
  reactor->Track(start(call, [reactor, response](absl::StatusOr<T> result) {
    absl::Status status = result.status();
    if (status.ok()) *response = *std::move(result);
    reactor->Complete(std::move(status));
  }));
  reactor->Started();
  return reactor;
}

// DownloadCall streams an asset: the Connection's sink runs on the engine
// thread and only queues messages; gRPC writes them one at a time.
//
// Lifetime: the engine thread is not a gRPC reaction, so gRPC may delete
// the reactor (OnDone) as soon as Finish() has been called, even while the
// engine thread is still inside one of its callbacks. Every handler
// therefore changes the state and decides the next step (Decide) under one
// lock hold, and performs that step (Act: StartWrite or Finish) as its very
// last access to the reactor.
class DownloadCall final
    : public grpc::ServerWriteReactor<v1::DownloadAssetResponse> {
 public:
  DownloadCall(std::shared_ptr<TriverseConnection> connection,
               const ServiceOptions& options)
      : calls_(std::move(connection)),
        chunk_bytes_(options.download_chunk_bytes),
        max_buffer_(options.max_download_buffer_bytes) {}

  void Start(const std::string& task_uuid, const CallContext& call) {
    upstream::DownloadSink sink;
    sink.on_metadata = [this](v1::AssetMetadata metadata) {
      Step step;
      {
        absl::MutexLock lock(&mu_);
        queue_.emplace_back();
        *queue_.back().mutable_metadata() = std::move(metadata);
        step = Decide();
      }
      Act(step);
    };
    sink.on_chunk = [this](absl::string_view chunk) { return OnChunk(chunk); };
    // Registered (or cancelled, when the RPC already was) before the start
    // ends: the reactor cannot finish until then.
    calls_.Track(calls_.connection().DownloadAsset(
        task_uuid, call, std::move(sink),
        [this](absl::Status status) { OnUpstreamDone(std::move(status)); }));
    Step step;
    {
      absl::MutexLock lock(&mu_);
      starting_ = false;
      step = Decide();
    }
    Act(step);
  }

  void OnWriteDone(bool ok) override {
    bool cancel = false;
    Step step;
    {
      absl::MutexLock lock(&mu_);
      queued_bytes_ -= MessageBytes(queue_.front());
      queue_.pop_front();
      writing_ = false;
      if (!ok && !write_failed_) {
        // The caller is gone: stop the upstream transfer too.
        write_failed_ = true;
        cancel = true;
      }
      step = Decide();
    }
    // A reaction: gRPC keeps the reactor until it returns.
    if (cancel) calls_.CancelAll();
    Act(step);
  }

  void OnCancel() override { calls_.CancelAll(); }

  void OnDone() override { delete this; }

 private:
  // Step is what a handler does once it has released the lock.
  struct Step {
    const v1::DownloadAssetResponse* write = nullptr;
    std::optional<grpc::Status> finish;
  };

  static size_t MessageBytes(const v1::DownloadAssetResponse& m) {
    return m.has_chunk() ? m.chunk().size() : 0;
  }

  bool OnChunk(absl::string_view chunk) {
    Step step;
    {
      absl::MutexLock lock(&mu_);
      if (write_failed_) return false;
      if (queued_bytes_ + chunk.size() > max_buffer_) {
        overflow_ = true;
        return false;
      }
      queued_bytes_ += chunk.size();
      while (!chunk.empty()) {
        // Append to the last queued chunk unless gRPC is writing it.
        const bool last_in_flight = writing_ && queue_.size() == 1;
        if (queue_.empty() || !queue_.back().has_chunk() || last_in_flight ||
            queue_.back().chunk().size() >= chunk_bytes_) {
          queue_.emplace_back();
          queue_.back().mutable_chunk();
        }
        std::string& out = *queue_.back().mutable_chunk();
        const size_t n = std::min(chunk.size(), chunk_bytes_ - out.size());
        out.append(chunk.data(), n);
        chunk.remove_prefix(n);
      }
      step = Decide();
    }
    Act(step);
    return true;
  }

  void OnUpstreamDone(absl::Status status) {
    Step step;
    {
      absl::MutexLock lock(&mu_);
      if (overflow_) {
        status = ErrorStatus(
            absl::StatusCode::kResourceExhausted, "CALLER_TOO_SLOW",
            "DownloadAsset",
            absl::StrCat("the caller read more slowly than the upstream sent "
                         "and more than ",
                         max_buffer_, " bytes were waiting"));
      }
      final_ = errors::ToGrpcStatus(
          WithErrorInfo(std::move(status), "DownloadAsset"));
      step = Decide();
    }
    Act(step);
  }

  // Decide picks the next write, or the end once everything is written.
  Step Decide() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    Step step;
    if (writing_ || finished_ || starting_) return step;
    if (!queue_.empty() && !write_failed_) {
      // The front message (a partly filled chunk too: sending it now keeps
      // latency low) goes out; the deque keeps its address stable.
      writing_ = true;
      step.write = &queue_.front();
    } else if (final_.has_value()) {
      finished_ = true;
      step.finish = write_failed_ && final_->ok()
                        ? grpc::Status(grpc::StatusCode::CANCELLED,
                                       "DownloadAsset: the caller went away")
                        : *final_;
    }
    return step;
  }

  // Act performs a Step; after a Finish the reactor may be gone.
  void Act(const Step& step) {
    if (step.write != nullptr) {
      StartWrite(step.write);
    } else if (step.finish) {
      Finish(*step.finish);
    }
  }

  UpstreamCalls calls_;
  const size_t chunk_bytes_;
  const size_t max_buffer_;
  absl::Mutex mu_;
  // Messages to write; the front one is in flight while writing_. A deque
  // keeps the front's address stable while the engine thread appends.
  std::deque<v1::DownloadAssetResponse> queue_ ABSL_GUARDED_BY(mu_);
  size_t queued_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool write_failed_ ABSL_GUARDED_BY(mu_) = false;
  bool overflow_ ABSL_GUARDED_BY(mu_) = false;
  bool starting_ ABSL_GUARDED_BY(mu_) = true;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<grpc::Status> final_ ABSL_GUARDED_BY(mu_);
};

// kUploadRetryDelay is the RetryInfo delay of UPLOAD_BUFFER_EXHAUSTED: long
// enough for uploads in progress to reach the upstream and let go.
constexpr absl::Duration kUploadRetryDelay = absl::Seconds(1);

// UploadBufferExhausted is the error of a chunk of `chunk_bytes` that the
// budget has no room for.
absl::Status UploadBufferExhausted(const UploadBudget& budget,
                                   int64_t chunk_bytes) {
  absl::Status status = ErrorStatus(
      absl::StatusCode::kResourceExhausted, "UPLOAD_BUFFER_EXHAUSTED",
      "UploadFile",
      absl::StrCat("the gateway's upload buffer is full: uploads in progress "
                   "hold ",
                   budget.reserved(), " of the ", budget.limit(),
                   " bytes allowed (max-upload-buffer) and this chunk needs ",
                   chunk_bytes, " more; retry shortly or use another replica"));
  google::rpc::QuotaFailure quota;
  google::rpc::QuotaFailure::Violation* v = quota.add_violations();
  v->set_subject("gateway");
  v->set_description(
      absl::StrCat("bytes all uploads in progress may hold in this gateway: "
                   "at most ",
                   budget.limit(), " (max-upload-buffer)"));
  errors::AddDetail(status, quota);
  errors::AddRetryInfo(status, kUploadRetryDelay);
  return status;
}

// UploadCall reads the metadata and the chunks, enforcing the limits while
// they stream in, then makes one upstream upload. Every chunk is reserved
// from the gateway-wide UploadBudget before it is stored; the reservation is
// given back as the call finishes, however it finishes (FinishOnce), and
// at the latest when the reactor is deleted.
class UploadCall final : public grpc::ServerReadReactor<v1::UploadFileRequest> {
 public:
  UploadCall(grpc::CallbackServerContext* context,
             std::shared_ptr<TriverseConnection> connection,
             const ServiceOptions& options,
             std::shared_ptr<UploadBudget> budget,
             absl::StatusOr<CallContext> call, v1::UploadFileResponse* response)
      : context_(context),
        calls_(std::move(connection)),
        limits_{options.max_image_bytes, options.max_model_bytes},
        budget_(std::move(budget)),
        call_(std::move(call)),
        response_(response) {
    if (!call_.ok()) {
      FinishOnce(call_.status());
      return;
    }
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      EndOfStream();
      return;
    }
    absl::Status error = Consume();
    if (!error.ok()) {
      FailReading(std::move(error));
      return;
    }
    StartRead(&request_);
  }

  void OnCancel() override { calls_.CancelAll(); }

  void OnDone() override { delete this; }

  ~UploadCall() override { ReleaseBudget(); }

 private:
  absl::Status Consume() {
    if (request_.has_metadata()) {
      if (have_metadata_) {
        return errors::InvalidArgument(
            {{"metadata", "must be sent once, in the first message"}});
      }
      auto violations = ValidateUploadMetadata(request_.metadata(), limits_);
      if (!violations.empty()) {
        return errors::InvalidArgument(std::move(violations));
      }
      have_metadata_ = true;
      spec_.kind = request_.metadata().kind();
      spec_.model_variant = request_.metadata().model_variant();
      spec_.file_name = request_.metadata().file_name();
      spec_.content_type = request_.metadata().content_type();
      if (request_.metadata().has_size_bytes()) {
        // Not reserved here: memory is taken (and counted against the
        // budget) as the bytes arrive, not on an announcement.
        announced_ = request_.metadata().size_bytes();
      }
      return absl::OkStatus();
    }
    if (!have_metadata_) {
      return errors::InvalidArgument(
          {{"metadata", "the first message must carry the metadata"}});
    }
    const int64_t max = MaxUploadBytes(spec_.kind, limits_);
    const int64_t size = static_cast<int64_t>(spec_.bytes.size()) +
                         static_cast<int64_t>(request_.chunk().size());
    if (size > max) {
      return errors::InvalidArgument(
          {{"chunk", absl::StrCat("the file exceeds the "
                                  "limit of ",
                                  max, " bytes")}});
    }
    if (announced_ && size > *announced_) {
      return errors::InvalidArgument(
          {{"metadata.size_bytes",
            absl::StrCat("the file is longer than the announced ", *announced_,
                         " bytes")}});
    }
    const int64_t chunk = static_cast<int64_t>(request_.chunk().size());
    if (!budget_->TryReserve(chunk)) {
      return UploadBufferExhausted(*budget_, chunk);
    }
    held_.fetch_add(chunk, std::memory_order_relaxed);
    // Grow geometrically, but never past the announced size: the budget
    // counts the bytes received; the spare capacity of a growing buffer is
    // less than that again.
    if (announced_ && spec_.bytes.capacity() < static_cast<size_t>(size)) {
      spec_.bytes.reserve(static_cast<size_t>(std::min<int64_t>(
          std::max<int64_t>(size,
                            2 * static_cast<int64_t>(spec_.bytes.capacity())),
          *announced_)));
    }
    spec_.bytes.append(request_.chunk());
    return absl::OkStatus();
  }

  void EndOfStream() {
    {
      absl::MutexLock lock(&mu_);
      if (finished_) return;
    }
    // A read also ends (ok = false) when the caller cancels: upload nothing.
    if (calls_.cancelled() || context_->IsCancelled()) {
      FailReading(absl::CancelledError("UploadFile: the call was cancelled"));
      return;
    }
    if (!have_metadata_) {
      FailReading(errors::InvalidArgument(
          {{"metadata", "is required: the stream carried no metadata"}}));
      return;
    }
    if (spec_.bytes.empty()) {
      FailReading(errors::InvalidArgument(
          {{"chunk", "the file is empty: send its bytes after the metadata"}}));
      return;
    }
    if (announced_ && static_cast<int64_t>(spec_.bytes.size()) != *announced_) {
      FailReading(errors::InvalidArgument(
          {{"metadata.size_bytes",
            absl::StrCat("announced ", *announced_, " bytes but ",
                         spec_.bytes.size(), " arrived")}}));
      return;
    }
    calls_.Track(calls_.connection().UploadFile(
        std::move(spec_), *call_, [this](absl::StatusOr<std::string> key) {
          absl::Status status = key.status();
          if (status.ok()) response_->set_file_key(*std::move(key));
          FinishOnce(std::move(status));
        }));
  }

  // FailReading ends the call from the read loop (which owns spec_): the
  // bytes go before the status does.
  void FailReading(absl::Status status) {
    std::string().swap(spec_.bytes);
    FinishOnce(std::move(status));
  }

  void ReleaseBudget() {
    const int64_t held = held_.exchange(0, std::memory_order_relaxed);
    if (held > 0) budget_->Release(held);
  }

  void FinishOnce(absl::Status status) {
    {
      absl::MutexLock lock(&mu_);
      if (finished_) return;
      finished_ = true;
    }
    // Before the status: a caller that saw it sees the bytes given back.
    ReleaseBudget();
    Finish(
        errors::ToGrpcStatus(WithErrorInfo(std::move(status), "UploadFile")));
  }

  grpc::CallbackServerContext* const context_;
  UpstreamCalls calls_;
  const UploadLimits limits_;
  const std::shared_ptr<UploadBudget> budget_;
  const absl::StatusOr<CallContext> call_;
  v1::UploadFileResponse* const response_;
  // Touched only by the reactions of the read loop, which gRPC serialises.
  v1::UploadFileRequest request_;
  bool have_metadata_ = false;
  std::optional<int64_t> announced_;
  upstream::UploadSpec spec_;
  // Bytes of budget_ this call holds.
  std::atomic<int64_t> held_{0};

  absl::Mutex mu_;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace

absl::Status ErrorStatus(absl::StatusCode code, absl::string_view reason,
                         absl::string_view rpc, absl::string_view message) {
  absl::Status status(code, absl::StrCat(rpc, ": ", message));
  google::rpc::ErrorInfo info;
  info.set_reason(std::string(reason));
  info.set_domain(errors::kErrorDomain);
  (*info.mutable_metadata())["operation"] = std::string(rpc);
  errors::AddDetail(status, info);
  return status;
}

absl::StatusOr<CallContext> ResolveApiKey(const ServiceOptions& options,
                                          const std::string* caller_key) {
  CallContext call;
  if (caller_key != nullptr) {
    if (!options.allow_caller_keys) {
      return ErrorStatus(absl::StatusCode::kPermissionDenied,
                         "CALLER_KEYS_DISABLED", "auth",
                         absl::StrCat("this gateway does not accept API keys "
                                      "in the ",
                                      kApiKeyMetadata,
                                      " metadata; remove it (the gateway uses "
                                      "its own key) or ask the operator to "
                                      "enable allow_caller_keys"));
    }
    const bool printable =
        std::all_of(caller_key->begin(), caller_key->end(), [](char c) {
          const auto u = static_cast<unsigned char>(c);
          return u > 0x20 && u < 0x7F;
        });
    if (caller_key->empty() || !printable) {
      return errors::InvalidArgument(
          {{kApiKeyMetadata,
            "must be a non-empty API key of printable ASCII characters"}});
    }
    call.api_key = *caller_key;
    call.caller_key = true;
    return call;
  }
  if (options.api_key.empty()) {
    return ErrorStatus(
        absl::StatusCode::kUnauthenticated, "API_KEY_MISSING", "auth",
        absl::StrCat("this gateway has no API key of its own; send yours in "
                     "the ",
                     kApiKeyMetadata, " metadata"));
  }
  call.api_key = options.api_key;
  return call;
}

absl::Status WithErrorInfo(absl::Status status, absl::string_view rpc) {
  if (status.ok() || HasDetail(status, "google.rpc.ErrorInfo")) return status;
  google::rpc::ErrorInfo info;
  info.set_reason(std::string(ReasonFor(status.code())));
  info.set_domain(errors::kErrorDomain);
  (*info.mutable_metadata())["operation"] = std::string(rpc);
  errors::AddDetail(status, info);
  if (status.code() == absl::StatusCode::kUnavailable &&
      !HasDetail(status, "google.rpc.RetryInfo")) {
    errors::AddRetryInfo(status, errors::kDefaultRetryDelay);
  }
  return status;
}

TaskServiceImpl::TaskServiceImpl(
    std::shared_ptr<upstream::TriverseConnection> connection,
    ServiceOptions options, std::shared_ptr<upstream::WatchHubs> hubs)
    : connection_(std::move(connection)),
      options_(std::move(options)),
      hubs_(std::move(hubs)),
      watch_limiter_(std::make_shared<WatchLimiter>(options_.watch)),
      upload_budget_(
          std::make_shared<UploadBudget>(options_.max_upload_buffer_bytes)) {}

bool UploadBudget::TryReserve(int64_t bytes) {
  int64_t now = reserved_.load(std::memory_order_relaxed);
  do {
    if (bytes > limit_ - now) return false;
  } while (!reserved_.compare_exchange_weak(now, now + bytes,
                                            std::memory_order_relaxed));
  return true;
}

void UploadBudget::Release(int64_t bytes) {
  reserved_.fetch_sub(bytes, std::memory_order_relaxed);
}

absl::StatusOr<CallContext> TaskServiceImpl::Admit(
    grpc::CallbackServerContext* context,
    std::vector<errors::FieldViolation> violations) const {
  if (!violations.empty()) {
    return errors::InvalidArgument(std::move(violations));
  }
  std::string storage;
  const std::string* caller_key =
      FindMetadata(*context, kApiKeyMetadata, &storage);
  absl::StatusOr<CallContext> call = ResolveApiKey(options_, caller_key);
  if (call.ok()) {
    call->deadline = DeadlineOf(*context, options_);
    // The call's trace (set by the call log interceptor from the caller's
    // own traceparent), forwarded upstream.
    std::string trace_storage;
    if (const std::string* traceparent =
            FindMetadata(*context, "traceparent", &trace_storage);
        traceparent != nullptr && traceparent->size() <= 64) {
      call->traceparent = *traceparent;
    }
  }
  return call;
}

grpc::ServerUnaryReactor* TaskServiceImpl::CreateTask(
    grpc::CallbackServerContext* context, const v1::CreateTaskRequest* request,
    v1::TaskCreation* response) {
  constexpr absl::string_view kRpc = "CreateTask";
  auto call = Admit(context, ValidateCreateTask(*request, options_.provider));
  if (!call.ok()) return FinishNow(context, call.status(), kRpc);
  return StartUnary<v1::TaskCreation>(
      connection_, kRpc, *call, response, [&](const CallContext& c, auto done) {
        return connection_->CreateTask(*request, c, std::move(done));
      });
}

grpc::ServerUnaryReactor* TaskServiceImpl::GetTask(
    grpc::CallbackServerContext* context, const v1::GetTaskRequest* request,
    v1::Task* response) {
  constexpr absl::string_view kRpc = "GetTask";
  auto call =
      Admit(context, ValidateTaskUuid(request->task_uuid(), options_.provider));
  if (!call.ok()) return FinishNow(context, call.status(), kRpc);
  return StartUnary<v1::Task>(
      connection_, kRpc, *call, response, [&](const CallContext& c, auto done) {
        return connection_->GetTask(request->task_uuid(), c, std::move(done));
      });
}

grpc::ServerUnaryReactor* TaskServiceImpl::QuotePrice(
    grpc::CallbackServerContext* context, const v1::QuotePriceRequest* request,
    v1::PriceQuote* response) {
  constexpr absl::string_view kRpc = "QuotePrice";
  auto call = Admit(context, ValidateQuotePrice(*request));
  if (!call.ok()) return FinishNow(context, call.status(), kRpc);
  return StartUnary<v1::PriceQuote>(
      connection_, kRpc, *call, response, [&](const CallContext& c, auto done) {
        return connection_->QuotePrice(*request, c, std::move(done));
      });
}

grpc::ServerUnaryReactor* TaskServiceImpl::GetDownloadUrl(
    grpc::CallbackServerContext* context,
    const v1::GetDownloadUrlRequest* request, v1::DownloadUrl* response) {
  constexpr absl::string_view kRpc = "GetDownloadUrl";
  auto call =
      Admit(context, ValidateTaskUuid(request->task_uuid(), options_.provider));
  if (!call.ok()) return FinishNow(context, call.status(), kRpc);
  return StartUnary<v1::DownloadUrl>(
      connection_, kRpc, *call, response, [&](const CallContext& c, auto done) {
        return connection_->GetDownloadUrl(request->task_uuid(), c,
                                           std::move(done));
      });
}

grpc::ServerUnaryReactor* TaskServiceImpl::ListOwnModels(
    grpc::CallbackServerContext* context,
    const v1::ListOwnModelsRequest* request,
    v1::ListOwnModelsResponse* response) {
  constexpr absl::string_view kRpc = "ListOwnModels";
  auto call = Admit(context, ValidateListOwnModels(*request));
  if (!call.ok()) return FinishNow(context, call.status(), kRpc);
  int64_t page = 1;
  if (!request->page_token().empty() &&
      !absl::SimpleAtoi(request->page_token(), &page)) {
    page = 1;  // unreachable: validated above
  }
  const int64_t size = request->page_size() == 0 ? 10 : request->page_size();
  auto* reactor = new UnaryCall(connection_, std::string(kRpc));
  reactor->Track(connection_->ListOwnModels(
      page, size, *call,
      [reactor, response, page,
       size](absl::StatusOr<translate::OwnModelsPage> result) {
        if (result.ok()) {
          for (auto& m : result->models) *response->add_models() = std::move(m);
          response->set_total_size(result->total);
          // The upstream's page count when it gave one, else from the total.
          // Rounded up without `total + size - 1`, which overflows for a
          // total near INT64_MAX (the upstream's number, fuzzed).
          const int64_t pages =
              result->pages > 0
                  ? result->pages
                  : result->total / size + (result->total % size != 0 ? 1 : 0);
          if (page < pages) {
            response->set_next_page_token(absl::StrCat(page + 1));
          }
        }
        reactor->Complete(result.status());
      }));
  reactor->Started();
  return reactor;
}

grpc::ServerUnaryReactor* TaskServiceImpl::GetAccount(
    grpc::CallbackServerContext* context, const v1::GetAccountRequest*,
    v1::Account* response) {
  constexpr absl::string_view kRpc = "GetAccount";
  auto call = Admit(context, {});
  if (!call.ok()) return FinishNow(context, call.status(), kRpc);
  // Both upstream calls run at once. The response is written under the
  // join's lock and only while no part has failed: the first error finishes
  // the RPC (and cancels the other part), after which `response` may be gone.
  // A part the provider does not offer (UNIMPLEMENTED: Tripo has no user
  // endpoint, Siray neither) stays unset; when neither is offered, the RPC
  // is UNIMPLEMENTED.
  struct Join {
    absl::Mutex mu;
    int pending ABSL_GUARDED_BY(mu) = 2;
    bool failed ABSL_GUARDED_BY(mu) = false;
    int offered ABSL_GUARDED_BY(mu) = 0;
    absl::Status not_offered ABSL_GUARDED_BY(mu);
  };
  auto join = std::make_shared<Join>();
  auto* reactor = new UnaryCall(connection_, std::string(kRpc));
  // Part returns the callback of one part; `store` moves its value into
  // the response.
  auto part = [reactor, join](auto store) {
    return [reactor, join, store = std::move(store)](auto result) mutable {
      absl::Status status = result.status();
      bool complete;
      {
        absl::MutexLock lock(&join->mu);
        if (join->failed) return;
        if (status.code() == absl::StatusCode::kUnimplemented) {
          join->not_offered = status;
          complete = --join->pending == 0;
          status = join->offered == 0 && complete ? join->not_offered
                                                  : absl::OkStatus();
        } else if (status.ok()) {
          store(*std::move(result));
          ++join->offered;
          complete = --join->pending == 0;
        } else {
          join->failed = true;
          complete = true;
        }
      }
      if (!status.ok()) reactor->CancelUpstream();
      if (complete) reactor->Complete(std::move(status));
    };
  };
  reactor->Track(connection_->GetUser(*call, part([response](v1::User user) {
    *response->mutable_user() = std::move(user);
  })));
  reactor->Track(
      connection_->GetBalance(*call, part([response](v1::Balance balance) {
        *response->mutable_balance() = std::move(balance);
      })));
  reactor->Started();
  return reactor;
}

grpc::ServerWriteReactor<v1::DownloadAssetResponse>*
TaskServiceImpl::DownloadAsset(grpc::CallbackServerContext* context,
                               const v1::DownloadAssetRequest* request) {
  constexpr absl::string_view kRpc = "DownloadAsset";
  auto* reactor = new DownloadCall(connection_, options_);
  auto call =
      Admit(context, ValidateTaskUuid(request->task_uuid(), options_.provider));
  if (!call.ok()) {
    reactor->Finish(errors::ToGrpcStatus(WithErrorInfo(call.status(), kRpc)));
    return reactor;
  }
  reactor->Start(request->task_uuid(), *call);
  return reactor;
}

grpc::ServerReadReactor<v1::UploadFileRequest>* TaskServiceImpl::UploadFile(
    grpc::CallbackServerContext* context, v1::UploadFileResponse* response) {
  // The metadata arrives with the first message: UploadCall validates it.
  return new UploadCall(context, connection_, options_, upload_budget_,
                        Admit(context, {}), response);
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* TaskServiceImpl::AdmitWatch(
    grpc::CallbackServerContext* context, absl::string_view rpc,
    std::vector<errors::FieldViolation> violations,
    absl::string_view resume_cursor, const StartWatch& start) {
  absl::StatusOr<std::optional<WatchCursor>> resume =
      std::optional<WatchCursor>();
  if (!resume_cursor.empty()) {
    absl::StatusOr<WatchCursor> cursor = DecodeCursor(resume_cursor);
    if (cursor.ok()) {
      resume = *cursor;
    } else {
      violations.push_back(
          {"resume_cursor",
           "must be the cursor of an event of this API (or empty)"});
    }
  }
  absl::StatusOr<CallContext> call = Admit(context, std::move(violations));
  absl::Status status = call.status();
  if (status.ok() && hubs_ == nullptr) {
    status =
        ErrorStatus(absl::StatusCode::kUnimplemented, "WATCH_NOT_CONFIGURED",
                    rpc, "this server has no watch hub");
  }
  const std::string client = ClientOf(*context);
  if (status.ok()) status = watch_limiter_->Acquire(client, rpc);
  if (!status.ok()) {
    auto* reactor = new FailedWatch;
    reactor->Finish(errors::ToGrpcStatus(WithErrorInfo(status, rpc)));
    return reactor;
  }
  return start(client, *call, *resume);
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* TaskServiceImpl::WatchTask(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* raw) {
  v1::WatchTaskRequest parsed;
  const v1::WatchTaskRequest* request = &parsed;
  if (absl::Status s = ParseRequest(*raw, "WatchTask", &parsed); !s.ok()) {
    auto* reactor = new FailedWatch;
    reactor->Finish(errors::ToGrpcStatus(s));
    return reactor;
  }
  return AdmitWatch(context, "WatchTask",
                    ValidateTaskUuid(request->task_uuid(), options_.provider),
                    request->resume_cursor(),
                    [&](std::string client, const CallContext& call,
                        std::optional<WatchCursor> resume) {
                      return StartWatchTask(hubs_, watch_limiter_,
                                            std::move(client), options_.watch,
                                            call, *request, resume);
                    });
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* TaskServiceImpl::WatchTasks(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* raw) {
  v1::WatchTasksRequest parsed;
  const v1::WatchTasksRequest* request = &parsed;
  if (absl::Status s = ParseRequest(*raw, "WatchTasks", &parsed); !s.ok()) {
    auto* reactor = new FailedWatch;
    reactor->Finish(errors::ToGrpcStatus(s));
    return reactor;
  }
  std::vector<errors::FieldViolation> violations;
  if (request->has_since() && !request->resume_cursor().empty()) {
    violations.push_back(
        {"since", "must be unset when resume_cursor is given"});
  }
  for (int i = 0; i < request->statuses_size(); ++i) {
    if (request->statuses(i) == v1::TASK_STATUS_UNSPECIFIED ||
        !v1::TaskStatus_IsValid(request->statuses(i))) {
      violations.push_back(
          {absl::StrCat("statuses[", i, "]"), "must be a defined TaskStatus"});
    }
  }
  return AdmitWatch(
      context, "WatchTasks", std::move(violations), request->resume_cursor(),
      [&](std::string client, const CallContext& call,
          std::optional<WatchCursor> resume) {
        return StartWatchTasks(hubs_, watch_limiter_, std::move(client),
                               options_.watch, call, *request, resume);
      });
}

}  // namespace triverse::service
