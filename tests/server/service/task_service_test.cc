// TaskServiceImpl over a mocked TriverseConnection, served by a real
// in-process gRPC server on 127.0.0.1:0 and called through the generated
// stub: validation, keys, deadlines, error details, cancellation, paging,
// the account join, and both streaming RPCs.
#include "server/service/task_service.h"

#include <limits>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "server/errors/upstream_status.h"
#include "server/upstream/mock_triverse_connection.h"
#include "tests/server/testing_util/rpc_details.h"

namespace triverse::service {
namespace {

using ::testing::_;
using ::testing::ElementsAre;
using ::testing::Eq;
using ::testing::Field;
using ::testing::HasSubstr;
using ::testing::Return;
using ::testing::StrictMock;
using upstream::CallContext;
using upstream::MockTriverseConnection;

constexpr char kUuid[] = "0b4f8f6e-8f0e-4c65-9a36-3c1f2d6f7a10";
constexpr char kGatewayKey[] = "gateway-key";
constexpr absl::Duration kWait = absl::Seconds(30);

template <typename T>
std::optional<T> Find(const grpc::Status& status) {
  return testing_util::FindDetail<T>(status);
}
using testing_util::Reason;
using testing_util::ViolatedFields;

class TaskServiceTest : public ::testing::Test {
 protected:
  void Start(ServiceOptions options = DefaultOptions()) {
    service_ = std::make_unique<TaskServiceImpl>(connection_, options);
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_NE(port, 0);
    stub_ = v1::TaskService::NewStub(grpc::CreateChannel(
        absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));
  }

  void TearDown() override {
    if (server_) server_->Shutdown();
  }

  static ServiceOptions DefaultOptions() {
    ServiceOptions o;
    o.api_key = kGatewayKey;
    return o;
  }

  // Context with a 30 s deadline (the assertions never wait for it).
  static std::unique_ptr<grpc::ClientContext> Context() {
    auto c = std::make_unique<grpc::ClientContext>();
    c->set_deadline(std::chrono::system_clock::now() +
                    std::chrono::seconds(30));
    return c;
  }

  std::shared_ptr<StrictMock<MockTriverseConnection>> connection_ =
      std::make_shared<StrictMock<MockTriverseConnection>>();
  std::unique_ptr<TaskServiceImpl> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::TaskService::Stub> stub_;
};

TEST_F(TaskServiceTest, GetTaskPassesKeyAndDeadlineAndReturnsTask) {
  Start();
  CallContext seen;
  EXPECT_CALL(*connection_, GetTask(Eq(kUuid), _, _))
      .WillOnce([&](absl::string_view uuid, CallContext c,
                    upstream::TriverseConnection::Callback<v1::Task> done) {
        seen = c;
        v1::Task t;
        t.set_task_uuid(std::string(uuid));
        t.set_status(v1::TASK_STATUS_RUNNING);
        done(t);
        return 1;
      });
  auto ctx = Context();
  const absl::Time before = absl::Now();
  v1::GetTaskRequest req;
  req.set_task_uuid(kUuid);
  v1::Task task;
  grpc::Status s = stub_->GetTask(ctx.get(), req, &task);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(task.task_uuid(), kUuid);
  EXPECT_EQ(task.status(), v1::TASK_STATUS_RUNNING);
  EXPECT_EQ(seen.api_key, kGatewayKey);
  EXPECT_FALSE(seen.caller_key);
  // The caller's 30 s deadline arrives (give or take clock skew).
  EXPECT_GT(seen.deadline, before + absl::Seconds(20));
  EXPECT_LT(seen.deadline, before + absl::Seconds(40));
}

TEST_F(TaskServiceTest, CallWithoutDeadlineGetsTheDefault) {
  ServiceOptions options = DefaultOptions();
  options.default_deadline = absl::Seconds(7);
  Start(options);
  CallContext seen;
  EXPECT_CALL(*connection_, GetUser(_, _))
      .WillOnce([&](CallContext c, auto done) {
        seen = c;
        done(v1::User());
        return 1;
      });
  EXPECT_CALL(*connection_, GetBalance(_, _)).WillOnce([](auto, auto done) {
    done(v1::Balance());
    return 2;
  });
  const absl::Time before = absl::Now();
  grpc::ClientContext ctx;
  v1::Account account;
  ASSERT_TRUE(stub_->GetAccount(&ctx, {}, &account).ok());
  EXPECT_GE(seen.deadline, before + absl::Seconds(7));
  EXPECT_LT(seen.deadline, before + absl::Seconds(60));
}

TEST_F(TaskServiceTest, InvalidUuidIsBadRequestWithoutUpstreamCall) {
  Start();  // StrictMock: any connection call fails the test.
  v1::GetTaskRequest req;
  req.set_task_uuid("../../etc/passwd");
  v1::Task task;
  auto ctx = Context();
  grpc::Status s = stub_->GetTask(ctx.get(), req, &task);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("task_uuid"));
  EXPECT_THAT(ViolatedFields(s), ElementsAre("task_uuid"));
  EXPECT_EQ(Reason(s), "INVALID_ARGUMENT");
}

TEST_F(TaskServiceTest, CreateTaskValidationListsEveryViolation) {
  Start();
  v1::CreateTaskRequest req;
  req.mutable_text_to_model()->set_prompt("ab");
  req.mutable_text_to_model()->set_texture_size(99);
  req.set_client_order_id("no spaces allowed");
  v1::TaskCreation created;
  auto ctx = Context();
  grpc::Status s = stub_->CreateTask(ctx.get(), req, &created);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(ViolatedFields(s),
              ::testing::UnorderedElementsAre("text_to_model.prompt",
                                              "text_to_model.texture_size",
                                              "client_order_id"));
}

TEST_F(TaskServiceTest, CreateTaskForwardsTheRequest) {
  Start();
  EXPECT_CALL(*connection_, CreateTask(_, _, _))
      .WillOnce([](const v1::CreateTaskRequest& r, CallContext, auto done) {
        EXPECT_EQ(r.text_to_model().prompt(), "a red chair");
        EXPECT_EQ(r.client_order_id(), "order-1");
        v1::TaskCreation c;
        c.set_task_uuid(kUuid);
        c.set_client_order_id(r.client_order_id());
        done(c);
        return 3;
      });
  v1::CreateTaskRequest req;
  req.mutable_text_to_model()->set_prompt("a red chair");
  req.set_client_order_id("order-1");
  v1::TaskCreation created;
  auto ctx = Context();
  ASSERT_TRUE(stub_->CreateTask(ctx.get(), req, &created).ok());
  EXPECT_EQ(created.task_uuid(), kUuid);
  EXPECT_EQ(created.client_order_id(), "order-1");
}

TEST_F(TaskServiceTest, CallerKeyUsedWhenAllowed) {
  ServiceOptions options = DefaultOptions();
  options.allow_caller_keys = true;
  Start(options);
  CallContext seen;
  EXPECT_CALL(*connection_, GetDownloadUrl(_, _, _))
      .WillOnce([&](absl::string_view, CallContext c, auto done) {
        seen = c;
        done(v1::DownloadUrl());
        return 1;
      });
  auto ctx = Context();
  ctx->AddMetadata(kApiKeyMetadata, "tenant-key");
  v1::GetDownloadUrlRequest req;
  req.set_task_uuid(kUuid);
  v1::DownloadUrl url;
  ASSERT_TRUE(stub_->GetDownloadUrl(ctx.get(), req, &url).ok());
  EXPECT_EQ(seen.api_key, "tenant-key");
  EXPECT_TRUE(seen.caller_key);
}

TEST_F(TaskServiceTest, CallerKeyRefusedWhenDisabled) {
  Start();
  auto ctx = Context();
  ctx->AddMetadata(kApiKeyMetadata, "tenant-key");
  v1::GetTaskRequest req;
  req.set_task_uuid(kUuid);
  v1::Task task;
  grpc::Status s = stub_->GetTask(ctx.get(), req, &task);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(Reason(s), "CALLER_KEYS_DISABLED");
}

TEST_F(TaskServiceTest, NoKeyAtAllIsUnauthenticated) {
  ServiceOptions options;
  options.allow_caller_keys = true;
  Start(options);
  auto ctx = Context();
  v1::Account account;
  grpc::Status s = stub_->GetAccount(ctx.get(), {}, &account);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Reason(s), "API_KEY_MISSING");
  EXPECT_THAT(s.error_message(), HasSubstr(kApiKeyMetadata));
}

TEST_F(TaskServiceTest, UpstreamErrorDetailsReachTheCaller) {
  Start();
  EXPECT_CALL(*connection_, GetTask(_, _, _))
      .WillOnce([](absl::string_view, CallContext, auto done) {
        errors::UpstreamError e;
        e.operation = "GetTask";
        e.http_status = 404;
        e.code = 1006;
        e.message = "Task not found";
        e.suggestion = "Check the task id";
        done(errors::AsStatus(e));
        return 1;
      });
  auto ctx = Context();
  v1::GetTaskRequest req;
  req.set_task_uuid(kUuid);
  v1::Task task;
  grpc::Status s = stub_->GetTask(ctx.get(), req, &task);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  auto info = Find<google::rpc::ErrorInfo>(s);
  ASSERT_TRUE(info);
  EXPECT_EQ(info->reason(), "TASK_NOT_FOUND");
  EXPECT_EQ(info->metadata().at("upstreamCode"), "1006");
  EXPECT_EQ(info->metadata().at("suggestion"), "Check the task id");
}

TEST_F(TaskServiceTest, BadUpstreamPayloadIsDataLossWithReason) {
  Start();
  EXPECT_CALL(*connection_, GetTask(_, _, _))
      .WillOnce([](absl::string_view, CallContext, auto done) {
        done(absl::DataLossError("GetTask: status: not a string"));
        return 1;
      });
  auto ctx = Context();
  v1::GetTaskRequest req;
  req.set_task_uuid(kUuid);
  v1::Task task;
  grpc::Status s = stub_->GetTask(ctx.get(), req, &task);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::DATA_LOSS);
  EXPECT_EQ(Reason(s), "UPSTREAM_PAYLOAD_INVALID");
  EXPECT_THAT(s.error_message(), HasSubstr("status"));
}

TEST_F(TaskServiceTest, TransportFailureIsUnavailableWithRetryInfo) {
  Start();
  EXPECT_CALL(*connection_, GetTask(_, _, _))
      .WillOnce([](absl::string_view, CallContext, auto done) {
        done(absl::UnavailableError("GET /tasks/x: connection refused"));
        return 1;
      });
  auto ctx = Context();
  v1::GetTaskRequest req;
  req.set_task_uuid(kUuid);
  v1::Task task;
  grpc::Status s = stub_->GetTask(ctx.get(), req, &task);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(Reason(s), "UPSTREAM_UNAVAILABLE");
  EXPECT_TRUE(Find<google::rpc::RetryInfo>(s).has_value());
}

TEST_F(TaskServiceTest, CancelledRpcCancelsTheUpstreamCall) {
  Start();
  // Shared with the mock's actions, which may still be unwinding on a gRPC
  // thread when the test body ends.
  struct State {
    absl::Mutex mu;
    upstream::TriverseConnection::Callback<v1::Task> pending;
    absl::Notification started;
    absl::Notification cancelled;
  };
  auto state = std::make_shared<State>();
  EXPECT_CALL(*connection_, GetTask(_, _, _))
      .WillOnce([state](absl::string_view, CallContext, auto done) {
        {
          absl::MutexLock lock(&state->mu);
          state->pending = std::move(done);
        }
        state->started.Notify();
        return 42;
      });
  EXPECT_CALL(*connection_, Cancel(42)).WillOnce([state](uint64_t) {
    upstream::TriverseConnection::Callback<v1::Task> pending;
    {
      absl::MutexLock lock(&state->mu);
      pending = std::move(state->pending);
    }
    pending(absl::CancelledError("GetTask: cancelled"));
    state->cancelled.Notify();
  });
  auto ctx = Context();
  v1::GetTaskRequest req;
  req.set_task_uuid(kUuid);
  v1::Task task;
  absl::Notification finished;
  grpc::Status result;
  stub_->async()->GetTask(ctx.get(), &req, &task, [&](grpc::Status s) {
    result = std::move(s);
    finished.Notify();
  });
  ASSERT_TRUE(state->started.WaitForNotificationWithTimeout(kWait));
  ctx->TryCancel();
  ASSERT_TRUE(finished.WaitForNotificationWithTimeout(kWait));
  EXPECT_EQ(result.error_code(), grpc::StatusCode::CANCELLED);
  // The client sees CANCELLED at once; the server learns of it and cancels
  // the upstream call (Cancel(42)) on its own schedule.
  EXPECT_TRUE(state->cancelled.WaitForNotificationWithTimeout(kWait));
}

TEST_F(TaskServiceTest, ListOwnModelsPagesWithTokens) {
  Start();
  EXPECT_CALL(*connection_, ListOwnModels(2, 5, _, _))
      .WillOnce([](int64_t, int64_t, CallContext, auto done) {
        translate::OwnModelsPage page;
        page.models.resize(5);
        page.models[0].set_task_uuid(kUuid);
        page.total = 12;
        page.size = 5;
        page.current = 2;
        page.pages = 3;
        done(std::move(page));
        return 1;
      });
  EXPECT_CALL(*connection_, ListOwnModels(3, 5, _, _))
      .WillOnce([](int64_t, int64_t, CallContext, auto done) {
        translate::OwnModelsPage page;
        page.models.resize(2);
        page.total = 12;  // no page count given: derived from the total
        done(std::move(page));
        return 2;
      });
  v1::ListOwnModelsRequest req;
  req.set_page_size(5);
  req.set_page_token("2");
  v1::ListOwnModelsResponse resp;
  auto ctx = Context();
  ASSERT_TRUE(stub_->ListOwnModels(ctx.get(), req, &resp).ok());
  EXPECT_EQ(resp.models_size(), 5);
  EXPECT_EQ(resp.models(0).task_uuid(), kUuid);
  EXPECT_EQ(resp.total_size(), 12);
  EXPECT_EQ(resp.next_page_token(), "3");

  req.set_page_token(resp.next_page_token());
  auto ctx2 = Context();
  ASSERT_TRUE(stub_->ListOwnModels(ctx2.get(), req, &resp).ok());
  EXPECT_EQ(resp.models_size(), 2);
  EXPECT_EQ(resp.next_page_token(), "");
}

TEST_F(TaskServiceTest, ListOwnModelsPageCountOfAHugeTotalDoesNotOverflow) {
  Start();
  EXPECT_CALL(*connection_, ListOwnModels(1, 5, _, _))
      .WillOnce([](int64_t, int64_t, CallContext, auto done) {
        translate::OwnModelsPage page;
        page.models.resize(5);
        page.total = std::numeric_limits<int64_t>::max();  // no page count
        done(std::move(page));
        return 1;
      });
  v1::ListOwnModelsRequest req;
  req.set_page_size(5);
  v1::ListOwnModelsResponse resp;
  auto ctx = Context();
  ASSERT_TRUE(stub_->ListOwnModels(ctx.get(), req, &resp).ok());
  EXPECT_EQ(resp.total_size(), std::numeric_limits<int64_t>::max());
  EXPECT_EQ(resp.next_page_token(), "2");
}

TEST_F(TaskServiceTest, ListOwnModelsRejectsForeignToken) {
  Start();
  v1::ListOwnModelsRequest req;
  req.set_page_token("abc");
  v1::ListOwnModelsResponse resp;
  auto ctx = Context();
  grpc::Status s = stub_->ListOwnModels(ctx.get(), req, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(ViolatedFields(s), ElementsAre("page_token"));
}

TEST_F(TaskServiceTest, GetAccountJoinsUserAndBalance) {
  Start();
  EXPECT_CALL(*connection_, GetUser(_, _)).WillOnce([](CallContext, auto done) {
    v1::User u;
    u.set_email("dev@example.com");
    done(u);
    return 1;
  });
  EXPECT_CALL(*connection_, GetBalance(_, _))
      .WillOnce([](CallContext, auto done) {
        v1::Balance b;
        b.set_balance(990);
        b.set_frozen(10);
        done(b);
        return 2;
      });
  v1::Account account;
  auto ctx = Context();
  ASSERT_TRUE(stub_->GetAccount(ctx.get(), {}, &account).ok());
  EXPECT_EQ(account.user().email(), "dev@example.com");
  EXPECT_EQ(account.balance().balance(), 990);
  EXPECT_EQ(account.balance().frozen(), 10);
}

TEST_F(TaskServiceTest, GetAccountFailsWithTheFirstErrorAndCancelsTheOther) {
  Start();
  upstream::TriverseConnection::Callback<v1::User> user_done;
  EXPECT_CALL(*connection_, GetUser(_, _))
      .WillOnce([&](CallContext, auto done) {
        user_done = std::move(done);
        return 1;
      });
  EXPECT_CALL(*connection_, GetBalance(_, _))
      .WillOnce([](CallContext, auto done) {
        done(absl::UnavailableError("GET /users/balance: reset"));
        return 2;
      });
  EXPECT_CALL(*connection_, Cancel(1)).WillOnce([&](uint64_t) {
    user_done(absl::CancelledError("cancelled"));
  });
  EXPECT_CALL(*connection_, Cancel(2));  // already done: ignored upstream
  v1::Account account;
  auto ctx = Context();
  grpc::Status s = stub_->GetAccount(ctx.get(), {}, &account);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST_F(TaskServiceTest, DownloadStreamsMetadataThenChunks) {
  ServiceOptions options = DefaultOptions();
  options.download_chunk_bytes = 1000;
  Start(options);
  std::string body(4500, 'x');
  for (size_t i = 0; i < body.size(); ++i) body[i] = static_cast<char>(i % 251);
  EXPECT_CALL(*connection_, DownloadAsset(Eq(kUuid), _, _, _))
      .WillOnce([&](absl::string_view, CallContext, upstream::DownloadSink sink,
                    auto done) {
        v1::AssetMetadata m;
        m.set_file_name(absl::StrCat(kUuid, ".glb"));
        m.set_content_type("model/gltf-binary");
        m.set_size_bytes(static_cast<int64_t>(body.size()));
        sink.on_metadata(m);
        absl::string_view rest = body;
        for (size_t n : {1500, 10, 2990}) {
          EXPECT_TRUE(sink.on_chunk(rest.substr(0, n)));
          rest.remove_prefix(n);
        }
        done(absl::OkStatus());
        return 5;
      });
  EXPECT_CALL(*connection_, Cancel(_)).Times(::testing::AnyNumber());
  auto ctx = Context();
  v1::DownloadAssetRequest req;
  req.set_task_uuid(kUuid);
  auto reader = stub_->DownloadAsset(ctx.get(), req);
  v1::DownloadAssetResponse msg;
  ASSERT_TRUE(reader->Read(&msg));
  ASSERT_TRUE(msg.has_metadata());
  EXPECT_EQ(msg.metadata().content_type(), "model/gltf-binary");
  EXPECT_EQ(msg.metadata().size_bytes(), 4500);
  std::string got;
  while (reader->Read(&msg)) {
    ASSERT_TRUE(msg.has_chunk());
    EXPECT_LE(msg.chunk().size(), 1000u);
    got += msg.chunk();
  }
  grpc::Status s = reader->Finish();
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(got, body);
}

TEST_F(TaskServiceTest, DownloadErrorBeforeMetadataEndsTheStream) {
  Start();
  EXPECT_CALL(*connection_, DownloadAsset(_, _, _, _))
      .WillOnce([](absl::string_view, CallContext, upstream::DownloadSink,
                   auto done) {
        errors::UpstreamError e;
        e.operation = "DownloadAsset";
        e.http_status = 409;
        e.code = 2005;
        e.message = "Task is not finished";
        done(errors::AsStatus(e));
        return 1;
      });
  auto ctx = Context();
  v1::DownloadAssetRequest req;
  req.set_task_uuid(kUuid);
  auto reader = stub_->DownloadAsset(ctx.get(), req);
  v1::DownloadAssetResponse msg;
  EXPECT_FALSE(reader->Read(&msg));
  grpc::Status s = reader->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(Reason(s), "TASK_STATE_CONFLICT");
}

TEST_F(TaskServiceTest, DownloadBeyondTheBufferIsResourceExhausted) {
  ServiceOptions options = DefaultOptions();
  options.max_download_buffer_bytes = 10;
  Start(options);
  EXPECT_CALL(*connection_, DownloadAsset(_, _, _, _))
      .WillOnce([](absl::string_view, CallContext, upstream::DownloadSink sink,
                   auto done) {
        sink.on_metadata(v1::AssetMetadata());
        EXPECT_FALSE(sink.on_chunk(std::string(100, 'x')));
        done(absl::CancelledError("DownloadAsset: sink stopped"));
        return 1;
      });
  EXPECT_CALL(*connection_, Cancel(_)).Times(::testing::AnyNumber());
  auto ctx = Context();
  v1::DownloadAssetRequest req;
  req.set_task_uuid(kUuid);
  auto reader = stub_->DownloadAsset(ctx.get(), req);
  v1::DownloadAssetResponse msg;
  while (reader->Read(&msg)) {
  }
  grpc::Status s = reader->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(Reason(s), "CALLER_TOO_SLOW");
}

// Upload sends `messages` and returns the call's status.
grpc::Status Upload(v1::TaskService::Stub& stub,
                    const std::vector<v1::UploadFileRequest>& messages,
                    v1::UploadFileResponse* response) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  auto writer = stub.UploadFile(&ctx, response);
  for (const auto& m : messages) {
    if (!writer->Write(m)) break;  // the server ended the call early
  }
  writer->WritesDone();
  return writer->Finish();
}

v1::UploadFileRequest Meta(v1::FileKind kind, std::string name,
                           std::string type) {
  v1::UploadFileRequest r;
  r.mutable_metadata()->set_kind(kind);
  r.mutable_metadata()->set_file_name(std::move(name));
  r.mutable_metadata()->set_content_type(std::move(type));
  return r;
}

v1::UploadFileRequest Chunk(std::string bytes) {
  v1::UploadFileRequest r;
  r.set_chunk(std::move(bytes));
  return r;
}

TEST_F(TaskServiceTest, UploadReassemblesChunks) {
  Start();
  EXPECT_CALL(*connection_, UploadFile(_, _, _))
      .WillOnce([](upstream::UploadSpec spec, CallContext, auto done) {
        EXPECT_EQ(spec.kind, v1::FILE_KIND_IMAGE);
        EXPECT_EQ(spec.file_name, "cat.png");
        EXPECT_EQ(spec.content_type, "image/png");
        EXPECT_EQ(spec.bytes, "abcdefgh");
        done(std::string("tasks/uid_1/20261126/x.png"));
        return 1;
      });
  v1::UploadFileResponse resp;
  grpc::Status s = Upload(*stub_,
                          {Meta(v1::FILE_KIND_IMAGE, "cat.png", "image/png"),
                           Chunk("abc"), Chunk("defgh")},
                          &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(resp.file_key(), "tasks/uid_1/20261126/x.png");
}

TEST_F(TaskServiceTest, UploadRejectsBadMetadataBeforeAnyUpstreamCall) {
  Start();
  v1::UploadFileResponse resp;
  grpc::Status s = Upload(
      *stub_, {Meta(v1::FILE_KIND_IMAGE, "cat.gif", "image/gif"), Chunk("x")},
      &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(ViolatedFields(s), ElementsAre("metadata.content_type"));

  s = Upload(*stub_, {Meta(v1::FILE_KIND_MODEL, "chair.exe", ""), Chunk("x")},
             &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(ViolatedFields(s), ElementsAre("metadata.file_name"));

  s = Upload(*stub_, {Chunk("x")}, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(ViolatedFields(s), ElementsAre("metadata"));

  s = Upload(*stub_, {Meta(v1::FILE_KIND_IMAGE, "cat.png", "image/png")},
             &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(ViolatedFields(s), ElementsAre("chunk"));
}

TEST_F(TaskServiceTest, CancelledUploadSendsNothingUpstream) {
  Start();  // StrictMock: an UploadFile call would fail the test.
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  v1::UploadFileResponse resp;
  auto writer = stub_->UploadFile(&ctx, &resp);
  ASSERT_TRUE(writer->Write(Meta(v1::FILE_KIND_IMAGE, "cat.png", "image/png")));
  ASSERT_TRUE(writer->Write(Chunk("abc")));
  ctx.TryCancel();
  EXPECT_EQ(writer->Finish().error_code(), grpc::StatusCode::CANCELLED);
  server_->Shutdown();  // every server reaction has run
}

TEST_F(TaskServiceTest, UploadEnforcesSizeLimitsWhileStreaming) {
  ServiceOptions options = DefaultOptions();
  options.max_image_bytes = 5;
  Start(options);
  v1::UploadFileResponse resp;
  auto announced = Meta(v1::FILE_KIND_IMAGE, "cat.png", "image/png");
  announced.mutable_metadata()->set_size_bytes(6);
  grpc::Status s = Upload(*stub_, {announced}, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(ViolatedFields(s), ElementsAre("metadata.size_bytes"));

  s = Upload(*stub_,
             {Meta(v1::FILE_KIND_IMAGE, "cat.png", "image/png"), Chunk("abc"),
              Chunk("def")},
             &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(ViolatedFields(s), ElementsAre("chunk"));

  announced.mutable_metadata()->set_size_bytes(4);
  s = Upload(*stub_, {announced, Chunk("abc")}, &resp);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(ViolatedFields(s), ElementsAre("metadata.size_bytes"));
}

TEST(UploadBudgetTest, ReservesUpToTheLimitAndNothingOnRefusal) {
  UploadBudget budget(10);
  EXPECT_TRUE(budget.TryReserve(6));
  EXPECT_FALSE(budget.TryReserve(5));  // 11 > 10: nothing taken
  EXPECT_EQ(budget.reserved(), 6);
  EXPECT_TRUE(budget.TryReserve(4));  // exactly the limit
  EXPECT_FALSE(budget.TryReserve(1));
  EXPECT_TRUE(budget.TryReserve(0));
  budget.Release(6);
  EXPECT_EQ(budget.reserved(), 4);
  EXPECT_TRUE(budget.TryReserve(6));
  budget.Release(10);
  EXPECT_EQ(budget.reserved(), 0);
  EXPECT_EQ(budget.limit(), 10);
}

TEST_F(TaskServiceTest, UploadBufferIsHeldUntilTheUpstreamAnswers) {
  ServiceOptions options = DefaultOptions();
  options.max_upload_buffer_bytes = 8;
  Start(options);
  absl::Notification upstream_called;
  upstream::TriverseConnection::Callback<std::string> answer;
  // Only the first upload reaches the (strict) mock.
  EXPECT_CALL(*connection_, UploadFile(_, _, _))
      .WillOnce([&](upstream::UploadSpec spec, CallContext, auto done) {
        EXPECT_EQ(spec.bytes, "abcde");
        answer = std::move(done);
        upstream_called.Notify();
        return 1;
      });
  grpc::Status first_status;
  v1::UploadFileResponse first;
  std::thread first_upload([&] {
    first_status = Upload(*stub_,
                          {Meta(v1::FILE_KIND_IMAGE, "a.png", "image/png"),
                           Chunk("abc"), Chunk("de")},
                          &first);
  });
  ASSERT_TRUE(upstream_called.WaitForNotificationWithTimeout(kWait));
  EXPECT_EQ(service_->UploadBufferBytes(), 5);

  // 5 + 4 > 8: the second upload is refused at its chunk; the first holds
  // on.
  v1::UploadFileResponse second;
  grpc::Status s = Upload(
      *stub_, {Meta(v1::FILE_KIND_IMAGE, "b.png", "image/png"), Chunk("wxyz")},
      &second);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << s.error_message();
  EXPECT_EQ(Reason(s), "UPLOAD_BUFFER_EXHAUSTED");
  EXPECT_THAT(s.error_message(), HasSubstr("max-upload-buffer"));
  auto quota = Find<google::rpc::QuotaFailure>(s);
  ASSERT_TRUE(quota.has_value());
  EXPECT_EQ(quota->violations(0).subject(), "gateway");
  EXPECT_TRUE(Find<google::rpc::RetryInfo>(s).has_value());
  EXPECT_EQ(service_->UploadBufferBytes(), 5);

  answer(std::string("tasks/uid_1/20261126/a.png"));
  first_upload.join();
  EXPECT_TRUE(first_status.ok()) << first_status.error_message();
  EXPECT_EQ(first.file_key(), "tasks/uid_1/20261126/a.png");
  EXPECT_EQ(service_->UploadBufferBytes(), 0);
}

TEST_F(TaskServiceTest, CancelledUploadGivesItsBufferBack) {
  Start();  // StrictMock: an UploadFile call would fail the test.
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  v1::UploadFileResponse resp;
  auto writer = stub_->UploadFile(&ctx, &resp);
  ASSERT_TRUE(writer->Write(Meta(v1::FILE_KIND_IMAGE, "cat.png", "image/png")));
  ASSERT_TRUE(writer->Write(Chunk("abc")));
  ctx.TryCancel();
  EXPECT_EQ(writer->Finish().error_code(), grpc::StatusCode::CANCELLED);
  server_->Shutdown();  // every server reaction has run
  EXPECT_EQ(service_->UploadBufferBytes(), 0);
}

TEST(ResolveApiKeyTest, RefusesUnprintableCallerKey) {
  ServiceOptions options;
  options.allow_caller_keys = true;
  const std::string bad = "key\twith tab";
  auto r = ResolveApiKey(options, &bad);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr(kApiKeyMetadata));
}

TEST(WithErrorInfoTest, KeepsAnExistingErrorInfo) {
  errors::UpstreamError e;
  e.operation = "GetTask";
  e.http_status = 429;
  e.code = 2000;
  absl::Status s = WithErrorInfo(errors::AsStatus(e), "GetTask");
  int infos = 0;
  for (const auto& any : errors::Details(s)) {
    infos += any.Is<google::rpc::ErrorInfo>() ? 1 : 0;
  }
  EXPECT_EQ(infos, 1);
}

}  // namespace
}  // namespace triverse::service
