// Table tests of the Tripo V2 translation: the recorded payloads of
// tests/testdata/tripo/ (built from the docs' examples, upstream-apis.md §2),
// every status, the output folding, the request bodies, and a table of
// hostile inputs that must each give a clean DATA_LOSS naming the field.
#include "server/translate/tripo_json.h"

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "google/rpc/error_details.pb.h"
#include "gtest/gtest.h"
#include "rapidjson/document.h"
#include "server/errors/upstream_status.h"
#include "server/translate/upstream_json.h"
#include "tests/server/translate/testing_util.h"

namespace triverse::translate {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using testing_util::HostileCase;
using testing_util::Nested;
using testing_util::ParseFn;

// ReadData reads tests/testdata/tripo/`name`.
std::string ReadData(const std::string& name) {
  return testing_util::ReadTestdata(absl::StrCat("tripo/", name));
}

// Data returns the `data` of a recorded enveloped response.
std::string Data(const std::string& name) {
  absl::StatusOr<TripoEnvelope> env = ParseTripoEnvelope(ReadData(name));
  EXPECT_TRUE(env.ok()) << env.status();
  if (!env.ok()) return "";
  EXPECT_EQ(env->code, 0);
  return env->data_json;
}

// Task builds a minimal task payload with `members` added.
std::string Task(const std::string& status, const std::string& members = "") {
  return absl::StrCat(R"({"task_id":"t-1","status":")", status, "\"",
                      members.empty() ? "" : ",", members, "}");
}

// ------------------------------------------------------------------ envelope

TEST(ParseTripoEnvelopeTest, SuccessHasNoMessage) {
  absl::StatusOr<TripoEnvelope> env =
      ParseTripoEnvelope(ReadData("create_task_response.json"));
  ASSERT_TRUE(env.ok()) << env.status();
  EXPECT_EQ(env->code, 0);
  EXPECT_EQ(env->message, "");
  EXPECT_EQ(env->suggestion, "");
  EXPECT_EQ(env->data_json,
            R"({"task_id":"1ec04ced-4b87-44f6-a296-beee80777941"})");
}

TEST(ParseTripoEnvelopeTest, ErrorBody) {
  absl::StatusOr<TripoEnvelope> env =
      ParseTripoEnvelope(ReadData("error_response.json"));
  ASSERT_TRUE(env.ok()) << env.status();
  EXPECT_EQ(env->code, 2000);
  EXPECT_EQ(env->message, "You have exceeded the limit of generation.");
  EXPECT_THAT(env->suggestion, HasSubstr("Retry-After"));
  EXPECT_EQ(env->data_json, "null");
}

TEST(ParseTripoEnvelopeTest, V3ExtrasIgnored) {
  absl::StatusOr<TripoEnvelope> env = ParseTripoEnvelope(
      R"({"code":2,"status":"error","message":"m","request_id":"r"})");
  ASSERT_TRUE(env.ok()) << env.status();
  EXPECT_EQ(env->code, 2);
  EXPECT_EQ(env->message, "m");
}

// ------------------------------------------------------------------ task

TEST(ParseTripoTaskTest, DocsFailedExampleWithUndocumentedPromptAndResult) {
  absl::StatusOr<v1::Task> task =
      ParseTripoTask(Data("task_failed_response.json"));
  ASSERT_TRUE(task.ok()) << task.status();
  EXPECT_EQ(task->task_uuid(), "916ef2cf-1d2b-4c3a-9e8f-7a6b5c4d3e2f");
  EXPECT_EQ(task->flow_name(), "text-to-model");
  EXPECT_EQ(task->status(), v1::TASK_STATUS_FAILED);
  // Tripo says 100, which is not meaningful on a failed task.
  EXPECT_EQ(task->progress(), 0);
  EXPECT_EQ(task->error().code(), 1001);
  EXPECT_EQ(task->error().message(), "the task failed upstream");
  EXPECT_FALSE(task->error().has_suggestion());
  EXPECT_EQ(task->created_at().seconds(), 1768888519);
  EXPECT_EQ(task->input().fields().at("prompt").string_value(),
            "A dachshund standing on a stool.");
  EXPECT_THAT(task->output().textured_model_url(), IsEmpty());
  EXPECT_TRUE(task->output().other().fields().empty());
  EXPECT_FALSE(task->has_queue());
  EXPECT_FALSE(task->has_estimated_seconds_left());
}

TEST(ParseTripoTaskTest, SuccessFoldsTheModelUrls) {
  absl::StatusOr<v1::Task> task =
      ParseTripoTask(Data("task_success_response.json"));
  ASSERT_TRUE(task.ok()) << task.status();
  const std::string host = "https://tripo-data.rg1.data.tripo3d.com/tcli_1/";
  EXPECT_EQ(task->status(), v1::TASK_STATUS_SUCCESS);
  EXPECT_EQ(task->progress(), 100);
  EXPECT_EQ(task->flow_name(), "image-to-model");
  // pbr_model first, then model; output's pbr_model wins over result's.
  EXPECT_THAT(
      task->output().textured_model_url(),
      ElementsAre(host + "pbr.glb?Policy=a&Signature=b",
                  host + "model.glb?Policy=a&Signature=b&Key-Pair-Id=c"));
  EXPECT_THAT(task->output().geometry_model_url(),
              ElementsAre(host + "base.glb?Policy=a&Signature=b"));
  EXPECT_THAT(task->output().rendered_image_url(),
              ElementsAre(host + "rendered.webp?Policy=a"));
  EXPECT_EQ(task->output().preview_url(), host + "rendered.webp?Policy=a");
  const auto& other = task->output().other().fields();
  EXPECT_EQ(other.size(), 3u);
  EXPECT_TRUE(other.at("riggable").bool_value());
  EXPECT_EQ(other.at("rig_type").string_value(), "biped");
  EXPECT_EQ(other.at("extra_undocumented")
                .struct_value()
                .fields()
                .at("seed")
                .number_value(),
            42);
  EXPECT_FALSE(task->has_error());
  absl::StatusOr<std::string> url = TripoModelUrl(*task);
  ASSERT_TRUE(url.ok()) << url.status();
  EXPECT_EQ(*url, host + "pbr.glb?Policy=a&Signature=b");
}

TEST(ParseTripoTaskTest, ResultObjectFormFeedsTheListsOutputLacks) {
  absl::StatusOr<v1::Task> task =
      ParseTripoTask(Data("task_success_result_only_response.json"));
  ASSERT_TRUE(task.ok()) << task.status();
  const std::string host = "https://tripo-data.rg1.data.tripo3d.com/";
  EXPECT_EQ(task->flow_name(), "text-to-mesh");  // input.texture false
  EXPECT_THAT(task->output().textured_model_url(),
              ElementsAre(host + "result-model.glb"));
  EXPECT_THAT(task->output().geometry_model_url(),
              ElementsAre(host + "result-base.glb"));
  EXPECT_THAT(task->output().image_url(), ElementsAre(host + "img.webp"));
  EXPECT_EQ(task->created_at().seconds(), 1768888520);
  EXPECT_EQ(task->created_at().nanos(), 500000000);
  EXPECT_EQ(*TripoModelUrl(*task), host + "result-model.glb");
}

TEST(ParseTripoTaskTest, MultiviewImagesInOrder) {
  absl::StatusOr<v1::Task> task =
      ParseTripoTask(Data("task_multiview_response.json"));
  ASSERT_TRUE(task.ok()) << task.status();
  EXPECT_EQ(task->flow_name(), "generate-multiview-image");
  EXPECT_THAT(task->output().image_url(),
              ElementsAre("https://x/front.png", "https://x/left.png",
                          "https://x/back.png", "https://x/right.png"));
  EXPECT_TRUE(task->output().other().fields().empty());
  absl::StatusOr<std::string> url = TripoModelUrl(*task);
  EXPECT_EQ(url.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(url.status().message()),
              HasSubstr("c0ffee00-1111-4222-8333-444455556666"));
}

TEST(ParseTripoTaskTest, QueuedPositionCountsFromOne) {
  absl::StatusOr<v1::Task> task =
      ParseTripoTask(Data("task_queued_response.json"));
  ASSERT_TRUE(task.ok()) << task.status();
  EXPECT_EQ(task->status(), v1::TASK_STATUS_QUEUED);
  EXPECT_EQ(task->flow_name(), "image-to-mesh");
  EXPECT_TRUE(task->queue().is_queued());
  ASSERT_TRUE(task->queue().has_position());
  EXPECT_EQ(task->queue().position(), 4);  // queuing_num 3
  EXPECT_FALSE(task->has_estimated_seconds_left());

  task = ParseTripoTask(Task("queued", R"("queuing_num":0)"));
  ASSERT_TRUE(task.ok()) << task.status();
  EXPECT_EQ(task->queue().position(), 1);
  // −1 (not in the queue yet) and absent: no position.
  for (const char* members :
       {R"("queuing_num":-1)", "", R"("queuing_num":null)"}) {
    task = ParseTripoTask(Task("queued", members));
    ASSERT_TRUE(task.ok()) << task.status();
    EXPECT_TRUE(task->queue().is_queued()) << members;
    EXPECT_FALSE(task->queue().has_position()) << members;
  }
}

TEST(ParseTripoTaskTest, RunningProgressAndTimeLeft) {
  absl::StatusOr<v1::Task> task =
      ParseTripoTask(Data("task_running_response.json"));
  ASSERT_TRUE(task.ok()) << task.status();
  EXPECT_EQ(task->status(), v1::TASK_STATUS_RUNNING);
  EXPECT_EQ(task->progress(), 42);
  ASSERT_TRUE(task->has_estimated_seconds_left());
  EXPECT_EQ(task->estimated_seconds_left(), 37);
  EXPECT_FALSE(task->has_queue());

  task = ParseTripoTask(Task("running", R"("running_left_time":-1)"));
  ASSERT_TRUE(task.ok()) << task.status();
  EXPECT_FALSE(task->has_estimated_seconds_left());
  task = ParseTripoTask(Task("running", R"("running_left_time":2.1)"));
  ASSERT_TRUE(task.ok()) << task.status();
  EXPECT_EQ(task->estimated_seconds_left(), 3);  // an estimate rounds up
  task = ParseTripoTask(Task("running", R"("running_left_time":0)"));
  ASSERT_TRUE(task.ok()) << task.status();
  EXPECT_EQ(task->estimated_seconds_left(), 0);
}

TEST(ParseTripoTaskTest, RunningProgressIsRoundedAndClamped) {
  const struct {
    const char* progress;
    int want;
  } cases[] = {{"0", 0},       {"1", 1},    {"99", 99},    {"100", 100},
               {"150", 100},   {"-3", 0},   {"42.5", 43},  {"42.4", 42},
               {"\"42\"", 42}, {"null", 0}, {"1e300", 100}};
  for (const auto& c : cases) {
    absl::StatusOr<v1::Task> task = ParseTripoTask(
        Task("running", absl::StrCat("\"progress\":", c.progress)));
    ASSERT_TRUE(task.ok()) << c.progress << " " << task.status();
    EXPECT_EQ(task->progress(), c.want) << c.progress;
  }
}

struct StatusCase {
  std::string status;
  v1::TaskStatus want;
  int progress;
  bool has_error;
  int error_code;
  std::string error_message;
};

void PrintTo(const StatusCase& c, std::ostream* os) {
  *os << "status \"" << c.status << "\"";
}

class TripoStatusTest : public ::testing::TestWithParam<StatusCase> {};

TEST_P(TripoStatusTest, MapsEveryStatus) {
  const StatusCase& c = GetParam();
  // progress 57 everywhere: only queued/running keep it, success is 100.
  absl::StatusOr<v1::Task> task = ParseTripoTask(Task(
      c.status, R"("progress":57,"queuing_num":-1,"running_left_time":-1)"));
  ASSERT_TRUE(task.ok()) << task.status();
  EXPECT_EQ(task->status(), c.want);
  EXPECT_EQ(task->progress(), c.progress);
  EXPECT_EQ(task->has_error(), c.has_error);
  if (c.has_error) {
    EXPECT_EQ(task->error().code(), c.error_code);
    EXPECT_EQ(task->error().message(), c.error_message);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Table, TripoStatusTest,
    ::testing::Values(
        StatusCase{"queued", v1::TASK_STATUS_QUEUED, 57, false, 0, ""},
        StatusCase{"running", v1::TASK_STATUS_RUNNING, 57, false, 0, ""},
        StatusCase{"success", v1::TASK_STATUS_SUCCESS, 100, false, 0, ""},
        StatusCase{"failed", v1::TASK_STATUS_FAILED, 0, true, 0,
                   "the task failed upstream"},
        StatusCase{"banned", v1::TASK_STATUS_FAILED, 0, true, 2008,
                   "banned: the input violates the provider's content policy"},
        StatusCase{"expired", v1::TASK_STATUS_FAILED, 0, true, 2018,
                   "expired: the task expired upstream"},
        StatusCase{"cancelled", v1::TASK_STATUS_CANCELLED, 0, false, 0, ""},
        StatusCase{"unknown", v1::TASK_STATUS_UNSPECIFIED, 0, true, 1000,
                   "status unknown upstream (\"unknown\")"},
        StatusCase{"", v1::TASK_STATUS_UNSPECIFIED, 0, true, 1000,
                   "status unknown upstream (\"\")"},
        StatusCase{"paused", v1::TASK_STATUS_UNSPECIFIED, 0, true, 1000,
                   "status unknown upstream (\"paused\")"},
        StatusCase{"succ", v1::TASK_STATUS_UNSPECIFIED, 0, true, 1000,
                   "status unknown upstream (\"succ\")"},
        // Case-insensitive, but exact.
        StatusCase{"SUCCESS", v1::TASK_STATUS_SUCCESS, 100, false, 0, ""},
        StatusCase{"Running", v1::TASK_STATUS_RUNNING, 57, false, 0, ""},
        StatusCase{"successful", v1::TASK_STATUS_UNSPECIFIED, 0, true, 1000,
                   "status unknown upstream (\"successful\")"}));

TEST(ParseTripoTaskTest, ExpiredSuggestsARetry) {
  absl::StatusOr<v1::Task> task = ParseTripoTask(Task("expired"));
  ASSERT_TRUE(task.ok()) << task.status();
  EXPECT_EQ(task->error().suggestion(), "create the task again");
}

TEST(ParseTripoTaskTest, UnknownStatusIsQuotedSafely) {
  absl::StatusOr<v1::Task> task =
      ParseTripoTask(Task(absl::StrCat("we\\\"ird\\n", std::string(100, 'x'))));
  ASSERT_TRUE(task.ok()) << task.status();
  const std::string& m = task->error().message();
  EXPECT_THAT(m, HasSubstr(R"(we\"ird\n)"));
  EXPECT_THAT(m, HasSubstr("...\")"));
  EXPECT_LT(m.size(), 120u);
}

TEST(ParseTripoTaskTest, FailedErrorCodeAndMessage) {
  const struct {
    const char* members;
    int code;
    const char* message;
  } cases[] = {
      {R"("error_code":2008,"error_msg":"nsfw")", 2008, "nsfw"},
      {R"("error_code":"1001")", 1001, "the task failed upstream"},
      {R"("error_code":null,"error_msg":"")", 0, "the task failed upstream"},
      {R"("error_msg":"gpu fell over")", 0, "gpu fell over"},
  };
  for (const auto& c : cases) {
    absl::StatusOr<v1::Task> task = ParseTripoTask(Task("failed", c.members));
    ASSERT_TRUE(task.ok()) << c.members << " " << task.status();
    EXPECT_EQ(task->error().code(), c.code) << c.members;
    EXPECT_EQ(task->error().message(), c.message) << c.members;
  }
  // A non-failed status ignores them.
  absl::StatusOr<v1::Task> task =
      ParseTripoTask(Task("running", R"("error_code":"x","error_msg":5)"));
  ASSERT_TRUE(task.ok()) << task.status();
  EXPECT_FALSE(task->has_error());
}

TEST(ParseTripoTaskTest, FlowNames) {
  const struct {
    const char* type;
    const char* input;
    const char* want;
  } cases[] = {
      {"text_to_model", "{}", "text-to-model"},
      {"text_to_model", R"({"texture":true})", "text-to-model"},
      {"text_to_model", R"({"texture":false})", "text-to-mesh"},
      {"text_to_model", R"({"texture":"false"})", "text-to-model"},
      {"image_to_model", R"({"texture":false,"pbr":false})", "image-to-mesh"},
      {"image_to_model", "null", "image-to-model"},
      {"texture_model", "{}", "texture-model"},
      {"convert_model", "{}", "convert-model-format"},
      {"conversion", "{}", "convert-model-format"},
      {"animate_prerigcheck", "{}", "animate-prerigcheck"},
      {"refine_model", "{}", "refine-model"},
      {"", "{}", ""},
  };
  for (const auto& c : cases) {
    absl::StatusOr<v1::Task> task =
        ParseTripoTask(Task("success", absl::StrCat(R"("type":")", c.type,
                                                    R"(","input":)", c.input)));
    ASSERT_TRUE(task.ok()) << c.type << " " << task.status();
    EXPECT_EQ(task->flow_name(), c.want) << c.type << " " << c.input;
  }
  absl::StatusOr<v1::Task> task = ParseTripoTask(Task("success"));
  ASSERT_TRUE(task.ok());
  EXPECT_EQ(task->flow_name(), "");
}

TEST(ParseTripoTaskTest, OutputUrlsSkipEmptyAndWrongTypes) {
  absl::StatusOr<v1::Task> task = ParseTripoTask(Task(
      "success",
      R"("output":{"pbr_model":"","model":5,"base_model":{"url":"b"},)"
      R"("rendered_image":{"url":7},"generated_image":null,)"
      R"("generate_multiview_image":{"front_view_url":"f","left_view_url":3}},)"
      R"("result":{"pbr_model":{"url":"p"},"model":"m"})"));
  ASSERT_TRUE(task.ok()) << task.status();
  // output's empty pbr_model and numeric model give way to result's.
  EXPECT_THAT(task->output().textured_model_url(), ElementsAre("p", "m"));
  EXPECT_THAT(task->output().geometry_model_url(), ElementsAre("b"));
  EXPECT_THAT(task->output().rendered_image_url(), IsEmpty());
  EXPECT_FALSE(task->output().has_preview_url());
  EXPECT_THAT(task->output().image_url(), ElementsAre("f"));
  EXPECT_TRUE(task->output().other().fields().empty());
}

TEST(ParseTripoTaskTest, NonObjectResultAndMultiviewAreTolerated) {
  absl::StatusOr<v1::Task> task = ParseTripoTask(Task(
      "success",
      R"("result":"x","prompt":7,"output":{"generate_multiview_image":[1]})"));
  ASSERT_TRUE(task.ok()) << task.status();
  EXPECT_THAT(task->output().image_url(), IsEmpty());
  // A multiview value of another shape is kept as it came.
  EXPECT_EQ(task->output()
                .other()
                .fields()
                .at("generate_multiview_image")
                .list_value()
                .values_size(),
            1);
}

TEST(ParseTripoTaskTest, CreateTime) {
  absl::StatusOr<v1::Task> task =
      ParseTripoTask(Task("success", R"("create_time":0)"));
  ASSERT_TRUE(task.ok());
  EXPECT_FALSE(task->has_created_at());
  task = ParseTripoTask(Task("success", R"("create_time":-5)"));
  ASSERT_TRUE(task.ok());
  EXPECT_FALSE(task->has_created_at());
  task = ParseTripoTask(Task("success", R"("create_time":253402300799)"));
  ASSERT_TRUE(task.ok());
  EXPECT_EQ(task->created_at().seconds(), 253402300799);
}

TEST(ParseTripoTaskTest, TaskModelUrlNeedsSuccess) {
  absl::StatusOr<v1::Task> task = ParseTripoTask(
      Task("running", R"("output":{"model":"https://x/m.glb"})"));
  ASSERT_TRUE(task.ok());
  absl::StatusOr<std::string> url = TripoModelUrl(*task);
  EXPECT_EQ(url.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(url.status().message()), HasSubstr("t-1"));
  task = ParseTripoTask(Task("success", R"("output":{"base_model":"g"})"));
  ASSERT_TRUE(task.ok());
  EXPECT_EQ(*TripoModelUrl(*task), "g");
}

// ------------------------------------------------------------------ others

TEST(ParseTripoTaskIdTest, RecordedAndBad) {
  absl::StatusOr<std::string> id =
      ParseTripoTaskId(Data("create_task_response.json"));
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(*id, "1ec04ced-4b87-44f6-a296-beee80777941");
  EXPECT_EQ(ParseTripoTaskId(R"({"task_id":""})").status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(ParseTripoTaskId("null").status().code(),
            absl::StatusCode::kDataLoss);
}

TEST(ParseTripoImageTokenTest, RecordedAndBad) {
  absl::StatusOr<std::string> token =
      ParseTripoImageToken(Data("upload_response.json"));
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(*token, "0f8e5f34-91a6-4c45-8c1d-6f1c0a2b3d4e");
  EXPECT_THAT(
      std::string(
          ParseTripoImageToken(R"({"file_token":"x"})").status().message()),
      HasSubstr("field 'image_token' is missing"));
}

TEST(ParseTripoBalanceTest, RoundsDown) {
  absl::StatusOr<v1::Balance> b =
      ParseTripoBalance(Data("balance_response.json"));
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->balance(), 1234);
  EXPECT_EQ(b->frozen(), 20);
  b = ParseTripoBalance(R"({"balance":-0.5,"frozen":9.999})");
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->balance(), -1);
  EXPECT_EQ(b->frozen(), 9);
}

// ------------------------------------------------------------------ watch

TEST(ParseTripoWatchFrameTest, RecordedFrames) {
  absl::StatusOr<std::optional<WatchFrame>> f =
      ParseTripoWatchFrame(ReadData("watch_update_frame.json"));
  ASSERT_TRUE(f.ok()) << f.status();
  ASSERT_TRUE(f->has_value());
  EXPECT_EQ((*f)->kind, WatchFrame::Kind::kUpdate);
  EXPECT_EQ((*f)->task.status(), v1::TASK_STATUS_RUNNING);
  EXPECT_EQ((*f)->task.progress(), 55);
  EXPECT_EQ((*f)->task.estimated_seconds_left(), 12);

  f = ParseTripoWatchFrame(ReadData("watch_finalized_frame.json"));
  ASSERT_TRUE(f.ok()) << f.status();
  ASSERT_TRUE(f->has_value());
  EXPECT_EQ((*f)->kind, WatchFrame::Kind::kFinalized);
  EXPECT_EQ((*f)->task.status(), v1::TASK_STATUS_SUCCESS);
  EXPECT_THAT((*f)->task.output().textured_model_url(),
              ElementsAre("https://tripo-data.rg1.data.tripo3d.com/pbr.glb"));
}

TEST(ParseTripoWatchFrameTest, UnknownEventAndBlankMessageAreNoFrame) {
  for (const char* message : {R"({"event":"heartbeat"})",
                              R"({"event":"ping","data":5})", "", " \r\n"}) {
    absl::StatusOr<std::optional<WatchFrame>> f = ParseTripoWatchFrame(message);
    ASSERT_TRUE(f.ok()) << message << " " << f.status();
    EXPECT_FALSE(f->has_value()) << message;
  }
}

TEST(ParseTripoWatchFrameTest, EnvelopedDataAndMissingEvent) {
  absl::StatusOr<std::optional<WatchFrame>> f = ParseTripoWatchFrame(
      absl::StrCat(R"({"event":"update","data":{"code":0,"data":)",
                   Task("queued", R"("queuing_num":1)"), "}}"));
  ASSERT_TRUE(f.ok()) << f.status();
  ASSERT_TRUE(f->has_value());
  EXPECT_EQ((*f)->task.queue().position(), 2);
  // No event: the status decides.
  f = ParseTripoWatchFrame(absl::StrCat(R"({"data":)", Task("banned"), "}"));
  ASSERT_TRUE(f.ok()) << f.status();
  ASSERT_TRUE(f->has_value());
  EXPECT_EQ((*f)->kind, WatchFrame::Kind::kFinalized);
  f = ParseTripoWatchFrame(
      absl::StrCat(R"({"code":0,"data":)", Task("running"), "}"));
  ASSERT_TRUE(f.ok()) << f.status();
  ASSERT_TRUE(f->has_value());
  EXPECT_EQ((*f)->kind, WatchFrame::Kind::kUpdate);
  // An unknown status stays an update: the connection re-polls it.
  f = ParseTripoWatchFrame(absl::StrCat(R"({"data":)", Task("unknown"), "}"));
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ((*f)->kind, WatchFrame::Kind::kUpdate);
}

// ------------------------------------------------------------------ hostile

constexpr ParseFn kEnvelope = [](const std::string& j) {
  return ParseTripoEnvelope(j).status();
};
constexpr ParseFn kTask = [](const std::string& j) {
  return ParseTripoTask(j).status();
};
constexpr ParseFn kTaskId = [](const std::string& j) {
  return ParseTripoTaskId(j).status();
};
constexpr ParseFn kToken = [](const std::string& j) {
  return ParseTripoImageToken(j).status();
};
constexpr ParseFn kBalance = [](const std::string& j) {
  return ParseTripoBalance(j).status();
};
constexpr ParseFn kWatch = [](const std::string& j) {
  return ParseTripoWatchFrame(j).status();
};

std::vector<HostileCase> HostileCases() {
  return {
      {"EnvelopeEmpty", kEnvelope, "", "not valid JSON"},
      {"EnvelopeHtml", kEnvelope, "<html>502</html>", "not valid JSON"},
      {"EnvelopeArray", kEnvelope, "[]", "must be an object, got an array"},
      {"EnvelopeInvalidUtf8", kEnvelope,
       "{\"code\":0,\"message\":\"\xc3\x28\"}", "not valid JSON"},
      {"EnvelopeLoneLowSurrogate", kEnvelope,
       R"({"code":1,"message":"\udc00"})", "unpaired surrogate"},
      {"EnvelopeDeepNesting", kEnvelope,
       absl::StrCat(R"({"code":0,"data":)", Nested(100000), "}"),
       "nests deeper than 64"},
      {"EnvelopeDepth65", kEnvelope,
       absl::StrCat(R"({"code":0,"data":)", Nested(64), "}"),
       "nests deeper than 64"},
      {"EnvelopeNoCode", kEnvelope, R"({"data":{}})",
       "field 'code' is missing"},
      {"EnvelopeStringCode", kEnvelope, R"({"code":"0"})",
       "field 'code' must be a number, got a string"},
      {"EnvelopeFractionCode", kEnvelope, R"({"code":0.5})",
       "field 'code' must be an integer, got a fraction"},
      {"EnvelopeHugeCode", kEnvelope, R"({"code":1e12})",
       "field 'code' is out of range"},
      {"EnvelopeMessageNumber", kEnvelope, R"({"code":1,"message":1})",
       "field 'message' must be a string, got a number"},
      {"EnvelopeSuggestionObject", kEnvelope, R"({"code":1,"suggestion":{}})",
       "field 'suggestion' must be a string, got an object"},
      {"TaskNotObject", kTask, "\"task\"", "must be an object, got a string"},
      {"TaskNoId", kTask, R"({"status":"queued"})",
       "upstream tripo task payload: field 'task_id' is missing"},
      {"TaskEmptyId", kTask, R"({"task_id":"","status":"queued"})",
       "field 'task_id' is empty"},
      {"TaskNumericId", kTask, R"({"task_id":7,"status":"queued"})",
       "field 'task_id' must be a string, got a number"},
      {"TaskNoStatus", kTask, R"({"task_id":"t"})",
       "field 'status' is missing"},
      {"TaskNullStatus", kTask, R"({"task_id":"t","status":null})",
       "field 'status' is missing"},
      {"TaskNumericStatus", kTask, R"({"task_id":"t","status":3})",
       "field 'status' must be a string, got a number"},
      {"TaskTypeNumber", kTask, Task("queued", R"("type":1)"),
       "field 'type' must be a string"},
      {"TaskInputArray", kTask, Task("queued", R"("input":[])"),
       "field 'input' must be an object, got an array"},
      {"TaskOutputString", kTask, Task("success", R"("output":"x")"),
       "field 'output' must be an object, got a string"},
      {"TaskProgressBool", kTask, Task("running", R"("progress":true)"),
       "field 'progress' must be a number, got a boolean"},
      {"TaskProgressGarbage", kTask, Task("running", R"("progress":"abc")"),
       "field 'progress' must be a number, got the string \"abc\""},
      {"TaskQueuingFraction", kTask, Task("queued", R"("queuing_num":1.5)"),
       "field 'queuing_num' must be an integer, got a fraction"},
      {"TaskQueuingHuge", kTask, Task("queued", R"("queuing_num":2147483647)"),
       "field 'queuing_num' is out of range"},
      {"TaskQueuingString", kTask, Task("queued", R"("queuing_num":"3")"),
       "field 'queuing_num' must be a number, got a string"},
      {"TaskLeftTimeHuge", kTask,
       Task("running", R"("running_left_time":1e10)"),
       "field 'running_left_time' is out of range"},
      {"TaskLeftTimeString", kTask,
       Task("running", R"("running_left_time":"5")"),
       "field 'running_left_time' must be a number"},
      {"TaskCreateTimeString", kTask,
       Task("queued", R"("create_time":"2026-01-01")"),
       "field 'create_time' must be a number, got a string"},
      {"TaskCreateTimeAfter9999", kTask,
       Task("queued", R"("create_time":1e12)"),
       "field 'create_time' is after year 9999"},
      {"TaskErrorCodeGarbage", kTask, Task("failed", R"("error_code":"E1")"),
       "field 'error_code' must be an integer, got the string \"E1\""},
      {"TaskErrorCodeBool", kTask, Task("failed", R"("error_code":false)"),
       "field 'error_code' must be a number, got a boolean"},
      {"TaskErrorMsgNumber", kTask, Task("failed", R"("error_msg":5)"),
       "field 'error_msg' must be a string, got a number"},
      {"TaskDeep", kTask,
       Task("queued", absl::StrCat(R"("input":)", Nested(70))),
       "nests deeper than 64"},
      {"TaskInvalidUtf8InOutput", kTask,
       Task("success", "\"output\":{\"model\":\"\xff\"}"), "not valid JSON"},
      {"TaskIdNoData", kTaskId, R"({"id":"x"})", "field 'task_id' is missing"},
      {"TaskIdNumber", kTaskId, R"({"task_id":1})",
       "upstream tripo task creation payload: field 'task_id' must be a "
       "string"},
      {"TokenEmpty", kToken, R"({"image_token":""})",
       "upstream tripo upload payload: field 'image_token' is empty"},
      {"BalanceMissing", kBalance, R"({"balance":1})",
       "upstream tripo balance payload: field 'frozen' is missing"},
      {"BalanceString", kBalance, R"({"balance":"1","frozen":0})",
       "field 'balance' must be a number, got a string"},
      {"BalanceHuge", kBalance, R"({"balance":1e19,"frozen":0})",
       "field 'balance' is out of range for a 64-bit integer"},
      {"BalanceHugeNegative", kBalance, R"({"balance":0,"frozen":-1e19})",
       "field 'frozen' is out of range for a 64-bit integer"},
      {"WatchNotJson", kWatch, "event: update\ndata: {}", "not valid JSON"},
      {"WatchNoData", kWatch, R"({"event":"update"})",
       "upstream tripo watch frame payload: field 'data' is missing"},
      {"WatchDataString", kWatch, R"({"event":"finalized","data":"x"})",
       "field 'data' must be an object, got a string"},
      {"WatchEventNumber", kWatch, R"({"event":1,"data":{}})",
       "field 'event' must be a string, got a number"},
      {"WatchBadTask", kWatch, R"({"event":"update","data":{"task_id":"t"}})",
       "field 'data.status' is missing"},
      {"WatchEnvelopeError", kWatch,
       R"({"event":"update","data":{"code":2001,"message":"nope"}})",
       "field 'data.code' is the error code 2001"},
      {"WatchEnvelopeNoTask", kWatch, R"({"event":"update","data":{"code":0}})",
       "field 'data.data' is missing"},
      {"WatchEnvelopeBadTask", kWatch,
       R"({"event":"update","data":{"code":0,"data":{"task_id":"t","status":[]}}})",
       "field 'data.data.status' must be a string, got an array"},
      {"WatchDeep", kWatch,
       absl::StrCat(R"({"event":"update","data":)", Nested(5000), "}"),
       "nests deeper than 64"},
  };
}

TEST(TripoJsonHostileTest, EveryCaseIsACleanDataLossNamingTheField) {
  testing_util::ExpectCleanDataLoss(HostileCases(), "upstream tripo ");
}

TEST(TripoJsonHostileTest, DepthLimitBoundary) {
  EXPECT_TRUE(
      ParseTripoEnvelope(absl::StrCat(R"({"code":0,"data":)", Nested(63), "}"))
          .ok());
  EXPECT_TRUE(ParseTripoTask(Task("queued", absl::StrCat(R"("input":{"a":)",
                                                         Nested(62), "}")))
                  .ok());
  EXPECT_FALSE(ParseTripoTask(Task("queued", absl::StrCat(R"("input":{"a":)",
                                                          Nested(63), "}")))
                   .ok());
}

// Every prefix of a valid payload is a clean error.
TEST(TripoJsonHostileTest, EveryPrefixOfARecordedTaskIsHandled) {
  const std::string data = Data("task_success_response.json");
  for (size_t n = 0; n < data.size(); ++n) {
    absl::StatusOr<v1::Task> task = ParseTripoTask(data.substr(0, n));
    EXPECT_EQ(task.status().code(), absl::StatusCode::kDataLoss) << n;
  }
  EXPECT_TRUE(ParseTripoTask(data).ok());
}

// Every member replaced by every JSON type: a clean status, never a crash.
TEST(TripoJsonHostileTest, EveryMemberWithEveryType) {
  const std::vector<std::string> values =
      testing_util::ValuesOfEveryType(R"({"url":[{}]})");
  const std::vector<std::string> keys = {
      "task_id",     "type",       "status",      "input",
      "output",      "progress",   "queuing_num", "running_left_time",
      "create_time", "error_code", "error_msg",   "result",
      "prompt"};
  for (const char* status : {"queued", "running", "failed", "success"}) {
    for (const std::string& key : keys) {
      for (const std::string& value : values) {
        const std::string json = absl::StrCat(
            R"({"task_id":"u","status":")", status,
            R"(","output":{"model":"m"},")", key, "\":", value, "}");
        absl::StatusOr<v1::Task> task = ParseTripoTask(json);
        if (!task.ok()) {
          EXPECT_EQ(task.status().code(), absl::StatusCode::kDataLoss) << json;
        } else {
          EXPECT_GE(task->progress(), 0);
          EXPECT_LE(task->progress(), 100);
        }
      }
    }
  }
}

// Random mutations of every recorded payload fed to every parser: each call
// returns OK or DATA_LOSS and never crashes (RapidJSON's assertions are live
// in Debug builds; run it under the asan preset too).
TEST(TripoJsonHostileTest, RandomMutationsNeverCrash) {
  std::vector<std::string> inputs;
  for (const char* name :
       {"task_failed_response.json", "task_success_response.json",
        "task_success_result_only_response.json", "task_queued_response.json",
        "task_running_response.json", "task_multiview_response.json",
        "create_task_response.json", "upload_response.json",
        "balance_response.json", "error_response.json",
        "watch_update_frame.json", "watch_finalized_frame.json"}) {
    inputs.push_back(ReadData(name));
    if (absl::StrContains(name, "response") &&
        !absl::StrContains(name, "error")) {
      inputs.push_back(Data(name));
    }
  }
  const std::vector<ParseFn> parsers = {kEnvelope, kTask,    kTaskId,
                                        kToken,    kBalance, kWatch};
  EXPECT_GT(testing_util::ParseMutations(inputs, parsers, /*seed=*/20261126),
            0);
}

// ------------------------------------------------------------------ bodies

// ModelVersion returns the model_version of the built body, "<absent>"
// when it has none, "<error>" when the body could not be built.
std::string ModelVersion(const v1::CreateTaskRequest& request) {
  absl::StatusOr<std::string> body = BuildTripoCreateTaskBody(request);
  EXPECT_TRUE(body.ok()) << body.status();
  if (!body.ok()) return "<error>";
  rapidjson::Document doc;
  doc.Parse(body->c_str());
  EXPECT_TRUE(!doc.HasParseError() && doc.IsObject()) << *body;
  if (doc.HasParseError() || !doc.IsObject()) return "<error>";
  auto it = doc.FindMember("model_version");
  if (it == doc.MemberEnd() || !it->value.IsString()) return "<absent>";
  return it->value.GetString();
}

std::string BodyText(const v1::CreateTaskRequest& request) {
  absl::StatusOr<std::string> body = BuildTripoCreateTaskBody(request);
  EXPECT_TRUE(body.ok()) << body.status();
  return body.ok() ? *body : "";
}

TEST(BuildTripoCreateTaskBodyTest, TextToModel) {
  v1::CreateTaskRequest r;
  r.mutable_text_to_model()->set_prompt("a \"quoted\" cat\n\xc3\xa9");
  EXPECT_EQ(BodyText(r),
            R"({"type":"text_to_model","prompt":"a \"quoted\" cat\n)"
            "\xc3\xa9\"}");
  r.mutable_text_to_model()->set_negative_prompt("blurry");
  r.mutable_text_to_model()->set_seed(12345678901);
  r.mutable_text_to_model()->set_polygon_limit(20000);
  r.mutable_text_to_model()->set_turbo(false);  // honoured: not turbo
  EXPECT_EQ(BodyText(r),
            R"({"type":"text_to_model","prompt":"a \"quoted\" cat\n)"
            "\xc3\xa9"
            R"(","negative_prompt":"blurry","model_seed":12345678901,)"
            R"("face_limit":20000})");
}

TEST(BuildTripoCreateTaskBodyTest, TextToMesh) {
  v1::CreateTaskRequest r;
  r.mutable_text_to_mesh()->set_prompt("chair");
  r.mutable_text_to_mesh()->set_seed(7);
  EXPECT_EQ(
      BodyText(r),
      R"({"type":"text_to_model","prompt":"chair","model_seed":7,"texture":false,"pbr":false})");
}

TEST(BuildTripoCreateTaskBodyTest, ImageFileUrlOrToken) {
  const struct {
    const char* image_file;
    const char* file;
  } cases[] = {
      {"https://x.example/a/b.png?sig=1.webp",
       R"({"type":"png","url":"https://x.example/a/b.png?sig=1.webp"})"},
      {"HTTP://x.example/b.WEBP",
       R"({"type":"webp","url":"HTTP://x.example/b.WEBP"})"},
      {"https://x.example/b.jpeg#frag.png",
       R"({"type":"jpg","url":"https://x.example/b.jpeg#frag.png"})"},
      {"https://x.example/noext",
       R"({"type":"jpg","url":"https://x.example/noext"})"},
      {"https://x.png", R"({"type":"jpg","url":"https://x.png"})"},
      {"https://x.example/dir.png/file",
       R"({"type":"jpg","url":"https://x.example/dir.png/file"})"},
      {"0f8e5f34-91a6-4c45-8c1d-6f1c0a2b3d4e",
       R"({"type":"jpg","file_token":"0f8e5f34-91a6-4c45-8c1d-6f1c0a2b3d4e"})"},
      {"ftp://x/y.png", R"({"type":"jpg","file_token":"ftp://x/y.png"})"},
  };
  for (const auto& c : cases) {
    v1::CreateTaskRequest r;
    r.mutable_image_to_model()->set_image_file(c.image_file);
    EXPECT_EQ(BodyText(r),
              absl::StrCat(R"({"type":"image_to_model","file":)", c.file, "}"))
        << c.image_file;
  }
}

TEST(BuildTripoCreateTaskBodyTest, ImageToModelAndMeshOptions) {
  v1::CreateTaskRequest r;
  auto* p = r.mutable_image_to_model();
  p->set_image_file("tok");
  p->set_model_version("v2.5-20250123");
  p->set_polygon_limit(5000);
  EXPECT_EQ(
      BodyText(r),
      R"({"type":"image_to_model","file":{"type":"jpg","file_token":"tok"},)"
      R"("model_version":"v2.5-20250123","face_limit":5000})");
  p->clear_model_version();
  p->set_turbo(true);
  EXPECT_EQ(ModelVersion(r), "Turbo-v1.0-20250506");
  p->set_model_version("turbo-v1.0-20250506");  // names the Turbo model
  EXPECT_EQ(ModelVersion(r), "turbo-v1.0-20250506");
  p->clear_turbo();
  p->clear_model_version();
  EXPECT_EQ(ModelVersion(r), "<absent>");

  v1::CreateTaskRequest m;
  m.mutable_image_to_mesh()->set_image_file("tok");
  m.mutable_image_to_mesh()->set_turbo(true);
  EXPECT_EQ(
      BodyText(m),
      R"({"type":"image_to_model","file":{"type":"jpg","file_token":"tok"},)"
      R"("model_version":"Turbo-v1.0-20250506","texture":false,"pbr":false})");
}

TEST(BuildTripoCreateTaskBodyTest, TextureAndConvert) {
  v1::CreateTaskRequest r;
  r.mutable_texture_model()->set_model_file("orig-task");
  r.mutable_texture_model()->set_model_version("v2.5-20250123");
  EXPECT_EQ(BodyText(r),
            R"({"type":"texture_model","original_model_task_id":"orig-task",)"
            R"("model_version":"v2.5-20250123"})");
  v1::CreateTaskRequest c;
  c.mutable_convert_model_format()->set_model_file("orig-task");
  c.mutable_convert_model_format()->set_export_format("fbx");
  EXPECT_EQ(BodyText(c),
            R"({"type":"convert_model","original_model_task_id":"orig-task",)"
            R"("format":"FBX"})");
}

// BadRequestFields lists the fields of the BadRequest of `status`.
std::vector<std::string> BadRequestFields(const absl::Status& status) {
  return testing_util::BadRequestFields(status, "tripo provider");
}

TEST(BuildTripoCreateTaskBodyTest, UnsupportedFieldsAreNamed) {
  v1::CreateTaskRequest r;
  r.mutable_text_to_model()->set_prompt("p");
  r.mutable_text_to_model()->set_texture_size(2048);
  r.mutable_text_to_model()->set_turbo(true);
  absl::Status s = BuildTripoCreateTaskBody(r).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(),
            "text_to_model.texture_size: is not supported by the tripo "
            "provider");
  EXPECT_THAT(BadRequestFields(s),
              ElementsAre("text_to_model.texture_size", "text_to_model.turbo"));

  v1::CreateTaskRequest t;
  t.mutable_texture_model()->set_model_file("m");
  t.mutable_texture_model()->set_image_file("i");
  t.mutable_texture_model()->set_polygon_limit(1);
  t.mutable_texture_model()->set_texture_size(1024);
  EXPECT_THAT(
      BadRequestFields(BuildTripoCreateTaskBody(t).status()),
      ElementsAre("texture_model.image_file", "texture_model.polygon_limit",
                  "texture_model.texture_size"));

  v1::CreateTaskRequest i;
  i.mutable_image_to_model()->set_image_file("tok");
  i.mutable_image_to_model()->set_texture_size(1024);
  i.mutable_image_to_model()->set_turbo(true);
  i.mutable_image_to_model()->set_model_version("v3.1-20260211");
  EXPECT_THAT(
      BadRequestFields(BuildTripoCreateTaskBody(i).status()),
      ElementsAre("image_to_model.texture_size", "image_to_model.turbo"));

  v1::CreateTaskRequest m;
  m.mutable_text_to_mesh()->set_turbo(true);
  EXPECT_THAT(BadRequestFields(BuildTripoCreateTaskBody(m).status()),
              ElementsAre("text_to_mesh.turbo"));
}

TEST(BuildTripoCreateTaskBodyTest, OtherFlowsAreUnimplemented) {
  const struct {
    void (*set)(v1::CreateTaskRequest*);
    const char* flow;
  } cases[] = {
      {[](v1::CreateTaskRequest* r) { r->mutable_text_to_texture(); },
       "text-to-texture"},
      {[](v1::CreateTaskRequest* r) { r->mutable_model_preview_render(); },
       "model-preview-render"},
      {[](v1::CreateTaskRequest* r) { r->mutable_model_remesh(); },
       "model-remesh"},
      {[](v1::CreateTaskRequest* r) { r->mutable_image_generation(); },
       "image-generation"},
  };
  for (const auto& c : cases) {
    v1::CreateTaskRequest r;
    c.set(&r);
    absl::Status s = BuildTripoCreateTaskBody(r).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kUnimplemented) << c.flow;
    EXPECT_EQ(s.message(),
              absl::StrCat("CreateTask: flow ", c.flow,
                           " is not offered by the tripo provider"));
  }
  EXPECT_EQ(BuildTripoCreateTaskBody(v1::CreateTaskRequest()).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace triverse::translate
