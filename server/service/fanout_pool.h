// FanoutPool: the threads that write watch events to their streams, so that
// the thread which receives an upstream event (libcurl's event loop) only
// queues it for each stream and goes back to the network.
#ifndef TRIVERSE_SERVER_SERVICE_FANOUT_POOL_H_
#define TRIVERSE_SERVER_SERVICE_FANOUT_POOL_H_

#include <deque>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"

namespace triverse::service {

// FanoutPool runs posted functions on `threads` threads, in FIFO order of
// posting (two may run at once on different threads). Thread-safe. The
// destructor runs what is still queued, then joins; it must not run on one
// of the pool's threads.
class FanoutPool {
 public:
  explicit FanoutPool(int threads);
  ~FanoutPool();

  FanoutPool(const FanoutPool&) = delete;
  FanoutPool& operator=(const FanoutPool&) = delete;

  void Post(absl::AnyInvocable<void()> fn);

 private:
  void Loop();

  absl::Mutex mu_;
  std::deque<absl::AnyInvocable<void()>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace triverse::service

#endif  // TRIVERSE_SERVER_SERVICE_FANOUT_POOL_H_
