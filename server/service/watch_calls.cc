#include "server/service/watch_calls.h"

#include <deque>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/util/time_util.h"
#include "google/rpc/error_details.pb.h"
#include "server/errors/grpc_status.h"
#include "server/errors/upstream_status.h"
#include "server/service/task_service.h"

namespace triverse::service {
namespace {

using upstream::HubEvent;

constexpr absl::string_view kCursorVersion = "c1";

// EncodedEvent is what every stream sends of one event but its kind: the
// TaskEvent fields task, cursor and observed_at serialized once (a
// refcounted slice shared by all the writes), and the cursor.
struct EncodedEvent {
  grpc::Slice body;
  std::string cursor;
};

const EncodedEvent& Encoded(const HubEvent& event, uint64_t epoch) {
  return event.memo->Get<EncodedEvent>([&] {
    WatchCursor cursor;
    cursor.epoch = epoch;
    cursor.seq = event.seq;
    cursor.observed = event.observed;
    cursor.status = event.task->status();
    cursor.progress = event.task->progress();
    v1::TaskEvent body;
    *body.mutable_task() = *event.task;
    body.set_cursor(EncodeCursor(cursor));
    *body.mutable_observed_at() =
        google::protobuf::util::TimeUtil::MicrosecondsToTimestamp(
            absl::ToUnixMicros(event.observed));
    EncodedEvent out;
    out.body = grpc::Slice(body.ByteSizeLong());
    body.SerializeWithCachedSizesToArray(
        const_cast<uint8_t*>(out.body.begin()));
    out.cursor = body.cursor();
    return out;
  });
}

// KindField is the serialized TaskEvent field `kind` (1, varint): a stream's
// own part of each message, put before the shared body (protobuf accepts
// fields in any order; this is also the canonical one).
grpc::Slice KindField(v1::TaskEventKind kind) {
  static constexpr uint8_t kFields[][2] = {
      {0x08, v1::TASK_EVENT_KIND_UNSPECIFIED},
      {0x08, v1::TASK_EVENT_KIND_SNAPSHOT},
      {0x08, v1::TASK_EVENT_KIND_UPDATE},
      {0x08, v1::TASK_EVENT_KIND_FINALIZED}};
  static_assert(v1::TaskEventKind_MAX < 128, "one-byte varints");
  return grpc::Slice(kFields[kind], 2, grpc::Slice::STATIC_SLICE);
}

// WatchCall is the reactor of one WatchTask or WatchTasks stream, and the
// hub's subscriber for it. It is owned by a shared_ptr (the hub holds one
// while subscribed) and by itself from Begin to OnDone; gRPC's calls stop at
// OnDone, and nothing calls into gRPC after Finish (decided under the lock,
// performed last).
class WatchCall final : public grpc::ServerWriteReactor<grpc::ByteBuffer>,
                        public upstream::WatchSubscriber,
                        public WatchStream,
                        public std::enable_shared_from_this<WatchCall> {
 public:
  enum class Mode { kTask, kAll };

  WatchCall(Mode mode, std::shared_ptr<upstream::WatchHubs> hubs,
            std::shared_ptr<WatchLimiter> limiter, std::string client,
            const WatchOptions& options, std::optional<WatchCursor> resume)
      : pool_(options.fanout),
        mode_(mode),
        rpc_(mode == Mode::kTask ? "WatchTask" : "WatchTasks"),
        hubs_(std::move(hubs)),
        limiter_(std::move(limiter)),
        client_(std::move(client)),
        max_pending_(options.max_pending_tasks),
        resume_(resume) {}

  // SetFilters: WatchTasks only.
  void SetFilters(const v1::WatchTasksRequest& request) {
    for (int s : request.statuses()) statuses_.insert(s);
    for (const std::string& f : request.flow_names()) flows_.insert(f);
  }

  static WatchCall* Begin(std::shared_ptr<WatchCall> self,
                          const upstream::CallContext& call,
                          const std::string& task_uuid,
                          const upstream::CatchUp& catch_up) {
    WatchCall* raw = self.get();
    raw->self_ = self;
    upstream::WatchHandle handle =
        raw->mode_ == Mode::kTask
            ? raw->hubs_->SubscribeTask(call, task_uuid, self)
            : raw->hubs_->SubscribeAll(call, catch_up, self);
    const uint64_t tracked = raw->limiter_->Track(self);
    bool done = false;
    {
      absl::MutexLock lock(&raw->mu_);
      raw->handle_ = handle;
      raw->tracked_ = tracked;
      done = raw->done_;
    }
    // Finished (and done) already while subscribing: leave at once.
    if (done) {
      upstream::WatchHubs::Unsubscribe(handle);
      raw->limiter_->Untrack(tracked);
    } else if (tracked == 0) {
      raw->End("GATEWAY_SHUTTING_DOWN", kShuttingDownMessage);
    }
    return raw;
  }

  // ---------------------------------------------------------- WatchStream

  void End(absl::string_view reason, absl::string_view message) override {
    Step step;
    {
      absl::MutexLock lock(&mu_);
      if (finished_ || final_.has_value()) return;
      // What is still queued is not sent: the cursor names the last event
      // that was, and a resumed stream catches up from there.
      order_.clear();
      pending_.clear();
      final_ = errors::ToGrpcStatus(WithCursor(
          ErrorStatus(absl::StatusCode::kUnavailable, reason, rpc_, message),
          reason));
      step = Decide();
    }
    Act(step);
  }

  // ---------------------------------------------------- WatchSubscriber

  void OnEvent(const HubEvent& event) override {
    absl::MutexLock lock(&mu_);
    if (finished_ || final_.has_value() || terminal_queued_) return;
    const v1::Task& task = *event.task;
    v1::TaskEventKind kind = event.terminal ? v1::TASK_EVENT_KIND_FINALIZED
                                            : v1::TASK_EVENT_KIND_UPDATE;
    if (mode_ == Mode::kTask) {
      if (!first_seen_) {
        first_seen_ = true;
        if (resume_ && resume_->status == task.status() &&
            resume_->progress == task.progress()) {
          // The caller has this state already (it resumes after it).
          if (event.terminal) final_ = grpc::Status::OK;
          return;
        }
        if (!event.terminal) kind = v1::TASK_EVENT_KIND_SNAPSHOT;
      }
      if (event.terminal) terminal_queued_ = true;
    } else if (!Matches(task)) {
      return;
    }
    auto it = pending_.find(task.task_uuid());
    if (it != pending_.end()) {
      // Coalesce: the caller gets the latest state; a snapshot stays one.
      if (it->second.kind == v1::TASK_EVENT_KIND_SNAPSHOT &&
          kind == v1::TASK_EVENT_KIND_UPDATE) {
        kind = v1::TASK_EVENT_KIND_SNAPSHOT;
      }
      it->second = Pending{event, kind};
      return;
    }
    if (pending_.size() >= max_pending_) {
      // Too slow even with one state per task: end, with where to resume.
      pending_.clear();
      order_.clear();
      absl::Status status = ErrorStatus(
          absl::StatusCode::kUnavailable, "CALLER_TOO_SLOW", rpc_,
          absl::StrCat("the caller read more slowly than tasks changed and ",
                       max_pending_,
                       " tasks were waiting; resume with the cursor"));
      final_ = errors::ToGrpcStatus(
          WithCursor(std::move(status), "CALLER_TOO_SLOW"));
      return;
    }
    order_.push_back(task.task_uuid());
    pending_.emplace(task.task_uuid(), Pending{event, kind});
  }

  void OnError(const absl::Status& status) override {
    absl::MutexLock lock(&mu_);
    if (finished_ || final_.has_value()) return;
    final_ = errors::ToGrpcStatus(WithErrorInfo(status, rpc_));
  }

  // Flush writes on the fan-out pool when there is one (at most one flush
  // of this stream queued at a time), else here.
  void Flush() override {
    if (pool_ != nullptr) {
      {
        absl::MutexLock lock(&mu_);
        if (flush_posted_ || finished_) return;
        flush_posted_ = true;
      }
      pool_->Post([self = shared_from_this()] { self->FlushNow(); });
      return;
    }
    FlushNow();
  }

  void FlushNow() {
    Step step;
    {
      absl::MutexLock lock(&mu_);
      flush_posted_ = false;
      step = Decide();
    }
    Act(step);
  }

  // ---------------------------------------------------------- reactions

  void OnWriteDone(bool ok) override {
    Step step;
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
      if (!ok) {
        cancelled_ = true;
      } else if (writing_terminal_) {
        terminal_sent_ = true;
      }
      step = Decide();
    }
    Act(step);
  }

  void OnCancel() override {
    Step step;
    {
      absl::MutexLock lock(&mu_);
      cancelled_ = true;
      step = Decide();
    }
    Act(step);
  }

  void OnDone() override {
    upstream::WatchHandle handle;
    uint64_t tracked = 0;
    {
      absl::MutexLock lock(&mu_);
      done_ = true;
      handle = handle_;
      tracked = tracked_;
    }
    upstream::WatchHubs::Unsubscribe(handle);
    limiter_->Untrack(tracked);
    limiter_->Release(client_);
    // The last statement: may destroy this object.
    std::shared_ptr<WatchCall> keep = std::move(self_);
  }

 private:
  struct Pending {
    HubEvent event;
    v1::TaskEventKind kind = v1::TASK_EVENT_KIND_UNSPECIFIED;
  };
  struct Step {
    const grpc::ByteBuffer* write = nullptr;
    std::optional<grpc::Status> finish;
  };

  bool Matches(const v1::Task& task) const {
    return (statuses_.empty() || statuses_.count(task.status()) > 0) &&
           (flows_.empty() || flows_.count(task.flow_name()) > 0);
  }

  // WithCursor re-makes `status` (an ErrorStatus with `reason`) with the
  // cursor of the last event sent in the ErrorInfo metadata, and RetryInfo 0.
  absl::Status WithCursor(absl::Status status, absl::string_view reason) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!last_sent_.has_value()) return status;
    google::rpc::ErrorInfo info;
    info.set_reason(std::string(reason));
    info.set_domain(errors::kErrorDomain);
    (*info.mutable_metadata())["operation"] = std::string(rpc_);
    (*info.mutable_metadata())["cursor"] =
        Encoded(*last_sent_, hubs_->epoch()).cursor;
    absl::Status out(status.code(), status.message());
    errors::AddDetail(out, info);
    errors::AddRetryInfo(out, absl::ZeroDuration());
    return out;
  }

  Step Decide() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    Step step;
    if (writing_ || finished_) return step;
    if (!order_.empty() && !cancelled_) {
      const std::string uuid = std::move(order_.front());
      order_.pop_front();
      auto it = pending_.find(uuid);
      Pending p = std::move(it->second);
      pending_.erase(it);
      const grpc::Slice parts[] = {KindField(p.kind),
                                   Encoded(p.event, hubs_->epoch()).body};
      message_ = grpc::ByteBuffer(parts, 2);
      last_sent_ = std::move(p.event);
      writing_ = true;
      writing_terminal_ =
          mode_ == Mode::kTask && p.kind == v1::TASK_EVENT_KIND_FINALIZED;
      step.write = &message_;
      return step;
    }
    if (cancelled_) {
      step.finish = grpc::Status(grpc::StatusCode::CANCELLED,
                                 absl::StrCat(rpc_, ": cancelled"));
    } else if (final_.has_value()) {
      step.finish = *final_;
    } else if (terminal_sent_) {
      step.finish = grpc::Status::OK;
    } else {
      return step;
    }
    finished_ = true;
    return step;
  }

  void Act(const Step& step) {
    if (step.write != nullptr) {
      StartWrite(step.write);
    } else if (step.finish) {
      Finish(*step.finish);
    }
  }

  FanoutPool* const pool_;
  const Mode mode_;
  const absl::string_view rpc_;
  const std::shared_ptr<upstream::WatchHubs> hubs_;
  const std::shared_ptr<WatchLimiter> limiter_;
  const std::string client_;
  const size_t max_pending_;
  const std::optional<WatchCursor> resume_;
  absl::flat_hash_set<int> statuses_;
  absl::flat_hash_set<std::string> flows_;

  std::shared_ptr<WatchCall> self_;

  absl::Mutex mu_;
  upstream::WatchHandle handle_ ABSL_GUARDED_BY(mu_);
  uint64_t tracked_ ABSL_GUARDED_BY(mu_) = 0;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  // Tasks with a state to send, in the order of their first pending state.
  std::deque<std::string> order_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, Pending> pending_ ABSL_GUARDED_BY(mu_);
  grpc::ByteBuffer message_ ABSL_GUARDED_BY(mu_);  // in flight while writing_
  std::optional<HubEvent> last_sent_ ABSL_GUARDED_BY(mu_);
  bool flush_posted_ ABSL_GUARDED_BY(mu_) = false;
  bool first_seen_ ABSL_GUARDED_BY(mu_) = false;
  bool terminal_queued_ ABSL_GUARDED_BY(mu_) = false;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool writing_terminal_ ABSL_GUARDED_BY(mu_) = false;
  bool terminal_sent_ ABSL_GUARDED_BY(mu_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<grpc::Status> final_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

std::string EncodeCursor(const WatchCursor& cursor) {
  return absl::WebSafeBase64Escape(
      absl::StrCat(kCursorVersion, ":", cursor.epoch, ":", cursor.seq, ":",
                   absl::ToUnixMicros(cursor.observed), ":",
                   static_cast<int>(cursor.status), ":", cursor.progress));
}

absl::StatusOr<WatchCursor> DecodeCursor(absl::string_view text) {
  const absl::Status invalid =
      absl::InvalidArgumentError("not a cursor of this gateway");
  std::string raw;
  if (text.size() > 256 || !absl::WebSafeBase64Unescape(text, &raw)) {
    return invalid;
  }
  std::vector<absl::string_view> parts = absl::StrSplit(raw, ':');
  if (parts.size() != 6 || parts[0] != kCursorVersion) return invalid;
  WatchCursor c;
  int64_t micros = 0;
  int status = 0;
  if (!absl::SimpleAtoi(parts[1], &c.epoch) ||
      !absl::SimpleAtoi(parts[2], &c.seq) ||
      !absl::SimpleAtoi(parts[3], &micros) ||
      !absl::SimpleAtoi(parts[4], &status) ||
      !absl::SimpleAtoi(parts[5], &c.progress) ||
      !v1::TaskStatus_IsValid(status)) {
    return invalid;
  }
  c.observed = absl::FromUnixMicros(micros);
  c.status = static_cast<v1::TaskStatus>(status);
  return c;
}

namespace {

// WithQuotaFailure adds a google.rpc.QuotaFailure naming the exhausted
// limit to a WATCH_LIMIT_EXCEEDED error.
absl::Status WithQuotaFailure(absl::Status status, absl::string_view subject,
                              absl::string_view description) {
  google::rpc::QuotaFailure quota;
  google::rpc::QuotaFailure::Violation* v = quota.add_violations();
  v->set_subject(std::string(subject));
  v->set_description(std::string(description));
  errors::AddDetail(status, quota);
  return status;
}

}  // namespace

WatchLimiter::WatchLimiter(const WatchOptions& options)
    : max_streams_(options.max_streams),
      max_per_client_(options.max_per_client) {}

absl::Status WatchLimiter::Acquire(const std::string& client,
                                   absl::string_view rpc) {
  absl::MutexLock lock(&mu_);
  if (ended_) {
    return ErrorStatus(absl::StatusCode::kUnavailable, "GATEWAY_SHUTTING_DOWN",
                       rpc, kShuttingDownMessage);
  }
  int64_t& mine = per_client_[client];
  if (mine >= max_per_client_) {
    if (mine == 0) per_client_.erase(client);
    return WithQuotaFailure(
        ErrorStatus(absl::StatusCode::kResourceExhausted,
                    "WATCH_LIMIT_EXCEEDED", rpc,
                    absl::StrCat("this client has ", max_per_client_,
                                 " watch streams open, the most allowed "
                                 "(max-watches-per-client); end one first")),
        absl::StrCat("client:", client),
        absl::StrCat("open watch streams of this client address: at most ",
                     max_per_client_, " (max-watches-per-client)"));
  }
  if (total_ >= max_streams_) {
    if (mine == 0) per_client_.erase(client);
    return WithQuotaFailure(
        ErrorStatus(absl::StatusCode::kResourceExhausted,
                    "WATCH_LIMIT_EXCEEDED", rpc,
                    absl::StrCat("the gateway has ", max_streams_,
                                 " watch streams open, the most allowed "
                                 "(max-watch-streams); retry later or use "
                                 "another replica")),
        "gateway",
        absl::StrCat("open watch streams of this gateway: at most ",
                     max_streams_, " (max-watch-streams)"));
  }
  ++mine;
  ++total_;
  return absl::OkStatus();
}

uint64_t WatchLimiter::Track(std::weak_ptr<WatchStream> stream) {
  absl::MutexLock lock(&mu_);
  if (ended_) return 0;
  const uint64_t id = next_id_++;
  streams_.emplace(id, std::move(stream));
  return id;
}

void WatchLimiter::Untrack(uint64_t id) {
  absl::MutexLock lock(&mu_);
  streams_.erase(id);
}

void WatchLimiter::EndAll() {
  std::vector<std::shared_ptr<WatchStream>> open;
  {
    absl::MutexLock lock(&mu_);
    ended_ = true;
    for (auto& [id, weak] : streams_) {
      if (auto stream = weak.lock()) open.push_back(std::move(stream));
    }
  }
  // Outside the lock: End may finish a stream, whose OnDone untracks it.
  for (auto& stream : open) {
    stream->End("GATEWAY_SHUTTING_DOWN", kShuttingDownMessage);
  }
}

int64_t WatchLimiter::open() const {
  absl::MutexLock lock(&mu_);
  return total_;
}

void WatchLimiter::Release(const std::string& client) {
  absl::MutexLock lock(&mu_);
  auto it = per_client_.find(client);
  if (it == per_client_.end()) return;
  --total_;
  if (--it->second == 0) per_client_.erase(it);
}

std::string ClientOf(const grpc::CallbackServerContext& context) {
  std::string peer = context.peer();
  const size_t colon = peer.rfind(':');
  if (colon != std::string::npos && colon + 1 < peer.size() &&
      std::all_of(peer.begin() + colon + 1, peer.end(),
                  [](char c) { return absl::ascii_isdigit(c); })) {
    peer.resize(colon);
  }
  return peer;
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* StartWatchTask(
    std::shared_ptr<upstream::WatchHubs> hubs,
    std::shared_ptr<WatchLimiter> limiter, std::string client,
    const WatchOptions& options, const upstream::CallContext& call,
    const v1::WatchTaskRequest& request, std::optional<WatchCursor> resume) {
  auto self = std::make_shared<WatchCall>(WatchCall::Mode::kTask,
                                          std::move(hubs), std::move(limiter),
                                          std::move(client), options, resume);
  return WatchCall::Begin(std::move(self), call, request.task_uuid(), {});
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* StartWatchTasks(
    std::shared_ptr<upstream::WatchHubs> hubs,
    std::shared_ptr<WatchLimiter> limiter, std::string client,
    const WatchOptions& options, const upstream::CallContext& call,
    const v1::WatchTasksRequest& request, std::optional<WatchCursor> resume) {
  upstream::CatchUp catch_up;
  if (resume) {
    catch_up.after_seq = resume->seq;
    catch_up.since = resume->observed - options.resume_overlap;
    if (resume->epoch != hubs->epoch()) catch_up.after_seq.reset();
  } else if (request.has_since()) {
    catch_up.since = absl::FromUnixMicros(
        google::protobuf::util::TimeUtil::TimestampToMicroseconds(
            request.since()));
  }
  auto self = std::make_shared<WatchCall>(WatchCall::Mode::kAll,
                                          std::move(hubs), std::move(limiter),
                                          std::move(client), options, resume);
  self->SetFilters(request);
  return WatchCall::Begin(std::move(self), call, "", catch_up);
}

}  // namespace triverse::service
