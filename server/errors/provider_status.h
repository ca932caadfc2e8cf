// Provider error mappings: a failed Tripo or Siray call (an UpstreamError)
// → absl::Status with google.rpc details, on the same principles and with
// the same ErrorInfo reasons as AsStatus does for Triverse (upstream_status.h)
// wherever the meaning is the same. The tables, with the reason for each
// row, are in the .cc.
//
// Every status carries an ErrorInfo (reason in UPPER_SNAKE_CASE, domain
// kErrorDomain, metadata: httpStatus, operation, provider, and when given
// upstreamCode, upstreamMessage, suggestion, upstreamTraceId) and, where
// they apply: RetryInfo (UNAVAILABLE and rate limits: the Retry-After delay,
// else kDefaultRetryDelay), QuotaFailure (RESOURCE_EXHAUSTED),
// PreconditionFailure (FAILED_PRECONDITION), BadRequest (INVALID_ARGUMENT
// where the request field at fault is known).
#ifndef TRIVERSE_SERVER_ERRORS_PROVIDER_STATUS_H_
#define TRIVERSE_SERVER_ERRORS_PROVIDER_STATUS_H_

#include "absl/status/status.h"
#include "server/errors/upstream_status.h"

namespace triverse::errors {

// AsTripoStatus maps a failed Tripo V2 call: `code` is the envelope code of
// the Tripo error body (upstream-apis.md §2.1), `http_status` the HTTP
// status, `trace_id` the X-Tripo-Trace-ID header. The envelope code decides
// (a 401 always goes by the HTTP status, as in AsStatus); 9xxx router codes
// and unknown codes go by the HTTP status. The message names the operation
// and, when known, the trace id ("GetTask: task not found (trace id ...)"),
// which Tripo asks clients to report. `provider` defaults to "tripo".
absl::Status AsTripoStatus(const UpstreamError& error);

// AsSirayStatus maps a failed Siray call by its HTTP status (Siray documents
// no codes for 3D): the caller fills `message` and `code_text` from
// ParseSirayErrorBody (code_text: the error's code, else its type). An HTTP
// 200 means the envelope's code was not "success": FAILED_PRECONDITION,
// reason UPSTREAM_REJECTED. `provider` defaults to "siray".
absl::Status AsSirayStatus(const UpstreamError& error);

}  // namespace triverse::errors

#endif  // TRIVERSE_SERVER_ERRORS_PROVIDER_STATUS_H_
