#include "server/gateway/command_line.h"

#include <algorithm>
#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace triverse::gateway {
namespace {

struct Flag {
  absl::string_view name;
  bool boolean;
  absl::string_view help;
};

constexpr Flag kFlags[] = {
    {"listen", false,
     "HOST:PORT of the gRPC listener (TRIVERSE_LISTEN; default "
     "0.0.0.0:50051; port 0 picks a free one)"},
    {"provider", false,
     "upstream provider behind the contract: triverse, tripo or siray "
     "(TRIVERSE_PROVIDER; default triverse)"},
    {"upstream-url", false,
     "base URL of the provider's REST API (TRIVERSE_UPSTREAM_URL; default "
     "the provider's: https://api.triverse.ai/api/v1, "
     "https://api.tripo3d.ai/v2/openapi, https://api.siray.ai)"},
    {"api-key-file", false,
     "file holding the gateway's API key, e.g. a mounted Secret "
     "(TRIVERSE_API_KEY_FILE; or the key itself in TRIVERSE_API_KEY)"},
    {"allow-caller-keys", true,
     "accept a per-call key in the x-triverse-api-key metadata "
     "(TRIVERSE_ALLOW_CALLER_KEYS; default false)"},
    {"default-deadline", false,
     "deadline of calls that arrive without one (TRIVERSE_DEFAULT_DEADLINE; "
     "default 30s)"},
    {"retry-max-attempts", false,
     "attempts per idempotent upstream call, 1-10 "
     "(TRIVERSE_RETRY_MAX_ATTEMPTS; default 4)"},
    {"retry-initial-backoff", false,
     "first retry backoff (TRIVERSE_RETRY_INITIAL_BACKOFF; default 100ms)"},
    {"retry-max-backoff", false,
     "largest retry backoff (TRIVERSE_RETRY_MAX_BACKOFF; default 5s)"},
    {"upstream-max-connections", false,
     "upstream HTTP connections open at once, 1-1024 "
     "(TRIVERSE_UPSTREAM_MAX_CONNECTIONS; default 64)"},
    {"watch-idle-timeout", false,
     "reopen an upstream watch socket silent this long "
     "(TRIVERSE_WATCH_IDLE_TIMEOUT; default 60s)"},
    {"watch-grace", false,
     "keep a key's watch socket open this long after its last watcher "
     "(TRIVERSE_WATCH_GRACE; default 30s)"},
    {"watch-reconnect-backoff", false,
     "first delay before reopening a watch socket "
     "(TRIVERSE_WATCH_RECONNECT_BACKOFF; default 1s)"},
    {"watch-poll-interval", false,
     "first interval of the polling fallback (TRIVERSE_WATCH_POLL_INTERVAL; "
     "default 1s)"},
    {"max-watch-streams", false,
     "open watch streams at most in the gateway (TRIVERSE_MAX_WATCH_STREAMS; "
     "default 100000)"},
    {"max-watches-per-client", false,
     "open watch streams at most per client address "
     "(TRIVERSE_MAX_WATCHES_PER_CLIENT; default 10000)"},
    {"metrics-listen", false,
     "HOST:PORT of the Prometheus endpoint /metrics, or off "
     "(TRIVERSE_METRICS_LISTEN; default 0.0.0.0:9464)"},
    {"reflection", true,
     "serve gRPC server reflection (TRIVERSE_REFLECTION; default true)"},
    {"tls-cert-file", false,
     "PEM certificate chain: TLS on the gRPC port, with --tls-key-file "
     "(TRIVERSE_TLS_CERT_FILE; re-read when it changes)"},
    {"tls-key-file", false,
     "PEM private key of --tls-cert-file (TRIVERSE_TLS_KEY_FILE)"},
    {"tls-client-ca-file", false,
     "PEM CA bundle: mutual TLS, clients must present a certificate it "
     "signed (TRIVERSE_TLS_CLIENT_CA_FILE)"},
    {"shutdown-grace", false,
     "on SIGTERM, time calls in flight get to finish "
     "(TRIVERSE_SHUTDOWN_GRACE; default 20s)"},
    {"max-connection-age", false,
     "close connections after this age so that streams rebalance "
     "(TRIVERSE_MAX_CONNECTION_AGE; default 30m)"},
    {"max-connection-age-grace", false,
     "time streams get after max-connection-age "
     "(TRIVERSE_MAX_CONNECTION_AGE_GRACE; default 5m)"},
    {"keepalive-time", false,
     "ping idle connections this often (TRIVERSE_KEEPALIVE_TIME; default "
     "1m)"},
    {"keepalive-min-time", false,
     "refuse client pings more frequent than this "
     "(TRIVERSE_KEEPALIVE_MIN_TIME; default 20s)"},
    {"max-concurrent-streams", false,
     "concurrent streams per connection (TRIVERSE_MAX_CONCURRENT_STREAMS; "
     "default 10000)"},
    {"memory-quota", false,
     "memory gRPC may use, bytes or 768Mi/1Gi, 0 for no limit "
     "(TRIVERSE_MEMORY_QUOTA; default 1Gi)"},
    {"max-receive-message-size", false,
     "largest request message accepted, bytes or 4Mi/16Mi, 1Mi-1Gi; a "
     "larger one gets RESOURCE_EXHAUSTED (TRIVERSE_MAX_RECEIVE_MESSAGE_SIZE; "
     "default 16Mi)"},
    {"max-upload-buffer", false,
     "bytes all uploads in progress may buffer together, bytes or 512Mi/2Gi, "
     "200M-1024Gi; a chunk past it gets RESOURCE_EXHAUSTED "
     "(TRIVERSE_MAX_UPLOAD_BUFFER; default 1Gi)"},
    {"log-format", false,
     "logs on stdout: json (one object a line) or text "
     "(TRIVERSE_LOG_FORMAT; default json)"},
    {"config", false,
     "JSON config file with the settings above as snake_case keys "
     "(TRIVERSE_CONFIG)"},
    {"api-key", false, ""},  // refused by LoadConfig, with the reason
};

const Flag* Find(absl::string_view name) {
  for (const Flag& f : kFlags) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

}  // namespace

absl::StatusOr<CommandLine> ParseCommandLine(
    const std::vector<std::string>& args) {
  CommandLine out;
  for (size_t i = 0; i < args.size(); ++i) {
    absl::string_view arg = args[i];
    if (arg == "--help" || arg == "-h") {
      out.help = true;
      continue;
    }
    if (!absl::StartsWith(arg, "--") || arg.size() == 2) {
      return absl::InvalidArgumentError(absl::StrCat(
          "unexpected argument \"", arg, "\": flags are --name=value"));
    }
    arg.remove_prefix(2);
    std::string name(arg.substr(0, arg.find('=')));
    std::replace(name.begin(), name.end(), '_', '-');
    std::optional<std::string> value;
    if (arg.find('=') != absl::string_view::npos) {
      value = std::string(arg.substr(arg.find('=') + 1));
    }
    const Flag* flag = Find(name);
    if (name != "port-file" && flag == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown flag --", name, " (see --help)"));
    }
    if (!value) {
      if (flag != nullptr && flag->boolean) {
        value = "true";
      } else if (i + 1 < args.size() && !absl::StartsWith(args[i + 1], "--")) {
        value = args[++i];
      } else {
        return absl::InvalidArgumentError(
            absl::StrCat("flag --", name, " needs a value"));
      }
    }
    if (name == "port-file") {
      out.port_file = *value;
      continue;
    }
    if (!out.flags.emplace(name, *value).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("flag --", name, " is given twice"));
    }
  }
  return out;
}

std::string Usage() {
  std::string out =
      "Usage: triverse-gateway [--flag=value ...]\n\n"
      "Serves triverse.v1.TaskService over gRPC in front of the Triverse REST "
      "API.\nPrecedence: flags > TRIVERSE_* environment > --config file > "
      "defaults.\nThe API key is never a flag.\n\n";
  for (const Flag& f : kFlags) {
    if (f.help.empty()) continue;
    absl::StrAppend(&out, "  --", f.name, "\n      ", f.help, "\n");
  }
  absl::StrAppend(&out,
                  "  --port-file\n      write the bound port to this file once "
                  "serving\n  --help\n      this text\n");
  return out;
}

}  // namespace triverse::gateway
