// Table tests of the Siray translation: the recorded payloads of
// tests/testdata/siray/ (the docs' examples, upstream-apis.md §3), every
// status, the lenient progress and times, error bodies, the request bodies,
// and a table of hostile inputs that must each give a clean DATA_LOSS naming
// the field.
#include "server/translate/siray_json.h"

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
#include "server/errors/upstream_status.h"
#include "tests/server/translate/testing_util.h"

namespace triverse::translate {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using testing_util::HostileCase;
using testing_util::Nested;
using testing_util::ParseFn;

// ReadData reads tests/testdata/siray/`name`.
std::string ReadData(const std::string& name) {
  return testing_util::ReadTestdata(absl::StrCat("siray/", name));
}

// Data returns the `data` of a recorded enveloped response.
std::string Data(const std::string& name) {
  absl::StatusOr<SirayEnvelope> env = ParseSirayEnvelope(ReadData(name));
  EXPECT_TRUE(env.ok()) << env.status();
  if (!env.ok()) return "";
  EXPECT_EQ(env->code, "success");
  return env->data_json;
}

// Task builds a minimal task payload with `members` added.
std::string Task(const std::string& status, const std::string& members = "") {
  return absl::StrCat(R"({"task_id":"3d_1","status":")", status, "\"",
                      members.empty() ? "" : ",", members, "}");
}

// ------------------------------------------------------------------ envelope

TEST(ParseSirayEnvelopeTest, StringCode) {
  absl::StatusOr<SirayEnvelope> env =
      ParseSirayEnvelope(ReadData("create_task_response.json"));
  ASSERT_TRUE(env.ok()) << env.status();
  EXPECT_EQ(env->code, "success");
  EXPECT_EQ(env->message, "");
  EXPECT_EQ(
      env->data_json,
      R"({"task_id":"3d_69196fafcc9c8190acccf32e9b560c3f0da8a6d1948cfaa5"})");
}

TEST(ParseSirayEnvelopeTest, IntegerCodeTolerated) {
  absl::StatusOr<SirayEnvelope> env =
      ParseSirayEnvelope(R"({"code":0,"data":{"task_id":"x"}})");
  ASSERT_TRUE(env.ok()) << env.status();
  EXPECT_EQ(env->code, "success");
  env = ParseSirayEnvelope(R"({"code":4001,"message":"bad model"})");
  ASSERT_TRUE(env.ok()) << env.status();
  EXPECT_EQ(env->code, "4001");
  EXPECT_EQ(env->message, "bad model");
  EXPECT_EQ(env->data_json, "null");
  env = ParseSirayEnvelope(R"({"code":"error","message":null,"data":null})");
  ASSERT_TRUE(env.ok()) << env.status();
  EXPECT_EQ(env->code, "error");
  EXPECT_EQ(env->message, "");
  EXPECT_EQ(env->data_json, "null");
}

// ------------------------------------------------------------------ task

TEST(ParseSirayTaskTest, DocsSuccessExample) {
  absl::StatusOr<v1::Task> task =
      ParseSirayTask(Data("task_success_response.json"));
  ASSERT_TRUE(task.ok()) << task.status();
  EXPECT_EQ(task->task_uuid(),
            "3d_69196fafcc9c8190acccf32e9b560c3f0da8a6d1948cfaa5");
  EXPECT_EQ(task->flow_name(), "");
  EXPECT_EQ(task->status(), v1::TASK_STATUS_SUCCESS);
  EXPECT_EQ(task->progress(), 100);
  EXPECT_THAT(task->output().textured_model_url(),
              ElementsAre("https://api.siray.ai/redirect/example-output"));
  EXPECT_EQ(task->created_at().seconds(), 1763274672);
  EXPECT_EQ(task->started_at().seconds(), 1763274702);
  EXPECT_EQ(task->completed_at().seconds(), 1763274838);
  EXPECT_FALSE(task->has_error());
  EXPECT_FALSE(task->has_queue());
}

TEST(ParseSirayTaskTest, InProgressLeavesFinishUnset) {
  absl::StatusOr<v1::Task> task =
      ParseSirayTask(Data("task_in_progress_response.json"));
  ASSERT_TRUE(task.ok()) << task.status();
  EXPECT_EQ(task->status(), v1::TASK_STATUS_RUNNING);
  EXPECT_EQ(task->progress(), 42);
  EXPECT_TRUE(task->has_started_at());
  EXPECT_FALSE(task->has_completed_at());  // finish_time 0
  EXPECT_THAT(task->output().textured_model_url(), IsEmpty());
}

TEST(ParseSirayTaskTest, FailureCarriesTheReason) {
  absl::StatusOr<v1::Task> task =
      ParseSirayTask(Data("task_failure_response.json"));
  ASSERT_TRUE(task.ok()) << task.status();
  EXPECT_EQ(task->status(), v1::TASK_STATUS_FAILED);
  EXPECT_EQ(task->progress(), 30);
  EXPECT_EQ(task->error().code(), 5000);
  EXPECT_EQ(task->error().message(), "image could not be decoded");
  EXPECT_FALSE(task->has_output());  // outputs null
}

TEST(ParseSirayTaskTest, NotStartWithEmptyProgress) {
  absl::StatusOr<v1::Task> task =
      ParseSirayTask(Data("task_not_start_response.json"));
  ASSERT_TRUE(task.ok()) << task.status();
  EXPECT_EQ(task->status(), v1::TASK_STATUS_PENDING);
  EXPECT_EQ(task->progress(), 0);
  EXPECT_TRUE(task->has_created_at());
  EXPECT_FALSE(task->has_started_at());
  EXPECT_FALSE(task->has_completed_at());
}

struct StatusCase {
  std::string status;
  v1::TaskStatus want;
  bool queued;
  int error_code;  // 0: no error
  std::string error_message;
};

void PrintTo(const StatusCase& c, std::ostream* os) {
  *os << "status \"" << c.status << "\"";
}

class SirayStatusTest : public ::testing::TestWithParam<StatusCase> {};

TEST_P(SirayStatusTest, MapsEveryStatus) {
  const StatusCase& c = GetParam();
  absl::StatusOr<v1::Task> task = ParseSirayTask(Task(c.status));
  ASSERT_TRUE(task.ok()) << task.status();
  EXPECT_EQ(task->status(), c.want);
  EXPECT_EQ(task->has_queue(), c.queued);
  if (c.queued) {
    EXPECT_TRUE(task->queue().is_queued());
    EXPECT_FALSE(task->queue().has_position());
  }
  EXPECT_EQ(task->has_error(), c.error_code != 0);
  EXPECT_EQ(task->error().code(), c.error_code);
  EXPECT_EQ(task->error().message(), c.error_message);
  EXPECT_EQ(task->progress(), c.want == v1::TASK_STATUS_SUCCESS ? 100 : 0);
}

using S = StatusCase;
INSTANTIATE_TEST_SUITE_P(
    Table, SirayStatusTest,
    ::testing::Values(S{"NOT_START", v1::TASK_STATUS_PENDING, false, 0, ""},
                      S{"SUBMITTED", v1::TASK_STATUS_PENDING, false, 0, ""},
                      S{"QUEUED", v1::TASK_STATUS_QUEUED, true, 0, ""},
                      S{"IN_PROGRESS", v1::TASK_STATUS_RUNNING, false, 0, ""},
                      S{"SUCCESS", v1::TASK_STATUS_SUCCESS, false, 0, ""},
                      S{"SUCCEEDED", v1::TASK_STATUS_SUCCESS, false, 0, ""},
                      S{"COMPLETED", v1::TASK_STATUS_SUCCESS, false, 0, ""},
                      S{"success", v1::TASK_STATUS_SUCCESS, false, 0, ""},
                      S{"In_Progress", v1::TASK_STATUS_RUNNING, false, 0, ""},
                      S{"FAILURE", v1::TASK_STATUS_FAILED, false, 5000,
                        "the task failed upstream"},
                      S{"FAILED", v1::TASK_STATUS_FAILED, false, 5000,
                        "the task failed upstream"},
                      S{"error", v1::TASK_STATUS_FAILED, false, 5000,
                        "the task failed upstream"},
                      S{"UNKNOWN", v1::TASK_STATUS_UNSPECIFIED, false, 1000,
                        "status unknown upstream (\"UNKNOWN\")"},
                      // Never the SDK's substring test: "" is in every string.
                      S{"", v1::TASK_STATUS_UNSPECIFIED, false, 1000,
                        "status unknown upstream (\"\")"},
                      S{"SUCCESS ", v1::TASK_STATUS_UNSPECIFIED, false, 1000,
                        "status unknown upstream (\"SUCCESS \")"},
                      S{"SUCC", v1::TASK_STATUS_UNSPECIFIED, false, 1000,
                        "status unknown upstream (\"SUCC\")"},
                      S{"PENDING", v1::TASK_STATUS_UNSPECIFIED, false, 1000,
                        "status unknown upstream (\"PENDING\")"}));

TEST(ParseSirayTaskTest, HardProgressStrings) {
  const struct {
    std::string progress;  // the JSON value; "" means absent
    int want;
  } cases[] = {
      {"\"\"", 0},       {"\"abc\"", 0},      {"\" 42 %\"", 42},
      {"\"42.5%\"", 43}, {"\"150%\"", 100},   {"\"-3%\"", 0},
      {"", 0},           {"null", 0},         {"\"42\"", 42},
      {"42", 42},        {"99.4", 99},        {"\"%\"", 0},
      {"\"42%%\"", 0},   {"\"nan%\"", 0},     {"\"inf\"", 0},
      {"\"1e3%\"", 100}, {"true", 0},         {"[42]", 0},
      {"{\"p\":1}", 0},  {"\"\\t7%\\n\"", 7}, {"\"0%\"", 0},
      {"\"100%\"", 100}, {"-1e308", 0},       {"\"4 2%\"", 0},
  };
  for (const auto& c : cases) {
    const std::string members =
        c.progress.empty() ? "" : absl::StrCat("\"progress\":", c.progress);
    absl::StatusOr<v1::Task> task =
        ParseSirayTask(Task("IN_PROGRESS", members));
    ASSERT_TRUE(task.ok()) << c.progress << " " << task.status();
    EXPECT_EQ(task->progress(), c.want) << c.progress;
    // Success is 100 whatever progress says.
    task = ParseSirayTask(Task("SUCCESS", members));
    ASSERT_TRUE(task.ok()) << c.progress << " " << task.status();
    EXPECT_EQ(task->progress(), 100) << c.progress;
  }
}

TEST(ParseSirayTaskTest, Times) {
  const struct {
    const char* value;
    bool set;
    int64_t seconds;
    int32_t nanos;
  } cases[] = {
      {"1763274672", true, 1763274672, 0},
      {"1763274672.25", true, 1763274672, 250000000},
      {"\"1763274672\"", true, 1763274672, 0},
      {"\" 1763274672 \"", true, 1763274672, 0},
      {"0", false, 0, 0},
      {"-5", false, 0, 0},
      {"\"0\"", false, 0, 0},
      {"\"\"", false, 0, 0},
      {"null", false, 0, 0},
  };
  for (const auto& c : cases) {
    absl::StatusOr<v1::Task> task = ParseSirayTask(
        Task("SUCCESS",
             absl::StrCat(R"("submit_time":)", c.value, R"(,"start_time":)",
                          c.value, R"(,"finish_time":)", c.value)));
    ASSERT_TRUE(task.ok()) << c.value << " " << task.status();
    EXPECT_EQ(task->has_created_at(), c.set) << c.value;
    EXPECT_EQ(task->has_started_at(), c.set) << c.value;
    EXPECT_EQ(task->has_completed_at(), c.set) << c.value;
    EXPECT_EQ(task->completed_at().seconds(), c.seconds) << c.value;
    EXPECT_EQ(task->completed_at().nanos(), c.nanos) << c.value;
  }
}

TEST(ParseSirayTaskTest, OutputsSkipNonStrings) {
  absl::StatusOr<v1::Task> task = ParseSirayTask(
      Task("SUCCESS", R"("outputs":["a",1,null,"",{"url":"x"},"b"])"));
  ASSERT_TRUE(task.ok()) << task.status();
  EXPECT_THAT(task->output().textured_model_url(), ElementsAre("a", "b"));
  task = ParseSirayTask(Task("SUCCESS", R"("outputs":"https://one")"));
  ASSERT_TRUE(task.ok()) << task.status();
  EXPECT_THAT(task->output().textured_model_url(), ElementsAre("https://one"));
}

TEST(ParseSirayTaskTest, FailReasonOnlyOnFailure) {
  absl::StatusOr<v1::Task> task =
      ParseSirayTask(Task("SUCCESS", R"("fail_reason":"stale text")"));
  ASSERT_TRUE(task.ok()) << task.status();
  EXPECT_FALSE(task->has_error());
  task = ParseSirayTask(Task("FAILURE", R"("fail_reason":"")"));
  ASSERT_TRUE(task.ok()) << task.status();
  EXPECT_EQ(task->error().message(), "the task failed upstream");
}

TEST(ParseSirayTaskIdTest, RecordedAndBad) {
  absl::StatusOr<std::string> id =
      ParseSirayTaskId(Data("create_task_response.json"));
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(*id, "3d_69196fafcc9c8190acccf32e9b560c3f0da8a6d1948cfaa5");
  EXPECT_THAT(std::string(ParseSirayTaskId("{}").status().message()),
              HasSubstr("upstream siray task creation payload: field "
                        "'task_id' is missing"));
}

// ------------------------------------------------------------------ errors

TEST(ParseSirayErrorBodyTest, OpenAiStyle) {
  SirayError e = ParseSirayErrorBody(ReadData("error_response.json"));
  EXPECT_EQ(e.message, "Invalid model: tripo/unknown");
  EXPECT_EQ(e.type, "invalid_request_error");
  EXPECT_EQ(e.code, "model_not_found");
  e = ParseSirayErrorBody(
      R"({"error":{"message":"slow down","type":"rate_limit","code":429}})");
  EXPECT_EQ(e.code, "429");
  EXPECT_EQ(e.type, "rate_limit");
  e = ParseSirayErrorBody(R"({"error":{"message":"m","code":1.5}})");
  EXPECT_EQ(e.code, "1.5");
  e = ParseSirayErrorBody(R"({"error":"plain words"})");
  EXPECT_EQ(e.message, "plain words");
  EXPECT_EQ(e.code, "");
}

TEST(ParseSirayErrorBodyTest, EnvelopeWithAFailureCode) {
  SirayError e =
      ParseSirayErrorBody(R"({"code":"invalid_param","message":"bad seed"})");
  EXPECT_EQ(e.code, "invalid_param");
  EXPECT_EQ(e.message, "bad seed");
  EXPECT_EQ(e.type, "");
  e = ParseSirayErrorBody(R"({"code":500,"message":"oops","data":null})");
  EXPECT_EQ(e.code, "500");
  EXPECT_EQ(e.message, "oops");
}

TEST(ParseSirayErrorBodyTest, GarbageGivesABoundedPrintableExcerpt) {
  SirayError e =
      ParseSirayErrorBody("<html>\r\n  <body>502 Bad\tGateway</body>\n</html>");
  EXPECT_EQ(e.message, "<html> <body>502 Bad Gateway</body> </html>");
  EXPECT_EQ(e.type, "");
  EXPECT_EQ(e.code, "");
  e = ParseSirayErrorBody(std::string("bad \xff\xfe\0 bytes\x7f", 14));
  EXPECT_EQ(e.message, "bad ??? bytes?");
  e = ParseSirayErrorBody(std::string(10000, 'x'));
  EXPECT_EQ(e.message, absl::StrCat(std::string(200, 'x'), "..."));
  e = ParseSirayErrorBody(Nested(100000));
  EXPECT_LE(e.message.size(), 203u);
  EXPECT_EQ(e.message.substr(0, 3), "[[[");
  e = ParseSirayErrorBody("");
  EXPECT_EQ(e.message, "");
  e = ParseSirayErrorBody("{}");
  EXPECT_EQ(e.message, "{}");
  e = ParseSirayErrorBody(R"({"error":{"message":"\udc00"}})");
  EXPECT_EQ(e.message, R"({"error":{"message":"\udc00"}})");
}

TEST(ParseSirayErrorBodyTest, LongMessagesAreCutOnACharacterBoundary) {
  // "a" then é (2 bytes) * 600: byte 1024 is the middle of an é.
  std::string long_message = "a";
  for (int i = 0; i < 600; ++i) long_message += "\xc3\xa9";
  SirayError e = ParseSirayErrorBody(
      absl::StrCat(R"({"error":{"message":")", long_message, R"("}})"));
  ASSERT_EQ(e.message.size(), 1023u + 3);
  EXPECT_EQ(e.message.substr(1023), "...");
  EXPECT_EQ(e.message.substr(1021, 2), "\xc3\xa9");
}

// ------------------------------------------------------------------ hostile

constexpr ParseFn kEnvelope = [](const std::string& j) {
  return ParseSirayEnvelope(j).status();
};
constexpr ParseFn kTask = [](const std::string& j) {
  return ParseSirayTask(j).status();
};
constexpr ParseFn kTaskId = [](const std::string& j) {
  return ParseSirayTaskId(j).status();
};

std::vector<HostileCase> HostileCases() {
  return {
      {"EnvelopeEmpty", kEnvelope, "", "not valid JSON"},
      {"EnvelopeHtml", kEnvelope, "<html/>", "not valid JSON"},
      {"EnvelopeNull", kEnvelope, "null", "must be an object, got null"},
      {"EnvelopeInvalidUtf8", kEnvelope, "{\"code\":\"\xe2\x82\"}",
       "not valid JSON"},
      {"EnvelopeLoneLowSurrogate", kEnvelope, R"({"code":"\udfff"})",
       "unpaired surrogate"},
      {"EnvelopeDeep", kEnvelope,
       absl::StrCat(R"({"code":"success","data":)", Nested(100000), "}"),
       "nests deeper than 64"},
      {"EnvelopeDepth65", kEnvelope,
       absl::StrCat(R"({"code":"success","data":)", Nested(64), "}"),
       "nests deeper than 64"},
      {"EnvelopeNoCode", kEnvelope, R"({"message":"","data":{}})",
       "upstream siray envelope payload: field 'code' is missing"},
      {"EnvelopeBoolCode", kEnvelope, R"({"code":true})",
       "field 'code' must be a string (or an integer), got a boolean"},
      {"EnvelopeFractionCode", kEnvelope, R"({"code":0.5})",
       "field 'code' must be a string (or an integer), got a number"},
      {"EnvelopeMessageArray", kEnvelope, R"({"code":"success","message":[]})",
       "field 'message' must be a string, got an array"},
      {"TaskArray", kTask, "[]", "must be an object, got an array"},
      {"TaskNoId", kTask, R"({"status":"SUCCESS"})",
       "upstream siray task payload: field 'task_id' is missing"},
      {"TaskEmptyId", kTask, R"({"task_id":"","status":"SUCCESS"})",
       "field 'task_id' is empty"},
      {"TaskObjectId", kTask, R"({"task_id":{},"status":"SUCCESS"})",
       "field 'task_id' must be a string, got an object"},
      {"TaskNoStatus", kTask, R"({"task_id":"3d_1"})",
       "field 'status' is missing"},
      {"TaskNumericStatus", kTask, R"({"task_id":"3d_1","status":1})",
       "field 'status' must be a string, got a number"},
      {"TaskOutputsObject", kTask, Task("SUCCESS", R"("outputs":{})"),
       "field 'outputs' must be an array of URL strings, got an object"},
      {"TaskOutputsNumber", kTask, Task("SUCCESS", R"("outputs":1)"),
       "field 'outputs' must be an array of URL strings, got a number"},
      {"TaskSubmitGarbage", kTask, Task("SUCCESS", R"("submit_time":"soon")"),
       "field 'submit_time' must be a number, got the string \"soon\""},
      {"TaskStartBool", kTask, Task("SUCCESS", R"("start_time":true)"),
       "field 'start_time' must be a number, got a boolean"},
      {"TaskFinishAfter9999", kTask, Task("SUCCESS", R"("finish_time":1e15)"),
       "field 'finish_time' is after year 9999"},
      {"TaskFailReasonNumber", kTask, Task("FAILURE", R"("fail_reason":1)"),
       "field 'fail_reason' must be a string, got a number"},
      {"TaskDeep", kTask, Task("SUCCESS", absl::StrCat(R"("x":)", Nested(80))),
       "nests deeper than 64"},
      {"TaskInvalidUtf8", kTask, "{\"task_id\":\"\xc0\xaf\",\"status\":\"\"}",
       "not valid JSON"},
      {"TaskIdEmpty", kTaskId, R"({"task_id":""})",
       "upstream siray task creation payload: field 'task_id' is empty"},
  };
}

TEST(SirayJsonHostileTest, EveryCaseIsACleanDataLossNamingTheField) {
  testing_util::ExpectCleanDataLoss(HostileCases(), "upstream siray ");
}

TEST(SirayJsonHostileTest, DepthLimitBoundary) {
  EXPECT_TRUE(ParseSirayEnvelope(
                  absl::StrCat(R"({"code":"success","data":)", Nested(63), "}"))
                  .ok());
  EXPECT_TRUE(
      ParseSirayTask(Task("SUCCESS", absl::StrCat(R"("x":)", Nested(63))))
          .ok());
  EXPECT_FALSE(
      ParseSirayTask(Task("SUCCESS", absl::StrCat(R"("x":)", Nested(64))))
          .ok());
}

TEST(SirayJsonHostileTest, EveryPrefixOfARecordedTaskIsHandled) {
  const std::string data = Data("task_success_response.json");
  for (size_t n = 0; n < data.size(); ++n) {
    absl::StatusOr<v1::Task> task = ParseSirayTask(data.substr(0, n));
    EXPECT_EQ(task.status().code(), absl::StatusCode::kDataLoss) << n;
    // The error-body reader never fails on the same garbage.
    SirayError e = ParseSirayErrorBody(data.substr(0, n));
    EXPECT_LE(e.message.size(), 203u);
  }
  EXPECT_TRUE(ParseSirayTask(data).ok());
}

TEST(SirayJsonHostileTest, EveryMemberWithEveryType) {
  const std::vector<std::string> values = testing_util::ValuesOfEveryType();
  const std::vector<std::string> keys = {
      "task_id",     "status",      "progress",    "outputs", "start_time",
      "finish_time", "submit_time", "fail_reason", "action"};
  for (const char* status : {"QUEUED", "IN_PROGRESS", "FAILURE", "SUCCESS"}) {
    for (const std::string& key : keys) {
      for (const std::string& value : values) {
        const std::string json =
            absl::StrCat(R"({"task_id":"u","status":")", status, R"(",")", key,
                         "\":", value, "}");
        absl::StatusOr<v1::Task> task = ParseSirayTask(json);
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
// returns OK or DATA_LOSS, ParseSirayErrorBody always returns bounded text,
// and nothing crashes.
TEST(SirayJsonHostileTest, RandomMutationsNeverCrash) {
  std::vector<std::string> inputs;
  for (const char* name :
       {"task_success_response.json", "task_in_progress_response.json",
        "task_failure_response.json", "task_not_start_response.json",
        "create_task_response.json", "error_response.json"}) {
    inputs.push_back(ReadData(name));
    if (!absl::StrContains(name, "error")) inputs.push_back(Data(name));
  }
  const std::vector<ParseFn> parsers = {kEnvelope, kTask, kTaskId};
  const int ok = testing_util::ParseMutations(
      inputs, parsers, /*seed=*/20261126, testing_util::kMutationAlphabet,
      [](const std::string& json) {
        const SirayError e = ParseSirayErrorBody(json);
        EXPECT_LE(e.message.size(), 1027u);
        EXPECT_LE(e.code.size(), 1027u);
      });
  EXPECT_GT(ok, 0);
}

// ------------------------------------------------------------------ bodies

std::string BodyText(const v1::CreateTaskRequest& request) {
  absl::StatusOr<std::string> body = BuildSirayCreateTaskBody(request);
  EXPECT_TRUE(body.ok()) << body.status();
  return body.ok() ? *body : "";
}

TEST(BuildSirayCreateTaskBodyTest, TextFlows) {
  v1::CreateTaskRequest r;
  r.mutable_text_to_model()->set_prompt("a \"red\" chair");
  r.mutable_text_to_model()->set_turbo(false);
  EXPECT_EQ(BodyText(r),
            R"({"model":"tencent/hunyuan3d-v2.5-rapid-text-to-3d",)"
            R"("prompt":"a \"red\" chair"})");
  v1::CreateTaskRequest m;
  m.mutable_text_to_mesh()->set_prompt("chair");
  EXPECT_EQ(BodyText(m),
            R"({"model":"tencent/hunyuan3d-v2.5-rapid-text-to-3d",)"
            R"("prompt":"chair","texture_enable":false})");
}

TEST(BuildSirayCreateTaskBodyTest, ImageFlows) {
  v1::CreateTaskRequest r;
  r.mutable_image_to_model()->set_image_file("https://x/a.png");
  EXPECT_EQ(BodyText(r), R"({"model":"tripo/tripo3d-v2.5-image-to-3d",)"
                         R"("image":"https://x/a.png"})");
  r.mutable_image_to_model()->set_polygon_limit(10000);
  r.mutable_image_to_model()->set_model_version("tripo/tripo3d-v3-image-to-3d");
  EXPECT_EQ(BodyText(r), R"({"model":"tripo/tripo3d-v3-image-to-3d",)"
                         R"("image":"https://x/a.png","face_limit":10000})");
  v1::CreateTaskRequest m;
  m.mutable_image_to_mesh()->set_image_file("data:image/png;base64,iVBORw0=");
  EXPECT_EQ(
      BodyText(m),
      R"({"model":"tripo/tripo3d-v2.5-image-to-3d",)"
      R"("image":"data:image/png;base64,iVBORw0=","texture_enable":false})");
}

// BadRequestFields lists the fields of the BadRequest of `status`.
std::vector<std::string> BadRequestFields(const absl::Status& status) {
  return testing_util::BadRequestFields(status, "siray provider");
}

TEST(BuildSirayCreateTaskBodyTest, UnsupportedFieldsAreNamed) {
  v1::CreateTaskRequest t;
  auto* p = t.mutable_text_to_model();
  p->set_prompt("p");
  p->set_negative_prompt("n");
  p->set_polygon_limit(1);
  p->set_seed(3);
  p->set_turbo(true);
  p->set_texture_size(1024);
  absl::Status s = BuildSirayCreateTaskBody(t).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(),
            "text_to_model.negative_prompt: is not supported by the siray "
            "provider");
  EXPECT_THAT(BadRequestFields(s),
              ElementsAre("text_to_model.negative_prompt",
                          "text_to_model.polygon_limit", "text_to_model.seed",
                          "text_to_model.turbo", "text_to_model.texture_size"));

  v1::CreateTaskRequest i;
  i.mutable_image_to_model()->set_image_file("0f8e5f34-upload-token");
  i.mutable_image_to_model()->set_texture_size(2048);
  i.mutable_image_to_model()->set_turbo(true);
  i.mutable_image_to_model()->set_model_version("v2.5-20250123");
  EXPECT_THAT(
      BadRequestFields(BuildSirayCreateTaskBody(i).status()),
      ElementsAre("image_to_model.texture_size", "image_to_model.turbo",
                  "image_to_model.model_version", "image_to_model.image_file"));

  v1::CreateTaskRequest e;
  e.mutable_image_to_mesh();  // empty image_file
  EXPECT_THAT(BadRequestFields(BuildSirayCreateTaskBody(e).status()),
              ElementsAre("image_to_mesh.image_file"));
}

TEST(BuildSirayCreateTaskBodyTest, OtherFlowsAreUnimplemented) {
  const struct {
    void (*set)(v1::CreateTaskRequest*);
    const char* flow;
  } cases[] = {
      {[](v1::CreateTaskRequest* r) { r->mutable_texture_model(); },
       "texture-model"},
      {[](v1::CreateTaskRequest* r) { r->mutable_convert_model_format(); },
       "convert-model-format"},
      {[](v1::CreateTaskRequest* r) { r->mutable_text_to_texture(); },
       "text-to-texture"},
      {[](v1::CreateTaskRequest* r) { r->mutable_image_generation(); },
       "image-generation"},
  };
  for (const auto& c : cases) {
    v1::CreateTaskRequest r;
    c.set(&r);
    absl::Status s = BuildSirayCreateTaskBody(r).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kUnimplemented) << c.flow;
    EXPECT_EQ(s.message(),
              absl::StrCat("CreateTask: flow ", c.flow,
                           " is not offered by the siray provider"));
  }
  EXPECT_EQ(BuildSirayCreateTaskBody(v1::CreateTaskRequest()).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace triverse::translate
