// Upstream errors as values, and the one mapping from an upstream error to
// an absl::Status carrying google.rpc error details.
#ifndef TRIVERSE_SERVER_ERRORS_UPSTREAM_STATUS_H_
#define TRIVERSE_SERVER_ERRORS_UPSTREAM_STATUS_H_

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "google/protobuf/any.pb.h"
#include "google/protobuf/message.h"

namespace triverse::errors {

// kErrorDomain is the ErrorInfo domain of every error the gateway returns.
inline constexpr char kErrorDomain[] = "triverse.ai";

// UpstreamError is a failed upstream call as data, before any mapping.
struct UpstreamError {
  // The RPC or upstream operation, e.g. "GetTask"; named in the message.
  std::string operation;
  long http_status = 0;
  // The Triverse envelope code; 0 when the body carried none.
  int code = 0;
  std::string message;
  std::string suggestion;
  // From the Retry-After header, when present.
  std::optional<absl::Duration> retry_after;
  // True when the API key came from the caller's request metadata
  // (multi-tenant): then a 401/403 is the caller's, not the gateway's.
  bool caller_key = false;
  // The provider's non-numeric error code (Siray's error.code, or its type
  // when it has no code); empty when none. ErrorInfo metadata upstreamCode
  // when `code` is 0.
  std::string code_text;
  // The provider's request trace id (Tripo's X-Tripo-Trace-ID header);
  // ErrorInfo metadata upstreamTraceId when non-empty.
  std::string trace_id;
  // The upstream provider: "tripo", "siray"; empty means Triverse. ErrorInfo
  // metadata provider when non-empty.
  std::string provider;
};

// AsStatus maps an upstream error to the most specific canonical code, with
// an ErrorInfo (reason, domain kErrorDomain, metadata: upstreamCode,
// httpStatus, upstreamMessage, suggestion, operation, and upstreamTraceId
// and provider when set) and, where they apply, RetryInfo,
// QuotaFailure, PreconditionFailure or BadRequest, attached as payloads (see
// AddDetail). The table, with the reason for each row, is in the .cc and the
// README.
absl::Status AsStatus(const UpstreamError& error);

// FieldViolation is one BadRequest entry: a request field path and the rule
// it breaks.
struct FieldViolation {
  std::string field;
  std::string description;
};

// InvalidArgument is the gateway's own validation error: INVALID_ARGUMENT
// with a BadRequest listing every violation and an ErrorInfo with reason
// INVALID_ARGUMENT. The message names the first field and its rule.
absl::Status InvalidArgument(std::vector<FieldViolation> violations);

// kDefaultRetryDelay is the RetryInfo delay of a retryable error whose
// upstream announced none.
inline constexpr absl::Duration kDefaultRetryDelay = absl::Milliseconds(250);

// AddRetryInfo attaches a google.rpc.RetryInfo with `delay`.
void AddRetryInfo(absl::Status& status, absl::Duration delay);

// AddDetail attaches `detail` to `status` as a payload keyed by its type URL
// (type.googleapis.com/<full name>). No effect on an OK status.
void AddDetail(absl::Status& status, const google::protobuf::Message& detail);

// Details returns the details attached with AddDetail, as Any messages.
std::vector<google::protobuf::Any> Details(const absl::Status& status);

}  // namespace triverse::errors

#endif  // TRIVERSE_SERVER_ERRORS_UPSTREAM_STATUS_H_
