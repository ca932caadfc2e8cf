// Fault injection: deterministic from a seed, per route, changeable at run
// time.
#ifndef TRIVERSE_EMULATOR_FAULTS_H_
#define TRIVERSE_EMULATOR_FAULTS_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace triverse::emulator {

// RouteFaults are the faults of one HTTP route. Rates are probabilities in
// [0, 1]; at most one error fault hits a request.
struct RouteFaults {
  absl::Duration latency = absl::ZeroDuration();
  absl::Duration latency_jitter = absl::ZeroDuration();  // uniform extra
  double unavailable_rate = 0;                           // 503 / 5003
  double internal_error_rate = 0;                        // 500 / 5005
  double rate_limit_rate = 0;  // 429 / 2000 with Retry-After
  int retry_after_seconds = 1;
  double truncate_rate = 0;  // headers promise more body than is sent
  double hang_rate = 0;      // no response until the client gives up
};

// WebSocketFaults apply to every watch socket.
struct WebSocketFaults {
  int drop_after_frames = 0;  // > 0: drop the TCP connection after N frames
  bool finalized_without_close = false;  // keep the socket open after it
  bool close_without_finalized = false;  // close instead of `finalized`
  double replay_duplicate_rate = 0;      // `since` catch-up repeats events
  bool trailing_blank_line = false;      // "event: ...\ndata: ...\n\n"
  bool enveloped_data = false;           // data: {"code":0,...,"data":{}}
  // Accept the upgrade, then send nothing at all (no frame, no close, no
  // pong): a socket gone silent.
  bool silent = false;
  // Rate-based variants, so that these faults can hit some sockets while
  // the others work (all faults at once): each new socket is silent with
  // probability silent_rate; after each frame sent, the connection drops
  // (as drop_after_frames) with probability drop_rate.
  double silent_rate = 0;
  double drop_rate = 0;
};

// TaskFaults decide the outcome of new tasks.
struct TaskFaults {
  double failure_rate = 0;
  double cancel_rate = 0;
  double no_assets_rate = 0;  // SUCCESS without downloadable assets
  // GET /tasks/{uuid} inside a task's read-after-write window ignores the
  // read-after-write header with this probability (a lagging replica: 404),
  // as if the header's name were not the one the upstream honours.
  double read_after_write_miss_rate = 0;
};

// TripoFaults apply in the Tripo mode: outcomes of new tasks (besides
// tasks.failure_rate and tasks.cancel_rate) and tolerant-parsing extras.
struct TripoFaults {
  double banned_rate = 0;
  double expired_rate = 0;
  double unknown_rate = 0;  // `unknown` for EngineOptions::unknown_duration
  // GET /task and WebSocket frames add the undocumented top-level `prompt`
  // and `result: {}` keys with this probability.
  double extras_rate = 0;
};

// SirayFaults apply in the Siray mode, per GET of a task.
struct SirayFaults {
  // `progress` is one of "", missing, "abc", " 42 %", "42.5%".
  double odd_progress_rate = 0;
  // SUCCESS → SUCCEEDED|COMPLETED, FAILURE → FAILED|ERROR.
  double alt_status_rate = 0;
};

struct FaultSettings {
  uint64_t seed = 1;
  std::map<std::string, RouteFaults> routes;  // "*" applies to every route
  WebSocketFaults websocket;
  TaskFaults tasks;
  TripoFaults tripo;
  SirayFaults siray;
};

// FaultDecision is what happens to one request.
struct FaultDecision {
  enum class Kind {
    kNone,
    kUnavailable,
    kInternalError,
    kRateLimit,
    kTruncate,
    kHang
  };
  Kind kind = Kind::kNone;
  absl::Duration delay = absl::ZeroDuration();
  int retry_after_seconds = 0;
};

// FaultInjector holds the current settings and draws decisions. The n-th
// request of a route gets the same decision for the same seed, whatever the
// interleaving with other routes. Thread-safe.
class FaultInjector {
 public:
  explicit FaultInjector(FaultSettings settings = {});

  FaultSettings settings() const;
  void Replace(FaultSettings settings);

  // Update merges a JSON document (the format of ToJson) into the settings.
  // `{"reset": true}` first clears every fault. Returns INVALID_ARGUMENT
  // naming the offending key; nothing changes on error.
  absl::Status Update(absl::string_view json);
  std::string ToJson() const;

  // Next draws the decision for the next request of `route`.
  FaultDecision Next(absl::string_view route);

  // Roll returns true with probability `rate`, deterministically for
  // (seed, stream, n).
  bool Roll(absl::string_view stream, uint64_t n, double rate) const;

 private:
  mutable absl::Mutex mu_;
  FaultSettings settings_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, uint64_t, std::less<>> counters_ ABSL_GUARDED_BY(mu_);
};

// ParseFaultSettings parses a complete settings document.
absl::Status ParseFaultSettings(absl::string_view json, FaultSettings* out);

}  // namespace triverse::emulator

#endif  // TRIVERSE_EMULATOR_FAULTS_H_
