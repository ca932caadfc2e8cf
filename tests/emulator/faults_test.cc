#include "emulator/faults.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "rapidjson/document.h"

namespace triverse::emulator {
namespace {

using ::testing::HasSubstr;
using Kind = FaultDecision::Kind;

// A compact, comparable form of one decision.
struct Drawn {
  Kind kind;
  int64_t delay_us;
  int retry_after;
  bool operator==(const Drawn& o) const {
    return kind == o.kind && delay_us == o.delay_us &&
           retry_after == o.retry_after;
  }
};

Drawn Draw(FaultInjector& f, absl::string_view route) {
  FaultDecision d = f.Next(route);
  return {d.kind, absl::ToInt64Microseconds(d.delay), d.retry_after_seconds};
}

std::vector<Drawn> DrawN(FaultInjector& f, absl::string_view route, int n) {
  std::vector<Drawn> out;
  for (int i = 0; i < n; ++i) out.push_back(Draw(f, route));
  return out;
}

int CountKind(const std::vector<Drawn>& v, Kind k) {
  int n = 0;
  for (const Drawn& d : v) n += d.kind == k ? 1 : 0;
  return n;
}

// Mixed faults on two routes: every kind has a fair chance.
constexpr char kMixed[] = R"({"seed":42,"routes":{
  "a":{"latency_ms":10,"latency_jitter_ms":20,"unavailable_rate":0.2,
       "internal_error_rate":0.2,"rate_limit_rate":0.2,"retry_after_seconds":3,
       "truncate_rate":0.1,"hang_rate":0.1},
  "b":{"unavailable_rate":0.5}}})";

FaultSettings Mixed() {
  FaultSettings settings;
  absl::Status s = ParseFaultSettings(kMixed, &settings);
  EXPECT_TRUE(s.ok()) << s;
  return settings;
}

TEST(FaultInjectorTest, DefaultInjectsNothing) {
  FaultInjector f;
  for (const Drawn& d : DrawN(f, "GET /tasks/{uuid}", 100)) {
    EXPECT_EQ(d.kind, Kind::kNone);
    EXPECT_EQ(d.delay_us, 0);
    EXPECT_EQ(d.retry_after, 0);
  }
  EXPECT_FALSE(f.Roll("task-failure", 0, 0));
  EXPECT_EQ(f.settings().seed, 1u);
}

TEST(FaultInjectorTest, SameSeedSameSequence) {
  FaultInjector a(Mixed());
  FaultInjector b(Mixed());
  const std::vector<Drawn> seq = DrawN(a, "a", 500);
  EXPECT_EQ(seq, DrawN(b, "a", 500));
  // Every kind shows up, with roughly the configured share.
  EXPECT_NEAR(CountKind(seq, Kind::kUnavailable), 100, 35);
  EXPECT_NEAR(CountKind(seq, Kind::kInternalError), 100, 35);
  EXPECT_NEAR(CountKind(seq, Kind::kRateLimit), 100, 35);
  EXPECT_NEAR(CountKind(seq, Kind::kTruncate), 50, 25);
  EXPECT_NEAR(CountKind(seq, Kind::kHang), 50, 25);
  EXPECT_NEAR(CountKind(seq, Kind::kNone), 100, 35);
  for (const Drawn& d : seq) {
    EXPECT_GE(d.delay_us, 10000);
    EXPECT_LT(d.delay_us, 30000);
    EXPECT_EQ(d.retry_after, d.kind == Kind::kRateLimit ? 3 : 0);
  }
}

TEST(FaultInjectorTest, RouteSequenceIndependentOfInterleaving) {
  FaultInjector alone(Mixed());
  const std::vector<Drawn> expected = DrawN(alone, "a", 200);

  FaultInjector mixed(Mixed());
  std::vector<Drawn> got;
  for (int i = 0; i < 200; ++i) {
    for (int j = 0; j < i % 3; ++j) {
      Draw(mixed, "b");
      Draw(mixed, "unconfigured");
    }
    got.push_back(Draw(mixed, "a"));
  }
  EXPECT_EQ(got, expected);
}

TEST(FaultInjectorTest, DifferentSeedDifferentSequence) {
  FaultInjector a(Mixed());
  FaultInjector b(Mixed());
  ASSERT_TRUE(b.Update(R"({"seed":43})").ok());
  EXPECT_NE(DrawN(a, "a", 100), DrawN(b, "a", 100));
}

TEST(FaultInjectorTest, DifferentRoutesDrawDifferentSequences) {
  FaultInjector f;
  ASSERT_TRUE(f.Update(R"({"routes":{"*":{"unavailable_rate":0.5}}})").ok());
  EXPECT_NE(DrawN(f, "x", 100), DrawN(f, "y", 100));
}

TEST(FaultInjectorTest, RatesZeroAndOne) {
  FaultInjector f;
  ASSERT_TRUE(f.Update(R"({"routes":{
      "zero":{"unavailable_rate":0,"internal_error_rate":0,
              "rate_limit_rate":0,"truncate_rate":0,"hang_rate":0},
      "unavailable":{"unavailable_rate":1},
      "internal":{"internal_error_rate":1},
      "limited":{"rate_limit_rate":1,"retry_after_seconds":7},
      "truncate":{"truncate_rate":1},
      "hang":{"hang_rate":1}}})")
                  .ok());
  for (int i = 0; i < 200; ++i) {
    EXPECT_EQ(f.Next("zero").kind, Kind::kNone);
    EXPECT_EQ(f.Next("unavailable").kind, Kind::kUnavailable);
    EXPECT_EQ(f.Next("internal").kind, Kind::kInternalError);
    FaultDecision limited = f.Next("limited");
    EXPECT_EQ(limited.kind, Kind::kRateLimit);
    EXPECT_EQ(limited.retry_after_seconds, 7);
    EXPECT_EQ(f.Next("truncate").kind, Kind::kTruncate);
    EXPECT_EQ(f.Next("hang").kind, Kind::kHang);
  }
  for (uint64_t n = 0; n < 200; ++n) {
    EXPECT_FALSE(f.Roll("task-failure", n, 0));
    EXPECT_TRUE(f.Roll("task-failure", n, 1));
  }
}

TEST(FaultInjectorTest, AtMostOneErrorFaultAndFirstRateWins) {
  FaultInjector f;
  ASSERT_TRUE(
      f.Update(R"({"routes":{"r":{"unavailable_rate":1,"hang_rate":1}}})")
          .ok());
  for (int i = 0; i < 50; ++i) EXPECT_EQ(f.Next("r").kind, Kind::kUnavailable);
}

TEST(FaultInjectorTest, RollIsDeterministicPerStreamAndIndex) {
  FaultInjector a;
  FaultInjector b;
  int hits = 0;
  std::vector<bool> first, second, other;
  for (uint64_t n = 0; n < 1000; ++n) first.push_back(a.Roll("s", n, 0.3));
  // Reverse order: a roll depends only on (seed, stream, n).
  second.resize(1000);
  for (uint64_t n = 1000; n-- > 0;) second[n] = b.Roll("s", n, 0.3);
  for (uint64_t n = 0; n < 1000; ++n) other.push_back(a.Roll("t", n, 0.3));
  EXPECT_EQ(first, second);
  EXPECT_NE(first, other);
  for (bool hit : first) hits += hit ? 1 : 0;
  EXPECT_NEAR(hits, 300, 60);
  ASSERT_TRUE(b.Update(R"({"seed":9})").ok());
  std::vector<bool> reseeded;
  for (uint64_t n = 0; n < 1000; ++n) reseeded.push_back(b.Roll("s", n, 0.3));
  EXPECT_NE(first, reseeded);
}

TEST(FaultInjectorTest, StarRouteIsTheDefault) {
  FaultInjector f;
  ASSERT_TRUE(f.Update(R"({"routes":{
      "*":{"unavailable_rate":1,"latency_ms":5},
      "GET /users/me":{"latency_ms":1}}})")
                  .ok());
  FaultDecision any = f.Next("POST /tasks/image-to-model");
  EXPECT_EQ(any.kind, Kind::kUnavailable);
  EXPECT_EQ(any.delay, absl::Milliseconds(5));
  // A route of its own replaces "*" entirely (no merge of the two).
  FaultDecision own = f.Next("GET /users/me");
  EXPECT_EQ(own.kind, Kind::kNone);
  EXPECT_EQ(own.delay, absl::Milliseconds(1));
}

TEST(FaultInjectorTest, LatencyWithoutJitterIsExact) {
  FaultInjector f;
  ASSERT_TRUE(f.Update(R"({"routes":{"r":{"latency_ms":250}}})").ok());
  for (int i = 0; i < 20; ++i) {
    FaultDecision d = f.Next("r");
    EXPECT_EQ(d.kind, Kind::kNone);
    EXPECT_EQ(d.delay, absl::Milliseconds(250));
  }
}

TEST(FaultInjectorTest, UpdateMerges) {
  FaultInjector f;
  ASSERT_TRUE(f.Update(R"({"routes":{"a":{"unavailable_rate":0.5}}})").ok());
  ASSERT_TRUE(f.Update(R"({"routes":{"a":{"latency_ms":10},)"
                       R"("b":{"hang_rate":0.25}}})")
                  .ok());
  ASSERT_TRUE(f.Update(R"({"tasks":{"failure_rate":1}})").ok());
  ASSERT_TRUE(f.Update(R"({"websocket":{"trailing_blank_line":true,)"
                       R"("drop_after_frames":3}})")
                  .ok());
  ASSERT_TRUE(
      f.Update(R"({"websocket":{"enveloped_data":true,"silent":true}})").ok());
  FaultSettings s = f.settings();
  ASSERT_EQ(s.routes.size(), 2u);
  EXPECT_DOUBLE_EQ(s.routes["a"].unavailable_rate, 0.5);
  EXPECT_EQ(s.routes["a"].latency, absl::Milliseconds(10));
  EXPECT_EQ(s.routes["a"].retry_after_seconds, 1);  // default kept
  EXPECT_DOUBLE_EQ(s.routes["b"].hang_rate, 0.25);
  EXPECT_DOUBLE_EQ(s.tasks.failure_rate, 1);
  EXPECT_DOUBLE_EQ(s.tasks.cancel_rate, 0);
  EXPECT_TRUE(s.websocket.trailing_blank_line);
  EXPECT_TRUE(s.websocket.enveloped_data);
  EXPECT_TRUE(s.websocket.silent);
  EXPECT_EQ(s.websocket.drop_after_frames, 3);
  EXPECT_EQ(s.seed, 1u);
}

TEST(FaultInjectorTest, WebSocketRatesParseRoundTripAndAreRangeChecked) {
  FaultInjector f;
  ASSERT_TRUE(
      f.Update(R"({"websocket":{"silent_rate":0.25,"drop_rate":0.05}})").ok());
  FaultSettings s = f.settings();
  EXPECT_DOUBLE_EQ(s.websocket.silent_rate, 0.25);
  EXPECT_DOUBLE_EQ(s.websocket.drop_rate, 0.05);
  EXPECT_FALSE(s.websocket.silent);
  FaultSettings parsed;
  ASSERT_TRUE(ParseFaultSettings(f.ToJson(), &parsed).ok()) << f.ToJson();
  EXPECT_DOUBLE_EQ(parsed.websocket.silent_rate, 0.25);
  EXPECT_DOUBLE_EQ(parsed.websocket.drop_rate, 0.05);
  absl::Status bad = f.Update(R"({"websocket":{"drop_rate":1.5}})");
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.message()), HasSubstr("drop_rate"));
  EXPECT_FALSE(f.Update(R"({"websocket":{"silent_rate":-0.1}})").ok());
  EXPECT_DOUBLE_EQ(f.settings().websocket.drop_rate, 0.05);  // unchanged
  ASSERT_TRUE(f.Update(R"({"tasks":{"read_after_write_miss_rate":0.5}})").ok());
  EXPECT_DOUBLE_EQ(f.settings().tasks.read_after_write_miss_rate, 0.5);
  ASSERT_TRUE(ParseFaultSettings(f.ToJson(), &parsed).ok());
  EXPECT_DOUBLE_EQ(parsed.tasks.read_after_write_miss_rate, 0.5);
}

TEST(FaultInjectorTest, UpdateReset) {
  FaultInjector f(Mixed());
  ASSERT_TRUE(f.Update(R"({"tasks":{"cancel_rate":0.5},)"
                       R"("websocket":{"close_without_finalized":true}})")
                  .ok());
  ASSERT_TRUE(f.Update(R"({"reset":true})").ok());
  FaultSettings s = f.settings();
  EXPECT_TRUE(s.routes.empty());
  EXPECT_DOUBLE_EQ(s.tasks.cancel_rate, 0);
  EXPECT_FALSE(s.websocket.close_without_finalized);
  EXPECT_EQ(f.Next("a").kind, Kind::kNone);

  // Reset first, then apply the rest of the same document.
  ASSERT_TRUE(f.Update(R"({"routes":{"x":{"hang_rate":1}}})").ok());
  ASSERT_TRUE(
      f.Update(R"({"reset":true,"routes":{"y":{"truncate_rate":1}}})").ok());
  s = f.settings();
  ASSERT_EQ(s.routes.size(), 1u);
  EXPECT_EQ(s.routes.count("y"), 1u);
  EXPECT_EQ(f.Next("y").kind, Kind::kTruncate);
  EXPECT_EQ(f.Next("x").kind, Kind::kNone);

  // reset:false changes nothing.
  ASSERT_TRUE(f.Update(R"({"reset":false})").ok());
  EXPECT_EQ(f.settings().routes.size(), 1u);
}

TEST(FaultInjectorTest, UpdateErrorsNameTheKeyAndChangeNothing) {
  struct Case {
    const char* json;
    const char* names;
  };
  const Case cases[] = {
      {R"({"bogus":1})", "faults.bogus"},
      {R"({"seed":-1})", "faults.seed"},
      {R"({"seed":"1"})", "faults.seed"},
      {R"({"reset":"yes"})", "faults.reset"},
      {R"({"routes":[]})", "faults.routes"},
      {R"({"routes":{"a":1}})", "faults.routes.a"},
      {R"({"routes":{"a":{"unavailable_rate":1.5}}})",
       "faults.routes.a.unavailable_rate"},
      {R"({"routes":{"a":{"hang_rate":-0.1}}})", "faults.routes.a.hang_rate"},
      {R"({"routes":{"a":{"truncate_rate":"x"}}})",
       "faults.routes.a.truncate_rate"},
      {R"({"routes":{"a":{"latency_ms":-5}}})", "faults.routes.a.latency_ms"},
      {R"({"routes":{"a":{"latency_ms":1.5}}})", "faults.routes.a.latency_ms"},
      {R"({"routes":{"a":{"retry_after_seconds":-1}}})",
       "faults.routes.a.retry_after_seconds"},
      {R"({"routes":{"a":{"latency":5}}})", "faults.routes.a.latency"},
      {R"({"websocket":{"drop_after_frames":-1}})",
       "faults.websocket.drop_after_frames"},
      // Values that would wrap in the int they are stored in.
      {R"({"websocket":{"drop_after_frames":2147483648}})",
       "faults.websocket.drop_after_frames"},
      {R"({"routes":{"a":{"retry_after_seconds":3000000000}}})",
       "faults.routes.a.retry_after_seconds"},
      {R"({"websocket":{"enveloped_data":1}})",
       "faults.websocket.enveloped_data"},
      {R"({"websocket":{"replay_duplicate_rate":2}})",
       "faults.websocket.replay_duplicate_rate"},
      {R"({"websocket":{"nope":true}})", "faults.websocket.nope"},
      {R"({"websocket":true})", "faults.websocket"},
      {R"({"tasks":{"failure_rate":"1"}})", "faults.tasks.failure_rate"},
      {R"({"tasks":{"cancel_rate":3}})", "faults.tasks.cancel_rate"},
      {R"({"tasks":{"no_assets":1}})", "faults.tasks.no_assets"},
      {R"({"tasks":null})", "faults.tasks"},
      // Valid parts before the bad key must not be applied either.
      {R"({"reset":true,"seed":7,"routes":{"a":{"hang_rate":1}},)"
       R"("tasks":{"cancel_rate":3}})",
       "faults.tasks.cancel_rate"},
  };
  FaultInjector f(Mixed());
  const std::string before = f.ToJson();
  const std::vector<Drawn> expected = DrawN(f, "a", 5);
  for (const Case& c : cases) {
    absl::Status s = f.Update(c.json);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.json;
    EXPECT_THAT(s.message(), HasSubstr(c.names)) << c.json;
    EXPECT_EQ(f.ToJson(), before) << c.json;
  }
  for (const char* bad : {"", "{", "not json", "[1]", "null"}) {
    absl::Status s = f.Update(bad);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(f.ToJson(), before) << bad;
  }
  // Failed updates did not reset the per-route counters either.
  FaultInjector fresh(Mixed());
  std::vector<Drawn> all = DrawN(fresh, "a", 10);
  EXPECT_EQ(DrawN(f, "a", 5),
            std::vector<Drawn>(all.begin() + 5, all.begin() + 10));
  EXPECT_EQ(expected, std::vector<Drawn>(all.begin(), all.begin() + 5));
}

TEST(FaultInjectorTest, IntSettingsAcceptTheWholeIntRange) {
  FaultInjector f;
  ASSERT_TRUE(f.Update(R"({"routes":{"r":{"rate_limit_rate":1,)"
                       R"("retry_after_seconds":2147483647}},)"
                       R"("websocket":{"drop_after_frames":2147483647}})")
                  .ok());
  EXPECT_EQ(f.Next("r").retry_after_seconds, 2147483647);
  EXPECT_EQ(f.settings().websocket.drop_after_frames, 2147483647);
}

TEST(FaultInjectorTest, NewSeedOrReplaceRestartsTheSequences) {
  FaultInjector f(Mixed());
  const std::vector<Drawn> first = DrawN(f, "a", 20);
  // Same seed: counters go on.
  ASSERT_TRUE(f.Update(R"({"seed":42})").ok());
  EXPECT_NE(DrawN(f, "a", 20), first);
  // Replace: counters restart.
  f.Replace(f.settings());
  EXPECT_EQ(DrawN(f, "a", 20), first);
  // A new seed restarts the counters under that seed.
  ASSERT_TRUE(f.Update(R"({"seed":7})").ok());
  const std::vector<Drawn> seven = DrawN(f, "a", 20);
  FaultInjector g(Mixed());
  ASSERT_TRUE(g.Update(R"({"seed":7})").ok());
  EXPECT_EQ(DrawN(g, "a", 20), seven);
}

TEST(FaultInjectorTest, ToJsonRoundTrip) {
  FaultInjector f(Mixed());
  ASSERT_TRUE(f.Update(R"({"routes":{"*":{"rate_limit_rate":0.125,)"
                       R"("retry_after_seconds":9}},)"
                       R"("websocket":{"drop_after_frames":4,)"
                       R"("finalized_without_close":true,)"
                       R"("replay_duplicate_rate":0.3,)"
                       R"("trailing_blank_line":true},)"
                       R"("tasks":{"failure_rate":0.1,"cancel_rate":0.2,)"
                       R"("no_assets_rate":0.7}})")
                  .ok());
  const std::string json = f.ToJson();

  rapidjson::Document doc;
  doc.Parse(json.c_str());
  ASSERT_FALSE(doc.HasParseError()) << json;
  EXPECT_EQ(doc["seed"].GetUint64(), 42u);
  ASSERT_TRUE(doc["routes"].IsObject());
  EXPECT_EQ(doc["routes"].MemberCount(), 3u);
  const rapidjson::Value& a = doc["routes"]["a"];
  EXPECT_EQ(a["latency_ms"].GetInt64(), 10);
  EXPECT_EQ(a["latency_jitter_ms"].GetInt64(), 20);
  EXPECT_DOUBLE_EQ(a["unavailable_rate"].GetDouble(), 0.2);
  EXPECT_EQ(a["retry_after_seconds"].GetInt(), 3);
  EXPECT_DOUBLE_EQ(doc["routes"]["*"]["rate_limit_rate"].GetDouble(), 0.125);
  EXPECT_EQ(doc["websocket"]["drop_after_frames"].GetInt(), 4);
  EXPECT_TRUE(doc["websocket"]["finalized_without_close"].GetBool());
  EXPECT_FALSE(doc["websocket"]["close_without_finalized"].GetBool());
  EXPECT_FALSE(doc["websocket"]["enveloped_data"].GetBool());
  EXPECT_DOUBLE_EQ(doc["tasks"]["no_assets_rate"].GetDouble(), 0.7);

  // Feeding the document back gives the same settings and decisions.
  FaultSettings parsed;
  ASSERT_TRUE(ParseFaultSettings(json, &parsed).ok());
  FaultInjector g(parsed);
  EXPECT_EQ(g.ToJson(), json);
  FaultInjector h;
  ASSERT_TRUE(h.Update(json).ok());
  EXPECT_EQ(h.ToJson(), json);
  EXPECT_EQ(DrawN(g, "a", 100), DrawN(h, "a", 100));
  EXPECT_EQ(DrawN(g, "other", 100), DrawN(h, "other", 100));
}

TEST(ParseFaultSettingsTest, ErrorLeavesOutputUntouched) {
  FaultSettings out;
  out.seed = 99;
  absl::Status s = ParseFaultSettings(R"({"tasks":{"bad":1}})", &out);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("faults.tasks.bad"));
  EXPECT_EQ(out.seed, 99u);

  ASSERT_TRUE(ParseFaultSettings(R"({"seed":5})", &out).ok());
  EXPECT_EQ(out.seed, 5u);
  EXPECT_TRUE(out.routes.empty());
}

}  // namespace
}  // namespace triverse::emulator
