#include "server/upstream/scheduler.h"

#include <algorithm>
#include <utility>

namespace triverse::upstream {

ThreadScheduler::ThreadScheduler() : thread_([this] { Loop(); }) {}

ThreadScheduler::~ThreadScheduler() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
    cv_.Signal();
  }
  thread_.join();
  // Pending callbacks are destroyed here, without running, outside mu_
  // (their destructors may release objects that call back into us).
  decltype(queue_) pending;
  {
    absl::MutexLock lock(&mu_);
    pending.swap(queue_);
    due_.clear();
  }
}

Scheduler::TimerId ThreadScheduler::RunAfter(absl::Duration delay,
                                             absl::AnyInvocable<void()> fn) {
  absl::MutexLock lock(&mu_);
  const TimerId id = next_id_++;
  const absl::Time due = absl::Now() + std::max(delay, absl::ZeroDuration());
  queue_.emplace(std::make_pair(due, id), std::move(fn));
  due_.emplace(id, due);
  cv_.Signal();
  return id;
}

bool ThreadScheduler::Cancel(TimerId id) {
  absl::AnyInvocable<void()> dropped;  // destroyed after the lock
  absl::MutexLock lock(&mu_);
  auto it = due_.find(id);
  if (it == due_.end()) return false;
  auto q = queue_.find(std::make_pair(it->second, id));
  if (q != queue_.end()) {
    dropped = std::move(q->second);
    queue_.erase(q);
  }
  due_.erase(it);
  return true;
}

void ThreadScheduler::Loop() {
  absl::MutexLock lock(&mu_);
  while (!stop_) {
    if (queue_.empty()) {
      cv_.Wait(&mu_);
      continue;
    }
    auto it = queue_.begin();
    if (it->first.first > absl::Now()) {
      cv_.WaitWithDeadline(&mu_, it->first.first);
      continue;
    }
    absl::AnyInvocable<void()> fn = std::move(it->second);
    due_.erase(it->first.second);
    queue_.erase(it);
    mu_.Unlock();
    fn();
    fn = nullptr;  // destroy captures outside the lock
    mu_.Lock();
  }
}

}  // namespace triverse::upstream
