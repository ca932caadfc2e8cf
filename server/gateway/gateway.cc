#include "server/gateway/gateway.h"

#include <algorithm>
#include <chrono>
#include <iostream>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"

namespace triverse::gateway {
namespace {

constexpr int kMaxReceiveMessageBytes = 16 << 20;
constexpr int kFanoutThreads = 2;

}  // namespace

absl::StatusOr<std::unique_ptr<Gateway>> Gateway::Start(
    const config::Config& config) {
  std::unique_ptr<Gateway> g(new Gateway());
  g->scheduler_ = std::make_unique<upstream::ThreadScheduler>();
  http::CurlEngine::Options engine_options;
  engine_options.max_connections_per_host = config.upstream_max_connections;
  auto engine = http::CurlEngine::Create(std::move(engine_options));
  if (!engine.ok()) return engine.status();
  g->engine_ = *std::move(engine);
  upstream::RestTriverseStub::Options stub_options;
  stub_options.base_url = config.upstream_url;
  g->stub_ = std::make_shared<upstream::RestTriverseStub>(
      g->engine_.get(), std::move(stub_options));
  upstream::TriverseConnectionOptions connection_options;
  connection_options.max_attempts = config.retry.max_attempts;
  connection_options.initial_backoff = config.retry.initial_backoff;
  connection_options.max_backoff = config.retry.max_backoff;
  g->connection_ = upstream::MakeTriverseConnection(
      g->stub_, g->scheduler_.get(), std::move(connection_options));
  upstream::WatchHubOptions hub_options;
  hub_options.idle_timeout = config.watch.idle_timeout;
  hub_options.grace = config.watch.grace;
  hub_options.initial_backoff = config.watch.reconnect_backoff;
  hub_options.max_backoff =
      std::max(hub_options.max_backoff, config.watch.reconnect_backoff);
  hub_options.min_poll_interval = config.watch.poll_interval;
  hub_options.max_poll_interval = 10 * config.watch.poll_interval;
  hub_options.log = [](const std::string& line) {
    std::cerr << "triverse-gateway: " << line << "\n";
  };
  g->hubs_ = std::make_shared<upstream::WatchHubs>(
      g->stub_, g->connection_, g->scheduler_.get(), std::move(hub_options));
  service::ServiceOptions service_options;
  service_options.api_key = config.api_key;
  service_options.allow_caller_keys = config.allow_caller_keys;
  service_options.default_deadline = config.default_deadline;
  service_options.watch.max_streams = config.watch.max_streams;
  service_options.watch.max_per_client = config.watch.max_per_client;
  // Event writes to watch streams run here, not on the libcurl thread.
  g->fanout_ = std::make_unique<service::FanoutPool>(kFanoutThreads);
  service_options.watch.fanout = g->fanout_.get();
  g->service_ = std::make_unique<service::TaskServiceImpl>(
      g->connection_, std::move(service_options), g->hubs_);

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(config.listen, grpc::InsecureServerCredentials(),
                           &g->port_);
  builder.RegisterService(g->service_.get());
  // UploadFile chunks may be larger than gRPC's 4 MiB default.
  builder.SetMaxReceiveMessageSize(kMaxReceiveMessageBytes);
  g->server_ = builder.BuildAndStart();
  if (g->server_ == nullptr || g->port_ == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", config.listen,
                     " (address in use, or not a local address?)"));
  }
  // Health: the server ("") and the service by name, as clients and
  // Kubernetes probes ask for either.
  g->server_->GetHealthCheckService()->SetServingStatus(
      v1::TaskService::service_full_name(), true);
  return g;
}

Gateway::~Gateway() {
  if (!shut_down_ && server_ != nullptr) Shutdown(absl::ZeroDuration());
}

void Gateway::Shutdown(absl::Duration grace) {
  shut_down_ = true;
  server_->GetHealthCheckService()->SetServingStatus(false);
  server_->Shutdown(absl::ToChronoTime(absl::Now() + grace));
  server_->Wait();
}

}  // namespace triverse::gateway
