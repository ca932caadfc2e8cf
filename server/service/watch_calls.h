// WatchTask and WatchTasks at the gRPC edge: the resume cursor, the limits
// on concurrent watches, and the stream reactor that turns a hub
// subscription into TaskEvents.
#ifndef TRIVERSE_SERVER_SERVICE_WATCH_CALLS_H_
#define TRIVERSE_SERVER_SERVICE_WATCH_CALLS_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "server/service/fanout_pool.h"
#include "server/upstream/triverse_connection.h"
#include "server/upstream/watch_hub.h"
#include "triverse/v1/task.pb.h"
#include "triverse/v1/task_service.pb.h"

namespace triverse::service {

// WatchCursor is what an event's cursor carries: where it sits in the hub's
// order (epoch + seq), when it was observed, and the task state it
// delivered.
struct WatchCursor {
  uint64_t epoch = 0;
  uint64_t seq = 0;
  absl::Time observed = absl::UnixEpoch();
  v1::TaskStatus status = v1::TASK_STATUS_UNSPECIFIED;
  int32_t progress = 0;
};

// EncodeCursor returns an opaque, URL-safe string.
std::string EncodeCursor(const WatchCursor& cursor);
// DecodeCursor parses EncodeCursor's output. INVALID_ARGUMENT (without
// details) for anything else.
absl::StatusOr<WatchCursor> DecodeCursor(absl::string_view text);

// WatchOptions are the edge's watch settings.
struct WatchOptions {
  // Open watch streams at most, in the whole server.
  int64_t max_streams = 100000;
  // Open watch streams at most per client (its address, without the port).
  int64_t max_per_client = 10000;
  // WatchTasks: tasks whose latest state waits for a slow caller at most;
  // beyond, the stream ends with UNAVAILABLE and the cursor to resume from.
  size_t max_pending_tasks = 1024;
  // A cursor from another gateway process resumes from its observation
  // time minus this.
  absl::Duration resume_overlap = absl::Seconds(10);
  // Where the streams' writes run (not owned; must outlive the server's
  // calls). Null: on the thread that delivers the event.
  FanoutPool* fanout = nullptr;
};

// WatchStream is an open watch stream as the limiter sees it.
class WatchStream {
 public:
  virtual ~WatchStream() = default;
  // End finishes the stream soon with UNAVAILABLE, ErrorInfo `reason`, the
  // cursor of the last event sent (ErrorInfo metadata "cursor") and a
  // RetryInfo of 0: the caller resumes from it, on another replica.
  virtual void End(absl::string_view reason, absl::string_view message) = 0;
};

// WatchLimiter counts open watch streams, in total and per client, and
// knows them, so that a shutting-down server can end them all.
// Thread-safe.
class WatchLimiter {
 public:
  explicit WatchLimiter(const WatchOptions& options);
  // Acquire admits one more stream for `client` or returns
  // RESOURCE_EXHAUSTED (ErrorInfo WATCH_LIMIT_EXCEEDED) naming the limit,
  // or UNAVAILABLE (GATEWAY_SHUTTING_DOWN) after EndAll.
  absl::Status Acquire(const std::string& client, absl::string_view rpc);
  void Release(const std::string& client);

  // Track makes an admitted stream known to EndAll until Untrack(id). After
  // EndAll it returns 0 and the caller must end the stream itself.
  uint64_t Track(std::weak_ptr<WatchStream> stream);
  void Untrack(uint64_t id);
  // EndAll ends every tracked stream (WatchStream::End with
  // GATEWAY_SHUTTING_DOWN) and refuses new ones from now on.
  void EndAll();
  // Open streams.
  int64_t open() const;

 private:
  const int64_t max_streams_;
  const int64_t max_per_client_;
  mutable absl::Mutex mu_;
  int64_t total_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_map<std::string, int64_t> per_client_ ABSL_GUARDED_BY(mu_);
  bool ended_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  absl::flat_hash_map<uint64_t, std::weak_ptr<WatchStream>> streams_
      ABSL_GUARDED_BY(mu_);
};

// The message of the streams EndAll ends.
inline constexpr absl::string_view kShuttingDownMessage =
    "the gateway is shutting down; resume with the cursor (another replica "
    "takes over)";

// ClientOf names the caller of `context` for the per-client limit: its peer
// address without the port.
std::string ClientOf(const grpc::CallbackServerContext& context);

// StartWatchTask and StartWatchTasks return the reactor of an admitted
// watch (`call` resolved, the limiter acquired for `client`: the reactor
// releases it when done). Invalid requests are answered by the caller.
grpc::ServerWriteReactor<grpc::ByteBuffer>* StartWatchTask(
    std::shared_ptr<upstream::WatchHubs> hubs,
    std::shared_ptr<WatchLimiter> limiter, std::string client,
    const WatchOptions& options, const upstream::CallContext& call,
    const v1::WatchTaskRequest& request, std::optional<WatchCursor> resume);
grpc::ServerWriteReactor<grpc::ByteBuffer>* StartWatchTasks(
    std::shared_ptr<upstream::WatchHubs> hubs,
    std::shared_ptr<WatchLimiter> limiter, std::string client,
    const WatchOptions& options, const upstream::CallContext& call,
    const v1::WatchTasksRequest& request, std::optional<WatchCursor> resume);

}  // namespace triverse::service

#endif  // TRIVERSE_SERVER_SERVICE_WATCH_CALLS_H_
