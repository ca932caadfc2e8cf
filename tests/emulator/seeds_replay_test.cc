// Replays the request/response examples of the Triverse docs (copied into
// tests/testdata/seeds/) against the emulator: every key of an example must be
// in the emulator's response with the same JSON type, recursively, with null
// allowed only where the docs say "/ Null", and the values the docs fix
// (code, message, statuses, timestamp format) must match.
#include <fstream>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rapidjson/document.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"
#include "tests/emulator/testing_util/http_client.h"
#include "tests/emulator/testing_util/test_emulator.h"

namespace triverse::testing_util {
namespace {

using ::testing::IsEmpty;

// tests/emulator/seeds_replay_test.cc → tests/testdata/seeds/
std::string TestdataDir() {
  std::string file = __FILE__;
  const size_t emulator_dir = file.rfind('/');
  const size_t tests_dir = file.rfind('/', emulator_dir - 1);
  return absl::StrCat(file.substr(0, tests_dir + 1), "testdata/seeds/");
}

std::string ToJson(const rapidjson::Value& v) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  v.Accept(w);
  return std::string(buf.GetString(), buf.GetSize());
}

rapidjson::Document ParseJson(const std::string& text,
                              const std::string& what) {
  rapidjson::Document doc;
  if (doc.Parse(text.c_str()).HasParseError()) {
    ADD_FAILURE() << what << " is not JSON: " << text;
    doc.SetNull();
  }
  return doc;
}

rapidjson::Document LoadSeed(const std::string& name) {
  const std::string path = TestdataDir() + name;
  std::ifstream in(path);
  if (!in) {
    ADD_FAILURE() << "cannot read " << path;
    rapidjson::Document doc;
    doc.SetNull();
    return doc;
  }
  std::stringstream text;
  text << in.rdbuf();
  return ParseJson(text.str(), path);
}

// JsonType names the JSON type of a value; integers and other numbers are
// told apart because the docs say "Integer".
std::string JsonType(const rapidjson::Value& v) {
  if (v.IsNull()) return "null";
  if (v.IsBool()) return "boolean";
  if (v.IsObject()) return "object";
  if (v.IsArray()) return "array";
  if (v.IsString()) return "string";
  if (v.IsInt64() || v.IsUint64()) return "integer";
  return "number";
}

// Nullable maps the path of every field documented as "<Type> / Null" to
// that type. Paths look like "data.queue.position"; array items add "[]".
using Nullable = std::map<std::string, std::string>;

// CheckShape reports, under `path`, every key of `example` that `actual`
// lacks or holds with another JSON type, recursively (array items against the
// example's first item). Keys beyond the example are allowed. A null is
// allowed only where `nullable` documents it.
void CheckShape(const rapidjson::Value& example, const rapidjson::Value& actual,
                const std::string& path, const Nullable& nullable,
                std::vector<std::string>* errors) {
  const std::string want = JsonType(example);
  const std::string got = JsonType(actual);
  auto documented = nullable.find(path);
  if (got == "null") {
    if (want != "null" && documented == nullable.end()) {
      errors->push_back(absl::StrCat(path, ": null, but the docs say ", want));
    }
    return;
  }
  if (want == "null") {
    if (documented == nullable.end()) {
      errors->push_back(
          absl::StrCat(path, ": the example is null but no type is known"));
    } else if (got != documented->second) {
      errors->push_back(absl::StrCat(path, ": ", got, ", but the docs say ",
                                     documented->second, " / Null"));
    }
    return;
  }
  if (want != got) {
    errors->push_back(
        absl::StrCat(path, ": ", got, ", but the example has ", want));
    return;
  }
  if (example.IsObject()) {
    for (const auto& m : example.GetObject()) {
      const std::string key = m.name.GetString();
      const std::string child = absl::StrCat(path, ".", key);
      if (!actual.HasMember(key.c_str())) {
        errors->push_back(absl::StrCat(child, ": missing"));
        continue;
      }
      CheckShape(m.value, actual[key.c_str()], child, nullable, errors);
    }
  } else if (example.IsArray() && !example.Empty()) {
    for (const auto& item : actual.GetArray()) {
      CheckShape(example[0], item, absl::StrCat(path, "[]"), nullable, errors);
    }
  }
}

std::vector<std::string> ShapeErrors(const rapidjson::Value& example,
                                     const rapidjson::Value& actual,
                                     const Nullable& nullable) {
  std::vector<std::string> errors;
  CheckShape(example, actual, "data", nullable, &errors);
  return errors;
}

// --------------------------------------------------- documented nullables

// PublicTaskCreationPayload table (seed 000) and the queue summary of §1.6.
const Nullable& CreationNullable() {
  static const Nullable* n = new Nullable{
      {"data.cost_credits", "integer"},
      {"data.queue", "object"},
      {"data.queue.position", "integer"},
      {"data.queue.estimated_wait_seconds", "integer"},
      {"data.read_after_write_deadline_seconds", "integer"},
      {"data.read_after_write_header", "string"},
  };
  return *n;
}

// PublicTaskStatusPayload table (seeds 000 and 001).
const Nullable& StatusNullable() {
  static const Nullable* n = new Nullable{
      {"data.started_at", "string"},
      {"data.completed_at", "string"},
      {"data.input", "object"},
      {"data.output", "object"},
      {"data.error", "object"},
      {"data.queue", "object"},
      {"data.queue.position", "integer"},
      {"data.queue.estimated_wait_seconds", "integer"},
  };
  return *n;
}

// PublicOwnModelItemPayload table (seed 000). Paths start at the item.
const Nullable& OwnModelNullable() {
  static const Nullable* n = new Nullable{
      {"data.name", "string"},
      {"data.started_at", "string"},
      {"data.completed_at", "string"},
      {"data.geometry_model_url", "array"},
      {"data.textured_model_url", "array"},
      {"data.preprocessed_image_url", "array"},
      {"data.assets", "array"},
      {"data.request_payload", "object"},
  };
  return *n;
}

// ---------------------------------------------------------- fixed values

const std::set<std::string>& Statuses() {
  static const std::set<std::string>* s = new std::set<std::string>{
      "PENDING", "QUEUED", "RUNNING", "SUCCESS", "FAILED", "CANCELLED"};
  return *s;
}

bool IsIsoUtc(const rapidjson::Value& v) {
  static const std::regex* re =
      new std::regex(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z)");
  if (!v.IsString() || !std::regex_match(v.GetString(), *re)) return false;
  absl::Time t;
  std::string err;
  std::string s = v.GetString();
  s.back() = '+';
  return absl::ParseTime(absl::RFC3339_full, absl::StrCat(s, "00:00"), &t,
                         &err);
}

bool IsUuid(const rapidjson::Value& v) {
  static const std::regex* re = new std::regex(
      "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}");
  return v.IsString() && std::regex_match(v.GetString(), *re);
}

std::string Str(const rapidjson::Value& obj, const char* key) {
  if (!obj.IsObject() || !obj.HasMember(key) || !obj[key].IsString()) {
    return "<no string " + std::string(key) + ">";
  }
  return obj[key].GetString();
}

// ExpectEnvelope checks the StandardResponse wrapper of a live response
// against its example and returns `data`.
const rapidjson::Value& ExpectEnvelope(const rapidjson::Document& example,
                                       const rapidjson::Document& actual) {
  static const rapidjson::Value* null = new rapidjson::Value();
  EXPECT_TRUE(example.IsObject());
  EXPECT_EQ(example["code"].GetInt(), 0);
  EXPECT_EQ(Str(example, "message"), "success");
  if (!actual.IsObject()) {
    ADD_FAILURE() << "response is not an object";
    return *null;
  }
  EXPECT_TRUE(actual.HasMember("code") && actual["code"].IsInt() &&
              actual["code"].GetInt() == 0)
      << ToJson(actual);
  EXPECT_EQ(Str(actual, "message"), "success");
  if (!actual.HasMember("data") || !actual["data"].IsObject()) {
    ADD_FAILURE() << "no data object: " << ToJson(actual);
    return *null;
  }
  return actual["data"];
}

void ExpectNoKeys(const rapidjson::Value& obj,
                  const std::vector<std::string>& keys) {
  for (const std::string& key : keys) {
    EXPECT_FALSE(obj.HasMember(key.c_str()))
        << "undocumented internal field " << key << " in " << ToJson(obj);
  }
}

// Fields the docs name as never part of the public status payload.
const std::vector<std::string>& InternalStatusFields() {
  static const std::vector<std::string>* v = new std::vector<std::string>{
      "flowRunId",     "rawPrefectState", "statusDetail",   "userId",
      "workQueueName", "deploymentId",    "pricingSnapshot"};
  return *v;
}

class SeedsReplayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(emu_.start_status().ok()) << emu_.start_status();
  }

  rapidjson::Document Get(const std::string& path) {
    HttpResponse r = HttpGet(emu_.Api(path), {Bearer(kKeyA)});
    EXPECT_EQ(r.status, 200) << path << ": " << r.body;
    return ParseJson(r.body, path);
  }

  rapidjson::Document Post(const std::string& path, const std::string& body) {
    HttpResponse r = HttpPost(emu_.Api(path), body, {Bearer(kKeyA)});
    EXPECT_EQ(r.status, 200) << path << ": " << r.body;
    return ParseJson(r.body, path);
  }

  // CreateImageToModel creates a task with the inputs of the docs' example
  // (the defaults model_version v2, polygon_limit 1000000, texture_size
  // 1024) and returns the whole creation response.
  rapidjson::Document CreateImageToModel(const std::string& order_id) {
    return Post("/tasks/image-to-model",
                absl::StrCat(R"({"image_file":"https://example.com/input.png",)"
                             R"("model_version":"v2","polygon_limit":1000000,)"
                             R"("texture_size":1024,"client_order_id":")",
                             order_id, R"("})"));
  }

  std::string CreateAndFinish(const std::string& order_id) {
    rapidjson::Document created = CreateImageToModel(order_id);
    const std::string uuid = Str(created["data"], "task_uuid");
    emu_.AdvanceBy(absl::Seconds(12));  // PENDING, QUEUED, 10 s RUNNING
    return uuid;
  }

  TestEmulator emu_;
};

TEST(ShapeCheckTest, ReportsMissingKeysWrongTypesAndUndocumentedNulls) {
  rapidjson::Document example =
      ParseJson(R"({"a":1,"b":"x","c":{"d":[ "u" ],"e":null},"f":true,"g":{}})",
                "example");
  const Nullable nullable = {{"data.c.e", "integer"}, {"data.g", "object"}};
  // The same shape, extra keys, documented nulls and documented types pass.
  EXPECT_THAT(ShapeErrors(example,
                          ParseJson(R"({"a":7,"b":"y","c":{"d":["v","w"],)"
                                    R"("e":3},"f":false,"g":null,"z":0})",
                                    "ok"),
                          nullable),
              IsEmpty());
  EXPECT_THAT(
      ShapeErrors(example,
                  ParseJson(R"({"a":1.5,"c":{"d":[1],"e":"s"},"f":null,)"
                            R"("g":[]})",
                            "bad"),
                  nullable),
      ::testing::UnorderedElementsAre(
          "data.a: number, but the example has integer", "data.b: missing",
          "data.c.d[]: integer, but the example has string",
          "data.c.e: string, but the docs say integer / Null",
          "data.f: null, but the docs say boolean",
          "data.g: array, but the example has object"));
}

TEST(ShapeCheckTest, TestdataIsTheDocsEnvelope) {
  for (const char* name :
       {"task_creation_response.json", "pricing_quote_response.json",
        "task_status_response.json", "task_status_page_response.json",
        "download_url_response.json"}) {
    SCOPED_TRACE(name);
    rapidjson::Document doc = LoadSeed(name);
    ASSERT_TRUE(doc.IsObject());
    EXPECT_EQ(doc["code"].GetInt(), 0);
    EXPECT_EQ(Str(doc, "message"), "success");
    EXPECT_TRUE(doc["data"].IsObject());
  }
  EXPECT_TRUE(LoadSeed("own_models_item.json").IsObject());
}

TEST_F(SeedsReplayTest, TaskCreationResponse) {
  const rapidjson::Document example = LoadSeed("task_creation_response.json");
  ASSERT_TRUE(example.IsObject());
  const rapidjson::Document actual = CreateImageToModel("seed-create");
  const rapidjson::Value& data = ExpectEnvelope(example, actual);
  ASSERT_TRUE(data.IsObject());
  EXPECT_THAT(ShapeErrors(example["data"], data, CreationNullable()), IsEmpty())
      << ToJson(data);

  EXPECT_TRUE(IsUuid(data["task_uuid"])) << ToJson(data);
  EXPECT_EQ(Str(data, "flow_name"), "image-to-model");
  // "Initial public status, usually PENDING or QUEUED."
  EXPECT_THAT(Str(data, "status"), ::testing::AnyOf("PENDING", "QUEUED"));
  EXPECT_TRUE(IsIsoUtc(data["created_at"])) << ToJson(data);
  absl::Time created;
  std::string err;
  ASSERT_TRUE(absl::ParseTime("%Y-%m-%d%ET%H:%M:%E*SZ", Str(data, "created_at"),
                              absl::UTCTimeZone(), &created, &err))
      << err;
  EXPECT_EQ(created, emu_.clock().Now());
  // The example's price is for the inputs it shows (the defaults).
  EXPECT_EQ(data["cost_credits"].GetInt64(), 120);
  if (Str(data, "status") == "PENDING") {
    EXPECT_FALSE(data["queue"]["is_queued"].GetBool());
  }
  // "Creation responses intentionally do not include the original input
  // payload or internal scheduling fields."
  ExpectNoKeys(data, {"input", "request_payload", "progress"});
  ExpectNoKeys(data, InternalStatusFields());
}

TEST_F(SeedsReplayTest, PricingQuoteResponse) {
  const rapidjson::Document example = LoadSeed("pricing_quote_response.json");
  ASSERT_TRUE(example.IsObject());
  const rapidjson::Document actual =
      Post("/tasks/pricing/quote",
           R"({"flow_name":"image-generation",)"
           R"("params":{"ai_model":"seedream_4_5","image_count":4}})");
  const rapidjson::Value& data = ExpectEnvelope(example, actual);
  ASSERT_TRUE(data.IsObject());
  EXPECT_THAT(ShapeErrors(example["data"], data, {}), IsEmpty())
      << ToJson(data);

  EXPECT_EQ(Str(data, "flow_name"), "image-generation");
  // The normalised parameters of the same request are the example's.
  EXPECT_TRUE(data["params"] == example["data"]["params"])
      << ToJson(data["params"]);
  EXPECT_EQ(data["cost_credits"].GetInt64(),
            example["data"]["cost_credits"].GetInt64());
  rapidjson::Document balance = Get("/users/balance");
  EXPECT_EQ(static_cast<double>(data["available_credits"].GetInt64()),
            balance["data"]["balance"].GetDouble());
  ExpectNoKeys(data, {"can_execute", "missing_credits", "queue", "manifest",
                      "pricing_key", "breakdown"});
}

TEST_F(SeedsReplayTest, TaskStatusSuccessResponse) {
  const std::string uuid = CreateAndFinish("seed-status");
  const rapidjson::Document actual = Get(absl::StrCat("/tasks/", uuid));
  for (const char* name :
       {"task_status_response.json", "task_status_page_response.json"}) {
    SCOPED_TRACE(name);
    const rapidjson::Document example = LoadSeed(name);
    ASSERT_TRUE(example.IsObject());
    const rapidjson::Value& data = ExpectEnvelope(example, actual);
    ASSERT_TRUE(data.IsObject());
    EXPECT_THAT(ShapeErrors(example["data"], data, StatusNullable()), IsEmpty())
        << ToJson(data);
    EXPECT_EQ(Str(data, "task_uuid"), uuid);
    EXPECT_EQ(Str(data, "flow_name"), Str(example["data"], "flow_name"));
    EXPECT_EQ(Str(data, "status"), "SUCCESS");
    EXPECT_EQ(data["progress"].GetInt(), 100);
    for (const char* t : {"created_at", "started_at", "completed_at"}) {
      EXPECT_TRUE(IsIsoUtc(data[t])) << t << ": " << ToJson(data);
    }
    EXPECT_LE(Str(data, "created_at"), Str(data, "started_at"));
    EXPECT_LE(Str(data, "started_at"), Str(data, "completed_at"));
    EXPECT_TRUE(data["error"].IsNull());
    EXPECT_TRUE(data["queue"].IsNull());
    // The input echoes the example's public inputs for the same request.
    const rapidjson::Value& in = data["input"];
    EXPECT_EQ(Str(in, "image_url"), "https://example.com/input.png");
    EXPECT_EQ(Str(in, "model_version"), "v2");
    EXPECT_EQ(in["polygon_limit"].GetInt64(), 1000000);
    EXPECT_EQ(in["texture_size"].GetInt64(), 1024);
    ExpectNoKeys(data, InternalStatusFields());
  }
}

TEST_F(SeedsReplayTest, TaskStatusBeforeSuccessUsesTheDocumentedNulls) {
  const rapidjson::Document example = LoadSeed("task_status_response.json");
  ASSERT_TRUE(example.IsObject());
  rapidjson::Document created = CreateImageToModel("seed-early");
  const std::string uuid = Str(created["data"], "task_uuid");
  for (absl::Duration step :
       {absl::ZeroDuration(), absl::Milliseconds(500), absl::Seconds(3)}) {
    emu_.AdvanceBy(step);
    const rapidjson::Document actual =
        ParseJson(HttpGet(emu_.Api(absl::StrCat("/tasks/", uuid)),
                          {Bearer(kKeyA), "X-Triverse-Read-After-Write: 1"})
                      .body,
                  "status");
    const rapidjson::Value& data = ExpectEnvelope(example, actual);
    ASSERT_TRUE(data.IsObject());
    SCOPED_TRACE(ToJson(data));
    EXPECT_THAT(ShapeErrors(example["data"], data, StatusNullable()),
                IsEmpty());
    const std::string status = Str(data, "status");
    EXPECT_TRUE(Statuses().count(status)) << status;
    EXPECT_NE(status, "SUCCESS");
    EXPECT_TRUE(data["completed_at"].IsNull());
    EXPECT_TRUE(data["output"].IsNull());
    EXPECT_TRUE(data["error"].IsNull());
    EXPECT_EQ(data["started_at"].IsNull(), status != "RUNNING");
    EXPECT_GE(data["progress"].GetInt(), 0);
    EXPECT_LE(data["progress"].GetInt(), 100);
  }
}

TEST_F(SeedsReplayTest, TaskStatusFailedHasThePublicErrorObject) {
  ASSERT_EQ(
      HttpPost(emu_.Url("/_emulator/faults"), R"({"tasks":{"failure_rate":1}})")
          .status,
      200);
  const std::string uuid = CreateAndFinish("seed-failed");
  const rapidjson::Document example = LoadSeed("task_status_response.json");
  const rapidjson::Document actual = Get(absl::StrCat("/tasks/", uuid));
  const rapidjson::Value& data = ExpectEnvelope(example, actual);
  ASSERT_TRUE(data.IsObject());
  EXPECT_THAT(ShapeErrors(example["data"], data, StatusNullable()), IsEmpty())
      << ToJson(data);
  EXPECT_EQ(Str(data, "status"), "FAILED");
  EXPECT_TRUE(IsIsoUtc(data["completed_at"]));
  // "Public error object for failed tasks, with code, message, and optional
  // suggestion."
  const rapidjson::Value& error = data["error"];
  ASSERT_TRUE(error.IsObject()) << ToJson(data);
  EXPECT_TRUE(error.HasMember("code") && error["code"].IsInt());
  EXPECT_TRUE(error.HasMember("message") && error["message"].IsString());
  if (error.HasMember("suggestion")) {
    EXPECT_TRUE(error["suggestion"].IsString());
  }
}

TEST_F(SeedsReplayTest, DownloadUrlResponse) {
  const rapidjson::Document example = LoadSeed("download_url_response.json");
  ASSERT_TRUE(example.IsObject());
  const std::string uuid = CreateAndFinish("seed-download");
  const rapidjson::Document actual = Get(absl::StrCat("/tasks/url/", uuid));
  const rapidjson::Value& data = ExpectEnvelope(example, actual);
  ASSERT_TRUE(data.IsObject());
  EXPECT_THAT(ShapeErrors(example["data"], data, {}), IsEmpty())
      << ToJson(data);
  EXPECT_TRUE(IsUuid(data["asset_id"])) << ToJson(data);
  EXPECT_EQ(Str(data, "kind"), "model");  // image-to-model's textured model
  for (const char* url : {"download_url", "preview_url"}) {
    EXPECT_THAT(Str(data, url), ::testing::StartsWith("http")) << url;
  }
  // The download URL is one of the task's output URLs.
  rapidjson::Document status = Get(absl::StrCat("/tasks/", uuid));
  const std::string download = Str(data, "download_url");
  bool listed = false;
  for (const auto& m : status["data"]["output"].GetObject()) {
    if (m.value.IsString() && download == m.value.GetString()) listed = true;
    if (!m.value.IsArray()) continue;
    for (const auto& u : m.value.GetArray()) {
      if (u.IsString() && download == u.GetString()) listed = true;
    }
  }
  EXPECT_TRUE(listed) << download;
}

TEST_F(SeedsReplayTest, OwnModelsItems) {
  const rapidjson::Document item = LoadSeed("own_models_item.json");
  ASSERT_TRUE(item.IsObject());
  const std::string done = CreateAndFinish("seed-own-1");
  rapidjson::Document pending = CreateImageToModel("seed-own-2");
  const std::string fresh = Str(pending["data"], "task_uuid");

  const rapidjson::Document actual = Get("/platform/generate/own-models");
  ASSERT_TRUE(actual.IsObject());
  EXPECT_EQ(actual["code"].GetInt(), 0);
  EXPECT_EQ(Str(actual, "message"), "success");
  ASSERT_TRUE(actual["data"].IsObject()) << ToJson(actual);
  const rapidjson::Value& records = actual["data"]["records"];
  ASSERT_TRUE(records.IsArray()) << ToJson(actual);
  ASSERT_EQ(records.Size(), 2u);
  std::set<std::string> uuids;
  for (const auto& record : records.GetArray()) {
    ASSERT_TRUE(record.IsObject());
    SCOPED_TRACE(ToJson(record));
    EXPECT_THAT(ShapeErrors(item, record, OwnModelNullable()), IsEmpty());
    uuids.insert(Str(record, "task_uuid"));
    EXPECT_TRUE(IsUuid(record["task_uuid"]));
    EXPECT_EQ(Str(record, "flow_name"), "image-to-model");
    EXPECT_TRUE(Statuses().count(Str(record, "status")));
    EXPECT_TRUE(IsIsoUtc(record["created_at"]));
    for (const char* t : {"started_at", "completed_at"}) {
      if (!record[t].IsNull()) {
        EXPECT_TRUE(IsIsoUtc(record[t])) << t;
      }
    }
    if (record["assets"].IsArray()) {
      for (const auto& a : record["assets"].GetArray()) {
        EXPECT_TRUE(a.IsObject());
      }
    }
    // Only public inputs: none of the internal fields the docs list.
    if (record["request_payload"].IsObject()) {
      ExpectNoKeys(record["request_payload"],
                   {"user_id", "task_id", "flow_run_id", "pricing_snapshot",
                    "rawPrefectState", "statusDetail", "dispatched_at",
                    "queued_at", "expired_at"});
    }
    if (Str(record, "task_uuid") == done) {
      EXPECT_EQ(Str(record, "status"), "SUCCESS");
      // A finished textured-model task has every URL list.
      for (const char* list : {"geometry_model_url", "textured_model_url",
                               "preprocessed_image_url", "assets"}) {
        EXPECT_TRUE(record[list].IsArray()) << list;
      }
      EXPECT_TRUE(IsIsoUtc(record["completed_at"]));
      EXPECT_EQ(Str(record["request_payload"], "image_url"),
                "https://example.com/input.png");
    }
  }
  EXPECT_EQ(uuids, (std::set<std::string>{done, fresh}));
}

}  // namespace
}  // namespace triverse::testing_util
