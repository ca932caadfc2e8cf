// Metrics: the /metrics endpoint on port 0, the callback families, and the
// gRPC server interceptor (go-grpc-prometheus names, labels and values)
// through a real in-process gRPC server running a tiny TaskService.
#include "server/metrics/metrics.h"

#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "tests/emulator/testing_util/http_client.h"
#include "triverse/v1/task_service.grpc.pb.h"

namespace triverse::metrics {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing_util::HttpGet;

// Line is one exposition line, "NAME{LABELS} VALUE" (labels sorted by name,
// as prometheus-cpp writes them), matched whole.
::testing::Matcher<std::string> HasLine(const std::string& line) {
  return HasSubstr(absl::StrCat("\n", line, "\n"));
}

std::unique_ptr<Metrics> Serving() {
  MetricsOptions options;
  options.listen = "127.0.0.1:0";
  auto m = Metrics::Create(std::move(options));
  EXPECT_TRUE(m.ok()) << m.status();
  return m.ok() ? *std::move(m) : nullptr;
}

std::string Get(int port) {
  testing_util::HttpResponse r =
      HttpGet(absl::StrCat("http://127.0.0.1:", port, "/metrics"));
  EXPECT_EQ(r.transport_error, "");
  EXPECT_EQ(r.status, 200);
  return r.body;
}

TEST(MetricsTest, ServesOnPortZero) {
  std::unique_ptr<Metrics> m = Serving();
  ASSERT_NE(m, nullptr);
  ASSERT_GT(m->port(), 0);
  ASSERT_TRUE(m->AddCallbackGauge("triverse_test_value", "A test value.", [] {
                 return 7.0;
               }).ok());
  testing_util::HttpResponse r =
      HttpGet(absl::StrCat("http://127.0.0.1:", m->port(), "/metrics"));
  ASSERT_EQ(r.transport_error, "");
  EXPECT_EQ(r.status, 200);
  EXPECT_THAT(r.header("content-type"), HasSubstr("text/plain"));
  EXPECT_THAT(r.body, HasLine("# TYPE triverse_test_value gauge"));
  EXPECT_THAT(r.body, HasLine("triverse_test_value 7"));
  EXPECT_THAT(m->Scrape(), HasLine("triverse_test_value 7"));
}

TEST(MetricsTest, BusyPortIsUnavailable) {
  std::unique_ptr<Metrics> first = Serving();
  ASSERT_NE(first, nullptr);
  MetricsOptions options;
  options.listen = absl::StrCat("127.0.0.1:", first->port());
  auto second = Metrics::Create(std::move(options));
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(second.status().message(), HasSubstr("127.0.0.1:"));
}

TEST(MetricsTest, WithoutListenNothingIsServed) {
  auto m = Metrics::Create({});
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ((*m)->port(), 0);
  EXPECT_EQ((*m)->Scrape(), "");
}

TEST(MetricsTest, CallbackNamesAreChecked) {
  auto m = Metrics::Create({});
  ASSERT_TRUE(m.ok());
  auto one = [] { return 1.0; };
  EXPECT_EQ((*m)->AddCallbackGauge("bad name", "", one).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*m)->AddCallbackGauge("grpc_server_started_total", "", one).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE((*m)->AddCallbackCounter("triverse_x_total", "X.", one).ok());
  EXPECT_EQ((*m)->AddCallbackGauge("triverse_x_total", "", one).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*m)->AddCallbackGauge("triverse_y", "", nullptr).code(),
            absl::StatusCode::kInvalidArgument);
  const std::string text = (*m)->Scrape();
  EXPECT_THAT(text, HasLine("# TYPE triverse_x_total counter"));
  EXPECT_THAT(text, HasLine("triverse_x_total 1"));
}

TEST(MetricsTest, WatchHubStatsAreReadAtEveryScrape) {
  auto m = Metrics::Create({});
  ASSERT_TRUE(m.ok());
  upstream::WatchHubStats stats;
  (*m)->AddWatchHubStats([&stats] { return stats; });
  stats.sockets_open = 2;
  stats.sockets_opened_total = 5;
  stats.polling_hubs = 1;
  stats.polling_fallbacks_total = 3;
  stats.changes_total = 40;
  stats.deliveries_total = 120;
  stats.subscribers = 9;
  std::string text = (*m)->Scrape();
  EXPECT_THAT(text, HasLine("# TYPE triverse_upstream_websockets_open gauge"));
  EXPECT_THAT(text, HasLine("triverse_upstream_websockets_open 2"));
  EXPECT_THAT(text, HasLine("# TYPE triverse_upstream_websockets_opened_total "
                            "counter"));
  EXPECT_THAT(text, HasLine("triverse_upstream_websockets_opened_total 5"));
  EXPECT_THAT(text, HasLine("triverse_watch_polling_fallbacks_active 1"));
  EXPECT_THAT(text, HasLine("triverse_watch_polling_fallbacks_total 3"));
  EXPECT_THAT(text, HasLine("triverse_watch_events_accepted_total 40"));
  EXPECT_THAT(text, HasLine("triverse_watch_events_fanned_out_total 120"));
  EXPECT_THAT(text, HasLine("triverse_watch_subscribers 9"));
  stats.sockets_open = 0;
  stats.deliveries_total = 121;
  text = (*m)->Scrape();
  EXPECT_THAT(text, HasLine("triverse_upstream_websockets_open 0"));
  EXPECT_THAT(text, HasLine("triverse_watch_events_fanned_out_total 121"));
}

TEST(MetricsTest, GoCodeNames) {
  EXPECT_EQ(GoCodeName(0), "OK");
  EXPECT_EQ(GoCodeName(1), "Canceled");
  EXPECT_EQ(GoCodeName(3), "InvalidArgument");
  EXPECT_EQ(GoCodeName(8), "ResourceExhausted");
  EXPECT_EQ(GoCodeName(16), "Unauthenticated");
  EXPECT_EQ(GoCodeName(17), "Code(17)");
}

// TinyService answers GetTask (OK for "ok", NOT_FOUND for "missing",
// INVALID_ARGUMENT otherwise), streams three DownloadAsset chunks, reads
// every UploadFile chunk; the other methods are gRPC's UNIMPLEMENTED.
class TinyService : public v1::TaskService::CallbackService {
 public:
  grpc::ServerUnaryReactor* GetTask(grpc::CallbackServerContext* context,
                                    const v1::GetTaskRequest* request,
                                    v1::Task* response) override {
    auto* reactor = context->DefaultReactor();
    if (request->task_uuid() == "ok") {
      response->set_task_uuid("ok");
      reactor->Finish(grpc::Status::OK);
    } else if (request->task_uuid() == "missing") {
      reactor->Finish(grpc::Status(grpc::StatusCode::NOT_FOUND, "no task"));
    } else {
      reactor->Finish(
          grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "bad task_uuid"));
    }
    return reactor;
  }

  grpc::ServerWriteReactor<v1::DownloadAssetResponse>* DownloadAsset(
      grpc::CallbackServerContext* context,
      const v1::DownloadAssetRequest* request) override {
    class Writer : public grpc::ServerWriteReactor<v1::DownloadAssetResponse> {
     public:
      Writer() { Next(); }
      void OnWriteDone(bool ok) override {
        if (!ok) return Finish(grpc::Status::CANCELLED);
        Next();
      }
      void OnDone() override { delete this; }

     private:
      void Next() {
        if (sent_ == 3) return Finish(grpc::Status::OK);
        ++sent_;
        chunk_.set_chunk(std::string(10, 'x'));
        StartWrite(&chunk_);
      }
      int sent_ = 0;
      v1::DownloadAssetResponse chunk_;
    };
    return new Writer();
  }

  grpc::ServerReadReactor<v1::UploadFileRequest>* UploadFile(
      grpc::CallbackServerContext* context,
      v1::UploadFileResponse* response) override {
    class Reader : public grpc::ServerReadReactor<v1::UploadFileRequest> {
     public:
      explicit Reader(v1::UploadFileResponse* response) : response_(response) {
        StartRead(&request_);
      }
      void OnReadDone(bool ok) override {
        if (!ok) {
          response_->set_file_key("key");
          return Finish(grpc::Status::OK);
        }
        StartRead(&request_);
      }
      void OnDone() override { delete this; }

     private:
      v1::UploadFileResponse* const response_;
      v1::UploadFileRequest request_;
    };
    return new Reader(response);
  }
};

// SyncHealth is a synchronous service (gRPC reflection is one too): with
// one registered, gRPC answers unknown paths with its synchronous
// UNIMPLEMENTED handler rather than the callback one.
class SyncHealth : public grpc::health::v1::Health::Service {};

class GrpcServerMetricsTest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    metrics_ = Serving();
    ASSERT_NE(metrics_, nullptr);
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port);
    builder.RegisterService(&service_);
    if (GetParam()) builder.RegisterService(&sync_health_);
    std::vector<
        std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
        interceptors;
    interceptors.push_back(metrics_->ServerInterceptorFactory());
    builder.experimental().SetInterceptorCreators(std::move(interceptors));
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_GT(port, 0);
    channel_ = grpc::CreateChannel(absl::StrCat("127.0.0.1:", port),
                                   grpc::InsecureChannelCredentials());
    stub_ = v1::TaskService::NewStub(channel_);
  }

  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown();
  }

  static std::unique_ptr<grpc::ClientContext> Context() {
    auto c = std::make_unique<grpc::ClientContext>();
    c->set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
    return c;
  }

  grpc::Status GetTask(const std::string& uuid) {
    v1::GetTaskRequest request;
    request.set_task_uuid(uuid);
    v1::Task task;
    return stub_->GetTask(Context().get(), request, &task);
  }

  std::string Scrape() { return Get(metrics_->port()); }

  TinyService service_;
  SyncHealth sync_health_;
  std::unique_ptr<Metrics> metrics_;
  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::TaskService::Stub> stub_;
};

constexpr char kGetTask[] =
    R"(grpc_method="GetTask",grpc_service="triverse.v1.TaskService",)"
    R"(grpc_type="unary")";

TEST_P(GrpcServerMetricsTest, UnaryCallsAreCountedByCode) {
  ASSERT_TRUE(GetTask("ok").ok());
  ASSERT_TRUE(GetTask("ok").ok());
  ASSERT_EQ(GetTask("missing").error_code(), grpc::StatusCode::NOT_FOUND);
  ASSERT_EQ(GetTask("???").error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  const std::string text = Scrape();
  EXPECT_THAT(text, HasLine("# TYPE grpc_server_started_total counter"));
  EXPECT_THAT(text, HasLine(absl::StrCat("grpc_server_started_total{", kGetTask,
                                         "} 4")));
  EXPECT_THAT(text, HasLine("# TYPE grpc_server_handled_total counter"));
  EXPECT_THAT(
      text, HasLine(absl::StrCat(R"(grpc_server_handled_total{grpc_code="OK",)",
                                 kGetTask, "} 2")));
  EXPECT_THAT(text, HasLine(absl::StrCat(
                        R"(grpc_server_handled_total{grpc_code="NotFound",)",
                        kGetTask, "} 1")));
  EXPECT_THAT(text,
              HasLine(absl::StrCat(
                  R"(grpc_server_handled_total{grpc_code="InvalidArgument",)",
                  kGetTask, "} 1")));
  EXPECT_THAT(text, HasLine(absl::StrCat("grpc_server_msg_received_total{",
                                         kGetTask, "} 4")));
  // Only the successful calls sent a message.
  EXPECT_THAT(text, HasLine(absl::StrCat("grpc_server_msg_sent_total{",
                                         kGetTask, "} 2")));
  // The histogram: go-grpc-prometheus's buckets, no grpc_code label.
  EXPECT_THAT(text, HasLine("# TYPE grpc_server_handling_seconds histogram"));
  EXPECT_THAT(text, HasLine(absl::StrCat("grpc_server_handling_seconds_count{",
                                         kGetTask, "} 4")));
  for (const char* le : {"0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5",
                         "1", "2.5", "5", "10"}) {
    EXPECT_THAT(text, HasSubstr(absl::StrCat("grpc_server_handling_seconds_"
                                             "bucket{",
                                             kGetTask, ",le=\"", le, "\"}")))
        << le;
  }
  EXPECT_THAT(text, HasLine(absl::StrCat("grpc_server_handling_seconds_bucket{",
                                         kGetTask, ",le=\"+Inf\"} 4")));
  EXPECT_THAT(text, Not(HasSubstr("grpc_code=\"OK\",grpc_method=\"GetTask\","
                                  "grpc_service=\"triverse.v1.TaskService\","
                                  "grpc_type=\"unary\",le=")));
  // Request fields never become labels.
  EXPECT_THAT(text, Not(HasSubstr("missing")));
  EXPECT_THAT(text, Not(HasSubstr("???")));
}

TEST_P(GrpcServerMetricsTest, StreamsCountEveryMessage) {
  {
    v1::DownloadAssetRequest request;
    request.set_task_uuid("t");
    auto context = Context();
    auto reader = stub_->DownloadAsset(context.get(), request);
    v1::DownloadAssetResponse chunk;
    int chunks = 0;
    while (reader->Read(&chunk)) ++chunks;
    ASSERT_TRUE(reader->Finish().ok());
    ASSERT_EQ(chunks, 3);
  }
  {
    auto context = Context();
    v1::UploadFileResponse response;
    auto writer = stub_->UploadFile(context.get(), &response);
    v1::UploadFileRequest request;
    for (int i = 0; i < 4; ++i) ASSERT_TRUE(writer->Write(request));
    ASSERT_TRUE(writer->WritesDone());
    ASSERT_TRUE(writer->Finish().ok());
  }
  const std::string download =
      R"(grpc_method="DownloadAsset",grpc_service="triverse.v1.TaskService",)"
      R"(grpc_type="server_stream")";
  const std::string upload =
      R"(grpc_method="UploadFile",grpc_service="triverse.v1.TaskService",)"
      R"(grpc_type="client_stream")";
  const std::string text = Scrape();
  EXPECT_THAT(text, HasLine(absl::StrCat("grpc_server_started_total{", download,
                                         "} 1")));
  EXPECT_THAT(text, HasLine(absl::StrCat("grpc_server_msg_received_total{",
                                         download, "} 1")));
  EXPECT_THAT(text, HasLine(absl::StrCat("grpc_server_msg_sent_total{",
                                         download, "} 3")));
  EXPECT_THAT(
      text, HasLine(absl::StrCat(R"(grpc_server_handled_total{grpc_code="OK",)",
                                 download, "} 1")));
  EXPECT_THAT(
      text, HasLine(absl::StrCat("grpc_server_started_total{", upload, "} 1")));
  EXPECT_THAT(text, HasLine(absl::StrCat("grpc_server_msg_received_total{",
                                         upload, "} 4")));
  EXPECT_THAT(text, HasLine(absl::StrCat("grpc_server_msg_sent_total{", upload,
                                         "} 1")));
  EXPECT_THAT(
      text, HasLine(absl::StrCat(R"(grpc_server_handled_total{grpc_code="OK",)",
                                 upload, "} 1")));
  EXPECT_THAT(text, HasLine(absl::StrCat("grpc_server_handling_seconds_count{",
                                         upload, "} 1")));
}

TEST_P(GrpcServerMetricsTest, UnimplementedAndUnknownMethods) {
  // A method of the registered service that TinyService does not implement.
  v1::GetAccountRequest request;
  v1::Account account;
  ASSERT_EQ(stub_->GetAccount(Context().get(), request, &account).error_code(),
            grpc::StatusCode::UNIMPLEMENTED);
  // A path no service registered: caller-chosen text, never a label.
  grpc::GenericStub generic(channel_);
  grpc::Slice nothing("");
  grpc::ByteBuffer empty(&nothing, 1);
  for (int i = 0; i < 3; ++i) {
    auto context = Context();
    grpc::ByteBuffer response;
    absl::Notification done;
    grpc::Status status;
    generic.UnaryCall(
        context.get(), absl::StrCat("/evil.Service/SecretMethod", i),
        grpc::StubOptions(), &empty, &response, [&](grpc::Status s) {
          status = std::move(s);
          done.Notify();
        });
    done.WaitForNotification();
    ASSERT_EQ(status.error_code(), grpc::StatusCode::UNIMPLEMENTED);
  }
  const std::string text = Scrape();
  EXPECT_THAT(
      text,
      HasLine(
          R"(grpc_server_handled_total{grpc_code="Unimplemented",)"
          R"(grpc_method="GetAccount",grpc_service="triverse.v1.TaskService",)"
          R"(grpc_type="unary"} 1)"));
  EXPECT_THAT(text, Not(HasSubstr("evil")));
  EXPECT_THAT(text, Not(HasSubstr("SecretMethod")));
  EXPECT_THAT(text,
              HasLine(R"(grpc_server_handled_total{)"
                      R"(grpc_code="Unimplemented",grpc_method="unknown",)"
                      R"(grpc_service="unknown",grpc_type="bidi_stream"})"
                      R"( 3)"));
}

INSTANTIATE_TEST_SUITE_P(WithAndWithoutSyncService, GrpcServerMetricsTest,
                         ::testing::Bool());

}  // namespace
}  // namespace triverse::metrics
