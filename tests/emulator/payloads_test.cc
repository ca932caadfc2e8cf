#include "emulator/payloads.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <regex>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "emulator/flows.h"
#include "emulator/task_store.h"
#include "rapidjson/document.h"

namespace triverse::emulator {
namespace {

using ::testing::ElementsAre;
using ::testing::StartsWith;
using ::testing::UnorderedElementsAreArray;

constexpr char kUuid[] = "92483a80-236c-4889-9a95-4c90bb64dfd8";
constexpr char kBase[] = "http://127.0.0.1:8080";
constexpr char kSecret[] = "s3cret";

// 2026-05-27T12:39:48.228522Z, the seeds' example creation time.
absl::Time Created() {
  return absl::FromUnixMicros(int64_t{1779885588} * 1000000 + 228522);
}

PayloadContext Ctx(bool legacy = false) {
  PayloadContext ctx;
  ctx.legacy = legacy;
  ctx.base_url = kBase;
  ctx.now = Created() + absl::Minutes(10);
  ctx.url_ttl = absl::Hours(1);
  ctx.signing_secret = kSecret;
  ctx.read_after_write_window = absl::Seconds(1);
  ctx.read_after_write_header = "X-Triverse-Read-After-Write";
  return ctx;
}

// An image-to-model task in `status`, built from a real request.
Task MakeTask(TaskStatus status) {
  auto req = ParseCreateRequest(
      "image-to-model",
      R"({"image_file":"https://example.com/input.png","texture_size":1024})",
      false);
  EXPECT_TRUE(req.ok());
  Task t;
  t.uuid = kUuid;
  t.flow_name = req->flow_name;
  t.public_input_json = req->public_input_json;
  t.assets = req->assets;
  t.primary_asset = req->primary_asset;
  t.cost_credits = req->cost_credits;
  t.status = status;
  t.created_at = Created();
  t.updated_at = Created();
  if (status == TaskStatus::kQueued) {
    t.queue_position = 2;
    t.estimated_wait_seconds = 6;
  }
  if (status == TaskStatus::kRunning || status == TaskStatus::kSuccess ||
      status == TaskStatus::kFailed) {
    t.started_at = Created() + absl::Seconds(15);
    t.progress = 40;
  }
  if (IsTerminal(status)) {
    t.completed_at = Created() + absl::Seconds(500);
    if (status == TaskStatus::kSuccess) t.progress = 100;
  }
  return t;
}

rapidjson::Document Parse(const std::string& json) {
  rapidjson::Document doc;
  doc.Parse(json.c_str(), json.size());
  EXPECT_FALSE(doc.HasParseError()) << json;
  EXPECT_TRUE(doc.IsObject()) << json;
  return doc;
}

std::vector<std::string> Keys(const rapidjson::Value& obj) {
  std::vector<std::string> keys;
  for (const auto& m : obj.GetObject()) keys.emplace_back(m.name.GetString());
  return keys;
}

std::string Str(const rapidjson::Value& obj, const char* key) {
  EXPECT_TRUE(obj.HasMember(key)) << key;
  if (!obj.HasMember(key)) return "";
  EXPECT_TRUE(obj[key].IsString()) << key;
  return obj[key].IsString() ? obj[key].GetString() : "";
}

bool IsIsoMicrosZ(const std::string& s) {
  static const std::regex re(
      R"(^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$)");
  return std::regex_match(s, re);
}

// Checks that `url` is a valid signed asset URL of `file` in task kUuid and
// returns its expiry.
int64_t CheckSignedUrl(const std::string& url, const std::string& file) {
  const std::string prefix =
      absl::StrCat(kBase, "/assets/", kUuid, "/", file, "?expires=");
  EXPECT_THAT(url, StartsWith(prefix));
  if (!absl::StartsWith(url, prefix)) return 0;
  std::vector<std::string> query =
      absl::StrSplit(url.substr(prefix.size()), "&signature=");
  EXPECT_EQ(query.size(), 2u) << url;
  if (query.size() != 2) return 0;
  int64_t expires = 0;
  EXPECT_TRUE(absl::SimpleAtoi(query[0], &expires)) << url;
  EXPECT_EQ(query[1],
            AssetSignature(kSecret, absl::StrCat(kUuid, "/", file), expires))
      << url;
  return expires;
}

TEST(FormatTimestampTest, IsoWithMicrosecondsAndZ) {
  EXPECT_EQ(FormatTimestamp(Created()), "2026-05-27T12:39:48.228522Z");
  EXPECT_EQ(FormatTimestamp(absl::FromUnixSeconds(1779840012)),
            "2026-05-27T00:00:12.000000Z");
  EXPECT_EQ(FormatTimestamp(absl::UnixEpoch()), "1970-01-01T00:00:00.000000Z");
  // Sub-microsecond parts are truncated, never rounded up to 7 digits.
  EXPECT_EQ(FormatTimestamp(absl::UnixEpoch() + absl::Nanoseconds(1999)),
            "1970-01-01T00:00:00.000001Z");
  EXPECT_EQ(FormatTimestamp(absl::FromUnixNanos(int64_t{1779885588123456789})),
            "2026-05-27T12:39:48.123456Z");
  EXPECT_TRUE(IsIsoMicrosZ(FormatTimestamp(Created() + absl::Hours(30))));
}

TEST(EnvelopeTest, WrapsData) {
  rapidjson::Document doc = Parse(Envelope(R"({"a":1})"));
  EXPECT_THAT(Keys(doc), ElementsAre("code", "message", "data"));
  EXPECT_EQ(doc["code"].GetInt(), 0);
  EXPECT_EQ(Str(doc, "message"), "success");
  EXPECT_EQ(doc["data"]["a"].GetInt(), 1);
}

TEST(CreationPayloadTest, NewShapePending) {
  rapidjson::Document d =
      Parse(CreationPayload(MakeTask(TaskStatus::kPending), Ctx()));
  EXPECT_THAT(Keys(d),
              UnorderedElementsAreArray({"task_uuid", "flow_name", "status",
                                         "created_at", "cost_credits", "queue",
                                         "read_after_write_deadline_seconds",
                                         "read_after_write_header"}));
  EXPECT_EQ(Str(d, "task_uuid"), kUuid);
  EXPECT_EQ(Str(d, "flow_name"), "image-to-model");
  EXPECT_EQ(Str(d, "status"), "PENDING");
  EXPECT_EQ(Str(d, "created_at"), "2026-05-27T12:39:48.228522Z");
  ASSERT_TRUE(d["cost_credits"].IsInt64());
  EXPECT_EQ(d["cost_credits"].GetInt64(), 120);
  ASSERT_TRUE(d["queue"].IsObject());
  EXPECT_THAT(Keys(d["queue"]),
              ElementsAre("is_queued", "position", "estimated_wait_seconds"));
  ASSERT_TRUE(d["queue"]["is_queued"].IsBool());
  EXPECT_FALSE(d["queue"]["is_queued"].GetBool());
  EXPECT_TRUE(d["queue"]["position"].IsNull());
  EXPECT_TRUE(d["queue"]["estimated_wait_seconds"].IsNull());
  ASSERT_TRUE(d["read_after_write_deadline_seconds"].IsInt64());
  EXPECT_EQ(d["read_after_write_deadline_seconds"].GetInt64(), 1);
  EXPECT_EQ(Str(d, "read_after_write_header"), "X-Triverse-Read-After-Write");
  // On purpose: no input and no legacy fields.
  EXPECT_FALSE(d.HasMember("input"));
  EXPECT_FALSE(d.HasMember("costCredits"));
}

TEST(CreationPayloadTest, NewShapeQueuedAndRunning) {
  rapidjson::Document q =
      Parse(CreationPayload(MakeTask(TaskStatus::kQueued), Ctx()));
  EXPECT_EQ(Str(q, "status"), "QUEUED");
  ASSERT_TRUE(q["queue"].IsObject());
  EXPECT_TRUE(q["queue"]["is_queued"].GetBool());
  ASSERT_TRUE(q["queue"]["position"].IsInt());
  EXPECT_EQ(q["queue"]["position"].GetInt(), 2);
  ASSERT_TRUE(q["queue"]["estimated_wait_seconds"].IsInt64());
  EXPECT_EQ(q["queue"]["estimated_wait_seconds"].GetInt64(), 6);

  rapidjson::Document r =
      Parse(CreationPayload(MakeTask(TaskStatus::kRunning), Ctx()));
  EXPECT_EQ(Str(r, "status"), "RUNNING");
  EXPECT_TRUE(r["queue"].IsNull());
}

TEST(CreationPayloadTest, ReadAfterWriteHint) {
  PayloadContext ctx = Ctx();
  ctx.read_after_write_window = absl::Milliseconds(1500);
  rapidjson::Document d =
      Parse(CreationPayload(MakeTask(TaskStatus::kPending), ctx));
  EXPECT_EQ(d["read_after_write_deadline_seconds"].GetInt64(), 2);  // ceil

  ctx.read_after_write_window = absl::ZeroDuration();
  d = Parse(CreationPayload(MakeTask(TaskStatus::kPending), ctx));
  EXPECT_TRUE(d["read_after_write_deadline_seconds"].IsNull());
  EXPECT_TRUE(d["read_after_write_header"].IsNull());

  ctx.read_after_write_window = absl::Seconds(3);
  ctx.read_after_write_header = "";
  d = Parse(CreationPayload(MakeTask(TaskStatus::kPending), ctx));
  EXPECT_EQ(d["read_after_write_deadline_seconds"].GetInt64(), 3);
  EXPECT_TRUE(d["read_after_write_header"].IsNull());
}

TEST(CreationPayloadTest, LegacyShape) {
  rapidjson::Document d =
      Parse(CreationPayload(MakeTask(TaskStatus::kPending), Ctx(true)));
  EXPECT_THAT(Keys(d),
              UnorderedElementsAreArray({"task_uuid", "name", "created_at",
                                         "is_public", "task_priority", "status",
                                         "flow_name", "input", "costCredits"}));
  EXPECT_EQ(Str(d, "task_uuid"), kUuid);
  EXPECT_EQ(Str(d, "name"), "image-to-model-92483a80");
  EXPECT_EQ(Str(d, "created_at"), "2026-05-27T12:39:48.228522Z");
  ASSERT_TRUE(d["is_public"].IsBool());
  EXPECT_FALSE(d["is_public"].GetBool());
  ASSERT_TRUE(d["task_priority"].IsInt());
  EXPECT_EQ(d["task_priority"].GetInt(), 0);
  EXPECT_EQ(Str(d, "status"), "PENDING");
  EXPECT_EQ(Str(d, "flow_name"), "image-to-model");
  ASSERT_TRUE(d["input"].IsObject());
  EXPECT_EQ(Str(d["input"], "image_url"), "https://example.com/input.png");
  EXPECT_FALSE(d["input"].HasMember("image_file"));
  ASSERT_TRUE(d["costCredits"].IsInt64());
  EXPECT_EQ(d["costCredits"].GetInt64(), 120);
}

void ExpectStatusKeys(const rapidjson::Document& d) {
  EXPECT_THAT(Keys(d),
              ElementsAre("task_uuid", "flow_name", "status", "progress",
                          "created_at", "started_at", "completed_at", "input",
                          "output", "error", "queue"));
}

TEST(StatusPayloadTest, NewShapePending) {
  rapidjson::Document d =
      Parse(StatusPayload(MakeTask(TaskStatus::kPending), Ctx()));
  ExpectStatusKeys(d);
  EXPECT_EQ(Str(d, "task_uuid"), kUuid);
  EXPECT_EQ(Str(d, "flow_name"), "image-to-model");
  EXPECT_EQ(Str(d, "status"), "PENDING");
  ASSERT_TRUE(d["progress"].IsInt());
  EXPECT_EQ(d["progress"].GetInt(), 0);
  EXPECT_EQ(Str(d, "created_at"), "2026-05-27T12:39:48.228522Z");
  EXPECT_TRUE(d["started_at"].IsNull());
  EXPECT_TRUE(d["completed_at"].IsNull());
  ASSERT_TRUE(d["input"].IsObject());
  EXPECT_EQ(Str(d["input"], "image_url"), "https://example.com/input.png");
  EXPECT_EQ(Str(d["input"], "model_version"), "v2");
  EXPECT_EQ(d["input"]["polygon_limit"].GetInt64(), 1000000);
  EXPECT_EQ(d["input"]["texture_size"].GetInt64(), 1024);
  EXPECT_TRUE(d["output"].IsNull());
  EXPECT_TRUE(d["error"].IsNull());
  ASSERT_TRUE(d["queue"].IsObject());
  EXPECT_FALSE(d["queue"]["is_queued"].GetBool());
  EXPECT_TRUE(d["queue"]["position"].IsNull());
}

TEST(StatusPayloadTest, NewShapeQueued) {
  rapidjson::Document d =
      Parse(StatusPayload(MakeTask(TaskStatus::kQueued), Ctx()));
  ExpectStatusKeys(d);
  EXPECT_EQ(Str(d, "status"), "QUEUED");
  EXPECT_TRUE(d["started_at"].IsNull());
  EXPECT_TRUE(d["queue"]["is_queued"].GetBool());
  EXPECT_EQ(d["queue"]["position"].GetInt(), 2);
  EXPECT_EQ(d["queue"]["estimated_wait_seconds"].GetInt64(), 6);
}

TEST(StatusPayloadTest, NewShapeRunning) {
  rapidjson::Document d =
      Parse(StatusPayload(MakeTask(TaskStatus::kRunning), Ctx()));
  ExpectStatusKeys(d);
  EXPECT_EQ(Str(d, "status"), "RUNNING");
  EXPECT_EQ(d["progress"].GetInt(), 40);
  EXPECT_EQ(Str(d, "started_at"), "2026-05-27T12:40:03.228522Z");
  EXPECT_TRUE(d["completed_at"].IsNull());
  EXPECT_TRUE(d["output"].IsNull());
  EXPECT_TRUE(d["error"].IsNull());
  EXPECT_TRUE(d["queue"].IsNull());
}

TEST(StatusPayloadTest, NewShapeSuccess) {
  const PayloadContext ctx = Ctx();
  rapidjson::Document d =
      Parse(StatusPayload(MakeTask(TaskStatus::kSuccess), ctx));
  ExpectStatusKeys(d);
  EXPECT_EQ(Str(d, "status"), "SUCCESS");
  EXPECT_EQ(d["progress"].GetInt(), 100);
  EXPECT_TRUE(IsIsoMicrosZ(Str(d, "started_at")));
  EXPECT_EQ(Str(d, "completed_at"), "2026-05-27T12:48:08.228522Z");
  EXPECT_TRUE(d["error"].IsNull());
  EXPECT_TRUE(d["queue"].IsNull());
  const rapidjson::Value& out = d["output"];
  ASSERT_TRUE(out.IsObject());
  EXPECT_THAT(Keys(out),
              ElementsAre("preprocessed_image_url", "geometry_model_url",
                          "textured_model_url", "preview_url"));
  const std::vector<std::pair<const char*, const char*>> lists = {
      {"preprocessed_image_url", "preprocessed_input_image_0.png"},
      {"geometry_model_url", "textureless_model_0.glb"},
      {"textured_model_url", "textured_model_0.glb"}};
  const int64_t want_expiry = absl::ToUnixSeconds(ctx.now + ctx.url_ttl);
  for (const auto& [field, file] : lists) {
    ASSERT_TRUE(out[field].IsArray()) << field;
    ASSERT_EQ(out[field].Size(), 1u) << field;
    ASSERT_TRUE(out[field][0].IsString()) << field;
    EXPECT_EQ(CheckSignedUrl(out[field][0].GetString(), file), want_expiry);
  }
  ASSERT_TRUE(out["preview_url"].IsString());
  EXPECT_EQ(CheckSignedUrl(out["preview_url"].GetString(), "preview.png"),
            want_expiry);
}

TEST(StatusPayloadTest, NewShapeSuccessWithoutAssets) {
  Task t = MakeTask(TaskStatus::kSuccess);
  t.no_assets = true;
  rapidjson::Document d = Parse(StatusPayload(t, Ctx()));
  ASSERT_TRUE(d["output"].IsObject());
  EXPECT_EQ(d["output"].MemberCount(), 0u);
}

TEST(StatusPayloadTest, NewShapeFailedAndCancelled) {
  rapidjson::Document f =
      Parse(StatusPayload(MakeTask(TaskStatus::kFailed), Ctx()));
  ExpectStatusKeys(f);
  EXPECT_EQ(Str(f, "status"), "FAILED");
  EXPECT_TRUE(IsIsoMicrosZ(Str(f, "completed_at")));
  EXPECT_TRUE(f["output"].IsNull());
  ASSERT_TRUE(f["error"].IsObject());
  EXPECT_THAT(Keys(f["error"]), ElementsAre("code", "message", "suggestion"));
  EXPECT_TRUE(f["error"]["code"].IsInt());
  EXPECT_FALSE(Str(f["error"], "message").empty());
  EXPECT_FALSE(Str(f["error"], "suggestion").empty());
  EXPECT_TRUE(f["queue"].IsNull());

  rapidjson::Document c =
      Parse(StatusPayload(MakeTask(TaskStatus::kCancelled), Ctx()));
  ExpectStatusKeys(c);
  EXPECT_EQ(Str(c, "status"), "CANCELLED");
  EXPECT_TRUE(c["started_at"].IsNull());  // cancelled before it ran
  EXPECT_TRUE(IsIsoMicrosZ(Str(c, "completed_at")));
  EXPECT_TRUE(c["output"].IsNull());
  EXPECT_TRUE(c["error"].IsNull());
  EXPECT_TRUE(c["queue"].IsNull());
}

TEST(StatusPayloadTest, LegacyShape) {
  Task running = MakeTask(TaskStatus::kRunning);
  running.progress = 60;
  rapidjson::Document d = Parse(StatusPayload(running, Ctx(true)));
  EXPECT_THAT(Keys(d),
              ElementsAre("taskId", "status", "progress", "input", "output"));
  EXPECT_EQ(Str(d, "taskId"), kUuid);
  EXPECT_EQ(Str(d, "status"), "RUNNING");
  ASSERT_TRUE(d["progress"].IsInt());
  EXPECT_EQ(d["progress"].GetInt(), 60);
  EXPECT_EQ(Str(d["input"], "image_url"), "https://example.com/input.png");
  ASSERT_TRUE(d["output"].IsObject());
  EXPECT_THAT(Keys(d["output"]),
              ElementsAre("geometry_job_status", "texture_job_status"));
  EXPECT_EQ(Str(d["output"], "geometry_job_status"), "COMPLETED");
  EXPECT_EQ(Str(d["output"], "texture_job_status"), "IN_PROGRESS");

  running.progress = 10;
  d = Parse(StatusPayload(running, Ctx(true)));
  EXPECT_EQ(Str(d["output"], "geometry_job_status"), "IN_PROGRESS");

  d = Parse(StatusPayload(MakeTask(TaskStatus::kPending), Ctx(true)));
  EXPECT_EQ(Str(d, "status"), "PENDING");
  EXPECT_EQ(Str(d["output"], "geometry_job_status"), "PENDING");
  EXPECT_EQ(Str(d["output"], "texture_job_status"), "PENDING");

  d = Parse(StatusPayload(MakeTask(TaskStatus::kSuccess), Ctx(true)));
  EXPECT_EQ(Str(d, "status"), "SUCCESS");
  EXPECT_EQ(Str(d["output"], "geometry_job_status"), "COMPLETED");
  EXPECT_EQ(Str(d["output"], "texture_job_status"), "COMPLETED");
  ASSERT_TRUE(d["output"]["textured_model_url"].IsArray());
  CheckSignedUrl(d["output"]["textured_model_url"][0].GetString(),
                 "textured_model_0.glb");

  d = Parse(StatusPayload(MakeTask(TaskStatus::kFailed), Ctx(true)));
  EXPECT_EQ(Str(d["output"], "texture_job_status"), "FAILED");
  EXPECT_FALSE(d["output"].HasMember("textured_model_url"));
  for (const char* absent : {"task_uuid", "flow_name", "created_at",
                             "started_at", "completed_at", "error", "queue"}) {
    EXPECT_FALSE(d.HasMember(absent)) << absent;
  }
}

TEST(WebSocketFrameTest, Plain) {
  TaskEvent e;
  e.task = MakeTask(TaskStatus::kRunning);
  const PayloadContext ctx = Ctx();
  const std::string frame = WebSocketFrame(e, ctx, false, false);
  EXPECT_EQ(frame,
            absl::StrCat("event: update\ndata: ", StatusPayload(e.task, ctx)));
  // Exactly two lines, as the docs' JS example splits them.
  std::vector<std::string> lines = absl::StrSplit(frame, '\n');
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0], "event: update");
  ASSERT_TRUE(absl::StartsWith(lines[1], "data: "));
  rapidjson::Document d = Parse(lines[1].substr(6));
  EXPECT_EQ(Str(d, "status"), "RUNNING");
  EXPECT_EQ(Str(d, "task_uuid"), kUuid);
}

TEST(WebSocketFrameTest, FinalizedWithTrailingBlankLine) {
  TaskEvent e;
  e.finalized = true;
  e.task = MakeTask(TaskStatus::kSuccess);
  const PayloadContext ctx = Ctx();
  const std::string frame = WebSocketFrame(e, ctx, true, false);
  EXPECT_EQ(frame, absl::StrCat("event: finalized\ndata: ",
                                StatusPayload(e.task, ctx), "\n\n"));
  std::vector<std::string> lines = absl::StrSplit(frame, '\n');
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[0], "event: finalized");
  EXPECT_EQ(lines[2], "");
  EXPECT_EQ(lines[3], "");
}

TEST(WebSocketFrameTest, Enveloped) {
  TaskEvent e;
  e.task = MakeTask(TaskStatus::kQueued);
  const std::string frame = WebSocketFrame(e, Ctx(), false, true);
  std::vector<std::string> lines = absl::StrSplit(frame, '\n');
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0], "event: update");
  rapidjson::Document d = Parse(lines[1].substr(6));
  EXPECT_THAT(Keys(d), ElementsAre("code", "message", "data"));
  EXPECT_EQ(d["code"].GetInt(), 0);
  EXPECT_EQ(Str(d, "message"), "success");
  EXPECT_EQ(Str(d["data"], "status"), "QUEUED");
  EXPECT_EQ(d["data"]["queue"]["position"].GetInt(), 2);

  const std::string both = WebSocketFrame(e, Ctx(), true, true);
  EXPECT_EQ(both, frame + "\n\n");
}

TEST(WebSocketFrameTest, LegacyDataIsTheLegacyStatus) {
  TaskEvent e;
  e.task = MakeTask(TaskStatus::kRunning);
  std::vector<std::string> lines =
      absl::StrSplit(WebSocketFrame(e, Ctx(true), false, false), '\n');
  ASSERT_EQ(lines.size(), 2u);
  rapidjson::Document d = Parse(lines[1].substr(6));
  EXPECT_EQ(Str(d, "taskId"), kUuid);
}

TEST(AssetUrlTest, SignatureVerifies) {
  const Task t = MakeTask(TaskStatus::kSuccess);
  const PayloadContext ctx = Ctx();
  const AssetSpec& asset = t.assets[t.primary_asset];
  const std::string url = AssetUrl(t, asset, ctx);
  const int64_t expires = CheckSignedUrl(url, "textured_model_0.glb");
  EXPECT_EQ(expires, absl::ToUnixSeconds(ctx.now) + 3600);

  const std::string path = absl::StrCat(kUuid, "/textured_model_0.glb");
  const std::string sig = AssetSignature(kSecret, path, expires);
  EXPECT_EQ(sig.size(), 16u);
  EXPECT_EQ(sig.find_first_not_of("0123456789abcdef"), std::string::npos);
  // Deterministic, and any change to secret, path or expiry changes it.
  EXPECT_EQ(AssetSignature(kSecret, path, expires), sig);
  EXPECT_NE(AssetSignature("other", path, expires), sig);
  EXPECT_NE(AssetSignature(kSecret, path, expires + 1), sig);
  EXPECT_NE(
      AssetSignature(kSecret, absl::StrCat(kUuid, "/preview.png"), expires),
      sig);
  EXPECT_NE(AssetSignature("", path, expires), AssetSignature("", "", expires));

  // The TTL and the clock move the expiry, and the signature with it.
  PayloadContext later = ctx;
  later.now += absl::Seconds(10);
  later.url_ttl = absl::Minutes(5);
  const std::string url2 = AssetUrl(t, asset, later);
  EXPECT_EQ(CheckSignedUrl(url2, "textured_model_0.glb"),
            absl::ToUnixSeconds(ctx.now) + 310);
  EXPECT_NE(url2, url);
}

TEST(AssetIdTest, StableUuidPerFile) {
  const std::string id = AssetId(kUuid, "textured_model_0.glb");
  static const std::regex re(
      "^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$");
  EXPECT_TRUE(std::regex_match(id, re)) << id;
  EXPECT_EQ(AssetId(kUuid, "textured_model_0.glb"), id);
  EXPECT_NE(AssetId(kUuid, "preview.png"), id);
}

TEST(DownloadTest, PayloadAndExtension) {
  Task t = MakeTask(TaskStatus::kSuccess);
  rapidjson::Document d = Parse(DownloadPayload(t, Ctx()));
  EXPECT_THAT(Keys(d),
              ElementsAre("download_url", "preview_url", "asset_id", "kind"));
  CheckSignedUrl(Str(d, "download_url"), "textured_model_0.glb");
  CheckSignedUrl(Str(d, "preview_url"), "preview.png");
  EXPECT_EQ(Str(d, "asset_id"), AssetId(kUuid, "textured_model_0.glb"));
  EXPECT_EQ(Str(d, "kind"), "model");

  rapidjson::Document legacy = Parse(DownloadPayload(t, Ctx(true)));
  EXPECT_FALSE(legacy.HasMember("asset_id"));

  EXPECT_EQ(DownloadExtension(t, false), "glb");
  auto remesh = ParseCreateRequest(
      "model-remesh",
      R"({"model_file":"https://x.test/m.glb","export_format":"obj"})", false);
  ASSERT_TRUE(remesh.ok());
  t.assets = remesh->assets;
  t.primary_asset = remesh->primary_asset;
  EXPECT_EQ(DownloadExtension(t, false), "obj");
  EXPECT_EQ(DownloadExtension(t, true), "glb");
  t.assets[t.primary_asset].file_name = "noext";
  EXPECT_EQ(DownloadExtension(t, false), "glb");
  t.primary_asset = -1;
  EXPECT_EQ(DownloadExtension(t, false), "glb");
}

TEST(AccountPayloadsTest, BalanceIsTotalMinusFrozen) {
  AccountInfo a;
  a.user_id = "u";
  a.email = "user1@example.com";
  a.total_credits = 1000;
  a.frozen_credits = 120;
  rapidjson::Document b = Parse(BalancePayload(a));
  ASSERT_TRUE(b["balance"].IsNumber());
  EXPECT_DOUBLE_EQ(b["balance"].GetDouble(), 880);
  EXPECT_DOUBLE_EQ(b["frozen"].GetDouble(), 120);
  rapidjson::Document u = Parse(UserPayload(a));
  EXPECT_DOUBLE_EQ(u["api_credits_balance"].GetDouble(), 880);
  EXPECT_TRUE(u["web_credits_balance"].IsNumber());
  EXPECT_TRUE(u["plan_name"].IsNull());
  a.plan_name = "pro";
  EXPECT_EQ(Str(Parse(UserPayload(a)), "plan_name"), "pro");
}

TEST(QuotePayloadTest, SeedExample) {
  auto q = ParseQuoteRequest(
      R"({"flow_name":"image-generation",)"
      R"("params":{"ai_model":"seedream_4_5","image_count":4}})");
  ASSERT_TRUE(q.ok());
  rapidjson::Document d = Parse(QuotePayload(*q, 120));
  EXPECT_THAT(Keys(d), ElementsAre("flow_name", "params", "cost_credits",
                                   "available_credits"));
  EXPECT_EQ(Str(d, "flow_name"), "image-generation");
  EXPECT_EQ(Str(d["params"], "ai_model"), "seedream_4_5");
  EXPECT_EQ(d["params"]["image_count"].GetInt(), 4);
  EXPECT_EQ(d["cost_credits"].GetInt64(), 16);
  EXPECT_EQ(d["available_credits"].GetInt64(), 120);
}

}  // namespace
}  // namespace triverse::emulator
