#include "server/translate/tripo_json.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/timestamp.pb.h"
#include "rapidjson/document.h"
#include "rapidjson/error/en.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"
#include "server/errors/upstream_status.h"
#include "server/translate/request_json.h"
#include "server/translate/upstream_json.h"

// Local helpers for StatusOr plumbing; undefined at the end of the file.
#define TRIVERSE_TP_CONCAT_INNER(a, b) a##b
#define TRIVERSE_TP_CONCAT(a, b) TRIVERSE_TP_CONCAT_INNER(a, b)
#define TRIVERSE_TP_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                      \
  if (!tmp.ok()) return tmp.status();                     \
  lhs = std::move(*tmp)
#define TP_ASSIGN_OR_RETURN(lhs, expr)                                        \
  TRIVERSE_TP_ASSIGN_OR_RETURN_IMPL(TRIVERSE_TP_CONCAT(status_or_, __LINE__), \
                                    lhs, expr)
#define TP_RETURN_IF_ERROR(expr)           \
  do {                                     \
    absl::Status tp_status = (expr);       \
    if (!tp_status.ok()) return tp_status; \
  } while (false)

namespace triverse::translate {
namespace {

// The JSON reading helpers below follow upstream_json.cc (which keeps its
// own in an unnamed namespace: RapidJSON stays out of every header).

using ::google::protobuf::Struct;
using ::google::protobuf::Timestamp;
using ::rapidjson::Value;

// The Timestamp range: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z.
constexpr double kMaxTimestampSeconds = 253402300799.0;
// Upstream values quoted in messages are cut to this many bytes.
constexpr size_t kMaxQuotedBytes = 64;

// Where names a field of one payload, for error messages.
struct Where {
  absl::string_view payload;  // e.g. "tripo task"
  std::string path;           // e.g. "output.model"
};

absl::Status Bad(const Where& w, absl::string_view problem) {
  return absl::DataLossError(absl::StrCat(
      "upstream ", w.payload, " payload: field '", w.path, "' ", problem));
}

// Quote renders an untrusted string safely (escaped, truncated).
std::string Quote(absl::string_view s) {
  const bool cut = s.size() > kMaxQuotedBytes;
  return absl::StrCat("\"", absl::CHexEscape(s.substr(0, kMaxQuotedBytes)),
                      cut ? "...\"" : "\"");
}

absl::string_view StringOf(const Value& v) {
  return absl::string_view(v.GetString(), v.GetStringLength());
}

const char* TypeName(const Value& v) {
  switch (v.GetType()) {
    case rapidjson::kNullType:
      return "null";
    case rapidjson::kFalseType:
    case rapidjson::kTrueType:
      return "a boolean";
    case rapidjson::kObjectType:
      return "an object";
    case rapidjson::kArrayType:
      return "an array";
    case rapidjson::kStringType:
      return "a string";
    case rapidjson::kNumberType:
      return "a number";
  }
  return "an unknown type";
}

absl::Status WrongType(const Where& w, absl::string_view expected,
                       const Value& got) {
  return Bad(w, absl::StrCat("must be ", expected, ", got ", TypeName(got)));
}

// TooDeep reports whether containers nest deeper than kMaxJsonDepth;
// iterative, so hostile nesting cannot exhaust the stack.
bool TooDeep(const Value& root) {
  std::vector<std::pair<const Value*, int>> stack = {{&root, 1}};
  while (!stack.empty()) {
    const auto [v, depth] = stack.back();
    stack.pop_back();
    if (!v->IsObject() && !v->IsArray()) continue;
    if (depth > kMaxJsonDepth) return true;
    if (v->IsObject()) {
      for (auto it = v->MemberBegin(); it != v->MemberEnd(); ++it) {
        stack.emplace_back(&it->value, depth + 1);
      }
    } else {
      for (auto it = v->Begin(); it != v->End(); ++it) {
        stack.emplace_back(&*it, depth + 1);
      }
    }
  }
  return false;
}

// HasSurrogate reports whether a string or member name holds UTF-16
// surrogate bytes (ED A0-BF): RapidJSON decodes an unpaired low escape
// ("\udc00") into them, and they are not UTF-8. Iterative.
bool HasSurrogate(const Value& root) {
  auto bad = [](const Value& s) {
    const char* p = s.GetString();
    const rapidjson::SizeType n = s.GetStringLength();
    for (rapidjson::SizeType i = 0; i + 1 < n; ++i) {
      if (static_cast<unsigned char>(p[i]) == 0xED &&
          static_cast<unsigned char>(p[i + 1]) >= 0xA0) {
        return true;
      }
    }
    return false;
  };
  std::vector<const Value*> stack = {&root};
  while (!stack.empty()) {
    const Value* v = stack.back();
    stack.pop_back();
    if (v->IsString() && bad(*v)) return true;
    if (v->IsObject()) {
      for (auto it = v->MemberBegin(); it != v->MemberEnd(); ++it) {
        if (bad(it->name)) return true;
        stack.push_back(&it->value);
      }
    } else if (v->IsArray()) {
      for (auto it = v->Begin(); it != v->End(); ++it) stack.push_back(&*it);
    }
  }
  return false;
}

// ParseObject parses `json` into `doc` and requires a JSON object that is
// UTF-8 and at most kMaxJsonDepth deep.
absl::Status ParseObject(absl::string_view json, absl::string_view payload,
                         rapidjson::Document* doc) {
  doc->Parse<rapidjson::kParseIterativeFlag |
             rapidjson::kParseValidateEncodingFlag>(json.data(), json.size());
  if (doc->HasParseError()) {
    return absl::DataLossError(
        absl::StrCat("upstream ", payload, " payload is not valid JSON: ",
                     rapidjson::GetParseError_En(doc->GetParseError()),
                     " (at offset ", doc->GetErrorOffset(), ")"));
  }
  if (!doc->IsObject()) {
    return absl::DataLossError(absl::StrCat("upstream ", payload,
                                            " payload must be an object, got ",
                                            TypeName(*doc)));
  }
  if (TooDeep(*doc)) {
    return absl::DataLossError(absl::StrCat("upstream ", payload,
                                            " payload nests deeper than ",
                                            kMaxJsonDepth, " levels"));
  }
  if (HasSurrogate(*doc)) {
    return absl::DataLossError(
        absl::StrCat("upstream ", payload,
                     " payload is not valid JSON: a string holds an unpaired "
                     "surrogate escape, which is not UTF-8"));
  }
  return absl::OkStatus();
}

void ToProtoValue(const Value& v, google::protobuf::Value* out);

void ToStruct(const Value& obj, Struct* out) {
  auto& fields = *out->mutable_fields();
  for (auto it = obj.MemberBegin(); it != obj.MemberEnd(); ++it) {
    ToProtoValue(it->value, &fields[std::string(StringOf(it->name))]);
  }
}

// ToProtoValue recurses; only on values ParseObject bounded in depth.
void ToProtoValue(const Value& v, google::protobuf::Value* out) {
  switch (v.GetType()) {
    case rapidjson::kNullType:
      out->set_null_value(google::protobuf::NULL_VALUE);
      return;
    case rapidjson::kFalseType:
    case rapidjson::kTrueType:
      out->set_bool_value(v.GetBool());
      return;
    case rapidjson::kNumberType:
      out->set_number_value(v.GetDouble());
      return;
    case rapidjson::kStringType:
      out->set_string_value(std::string(StringOf(v)));
      return;
    case rapidjson::kArrayType: {
      auto* list = out->mutable_list_value();
      for (auto it = v.Begin(); it != v.End(); ++it) {
        ToProtoValue(*it, list->add_values());
      }
      return;
    }
    case rapidjson::kObjectType:
      ToStruct(v, out->mutable_struct_value());
      return;
  }
}

std::string Serialise(const Value& v) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buf);
  v.Accept(writer);  // depth bounded by ParseObject
  return std::string(buf.GetString(), buf.GetSize());
}

// ------------------------------------------------------------ conversions

absl::StatusOr<std::string> AsString(const Value& v, const Where& w) {
  if (!v.IsString()) return WrongType(w, "a string", v);
  return std::string(StringOf(v));
}

// AsNumber accepts a finite JSON number.
absl::StatusOr<double> AsNumber(const Value& v, const Where& w) {
  if (!v.IsNumber()) return WrongType(w, "a number", v);
  const double d = v.GetDouble();
  if (!std::isfinite(d)) return Bad(w, "must be a finite number");
  return d;
}

// AsNumberOrNumericString also accepts a string holding a number ("42").
absl::StatusOr<double> AsNumberOrNumericString(const Value& v, const Where& w) {
  if (!v.IsString()) return AsNumber(v, w);
  double d = 0;
  if (!absl::SimpleAtod(StringOf(v), &d) || !std::isfinite(d)) {
    return Bad(w, absl::StrCat("must be a number, got the string ",
                               Quote(StringOf(v))));
  }
  return d;
}

// AsInt32 accepts an integer, or a double with no fraction, in int32 range.
absl::StatusOr<int32_t> AsInt32(const Value& v, const Where& w) {
  TP_ASSIGN_OR_RETURN(double d, AsNumber(v, w));
  if (v.IsInt()) return v.GetInt();
  if (std::trunc(d) != d) return Bad(w, "must be an integer, got a fraction");
  if (d < std::numeric_limits<int32_t>::min() ||
      d > std::numeric_limits<int32_t>::max()) {
    return Bad(w, "is out of range for a 32-bit integer");
  }
  return static_cast<int32_t>(d);
}

// AsInt32OrNumericString accepts an int32 or a string holding one ("1001").
absl::StatusOr<int32_t> AsInt32OrNumericString(const Value& v, const Where& w) {
  if (!v.IsString()) return AsInt32(v, w);
  int32_t x = 0;
  if (!absl::SimpleAtoi(StringOf(v), &x)) {
    return Bad(w, absl::StrCat("must be an integer, got the string ",
                               Quote(StringOf(v))));
  }
  return x;
}

// ObjectReader reads the members of one JSON object; absent and null are
// the same. Holds views: the object, payload and prefix must outlive it.
class ObjectReader {
 public:
  ObjectReader(const Value& obj, absl::string_view payload,
               absl::string_view prefix)
      : obj_(obj), payload_(payload), prefix_(prefix) {}

  // Get returns null when `key` is absent or null.
  const Value* Get(absl::string_view key) const {
    const Value name(rapidjson::StringRef(key.data(), key.size()));
    auto it = obj_.FindMember(name);
    if (it == obj_.MemberEnd() || it->value.IsNull()) return nullptr;
    return &it->value;
  }

  Where At(absl::string_view key) const {
    return Where{payload_, prefix_.empty() ? std::string(key)
                                           : absl::StrCat(prefix_, ".", key)};
  }

  absl::Status Missing(absl::string_view key) const {
    return Bad(At(key), "is missing or null");
  }

  template <typename T>
  absl::StatusOr<std::optional<T>> Opt(
      absl::string_view key,
      absl::StatusOr<T> (*convert)(const Value&, const Where&)) const {
    const Value* v = Get(key);
    if (v == nullptr) return std::optional<T>();
    absl::StatusOr<T> converted = convert(*v, At(key));
    if (!converted.ok()) return converted.status();
    return std::optional<T>(std::move(*converted));
  }

  template <typename T>
  absl::StatusOr<T> Req(absl::string_view key,
                        absl::StatusOr<T> (*convert)(const Value&,
                                                     const Where&)) const {
    const Value* v = Get(key);
    if (v == nullptr) return Missing(key);
    return convert(*v, At(key));
  }

  absl::StatusOr<std::string> ReqNonEmptyString(absl::string_view key) const {
    TP_ASSIGN_OR_RETURN(std::string s, Req(key, AsString));
    if (s.empty()) return Bad(At(key), "is empty");
    return s;
  }

  absl::StatusOr<const Value*> OptObject(absl::string_view key) const {
    const Value* v = Get(key);
    if (v != nullptr && !v->IsObject()) {
      return WrongType(At(key), "an object", *v);
    }
    return v;
  }

  const Value& object() const { return obj_; }

 private:
  const Value& obj_;
  absl::string_view payload_;
  absl::string_view prefix_;
};

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

// SetUnixSeconds sets `out` from Unix seconds (fraction kept as nanos).
absl::Status SetUnixSeconds(double seconds, const Where& w, Timestamp* out) {
  if (seconds > kMaxTimestampSeconds) {
    return Bad(w, "is after year 9999");
  }
  const double whole = std::floor(seconds);
  out->set_seconds(static_cast<int64_t>(whole));
  out->set_nanos(
      std::min(static_cast<int32_t>((seconds - whole) * 1e9), 999999999));
  return absl::OkStatus();
}

absl::StatusOr<v1::Task> TaskFromValue(const Value& obj,
                                       absl::string_view payload,
                                       absl::string_view prefix) {
  ObjectReader r(obj, payload, prefix);
  v1::Task task;
  TP_ASSIGN_OR_RETURN(*task.mutable_task_uuid(),
                      r.ReqNonEmptyString("task_id"));
  TP_ASSIGN_OR_RETURN(const std::string status_text, r.Req("status", AsString));
  TP_ASSIGN_OR_RETURN(std::optional<std::string> type, r.Opt("type", AsString));
  TP_ASSIGN_OR_RETURN(const Value* input, r.OptObject("input"));
  TP_ASSIGN_OR_RETURN(const Value* output, r.OptObject("output"));
  TP_ASSIGN_OR_RETURN(std::optional<double> progress,
                      r.Opt("progress", AsNumberOrNumericString));
  TP_ASSIGN_OR_RETURN(std::optional<int32_t> queuing_num,
                      r.Opt("queuing_num", AsInt32));
  TP_ASSIGN_OR_RETURN(std::optional<double> left,
                      r.Opt("running_left_time", AsNumber));
  TP_ASSIGN_OR_RETURN(std::optional<double> create_time,
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
    TP_RETURN_IF_ERROR(SetUnixSeconds(*create_time, r.At("create_time"),
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
      TP_ASSIGN_OR_RETURN(std::optional<int32_t> code,
                          r.Opt("error_code", AsInt32OrNumericString));
      TP_ASSIGN_OR_RETURN(std::optional<std::string> message,
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

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

void Key(Writer& w, absl::string_view key) {
  w.Key(key.data(), static_cast<rapidjson::SizeType>(key.size()));
}
void Str(Writer& w, absl::string_view key, absl::string_view value) {
  Key(w, key);
  w.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
}

// Unsupported collects the set contract fields Tripo cannot honour.
class Unsupported {
 public:
  explicit Unsupported(absl::string_view flow) : flow_(flow) {}
  void Check(bool set, absl::string_view field) {
    if (!set) return;
    violations_.push_back({absl::StrCat(flow_, ".", field),
                           "is not supported by the tripo provider"});
  }
  void Add(absl::string_view field, absl::string_view rule) {
    violations_.push_back({absl::StrCat(flow_, ".", field), std::string(rule)});
  }
  absl::Status status() const {
    if (violations_.empty()) return absl::OkStatus();
    return errors::InvalidArgument(violations_);
  }

 private:
  std::string flow_;
  std::vector<errors::FieldViolation> violations_;
};

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
  rapidjson::Document doc;
  TP_RETURN_IF_ERROR(ParseObject(body, kEnvelopePayload, &doc));
  ObjectReader r(doc, kEnvelopePayload, "");
  TripoEnvelope env;
  TP_ASSIGN_OR_RETURN(env.code, r.Req("code", AsInt32));
  TP_ASSIGN_OR_RETURN(std::optional<std::string> message,
                      r.Opt("message", AsString));
  TP_ASSIGN_OR_RETURN(std::optional<std::string> suggestion,
                      r.Opt("suggestion", AsString));
  env.message = std::move(message).value_or("");
  env.suggestion = std::move(suggestion).value_or("");
  const Value* data = r.Get("data");
  env.data_json = data == nullptr ? "null" : Serialise(*data);
  return env;
}

absl::StatusOr<v1::Task> ParseTripoTask(absl::string_view data_json) {
  rapidjson::Document doc;
  TP_RETURN_IF_ERROR(ParseObject(data_json, kTaskPayload, &doc));
  return TaskFromValue(doc, kTaskPayload, "");
}

absl::StatusOr<std::string> ParseTripoTaskId(absl::string_view data_json) {
  rapidjson::Document doc;
  TP_RETURN_IF_ERROR(ParseObject(data_json, kCreationPayload, &doc));
  return ObjectReader(doc, kCreationPayload, "").ReqNonEmptyString("task_id");
}

absl::StatusOr<std::string> ParseTripoImageToken(absl::string_view data_json) {
  rapidjson::Document doc;
  TP_RETURN_IF_ERROR(ParseObject(data_json, kUploadPayload, &doc));
  return ObjectReader(doc, kUploadPayload, "").ReqNonEmptyString("image_token");
}

absl::StatusOr<v1::Balance> ParseTripoBalance(absl::string_view data_json) {
  rapidjson::Document doc;
  TP_RETURN_IF_ERROR(ParseObject(data_json, kBalancePayload, &doc));
  ObjectReader r(doc, kBalancePayload, "");
  v1::Balance b;
  for (const char* key : {"balance", "frozen"}) {
    TP_ASSIGN_OR_RETURN(const double d, r.Req(key, AsNumber));
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
  TP_RETURN_IF_ERROR(ParseObject(message, kWatchPayload, &doc));
  ObjectReader r(doc, kWatchPayload, "");
  TP_ASSIGN_OR_RETURN(std::optional<std::string> event,
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
  TP_ASSIGN_OR_RETURN(const Value* data, r.OptObject("data"));
  if (data == nullptr) return r.Missing("data");
  std::string prefix = "data";
  // An envelope around the task: {"code":0,"data":{task}}.
  if (data->FindMember("task_id") == data->MemberEnd()) {
    ObjectReader inner(*data, kWatchPayload, "data");
    if (inner.Get("code") != nullptr) {
      TP_ASSIGN_OR_RETURN(const int32_t code, inner.Req("code", AsInt32));
      if (code != 0) {
        return Bad(inner.At("code"),
                   absl::StrCat("is the error code ", code, " of an envelope"));
      }
      TP_ASSIGN_OR_RETURN(data, inner.OptObject("data"));
      if (data == nullptr) return inner.Missing("data");
      prefix = "data.data";
    }
  }
  WatchFrame frame;
  TP_ASSIGN_OR_RETURN(frame.task, TaskFromValue(*data, kWatchPayload, prefix));
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
      Unsupported u("text_to_model");
      u.Check(p.has_texture_size(), "texture_size");
      u.Check(p.has_turbo() && p.turbo(), "turbo");
      TP_RETURN_IF_ERROR(u.status());
      WriteText(w, p, /*textured=*/true);
      break;
    }
    case v1::CreateTaskRequest::kTextToMesh: {
      const v1::TextToMeshParams& p = request.text_to_mesh();
      Unsupported u("text_to_mesh");
      u.Check(p.has_turbo() && p.turbo(), "turbo");
      TP_RETURN_IF_ERROR(u.status());
      WriteText(w, p, /*textured=*/false);
      break;
    }
    case v1::CreateTaskRequest::kImageToModel: {
      const v1::ImageToModelParams& p = request.image_to_model();
      Unsupported u("image_to_model");
      u.Check(p.has_texture_size(), "texture_size");
      CheckImageTurbo(p, u);
      TP_RETURN_IF_ERROR(u.status());
      WriteImage(w, p, /*textured=*/true);
      break;
    }
    case v1::CreateTaskRequest::kImageToMesh: {
      const v1::ImageToMeshParams& p = request.image_to_mesh();
      Unsupported u("image_to_mesh");
      CheckImageTurbo(p, u);
      TP_RETURN_IF_ERROR(u.status());
      WriteImage(w, p, /*textured=*/false);
      break;
    }
    case v1::CreateTaskRequest::kTextureModel: {
      const v1::TextureModelParams& p = request.texture_model();
      Unsupported u("texture_model");
      u.Check(!p.image_file().empty(), "image_file");
      u.Check(p.has_polygon_limit(), "polygon_limit");
      u.Check(p.has_texture_size(), "texture_size");
      TP_RETURN_IF_ERROR(u.status());
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
    case v1::CreateTaskRequest::PARAMS_NOT_SET:
      return absl::InvalidArgumentError(
          "CreateTask: `params` must select a flow (image_to_model, "
          "text_to_model, ...)");
    default:
      return absl::UnimplementedError(
          absl::StrCat("CreateTask: flow ", FlowName(request),
                       " is not offered by the tripo provider"));
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

#undef TP_RETURN_IF_ERROR
#undef TP_ASSIGN_OR_RETURN
#undef TRIVERSE_TP_ASSIGN_OR_RETURN_IMPL
#undef TRIVERSE_TP_CONCAT
#undef TRIVERSE_TP_CONCAT_INNER
