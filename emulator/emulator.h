// Emulator is a local Triverse API: REST and WebSocket on one port, with the
// task state machine, credits, uploads, assets and fault injection. Tests
// start it in-process on port 0; the `triverse-emulator` binary wraps it.
#ifndef TRIVERSE_EMULATOR_EMULATOR_H_
#define TRIVERSE_EMULATOR_EMULATOR_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "emulator/clock.h"
#include "emulator/faults.h"
#include "emulator/options.h"
#include "emulator/task_store.h"

namespace triverse::emulator {

struct EmulatorOptions {
  Provider provider = Provider::kTriverse;
  TripoOptions tripo;  // provider == kTripo only
  SirayOptions siray;  // provider == kSiray only
  std::string listen_host = "127.0.0.1";
  int port = 0;  // 0: any free port
  int threads = 2;
  EngineOptions engine;
  FaultSettings faults;
  int auth_failure_status = 401;  // 401 or 403 for a missing or bad key
  absl::Duration tick = absl::Milliseconds(20);  // state machine resolution
  // Base of the asset URLs; defaults to http://<listen_host>:<port>.
  std::string public_base_url;
  absl::Duration hang_limit = absl::Minutes(5);  // a "hung" response ends
  // Receives one line per request (never a key). Null: no request log.
  std::function<void(absl::string_view line)> log;
  // Time source; null: the system clock. Not owned; must outlive the
  // emulator.
  const Clock* clock = nullptr;
};

class Emulator {
 public:
  // Start binds, starts the worker threads and returns once the port is
  // open. Errors: INVALID_ARGUMENT for bad options, UNAVAILABLE when the
  // address cannot be bound.
  static absl::StatusOr<std::unique_ptr<Emulator>> Start(
      EmulatorOptions options);
  virtual ~Emulator() = default;

  virtual int port() const = 0;
  // e.g. "http://127.0.0.1:41234"
  virtual std::string base_url() const = 0;
  virtual TaskStore& store() = 0;
  virtual FaultInjector& faults() = 0;
  // Runs the state machine now (tests with a FakeClock call it after
  // advancing the clock).
  virtual void Advance() = 0;
  // The JSON of GET /_emulator/stats.
  virtual std::string StatsJson() const = 0;
  // Stops accepting, closes every connection and joins the threads.
  virtual void Stop() = 0;
};

}  // namespace triverse::emulator

#endif  // TRIVERSE_EMULATOR_EMULATOR_H_
