// TriverseConnectionImpl over a MockProviderStub and a FakeScheduler: the
// retry policy (codes, backoff, Retry-After, deadline, budget), exactly-once
// creation, read-after-write and cancellation. Then one end-to-end suite
// over RestTriverseStub and the emulator with injected faults.
#include "server/upstream/triverse_connection.h"

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/errors/upstream_status.h"
#include "server/http/curl_engine.h"
#include "server/upstream/fake_scheduler.h"
#include "server/upstream/mock_provider_stub.h"
#include "server/upstream/scheduler.h"
#include "server/upstream/triverse_stub.h"
#include "tests/emulator/testing_util/http_client.h"
#include "tests/emulator/testing_util/test_emulator.h"
#include "tests/server/testing_util/emulator_faults.h"
#include "tests/server/testing_util/streamed_download.h"
#include "tests/server/upstream/scripted_server.h"

namespace triverse::upstream {
namespace {

using ::testing::_;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::Not;
using ::testing::Return;

constexpr absl::Duration kWait = absl::Seconds(30);

// Result counts the callbacks of one call and keeps the last value.
template <typename T>
struct Result {
  int calls = 0;
  std::optional<absl::StatusOr<T>> value;
  absl::Notification done;
};

template <typename T>
TriverseConnection::Callback<T> Capture(std::shared_ptr<Result<T>> r) {
  return [r](absl::StatusOr<T> v) {
    ++r->calls;
    r->value = std::move(v);
    if (!r->done.HasBeenNotified()) r->done.Notify();
  };
}

absl::Status Transient() { return absl::UnavailableError("upstream down"); }

// RateLimited is what the stub returns for a 429 with Retry-After.
absl::Status RateLimited(absl::Duration retry_after) {
  errors::UpstreamError e;
  e.operation = "GetTask";
  e.http_status = 429;
  e.code = 2000;
  e.message = "slow down";
  e.retry_after = retry_after;
  return errors::AsStatus(e);
}

v1::Task MakeTask(const std::string& uuid) {
  v1::Task t;
  t.set_task_uuid(uuid);
  t.set_status(v1::TASK_STATUS_RUNNING);
  return t;
}

class TriverseConnectionTest : public ::testing::Test {
 protected:
  TriverseConnectionTest() : stub_(std::make_shared<MockProviderStub>()) {}

  std::shared_ptr<TriverseConnectionImpl> Make(
      TriverseConnectionOptions options = {}) {
    if (!options.jitter) options.jitter = [] { return 1.0; };
    return std::make_shared<TriverseConnectionImpl>(stub_, &scheduler_,
                                                    std::move(options));
  }

  CallContext Context(absl::Duration budget = absl::Seconds(30)) {
    CallContext c;
    c.api_key = "key";
    c.deadline = scheduler_.Now() + budget;
    return c;
  }

  // ExpectGetTask makes the next GetTask calls answer, inline, with
  // `results` in order, recording the header and options each one got.
  void ExpectGetTask(std::vector<absl::StatusOr<v1::Task>> results) {
    auto queue = std::make_shared<std::vector<absl::StatusOr<v1::Task>>>(
        std::move(results));
    EXPECT_CALL(*stub_, GetTask(_, _, _, _))
        .Times(static_cast<int>(queue->size()))
        .WillRepeatedly([this, queue](absl::string_view,
                                      absl::string_view header,
                                      CallOptions options, auto cb) {
          headers_.emplace_back(header);
          timeouts_.push_back(options.timeout);
          extra_headers_.push_back(options.extra_headers);
          auto next = queue->front();
          queue->erase(queue->begin());
          cb(std::move(next));
          return uint64_t{7};
        });
  }

  FakeScheduler scheduler_;
  std::shared_ptr<MockProviderStub> stub_;
  std::vector<std::string> headers_;
  std::vector<absl::Duration> timeouts_;
  std::vector<std::vector<std::pair<std::string, std::string>>> extra_headers_;
};

TEST_F(TriverseConnectionTest, GetTaskSuccess) {
  auto conn = Make();
  ExpectGetTask({MakeTask("t1")});
  auto r = std::make_shared<Result<v1::Task>>();
  EXPECT_NE(conn->GetTask("t1", Context(absl::Seconds(10)), Capture(r)), 0u);
  ASSERT_EQ(r->calls, 1);
  ASSERT_TRUE(r->value->ok()) << r->value->status();
  EXPECT_EQ((*r->value)->task_uuid(), "t1");
  // The attempt's timeout is the time left minus the 50 ms margin.
  ASSERT_EQ(timeouts_.size(), 1u);
  EXPECT_EQ(timeouts_[0], absl::Seconds(10) - absl::Milliseconds(50));
  EXPECT_EQ(headers_[0], "");
  EXPECT_EQ(scheduler_.pending(), 0u);
}

TEST_F(TriverseConnectionTest, TraceparentGoesUpstreamOnEveryAttempt) {
  auto conn = Make();
  ExpectGetTask({absl::UnavailableError("reset"), MakeTask("t1")});
  auto r = std::make_shared<Result<v1::Task>>();
  CallContext c = Context(absl::Seconds(10));
  c.traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  conn->GetTask("t1", c, Capture(r));
  scheduler_.AdvanceBy(absl::Seconds(5));
  ASSERT_EQ(r->calls, 1);
  ASSERT_TRUE(r->value->ok()) << r->value->status();
  ASSERT_EQ(extra_headers_.size(), 2u);
  for (const auto& headers : extra_headers_) {
    EXPECT_THAT(headers,
                ::testing::Contains(std::pair<std::string, std::string>(
                    "traceparent", c.traceparent)));
  }
  // Without one, no header.
  ExpectGetTask({MakeTask("t2")});
  conn->GetTask("t2", Context(), Capture(std::make_shared<Result<v1::Task>>()));
  EXPECT_TRUE(extra_headers_.back().empty());
}

TEST_F(TriverseConnectionTest, AttemptTimeoutIsCapped) {
  TriverseConnectionOptions o;
  o.max_attempt_timeout = absl::Seconds(2);
  auto conn = Make(std::move(o));
  ExpectGetTask({MakeTask("t1")});
  auto r = std::make_shared<Result<v1::Task>>();
  CallContext c = Context();
  c.deadline = absl::InfiniteFuture();
  conn->GetTask("t1", c, Capture(r));
  ASSERT_EQ(timeouts_.size(), 1u);
  EXPECT_EQ(timeouts_[0], absl::Seconds(2));
}

TEST_F(TriverseConnectionTest, GetTaskPermanentError) {
  auto conn = Make();
  ExpectGetTask({absl::NotFoundError("no such task")});
  auto r = std::make_shared<Result<v1::Task>>();
  conn->GetTask("t1", Context(), Capture(r));
  ASSERT_EQ(r->calls, 1);
  EXPECT_EQ(r->value->status(), absl::NotFoundError("no such task"));
  EXPECT_EQ(scheduler_.pending(), 0u);
}

TEST_F(TriverseConnectionTest, PermanentCodesAreNotRetried) {
  for (const absl::Status& s :
       {absl::InvalidArgumentError("a"), absl::FailedPreconditionError("b"),
        absl::DataLossError("c"), absl::InternalError("d"),
        absl::ResourceExhaustedError("out of credits (no RetryInfo)"),
        absl::PermissionDeniedError("e")}) {
    auto conn = Make();
    ExpectGetTask({s});
    auto r = std::make_shared<Result<v1::Task>>();
    conn->GetTask("t1", Context(), Capture(r));
    ASSERT_EQ(r->calls, 1);
    EXPECT_EQ(r->value->status(), s);
    EXPECT_EQ(scheduler_.pending(), 0u);
    ::testing::Mock::VerifyAndClearExpectations(stub_.get());
  }
}

TEST_F(TriverseConnectionTest, GetTaskTransientThenSuccess) {
  auto conn = Make();
  ExpectGetTask({Transient(), Transient(), MakeTask("t1")});
  auto r = std::make_shared<Result<v1::Task>>();
  conn->GetTask("t1", Context(), Capture(r));
  EXPECT_EQ(r->calls, 0);
  // Backoffs with jitter 1.0: 100 ms, then 160 ms.
  EXPECT_EQ(scheduler_.NextDelay(), absl::Milliseconds(100));
  ASSERT_TRUE(scheduler_.RunNext());
  EXPECT_EQ(scheduler_.NextDelay(), absl::Milliseconds(160));
  ASSERT_TRUE(scheduler_.RunNext());
  ASSERT_EQ(r->calls, 1);
  ASSERT_TRUE(r->value->ok()) << r->value->status();
  // Later attempts get the time that is left.
  ASSERT_EQ(timeouts_.size(), 3u);
  EXPECT_EQ(timeouts_[2], absl::Seconds(30) - absl::Milliseconds(260) -
                              absl::Milliseconds(50));
}

TEST_F(TriverseConnectionTest, GetTaskTooManyTransients) {
  auto conn = Make();
  ExpectGetTask({Transient(), Transient(), Transient(), Transient()});
  auto r = std::make_shared<Result<v1::Task>>();
  conn->GetTask("t1", Context(), Capture(r));
  while (scheduler_.RunNext()) {
  }
  ASSERT_EQ(r->calls, 1);
  EXPECT_EQ(r->value->status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(r->value->status().message(),
              HasSubstr("gave up after 4 attempts"));
}

TEST_F(TriverseConnectionTest, BackoffIsCappedAndJittered) {
  TriverseConnectionOptions o;
  o.max_attempts = 10;
  o.max_tokens = 100;
  o.max_backoff = absl::Milliseconds(300);
  double fraction = 0.5;
  o.jitter = [&fraction] { return fraction; };
  auto conn = Make(std::move(o));
  std::vector<absl::StatusOr<v1::Task>> results(5, Transient());
  results.push_back(MakeTask("t1"));
  ExpectGetTask(results);
  auto r = std::make_shared<Result<v1::Task>>();
  conn->GetTask("t1", Context(), Capture(r));
  // caps: 100, 160, 256, 300, 300 ms; times 0.5.
  for (absl::Duration want :
       {absl::Milliseconds(50), absl::Milliseconds(80), absl::Milliseconds(128),
        absl::Milliseconds(150), absl::Milliseconds(150)}) {
    EXPECT_EQ(scheduler_.NextDelay(), want);
    ASSERT_TRUE(scheduler_.RunNext());
  }
  ASSERT_EQ(r->calls, 1);
  EXPECT_TRUE(r->value->ok());
}

TEST_F(TriverseConnectionTest, RetryAfterIsHonoured) {
  auto conn = Make();
  ExpectGetTask({RateLimited(absl::Seconds(7)), MakeTask("t1")});
  auto r = std::make_shared<Result<v1::Task>>();
  conn->GetTask("t1", Context(), Capture(r));
  ASSERT_TRUE(scheduler_.NextDelay().has_value());
  EXPECT_GE(*scheduler_.NextDelay(), absl::Seconds(7));
  scheduler_.AdvanceBy(absl::Seconds(7) - absl::Milliseconds(1));
  EXPECT_EQ(r->calls, 0);
  scheduler_.AdvanceBy(absl::Milliseconds(1));
  ASSERT_EQ(r->calls, 1);
  EXPECT_TRUE(r->value->ok()) << r->value->status();
}

TEST_F(TriverseConnectionTest, DeadlineStopsRetries) {
  auto conn = Make();
  ExpectGetTask({RateLimited(absl::Seconds(5))});
  auto r = std::make_shared<Result<v1::Task>>();
  conn->GetTask("t1", Context(absl::Seconds(2)), Capture(r));
  ASSERT_EQ(r->calls, 1);
  EXPECT_EQ(r->value->status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(r->value->status().message(),
              HasSubstr("gave up after 1 attempt: the deadline"));
  // The details (RetryInfo) are kept.
  EXPECT_EQ(errors::Details(r->value->status()).size(),
            errors::Details(RateLimited(absl::Seconds(5))).size());
  EXPECT_EQ(scheduler_.pending(), 0u);
}

TEST_F(TriverseConnectionTest, NoTimeLeftIsDeadlineExceeded) {
  auto conn = Make();
  EXPECT_CALL(*stub_, GetTask).Times(0);
  auto r = std::make_shared<Result<v1::Task>>();
  conn->GetTask("t1", Context(absl::Milliseconds(50)), Capture(r));
  ASSERT_EQ(r->calls, 1);
  EXPECT_EQ(r->value->status().code(), absl::StatusCode::kDeadlineExceeded);
}

TEST_F(TriverseConnectionTest, AttemptDeadlineExceededIsRetriedWithRoom) {
  TriverseConnectionOptions o;
  o.max_attempt_timeout = absl::Seconds(1);
  auto conn = Make(std::move(o));
  ExpectGetTask(
      {absl::DeadlineExceededError("attempt timed out"), MakeTask("t1")});
  auto r = std::make_shared<Result<v1::Task>>();
  conn->GetTask("t1", Context(absl::Seconds(10)), Capture(r));
  ASSERT_TRUE(scheduler_.RunNext());
  ASSERT_EQ(r->calls, 1);
  EXPECT_TRUE(r->value->ok()) << r->value->status();
}

TEST_F(TriverseConnectionTest, BudgetExhaustedStopsRetries) {
  TriverseConnectionOptions o;
  o.max_attempts = 100;
  auto conn = Make(std::move(o));
  // 10 tokens: failures 1-4 leave 9..6 (> 5, retry); the 5th leaves 5.
  ExpectGetTask(std::vector<absl::StatusOr<v1::Task>>(5, Transient()));
  auto r = std::make_shared<Result<v1::Task>>();
  conn->GetTask("t1", Context(absl::Hours(1)), Capture(r));
  while (scheduler_.RunNext()) {
  }
  ASSERT_EQ(r->calls, 1);
  EXPECT_EQ(r->value->status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(r->value->status().message(),
              HasSubstr("after 5 attempts: retry budget exhausted"));
  EXPECT_DOUBLE_EQ(conn->RetryTokens(), 5.0);
  ::testing::Mock::VerifyAndClearExpectations(stub_.get());

  // The next call gets one attempt only; its success gives back 0.1.
  ExpectGetTask({Transient()});
  auto r2 = std::make_shared<Result<v1::Task>>();
  conn->GetTask("t1", Context(), Capture(r2));
  ASSERT_EQ(r2->calls, 1);
  EXPECT_THAT(r2->value->status().message(), HasSubstr("budget"));
  ::testing::Mock::VerifyAndClearExpectations(stub_.get());
  ExpectGetTask({MakeTask("t1")});
  auto r3 = std::make_shared<Result<v1::Task>>();
  conn->GetTask("t1", Context(), Capture(r3));
  EXPECT_NEAR(conn->RetryTokens(), 4.1, 1e-9);
}

TEST_F(TriverseConnectionTest, CreateTaskReusesGeneratedOrderIdOnRetry) {
  auto conn = Make();
  std::vector<std::string> ids;
  int n = 0;
  EXPECT_CALL(*stub_, CreateTask(_, _, _, _))
      .Times(3)
      .WillRepeatedly([&](const v1::CreateTaskRequest&,
                          absl::string_view order_id, CallOptions, auto cb) {
        ids.emplace_back(order_id);
        if (++n < 3) {
          cb(Transient());
        } else {
          v1::TaskCreation c;
          c.set_task_uuid("t1");
          c.set_client_order_id(std::string(order_id));
          cb(std::move(c));
        }
        return uint64_t{1};
      });
  v1::CreateTaskRequest req;
  req.mutable_text_to_model()->set_prompt("a chair");
  auto r = std::make_shared<Result<v1::TaskCreation>>();
  conn->CreateTask(req, Context(), Capture(r));
  while (scheduler_.RunNext()) {
  }
  ASSERT_EQ(r->calls, 1);
  ASSERT_TRUE(r->value->ok()) << r->value->status();
  ASSERT_EQ(ids.size(), 3u);
  EXPECT_THAT(ids[0], MatchesRegex("gw-[0-9a-f]{32}"));
  EXPECT_EQ(ids[1], ids[0]);
  EXPECT_EQ(ids[2], ids[0]);
  EXPECT_EQ((*r->value)->client_order_id(), ids[0]);
  EXPECT_TRUE(IsValidClientOrderId(ids[0]));
}

TEST_F(TriverseConnectionTest, CreateTaskGeneratesDistinctOrderIds) {
  auto conn = Make();
  std::vector<std::string> ids;
  EXPECT_CALL(*stub_, CreateTask(_, _, _, _))
      .Times(2)
      .WillRepeatedly([&](const v1::CreateTaskRequest&,
                          absl::string_view order_id, CallOptions, auto cb) {
        ids.emplace_back(order_id);
        cb(v1::TaskCreation());
        return uint64_t{1};
      });
  for (int i = 0; i < 2; ++i) {
    auto r = std::make_shared<Result<v1::TaskCreation>>();
    conn->CreateTask(v1::CreateTaskRequest(), Context(), Capture(r));
    ASSERT_EQ(r->calls, 1);
    EXPECT_EQ((*r->value)->client_order_id(), ids.back());
  }
  EXPECT_NE(ids[0], ids[1]);
}

TEST_F(TriverseConnectionTest, CreateTaskUsesCallerOrderId) {
  auto conn = Make();
  EXPECT_CALL(*stub_, CreateTask(_, absl::string_view("my_order-1"), _, _))
      .WillOnce([](const v1::CreateTaskRequest&, absl::string_view, CallOptions,
                   auto cb) {
        cb(v1::TaskCreation());
        return uint64_t{1};
      });
  v1::CreateTaskRequest req;
  req.set_client_order_id("my_order-1");
  auto r = std::make_shared<Result<v1::TaskCreation>>();
  conn->CreateTask(req, Context(), Capture(r));
  ASSERT_EQ(r->calls, 1);
  ASSERT_TRUE(r->value->ok());
  EXPECT_EQ((*r->value)->client_order_id(), "my_order-1");
}

TEST_F(TriverseConnectionTest, CreateTaskRejectsInvalidOrderId) {
  auto conn = Make();
  EXPECT_CALL(*stub_, CreateTask).Times(0);
  for (const std::string& bad : {std::string("has space"), std::string(65, 'a'),
                                 std::string("semi;colon")}) {
    v1::CreateTaskRequest req;
    req.set_client_order_id(bad);
    auto r = std::make_shared<Result<v1::TaskCreation>>();
    conn->CreateTask(req, Context(), Capture(r));
    ASSERT_EQ(r->calls, 1);
    EXPECT_EQ(r->value->status().code(), absl::StatusCode::kInvalidArgument);
  }
}

TEST_F(TriverseConnectionTest, ReadAfterWriteSendsHeaderAndRetriesNotFound) {
  auto conn = Make();
  EXPECT_CALL(*stub_, CreateTask)
      .WillOnce([](const v1::CreateTaskRequest&, absl::string_view, CallOptions,
                   auto cb) {
        v1::TaskCreation c;
        c.set_task_uuid("t1");
        c.set_read_after_write_header("X-Read-After-Write");
        c.set_read_after_write_deadline_seconds(5);
        cb(std::move(c));
        return uint64_t{1};
      });
  auto created = std::make_shared<Result<v1::TaskCreation>>();
  conn->CreateTask(v1::CreateTaskRequest(), Context(), Capture(created));
  ASSERT_TRUE(created->value->ok());

  ExpectGetTask({absl::NotFoundError("not yet"), absl::NotFoundError("not yet"),
                 MakeTask("t1")});
  auto r = std::make_shared<Result<v1::Task>>();
  conn->GetTask("t1", Context(), Capture(r));
  EXPECT_EQ(r->calls, 0);
  EXPECT_EQ(scheduler_.NextDelay(), absl::Milliseconds(200));
  while (scheduler_.RunNext()) {
  }
  ASSERT_EQ(r->calls, 1);
  ASSERT_TRUE(r->value->ok()) << r->value->status();
  EXPECT_THAT(headers_, ::testing::Each(std::string("X-Read-After-Write")));
  // NOT_FOUND retries are not failures of the upstream.
  EXPECT_DOUBLE_EQ(conn->RetryTokens(), 10.0);
  ::testing::Mock::VerifyAndClearExpectations(stub_.get());

  // After the window: no header and NOT_FOUND is final.
  headers_.clear();
  scheduler_.AdvanceBy(absl::Seconds(5));
  ExpectGetTask({absl::NotFoundError("gone")});
  auto r2 = std::make_shared<Result<v1::Task>>();
  conn->GetTask("t1", Context(), Capture(r2));
  ASSERT_EQ(r2->calls, 1);
  EXPECT_EQ(r2->value->status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(headers_, std::vector<std::string>{""});
}

TEST_F(TriverseConnectionTest, ReadAfterWriteNotFoundStopsAtWindowEnd) {
  auto conn = Make();
  EXPECT_CALL(*stub_, CreateTask)
      .WillOnce([](const v1::CreateTaskRequest&, absl::string_view, CallOptions,
                   auto cb) {
        v1::TaskCreation c;
        c.set_task_uuid("t1");
        c.set_read_after_write_header("X-Raw");
        c.set_read_after_write_deadline_seconds(1);
        cb(std::move(c));
        return uint64_t{1};
      });
  auto created = std::make_shared<Result<v1::TaskCreation>>();
  conn->CreateTask(v1::CreateTaskRequest(), Context(), Capture(created));
  EXPECT_CALL(*stub_, GetTask(_, absl::string_view("X-Raw"), _, _))
      .WillRepeatedly(
          [](absl::string_view, absl::string_view, CallOptions, auto cb) {
            cb(absl::NotFoundError("never"));
            return uint64_t{1};
          });
  auto r = std::make_shared<Result<v1::Task>>();
  conn->GetTask("t1", Context(), Capture(r));
  while (scheduler_.RunNext()) {
  }
  ASSERT_EQ(r->calls, 1);
  EXPECT_EQ(r->value->status().code(), absl::StatusCode::kNotFound);
  EXPECT_LE(scheduler_.Now(),
            absl::FromUnixSeconds(1700000000) + absl::Seconds(1));
}

TEST_F(TriverseConnectionTest, CancelDuringBackoff) {
  auto conn = Make();
  ExpectGetTask({Transient()});
  auto r = std::make_shared<Result<v1::Task>>();
  const uint64_t id = conn->GetTask("t1", Context(), Capture(r));
  ASSERT_EQ(scheduler_.pending(), 1u);
  conn->Cancel(id);
  ASSERT_EQ(r->calls, 1);
  EXPECT_EQ(r->value->status().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(scheduler_.pending(), 0u);
  conn->Cancel(id);  // completed: ignored
  scheduler_.AdvanceBy(absl::Seconds(10));
  EXPECT_EQ(r->calls, 1);
}

TEST_F(TriverseConnectionTest, CancelDuringAttempt) {
  auto conn = Make();
  ProviderStub::Callback<v1::Task> pending;
  EXPECT_CALL(*stub_, GetTask)
      .WillOnce(
          [&](absl::string_view, absl::string_view, CallOptions, auto cb) {
            pending = std::move(cb);
            return uint64_t{42};
          });
  EXPECT_CALL(*stub_, Cancel(42)).WillOnce([&](uint64_t) {
    auto cb = std::move(pending);
    cb(absl::CancelledError("stub cancelled"));
  });
  auto r = std::make_shared<Result<v1::Task>>();
  const uint64_t id = conn->GetTask("t1", Context(), Capture(r));
  EXPECT_EQ(r->calls, 0);
  conn->Cancel(id);
  ASSERT_EQ(r->calls, 1);
  EXPECT_EQ(r->value->status().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(scheduler_.pending(), 0u);
}

TEST_F(TriverseConnectionTest, OtherMethodsRetryTransients) {
  auto conn = Make();
  EXPECT_CALL(*stub_, GetBalance)
      .WillOnce([](CallOptions, auto cb) {
        cb(Transient());
        return uint64_t{1};
      })
      .WillOnce([](CallOptions, auto cb) {
        v1::Balance b;
        b.set_balance(5);
        cb(b);
        return uint64_t{2};
      });
  EXPECT_CALL(*stub_, GetUser).WillOnce([](CallOptions, auto cb) {
    cb(v1::User());
    return uint64_t{3};
  });
  EXPECT_CALL(*stub_, QuotePrice).WillOnce([](auto&&, CallOptions, auto cb) {
    cb(v1::PriceQuote());
    return uint64_t{4};
  });
  EXPECT_CALL(*stub_, GetDownloadUrl)
      .WillOnce([](absl::string_view, CallOptions, auto cb) {
        cb(v1::DownloadUrl());
        return uint64_t{5};
      });
  EXPECT_CALL(*stub_, ListOwnModels(2, 10, _, _))
      .WillOnce([](int64_t, int64_t, CallOptions, auto cb) {
        cb(translate::OwnModelsPage());
        return uint64_t{6};
      });
  auto b = std::make_shared<Result<v1::Balance>>();
  conn->GetBalance(Context(), Capture(b));
  scheduler_.RunNext();
  ASSERT_EQ(b->calls, 1);
  EXPECT_EQ((*b->value)->balance(), 5);
  auto u = std::make_shared<Result<v1::User>>();
  conn->GetUser(Context(), Capture(u));
  auto q = std::make_shared<Result<v1::PriceQuote>>();
  conn->QuotePrice(v1::QuotePriceRequest(), Context(), Capture(q));
  auto d = std::make_shared<Result<v1::DownloadUrl>>();
  conn->GetDownloadUrl("t1", Context(), Capture(d));
  auto m = std::make_shared<Result<translate::OwnModelsPage>>();
  conn->ListOwnModels(2, 10, Context(), Capture(m));
  EXPECT_TRUE(u->value->ok() && q->value->ok() && d->value->ok() &&
              m->value->ok());
}

// DownloadRecord is what a DownloadAsset call delivered to its sink and
// `done` (single-threaded here: the mock runs everything inline).
struct DownloadRecord {
  std::vector<v1::AssetMetadata> metadata;
  std::string body;
  int chunks_before_metadata = 0;
  int done_calls = 0;
  absl::Status status = absl::UnknownError("no callback");
};

DownloadSink SinkInto(std::shared_ptr<DownloadRecord> d) {
  DownloadSink sink;
  sink.on_metadata = [d](v1::AssetMetadata m) {
    d->metadata.push_back(std::move(m));
  };
  sink.on_chunk = [d](absl::string_view chunk) {
    if (d->metadata.empty()) ++d->chunks_before_metadata;
    d->body.append(chunk.data(), chunk.size());
    return true;
  };
  return sink;
}

absl::AnyInvocable<void(absl::Status)> DoneInto(
    std::shared_ptr<DownloadRecord> d) {
  return [d](absl::Status s) {
    ++d->done_calls;
    d->status = std::move(s);
  };
}

v1::AssetMetadata Metadata(const std::string& name, int64_t size) {
  v1::AssetMetadata m;
  m.set_file_name(name);
  m.set_content_type("application/octet-stream");
  m.set_size_bytes(size);
  return m;
}

// Streams "abcd" in two chunks and succeeds, like the stub on a 200.
uint64_t StreamAbcd(absl::string_view, CallOptions, DownloadSink sink,
                    absl::AnyInvocable<void(absl::Status)> done) {
  sink.on_metadata(Metadata("m.glb", 4));
  EXPECT_TRUE(sink.on_chunk("ab"));
  EXPECT_TRUE(sink.on_chunk("cd"));
  done(absl::OkStatus());
  return 5;
}

TEST_F(TriverseConnectionTest, DownloadAssetSuccess) {
  auto conn = Make();
  EXPECT_CALL(*stub_, DownloadAsset(absl::string_view("t1"), _, _, _))
      .WillOnce(StreamAbcd);
  auto d = std::make_shared<DownloadRecord>();
  EXPECT_NE(conn->DownloadAsset("t1", Context(), SinkInto(d), DoneInto(d)), 0u);
  EXPECT_EQ(d->done_calls, 1);
  EXPECT_TRUE(d->status.ok()) << d->status;
  ASSERT_EQ(d->metadata.size(), 1u);
  EXPECT_EQ(d->metadata[0].file_name(), "m.glb");
  EXPECT_EQ(d->body, "abcd");
  EXPECT_EQ(scheduler_.pending(), 0u);
  EXPECT_DOUBLE_EQ(conn->RetryTokens(), 10.0);
}

TEST_F(TriverseConnectionTest, DownloadAssetRetriedBeforeMetadata) {
  auto conn = Make();
  EXPECT_CALL(*stub_, DownloadAsset)
      .WillOnce([](absl::string_view, CallOptions, DownloadSink,
                   absl::AnyInvocable<void(absl::Status)> done) {
        done(Transient());
        return uint64_t{1};
      })
      .WillOnce([](absl::string_view, CallOptions, DownloadSink,
                   absl::AnyInvocable<void(absl::Status)> done) {
        done(RateLimited(absl::Seconds(3)));
        return uint64_t{2};
      })
      .WillOnce(StreamAbcd);
  auto d = std::make_shared<DownloadRecord>();
  conn->DownloadAsset("t1", Context(), SinkInto(d), DoneInto(d));
  EXPECT_EQ(d->done_calls, 0);
  EXPECT_EQ(scheduler_.NextDelay(), absl::Milliseconds(100));
  ASSERT_TRUE(scheduler_.RunNext());
  // The rate limit's Retry-After is longer than the backoff.
  EXPECT_EQ(scheduler_.NextDelay(), absl::Seconds(3));
  ASSERT_TRUE(scheduler_.RunNext());
  EXPECT_EQ(d->done_calls, 1);
  EXPECT_TRUE(d->status.ok()) << d->status;
  EXPECT_EQ(d->metadata.size(), 1u);
  EXPECT_EQ(d->body, "abcd");
  EXPECT_EQ(d->chunks_before_metadata, 0);
}

TEST_F(TriverseConnectionTest, DownloadAssetNotRetriedAfterMetadata) {
  auto conn = Make();
  EXPECT_CALL(*stub_, DownloadAsset)
      .WillOnce([](absl::string_view, CallOptions, DownloadSink sink,
                   absl::AnyInvocable<void(absl::Status)> done) {
        sink.on_metadata(Metadata("m.glb", 10));
        EXPECT_TRUE(sink.on_chunk("abc"));
        done(absl::UnavailableError("connection broke mid-body"));
        return uint64_t{1};
      });
  auto d = std::make_shared<DownloadRecord>();
  conn->DownloadAsset("t1", Context(), SinkInto(d), DoneInto(d));
  EXPECT_EQ(d->done_calls, 1);
  // The error as it is: the caller has part of the body.
  EXPECT_EQ(d->status, absl::UnavailableError("connection broke mid-body"));
  EXPECT_EQ(d->metadata.size(), 1u);
  EXPECT_EQ(d->body, "abc");
  EXPECT_EQ(scheduler_.pending(), 0u);
}

TEST_F(TriverseConnectionTest, DownloadAssetPermanentErrorNotRetried) {
  auto conn = Make();
  EXPECT_CALL(*stub_, DownloadAsset)
      .WillOnce([](absl::string_view, CallOptions, DownloadSink,
                   absl::AnyInvocable<void(absl::Status)> done) {
        done(absl::FailedPreconditionError("not ready"));
        return uint64_t{1};
      });
  auto d = std::make_shared<DownloadRecord>();
  conn->DownloadAsset("t1", Context(), SinkInto(d), DoneInto(d));
  EXPECT_EQ(d->done_calls, 1);
  EXPECT_EQ(d->status, absl::FailedPreconditionError("not ready"));
  EXPECT_EQ(scheduler_.pending(), 0u);
}

TEST_F(TriverseConnectionTest, DownloadAssetTooManyTransients) {
  auto conn = Make();
  EXPECT_CALL(*stub_, DownloadAsset)
      .Times(4)
      .WillRepeatedly([](absl::string_view, CallOptions, DownloadSink,
                         absl::AnyInvocable<void(absl::Status)> done) {
        done(Transient());
        return uint64_t{1};
      });
  auto d = std::make_shared<DownloadRecord>();
  conn->DownloadAsset("t1", Context(), SinkInto(d), DoneInto(d));
  while (scheduler_.RunNext()) {
  }
  EXPECT_EQ(d->done_calls, 1);
  EXPECT_EQ(d->status.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(d->status.message(), HasSubstr("gave up after 4 attempts"));
  EXPECT_TRUE(d->metadata.empty());
}

// Transfers may outlast the 30 s cap of the other calls, within the
// caller's deadline.
TEST_F(TriverseConnectionTest, TransferAttemptsGetALongerCap) {
  auto conn = Make();
  std::vector<absl::Duration> timeouts;
  EXPECT_CALL(*stub_, DownloadAsset)
      .WillOnce([&](absl::string_view, CallOptions o, DownloadSink,
                    absl::AnyInvocable<void(absl::Status)> done) {
        timeouts.push_back(o.timeout);
        done(absl::OkStatus());
        return uint64_t{1};
      })
      .WillOnce([&](absl::string_view, CallOptions o, DownloadSink,
                    absl::AnyInvocable<void(absl::Status)> done) {
        timeouts.push_back(o.timeout);
        done(absl::OkStatus());
        return uint64_t{2};
      });
  EXPECT_CALL(*stub_, UploadFile)
      .WillOnce([&](UploadSpec, CallOptions o, auto cb) {
        timeouts.push_back(o.timeout);
        cb(std::string("k"));
        return uint64_t{3};
      });
  CallContext forever = Context();
  forever.deadline = absl::InfiniteFuture();
  auto d = std::make_shared<DownloadRecord>();
  conn->DownloadAsset("t1", forever, SinkInto(d), DoneInto(d));
  auto u = std::make_shared<Result<std::string>>();
  conn->UploadFile(UploadSpec(), forever, Capture(u));
  conn->DownloadAsset("t1", Context(absl::Seconds(5)), SinkInto(d),
                      DoneInto(d));
  EXPECT_EQ(timeouts, (std::vector<absl::Duration>{
                          absl::Minutes(10), absl::Minutes(10),
                          absl::Seconds(5) - absl::Milliseconds(50)}));
}

TEST_F(TriverseConnectionTest, CancelDuringDownload) {
  auto conn = Make();
  absl::AnyInvocable<void(absl::Status)> pending;
  DownloadSink attempt_sink;
  EXPECT_CALL(*stub_, DownloadAsset)
      .WillOnce([&](absl::string_view, CallOptions, DownloadSink sink,
                    absl::AnyInvocable<void(absl::Status)> done) {
        sink.on_metadata(Metadata("m.glb", 100));
        EXPECT_TRUE(sink.on_chunk("first"));
        attempt_sink = std::move(sink);
        pending = std::move(done);
        return uint64_t{42};
      });
  EXPECT_CALL(*stub_, Cancel(42)).WillOnce([&](uint64_t) {
    auto done = std::move(pending);
    done(absl::CancelledError("stub cancelled"));
  });
  auto d = std::make_shared<DownloadRecord>();
  const uint64_t id =
      conn->DownloadAsset("t1", Context(), SinkInto(d), DoneInto(d));
  EXPECT_EQ(d->done_calls, 0);
  conn->Cancel(id);
  EXPECT_EQ(d->done_calls, 1);
  EXPECT_EQ(d->status.code(), absl::StatusCode::kCancelled);
  // A chunk the transport still hands over stops there.
  EXPECT_FALSE(attempt_sink.on_chunk("late"));
  EXPECT_EQ(d->body, "first");
  conn->Cancel(id);  // completed: ignored
  EXPECT_EQ(d->done_calls, 1);
  EXPECT_EQ(scheduler_.pending(), 0u);
}

TEST_F(TriverseConnectionTest, CancelDownloadDuringBackoff) {
  auto conn = Make();
  EXPECT_CALL(*stub_, DownloadAsset)
      .WillOnce([](absl::string_view, CallOptions, DownloadSink,
                   absl::AnyInvocable<void(absl::Status)> done) {
        done(Transient());
        return uint64_t{1};
      });
  auto d = std::make_shared<DownloadRecord>();
  const uint64_t id =
      conn->DownloadAsset("t1", Context(), SinkInto(d), DoneInto(d));
  ASSERT_EQ(scheduler_.pending(), 1u);
  conn->Cancel(id);
  EXPECT_EQ(d->done_calls, 1);
  EXPECT_EQ(d->status.code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(scheduler_.pending(), 0u);
}

UploadSpec Png() {
  UploadSpec spec;
  spec.kind = v1::FILE_KIND_IMAGE;
  spec.file_name = "a.png";
  spec.content_type = "image/png";
  spec.bytes = std::string("\x89PNG\r\n\x1a\n-bytes", 14);
  return spec;
}

TEST_F(TriverseConnectionTest, UploadFileRateLimitedIsRetriedAfterRetryInfo) {
  auto conn = Make();
  std::vector<std::string> sent;
  int n = 0;
  EXPECT_CALL(*stub_, UploadFile)
      .Times(2)
      .WillRepeatedly([&](UploadSpec spec, CallOptions, auto cb) {
        sent.push_back(spec.bytes);
        if (n++ == 0) {
          cb(RateLimited(absl::Seconds(7)));
        } else {
          cb(std::string("tasks/uid_1/20260101/x.png"));
        }
        return uint64_t{1};
      });
  auto r = std::make_shared<Result<std::string>>();
  EXPECT_NE(conn->UploadFile(Png(), Context(), Capture(r)), 0u);
  EXPECT_EQ(r->calls, 0);
  // Not before the upstream's Retry-After.
  EXPECT_EQ(scheduler_.NextDelay(), absl::Seconds(7));
  scheduler_.AdvanceBy(absl::Seconds(7) - absl::Milliseconds(1));
  EXPECT_EQ(r->calls, 0);
  EXPECT_EQ(sent.size(), 1u);
  scheduler_.AdvanceBy(absl::Milliseconds(1));
  ASSERT_EQ(r->calls, 1);
  ASSERT_TRUE(r->value->ok()) << r->value->status();
  EXPECT_EQ(**r->value, "tasks/uid_1/20260101/x.png");
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[0], Png().bytes);
  EXPECT_EQ(sent[1], Png().bytes);
}

TEST_F(TriverseConnectionTest, UploadFileRateLimitedStopsAtTheDeadline) {
  auto conn = Make();
  EXPECT_CALL(*stub_, UploadFile)
      .WillOnce([](UploadSpec, CallOptions, auto cb) {
        cb(RateLimited(absl::Seconds(5)));
        return uint64_t{1};
      });
  auto r = std::make_shared<Result<std::string>>();
  conn->UploadFile(Png(), Context(absl::Seconds(2)), Capture(r));
  ASSERT_EQ(r->calls, 1);
  EXPECT_EQ(r->value->status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(r->value->status().message(), HasSubstr("the deadline"));
  EXPECT_EQ(scheduler_.pending(), 0u);
}

// Anything but a rate limit may have stored the file: returned as it is.
TEST_F(TriverseConnectionTest, UploadFileOtherErrorsAreNotRetried) {
  for (const absl::Status& s :
       {Transient(), absl::DeadlineExceededError("attempt timed out"),
        absl::ResourceExhaustedError("no RetryInfo"),
        absl::InvalidArgumentError("bad type"), absl::InternalError("x")}) {
    SCOPED_TRACE(s.ToString());
    auto conn = Make();
    EXPECT_CALL(*stub_, UploadFile)
        .WillOnce([s](UploadSpec, CallOptions, auto cb) {
          cb(s);
          return uint64_t{1};
        });
    auto r = std::make_shared<Result<std::string>>();
    conn->UploadFile(Png(), Context(), Capture(r));
    ASSERT_EQ(r->calls, 1);
    EXPECT_EQ(r->value->status(), s);
    EXPECT_EQ(scheduler_.pending(), 0u);
    EXPECT_DOUBLE_EQ(conn->RetryTokens(), 10.0);
    ::testing::Mock::VerifyAndClearExpectations(stub_.get());
  }
}

TEST_F(TriverseConnectionTest, CancelDuringUpload) {
  auto conn = Make();
  ProviderStub::Callback<std::string> pending;
  EXPECT_CALL(*stub_, UploadFile)
      .WillOnce([&](UploadSpec, CallOptions, auto cb) {
        pending = std::move(cb);
        return uint64_t{43};
      });
  EXPECT_CALL(*stub_, Cancel(43)).WillOnce([&](uint64_t) {
    auto cb = std::move(pending);
    cb(absl::CancelledError("stub cancelled"));
  });
  auto r = std::make_shared<Result<std::string>>();
  const uint64_t id = conn->UploadFile(Png(), Context(), Capture(r));
  EXPECT_EQ(r->calls, 0);
  conn->Cancel(id);
  ASSERT_EQ(r->calls, 1);
  EXPECT_EQ(r->value->status().code(), absl::StatusCode::kCancelled);
}

// Real threads: a ThreadScheduler for backoff, another one standing in for
// the transport thread, calls cancelled while in flight or in backoff from
// the test thread. Every callback runs exactly once (run under ASan too).
TEST(TriverseConnectionThreadsTest, ConcurrentCallsAndCancelsCompleteOnce) {
  constexpr int kCalls = 200;
  absl::Mutex mu;
  std::vector<int> calls(kCalls, 0);
  int completed = 0;
  {
    ThreadScheduler transport;
    ThreadScheduler scheduler;
    auto stub = std::make_shared<MockProviderStub>();
    std::atomic<int> n{0};
    EXPECT_CALL(*stub, GetTask)
        .WillRepeatedly([&](absl::string_view, absl::string_view, CallOptions,
                            auto cb) {
          const int k = n++;
          auto shared =
              std::make_shared<ProviderStub::Callback<v1::Task>>(std::move(cb));
          transport.RunAfter(absl::Microseconds(50 * (k % 4)), [shared, k] {
            (*shared)(k % 3 == 2 ? absl::StatusOr<v1::Task>(MakeTask("t"))
                                 : absl::StatusOr<v1::Task>(Transient()));
          });
          return static_cast<uint64_t>(k + 1);
        });
    // The transport completes cancelled attempts with their own result.
    EXPECT_CALL(*stub, Cancel).WillRepeatedly(Return());
    TriverseConnectionOptions o;
    o.initial_backoff = absl::Microseconds(100);
    o.max_tokens = 1e9;
    auto conn = MakeTriverseConnection(stub, &scheduler, std::move(o));
    for (int i = 0; i < kCalls; ++i) {
      CallContext c;
      c.api_key = "key";
      c.deadline = absl::Now() + absl::Minutes(5);
      const uint64_t id =
          conn->GetTask("t", c, [&, i](absl::StatusOr<v1::Task>) {
            absl::MutexLock lock(&mu);
            ++calls[i];
            ++completed;
          });
      if (i % 2 == 0) conn->Cancel(id);
    }
    absl::MutexLock lock(&mu);
    auto all = [&]() { return completed >= kCalls; };
    bool (*fn)(decltype(all)*) = [](decltype(all)* f) { return (*f)(); };
    ASSERT_TRUE(mu.AwaitWithTimeout(absl::Condition(fn, &all), kWait));
  }
  // The schedulers are joined: no callback can still be running.
  absl::MutexLock lock(&mu);
  EXPECT_THAT(calls, ::testing::Each(1));
}

TEST(ThreadSchedulerTest, RunsInDueOrderAndCancels) {
  ThreadScheduler scheduler;
  absl::Mutex mu;
  std::vector<int> order;
  absl::Notification done;
  // Far enough in the future that it cannot run before Cancel(), however
  // slow the machine.
  const auto cancelled = scheduler.RunAfter(absl::Hours(1), [&] {
    absl::MutexLock lock(&mu);
    order.push_back(99);
  });
  EXPECT_TRUE(scheduler.Cancel(cancelled));
  EXPECT_FALSE(scheduler.Cancel(cancelled));
  // Due a second after the next one is added: the order holds unless
  // adding it takes longer than that.
  scheduler.RunAfter(absl::Seconds(1), [&] {
    absl::MutexLock lock(&mu);
    order.push_back(2);
    done.Notify();
  });
  scheduler.RunAfter(absl::ZeroDuration(), [&] {
    absl::MutexLock lock(&mu);
    order.push_back(1);
  });
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(kWait));
  absl::MutexLock lock(&mu);
  EXPECT_EQ(order, (std::vector<int>{1, 2}));
}

TEST(FakeSchedulerTest, AdvanceByRunsDueCallbacksInOrder) {
  FakeScheduler s;
  std::vector<int> order;
  s.RunAfter(absl::Seconds(2), [&] { order.push_back(2); });
  s.RunAfter(absl::Seconds(1), [&] {
    order.push_back(1);
    s.RunAfter(absl::Milliseconds(500), [&] { order.push_back(15); });
  });
  s.RunAfter(absl::Seconds(3), [&] { order.push_back(3); });
  const absl::Time start = s.Now();
  s.AdvanceBy(absl::Seconds(2));
  EXPECT_EQ(order, (std::vector<int>{1, 15, 2}));
  EXPECT_EQ(s.Now(), start + absl::Seconds(2));
  EXPECT_EQ(s.pending(), 1u);
}

// ------------------------------------------------ providers' own policies

v1::Task TaskIn(const std::string& uuid, v1::TaskStatus status) {
  v1::Task t = MakeTask(uuid);
  t.set_status(status);
  if (status == v1::TASK_STATUS_UNSPECIFIED) {
    t.mutable_error()->set_code(1000);
    t.mutable_error()->set_message("status unknown upstream (\"unknown\")");
  }
  return t;
}

TEST_F(TriverseConnectionTest, UnknownStatusIsReadAgainUntilDetermined) {
  auto conn = Make();
  ExpectGetTask({TaskIn("t1", v1::TASK_STATUS_UNSPECIFIED),
                 TaskIn("t1", v1::TASK_STATUS_UNSPECIFIED),
                 TaskIn("t1", v1::TASK_STATUS_SUCCESS)});
  auto r = std::make_shared<Result<v1::Task>>();
  conn->GetTask("t1", Context(), Capture(r));
  EXPECT_EQ(r->calls, 0);
  EXPECT_EQ(scheduler_.NextDelay(), absl::Seconds(2));
  ASSERT_TRUE(scheduler_.RunNext());
  ASSERT_TRUE(scheduler_.RunNext());
  ASSERT_EQ(r->calls, 1);
  ASSERT_TRUE(r->value->ok()) << r->value->status();
  EXPECT_EQ((*r->value)->status(), v1::TASK_STATUS_SUCCESS);
  // Neither the attempts nor the budget paid for the re-reads.
  EXPECT_DOUBLE_EQ(conn->RetryTokens(), 10);
}

TEST_F(TriverseConnectionTest, UnknownStatusBecomesFailedAfterTheGrace) {
  TriverseConnectionOptions o;
  o.unknown_status_grace = absl::Seconds(5);
  o.unknown_status_poll = absl::Seconds(2);
  auto conn = Make(std::move(o));
  // Read at 0, 2, 4 and 5 s (the last wait is cut to the grace's end).
  ExpectGetTask(std::vector<absl::StatusOr<v1::Task>>(
      4, TaskIn("t1", v1::TASK_STATUS_UNSPECIFIED)));
  auto r = std::make_shared<Result<v1::Task>>();
  conn->GetTask("t1", Context(), Capture(r));
  while (r->calls == 0 && scheduler_.RunNext()) {
  }
  ASSERT_EQ(r->calls, 1);
  ASSERT_TRUE(r->value->ok()) << r->value->status();
  EXPECT_EQ((*r->value)->status(), v1::TASK_STATUS_FAILED);
  EXPECT_EQ((*r->value)->error().code(), 1000);
  EXPECT_THAT((*r->value)->error().message(),
              HasSubstr("status unknown upstream"));
  EXPECT_THAT((*r->value)->error().message(), HasSubstr("still so after 5s"));
}

TEST_F(TriverseConnectionTest, UnknownStatusPastTheDeadlineIsUnavailable) {
  auto conn = Make();
  ExpectGetTask({TaskIn("t1", v1::TASK_STATUS_UNSPECIFIED),
                 TaskIn("t1", v1::TASK_STATUS_UNSPECIFIED)});
  auto r = std::make_shared<Result<v1::Task>>();
  conn->GetTask("t1", Context(absl::Seconds(1)), Capture(r));
  ASSERT_EQ(r->calls, 1);
  EXPECT_EQ(r->value->status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(r->value->status().message(), HasSubstr("unknown"));
  bool retry_info = false;
  for (const auto& any : errors::Details(r->value->status())) {
    retry_info |= any.type_url() == "type.googleapis.com/google.rpc.RetryInfo";
  }
  EXPECT_TRUE(retry_info);
  // The next call continues the same grace period: at 20 s the task is
  // reported FAILED, however many calls it took.
  scheduler_.AdvanceBy(absl::Seconds(20));
  auto r2 = std::make_shared<Result<v1::Task>>();
  conn->GetTask("t1", Context(absl::Seconds(1)), Capture(r2));
  ASSERT_EQ(r2->calls, 1);
  ASSERT_TRUE(r2->value->ok()) << r2->value->status();
  EXPECT_EQ((*r2->value)->status(), v1::TASK_STATUS_FAILED);
}

class NonIdempotentProviderTest : public TriverseConnectionTest {
 protected:
  NonIdempotentProviderTest() {
    stub_->caps = CapabilitiesOf(ProviderKind::kTripo);
  }

  // ExpectCreate makes the next CreateTask calls answer, inline, with
  // `results` in order.
  void ExpectCreate(std::vector<absl::StatusOr<v1::TaskCreation>> results) {
    auto queue =
        std::make_shared<std::vector<absl::StatusOr<v1::TaskCreation>>>(
            std::move(results));
    EXPECT_CALL(*stub_, CreateTask(_, _, _, _))
        .Times(static_cast<int>(queue->size()))
        .WillRepeatedly([queue](const v1::CreateTaskRequest&, absl::string_view,
                                CallOptions, auto cb) {
          auto next = queue->front();
          queue->erase(queue->begin());
          cb(std::move(next));
          return uint64_t{9};
        });
  }

  static v1::CreateTaskRequest Request(const std::string& order_id) {
    v1::CreateTaskRequest req;
    req.mutable_text_to_model()->set_prompt("a red chair");
    req.set_client_order_id(order_id);
    return req;
  }

  static v1::TaskCreation Created(const std::string& uuid) {
    v1::TaskCreation c;
    c.set_task_uuid(uuid);
    c.set_status(v1::TASK_STATUS_QUEUED);
    return c;
  }
};

TEST_F(NonIdempotentProviderTest, TransientFailureIsNotRetried) {
  auto conn = Make();
  ExpectCreate({Transient()});
  auto r = std::make_shared<Result<v1::TaskCreation>>();
  conn->CreateTask(Request("order-1"), Context(), Capture(r));
  ASSERT_EQ(r->calls, 1);
  EXPECT_EQ(r->value->status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(scheduler_.pending(), 0u);
}

TEST_F(NonIdempotentProviderTest, RateLimitIsRetried) {
  auto conn = Make();
  ExpectCreate({RateLimited(absl::Seconds(1)), Created("t1")});
  auto r = std::make_shared<Result<v1::TaskCreation>>();
  conn->CreateTask(Request("order-1"), Context(), Capture(r));
  ASSERT_TRUE(scheduler_.RunNext());
  ASSERT_EQ(r->calls, 1);
  ASSERT_TRUE(r->value->ok()) << r->value->status();
  EXPECT_EQ((*r->value)->task_uuid(), "t1");
}

TEST_F(NonIdempotentProviderTest,
       RepeatedOrderIdGetsTheSameTaskWithoutARequest) {
  auto conn = Make();
  ExpectCreate({Created("t1")});
  auto first = std::make_shared<Result<v1::TaskCreation>>();
  conn->CreateTask(Request("order-1"), Context(), Capture(first));
  ASSERT_TRUE(first->value->ok()) << first->value->status();
  auto again = std::make_shared<Result<v1::TaskCreation>>();
  conn->CreateTask(Request("order-1"), Context(), Capture(again));
  ASSERT_EQ(again->calls, 1);
  ASSERT_TRUE(again->value->ok()) << again->value->status();
  EXPECT_EQ((*again->value)->task_uuid(), "t1");
  EXPECT_EQ((*again->value)->client_order_id(), "order-1");
  // Another key's order of the same name is its own.
  ::testing::Mock::VerifyAndClearExpectations(stub_.get());
  ExpectCreate({Created("t2")});
  CallContext other = Context();
  other.api_key = "other-key";
  auto theirs = std::make_shared<Result<v1::TaskCreation>>();
  conn->CreateTask(Request("order-1"), other, Capture(theirs));
  ASSERT_TRUE(theirs->value->ok()) << theirs->value->status();
  EXPECT_EQ((*theirs->value)->task_uuid(), "t2");
}

TEST_F(NonIdempotentProviderTest, OrderInFlightIsAborted) {
  auto conn = Make();
  TriverseConnection::Callback<v1::TaskCreation> pending;
  EXPECT_CALL(*stub_, CreateTask(_, _, _, _))
      .WillOnce([&pending](const v1::CreateTaskRequest&, absl::string_view,
                           CallOptions, auto cb) {
        pending = std::move(cb);
        return uint64_t{9};
      });
  auto first = std::make_shared<Result<v1::TaskCreation>>();
  conn->CreateTask(Request("order-1"), Context(), Capture(first));
  auto second = std::make_shared<Result<v1::TaskCreation>>();
  conn->CreateTask(Request("order-1"), Context(), Capture(second));
  ASSERT_EQ(second->calls, 1);
  EXPECT_EQ(second->value->status().code(), absl::StatusCode::kAborted);
  EXPECT_THAT(second->value->status().message(), HasSubstr("in progress"));
  pending(Created("t1"));
  ASSERT_TRUE(first->value->ok());
}

TEST_F(NonIdempotentProviderTest, FailedOrderIsForgotten) {
  auto conn = Make();
  ExpectCreate({absl::InvalidArgumentError("bad prompt"), Created("t1")});
  auto first = std::make_shared<Result<v1::TaskCreation>>();
  conn->CreateTask(Request("order-1"), Context(), Capture(first));
  EXPECT_EQ(first->value->status().code(), absl::StatusCode::kInvalidArgument);
  auto again = std::make_shared<Result<v1::TaskCreation>>();
  conn->CreateTask(Request("order-1"), Context(), Capture(again));
  ASSERT_TRUE(again->value->ok()) << again->value->status();
  EXPECT_EQ((*again->value)->task_uuid(), "t1");
}

TEST_F(NonIdempotentProviderTest, RememberedOrderExpires) {
  TriverseConnectionOptions o;
  o.order_memory = absl::Hours(1);
  auto conn = Make(std::move(o));
  ExpectCreate({Created("t1"), Created("t2")});
  auto first = std::make_shared<Result<v1::TaskCreation>>();
  conn->CreateTask(Request("order-1"), Context(), Capture(first));
  scheduler_.AdvanceBy(absl::Hours(1));
  auto later = std::make_shared<Result<v1::TaskCreation>>();
  conn->CreateTask(Request("order-1"), Context(), Capture(later));
  ASSERT_TRUE(later->value->ok()) << later->value->status();
  EXPECT_EQ((*later->value)->task_uuid(), "t2");
}

// End to end: RestTriverseStub against the emulator with injected faults.
class TriverseConnectionEmulatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    emu_ = std::make_unique<testing_util::TestEmulator>();
    ASSERT_TRUE(emu_->start_status().ok()) << emu_->start_status();
    auto engine = http::CurlEngine::Create({});
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = *std::move(engine);
    RestTriverseStub::Options o;
    o.base_url = emu_->Api("");
    stub_ = std::make_shared<RestTriverseStub>(engine_.get(), std::move(o));
    conn_ = MakeTriverseConnection(stub_, &scheduler_);
  }

  void TearDown() override {
    conn_.reset();
    stub_.reset();
    engine_.reset();
  }

  CallContext Context() {
    CallContext c;
    c.api_key = testing_util::kKeyA;
    c.deadline = scheduler_.Now() + absl::Minutes(1);
    return c;
  }

  void FailFirst(const std::string& route, const std::string& faults) {
    testing_util::FailFirst(*emu_, route, faults);
  }
  void Faults(const std::string& json) { testing_util::SetFaults(*emu_, json); }
  int64_t Stat(const char* name) { return testing_util::Stat(*emu_, name); }

  // Drive runs backoff timers (fake time) until `r` completes: attempts
  // complete on the engine thread, which then adds the next timer.
  template <typename T>
  void Drive(Result<T>& r) {
    Drive(r.done);
  }
  void Drive(absl::Notification& done) {
    for (int i = 0; i < 100; ++i) {
      if (done.HasBeenNotified()) return;
      if (scheduler_.WaitForPending(absl::Milliseconds(100))) {
        scheduler_.RunNext();
      }
    }
    ASSERT_TRUE(done.WaitForNotificationWithTimeout(kWait));
  }

  // RouteRequests is the emulator's count of requests on `route`.
  int64_t RouteRequests(const char* route) {
    auto r = testing_util::HttpGet(emu_->Url("/_emulator/stats"));
    rapidjson::Document doc;
    doc.Parse(r.body.c_str());
    if (doc.HasParseError() || !doc.IsObject() ||
        !doc.HasMember("http_requests") || !doc["http_requests"].IsObject()) {
      ADD_FAILURE() << "bad stats: " << r.body;
      return -1;
    }
    const auto& routes = doc["http_requests"];
    if (!routes.HasMember(route)) return 0;
    return routes[route].GetInt64();
  }

  // SucceededTask creates a task with `request` and runs it to SUCCESS.
  std::string SucceededTask(const v1::CreateTaskRequest& request) {
    auto created = std::make_shared<Result<v1::TaskCreation>>();
    conn_->CreateTask(request, Context(), Capture(created));
    Drive(*created);
    if (!created->value.has_value() || !created->value->ok()) {
      ADD_FAILURE() << "CreateTask failed";
      return "";
    }
    emu_->AdvanceBy(absl::Seconds(12));
    return (*created->value)->task_uuid();
  }

  FakeScheduler scheduler_;
  std::unique_ptr<testing_util::TestEmulator> emu_;
  std::unique_ptr<http::CurlEngine> engine_;
  std::shared_ptr<RestTriverseStub> stub_;
  std::shared_ptr<TriverseConnection> conn_;
};

using LiveDownload = testing_util::StreamedDownload;

TEST_F(TriverseConnectionEmulatorTest, CreateTaskExactlyOnceUnderFaults) {
  FailFirst("create_task", R"({"internal_error_rate": 0.5})");
  v1::CreateTaskRequest req;
  req.mutable_text_to_model()->set_prompt("a wooden chair");
  auto created = std::make_shared<Result<v1::TaskCreation>>();
  conn_->CreateTask(req, Context(), Capture(created));
  Drive(*created);
  ASSERT_EQ(created->calls, 1);
  ASSERT_TRUE(created->value->ok()) << created->value->status();
  const v1::TaskCreation& c = **created->value;
  EXPECT_THAT(c.client_order_id(), MatchesRegex("gw-[0-9a-f]{32}"));
  EXPECT_EQ(Stat("tasks_created"), 1);
  EXPECT_GT(Stat("faults_injected"), 0);

  FailFirst("get_task", R"({"unavailable_rate": 0.5})");
  auto task = std::make_shared<Result<v1::Task>>();
  conn_->GetTask(c.task_uuid(), Context(), Capture(task));
  Drive(*task);
  ASSERT_TRUE(task->value->ok()) << task->value->status();
  EXPECT_EQ((*task->value)->task_uuid(), c.task_uuid());

  Faults(R"({"reset": true})");
  auto balance = std::make_shared<Result<v1::Balance>>();
  conn_->GetBalance(Context(), Capture(balance));
  Drive(*balance);
  ASSERT_TRUE(balance->value->ok()) << balance->value->status();
  ASSERT_TRUE(c.has_cost_credits());
  EXPECT_EQ((*balance->value)->frozen(), static_cast<double>(c.cost_credits()));
}

TEST_F(TriverseConnectionEmulatorTest, GetTaskSurvivesUnavailable) {
  v1::CreateTaskRequest req;
  req.mutable_text_to_model()->set_prompt("a stone table");
  auto created = std::make_shared<Result<v1::TaskCreation>>();
  conn_->CreateTask(req, Context(), Capture(created));
  Drive(*created);
  ASSERT_TRUE(created->value->ok()) << created->value->status();
  FailFirst("get_task", R"({"unavailable_rate": 0.5})");
  auto task = std::make_shared<Result<v1::Task>>();
  conn_->GetTask((*created->value)->task_uuid(), Context(), Capture(task));
  Drive(*task);
  ASSERT_EQ(task->calls, 1);
  ASSERT_TRUE(task->value->ok()) << task->value->status();
  EXPECT_GT(Stat("faults_injected"), 0);
}

v1::CreateTaskRequest ImageGeneration(int width, int height) {
  v1::CreateTaskRequest req;
  auto* gen = req.mutable_image_generation();
  gen->set_prompt("a large detailed landscape");
  gen->set_width(width);
  gen->set_height(height);
  return req;
}

// The emulator's largest asset (a 4096x4096 PNG, about 1 MiB) streams
// through in many chunks, byte for byte.
TEST_F(TriverseConnectionEmulatorTest, LargeEmulatorAssetStreamsIntact) {
  const std::string uuid = SucceededTask(ImageGeneration(4096, 4096));
  ASSERT_FALSE(uuid.empty());
  const testing_util::HttpResponse whole = testing_util::HttpGet(
      emu_->Api(absl::StrCat("/tasks/download/", uuid)),
      {absl::StrCat("Authorization: Bearer ", testing_util::kKeyA)});
  ASSERT_EQ(whole.status, 200) << whole.body.substr(0, 200);
  ASSERT_GT(whole.body.size(), size_t{1} << 20);

  auto d = std::make_shared<LiveDownload>();
  EXPECT_NE(conn_->DownloadAsset(uuid, Context(), LiveDownload::Sink(d),
                                 LiveDownload::Done(d)),
            0u);
  Drive(d->done());
  ASSERT_TRUE(d->status().ok()) << d->status();
  EXPECT_EQ(d->done_calls(), 1);
  ASSERT_EQ(d->metadata().size(), 1u);
  EXPECT_EQ(d->metadata()[0].file_name(), absl::StrCat(uuid, ".png"));
  EXPECT_EQ(d->metadata()[0].size_bytes(),
            static_cast<int64_t>(whole.body.size()));
  EXPECT_EQ(d->chunks_before_metadata(), 0);
  // libcurl hands over at most 16 KiB at a time.
  EXPECT_GE(d->chunks(), static_cast<int>(whole.body.size() / (16 << 10)));
  EXPECT_EQ(d->body().size(), whole.body.size());
  EXPECT_TRUE(d->body() == whole.body);
}

// A multi-megabyte asset (more than the emulator generates: a scripted
// upstream sends 8 MiB in several writes) streams through the engine, stub
// and connection in many chunks, byte for byte.
TEST_F(TriverseConnectionEmulatorTest, MultiMegabyteDownloadInManyChunks) {
  constexpr size_t kSize = size_t{8} << 20;
  std::string asset(kSize, '\0');
  uint64_t x = 0x9e3779b97f4a7c15u;
  for (char& c : asset) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    c = static_cast<char>(x);
  }
  testing_util::ScriptedServer server;
  RestTriverseStub::Options o;
  o.base_url = absl::StrCat(server.Base(), "/api/v1");
  auto stub = std::make_shared<RestTriverseStub>(engine_.get(), std::move(o));
  auto conn = MakeTriverseConnection(stub, &scheduler_);
  auto d = std::make_shared<LiveDownload>();
  conn->DownloadAsset("big-1", Context(), LiveDownload::Sink(d),
                      LiveDownload::Done(d));
  ASSERT_TRUE(server.WaitForRequests(1));
  server.Send(
      absl::StrCat("HTTP/1.1 200 OK\r\nContent-Type: model/gltf-binary\r\n"
                   "Content-Disposition: attachment; filename=\"big-1.glb\"\r\n"
                   "Content-Length: ",
                   kSize, "\r\nConnection: close\r\n\r\n"));
  constexpr size_t kWrite = size_t{1} << 20;
  for (size_t at = 0; at < kSize; at += kWrite) {
    server.Send(absl::string_view(asset).substr(at, kWrite));
  }
  ASSERT_TRUE(d->done().WaitForNotificationWithTimeout(kWait));
  ASSERT_TRUE(d->status().ok()) << d->status();
  EXPECT_EQ(d->done_calls(), 1);
  ASSERT_EQ(d->metadata().size(), 1u);
  EXPECT_EQ(d->metadata()[0].file_name(), "big-1.glb");
  EXPECT_EQ(d->metadata()[0].content_type(), "model/gltf-binary");
  EXPECT_EQ(d->metadata()[0].size_bytes(), static_cast<int64_t>(kSize));
  EXPECT_EQ(d->chunks_before_metadata(), 0);
  EXPECT_GE(d->chunks(), static_cast<int>(kSize / (16 << 10)));
  EXPECT_EQ(d->body().size(), kSize);
  EXPECT_TRUE(d->body() == asset);
}

TEST_F(TriverseConnectionEmulatorTest, DownloadRetriedBeforeMetadata) {
  v1::CreateTaskRequest req;
  req.mutable_text_to_model()->set_prompt("a brass bell");
  const std::string uuid = SucceededTask(req);
  ASSERT_FALSE(uuid.empty());
  FailFirst("task_download", R"({"unavailable_rate": 0.5})");
  auto d = std::make_shared<LiveDownload>();
  conn_->DownloadAsset(uuid, Context(), LiveDownload::Sink(d),
                       LiveDownload::Done(d));
  Drive(d->done());
  ASSERT_TRUE(d->status().ok()) << d->status();
  EXPECT_EQ(d->done_calls(), 1);
  EXPECT_EQ(d->metadata().size(), 1u);
  EXPECT_EQ(d->body().substr(0, 4), "glTF");
  EXPECT_GT(Stat("faults_injected"), 0);
  EXPECT_GE(RouteRequests("task_download"), 2);
}

TEST_F(TriverseConnectionEmulatorTest, DownloadCutAfterMetadataIsNotRetried) {
  v1::CreateTaskRequest req;
  req.mutable_text_to_model()->set_prompt("a copper pot");
  const std::string uuid = SucceededTask(req);
  ASSERT_FALSE(uuid.empty());
  Faults(R"({"reset": true, "seed": 1, "routes": {"task_download":
      {"truncate_rate": 1.0}}})");
  auto d = std::make_shared<LiveDownload>();
  conn_->DownloadAsset(uuid, Context(), LiveDownload::Sink(d),
                       LiveDownload::Done(d));
  Drive(d->done());
  EXPECT_EQ(d->status().code(), absl::StatusCode::kUnavailable) << d->status();
  EXPECT_THAT(d->status().message(), Not(HasSubstr("gave up")));
  EXPECT_EQ(d->metadata().size(), 1u);
  EXPECT_EQ(RouteRequests("task_download"), 1);
  EXPECT_EQ(scheduler_.pending(), 0u);
}

TEST_F(TriverseConnectionEmulatorTest, UploadRateLimitedIsRetried) {
  FailFirst("upload_image",
            R"({"rate_limit_rate": 0.5, "retry_after_seconds": 2})");
  UploadSpec spec;
  spec.kind = v1::FILE_KIND_IMAGE;
  spec.file_name = "a.png";
  spec.content_type = "image/png";
  spec.bytes = std::string("\x89PNG\r\n\x1a\n...", 11);
  auto r = std::make_shared<Result<std::string>>();
  conn_->UploadFile(std::move(spec), Context(), Capture(r));
  // The first attempt is refused; its retry waits for Retry-After.
  ASSERT_TRUE(scheduler_.WaitForPending(kWait));
  ASSERT_TRUE(scheduler_.NextDelay().has_value());
  EXPECT_GE(*scheduler_.NextDelay(), absl::Seconds(2));
  Drive(*r);
  ASSERT_EQ(r->calls, 1);
  ASSERT_TRUE(r->value->ok()) << r->value->status();
  EXPECT_THAT(**r->value, HasSubstr("tasks/uid_"));
  EXPECT_EQ(Stat("uploads"), 1);
  EXPECT_GE(RouteRequests("upload_image"), 2);
}

TEST_F(TriverseConnectionEmulatorTest, UploadUnavailableIsNotRetried) {
  Faults(R"({"reset": true, "seed": 1, "routes": {"upload_model":
      {"unavailable_rate": 1.0}}})");
  UploadSpec spec;
  spec.kind = v1::FILE_KIND_MODEL;
  spec.file_name = "m.glb";
  spec.bytes = "glTF-model";
  auto r = std::make_shared<Result<std::string>>();
  conn_->UploadFile(std::move(spec), Context(), Capture(r));
  ASSERT_TRUE(r->done.WaitForNotificationWithTimeout(kWait));
  ASSERT_EQ(r->calls, 1);
  EXPECT_EQ(r->value->status().code(), absl::StatusCode::kUnavailable)
      << r->value->status();
  EXPECT_EQ(RouteRequests("upload_model"), 1);
  EXPECT_EQ(scheduler_.pending(), 0u);
}

TEST_F(TriverseConnectionEmulatorTest, CancelDuringUpload) {
  Faults(R"({"reset": true, "seed": 1, "routes": {"upload_image":
      {"hang_rate": 1.0}}})");
  UploadSpec spec;
  spec.kind = v1::FILE_KIND_IMAGE;
  spec.file_name = "a.png";
  spec.content_type = "image/png";
  spec.bytes = std::string("\x89PNG\r\n\x1a\n...", 11);
  auto r = std::make_shared<Result<std::string>>();
  const uint64_t id = conn_->UploadFile(std::move(spec), Context(), Capture(r));
  EXPECT_NE(id, 0u);
  conn_->Cancel(id);
  ASSERT_TRUE(r->done.WaitForNotificationWithTimeout(kWait));
  EXPECT_EQ(r->value->status().code(), absl::StatusCode::kCancelled)
      << r->value->status();
  conn_->Cancel(id);  // completed: ignored
  engine_.reset();    // every callback still due has run
  EXPECT_EQ(r->calls, 1);
  EXPECT_EQ(scheduler_.pending(), 0u);
}

// Cancel mid-body, over the real engine and stub: the transfer stops, `done`
// runs once with CANCELLED, and the sink gets nothing more.
TEST_F(TriverseConnectionEmulatorTest, CancelDuringDownload) {
  testing_util::ScriptedServer server;
  RestTriverseStub::Options o;
  o.base_url = absl::StrCat(server.Base(), "/api/v1");
  auto stub = std::make_shared<RestTriverseStub>(engine_.get(), std::move(o));
  auto conn = MakeTriverseConnection(stub, &scheduler_);
  auto d = std::make_shared<LiveDownload>();
  const uint64_t id = conn->DownloadAsset(
      "t-1", Context(), LiveDownload::Sink(d), LiveDownload::Done(d));
  ASSERT_TRUE(server.WaitForRequests(1));
  server.Send(
      "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
      "Content-Length: 1000000\r\n\r\nfirst-part");
  ASSERT_TRUE(d->WaitForBytes(10));
  EXPECT_EQ(d->done_calls(), 0);
  conn->Cancel(id);
  ASSERT_TRUE(d->done().WaitForNotificationWithTimeout(kWait));
  EXPECT_EQ(d->status().code(), absl::StatusCode::kCancelled) << d->status();
  server.Send(std::string(50000, 'x'));  // Too late: nobody reads it.
  conn->Cancel(id);
  // Stopping the engine runs every callback still due: none for this call.
  engine_.reset();
  EXPECT_EQ(d->done_calls(), 1);
  EXPECT_EQ(d->body(), "first-part");
  EXPECT_EQ(d->metadata().size(), 1u);
}

}  // namespace
}  // namespace triverse::upstream
