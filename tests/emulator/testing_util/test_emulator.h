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
// Tripo keys start with "tsk_" (the emulator refuses others with 401/1002).
inline constexpr char kTripoKeyA[] = "tsk_test-key-a";
inline constexpr char kTripoKeyB[] = "tsk_test-key-b";

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

  // DefaultOptions(p): the same timings for provider `p`, with keys valid
  // for it (kTripoKeyA/kTripoKeyB for Tripo, kKeyA/kKeyB otherwise).
  static emulator::EmulatorOptions DefaultOptions(emulator::Provider p) {
    emulator::EmulatorOptions o = DefaultOptions();
    o.provider = p;
    if (p == emulator::Provider::kTripo) {
      o.engine.keys = {{kTripoKeyA, 1000, "", ""}, {kTripoKeyB, 1000, "", ""}};
      o.engine.upload_window = absl::Seconds(1);  // Tripo: 10 uploads/s
    }
    return o;
  }

  explicit TestEmulator(emulator::EmulatorOptions options = DefaultOptions()) {
    provider_ = options.provider;
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

  // ProviderBase is the base URL a gateway uses for this emulator's
  // provider: Triverse <base>/api/v1, Tripo <base>/v2/openapi, Siray <base>.
  std::string ProviderBase() const {
    switch (provider_) {
      case emulator::Provider::kTripo:
        return absl::StrCat(emulator_->base_url(), "/v2/openapi");
      case emulator::Provider::kSiray:
        return emulator_->base_url();
      case emulator::Provider::kTriverse:
        break;
    }
    return absl::StrCat(emulator_->base_url(), "/api/v1");
  }
  // ProviderWsBase is the WebSocket base: ws://127.0.0.1:PORT/api/v1 or
  // ws://127.0.0.1:PORT/v2/openapi (Siray has none: "").
  std::string ProviderWsBase() const {
    switch (provider_) {
      case emulator::Provider::kTripo:
        return absl::StrCat("ws://127.0.0.1:", emulator_->port(),
                            "/v2/openapi");
      case emulator::Provider::kSiray:
        return "";
      case emulator::Provider::kTriverse:
        break;
    }
    return absl::StrCat("ws://127.0.0.1:", emulator_->port(), "/api/v1");
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
  emulator::Provider provider_ = emulator::Provider::kTriverse;
  std::unique_ptr<emulator::Emulator> emulator_;
  absl::Status start_status_;
  mutable absl::Mutex mu_;
  std::vector<std::string> log_;
};

}  // namespace triverse::testing_util

#endif  // TRIVERSE_TESTS_EMULATOR_TESTING_UTIL_TEST_EMULATOR_H_
