// WatchTask and WatchTasks through the assembled gateway against the
// in-process emulator, with every WebSocket fault: each watcher must get
// exactly one terminal event with the right status, and no event out of
// order; the emulator's counters show how many upstream sockets were used.
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/time_util.h"
#include "google/rpc/error_details.pb.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "rapidjson/document.h"
#include "server/gateway/gateway.h"
#include "tests/emulator/testing_util/http_client.h"
#include "tests/emulator/testing_util/test_emulator.h"
#include "tests/server/testing_util/emulator_faults.h"
#include "tests/server/testing_util/log_capture.h"
#include "tests/server/testing_util/rpc_details.h"
#include "triverse/v1/task_service.grpc.pb.h"

namespace triverse::gateway {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing_util::SetFaults;
using testing_util::TestEmulator;

constexpr absl::Duration kWait = absl::Seconds(60);

bool IsTerminal(v1::TaskStatus s) {
  return s == v1::TASK_STATUS_SUCCESS || s == v1::TASK_STATUS_FAILED ||
         s == v1::TASK_STATUS_CANCELLED;
}

int Rank(const v1::Task& t) {
  switch (t.status()) {
    case v1::TASK_STATUS_PENDING:
      return 1000 + t.progress();
    case v1::TASK_STATUS_QUEUED:
      return 2000 + t.progress();
    case v1::TASK_STATUS_RUNNING:
      return 3000 + t.progress();
    default:
      return IsTerminal(t.status()) ? 4000 : 0;
  }
}

// EmulatorStat reads GET /_emulator/stats → <group>.<name>.
int64_t EmulatorStat(const TestEmulator& emu, const char* group,
                     const char* name) {
  auto r = testing_util::HttpGet(emu.Url("/_emulator/stats"));
  rapidjson::Document doc;
  doc.Parse(r.body.c_str());
  if (doc.HasParseError() || !doc.IsObject() || !doc.HasMember(group) ||
      !doc[group].IsObject() || !doc[group].HasMember(name) ||
      !doc[group][name].IsInt64()) {
    ADD_FAILURE() << "bad stats: " << r.body;
    return -1;
  }
  return doc[group][name].GetInt64();
}

int64_t WebSocketStat(const TestEmulator& emu, const char* name) {
  return EmulatorStat(emu, "websocket", name);
}

// Watcher is one client stream (callback API: a thousand of them need no
// thread each), recording its events and its end.
class Watcher : public grpc::ClientReadReactor<v1::TaskEvent> {
 public:
  Watcher(v1::TaskService::Stub* stub, const v1::WatchTaskRequest& request) {
    context_.set_deadline(absl::ToChronoTime(absl::Now() + kWait));
    stub->async()->WatchTask(&context_, &request, this);
    Begin();
  }
  Watcher(v1::TaskService::Stub* stub, const v1::WatchTasksRequest& request) {
    context_.set_deadline(absl::ToChronoTime(absl::Now() + kWait));
    stub->async()->WatchTasks(&context_, &request, this);
    Begin();
  }
  ~Watcher() override {
    context_.TryCancel();
    WaitDone();
  }

  void OnReadDone(bool ok) override {
    if (!ok) return;
    {
      absl::MutexLock lock(&mu_);
      events_.push_back(event_);
    }
    StartRead(&event_);
  }
  void OnDone(const grpc::Status& status) override {
    absl::MutexLock lock(&mu_);
    status_ = status;
    done_ = true;
  }

  bool WaitDone() {
    absl::MutexLock lock(&mu_);
    return mu_.AwaitWithTimeout(absl::Condition(&done_), kWait);
  }
  bool WaitEvents(size_t n) {
    absl::MutexLock lock(&mu_);
    auto enough = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return events_.size() >= n || done_;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), kWait) &&
           events_.size() >= n;
  }
  // WaitFor waits until some event satisfies `pred`.
  template <typename Pred>
  bool WaitFor(Pred pred) {
    absl::MutexLock lock(&mu_);
    auto seen = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return done_ || std::any_of(events_.begin(), events_.end(), pred);
    };
    mu_.AwaitWithTimeout(absl::Condition(&seen), kWait);
    return std::any_of(events_.begin(), events_.end(), pred);
  }
  void Cancel() { context_.TryCancel(); }
  std::vector<v1::TaskEvent> events() {
    absl::MutexLock lock(&mu_);
    return events_;
  }
  grpc::Status status() {
    absl::MutexLock lock(&mu_);
    return status_;
  }

 private:
  void Begin() {
    StartRead(&event_);
    StartCall();
  }

  grpc::ClientContext context_;
  v1::TaskEvent event_;
  absl::Mutex mu_;
  std::vector<v1::TaskEvent> events_ ABSL_GUARDED_BY(mu_);
  grpc::Status status_ ABSL_GUARDED_BY(mu_);
  bool done_ ABSL_GUARDED_BY(mu_) = false;
};

// ExpectOneTerminal checks a finished WatchTask stream: ended OK, first
// event a snapshot (or the only, terminal one), states never going back,
// exactly one FINALIZED event, last, with `status`.
void ExpectOneTerminal(Watcher& w, v1::TaskStatus status,
                       const std::string& where) {
  ASSERT_TRUE(w.WaitDone()) << where;
  const grpc::Status end = w.status();
  EXPECT_TRUE(end.ok()) << where << ": " << end.error_message();
  const std::vector<v1::TaskEvent> events = w.events();
  ASSERT_FALSE(events.empty()) << where;
  EXPECT_TRUE(events.front().kind() == v1::TASK_EVENT_KIND_SNAPSHOT ||
              (events.size() == 1 &&
               events.front().kind() == v1::TASK_EVENT_KIND_FINALIZED))
      << where << ": first event " << events.front().ShortDebugString()
      << " of " << events.size();
  int finalized = 0;
  for (size_t i = 0; i < events.size(); ++i) {
    const v1::TaskEvent& e = events[i];
    EXPECT_FALSE(e.cursor().empty()) << where;
    if (e.kind() == v1::TASK_EVENT_KIND_FINALIZED) {
      ++finalized;
      EXPECT_TRUE(IsTerminal(e.task().status())) << where;
    } else {
      EXPECT_FALSE(IsTerminal(e.task().status())) << where;
    }
    if (i > 0) {
      EXPECT_GT(Rank(e.task()), Rank(events[i - 1].task()))
          << where << ": event " << i << " goes back or repeats";
    }
  }
  EXPECT_EQ(finalized, 1) << where;
  EXPECT_EQ(events.back().kind(), v1::TASK_EVENT_KIND_FINALIZED) << where;
  EXPECT_EQ(events.back().task().status(), status) << where;
}

class WatchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    emulator::EmulatorOptions options = TestEmulator::DefaultOptions();
    for (auto& key : options.engine.keys) key.credits = 1000000;
    emu_ = std::make_unique<TestEmulator>(std::move(options));
    ASSERT_TRUE(emu_->start_status().ok()) << emu_->start_status();
    // The gateway asks for `since` by its own clock: keep the emulator's
    // close to it, as the real upstream's is.
    emu_->clock().Set(absl::Now());
    config_.listen = "127.0.0.1:0";
    config_.upstream_url = emu_->Api("");
    config_.api_key = testing_util::kKeyA;
    config_.retry.initial_backoff = absl::Milliseconds(1);
    config_.retry.max_backoff = absl::Milliseconds(20);
    config_.watch.reconnect_backoff = absl::Milliseconds(20);
    config_.watch.poll_interval = absl::Milliseconds(20);
    config_.watch.grace = absl::Milliseconds(50);
  }

  void StartGateway() {
    auto g = Gateway::Start(config_);
    ASSERT_TRUE(g.ok()) << g.status();
    gateway_ = *std::move(g);
    stub_ = v1::TaskService::NewStub(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", gateway_->port()),
                            grpc::InsecureChannelCredentials()));
  }

  std::string Create(const std::string& prompt) {
    v1::CreateTaskRequest req;
    req.mutable_text_to_model()->set_prompt(prompt);
    v1::TaskCreation created;
    grpc::ClientContext ctx;
    grpc::Status s = stub_->CreateTask(&ctx, req, &created);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return created.task_uuid();
  }

  std::unique_ptr<Watcher> Watch(const std::string& uuid,
                                 const std::string& cursor = "") {
    v1::WatchTaskRequest req;
    req.set_task_uuid(uuid);
    req.set_resume_cursor(cursor);
    return std::make_unique<Watcher>(stub_.get(), req);
  }

  // RunTasksToEnd advances the emulator's clock, a second at a time, until
  // no task is waiting or running (the emulator runs a few at once).
  void RunTasksToEnd() {
    for (int i = 0; i < 2000; ++i) {
      emu_->AdvanceBy(absl::Seconds(1));
      if (EmulatorStat(*emu_, "tasks", "PENDING") +
              EmulatorStat(*emu_, "tasks", "QUEUED") +
              EmulatorStat(*emu_, "tasks", "RUNNING") ==
          0) {
        return;
      }
    }
    ADD_FAILURE() << "the emulator's tasks never ended";
  }

  // WaitForUpstreamSocket waits until the emulator has the gateway's
  // socket, so that no change happens before it listens.
  void WaitForUpstreamSocket() {
    const absl::Time give_up = absl::Now() + kWait;
    while (WebSocketStat(*emu_, "open") < 1 && absl::Now() < give_up) {
      absl::SleepFor(absl::Milliseconds(5));  // polling a counter
    }
    ASSERT_EQ(WebSocketStat(*emu_, "open"), 1);
  }

  // WaitForUpstreamSocketOpened waits until the hub has opened its socket
  // once (the socket may already be dropped again: faults).
  void WaitForUpstreamSocketOpened() {
    const absl::Time give_up = absl::Now() + kWait;
    while (WebSocketStat(*emu_, "total") < 1 && absl::Now() < give_up) {
      absl::SleepFor(absl::Milliseconds(5));  // polling a counter
    }
    ASSERT_GE(WebSocketStat(*emu_, "total"), 1);
  }

  // Whatever the gateway logged during the test never holds the key (the
  // upstream socket's URL carries it as ?token=).
  void TearDown() override {
    gateway_.reset();
    EXPECT_THAT(logs_.text(), Not(HasSubstr(testing_util::kKeyA)));
  }

  testing_util::LogCapture logs_;  // first: outlives the gateway
  std::unique_ptr<TestEmulator> emu_;
  config::Config config_;
  std::unique_ptr<Gateway> gateway_;
  std::unique_ptr<v1::TaskService::Stub> stub_;
};

TEST_F(WatchTest, SnapshotThenUpdatesThenOneFinalized) {
  StartGateway();
  const std::string uuid = Create("a watched chair");
  auto w = Watch(uuid);
  ASSERT_TRUE(w->WaitEvents(1));
  EXPECT_EQ(w->events().front().kind(), v1::TASK_EVENT_KIND_SNAPSHOT);
  EXPECT_EQ(w->events().front().task().task_uuid(), uuid);
  WaitForUpstreamSocket();
  RunTasksToEnd();
  ExpectOneTerminal(*w, v1::TASK_STATUS_SUCCESS, "watcher");
  // Every step reached the watcher: PENDING or QUEUED, RUNNING 0..90 in
  // tens (some may coalesce), then SUCCESS.
  EXPECT_GE(w->events().size(), 3u);
  EXPECT_EQ(WebSocketStat(*emu_, "total"), 1);
}

TEST_F(WatchTest, TerminalBeforeTheWatchStartsIsOneFinalizedEvent) {
  StartGateway();
  const std::string uuid = Create("a finished lamp");
  RunTasksToEnd();
  auto w = Watch(uuid);
  ExpectOneTerminal(*w, v1::TASK_STATUS_SUCCESS, "late watcher");
  EXPECT_EQ(w->events().size(), 1u);
}

TEST_F(WatchTest, FailedAndCancelledTasksEndWithTheirStatus) {
  StartGateway();
  SetFaults(*emu_, R"({"tasks": {"failure_rate": 1}})");
  const std::string failing = Create("a doomed vase");
  SetFaults(*emu_, R"({"reset": true})");
  const std::string cancelled = Create("a cancelled stool");
  auto wf = Watch(failing);
  auto wc = Watch(cancelled);
  ASSERT_TRUE(wf->WaitEvents(1));
  ASSERT_TRUE(wc->WaitEvents(1));
  auto r = testing_util::HttpPost(
      emu_->Url(absl::StrCat("/_emulator/tasks/", cancelled, "/cancel")), "");
  ASSERT_EQ(r.status, 200) << r.body;
  RunTasksToEnd();
  ExpectOneTerminal(*wf, v1::TASK_STATUS_FAILED, "failing task");
  ExpectOneTerminal(*wc, v1::TASK_STATUS_CANCELLED, "cancelled task");
}

TEST_F(WatchTest, ThousandWatchersOnHundredTasksShareOneUpstreamSocket) {
  config_.watch.max_per_client = 2000;
  StartGateway();
  std::vector<std::string> uuids;
  for (int i = 0; i < 100; ++i)
    uuids.push_back(Create(absl::StrCat("task number ", i)));
  // Past the emulator's read-after-write window (1 s on its fake clock): the
  // gateway forgets the window by the real clock, and creating 100 tasks can
  // take longer than that (sanitizers), which would leave the tasks invisible
  // to the watches' first GETs.
  emu_->AdvanceBy(absl::Seconds(2));
  std::vector<std::unique_ptr<Watcher>> watchers;
  for (int i = 0; i < 1000; ++i) watchers.push_back(Watch(uuids[i % 100]));
  for (auto& w : watchers) {
    ASSERT_TRUE(w->WaitEvents(1))
        << w->status().error_code() << " " << w->status().error_message();
  }
  EXPECT_EQ(WebSocketStat(*emu_, "open"), 1);
  RunTasksToEnd();
  for (size_t i = 0; i < watchers.size(); ++i) {
    ExpectOneTerminal(*watchers[i], v1::TASK_STATUS_SUCCESS,
                      absl::StrCat("watcher ", i));
  }
  EXPECT_EQ(WebSocketStat(*emu_, "total"), 1);
  const upstream::WatchHubStats stats = gateway_->WatchStats();
  EXPECT_EQ(stats.sockets_opened_total, 1);
  EXPECT_EQ(stats.bad_frames_total, 0);
  // Every frame the emulator sent arrived once, and fanned out to the ten
  // watchers of its task.
  EXPECT_EQ(stats.frames_total, WebSocketStat(*emu_, "frames_sent"));
  EXPECT_GE(stats.deliveries_total, 10 * stats.frames_total / 2);
}

TEST_F(WatchTest, SocketDroppedMidTaskIsReopenedWithSince) {
  StartGateway();
  SetFaults(*emu_, R"({"websocket": {"drop_after_frames": 4}})");
  const std::string a = Create("a dropped boat");
  const std::string b = Create("a dropped cart");
  auto wa = Watch(a);
  auto wb = Watch(b);
  ASSERT_TRUE(wa->WaitEvents(1));
  ASSERT_TRUE(wb->WaitEvents(1));
  // The tasks must change while the socket is open, or there is nothing to
  // drop (on a busy machine the socket can open after they ended).
  WaitForUpstreamSocketOpened();
  RunTasksToEnd();
  ExpectOneTerminal(*wa, v1::TASK_STATUS_SUCCESS, "a");
  ExpectOneTerminal(*wb, v1::TASK_STATUS_SUCCESS, "b");
  EXPECT_GE(WebSocketStat(*emu_, "total"), 2);
  EXPECT_GE(gateway_->WatchStats().reconnects_total, 1);
}

TEST_F(WatchTest, SinceReplayWithDuplicatesReachesNobodyTwice) {
  StartGateway();
  SetFaults(*emu_, R"({"websocket": {"drop_after_frames": 3,
                                     "replay_duplicate_rate": 1}})");
  std::vector<std::string> uuids;
  std::vector<std::unique_ptr<Watcher>> watchers;
  for (int i = 0; i < 4; ++i) {
    uuids.push_back(Create(absl::StrCat("replayed ", i)));
    watchers.push_back(Watch(uuids.back()));
    watchers.push_back(Watch(uuids.back()));
  }
  for (auto& w : watchers) ASSERT_TRUE(w->WaitEvents(1));
  WaitForUpstreamSocketOpened();
  RunTasksToEnd();
  for (size_t i = 0; i < watchers.size(); ++i) {
    ExpectOneTerminal(*watchers[i], v1::TASK_STATUS_SUCCESS,
                      absl::StrCat("watcher ", i));
  }
  EXPECT_GE(WebSocketStat(*emu_, "total"), 2);
}

TEST_F(WatchTest, FinalizedWithoutCloseAndCloseWithoutFinalized) {
  StartGateway();
  SetFaults(*emu_, R"({"websocket": {"finalized_without_close": true,
                                     "trailing_blank_line": true,
                                     "enveloped_data": true}})");
  const std::string a = Create("an open-ended cup");
  auto wa = Watch(a);
  ASSERT_TRUE(wa->WaitEvents(1));
  RunTasksToEnd();
  ExpectOneTerminal(*wa, v1::TASK_STATUS_SUCCESS, "finalized without close");

  SetFaults(*emu_, R"({"reset": true,
                       "websocket": {"close_without_finalized": true}})");
  const std::string b = Create("a closed cup");
  auto wb = Watch(b);
  ASSERT_TRUE(wb->WaitEvents(1));
  RunTasksToEnd();
  ExpectOneTerminal(*wb, v1::TASK_STATUS_SUCCESS, "close without finalized");
}

TEST_F(WatchTest, SilentSocketIsReopenedAndTheTasksChecked) {
  config_.watch.idle_timeout = absl::Milliseconds(200);
  StartGateway();
  SetFaults(*emu_, R"({"websocket": {"silent": true}})");
  const std::string uuid = Create("a quiet bell");
  auto w = Watch(uuid);
  ASSERT_TRUE(w->WaitEvents(1));  // From the GET: the socket says nothing.
  WaitForUpstreamSocketOpened();
  RunTasksToEnd();
  // Only the GETs after each reopening can see the end.
  ExpectOneTerminal(*w, v1::TASK_STATUS_SUCCESS, "silent socket");
  EXPECT_GE(WebSocketStat(*emu_, "total"), 2);
  EXPECT_GE(gateway_->WatchStats().idle_timeouts_total, 1);
}

TEST_F(WatchTest, RefusedWebSocketFallsBackToPolling) {
  StartGateway();
  SetFaults(*emu_, R"({"routes": {"ws_watch_all": {"unavailable_rate": 1}}})");
  const std::string uuid = Create("a polled kettle");
  auto w = Watch(uuid);
  ASSERT_TRUE(w->WaitEvents(1));
  RunTasksToEnd();
  ExpectOneTerminal(*w, v1::TASK_STATUS_SUCCESS, "polling");
  EXPECT_EQ(WebSocketStat(*emu_, "total"), 0);
  const upstream::WatchHubStats stats = gateway_->WatchStats();
  EXPECT_EQ(stats.polling_fallbacks_total, 1);
  EXPECT_GE(stats.socket_failures_total, 3);
}

TEST_F(WatchTest, ResumeSkipsWhatTheCallerHas) {
  StartGateway();
  const std::string uuid = Create("a resumed table");
  std::string cursor;
  {
    auto first = Watch(uuid);
    ASSERT_TRUE(first->WaitEvents(1));
    cursor = first->events().front().cursor();
    first->Cancel();
    ASSERT_TRUE(first->WaitDone());
  }
  // Same state as the cursor: no snapshot; the next event is a change.
  auto resumed = Watch(uuid, cursor);
  emu_->AdvanceBy(absl::Seconds(1));
  ASSERT_TRUE(resumed->WaitEvents(1));
  const v1::TaskEvent next = resumed->events().front();
  EXPECT_NE(next.cursor(), cursor);
  RunTasksToEnd();
  ASSERT_TRUE(resumed->WaitDone());
  EXPECT_TRUE(resumed->status().ok()) << resumed->status().error_message();
  EXPECT_EQ(resumed->events().back().task().status(), v1::TASK_STATUS_SUCCESS);

  // Resuming after the terminal event: nothing more, and OK.
  auto after_end = Watch(uuid, resumed->events().back().cursor());
  ASSERT_TRUE(after_end->WaitDone());
  EXPECT_TRUE(after_end->status().ok());
  EXPECT_TRUE(after_end->events().empty());
}

TEST_F(WatchTest, WatchTasksCatchesUpFromSinceThenGoesLive) {
  StartGateway();
  const absl::Time before = absl::Now() - absl::Seconds(1);
  const std::string done = Create("an early brick");
  RunTasksToEnd();
  v1::WatchTasksRequest req;
  *req.mutable_since() = google::protobuf::util::TimeUtil::SecondsToTimestamp(
      absl::ToUnixSeconds(before));
  Watcher all(stub_.get(), req);
  ASSERT_TRUE(all.WaitFor([&](const v1::TaskEvent& e) {
    return e.task().task_uuid() == done &&
           e.kind() == v1::TASK_EVENT_KIND_FINALIZED;
  }));
  // Then live: a new task's states arrive on the same stream.
  const std::string live = Create("a live brick");
  RunTasksToEnd();
  ASSERT_TRUE(all.WaitFor([&](const v1::TaskEvent& e) {
    return e.task().task_uuid() == live &&
           e.kind() == v1::TASK_EVENT_KIND_FINALIZED;
  }));
  int finalized_done = 0;
  for (const v1::TaskEvent& e : all.events()) {
    if (e.task().task_uuid() == done) ++finalized_done;
  }
  EXPECT_EQ(finalized_done, 1);
}

TEST_F(WatchTest, WatchTasksFiltersByStatus) {
  StartGateway();
  v1::WatchTasksRequest req;
  req.add_statuses(v1::TASK_STATUS_SUCCESS);
  Watcher all(stub_.get(), req);
  // The socket is open once a watch of any task sees its first event.
  const std::string uuid = Create("a filtered rug");
  auto one = Watch(uuid);
  ASSERT_TRUE(one->WaitEvents(1));
  RunTasksToEnd();
  ASSERT_TRUE(all.WaitEvents(1));
  ExpectOneTerminal(*one, v1::TASK_STATUS_SUCCESS, "task watcher");
  for (const v1::TaskEvent& e : all.events()) {
    EXPECT_EQ(e.task().status(), v1::TASK_STATUS_SUCCESS);
  }
}

TEST_F(WatchTest, InvalidRequestsAndUnknownTasks) {
  StartGateway();
  auto bad_uuid = Watch("not-a-uuid");
  ASSERT_TRUE(bad_uuid->WaitDone());
  EXPECT_EQ(bad_uuid->status().error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  auto violations =
      testing_util::FindDetail<google::rpc::BadRequest>(bad_uuid->status());
  ASSERT_TRUE(violations.has_value());
  EXPECT_EQ(violations->field_violations(0).field(), "task_uuid");

  auto bad_cursor = Watch("7f0c1c62-8f7e-4c6a-9d51-0d3c2b1a0e11", "garbage");
  ASSERT_TRUE(bad_cursor->WaitDone());
  EXPECT_EQ(bad_cursor->status().error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(bad_cursor->status().error_message(), HasSubstr("resume_cursor"));

  auto unknown = Watch("7f0c1c62-8f7e-4c6a-9d51-0d3c2b1a0e11");
  ASSERT_TRUE(unknown->WaitDone());
  EXPECT_EQ(unknown->status().error_code(), grpc::StatusCode::NOT_FOUND)
      << unknown->status().error_message();
}

TEST_F(WatchTest, PerClientLimitAndCancellationFreeEverything) {
  config_.watch.max_per_client = 2;
  StartGateway();
  const std::string uuid = Create("a limited shelf");
  auto a = Watch(uuid);
  auto b = Watch(uuid);
  ASSERT_TRUE(a->WaitEvents(1));
  ASSERT_TRUE(b->WaitEvents(1));
  auto c = Watch(uuid);
  ASSERT_TRUE(c->WaitDone());
  EXPECT_EQ(c->status().error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(testing_util::Reason(c->status()), "WATCH_LIMIT_EXCEEDED");
  EXPECT_THAT(c->status().error_message(), HasSubstr("max-watches-per-client"));

  a->Cancel();
  b->Cancel();
  ASSERT_TRUE(a->WaitDone());
  ASSERT_TRUE(b->WaitDone());
  EXPECT_EQ(a->status().error_code(), grpc::StatusCode::CANCELLED);
  // The slots are free again once the server has seen the cancellations
  // (after the client did: retry until then), and the upstream socket
  // closes after the grace period once nobody watches.
  std::unique_ptr<Watcher> d;
  for (int attempt = 0; attempt < 1000; ++attempt) {
    d = Watch(uuid);
    if (d->WaitEvents(1)) break;
    EXPECT_EQ(d->status().error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  }
  ASSERT_TRUE(d->WaitEvents(1));
  d->Cancel();
  ASSERT_TRUE(d->WaitDone());
  const absl::Time give_up = absl::Now() + kWait;
  while (WebSocketStat(*emu_, "open") != 0 && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(10));  // polling a counter, not timing
  }
  EXPECT_EQ(WebSocketStat(*emu_, "open"), 0);
}

}  // namespace
}  // namespace triverse::gateway
