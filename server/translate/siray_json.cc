#include "server/translate/siray_json.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
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
#include "absl/strings/strip.h"
#include "google/protobuf/timestamp.pb.h"
#include "rapidjson/document.h"
#include "rapidjson/error/en.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"
#include "server/errors/upstream_status.h"
#include "server/translate/request_json.h"
#include "server/translate/upstream_json.h"

// Local helpers for StatusOr plumbing; undefined at the end of the file.
#define TRIVERSE_SR_CONCAT_INNER(a, b) a##b
#define TRIVERSE_SR_CONCAT(a, b) TRIVERSE_SR_CONCAT_INNER(a, b)
#define TRIVERSE_SR_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                      \
  if (!tmp.ok()) return tmp.status();                     \
  lhs = std::move(*tmp)
#define SR_ASSIGN_OR_RETURN(lhs, expr)                                        \
  TRIVERSE_SR_ASSIGN_OR_RETURN_IMPL(TRIVERSE_SR_CONCAT(status_or_, __LINE__), \
                                    lhs, expr)
#define SR_RETURN_IF_ERROR(expr)           \
  do {                                     \
    absl::Status sr_status = (expr);       \
    if (!sr_status.ok()) return sr_status; \
  } while (false)

namespace triverse::translate {
namespace {

// The JSON reading helpers below follow upstream_json.cc and tripo_json.cc
// (which keeps its own in an unnamed namespace: RapidJSON stays out of every
// header).

using ::google::protobuf::Timestamp;
using ::rapidjson::Value;

// The Timestamp range: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z.
constexpr double kMaxTimestampSeconds = 253402300799.0;
// Upstream values quoted in messages are cut to this many bytes.
constexpr size_t kMaxQuotedBytes = 64;

// Where names a field of one payload, for error messages.
struct Where {
  absl::string_view payload;  // e.g. "siray task"
  std::string path;           // e.g. "outputs[0]"
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
    SR_ASSIGN_OR_RETURN(std::string s, Req(key, AsString));
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
  SR_ASSIGN_OR_RETURN(const double seconds,
                      AsNumberOrNumericString(*v, r.At(key)));
  if (seconds <= 0) return absl::OkStatus();
  if (seconds > kMaxTimestampSeconds)
    return Bad(r.At(key), "is after year 9999");
  const double whole = std::floor(seconds);
  google::protobuf::Timestamp* out = mutable_field();
  out->set_seconds(static_cast<int64_t>(whole));
  out->set_nanos(
      std::min(static_cast<int32_t>((seconds - whole) * 1e9), 999999999));
  return absl::OkStatus();
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

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

void Key(Writer& w, absl::string_view key) {
  w.Key(key.data(), static_cast<rapidjson::SizeType>(key.size()));
}
void Str(Writer& w, absl::string_view key, absl::string_view value) {
  Key(w, key);
  w.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
}

// Unsupported collects the set contract fields Siray cannot honour.
class Unsupported {
 public:
  explicit Unsupported(absl::string_view flow) : flow_(flow) {}
  void Check(bool set, absl::string_view field) {
    if (set) Add(field, "is not supported by the siray provider");
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
  SR_RETURN_IF_ERROR(ParseObject(body, kEnvelopePayload, &doc));
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
  SR_ASSIGN_OR_RETURN(std::optional<std::string> message,
                      r.Opt("message", AsString));
  env.message = std::move(message).value_or("");
  const Value* data = r.Get("data");
  env.data_json = data == nullptr ? "null" : Serialise(*data);
  return env;
}

absl::StatusOr<v1::Task> ParseSirayTask(absl::string_view data_json) {
  rapidjson::Document doc;
  SR_RETURN_IF_ERROR(ParseObject(data_json, kTaskPayload, &doc));
  ObjectReader r(doc, kTaskPayload, "");
  v1::Task task;
  SR_ASSIGN_OR_RETURN(*task.mutable_task_uuid(),
                      r.ReqNonEmptyString("task_id"));
  SR_ASSIGN_OR_RETURN(const std::string status_text, r.Req("status", AsString));
  SR_ASSIGN_OR_RETURN(std::optional<std::string> fail_reason,
                      r.Opt("fail_reason", AsString));
  SR_RETURN_IF_ERROR(
      SetTime(r, "submit_time", [&] { return task.mutable_created_at(); }));
  SR_RETURN_IF_ERROR(
      SetTime(r, "start_time", [&] { return task.mutable_started_at(); }));
  SR_RETURN_IF_ERROR(
      SetTime(r, "finish_time", [&] { return task.mutable_completed_at(); }));
  if (r.Get("outputs") != nullptr) {
    SR_RETURN_IF_ERROR(AddOutputs(r, task.mutable_output()));
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
  SR_RETURN_IF_ERROR(ParseObject(data_json, kCreationPayload, &doc));
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
      Unsupported u("text_to_model");
      CheckText(p, u);
      u.Check(p.has_texture_size(), "texture_size");
      SR_RETURN_IF_ERROR(u.status());
      WriteText(w, p.prompt(), /*textured=*/true);
      break;
    }
    case v1::CreateTaskRequest::kTextToMesh: {
      const v1::TextToMeshParams& p = request.text_to_mesh();
      Unsupported u("text_to_mesh");
      CheckText(p, u);
      SR_RETURN_IF_ERROR(u.status());
      WriteText(w, p.prompt(), /*textured=*/false);
      break;
    }
    case v1::CreateTaskRequest::kImageToModel: {
      const v1::ImageToModelParams& p = request.image_to_model();
      Unsupported u("image_to_model");
      u.Check(p.has_texture_size(), "texture_size");
      CheckImage(p, u);
      SR_RETURN_IF_ERROR(u.status());
      WriteImage(w, p, /*textured=*/true);
      break;
    }
    case v1::CreateTaskRequest::kImageToMesh: {
      const v1::ImageToMeshParams& p = request.image_to_mesh();
      Unsupported u("image_to_mesh");
      CheckImage(p, u);
      SR_RETURN_IF_ERROR(u.status());
      WriteImage(w, p, /*textured=*/false);
      break;
    }
    case v1::CreateTaskRequest::PARAMS_NOT_SET:
      return absl::InvalidArgumentError(
          "CreateTask: `params` must select a flow (image_to_model, "
          "text_to_model, ...)");
    default:
      return absl::UnimplementedError(
          absl::StrCat("CreateTask: flow ", FlowName(request),
                       " is not offered by the siray provider"));
  }
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

}  // namespace triverse::translate

#undef SR_RETURN_IF_ERROR
#undef SR_ASSIGN_OR_RETURN
#undef TRIVERSE_SR_ASSIGN_OR_RETURN_IMPL
#undef TRIVERSE_SR_CONCAT
#undef TRIVERSE_SR_CONCAT_INNER
