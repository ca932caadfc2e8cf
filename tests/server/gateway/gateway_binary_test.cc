// Tests of the triverse-gateway binary: configuration errors name the
// setting, the port file, serving against the emulator, and a clean drain
// on SIGTERM.
#include <signal.h>
#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "tests/emulator/testing_util/process.h"
#include "tests/emulator/testing_util/test_emulator.h"
#include "triverse/v1/task_service.grpc.pb.h"

namespace triverse {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing_util::TempPath;

constexpr absl::Duration kWait = absl::Seconds(60);

class Gateway : public testing_util::Process {
 public:
  explicit Gateway(std::vector<std::string> args,
                   std::vector<std::string> env = {})
      : testing_util::Process(TRIVERSE_GATEWAY_BINARY, std::move(args),
                              std::move(env)) {}
};

int ExitCode(int status) {
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(GatewayBinaryTest, MissingKeyFailsAtStartNamingTheSettings) {
  Gateway p({"--listen=127.0.0.1:0"},
            {"TRIVERSE_API_KEY", "TRIVERSE_API_KEY_FILE", "TRIVERSE_CONFIG"});
  ASSERT_GT(p.pid(), 0);
  EXPECT_EQ(ExitCode(p.Wait()), 2);
  EXPECT_THAT(p.output(), HasSubstr("TRIVERSE_API_KEY"));
}

TEST(GatewayBinaryTest, BadSettingIsNamedWithItsSource) {
  Gateway p({"--listen=127.0.0.1:0", "--retry-max-attempts=99"},
            {"TRIVERSE_API_KEY=k"});
  EXPECT_EQ(ExitCode(p.Wait()), 2);
  EXPECT_THAT(p.output(), HasSubstr("--retry-max-attempts"));
  EXPECT_THAT(p.output(), HasSubstr("1-10"));

  Gateway env({}, {"TRIVERSE_API_KEY=k", "TRIVERSE_UPSTREAM_URL=ftp://x"});
  EXPECT_EQ(ExitCode(env.Wait()), 2);
  EXPECT_THAT(env.output(), HasSubstr("TRIVERSE_UPSTREAM_URL"));
}

TEST(GatewayBinaryTest, KeyAsFlagIsRefusedWithoutEchoingIt) {
  Gateway p({"--api-key=sk-secret-flag-value"}, {"TRIVERSE_API_KEY=k"});
  EXPECT_EQ(ExitCode(p.Wait()), 2);
  EXPECT_THAT(p.output(), HasSubstr("--api-key-file"));
  EXPECT_THAT(p.output(), Not(HasSubstr("sk-secret-flag-value")));
}

TEST(GatewayBinaryTest, UnknownFlagIsAUsageError) {
  Gateway p({"--listen-port=1"}, {"TRIVERSE_API_KEY=k"});
  EXPECT_EQ(ExitCode(p.Wait()), 2);
  EXPECT_THAT(p.output(), HasSubstr("unknown flag --listen-port"));
}

TEST(GatewayBinaryTest, ServesFromAKeyFileAndDrainsOnSigterm) {
  testing_util::TestEmulator emu;
  ASSERT_TRUE(emu.start_status().ok());
  const std::string key_file = TempPath("gateway-key");
  {
    std::ofstream out(key_file);
    out << testing_util::kKeyA << "\n";  // trailing newline, as Secrets have
  }
  const std::string port_file = TempPath("gateway-port");
  std::remove(port_file.c_str());
  Gateway p({"--listen", "127.0.0.1:0", "--port-file", port_file,
             absl::StrCat("--upstream-url=", emu.Api("")),
             absl::StrCat("--api-key-file=", key_file)},
            {"TRIVERSE_API_KEY"});
  ASSERT_GT(p.pid(), 0);
  ASSERT_TRUE(p.ReadUntil("serving", kWait)) << p.output();
  int port = 0;
  std::ifstream(port_file) >> port;
  ASSERT_GT(port, 0);

  {  // The channel closes before the signal, as clients do.
    auto stub = v1::TaskService::NewStub(grpc::CreateChannel(
        absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + kWait));
    v1::Account account;
    grpc::Status s = stub->GetAccount(&ctx, {}, &account);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(account.balance().balance(), 1000);
    EXPECT_THAT(p.output(), Not(HasSubstr(testing_util::kKeyA)));
  }
  kill(p.pid(), SIGTERM);
  EXPECT_EQ(ExitCode(p.Wait()), 0);
  EXPECT_THAT(p.output(), HasSubstr("draining"));
  std::remove(key_file.c_str());
  std::remove(port_file.c_str());
}

}  // namespace
}  // namespace triverse
