// ParseWatchFrame over every form the upstream docs leave open (§5.1).
#include "server/translate/watch_frame.h"

#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace triverse::translate {
namespace {

using ::testing::HasSubstr;

constexpr char kRunning[] =
    R"({"task_uuid":"7f0c1c62-8f7e-4c6a-9d51-0d3c2b1a0e11",)"
    R"("flow_name":"text-to-model","status":"RUNNING","progress":42})";
constexpr char kSucceeded[] =
    R"({"taskId":"7f0c1c62-8f7e-4c6a-9d51-0d3c2b1a0e11",)"
    R"("status":"SUCCESS","progress":100})";

WatchFrame ParseOk(const std::string& message) {
  absl::StatusOr<std::optional<WatchFrame>> frame = ParseWatchFrame(message);
  EXPECT_TRUE(frame.ok()) << frame.status() << " for " << message;
  if (!frame.ok()) return {};
  EXPECT_TRUE(frame->has_value()) << message;
  return frame->value_or(WatchFrame{});
}

TEST(ParseWatchFrame, UpdateAsDocumented) {
  const WatchFrame f = ParseOk(absl::StrCat("event: update\ndata: ", kRunning));
  EXPECT_EQ(f.kind, WatchFrame::Kind::kUpdate);
  EXPECT_EQ(f.task.task_uuid(), "7f0c1c62-8f7e-4c6a-9d51-0d3c2b1a0e11");
  EXPECT_EQ(f.task.status(), v1::TASK_STATUS_RUNNING);
  EXPECT_EQ(f.task.progress(), 42);
}

TEST(ParseWatchFrame, FinalizedOlderGeneration) {
  const WatchFrame f =
      ParseOk(absl::StrCat("event: finalized\ndata: ", kSucceeded));
  EXPECT_EQ(f.kind, WatchFrame::Kind::kFinalized);
  EXPECT_EQ(f.task.status(), v1::TASK_STATUS_SUCCESS);
}

TEST(ParseWatchFrame, TrailingBlankLinesAndCrlf) {
  for (const std::string& m :
       {absl::StrCat("event: update\ndata: ", kRunning, "\n\n"),
        absl::StrCat("event: update\r\ndata: ", kRunning, "\r\n\r\n"),
        absl::StrCat("event:update\ndata:", kRunning),
        absl::StrCat(": keep-alive\nid: 7\nevent: update\ndata: ", kRunning)}) {
    const WatchFrame f = ParseOk(m);
    EXPECT_EQ(f.task.progress(), 42) << m;
  }
}

TEST(ParseWatchFrame, EnvelopedData) {
  const WatchFrame f = ParseOk(absl::StrCat(R"(event: update
data: {"code":0,"message":"success","data":)",
                                            kRunning, "}"));
  EXPECT_EQ(f.task.status(), v1::TASK_STATUS_RUNNING);
  EXPECT_EQ(f.task.progress(), 42);
}

TEST(ParseWatchFrame, EnvelopeWithErrorCode) {
  auto f = ParseWatchFrame(
      R"(event: update
data: {"code":5003,"message":"unavailable","data":null})");
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(f.status().message(), HasSubstr("5003"));
}

TEST(ParseWatchFrame, UnknownKindAndEmptyMessagesAreNoFrame) {
  for (const std::string& m :
       {absl::StrCat("event: heartbeat\ndata: ", kRunning), std::string(),
        std::string("\n\n"), std::string(": ping")}) {
    auto f = ParseWatchFrame(m);
    ASSERT_TRUE(f.ok()) << f.status() << " for " << m;
    EXPECT_FALSE(f->has_value()) << m;
  }
}

TEST(ParseWatchFrame, MalformedIsDataLoss) {
  for (const std::string& m :
       {std::string("data: {}"), std::string("event: update"),
        std::string("event: update\ndata: {not json"),
        std::string("event: update\ndata: []"), std::string(R"(event: update
data: {"status":"RUNNING"})"),
        std::string(R"(event: update
data: {"task_uuid":"x","status":"EXPLODED"})")}) {
    auto f = ParseWatchFrame(m);
    ASSERT_FALSE(f.ok()) << m;
    EXPECT_EQ(f.status().code(), absl::StatusCode::kDataLoss) << m;
  }
}

}  // namespace
}  // namespace triverse::translate
