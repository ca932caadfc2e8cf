// triverse-emulator: a local Triverse API (REST + WebSocket) for tests,
// demos and integration tests without the internet or credits.
//
// Configuration precedence: command-line flags, then TRIVERSE_EMULATOR_*
// environment variables (for the API keys only), then defaults.
#include <pthread.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "emulator/emulator.h"

ABSL_FLAG(std::string, provider, "triverse",
          "the API to serve: 'triverse' (/api/v1), 'tripo' (Tripo V2, "
          "/v2/openapi, WebSocket watch with an Authorization header) or "
          "'siray' (/v1/3d/generations, polling only)");
ABSL_FLAG(absl::Duration, tripo_url_ttl, absl::Seconds(300),
          "tripo: lifetime of output URLs (then the asset answers 403)");
ABSL_FLAG(absl::Duration, tripo_unknown_duration, absl::Seconds(5),
          "tripo: how long a task reports `unknown` before it resolves to "
          "success ('inf': for ever)");
ABSL_FLAG(int, tripo_ws_missing_auth_status, 426,
          "tripo: HTTP status of a WebSocket upgrade without an "
          "Authorization header: 426 or 401");
ABSL_FLAG(int, tripo_creations_per_minute, 200,
          "tripo: task creations per key per minute before 429/1007 (0: no "
          "limit)");
ABSL_FLAG(int, tripo_concurrency, 10,
          "tripo: text/image/multiview_to_model tasks queued or running at "
          "once per key before 429/2000 (P1-20260311: --tripo-p1-concurrency)");
ABSL_FLAG(int, tripo_p1_concurrency, 5,
          "tripo: the same limit for model_version P1-20260311");
ABSL_FLAG(int, tripo_multiview_image_concurrency, 1,
          "tripo: generate_multiview_image tasks at once per key");
ABSL_FLAG(int64_t, tripo_max_upload_mb, 20,
          "tripo: largest image for POST /upload and /upload/sts, MB");
ABSL_FLAG(bool, siray_omit_unset_times, false,
          "siray: leave submit_time/start_time/finish_time out before they "
          "apply (default: 0)");
ABSL_FLAG(std::string, listen, "127.0.0.1:8080",
          "HOST:PORT to listen on; port 0 picks a free port");
ABSL_FLAG(std::string, port_file, "",
          "write the bound port to this file once listening");
ABSL_FLAG(std::vector<std::string>, api_keys, {},
          "comma-separated API keys, each KEY or KEY:CREDITS (default: "
          "$TRIVERSE_EMULATOR_API_KEYS, else the single key "
          "'emulator-key')");
ABSL_FLAG(int64_t, credits, 1000, "initial API credits of each key");
ABSL_FLAG(absl::Duration, task_duration, absl::Seconds(3),
          "time a task spends RUNNING (progress 0 to 100)");
ABSL_FLAG(absl::Duration, pending_duration, absl::Milliseconds(200),
          "time a new task stays PENDING");
ABSL_FLAG(absl::Duration, queue_duration, absl::Milliseconds(200),
          "minimum time a task stays QUEUED");
ABSL_FLAG(int, progress_step, 5, "progress moves in steps of this size");
ABSL_FLAG(int, workers_per_key, 4, "tasks of one key RUNNING at once");
ABSL_FLAG(int, max_queue, 1000,
          "PENDING+QUEUED tasks per key before 429/2000 'queue full'");
ABSL_FLAG(int, auth_failure_status, 401,
          "HTTP status for a missing or bad key: 401 or 403");
ABSL_FLAG(bool, legacy, false,
          "older API generation: costCredits, taskId, no QUEUED, sub-job "
          "states in output, polygon_limit up to 10M");
ABSL_FLAG(absl::Duration, read_after_write_window, absl::Seconds(1),
          "GET /tasks/{uuid} answers 404/1006 this long after creation "
          "unless the read-after-write header is sent (0 disables)");
ABSL_FLAG(std::string, read_after_write_header, "X-Triverse-Read-After-Write",
          "header name that makes an early GET consistent");
ABSL_FLAG(std::string, repeated_order_id, "return",
          "a repeated client_order_id: 'return' the original task or "
          "'conflict' (409/2005)");
ABSL_FLAG(absl::Duration, duplicate_window, absl::Seconds(10),
          "an identical request without client_order_id inside this window "
          "is refused with 409/2005 unless allow_duplicate=true (0 disables)");
ABSL_FLAG(std::vector<std::string>, moderation_words,
          (std::vector<std::string>{"forbidden", "nsfw"}),
          "prompts or upload names containing one of these fail moderation "
          "(400/2008)");
ABSL_FLAG(int, uploads_per_minute, 10, "uploads per key per 60 s");
ABSL_FLAG(int64_t, max_image_mb, 50, "largest image upload, MB");
ABSL_FLAG(int64_t, max_model_mb, 200, "largest model upload, MB");
ABSL_FLAG(absl::Duration, asset_url_ttl, absl::Hours(1),
          "lifetime of signed asset URLs");
ABSL_FLAG(absl::Duration, asset_retention, absl::Hours(24 * 7),
          "assets are deleted this long after the task completes");
ABSL_FLAG(int, not_ready_code, 2005,
          "error code of /tasks/url and /tasks/download before SUCCESS "
          "(2005 → 409, 1006 → 404)");
ABSL_FLAG(uint64_t, seed, 1, "seed of ids and fault decisions");
ABSL_FLAG(std::string, faults, "",
          "fault settings as JSON, or @FILE (see README); changeable at run "
          "time with POST /_emulator/faults");
ABSL_FLAG(int, threads, 2, "server threads");
ABSL_FLAG(absl::Duration, tick, absl::Milliseconds(20),
          "state machine resolution");
ABSL_FLAG(std::string, public_url, "",
          "base of asset URLs (default http://HOST:PORT)");
ABSL_FLAG(bool, quiet, false, "no request log");
ABSL_FLAG(absl::Duration, hang_limit, absl::Minutes(5),
          "a response hung by the hang fault ends (connection closed) after "
          "this, unless the client gave up first");

namespace {

using triverse::emulator::ApiKeyOptions;
using triverse::emulator::Emulator;
using triverse::emulator::EmulatorOptions;

[[noreturn]] void Fail(const std::string& message) {
  std::cerr << "triverse-emulator: " << message << "\n";
  std::exit(2);
}

std::vector<ApiKeyOptions> ParseKeys(const std::vector<std::string>& specs,
                                     int64_t default_credits) {
  std::vector<ApiKeyOptions> keys;
  for (const std::string& spec : specs) {
    if (spec.empty()) continue;
    ApiKeyOptions k;
    const size_t colon = spec.rfind(':');
    k.key = spec.substr(0, colon);
    k.credits = default_credits;
    if (colon != std::string::npos &&
        !absl::SimpleAtoi(spec.substr(colon + 1), &k.credits)) {
      Fail(absl::StrCat("--api-keys: credits of key #", keys.size() + 1,
                        " are not an integer"));
    }
    if (k.key.empty()) {
      Fail(absl::StrCat("--api-keys: key #", keys.size() + 1, " is empty"));
    }
    keys.push_back(k);
  }
  return keys;
}

std::string ReadFaults(const std::string& flag) {
  if (flag.empty() || flag[0] != '@') return flag;
  std::ifstream in(flag.substr(1));
  if (!in) Fail(absl::StrCat("--faults: cannot read ", flag.substr(1)));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "A local Triverse, Tripo V2 or Siray API (REST + WebSocket) with "
      "fault injection.\n"
      "Usage: triverse-emulator [--provider triverse|tripo|siray] --listen "
      "127.0.0.1:0 --port-file F [--api_keys k1:1000,k2:50] ...\n"
      "Base URLs: triverse http://HOST:PORT/api/v1; tripo "
      "http://HOST:PORT/v2/openapi (keys start with tsk_); siray "
      "http://HOST:PORT");
  // Accept --flag-name as well as absl's --flag_name.
  std::vector<std::string> normalised(argv, argv + argc);
  for (size_t i = 1; i < normalised.size(); ++i) {
    std::string& arg = normalised[i];
    if (arg == "--") break;
    if (arg.rfind("--", 0) != 0) continue;
    const size_t end = std::min(arg.find('='), arg.size());
    std::replace(arg.begin() + 2, arg.begin() + end, '-', '_');
  }
  std::vector<char*> args;
  for (std::string& arg : normalised) args.push_back(arg.data());
  std::vector<char*> rest =
      absl::ParseCommandLine(static_cast<int>(args.size()), args.data());
  if (rest.size() > 1) Fail(absl::StrCat("unexpected argument: ", rest[1]));

  EmulatorOptions options;
  const std::string provider = absl::GetFlag(FLAGS_provider);
  if (provider == "triverse") {
    options.provider = triverse::emulator::Provider::kTriverse;
  } else if (provider == "tripo") {
    options.provider = triverse::emulator::Provider::kTripo;
  } else if (provider == "siray") {
    options.provider = triverse::emulator::Provider::kSiray;
  } else {
    Fail("--provider must be triverse, tripo or siray");
  }
  const bool tripo = options.provider == triverse::emulator::Provider::kTripo;
  const std::string listen = absl::GetFlag(FLAGS_listen);
  const size_t colon = listen.rfind(':');
  if (colon == std::string::npos ||
      !absl::SimpleAtoi(listen.substr(colon + 1), &options.port)) {
    Fail("--listen must be HOST:PORT, e.g. 127.0.0.1:0");
  }
  options.listen_host = listen.substr(0, colon);
  if (options.listen_host.size() > 2 && options.listen_host.front() == '[') {
    options.listen_host =
        options.listen_host.substr(1, options.listen_host.size() - 2);
  }

  std::vector<std::string> key_specs = absl::GetFlag(FLAGS_api_keys);
  if (key_specs.empty()) {
    const char* env = std::getenv("TRIVERSE_EMULATOR_API_KEYS");
    key_specs = absl::StrSplit(
        env != nullptr ? env : (tripo ? "tsk_emulator-key" : "emulator-key"),
        ',', absl::SkipWhitespace());
  }
  auto& engine = options.engine;
  engine.keys = ParseKeys(key_specs, absl::GetFlag(FLAGS_credits));
  engine.run_duration = absl::GetFlag(FLAGS_task_duration);
  engine.pending_duration = absl::GetFlag(FLAGS_pending_duration);
  engine.min_queue_duration = absl::GetFlag(FLAGS_queue_duration);
  engine.progress_step = absl::GetFlag(FLAGS_progress_step);
  engine.workers_per_key = absl::GetFlag(FLAGS_workers_per_key);
  engine.max_queue_per_key = absl::GetFlag(FLAGS_max_queue);
  engine.legacy = absl::GetFlag(FLAGS_legacy);
  engine.read_after_write_window = absl::GetFlag(FLAGS_read_after_write_window);
  engine.read_after_write_header = absl::GetFlag(FLAGS_read_after_write_header);
  const std::string repeated = absl::GetFlag(FLAGS_repeated_order_id);
  if (repeated == "return") {
    engine.repeated_order =
        triverse::emulator::RepeatedOrderMode::kReturnOriginal;
  } else if (repeated == "conflict") {
    engine.repeated_order = triverse::emulator::RepeatedOrderMode::kConflict;
  } else {
    Fail("--repeated-order-id must be 'return' or 'conflict'");
  }
  engine.duplicate_window = absl::GetFlag(FLAGS_duplicate_window);
  engine.moderation_words = absl::GetFlag(FLAGS_moderation_words);
  engine.uploads_per_window = absl::GetFlag(FLAGS_uploads_per_minute);
  // Tripo documents 10 uploads per second.
  if (tripo) engine.upload_window = absl::Seconds(1);
  engine.unknown_duration = absl::GetFlag(FLAGS_tripo_unknown_duration);
  options.tripo.url_ttl = absl::GetFlag(FLAGS_tripo_url_ttl);
  options.tripo.ws_missing_auth_status =
      absl::GetFlag(FLAGS_tripo_ws_missing_auth_status);
  if (options.tripo.ws_missing_auth_status != 426 &&
      options.tripo.ws_missing_auth_status != 401) {
    Fail("--tripo-ws-missing-auth-status must be 426 or 401");
  }
  options.tripo.creations_per_minute =
      absl::GetFlag(FLAGS_tripo_creations_per_minute);
  options.tripo.model_concurrency = absl::GetFlag(FLAGS_tripo_concurrency);
  options.tripo.p1_concurrency = absl::GetFlag(FLAGS_tripo_p1_concurrency);
  options.tripo.multiview_image_concurrency =
      absl::GetFlag(FLAGS_tripo_multiview_image_concurrency);
  options.tripo.max_upload_bytes =
      absl::GetFlag(FLAGS_tripo_max_upload_mb) * 1024 * 1024;
  options.siray.omit_unset_times = absl::GetFlag(FLAGS_siray_omit_unset_times);
  engine.max_image_bytes = absl::GetFlag(FLAGS_max_image_mb) * 1024 * 1024;
  engine.max_model_bytes = absl::GetFlag(FLAGS_max_model_mb) * 1024 * 1024;
  engine.asset_url_ttl = absl::GetFlag(FLAGS_asset_url_ttl);
  engine.asset_retention = absl::GetFlag(FLAGS_asset_retention);
  engine.not_ready_code = absl::GetFlag(FLAGS_not_ready_code);
  if (engine.not_ready_code != 2005 && engine.not_ready_code != 1006) {
    Fail("--not-ready-code must be 2005 or 1006");
  }
  if (engine.run_duration <= absl::ZeroDuration()) {
    Fail("--task-duration must be positive");
  }
  if (engine.workers_per_key < 1) Fail("--workers-per-key must be >= 1");
  if (engine.progress_step < 1 || engine.progress_step > 100) {
    Fail("--progress-step must be in 1-100");
  }
  engine.seed = absl::GetFlag(FLAGS_seed);
  options.faults.seed = engine.seed;
  const std::string faults = ReadFaults(absl::GetFlag(FLAGS_faults));
  if (!faults.empty()) {
    absl::Status s =
        triverse::emulator::ParseFaultSettings(faults, &options.faults);
    if (!s.ok()) Fail(absl::StrCat("--faults: ", s.message()));
  }
  options.auth_failure_status = absl::GetFlag(FLAGS_auth_failure_status);
  if (options.auth_failure_status != 401 &&
      options.auth_failure_status != 403) {
    Fail("--auth-failure-status must be 401 or 403");
  }
  options.threads = absl::GetFlag(FLAGS_threads);
  options.tick = absl::GetFlag(FLAGS_tick);
  options.hang_limit = absl::GetFlag(FLAGS_hang_limit);
  options.public_base_url = absl::GetFlag(FLAGS_public_url);
  if (!absl::GetFlag(FLAGS_quiet)) {
    options.log = [](absl::string_view line) {
      std::string out(line);
      out.push_back('\n');
      std::fwrite(out.data(), 1, out.size(), stderr);
    };
  }

  // Block SIGINT and SIGTERM in every thread; main waits for them below.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto emulator = Emulator::Start(std::move(options));
  if (!emulator.ok()) Fail(std::string(emulator.status().message()));

  const std::string port_file = absl::GetFlag(FLAGS_port_file);
  if (!port_file.empty()) {
    // Write then rename, so a reader never sees a partial file.
    const std::string tmp = port_file + ".tmp";
    {
      std::ofstream out(tmp);
      out << (*emulator)->port() << "\n";
      if (!out) Fail(absl::StrCat("--port-file: cannot write ", tmp));
    }
    if (std::rename(tmp.c_str(), port_file.c_str()) != 0) {
      Fail(absl::StrCat("--port-file: cannot rename to ", port_file));
    }
  }
  std::cerr << "triverse-emulator: serving " << provider << " at "
            << (*emulator)->base_url()
            << (tripo                 ? "/v2/openapi"
                : provider == "siray" ? ""
                                      : "/api/v1")
            << " with " << key_specs.size() << " API key(s)\n";

  int received = 0;
  sigwait(&signals, &received);
  (*emulator)->Stop();
  std::cerr << "triverse-emulator: stopped\n";
  return 0;
}
