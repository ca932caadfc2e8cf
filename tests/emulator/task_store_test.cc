#include "emulator/task_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "emulator/api_error.h"
#include "emulator/clock.h"
#include "emulator/faults.h"
#include "emulator/flows.h"
#include "emulator/options.h"

namespace triverse::emulator {
namespace {

using ::testing::HasSubstr;

constexpr int kA = 0;  // account of "key-a"
constexpr int kB = 1;  // account of "key-b"
constexpr int64_t kImageToModelCost = 120;

const absl::Duration kPending = absl::Milliseconds(200);
const absl::Duration kQueue = absl::Milliseconds(200);
const absl::Duration kRun = absl::Seconds(3);
const absl::Duration kStep = absl::Milliseconds(150);  // 5 % of kRun

// Records every event a watcher receives.
class Recorder {
 public:
  TaskStore::WatchFn Fn() {
    return [this](const TaskEvent& e) { events_.push_back(e); };
  }
  const std::vector<TaskEvent>& events() const { return events_; }
  std::vector<TaskEvent> For(absl::string_view uuid) const {
    std::vector<TaskEvent> out;
    for (const TaskEvent& e : events_) {
      if (e.task.uuid == uuid) out.push_back(e);
    }
    return out;
  }

 private:
  std::vector<TaskEvent> events_;
};

class TaskStoreTest : public ::testing::Test {
 protected:
  static EngineOptions DefaultOptions() {
    EngineOptions o;
    o.keys = {{"key-a", 1000, "", ""}, {"key-b", 1000, "", ""}};
    o.pending_duration = kPending;
    o.min_queue_duration = kQueue;
    o.run_duration = kRun;
    o.progress_step = 5;
    o.workers_per_key = 4;
    return o;
  }

  TaskStoreTest() { Init(DefaultOptions()); }

  void Init(EngineOptions options) {
    store_ = std::make_unique<TaskStore>(std::move(options), &clock_, &faults_);
    t0_ = clock_.Now();
  }

  // Moves the fake clock to t0 + `d` and runs the state machine.
  void At(absl::Duration d) {
    clock_.Set(t0_ + d);
    store_->Advance();
  }

  static CreateRequest Request(absl::string_view flow, absl::string_view body) {
    auto r = ParseCreateRequest(flow, body, /*legacy=*/false);
    EXPECT_TRUE(r.ok()) << body << ": " << (r.ok() ? "" : r.error().suggestion);
    return r.ok() ? r.value() : CreateRequest{};
  }

  // An image-to-model request (120 credits); `tag` makes bodies distinct.
  static CreateRequest ImageToModel(int tag = 0, absl::string_view extra = "") {
    return Request("image-to-model",
                   absl::StrCat(R"({"image_file":"https://example.com/)", tag,
                                R"(.png")", extra, "}"));
  }

  Task MustCreate(int account, const CreateRequest& req) {
    bool created = false;
    auto r = store_->Create(account, req, &created);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().suggestion);
    EXPECT_TRUE(created);
    return r.ok() ? r.value() : Task{};
  }

  template <typename T>
  static ApiError MustFail(const ApiResult<T>& r) {
    EXPECT_FALSE(r.ok());
    return r.ok() ? ApiError{} : r.error();
  }

  ApiError CreateError(int account, const CreateRequest& req) {
    bool created = true;
    ApiError e = MustFail(store_->Create(account, req, &created));
    EXPECT_FALSE(created);
    return e;
  }

  Task MustGet(int account, absl::string_view uuid) {
    auto r = store_->Get(account, uuid, /*consistent_read=*/true);
    EXPECT_TRUE(r.ok()) << uuid;
    return r.ok() ? r.value() : Task{};
  }

  FakeClock clock_;
  FaultInjector faults_;
  std::unique_ptr<TaskStore> store_;
  absl::Time t0_;
};

void ExpectError(const ApiError& e, int http_status, int code) {
  EXPECT_EQ(e.http_status, http_status) << e.suggestion;
  EXPECT_EQ(e.code, code) << e.suggestion;
}

TEST_F(TaskStoreTest, AuthenticateAndAccounts) {
  EXPECT_EQ(store_->Authenticate("key-a"), kA);
  EXPECT_EQ(store_->Authenticate("key-b"), kB);
  EXPECT_EQ(store_->Authenticate(""), -1);
  EXPECT_EQ(store_->Authenticate("key-c"), -1);
  EXPECT_EQ(store_->Authenticate("key-a "), -1);
  EXPECT_EQ(store_->account_count(), 2);

  AccountInfo a = store_->Account(kA);
  AccountInfo b = store_->Account(kB);
  EXPECT_EQ(a.email, "user1@example.com");
  EXPECT_EQ(b.email, "user2@example.com");
  EXPECT_EQ(a.alias, "key#1");
  EXPECT_EQ(a.total_credits, 1000);
  EXPECT_EQ(a.frozen_credits, 0);
  EXPECT_TRUE(a.plan_name.empty());
  static const std::regex uuid(
      "^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$");
  EXPECT_TRUE(std::regex_match(a.user_id, uuid)) << a.user_id;
  EXPECT_NE(a.user_id, b.user_id);
}

TEST_F(TaskStoreTest, LifecyclePendingQueuedRunningSuccess) {
  const Task created = MustCreate(kA, ImageToModel());
  static const std::regex uuid(
      "^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$");
  EXPECT_TRUE(std::regex_match(created.uuid, uuid)) << created.uuid;
  EXPECT_EQ(created.status, TaskStatus::kPending);
  EXPECT_EQ(created.flow_name, "image-to-model");
  EXPECT_EQ(created.cost_credits, kImageToModelCost);
  EXPECT_EQ(created.progress, 0);
  EXPECT_EQ(created.created_at, t0_);
  EXPECT_EQ(created.updated_at, t0_);
  EXPECT_FALSE(created.started_at.has_value());
  EXPECT_FALSE(created.completed_at.has_value());
  EXPECT_EQ(created.queue_position, 0);

  At(kPending - absl::Milliseconds(1));
  EXPECT_EQ(MustGet(kA, created.uuid).status, TaskStatus::kPending);

  At(kPending);
  Task queued = MustGet(kA, created.uuid);
  EXPECT_EQ(queued.status, TaskStatus::kQueued);
  EXPECT_EQ(queued.updated_at, t0_ + kPending);
  EXPECT_EQ(queued.queue_position, 1);
  EXPECT_FALSE(queued.started_at.has_value());
  EXPECT_FALSE(queued.completed_at.has_value());

  At(kPending + kQueue - absl::Milliseconds(1));
  EXPECT_EQ(MustGet(kA, created.uuid).status, TaskStatus::kQueued);

  const absl::Time start = t0_ + kPending + kQueue;
  At(kPending + kQueue);
  Task running = MustGet(kA, created.uuid);
  EXPECT_EQ(running.status, TaskStatus::kRunning);
  EXPECT_EQ(running.progress, 0);
  ASSERT_TRUE(running.started_at.has_value());
  EXPECT_EQ(*running.started_at, start);
  EXPECT_FALSE(running.completed_at.has_value());
  EXPECT_EQ(running.queue_position, 0);

  // Progress climbs in steps of 5 %, one every 150 ms.
  for (int k = 0; k < 20; ++k) {
    At(kPending + kQueue + kStep * k + kStep / 2);
    Task t = MustGet(kA, created.uuid);
    EXPECT_EQ(t.status, TaskStatus::kRunning) << k;
    EXPECT_EQ(t.progress, 5 * k) << k;
    EXPECT_FALSE(t.completed_at.has_value());
    EXPECT_EQ(*t.started_at, start);
  }

  At(kPending + kQueue + kRun);
  Task done = MustGet(kA, created.uuid);
  EXPECT_EQ(done.status, TaskStatus::kSuccess);
  EXPECT_EQ(done.progress, 100);
  EXPECT_EQ(*done.started_at, start);
  ASSERT_TRUE(done.completed_at.has_value());
  EXPECT_EQ(*done.completed_at, start + kRun);
  EXPECT_EQ(done.updated_at, start + kRun);
  EXPECT_EQ(done.created_at, t0_);
  // QUEUED + RUNNING + 19 steps + SUCCESS since creation.
  EXPECT_EQ(done.version, created.version + 22);

  // Nothing moves after a terminal status.
  At(absl::Hours(2));
  Task later = MustGet(kA, created.uuid);
  EXPECT_EQ(later.status, TaskStatus::kSuccess);
  EXPECT_EQ(later.version, done.version);
  EXPECT_EQ(later.updated_at, done.updated_at);

  StoreStats stats = store_->Stats();
  EXPECT_EQ(stats.tasks_created, 1);
  EXPECT_EQ(stats.tasks_by_status[static_cast<int>(TaskStatus::kSuccess)], 1);
}

TEST_F(TaskStoreTest, ProgressStepThatDoesNotDivideHundred) {
  EngineOptions o = DefaultOptions();
  o.progress_step = 30;
  Init(o);
  const Task t = MustCreate(kA, ImageToModel());
  Recorder rec;
  TaskEvent snapshot;
  ASSERT_TRUE(store_->WatchTask(kA, t.uuid, rec.Fn(), &snapshot).ok());
  At(absl::Minutes(1));
  std::vector<int> progress;
  for (const TaskEvent& e : rec.events()) {
    if (e.task.status == TaskStatus::kRunning ||
        e.task.status == TaskStatus::kSuccess) {
      progress.push_back(e.task.progress);
    }
  }
  EXPECT_THAT(progress, ::testing::ElementsAre(0, 30, 60, 90, 100));
}

TEST_F(TaskStoreTest, QueuePositionsAndEstimatedWait) {
  EngineOptions o = DefaultOptions();
  o.workers_per_key = 2;
  Init(o);
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i)
    ids.push_back(MustCreate(kA, ImageToModel(i)).uuid);

  // Before any worker picks one: everybody waits, in creation order.
  At(kPending + absl::Milliseconds(100));
  for (int i = 0; i < 5; ++i) {
    Task t = MustGet(kA, ids[i]);
    EXPECT_EQ(t.status, TaskStatus::kQueued) << i;
    EXPECT_EQ(t.queue_position, i + 1) << i;
  }

  // Two run, three wait: the estimate is the time until a worker is free.
  At(kPending + kQueue + absl::Milliseconds(100));
  const int64_t want_wait[] = {3, 3, 6};
  for (int i = 0; i < 5; ++i) {
    Task t = MustGet(kA, ids[i]);
    if (i < 2) {
      EXPECT_EQ(t.status, TaskStatus::kRunning) << i;
      EXPECT_EQ(t.queue_position, 0) << i;
      EXPECT_EQ(t.estimated_wait_seconds, 0) << i;
    } else {
      EXPECT_EQ(t.status, TaskStatus::kQueued) << i;
      EXPECT_EQ(t.queue_position, i - 1) << i;
      EXPECT_EQ(t.estimated_wait_seconds, want_wait[i - 2]) << i;
      EXPECT_FALSE(t.started_at.has_value());
    }
  }

  // The first two finish at start + run and the next two start right then.
  const absl::Duration first_end = kPending + kQueue + kRun;
  At(first_end);
  EXPECT_EQ(MustGet(kA, ids[0]).status, TaskStatus::kSuccess);
  EXPECT_EQ(MustGet(kA, ids[1]).status, TaskStatus::kSuccess);
  for (int i : {2, 3}) {
    Task t = MustGet(kA, ids[i]);
    EXPECT_EQ(t.status, TaskStatus::kRunning) << i;
    ASSERT_TRUE(t.started_at.has_value());
    EXPECT_EQ(*t.started_at, t0_ + first_end) << i;
  }
  Task last = MustGet(kA, ids[4]);
  EXPECT_EQ(last.status, TaskStatus::kQueued);
  EXPECT_EQ(last.queue_position, 1);
  EXPECT_EQ(last.estimated_wait_seconds, 3);

  // Even when the clock jumps far ahead, the last one starts when a worker
  // became free, not when the store noticed.
  At(absl::Minutes(5));
  Task done = MustGet(kA, ids[4]);
  EXPECT_EQ(done.status, TaskStatus::kSuccess);
  EXPECT_EQ(*done.started_at, t0_ + first_end + kRun);
  EXPECT_EQ(*done.completed_at, t0_ + first_end + 2 * kRun);
  EXPECT_EQ(
      store_->Stats().tasks_by_status[static_cast<int>(TaskStatus::kSuccess)],
      5);
}

TEST_F(TaskStoreTest, CreditsFrozenOnCreateDeductedOnSuccess) {
  const Task t = MustCreate(kA, ImageToModel());
  AccountInfo a = store_->Account(kA);
  EXPECT_EQ(a.total_credits, 1000);
  EXPECT_EQ(a.frozen_credits, kImageToModelCost);
  At(kPending + kQueue + kRun / 2);
  EXPECT_EQ(store_->Account(kA).frozen_credits, kImageToModelCost);
  At(kPending + kQueue + kRun);
  EXPECT_EQ(MustGet(kA, t.uuid).status, TaskStatus::kSuccess);
  a = store_->Account(kA);
  EXPECT_EQ(a.total_credits, 1000 - kImageToModelCost);
  EXPECT_EQ(a.frozen_credits, 0);
  // The other account is untouched.
  EXPECT_EQ(store_->Account(kB).total_credits, 1000);
  EXPECT_EQ(store_->Account(kB).frozen_credits, 0);
}

TEST_F(TaskStoreTest, CreditsReleasedOnFailure) {
  ASSERT_TRUE(faults_.Update(R"({"tasks":{"failure_rate":1}})").ok());
  const Task t = MustCreate(kA, ImageToModel());
  EXPECT_EQ(store_->Account(kA).frozen_credits, kImageToModelCost);
  At(kPending + kQueue + kRun - absl::Milliseconds(1));
  EXPECT_EQ(MustGet(kA, t.uuid).status, TaskStatus::kRunning);
  At(kPending + kQueue + kRun);
  Task failed = MustGet(kA, t.uuid);
  EXPECT_EQ(failed.status, TaskStatus::kFailed);
  EXPECT_LT(failed.progress, 100);
  ASSERT_TRUE(failed.completed_at.has_value());
  EXPECT_EQ(*failed.completed_at, t0_ + kPending + kQueue + kRun);
  AccountInfo a = store_->Account(kA);
  EXPECT_EQ(a.total_credits, 1000);
  EXPECT_EQ(a.frozen_credits, 0);
}

TEST_F(TaskStoreTest, CreditsReleasedOnSystemCancel) {
  ASSERT_TRUE(faults_.Update(R"({"tasks":{"cancel_rate":1}})").ok());
  const Task t = MustCreate(kA, ImageToModel());
  EXPECT_EQ(store_->Account(kA).frozen_credits, kImageToModelCost);
  At(absl::Minutes(1));
  Task cancelled = MustGet(kA, t.uuid);
  EXPECT_EQ(cancelled.status, TaskStatus::kCancelled);
  // Cancelled half way through the run.
  ASSERT_TRUE(cancelled.started_at.has_value());
  ASSERT_TRUE(cancelled.completed_at.has_value());
  EXPECT_EQ(*cancelled.completed_at, *cancelled.started_at + kRun / 2);
  EXPECT_EQ(cancelled.progress, 45);
  AccountInfo a = store_->Account(kA);
  EXPECT_EQ(a.total_credits, 1000);
  EXPECT_EQ(a.frozen_credits, 0);
}

TEST_F(TaskStoreTest, NoAssetsFaultStillSucceeds) {
  ASSERT_TRUE(faults_.Update(R"({"tasks":{"no_assets_rate":1}})").ok());
  const Task t = MustCreate(kA, ImageToModel());
  EXPECT_TRUE(t.no_assets);
  At(absl::Minutes(1));
  EXPECT_EQ(MustGet(kA, t.uuid).status, TaskStatus::kSuccess);
  EXPECT_EQ(store_->Account(kA).total_credits, 1000 - kImageToModelCost);
}

TEST_F(TaskStoreTest, InsufficientCredits) {
  EngineOptions o = DefaultOptions();
  o.keys[kA].credits = 200;
  Init(o);
  const Task first = MustCreate(kA, ImageToModel(1));
  ApiError e = CreateError(kA, ImageToModel(2));
  ExpectError(e, 403, kInsufficientCredits);
  EXPECT_THAT(e.suggestion, HasSubstr("120"));
  EXPECT_THAT(e.suggestion, HasSubstr("80"));
  // The refusal froze nothing and made no task.
  EXPECT_EQ(store_->Account(kA).frozen_credits, kImageToModelCost);
  EXPECT_EQ(store_->Stats().tasks_created, 1);

  // A cheaper task still fits in what is left.
  MustCreate(kA, Request("convert-model-format",
                         R"({"model_file":"https://x.test/m.glb",)"
                         R"("export_format":"obj"})"));
  EXPECT_EQ(store_->Account(kA).frozen_credits, kImageToModelCost + 5);

  At(absl::Minutes(1));
  EXPECT_EQ(MustGet(kA, first.uuid).status, TaskStatus::kSuccess);
  AccountInfo a = store_->Account(kA);
  EXPECT_EQ(a.total_credits, 200 - kImageToModelCost - 5);
  EXPECT_EQ(a.frozen_credits, 0);
  ExpectError(CreateError(kA, ImageToModel(3)), 403, kInsufficientCredits);
  // Exactly enough is enough.
  o.keys[kA].credits = 120;
  Init(o);
  MustCreate(kA, ImageToModel(4));
  EXPECT_EQ(store_->Account(kA).frozen_credits, 120);
}

TEST_F(TaskStoreTest, RepeatedClientOrderIdReturnsTheOriginal) {
  const CreateRequest req = ImageToModel(0, R"(,"client_order_id":"order-1")");
  const Task first = MustCreate(kA, req);
  EXPECT_EQ(first.client_order_id, "order-1");

  clock_.Set(t0_ + absl::Milliseconds(300));  // now QUEUED
  bool created = true;
  auto again = store_->Create(kA, req, &created);
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(created);
  EXPECT_EQ(again->uuid, first.uuid);
  EXPECT_EQ(again->status, TaskStatus::kQueued);
  EXPECT_EQ(store_->Account(kA).frozen_credits, kImageToModelCost);

  // A different body under the same order id still gets the original.
  auto other_body = store_->Create(
      kA, ImageToModel(9, R"(,"client_order_id":"order-1")"), &created);
  ASSERT_TRUE(other_body.ok());
  EXPECT_FALSE(created);
  EXPECT_EQ(other_body->uuid, first.uuid);
  EXPECT_EQ(store_->Account(kA).frozen_credits, kImageToModelCost);
  EXPECT_EQ(store_->Stats().tasks_created, 1);

  // Order ids are per user.
  const Task theirs = MustCreate(kB, req);
  EXPECT_NE(theirs.uuid, first.uuid);

  // After completion the repeat returns the finished task, still one charge.
  At(absl::Minutes(1));
  auto done = store_->Create(kA, req, &created);
  ASSERT_TRUE(done.ok());
  EXPECT_FALSE(created);
  EXPECT_EQ(done->uuid, first.uuid);
  EXPECT_EQ(done->status, TaskStatus::kSuccess);
  EXPECT_EQ(store_->Account(kA).total_credits, 1000 - kImageToModelCost);
  EXPECT_EQ(store_->Account(kA).frozen_credits, 0);
}

TEST_F(TaskStoreTest, RepeatedClientOrderIdConflictMode) {
  EngineOptions o = DefaultOptions();
  o.repeated_order = RepeatedOrderMode::kConflict;
  Init(o);
  const CreateRequest req = ImageToModel(0, R"(,"client_order_id":"order-1")");
  const Task first = MustCreate(kA, req);
  ApiError e = CreateError(kA, req);
  ExpectError(e, 409, kStateConflict);
  EXPECT_THAT(e.suggestion, HasSubstr("order-1"));
  EXPECT_THAT(e.suggestion, HasSubstr(first.uuid));
  EXPECT_EQ(store_->Account(kA).frozen_credits, kImageToModelCost);
  EXPECT_EQ(store_->Stats().tasks_created, 1);
}

TEST_F(TaskStoreTest, DuplicateWindow) {
  const CreateRequest req = ImageToModel();
  const Task first = MustCreate(kA, req);

  clock_.Set(t0_ + absl::Seconds(10) - absl::Milliseconds(1));
  ApiError e = CreateError(kA, req);
  ExpectError(e, 409, kStateConflict);
  EXPECT_THAT(e.suggestion, HasSubstr(first.uuid));
  EXPECT_THAT(e.suggestion, HasSubstr("allow_duplicate"));
  EXPECT_EQ(store_->Stats().tasks_created, 1);
  EXPECT_EQ(store_->Account(kA).total_credits, 1000 - kImageToModelCost);
  EXPECT_EQ(store_->Account(kA).frozen_credits, 0);

  // A different body, another account, or an order id are not duplicates.
  MustCreate(kA, ImageToModel(1));
  MustCreate(kB, req);
  MustCreate(kA, ImageToModel(0, R"(,"client_order_id":"k1")"));
  MustCreate(kA, ImageToModel(0, R"(,"client_order_id":"k2")"));

  // allow_duplicate=true creates a second task on purpose.
  const Task dup =
      MustCreate(kA, ImageToModel(0, R"(,"allow_duplicate":true)"));
  EXPECT_NE(dup.uuid, first.uuid);

  // After the window (counted from the latest identical task), a new task.
  clock_.Set(dup.created_at + absl::Seconds(10) - absl::Milliseconds(1));
  ExpectError(CreateError(kA, req), 409, kStateConflict);
  clock_.Set(dup.created_at + absl::Seconds(10));
  const Task later = MustCreate(kA, req);
  EXPECT_NE(later.uuid, first.uuid);
  EXPECT_NE(later.uuid, dup.uuid);
}

TEST_F(TaskStoreTest, DuplicateWindowDisabled) {
  EngineOptions o = DefaultOptions();
  o.duplicate_window = absl::ZeroDuration();
  Init(o);
  const Task a = MustCreate(kA, ImageToModel());
  const Task b = MustCreate(kA, ImageToModel());
  EXPECT_NE(a.uuid, b.uuid);
}

TEST_F(TaskStoreTest, Moderation) {
  for (const char* body :
       {R"({"prompt":"a FORBIDDEN castle"})",
        R"({"prompt":"a castle","negative_prompt":"nsfw stuff"})",
        R"({"prompt":"a castle\u0000forbidden"})"}) {
    ApiError e = CreateError(kA, Request("text-to-model", body));
    ExpectError(e, 400, kContentViolation);
  }
  EXPECT_EQ(store_->Stats().tasks_created, 0);
  EXPECT_EQ(store_->Account(kA).frozen_credits, 0);
  MustCreate(kA, Request("text-to-model", R"({"prompt":"a castle"})"));
}

TEST_F(TaskStoreTest, UnknownFileKey) {
  const std::string unknown = "tasks/uid_x/20260527/nope.png";
  ApiError e = CreateError(
      kA, Request("image-to-model",
                  absl::StrCat(R"({"image_file":")", unknown, R"("})")));
  ExpectError(e, 400, kInvalidParameters);
  EXPECT_THAT(e.suggestion, HasSubstr("'image_file'"));
  EXPECT_THAT(e.suggestion, HasSubstr(unknown));

  auto key = store_->RecordUpload(kA, "png");
  ASSERT_TRUE(key.ok());
  const CreateRequest uploaded = Request(
      "image-to-model", absl::StrCat(R"({"image_file":")", *key, R"("})"));
  // Another user's file key is unknown to this one.
  ApiError theirs = CreateError(kB, uploaded);
  ExpectError(theirs, 400, kInvalidParameters);
  MustCreate(kA, uploaded);

  // model_file is checked too.
  ApiError model = CreateError(
      kA, Request("texture-model",
                  absl::StrCat(R"({"image_file":")", *key,
                               R"(","model_file":")", unknown, R"("})")));
  ExpectError(model, 400, kInvalidParameters);
  EXPECT_THAT(model.suggestion, HasSubstr("'model_file'"));
}

TEST_F(TaskStoreTest, QueueFull) {
  EngineOptions o = DefaultOptions();
  o.max_queue_per_key = 2;
  Init(o);
  MustCreate(kA, ImageToModel(1));
  MustCreate(kA, ImageToModel(2));
  ApiError e = CreateError(kA, ImageToModel(3));
  ExpectError(e, 429, kRateLimited);
  EXPECT_EQ(e.retry_after_seconds, 3);
  EXPECT_EQ(store_->Account(kA).frozen_credits, 2 * kImageToModelCost);
  // Per key.
  MustCreate(kB, ImageToModel(3));
  // Once they run, they no longer count against the queue.
  clock_.Set(t0_ + kPending + kQueue);
  MustCreate(kA, ImageToModel(3));
}

TEST_F(TaskStoreTest, AnotherAccountsTaskIsNotFound) {
  const Task t = MustCreate(kA, ImageToModel());
  At(absl::Minutes(1));
  ExpectError(MustFail(store_->Get(kB, t.uuid, true)), 404, kTaskNotFound);
  ExpectError(MustFail(store_->GetDownloadable(kB, t.uuid)), 404,
              kTaskNotFound);
  TaskEvent snapshot;
  Recorder rec;
  ExpectError(MustFail(store_->WatchTask(kB, t.uuid, rec.Fn(), &snapshot)), 404,
              kTaskNotFound);
  ExpectError(MustFail(store_->Get(kA, "no-such-task", true)), 404,
              kTaskNotFound);
  int64_t total = -1;
  EXPECT_TRUE(store_->List(kB, 0, 10, &total).empty());
  EXPECT_EQ(total, 0);
  EXPECT_EQ(MustGet(kA, t.uuid).uuid, t.uuid);
  ASSERT_TRUE(store_->FindTask(t.uuid).has_value());
  EXPECT_EQ(store_->FindTask(t.uuid)->account, kA);
  EXPECT_FALSE(store_->FindTask("no-such-task").has_value());
}

TEST_F(TaskStoreTest, ReadAfterWriteWindow) {
  const Task t = MustCreate(kA, ImageToModel());
  ExpectError(MustFail(store_->Get(kA, t.uuid, false)), 404, kTaskNotFound);
  EXPECT_TRUE(store_->Get(kA, t.uuid, true).ok());
  clock_.Set(t0_ + absl::Seconds(1) - absl::Milliseconds(1));
  ExpectError(MustFail(store_->Get(kA, t.uuid, false)), 404, kTaskNotFound);
  clock_.Set(t0_ + absl::Seconds(1));
  auto visible = store_->Get(kA, t.uuid, false);
  ASSERT_TRUE(visible.ok());
  EXPECT_EQ(visible->status, TaskStatus::kRunning);
}

TEST_F(TaskStoreTest, LegacyHasNoQueuedStatus) {
  EngineOptions o = DefaultOptions();
  o.legacy = true;
  o.workers_per_key = 1;
  Init(o);
  Recorder rec;
  std::vector<TaskEvent> catch_up;
  store_->WatchAll(kA, std::nullopt, rec.Fn(), &catch_up);
  const Task a = MustCreate(kA, ImageToModel(1));
  const Task b = MustCreate(kA, ImageToModel(2));
  // No read-after-write window in the older API.
  EXPECT_TRUE(store_->Get(kA, a.uuid, false).ok());

  // No QUEUED step: a starts as soon as its PENDING time is over.
  At(kPending);
  Task ra = MustGet(kA, a.uuid);
  EXPECT_EQ(ra.status, TaskStatus::kRunning);
  EXPECT_EQ(*ra.started_at, t0_ + kPending);
  // b waits for the only worker and stays PENDING meanwhile.
  At(kPending + kRun - absl::Milliseconds(1));
  Task rb = MustGet(kA, b.uuid);
  EXPECT_EQ(rb.status, TaskStatus::kPending);
  EXPECT_FALSE(rb.started_at.has_value());
  At(kPending + kRun);
  rb = MustGet(kA, b.uuid);
  EXPECT_EQ(rb.status, TaskStatus::kRunning);
  EXPECT_EQ(*rb.started_at, t0_ + kPending + kRun);

  At(absl::Minutes(1));
  for (const TaskEvent& e : rec.events()) {
    EXPECT_NE(e.task.status, TaskStatus::kQueued);
  }
  for (const Task& t : {a, b}) {
    std::vector<TaskEvent> events = rec.For(t.uuid);
    ASSERT_EQ(events.size(), 22u);  // PENDING, RUNNING, 19 steps, SUCCESS
    EXPECT_EQ(events.front().task.status, TaskStatus::kPending);
    EXPECT_EQ(events[1].task.status, TaskStatus::kRunning);
    EXPECT_EQ(events.back().task.status, TaskStatus::kSuccess);
  }
}

TEST_F(TaskStoreTest, DownloadableRules) {
  const Task t = MustCreate(kA, ImageToModel());
  ApiError early = MustFail(store_->GetDownloadable(kA, t.uuid));
  ExpectError(early, 409, kStateConflict);
  EXPECT_THAT(early.suggestion, HasSubstr("PENDING"));
  At(kPending + kQueue + kStep);
  ApiError running = MustFail(store_->GetDownloadable(kA, t.uuid));
  ExpectError(running, 409, kStateConflict);
  EXPECT_THAT(running.suggestion, HasSubstr("RUNNING"));

  At(kPending + kQueue + kRun);
  auto ok = store_->GetDownloadable(kA, t.uuid);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->status, TaskStatus::kSuccess);
  EXPECT_EQ(ok->primary_asset, 2);

  // Assets stay for the retention period, then disappear.
  const absl::Time completed = *ok->completed_at;
  clock_.Set(completed + absl::Hours(24 * 7));
  EXPECT_TRUE(store_->GetDownloadable(kA, t.uuid).ok());
  clock_.Set(completed + absl::Hours(24 * 7) + absl::Seconds(1));
  ExpectError(MustFail(store_->GetDownloadable(kA, t.uuid)), 404,
              kResourceNotFound);
  // The task itself is still there.
  EXPECT_EQ(MustGet(kA, t.uuid).status, TaskStatus::kSuccess);
}

TEST_F(TaskStoreTest, DownloadableConfiguredNotReadyCode) {
  EngineOptions o = DefaultOptions();
  o.not_ready_code = kTaskNotFound;
  Init(o);
  const Task t = MustCreate(kA, ImageToModel());
  ExpectError(MustFail(store_->GetDownloadable(kA, t.uuid)), 404,
              kTaskNotFound);
}

TEST_F(TaskStoreTest, DownloadableFailedAndNoAssets) {
  ASSERT_TRUE(faults_.Update(R"({"tasks":{"failure_rate":1}})").ok());
  const Task failed = MustCreate(kA, ImageToModel(1));
  ASSERT_TRUE(
      faults_.Update(R"({"tasks":{"failure_rate":0,"no_assets_rate":1}})")
          .ok());
  const Task empty = MustCreate(kA, ImageToModel(2));
  At(absl::Minutes(1));
  ApiError f = MustFail(store_->GetDownloadable(kA, failed.uuid));
  ExpectError(f, 409, kStateConflict);
  EXPECT_THAT(f.suggestion, HasSubstr("FAILED"));
  EXPECT_EQ(MustGet(kA, empty.uuid).status, TaskStatus::kSuccess);
  ExpectError(MustFail(store_->GetDownloadable(kA, empty.uuid)), 404,
              kNoAssets);
}

TEST_F(TaskStoreTest, UploadRateLimit) {
  const std::string user = store_->Account(kA).user_id;
  const std::regex key_re(absl::StrCat(
      "^tasks/uid_", user,
      "/20260527/[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-"
      "[0-9a-f]{12}\\.png$"));
  std::vector<std::string> keys;
  for (int i = 0; i < 10; ++i) {
    auto key = store_->RecordUpload(kA, "png");
    ASSERT_TRUE(key.ok()) << i;
    EXPECT_TRUE(std::regex_match(*key, key_re)) << *key;
    keys.push_back(*key);
  }
  std::sort(keys.begin(), keys.end());
  EXPECT_EQ(std::unique(keys.begin(), keys.end()), keys.end());

  ApiError e = MustFail(store_->RecordUpload(kA, "glb"));
  ExpectError(e, 429, kRateLimited);
  EXPECT_EQ(e.retry_after_seconds, 60);
  // Other users have their own budget.
  EXPECT_TRUE(store_->RecordUpload(kB, "glb").ok());

  clock_.Set(t0_ + absl::Seconds(30));
  EXPECT_EQ(MustFail(store_->RecordUpload(kA, "png")).retry_after_seconds, 30);
  clock_.Set(t0_ + absl::Milliseconds(59500));
  EXPECT_EQ(MustFail(store_->RecordUpload(kA, "png")).retry_after_seconds, 1);
  clock_.Set(t0_ + absl::Seconds(60));
  auto model = store_->RecordUpload(kA, "glb");
  ASSERT_TRUE(model.ok());
  EXPECT_THAT(*model, ::testing::EndsWith(".glb"));
  EXPECT_EQ(store_->Stats().uploads, 12);
}

TEST_F(TaskStoreTest, UploadRateLimitIsASlidingWindow) {
  for (int i = 0; i < 10; ++i) {
    clock_.Set(t0_ + absl::Seconds(i));
    ASSERT_TRUE(store_->RecordUpload(kA, "png").ok()) << i;
  }
  clock_.Set(t0_ + absl::Seconds(10));
  EXPECT_EQ(MustFail(store_->RecordUpload(kA, "png")).retry_after_seconds, 50);
  clock_.Set(t0_ + absl::Seconds(60));
  EXPECT_TRUE(store_->RecordUpload(kA, "png").ok());
  ApiError e = MustFail(store_->RecordUpload(kA, "png"));
  ExpectError(e, 429, kRateLimited);
  EXPECT_EQ(e.retry_after_seconds, 1);
  clock_.Set(t0_ + absl::Seconds(61));
  EXPECT_TRUE(store_->RecordUpload(kA, "png").ok());
}

TEST_F(TaskStoreTest, ZeroUploadsPerWindowRefusesWithoutCrashing) {
  EngineOptions o = DefaultOptions();
  o.uploads_per_window = 0;
  Init(o);
  ApiError e = MustFail(store_->RecordUpload(kA, "png"));
  ExpectError(e, 429, kRateLimited);
  EXPECT_EQ(e.retry_after_seconds, 60);
}

TEST_F(TaskStoreTest, Cancel) {
  EngineOptions o = DefaultOptions();
  o.workers_per_key = 1;
  Init(o);
  const Task pending = MustCreate(kA, ImageToModel(1));
  clock_.Set(t0_ + absl::Milliseconds(50));
  auto c = store_->Cancel(pending.uuid);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->status, TaskStatus::kCancelled);
  EXPECT_FALSE(c->started_at.has_value());
  ASSERT_TRUE(c->completed_at.has_value());
  EXPECT_EQ(*c->completed_at, t0_ + absl::Milliseconds(50));
  EXPECT_EQ(store_->Account(kA).frozen_credits, 0);
  EXPECT_EQ(store_->Account(kA).total_credits, 1000);

  ApiError again = MustFail(store_->Cancel(pending.uuid));
  ExpectError(again, 409, kStateConflict);
  EXPECT_THAT(again.suggestion, HasSubstr("CANCELLED"));
  ExpectError(MustFail(store_->Cancel("no-such-task")), 404, kTaskNotFound);

  // Cancelling the running task frees its worker for the queued one.
  const Task running = MustCreate(kA, ImageToModel(2));
  const Task waiting = MustCreate(kA, ImageToModel(3));
  At(absl::Seconds(1));
  ASSERT_EQ(MustGet(kA, running.uuid).status, TaskStatus::kRunning);
  ASSERT_EQ(MustGet(kA, waiting.uuid).status, TaskStatus::kQueued);
  auto stopped = store_->Cancel(running.uuid);
  ASSERT_TRUE(stopped.ok());
  EXPECT_EQ(stopped->status, TaskStatus::kCancelled);
  EXPECT_GT(stopped->progress, 0);
  EXPECT_LT(stopped->progress, 100);
  Task next = MustGet(kA, waiting.uuid);
  EXPECT_EQ(next.status, TaskStatus::kRunning);
  EXPECT_EQ(*next.started_at, t0_ + absl::Seconds(1));
  EXPECT_EQ(store_->Account(kA).frozen_credits, kImageToModelCost);

  // Cancel of a queued task removes it from the queue.
  const Task queued = MustCreate(kA, ImageToModel(4));
  At(absl::Seconds(2));
  ASSERT_EQ(MustGet(kA, queued.uuid).status, TaskStatus::kQueued);
  ASSERT_TRUE(store_->Cancel(queued.uuid).ok());
  At(absl::Minutes(1));
  EXPECT_EQ(MustGet(kA, queued.uuid).status, TaskStatus::kCancelled);
  EXPECT_EQ(MustGet(kA, waiting.uuid).status, TaskStatus::kSuccess);
  EXPECT_EQ(store_->Account(kA).frozen_credits, 0);
  EXPECT_EQ(store_->Account(kA).total_credits, 1000 - kImageToModelCost);
}

TEST_F(TaskStoreTest, WatchTaskSnapshotThenEventsInOrder) {
  const Task t = MustCreate(kA, ImageToModel());
  At(absl::Milliseconds(100));
  Recorder rec;
  TaskEvent snapshot;
  auto id = store_->WatchTask(kA, t.uuid, rec.Fn(), &snapshot);
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(snapshot.task.uuid, t.uuid);
  EXPECT_EQ(snapshot.task.status, TaskStatus::kPending);
  EXPECT_FALSE(snapshot.finalized);
  EXPECT_TRUE(rec.events().empty());
  EXPECT_EQ(store_->Stats().watchers, 1);

  At(absl::Seconds(10));
  const std::vector<TaskEvent>& ev = rec.events();
  ASSERT_EQ(ev.size(), 22u);  // QUEUED, RUNNING, 19 steps, SUCCESS
  EXPECT_EQ(ev[0].task.status, TaskStatus::kQueued);
  EXPECT_EQ(ev[0].task.updated_at, t0_ + kPending);
  EXPECT_EQ(ev[1].task.status, TaskStatus::kRunning);
  EXPECT_EQ(ev[1].task.progress, 0);
  EXPECT_EQ(ev[1].task.updated_at, t0_ + kPending + kQueue);
  for (size_t i = 2; i < 21; ++i) {
    EXPECT_EQ(ev[i].task.status, TaskStatus::kRunning) << i;
    EXPECT_EQ(ev[i].task.progress, 5 * static_cast<int>(i - 1)) << i;
  }
  EXPECT_EQ(ev.back().task.status, TaskStatus::kSuccess);
  EXPECT_EQ(ev.back().task.progress, 100);
  int finalized = 0;
  for (size_t i = 0; i < ev.size(); ++i) {
    finalized += ev[i].finalized ? 1 : 0;
    EXPECT_EQ(ev[i].task.uuid, t.uuid);
    const uint64_t prev_version =
        i == 0 ? snapshot.task.version : ev[i - 1].task.version;
    EXPECT_EQ(ev[i].task.version, prev_version + 1) << i;
    const absl::Time prev_time =
        i == 0 ? snapshot.task.updated_at : ev[i - 1].task.updated_at;
    EXPECT_GT(ev[i].task.updated_at, prev_time) << i;
  }
  EXPECT_EQ(finalized, 1);
  EXPECT_TRUE(ev.back().finalized);
  EXPECT_TRUE(ev.back().task.completed_at.has_value());

  At(absl::Hours(1));
  EXPECT_EQ(rec.events().size(), 22u);

  // Watching a terminal task: the snapshot is already final.
  Recorder late;
  TaskEvent final_snapshot;
  ASSERT_TRUE(store_->WatchTask(kA, t.uuid, late.Fn(), &final_snapshot).ok());
  EXPECT_TRUE(final_snapshot.finalized);
  EXPECT_EQ(final_snapshot.task.status, TaskStatus::kSuccess);
  EXPECT_TRUE(late.events().empty());
}

TEST_F(TaskStoreTest, WatchTaskOnlySeesItsTask) {
  const Task mine = MustCreate(kA, ImageToModel(1));
  Recorder rec;
  TaskEvent snapshot;
  ASSERT_TRUE(store_->WatchTask(kA, mine.uuid, rec.Fn(), &snapshot).ok());
  MustCreate(kA, ImageToModel(2));
  MustCreate(kB, ImageToModel(3));
  At(absl::Minutes(1));
  ASSERT_FALSE(rec.events().empty());
  for (const TaskEvent& e : rec.events()) EXPECT_EQ(e.task.uuid, mine.uuid);
}

TEST_F(TaskStoreTest, WatchAllSinceCatchUp) {
  const Task a = MustCreate(kA, ImageToModel(1));
  At(absl::Seconds(10));  // a: SUCCESS at t0 + 3.4 s
  ASSERT_EQ(MustGet(kA, a.uuid).status, TaskStatus::kSuccess);
  const absl::Time a_done = t0_ + kPending + kQueue + kRun;
  const Task b = MustCreate(kA, ImageToModel(2));  // updated at t0 + 10 s
  MustCreate(kB, ImageToModel(3));                 // another user's
  At(absl::Seconds(10) + absl::Milliseconds(50));

  {
    Recorder rec;
    std::vector<TaskEvent> catch_up;
    const uint64_t id =
        store_->WatchAll(kA, t0_ + absl::Seconds(5), rec.Fn(), &catch_up);
    ASSERT_EQ(catch_up.size(), 1u);
    EXPECT_EQ(catch_up[0].task.uuid, b.uuid);
    EXPECT_EQ(catch_up[0].task.status, TaskStatus::kPending);
    EXPECT_FALSE(catch_up[0].finalized);
    store_->Unwatch(id);
  }
  {
    // "At or after": a task updated exactly at `since` is included, and the
    // catch-up is in update order with the latest state of each task.
    Recorder rec;
    std::vector<TaskEvent> catch_up;
    const uint64_t id = store_->WatchAll(kA, a_done, rec.Fn(), &catch_up);
    ASSERT_EQ(catch_up.size(), 2u);
    EXPECT_EQ(catch_up[0].task.uuid, a.uuid);
    EXPECT_EQ(catch_up[0].task.status, TaskStatus::kSuccess);
    EXPECT_TRUE(catch_up[0].finalized);
    EXPECT_EQ(catch_up[1].task.uuid, b.uuid);
    store_->Unwatch(id);
  }
  {
    Recorder rec;
    std::vector<TaskEvent> catch_up;
    const uint64_t id = store_->WatchAll(kA, a_done + absl::Nanoseconds(1),
                                         rec.Fn(), &catch_up);
    ASSERT_EQ(catch_up.size(), 1u);
    EXPECT_EQ(catch_up[0].task.uuid, b.uuid);
    store_->Unwatch(id);
  }
  {
    Recorder rec;
    std::vector<TaskEvent> catch_up;
    const uint64_t id =
        store_->WatchAll(kA, t0_ - absl::Hours(1), rec.Fn(), &catch_up);
    EXPECT_EQ(catch_up.size(), 2u);
    store_->Unwatch(id);
  }
  // Without `since` (or with one in the future) there is no catch-up, only
  // live events, and only for this user's tasks.
  Recorder live;
  std::vector<TaskEvent> none;
  store_->WatchAll(kA, std::nullopt, live.Fn(), &none);
  EXPECT_TRUE(none.empty());
  std::vector<TaskEvent> future;
  Recorder unused;
  store_->Unwatch(
      store_->WatchAll(kA, t0_ + absl::Hours(1), unused.Fn(), &future));
  EXPECT_TRUE(future.empty());

  const Task c = MustCreate(kA, ImageToModel(4));
  ASSERT_EQ(live.events().size(), 1u);
  EXPECT_EQ(live.events()[0].task.uuid, c.uuid);
  EXPECT_EQ(live.events()[0].task.status, TaskStatus::kPending);
  At(absl::Minutes(1));
  EXPECT_EQ(live.For(b.uuid).size(), 22u);
  EXPECT_EQ(live.For(c.uuid).size(), 23u);
  EXPECT_TRUE(live.For(a.uuid).empty());
  EXPECT_EQ(live.events().size(), 45u);
}

TEST_F(TaskStoreTest, UnwatchStopsEvents) {
  const Task t = MustCreate(kA, ImageToModel());
  Recorder one, all;
  TaskEvent snapshot;
  auto one_id = store_->WatchTask(kA, t.uuid, one.Fn(), &snapshot);
  ASSERT_TRUE(one_id.ok());
  std::vector<TaskEvent> catch_up;
  const uint64_t all_id =
      store_->WatchAll(kA, std::nullopt, all.Fn(), &catch_up);
  EXPECT_NE(*one_id, all_id);
  EXPECT_EQ(store_->Stats().watchers, 2);

  At(kPending + kQueue + kStep * 3);
  const size_t seen = one.events().size();
  EXPECT_EQ(seen, 5u);  // QUEUED, RUNNING 0, 5, 10, 15
  EXPECT_EQ(all.events().size(), seen);
  store_->Unwatch(*one_id);
  store_->Unwatch(all_id);
  store_->Unwatch(all_id);    // twice is harmless
  store_->Unwatch(12345678);  // unknown too
  EXPECT_EQ(store_->Stats().watchers, 0);

  At(absl::Minutes(1));
  MustCreate(kA, ImageToModel(2));
  At(absl::Minutes(2));
  EXPECT_EQ(one.events().size(), seen);
  EXPECT_EQ(all.events().size(), seen);
  EXPECT_EQ(MustGet(kA, t.uuid).status, TaskStatus::kSuccess);
}

TEST_F(TaskStoreTest, BigClockJumpEmitsEveryStepInTimeOrder) {
  EngineOptions o = DefaultOptions();
  o.workers_per_key = 2;
  Init(o);
  Recorder rec;
  std::vector<TaskEvent> catch_up;
  store_->WatchAll(kA, std::nullopt, rec.Fn(), &catch_up);
  Recorder other;
  store_->WatchAll(kB, std::nullopt, other.Fn(), &catch_up);
  std::vector<std::string> ids;
  for (int i = 0; i < 4; ++i) {
    clock_.Set(t0_ + absl::Milliseconds(70 * i));
    ids.push_back(MustCreate(kA, ImageToModel(i)).uuid);
  }
  MustCreate(kB, ImageToModel(9));

  // One jump of an hour: every intermediate step is still emitted, with the
  // time it happened at.
  At(absl::Hours(1));
  const std::vector<TaskEvent>& ev = rec.events();
  ASSERT_EQ(ev.size(), 4u * 23u);
  for (size_t i = 1; i < ev.size(); ++i) {
    EXPECT_GE(ev[i].task.updated_at, ev[i - 1].task.updated_at) << i;
  }
  for (int i = 0; i < 4; ++i) {
    SCOPED_TRACE(i);
    std::vector<TaskEvent> mine = rec.For(ids[i]);
    ASSERT_EQ(mine.size(), 23u);
    EXPECT_EQ(mine[0].task.status, TaskStatus::kPending);
    EXPECT_EQ(mine[1].task.status, TaskStatus::kQueued);
    EXPECT_EQ(mine[1].task.updated_at,
              t0_ + absl::Milliseconds(70 * i) + kPending);
    EXPECT_EQ(mine[2].task.status, TaskStatus::kRunning);
    int finalized = 0;
    for (size_t k = 1; k < mine.size(); ++k) {
      EXPECT_GE(mine[k].task.progress, mine[k - 1].task.progress) << k;
      EXPECT_GT(mine[k].task.updated_at, mine[k - 1].task.updated_at) << k;
      EXPECT_EQ(mine[k].task.version, mine[k - 1].task.version + 1) << k;
    }
    for (size_t k = 2; k < 22; ++k) {
      EXPECT_EQ(mine[k].task.progress, 5 * static_cast<int>(k - 2)) << k;
    }
    for (const TaskEvent& e : mine) finalized += e.finalized ? 1 : 0;
    EXPECT_EQ(finalized, 1);
    EXPECT_TRUE(mine.back().finalized);
    EXPECT_EQ(mine.back().task.status, TaskStatus::kSuccess);
    EXPECT_EQ(mine.back().task.progress, 100);
  }
  // Tasks 2 and 3 start when 0 and 1 finish, not at the jump.
  const absl::Time end0 = t0_ + kPending + kQueue + kRun;
  EXPECT_EQ(*rec.For(ids[2])[2].task.started_at, end0);
  EXPECT_EQ(*rec.For(ids[3])[2].task.started_at, end0 + absl::Milliseconds(70));
  // The other user's watcher only saw the other user's task.
  ASSERT_EQ(other.events().size(), 23u);
  for (const TaskEvent& e : other.events()) {
    EXPECT_EQ(e.task.account, kB);
  }
}

TEST_F(TaskStoreTest, ListNewestFirst) {
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i)
    ids.push_back(MustCreate(kA, ImageToModel(i)).uuid);
  MustCreate(kB, ImageToModel(7));
  int64_t total = 0;
  std::vector<Task> page = store_->List(kA, 0, 2, &total);
  EXPECT_EQ(total, 5);
  ASSERT_EQ(page.size(), 2u);
  EXPECT_EQ(page[0].uuid, ids[4]);
  EXPECT_EQ(page[1].uuid, ids[3]);
  page = store_->List(kA, 4, 2, &total);
  ASSERT_EQ(page.size(), 1u);
  EXPECT_EQ(page[0].uuid, ids[0]);
  EXPECT_TRUE(store_->List(kA, 5, 2, &total).empty());
}

}  // namespace
}  // namespace triverse::emulator
