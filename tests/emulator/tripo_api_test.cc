// The emulator's Tripo V2 mode through real HTTP and WebSocket connections
// (libcurl) to an in-process emulator on 127.0.0.1:0; a FakeClock drives the
// task state machine (upstream-apis.md §2, §5.2, §6 items 15-23).
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <regex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
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
using testing_util::Headers;
using testing_util::HttpGet;
using testing_util::HttpPost;
using testing_util::HttpPostFile;
using testing_util::HttpResponse;
using testing_util::kTripoKeyA;
using testing_util::kTripoKeyB;
using testing_util::TestEmulator;
using testing_util::WebSocketClient;

constexpr char kUuidPattern[] =
    "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}";
constexpr char kPng[] = "\x89PNG\r\n\x1a\n-a-small-image";
constexpr absl::Duration kWait = absl::Seconds(10);

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

bool Matches(const std::string& s, const std::string& pattern) {
  return std::regex_match(s, std::regex(pattern));
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

double Num(const rapidjson::Value& v, const char* key) {
  if (!v.IsObject() || !v.HasMember(key) || !v[key].IsNumber()) {
    ADD_FAILURE() << "no number '" << key << "' in " << ToJson(v);
    return -999;
  }
  return v[key].GetDouble();
}

void ExpectTraceId(const HttpResponse& r) {
  EXPECT_TRUE(Matches(r.header("x-tripo-trace-id"), kUuidPattern))
      << "X-Tripo-Trace-ID: '" << r.header("x-tripo-trace-id") << "'";
}

// Data checks the Tripo envelope: exactly {code: 0, data}, no message.
rapidjson::Document Data(const HttpResponse& r) {
  rapidjson::Document out;
  EXPECT_EQ(r.transport_error, "");
  EXPECT_EQ(r.status, 200) << r.body;
  ExpectTraceId(r);
  rapidjson::Document doc = ParseJson(r.body);
  if (doc.HasParseError() || !doc.IsObject() || !doc.HasMember("data")) {
    ADD_FAILURE() << "not an envelope: " << r.body;
    return out;
  }
  EXPECT_EQ(doc.MemberCount(), 2u) << r.body;
  EXPECT_EQ(Int(doc, "code"), 0) << r.body;
  out.CopyFrom(doc["data"], out.GetAllocator());
  return out;
}

// ExpectError checks {code, message, suggestion}, the status and the trace
// id. Returns the suggestion.
std::string ExpectError(const HttpResponse& r, long status, int code) {
  EXPECT_EQ(r.transport_error, "");
  EXPECT_EQ(r.status, status) << r.body;
  ExpectTraceId(r);
  rapidjson::Document doc = ParseJson(r.body);
  if (doc.HasParseError() || !doc.IsObject()) {
    ADD_FAILURE() << "not a JSON object: " << r.body;
    return "";
  }
  EXPECT_EQ(doc.MemberCount(), 3u) << r.body;
  EXPECT_EQ(Int(doc, "code"), code) << r.body;
  EXPECT_FALSE(Str(doc, "message").empty()) << r.body;
  return Str(doc, "suggestion");
}

class TripoApiTest : public ::testing::Test {
 protected:
  static EmulatorOptions Options() {
    return TestEmulator::DefaultOptions(Provider::kTripo);
  }

  void Start(EmulatorOptions options = Options()) {
    emu_ = std::make_unique<TestEmulator>(std::move(options));
    ASSERT_TRUE(emu_->start_status().ok()) << emu_->start_status();
  }

  std::string Api(const std::string& path) const {
    return absl::StrCat(emu_->ProviderBase(), path);
  }
  HttpResponse Get(const std::string& path,
                   const std::string& key = kTripoKeyA) {
    return HttpGet(Api(path), {Bearer(key)});
  }
  HttpResponse PostTask(const std::string& body,
                        const std::string& key = kTripoKeyA) {
    return HttpPost(Api("/task"), body, {Bearer(key)});
  }
  std::string Create(const std::string& body,
                     const std::string& key = kTripoKeyA) {
    rapidjson::Document d = Data(PostTask(body, key));
    EXPECT_EQ(d.IsObject() ? d.MemberCount() : 0u, 1u) << ToJson(d);
    const std::string id = Str(d, "task_id");
    EXPECT_TRUE(Matches(id, kUuidPattern)) << id;
    return id;
  }
  std::string CreateText(const std::string& prompt,
                         const std::string& key = kTripoKeyA) {
    return Create(
        absl::StrCat(R"({"type":"text_to_model","prompt":")", prompt, R"("})"),
        key);
  }
  rapidjson::Document Task(const std::string& id,
                           const std::string& key = kTripoKeyA) {
    return Data(Get(absl::StrCat("/task/", id), key));
  }
  std::string StatusOf(const std::string& id) {
    rapidjson::Document d = Task(id);
    return d.IsObject() && d.HasMember("status") ? Str(d, "status") : "";
  }
  HttpResponse Upload(const std::string& data, const std::string& type,
                      const std::string& path = "/upload",
                      const std::string& key = kTripoKeyA) {
    return HttpPostFile(Api(path), "file", "input.png", type, data,
                        {Bearer(key)});
  }
  void SetFaults(const std::string& json) {
    HttpResponse r = HttpPost(emu_->Url("/_emulator/faults"), json);
    ASSERT_EQ(r.status, 200) << r.body;
  }
  // A task's whole life: 0.5 s pending, 0.5 s queued, 10 s running.
  void RunToCompletion() { emu_->AdvanceBy(absl::Seconds(11) + kSlack); }

  std::string Ws(const std::string& path) const {
    return absl::StrCat(emu_->ProviderWsBase(), path);
  }

  static constexpr absl::Duration kSlack = absl::Milliseconds(100);
  std::unique_ptr<TestEmulator> emu_;
};

// The fields the official SDK requires (Task.from_dict), plus the documented
// ones.
void ExpectTaskShape(const rapidjson::Value& d) {
  for (const char* key :
       {"task_id", "type", "status", "input", "output", "progress",
        "create_time", "consumed_credit", "queuing_num", "running_left_time"}) {
    EXPECT_TRUE(d.IsObject() && d.HasMember(key))
        << "missing " << key << " in " << ToJson(d);
  }
  EXPECT_TRUE(d["input"].IsObject());
  EXPECT_TRUE(d["output"].IsObject());
}

// --------------------------------------------------- envelope, trace id

TEST_F(TripoApiTest, ProviderBaseAndKeys) {
  Start();
  EXPECT_EQ(emu_->ProviderBase(),
            absl::StrCat(emu_->emulator().base_url(), "/v2/openapi"));
  EXPECT_TRUE(absl::StartsWith(kTripoKeyA, "tsk_"));
  EXPECT_TRUE(absl::StartsWith(kTripoKeyB, "tsk_"));
}

TEST_F(TripoApiTest, TraceIdOnEveryResponse) {
  Start();
  std::set<std::string> ids;
  HttpResponse ok = Get("/user/balance");
  Data(ok);
  ids.insert(ok.header("x-tripo-trace-id"));
  HttpResponse unauthorized = HttpGet(Api("/user/balance"));
  ExpectError(unauthorized, 401, 1002);
  ids.insert(unauthorized.header("x-tripo-trace-id"));
  HttpResponse no_route = Get("/nothing");
  ExpectError(no_route, 404, 9404);
  ids.insert(no_route.header("x-tripo-trace-id"));
  HttpResponse bad_body = PostTask("not json");
  ExpectError(bad_body, 400, 1003);
  ids.insert(bad_body.header("x-tripo-trace-id"));
  SetFaults(R"({"routes":{"get_task":{"unavailable_rate":1}}})");
  HttpResponse fault = Get("/task/916ef2cf-0b1d-4b5e-9d6c-2f0e2a1c7d11");
  ExpectError(fault, 503, 1000);
  ids.insert(fault.header("x-tripo-trace-id"));
  EXPECT_EQ(ids.size(), 5u) << "trace ids must differ";

  // The WebSocket refusal and the upgrade response too.
  long status = 0;
  std::map<std::string, std::string> headers;
  EXPECT_EQ(
      WebSocketClient::Connect(Ws("/task/watch/all"), {}, &status, &headers),
      nullptr);
  EXPECT_EQ(status, 426);
  EXPECT_TRUE(Matches(headers["x-tripo-trace-id"], kUuidPattern));
  auto ws = WebSocketClient::Connect(Ws("/task/watch/all"),
                                     {Bearer(kTripoKeyA)}, &status, &headers);
  ASSERT_NE(ws, nullptr) << status;
  EXPECT_TRUE(Matches(headers["x-tripo-trace-id"], kUuidPattern));
}

// ------------------------------------------------------------ key check

TEST_F(TripoApiTest, BadKeysAre401With1002) {
  EmulatorOptions o = Options();
  o.engine.keys.push_back({"plain-key", 1000, "", ""});  // no tsk_ prefix
  Start(o);
  ExpectError(HttpGet(Api("/user/balance")), 401, 1002);
  ExpectError(Get("/user/balance", "tsk_unknown"), 401, 1002);
  ExpectError(Get("/user/balance", "plain-key"), 401, 1002);
  ExpectError(HttpGet(Api("/user/balance"), {"Authorization: tsk_test-key-a"}),
              401, 1002);
  ExpectError(
      PostTask(R"({"type":"text_to_model","prompt":"a cat"})", "tsk_unknown"),
      401, 1002);
}

TEST_F(TripoApiTest, AnotherKeysTaskIs404With2001) {
  Start();
  const std::string id = CreateText("a shared chair");
  ExpectError(Get(absl::StrCat("/task/", id), kTripoKeyB), 404, 2001);
  ExpectError(Get("/task/916ef2cf-0b1d-4b5e-9d6c-2f0e2a1c7d11"), 404, 2001);
  ExpectError(Get("/task/not-a-uuid!"), 404, 2001);
  Task(id);  // its own key sees it
}

// ------------------------------------------------------------- lifecycle

TEST_F(TripoApiTest, LifecycleQueuedRunningSuccess) {
  Start();
  const absl::Time t0 = emu_->clock().Now();
  const std::string id = CreateText("a red chair");
  rapidjson::Document d = Task(id);
  ExpectTaskShape(d);
  EXPECT_EQ(Str(d, "task_id"), id);
  EXPECT_EQ(Str(d, "type"), "text_to_model");
  EXPECT_EQ(Str(d, "status"), "queued");
  EXPECT_EQ(Int(d, "progress"), 0);
  EXPECT_GE(Int(d, "queuing_num"), 0);
  EXPECT_EQ(Int(d, "running_left_time"), -1);
  EXPECT_EQ(Int(d, "create_time"), absl::ToUnixSeconds(t0));
  EXPECT_EQ(Int(d, "consumed_credit"), 0);
  EXPECT_EQ(Str(d["input"], "prompt"), "a red chair");
  EXPECT_EQ(Str(d["input"], "model_version"), "v2.5-20250123");
  EXPECT_EQ(d["output"].MemberCount(), 0u);
  EXPECT_FALSE(d.HasMember("error_code"));
  EXPECT_FALSE(d.HasMember("result"));

  emu_->AdvanceBy(absl::Milliseconds(700));  // past pending: still queued
  EXPECT_EQ(StatusOf(id), "queued");

  emu_->AdvanceBy(absl::Seconds(1));  // running since t0 + 1 s
  d = Task(id);
  EXPECT_EQ(Str(d, "status"), "running");
  EXPECT_GE(Int(d, "progress"), 1);
  EXPECT_LE(Int(d, "progress"), 99);
  EXPECT_EQ(Int(d, "queuing_num"), -1);
  const int64_t left = Int(d, "running_left_time");
  EXPECT_GT(left, 0);
  EXPECT_LE(left, 10);
  emu_->AdvanceBy(absl::Seconds(4));
  d = Task(id);
  EXPECT_EQ(Str(d, "status"), "running");
  EXPECT_LT(Int(d, "running_left_time"), left);
  EXPECT_GT(Int(d, "progress"), 1);

  RunToCompletion();
  d = Task(id);
  ExpectTaskShape(d);
  EXPECT_EQ(Str(d, "status"), "success");
  EXPECT_EQ(Int(d, "progress"), 100);
  EXPECT_EQ(Int(d, "running_left_time"), -1);
  EXPECT_EQ(Int(d, "queuing_num"), -1);
  EXPECT_EQ(Int(d, "consumed_credit"), 20);
  for (const char* field :
       {"model", "pbr_model", "base_model", "rendered_image"}) {
    const std::string url = Str(d["output"], field);
    EXPECT_TRUE(absl::StartsWith(url, emu_->emulator().base_url())) << url;
    HttpResponse asset = HttpGet(url);
    EXPECT_EQ(asset.status, 200) << field << " " << asset.body;
    EXPECT_FALSE(asset.body.empty());
  }
  EXPECT_TRUE(
      absl::StartsWith(HttpGet(Str(d["output"], "model")).body, "glTF"));
}

TEST_F(TripoApiTest, CreditsFreezeAndBalance) {
  Start();
  rapidjson::Document b = Data(Get("/user/balance"));
  EXPECT_EQ(Num(b, "balance"), 1000);
  EXPECT_EQ(Num(b, "frozen"), 0);
  const std::string ok = CreateText("a paid chair");
  const std::string failed = CreateText("a tripo-fail chair");
  b = Data(Get("/user/balance"));
  EXPECT_EQ(Num(b, "balance"), 960);
  EXPECT_EQ(Num(b, "frozen"), 40);
  RunToCompletion();
  b = Data(Get("/user/balance"));
  EXPECT_EQ(Num(b, "balance"), 980);
  EXPECT_EQ(Num(b, "frozen"), 0);

  HttpResponse ledger = HttpGet(emu_->Url("/_emulator/ledger"));
  ASSERT_EQ(ledger.status, 200);
  rapidjson::Document l = ParseJson(ledger.body);
  ASSERT_EQ(l["tasks"].Size(), 2u) << ledger.body;
  EXPECT_EQ(Str(l["tasks"][0], "provider_task_id"), ok);
  EXPECT_EQ(Str(l["tasks"][0], "flow_name"), "text_to_model");
  EXPECT_EQ(Str(l["tasks"][1], "status"), "FAILED");
  EXPECT_EQ(Num(l["accounts"][0], "total_credits"), 980);
  rapidjson::Document stats =
      ParseJson(HttpGet(emu_->Url("/_emulator/stats")).body);
  EXPECT_EQ(Int(stats, "tasks_created"), 2);
  EXPECT_GE(Int(stats["http_requests"], "create_task"), 2);
}

TEST_F(TripoApiTest, FailedTask) {
  Start();
  const std::string id = CreateText("a tripo-fail chair");
  RunToCompletion();
  rapidjson::Document d = Task(id);
  ExpectTaskShape(d);
  EXPECT_EQ(Str(d, "status"), "failed");
  EXPECT_EQ(Int(d, "progress"), 100);
  EXPECT_EQ(Int(d, "error_code"), 1001);
  EXPECT_EQ(d["output"].MemberCount(), 0u);
  EXPECT_EQ(Int(d, "consumed_credit"), 0);
  EXPECT_EQ(Int(d, "running_left_time"), -1);
}

TEST_F(TripoApiTest, BannedExpiredCancelledReachableByKeyword) {
  Start();
  const std::string banned = CreateText("tripo-banned statue");
  const std::string expired = CreateText("tripo-expired statue");
  const std::string cancelled = CreateText("tripo-cancelled statue");
  RunToCompletion();
  for (const auto& [id, status] :
       std::vector<std::pair<std::string, std::string>>{
           {banned, "banned"},
           {expired, "expired"},
           {cancelled, "cancelled"}}) {
    rapidjson::Document d = Task(id);
    ExpectTaskShape(d);
    EXPECT_EQ(Str(d, "status"), status);
    EXPECT_EQ(Int(d, "consumed_credit"), 0);
    EXPECT_EQ(Int(d, "running_left_time"), -1);
    EXPECT_EQ(d["output"].MemberCount(), 0u);
  }
  rapidjson::Document b = Data(Get("/user/balance"));
  EXPECT_EQ(Num(b, "balance"), 1000);  // every freeze released
  EXPECT_EQ(Num(b, "frozen"), 0);
}

TEST_F(TripoApiTest, BannedExpiredUnknownReachableByRates) {
  Start();
  SetFaults(R"({"tripo":{"banned_rate":1}})");
  const std::string banned = CreateText("a chair");
  SetFaults(R"({"tripo":{"banned_rate":0,"expired_rate":1}})");
  const std::string expired = CreateText("a chair");
  SetFaults(R"({"tripo":{"expired_rate":0,"unknown_rate":1}})");
  const std::string unknown = CreateText("a chair");
  SetFaults(R"({"tripo":{"unknown_rate":0},"tasks":{"cancel_rate":1}})");
  const std::string cancelled = CreateText("a chair");
  RunToCompletion();
  EXPECT_EQ(StatusOf(banned), "banned");
  EXPECT_EQ(StatusOf(expired), "expired");
  EXPECT_EQ(StatusOf(unknown), "unknown");
  EXPECT_EQ(StatusOf(cancelled), "cancelled");
}

TEST_F(TripoApiTest, UnknownResolvesToSuccess) {
  Start();
  const std::string id = CreateText("a tripo-unknown vase");
  RunToCompletion();
  rapidjson::Document d = Task(id);
  ExpectTaskShape(d);
  EXPECT_EQ(Str(d, "status"), "unknown");
  EXPECT_EQ(Int(d, "consumed_credit"), 0);
  emu_->AdvanceBy(absl::Seconds(4));  // the default is 5 s
  EXPECT_EQ(StatusOf(id), "unknown");
  emu_->AdvanceBy(absl::Seconds(1) + kSlack);
  d = Task(id);
  EXPECT_EQ(Str(d, "status"), "success");
  EXPECT_EQ(Int(d, "consumed_credit"), 20);
  EXPECT_TRUE(d["output"].HasMember("model"));
}

TEST_F(TripoApiTest, UnknownForever) {
  EmulatorOptions o = Options();
  o.engine.unknown_duration = absl::InfiniteDuration();
  Start(o);
  const std::string id = CreateText("a tripo-unknown vase");
  RunToCompletion();
  emu_->AdvanceBy(absl::Hours(2));
  EXPECT_EQ(StatusOf(id), "unknown");
  EXPECT_EQ(Num(Data(Get("/user/balance")), "frozen"), 20);
}

TEST_F(TripoApiTest, UndocumentedExtrasAtARate) {
  Start();
  const std::string id = CreateText("an extra chair");
  SetFaults(R"({"tripo":{"extras_rate":1}})");
  rapidjson::Document d = Task(id);
  ExpectTaskShape(d);
  EXPECT_EQ(Str(d, "prompt"), "an extra chair");
  ASSERT_TRUE(d.HasMember("result"));
  EXPECT_TRUE(d["result"].IsObject());
  EXPECT_EQ(d["result"].MemberCount(), 0u);
  SetFaults(R"({"tripo":{"extras_rate":0}})");
  EXPECT_FALSE(Task(id).HasMember("result"));
}

// ---------------------------------------------------------- output URLs

TEST_F(TripoApiTest, OutputUrlsExpireAndEachGetGivesFreshOnes) {
  Start();
  const std::string id = CreateText("a short-lived chair");
  RunToCompletion();
  const std::string first = Str(Task(id)["output"], "model");
  const std::string second = Str(Task(id)["output"], "model");
  EXPECT_NE(first, second);
  EXPECT_EQ(HttpGet(first).status, 200);
  EXPECT_EQ(HttpGet(second).status, 200);
  emu_->AdvanceBy(absl::Seconds(299));
  EXPECT_EQ(HttpGet(first).status, 200);
  emu_->AdvanceBy(absl::Seconds(2));  // past the 300 s default
  HttpResponse expired = HttpGet(first);
  EXPECT_EQ(expired.status, 403);
  EXPECT_EQ(HttpGet(second).status, 403);
  const std::string fresh = Str(Task(id)["output"], "model");
  EXPECT_EQ(HttpGet(fresh).status, 200);
  // A tampered signature is refused as well.
  EXPECT_EQ(HttpGet(absl::StrCat(fresh, "0")).status, 403);
}

TEST_F(TripoApiTest, UrlTtlIsConfigurable) {
  EmulatorOptions o = Options();
  o.tripo.url_ttl = absl::Seconds(30);
  Start(o);
  const std::string id = CreateText("a chair");
  RunToCompletion();
  const std::string url = Str(Task(id)["output"], "rendered_image");
  emu_->AdvanceBy(absl::Seconds(31));
  EXPECT_EQ(HttpGet(url).status, 403);
}

// --------------------------------------------------------------- uploads

TEST_F(TripoApiTest, UploadGivesAnImageTokenForImageToModel) {
  Start();
  for (const char* path : {"/upload", "/upload/sts"}) {
    rapidjson::Document d = Data(Upload(kPng, "image/png", path));
    ASSERT_TRUE(d.IsObject());
    EXPECT_EQ(d.MemberCount(), 1u);
    const std::string token = Str(d, "image_token");
    EXPECT_TRUE(Matches(token, kUuidPattern)) << token;
    const std::string id = Create(absl::StrCat(
        R"({"type":"image_to_model","file":{"type":"png","file_token":")",
        token, R"("}})"));
    EXPECT_EQ(Str(Task(id)["input"]["file"], "file_token"), token);
    // Another key cannot use the token.
    ExpectError(PostTask(absl::StrCat(R"({"type":"image_to_model","file":)"
                                      R"({"type":"png","file_token":")",
                                      token, R"("}})"),
                         kTripoKeyB),
                404, 2019);
  }
  // Undeclared types are sniffed.
  Data(Upload("\xff\xd8\xff\xe0jpeg-bytes", ""));
}

TEST_F(TripoApiTest, UnknownFileTokenIs404With2019) {
  Start();
  ExpectError(
      PostTask(R"({"type":"image_to_model","file":{"type":"png",)"
               R"("file_token":"916ef2cf-0b1d-4b5e-9d6c-2f0e2a1c7d11"}})"),
      404, 2019);
  // A URL input needs no upload.
  Create(R"({"type":"image_to_model",)"
         R"("file":{"type":"jpg","url":"https://example.com/a.jpg"}})");
}

TEST_F(TripoApiTest, UploadErrors) {
  EmulatorOptions o = Options();
  o.tripo.max_upload_bytes = 1024;
  Start(o);
  ExpectError(Upload("GIF89a-bytes", "image/gif"), 400, 2004);
  ExpectError(Upload("plain text", "text/plain"), 400, 2004);
  ExpectError(Upload("", "image/png"), 400, 2003);
  ExpectError(Upload(std::string(4096, 'x'), "image/png"), 400, 1004);
  // Far above the limit: refused from Content-Length before the body.
  ExpectError(Upload(std::string(2 * 1024 * 1024, 'x'), "image/png"), 400,
              1004);
  HttpResponse no_file = HttpPostFile(Api("/upload"), "image", "a.png",
                                      "image/png", kPng, {Bearer(kTripoKeyA)});
  ExpectError(no_file, 400, 1004);
  ExpectError(HttpPostFile(Api("/upload"), "file", "a.png", "image/png", kPng),
              401, 1002);
}

TEST_F(TripoApiTest, UploadsAreLimitedPerSecond) {
  Start();
  for (int i = 0; i < 10; ++i) Data(Upload(kPng, "image/png"));
  HttpResponse r = Upload(kPng, "image/png");
  ExpectError(r, 429, 2000);
  EXPECT_FALSE(r.header("retry-after").empty());
  emu_->AdvanceBy(absl::Seconds(1));
  Data(Upload(kPng, "image/png"));
}

// ------------------------------------------------------------ validation

TEST_F(TripoApiTest, CreationValidation) {
  Start();
  ExpectError(PostTask("{"), 400, 1003);
  ExpectError(PostTask(R"({"prompt":"no type"})"), 400, 1004);
  ExpectError(PostTask(R"({"type":"sculpt_model"})"), 400, 2002);
  ExpectError(PostTask(R"({"type":"text_to_model"})"), 400, 1004);
  ExpectError(PostTask(R"({"type":"text_to_model","prompt":""})"), 400, 1004);
  ExpectError(PostTask(R"({"type":"text_to_model","prompt":"a",)"
                       R"("model_version":"v9"})"),
              400, 2017);
  ExpectError(PostTask(R"({"type":"image_to_model"})"), 400, 1004);
  ExpectError(PostTask(R"({"type":"image_to_model","file":{"type":"png",)"
                       R"("url":"https://x/a.png","file_token":"t"}})"),
              400, 1004);
  ExpectError(PostTask(R"({"type":"image_to_model","file":{"type":"gif",)"
                       R"("url":"https://x/a.gif"}})"),
              400, 2004);
  ExpectError(PostTask(R"({"type":"text_to_model","prompt":"a nsfw thing"})"),
              400, 2008);
  ExpectError(PostTask(R"({"type":"texture_model"})"), 400, 1004);
  ExpectError(PostTask(R"({"type":"convert_model",)"
                       R"("original_model_task_id":"x","format":"DOC"})"),
              400, 1004);
}

TEST_F(TripoApiTest, ChainedTasksNeedASuccessfulTaskOfTheSameKey) {
  Start();
  const std::string origin = CreateText("a base chair");
  const std::string failed = CreateText("a tripo-fail chair");
  const std::string other = CreateText("their chair", kTripoKeyB);
  auto texture = [&](const std::string& id) {
    return PostTask(absl::StrCat(
        R"({"type":"texture_model","original_model_task_id":")", id, R"("})"));
  };
  ExpectError(texture(origin), 400, 2007);  // not finished yet
  RunToCompletion();
  ExpectError(texture(failed), 400, 2007);
  ExpectError(texture(other), 400, 2007);
  ExpectError(texture("916ef2cf-0b1d-4b5e-9d6c-2f0e2a1c7d11"), 400, 2007);
  const std::string textured = Create(
      absl::StrCat(R"({"type":"texture_model","original_model_task_id":")",
                   origin, R"("})"));
  const std::string converted = Create(absl::StrCat(
      R"({"type":"convert_model","format":"OBJ","original_model_task_id":")",
      origin, R"("})"));
  RunToCompletion();
  EXPECT_EQ(StatusOf(textured), "success");
  rapidjson::Document c = Task(converted);
  EXPECT_EQ(Str(c, "status"), "success");
  EXPECT_EQ(Int(c, "consumed_credit"), 5);
  HttpResponse obj = HttpGet(Str(c["output"], "model"));
  EXPECT_EQ(obj.status, 200);
  EXPECT_THAT(obj.body, HasSubstr("v "));
  // A conversion is not a model a texture can start from.
  ExpectError(texture(converted), 400, 2006);
  // refine_model names its origin draft_model_task_id: 2005.
  const std::string running = CreateText("a draft");
  ExpectError(
      PostTask(absl::StrCat(R"({"type":"refine_model","draft_model_task_id":")",
                            running, R"("})")),
      400, 2005);
}

// --------------------------------------------------------- rate limits

TEST_F(TripoApiTest, ConcurrencyCapByGroupIs429With2000AndRetryAfter) {
  EmulatorOptions o = Options();
  o.tripo.model_concurrency = 2;
  Start(o);
  CreateText("one");
  CreateText("two");
  HttpResponse r = PostTask(R"({"type":"text_to_model","prompt":"three"})");
  ExpectError(r, 429, 2000);
  EXPECT_FALSE(r.header("retry-after").empty());
  // Another group and another key are separate buckets.
  Create(
      R"({"type":"text_to_model","prompt":"p1","model_version":"P1-20260311"})");
  CreateText("theirs", kTripoKeyB);
  Create(R"({"type":"generate_multiview_image",)"
         R"("file":{"type":"png","url":"https://x/a.png"}})");
  ExpectError(PostTask(R"({"type":"generate_multiview_image",)"
                       R"("file":{"type":"png","url":"https://x/b.png"}})"),
              429, 2000);
  RunToCompletion();
  CreateText("three, later");
}

TEST_F(TripoApiTest, P1CapIsFive) {
  Start();
  const std::string body =
      R"({"type":"image_to_model","model_version":"P1-20260311",)"
      R"("file":{"type":"png","url":"https://x/a.png"}})";
  for (int i = 0; i < 5; ++i) Create(body);
  ExpectError(PostTask(body), 429, 2000);
}

TEST_F(TripoApiTest, PerMinuteQuotaIs429With1007) {
  EmulatorOptions o = Options();
  o.tripo.creations_per_minute = 3;
  Start(o);
  for (int i = 0; i < 3; ++i) CreateText(absl::StrCat("chair ", i));
  HttpResponse r = PostTask(R"({"type":"text_to_model","prompt":"four"})");
  ExpectError(r, 429, 1007);
  EXPECT_EQ(r.header("retry-after"), "60");
  emu_->AdvanceBy(absl::Seconds(60));
  CreateText("four, later");
}

// ---------------------------------------------------------- generic faults

TEST_F(TripoApiTest, GenericFaultsUseTheTripoErrorShape) {
  Start();
  const std::string id = CreateText("a faulty chair");
  SetFaults(R"({"routes":{"get_task":{"internal_error_rate":1}}})");
  ExpectError(Get(absl::StrCat("/task/", id)), 500, 1001);
  SetFaults(R"({"routes":{"get_task":{"internal_error_rate":0,)"
            R"("rate_limit_rate":1,"retry_after_seconds":7}}})");
  HttpResponse r = Get(absl::StrCat("/task/", id));
  ExpectError(r, 429, 2000);
  EXPECT_EQ(r.header("retry-after"), "7");
  SetFaults(R"({"routes":{"get_task":{"rate_limit_rate":0,)"
            R"("truncate_rate":1}}})");
  EXPECT_NE(Get(absl::StrCat("/task/", id)).transport_error, "");
  SetFaults(R"({"routes":{"get_task":{"truncate_rate":0,"hang_rate":1}}})");
  EXPECT_NE(HttpGet(Api(absl::StrCat("/task/", id)), {Bearer(kTripoKeyA)},
                    absl::Milliseconds(300))
                .transport_error,
            "");
  SetFaults(R"({"reset":true,"tasks":{"read_after_write_miss_rate":1}})");
  const std::string fresh = CreateText("a lagging chair");
  ExpectError(Get(absl::StrCat("/task/", fresh)), 404, 2001);
  emu_->AdvanceBy(absl::Seconds(1));  // past the read-after-write window
  Task(fresh);
}

// -------------------------------------------------------------- WebSocket

struct TripoFrame {
  std::string event;
  rapidjson::Document data;
  std::string status() const {
    return data.IsObject() && data.HasMember("status") &&
                   data["status"].IsString()
               ? data["status"].GetString()
               : "";
  }
  std::string id() const {
    return data.IsObject() && data.HasMember("task_id") &&
                   data["task_id"].IsString()
               ? data["task_id"].GetString()
               : "";
  }
};

// ParseFrame checks {"event": "update"|"finalized", "data": {...}}.
TripoFrame ParseFrame(const std::string& message) {
  TripoFrame f;
  rapidjson::Document doc = ParseJson(message);
  if (doc.HasParseError() || !doc.IsObject() || !doc.HasMember("event") ||
      !doc["event"].IsString() || !doc.HasMember("data") ||
      !doc["data"].IsObject() || doc.MemberCount() != 2) {
    ADD_FAILURE() << "not a Tripo frame: " << message;
    return f;
  }
  f.event = doc["event"].GetString();
  EXPECT_TRUE(f.event == "update" || f.event == "finalized") << message;
  f.data.CopyFrom(doc["data"], f.data.GetAllocator());
  ExpectTaskShape(f.data);
  return f;
}

TEST_F(TripoApiTest, WebSocketNeedsTheAuthorizationHeader) {
  Start();
  const std::string id = CreateText("a watched chair");
  long status = 0;
  EXPECT_EQ(
      WebSocketClient::Connect(Ws(absl::StrCat("/task/watch/", id)), &status),
      nullptr);
  EXPECT_EQ(status, 426);
  // A query token is not accepted either.
  EXPECT_EQ(
      WebSocketClient::Connect(
          Ws(absl::StrCat("/task/watch/", id, "?token=", kTripoKeyA)), &status),
      nullptr);
  EXPECT_EQ(status, 426);
  EXPECT_EQ(WebSocketClient::Connect(Ws("/task/watch/all"),
                                     {Bearer("tsk_wrong")}, &status),
            nullptr);
  EXPECT_EQ(status, 401);
  EXPECT_EQ(WebSocketClient::Connect(Ws(absl::StrCat("/task/watch/", id)),
                                     {Bearer(kTripoKeyB)}, &status),
            nullptr);
  EXPECT_EQ(status, 404);
  EXPECT_EQ(WebSocketClient::Connect(Ws("/task/watch/all/yesterday"),
                                     {Bearer(kTripoKeyA)}, &status),
            nullptr);
  EXPECT_EQ(status, 400);
  // A plain GET of the WebSocket path.
  HttpResponse plain = Get(absl::StrCat("/task/watch/", id));
  EXPECT_EQ(plain.status, 426);
  ExpectTraceId(plain);
}

TEST_F(TripoApiTest, WebSocketMissingAuthStatusIsConfigurable) {
  EmulatorOptions o = Options();
  o.tripo.ws_missing_auth_status = 401;
  Start(o);
  long status = 0;
  EXPECT_EQ(WebSocketClient::Connect(Ws("/task/watch/all"), &status), nullptr);
  EXPECT_EQ(status, 401);
}

TEST_F(TripoApiTest, WatchOneTaskToFinalized) {
  Start();
  const std::string id = CreateText("a watched chair");
  long status = 0;
  auto ws = WebSocketClient::Connect(Ws(absl::StrCat("/task/watch/", id)),
                                     {Bearer(kTripoKeyA)}, &status);
  ASSERT_NE(ws, nullptr) << status;
  auto first = ws->Next(kWait);
  ASSERT_TRUE(first.has_value());
  TripoFrame f = ParseFrame(*first);
  EXPECT_EQ(f.event, "update");
  EXPECT_EQ(f.id(), id);
  EXPECT_EQ(f.status(), "queued");
  RunToCompletion();
  std::vector<std::string> statuses;
  std::string last_event;
  for (;;) {
    auto m = ws->Next(kWait);
    if (!m) break;
    TripoFrame g = ParseFrame(*m);
    statuses.push_back(g.status());
    last_event = g.event;
    if (g.event == "finalized") {
      EXPECT_EQ(g.status(), "success");
      EXPECT_TRUE(g.data["output"].HasMember("model"));
    }
  }
  ASSERT_FALSE(statuses.empty());
  EXPECT_EQ(statuses.back(), "success");
  EXPECT_EQ(last_event, "finalized");
  EXPECT_NE(std::find(statuses.begin(), statuses.end(), "running"),
            statuses.end());
  EXPECT_EQ(ws->state(), WebSocketClient::State::kClosed);
  EXPECT_EQ(ws->close_code(), 1000);
}

TEST_F(TripoApiTest, WatchKeepsTheSocketOpenAfterFinalizedOnRequest) {
  Start();
  SetFaults(R"({"websocket":{"finalized_without_close":true}})");
  const std::string id = CreateText("a chair");
  RunToCompletion();
  long status = 0;
  auto ws = WebSocketClient::Connect(Ws(absl::StrCat("/task/watch/", id)),
                                     {Bearer(kTripoKeyA)}, &status);
  ASSERT_NE(ws, nullptr) << status;
  auto m = ws->Next(kWait);
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(ParseFrame(*m).event, "finalized");
  EXPECT_FALSE(ws->Next(absl::Milliseconds(300)).has_value());
  EXPECT_EQ(ws->state(), WebSocketClient::State::kOpen);
}

TEST_F(TripoApiTest, UnknownIsFinalizedThenResolvesOnTheSocket) {
  Start();
  const std::string id = CreateText("a tripo-unknown chair");
  long status = 0;
  auto ws = WebSocketClient::Connect(Ws(absl::StrCat("/task/watch/", id)),
                                     {Bearer(kTripoKeyA)}, &status);
  ASSERT_NE(ws, nullptr) << status;
  RunToCompletion();
  bool saw_unknown = false;
  for (;;) {
    auto m = ws->Next(kWait);
    ASSERT_TRUE(m.has_value());
    TripoFrame f = ParseFrame(*m);
    if (f.status() == "unknown") {
      EXPECT_EQ(f.event, "finalized");
      saw_unknown = true;
      break;
    }
  }
  ASSERT_TRUE(saw_unknown);
  emu_->AdvanceBy(absl::Seconds(6));
  auto m = ws->Next(kWait);
  ASSERT_TRUE(m.has_value());
  TripoFrame f = ParseFrame(*m);
  EXPECT_EQ(f.status(), "success");
  EXPECT_EQ(f.event, "finalized");
}

TEST_F(TripoApiTest, WatchAllAndSinceReplay) {
  Start();
  const absl::Time t0 = emu_->clock().Now();
  const std::string a = CreateText("chair a");
  RunToCompletion();
  const absl::Time mid = emu_->clock().Now();
  emu_->AdvanceBy(absl::Seconds(1));
  const std::string b = CreateText("chair b");
  CreateText("not mine", kTripoKeyB);

  long status = 0;
  // Since t0: both tasks, latest state first.
  auto all = WebSocketClient::Connect(
      Ws(absl::StrCat(
          "/task/watch/all/",
          absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t0, absl::UTCTimeZone()))),
      {Bearer(kTripoKeyA)}, &status);
  ASSERT_NE(all, nullptr) << status;
  std::set<std::string> seen;
  for (int i = 0; i < 2; ++i) {
    auto m = all->Next(kWait);
    ASSERT_TRUE(m.has_value());
    TripoFrame f = ParseFrame(*m);
    seen.insert(f.id());
    if (f.id() == a) {
      EXPECT_EQ(f.event, "finalized");
    }
  }
  EXPECT_EQ(seen, (std::set<std::string>{a, b}));

  // Since `mid` with an offset (RFC 3339): only b.
  auto since = WebSocketClient::Connect(
      Ws(absl::StrCat("/task/watch/all/",
                      absl::FormatTime("%Y-%m-%dT%H:%M:%E3S+01:00",
                                       mid + absl::Milliseconds(500),
                                       absl::FixedTimeZone(3600)))),
      {Bearer(kTripoKeyA)}, &status);
  ASSERT_NE(since, nullptr) << status;
  auto m = since->Next(kWait);
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(ParseFrame(*m).id(), b);

  // Without since: live updates only, of this key's tasks.
  auto live = WebSocketClient::Connect(Ws("/task/watch/all"),
                                       {Bearer(kTripoKeyA)}, &status);
  ASSERT_NE(live, nullptr) << status;
  RunToCompletion();
  bool finalized_b = false;
  while (!finalized_b) {
    auto next = live->Next(kWait);
    ASSERT_TRUE(next.has_value());
    TripoFrame f = ParseFrame(*next);
    EXPECT_EQ(f.id(), b);
    finalized_b = f.event == "finalized";
  }
  EXPECT_EQ(live->state(), WebSocketClient::State::kOpen);  // watch/all stays
}

TEST_F(TripoApiTest, WebSocketFaultsApply) {
  Start();
  SetFaults(R"({"websocket":{"drop_after_frames":1}})");
  const std::string id = CreateText("a dropped chair");
  long status = 0;
  auto ws = WebSocketClient::Connect(Ws(absl::StrCat("/task/watch/", id)),
                                     {Bearer(kTripoKeyA)}, &status);
  ASSERT_NE(ws, nullptr) << status;
  ASSERT_TRUE(ws->Next(kWait).has_value());
  EXPECT_FALSE(ws->Next(kWait).has_value());
  EXPECT_EQ(ws->state(), WebSocketClient::State::kDropped);

  SetFaults(R"({"reset":true,"websocket":{"silent":true}})");
  auto silent = WebSocketClient::Connect(Ws(absl::StrCat("/task/watch/", id)),
                                         {Bearer(kTripoKeyA)}, &status);
  ASSERT_NE(silent, nullptr) << status;
  EXPECT_FALSE(silent->Next(absl::Milliseconds(300)).has_value());
  EXPECT_EQ(silent->state(), WebSocketClient::State::kOpen);
}

}  // namespace
}  // namespace triverse::emulator
