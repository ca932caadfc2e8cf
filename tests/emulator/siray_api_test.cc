// The emulator's Siray mode through real HTTP (libcurl) against an
// in-process emulator on 127.0.0.1:0; a FakeClock drives the task state
// machine (upstream-apis.md §3, §6 items 24-27).
#include <cstdint>
#include <map>
#include <memory>
#include <regex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "emulator/emulator.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rapidjson/document.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"
#include "tests/emulator/testing_util/http_client.h"
#include "tests/emulator/testing_util/test_emulator.h"

namespace triverse::emulator {
namespace {

using ::testing::HasSubstr;
using testing_util::Bearer;
using testing_util::HttpGet;
using testing_util::HttpPost;
using testing_util::HttpResponse;
using testing_util::kKeyA;
using testing_util::kKeyB;
using testing_util::TestEmulator;
using testing_util::WebSocketClient;

constexpr char kText[] = "tencent/hunyuan3d-v2.5-rapid-text-to-3d";
constexpr char kImage[] = "tripo/tripo3d-v2.5-image-to-3d";

rapidjson::Document ParseJson(const std::string& body) {
  rapidjson::Document doc;
  doc.Parse(body.c_str(), body.size());
  return doc;
}

std::string ToJson(const rapidjson::Value& v) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  v.Accept(w);
  return std::string(buf.GetString(), buf.GetSize());
}

std::string Str(const rapidjson::Value& v, const char* key) {
  if (!v.IsObject() || !v.HasMember(key) || !v[key].IsString()) {
    ADD_FAILURE() << "no string '" << key << "' in " << ToJson(v);
    return "";
  }
  return v[key].GetString();
}

int64_t Int(const rapidjson::Value& v, const char* key) {
  if (!v.IsObject() || !v.HasMember(key) || !v[key].IsInt64()) {
    ADD_FAILURE() << "no integer '" << key << "' in " << ToJson(v);
    return -999;
  }
  return v[key].GetInt64();
}

// Data checks {"code":"success","message":"","data":{...}} (a string code).
rapidjson::Document Data(const HttpResponse& r) {
  rapidjson::Document out;
  EXPECT_EQ(r.transport_error, "");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_THAT(r.header("content-type"), HasSubstr("application/json"));
  EXPECT_EQ(r.header("x-tripo-trace-id"), "");
  rapidjson::Document doc = ParseJson(r.body);
  if (doc.HasParseError() || !doc.IsObject() || !doc.HasMember("data")) {
    ADD_FAILURE() << "not an envelope: " << r.body;
    return out;
  }
  EXPECT_EQ(doc.MemberCount(), 3u) << r.body;
  EXPECT_EQ(Str(doc, "code"), "success") << r.body;
  EXPECT_EQ(Str(doc, "message"), "") << r.body;
  out.CopyFrom(doc["data"], out.GetAllocator());
  return out;
}

// ExpectError checks an OpenAI-style {"error":{"message","type","code"}}.
// Returns the error's code.
std::string ExpectError(const HttpResponse& r, long status,
                        const std::string& type = "") {
  EXPECT_EQ(r.transport_error, "");
  EXPECT_EQ(r.status, status) << r.body;
  rapidjson::Document doc = ParseJson(r.body);
  if (doc.HasParseError() || !doc.IsObject() || !doc.HasMember("error") ||
      !doc["error"].IsObject()) {
    ADD_FAILURE() << "not an error body: " << r.body;
    return "";
  }
  EXPECT_EQ(doc.MemberCount(), 1u) << r.body;
  const rapidjson::Value& e = doc["error"];
  EXPECT_EQ(e.MemberCount(), 3u) << r.body;
  EXPECT_FALSE(Str(e, "message").empty()) << r.body;
  if (!type.empty()) {
    EXPECT_EQ(Str(e, "type"), type) << r.body;
  }
  return Str(e, "code");
}

bool IsTaskId(const std::string& id) {
  return std::regex_match(id, std::regex("3d_[0-9a-f]{48}"));
}

class SirayApiTest : public ::testing::Test {
 protected:
  static EmulatorOptions Options() {
    return TestEmulator::DefaultOptions(Provider::kSiray);
  }
  void Start(EmulatorOptions options = Options()) {
    emu_ = std::make_unique<TestEmulator>(std::move(options));
    ASSERT_TRUE(emu_->start_status().ok()) << emu_->start_status();
  }
  std::string Api(const std::string& path) const {
    return absl::StrCat(emu_->ProviderBase(), path);
  }
  HttpResponse Post(const std::string& body, const std::string& key = kKeyA) {
    return HttpPost(Api("/v1/3d/generations"), body, {Bearer(key)});
  }
  HttpResponse Get(const std::string& id, const std::string& key = kKeyA) {
    return HttpGet(Api(absl::StrCat("/v1/3d/generations/", id)), {Bearer(key)});
  }
  std::string Create(const std::string& body, const std::string& key = kKeyA) {
    rapidjson::Document d = Data(Post(body, key));
    EXPECT_EQ(d.IsObject() ? d.MemberCount() : 0u, 1u) << ToJson(d);
    const std::string id = Str(d, "task_id");
    EXPECT_TRUE(IsTaskId(id)) << id;
    return id;
  }
  std::string CreateText(const std::string& prompt,
                         const std::string& key = kKeyA) {
    return Create(absl::StrCat(R"({"model":")", kText, R"(","prompt":")",
                               prompt, R"("})"),
                  key);
  }
  rapidjson::Document Task(const std::string& id,
                           const std::string& key = kKeyA) {
    return Data(Get(id, key));
  }
  void SetFaults(const std::string& json) {
    HttpResponse r = HttpPost(emu_->Url("/_emulator/faults"), json);
    ASSERT_EQ(r.status, 200) << r.body;
  }
  void RunToCompletion() {
    emu_->AdvanceBy(absl::Seconds(11) + absl::Milliseconds(100));
  }

  std::unique_ptr<TestEmulator> emu_;
};

TEST_F(SirayApiTest, ProviderBaseIsTheHostRoot) {
  Start();
  EXPECT_EQ(emu_->ProviderBase(), emu_->emulator().base_url());
  EXPECT_EQ(emu_->ProviderWsBase(), "");
}

TEST_F(SirayApiTest, StatusWalkProgressStringsAndTimes) {
  Start();
  const int64_t t0 = absl::ToUnixSeconds(emu_->clock().Now());
  const std::string id = CreateText("a wooden chair");
  rapidjson::Document d = Task(id);
  EXPECT_EQ(Str(d, "task_id"), id);
  EXPECT_EQ(Str(d, "status"), "NOT_START");
  EXPECT_EQ(Str(d, "progress"), "0%");
  EXPECT_EQ(Int(d, "submit_time"), 0);
  EXPECT_EQ(Int(d, "start_time"), 0);
  EXPECT_EQ(Int(d, "finish_time"), 0);
  EXPECT_EQ(Str(d, "fail_reason"), "");
  EXPECT_FALSE(d.HasMember("outputs"));

  emu_->AdvanceBy(absl::Milliseconds(300));
  d = Task(id);
  EXPECT_EQ(Str(d, "status"), "SUBMITTED");
  EXPECT_EQ(Int(d, "submit_time"), t0);
  EXPECT_EQ(Int(d, "start_time"), 0);

  emu_->AdvanceBy(absl::Milliseconds(400));
  d = Task(id);
  EXPECT_EQ(Str(d, "status"), "QUEUED");
  EXPECT_EQ(Str(d, "progress"), "0%");

  emu_->AdvanceBy(absl::Seconds(3) + absl::Milliseconds(400));  // t0 + 4.1 s
  d = Task(id);
  EXPECT_EQ(Str(d, "status"), "IN_PROGRESS");
  EXPECT_EQ(Str(d, "progress"), "30%");
  EXPECT_EQ(Int(d, "start_time"), t0 + 1);
  EXPECT_EQ(Int(d, "finish_time"), 0);
  EXPECT_FALSE(d.HasMember("outputs"));

  RunToCompletion();
  d = Task(id);
  EXPECT_EQ(Str(d, "status"), "SUCCESS");
  EXPECT_EQ(Str(d, "progress"), "100%");
  EXPECT_EQ(Int(d, "finish_time"), t0 + 11);
  EXPECT_EQ(Int(d, "submit_time"), t0);
  EXPECT_EQ(Str(d, "fail_reason"), "");
  ASSERT_TRUE(d.HasMember("outputs") && d["outputs"].IsArray());
  ASSERT_EQ(d["outputs"].Size(), 1u);
  const std::string url = d["outputs"][0].GetString();
  EXPECT_TRUE(absl::StartsWith(
      url, absl::StrCat(emu_->emulator().base_url(), "/redirect/")))
      << url;

  // The redirect answers 302 to the real file; no key needed.
  HttpResponse redirect = HttpGet(url);
  EXPECT_EQ(redirect.status, 302) << redirect.body;
  const std::string location = redirect.header("location");
  ASSERT_FALSE(location.empty());
  HttpResponse file = HttpGet(location);
  EXPECT_EQ(file.status, 200);
  EXPECT_TRUE(absl::StartsWith(file.body, "glTF"));
  // The file URL expires; the redirect keeps giving fresh ones.
  emu_->AdvanceBy(absl::Hours(1) + absl::Seconds(2));
  EXPECT_EQ(HttpGet(location).status, 403);
  HttpResponse again = HttpGet(url);
  EXPECT_EQ(again.status, 302);
  EXPECT_EQ(HttpGet(again.header("location")).status, 200);
}

TEST_F(SirayApiTest, UnsetTimesCanBeMissing) {
  EmulatorOptions o = Options();
  o.siray.omit_unset_times = true;
  Start(o);
  const std::string id = CreateText("a chair");
  rapidjson::Document d = Task(id);
  EXPECT_FALSE(d.HasMember("submit_time"));
  EXPECT_FALSE(d.HasMember("start_time"));
  EXPECT_FALSE(d.HasMember("finish_time"));
  RunToCompletion();
  d = Task(id);
  EXPECT_TRUE(d.HasMember("submit_time"));
  EXPECT_TRUE(d.HasMember("start_time"));
  EXPECT_TRUE(d.HasMember("finish_time"));
}

TEST_F(SirayApiTest, ImageToThreeD) {
  Start();
  const std::string a = Create(
      absl::StrCat(R"({"model":")", kImage,
                   R"(","image":"https://example.com/cat.png","seed":42,)"
                   R"("texture_quality":"HD","face_limit":5000})"));
  const std::string b =
      Create(absl::StrCat(R"({"model":")", kImage,
                          R"(","image":"data:image/png;base64,iVBORw0K"})"));
  EXPECT_NE(a, b);
  RunToCompletion();
  EXPECT_EQ(Str(Task(a), "status"), "SUCCESS");
  EXPECT_EQ(Str(Task(b), "status"), "SUCCESS");
}

TEST_F(SirayApiTest, CreationErrorsAre400WithAnErrorBody) {
  Start();
  EXPECT_EQ(ExpectError(Post("not json"), 400, "invalid_request_error"),
            "invalid_json");
  EXPECT_EQ(ExpectError(Post(R"({"prompt":"a chair"})"), 400),
            "missing_required_parameter");
  EXPECT_EQ(
      ExpectError(Post(R"({"model":"acme/unknown-3d","prompt":"x"})"), 400),
      "model_not_found");
  EXPECT_EQ(
      ExpectError(Post(absl::StrCat(R"({"model":")", kText, R"("})")), 400),
      "missing_required_parameter");
  EXPECT_EQ(
      ExpectError(Post(absl::StrCat(R"({"model":")", kImage, R"("})")), 400),
      "missing_required_parameter");
  EXPECT_EQ(ExpectError(Post(absl::StrCat(R"({"model":")", kImage,
                                          R"(","image":"ftp://x/a.png"})")),
                        400),
            "invalid_parameter");
  EXPECT_EQ(ExpectError(
                Post(absl::StrCat(R"({"model":")", kImage,
                                  R"(","image":"https://x/a.png","seed":-2})")),
                400),
            "invalid_parameter");
  EXPECT_EQ(
      ExpectError(
          Post(absl::StrCat(
              R"({"model":")", kImage,
              R"(","image":"https://x/a.png","texture_quality":"detailed"})")),
          400),
      "invalid_parameter");
  EXPECT_EQ(ExpectError(Post(absl::StrCat(R"({"model":")", kText,
                                          R"(","prompt":"nsfw thing"})")),
                        400),
            "content_policy_violation");
}

TEST_F(SirayApiTest, AuthIsBearerOr401) {
  Start();
  const std::string id = CreateText("a chair");
  EXPECT_EQ(ExpectError(HttpGet(Api(absl::StrCat("/v1/3d/generations/", id))),
                        401, "authentication_error"),
            "invalid_api_key");
  ExpectError(Get(id, "wrong-key"), 401, "authentication_error");
  ExpectError(Post(R"({"model":"x"})", "wrong-key"), 401);
  // The Python SDK's alternative scheme.
  Data(HttpGet(Api(absl::StrCat("/v1/3d/generations/", id)),
               {absl::StrCat("Authorization: API-KEY ", kKeyA)}));
}

TEST_F(SirayApiTest, AnotherKeysOrUnknownTaskIs404) {
  Start();
  const std::string id = CreateText("a chair");
  EXPECT_EQ(ExpectError(Get(id, kKeyB), 404, "not_found_error"),
            "task_not_found");
  ExpectError(Get("3d_0123"), 404);
  ExpectError(Get(absl::StrCat(id.substr(0, id.size() - 1),
                               id.back() == '0' ? "1" : "0")),
              404);
  ExpectError(Get("video_69196fafcc9c8190acccf32e9b560c3f0da8a6d1948cfaa5"),
              404);
  ExpectError(HttpGet(Api("/v1/nothing"), {Bearer(kKeyA)}), 404);
  Task(id);
}

TEST_F(SirayApiTest, FailureWithAReason) {
  Start();
  const std::string id = CreateText("a siray-fail chair");
  RunToCompletion();
  rapidjson::Document d = Task(id);
  EXPECT_EQ(Str(d, "status"), "FAILURE");
  EXPECT_FALSE(Str(d, "fail_reason").empty());
  EXPECT_FALSE(d.HasMember("outputs"));
  EXPECT_GT(Int(d, "finish_time"), 0);
  // The failed task's credits were released (ledger).
  rapidjson::Document ledger =
      ParseJson(HttpGet(emu_->Url("/_emulator/ledger")).body);
  EXPECT_EQ(Int(ledger["accounts"][0], "frozen_credits"), 0);
  EXPECT_EQ(Int(ledger["accounts"][0], "total_credits"), 1000);
  EXPECT_EQ(Str(ledger["tasks"][0], "provider_task_id"), id);
  EXPECT_EQ(Str(ledger["tasks"][0], "flow_name"), kText);
}

TEST_F(SirayApiTest, HardToParseProgressAtARate) {
  Start();
  const std::string id = CreateText("a chair");
  emu_->AdvanceBy(absl::Seconds(5) + absl::Milliseconds(100));
  SetFaults(R"({"siray":{"odd_progress_rate":1}})");
  std::set<std::string> seen;
  for (int i = 0; i < 40; ++i) {
    rapidjson::Document d = Task(id);
    EXPECT_EQ(Str(d, "status"), "IN_PROGRESS");
    seen.insert(d.HasMember("progress") ? Str(d, "progress") : "<missing>");
  }
  EXPECT_EQ(seen,
            (std::set<std::string>{"", "<missing>", "abc", " 40 %", "40.5%"}));
  SetFaults(R"({"siray":{"odd_progress_rate":0}})");
  EXPECT_EQ(Str(Task(id), "progress"), "40%");
}

TEST_F(SirayApiTest, AlternativeStatusSpellingsAtARate) {
  Start();
  const std::string ok = CreateText("a chair");
  const std::string bad = CreateText("a siray-fail chair");
  RunToCompletion();
  SetFaults(R"({"siray":{"alt_status_rate":1}})");
  std::set<std::string> success, failure;
  for (int i = 0; i < 20; ++i) {
    success.insert(Str(Task(ok), "status"));
    failure.insert(Str(Task(bad), "status"));
  }
  EXPECT_EQ(success, (std::set<std::string>{"SUCCEEDED", "COMPLETED"}));
  EXPECT_EQ(failure, (std::set<std::string>{"FAILED", "ERROR"}));
}

TEST_F(SirayApiTest, NoWebSocketAndNoCancel) {
  Start();
  const std::string id = CreateText("a chair");
  long status = 0;
  EXPECT_EQ(WebSocketClient::Connect(
                absl::StrCat("ws://127.0.0.1:", emu_->emulator().port(),
                             "/v1/3d/generations/", id),
                {Bearer(kKeyA)}, &status),
            nullptr);
  EXPECT_EQ(status, 404);
  ExpectError(HttpPost(Api(absl::StrCat("/v1/3d/generations/", id, "/cancel")),
                       "{}", {Bearer(kKeyA)}),
              405);
}

TEST_F(SirayApiTest, RedirectOfUnknownOrUnfinishedOutputIs404) {
  Start();
  const std::string id = CreateText("a chair");
  ExpectError(HttpGet(Api("/redirect/example-output")), 404);
  ExpectError(HttpGet(Api(absl::StrCat("/redirect/", std::string(50, 'a')))),
              404);
}

TEST_F(SirayApiTest, GenericFaultsUseTheSirayErrorShape) {
  Start();
  const std::string id = CreateText("a chair");
  SetFaults(R"({"routes":{"get_task":{"unavailable_rate":1}}})");
  ExpectError(Get(id), 503, "server_error");
  SetFaults(R"({"routes":{"get_task":{"unavailable_rate":0,)"
            R"("internal_error_rate":1}}})");
  ExpectError(Get(id), 500, "server_error");
  SetFaults(R"({"routes":{"get_task":{"internal_error_rate":0,)"
            R"("rate_limit_rate":1,"retry_after_seconds":3}}})");
  HttpResponse r = Get(id);
  EXPECT_EQ(ExpectError(r, 429, "rate_limit_error"), "rate_limit_exceeded");
  EXPECT_EQ(r.header("retry-after"), "3");
  SetFaults(R"({"routes":{"get_task":{"rate_limit_rate":0,)"
            R"("truncate_rate":1}}})");
  EXPECT_NE(Get(id).transport_error, "");
  SetFaults(
      R"({"reset":true,"routes":{"create_task":{"unavailable_rate":1}}})");
  ExpectError(Post(absl::StrCat(R"({"model":")", kText, R"(","prompt":"x"})")),
              503);
  SetFaults(R"({"reset":true,"tasks":{"read_after_write_miss_rate":1}})");
  const std::string fresh = CreateText("a lagging chair");
  ExpectError(Get(fresh), 404);
  emu_->AdvanceBy(absl::Seconds(1));
  Task(fresh);
  rapidjson::Document stats =
      ParseJson(HttpGet(emu_->Url("/_emulator/stats")).body);
  EXPECT_GE(Int(stats["faults_by_kind"], "unavailable"), 2);
  EXPECT_GE(Int(stats["http_requests"], "get_task"), 5);
}

}  // namespace
}  // namespace triverse::emulator
