// soak: holds many idle WatchTask streams on one gateway for a while, then
// adds a steady unary load, and samples the gateway process every
// --sample-interval (bench/soak.sh runs it against an emulator whose tasks
// stay PENDING for longer than the whole run, so the streams are idle).
//
// Phases:
//   idle  creates --tasks tasks (CreateTask), opens --streams WatchTask
//         streams spread over them on --channels channels, and holds them
//         for --idle-duration.
//   load  keeps the streams open and sends --load-rps GetTask calls per
//         second (spread over --load-threads threads, round-robin over the
//         tasks) for --load-duration.
// Every sample (one CSV row) reads, for --gateway-pid: VmRSS and threads
// (/proc/PID/status), open file descriptors (/proc/PID/fd), and the TCP
// sockets to the emulator's port (the socket inodes of /proc/PID/fd matched
// against /proc/PID/net/tcp{,6}); plus the load's call and error counts and
// the streams still open. Prints a Markdown summary with a verdict (RSS
// slope after warm-up, max−min, growth of sockets, fds and threads) and
// exits 1 when a stream ended early or a resource grew.
#include <dirent.h>
#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "bench/bench_util.h"
#include "triverse/v1/task_service.grpc.pb.h"

ABSL_FLAG(std::string, gateway, "", "the gateway's gRPC address, HOST:PORT");
ABSL_FLAG(int, gateway_pid, 0, "the gateway's process id (sampled)");
ABSL_FLAG(int, upstream_port, 0,
          "the emulator's TCP port: sockets to it count as upstream");
ABSL_FLAG(int, streams, 10000, "idle WatchTask streams");
ABSL_FLAG(int, tasks, 100, "tasks the streams are spread over");
ABSL_FLAG(int, channels, 16, "gRPC channels (HTTP/2 connections)");
ABSL_FLAG(absl::Duration, idle_duration, absl::Minutes(10),
          "how long the streams are held before the load starts");
ABSL_FLAG(absl::Duration, load_duration, absl::Minutes(10),
          "how long the unary load runs (streams still open)");
ABSL_FLAG(int, load_rps, 100, "GetTask calls per second in the load phase");
ABSL_FLAG(int, load_threads, 4, "threads sending the load");
ABSL_FLAG(absl::Duration, sample_interval, absl::Seconds(10),
          "time between two samples");
ABSL_FLAG(absl::Duration, warmup, absl::Minutes(1),
          "samples of the first this-long of each phase are left out of "
          "the verdict's slope");
ABSL_FLAG(double, max_rss_slope_kib_per_min, 256,
          "verdict: largest RSS slope (KiB/min) after warm-up called flat");
ABSL_FLAG(std::string, csv, "", "write the samples here");

namespace {

namespace v1 = triverse::v1;
using Steady = std::chrono::steady_clock;

struct Sample {
  double t = 0;  // seconds since the streams were open
  std::string phase;
  int64_t rss_kib = -1;
  int64_t threads = -1;
  int64_t fds = -1;
  int64_t upstream_sockets = -1;
  int64_t streams_open = 0;
  int64_t calls = 0;
  int64_t errors = 0;
};

int64_t StatusField(int pid, const char* field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  const std::string prefix = std::string(field) + ":";
  while (std::getline(in, line)) {
    if (line.rfind(prefix, 0) != 0) continue;
    std::vector<std::string> f =
        absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    int64_t v = 0;
    if (f.size() >= 2 && absl::SimpleAtoi(f[1], &v)) return v;
  }
  return -1;
}

// Counts the open descriptors of `pid` and collects its socket inodes.
int64_t Fds(int pid, std::set<uint64_t>* socket_inodes) {
  const std::string dir = "/proc/" + std::to_string(pid) + "/fd";
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return -1;
  int64_t n = 0;
  char target[256];
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    ++n;
    const std::string link = dir + "/" + e->d_name;
    const ssize_t len = readlink(link.c_str(), target, sizeof(target) - 1);
    if (len <= 0) continue;
    target[len] = '\0';
    uint64_t inode = 0;
    absl::string_view t(target, static_cast<size_t>(len));
    if (absl::ConsumePrefix(&t, "socket:[") && absl::ConsumeSuffix(&t, "]") &&
        absl::SimpleAtoi(t, &inode)) {
      socket_inodes->insert(inode);
    }
  }
  closedir(d);
  return n;
}

// Sockets of `pid` (by inode) whose remote port is `port`.
int64_t UpstreamSockets(int pid, int port,
                        const std::set<uint64_t>& socket_inodes) {
  int64_t n = 0;
  for (const char* file : {"tcp", "tcp6"}) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/net/" + file);
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
      std::vector<std::string> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
      // sl local rem st tx:rx tr:when retrnsmt uid timeout inode
      if (f.size() < 10) continue;
      const size_t colon = f[2].rfind(':');
      if (colon == std::string::npos) continue;
      int remote_port = 0;
      uint64_t inode = 0;
      if (!absl::SimpleHexAtoi(f[2].substr(colon + 1), &remote_port) ||
          !absl::SimpleAtoi(f[9], &inode)) {
        continue;
      }
      if (remote_port == port && socket_inodes.count(inode)) ++n;
    }
  }
  return n;
}

std::atomic<int64_t> g_open{0};
std::atomic<int64_t> g_done{0};
std::atomic<int64_t> g_calls{0};
std::atomic<int64_t> g_errors{0};

class IdleStream : public grpc::ClientReadReactor<v1::TaskEvent> {
 public:
  explicit IdleStream(const std::string& uuid) { request_.set_task_uuid(uuid); }
  void Start(v1::TaskService::Stub* stub) {
    stub->async()->WatchTask(&context_, &request_, this);
    StartRead(&event_);
    StartCall();
  }
  void OnReadDone(bool ok) override {
    if (!ok) return;
    if (events_.fetch_add(1) == 0) g_open.fetch_add(1);
    StartRead(&event_);
  }
  void OnDone(const grpc::Status& status) override {
    code = status.error_code();
    message = status.error_message();
    if (events_.load() > 0) g_open.fetch_sub(1);
    g_done.fetch_add(1, std::memory_order_release);
  }
  void Cancel() { context_.TryCancel(); }
  int64_t events() const { return events_.load(); }

  grpc::StatusCode code = grpc::StatusCode::OK;
  std::string message;

 private:
  grpc::ClientContext context_;
  v1::WatchTaskRequest request_;
  v1::TaskEvent event_;
  std::atomic<int64_t> events_{0};
};

Sample TakeSample(double t, const std::string& phase) {
  Sample s;
  s.t = t;
  s.phase = phase;
  const int pid = absl::GetFlag(FLAGS_gateway_pid);
  if (pid > 0) {
    s.rss_kib = StatusField(pid, "VmRSS");
    s.threads = StatusField(pid, "Threads");
    std::set<uint64_t> inodes;
    s.fds = Fds(pid, &inodes);
    s.upstream_sockets =
        UpstreamSockets(pid, absl::GetFlag(FLAGS_upstream_port), inodes);
  }
  s.streams_open = g_open.load();
  s.calls = g_calls.load();
  s.errors = g_errors.load();
  return s;
}

// Least-squares slope of y over x (per unit of x).
double Slope(const std::vector<double>& x, const std::vector<double>& y) {
  const size_t n = x.size();
  if (n < 2) return 0;
  double mx = 0, my = 0;
  for (size_t i = 0; i < n; ++i) {
    mx += x[i];
    my += y[i];
  }
  mx /= n;
  my /= n;
  double sxy = 0, sxx = 0;
  for (size_t i = 0; i < n; ++i) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) * (x[i] - mx);
  }
  return sxx > 0 ? sxy / sxx : 0;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "soak --gateway HOST:PORT --gateway-pid PID --upstream-port PORT");
  triverse::bench::DashedFlags flags(argc, argv);
  absl::ParseCommandLine(flags.argc(), flags.argv());
  const int n_streams = absl::GetFlag(FLAGS_streams);
  const int n_tasks = std::max(1, absl::GetFlag(FLAGS_tasks));
  const int n_channels = std::max(1, absl::GetFlag(FLAGS_channels));
  if (absl::GetFlag(FLAGS_gateway).empty()) {
    std::fprintf(stderr, "soak: --gateway is required\n");
    return 2;
  }

  std::vector<std::unique_ptr<v1::TaskService::Stub>> stubs;
  for (int c = 0; c < n_channels; ++c) {
    grpc::ChannelArguments args;
    args.SetInt("soak.channel", c);
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    stubs.push_back(v1::TaskService::NewStub(
        grpc::CreateCustomChannel(absl::GetFlag(FLAGS_gateway),
                                  grpc::InsecureChannelCredentials(), args)));
  }

  std::vector<std::string> uuids;
  for (int i = 0; i < n_tasks; ++i) {
    v1::CreateTaskRequest request;
    request.mutable_text_to_model()->set_prompt(
        absl::StrFormat("a soaking chair number %d", i));
    v1::TaskCreation creation;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(30));
    grpc::Status status =
        stubs[i % n_channels]->CreateTask(&context, request, &creation);
    if (!status.ok()) {
      std::fprintf(stderr, "soak: CreateTask failed: %d %s\n",
                   static_cast<int>(status.error_code()),
                   status.error_message().c_str());
      return 1;
    }
    uuids.push_back(creation.task_uuid());
  }

  const Sample before = TakeSample(0, "before");
  std::printf("== before the streams: RSS %lld KiB, %lld fds, %lld threads\n",
              static_cast<long long>(before.rss_kib),
              static_cast<long long>(before.fds),
              static_cast<long long>(before.threads));
  std::fflush(stdout);

  std::vector<std::unique_ptr<IdleStream>> streams;
  streams.reserve(n_streams);
  for (int i = 0; i < n_streams; ++i) {
    streams.push_back(std::make_unique<IdleStream>(uuids[i % n_tasks]));
    streams.back()->Start(stubs[i % n_channels].get());
  }
  const Steady::time_point open_deadline =
      Steady::now() + std::chrono::seconds(300);
  while (g_open.load() + g_done.load() < n_streams &&
         Steady::now() < open_deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::printf("== %lld of %d streams open (first event received)\n",
              static_cast<long long>(g_open.load()), n_streams);
  std::fflush(stdout);

  std::FILE* csv = nullptr;
  if (!absl::GetFlag(FLAGS_csv).empty()) {
    csv = std::fopen(absl::GetFlag(FLAGS_csv).c_str(), "w");
    if (csv == nullptr) {
      std::fprintf(stderr, "soak: cannot write %s\n",
                   absl::GetFlag(FLAGS_csv).c_str());
      return 2;
    }
    std::fprintf(csv,
                 "t_s,phase,rss_kib,threads,fds,upstream_sockets,streams_open,"
                 "calls,errors\n");
  }

  std::vector<Sample> samples;
  const Steady::time_point start = Steady::now();
  auto record = [&](const std::string& phase) {
    Sample s = TakeSample(
        std::chrono::duration<double>(Steady::now() - start).count(), phase);
    samples.push_back(s);
    if (csv != nullptr) {
      std::fprintf(
          csv, "%.1f,%s,%lld,%lld,%lld,%lld,%lld,%lld,%lld\n", s.t,
          s.phase.c_str(), static_cast<long long>(s.rss_kib),
          static_cast<long long>(s.threads), static_cast<long long>(s.fds),
          static_cast<long long>(s.upstream_sockets),
          static_cast<long long>(s.streams_open),
          static_cast<long long>(s.calls), static_cast<long long>(s.errors));
      std::fflush(csv);
    }
    std::printf(
        "%7.1f s %-4s rss %lld KiB, threads %lld, fds %lld, upstream "
        "sockets %lld, streams %lld, calls %lld, errors %lld\n",
        s.t, s.phase.c_str(), static_cast<long long>(s.rss_kib),
        static_cast<long long>(s.threads), static_cast<long long>(s.fds),
        static_cast<long long>(s.upstream_sockets),
        static_cast<long long>(s.streams_open), static_cast<long long>(s.calls),
        static_cast<long long>(s.errors));
    std::fflush(stdout);
  };
  const auto interval =
      absl::ToChronoNanoseconds(absl::GetFlag(FLAGS_sample_interval));
  // Samples at start + k·interval until `end`.
  auto hold = [&](const std::string& phase, Steady::time_point end) {
    Steady::time_point next =
        start + interval * ((Steady::now() - start) / interval);
    while (true) {
      if (next <= Steady::now()) {
        record(phase);
        next += interval;
      }
      if (Steady::now() >= end) break;
      std::this_thread::sleep_until(std::min(next, end));
    }
  };

  const Steady::time_point idle_end =
      start + absl::ToChronoNanoseconds(absl::GetFlag(FLAGS_idle_duration));
  hold("idle", idle_end);
  const double load_start_s =
      std::chrono::duration<double>(Steady::now() - start).count();

  // Load: each thread paces itself to load_rps / load_threads calls/s.
  std::atomic<bool> stop{false};
  std::vector<std::thread> workers;
  const int n_threads = std::max(1, absl::GetFlag(FLAGS_load_threads));
  const double per_thread =
      std::max(1, absl::GetFlag(FLAGS_load_rps)) / double(n_threads);
  for (int w = 0; w < n_threads; ++w) {
    workers.emplace_back([&, w] {
      const auto gap = std::chrono::duration_cast<Steady::duration>(
          std::chrono::duration<double>(1.0 / per_thread));
      Steady::time_point next = Steady::now();
      for (int64_t i = w; !stop.load(); i += n_threads) {
        v1::GetTaskRequest request;
        request.set_task_uuid(uuids[i % n_tasks]);
        v1::Task task;
        grpc::ClientContext context;
        context.set_deadline(std::chrono::system_clock::now() +
                             std::chrono::seconds(10));
        grpc::Status status =
            stubs[i % n_channels]->GetTask(&context, request, &task);
        g_calls.fetch_add(1);
        if (!status.ok()) g_errors.fetch_add(1);
        next += gap;
        if (next > Steady::now()) std::this_thread::sleep_until(next);
      }
    });
  }
  const Steady::time_point load_end =
      Steady::now() +
      absl::ToChronoNanoseconds(absl::GetFlag(FLAGS_load_duration));
  hold("load", load_end);
  stop = true;
  for (std::thread& t : workers) t.join();
  const double load_seconds =
      std::chrono::duration<double>(Steady::now() - start).count() -
      load_start_s;

  // Streams that ended while they should have been idle.
  const int64_t ended_early = g_done.load();
  for (auto& s : streams) s->Cancel();
  while (g_done.load(std::memory_order_acquire) < n_streams) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  int64_t never_opened = 0;
  for (auto& s : streams) never_opened += s->events() == 0;
  streams.clear();
  if (csv != nullptr) std::fclose(csv);

  // Verdict, per phase, on the samples after warm-up.
  bool ok = ended_early == 0 && never_opened == 0;
  const double warmup = absl::ToDoubleSeconds(absl::GetFlag(FLAGS_warmup));
  std::printf(
      "\n| phase | samples | RSS min–max (MiB) | RSS slope after warm-up "
      "(KiB/min) | fds min–max | threads min–max | upstream sockets min–max "
      "| calls | errors |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  for (const std::string phase : {"idle", "load"}) {
    std::vector<double> x, y;
    int64_t rmin = INT64_MAX, rmax = INT64_MIN, fmin = INT64_MAX,
            fmax = INT64_MIN, tmin = INT64_MAX, tmax = INT64_MIN,
            umin = INT64_MAX, umax = INT64_MIN, calls0 = -1, calls1 = 0,
            err0 = 0, err1 = 0, n = 0;
    double phase_start = -1;
    for (const Sample& s : samples) {
      if (s.phase != phase) continue;
      if (phase_start < 0) phase_start = s.t;
      ++n;
      rmin = std::min(rmin, s.rss_kib);
      rmax = std::max(rmax, s.rss_kib);
      fmin = std::min(fmin, s.fds);
      fmax = std::max(fmax, s.fds);
      tmin = std::min(tmin, s.threads);
      tmax = std::max(tmax, s.threads);
      umin = std::min(umin, s.upstream_sockets);
      umax = std::max(umax, s.upstream_sockets);
      if (calls0 < 0) {
        calls0 = s.calls;
        err0 = s.errors;
      }
      calls1 = s.calls;
      err1 = s.errors;
      if (s.t - phase_start >= warmup) {
        x.push_back(s.t / 60);
        y.push_back(static_cast<double>(s.rss_kib));
      }
    }
    if (n == 0) continue;
    if (phase == "load") {
      calls1 = g_calls.load();
      err1 = g_errors.load();
    }
    const double slope = Slope(x, y);
    std::printf(
        "| %s | %lld | %.1f–%.1f | %+.1f | %lld–%lld | %lld–%lld | "
        "%lld–%lld | %lld | %lld |\n",
        phase.c_str(), static_cast<long long>(n), rmin / 1024.0, rmax / 1024.0,
        slope, static_cast<long long>(fmin), static_cast<long long>(fmax),
        static_cast<long long>(tmin), static_cast<long long>(tmax),
        static_cast<long long>(umin), static_cast<long long>(umax),
        static_cast<long long>(calls1 - std::max<int64_t>(calls0, 0)),
        static_cast<long long>(err1 - err0));
    const bool flat =
        std::abs(slope) <= absl::GetFlag(FLAGS_max_rss_slope_kib_per_min);
    // Growth: the last sample against the first after warm-up (a few
    // descriptors come and go with the load's connections).
    ok = ok && flat && err1 - err0 == 0;
  }
  // Sockets, fds and threads: the end of the run against the end of the
  // idle phase's warm-up.
  const Sample* ref = nullptr;
  for (const Sample& s : samples) {
    if (s.t >= warmup) {
      ref = &s;
      break;
    }
  }
  const Sample* last = samples.empty() ? nullptr : &samples.back();
  bool grew = false;
  if (ref != nullptr && last != nullptr) {
    grew = last->fds > ref->fds + 8 || last->threads > ref->threads + 4 ||
           last->upstream_sockets > ref->upstream_sockets + 4;
    std::printf(
        "\nafter warm-up (t=%.0f s) → end (t=%.0f s): RSS %+lld KiB, fds "
        "%lld → %lld, threads %lld → %lld, upstream sockets %lld → %lld\n",
        ref->t, last->t, static_cast<long long>(last->rss_kib - ref->rss_kib),
        static_cast<long long>(ref->fds), static_cast<long long>(last->fds),
        static_cast<long long>(ref->threads),
        static_cast<long long>(last->threads),
        static_cast<long long>(ref->upstream_sockets),
        static_cast<long long>(last->upstream_sockets));
  }
  ok = ok && !grew;
  std::printf(
      "load: %.0f s, %.1f calls/s achieved; streams ended early %lld, never "
      "opened %lld\nverdict: %s\n",
      load_seconds, (g_calls.load()) / std::max(1.0, load_seconds),
      static_cast<long long>(ended_early), static_cast<long long>(never_opened),
      ok ? "PASS (memory flat, no growth in sockets, fds or threads)" : "FAIL");
  return ok ? 0 : 1;
}
