// watch-bench: WatchTask fan-out on one gateway (issue 5).
//
// Modes (--modes streams,requests runs both, in this order):
//   streams   creates --tasks tasks through the gateway (CreateTask), then
//             opens --streams WatchTask streams spread over them (stream i
//             watches task i mod T) in the stages of --stages, waiting after
//             each stage until every open stream has its first event, and
//             reads the gateway's VmRSS (/proc/PID/status) before opening
//             and after each stage: KB per stream. With every stream open it
//             reads the emulator's stats (upstream WebSockets open and
//             opened). Then the tasks run to their end; every stream records
//             the receive time of the events whose upstream time is known:
//             its first RUNNING event (the task's started_at) and its
//             FINALIZED event (completed_at): delay = receive time − that
//             time, split at the event's observed_at (stamped when the
//             gateway's hub accepts the frame: a frame that waits for a
//             busy gateway thread before that counts in the first part).
//             Each stream must get exactly one FINALIZED and end OK.
//   requests  1,000 (--watchers) WatchTask streams on ONE task through the
//             gateway over the task's lifetime, against as many simulated
//             direct clients each polling GET /tasks/{uuid} every
//             --poll-interval until the task is terminal (libcurl multi, one
//             connection per client, against the emulator; a fresh task of
//             the same flow and durations). Counts the upstream HTTP
//             requests and WebSocket connections of each side from the
//             emulator's stats before and after.
//
// The streams use the callback API (ClientReadReactor; no thread per
// stream), spread over --channels channels, each with distinct channel
// arguments and a local subchannel pool so that each is its own HTTP/2
// connection. Times: the emulator stamps started_at/completed_at with its
// clock, the gateway observed_at with its own, this client the receive time
// with std::chrono::system_clock: one machine, one clock.
//
// Prints Markdown tables and the issue's targets; --out-dir also writes
// delays.csv (one row per measured delivery) and rss.csv (RSS per stage)
// for bench/watch_plot.py. Exits 1 when a stream misbehaved.
#include <curl/curl.h>
#include <dirent.h>
#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "bench/bench_util.h"
#include "rapidjson/document.h"
#include "triverse/v1/task_service.grpc.pb.h"

ABSL_FLAG(std::string, gateway, "", "the gateway's gRPC address, HOST:PORT");
ABSL_FLAG(std::string, rest_url, "",
          "base URL of the Triverse API (the emulator), e.g. "
          "http://127.0.0.1:8080/api/v1; its /_emulator/stats is read too");
ABSL_FLAG(std::string, api_key, "", "API key for the direct REST calls");
ABSL_FLAG(int, gateway_pid, 0, "gateway process, for its RSS and CPU time");
ABSL_FLAG(std::string, modes, "streams,requests", "modes to run, in order");
ABSL_FLAG(int, streams, 10000, "streams: WatchTask streams in all");
ABSL_FLAG(int, tasks, 100, "streams: tasks the streams are spread over");
ABSL_FLAG(std::string, stages, "1000,2500,5000,10000",
          "streams: open the streams in these cumulative steps, reading the "
          "gateway's RSS after each (the last is raised to --streams)");
ABSL_FLAG(absl::Duration, create_spread, absl::ZeroDuration(),
          "streams: spread the task creations evenly over this time (0: one "
          "after the other), so that the tasks' events spread as much");
ABSL_FLAG(int, channels, 16, "gRPC channels (HTTP/2 connections)");
ABSL_FLAG(int, watchers, 1000, "requests: watchers of the one task");
ABSL_FLAG(absl::Duration, poll_interval, absl::Seconds(2),
          "requests: interval of the simulated polling clients");
ABSL_FLAG(absl::Duration, wait_timeout, absl::Seconds(300),
          "give up waiting for streams (first events, or the end) after this");
ABSL_FLAG(absl::Duration, socket_close_timeout, absl::Seconds(60),
          "requests: wait this long at most for the hub's upstream socket of "
          "the streams mode to close (its --watch-grace) before counting");
ABSL_FLAG(std::string, out_dir, "",
          "write delays.csv and rss.csv here (for bench/watch_plot.py)");

namespace {

using triverse::bench::AppendBody;
using triverse::bench::BusyShare;
using triverse::bench::MachineCpu;
using triverse::bench::ReadMachineCpu;
using triverse::bench::SelfCpuSeconds;

using SysClock = std::chrono::system_clock;
using Steady = std::chrono::steady_clock;
namespace v1 = triverse::v1;

int64_t NowUnixNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             SysClock::now().time_since_epoch())
      .count();
}

int64_t TimestampNanos(const google::protobuf::Timestamp& t) {
  return t.seconds() * 1000000000LL + t.nanos();
}

double SecondsSince(Steady::time_point t) {
  return std::chrono::duration<double>(Steady::now() - t).count();
}

// VmRSS of a process in KiB; -1 when it cannot be read.
int64_t RssKib(int pid) {
  if (pid <= 0) return -1;
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) != 0) continue;
    std::vector<std::string> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
    int64_t kib = 0;
    if (f.size() >= 2 && absl::SimpleAtoi(f[1], &kib)) return kib;
  }
  return -1;
}

// utime + stime in seconds and the name of a process or thread, from its
// stat file (/proc/PID/stat, /proc/PID/task/TID/stat); false on failure.
bool ReadStat(const std::string& path, std::string* name, double* seconds) {
  std::ifstream in(path);
  std::string line;
  if (!std::getline(in, line)) return false;
  // The name (field 2, in parentheses) may hold spaces: the other fields
  // count from the last ')'. utime and stime are fields 14 and 15.
  const size_t open = line.find('(');
  const size_t paren = line.rfind(')');
  if (open == std::string::npos || paren == std::string::npos ||
      paren + 2 > line.size()) {
    return false;
  }
  std::vector<std::string> f =
      absl::StrSplit(line.substr(paren + 2), ' ', absl::SkipEmpty());
  uint64_t utime = 0, stime = 0;
  if (f.size() < 13 || !absl::SimpleAtoi(f[11], &utime) ||
      !absl::SimpleAtoi(f[12], &stime)) {
    return false;
  }
  *name = line.substr(open + 1, paren - open - 1);
  *seconds = static_cast<double>(utime + stime) / sysconf(_SC_CLK_TCK);
  return true;
}

// CPU seconds of a process; -1 on failure.
double CpuSeconds(int pid) {
  std::string name;
  double seconds = 0;
  if (pid <= 0 ||
      !ReadStat("/proc/" + std::to_string(pid) + "/stat", &name, &seconds)) {
    return -1;
  }
  return seconds;
}

// CPU seconds of a process's threads, summed per thread name (gRPC names
// its threads; unnamed ones carry the process name).
std::map<std::string, double> ThreadCpu(int pid) {
  std::map<std::string, double> out;
  if (pid <= 0) return out;
  const std::string dir = "/proc/" + std::to_string(pid) + "/task";
  DIR* tasks = opendir(dir.c_str());
  if (tasks == nullptr) return out;
  while (dirent* entry = readdir(tasks)) {
    if (entry->d_name[0] == '.') continue;
    std::string name;
    double seconds = 0;
    if (ReadStat(dir + "/" + entry->d_name + "/stat", &name, &seconds)) {
      out[name] += seconds;
    }
  }
  closedir(tasks);
  return out;
}

// "name 1.23 s, ..." of the threads that used at least 0.05 s between the
// two readings, busiest first.
std::string ThreadCpuDelta(const std::map<std::string, double>& a,
                           const std::map<std::string, double>& b) {
  std::vector<std::pair<double, std::string>> rows;
  for (const auto& [name, seconds] : b) {
    auto it = a.find(name);
    const double d = seconds - (it == a.end() ? 0 : it->second);
    if (d >= 0.05) rows.emplace_back(d, name);
  }
  std::sort(rows.rbegin(), rows.rend());
  std::string out;
  for (const auto& [d, name] : rows) {
    absl::StrAppendFormat(&out, "%s%s %.2f s", out.empty() ? "" : ", ", name,
                          d);
  }
  return out.empty() ? "none" : out;
}

// One blocking HTTP exchange; returns the HTTP status (0 on a transport
// failure) and fills `body`.
long HttpCall(const std::string& url, const std::string& post_body,
              std::string* body) {
  return triverse::bench::HttpExchange(
      url, post_body.empty() ? nullptr : &post_body, body, 10000L,
      absl::GetFlag(FLAGS_api_key));
}

// The emulator's counters (GET /_emulator/stats).
struct EmulatorStats {
  bool ok = false;
  int64_t http_total = 0;  // public API requests, WebSocket upgrades too
  std::map<std::string, int64_t> by_route;
  int64_t ws_open = 0;
  int64_t ws_total = 0;
  int64_t ws_frames = 0;
};

EmulatorStats ReadEmulatorStats() {
  EmulatorStats stats;
  std::string url = absl::GetFlag(FLAGS_rest_url);
  const size_t api = url.rfind("/api/v1");
  if (api != std::string::npos) url.resize(api);
  std::string body;
  if (HttpCall(url + "/_emulator/stats", "", &body) != 200) return stats;
  rapidjson::Document doc;
  doc.Parse(body.c_str());
  if (doc.HasParseError() || !doc.IsObject()) return stats;
  auto number = [](const rapidjson::Value& obj, const char* key) -> int64_t {
    auto it = obj.FindMember(key);
    return it != obj.MemberEnd() && it->value.IsInt64() ? it->value.GetInt64()
                                                        : 0;
  };
  // Every route but the emulator's own (these stats reads): the public API,
  // WebSocket upgrades included.
  auto routes = doc.FindMember("http_requests");
  if (routes != doc.MemberEnd() && routes->value.IsObject()) {
    for (const auto& m : routes->value.GetObject()) {
      const std::string route = m.name.GetString();
      if (!m.value.IsInt64() || route.rfind("emulator", 0) == 0) continue;
      stats.by_route[route] = m.value.GetInt64();
      stats.http_total += m.value.GetInt64();
    }
  }
  auto ws = doc.FindMember("websocket");
  if (ws != doc.MemberEnd() && ws->value.IsObject()) {
    stats.ws_open = number(ws->value, "open");
    stats.ws_total = number(ws->value, "total");
    stats.ws_frames = number(ws->value, "frames_sent");
  }
  stats.ok = true;
  return stats;
}

// "route +n, route +n" of the routes that changed.
std::string RouteDeltas(const EmulatorStats& a, const EmulatorStats& b) {
  std::string out;
  for (const auto& [route, n] : b.by_route) {
    auto it = a.by_route.find(route);
    const int64_t d = n - (it == a.by_route.end() ? 0 : it->second);
    if (d == 0) continue;
    absl::StrAppendFormat(&out, "%s%s +%d", out.empty() ? "" : ", ", route, d);
  }
  return out.empty() ? "none" : out;
}

// ------------------------------------------------------------ the streams

std::vector<std::unique_ptr<v1::TaskService::Stub>> MakeStubs(int channels) {
  std::vector<std::unique_ptr<v1::TaskService::Stub>> stubs;
  for (int c = 0; c < channels; ++c) {
    grpc::ChannelArguments args;
    // Distinct arguments and a local subchannel pool: each channel gets its
    // own HTTP/2 connection instead of sharing one subchannel.
    args.SetInt("watch_bench.channel", c);
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    stubs.push_back(v1::TaskService::NewStub(
        grpc::CreateCustomChannel(absl::GetFlag(FLAGS_gateway),
                                  grpc::InsecureChannelCredentials(), args)));
  }
  return stubs;
}

// Counters shared by every stream of one run.
struct Progress {
  std::atomic<int64_t> first_events{0};
  std::atomic<int64_t> done{0};
  std::atomic<int64_t> events{0};
};

bool IsTerminal(v1::TaskStatus s) {
  return s == v1::TASK_STATUS_SUCCESS || s == v1::TASK_STATUS_FAILED ||
         s == v1::TASK_STATUS_CANCELLED;
}

// One WatchTask stream. Everything it records is written on gRPC's callback
// threads and read once OnDone has run (Progress::done is the barrier).
class WatchStream : public grpc::ClientReadReactor<v1::TaskEvent> {
 public:
  WatchStream(int task_index, const std::string& uuid, Progress* progress)
      : task_index_(task_index), progress_(progress) {
    request_.set_task_uuid(uuid);
  }

  void Start(v1::TaskService::Stub* stub) {
    stub->async()->WatchTask(&context_, &request_, this);
    StartRead(&event_);
    StartCall();
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;  // OnDone follows.
    const int64_t now = NowUnixNanos();
    progress_->events.fetch_add(1, std::memory_order_relaxed);
    ++events;
    const v1::Task& task = event_.task();
    if (events == 1) {
      first_kind = event_.kind();
      first_status = task.status();
      progress_->first_events.fetch_add(1, std::memory_order_relaxed);
    }
    if (finalized > 0) ++events_after_finalized;
    if (task.status() == v1::TASK_STATUS_RUNNING && running_recv == 0) {
      running_recv = now;
      running_kind = event_.kind();
      started_at =
          task.has_started_at() ? TimestampNanos(task.started_at()) : 0;
      running_observed = TimestampNanos(event_.observed_at());
    }
    if (event_.kind() == v1::TASK_EVENT_KIND_FINALIZED) {
      if (++finalized == 1) {
        final_recv = now;
        final_status = task.status();
        completed_at =
            task.has_completed_at() ? TimestampNanos(task.completed_at()) : 0;
        final_observed = TimestampNanos(event_.observed_at());
      }
    } else if (IsTerminal(task.status())) {
      ++terminal_not_finalized;
    }
    StartRead(&event_);
  }

  // Ends the stream early (a run that gave up waiting).
  void Cancel() { context_.TryCancel(); }

  void OnDone(const grpc::Status& status) override {
    code = status.error_code();
    message = status.error_message();
    progress_->done.fetch_add(1, std::memory_order_release);
  }

  const int task_index_;
  // Recorded (unix nanoseconds; 0: not seen).
  int64_t events = 0;
  v1::TaskEventKind first_kind = v1::TASK_EVENT_KIND_UNSPECIFIED;
  v1::TaskStatus first_status = v1::TASK_STATUS_UNSPECIFIED;
  int64_t running_recv = 0, started_at = 0, running_observed = 0;
  v1::TaskEventKind running_kind = v1::TASK_EVENT_KIND_UNSPECIFIED;
  int finalized = 0;
  int64_t events_after_finalized = 0;
  int64_t terminal_not_finalized = 0;
  int64_t final_recv = 0, completed_at = 0, final_observed = 0;
  v1::TaskStatus final_status = v1::TASK_STATUS_UNSPECIFIED;
  grpc::StatusCode code = grpc::StatusCode::UNKNOWN;
  std::string message;

 private:
  Progress* const progress_;
  grpc::ClientContext context_;
  v1::WatchTaskRequest request_;
  v1::TaskEvent event_;
};

// Waits until `counter` reaches `target` or the timeout passes; returns
// whether it did.
bool WaitFor(const std::atomic<int64_t>& counter, int64_t target,
             absl::Duration timeout) {
  const Steady::time_point end =
      Steady::now() + absl::ToChronoNanoseconds(timeout);
  while (counter.load(std::memory_order_acquire) < target) {
    if (Steady::now() > end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

// Cancels the streams still open, waits for every OnDone, then frees them.
void CancelAndDrain(std::vector<std::unique_ptr<WatchStream>>& streams,
                    const Progress& progress) {
  const int64_t n = static_cast<int64_t>(streams.size());
  if (progress.done.load(std::memory_order_acquire) < n) {
    for (auto& s : streams) s->Cancel();
    while (progress.done.load(std::memory_order_acquire) < n) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  streams.clear();
}

// CreateTask through the gateway; empty on failure (printed).
std::string CreateViaGateway(v1::TaskService::Stub* stub, int i) {
  v1::CreateTaskRequest request;
  request.mutable_text_to_model()->set_prompt(
      absl::StrFormat("a watched benchmark chair number %d", i));
  v1::TaskCreation creation;
  grpc::ClientContext context;
  context.set_deadline(SysClock::now() + std::chrono::seconds(30));
  const grpc::Status status = stub->CreateTask(&context, request, &creation);
  if (!status.ok()) {
    std::fprintf(stderr, "watch-bench: CreateTask failed: %d %s\n",
                 static_cast<int>(status.error_code()),
                 status.error_message().c_str());
    return "";
  }
  return creation.task_uuid();
}

struct Percentiles {
  size_t n = 0;
  double p50 = 0, p99 = 0, max = 0, min = 0;
};

Percentiles Summarize(std::vector<double> v) {
  Percentiles p;
  p.n = v.size();
  if (v.empty()) return p;
  std::sort(v.begin(), v.end());
  auto at = [&](double q) {
    size_t i = static_cast<size_t>(q * static_cast<double>(v.size()));
    return v[std::min(i, v.size() - 1)];
  };
  p.p50 = at(0.50);
  p.p99 = at(0.99);
  p.max = v.back();
  p.min = v.front();
  return p;
}

std::string Ms(double ms) { return absl::StrFormat("%.1f", ms); }

// A summary of a stream's misbehaviour, for the report.
struct Faults {
  int64_t not_ok = 0, no_finalized = 0, several_finalized = 0,
          after_finalized = 0, terminal_not_finalized = 0, not_success = 0;
  std::string first_error;
  int64_t Total() const {
    return not_ok + no_finalized + several_finalized + after_finalized +
           terminal_not_finalized + not_success;
  }
};

Faults Check(const std::vector<std::unique_ptr<WatchStream>>& streams) {
  Faults f;
  for (const auto& s : streams) {
    if (s->code != grpc::StatusCode::OK) {
      if (f.not_ok++ == 0) {
        f.first_error = absl::StrFormat("gRPC %d: %s",
                                        static_cast<int>(s->code), s->message);
      }
    }
    if (s->finalized == 0) ++f.no_finalized;
    if (s->finalized > 1) ++f.several_finalized;
    if (s->events_after_finalized > 0) ++f.after_finalized;
    if (s->terminal_not_finalized > 0) ++f.terminal_not_finalized;
    if (s->finalized > 0 && s->final_status != v1::TASK_STATUS_SUCCESS) {
      ++f.not_success;
    }
  }
  return f;
}

bool RunStreams() {
  const int total = absl::GetFlag(FLAGS_streams);
  const int task_count = std::max(1, absl::GetFlag(FLAGS_tasks));
  const int gateway_pid = absl::GetFlag(FLAGS_gateway_pid);
  const absl::Duration timeout = absl::GetFlag(FLAGS_wait_timeout);
  std::vector<int> stages;
  for (absl::string_view part :
       absl::StrSplit(absl::GetFlag(FLAGS_stages), ',', absl::SkipEmpty())) {
    int n = 0;
    if (absl::SimpleAtoi(part, &n) && n > 0 && n < total) stages.push_back(n);
  }
  std::sort(stages.begin(), stages.end());
  stages.push_back(total);

  auto stubs = MakeStubs(std::max(1, absl::GetFlag(FLAGS_channels)));
  std::fprintf(stderr, "watch-bench: streams: creating %d tasks\n", task_count);
  std::vector<std::string> uuids;
  const Steady::time_point create_start = Steady::now();
  const auto spread =
      absl::ToChronoNanoseconds(absl::GetFlag(FLAGS_create_spread));
  for (int i = 0; i < task_count; ++i) {
    std::this_thread::sleep_until(create_start + spread * i / task_count);
    uuids.push_back(CreateViaGateway(stubs[i % stubs.size()].get(), i));
    if (uuids.back().empty()) return false;
  }
  const Steady::time_point created = Steady::now();
  const double create_seconds =
      std::chrono::duration<double>(created - create_start).count();

  // Let the channels connect and the CreateTask traffic settle before the
  // baseline.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const EmulatorStats stats0 = ReadEmulatorStats();
  const int64_t rss0 = RssKib(gateway_pid);
  const double cpu0 = CpuSeconds(gateway_pid);

  Progress progress;
  std::vector<std::unique_ptr<WatchStream>> streams;
  streams.reserve(total);
  struct Stage {
    int streams;
    int64_t rss_kib;
    double open_seconds;
  };
  std::vector<Stage> stage_rows;
  const Steady::time_point open_start = Steady::now();
  for (int target : stages) {
    std::fprintf(stderr, "watch-bench: opening streams up to %d\n", target);
    while (static_cast<int>(streams.size()) < target) {
      const int i = static_cast<int>(streams.size());
      streams.push_back(std::make_unique<WatchStream>(
          i % task_count, uuids[i % task_count], &progress));
      streams.back()->Start(stubs[i % stubs.size()].get());
    }
    if (!WaitFor(progress.first_events, target, timeout)) {
      std::printf("**streams: only %" PRId64
                  " of %d streams got a first event within "
                  "%s (%" PRId64 " ended)**\n",
                  progress.first_events.load(), target,
                  absl::FormatDuration(timeout).c_str(), progress.done.load());
      CancelAndDrain(streams, progress);
      return false;
    }
    // Let the allocator and gRPC's buffers settle before reading RSS.
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    stage_rows.push_back(
        {target, RssKib(gateway_pid), SecondsSince(open_start)});
    std::fprintf(
        stderr, "  %d open after %.1f s, gateway RSS %" PRId64 " KiB\n", target,
        stage_rows.back().open_seconds, stage_rows.back().rss_kib);
  }
  const double cpu_open = CpuSeconds(gateway_pid);
  const std::map<std::string, double> threads_open = ThreadCpu(gateway_pid);
  const double client_open = SelfCpuSeconds();
  const MachineCpu machine_open = ReadMachineCpu();
  const Steady::time_point events_start = Steady::now();
  const int64_t events_open = progress.events.load();
  const EmulatorStats stats_open = ReadEmulatorStats();
  const double since_creation = SecondsSince(created);
  int64_t early = 0;  // streams whose first event already showed RUNNING+
  for (const auto& s : streams) {
    if (s->first_status != v1::TASK_STATUS_PENDING &&
        s->first_status != v1::TASK_STATUS_QUEUED) {
      ++early;
    }
  }
  std::fprintf(stderr,
               "watch-bench: all %d open %.1f s after the tasks were created; "
               "waiting for the tasks to end\n",
               total, since_creation);
  const bool ended = WaitFor(progress.done, total, timeout);
  const double cpu_end = CpuSeconds(gateway_pid);
  const std::map<std::string, double> threads_end = ThreadCpu(gateway_pid);
  const double client_end = SelfCpuSeconds();
  const MachineCpu machine_end = ReadMachineCpu();
  const double events_seconds = SecondsSince(events_start);
  const EmulatorStats stats_end = ReadEmulatorStats();
  const int64_t events_total = progress.events.load();
  if (!ended) {
    std::printf("**streams: only %" PRId64 " of %d streams ended within %s**\n",
                progress.done.load(), total,
                absl::FormatDuration(timeout).c_str());
  }

  // Deliveries with a known upstream time. RUNNING counts only when it came
  // as an UPDATE (a stream opened after the start has it in its SNAPSHOT).
  std::vector<double> all_ms, running_ms, final_ms, up_ms, gw_ms;
  std::map<int, double> running_last, final_last;  // per task: slowest stream
  std::string csv = "event,task,total_ms,upstream_ms,gateway_ms\n";
  for (const auto& s : streams) {
    if (s->running_recv > 0 && s->started_at > 0 &&
        s->running_kind != v1::TASK_EVENT_KIND_SNAPSHOT) {
      const double total_ms = (s->running_recv - s->started_at) / 1e6;
      const double up = (s->running_observed - s->started_at) / 1e6;
      running_ms.push_back(total_ms);
      all_ms.push_back(total_ms);
      up_ms.push_back(up);
      gw_ms.push_back(total_ms - up);
      double& last = running_last[s->task_index_];
      last = std::max(last, total_ms);
      absl::StrAppendFormat(&csv, "running,%d,%.3f,%.3f,%.3f\n", s->task_index_,
                            total_ms, up, total_ms - up);
    }
    if (s->final_recv > 0 && s->completed_at > 0) {
      const double total_ms = (s->final_recv - s->completed_at) / 1e6;
      const double up = (s->final_observed - s->completed_at) / 1e6;
      final_ms.push_back(total_ms);
      all_ms.push_back(total_ms);
      up_ms.push_back(up);
      gw_ms.push_back(total_ms - up);
      double& last = final_last[s->task_index_];
      last = std::max(last, total_ms);
      absl::StrAppendFormat(&csv, "finalized,%d,%.3f,%.3f,%.3f\n",
                            s->task_index_, total_ms, up, total_ms - up);
    }
  }
  int64_t first_start = 0, last_final = 0;
  for (const auto& s : streams) {
    if (s->started_at > 0 &&
        (first_start == 0 || s->started_at < first_start)) {
      first_start = s->started_at;
    }
    last_final = std::max(last_final, s->final_recv);
  }
  const double run_seconds =
      first_start > 0 ? (last_final - first_start) / 1e9 : 0;
  std::vector<double> per_event_last;
  for (const auto& [task, ms] : running_last) per_event_last.push_back(ms);
  for (const auto& [task, ms] : final_last) per_event_last.push_back(ms);
  const Faults faults = Check(streams);

  // ---- report
  const int64_t rss_last = stage_rows.back().rss_kib;
  const double kb_per_stream =
      rss0 >= 0 && rss_last >= 0
          ? static_cast<double>(rss_last - rss0) * 1.024 / total
          : -1;  // KiB → KB (1000 bytes), as etcd's figure
  std::printf(
      "\n### streams: %d WatchTask streams on %d tasks (created over %.1f "
      "s), %zu channels\n\n"
      "| streams open | gateway RSS KiB | growth since 0 streams KiB | KB per "
      "stream | time to open (all first events) s |\n"
      "|--:|--:|--:|--:|--:|\n"
      "| 0 | %" PRId64 " | 0 | - | - |\n",
      total, task_count, create_seconds, stubs.size(), rss0);
  std::string rss_csv = absl::StrFormat("streams,rss_kib\n0,%d\n", rss0);
  for (const Stage& st : stage_rows) {
    std::printf("| %d | %" PRId64 " | %" PRId64 " | %.1f | %.1f |\n",
                st.streams, st.rss_kib, st.rss_kib - rss0,
                static_cast<double>(st.rss_kib - rss0) * 1.024 / st.streams,
                st.open_seconds);
    absl::StrAppendFormat(&rss_csv, "%d,%d\n", st.streams, st.rss_kib);
  }
  std::printf(
      "\nUpstream (emulator stats) with all %d streams open: WebSockets open "
      "%" PRId64 ", opened since the baseline %" PRId64
      "; HTTP requests since the baseline: %s.\n"
      "Over the whole run (opening + the tasks' lifetime): WebSockets opened "
      "%" PRId64 ", HTTP requests %s, frames sent by the emulator %" PRId64
      ".\n",
      total, stats_open.ws_open, stats_open.ws_total - stats0.ws_total,
      RouteDeltas(stats0, stats_open).c_str(),
      stats_end.ws_total - stats0.ws_total,
      RouteDeltas(stats0, stats_end).c_str(),
      stats_end.ws_frames - stats0.ws_frames);
  std::printf("Events received: %" PRId64
              " (%.1f per stream). Streams whose first "
              "event was already RUNNING or later: %" PRId64
              " (their RUNNING is not measured).\n",
              events_total, static_cast<double>(events_total) / total, early);
  std::printf(
      "Gateway CPU: %.2f s opening the streams (%.0f µs per stream); from "
      "all open to all ended (%.1f s; %" PRId64
      " events delivered, %.0f per second from the first started_at to the "
      "last FINALIZED received): %.2f s (%.1f µs per event; by "
      "thread: %s). watch-bench's own CPU then: %.2f s; the machine was "
      "%.0f%% busy.\n",
      cpu_open - cpu0, (cpu_open - cpu0) * 1e6 / total, events_seconds,
      events_total - events_open,
      (events_total - events_open) / std::max(run_seconds, 1e-9),
      cpu_end - cpu_open,
      events_total > events_open
          ? (cpu_end - cpu_open) * 1e6 / (events_total - events_open)
          : 0.0,
      ThreadCpuDelta(threads_open, threads_end).c_str(),
      client_end - client_open, BusyShare(machine_open, machine_end) * 100);
  std::printf(
      "\n| deliveries | count | p50 ms | p99 ms | max ms | to observed_at "
      "p50 / p99 ms | observed_at → stream p50 / p99 ms |\n"
      "|---|--:|--:|--:|--:|--:|--:|\n");
  auto row = [](const char* name, const std::vector<double>& v,
                const std::vector<double>* up, const std::vector<double>* gw) {
    const Percentiles p = Summarize(v);
    std::string split_up = "", split_gw = "";
    if (up != nullptr) {
      const Percentiles a = Summarize(*up), b = Summarize(*gw);
      split_up = absl::StrFormat("%s / %s", Ms(a.p50), Ms(a.p99));
      split_gw = absl::StrFormat("%s / %s", Ms(b.p50), Ms(b.p99));
    }
    std::printf("| %s | %zu | %s | %s | %s | %s | %s |\n", name, p.n,
                Ms(p.p50).c_str(), Ms(p.p99).c_str(), Ms(p.max).c_str(),
                split_up.c_str(), split_gw.c_str());
  };
  row("first RUNNING (started_at → received)", running_ms, nullptr, nullptr);
  row("FINALIZED (completed_at → received)", final_ms, nullptr, nullptr);
  row("all", all_ms, &up_ms, &gw_ms);
  row("per upstream event, its slowest stream", per_event_last, nullptr,
      nullptr);

  const Percentiles all = Summarize(all_ms);
  std::printf("\nStreams: %d; ended OK %" PRId64 "; without FINALIZED %" PRId64
              "; with several FINALIZED %" PRId64
              "; events after FINALIZED %" PRId64
              "; a terminal status not as FINALIZED %" PRId64
              "; finalized other than SUCCESS %" PRId64 "%s%s\n",
              total, total - faults.not_ok, faults.no_finalized,
              faults.several_finalized, faults.after_finalized,
              faults.terminal_not_finalized, faults.not_success,
              faults.first_error.empty() ? "" : "; first error: ",
              faults.first_error.c_str());

  std::printf(
      "\nTarget: memory per stream ≤ 25 KB RSS: %.1f KB — %s\n"
      "Target: upstream connections 1 per key: %" PRId64 " open, %" PRId64
      " opened — %s\n"
      "Target: delivery delay p99 ≤ 100 ms: %s ms over %zu deliveries — %s\n",
      kb_per_stream,
      kb_per_stream >= 0 && kb_per_stream <= 25 ? "met" : "MISSED",
      stats_open.ws_open, stats_end.ws_total - stats0.ws_total,
      stats_open.ws_open == 1 && stats_end.ws_total - stats0.ws_total <= 1
          ? "met"
          : "MISSED",
      Ms(all.p99).c_str(), all.n,
      all.n > 0 && all.p99 <= 100 ? "met" : "MISSED");

  const std::string out_dir = absl::GetFlag(FLAGS_out_dir);
  if (!out_dir.empty()) {
    std::ofstream(out_dir + "/delays.csv") << csv;
    std::ofstream(out_dir + "/rss.csv") << rss_csv;
  }
  // A reactor may only go once its OnDone has run.
  CancelAndDrain(streams, progress);
  return ended && faults.Total() == 0;
}

// ------------------------------------------------------------ requests mode

struct Poller {
  CURL* easy = nullptr;
  std::string body;
  Steady::time_point due;
  bool in_flight = false;
  bool finished = false;
  int64_t requests = 0;
  int64_t saw_terminal_ns = 0;  // unix ns of the response showing it
};

bool RunRequests() {
  const int watchers = absl::GetFlag(FLAGS_watchers);
  const absl::Duration timeout = absl::GetFlag(FLAGS_wait_timeout);
  auto stubs = MakeStubs(std::max(1, absl::GetFlag(FLAGS_channels)));

  // The streams mode's hub socket closes --watch-grace after its last
  // watcher: wait for it so this count includes opening one.
  const Steady::time_point wait_start = Steady::now();
  EmulatorStats stats0 = ReadEmulatorStats();
  while (stats0.ok && stats0.ws_open > 0 &&
         SecondsSince(wait_start) <
             absl::ToDoubleSeconds(absl::GetFlag(FLAGS_socket_close_timeout))) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    stats0 = ReadEmulatorStats();
  }
  const bool socket_was_open = stats0.ws_open > 0;

  // --- gateway: one task, `watchers` streams from its creation to its end.
  std::fprintf(stderr, "watch-bench: requests: %d watchers via the gateway\n",
               watchers);
  const std::string uuid = CreateViaGateway(stubs[0].get(), 1000000);
  if (uuid.empty()) return false;
  const EmulatorStats gw0 = ReadEmulatorStats();
  const Steady::time_point gw_start = Steady::now();
  Progress progress;
  std::vector<std::unique_ptr<WatchStream>> streams;
  for (int i = 0; i < watchers; ++i) {
    streams.push_back(std::make_unique<WatchStream>(0, uuid, &progress));
    streams.back()->Start(stubs[i % stubs.size()].get());
  }
  const bool ended = WaitFor(progress.done, watchers, timeout);
  const double gw_seconds = SecondsSince(gw_start);
  const EmulatorStats gw1 = ReadEmulatorStats();
  const Faults faults = Check(streams);
  std::vector<double> gw_notice;
  for (const auto& s : streams) {
    if (s->final_recv > 0 && s->completed_at > 0) {
      gw_notice.push_back((s->final_recv - s->completed_at) / 1e6);
    }
  }
  CancelAndDrain(streams, progress);

  // --- direct polling: a fresh task of the same flow, `watchers` clients
  // each GET every poll_interval (phases spread over one interval) until
  // they see it terminal.
  std::fprintf(stderr, "watch-bench: requests: %d polling clients\n", watchers);
  const std::string api = absl::GetFlag(FLAGS_rest_url);
  std::string created_body;
  const long created_status =
      HttpCall(api + "/tasks/text-to-model",
               R"({"prompt":"a polled benchmark chair"})", &created_body);
  rapidjson::Document created;
  created.Parse(created_body.c_str());
  if (created_status != 200 || created.HasParseError() || !created.IsObject() ||
      !created.HasMember("data") || !created["data"].IsObject() ||
      !created["data"].HasMember("task_uuid") ||
      !created["data"]["task_uuid"].IsString()) {
    std::printf("**requests: creating the polled task failed: HTTP %ld %s**\n",
                created_status, created_body.substr(0, 200).c_str());
    return false;
  }
  const std::string polled_uuid = created["data"]["task_uuid"].GetString();
  int64_t polled_completed_ns = 0;
  const EmulatorStats poll0 = ReadEmulatorStats();
  const Steady::time_point poll_start = Steady::now();
  const auto interval =
      absl::ToChronoNanoseconds(absl::GetFlag(FLAGS_poll_interval));
  CURLM* multi = curl_multi_init();
  curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, static_cast<long>(watchers));
  curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, 0L);
  curl_slist* headers = curl_slist_append(
      nullptr,
      ("Authorization: Bearer " + absl::GetFlag(FLAGS_api_key)).c_str());
  const std::string url = api + "/tasks/" + polled_uuid;
  std::vector<Poller> pollers(watchers);
  for (int i = 0; i < watchers; ++i) {
    Poller& p = pollers[i];
    p.easy = curl_easy_init();
    curl_easy_setopt(p.easy, CURLOPT_URL, url.c_str());
    curl_easy_setopt(p.easy, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(p.easy, CURLOPT_WRITEFUNCTION, AppendBody);
    curl_easy_setopt(p.easy, CURLOPT_WRITEDATA, &p.body);
    curl_easy_setopt(p.easy, CURLOPT_PRIVATE, &p);
    curl_easy_setopt(p.easy, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(p.easy, CURLOPT_NOSIGNAL, 1L);
    p.due = poll_start + interval * i / watchers;
  }
  int64_t poll_errors = 0;
  int remaining = watchers;
  const Steady::time_point poll_deadline =
      poll_start + absl::ToChronoNanoseconds(timeout);
  while (remaining > 0 && Steady::now() < poll_deadline) {
    const Steady::time_point now = Steady::now();
    Steady::time_point next_due = now + std::chrono::milliseconds(100);
    for (Poller& p : pollers) {
      if (p.finished || p.in_flight) continue;
      if (p.due <= now) {
        p.body.clear();
        p.in_flight = true;
        ++p.requests;
        curl_multi_add_handle(multi, p.easy);
      } else {
        next_due = std::min(next_due, p.due);
      }
    }
    int running = 0;
    curl_multi_perform(multi, &running);
    int queued = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi, &queued)) {
      if (msg->msg != CURLMSG_DONE) continue;
      Poller* p = nullptr;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &p);
      long status = 0;
      curl_easy_getinfo(p->easy, CURLINFO_RESPONSE_CODE, &status);
      const bool ok = msg->data.result == CURLE_OK && status == 200;
      curl_multi_remove_handle(multi, p->easy);
      p->in_flight = false;
      if (!ok) ++poll_errors;
      rapidjson::Document doc;
      doc.Parse(p->body.c_str());
      std::string task_status;
      if (ok && !doc.HasParseError() && doc.IsObject() &&
          doc.HasMember("data") && doc["data"].IsObject()) {
        const auto& data = doc["data"];
        if (data.HasMember("status") && data["status"].IsString()) {
          task_status = data["status"].GetString();
        }
        if (polled_completed_ns == 0 && data.HasMember("completed_at") &&
            data["completed_at"].IsString()) {
          absl::Time t;
          std::string err;
          if (absl::ParseTime(absl::RFC3339_full,
                              data["completed_at"].GetString(), &t, &err)) {
            polled_completed_ns = absl::ToUnixNanos(t);
          }
        }
      }
      if (task_status == "SUCCESS" || task_status == "FAILED" ||
          task_status == "CANCELLED") {
        p->finished = true;
        p->saw_terminal_ns = NowUnixNanos();
        --remaining;
      } else {
        while (p->due <= Steady::now()) p->due += interval;
      }
    }
    const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(
        next_due - Steady::now());
    curl_multi_poll(multi, nullptr, 0,
                    static_cast<int>(std::max<int64_t>(1, wait.count())),
                    nullptr);
  }
  const double poll_seconds = SecondsSince(poll_start);
  const EmulatorStats poll1 = ReadEmulatorStats();
  int64_t poll_requests = 0;
  std::vector<double> poll_notice;
  for (Poller& p : pollers) {
    poll_requests += p.requests;
    if (p.saw_terminal_ns > 0 && polled_completed_ns > 0) {
      poll_notice.push_back((p.saw_terminal_ns - polled_completed_ns) / 1e6);
    }
    if (p.in_flight) curl_multi_remove_handle(multi, p.easy);
    curl_easy_cleanup(p.easy);
  }
  curl_slist_free_all(headers);
  curl_multi_cleanup(multi);

  const Percentiles gw_p = Summarize(gw_notice);
  const Percentiles poll_p = Summarize(poll_notice);
  const int64_t gw_http = gw1.http_total - gw0.http_total;
  const int64_t gw_ws = gw1.ws_total - gw0.ws_total;
  const int64_t poll_http = poll1.http_total - poll0.http_total;
  const int64_t poll_ws = poll1.ws_total - poll0.ws_total;
  std::printf(
      "\n### requests: %d watchers of one task over its lifetime\n\n"
      "| clients | lifetime watched s | upstream requests (HTTP, WebSocket "
      "upgrades included) | of which WebSocket connections | by route | "
      "terminal state seen after completed_at p50 / max ms |\n"
      "|---|--:|--:|--:|---|--:|\n",
      watchers);
  std::printf("| %d WatchTask streams via the gateway | %.1f | %" PRId64
              " | %" PRId64 " | %s | %s / %s |\n",
              watchers, gw_seconds, gw_http, gw_ws,
              RouteDeltas(gw0, gw1).c_str(), Ms(gw_p.p50).c_str(),
              Ms(gw_p.max).c_str());
  std::printf("| %d direct clients polling every %s | %.1f | %" PRId64
              " | %" PRId64 " | %s | %s / %s |\n",
              watchers,
              absl::FormatDuration(absl::GetFlag(FLAGS_poll_interval)).c_str(),
              poll_seconds, poll_http, poll_ws,
              RouteDeltas(poll0, poll1).c_str(), Ms(poll_p.p50).c_str(),
              Ms(poll_p.max).c_str());
  std::printf(
      "\nPolling clients' own count: %" PRId64
      " requests (%.1f per client), %" PRId64
      " failed. Ratio polling / gateway: %.0f×.%s\n",
      poll_requests, static_cast<double>(poll_requests) / watchers, poll_errors,
      gw_http > 0 ? static_cast<double>(poll_http) / gw_http : 0.0,
      socket_was_open ? " (The hub's socket from the streams mode was still "
                        "open: the gateway row does not include opening it.)"
                      : "");
  std::printf("Gateway streams: %d; ended OK %" PRId64
              "; without FINALIZED %" PRId64 "; several FINALIZED %" PRId64
              "%s%s\n",
              watchers, watchers - faults.not_ok, faults.no_finalized,
              faults.several_finalized,
              faults.first_error.empty() ? "" : "; first error: ",
              faults.first_error.c_str());
  return ended && faults.Total() == 0 && remaining == 0;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "WatchTask fan-out on one gateway.\n"
      "Usage: watch-bench --gateway HOST:PORT --rest-url URL --api-key K "
      "--gateway-pid P [--modes streams,requests] [--streams 10000 --tasks "
      "100]");
  triverse::bench::DashedFlags flags(argc, argv);
  const std::vector<char*> positional =
      absl::ParseCommandLine(flags.argc(), flags.argv());
  if (positional.size() > 1) {
    std::fprintf(stderr, "unexpected argument: %s\n", positional[1]);
    return 2;
  }
  if (absl::GetFlag(FLAGS_gateway).empty() ||
      absl::GetFlag(FLAGS_rest_url).empty() ||
      absl::GetFlag(FLAGS_api_key).empty()) {
    std::fprintf(stderr, "--gateway, --rest-url and --api-key are required\n");
    return 2;
  }
  std::vector<std::string> modes =
      absl::StrSplit(absl::GetFlag(FLAGS_modes), ',', absl::SkipEmpty());
  for (const std::string& m : modes) {
    if (m != "streams" && m != "requests") {
      std::fprintf(stderr, "bad --modes entry: %s\n", m.c_str());
      return 2;
    }
  }
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  curl_global_init(CURL_GLOBAL_DEFAULT);
  bool good = true;
  for (const std::string& m : modes) {
    good &= m == "streams" ? RunStreams() : RunRequests();
    std::fflush(stdout);
  }
  curl_global_cleanup();
  return good ? 0 : 1;
}
