#include "server/gateway/gateway.h"

#include <algorithm>
#include <chrono>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/resource_quota.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/security/tls_certificate_provider.h"
#include "grpcpp/security/tls_credentials_options.h"
#include "grpcpp/server_builder.h"
#include "server/log/log.h"
#include "server/upstream/provider_factory.h"

namespace triverse::gateway {
namespace {

constexpr int kFanoutThreads = 2;

// ReflectionOption turns gRPC's reflection service on or off for one
// server. Linking grpc++_reflection registers its plugin for every server
// of the process (a static initializer), so "off" removes it and "on"
// keeps exactly one.
class ReflectionOption final : public grpc::ServerBuilderOption {
 public:
  explicit ReflectionOption(bool enabled) : enabled_(enabled) {}
  void UpdateArguments(grpc::ChannelArguments* /*args*/) override {}
  void UpdatePlugins(std::vector<std::unique_ptr<grpc::ServerBuilderPlugin>>*
                         plugins) override {
    const std::string name =
        grpc::reflection::ProtoServerReflectionPlugin().name();
    plugins->erase(
        std::remove_if(
            plugins->begin(), plugins->end(),
            [&](const std::unique_ptr<grpc::ServerBuilderPlugin>& p) {
              return p->name() == name;
            }),
        plugins->end());
    if (enabled_) {
      plugins->push_back(
          std::make_unique<grpc::reflection::ProtoServerReflectionPlugin>());
    }
  }

 private:
  const bool enabled_;
};

int Millis(absl::Duration d) {
  return static_cast<int>(std::min<int64_t>(absl::ToInt64Milliseconds(d),
                                            std::numeric_limits<int>::max()));
}

// Credentials: TLS when configured (mutual when a client CA is), the files
// watched for changes; plaintext otherwise.
std::shared_ptr<grpc::ServerCredentials> Credentials(
    const config::TlsConfig& tls, absl::Duration reload_interval) {
  if (!tls.enabled()) return grpc::InsecureServerCredentials();
  const unsigned int refresh = static_cast<unsigned int>(
      std::max<int64_t>(1, absl::ToInt64Seconds(reload_interval)));
  auto provider =
      std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
          tls.key_file, tls.cert_file, tls.client_ca_file, refresh);
  grpc::experimental::TlsServerCredentialsOptions options(provider);
  options.watch_identity_key_cert_pairs();
  if (tls.client_ca_file.empty()) {
    options.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  } else {
    options.watch_root_certs();
    options.set_cert_request_type(
        GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  }
  return grpc::experimental::TlsServerCredentials(options);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Gateway>> Gateway::Start(
    const config::Config& config, const GatewayOptions& options) {
  const int64_t largest_upload =
      std::max(options.max_image_bytes, options.max_model_bytes);
  if (config.limits.max_upload_buffer_bytes < largest_upload) {
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid configuration: max-upload-buffer (",
        config.limits.max_upload_buffer_bytes,
        " bytes) is smaller than the largest upload (", largest_upload,
        " bytes), which it would refuse every time"));
  }
  std::unique_ptr<Gateway> g(new Gateway());
  // Metrics first: the stub, the connection and the gRPC server report to
  // them. Without config.metrics_listen they are counted, not served.
  metrics::MetricsOptions metrics_options;
  metrics_options.listen = config.metrics_listen;
  auto metrics = metrics::Metrics::Create(std::move(metrics_options));
  if (!metrics.ok()) return metrics.status();
  g->metrics_ = *std::move(metrics);
  g->scheduler_ = std::make_unique<upstream::ThreadScheduler>();
  http::CurlEngine::Options engine_options;
  engine_options.max_connections_per_host = config.upstream_max_connections;
  auto engine = http::CurlEngine::Create(std::move(engine_options));
  if (!engine.ok()) return engine.status();
  g->engine_ = *std::move(engine);
  const std::optional<upstream::ProviderKind> provider =
      upstream::ParseProviderKind(config.provider);
  if (!provider.has_value()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid configuration: unknown provider ", config.provider));
  }
  upstream::RestTransport::Options stub_options;
  stub_options.base_url = config.upstream_url;
  stub_options.observer = g->metrics_->UpstreamObserver();
  g->stub_ = upstream::MakeRestProviderStub(*provider, g->engine_.get(),
                                            std::move(stub_options));
  const upstream::ProviderCapabilities& caps = g->stub_->capabilities();
  upstream::TriverseConnectionOptions connection_options;
  connection_options.max_attempts = config.retry.max_attempts;
  connection_options.initial_backoff = config.retry.initial_backoff;
  connection_options.max_backoff = config.retry.max_backoff;
  connection_options.on_retry = g->metrics_->RetryObserver();
  connection_options.unknown_status_grace = options.unknown_status_grace;
  connection_options.unknown_status_poll = options.unknown_status_poll;
  g->connection_ = upstream::MakeTriverseConnection(
      g->stub_, g->scheduler_.get(), std::move(connection_options));
  upstream::WatchHubOptions hub_options;
  hub_options.idle_timeout = config.watch.idle_timeout;
  hub_options.grace = config.watch.grace;
  hub_options.initial_backoff = config.watch.reconnect_backoff;
  hub_options.max_backoff =
      std::max(hub_options.max_backoff, config.watch.reconnect_backoff);
  // The provider's polling shape, from the configured interval if any.
  hub_options.min_poll_interval = caps.min_poll_interval;
  hub_options.max_poll_interval = caps.max_poll_interval;
  if (config.watch.poll_interval > absl::ZeroDuration()) {
    hub_options.min_poll_interval = config.watch.poll_interval;
    hub_options.max_poll_interval =
        config.watch.poll_interval *
        (caps.max_poll_interval / caps.min_poll_interval);
  }
  hub_options.log = [](const std::string& line) {
    log::Log(log::Severity::kInfo, line);
  };
  g->hubs_ = std::make_shared<upstream::WatchHubs>(
      g->stub_, g->connection_, g->scheduler_.get(), std::move(hub_options));
  service::ServiceOptions service_options;
  service_options.provider = *provider;
  service_options.api_key = config.api_key;
  service_options.allow_caller_keys = config.allow_caller_keys;
  service_options.default_deadline = config.default_deadline;
  service_options.watch.max_streams = config.watch.max_streams;
  service_options.watch.max_per_client = config.watch.max_per_client;
  service_options.max_image_bytes = options.max_image_bytes;
  if (*provider == upstream::ProviderKind::kTripo) {
    // Tripo takes images up to 20 MB.
    service_options.max_image_bytes =
        std::min<int64_t>(service_options.max_image_bytes, 20 * 1000 * 1000);
  }
  service_options.max_model_bytes = options.max_model_bytes;
  service_options.max_upload_buffer_bytes =
      config.limits.max_upload_buffer_bytes;
  // Event writes to watch streams run here, not on the libcurl thread.
  g->fanout_ = std::make_unique<service::FanoutPool>(kFanoutThreads);
  service_options.watch.fanout = g->fanout_.get();
  g->service_ = std::make_unique<service::TaskServiceImpl>(
      g->connection_, std::move(service_options), g->hubs_);
  // Read at every scrape. metrics_ is destroyed first (declared last), so
  // no scrape outlives service_; the hubs are shared, held weakly.
  g->metrics_->AddWatchHubStats(
      [hubs = std::weak_ptr<upstream::WatchHubs>(g->hubs_)] {
        const std::shared_ptr<upstream::WatchHubs> h = hubs.lock();
        return h != nullptr ? h->Stats() : upstream::WatchHubStats();
      });
  absl::Status gauge = g->metrics_->AddCallbackGauge(
      "triverse_watch_streams_active", "Open WatchTask and WatchTasks streams.",
      [service = g->service_.get()] {
        return static_cast<double>(service->OpenWatches());
      });
  if (!gauge.ok()) return gauge;
  gauge = g->metrics_->AddCallbackGauge(
      "triverse_upload_buffer_bytes",
      "Bytes UploadFile calls buffer now (at most max-upload-buffer).",
      [service = g->service_.get()] {
        return static_cast<double>(service->UploadBufferBytes());
      });
  if (!gauge.ok()) return gauge;

  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  builder.SetOption(std::make_unique<ReflectionOption>(config.reflection));
  builder.AddListeningPort(config.listen,
                           Credentials(config.tls, options.tls_reload_interval),
                           &g->port_);
  if (!options.extra_listen.empty()) {
    builder.AddListeningPort(
        options.extra_listen,
        Credentials(config.tls, options.tls_reload_interval), &g->extra_port_);
  }
  builder.RegisterService(g->service_.get());
  // grpc_server_* (go-grpc-prometheus names) for every RPC.
  std::vector<
      std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
      interceptors;
  interceptors.push_back(log::CallLogInterceptorFactory());
  interceptors.push_back(g->metrics_->ServerInterceptorFactory());
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  const config::ServerLimits& limits = config.limits;
  // UploadFile chunks may be larger than gRPC's 4 MiB default; a larger
  // message ends its own call with RESOURCE_EXHAUSTED, nothing else.
  builder.SetMaxReceiveMessageSize(static_cast<int>(std::min<int64_t>(
      limits.max_receive_message_bytes, std::numeric_limits<int>::max())));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_MS,
                             Millis(limits.max_connection_age));
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS,
                             Millis(limits.max_connection_age_grace));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS,
                             Millis(limits.keepalive_time));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(
      GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
      Millis(limits.keepalive_min_time));
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 2);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS,
                             limits.max_concurrent_streams);
  if (limits.memory_quota > 0) {
    grpc::ResourceQuota quota("triverse-gateway");
    quota.Resize(static_cast<size_t>(limits.memory_quota));
    builder.SetResourceQuota(quota);
  }
  g->server_ = builder.BuildAndStart();
  if (g->server_ == nullptr || g->port_ == 0 ||
      (!options.extra_listen.empty() && g->extra_port_ == 0)) {
    return absl::UnavailableError(absl::StrCat(
        "cannot listen on ", config.listen,
        options.extra_listen.empty() ? "" : " and ", options.extra_listen,
        " (address in use, not a local address, or unusable TLS "
        "files?)"));
  }
  grpc::HealthCheckServiceInterface* health =
      g->server_->GetHealthCheckService();
  health->SetServingStatus(kLivenessService, true);
  // Readiness: NOT_SERVING until the upstream has answered once.
  Gateway* raw = g.get();
  auto set_ready = [raw, health](bool ready) {
    absl::MutexLock lock(&raw->health_mu_);
    if (raw->shutting_down_) return;
    for (const std::string& service :
         {std::string(kReadinessService), std::string(),
          std::string(v1::TaskService::service_full_name())}) {
      health->SetServingStatus(service, ready);
    }
  };
  set_ready(false);
  UpstreamProbe::Options probe_options;
  probe_options.url = config.upstream_url;
  probe_options.interval = options.probe_interval;
  probe_options.timeout = options.probe_timeout;
  probe_options.on_change = [set_ready](bool reachable,
                                        const absl::Status& why) {
    set_ready(reachable);
    if (reachable) {
      log::Log(log::Severity::kInfo, "upstream reachable: ready");
    } else {
      log::Log(log::Severity::kWarning, "upstream unreachable: not ready",
               {{"error", std::string(why.message())}});
    }
  };
  g->probe_ = UpstreamProbe::Create(g->engine_.get(), g->scheduler_.get(),
                                    std::move(probe_options));
  g->probe_->Start(options.first_probe_wait);
  return g;
}

bool Gateway::ready() const {
  absl::MutexLock lock(&health_mu_);
  return !shutting_down_ && probe_->reachable().value_or(false);
}

Gateway::~Gateway() {
  if (!shut_down_ && server_ != nullptr) Shutdown(absl::ZeroDuration());
}

void Gateway::Shutdown(absl::Duration grace) {
  shut_down_ = true;
  {
    absl::MutexLock lock(&health_mu_);
    shutting_down_ = true;
    // Every service, liveness included: the process stops serving.
    server_->GetHealthCheckService()->SetServingStatus(false);
  }
  if (probe_ != nullptr) probe_->Stop();
  service_->EndWatches();
  server_->Shutdown(absl::ToChronoTime(absl::Now() + grace));
  server_->Wait();
}

}  // namespace triverse::gateway
