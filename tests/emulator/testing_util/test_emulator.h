// TestEmulator starts an in-process emulator on 127.0.0.1:0 driven by a
// FakeClock, so tests move time explicitly instead of sleeping.
#ifndef TRIVERSE_TESTS_EMULATOR_TESTING_UTIL_TEST_EMULATOR_H_
#define TRIVERSE_TESTS_EMULATOR_TESTING_UTIL_TEST_EMULATOR_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "emulator/clock.h"
#include "emulator/emulator.h"

namespace triverse::testing_util {

inline constexpr char kKeyA[] = "test-key-a";
inline constexpr char kKeyB[] = "test-key-b";

class TestEmulator {
 public:
  // DefaultOptions: two keys with 1000 credits each, 1 s pending + queue,
  // 10 s running in steps of 10 %, everything else as documented.
  static emulator::EmulatorOptions DefaultOptions() {
    emulator::EmulatorOptions o;
    o.engine.keys = {{kKeyA, 1000, "", ""}, {kKeyB, 1000, "", ""}};
    o.engine.pending_duration = absl::Milliseconds(500);
    o.engine.min_queue_duration = absl::Milliseconds(500);
    o.engine.run_duration = absl::Seconds(10);
    o.engine.progress_step = 10;
    o.tick = absl::Milliseconds(5);
    return o;
  }

  explicit TestEmulator(emulator::EmulatorOptions options = DefaultOptions()) {
    options.clock = &clock_;
    options.log = [this](absl::string_view line) {
      absl::MutexLock lock(&mu_);
      log_.emplace_back(line);
    };
    auto started = emulator::Emulator::Start(std::move(options));
    if (started.ok()) emulator_ = std::move(*started);
    start_status_ = started.status();
  }

  // The emulator stops (its threads joined) before the log it writes to
  // and the clock it reads are destroyed.
  ~TestEmulator() { emulator_.reset(); }

  TestEmulator(const TestEmulator&) = delete;
  TestEmulator& operator=(const TestEmulator&) = delete;

  const absl::Status& start_status() const { return start_status_; }
  emulator::Emulator& emulator() { return *emulator_; }
  emulator::FakeClock& clock() { return clock_; }

  // Api("/tasks/x") → http://127.0.0.1:PORT/api/v1/tasks/x
  std::string Api(const std::string& path) const {
    return absl::StrCat(emulator_->base_url(), "/api/v1", path);
  }
  // Ws("/tasks/watch/all?token=k") → ws://127.0.0.1:PORT/api/v1/...
  std::string Ws(const std::string& path) const {
    return absl::StrCat("ws://127.0.0.1:", emulator_->port(), "/api/v1", path);
  }
  std::string Url(const std::string& path) const {
    return absl::StrCat(emulator_->base_url(), path);
  }

  // AdvanceBy moves the fake clock and runs the state machine.
  void AdvanceBy(absl::Duration d) {
    clock_.Advance(d);
    emulator_->Advance();
  }

  std::vector<std::string> LogLines() const {
    absl::MutexLock lock(&mu_);
    return log_;
  }

 private:
  emulator::FakeClock clock_;
  std::unique_ptr<emulator::Emulator> emulator_;
  absl::Status start_status_;
  mutable absl::Mutex mu_;
  std::vector<std::string> log_;
};

}  // namespace triverse::testing_util

#endif  // TRIVERSE_TESTS_EMULATOR_TESTING_UTIL_TEST_EMULATOR_H_
