#include "server/gateway/command_line.h"

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace triverse::gateway {
namespace {

using ::testing::HasSubstr;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

TEST(CommandLineTest, BothSpellingsAndUnderscores) {
  auto c =
      ParseCommandLine({"--listen", "127.0.0.1:0", "--upstream_url=http://x",
                        "--allow-caller-keys", "--port-file", "/tmp/p"});
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_THAT(c->flags,
              UnorderedElementsAre(Pair("listen", "127.0.0.1:0"),
                                   Pair("upstream-url", "http://x"),
                                   Pair("allow-caller-keys", "true")));
  EXPECT_EQ(c->port_file, "/tmp/p");
  EXPECT_FALSE(c->help);
}

TEST(CommandLineTest, OnlyGivenFlagsAppear) {
  auto c = ParseCommandLine({});
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->flags.empty());
  EXPECT_TRUE(ParseCommandLine({"--help"})->help);
}

TEST(CommandLineTest, ErrorsNameTheArgument) {
  auto unknown = ParseCommandLine({"--bogus=1"});
  EXPECT_THAT(unknown.status().message(), HasSubstr("--bogus"));
  auto missing = ParseCommandLine({"--listen"});
  EXPECT_THAT(missing.status().message(), HasSubstr("--listen needs a value"));
  auto positional = ParseCommandLine({"serve"});
  EXPECT_THAT(positional.status().message(), HasSubstr("\"serve\""));
  auto twice = ParseCommandLine({"--listen=a:1", "--listen=b:2"});
  EXPECT_THAT(twice.status().message(), HasSubstr("twice"));
}

TEST(CommandLineTest, ApiKeyFlagIsPassedOnForLoadConfigToRefuse) {
  auto c = ParseCommandLine({"--api-key=secret"});
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->flags.count("api-key"), 1u);
}

// Every setting LoadConfig reads (server/config/config.cc) is a flag.
constexpr const char* kEverySetting[] = {
    "listen",
    "upstream-url",
    "api-key-file",
    "default-deadline",
    "retry-max-attempts",
    "retry-initial-backoff",
    "retry-max-backoff",
    "upstream-max-connections",
    "watch-idle-timeout",
    "watch-grace",
    "watch-reconnect-backoff",
    "watch-poll-interval",
    "max-watch-streams",
    "max-watches-per-client",
    "metrics-listen",
    "reflection",
    "tls-cert-file",
    "tls-key-file",
    "tls-client-ca-file",
    "shutdown-grace",
    "max-connection-age",
    "max-connection-age-grace",
    "keepalive-time",
    "keepalive-min-time",
    "max-concurrent-streams",
    "memory-quota",
    "log-format",
    "config",
};

TEST(CommandLineTest, EverySettingIsAFlag) {
  for (const char* name : kEverySetting) {
    auto c = ParseCommandLine({absl::StrCat("--", name, "=1")});
    ASSERT_TRUE(c.ok()) << name << ": " << c.status();
    EXPECT_EQ(c->flags.at(name), "1");
  }
}

TEST(CommandLineTest, UsageListsEverySettingButTheKey) {
  const std::string usage = Usage();
  for (const char* flag : {"--allow-caller-keys", "--port-file"}) {
    EXPECT_THAT(usage, HasSubstr(flag));
  }
  for (const char* name : kEverySetting) {
    EXPECT_THAT(usage, HasSubstr(absl::StrCat("--", name)));
  }
  EXPECT_THAT(usage, ::testing::Not(HasSubstr("--api-key\n")));
}

}  // namespace
}  // namespace triverse::gateway
