// Gateway: the assembled triverse-gateway, every layer wired together
// (CurlEngine → RestTriverseStub → TriverseConnection → TaskServiceImpl →
// grpc::Server). main.cc runs one; integration tests start one in-process
// on port 0 against the emulator.
#ifndef TRIVERSE_SERVER_GATEWAY_GATEWAY_H_
#define TRIVERSE_SERVER_GATEWAY_GATEWAY_H_

#include <memory>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "server/config/config.h"
#include "server/http/curl_engine.h"
#include "server/service/task_service.h"
#include "server/upstream/scheduler.h"
#include "server/upstream/triverse_connection.h"
#include "server/upstream/triverse_stub.h"
#include "server/upstream/watch_hub.h"

namespace triverse::gateway {

// Gateway owns one running gateway.
//
// Thread-safety: port() may be called from any thread; Shutdown() and the
// destructor from one thread, once the gateway is no longer shared.
class Gateway {
 public:
  // Start builds every layer from `config` and starts serving on
  // config.listen (port 0 picks a free port: see port()). Errors:
  // UNAVAILABLE when the address cannot be bound, and those of
  // CurlEngine::Create.
  static absl::StatusOr<std::unique_ptr<Gateway>> Start(
      const config::Config& config);

  // Shuts down with a zero grace period unless Shutdown() ran.
  ~Gateway();

  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

  // The bound TCP port.
  int port() const { return port_; }

  // The watch hubs' counters (upstream sockets, fallbacks, deliveries).
  upstream::WatchHubStats WatchStats() const { return hubs_->Stats(); }

  // Shutdown stops accepting calls, lets calls in flight finish for up to
  // `grace`, then cancels the rest (their upstream transfers with them).
  void Shutdown(absl::Duration grace);

 private:
  Gateway() = default;

  // Declared in dependency order: destroyed from the server down to the
  // scheduler, so that no layer outlives what it uses.
  std::unique_ptr<upstream::ThreadScheduler> scheduler_;
  std::unique_ptr<http::CurlEngine> engine_;
  std::shared_ptr<upstream::TriverseStub> stub_;
  std::shared_ptr<upstream::TriverseConnection> connection_;
  std::shared_ptr<upstream::WatchHubs> hubs_;
  std::unique_ptr<service::FanoutPool> fanout_;
  std::unique_ptr<service::TaskServiceImpl> service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  bool shut_down_ = false;
};

}  // namespace triverse::gateway

#endif  // TRIVERSE_SERVER_GATEWAY_GATEWAY_H_
