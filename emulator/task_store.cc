#include "emulator/task_store.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "emulator/hashing.h"

namespace triverse::emulator {
namespace {

int64_t CeilSeconds(absl::Duration d) {
  return static_cast<int64_t>(std::ceil(absl::ToDoubleSeconds(d)));
}

}  // namespace

absl::string_view StatusName(TaskStatus s) {
  switch (s) {
    case TaskStatus::kPending:
      return "PENDING";
    case TaskStatus::kQueued:
      return "QUEUED";
    case TaskStatus::kRunning:
      return "RUNNING";
    case TaskStatus::kSuccess:
      return "SUCCESS";
    case TaskStatus::kFailed:
      return "FAILED";
    case TaskStatus::kCancelled:
      return "CANCELLED";
  }
  return "PENDING";
}

bool IsTerminal(TaskStatus s) {
  return s == TaskStatus::kSuccess || s == TaskStatus::kFailed ||
         s == TaskStatus::kCancelled;
}

TaskStore::TaskStore(EngineOptions options, const Clock* clock,
                     FaultInjector* faults)
    : options_(std::move(options)), clock_(clock), faults_(faults) {
  absl::MutexLock lock(&mu_);
  const absl::Time now = clock_->Now();
  for (size_t i = 0; i < options_.keys.size(); ++i) {
    AccountState a;
    a.key = options_.keys[i];
    a.info.user_id = FormatUuid(SplitMix64(options_.seed ^ (0xacc0 + i)),
                                SplitMix64(options_.seed + 0x5eed + i));
    a.info.email = a.key.email.empty()
                       ? absl::StrCat("user", i + 1, "@example.com")
                       : a.key.email;
    a.info.plan_name = a.key.plan_name;
    a.info.total_credits = a.key.credits;
    a.info.alias = absl::StrCat("key#", i + 1);
    a.sim_time = now;
    keys_.push_back(a.key.key);
    accounts_.push_back(std::move(a));
  }
}

int TaskStore::Authenticate(absl::string_view api_key) const {
  if (api_key.empty()) return -1;
  for (size_t i = 0; i < keys_.size(); ++i) {
    if (keys_[i] == api_key) return static_cast<int>(i);
  }
  return -1;
}

AccountInfo TaskStore::Account(int account) const {
  absl::MutexLock lock(&mu_);
  return accounts_[account].info;
}

std::string TaskStore::NewUuid() {
  ++uuid_counter_;
  return FormatUuid(SplitMix64(options_.seed * 31 + uuid_counter_),
                    SplitMix64(uuid_counter_ ^ (options_.seed << 20)));
}

TaskStore::TaskState* TaskStore::FindLocked(int account,
                                            absl::string_view uuid) const {
  auto it = tasks_.find(uuid);
  if (it == tasks_.end() || it->second->task.account != account) {
    return nullptr;
  }
  return it->second.get();
}

Task TaskStore::Snapshot(const AccountState& a, const TaskState& t) const {
  Task copy = t.task;
  copy.queue_position = 0;
  copy.estimated_wait_seconds = 0;
  if (t.phase == Phase::kWaiting) {
    auto it = std::find(a.waiting.begin(), a.waiting.end(), &t);
    int position = static_cast<int>(it - a.waiting.begin()) + 1;
    copy.queue_position = position;
    const int workers = std::max(1, options_.workers_per_key);
    copy.estimated_wait_seconds =
        CeilSeconds(options_.run_duration * ((position - 1) / workers + 1));
  }
  return copy;
}

ApiResult<Task> TaskStore::Create(int account, const CreateRequest& request,
                                  bool* created) {
  *created = false;
  absl::MutexLock lock(&mu_);
  const absl::Time now = clock_->Now();
  AdvanceLocked(now);
  AccountState& a = accounts_[account];

  if (request.client_order_id) {
    auto it = a.order_ids.find(*request.client_order_id);
    if (it != a.order_ids.end()) {
      if (options_.repeated_order == RepeatedOrderMode::kConflict) {
        return MakeError(
            kStateConflict,
            absl::StrCat("client_order_id '", *request.client_order_id,
                         "' was already used for task ", it->second,
                         "; use a new client_order_id for a new task."));
      }
      TaskState* t = tasks_.at(it->second).get();
      return Snapshot(a, *t);
    }
  }
  while (!a.recent.empty() &&
         a.recent.front().first + options_.duplicate_window <= now) {
    a.recent.pop_front();
  }
  if (!request.client_order_id && !request.allow_duplicate &&
      options_.duplicate_window > absl::ZeroDuration()) {
    for (const auto& [at, t] : a.recent) {
      if (t->fingerprint == request.fingerprint) {
        return MakeError(
            kStateConflict,
            absl::StrCat("An identical request created task ", t->task.uuid,
                         " less than ",
                         absl::FormatDuration(options_.duplicate_window),
                         " ago. Set allow_duplicate=true to create another "
                         "task on purpose, or send a client_order_id."));
      }
    }
  }
  for (const std::string& text : request.texts) {
    const std::string lower = absl::AsciiStrToLower(text);
    for (const std::string& word : options_.moderation_words) {
      if (!word.empty() && absl::StrContains(lower, word)) {
        return MakeError(kContentViolation,
                         "The input was rejected by the content safety audit. "
                         "Rephrase the prompt and try again.");
      }
    }
  }
  for (const auto& [field, ref] : request.file_refs) {
    if (absl::StartsWith(ref, "tasks/") && a.files.count(ref) == 0) {
      return InvalidParam(field, absl::StrCat("refers to an unknown file_key '",
                                              ref, "'; upload the file first"));
    }
  }
  if (request.concurrency_limit > 0) {
    int active = 0;
    for (const TaskState* t : a.active) {
      if (t->task.concurrency_group == request.concurrency_group) ++active;
    }
    if (active >= request.concurrency_limit) {
      ApiError e;
      e.http_status = 429;
      e.code = 2000;
      e.message =
          "You have exceeded the limit of generation. Check the "
          "Retry-After header.";
      e.suggestion = absl::StrCat(
          "At most ", request.concurrency_limit, " tasks of the group '",
          request.concurrency_group,
          "' may be queued or running at once; retry after the delay in the "
          "Retry-After header.");
      e.retry_after_seconds = static_cast<int>(
          std::max<int64_t>(1, CeilSeconds(options_.run_duration)));
      return e;
    }
  }
  if (request.per_minute_limit > 0) {
    while (!a.creations.empty() &&
           a.creations.front() + absl::Minutes(1) <= now) {
      a.creations.pop_front();
    }
    if (static_cast<int>(a.creations.size()) >= request.per_minute_limit) {
      ApiError e;
      e.http_status = 429;
      e.code = 1007;
      e.message = "You have exceeded the rate limit.";
      e.suggestion =
          absl::StrCat("At most ", request.per_minute_limit,
                       " tasks may be created per minute; slow down.");
      e.retry_after_seconds = static_cast<int>(std::max<int64_t>(
          1, CeilSeconds(a.creations.front() + absl::Minutes(1) - now)));
      return e;
    }
  }
  int64_t queued = 0;
  for (const TaskState* t : a.active) {
    if (t->phase != Phase::kRunning) ++queued;
  }
  if (queued >= options_.max_queue_per_key) {
    ApiError e = MakeError(kRateLimited,
                           "The task queue is full. Retry after the indicated "
                           "delay or wait for running tasks to finish.");
    e.retry_after_seconds = static_cast<int>(
        std::max<int64_t>(1, CeilSeconds(options_.run_duration)));
    return e;
  }
  const int64_t available = a.info.total_credits - a.info.frozen_credits;
  if (request.cost_credits > available) {
    return MakeError(
        kInsufficientCredits,
        absl::StrCat("This task costs ", request.cost_credits, " credits and ",
                     available, " are available. Top up your API credits."));
  }

  auto state = std::make_unique<TaskState>();
  TaskState& t = *state;
  t.task.uuid = NewUuid();
  t.task.account = account;
  t.task.index = uuid_counter_;
  t.task.flow_name = request.flow_name;
  t.task.public_input_json = request.public_input_json;
  t.task.assets = request.assets;
  t.task.primary_asset = request.primary_asset;
  t.task.cost_credits = request.cost_credits;
  t.task.client_order_id = request.client_order_id;
  t.task.status = TaskStatus::kPending;
  t.task.created_at = now;
  t.task.updated_at = now;
  t.task.version = 1;
  t.fingerprint = request.fingerprint;
  t.pending_until = now + options_.pending_duration;
  t.task.concurrency_group = request.concurrency_group;
  const FaultSettings faults = faults_->settings();
  switch (request.outcome) {
    case ForcedOutcome::kNone:
      if (faults_->Roll("task-failure", t.task.index,
                        faults.tasks.failure_rate)) {
        t.outcome = Outcome::kFailure;
      } else if (faults_->Roll("task-cancel", t.task.index,
                               faults.tasks.cancel_rate)) {
        t.outcome = Outcome::kCancel;
      }
      break;
    case ForcedOutcome::kSuccess:
      break;
    case ForcedOutcome::kFailure:
      t.outcome = Outcome::kFailure;
      break;
    case ForcedOutcome::kCancel:
      t.outcome = Outcome::kCancel;
      break;
    case ForcedOutcome::kBanned:
      t.outcome = Outcome::kBanned;
      break;
    case ForcedOutcome::kExpired:
      t.outcome = Outcome::kExpired;
      break;
    case ForcedOutcome::kUnknown:
      t.outcome = Outcome::kUnknown;
      break;
  }
  t.task.no_assets = faults_->Roll("task-no-assets", t.task.index,
                                   faults.tasks.no_assets_rate);

  a.info.frozen_credits += request.cost_credits;
  if (request.per_minute_limit > 0) a.creations.push_back(now);
  if (request.client_order_id)
    a.order_ids[*request.client_order_id] = t.task.uuid;
  if (!request.client_order_id) a.recent.emplace_back(now, &t);
  a.tasks.push_back(&t);
  a.active.push_back(&t);
  TaskState* raw = state.get();
  tasks_.emplace(t.task.uuid, std::move(state));
  *created = true;
  Emit(a, *raw, now);
  return Snapshot(a, *raw);
}

ApiResult<Task> TaskStore::Get(int account, absl::string_view uuid,
                               bool consistent_read) {
  absl::MutexLock lock(&mu_);
  const absl::Time now = clock_->Now();
  AdvanceLocked(now);
  TaskState* t = FindLocked(account, uuid);
  const bool lagging =
      t != nullptr && !options_.legacy && !consistent_read &&
      now < t->task.created_at + options_.read_after_write_window;
  if (lagging) ++read_after_write_misses_;
  if (t == nullptr || lagging) {
    return MakeError(kTaskNotFound,
                     "Check the task_uuid. Tasks are visible only to the API "
                     "key that created them.");
  }
  return Snapshot(accounts_[account], *t);
}

ApiResult<Task> TaskStore::GetDownloadable(int account,
                                           absl::string_view uuid) {
  absl::MutexLock lock(&mu_);
  const absl::Time now = clock_->Now();
  AdvanceLocked(now);
  TaskState* t = FindLocked(account, uuid);
  if (t == nullptr) {
    return MakeError(kTaskNotFound,
                     "Check the task_uuid. Tasks are visible only to the API "
                     "key that created them.");
  }
  if (t->task.status != TaskStatus::kSuccess) {
    ApiError e = MakeError(
        options_.not_ready_code,
        absl::StrCat("The task is ", StatusName(t->task.status),
                     "; assets can be downloaded once it is SUCCESS."));
    return e;
  }
  if (t->task.no_assets || t->task.primary_asset < 0) {
    return MakeError(kNoAssets, "This task has no asset to download.");
  }
  if (t->task.completed_at &&
      now > *t->task.completed_at + options_.asset_retention) {
    return MakeError(
        kResourceNotFound,
        absl::StrCat("The assets of this task were deleted after the "
                     "retention period (",
                     absl::FormatDuration(options_.asset_retention),
                     "). Copy assets to your own storage after SUCCESS."));
  }
  return Snapshot(accounts_[account], *t);
}

std::optional<Task> TaskStore::FindTask(absl::string_view uuid) const {
  absl::MutexLock lock(&mu_);
  auto it = tasks_.find(uuid);
  if (it == tasks_.end()) return std::nullopt;
  return it->second->task;
}

std::vector<Task> TaskStore::List(int account, int64_t offset, int64_t limit,
                                  int64_t* total) const {
  absl::MutexLock lock(&mu_);
  const AccountState& a = accounts_[account];
  *total = static_cast<int64_t>(a.tasks.size());
  std::vector<Task> out;
  for (int64_t i = *total - 1 - offset; i >= 0 && limit > 0; --i, --limit) {
    out.push_back(Snapshot(a, *a.tasks[i]));
  }
  return out;
}

ApiResult<std::string> TaskStore::RecordUpload(int account,
                                               absl::string_view extension) {
  absl::MutexLock lock(&mu_);
  const absl::Time now = clock_->Now();
  AccountState& a = accounts_[account];
  while (!a.uploads.empty() &&
         a.uploads.front() + options_.upload_window <= now) {
    a.uploads.pop_front();
  }
  if (static_cast<int>(a.uploads.size()) >= options_.uploads_per_window) {
    ApiError e = MakeError(
        kRateLimited, absl::StrCat("Upload limit reached: ",
                                   options_.uploads_per_window, " uploads per ",
                                   absl::FormatDuration(options_.upload_window),
                                   " (images and models together)."));
    // With no upload in the window (uploads_per_window <= 0) wait a window.
    const absl::Time oldest = a.uploads.empty() ? now : a.uploads.front();
    e.retry_after_seconds = static_cast<int>(std::max<int64_t>(
        1, CeilSeconds(oldest + options_.upload_window - now)));
    return e;
  }
  a.uploads.push_back(now);
  ++uploads_total_;
  std::string key =
      absl::StrCat("tasks/uid_", a.info.user_id, "/",
                   absl::FormatTime("%Y%m%d", now, absl::UTCTimeZone()), "/",
                   NewUuid(), extension.empty() ? "" : ".", extension);
  a.files[key] = UploadedFile{std::string(extension)};
  return key;
}

ApiResult<Task> TaskStore::Cancel(absl::string_view uuid) {
  absl::MutexLock lock(&mu_);
  const absl::Time now = clock_->Now();
  AdvanceLocked(now);
  auto it = tasks_.find(uuid);
  if (it == tasks_.end()) {
    return MakeError(kTaskNotFound, "No task has this task_uuid.");
  }
  TaskState& t = *it->second;
  AccountState& a = accounts_[t.task.account];
  if (t.phase == Phase::kDone) {
    return MakeError(
        kStateConflict,
        absl::StrCat("The task is already ", StatusName(t.task.status), "."));
  }
  Finish(a, t, TaskStatus::kCancelled, now);
  return Snapshot(a, t);
}

void TaskStore::Advance() {
  absl::MutexLock lock(&mu_);
  AdvanceLocked(clock_->Now());
}

void TaskStore::AdvanceLocked(absl::Time now) {
  for (AccountState& a : accounts_) AdvanceAccount(a, now);
}

void TaskStore::Finish(AccountState& a, TaskState& t, TaskStatus status,
                       absl::Time at) {
  if (t.phase == Phase::kRunning) --a.running;
  if (t.phase == Phase::kWaiting) {
    a.waiting.erase(std::find(a.waiting.begin(), a.waiting.end(), &t));
  }
  a.active.erase(std::find(a.active.begin(), a.active.end(), &t));
  t.phase = Phase::kDone;
  t.task.status = status;
  if (t.task.variant == "unknown") t.task.variant.clear();
  if (status == TaskStatus::kFailed) {
    if (t.outcome == Outcome::kBanned) t.task.variant = "banned";
    if (t.outcome == Outcome::kExpired) t.task.variant = "expired";
  }
  t.task.completed_at = at;
  if (status == TaskStatus::kSuccess) {
    t.task.progress = 100;
    a.info.total_credits -= t.task.cost_credits;
  }
  a.info.frozen_credits -= t.task.cost_credits;
  Emit(a, t, at);
}

void TaskStore::AdvanceAccount(AccountState& a, absl::Time now) {
  const int workers = std::max(1, options_.workers_per_key);
  const int step = std::clamp(options_.progress_step, 1, 100);
  const absl::Duration run = options_.run_duration;
  for (;;) {
    absl::Time best = absl::InfiniteFuture();
    TaskState* next = nullptr;
    for (TaskState* t : a.active) {
      absl::Time at = absl::InfiniteFuture();
      switch (t->phase) {
        case Phase::kPending:
          at = t->pending_until;
          break;
        case Phase::kWaiting:
          if (a.running < workers && t == a.waiting.front()) {
            at = std::max(t->ready_at, a.sim_time);
          }
          break;
        case Phase::kRunning: {
          const absl::Time start = *t->task.started_at;
          const absl::Time end = start + run;
          at = end;
          int next_progress = t->task.progress + step;
          if (next_progress < 100) {
            at = std::min(at, start + run * (next_progress / 100.0));
          }
          if (t->outcome == Outcome::kCancel) {
            at = std::min(at, start + run * 0.5);
          }
          break;
        }
        case Phase::kUnknown:
          at = t->unknown_until;
          break;
        case Phase::kDone:
          break;
      }
      if (at < best) {
        best = at;
        next = t;
      }
    }
    if (next == nullptr || best > now) break;
    a.sim_time = std::max(a.sim_time, best);
    TaskState& t = *next;
    switch (t.phase) {
      case Phase::kPending:
        t.phase = Phase::kWaiting;
        a.waiting.push_back(&t);
        if (options_.legacy) {
          // The older API has no QUEUED: PENDING covers the queue, so there
          // is no public change here.
          t.ready_at = best;
        } else {
          t.ready_at = best + options_.min_queue_duration;
          t.task.status = TaskStatus::kQueued;
          Emit(a, t, best);
        }
        break;
      case Phase::kWaiting:
        a.waiting.pop_front();
        t.phase = Phase::kRunning;
        ++a.running;
        t.task.status = TaskStatus::kRunning;
        t.task.started_at = best;
        t.task.progress = 0;
        Emit(a, t, best);
        break;
      case Phase::kRunning: {
        const absl::Time start = *t.task.started_at;
        if (t.outcome == Outcome::kCancel && best >= start + run * 0.5) {
          Finish(a, t, TaskStatus::kCancelled, best);
        } else if (best >= start + run && t.outcome == Outcome::kUnknown) {
          // The run is over, the outcome unknown for a while: the worker is
          // free, the task still active (and its credits frozen).
          t.phase = Phase::kUnknown;
          --a.running;
          t.task.variant = "unknown";
          t.unknown_until =
              options_.unknown_duration == absl::InfiniteDuration()
                  ? absl::InfiniteFuture()
                  : best + options_.unknown_duration;
          Emit(a, t, best);
        } else if (best >= start + run) {
          const bool failed = t.outcome == Outcome::kFailure ||
                              t.outcome == Outcome::kBanned ||
                              t.outcome == Outcome::kExpired;
          Finish(a, t, failed ? TaskStatus::kFailed : TaskStatus::kSuccess,
                 best);
        } else {
          t.task.progress += step;
          Emit(a, t, best);
        }
        break;
      }
      case Phase::kUnknown:
        Finish(a, t, TaskStatus::kSuccess, best);
        break;
      case Phase::kDone:
        break;
    }
  }
  a.sim_time = std::max(a.sim_time, now);
}

void TaskStore::Emit(AccountState& a, TaskState& t, absl::Time at) {
  t.task.updated_at = at;
  ++t.task.version;
  if (a.all_watchers.empty() && a.task_watchers.empty()) return;
  TaskEvent event;
  event.finalized = IsTerminal(t.task.status);
  event.task = Snapshot(a, t);
  for (auto& [id, fn] : a.all_watchers) fn(event);
  auto it = a.task_watchers.find(t.task.uuid);
  if (it != a.task_watchers.end()) {
    for (auto& [id, fn] : it->second) fn(event);
  }
}

ApiResult<uint64_t> TaskStore::WatchTask(int account, absl::string_view uuid,
                                         WatchFn fn, TaskEvent* snapshot) {
  absl::MutexLock lock(&mu_);
  AdvanceLocked(clock_->Now());
  TaskState* t = FindLocked(account, uuid);
  if (t == nullptr) {
    return MakeError(kTaskNotFound,
                     "Check the task_uuid. Tasks are visible only to the API "
                     "key that created them.");
  }
  AccountState& a = accounts_[account];
  snapshot->task = Snapshot(a, *t);
  snapshot->finalized = IsTerminal(t->task.status);
  const uint64_t id = next_watch_id_++;
  a.task_watchers[t->task.uuid].emplace(id, std::move(fn));
  watch_index_[id] = {account, t->task.uuid};
  return id;
}

uint64_t TaskStore::WatchAll(int account, std::optional<absl::Time> since,
                             WatchFn fn, std::vector<TaskEvent>* catch_up) {
  absl::MutexLock lock(&mu_);
  AdvanceLocked(clock_->Now());
  AccountState& a = accounts_[account];
  if (since) {
    for (const TaskState* t : a.tasks) {
      if (t->task.updated_at >= *since) {
        TaskEvent e;
        e.task = Snapshot(a, *t);
        e.finalized = IsTerminal(t->task.status);
        catch_up->push_back(std::move(e));
      }
    }
    std::stable_sort(catch_up->begin(), catch_up->end(),
                     [](const TaskEvent& x, const TaskEvent& y) {
                       return x.task.updated_at < y.task.updated_at;
                     });
  }
  const uint64_t id = next_watch_id_++;
  a.all_watchers.emplace(id, std::move(fn));
  watch_index_[id] = {account, ""};
  return id;
}

void TaskStore::Unwatch(uint64_t id) {
  absl::MutexLock lock(&mu_);
  auto it = watch_index_.find(id);
  if (it == watch_index_.end()) return;
  auto& [account, uuid] = it->second;
  AccountState& a = accounts_[account];
  if (uuid.empty()) {
    a.all_watchers.erase(id);
  } else {
    auto w = a.task_watchers.find(uuid);
    if (w != a.task_watchers.end()) {
      w->second.erase(id);
      if (w->second.empty()) a.task_watchers.erase(w);
    }
  }
  watch_index_.erase(it);
}

StoreStats TaskStore::Stats() const {
  absl::MutexLock lock(&mu_);
  StoreStats s;
  for (const auto& [uuid, t] : tasks_) {
    ++s.tasks_by_status[static_cast<int>(t->task.status)];
  }
  s.tasks_created = static_cast<int64_t>(tasks_.size());
  s.uploads = uploads_total_;
  s.watchers = static_cast<int64_t>(watch_index_.size());
  s.read_after_write_misses = read_after_write_misses_;
  return s;
}

std::vector<LedgerAccount> TaskStore::LedgerAccounts() const {
  absl::MutexLock lock(&mu_);
  std::vector<LedgerAccount> out;
  for (const AccountState& a : accounts_) {
    LedgerAccount l;
    l.alias = a.info.alias;
    l.initial_credits = a.key.credits;
    l.total_credits = a.info.total_credits;
    l.frozen_credits = a.info.frozen_credits;
    out.push_back(std::move(l));
  }
  return out;
}

std::vector<Task> TaskStore::LedgerTasks() const {
  absl::MutexLock lock(&mu_);
  std::vector<Task> out;
  out.reserve(tasks_.size());
  for (const auto& [uuid, t] : tasks_) out.push_back(t->task);
  std::sort(out.begin(), out.end(),
            [](const Task& a, const Task& b) { return a.index < b.index; });
  return out;
}

}  // namespace triverse::emulator
