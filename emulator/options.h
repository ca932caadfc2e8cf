// Settings of the emulator, loaded once at start-up.
#ifndef TRIVERSE_EMULATOR_OPTIONS_H_
#define TRIVERSE_EMULATOR_OPTIONS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace triverse::emulator {

// ApiKeyOptions is one API key (one user) known to the emulator.
struct ApiKeyOptions {
  std::string key;
  int64_t credits = 1000;
  std::string email;      // defaults to user<N>@example.com
  std::string plan_name;  // empty: null
};

// IdempotencyMode says what a repeated client_order_id gives (the docs leave
// it open).
enum class RepeatedOrderMode {
  kReturnOriginal,  // 200 with the original task (default)
  kConflict,        // 409 / 2005
};

// EngineOptions drives the task state machine.
struct EngineOptions {
  std::vector<ApiKeyOptions> keys;
  bool legacy = false;  // older payload shapes, ranges and no QUEUED
  absl::Duration pending_duration = absl::Milliseconds(200);
  absl::Duration min_queue_duration = absl::Milliseconds(200);
  absl::Duration run_duration = absl::Seconds(3);  // RUNNING, 0 → 100 %
  int progress_step = 5;         // progress moves in steps of this size
  int workers_per_key = 4;       // tasks of one key RUNNING at once
  int max_queue_per_key = 1000;  // more PENDING/QUEUED → 429 / 2000
  absl::Duration read_after_write_window = absl::Seconds(1);
  std::string read_after_write_header = "X-Triverse-Read-After-Write";
  RepeatedOrderMode repeated_order = RepeatedOrderMode::kReturnOriginal;
  absl::Duration duplicate_window = absl::Seconds(10);
  std::vector<std::string> moderation_words = {"forbidden", "nsfw"};
  int uploads_per_window = 10;
  absl::Duration upload_window = absl::Seconds(60);
  int64_t max_image_bytes = 50LL * 1024 * 1024;
  int64_t max_model_bytes = 200LL * 1024 * 1024;
  absl::Duration asset_url_ttl = absl::Hours(1);
  absl::Duration asset_retention = absl::Hours(24 * 7);
  // HTTP status and code for /tasks/url and /tasks/download before SUCCESS.
  int not_ready_code = 2005;
  uint64_t seed = 1;
};

}  // namespace triverse::emulator

#endif  // TRIVERSE_EMULATOR_OPTIONS_H_
