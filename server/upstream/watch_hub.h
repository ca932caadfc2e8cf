// WatchHubs: one upstream `watch/all` WebSocket per API key, fanned out to
// every watch stream of that key (engineering guide §3, after
// kube-apiserver's cacher).
//
// Per key, a hub keeps the latest state of every task it has seen (a cache
// ordered by the sequence number of each accepted change) and the
// subscribers: per-task ones (WatchTask) and all-task ones (WatchTasks).
// - The socket opens on the first subscriber and closes `grace` after the
//   last one leaves.
// - A per-task subscriber first gets the cached state, or the result of one
//   GET shared by every subscriber of that task, then every change.
// - Upstream events are idempotent: a state equal to the cached one, older
//   than it (lower status rank or progress), or after a terminal state is
//   dropped, so a `since` replay or a repeated `finalized` reaches nobody
//   twice.
// - A dropped or failed socket is reopened with jittered exponential
//   backoff and `since` = the last upstream activity minus an overlap; a
//   socket silent for `idle_timeout` is treated as dropped. After a reopen,
//   every watched task not yet terminal is checked again with a GET.
// - When the socket fails `failures_before_polling` times in a row, the hub
//   also polls the watched tasks (adaptive interval) until a socket opens
//   again, and says so in a log line and in the stats.
#ifndef TRIVERSE_SERVER_UPSTREAM_WATCH_HUB_H_
#define TRIVERSE_SERVER_UPSTREAM_WATCH_HUB_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/base/call_once.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/upstream/provider_stub.h"
#include "server/upstream/scheduler.h"
#include "server/upstream/triverse_connection.h"
#include "triverse/v1/task.pb.h"

namespace triverse::upstream {

// EventMemo lets the subscribers of one event share a form of it that each
// would otherwise make for itself (the service keeps the event's serialized
// message there): made by the first caller of Get, returned to every later
// one. One memo holds one value of one type. Thread-safe.
class EventMemo {
 public:
  template <typename T, typename Make>
  const T& Get(Make make) {
    absl::call_once(once_, [&] { value_ = std::make_shared<const T>(make()); });
    return *static_cast<const T*>(value_.get());
  }

 private:
  absl::once_flag once_;
  std::shared_ptr<const void> value_;
};

// HubEvent is one accepted state of one task. Shared, immutable.
struct HubEvent {
  std::shared_ptr<const v1::Task> task;
  // The order of accepted changes: strictly increasing per registry.
  uint64_t seq = 0;
  // When the hub accepted this state.
  absl::Time observed;
  // The status is SUCCESS, FAILED or CANCELLED.
  bool terminal = false;
  // One per accepted state, shared by every copy of this event.
  std::shared_ptr<EventMemo> memo;
};

// WatchSubscriber is one watch stream as the hub sees it.
//
// OnEvent and OnError run with the hub's lock held, in the hub's order:
// they must only queue (take no other lock than the subscriber's own, call
// neither the hub nor gRPC, never block). Flush runs after the hub's lock is
// released, at least once after any OnEvent/OnError call; it may do
// anything, including Unsubscribe.
class WatchSubscriber {
 public:
  virtual ~WatchSubscriber() = default;
  virtual void OnEvent(const HubEvent& event) = 0;
  // The watch cannot go on (its task's first GET failed, or the upstream
  // refuses the key).
  virtual void OnError(const absl::Status& status) = 0;
  virtual void Flush() = 0;
};

struct WatchHubOptions {
  // Close a hub's socket this long after its last subscriber left.
  absl::Duration grace = absl::Seconds(30);
  // A socket that carried nothing for this long is reopened.
  absl::Duration idle_timeout = absl::Seconds(60);
  // A reopened socket asks for `since` = last activity minus this.
  absl::Duration since_overlap = absl::Seconds(10);
  // Reconnect backoff: initial, ×multiplier per failure, capped, ±jitter.
  absl::Duration initial_backoff = absl::Seconds(1);
  double backoff_multiplier = 1.6;
  absl::Duration max_backoff = absl::Seconds(120);
  double backoff_jitter = 0.2;
  // Consecutive failed socket attempts before polling starts.
  int failures_before_polling = 3;
  // Polling interval: starts at min, doubles while nothing changes, back to
  // min on a change.
  absl::Duration min_poll_interval = absl::Seconds(1);
  absl::Duration max_poll_interval = absl::Seconds(10);
  // Timeout of each GET the hub makes.
  absl::Duration get_timeout = absl::Seconds(30);
  // A task's first GET answering NOT_FOUND is tried again this many times,
  // after not_found_delay, doubling (0.25 + 0.5 + 1 + 2 s by default),
  // before its watchers get the error: a task created a moment ago may not
  // be visible to plain reads yet (the upstream's read-after-write lag).
  int not_found_retries = 4;
  absl::Duration not_found_delay = absl::Milliseconds(250);
  // Most tasks cached per key; the oldest unwatched are evicted first.
  size_t max_cached_tasks = 100000;
  // Receives one line per notable event (socket dropped, polling started or
  // stopped). Never given a key or a URL. Null: no log.
  std::function<void(const std::string&)> log;
};

// WatchHubStats are counters over every hub, for tests and metrics.
struct WatchHubStats {
  int64_t hubs = 0;
  int64_t sockets_open = 0;
  int64_t sockets_opened_total = 0;
  int64_t socket_failures_total = 0;
  int64_t reconnects_total = 0;
  int64_t idle_timeouts_total = 0;
  int64_t polling_hubs = 0;
  int64_t polling_fallbacks_total = 0;
  int64_t frames_total = 0;
  int64_t bad_frames_total = 0;
  int64_t changes_total = 0;
  int64_t deliveries_total = 0;
  int64_t gets_total = 0;
  int64_t subscribers = 0;
};

class WatchHub;

// WatchHandle identifies one subscription, for Unsubscribe.
struct WatchHandle {
  std::shared_ptr<WatchHub> hub;
  uint64_t id = 0;
};

// CatchUp is where an all-task subscription starts.
struct CatchUp {
  // Cached states accepted after this sequence number (a resume cursor of
  // this registry's epoch). Used when the hub is at least that old;
  // otherwise `since` applies.
  std::optional<uint64_t> after_seq;
  // Tasks updated since this time (the upstream `since`): cached states
  // accepted since then, and an upstream replay when the cache does not
  // reach back that far.
  std::optional<absl::Time> since;
};

// WatchHubs is the registry: one hub per API key.
//
// Thread-safety: thread-safe. Subscribers' callbacks run on the engine and
// scheduler threads, and inline in Subscribe*/Unsubscribe (Flush after the
// locks are released).
class WatchHubs {
 public:
  // `stub` opens the sockets, `connection` makes the GETs (with its
  // retries), `scheduler` runs the timers; all must outlive this registry's
  // hubs (the destructor closes them).
  WatchHubs(std::shared_ptr<ProviderStub> stub,
            std::shared_ptr<TriverseConnection> connection,
            Scheduler* scheduler, WatchHubOptions options);
  ~WatchHubs();

  WatchHubs(const WatchHubs&) = delete;
  WatchHubs& operator=(const WatchHubs&) = delete;

  // SubscribeTask: `subscriber` gets task `uuid`'s current state, then its
  // changes, until Unsubscribe.
  WatchHandle SubscribeTask(const CallContext& key, const std::string& uuid,
                            std::shared_ptr<WatchSubscriber> subscriber);
  // SubscribeAll: `subscriber` gets the catch-up (in accepted order), then
  // every change of every task of the key, until Unsubscribe.
  WatchHandle SubscribeAll(const CallContext& key, const CatchUp& catch_up,
                           std::shared_ptr<WatchSubscriber> subscriber);
  // Unsubscribe: no OnEvent/OnError reaches the subscriber once it returns.
  // Idempotent.
  static void Unsubscribe(const WatchHandle& handle);

  // Epoch identifies this process's sequence numbers (random per registry).
  uint64_t epoch() const { return epoch_; }
  WatchHubStats Stats() const;

  // Internal: what every hub uses, and how a retiring hub leaves.
  struct Shared;
  static void RemoveHub(WatchHubs* registry, const std::string& key,
                        const WatchHub* hub);

 private:
  std::shared_ptr<WatchHub> HubFor(const CallContext& key);
  // SubscribeWith runs `subscribe` on the key's hub, again on a new hub when
  // that one was retiring.
  template <typename Subscribe>
  WatchHandle SubscribeWith(const CallContext& key, Subscribe subscribe);

  const uint64_t epoch_;
  std::shared_ptr<Shared> shared_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::shared_ptr<WatchHub>> hubs_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace triverse::upstream

#endif  // TRIVERSE_SERVER_UPSTREAM_WATCH_HUB_H_
