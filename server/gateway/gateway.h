// Gateway: the assembled triverse-gateway, every layer wired together
// (CurlEngine → RestTriverseStub → TriverseConnection → TaskServiceImpl →
// grpc::Server). main.cc runs one; integration tests start one in-process
// on port 0 against the emulator.
#ifndef TRIVERSE_SERVER_GATEWAY_GATEWAY_H_
#define TRIVERSE_SERVER_GATEWAY_GATEWAY_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "server/config/config.h"
#include "server/gateway/upstream_probe.h"
#include "server/http/curl_engine.h"
#include "server/metrics/metrics.h"
#include "server/service/task_service.h"
#include "server/upstream/provider_stub.h"
#include "server/upstream/scheduler.h"
#include "server/upstream/triverse_connection.h"
#include "server/upstream/watch_hub.h"

namespace triverse::gateway {

// The health services' names besides "" and triverse.v1.TaskService (which
// follow readiness): for Kubernetes' gRPC probes.
inline constexpr char kLivenessService[] = "liveness";
inline constexpr char kReadinessService[] = "readiness";

// GatewayOptions are what tests may change beyond the configuration.
struct GatewayOptions {
  // How often the TLS files are checked for changes.
  absl::Duration tls_reload_interval = absl::Seconds(10);
  // Readiness: how often the upstream is probed, and how long Start waits
  // for the first answer.
  absl::Duration probe_interval = absl::Seconds(10);
  absl::Duration probe_timeout = absl::Seconds(5);
  absl::Duration first_probe_wait = absl::Seconds(2);
  // UploadFile's limits: the upstream's documented ones (50 MB images,
  // 200 MB models), enforced while the bytes stream in.
  int64_t max_image_bytes = int64_t{50} * 1000 * 1000;
  int64_t max_model_bytes = int64_t{200} * 1000 * 1000;
  // A second address to serve on besides config.listen (port 0 picks one:
  // see extra_port()); empty: none. Tests serve "[::1]:0" too, so that two
  // loopback clients differ by address (the per-client watch limit).
  std::string extra_listen;
  // A task status the provider calls unknown (Tripo) is read again every
  // unknown_status_poll until unknown_status_grace has passed, then
  // reported FAILED (see TriverseConnectionOptions).
  absl::Duration unknown_status_grace = absl::Seconds(20);
  absl::Duration unknown_status_poll = absl::Seconds(2);
};

// Gateway owns one running gateway.
//
// Health (grpc.health.v1): "liveness" is SERVING while the process serves;
// "readiness", "" and "triverse.v1.TaskService" are SERVING while the
// configuration is loaded (always, once started) and the upstream answers
// (UpstreamProbe), and NOT_SERVING from the start of Shutdown.
//
// Thread-safety: port() may be called from any thread; Shutdown() and the
// destructor from one thread, once the gateway is no longer shared.
class Gateway {
 public:
  // Start builds every layer from `config` and starts serving on
  // config.listen (port 0 picks a free port: see port()). Errors:
  // UNAVAILABLE when the address cannot be bound, and those of
  // CurlEngine::Create; INVALID_ARGUMENT when the upload buffer
  // (config.limits.max_upload_buffer_bytes) is smaller than the largest
  // upload (options.max_image_bytes / max_model_bytes).
  static absl::StatusOr<std::unique_ptr<Gateway>> Start(
      const config::Config& config, const GatewayOptions& options = {});

  // Shuts down with a zero grace period unless Shutdown() ran.
  ~Gateway();

  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

  // The bound TCP port.
  int port() const { return port_; }
  // The bound TCP port of GatewayOptions::extra_listen (0: none).
  int extra_port() const { return extra_port_; }

  // The watch hubs' counters (upstream sockets, fallbacks, deliveries).
  upstream::WatchHubStats WatchStats() const { return hubs_->Stats(); }

  // The upstream answered the last readiness probe.
  bool ready() const;

  // The bound TCP port of /metrics (config.metrics_listen); 0 when not
  // served.
  int metrics_port() const { return metrics_->port(); }

  // Open WatchTask / WatchTasks streams.
  int64_t OpenWatches() const { return service_->OpenWatches(); }
  // Bytes UploadFile calls buffer now (config.limits.max_upload_buffer_bytes
  // is the most they may).
  int64_t UploadBufferBytes() const { return service_->UploadBufferBytes(); }

  // Shutdown, in this order: health turns NOT_SERVING (readiness first, so
  // that load balancers stop sending), watch streams end with UNAVAILABLE
  // and their resume cursor, new calls are refused, calls in flight get up
  // to `grace` to finish, then the rest are cancelled (their upstream
  // transfers with them).
  void Shutdown(absl::Duration grace);

 private:
  Gateway() = default;

  // Declared in dependency order: destroyed from the server down to the
  // scheduler, so that no layer outlives what it uses. The stub outlives
  // the engine: the engine's last callbacks (CANCELLED, as it stops) run
  // into the stub.
  std::unique_ptr<upstream::ThreadScheduler> scheduler_;
  std::shared_ptr<upstream::ProviderStub> stub_;
  std::unique_ptr<http::CurlEngine> engine_;
  std::shared_ptr<upstream::TriverseConnection> connection_;
  std::shared_ptr<upstream::WatchHubs> hubs_;
  std::unique_ptr<service::FanoutPool> fanout_;
  std::unique_ptr<service::TaskServiceImpl> service_;
  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<UpstreamProbe> probe_;
  mutable absl::Mutex health_mu_;
  bool shutting_down_ ABSL_GUARDED_BY(health_mu_) = false;
  int port_ = 0;
  int extra_port_ = 0;
  bool shut_down_ = false;
  // Declared last, destroyed first: /metrics stops serving before anything
  // its scrape callbacks read (the service, the hubs) goes. What the server
  // and the upstream layers hold of it (interceptors, observers) keeps
  // itself alive.
  std::unique_ptr<metrics::Metrics> metrics_;
};

}  // namespace triverse::gateway

#endif  // TRIVERSE_SERVER_GATEWAY_GATEWAY_H_
