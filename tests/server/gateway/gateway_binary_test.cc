// Tests of the triverse-gateway binary: configuration errors name the
// setting, the port file, serving against the emulator, and a clean drain
// on SIGTERM.
#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "google/rpc/error_details.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "tests/emulator/testing_util/process.h"
#include "tests/emulator/testing_util/test_emulator.h"
#include "tests/server/testing_util/rpc_details.h"
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
             "--metrics-listen=127.0.0.1:0",
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
  EXPECT_THAT(p.output(), HasSubstr(R"("message":"shutting down)"));
  EXPECT_THAT(p.output(), HasSubstr(R"("watch_streams":"0")"));
  EXPECT_THAT(p.output(), HasSubstr(R"("message":"stopped")"));
  // Every line it printed is one JSON object (the default log format).
  for (absl::string_view line :
       absl::StrSplit(p.output(), '\n', absl::SkipEmpty())) {
    EXPECT_TRUE(absl::StartsWith(line, R"({"time":")") &&
                absl::EndsWith(line, "}"))
        << line;
    EXPECT_THAT(std::string(line), HasSubstr(R"("severity":")"));
  }
  std::remove(key_file.c_str());
  std::remove(port_file.c_str());
}

// StartGateway runs the binary on a free port against `emu` and returns
// its port (0 on failure).
int StartGateway(Gateway& p, const std::string& port_file) {
  if (p.pid() <= 0 || !p.ReadUntil("serving", kWait)) return 0;
  int port = 0;
  std::ifstream(port_file) >> port;
  return port;
}

std::vector<std::string> GatewayArgs(const testing_util::TestEmulator& emu,
                                     const std::string& port_file) {
  return {"--listen=127.0.0.1:0",
          "--port-file",
          port_file,
          absl::StrCat("--upstream-url=", emu.Api("")),
          "--shutdown-grace=10s",
          "--metrics-listen=127.0.0.1:0"};
}

// The issue's rolling-update story: SIGTERM while watches are open. Health
// turns NOT_SERVING, the watch ends with UNAVAILABLE and its cursor, the
// process exits 0 in time, and the watcher resumes on another instance and
// gets the rest of the task, ending with one FINALIZED.
TEST(GatewayBinaryTest, SigtermEndsWatchesWithACursorToResumeElsewhere) {
  testing_util::TestEmulator emu;
  ASSERT_TRUE(emu.start_status().ok());
  emu.clock().Set(absl::Now());  // the hub's `since` is in real time
  const std::string port_a = TempPath("gateway-a-port");
  const std::string port_b = TempPath("gateway-b-port");
  std::remove(port_a.c_str());
  std::remove(port_b.c_str());
  const std::string key_env =
      absl::StrCat("TRIVERSE_API_KEY=", testing_util::kKeyA);
  Gateway a(GatewayArgs(emu, port_a), {key_env});
  const int a_port = StartGateway(a, port_a);
  ASSERT_GT(a_port, 0) << a.output();

  auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", a_port),
                                     grpc::InsecureChannelCredentials());
  auto stub = v1::TaskService::NewStub(channel);
  v1::TaskCreation created;
  {
    v1::CreateTaskRequest req;
    req.mutable_text_to_model()->set_prompt("a chair through a restart");
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + kWait));
    ASSERT_TRUE(stub->CreateTask(&ctx, req, &created).ok());
  }
  auto health = grpc::health::v1::Health::NewStub(channel);
  grpc::health::v1::HealthCheckRequest readiness;
  readiness.set_service("readiness");
  grpc::ClientContext health_ctx;
  health_ctx.set_deadline(absl::ToChronoTime(absl::Now() + kWait));
  auto health_watch = health->Watch(&health_ctx, readiness);
  grpc::health::v1::HealthCheckResponse state;
  ASSERT_TRUE(health_watch->Read(&state));
  EXPECT_EQ(state.status(), grpc::health::v1::HealthCheckResponse::SERVING);

  v1::WatchTaskRequest watch_req;
  watch_req.set_task_uuid(created.task_uuid());
  grpc::ClientContext watch_ctx;
  watch_ctx.set_deadline(absl::ToChronoTime(absl::Now() + kWait));
  auto watch = stub->WatchTask(&watch_ctx, watch_req);
  v1::TaskEvent last;
  ASSERT_TRUE(watch->Read(&last));
  ASSERT_EQ(last.kind(), v1::TASK_EVENT_KIND_SNAPSHOT);

  const absl::Time signalled = absl::Now();
  kill(a.pid(), SIGTERM);
  ASSERT_TRUE(health_watch->Read(&state));
  EXPECT_EQ(state.status(), grpc::health::v1::HealthCheckResponse::NOT_SERVING);
  // A health watch is a call in flight too: the client ends it, or the
  // gateway would wait for it until the end of the grace period.
  health_ctx.TryCancel();
  v1::TaskEvent more;
  while (watch->Read(&more)) last = more;
  const grpc::Status ended = watch->Finish();
  EXPECT_EQ(ended.error_code(), grpc::StatusCode::UNAVAILABLE);
  auto info = testing_util::FindDetail<google::rpc::ErrorInfo>(ended);
  ASSERT_TRUE(info.has_value()) << ended.error_message();
  EXPECT_EQ(info->reason(), "GATEWAY_SHUTTING_DOWN");
  const std::string cursor = info->metadata().at("cursor");
  EXPECT_EQ(cursor, last.cursor());
  EXPECT_EQ(ExitCode(a.Wait()), 0);
  EXPECT_LT(absl::Now() - signalled, absl::Seconds(10));
  EXPECT_THAT(a.output(), HasSubstr(R"("watch_streams":"1")"));

  // Another instance takes over: the watcher resumes from its cursor.
  Gateway b(GatewayArgs(emu, port_b), {key_env});
  const int b_port = StartGateway(b, port_b);
  ASSERT_GT(b_port, 0) << b.output();
  auto stub_b = v1::TaskService::NewStub(grpc::CreateChannel(
      absl::StrCat("127.0.0.1:", b_port), grpc::InsecureChannelCredentials()));
  watch_req.set_resume_cursor(cursor);
  grpc::ClientContext resume_ctx;
  resume_ctx.set_deadline(absl::ToChronoTime(absl::Now() + kWait));
  auto resumed = stub_b->WatchTask(&resume_ctx, watch_req);
  int finalized = 0;
  v1::Task final_task;
  std::atomic<bool> watching{true};
  std::thread clock([&emu, &watching] {
    // The task runs on the emulator's clock: move it while the watch is
    // open, until the watch has ended (or the task surely has).
    for (int i = 0; i < 120 && watching; ++i) emu.AdvanceBy(absl::Seconds(1));
  });
  while (resumed->Read(&more)) {
    EXPECT_NE(more.kind(), v1::TASK_EVENT_KIND_UNSPECIFIED);
    EXPECT_GE(more.task().progress(), last.task().progress());
    if (more.kind() == v1::TASK_EVENT_KIND_FINALIZED) {
      ++finalized;
      final_task = more.task();
    }
    last = more;
  }
  watching = false;
  clock.join();
  grpc::Status done = resumed->Finish();
  EXPECT_TRUE(done.ok()) << done.error_message();
  EXPECT_EQ(finalized, 1);
  EXPECT_EQ(final_task.status(), v1::TASK_STATUS_SUCCESS);
  kill(b.pid(), SIGTERM);
  EXPECT_EQ(ExitCode(b.Wait()), 0);
  for (const Gateway* g : {&a, &b}) {
    EXPECT_THAT(g->output(), Not(HasSubstr(testing_util::kKeyA)));
  }
  std::remove(port_a.c_str());
  std::remove(port_b.c_str());
}

}  // namespace
}  // namespace triverse
