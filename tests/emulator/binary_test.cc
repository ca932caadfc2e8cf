// Tests of the triverse-emulator binary itself: flags, the port file, the
// request log and shutdown on SIGTERM.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/emulator/testing_util/http_client.h"
#include "tests/emulator/testing_util/process.h"

extern char** environ;

namespace triverse {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing_util::Bearer;
using testing_util::HttpGet;
using testing_util::WebSocketClient;

constexpr char kSecretKey[] = "sk-binary-test-0123456789abcdef";

// Process is the emulator binary running with its stderr on a pipe.
class Process : public testing_util::Process {
 public:
  explicit Process(std::vector<std::string> args)
      : testing_util::Process(TRIVERSE_EMULATOR_BINARY, std::move(args)) {}
};

using testing_util::TempPath;

TEST(EmulatorBinaryTest, ServesOnPortZeroLogsWithoutKeysAndStopsOnSigterm) {
  const std::string port_file = TempPath("emulator-port");
  std::remove(port_file.c_str());
  Process p({"--listen", "127.0.0.1:0", "--port-file", port_file,
             absl::StrCat("--api-keys=", kSecretKey, ":50"),
             "--task_duration=1s"});
  ASSERT_GT(p.pid(), 0);
  ASSERT_TRUE(p.ReadUntil("serving", absl::Seconds(30))) << p.output();

  std::ifstream in(port_file);
  int port = 0;
  in >> port;
  ASSERT_GT(port, 0);
  const std::string base = absl::StrCat("http://127.0.0.1:", port);

  auto balance = HttpGet(base + "/api/v1/users/balance", {Bearer(kSecretKey)});
  EXPECT_EQ(balance.status, 200);
  EXPECT_THAT(balance.body, HasSubstr("\"balance\":50.0"));
  EXPECT_EQ(HttpGet(base + "/api/v1/users/me").status, 401);
  long status = 0;
  auto ws = WebSocketClient::Connect(
      absl::StrCat("ws://127.0.0.1:", port,
                   "/api/v1/tasks/watch/all?token=", kSecretKey),
      &status);
  EXPECT_EQ(status, 101);
  ws.reset();

  ASSERT_EQ(kill(p.pid(), SIGTERM), 0);
  const int exit_status = p.Wait();
  EXPECT_TRUE(WIFEXITED(exit_status));
  EXPECT_EQ(WEXITSTATUS(exit_status), 0);

  // One line per request, the key's alias instead of the key, no token.
  const std::string& log = p.output();
  EXPECT_THAT(log, Not(HasSubstr(kSecretKey)));
  EXPECT_THAT(log, Not(HasSubstr("token")));
  int requests = 0;
  for (absl::string_view line : absl::StrSplit(log, '\n')) {
    if (absl::StrContains(line, " /api/v1/")) ++requests;
  }
  EXPECT_EQ(requests, 3) << log;
  EXPECT_THAT(log, HasSubstr("GET /api/v1/users/balance 200"));
  EXPECT_THAT(log, HasSubstr("key#1 users_balance"));
  EXPECT_THAT(log, HasSubstr("GET /api/v1/tasks/watch/all 101"));
  EXPECT_THAT(log, HasSubstr("stopped"));
  std::remove(port_file.c_str());
}

// --provider tripo|siray: the same binary serves the other APIs.
TEST(EmulatorBinaryTest, ProviderFlagServesTripoAndSiray) {
  for (const std::string provider : {"tripo", "siray"}) {
    const std::string port_file = TempPath("emulator-port-" + provider);
    std::remove(port_file.c_str());
    Process p({"--listen", "127.0.0.1:0", "--port-file", port_file,
               "--provider=" + provider, "--tripo-url-ttl=60s",
               "--tripo-unknown-duration=inf", "--siray-omit-unset-times"});
    ASSERT_GT(p.pid(), 0);
    ASSERT_TRUE(p.ReadUntil("serving", absl::Seconds(30))) << p.output();
    std::ifstream in(port_file);
    int port = 0;
    in >> port;
    ASSERT_GT(port, 0);
    const std::string base = absl::StrCat("http://127.0.0.1:", port);
    if (provider == "tripo") {
      // The default key is tsk_emulator-key.
      auto balance = HttpGet(base + "/v2/openapi/user/balance",
                             {Bearer("tsk_emulator-key")});
      EXPECT_EQ(balance.status, 200) << balance.body;
      EXPECT_THAT(balance.body, HasSubstr("\"code\":0"));
      EXPECT_FALSE(balance.header("x-tripo-trace-id").empty());
      EXPECT_EQ(
          HttpGet(base + "/api/v1/users/balance", {Bearer("tsk_emulator-key")})
              .status,
          404);
    } else {
      auto r =
          HttpGet(base + "/v1/3d/generations/3d_0", {Bearer("emulator-key")});
      EXPECT_EQ(r.status, 404) << r.body;
      EXPECT_THAT(r.body, HasSubstr("\"error\""));
    }
    ASSERT_EQ(kill(p.pid(), SIGTERM), 0);
    p.Wait();
    EXPECT_THAT(p.output(), HasSubstr("serving " + provider));
    std::remove(port_file.c_str());
  }
}

struct BadFlag {
  std::vector<std::string> args;
  std::string named;
};

class EmulatorBinaryBadFlagTest : public ::testing::TestWithParam<BadFlag> {};

TEST_P(EmulatorBinaryBadFlagTest, FailsAtStartNamingTheSetting) {
  std::vector<std::string> args = {"--listen", "127.0.0.1:0"};
  for (const std::string& a : GetParam().args) args.push_back(a);
  Process p(args);
  ASSERT_GT(p.pid(), 0);
  const int status = p.Wait();
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_NE(WEXITSTATUS(status), 0);
  EXPECT_THAT(p.output(), HasSubstr(GetParam().named));
}

INSTANTIATE_TEST_SUITE_P(
    Flags, EmulatorBinaryBadFlagTest,
    ::testing::Values(
        BadFlag{{"--repeated-order-id", "sometimes"}, "--repeated-order-id"},
        BadFlag{{"--not-ready-code", "500"}, "--not-ready-code"},
        BadFlag{{"--api-keys", "k:lots"}, "--api-keys"},
        BadFlag{{"--faults", "{\"routes\":{\"get_task\":{\"hang\":1}}}"},
                "faults.routes.get_task.hang"},
        BadFlag{{"--auth-failure-status", "404"}, "--auth-failure-status"},
        BadFlag{{"--listen", "localhost"}, "--listen"},
        BadFlag{{"--provider", "meshy"}, "--provider"},
        BadFlag{
            {"--provider", "tripo", "--tripo-ws-missing-auth-status", "403"},
            "--tripo-ws-missing-auth-status"}));

}  // namespace
}  // namespace triverse
