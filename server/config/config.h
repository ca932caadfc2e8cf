// The gateway's configuration: plain structs, loaded once at start-up.
//
// Precedence, highest first: command-line flags, TRIVERSE_* environment
// variables, the JSON config file (--config / TRIVERSE_CONFIG), defaults.
// The API key is never read from a flag (flags show up in `ps` and shell
// history): it comes from a file (a mounted Kubernetes Secret:
// --api-key-file / TRIVERSE_API_KEY_FILE / "api_key_file") or from the
// TRIVERSE_API_KEY variable.
#ifndef TRIVERSE_SERVER_CONFIG_CONFIG_H_
#define TRIVERSE_SERVER_CONFIG_CONFIG_H_

#include <cstdint>
#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace triverse::config {

// RetryConfig bounds the upstream retries of idempotent calls.
struct RetryConfig {
  int max_attempts = 4;
  absl::Duration initial_backoff = absl::Milliseconds(100);
  absl::Duration max_backoff = absl::Seconds(5);
};

// WatchConfig are the WatchTask / WatchTasks settings.
struct WatchConfig {
  // An upstream watch socket that carried nothing for this long is
  // reopened (with `since`, so nothing is missed).
  absl::Duration idle_timeout = absl::Seconds(60);
  // The upstream socket of a key stays open this long after its last
  // watcher left.
  absl::Duration grace = absl::Seconds(30);
  // First delay before reopening a dropped upstream socket (then ×1.6 per
  // failure up to 120 s, ±20 %).
  absl::Duration reconnect_backoff = absl::Seconds(1);
  // When the upstream socket cannot be had (or the provider has none), the
  // watched tasks are polled every poll_interval, doubling while nothing
  // changes up to the provider's ratio (Triverse 10×: 1-10 s; Tripo 5×:
  // 2-10 s; Siray 2×: 5-10 s, its docs' advice). Zero: the provider's own
  // interval.
  absl::Duration poll_interval = absl::ZeroDuration();
  // Open watch streams at most: in the whole gateway, and per client
  // address.
  int64_t max_streams = 100000;
  int64_t max_per_client = 10000;
};

// TlsConfig: TLS on the gRPC port when cert_file and key_file are set
// (PEM files, re-read when they change, as a mounted Kubernetes Secret does);
// mutual TLS when client_ca_file is set too: clients must then present a
// certificate signed by one of its CAs.
struct TlsConfig {
  std::string cert_file;
  std::string key_file;
  std::string client_ca_file;
  bool enabled() const { return !cert_file.empty(); }
};

// ServerLimits are the gRPC server's connection settings.
struct ServerLimits {
  // Connections are closed (GOAWAY) after this age, so that long streams
  // rebalance across replicas; streams still open get `max_connection_age
  // _grace` more, then end UNAVAILABLE (watch clients resume).
  absl::Duration max_connection_age = absl::Minutes(30);
  absl::Duration max_connection_age_grace = absl::Minutes(5);
  // The server pings an idle connection this often to find dead peers.
  absl::Duration keepalive_time = absl::Minutes(1);
  // Clients may ping at most this often (also without calls); more often
  // gets GOAWAY too_many_pings.
  absl::Duration keepalive_min_time = absl::Seconds(20);
  // Concurrent streams per HTTP/2 connection.
  int max_concurrent_streams = 10000;
  // Memory gRPC may use for connections and calls (its ResourceQuota), in
  // bytes; 0: no limit.
  int64_t memory_quota = int64_t{1} << 30;
  // The largest request message the server accepts, in bytes (1 MiB to
  // 1 GiB, so that the callers' UploadFile chunks fit: the client library
  // sends 64 KiB); a larger one ends its call with RESOURCE_EXHAUSTED and
  // costs nothing else.
  int64_t max_receive_message_bytes = int64_t{16} << 20;
  // The bytes all UploadFile calls together may buffer (each upload is held
  // whole until it is sent upstream): a chunk past it ends its own upload
  // with RESOURCE_EXHAUSTED (UPLOAD_BUFFER_EXHAUSTED, RetryInfo). From
  // kMinUploadBufferBytes (the largest upload the upstream takes, a 200 MB
  // model: a smaller budget would refuse it every time) to
  // kMaxUploadBufferBytes.
  int64_t max_upload_buffer_bytes = int64_t{1} << 30;
};

inline constexpr int64_t kMinUploadBufferBytes = int64_t{200} * 1000 * 1000;
inline constexpr int64_t kMaxUploadBufferBytes = int64_t{1} << 40;

// Config is every setting of triverse-gateway.
struct Config {
  // host:port of the gRPC listener.
  std::string listen = "0.0.0.0:50051";
  // The upstream provider behind the contract: "triverse", "tripo" or
  // "siray" (lower case).
  std::string provider = "triverse";
  // Base URL of the provider's REST API, without a trailing slash.
  // LoadConfig defaults it to the provider's (DefaultUpstreamUrl); a Config
  // built in code for another provider must set it.
  std::string upstream_url = "https://api.triverse.ai/api/v1";
  // The gateway's own upstream key. Empty only when callers must bring
  // their own (allow_caller_keys).
  std::string api_key;
  // Accept a per-call key in the `x-triverse-api-key` request metadata
  // (multi-tenant use).
  bool allow_caller_keys = false;
  // Deadline of calls that arrive without one.
  absl::Duration default_deadline = absl::Seconds(30);
  RetryConfig retry;
  // Upstream HTTP/1.1 connections open at once (one per request in
  // flight); further requests wait for a free one.
  int upstream_max_connections = 64;
  WatchConfig watch;
  // host:port of the Prometheus metrics endpoint (/metrics); empty: none.
  // (LoadConfig's default is kDefaultMetricsListen; a Config built in code
  // has none.)
  std::string metrics_listen;
  // Serve gRPC server reflection.
  bool reflection = true;
  // Logs on stdout: one JSON object a line, or text.
  bool log_json = true;
  TlsConfig tls;
  ServerLimits limits;
  // On SIGTERM: health turns NOT_SERVING, new calls are refused, calls in
  // flight get this long to finish; watch streams end at once with
  // UNAVAILABLE and their resume cursor.
  absl::Duration shutdown_grace = absl::Seconds(20);
  // Where the settings came from, for the start-up log (never the key).
  std::string config_file;
};

inline constexpr char kDefaultMetricsListen[] = "0.0.0.0:9464";

// DefaultUpstreamUrl is the public API base of `provider` (a
// Config::provider value): https://api.triverse.ai/api/v1,
// https://api.tripo3d.ai/v2/openapi or https://api.siray.ai.
absl::string_view DefaultUpstreamUrl(absl::string_view provider);

// ConfigInputs are the raw sources. `flags` holds only the flags given on
// the command line, by name without dashes (e.g. "upstream-url"); `env`
// holds the process environment.
struct ConfigInputs {
  std::map<std::string, std::string> flags;
  std::map<std::string, std::string> env;
};

// LoadConfig merges the sources by precedence and validates every setting.
// Errors (INVALID_ARGUMENT, or NOT_FOUND for a missing file) name the
// setting, its source and the rule; an API key given as a flag is refused.
absl::StatusOr<Config> LoadConfig(const ConfigInputs& inputs);

}  // namespace triverse::config

#endif  // TRIVERSE_SERVER_CONFIG_CONFIG_H_
