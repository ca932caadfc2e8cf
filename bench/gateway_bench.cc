// gateway-bench: GetTask through the gateway against direct REST calls to the
// same Triverse API (the emulator), in one process, at several concurrency
// levels.
//
// Closed loop: each of N slots sends its next call as soon as the previous
// one completes. For each level the two modes run back to back:
//   rest  GET {rest_url}/tasks/{uuid} with `Authorization: Bearer KEY`, from
//         --client-threads threads, each driving a libcurl multi handle with
//         its share of the N easy handles (keep-alive: an easy handle keeps
//         its connection between calls; the count of connections opened is
//         reported to show it).
//   grpc  triverse.v1.TaskService/GetTask on the gateway with the async
//         CompletionQueue API: --client-threads threads, each with its own
//         queue, over --channels channels (each its own HTTP/2 connection).
// Each run has a warm-up (not measured), then a measured window of
// --duration: calls/s counts the calls that completed inside the window, the
// latency percentiles come from all of their latencies (sorted, exact), and
// CPU per call divides the utime+stime of each process (/proc/PID/stat)
// spent inside the window by those calls. Also per window: the servers'
// context switches per call, the machine's busy share and the TCP
// connections opened machine-wide (0 when every connection is reused).
// --rounds repeats the whole sweep; each (level, mode) reports its median
// round, and the throughput ratio is the median of the per-round ratios.
//
// Prints a markdown table, the gateway/REST ratios and the targets;
// exits 1 when any call failed (those runs are flagged in the table).
#include <curl/curl.h>
#include <dirent.h>
#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <fstream>
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
#include "triverse/v1/task_service.grpc.pb.h"

ABSL_FLAG(std::string, rest_url, "",
          "base URL of the Triverse API, e.g. http://127.0.0.1:8080/api/v1");
ABSL_FLAG(std::string, gateway, "", "the gateway's gRPC address, HOST:PORT");
ABSL_FLAG(std::string, api_key, "", "API key for the direct REST calls");
ABSL_FLAG(std::string, task_uuid, "", "the task to read");
ABSL_FLAG(std::string, concurrency, "1,8,64,256",
          "comma-separated levels of calls in flight");
ABSL_FLAG(std::string, modes, "rest,grpc", "modes to run, in this order");
ABSL_FLAG(absl::Duration, duration, absl::Seconds(5),
          "measured time per level and mode");
ABSL_FLAG(absl::Duration, warmup, absl::Seconds(1),
          "unmeasured time before each measurement");
ABSL_FLAG(absl::Duration, timeout, absl::Seconds(10), "deadline of one call");
ABSL_FLAG(int, client_threads, 2, "load generator threads (both modes)");
ABSL_FLAG(int, channels, 0,
          "gRPC channels (HTTP/2 connections); 0: one per 32 calls in "
          "flight, at least one per client thread, at most 8");
ABSL_FLAG(int, rounds, 1,
          "repetitions of the whole sweep; the median round is reported");
ABSL_FLAG(int, gateway_pid, 0, "gateway process, for its CPU time");
ABSL_FLAG(int, emulator_pid, 0, "emulator process, for its CPU time");

namespace {

using triverse::bench::AppendBody;
using triverse::bench::MachineCpu;
using triverse::bench::ReadMachineCpu;
using triverse::bench::SelfCpuSeconds;

using Clock = std::chrono::steady_clock;

int64_t Nanos(Clock::duration d) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
}

// CPU time (user + system) of a process in seconds, from /proc/PID/stat;
// negative when it cannot be read.
double ProcessCpuSeconds(int pid) {
  if (pid <= 0) return -1;
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(in, line)) return -1;
  // The command name (field 2) may hold spaces: fields count from the last
  // ')'. utime and stime are fields 14 and 15.
  const size_t paren = line.rfind(')');
  if (paren == std::string::npos) return -1;
  std::vector<std::string> fields =
      absl::StrSplit(line.substr(paren + 2), ' ', absl::SkipEmpty());
  // fields[0] is field 3 (state).
  if (fields.size() < 13) return -1;
  uint64_t utime = 0, stime = 0;
  if (!absl::SimpleAtoi(fields[11], &utime) ||
      !absl::SimpleAtoi(fields[12], &stime)) {
    return -1;
  }
  return static_cast<double>(utime + stime) / sysconf(_SC_CLK_TCK);
}

// Context switches (voluntary and not) of all the threads of a process, from
// /proc/PID/task/*/status; negative when they cannot be read. Each hand-off
// of a call between threads costs one or two.
int64_t ProcessContextSwitches(int pid) {
  if (pid <= 0) return -1;
  const std::string dir = "/proc/" + std::to_string(pid) + "/task";
  DIR* tasks = opendir(dir.c_str());
  if (tasks == nullptr) return -1;
  int64_t total = 0;
  while (dirent* entry = readdir(tasks)) {
    if (entry->d_name[0] == '.') continue;
    std::ifstream in(dir + "/" + entry->d_name + "/status");
    std::string line;
    while (std::getline(in, line)) {
      if (line.find("ctxt_switches:") == std::string::npos) continue;
      int64_t n = 0;
      if (absl::SimpleAtoi(line.substr(line.find(':') + 1), &n)) total += n;
    }
  }
  closedir(tasks);
  return total;
}

// TCP connections opened on this machine (network namespace) so far: the
// ActiveOpens counter of /proc/net/snmp; negative when it cannot be read.
int64_t TcpActiveOpens() {
  std::ifstream in("/proc/net/snmp");
  std::string names, values;
  while (std::getline(in, names)) {
    if (names.rfind("Tcp:", 0) != 0) continue;
    if (!std::getline(in, values)) break;
    std::vector<std::string> n = absl::StrSplit(names, ' ', absl::SkipEmpty());
    std::vector<std::string> v = absl::StrSplit(values, ' ', absl::SkipEmpty());
    for (size_t i = 0; i < n.size() && i < v.size(); ++i) {
      int64_t count = 0;
      if (n[i] == "ActiveOpens" && absl::SimpleAtoi(v[i], &count)) {
        return count;
      }
    }
  }
  return -1;
}

// The measured window of one run, shared by the load generator threads.
struct Window {
  Clock::time_point start;  // measurement starts (after the warm-up)
  Clock::time_point end;    // measurement ends; no call starts after it
};

// What one load generator thread measured.
struct ThreadResult {
  std::vector<int64_t> latencies_ns;  // calls completed inside the window
  int64_t errors = 0;                 // failed calls completed in the window
  int64_t connections = 0;            // connections opened (REST)
  std::string first_error;
};

struct RunResult {
  std::string mode;
  int in_flight = 0;
  int round = 0;
  int64_t calls = 0;
  int64_t errors = 0;
  std::string first_error;
  double seconds = 0;
  int64_t p50_ns = 0;
  int64_t p99_ns = 0;
  double client_cpu_s = 0;
  double gateway_cpu_s = -1;
  double emulator_cpu_s = -1;
  double machine_busy = 0;  // share of all cores busy in the window
  int64_t connections = 0;
  int channels = 0;
  int64_t tcp_connects = -1;  // machine-wide, inside the window
  int64_t gateway_switches = -1;
  int64_t emulator_switches = -1;
  // Over all rounds of this (mode, in_flight), when there are several.
  double min_throughput = 0;
  double max_throughput = 0;
  int64_t errors_all_rounds = 0;

  double Throughput() const { return calls / seconds; }
};

void Record(const Window& w, Clock::time_point started, Clock::time_point done,
            bool ok, const std::string& error, ThreadResult* r) {
  if (done < w.start || done > w.end) return;
  if (ok) {
    r->latencies_ns.push_back(Nanos(done - started));
  } else {
    if (r->errors++ == 0) r->first_error = error;
  }
}

// ---------------------------------------------------------------- rest mode

struct RestSlot {
  CURL* easy = nullptr;
  std::string body;
  Clock::time_point started;
};

// One thread: a multi handle with `slots` easy handles, each re-added as
// soon as its call completes, until the window ends.
void RestWorker(const std::string& url, const std::string& auth_header,
                int slots, const Window& w, ThreadResult* result) {
  CURLM* multi = curl_multi_init();
  // No cap on connections, and a pool that keeps one per slot: by default
  // libcurl sizes the pool from the easy handles currently added, and since
  // a completed handle is removed before it is added again, a burst of
  // completions shrinks it and closes connections ("Connection pool is
  // full, closing the oldest"), turning keep-alive into reconnects.
  curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, 0L);
  curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, static_cast<long>(slots));
  curl_slist* headers = curl_slist_append(nullptr, auth_header.c_str());
  const long timeout_ms = static_cast<long>(
      absl::ToInt64Milliseconds(absl::GetFlag(FLAGS_timeout)));
  std::vector<RestSlot> all(slots);
  for (RestSlot& s : all) {
    s.easy = curl_easy_init();
    curl_easy_setopt(s.easy, CURLOPT_URL, url.c_str());
    curl_easy_setopt(s.easy, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(s.easy, CURLOPT_WRITEFUNCTION, AppendBody);
    curl_easy_setopt(s.easy, CURLOPT_WRITEDATA, &s.body);
    curl_easy_setopt(s.easy, CURLOPT_PRIVATE, &s);
    curl_easy_setopt(s.easy, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(s.easy, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(s.easy, CURLOPT_NOSIGNAL, 1L);
    s.started = Clock::now();
    curl_multi_add_handle(multi, s.easy);
  }
  int running = slots;
  while (running > 0) {
    curl_multi_perform(multi, &running);
    int queued = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi, &queued)) {
      if (msg->msg != CURLMSG_DONE) continue;
      const Clock::time_point done = Clock::now();
      RestSlot* s = nullptr;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &s);
      long status = 0;
      curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status);
      long connects = 0;
      curl_easy_getinfo(s->easy, CURLINFO_NUM_CONNECTS, &connects);
      result->connections += connects;
      const CURLcode code = msg->data.result;
      const bool ok = code == CURLE_OK && status == 200 &&
                      s->body.find("\"code\":0") != std::string::npos;
      std::string error;
      if (!ok) {
        error = code != CURLE_OK
                    ? std::string("curl: ") + curl_easy_strerror(code)
                    : absl::StrFormat("HTTP %d: %s", status,
                                      s->body.substr(0, 200));
      }
      Record(w, s->started, done, ok, error, result);
      curl_multi_remove_handle(multi, s->easy);
      if (done < w.end) {
        s->body.clear();
        s->started = Clock::now();
        curl_multi_add_handle(multi, s->easy);
        ++running;
      }
    }
    if (running > 0) curl_multi_poll(multi, nullptr, 0, 100, nullptr);
  }
  for (RestSlot& s : all) curl_easy_cleanup(s.easy);
  curl_slist_free_all(headers);
  curl_multi_cleanup(multi);
}

// ---------------------------------------------------------------- grpc mode

struct GrpcSlot {
  triverse::v1::TaskService::Stub* stub = nullptr;
  std::unique_ptr<grpc::ClientContext> context;
  std::unique_ptr<grpc::ClientAsyncResponseReader<triverse::v1::Task>> reader;
  triverse::v1::Task response;
  grpc::Status status;
  Clock::time_point started;
};

void StartGrpcCall(const triverse::v1::GetTaskRequest& request,
                   grpc::CompletionQueue* cq, GrpcSlot* s) {
  s->context = std::make_unique<grpc::ClientContext>();
  s->context->set_deadline(
      std::chrono::system_clock::now() +
      absl::ToChronoNanoseconds(absl::GetFlag(FLAGS_timeout)));
  s->response.Clear();
  s->started = Clock::now();
  s->reader = s->stub->AsyncGetTask(s->context.get(), request, cq);
  s->reader->Finish(&s->response, &s->status, s);
}

// One thread: its own completion queue and its slots (spread over the
// channels by the caller), each restarted when its call completes.
void GrpcWorker(const triverse::v1::GetTaskRequest& request,
                std::vector<GrpcSlot*> slots, const Window& w,
                ThreadResult* result) {
  grpc::CompletionQueue cq;
  for (GrpcSlot* s : slots) StartGrpcCall(request, &cq, s);
  size_t running = slots.size();
  void* tag = nullptr;
  bool ok = false;
  while (running > 0 && cq.Next(&tag, &ok)) {
    const Clock::time_point done = Clock::now();
    auto* s = static_cast<GrpcSlot*>(tag);
    const bool good =
        ok && s->status.ok() && s->response.task_uuid() == request.task_uuid();
    std::string error;
    if (!good) {
      error = s->status.ok()
                  ? "OK but an unexpected task_uuid"
                  : absl::StrFormat("gRPC %d: %s",
                                    static_cast<int>(s->status.error_code()),
                                    s->status.error_message());
    }
    Record(w, s->started, done, good, error, result);
    if (done < w.end) {
      StartGrpcCall(request, &cq, s);
    } else {
      --running;
    }
  }
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
}

// ---------------------------------------------------------------- runner

int ChannelCount(int in_flight, int threads) {
  const int flag = absl::GetFlag(FLAGS_channels);
  if (flag > 0) return flag;
  const int by_load = (in_flight + 31) / 32;
  return std::max(1, std::min({std::max(by_load, threads), 8, in_flight}));
}

RunResult RunOne(const std::string& mode, int in_flight) {
  const int threads =
      std::max(1, std::min(absl::GetFlag(FLAGS_client_threads), in_flight));
  const absl::Duration warmup = absl::GetFlag(FLAGS_warmup);
  const absl::Duration duration = absl::GetFlag(FLAGS_duration);
  Window w;
  w.start = Clock::now() + absl::ToChronoNanoseconds(warmup);
  w.end = w.start + absl::ToChronoNanoseconds(duration);

  RunResult run;
  run.mode = mode;
  run.in_flight = in_flight;
  std::vector<ThreadResult> results(threads);
  std::vector<std::thread> workers;

  // Per-mode state that must outlive the workers.
  triverse::v1::GetTaskRequest request;
  request.set_task_uuid(absl::GetFlag(FLAGS_task_uuid));
  std::vector<std::unique_ptr<triverse::v1::TaskService::Stub>> stubs;
  std::vector<GrpcSlot> grpc_slots;

  auto slots_of = [&](int t) {
    return in_flight / threads + (t < in_flight % threads ? 1 : 0);
  };
  if (mode == "rest") {
    const std::string url =
        absl::GetFlag(FLAGS_rest_url) + "/tasks/" + request.task_uuid();
    const std::string auth =
        "Authorization: Bearer " + absl::GetFlag(FLAGS_api_key);
    for (int t = 0; t < threads; ++t) {
      workers.emplace_back(RestWorker, url, auth, slots_of(t), std::cref(w),
                           &results[t]);
    }
  } else {
    run.channels = ChannelCount(in_flight, threads);
    for (int c = 0; c < run.channels; ++c) {
      grpc::ChannelArguments args;
      // Distinct arguments and a local subchannel pool: each channel gets
      // its own connection instead of sharing one subchannel.
      args.SetInt("gateway_bench.channel", c);
      args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
      stubs.push_back(triverse::v1::TaskService::NewStub(
          grpc::CreateCustomChannel(absl::GetFlag(FLAGS_gateway),
                                    grpc::InsecureChannelCredentials(), args)));
    }
    grpc_slots.resize(in_flight);
    std::vector<std::vector<GrpcSlot*>> per_thread(threads);
    for (int i = 0; i < in_flight; ++i) {
      grpc_slots[i].stub = stubs[i % run.channels].get();
      per_thread[i % threads].push_back(&grpc_slots[i]);
    }
    for (int t = 0; t < threads; ++t) {
      workers.emplace_back(GrpcWorker, std::cref(request), per_thread[t],
                           std::cref(w), &results[t]);
    }
  }

  // CPU counters at the edges of the window.
  std::this_thread::sleep_until(w.start);
  const double client0 = SelfCpuSeconds();
  const double gateway0 = ProcessCpuSeconds(absl::GetFlag(FLAGS_gateway_pid));
  const double emulator0 = ProcessCpuSeconds(absl::GetFlag(FLAGS_emulator_pid));
  const MachineCpu machine0 = ReadMachineCpu();
  const int64_t opens0 = TcpActiveOpens();
  const int64_t gateway_cs0 =
      ProcessContextSwitches(absl::GetFlag(FLAGS_gateway_pid));
  const int64_t emulator_cs0 =
      ProcessContextSwitches(absl::GetFlag(FLAGS_emulator_pid));
  std::this_thread::sleep_until(w.end);
  const double client1 = SelfCpuSeconds();
  const double gateway1 = ProcessCpuSeconds(absl::GetFlag(FLAGS_gateway_pid));
  const double emulator1 = ProcessCpuSeconds(absl::GetFlag(FLAGS_emulator_pid));
  const MachineCpu machine1 = ReadMachineCpu();
  const int64_t opens1 = TcpActiveOpens();
  const int64_t gateway_cs1 =
      ProcessContextSwitches(absl::GetFlag(FLAGS_gateway_pid));
  const int64_t emulator_cs1 =
      ProcessContextSwitches(absl::GetFlag(FLAGS_emulator_pid));
  for (std::thread& t : workers) t.join();

  std::vector<int64_t> all;
  for (ThreadResult& r : results) {
    all.insert(all.end(), r.latencies_ns.begin(), r.latencies_ns.end());
    run.errors += r.errors;
    run.connections += r.connections;
    if (run.first_error.empty()) run.first_error = r.first_error;
  }
  std::sort(all.begin(), all.end());
  run.calls = static_cast<int64_t>(all.size());
  run.seconds = absl::ToDoubleSeconds(duration);
  auto percentile = [&](double p) -> int64_t {
    if (all.empty()) return 0;
    size_t i = static_cast<size_t>(p * static_cast<double>(all.size()));
    return all[std::min(i, all.size() - 1)];
  };
  run.p50_ns = percentile(0.50);
  run.p99_ns = percentile(0.99);
  run.client_cpu_s = client1 - client0;
  if (gateway0 >= 0 && gateway1 >= 0) run.gateway_cpu_s = gateway1 - gateway0;
  if (emulator0 >= 0 && emulator1 >= 0) {
    run.emulator_cpu_s = emulator1 - emulator0;
  }
  if (opens0 >= 0 && opens1 >= 0) run.tcp_connects = opens1 - opens0;
  if (gateway_cs0 >= 0 && gateway_cs1 >= 0) {
    run.gateway_switches = gateway_cs1 - gateway_cs0;
  }
  if (emulator_cs0 >= 0 && emulator_cs1 >= 0) {
    run.emulator_switches = emulator_cs1 - emulator_cs0;
  }
  if (machine1.total > machine0.total) {
    run.machine_busy = static_cast<double>(machine1.busy - machine0.busy) /
                       static_cast<double>(machine1.total - machine0.total);
  }
  return run;
}

std::string Micros(int64_t ns) {
  return absl::StrFormat("%.0f", static_cast<double>(ns) / 1e3);
}

std::string PerCall(int64_t count, int64_t calls) {
  if (count < 0) return "n/a";
  if (calls == 0) return "-";
  return absl::StrFormat(
      "%.1f", static_cast<double>(count) / static_cast<double>(calls));
}

std::string CpuPerCall(double seconds, int64_t calls) {
  if (seconds < 0) return "n/a";
  if (calls == 0) return "-";
  return absl::StrFormat("%.1f", seconds * 1e6 / static_cast<double>(calls));
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "GetTask through the gateway against direct REST calls.\n"
      "Usage: gateway-bench --rest-url URL --gateway HOST:PORT --api-key K "
      "--task-uuid U [--gateway-pid P --emulator-pid P] [--concurrency "
      "1,8,64,256] [--duration 5s]");
  triverse::bench::DashedFlags flags(argc, argv);
  const std::vector<char*> positional =
      absl::ParseCommandLine(flags.argc(), flags.argv());
  if (positional.size() > 1) {
    std::fprintf(stderr, "unexpected argument: %s\n", positional[1]);
    return 2;
  }
  std::vector<int> levels;
  for (absl::string_view part : absl::StrSplit(absl::GetFlag(FLAGS_concurrency),
                                               ',', absl::SkipEmpty())) {
    int n = 0;
    if (!absl::SimpleAtoi(part, &n) || n <= 0) {
      std::fprintf(stderr, "bad --concurrency entry: %s\n",
                   std::string(part).c_str());
      return 2;
    }
    levels.push_back(n);
  }
  std::vector<std::string> modes =
      absl::StrSplit(absl::GetFlag(FLAGS_modes), ',', absl::SkipEmpty());
  for (const std::string& m : modes) {
    if (m != "rest" && m != "grpc") {
      std::fprintf(stderr, "bad --modes entry: %s\n", m.c_str());
      return 2;
    }
    if (m == "rest" && (absl::GetFlag(FLAGS_rest_url).empty() ||
                        absl::GetFlag(FLAGS_api_key).empty())) {
      std::fprintf(stderr, "rest mode needs --rest-url and --api-key\n");
      return 2;
    }
    if (m == "grpc" && absl::GetFlag(FLAGS_gateway).empty()) {
      std::fprintf(stderr, "grpc mode needs --gateway\n");
      return 2;
    }
  }
  if (absl::GetFlag(FLAGS_task_uuid).empty()) {
    std::fprintf(stderr, "--task-uuid is required\n");
    return 2;
  }
  // Debian's abseil is built with absl::Mutex deadlock detection on (lock
  // acquisitions, gRPC's included, go through a global lock graph); a load
  // generator has no use for it.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  curl_global_init(CURL_GLOBAL_DEFAULT);

  // Rounds repeat the whole sweep (levels, then modes, interleaved), so that
  // a neighbour's burst of load hits one round rather than one mode; each
  // (level, mode) then reports its median round by throughput.
  const int rounds = std::max(1, absl::GetFlag(FLAGS_rounds));
  std::vector<RunResult> all_runs;
  for (int round = 0; round < rounds; ++round) {
    for (int level : levels) {
      for (const std::string& mode : modes) {
        std::fprintf(stderr, "gateway-bench: round %d/%d, %s, %d in flight\n",
                     round + 1, rounds, mode.c_str(), level);
        all_runs.push_back(RunOne(mode, level));
        all_runs.back().round = round;
        const RunResult& r = all_runs.back();
        std::fprintf(stderr,
                     "  %.0f calls/s, p50 %s us, p99 %s us, %" PRId64
                     " errors\n",
                     r.Throughput(), Micros(r.p50_ns).c_str(),
                     Micros(r.p99_ns).c_str(), r.errors);
      }
    }
  }
  std::vector<RunResult> runs;
  for (int level : levels) {
    for (const std::string& mode : modes) {
      std::vector<RunResult> same;
      for (const RunResult& r : all_runs) {
        if (r.in_flight == level && r.mode == mode) same.push_back(r);
      }
      std::sort(same.begin(), same.end(),
                [](const RunResult& a, const RunResult& b) {
                  return a.Throughput() < b.Throughput();
                });
      RunResult median = same[same.size() / 2];
      median.min_throughput = same.front().Throughput();
      median.max_throughput = same.back().Throughput();
      median.errors_all_rounds = 0;
      for (const RunResult& r : same) {
        median.errors_all_rounds += r.errors;
        if (median.first_error.empty()) median.first_error = r.first_error;
      }
      runs.push_back(median);
    }
  }

  std::printf(
      "| mode | in flight | calls/s%s | p50 µs | p99 µs | calls | errors | "
      "client CPU µs/call | gateway CPU µs/call | emulator CPU µs/call | "
      "context switches/call: gateway, emulator | machine busy | client "
      "connections | TCP connects in window |\n"
      "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n",
      rounds > 1 ? absl::StrFormat(" (median of %d; min–max)", rounds).c_str()
                 : "");
  bool any_errors = false;
  for (const RunResult& r : runs) {
    const bool grpc = r.mode == "grpc";
    any_errors |= r.errors_all_rounds > 0;
    std::string throughput = absl::StrFormat("%.0f", r.Throughput());
    if (rounds > 1) {
      absl::StrAppendFormat(&throughput, " (%.0f–%.0f)", r.min_throughput,
                            r.max_throughput);
    }
    std::printf(
        "| %s%s | %d | %s | %s | %s | %" PRId64 " | %" PRId64
        " | %s | %s | %s | %s | %.0f%% | %s | %s |\n",
        grpc ? "gRPC via gateway" : "direct REST",
        r.errors_all_rounds > 0 ? " ⚠" : "", r.in_flight, throughput.c_str(),
        Micros(r.p50_ns).c_str(), Micros(r.p99_ns).c_str(), r.calls,
        r.errors_all_rounds, CpuPerCall(r.client_cpu_s, r.calls).c_str(),
        grpc ? CpuPerCall(r.gateway_cpu_s, r.calls).c_str() : "-",
        CpuPerCall(r.emulator_cpu_s, r.calls).c_str(),
        absl::StrFormat("%s, %s",
                        grpc ? PerCall(r.gateway_switches, r.calls) : "-",
                        PerCall(r.emulator_switches, r.calls))
            .c_str(),
        r.machine_busy * 100,
        grpc ? absl::StrFormat("%d channels", r.channels).c_str()
             : absl::StrFormat("%d opened", r.connections).c_str(),
        r.tcp_connects < 0 ? "n/a"
                           : absl::StrFormat("%d", r.tcp_connects).c_str());
  }
  if (any_errors) {
    std::printf(
        "\n**Runs marked ⚠ had errors (counted over all rounds); their "
        "figures are suspect.**\n");
    for (const RunResult& r : runs) {
      if (r.errors_all_rounds == 0) continue;
      std::printf("- %s, %d in flight: %" PRId64 " errors, first: %s\n",
                  r.mode.c_str(), r.in_flight, r.errors_all_rounds,
                  r.first_error.c_str());
    }
  }

  // Ratios per level, when both modes ran.
  bool header = false;
  const RunResult* rest_at[2] = {nullptr, nullptr};  // 1 and 64 in flight
  const RunResult* grpc_at[2] = {nullptr, nullptr};
  double ratio_at_64 = -1;
  for (int level : levels) {
    const RunResult* rest = nullptr;
    const RunResult* grpc = nullptr;
    for (const RunResult& r : runs) {
      if (r.in_flight != level) continue;
      (r.mode == "rest" ? rest : grpc) = &r;
    }
    if (rest == nullptr || grpc == nullptr || rest->calls == 0 ||
        grpc->calls == 0) {
      continue;
    }
    if (level == 1 || level == 64) {
      rest_at[level == 64] = rest;
      grpc_at[level == 64] = grpc;
    }
    if (!header) {
      std::printf(
          "\n| in flight | gateway/REST throughput%s | p50 added µs | "
          "p99 added µs | server CPU µs/call: REST (emulator) | "
          "gRPC (gateway + emulator) |\n|--:|--:|--:|--:|--:|--:|\n",
          rounds > 1 ? " (median of the rounds' ratios; min–max)" : "");
      header = true;
    }
    std::string grpc_server = "n/a";
    if (grpc->gateway_cpu_s >= 0 && grpc->emulator_cpu_s >= 0) {
      grpc_server = absl::StrFormat(
          "%s + %s", CpuPerCall(grpc->gateway_cpu_s, grpc->calls),
          CpuPerCall(grpc->emulator_cpu_s, grpc->calls));
    }
    // The ratio of each round (its two modes ran back to back, under the
    // same neighbours), then the median of those.
    std::vector<double> ratios;
    for (const RunResult& g : all_runs) {
      if (g.mode != "grpc" || g.in_flight != level) continue;
      for (const RunResult& r : all_runs) {
        if (r.mode == "rest" && r.in_flight == level && r.round == g.round &&
            r.calls > 0) {
          ratios.push_back(g.Throughput() / r.Throughput());
        }
      }
    }
    std::sort(ratios.begin(), ratios.end());
    if (ratios.empty()) continue;
    const double ratio = ratios[ratios.size() / 2];
    std::string ratio_text = absl::StrFormat("%.2f×", ratio);
    if (ratios.size() > 1) {
      absl::StrAppendFormat(&ratio_text, " (%.2f–%.2f)", ratios.front(),
                            ratios.back());
    }
    if (level == 64) ratio_at_64 = ratio;
    std::printf("| %d | %s | %+.0f | %+.0f | %s | %s |\n", level,
                ratio_text.c_str(),
                static_cast<double>(grpc->p50_ns - rest->p50_ns) / 1e3,
                static_cast<double>(grpc->p99_ns - rest->p99_ns) / 1e3,
                CpuPerCall(rest->emulator_cpu_s, rest->calls).c_str(),
                grpc_server.c_str());
  }

  // The targets.
  if (ratio_at_64 >= 0) {
    const double ratio = ratio_at_64;
    std::printf(
        "\nTarget: gateway throughput ≥ 0.6× direct REST at 64 in flight: "
        "%.2f× — %s\n",
        ratio, ratio >= 0.6 ? "met" : "MISSED");
  }
  for (int i = 0; i < 2; ++i) {
    if (rest_at[i] == nullptr) continue;
    const double added =
        static_cast<double>(grpc_at[i]->p50_ns - rest_at[i]->p50_ns) / 1e3;
    std::printf(
        "Target: added p50 latency < 250 µs, %d in flight: %+.0f µs — %s\n",
        i == 0 ? 1 : 64, added, added < 250 ? "met" : "MISSED");
  }
  curl_global_cleanup();
  return any_errors ? 1 : 0;
}
