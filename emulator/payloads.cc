#include "emulator/payloads.h"

#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "emulator/hashing.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace triverse::emulator {
namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

std::string Done(const rapidjson::StringBuffer& buf) {
  return std::string(buf.GetString(), buf.GetSize());
}

void Str(Writer& w, absl::string_view key, absl::string_view value) {
  w.Key(key.data(), static_cast<rapidjson::SizeType>(key.size()));
  w.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
}

void TimeOrNull(Writer& w, const char* key,
                const std::optional<absl::Time>& t) {
  w.Key(key);
  if (t) {
    w.String(FormatTimestamp(*t));
  } else {
    w.Null();
  }
}

void Raw(Writer& w, absl::string_view json) {
  w.RawValue(json.data(), json.size(), rapidjson::kObjectType);
}

void Queue(Writer& w, const Task& t) {
  w.Key("queue");
  if (t.status == TaskStatus::kPending) {
    w.StartObject();
    w.Key("is_queued");
    w.Bool(false);
    w.Key("position");
    w.Null();
    w.Key("estimated_wait_seconds");
    w.Null();
    w.EndObject();
  } else if (t.status == TaskStatus::kQueued) {
    w.StartObject();
    w.Key("is_queued");
    w.Bool(true);
    w.Key("position");
    w.Int(t.queue_position);
    w.Key("estimated_wait_seconds");
    w.Int64(t.estimated_wait_seconds);
    w.EndObject();
  } else {
    w.Null();
  }
}

// Writes the output object's URL fields, grouped by field in asset order.
void OutputUrls(Writer& w, const Task& t, const PayloadContext& ctx) {
  std::vector<std::string> order;
  std::map<std::string, std::vector<const AssetSpec*>> by_field;
  for (const AssetSpec& a : t.assets) {
    if (by_field.count(a.field) == 0) order.push_back(a.field);
    by_field[a.field].push_back(&a);
  }
  for (const std::string& field : order) {
    const auto& assets = by_field[field];
    w.Key(field.c_str());
    if (assets.front()->list) {
      w.StartArray();
      for (const AssetSpec* a : assets) w.String(AssetUrl(t, *a, ctx));
      w.EndArray();
    } else {
      w.String(AssetUrl(t, *assets.front(), ctx));
    }
  }
}

bool HasField(const Task& t, absl::string_view field) {
  for (const AssetSpec& a : t.assets) {
    if (a.field == field) return true;
  }
  return false;
}

// The older API showed internal sub-job states in `output`.
void LegacyOutput(Writer& w, const Task& t, const PayloadContext& ctx) {
  w.Key("output");
  const bool geometry_done =
      t.status == TaskStatus::kSuccess ||
      (t.status == TaskStatus::kRunning && t.progress >= 50);
  auto job = [&](bool done) -> const char* {
    if (done) return "COMPLETED";
    if (t.status == TaskStatus::kFailed) return "FAILED";
    if (t.status == TaskStatus::kCancelled) return "CANCELLED";
    if (t.status == TaskStatus::kRunning) return "IN_PROGRESS";
    return "PENDING";
  };
  w.StartObject();
  w.Key("geometry_job_status");
  w.String(job(geometry_done));
  w.Key("texture_job_status");
  w.String(job(t.status == TaskStatus::kSuccess));
  if (t.status == TaskStatus::kSuccess && !t.no_assets) {
    OutputUrls(w, t, ctx);
  }
  w.EndObject();
}

}  // namespace

std::string Envelope(absl::string_view data_json) {
  return absl::StrCat(R"({"code":0,"message":"success","data":)", data_json,
                      "}");
}

std::string FormatTimestamp(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", t, absl::UTCTimeZone());
}

std::string AssetSignature(absl::string_view secret, absl::string_view path,
                           int64_t expires) {
  uint64_t h = Fnv1a(secret);
  h = Fnv1a(path, SplitMix64(h));
  h = SplitMix64(h ^ static_cast<uint64_t>(expires));
  return absl::StrFormat("%016x", h);
}

std::string AssetId(absl::string_view task_uuid, absl::string_view file_name) {
  const uint64_t hi = SplitMix64(Fnv1a(task_uuid) ^ Fnv1a(file_name));
  return FormatUuid(hi, SplitMix64(hi ^ 0x51ed270b27422fe5ULL));
}

std::string AssetUrl(const Task& task, const AssetSpec& asset,
                     const PayloadContext& ctx) {
  const std::string path = absl::StrCat(task.uuid, "/", asset.file_name);
  const int64_t expires = absl::ToUnixSeconds(ctx.now + ctx.url_ttl);
  if (!ctx.url_nonce.empty()) {
    return absl::StrCat(
        ctx.base_url, "/assets/", path, "?expires=", expires,
        "&nonce=", ctx.url_nonce, "&signature=",
        AssetSignature(ctx.signing_secret,
                       absl::StrCat(path, "#", ctx.url_nonce), expires));
  }
  return absl::StrCat(
      ctx.base_url, "/assets/", path, "?expires=", expires,
      "&signature=", AssetSignature(ctx.signing_secret, path, expires));
}

std::string DownloadExtension(const Task& task, bool legacy) {
  if (legacy || task.primary_asset < 0) return "glb";
  const std::string& name = task.assets[task.primary_asset].file_name;
  const size_t dot = name.rfind('.');
  if (dot == std::string::npos || dot + 1 == name.size()) return "glb";
  return name.substr(dot + 1);
}

std::string CreationPayload(const Task& t, const PayloadContext& ctx) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  Str(w, "task_uuid", t.uuid);
  if (ctx.legacy) {
    Str(w, "name", absl::StrCat(t.flow_name, "-", t.uuid.substr(0, 8)));
    Str(w, "created_at", FormatTimestamp(t.created_at));
    w.Key("is_public");
    w.Bool(false);
    w.Key("task_priority");
    w.Int(0);
    Str(w, "status", StatusName(t.status));
    Str(w, "flow_name", t.flow_name);
    w.Key("input");
    Raw(w, t.public_input_json);
    w.Key("costCredits");
    w.Int64(t.cost_credits);
  } else {
    Str(w, "flow_name", t.flow_name);
    Str(w, "status", StatusName(t.status));
    Str(w, "created_at", FormatTimestamp(t.created_at));
    w.Key("cost_credits");
    w.Int64(t.cost_credits);
    Queue(w, t);
    w.Key("read_after_write_deadline_seconds");
    const int64_t window = absl::ToInt64Seconds(
        absl::Ceil(ctx.read_after_write_window, absl::Seconds(1)));
    if (window > 0) {
      w.Int64(window);
    } else {
      w.Null();
    }
    w.Key("read_after_write_header");
    if (window > 0 && !ctx.read_after_write_header.empty()) {
      w.String(ctx.read_after_write_header);
    } else {
      w.Null();
    }
  }
  w.EndObject();
  return Done(buf);
}

std::string StatusPayload(const Task& t, const PayloadContext& ctx) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  if (ctx.legacy) {
    Str(w, "taskId", t.uuid);
    Str(w, "status", StatusName(t.status));
    w.Key("progress");
    w.Int(t.progress);
    w.Key("input");
    Raw(w, t.public_input_json);
    LegacyOutput(w, t, ctx);
    w.EndObject();
    return Done(buf);
  }
  Str(w, "task_uuid", t.uuid);
  Str(w, "flow_name", t.flow_name);
  Str(w, "status", StatusName(t.status));
  w.Key("progress");
  w.Int(t.progress);
  Str(w, "created_at", FormatTimestamp(t.created_at));
  TimeOrNull(w, "started_at", t.started_at);
  TimeOrNull(w, "completed_at", t.completed_at);
  w.Key("input");
  Raw(w, t.public_input_json);
  w.Key("output");
  if (t.status == TaskStatus::kSuccess) {
    w.StartObject();
    if (!t.no_assets) OutputUrls(w, t, ctx);
    w.EndObject();
  } else {
    w.Null();
  }
  w.Key("error");
  if (t.status == TaskStatus::kFailed) {
    w.StartObject();
    w.Key("code");
    w.Int(5000);
    Str(w, "message", "The generation failed.");
    Str(w, "suggestion", "Retry the task; the frozen credits were released.");
    w.EndObject();
  } else {
    w.Null();
  }
  Queue(w, t);
  w.EndObject();
  return Done(buf);
}

std::string OwnModelRecord(const Task& t, const PayloadContext& ctx) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  const bool assets = t.status == TaskStatus::kSuccess && !t.no_assets;
  auto urls = [&](const char* field) {
    w.Key(field);
    if (!assets || !HasField(t, field)) {
      w.Null();
      return;
    }
    w.StartArray();
    for (const AssetSpec& a : t.assets) {
      if (a.field == field) w.String(AssetUrl(t, a, ctx));
    }
    w.EndArray();
  };
  w.StartObject();
  Str(w, "task_uuid", t.uuid);
  Str(w, "flow_name", t.flow_name);
  Str(w, "status", StatusName(t.status));
  Str(w, "created_at", FormatTimestamp(t.created_at));
  Str(w, "name", absl::StrCat(t.flow_name, "-", t.uuid.substr(0, 8)));
  w.Key("is_public");
  w.Bool(false);
  TimeOrNull(w, "started_at", t.started_at);
  TimeOrNull(w, "completed_at", t.completed_at);
  urls("geometry_model_url");
  urls("textured_model_url");
  urls("preprocessed_image_url");
  w.Key("assets");
  if (assets) {
    w.StartArray();
    for (const AssetSpec& a : t.assets) {
      w.StartObject();
      Str(w, "asset_id", AssetId(t.uuid, a.file_name));
      Str(w, "kind", a.kind);
      Str(w, "file_name", a.file_name);
      Str(w, "url", AssetUrl(t, a, ctx));
      w.EndObject();
    }
    w.EndArray();
  } else {
    w.Null();
  }
  w.Key("request_payload");
  Raw(w, t.public_input_json);
  w.EndObject();
  return Done(buf);
}

std::string OwnModelsPage(const std::vector<Task>& tasks, int64_t total,
                          int64_t page, int64_t page_size,
                          const PayloadContext& ctx) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  w.Key("records");
  w.StartArray();
  for (const Task& t : tasks) Raw(w, OwnModelRecord(t, ctx));
  w.EndArray();
  w.Key("total");
  w.Int64(total);
  w.Key("size");
  w.Int64(page_size);
  w.Key("current");
  w.Int64(page);
  w.Key("pages");
  w.Int64(page_size > 0 ? (total + page_size - 1) / page_size : 0);
  w.EndObject();
  return Done(buf);
}

std::string DownloadPayload(const Task& t, const PayloadContext& ctx) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  const AssetSpec& primary = t.assets[t.primary_asset];
  w.StartObject();
  Str(w, "download_url", AssetUrl(t, primary, ctx));
  for (const AssetSpec& a : t.assets) {
    if (a.field == "preview_url") {
      Str(w, "preview_url", AssetUrl(t, a, ctx));
      break;
    }
  }
  if (!ctx.legacy) Str(w, "asset_id", AssetId(t.uuid, primary.file_name));
  Str(w, "kind", primary.kind);
  w.EndObject();
  return Done(buf);
}

std::string UserPayload(const AccountInfo& a) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  Str(w, "id", a.user_id);
  Str(w, "email", a.email);
  w.Key("web_credits_balance");
  w.Double(0.0);
  w.Key("api_credits_balance");
  w.Double(static_cast<double>(a.total_credits - a.frozen_credits));
  w.Key("plan_name");
  if (a.plan_name.empty()) {
    w.Null();
  } else {
    w.String(a.plan_name);
  }
  w.EndObject();
  return Done(buf);
}

std::string BalancePayload(const AccountInfo& a) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  w.Key("balance");
  w.Double(static_cast<double>(a.total_credits - a.frozen_credits));
  w.Key("frozen");
  w.Double(static_cast<double>(a.frozen_credits));
  w.EndObject();
  return Done(buf);
}

std::string QuotePayload(const PriceQuote& q, int64_t available_credits) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  Str(w, "flow_name", q.flow_name);
  w.Key("params");
  Raw(w, q.params_json);
  w.Key("cost_credits");
  w.Int64(q.cost_credits);
  w.Key("available_credits");
  w.Int64(available_credits);
  w.EndObject();
  return Done(buf);
}

std::string UploadPayload(absl::string_view file_key) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  Str(w, "file_key", file_key);
  w.EndObject();
  return Done(buf);
}

std::string WebSocketFrame(const TaskEvent& event, const PayloadContext& ctx,
                           bool trailing_blank_line, bool enveloped) {
  std::string data = StatusPayload(event.task, ctx);
  if (enveloped) data = Envelope(data);
  return absl::StrCat("event: ", event.finalized ? "finalized" : "update",
                      "\ndata: ", data, trailing_blank_line ? "\n\n" : "");
}

}  // namespace triverse::emulator
