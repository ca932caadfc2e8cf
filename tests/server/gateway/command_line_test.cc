#include "server/gateway/command_line.h"

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

TEST(CommandLineTest, UsageListsEverySettingButTheKey) {
  const std::string usage = Usage();
  for (const char* flag : {"--listen", "--upstream-url", "--api-key-file",
                           "--allow-caller-keys", "--default-deadline",
                           "--retry-max-attempts", "--config", "--port-file"}) {
    EXPECT_THAT(usage, HasSubstr(flag));
  }
  EXPECT_THAT(usage, ::testing::Not(HasSubstr("--api-key\n")));
}

}  // namespace
}  // namespace triverse::gateway
