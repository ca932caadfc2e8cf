// Real WebSocket connections (libcurl ws://) to an in-process emulator on
// 127.0.0.1:0. Time moves only through the FakeClock (AdvanceBy); the tests
// block on WebSocketClient::Next and never sleep to wait for an event.
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "rapidjson/document.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"
#include "tests/emulator/testing_util/http_client.h"
#include "tests/emulator/testing_util/test_emulator.h"

namespace triverse::testing_util {
namespace {

using State = WebSocketClient::State;

constexpr absl::Duration kWait = absl::Seconds(10);         // an expected frame
constexpr absl::Duration kQuiet = absl::Milliseconds(250);  // no frame
constexpr char kReadAfterWrite[] = "X-Triverse-Read-After-Write: 1";

// The whole life of a task under DefaultOptions: 0.5 s PENDING, 0.5 s
// QUEUED, 10 s RUNNING.
constexpr absl::Duration kLifetime = absl::Seconds(12);

std::string ToJson(const rapidjson::Value& v) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  v.Accept(w);
  return std::string(buf.GetString(), buf.GetSize());
}

// Frame is one WebSocket message read the way the docs' JavaScript example
// reads it: split on "\n", the event name after "event: " on line 0, the JSON
// after "data: " on line 1.
struct Frame {
  bool ok = false;
  std::string raw;
  std::string event;
  std::string data_line;
  rapidjson::Document data;  // the bare status payload (envelope removed)

  std::string uuid() const {
    return ok && data.IsObject() && data.HasMember("task_uuid") &&
                   data["task_uuid"].IsString()
               ? data["task_uuid"].GetString()
               : "";
  }
  std::string status() const {
    return ok && data.IsObject() && data.HasMember("status") &&
                   data["status"].IsString()
               ? data["status"].GetString()
               : "";
  }
  int progress() const {
    return ok && data.IsObject() && data.HasMember("progress") &&
                   data["progress"].IsInt()
               ? data["progress"].GetInt()
               : -1;
  }
};

// ParseFrame checks the record format strictly: exactly two lines (or two
// lines and a blank one with `trailing_blank_line`), known event name,
// single-line JSON object.
Frame ParseFrame(const std::string& message, bool trailing_blank_line = false,
                 bool enveloped = false) {
  Frame f;
  f.raw = message;
  std::vector<std::string> lines = absl::StrSplit(message, '\n');
  if (trailing_blank_line) {
    EXPECT_TRUE(absl::EndsWith(message, "\n\n")) << message;
    EXPECT_EQ(lines.size(), 4u) << message;
    if (lines.size() != 4 || !lines[2].empty() || !lines[3].empty()) {
      ADD_FAILURE() << "not two lines and a blank line: " << message;
      return f;
    }
  } else if (lines.size() != 2) {
    ADD_FAILURE() << "not exactly two lines: " << message;
    return f;
  }
  if (!absl::StartsWith(lines[0], "event: ") ||
      !absl::StartsWith(lines[1], "data: ")) {
    ADD_FAILURE() << "bad record: " << message;
    return f;
  }
  f.event = lines[0].substr(7);
  f.data_line = lines[1].substr(6);
  EXPECT_TRUE(f.event == "update" || f.event == "finalized") << f.event;
  EXPECT_FALSE(absl::StrContains(f.data_line, "\r")) << message;
  rapidjson::Document doc;
  if (doc.Parse(f.data_line.c_str()).HasParseError() || !doc.IsObject()) {
    ADD_FAILURE() << "data is not a JSON object: " << f.data_line;
    return f;
  }
  if (enveloped) {
    if (!doc.HasMember("code") || !doc["code"].IsInt() ||
        doc["code"].GetInt() != 0 || !doc.HasMember("message") ||
        !doc["message"].IsString() ||
        std::string(doc["message"].GetString()) != "success" ||
        !doc.HasMember("data") || !doc["data"].IsObject() ||
        doc.MemberCount() != 3) {
      ADD_FAILURE() << "data is not enveloped: " << f.data_line;
      return f;
    }
    f.data.CopyFrom(doc["data"], f.data.GetAllocator());
  } else {
    if (doc.HasMember("code") || doc.HasMember("data")) {
      ADD_FAILURE() << "data is enveloped: " << f.data_line;
      return f;
    }
    f.data.Swap(doc);
  }
  f.ok = true;
  return f;
}

// ParseEnvelope returns `data` of a {"code":0,"message":"success",...} body.
rapidjson::Document ParseEnvelope(const HttpResponse& r) {
  rapidjson::Document doc;
  rapidjson::Document data;
  EXPECT_EQ(r.status, 200) << r.body;
  if (doc.Parse(r.body.c_str()).HasParseError() || !doc.IsObject() ||
      !doc.HasMember("data")) {
    ADD_FAILURE() << "not an envelope: " << r.body;
    data.SetNull();
    return data;
  }
  EXPECT_EQ(doc["code"].GetInt(), 0) << r.body;
  data.CopyFrom(doc["data"], data.GetAllocator());
  return data;
}

class WebSocketTest : public ::testing::Test {
 protected:
  void SetUp() override { Start(TestEmulator::DefaultOptions()); }

  void Start(emulator::EmulatorOptions options) {
    emu_ = std::make_unique<TestEmulator>(std::move(options));
    ASSERT_TRUE(emu_->start_status().ok()) << emu_->start_status();
  }

  TestEmulator& emu() { return *emu_; }

  // CreateTask creates an image-to-model task (PENDING) and returns its
  // uuid.
  std::string CreateTask(const std::string& key = kKeyA) {
    static std::atomic<int> order{0};
    HttpResponse r =
        HttpPost(emu().Api("/tasks/image-to-model"),
                 absl::StrCat(R"({"image_file":"https://example.com/in.png",)",
                              R"("client_order_id":"ws-)", ++order, R"("})"),
                 {Bearer(key)});
    rapidjson::Document data = ParseEnvelope(r);
    if (!data.IsObject() || !data.HasMember("task_uuid")) {
      ADD_FAILURE() << "create failed: " << r.body;
      return "";
    }
    EXPECT_EQ(std::string(data["status"].GetString()), "PENDING");
    return data["task_uuid"].GetString();
  }

  // GetTask returns `data` of GET /tasks/{uuid}.
  rapidjson::Document GetTask(const std::string& uuid,
                              const std::string& key = kKeyA) {
    return ParseEnvelope(HttpGet(emu().Api(absl::StrCat("/tasks/", uuid)),
                                 {Bearer(key), kReadAfterWrite}));
  }

  void SetFaults(const std::string& json) {
    HttpResponse r = HttpPost(emu().Url("/_emulator/faults"), json);
    ASSERT_EQ(r.status, 200) << r.body;
  }

  std::string WatchUrl(const std::string& uuid,
                       const std::string& key = kKeyA) {
    return emu().Ws(absl::StrCat("/tasks/watch/", uuid, "?token=", key));
  }

  std::string WatchAllUrl(const std::string& key = kKeyA,
                          const std::string& since = "") {
    return emu().Ws(absl::StrCat("/tasks/watch/all?token=", key,
                                 since.empty() ? "" : "&since=", since));
  }

  // Dial connects and expects the upgrade to succeed.
  std::unique_ptr<WebSocketClient> Dial(const std::string& url) {
    long status = 0;
    auto client = WebSocketClient::Connect(url, &status);
    EXPECT_NE(client, nullptr) << url << " refused with " << status;
    return client;
  }

  // Refusal connects and returns the HTTP status of the refused upgrade.
  long Refusal(const std::string& url) {
    long status = 0;
    auto client = WebSocketClient::Connect(url, &status);
    EXPECT_EQ(client, nullptr) << url << " was upgraded";
    return status;
  }

  // NextFrame expects one more message and parses it.
  Frame NextFrame(WebSocketClient& c, bool trailing = false,
                  bool enveloped = false) {
    std::optional<std::string> m = c.Next(kWait);
    if (!m) {
      ADD_FAILURE() << "no frame; state " << static_cast<int>(c.state());
      return Frame{};
    }
    return ParseFrame(*m, trailing, enveloped);
  }

  // ReadUntilFinalized reads frames up to and including the first
  // `finalized` one (or until the connection ends).
  std::vector<Frame> ReadUntilFinalized(WebSocketClient& c) {
    std::vector<Frame> frames;
    for (int i = 0; i < 1000; ++i) {
      std::optional<std::string> m = c.Next(kWait);
      if (!m) break;
      frames.push_back(ParseFrame(*m));
      if (frames.back().event == "finalized") break;
    }
    return frames;
  }

  // ExpectClosedNormally expects the next read to see a close frame 1000.
  void ExpectClosedNormally(WebSocketClient& c) {
    std::optional<std::string> m = c.Next(kWait);
    EXPECT_FALSE(m.has_value()) << "unexpected frame after finalized: " << *m;
    EXPECT_EQ(c.state(), State::kClosed);
    EXPECT_EQ(c.close_code(), 1000);
  }

  // ExpectStaysOpen expects no message for a while on an open socket.
  void ExpectStaysOpen(WebSocketClient& c) {
    std::optional<std::string> m = c.Next(kQuiet);
    EXPECT_FALSE(m.has_value()) << "unexpected frame: " << *m;
    EXPECT_EQ(c.state(), State::kOpen);
  }

  // ExpectSameAsGet compares a frame's data with GET /tasks/{uuid} now.
  void ExpectSameAsGet(const Frame& f, const std::string& key = kKeyA) {
    ASSERT_TRUE(f.ok);
    rapidjson::Document got = GetTask(f.uuid(), key);
    EXPECT_TRUE(f.data == got)
        << "frame: " << ToJson(f.data) << "\nGET:   " << ToJson(got);
  }

  struct Stats {
    int64_t open = -1;
    int64_t total = -1;
  };
  Stats WebSocketStats() {
    HttpResponse r = HttpGet(emu().Url("/_emulator/stats"));
    rapidjson::Document doc;
    Stats s;
    if (r.status != 200 || doc.Parse(r.body.c_str()).HasParseError() ||
        !doc.HasMember("websocket")) {
      ADD_FAILURE() << "bad stats: " << r.body;
      return s;
    }
    s.open = doc["websocket"]["open"].GetInt64();
    s.total = doc["websocket"]["total"].GetInt64();
    return s;
  }
  // FaultCount reads faults_by_kind[kind] from the stats (0 if absent).
  int64_t FaultCount(const char* kind) {
    HttpResponse r = HttpGet(emu().Url("/_emulator/stats"));
    rapidjson::Document doc;
    if (r.status != 200 || doc.Parse(r.body.c_str()).HasParseError() ||
        !doc.HasMember("faults_by_kind")) {
      ADD_FAILURE() << "bad stats: " << r.body;
      return -1;
    }
    const rapidjson::Value& k = doc["faults_by_kind"];
    return k.HasMember(kind) ? k[kind].GetInt64() : 0;
  }
  // WaitForOpen polls the stats until `open` sockets are counted: a closed
  // socket is counted down on the server's own threads.
  int64_t WaitForOpen(int64_t open) {
    const absl::Time deadline = absl::Now() + kWait;
    Stats s = WebSocketStats();
    while (s.open != open && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(2));
      s = WebSocketStats();
    }
    return s.open;
  }

  static std::string Iso(absl::Time t) {
    return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
  }

  std::unique_ptr<TestEmulator> emu_;
};

// ------------------------------------------------------------ watch/{uuid}

TEST_F(WebSocketTest, EveryFrameIsTheDocumentedRecordWithTheGetPayload) {
  const std::string uuid = CreateTask();
  auto ws = Dial(WatchUrl(uuid));
  ASSERT_NE(ws, nullptr);

  Frame first = NextFrame(*ws);
  ASSERT_TRUE(first.ok);
  EXPECT_EQ(first.raw, absl::StrCat("event: update\ndata: ", first.data_line));
  EXPECT_EQ(first.event, "update");
  EXPECT_EQ(first.uuid(), uuid);
  EXPECT_EQ(first.status(), "PENDING");
  ExpectSameAsGet(first);

  // One change per step: QUEUED, RUNNING 0, RUNNING 10 ... 90, SUCCESS.
  std::vector<absl::Duration> steps = {absl::Milliseconds(500),
                                       absl::Milliseconds(500)};
  for (int i = 0; i < 10; ++i) steps.push_back(absl::Seconds(1));
  for (absl::Duration step : steps) {
    emu().AdvanceBy(step);
    Frame f = NextFrame(*ws);
    ASSERT_TRUE(f.ok);
    EXPECT_EQ(f.raw, absl::StrCat("event: ", f.event, "\ndata: ", f.data_line));
    EXPECT_EQ(f.event, f.status() == "SUCCESS" ? "finalized" : "update");
    ExpectSameAsGet(f);
  }
  ExpectClosedNormally(*ws);
}

TEST_F(WebSocketTest, UpdateOnEveryChangeInOrderThenOneFinalizedThenClose) {
  const std::string uuid = CreateTask();
  auto ws = Dial(WatchUrl(uuid));
  ASSERT_NE(ws, nullptr);
  ASSERT_EQ(NextFrame(*ws).status(), "PENDING");

  emu().AdvanceBy(kLifetime);
  std::vector<Frame> frames = ReadUntilFinalized(*ws);
  std::vector<std::string> seen;
  for (const Frame& f : frames) {
    EXPECT_EQ(f.uuid(), uuid);
    seen.push_back(absl::StrCat(f.event, " ", f.status(), " ", f.progress()));
  }
  std::vector<std::string> want = {"update QUEUED 0", "update RUNNING 0"};
  for (int p = 10; p <= 90; p += 10) {
    want.push_back(absl::StrCat("update RUNNING ", p));
  }
  want.push_back("finalized SUCCESS 100");
  EXPECT_EQ(seen, want);
  for (size_t i = 1; i < frames.size(); ++i) {
    EXPECT_GE(frames[i].progress(), frames[i - 1].progress());
  }
  ASSERT_FALSE(frames.empty());
  ExpectSameAsGet(frames.back());
  ExpectClosedNormally(*ws);
}

TEST_F(WebSocketTest, FailedTaskEndsWithFinalized) {
  SetFaults(R"({"tasks":{"failure_rate":1}})");
  const std::string uuid = CreateTask();
  auto ws = Dial(WatchUrl(uuid));
  ASSERT_NE(ws, nullptr);
  ASSERT_EQ(NextFrame(*ws).status(), "PENDING");
  emu().AdvanceBy(kLifetime);
  std::vector<Frame> frames = ReadUntilFinalized(*ws);
  ASSERT_FALSE(frames.empty());
  const Frame& last = frames.back();
  EXPECT_EQ(last.event, "finalized");
  EXPECT_EQ(last.status(), "FAILED");
  ASSERT_TRUE(last.ok);
  EXPECT_TRUE(last.data["error"].IsObject());
  EXPECT_TRUE(last.data["output"].IsNull());
  EXPECT_TRUE(last.data["completed_at"].IsString());
  for (size_t i = 0; i + 1 < frames.size(); ++i) {
    EXPECT_EQ(frames[i].event, "update");
  }
  ExpectSameAsGet(last);
  ExpectClosedNormally(*ws);
}

TEST_F(WebSocketTest, CancelledTaskEndsWithFinalized) {
  const std::string uuid = CreateTask();
  auto ws = Dial(WatchUrl(uuid));
  ASSERT_NE(ws, nullptr);
  ASSERT_EQ(NextFrame(*ws).status(), "PENDING");
  emu().AdvanceBy(absl::Seconds(3));  // RUNNING 20
  HttpResponse cancel = HttpPost(
      emu().Url(absl::StrCat("/_emulator/tasks/", uuid, "/cancel")), "");
  ASSERT_EQ(cancel.status, 200) << cancel.body;
  std::vector<Frame> frames = ReadUntilFinalized(*ws);
  ASSERT_FALSE(frames.empty());
  EXPECT_EQ(frames.back().event, "finalized");
  EXPECT_EQ(frames.back().status(), "CANCELLED");
  EXPECT_EQ(frames[frames.size() - 2].status(), "RUNNING");
  ExpectSameAsGet(frames.back());
  ExpectClosedNormally(*ws);
}

TEST_F(WebSocketTest, TaskTerminalAtConnectGivesFinalizedAtOnceThenClose) {
  const std::string uuid = CreateTask();
  emu().AdvanceBy(kLifetime);
  ASSERT_EQ(std::string(GetTask(uuid)["status"].GetString()), "SUCCESS");
  auto ws = Dial(WatchUrl(uuid));
  ASSERT_NE(ws, nullptr);
  Frame f = NextFrame(*ws);
  EXPECT_EQ(f.event, "finalized");
  EXPECT_EQ(f.status(), "SUCCESS");
  EXPECT_EQ(f.progress(), 100);
  ExpectSameAsGet(f);
  ExpectClosedNormally(*ws);
}

// ------------------------------------------------------------- refusals

TEST_F(WebSocketTest, MissingOrBadTokenIsRefusedWith401) {
  const std::string uuid = CreateTask();
  EXPECT_EQ(Refusal(emu().Ws(absl::StrCat("/tasks/watch/", uuid))), 401);
  EXPECT_EQ(Refusal(WatchUrl(uuid, "wrong-key")), 401);
  EXPECT_EQ(Refusal(WatchUrl(uuid, "")), 401);
  EXPECT_EQ(Refusal(emu().Ws("/tasks/watch/all")), 401);
  EXPECT_EQ(Refusal(WatchAllUrl("wrong-key")), 401);
  // A refused upgrade never counts as a WebSocket connection.
  EXPECT_EQ(WebSocketStats().total, 0);
}

TEST_F(WebSocketTest, BadTokenIsRefusedWith403WhenConfigured) {
  emulator::EmulatorOptions options = TestEmulator::DefaultOptions();
  options.auth_failure_status = 403;
  Start(options);
  const std::string uuid = CreateTask();
  EXPECT_EQ(Refusal(WatchUrl(uuid, "wrong-key")), 403);
  EXPECT_EQ(Refusal(emu().Ws(absl::StrCat("/tasks/watch/", uuid))), 403);
  EXPECT_EQ(Refusal(WatchAllUrl("wrong-key")), 403);
}

TEST_F(WebSocketTest, AnotherKeysTaskOrUnknownTaskIsRefusedWith404) {
  const std::string uuid = CreateTask(kKeyA);
  EXPECT_EQ(Refusal(WatchUrl(uuid, kKeyB)), 404);
  EXPECT_EQ(Refusal(WatchUrl("00000000-0000-4000-8000-000000000000")), 404);
  EXPECT_EQ(Refusal(WatchUrl("not-a-uuid!")), 404);
  // The owner is accepted.
  auto ws = Dial(WatchUrl(uuid, kKeyA));
  ASSERT_NE(ws, nullptr);
  EXPECT_EQ(NextFrame(*ws).uuid(), uuid);
}

TEST_F(WebSocketTest, PlainGetWithoutUpgradeGets426) {
  const std::string uuid = CreateTask();
  for (const std::string& path :
       {absl::StrCat("/tasks/watch/", uuid, "?token=", kKeyA),
        absl::StrCat("/tasks/watch/all?token=", kKeyA)}) {
    HttpResponse r = HttpGet(emu().Api(path));
    EXPECT_EQ(r.status, 426) << path << ": " << r.body;
    EXPECT_TRUE(absl::EqualsIgnoreCase(r.header("upgrade"), "websocket"))
        << r.header("upgrade");
  }
}

// -------------------------------------------------------------- watch/all

TEST_F(WebSocketTest, WatchAllStreamsOnlyTheKeysOwnTasksAndStaysOpen) {
  auto all_a = Dial(WatchAllUrl(kKeyA));
  auto all_b = Dial(WatchAllUrl(kKeyB));
  ASSERT_NE(all_a, nullptr);
  ASSERT_NE(all_b, nullptr);
  ExpectStaysOpen(*all_a);  // no since: no catch-up

  // B's task runs to the end first, so any leak to A's socket would arrive
  // before A's own events.
  const std::string b1 = CreateTask(kKeyB);
  emu().AdvanceBy(kLifetime);
  const std::string a1 = CreateTask(kKeyA);
  emu().AdvanceBy(kLifetime);

  std::vector<Frame> frames_b = ReadUntilFinalized(*all_b);
  ASSERT_FALSE(frames_b.empty());
  for (const Frame& f : frames_b) EXPECT_EQ(f.uuid(), b1);
  EXPECT_EQ(frames_b.front().status(), "PENDING");
  EXPECT_EQ(frames_b.back().status(), "SUCCESS");
  EXPECT_EQ(frames_b.size(), 13u);  // PENDING, QUEUED, RUNNING 0-90, SUCCESS

  std::vector<Frame> frames_a = ReadUntilFinalized(*all_a);
  ASSERT_FALSE(frames_a.empty());
  for (const Frame& f : frames_a) EXPECT_EQ(f.uuid(), a1);
  EXPECT_EQ(frames_a.size(), 13u);
  EXPECT_EQ(frames_a.back().event, "finalized");
  ExpectSameAsGet(frames_a.back());

  // No close after a task's finalized: the socket goes on with new tasks.
  ExpectStaysOpen(*all_a);
  const std::string a2 = CreateTask(kKeyA);
  Frame next = NextFrame(*all_a);
  EXPECT_EQ(next.uuid(), a2);
  EXPECT_EQ(next.status(), "PENDING");
  ExpectSameAsGet(next);
  ExpectStaysOpen(*all_b);
}

TEST_F(WebSocketTest, WatchAllMissesNothingOnceTheUpgradeIsDone) {
  // A task created right after the 101 arrives is streamed from its first
  // event: the server subscribes before it answers the upgrade.
  emulator::EmulatorOptions options = TestEmulator::DefaultOptions();
  options.engine.keys[0].credits = 1000000;
  Start(options);
  for (int i = 0; i < 20; ++i) {
    auto ws = Dial(WatchAllUrl(kKeyA));
    ASSERT_NE(ws, nullptr);
    const std::string uuid = CreateTask(kKeyA);
    Frame f = NextFrame(*ws);
    EXPECT_EQ(f.uuid(), uuid) << "attempt " << i;
    EXPECT_EQ(f.status(), "PENDING") << "attempt " << i;
  }
}

TEST_F(WebSocketTest, WatchAllSinceSendsTheCatchUpFirst) {
  const absl::Time t0 = emu().clock().Now();
  const std::string a1 = CreateTask(kKeyA);
  emu().AdvanceBy(kLifetime + absl::Seconds(5));  // a1 SUCCESS long ago
  const absl::Time since = emu().clock().Now();
  emu().AdvanceBy(absl::Seconds(1));
  const std::string a2 = CreateTask(kKeyA);
  emu().AdvanceBy(absl::Seconds(1));         // a2 RUNNING 0
  const std::string a3 = CreateTask(kKeyA);  // PENDING
  const std::string b1 = CreateTask(kKeyB);

  auto ws = Dial(WatchAllUrl(kKeyA, Iso(since)));
  ASSERT_NE(ws, nullptr);
  Frame c1 = NextFrame(*ws);
  Frame c2 = NextFrame(*ws);
  EXPECT_EQ(c1.uuid(), a2);
  EXPECT_EQ(c1.status(), "RUNNING");
  EXPECT_EQ(c2.uuid(), a3);
  EXPECT_EQ(c2.status(), "PENDING");
  ExpectSameAsGet(c1);
  ExpectSameAsGet(c2);
  ExpectStaysOpen(*ws);  // nothing else was updated since then

  // Then live events.
  emu().AdvanceBy(absl::Milliseconds(500));  // a3 QUEUED
  Frame live = NextFrame(*ws);
  EXPECT_EQ(live.uuid(), a3);
  EXPECT_EQ(live.status(), "QUEUED");

  // A since before everything catches up a1 too, as `finalized`, first (the
  // oldest update), and the socket stays open.
  auto ws_old = Dial(WatchAllUrl(kKeyA, Iso(t0 - absl::Seconds(1))));
  ASSERT_NE(ws_old, nullptr);
  std::vector<Frame> catch_up;
  for (int i = 0; i < 3; ++i) catch_up.push_back(NextFrame(*ws_old));
  EXPECT_EQ(catch_up[0].uuid(), a1);
  EXPECT_EQ(catch_up[0].event, "finalized");
  EXPECT_EQ(catch_up[0].status(), "SUCCESS");
  std::set<std::string> rest = {catch_up[1].uuid(), catch_up[2].uuid()};
  EXPECT_EQ(rest, (std::set<std::string>{a2, a3}));
  for (const Frame& f : catch_up) {
    EXPECT_NE(f.uuid(), b1);
    ExpectSameAsGet(f);
  }
  ExpectStaysOpen(*ws_old);
}

TEST_F(WebSocketTest, WatchAllSinceInTheFutureGivesNoCatchUp) {
  CreateTask(kKeyA);
  emu().AdvanceBy(absl::Seconds(2));
  auto ws =
      Dial(WatchAllUrl(kKeyA, Iso(emu().clock().Now() + absl::Hours(24))));
  ASSERT_NE(ws, nullptr);
  ExpectStaysOpen(*ws);
  const std::string a2 = CreateTask(kKeyA);
  Frame f = NextFrame(*ws);
  EXPECT_EQ(f.uuid(), a2);
  EXPECT_EQ(f.status(), "PENDING");
}

TEST_F(WebSocketTest, WatchAllBadSinceIsRefusedWith400) {
  EXPECT_EQ(Refusal(WatchAllUrl(kKeyA, "yesterday")), 400);
  EXPECT_EQ(Refusal(WatchAllUrl(kKeyA, "2026-13-45T99:00:00Z")), 400);
  EXPECT_EQ(Refusal(WatchAllUrl(kKeyA, "1779885588")), 400);
  // The documented example is accepted.
  auto ws = Dial(WatchAllUrl(kKeyA, "2026-02-09T00:00:00Z"));
  EXPECT_NE(ws, nullptr);
}

// ----------------------------------------------------------------- faults

TEST_F(WebSocketTest, DropAfterFramesDropsWithoutCloseFrame) {
  SetFaults(R"({"websocket":{"drop_after_frames":3}})");
  const std::string uuid = CreateTask();
  auto ws = Dial(WatchUrl(uuid));
  ASSERT_NE(ws, nullptr);
  ASSERT_EQ(NextFrame(*ws).status(), "PENDING");  // subscribed
  emu().AdvanceBy(kLifetime);
  int messages = 1;
  while (ws->Next(kWait).has_value()) ++messages;
  EXPECT_EQ(messages, 3);
  EXPECT_EQ(ws->state(), State::kDropped);
  EXPECT_EQ(ws->close_code(), 0);
}

TEST_F(WebSocketTest, ReconnectAfterDropResumesWithCurrentState) {
  SetFaults(R"({"websocket":{"drop_after_frames":2}})");
  const std::string uuid = CreateTask();
  auto ws = Dial(WatchUrl(uuid));
  ASSERT_NE(ws, nullptr);
  EXPECT_EQ(NextFrame(*ws).status(), "PENDING");
  emu().AdvanceBy(absl::Seconds(1));  // QUEUED, RUNNING 0
  EXPECT_EQ(NextFrame(*ws).status(), "QUEUED");
  EXPECT_FALSE(ws->Next(kWait).has_value());
  EXPECT_EQ(ws->state(), State::kDropped);

  emu().AdvanceBy(absl::Seconds(3));  // RUNNING 30 while disconnected
  SetFaults(R"({"reset":true})");
  auto again = Dial(WatchUrl(uuid));
  ASSERT_NE(again, nullptr);
  Frame resumed = NextFrame(*again);
  EXPECT_EQ(resumed.event, "update");
  EXPECT_EQ(resumed.status(), "RUNNING");
  EXPECT_EQ(resumed.progress(), 30);
  ExpectSameAsGet(resumed);
  emu().AdvanceBy(kLifetime);
  std::vector<Frame> frames = ReadUntilFinalized(*again);
  ASSERT_EQ(frames.size(), 7u);  // 40 ... 90, SUCCESS
  EXPECT_EQ(frames.front().progress(), 40);
  EXPECT_EQ(frames.back().event, "finalized");
  EXPECT_EQ(frames.back().status(), "SUCCESS");
  ExpectClosedNormally(*again);
}

TEST_F(WebSocketTest, FinalizedWithoutCloseKeepsTheSocketOpen) {
  SetFaults(R"({"websocket":{"finalized_without_close":true}})");
  const std::string uuid = CreateTask();
  auto ws = Dial(WatchUrl(uuid));
  ASSERT_NE(ws, nullptr);
  Frame first = NextFrame(*ws);  // subscribed
  ASSERT_EQ(first.status(), "PENDING");
  emu().AdvanceBy(kLifetime);
  std::vector<Frame> frames = ReadUntilFinalized(*ws);
  ASSERT_FALSE(frames.empty());
  EXPECT_EQ(frames.back().event, "finalized");
  EXPECT_EQ(frames.back().status(), "SUCCESS");
  ExpectStaysOpen(*ws);
  EXPECT_EQ(ws->close_code(), 0);
}

TEST_F(WebSocketTest, CloseWithoutFinalizedClosesInsteadOfFinalized) {
  SetFaults(R"({"websocket":{"close_without_finalized":true}})");
  const std::string uuid = CreateTask();
  auto ws = Dial(WatchUrl(uuid));
  ASSERT_NE(ws, nullptr);
  Frame first = NextFrame(*ws);  // subscribed
  ASSERT_EQ(first.status(), "PENDING");
  emu().AdvanceBy(kLifetime);
  std::vector<Frame> frames;
  frames.push_back(std::move(first));
  while (auto m = ws->Next(kWait)) frames.push_back(ParseFrame(*m));
  EXPECT_EQ(ws->state(), State::kClosed);
  EXPECT_EQ(ws->close_code(), 1000);
  ASSERT_FALSE(frames.empty());
  for (const Frame& f : frames) {
    EXPECT_EQ(f.event, "update");
    EXPECT_NE(f.status(), "SUCCESS");
  }
  EXPECT_EQ(frames.size(), 12u);  // PENDING, QUEUED, RUNNING 0 ... 90

  // A task already terminal at connect: the close comes straight away.
  auto late = Dial(WatchUrl(uuid));
  ASSERT_NE(late, nullptr);
  EXPECT_FALSE(late->Next(kWait).has_value());
  EXPECT_EQ(late->state(), State::kClosed);
}

TEST_F(WebSocketTest, ReplayDuplicateRepeatsEveryCatchUpEvent) {
  SetFaults(R"({"websocket":{"replay_duplicate_rate":1}})");
  const absl::Time since = emu().clock().Now() - absl::Seconds(1);
  const std::string a1 = CreateTask(kKeyA);
  emu().AdvanceBy(kLifetime);
  const std::string a2 = CreateTask(kKeyA);
  emu().AdvanceBy(absl::Seconds(2));
  const std::string a3 = CreateTask(kKeyA);

  auto ws = Dial(WatchAllUrl(kKeyA, Iso(since)));
  ASSERT_NE(ws, nullptr);
  std::vector<std::string> uuids;
  for (int i = 0; i < 3; ++i) {
    Frame first = NextFrame(*ws);
    Frame second = NextFrame(*ws);
    EXPECT_EQ(first.raw, second.raw);
    uuids.push_back(first.uuid());
  }
  EXPECT_EQ(uuids, (std::vector<std::string>{a1, a2, a3}));
  ExpectStaysOpen(*ws);

  // Live events are not repeated.
  const std::string a4 = CreateTask(kKeyA);
  EXPECT_EQ(NextFrame(*ws).uuid(), a4);
  ExpectStaysOpen(*ws);
}

TEST_F(WebSocketTest, TrailingBlankLineEndsFramesWithTwoNewlines) {
  SetFaults(R"({"websocket":{"trailing_blank_line":true}})");
  const std::string uuid = CreateTask();
  auto ws = Dial(WatchUrl(uuid));
  ASSERT_NE(ws, nullptr);
  Frame first = NextFrame(*ws, /*trailing=*/true);
  EXPECT_EQ(first.raw,
            absl::StrCat("event: update\ndata: ", first.data_line, "\n\n"));
  ExpectSameAsGet(first);
  emu().AdvanceBy(kLifetime);
  for (int i = 0; i < 12; ++i) {
    Frame f = NextFrame(*ws, /*trailing=*/true);
    ASSERT_TRUE(f.ok);
    EXPECT_EQ(f.event, i == 11 ? "finalized" : "update");
  }
  ExpectClosedNormally(*ws);
}

TEST_F(WebSocketTest, EnvelopedDataWrapsThePayload) {
  SetFaults(R"({"websocket":{"enveloped_data":true}})");
  const std::string uuid = CreateTask();
  auto ws = Dial(WatchUrl(uuid));
  ASSERT_NE(ws, nullptr);
  Frame first = NextFrame(*ws, false, /*enveloped=*/true);
  EXPECT_EQ(first.uuid(), uuid);
  ExpectSameAsGet(first);
  emu().AdvanceBy(kLifetime);
  Frame last;
  for (int i = 0; i < 12; ++i) last = NextFrame(*ws, false, true);
  EXPECT_EQ(last.event, "finalized");
  EXPECT_EQ(last.status(), "SUCCESS");
  ExpectSameAsGet(last);
  ExpectClosedNormally(*ws);
}

TEST_F(WebSocketTest, DropRateOneDropsAfterTheFirstFrameAndIsCounted) {
  SetFaults(R"({"websocket":{"drop_rate":1}})");
  const std::string uuid = CreateTask();
  auto ws = Dial(WatchUrl(uuid));
  ASSERT_NE(ws, nullptr);
  ASSERT_EQ(NextFrame(*ws).status(), "PENDING");
  emu().AdvanceBy(kLifetime);
  EXPECT_FALSE(ws->Next(kWait).has_value());
  EXPECT_EQ(ws->state(), State::kDropped);
  EXPECT_EQ(ws->close_code(), 0);
  EXPECT_EQ(FaultCount("ws_drop"), 1);
}

TEST_F(WebSocketTest, SilentRateOneMakesTheSocketSilentAndIsCounted) {
  SetFaults(R"({"websocket":{"silent_rate":1}})");
  const std::string uuid = CreateTask();
  auto ws = Dial(WatchUrl(uuid));
  ASSERT_NE(ws, nullptr);
  emu().AdvanceBy(kLifetime);
  ExpectStaysOpen(*ws);
  EXPECT_EQ(FaultCount("ws_silent"), 1);
}

TEST_F(WebSocketTest, SilentAndDropRatesHitSomeSocketsOnly) {
  // Deterministic for the seed: of 30 sockets some are silent, some drop
  // after a frame, and the others keep streaming.
  SetFaults(R"({"seed":7,"websocket":{"silent_rate":0.3,"drop_rate":0.3}})");
  const std::string uuid = CreateTask();
  std::vector<std::unique_ptr<WebSocketClient>> clients;
  for (int i = 0; i < 30; ++i) {
    clients.push_back(Dial(WatchUrl(uuid)));
    ASSERT_NE(clients.back(), nullptr);
  }
  std::vector<WebSocketClient*> talking;
  for (auto& c : clients) {
    if (c->Next(kQuiet).has_value()) talking.push_back(c.get());
  }
  const int64_t silent = 30 - static_cast<int64_t>(talking.size());
  EXPECT_EQ(FaultCount("ws_silent"), silent);
  EXPECT_GT(silent, 0);
  EXPECT_LT(silent, 30);
  emu().AdvanceBy(kLifetime);
  int dropped = 0, alive = 0;
  for (WebSocketClient* c : talking) {
    // The drop comes before the next frame, or the next frame comes.
    if (c->Next(kWait).has_value()) {
      ++alive;
    } else {
      EXPECT_EQ(c->state(), State::kDropped);
      ++dropped;
    }
  }
  EXPECT_GT(dropped, 0);
  EXPECT_GT(alive, 0);
  EXPECT_GE(FaultCount("ws_drop"), dropped);
}

TEST_F(WebSocketTest, FaultsApplyOnlyToSocketsOpenedAfterThem) {
  const std::string uuid = CreateTask();
  auto before = Dial(WatchUrl(uuid));
  ASSERT_NE(before, nullptr);
  EXPECT_TRUE(NextFrame(*before).ok);
  SetFaults(R"({"websocket":{"drop_after_frames":1}})");
  emu().AdvanceBy(kLifetime);
  std::vector<Frame> frames = ReadUntilFinalized(*before);
  EXPECT_EQ(frames.size(), 12u);
  ExpectClosedNormally(*before);
}

// ------------------------------------------------------------------ stats

TEST_F(WebSocketTest, StatsCountOpenAndTotalConnections) {
  Stats s = WebSocketStats();
  EXPECT_EQ(s.open, 0);
  EXPECT_EQ(s.total, 0);
  const std::string uuid = CreateTask();
  std::vector<std::unique_ptr<WebSocketClient>> clients;
  for (int i = 0; i < 3; ++i) {
    clients.push_back(Dial(WatchUrl(uuid)));
    ASSERT_NE(clients.back(), nullptr);
    // The snapshot frame comes after the server counted the socket.
    EXPECT_EQ(NextFrame(*clients.back()).status(), "PENDING");
  }
  s = WebSocketStats();
  EXPECT_EQ(s.open, 3);
  EXPECT_EQ(s.total, 3);

  // A refused upgrade is not a connection.
  EXPECT_EQ(Refusal(WatchUrl(uuid, "wrong-key")), 401);

  clients.pop_back();  // the client goes away
  EXPECT_EQ(WaitForOpen(2), 2);
  EXPECT_EQ(WebSocketStats().total, 3);

  emu().AdvanceBy(kLifetime);
  for (auto& c : clients) {
    EXPECT_EQ(ReadUntilFinalized(*c).back().status(), "SUCCESS");
    ExpectClosedNormally(*c);
  }
  clients.clear();
  EXPECT_EQ(WaitForOpen(0), 0);

  auto all = Dial(WatchAllUrl(kKeyA));
  ASSERT_NE(all, nullptr);
  const std::string other = CreateTask();
  EXPECT_EQ(NextFrame(*all).uuid(), other);
  s = WebSocketStats();
  EXPECT_EQ(s.open, 1);
  EXPECT_EQ(s.total, 4);
}

// ------------------------------------------------------------------- load

TEST_F(WebSocketTest, ThousandConcurrentWatchersAllGetFinalized) {
  constexpr int kWatchers = 1000;
  constexpr int kTasks = 5;
  // Two descriptors per socket in this process (client and server).
  rlimit limit{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &limit), 0);
  if (limit.rlim_cur < 4 * kWatchers) {
    limit.rlim_cur = std::min<rlim_t>(limit.rlim_max, 4 * kWatchers);
    ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &limit), 0);
  }
  ASSERT_GE(limit.rlim_cur, static_cast<rlim_t>(2 * kWatchers + 100))
      << "too few file descriptors for the test";

  std::vector<std::string> tasks;
  for (int i = 0; i < kTasks; ++i) tasks.push_back(CreateTask());
  std::vector<std::unique_ptr<WebSocketClient>> clients;
  clients.reserve(kWatchers);
  for (int i = 0; i < kWatchers; ++i) {
    clients.push_back(Dial(WatchUrl(tasks[i % kTasks])));
    ASSERT_NE(clients.back(), nullptr) << "watcher " << i;
  }
  for (int i = 0; i < kWatchers; ++i) {
    Frame f = NextFrame(*clients[i]);
    ASSERT_EQ(f.uuid(), tasks[i % kTasks]) << "watcher " << i;
  }
  EXPECT_EQ(WebSocketStats().open, kWatchers);

  // Four workers per key: the fifth task starts when one finishes.
  emu().AdvanceBy(2 * kLifetime);
  int finalized = 0;
  for (int i = 0; i < kWatchers; ++i) {
    std::vector<Frame> frames = ReadUntilFinalized(*clients[i]);
    ASSERT_FALSE(frames.empty()) << "watcher " << i;
    const Frame& last = frames.back();
    if (last.event == "finalized" && last.status() == "SUCCESS" &&
        last.uuid() == tasks[i % kTasks]) {
      ++finalized;
    } else {
      ADD_FAILURE() << "watcher " << i << " ended with " << last.raw;
    }
    std::optional<std::string> extra = clients[i]->Next(kWait);
    EXPECT_FALSE(extra.has_value());
    EXPECT_EQ(clients[i]->state(), State::kClosed) << "watcher " << i;
  }
  EXPECT_EQ(finalized, kWatchers);
  clients.clear();
  EXPECT_EQ(WaitForOpen(0), 0);
}

}  // namespace
}  // namespace triverse::testing_util
