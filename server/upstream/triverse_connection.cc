#include "server/upstream/triverse_connection.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "google/rpc/error_details.pb.h"
#include "server/errors/upstream_status.h"

namespace triverse::upstream {

// OpBase is one Connection call, as seen by Cancel.
class TriverseConnectionImpl::OpBase {
 public:
  virtual ~OpBase() = default;
  virtual void Cancel(TriverseConnectionImpl& conn,
                      std::shared_ptr<OpBase> self) = 0;
};

// Op<T> is one call returning T: its attempt function, its state machine
// (kIdle → kAttempt → kIdle → kBackoff → kIdle → ... → kDone; every
// transition under `mu`) and its callback.
template <typename T>
class TriverseConnectionImpl::Op : public TriverseConnectionImpl::OpBase {
 public:
  enum class Phase { kIdle, kAttempt, kBackoff, kDone };
  using Result = absl::StatusOr<T>;

  // Immutable once started.
  std::string operation;
  // The route template, for TriverseConnectionOptions::on_retry.
  std::string endpoint;
  CallContext context;
  // Starts one attempt on the stub; called for one attempt at a time.
  absl::AnyInvocable<uint64_t(CallOptions, ProviderStub::Callback<T>)> attempt;
  // Runs once on success, before `done` (may be null).
  absl::AnyInvocable<void(T&)> on_success;
  // NOT_FOUND before this time is read-after-write lag: retried.
  absl::Time raw_until = absl::InfinitePast();
  // GetTask: the task whose status may come back undetermined
  // (TASK_STATUS_UNSPECIFIED), then read again (see unknown_status_grace).
  std::string task_id;
  // Only a rate limit (RESOURCE_EXHAUSTED with RetryInfo) is retried: for
  // calls with a side effect that nothing else proves did not happen.
  bool rate_limit_only = false;
  // When set and true, part of the result has reached the caller (a
  // download's metadata): the first error then ends the call. Set by the
  // attempt's callbacks.
  std::shared_ptr<const std::atomic<bool>> committed;
  // Runs once, outside any lock, when Cancel() is called before the call
  // completed (may be null).
  absl::AnyInvocable<void()> on_cancel;
  // The cap on one attempt's timeout (options' max_attempt_timeout when
  // unset).
  std::optional<absl::Duration> max_attempt_timeout;
  uint64_t id = 0;

  absl::Mutex mu;
  Phase phase ABSL_GUARDED_BY(mu) = Phase::kIdle;
  uint64_t seq ABSL_GUARDED_BY(mu) = 0;      // attempt number, 1-based
  uint64_t stub_id ABSL_GUARDED_BY(mu) = 0;  // in-flight attempt's stub id
  Scheduler::TimerId timer ABSL_GUARDED_BY(mu) = 0;
  bool cancelled ABSL_GUARDED_BY(mu) = false;
  int raw_retries ABSL_GUARDED_BY(mu) = 0;      // not counted in max_attempts
  absl::Status last_error ABSL_GUARDED_BY(mu);  // of the latest attempt
  Callback<T> done ABSL_GUARDED_BY(mu);

  void Cancel(TriverseConnectionImpl& conn,
              std::shared_ptr<OpBase> base) override {
    auto self = std::static_pointer_cast<Op<T>>(std::move(base));
    uint64_t cancel_stub = 0;
    bool finish_now = false;
    {
      absl::MutexLock lock(&mu);
      if (phase == Phase::kDone || cancelled) return;
      cancelled = true;
      switch (phase) {
        case Phase::kAttempt:
          // stub_id 0: StartAttempt cancels once it knows the id.
          cancel_stub = stub_id;
          break;
        case Phase::kBackoff:
          // false: the timer is already running; OnTimer sees `cancelled`.
          finish_now = conn.scheduler_->Cancel(timer);
          break;
        default:  // kIdle: the next transition checks `cancelled`.
          break;
      }
    }
    if (on_cancel) on_cancel();
    if (cancel_stub != 0) conn.stub_->Cancel(cancel_stub);
    if (finish_now) conn.Finish(self, Cancelled());
  }

  absl::Status Cancelled() const {
    return absl::CancelledError(absl::StrCat(operation, ": cancelled"));
  }
};

namespace {

std::optional<absl::Duration> RetryDelay(const absl::Status& status) {
  for (const auto& any : errors::Details(status)) {
    google::rpc::RetryInfo info;
    if (!any.UnpackTo(&info)) continue;
    return absl::Seconds(info.retry_delay().seconds()) +
           absl::Nanoseconds(info.retry_delay().nanos());
  }
  return std::nullopt;
}

// GiveUp is `last` (same code and details) with a message that says how
// many attempts were made and why no more were.
absl::Status GiveUp(const absl::Status& last, int attempts,
                    absl::string_view why) {
  absl::Status out(
      last.code(),
      absl::StrCat(last.message(), " (gave up after ", attempts,
                   attempts == 1 ? " attempt: " : " attempts: ", why, ")"));
  last.ForEachPayload([&out](absl::string_view url, const absl::Cord& value) {
    out.SetPayload(url, value);
  });
  return out;
}

}  // namespace

bool IsValidClientOrderId(absl::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

TriverseConnectionImpl::TriverseConnectionImpl(
    std::shared_ptr<ProviderStub> stub, Scheduler* scheduler,
    TriverseConnectionOptions options)
    : stub_(std::move(stub)),
      scheduler_(scheduler),
      options_(std::move(options)),
      tokens_(options_.max_tokens) {}

std::shared_ptr<TriverseConnection> MakeTriverseConnection(
    std::shared_ptr<ProviderStub> stub, Scheduler* scheduler,
    TriverseConnectionOptions options) {
  return std::make_shared<TriverseConnectionImpl>(std::move(stub), scheduler,
                                                  std::move(options));
}

template <typename T>
uint64_t TriverseConnectionImpl::Start(std::shared_ptr<Op<T>> op) {
  {
    absl::MutexLock lock(&mu_);
    op->id = next_id_++;
    ops_.emplace(op->id, op);
  }
  const uint64_t id = op->id;
  StartAttempt(std::move(op));
  return id;
}

template <typename T>
void TriverseConnectionImpl::StartAttempt(std::shared_ptr<Op<T>> op) {
  const absl::Time now = scheduler_->Now();
  const absl::Duration left =
      op->context.deadline - options_.deadline_margin - now;
  uint64_t seq = 0;
  bool cancelled = false;
  absl::Status last_error;
  int attempts = 0;
  {
    absl::MutexLock lock(&op->mu);
    cancelled = op->cancelled;
    last_error = op->last_error;
    attempts = static_cast<int>(op->seq);
    if (!cancelled && left > absl::ZeroDuration()) {
      op->phase = Op<T>::Phase::kAttempt;
      seq = ++op->seq;
      op->stub_id = 0;
    }
  }
  if (seq == 0) {
    if (cancelled) {
      Finish(op, op->Cancelled());
    } else if (!last_error.ok()) {
      // The backoff timer ran late (OnAttemptDone checked the deadline).
      Finish(op, GiveUp(last_error, attempts, "the deadline passed"));
    } else {
      Finish(op, absl::DeadlineExceededError(absl::StrCat(
                     op->operation,
                     ": the deadline leaves no time for an attempt")));
    }
    return;
  }
  CallOptions options;
  options.api_key = op->context.api_key;
  options.caller_key = op->context.caller_key;
  if (!op->context.traceparent.empty()) {
    options.extra_headers.emplace_back("traceparent", op->context.traceparent);
  }
  options.timeout = std::min(
      left, op->max_attempt_timeout.value_or(options_.max_attempt_timeout));
  const uint64_t stub_id = op->attempt(
      std::move(options),
      [self = shared_from_this(), op, seq](absl::StatusOr<T> result) {
        self->OnAttemptDone(op, seq, std::move(result));
      });
  bool cancel_now = false;
  {
    absl::MutexLock lock(&op->mu);
    if (op->phase == Op<T>::Phase::kAttempt && op->seq == seq) {
      op->stub_id = stub_id;
      cancel_now = op->cancelled && stub_id != 0;
    }
  }
  if (cancel_now) stub_->Cancel(stub_id);
}

template <typename T>
void TriverseConnectionImpl::OnAttemptDone(std::shared_ptr<Op<T>> op,
                                           uint64_t seq,
                                           absl::StatusOr<T> result) {
  bool cancelled = false;
  int attempts = 0;
  int raw_retries = 0;
  {
    absl::MutexLock lock(&op->mu);
    if (op->phase != Op<T>::Phase::kAttempt || op->seq != seq) return;
    op->phase = Op<T>::Phase::kIdle;
    op->stub_id = 0;
    cancelled = op->cancelled;
    attempts = static_cast<int>(op->seq);
    raw_retries = op->raw_retries;
    if (!result.ok()) op->last_error = result.status();
  }
  if (result.ok()) {
    BudgetSuccess();
    if constexpr (std::is_same_v<T, v1::Task>) {
      if (!cancelled && !op->task_id.empty()) {
        std::optional<absl::Duration> again =
            Undetermined(op->task_id, *result);
        if (again.has_value()) {
          const absl::Time last_start =
              op->context.deadline - options_.deadline_margin;
          if (scheduler_->Now() + *again >= last_start) {
            absl::Status status = absl::UnavailableError(absl::StrCat(
                op->operation, ": task ", op->task_id,
                " has a status the upstream calls unknown; it is read again "
                "until ",
                absl::FormatDuration(options_.unknown_status_grace),
                " after it was first seen so, then reported FAILED"));
            errors::AddRetryInfo(status, *again);
            Finish(op, std::move(status));
            return;
          }
          if (!ScheduleAgain(op, *again, /*uncounted=*/true)) {
            Finish(op, op->Cancelled());
          }
          return;
        }
      }
    }
    Finish(op, std::move(result));
    return;
  }
  if (cancelled) {
    Finish(op, op->Cancelled());
    return;
  }
  if (op->committed != nullptr && op->committed->load()) {
    // The caller has part of the result already: a retry would repeat it.
    Finish(op, std::move(result));
    return;
  }
  const absl::Status& status = result.status();
  const absl::Time now = scheduler_->Now();
  const absl::Time last_start = op->context.deadline - options_.deadline_margin;
  absl::Duration delay;
  bool raw_retry = false;
  if (status.code() == absl::StatusCode::kNotFound && now < op->raw_until) {
    // Read-after-write lag of a task created moments ago: not an error yet.
    raw_retry = true;
    delay = options_.read_after_write_backoff;
  } else {
    bool retryable = false;
    switch (status.code()) {
      case absl::StatusCode::kUnavailable:
        retryable = !op->rate_limit_only;
        break;
      case absl::StatusCode::kResourceExhausted:
        // With RetryInfo: a rate limit. Without: out of credits or a quota
        // that a retry does not refill.
        retryable = RetryDelay(status).has_value();
        break;
      case absl::StatusCode::kDeadlineExceeded:
        // The attempt may have had its effect before it timed out.
        if (op->rate_limit_only) break;
        // This attempt's timeout, while the caller's deadline has room.
        retryable = now < last_start;
        if (!retryable && attempts > 1) {
          Finish(op, GiveUp(status, attempts, "the deadline passed"));
          return;
        }
        break;
      default:
        break;
    }
    if (!retryable) {
      Finish(op, std::move(result));
      return;
    }
    BudgetFailure();
    const int counted = attempts - raw_retries;
    if (counted >= std::max(1, options_.max_attempts)) {
      Finish(op, GiveUp(status, attempts, "too many transient errors"));
      return;
    }
    if (!BudgetAllowsRetry()) {
      Finish(op, GiveUp(status, attempts, "retry budget exhausted"));
      return;
    }
    delay = std::max(Backoff(counted),
                     RetryDelay(status).value_or(absl::ZeroDuration()));
  }
  if (now + delay >= last_start) {
    Finish(op, GiveUp(status, attempts,
                      "the deadline leaves no room for another attempt"));
    return;
  }
  if (!ScheduleAgain(op, delay, raw_retry)) Finish(op, op->Cancelled());
}

template <typename T>
bool TriverseConnectionImpl::ScheduleAgain(const std::shared_ptr<Op<T>>& op,
                                           absl::Duration delay,
                                           bool uncounted) {
  {
    absl::MutexLock lock(&op->mu);
    if (op->cancelled) return false;
    if (uncounted) ++op->raw_retries;
    op->phase = Op<T>::Phase::kBackoff;
    // RunAfter never runs inline, so holding op->mu here is safe.
    op->timer = scheduler_->RunAfter(delay, [self = shared_from_this(), op] {
      {
        absl::MutexLock lock(&op->mu);
        if (op->phase != Op<T>::Phase::kBackoff) return;
        op->phase = Op<T>::Phase::kIdle;
      }
      self->StartAttempt(op);
    });
  }
  if (options_.on_retry) options_.on_retry(op->endpoint);
  return true;
}

std::optional<absl::Duration> TriverseConnectionImpl::Undetermined(
    const std::string& task_id, v1::Task& task) {
  const absl::Time now = scheduler_->Now();
  absl::MutexLock lock(&mu_);
  if (task.status() != v1::TASK_STATUS_UNSPECIFIED) {
    unknown_since_.erase(task_id);
    return std::nullopt;
  }
  auto [it, inserted] = unknown_since_.try_emplace(task_id, now);
  if (inserted && unknown_since_.size() > options_.max_unknown_entries) {
    // Bounded: forget the task first seen undetermined longest ago (it is
    // then given a fresh grace period, never reported early).
    auto oldest = std::min_element(
        unknown_since_.begin(), unknown_since_.end(),
        [](const auto& a, const auto& b) { return a.second < b.second; });
    if (oldest != it) unknown_since_.erase(oldest);
  }
  const absl::Duration waited = now - it->second;
  if (waited < options_.unknown_status_grace) {
    return std::min(options_.unknown_status_poll,
                    options_.unknown_status_grace - waited);
  }
  unknown_since_.erase(task_id);
  // Still undetermined after the grace period: the provider lists such a
  // status as final, so it is reported as a failure that keeps the
  // provider's words (the stub's error message names the status).
  task.set_status(v1::TASK_STATUS_FAILED);
  v1::TaskError* error = task.mutable_error();
  error->set_message(absl::StrCat(
      error->message().empty() ? "status unknown upstream" : error->message(),
      "; still so after ", absl::FormatDuration(waited)));
  return std::nullopt;
}

template <typename T>
void TriverseConnectionImpl::Finish(const std::shared_ptr<Op<T>>& op,
                                    typename Op<T>::Result result) {
  Callback<T> done;
  {
    absl::MutexLock lock(&op->mu);
    if (op->phase == Op<T>::Phase::kDone) return;
    op->phase = Op<T>::Phase::kDone;
    done = std::move(op->done);
  }
  {
    absl::MutexLock lock(&mu_);
    ops_.erase(op->id);
  }
  if (result.ok() && op->on_success) op->on_success(*result);
  if (done) done(std::move(result));
}

void TriverseConnectionImpl::Cancel(uint64_t id) {
  std::shared_ptr<OpBase> op;
  {
    absl::MutexLock lock(&mu_);
    auto it = ops_.find(id);
    if (it == ops_.end()) return;
    op = it->second;
  }
  op->Cancel(*this, op);
}

void TriverseConnectionImpl::BudgetFailure() {
  absl::MutexLock lock(&mu_);
  tokens_ = std::max(0.0, tokens_ - 1);
}

void TriverseConnectionImpl::BudgetSuccess() {
  absl::MutexLock lock(&mu_);
  tokens_ = std::min(options_.max_tokens, tokens_ + options_.token_ratio);
}

bool TriverseConnectionImpl::BudgetAllowsRetry() const {
  absl::MutexLock lock(&mu_);
  return tokens_ > options_.max_tokens / 2;
}

double TriverseConnectionImpl::RetryTokens() const {
  absl::MutexLock lock(&mu_);
  return tokens_;
}

absl::Duration TriverseConnectionImpl::Backoff(int retry) {
  const double cap_s = std::min(
      absl::ToDoubleSeconds(options_.initial_backoff) *
          std::pow(options_.backoff_multiplier, std::max(0, retry - 1)),
      absl::ToDoubleSeconds(options_.max_backoff));
  absl::MutexLock lock(&mu_);
  double f =
      options_.jitter ? options_.jitter() : absl::Uniform(bitgen_, 0.0, 1.0);
  f = std::clamp(f, 0.0, 1.0);
  return absl::Seconds(cap_s * f);
}

void TriverseConnectionImpl::RememberReadAfterWrite(
    const v1::TaskCreation& creation) {
  if (creation.task_uuid().empty() || !creation.has_read_after_write_header() ||
      creation.read_after_write_header().empty() ||
      !creation.has_read_after_write_deadline_seconds() ||
      creation.read_after_write_deadline_seconds() <= 0 ||
      options_.max_read_after_write_entries == 0) {
    return;
  }
  const absl::Time now = scheduler_->Now();
  ReadAfterWrite entry{
      creation.read_after_write_header(),
      now + absl::Seconds(creation.read_after_write_deadline_seconds())};
  absl::MutexLock lock(&mu_);
  if (raw_.size() >= options_.max_read_after_write_entries) {
    for (auto it = raw_.begin(); it != raw_.end();) {
      it = it->second.until <= now ? raw_.erase(it) : std::next(it);
    }
  }
  if (raw_.size() >= options_.max_read_after_write_entries) {
    // Still full: evict the entry whose window ends first. O(n), only when
    // the map is full of live windows.
    auto oldest = std::min_element(raw_.begin(), raw_.end(),
                                   [](const auto& a, const auto& b) {
                                     return a.second.until < b.second.until;
                                   });
    raw_.erase(oldest);
  }
  raw_[creation.task_uuid()] = std::move(entry);
}

std::optional<TriverseConnectionImpl::ReadAfterWrite>
TriverseConnectionImpl::LookupReadAfterWrite(absl::string_view uuid) {
  const absl::Time now = scheduler_->Now();
  absl::MutexLock lock(&mu_);
  auto it = raw_.find(uuid);
  if (it == raw_.end()) return std::nullopt;
  if (it->second.until <= now) {
    raw_.erase(it);
    return std::nullopt;
  }
  return it->second;
}

absl::StatusOr<std::optional<v1::TaskCreation>>
TriverseConnectionImpl::ClaimOrder(const std::string& order_key) {
  const absl::Time now = scheduler_->Now();
  absl::MutexLock lock(&mu_);
  auto it = orders_.find(order_key);
  if (it != orders_.end() && it->second.until <= now) {
    orders_.erase(it);
    it = orders_.end();
  }
  if (it != orders_.end()) {
    if (it->second.creation.has_value()) return it->second.creation;
    absl::Status busy = absl::AbortedError(
        "CreateTask: a creation with this client_order_id is in progress; "
        "retry to get its result");
    errors::AddRetryInfo(busy, errors::kDefaultRetryDelay);
    return busy;
  }
  if (orders_.size() >= options_.max_remembered_orders) {
    for (auto i = orders_.begin(); i != orders_.end();) {
      i = i->second.until <= now ? orders_.erase(i) : std::next(i);
    }
  }
  if (orders_.size() >= options_.max_remembered_orders) {
    // Still full: forget the completed creation that expires first (an
    // in-flight one is never forgotten while it runs).
    auto oldest = orders_.end();
    for (auto i = orders_.begin(); i != orders_.end(); ++i) {
      if (i->second.creation.has_value() &&
          (oldest == orders_.end() || i->second.until < oldest->second.until)) {
        oldest = i;
      }
    }
    if (oldest != orders_.end()) orders_.erase(oldest);
  }
  orders_[order_key] = OrderEntry{std::nullopt, absl::InfiniteFuture()};
  return std::optional<v1::TaskCreation>();
}

void TriverseConnectionImpl::SettleOrder(
    const std::string& order_key,
    const absl::StatusOr<v1::TaskCreation>& result) {
  absl::MutexLock lock(&mu_);
  if (!result.ok()) {
    // Nothing to answer a repeat with: a later call tries again.
    orders_.erase(order_key);
    return;
  }
  orders_[order_key] =
      OrderEntry{*result, scheduler_->Now() + options_.order_memory};
}

std::string TriverseConnectionImpl::NewOrderId() {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id = "gw-";
  absl::MutexLock lock(&mu_);
  for (int i = 0; i < 32; ++i) {
    id.push_back(kHex[absl::Uniform(bitgen_, 0, 16)]);
  }
  return id;
}

uint64_t TriverseConnectionImpl::CreateTask(
    const v1::CreateTaskRequest& request, CallContext context,
    Callback<v1::TaskCreation> done) {
  std::string order_id = request.client_order_id();
  if (!order_id.empty() && !IsValidClientOrderId(order_id)) {
    done(errors::InvalidArgument(
        {{"client_order_id", "must be 1-64 characters of [A-Za-z0-9_-]"}}));
    return 0;
  }
  if (order_id.empty()) order_id = NewOrderId();
  // A provider without idempotency keys: this connection remembers the
  // creations by (key, client_order_id) itself.
  const bool idempotent = stub_->capabilities().idempotent_create;
  std::string order_key;
  if (!idempotent) {
    order_key = absl::StrCat(context.api_key, "\n", order_id);
    absl::StatusOr<std::optional<v1::TaskCreation>> claimed =
        ClaimOrder(order_key);
    if (!claimed.ok() || claimed->has_value()) {
      if (claimed.ok()) (*claimed)->set_client_order_id(order_id);
      done(claimed.ok() ? absl::StatusOr<v1::TaskCreation>(**claimed)
                        : claimed.status());
      return 0;
    }
    done = [self = shared_from_this(), order_key, done = std::move(done)](
               absl::StatusOr<v1::TaskCreation> result) mutable {
      self->SettleOrder(order_key, result);
      done(std::move(result));
    };
  }
  auto op = std::make_shared<Op<v1::TaskCreation>>();
  // Without an idempotency key a failure after the request went out may
  // hide a created task: only a refusal that proves nothing was created
  // (a rate limit) is retried.
  op->rate_limit_only = !idempotent;
  op->operation = "CreateTask";
  op->endpoint = stub_->EndpointTemplate(StubOperation::kCreateTask, &request);
  op->context = std::move(context);
  op->attempt = [stub = stub_, request, order_id](
                    CallOptions o,
                    ProviderStub::Callback<v1::TaskCreation> cb) {
    return stub->CreateTask(request, order_id, std::move(o), std::move(cb));
  };
  op->on_success = [this, order_id](v1::TaskCreation& creation) {
    creation.set_client_order_id(order_id);
    RememberReadAfterWrite(creation);
  };
  {
    absl::MutexLock lock(&op->mu);
    op->done = std::move(done);
  }
  return Start(std::move(op));
}

uint64_t TriverseConnectionImpl::GetTask(absl::string_view task_uuid,
                                         CallContext context,
                                         Callback<v1::Task> done) {
  auto op = std::make_shared<Op<v1::Task>>();
  op->operation = "GetTask";
  op->endpoint = stub_->EndpointTemplate(StubOperation::kGetTask);
  op->context = std::move(context);
  op->task_id = std::string(task_uuid);
  std::string header;
  if (auto raw = LookupReadAfterWrite(task_uuid)) {
    header = std::move(raw->header);
    op->raw_until = raw->until;
  }
  op->attempt = [stub = stub_, uuid = std::string(task_uuid), header](
                    CallOptions o, ProviderStub::Callback<v1::Task> cb) {
    return stub->GetTask(uuid, header, std::move(o), std::move(cb));
  };
  {
    absl::MutexLock lock(&op->mu);
    op->done = std::move(done);
  }
  return Start(std::move(op));
}

// Simple: the reads without extra policy.
#define TRIVERSE_SIMPLE_OP(T, name, route, call) \
  auto op = std::make_shared<Op<T>>();           \
  op->operation = name;                          \
  op->endpoint = stub_->EndpointTemplate(route); \
  op->context = std::move(context);              \
  op->attempt = call;                            \
  {                                              \
    absl::MutexLock lock(&op->mu);               \
    op->done = std::move(done);                  \
  }                                              \
  return Start(std::move(op))

uint64_t TriverseConnectionImpl::QuotePrice(
    const v1::QuotePriceRequest& request, CallContext context,
    Callback<v1::PriceQuote> done) {
  TRIVERSE_SIMPLE_OP(
      v1::PriceQuote, "QuotePrice", StubOperation::kQuotePrice,
      ([stub = stub_, request](CallOptions o,
                               ProviderStub::Callback<v1::PriceQuote> cb) {
        return stub->QuotePrice(request, std::move(o), std::move(cb));
      }));
}

uint64_t TriverseConnectionImpl::GetDownloadUrl(
    absl::string_view task_uuid, CallContext context,
    Callback<v1::DownloadUrl> done) {
  TRIVERSE_SIMPLE_OP(
      v1::DownloadUrl, "GetDownloadUrl", StubOperation::kGetDownloadUrl,
      ([stub = stub_, uuid = std::string(task_uuid)](
           CallOptions o, ProviderStub::Callback<v1::DownloadUrl> cb) {
        return stub->GetDownloadUrl(uuid, std::move(o), std::move(cb));
      }));
}

uint64_t TriverseConnectionImpl::ListOwnModels(
    int64_t page, int64_t size, CallContext context,
    Callback<translate::OwnModelsPage> done) {
  TRIVERSE_SIMPLE_OP(
      translate::OwnModelsPage, "ListOwnModels", StubOperation::kListOwnModels,
      ([stub = stub_, page, size](
           CallOptions o, ProviderStub::Callback<translate::OwnModelsPage> cb) {
        return stub->ListOwnModels(page, size, std::move(o), std::move(cb));
      }));
}

uint64_t TriverseConnectionImpl::GetUser(CallContext context,
                                         Callback<v1::User> done) {
  TRIVERSE_SIMPLE_OP(
      v1::User, "GetUser", StubOperation::kGetUser,
      ([stub = stub_](CallOptions o, ProviderStub::Callback<v1::User> cb) {
        return stub->GetUser(std::move(o), std::move(cb));
      }));
}

uint64_t TriverseConnectionImpl::GetBalance(CallContext context,
                                            Callback<v1::Balance> done) {
  TRIVERSE_SIMPLE_OP(
      v1::Balance, "GetBalance", StubOperation::kGetBalance,
      ([stub = stub_](CallOptions o, ProviderStub::Callback<v1::Balance> cb) {
        return stub->GetBalance(std::move(o), std::move(cb));
      }));
}

#undef TRIVERSE_SIMPLE_OP

namespace {

// Uploads and downloads move up to hundreds of megabytes: their attempts may
// run this long (or options' max_attempt_timeout, when longer), within the
// caller's deadline.
constexpr absl::Duration kMaxTransferAttemptTimeout = absl::Minutes(10);

// Downloaded is a DownloadAsset attempt's result: the bytes went to the sink.
struct Downloaded {};

// DownloadState is one DownloadAsset call's sink, shared by its attempts.
// The sink's callbacks run on the transport thread, one at a time.
struct DownloadState {
  DownloadSink sink;
  // Set when an attempt delivered the metadata: no retry after that.
  std::atomic<bool> committed{false};
  // Set by Cancel(): no more sink calls start.
  std::atomic<bool> cancelled{false};
};

}  // namespace

uint64_t TriverseConnectionImpl::UploadFile(UploadSpec file,
                                            CallContext context,
                                            Callback<std::string> done) {
  auto op = std::make_shared<Op<std::string>>();
  op->operation = "UploadFile";
  op->endpoint = stub_->EndpointTemplate(file.kind == v1::FILE_KIND_MODEL
                                             ? StubOperation::kUploadModel
                                             : StubOperation::kUploadImage);
  op->context = std::move(context);
  op->rate_limit_only = true;
  op->max_attempt_timeout =
      std::max(options_.max_attempt_timeout, kMaxTransferAttemptTimeout);
  // Every attempt sends the same file; the stub takes its own copy (a
  // retry is rare: only after a 429).
  op->attempt = [stub = stub_,
                 spec = std::make_shared<const UploadSpec>(std::move(file))](
                    CallOptions o, ProviderStub::Callback<std::string> cb) {
    return stub->UploadFile(*spec, std::move(o), std::move(cb));
  };
  {
    absl::MutexLock lock(&op->mu);
    op->done = std::move(done);
  }
  return Start(std::move(op));
}

uint64_t TriverseConnectionImpl::DownloadAsset(
    absl::string_view task_uuid, CallContext context, DownloadSink sink,
    absl::AnyInvocable<void(absl::Status)> done) {
  auto state = std::make_shared<DownloadState>();
  state->sink = std::move(sink);
  auto op = std::make_shared<Op<Downloaded>>();
  op->operation = "DownloadAsset";
  op->endpoint = stub_->EndpointTemplate(StubOperation::kDownloadAsset);
  op->context = std::move(context);
  op->committed =
      std::shared_ptr<const std::atomic<bool>>(state, &state->committed);
  op->on_cancel = [state] { state->cancelled.store(true); };
  op->max_attempt_timeout =
      std::max(options_.max_attempt_timeout, kMaxTransferAttemptTimeout);
  op->attempt = [stub = stub_, uuid = std::string(task_uuid), state](
                    CallOptions o, ProviderStub::Callback<Downloaded> cb) {
    DownloadSink attempt_sink;
    attempt_sink.on_metadata = [state](v1::AssetMetadata metadata) {
      state->committed.store(true);
      if (state->cancelled.load() || !state->sink.on_metadata) return;
      state->sink.on_metadata(std::move(metadata));
    };
    attempt_sink.on_chunk = [state](absl::string_view chunk) {
      if (state->cancelled.load()) return false;
      return !state->sink.on_chunk || state->sink.on_chunk(chunk);
    };
    return stub->DownloadAsset(
        uuid, std::move(o), std::move(attempt_sink),
        [cb = std::move(cb)](absl::Status status) mutable {
          if (status.ok()) return cb(Downloaded{});
          cb(std::move(status));
        });
  };
  {
    absl::MutexLock lock(&op->mu);
    op->done = [done = std::move(done)](absl::StatusOr<Downloaded> r) mutable {
      done(r.status());
    };
  }
  return Start(std::move(op));
}

}  // namespace triverse::upstream
