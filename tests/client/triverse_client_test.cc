#include "client/triverse_client.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "google/rpc/error_details.pb.h"
#include "tests/client/fake_task_service.h"

namespace triverse::client {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;
using testing_util::Error;
using testing_util::FakeServer;
using testing_util::Ok;
using testing_util::RichError;
using testing_util::UnavailableWithCursor;
using testing_util::WatchScript;

constexpr char kUuid[] = "0b9e4a52-9a0f-4c4e-9a43-5d7c7f3d8d11";

v1::Task MakeTask(v1::TaskStatus status, int progress) {
  v1::Task task;
  task.set_task_uuid(kUuid);
  task.set_flow_name("text-to-model");
  task.set_status(status);
  task.set_progress(progress);
  return task;
}

v1::DownloadAssetResponse MetadataMessage(const std::string& name,
                                          std::optional<int64_t> size) {
  v1::DownloadAssetResponse m;
  m.mutable_metadata()->set_file_name(name);
  m.mutable_metadata()->set_content_type("model/gltf-binary");
  if (size.has_value()) m.mutable_metadata()->set_size_bytes(*size);
  return m;
}

v1::DownloadAssetResponse ChunkMessage(const std::string& bytes) {
  v1::DownloadAssetResponse m;
  m.set_chunk(bytes);
  return m;
}

class ClientTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(server_.ok()); }
  Client MakeClient(ClientOptions options = {}) {
    return Client(server_.Channel(), std::move(options));
  }
  testing_util::FakeTaskService& service() { return server_.service(); }

  FakeServer server_;
};

TEST_F(ClientTest, CreateTaskSuccess) {
  v1::TaskCreation creation;
  creation.set_task_uuid(kUuid);
  creation.set_status(v1::TASK_STATUS_PENDING);
  creation.set_cost_credits(120);
  creation.set_client_order_id("order-1");
  service().AddCreateTask(Ok(creation));

  v1::CreateTaskRequest request;
  request.mutable_text_to_model()->set_prompt("a red chair");
  request.mutable_text_to_model()->set_texture_size(2048);
  request.set_client_order_id("order-1");
  absl::StatusOr<v1::TaskCreation> result = MakeClient().CreateTask(request);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->task_uuid(), kUuid);
  EXPECT_EQ(result->cost_credits(), 120);
  ASSERT_EQ(service().CreateRequests().size(), 1u);
  EXPECT_EQ(service().CreateRequests()[0].SerializeAsString(),
            request.SerializeAsString());
}

TEST_F(ClientTest, GetTaskSuccess) {
  service().AddGetTask(Ok(MakeTask(v1::TASK_STATUS_RUNNING, 42)));
  absl::StatusOr<v1::Task> task = MakeClient().GetTask(kUuid);
  ASSERT_TRUE(task.ok()) << task.status();
  EXPECT_EQ(task->status(), v1::TASK_STATUS_RUNNING);
  EXPECT_EQ(task->progress(), 42);
  EXPECT_THAT(service().GetTaskIds(), ElementsAre(kUuid));
}

TEST_F(ClientTest, QuotePriceSuccess) {
  v1::PriceQuote quote;
  quote.set_flow_name("text-to-model");
  quote.set_cost_credits(140);
  quote.set_available_credits(1000);
  service().AddQuotePrice(Ok(quote));
  v1::QuotePriceRequest request;
  request.mutable_text_to_model()->set_texture_size(2048);
  absl::StatusOr<v1::PriceQuote> result = MakeClient().QuotePrice(request);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->cost_credits(), 140);
  ASSERT_EQ(service().QuoteRequests().size(), 1u);
  EXPECT_EQ(service().QuoteRequests()[0].text_to_model().texture_size(), 2048);
}

TEST_F(ClientTest, GetDownloadUrlSuccess) {
  v1::DownloadUrl url;
  url.set_download_url("https://assets.example/x.glb");
  url.set_kind("model");
  service().AddGetDownloadUrl(Ok(url));
  absl::StatusOr<v1::DownloadUrl> result = MakeClient().GetDownloadUrl(kUuid);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->download_url(), "https://assets.example/x.glb");
  EXPECT_THAT(service().GetTaskIds(), ElementsAre(kUuid));
}

TEST_F(ClientTest, ListOwnModelsSuccess) {
  v1::ListOwnModelsResponse page;
  page.add_models()->set_task_uuid(kUuid);
  page.set_next_page_token("p2");
  page.set_total_size(11);
  service().AddListOwnModels(Ok(page));
  absl::StatusOr<v1::ListOwnModelsResponse> result =
      MakeClient().ListOwnModels(5, "p1");
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->next_page_token(), "p2");
  EXPECT_EQ(result->models_size(), 1);
  ASSERT_EQ(service().ListRequests().size(), 1u);
  EXPECT_EQ(service().ListRequests()[0].page_size(), 5);
  EXPECT_EQ(service().ListRequests()[0].page_token(), "p1");
}

TEST_F(ClientTest, GetAccountSuccess) {
  v1::Account account;
  account.mutable_user()->set_email("alice@example.com");
  account.mutable_balance()->set_balance(880);
  service().AddGetAccount(Ok(account));
  absl::StatusOr<v1::Account> result = MakeClient().GetAccount();
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->user().email(), "alice@example.com");
  EXPECT_EQ(result->balance().balance(), 880);
}

TEST_F(ClientTest, ApiKeySentAsMetadata) {
  service().AddGetAccount(Ok(v1::Account()));
  ClientOptions options;
  options.api_key = "tenant-key";
  ASSERT_TRUE(MakeClient(options).GetAccount().ok());
  std::vector<testing_util::CallRecord> calls = service().Calls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].Metadata(kApiKeyMetadata), "tenant-key");
}

TEST_F(ClientTest, NoApiKeyNoMetadata) {
  service().AddGetAccount(Ok(v1::Account()));
  ASSERT_TRUE(MakeClient().GetAccount().ok());
  std::vector<testing_util::CallRecord> calls = service().Calls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].Metadata(kApiKeyMetadata), std::nullopt);
}

TEST_F(ClientTest, DefaultDeadlineApplied) {
  service().AddGetTask(Ok(MakeTask(v1::TASK_STATUS_RUNNING, 1)));
  ASSERT_TRUE(MakeClient().GetTask(kUuid).ok());
  std::vector<testing_util::CallRecord> calls = service().Calls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_TRUE(calls[0].has_deadline);
  EXPECT_GT(calls[0].deadline_left, absl::ZeroDuration());
  // Set to now + 30 s before the call left; gRPC rounds the wire timeout
  // up (to 100 ms here), hence the margin.
  EXPECT_LE(calls[0].deadline_left, absl::Seconds(31));
}

TEST_F(ClientTest, PerMethodDeadlineOverride) {
  service().AddGetTask(Ok(MakeTask(v1::TASK_STATUS_RUNNING, 1)));
  service().AddGetAccount(Ok(v1::Account()));
  ClientOptions options;
  options.timeouts["GetTask"] = absl::Seconds(1000);
  Client client = MakeClient(options);
  ASSERT_TRUE(client.GetTask(kUuid).ok());
  ASSERT_TRUE(client.GetAccount().ok());
  std::vector<testing_util::CallRecord> calls = service().Calls();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_GT(calls[0].deadline_left, absl::Seconds(30));
  // gRPC keeps few significant digits of a timeout on the wire, rounding
  // up (1000 s may arrive as 1010 s).
  EXPECT_LE(calls[0].deadline_left, absl::Seconds(1050));
  EXPECT_LE(calls[1].deadline_left, absl::Seconds(31));
}

TEST_F(ClientTest, ErrorInfoSurvivesInExplain) {
  service().AddGetTask(Error<v1::Task>(RichError(
      grpc::StatusCode::NOT_FOUND, "GetTask: task not found", "TASK_NOT_FOUND",
      {{"httpStatus", "404"},
       {"upstreamCode", "1006"},
       {"suggestion", "check the task id"},
       {"operation", "GetTask"}})));
  absl::StatusOr<v1::Task> task = MakeClient().GetTask(kUuid);
  ASSERT_FALSE(task.ok());
  EXPECT_EQ(task.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(task.status().message(), "GetTask: task not found");
  ASSERT_TRUE(RpcStatus(task.status()).has_value());

  ErrorDetails d = Explain(task.status());
  EXPECT_EQ(d.code, absl::StatusCode::kNotFound);
  EXPECT_EQ(d.code_name, "NOT_FOUND");
  EXPECT_EQ(d.message, "GetTask: task not found");
  EXPECT_EQ(d.reason, "TASK_NOT_FOUND");
  EXPECT_EQ(d.domain, "triverse.ai");
  EXPECT_EQ(d.suggestion, "check the task id");
  EXPECT_THAT(d.metadata, ::testing::Contains(Pair("upstreamCode", "1006")));
  EXPECT_THAT(d.metadata, ::testing::Contains(Pair("operation", "GetTask")));
  EXPECT_FALSE(d.retry_delay.has_value());
}

TEST_F(ClientTest, BadRequestAndRetryInfoSurviveInExplain) {
  google::rpc::BadRequest bad;
  auto* v = bad.add_field_violations();
  v->set_field("text_to_model.prompt");
  v->set_description("must be at least 3 characters");
  google::rpc::RetryInfo retry;
  retry.mutable_retry_delay()->set_seconds(2);
  retry.mutable_retry_delay()->set_nanos(500000000);
  google::rpc::QuotaFailure quota;
  auto* q = quota.add_violations();
  q->set_subject("requests");
  q->set_description("slow down");
  google::rpc::PreconditionFailure pre;
  auto* p = pre.add_violations();
  p->set_type("TASK_STATE");
  p->set_subject("GetDownloadUrl");
  p->set_description("not finished");
  service().AddCreateTask(Error<v1::TaskCreation>(
      RichError(grpc::StatusCode::INVALID_ARGUMENT,
                "text_to_model.prompt: must be at least 3 characters",
                "INVALID_ARGUMENT", {}, {&bad, &retry, &quota, &pre})));
  v1::CreateTaskRequest request;
  request.mutable_text_to_model()->set_prompt("a");
  absl::StatusOr<v1::TaskCreation> result = MakeClient().CreateTask(request);
  ASSERT_FALSE(result.ok());
  ErrorDetails d = Explain(result.status());
  EXPECT_EQ(d.code_name, "INVALID_ARGUMENT");
  ASSERT_EQ(d.field_violations.size(), 1u);
  EXPECT_EQ(d.field_violations[0].field, "text_to_model.prompt");
  EXPECT_EQ(d.field_violations[0].description, "must be at least 3 characters");
  EXPECT_EQ(d.retry_delay, absl::Milliseconds(2500));
  ASSERT_EQ(d.quota_violations.size(), 1u);
  EXPECT_EQ(d.quota_violations[0].subject, "requests");
  ASSERT_EQ(d.precondition_violations.size(), 1u);
  EXPECT_EQ(d.precondition_violations[0].type, "TASK_STATE");
  EXPECT_EQ(d.precondition_violations[0].subject, "GetDownloadUrl");
}

TEST(FromGrpcStatusTest, KeepsCodeMessageAndDetails) {
  EXPECT_TRUE(FromGrpcStatus(grpc::Status::OK).ok());
  absl::Status plain =
      FromGrpcStatus(grpc::Status(grpc::StatusCode::UNAVAILABLE, "down"));
  EXPECT_EQ(plain.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(plain.message(), "down");
  EXPECT_FALSE(RpcStatus(plain).has_value());
  ErrorDetails d = Explain(plain);
  EXPECT_EQ(d.code_name, "UNAVAILABLE");
  EXPECT_TRUE(d.reason.empty());

  absl::Status rich = FromGrpcStatus(RichError(
      grpc::StatusCode::RESOURCE_EXHAUSTED, "slow down", "RATE_LIMITED"));
  EXPECT_EQ(rich.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(Explain(rich).reason, "RATE_LIMITED");
}

TEST_F(ClientTest, DownloadAssetWritesBytes) {
  service().SetDownload({MetadataMessage("x.glb", 10), ChunkMessage("hello"),
                         ChunkMessage(""), ChunkMessage("world")});
  std::ostringstream out;
  absl::StatusOr<v1::AssetMetadata> md = MakeClient().DownloadAsset(kUuid, out);
  ASSERT_TRUE(md.ok()) << md.status();
  EXPECT_EQ(md->file_name(), "x.glb");
  EXPECT_EQ(md->content_type(), "model/gltf-binary");
  EXPECT_EQ(out.str(), "helloworld");
  EXPECT_THAT(service().DownloadIds(), ElementsAre(kUuid));
}

TEST_F(ClientTest, DownloadAssetWithoutSize) {
  service().SetDownload({MetadataMessage("x.glb", std::nullopt),
                         ChunkMessage(std::string(100000, 'z'))});
  std::ostringstream out;
  absl::StatusOr<v1::AssetMetadata> md = MakeClient().DownloadAsset(kUuid, out);
  ASSERT_TRUE(md.ok()) << md.status();
  EXPECT_EQ(out.str(), std::string(100000, 'z'));
}

TEST_F(ClientTest, DownloadAssetRejectsChunkBeforeMetadata) {
  service().SetDownload(
      {ChunkMessage("early"), MetadataMessage("x.glb", 5), ChunkMessage("x")});
  std::ostringstream out;
  absl::StatusOr<v1::AssetMetadata> md = MakeClient().DownloadAsset(kUuid, out);
  ASSERT_FALSE(md.ok());
  EXPECT_EQ(md.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(md.status().message(), HasSubstr("before the metadata"));
  EXPECT_THAT(md.status().message(), HasSubstr("DownloadAsset"));
  EXPECT_EQ(out.str(), "");
}

TEST_F(ClientTest, DownloadAssetRejectsSecondMetadata) {
  service().SetDownload({MetadataMessage("x.glb", std::nullopt),
                         MetadataMessage("y.glb", std::nullopt)});
  std::ostringstream out;
  absl::StatusOr<v1::AssetMetadata> md = MakeClient().DownloadAsset(kUuid, out);
  ASSERT_FALSE(md.ok());
  EXPECT_EQ(md.status().code(), absl::StatusCode::kInternal);
}

TEST_F(ClientTest, DownloadAssetWithoutMetadataIsAnError) {
  service().SetDownload({});
  std::ostringstream out;
  absl::StatusOr<v1::AssetMetadata> md = MakeClient().DownloadAsset(kUuid, out);
  ASSERT_FALSE(md.ok());
  EXPECT_EQ(md.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(md.status().message(), HasSubstr("without metadata"));
}

TEST_F(ClientTest, DownloadAssetSizeMismatchIsDataLoss) {
  service().SetDownload({MetadataMessage("x.glb", 10), ChunkMessage("short")});
  std::ostringstream out;
  absl::StatusOr<v1::AssetMetadata> md = MakeClient().DownloadAsset(kUuid, out);
  ASSERT_FALSE(md.ok());
  EXPECT_EQ(md.status().code(), absl::StatusCode::kDataLoss);
}

TEST_F(ClientTest, DownloadAssetGatewayError) {
  service().SetDownload(
      {}, RichError(grpc::StatusCode::FAILED_PRECONDITION,
                    "DownloadAsset: task not finished", "TASK_STATE_CONFLICT"));
  std::ostringstream out;
  absl::StatusOr<v1::AssetMetadata> md = MakeClient().DownloadAsset(kUuid, out);
  ASSERT_FALSE(md.ok());
  EXPECT_EQ(md.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Explain(md.status()).reason, "TASK_STATE_CONFLICT");
}

std::string Bytes(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 7919) % 251);
  return s;
}

v1::UploadMetadata ImageMetadata() {
  v1::UploadMetadata md;
  md.set_kind(v1::FILE_KIND_IMAGE);
  md.set_file_name("chair.png");
  md.set_content_type("image/png");
  return md;
}

TEST_F(ClientTest, UploadFileSendsMetadataThenChunks) {
  v1::UploadFileResponse response;
  response.set_file_key("tasks/uid_1/20261126/abc.png");
  service().SetUpload(Ok(response));
  const std::string data = Bytes(3 * kDefaultUploadChunkSize + 1000);
  std::istringstream in(data);
  absl::StatusOr<std::string> key =
      MakeClient().UploadFile(ImageMetadata(), in);
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(*key, "tasks/uid_1/20261126/abc.png");

  std::vector<v1::UploadFileRequest> received = service().UploadReceived();
  ASSERT_EQ(received.size(), 5u);
  ASSERT_TRUE(received[0].has_metadata());
  EXPECT_EQ(received[0].metadata().SerializeAsString(),
            ImageMetadata().SerializeAsString());
  std::string reassembled;
  for (size_t i = 1; i < received.size(); ++i) {
    ASSERT_EQ(received[i].part_case(), v1::UploadFileRequest::kChunk);
    EXPECT_LE(received[i].chunk().size(), kDefaultUploadChunkSize);
    reassembled += received[i].chunk();
  }
  EXPECT_EQ(reassembled, data);
  EXPECT_EQ(service().Calls()[0].method, "UploadFile");
  EXPECT_TRUE(service().Calls()[0].has_deadline);
}

TEST_F(ClientTest, UploadFileSmallChunks) {
  service().SetUpload(Ok(v1::UploadFileResponse()));
  const std::string data = Bytes(2500);
  std::istringstream in(data);
  ASSERT_TRUE(MakeClient().UploadFile(ImageMetadata(), in, 1000).ok());
  std::vector<v1::UploadFileRequest> received = service().UploadReceived();
  ASSERT_EQ(received.size(), 4u);
  EXPECT_EQ(received[1].chunk().size(), 1000u);
  EXPECT_EQ(received[3].chunk().size(), 500u);
}

TEST_F(ClientTest, UploadEmptyInputSendsOnlyMetadata) {
  service().SetUpload(Ok(v1::UploadFileResponse()));
  std::istringstream in("");
  ASSERT_TRUE(MakeClient().UploadFile(ImageMetadata(), in).ok());
  EXPECT_EQ(service().UploadReceived().size(), 1u);
}

TEST_F(ClientTest, UploadRefusedEarlyReturnsGatewayError) {
  service().SetUpload(Error<v1::UploadFileResponse>(RichError(
                          grpc::StatusCode::INVALID_ARGUMENT,
                          "UploadFile: too large", "INVALID_ARGUMENT")),
                      /*refuse_after_metadata=*/true);
  const std::string data = Bytes(1024 * 1024);
  std::istringstream in(data);
  absl::StatusOr<std::string> key =
      MakeClient().UploadFile(ImageMetadata(), in);
  ASSERT_FALSE(key.ok());
  EXPECT_EQ(key.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Explain(key.status()).reason, "INVALID_ARGUMENT");
}

TEST_F(ClientTest, UploadZeroChunkSizeIsInvalid) {
  std::istringstream in("x");
  absl::StatusOr<std::string> key =
      MakeClient().UploadFile(ImageMetadata(), in, 0);
  EXPECT_EQ(key.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(service().CallCount("UploadFile"), 0);
}

TEST_F(ClientTest, WaitForTaskStopsOnTerminalStatus) {
  service().AddGetTask(Ok(MakeTask(v1::TASK_STATUS_PENDING, 0)));
  service().AddGetTask(Ok(MakeTask(v1::TASK_STATUS_RUNNING, 50)));
  service().AddGetTask(Ok(MakeTask(v1::TASK_STATUS_RUNNING, 50)));
  service().AddGetTask(Ok(MakeTask(v1::TASK_STATUS_SUCCESS, 100)));
  std::vector<std::pair<v1::TaskStatus, int>> seen;
  absl::StatusOr<v1::Task> task = MakeClient().WaitForTask(
      kUuid, absl::ZeroDuration(), absl::InfiniteDuration(),
      [&seen](const v1::Task& t) {
        seen.emplace_back(t.status(), t.progress());
      });
  ASSERT_TRUE(task.ok()) << task.status();
  EXPECT_EQ(task->status(), v1::TASK_STATUS_SUCCESS);
  EXPECT_EQ(service().CallCount("GetTask"), 4);
  EXPECT_THAT(seen, ElementsAre(Pair(v1::TASK_STATUS_PENDING, 0),
                                Pair(v1::TASK_STATUS_RUNNING, 50),
                                Pair(v1::TASK_STATUS_SUCCESS, 100)));
}

TEST_F(ClientTest, WaitForTaskReturnsFailedTask) {
  v1::Task failed = MakeTask(v1::TASK_STATUS_FAILED, 30);
  failed.mutable_error()->set_code(5000);
  failed.mutable_error()->set_message("generation failed");
  service().AddGetTask(Ok(MakeTask(v1::TASK_STATUS_RUNNING, 30)));
  service().AddGetTask(Ok(failed));
  absl::StatusOr<v1::Task> task =
      MakeClient().WaitForTask(kUuid, absl::ZeroDuration());
  ASSERT_TRUE(task.ok()) << task.status();
  EXPECT_EQ(task->status(), v1::TASK_STATUS_FAILED);
  EXPECT_EQ(task->error().code(), 5000);
}

TEST_F(ClientTest, WaitForTaskRetriesUnavailable) {
  service().AddGetTask(Error<v1::Task>(
      grpc::Status(grpc::StatusCode::UNAVAILABLE, "gateway restarting")));
  service().AddGetTask(Ok(MakeTask(v1::TASK_STATUS_CANCELLED, 10)));
  absl::StatusOr<v1::Task> task =
      MakeClient().WaitForTask(kUuid, absl::ZeroDuration());
  ASSERT_TRUE(task.ok()) << task.status();
  EXPECT_EQ(task->status(), v1::TASK_STATUS_CANCELLED);
  EXPECT_EQ(service().CallCount("GetTask"), 2);
}

TEST_F(ClientTest, WaitForTaskGivesUpOnPersistentUnavailable) {
  service().AddGetTask(Error<v1::Task>(
      grpc::Status(grpc::StatusCode::UNAVAILABLE, "gateway down")));
  absl::StatusOr<v1::Task> task =
      MakeClient().WaitForTask(kUuid, absl::ZeroDuration());
  ASSERT_FALSE(task.ok());
  EXPECT_EQ(task.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(service().CallCount("GetTask"), 5);
}

TEST_F(ClientTest, WaitForTaskStopsOnPermanentError) {
  service().AddGetTask(
      Error<v1::Task>(RichError(grpc::StatusCode::NOT_FOUND,
                                "GetTask: task not found", "TASK_NOT_FOUND")));
  absl::StatusOr<v1::Task> task =
      MakeClient().WaitForTask(kUuid, absl::ZeroDuration());
  ASSERT_FALSE(task.ok());
  EXPECT_EQ(task.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(service().CallCount("GetTask"), 1);
}

TEST_F(ClientTest, WaitForTaskTimeout) {
  service().AddGetTask(Ok(MakeTask(v1::TASK_STATUS_RUNNING, 5)));
  Client client = MakeClient();
  ASSERT_TRUE(client.GetTask(kUuid).ok());  // Connected before the clock runs.
  absl::StatusOr<v1::Task> task =
      client.WaitForTask(kUuid, absl::Milliseconds(1), absl::Milliseconds(50));
  ASSERT_FALSE(task.ok());
  EXPECT_EQ(task.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(task.status().message(), HasSubstr(kUuid));
  EXPECT_GE(service().CallCount("GetTask"), 1);
}

// --- WatchTask / WatchTasks -----------------------------------------------

v1::TaskEvent Event(v1::TaskEventKind kind, v1::TaskStatus status, int progress,
                    const std::string& cursor,
                    const std::string& uuid = kUuid) {
  v1::TaskEvent event;
  event.set_kind(kind);
  *event.mutable_task() = MakeTask(status, progress);
  event.mutable_task()->set_task_uuid(uuid);
  event.set_cursor(cursor);
  return event;
}

v1::TaskEvent Snapshot(v1::TaskStatus status, int progress,
                       const std::string& cursor) {
  return Event(v1::TASK_EVENT_KIND_SNAPSHOT, status, progress, cursor);
}
v1::TaskEvent Update(v1::TaskStatus status, int progress,
                     const std::string& cursor) {
  return Event(v1::TASK_EVENT_KIND_UPDATE, status, progress, cursor);
}
v1::TaskEvent Finalized(v1::TaskStatus status, const std::string& cursor) {
  return Event(v1::TASK_EVENT_KIND_FINALIZED, status, 100, cursor);
}

WatchScript Script(std::vector<v1::TaskEvent> events,
                   grpc::Status status = grpc::Status::OK) {
  WatchScript script;
  script.events = std::move(events);
  script.status = std::move(status);
  return script;
}

// Fast reconnections: tests wait microseconds, not the default backoff.
WatchOptions FastRetry() {
  WatchOptions options;
  options.initial_backoff = absl::Microseconds(10);
  options.max_backoff = absl::Microseconds(100);
  return options;
}

// Recorder keeps what a watch delivered.
struct Recorder {
  std::vector<std::string> cursors;
  std::vector<v1::TaskEventKind> kinds;
  Client::EventCallback Callback() {
    return [this](const v1::TaskEvent& e) {
      cursors.push_back(e.cursor());
      kinds.push_back(e.kind());
      return true;
    };
  }
};

TEST_F(ClientTest, WatchTaskSuccess) {
  service().AddWatchTask(Script({Snapshot(v1::TASK_STATUS_QUEUED, 0, "c1"),
                                 Update(v1::TASK_STATUS_RUNNING, 40, "c2"),
                                 Finalized(v1::TASK_STATUS_SUCCESS, "c3")}));
  ClientOptions options;
  options.api_key = "caller-key";
  Recorder seen;
  absl::StatusOr<v1::Task> task =
      MakeClient(options).WatchTask(kUuid, seen.Callback());
  ASSERT_TRUE(task.ok()) << task.status();
  EXPECT_EQ(task->status(), v1::TASK_STATUS_SUCCESS);
  EXPECT_EQ(task->task_uuid(), kUuid);
  EXPECT_THAT(seen.kinds, ElementsAre(v1::TASK_EVENT_KIND_SNAPSHOT,
                                      v1::TASK_EVENT_KIND_UPDATE,
                                      v1::TASK_EVENT_KIND_FINALIZED));
  EXPECT_THAT(seen.cursors, ElementsAre("c1", "c2", "c3"));
  std::vector<v1::WatchTaskRequest> requests = service().WatchTaskRequests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].task_uuid(), kUuid);
  EXPECT_EQ(requests[0].resume_cursor(), "");
  std::vector<testing_util::CallRecord> calls = service().Calls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].Metadata(kApiKeyMetadata), "caller-key");
  EXPECT_FALSE(calls[0].has_deadline);  // A watch lasts as long as its task.
}

TEST_F(ClientTest, WatchTaskWithoutCallbackReturnsFailedTask) {
  v1::TaskEvent failed = Finalized(v1::TASK_STATUS_FAILED, "c1");
  failed.mutable_task()->mutable_error()->set_code(5000);
  service().AddWatchTask(Script({failed}));
  absl::StatusOr<v1::Task> task = MakeClient().WatchTask(kUuid, nullptr);
  ASSERT_TRUE(task.ok()) << task.status();
  EXPECT_EQ(task->status(), v1::TASK_STATUS_FAILED);
  EXPECT_EQ(task->error().code(), 5000);
}

TEST_F(ClientTest, WatchTaskResumesFromTheLastCursor) {
  service().AddWatchTask(Script(
      {Snapshot(v1::TASK_STATUS_RUNNING, 10, "c1"),
       Update(v1::TASK_STATUS_RUNNING, 20, "c2")},
      grpc::Status(grpc::StatusCode::UNAVAILABLE, "gateway restarting")));
  // The new stream repeats the last event before going on.
  service().AddWatchTask(Script({Update(v1::TASK_STATUS_RUNNING, 20, "c2"),
                                 Update(v1::TASK_STATUS_RUNNING, 30, "c3"),
                                 Finalized(v1::TASK_STATUS_SUCCESS, "c4")}));
  Recorder seen;
  std::vector<absl::StatusCode> breaks;
  WatchOptions options = FastRetry();
  options.on_reconnect = [&breaks](const absl::Status& s, absl::Duration) {
    breaks.push_back(s.code());
  };
  absl::StatusOr<v1::Task> task =
      MakeClient().WatchTask(kUuid, seen.Callback(), options);
  ASSERT_TRUE(task.ok()) << task.status();
  EXPECT_EQ(task->status(), v1::TASK_STATUS_SUCCESS);
  EXPECT_THAT(seen.cursors, ElementsAre("c1", "c2", "c3", "c4"));
  EXPECT_THAT(breaks, ElementsAre(absl::StatusCode::kUnavailable));
  std::vector<v1::WatchTaskRequest> requests = service().WatchTaskRequests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].resume_cursor(), "");
  EXPECT_EQ(requests[1].resume_cursor(), "c2");
  EXPECT_EQ(requests[1].task_uuid(), kUuid);
}

TEST_F(ClientTest, WatchTaskResumesFromTheErrorInfoCursor) {
  service().AddWatchTask(Script({Snapshot(v1::TASK_STATUS_RUNNING, 10, "c1")},
                                UnavailableWithCursor("c1-dropped")));
  // A resumed snapshot equal to the task delivered last is not repeated.
  service().AddWatchTask(Script({Snapshot(v1::TASK_STATUS_RUNNING, 10, "c5"),
                                 Finalized(v1::TASK_STATUS_CANCELLED, "c6")}));
  Recorder seen;
  absl::StatusOr<v1::Task> task =
      MakeClient().WatchTask(kUuid, seen.Callback(), FastRetry());
  ASSERT_TRUE(task.ok()) << task.status();
  EXPECT_EQ(task->status(), v1::TASK_STATUS_CANCELLED);
  EXPECT_THAT(seen.cursors, ElementsAre("c1", "c6"));
  std::vector<v1::WatchTaskRequest> requests = service().WatchTaskRequests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[1].resume_cursor(), "c1-dropped");
}

TEST_F(ClientTest, WatchTaskDeliversTheTerminalEventOnce) {
  // The stream breaks after FINALIZED instead of ending OK: the watch has
  // its result and does not reconnect (which would replay FINALIZED).
  service().AddWatchTask(
      Script({Snapshot(v1::TASK_STATUS_RUNNING, 90, "c1"),
              Finalized(v1::TASK_STATUS_SUCCESS, "c2")},
             grpc::Status(grpc::StatusCode::UNAVAILABLE, "connection reset")));
  service().AddWatchTask(Script({Finalized(v1::TASK_STATUS_SUCCESS, "c2")}));
  Recorder seen;
  absl::StatusOr<v1::Task> task =
      MakeClient().WatchTask(kUuid, seen.Callback(), FastRetry());
  ASSERT_TRUE(task.ok()) << task.status();
  EXPECT_THAT(seen.kinds, ElementsAre(v1::TASK_EVENT_KIND_SNAPSHOT,
                                      v1::TASK_EVENT_KIND_FINALIZED));
  EXPECT_EQ(service().CallCount("WatchTask"), 1);
}

TEST_F(ClientTest, WatchTaskPermanentError) {
  service().AddWatchTask(
      Script({}, RichError(grpc::StatusCode::NOT_FOUND,
                           "WatchTask: task not found", "TASK_NOT_FOUND")));
  absl::StatusOr<v1::Task> task =
      MakeClient().WatchTask(kUuid, nullptr, FastRetry());
  ASSERT_FALSE(task.ok());
  EXPECT_EQ(task.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Explain(task.status()).reason, "TASK_NOT_FOUND");
  EXPECT_EQ(service().CallCount("WatchTask"), 1);
}

TEST_F(ClientTest, WatchTaskTooManyTransients) {
  service().AddWatchTask(
      Script({}, grpc::Status(grpc::StatusCode::UNAVAILABLE, "gateway down")));
  WatchOptions options = FastRetry();
  options.max_reconnects = 2;
  absl::StatusOr<v1::Task> task =
      MakeClient().WatchTask(kUuid, nullptr, options);
  ASSERT_FALSE(task.ok());
  EXPECT_EQ(task.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(service().CallCount("WatchTask"), 3);
}

TEST_F(ClientTest, WatchTaskEventsResetTheReconnectCount) {
  // Each stream delivers one new event, then breaks: progress, so the
  // watch goes on past max_reconnects breaks in all.
  for (int i = 1; i <= 3; ++i) {
    service().AddWatchTask(
        Script({Update(v1::TASK_STATUS_RUNNING, i * 10, absl::StrCat("c", i))},
               grpc::Status(grpc::StatusCode::UNAVAILABLE, "slow")));
  }
  service().AddWatchTask(Script({Finalized(v1::TASK_STATUS_SUCCESS, "c4")}));
  WatchOptions options = FastRetry();
  options.max_reconnects = 1;
  Recorder seen;
  absl::StatusOr<v1::Task> task =
      MakeClient().WatchTask(kUuid, seen.Callback(), options);
  ASSERT_TRUE(task.ok()) << task.status();
  EXPECT_THAT(seen.cursors, ElementsAre("c1", "c2", "c3", "c4"));
}

TEST_F(ClientTest, WatchTaskStreamEndingWithoutFinalizedIsInternal) {
  service().AddWatchTask(Script({Snapshot(v1::TASK_STATUS_RUNNING, 10, "c1")}));
  absl::StatusOr<v1::Task> task = MakeClient().WatchTask(kUuid, nullptr);
  EXPECT_EQ(task.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(task.status().message(), HasSubstr("without a FINALIZED"));
}

TEST_F(ClientTest, WatchTaskEventOfAnotherTaskIsInternal) {
  service().AddWatchTask(
      Script({Event(v1::TASK_EVENT_KIND_SNAPSHOT, v1::TASK_STATUS_RUNNING, 10,
                    "c1", "another-uuid")}));
  Recorder seen;
  absl::StatusOr<v1::Task> task =
      MakeClient().WatchTask(kUuid, seen.Callback());
  EXPECT_EQ(task.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(task.status().message(), HasSubstr("another-uuid"));
  EXPECT_TRUE(seen.cursors.empty());
}

TEST_F(ClientTest, WatchTaskCallbackStops) {
  WatchScript script = Script({Snapshot(v1::TASK_STATUS_RUNNING, 10, "c1")});
  script.hold_open = true;
  service().AddWatchTask(script);
  int calls = 0;
  absl::StatusOr<v1::Task> task =
      MakeClient().WatchTask(kUuid, [&calls](const v1::TaskEvent&) {
        ++calls;
        return false;
      });
  EXPECT_EQ(task.status().code(), absl::StatusCode::kCancelled);
  EXPECT_THAT(task.status().message(), HasSubstr("RUNNING at 10%"));
  EXPECT_EQ(calls, 1);
}

TEST_F(ClientTest, WatchTaskTimeout) {
  WatchScript script = Script({Snapshot(v1::TASK_STATUS_RUNNING, 5, "c1")});
  script.hold_open = true;
  service().AddWatchTask(script);
  WatchOptions options;
  // Long enough for the snapshot to arrive first on a loaded machine (at
  // 200 ms the deadline sometimes came before it).
  options.timeout = absl::Seconds(2);
  absl::StatusOr<v1::Task> task =
      MakeClient().WatchTask(kUuid, nullptr, options);
  EXPECT_EQ(task.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(task.status().message(), HasSubstr("RUNNING at 5%"));
  std::vector<testing_util::CallRecord> calls = service().Calls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_TRUE(calls[0].has_deadline);
}

TEST_F(ClientTest, WatchTaskCancelledDuringBackoff) {
  service().AddWatchTask(
      Script({}, grpc::Status(grpc::StatusCode::UNAVAILABLE, "gateway down")));
  WatchCancellation cancellation;
  absl::Notification backing_off;
  WatchOptions options;
  options.initial_backoff = absl::Hours(1);  // Never waited in full.
  options.max_backoff = absl::Hours(1);
  options.cancellation = &cancellation;
  options.on_reconnect = [&backing_off](const absl::Status&, absl::Duration) {
    if (!backing_off.HasBeenNotified()) backing_off.Notify();
  };
  // The first backoff is random in [0, 1h]: retry until it is not ~0.
  options.max_reconnects = 1000;
  absl::StatusOr<v1::Task> result;
  Client client = MakeClient();
  std::thread watcher(
      [&] { result = client.WatchTask(kUuid, nullptr, options); });
  backing_off.WaitForNotification();
  cancellation.Cancel();
  watcher.join();
  EXPECT_EQ(result.status().code(), absl::StatusCode::kCancelled);
  EXPECT_TRUE(cancellation.IsCancelled());
}

TEST_F(ClientTest, WatchWithACancelledTokenSendsNothing) {
  WatchCancellation cancellation;
  cancellation.Cancel();
  WatchOptions options;
  options.cancellation = &cancellation;
  absl::StatusOr<v1::Task> task =
      MakeClient().WatchTask(kUuid, nullptr, options);
  EXPECT_EQ(task.status().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(service().CallCount("WatchTask"), 0);
}

TEST_F(ClientTest, WatchTaskStartsFromAGivenCursor) {
  service().AddWatchTask(Script({Finalized(v1::TASK_STATUS_SUCCESS, "c9")}));
  WatchOptions options;
  options.resume_cursor = "c8";
  ASSERT_TRUE(MakeClient().WatchTask(kUuid, nullptr, options).ok());
  EXPECT_EQ(service().WatchTaskRequests()[0].resume_cursor(), "c8");
}

TEST_F(ClientTest, WatchTasksSendsTheSelection) {
  WatchScript script =
      Script({Event(v1::TASK_EVENT_KIND_UPDATE, v1::TASK_STATUS_RUNNING, 10,
                    "a1", "uuid-a")});
  script.hold_open = true;
  service().AddWatchTasks(script);
  WatchTasksOptions select;
  select.since = absl::FromUnixSeconds(1764118923) + absl::Milliseconds(250);
  select.statuses = {v1::TASK_STATUS_RUNNING, v1::TASK_STATUS_SUCCESS};
  select.flow_names = {"text-to-model"};
  absl::Status status = MakeClient().WatchTasks(
      select, [](const v1::TaskEvent&) { return false; });
  ASSERT_TRUE(status.ok()) << status;
  std::vector<v1::WatchTasksRequest> requests = service().WatchTasksRequests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0].since().seconds(), 1764118923);
  EXPECT_EQ(requests[0].since().nanos(), 250000000);
  EXPECT_EQ(requests[0].resume_cursor(), "");
  EXPECT_THAT(requests[0].statuses(),
              ElementsAre(v1::TASK_STATUS_RUNNING, v1::TASK_STATUS_SUCCESS));
  EXPECT_THAT(requests[0].flow_names(), ElementsAre("text-to-model"));
}

TEST_F(ClientTest, WatchTasksResumesWithoutDuplicates) {
  service().AddWatchTasks(
      Script({Event(v1::TASK_EVENT_KIND_UPDATE, v1::TASK_STATUS_RUNNING, 10,
                    "a1", "uuid-a"),
              Event(v1::TASK_EVENT_KIND_FINALIZED, v1::TASK_STATUS_SUCCESS, 100,
                    "b1", "uuid-b")},
             UnavailableWithCursor("b1")));
  WatchScript second =
      Script({// Replays: the last event of uuid-a, and uuid-b's FINALIZED.
              Event(v1::TASK_EVENT_KIND_UPDATE, v1::TASK_STATUS_RUNNING, 10,
                    "a1", "uuid-a"),
              Event(v1::TASK_EVENT_KIND_FINALIZED, v1::TASK_STATUS_SUCCESS, 100,
                    "b2", "uuid-b"),
              Event(v1::TASK_EVENT_KIND_UPDATE, v1::TASK_STATUS_RUNNING, 20,
                    "a2", "uuid-a")});
  second.hold_open = true;
  service().AddWatchTasks(second);
  WatchTasksOptions select;
  select.since = absl::FromUnixSeconds(1764118923);
  select.flow_names = {"text-to-model"};
  std::vector<std::string> cursors;
  absl::Status status = MakeClient().WatchTasks(
      select,
      [&cursors](const v1::TaskEvent& e) {
        cursors.push_back(e.cursor());
        return cursors.size() < 3;
      },
      FastRetry());
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_THAT(cursors, ElementsAre("a1", "b1", "a2"));
  std::vector<v1::WatchTasksRequest> requests = service().WatchTasksRequests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[1].resume_cursor(), "b1");
  EXPECT_FALSE(requests[1].has_since());  // The cursor takes its place.
  EXPECT_THAT(requests[1].flow_names(), ElementsAre("text-to-model"));
}

TEST_F(ClientTest, WatchTasksCancelledFromAnotherThread) {
  WatchScript script =
      Script({Event(v1::TASK_EVENT_KIND_UPDATE, v1::TASK_STATUS_RUNNING, 10,
                    "a1", "uuid-a")});
  script.hold_open = true;
  service().AddWatchTasks(script);
  WatchCancellation cancellation;
  WatchOptions options;
  options.cancellation = &cancellation;
  absl::Notification got_event;
  absl::Status status = absl::UnknownError("not run");
  Client client = MakeClient();
  std::thread watcher([&] {
    status = client.WatchTasks(
        {},
        [&got_event](const v1::TaskEvent&) {
          got_event.Notify();
          return true;
        },
        options);
  });
  got_event.WaitForNotification();
  cancellation.Cancel();
  watcher.join();
  EXPECT_TRUE(status.ok()) << status;
  EXPECT_EQ(service().CallCount("WatchTasks"), 1);
}

TEST_F(ClientTest, WatchTasksPermanentError) {
  service().AddWatchTasks(Script(
      {}, grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "bad since")));
  absl::Status status = MakeClient().WatchTasks(
      {}, [](const v1::TaskEvent&) { return true; }, FastRetry());
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(service().CallCount("WatchTasks"), 1);
}

TEST(IsTerminalTest, TerminalStatuses) {
  EXPECT_TRUE(IsTerminal(v1::TASK_STATUS_SUCCESS));
  EXPECT_TRUE(IsTerminal(v1::TASK_STATUS_FAILED));
  EXPECT_TRUE(IsTerminal(v1::TASK_STATUS_CANCELLED));
  EXPECT_FALSE(IsTerminal(v1::TASK_STATUS_UNSPECIFIED));
  EXPECT_FALSE(IsTerminal(v1::TASK_STATUS_PENDING));
  EXPECT_FALSE(IsTerminal(v1::TASK_STATUS_QUEUED));
  EXPECT_FALSE(IsTerminal(v1::TASK_STATUS_RUNNING));
}

}  // namespace
}  // namespace triverse::client
