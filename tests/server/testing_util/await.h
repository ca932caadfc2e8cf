// Await: run one asynchronous call (a stub's or a connection's) and wait for
// its callback, for tests of the layers below the gRPC service.
#ifndef TRIVERSE_TESTS_SERVER_TESTING_UTIL_AWAIT_H_
#define TRIVERSE_TESTS_SERVER_TESTING_UTIL_AWAIT_H_

#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "google/rpc/error_details.pb.h"
#include "server/errors/upstream_status.h"

namespace triverse::testing_util {

// Await starts a call through `start(callback)` and waits (at most
// `timeout`) for its result. The result lives in shared memory, so that a
// callback arriving after a timed-out wait writes to live memory.
template <typename T, typename Start>
absl::StatusOr<T> Await(Start start,
                        absl::Duration timeout = absl::Seconds(30)) {
  struct Result {
    absl::Notification done;
    absl::StatusOr<T> value = absl::UnknownError("no callback");
  };
  auto result = std::make_shared<Result>();
  start([result](absl::StatusOr<T> v) {
    result->value = std::move(v);
    result->done.Notify();
  });
  if (!result->done.WaitForNotificationWithTimeout(timeout)) {
    return absl::DeadlineExceededError("test: no callback in time");
  }
  return result->value;
}

// ErrorInfoOf returns the ErrorInfo attached to `status` (an empty one
// without).
inline google::rpc::ErrorInfo ErrorInfoOf(const absl::Status& status) {
  for (const auto& any : errors::Details(status)) {
    google::rpc::ErrorInfo info;
    if (any.UnpackTo(&info)) return info;
  }
  return google::rpc::ErrorInfo();
}

}  // namespace triverse::testing_util

#endif  // TRIVERSE_TESTS_SERVER_TESTING_UTIL_AWAIT_H_
