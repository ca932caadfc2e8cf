// Integration tests of the emulator's REST API through real HTTP: a libcurl
// client talks to an in-process emulator bound to 127.0.0.1:0, and a fake
// clock drives the task state machine.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <regex>
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
using ::testing::Not;
using ::testing::StartsWith;
using testing_util::Bearer;
using testing_util::Headers;
using testing_util::HttpGet;
using testing_util::HttpPost;
using testing_util::HttpPostFile;
using testing_util::HttpResponse;
using testing_util::kKeyA;
using testing_util::kKeyB;
using testing_util::TestEmulator;
using testing_util::WebSocketClient;

constexpr char kConsistentRead[] = "X-Triverse-Read-After-Write: 1";
constexpr char kImageUrl[] = "https://example.com/input.png";
constexpr char kModelUrl[] = "https://example.com/model.glb";
constexpr char kUuidPattern[] =
    "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}";
constexpr char kTimestampPattern[] =
    "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{6}Z";

// ------------------------------------------------------------------ JSON

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

bool Has(const rapidjson::Value& v, const char* key) {
  return v.IsObject() && v.HasMember(key);
}

// Member returns v[key], or a null value (and a test failure) when v is not
// an object or has no such member.
const rapidjson::Value& Member(const rapidjson::Value& v, const char* key) {
  static const rapidjson::Value* const kNull = new rapidjson::Value();
  if (!v.IsObject()) {
    ADD_FAILURE() << "not an object (looking for '" << key
                  << "'): " << ToJson(v);
    return *kNull;
  }
  auto it = v.FindMember(key);
  if (it == v.MemberEnd()) {
    ADD_FAILURE() << "no member '" << key << "' in " << ToJson(v);
    return *kNull;
  }
  return it->value;
}

std::string Str(const rapidjson::Value& v, const char* key) {
  const rapidjson::Value& m = Member(v, key);
  if (!m.IsString()) {
    ADD_FAILURE() << "'" << key << "' is not a string: " << ToJson(v);
    return "";
  }
  return m.GetString();
}

int64_t Int(const rapidjson::Value& v, const char* key) {
  const rapidjson::Value& m = Member(v, key);
  if (!m.IsInt64()) {
    ADD_FAILURE() << "'" << key << "' is not an integer: " << ToJson(v);
    return -1;
  }
  return m.GetInt64();
}

double Num(const rapidjson::Value& v, const char* key) {
  const rapidjson::Value& m = Member(v, key);
  if (!m.IsNumber()) {
    ADD_FAILURE() << "'" << key << "' is not a number: " << ToJson(v);
    return -1;
  }
  return m.GetDouble();
}

bool Bool(const rapidjson::Value& v, const char* key) {
  const rapidjson::Value& m = Member(v, key);
  if (!m.IsBool()) {
    ADD_FAILURE() << "'" << key << "' is not a boolean: " << ToJson(v);
    return false;
  }
  return m.GetBool();
}

bool IsNull(const rapidjson::Value& v, const char* key) {
  return Member(v, key).IsNull();
}

bool Matches(const std::string& s, const std::string& pattern) {
  return std::regex_match(s, std::regex(pattern));
}

std::string Timestamp(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", t, absl::UTCTimeZone());
}

// Data checks the success envelope {code:0, message:"success", data} and
// returns a copy of `data`.
rapidjson::Document Data(const HttpResponse& r) {
  rapidjson::Document out;
  EXPECT_EQ(r.transport_error, "");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_THAT(r.header("content-type"), HasSubstr("application/json"));
  rapidjson::Document doc = ParseJson(r.body);
  if (doc.HasParseError() || !doc.IsObject()) {
    ADD_FAILURE() << "not a JSON object: " << r.body;
    return out;
  }
  EXPECT_EQ(doc.MemberCount(), 3u) << r.body;
  EXPECT_EQ(Int(doc, "code"), 0) << r.body;
  EXPECT_EQ(Str(doc, "message"), "success") << r.body;
  if (Has(doc, "data")) {
    out.CopyFrom(doc["data"], out.GetAllocator());
  } else {
    ADD_FAILURE() << "no data: " << r.body;
  }
  return out;
}

// ExpectError checks an error response: the HTTP status and a body of
// exactly {code, message, suggestion}. Returns the suggestion.
std::string ExpectError(const HttpResponse& r, long status, int code) {
  EXPECT_EQ(r.transport_error, "");
  EXPECT_EQ(r.status, status) << r.body;
  EXPECT_THAT(r.header("content-type"), HasSubstr("application/json"));
  rapidjson::Document doc = ParseJson(r.body);
  if (doc.HasParseError() || !doc.IsObject()) {
    ADD_FAILURE() << "not a JSON object: " << r.body;
    return "";
  }
  EXPECT_EQ(doc.MemberCount(), 3u) << r.body;
  EXPECT_FALSE(doc.HasMember("data")) << r.body;
  EXPECT_EQ(Int(doc, "code"), code) << r.body;
  EXPECT_FALSE(Str(doc, "message").empty()) << r.body;
  return Str(doc, "suggestion");
}

// Eventually polls `probe` until it holds or `limit` passes. Only for effects
// the server applies after its response (a closed socket being reaped).
bool Eventually(const std::function<bool()>& probe,
                absl::Duration limit = absl::Seconds(5)) {
  const absl::Time deadline = absl::Now() + limit;
  while (absl::Now() < deadline) {
    if (probe()) return true;
  }
  return probe();
}

// --------------------------------------------------------------- fixture

class RestApiTest : public ::testing::Test {
 protected:
  static EmulatorOptions Options() { return TestEmulator::DefaultOptions(); }

  void Start(EmulatorOptions options = Options()) {
    emu_ = std::make_unique<TestEmulator>(std::move(options));
    ASSERT_TRUE(emu_->start_status().ok()) << emu_->start_status();
    t0_ = emu_->clock().Now();
  }

  HttpResponse Get(const std::string& path, const std::string& key = kKeyA,
                   Headers extra = {}) {
    extra.push_back(Bearer(key));
    return HttpGet(emu_->Api(path), extra);
  }
  HttpResponse Post(const std::string& path, const std::string& body,
                    const std::string& key = kKeyA) {
    return HttpPost(emu_->Api(path), body, {Bearer(key)});
  }
  HttpResponse PostTask(const std::string& flow, const std::string& body,
                        const std::string& key = kKeyA) {
    return Post(absl::StrCat("/tasks/", flow), body, key);
  }
  // Create makes a task and returns its creation payload.
  rapidjson::Document Create(const std::string& flow, const std::string& body,
                             const std::string& key = kKeyA) {
    return Data(PostTask(flow, body, key));
  }
  std::string CreateUuid(const std::string& flow, const std::string& body,
                         const std::string& key = kKeyA) {
    rapidjson::Document d = Create(flow, body, key);
    return Has(d, "task_uuid") ? Str(d, "task_uuid") : "";
  }
  std::string CreateTextTask(const std::string& prompt,
                             const std::string& key = kKeyA) {
    return CreateUuid("text-to-model",
                      absl::StrCat(R"({"prompt":")", prompt, R"("})"), key);
  }
  // TaskData reads GET /tasks/{uuid} past the read-after-write window.
  rapidjson::Document TaskData(const std::string& uuid,
                               const std::string& key = kKeyA) {
    return Data(Get(absl::StrCat("/tasks/", uuid), key, {kConsistentRead}));
  }
  std::string StatusOf(const std::string& uuid,
                       const std::string& key = kKeyA) {
    rapidjson::Document d = TaskData(uuid, key);
    return Has(d, "status") ? Str(d, "status") : "";
  }

  struct Balance {
    double balance = -1;
    double frozen = -1;
  };
  Balance GetBalance(const std::string& key = kKeyA) {
    rapidjson::Document d = Data(Get("/users/balance", key));
    return {Num(d, "balance"), Num(d, "frozen")};
  }

  HttpResponse UploadImage(const std::string& filename,
                           const std::string& content_type,
                           const std::string& data = "\x89PNG\r\n\x1a\n...",
                           const std::string& key = kKeyA) {
    return HttpPostFile(emu_->Api("/upload/image"), "file", filename,
                        content_type, data, {Bearer(key)});
  }
  HttpResponse UploadModel(const std::string& query,
                           const std::string& filename,
                           const std::string& data = "glTF-model",
                           const std::string& key = kKeyA) {
    return HttpPostFile(emu_->Api(absl::StrCat("/upload/model", query)), "file",
                        filename, "application/octet-stream", data,
                        {Bearer(key)});
  }

  // Control posts to the emulator's control plane (/_emulator/...).
  HttpResponse Control(const std::string& path, const std::string& body) {
    return HttpPost(emu_->Url(path), body);
  }
  void SetFaults(const std::string& json) {
    HttpResponse r = Control("/_emulator/faults", json);
    ASSERT_EQ(r.status, 200) << r.body;
  }
  rapidjson::Document Stats() {
    HttpResponse r = HttpGet(emu_->Url("/_emulator/stats"));
    EXPECT_EQ(r.status, 200) << r.body;
    return ParseJson(r.body);
  }

  // RunToCompletion advances the clock past `rounds` rounds of work with the
  // default options (1 s pending + queued, 10 s running, 4 workers per key).
  void RunToCompletion(int rounds = 1) {
    emu_->AdvanceBy(absl::Seconds(1 + 10 * rounds) + absl::Milliseconds(100));
  }

  std::unique_ptr<TestEmulator> emu_;
  absl::Time t0_;
};

// ------------------------------------------------------- routing, envelope

TEST_F(RestApiTest, UnknownEndpointIs404With1005) {
  Start();
  ExpectError(Get("/nothing/here"), 404, 1005);
  ExpectError(HttpGet(emu_->Url("/not-the-api")), 404, 1005);
}

TEST_F(RestApiTest, WrongMethodIs405WithAllow) {
  Start();
  HttpResponse r = Post("/users/me", "{}");
  ExpectError(r, 405, 1005);
  EXPECT_EQ(r.header("allow"), "GET");
}

TEST_F(RestApiTest, UnknownFlowIs400With2002) {
  Start();
  std::string suggestion =
      ExpectError(PostTask("image-to-sculpture", "{}"), 400, 2002);
  EXPECT_THAT(suggestion, HasSubstr("image-to-model"));
}

TEST_F(RestApiTest, MalformedBodyIs400With1004) {
  Start();
  ExpectError(PostTask("text-to-model", "not json"), 400, 1004);
  ExpectError(PostTask("text-to-model", R"(["a red chair"])"), 400, 1004);
  ExpectError(Post("/tasks/pricing/quote", "{"), 400, 1004);
}

// ------------------------------------------------------------------ auth

TEST_F(RestApiTest, MissingOrBadBearerIs401WithWwwAuthenticate) {
  Start();
  const std::vector<Headers> bad = {
      {},
      {"Authorization: Bearer wrong-key"},
      {"Authorization: Bearer "},
      {absl::StrCat("Authorization: Basic ", kKeyA)},
      {absl::StrCat("Authorization: ", kKeyA)},
  };
  for (const Headers& h : bad) {
    SCOPED_TRACE(h.empty() ? "no header" : h[0]);
    for (const char* path : {"/users/me", "/users/balance",
                             "/tasks/92483a80-236c-4889-9a95-4c90bb64dfd8",
                             "/platform/generate/own-models"}) {
      HttpResponse r = HttpGet(emu_->Api(path), h);
      ExpectError(r, 401, 401);
      EXPECT_EQ(r.header("www-authenticate"), "Bearer");
    }
    HttpResponse r = HttpPost(emu_->Api("/tasks/text-to-model"),
                              R"({"prompt":"a red chair"})", h);
    ExpectError(r, 401, 401);
    EXPECT_EQ(r.header("www-authenticate"), "Bearer");
    r = HttpPostFile(emu_->Api("/upload/image"), "file", "a.png", "image/png",
                     "png", h);
    ExpectError(r, 401, 401);
  }
  // Nothing was created by the refused requests.
  EXPECT_EQ(GetBalance().frozen, 0);
  EXPECT_EQ(Int(Stats(), "tasks_created"), 0);
}

TEST_F(RestApiTest, AuthFailureStatus403WhenConfigured) {
  EmulatorOptions o = Options();
  o.auth_failure_status = 403;
  Start(o);
  HttpResponse r = HttpGet(emu_->Api("/users/me"));
  ExpectError(r, 403, 403);
  EXPECT_EQ(r.header("www-authenticate"), "");
  ExpectError(Get("/users/me", "wrong-key"), 403, 403);
  Data(Get("/users/me"));
}

TEST_F(RestApiTest, KeysHaveSeparateTasksAndBalances) {
  Start();
  const std::string a = CreateTextTask("a red chair", kKeyA);
  emu_->AdvanceBy(absl::Seconds(2));
  const std::string path = absl::StrCat("/tasks/", a);
  Data(Get(path, kKeyA, {kConsistentRead}));
  ExpectError(Get(path, kKeyB, {kConsistentRead}), 404, 1006);
  ExpectError(Get(path, kKeyB), 404, 1006);
  RunToCompletion();
  ASSERT_EQ(StatusOf(a), "SUCCESS");
  ExpectError(Get(absl::StrCat("/tasks/url/", a), kKeyB), 404, 1006);
  ExpectError(Get(absl::StrCat("/tasks/download/", a), kKeyB), 404, 1006);

  const Balance ba = GetBalance(kKeyA);
  const Balance bb = GetBalance(kKeyB);
  EXPECT_LT(ba.balance, 1000);
  EXPECT_EQ(bb.balance, 1000);
  EXPECT_EQ(bb.frozen, 0);
  rapidjson::Document me_a = Data(Get("/users/me", kKeyA));
  rapidjson::Document me_b = Data(Get("/users/me", kKeyB));
  EXPECT_NE(Str(me_a, "id"), Str(me_b, "id"));
  EXPECT_NE(Str(me_a, "email"), Str(me_b, "email"));
  EXPECT_EQ(Num(me_b, "api_credits_balance"), 1000);
}

// ----------------------------------------------------------------- users

TEST_F(RestApiTest, UsersMeFieldsAndTypes) {
  Start();
  rapidjson::Document me = Data(Get("/users/me"));
  EXPECT_TRUE(Matches(Str(me, "id"), kUuidPattern)) << ToJson(me);
  EXPECT_EQ(Str(me, "email"), "user1@example.com");
  EXPECT_TRUE(Member(me, "web_credits_balance").IsNumber());
  EXPECT_TRUE(Member(me, "api_credits_balance").IsDouble()) << ToJson(me);
  EXPECT_EQ(Num(me, "api_credits_balance"), 1000);
  EXPECT_TRUE(IsNull(me, "plan_name"));
  EXPECT_EQ(me.MemberCount(), 5u) << ToJson(me);
  // The id is stable.
  EXPECT_EQ(Str(Data(Get("/users/me")), "id"), Str(me, "id"));
}

TEST_F(RestApiTest, UsersMeShowsConfiguredEmailAndPlan) {
  EmulatorOptions o = Options();
  o.engine.keys = {{"k", 250, "dev@example.org", "Pro"}};
  Start(o);
  rapidjson::Document me = Data(Get("/users/me", "k"));
  EXPECT_EQ(Str(me, "email"), "dev@example.org");
  EXPECT_EQ(Str(me, "plan_name"), "Pro");
  EXPECT_EQ(Num(me, "api_credits_balance"), 250);
}

TEST_F(RestApiTest, BalanceFieldsAndTypes) {
  Start();
  rapidjson::Document b = Data(Get("/users/balance"));
  EXPECT_TRUE(Member(b, "balance").IsDouble()) << ToJson(b);
  EXPECT_TRUE(Member(b, "frozen").IsDouble()) << ToJson(b);
  EXPECT_EQ(Num(b, "balance"), 1000);
  EXPECT_EQ(Num(b, "frozen"), 0);
  EXPECT_EQ(b.MemberCount(), 2u);
}

// --------------------------------------------------------------- credits

TEST_F(RestApiTest, CreditsFrozenOnCreationAndDeductedOnSuccess) {
  Start();
  rapidjson::Document c = Create("text-to-model", R"({"prompt":"a chair"})");
  const int64_t cost = Int(c, "cost_credits");
  ASSERT_GT(cost, 0);
  Balance b = GetBalance();
  EXPECT_EQ(b.balance, 1000 - cost);
  EXPECT_EQ(b.frozen, cost);
  EXPECT_EQ(Num(Data(Get("/users/me")), "api_credits_balance"), 1000 - cost);

  emu_->AdvanceBy(absl::Seconds(5));  // RUNNING: still frozen
  b = GetBalance();
  EXPECT_EQ(b.balance, 1000 - cost);
  EXPECT_EQ(b.frozen, cost);

  RunToCompletion();
  ASSERT_EQ(StatusOf(Str(c, "task_uuid")), "SUCCESS");
  b = GetBalance();
  EXPECT_EQ(b.balance, 1000 - cost);
  EXPECT_EQ(b.frozen, 0);
}

TEST_F(RestApiTest, CreditsReleasedOnFailure) {
  Start();
  SetFaults(R"({"tasks":{"failure_rate":1}})");
  rapidjson::Document c = Create("text-to-model", R"({"prompt":"a chair"})");
  const int64_t cost = Int(c, "cost_credits");
  EXPECT_EQ(GetBalance().frozen, cost);
  RunToCompletion();
  rapidjson::Document t = TaskData(Str(c, "task_uuid"));
  EXPECT_EQ(Str(t, "status"), "FAILED");
  EXPECT_TRUE(Matches(Str(t, "completed_at"), kTimestampPattern));
  EXPECT_TRUE(IsNull(t, "output"));
  const rapidjson::Value& error = Member(t, "error");
  EXPECT_TRUE(error.IsObject());
  EXPECT_TRUE(Member(error, "code").IsInt());
  EXPECT_FALSE(Str(error, "message").empty());
  const Balance b = GetBalance();
  EXPECT_EQ(b.balance, 1000);
  EXPECT_EQ(b.frozen, 0);
  // A failed task has nothing to download.
  ExpectError(Get(absl::StrCat("/tasks/url/", Str(c, "task_uuid"))), 409, 2005);
}

TEST_F(RestApiTest, CreditsReleasedOnCancel) {
  Start();
  const std::string uuid = CreateTextTask("a chair");
  emu_->AdvanceBy(absl::Seconds(3));
  ASSERT_EQ(StatusOf(uuid), "RUNNING");
  ASSERT_GT(GetBalance().frozen, 0);

  const std::string cancel = absl::StrCat("/_emulator/tasks/", uuid, "/cancel");
  rapidjson::Document t = Data(Control(cancel, ""));
  EXPECT_EQ(Str(t, "status"), "CANCELLED");
  EXPECT_EQ(Str(t, "completed_at"), Timestamp(t0_ + absl::Seconds(3)));
  EXPECT_EQ(StatusOf(uuid), "CANCELLED");
  const Balance b = GetBalance();
  EXPECT_EQ(b.balance, 1000);
  EXPECT_EQ(b.frozen, 0);

  ExpectError(Control(cancel, ""), 409, 2005);
  ExpectError(
      Control("/_emulator/tasks/92483a80-236c-4889-9a95-4c90bb64dfd8/cancel",
              ""),
      404, 1006);
  ExpectError(Get(absl::StrCat("/tasks/download/", uuid)), 409, 2005);
}

TEST_F(RestApiTest, CancelFaultCancelsMidwayAndReleases) {
  Start();
  SetFaults(R"({"tasks":{"cancel_rate":1}})");
  const std::string uuid = CreateTextTask("a chair");
  RunToCompletion();
  EXPECT_EQ(StatusOf(uuid), "CANCELLED");
  EXPECT_EQ(GetBalance().balance, 1000);
}

TEST_F(RestApiTest, InsufficientCreditsIs403With2010) {
  EmulatorOptions o = Options();
  o.engine.keys = {{kKeyA, 130, "", ""}};
  Start(o);
  rapidjson::Document c = Create("text-to-model", R"({"prompt":"a chair"})");
  ASSERT_EQ(Int(c, "cost_credits"), 120);  // sample price of the docs
  std::string suggestion = ExpectError(
      PostTask("text-to-model", R"({"prompt":"a table"})"), 403, 2010);
  EXPECT_THAT(suggestion, HasSubstr("10"));
  // Nothing more was frozen, and a cheaper task still fits.
  EXPECT_EQ(GetBalance().frozen, 120);
  Create("convert-model-format", absl::StrCat(R"({"model_file":")", kModelUrl,
                                              R"(","export_format":"obj"})"));
}

TEST_F(RestApiTest, FullQueueIs429With2000) {
  EmulatorOptions o = Options();
  o.engine.max_queue_per_key = 2;
  Start(o);
  CreateTextTask("one");
  CreateTextTask("two");
  HttpResponse r = PostTask("text-to-model", R"({"prompt":"three"})");
  ExpectError(r, 429, 2000);
  EXPECT_FALSE(r.header("retry-after").empty());
  // Once the first two run, the queue has room again.
  emu_->AdvanceBy(absl::Seconds(2));
  CreateTextTask("three");
}

// ------------------------------------------------------------ task flows

struct FlowCase {
  std::string flow;
  std::string body;
};

std::vector<FlowCase> MinimalFlows() {
  const std::string image = absl::StrCat(R"("image_file":")", kImageUrl, "\"");
  const std::string model = absl::StrCat(R"("model_file":")", kModelUrl, "\"");
  return {
      {"image-to-model", absl::StrCat("{", image, "}")},
      {"image-to-mesh", absl::StrCat("{", image, "}")},
      {"text-to-model", R"({"prompt":"a red chair"})"},
      {"text-to-mesh", R"({"prompt":"a red chair"})"},
      {"texture-model", absl::StrCat("{", image, ",", model, "}")},
      {"text-to-texture", absl::StrCat(R"({"prompt":"oak wood",)", model, "}")},
      {"model-preview-render", absl::StrCat("{", model, "}")},
      {"model-remesh", absl::StrCat("{", model, "}")},
      {"convert-model-format",
       absl::StrCat("{", model, R"(,"export_format":"obj"})")},
      {"image-generation", R"({"prompt":"a cat on a mat"})"},
  };
}

TEST_F(RestApiTest, AllTenFlowsCreateRunAndSucceed) {
  Start();
  std::vector<std::string> uuids;
  int64_t total_cost = 0;
  for (const FlowCase& f : MinimalFlows()) {
    SCOPED_TRACE(f.flow);
    rapidjson::Document c = Create(f.flow, f.body);
    EXPECT_TRUE(Matches(Str(c, "task_uuid"), kUuidPattern));
    EXPECT_EQ(Str(c, "flow_name"), f.flow);
    EXPECT_EQ(Str(c, "status"), "PENDING");
    EXPECT_EQ(Str(c, "created_at"), Timestamp(t0_));
    const int64_t cost = Int(c, "cost_credits");
    EXPECT_GT(cost, 0);
    // The quote of the same parameters announces the same price.
    rapidjson::Document q = Data(Post(
        "/tasks/pricing/quote", absl::StrCat(R"({"flow_name":")", f.flow,
                                             R"(","params":)", f.body, "}")));
    EXPECT_EQ(Int(q, "cost_credits"), cost);
    // Creation never echoes the input.
    EXPECT_FALSE(Has(c, "input"));
    total_cost += cost;
    uuids.push_back(Str(c, "task_uuid"));
  }
  EXPECT_EQ(GetBalance().frozen, total_cost);

  RunToCompletion(3);  // ten tasks on four workers
  for (size_t i = 0; i < uuids.size(); ++i) {
    SCOPED_TRACE(MinimalFlows()[i].flow);
    rapidjson::Document t = TaskData(uuids[i]);
    EXPECT_EQ(Str(t, "status"), "SUCCESS");
    EXPECT_EQ(Str(t, "flow_name"), MinimalFlows()[i].flow);
    const rapidjson::Value& output = Member(t, "output");
    ASSERT_TRUE(output.IsObject());
    EXPECT_GT(output.MemberCount(), 0u);
    EXPECT_THAT(ToJson(output), HasSubstr(emu_->Url("/assets/")));
    rapidjson::Document url = Data(Get(absl::StrCat("/tasks/url/", uuids[i])));
    EXPECT_THAT(Str(url, "download_url"), StartsWith(emu_->Url("/assets/")));
  }
  const Balance b = GetBalance();
  EXPECT_EQ(b.frozen, 0);
  EXPECT_EQ(b.balance, 1000 - total_cost);
}

struct InvalidCase {
  std::string flow;
  std::string body;
  std::string field;
};

TEST_F(RestApiTest, ValidationErrorsNameTheField) {
  Start();
  const std::string image = absl::StrCat(R"("image_file":")", kImageUrl, "\"");
  const std::string model = absl::StrCat(R"("model_file":")", kModelUrl, "\"");
  auto with = [](const std::string& base, const std::string& extra) {
    return absl::StrCat("{", base, ",", extra, "}");
  };
  const std::vector<InvalidCase> cases = {
      // polygon_limit: 1,000 - 1,500,000.
      {"image-to-model", with(image, R"("polygon_limit":999)"),
       "polygon_limit"},
      {"image-to-model", with(image, R"("polygon_limit":1500001)"),
       "polygon_limit"},
      {"image-to-mesh", with(image, R"("polygon_limit":1500001)"),
       "polygon_limit"},
      {"text-to-model", R"({"prompt":"a chair","polygon_limit":999})",
       "polygon_limit"},
      {"text-to-mesh", R"({"prompt":"a chair","polygon_limit":10000000})",
       "polygon_limit"},
      {"texture-model", with(image, model + R"(,"polygon_limit":999)"),
       "polygon_limit"},
      // texture_size: 1024 - 4096.
      {"image-to-model", with(image, R"("texture_size":1023)"), "texture_size"},
      {"image-to-model", with(image, R"("texture_size":4097)"), "texture_size"},
      {"text-to-model", R"({"prompt":"a chair","texture_size":512})",
       "texture_size"},
      {"texture-model", with(image, model + R"(,"texture_size":8192)"),
       "texture_size"},
      {"text-to-texture",
       R"({"prompt":"oak wood",)" + model + R"(,"texture_size":4097})",
       "texture_size"},
      // prompt: at least 3 characters.
      {"text-to-model", R"({"prompt":"ab"})", "prompt"},
      {"text-to-mesh", R"({"prompt":""})", "prompt"},
      {"text-to-texture", with(model, R"("prompt":"ab")"), "prompt"},
      {"image-generation", R"({"prompt":"ab"})", "prompt"},
      // image_count: 1 - 10.
      {"model-preview-render", with(model, R"("image_count":0)"),
       "image_count"},
      {"model-preview-render", with(model, R"("image_count":11)"),
       "image_count"},
      {"image-generation", R"({"prompt":"a cat","image_count":0})",
       "image_count"},
      {"image-generation", R"({"prompt":"a cat","image_count":11})",
       "image_count"},
      // Required fields.
      {"image-to-model", "{}", "image_file"},
      {"image-to-mesh", R"({"polygon_limit":5000})", "image_file"},
      {"text-to-model", "{}", "prompt"},
      {"text-to-mesh", "{}", "prompt"},
      {"texture-model", absl::StrCat("{", image, "}"), "model_file"},
      {"texture-model", absl::StrCat("{", model, "}"), "image_file"},
      {"text-to-texture", R"({"prompt":"oak wood"})", "model_file"},
      {"model-preview-render", "{}", "model_file"},
      {"model-remesh", "{}", "model_file"},
      {"convert-model-format", absl::StrCat("{", model, "}"), "export_format"},
      {"image-generation", "{}", "prompt"},
      // Types and enumerations.
      {"image-to-model", with(image, R"("polygon_limit":"5000")"),
       "polygon_limit"},
      {"image-to-model", with(image, R"("turbo":"yes")"), "turbo"},
      {"image-to-model", R"({"image_file":42})", "image_file"},
      {"image-to-model", R"({"image_file":"input.png"})", "image_file"},
      {"image-to-model", with(image, R"("model_version":"v9")"),
       "model_version"},
      {"model-preview-render", with(model, R"("render_mode":"fancy")"),
       "render_mode"},
      {"convert-model-format", with(model, R"("export_format":"exe")"),
       "export_format"},
  };
  for (const InvalidCase& c : cases) {
    SCOPED_TRACE(absl::StrCat(c.flow, " ", c.body));
    std::string suggestion = ExpectError(PostTask(c.flow, c.body), 400, 1004);
    EXPECT_THAT(suggestion, HasSubstr(absl::StrCat("'", c.field, "'")));
  }
  // Nothing was created or frozen.
  EXPECT_EQ(GetBalance().frozen, 0);
  EXPECT_EQ(Int(Stats(), "tasks_created"), 0);
}

TEST_F(RestApiTest, RangeBoundariesAreAccepted) {
  EmulatorOptions o = Options();
  o.engine.keys = {{kKeyA, 100000, "", ""}};
  Start(o);
  const std::string image = absl::StrCat(R"("image_file":")", kImageUrl, "\"");
  const std::string model = absl::StrCat(R"("model_file":")", kModelUrl, "\"");
  const std::vector<FlowCase> ok = {
      {"image-to-model", absl::StrCat("{", image, R"(,"polygon_limit":1000})")},
      {"image-to-model",
       absl::StrCat("{", image, R"(,"polygon_limit":1500000})")},
      {"image-to-model", absl::StrCat("{", image, R"(,"texture_size":1024})")},
      {"image-to-model", absl::StrCat("{", image, R"(,"texture_size":4096})")},
      {"image-to-model", absl::StrCat("{", image, R"(,"turbo":true})")},
      {"text-to-model", R"({"prompt":"abc"})"},
      {"text-to-mesh", R"({"prompt":"abc","polygon_limit":1500000})"},
      {"model-preview-render",
       absl::StrCat("{", model, R"(,"image_count":1})")},
      {"model-preview-render",
       absl::StrCat("{", model, R"(,"image_count":10})")},
      {"image-generation", R"({"prompt":"a cat","image_count":1})"},
      {"image-generation", R"({"prompt":"a cat","image_count":10})"},
  };
  for (const FlowCase& c : ok) {
    SCOPED_TRACE(absl::StrCat(c.flow, " ", c.body));
    Create(c.flow, c.body);
  }
}

// ------------------------------------------------------------- lifecycle

TEST_F(RestApiTest, LifecyclePendingQueuedRunningSuccess) {
  Start();
  rapidjson::Document c =
      Create("image-to-model", absl::StrCat(R"({"image_file":")", kImageUrl,
                                            R"(","texture_size":2048})"));
  const std::string uuid = Str(c, "task_uuid");
  EXPECT_EQ(Str(c, "status"), "PENDING");
  EXPECT_EQ(Str(c, "created_at"), Timestamp(t0_));
  EXPECT_TRUE(Matches(Str(c, "created_at"), kTimestampPattern));
  const rapidjson::Value& cq = Member(c, "queue");
  EXPECT_FALSE(Bool(cq, "is_queued"));
  EXPECT_TRUE(IsNull(cq, "position"));
  EXPECT_TRUE(IsNull(cq, "estimated_wait_seconds"));

  rapidjson::Document t = TaskData(uuid);
  EXPECT_EQ(Str(t, "task_uuid"), uuid);
  EXPECT_EQ(Str(t, "flow_name"), "image-to-model");
  EXPECT_EQ(Str(t, "status"), "PENDING");
  EXPECT_EQ(Int(t, "progress"), 0);
  EXPECT_EQ(Str(t, "created_at"), Timestamp(t0_));
  EXPECT_TRUE(IsNull(t, "started_at"));
  EXPECT_TRUE(IsNull(t, "completed_at"));
  EXPECT_TRUE(IsNull(t, "output"));
  EXPECT_TRUE(IsNull(t, "error"));
  // The public input is normalised: image_url, defaults filled in.
  const rapidjson::Value& input = Member(t, "input");
  EXPECT_EQ(Str(input, "image_url"), kImageUrl);
  EXPECT_EQ(Str(input, "model_version"), "v2");
  EXPECT_EQ(Int(input, "polygon_limit"), 1000000);
  EXPECT_EQ(Int(input, "texture_size"), 2048);

  emu_->AdvanceBy(absl::Milliseconds(600));
  t = TaskData(uuid);
  EXPECT_EQ(Str(t, "status"), "QUEUED");
  EXPECT_TRUE(IsNull(t, "started_at"));
  const rapidjson::Value& q = Member(t, "queue");
  EXPECT_TRUE(Bool(q, "is_queued"));
  EXPECT_EQ(Int(q, "position"), 1);
  EXPECT_GT(Int(q, "estimated_wait_seconds"), 0);

  emu_->AdvanceBy(absl::Milliseconds(500));
  t = TaskData(uuid);
  EXPECT_EQ(Str(t, "status"), "RUNNING");
  EXPECT_EQ(Str(t, "started_at"), Timestamp(t0_ + absl::Seconds(1)));
  EXPECT_TRUE(IsNull(t, "completed_at"));
  EXPECT_TRUE(IsNull(t, "queue"));
  EXPECT_TRUE(IsNull(t, "output"));
  int64_t last = Int(t, "progress");
  EXPECT_GE(last, 0);
  for (int i = 0; i < 9; ++i) {
    emu_->AdvanceBy(absl::Seconds(1));
    t = TaskData(uuid);
    ASSERT_EQ(Str(t, "status"), "RUNNING") << "after " << i + 2 << " s";
    const int64_t progress = Int(t, "progress");
    EXPECT_GT(progress, last);
    EXPECT_LT(progress, 100);
    last = progress;
  }
  EXPECT_GE(last, 80);

  emu_->AdvanceBy(absl::Seconds(1));
  t = TaskData(uuid);
  EXPECT_EQ(Str(t, "status"), "SUCCESS");
  EXPECT_EQ(Int(t, "progress"), 100);
  EXPECT_EQ(Str(t, "started_at"), Timestamp(t0_ + absl::Seconds(1)));
  EXPECT_EQ(Str(t, "completed_at"), Timestamp(t0_ + absl::Seconds(11)));
  EXPECT_TRUE(IsNull(t, "error"));
  EXPECT_TRUE(IsNull(t, "queue"));
  const rapidjson::Value& output = Member(t, "output");
  for (const char* field :
       {"textured_model_url", "geometry_model_url", "preprocessed_image_url"}) {
    const rapidjson::Value& urls = Member(output, field);
    ASSERT_TRUE(urls.IsArray()) << field;
    ASSERT_GE(urls.Size(), 1u) << field;
    EXPECT_THAT(urls[0].GetString(), StartsWith(emu_->Url("/assets/")));
  }
  EXPECT_THAT(Str(output, "preview_url"), StartsWith(emu_->Url("/assets/")));
}

TEST_F(RestApiTest, QueuePositionsWithOneWorker) {
  EmulatorOptions o = Options();
  o.engine.workers_per_key = 1;
  Start(o);
  const std::string a = CreateTextTask("a chair");
  const std::string b = CreateTextTask("a table");
  emu_->AdvanceBy(absl::Milliseconds(600));
  rapidjson::Document ta = TaskData(a);
  rapidjson::Document tb = TaskData(b);
  EXPECT_EQ(Str(tb, "status"), "QUEUED");
  EXPECT_EQ(Int(Member(ta, "queue"), "position"), 1);
  EXPECT_EQ(Int(Member(tb, "queue"), "position"), 2);
  EXPECT_GT(Int(Member(tb, "queue"), "estimated_wait_seconds"),
            Int(Member(ta, "queue"), "estimated_wait_seconds"));

  emu_->AdvanceBy(absl::Milliseconds(500));
  EXPECT_EQ(StatusOf(a), "RUNNING");
  tb = TaskData(b);
  EXPECT_EQ(Str(tb, "status"), "QUEUED");
  EXPECT_EQ(Int(Member(tb, "queue"), "position"), 1);

  emu_->AdvanceBy(absl::Seconds(10));  // a finishes at 11 s, b starts
  EXPECT_EQ(StatusOf(a), "SUCCESS");
  tb = TaskData(b);
  EXPECT_EQ(Str(tb, "status"), "RUNNING");
  EXPECT_EQ(Str(tb, "started_at"), Timestamp(t0_ + absl::Seconds(11)));
}

TEST_F(RestApiTest, ReadAfterWriteWindow) {
  Start();
  rapidjson::Document c = Create("text-to-model", R"({"prompt":"a chair"})");
  EXPECT_EQ(Int(c, "read_after_write_deadline_seconds"), 1);
  EXPECT_EQ(Str(c, "read_after_write_header"), "X-Triverse-Read-After-Write");
  const std::string path = absl::StrCat("/tasks/", Str(c, "task_uuid"));

  ExpectError(Get(path), 404, 1006);
  Data(Get(path, kKeyA, {"X-Triverse-Read-After-Write: true"}));
  Data(Get(path, kKeyA, {"x-triverse-read-after-write: 1"}));
  emu_->AdvanceBy(absl::Milliseconds(999));
  ExpectError(Get(path), 404, 1006);
  emu_->AdvanceBy(absl::Milliseconds(1));
  EXPECT_EQ(Str(Data(Get(path)), "task_uuid"), Str(c, "task_uuid"));
}

TEST_F(RestApiTest, ReadAfterWriteHeaderAndWindowAreConfigurable) {
  EmulatorOptions o = Options();
  o.engine.read_after_write_header = "X-Consistent-Read";
  o.engine.read_after_write_window = absl::Milliseconds(2500);
  Start(o);
  rapidjson::Document c = Create("text-to-model", R"({"prompt":"a chair"})");
  EXPECT_EQ(Int(c, "read_after_write_deadline_seconds"), 3);
  EXPECT_EQ(Str(c, "read_after_write_header"), "X-Consistent-Read");
  const std::string path = absl::StrCat("/tasks/", Str(c, "task_uuid"));
  ExpectError(Get(path, kKeyA, {kConsistentRead}), 404, 1006);
  Data(Get(path, kKeyA, {"X-Consistent-Read: 1"}));
  emu_->AdvanceBy(absl::Seconds(2));
  ExpectError(Get(path), 404, 1006);
  emu_->AdvanceBy(absl::Milliseconds(500));
  Data(Get(path));
}

TEST_F(RestApiTest, ReadAfterWriteMissRateIgnoresTheHeaderInsideTheWindow) {
  Start();
  SetFaults(R"({"tasks":{"read_after_write_miss_rate":1}})");
  const std::string uuid = CreateTextTask("a lagging chair");
  const std::string path = absl::StrCat("/tasks/", uuid);
  ExpectError(Get(path, kKeyA, {"X-Triverse-Read-After-Write: true"}), 404,
              1006);
  EXPECT_EQ(Int(Stats()["faults_by_kind"], "read_after_write_miss"), 1);
  emu_->AdvanceBy(absl::Seconds(1));  // past the window: found
  EXPECT_EQ(Str(Data(Get(path, kKeyA, {"X-Triverse-Read-After-Write: true"})),
                "task_uuid"),
            uuid);
  SetFaults(R"({"tasks":{"read_after_write_miss_rate":0}})");
  const std::string other = CreateTextTask("a prompt chair");
  Data(Get(absl::StrCat("/tasks/", other), kKeyA,
           {"X-Triverse-Read-After-Write: true"}));
}

TEST_F(RestApiTest, UnknownTaskIs404With1006) {
  Start();
  ExpectError(Get("/tasks/92483a80-236c-4889-9a95-4c90bb64dfd8", kKeyA,
                  {kConsistentRead}),
              404, 1006);
  ExpectError(Get("/tasks/not-a-uuid!"), 404, 1006);
  ExpectError(Get("/tasks/url/92483a80-236c-4889-9a95-4c90bb64dfd8"), 404,
              1006);
  ExpectError(Get("/tasks/download/92483a80-236c-4889-9a95-4c90bb64dfd8"), 404,
              1006);
}

// ------------------------------------------------------------ idempotency

TEST_F(RestApiTest, RepeatedClientOrderIdReturnsTheSameTask) {
  Start();
  const std::string body =
      R"({"prompt":"a chair","client_order_id":"order-1_A"})";
  rapidjson::Document first = Create("text-to-model", body);
  const int64_t cost = Int(first, "cost_credits");
  rapidjson::Document again = Create("text-to-model", body);
  EXPECT_EQ(Str(again, "task_uuid"), Str(first, "task_uuid"));
  // Even with a different body: the order id is the key.
  rapidjson::Document other = Create(
      "text-to-model", R"({"prompt":"a table","client_order_id":"order-1_A"})");
  EXPECT_EQ(Str(other, "task_uuid"), Str(first, "task_uuid"));
  EXPECT_EQ(GetBalance().frozen, cost);  // frozen once
  EXPECT_EQ(Int(Stats(), "tasks_created"), 1);

  // The id is unique per user: another key gets its own task.
  rapidjson::Document b = Create("text-to-model", body, kKeyB);
  EXPECT_NE(Str(b, "task_uuid"), Str(first, "task_uuid"));

  // Later repeats return the task in its current state.
  emu_->AdvanceBy(absl::Milliseconds(600));
  rapidjson::Document later = Create("text-to-model", body);
  EXPECT_EQ(Str(later, "task_uuid"), Str(first, "task_uuid"));
  EXPECT_EQ(Str(later, "status"), "QUEUED");
  EXPECT_EQ(GetBalance().frozen, cost);
}

TEST_F(RestApiTest, LedgerListsEveryTaskWithItsOrderIdAndTheCredits) {
  Start();
  const std::string body =
      R"({"prompt":"a chair","client_order_id":"order-L1"})";
  rapidjson::Document first = Create("text-to-model", body);
  Create("text-to-model", body);  // the same order: no new task
  const std::string plain = CreateTextTask("a plain table");
  const int64_t cost = Int(first, "cost_credits");

  HttpResponse r = HttpGet(emu_->Url("/_emulator/ledger"));
  ASSERT_EQ(r.status, 200) << r.body;
  rapidjson::Document ledger = ParseJson(r.body);
  ASSERT_TRUE(ledger.IsObject()) << r.body;
  const rapidjson::Value& tasks = ledger["tasks"];
  ASSERT_EQ(tasks.Size(), 2u) << r.body;
  EXPECT_EQ(Str(tasks[0], "task_uuid"), Str(first, "task_uuid"));
  EXPECT_EQ(Str(tasks[0], "client_order_id"), "order-L1");
  EXPECT_EQ(Str(tasks[0], "status"), "PENDING");
  EXPECT_EQ(Int(tasks[0], "cost_credits"), cost);
  EXPECT_EQ(Str(tasks[0]["input"], "prompt"), "a chair");
  EXPECT_EQ(Str(tasks[1], "task_uuid"), plain);
  EXPECT_TRUE(tasks[1]["client_order_id"].IsNull());
  const rapidjson::Value& a = ledger["accounts"][0];
  EXPECT_EQ(Int(a, "frozen_credits"), 2 * cost);
  EXPECT_EQ(Int(a, "total_credits"), Int(a, "initial_credits"));

  RunToCompletion();
  ledger = ParseJson(HttpGet(emu_->Url("/_emulator/ledger")).body);
  EXPECT_EQ(Str(ledger["tasks"][0], "status"), "SUCCESS");
  const rapidjson::Value& after = ledger["accounts"][0];
  EXPECT_EQ(Int(after, "frozen_credits"), 0);
  EXPECT_EQ(Int(after, "initial_credits") - Int(after, "total_credits"),
            2 * cost);
}

TEST_F(RestApiTest, StatsCountFaultsByKindAndReadAfterWriteMisses) {
  Start();
  const std::string uuid = CreateTextTask("a counted chair");
  ExpectError(Get(absl::StrCat("/tasks/", uuid)), 404, 1006);  // the window
  SetFaults(R"({"routes":{"users_me":{"unavailable_rate":1}}})");
  ExpectError(Get("/users/me"), 503, 5003);
  ExpectError(Get("/users/me"), 503, 5003);
  SetFaults(R"({"routes":{"users_me":{"unavailable_rate":0,)"
            R"("rate_limit_rate":1}}})");
  ExpectError(Get("/users/me"), 429, 2000);
  rapidjson::Document s = Stats();
  EXPECT_EQ(Int(s["faults_by_kind"], "unavailable"), 2);
  EXPECT_EQ(Int(s["faults_by_kind"], "rate_limit"), 1);
  EXPECT_EQ(Int(s["faults_by_kind"], "read_after_write_miss"), 1);
  EXPECT_EQ(Int(s, "faults_injected"), 3);
}

TEST_F(RestApiTest, InvalidClientOrderIdIs400With1004) {
  Start();
  const std::vector<std::string> bad = {
      R"("")",
      absl::StrCat("\"", std::string(65, 'a'), "\""),
      R"("has space")",
      R"("dot.ted")",
      R"("slash/ed")",
      R"("caf\u00e9")",
      "42",
      "true",
  };
  for (const std::string& id : bad) {
    SCOPED_TRACE(id);
    std::string suggestion = ExpectError(
        PostTask(
            "text-to-model",
            absl::StrCat(R"({"prompt":"a chair","client_order_id":)", id, "}")),
        400, 1004);
    EXPECT_THAT(suggestion, HasSubstr("client_order_id"));
  }
  // 64 characters is the longest valid id.
  Create("text-to-model",
         absl::StrCat(R"({"prompt":"a chair",)", R"("client_order_id":")",
                      std::string(64, 'Z'), "\"}"));
  EXPECT_EQ(Int(Stats(), "tasks_created"), 1);
}

TEST_F(RestApiTest, RepeatedClientOrderIdConflictMode) {
  EmulatorOptions o = Options();
  o.engine.repeated_order = RepeatedOrderMode::kConflict;
  Start(o);
  const std::string body = R"({"prompt":"a chair","client_order_id":"o1"})";
  const std::string uuid = CreateUuid("text-to-model", body);
  std::string suggestion =
      ExpectError(PostTask("text-to-model", body), 409, 2005);
  EXPECT_THAT(suggestion, HasSubstr(uuid));
}

TEST_F(RestApiTest, DuplicateWindowAndAllowDuplicate) {
  Start();
  const std::string body = R"({"prompt":"a chair"})";
  const std::string first = CreateUuid("text-to-model", body);
  std::string suggestion =
      ExpectError(PostTask("text-to-model", body), 409, 2005);
  EXPECT_THAT(suggestion, HasSubstr("allow_duplicate"));
  // Defaults spelled out are the same request.
  ExpectError(
      PostTask("text-to-model", R"({"prompt":"a chair","texture_size":1024})"),
      409, 2005);
  // A different request is not a duplicate.
  CreateUuid("text-to-model", R"({"prompt":"a table"})");
  // allow_duplicate creates a second task on purpose.
  const std::string second = CreateUuid(
      "text-to-model", R"({"prompt":"a chair","allow_duplicate":true})");
  EXPECT_NE(second, first);
  ExpectError(PostTask("text-to-model",
                       R"({"prompt":"a chair","allow_duplicate":"yes"})"),
              400, 1004);
  // After the window the same body is a new task again.
  emu_->AdvanceBy(absl::Seconds(10));
  const std::string third = CreateUuid("text-to-model", body);
  EXPECT_NE(third, first);
  EXPECT_NE(third, second);
}

// ------------------------------------------------------------ moderation

TEST_F(RestApiTest, ModerationIs400With2008) {
  Start();
  ExpectError(PostTask("text-to-model", R"({"prompt":"a Forbidden chair"})"),
              400, 2008);
  ExpectError(PostTask("text-to-model",
                       R"({"prompt":"a chair","negative_prompt":"forbidden"})"),
              400, 2008);
  ExpectError(PostTask("image-generation", R"({"prompt":"forbidden art"})"),
              400, 2008);
  ExpectError(UploadImage("forbidden.png", "image/png"), 400, 2008);
  EXPECT_EQ(GetBalance().frozen, 0);
  EXPECT_EQ(Int(Stats(), "tasks_created"), 0);
  // The quote does not run moderation.
  Data(
      Post("/tasks/pricing/quote",
           R"({"flow_name":"text-to-model","params":{"prompt":"forbidden"}})"));
}

// --------------------------------------------------------------- uploads

TEST_F(RestApiTest, UploadImageTypesGiveFileKeys) {
  Start();
  const std::string user = Str(Data(Get("/users/me")), "id");
  const std::string day =
      absl::FormatTime("%Y%m%d", emu_->clock().Now(), absl::UTCTimeZone());
  const std::vector<std::pair<std::string, std::string>> types = {
      {"image/png", "png"}, {"image/jpeg", "jpg"}, {"image/webp", "webp"}};
  std::vector<std::string> keys;
  for (const auto& [type, ext] : types) {
    SCOPED_TRACE(type);
    rapidjson::Document d = Data(UploadImage(absl::StrCat("in.", ext), type));
    EXPECT_EQ(d.MemberCount(), 1u);
    const std::string key = Str(d, "file_key");
    EXPECT_TRUE(Matches(key, absl::StrCat("tasks/uid_", user, "/", day, "/",
                                          kUuidPattern, "\\.", ext)))
        << key;
    keys.push_back(key);
  }
  EXPECT_NE(keys[0], keys[1]);
}

TEST_F(RestApiTest, UploadGifIs400With2004) {
  Start();
  std::string suggestion = ExpectError(
      UploadImage("anim.gif", "image/gif", "GIF89a...."), 400, 2004);
  EXPECT_EQ(suggestion,
            "The provided file type 'image/gif' is not supported. Please use "
            "one of: image/jpeg, image/png, image/webp.");
  HttpResponse r = UploadImage("anim.gif", "image/gif", "GIF89a....");
  EXPECT_EQ(Str(ParseJson(r.body), "message"), "The file type is unsupported.");
}

TEST_F(RestApiTest, UploadMissingFileFieldIs1004) {
  Start();
  HttpResponse r = HttpPostFile(emu_->Api("/upload/image"), "picture", "a.png",
                                "image/png", "png", {Bearer(kKeyA)});
  EXPECT_THAT(ExpectError(r, 400, 1004), HasSubstr("'file'"));
  r = UploadImage("a.png", "image/png", "");
  EXPECT_THAT(ExpectError(r, 400, 1004), HasSubstr("'file'"));
}

TEST_F(RestApiTest, UploadImageOver50MbIs400With1004) {
  Start();
  const std::string too_big(50 * 1024 * 1024 + 1, 'x');
  std::string suggestion =
      ExpectError(UploadImage("big.png", "image/png", too_big), 400, 1004);
  EXPECT_THAT(suggestion, HasSubstr("50 MB"));
  // The refused upload does not count against the upload rate limit.
  EXPECT_EQ(Int(Stats(), "uploads"), 0);
  Data(UploadImage("small.png", "image/png"));
}

TEST_F(RestApiTest, UploadSizeLimitsAreInclusive) {
  EmulatorOptions o = Options();
  o.engine.max_image_bytes = 2 * 1024 * 1024;
  o.engine.max_model_bytes = 3 * 1024 * 1024;
  Start(o);
  const std::string image(2 * 1024 * 1024, 'i');
  Data(UploadImage("ok.png", "image/png", image));
  EXPECT_THAT(
      ExpectError(UploadImage("big.png", "image/png", image + "i"), 400, 1004),
      HasSubstr("2 MB"));
  const std::string model(3 * 1024 * 1024, 'm');
  Data(UploadModel("", "ok.glb", model));
  EXPECT_THAT(ExpectError(UploadModel("", "big.glb", model + "m"), 400, 1004),
              HasSubstr("3 MB"));
  // Far past the limit: refused from the headers, before the body is sent.
  ExpectError(UploadImage("huge.png", "image/png", image + image), 400, 1004);
  EXPECT_EQ(Int(Stats(), "uploads"), 2);
}

// libcurl sends "Expect: 100-continue" for bodies over 1 MB and holds the
// body back until the interim response (or a 1 s timer): the emulator must
// answer it before it has any of the body.
TEST_F(RestApiTest, ExpectContinueIsAnsweredBeforeTheBody) {
  Start();
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(emu_->emulator().port()));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  const std::string head =
      absl::StrCat("POST /api/v1/upload/image HTTP/1.1\r\nHost: 127.0.0.1\r\n",
                   "Authorization: Bearer ", kKeyA, "\r\n",
                   "Content-Type: multipart/form-data; boundary=b\r\n",
                   "Content-Length: 2000000\r\nExpect: 100-continue\r\n\r\n");
  ASSERT_EQ(send(fd, head.data(), head.size(), 0),
            static_cast<ssize_t>(head.size()));
  // Wait (bounded) for the interim response; no byte of the body is sent.
  std::string got;
  while (got.find("\r\n\r\n") == std::string::npos) {
    pollfd pfd{fd, POLLIN, 0};
    ASSERT_EQ(poll(&pfd, 1, 10000), 1) << "no interim response: " << got;
    char buf[256];
    const ssize_t n = recv(fd, buf, sizeof(buf), 0);
    ASSERT_GT(n, 0);
    got.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  EXPECT_THAT(got, StartsWith("HTTP/1.1 100 Continue\r\n"));
}

TEST_F(RestApiTest, UploadModelVariantsAndExtensions) {
  Start();
  for (const char* query :
       {"", "?modelVariant=geometry", "?modelVariant=textured"}) {
    SCOPED_TRACE(query);
    const std::string key =
        Str(Data(UploadModel(query, "mesh.glb")), "file_key");
    EXPECT_THAT(key, StartsWith("tasks/uid_"));
    EXPECT_TRUE(absl::EndsWith(key, ".glb")) << key;
  }
  const std::string obj =
      Str(Data(UploadModel("?modelVariant=geometry", "Mesh.OBJ")), "file_key");
  EXPECT_TRUE(absl::EndsWith(obj, ".obj")) << obj;

  EXPECT_THAT(
      ExpectError(UploadModel("?modelVariant=rigged", "mesh.glb"), 400, 1004),
      HasSubstr("modelVariant"));
  ExpectError(UploadModel("?modelVariant=", "mesh.glb"), 400, 1004);
  EXPECT_THAT(ExpectError(UploadModel("", "mesh.exe"), 400, 2004),
              HasSubstr(".glb"));
  ExpectError(UploadModel("?modelVariant=textured", "mesh"), 400, 2004);
}

TEST_F(RestApiTest, UploadRateLimitTenPerMinute) {
  Start();
  for (int i = 0; i < 10; ++i) {
    SCOPED_TRACE(i);
    HttpResponse r = i % 2 == 0 ? UploadImage("a.png", "image/png")
                                : UploadModel("", "m.glb");
    Data(r);
    emu_->AdvanceBy(absl::Seconds(1));
  }
  // The 11th within 60 s, image or model, is refused until the first ages
  // out.
  HttpResponse r = UploadImage("a.png", "image/png");
  ExpectError(r, 429, 2000);
  EXPECT_EQ(r.header("retry-after"), "50");
  r = UploadModel("", "m.glb");
  ExpectError(r, 429, 2000);
  EXPECT_EQ(r.header("retry-after"), "50");
  // Other keys have their own budget.
  Data(UploadImage("a.png", "image/png", "png", kKeyB));

  emu_->AdvanceBy(absl::Seconds(49));
  ExpectError(UploadImage("a.png", "image/png"), 429, 2000);
  emu_->AdvanceBy(absl::Seconds(1));  // 60 s after the first upload
  Data(UploadImage("a.png", "image/png"));
  ExpectError(UploadImage("a.png", "image/png"), 429, 2000);
  emu_->AdvanceBy(absl::Seconds(60));
  Data(UploadImage("a.png", "image/png"));
}

TEST_F(RestApiTest, UploadRateLimitRetryAfterWhenAllAtOnce) {
  Start();
  for (int i = 0; i < 10; ++i) Data(UploadImage("a.png", "image/png"));
  HttpResponse r = UploadImage("a.png", "image/png");
  ExpectError(r, 429, 2000);
  EXPECT_EQ(r.header("retry-after"), "60");
  emu_->AdvanceBy(absl::Seconds(60));
  Data(UploadImage("a.png", "image/png"));
}

TEST_F(RestApiTest, TasksReferenceUploadedFileKeys) {
  Start();
  const std::string image =
      Str(Data(UploadImage("in.png", "image/png")), "file_key");
  const std::string model =
      Str(Data(UploadModel("?modelVariant=geometry", "m.glb")), "file_key");
  const std::string uuid = CreateUuid(
      "image-to-model", absl::StrCat(R"({"image_file":")", image, R"("})"));
  rapidjson::Document t = TaskData(uuid);
  EXPECT_EQ(Str(Member(t, "input"), "image_url"), image);
  CreateUuid("texture-model",
             absl::StrCat(R"({"image_file":")", image, R"(","model_file":")",
                          model, R"("})"));
  RunToCompletion();
  EXPECT_EQ(StatusOf(uuid), "SUCCESS");

  // Unknown keys, and another user's keys, are invalid parameters.
  const std::string unknown = "tasks/uid_nobody/20260527/missing.png";
  EXPECT_THAT(
      ExpectError(PostTask("image-to-model", absl::StrCat(R"({"image_file":")",
                                                          unknown, R"("})")),
                  400, 1004),
      HasSubstr("'image_file'"));
  EXPECT_THAT(
      ExpectError(PostTask("model-remesh",
                           absl::StrCat(R"({"model_file":")", model, R"(x"})")),
                  400, 1004),
      HasSubstr("'model_file'"));
  ExpectError(
      PostTask("image-to-model",
               absl::StrCat(R"({"image_file":")", image, R"("})"), kKeyB),
      400, 1004);
}

// --------------------------------------------------------------- pricing

TEST_F(RestApiTest, PricingQuoteIsReadOnly) {
  Start();
  rapidjson::Document q =
      Data(Post("/tasks/pricing/quote", R"({"flow_name":"image-to-model"})"));
  EXPECT_EQ(Str(q, "flow_name"), "image-to-model");
  EXPECT_TRUE(Member(q, "params").IsObject());
  EXPECT_EQ(Int(Member(q, "params"), "texture_size"), 1024);
  EXPECT_EQ(Int(q, "cost_credits"), 120);
  EXPECT_EQ(Int(q, "available_credits"), 1000);
  for (const char* absent :
       {"can_execute", "missing_credits", "queue", "breakdown"}) {
    EXPECT_FALSE(Has(q, absent)) << absent;
  }
  for (int i = 0; i < 3; ++i) {
    Data(Post("/tasks/pricing/quote", R"({"flow_name":"image-to-model"})"));
  }
  const Balance b = GetBalance();
  EXPECT_EQ(b.balance, 1000);
  EXPECT_EQ(b.frozen, 0);
  EXPECT_EQ(Int(Stats(), "tasks_created"), 0);
}

TEST_F(RestApiTest, PricingQuoteAliasSurfaceAndUnknownParams) {
  Start();
  const std::string params =
      R"({"texture_size":2048,"bogus":1,"prompt":"x","image_file":"tasks/a",)"
      R"("pricing_snapshot":{"a":1}})";
  HttpResponse snake = Post(
      "/tasks/pricing/quote",
      absl::StrCat(R"({"flow_name":"image-to-model","params":)", params, "}"));
  HttpResponse camel =
      Post("/tasks/pricing/quote",
           absl::StrCat(R"({"flowName":"image-to-model","params":)", params,
                        R"(,"surface":"web"})"));
  rapidjson::Document a = Data(snake);
  rapidjson::Document b = Data(camel);
  EXPECT_EQ(snake.body, camel.body);
  EXPECT_EQ(Str(b, "flow_name"), "image-to-model");
  const rapidjson::Value& p = Member(b, "params");
  EXPECT_EQ(Int(p, "texture_size"), 2048);
  for (const char* dropped :
       {"bogus", "prompt", "image_file", "pricing_snapshot"}) {
    EXPECT_FALSE(Has(p, dropped)) << dropped;
  }
  const int64_t cost = Int(b, "cost_credits");
  EXPECT_GT(cost, 120);  // a bigger texture costs more

  // The quote matches what creation freezes, and tracks the balance.
  rapidjson::Document c =
      Create("image-to-model", absl::StrCat(R"({"image_file":")", kImageUrl,
                                            R"(","texture_size":2048})"));
  EXPECT_EQ(Int(c, "cost_credits"), cost);
  rapidjson::Document after = Data(
      Post("/tasks/pricing/quote",
           R"({"flowName":"model-remesh","surface":"api","params":{"x":1}})"));
  EXPECT_EQ(Int(after, "available_credits"), 1000 - cost);
  EXPECT_FALSE(Has(Member(after, "params"), "x"));
}

TEST_F(RestApiTest, PricingQuoteErrors) {
  Start();
  EXPECT_THAT(ExpectError(Post("/tasks/pricing/quote", "{}"), 400, 1004),
              HasSubstr("flow_name"));
  ExpectError(Post("/tasks/pricing/quote", R"({"flow_name":"nope"})"), 400,
              2002);
  ExpectError(Post("/tasks/pricing/quote",
                   R"({"flow_name":"image-to-model","params":[1]})"),
              400, 1004);
  ExpectError(HttpPost(emu_->Api("/tasks/pricing/quote"),
                       R"({"flow_name":"image-to-model"})"),
              401, 401);
}

// ------------------------------------------------------------- downloads

TEST_F(RestApiTest, DownloadsBeforeSuccessAre409With2005) {
  Start();
  const std::string uuid = CreateTextTask("a chair");
  for (absl::Duration d :
       {absl::ZeroDuration(), absl::Milliseconds(600), absl::Seconds(3)}) {
    emu_->AdvanceBy(d);
    SCOPED_TRACE(StatusOf(uuid));
    ExpectError(Get(absl::StrCat("/tasks/url/", uuid)), 409, 2005);
    ExpectError(Get(absl::StrCat("/tasks/download/", uuid)), 409, 2005);
  }
}

TEST_F(RestApiTest, DownloadAfterSuccess) {
  Start();
  const std::string uuid = CreateUuid(
      "image-to-model", absl::StrCat(R"({"image_file":")", kImageUrl, R"("})"));
  RunToCompletion();
  ASSERT_EQ(StatusOf(uuid), "SUCCESS");

  rapidjson::Document u = Data(Get(absl::StrCat("/tasks/url/", uuid)));
  const std::string download_url = Str(u, "download_url");
  EXPECT_THAT(download_url,
              StartsWith(emu_->Url(absl::StrCat("/assets/", uuid, "/"))));
  EXPECT_THAT(Str(u, "preview_url"), StartsWith(emu_->Url("/assets/")));
  EXPECT_TRUE(Matches(Str(u, "asset_id"), kUuidPattern));
  EXPECT_EQ(Str(u, "kind"), "model");

  HttpResponse d = Get(absl::StrCat("/tasks/download/", uuid));
  ASSERT_EQ(d.status, 200) << d.body.substr(0, 200);
  EXPECT_EQ(d.transport_error, "");
  EXPECT_EQ(d.header("content-type"), "application/octet-stream");
  EXPECT_EQ(d.header("content-disposition"),
            absl::StrCat("attachment; filename=\"", uuid, ".glb\""));
  ASSERT_GE(d.body.size(), 20u);
  EXPECT_EQ(d.body.substr(0, 4), "glTF");
  const auto u32 = [&](size_t at) {
    uint32_t v = 0;
    for (int i = 3; i >= 0; --i) {
      v = (v << 8) | static_cast<uint8_t>(d.body[at + i]);
    }
    return v;
  };
  EXPECT_EQ(u32(4), 2u);             // glTF version
  EXPECT_EQ(u32(8), d.body.size());  // total length
  EXPECT_EQ(u32(16), 0x4E4F534Au);   // first chunk: JSON

  // The signed URL needs no API key and serves the same bytes.
  HttpResponse asset = HttpGet(download_url);
  ASSERT_EQ(asset.status, 200) << asset.body;
  EXPECT_EQ(asset.body, d.body);
  EXPECT_EQ(asset.header("content-type"), "model/gltf-binary");
  // So do the URLs of the status payload.
  rapidjson::Document t = TaskData(uuid);
  const rapidjson::Value& textured =
      Member(Member(t, "output"), "textured_model_url");
  ASSERT_TRUE(textured.IsArray() && textured.Size() == 1);
  EXPECT_EQ(HttpGet(textured[0].GetString()).body, d.body);
  HttpResponse preview = HttpGet(Str(u, "preview_url"));
  EXPECT_EQ(preview.status, 200);
  EXPECT_EQ(preview.body.substr(0, 8), "\x89PNG\r\n\x1a\n");
}

TEST_F(RestApiTest, DownloadFilenameExtensionIsInferred) {
  Start();
  const std::string obj = CreateUuid(
      "convert-model-format", absl::StrCat(R"({"model_file":")", kModelUrl,
                                           R"(","export_format":"obj"})"));
  const std::string png = CreateUuid("image-generation", R"({"prompt":"cat"})");
  RunToCompletion();
  HttpResponse d = Get(absl::StrCat("/tasks/download/", obj));
  EXPECT_EQ(d.status, 200);
  EXPECT_EQ(d.header("content-disposition"),
            absl::StrCat("attachment; filename=\"", obj, ".obj\""));
  EXPECT_EQ(d.header("content-type"), "application/octet-stream");
  d = Get(absl::StrCat("/tasks/download/", png));
  EXPECT_EQ(d.status, 200);
  EXPECT_EQ(d.header("content-disposition"),
            absl::StrCat("attachment; filename=\"", png, ".png\""));
  EXPECT_EQ(d.body.substr(0, 8), "\x89PNG\r\n\x1a\n");
  EXPECT_EQ(Str(Data(Get(absl::StrCat("/tasks/url/", png))), "kind"), "image");
}

TEST_F(RestApiTest, AssetUrlsExpireAndAreSigned) {
  Start();
  const std::string uuid = CreateTextTask("a chair");
  RunToCompletion();
  const std::string url =
      Str(Data(Get(absl::StrCat("/tasks/url/", uuid))), "download_url");
  ASSERT_EQ(HttpGet(url).status, 200);

  // A tampered signature, a missing one, or another file under the same
  // signature: 403.
  std::string tampered = url;
  tampered.back() = tampered.back() == '0' ? '1' : '0';
  EXPECT_EQ(HttpGet(tampered).status, 403);
  EXPECT_EQ(HttpGet(url.substr(0, url.find("&signature="))).status, 403);
  std::string other = url;
  other.replace(other.find("textured_model_0.glb"),
                std::string("textured_model_0.glb").size(),
                "textureless_model_0.glb");
  EXPECT_EQ(HttpGet(other).status, 403);
  std::string later_expiry = url;
  const size_t e = later_expiry.find("expires=") + 8;
  later_expiry.replace(e, 1, later_expiry[e] == '9' ? "8" : "9");
  EXPECT_EQ(HttpGet(later_expiry).status, 403);

  emu_->AdvanceBy(absl::Hours(1) - absl::Seconds(1));
  EXPECT_EQ(HttpGet(url).status, 200);
  emu_->AdvanceBy(absl::Seconds(2));
  HttpResponse expired = HttpGet(url);
  EXPECT_EQ(expired.status, 403);
  EXPECT_THAT(expired.body, HasSubstr("expired"));
  // A fresh URL works again.
  const std::string fresh =
      Str(Data(Get(absl::StrCat("/tasks/url/", uuid))), "download_url");
  EXPECT_NE(fresh, url);
  EXPECT_EQ(HttpGet(fresh).status, 200);
}

TEST_F(RestApiTest, AssetUrlTtlIsConfigurable) {
  EmulatorOptions o = Options();
  o.engine.asset_url_ttl = absl::Minutes(5);
  Start(o);
  const std::string uuid = CreateTextTask("a chair");
  RunToCompletion();
  const std::string url =
      Str(Data(Get(absl::StrCat("/tasks/url/", uuid))), "download_url");
  EXPECT_EQ(HttpGet(url).status, 200);
  emu_->AdvanceBy(absl::Minutes(5) + absl::Seconds(1));
  EXPECT_EQ(HttpGet(url).status, 403);
}

TEST_F(RestApiTest, AssetsGoneAfterRetention) {
  Start();
  const std::string uuid = CreateTextTask("a chair");
  RunToCompletion();
  const std::string url =
      Str(Data(Get(absl::StrCat("/tasks/url/", uuid))), "download_url");
  emu_->AdvanceBy(absl::Hours(24 * 7) - absl::Seconds(1));
  Data(Get(absl::StrCat("/tasks/url/", uuid)));
  emu_->AdvanceBy(absl::Seconds(2));
  ExpectError(Get(absl::StrCat("/tasks/url/", uuid)), 404, 1005);
  ExpectError(Get(absl::StrCat("/tasks/download/", uuid)), 404, 1005);
  EXPECT_EQ(HttpGet(url).status, 403);  // long expired anyway
  // The task itself is still visible.
  EXPECT_EQ(StatusOf(uuid), "SUCCESS");
}

TEST_F(RestApiTest, SuccessWithoutAssetsIs404With4042) {
  Start();
  SetFaults(R"({"tasks":{"no_assets_rate":1}})");
  rapidjson::Document c = Create("text-to-model", R"({"prompt":"a chair"})");
  const std::string uuid = Str(c, "task_uuid");
  RunToCompletion();
  rapidjson::Document t = TaskData(uuid);
  EXPECT_EQ(Str(t, "status"), "SUCCESS");
  const rapidjson::Value& output = Member(t, "output");
  EXPECT_TRUE(output.IsObject() && output.MemberCount() == 0) << ToJson(t);
  ExpectError(Get(absl::StrCat("/tasks/url/", uuid)), 404, 4042);
  ExpectError(Get(absl::StrCat("/tasks/download/", uuid)), 404, 4042);
  // Still a success: the credits were spent.
  EXPECT_EQ(GetBalance().balance, 1000 - Int(c, "cost_credits"));
}

// ------------------------------------------------------------ own models

TEST_F(RestApiTest, OwnModelsPaginatedNewestFirst) {
  Start();
  const std::string first = CreateUuid(
      "image-to-model", absl::StrCat(R"({"image_file":")", kImageUrl, R"("})"));
  RunToCompletion();
  const std::string second = CreateTextTask("a table");
  emu_->AdvanceBy(absl::Seconds(1));
  const std::string third = CreateTextTask("a lamp");
  CreateTextTask("for key b", kKeyB);

  rapidjson::Document p1 =
      Data(Get("/platform/generate/own-models?current=1&size=2"));
  EXPECT_EQ(Int(p1, "total"), 3);
  EXPECT_EQ(Int(p1, "pages"), 2);
  EXPECT_EQ(Int(p1, "current"), 1);
  EXPECT_EQ(Int(p1, "size"), 2);
  const rapidjson::Value& r1 = Member(p1, "records");
  ASSERT_TRUE(r1.IsArray());
  ASSERT_EQ(r1.Size(), 2u);
  EXPECT_EQ(Str(r1[0], "task_uuid"), third);
  EXPECT_EQ(Str(r1[1], "task_uuid"), second);
  EXPECT_EQ(Str(r1[0], "status"), "PENDING");
  EXPECT_TRUE(IsNull(r1[0], "started_at"));
  EXPECT_TRUE(IsNull(r1[0], "textured_model_url"));
  EXPECT_TRUE(IsNull(r1[0], "assets"));

  rapidjson::Document p2 =
      Data(Get("/platform/generate/own-models?current=2&size=2"));
  const rapidjson::Value& r2 = Member(p2, "records");
  ASSERT_TRUE(r2.IsArray());
  ASSERT_EQ(r2.Size(), 1u);
  const rapidjson::Value& rec = r2[0];
  EXPECT_EQ(Str(rec, "task_uuid"), first);
  EXPECT_EQ(Str(rec, "flow_name"), "image-to-model");
  EXPECT_EQ(Str(rec, "status"), "SUCCESS");
  EXPECT_EQ(Str(rec, "created_at"), Timestamp(t0_));
  EXPECT_TRUE(Member(rec, "name").IsString());
  EXPECT_FALSE(Bool(rec, "is_public"));
  EXPECT_TRUE(Matches(Str(rec, "started_at"), kTimestampPattern));
  EXPECT_TRUE(Matches(Str(rec, "completed_at"), kTimestampPattern));
  for (const char* field :
       {"geometry_model_url", "textured_model_url", "preprocessed_image_url"}) {
    const rapidjson::Value& urls = Member(rec, field);
    EXPECT_TRUE(urls.IsArray() && urls.Size() >= 1) << field;
  }
  const rapidjson::Value& assets = Member(rec, "assets");
  ASSERT_TRUE(assets.IsArray());
  ASSERT_GE(assets.Size(), 1u);
  EXPECT_TRUE(Matches(Str(assets[0], "asset_id"), kUuidPattern));
  EXPECT_FALSE(Str(assets[0], "kind").empty());
  EXPECT_EQ(Str(Member(rec, "request_payload"), "image_url"), kImageUrl);
  for (const char* internal : {"user_id", "flowRunId", "pricing_snapshot",
                               "rawPrefectState", "cost_credits"}) {
    EXPECT_FALSE(Has(rec, internal)) << internal;
  }

  // Past the end: no records. Defaults: page 1 of 10.
  rapidjson::Document p3 =
      Data(Get("/platform/generate/own-models?current=3&size=2"));
  EXPECT_EQ(Member(p3, "records").Size(), 0u);
  rapidjson::Document all = Data(Get("/platform/generate/own-models"));
  EXPECT_EQ(Int(all, "current"), 1);
  EXPECT_EQ(Int(all, "size"), 10);
  EXPECT_EQ(Int(all, "pages"), 1);
  EXPECT_EQ(Member(all, "records").Size(), 3u);
  // Each key lists only its own tasks.
  rapidjson::Document b = Data(Get("/platform/generate/own-models", kKeyB));
  EXPECT_EQ(Int(b, "total"), 1);

  ExpectError(Get("/platform/generate/own-models?current=0"), 400, 1004);
  ExpectError(Get("/platform/generate/own-models?size=101"), 400, 1004);
  ExpectError(Get("/platform/generate/own-models?size=x"), 400, 1004);
}

// ---------------------------------------------------------------- legacy

class LegacyRestApiTest : public RestApiTest {
 protected:
  void SetUp() override {
    EmulatorOptions o = Options();
    o.engine.legacy = true;
    Start(o);
  }
};

TEST_F(LegacyRestApiTest, CreationPayloadHasTheOlderShape) {
  rapidjson::Document c =
      Create("image-to-model", absl::StrCat(R"({"image_file":")", kImageUrl,
                                            R"(","polygon_limit":10000000})"));
  const std::string uuid = Str(c, "task_uuid");
  EXPECT_TRUE(Matches(uuid, kUuidPattern));
  EXPECT_GT(Int(c, "costCredits"), 0);
  EXPECT_FALSE(Has(c, "cost_credits"));
  EXPECT_TRUE(Member(c, "name").IsString());
  EXPECT_FALSE(Bool(c, "is_public"));
  EXPECT_EQ(Int(c, "task_priority"), 0);
  EXPECT_EQ(Str(c, "status"), "PENDING");
  EXPECT_EQ(Str(c, "flow_name"), "image-to-model");
  EXPECT_EQ(Str(c, "created_at"), Timestamp(t0_));
  const rapidjson::Value& input = Member(c, "input");
  EXPECT_EQ(Str(input, "image_url"), kImageUrl);
  EXPECT_EQ(Int(input, "polygon_limit"), 10000000);
  for (const char* absent : {"queue", "read_after_write_deadline_seconds",
                             "read_after_write_header"}) {
    EXPECT_FALSE(Has(c, absent)) << absent;
  }
  EXPECT_EQ(GetBalance().frozen, Int(c, "costCredits"));
}

TEST_F(LegacyRestApiTest, PolygonLimitUpTo10Million) {
  Create("text-to-model", R"({"prompt":"a chair","polygon_limit":10000000})");
  Create("text-to-model", R"({"prompt":"a chair","polygon_limit":1500001})");
  EXPECT_THAT(
      ExpectError(PostTask("text-to-model", R"({"prompt":"a chair",)"
                                            R"("polygon_limit":10000001})"),
                  400, 1004),
      HasSubstr("'polygon_limit'"));
  ExpectError(
      PostTask("text-to-model", R"({"prompt":"a chair","polygon_limit":999})"),
      400, 1004);
}

TEST_F(LegacyRestApiTest, LifecycleHasNoQueuedAndSubJobStatuses) {
  const std::string uuid = CreateUuid(
      "image-to-model", absl::StrCat(R"({"image_file":")", kImageUrl, R"("})"));
  std::vector<std::string> seen;
  bool saw_geometry_done_while_running = false;
  for (int i = 0; i <= 48; ++i) {
    // No read-after-write lag in the older API.
    rapidjson::Document t = Data(Get(absl::StrCat("/tasks/", uuid)));
    EXPECT_EQ(Str(t, "taskId"), uuid);
    EXPECT_FALSE(Has(t, "task_uuid"));
    const std::string status = Str(t, "status");
    if (seen.empty() || seen.back() != status) seen.push_back(status);
    const rapidjson::Value& output = Member(t, "output");
    const std::string geometry = Str(output, "geometry_job_status");
    const std::string texture = Str(output, "texture_job_status");
    if (status == "PENDING") {
      EXPECT_EQ(geometry, "PENDING");
      EXPECT_EQ(texture, "PENDING");
    } else if (status == "RUNNING") {
      EXPECT_THAT(geometry, ::testing::AnyOf("IN_PROGRESS", "COMPLETED"));
      EXPECT_EQ(texture, "IN_PROGRESS");
      if (geometry == "COMPLETED") saw_geometry_done_while_running = true;
    } else if (status == "SUCCESS") {
      EXPECT_EQ(geometry, "COMPLETED");
      EXPECT_EQ(texture, "COMPLETED");
      EXPECT_EQ(Int(t, "progress"), 100);
      EXPECT_TRUE(Member(output, "textured_model_url").IsArray());
    }
    emu_->AdvanceBy(absl::Milliseconds(250));
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"PENDING", "RUNNING", "SUCCESS"}));
  EXPECT_TRUE(saw_geometry_done_while_running);

  HttpResponse d = Get(absl::StrCat("/tasks/download/", uuid));
  EXPECT_EQ(d.status, 200);
  EXPECT_EQ(d.header("content-disposition"),
            absl::StrCat("attachment; filename=\"", uuid, ".glb\""));
  EXPECT_EQ(d.body.substr(0, 4), "glTF");
}

// ---------------------------------------------------------------- faults

TEST_F(RestApiTest, FaultUnavailableIs503With5003) {
  Start();
  const std::string uuid = CreateTextTask("a chair");
  SetFaults(R"({"routes":{"get_task":{"unavailable_rate":1}}})");
  ExpectError(Get(absl::StrCat("/tasks/", uuid), kKeyA, {kConsistentRead}), 503,
              5003);
  // Other routes are unaffected.
  Data(Get("/users/me"));
  ExpectError(Get(absl::StrCat("/tasks/url/", uuid)), 409, 2005);
  SetFaults(R"({"reset":true})");
  Data(Get(absl::StrCat("/tasks/", uuid), kKeyA, {kConsistentRead}));
}

TEST_F(RestApiTest, FaultInternalErrorIs500With5005) {
  Start();
  SetFaults(R"({"routes":{"users_balance":{"internal_error_rate":1}}})");
  ExpectError(Get("/users/balance"), 500, 5005);
  Data(Get("/users/me"));
}

TEST_F(RestApiTest, FaultOnCreateDoesNotCreateOrFreeze) {
  Start();
  SetFaults(R"({"routes":{"create_task":{"unavailable_rate":1}}})");
  ExpectError(PostTask("text-to-model", R"({"prompt":"a chair"})"), 503, 5003);
  EXPECT_EQ(GetBalance().frozen, 0);
  EXPECT_EQ(Int(Stats(), "tasks_created"), 0);
}

TEST_F(RestApiTest, FaultRateLimitIs429WithRetryAfter) {
  Start();
  SetFaults(
      R"({"routes":{"users_me":{"rate_limit_rate":1,"retry_after_seconds":7}}})");
  HttpResponse r = Get("/users/me");
  ExpectError(r, 429, 2000);
  EXPECT_EQ(r.header("retry-after"), "7");
}

TEST_F(RestApiTest, FaultTruncateGivesAPartialBody) {
  Start();
  SetFaults(R"({"routes":{"users_me":{"truncate_rate":1}}})");
  HttpResponse r = Get("/users/me");
  EXPECT_NE(r.transport_error, "") << r.body;
  EXPECT_TRUE(ParseJson(r.body).HasParseError()) << r.body;
  SetFaults(R"({"reset":true})");
  Data(Get("/users/me"));
}

TEST_F(RestApiTest, FaultHangMakesTheClientTimeOut) {
  Start();
  SetFaults(R"({"routes":{"users_me":{"hang_rate":1}}})");
  HttpResponse r =
      HttpGet(emu_->Api("/users/me"), {Bearer(kKeyA)}, absl::Milliseconds(300));
  EXPECT_NE(r.transport_error, "");
  EXPECT_EQ(r.status, 0);
  // The emulator keeps serving.
  SetFaults(R"({"reset":true})");
  Data(Get("/users/me"));
}

TEST_F(RestApiTest, FaultLatencyDelaysTheResponse) {
  Start();
  SetFaults(R"({"routes":{"users_me":{"latency_ms":150}}})");
  const absl::Time start = absl::Now();
  Data(Get("/users/me"));
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(150));
}

TEST_F(RestApiTest, FaultWildcardSparesTheControlPlane) {
  Start();
  SetFaults(R"({"routes":{"*":{"unavailable_rate":1}}})");
  ExpectError(Get("/users/me"), 503, 5003);
  ExpectError(Post("/tasks/pricing/quote", R"({"flow_name":"text-to-model"})"),
              503, 5003);
  EXPECT_EQ(HttpGet(emu_->Url("/_emulator/stats")).status, 200);
  SetFaults(R"({"reset":true})");
  Data(Get("/users/me"));
}

TEST_F(RestApiTest, FaultsSetAtStartUp) {
  EmulatorOptions o = Options();
  o.faults.routes["users_me"].rate_limit_rate = 1;
  o.faults.routes["users_me"].retry_after_seconds = 3;
  Start(o);
  HttpResponse r = Get("/users/me");
  ExpectError(r, 429, 2000);
  EXPECT_EQ(r.header("retry-after"), "3");
  rapidjson::Document f =
      ParseJson(HttpGet(emu_->Url("/_emulator/faults")).body);
  EXPECT_EQ(Num(Member(Member(f, "routes"), "users_me"), "rate_limit_rate"), 1);
  Data(Get("/users/balance"));
}

std::vector<long> FaultSequence(TestEmulator& emu, int n) {
  std::vector<long> out;
  for (int i = 0; i < n; ++i) {
    out.push_back(HttpGet(emu.Api("/users/me"), {Bearer(kKeyA)}).status);
  }
  return out;
}

TEST_F(RestApiTest, FaultsAreDeterministicForASeed) {
  EmulatorOptions o = Options();
  o.faults.seed = 42;
  o.faults.routes["users_me"].unavailable_rate = 0.5;
  Start(o);
  const std::vector<long> first = FaultSequence(*emu_, 24);
  EXPECT_THAT(first, ::testing::Contains(200));
  EXPECT_THAT(first, ::testing::Contains(503));
  EXPECT_THAT(first, ::testing::Each(::testing::AnyOf(200, 503)));

  // The same settings given over HTTP to a fresh emulator: same sequence,
  // even with other routes' requests interleaved.
  Start();
  SetFaults(R"({"seed":42,"routes":{"users_me":{"unavailable_rate":0.5},)"
            R"("users_balance":{"unavailable_rate":0.5}}})");
  std::vector<long> second;
  for (int i = 0; i < 24; ++i) {
    second.push_back(Get("/users/me").status);
    Get("/users/balance");
  }
  EXPECT_EQ(second, first);

  // Another seed: another sequence.
  Start();
  SetFaults(R"({"seed":43,"routes":{"users_me":{"unavailable_rate":0.5}}})");
  EXPECT_NE(FaultSequence(*emu_, 24), first);
}

TEST_F(RestApiTest, InvalidFaultJsonIs400NamingTheKey) {
  Start();
  struct Case {
    std::string json;
    std::string key;
  };
  const std::vector<Case> cases = {
      {R"({"routes":{"get_task":{"unavailable_rate":2}}})",
       "faults.routes.get_task.unavailable_rate"},
      {R"({"routes":{"get_task":{"bogus_rate":1}}})",
       "faults.routes.get_task.bogus_rate"},
      {R"({"routes":{"get_task":{"latency_ms":-5}}})",
       "faults.routes.get_task.latency_ms"},
      {R"({"tasks":{"failure_rate":"all"}})", "faults.tasks.failure_rate"},
      {R"({"websocket":{"drop_after_frames":true}})",
       "faults.websocket.drop_after_frames"},
      {R"({"nope":1})", "faults.nope"},
      {R"({"seed":-1})", "faults.seed"},
      {R"({"routes":{"users_me":{"unavailable_rate":1},"x":{"y":1}}})",
       "faults.routes.x.y"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.json);
    EXPECT_THAT(ExpectError(Control("/_emulator/faults", c.json), 400, 1004),
                HasSubstr(c.key));
  }
  ExpectError(Control("/_emulator/faults", "{not json"), 400, 1004);
  // Nothing was applied, not even the valid half of the last case.
  Data(Get("/users/me"));
  rapidjson::Document f =
      ParseJson(HttpGet(emu_->Url("/_emulator/faults")).body);
  EXPECT_EQ(Member(f, "routes").MemberCount(), 0u) << ToJson(f);
}

// ------------------------------------------------------------ stats, log

TEST_F(RestApiTest, StatsCountRequestsTasksAndWebSockets) {
  Start();
  rapidjson::Document s = Stats();
  EXPECT_EQ(Int(Member(s, "websocket"), "open"), 0);
  EXPECT_EQ(Int(Member(s, "websocket"), "total"), 0);

  Data(Get("/users/me"));
  Data(Get("/users/me"));
  Data(Get("/users/balance"));
  const std::string a = CreateTextTask("a chair");
  const std::string b = CreateTextTask("a table");
  ExpectError(Get(absl::StrCat("/tasks/", a)), 404, 1006);
  s = Stats();
  const rapidjson::Value& requests = Member(s, "http_requests");
  EXPECT_EQ(Int(requests, "users_me"), 2);
  EXPECT_EQ(Int(requests, "users_balance"), 1);
  EXPECT_EQ(Int(requests, "create_task"), 2);
  EXPECT_EQ(Int(requests, "get_task"), 1);
  EXPECT_EQ(Int(Member(s, "tasks"), "PENDING"), 2);
  EXPECT_EQ(Int(Member(s, "tasks"), "SUCCESS"), 0);
  EXPECT_EQ(Int(s, "tasks_created"), 2);

  emu_->AdvanceBy(absl::Seconds(3));
  Control(absl::StrCat("/_emulator/tasks/", b, "/cancel"), "");
  s = Stats();
  EXPECT_EQ(Int(Member(s, "tasks"), "PENDING"), 0);
  EXPECT_EQ(Int(Member(s, "tasks"), "RUNNING"), 1);
  EXPECT_EQ(Int(Member(s, "tasks"), "CANCELLED"), 1);

  // A watch socket: open while connected, counted in the total.
  long status = 0;
  auto ws = WebSocketClient::Connect(
      emu_->Ws(absl::StrCat("/tasks/watch/", a, "?token=", kKeyA)), &status);
  ASSERT_NE(ws, nullptr) << status;
  ASSERT_TRUE(ws->Next().has_value());  // the snapshot: the session is live
  s = Stats();
  EXPECT_EQ(Int(Member(s, "websocket"), "open"), 1);
  EXPECT_EQ(Int(Member(s, "websocket"), "total"), 1);
  EXPECT_EQ(Int(Member(s, "http_requests"), "ws_watch_task"), 1);

  RunToCompletion();
  while (ws->Next().has_value()) {
  }
  ws.reset();
  s = Stats();
  EXPECT_EQ(Int(Member(s, "tasks"), "SUCCESS"), 1);
  EXPECT_EQ(Int(Member(s, "websocket"), "total"), 1);
  EXPECT_TRUE(Eventually(
      [&] { return Int(Member(Stats(), "websocket"), "open") == 0; }));
}

TEST_F(RestApiTest, RequestLogHasOneLinePerRequestAndNoKey) {
  Start();
  constexpr char kBadKey[] = "sk-very-secret-wrong-key";
  int requests = 0;
  Data(Get("/users/me"));
  ++requests;
  ExpectError(Get("/users/me", kBadKey), 401, 401);
  ++requests;
  const std::string uuid = CreateTextTask("a chair");
  ++requests;
  ExpectError(Get(absl::StrCat("/tasks/", uuid), kKeyB, {kConsistentRead}), 404,
              1006);
  ++requests;
  Data(UploadImage("a.png", "image/png"));
  ++requests;
  HttpGet(emu_->Url("/_emulator/stats"));
  ++requests;
  HttpGet(emu_->Api(absl::StrCat("/tasks/", uuid, "?token=", kKeyA)));
  ++requests;
  long status = 0;
  auto ws = WebSocketClient::Connect(
      emu_->Ws(absl::StrCat("/tasks/watch/all?token=", kKeyA)), &status);
  ASSERT_NE(ws, nullptr) << status;
  ++requests;
  ws.reset();

  const std::vector<std::string> lines = emu_->LogLines();
  ASSERT_EQ(static_cast<int>(lines.size()), requests)
      << ::testing::PrintToString(lines);
  for (const std::string& line : lines) {
    EXPECT_THAT(line, Not(HasSubstr(kKeyA))) << line;
    EXPECT_THAT(line, Not(HasSubstr(kKeyB))) << line;
    EXPECT_THAT(line, Not(HasSubstr(kBadKey))) << line;
    EXPECT_THAT(line, Not(HasSubstr("token"))) << line;
  }
  EXPECT_THAT(lines[0], HasSubstr("/api/v1/users/me"));
  EXPECT_THAT(lines[0], HasSubstr(" 200 "));
  EXPECT_THAT(lines[0], HasSubstr("key#1"));
  EXPECT_THAT(lines[1], HasSubstr(" 401 "));
  EXPECT_THAT(lines[3], HasSubstr("key#2"));
  EXPECT_THAT(lines[3], HasSubstr(" 404 "));
  EXPECT_THAT(lines[7], HasSubstr("/api/v1/tasks/watch/all"));
  EXPECT_THAT(lines[7], HasSubstr(" 101 "));
}

}  // namespace
}  // namespace triverse::emulator
