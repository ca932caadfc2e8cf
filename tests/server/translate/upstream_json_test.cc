// Table tests of the upstream JSON → proto translation: the recorded payloads
// of tests/testdata/seeds/, both documented generations, and a table of
// hostile inputs that must each give a clean DATA_LOSS naming the field.
#include "server/translate/upstream_json.h"

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/time_util.h"
#include "gtest/gtest.h"
#include "tests/server/translate/testing_util.h"

namespace triverse::translate {
namespace {

using ::google::protobuf::Struct;
using ::google::protobuf::util::TimeUtil;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using testing_util::HostileCase;
using testing_util::Nested;
using testing_util::ParseFn;

// ReadSeed reads tests/testdata/seeds/`name`.
std::string ReadSeed(const std::string& name) {
  return testing_util::ReadTestdata(absl::StrCat("seeds/", name));
}

// SeedData returns the `data` of an enveloped seed.
std::string SeedData(const std::string& name) {
  absl::StatusOr<Envelope> env = ParseEnvelope(ReadSeed(name));
  EXPECT_TRUE(env.ok()) << env.status();
  if (!env.ok()) return "";
  EXPECT_EQ(env->code, 0);
  EXPECT_EQ(env->message, "success");
  return env->data_json;
}

std::string StringField(const Struct& s, const std::string& key) {
  auto it = s.fields().find(key);
  if (it == s.fields().end()) return "<absent>";
  return it->second.string_value();
}

double NumberField(const Struct& s, const std::string& key) {
  auto it = s.fields().find(key);
  if (it == s.fields().end()) return -1;
  return it->second.number_value();
}

constexpr char kUuid[] = "92483a80-236c-4889-9a95-4c90bb64dfd8";
constexpr char kOss[] = "https://triverse-public.oss-cn-beijing.aliyuncs.com";

// ------------------------------------------------------------------ envelope

TEST(ParseEnvelopeTest, SuccessBody) {
  absl::StatusOr<Envelope> env =
      ParseEnvelope(R"({"code":0,"message":"success","data":{"a":[1,"x"]}})");
  ASSERT_TRUE(env.ok()) << env.status();
  EXPECT_EQ(env->code, 0);
  EXPECT_EQ(env->message, "success");
  EXPECT_EQ(env->suggestion, "");
  EXPECT_EQ(env->data_json, R"({"a":[1,"x"]})");
}

TEST(ParseEnvelopeTest, ErrorBodyHasNoData) {
  absl::StatusOr<Envelope> env = ParseEnvelope(
      R"({ "code": 2004, "message": "The file type is unsupported.",
           "suggestion": "Please use one of: image/jpeg, image/png." })");
  ASSERT_TRUE(env.ok()) << env.status();
  EXPECT_EQ(env->code, 2004);
  EXPECT_EQ(env->message, "The file type is unsupported.");
  EXPECT_EQ(env->suggestion, "Please use one of: image/jpeg, image/png.");
  EXPECT_EQ(env->data_json, "null");
}

TEST(ParseEnvelopeTest, NullDataAndSuggestion) {
  absl::StatusOr<Envelope> env =
      ParseEnvelope(R"({"code":0,"data":null,"suggestion":null})");
  ASSERT_TRUE(env.ok()) << env.status();
  EXPECT_EQ(env->message, "");
  EXPECT_EQ(env->suggestion, "");
  EXPECT_EQ(env->data_json, "null");
}

TEST(ParseEnvelopeTest, EverySeedEnvelopeParses) {
  for (const char* seed :
       {"task_status_response.json", "task_status_page_response.json",
        "task_creation_response.json", "pricing_quote_response.json",
        "download_url_response.json"}) {
    SCOPED_TRACE(seed);
    absl::StatusOr<Envelope> env = ParseEnvelope(ReadSeed(seed));
    ASSERT_TRUE(env.ok()) << env.status();
    EXPECT_EQ(env->code, 0);
    EXPECT_EQ(env->data_json.front(), '{');
  }
}

// ------------------------------------------------------------------ task

TEST(ParseTaskTest, StatusSeedEveryField) {
  absl::StatusOr<v1::Task> task =
      ParseTask(SeedData("task_status_response.json"));
  ASSERT_TRUE(task.ok()) << task.status();
  EXPECT_EQ(task->task_uuid(), kUuid);
  EXPECT_EQ(task->flow_name(), "image-to-model");
  EXPECT_EQ(task->status(), v1::TASK_STATUS_SUCCESS);
  EXPECT_EQ(task->progress(), 100);
  EXPECT_EQ(TimeUtil::ToString(task->created_at()),
            "2026-05-27T12:39:48.228522Z");
  EXPECT_EQ(TimeUtil::ToString(task->started_at()), "2026-05-27T12:40:03Z");
  EXPECT_EQ(TimeUtil::ToString(task->completed_at()), "2026-05-27T12:48:10Z");
  ASSERT_TRUE(task->has_input());
  EXPECT_EQ(task->input().fields_size(), 4);
  EXPECT_EQ(StringField(task->input(), "image_url"),
            absl::StrCat(kOss, "/tasks/.../input.png"));
  EXPECT_EQ(StringField(task->input(), "model_version"), "v2");
  EXPECT_EQ(NumberField(task->input(), "polygon_limit"), 1000000);
  EXPECT_EQ(NumberField(task->input(), "texture_size"), 1024);
  ASSERT_TRUE(task->has_output());
  const v1::TaskOutput& out = task->output();
  EXPECT_THAT(out.preprocessed_image_url(),
              ElementsAre(absl::StrCat(
                  kOss, "/tasks/.../preprocessed_input_image_0.png")));
  EXPECT_THAT(
      out.geometry_model_url(),
      ElementsAre(absl::StrCat(kOss, "/tasks/.../textureless_model_0.glb")));
  EXPECT_THAT(
      out.textured_model_url(),
      ElementsAre(absl::StrCat(kOss, "/tasks/.../textured_model_0.glb")));
  ASSERT_TRUE(out.has_preview_url());
  EXPECT_EQ(out.preview_url(), absl::StrCat(kOss, "/tasks/.../preview.png"));
  EXPECT_THAT(out.rendered_image_url(), IsEmpty());
  EXPECT_THAT(out.remeshed_model_url(), IsEmpty());
  EXPECT_THAT(out.converted_model_url(), IsEmpty());
  EXPECT_THAT(out.image_url(), IsEmpty());
  EXPECT_FALSE(out.has_other());
  EXPECT_FALSE(task->has_error());
  EXPECT_FALSE(task->has_queue());
}

TEST(ParseTaskTest, StatusPageSeedEveryField) {
  absl::StatusOr<v1::Task> task =
      ParseTask(SeedData("task_status_page_response.json"));
  ASSERT_TRUE(task.ok()) << task.status();
  EXPECT_EQ(task->task_uuid(), kUuid);
  EXPECT_EQ(task->flow_name(), "image-to-model");
  EXPECT_EQ(task->status(), v1::TASK_STATUS_SUCCESS);
  EXPECT_EQ(task->progress(), 100);
  EXPECT_EQ(TimeUtil::ToString(task->created_at()), "2026-05-27T00:00:00Z");
  EXPECT_EQ(TimeUtil::ToString(task->started_at()), "2026-05-27T00:00:12Z");
  EXPECT_EQ(TimeUtil::ToString(task->completed_at()), "2026-05-27T00:08:44Z");
  EXPECT_EQ(StringField(task->input(), "image_url"), "https://.../input.png");
  EXPECT_EQ(StringField(task->input(), "model_version"), "v2");
  EXPECT_EQ(NumberField(task->input(), "polygon_limit"), 1000000);
  EXPECT_EQ(NumberField(task->input(), "texture_size"), 1024);
  EXPECT_THAT(task->output().geometry_model_url(),
              ElementsAre("https://.../geometry.glb"));
  EXPECT_THAT(task->output().textured_model_url(),
              ElementsAre("https://.../textured.glb"));
  EXPECT_THAT(task->output().preprocessed_image_url(), IsEmpty());
  EXPECT_EQ(task->output().preview_url(), "https://.../preview.png");
  EXPECT_FALSE(task->output().has_other());
  EXPECT_FALSE(task->has_error());
  EXPECT_FALSE(task->has_queue());
}

TEST(ParseTaskTest, EveryPublicStatus) {
  const std::vector<std::pair<std::string, v1::TaskStatus>> cases = {
      {"PENDING", v1::TASK_STATUS_PENDING},
      {"QUEUED", v1::TASK_STATUS_QUEUED},
      {"RUNNING", v1::TASK_STATUS_RUNNING},
      {"SUCCESS", v1::TASK_STATUS_SUCCESS},
      {"FAILED", v1::TASK_STATUS_FAILED},
      {"CANCELLED", v1::TASK_STATUS_CANCELLED},
  };
  for (const auto& [name, status] : cases) {
    absl::StatusOr<v1::Task> task = ParseTask(
        absl::StrCat(R"({"task_uuid":"u","status":")", name, R"("})"));
    ASSERT_TRUE(task.ok()) << name << ": " << task.status();
    EXPECT_EQ(task->status(), status) << name;
  }
}

TEST(ParseTaskTest, MinimalPayloadLeavesEverythingElseUnset) {
  absl::StatusOr<v1::Task> task = ParseTask(
      R"({"task_uuid":"u","status":"PENDING","started_at":null,
          "input":null,"output":null,"error":null,"queue":null,
          "progress":null,"flow_name":null})");
  ASSERT_TRUE(task.ok()) << task.status();
  EXPECT_EQ(task->flow_name(), "");
  EXPECT_EQ(task->progress(), 0);
  EXPECT_FALSE(task->has_created_at());
  EXPECT_FALSE(task->has_started_at());
  EXPECT_FALSE(task->has_completed_at());
  EXPECT_FALSE(task->has_input());
  EXPECT_FALSE(task->has_output());
  EXPECT_FALSE(task->has_error());
  EXPECT_FALSE(task->has_queue());
}

TEST(ParseTaskTest, LegacyShapeTaskIdAndSubJobStates) {
  // The older documented status payload: taskId, no flow_name or times, and
  // internal sub-job states inside output.
  absl::StatusOr<v1::Task> task = ParseTask(R"({
      "taskId": "92483a80-236c-4889-9a95-4c90bb64dfd8",
      "status": "RUNNING", "progress": 60,
      "input": {"image_url": "https://.../input.png"},
      "output": {"geometry_job_status": "COMPLETED",
                 "texture_job_status": "IN_PROGRESS",
                 "preprocessed_image_url": ["https://.../input.png"]}})");
  ASSERT_TRUE(task.ok()) << task.status();
  EXPECT_EQ(task->task_uuid(), kUuid);
  EXPECT_EQ(task->status(), v1::TASK_STATUS_RUNNING);
  EXPECT_EQ(task->progress(), 60);
  EXPECT_EQ(task->flow_name(), "");
  EXPECT_FALSE(task->has_created_at());
  EXPECT_THAT(task->output().preprocessed_image_url(),
              ElementsAre("https://.../input.png"));
  ASSERT_TRUE(task->output().has_other());
  EXPECT_EQ(StringField(task->output().other(), "geometry_job_status"),
            "COMPLETED");
  EXPECT_EQ(StringField(task->output().other(), "texture_job_status"),
            "IN_PROGRESS");
}

TEST(ParseTaskTest, LegacyPendingWithCompletedSubJobStaysPending) {
  absl::StatusOr<v1::Task> task = ParseTask(
      R"({"taskId":"u","status":"PENDING","progress":0,
          "output":{"geometry_job_status":"COMPLETED",
                    "texture_job_status":"COMPLETED"}})");
  ASSERT_TRUE(task.ok()) << task.status();
  EXPECT_EQ(task->status(), v1::TASK_STATUS_PENDING);
}

TEST(ParseTaskTest, TaskUuidWinsOverTaskId) {
  absl::StatusOr<v1::Task> task =
      ParseTask(R"({"task_uuid":"new","taskId":"old","status":"PENDING"})");
  ASSERT_TRUE(task.ok()) << task.status();
  EXPECT_EQ(task->task_uuid(), "new");
}

TEST(ParseTaskTest, ProgressIsRoundedAndClamped) {
  const std::vector<std::pair<std::string, int>> cases = {
      {"0", 0},
      {"55", 55},
      {"49.6", 50},
      {"49.4", 49},
      {"\"75\"", 75},
      {"\"12.5\"", 13},
      {"-5", 0},
      {"150", 100},
      {"1e300", 100},
      {"-1e300", 0},
      {"null", 0},
      {"100", 100},
      {"18446744073709551615", 100},
      {"-9223372036854775808", 0},
  };
  for (const auto& [json, want] : cases) {
    absl::StatusOr<v1::Task> task = ParseTask(absl::StrCat(
        R"({"task_uuid":"u","status":"RUNNING","progress":)", json, "}"));
    ASSERT_TRUE(task.ok()) << json << ": " << task.status();
    EXPECT_EQ(task->progress(), want) << json;
  }
}

TEST(ParseTaskTest, TimestampFormats) {
  struct Case {
    std::string text;
    std::string want;  // TimeUtil::ToString
  };
  const std::vector<Case> cases = {
      {"2026-05-27T12:39:48Z", "2026-05-27T12:39:48Z"},
      {"2026-05-27T12:39:48.228522Z", "2026-05-27T12:39:48.228522Z"},
      {"2026-05-27T12:39:48.5Z", "2026-05-27T12:39:48.500Z"},
      {"2026-05-27T12:39:48.123456789Z", "2026-05-27T12:39:48.123456789Z"},
      {"2026-05-27T14:39:48+02:00", "2026-05-27T12:39:48Z"},
      {"2026-05-27T14:39:48.250+02:00", "2026-05-27T12:39:48.250Z"},
      {"2026-05-27T07:39:48-0500", "2026-05-27T12:39:48Z"},
      {"2026-05-27T12:39:48", "2026-05-27T12:39:48Z"},
      {"2026-05-27T12:39:48.000001", "2026-05-27T12:39:48.000001Z"},
      {"2026-05-27 12:39:48Z", "2026-05-27T12:39:48Z"},
      {"2026-05-27t12:39:48z", "2026-05-27T12:39:48Z"},
      {"1970-01-01T00:00:00Z", "1970-01-01T00:00:00Z"},
      {"1969-12-31T23:59:59.5Z", "1969-12-31T23:59:59.500Z"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<v1::Task> task = ParseTask(
        absl::StrCat(R"({"task_uuid":"u","status":"SUCCESS","completed_at":")",
                     c.text, R"("})"));
    ASSERT_TRUE(task.ok()) << c.text << ": " << task.status();
    ASSERT_TRUE(task->has_completed_at()) << c.text;
    EXPECT_EQ(TimeUtil::ToString(task->completed_at()), c.want) << c.text;
  }
}

TEST(ParseTaskTest, OutputListFieldsAcceptStringOrArray) {
  absl::StatusOr<v1::Task> task = ParseTask(R"({
      "task_uuid":"u","status":"SUCCESS",
      "output":{"geometry_model_url":"https://a/g.glb",
                "textured_model_url":["https://a/t0.glb","https://a/t1.glb"],
                "rendered_image_url":["r0","r1","r2"],
                "remeshed_model_url":"m", "converted_model_url":["c"],
                "image_url":[], "preprocessed_image_url":null,
                "preview_url":null,
                "future_field":{"x":[1,true,null]}, "glb_size":12}})");
  ASSERT_TRUE(task.ok()) << task.status();
  const v1::TaskOutput& out = task->output();
  EXPECT_THAT(out.geometry_model_url(), ElementsAre("https://a/g.glb"));
  EXPECT_THAT(out.textured_model_url(),
              ElementsAre("https://a/t0.glb", "https://a/t1.glb"));
  EXPECT_THAT(out.rendered_image_url(), ElementsAre("r0", "r1", "r2"));
  EXPECT_THAT(out.remeshed_model_url(), ElementsAre("m"));
  EXPECT_THAT(out.converted_model_url(), ElementsAre("c"));
  EXPECT_THAT(out.image_url(), IsEmpty());
  EXPECT_THAT(out.preprocessed_image_url(), IsEmpty());
  EXPECT_FALSE(out.has_preview_url());
  ASSERT_EQ(out.other().fields_size(), 2);
  const auto& future = out.other().fields().at("future_field");
  ASSERT_TRUE(future.has_struct_value());
  const auto& x = future.struct_value().fields().at("x").list_value();
  ASSERT_EQ(x.values_size(), 3);
  EXPECT_EQ(x.values(0).number_value(), 1);
  EXPECT_TRUE(x.values(1).bool_value());
  EXPECT_TRUE(x.values(2).has_null_value());
  EXPECT_EQ(out.other().fields().at("glb_size").number_value(), 12);
}

TEST(ParseTaskTest, FailedTaskErrorAndQueue) {
  absl::StatusOr<v1::Task> task = ParseTask(R"({
      "task_uuid":"u","status":"FAILED","progress":30,
      "error":{"code":"5000","message":"The generation failed.",
               "suggestion":"Retry."},
      "queue":{"is_queued":true,"position":3,"estimated_wait_seconds":12.2},
      "cost_credits":120, "some_new_field":[1,2]})");
  ASSERT_TRUE(task.ok()) << task.status();
  EXPECT_EQ(task->error().code(), 5000);
  EXPECT_EQ(task->error().message(), "The generation failed.");
  ASSERT_TRUE(task->error().has_suggestion());
  EXPECT_EQ(task->error().suggestion(), "Retry.");
  EXPECT_TRUE(task->queue().is_queued());
  ASSERT_TRUE(task->queue().has_position());
  EXPECT_EQ(task->queue().position(), 3);
  ASSERT_TRUE(task->queue().has_estimated_wait_seconds());
  EXPECT_EQ(task->queue().estimated_wait_seconds(), 13);
}

TEST(ParseTaskTest, PartialErrorObject) {
  absl::StatusOr<v1::Task> task = ParseTask(
      R"({"task_uuid":"u","status":"FAILED","error":{"message":"m",
          "suggestion":null}})");
  ASSERT_TRUE(task.ok()) << task.status();
  ASSERT_TRUE(task->has_error());
  EXPECT_EQ(task->error().code(), 0);
  EXPECT_EQ(task->error().message(), "m");
  EXPECT_FALSE(task->error().has_suggestion());
}

TEST(ParseTaskTest, StringsKeepEmbeddedNulAndUnicode) {
  absl::StatusOr<v1::Task> task = ParseTask(
      R"({"task_uuid":"u\u0000v","status":"PENDING","flow_name":"\u00e9\ud83d\ude00"})");
  ASSERT_TRUE(task.ok()) << task.status();
  EXPECT_EQ(task->task_uuid(), std::string("u\0v", 3));
  EXPECT_EQ(task->flow_name(), "\xc3\xa9\xf0\x9f\x98\x80");
}

// ------------------------------------------------------------------ creation

TEST(ParseTaskCreationTest, SeedEveryField) {
  absl::StatusOr<v1::TaskCreation> c =
      ParseTaskCreation(SeedData("task_creation_response.json"));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->task_uuid(), kUuid);
  EXPECT_EQ(c->flow_name(), "image-to-model");
  EXPECT_EQ(c->status(), v1::TASK_STATUS_PENDING);
  EXPECT_EQ(TimeUtil::ToString(c->created_at()), "2026-05-27T12:39:48.228522Z");
  ASSERT_TRUE(c->has_cost_credits());
  EXPECT_EQ(c->cost_credits(), 120);
  ASSERT_TRUE(c->has_queue());
  EXPECT_FALSE(c->queue().is_queued());
  EXPECT_FALSE(c->queue().has_position());
  EXPECT_FALSE(c->queue().has_estimated_wait_seconds());
  EXPECT_FALSE(c->has_read_after_write_deadline_seconds());
  EXPECT_FALSE(c->has_read_after_write_header());
  EXPECT_EQ(c->client_order_id(), "");
}

TEST(ParseTaskCreationTest, NewShapeWithQueueAndReadAfterWrite) {
  absl::StatusOr<v1::TaskCreation> c = ParseTaskCreation(R"({
      "task_uuid":"u","flow_name":"text-to-model","status":"QUEUED",
      "created_at":"2026-05-27T12:39:48Z","cost_credits":0,
      "queue":{"is_queued":true,"position":7,"estimated_wait_seconds":40},
      "read_after_write_deadline_seconds":2,
      "read_after_write_header":"X-Triverse-Read-After-Write"})");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->status(), v1::TASK_STATUS_QUEUED);
  ASSERT_TRUE(c->has_cost_credits());
  EXPECT_EQ(c->cost_credits(), 0);
  EXPECT_EQ(c->queue().position(), 7);
  EXPECT_EQ(c->queue().estimated_wait_seconds(), 40);
  EXPECT_EQ(c->read_after_write_deadline_seconds(), 2);
  EXPECT_EQ(c->read_after_write_header(), "X-Triverse-Read-After-Write");
}

TEST(ParseTaskCreationTest, LegacyShape) {
  absl::StatusOr<v1::TaskCreation> c = ParseTaskCreation(R"({
      "task_uuid":"92483a80-236c-4889-9a95-4c90bb64dfd8",
      "name":"image-to-model-92483a80","created_at":"2026-05-27T12:39:48.228522Z",
      "is_public":false,"task_priority":0,"status":"PENDING",
      "flow_name":"image-to-model",
      "input":{"image_url":"https://.../input.png","model_version":"v2"},
      "costCredits":120})");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->task_uuid(), kUuid);
  EXPECT_EQ(c->status(), v1::TASK_STATUS_PENDING);
  EXPECT_EQ(c->flow_name(), "image-to-model");
  ASSERT_TRUE(c->has_cost_credits());
  EXPECT_EQ(c->cost_credits(), 120);
  EXPECT_FALSE(c->has_queue());
}

TEST(ParseTaskCreationTest, NullCostLeavesItUnset) {
  absl::StatusOr<v1::TaskCreation> c = ParseTaskCreation(
      R"({"task_uuid":"u","status":"PENDING","cost_credits":null,
          "queue":null,"read_after_write_header":null})");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(c->has_cost_credits());
  EXPECT_FALSE(c->has_queue());
  EXPECT_FALSE(c->has_created_at());
  EXPECT_FALSE(c->has_read_after_write_header());
}

// ------------------------------------------------------------------ others

TEST(ParsePriceQuoteTest, SeedEveryField) {
  absl::StatusOr<v1::PriceQuote> q =
      ParsePriceQuote(SeedData("pricing_quote_response.json"));
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_EQ(q->flow_name(), "image-generation");
  EXPECT_EQ(q->params().fields_size(), 2);
  EXPECT_EQ(StringField(q->params(), "ai_model"), "seedream_4_5");
  EXPECT_EQ(NumberField(q->params(), "image_count"), 4);
  EXPECT_EQ(q->cost_credits(), 16);
  EXPECT_EQ(q->available_credits(), 120);
}

TEST(ParsePriceQuoteTest, IntegralDoublesAccepted) {
  absl::StatusOr<v1::PriceQuote> q = ParsePriceQuote(
      R"({"flow_name":"f","cost_credits":16.0,"available_credits":-3})");
  ASSERT_TRUE(q.ok()) << q.status();
  EXPECT_EQ(q->cost_credits(), 16);
  EXPECT_EQ(q->available_credits(), -3);
  EXPECT_FALSE(q->has_params());
}

TEST(ParseDownloadUrlTest, SeedEveryField) {
  absl::StatusOr<v1::DownloadUrl> d =
      ParseDownloadUrl(SeedData("download_url_response.json"));
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->download_url(), absl::StrCat(kOss, "/tasks/.../model.glb"));
  EXPECT_EQ(d->preview_url(), absl::StrCat(kOss, "/tasks/.../preview.png"));
  EXPECT_EQ(d->asset_id(), "c3b5b8a0-5b1f-4b7e-8c1a-9a8b7c6d5e4f");
  EXPECT_EQ(d->kind(), "model");
}

TEST(ParseDownloadUrlTest, OlderShapeWithoutOptionalFields) {
  absl::StatusOr<v1::DownloadUrl> d = ParseDownloadUrl(
      R"({"download_url":"https://x/y.glb","preview_url":null})");
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->download_url(), "https://x/y.glb");
  EXPECT_FALSE(d->has_preview_url());
  EXPECT_FALSE(d->has_asset_id());
  EXPECT_FALSE(d->has_kind());
}

TEST(ParseUserTest, DocumentedShape) {
  absl::StatusOr<v1::User> u = ParseUser(
      R"({"id":"5f0c","email":"a@example.com","web_credits_balance":1.5,
          "api_credits_balance":880,"plan_name":"pro"})");
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->id(), "5f0c");
  EXPECT_EQ(u->email(), "a@example.com");
  EXPECT_EQ(u->web_credits_balance(), 1.5);
  EXPECT_EQ(u->api_credits_balance(), 880);
  EXPECT_EQ(u->plan_name(), "pro");
}

TEST(ParseUserTest, NullPlanAndDecimalString) {
  absl::StatusOr<v1::User> u = ParseUser(
      R"({"id":"5f0c","email":"","api_credits_balance":"12.25",
          "plan_name":null})");
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->api_credits_balance(), 12.25);
  EXPECT_EQ(u->web_credits_balance(), 0);
  EXPECT_FALSE(u->has_plan_name());
}

TEST(ParseBalanceTest, DocumentedShape) {
  absl::StatusOr<v1::Balance> b =
      ParseBalance(R"({"balance":880.0,"frozen":120})");
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->balance(), 880);
  EXPECT_EQ(b->frozen(), 120);
}

void ExpectSeedOwnModel(const v1::OwnModel& m) {
  EXPECT_EQ(m.task_uuid(), kUuid);
  EXPECT_EQ(m.flow_name(), "image-to-model");
  EXPECT_EQ(m.status(), v1::TASK_STATUS_SUCCESS);
  EXPECT_EQ(TimeUtil::ToString(m.created_at()), "2026-05-27T12:39:48.228522Z");
  EXPECT_EQ(m.name(), "image-to-model-92483a80");
  EXPECT_FALSE(m.is_public());
  EXPECT_EQ(TimeUtil::ToString(m.started_at()), "2026-05-27T12:40:03Z");
  EXPECT_EQ(TimeUtil::ToString(m.completed_at()), "2026-05-27T12:48:10Z");
  EXPECT_THAT(
      m.geometry_model_url(),
      ElementsAre(absl::StrCat(kOss, "/tasks/.../textureless_model_0.glb")));
  EXPECT_THAT(
      m.textured_model_url(),
      ElementsAre(absl::StrCat(kOss, "/tasks/.../textured_model_0.glb")));
  EXPECT_THAT(m.preprocessed_image_url(),
              ElementsAre(absl::StrCat(
                  kOss, "/tasks/.../preprocessed_input_image_0.png")));
  EXPECT_THAT(m.assets(), IsEmpty());
  EXPECT_EQ(m.request_payload().fields_size(), 4);
  EXPECT_EQ(StringField(m.request_payload(), "model_version"), "v2");
  EXPECT_EQ(NumberField(m.request_payload(), "polygon_limit"), 1000000);
  EXPECT_EQ(NumberField(m.request_payload(), "texture_size"), 1024);
  EXPECT_EQ(StringField(m.request_payload(), "image_url"),
            absl::StrCat(kOss, "/tasks/.../input.png"));
}

TEST(ParseOwnModelTest, SeedEveryField) {
  absl::StatusOr<v1::OwnModel> m =
      ParseOwnModel(ReadSeed("own_models_item.json"));
  ASSERT_TRUE(m.ok()) << m.status();
  ExpectSeedOwnModel(*m);
}

TEST(ParseOwnModelsPageTest, PageOfSeedRecords) {
  const std::string item = ReadSeed("own_models_item.json");
  absl::StatusOr<OwnModelsPage> page = ParseOwnModelsPage(
      absl::StrCat(R"({"records":[)", item, ",", item,
                   R"(],"total":12,"size":2,"current":1,"pages":6})"));
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->models.size(), 2u);
  ExpectSeedOwnModel(page->models[0]);
  ExpectSeedOwnModel(page->models[1]);
  EXPECT_EQ(page->total, 12);
  EXPECT_EQ(page->size, 2);
  EXPECT_EQ(page->current, 1);
  EXPECT_EQ(page->pages, 6);
}

TEST(ParseOwnModelsPageTest, NullListsAndAssets) {
  absl::StatusOr<OwnModelsPage> page = ParseOwnModelsPage(R"({"records":[
      {"task_uuid":"u","flow_name":"text-to-model","status":"RUNNING",
       "created_at":"2026-05-27T12:39:48Z","name":null,"is_public":null,
       "started_at":null,"completed_at":null,"geometry_model_url":null,
       "textured_model_url":null,"preprocessed_image_url":null,
       "assets":[{"asset_id":"a","kind":"model"}],"request_payload":null}],
      "total":1})");
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->models.size(), 1u);
  const v1::OwnModel& m = page->models[0];
  EXPECT_EQ(m.status(), v1::TASK_STATUS_RUNNING);
  EXPECT_FALSE(m.has_name());
  EXPECT_FALSE(m.has_started_at());
  EXPECT_FALSE(m.has_completed_at());
  EXPECT_FALSE(m.has_request_payload());
  ASSERT_EQ(m.assets_size(), 1);
  EXPECT_EQ(StringField(m.assets(0), "kind"), "model");
  EXPECT_EQ(page->size, 0);
  EXPECT_EQ(page->pages, 0);
}

// ------------------------------------------------------------------ hostile

constexpr ParseFn kEnvelope = [](const std::string& j) {
  return ParseEnvelope(j).status();
};
constexpr ParseFn kTask = [](const std::string& j) {
  return ParseTask(j).status();
};
constexpr ParseFn kCreation = [](const std::string& j) {
  return ParseTaskCreation(j).status();
};
constexpr ParseFn kQuote = [](const std::string& j) {
  return ParsePriceQuote(j).status();
};
constexpr ParseFn kDownload = [](const std::string& j) {
  return ParseDownloadUrl(j).status();
};
constexpr ParseFn kUser = [](const std::string& j) {
  return ParseUser(j).status();
};
constexpr ParseFn kBalance = [](const std::string& j) {
  return ParseBalance(j).status();
};
constexpr ParseFn kOwnModel = [](const std::string& j) {
  return ParseOwnModel(j).status();
};
constexpr ParseFn kOwnModels = [](const std::string& j) {
  return ParseOwnModelsPage(j).status();
};

// T wraps extra task members around a valid minimal task.
std::string T(const std::string& members) {
  return absl::StrCat(R"({"task_uuid":"u","status":"RUNNING",)", members, "}");
}
std::string C(const std::string& members) {
  return absl::StrCat(R"({"task_uuid":"u","status":"PENDING",)", members, "}");
}
std::string Record(const std::string& members) {
  return absl::StrCat(R"({"task_uuid":"u","flow_name":"f","status":"SUCCESS")",
                      members.empty() ? "" : ",", members, "}");
}

std::vector<HostileCase> HostileCases() {
  return {
      // Not JSON, not an object.
      {"EnvelopeEmpty", kEnvelope, "", "not valid JSON"},
      {"EnvelopeWhitespace", kEnvelope, "  \n", "not valid JSON"},
      {"EnvelopeTruncated", kEnvelope, R"({"code":0,"data":{)",
       "not valid JSON"},
      {"EnvelopeHtml", kEnvelope, "<html>502 Bad Gateway</html>",
       "not valid JSON"},
      {"EnvelopeArray", kEnvelope, "[1,2]", "must be an object, got an array"},
      {"EnvelopeNull", kEnvelope, "null", "must be an object, got null"},
      {"EnvelopeTrailingGarbage", kEnvelope, R"({"code":0} x)",
       "not valid JSON"},
      {"EnvelopeNaNLiteral", kEnvelope, R"({"code":NaN})", "not valid JSON"},
      // Found by tests/fuzz/upstream_json_fuzzer: RapidJSON decodes an
      // unpaired low surrogate escape into bytes that are not UTF-8, which
      // a proto3 string must not carry.
      {"EnvelopeLoneLowSurrogate", kEnvelope,
       R"({"code":1,"message":"a\udc00"})", "unpaired surrogate"},
      {"TaskLoneLowSurrogate", kTask,
       R"({"task_uuid":"u","status":"PENDING","flow_name":"\u00e9\udc00"})",
       "unpaired surrogate"},
      {"TaskLoneLowSurrogateInOutputKey", kTask, T(R"("output":{"\udfff":1})"),
       "unpaired surrogate"},
      {"EnvelopeInfinityLiteral", kEnvelope, R"({"code":Infinity})",
       "not valid JSON"},
      {"EnvelopeHugeExponent", kEnvelope, R"({"code":1e999})",
       "not valid JSON"},
      {"EnvelopeInvalidUtf8", kEnvelope,
       "{\"code\":0,\"message\":\"\xff\xfe\"}", "not valid JSON"},
      {"EnvelopeDeepNesting", kEnvelope,
       absl::StrCat(R"({"code":0,"data":)", Nested(100000), "}"),
       "nests deeper than 64"},
      {"EnvelopeDepth65", kEnvelope,
       absl::StrCat(R"({"code":0,"data":)", Nested(64), "}"),
       "nests deeper than 64"},
      // Envelope fields.
      {"EnvelopeNoCode", kEnvelope, R"({"message":"success","data":{}})",
       "field 'code' is missing"},
      {"EnvelopeNullCode", kEnvelope, R"({"code":null})",
       "field 'code' is missing"},
      {"EnvelopeStringCode", kEnvelope, R"({"code":"0"})",
       "field 'code' must be an integer, got a string"},
      {"EnvelopeFractionCode", kEnvelope, R"({"code":1.5})",
       "field 'code' must be an integer, got a fraction"},
      {"EnvelopeHugeCode", kEnvelope, R"({"code":99999999999})",
       "field 'code' is out of range"},
      {"EnvelopeUint64Code", kEnvelope, R"({"code":18446744073709551615})",
       "field 'code' is out of range"},
      {"EnvelopeBoolCode", kEnvelope, R"({"code":false})",
       "field 'code' must be an integer, got a boolean"},
      {"EnvelopeMessageNumber", kEnvelope, R"({"code":0,"message":5})",
       "field 'message' must be a string"},
      {"EnvelopeSuggestionArray", kEnvelope, R"({"code":1,"suggestion":[]})",
       "field 'suggestion' must be a string, got an array"},
      // Task: shape.
      {"TaskEmpty", kTask, "", "not valid JSON"},
      {"TaskNull", kTask, "null", "must be an object, got null"},
      {"TaskString", kTask, R"("SUCCESS")", "must be an object, got a string"},
      {"TaskNumber", kTask, "42", "must be an object, got a number"},
      {"TaskEmptyObject", kTask, "{}", "field 'task_uuid' is missing"},
      {"TaskDeepInput", kTask,
       T(absl::StrCat(R"("input":{"a":)", Nested(70), "}")),
       "nests deeper than 64"},
      // Task: identity and status.
      {"TaskUuidNumber", kTask, R"({"task_uuid":5,"status":"PENDING"})",
       "field 'task_uuid' must be a string, got a number"},
      {"TaskUuidEmpty", kTask, R"({"task_uuid":"","status":"PENDING"})",
       "field 'task_uuid' is empty"},
      {"TaskIdArray", kTask, R"({"taskId":[],"status":"PENDING"})",
       "field 'taskId' must be a string, got an array"},
      {"TaskNoStatus", kTask, R"({"task_uuid":"u"})",
       "field 'status' is missing"},
      {"TaskNullStatus", kTask, R"({"task_uuid":"u","status":null})",
       "field 'status' is missing"},
      {"TaskSubJobStatusCompleted", kTask,
       R"({"task_uuid":"u","status":"COMPLETED"})",
       "field 'status' has unknown value \"COMPLETED\""},
      {"TaskSubJobStatusInProgress", kTask,
       R"({"task_uuid":"u","status":"IN_PROGRESS"})",
       "field 'status' has unknown value"},
      {"TaskLowercaseStatus", kTask, R"({"task_uuid":"u","status":"pending"})",
       "field 'status' has unknown value"},
      {"TaskEmptyStatus", kTask, R"({"task_uuid":"u","status":""})",
       "field 'status' has unknown value"},
      {"TaskLongStatus", kTask,
       absl::StrCat(R"({"task_uuid":"u","status":")", std::string(5000, 'X'),
                    R"("})"),
       "...\""},
      {"TaskNumericStatus", kTask, R"({"task_uuid":"u","status":4})",
       "field 'status' must be a string, got a number"},
      {"TaskObjectStatus", kTask, R"({"task_uuid":"u","status":{"s":1}})",
       "field 'status' must be a string, got an object"},
      // Task: progress.
      {"TaskProgressWord", kTask, T(R"("progress":"half")"),
       "field 'progress' must be a number, got the string \"half\""},
      {"TaskProgressNaNString", kTask, T(R"("progress":"NaN")"),
       "field 'progress' must be a finite number"},
      {"TaskProgressInfString", kTask, T(R"("progress":"-inf")"),
       "field 'progress' must be a finite number"},
      {"TaskProgressEmptyString", kTask, T(R"("progress":"")"),
       "field 'progress' must be a number"},
      {"TaskProgressBool", kTask, T(R"("progress":true)"),
       "field 'progress' must be a number, got a boolean"},
      {"TaskProgressArray", kTask, T(R"("progress":[50])"),
       "field 'progress' must be a number, got an array"},
      // Task: times.
      {"TaskCreatedWord", kTask, T(R"("created_at":"yesterday")"),
       "field 'created_at' is not an ISO-8601 date-time: \"yesterday\""},
      {"TaskCreatedEpoch", kTask, T(R"("created_at":1716800000)"),
       "field 'created_at' must be an ISO-8601 string, got a number"},
      {"TaskStartedBadMonth", kTask,
       T(R"("started_at":"2026-13-45T00:00:00Z")"),
       "field 'started_at' is not an ISO-8601"},
      {"TaskStartedDateOnly", kTask, T(R"("started_at":"2026-05-27")"),
       "field 'started_at' is not an ISO-8601"},
      {"TaskStartedTrailing", kTask,
       T(R"("started_at":"2026-05-27T00:00:00Z garbage")"),
       "field 'started_at' is not an ISO-8601"},
      {"TaskCompletedInfinite", kTask, T(R"("completed_at":"infinite-future")"),
       "field 'completed_at'"},
      {"TaskCompletedYear0", kTask,
       T(R"("completed_at":"0000-01-01T00:00:00Z")"), "field 'completed_at'"},
      {"TaskCompletedYear5Digits", kTask,
       T(R"("completed_at":"99999-01-01T00:00:00Z")"), "field 'completed_at'"},
      {"TaskCompletedEmpty", kTask, T(R"("completed_at":"")"),
       "field 'completed_at' is not an ISO-8601"},
      {"TaskCompletedObject", kTask, T(R"("completed_at":{})"),
       "field 'completed_at' must be an ISO-8601 string, got an object"},
      // Task: input / output.
      {"TaskInputString", kTask, T(R"("input":"x")"),
       "field 'input' must be an object, got a string"},
      {"TaskInputArray", kTask, T(R"("input":[])"),
       "field 'input' must be an object, got an array"},
      {"TaskOutputString", kTask, T(R"("output":"done")"),
       "field 'output' must be an object, got a string"},
      {"TaskOutputListNumber", kTask, T(R"("output":{"geometry_model_url":5})"),
       "field 'output.geometry_model_url' must be a string or an array of "
       "strings, got a number"},
      {"TaskOutputListObject", kTask, T(R"("output":{"image_url":{}})"),
       "field 'output.image_url' must be a string or an array"},
      {"TaskOutputListItem", kTask,
       T(R"("output":{"textured_model_url":["a",5]})"),
       "field 'output.textured_model_url[1]' must be a string, got a number"},
      {"TaskOutputListNestedArray", kTask,
       T(R"("output":{"rendered_image_url":[["a"]]})"),
       "field 'output.rendered_image_url[0]' must be a string, got an array"},
      {"TaskOutputPreviewArray", kTask, T(R"("output":{"preview_url":["a"]})"),
       "field 'output.preview_url' must be a string, got an array"},
      // Task: error / queue.
      {"TaskErrorString", kTask, T(R"("error":"boom")"),
       "field 'error' must be an object, got a string"},
      {"TaskErrorCodeWord", kTask, T(R"("error":{"code":"abc"})"),
       "field 'error.code' must be an integer, got the string \"abc\""},
      {"TaskErrorCodeHuge", kTask, T(R"("error":{"code":1e20})"),
       "field 'error.code' is out of range"},
      {"TaskErrorCodeHugeString", kTask, T(R"("error":{"code":"99999999999"})"),
       "field 'error.code'"},
      {"TaskErrorMessageNumber", kTask, T(R"("error":{"message":5})"),
       "field 'error.message' must be a string"},
      {"TaskErrorSuggestionObject", kTask, T(R"("error":{"suggestion":{}})"),
       "field 'error.suggestion' must be a string"},
      {"TaskQueueArray", kTask, T(R"("queue":[1])"),
       "field 'queue' must be an object, got an array"},
      {"TaskQueuePositionWord", kTask, T(R"("queue":{"position":"first"})"),
       "field 'queue.position' must be an integer, got a string"},
      {"TaskQueuePositionNegative", kTask, T(R"("queue":{"position":-1})"),
       "field 'queue.position' must be >= 0"},
      {"TaskQueuePositionHuge", kTask, T(R"("queue":{"position":99999999999})"),
       "field 'queue.position' is out of range"},
      {"TaskQueueIsQueuedString", kTask, T(R"("queue":{"is_queued":"yes"})"),
       "field 'queue.is_queued' must be a boolean, got a string"},
      {"TaskQueueWaitWord", kTask,
       T(R"("queue":{"estimated_wait_seconds":"soon"})"),
       "field 'queue.estimated_wait_seconds' must be a number"},
      {"TaskQueueWaitNegative", kTask,
       T(R"("queue":{"estimated_wait_seconds":-3})"),
       "field 'queue.estimated_wait_seconds' must be >= 0"},
      {"TaskQueueWaitHuge", kTask,
       T(R"("queue":{"estimated_wait_seconds":1e300})"),
       "field 'queue.estimated_wait_seconds' is out of range"},
      // Creation.
      {"CreationArray", kCreation, "[]", "must be an object, got an array"},
      {"CreationEmpty", kCreation, "{}", "field 'task_uuid' is missing"},
      {"CreationNoStatus", kCreation, R"({"task_uuid":"u"})",
       "field 'status' is missing"},
      {"CreationBadStatus", kCreation, R"({"task_uuid":"u","status":"DONE"})",
       "field 'status' has unknown value \"DONE\""},
      {"CreationCostString", kCreation, C(R"("cost_credits":"120")"),
       "field 'cost_credits' must be an integer, got a string"},
      {"CreationCostFraction", kCreation, C(R"("cost_credits":1.5)"),
       "field 'cost_credits' must be an integer, got a fraction"},
      {"CreationCostNegative", kCreation, C(R"("cost_credits":-1)"),
       "field 'cost_credits' must be >= 0"},
      {"CreationCostUint64", kCreation,
       C(R"("cost_credits":18446744073709551615)"),
       "field 'cost_credits' is out of range"},
      {"CreationCostDoubleHuge", kCreation, C(R"("cost_credits":1e19)"),
       "field 'cost_credits' is out of range"},
      {"CreationLegacyCostWord", kCreation, C(R"("costCredits":"x")"),
       "field 'costCredits' must be an integer"},
      {"CreationCreatedBad", kCreation, C(R"("created_at":"27/05/2026")"),
       "field 'created_at' is not an ISO-8601"},
      {"CreationDeadlineString", kCreation,
       C(R"("read_after_write_deadline_seconds":"1")"),
       "field 'read_after_write_deadline_seconds' must be an integer"},
      {"CreationHeaderNumber", kCreation, C(R"("read_after_write_header":5)"),
       "field 'read_after_write_header' must be a string"},
      {"CreationQueueString", kCreation, C(R"("queue":"none")"),
       "field 'queue' must be an object"},
      {"CreationQueuePosition", kCreation, C(R"("queue":{"position":true})"),
       "field 'queue.position' must be an integer, got a boolean"},
      // Quote.
      {"QuoteEmpty", kQuote, "{}", "field 'flow_name' is missing"},
      {"QuoteFlowNumber", kQuote, R"({"flow_name":5})",
       "field 'flow_name' must be a string"},
      {"QuoteParamsArray", kQuote,
       R"({"flow_name":"f","params":[],"cost_credits":1,"available_credits":1})",
       "field 'params' must be an object, got an array"},
      {"QuoteNoCost", kQuote, R"({"flow_name":"f","available_credits":1})",
       "field 'cost_credits' is missing"},
      {"QuoteAvailableWord", kQuote,
       R"({"flow_name":"f","cost_credits":1,"available_credits":"lots"})",
       "field 'available_credits' must be an integer, got a string"},
      {"QuoteNoAvailable", kQuote, R"({"flow_name":"f","cost_credits":1})",
       "field 'available_credits' is missing"},
      // Download URL.
      {"DownloadEmpty", kDownload, "{}", "field 'download_url' is missing"},
      {"DownloadUrlNumber", kDownload, R"({"download_url":5})",
       "field 'download_url' must be a string"},
      {"DownloadUrlEmpty", kDownload, R"({"download_url":""})",
       "field 'download_url' is empty"},
      {"DownloadPreviewObject", kDownload,
       R"({"download_url":"u","preview_url":{}})",
       "field 'preview_url' must be a string, got an object"},
      {"DownloadKindNumber", kDownload, R"({"download_url":"u","kind":1})",
       "field 'kind' must be a string"},
      {"DownloadAssetIdBool", kDownload,
       R"({"download_url":"u","asset_id":true})",
       "field 'asset_id' must be a string"},
      // User / balance.
      {"UserEmpty", kUser, "{}", "field 'id' is missing"},
      {"UserNullEmail", kUser, R"({"id":"i","email":null})",
       "field 'email' is missing"},
      {"UserNoApiBalance", kUser, R"({"id":"i","email":"e"})",
       "field 'api_credits_balance' is missing"},
      {"UserApiBalanceNaN", kUser,
       R"({"id":"i","email":"e","api_credits_balance":"NaN"})",
       "field 'api_credits_balance' must be a finite number"},
      {"UserApiBalanceWord", kUser,
       R"({"id":"i","email":"e","api_credits_balance":"many"})",
       "field 'api_credits_balance' must be a number"},
      {"UserWebBalanceArray", kUser,
       R"({"id":"i","email":"e","api_credits_balance":1,"web_credits_balance":[]})",
       "field 'web_credits_balance' must be a number, got an array"},
      {"UserPlanNumber", kUser,
       R"({"id":"i","email":"e","api_credits_balance":1,"plan_name":5})",
       "field 'plan_name' must be a string"},
      {"BalanceEmpty", kBalance, "{}", "field 'balance' is missing"},
      {"BalanceFrozenWord", kBalance, R"({"balance":1,"frozen":"x"})",
       "field 'frozen' must be a number"},
      {"BalanceInfinityString", kBalance,
       R"({"balance":"Infinity","frozen":0})",
       "field 'balance' must be a finite number"},
      {"BalanceBool", kBalance, R"({"balance":true,"frozen":0})",
       "field 'balance' must be a number, got a boolean"},
      // Own models.
      {"OwnModelEmpty", kOwnModel, "{}", "field 'task_uuid' is missing"},
      {"OwnModelNoFlow", kOwnModel, R"({"task_uuid":"u","status":"SUCCESS"})",
       "field 'flow_name' is missing"},
      {"OwnModelIsPublicString", kOwnModel, Record(R"("is_public":"no")"),
       "field 'is_public' must be a boolean"},
      {"OwnModelNameNumber", kOwnModel, Record(R"("name":1)"),
       "field 'name' must be a string"},
      {"OwnModelAssetsObject", kOwnModel, Record(R"("assets":{})"),
       "field 'assets' must be an array, got an object"},
      {"OwnModelRequestPayloadArray", kOwnModel,
       Record(R"("request_payload":[])"),
       "field 'request_payload' must be an object"},
      {"OwnModelsEmpty", kOwnModels, "{}", "field 'records' is missing"},
      {"OwnModelsArray", kOwnModels, "[]", "must be an object, got an array"},
      {"OwnModelsRecordsObject", kOwnModels, R"({"records":{},"total":0})",
       "field 'records' must be an array, got an object"},
      {"OwnModelsRecordNumber", kOwnModels, R"({"records":[5],"total":1})",
       "field 'records[0]' must be an object, got a number"},
      {"OwnModelsRecordEmpty", kOwnModels, R"({"records":[{}],"total":1})",
       "field 'records[0].task_uuid' is missing"},
      {"OwnModelsRecordBadList", kOwnModels,
       absl::StrCat(R"({"records":[)", Record(""), ",",
                    Record(R"("geometry_model_url":{})"), R"(],"total":2})"),
       "field 'records[1].geometry_model_url' must be a string or an array"},
      {"OwnModelsRecordBadListItem", kOwnModels,
       absl::StrCat(R"({"records":[)",
                    Record(R"("textured_model_url":["a",null])"),
                    R"(],"total":1})"),
       "field 'records[0].textured_model_url[1]' must be a string, got null"},
      {"OwnModelsRecordBadAsset", kOwnModels,
       absl::StrCat(R"({"records":[)", Record(R"("assets":[{},1])"),
                    R"(],"total":1})"),
       "field 'records[0].assets[1]' must be an object, got a number"},
      {"OwnModelsRecordBadTime", kOwnModels,
       absl::StrCat(R"({"records":[)", Record(R"("created_at":"now")"),
                    R"(],"total":1})"),
       "field 'records[0].created_at' is not an ISO-8601"},
      {"OwnModelsNoTotal", kOwnModels, R"({"records":[]})",
       "field 'total' is missing"},
      {"OwnModelsTotalString", kOwnModels, R"({"records":[],"total":"10"})",
       "field 'total' must be an integer, got a string"},
      {"OwnModelsSizeNegative", kOwnModels,
       R"({"records":[],"total":0,"size":-1})", "field 'size' must be >= 0"},
      {"OwnModelsPagesFraction", kOwnModels,
       R"({"records":[],"total":0,"pages":0.5})",
       "field 'pages' must be an integer, got a fraction"},
  };
}

TEST(UpstreamJsonHostileTest, EveryCaseIsACleanDataLossNamingTheField) {
  testing_util::ExpectCleanDataLoss(HostileCases(), "upstream ");
}

TEST(UpstreamJsonHostileTest, NamesEveryPayload) {
  EXPECT_THAT(std::string(ParseTask("{}").status().message()),
              HasSubstr("upstream task payload: field 'task_uuid'"));
  EXPECT_THAT(std::string(ParseTaskCreation("{}").status().message()),
              HasSubstr("upstream task creation payload"));
  EXPECT_THAT(std::string(ParseOwnModelsPage("{}").status().message()),
              HasSubstr("upstream own models page payload"));
}

// Every prefix of a valid payload is a clean error or a clean success.
TEST(UpstreamJsonHostileTest, EveryPrefixOfASeedIsHandled) {
  const std::string data = SeedData("task_status_response.json");
  for (size_t n = 0; n < data.size(); ++n) {
    absl::StatusOr<v1::Task> task = ParseTask(data.substr(0, n));
    EXPECT_FALSE(task.ok()) << n;
    EXPECT_EQ(task.status().code(), absl::StatusCode::kDataLoss) << n;
  }
  EXPECT_TRUE(ParseTask(data).ok());
}

// Every member of a valid payload replaced by every JSON type: a clean
// status, never a crash.
TEST(UpstreamJsonHostileTest, EveryMemberWithEveryType) {
  const std::vector<std::string> values = testing_util::ValuesOfEveryType();
  const std::vector<std::string> keys = {
      "task_uuid", "taskId",     "flow_name",  "status",
      "progress",  "created_at", "started_at", "completed_at",
      "input",     "output",     "error",      "queue"};
  for (const std::string& key : keys) {
    for (const std::string& value : values) {
      const std::string json = absl::StrCat(
          R"({"task_uuid":"u","status":"SUCCESS","output":{"geometry_model_url":["g"]},")",
          key, "\":", value, "}");
      absl::StatusOr<v1::Task> task = ParseTask(json);
      if (!task.ok()) {
        EXPECT_EQ(task.status().code(), absl::StatusCode::kDataLoss) << json;
      }
    }
  }
}

TEST(UpstreamJsonHostileTest, DepthLimitBoundary) {
  // The envelope is level 1, so data may nest 63 more levels.
  EXPECT_TRUE(
      ParseEnvelope(absl::StrCat(R"({"code":0,"data":)", Nested(63), "}"))
          .ok());
  EXPECT_FALSE(
      ParseEnvelope(absl::StrCat(R"({"code":0,"data":)", Nested(64), "}"))
          .ok());
}

// Random byte-level mutations of every seed fed to every parser: each call
// returns OK or DATA_LOSS and never crashes (run it under the asan preset,
// where RapidJSON's own assertions are live too).
TEST(UpstreamJsonHostileTest, RandomMutationsOfSeedsNeverCrash) {
  std::vector<std::string> inputs;
  for (const char* seed :
       {"task_status_response.json", "task_status_page_response.json",
        "task_creation_response.json", "pricing_quote_response.json",
        "download_url_response.json"}) {
    inputs.push_back(SeedData(seed));
  }
  inputs.push_back(ReadSeed("own_models_item.json"));
  inputs.push_back(
      absl::StrCat(R"({"records":[)", ReadSeed("own_models_item.json"),
                   R"(],"total":1,"size":1,"current":1,"pages":1})"));
  const std::vector<ParseFn> parsers = {kEnvelope, kTask,     kCreation,
                                        kQuote,    kDownload, kUser,
                                        kBalance,  kOwnModel, kOwnModels};
  // JSON syntax, number and literal characters, an escape, a NUL byte and
  // an invalid UTF-8 byte.
  static constexpr char kAlphabet[] =
      "{}[]\":,0123456789.eE-+ntrufalsNI\\u\x00\xff";
  const int ok = testing_util::ParseMutations(
      inputs, parsers, /*seed=*/20260527,
      absl::string_view(kAlphabet, sizeof(kAlphabet) - 1));
  EXPECT_GT(ok, 0);  // some mutations stay valid (e.g. inside a URL)
}

}  // namespace
}  // namespace triverse::translate
