// Settings of the emulator, loaded once at start-up.
#ifndef TRIVERSE_EMULATOR_OPTIONS_H_
#define TRIVERSE_EMULATOR_OPTIONS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace triverse::emulator {

// Provider is the upstream API the emulator serves. One emulator process
// serves one provider.
enum class Provider {
  kTriverse,  // /api/v1 (the default)
  kTripo,     // Tripo V2: /v2/openapi, WebSocket watch with a header key
  kSiray,     // Siray: /v1/3d/generations, polling only
};

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
  // Tripo: how long a task whose outcome is `unknown` reports `unknown`
  // before it resolves to success (absl::InfiniteDuration(): for ever).
  absl::Duration unknown_duration = absl::Seconds(5);
};

// TripoOptions are the settings of the Tripo V2 mode.
struct TripoOptions {
  // Lifetime of output URLs (the docs: "expires after five minutes").
  absl::Duration url_ttl = absl::Seconds(300);
  // Tasks queued or running at once, per key and concurrency group
  // (upstream-apis.md §2.2); more → 429/2000 with Retry-After.
  int model_concurrency = 10;  // text/image/multiview_to_model
  int p1_concurrency = 5;      // the same with model_version P1-20260311
  int refine_concurrency = 5;
  int multiview_image_concurrency = 1;  // generate_multiview_image
  int other_concurrency = 10;           // every other type, per type
  // Task creations per key per 60 s; more → 429/1007 (0: no limit).
  int creations_per_minute = 200;
  // POST /upload and /upload/sts: largest image (larger → 400/1004).
  int64_t max_upload_bytes = 20LL * 1024 * 1024;
  // HTTP status of a WebSocket upgrade without an Authorization header:
  // 426 (what clients saw, ComfyUI-Tripo #34) or 401.
  int ws_missing_auth_status = 426;
};

// SirayOptions are the settings of the Siray mode.
struct SirayOptions {
  // submit_time/start_time/finish_time before they apply: 0 (false) or
  // left out of the payload (true).
  bool omit_unset_times = false;
};

}  // namespace triverse::emulator

#endif  // TRIVERSE_EMULATOR_OPTIONS_H_
