// TriverseConnection: the policy layer above the Stub. It retries what is
// safe to retry (reads, and task creations under a client_order_id that it
// generates when the caller gave none), with full-jitter exponential backoff
// that honours RetryInfo (Retry-After), a per-connection retry budget (gRPC
// A6 throttling), per-attempt timeouts derived from the caller's deadline,
// read-after-write visibility for freshly created tasks, and cancellation.
#ifndef TRIVERSE_SERVER_UPSTREAM_TRIVERSE_CONNECTION_H_
#define TRIVERSE_SERVER_UPSTREAM_TRIVERSE_CONNECTION_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/random/random.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/translate/upstream_json.h"
#include "server/upstream/provider_stub.h"
#include "server/upstream/scheduler.h"
#include "triverse/v1/account.pb.h"
#include "triverse/v1/task.pb.h"
#include "triverse/v1/task_service.pb.h"

namespace triverse::upstream {

// CallContext is what every Connection call takes from its gRPC caller.
struct CallContext {
  // The upstream API key (see CallOptions::api_key); never logged.
  std::string api_key;
  // True when api_key came from the caller's metadata (CallOptions).
  bool caller_key = false;
  // The caller's absolute deadline; every attempt and backoff fits in it.
  // InfiniteFuture: only the per-attempt cap applies.
  absl::Time deadline = absl::InfiniteFuture();
  // W3C trace context sent upstream as the `traceparent` header (empty:
  // none).
  std::string traceparent;
};

// TriverseConnection is the interface of the policy layer. Every method
// starts a call and returns at once with a non-zero id for Cancel(); `done`
// runs exactly once.
//
// Thread-safety: implementations are thread-safe; methods may be called
// from any thread, including from inside a callback.
//
// Error codes: those of the ProviderStub (see provider_stub.h), the last
// attempt's error when retries stop (its message then says how many
// attempts were made and why they stopped; its details are kept), plus:
//   DEADLINE_EXCEEDED  the deadline left no room for a first attempt.
//   CANCELLED          Cancel() was called before the call completed.
//   INVALID_ARGUMENT   CreateTask with a client_order_id that is not 1-64
//                      characters of [A-Za-z0-9_-] (nothing was sent).
class TriverseConnection {
 public:
  template <typename T>
  using Callback = absl::AnyInvocable<void(absl::StatusOr<T>)>;

  virtual ~TriverseConnection() = default;

  // CreateTask is exactly-once: it sends the request's client_order_id, or
  // one it generates ("gw-" + 32 hex digits), the same on every attempt.
  // The result's client_order_id is the one sent. With a provider that
  // honours no idempotency key (capabilities().idempotent_create false),
  // the connection itself remembers each creation by (key,
  // client_order_id) for order_memory: a repeat gets the same task back
  // without a request, a repeat while the first is in flight gets ABORTED
  // with RetryInfo, and only a rate-limit refusal is retried (a failure
  // after the request went out may hide a created task; the memory is per
  // gateway process).
  virtual uint64_t CreateTask(const v1::CreateTaskRequest& request,
                              CallContext context,
                              Callback<v1::TaskCreation> done) = 0;
  // GetTask: within the read-after-write window of a task this connection
  // created, sends the announced header and retries NOT_FOUND. A status the
  // provider calls unknown (TASK_STATUS_UNSPECIFIED from the stub) is read
  // again every unknown_status_poll until unknown_status_grace has passed
  // since the task was first seen so, then reported FAILED (the error
  // message says the status stayed unknown); when the deadline comes first:
  // UNAVAILABLE with RetryInfo.
  virtual uint64_t GetTask(absl::string_view task_uuid, CallContext context,
                           Callback<v1::Task> done) = 0;
  // QuotePrice is a pure computation upstream (no side effect): retried like
  // a read.
  virtual uint64_t QuotePrice(const v1::QuotePriceRequest& request,
                              CallContext context,
                              Callback<v1::PriceQuote> done) = 0;
  virtual uint64_t GetDownloadUrl(absl::string_view task_uuid,
                                  CallContext context,
                                  Callback<v1::DownloadUrl> done) = 0;
  virtual uint64_t ListOwnModels(int64_t page, int64_t size,
                                 CallContext context,
                                 Callback<translate::OwnModelsPage> done) = 0;
  virtual uint64_t GetUser(CallContext context, Callback<v1::User> done) = 0;
  virtual uint64_t GetBalance(CallContext context,
                              Callback<v1::Balance> done) = 0;
  // UploadFile uploads one file; the result is its file_key. Every upstream
  // upload stores a new file and counts against the upload rate limit, so
  // only a refusal that proves nothing was stored is retried (429/2000:
  // RESOURCE_EXHAUSTED with RetryInfo, after at least its delay, within the
  // budget, max_attempts and the deadline); every other error, UNAVAILABLE
  // and DEADLINE_EXCEEDED included, is returned as it is. An attempt may
  // run up to the deadline (less the margin), capped at the larger of
  // max_attempt_timeout and 10 minutes: a large file takes time.
  virtual uint64_t UploadFile(UploadSpec file, CallContext context,
                              Callback<std::string> done) = 0;
  // DownloadAsset streams a task's asset into `sink` (see DownloadSink; its
  // callbacks run on the transport thread). It is retried like a read while
  // nothing has reached the sink: an upstream error, a failure to connect
  // or a broken connection before the response head. Once on_metadata has
  // run, the first error ends the call (`done` gets it unchanged; the sink
  // got part of the body). Attempts are capped like UploadFile's. After
  // Cancel(), no further sink callback starts (one already running on the
  // transport thread may finish) and `done` gets CANCELLED.
  virtual uint64_t DownloadAsset(
      absl::string_view task_uuid, CallContext context, DownloadSink sink,
      absl::AnyInvocable<void(absl::Status)> done) = 0;

  // Cancel stops call `id`: the in-flight attempt is cancelled (stub
  // Cancel) or the pending backoff timer removed, and `done` runs once with
  // CANCELLED (or with the attempt's success, when it had already
  // succeeded: a created task is never hidden). Unknown, completed and 0
  // ids are ignored.
  virtual void Cancel(uint64_t id) = 0;
};

// TriverseConnectionOptions are the policy knobs; the defaults follow gRPC
// A6 (see the engineering guide §4).
struct TriverseConnectionOptions {
  // Attempts per call, the first included. Must be >= 1.
  int max_attempts = 4;
  // Backoff before retry n (n >= 1): uniform in
  // [0, min(initial * multiplier^(n-1), max)], but never shorter than the
  // error's RetryInfo delay.
  absl::Duration initial_backoff = absl::Milliseconds(100);
  double backoff_multiplier = 1.6;
  absl::Duration max_backoff = absl::Seconds(5);
  // Retry budget (gRPC A6 throttling): a retryable failure costs 1 token, a
  // success gives back token_ratio; retries only while tokens > max / 2.
  double max_tokens = 10;
  double token_ratio = 0.1;
  // Every attempt's timeout is the time left until the deadline minus this
  // margin (room to answer the caller), capped by max_attempt_timeout.
  absl::Duration deadline_margin = absl::Milliseconds(50);
  absl::Duration max_attempt_timeout = absl::Seconds(30);
  // Read-after-write: windows remembered at most (oldest evicted), and the
  // delay between NOT_FOUND retries inside a window (these retries count
  // neither against max_attempts nor against the budget; the window and
  // the deadline bound them).
  size_t max_read_after_write_entries = 10000;
  absl::Duration read_after_write_backoff = absl::Milliseconds(200);
  // A task status the provider calls unknown is read again every
  // unknown_status_poll (not counted against max_attempts nor the budget)
  // until unknown_status_grace has passed since it was first seen so; at
  // most max_unknown_entries such tasks are remembered.
  absl::Duration unknown_status_grace = absl::Seconds(20);
  absl::Duration unknown_status_poll = absl::Seconds(2);
  size_t max_unknown_entries = 10000;
  // Providers without idempotency keys: creations remembered by (key,
  // client_order_id), at most max_remembered_orders, each for
  // order_memory.
  size_t max_remembered_orders = 100000;
  absl::Duration order_memory = absl::Hours(24);
  // The jitter source: returns a value in [0, 1]. Null: absl::BitGen.
  // Tests set it to make backoffs deterministic. Called under a lock.
  absl::AnyInvocable<double()> jitter;
  // Called once per retry scheduled (after its backoff starts; the
  // read-after-write NOT_FOUND retries included) with the call's endpoint
  // template (ProviderStub::EndpointTemplate). Runs
  // on the thread that saw the failed attempt, outside the connection's
  // locks; must not block. Null: nothing is reported.
  std::function<void(absl::string_view endpoint)> on_retry;
};

// TriverseConnectionImpl implements the policy over a ProviderStub.
//
// Ownership: create it with MakeTriverseConnection (it must be owned by a
// std::shared_ptr: calls in flight keep it alive). `scheduler` is not owned
// and must outlive every call; the stub is shared.
//
// Threads: `done` runs on the stub's transport thread (the attempt's
// result), on the scheduler's thread (a retry that fails before reaching
// the network), on the thread calling Cancel (a call cancelled during its
// backoff), or inline in the starting method (invalid argument, no time
// left). It must not block.
class TriverseConnectionImpl
    : public TriverseConnection,
      public std::enable_shared_from_this<TriverseConnectionImpl> {
 public:
  TriverseConnectionImpl(std::shared_ptr<ProviderStub> stub,
                         Scheduler* scheduler,
                         TriverseConnectionOptions options);

  uint64_t CreateTask(const v1::CreateTaskRequest& request, CallContext context,
                      Callback<v1::TaskCreation> done) override;
  uint64_t GetTask(absl::string_view task_uuid, CallContext context,
                   Callback<v1::Task> done) override;
  uint64_t QuotePrice(const v1::QuotePriceRequest& request, CallContext context,
                      Callback<v1::PriceQuote> done) override;
  uint64_t GetDownloadUrl(absl::string_view task_uuid, CallContext context,
                          Callback<v1::DownloadUrl> done) override;
  uint64_t ListOwnModels(int64_t page, int64_t size, CallContext context,
                         Callback<translate::OwnModelsPage> done) override;
  uint64_t GetUser(CallContext context, Callback<v1::User> done) override;
  uint64_t GetBalance(CallContext context, Callback<v1::Balance> done) override;
  uint64_t UploadFile(UploadSpec file, CallContext context,
                      Callback<std::string> done) override;
  uint64_t DownloadAsset(absl::string_view task_uuid, CallContext context,
                         DownloadSink sink,
                         absl::AnyInvocable<void(absl::Status)> done) override;
  void Cancel(uint64_t id) override;

  // RetryTokens is the budget's current level (for tests and metrics).
  double RetryTokens() const;

 private:
  // One call's state machine (defined in the .cc).
  class OpBase;
  template <typename T>
  class Op;

  struct ReadAfterWrite {
    std::string header;
    absl::Time until;
  };
  // A creation remembered for a provider without idempotency keys: nullopt
  // while in flight.
  struct OrderEntry {
    std::optional<v1::TaskCreation> creation;
    absl::Time until;
  };

  template <typename T>
  uint64_t Start(std::shared_ptr<Op<T>> op);
  template <typename T>
  void StartAttempt(std::shared_ptr<Op<T>> op);
  template <typename T>
  void OnAttemptDone(std::shared_ptr<Op<T>> op, uint64_t seq,
                     absl::StatusOr<T> result);
  template <typename T>
  void Finish(const std::shared_ptr<Op<T>>& op, typename Op<T>::Result result);
  // ScheduleAgain starts the next attempt after `delay` (`uncounted`: not
  // counted against max_attempts); false when the call was cancelled.
  template <typename T>
  bool ScheduleAgain(const std::shared_ptr<Op<T>>& op, absl::Duration delay,
                     bool uncounted);
  // Undetermined: when `task` (read for `task_id`) has no status the
  // contract can name, the delay before reading it again; nullopt when it
  // is to be reported (after the grace period, `task` is made FAILED).
  std::optional<absl::Duration> Undetermined(const std::string& task_id,
                                             v1::Task& task);
  // ClaimOrder: a remembered creation, or nullopt after marking the order
  // in flight, or ABORTED while another call has it in flight.
  absl::StatusOr<std::optional<v1::TaskCreation>> ClaimOrder(
      const std::string& order_key);
  // SettleOrder remembers a creation's result (a failure forgets the order).
  void SettleOrder(const std::string& order_key,
                   const absl::StatusOr<v1::TaskCreation>& result);

  // The retry budget: BudgetFailure/BudgetSuccess adjust the tokens;
  // BudgetAllowsRetry tells whether a retry may be spent.
  void BudgetFailure();
  void BudgetSuccess();
  bool BudgetAllowsRetry() const;
  absl::Duration Backoff(int retry);
  void RememberReadAfterWrite(const v1::TaskCreation& creation);
  std::optional<ReadAfterWrite> LookupReadAfterWrite(absl::string_view uuid);
  std::string NewOrderId();

  const std::shared_ptr<ProviderStub> stub_;
  Scheduler* const scheduler_;
  TriverseConnectionOptions options_;

  mutable absl::Mutex mu_;
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  std::map<uint64_t, std::shared_ptr<OpBase>> ops_ ABSL_GUARDED_BY(mu_);
  double tokens_ ABSL_GUARDED_BY(mu_);
  absl::BitGen bitgen_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, ReadAfterWrite, std::less<>> raw_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, absl::Time, std::less<>> unknown_since_
      ABSL_GUARDED_BY(mu_);
  std::map<std::string, OrderEntry, std::less<>> orders_ ABSL_GUARDED_BY(mu_);
};

// MakeTriverseConnection returns a TriverseConnectionImpl (see there for
// ownership and threads).
std::shared_ptr<TriverseConnection> MakeTriverseConnection(
    std::shared_ptr<ProviderStub> stub, Scheduler* scheduler,
    TriverseConnectionOptions options = {});

// IsValidClientOrderId: 1-64 characters of [A-Za-z0-9_-].
bool IsValidClientOrderId(absl::string_view id);

}  // namespace triverse::upstream

#endif  // TRIVERSE_SERVER_UPSTREAM_TRIVERSE_CONNECTION_H_
