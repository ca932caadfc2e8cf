// The assembled gateway (every layer, real libcurl, real gRPC) against the
// in-process emulator, both on 127.0.0.1 port 0: the task lifecycle, one
// test per reachable upstream error code and per injected fault, caller
// keys, and 200 concurrent RPCs.
#include "server/gateway/gateway.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "emulator/assets.h"
#include "gmock/gmock.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "server/log/log.h"
#include "tests/emulator/testing_util/http_client.h"
#include "tests/emulator/testing_util/test_emulator.h"
#include "tests/server/testing_util/emulator_faults.h"
#include "tests/server/testing_util/log_capture.h"
#include "tests/server/testing_util/rpc_details.h"
#include "triverse/v1/task_service.grpc.pb.h"

namespace triverse::gateway {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::Not;
using testing_util::FailFirst;
using testing_util::SetFaults;
using testing_util::Stat;
using testing_util::TestEmulator;

std::optional<google::rpc::ErrorInfo> Info(const grpc::Status& status) {
  return testing_util::FindDetail<google::rpc::ErrorInfo>(status);
}
template <typename T>
bool Has(const grpc::Status& status) {
  return testing_util::HasDetail<T>(status);
}
using testing_util::Reason;

class GatewayTest : public ::testing::Test {
 protected:
  void SetUp() override { StartWith(TestEmulator::DefaultOptions()); }

  // Whatever the gateway logged during the test never holds the key.
  void TearDown() override {
    gateway_.reset();
    EXPECT_THAT(logs_.text(), Not(HasSubstr(testing_util::kKeyA)));
  }

  void StartWith(emulator::EmulatorOptions options) {
    gateway_.reset();
    emu_ = std::make_unique<TestEmulator>(std::move(options));
    ASSERT_TRUE(emu_->start_status().ok()) << emu_->start_status();
    config_.listen = "127.0.0.1:0";
    config_.upstream_url = emu_->Api("");
    config_.api_key = testing_util::kKeyA;
    config_.retry.initial_backoff = absl::Milliseconds(1);
    config_.retry.max_backoff = absl::Milliseconds(20);
    Restart();
  }

  // Restart applies config_ (after a test changed it).
  void Restart() {
    gateway_.reset();
    auto g = Gateway::Start(config_);
    ASSERT_TRUE(g.ok()) << g.status();
    gateway_ = *std::move(g);
    stub_ = v1::TaskService::NewStub(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", gateway_->port()),
                            grpc::InsecureChannelCredentials()));
  }

  static std::unique_ptr<grpc::ClientContext> Context(
      absl::Duration timeout = absl::Seconds(60)) {
    auto c = std::make_unique<grpc::ClientContext>();
    c->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
    return c;
  }

  v1::TaskCreation Create(const std::string& prompt) {
    v1::CreateTaskRequest req;
    req.mutable_text_to_model()->set_prompt(prompt);
    v1::TaskCreation created;
    auto ctx = Context();
    grpc::Status s = stub_->CreateTask(ctx.get(), req, &created);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return created;
  }

  grpc::Status Get(const std::string& uuid, v1::Task* task,
                   absl::Duration timeout = absl::Seconds(60)) {
    v1::GetTaskRequest req;
    req.set_task_uuid(uuid);
    auto ctx = Context(timeout);
    return stub_->GetTask(ctx.get(), req, task);
  }

  // RunToEnd advances the emulator's clock until the task is terminal.
  v1::Task RunToEnd(const std::string& uuid) {
    v1::Task task;
    for (int i = 0; i < 100; ++i) {
      emu_->AdvanceBy(absl::Seconds(1));
      grpc::Status s = Get(uuid, &task);
      EXPECT_TRUE(s.ok()) << s.error_message();
      if (task.status() == v1::TASK_STATUS_SUCCESS ||
          task.status() == v1::TASK_STATUS_FAILED) {
        break;
      }
    }
    return task;
  }

  testing_util::LogCapture logs_;  // first: outlives the gateway
  std::unique_ptr<TestEmulator> emu_;
  config::Config config_;
  std::unique_ptr<Gateway> gateway_;
  std::unique_ptr<v1::TaskService::Stub> stub_;
};

TEST_F(GatewayTest, TaskLifecycleEndToEnd) {
  v1::QuotePriceRequest quote_req;
  quote_req.mutable_text_to_model();  // the defaults, as Create() uses
  v1::PriceQuote quote;
  auto qctx = Context();
  ASSERT_TRUE(stub_->QuotePrice(qctx.get(), quote_req, &quote).ok());
  EXPECT_GT(quote.cost_credits(), 0);

  const v1::TaskCreation created = Create("a wooden chair");
  ASSERT_FALSE(created.task_uuid().empty());
  EXPECT_THAT(created.client_order_id(), MatchesRegex("gw-[0-9a-f]{32}"));
  EXPECT_EQ(created.cost_credits(), quote.cost_credits());

  const v1::Task done = RunToEnd(created.task_uuid());
  ASSERT_EQ(done.status(), v1::TASK_STATUS_SUCCESS);

  v1::GetDownloadUrlRequest url_req;
  url_req.set_task_uuid(created.task_uuid());
  v1::DownloadUrl url;
  auto uctx = Context();
  ASSERT_TRUE(stub_->GetDownloadUrl(uctx.get(), url_req, &url).ok());
  EXPECT_THAT(url.download_url(), HasSubstr("http://127.0.0.1"));

  v1::ListOwnModelsRequest list_req;
  list_req.set_page_size(1);
  v1::ListOwnModelsResponse list;
  auto lctx = Context();
  ASSERT_TRUE(stub_->ListOwnModels(lctx.get(), list_req, &list).ok());
  ASSERT_EQ(list.models_size(), 1);
  EXPECT_EQ(list.models(0).task_uuid(), created.task_uuid());
  EXPECT_EQ(list.total_size(), 1);
  EXPECT_EQ(list.next_page_token(), "");

  v1::Account account;
  auto actx = Context();
  ASSERT_TRUE(stub_->GetAccount(actx.get(), {}, &account).ok());
  EXPECT_EQ(account.balance().frozen(), 0);
  EXPECT_EQ(account.balance().balance(), 1000 - quote.cost_credits());
}

TEST_F(GatewayTest, HealthServesTheServerAndTheServiceByName) {
  auto health = grpc::health::v1::Health::NewStub(
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", gateway_->port()),
                          grpc::InsecureChannelCredentials()));
  for (const char* service : {"", "triverse.v1.TaskService"}) {
    grpc::health::v1::HealthCheckRequest req;
    req.set_service(service);
    grpc::health::v1::HealthCheckResponse resp;
    auto ctx = Context();
    grpc::Status s = health->Check(ctx.get(), req, &resp);
    ASSERT_TRUE(s.ok()) << service << ": " << s.error_message();
    EXPECT_EQ(resp.status(), grpc::health::v1::HealthCheckResponse::SERVING)
        << service;
  }
  grpc::health::v1::HealthCheckRequest unknown;
  unknown.set_service("no.such.Service");
  grpc::health::v1::HealthCheckResponse resp;
  auto ctx = Context();
  EXPECT_EQ(health->Check(ctx.get(), unknown, &resp).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

// ClosedPort is a loopback port nobody listens on (bound, then closed).
int ClosedPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

using grpc::health::v1::HealthCheckResponse;

HealthCheckResponse::ServingStatus HealthOf(int port,
                                            const std::string& service) {
  auto health = grpc::health::v1::Health::NewStub(grpc::CreateChannel(
      absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));
  grpc::health::v1::HealthCheckRequest req;
  req.set_service(service);
  HealthCheckResponse resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
  grpc::Status s = health->Check(&ctx, req, &resp);
  EXPECT_TRUE(s.ok()) << service << ": " << s.error_message();
  return resp.status();
}

TEST_F(GatewayTest, LivenessIsTheProcessReadinessIsTheUpstream) {
  const int port = gateway_->port();
  EXPECT_EQ(HealthOf(port, "liveness"), HealthCheckResponse::SERVING);
  EXPECT_EQ(HealthOf(port, "readiness"), HealthCheckResponse::SERVING);
  EXPECT_TRUE(gateway_->ready());

  // An upstream that refuses connections: alive, not ready.
  config_.upstream_url =
      absl::StrCat("http://127.0.0.1:", ClosedPort(), "/api/v1");
  Restart();
  const int down = gateway_->port();
  EXPECT_EQ(HealthOf(down, "liveness"), HealthCheckResponse::SERVING);
  for (const char* service : {"readiness", "", "triverse.v1.TaskService"}) {
    EXPECT_EQ(HealthOf(down, service), HealthCheckResponse::NOT_SERVING)
        << service;
  }
  EXPECT_FALSE(gateway_->ready());
}

TEST_F(GatewayTest, ReadinessFollowsTheUpstreamGoingAway) {
  GatewayOptions options;
  options.probe_interval = absl::Milliseconds(20);
  gateway_.reset();
  auto g = Gateway::Start(config_, options);
  ASSERT_TRUE(g.ok()) << g.status();
  gateway_ = *std::move(g);
  ASSERT_TRUE(gateway_->ready());
  auto health = grpc::health::v1::Health::NewStub(
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", gateway_->port()),
                          grpc::InsecureChannelCredentials()));
  grpc::health::v1::HealthCheckRequest req;
  req.set_service("readiness");
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
  auto watch = health->Watch(&ctx, req);
  HealthCheckResponse update;
  ASSERT_TRUE(watch->Read(&update));
  EXPECT_EQ(update.status(), HealthCheckResponse::SERVING);
  emu_.reset();  // the upstream goes away
  ASSERT_TRUE(watch->Read(&update));
  EXPECT_EQ(update.status(), HealthCheckResponse::NOT_SERVING);
  ctx.TryCancel();
  EXPECT_FALSE(gateway_->ready());
  EXPECT_EQ(HealthOf(gateway_->port(), "readiness"),
            HealthCheckResponse::NOT_SERVING);
  EXPECT_EQ(HealthOf(gateway_->port(), "liveness"),
            HealthCheckResponse::SERVING);
}

// ListServicesStatus asks server reflection for the services, through the
// generic stub (one request, then half-close: one response).
grpc::Status ListServicesStatus(int port, std::string* response_bytes) {
  grpc::GenericStub generic(grpc::CreateChannel(
      absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));
  const char list_services[] = {0x3a, 0x00};  // list_services = ""
  grpc::Slice slice(list_services, sizeof(list_services));
  grpc::ByteBuffer request(&slice, 1);
  grpc::ByteBuffer response;
  grpc::ClientContext ctx;
  absl::Mutex mu;
  bool done = false;
  grpc::Status status;
  generic.UnaryCall(
      &ctx, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
      grpc::StubOptions(), &request, &response, [&](grpc::Status s) {
        absl::MutexLock lock(&mu);
        status = std::move(s);
        done = true;
      });
  absl::MutexLock lock(&mu);
  EXPECT_TRUE(mu.AwaitWithTimeout(absl::Condition(&done), absl::Seconds(60)));
  std::vector<grpc::Slice> slices;
  if (status.ok() && response.Dump(&slices).ok()) {
    for (const grpc::Slice& s : slices) {
      response_bytes->append(reinterpret_cast<const char*>(s.begin()),
                             s.size());
    }
  }
  return status;
}

TEST_F(GatewayTest, ReflectionIsOnByDefaultAndCanBeTurnedOff) {
  std::string bytes;
  grpc::Status on = ListServicesStatus(gateway_->port(), &bytes);
  ASSERT_TRUE(on.ok()) << on.error_message();
  EXPECT_THAT(bytes, HasSubstr("triverse.v1.TaskService"));
  EXPECT_THAT(bytes, HasSubstr("grpc.health.v1.Health"));

  config_.reflection = false;
  Restart();
  bytes.clear();
  EXPECT_EQ(ListServicesStatus(gateway_->port(), &bytes).error_code(),
            grpc::StatusCode::UNIMPLEMENTED);
}

TEST_F(GatewayTest, MetricsAfterTrafficNameMethodsAndRoutesNeverKeysOrIds) {
  config_.metrics_listen = "127.0.0.1:0";
  Restart();
  ASSERT_GT(gateway_->metrics_port(), 0);
  const v1::TaskCreation created = Create("a measured chair");
  v1::Task task;
  ASSERT_TRUE(Get(created.task_uuid(), &task).ok());
  v1::GetTaskRequest bad;
  auto ctx = Context();
  ASSERT_FALSE(stub_->GetTask(ctx.get(), bad, &task).ok());

  const testing_util::HttpResponse scrape = testing_util::HttpGet(
      absl::StrCat("http://127.0.0.1:", gateway_->metrics_port(), "/metrics"));
  ASSERT_EQ(scrape.status, 200) << scrape.body;
  const std::string& m = scrape.body;
  EXPECT_THAT(m, HasSubstr("grpc_server_handled_total{grpc_code=\"OK\","
                           "grpc_method=\"CreateTask\","
                           "grpc_service=\"triverse.v1.TaskService\","
                           "grpc_type=\"unary\"} 1"));
  EXPECT_THAT(m, HasSubstr("grpc_code=\"InvalidArgument\",grpc_method="
                           "\"GetTask\""));
  EXPECT_THAT(m, HasSubstr("grpc_server_handling_seconds_bucket"));
  EXPECT_THAT(m, HasSubstr("triverse_upstream_requests_total{code=\"200\","
                           "endpoint=\"GET /tasks/{uuid}\"}"));
  EXPECT_THAT(m, HasSubstr("triverse_watch_streams_active 0"));
  EXPECT_THAT(m, HasSubstr("triverse_upstream_websockets_open"));
  EXPECT_THAT(m, Not(HasSubstr(created.task_uuid())));
  EXPECT_THAT(m, Not(HasSubstr(testing_util::kKeyA)));
}

TEST_F(GatewayTest, ShutdownEndsWatchesWithTheirCursorThenRefusesCalls) {
  const v1::TaskCreation created = Create("a chair to watch");
  v1::WatchTaskRequest req;
  req.set_task_uuid(created.task_uuid());
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
  auto reader = stub_->WatchTask(&ctx, req);
  v1::TaskEvent snapshot;
  ASSERT_TRUE(reader->Read(&snapshot));
  ASSERT_EQ(snapshot.kind(), v1::TASK_EVENT_KIND_SNAPSHOT);
  EXPECT_EQ(gateway_->OpenWatches(), 1);

  // The emulator's clock stands still: nothing else would end this watch.
  std::thread stopper([this] { gateway_->Shutdown(absl::Seconds(10)); });
  v1::TaskEvent more;
  while (reader->Read(&more)) snapshot = more;
  const grpc::Status status = reader->Finish();
  stopper.join();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(Reason(status), "GATEWAY_SHUTTING_DOWN");
  EXPECT_THAT(status.error_message(), HasSubstr("resume with the cursor"));
  auto info = testing_util::FindDetail<google::rpc::ErrorInfo>(status);
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->metadata().at("cursor"), snapshot.cursor());
  auto retry = testing_util::FindDetail<google::rpc::RetryInfo>(status);
  ASSERT_TRUE(retry.has_value());

  v1::Task task;
  EXPECT_EQ(Get(created.task_uuid(), &task, absl::Seconds(5)).error_code(),
            grpc::StatusCode::UNAVAILABLE);
}

// WatchTask and WatchTasks read their requests themselves (raw methods): a
// message that does not parse is INVALID_ARGUMENT with its reason.
TEST_F(GatewayTest, UnparsableWatchRequestIsInvalidArgument) {
  grpc::GenericStub generic(
      grpc::CreateChannel(absl::StrCat("127.0.0.1:", gateway_->port()),
                          grpc::InsecureChannelCredentials()));
  for (const char* method : {"/triverse.v1.TaskService/WatchTask",
                             "/triverse.v1.TaskService/WatchTasks"}) {
    // Field 1, length-delimited, announcing 100 bytes that never come.
    const char bad[] = {0x0a, 0x64, 'x'};
    grpc::Slice slice(bad, sizeof(bad));
    grpc::ByteBuffer request(&slice, 1);
    grpc::ClientContext ctx;
    absl::Mutex mu;
    bool done = false;
    grpc::Status status;
    grpc::StubOptions options;
    // A server-streaming call made through the generic unary helper: the
    // gateway ends it before any message, so only the status matters.
    grpc::ByteBuffer response;
    generic.UnaryCall(&ctx, method, options, &request, &response,
                      [&](grpc::Status s) {
                        absl::MutexLock lock(&mu);
                        status = std::move(s);
                        done = true;
                      });
    absl::MutexLock lock(&mu);
    ASSERT_TRUE(mu.AwaitWithTimeout(absl::Condition(&done), absl::Seconds(60)));
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << method;
    EXPECT_THAT(status.error_message(), HasSubstr("the request is not a"));
    EXPECT_EQ(Reason(status), "INVALID_REQUEST");
  }
}

TEST_F(GatewayTest, GetRightAfterCreateSeesTheTask) {
  // The emulator hides a new task from plain reads for 1 s (its
  // read-after-write window, on the fake clock that does not move here).
  const v1::TaskCreation created = Create("a stone table");
  v1::Task task;
  grpc::Status s = Get(created.task_uuid(), &task);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(task.task_uuid(), created.task_uuid());
}

TEST_F(GatewayTest, RetriedCreateMakesOneTask) {
  FailFirst(*emu_, "create_task", R"({"internal_error_rate": 0.5})");
  const v1::TaskCreation created = Create("a brass lamp");
  EXPECT_FALSE(created.task_uuid().empty());
  EXPECT_GT(Stat(*emu_, "faults_injected"), 0);
  EXPECT_EQ(Stat(*emu_, "tasks_created"), 1);
  SetFaults(*emu_, R"({"reset": true})");
  v1::Account account;
  auto ctx = Context();
  ASSERT_TRUE(stub_->GetAccount(ctx.get(), {}, &account).ok());
  EXPECT_EQ(account.balance().frozen(),
            static_cast<double>(created.cost_credits()));
}

TEST_F(GatewayTest, UnavailableBurstIsRetried) {
  const v1::TaskCreation created = Create("a glass vase");
  FailFirst(*emu_, "get_task", R"({"unavailable_rate": 0.5})");
  v1::Task task;
  grpc::Status s = Get(created.task_uuid(), &task);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_GT(Stat(*emu_, "faults_injected"), 0);
}

TEST_F(GatewayTest, PersistentUnavailableIsUnavailableWithRetryInfo) {
  SetFaults(*emu_, R"({"reset": true, "routes": {"users_me":
      {"unavailable_rate": 1}}})");
  v1::Account account;
  auto ctx = Context();
  grpc::Status s = stub_->GetAccount(ctx.get(), {}, &account);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(Reason(s), "BACKEND_UNAVAILABLE");
  EXPECT_TRUE(Has<google::rpc::RetryInfo>(s));
  auto info = Info(s);
  ASSERT_TRUE(info);
  EXPECT_EQ(info->metadata().at("upstreamCode"), "5003");
}

// A call that fails on the server's side is logged (JSON, one line) with
// the trace id of the caller's traceparent; a client-side error is not.
TEST_F(GatewayTest, ServerSideFailuresAreLoggedWithTheCallersTraceId) {
  SetFaults(*emu_, R"({"reset": true, "routes": {"users_me":
      {"unavailable_rate": 1}}})");
  v1::Account account;
  auto ctx = Context();
  ctx->AddMetadata("traceparent",
                   "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  EXPECT_EQ(stub_->GetAccount(ctx.get(), {}, &account).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  v1::Task task;
  EXPECT_EQ(Get("", &task).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  gateway_.reset();  // every call has ended: its line is written
  const std::string text = logs_.text();
  EXPECT_THAT(text, HasSubstr(R"("message":"upstream reachable: ready")"));
  EXPECT_THAT(text, HasSubstr(R"("severity":"WARNING")"));
  EXPECT_THAT(text,
              HasSubstr(R"("method":"/triverse.v1.TaskService/GetAccount")"));
  EXPECT_THAT(text, HasSubstr(R"("code":"UNAVAILABLE")"));
  EXPECT_THAT(text,
              HasSubstr(R"("trace_id":"4bf92f3577b34da6a3ce929d0e0e4736")"));
  EXPECT_THAT(text, Not(HasSubstr("GetTask")));
  EXPECT_THAT(text, Not(HasSubstr(testing_util::kKeyA)));
}

TEST_F(GatewayTest, PersistenceErrorIsUnavailable) {
  SetFaults(*emu_, R"({"reset": true, "routes": {"users_balance":
      {"internal_error_rate": 1}}})");
  v1::Account account;
  auto ctx = Context();
  grpc::Status s = stub_->GetAccount(ctx.get(), {}, &account);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(Reason(s), "PERSISTENCE_ERROR");
}

TEST_F(GatewayTest, RateLimitIsRetriedAfterRetryAfter) {
  const v1::TaskCreation created = Create("a copper kettle");
  FailFirst(*emu_, "get_task",
            R"({"rate_limit_rate": 0.5, "retry_after_seconds": 1})");
  const absl::Time start = absl::Now();
  v1::Task task;
  grpc::Status s = Get(created.task_uuid(), &task);
  ASSERT_TRUE(s.ok()) << s.error_message();
  // The retry waited for the announced second (a lower bound only).
  EXPECT_GE(absl::Now() - start, absl::Seconds(1));
}

TEST_F(GatewayTest, RateLimitWithoutRetriesLeftIsResourceExhausted) {
  config_.retry.max_attempts = 1;
  Restart();
  SetFaults(*emu_, R"({"reset": true, "routes": {"users_me":
      {"rate_limit_rate": 1, "retry_after_seconds": 7}}})");
  v1::Account account;
  auto ctx = Context();
  grpc::Status s = stub_->GetAccount(ctx.get(), {}, &account);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(Reason(s), "RATE_LIMITED");
  EXPECT_TRUE(Has<google::rpc::RetryInfo>(s));
  EXPECT_TRUE(Has<google::rpc::QuotaFailure>(s));
}

TEST_F(GatewayTest, TruncatedBodyIsRetriedThenUnavailable) {
  const v1::TaskCreation created = Create("a leather boot");
  FailFirst(*emu_, "get_task", R"({"truncate_rate": 0.5})");
  v1::Task task;
  grpc::Status s = Get(created.task_uuid(), &task);
  ASSERT_TRUE(s.ok()) << s.error_message();

  SetFaults(*emu_,
            R"({"reset": true, "routes": {"get_task": {"truncate_rate": 1}}})");
  s = Get(created.task_uuid(), &task);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(Reason(s), "UPSTREAM_UNAVAILABLE");
}

TEST_F(GatewayTest, HungUpstreamEndsAtTheCallersDeadline) {
  const v1::TaskCreation created = Create("a silver spoon");
  SetFaults(*emu_,
            R"({"reset": true, "routes": {"get_task": {"hang_rate": 1}}})");
  v1::Task task;
  grpc::Status s = Get(created.task_uuid(), &task, absl::Milliseconds(500));
  EXPECT_EQ(s.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  // The gateway is still healthy afterwards.
  SetFaults(*emu_, R"({"reset": true})");
  s = Get(created.task_uuid(), &task);
  EXPECT_TRUE(s.ok()) << s.error_message();
}

TEST_F(GatewayTest, UnknownTaskIsNotFound) {
  v1::Task task;
  grpc::Status s = Get("00000000-0000-4000-8000-000000000000", &task);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Reason(s), "TASK_NOT_FOUND");
  auto info = Info(s);
  ASSERT_TRUE(info);
  EXPECT_EQ(info->metadata().at("upstreamCode"), "1006");
}

TEST_F(GatewayTest, UnknownFileKeyIsInvalidArgumentFromUpstream) {
  v1::CreateTaskRequest req;
  req.mutable_image_to_model()->set_image_file("tasks/uid_x/20260101/none.png");
  v1::TaskCreation created;
  auto ctx = Context();
  grpc::Status s = stub_->CreateTask(ctx.get(), req, &created);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Reason(s), "INVALID_PARAMETERS");
  EXPECT_TRUE(Has<google::rpc::BadRequest>(s));
  EXPECT_EQ(Stat(*emu_, "tasks_created"), 0);
}

TEST_F(GatewayTest, ModerationIsContentViolation) {
  v1::CreateTaskRequest req;
  req.mutable_text_to_model()->set_prompt("something forbidden");
  v1::TaskCreation created;
  auto ctx = Context();
  grpc::Status s = stub_->CreateTask(ctx.get(), req, &created);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Reason(s), "CONTENT_VIOLATION");
}

TEST_F(GatewayTest, DownloadUrlBeforeSuccessIsFailedPrecondition) {
  const v1::TaskCreation created = Create("a paper crane");
  emu_->AdvanceBy(absl::Seconds(2));  // past the read-after-write window
  v1::GetDownloadUrlRequest req;
  req.set_task_uuid(created.task_uuid());
  v1::DownloadUrl url;
  auto ctx = Context();
  grpc::Status s = stub_->GetDownloadUrl(ctx.get(), req, &url);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(Reason(s), "TASK_STATE_CONFLICT");
  EXPECT_TRUE(Has<google::rpc::PreconditionFailure>(s));
}

TEST_F(GatewayTest, SuccessWithoutAssetsIsNoAssets) {
  SetFaults(*emu_, R"({"reset": true, "tasks": {"no_assets_rate": 1}})");
  const v1::TaskCreation created = Create("an empty box");
  ASSERT_EQ(RunToEnd(created.task_uuid()).status(), v1::TASK_STATUS_SUCCESS);
  v1::GetDownloadUrlRequest req;
  req.set_task_uuid(created.task_uuid());
  v1::DownloadUrl url;
  auto ctx = Context();
  grpc::Status s = stub_->GetDownloadUrl(ctx.get(), req, &url);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Reason(s), "NO_ASSETS");
}

TEST_F(GatewayTest, InsufficientCreditsIsResourceExhaustedWithoutRetry) {
  emulator::EmulatorOptions options = TestEmulator::DefaultOptions();
  options.engine.keys = {{testing_util::kKeyA, 1, "", ""}};
  StartWith(std::move(options));
  v1::CreateTaskRequest req;
  req.mutable_text_to_model()->set_prompt("a marble statue");
  v1::TaskCreation created;
  auto ctx = Context();
  grpc::Status s = stub_->CreateTask(ctx.get(), req, &created);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(Reason(s), "INSUFFICIENT_CREDITS");
  EXPECT_TRUE(Has<google::rpc::QuotaFailure>(s));
  EXPECT_FALSE(Has<google::rpc::RetryInfo>(s));
}

TEST_F(GatewayTest, RejectedGatewayKeyIsInternalNotTheCallersFault) {
  config_.api_key = "not-a-key";
  Restart();
  v1::Account account;
  auto ctx = Context();
  grpc::Status s = stub_->GetAccount(ctx.get(), {}, &account);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INTERNAL);
  EXPECT_EQ(Reason(s), "UPSTREAM_CREDENTIALS_REJECTED");
  EXPECT_THAT(s.error_message(), ::testing::Not(HasSubstr("not-a-key")));
}

TEST_F(GatewayTest, CallerKeysSeparateTenants) {
  config_.api_key.clear();
  config_.allow_caller_keys = true;
  Restart();
  auto create = [&](const char* key, const char* prompt) {
    v1::CreateTaskRequest req;
    req.mutable_text_to_model()->set_prompt(prompt);
    v1::TaskCreation created;
    auto ctx = Context();
    ctx->AddMetadata("x-triverse-api-key", key);
    grpc::Status s = stub_->CreateTask(ctx.get(), req, &created);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return created;
  };
  create(testing_util::kKeyA, "tenant a's chair");
  const v1::TaskCreation b = create(testing_util::kKeyB, "tenant b's chair");

  v1::ListOwnModelsResponse list;
  auto ctx = Context();
  ctx->AddMetadata("x-triverse-api-key", testing_util::kKeyB);
  ASSERT_TRUE(stub_->ListOwnModels(ctx.get(), {}, &list).ok());
  ASSERT_EQ(list.models_size(), 1);
  EXPECT_EQ(list.models(0).task_uuid(), b.task_uuid());

  v1::Account account;
  auto bad = Context();
  bad->AddMetadata("x-triverse-api-key", "wrong-key");
  grpc::Status s = stub_->GetAccount(bad.get(), {}, &account);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Reason(s), "API_KEY_INVALID");

  auto none = Context();
  s = stub_->GetAccount(none.get(), {}, &account);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Reason(s), "API_KEY_MISSING");
}

TEST_F(GatewayTest, UploadThenCreateThenDownload) {
  const std::string png = emulator::MakePng(7, 64, 64);
  grpc::ClientContext up_ctx;
  up_ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
  v1::UploadFileResponse uploaded;
  {
    auto writer = stub_->UploadFile(&up_ctx, &uploaded);
    v1::UploadFileRequest meta;
    meta.mutable_metadata()->set_kind(v1::FILE_KIND_IMAGE);
    meta.mutable_metadata()->set_file_name("chair.png");
    meta.mutable_metadata()->set_content_type("image/png");
    meta.mutable_metadata()->set_size_bytes(static_cast<int64_t>(png.size()));
    ASSERT_TRUE(writer->Write(meta));
    for (size_t at = 0; at < png.size(); at += 1000) {
      v1::UploadFileRequest chunk;
      chunk.set_chunk(png.substr(at, 1000));
      ASSERT_TRUE(writer->Write(chunk));
    }
    writer->WritesDone();
    grpc::Status s = writer->Finish();
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  EXPECT_THAT(uploaded.file_key(), MatchesRegex("tasks/.*\\.png"));

  v1::CreateTaskRequest req;
  req.mutable_image_to_model()->set_image_file(uploaded.file_key());
  v1::TaskCreation created;
  auto ctx = Context();
  grpc::Status s = stub_->CreateTask(ctx.get(), req, &created);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(RunToEnd(created.task_uuid()).status(), v1::TASK_STATUS_SUCCESS);

  v1::DownloadAssetRequest dl;
  dl.set_task_uuid(created.task_uuid());
  auto dctx = Context();
  auto reader = stub_->DownloadAsset(dctx.get(), dl);
  v1::DownloadAssetResponse msg;
  ASSERT_TRUE(reader->Read(&msg));
  ASSERT_TRUE(msg.has_metadata());
  EXPECT_EQ(msg.metadata().file_name(),
            absl::StrCat(created.task_uuid(), ".glb"));
  std::string bytes;
  while (reader->Read(&msg)) {
    ASSERT_TRUE(msg.has_chunk());
    bytes += msg.chunk();
  }
  s = reader->Finish();
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(bytes.substr(0, 4), "glTF");
  if (msg.metadata().has_size_bytes()) {
    EXPECT_EQ(static_cast<int64_t>(bytes.size()), msg.metadata().size_bytes());
  }
}

TEST_F(GatewayTest, UploadAcceptsChunksLargerThanGrpcsDefault) {
  // One 8 MiB message: above gRPC's 4 MiB default receive limit.
  const std::string model(size_t{8} << 20, 'v');
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
  v1::UploadFileResponse uploaded;
  auto writer = stub_->UploadFile(&ctx, &uploaded);
  v1::UploadFileRequest meta;
  meta.mutable_metadata()->set_kind(v1::FILE_KIND_MODEL);
  meta.mutable_metadata()->set_file_name("big.obj");
  ASSERT_TRUE(writer->Write(meta));
  v1::UploadFileRequest chunk;
  chunk.set_chunk(model);
  ASSERT_TRUE(writer->Write(chunk));
  writer->WritesDone();
  grpc::Status s = writer->Finish();
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_THAT(uploaded.file_key(), MatchesRegex("tasks/.*\\.obj"));
}

TEST_F(GatewayTest, DownloadBeforeSuccessIsFailedPrecondition) {
  const v1::TaskCreation created = Create("an unfinished bench");
  emu_->AdvanceBy(absl::Seconds(2));
  v1::DownloadAssetRequest dl;
  dl.set_task_uuid(created.task_uuid());
  auto ctx = Context();
  auto reader = stub_->DownloadAsset(ctx.get(), dl);
  v1::DownloadAssetResponse msg;
  EXPECT_FALSE(reader->Read(&msg));
  grpc::Status s = reader->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(Reason(s), "TASK_STATE_CONFLICT");
}

TEST_F(GatewayTest, TwoHundredConcurrentRpcsCompleteCorrectly) {
  std::vector<std::string> uuids;
  for (int i = 0; i < 4; ++i) {
    uuids.push_back(Create(absl::StrCat("concurrent chair ", i)).task_uuid());
  }
  constexpr int kCalls = 200;
  struct Call {
    grpc::ClientContext ctx;
    v1::GetTaskRequest req;
    v1::Task task;
    grpc::Status status;
  };
  std::vector<std::unique_ptr<Call>> calls;
  // Shared with the callbacks, which may still be unwinding when the wait
  // below ends.
  struct Done {
    absl::Mutex mu;
    int remaining ABSL_GUARDED_BY(mu) = kCalls;
  };
  auto done = std::make_shared<Done>();
  for (int i = 0; i < kCalls; ++i) {
    auto call = std::make_unique<Call>();
    call->ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
    call->req.set_task_uuid(uuids[i % uuids.size()]);
    calls.push_back(std::move(call));
  }
  for (auto& call : calls) {
    Call* c = call.get();
    stub_->async()->GetTask(&c->ctx, &c->req, &c->task,
                            [c, done](grpc::Status s) {
                              absl::MutexLock lock(&done->mu);
                              c->status = std::move(s);
                              --done->remaining;
                            });
  }
  {
    absl::MutexLock lock(&done->mu);
    ASSERT_TRUE(done->mu.AwaitWithTimeout(
        absl::Condition(
            +[](Done* d)
                 ABSL_NO_THREAD_SAFETY_ANALYSIS { return d->remaining == 0; },
            done.get()),
        absl::Seconds(120)));
  }
  for (const auto& call : calls) {
    ASSERT_TRUE(call->status.ok()) << call->status.error_message();
    EXPECT_EQ(call->task.task_uuid(), call->req.task_uuid());
  }
}

}  // namespace
}  // namespace triverse::gateway
