// WatchHubs over a MockProviderStub (the sockets), a MockTriverseConnection
// (the GETs) and a FakeScheduler (every timer, and the hub's clock). The
// test captures the callbacks the hub passes down and drives them by hand:
// no network, no thread, no sleep.
#include "server/upstream/watch_hub.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/translate/watch_frame.h"
#include "server/upstream/fake_scheduler.h"
#include "server/upstream/mock_provider_stub.h"
#include "server/upstream/mock_triverse_connection.h"
#include "server/upstream/triverse_connection.h"
#include "server/upstream/triverse_stub.h"
#include "triverse/v1/task.pb.h"

namespace triverse::upstream {
namespace {

using ::testing::_;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

constexpr absl::Duration kTick = absl::Nanoseconds(1);

// Recorder is a WatchSubscriber that keeps everything it is given.
class Recorder : public WatchSubscriber {
 public:
  void OnEvent(const HubEvent& event) override { events.push_back(event); }
  void OnError(const absl::Status& status) override {
    errors.push_back(status);
  }
  void Flush() override { ++flushes; }

  // "uuid:STATUS:progress" of every event, in order.
  std::vector<std::string> Seen() const {
    std::vector<std::string> out;
    for (const HubEvent& e : events) {
      out.push_back(e.task->task_uuid() + ":" +
                    v1::TaskStatus_Name(e.task->status()).substr(12) + ":" +
                    std::to_string(e.task->progress()));
    }
    return out;
  }
  std::vector<absl::StatusCode> ErrorCodes() const {
    std::vector<absl::StatusCode> out;
    for (const absl::Status& s : errors) out.push_back(s.code());
    return out;
  }

  std::vector<HubEvent> events;
  std::vector<absl::Status> errors;
  int flushes = 0;
};

// Socket is one WatchAll call the hub made.
struct Socket {
  uint64_t id = 0;
  std::optional<absl::Time> since;
  CallOptions options;
  WatchHandler handler;
  absl::AnyInvocable<void(absl::Status)> done;
  bool ended = false;
  bool cancelled = false;
};

// Get is one GetTask call the hub made.
struct Get {
  std::string uuid;
  CallContext context;
  TriverseConnection::Callback<v1::Task> done;
  bool answered = false;
};

v1::Task MakeTask(const std::string& uuid, v1::TaskStatus status,
                  int progress = 0) {
  v1::Task t;
  t.set_task_uuid(uuid);
  t.set_status(status);
  t.set_progress(progress);
  return t;
}

CallContext Key(const std::string& api_key, bool caller_key = false) {
  CallContext c;
  c.api_key = api_key;
  c.caller_key = caller_key;
  return c;
}

class WatchHubTest : public ::testing::Test {
 protected:
  WatchHubTest() {
    options_.backoff_jitter = 0;
    options_.grace = absl::Seconds(30);
    options_.idle_timeout = absl::Seconds(60);
    options_.since_overlap = absl::Seconds(10);
    options_.initial_backoff = absl::Seconds(1);
    options_.backoff_multiplier = 2;
    options_.max_backoff = absl::Seconds(5);
    options_.failures_before_polling = 100;
    options_.min_poll_interval = absl::Seconds(1);
    options_.max_poll_interval = absl::Seconds(4);
    options_.get_timeout = absl::Seconds(7);
    options_.log = [this](const std::string& line) { log_.push_back(line); };

    EXPECT_CALL(*stub_, WatchAll(_, _, _, _))
        .WillRepeatedly([this](std::optional<absl::Time> since,
                               CallOptions options, WatchHandler handler,
                               absl::AnyInvocable<void(absl::Status)> done) {
          auto s = std::make_shared<Socket>();
          s->id = 100 + sockets_.size();
          s->since = since;
          s->options = std::move(options);
          s->handler = std::move(handler);
          s->done = std::move(done);
          sockets_.push_back(s);
          return s->id;
        });
    // As the real stub: a cancelled socket ends with CANCELLED.
    EXPECT_CALL(*stub_, Cancel(_)).WillRepeatedly([this](uint64_t id) {
      cancelled_.push_back(id);
      for (auto& s : sockets_) {
        if (s->id == id && !s->ended) {
          s->cancelled = true;
          End(*s, absl::CancelledError("Cancel()"));
        }
      }
    });
    EXPECT_CALL(*connection_, GetTask(_, _, _))
        .WillRepeatedly([this](absl::string_view uuid, CallContext context,
                               TriverseConnection::Callback<v1::Task> done) {
          auto g = std::make_shared<Get>();
          g->uuid = std::string(uuid);
          g->context = std::move(context);
          g->done = std::move(done);
          gets_.push_back(g);
          return uint64_t{1000 + gets_.size()};
        });
  }

  WatchHubs& hubs() {
    if (hubs_ == nullptr) {
      hubs_ = std::make_unique<WatchHubs>(stub_, connection_, &scheduler_,
                                          options_);
    }
    return *hubs_;
  }

  Socket& socket(size_t i) { return *sockets_.at(i); }
  Socket& last_socket() { return *sockets_.back(); }

  static void Open(Socket& s) { s.handler.on_open(); }
  static void Send(
      Socket& s, const v1::Task& task,
      translate::WatchFrame::Kind kind = translate::WatchFrame::Kind::kUpdate) {
    translate::WatchFrame f;
    f.kind = kind;
    f.task = task;
    s.handler.on_frame(std::move(f));
  }
  static void End(Socket& s, absl::Status status) {
    ASSERT_FALSE(s.ended) << "socket " << s.id << " ended twice";
    s.ended = true;
    auto done = std::move(s.done);
    done(std::move(status));
  }

  // Answer answers GET number `i` (in call order).
  void Answer(size_t i, absl::StatusOr<v1::Task> result) {
    Get& g = *gets_.at(i);
    ASSERT_FALSE(g.answered) << "GET " << i << " answered twice";
    g.answered = true;
    auto done = std::move(g.done);
    done(std::move(result));
  }

  // AnswerFor answers the oldest unanswered GET of `uuid`.
  void AnswerFor(const std::string& uuid, absl::StatusOr<v1::Task> result) {
    for (size_t i = 0; i < gets_.size(); ++i) {
      if (gets_[i]->uuid == uuid && !gets_[i]->answered) {
        Answer(i, std::move(result));
        return;
      }
    }
    ADD_FAILURE() << "no GET of " << uuid << " in flight";
  }

  // The uuids of every GET made, in order.
  std::vector<std::string> GetUuids() const {
    std::vector<std::string> out;
    for (const auto& g : gets_) out.push_back(g->uuid);
    return out;
  }

  std::shared_ptr<Recorder> Sub() { return std::make_shared<Recorder>(); }

  WatchHandle SubscribeTask(const std::string& uuid,
                            const std::shared_ptr<Recorder>& r,
                            const CallContext& key = Key("k1")) {
    return hubs().SubscribeTask(key, uuid, r);
  }
  WatchHandle SubscribeAll(const std::shared_ptr<Recorder>& r,
                           const CatchUp& catch_up = {},
                           const CallContext& key = Key("k1")) {
    return hubs().SubscribeAll(key, catch_up, r);
  }

  WatchHubOptions options_;
  FakeScheduler scheduler_;
  const absl::Time start_ = scheduler_.Now();
  std::shared_ptr<MockProviderStub> stub_ =
      std::make_shared<MockProviderStub>();
  std::shared_ptr<MockTriverseConnection> connection_ =
      std::make_shared<MockTriverseConnection>();
  std::vector<std::shared_ptr<Socket>> sockets_;
  std::vector<std::shared_ptr<Get>> gets_;
  std::vector<uint64_t> cancelled_;
  std::vector<std::string> log_;
  // Last: destroyed first, while everything above still exists.
  std::unique_ptr<WatchHubs> hubs_;
};

// ------------------------------------------------------------- one socket

TEST_F(WatchHubTest, OneSocketPerKeySharedBySubscribers) {
  auto a = Sub();
  auto b = Sub();
  auto c = Sub();
  SubscribeTask("t1", a);
  ASSERT_EQ(sockets_.size(), 1u);
  EXPECT_EQ(socket(0).since, std::nullopt);
  EXPECT_EQ(socket(0).options.api_key, "k1");
  EXPECT_FALSE(socket(0).options.caller_key);

  SubscribeTask("t2", b);
  SubscribeAll(c);
  EXPECT_EQ(sockets_.size(), 1u);

  auto d = Sub();
  SubscribeTask("t1", d, Key("k2"));
  ASSERT_EQ(sockets_.size(), 2u);
  EXPECT_EQ(socket(1).options.api_key, "k2");

  // The same key as the caller's own is another hub.
  auto e = Sub();
  SubscribeAll(e, {}, Key("k1", /*caller_key=*/true));
  ASSERT_EQ(sockets_.size(), 3u);
  EXPECT_EQ(socket(2).options.api_key, "k1");
  EXPECT_TRUE(socket(2).options.caller_key);

  // The GETs go out with their hub's key.
  ASSERT_EQ(GetUuids(), (std::vector<std::string>{"t1", "t2", "t1"}));
  EXPECT_EQ(gets_[0]->context.api_key, "k1");
  EXPECT_FALSE(gets_[0]->context.caller_key);
  EXPECT_EQ(gets_[2]->context.api_key, "k2");
  EXPECT_EQ(gets_[0]->context.deadline, start_ + absl::Seconds(7));

  const WatchHubStats stats = hubs().Stats();
  EXPECT_EQ(stats.hubs, 3);
  EXPECT_EQ(stats.subscribers, 5);
  EXPECT_EQ(stats.gets_total, 3);
  EXPECT_EQ(stats.sockets_open, 0);
  EXPECT_THAT(cancelled_, IsEmpty());
}

// ------------------------------------------------------------------ GETs

TEST_F(WatchHubTest, FirstEventIsOneSharedGet) {
  auto a = Sub();
  auto b = Sub();
  SubscribeTask("t1", a);
  ASSERT_EQ(gets_.size(), 1u);
  EXPECT_THAT(a->events, IsEmpty());

  // A second subscriber while the GET is in flight makes no second GET.
  SubscribeTask("t1", b);
  EXPECT_EQ(gets_.size(), 1u);

  Answer(0, MakeTask("t1", v1::TASK_STATUS_RUNNING, 10));
  EXPECT_THAT(a->Seen(), ElementsAre("t1:RUNNING:10"));
  EXPECT_THAT(b->Seen(), ElementsAre("t1:RUNNING:10"));
  EXPECT_GE(a->flushes, 1);
  EXPECT_GE(b->flushes, 1);
  EXPECT_EQ(a->events[0].seq, b->events[0].seq);
  EXPECT_EQ(a->events[0].observed, start_);
  EXPECT_FALSE(a->events[0].terminal);

  // Cached: delivered at subscribe, without a GET.
  auto c = Sub();
  SubscribeTask("t1", c);
  EXPECT_EQ(gets_.size(), 1u);
  EXPECT_THAT(c->Seen(), ElementsAre("t1:RUNNING:10"));
  EXPECT_EQ(c->flushes, 1);
  EXPECT_EQ(c->events[0].seq, a->events[0].seq);

  const WatchHubStats stats = hubs().Stats();
  EXPECT_EQ(stats.gets_total, 1);
  EXPECT_EQ(stats.changes_total, 1);
  EXPECT_EQ(stats.deliveries_total, 2);  // The cached replay is no change.
}

TEST_F(WatchHubTest, GetAnswerForAnotherTaskIsIgnored) {
  auto a = Sub();
  SubscribeTask("t1", a);
  Answer(0, MakeTask("other", v1::TASK_STATUS_RUNNING, 10));
  EXPECT_THAT(a->events, IsEmpty());
  EXPECT_EQ(hubs().Stats().changes_total, 0);
}

TEST_F(WatchHubTest, FailedFirstGetErrorsThatTasksSubscribers) {
  auto a = Sub();
  auto b = Sub();
  auto other = Sub();
  auto all = Sub();
  SubscribeTask("t1", a);
  SubscribeTask("t1", b);
  SubscribeTask("t2", other);
  SubscribeAll(all);
  ASSERT_EQ(GetUuids(), (std::vector<std::string>{"t1", "t2"}));

  Answer(0, absl::PermissionDeniedError("not yours"));
  EXPECT_THAT(a->ErrorCodes(),
              ElementsAre(absl::StatusCode::kPermissionDenied));
  EXPECT_THAT(b->ErrorCodes(),
              ElementsAre(absl::StatusCode::kPermissionDenied));
  EXPECT_GE(a->flushes, 1);
  EXPECT_THAT(other->errors, IsEmpty());
  EXPECT_THAT(all->errors, IsEmpty());

  // A failed GET of a task whose state is known is no error: the state
  // stands.
  Answer(1, MakeTask("t2", v1::TASK_STATUS_RUNNING, 5));
  Open(socket(0));
  EXPECT_THAT(GetUuids(), ::testing::UnorderedElementsAre("t1", "t2", "t1",
                                                          "t2"));  // Re-checks.
  AnswerFor("t2", absl::UnavailableError("flaky"));
  EXPECT_THAT(other->errors, IsEmpty());
  EXPECT_THAT(other->Seen(), ElementsAre("t2:RUNNING:5"));
}

// A task created a moment ago may answer NOT_FOUND to a plain GET (the
// upstream's read-after-write lag): the hub looks again, doubling its
// delay, before its watchers get the error.
TEST_F(WatchHubTest, NotFoundIsRetriedBeforeTheWatchersGetIt) {
  auto a = Sub();
  SubscribeTask("t1", a);
  ASSERT_EQ(GetUuids().size(), 1u);
  Answer(0, absl::NotFoundError("no such task"));
  EXPECT_THAT(a->errors, IsEmpty());
  scheduler_.AdvanceBy(absl::Milliseconds(249));
  EXPECT_EQ(GetUuids().size(), 1u);  // not yet
  scheduler_.AdvanceBy(absl::Milliseconds(1));
  ASSERT_EQ(GetUuids().size(), 2u);
  Answer(1, MakeTask("t1", v1::TASK_STATUS_PENDING, 0));
  EXPECT_THAT(a->errors, IsEmpty());
  EXPECT_THAT(a->Seen(), ElementsAre("t1:PENDING:0"));

  // A task that stays unknown: 0.25 + 0.5 + 1 + 2 s, then the error.
  auto b = Sub();
  SubscribeTask("t2", b);
  for (int i = 0; i < 4; ++i) {
    AnswerFor("t2", absl::NotFoundError("no such task"));
    EXPECT_THAT(b->errors, IsEmpty()) << i;
    scheduler_.AdvanceBy(absl::Milliseconds(250) * (1 << i));
  }
  AnswerFor("t2", absl::NotFoundError("no such task"));
  EXPECT_THAT(b->ErrorCodes(), ElementsAre(absl::StatusCode::kNotFound));
}

// ---------------------------------------------------------------- frames

TEST_F(WatchHubTest, FramesFanOutDuplicatesAndStaleStatesDropped) {
  auto t1 = Sub();
  auto t2 = Sub();
  auto all = Sub();
  SubscribeTask("t1", t1);
  SubscribeTask("t2", t2);
  SubscribeAll(all);
  Answer(0, MakeTask("t1", v1::TASK_STATUS_PENDING));
  Answer(1, MakeTask("t2", v1::TASK_STATUS_QUEUED));
  Open(socket(0));
  AnswerFor("t1", MakeTask("t1", v1::TASK_STATUS_PENDING));  // Re-checks:
  AnswerFor("t2", MakeTask("t2", v1::TASK_STATUS_QUEUED));   // the same.

  Send(socket(0), MakeTask("t1", v1::TASK_STATUS_RUNNING, 10));
  Send(socket(0), MakeTask("t3", v1::TASK_STATUS_RUNNING, 5));
  Send(socket(0), MakeTask("t1", v1::TASK_STATUS_RUNNING, 10));  // Duplicate.
  Send(socket(0), MakeTask("t1", v1::TASK_STATUS_RUNNING, 5));   // Older.
  Send(socket(0), MakeTask("t1", v1::TASK_STATUS_QUEUED, 50));   // Lower rank.
  Send(socket(0), MakeTask("t1", v1::TASK_STATUS_SUCCESS, 100),
       translate::WatchFrame::Kind::kFinalized);
  Send(socket(0), MakeTask("t1", v1::TASK_STATUS_SUCCESS, 100),
       translate::WatchFrame::Kind::kFinalized);                 // Again.
  Send(socket(0), MakeTask("t1", v1::TASK_STATUS_FAILED, 100));  // After end.
  Send(socket(0), MakeTask("t1", v1::TASK_STATUS_RUNNING, 99));  // After end.
  socket(0).handler.on_frame(absl::DataLossError("not a task"));

  EXPECT_THAT(t1->Seen(),
              ElementsAre("t1:PENDING:0", "t1:RUNNING:10", "t1:SUCCESS:100"));
  EXPECT_TRUE(t1->events.back().terminal);
  EXPECT_THAT(t2->Seen(), ElementsAre("t2:QUEUED:0"));
  EXPECT_THAT(all->Seen(),
              ElementsAre("t1:PENDING:0", "t2:QUEUED:0", "t1:RUNNING:10",
                          "t3:RUNNING:5", "t1:SUCCESS:100"));
  for (size_t i = 1; i < all->events.size(); ++i) {
    EXPECT_LT(all->events[i - 1].seq, all->events[i].seq);
  }
  EXPECT_THAT(t1->errors, IsEmpty());
  EXPECT_THAT(all->errors, IsEmpty());

  const WatchHubStats stats = hubs().Stats();
  EXPECT_EQ(stats.frames_total, 10);
  EXPECT_EQ(stats.bad_frames_total, 1);
  EXPECT_EQ(stats.changes_total, 5);
  // t1 PENDING (2), t2 QUEUED (2), t1 RUNNING (2), t3 (1), t1 SUCCESS (2).
  EXPECT_EQ(stats.deliveries_total, 9);
}

TEST_F(WatchHubTest, SameRankOtherContentIsAChange) {
  auto a = Sub();
  SubscribeTask("t1", a);
  Answer(0, MakeTask("t1", v1::TASK_STATUS_RUNNING, 10));
  Open(socket(0));
  Send(socket(0), MakeTask("t1", v1::TASK_STATUS_RUNNING, 10));
  EXPECT_EQ(a->events.size(), 1u);
  // Same status and progress, another field: a change.
  v1::Task t = MakeTask("t1", v1::TASK_STATUS_RUNNING, 10);
  t.mutable_queue();
  t.set_flow_name("image-to-model");
  Send(socket(0), t);
  ASSERT_EQ(a->events.size(), 2u);
  EXPECT_EQ(a->events[1].task->flow_name(), "image-to-model");
  // A terminal state is accepted whatever its progress.
  Send(socket(0), MakeTask("t1", v1::TASK_STATUS_FAILED, 0));
  EXPECT_THAT(a->Seen(),
              ElementsAre("t1:RUNNING:10", "t1:RUNNING:10", "t1:FAILED:0"));
}

TEST_F(WatchHubTest, StaleGetAnswerAfterNewerFrameIsDroppedAndGetRepeated) {
  auto a = Sub();
  SubscribeTask("t1", a);
  ASSERT_EQ(gets_.size(), 1u);
  // The socket opens while the first GET is in flight: no second GET now...
  Open(socket(0));
  EXPECT_EQ(gets_.size(), 1u);
  Send(socket(0), MakeTask("t1", v1::TASK_STATUS_RUNNING, 50));
  EXPECT_THAT(a->Seen(), ElementsAre("t1:RUNNING:50"));

  // ...the GET answers with an older state: dropped, and made again (it may
  // have been answered before the socket opened).
  Answer(0, MakeTask("t1", v1::TASK_STATUS_RUNNING, 10));
  EXPECT_THAT(a->Seen(), ElementsAre("t1:RUNNING:50"));
  ASSERT_EQ(GetUuids(), (std::vector<std::string>{"t1", "t1"}));

  Answer(1, MakeTask("t1", v1::TASK_STATUS_RUNNING, 60));
  EXPECT_THAT(a->Seen(), ElementsAre("t1:RUNNING:50", "t1:RUNNING:60"));
  EXPECT_EQ(gets_.size(), 2u);  // Made again once only.
}

TEST_F(WatchHubTest, OpenRechecksWatchedNonTerminalTasks) {
  auto a = Sub();
  auto b = Sub();
  auto c = Sub();
  SubscribeTask("t1", a);
  SubscribeTask("t2", b);
  SubscribeTask("t3", c);
  ASSERT_EQ(GetUuids(), (std::vector<std::string>{"t1", "t2", "t3"}));
  Answer(0, MakeTask("t1", v1::TASK_STATUS_RUNNING, 1));
  Answer(1, MakeTask("t2", v1::TASK_STATUS_SUCCESS, 100));

  Open(socket(0));
  // t1 again; t2 is terminal; t3's GET is in flight: made again on return.
  ASSERT_EQ(GetUuids(), (std::vector<std::string>{"t1", "t2", "t3", "t1"}));
  Answer(2, MakeTask("t3", v1::TASK_STATUS_QUEUED));
  ASSERT_EQ(GetUuids(),
            (std::vector<std::string>{"t1", "t2", "t3", "t1", "t3"}));
  EXPECT_THAT(c->Seen(), ElementsAre("t3:QUEUED:0"));
  Answer(4, MakeTask("t3", v1::TASK_STATUS_RUNNING, 3));
  EXPECT_THAT(c->Seen(), ElementsAre("t3:QUEUED:0", "t3:RUNNING:3"));
  EXPECT_EQ(gets_.size(), 5u);

  // A GET in flight that turns terminal is not made again.
  auto d = Sub();
  SubscribeTask("t4", d);
  ASSERT_EQ(gets_.size(), 6u);
  socket(0).handler.on_frame(absl::DataLossError("noise"));
  End(socket(0), absl::UnavailableError("dropped"));
  scheduler_.AdvanceBy(absl::Seconds(1));
  ASSERT_EQ(sockets_.size(), 2u);
  Open(socket(1));
  // t3 now; t1 and t4 (in flight) when they return; never t2.
  ASSERT_EQ(gets_.size(), 7u);
  EXPECT_EQ(GetUuids().back(), "t3");
  Answer(5, MakeTask("t4", v1::TASK_STATUS_CANCELLED));  // Terminal: done.
  EXPECT_EQ(gets_.size(), 7u);
  EXPECT_THAT(d->Seen(), ElementsAre("t4:CANCELLED:0"));
  Answer(3, MakeTask("t1", v1::TASK_STATUS_RUNNING, 2));
  ASSERT_EQ(gets_.size(), 8u);
  EXPECT_EQ(GetUuids().back(), "t1");
  EXPECT_THAT(a->Seen(), ElementsAre("t1:RUNNING:1", "t1:RUNNING:2"));
}

// ------------------------------------------------------------ reconnects

class WatchHubEndTest : public WatchHubTest,
                        public ::testing::WithParamInterface<absl::StatusCode> {
};

TEST_P(WatchHubEndTest, OpenSocketThatEndsReconnectsWithSince) {
  auto all = Sub();
  SubscribeAll(all);
  ASSERT_EQ(sockets_.size(), 1u);
  Open(socket(0));
  EXPECT_EQ(hubs().Stats().sockets_open, 1);
  scheduler_.AdvanceBy(absl::Seconds(5));
  Send(socket(0), MakeTask("t1", v1::TASK_STATUS_RUNNING, 1));
  scheduler_.AdvanceBy(absl::Seconds(3));

  End(socket(0), absl::Status(GetParam(), "gone"));
  EXPECT_EQ(hubs().Stats().sockets_open, 0);
  EXPECT_EQ(scheduler_.NextDelay(), absl::Seconds(1));
  scheduler_.AdvanceBy(absl::Seconds(1) - kTick);
  EXPECT_EQ(sockets_.size(), 1u);
  scheduler_.AdvanceBy(kTick);
  ASSERT_EQ(sockets_.size(), 2u);
  // The last activity (the frame) minus the overlap.
  EXPECT_EQ(socket(1).since, start_ + absl::Seconds(5) - absl::Seconds(10));
  EXPECT_THAT(all->errors, IsEmpty());

  Open(socket(1));
  const WatchHubStats stats = hubs().Stats();
  EXPECT_EQ(stats.sockets_open, 1);
  EXPECT_EQ(stats.sockets_opened_total, 2);
  EXPECT_EQ(stats.reconnects_total, 1);
  EXPECT_EQ(stats.socket_failures_total, 0);
  EXPECT_THAT(log_, ::testing::Contains(::testing::HasSubstr("ended")));

  // The next end is again after the initial backoff, since its open.
  scheduler_.AdvanceBy(absl::Seconds(2));
  End(socket(1), absl::Status(GetParam(), "gone"));
  EXPECT_EQ(scheduler_.NextDelay(), absl::Seconds(1));
  scheduler_.AdvanceBy(absl::Seconds(1));
  ASSERT_EQ(sockets_.size(), 3u);
  // From its open (at 9 s), the last sign of life.
  EXPECT_EQ(socket(2).since, start_ + absl::Seconds(9) - absl::Seconds(10));
}

INSTANTIATE_TEST_SUITE_P(Codes, WatchHubEndTest,
                         ::testing::Values(absl::StatusCode::kUnavailable,
                                           absl::StatusCode::kOk));

TEST_F(WatchHubTest, FailuresBeforeOpenGrowTheBackoffUpToTheCap) {
  auto all = Sub();
  SubscribeAll(all);
  const std::vector<absl::Duration> expected = {
      absl::Seconds(1), absl::Seconds(2), absl::Seconds(4), absl::Seconds(5),
      absl::Seconds(5)};
  for (size_t i = 0; i < expected.size(); ++i) {
    SCOPED_TRACE(i);
    ASSERT_EQ(sockets_.size(), i + 1);
    End(last_socket(), absl::UnavailableError("refused"));
    EXPECT_EQ(scheduler_.NextDelay(), expected[i]);
    scheduler_.AdvanceBy(expected[i] - kTick);
    EXPECT_EQ(sockets_.size(), i + 1);
    scheduler_.AdvanceBy(kTick);
    // Never open: nothing to replay.
    EXPECT_EQ(last_socket().since, std::nullopt);
  }
  EXPECT_EQ(hubs().Stats().socket_failures_total, 5);
  EXPECT_EQ(hubs().Stats().reconnects_total, 5);
  EXPECT_THAT(all->errors, IsEmpty());  // Transient: nobody is told.

  // An open resets the backoff.
  Open(last_socket());
  End(last_socket(), absl::UnavailableError("dropped"));
  EXPECT_EQ(scheduler_.NextDelay(), absl::Seconds(1));
}

TEST_F(WatchHubTest, JitteredBackoffStaysInRange) {
  options_.backoff_jitter = 0.2;
  options_.initial_backoff = absl::Seconds(10);
  options_.max_backoff = absl::Seconds(100);
  auto all = Sub();
  SubscribeAll(all);
  bool varied = false;
  std::optional<absl::Duration> first;
  for (int i = 0; i < 20; ++i) {
    Open(last_socket());
    End(last_socket(), absl::UnavailableError("dropped"));
    const absl::Duration d = *scheduler_.NextDelay();
    EXPECT_GE(d, absl::Seconds(8));
    EXPECT_LE(d, absl::Seconds(12));
    if (first && d != *first) varied = true;
    if (!first) first = d;
    ASSERT_TRUE(scheduler_.RunNext());
  }
  EXPECT_TRUE(varied);
}

TEST_F(WatchHubTest, PollsAfterRepeatedFailuresUntilASocketOpens) {
  options_.failures_before_polling = 2;
  options_.initial_backoff = absl::Seconds(100);
  options_.max_backoff = absl::Seconds(100);
  auto a = Sub();
  SubscribeTask("t1", a);
  Answer(0, MakeTask("t1", v1::TASK_STATUS_RUNNING, 10));

  End(socket(0), absl::UnavailableError("refused"));
  EXPECT_EQ(hubs().Stats().polling_hubs, 0);
  scheduler_.AdvanceBy(absl::Seconds(100));
  ASSERT_EQ(sockets_.size(), 2u);
  End(socket(1), absl::UnavailableError("refused"));
  const absl::Time polling_since = scheduler_.Now();
  WatchHubStats stats = hubs().Stats();
  EXPECT_EQ(stats.polling_hubs, 1);
  EXPECT_EQ(stats.polling_fallbacks_total, 1);
  EXPECT_THAT(log_, ::testing::Contains(::testing::HasSubstr("polling")));

  // ExpectPoll: the next poll (one GET of t1) comes `after` the last one,
  // not earlier; it is answered with progress `progress`.
  absl::Time last = polling_since;
  auto expect_poll = [&](absl::Duration after, int progress) {
    SCOPED_TRACE(absl::FormatDuration(after));
    const size_t n = gets_.size();
    scheduler_.AdvanceBy(last + after - kTick - scheduler_.Now());
    EXPECT_EQ(gets_.size(), n);
    scheduler_.AdvanceBy(kTick);
    ASSERT_EQ(gets_.size(), n + 1);
    EXPECT_EQ(gets_.back()->uuid, "t1");
    Answer(n, MakeTask("t1", v1::TASK_STATUS_RUNNING, progress));
    last = scheduler_.Now();
  };
  // Nothing changes: 1 s, 2 s, 4 s, 4 s (the max).
  expect_poll(absl::Seconds(1), 10);
  expect_poll(absl::Seconds(2), 10);
  expect_poll(absl::Seconds(4), 10);
  expect_poll(absl::Seconds(4), 10);
  // A change (seen by the poll after 4 s) brings the interval back to 1 s,
  // then it doubles again.
  expect_poll(absl::Seconds(4), 20);
  EXPECT_THAT(a->Seen(), ElementsAre("t1:RUNNING:10", "t1:RUNNING:20"));
  expect_poll(absl::Seconds(4), 20);  // Already armed when the change came.
  expect_poll(absl::Seconds(1), 20);
  expect_poll(absl::Seconds(2), 20);
  expect_poll(absl::Seconds(4), 20);
  EXPECT_EQ(hubs().Stats().polling_hubs, 1);
  EXPECT_EQ(sockets_.size(), 2u);

  // The socket is back: polling stops; only the open's re-check GET.
  scheduler_.AdvanceBy(polling_since + absl::Seconds(100) - scheduler_.Now());
  ASSERT_EQ(sockets_.size(), 3u);
  for (size_t i = 0; i < gets_.size(); ++i) {
    if (!gets_[i]->answered) {
      Answer(i, MakeTask("t1", v1::TASK_STATUS_RUNNING, 20));
    }
  }
  const size_t before_open = gets_.size();
  Open(socket(2));
  stats = hubs().Stats();
  EXPECT_EQ(stats.polling_hubs, 0);
  EXPECT_EQ(stats.polling_fallbacks_total, 1);
  EXPECT_EQ(stats.socket_failures_total, 2);
  ASSERT_EQ(gets_.size(), before_open + 1);  // The re-check.
  Answer(before_open, MakeTask("t1", v1::TASK_STATUS_RUNNING, 20));
  Send(socket(2), MakeTask("t1", v1::TASK_STATUS_RUNNING, 30));
  scheduler_.AdvanceBy(absl::Seconds(30));
  EXPECT_EQ(gets_.size(), before_open + 1);
  EXPECT_THAT(log_, ::testing::Contains(::testing::HasSubstr("stopped")));

  // Failing again starts afresh: the count of failures restarted at the
  // open.
  End(socket(2), absl::UnavailableError("dropped"));
  EXPECT_EQ(hubs().Stats().polling_hubs, 0);
}

TEST_F(WatchHubTest, PollingSkipsTerminalTasks) {
  options_.failures_before_polling = 1;
  options_.initial_backoff = absl::Seconds(100);
  auto a = Sub();
  auto b = Sub();
  SubscribeTask("t1", a);
  SubscribeTask("t2", b);
  Answer(0, MakeTask("t1", v1::TASK_STATUS_SUCCESS, 100));
  Answer(1, MakeTask("t2", v1::TASK_STATUS_RUNNING, 1));
  End(socket(0), absl::UnavailableError("refused"));
  EXPECT_EQ(hubs().Stats().polling_hubs, 1);
  scheduler_.AdvanceBy(absl::Seconds(1));
  EXPECT_EQ(GetUuids(), (std::vector<std::string>{"t1", "t2", "t2"}));
}

// ------------------------------------------------------------- idleness

TEST_F(WatchHubTest, SilentSocketIsCancelledAndReopened) {
  auto all = Sub();
  SubscribeAll(all);
  Open(socket(0));
  scheduler_.AdvanceBy(absl::Seconds(30));
  Send(socket(0), MakeTask("t1", v1::TASK_STATUS_RUNNING, 1));
  // The first check (at 60 s) finds 30 s of silence and waits for the rest.
  scheduler_.AdvanceBy(absl::Seconds(60) - kTick);
  EXPECT_THAT(cancelled_, IsEmpty());
  EXPECT_EQ(hubs().Stats().idle_timeouts_total, 0);
  scheduler_.AdvanceBy(kTick);
  EXPECT_THAT(cancelled_, ElementsAre(socket(0).id));
  EXPECT_TRUE(socket(0).cancelled);
  WatchHubStats stats = hubs().Stats();
  EXPECT_EQ(stats.idle_timeouts_total, 1);
  EXPECT_EQ(stats.sockets_open, 0);
  EXPECT_EQ(sockets_.size(), 1u);

  // Reopened after the initial backoff, from before the last frame.
  scheduler_.AdvanceBy(absl::Seconds(1));
  ASSERT_EQ(sockets_.size(), 2u);
  EXPECT_EQ(socket(1).since, start_ + absl::Seconds(30) - absl::Seconds(10));
  EXPECT_THAT(all->errors, IsEmpty());
  stats = hubs().Stats();
  EXPECT_EQ(stats.reconnects_total, 1);
  EXPECT_EQ(stats.socket_failures_total, 0);
}

TEST_F(WatchHubTest, FramesKeepTheSocketAlive) {
  auto all = Sub();
  SubscribeAll(all);
  Open(socket(0));
  for (int i = 1; i <= 10; ++i) {
    scheduler_.AdvanceBy(absl::Seconds(50));
    Send(socket(0), MakeTask("t1", v1::TASK_STATUS_RUNNING, i));
  }
  EXPECT_THAT(cancelled_, IsEmpty());
  EXPECT_EQ(sockets_.size(), 1u);
  EXPECT_EQ(all->events.size(), 10u);
  // A bad frame is a sign of life too.
  scheduler_.AdvanceBy(absl::Seconds(50));
  socket(0).handler.on_frame(absl::DataLossError("garbled"));
  scheduler_.AdvanceBy(absl::Seconds(50));
  EXPECT_THAT(cancelled_, IsEmpty());
  scheduler_.AdvanceBy(absl::Seconds(10));
  EXPECT_THAT(cancelled_, ElementsAre(socket(0).id));
}

// ------------------------------------------------------------- refusals

class WatchHubRefusalTest
    : public WatchHubTest,
      public ::testing::WithParamInterface<absl::StatusCode> {};

TEST_P(WatchHubRefusalTest, PermanentRefusalErrorsAllTaskSubscribers) {
  auto all = Sub();
  auto all2 = Sub();
  auto task = Sub();
  SubscribeAll(all);
  SubscribeAll(all2);
  SubscribeTask("t1", task);
  End(socket(0), absl::Status(GetParam(), "refused"));
  EXPECT_THAT(all->ErrorCodes(), ElementsAre(GetParam()));
  EXPECT_THAT(all2->ErrorCodes(), ElementsAre(GetParam()));
  EXPECT_GE(all->flushes, 1);
  EXPECT_THAT(task->errors, IsEmpty());  // It hears from its GET.
  EXPECT_EQ(hubs().Stats().socket_failures_total, 1);
}

INSTANTIATE_TEST_SUITE_P(Codes, WatchHubRefusalTest,
                         ::testing::Values(absl::StatusCode::kInternal,
                                           absl::StatusCode::kPermissionDenied,
                                           absl::StatusCode::kUnauthenticated,
                                           absl::StatusCode::kInvalidArgument));

TEST_F(WatchHubTest, TransientFailureOrEndAfterOpenIsNoError) {
  auto all = Sub();
  SubscribeAll(all);
  End(socket(0), absl::UnavailableError("refused"));
  scheduler_.AdvanceBy(absl::Seconds(1));
  ASSERT_EQ(sockets_.size(), 2u);
  Open(socket(1));
  End(socket(1), absl::InternalError("odd"));  // After open: a drop.
  EXPECT_THAT(all->errors, IsEmpty());
  EXPECT_EQ(hubs().Stats().socket_failures_total, 1);
}

// -------------------------------------------------------------- catch-up

TEST_F(WatchHubTest, CatchUpByAfterSeqGivesLaterStatesInOrder) {
  auto first = Sub();
  SubscribeAll(first);
  Open(socket(0));
  Send(socket(0), MakeTask("t1", v1::TASK_STATUS_QUEUED));
  Send(socket(0), MakeTask("t2", v1::TASK_STATUS_QUEUED));
  Send(socket(0), MakeTask("t3", v1::TASK_STATUS_QUEUED));
  Send(socket(0), MakeTask("t1", v1::TASK_STATUS_RUNNING, 5));
  ASSERT_EQ(first->events.size(), 4u);
  const uint64_t t2_seq = first->events[1].seq;

  auto late = Sub();
  CatchUp c;
  c.after_seq = t2_seq;
  SubscribeAll(late, c);
  EXPECT_THAT(late->Seen(), ElementsAre("t3:QUEUED:0", "t1:RUNNING:5"));
  EXPECT_EQ(late->events[0].seq, first->events[2].seq);
  EXPECT_EQ(late->flushes, 1);
  EXPECT_EQ(sockets_.size(), 1u);

  auto none = Sub();
  c.after_seq = first->events[3].seq;
  SubscribeAll(none, c);
  EXPECT_THAT(none->events, IsEmpty());

  // Later changes reach everyone.
  Send(socket(0), MakeTask("t2", v1::TASK_STATUS_RUNNING, 1));
  EXPECT_EQ(late->Seen().back(), "t2:RUNNING:1");
  EXPECT_EQ(none->Seen().back(), "t2:RUNNING:1");
}

TEST_F(WatchHubTest, CatchUpBySinceGivesStatesObservedSinceThen) {
  auto first = Sub();
  SubscribeAll(first);
  Open(socket(0));
  scheduler_.AdvanceBy(absl::Seconds(1));
  Send(socket(0), MakeTask("t1", v1::TASK_STATUS_QUEUED));
  scheduler_.AdvanceBy(absl::Seconds(4));
  Send(socket(0), MakeTask("t2", v1::TASK_STATUS_QUEUED));
  scheduler_.AdvanceBy(absl::Seconds(4));
  Send(socket(0), MakeTask("t3", v1::TASK_STATUS_QUEUED));

  auto late = Sub();
  CatchUp c;
  c.since = start_ + absl::Seconds(5);
  SubscribeAll(late, c);
  EXPECT_THAT(late->Seen(), ElementsAre("t2:QUEUED:0", "t3:QUEUED:0"));
  EXPECT_EQ(late->events[0].observed, start_ + absl::Seconds(5));
  // The cache reaches back that far: no replay.
  EXPECT_EQ(sockets_.size(), 1u);
  EXPECT_THAT(cancelled_, IsEmpty());

  // Neither a cursor nor a time: no catch-up.
  auto no_cursor = Sub();
  SubscribeAll(no_cursor, CatchUp{});
  EXPECT_THAT(no_cursor->events, IsEmpty());
}

TEST_F(WatchHubTest, SinceOlderThanTheCacheReopensTheSocketWithIt) {
  auto first = Sub();
  SubscribeAll(first);
  scheduler_.AdvanceBy(absl::Seconds(100));
  Open(socket(0));  // The cache covers from here.
  Send(socket(0), MakeTask("t1", v1::TASK_STATUS_QUEUED));

  auto late = Sub();
  CatchUp c;
  c.since = start_ + absl::Seconds(40);
  SubscribeAll(late, c);
  EXPECT_THAT(late->Seen(), ElementsAre("t1:QUEUED:0"));
  EXPECT_THAT(cancelled_, ElementsAre(socket(0).id));
  ASSERT_EQ(sockets_.size(), 2u);
  EXPECT_EQ(socket(1).since, start_ + absl::Seconds(40));
  EXPECT_EQ(hubs().Stats().sockets_open, 0);

  // The replay fans out; what the cache has already is dropped.
  Open(socket(1));
  Send(socket(1), MakeTask("t0", v1::TASK_STATUS_SUCCESS, 100));
  Send(socket(1), MakeTask("t1", v1::TASK_STATUS_QUEUED));
  EXPECT_THAT(late->Seen(), ElementsAre("t1:QUEUED:0", "t0:SUCCESS:100"));

  // Now covered from then on: no further reopen.
  auto later = Sub();
  c.since = start_ + absl::Seconds(60);
  SubscribeAll(later, c);
  EXPECT_EQ(sockets_.size(), 2u);
  EXPECT_THAT(later->Seen(), ElementsAre("t1:QUEUED:0", "t0:SUCCESS:100"));
}

TEST_F(WatchHubTest, SinceBeforeAnySocketIsAskedOfTheFirstOne) {
  auto all = Sub();
  CatchUp c;
  c.since = start_ - absl::Minutes(5);
  SubscribeAll(all, c);
  ASSERT_EQ(sockets_.size(), 1u);
  EXPECT_EQ(socket(0).since, start_ - absl::Minutes(5));
  EXPECT_GE(all->flushes, 1);
}

// A resume cursor given by a hub that has since retired (its key had no
// subscriber for the grace period) must not be taken for one of the new
// hub: the new hub saw nothing of what changed in between, so the
// subscription goes by time and the upstream replays.
TEST_F(WatchHubTest, CursorOfARetiredHubGoesByTime) {
  auto first = Sub();
  WatchHandle h = SubscribeAll(first);
  Open(socket(0));
  scheduler_.AdvanceBy(absl::Seconds(1));
  Send(socket(0), MakeTask("t1", v1::TASK_STATUS_RUNNING, 1));
  ASSERT_EQ(first->events.size(), 1u);
  const HubEvent last = first->events.back();
  WatchHubs::Unsubscribe(h);
  h = {};
  scheduler_.AdvanceBy(options_.grace);
  ASSERT_EQ(hubs().Stats().hubs, 0);
  // Nothing else happened in the registry: the new hub's first number
  // follows the cursor's.

  auto resumed = Sub();
  CatchUp c;
  c.after_seq = last.seq;
  c.since = last.observed - absl::Seconds(5);
  SubscribeAll(resumed, c);
  ASSERT_EQ(sockets_.size(), 2u);
  EXPECT_EQ(socket(1).since, last.observed - absl::Seconds(5));
}

// ------------------------------------------------------------- the grace

TEST_F(WatchHubTest, LastUnsubscribeClosesTheSocketAfterTheGrace) {
  auto a = Sub();
  auto b = Sub();
  WatchHandle ha = SubscribeTask("t1", a);
  WatchHandle hb = SubscribeAll(b);
  Answer(0, MakeTask("t1", v1::TASK_STATUS_RUNNING, 1));
  Open(socket(0));
  EXPECT_EQ(hubs().Stats().subscribers, 2);

  WatchHubs::Unsubscribe(ha);
  WatchHubs::Unsubscribe(ha);  // Idempotent.
  EXPECT_EQ(hubs().Stats().subscribers, 1);
  Send(socket(0), MakeTask("t1", v1::TASK_STATUS_RUNNING, 2));
  EXPECT_EQ(a->events.size(), 1u);  // Nothing after Unsubscribe.
  EXPECT_EQ(b->events.size(), 2u);
  WatchHubs::Unsubscribe(hb);
  EXPECT_EQ(hubs().Stats().subscribers, 0);
  ha = {};  // The handles hold the hub; the registry must not.
  hb = {};

  scheduler_.AdvanceBy(options_.grace - kTick);
  EXPECT_THAT(cancelled_, IsEmpty());
  EXPECT_EQ(hubs().Stats().hubs, 1);
  scheduler_.AdvanceBy(kTick);
  EXPECT_THAT(cancelled_, ElementsAre(socket(0).id));
  WatchHubStats stats = hubs().Stats();
  EXPECT_EQ(stats.hubs, 0);
  EXPECT_EQ(stats.sockets_open, 0);
  EXPECT_EQ(stats.reconnects_total, 0);  // Closed, not reopened.
  scheduler_.AdvanceBy(absl::Minutes(10));
  EXPECT_EQ(sockets_.size(), 1u);

  // The key's next subscription is a new hub with a new socket and no
  // cache.
  auto c = Sub();
  SubscribeTask("t1", c);
  ASSERT_EQ(sockets_.size(), 2u);
  EXPECT_EQ(socket(1).since, std::nullopt);
  EXPECT_EQ(gets_.back()->uuid, "t1");
  EXPECT_EQ(gets_.size(), 3u);  // The first, the re-check, this one.
  EXPECT_EQ(hubs().Stats().hubs, 1);
}

TEST_F(WatchHubTest, SubscriptionWithinTheGraceKeepsTheSocket) {
  auto a = Sub();
  WatchHandle ha = SubscribeAll(a);
  Open(socket(0));
  Send(socket(0), MakeTask("t1", v1::TASK_STATUS_RUNNING, 1));
  WatchHubs::Unsubscribe(ha);
  scheduler_.AdvanceBy(options_.grace / 2);
  // Frames keep coming while nobody listens.
  Send(socket(0), MakeTask("t1", v1::TASK_STATUS_RUNNING, 2));
  auto b = Sub();
  SubscribeTask("t1", b);
  EXPECT_THAT(b->Seen(), ElementsAre("t1:RUNNING:2"));  // Cached.
  EXPECT_THAT(GetUuids(), IsEmpty());
  for (int i = 0; i < 4; ++i) {
    scheduler_.AdvanceBy(options_.grace);
    Send(socket(0), MakeTask("t1", v1::TASK_STATUS_RUNNING, 3 + i));
  }
  EXPECT_THAT(cancelled_, IsEmpty());
  EXPECT_EQ(sockets_.size(), 1u);
  EXPECT_EQ(hubs().Stats().hubs, 1);
  EXPECT_EQ(hubs().Stats().sockets_open, 1);
}

TEST_F(WatchHubTest, SocketEndingDuringTheGraceIsNotReopened) {
  auto a = Sub();
  WatchHandle ha = SubscribeAll(a);
  Open(socket(0));
  WatchHubs::Unsubscribe(ha);
  End(socket(0), absl::UnavailableError("dropped"));
  scheduler_.AdvanceBy(options_.grace / 2);
  EXPECT_EQ(sockets_.size(), 1u);
  // A new subscriber opens one at once.
  auto b = Sub();
  SubscribeAll(b);
  EXPECT_EQ(sockets_.size(), 2u);
}

TEST_F(WatchHubTest, DestroyingTheRegistryCancelsItsSockets) {
  auto a = Sub();
  auto b = Sub();
  SubscribeAll(a);
  SubscribeAll(b, {}, Key("k2"));
  Open(socket(0));
  hubs_.reset();
  EXPECT_THAT(cancelled_,
              ::testing::UnorderedElementsAre(socket(0).id, socket(1).id));
  EXPECT_EQ(scheduler_.pending(), 0u);
}

// -------------------------------------------------------------- eviction

TEST_F(WatchHubTest, EvictionKeepsWatchedTasks) {
  options_.max_cached_tasks = 2;
  auto w = Sub();
  SubscribeTask("t1", w);
  Answer(0, MakeTask("t1", v1::TASK_STATUS_RUNNING, 1));  // Oldest.
  Open(socket(0));
  Answer(1, MakeTask("t1", v1::TASK_STATUS_RUNNING, 1));
  Send(socket(0), MakeTask("t2", v1::TASK_STATUS_QUEUED));
  Send(socket(0), MakeTask("t3", v1::TASK_STATUS_QUEUED));
  Send(socket(0), MakeTask("t4", v1::TASK_STATUS_QUEUED));

  auto all = Sub();
  CatchUp c;
  c.since = start_;
  SubscribeAll(all, c);
  EXPECT_THAT(all->Seen(), ElementsAre("t1:RUNNING:1", "t4:QUEUED:0"));

  // An evicted task needs a GET again; a kept one does not.
  const size_t n = gets_.size();
  auto again = Sub();
  SubscribeTask("t1", again);
  EXPECT_EQ(gets_.size(), n);
  auto evicted = Sub();
  SubscribeTask("t3", evicted);
  ASSERT_EQ(gets_.size(), n + 1);
  EXPECT_EQ(gets_.back()->uuid, "t3");
  EXPECT_THAT(evicted->events, IsEmpty());
}

// ------------------------------------------------- providers without push

TEST_F(WatchHubTest, ProviderWithoutPushPollsOneGetPerTaskForAllWatchers) {
  stub_->caps = CapabilitiesOf(ProviderKind::kSiray);
  std::vector<std::shared_ptr<Recorder>> watchers;
  for (int i = 0; i < 5; ++i) {
    watchers.push_back(Sub());
    SubscribeTask("t1", watchers.back());
  }
  auto other = Sub();
  SubscribeTask("t2", other);
  // No socket at all: the first GETs give the snapshots.
  EXPECT_THAT(sockets_, IsEmpty());
  ASSERT_EQ(GetUuids(), (std::vector<std::string>{"t1", "t2"}));
  AnswerFor("t1", MakeTask("t1", v1::TASK_STATUS_QUEUED));
  AnswerFor("t2", MakeTask("t2", v1::TASK_STATUS_RUNNING, 10));
  // Then one GET per task per interval (1 s, doubling while nothing
  // changes), whatever the number of watchers.
  scheduler_.AdvanceBy(absl::Seconds(1));
  ASSERT_EQ(gets_.size(), 4u);
  AnswerFor("t1", MakeTask("t1", v1::TASK_STATUS_RUNNING, 50));
  AnswerFor("t2", MakeTask("t2", v1::TASK_STATUS_RUNNING, 10));
  scheduler_.AdvanceBy(absl::Seconds(1));
  ASSERT_EQ(gets_.size(), 6u);
  AnswerFor("t1", MakeTask("t1", v1::TASK_STATUS_SUCCESS, 100));
  AnswerFor("t2", MakeTask("t2", v1::TASK_STATUS_RUNNING, 10));
  for (const auto& w : watchers) {
    EXPECT_THAT(w->Seen(),
                ElementsAre("t1:QUEUED:0", "t1:RUNNING:50", "t1:SUCCESS:100"));
  }
  // t1 is done: only t2 is read on, and less often while it stands still
  // (every 2 s once a poll found no change, up to max_poll_interval).
  scheduler_.AdvanceBy(absl::Seconds(1));
  ASSERT_EQ(gets_.size(), 7u);
  EXPECT_EQ(gets_.back()->uuid, "t2");
  AnswerFor("t2", MakeTask("t2", v1::TASK_STATUS_RUNNING, 10));
  scheduler_.AdvanceBy(absl::Seconds(1));
  ASSERT_EQ(gets_.size(), 8u);
  AnswerFor("t2", MakeTask("t2", v1::TASK_STATUS_RUNNING, 10));
  scheduler_.AdvanceBy(absl::Seconds(1));
  EXPECT_EQ(gets_.size(), 8u);
  scheduler_.AdvanceBy(absl::Seconds(1));
  EXPECT_EQ(gets_.size(), 9u);
  EXPECT_THAT(other->Seen(), ElementsAre("t2:RUNNING:10"));
  EXPECT_THAT(sockets_, IsEmpty());
  const WatchHubStats stats = hubs().Stats();
  EXPECT_EQ(stats.polling_hubs, 1);
  EXPECT_EQ(stats.polling_fallbacks_total, 0);
  EXPECT_EQ(stats.socket_failures_total, 0);
}

TEST_F(WatchHubTest, ProviderWithoutPushRefusesAllTaskWatches) {
  stub_->caps = CapabilitiesOf(ProviderKind::kSiray);
  auto all = Sub();
  SubscribeAll(all);
  EXPECT_THAT(all->ErrorCodes(), ElementsAre(absl::StatusCode::kUnimplemented));
  EXPECT_THAT(all->errors[0].message(), ::testing::HasSubstr("siray"));
  EXPECT_GE(all->flushes, 1);
  EXPECT_THAT(sockets_, IsEmpty());
  EXPECT_THAT(gets_, IsEmpty());
}

TEST_F(WatchHubTest, UndeterminedStatusFrameIsReadInsteadOfDelivered) {
  auto a = Sub();
  SubscribeTask("t1", a);
  Open(socket(0));
  AnswerFor("t1", MakeTask("t1", v1::TASK_STATUS_RUNNING, 40));
  // The check made once the socket opened.
  AnswerFor("t1", MakeTask("t1", v1::TASK_STATUS_RUNNING, 40));
  const size_t before = gets_.size();
  Send(socket(0), MakeTask("t1", v1::TASK_STATUS_UNSPECIFIED));
  // Not an event: a GET, whose answer (the connection resolves the status)
  // is what the watchers see.
  EXPECT_THAT(a->Seen(), ElementsAre("t1:RUNNING:40"));
  ASSERT_EQ(gets_.size(), before + 1);
  EXPECT_EQ(gets_.back()->uuid, "t1");
  AnswerFor("t1", MakeTask("t1", v1::TASK_STATUS_FAILED, 0));
  EXPECT_THAT(a->Seen(), ElementsAre("t1:RUNNING:40", "t1:FAILED:0"));
  // A GET answer without a status is never a state either.
  auto b = Sub();
  SubscribeTask("t9", b);
  AnswerFor("t9", MakeTask("t9", v1::TASK_STATUS_UNSPECIFIED));
  EXPECT_THAT(b->events, IsEmpty());
}

}  // namespace
}  // namespace triverse::upstream
