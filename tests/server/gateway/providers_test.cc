// The assembled gateway against the emulator in each provider's mode
// (Triverse, Tripo V2, Siray), on 127.0.0.1 port 0: one contract and one
// client whatever the provider. The same lifecycle runs against every
// provider (create, watch to the end, download), then each provider's own
// behaviour: what it does not offer (UNIMPLEMENTED), its ids, its errors,
// its statuses (Tripo's banned and unknown), polling shared per task
// (Siray).
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "emulator/options.h"
#include "gmock/gmock.h"
#include "google/rpc/error_details.pb.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "server/gateway/gateway.h"
#include "tests/emulator/testing_util/test_emulator.h"
#include "tests/server/testing_util/emulator_faults.h"
#include "tests/server/testing_util/log_capture.h"
#include "tests/server/testing_util/rpc_details.h"
#include "tests/server/testing_util/watch_reactor.h"
#include "triverse/v1/task_service.grpc.pb.h"

namespace triverse::gateway {
namespace {

using emulator::Provider;
using ::testing::HasSubstr;
using ::testing::Not;
using testing_util::TestEmulator;
using testing_util::WatchReactor;

constexpr absl::Duration kWait = absl::Seconds(60);

std::string NameOf(Provider p) {
  switch (p) {
    case Provider::kTripo:
      return "tripo";
    case Provider::kSiray:
      return "siray";
    case Provider::kTriverse:
      break;
  }
  return "triverse";
}

bool IsFinalized(const v1::TaskEvent& e) {
  return e.kind() == v1::TASK_EVENT_KIND_FINALIZED;
}

class ProvidersTest : public ::testing::TestWithParam<Provider> {
 protected:
  void SetUp() override {
    emu_ = std::make_unique<TestEmulator>(
        TestEmulator::DefaultOptions(GetParam()));
    ASSERT_TRUE(emu_->start_status().ok()) << emu_->start_status();
    config_.listen = "127.0.0.1:0";
    config_.provider = NameOf(GetParam());
    config_.upstream_url = emu_->ProviderBase();
    config_.api_key = key();
    config_.retry.initial_backoff = absl::Milliseconds(1);
    config_.retry.max_backoff = absl::Milliseconds(20);
    // Watches that poll (Siray always) look every 20-40 ms here.
    config_.watch.poll_interval = absl::Milliseconds(20);
    GatewayOptions options;
    options.unknown_status_poll = absl::Milliseconds(20);
    auto g = Gateway::Start(config_, options);
    ASSERT_TRUE(g.ok()) << g.status();
    gateway_ = *std::move(g);
    stub_ = v1::TaskService::NewStub(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", gateway_->port()),
                            grpc::InsecureChannelCredentials()));
  }

  void TearDown() override {
    gateway_.reset();
    EXPECT_THAT(logs_.text(), Not(HasSubstr(key())));
  }

  std::string key() const {
    return GetParam() == Provider::kTripo ? testing_util::kTripoKeyA
                                          : testing_util::kKeyA;
  }

  static std::unique_ptr<grpc::ClientContext> Context() {
    auto c = std::make_unique<grpc::ClientContext>();
    c->set_deadline(absl::ToChronoTime(absl::Now() + kWait));
    return c;
  }

  grpc::Status Create(const std::string& prompt, v1::TaskCreation* created,
                      const std::string& order_id = "") {
    v1::CreateTaskRequest req;
    req.mutable_text_to_model()->set_prompt(prompt);
    req.set_client_order_id(order_id);
    return stub_->CreateTask(Context().get(), req, created);
  }

  grpc::Status Get(const std::string& id, v1::Task* task) {
    v1::GetTaskRequest req;
    req.set_task_uuid(id);
    return stub_->GetTask(Context().get(), req, task);
  }

  // WatchToEnd watches `id` while the emulator's clock moves on in steps of
  // a second, until the stream ends; returns the events.
  std::vector<v1::TaskEvent> WatchToEnd(const std::string& id) {
    v1::WatchTaskRequest req;
    req.set_task_uuid(id);
    WatchReactor watch(stub_.get(), req, kWait);
    EXPECT_TRUE(watch.WaitEvents(1, kWait)) << watch.status().error_message();
    for (int i = 0; i < 200 && !watch.done(); ++i) {
      emu_->AdvanceBy(absl::Seconds(1));
      // Waits for the change this second makes to come through (or not).
      watch.WaitFor(IsFinalized, absl::Milliseconds(50));
    }
    EXPECT_TRUE(watch.WaitDone(kWait));
    EXPECT_TRUE(watch.status().ok()) << watch.status().error_message();
    return watch.events();
  }

  // Download reads DownloadAsset to its end.
  grpc::Status Download(const std::string& id, std::string* bytes) {
    v1::DownloadAssetRequest req;
    req.set_task_uuid(id);
    auto ctx = Context();
    auto reader = stub_->DownloadAsset(ctx.get(), req);
    v1::DownloadAssetResponse msg;
    while (reader->Read(&msg)) {
      if (msg.has_chunk()) *bytes += msg.chunk();
    }
    return reader->Finish();
  }

  // UpstreamRequests counts the emulator's request log lines holding
  // `needle`.
  int UpstreamRequests(const std::string& needle) const {
    const std::vector<std::string> lines = emu_->LogLines();
    return static_cast<int>(std::count_if(
        lines.begin(), lines.end(),
        [&](const std::string& l) { return absl::StrContains(l, needle); }));
  }

  testing_util::LogCapture logs_;  // first: outlives the gateway
  std::unique_ptr<TestEmulator> emu_;
  config::Config config_;
  std::unique_ptr<Gateway> gateway_;
  std::unique_ptr<v1::TaskService::Stub> stub_;
};

INSTANTIATE_TEST_SUITE_P(EveryProvider, ProvidersTest,
                         ::testing::Values(Provider::kTriverse,
                                           Provider::kTripo, Provider::kSiray),
                         [](const auto& info) { return NameOf(info.param); });

TEST_P(ProvidersTest, CreateWatchToTheEndAndDownload) {
  v1::TaskCreation created;
  grpc::Status s = Create("a red chair", &created);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_FALSE(created.task_uuid().empty());
  EXPECT_EQ(created.flow_name(), "text-to-model");
  EXPECT_FALSE(created.client_order_id().empty());

  const std::vector<v1::TaskEvent> events = WatchToEnd(created.task_uuid());
  ASSERT_GE(events.size(), 2u);
  EXPECT_EQ(events.front().kind(), v1::TASK_EVENT_KIND_SNAPSHOT);
  EXPECT_EQ(events.back().kind(), v1::TASK_EVENT_KIND_FINALIZED);
  EXPECT_EQ(events.back().task().status(), v1::TASK_STATUS_SUCCESS);
  EXPECT_EQ(std::count_if(events.begin(), events.end(), IsFinalized), 1);
  int progress = 0;
  for (const v1::TaskEvent& e : events) {
    EXPECT_EQ(e.task().task_uuid(), created.task_uuid());
    EXPECT_NE(e.task().status(), v1::TASK_STATUS_UNSPECIFIED);
    EXPECT_GE(e.task().progress(), progress) << "progress went backwards";
    progress = e.task().progress();
  }
  EXPECT_EQ(progress, 100);
  EXPECT_GT(events.back().task().output().textured_model_url_size(), 0);

  v1::GetDownloadUrlRequest url_req;
  url_req.set_task_uuid(created.task_uuid());
  v1::DownloadUrl url;
  s = stub_->GetDownloadUrl(Context().get(), url_req, &url);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_THAT(url.download_url(), ::testing::StartsWith("http"));

  std::string bytes;
  s = Download(created.task_uuid(), &bytes);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(bytes.substr(0, 4), "glTF");
}

TEST_P(ProvidersTest, LifecycleSurvivesTheProvidersFaults) {
  // Transient refusals on every read and creation, sockets that drop, and
  // each provider's own oddities (Tripo's undocumented extras, Siray's
  // progress strings and status spellings).
  testing_util::SetFaults(*emu_, R"({"reset": true, "seed": 7,
      "routes": {"get_task": {"unavailable_rate": 0.3},
                 "create_task": {"unavailable_rate": 0.3}},
      "websocket": {"drop_rate": 0.3},
      "tripo": {"extras_rate": 0.5},
      "siray": {"odd_progress_rate": 0.5, "alt_status_rate": 0.5}})");
  v1::TaskCreation created;
  grpc::Status s = Create("a chair under faults", &created, "faulty-order");
  if (GetParam() != Provider::kTriverse && !s.ok()) {
    // Without an idempotency key a 503 after the request went out is not
    // retried (it may hide a created task): the caller sees it.
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
    s = Create("a chair under faults", &created, "faulty-order");
  }
  ASSERT_TRUE(s.ok()) << s.error_message();
  const std::vector<v1::TaskEvent> events = WatchToEnd(created.task_uuid());
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().task().status(), v1::TASK_STATUS_SUCCESS);
  EXPECT_EQ(std::count_if(events.begin(), events.end(), IsFinalized), 1);
  int progress = 0;
  for (const v1::TaskEvent& e : events) {
    EXPECT_GE(e.task().progress(), progress) << "progress went backwards";
    progress = e.task().progress();
  }
}

TEST_P(ProvidersTest, SameOrderIdGivesTheSameTask) {
  v1::TaskCreation first;
  grpc::Status s = Create("a blue lamp", &first, "order-42");
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(first.client_order_id(), "order-42");
  v1::TaskCreation again;
  s = Create("a blue lamp", &again, "order-42");
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(again.task_uuid(), first.task_uuid());
}

TEST_P(ProvidersTest, TaskIdsAreCheckedForTheProvider) {
  v1::Task task;
  const grpc::Status s = Get("../users/me", &task);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), HasSubstr("task_uuid"));
  EXPECT_EQ(UpstreamRequests("users"), 0);
}

TEST_P(ProvidersTest, UnknownTaskIsNotFound) {
  const std::string id =
      GetParam() == Provider::kSiray
          ? "3d_0000000000000000000000000000000000000000000000ff"
          : "00000000-0000-4000-8000-0000000000ff";
  v1::Task task;
  const grpc::Status s = Get(id, &task);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND) << s.error_message();
  if (GetParam() == Provider::kTripo) {
    // Tripo asks its clients to report the trace id of a failed call.
    auto info = testing_util::FindDetail<google::rpc::ErrorInfo>(s);
    ASSERT_TRUE(info.has_value());
    EXPECT_FALSE(info->metadata().at("upstreamTraceId").empty());
    EXPECT_EQ(info->metadata().at("provider"), "tripo");
    EXPECT_THAT(s.error_message(),
                HasSubstr(info->metadata().at("upstreamTraceId")));
  }
}

TEST_P(ProvidersTest, WhatTheProviderLacksIsUnimplementedAndSaysSo) {
  if (GetParam() == Provider::kTriverse) GTEST_SKIP() << "offers everything";
  v1::QuotePriceRequest quote;
  quote.mutable_text_to_model();
  v1::PriceQuote price;
  grpc::Status s = stub_->QuotePrice(Context().get(), quote, &price);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_THAT(s.error_message(), HasSubstr(NameOf(GetParam())));

  v1::ListOwnModelsRequest list;
  v1::ListOwnModelsResponse models;
  s = stub_->ListOwnModels(Context().get(), list, &models);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNIMPLEMENTED);

  v1::CreateTaskRequest texture;
  texture.mutable_text_to_texture()->set_prompt("wood grain");
  texture.mutable_text_to_texture()->set_model_file("https://x.test/a.glb");
  v1::TaskCreation created;
  s = stub_->CreateTask(Context().get(), texture, &created);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_THAT(s.error_message(), HasSubstr("text-to-texture"));
}

TEST_P(ProvidersTest, WatchTasksNeedsAPushChannel) {
  v1::WatchTasksRequest req;
  WatchReactor all(stub_.get(), req, kWait);
  if (GetParam() == Provider::kSiray) {
    ASSERT_TRUE(all.WaitDone(kWait));
    EXPECT_EQ(all.status().error_code(), grpc::StatusCode::UNIMPLEMENTED);
    EXPECT_THAT(all.status().error_message(), HasSubstr("WatchTask"));
    return;
  }
  // Elsewhere the key's socket reports a task created after the watch (its
  // changes, once the socket is open).
  v1::TaskCreation created;
  ASSERT_TRUE(Create("a watched kettle", &created).ok());
  auto of_task = [&](const v1::TaskEvent& e) {
    return e.task().task_uuid() == created.task_uuid();
  };
  for (int i = 0; i < 30 && !all.WaitFor(of_task, absl::Milliseconds(50));
       ++i) {
    emu_->AdvanceBy(absl::Seconds(1));
  }
  EXPECT_TRUE(all.WaitFor(of_task, absl::Seconds(1)));
}

TEST_P(ProvidersTest, AccountHasWhatTheProviderOffers) {
  v1::GetAccountRequest req;
  v1::Account account;
  const grpc::Status s = stub_->GetAccount(Context().get(), req, &account);
  switch (GetParam()) {
    case Provider::kTriverse:
      ASSERT_TRUE(s.ok()) << s.error_message();
      EXPECT_TRUE(account.has_user());
      EXPECT_TRUE(account.has_balance());
      break;
    case Provider::kTripo:
      // A balance, no user endpoint.
      ASSERT_TRUE(s.ok()) << s.error_message();
      EXPECT_FALSE(account.has_user());
      ASSERT_TRUE(account.has_balance());
      EXPECT_GT(account.balance().balance(), 0);
      break;
    case Provider::kSiray:
      EXPECT_EQ(s.error_code(), grpc::StatusCode::UNIMPLEMENTED);
      break;
  }
}

TEST_P(ProvidersTest, ManyWatchersOfOneTaskShareItsUpstreamReads) {
  v1::TaskCreation created;
  grpc::Status s = Create("a green vase", &created);
  ASSERT_TRUE(s.ok()) << s.error_message();
  const absl::Time start = absl::Now();
  constexpr int kWatchers = 20;
  std::vector<std::unique_ptr<WatchReactor>> watchers;
  v1::WatchTaskRequest req;
  req.set_task_uuid(created.task_uuid());
  for (int i = 0; i < kWatchers; ++i) {
    watchers.push_back(std::make_unique<WatchReactor>(stub_.get(), req, kWait));
  }
  for (auto& w : watchers) ASSERT_TRUE(w->WaitEvents(1, kWait));
  for (int i = 0; i < 200 && !watchers[0]->done(); ++i) {
    emu_->AdvanceBy(absl::Seconds(1));
    watchers[0]->WaitFor(IsFinalized, absl::Milliseconds(50));
  }
  for (auto& w : watchers) {
    ASSERT_TRUE(w->WaitDone(kWait));
    EXPECT_TRUE(w->status().ok()) << w->status().error_message();
    ASSERT_FALSE(w->events().empty());
    EXPECT_EQ(w->events().back().task().status(), v1::TASK_STATUS_SUCCESS);
  }
  const absl::Duration elapsed = absl::Now() - start;
  // One reader per task, whatever the number of watchers: at most one read
  // per polling interval (20 ms at the fastest) plus the snapshot, where
  // one reader per watcher would make 20 times as many.
  const int reads = UpstreamRequests(created.task_uuid());
  EXPECT_GT(reads, 0) << "the emulator's request log names the task";
  const int one_reader = 2 + static_cast<int>(elapsed / absl::Milliseconds(20));
  EXPECT_LE(reads, one_reader) << "in " << elapsed;
}

// ------------------------------------------------------------------ Tripo

class TripoTest : public ProvidersTest {};
INSTANTIATE_TEST_SUITE_P(Tripo, TripoTest, ::testing::Values(Provider::kTripo),
                         [](const auto&) { return std::string("tripo"); });

TEST_P(TripoTest, BannedKeepsTheModerationReason) {
  v1::TaskCreation created;
  grpc::Status s = Create("a tripo-banned statue", &created);
  ASSERT_TRUE(s.ok()) << s.error_message();
  const std::vector<v1::TaskEvent> events = WatchToEnd(created.task_uuid());
  ASSERT_FALSE(events.empty());
  const v1::Task& last = events.back().task();
  EXPECT_EQ(last.status(), v1::TASK_STATUS_FAILED);
  EXPECT_EQ(last.error().code(), 2008);
  EXPECT_THAT(last.error().message(), HasSubstr("banned"));
}

TEST_P(TripoTest, UnknownIsNeverShownAndResolves) {
  v1::TaskCreation created;
  grpc::Status s = Create("a tripo-unknown teapot", &created);
  ASSERT_TRUE(s.ok()) << s.error_message();
  const std::vector<v1::TaskEvent> events = WatchToEnd(created.task_uuid());
  ASSERT_FALSE(events.empty());
  for (const v1::TaskEvent& e : events) {
    EXPECT_NE(e.task().status(), v1::TASK_STATUS_UNSPECIFIED);
  }
  EXPECT_EQ(events.back().task().status(), v1::TASK_STATUS_SUCCESS);
}

}  // namespace
}  // namespace triverse::gateway
