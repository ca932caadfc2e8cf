#include "server/translate/siray_json.h"

#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "rapidjson/document.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"
#include "server/translate/json_reader.h"
#include "server/translate/upstream_json.h"

namespace triverse::translate {
namespace {

using json_internal::AsNumberOrNumericString;
using json_internal::AsString;
using json_internal::FlowNotOffered;
using json_internal::Key;
using json_internal::ObjectReader;
using json_internal::ParseObject;
using json_internal::Quote;
using json_internal::Serialise;
using json_internal::SetUnixSeconds;
using json_internal::Str;
using json_internal::StringOf;
using json_internal::Unsupported;
using json_internal::Writer;
using json_internal::WrongType;
using ::rapidjson::Value;

// kProvider names the provider in errors ("... by the siray provider").
constexpr absl::string_view kProvider = "siray";
constexpr absl::string_view kEnvelopePayload = "siray envelope";
constexpr absl::string_view kTaskPayload = "siray task";
constexpr absl::string_view kCreationPayload = "siray task creation";

// ------------------------------------------------------------ the task

// SirayStatus is a Siray task status. The table: every Siray status, what
// it becomes, and why.
//
// | Siray                 | Task status | why                                |
// |-----------------------|-------------|------------------------------------|
// | NOT_START             | PENDING     | accepted, preprocessing not begun  |
// | SUBMITTED             | PENDING     | stored, not yet in the queue: the  |
// |                       |             | contract has one state for both    |
// | QUEUED                | QUEUED      | waiting for compute; queue         |
// |                       |             | {is_queued} without a position     |
// |                       |             | (Siray gives none)                 |
// | IN_PROGRESS           | RUNNING     |                                    |
// | SUCCESS, SUCCEEDED,   | SUCCESS     | progress 100; the spellings beyond |
// | COMPLETED             |             | SUCCESS are Siray's plugin's       |
// | FAILURE, FAILED,      | FAILED      | error 5000 (Siray has no machine   |
// | ERROR                 |             | code: a generic upstream-failure   |
// |                       |             | code) with fail_reason             |
// | anything else         | UNSPECIFIED | error 1000 naming the status; the  |
// | (UNKNOWN, "", ...)    |             | connection re-polls it before      |
// |                       |             | reporting it                       |
// Compared exactly, case-insensitively: the SDK's substring test would take
// "" (a substring of everything) for SUCCESS.
enum class SirayStatus {
  kPending,
  kQueued,
  kRunning,
  kSuccess,
  kFailed,
  kOther
};

SirayStatus StatusOf(absl::string_view s) {
  static constexpr std::pair<absl::string_view, SirayStatus> kStatuses[] = {
      {"NOT_START", SirayStatus::kPending},
      {"SUBMITTED", SirayStatus::kPending},
      {"QUEUED", SirayStatus::kQueued},
      {"IN_PROGRESS", SirayStatus::kRunning},
      {"SUCCESS", SirayStatus::kSuccess},
      {"SUCCEEDED", SirayStatus::kSuccess},
      {"COMPLETED", SirayStatus::kSuccess},
      {"FAILURE", SirayStatus::kFailed},
      {"FAILED", SirayStatus::kFailed},
      {"ERROR", SirayStatus::kFailed},
  };
  for (const auto& [name, status] : kStatuses) {
    if (absl::EqualsIgnoreCase(s, name)) return status;
  }
  return SirayStatus::kOther;
}

// ProgressOf reads `progress` leniently: "42%", " 42 %", "42.5%" (rounded),
// 42, clamped to 0-100; anything else (absent, "", "abc", an object) is 0.
int32_t ProgressOf(const Value* v) {
  if (v == nullptr) return 0;
  double d = 0;
  if (v->IsNumber()) {
    d = v->GetDouble();
  } else if (v->IsString()) {
    absl::string_view s = absl::StripAsciiWhitespace(StringOf(*v));
    absl::ConsumeSuffix(&s, "%");
    s = absl::StripAsciiWhitespace(s);
    if (s.empty() || !absl::SimpleAtod(s, &d)) return 0;
  } else {
    return 0;
  }
  if (!std::isfinite(d)) return 0;
  d = std::round(d);
  if (d < 0) return 0;
  if (d > 100) return 100;
  return static_cast<int32_t>(d);
}

// SetTime sets `out` from Unix seconds at `key` (an integer, a double or a
// numeric string); 0, negative, "", absent or null leave it unset.
template <typename MutableField>
absl::Status SetTime(const ObjectReader& r, absl::string_view key,
                     MutableField mutable_field) {
  const Value* v = r.Get(key);
  if (v == nullptr) return absl::OkStatus();
  if (v->IsString() && absl::StripAsciiWhitespace(StringOf(*v)).empty()) {
    return absl::OkStatus();
  }
  TR_ASSIGN_OR_RETURN(const double seconds,
                      AsNumberOrNumericString(*v, r.At(key)));
  if (seconds <= 0) return absl::OkStatus();
  return SetUnixSeconds(seconds, r.At(key), mutable_field());
}

// AddOutputs appends the URL strings of `outputs`: an array (non-strings
// and empty strings skipped) or one string.
absl::Status AddOutputs(const ObjectReader& r, v1::TaskOutput* out) {
  const Value* v = r.Get("outputs");
  if (v == nullptr) return absl::OkStatus();
  if (v->IsString()) {
    if (v->GetStringLength() > 0)
      out->add_textured_model_url(std::string(StringOf(*v)));
    return absl::OkStatus();
  }
  if (!v->IsArray()) {
    return WrongType(r.At("outputs"), "an array of URL strings", *v);
  }
  for (auto it = v->Begin(); it != v->End(); ++it) {
    if (it->IsString() && it->GetStringLength() > 0) {
      out->add_textured_model_url(std::string(StringOf(*it)));
    }
  }
  return absl::OkStatus();
}

// ------------------------------------------------------------ error bodies

// kMaxErrorTextBytes is the longest error text kept from a body;
// kMaxExcerptBytes the length of an excerpt of a body that is not JSON.
constexpr size_t kMaxErrorTextBytes = 1024;
constexpr size_t kMaxExcerptBytes = 200;

// Bounded cuts valid UTF-8 to at most kMaxErrorTextBytes, on a character
// boundary.
std::string Bounded(absl::string_view s) {
  if (s.size() <= kMaxErrorTextBytes) return std::string(s);
  size_t n = kMaxErrorTextBytes;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return absl::StrCat(s.substr(0, n), "...");
}

// TextOf renders a string or a number member as text; "" for anything else.
std::string TextOf(const Value& obj, const char* key) {
  auto it = obj.FindMember(key);
  if (it == obj.MemberEnd()) return "";
  const Value& v = it->value;
  if (v.IsString()) return Bounded(StringOf(v));
  if (v.IsInt64()) return absl::StrCat(v.GetInt64());
  if (v.IsUint64()) return absl::StrCat(v.GetUint64());
  if (v.IsNumber()) return absl::StrCat(v.GetDouble());
  return "";
}

// Excerpt is a bounded, printable ASCII rendering of an untrusted body:
// whitespace runs become one space, other bytes outside 0x20-0x7E '?'.
std::string Excerpt(absl::string_view body) {
  body = absl::StripAsciiWhitespace(body);
  std::string out;
  for (const char c : body) {
    if (out.size() >= kMaxExcerptBytes) {
      out += "...";
      break;
    }
    const unsigned char u = static_cast<unsigned char>(c);
    if (absl::ascii_isspace(u)) {
      if (!out.empty() && out.back() != ' ') out += ' ';
    } else {
      out += u >= 0x20 && u < 0x7F ? c : '?';
    }
  }
  return out;
}

// ------------------------------------------------------------ request body

template <typename Params>
void CheckText(const Params& p, Unsupported& u) {
  u.Check(p.has_negative_prompt(), "negative_prompt");
  u.Check(p.has_polygon_limit(), "polygon_limit");
  u.Check(p.has_seed(), "seed");
  u.Check(p.has_turbo() && p.turbo(), "turbo");
}

void WriteText(Writer& w, const std::string& prompt, bool textured) {
  Str(w, "model", kSirayTextTo3dModel);
  Str(w, "prompt", prompt);
  if (!textured) {
    Key(w, "texture_enable");
    w.Bool(false);
  }
}

template <typename Params>
void CheckImage(const Params& p, Unsupported& u) {
  u.Check(p.has_turbo() && p.turbo(), "turbo");
  if (p.has_model_version() &&
      p.model_version().find('/') == std::string::npos) {
    u.Add("model_version",
          "must be a siray model slug (owner/model, e.g. "
          "tripo/tripo3d-v2.5-image-to-3d) for the siray provider");
  }
  const std::string& image = p.image_file();
  if (!absl::StartsWithIgnoreCase(image, "http://") &&
      !absl::StartsWithIgnoreCase(image, "https://") &&
      !absl::StartsWithIgnoreCase(image, "data:")) {
    u.Add("image_file",
          "must be an http(s) URL or a data: URL for the siray provider "
          "(it has no upload)");
  }
}

template <typename Params>
void WriteImage(Writer& w, const Params& p, bool textured) {
  Str(w, "model",
      p.has_model_version() ? p.model_version() : kSirayImageTo3dModel);
  Str(w, "image", p.image_file());
  if (p.has_polygon_limit()) {
    Key(w, "face_limit");
    w.Int(p.polygon_limit());
  }
  if (!textured) {
    Key(w, "texture_enable");
    w.Bool(false);
  }
}

}  // namespace

absl::StatusOr<SirayEnvelope> ParseSirayEnvelope(absl::string_view body) {
  rapidjson::Document doc;
  TR_RETURN_IF_ERROR(ParseObject(body, kEnvelopePayload, &doc));
  ObjectReader r(doc, kEnvelopePayload, "");
  SirayEnvelope env;
  const Value* code = r.Get("code");
  if (code == nullptr) return r.Missing("code");
  if (code->IsString()) {
    env.code = std::string(StringOf(*code));
  } else if (code->IsInt64()) {
    env.code =
        code->GetInt64() == 0 ? "success" : absl::StrCat(code->GetInt64());
  } else {
    return WrongType(r.At("code"), "a string (or an integer)", *code);
  }
  TR_ASSIGN_OR_RETURN(std::optional<std::string> message,
                      r.Opt("message", AsString));
  env.message = std::move(message).value_or("");
  const Value* data = r.Get("data");
  env.data_json = data == nullptr ? "null" : Serialise(*data);
  return env;
}

absl::StatusOr<v1::Task> ParseSirayTask(absl::string_view data_json) {
  rapidjson::Document doc;
  TR_RETURN_IF_ERROR(ParseObject(data_json, kTaskPayload, &doc));
  ObjectReader r(doc, kTaskPayload, "");
  v1::Task task;
  TR_ASSIGN_OR_RETURN(*task.mutable_task_uuid(),
                      r.ReqNonEmptyString("task_id"));
  TR_ASSIGN_OR_RETURN(const std::string status_text, r.Req("status", AsString));
  TR_ASSIGN_OR_RETURN(std::optional<std::string> fail_reason,
                      r.Opt("fail_reason", AsString));
  TR_RETURN_IF_ERROR(
      SetTime(r, "submit_time", [&] { return task.mutable_created_at(); }));
  TR_RETURN_IF_ERROR(
      SetTime(r, "start_time", [&] { return task.mutable_started_at(); }));
  TR_RETURN_IF_ERROR(
      SetTime(r, "finish_time", [&] { return task.mutable_completed_at(); }));
  if (r.Get("outputs") != nullptr) {
    TR_RETURN_IF_ERROR(AddOutputs(r, task.mutable_output()));
  }
  task.set_progress(ProgressOf(r.Get("progress")));
  switch (StatusOf(status_text)) {
    case SirayStatus::kPending:
      task.set_status(v1::TASK_STATUS_PENDING);
      break;
    case SirayStatus::kQueued:
      task.set_status(v1::TASK_STATUS_QUEUED);
      task.mutable_queue()->set_is_queued(true);
      break;
    case SirayStatus::kRunning:
      task.set_status(v1::TASK_STATUS_RUNNING);
      break;
    case SirayStatus::kSuccess:
      task.set_status(v1::TASK_STATUS_SUCCESS);
      task.set_progress(100);
      break;
    case SirayStatus::kFailed: {
      task.set_status(v1::TASK_STATUS_FAILED);
      v1::TaskError* error = task.mutable_error();
      error->set_code(5000);
      error->set_message(fail_reason && !fail_reason->empty()
                             ? std::move(*fail_reason)
                             : std::string("the task failed upstream"));
      break;
    }
    case SirayStatus::kOther: {
      task.set_status(v1::TASK_STATUS_UNSPECIFIED);
      v1::TaskError* error = task.mutable_error();
      error->set_code(1000);
      error->set_message(
          absl::StrCat("status unknown upstream (", Quote(status_text), ")"));
      break;
    }
  }
  return task;
}

absl::StatusOr<std::string> ParseSirayTaskId(absl::string_view data_json) {
  rapidjson::Document doc;
  TR_RETURN_IF_ERROR(ParseObject(data_json, kCreationPayload, &doc));
  return ObjectReader(doc, kCreationPayload, "").ReqNonEmptyString("task_id");
}

SirayError ParseSirayErrorBody(absl::string_view body) {
  SirayError out;
  rapidjson::Document doc;
  if (ParseObject(body, "siray error", &doc).ok()) {
    auto error = doc.FindMember("error");
    if (error != doc.MemberEnd() && error->value.IsObject()) {
      out.message = TextOf(error->value, "message");
      out.type = TextOf(error->value, "type");
      out.code = TextOf(error->value, "code");
    } else if (error != doc.MemberEnd() && error->value.IsString()) {
      out.message = Bounded(StringOf(error->value));
    } else {
      // An envelope ({"code":"...","message":"..."}), or a bare message.
      out.code = TextOf(doc, "code");
      out.message = TextOf(doc, "message");
    }
    if (!out.message.empty() || !out.type.empty() || !out.code.empty()) {
      return out;
    }
  }
  out = SirayError();
  out.message = Excerpt(body);
  return out;
}

absl::StatusOr<std::string> BuildSirayCreateTaskBody(
    const v1::CreateTaskRequest& request) {
  rapidjson::StringBuffer buf;
  Writer w(buf);
  w.StartObject();
  switch (request.params_case()) {
    case v1::CreateTaskRequest::kTextToModel: {
      const v1::TextToModelParams& p = request.text_to_model();
      Unsupported u("text_to_model", kProvider);
      CheckText(p, u);
      u.Check(p.has_texture_size(), "texture_size");
      TR_RETURN_IF_ERROR(u.status());
      WriteText(w, p.prompt(), /*textured=*/true);
      break;
    }
    case v1::CreateTaskRequest::kTextToMesh: {
      const v1::TextToMeshParams& p = request.text_to_mesh();
      Unsupported u("text_to_mesh", kProvider);
      CheckText(p, u);
      TR_RETURN_IF_ERROR(u.status());
      WriteText(w, p.prompt(), /*textured=*/false);
      break;
    }
    case v1::CreateTaskRequest::kImageToModel: {
      const v1::ImageToModelParams& p = request.image_to_model();
      Unsupported u("image_to_model", kProvider);
      u.Check(p.has_texture_size(), "texture_size");
      CheckImage(p, u);
      TR_RETURN_IF_ERROR(u.status());
      WriteImage(w, p, /*textured=*/true);
      break;
    }
    case v1::CreateTaskRequest::kImageToMesh: {
      const v1::ImageToMeshParams& p = request.image_to_mesh();
      Unsupported u("image_to_mesh", kProvider);
      CheckImage(p, u);
      TR_RETURN_IF_ERROR(u.status());
      WriteImage(w, p, /*textured=*/false);
      break;
    }
    default:
      return FlowNotOffered(request, kProvider);
  }
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

}  // namespace triverse::translate
