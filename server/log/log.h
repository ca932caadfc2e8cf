// Structured logs of the gateway: one JSON object a line on stdout (for
// Kubernetes' log collectors), or `triverse-gateway: message key=value`
// text. Whatever is written is scrubbed first: registered secrets (the API
// key), `token=` query values and `Bearer` credentials never appear.
#ifndef TRIVERSE_SERVER_LOG_LOG_H_
#define TRIVERSE_SERVER_LOG_LOG_H_

#include <memory>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "grpcpp/support/server_interceptor.h"

namespace triverse::log {

enum class Format { kJson, kText };
enum class Severity { kInfo, kWarning, kError };

// Field is one key/value of a line; values are strings (numbers as text).
using Field = std::pair<std::string, std::string>;

// Configure sets where and how lines go (default: text on std::cerr).
// `out` must outlive the logging. Thread-safe.
void Configure(Format format, std::ostream* out);

// AddSecret registers a string that must never be written (an API key):
// it is replaced by "[redacted]" wherever it appears. Empty: ignored.
void AddSecret(const std::string& secret);

// Log writes one line: time (RFC 3339, UTC, microseconds), severity,
// message, then the fields. Thread-safe; lines never interleave.
void Log(Severity severity, absl::string_view message,
         const std::vector<Field>& fields = {});

// Scrub returns `text` without secrets (see above).
std::string Scrub(absl::string_view text);

// Trace context (W3C traceparent) of one gRPC call.
struct Trace {
  std::string trace_id;     // 32 lower-case hex digits
  std::string traceparent;  // what to send upstream: a new span of trace_id
};

// TraceFrom continues the caller's `traceparent` metadata when it is valid
// (version 00, non-zero ids), or starts a new trace.
Trace TraceFrom(absl::string_view traceparent);

// The metadata key the call log interceptor sets on every call, so that
// the service forwards the same trace upstream as the log line names.
inline constexpr char kTraceparentMetadata[] = "traceparent";

// CallLogInterceptorFactory: a server interceptor that gives every call a
// trace (TraceFrom the caller's traceparent, written back into the call's
// metadata for the service to forward upstream) and logs, at its end, each
// call that failed on the server's side (UNKNOWN, INTERNAL, UNAVAILABLE,
// DATA_LOSS, DEADLINE_EXCEEDED) as a WARNING with its method, code,
// message, duration and trace id.
std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
CallLogInterceptorFactory();

}  // namespace triverse::log

#endif  // TRIVERSE_SERVER_LOG_LOG_H_
