#include "server/metrics/metrics.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <exception>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/generic/async_generic_service.h"
#include "grpcpp/server_context.h"
#include "grpcpp/support/interceptor.h"
#include "prometheus/check_names.h"
#include "prometheus/collectable.h"
#include "prometheus/counter.h"
#include "prometheus/exposer.h"
#include "prometheus/family.h"
#include "prometheus/histogram.h"
#include "prometheus/metric_family.h"
#include "prometheus/registry.h"
#include "prometheus/text_serializer.h"

namespace triverse::metrics {
namespace {

using Clock = std::chrono::steady_clock;
using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

// go-grpc-prometheus's buckets (client_golang's DefBuckets).
const prometheus::Histogram::BucketBoundaries& GrpcBuckets() {
  static const auto* const kBuckets =
      new prometheus::Histogram::BucketBoundaries{.005, .01, .025, .05, .1, .25,
                                                  .5,   1,   2.5,  5,   10};
  return *kBuckets;
}

// Upstream calls include uploads and downloads of large files: the same
// buckets, and two more for transfers of minutes.
const prometheus::Histogram::BucketBoundaries& UpstreamBuckets() {
  static const auto* const kBuckets =
      new prometheus::Histogram::BucketBoundaries{
          .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60};
  return *kBuckets;
}

constexpr int kNumCodes = 17;  // OK .. UNAUTHENTICATED

const char* GrpcTypeName(grpc::experimental::ServerRpcInfo::Type type) {
  using Type = grpc::experimental::ServerRpcInfo::Type;
  switch (type) {
    case Type::UNARY:
      return "unary";
    case Type::CLIENT_STREAMING:
      return "client_stream";
    case Type::SERVER_STREAMING:
      return "server_stream";
    case Type::BIDI_STREAMING:
      return "bidi_stream";
  }
  return "unknown";
}

// CallbackCollectable produces the families of the callbacks, at every
// Collect.
class CallbackCollectable : public prometheus::Collectable {
 public:
  using Producer = std::function<std::vector<MetricFamily>()>;

  // Add registers `produce`, whose families are named `names`; false (and
  // nothing added) when one of the names is taken.
  bool Add(std::vector<std::string> names, Producer produce) {
    absl::MutexLock lock(&mu_);
    for (const std::string& name : names) {
      if (names_.contains(name)) return false;
    }
    names_.insert(names.begin(), names.end());
    producers_.push_back(std::move(produce));
    return true;
  }

  std::vector<MetricFamily> Collect() const override {
    absl::MutexLock lock(&mu_);
    std::vector<MetricFamily> out;
    for (const Producer& produce : producers_) {
      std::vector<MetricFamily> families = produce();
      for (MetricFamily& f : families) out.push_back(std::move(f));
    }
    return out;
  }

 private:
  mutable absl::Mutex mu_;
  absl::flat_hash_set<std::string> names_ ABSL_GUARDED_BY(mu_);
  std::vector<Producer> producers_ ABSL_GUARDED_BY(mu_);
};

MetricFamily OneValue(std::string name, std::string help, bool counter,
                      double value) {
  MetricFamily f;
  f.name = std::move(name);
  f.help = std::move(help);
  f.type = counter ? MetricType::Counter : MetricType::Gauge;
  ClientMetric m;
  if (counter) {
    m.counter.value = value;
  } else {
    m.gauge.value = value;
  }
  f.metric.push_back(std::move(m));
  return f;
}

}  // namespace

std::string GoCodeName(int code) {
  static constexpr const char* kNames[kNumCodes] = {"OK",
                                                    "Canceled",
                                                    "Unknown",
                                                    "InvalidArgument",
                                                    "DeadlineExceeded",
                                                    "NotFound",
                                                    "AlreadyExists",
                                                    "PermissionDenied",
                                                    "ResourceExhausted",
                                                    "FailedPrecondition",
                                                    "Aborted",
                                                    "OutOfRange",
                                                    "Unimplemented",
                                                    "Internal",
                                                    "Unavailable",
                                                    "DataLoss",
                                                    "Unauthenticated"};
  if (code < 0 || code >= kNumCodes) return absl::StrCat("Code(", code, ")");
  return kNames[code];
}

// MethodMetrics are one gRPC method's series, made once per method: the
// interceptors of its calls only increment them.
struct MethodMetrics {
  prometheus::Labels labels;  // grpc_type, grpc_service, grpc_method
  prometheus::Counter* started = nullptr;
  prometheus::Counter* received = nullptr;
  prometheus::Counter* sent = nullptr;
  prometheus::Histogram* seconds = nullptr;
  // grpc_server_handled_total by code, made on the code's first use.
  std::array<std::atomic<prometheus::Counter*>, kNumCodes> handled{};
};

// UpstreamEndpoint are one endpoint template's series.
struct UpstreamEndpoint {
  prometheus::Histogram* duration = nullptr;
  prometheus::Counter* retries = nullptr;
  absl::flat_hash_map<std::string, prometheus::Counter*> requests;
};

struct Metrics::Core {
  Core()
      : registry(std::make_shared<prometheus::Registry>()),
        callbacks(std::make_shared<CallbackCollectable>()),
        started(prometheus::BuildCounter()
                    .Name("grpc_server_started_total")
                    .Help("Total number of RPCs started on the server.")
                    .Register(*registry)),
        handled(prometheus::BuildCounter()
                    .Name("grpc_server_handled_total")
                    .Help("Total number of RPCs completed on the server, "
                          "regardless of success or failure.")
                    .Register(*registry)),
        received(prometheus::BuildCounter()
                     .Name("grpc_server_msg_received_total")
                     .Help("Total number of RPC stream messages received on "
                           "the server.")
                     .Register(*registry)),
        sent(prometheus::BuildCounter()
                 .Name("grpc_server_msg_sent_total")
                 .Help("Total number of gRPC stream messages sent by the "
                       "server.")
                 .Register(*registry)),
        handling(prometheus::BuildHistogram()
                     .Name("grpc_server_handling_seconds")
                     .Help("Histogram of response latency (seconds) of gRPC "
                           "that had been application-level handled by the "
                           "server.")
                     .Register(*registry)),
        upstream_requests(
            prometheus::BuildCounter()
                .Name("triverse_upstream_requests_total")
                .Help("Upstream requests that reached the network, by "
                      "endpoint template and HTTP status (or transport error "
                      "code name when no response arrived).")
                .Register(*registry)),
        upstream_duration(
            prometheus::BuildHistogram()
                .Name("triverse_upstream_request_duration_seconds")
                .Help("Upstream request latency (seconds) by endpoint "
                      "template: to the response (a download: to the end of "
                      "its body; a WebSocket: to the upgrade).")
                .Register(*registry)),
        upstream_retries(prometheus::BuildCounter()
                             .Name("triverse_upstream_retries_total")
                             .Help("Upstream retries scheduled by the "
                                   "connection, by endpoint template.")
                             .Register(*registry)) {
    // The registry's names are not for callbacks.
    callbacks->Add(
        {"grpc_server_started_total", "grpc_server_handled_total",
         "grpc_server_msg_received_total", "grpc_server_msg_sent_total",
         "grpc_server_handling_seconds", "triverse_upstream_requests_total",
         "triverse_upstream_request_duration_seconds",
         "triverse_upstream_retries_total"},
        [] { return std::vector<MetricFamily>(); });
  }

  // MethodFor returns the series of the RPC `info` describes, made on the
  // method's first call.
  MethodMetrics* MethodFor(grpc::experimental::ServerRpcInfo* info) {
    // A path the server did not register (served by gRPC's generic
    // "unimplemented" handler) is caller-chosen text: one series for all.
    grpc::ServerContextBase* context = info->server_context();
    const bool generic =
        context != nullptr &&
        (dynamic_cast<grpc::GenericCallbackServerContext*>(context) !=
             nullptr ||
         dynamic_cast<grpc::GenericServerContext*>(context) != nullptr);
    const absl::string_view path = generic || info->method() == nullptr
                                       ? absl::string_view("/unknown/unknown")
                                       : absl::string_view(info->method());
    {
      absl::ReaderMutexLock lock(&methods_mu);
      auto it = methods.find(path);
      if (it != methods.end()) return it->second.get();
    }
    absl::string_view service = "unknown";
    absl::string_view method = "unknown";
    if (!generic) {
      // "/package.Service/Method"
      const absl::string_view p = absl::StripPrefix(path, "/");
      const size_t slash = p.rfind('/');
      if (slash != absl::string_view::npos) {
        service = p.substr(0, slash);
        method = p.substr(slash + 1);
      }
    }
    auto m = std::make_unique<MethodMetrics>();
    m->labels = {
        {"grpc_type", generic ? "bidi_stream" : GrpcTypeName(info->type())},
        {"grpc_service", std::string(service)},
        {"grpc_method", std::string(method)}};
    m->started = &started.Add(m->labels);
    m->received = &received.Add(m->labels);
    m->sent = &sent.Add(m->labels);
    m->seconds = &handling.Add(m->labels, GrpcBuckets());
    absl::MutexLock lock(&methods_mu);
    auto [it, inserted] = methods.try_emplace(std::string(path), std::move(m));
    return it->second.get();
  }

  prometheus::Counter& Handled(MethodMetrics& m, int code) {
    // A code outside the canonical range (never sent by gRPC) is Unknown.
    if (code < 0 || code >= kNumCodes) code = 2;
    const int slot = code;
    prometheus::Counter* c = m.handled[slot].load(std::memory_order_acquire);
    if (c == nullptr) {
      // Family::Add returns the same counter for the same labels: racing
      // first uses store the same pointer.
      prometheus::Labels labels = m.labels;
      labels["grpc_code"] = GoCodeName(code);
      c = &handled.Add(labels);
      m.handled[slot].store(c, std::memory_order_release);
    }
    return *c;
  }

  UpstreamEndpoint& EndpointFor(absl::string_view endpoint)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(upstream_mu) {
    auto it = upstream.find(endpoint);
    if (it != upstream.end()) return *it->second;
    auto e = std::make_unique<UpstreamEndpoint>();
    e->duration = &upstream_duration.Add({{"endpoint", std::string(endpoint)}},
                                         UpstreamBuckets());
    e->retries = &upstream_retries.Add({{"endpoint", std::string(endpoint)}});
    return *upstream.try_emplace(std::string(endpoint), std::move(e))
                .first->second;
  }

  void ObserveUpstream(const upstream::UpstreamExchange& exchange) {
    prometheus::Counter* requests = nullptr;
    prometheus::Histogram* duration = nullptr;
    {
      absl::MutexLock lock(&upstream_mu);
      UpstreamEndpoint& e = EndpointFor(exchange.endpoint);
      duration = e.duration;
      auto it = e.requests.find(exchange.code);
      if (it == e.requests.end()) {
        it = e.requests
                 .try_emplace(std::string(exchange.code),
                              &upstream_requests.Add(
                                  {{"endpoint", std::string(exchange.endpoint)},
                                   {"code", std::string(exchange.code)}}))
                 .first;
      }
      requests = it->second;
    }
    requests->Increment();
    duration->Observe(absl::ToDoubleSeconds(exchange.elapsed));
  }

  void ObserveRetry(absl::string_view endpoint) {
    prometheus::Counter* retries = nullptr;
    {
      absl::MutexLock lock(&upstream_mu);
      retries = EndpointFor(endpoint).retries;
    }
    retries->Increment();
  }

  std::string Scrape() const {
    std::vector<MetricFamily> families = registry->Collect();
    for (MetricFamily& f : callbacks->Collect()) {
      families.push_back(std::move(f));
    }
    return prometheus::TextSerializer().Serialize(families);
  }

  const std::shared_ptr<prometheus::Registry> registry;
  const std::shared_ptr<CallbackCollectable> callbacks;

  prometheus::Family<prometheus::Counter>& started;
  prometheus::Family<prometheus::Counter>& handled;
  prometheus::Family<prometheus::Counter>& received;
  prometheus::Family<prometheus::Counter>& sent;
  prometheus::Family<prometheus::Histogram>& handling;
  prometheus::Family<prometheus::Counter>& upstream_requests;
  prometheus::Family<prometheus::Histogram>& upstream_duration;
  prometheus::Family<prometheus::Counter>& upstream_retries;

  absl::Mutex methods_mu;
  absl::flat_hash_map<std::string, std::unique_ptr<MethodMetrics>> methods
      ABSL_GUARDED_BY(methods_mu);
  absl::Mutex upstream_mu;
  absl::flat_hash_map<std::string, std::unique_ptr<UpstreamEndpoint>> upstream
      ABSL_GUARDED_BY(upstream_mu);
};

namespace {

// ServerMetricsInterceptor counts one RPC: started at creation (when the
// server has matched the call, before the handler runs), every message
// received and sent, and handled (with the status sent and the time since
// the start) at PRE_SEND_STATUS. A call that ends without sending a status
// counts as handled with Canceled.
class ServerMetricsInterceptor : public grpc::experimental::Interceptor {
 public:
  ServerMetricsInterceptor(std::shared_ptr<Metrics::Core> core,
                           MethodMetrics* method)
      : core_(std::move(core)), method_(method), start_(Clock::now()) {
    method_->started->Increment();
  }

  ~ServerMetricsInterceptor() override {
    if (!handled_) Handle(grpc::StatusCode::CANCELLED);
  }

  void Intercept(
      grpc::experimental::InterceptorBatchMethods* methods) override {
    using Hook = grpc::experimental::InterceptionHookPoints;
    if (methods->QueryInterceptionHookPoint(Hook::POST_RECV_MESSAGE) &&
        methods->GetRecvMessage() != nullptr) {
      method_->received->Increment();
    }
    if (methods->QueryInterceptionHookPoint(Hook::PRE_SEND_MESSAGE)) {
      method_->sent->Increment();
    }
    if (methods->QueryInterceptionHookPoint(Hook::PRE_SEND_STATUS) &&
        !handled_) {
      Handle(methods->GetSendStatus().error_code());
    }
    methods->Proceed();
  }

 private:
  void Handle(grpc::StatusCode code) {
    handled_ = true;
    core_->Handled(*method_, static_cast<int>(code)).Increment();
    method_->seconds->Observe(
        std::chrono::duration<double>(Clock::now() - start_).count());
  }

  const std::shared_ptr<Metrics::Core> core_;
  MethodMetrics* const method_;
  const Clock::time_point start_;
  // Only the status batch (one per call) and the destructor (after every
  // batch) touch it; the message hooks may run concurrently with each other
  // and only increment atomic counters.
  bool handled_ = false;
};

class ServerMetricsInterceptorFactory
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit ServerMetricsInterceptorFactory(std::shared_ptr<Metrics::Core> core)
      : core_(std::move(core)) {}

  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    return new ServerMetricsInterceptor(core_, core_->MethodFor(info));
  }

 private:
  const std::shared_ptr<Metrics::Core> core_;
};

// ListeningPorts turns a HOST:PORT into civetweb's listening_ports syntax.
std::string ListeningPorts(const std::string& listen) {
  if (absl::StartsWith(listen, ":")) return listen.substr(1);
  if (absl::StartsWith(listen, "localhost:")) {
    return absl::StrCat("127.0.0.1", listen.substr(9));
  }
  return listen;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Metrics>> Metrics::Create(
    MetricsOptions options) {
  std::unique_ptr<Metrics> m(new Metrics());
  m->core_ = std::make_shared<Core>();
  if (options.listen.empty()) return m;
  try {
    m->exposer_ = std::make_unique<prometheus::Exposer>(
        ListeningPorts(options.listen),
        static_cast<size_t>(std::max(1, options.threads)));
  } catch (const std::exception& e) {
    return absl::UnavailableError(
        absl::StrCat("metrics: cannot listen on ", options.listen,
                     " (address in use, or not a local address?)"));
  }
  const std::vector<int> ports = m->exposer_->GetListeningPorts();
  if (ports.empty() || ports.front() <= 0) {
    return absl::UnavailableError(
        absl::StrCat("metrics: cannot listen on ", options.listen));
  }
  m->port_ = ports.front();
  m->exposer_->RegisterCollectable(m->core_->registry);
  m->exposer_->RegisterCollectable(m->core_->callbacks);
  return m;
}

Metrics::~Metrics() { exposer_.reset(); }

std::string Metrics::Scrape() const { return core_->Scrape(); }

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
Metrics::ServerInterceptorFactory() const {
  return std::make_unique<ServerMetricsInterceptorFactory>(core_);
}

std::function<void(const upstream::UpstreamExchange&)>
Metrics::UpstreamObserver() const {
  return [core = core_](const upstream::UpstreamExchange& exchange) {
    core->ObserveUpstream(exchange);
  };
}

std::function<void(absl::string_view)> Metrics::RetryObserver() const {
  return [core = core_](absl::string_view endpoint) {
    core->ObserveRetry(endpoint);
  };
}

void Metrics::AddWatchHubStats(std::function<upstream::WatchHubStats()> stats) {
  struct Field {
    const char* name;
    const char* help;
    bool counter;
    int64_t upstream::WatchHubStats::*value;
  };
  using S = upstream::WatchHubStats;
  static const Field kFields[] = {
      {"triverse_upstream_websockets_open",
       "Upstream watch WebSockets open now (one per API key being watched).",
       false, &S::sockets_open},
      {"triverse_upstream_websockets_opened_total",
       "Upstream watch WebSockets opened.", true, &S::sockets_opened_total},
      {"triverse_upstream_websocket_failures_total",
       "Upstream watch WebSockets that failed or dropped.", true,
       &S::socket_failures_total},
      {"triverse_upstream_websocket_reconnects_total",
       "Upstream watch WebSocket reconnection attempts.", true,
       &S::reconnects_total},
      {"triverse_upstream_websocket_idle_timeouts_total",
       "Upstream watch WebSockets dropped for being silent too long.", true,
       &S::idle_timeouts_total},
      {"triverse_watch_hubs", "Watch hubs (API keys being watched).", false,
       &S::hubs},
      {"triverse_watch_subscribers",
       "Watch streams subscribed to the hubs now.", false, &S::subscribers},
      {"triverse_watch_polling_fallbacks_active",
       "Watch hubs polling now because their WebSocket keeps failing.", false,
       &S::polling_hubs},
      {"triverse_watch_polling_fallbacks_total",
       "Times a watch hub fell back to polling.", true,
       &S::polling_fallbacks_total},
      {"triverse_watch_frames_total", "Upstream watch records received.", true,
       &S::frames_total},
      {"triverse_watch_bad_frames_total",
       "Upstream watch records that did not parse.", true,
       &S::bad_frames_total},
      {"triverse_watch_events_accepted_total",
       "Task states accepted by the watch hubs (duplicates and stale states "
       "dropped).",
       true, &S::changes_total},
      {"triverse_watch_events_fanned_out_total",
       "Task events delivered to watch streams.", true, &S::deliveries_total},
      {"triverse_watch_gets_total",
       "GetTask calls made by the watch hubs (first states, re-checks, "
       "polling).",
       true, &S::gets_total},
  };
  std::vector<std::string> names;
  for (const Field& f : kFields) names.emplace_back(f.name);
  core_->callbacks->Add(std::move(names), [stats = std::move(stats)] {
    const upstream::WatchHubStats s = stats();
    std::vector<MetricFamily> out;
    for (const Field& f : kFields) {
      out.push_back(OneValue(f.name, f.help, f.counter,
                             static_cast<double>(s.*(f.value))));
    }
    return out;
  });
}

absl::Status Metrics::AddCallbackGauge(std::string name, std::string help,
                                       std::function<double()> value) {
  return AddCallback(std::move(name), std::move(help), false, std::move(value));
}

absl::Status Metrics::AddCallbackCounter(std::string name, std::string help,
                                         std::function<double()> value) {
  return AddCallback(std::move(name), std::move(help), true, std::move(value));
}

absl::Status Metrics::AddCallback(std::string name, std::string help,
                                  bool counter, std::function<double()> value) {
  if (!prometheus::CheckMetricName(name) || value == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics: \"", name, "\" is not a metric name"));
  }
  const std::string family = name;
  if (!core_->callbacks->Add(
          {family}, [name = std::move(name), help = std::move(help), counter,
                     value = std::move(value)] {
            return std::vector<MetricFamily>{
                OneValue(name, help, counter, value())};
          })) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics: \"", family, "\" is taken"));
  }
  return absl::OkStatus();
}

}  // namespace triverse::metrics
