// WatchReactor: one client-side WatchTask / WatchTasks stream on gRPC's
// callback API (thousands of them need no thread each) that records its
// events and its final status, and can cancel itself at its first event.
#ifndef TRIVERSE_TESTS_SERVER_TESTING_UTIL_WATCH_REACTOR_H_
#define TRIVERSE_TESTS_SERVER_TESTING_UTIL_WATCH_REACTOR_H_

#include <algorithm>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "triverse/v1/task_service.grpc.pb.h"

namespace triverse::testing_util {

class WatchReactor : public grpc::ClientReadReactor<v1::TaskEvent> {
 public:
  enum class Cancel { kNever, kAtFirstEvent };

  // Starts the call at once; `timeout` is its deadline.
  WatchReactor(v1::TaskService::Stub* stub, const v1::WatchTaskRequest& request,
               absl::Duration timeout, Cancel cancel = Cancel::kNever)
      : cancel_(cancel) {
    context_.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
    stub->async()->WatchTask(&context_, &request, this);
    Begin();
  }
  WatchReactor(v1::TaskService::Stub* stub,
               const v1::WatchTasksRequest& request, absl::Duration timeout,
               Cancel cancel = Cancel::kNever)
      : cancel_(cancel) {
    context_.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
    stub->async()->WatchTasks(&context_, &request, this);
    Begin();
  }
  // Cancels the call if it still runs and waits for its end.
  ~WatchReactor() override {
    context_.TryCancel();
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(&done_));
  }
  WatchReactor(const WatchReactor&) = delete;
  WatchReactor& operator=(const WatchReactor&) = delete;

  void OnReadDone(bool ok) override {
    if (!ok) return;
    {
      absl::MutexLock lock(&mu_);
      events_.push_back(event_);
    }
    if (cancel_ == Cancel::kAtFirstEvent) {
      context_.TryCancel();
      return;
    }
    StartRead(&event_);
  }
  void OnDone(const grpc::Status& status) override {
    absl::MutexLock lock(&mu_);
    status_ = status;
    done_ = true;
  }

  void TryCancel() { context_.TryCancel(); }

  // WaitDone waits for the end of the call (at most `timeout`).
  bool WaitDone(absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    return mu_.AwaitWithTimeout(absl::Condition(&done_), timeout);
  }
  // WaitEvents waits for `n` events, or the end of the call.
  bool WaitEvents(size_t n, absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    auto enough = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return events_.size() >= n || done_;
    };
    mu_.AwaitWithTimeout(absl::Condition(&enough), timeout);
    return events_.size() >= n;
  }
  // WaitFor waits until some event satisfies `pred` (or the call ends).
  template <typename Pred>
  bool WaitFor(Pred pred, absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    auto seen = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return done_ || std::any_of(events_.begin(), events_.end(), pred);
    };
    mu_.AwaitWithTimeout(absl::Condition(&seen), timeout);
    return std::any_of(events_.begin(), events_.end(), pred);
  }

  bool done() {
    absl::MutexLock lock(&mu_);
    return done_;
  }
  std::vector<v1::TaskEvent> events() {
    absl::MutexLock lock(&mu_);
    return events_;
  }
  grpc::Status status() {
    absl::MutexLock lock(&mu_);
    return status_;
  }

 private:
  void Begin() {
    StartRead(&event_);
    StartCall();
  }

  const Cancel cancel_;
  grpc::ClientContext context_;
  v1::TaskEvent event_;
  absl::Mutex mu_;
  std::vector<v1::TaskEvent> events_ ABSL_GUARDED_BY(mu_);
  grpc::Status status_ ABSL_GUARDED_BY(mu_);
  bool done_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace triverse::testing_util

#endif  // TRIVERSE_TESTS_SERVER_TESTING_UTIL_WATCH_REACTOR_H_
