#include "server/log/log.h"

#include <iostream>
#include <sstream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rapidjson/document.h"

namespace triverse::log {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::Not;

class LogTest : public ::testing::Test {
 protected:
  void TearDown() override { Configure(Format::kText, &std::cerr); }
  std::ostringstream out_;
};

TEST_F(LogTest, JsonLinesAreOneObjectEachWithTheFields) {
  Configure(Format::kJson, &out_);
  Log(Severity::kWarning, "a \"quoted\"\nmessage\t\x01",
      {{"method", "/triverse.v1.TaskService/GetTask"},
       {"code", "UNAVAILABLE"}});
  Log(Severity::kInfo, "second");
  const std::string text = out_.str();
  const size_t newline = text.find('\n');
  ASSERT_NE(newline, std::string::npos);
  EXPECT_EQ(text.find('\n', newline + 1), text.size() - 1);  // two lines
  rapidjson::Document doc;
  doc.Parse(text.substr(0, newline).c_str());
  ASSERT_FALSE(doc.HasParseError()) << text;
  EXPECT_STREQ(doc["severity"].GetString(), "WARNING");
  EXPECT_STREQ(doc["logger"].GetString(), "triverse-gateway");
  EXPECT_STREQ(doc["message"].GetString(), "a \"quoted\"\nmessage\t\x01");
  EXPECT_STREQ(doc["method"].GetString(), "/triverse.v1.TaskService/GetTask");
  EXPECT_STREQ(doc["code"].GetString(), "UNAVAILABLE");
  EXPECT_THAT(doc["time"].GetString(),
              MatchesRegex("20[0-9-]+T[0-9:]+\\.[0-9]{6}Z"));
}

TEST_F(LogTest, TextLinesNameTheGatewayAndTheFields) {
  Configure(Format::kText, &out_);
  Log(Severity::kInfo, "serving", {{"port", "50051"}});
  Log(Severity::kError, "cannot start");
  EXPECT_EQ(out_.str(),
            "triverse-gateway: serving port=50051\n"
            "triverse-gateway: ERROR: cannot start\n");
}

TEST_F(LogTest, SecretsTokensAndBearerCredentialsAreNeverWritten) {
  AddSecret("sk-live-0123456789");
  Configure(Format::kJson, &out_);
  Log(Severity::kWarning,
      "open wss://api.example/ws?since=5&token=sk-other-key&x=1 failed",
      {{"header", "Authorization: Bearer abc.def.ghi"},
       {"key", "the key is sk-live-0123456789"}});
  const std::string text = out_.str();
  EXPECT_THAT(text, Not(HasSubstr("sk-live-0123456789")));
  EXPECT_THAT(text, Not(HasSubstr("sk-other-key")));
  EXPECT_THAT(text, Not(HasSubstr("abc.def.ghi")));
  EXPECT_THAT(text, HasSubstr("?since=5&token=[redacted]&x=1 failed"));
  EXPECT_THAT(text, HasSubstr("Bearer [redacted]"));
  EXPECT_THAT(text, HasSubstr("the key is [redacted]"));
  EXPECT_EQ(Scrub("TOKEN=abc"), "TOKEN=[redacted]");
}

TEST(ScrubTest, RedactsEveryOccurrenceWhateverItsCase) {
  EXPECT_EQ(Scrub("a?Token=one&TOKEN=two bearer three, BEARER four"),
            "a?Token=[redacted]&TOKEN=[redacted] bearer [redacted], "
            "BEARER [redacted]");
  EXPECT_EQ(Scrub("token="), "token=[redacted]");
  EXPECT_EQ(Scrub("no secrets here"), "no secrets here");
}

TEST(TraceTest, ContinuesAValidTraceparentWithANewSpan) {
  const std::string parent =
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  const Trace t = TraceFrom(parent);
  EXPECT_EQ(t.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_THAT(
      t.traceparent,
      MatchesRegex("00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01"));
  EXPECT_NE(t.traceparent, parent);
}

TEST(TraceTest, StartsANewTraceForMissingOrInvalidOnes) {
  for (const char* bad :
       {"", "garbage",
        "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"}) {
    const Trace t = TraceFrom(bad);
    EXPECT_THAT(t.trace_id, MatchesRegex("[0-9a-f]{32}")) << bad;
    EXPECT_NE(t.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736") << bad;
    EXPECT_THAT(t.traceparent, MatchesRegex("00-[0-9a-f]{32}-[0-9a-f]{16}-01"));
  }
  EXPECT_NE(TraceFrom("").trace_id, TraceFrom("").trace_id);
}

}  // namespace
}  // namespace triverse::log
