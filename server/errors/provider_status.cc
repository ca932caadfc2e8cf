#include "server/errors/provider_status.h"

#include <optional>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "google/rpc/error_details.pb.h"

namespace triverse::errors {
namespace {

// Row is one line of a mapping table.
struct Row {
  absl::StatusCode code;
  const char* reason;
  // INVALID_ARGUMENT: the request field a BadRequest names; null when the
  // upstream does not say which (then only the ErrorInfo).
  const char* field = nullptr;
  // The message names the gateway's own key (set with the INTERNAL rows of
  // the own-key rule).
  const char* operator_hint = nullptr;
};

constexpr char kKeyHint[] =
    "the upstream rejected the gateway's API key; the operator must check "
    "the configured key";

// OwnKeyRule: with the gateway's own key the caller can do nothing about an
// authentication or permission refusal (the operator must fix the key):
// INTERNAL, as AsStatus does for a 401/403. With the caller's key it is
// theirs.
Row OwnKeyRule(bool caller_key, Row callers) {
  if (caller_key) return callers;
  return Row{absl::StatusCode::kInternal, "UPSTREAM_CREDENTIALS_REJECTED",
             nullptr, kKeyHint};
}

// HttpRow is AsStatus's HTTP fallback (upstream_status.cc), row for row: for
// responses without a known provider code.
Row HttpRow(long http, bool caller_key) {
  switch (http) {
    case 400:
      return {absl::StatusCode::kInvalidArgument, "INVALID_PARAMETERS"};
    case 401:
      return OwnKeyRule(
          caller_key, {absl::StatusCode::kUnauthenticated, "API_KEY_INVALID"});
    case 403:
      return OwnKeyRule(caller_key, {absl::StatusCode::kPermissionDenied,
                                     "API_KEY_FORBIDDEN"});
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

// TripoRow maps the documented Tripo V2 codes (upstream-apis.md §2.1). The
// envelope code is more precise than the HTTP status, so it wins; nullopt
// for 9xxx router codes and codes Tripo does not document.
std::optional<Row> TripoRow(int code, bool caller_key) {
  using C = absl::StatusCode;
  switch (code) {
    case 1000:  // 500 unknown server error: transient, as Triverse's 5xx
    case 1001:  // 500 fatal server error: the same; a new attempt may land
                // on a healthy worker
      return Row{C::kUnavailable, "UPSTREAM_UNAVAILABLE"};
    case 1002:  // 401 authentication failed: the own-key rule
      return OwnKeyRule(caller_key, {C::kUnauthenticated, "API_KEY_INVALID"});
    case 1003:  // 400 body malformed: the request must change (no field is
                // named: the whole body)
      return Row{C::kInvalidArgument, "MALFORMED_REQUEST"};
    case 1004:  // 400 invalid parameters: as Triverse's 1004; the field only
                // when the message names it
      return Row{C::kInvalidArgument, "INVALID_PARAMETERS"};
    case 1005:  // 403 not allowed: the key lacks the right; own-key rule
      return OwnKeyRule(caller_key,
                        {C::kPermissionDenied, "API_KEY_FORBIDDEN"});
    case 1007:  // 429 too many requests per minute: retry after a delay
      return Row{C::kResourceExhausted, "RATE_LIMITED"};
    case 2000:  // 429 concurrency cap: as Triverse's 2000 (full queue); a
                // retry after Retry-After succeeds once a task ends
      return Row{C::kResourceExhausted, "RATE_LIMITED"};
    case 2001:  // 404 task not found, also another key's task: never a leak
      return Row{C::kNotFound, "TASK_NOT_FOUND"};
    case 2002:  // 400 task type not supported: the flow must change
      return Row{C::kInvalidArgument, "TASK_TYPE_NOT_SUPPORTED", "params"};
    case 2003:  // 400 image file empty
      return Row{C::kInvalidArgument, "FILE_EMPTY", "image_file"};
    case 2004:  // 400 image type not supported: as Triverse's 2004
      return Row{C::kInvalidArgument, "FILE_TYPE_NOT_SUPPORTED", "image_file"};
    case 2005:  // 400 the draft task is not a success: its state forbids it
                // (as Triverse's 2005); waiting for the task may help
      return Row{C::kFailedPrecondition, "TASK_STATE_CONFLICT"};
    case 2006:  // 400 the original task's type cannot be chained: the
                // request names the wrong task (model_file)
      return Row{C::kInvalidArgument, "ORIGINAL_TASK_TYPE_NOT_SUPPORTED",
                 "model_file"};
    case 2007:  // 400 the original task did not succeed: its state
      return Row{C::kFailedPrecondition, "TASK_STATE_CONFLICT"};
    case 2008:  // 400 content policy: as Triverse's 2008, only a different
                // input can pass
      return Row{C::kInvalidArgument, "CONTENT_VIOLATION", "params"};
    case 2009:  // 400 the prompt has invalid characters
      return Row{C::kInvalidArgument, "PROMPT_INVALID_CHARACTERS", "prompt"};
    case 2010:  // 403 not enough credit: as Triverse's 2010, a quota that a
                // retry does not refill (no RetryInfo)
      return Row{C::kResourceExhausted, "INSUFFICIENT_CREDITS"};
    case 2011:  // 400 the input task has no model to pre-rig-check: the
                // system is not in the state the call needs
      return Row{C::kFailedPrecondition, "INPUT_TASK_HAS_NO_MODEL"};
    case 2012:  // 400 the input task is not a rig task: likewise
      return Row{C::kFailedPrecondition, "INPUT_TASK_TYPE_INVALID"};
    case 2013:  // 403 priority not allowed for the key's plan: own-key rule
      return caller_key
                 ? Row{C::kPermissionDenied, "PRIORITY_NOT_ALLOWED"}
                 : Row{C::kInternal, "UPSTREAM_PERMISSION_DENIED", nullptr,
                       "the upstream refused the gateway's API key "
                       "this request; the operator must check the "
                       "key's plan"};
    case 2014:  // 400 error while auditing (moderation) the input: the
                // upstream's own trouble, transient
      return Row{C::kUnavailable, "MODERATION_UNAVAILABLE"};
    case 2015:  // 400 model version deprecated: choose another
      return Row{C::kInvalidArgument, "MODEL_VERSION_DEPRECATED",
                 "model_version"};
    case 2016:  // 400 request type deprecated: the flow must change
      return Row{C::kInvalidArgument, "TASK_TYPE_DEPRECATED", "params"};
    case 2017:  // 400 model version not valid
      return Row{C::kInvalidArgument, "MODEL_VERSION_INVALID", "model_version"};
    case 2018:  // 400 model too complex to remesh: another model is needed
      return Row{C::kInvalidArgument, "MODEL_TOO_COMPLEX", "model_file"};
    case 2019:  // 404 upload reference (file token) not found
      return Row{C::kNotFound, "FILE_NOT_FOUND"};
    default:  // 9xxx (V2 router errors) and undocumented codes
      return std::nullopt;
  }
}

// SirayRow maps a Siray error by its HTTP status; Siray documents no codes
// for 3D (upstream-apis.md §3.3).
Row SirayRow(const UpstreamError& e) {
  using C = absl::StatusCode;
  const std::string text = absl::AsciiStrToLower(e.code_text);
  switch (e.http_status) {
    case 200:  // an envelope whose code is not "success": Siray answered
               // and refused; nothing transient about it
      return {C::kFailedPrecondition, "UPSTREAM_REJECTED"};
    case 402:  // payment required: out of balance, a retry does not help
      return {C::kResourceExhausted, "INSUFFICIENT_CREDITS"};
    case 422:  // a validation error, as 400
      return {C::kInvalidArgument, "INVALID_PARAMETERS"};
    case 429:
      // OpenAI-style aggregators say "out of credits" with a 429 and code
      // insufficient_quota: a retry does not refill it.
      if (absl::StrContains(text, "insufficient") ||
          absl::StrContains(text, "balance")) {
        return {C::kResourceExhausted, "INSUFFICIENT_CREDITS"};
      }
      return {C::kResourceExhausted, "RATE_LIMITED"};
    default:
      break;
  }
  if (e.http_status >= 500 && e.http_status <= 599 && e.http_status != 501) {
    // Any 5xx: Siray is a proxy in front of many backends; transient.
    return {C::kUnavailable, "UPSTREAM_UNAVAILABLE"};
  }
  return HttpRow(e.http_status, e.caller_key);
}

// FieldFromMessage finds the field a message names, as in "Parameter
// 'prompt' must be ...". Empty when it names none.
std::string FieldFromMessage(absl::string_view text) {
  constexpr absl::string_view kMarker = "arameter '";
  const size_t at = text.find(kMarker);
  if (at == absl::string_view::npos) return "";
  const size_t start = at + kMarker.size();
  const size_t end = text.find('\'', start);
  if (end == absl::string_view::npos || end == start) return "";
  return std::string(text.substr(start, end - start));
}

// Build turns a row into the status with its details.
absl::Status Build(const UpstreamError& e, const Row& row,
                   absl::string_view default_provider, bool name_trace_id) {
  std::string message =
      absl::StrCat(e.operation, ": ",
                   row.operator_hint != nullptr ? row.operator_hint
                   : e.message.empty()          ? "upstream error"
                                                : e.message);
  if (row.operator_hint != nullptr && row.code == absl::StatusCode::kInternal &&
      absl::string_view(row.reason) != "UPSTREAM_CREDENTIALS_REJECTED" &&
      !e.message.empty()) {
    absl::StrAppend(&message, " (upstream: ", e.message, ")");
  }
  if (name_trace_id && !e.trace_id.empty()) {
    absl::StrAppend(&message, " (trace id ", e.trace_id, ")");
  }
  absl::Status status(row.code, message);

  google::rpc::ErrorInfo info;
  info.set_reason(row.reason);
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
  md["provider"] =
      e.provider.empty() ? std::string(default_provider) : e.provider;
  if (!e.trace_id.empty()) md["upstreamTraceId"] = e.trace_id;
  AddDetail(status, info);

  const absl::string_view reason = row.reason;
  const std::string& explained =
      !e.suggestion.empty() ? e.suggestion : e.message;
  if (row.code == absl::StatusCode::kUnavailable || reason == "RATE_LIMITED") {
    AddRetryInfo(status, e.retry_after.value_or(kDefaultRetryDelay));
  }
  if (row.code == absl::StatusCode::kResourceExhausted) {
    google::rpc::QuotaFailure quota;
    auto* v = quota.add_violations();
    if (reason == "INSUFFICIENT_CREDITS") {
      v->set_subject("api_credits");
    } else if (default_provider == "tripo" && e.code == 2000) {
      v->set_subject("concurrent_tasks");
    } else {
      v->set_subject("requests");
    }
    v->set_description(explained);
    AddDetail(status, quota);
  }
  if (row.code == absl::StatusCode::kFailedPrecondition) {
    google::rpc::PreconditionFailure pre;
    auto* v = pre.add_violations();
    v->set_type(reason == "TASK_STATE_CONFLICT" ? "TASK_STATE" : "UPSTREAM");
    v->set_subject(e.operation);
    v->set_description(explained);
    AddDetail(status, pre);
  }
  if (row.code == absl::StatusCode::kInvalidArgument) {
    std::string field = FieldFromMessage(e.suggestion);
    if (field.empty()) field = FieldFromMessage(e.message);
    if (field.empty() && row.field != nullptr) field = row.field;
    if (!field.empty()) {
      google::rpc::BadRequest bad;
      auto* v = bad.add_field_violations();
      v->set_field(field);
      v->set_description(explained);
      AddDetail(status, bad);
    }
  }
  return status;
}

}  // namespace

absl::Status AsTripoStatus(const UpstreamError& e) {
  std::optional<Row> row = TripoRow(e.code, e.caller_key);
  // A 401 is an authentication refusal whatever the body says, as in
  // AsStatus.
  if (!row || e.http_status == 401) row = HttpRow(e.http_status, e.caller_key);
  return Build(e, *row, "tripo", /*name_trace_id=*/true);
}

absl::Status AsSirayStatus(const UpstreamError& e) {
  return Build(e, SirayRow(e), "siray", /*name_trace_id=*/false);
}

}  // namespace triverse::errors
