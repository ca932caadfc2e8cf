// Scheduler: runs callbacks after a delay, for the Connection's backoff
// timers. ThreadScheduler is the production implementation (one thread);
// tests use FakeScheduler (fake_scheduler.h), driven by hand.
#ifndef TRIVERSE_SERVER_UPSTREAM_SCHEDULER_H_
#define TRIVERSE_SERVER_UPSTREAM_SCHEDULER_H_

#include <cstdint>
#include <map>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace triverse::upstream {

// Scheduler is the timer interface.
//
// Thread-safety: implementations are thread-safe; every method may be called
// from any thread, including from inside a scheduled callback.
//
// Contract: RunAfter never runs `fn` inline (always later, on the
// scheduler's own thread or driver), and never while holding a lock that
// RunAfter, Cancel or Now take, so a caller may hold its own mutex while
// calling RunAfter/Cancel. Callbacks still pending when the scheduler is
// destroyed are destroyed without running.
class Scheduler {
 public:
  using TimerId = uint64_t;

  virtual ~Scheduler() = default;

  // Now is the scheduler's clock (the fake clock for FakeScheduler); the
  // Connection measures deadlines with it.
  virtual absl::Time Now() const = 0;

  // RunAfter runs `fn` once, no earlier than `delay` from Now(). Returns a
  // non-zero id for Cancel.
  virtual TimerId RunAfter(absl::Duration delay,
                           absl::AnyInvocable<void()> fn) = 0;

  // Cancel removes timer `id` before it runs: true when it was removed
  // (its callback is destroyed without running), false when it already ran,
  // is running, or is unknown.
  virtual bool Cancel(TimerId id) = 0;
};

// ThreadScheduler runs every callback on one thread it owns, in due-time
// order (ties in RunAfter order). Callbacks must not block for long: they
// delay every later timer. The destructor stops and joins the thread; it
// must not be called from a callback.
class ThreadScheduler : public Scheduler {
 public:
  ThreadScheduler();
  ~ThreadScheduler() override;

  ThreadScheduler(const ThreadScheduler&) = delete;
  ThreadScheduler& operator=(const ThreadScheduler&) = delete;

  absl::Time Now() const override { return absl::Now(); }
  TimerId RunAfter(absl::Duration delay,
                   absl::AnyInvocable<void()> fn) override;
  bool Cancel(TimerId id) override;

 private:
  void Loop();

  absl::Mutex mu_;
  absl::CondVar cv_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  TimerId next_id_ ABSL_GUARDED_BY(mu_) = 1;
  // Keyed by (due time, id): begin() is the next one to run.
  std::map<std::pair<absl::Time, TimerId>, absl::AnyInvocable<void()>> queue_
      ABSL_GUARDED_BY(mu_);
  std::map<TimerId, absl::Time> due_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace triverse::upstream

#endif  // TRIVERSE_SERVER_UPSTREAM_SCHEDULER_H_
