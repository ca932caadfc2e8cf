// RestTriverseStub against the in-process emulator: every endpoint succeeds,
// upstream errors map end to end through errors::AsStatus, and ids that
// could escape their URL path segment never reach the network.
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "google/rpc/error_details.pb.h"
#include "gtest/gtest.h"
#include "rapidjson/document.h"
#include "server/errors/upstream_status.h"
#include "server/http/curl_engine.h"
#include "server/translate/request_json.h"
#include "server/upstream/mock_provider_stub.h"
#include "server/upstream/triverse_stub.h"
#include "tests/emulator/testing_util/http_client.h"
#include "tests/emulator/testing_util/test_emulator.h"
#include "tests/server/testing_util/await.h"
#include "tests/server/testing_util/flow_requests.h"
#include "tests/server/testing_util/streamed_download.h"
#include "tests/server/upstream/scripted_server.h"

namespace triverse::upstream {
namespace {

using ::testing::_;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::SizeIs;
using testing_util::Await;
using testing_util::HttpGet;
using testing_util::HttpPost;
using testing_util::kImageUrl;
using testing_util::kKeyA;
using testing_util::kKeyB;
using testing_util::kModelUrl;
using testing_util::OneRequestPerFlow;
using testing_util::ScriptedServer;
using testing_util::TestEmulator;

constexpr char kRawHeader[] = "X-Triverse-Read-After-Write";
constexpr char kPoorKey[] = "test-key-poor";
constexpr absl::Duration kWait = absl::Seconds(30);

v1::CreateTaskRequest TextToModel() { return OneRequestPerFlow()[2]; }

// Reason returns the ErrorInfo reason of `status` ("" without one).
std::string Reason(const absl::Status& status) {
  return testing_util::ErrorInfoOf(status).reason();
}

struct Download {
  absl::Status status = absl::UnknownError("no callback");
  std::vector<v1::AssetMetadata> metadata;
  std::string body;
  int chunks_before_metadata = 0;
};

using Streamed = testing_util::StreamedDownload;

class RestTriverseStubTest : public ::testing::Test {
 protected:
  void SetUp() override { StartEmulator(TestEmulator::DefaultOptions()); }

  void StartEmulator(emulator::EmulatorOptions options) {
    stub_.reset();
    engine_.reset();
    emu_ = std::make_unique<TestEmulator>(std::move(options));
    ASSERT_TRUE(emu_->start_status().ok()) << emu_->start_status();
    auto engine = http::CurlEngine::Create({});
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = *std::move(engine);
    RestTriverseStub::Options o;
    o.base_url = emu_->Api("");
    stub_ = std::make_unique<RestTriverseStub>(engine_.get(), std::move(o));
  }

  static CallOptions Key(const std::string& key = kKeyA,
                         bool caller_key = false) {
    CallOptions o;
    o.api_key = key;
    o.timeout = absl::Seconds(10);
    o.caller_key = caller_key;
    return o;
  }

  absl::StatusOr<v1::TaskCreation> Create(const v1::CreateTaskRequest& r,
                                          const std::string& order,
                                          const std::string& key = kKeyA) {
    return Await<v1::TaskCreation>(
        [&](auto cb) { stub_->CreateTask(r, order, Key(key), std::move(cb)); });
  }
  absl::StatusOr<v1::Task> Get(const std::string& uuid,
                               const std::string& raw_header = kRawHeader,
                               const std::string& key = kKeyA) {
    return Await<v1::Task>([&](auto cb) {
      stub_->GetTask(uuid, raw_header, Key(key), std::move(cb));
    });
  }
  absl::StatusOr<v1::DownloadUrl> Url(const std::string& uuid) {
    return Await<v1::DownloadUrl>(
        [&](auto cb) { stub_->GetDownloadUrl(uuid, Key(), std::move(cb)); });
  }
  Download DownloadAsset(const std::string& uuid) {
    auto d = std::make_shared<Download>();
    auto n = std::make_shared<absl::Notification>();
    DownloadSink sink;
    sink.on_metadata = [d](v1::AssetMetadata m) {
      d->metadata.push_back(std::move(m));
    };
    sink.on_chunk = [d](absl::string_view chunk) {
      if (d->metadata.empty()) ++d->chunks_before_metadata;
      d->body.append(chunk.data(), chunk.size());
      return true;
    };
    stub_->DownloadAsset(uuid, Key(), std::move(sink), [d, n](absl::Status s) {
      d->status = std::move(s);
      n->Notify();
    });
    if (!n->WaitForNotificationWithTimeout(kWait)) {
      Download timed_out;
      timed_out.status = absl::DeadlineExceededError("test: no callback");
      return timed_out;
    }
    return *d;
  }

  // RunUntil advances the fake clock a second at a time until the task is
  // terminal, and returns its last state.
  absl::StatusOr<v1::Task> RunToTerminal(const std::string& uuid) {
    absl::StatusOr<v1::Task> task;
    for (int i = 0; i < 120; ++i) {
      emu_->AdvanceBy(absl::Seconds(1));
      task = Get(uuid);
      if (!task.ok()) return task;
      const v1::TaskStatus s = task->status();
      if (s == v1::TASK_STATUS_SUCCESS || s == v1::TASK_STATUS_FAILED ||
          s == v1::TASK_STATUS_CANCELLED) {
        return task;
      }
    }
    return task;
  }

  void Faults(const std::string& json) {
    auto r = HttpPost(emu_->Url("/_emulator/faults"), json);
    ASSERT_EQ(r.status, 200) << r.body;
  }

  int64_t RequestsTotal() {
    auto r = HttpGet(emu_->Url("/_emulator/stats"));
    EXPECT_EQ(r.status, 200) << r.body;
    rapidjson::Document doc;
    doc.Parse(r.body.c_str());
    if (doc.HasParseError() || !doc.IsObject() ||
        !doc.HasMember("http_requests_total") ||
        !doc["http_requests_total"].IsInt64()) {
      ADD_FAILURE() << "bad stats: " << r.body;
      return -1;
    }
    return doc["http_requests_total"].GetInt64();
  }

  // StubFor returns a stub (on the same engine) whose upstream is `server`.
  std::unique_ptr<RestTriverseStub> StubFor(const ScriptedServer& server) {
    RestTriverseStub::Options o;
    o.base_url = absl::StrCat(server.Base(), "/api/v1");
    return std::make_unique<RestTriverseStub>(engine_.get(), std::move(o));
  }

  // SucceededTask creates a text-to-model task and runs it to SUCCESS.
  std::string SucceededTask(const std::string& order) {
    absl::StatusOr<v1::TaskCreation> c = Create(TextToModel(), order);
    EXPECT_TRUE(c.ok()) << c.status();
    if (!c.ok()) return "";
    absl::StatusOr<v1::Task> task = RunToTerminal(c->task_uuid());
    EXPECT_TRUE(task.ok()) << task.status();
    if (task.ok()) {
      EXPECT_EQ(task->status(), v1::TASK_STATUS_SUCCESS);
    }
    return c->task_uuid();
  }

  std::unique_ptr<TestEmulator> emu_;
  std::unique_ptr<http::CurlEngine> engine_;
  std::unique_ptr<RestTriverseStub> stub_;
};

TEST_F(RestTriverseStubTest, CreateTaskSuccessEveryFlow) {
  int n = 0;
  for (const v1::CreateTaskRequest& request : OneRequestPerFlow()) {
    const std::string flow = translate::FlowName(request);
    SCOPED_TRACE(flow);
    const std::string order = absl::StrCat("order-", n++);
    absl::StatusOr<v1::TaskCreation> c = Create(request, order);
    ASSERT_TRUE(c.ok()) << c.status();
    EXPECT_EQ(c->flow_name(), flow);
    EXPECT_EQ(c->client_order_id(), order);
    EXPECT_FALSE(c->task_uuid().empty());
  }
}

TEST_F(RestTriverseStubTest, TaskRunsToSuccessThenUrlAndDownload) {
  absl::StatusOr<v1::TaskCreation> c = Create(TextToModel(), "run-1");
  ASSERT_TRUE(c.ok()) << c.status();
  absl::StatusOr<v1::Task> task = RunToTerminal(c->task_uuid());
  ASSERT_TRUE(task.ok()) << task.status();
  ASSERT_EQ(task->status(), v1::TASK_STATUS_SUCCESS);
  EXPECT_EQ(task->task_uuid(), c->task_uuid());

  absl::StatusOr<v1::DownloadUrl> url = Url(c->task_uuid());
  ASSERT_TRUE(url.ok()) << url.status();
  EXPECT_FALSE(url->download_url().empty());

  Download d = DownloadAsset(c->task_uuid());
  ASSERT_TRUE(d.status.ok()) << d.status;
  ASSERT_THAT(d.metadata, SizeIs(1));
  EXPECT_EQ(d.chunks_before_metadata, 0);
  EXPECT_EQ(d.metadata[0].file_name(), absl::StrCat(c->task_uuid(), ".glb"));
  EXPECT_EQ(d.metadata[0].content_type(), "application/octet-stream");
  EXPECT_EQ(d.metadata[0].size_bytes(), static_cast<int64_t>(d.body.size()));
  EXPECT_EQ(d.body.substr(0, 4), "glTF");
}

TEST_F(RestTriverseStubTest, UploadImageAndModelSuccess) {
  UploadSpec image;
  image.kind = v1::FILE_KIND_IMAGE;
  image.file_name = "a.png";
  image.content_type = "image/png";
  image.bytes = std::string("\x89PNG\r\n\x1a\n...", 11);
  absl::StatusOr<std::string> key = Await<std::string>([&](auto cb) {
    stub_->UploadFile(std::move(image), Key(), std::move(cb));
  });
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_THAT(*key, HasSubstr("tasks/uid_"));

  UploadSpec model;
  model.kind = v1::FILE_KIND_MODEL;
  model.model_variant = v1::MODEL_VARIANT_GEOMETRY;
  model.file_name = "m.glb";
  model.bytes = "glTF-model";
  key = Await<std::string>([&](auto cb) {
    stub_->UploadFile(std::move(model), Key(), std::move(cb));
  });
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_THAT(*key, HasSubstr("tasks/uid_"));
}

TEST_F(RestTriverseStubTest, UploadInvalidSpecNeverSent) {
  const int64_t before = RequestsTotal();
  for (const std::string& name :
       {std::string("a\"b.png"), std::string("a\r\nX: y.png"), std::string()}) {
    UploadSpec spec;
    spec.kind = v1::FILE_KIND_IMAGE;
    spec.file_name = name;
    spec.content_type = "image/png";
    auto r = Await<std::string>([&](auto cb) {
      stub_->UploadFile(std::move(spec), Key(), std::move(cb));
    });
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  }
  UploadSpec no_kind;
  no_kind.file_name = "a.png";
  auto r = Await<std::string>([&](auto cb) {
    stub_->UploadFile(std::move(no_kind), Key(), std::move(cb));
  });
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(RequestsTotal(), before + 1);  // only the stats call itself
}

TEST_F(RestTriverseStubTest, ListOwnModelsUserBalanceQuoteSuccess) {
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(Create(TextToModel(), absl::StrCat("list-", i)).ok());
  }
  auto page = Await<translate::OwnModelsPage>(
      [&](auto cb) { stub_->ListOwnModels(1, 2, Key(), std::move(cb)); });
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ(page->total, 3);
  EXPECT_THAT(page->models, SizeIs(2));

  auto user =
      Await<v1::User>([&](auto cb) { stub_->GetUser(Key(), std::move(cb)); });
  ASSERT_TRUE(user.ok()) << user.status();
  EXPECT_FALSE(user->id().empty());

  auto balance = Await<v1::Balance>(
      [&](auto cb) { stub_->GetBalance(Key(), std::move(cb)); });
  ASSERT_TRUE(balance.ok()) << balance.status();
  EXPECT_GT(balance->frozen(), 0);

  v1::QuotePriceRequest quote;
  quote.mutable_image_to_model()->set_image_file(kImageUrl);
  auto q = Await<v1::PriceQuote>(
      [&](auto cb) { stub_->QuotePrice(quote, Key(), std::move(cb)); });
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_EQ(q->flow_name(), "image-to-model");
  EXPECT_GT(q->cost_credits(), 0);
}

TEST_F(RestTriverseStubTest, ReadAfterWriteNeedsTheHeader) {
  absl::StatusOr<v1::TaskCreation> c = Create(TextToModel(), "raw-1");
  ASSERT_TRUE(c.ok()) << c.status();
  absl::StatusOr<v1::Task> without = Get(c->task_uuid(), /*raw_header=*/"");
  EXPECT_EQ(without.status().code(), absl::StatusCode::kNotFound)
      << without.status();
  absl::StatusOr<v1::Task> with = Get(c->task_uuid(), kRawHeader);
  ASSERT_TRUE(with.ok()) << with.status();
  EXPECT_EQ(with->task_uuid(), c->task_uuid());
}

TEST_F(RestTriverseStubTest, AnotherKeysTaskIsNotFound) {
  absl::StatusOr<v1::TaskCreation> c = Create(TextToModel(), "mine");
  ASSERT_TRUE(c.ok()) << c.status();
  emu_->AdvanceBy(absl::Seconds(2));
  absl::StatusOr<v1::Task> t = Get(c->task_uuid(), kRawHeader, kKeyB);
  EXPECT_EQ(t.status().code(), absl::StatusCode::kNotFound) << t.status();
  EXPECT_EQ(Reason(t.status()), "TASK_NOT_FOUND");
  EXPECT_THAT(t.status().message(), HasSubstr("GetTask"));
}

TEST_F(RestTriverseStubTest, DownloadBeforeSuccessFailedPrecondition) {
  absl::StatusOr<v1::TaskCreation> c = Create(TextToModel(), "early");
  ASSERT_TRUE(c.ok()) << c.status();
  emu_->AdvanceBy(absl::Seconds(2));
  Download d = DownloadAsset(c->task_uuid());
  EXPECT_EQ(d.status.code(), absl::StatusCode::kFailedPrecondition) << d.status;
  EXPECT_THAT(d.metadata, SizeIs(0));
  EXPECT_EQ(d.body, "");
  absl::StatusOr<v1::DownloadUrl> url = Url(c->task_uuid());
  EXPECT_EQ(url.status().code(), absl::StatusCode::kFailedPrecondition)
      << url.status();
}

// The body reaches the sink while the transfer is still open: nothing waits
// for (or holds) the whole asset.
TEST_F(RestTriverseStubTest, DownloadStreamsTheBodyAsItArrives) {
  ScriptedServer server;
  std::unique_ptr<RestTriverseStub> stub = StubFor(server);
  auto s = std::make_shared<Streamed>();
  EXPECT_NE(
      stub->DownloadAsset("abc-1", Key(), Streamed::Sink(s), Streamed::Done(s)),
      0u);
  ASSERT_TRUE(server.WaitForRequests(1));
  EXPECT_THAT(server.Requests()[0],
              HasSubstr("GET /api/v1/tasks/download/abc-1 HTTP/1.1\r\n"));
  EXPECT_THAT(server.Requests()[0],
              HasSubstr(absl::StrCat("Authorization: Bearer ", kKeyA)));
  EXPECT_THAT(server.Requests()[0], HasSubstr("Accept: */*\r\n"));
  EXPECT_THAT(server.Requests()[0], Not(HasSubstr("application/json")));
  const std::string first(40000, 'a');
  const std::string second(30000, 'b');
  server.Send(absl::StrCat(
      "HTTP/1.1 200 OK\r\nContent-Type: model/gltf-binary\r\n"
      "Content-Disposition: attachment; filename=\"abc-1.glb\"\r\n"
      "Content-Length: ",
      first.size() + second.size(), "\r\nConnection: close\r\n\r\n", first));
  ASSERT_TRUE(s->WaitForBytes(first.size()));
  EXPECT_EQ(s->done_calls(), 0);  // Half the body is still to come.
  ASSERT_THAT(s->metadata(), SizeIs(1));
  EXPECT_EQ(s->metadata()[0].file_name(), "abc-1.glb");
  EXPECT_EQ(s->metadata()[0].content_type(), "model/gltf-binary");
  EXPECT_EQ(s->metadata()[0].size_bytes(), 70000);
  server.Send(second);
  EXPECT_TRUE(s->WaitDone().ok()) << s->WaitDone();
  EXPECT_EQ(s->done_calls(), 1);
  EXPECT_EQ(s->chunks_before_metadata(), 0);
  EXPECT_GT(s->chunks(), 1);
  EXPECT_TRUE(s->body() == first + second);
  EXPECT_THAT(s->metadata(), SizeIs(1));
}

TEST_F(RestTriverseStubTest, DownloadCutAfterMetadataIsUnavailable) {
  ScriptedServer server;
  std::unique_ptr<RestTriverseStub> stub = StubFor(server);
  auto s = std::make_shared<Streamed>();
  stub->DownloadAsset("abc-2", Key(), Streamed::Sink(s), Streamed::Done(s));
  ASSERT_TRUE(server.WaitForRequests(1));
  server.Send(
      "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
      "Content-Length: 100\r\n\r\nonly-part");
  ASSERT_TRUE(s->WaitForBytes(9));
  server.Close();
  const absl::Status status = s->WaitDone();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
  EXPECT_THAT(s->metadata(), SizeIs(1));
  EXPECT_EQ(s->body(), "only-part");
}

// An error body is never the sink's, however large: the stub keeps a
// bounded prefix, stops reading, and maps the HTTP status.
TEST_F(RestTriverseStubTest, DownloadLargeErrorBodyNeverReachesTheSink) {
  ScriptedServer server;
  std::unique_ptr<RestTriverseStub> stub = StubFor(server);
  auto s = std::make_shared<Streamed>();
  stub->DownloadAsset("abc-3", Key(), Streamed::Sink(s), Streamed::Done(s));
  ASSERT_TRUE(server.WaitForRequests(1));
  const std::string body(1 << 20, 'x');
  server.Send(absl::StrCat(
      "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/html\r\n"
      "Content-Length: ",
      body.size(), "\r\n\r\n", body.substr(0, 200000)));
  const absl::Status status = s->WaitDone();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
  EXPECT_THAT(status.message(), HasSubstr("DownloadAsset"));
  EXPECT_THAT(s->metadata(), SizeIs(0));
  EXPECT_EQ(s->body(), "");
  server.Close();
}

TEST_F(RestTriverseStubTest, DownloadUpstreamErrorNeverReachesTheSink) {
  const std::string uuid = SucceededTask("dl-err");
  Faults(R"({"reset": true, "seed": 1, "routes": {"task_download":
      {"unavailable_rate": 1.0}}})");
  auto s = std::make_shared<Streamed>();
  stub_->DownloadAsset(uuid, Key(), Streamed::Sink(s), Streamed::Done(s));
  const absl::Status status = s->WaitDone();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
  EXPECT_EQ(Reason(status), "BACKEND_UNAVAILABLE");
  EXPECT_THAT(s->metadata(), SizeIs(0));
  EXPECT_EQ(s->body(), "");
}

TEST_F(RestTriverseStubTest, DownloadTruncatedAfterMetadataIsUnavailable) {
  const std::string uuid = SucceededTask("dl-cut");
  Faults(R"({"reset": true, "seed": 1, "routes": {"task_download":
      {"truncate_rate": 1.0}}})");
  auto s = std::make_shared<Streamed>();
  stub_->DownloadAsset(uuid, Key(), Streamed::Sink(s), Streamed::Done(s));
  const absl::Status status = s->WaitDone();
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
  ASSERT_THAT(s->metadata(), SizeIs(1));
  EXPECT_LT(static_cast<int64_t>(s->body().size()),
            s->metadata()[0].size_bytes());
}

TEST_F(RestTriverseStubTest, DownloadSinkStopIsCancelled) {
  const std::string uuid = SucceededTask("dl-stop");
  auto s = std::make_shared<Streamed>();
  stub_->DownloadAsset(uuid, Key(), Streamed::Sink(s, /*stop_after=*/1),
                       Streamed::Done(s));
  const absl::Status status = s->WaitDone();
  EXPECT_EQ(status.code(), absl::StatusCode::kCancelled) << status;
  EXPECT_THAT(status.message(), HasSubstr("sink stopped"));
  EXPECT_EQ(s->chunks(), 1);
  EXPECT_EQ(s->done_calls(), 1);
}

TEST_F(RestTriverseStubTest, NotEnoughCreditsResourceExhausted) {
  auto options = TestEmulator::DefaultOptions();
  options.engine.keys.push_back({kPoorKey, 0, "", ""});
  StartEmulator(std::move(options));
  absl::StatusOr<v1::TaskCreation> c = Create(TextToModel(), "poor", kPoorKey);
  EXPECT_EQ(c.status().code(), absl::StatusCode::kResourceExhausted)
      << c.status();
}

TEST_F(RestTriverseStubTest, RateLimitFaultCarriesRetryInfo) {
  Faults(R"({"reset": true, "seed": 1, "routes": {"users_balance":
      {"rate_limit_rate": 1.0, "retry_after_seconds": 7}}})");
  auto b = Await<v1::Balance>(
      [&](auto cb) { stub_->GetBalance(Key(), std::move(cb)); });
  ASSERT_EQ(b.status().code(), absl::StatusCode::kResourceExhausted)
      << b.status();
  bool found = false;
  for (const auto& any : errors::Details(b.status())) {
    google::rpc::RetryInfo info;
    if (!any.UnpackTo(&info)) continue;
    found = true;
    EXPECT_EQ(info.retry_delay().seconds(), 7);
  }
  EXPECT_TRUE(found) << b.status();
}

TEST_F(RestTriverseStubTest, UnavailableFault) {
  Faults(R"({"reset": true, "seed": 1, "routes": {"users_me":
      {"unavailable_rate": 1.0}}})");
  auto u =
      Await<v1::User>([&](auto cb) { stub_->GetUser(Key(), std::move(cb)); });
  EXPECT_EQ(u.status().code(), absl::StatusCode::kUnavailable) << u.status();
}

// A body cut short (Content-Length promises more) is a broken connection:
// the engine reports UNAVAILABLE, passed through unchanged. Not DATA_LOSS,
// which means a complete payload that cannot be translated: the upstream
// did not send garbage, the transport lost it, and a retry of an idempotent
// call is the right reaction.
TEST_F(RestTriverseStubTest, TruncatedBodyIsUnavailable) {
  Faults(R"({"reset": true, "seed": 1, "routes": {"users_balance":
      {"truncate_rate": 1.0}}})");
  auto b = Await<v1::Balance>(
      [&](auto cb) { stub_->GetBalance(Key(), std::move(cb)); });
  EXPECT_EQ(b.status().code(), absl::StatusCode::kUnavailable) << b.status();
}

TEST_F(RestTriverseStubTest, BadGatewayKeyIsInternal) {
  auto u = Await<v1::User>([&](auto cb) {
    stub_->GetUser(Key("not-a-key", /*caller_key=*/false), std::move(cb));
  });
  EXPECT_EQ(u.status().code(), absl::StatusCode::kInternal) << u.status();
  EXPECT_EQ(Reason(u.status()), "UPSTREAM_CREDENTIALS_REJECTED");
  EXPECT_THAT(u.status().message(), Not(HasSubstr("not-a-key")));
}

TEST_F(RestTriverseStubTest, BadCallerKeyIsUnauthenticated) {
  auto u = Await<v1::User>([&](auto cb) {
    stub_->GetUser(Key("not-a-key", /*caller_key=*/true), std::move(cb));
  });
  EXPECT_EQ(u.status().code(), absl::StatusCode::kUnauthenticated)
      << u.status();
}

TEST_F(RestTriverseStubTest, InvalidIdsNeverReachTheEmulator) {
  const std::vector<std::string> bad = {"../users/me",
                                        "..",
                                        "a/b",
                                        "abc?x=1",
                                        "abc#frag",
                                        "abc%00",
                                        "a%2Fb",
                                        std::string(65, 'a'),
                                        "",
                                        "a b",
                                        std::string("a\0b", 3)};
  const int64_t before = RequestsTotal();
  for (const std::string& id : bad) {
    SCOPED_TRACE(id);
    absl::StatusOr<v1::Task> t = Get(id);
    EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
    bool has_bad_request = false;
    for (const auto& any : errors::Details(t.status())) {
      google::rpc::BadRequest br;
      if (!any.UnpackTo(&br)) continue;
      has_bad_request = true;
      ASSERT_EQ(br.field_violations_size(), 1);
      EXPECT_EQ(br.field_violations(0).field(), "task_uuid");
    }
    EXPECT_TRUE(has_bad_request);
    EXPECT_EQ(Url(id).status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(DownloadAsset(id).status.code(),
              absl::StatusCode::kInvalidArgument);
  }
  // A read-after-write header name that is not a token is refused too.
  EXPECT_EQ(Get("abc", "X-Bad\r\nInjected").status().code(),
            absl::StatusCode::kInvalidArgument);
  // The only new request is the stats call itself.
  EXPECT_EQ(RequestsTotal(), before + 1);
  EXPECT_EQ(Get(std::string(64, 'a')).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(RestTriverseStubTest, CancelDeliversCancelled) {
  Faults(R"({"reset": true, "seed": 1, "routes": {"users_me":
      {"hang_rate": 1.0}}})");
  struct Result {
    absl::Notification done;
    absl::StatusOr<v1::User> value = absl::UnknownError("no callback");
  };
  auto result = std::make_shared<Result>();
  const uint64_t id = stub_->GetUser(Key(), [result](auto v) {
    result->value = std::move(v);
    result->done.Notify();
  });
  EXPECT_NE(id, 0u);
  stub_->Cancel(id);
  ASSERT_TRUE(result->done.WaitForNotificationWithTimeout(kWait));
  EXPECT_EQ(result->value.status().code(), absl::StatusCode::kCancelled);
}

TEST_F(RestTriverseStubTest, UnsetParamsNeverSent) {
  const int64_t before = RequestsTotal();
  absl::StatusOr<v1::TaskCreation> c = Create(v1::CreateTaskRequest(), "x");
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  auto q = Await<v1::PriceQuote>([&](auto cb) {
    stub_->QuotePrice(v1::QuotePriceRequest(), Key(), std::move(cb));
  });
  EXPECT_EQ(q.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(RequestsTotal(), before + 1);
}

// The mock is what the layers above test against; this keeps it compiling
// and shows the shape of an expectation.
TEST(MockTriverseStubTest, CompletesThroughTheCallback) {
  MockProviderStub mock;
  EXPECT_CALL(mock, GetBalance(_, _))
      .WillOnce([](CallOptions, ProviderStub::Callback<v1::Balance> done) {
        v1::Balance b;
        b.set_balance(5);
        done(b);
        return uint64_t{7};
      });
  absl::StatusOr<v1::Balance> got;
  EXPECT_EQ(mock.GetBalance(
                {}, [&](absl::StatusOr<v1::Balance> b) { got = std::move(b); }),
            7u);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->balance(), 5);
}

TEST(ParseRetryAfterTest, DeltaSecondsAndHttpDate) {
  const absl::Time now = absl::FromUnixSeconds(1445412480);  // 21 Oct 2015
  EXPECT_EQ(ParseRetryAfter("120", now), absl::Seconds(120));
  EXPECT_EQ(ParseRetryAfter(" 0 ", now), absl::ZeroDuration());
  EXPECT_EQ(ParseRetryAfter("99999999999999999999", now), absl::Hours(24));
  EXPECT_EQ(ParseRetryAfter("Wed, 21 Oct 2015 07:30:00 GMT", now),
            absl::Seconds(1445412600 - 1445412480));
  EXPECT_EQ(ParseRetryAfter("Wed, 21 Oct 2015 07:00:00 GMT", now),
            absl::ZeroDuration());
  EXPECT_EQ(ParseRetryAfter("", now), std::nullopt);
  EXPECT_EQ(ParseRetryAfter("-5", now), std::nullopt);
  EXPECT_EQ(ParseRetryAfter("soon", now), std::nullopt);
}

TEST(ParseContentDispositionFileNameTest, Forms) {
  EXPECT_EQ(ParseContentDispositionFileName("attachment; filename=\"abc.glb\""),
            "abc.glb");
  EXPECT_EQ(ParseContentDispositionFileName("attachment; filename=abc.obj"),
            "abc.obj");
  EXPECT_EQ(
      ParseContentDispositionFileName("attachment; FileName=\"a\\\"b.glb\""),
      "a\"b.glb");
  EXPECT_EQ(ParseContentDispositionFileName("attachment"), "");
}

TEST(IsValidPathIdTest, Rules) {
  EXPECT_TRUE(IsValidPathId("92483a80-236c-4889-9a95-4c90bb64dfd8"));
  EXPECT_TRUE(IsValidPathId(std::string(64, 'Z')));
  EXPECT_FALSE(IsValidPathId(std::string(65, 'Z')));
  EXPECT_FALSE(IsValidPathId("a_b"));
  EXPECT_FALSE(IsValidPathId("a.b"));
}

}  // namespace
}  // namespace triverse::upstream
