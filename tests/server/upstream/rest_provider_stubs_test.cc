// RestTripoStub and RestSirayStub against the in-process emulator in each
// provider's mode: routes, payloads, the key's place (Tripo's socket takes
// it in a header, never the URL), fresh reads for short-lived URLs,
// redirects followed on Siray's downloads, error mapping with Tripo's trace
// id, and what each provider does not offer answered UNIMPLEMENTED before
// any request.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "emulator/assets.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/http/curl_engine.h"
#include "server/upstream/provider_factory.h"
#include "tests/emulator/testing_util/test_emulator.h"
#include "tests/server/testing_util/await.h"
#include "tests/server/testing_util/streamed_download.h"

namespace triverse::upstream {
namespace {

using emulator::Provider;
using ::testing::HasSubstr;
using ::testing::Not;
using testing_util::Await;
using testing_util::ErrorInfoOf;
using testing_util::TestEmulator;

constexpr absl::Duration kWait = absl::Seconds(30);

v1::CreateTaskRequest TextToModel(const std::string& prompt) {
  v1::CreateTaskRequest r;
  r.mutable_text_to_model()->set_prompt(prompt);
  return r;
}

class ProviderStubTest : public ::testing::Test {
 protected:
  void Start(Provider provider) {
    emu_ =
        std::make_unique<TestEmulator>(TestEmulator::DefaultOptions(provider));
    ASSERT_TRUE(emu_->start_status().ok()) << emu_->start_status();
    auto engine = http::CurlEngine::Create({});
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = *std::move(engine);
    RestTransport::Options o;
    o.base_url = emu_->ProviderBase();
    o.observer = [this](const UpstreamExchange& e) {
      absl::MutexLock lock(&mu_);
      exchanges_.push_back(absl::StrCat(e.endpoint, " ", e.code));
    };
    stub_ = MakeRestProviderStub(provider == Provider::kTripo
                                     ? ProviderKind::kTripo
                                     : ProviderKind::kSiray,
                                 engine_.get(), std::move(o));
    key_ = provider == Provider::kTripo ? testing_util::kTripoKeyA
                                        : testing_util::kKeyA;
  }

  void TearDown() override {
    stub_.reset();
    engine_.reset();
    emu_.reset();
  }

  CallOptions Key() const {
    CallOptions o;
    o.api_key = key_;
    o.timeout = absl::Seconds(10);
    return o;
  }

  absl::StatusOr<v1::TaskCreation> Create(const v1::CreateTaskRequest& r) {
    return Await<v1::TaskCreation>(
        [&](auto cb) { stub_->CreateTask(r, "", Key(), std::move(cb)); });
  }
  absl::StatusOr<v1::Task> Get(const std::string& id) {
    return Await<v1::Task>(
        [&](auto cb) { stub_->GetTask(id, "", Key(), std::move(cb)); });
  }
  absl::StatusOr<v1::DownloadUrl> Url(const std::string& id) {
    return Await<v1::DownloadUrl>(
        [&](auto cb) { stub_->GetDownloadUrl(id, Key(), std::move(cb)); });
  }

  // RunToEnd moves the emulator's clock until task `id` is terminal.
  v1::Task RunToEnd(const std::string& id) {
    absl::StatusOr<v1::Task> t;
    for (int i = 0; i < 100; ++i) {
      emu_->AdvanceBy(absl::Seconds(1));
      t = Get(id);
      if (!t.ok()) break;
      if (t->status() == v1::TASK_STATUS_SUCCESS ||
          t->status() == v1::TASK_STATUS_FAILED ||
          t->status() == v1::TASK_STATUS_CANCELLED) {
        break;
      }
    }
    EXPECT_TRUE(t.ok()) << t.status();
    return t.ok() ? *t : v1::Task();
  }

  std::vector<std::string> Exchanges() {
    absl::MutexLock lock(&mu_);
    return exchanges_;
  }

  // Download runs DownloadAsset to its end.
  std::shared_ptr<testing_util::StreamedDownload> Download(
      const std::string& id) {
    auto d = std::make_shared<testing_util::StreamedDownload>();
    stub_->DownloadAsset(id, Key(), testing_util::StreamedDownload::Sink(d),
                         testing_util::StreamedDownload::Done(d));
    const absl::Status status = d->WaitDone();
    EXPECT_TRUE(status.ok()) << status;
    return d;
  }

  std::unique_ptr<TestEmulator> emu_;
  std::unique_ptr<http::CurlEngine> engine_;
  std::shared_ptr<ProviderStub> stub_;
  std::string key_;
  absl::Mutex mu_;
  std::vector<std::string> exchanges_ ABSL_GUARDED_BY(mu_);
};

// ------------------------------------------------------------------ Tripo

TEST_F(ProviderStubTest, TripoLifecycleWithFreshUrlsOnEveryRead) {
  Start(Provider::kTripo);
  absl::StatusOr<v1::TaskCreation> c = Create(TextToModel("a red chair"));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->status(), v1::TASK_STATUS_QUEUED);
  EXPECT_EQ(c->flow_name(), "text-to-model");
  const v1::Task done = RunToEnd(c->task_uuid());
  ASSERT_EQ(done.status(), v1::TASK_STATUS_SUCCESS);
  EXPECT_EQ(done.progress(), 100);
  EXPECT_TRUE(done.has_created_at());

  // Each read gives new signed URLs: never cached.
  absl::StatusOr<v1::DownloadUrl> u1 = Url(c->task_uuid());
  absl::StatusOr<v1::DownloadUrl> u2 = Url(c->task_uuid());
  ASSERT_TRUE(u1.ok()) << u1.status();
  ASSERT_TRUE(u2.ok()) << u2.status();
  EXPECT_NE(u1->download_url(), u2->download_url());

  // Past the URLs' five minutes, a download still works: it reads afresh.
  emu_->AdvanceBy(absl::Minutes(10));
  auto d = Download(c->task_uuid());
  ASSERT_TRUE(d->status().ok()) << d->status();
  EXPECT_EQ(d->body().substr(0, 4), "glTF");
  EXPECT_THAT(Exchanges(), ::testing::Contains("GET {model url} 200"));
}

TEST_F(ProviderStubTest, TripoRunningTaskReportsQueueAndTimeLeft) {
  Start(Provider::kTripo);
  absl::StatusOr<v1::TaskCreation> c = Create(TextToModel("a blue lamp"));
  ASSERT_TRUE(c.ok()) << c.status();
  bool saw_running = false;
  for (int i = 0; i < 100 && !saw_running; ++i) {
    absl::StatusOr<v1::Task> t = Get(c->task_uuid());
    ASSERT_TRUE(t.ok()) << t.status();
    if (t->status() == v1::TASK_STATUS_QUEUED) {
      EXPECT_TRUE(t->queue().is_queued());
      EXPECT_GE(t->queue().position(), 1);
    }
    if (t->status() == v1::TASK_STATUS_RUNNING) {
      saw_running = true;
      EXPECT_TRUE(t->has_estimated_seconds_left());
    }
    emu_->AdvanceBy(absl::Milliseconds(500));
  }
  EXPECT_TRUE(saw_running);
}

TEST_F(ProviderStubTest, TripoErrorsCarryTheTraceIdAndTheirCode) {
  Start(Provider::kTripo);
  absl::StatusOr<v1::Task> t = Get("00000000-0000-4000-8000-0000000000ff");
  ASSERT_EQ(t.status().code(), absl::StatusCode::kNotFound) << t.status();
  const google::rpc::ErrorInfo info = ErrorInfoOf(t.status());
  EXPECT_EQ(info.metadata().at("provider"), "tripo");
  EXPECT_EQ(info.metadata().at("upstreamCode"), "2001");
  const std::string trace = info.metadata().at("upstreamTraceId");
  EXPECT_FALSE(trace.empty());
  EXPECT_THAT(t.status().message(), HasSubstr(trace));

  // Not a Tripo id: refused before any request.
  t = Get("../user/balance");
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Exchanges(), ::testing::SizeIs(1));
}

TEST_F(ProviderStubTest, TripoUploadAndBalance) {
  Start(Provider::kTripo);
  UploadSpec png;
  png.kind = v1::FILE_KIND_IMAGE;
  png.file_name = "chair.png";
  png.content_type = "image/png";
  png.bytes = emulator::MakePng(1, 8, 8);
  absl::StatusOr<std::string> token = Await<std::string>(
      [&](auto cb) { stub_->UploadFile(png, Key(), std::move(cb)); });
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_TRUE(IsUuid(*token)) << *token;

  UploadSpec model = png;
  model.kind = v1::FILE_KIND_MODEL;
  model.file_name = "chair.glb";
  absl::StatusOr<std::string> refused = Await<std::string>(
      [&](auto cb) { stub_->UploadFile(model, Key(), std::move(cb)); });
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnimplemented);

  absl::StatusOr<v1::Balance> balance = Await<v1::Balance>(
      [&](auto cb) { stub_->GetBalance(Key(), std::move(cb)); });
  ASSERT_TRUE(balance.ok()) << balance.status();
  EXPECT_GT(balance->balance(), 0);
}

TEST_F(ProviderStubTest, TripoWatchSendsTheKeyInTheHeaderOnly) {
  Start(Provider::kTripo);
  absl::StatusOr<v1::TaskCreation> c = Create(TextToModel("a green vase"));
  ASSERT_TRUE(c.ok()) << c.status();
  absl::Notification opened;
  absl::Notification ended;
  absl::Mutex mu;
  std::vector<v1::TaskStatus> seen;
  absl::Status end_status;
  WatchHandler handler;
  handler.on_open = [&] { opened.Notify(); };
  handler.on_frame = [&](absl::StatusOr<translate::WatchFrame> f) {
    absl::MutexLock lock(&mu);
    if (f.ok()) seen.push_back(f->task.status());
  };
  const uint64_t id = stub_->WatchAll(std::nullopt, Key(), std::move(handler),
                                      [&](absl::Status s) {
                                        end_status = std::move(s);
                                        ended.Notify();
                                      });
  ASSERT_NE(id, 0u);
  ASSERT_TRUE(opened.WaitForNotificationWithTimeout(kWait));
  for (int i = 0; i < 30; ++i) emu_->AdvanceBy(absl::Seconds(1));
  auto done = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    return !seen.empty() && seen.back() == v1::TASK_STATUS_SUCCESS;
  };
  {
    absl::MutexLock lock(&mu);
    EXPECT_TRUE(mu.AwaitWithTimeout(absl::Condition(&done), kWait));
  }
  stub_->Cancel(id);
  ASSERT_TRUE(ended.WaitForNotificationWithTimeout(kWait));
  EXPECT_EQ(end_status.code(), absl::StatusCode::kCancelled);
  // The request log shows the route, never the key.
  for (const std::string& line : emu_->LogLines()) {
    EXPECT_THAT(line, Not(HasSubstr(key_)));
  }
  EXPECT_THAT(Exchanges(), ::testing::Contains("GET /task/watch/all 101"));
}

TEST_F(ProviderStubTest, TripoRefusedUpgradeIsAnErrorOfTheProvider) {
  Start(Provider::kTripo);
  // The stub always sends the header; a refused key shows what the refusal
  // maps to.
  CallOptions none = Key();
  none.api_key = "";
  absl::Notification ended;
  absl::Status end_status;
  WatchHandler handler;
  handler.on_frame = [](absl::StatusOr<translate::WatchFrame>) {};
  stub_->WatchAll(std::nullopt, none, std::move(handler), [&](absl::Status s) {
    end_status = std::move(s);
    ended.Notify();
  });
  ASSERT_TRUE(ended.WaitForNotificationWithTimeout(kWait));
  EXPECT_FALSE(end_status.ok());
  EXPECT_EQ(ErrorInfoOf(end_status).metadata().at("provider"), "tripo");
}

// ------------------------------------------------------------------ Siray

TEST_F(ProviderStubTest, SirayLifecycleAndRedirectedDownload) {
  Start(Provider::kSiray);
  absl::StatusOr<v1::TaskCreation> c = Create(TextToModel("a red chair"));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(absl::StartsWith(c->task_uuid(), "3d_")) << c->task_uuid();
  EXPECT_EQ(c->status(), v1::TASK_STATUS_PENDING);
  const v1::Task done = RunToEnd(c->task_uuid());
  ASSERT_EQ(done.status(), v1::TASK_STATUS_SUCCESS);
  ASSERT_GT(done.output().textured_model_url_size(), 0);
  EXPECT_THAT(done.output().textured_model_url(0), HasSubstr("/redirect/"));

  auto d = Download(c->task_uuid());
  ASSERT_TRUE(d->status().ok()) << d->status();
  EXPECT_EQ(d->body().substr(0, 4), "glTF");
}

TEST_F(ProviderStubTest, SirayDownloadBeforeSuccessIsAPrecondition) {
  Start(Provider::kSiray);
  absl::StatusOr<v1::TaskCreation> c = Create(TextToModel("a blue lamp"));
  ASSERT_TRUE(c.ok()) << c.status();
  absl::StatusOr<v1::DownloadUrl> u = Url(c->task_uuid());
  EXPECT_EQ(u.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(u.status().message(), HasSubstr("TASK_STATUS_PENDING"));
}

TEST_F(ProviderStubTest, SirayOffersNoPushUploadOrAccount) {
  Start(Provider::kSiray);
  EXPECT_FALSE(stub_->capabilities().push_watch);
  absl::Status watch;
  WatchHandler handler;
  handler.on_frame = [](absl::StatusOr<translate::WatchFrame>) {};
  EXPECT_EQ(stub_->WatchAll(std::nullopt, Key(), std::move(handler),
                            [&](absl::Status s) { watch = std::move(s); }),
            0u);
  EXPECT_EQ(watch.code(), absl::StatusCode::kUnimplemented);
  absl::StatusOr<v1::Balance> balance = Await<v1::Balance>(
      [&](auto cb) { stub_->GetBalance(Key(), std::move(cb)); });
  EXPECT_EQ(balance.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(balance.status().message(), HasSubstr("siray"));
  EXPECT_TRUE(Exchanges().empty());
}

TEST_F(ProviderStubTest, SirayErrorsMapFromItsErrorBody) {
  Start(Provider::kSiray);
  key_ = "not-a-siray-key";
  absl::StatusOr<v1::TaskCreation> c = Create(TextToModel("a red chair"));
  // The gateway's own key refused: the gateway's problem, not the caller's.
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInternal) << c.status();
  EXPECT_EQ(ErrorInfoOf(c.status()).metadata().at("provider"), "siray");
  EXPECT_THAT(c.status().message(), Not(HasSubstr(key_)));
}

}  // namespace
}  // namespace triverse::upstream
