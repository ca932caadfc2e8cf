#include "emulator/providers.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "emulator/hashing.h"
#include "rapidjson/document.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace triverse::emulator {
namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

std::string Done(const rapidjson::StringBuffer& buf) {
  return std::string(buf.GetString(), buf.GetSize());
}

std::string ToJson(const rapidjson::Value& v) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  v.Accept(w);
  return Done(buf);
}

void Str(Writer& w, absl::string_view key, absl::string_view value) {
  w.Key(key.data(), static_cast<rapidjson::SizeType>(key.size()));
  w.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
}

void Raw(Writer& w, absl::string_view json) {
  w.RawValue(json.data(), json.size(), rapidjson::kObjectType);
}

int64_t CeilSeconds(absl::Duration d) {
  return static_cast<int64_t>(std::ceil(absl::ToDoubleSeconds(d)));
}

// ---------------------------------------------------------------- Tripo

constexpr char kTripoDefaultVersion[] = "v2.5-20250123";
constexpr char kTripoP1[] = "P1-20260311";

const std::vector<std::string>& TripoVersions() {
  static const auto* const kVersions = new std::vector<std::string>{
      "v3.1-20260211", "v3.0-20250812", kTripoDefaultVersion,
      "v2.0-20240919", "v1.4-20240625", "Turbo-v1.0-20250506",
      kTripoP1};
  return *kVersions;
}

const std::vector<std::string>& ModelTypes() {
  static const auto* const kTypes = new std::vector<std::string>{
      "text_to_model", "image_to_model", "multiview_to_model"};
  return *kTypes;
}

bool Contains(const std::vector<std::string>& v, absl::string_view s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

absl::string_view TripoMessage(int code) {
  switch (code) {
    case 1000:
      return "Unknown server error.";
    case 1001:
      return "Fatal server error.";
    case 1002:
      return "Authentication failed.";
    case 1003:
      return "The request body is malformed.";
    case 1004:
      return "One or more parameters are invalid.";
    case 1005:
      return "You are not allowed to access this resource.";
    case 1007:
      return "You have exceeded the rate limit.";
    case 2000:
      return "You have exceeded the limit of generation.";
    case 2001:
      return "Task not found.";
    case 2002:
      return "The task type is unsupported.";
    case 2003:
      return "The input image file is empty.";
    case 2004:
      return "The file type is unsupported.";
    case 2005:
      return "The draft task is not a success task.";
    case 2006:
      return "The type of the original task is not supported.";
    case 2007:
      return "The original task did not succeed.";
    case 2008:
      return "The input violates the content policy.";
    case 2010:
      return "You need more credits to start a new task.";
    case 2017:
      return "The version value is invalid.";
    case 2019:
      return "File not found.";
    case 9404:
      return "Not found.";
    default:
      return "Unknown server error.";
  }
}

int TripoHttpStatus(int code) {
  switch (code) {
    case 1000:
    case 1001:
      return 500;
    case 1002:
      return 401;
    case 1005:
    case 2010:
    case 2013:
      return 403;
    case 1007:
    case 2000:
      return 429;
    case 2001:
    case 2019:
    case 9404:
      return 404;
    default:
      return code >= 1003 && code <= 2018 ? 400 : 500;
  }
}

ApiError TripoParam(absl::string_view field, absl::string_view rule) {
  return TripoError(kTripoInvalidParams,
                    absl::StrCat("Parameter '", field, "' ", rule, "."));
}

// Checks a file object: exactly one of file_token, url, object.
ApiResult<std::string> TripoFile(const rapidjson::Value& v,
                                 absl::string_view field) {
  if (!v.IsObject()) return TripoParam(field, "must be an object");
  int given = 0;
  std::string token;
  if (v.HasMember("file_token")) {
    ++given;
    if (!v["file_token"].IsString() || v["file_token"].GetStringLength() == 0)
      return TripoParam(absl::StrCat(field, ".file_token"),
                        "must be a non-empty string");
    token = v["file_token"].GetString();
  }
  if (v.HasMember("url")) {
    ++given;
    const rapidjson::Value& url = v["url"];
    if (!url.IsString() || !(absl::StartsWith(url.GetString(), "http://") ||
                             absl::StartsWith(url.GetString(), "https://"))) {
      return TripoParam(absl::StrCat(field, ".url"), "must be an http(s) URL");
    }
  }
  if (v.HasMember("object")) {
    ++given;
    const rapidjson::Value& o = v["object"];
    if (!o.IsObject() || !o.HasMember("bucket") || !o["bucket"].IsString() ||
        !o.HasMember("key") || !o["key"].IsString()) {
      return TripoParam(absl::StrCat(field, ".object"),
                        "must be {\"bucket\": string, \"key\": string}");
    }
  }
  if (given != 1) {
    return TripoParam(field, "needs exactly one of file_token, url and object");
  }
  if (v.HasMember("type")) {
    static const auto* const kTypes =
        new std::vector<std::string>{"jpg", "jpeg", "png", "webp"};
    if (!v["type"].IsString() ||
        !Contains(*kTypes, absl::AsciiStrToLower(v["type"].GetString()))) {
      return TripoError(kTripoImageType,
                        absl::StrCat("'", field,
                                     ".type' must be one of jpg, jpeg, png, "
                                     "webp."));
    }
  }
  return token;
}

AssetSpec Asset(std::string field, std::string file_name, AssetType type,
                std::string kind, int size = 0) {
  AssetSpec a;
  a.field = std::move(field);
  a.list = false;
  a.file_name = std::move(file_name);
  a.type = type;
  a.kind = std::move(kind);
  a.width = size;
  a.height = size;
  return a;
}

bool BoolOr(const rapidjson::Value& doc, const char* key, bool fallback) {
  auto it = doc.FindMember(key);
  return it == doc.MemberEnd() || !it->value.IsBool() ? fallback
                                                      : it->value.GetBool();
}

// Writes the output object of a successful task.
void TripoOutput(Writer& w, const Task& t, const PayloadContext& ctx) {
  w.StartObject();
  if (t.status == TaskStatus::kSuccess && !t.no_assets) {
    std::vector<std::string> nested_order;
    std::map<std::string, std::vector<std::pair<std::string, std::string>>>
        nested;
    for (const AssetSpec& a : t.assets) {
      const size_t dot = a.field.find('.');
      if (dot == std::string::npos) {
        Str(w, a.field, AssetUrl(t, a, ctx));
        continue;
      }
      const std::string group = a.field.substr(0, dot);
      if (nested.count(group) == 0) nested_order.push_back(group);
      nested[group].emplace_back(a.field.substr(dot + 1), AssetUrl(t, a, ctx));
    }
    for (const std::string& group : nested_order) {
      w.Key(group.c_str());
      w.StartObject();
      for (const auto& [key, url] : nested[group]) Str(w, key, url);
      w.EndObject();
    }
  }
  w.EndObject();
}

// ---------------------------------------------------------------- Siray

constexpr char kHunyuanText[] = "tencent/hunyuan3d-v2.5-rapid-text-to-3d";
constexpr char kTripoImage[] = "tripo/tripo3d-v2.5-image-to-3d";

ApiError SirayParam(std::string message) {
  return SirayError(400, std::move(message), "invalid_request_error",
                    "invalid_parameter");
}

std::string Hex32(absl::string_view uuid) {
  std::string out;
  for (char c : uuid) {
    if (c != '-') out.push_back(c);
  }
  return out;
}

std::string SirayTail(absl::string_view hex32) {
  return absl::StrFormat("%016x", SplitMix64(Fnv1a(hex32) ^ 0x5172a73dULL));
}

bool IsLowerHex(absl::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
  });
}

std::string UuidFromHex32(absl::string_view h) {
  return absl::StrCat(h.substr(0, 8), "-", h.substr(8, 4), "-", h.substr(12, 4),
                      "-", h.substr(16, 4), "-", h.substr(20, 12));
}

}  // namespace

// ------------------------------------------------------------------ Tripo

ApiError TripoError(int code, std::string suggestion) {
  ApiError e;
  e.code = code;
  e.http_status = TripoHttpStatus(code);
  e.message = std::string(TripoMessage(code));
  e.suggestion = std::move(suggestion);
  return e;
}

ApiError TripoFromStore(const ApiError& e) {
  switch (e.code) {
    case kTaskNotFound:
      return TripoError(kTripoTaskNotFound,
                        "Check the task_id. A task is visible only to the API "
                        "key that created it.");
    case kContentViolation:
      return TripoError(kTripoContentPolicy, e.suggestion);
    case kInsufficientCredits:
      return TripoError(kTripoNoCredit, e.suggestion);
    case kInvalidParameters:
      return TripoError(kTripoInvalidParams, e.suggestion);
    case kTripoConcurrency:
    case kTripoRateLimited:
      if (e.http_status == 429) return e;
      return TripoError(e.code, e.suggestion);
    case 401:
    case 403:
      return TripoError(kTripoAuthFailed, e.suggestion);
    case kPersistenceError:
      return TripoError(kTripoFatalError, e.suggestion);
    default:
      return TripoError(kTripoUnknownError, e.suggestion);
  }
}

ApiResult<TripoCreate> ParseTripoCreate(absl::string_view body,
                                        const TripoOptions& options) {
  rapidjson::Document doc;
  doc.Parse(body.data(), body.size());
  if (doc.HasParseError() || !doc.IsObject()) {
    return TripoError(kTripoBadBody, "Send a JSON object as the request body.");
  }
  if (!doc.HasMember("type") || !doc["type"].IsString()) {
    return TripoParam("type", "is required and must be a string");
  }
  TripoCreate out;
  out.type = doc["type"].GetString();
  const std::string& type = out.type;
  static const auto* const kTypes =
      new std::vector<std::string>{"text_to_model",           "image_to_model",
                                   "multiview_to_model",      "refine_model",
                                   "texture_model",           "convert_model",
                                   "generate_multiview_image"};
  if (!Contains(*kTypes, type)) {
    return TripoError(
        kTripoTypeNotSupported,
        absl::StrCat("The emulator serves the types text_to_model, "
                     "image_to_model, multiview_to_model, refine_model, "
                     "texture_model, convert_model and "
                     "generate_multiview_image; got '",
                     type, "'."));
  }
  CreateRequest& r = out.request;
  r.flow_name = type;
  r.allow_duplicate = true;
  const bool model_type = Contains(ModelTypes(), type);

  for (const char* key : {"texture", "pbr", "quad", "auto_size"}) {
    auto it = doc.FindMember(key);
    if (it != doc.MemberEnd() && !it->value.IsBool()) {
      return TripoParam(key, "must be a boolean");
    }
  }
  if (doc.HasMember("face_limit") &&
      (!doc["face_limit"].IsInt64() || doc["face_limit"].GetInt64() < 1)) {
    return TripoParam("face_limit", "must be a positive integer");
  }
  std::string version = kTripoDefaultVersion;
  if (doc.HasMember("model_version")) {
    if (!doc["model_version"].IsString() ||
        !Contains(TripoVersions(), doc["model_version"].GetString())) {
      return TripoError(kTripoVersionInvalid,
                        "model_version must be one of v3.1-20260211, "
                        "v3.0-20250812, v2.5-20250123, v2.0-20240919, "
                        "v1.4-20240625, Turbo-v1.0-20250506, P1-20260311.");
    }
    version = doc["model_version"].GetString();
  }
  const bool p1 = version == kTripoP1;

  if (type == "text_to_model") {
    if (!doc.HasMember("prompt") || !doc["prompt"].IsString() ||
        doc["prompt"].GetStringLength() == 0) {
      return TripoParam("prompt", "is required and must be a non-empty string");
    }
    if (doc["prompt"].GetStringLength() > 1024) {
      return TripoParam("prompt", "must be at most 1024 characters");
    }
    r.texts.push_back(doc["prompt"].GetString());
    if (doc.HasMember("negative_prompt")) {
      if (!doc["negative_prompt"].IsString() ||
          doc["negative_prompt"].GetStringLength() > 255) {
        return TripoParam("negative_prompt",
                          "must be a string of at most 255 characters");
      }
      r.texts.push_back(doc["negative_prompt"].GetString());
    }
  } else if (type == "image_to_model" || type == "generate_multiview_image") {
    if (!doc.HasMember("file")) return TripoParam("file", "is required");
    auto token = TripoFile(doc["file"], "file");
    if (!token.ok()) return token.error();
    out.file_token = *token;
  } else if (type == "multiview_to_model") {
    if (!doc.HasMember("files") || !doc["files"].IsArray() ||
        doc["files"].Size() != 4) {
      return TripoParam("files",
                        "must be an array of 4 file objects [front, left, "
                        "back, right] ({} for a missing view)");
    }
    const rapidjson::Value& files = doc["files"];
    for (rapidjson::SizeType i = 0; i < files.Size(); ++i) {
      if (files[i].IsObject() && files[i].MemberCount() == 0) {
        if (i == 0)
          return TripoParam("files[0]", "(the front view) is required");
        continue;
      }
      auto token = TripoFile(files[i], absl::StrCat("files[", i, "]"));
      if (!token.ok()) return token.error();
      if (out.file_token.empty()) out.file_token = *token;
    }
  } else {
    out.origin_field = type == "refine_model" ? "draft_model_task_id"
                                              : "original_model_task_id";
    const char* field = out.origin_field.c_str();
    if (!doc.HasMember(field) || !doc[field].IsString() ||
        doc[field].GetStringLength() == 0) {
      return TripoParam(field, "is required and must be a task_id");
    }
    out.origin_task_id = doc[field].GetString();
    out.origin_types = ModelTypes();
    if (type != "refine_model") {
      out.origin_types.push_back("refine_model");
      out.origin_types.push_back("texture_model");
    }
    if (type == "convert_model") {
      static const auto* const kFormats = new std::vector<std::string>{
          "GLTF", "USDZ", "FBX", "OBJ", "STL", "3MF"};
      if (!doc.HasMember("format") || !doc["format"].IsString() ||
          !Contains(*kFormats, doc["format"].GetString())) {
        return TripoParam("format",
                          "is required: one of GLTF, USDZ, FBX, OBJ, STL, 3MF");
      }
    }
  }

  // The input echo: the request without `type`, defaults filled in.
  rapidjson::Document input(rapidjson::kObjectType);
  auto& alloc = input.GetAllocator();
  for (auto& m : doc.GetObject()) {
    if (absl::string_view(m.name.GetString()) == "type") continue;
    input.AddMember(rapidjson::Value(m.name, alloc),
                    rapidjson::Value(m.value, alloc), alloc);
  }
  if (model_type && !input.HasMember("model_version")) {
    input.AddMember("model_version", rapidjson::Value(version.c_str(), alloc),
                    alloc);
  }
  r.public_input_json = ToJson(input);

  const bool texture =
      BoolOr(doc, "texture", true) || BoolOr(doc, "pbr", false);
  const bool pbr = BoolOr(doc, "pbr", true);
  if (model_type || type == "refine_model") {
    r.assets.push_back(Asset(
        "model", "model.glb",
        texture ? AssetType::kGlbTextured : AssetType::kGlbMesh, "model"));
    r.assets.push_back(
        Asset("base_model", "base_model.glb", AssetType::kGlbMesh, "model"));
    if (pbr) {
      r.assets.push_back(Asset("pbr_model", "pbr_model.glb",
                               AssetType::kGlbTextured, "model"));
    }
    r.assets.push_back(Asset("rendered_image", "rendered_image.png",
                             AssetType::kPng, "image", 512));
    r.primary_asset = 0;
    if (type == "text_to_model") {
      r.cost_credits = (texture ? 20 : 10) + (p1 ? 20 : 0);
    } else if (type == "refine_model") {
      r.cost_credits = 30;
    } else {
      r.cost_credits = (texture ? 30 : 20) + (p1 ? 20 : 0);
    }
  } else if (type == "texture_model") {
    r.assets.push_back(
        Asset("model", "model.glb", AssetType::kGlbTextured, "model"));
    if (pbr) {
      r.assets.push_back(Asset("pbr_model", "pbr_model.glb",
                               AssetType::kGlbTextured, "model"));
    }
    r.assets.push_back(Asset("rendered_image", "rendered_image.png",
                             AssetType::kPng, "image", 512));
    r.primary_asset = 0;
    r.cost_credits = 10;
  } else if (type == "convert_model") {
    const std::string format = doc["format"].GetString();
    if (format == "OBJ") {
      r.assets.push_back(Asset("model", "model.obj", AssetType::kObj, "model"));
    } else if (format == "STL") {
      r.assets.push_back(Asset("model", "model.stl", AssetType::kStl, "model"));
    } else {
      // GLTF, USDZ, FBX and 3MF are served as binary glTF.
      r.assets.push_back(
          Asset("model", "model.glb", AssetType::kGlbTextured, "model"));
    }
    r.primary_asset = 0;
    r.cost_credits = 5;
  } else {  // generate_multiview_image
    for (const char* view : {"front", "left", "back", "right"}) {
      r.assets.push_back(Asset(
          absl::StrCat("generate_multiview_image.", view, "_view_url"),
          absl::StrCat(view, "_view.png"), AssetType::kPng, "image", 512));
    }
    r.primary_asset = 0;
    r.cost_credits = 10;
  }

  if (model_type) {
    r.concurrency_group = p1 ? "p1_model" : "model";
    r.concurrency_limit =
        p1 ? options.p1_concurrency : options.model_concurrency;
  } else if (type == "refine_model") {
    r.concurrency_group = type;
    r.concurrency_limit = options.refine_concurrency;
  } else if (type == "generate_multiview_image") {
    r.concurrency_group = type;
    r.concurrency_limit = options.multiview_image_concurrency;
  } else {
    r.concurrency_group = type;
    r.concurrency_limit = options.other_concurrency;
  }
  r.per_minute_limit = options.creations_per_minute;

  const std::string lower = absl::AsciiStrToLower(body);
  if (absl::StrContains(lower, "tripo-banned")) {
    r.outcome = ForcedOutcome::kBanned;
  } else if (absl::StrContains(lower, "tripo-expired")) {
    r.outcome = ForcedOutcome::kExpired;
  } else if (absl::StrContains(lower, "tripo-cancelled")) {
    r.outcome = ForcedOutcome::kCancel;
  } else if (absl::StrContains(lower, "tripo-unknown")) {
    r.outcome = ForcedOutcome::kUnknown;
  } else if (absl::StrContains(lower, "tripo-fail")) {
    r.outcome = ForcedOutcome::kFailure;
  }
  return out;
}

std::string TripoStatus(const Task& t) {
  if (t.variant == "unknown" && !IsTerminal(t.status)) return "unknown";
  switch (t.status) {
    case TaskStatus::kPending:
    case TaskStatus::kQueued:
      return "queued";
    case TaskStatus::kRunning:
      return "running";
    case TaskStatus::kSuccess:
      return "success";
    case TaskStatus::kFailed:
      return t.variant.empty() ? "failed" : t.variant;
    case TaskStatus::kCancelled:
      return "cancelled";
  }
  return "unknown";
}

bool TripoFinalized(absl::string_view status) {
  return status != "queued" && status != "running";
}

std::string TripoEnvelope(absl::string_view data_json) {
  return absl::StrCat(R"({"code":0,"data":)", data_json, "}");
}

std::string TripoTaskPayload(const Task& t, const TripoPayloadContext& ctx) {
  const std::string status = TripoStatus(t);
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  Str(w, "task_id", t.uuid);
  Str(w, "type", t.flow_name);
  Str(w, "status", status);
  w.Key("input");
  Raw(w, t.public_input_json);
  w.Key("output");
  TripoOutput(w, t, ctx.base);
  int progress = t.progress;
  if (status == "queued") progress = 0;
  if (status == "running") progress = std::clamp(t.progress, 1, 99);
  if (status == "success" || status == "failed") progress = 100;
  w.Key("progress");
  w.Int(progress);
  w.Key("create_time");
  w.Int64(absl::ToUnixSeconds(t.created_at));
  w.Key("consumed_credit");
  w.Int64(status == "success" ? t.cost_credits : 0);
  w.Key("queuing_num");
  w.Int(status == "queued" ? std::max(0, t.queue_position - 1) : -1);
  int64_t left = -1;
  if (status == "running" && t.started_at) {
    left = std::max<int64_t>(
        0, CeilSeconds(*t.started_at + ctx.run_duration - ctx.base.now));
  }
  w.Key("running_left_time");
  w.Int64(left);
  if (status == "failed") {
    w.Key("error_code");
    w.Int(kTripoFatalError);
  }
  if (ctx.extras) {
    rapidjson::Document input;
    input.Parse(t.public_input_json.c_str());
    std::string prompt;
    if (input.IsObject() && input.HasMember("prompt") &&
        input["prompt"].IsString()) {
      prompt = input["prompt"].GetString();
    }
    Str(w, "prompt", prompt);
    w.Key("result");
    w.StartObject();
    w.EndObject();
  }
  w.EndObject();
  return Done(buf);
}

std::string TripoCreationPayload(const Task& t) {
  return absl::StrCat(R"({"task_id":")", t.uuid, "\"}");
}

std::string TripoUploadPayload(absl::string_view image_token) {
  return absl::StrCat(R"({"image_token":")", image_token, "\"}");
}

std::string TripoFrame(const Task& t, const TripoPayloadContext& ctx) {
  return absl::StrCat(R"({"event":")",
                      TripoFinalized(TripoStatus(t)) ? "finalized" : "update",
                      R"(","data":)", TripoTaskPayload(t, ctx), "}");
}

// ------------------------------------------------------------------ Siray

ApiError SirayError(int http_status, std::string message, std::string type,
                    std::string code) {
  ApiError e;
  e.http_status = http_status;
  e.code = http_status;
  e.message = std::move(message);
  e.error_type = std::move(type);
  e.string_code = std::move(code);
  return e;
}

ApiError SirayFromStore(const ApiError& e) {
  const std::string detail = e.suggestion.empty()
                                 ? e.message
                                 : absl::StrCat(e.message, " ", e.suggestion);
  switch (e.code) {
    case kTaskNotFound:
      return SirayError(404, "Task not found.", "not_found_error",
                        "task_not_found");
    case kContentViolation:
      return SirayError(400, detail, "invalid_request_error",
                        "content_policy_violation");
    case kInsufficientCredits:
      return SirayError(429, detail, "insufficient_quota",
                        "insufficient_quota");
    case kRateLimited: {
      ApiError out =
          SirayError(429, detail, "rate_limit_error", "rate_limit_exceeded");
      out.retry_after_seconds = e.retry_after_seconds;
      return out;
    }
    case kInvalidParameters:
      return SirayParam(detail);
    case 401:
    case 403:
      return SirayError(401, "Invalid API key provided.",
                        "authentication_error", "invalid_api_key");
    default:
      return SirayError(500, detail, "server_error", "internal_error");
  }
}

std::string SirayErrorJson(const ApiError& e) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  w.Key("error");
  w.StartObject();
  Str(w, "message", e.message);
  Str(w, "type", e.error_type.empty() ? "server_error" : e.error_type);
  Str(w, "code", e.string_code.empty() ? "internal_error" : e.string_code);
  w.EndObject();
  w.EndObject();
  return Done(buf);
}

ApiResult<CreateRequest> ParseSirayCreate(absl::string_view body) {
  rapidjson::Document doc;
  doc.Parse(body.data(), body.size());
  if (doc.HasParseError() || !doc.IsObject()) {
    return SirayError(400, "The request body must be a JSON object.",
                      "invalid_request_error", "invalid_json");
  }
  if (!doc.HasMember("model") || !doc["model"].IsString()) {
    return SirayError(400, "'model' is required.", "invalid_request_error",
                      "missing_required_parameter");
  }
  const std::string model = doc["model"].GetString();
  CreateRequest r;
  r.flow_name = model;
  r.allow_duplicate = true;
  auto check_bool = [&](const char* key) -> bool {
    auto it = doc.FindMember(key);
    return it == doc.MemberEnd() || it->value.IsBool();
  };
  bool textured = true;
  if (model == kHunyuanText) {
    if (!doc.HasMember("prompt") || !doc["prompt"].IsString() ||
        doc["prompt"].GetStringLength() == 0) {
      return SirayError(400, "'prompt' is required for this model.",
                        "invalid_request_error", "missing_required_parameter");
    }
    for (const char* key : {"pbr_enable", "texture_enable"}) {
      if (!check_bool(key)) {
        return SirayParam(absl::StrCat("'", key, "' must be a boolean."));
      }
    }
    r.texts.push_back(doc["prompt"].GetString());
    r.cost_credits = 20;
  } else if (model == kTripoImage) {
    if (!doc.HasMember("image") || !doc["image"].IsString() ||
        doc["image"].GetStringLength() == 0) {
      return SirayError(400, "'image' is required for this model.",
                        "invalid_request_error", "missing_required_parameter");
    }
    const absl::string_view image = doc["image"].GetString();
    const bool url = absl::StartsWith(image, "http://") ||
                     absl::StartsWith(image, "https://");
    const bool data = absl::StartsWith(image, "data:image/") &&
                      absl::StrContains(image, ";base64,");
    if (!url && !data) {
      return SirayParam(
          "'image' must be an http(s) URL or a data URL "
          "(data:image/<type>;base64,...).");
    }
    for (const char* key :
         {"auto_size", "pbr_enable", "quad", "texture_enable"}) {
      if (!check_bool(key)) {
        return SirayParam(absl::StrCat("'", key, "' must be a boolean."));
      }
    }
    if (doc.HasMember("seed") &&
        (!doc["seed"].IsInt64() || doc["seed"].GetInt64() < -1 ||
         doc["seed"].GetInt64() > 9999999999LL)) {
      return SirayParam("'seed' must be an integer in [-1, 9999999999].");
    }
    if (doc.HasMember("face_limit") &&
        (!doc["face_limit"].IsInt64() || doc["face_limit"].GetInt64() < 1)) {
      return SirayParam("'face_limit' must be a positive integer.");
    }
    if (doc.HasMember("texture_quality") &&
        (!doc["texture_quality"].IsString() ||
         (std::string(doc["texture_quality"].GetString()) != "standard" &&
          std::string(doc["texture_quality"].GetString()) != "HD"))) {
      return SirayParam("'texture_quality' must be 'standard' or 'HD'.");
    }
    if (doc.HasMember("texture_alignment") &&
        (!doc["texture_alignment"].IsString() ||
         (std::string(doc["texture_alignment"].GetString()) !=
              "original_image" &&
          std::string(doc["texture_alignment"].GetString()) != "geometry"))) {
      return SirayParam(
          "'texture_alignment' must be 'original_image' or 'geometry'.");
    }
    r.cost_credits = 30;
  } else {
    return SirayError(
        400,
        absl::StrCat("The model '", model,
                     "' does not exist or is not a 3D model. Use ",
                     kHunyuanText, " or ", kTripoImage, "."),
        "invalid_request_error", "model_not_found");
  }
  textured = BoolOr(doc, "texture_enable", true);
  // The input as sent, a data URL shortened (it would fill the ledger).
  rapidjson::Document input(rapidjson::kObjectType);
  input.CopyFrom(doc, input.GetAllocator());
  if (input.HasMember("image") && input["image"].IsString() &&
      absl::StartsWith(input["image"].GetString(), "data:")) {
    const std::string shortened =
        absl::StrCat("data:(", input["image"].GetStringLength(), " bytes)");
    input["image"].SetString(shortened.c_str(), input.GetAllocator());
  }
  r.public_input_json = ToJson(input);
  r.assets.push_back(
      Asset("outputs", "model.glb",
            textured ? AssetType::kGlbTextured : AssetType::kGlbMesh, "model"));
  r.primary_asset = 0;
  if (absl::StrContains(absl::AsciiStrToLower(body), "siray-fail")) {
    r.outcome = ForcedOutcome::kFailure;
  }
  return r;
}

std::string SirayTaskId(absl::string_view uuid) {
  const std::string hex = Hex32(uuid);
  return absl::StrCat("3d_", hex, SirayTail(hex));
}

std::optional<std::string> SirayTaskUuid(absl::string_view id) {
  if (!absl::StartsWith(id, "3d_") || id.size() != 3 + 48) return std::nullopt;
  const absl::string_view hex = id.substr(3);
  if (!IsLowerHex(hex)) return std::nullopt;
  if (SirayTail(hex.substr(0, 32)) != hex.substr(32)) return std::nullopt;
  return UuidFromHex32(hex.substr(0, 32));
}

std::string SirayRedirectToken(const Task& task, int asset,
                               absl::string_view secret) {
  return absl::StrCat(
      Hex32(task.uuid), absl::StrFormat("%02x", asset),
      AssetSignature(secret, absl::StrCat(task.uuid, "/", asset), 0));
}

bool ParseSirayRedirectToken(absl::string_view token, absl::string_view secret,
                             std::string* uuid, int* asset) {
  if (token.size() != 32 + 2 + 16 || !IsLowerHex(token)) return false;
  *uuid = UuidFromHex32(token.substr(0, 32));
  const absl::string_view index = token.substr(32, 2);
  *asset = (index[0] >= 'a' ? index[0] - 'a' + 10 : index[0] - '0') * 16 +
           (index[1] >= 'a' ? index[1] - 'a' + 10 : index[1] - '0');
  return AssetSignature(secret, absl::StrCat(*uuid, "/", *asset), 0) ==
         token.substr(34);
}

std::string SirayEnvelope(absl::string_view data_json) {
  return absl::StrCat(R"({"code":"success","message":"","data":)", data_json,
                      "}");
}

std::string SirayCreationPayload(const Task& t) {
  return absl::StrCat(R"({"task_id":")", SirayTaskId(t.uuid), "\"}");
}

std::string SirayTaskPayload(const Task& t, const SirayPayloadContext& ctx) {
  std::string status;
  int progress = t.progress;
  switch (t.status) {
    case TaskStatus::kPending:
      status = ctx.now < t.created_at + ctx.pending_duration / 2 ? "NOT_START"
                                                                 : "SUBMITTED";
      progress = 0;
      break;
    case TaskStatus::kQueued:
      status = "QUEUED";
      progress = 0;
      break;
    case TaskStatus::kRunning:
      status = "IN_PROGRESS";
      break;
    case TaskStatus::kSuccess:
      status = "SUCCESS";
      progress = 100;
      break;
    case TaskStatus::kFailed:
    case TaskStatus::kCancelled:
      status = "FAILURE";
      break;
  }
  const bool success = status == "SUCCESS";
  const bool failure = status == "FAILURE";
  std::string shown = status;
  if (ctx.alt_status != 0 && success) {
    shown = ctx.alt_status == 1 ? "SUCCEEDED" : "COMPLETED";
  } else if (ctx.alt_status != 0 && failure) {
    shown = ctx.alt_status == 1 ? "FAILED" : "ERROR";
  }
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  Str(w, "task_id", SirayTaskId(t.uuid));
  Str(w, "status", shown);
  switch (ctx.odd_progress) {
    case 1:
      Str(w, "progress", "");
      break;
    case 2:
      break;  // missing
    case 3:
      Str(w, "progress", "abc");
      break;
    case 4:
      Str(w, "progress", absl::StrCat(" ", progress, " %"));
      break;
    case 5:
      Str(w, "progress",
          progress < 100 ? absl::StrCat(progress, ".5%")
                         : std::string("100.0%"));
      break;
    default:
      Str(w, "progress", absl::StrCat(progress, "%"));
  }
  if (success) {
    w.Key("outputs");
    w.StartArray();
    if (!t.no_assets) {
      for (size_t i = 0; i < t.assets.size(); ++i) {
        w.String(absl::StrCat(
            ctx.base_url, "/redirect/",
            SirayRedirectToken(t, static_cast<int>(i), ctx.signing_secret)));
      }
    }
    w.EndArray();
  }
  auto time_field = [&](const char* key, std::optional<absl::Time> at) {
    if (at) {
      w.Key(key);
      w.Int64(absl::ToUnixSeconds(*at));
    } else if (!ctx.omit_unset_times) {
      w.Key(key);
      w.Int64(0);
    }
  };
  time_field("start_time", t.started_at);
  time_field("finish_time", t.completed_at);
  time_field("submit_time", status == "NOT_START"
                                ? std::nullopt
                                : std::optional<absl::Time>(t.created_at));
  std::string reason;
  if (failure) {
    reason = t.status == TaskStatus::kCancelled
                 ? "The task was stopped by the system before it finished."
                 : "3D generation failed: the model could not produce a "
                   "valid mesh from the input.";
  }
  Str(w, "fail_reason", reason);
  w.EndObject();
  return Done(buf);
}

}  // namespace triverse::emulator
