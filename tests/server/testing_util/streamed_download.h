// StreamedDownload records a DownloadAsset call (stub or connection) as it
// streams, for tests that wait for bytes while the transfer is open.
#ifndef TRIVERSE_TESTS_SERVER_TESTING_UTIL_STREAMED_DOWNLOAD_H_
#define TRIVERSE_TESTS_SERVER_TESTING_UTIL_STREAMED_DOWNLOAD_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "server/upstream/provider_stub.h"

namespace triverse::testing_util {

using upstream::DownloadSink;

// StreamedDownload watches one DownloadAsset call as it streams: the test waits
// for bytes to arrive while the transfer is still open.
class StreamedDownload {
 public:
  // Sink records into this object, which must outlive the download (hold
  // it in a shared_ptr captured by the callbacks). The sink stops the
  // download (returns false) once `stop_after` bytes arrived.
  static DownloadSink Sink(std::shared_ptr<StreamedDownload> s,
                           size_t stop_after = std::string::npos) {
    DownloadSink sink;
    sink.on_metadata = [s](v1::AssetMetadata m) {
      absl::MutexLock lock(&s->mu_);
      s->metadata_.push_back(std::move(m));
    };
    sink.on_chunk = [s, stop_after](absl::string_view chunk) {
      absl::MutexLock lock(&s->mu_);
      if (s->metadata_.empty()) ++s->chunks_before_metadata_;
      ++s->chunks_;
      s->body_.append(chunk.data(), chunk.size());
      return s->body_.size() < stop_after;
    };
    return sink;
  }
  static absl::AnyInvocable<void(absl::Status)> Done(
      std::shared_ptr<StreamedDownload> s) {
    return [s](absl::Status status) {
      absl::MutexLock lock(&s->mu_);
      ++s->done_calls_;
      s->status_ = std::move(status);
      if (!s->done_.HasBeenNotified()) s->done_.Notify();
    };
  }

  // WaitForBytes waits until `n` body bytes arrived or the download ended.
  bool WaitForBytes(size_t n) {
    absl::MutexLock lock(&mu_);
    auto cond = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return body_.size() >= n || done_calls_ > 0;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&cond), kWait) &&
           body_.size() >= n;
  }
  // WaitDone waits for `done` and returns its status.
  absl::Status WaitDone() {
    absl::MutexLock lock(&mu_);
    auto cond = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return done_calls_ > 0;
    };
    if (!mu_.AwaitWithTimeout(absl::Condition(&cond), kWait)) {
      return absl::DeadlineExceededError("test: no callback in time");
    }
    return status_;
  }

  // done() is notified by the first `done` call.
  absl::Notification& done() { return done_; }
  absl::Status status() {
    absl::MutexLock lock(&mu_);
    return status_;
  }
  std::vector<v1::AssetMetadata> metadata() {
    absl::MutexLock lock(&mu_);
    return metadata_;
  }
  std::string body() {
    absl::MutexLock lock(&mu_);
    return body_;
  }
  int chunks() {
    absl::MutexLock lock(&mu_);
    return chunks_;
  }
  int chunks_before_metadata() {
    absl::MutexLock lock(&mu_);
    return chunks_before_metadata_;
  }
  int done_calls() {
    absl::MutexLock lock(&mu_);
    return done_calls_;
  }

 private:
  static constexpr absl::Duration kWait = absl::Seconds(30);
  absl::Mutex mu_;
  absl::Notification done_;
  std::vector<v1::AssetMetadata> metadata_ ABSL_GUARDED_BY(mu_);
  std::string body_ ABSL_GUARDED_BY(mu_);
  int chunks_ ABSL_GUARDED_BY(mu_) = 0;
  int chunks_before_metadata_ ABSL_GUARDED_BY(mu_) = 0;
  int done_calls_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status status_ ABSL_GUARDED_BY(mu_);
};

}  // namespace triverse::testing_util

#endif  // TRIVERSE_TESTS_SERVER_TESTING_UTIL_STREAMED_DOWNLOAD_H_
