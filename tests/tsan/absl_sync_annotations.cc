// ThreadSanitizer annotations for the Debian build of Abseil's synchronization
// primitives (linked into every executable of the `tsan` preset only).
//
// Debian's libabsl_synchronization.so is not built with -fsanitize=thread, so
// TSan cannot see that absl::Mutex, absl::CondVar or absl::Notification order
// memory: every access guarded by an absl::Mutex (ours and gRPC's, whose
// grpc_core::Mutex and gpr_mu are absl::Mutex) would be reported as a race.
// An instrumented Abseil is not packaged, and building Abseil and gRPC from
// source under TSan is out of reach of a CI run.
//
// Instead, this file defines the out-of-line entry points of those classes in
// the executable itself. The dynamic linker binds every caller (our code, the
// Abseil library's own calls through its PLT, gRPC) to these definitions; each
// one tells TSan about the happens-before edge the primitive provides
// (__tsan_release before giving a lock up or notifying, __tsan_acquire after
// taking it or being woken) and then calls the library's implementation,
// looked up with dlsym(RTLD_NEXT). The primitives keep their exact behaviour;
// TSan merely learns their ordering, as it would from an instrumented build.
#include <dlfcn.h>
#include <sanitizer/tsan_interface.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>

// ThreadSanitizer's dynamic annotations (not declared in its public headers).
extern "C" void AnnotateIgnoreReadsBegin(const char* file, int line);
extern "C" void AnnotateIgnoreReadsEnd(const char* file, int line);

#include "absl/base/internal/spinlock_wait.h"
#include "absl/base/options.h"
#include "absl/synchronization/blocking_counter.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

namespace {

#define TRIVERSE_STRINGIFY_INNER(x) #x
#define TRIVERSE_STRINGIFY(x) TRIVERSE_STRINGIFY_INNER(x)

// Itanium mangling of `absl::<inline namespace>::<rest>`: `rest` is the
// mangled remainder, e.g. "5Mutex4LockEv" (a const member function starts
// with "K", which goes before the namespace: pass it in `qualifier`).
std::string Mangle(const char* qualifier, const char* rest) {
  const std::string ns = TRIVERSE_STRINGIFY(ABSL_OPTION_INLINE_NAMESPACE_NAME);
  return std::string("_ZN") + qualifier + "4absl" + std::to_string(ns.size()) +
         ns + rest;
}

void* Real(const char* qualifier, const char* rest) {
  const std::string name = Mangle(qualifier, rest);
  void* fn = dlsym(RTLD_NEXT, name.c_str());
  if (fn == nullptr) {
    std::fprintf(stderr, "tsan annotations: %s not found: %s\n", name.c_str(),
                 dlerror());
    std::abort();
  }
  return fn;
}

template <typename Fn>
Fn Lookup(const char* qualifier, const char* rest) {
  return reinterpret_cast<Fn>(Real(qualifier, rest));
}

// The address TSan synchronizes on for a Mutex: the Mutex itself.
void* Key(const absl::Mutex* mu) { return const_cast<absl::Mutex*>(mu); }

// Notification's HasBeenNotified() is inline: an acquire load of its atomic
// `notified_yet_` (declared right after its Mutex). Releasing on that address
// in Notify() lets TSan pair the two.
void* NotifiedFlag(const absl::Notification* n) {
  static_assert(sizeof(absl::Notification) >= sizeof(absl::Mutex) + 1,
                "absl::Notification is a Mutex followed by an atomic<bool>");
  return const_cast<char*>(reinterpret_cast<const char*>(n) +
                           sizeof(absl::Mutex));
}

// Abseil evaluates a Condition inside its own calls: the waiting thread in
// LockWhen/Await before our annotation says it holds the lock (or after
// Await's says it gave it up), and the unlocking thread on behalf of waiters
// inside Unlock, after our release. Those reads are made under the lock, but
// the annotations cannot place them inside the critical section, so the
// reads (only: a Condition does not write) made inside the library's calls
// are not recorded.
class IgnoreReads {
 public:
  IgnoreReads() { AnnotateIgnoreReadsBegin(__FILE__, __LINE__); }
  ~IgnoreReads() { AnnotateIgnoreReadsEnd(__FILE__, __LINE__); }
  IgnoreReads(const IgnoreReads&) = delete;
  IgnoreReads& operator=(const IgnoreReads&) = delete;
};

// Calls the library's implementation with condition reads ignored.
template <typename Fn, typename... Args>
auto Call(Fn fn, Args&&... args) {
  IgnoreReads ignore;
  return fn(std::forward<Args>(args)...);
}

}  // namespace

namespace absl {
ABSL_NAMESPACE_BEGIN

// --- Mutex -------------------------------------------------------------------

void Mutex::Lock() {
  static auto real = Lookup<void (*)(Mutex*)>("", "5Mutex4LockEv");
  Call(real, this);
  __tsan_acquire(Key(this));
}

void Mutex::ReaderLock() {
  static auto real = Lookup<void (*)(Mutex*)>("", "5Mutex10ReaderLockEv");
  Call(real, this);
  __tsan_acquire(Key(this));
}

bool Mutex::TryLock() {
  static auto real = Lookup<bool (*)(Mutex*)>("", "5Mutex7TryLockEv");
  const bool locked = Call(real, this);
  if (locked) __tsan_acquire(Key(this));
  return locked;
}

bool Mutex::ReaderTryLock() {
  static auto real = Lookup<bool (*)(Mutex*)>("", "5Mutex13ReaderTryLockEv");
  const bool locked = Call(real, this);
  if (locked) __tsan_acquire(Key(this));
  return locked;
}

void Mutex::Unlock() {
  static auto real = Lookup<void (*)(Mutex*)>("", "5Mutex6UnlockEv");
  __tsan_release(Key(this));
  Call(real, this);
}

void Mutex::ReaderUnlock() {
  static auto real = Lookup<void (*)(Mutex*)>("", "5Mutex12ReaderUnlockEv");
  __tsan_release(Key(this));
  Call(real, this);
}

void Mutex::LockWhen(const Condition& cond) {
  static auto real = Lookup<void (*)(Mutex*, const Condition&)>(
      "", "5Mutex8LockWhenERKNS0_9ConditionE");
  Call(real, this, cond);
  __tsan_acquire(Key(this));
}

void Mutex::ReaderLockWhen(const Condition& cond) {
  static auto real = Lookup<void (*)(Mutex*, const Condition&)>(
      "", "5Mutex14ReaderLockWhenERKNS0_9ConditionE");
  Call(real, this, cond);
  __tsan_acquire(Key(this));
}

bool Mutex::LockWhenWithTimeout(const Condition& cond, Duration timeout) {
  static auto real = Lookup<bool (*)(Mutex*, const Condition&, Duration)>(
      "", "5Mutex19LockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  const bool met = Call(real, this, cond, timeout);
  __tsan_acquire(Key(this));  // held on return either way
  return met;
}

bool Mutex::LockWhenWithDeadline(const Condition& cond, Time deadline) {
  static auto real = Lookup<bool (*)(Mutex*, const Condition&, Time)>(
      "", "5Mutex20LockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  const bool met = Call(real, this, cond, deadline);
  __tsan_acquire(Key(this));
  return met;
}

bool Mutex::ReaderLockWhenWithTimeout(const Condition& cond, Duration timeout) {
  static auto real = Lookup<bool (*)(Mutex*, const Condition&, Duration)>(
      "", "5Mutex25ReaderLockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  const bool met = Call(real, this, cond, timeout);
  __tsan_acquire(Key(this));
  return met;
}

bool Mutex::ReaderLockWhenWithDeadline(const Condition& cond, Time deadline) {
  static auto real = Lookup<bool (*)(Mutex*, const Condition&, Time)>(
      "", "5Mutex26ReaderLockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  const bool met = Call(real, this, cond, deadline);
  __tsan_acquire(Key(this));
  return met;
}

// Await gives the lock up while it waits and holds it again on return.
void Mutex::Await(const Condition& cond) {
  static auto real = Lookup<void (*)(Mutex*, const Condition&)>(
      "", "5Mutex5AwaitERKNS0_9ConditionE");
  __tsan_release(Key(this));
  Call(real, this, cond);
  __tsan_acquire(Key(this));
}

bool Mutex::AwaitWithTimeout(const Condition& cond, Duration timeout) {
  static auto real = Lookup<bool (*)(Mutex*, const Condition&, Duration)>(
      "", "5Mutex16AwaitWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  __tsan_release(Key(this));
  const bool met = Call(real, this, cond, timeout);
  __tsan_acquire(Key(this));
  return met;
}

bool Mutex::AwaitWithDeadline(const Condition& cond, Time deadline) {
  static auto real = Lookup<bool (*)(Mutex*, const Condition&, Time)>(
      "", "5Mutex17AwaitWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  __tsan_release(Key(this));
  const bool met = Call(real, this, cond, deadline);
  __tsan_acquire(Key(this));
  return met;
}

// --- CondVar -----------------------------------------------------------------

void CondVar::Wait(Mutex* mu) {
  static auto real =
      Lookup<void (*)(CondVar*, Mutex*)>("", "7CondVar4WaitEPNS0_5MutexE");
  __tsan_release(Key(mu));
  Call(real, this, mu);
  __tsan_acquire(Key(mu));
}

bool CondVar::WaitWithTimeout(Mutex* mu, Duration timeout) {
  static auto real = Lookup<bool (*)(CondVar*, Mutex*, Duration)>(
      "", "7CondVar15WaitWithTimeoutEPNS0_5MutexENS0_8DurationE");
  __tsan_release(Key(mu));
  const bool timed_out = Call(real, this, mu, timeout);
  __tsan_acquire(Key(mu));
  return timed_out;
}

bool CondVar::WaitWithDeadline(Mutex* mu, Time deadline) {
  static auto real = Lookup<bool (*)(CondVar*, Mutex*, Time)>(
      "", "7CondVar16WaitWithDeadlineEPNS0_5MutexENS0_4TimeE");
  __tsan_release(Key(mu));
  const bool timed_out = Call(real, this, mu, deadline);
  __tsan_acquire(Key(mu));
  return timed_out;
}

// --- Notification ------------------------------------------------------------

void Notification::Notify() {
  static auto real =
      Lookup<void (*)(Notification*)>("", "12Notification6NotifyEv");
  __tsan_release(this);
  __tsan_release(NotifiedFlag(this));
  Call(real, this);
}

void Notification::WaitForNotification() const {
  static auto real = Lookup<void (*)(const Notification*)>(
      "K", "12Notification19WaitForNotificationEv");
  Call(real, this);
  __tsan_acquire(const_cast<Notification*>(this));
}

bool Notification::WaitForNotificationWithTimeout(Duration timeout) const {
  static auto real = Lookup<bool (*)(const Notification*, Duration)>(
      "K", "12Notification30WaitForNotificationWithTimeoutENS0_8DurationE");
  const bool notified = Call(real, this, timeout);
  if (notified) __tsan_acquire(const_cast<Notification*>(this));
  return notified;
}

bool Notification::WaitForNotificationWithDeadline(Time deadline) const {
  static auto real = Lookup<bool (*)(const Notification*, Time)>(
      "K", "12Notification31WaitForNotificationWithDeadlineENS0_4TimeE");
  const bool notified = Call(real, this, deadline);
  if (notified) __tsan_acquire(const_cast<Notification*>(this));
  return notified;
}

// --- BlockingCounter ---------------------------------------------------------

bool BlockingCounter::DecrementCount() {
  static auto real = Lookup<bool (*)(BlockingCounter*)>(
      "", "15BlockingCounter14DecrementCountEv");
  __tsan_release(this);
  return Call(real, this);
}

void BlockingCounter::Wait() {
  static auto real =
      Lookup<void (*)(BlockingCounter*)>("", "15BlockingCounter4WaitEv");
  Call(real, this);
  __tsan_acquire(this);
}

// --- call_once
// -----------------------------------------------------------------

// absl::call_once is inline, but a thread that finds the once-function running
// waits in SpinLockWait, whose acquire load of the control word (seeing it
// done) is in the library. Acquiring on the control word after it returns
// pairs with the inline release that marked it done.
namespace base_internal {

uint32_t SpinLockWait(std::atomic<uint32_t>* w, int n,
                      const SpinLockWaitTransition trans[],
                      SchedulingMode scheduling_mode) {
  static auto real =
      Lookup<uint32_t (*)(std::atomic<uint32_t>*, int,
                          const SpinLockWaitTransition[], SchedulingMode)>(
          "",
          "13base_internal12SpinLockWaitEPSt6atomicIjEiPKNS1_"
          "22SpinLockWaitTransitionENS1_14SchedulingModeE");
  const uint32_t result = Call(real, w, n, trans, scheduling_mode);
  __tsan_acquire(w);
  return result;
}

}  // namespace base_internal

ABSL_NAMESPACE_END
}  // namespace absl
