// fault-matrix: every fault of the emulator at once against one gateway,
// restarted mid-run, checked against the emulator's own records
// (bench/fault_matrix.sh runs it).
//
// The tool starts the gateway itself (--gateway-bin, output appended to
// --gateway-log) so that it can restart it on the same port (SIGTERM: the
// gateway drains and ends watch streams with a resume cursor; SIGKILL:
// a crash-like stop) at the times of --restarts, and see every exit status.
// It sets the emulator's faults (--faults, POST /_emulator/faults), then:
//   creators  --creators threads, each on its own channel, create --tasks
//             tasks (text-to-model, client_order_id "<run>-<i>", prompt
//             naming i); a call that fails with a transient code (the
//             gateway gone, UNAVAILABLE, DEADLINE_EXCEEDED, ...) is sent
//             again with the same client_order_id.
//   watchers  --watchers-per-task WatchTask streams per task, watcher k on
//             its own group of channels; a stream that breaks before its
//             FINALIZED event resumes from the cursor of the last event
//             received.
// Then it reads GET /_emulator/ledger and /_emulator/stats and checks:
//   - one task per client_order_id and per prompt, every task of the run
//     known to the emulator under the uuid its creator got, no other task;
//   - credits: frozen = cost of the non-terminal tasks, charged = cost of
//     the SUCCESS tasks (nothing frozen or charged twice);
//   - every watcher got exactly one FINALIZED event, nothing after it, with
//     the status the emulator has;
//   - the gateway exited only when stopped, with 0 after SIGTERM.
// Prints the results as Markdown (also to --out) and exits 1 when an
// invariant is violated.
#include <curl/curl.h>
#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "bench/bench_util.h"
#include "rapidjson/document.h"
#include "server/errors/grpc_status.h"
#include "triverse/v1/task_service.grpc.pb.h"

ABSL_FLAG(std::string, gateway_bin, "", "the triverse-gateway binary");
ABSL_FLAG(std::string, gateway_log, "gateway.log",
          "the gateway's output (appended, every start)");
ABSL_FLAG(std::string, work_dir, ".", "for the gateway's port file");
ABSL_FLAG(std::vector<std::string>, gateway_args, {},
          "extra gateway flags (comma-separated)");
ABSL_FLAG(std::string, rest_url, "",
          "the emulator's API base URL, e.g. http://127.0.0.1:8080/api/v1");
ABSL_FLAG(std::string, api_key, "", "the gateway's upstream API key");
ABSL_FLAG(std::string, faults, "",
          "fault settings (JSON) POSTed to /_emulator/faults before the run");
ABSL_FLAG(int, tasks, 1000, "tasks to create");
ABSL_FLAG(int, creators, 4, "creator threads (one channel each)");
ABSL_FLAG(int, watchers_per_task, 3, "WatchTask watchers per task");
ABSL_FLAG(int, channels_per_group, 4, "channels of each watcher group");
ABSL_FLAG(absl::Duration, create_spread, absl::Seconds(60),
          "spread the creations over this time");
ABSL_FLAG(std::string, restarts, "TERM@40s,KILL@90s",
          "gateway restarts: SIGNAL@TIME after the start of the run, "
          "comma-separated (TERM or KILL); empty: none");
ABSL_FLAG(absl::Duration, restart_pause, absl::Seconds(1),
          "time the gateway stays down between stop and start");
ABSL_FLAG(absl::Duration, timeout, absl::Minutes(10),
          "give up waiting for the watchers after this");
ABSL_FLAG(std::string, run_id, "",
          "prefix of the client_order_ids (default: fm<unix time>)");
ABSL_FLAG(std::string, out, "", "also write the Markdown report here");

namespace {

namespace v1 = triverse::v1;
using Steady = std::chrono::steady_clock;

// ------------------------------------------------------------ HTTP helpers

long Http(const std::string& url, const std::string* post, std::string* body) {
  return triverse::bench::HttpExchange(url, post, body, 30000L);
}

std::string EmulatorBase() {
  std::string url = absl::GetFlag(FLAGS_rest_url);
  const size_t api = url.rfind("/api/v1");
  if (api != std::string::npos) url.resize(api);
  return url;
}

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

// Sums of a Prometheus text exposition: per series (name{labels}) and per
// metric name.
struct Scrape {
  std::map<std::string, double> series;
  std::map<std::string, double> by_name;
};

Scrape ScrapeMetrics(int port) {
  Scrape s;
  std::string body;
  if (Http(absl::StrCat("http://127.0.0.1:", port, "/metrics"), nullptr,
           &body) != 200) {
    return s;
  }
  std::istringstream in(body);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const size_t space = line.rfind(' ');
    if (space == std::string::npos) continue;
    double v = 0;
    if (!absl::SimpleAtod(line.substr(space + 1), &v)) continue;
    const std::string series = line.substr(0, space);
    s.series[series] += v;
    s.by_name[series.substr(0, series.find('{'))] += v;
  }
  return s;
}

// -------------------------------------------------------------- the gateway

class Gateway {
 public:
  bool Start() {
    const std::string port_file =
        absl::StrCat(absl::GetFlag(FLAGS_work_dir), "/gateway.port");
    unlink(port_file.c_str());
    if (metrics_port_ == 0) metrics_port_ = FreePort();
    std::vector<std::string> args = {absl::GetFlag(FLAGS_gateway_bin),
                                     "--listen",
                                     absl::StrCat("127.0.0.1:", port_),
                                     "--port-file",
                                     port_file,
                                     "--upstream-url",
                                     absl::GetFlag(FLAGS_rest_url),
                                     "--metrics-listen",
                                     absl::StrCat("127.0.0.1:", metrics_port_)};
    for (const std::string& a : absl::GetFlag(FLAGS_gateway_args)) {
      if (!a.empty()) args.push_back(a);
    }
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::vector<std::string> env_strings;
    for (char** e = environ; *e != nullptr; ++e) {
      if (std::string(*e).rfind("TRIVERSE_API_KEY=", 0) != 0) {
        env_strings.emplace_back(*e);
      }
    }
    env_strings.push_back("TRIVERSE_API_KEY=" + absl::GetFlag(FLAGS_api_key));
    std::vector<char*> envp;
    for (std::string& e : env_strings) envp.push_back(e.data());
    envp.push_back(nullptr);

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1,
                                     absl::GetFlag(FLAGS_gateway_log).c_str(),
                                     O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    pid_t pid = 0;
    const int rc =
        posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
      std::fprintf(stderr, "fault-matrix: cannot start %s\n", argv[0]);
      return false;
    }
    pid_ = pid;
    ++starts_;
    for (int i = 0; i < 400; ++i) {
      std::ifstream in(port_file);
      int port = 0;
      if (in >> port && port > 0) {
        port_ = port;
        return true;
      }
      if (!Alive()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    std::fprintf(stderr, "fault-matrix: the gateway did not start\n");
    return false;
  }

  // Stop sends `sig`, waits for the exit and records it. The metrics are
  // scraped first (they die with the process).
  void Stop(int sig) {
    if (pid_ <= 0) return;
    AddScrape(ScrapeMetrics(metrics_port_));
    const auto t0 = Steady::now();
    kill(pid_, sig);
    int status = 0;
    waitpid(pid_, &status, 0);
    const double seconds =
        std::chrono::duration<double>(Steady::now() - t0).count();
    exits_.push_back({sig, status, seconds});
    pid_ = -1;
  }

  // Alive reaps an unexpected exit (a crash) and records it.
  bool Alive() {
    if (pid_ <= 0) return false;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      exits_.push_back({0, status, 0});
      pid_ = -1;
      return false;
    }
    return true;
  }

  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }

  struct Exit {
    int sent_signal;  // 0: not stopped by us
    int status;       // waitpid
    double seconds;   // from the signal to the exit
  };
  const std::vector<Exit>& exits() const { return exits_; }
  const Scrape& metrics() const { return metrics_; }
  int starts() const { return starts_; }

 private:
  void AddScrape(const Scrape& s) {
    for (const auto& [k, v] : s.series) metrics_.series[k] += v;
    for (const auto& [k, v] : s.by_name) metrics_.by_name[k] += v;
  }

  pid_t pid_ = -1;
  int port_ = 0;
  int metrics_port_ = 0;
  int starts_ = 0;
  std::vector<Exit> exits_;
  Scrape metrics_;  // summed over the gateway's lives
};

// ---------------------------------------------------------------- channels

std::shared_ptr<grpc::Channel> MakeChannel(const std::string& address,
                                           int index) {
  grpc::ChannelArguments args;
  args.SetInt("fault_matrix.channel", index);
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  // Reconnect quickly after the restart.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(),
                                   args);
}

bool Transient(grpc::StatusCode c) {
  return c == grpc::StatusCode::UNAVAILABLE ||
         c == grpc::StatusCode::DEADLINE_EXCEEDED ||
         c == grpc::StatusCode::RESOURCE_EXHAUSTED ||
         c == grpc::StatusCode::INTERNAL || c == grpc::StatusCode::UNKNOWN ||
         c == grpc::StatusCode::ABORTED || c == grpc::StatusCode::CANCELLED;
}

std::string CodeName(grpc::StatusCode c) {
  return std::string(triverse::errors::StatusCodeName(c));
}

// ----------------------------------------------------------------- creators

struct Creation {
  std::string uuid;             // of the first success
  std::set<std::string> uuids;  // every uuid a success returned
  int attempts = 0;
  std::map<std::string, int> failures;  // code → count
  bool created = false;
};

// --------------------------------------------------------------- watchers

struct Watcher;

// Scheduler runs watch attempts when they are due.
class Scheduler {
 public:
  void At(Steady::time_point when, Watcher* w) {
    std::lock_guard<std::mutex> lock(mu_);
    due_.emplace(when, w);
  }
  // Pops what is due.
  std::vector<Watcher*> Due() {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<Watcher*> out;
    const auto now = Steady::now();
    while (!due_.empty() && due_.begin()->first <= now) {
      out.push_back(due_.begin()->second);
      due_.erase(due_.begin());
    }
    return out;
  }

 private:
  std::mutex mu_;
  std::multimap<Steady::time_point, Watcher*> due_;
};

std::atomic<int64_t> g_watchers_done{0};
std::atomic<int64_t> g_attempts_open{0};

struct Watcher {
  int task = 0;
  int group = 0;
  std::string uuid;
  // Written by the current attempt's callbacks only (one at a time, handed
  // over through the scheduler's mutex).
  std::string cursor;
  int64_t events = 0;
  int finalized = 0;
  int64_t after_finalized = 0;
  int64_t snapshots = 0;
  v1::TaskStatus final_status = v1::TASK_STATUS_UNSPECIFIED;
  int attempts = 0;
  std::map<std::string, int> ends;  // stream end code → count
  bool done = false;
  bool gave_up = false;
};

class Attempt : public grpc::ClientReadReactor<v1::TaskEvent> {
 public:
  Attempt(Watcher* w, Scheduler* scheduler) : w_(w), scheduler_(scheduler) {
    request_.set_task_uuid(w->uuid);
    request_.set_resume_cursor(w->cursor);
  }
  void Start(v1::TaskService::Stub* stub) {
    ++w_->attempts;
    g_attempts_open.fetch_add(1);
    stub->async()->WatchTask(&context_, &request_, this);
    StartRead(&event_);
    StartCall();
  }
  void OnReadDone(bool ok) override {
    if (!ok) return;
    ++w_->events;
    if (w_->finalized > 0) ++w_->after_finalized;
    if (event_.kind() == v1::TASK_EVENT_KIND_SNAPSHOT) ++w_->snapshots;
    if (event_.kind() == v1::TASK_EVENT_KIND_FINALIZED) {
      if (++w_->finalized == 1) w_->final_status = event_.task().status();
    }
    if (!event_.cursor().empty()) w_->cursor = event_.cursor();
    StartRead(&event_);
  }
  void OnDone(const grpc::Status& status) override {
    ++w_->ends[CodeName(status.error_code())];
    g_attempts_open.fetch_sub(1);
    if (w_->finalized > 0 || stopping.load()) {
      w_->done = true;
      w_->gave_up = w_->finalized == 0;
      g_watchers_done.fetch_add(1, std::memory_order_release);
    } else {
      // Resume from the last cursor, sooner the first times.
      const int n = std::min(w_->attempts, 5);
      scheduler_->At(Steady::now() + std::chrono::milliseconds(100 << n), w_);
    }
    delete this;
  }

  static std::atomic<bool> stopping;

 private:
  Watcher* const w_;
  Scheduler* const scheduler_;
  grpc::ClientContext context_;
  v1::WatchTaskRequest request_;
  v1::TaskEvent event_;
};

std::atomic<bool> Attempt::stopping{false};

// ------------------------------------------------------------------ ledger

struct LedgerTask {
  std::string uuid;
  std::string order_id;
  std::string prompt;
  std::string status;
  int64_t cost = 0;
};

struct Ledger {
  bool ok = false;
  std::vector<LedgerTask> tasks;
  int64_t initial = 0, total = 0, frozen = 0;
};

Ledger ReadLedger() {
  Ledger l;
  std::string body;
  if (Http(EmulatorBase() + "/_emulator/ledger", nullptr, &body) != 200) {
    return l;
  }
  rapidjson::Document doc;
  doc.Parse(body.c_str());
  if (doc.HasParseError() || !doc.IsObject()) return l;
  for (const auto& a : doc["accounts"].GetArray()) {
    l.initial += a["initial_credits"].GetInt64();
    l.total += a["total_credits"].GetInt64();
    l.frozen += a["frozen_credits"].GetInt64();
  }
  for (const auto& t : doc["tasks"].GetArray()) {
    LedgerTask x;
    x.uuid = t["task_uuid"].GetString();
    if (t["client_order_id"].IsString()) {
      x.order_id = t["client_order_id"].GetString();
    }
    x.status = t["status"].GetString();
    x.cost = t["cost_credits"].GetInt64();
    if (t["input"].IsObject() && t["input"].HasMember("prompt") &&
        t["input"]["prompt"].IsString()) {
      x.prompt = t["input"]["prompt"].GetString();
    }
    l.tasks.push_back(std::move(x));
  }
  l.ok = true;
  return l;
}

const char* StatusText(v1::TaskStatus s) {
  switch (s) {
    case v1::TASK_STATUS_SUCCESS:
      return "SUCCESS";
    case v1::TASK_STATUS_FAILED:
      return "FAILED";
    case v1::TASK_STATUS_CANCELLED:
      return "CANCELLED";
    default:
      return "?";
  }
}

std::string JoinCounts(const std::map<std::string, int64_t>& m) {
  std::string out;
  for (const auto& [k, v] : m) {
    absl::StrAppendFormat(&out, "%s%s %d", out.empty() ? "" : ", ", k, v);
  }
  return out.empty() ? "none" : out;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "fault-matrix --gateway-bin BIN --rest-url URL --api-key KEY "
      "[--faults JSON] (see bench/fault_matrix.sh)");
  triverse::bench::DashedFlags flags(argc, argv);
  absl::ParseCommandLine(flags.argc(), flags.argv());
  signal(SIGPIPE, SIG_IGN);
  curl_global_init(CURL_GLOBAL_DEFAULT);
  const int n_tasks = absl::GetFlag(FLAGS_tasks);
  const int n_creators = std::max(1, absl::GetFlag(FLAGS_creators));
  const int n_watch = std::max(1, absl::GetFlag(FLAGS_watchers_per_task));
  const int per_group = std::max(1, absl::GetFlag(FLAGS_channels_per_group));
  std::string run_id = absl::GetFlag(FLAGS_run_id);
  if (run_id.empty())
    run_id = absl::StrCat("fm", absl::ToUnixSeconds(absl::Now()));

  // Restarts.
  struct Restart {
    int sig;
    absl::Duration at;
  };
  std::vector<Restart> restarts;
  for (absl::string_view r :
       absl::StrSplit(absl::GetFlag(FLAGS_restarts), ',', absl::SkipEmpty())) {
    std::vector<std::string> p = absl::StrSplit(r, '@');
    Restart x{SIGTERM, absl::ZeroDuration()};
    if (p.size() != 2 || (p[0] != "TERM" && p[0] != "KILL") ||
        !absl::ParseDuration(p[1], &x.at)) {
      std::fprintf(stderr, "fault-matrix: bad --restarts entry %s\n",
                   std::string(r).c_str());
      return 2;
    }
    x.sig = p[0] == "TERM" ? SIGTERM : SIGKILL;
    restarts.push_back(x);
  }

  const std::string faults = absl::GetFlag(FLAGS_faults);
  if (!faults.empty()) {
    std::string body;
    const long s = Http(EmulatorBase() + "/_emulator/faults", &faults, &body);
    if (s != 200) {
      std::fprintf(stderr, "fault-matrix: faults refused (%ld): %s\n", s,
                   body.c_str());
      return 2;
    }
  }

  Gateway gateway;
  if (!gateway.Start()) return 2;
  const std::string address = gateway.address();

  std::vector<std::unique_ptr<v1::TaskService::Stub>> creator_stubs;
  for (int c = 0; c < n_creators; ++c) {
    creator_stubs.push_back(
        v1::TaskService::NewStub(MakeChannel(address, 1000 + c)));
  }
  std::vector<std::unique_ptr<v1::TaskService::Stub>> watch_stubs;
  for (int c = 0; c < n_watch * per_group; ++c) {
    watch_stubs.push_back(v1::TaskService::NewStub(MakeChannel(address, c)));
  }

  std::vector<Creation> creations(n_tasks);
  std::vector<Watcher> watchers(static_cast<size_t>(n_tasks) * n_watch);
  Scheduler scheduler;
  std::atomic<int64_t> created{0};
  const Steady::time_point start = Steady::now();
  const auto spread =
      absl::ToChronoNanoseconds(absl::GetFlag(FLAGS_create_spread));

  std::vector<std::thread> creators;
  for (int c = 0; c < n_creators; ++c) {
    creators.emplace_back([&, c] {
      v1::TaskService::Stub* stub = creator_stubs[c].get();
      for (int i = c; i < n_tasks; i += n_creators) {
        std::this_thread::sleep_until(start + spread * i / n_tasks);
        Creation& cr = creations[i];
        v1::CreateTaskRequest request;
        request.mutable_text_to_model()->set_prompt(
            absl::StrCat("fault matrix chair ", run_id, " number ", i));
        request.set_client_order_id(absl::StrCat(run_id, "-", i));
        const Steady::time_point give_up =
            Steady::now() + std::chrono::minutes(5);
        while (Steady::now() < give_up) {
          ++cr.attempts;
          v1::TaskCreation creation;
          grpc::ClientContext context;
          context.set_deadline(std::chrono::system_clock::now() +
                               std::chrono::seconds(20));
          const grpc::Status status =
              stub->CreateTask(&context, request, &creation);
          if (status.ok()) {
            cr.uuids.insert(creation.task_uuid());
            if (cr.uuid.empty()) cr.uuid = creation.task_uuid();
            cr.created = true;
            break;
          }
          ++cr.failures[CodeName(status.error_code())];
          if (!Transient(status.error_code())) break;
          std::this_thread::sleep_for(std::chrono::milliseconds(
              std::min(2000, 100 << std::min(cr.attempts, 5))));
        }
        if (cr.created) {
          for (int k = 0; k < n_watch; ++k) {
            Watcher& w = watchers[static_cast<size_t>(i) * n_watch + k];
            w.task = i;
            w.group = k;
            w.uuid = cr.uuid;
            scheduler.At(Steady::now(), &w);
          }
        } else {
          // No watchers for it: count them as done (and as a violation).
          g_watchers_done.fetch_add(n_watch);
        }
        created.fetch_add(1);
      }
    });
  }

  // The driver: starts due attempts, restarts the gateway on schedule, and
  // watches for unexpected exits.
  size_t next_restart = 0;
  std::vector<std::string> restart_log;
  const Steady::time_point deadline =
      start + absl::ToChronoNanoseconds(absl::GetFlag(FLAGS_timeout));
  const int64_t n_watchers = static_cast<int64_t>(watchers.size());
  int64_t last_report = -1;
  while (g_watchers_done.load(std::memory_order_acquire) < n_watchers) {
    const Steady::time_point now = Steady::now();
    if (now > deadline) break;
    if (next_restart < restarts.size() &&
        now - start >= absl::ToChronoNanoseconds(restarts[next_restart].at)) {
      const Restart& r = restarts[next_restart++];
      const int64_t open = g_attempts_open.load();
      gateway.Stop(r.sig);
      std::this_thread::sleep_for(
          absl::ToChronoNanoseconds(absl::GetFlag(FLAGS_restart_pause)));
      const bool started = gateway.Start();
      restart_log.push_back(absl::StrFormat(
          "SIG%s at %.1f s (%d tasks created, %d watch streams open); "
          "stopped in %.2f s, exit status %d; started again: %s",
          r.sig == SIGTERM ? "TERM" : "KILL",
          std::chrono::duration<double>(now - start).count(), created.load(),
          open, gateway.exits().back().seconds, gateway.exits().back().status,
          started ? "yes" : "NO"));
      std::printf("== %s\n", restart_log.back().c_str());
      std::fflush(stdout);
      if (!started) break;
    }
    if (!gateway.Alive()) {
      std::printf("== the gateway died unexpectedly; starting it again\n");
      if (!gateway.Start()) break;
    }
    for (Watcher* w : scheduler.Due()) {
      auto* a = new Attempt(w, &scheduler);
      a->Start(watch_stubs[w->group * per_group + w->task % per_group].get());
    }
    const int64_t elapsed =
        std::chrono::duration_cast<std::chrono::seconds>(now - start).count();
    if (elapsed % 10 == 0 && elapsed != last_report) {
      last_report = elapsed;
      std::printf(
          "%4lld s: %lld tasks created, %lld/%lld watchers done, %lld "
          "streams open\n",
          static_cast<long long>(elapsed),
          static_cast<long long>(created.load()),
          static_cast<long long>(g_watchers_done.load()),
          static_cast<long long>(n_watchers),
          static_cast<long long>(g_attempts_open.load()));
      std::fflush(stdout);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const double run_seconds =
      std::chrono::duration<double>(Steady::now() - start).count();
  for (std::thread& t : creators) t.join();
  // Watchers still going (timeout): their next end is final.
  Attempt::stopping = true;
  // Pending resumes never started: done now.
  for (Watcher* w : scheduler.Due()) {
    w->done = true;
    w->gave_up = true;
    g_watchers_done.fetch_add(1);
  }
  // Anything still open is cancelled by stopping the gateway below; wait.
  gateway.Stop(SIGTERM);
  while (g_watchers_done.load(std::memory_order_acquire) < n_watchers &&
         g_attempts_open.load() > 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }

  // ------------------------------------------------------------- checks
  std::string stats_body;
  Http(EmulatorBase() + "/_emulator/stats", nullptr, &stats_body);
  rapidjson::Document stats;
  stats.Parse(stats_body.c_str());
  const Ledger ledger = ReadLedger();
  std::vector<std::string> violations;
  auto violate = [&](std::string what) {
    if (violations.size() < 50) violations.push_back(what);
  };
  if (!ledger.ok) violate("the emulator's ledger could not be read");

  const std::string prefix = run_id + "-";
  std::map<std::string, int> per_order, per_prompt;
  std::map<std::string, const LedgerTask*> by_uuid;
  int64_t foreign = 0, frozen_expected = 0, charged_expected = 0;
  for (const LedgerTask& t : ledger.tasks) {
    by_uuid[t.uuid] = &t;
    ++per_order[t.order_id];
    ++per_prompt[t.prompt];
    if (t.order_id.rfind(prefix, 0) != 0) ++foreign;
    if (t.status == "SUCCESS") charged_expected += t.cost;
    if (t.status != "SUCCESS" && t.status != "FAILED" &&
        t.status != "CANCELLED") {
      frozen_expected += t.cost;
    }
  }
  int64_t duplicate_orders = 0, duplicate_prompts = 0;
  for (const auto& [k, n] : per_order) duplicate_orders += n > 1 ? n - 1 : 0;
  for (const auto& [k, n] : per_prompt) duplicate_prompts += n > 1 ? n - 1 : 0;
  if (duplicate_orders > 0) {
    violate(absl::StrCat(duplicate_orders, " tasks repeat a client_order_id"));
  }
  if (duplicate_prompts > 0) {
    violate(absl::StrCat(duplicate_prompts,
                         " tasks repeat a prompt (created twice)"));
  }
  if (foreign > 0) {
    violate(absl::StrCat(foreign, " tasks without this run's client_order_id"));
  }
  int64_t not_created = 0, uuid_mismatch = 0, multi_uuid = 0;
  for (int i = 0; i < n_tasks; ++i) {
    const Creation& cr = creations[i];
    if (!cr.created) {
      ++not_created;
      continue;
    }
    if (cr.uuids.size() > 1) ++multi_uuid;
    auto it = by_uuid.find(cr.uuid);
    if (it == by_uuid.end() ||
        it->second->order_id != absl::StrCat(run_id, "-", i)) {
      ++uuid_mismatch;
    }
  }
  if (not_created > 0) {
    violate(absl::StrCat(not_created, " tasks never created"));
  }
  if (multi_uuid > 0) {
    violate(
        absl::StrCat(multi_uuid, " client_order_ids answered with two uuids"));
  }
  if (uuid_mismatch > 0) {
    violate(absl::StrCat(uuid_mismatch,
                         " creators hold a uuid the emulator does not have "
                         "under their client_order_id"));
  }
  if (ledger.ok &&
      static_cast<int64_t>(ledger.tasks.size()) != n_tasks - not_created) {
    violate(absl::StrCat("the emulator has ", ledger.tasks.size(),
                         " tasks for ", n_tasks - not_created, " created"));
  }
  if (ledger.ok && ledger.frozen != frozen_expected) {
    violate(absl::StrCat("frozen credits ", ledger.frozen, ", expected ",
                         frozen_expected));
  }
  if (ledger.ok && ledger.initial - ledger.total != charged_expected) {
    violate(absl::StrCat("charged credits ", ledger.initial - ledger.total,
                         ", expected ", charged_expected));
  }

  int64_t fin_once = 0, fin_zero = 0, fin_multi = 0, after_fin = 0,
          wrong_status = 0, resumes = 0, gave_up = 0, events = 0;
  std::map<std::string, int64_t> ends, outcome;
  std::map<std::string, int64_t> create_failures;
  int64_t create_attempts = 0;
  for (const Creation& cr : creations) {
    create_attempts += cr.attempts;
    for (const auto& [k, v] : cr.failures) create_failures[k] += v;
  }
  for (const Watcher& w : watchers) {
    if (w.uuid.empty()) continue;
    events += w.events;
    resumes += std::max(0, w.attempts - 1);
    gave_up += w.gave_up;
    for (const auto& [k, v] : w.ends) ends[k] += v;
    after_fin += w.after_finalized;
    if (w.finalized == 0) ++fin_zero;
    if (w.finalized == 1) ++fin_once;
    if (w.finalized > 1) ++fin_multi;
    auto it = by_uuid.find(w.uuid);
    if (w.finalized > 0) {
      if (it == by_uuid.end() ||
          it->second->status != StatusText(w.final_status)) {
        ++wrong_status;
        if (wrong_status <= 5) {
          violate(absl::StrCat(
              "watcher ", w.group, " of task ", w.task, " (", w.uuid,
              ") ended with ", StatusText(w.final_status), ", emulator has ",
              it == by_uuid.end() ? "nothing" : it->second->status));
        }
      }
    }
  }
  for (const auto& [uuid, t] : by_uuid) ++outcome[t->status];
  if (fin_zero > 0) {
    violate(absl::StrCat(fin_zero, " watchers never got FINALIZED"));
  }
  if (fin_multi > 0) {
    violate(absl::StrCat(fin_multi, " watchers got FINALIZED more than once"));
  }
  if (after_fin > 0) {
    violate(absl::StrCat(after_fin, " events after FINALIZED"));
  }
  if (wrong_status > 0) {
    violate(absl::StrCat(wrong_status, " watchers with a wrong final status"));
  }
  int crashes = 0;
  std::string exits;
  for (const Gateway::Exit& e : gateway.exits()) {
    std::string what;
    if (WIFEXITED(e.status)) {
      what = absl::StrCat("exit ", WEXITSTATUS(e.status));
    } else if (WIFSIGNALED(e.status)) {
      what = absl::StrCat("signal ", WTERMSIG(e.status));
    }
    const bool expected = (e.sent_signal == SIGTERM && WIFEXITED(e.status) &&
                           WEXITSTATUS(e.status) == 0) ||
                          (e.sent_signal == SIGKILL && WIFSIGNALED(e.status) &&
                           WTERMSIG(e.status) == SIGKILL);
    if (!expected) ++crashes;
    absl::StrAppendFormat(&exits, "%s%s → %s%s", exits.empty() ? "" : "; ",
                          e.sent_signal == SIGTERM   ? "SIGTERM"
                          : e.sent_signal == SIGKILL ? "SIGKILL"
                                                     : "(none)",
                          what, expected ? "" : " (unexpected)");
  }
  if (crashes > 0) violate(absl::StrCat(crashes, " unexpected gateway exits"));

  // Faults injected, by kind.
  std::map<std::string, int64_t> faults_by_kind;
  int64_t faults_total = 0;
  if (!stats.HasParseError() && stats.IsObject() &&
      stats.HasMember("faults_by_kind")) {
    for (const auto& m : stats["faults_by_kind"].GetObject()) {
      faults_by_kind[m.name.GetString()] = m.value.GetInt64();
      faults_total += m.value.GetInt64();
    }
  }
  const Scrape& metrics = gateway.metrics();
  auto metric = [&](const char* name) -> int64_t {
    auto it = metrics.by_name.find(name);
    return it == metrics.by_name.end() ? 0 : static_cast<int64_t>(it->second);
  };
  std::map<std::string, int64_t> retries;
  for (const auto& [series, v] : metrics.series) {
    if (series.rfind("triverse_upstream_retries_total", 0) == 0) {
      retries[series.substr(
          std::string("triverse_upstream_retries_total").size())] +=
          static_cast<int64_t>(v);
    }
  }

  // ------------------------------------------------------------- report
  std::string md;
  auto row = [&](const std::string& what, const std::string& value) {
    absl::StrAppend(&md, "| ", what, " | ", value, " |\n");
  };
  absl::StrAppendFormat(
      &md,
      "%d tasks, %d creators, %d watchers per task (%lld streams), run %s, "
      "%.0f s\n\n",
      n_tasks, n_creators, n_watch, static_cast<long long>(n_watchers), run_id,
      run_seconds);
  md += "| invariant / measure | result |\n|---|---|\n";
  row("tasks created (emulator ledger) / asked",
      absl::StrCat(ledger.tasks.size(), " / ", n_tasks));
  row("duplicate tasks (same client_order_id / same prompt)",
      absl::StrCat(duplicate_orders, " / ", duplicate_prompts));
  row("creators holding a uuid the ledger lacks / two uuids for one order",
      absl::StrCat(uuid_mismatch, " / ", multi_uuid));
  row("credits frozen at the end (expected)",
      absl::StrCat(ledger.frozen, " (", frozen_expected, ")"));
  row("credits charged (expected: cost of SUCCESS tasks)",
      absl::StrCat(ledger.initial - ledger.total, " (", charged_expected, ")"));
  row("CreateTask calls / failed attempts by code",
      absl::StrCat(create_attempts, " / ", JoinCounts(create_failures)));
  row("task outcomes (emulator)", JoinCounts(outcome));
  row("watchers with exactly one FINALIZED",
      absl::StrCat(fin_once, " / ", n_watchers));
  row("watchers with no / several FINALIZED",
      absl::StrCat(fin_zero, " / ", fin_multi));
  row("events after FINALIZED", absl::StrCat(after_fin));
  row("wrong final statuses", absl::StrCat(wrong_status));
  row("watch streams resumed (from the last cursor)", absl::StrCat(resumes));
  row("watch stream ends by code", JoinCounts(ends));
  row("events received", absl::StrCat(events));
  row("gateway starts / exits", absl::StrCat(gateway.starts(), " / ", exits));
  row("crashes (unexpected exits)", absl::StrCat(crashes));
  row("faults injected by the emulator",
      absl::StrCat(faults_total, ": ", JoinCounts(faults_by_kind)));
  row("gateway upstream retries (triverse_upstream_retries_total)",
      absl::StrCat(metric("triverse_upstream_retries_total"), ": ",
                   JoinCounts(retries)));
  row("gateway upstream WebSocket reconnects / idle timeouts / failures",
      absl::StrCat(
          metric("triverse_upstream_websocket_reconnects_total"), " / ",
          metric("triverse_upstream_websocket_idle_timeouts_total"), " / ",
          metric("triverse_upstream_websocket_failures_total")));
  row("gateway polling fallbacks / watch GETs",
      absl::StrCat(metric("triverse_watch_polling_fallbacks_total"), " / ",
                   metric("triverse_watch_gets_total")));
  md += "\n";
  for (const std::string& r : restart_log) md += "- restart: " + r + "\n";
  md += violations.empty() ? "\nverdict: PASS (no invariant violated)\n"
                           : "\nverdict: FAIL\n";
  for (const std::string& v : violations) md += "- violation: " + v + "\n";
  std::printf("\n%s", md.c_str());
  if (!absl::GetFlag(FLAGS_out).empty()) {
    std::ofstream out(absl::GetFlag(FLAGS_out), std::ios::app);
    out << md;
  }
  return violations.empty() ? 0 : 1;
}
