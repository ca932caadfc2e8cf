#include "server/translate/tripo_json.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "rapidjson/document.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"
#include "server/translate/json_reader.h"
#include "server/translate/upstream_json.h"

namespace triverse::translate {
namespace {

using json_internal::AsInt32OrNumericString;
using json_internal::AsNumber;
using json_internal::AsNumberOrNumericString;
using json_internal::AsString;
using json_internal::Bad;
using json_internal::FlowNotOffered;
using json_internal::Key;
using json_internal::ObjectReader;
using json_internal::ParseObject;
using json_internal::Quote;
using json_internal::SetUnixSeconds;
using json_internal::Str;
using json_internal::StringOf;
using json_internal::ToProtoValue;
using json_internal::ToStruct;
using json_internal::Unsupported;
using json_internal::Where;
using json_internal::Writer;
using json_internal::WrongType;
using ::rapidjson::Value;

// ------------------------------------------------------------ conversions

// AsInt32 accepts an integer, or a double with no fraction, in int32 range.
absl::StatusOr<int32_t> AsInt32(const Value& v, const Where& w) {
  TR_ASSIGN_OR_RETURN(double d, AsNumber(v, w));
  if (v.IsInt()) return v.GetInt();
  if (std::trunc(d) != d) return Bad(w, "must be an integer, got a fraction");
  if (d < std::numeric_limits<int32_t>::min() ||
      d > std::numeric_limits<int32_t>::max()) {
    return Bad(w, "is out of range for a 32-bit integer");
  }
  return static_cast<int32_t>(d);
}

// kProvider names the provider in errors ("... by the tripo provider").
constexpr absl::string_view kProvider = "tripo";
constexpr absl::string_view kEnvelopePayload = "tripo envelope";
constexpr absl::string_view kTaskPayload = "tripo task";
constexpr absl::string_view kCreationPayload = "tripo task creation";
constexpr absl::string_view kUploadPayload = "tripo upload";
constexpr absl::string_view kBalancePayload = "tripo balance";
constexpr absl::string_view kWatchPayload = "tripo watch frame";

// ------------------------------------------------------------ the task

// TripoStatus is a Tripo task status. The table: every Tripo status, what
// it becomes, and why.
//
// | Tripo     | Task status | progress      | extra                          |
// |-----------|-------------|---------------|--------------------------------|
// | queued    | QUEUED      | as given      | queue {is_queued, position =   |
// |           |             |               | queuing_num + 1 when >= 0}:    |
// |           |             |               | Tripo counts from 0, the       |
// |           |             |               | contract's position from 1     |
// | running   | RUNNING     | clamped 0-100 | estimated_seconds_left =       |
// |           |             |               | running_left_time when >= 0    |
// |           |             |               | (−1 means "no estimate")       |
// | success   | SUCCESS     | 100           | the docs promise 100           |
// | failed    | FAILED      | 0             | error {error_code, error_msg   |
// |           |             |               | or a generic message}: the     |
// |           |             |               | docs call progress "not        |
// |           |             |               | meaningful" (their example     |
// |           |             |               | shows 100), so never pass it   |
// | banned    | FAILED      | 0             | error 2008: moderation, the    |
// |           |             |               | content-policy code of both    |
// |           |             |               | Triverse and Tripo, so a       |
// |           |             |               | caller can tell it from a      |
// |           |             |               | failure                        |
// | expired   | FAILED      | 0             | error 2018 (Tripo V3 folds     |
// |           |             |               | expired into failed + 2018) +  |
// |           |             |               | suggestion: Tripo says a retry |
// |           |             |               | helps                          |
// | cancelled | CANCELLED   | 0             | server-side only (no cancel    |
// |           |             |               | API exists)                    |
// | unknown / | UNSPECIFIED | 0             | error 1000 naming the status:  |
// | any other |             |               | the docs call `unknown` final  |
// |           |             |               | yet the SDK keeps polling; the |
// |           |             |               | connection re-polls it before  |
// |           |             |               | reporting it                   |
enum class TripoStatus {
  kQueued,
  kRunning,
  kSuccess,
  kFailed,
  kBanned,
  kExpired,
  kCancelled,
  kOther,
};

TripoStatus StatusOf(absl::string_view s) {
  static constexpr std::pair<absl::string_view, TripoStatus> kStatuses[] = {
      {"queued", TripoStatus::kQueued},
      {"running", TripoStatus::kRunning},
      {"success", TripoStatus::kSuccess},
      {"failed", TripoStatus::kFailed},
      {"banned", TripoStatus::kBanned},
      {"expired", TripoStatus::kExpired},
      {"cancelled", TripoStatus::kCancelled},
  };
  for (const auto& [name, status] : kStatuses) {
    if (absl::EqualsIgnoreCase(s, name)) return status;
  }
  return TripoStatus::kOther;
}

// FlowOf maps a Tripo task type to a public flow name.
std::string FlowOf(absl::string_view type, bool textured) {
  if (type == "text_to_model") {
    return textured ? "text-to-model" : "text-to-mesh";
  }
  if (type == "image_to_model") {
    return textured ? "image-to-model" : "image-to-mesh";
  }
  if (type == "texture_model") return "texture-model";
  if (type == "convert_model" || type == "conversion") {
    return "convert-model-format";
  }
  return absl::StrReplaceAll(type, {{"_", "-"}});
}

// UrlOf reads one output URL member: a non-empty string, or an object with
// a non-empty string `url` (the undocumented result form). nullopt for
// anything else: the URL members are best effort, never DATA_LOSS.
std::optional<std::string> UrlOf(const Value* v) {
  if (v == nullptr) return std::nullopt;
  if (v->IsObject()) {
    auto it = v->FindMember("url");
    if (it == v->MemberEnd()) return std::nullopt;
    v = &it->value;
  }
  if (!v->IsString() || v->GetStringLength() == 0) return std::nullopt;
  return std::string(StringOf(*v));
}

// kUrlMembers are the output members with a fixed place in TaskOutput;
// kViews the members of generate_multiview_image, in image_url order.
constexpr absl::string_view kUrlMembers[] = {
    "pbr_model", "model", "base_model", "rendered_image", "generated_image",
};
constexpr absl::string_view kMultiview = "generate_multiview_image";
constexpr absl::string_view kViews[] = {
    "front_view_url",
    "left_view_url",
    "back_view_url",
    "right_view_url",
};

// ParseOutput fills `out` from `output` (may be null) and, for the names
// output lacks, from `result` (may be null).
void ParseOutput(const Value* output, const Value* result,
                 v1::TaskOutput* out) {
  auto url = [&](absl::string_view name) -> std::optional<std::string> {
    const Value key(rapidjson::StringRef(name.data(), name.size()));
    for (const Value* obj : {output, result}) {
      if (obj == nullptr) continue;
      auto it = obj->FindMember(key);
      if (it == obj->MemberEnd()) continue;
      if (std::optional<std::string> u = UrlOf(&it->value)) return u;
    }
    return std::nullopt;
  };
  if (auto u = url("pbr_model")) out->add_textured_model_url(std::move(*u));
  if (auto u = url("model")) out->add_textured_model_url(std::move(*u));
  if (auto u = url("base_model")) out->add_geometry_model_url(std::move(*u));
  if (auto u = url("rendered_image")) {
    out->set_preview_url(*u);
    out->add_rendered_image_url(std::move(*u));
  }
  if (auto u = url("generated_image")) out->add_image_url(std::move(*u));
  if (output == nullptr) return;
  for (auto it = output->MemberBegin(); it != output->MemberEnd(); ++it) {
    const absl::string_view key = StringOf(it->name);
    bool placed = false;
    for (absl::string_view name : kUrlMembers) placed |= key == name;
    if (placed) continue;
    if (key == kMultiview && it->value.IsObject()) {
      for (absl::string_view view : kViews) {
        const Value name(rapidjson::StringRef(view.data(), view.size()));
        auto v = it->value.FindMember(name);
        if (v == it->value.MemberEnd()) continue;
        if (auto u = UrlOf(&v->value)) out->add_image_url(std::move(*u));
      }
      continue;
    }
    // riggable, rig_type and whatever Tripo adds, as it came.
    ToProtoValue(it->value,
                 &(*out->mutable_other()->mutable_fields())[std::string(key)]);
  }
}

absl::StatusOr<v1::Task> TaskFromValue(const Value& obj,
                                       absl::string_view payload,
                                       absl::string_view prefix) {
  ObjectReader r(obj, payload, prefix);
  v1::Task task;
  TR_ASSIGN_OR_RETURN(*task.mutable_task_uuid(),
                      r.ReqNonEmptyString("task_id"));
  TR_ASSIGN_OR_RETURN(const std::string status_text, r.Req("status", AsString));
  TR_ASSIGN_OR_RETURN(std::optional<std::string> type, r.Opt("type", AsString));
  TR_ASSIGN_OR_RETURN(const Value* input, r.OptObject("input"));
  TR_ASSIGN_OR_RETURN(const Value* output, r.OptObject("output"));
  TR_ASSIGN_OR_RETURN(std::optional<double> progress,
                      r.Opt("progress", AsNumberOrNumericString));
  TR_ASSIGN_OR_RETURN(std::optional<int32_t> queuing_num,
                      r.Opt("queuing_num", AsInt32));
  TR_ASSIGN_OR_RETURN(std::optional<double> left,
                      r.Opt("running_left_time", AsNumber));
  TR_ASSIGN_OR_RETURN(std::optional<double> create_time,
                      r.Opt("create_time", AsNumber));

  if (input != nullptr) ToStruct(*input, task.mutable_input());
  if (type) {
    bool textured = true;
    if (input != nullptr) {
      auto it = input->FindMember("texture");
      if (it != input->MemberEnd() && it->value.IsFalse()) textured = false;
    }
    task.set_flow_name(FlowOf(*type, textured));
  }
  if (create_time && *create_time > 0) {
    TR_RETURN_IF_ERROR(SetUnixSeconds(*create_time, r.At("create_time"),
                                      task.mutable_created_at()));
  }
  const Value* result = r.Get("result");
  if (result != nullptr && !result->IsObject()) result = nullptr;
  if (output != nullptr || result != nullptr) {
    ParseOutput(output, result, task.mutable_output());
  }

  auto clamped = [](double d) {
    d = std::round(d);
    return d < 0 ? 0 : d > 100 ? 100 : static_cast<int32_t>(d);
  };
  v1::TaskError* error = nullptr;
  switch (StatusOf(status_text)) {
    case TripoStatus::kQueued: {
      task.set_status(v1::TASK_STATUS_QUEUED);
      task.set_progress(progress ? clamped(*progress) : 0);
      v1::TaskQueue* queue = task.mutable_queue();
      queue->set_is_queued(true);
      if (queuing_num && *queuing_num >= 0) {
        if (*queuing_num == std::numeric_limits<int32_t>::max()) {
          return Bad(r.At("queuing_num"), "is out of range");
        }
        queue->set_position(*queuing_num + 1);
      }
      break;
    }
    case TripoStatus::kRunning:
      task.set_status(v1::TASK_STATUS_RUNNING);
      task.set_progress(progress ? clamped(*progress) : 0);
      if (left && *left >= 0) {
        const double seconds = std::ceil(*left);
        if (seconds > std::numeric_limits<int32_t>::max()) {
          return Bad(r.At("running_left_time"),
                     "is out of range for a 32-bit integer");
        }
        task.set_estimated_seconds_left(static_cast<int32_t>(seconds));
      }
      break;
    case TripoStatus::kSuccess:
      task.set_status(v1::TASK_STATUS_SUCCESS);
      task.set_progress(100);
      break;
    case TripoStatus::kFailed: {
      task.set_status(v1::TASK_STATUS_FAILED);
      TR_ASSIGN_OR_RETURN(std::optional<int32_t> code,
                          r.Opt("error_code", AsInt32OrNumericString<AsInt32>));
      TR_ASSIGN_OR_RETURN(std::optional<std::string> message,
                          r.Opt("error_msg", AsString));
      error = task.mutable_error();
      error->set_code(code.value_or(0));
      error->set_message(message && !message->empty()
                             ? std::move(*message)
                             : std::string("the task failed upstream"));
      break;
    }
    case TripoStatus::kBanned:
      task.set_status(v1::TASK_STATUS_FAILED);
      error = task.mutable_error();
      error->set_code(2008);
      error->set_message(
          "banned: the input violates the provider's content policy");
      break;
    case TripoStatus::kExpired:
      task.set_status(v1::TASK_STATUS_FAILED);
      error = task.mutable_error();
      error->set_code(2018);
      error->set_message("expired: the task expired upstream");
      error->set_suggestion("create the task again");
      break;
    case TripoStatus::kCancelled:
      task.set_status(v1::TASK_STATUS_CANCELLED);
      break;
    case TripoStatus::kOther:
      task.set_status(v1::TASK_STATUS_UNSPECIFIED);
      error = task.mutable_error();
      error->set_code(1000);
      error->set_message(
          absl::StrCat("status unknown upstream (", Quote(status_text), ")"));
      break;
  }
  return task;
}

// ------------------------------------------------------------ request body

// ImageType returns Tripo's file type for an image URL: the path's
// extension (query and fragment removed), jpg when unknown.
std::string ImageType(absl::string_view url) {
  url = url.substr(0, url.find_first_of("?#"));
  const size_t scheme = url.find("://");
  if (scheme != absl::string_view::npos) url.remove_prefix(scheme + 3);
  const size_t slash = url.find('/');
  if (slash == absl::string_view::npos) return "jpg";
  url.remove_prefix(slash);
  url = url.substr(url.rfind('/') + 1);
  const size_t dot = url.rfind('.');
  if (dot == absl::string_view::npos) return "jpg";
  const std::string ext = absl::AsciiStrToLower(url.substr(dot + 1));
  if (ext == "png" || ext == "webp") return ext;
  return "jpg";
}

bool IsHttpUrl(absl::string_view s) {
  return absl::StartsWithIgnoreCase(s, "http://") ||
         absl::StartsWithIgnoreCase(s, "https://");
}

void WriteFile(Writer& w, const std::string& image_file) {
  Key(w, "file");
  w.StartObject();
  if (IsHttpUrl(image_file)) {
    Str(w, "type", ImageType(image_file));
    Str(w, "url", image_file);
  } else {
    Str(w, "type", "jpg");
    Str(w, "file_token", image_file);
  }
  w.EndObject();
}

void WriteNoTexture(Writer& w) {
  Key(w, "texture");
  w.Bool(false);
  Key(w, "pbr");
  w.Bool(false);
}

template <typename Params>
void WriteText(Writer& w, const Params& p, bool textured) {
  Str(w, "type", "text_to_model");
  Str(w, "prompt", p.prompt());
  if (p.has_negative_prompt()) Str(w, "negative_prompt", p.negative_prompt());
  if (p.has_seed()) {
    Key(w, "model_seed");
    w.Int64(p.seed());
  }
  if (p.has_polygon_limit()) {
    Key(w, "face_limit");
    w.Int(p.polygon_limit());
  }
  if (!textured) WriteNoTexture(w);
}

template <typename Params>
void WriteImage(Writer& w, const Params& p, bool textured) {
  Str(w, "type", "image_to_model");
  WriteFile(w, p.image_file());
  if (p.has_model_version()) {
    Str(w, "model_version", p.model_version());
  } else if (p.has_turbo() && p.turbo()) {
    Str(w, "model_version", kTripoTurboModelVersion);
  }
  if (p.has_polygon_limit()) {
    Key(w, "face_limit");
    w.Int(p.polygon_limit());
  }
  if (!textured) WriteNoTexture(w);
}

// CheckImageTurbo: turbo = true picks the Turbo model unless the request
// names another model_version, which contradicts it.
template <typename Params>
void CheckImageTurbo(const Params& p, Unsupported& u) {
  if (p.has_turbo() && p.turbo() && p.has_model_version() &&
      !absl::StartsWithIgnoreCase(p.model_version(), "Turbo")) {
    u.Add("turbo",
          "contradicts model_version: the tripo provider's turbo is the "
          "model_version Turbo-v1.0-20250506");
  }
}

}  // namespace

absl::StatusOr<TripoEnvelope> ParseTripoEnvelope(absl::string_view body) {
  return json_internal::ParseCodeEnvelope<TripoEnvelope, AsInt32>(
      body, kEnvelopePayload);
}

absl::StatusOr<v1::Task> ParseTripoTask(absl::string_view data_json) {
  rapidjson::Document doc;
  TR_RETURN_IF_ERROR(ParseObject(data_json, kTaskPayload, &doc));
  return TaskFromValue(doc, kTaskPayload, "");
}

absl::StatusOr<std::string> ParseTripoTaskId(absl::string_view data_json) {
  rapidjson::Document doc;
  TR_RETURN_IF_ERROR(ParseObject(data_json, kCreationPayload, &doc));
  return ObjectReader(doc, kCreationPayload, "").ReqNonEmptyString("task_id");
}

absl::StatusOr<std::string> ParseTripoImageToken(absl::string_view data_json) {
  rapidjson::Document doc;
  TR_RETURN_IF_ERROR(ParseObject(data_json, kUploadPayload, &doc));
  return ObjectReader(doc, kUploadPayload, "").ReqNonEmptyString("image_token");
}

absl::StatusOr<v1::Balance> ParseTripoBalance(absl::string_view data_json) {
  rapidjson::Document doc;
  TR_RETURN_IF_ERROR(ParseObject(data_json, kBalancePayload, &doc));
  ObjectReader r(doc, kBalancePayload, "");
  v1::Balance b;
  for (const char* key : {"balance", "frozen"}) {
    TR_ASSIGN_OR_RETURN(const double d, r.Req(key, AsNumber));
    const double whole = std::floor(d);
    // 2^63 is exactly representable; every double below it fits int64.
    if (whole < -9223372036854775808.0 || whole >= 9223372036854775808.0) {
      return Bad(r.At(key), "is out of range for a 64-bit integer");
    }
    if (key[0] == 'b') {
      b.set_balance(whole);
    } else {
      b.set_frozen(whole);
    }
  }
  return b;
}

absl::StatusOr<std::optional<WatchFrame>> ParseTripoWatchFrame(
    absl::string_view message) {
  if (absl::StripAsciiWhitespace(message).empty()) return std::nullopt;
  rapidjson::Document doc;
  TR_RETURN_IF_ERROR(ParseObject(message, kWatchPayload, &doc));
  ObjectReader r(doc, kWatchPayload, "");
  TR_ASSIGN_OR_RETURN(std::optional<std::string> event,
                      r.Opt("event", AsString));
  std::optional<WatchFrame::Kind> kind;
  if (event) {
    if (absl::EqualsIgnoreCase(*event, "update")) {
      kind = WatchFrame::Kind::kUpdate;
    } else if (absl::EqualsIgnoreCase(*event, "finalized")) {
      kind = WatchFrame::Kind::kFinalized;
    } else {
      return std::nullopt;  // a new kind upstream never breaks a watch
    }
  }
  TR_ASSIGN_OR_RETURN(const Value* data, r.OptObject("data"));
  if (data == nullptr) return r.Missing("data");
  std::string prefix = "data";
  // An envelope around the task: {"code":0,"data":{task}}.
  if (data->FindMember("task_id") == data->MemberEnd()) {
    ObjectReader inner(*data, kWatchPayload, "data");
    if (inner.Get("code") != nullptr) {
      TR_ASSIGN_OR_RETURN(const int32_t code, inner.Req("code", AsInt32));
      if (code != 0) {
        return Bad(inner.At("code"),
                   absl::StrCat("is the error code ", code, " of an envelope"));
      }
      TR_ASSIGN_OR_RETURN(data, inner.OptObject("data"));
      if (data == nullptr) return inner.Missing("data");
      prefix = "data.data";
    }
  }
  WatchFrame frame;
  TR_ASSIGN_OR_RETURN(frame.task, TaskFromValue(*data, kWatchPayload, prefix));
  if (!kind) {
    // No event: a frame of the ApiResponse<Task> shape some clients read.
    const v1::TaskStatus s = frame.task.status();
    kind = s == v1::TASK_STATUS_SUCCESS || s == v1::TASK_STATUS_FAILED ||
                   s == v1::TASK_STATUS_CANCELLED
               ? WatchFrame::Kind::kFinalized
               : WatchFrame::Kind::kUpdate;
  }
  frame.kind = *kind;
  return frame;
}

absl::StatusOr<std::string> BuildTripoCreateTaskBody(
    const v1::CreateTaskRequest& request) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  switch (request.params_case()) {
    case v1::CreateTaskRequest::kTextToModel: {
      const v1::TextToModelParams& p = request.text_to_model();
      Unsupported u("text_to_model", kProvider);
      u.Check(p.has_texture_size(), "texture_size");
      u.Check(p.has_turbo() && p.turbo(), "turbo");
      TR_RETURN_IF_ERROR(u.status());
      WriteText(w, p, /*textured=*/true);
      break;
    }
    case v1::CreateTaskRequest::kTextToMesh: {
      const v1::TextToMeshParams& p = request.text_to_mesh();
      Unsupported u("text_to_mesh", kProvider);
      u.Check(p.has_turbo() && p.turbo(), "turbo");
      TR_RETURN_IF_ERROR(u.status());
      WriteText(w, p, /*textured=*/false);
      break;
    }
    case v1::CreateTaskRequest::kImageToModel: {
      const v1::ImageToModelParams& p = request.image_to_model();
      Unsupported u("image_to_model", kProvider);
      u.Check(p.has_texture_size(), "texture_size");
      CheckImageTurbo(p, u);
      TR_RETURN_IF_ERROR(u.status());
      WriteImage(w, p, /*textured=*/true);
      break;
    }
    case v1::CreateTaskRequest::kImageToMesh: {
      const v1::ImageToMeshParams& p = request.image_to_mesh();
      Unsupported u("image_to_mesh", kProvider);
      CheckImageTurbo(p, u);
      TR_RETURN_IF_ERROR(u.status());
      WriteImage(w, p, /*textured=*/false);
      break;
    }
    case v1::CreateTaskRequest::kTextureModel: {
      const v1::TextureModelParams& p = request.texture_model();
      Unsupported u("texture_model", kProvider);
      u.Check(!p.image_file().empty(), "image_file");
      u.Check(p.has_polygon_limit(), "polygon_limit");
      u.Check(p.has_texture_size(), "texture_size");
      TR_RETURN_IF_ERROR(u.status());
      Str(w, "type", "texture_model");
      Str(w, "original_model_task_id", p.model_file());
      if (p.has_model_version()) Str(w, "model_version", p.model_version());
      break;
    }
    case v1::CreateTaskRequest::kConvertModelFormat: {
      const v1::ConvertModelFormatParams& p = request.convert_model_format();
      Str(w, "type", "convert_model");
      Str(w, "original_model_task_id", p.model_file());
      Str(w, "format", absl::AsciiStrToUpper(p.export_format()));
      break;
    }
    default:
      return FlowNotOffered(request, kProvider);
  }
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

absl::StatusOr<std::string> TripoModelUrl(const v1::Task& task) {
  if (task.status() != v1::TASK_STATUS_SUCCESS) {
    return absl::FailedPreconditionError(absl::StrCat(
        "tripo task ", task.task_uuid(), " is ",
        v1::TaskStatus_Name(task.status()),
        ", not TASK_STATUS_SUCCESS: ", "there is nothing to download yet"));
  }
  for (const auto* list : {&task.output().textured_model_url(),
                           &task.output().geometry_model_url()}) {
    for (const std::string& url : *list) {
      if (!url.empty()) return url;
    }
  }
  return absl::NotFoundError(
      absl::StrCat("tripo task ", task.task_uuid(),
                   " has no model to download (no pbr_model, model or "
                   "base_model in its output)"));
}

}  // namespace triverse::translate
