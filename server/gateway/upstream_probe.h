// UpstreamProbe: is the upstream reachable? The gateway's readiness.
//
// Every `interval` it sends one GET to the upstream base URL, without a
// key: any HTTP response (a 404 or a 401 included) proves the upstream
// answers; a transport failure or a timeout does not. Each change is
// reported to `on_change` (and the first result, whatever it is).
#ifndef TRIVERSE_SERVER_GATEWAY_UPSTREAM_PROBE_H_
#define TRIVERSE_SERVER_GATEWAY_UPSTREAM_PROBE_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/http/curl_engine.h"
#include "server/upstream/scheduler.h"

namespace triverse::gateway {

// Thread-safety: thread-safe. Owned by a shared_ptr (Create): its timers
// and requests hold weak references, so it may go away at any time.
class UpstreamProbe : public std::enable_shared_from_this<UpstreamProbe> {
 public:
  struct Options {
    std::string url;
    absl::Duration interval = absl::Seconds(10);
    absl::Duration timeout = absl::Seconds(5);
    // Called with the new state and, when unreachable, why (never with a
    // key or a query string: the engine's messages carry neither). Runs on
    // the engine's thread; must not block.
    std::function<void(bool reachable, const absl::Status& why)> on_change;
  };

  // `engine` and `scheduler` must outlive the probe.
  static std::shared_ptr<UpstreamProbe> Create(http::CurlEngine* engine,
                                               upstream::Scheduler* scheduler,
                                               Options options);
  ~UpstreamProbe();

  // Start sends the first probe and waits for its result up to `wait`;
  // then probes every interval until Stop.
  void Start(absl::Duration wait);
  // Stop ends the probing; no on_change call runs after it returns.
  void Stop();

  // The last result; nullopt before the first.
  std::optional<bool> reachable() const;

 private:
  UpstreamProbe(http::CurlEngine* engine, upstream::Scheduler* scheduler,
                Options options);
  void Probe();
  void Done(absl::Status status);

  http::CurlEngine* const engine_;
  upstream::Scheduler* const scheduler_;
  const Options options_;
  mutable absl::Mutex mu_;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  bool in_flight_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t request_ ABSL_GUARDED_BY(mu_) = 0;
  upstream::Scheduler::TimerId timer_ ABSL_GUARDED_BY(mu_) = 0;
  std::optional<bool> reachable_ ABSL_GUARDED_BY(mu_);
  // Serializes on_change calls with Stop.
  absl::Mutex callback_mu_;
};

}  // namespace triverse::gateway

#endif  // TRIVERSE_SERVER_GATEWAY_UPSTREAM_PROBE_H_
