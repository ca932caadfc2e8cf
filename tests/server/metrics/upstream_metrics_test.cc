// The upstream observers against the in-process emulator: RestTriverseStub
// reports endpoint templates and HTTP statuses (or transport error names),
// TriverseConnection reports its retries, and a scrape after traffic
// through the whole stack (gRPC server, TaskServiceImpl, watch hubs) holds
// neither the API key nor a task id.
#include <memory>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "server/http/curl_engine.h"
#include "server/metrics/metrics.h"
#include "server/service/fanout_pool.h"
#include "server/service/task_service.h"
#include "server/upstream/scheduler.h"
#include "server/upstream/triverse_connection.h"
#include "server/upstream/triverse_stub.h"
#include "server/upstream/watch_hub.h"
#include "tests/emulator/testing_util/http_client.h"
#include "tests/emulator/testing_util/test_emulator.h"
#include "tests/server/testing_util/await.h"
#include "tests/server/testing_util/emulator_faults.h"
#include "tests/server/testing_util/loopback.h"
#include "triverse/v1/task_service.grpc.pb.h"

namespace triverse::metrics {
namespace {

using testing_util::Await;

using ::testing::HasSubstr;
using ::testing::Not;
using testing_util::kKeyA;
using testing_util::TestEmulator;

constexpr absl::Duration kWait = absl::Seconds(30);

::testing::Matcher<std::string> HasLine(const std::string& line) {
  return HasSubstr(absl::StrCat("\n", line, "\n"));
}

class UpstreamMetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    emu_ = std::make_unique<TestEmulator>();
    ASSERT_TRUE(emu_->start_status().ok()) << emu_->start_status();
    auto m = Metrics::Create({});
    ASSERT_TRUE(m.ok()) << m.status();
    metrics_ = *std::move(m);
    auto engine = http::CurlEngine::Create({});
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = *std::move(engine);
    stub_ = MakeStub(emu_->Api(""));
    upstream::TriverseConnectionOptions options;
    options.initial_backoff = absl::Milliseconds(1);
    options.max_backoff = absl::Milliseconds(5);
    options.on_retry = metrics_->RetryObserver();
    connection_ = upstream::MakeTriverseConnection(stub_, &scheduler_,
                                                   std::move(options));
  }

  void TearDown() override {
    connection_.reset();
    // The engine first: its last callbacks (CANCELLED) run into the stubs.
    engine_.reset();
    stub_.reset();
    other_stubs_.clear();
  }

  std::shared_ptr<upstream::RestTriverseStub> MakeStub(std::string base_url) {
    upstream::RestTriverseStub::Options o;
    o.base_url = std::move(base_url);
    o.observer = metrics_->UpstreamObserver();
    return std::make_shared<upstream::RestTriverseStub>(engine_.get(),
                                                        std::move(o));
  }

  static upstream::CallOptions Key() {
    upstream::CallOptions o;
    o.api_key = kKeyA;
    o.timeout = absl::Seconds(10);
    return o;
  }

  static upstream::CallContext Context() {
    upstream::CallContext c;
    c.api_key = kKeyA;
    c.deadline = absl::Now() + kWait;
    return c;
  }

  // Create makes a task through the stub; the result carries the
  // read-after-write header a GetTask must send to see it at once.
  v1::TaskCreation Create() {
    v1::CreateTaskRequest request;
    request.mutable_text_to_model()->set_prompt("a wooden chair");
    auto created = Await<v1::TaskCreation>([&](auto done) {
      stub_->CreateTask(request, "order-1", Key(), std::move(done));
    });
    EXPECT_TRUE(created.ok()) << created.status();
    return created.ok() ? *created : v1::TaskCreation();
  }

  std::unique_ptr<TestEmulator> emu_;
  std::unique_ptr<Metrics> metrics_;
  upstream::ThreadScheduler scheduler_;
  std::unique_ptr<http::CurlEngine> engine_;
  std::shared_ptr<upstream::RestTriverseStub> stub_;
  std::vector<std::shared_ptr<upstream::RestTriverseStub>> other_stubs_;
  std::shared_ptr<upstream::TriverseConnection> connection_;
};

TEST_F(UpstreamMetricsTest, StubReportsEndpointTemplatesAndStatuses) {
  const v1::TaskCreation created = Create();
  const std::string uuid = created.task_uuid();
  ASSERT_FALSE(uuid.empty());
  auto task = Await<v1::Task>([&](auto done) {
    stub_->GetTask(uuid, created.read_after_write_header(), Key(),
                   std::move(done));
  });
  ASSERT_TRUE(task.ok()) << task.status();
  const std::string missing = "0b9d1c1e-0000-4000-8000-00000000dead";
  auto not_found = Await<v1::Task>(
      [&](auto done) { stub_->GetTask(missing, "", Key(), std::move(done)); });
  ASSERT_EQ(not_found.status().code(), absl::StatusCode::kNotFound);
  auto balance = Await<v1::Balance>(
      [&](auto done) { stub_->GetBalance(Key(), std::move(done)); });
  ASSERT_TRUE(balance.ok()) << balance.status();
  // Rejected before the network: not an upstream request.
  auto invalid = Await<v1::Task>(
      [&](auto done) { stub_->GetTask("a/b", "", Key(), std::move(done)); });
  ASSERT_EQ(invalid.status().code(), absl::StatusCode::kInvalidArgument);

  const std::string text = metrics_->Scrape();
  EXPECT_THAT(text, HasLine("# TYPE triverse_upstream_requests_total counter"));
  EXPECT_THAT(text, HasLine(R"(triverse_upstream_requests_total{code="200",)"
                            R"(endpoint="POST /tasks/text-to-model"} 1)"));
  EXPECT_THAT(text, HasLine(R"(triverse_upstream_requests_total{code="200",)"
                            R"(endpoint="GET /tasks/{uuid}"} 1)"));
  EXPECT_THAT(text, HasLine(R"(triverse_upstream_requests_total{code="404",)"
                            R"(endpoint="GET /tasks/{uuid}"} 1)"));
  EXPECT_THAT(text, HasLine(R"(triverse_upstream_requests_total{code="200",)"
                            R"(endpoint="GET /users/balance"} 1)"));
  EXPECT_THAT(text, HasLine("# TYPE triverse_upstream_request_duration_seconds "
                            "histogram"));
  EXPECT_THAT(text, HasLine(R"(triverse_upstream_request_duration_seconds_)"
                            R"(count{endpoint="GET /tasks/{uuid}"} 2)"));
  EXPECT_THAT(text, HasLine(R"(triverse_upstream_request_duration_seconds_)"
                            R"(bucket{endpoint="GET /tasks/{uuid}",)"
                            R"(le="+Inf"} 2)"));
  EXPECT_THAT(text, Not(HasSubstr(uuid)));
  EXPECT_THAT(text, Not(HasSubstr(missing)));
  EXPECT_THAT(text, Not(HasSubstr("a/b")));
  EXPECT_THAT(text, Not(HasSubstr(kKeyA)));
}

TEST_F(UpstreamMetricsTest, TransportErrorsAreNamed) {
  // A bound socket that does not listen: the connection is refused.
  int port = 0;
  const int fd = testing_util::BindLoopback(/*backlog=*/0, &port);
  auto refused = MakeStub(absl::StrCat("http://127.0.0.1:", port, "/api/v1"));
  auto user = Await<v1::User>(
      [&](auto done) { refused->GetUser(Key(), std::move(done)); });
  close(fd);
  ASSERT_EQ(user.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(metrics_->Scrape(),
              HasLine(R"(triverse_upstream_requests_total{code="UNAVAILABLE",)"
                      R"(endpoint="GET /users/me"} 1)"));
}

TEST_F(UpstreamMetricsTest, WatchSocketReportsItsUpgrade) {
  absl::Notification opened;
  absl::Notification ended;
  upstream::WatchHandler handler;
  handler.on_open = [&opened] { opened.Notify(); };
  handler.on_frame = [](absl::StatusOr<translate::WatchFrame>) {};
  const uint64_t id =
      stub_->WatchAll(std::nullopt, Key(), std::move(handler),
                      [&ended](absl::Status) { ended.Notify(); });
  ASSERT_TRUE(opened.WaitForNotificationWithTimeout(kWait));
  stub_->Cancel(id);
  ASSERT_TRUE(ended.WaitForNotificationWithTimeout(kWait));
  // A refused upgrade reports the refusal's status.
  upstream::CallOptions bad = Key();
  bad.api_key = "not-a-known-key";
  absl::Notification refused;
  upstream::WatchHandler ignore;
  ignore.on_frame = [](absl::StatusOr<translate::WatchFrame>) {};
  stub_->WatchAll(std::nullopt, bad, std::move(ignore),
                  [&refused](absl::Status) { refused.Notify(); });
  ASSERT_TRUE(refused.WaitForNotificationWithTimeout(kWait));

  const std::string text = metrics_->Scrape();
  EXPECT_THAT(text, HasLine(R"(triverse_upstream_requests_total{code="101",)"
                            R"(endpoint="GET /tasks/watch/all"} 1)"));
  EXPECT_THAT(text, HasLine(R"(triverse_upstream_request_duration_seconds_)"
                            R"(count{endpoint="GET /tasks/watch/all"} 2)"));
  EXPECT_THAT(text, HasSubstr(R"(triverse_upstream_requests_total{code="40)"));
  // The token travels in the socket's URL: never in a label.
  EXPECT_THAT(text, Not(HasSubstr(kKeyA)));
  EXPECT_THAT(text, Not(HasSubstr("not-a-known-key")));
}

TEST_F(UpstreamMetricsTest, ConnectionReportsRetriesByEndpoint) {
  // Created through the connection, which then sends the read-after-write
  // header on its reads.
  v1::CreateTaskRequest request;
  request.mutable_text_to_model()->set_prompt("a wooden chair");
  auto created = Await<v1::TaskCreation>([&](auto done) {
    connection_->CreateTask(request, Context(), std::move(done));
  });
  ASSERT_TRUE(created.ok()) << created.status();
  const std::string uuid = created->task_uuid();
  testing_util::FailFirst(*emu_, "get_task", R"({"unavailable_rate": 0.5})");
  auto task = Await<v1::Task>([&](auto done) {
    connection_->GetTask(uuid, Context(), std::move(done));
  });
  ASSERT_TRUE(task.ok()) << task.status();
  const std::string text = metrics_->Scrape();
  EXPECT_THAT(text, HasLine("# TYPE triverse_upstream_retries_total counter"));
  EXPECT_THAT(text, HasSubstr(R"(triverse_upstream_retries_total{)"
                              R"(endpoint="GET /tasks/{uuid}"} )"));
  EXPECT_THAT(text, Not(HasLine(R"(triverse_upstream_retries_total{)"
                                R"(endpoint="GET /tasks/{uuid}"} 0)")));
  EXPECT_THAT(text, HasLine(R"(triverse_upstream_requests_total{code="200",)"
                            R"(endpoint="GET /tasks/{uuid}"} 1)"));
  EXPECT_THAT(text, HasSubstr(R"(triverse_upstream_requests_total{code="5)"));
  EXPECT_THAT(text, Not(HasSubstr(uuid)));
}

// The whole stack on loopback: a scrape after creations, reads, a missing
// task and a watch holds no key and no task id.
TEST_F(UpstreamMetricsTest, ScrapeAfterTrafficHoldsNoKeyNorTaskId) {
  MetricsOptions metrics_options;
  metrics_options.listen = "127.0.0.1:0";
  auto served = Metrics::Create(std::move(metrics_options));
  ASSERT_TRUE(served.ok()) << served.status();
  std::unique_ptr<Metrics> metrics = *std::move(served);
  upstream::RestTriverseStub::Options stub_options;
  stub_options.base_url = emu_->Api("");
  stub_options.observer = metrics->UpstreamObserver();
  auto stub = std::make_shared<upstream::RestTriverseStub>(
      engine_.get(), std::move(stub_options));
  other_stubs_.push_back(stub);  // outlives the engine (see TearDown)
  upstream::TriverseConnectionOptions connection_options;
  connection_options.on_retry = metrics->RetryObserver();
  auto connection = upstream::MakeTriverseConnection(
      stub, &scheduler_, std::move(connection_options));
  auto hubs = std::make_shared<upstream::WatchHubs>(
      stub, connection, &scheduler_, upstream::WatchHubOptions());
  metrics->AddWatchHubStats([weak = std::weak_ptr<upstream::WatchHubs>(hubs)] {
    auto h = weak.lock();
    return h ? h->Stats() : upstream::WatchHubStats();
  });
  service::FanoutPool fanout(1);
  service::ServiceOptions service_options;
  service_options.api_key = kKeyA;
  service_options.watch.fanout = &fanout;
  service::TaskServiceImpl service(connection, std::move(service_options),
                                   hubs);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                           &port);
  builder.RegisterService(&service);
  std::vector<
      std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
      interceptors;
  interceptors.push_back(metrics->ServerInterceptorFactory());
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);
  auto rpc = v1::TaskService::NewStub(grpc::CreateChannel(
      absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));
  auto context = [] {
    auto c = std::make_unique<grpc::ClientContext>();
    c->set_deadline(absl::ToChronoTime(absl::Now() + kWait));
    return c;
  };

  v1::CreateTaskRequest create;
  create.mutable_text_to_model()->set_prompt("a wooden chair");
  v1::TaskCreation created;
  ASSERT_TRUE(rpc->CreateTask(context().get(), create, &created).ok());
  const std::string uuid = created.task_uuid();
  ASSERT_FALSE(uuid.empty());
  v1::GetTaskRequest get;
  get.set_task_uuid(uuid);
  v1::Task task;
  ASSERT_TRUE(rpc->GetTask(context().get(), get, &task).ok());
  const std::string missing = "0b9d1c1e-0000-4000-8000-00000000beef";
  get.set_task_uuid(missing);
  ASSERT_EQ(rpc->GetTask(context().get(), get, &task).error_code(),
            grpc::StatusCode::NOT_FOUND);
  {
    v1::WatchTaskRequest watch;
    watch.set_task_uuid(uuid);
    auto c = context();
    auto reader = rpc->WatchTask(c.get(), watch);
    v1::TaskEvent event;
    ASSERT_TRUE(reader->Read(&event));
    c->TryCancel();
    reader->Finish();
  }

  testing_util::HttpResponse r = testing_util::HttpGet(
      absl::StrCat("http://127.0.0.1:", metrics->port(), "/metrics"));
  ASSERT_EQ(r.status, 200);
  const std::string& text = r.body;
  EXPECT_THAT(text, HasSubstr(R"(grpc_server_handled_total{grpc_code="OK",)"
                              R"(grpc_method="CreateTask",)"));
  EXPECT_THAT(text,
              HasSubstr(R"(grpc_server_handled_total{grpc_code="NotFound",)"
                        R"(grpc_method="GetTask",)"));
  EXPECT_THAT(text, HasSubstr(R"(grpc_server_msg_sent_total{)"
                              R"(grpc_method="WatchTask",)"));
  EXPECT_THAT(text, HasSubstr(R"(endpoint="GET /tasks/{uuid}")"));
  // The watch's snapshot may come from its GET before the hub's socket has
  // opened: the counter is there, its value depends on that race.
  EXPECT_THAT(text, HasSubstr("\ntriverse_upstream_websockets_opened_total "));
  EXPECT_THAT(text, Not(HasSubstr(kKeyA)));
  EXPECT_THAT(text, Not(HasSubstr(uuid)));
  EXPECT_THAT(text, Not(HasSubstr(missing)));
  EXPECT_THAT(text, Not(HasSubstr("wooden")));

  server->Shutdown(absl::ToChronoTime(absl::Now()));
  server->Wait();
}

}  // namespace
}  // namespace triverse::metrics
