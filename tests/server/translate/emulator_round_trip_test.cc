// Round trips through the in-process emulator: request bodies built by
// request_json are accepted for every flow, and every payload the emulator
// serves (both generations) parses with upstream_json.
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "emulator/faults.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/translate/request_json.h"
#include "server/translate/upstream_json.h"
#include "tests/emulator/testing_util/http_client.h"
#include "tests/emulator/testing_util/test_emulator.h"
#include "tests/server/testing_util/flow_requests.h"

namespace triverse::translate {
namespace {

using ::testing::AnyOf;
using ::testing::Eq;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using testing_util::Bearer;
using testing_util::HttpGet;
using testing_util::HttpPost;
using testing_util::HttpResponse;
using testing_util::kImageUrl;
using testing_util::kKeyA;
using testing_util::kModelUrl;
using testing_util::OneRequestPerFlow;
using testing_util::TestEmulator;

constexpr char kConsistentRead[] = "X-Triverse-Read-After-Write: 1";

v1::QuotePriceRequest QuoteFor(const v1::CreateTaskRequest& create) {
  // Same field numbers and types: the oneof carries over byte for byte.
  v1::QuotePriceRequest quote;
  EXPECT_TRUE(quote.ParseFromString(create.SerializeAsString()));
  return quote;
}

// Data returns the `data` of a successful enveloped response.
std::string Data(const HttpResponse& r) {
  EXPECT_EQ(r.transport_error, "");
  EXPECT_EQ(r.status, 200) << r.body;
  absl::StatusOr<Envelope> env = ParseEnvelope(r.body);
  EXPECT_TRUE(env.ok()) << env.status() << " " << r.body;
  if (!env.ok()) return "";
  EXPECT_EQ(env->code, 0) << r.body;
  return env->data_json;
}

class TranslateEmulatorTest : public ::testing::Test {
 protected:
  void Start(bool legacy) {
    auto options = TestEmulator::DefaultOptions();
    options.engine.legacy = legacy;
    emu_ = std::make_unique<TestEmulator>(std::move(options));
    ASSERT_TRUE(emu_->start_status().ok()) << emu_->start_status();
  }

  HttpResponse Get(const std::string& path) {
    return HttpGet(emu_->Api(path), {Bearer(kKeyA), kConsistentRead});
  }
  HttpResponse Post(const std::string& path, const std::string& body) {
    return HttpPost(emu_->Api(path), body, {Bearer(kKeyA)});
  }
  // RunToCompletion advances the fake clock until every task is terminal.
  void RunToCompletion() {
    for (int i = 0; i < 120; ++i) emu_->AdvanceBy(absl::Seconds(1));
  }

  std::unique_ptr<TestEmulator> emu_;
};

TEST_F(TranslateEmulatorTest, EveryFlowCreatesQuotesRunsAndDownloads) {
  Start(/*legacy=*/false);
  struct Created {
    std::string flow;
    v1::TaskCreation creation;
  };
  std::vector<Created> created;
  int n = 0;
  for (const v1::CreateTaskRequest& request : OneRequestPerFlow()) {
    auto built = BuildCreateTaskBody(request, absl::StrCat("order-", n++));
    ASSERT_TRUE(built.ok()) << built.status();
    SCOPED_TRACE(built->first);
    const std::string data =
        Data(Post(absl::StrCat("/tasks/", built->first), built->second));
    absl::StatusOr<v1::TaskCreation> c = ParseTaskCreation(data);
    ASSERT_TRUE(c.ok()) << c.status() << " " << data;
    EXPECT_EQ(c->flow_name(), built->first);
    EXPECT_THAT(c->status(),
                AnyOf(Eq(v1::TASK_STATUS_PENDING), Eq(v1::TASK_STATUS_QUEUED)));
    EXPECT_TRUE(c->has_created_at());
    ASSERT_TRUE(c->has_cost_credits());
    EXPECT_GT(c->cost_credits(), 0);
    EXPECT_TRUE(c->has_queue());
    EXPECT_TRUE(c->has_read_after_write_deadline_seconds());
    EXPECT_EQ(c->read_after_write_header(), "X-Triverse-Read-After-Write");

    // The quote of the same parameters prices the task the same.
    absl::StatusOr<std::string> quote_body = BuildQuoteBody(QuoteFor(request));
    ASSERT_TRUE(quote_body.ok()) << quote_body.status();
    absl::StatusOr<v1::PriceQuote> q =
        ParsePriceQuote(Data(Post("/tasks/pricing/quote", *quote_body)));
    ASSERT_TRUE(q.ok()) << q.status();
    EXPECT_EQ(q->flow_name(), built->first);
    EXPECT_EQ(q->cost_credits(), c->cost_credits()) << *quote_body;
    EXPECT_TRUE(q->has_params());

    // An immediate read parses too (PENDING / QUEUED with a queue).
    absl::StatusOr<v1::Task> t =
        ParseTask(Data(Get(absl::StrCat("/tasks/", c->task_uuid()))));
    ASSERT_TRUE(t.ok()) << t.status();
    EXPECT_EQ(t->task_uuid(), c->task_uuid());
    EXPECT_THAT(t->status(),
                AnyOf(Eq(v1::TASK_STATUS_PENDING), Eq(v1::TASK_STATUS_QUEUED)));
    created.push_back({built->first, *c});
  }

  RunToCompletion();
  for (const Created& c : created) {
    SCOPED_TRACE(c.flow);
    const std::string uuid = c.creation.task_uuid();
    absl::StatusOr<v1::Task> t =
        ParseTask(Data(Get(absl::StrCat("/tasks/", uuid))));
    ASSERT_TRUE(t.ok()) << t.status();
    EXPECT_EQ(t->status(), v1::TASK_STATUS_SUCCESS);
    EXPECT_EQ(t->flow_name(), c.flow);
    EXPECT_EQ(t->progress(), 100);
    EXPECT_TRUE(t->has_started_at());
    EXPECT_TRUE(t->has_completed_at());
    EXPECT_TRUE(t->has_input());
    ASSERT_TRUE(t->has_output());
    EXPECT_FALSE(t->output().has_other()) << t->output().DebugString();
    const v1::TaskOutput& o = t->output();
    const int urls = o.preprocessed_image_url_size() +
                     o.geometry_model_url_size() + o.textured_model_url_size() +
                     o.rendered_image_url_size() + o.remeshed_model_url_size() +
                     o.converted_model_url_size() + o.image_url_size();
    EXPECT_GT(urls, 0);

    absl::StatusOr<v1::DownloadUrl> d =
        ParseDownloadUrl(Data(Get(absl::StrCat("/tasks/url/", uuid))));
    ASSERT_TRUE(d.ok()) << d.status();
    EXPECT_THAT(d->download_url(), HasSubstr(uuid));
    EXPECT_TRUE(d->has_asset_id());
    EXPECT_TRUE(d->has_kind());
  }

  absl::StatusOr<OwnModelsPage> page = ParseOwnModelsPage(
      Data(Get("/platform/generate/own-models?current=1&size=4")));
  ASSERT_TRUE(page.ok()) << page.status();
  EXPECT_EQ(page->total, 10);
  EXPECT_EQ(page->size, 4);
  EXPECT_EQ(page->current, 1);
  EXPECT_EQ(page->pages, 3);
  ASSERT_EQ(page->models.size(), 4u);
  for (const v1::OwnModel& m : page->models) {
    EXPECT_EQ(m.status(), v1::TASK_STATUS_SUCCESS);
    EXPECT_THAT(m.task_uuid(), Not(IsEmpty()));
    EXPECT_TRUE(m.has_request_payload());
    EXPECT_THAT(m.assets(), Not(IsEmpty()));
  }

  absl::StatusOr<v1::User> user = ParseUser(Data(Get("/users/me")));
  ASSERT_TRUE(user.ok()) << user.status();
  EXPECT_THAT(user->id(), Not(IsEmpty()));
  absl::StatusOr<v1::Balance> balance =
      ParseBalance(Data(Get("/users/balance")));
  ASSERT_TRUE(balance.ok()) << balance.status();
  EXPECT_EQ(balance->frozen(), 0);
  EXPECT_EQ(user->api_credits_balance(), balance->balance());
  int64_t spent = 0;
  for (const Created& c : created) spent += c.creation.cost_credits();
  EXPECT_EQ(balance->balance(), 1000 - spent);
}

TEST_F(TranslateEmulatorTest, ErrorBodyParses) {
  Start(/*legacy=*/false);
  v1::CreateTaskRequest request;
  request.mutable_text_to_model()->set_prompt("ab");  // too short
  auto built = BuildCreateTaskBody(request, "order-x");
  ASSERT_TRUE(built.ok());
  HttpResponse r = Post("/tasks/text-to-model", built->second);
  EXPECT_EQ(r.status, 400);
  absl::StatusOr<Envelope> env = ParseEnvelope(r.body);
  ASSERT_TRUE(env.ok()) << env.status();
  EXPECT_EQ(env->code, 1004);
  EXPECT_THAT(env->message + env->suggestion, HasSubstr("prompt"));
  EXPECT_EQ(env->data_json, "null");
}

TEST_F(TranslateEmulatorTest, FailedCancelledAndAssetlessTasksParse) {
  Start(/*legacy=*/false);
  auto create = [&](double failure, double cancel, double no_assets) {
    emulator::FaultSettings faults;
    faults.tasks.failure_rate = failure;
    faults.tasks.cancel_rate = cancel;
    faults.tasks.no_assets_rate = no_assets;
    emu_->emulator().faults().Replace(faults);
    v1::CreateTaskRequest request;
    request.mutable_text_to_mesh()->set_prompt("a small cube");
    request.set_allow_duplicate(true);
    auto built = BuildCreateTaskBody(request, "");
    EXPECT_TRUE(built.ok());
    absl::StatusOr<v1::TaskCreation> c = ParseTaskCreation(
        Data(Post(absl::StrCat("/tasks/", built->first), built->second)));
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? c->task_uuid() : std::string();
  };
  const std::string failed = create(1, 0, 0);
  const std::string cancelled = create(0, 1, 0);
  const std::string assetless = create(0, 0, 1);
  emu_->emulator().faults().Replace(emulator::FaultSettings());
  RunToCompletion();

  absl::StatusOr<v1::Task> f =
      ParseTask(Data(Get(absl::StrCat("/tasks/", failed))));
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->status(), v1::TASK_STATUS_FAILED);
  ASSERT_TRUE(f->has_error());
  EXPECT_NE(f->error().code(), 0);
  EXPECT_THAT(f->error().message(), Not(IsEmpty()));
  EXPECT_TRUE(f->error().has_suggestion());
  EXPECT_FALSE(f->has_output());

  absl::StatusOr<v1::Task> c =
      ParseTask(Data(Get(absl::StrCat("/tasks/", cancelled))));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->status(), v1::TASK_STATUS_CANCELLED);
  EXPECT_FALSE(c->has_error());

  absl::StatusOr<v1::Task> a =
      ParseTask(Data(Get(absl::StrCat("/tasks/", assetless))));
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->status(), v1::TASK_STATUS_SUCCESS);
  ASSERT_TRUE(a->has_output());  // an empty object
  EXPECT_EQ(a->output().ByteSizeLong(), 0u);
  // No assets: the error body (404 / 4042) parses as an envelope.
  HttpResponse r = Get(absl::StrCat("/tasks/url/", assetless));
  EXPECT_EQ(r.status, 404);
  absl::StatusOr<Envelope> env = ParseEnvelope(r.body);
  ASSERT_TRUE(env.ok()) << env.status();
  EXPECT_EQ(env->code, 4042);
  EXPECT_EQ(env->data_json, "null");
}

TEST_F(TranslateEmulatorTest, LegacyGenerationParses) {
  Start(/*legacy=*/true);
  v1::CreateTaskRequest request;
  request.mutable_image_to_model()->set_image_file(kImageUrl);
  auto built = BuildCreateTaskBody(request, "");
  ASSERT_TRUE(built.ok());
  const std::string created_json =
      Data(Post(absl::StrCat("/tasks/", built->first), built->second));
  EXPECT_THAT(created_json, HasSubstr("costCredits"));
  absl::StatusOr<v1::TaskCreation> c = ParseTaskCreation(created_json);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->status(), v1::TASK_STATUS_PENDING);
  ASSERT_TRUE(c->has_cost_credits());
  EXPECT_GT(c->cost_credits(), 0);

  // Walk the task through its life; at every step the status is the
  // top-level one and the sub-job states stay in output.other.
  bool saw_running_with_sub_jobs = false;
  for (int i = 0; i < 40; ++i) {
    const std::string json = Data(Get(absl::StrCat("/tasks/", c->task_uuid())));
    EXPECT_THAT(json, HasSubstr("taskId"));
    absl::StatusOr<v1::Task> t = ParseTask(json);
    ASSERT_TRUE(t.ok()) << t.status() << " " << json;
    EXPECT_EQ(t->task_uuid(), c->task_uuid());
    EXPECT_NE(t->status(), v1::TASK_STATUS_QUEUED);
    EXPECT_NE(t->status(), v1::TASK_STATUS_UNSPECIFIED);
    if (t->status() == v1::TASK_STATUS_RUNNING) {
      ASSERT_TRUE(t->output().has_other());
      EXPECT_TRUE(t->output().other().fields().contains("geometry_job_status"));
      EXPECT_TRUE(t->output().other().fields().contains("texture_job_status"));
      saw_running_with_sub_jobs = true;
    }
    if (t->status() == v1::TASK_STATUS_SUCCESS) {
      EXPECT_EQ(
          t->output().other().fields().at("geometry_job_status").string_value(),
          "COMPLETED");
      EXPECT_THAT(t->output().textured_model_url(), Not(IsEmpty()));
      break;
    }
    emu_->AdvanceBy(absl::Seconds(1));
  }
  EXPECT_TRUE(saw_running_with_sub_jobs);

  absl::StatusOr<v1::DownloadUrl> d =
      ParseDownloadUrl(Data(Get(absl::StrCat("/tasks/url/", c->task_uuid()))));
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_FALSE(d->has_asset_id());
}

}  // namespace
}  // namespace triverse::translate
