// The emulator's accounts and tasks: credits, idempotency, uploads and the
// task state machine, driven by a Clock so that tests can run it with a fake
// one.
#ifndef TRIVERSE_EMULATOR_TASK_STORE_H_
#define TRIVERSE_EMULATOR_TASK_STORE_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "emulator/api_error.h"
#include "emulator/clock.h"
#include "emulator/faults.h"
#include "emulator/flows.h"
#include "emulator/options.h"

namespace triverse::emulator {

enum class TaskStatus {
  kPending,
  kQueued,
  kRunning,
  kSuccess,
  kFailed,
  kCancelled
};
inline constexpr int kTaskStatusCount = 6;

absl::string_view StatusName(TaskStatus s);
bool IsTerminal(TaskStatus s);

// Task is a snapshot of one task as the public API shows it.
struct Task {
  std::string uuid;
  int account = 0;
  uint64_t index = 0;  // creation order, over every account
  std::string flow_name;
  std::string public_input_json;
  std::vector<AssetSpec> assets;
  int primary_asset = -1;
  int64_t cost_credits = 0;
  std::optional<std::string> client_order_id;
  TaskStatus status = TaskStatus::kPending;
  int progress = 0;
  absl::Time created_at;
  absl::Time updated_at;
  std::optional<absl::Time> started_at;
  std::optional<absl::Time> completed_at;
  bool no_assets = false;  // SUCCESS without downloadable assets
  // While waiting for a worker: 1-based queue position and the estimate.
  int queue_position = 0;
  int64_t estimated_wait_seconds = 0;
  uint64_t version = 0;  // +1 on every public change
  // Provider detail of the outcome: "banned", "expired" (FAILED) or
  // "unknown" (RUNNING internally, until it resolves to SUCCESS); empty
  // otherwise.
  std::string variant;
  std::string concurrency_group;  // Tripo concurrency group
};

// TaskEvent is one change pushed to watchers.
struct TaskEvent {
  bool finalized = false;  // the task reached a terminal status
  Task task;
};

// AccountInfo is what /users/me and /users/balance show.
struct AccountInfo {
  std::string user_id;
  std::string email;
  std::string plan_name;
  int64_t total_credits = 0;
  int64_t frozen_credits = 0;
  std::string alias;  // "key#N": printable in logs instead of the key
};

// StoreStats counts for /_emulator/stats.
struct StoreStats {
  int64_t tasks_by_status[kTaskStatusCount] = {};
  int64_t tasks_created = 0;
  int64_t uploads = 0;
  int64_t watchers = 0;
  // GET /tasks/{uuid} answered 404 because the task was inside its
  // read-after-write window (the task exists).
  int64_t read_after_write_misses = 0;
};

// LedgerAccount is one account's credits, for GET /_emulator/ledger.
struct LedgerAccount {
  std::string alias;
  int64_t initial_credits = 0;
  int64_t total_credits = 0;
  int64_t frozen_credits = 0;
};

// TaskStore owns every account and task. Thread-safe. Watch callbacks run
// with the store's lock held: they must not block nor call the store.
class TaskStore {
 public:
  using WatchFn = std::function<void(const TaskEvent&)>;

  TaskStore(EngineOptions options, const Clock* clock, FaultInjector* faults);

  const EngineOptions& options() const { return options_; }
  absl::Time Now() const { return clock_->Now(); }

  // Authenticate returns the account index of `api_key`, or -1.
  int Authenticate(absl::string_view api_key) const;
  AccountInfo Account(int account) const;
  int account_count() const { return static_cast<int>(keys_.size()); }

  // Create makes a task, or returns the existing one for a repeated
  // client_order_id (`*created` false). Errors: 400/2008 moderation,
  // 400/1004 unknown file key, 409/2005 duplicate within the window or a
  // repeated order id in conflict mode, 429/2000 queue full, 403/2010 short
  // of credits.
  ApiResult<Task> Create(int account, const CreateRequest& request,
                         bool* created);

  // Get returns the task of `account`. 404/1006 for an unknown task, another
  // account's task, or a task inside its read-after-write window when
  // `consistent_read` is false.
  ApiResult<Task> Get(int account, absl::string_view uuid,
                      bool consistent_read);

  // GetDownloadable is Get plus the download rules: 409/2005 (configurable)
  // before SUCCESS, 404/4042 with no assets, 404/1005 past retention.
  ApiResult<Task> GetDownloadable(int account, absl::string_view uuid);

  // FindTask looks a task up without an account (signed asset URLs).
  std::optional<Task> FindTask(absl::string_view uuid) const;

  // List returns the account's tasks newest first.
  std::vector<Task> List(int account, int64_t offset, int64_t limit,
                         int64_t* total) const;

  // RecordUpload applies the upload rate limit and returns a new file key.
  ApiResult<std::string> RecordUpload(int account, absl::string_view extension);

  // Cancel moves a non-terminal task to CANCELLED (emulator control).
  ApiResult<Task> Cancel(absl::string_view uuid);

  // Advance runs the state machine up to the clock's now and notifies
  // watchers of every change, in time order.
  void Advance();

  // WatchTask subscribes to one task; `*snapshot` is its current state.
  // 404/1006 as Get (without the read-after-write window).
  ApiResult<uint64_t> WatchTask(int account, absl::string_view uuid, WatchFn fn,
                                TaskEvent* snapshot);
  // WatchAll subscribes to every task of the account; with `since`,
  // `*catch_up` holds the latest state of each task updated at or after it.
  uint64_t WatchAll(int account, std::optional<absl::Time> since, WatchFn fn,
                    std::vector<TaskEvent>* catch_up);
  void Unwatch(uint64_t id);

  StoreStats Stats() const;

  // Ledger: every account's credits and every task (creation order), the
  // ground truth a test harness checks the gateway against.
  std::vector<LedgerAccount> LedgerAccounts() const;
  std::vector<Task> LedgerTasks() const;

 private:
  // kUnknown: the run is over but the outcome is `unknown` (no worker held)
  // until unknown_until.
  enum class Phase { kPending, kWaiting, kRunning, kUnknown, kDone };
  enum class Outcome {
    kSuccess,
    kFailure,
    kCancel,
    kBanned,
    kExpired,
    kUnknown
  };

  struct TaskState {
    Task task;
    Phase phase = Phase::kPending;
    Outcome outcome = Outcome::kSuccess;
    absl::Time pending_until;
    absl::Time ready_at;  // earliest start once waiting
    absl::Time unknown_until = absl::InfiniteFuture();
    std::string fingerprint;
  };
  struct UploadedFile {
    std::string extension;
  };
  struct AccountState {
    ApiKeyOptions key;
    AccountInfo info;
    std::vector<TaskState*> tasks;   // creation order
    std::vector<TaskState*> active;  // not terminal
    std::deque<TaskState*> waiting;  // FIFO for a worker
    int running = 0;
    absl::Time sim_time;  // time of the last applied transition
    std::map<std::string, std::string> order_ids;  // client_order_id → uuid
    std::deque<std::pair<absl::Time, TaskState*>> recent;  // duplicates
    std::deque<absl::Time> uploads;
    std::deque<absl::Time> creations;  // per-minute quota (Tripo)
    std::map<std::string, UploadedFile> files;
    std::map<uint64_t, WatchFn> all_watchers;
    std::map<std::string, std::map<uint64_t, WatchFn>> task_watchers;
  };

  void AdvanceLocked(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void AdvanceAccount(AccountState& a, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Finish(AccountState& a, TaskState& t, TaskStatus status, absl::Time at)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Emit(AccountState& a, TaskState& t, absl::Time at)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Task Snapshot(const AccountState& a, const TaskState& t) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  TaskState* FindLocked(int account, absl::string_view uuid) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::string NewUuid() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const EngineOptions options_;
  const Clock* const clock_;
  FaultInjector* const faults_;
  std::vector<std::string> keys_;  // immutable: index = account

  mutable absl::Mutex mu_;
  std::vector<AccountState> accounts_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, std::unique_ptr<TaskState>> tasks_
      ABSL_GUARDED_BY(mu_);
  std::map<uint64_t, std::pair<int, std::string>> watch_index_
      ABSL_GUARDED_BY(mu_);  // id → (account, uuid or "")
  uint64_t next_watch_id_ ABSL_GUARDED_BY(mu_) = 1;
  uint64_t uuid_counter_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t uploads_total_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t read_after_write_misses_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace triverse::emulator

#endif  // TRIVERSE_EMULATOR_TASK_STORE_H_
