#include "server/translate/upstream_json.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/timestamp.pb.h"
#include "rapidjson/document.h"
#include "server/translate/json_reader.h"

namespace triverse::translate {
namespace {

using ::google::protobuf::Timestamp;
using json_internal::AsInt32OrNumericString;
using json_internal::AsString;
using json_internal::Bad;
using json_internal::Child;
using json_internal::kMaxTimestampSeconds;
using json_internal::kMinTimestampSeconds;
using json_internal::ObjectReader;
using json_internal::ParseObject;
using json_internal::Quote;
using json_internal::StringOf;
using json_internal::ToProtoValue;
using json_internal::ToStruct;
using json_internal::Where;
using json_internal::WrongType;
using ::rapidjson::Value;

// ------------------------------------------------------------ conversions

absl::StatusOr<bool> AsBool(const Value& v, const Where& w) {
  if (!v.IsBool()) return WrongType(w, "a boolean", v);
  return v.GetBool();
}

// AsInt64 accepts an integer, or a double with no fraction, in int64 range.
absl::StatusOr<int64_t> AsInt64(const Value& v, const Where& w) {
  if (v.IsInt64()) return v.GetInt64();
  if (v.IsUint64()) return Bad(w, "is out of range (above 2^63-1)");
  if (v.IsDouble()) {
    const double d = v.GetDouble();
    // 2^63 is exactly representable; every double below it fits int64.
    if (!std::isfinite(d) || d < -9223372036854775808.0 ||
        d >= 9223372036854775808.0) {
      return Bad(w, "is out of range for a 64-bit integer");
    }
    if (std::trunc(d) != d) return Bad(w, "must be an integer, got a fraction");
    return static_cast<int64_t>(d);
  }
  return WrongType(w, "an integer", v);
}

absl::StatusOr<int64_t> AsNonNegativeInt64(const Value& v, const Where& w) {
  TR_ASSIGN_OR_RETURN(int64_t x, AsInt64(v, w));
  if (x < 0) return Bad(w, absl::StrCat("must be >= 0, got ", x));
  return x;
}

absl::StatusOr<int32_t> AsInt32(const Value& v, const Where& w) {
  TR_ASSIGN_OR_RETURN(int64_t x, AsInt64(v, w));
  if (x < std::numeric_limits<int32_t>::min() ||
      x > std::numeric_limits<int32_t>::max()) {
    return Bad(w, absl::StrCat("is out of range for a 32-bit integer: ", x));
  }
  return static_cast<int32_t>(x);
}

absl::StatusOr<int32_t> AsNonNegativeInt32(const Value& v, const Where& w) {
  TR_ASSIGN_OR_RETURN(int32_t x, AsInt32(v, w));
  if (x < 0) return Bad(w, absl::StrCat("must be >= 0, got ", x));
  return x;
}

// AsFiniteNumber accepts a JSON number or a numeric string (decimal types
// are often serialised as strings), never NaN or infinity.
absl::StatusOr<double> AsFiniteNumber(const Value& v, const Where& w) {
  double d = 0;
  if (v.IsNumber()) {
    d = v.GetDouble();
  } else if (v.IsString()) {
    if (!absl::SimpleAtod(StringOf(v), &d)) {
      return Bad(w, absl::StrCat("must be a number, got the string ",
                                 Quote(StringOf(v))));
    }
  } else {
    return WrongType(w, "a number", v);
  }
  if (!std::isfinite(d)) return Bad(w, "must be a finite number");
  return d;
}

// AsProgress rounds and clamps to 0-100.
absl::StatusOr<int32_t> AsProgress(const Value& v, const Where& w) {
  TR_ASSIGN_OR_RETURN(double d, AsFiniteNumber(v, w));
  d = std::round(d);
  if (d < 0) return 0;
  if (d > 100) return 100;
  return static_cast<int32_t>(d);
}

// AsWaitSeconds accepts a non-negative number of seconds and rounds a
// fraction up (it is an estimate; never promise less than the upstream did).
absl::StatusOr<int32_t> AsWaitSeconds(const Value& v, const Where& w) {
  if (!v.IsNumber()) return WrongType(w, "a number", v);
  const double d = std::ceil(v.GetDouble());
  if (d < 0) return Bad(w, "must be >= 0");
  if (d > std::numeric_limits<int32_t>::max()) {
    return Bad(w, "is out of range for a 32-bit integer");
  }
  return static_cast<int32_t>(d);
}

// AsTimestamp parses ISO-8601 / RFC 3339 date-times: 'T' or a space between
// date and time, any fraction of seconds, then "Z", "+hh:mm", "+hhmm" or
// nothing (the upstream documents UTC).
absl::StatusOr<Timestamp> AsTimestamp(const Value& v, const Where& w) {
  if (!v.IsString()) return WrongType(w, "an ISO-8601 string", v);
  const std::string s(StringOf(v));
  static constexpr const char* kFormats[] = {
      "%Y-%m-%d%ET%H:%M:%E*S%Ez", "%Y-%m-%d%ET%H:%M:%E*S%z",
      "%Y-%m-%d%ET%H:%M:%E*S",    "%Y-%m-%d %H:%M:%E*S%Ez",
      "%Y-%m-%d %H:%M:%E*S%z",    "%Y-%m-%d %H:%M:%E*S",
  };
  absl::Time t;
  bool parsed = false;
  for (const char* format : kFormats) {
    std::string err;
    if (absl::ParseTime(format, s, absl::UTCTimeZone(), &t, &err)) {
      parsed = true;
      break;
    }
  }
  if (!parsed) {
    return Bad(w, absl::StrCat("is not an ISO-8601 date-time: ", Quote(s)));
  }
  // Also refuses absl's "infinite-past" / "infinite-future" spellings.
  const int64_t seconds = absl::ToUnixSeconds(t);
  if (seconds < kMinTimestampSeconds || seconds > kMaxTimestampSeconds) {
    return Bad(w, absl::StrCat("is outside years 1-9999: ", Quote(s)));
  }
  Timestamp out;
  out.set_seconds(seconds);
  out.set_nanos(static_cast<int32_t>(
      absl::ToInt64Nanoseconds(t - absl::FromUnixSeconds(seconds))));
  return out;
}

absl::StatusOr<v1::TaskStatus> AsTaskStatus(const Value& v, const Where& w) {
  if (!v.IsString()) return WrongType(w, "a string", v);
  const absl::string_view s = StringOf(v);
  static constexpr std::pair<absl::string_view, v1::TaskStatus> kStatuses[] = {
      {"PENDING", v1::TASK_STATUS_PENDING},
      {"QUEUED", v1::TASK_STATUS_QUEUED},
      {"RUNNING", v1::TASK_STATUS_RUNNING},
      {"SUCCESS", v1::TASK_STATUS_SUCCESS},
      {"FAILED", v1::TASK_STATUS_FAILED},
      {"CANCELLED", v1::TASK_STATUS_CANCELLED},
  };
  for (const auto& [name, status] : kStatuses) {
    if (s == name) return status;
  }
  // Includes the older sub-job states COMPLETED / IN_PROGRESS: they are not
  // public task statuses.
  return Bad(w, absl::StrCat("has unknown value ", Quote(s)));
}

// AddUrls appends a URL-list field: one string, an array of strings, or
// null (nothing).
absl::Status AddUrls(const Value& v, const Where& w,
                     google::protobuf::RepeatedPtrField<std::string>* out) {
  if (v.IsNull()) return absl::OkStatus();
  if (v.IsString()) {
    out->Add(std::string(StringOf(v)));
    return absl::OkStatus();
  }
  if (!v.IsArray()) {
    return WrongType(w, "a string or an array of strings", v);
  }
  for (rapidjson::SizeType i = 0; i < v.Size(); ++i) {
    if (!v[i].IsString()) {
      return WrongType(Where{w.payload, absl::StrCat(w.path, "[", i, "]")},
                       "a string", v[i]);
    }
    out->Add(std::string(StringOf(v[i])));
  }
  return absl::OkStatus();
}

absl::Status ParseQueue(const ObjectReader& r, v1::TaskQueue* out) {
  TR_ASSIGN_OR_RETURN(std::optional<bool> is_queued,
                      r.Opt("is_queued", AsBool));
  TR_ASSIGN_OR_RETURN(std::optional<int32_t> position,
                      r.Opt("position", AsNonNegativeInt32));
  TR_ASSIGN_OR_RETURN(std::optional<int32_t> wait,
                      r.Opt("estimated_wait_seconds", AsWaitSeconds));
  out->set_is_queued(is_queued.value_or(false));
  if (position) out->set_position(*position);
  if (wait) out->set_estimated_wait_seconds(*wait);
  return absl::OkStatus();
}

// ParseTaskError: every member is optional (a failed task with a partial
// error object is still a failed task); a present member must be well typed.
absl::Status ParseTaskError(const ObjectReader& r, v1::TaskError* out) {
  TR_ASSIGN_OR_RETURN(std::optional<int32_t> code,
                      r.Opt("code", AsInt32OrNumericString<AsInt32>));
  TR_ASSIGN_OR_RETURN(std::optional<std::string> message,
                      r.Opt("message", AsString));
  TR_ASSIGN_OR_RETURN(std::optional<std::string> suggestion,
                      r.Opt("suggestion", AsString));
  out->set_code(code.value_or(0));
  if (message) out->set_message(std::move(*message));
  if (suggestion) out->set_suggestion(std::move(*suggestion));
  return absl::OkStatus();
}

using UrlListField =
    google::protobuf::RepeatedPtrField<std::string>* (v1::TaskOutput::*)();

absl::Status ParseOutput(const ObjectReader& r, v1::TaskOutput* out) {
  static constexpr std::pair<absl::string_view, UrlListField> kLists[] = {
      {"preprocessed_image_url",
       &v1::TaskOutput::mutable_preprocessed_image_url},
      {"geometry_model_url", &v1::TaskOutput::mutable_geometry_model_url},
      {"textured_model_url", &v1::TaskOutput::mutable_textured_model_url},
      {"rendered_image_url", &v1::TaskOutput::mutable_rendered_image_url},
      {"remeshed_model_url", &v1::TaskOutput::mutable_remeshed_model_url},
      {"converted_model_url", &v1::TaskOutput::mutable_converted_model_url},
      {"image_url", &v1::TaskOutput::mutable_image_url},
  };
  const Value& obj = r.object();
  for (auto it = obj.MemberBegin(); it != obj.MemberEnd(); ++it) {
    const absl::string_view key = StringOf(it->name);
    const Value& v = it->value;
    bool known = false;
    for (const auto& [name, field] : kLists) {
      if (key == name) {
        TR_RETURN_IF_ERROR(AddUrls(v, r.At(key), (out->*field)()));
        known = true;
        break;
      }
    }
    if (known) continue;
    if (key == "preview_url") {
      if (v.IsNull()) continue;
      if (!v.IsString()) return WrongType(r.At(key), "a string", v);
      out->set_preview_url(std::string(StringOf(v)));
      continue;
    }
    // Anything else, including the older geometry_job_status and
    // texture_job_status sub-job states, is kept as it came.
    ToProtoValue(v,
                 &(*out->mutable_other()->mutable_fields())[std::string(key)]);
  }
  return absl::OkStatus();
}

// TaskUuid reads task_uuid, or the older taskId.
absl::StatusOr<std::string> TaskUuid(const ObjectReader& r) {
  if (r.Get("task_uuid") == nullptr && r.Get("taskId") != nullptr) {
    return r.ReqNonEmptyString("taskId");
  }
  return r.ReqNonEmptyString("task_uuid");
}

// SetTimestamp sets a Timestamp field through `mutable_field` only when `key`
// is given, so an absent time stays unset (has_*() false).
template <typename MutableField>
absl::Status SetTimestamp(const ObjectReader& r, absl::string_view key,
                          MutableField mutable_field) {
  TR_ASSIGN_OR_RETURN(std::optional<Timestamp> t, r.Opt(key, AsTimestamp));
  if (t) *mutable_field() = std::move(*t);
  return absl::OkStatus();
}

absl::StatusOr<v1::OwnModel> OwnModelFromValue(const Value& obj,
                                               absl::string_view payload,
                                               absl::string_view prefix) {
  ObjectReader r(obj, payload, prefix);
  v1::OwnModel m;
  TR_ASSIGN_OR_RETURN(*m.mutable_task_uuid(), r.ReqNonEmptyString("task_uuid"));
  TR_ASSIGN_OR_RETURN(*m.mutable_flow_name(), r.Req("flow_name", AsString));
  TR_ASSIGN_OR_RETURN(v1::TaskStatus status, r.Req("status", AsTaskStatus));
  m.set_status(status);
  TR_RETURN_IF_ERROR(
      SetTimestamp(r, "created_at", [&] { return m.mutable_created_at(); }));
  TR_ASSIGN_OR_RETURN(std::optional<std::string> name, r.Opt("name", AsString));
  if (name) m.set_name(std::move(*name));
  TR_ASSIGN_OR_RETURN(std::optional<bool> is_public,
                      r.Opt("is_public", AsBool));
  m.set_is_public(is_public.value_or(false));
  TR_RETURN_IF_ERROR(
      SetTimestamp(r, "started_at", [&] { return m.mutable_started_at(); }));
  TR_RETURN_IF_ERROR(SetTimestamp(r, "completed_at",
                                  [&] { return m.mutable_completed_at(); }));
  if (const Value* v = r.Get("geometry_model_url")) {
    TR_RETURN_IF_ERROR(AddUrls(*v, r.At("geometry_model_url"),
                               m.mutable_geometry_model_url()));
  }
  if (const Value* v = r.Get("textured_model_url")) {
    TR_RETURN_IF_ERROR(AddUrls(*v, r.At("textured_model_url"),
                               m.mutable_textured_model_url()));
  }
  if (const Value* v = r.Get("preprocessed_image_url")) {
    TR_RETURN_IF_ERROR(AddUrls(*v, r.At("preprocessed_image_url"),
                               m.mutable_preprocessed_image_url()));
  }
  if (const Value* v = r.Get("assets")) {
    if (!v->IsArray()) return WrongType(r.At("assets"), "an array", *v);
    for (rapidjson::SizeType i = 0; i < v->Size(); ++i) {
      if (!(*v)[i].IsObject()) {
        return WrongType(
            Where{payload, Child(prefix, absl::StrCat("assets[", i, "]"))},
            "an object", (*v)[i]);
      }
      ToStruct((*v)[i], m.add_assets());
    }
  }
  TR_ASSIGN_OR_RETURN(const Value* request_payload,
                      r.OptObject("request_payload"));
  if (request_payload != nullptr) {
    ToStruct(*request_payload, m.mutable_request_payload());
  }
  return m;
}

constexpr absl::string_view kEnvelopePayload = "envelope";
constexpr absl::string_view kTaskPayload = "task";
constexpr absl::string_view kCreationPayload = "task creation";
constexpr absl::string_view kQuotePayload = "price quote";
constexpr absl::string_view kDownloadPayload = "download URL";
constexpr absl::string_view kUserPayload = "user";
constexpr absl::string_view kBalancePayload = "balance";
constexpr absl::string_view kUploadPayload = "upload";
constexpr absl::string_view kOwnModelPayload = "own model";
constexpr absl::string_view kOwnModelsPayload = "own models page";

}  // namespace

absl::StatusOr<Envelope> ParseEnvelope(absl::string_view body) {
  return json_internal::ParseCodeEnvelope<Envelope, AsInt32>(body,
                                                             kEnvelopePayload);
}

absl::StatusOr<v1::Task> ParseTask(absl::string_view data_json) {
  rapidjson::Document doc;
  TR_RETURN_IF_ERROR(ParseObject(data_json, kTaskPayload, &doc));
  ObjectReader r(doc, kTaskPayload, "");
  v1::Task task;
  TR_ASSIGN_OR_RETURN(*task.mutable_task_uuid(), TaskUuid(r));
  // flow_name and created_at are missing from the older payload.
  TR_ASSIGN_OR_RETURN(std::optional<std::string> flow,
                      r.Opt("flow_name", AsString));
  if (flow) task.set_flow_name(std::move(*flow));
  // Only the top-level status counts; the older output sub-job states never
  // reach it (ParseOutput keeps them in output.other).
  TR_ASSIGN_OR_RETURN(v1::TaskStatus status, r.Req("status", AsTaskStatus));
  task.set_status(status);
  TR_ASSIGN_OR_RETURN(std::optional<int32_t> progress,
                      r.Opt("progress", AsProgress));
  task.set_progress(progress.value_or(0));
  TR_RETURN_IF_ERROR(
      SetTimestamp(r, "created_at", [&] { return task.mutable_created_at(); }));
  TR_RETURN_IF_ERROR(
      SetTimestamp(r, "started_at", [&] { return task.mutable_started_at(); }));
  TR_RETURN_IF_ERROR(SetTimestamp(r, "completed_at",
                                  [&] { return task.mutable_completed_at(); }));
  TR_ASSIGN_OR_RETURN(const Value* input, r.OptObject("input"));
  if (input != nullptr) ToStruct(*input, task.mutable_input());
  TR_ASSIGN_OR_RETURN(const Value* output, r.OptObject("output"));
  if (output != nullptr) {
    TR_RETURN_IF_ERROR(ParseOutput(
        ObjectReader(*output, kTaskPayload, "output"), task.mutable_output()));
  }
  TR_ASSIGN_OR_RETURN(const Value* error, r.OptObject("error"));
  if (error != nullptr) {
    TR_RETURN_IF_ERROR(ParseTaskError(
        ObjectReader(*error, kTaskPayload, "error"), task.mutable_error()));
  }
  TR_ASSIGN_OR_RETURN(const Value* queue, r.OptObject("queue"));
  if (queue != nullptr) {
    TR_RETURN_IF_ERROR(ParseQueue(ObjectReader(*queue, kTaskPayload, "queue"),
                                  task.mutable_queue()));
  }
  return task;
}

absl::StatusOr<v1::TaskCreation> ParseTaskCreation(
    absl::string_view data_json) {
  rapidjson::Document doc;
  TR_RETURN_IF_ERROR(ParseObject(data_json, kCreationPayload, &doc));
  ObjectReader r(doc, kCreationPayload, "");
  v1::TaskCreation c;
  TR_ASSIGN_OR_RETURN(*c.mutable_task_uuid(), TaskUuid(r));
  TR_ASSIGN_OR_RETURN(std::optional<std::string> flow,
                      r.Opt("flow_name", AsString));
  if (flow) c.set_flow_name(std::move(*flow));
  TR_ASSIGN_OR_RETURN(v1::TaskStatus status, r.Req("status", AsTaskStatus));
  c.set_status(status);
  TR_RETURN_IF_ERROR(
      SetTimestamp(r, "created_at", [&] { return c.mutable_created_at(); }));
  // cost_credits is the newer name, costCredits the older one.
  const absl::string_view cost_key =
      r.Get("cost_credits") == nullptr && r.Get("costCredits") != nullptr
          ? "costCredits"
          : "cost_credits";
  TR_ASSIGN_OR_RETURN(std::optional<int64_t> cost,
                      r.Opt(cost_key, AsNonNegativeInt64));
  if (cost) c.set_cost_credits(*cost);
  TR_ASSIGN_OR_RETURN(const Value* queue, r.OptObject("queue"));
  if (queue != nullptr) {
    TR_RETURN_IF_ERROR(ParseQueue(
        ObjectReader(*queue, kCreationPayload, "queue"), c.mutable_queue()));
  }
  TR_ASSIGN_OR_RETURN(
      std::optional<int32_t> raw_deadline,
      r.Opt("read_after_write_deadline_seconds", AsNonNegativeInt32));
  if (raw_deadline) c.set_read_after_write_deadline_seconds(*raw_deadline);
  TR_ASSIGN_OR_RETURN(std::optional<std::string> raw_header,
                      r.Opt("read_after_write_header", AsString));
  if (raw_header) c.set_read_after_write_header(std::move(*raw_header));
  // The older name, is_public, task_priority and input are dropped.
  return c;
}

absl::StatusOr<v1::PriceQuote> ParsePriceQuote(absl::string_view data_json) {
  rapidjson::Document doc;
  TR_RETURN_IF_ERROR(ParseObject(data_json, kQuotePayload, &doc));
  ObjectReader r(doc, kQuotePayload, "");
  v1::PriceQuote q;
  TR_ASSIGN_OR_RETURN(*q.mutable_flow_name(), r.ReqNonEmptyString("flow_name"));
  TR_ASSIGN_OR_RETURN(const Value* params, r.OptObject("params"));
  if (params != nullptr) ToStruct(*params, q.mutable_params());
  TR_ASSIGN_OR_RETURN(int64_t cost, r.Req("cost_credits", AsNonNegativeInt64));
  q.set_cost_credits(cost);
  // Not clamped: a negative balance is the upstream's to report.
  TR_ASSIGN_OR_RETURN(int64_t available, r.Req("available_credits", AsInt64));
  q.set_available_credits(available);
  return q;
}

absl::StatusOr<v1::DownloadUrl> ParseDownloadUrl(absl::string_view data_json) {
  rapidjson::Document doc;
  TR_RETURN_IF_ERROR(ParseObject(data_json, kDownloadPayload, &doc));
  ObjectReader r(doc, kDownloadPayload, "");
  v1::DownloadUrl d;
  TR_ASSIGN_OR_RETURN(*d.mutable_download_url(),
                      r.ReqNonEmptyString("download_url"));
  TR_ASSIGN_OR_RETURN(std::optional<std::string> preview,
                      r.Opt("preview_url", AsString));
  TR_ASSIGN_OR_RETURN(std::optional<std::string> asset_id,
                      r.Opt("asset_id", AsString));
  TR_ASSIGN_OR_RETURN(std::optional<std::string> kind, r.Opt("kind", AsString));
  if (preview) d.set_preview_url(std::move(*preview));
  if (asset_id) d.set_asset_id(std::move(*asset_id));
  if (kind) d.set_kind(std::move(*kind));
  return d;
}

absl::StatusOr<v1::User> ParseUser(absl::string_view data_json) {
  rapidjson::Document doc;
  TR_RETURN_IF_ERROR(ParseObject(data_json, kUserPayload, &doc));
  ObjectReader r(doc, kUserPayload, "");
  v1::User u;
  TR_ASSIGN_OR_RETURN(*u.mutable_id(), r.ReqNonEmptyString("id"));
  TR_ASSIGN_OR_RETURN(*u.mutable_email(), r.Req("email", AsString));
  TR_ASSIGN_OR_RETURN(std::optional<double> web,
                      r.Opt("web_credits_balance", AsFiniteNumber));
  u.set_web_credits_balance(web.value_or(0));
  TR_ASSIGN_OR_RETURN(double api, r.Req("api_credits_balance", AsFiniteNumber));
  u.set_api_credits_balance(api);
  TR_ASSIGN_OR_RETURN(std::optional<std::string> plan,
                      r.Opt("plan_name", AsString));
  if (plan) u.set_plan_name(std::move(*plan));
  return u;
}

absl::StatusOr<v1::Balance> ParseBalance(absl::string_view data_json) {
  rapidjson::Document doc;
  TR_RETURN_IF_ERROR(ParseObject(data_json, kBalancePayload, &doc));
  ObjectReader r(doc, kBalancePayload, "");
  v1::Balance b;
  TR_ASSIGN_OR_RETURN(double balance, r.Req("balance", AsFiniteNumber));
  TR_ASSIGN_OR_RETURN(double frozen, r.Req("frozen", AsFiniteNumber));
  b.set_balance(balance);
  b.set_frozen(frozen);
  return b;
}

absl::StatusOr<std::string> ParseUploadFileKey(absl::string_view data_json) {
  rapidjson::Document doc;
  TR_RETURN_IF_ERROR(ParseObject(data_json, kUploadPayload, &doc));
  ObjectReader r(doc, kUploadPayload, "");
  return r.ReqNonEmptyString("file_key");
}

absl::StatusOr<v1::OwnModel> ParseOwnModel(absl::string_view record_json) {
  rapidjson::Document doc;
  TR_RETURN_IF_ERROR(ParseObject(record_json, kOwnModelPayload, &doc));
  return OwnModelFromValue(doc, kOwnModelPayload, "");
}

absl::StatusOr<OwnModelsPage> ParseOwnModelsPage(absl::string_view data_json) {
  rapidjson::Document doc;
  TR_RETURN_IF_ERROR(ParseObject(data_json, kOwnModelsPayload, &doc));
  ObjectReader r(doc, kOwnModelsPayload, "");
  OwnModelsPage page;
  const Value* records = r.Get("records");
  if (records == nullptr) return r.Missing("records");
  if (!records->IsArray()) {
    return WrongType(r.At("records"), "an array", *records);
  }
  page.models.reserve(records->Size());
  for (rapidjson::SizeType i = 0; i < records->Size(); ++i) {
    const std::string path = absl::StrCat("records[", i, "]");
    const Value& record = (*records)[i];
    if (!record.IsObject()) {
      return WrongType(Where{kOwnModelsPayload, path}, "an object", record);
    }
    TR_ASSIGN_OR_RETURN(v1::OwnModel model,
                        OwnModelFromValue(record, kOwnModelsPayload, path));
    page.models.push_back(std::move(model));
  }
  TR_ASSIGN_OR_RETURN(page.total, r.Req("total", AsNonNegativeInt64));
  TR_ASSIGN_OR_RETURN(std::optional<int64_t> size,
                      r.Opt("size", AsNonNegativeInt64));
  TR_ASSIGN_OR_RETURN(std::optional<int64_t> current,
                      r.Opt("current", AsNonNegativeInt64));
  TR_ASSIGN_OR_RETURN(std::optional<int64_t> pages,
                      r.Opt("pages", AsNonNegativeInt64));
  page.size = size.value_or(0);
  page.current = current.value_or(0);
  page.pages = pages.value_or(0);
  return page;
}

}  // namespace triverse::translate
