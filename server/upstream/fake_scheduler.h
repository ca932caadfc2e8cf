// FakeScheduler: a Scheduler for tests, with its own fake clock and no
// thread. Time moves only through AdvanceBy/RunNext, which run the due
// callbacks on the calling thread, in due-time order.
#ifndef TRIVERSE_SERVER_UPSTREAM_FAKE_SCHEDULER_H_
#define TRIVERSE_SERVER_UPSTREAM_FAKE_SCHEDULER_H_

#include <algorithm>
#include <cstddef>
#include <map>
#include <optional>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/upstream/scheduler.h"

namespace triverse::upstream {

// FakeScheduler is thread-safe: timers may be added from any thread (e.g. a
// transport thread) while a test drives time from its own. Callbacks run
// without the internal lock held.
class FakeScheduler : public Scheduler {
 public:
  explicit FakeScheduler(absl::Time start = absl::FromUnixSeconds(1700000000))
      : now_(start) {}

  absl::Time Now() const override {
    absl::MutexLock lock(&mu_);
    return now_;
  }

  TimerId RunAfter(absl::Duration delay,
                   absl::AnyInvocable<void()> fn) override {
    absl::MutexLock lock(&mu_);
    const TimerId id = next_id_++;
    const absl::Time due = now_ + std::max(delay, absl::ZeroDuration());
    queue_.emplace(std::make_pair(due, id), std::move(fn));
    due_.emplace(id, due);
    return id;
  }

  bool Cancel(TimerId id) override {
    absl::AnyInvocable<void()> dropped;
    absl::MutexLock lock(&mu_);
    auto it = due_.find(id);
    if (it == due_.end()) return false;
    auto q = queue_.find(std::make_pair(it->second, id));
    dropped = std::move(q->second);
    queue_.erase(q);
    due_.erase(it);
    return true;
  }

  // AdvanceBy moves the clock by `d`, running every callback that falls due
  // on the way (including ones they schedule), each with Now() at its due
  // time.
  void AdvanceBy(absl::Duration d) {
    absl::Time target;
    {
      absl::MutexLock lock(&mu_);
      target = now_ + d;
    }
    while (RunOneDueBy(target)) {
    }
    absl::MutexLock lock(&mu_);
    if (now_ < target) now_ = target;
  }

  // RunNext jumps the clock to the earliest pending timer and runs it.
  // Returns false when none is pending.
  bool RunNext() { return RunOneDueBy(absl::InfiniteFuture()); }

  // NextDelay is the time from Now() to the earliest pending timer.
  std::optional<absl::Duration> NextDelay() const {
    absl::MutexLock lock(&mu_);
    if (queue_.empty()) return std::nullopt;
    return queue_.begin()->first.first - now_;
  }

  size_t pending() const {
    absl::MutexLock lock(&mu_);
    return queue_.size();
  }

  // WaitForPending blocks (real time) until a timer is pending or `timeout`
  // passes; true when one is pending. For tests whose timers are added by
  // another thread.
  bool WaitForPending(absl::Duration timeout) const {
    absl::MutexLock lock(&mu_);
    return mu_.AwaitWithTimeout(
        absl::Condition(this, &FakeScheduler::HasPendingLocked), timeout);
  }

 private:
  bool HasPendingLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return !queue_.empty();
  }

  bool RunOneDueBy(absl::Time limit) {
    absl::AnyInvocable<void()> fn;
    {
      absl::MutexLock lock(&mu_);
      if (queue_.empty()) return false;
      auto it = queue_.begin();
      if (it->first.first > limit) return false;
      if (it->first.first > now_) now_ = it->first.first;
      fn = std::move(it->second);
      due_.erase(it->first.second);
      queue_.erase(it);
    }
    fn();
    return true;
  }

  mutable absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
  TimerId next_id_ ABSL_GUARDED_BY(mu_) = 1;
  std::map<std::pair<absl::Time, TimerId>, absl::AnyInvocable<void()>> queue_
      ABSL_GUARDED_BY(mu_);
  std::map<TimerId, absl::Time> due_ ABSL_GUARDED_BY(mu_);
};

}  // namespace triverse::upstream

#endif  // TRIVERSE_SERVER_UPSTREAM_FAKE_SCHEDULER_H_
