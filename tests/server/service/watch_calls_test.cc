// The watch edge's pure parts: the resume cursor and the stream limiter.
#include "server/service/watch_calls.h"

#include <string>

#include "absl/strings/escaping.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace triverse::service {
namespace {

using ::testing::HasSubstr;

TEST(WatchCursor, RoundTrips) {
  WatchCursor c;
  c.epoch = 18446744073709551615ull;
  c.seq = 42;
  c.observed = absl::FromUnixMicros(1779885588123456);
  c.status = v1::TASK_STATUS_RUNNING;
  c.progress = 70;
  const std::string text = EncodeCursor(c);
  // URL-safe and opaque: no separators a caller could be tempted to parse.
  EXPECT_EQ(text.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"
                                   "qrstuvwxyz0123456789-_"),
            std::string::npos);
  absl::StatusOr<WatchCursor> back = DecodeCursor(text);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->epoch, c.epoch);
  EXPECT_EQ(back->seq, c.seq);
  EXPECT_EQ(back->observed, c.observed);
  EXPECT_EQ(back->status, c.status);
  EXPECT_EQ(back->progress, c.progress);
}

TEST(WatchCursor, RejectsAnythingElse) {
  for (const std::string& bad :
       {std::string("garbage"), std::string(""), std::string(300, 'A'),
        absl::WebSafeBase64Escape("c2:1:2:3:4:5"),
        absl::WebSafeBase64Escape("c1:1:2:3:4"),
        absl::WebSafeBase64Escape("c1:x:2:3:4:5"),
        absl::WebSafeBase64Escape("c1:1:2:3:99:5"),
        absl::WebSafeBase64Escape("c1:1:-2:3:4:5")}) {
    absl::StatusOr<WatchCursor> c = DecodeCursor(bad);
    EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(WatchLimiter, PerClientAndTotal) {
  WatchOptions options;
  options.max_per_client = 2;
  options.max_streams = 3;
  WatchLimiter limiter(options);
  EXPECT_TRUE(limiter.Acquire("ipv4:10.0.0.1", "WatchTask").ok());
  EXPECT_TRUE(limiter.Acquire("ipv4:10.0.0.1", "WatchTask").ok());
  absl::Status third = limiter.Acquire("ipv4:10.0.0.1", "WatchTask");
  EXPECT_EQ(third.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(third.message(), HasSubstr("max-watches-per-client"));
  EXPECT_TRUE(limiter.Acquire("ipv4:10.0.0.2", "WatchTasks").ok());
  absl::Status total = limiter.Acquire("ipv4:10.0.0.3", "WatchTasks");
  EXPECT_EQ(total.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(total.message(), HasSubstr("max-watch-streams"));
  limiter.Release("ipv4:10.0.0.1");
  EXPECT_TRUE(limiter.Acquire("ipv4:10.0.0.3", "WatchTasks").ok());
  // Releasing an unknown client changes nothing.
  limiter.Release("ipv4:10.9.9.9");
  EXPECT_FALSE(limiter.Acquire("ipv4:10.0.0.4", "WatchTasks").ok());
}

}  // namespace
}  // namespace triverse::service
