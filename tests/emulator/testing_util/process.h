// Process runs a binary under test with its stdout and stderr on one pipe,
// for tests of the project's executables (flags, port files, logs,
// signals).
#ifndef TRIVERSE_TESTS_EMULATOR_TESTING_UTIL_PROCESS_H_
#define TRIVERSE_TESTS_EMULATOR_TESTING_UTIL_PROCESS_H_

#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

extern char** environ;

namespace triverse::testing_util {

class Process {
 public:
  // Starts `binary` with `args` and the test's environment changed by
  // `env`: "NAME=value" sets (over an inherited value), "NAME" unsets.
  Process(const std::string& binary, std::vector<std::string> args,
          std::vector<std::string> env = {}) {
    args.insert(args.begin(), binary);
    auto name_of = [](absl::string_view entry) {
      return entry.substr(0, entry.find('='));
    };
    for (char** e = environ; *e != nullptr; ++e) {
      const absl::string_view entry(*e);
      const bool overridden =
          std::any_of(env.begin(), env.end(), [&](const std::string& mine) {
            return name_of(mine) == name_of(entry);
          });
      if (!overridden) env.emplace_back(entry);
    }
    env.erase(std::remove_if(env.begin(), env.end(),
                             [](const std::string& e) {
                               return e.find('=') == std::string::npos;
                             }),
              env.end());
    std::vector<char*> envp;
    for (std::string& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    int fds[2];
    if (pipe(fds) != 0) return;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDERR_FILENO);
    posix_spawn_file_actions_addclose(&actions, fds[0]);
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    if (posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(),
                    envp.data()) != 0) {
      pid_ = -1;
    }
    posix_spawn_file_actions_destroy(&actions);
    close(fds[1]);
    stderr_fd_ = fds[0];
  }
  virtual ~Process() {
    if (pid_ > 0 && !exited_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (stderr_fd_ >= 0) close(stderr_fd_);
  }

  // ReadUntil reads stderr until it contains `text` or the timeout passes.
  bool ReadUntil(const std::string& text, absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    while (!absl::StrContains(output_, text)) {
      const int64_t left = absl::ToInt64Milliseconds(deadline - absl::Now());
      if (left <= 0) return false;
      pollfd pfd{stderr_fd_, POLLIN, 0};
      if (poll(&pfd, 1, static_cast<int>(left)) <= 0) return false;
      char buf[4096];
      const ssize_t n = read(stderr_fd_, buf, sizeof(buf));
      if (n <= 0) return false;
      output_.append(buf, static_cast<size_t>(n));
    }
    return true;
  }

  // Wait reads stderr to its end and returns the exit status.
  int Wait() {
    char buf[4096];
    ssize_t n;
    while ((n = read(stderr_fd_, buf, sizeof(buf))) > 0) {
      output_.append(buf, static_cast<size_t>(n));
    }
    int status = 0;
    waitpid(pid_, &status, 0);
    exited_ = true;
    return status;
  }

  pid_t pid() const { return pid_; }
  const std::string& output() const { return output_; }

 private:
  pid_t pid_ = -1;
  int stderr_fd_ = -1;
  bool exited_ = false;
  std::string output_;
};

// TempPath is a per-process file name in $TEST_TMPDIR (or /tmp).
inline std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return absl::StrCat(dir != nullptr ? dir : "/tmp", "/", name, "-", getpid());
}

}  // namespace triverse::testing_util

#endif  // TRIVERSE_TESTS_EMULATOR_TESTING_UTIL_PROCESS_H_
