#include "server/config/config.h"

#include <fstream>
#include <optional>
#include <sstream>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "rapidjson/document.h"

namespace triverse::config {
namespace {

// Setting names one configurable value in its three spellings.
struct Setting {
  const char* flag;  // --flag
  const char* env;   // environment variable
  const char* key;   // config file key
};

constexpr Setting kListen{"listen", "TRIVERSE_LISTEN", "listen"};
constexpr Setting kProvider{"provider", "TRIVERSE_PROVIDER", "provider"};
constexpr Setting kUpstreamUrl{"upstream-url", "TRIVERSE_UPSTREAM_URL",
                               "upstream_url"};
constexpr Setting kApiKeyFile{"api-key-file", "TRIVERSE_API_KEY_FILE",
                              "api_key_file"};
constexpr Setting kAllowCallerKeys{
    "allow-caller-keys", "TRIVERSE_ALLOW_CALLER_KEYS", "allow_caller_keys"};
constexpr Setting kDefaultDeadline{
    "default-deadline", "TRIVERSE_DEFAULT_DEADLINE", "default_deadline"};
constexpr Setting kMaxAttempts{
    "retry-max-attempts", "TRIVERSE_RETRY_MAX_ATTEMPTS", "retry_max_attempts"};
constexpr Setting kInitialBackoff{"retry-initial-backoff",
                                  "TRIVERSE_RETRY_INITIAL_BACKOFF",
                                  "retry_initial_backoff"};
constexpr Setting kMaxBackoff{"retry-max-backoff", "TRIVERSE_RETRY_MAX_BACKOFF",
                              "retry_max_backoff"};
constexpr Setting kMaxConnections{"upstream-max-connections",
                                  "TRIVERSE_UPSTREAM_MAX_CONNECTIONS",
                                  "upstream_max_connections"};
constexpr Setting kWatchIdleTimeout{
    "watch-idle-timeout", "TRIVERSE_WATCH_IDLE_TIMEOUT", "watch_idle_timeout"};
constexpr Setting kWatchGrace{"watch-grace", "TRIVERSE_WATCH_GRACE",
                              "watch_grace"};
constexpr Setting kWatchReconnectBackoff{"watch-reconnect-backoff",
                                         "TRIVERSE_WATCH_RECONNECT_BACKOFF",
                                         "watch_reconnect_backoff"};
constexpr Setting kWatchPollInterval{"watch-poll-interval",
                                     "TRIVERSE_WATCH_POLL_INTERVAL",
                                     "watch_poll_interval"};
constexpr Setting kMaxWatchStreams{
    "max-watch-streams", "TRIVERSE_MAX_WATCH_STREAMS", "max_watch_streams"};
constexpr Setting kMaxWatchesPerClient{"max-watches-per-client",
                                       "TRIVERSE_MAX_WATCHES_PER_CLIENT",
                                       "max_watches_per_client"};
constexpr Setting kMetricsListen{"metrics-listen", "TRIVERSE_METRICS_LISTEN",
                                 "metrics_listen"};
constexpr Setting kReflection{"reflection", "TRIVERSE_REFLECTION",
                              "reflection"};
constexpr Setting kTlsCertFile{"tls-cert-file", "TRIVERSE_TLS_CERT_FILE",
                               "tls_cert_file"};
constexpr Setting kTlsKeyFile{"tls-key-file", "TRIVERSE_TLS_KEY_FILE",
                              "tls_key_file"};
constexpr Setting kTlsClientCaFile{
    "tls-client-ca-file", "TRIVERSE_TLS_CLIENT_CA_FILE", "tls_client_ca_file"};
constexpr Setting kShutdownGrace{"shutdown-grace", "TRIVERSE_SHUTDOWN_GRACE",
                                 "shutdown_grace"};
constexpr Setting kMaxConnectionAge{
    "max-connection-age", "TRIVERSE_MAX_CONNECTION_AGE", "max_connection_age"};
constexpr Setting kMaxConnectionAgeGrace{"max-connection-age-grace",
                                         "TRIVERSE_MAX_CONNECTION_AGE_GRACE",
                                         "max_connection_age_grace"};
constexpr Setting kKeepaliveTime{"keepalive-time", "TRIVERSE_KEEPALIVE_TIME",
                                 "keepalive_time"};
constexpr Setting kKeepaliveMinTime{
    "keepalive-min-time", "TRIVERSE_KEEPALIVE_MIN_TIME", "keepalive_min_time"};
constexpr Setting kMaxConcurrentStreams{"max-concurrent-streams",
                                        "TRIVERSE_MAX_CONCURRENT_STREAMS",
                                        "max_concurrent_streams"};
constexpr Setting kMemoryQuota{"memory-quota", "TRIVERSE_MEMORY_QUOTA",
                               "memory_quota"};
constexpr Setting kMaxReceiveMessageSize{"max-receive-message-size",
                                         "TRIVERSE_MAX_RECEIVE_MESSAGE_SIZE",
                                         "max_receive_message_size"};
constexpr Setting kMaxUploadBuffer{
    "max-upload-buffer", "TRIVERSE_MAX_UPLOAD_BUFFER", "max_upload_buffer"};
constexpr Setting kLogFormat{"log-format", "TRIVERSE_LOG_FORMAT", "log_format"};
constexpr Setting kConfig{"config", "TRIVERSE_CONFIG", ""};

constexpr Setting kAllSettings[] = {kListen,
                                    kProvider,
                                    kUpstreamUrl,
                                    kApiKeyFile,
                                    kAllowCallerKeys,
                                    kDefaultDeadline,
                                    kMaxAttempts,
                                    kInitialBackoff,
                                    kMaxBackoff,
                                    kMaxConnections,
                                    kWatchIdleTimeout,
                                    kWatchGrace,
                                    kWatchReconnectBackoff,
                                    kWatchPollInterval,
                                    kMaxWatchStreams,
                                    kMaxWatchesPerClient,
                                    kMetricsListen,
                                    kReflection,
                                    kTlsCertFile,
                                    kTlsKeyFile,
                                    kTlsClientCaFile,
                                    kShutdownGrace,
                                    kMaxConnectionAge,
                                    kMaxConnectionAgeGrace,
                                    kKeepaliveTime,
                                    kKeepaliveMinTime,
                                    kMaxConcurrentStreams,
                                    kMemoryQuota,
                                    kMaxReceiveMessageSize,
                                    kMaxUploadBuffer,
                                    kLogFormat};

// Value is a resolved setting with a description of where it came from.
struct Value {
  std::string text;
  std::string source;  // e.g. "--listen", "TRIVERSE_LISTEN", "config file"
};

class Resolver {
 public:
  Resolver(const ConfigInputs& inputs, std::map<std::string, std::string> file,
           std::string file_name)
      : inputs_(inputs), file_(std::move(file)), file_name_(file_name) {}

  std::optional<Value> Get(const Setting& s) const {
    if (auto it = inputs_.flags.find(s.flag); it != inputs_.flags.end()) {
      return Value{it->second, absl::StrCat("--", s.flag)};
    }
    if (auto it = inputs_.env.find(s.env); it != inputs_.env.end()) {
      return Value{it->second, s.env};
    }
    if (auto it = file_.find(s.key); it != file_.end()) {
      return Value{it->second, absl::StrCat("\"", s.key, "\" in ", file_name_)};
    }
    return std::nullopt;
  }

 private:
  const ConfigInputs& inputs_;
  std::map<std::string, std::string> file_;
  std::string file_name_;
};

absl::Status Invalid(const Value& v, absl::string_view rule) {
  return absl::InvalidArgumentError(absl::StrCat(
      "invalid configuration: ", v.source, " ", rule, " (got \"",
      v.text.size() > 64 ? v.text.substr(0, 64) + "..." : v.text, "\")"));
}

absl::StatusOr<std::string> ReadFile(const std::string& path,
                                     const std::string& setting) {
  std::ifstream in(path);
  if (!in) {
    return absl::NotFoundError(absl::StrCat("invalid configuration: ", setting,
                                            ": cannot read file ", path));
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// ParseFile reads the JSON config file into key → text.
absl::StatusOr<std::map<std::string, std::string>> ParseFile(
    const std::string& path, const std::string& source) {
  auto text = ReadFile(path, source);
  if (!text.ok()) return text.status();
  rapidjson::Document doc;
  doc.Parse(text->c_str(), text->size());
  if (doc.HasParseError() || !doc.IsObject()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid configuration: ", path, " must be a JSON object"));
  }
  std::map<std::string, std::string> out;
  for (const auto& m : doc.GetObject()) {
    const std::string key = m.name.GetString();
    if (key == "api_key") {
      return absl::InvalidArgumentError(absl::StrCat(
          "invalid configuration: \"api_key\" in ", path,
          ": the API key is never read from the config file; use "
          "\"api_key_file\" (a mounted Secret) or TRIVERSE_API_KEY"));
    }
    bool known = false;
    for (const Setting& s : kAllSettings) known = known || key == s.key;
    if (!known) {
      return absl::InvalidArgumentError(absl::StrCat(
          "invalid configuration: unknown setting \"", key, "\" in ", path));
    }
    const rapidjson::Value& v = m.value;
    if (v.IsString()) {
      out[key] = v.GetString();
    } else if (v.IsBool()) {
      out[key] = v.GetBool() ? "true" : "false";
    } else if (v.IsInt64()) {
      out[key] = absl::StrCat(v.GetInt64());
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid configuration: \"", key, "\" in ", path,
                       " must be a string, a boolean or an integer"));
    }
  }
  return out;
}

absl::Status ParseDuration(const std::optional<Value>& v, absl::Duration* out) {
  if (!v) return absl::OkStatus();
  absl::Duration d;
  if (!absl::ParseDuration(v->text, &d) || d <= absl::ZeroDuration()) {
    return Invalid(*v, "must be a positive duration such as 250ms or 30s");
  }
  *out = d;
  return absl::OkStatus();
}

absl::Status ParseBool(const std::optional<Value>& v, bool* out) {
  if (!v) return absl::OkStatus();
  const std::string b = absl::AsciiStrToLower(v->text);
  if (b == "true" || b == "1" || b == "yes") {
    *out = true;
  } else if (b == "false" || b == "0" || b == "no") {
    *out = false;
  } else {
    return Invalid(*v, "must be true or false");
  }
  return absl::OkStatus();
}

bool IsHostPort(const std::string& text) {
  const size_t colon = text.rfind(':');
  int port = -1;
  return colon != std::string::npos && colon != 0 &&
         absl::SimpleAtoi(text.substr(colon + 1), &port) && port >= 0 &&
         port <= 65535;
}

// ParseBytes reads "805306368", "768Mi", "1Gi", "512M" or "2G" (Kubernetes
// quantity suffixes).
absl::Status ParseBytes(const std::optional<Value>& v, int64_t* out) {
  if (!v) return absl::OkStatus();
  struct Suffix {
    absl::string_view text;
    int64_t factor;
  };
  constexpr Suffix kSuffixes[] = {
      {"Ki", int64_t{1} << 10}, {"Mi", int64_t{1} << 20},
      {"Gi", int64_t{1} << 30}, {"K", 1000},
      {"M", 1000 * 1000},       {"G", 1000 * 1000 * 1000}};
  absl::string_view text = v->text;
  int64_t factor = 1;
  for (const Suffix& s : kSuffixes) {
    if (absl::ConsumeSuffix(&text, s.text)) {
      factor = s.factor;
      break;
    }
  }
  int64_t n = 0;
  if (!absl::SimpleAtoi(text, &n) || n < 0 || n > (int64_t{1} << 50) / factor) {
    return Invalid(*v,
                   "must be a number of bytes, optionally with a suffix Ki, "
                   "Mi, Gi, K, M or G (0: no limit)");
  }
  *out = n * factor;
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Config> LoadConfig(const ConfigInputs& inputs) {
  if (inputs.flags.count("api-key") != 0) {
    return absl::InvalidArgumentError(
        "invalid configuration: --api-key: the API key is never taken from a "
        "flag; use --api-key-file (a mounted Secret) or TRIVERSE_API_KEY");
  }
  Config config;
  std::map<std::string, std::string> file;
  const Resolver bootstrap(inputs, {}, "");
  if (std::optional<Value> path = bootstrap.Get(kConfig)) {
    auto parsed = ParseFile(path->text, path->source);
    if (!parsed.ok()) return parsed.status();
    file = *std::move(parsed);
    config.config_file = path->text;
  }
  const Resolver r(inputs, std::move(file), config.config_file);

  if (auto v = r.Get(kListen)) {
    if (!IsHostPort(v->text)) {
      return Invalid(*v, "must be HOST:PORT with a port in 0-65535");
    }
    config.listen = v->text;
  }
  config.metrics_listen = kDefaultMetricsListen;
  if (auto v = r.Get(kMetricsListen)) {
    if (v->text.empty() || v->text == "off") {
      config.metrics_listen.clear();
    } else if (!IsHostPort(v->text)) {
      return Invalid(*v,
                     "must be HOST:PORT with a port in 0-65535, or off (or "
                     "empty) for no metrics endpoint");
    } else {
      config.metrics_listen = v->text;
    }
  }
  if (absl::Status s = ParseBool(r.Get(kReflection), &config.reflection);
      !s.ok()) {
    return s;
  }
  if (auto v = r.Get(kLogFormat)) {
    if (v->text != "json" && v->text != "text") {
      return Invalid(*v, "must be json or text");
    }
    config.log_json = v->text == "json";
  }
  for (auto [setting, out] :
       {std::pair{&kTlsCertFile, &config.tls.cert_file},
        std::pair{&kTlsKeyFile, &config.tls.key_file},
        std::pair{&kTlsClientCaFile, &config.tls.client_ca_file}}) {
    if (auto v = r.Get(*setting); v && !v->text.empty()) {
      // Readable now; re-read while serving, as the files change.
      if (auto text = ReadFile(v->text, v->source); !text.ok()) {
        return text.status();
      }
      *out = v->text;
    }
  }
  if (config.tls.cert_file.empty() != config.tls.key_file.empty()) {
    return absl::InvalidArgumentError(
        "invalid configuration: tls-cert-file and tls-key-file go together: "
        "set both (TLS) or neither (plaintext)");
  }
  if (!config.tls.client_ca_file.empty() && !config.tls.enabled()) {
    return absl::InvalidArgumentError(
        "invalid configuration: tls-client-ca-file (mutual TLS) needs "
        "tls-cert-file and tls-key-file");
  }
  if (absl::Status s =
          ParseDuration(r.Get(kShutdownGrace), &config.shutdown_grace);
      !s.ok()) {
    return s;
  }
  for (auto [setting, out] :
       {std::pair{&kMaxConnectionAge, &config.limits.max_connection_age},
        std::pair{&kMaxConnectionAgeGrace,
                  &config.limits.max_connection_age_grace},
        std::pair{&kKeepaliveTime, &config.limits.keepalive_time},
        std::pair{&kKeepaliveMinTime, &config.limits.keepalive_min_time}}) {
    if (absl::Status s = ParseDuration(r.Get(*setting), out); !s.ok()) {
      return s;
    }
  }
  if (auto v = r.Get(kMaxConcurrentStreams)) {
    if (!absl::SimpleAtoi(v->text, &config.limits.max_concurrent_streams) ||
        config.limits.max_concurrent_streams < 1 ||
        config.limits.max_concurrent_streams > 1000000) {
      return Invalid(*v, "must be an integer in 1-1000000");
    }
  }
  if (absl::Status s =
          ParseBytes(r.Get(kMemoryQuota), &config.limits.memory_quota);
      !s.ok()) {
    return s;
  }
  if (auto v = r.Get(kMaxReceiveMessageSize)) {
    if (absl::Status s =
            ParseBytes(v, &config.limits.max_receive_message_bytes);
        !s.ok()) {
      return s;
    }
    if (config.limits.max_receive_message_bytes < (int64_t{1} << 20) ||
        config.limits.max_receive_message_bytes > (int64_t{1} << 30)) {
      return Invalid(*v, "must be 1Mi-1Gi bytes");
    }
  }
  if (auto v = r.Get(kMaxUploadBuffer)) {
    if (absl::Status s = ParseBytes(v, &config.limits.max_upload_buffer_bytes);
        !s.ok()) {
      return s;
    }
    if (config.limits.max_upload_buffer_bytes < kMinUploadBufferBytes ||
        config.limits.max_upload_buffer_bytes > kMaxUploadBufferBytes) {
      return Invalid(*v,
                     "must be 200M-1024Gi bytes: at least the largest upload "
                     "(a 200 MB model), which a smaller buffer would refuse "
                     "every time");
    }
  }
  if (auto v = r.Get(kProvider)) {
    const std::string name = absl::AsciiStrToLower(v->text);
    if (name != "triverse" && name != "tripo" && name != "siray") {
      return Invalid(*v, "must be one of: triverse, tripo, siray");
    }
    config.provider = name;
    config.upstream_url = std::string(DefaultUpstreamUrl(name));
  }
  if (auto v = r.Get(kUpstreamUrl)) {
    if (!absl::StartsWith(v->text, "http://") &&
        !absl::StartsWith(v->text, "https://")) {
      return Invalid(*v, "must be an http:// or https:// URL");
    }
    if (absl::StrContains(v->text, "?") || absl::StrContains(v->text, "#")) {
      return Invalid(*v, "must not have a query or a fragment");
    }
    config.upstream_url = std::string(absl::StripSuffix(v->text, "/"));
  }
  if (absl::Status s =
          ParseBool(r.Get(kAllowCallerKeys), &config.allow_caller_keys);
      !s.ok()) {
    return s;
  }
  if (absl::Status s =
          ParseDuration(r.Get(kDefaultDeadline), &config.default_deadline);
      !s.ok()) {
    return s;
  }
  if (auto v = r.Get(kMaxConnections)) {
    if (!absl::SimpleAtoi(v->text, &config.upstream_max_connections) ||
        config.upstream_max_connections < 1 ||
        config.upstream_max_connections > 1024) {
      return Invalid(*v, "must be an integer in 1-1024");
    }
  }
  if (absl::Status s =
          ParseDuration(r.Get(kWatchIdleTimeout), &config.watch.idle_timeout);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = ParseDuration(r.Get(kWatchGrace), &config.watch.grace);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = ParseDuration(r.Get(kWatchReconnectBackoff),
                                     &config.watch.reconnect_backoff);
      !s.ok()) {
    return s;
  }
  if (absl::Status s =
          ParseDuration(r.Get(kWatchPollInterval), &config.watch.poll_interval);
      !s.ok()) {
    return s;
  }
  if (auto v = r.Get(kMaxWatchStreams)) {
    if (!absl::SimpleAtoi(v->text, &config.watch.max_streams) ||
        config.watch.max_streams < 1 || config.watch.max_streams > 10000000) {
      return Invalid(*v, "must be an integer in 1-10000000");
    }
  }
  if (auto v = r.Get(kMaxWatchesPerClient)) {
    if (!absl::SimpleAtoi(v->text, &config.watch.max_per_client) ||
        config.watch.max_per_client < 1 ||
        config.watch.max_per_client > 10000000) {
      return Invalid(*v, "must be an integer in 1-10000000");
    }
  }
  if (auto v = r.Get(kMaxAttempts)) {
    if (!absl::SimpleAtoi(v->text, &config.retry.max_attempts) ||
        config.retry.max_attempts < 1 || config.retry.max_attempts > 10) {
      return Invalid(*v, "must be an integer in 1-10");
    }
  }
  if (absl::Status s =
          ParseDuration(r.Get(kInitialBackoff), &config.retry.initial_backoff);
      !s.ok()) {
    return s;
  }
  if (absl::Status s =
          ParseDuration(r.Get(kMaxBackoff), &config.retry.max_backoff);
      !s.ok()) {
    return s;
  }
  if (config.retry.initial_backoff > config.retry.max_backoff) {
    return absl::InvalidArgumentError(
        "invalid configuration: retry-initial-backoff must not exceed "
        "retry-max-backoff");
  }

  if (auto v = r.Get(kApiKeyFile)) {
    auto key = ReadFile(v->text, v->source);
    if (!key.ok()) return key.status();
    config.api_key = std::string(absl::StripAsciiWhitespace(*key));
    if (config.api_key.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("invalid configuration: ", v->source, ": the key file ",
                       v->text, " is empty"));
    }
  } else if (auto it = inputs.env.find("TRIVERSE_API_KEY");
             it != inputs.env.end()) {
    config.api_key = std::string(absl::StripAsciiWhitespace(it->second));
    if (config.api_key.empty()) {
      return absl::InvalidArgumentError(
          "invalid configuration: TRIVERSE_API_KEY is set but empty");
    }
  }
  if (config.api_key.empty() && !config.allow_caller_keys) {
    return absl::InvalidArgumentError(
        "invalid configuration: no API key: set --api-key-file, "
        "TRIVERSE_API_KEY_FILE or TRIVERSE_API_KEY (or allow-caller-keys)");
  }
  if (config.provider == "tripo" && !config.api_key.empty() &&
      !absl::StartsWith(config.api_key, "tsk_")) {
    // Tripo's keys all start so (its SDK refuses others before sending).
    return absl::InvalidArgumentError(
        "invalid configuration: the tripo provider's API keys start with "
        "tsk_; the configured key does not");
  }
  return config;
}

absl::string_view DefaultUpstreamUrl(absl::string_view provider) {
  if (provider == "tripo") return "https://api.tripo3d.ai/v2/openapi";
  if (provider == "siray") return "https://api.siray.ai";
  return "https://api.triverse.ai/api/v1";
}

}  // namespace triverse::config
