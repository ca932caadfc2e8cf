// Internal to the translate library: the JSON helpers shared by the Triverse
// (upstream_json.cc), Tripo (tripo_json.cc) and Siray (siray_json.cc)
// translations. Upstream bytes are untrusted: ParseObject bounds the depth
// and the encoding, and the readers check presence and type before any
// access, so every problem becomes a DATA_LOSS naming the field. The few
// request-body helpers at the end are shared by the providers' body builders.
//
// RapidJSON types appear in no public header: only translate/*.cc include
// this one.
#ifndef TRIVERSE_SERVER_TRANSLATE_JSON_READER_H_
#define TRIVERSE_SERVER_TRANSLATE_JSON_READER_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/timestamp.pb.h"
#include "rapidjson/document.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"
#include "server/errors/upstream_status.h"
#include "triverse/v1/task_service.pb.h"

// StatusOr plumbing for translate/*.cc.
#define TRIVERSE_TR_CONCAT_INNER(a, b) a##b
#define TRIVERSE_TR_CONCAT(a, b) TRIVERSE_TR_CONCAT_INNER(a, b)
#define TRIVERSE_TR_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                      \
  if (!tmp.ok()) return tmp.status();                     \
  lhs = std::move(*tmp)
#define TR_ASSIGN_OR_RETURN(lhs, expr)                                        \
  TRIVERSE_TR_ASSIGN_OR_RETURN_IMPL(TRIVERSE_TR_CONCAT(status_or_, __LINE__), \
                                    lhs, expr)
#define TR_RETURN_IF_ERROR(expr)           \
  do {                                     \
    absl::Status tr_status = (expr);       \
    if (!tr_status.ok()) return tr_status; \
  } while (false)

namespace triverse::translate::json_internal {

// The Timestamp range: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z.
inline constexpr int64_t kMinTimestampSeconds = -62135596800;
inline constexpr int64_t kMaxTimestampSeconds = 253402300799;
// Upstream values quoted in error messages are cut to this many bytes.
inline constexpr size_t kMaxQuotedBytes = 64;

// Where names a field of one payload, for error messages.
struct Where {
  absl::string_view payload;  // e.g. "task", "tripo task"
  std::string path;           // e.g. "output.geometry_model_url[1]"
};

// Child is the path of member `key` below `prefix` ("" for the top level).
std::string Child(absl::string_view prefix, absl::string_view key);

// Bad is the DATA_LOSS "upstream <payload> payload: field '<path>' <problem>".
absl::Status Bad(const Where& w, absl::string_view problem);

// Quote renders an untrusted string safely (escaped, truncated).
std::string Quote(absl::string_view s);

// StringOf views a string value or member name (which may hold NULs).
absl::string_view StringOf(const rapidjson::Value& v);

// TypeName is "null", "a boolean", "an object", ... for messages.
const char* TypeName(const rapidjson::Value& v);

absl::Status WrongType(const Where& w, absl::string_view expected,
                       const rapidjson::Value& got);

// ParseObject parses `json` into `doc` and requires a JSON object that is
// UTF-8 and at most kMaxJsonDepth deep; `payload` names it in errors.
absl::Status ParseObject(absl::string_view json, absl::string_view payload,
                         rapidjson::Document* doc);

// ToStruct and ToProtoValue convert as they came; they recurse, so only on
// values ParseObject bounded in depth.
void ToStruct(const rapidjson::Value& obj, google::protobuf::Struct* out);
void ToProtoValue(const rapidjson::Value& v, google::protobuf::Value* out);

// Serialise writes `v` back as compact JSON (depth bounded by ParseObject).
std::string Serialise(const rapidjson::Value& v);

absl::StatusOr<std::string> AsString(const rapidjson::Value& v, const Where& w);

// AsNumber accepts a finite JSON number.
absl::StatusOr<double> AsNumber(const rapidjson::Value& v, const Where& w);

// AsNumberOrNumericString also accepts a string holding a number ("42").
absl::StatusOr<double> AsNumberOrNumericString(const rapidjson::Value& v,
                                               const Where& w);

// AsInt32OrNumericString accepts what `AsInt32` accepts, or a string holding
// an int32 ("2004").
template <absl::StatusOr<int32_t> (*AsInt32)(const rapidjson::Value&,
                                             const Where&)>
absl::StatusOr<int32_t> AsInt32OrNumericString(const rapidjson::Value& v,
                                               const Where& w) {
  if (!v.IsString()) return AsInt32(v, w);
  int32_t x = 0;
  if (!absl::SimpleAtoi(StringOf(v), &x)) {
    return Bad(w, absl::StrCat("must be an integer, got the string ",
                               Quote(StringOf(v))));
  }
  return x;
}

// SetUnixSeconds sets `out` from Unix seconds (fraction kept as nanos);
// `seconds` after year 9999 is an error naming `w`.
absl::Status SetUnixSeconds(double seconds, const Where& w,
                            google::protobuf::Timestamp* out);

// ObjectReader reads the members of one JSON object. Absent and null
// members are the same: "not given". Holds views: the object, `payload` and
// `prefix` must outlive it.
class ObjectReader {
 public:
  ObjectReader(const rapidjson::Value& obj, absl::string_view payload,
               absl::string_view prefix)
      : obj_(obj), payload_(payload), prefix_(prefix) {}

  // Get returns null when `key` is absent or null.
  const rapidjson::Value* Get(absl::string_view key) const;

  Where At(absl::string_view key) const {
    return Where{payload_, Child(prefix_, key)};
  }

  absl::Status Missing(absl::string_view key) const {
    return Bad(At(key), "is missing or null");
  }

  // Opt converts `key` when given; nullopt when absent or null.
  template <typename T>
  absl::StatusOr<std::optional<T>> Opt(
      absl::string_view key,
      absl::StatusOr<T> (*convert)(const rapidjson::Value&,
                                   const Where&)) const {
    const rapidjson::Value* v = Get(key);
    if (v == nullptr) return std::optional<T>();
    absl::StatusOr<T> converted = convert(*v, At(key));
    if (!converted.ok()) return converted.status();
    return std::optional<T>(std::move(*converted));
  }

  // Req converts `key`, which must be given.
  template <typename T>
  absl::StatusOr<T> Req(absl::string_view key,
                        absl::StatusOr<T> (*convert)(const rapidjson::Value&,
                                                     const Where&)) const {
    const rapidjson::Value* v = Get(key);
    if (v == nullptr) return Missing(key);
    return convert(*v, At(key));
  }

  // ReqNonEmptyString is a required string that must not be empty.
  absl::StatusOr<std::string> ReqNonEmptyString(absl::string_view key) const;

  // OptObject returns the object at `key`, null when absent or null.
  absl::StatusOr<const rapidjson::Value*> OptObject(
      absl::string_view key) const;

  absl::string_view payload() const { return payload_; }
  absl::string_view prefix() const { return prefix_; }
  const rapidjson::Value& object() const { return obj_; }

 private:
  const rapidjson::Value& obj_;
  absl::string_view payload_;
  absl::string_view prefix_;
};

// ParseCodeEnvelope parses a {"code", "message", "suggestion", "data"}
// response body (the Triverse and Tripo envelopes) into `Envelope`: `code`
// is required and read by `AsCode`, the others are optional, and "data" is
// kept re-serialised ("null" when absent or null).
template <typename Envelope, absl::StatusOr<int32_t> (*AsCode)(
                                 const rapidjson::Value&, const Where&)>
absl::StatusOr<Envelope> ParseCodeEnvelope(absl::string_view body,
                                           absl::string_view payload) {
  rapidjson::Document doc;
  TR_RETURN_IF_ERROR(ParseObject(body, payload, &doc));
  ObjectReader r(doc, payload, "");
  Envelope env;
  TR_ASSIGN_OR_RETURN(env.code, r.Req("code", AsCode));
  TR_ASSIGN_OR_RETURN(std::optional<std::string> message,
                      r.Opt("message", AsString));
  TR_ASSIGN_OR_RETURN(std::optional<std::string> suggestion,
                      r.Opt("suggestion", AsString));
  env.message = std::move(message).value_or("");
  env.suggestion = std::move(suggestion).value_or("");
  const rapidjson::Value* data = r.Get("data");
  env.data_json = data == nullptr ? "null" : Serialise(*data);
  return env;
}

// ------------------------------------------------------------ request bodies

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

// Key writes a member name; Str a member with a string value.
void Key(Writer& w, absl::string_view key);
void Str(Writer& w, absl::string_view key, absl::string_view value);

// Unsupported collects the set contract fields a provider cannot honour,
// each named "<flow>.<field>" in one INVALID_ARGUMENT.
class Unsupported {
 public:
  // `provider` is named in the rule of Check: "tripo", "siray".
  Unsupported(absl::string_view flow, absl::string_view provider)
      : flow_(flow), provider_(provider) {}

  // Check adds `field` when `set`: "is not supported by the <provider>
  // provider".
  void Check(bool set, absl::string_view field);
  void Add(absl::string_view field, absl::string_view rule);
  absl::Status status() const;

 private:
  std::string flow_;
  std::string provider_;
  std::vector<errors::FieldViolation> violations_;
};

// FlowNotOffered is the error for a request `provider` builds no body for:
// INVALID_ARGUMENT when it selects no flow, UNIMPLEMENTED otherwise.
absl::Status FlowNotOffered(const v1::CreateTaskRequest& request,
                            absl::string_view provider);

}  // namespace triverse::translate::json_internal

#endif  // TRIVERSE_SERVER_TRANSLATE_JSON_READER_H_
