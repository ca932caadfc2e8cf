#include "server/errors/upstream_status.h"

#include <cmath>

#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "google/rpc/error_details.pb.h"

namespace triverse::errors {
namespace {

constexpr char kTypeUrlPrefix[] = "type.googleapis.com/";

// The RetryInfo delay when the upstream sent no Retry-After: Envoy's 250 ms
// backoff cap, long enough not to hammer a struggling upstream.

// Row is one line of the mapping table.
struct Row {
  absl::StatusCode code;
  const char* reason;
};

// RowForTriverseCode maps the documented Triverse codes. The envelope code is
// more precise than the HTTP status, so it wins when both are present.
std::optional<Row> RowForTriverseCode(int code) {
  switch (code) {
    case 1004:  // invalid parameters: the caller must change the request
      return Row{absl::StatusCode::kInvalidArgument, "INVALID_PARAMETERS"};
    case 1005:  // not found, or no permission: Triverse hides which
      return Row{absl::StatusCode::kNotFound, "RESOURCE_NOT_FOUND"};
    case 1006:  // also another key's task: NOT_FOUND, never a leak
      return Row{absl::StatusCode::kNotFound, "TASK_NOT_FOUND"};
    case 2000:  // rate limit or full queue: retry after a delay
      return Row{absl::StatusCode::kResourceExhausted, "RATE_LIMITED"};
    case 2002:  // the upstream does not offer this flow
      return Row{absl::StatusCode::kInvalidArgument, "TASK_TYPE_NOT_SUPPORTED"};
    case 2004:
      return Row{absl::StatusCode::kInvalidArgument, "FILE_TYPE_NOT_SUPPORTED"};
    case 2005:  // the task's state forbids this (e.g. download before SUCCESS)
      return Row{absl::StatusCode::kFailedPrecondition, "TASK_STATE_CONFLICT"};
    case 2008:  // moderation: only a different input can pass
      return Row{absl::StatusCode::kInvalidArgument, "CONTENT_VIOLATION"};
    case 2010:  // credits are a quota; retrying does not help until top-up
      return Row{absl::StatusCode::kResourceExhausted, "INSUFFICIENT_CREDITS"};
    case 4042:  // the task exists but has nothing to download
      return Row{absl::StatusCode::kNotFound, "NO_ASSETS"};
    case 5003:  // a backend dependency is down: transient
      return Row{absl::StatusCode::kUnavailable, "BACKEND_UNAVAILABLE"};
    case 5004:  // the upstream's own flow configuration is broken
      return Row{absl::StatusCode::kInternal, "INVALID_FLOW_NAME"};
    case 5005:  // persistence failed; transient for the caller
      return Row{absl::StatusCode::kUnavailable, "PERSISTENCE_ERROR"};
    default:
      return std::nullopt;
  }
}

// RowForHttpStatus covers responses without a known envelope code.
Row RowForHttpStatus(long http, bool caller_key) {
  switch (http) {
    case 400:
      return {absl::StatusCode::kInvalidArgument, "INVALID_PARAMETERS"};
    case 401:
    case 403:
      // With the gateway's own key the caller can do nothing about it: the
      // operator must fix the key. With the caller's key it is theirs.
      if (!caller_key) {
        return {absl::StatusCode::kInternal, "UPSTREAM_CREDENTIALS_REJECTED"};
      }
      return http == 401
                 ? Row{absl::StatusCode::kUnauthenticated, "API_KEY_INVALID"}
                 : Row{absl::StatusCode::kPermissionDenied,
                       "API_KEY_FORBIDDEN"};
    case 404:
      return {absl::StatusCode::kNotFound, "RESOURCE_NOT_FOUND"};
    case 408:  // the upstream gave up waiting for us: transient
      return {absl::StatusCode::kUnavailable, "UPSTREAM_TIMEOUT"};
    case 409:
      return {absl::StatusCode::kAborted, "CONFLICT"};
    case 412:
      return {absl::StatusCode::kFailedPrecondition, "PRECONDITION_FAILED"};
    case 413:
      return {absl::StatusCode::kInvalidArgument, "PAYLOAD_TOO_LARGE"};
    case 429:
      return {absl::StatusCode::kResourceExhausted, "RATE_LIMITED"};
    case 500:  // an unexplained 500 is most often transient upstream
    case 502:
    case 503:
    case 504:
      return {absl::StatusCode::kUnavailable, "UPSTREAM_UNAVAILABLE"};
    case 501:
      return {absl::StatusCode::kUnimplemented, "NOT_IMPLEMENTED"};
    default:
      return {absl::StatusCode::kUnknown, "UPSTREAM_HTTP_ERROR"};
  }
}

// FieldFromMessage finds the field an upstream 1004 names, as in
// "Parameter 'prompt' must be ...". Empty when it names none.
std::string FieldFromMessage(absl::string_view text) {
  constexpr absl::string_view kMarker = "Parameter '";
  const size_t at = text.find(kMarker);
  if (at == absl::string_view::npos) return "";
  const size_t start = at + kMarker.size();
  const size_t end = text.find('\'', start);
  if (end == absl::string_view::npos) return "";
  return std::string(text.substr(start, end - start));
}

google::protobuf::Duration ToProto(absl::Duration d) {
  google::protobuf::Duration out;
  const int64_t seconds = absl::IDivDuration(d, absl::Seconds(1), &d);
  out.set_seconds(seconds);
  out.set_nanos(static_cast<int32_t>(absl::ToInt64Nanoseconds(d)));
  return out;
}

}  // namespace

void AddRetryInfo(absl::Status& status, absl::Duration delay) {
  google::rpc::RetryInfo retry;
  *retry.mutable_retry_delay() = ToProto(delay);
  AddDetail(status, retry);
}

void AddDetail(absl::Status& status, const google::protobuf::Message& detail) {
  if (status.ok()) return;
  status.SetPayload(absl::StrCat(kTypeUrlPrefix, detail.GetTypeName()),
                    absl::Cord(detail.SerializeAsString()));
}

std::vector<google::protobuf::Any> Details(const absl::Status& status) {
  std::vector<google::protobuf::Any> out;
  status.ForEachPayload(
      [&out](absl::string_view type_url, const absl::Cord& payload) {
        if (!absl::StartsWith(type_url, kTypeUrlPrefix)) return;
        google::protobuf::Any any;
        any.set_type_url(std::string(type_url));
        any.set_value(std::string(payload));
        out.push_back(std::move(any));
      });
  return out;
}

absl::Status AsStatus(const UpstreamError& e) {
  std::optional<Row> row = RowForTriverseCode(e.code);
  // An auth refusal has no Triverse code; the HTTP status decides.
  if (!row || e.http_status == 401) {
    row = RowForHttpStatus(e.http_status, e.caller_key);
  }
  std::string message = absl::StrCat(
      e.operation, ": ", e.message.empty() ? "upstream error" : e.message);
  if (row->code == absl::StatusCode::kInternal &&
      absl::string_view(row->reason) == "UPSTREAM_CREDENTIALS_REJECTED") {
    message = absl::StrCat(e.operation,
                           ": the upstream rejected the gateway's API key; "
                           "the operator must check the configured key");
  }
  absl::Status status(row->code, message);

  google::rpc::ErrorInfo info;
  info.set_reason(row->reason);
  info.set_domain(kErrorDomain);
  auto& md = *info.mutable_metadata();
  md["httpStatus"] = absl::StrCat(e.http_status);
  if (e.code != 0) {
    md["upstreamCode"] = absl::StrCat(e.code);
  } else if (!e.code_text.empty()) {
    md["upstreamCode"] = e.code_text;
  }
  if (!e.message.empty()) md["upstreamMessage"] = e.message;
  if (!e.suggestion.empty()) md["suggestion"] = e.suggestion;
  md["operation"] = e.operation;
  if (!e.trace_id.empty()) md["upstreamTraceId"] = e.trace_id;
  if (!e.provider.empty()) md["provider"] = e.provider;
  AddDetail(status, info);

  const bool retryable = row->code == absl::StatusCode::kUnavailable ||
                         absl::string_view(row->reason) == "RATE_LIMITED";
  if (retryable) {
    AddRetryInfo(status, e.retry_after.value_or(kDefaultRetryDelay));
  }
  if (row->code == absl::StatusCode::kResourceExhausted) {
    google::rpc::QuotaFailure quota;
    auto* v = quota.add_violations();
    const bool credits = e.code == 2010;
    v->set_subject(credits ? "api_credits" : "requests");
    v->set_description(!e.suggestion.empty() ? e.suggestion : e.message);
    AddDetail(status, quota);
  }
  if (row->code == absl::StatusCode::kFailedPrecondition) {
    google::rpc::PreconditionFailure pre;
    auto* v = pre.add_violations();
    v->set_type(e.code == 2005 ? "TASK_STATE" : "UPSTREAM");
    v->set_subject(e.operation);
    v->set_description(!e.suggestion.empty() ? e.suggestion : e.message);
    AddDetail(status, pre);
  }
  if (row->code == absl::StatusCode::kInvalidArgument) {
    google::rpc::BadRequest bad;
    auto* v = bad.add_field_violations();
    std::string field = FieldFromMessage(e.suggestion);
    if (field.empty()) field = FieldFromMessage(e.message);
    if (field.empty()) {
      field = e.code == 2004 ? "metadata.content_type" : "params";
    }
    v->set_field(field);
    v->set_description(!e.suggestion.empty() ? e.suggestion : e.message);
    AddDetail(status, bad);
  }
  return status;
}

absl::Status InvalidArgument(std::vector<FieldViolation> violations) {
  std::string message = "invalid request";
  if (!violations.empty()) {
    message = absl::StrCat(violations.front().field, ": ",
                           violations.front().description);
  }
  absl::Status status = absl::InvalidArgumentError(message);
  google::rpc::BadRequest bad;
  for (FieldViolation& v : violations) {
    auto* out = bad.add_field_violations();
    out->set_field(std::move(v.field));
    out->set_description(std::move(v.description));
  }
  google::rpc::ErrorInfo info;
  info.set_reason("INVALID_ARGUMENT");
  info.set_domain(kErrorDomain);
  AddDetail(status, info);
  AddDetail(status, bad);
  return status;
}

}  // namespace triverse::errors
