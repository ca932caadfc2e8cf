// ScriptedServer is a loopback HTTP/1.1 peer whose answer the test writes
// piece by piece, for what the emulator cannot show: a response head and
// part of a body while the rest is still to come, an answer cut mid-body.
#ifndef TRIVERSE_TESTS_SERVER_UPSTREAM_SCRIPTED_SERVER_H_
#define TRIVERSE_TESTS_SERVER_UPSTREAM_SCRIPTED_SERVER_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "tests/server/testing_util/loopback.h"

namespace triverse::testing_util {

// ScriptedServer listens on 127.0.0.1:0. Every accepted connection's request
// head (up to the blank line; requests carry no body) is recorded; Send and
// Close act on the latest connection. One request per connection: scripted
// responses that complete should say `Connection: close`, so that the client
// does not reuse the connection. Thread-safe.
class ScriptedServer {
 public:
  ScriptedServer() {
    listen_fd_ = BindLoopback(16, &port_);
    acceptor_ = std::thread([this] { AcceptLoop(); });
  }

  ~ScriptedServer() {
    shutdown(listen_fd_, SHUT_RDWR);  // Wakes accept().
    acceptor_.join();
    close(listen_fd_);
    absl::MutexLock lock(&mu_);
    for (int fd : fds_) close(fd);
  }

  ScriptedServer(const ScriptedServer&) = delete;
  ScriptedServer& operator=(const ScriptedServer&) = delete;

  // Base: http://127.0.0.1:PORT
  std::string Base() const { return absl::StrCat("http://127.0.0.1:", port_); }

  // WaitForRequests waits until `n` request heads have arrived.
  bool WaitForRequests(int n, absl::Duration timeout = absl::Seconds(30)) {
    absl::MutexLock lock(&mu_);
    auto reached = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return static_cast<int>(requests_.size()) >= n;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&reached), timeout);
  }

  std::vector<std::string> Requests() {
    absl::MutexLock lock(&mu_);
    return requests_;
  }

  // Send writes `bytes` to the latest connection.
  void Send(absl::string_view bytes) {
    absl::MutexLock lock(&mu_);
    ASSERT_FALSE(fds_.empty());
    size_t sent = 0;
    while (sent < bytes.size()) {
      const ssize_t n = send(fds_.back(), bytes.data() + sent,
                             bytes.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return;  // The client went away: nothing more to do.
      sent += static_cast<size_t>(n);
    }
  }

  // Close ends the latest connection (the client sees EOF).
  void Close() {
    absl::MutexLock lock(&mu_);
    if (!fds_.empty()) shutdown(fds_.back(), SHUT_RDWR);
  }

 private:
  void AcceptLoop() {
    while (true) {
      const int fd = accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) return;
      // Read the request head here: one request per connection.
      std::string head;
      char chunk[4096];
      while (head.find("\r\n\r\n") == std::string::npos) {
        const ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
        if (n <= 0) break;
        head.append(chunk, static_cast<size_t>(n));
      }
      absl::MutexLock lock(&mu_);
      fds_.push_back(fd);
      requests_.push_back(std::move(head));
    }
  }

  int listen_fd_ = -1;
  int port_ = 0;
  std::thread acceptor_;
  absl::Mutex mu_;
  std::vector<int> fds_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> requests_ ABSL_GUARDED_BY(mu_);
};

}  // namespace triverse::testing_util

#endif  // TRIVERSE_TESTS_SERVER_UPSTREAM_SCRIPTED_SERVER_H_
