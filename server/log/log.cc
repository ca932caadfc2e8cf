#include "server/log/log.h"

#include <cstdio>
#include <iostream>
#include <map>
#include <optional>
#include <string>

#include "absl/random/random.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "grpcpp/support/status.h"
#include "server/errors/grpc_status.h"

namespace triverse::log {
namespace {

constexpr absl::string_view kRedacted = "[redacted]";

struct Sink {
  absl::Mutex mu;
  Format format ABSL_GUARDED_BY(mu) = Format::kText;
  std::ostream* out ABSL_GUARDED_BY(mu) = &std::cerr;
  std::vector<std::string> secrets ABSL_GUARDED_BY(mu);
};

Sink& TheSink() {
  static Sink* sink = new Sink();
  return *sink;
}

absl::string_view SeverityName(Severity s) {
  switch (s) {
    case Severity::kInfo:
      return "INFO";
    case Severity::kWarning:
      return "WARNING";
    case Severity::kError:
      return "ERROR";
  }
  return "INFO";
}

// RedactAfter replaces what follows each `marker` (ASCII, lower case; matched
// case-insensitively) up to a delimiter.
std::string RedactAfter(std::string text, absl::string_view marker,
                        absl::string_view delimiters) {
  // `lower` is `text` in lower case, edited in step with it.
  std::string lower = absl::AsciiStrToLower(text);
  size_t from = 0;
  while (true) {
    const size_t at = lower.find(marker.data(), from, marker.size());
    if (at == std::string::npos) return text;
    const size_t start = at + marker.size();
    size_t end =
        text.find_first_of(delimiters.data(), start, delimiters.size());
    if (end == std::string::npos) end = text.size();
    text.replace(start, end - start, kRedacted.data(), kRedacted.size());
    lower.replace(start, end - start, kRedacted.data(), kRedacted.size());
    from = start + kRedacted.size();
  }
}

std::string ScrubLocked(absl::string_view text, const Sink& sink)
    ABSL_SHARED_LOCKS_REQUIRED(sink.mu) {
  std::string out(text);
  for (const std::string& secret : sink.secrets) {
    out = absl::StrReplaceAll(out, {{secret, kRedacted}});
  }
  out = RedactAfter(std::move(out), "token=", "& \"'\n");
  out = RedactAfter(std::move(out), "bearer ", " \"'\n,;");
  return out;
}

void AppendJsonString(std::string* out, absl::string_view s) {
  out->push_back('"');
  for (const unsigned char c : s) {
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      default:
        if (c < 0x20) {
          absl::StrAppendFormat(out, "\\u%04x", c);
        } else {
          out->push_back(static_cast<char>(c));
        }
    }
  }
  out->push_back('"');
}

bool IsLowerHex(absl::string_view s) {
  for (const char c : s) {
    if (!absl::ascii_isdigit(c) && (c < 'a' || c > 'f')) return false;
  }
  return true;
}

std::string RandomHex(size_t digits) {
  static absl::Mutex mu;
  static absl::BitGen* gen = new absl::BitGen();
  std::string out;
  absl::MutexLock lock(&mu);
  while (out.size() < digits) {
    absl::StrAppendFormat(&out, "%016x", absl::Uniform<uint64_t>(*gen));
  }
  out.resize(digits);
  return out;
}

}  // namespace

void Configure(Format format, std::ostream* out) {
  Sink& sink = TheSink();
  absl::MutexLock lock(&sink.mu);
  sink.format = format;
  sink.out = out;
}

void AddSecret(const std::string& secret) {
  if (secret.empty()) return;
  Sink& sink = TheSink();
  absl::MutexLock lock(&sink.mu);
  sink.secrets.push_back(secret);
}

std::string Scrub(absl::string_view text) {
  Sink& sink = TheSink();
  absl::ReaderMutexLock lock(&sink.mu);
  return ScrubLocked(text, sink);
}

void Log(Severity severity, absl::string_view message,
         const std::vector<Field>& fields) {
  Sink& sink = TheSink();
  const absl::Time now = absl::Now();
  absl::MutexLock lock(&sink.mu);
  std::string line;
  if (sink.format == Format::kJson) {
    line = "{\"time\":";
    AppendJsonString(&line, absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", now,
                                             absl::UTCTimeZone()));
    line += ",\"severity\":";
    AppendJsonString(&line, SeverityName(severity));
    line += ",\"logger\":\"triverse-gateway\",\"message\":";
    AppendJsonString(&line, ScrubLocked(message, sink));
    for (const auto& [key, value] : fields) {
      line += ",";
      AppendJsonString(&line, key);
      line += ":";
      AppendJsonString(&line, ScrubLocked(value, sink));
    }
    line += "}\n";
  } else {
    line = absl::StrCat("triverse-gateway: ",
                        severity == Severity::kInfo
                            ? ""
                            : absl::StrCat(SeverityName(severity), ": "),
                        ScrubLocked(message, sink));
    for (const auto& [key, value] : fields) {
      absl::StrAppend(&line, " ", key, "=", ScrubLocked(value, sink));
    }
    line += "\n";
  }
  *sink.out << line << std::flush;
}

Trace TraceFrom(absl::string_view traceparent) {
  Trace trace;
  // version "-" trace-id (32) "-" parent-id (16) "-" flags (2)
  std::string flags = "01";
  if (traceparent.size() == 55 && traceparent.substr(0, 3) == "00-" &&
      traceparent[35] == '-' && traceparent[52] == '-') {
    const absl::string_view id = traceparent.substr(3, 32);
    const absl::string_view parent = traceparent.substr(36, 16);
    const absl::string_view f = traceparent.substr(53, 2);
    if (IsLowerHex(id) && IsLowerHex(parent) && IsLowerHex(f) &&
        id != std::string(32, '0') && parent != std::string(16, '0')) {
      trace.trace_id = std::string(id);
      flags = std::string(f);
    }
  }
  if (trace.trace_id.empty()) trace.trace_id = RandomHex(32);
  trace.traceparent =
      absl::StrCat("00-", trace.trace_id, "-", RandomHex(16), "-", flags);
  return trace;
}

namespace {

bool IsServerSide(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::UNKNOWN:
    case grpc::StatusCode::INTERNAL:
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DATA_LOSS:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return true;
    default:
      return false;
  }
}

class CallLogInterceptor final : public grpc::experimental::Interceptor {
 public:
  explicit CallLogInterceptor(grpc::experimental::ServerRpcInfo* info)
      : method_(info->method() != nullptr ? info->method() : ""),
        start_(absl::Now()) {}

  void Intercept(
      grpc::experimental::InterceptorBatchMethods* methods) override {
    using grpc::experimental::InterceptionHookPoints;
    if (methods->QueryInterceptionHookPoint(
            InterceptionHookPoints::POST_RECV_INITIAL_METADATA)) {
      std::multimap<grpc::string_ref, grpc::string_ref>* metadata =
          methods->GetRecvInitialMetadata();
      absl::string_view given;
      if (metadata != nullptr) {
        auto it = metadata->find(kTraceparentMetadata);
        if (it != metadata->end()) {
          given = absl::string_view(it->second.data(), it->second.size());
        }
      }
      trace_ = TraceFrom(given);
      if (metadata != nullptr) {
        // What the service forwards upstream: this call's own span. The
        // strings live as long as this interceptor, that is the call.
        metadata->erase(kTraceparentMetadata);
        metadata->emplace(grpc::string_ref(kTraceparentMetadata),
                          grpc::string_ref(trace_.traceparent));
      }
    }
    if (methods->QueryInterceptionHookPoint(
            InterceptionHookPoints::PRE_SEND_STATUS)) {
      const grpc::Status status = methods->GetSendStatus();
      if (IsServerSide(status.error_code())) {
        Log(Severity::kWarning, "call failed",
            {{"method", method_},
             {"code", std::string(errors::StatusCodeName(status.error_code()))},
             {"error", status.error_message()},
             {"duration_ms",
              absl::StrCat(absl::ToInt64Milliseconds(absl::Now() - start_))},
             {"trace_id", trace_.trace_id}});
      }
    }
    methods->Proceed();
  }

 private:
  const std::string method_;
  const absl::Time start_;
  Trace trace_;
};

class CallLogInterceptorFactoryImpl final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    return new CallLogInterceptor(info);
  }
};

}  // namespace

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
CallLogInterceptorFactory() {
  return std::make_unique<CallLogInterceptorFactoryImpl>();
}

}  // namespace triverse::log
