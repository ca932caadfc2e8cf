// Metrics: the gateway's Prometheus metrics, served on their own port.
//
// - gRPC server metrics under the go-grpc-prometheus names, labels and
//   label values (so that its dashboards and alerts work unchanged), from a
//   server interceptor: grpc_server_started_total,
//   grpc_server_handled_total (with grpc_code), grpc_server_msg_received_total,
//   grpc_server_msg_sent_total, grpc_server_handling_seconds.
// - Ours, prefixed triverse_: upstream requests by endpoint template and
//   code with their latency, retries, and what the watch hubs and the
//   service count, read at scrape time.
//
// No label ever holds an API key, a task id or a query string: upstream
// endpoints are route templates ("GET /tasks/{uuid}"), gRPC methods are
// those the server registered (any other path is counted as
// grpc_service="unknown", grpc_method="unknown").
//
// prometheus-cpp does the bookkeeping and the exposition format; its
// Exposer (civetweb) serves GET /metrics.
#ifndef TRIVERSE_SERVER_METRICS_METRICS_H_
#define TRIVERSE_SERVER_METRICS_METRICS_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "grpcpp/support/server_interceptor.h"
#include "server/upstream/triverse_stub.h"
#include "server/upstream/watch_hub.h"

namespace prometheus {
class Exposer;
}  // namespace prometheus

namespace triverse::metrics {

// MetricsOptions configure where the metrics are served.
struct MetricsOptions {
  // "HOST:PORT" to serve GET /metrics on: an IPv4 address
  // ("127.0.0.1:9464", "0.0.0.0:9464"), "[IPv6]:PORT", or ":PORT" for every
  // IPv4 interface. Port 0 picks a free port (see Metrics::port()). Empty:
  // nothing is served (Scrape() still works).
  std::string listen;
  // Threads of the HTTP server (scrapes are rare and quick).
  int threads = 2;
};

// Metrics owns the registry and, when asked to, the /metrics endpoint.
//
// Thread-safety: thread-safe. Everything it hands out (the interceptor
// factory, the observers) keeps what it uses alive and may outlive it.
// Callbacks (AddCallbackGauge, AddWatchHubStats) run during a scrape, on
// the HTTP server's threads, until this object is destroyed (which stops
// the server first): what they read must outlive it, or be held by a
// std::weak_ptr.
class Metrics {
 public:
  // Create builds the metrics and starts serving on options.listen (when
  // not empty). UNAVAILABLE when the address cannot be bound.
  static absl::StatusOr<std::unique_ptr<Metrics>> Create(
      MetricsOptions options);

  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // The bound TCP port of /metrics; 0 when nothing is served.
  int port() const { return port_; }

  // Scrape returns what GET /metrics would return (the text format), minus
  // the HTTP server's own exposer_* metrics.
  std::string Scrape() const;

  // ServerInterceptorFactory counts every RPC of the server it is given to
  // (grpc::ServerBuilder::experimental().SetInterceptorCreators).
  std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
  ServerInterceptorFactory() const;

  // UpstreamObserver is for upstream::RestTriverseStub::Options::observer:
  // triverse_upstream_requests_total{endpoint,code} and
  // triverse_upstream_request_duration_seconds{endpoint}.
  std::function<void(const upstream::UpstreamExchange&)> UpstreamObserver()
      const;

  // RetryObserver is for upstream::TriverseConnectionOptions::on_retry:
  // triverse_upstream_retries_total{endpoint}.
  std::function<void(absl::string_view endpoint)> RetryObserver() const;

  // AddWatchHubStats exposes the watch hubs' counters, read once per scrape
  // from `stats` (e.g. WatchHubs::Stats through a weak_ptr; a callback that
  // has nothing to read may return a default WatchHubStats):
  //   triverse_upstream_websockets_open                 gauge
  //   triverse_upstream_websockets_opened_total         counter
  //   triverse_upstream_websocket_failures_total        counter
  //   triverse_upstream_websocket_reconnects_total      counter
  //   triverse_upstream_websocket_idle_timeouts_total   counter
  //   triverse_watch_hubs                               gauge
  //   triverse_watch_subscribers                        gauge
  //   triverse_watch_polling_fallbacks_active           gauge
  //   triverse_watch_polling_fallbacks_total            counter
  //   triverse_watch_frames_total                       counter
  //   triverse_watch_bad_frames_total                   counter
  //   triverse_watch_events_accepted_total              counter
  //   triverse_watch_events_fanned_out_total            counter
  //   triverse_watch_gets_total                         counter
  // Call it at most once.
  void AddWatchHubStats(std::function<upstream::WatchHubStats()> stats);

  // AddCallbackGauge / AddCallbackCounter expose one unlabelled value read
  // at every scrape (a counter's must never decrease). INVALID_ARGUMENT
  // for a name that is not a valid metric name or is already taken.
  absl::Status AddCallbackGauge(std::string name, std::string help,
                                std::function<double()> value);
  absl::Status AddCallbackCounter(std::string name, std::string help,
                                  std::function<double()> value);

  // Internal: the registry, its metric families and the callbacks.
  struct Core;

 private:
  Metrics() = default;
  absl::Status AddCallback(std::string name, std::string help, bool counter,
                           std::function<double()> value);

  std::shared_ptr<Core> core_;
  // Declared last: destroyed first, so no scrape runs a callback after.
  std::unique_ptr<prometheus::Exposer> exposer_;
  int port_ = 0;
};

// GoCodeName is a gRPC status code as go-grpc-prometheus names it in
// grpc_code (Go's codes.Code.String(): "OK", "Canceled", "InvalidArgument",
// ...); "Code(N)" for a code outside the canonical range.
std::string GoCodeName(int code);

}  // namespace triverse::metrics

#endif  // TRIVERSE_SERVER_METRICS_METRICS_H_
