#include "server/upstream/watch_hub.h"

#include <algorithm>
#include <map>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/util/message_differencer.h"

namespace triverse::upstream {

struct WatchHubs::Shared {
  std::shared_ptr<ProviderStub> stub;
  std::shared_ptr<TriverseConnection> connection;
  Scheduler* scheduler = nullptr;
  WatchHubOptions options;

  absl::Mutex registry_mu;
  WatchHubs* registry ABSL_GUARDED_BY(registry_mu) = nullptr;

  absl::Mutex rng_mu;
  absl::BitGen rng ABSL_GUARDED_BY(rng_mu);

  // WatchHubStats, as atomics.
  std::atomic<int64_t> hubs{0}, sockets_open{0}, sockets_opened_total{0},
      socket_failures_total{0}, reconnects_total{0}, idle_timeouts_total{0},
      polling_hubs{0}, polling_fallbacks_total{0}, frames_total{0},
      bad_frames_total{0}, changes_total{0}, deliveries_total{0}, gets_total{0},
      subscribers{0};
  // The sequence numbers of every hub: unique per registry, so that a
  // cursor from a retired hub is never mistaken for one of its successor.
  std::atomic<uint64_t> seq{0};

  void Log(const std::string& line) const {
    if (options.log) options.log(line);
  }
  // Jittered: d × uniform(1 - jitter, 1 + jitter).
  absl::Duration Jitter(absl::Duration d) {
    absl::MutexLock lock(&rng_mu);
    const double j = options.backoff_jitter;
    return d * absl::Uniform(rng, 1.0 - j, 1.0 + j);
  }
};

namespace {

bool IsTerminal(v1::TaskStatus s) {
  return s == v1::TASK_STATUS_SUCCESS || s == v1::TASK_STATUS_FAILED ||
         s == v1::TASK_STATUS_CANCELLED;
}

// Rank orders the states of one task: a state of lower rank than the cached
// one is stale (a GET answered before a pushed update, a replay).
int Rank(const v1::Task& t) {
  int status = 0;
  switch (t.status()) {
    case v1::TASK_STATUS_PENDING:
      status = 1;
      break;
    case v1::TASK_STATUS_QUEUED:
      status = 2;
      break;
    case v1::TASK_STATUS_RUNNING:
      status = 3;
      break;
    default:
      status = IsTerminal(t.status()) ? 4 : 0;
  }
  return status * 1000 + t.progress();
}

// Whether a socket refusal means the key itself is refused: no retry can
// help the subscribers, who are told.
bool IsPermanent(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kUnauthenticated:
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kInternal:
    case absl::StatusCode::kInvalidArgument:
      return true;
    default:
      return false;
  }
}

}  // namespace

// WatchHub: one key's socket, cache and subscribers. Every method that
// changes state collects what must happen outside the lock (subscriber
// flushes, calls into the stub and the connection, which may complete
// inline) in an Outbox, run after the lock is released.
class WatchHub : public std::enable_shared_from_this<WatchHub> {
 public:
  WatchHub(std::shared_ptr<WatchHubs::Shared> shared, std::string registry_key,
           CallContext key)
      : shared_(std::move(shared)),
        registry_key_(std::move(registry_key)),
        key_(std::move(key)),
        first_seq_(shared_->seq.load() + 1) {
    ++shared_->hubs;
  }
  ~WatchHub() { --shared_->hubs; }

  // Returns 0 when the hub is retired (the registry then makes a new one).
  uint64_t SubscribeTask(const std::string& uuid,
                         std::shared_ptr<WatchSubscriber> sub) {
    Outbox out;
    uint64_t id = 0;
    {
      absl::MutexLock lock(&mu_);
      if (retired_) return 0;
      id = ++next_id_;
      TaskWatch& w = tasks_[uuid];
      w.subs.emplace_back(id, sub);
      task_of_[id] = uuid;
      Subscribed();
      auto it = cache_.find(uuid);
      if (it != cache_.end()) {
        sub->OnEvent(it->second);
        out.flush.push_back(sub);
      } else {
        StartGet(uuid, out);
      }
      EnsureSocket(out);
    }
    out.Run();
    return id;
  }

  uint64_t SubscribeAll(const CatchUp& catch_up,
                        std::shared_ptr<WatchSubscriber> sub) {
    Outbox out;
    uint64_t id = 0;
    {
      absl::MutexLock lock(&mu_);
      if (retired_) return 0;
      id = ++next_id_;
      all_[id] = sub;
      Subscribed();
      if (!shared_->stub->capabilities().push_watch) {
        // Without a push channel nothing reports the key's other tasks.
        sub->OnError(absl::UnimplementedError(
            absl::StrCat("WatchTasks: the ",
                         ProviderName(shared_->stub->capabilities().kind),
                         " provider has no push channel; watch each task with "
                         "WatchTask")));
        out.flush.push_back(sub);
      } else {
        StartCatchUp(catch_up, sub, out);
      }
    }
    out.Run();
    return id;
  }

  void Unsubscribe(uint64_t id) {
    absl::MutexLock lock(&mu_);
    bool removed = all_.erase(id) > 0;
    auto t = task_of_.find(id);
    if (t != task_of_.end()) {
      auto w = tasks_.find(t->second);
      if (w != tasks_.end()) {
        auto& subs = w->second.subs;
        subs.erase(
            std::remove_if(subs.begin(), subs.end(),
                           [id](const auto& s) { return s.first == id; }),
            subs.end());
        if (subs.empty() && !w->second.get_in_flight) tasks_.erase(w);
      }
      task_of_.erase(t);
      removed = true;
    }
    if (!removed) return;
    --shared_->subscribers;
    if (all_.empty() && task_of_.empty() && !retired_) {
      std::weak_ptr<WatchHub> weak = weak_from_this();
      grace_timer_ =
          shared_->scheduler->RunAfter(shared_->options.grace, [weak] {
            if (auto hub = weak.lock()) hub->RetireIfUnused();
          });
    }
  }

  // Close ends everything (the registry is going away).
  void Close() {
    Outbox out;
    {
      absl::MutexLock lock(&mu_);
      Retire(out);
    }
    out.Run();
  }

 private:
  enum class Socket { kClosed, kConnecting, kOpen, kWaiting };

  struct TaskWatch {
    std::vector<std::pair<uint64_t, std::shared_ptr<WatchSubscriber>>> subs;
    bool get_in_flight = false;
    // Repeat the GET in flight when it returns.
    bool get_again = false;
    // NOT_FOUND answers so far while nobody has the task's state.
    int not_found = 0;
  };

  struct Outbox {
    std::vector<std::shared_ptr<WatchSubscriber>> flush;
    std::vector<absl::AnyInvocable<void()>> calls;
    void Run() {
      for (auto& sub : flush) sub->Flush();
      for (auto& call : calls) call();
    }
  };

  void Subscribed() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    ++shared_->subscribers;
    if (grace_timer_ != 0) {
      shared_->scheduler->Cancel(grace_timer_);
      grace_timer_ = 0;
    }
  }

  bool Unused() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return all_.empty() && task_of_.empty();
  }

  // StartCatchUp queues the catch-up of a new all-task subscriber and makes
  // sure the socket is open (a replay may reopen it).
  void StartCatchUp(const CatchUp& catch_up,
                    const std::shared_ptr<WatchSubscriber>& sub, Outbox& out)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    // A cursor of this hub: everything after it is cached. Otherwise
    // (no cursor, or one older than this hub) go by time. This hub's
    // numbers start at first_seq_: a cursor of first_seq_ - 1 was given
    // by an older hub (e.g. this key's previous one, retired), whose
    // last changes this hub never saw.
    const bool by_seq =
        catch_up.after_seq.has_value() && *catch_up.after_seq >= first_seq_;
    const std::optional<absl::Time> since =
        by_seq ? std::nullopt : catch_up.since;
    if (by_seq || since) {
      for (auto it = by_seq_.upper_bound(by_seq ? *catch_up.after_seq : 0);
           it != by_seq_.end(); ++it) {
        const HubEvent& e = cache_.at(it->second);
        if (since && e.observed < *since) continue;
        sub->OnEvent(e);
      }
      out.flush.push_back(sub);
    }
    if (since && *since < coverage_start_) {
      // The cache does not reach back that far: ask the upstream to
      // replay from `since` (one socket still: this one reopens).
      next_since_ = std::min(next_since_.value_or(*since), *since);
      if (socket_ == Socket::kOpen || socket_ == Socket::kConnecting) {
        CloseSocket(out);
        StartSocket(out);
      }
    }
    EnsureSocket(out);
  }

  // ------------------------------------------------------------ the socket

  // EnsureSocket opens the socket, or with a provider that has none starts
  // polling the watched tasks: one GET per task per interval, whatever the
  // number of watchers.
  void EnsureSocket(Outbox& out) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!shared_->stub->capabilities().push_watch) {
      if (!polling_) StartPolling(/*fallback=*/false);
      return;
    }
    if (socket_ == Socket::kClosed) StartSocket(out);
  }

  void StartSocket(Outbox& out) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    socket_ = Socket::kConnecting;
    const uint64_t gen = ++socket_gen_;
    since_in_flight_ = next_since_;
    std::weak_ptr<WatchHub> weak = weak_from_this();
    out.calls.push_back([weak, gen, since = next_since_, shared = shared_,
                         key = key_]() {
      WatchHandler handler;
      handler.on_open = [weak, gen] {
        if (auto hub = weak.lock()) hub->OnOpen(gen);
      };
      handler.on_frame = [weak,
                          gen](absl::StatusOr<translate::WatchFrame> frame) {
        if (auto hub = weak.lock()) hub->OnFrame(gen, std::move(frame));
      };
      CallOptions options;
      options.api_key = key.api_key;
      options.caller_key = key.caller_key;
      const uint64_t id =
          shared->stub->WatchAll(since, std::move(options), std::move(handler),
                                 [weak, gen](absl::Status status) {
                                   if (auto hub = weak.lock())
                                     hub->OnSocketEnd(gen, std::move(status));
                                 });
      auto hub = weak.lock();
      if (hub == nullptr || !hub->StoreSocketId(gen, id)) {
        shared->stub->Cancel(id);
      }
    });
  }

  // Returns false when socket `gen` is no longer wanted.
  bool StoreSocketId(uint64_t gen, uint64_t id) {
    absl::MutexLock lock(&mu_);
    if (gen != socket_gen_ || socket_ == Socket::kClosed ||
        socket_ == Socket::kWaiting) {
      return false;
    }
    socket_id_ = id;
    return true;
  }

  // CloseSocket forgets the current socket (its callbacks are ignored from
  // now on) and cancels it.
  void CloseSocket(Outbox& out) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (socket_ == Socket::kOpen) --shared_->sockets_open;
    ++socket_gen_;
    if (socket_id_ != 0) {
      out.calls.push_back(
          [stub = shared_->stub, id = socket_id_] { stub->Cancel(id); });
      socket_id_ = 0;
    }
    CancelTimer(idle_timer_);
    CancelTimer(reconnect_timer_);
    socket_ = Socket::kClosed;
  }

  void OnOpen(uint64_t gen) {
    Outbox out;
    {
      absl::MutexLock lock(&mu_);
      if (gen != socket_gen_ || socket_ != Socket::kConnecting) return;
      socket_ = Socket::kOpen;
      ++shared_->sockets_open;
      ++shared_->sockets_opened_total;
      failures_ = 0;
      backoff_ = absl::ZeroDuration();
      const absl::Time now = shared_->scheduler->Now();
      last_activity_ = now;
      coverage_start_ =
          std::min(coverage_start_, since_in_flight_.value_or(now));
      next_since_.reset();
      if (polling_) {
        StopPolling();
        shared_->Log("watch: the upstream WebSocket is back; polling stopped");
      }
      // Changes may have happened while no socket was open (before the
      // first one too: a watcher's snapshot may predate it). The `since`
      // replay brings most; a GET of each watched task, made after the
      // socket is open, the rest. A GET already in flight may have been
      // answered before: it is made again when it returns.
      for (auto& [uuid, w] : tasks_) {
        auto c = cache_.find(uuid);
        if (c != cache_.end() && c->second.terminal) continue;
        if (w.get_in_flight) {
          w.get_again = true;
        } else {
          StartGet(uuid, out);
        }
      }
      ArmIdleTimer(gen, shared_->options.idle_timeout);
    }
    out.Run();
  }

  void OnFrame(uint64_t gen, absl::StatusOr<translate::WatchFrame> frame) {
    Outbox out;
    {
      absl::MutexLock lock(&mu_);
      if (gen != socket_gen_) return;
      last_activity_ = shared_->scheduler->Now();
      ++shared_->frames_total;
      if (!frame.ok()) {
        ++shared_->bad_frames_total;
        shared_->Log(absl::StrCat("watch: an upstream event was dropped: ",
                                  frame.status().message()));
        return;
      }
      if (frame->task.status() == v1::TASK_STATUS_UNSPECIFIED) {
        // A status the contract cannot name yet (Tripo's `unknown`): read
        // the task instead; the connection reads it again until it is
        // determined or its grace period ends.
        if (!frame->task.task_uuid().empty()) {
          auto c = cache_.find(frame->task.task_uuid());
          const bool watched = tasks_.count(frame->task.task_uuid()) > 0;
          if ((watched || !all_.empty()) &&
              (c == cache_.end() || !c->second.terminal)) {
            TaskWatch& w = tasks_[frame->task.task_uuid()];
            // A GET in flight may have been answered before this frame.
            if (w.get_in_flight) {
              w.get_again = true;
            } else {
              StartGet(frame->task.task_uuid(), out);
            }
          }
        }
      } else {
        Observe(frame->task, out);
      }
    }
    out.Run();
  }

  void OnSocketEnd(uint64_t gen, absl::Status status) {
    Outbox out;
    {
      absl::MutexLock lock(&mu_);
      if (gen != socket_gen_) return;
      const bool was_open = socket_ == Socket::kOpen;
      if (was_open) --shared_->sockets_open;
      socket_id_ = 0;
      socket_ = Socket::kClosed;
      CancelTimer(idle_timer_);
      if (retired_ || Unused()) return;
      if (!was_open) {
        ++failures_;
        ++shared_->socket_failures_total;
        if (IsPermanent(status)) {
          // The key itself is refused: all-task watchers have nothing to
          // wait for. Per-task watchers hear it from their GETs.
          for (auto& [id, sub] : all_) {
            sub->OnError(status);
            out.flush.push_back(sub);
          }
        }
      }
      shared_->Log(absl::StrCat(
          "watch: the upstream WebSocket ", was_open ? "ended" : "failed",
          status.ok() ? std::string(" (closed by the upstream)")
                      : absl::StrCat(": ", status.message())));
      ScheduleReconnect(was_open);
    }
    out.Run();
  }

  void ScheduleReconnect(bool was_open) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const WatchHubOptions& o = shared_->options;
    if (coverage_start_ != absl::InfiniteFuture()) {
      // Ask for what happened since just before the last sign of life.
      const absl::Time since = last_activity_ - o.since_overlap;
      next_since_ = std::min(next_since_.value_or(since), since);
    }
    if (was_open) {
      backoff_ = o.initial_backoff;
    } else {
      backoff_ = backoff_ == absl::ZeroDuration()
                     ? o.initial_backoff
                     : std::min(backoff_ * o.backoff_multiplier, o.max_backoff);
    }
    if (failures_ >= o.failures_before_polling && !polling_) {
      StartPolling(/*fallback=*/true);
    }
    ++shared_->reconnects_total;
    socket_ = Socket::kWaiting;
    std::weak_ptr<WatchHub> weak = weak_from_this();
    reconnect_timer_ =
        shared_->scheduler->RunAfter(shared_->Jitter(backoff_), [weak] {
          if (auto hub = weak.lock()) hub->Reconnect();
        });
  }

  void Reconnect() {
    Outbox out;
    {
      absl::MutexLock lock(&mu_);
      reconnect_timer_ = 0;
      if (socket_ != Socket::kWaiting) return;
      socket_ = Socket::kClosed;
      if (retired_ || Unused()) return;
      StartSocket(out);
    }
    out.Run();
  }

  void ArmIdleTimer(uint64_t gen, absl::Duration after)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    std::weak_ptr<WatchHub> weak = weak_from_this();
    idle_timer_ = shared_->scheduler->RunAfter(after, [weak, gen] {
      if (auto hub = weak.lock()) hub->CheckIdle(gen);
    });
  }

  void CheckIdle(uint64_t gen) {
    Outbox out;
    {
      absl::MutexLock lock(&mu_);
      idle_timer_ = 0;
      if (gen != socket_gen_ || socket_ != Socket::kOpen) return;
      const absl::Duration idle = shared_->scheduler->Now() - last_activity_;
      const absl::Duration limit = shared_->options.idle_timeout;
      if (idle < limit) {
        ArmIdleTimer(gen, limit - idle);
        return;
      }
      ++shared_->idle_timeouts_total;
      shared_->Log(absl::StrCat("watch: the upstream WebSocket was silent for ",
                                absl::FormatDuration(idle), "; reopening it"));
      CloseSocket(out);
      ScheduleReconnect(/*was_open=*/true);
    }
    out.Run();
  }

  // ------------------------------------------------------------- polling

  // StartPolling: `fallback` when the socket keeps failing (logged and
  // counted); otherwise the provider has no push channel.
  void StartPolling(bool fallback) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    polling_ = true;
    ++shared_->polling_hubs;
    if (fallback) {
      ++shared_->polling_fallbacks_total;
      shared_->Log(absl::StrCat(
          "watch: the upstream WebSocket failed ", failures_,
          " times in a row; polling the watched tasks until it is back"));
    }
    poll_interval_ = shared_->options.min_poll_interval;
    // Only changes seen while polling count for the interval.
    changed_since_poll_ = false;
    ArmPollTimer();
  }

  void StopPolling() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!polling_) return;
    polling_ = false;
    --shared_->polling_hubs;
    CancelTimer(poll_timer_);
  }

  void ArmPollTimer() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    std::weak_ptr<WatchHub> weak = weak_from_this();
    poll_timer_ = shared_->scheduler->RunAfter(poll_interval_, [weak] {
      if (auto hub = weak.lock()) hub->Poll();
    });
  }

  void Poll() {
    Outbox out;
    {
      absl::MutexLock lock(&mu_);
      poll_timer_ = 0;
      if (!polling_ || retired_) return;
      const WatchHubOptions& o = shared_->options;
      poll_interval_ = changed_since_poll_
                           ? o.min_poll_interval
                           : std::min(poll_interval_ * 2, o.max_poll_interval);
      changed_since_poll_ = false;
      for (const auto& [uuid, w] : tasks_) {
        auto c = cache_.find(uuid);
        if (c == cache_.end() || !c->second.terminal) StartGet(uuid, out);
      }
      ArmPollTimer();
    }
    out.Run();
  }

  // ---------------------------------------------------------------- GETs

  void StartGet(const std::string& uuid, Outbox& out)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    TaskWatch& w = tasks_[uuid];
    if (w.get_in_flight) return;
    w.get_in_flight = true;
    ++shared_->gets_total;
    std::weak_ptr<WatchHub> weak = weak_from_this();
    CallContext context = key_;
    context.deadline = shared_->scheduler->Now() + shared_->options.get_timeout;
    out.calls.push_back([weak, uuid, context = std::move(context),
                         connection = shared_->connection]() mutable {
      connection->GetTask(uuid, std::move(context),
                          [weak, uuid](absl::StatusOr<v1::Task> task) {
                            if (auto hub = weak.lock()) {
                              hub->OnGetDone(uuid, std::move(task));
                            }
                          });
    });
  }

  // GetIfStillUnknown repeats a task's GET after NOT_FOUND, unless the task
  // is known by now or nobody watches it any more.
  void GetIfStillUnknown(const std::string& uuid) {
    Outbox out;
    {
      absl::MutexLock lock(&mu_);
      auto w = tasks_.find(uuid);
      if (w != tasks_.end() && !w->second.subs.empty() &&
          cache_.find(uuid) == cache_.end()) {
        StartGet(uuid, out);
      }
    }
    out.Run();
  }

  void OnGetDone(const std::string& uuid, absl::StatusOr<v1::Task> task) {
    Outbox out;
    {
      absl::MutexLock lock(&mu_);
      bool again = false;
      auto w = tasks_.find(uuid);
      if (w != tasks_.end()) {
        w->second.get_in_flight = false;
        again = std::exchange(w->second.get_again, false);
        if (w->second.subs.empty()) {
          tasks_.erase(w);
          again = false;
        }
      }
      if (task.ok()) {
        if (task->task_uuid() == uuid) Observe(*task, out);
      } else if (cache_.find(uuid) == cache_.end()) {
        auto watchers = tasks_.find(uuid);
        if (watchers != tasks_.end() &&
            task.status().code() == absl::StatusCode::kNotFound &&
            watchers->second.not_found < shared_->options.not_found_retries) {
          // Maybe created a moment ago, not yet visible to plain reads:
          // look again before telling the watchers (the socket may also
          // bring the task's state meanwhile).
          const absl::Duration delay = shared_->options.not_found_delay *
                                       (1 << watchers->second.not_found++);
          std::weak_ptr<WatchHub> weak = weak_from_this();
          shared_->scheduler->RunAfter(delay, [weak, uuid] {
            if (auto hub = weak.lock()) hub->GetIfStillUnknown(uuid);
          });
          watchers = tasks_.end();
        }
        // Nobody watching this task has a state yet: they cannot start.
        if (watchers != tasks_.end()) {
          for (auto& [id, sub] : watchers->second.subs) {
            sub->OnError(task.status());
            out.flush.push_back(sub);
          }
        }
      }
      auto c = cache_.find(uuid);
      if (again && (c == cache_.end() || !c->second.terminal)) {
        StartGet(uuid, out);
      }
    }
    out.Run();
  }

  // ---------------------------------------------------------- the cache

  // Observe accepts `task` as the latest state unless it is a duplicate or
  // stale, and fans it out.
  void Observe(const v1::Task& task, Outbox& out)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    // Never a state without a status (the connection resolves those).
    if (task.status() == v1::TASK_STATUS_UNSPECIFIED) return;
    const std::string& uuid = task.task_uuid();
    const bool terminal = IsTerminal(task.status());
    auto it = cache_.find(uuid);
    if (it != cache_.end()) {
      const HubEvent& old = it->second;
      if (old.terminal) return;
      if (!terminal && Rank(task) < Rank(*old.task)) return;
      if (google::protobuf::util::MessageDifferencer::Equals(task, *old.task)) {
        return;
      }
      by_seq_.erase(old.seq);
    }
    HubEvent e;
    e.task = std::make_shared<const v1::Task>(task);
    e.seq = ++shared_->seq;
    e.observed = shared_->scheduler->Now();
    e.terminal = terminal;
    e.memo = std::make_shared<EventMemo>();
    by_seq_[e.seq] = uuid;
    const HubEvent& stored = cache_[uuid] = std::move(e);
    ++shared_->changes_total;
    changed_since_poll_ = true;
    int64_t deliveries = 0;
    auto w = tasks_.find(uuid);
    if (w != tasks_.end()) {
      for (auto& [id, sub] : w->second.subs) {
        sub->OnEvent(stored);
        out.flush.push_back(sub);
        ++deliveries;
      }
    }
    for (auto& [id, sub] : all_) {
      sub->OnEvent(stored);
      out.flush.push_back(sub);
      ++deliveries;
    }
    shared_->deliveries_total += deliveries;
    Evict();
  }

  void Evict() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto it = by_seq_.begin();
    while (cache_.size() > shared_->options.max_cached_tasks &&
           it != by_seq_.end()) {
      if (tasks_.count(it->second) > 0) {
        ++it;  // Watched: kept.
        continue;
      }
      cache_.erase(it->second);
      it = by_seq_.erase(it);
    }
  }

  // ------------------------------------------------------------- the end

  void RetireIfUnused() {
    Outbox out;
    {
      absl::MutexLock lock(&mu_);
      grace_timer_ = 0;
      if (!Unused() || retired_) return;
      Retire(out);
    }
    out.Run();
    absl::MutexLock lock(&shared_->registry_mu);
    if (shared_->registry != nullptr) {
      WatchHubs::RemoveHub(shared_->registry, registry_key_, this);
    }
  }

  void Retire(Outbox& out) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (retired_) return;
    retired_ = true;
    CloseSocket(out);
    StopPolling();
    CancelTimer(grace_timer_);
  }

  void CancelTimer(Scheduler::TimerId& id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (id != 0) shared_->scheduler->Cancel(id);
    id = 0;
  }

  const std::shared_ptr<WatchHubs::Shared> shared_;
  const std::string registry_key_;
  const CallContext key_;
  // The first sequence number this hub can have given.
  const uint64_t first_seq_;

  absl::Mutex mu_;
  bool retired_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_map<std::string, HubEvent> cache_ ABSL_GUARDED_BY(mu_);
  std::map<uint64_t, std::string> by_seq_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, TaskWatch> tasks_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<uint64_t, std::string> task_of_ ABSL_GUARDED_BY(mu_);
  std::map<uint64_t, std::shared_ptr<WatchSubscriber>> all_
      ABSL_GUARDED_BY(mu_);

  Socket socket_ ABSL_GUARDED_BY(mu_) = Socket::kClosed;
  uint64_t socket_gen_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t socket_id_ ABSL_GUARDED_BY(mu_) = 0;
  int failures_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Duration backoff_ ABSL_GUARDED_BY(mu_);
  absl::Time last_activity_ ABSL_GUARDED_BY(mu_);
  // The cache holds every change since this time (InfiniteFuture: never
  // had a socket).
  absl::Time coverage_start_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  std::optional<absl::Time> next_since_ ABSL_GUARDED_BY(mu_);
  std::optional<absl::Time> since_in_flight_ ABSL_GUARDED_BY(mu_);

  bool polling_ ABSL_GUARDED_BY(mu_) = false;
  bool changed_since_poll_ ABSL_GUARDED_BY(mu_) = false;
  absl::Duration poll_interval_ ABSL_GUARDED_BY(mu_);

  Scheduler::TimerId idle_timer_ ABSL_GUARDED_BY(mu_) = 0;
  Scheduler::TimerId reconnect_timer_ ABSL_GUARDED_BY(mu_) = 0;
  Scheduler::TimerId poll_timer_ ABSL_GUARDED_BY(mu_) = 0;
  Scheduler::TimerId grace_timer_ ABSL_GUARDED_BY(mu_) = 0;
};

// ----------------------------------------------------------------- registry

namespace {

// RegistryKey tells hubs apart: one per key, the gateway's own and callers'
// kept apart.
std::string RegistryKey(const CallContext& key) {
  return absl::StrCat(key.caller_key ? "caller:" : "own:", key.api_key);
}

}  // namespace

WatchHubs::WatchHubs(std::shared_ptr<ProviderStub> stub,
                     std::shared_ptr<TriverseConnection> connection,
                     Scheduler* scheduler, WatchHubOptions options)
    : epoch_(absl::Uniform<uint64_t>(absl::BitGen())),
      shared_(std::make_shared<Shared>()) {
  shared_->stub = std::move(stub);
  shared_->connection = std::move(connection);
  shared_->scheduler = scheduler;
  shared_->options = std::move(options);
  absl::MutexLock lock(&shared_->registry_mu);
  shared_->registry = this;
}

WatchHubs::~WatchHubs() {
  {
    absl::MutexLock lock(&shared_->registry_mu);
    shared_->registry = nullptr;
  }
  absl::flat_hash_map<std::string, std::shared_ptr<WatchHub>> hubs;
  {
    absl::MutexLock lock(&mu_);
    hubs.swap(hubs_);
  }
  for (auto& [key, hub] : hubs) hub->Close();
}

void WatchHubs::RemoveHub(WatchHubs* registry, const std::string& key,
                          const WatchHub* hub) {
  absl::MutexLock lock(&registry->mu_);
  auto it = registry->hubs_.find(key);
  if (it != registry->hubs_.end() && it->second.get() == hub) {
    registry->hubs_.erase(it);
  }
}

std::shared_ptr<WatchHub> WatchHubs::HubFor(const CallContext& key) {
  const std::string registry_key = RegistryKey(key);
  absl::MutexLock lock(&mu_);
  std::shared_ptr<WatchHub>& hub = hubs_[registry_key];
  if (hub == nullptr) {
    CallContext hub_key;
    hub_key.api_key = key.api_key;
    hub_key.caller_key = key.caller_key;
    hub = std::make_shared<WatchHub>(shared_, registry_key, std::move(hub_key));
  }
  return hub;
}

template <typename Subscribe>
WatchHandle WatchHubs::SubscribeWith(const CallContext& key,
                                     Subscribe subscribe) {
  for (;;) {
    std::shared_ptr<WatchHub> hub = HubFor(key);
    const uint64_t id = subscribe(*hub);
    if (id != 0) return {std::move(hub), id};
    // Retired between the lookup and the subscription: it is leaving the
    // registry; the next lookup makes a new hub.
    RemoveHub(this, RegistryKey(key), hub.get());
  }
}

WatchHandle WatchHubs::SubscribeTask(const CallContext& key,
                                     const std::string& uuid,
                                     std::shared_ptr<WatchSubscriber> sub) {
  return SubscribeWith(
      key, [&](WatchHub& hub) { return hub.SubscribeTask(uuid, sub); });
}

WatchHandle WatchHubs::SubscribeAll(const CallContext& key,
                                    const CatchUp& catch_up,
                                    std::shared_ptr<WatchSubscriber> sub) {
  return SubscribeWith(
      key, [&](WatchHub& hub) { return hub.SubscribeAll(catch_up, sub); });
}

void WatchHubs::Unsubscribe(const WatchHandle& handle) {
  if (handle.hub != nullptr) handle.hub->Unsubscribe(handle.id);
}

WatchHubStats WatchHubs::Stats() const {
  const Shared& s = *shared_;
  WatchHubStats out;
  out.hubs = s.hubs;
  out.sockets_open = s.sockets_open;
  out.sockets_opened_total = s.sockets_opened_total;
  out.socket_failures_total = s.socket_failures_total;
  out.reconnects_total = s.reconnects_total;
  out.idle_timeouts_total = s.idle_timeouts_total;
  out.polling_hubs = s.polling_hubs;
  out.polling_fallbacks_total = s.polling_fallbacks_total;
  out.frames_total = s.frames_total;
  out.bad_frames_total = s.bad_frames_total;
  out.changes_total = s.changes_total;
  out.deliveries_total = s.deliveries_total;
  out.gets_total = s.gets_total;
  out.subscribers = s.subscribers;
  return out;
}

}  // namespace triverse::upstream
