// FanoutPool: everything posted runs, in order on one thread, off the
// posting thread, and the destructor runs what is still queued.
#include "server/service/fanout_pool.h"

#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"

namespace triverse::service {
namespace {

TEST(FanoutPool, RunsEverythingInOrderOffThePostingThread) {
  absl::Mutex mu;
  std::vector<int> order;
  bool on_poster = false;
  const std::thread::id poster = std::this_thread::get_id();
  {
    FanoutPool pool(1);
    for (int i = 0; i < 1000; ++i) {
      pool.Post([&, i] {
        absl::MutexLock lock(&mu);
        order.push_back(i);
        on_poster = on_poster || std::this_thread::get_id() == poster;
      });
    }
  }  // The destructor runs what is still queued.
  ASSERT_EQ(order.size(), 1000u);
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(order[i], i);
  EXPECT_FALSE(on_poster);
}

TEST(FanoutPool, SeveralThreadsRunEveryPost) {
  absl::Mutex mu;
  int ran = 0;
  {
    FanoutPool pool(3);
    for (int i = 0; i < 5000; ++i) {
      pool.Post([&] {
        absl::MutexLock lock(&mu);
        ++ran;
      });
    }
  }
  EXPECT_EQ(ran, 5000);
}

}  // namespace
}  // namespace triverse::service
