#include "emulator/faults.h"

#include <cmath>
#include <functional>
#include <limits>

#include "absl/strings/str_cat.h"
#include "emulator/hashing.h"
#include "rapidjson/document.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace triverse::emulator {
namespace {

// Uniform in [0, 1) for (seed, stream, n, salt).
double Uniform(uint64_t seed, absl::string_view stream, uint64_t n,
               uint64_t salt) {
  uint64_t x = SplitMix64(seed ^ SplitMix64(Fnv1a(stream) ^ salt) ^
                          SplitMix64(n * 0x2545f4914f6cdd1dULL + salt));
  return static_cast<double>(x >> 11) * 0x1.0p-53;
}

absl::Status ReadRate(const rapidjson::Value& obj, const char* key,
                      const std::string& where, double* out) {
  auto it = obj.FindMember(key);
  if (it == obj.MemberEnd()) return absl::OkStatus();
  if (!it->value.IsNumber() || it->value.GetDouble() < 0 ||
      it->value.GetDouble() > 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ".", key, " must be a number in [0, 1]"));
  }
  *out = it->value.GetDouble();
  return absl::OkStatus();
}

// `max` guards settings stored in an int: larger values would wrap.
absl::Status ReadInt(const rapidjson::Value& obj, const char* key,
                     const std::string& where, int64_t min, int64_t* out,
                     int64_t max = std::numeric_limits<int64_t>::max()) {
  auto it = obj.FindMember(key);
  if (it == obj.MemberEnd()) return absl::OkStatus();
  if (!it->value.IsInt64() || it->value.GetInt64() < min ||
      it->value.GetInt64() > max) {
    if (max != std::numeric_limits<int64_t>::max()) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ".", key, " must be an integer between ", min, " and ", max));
    }
    return absl::InvalidArgumentError(
        absl::StrCat(where, ".", key, " must be an integer >= ", min));
  }
  *out = it->value.GetInt64();
  return absl::OkStatus();
}

absl::Status ReadBool(const rapidjson::Value& obj, const char* key,
                      const std::string& where, bool* out) {
  auto it = obj.FindMember(key);
  if (it == obj.MemberEnd()) return absl::OkStatus();
  if (!it->value.IsBool()) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ".", key, " must be a boolean"));
  }
  *out = it->value.GetBool();
  return absl::OkStatus();
}

absl::Status CheckKeys(const rapidjson::Value& obj, const std::string& where,
                       std::initializer_list<absl::string_view> known) {
  for (const auto& m : obj.GetObject()) {
    absl::string_view k(m.name.GetString(), m.name.GetStringLength());
    bool ok = false;
    for (absl::string_view n : known) ok = ok || n == k;
    if (!ok) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown fault setting ", where, ".", k));
    }
  }
  return absl::OkStatus();
}

#define TRIVERSE_RETURN_IF_ERROR(expr) \
  do {                                 \
    absl::Status s_ = (expr);          \
    if (!s_.ok()) return s_;           \
  } while (0)

absl::Status MergeRoute(const rapidjson::Value& obj, const std::string& where,
                        RouteFaults* r) {
  if (!obj.IsObject()) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, " must be an object"));
  }
  TRIVERSE_RETURN_IF_ERROR(
      CheckKeys(obj, where,
                {"latency_ms", "latency_jitter_ms", "unavailable_rate",
                 "internal_error_rate", "rate_limit_rate",
                 "retry_after_seconds", "truncate_rate", "hang_rate"}));
  int64_t latency = absl::ToInt64Milliseconds(r->latency);
  int64_t jitter = absl::ToInt64Milliseconds(r->latency_jitter);
  int64_t retry_after = r->retry_after_seconds;
  TRIVERSE_RETURN_IF_ERROR(ReadInt(obj, "latency_ms", where, 0, &latency));
  TRIVERSE_RETURN_IF_ERROR(
      ReadInt(obj, "latency_jitter_ms", where, 0, &jitter));
  TRIVERSE_RETURN_IF_ERROR(ReadInt(obj, "retry_after_seconds", where, 0,
                                   &retry_after,
                                   std::numeric_limits<int>::max()));
  TRIVERSE_RETURN_IF_ERROR(
      ReadRate(obj, "unavailable_rate", where, &r->unavailable_rate));
  TRIVERSE_RETURN_IF_ERROR(
      ReadRate(obj, "internal_error_rate", where, &r->internal_error_rate));
  TRIVERSE_RETURN_IF_ERROR(
      ReadRate(obj, "rate_limit_rate", where, &r->rate_limit_rate));
  TRIVERSE_RETURN_IF_ERROR(
      ReadRate(obj, "truncate_rate", where, &r->truncate_rate));
  TRIVERSE_RETURN_IF_ERROR(ReadRate(obj, "hang_rate", where, &r->hang_rate));
  r->latency = absl::Milliseconds(latency);
  r->latency_jitter = absl::Milliseconds(jitter);
  r->retry_after_seconds = static_cast<int>(retry_after);
  return absl::OkStatus();
}

absl::Status Merge(const rapidjson::Value& doc, FaultSettings* s) {
  if (!doc.IsObject()) {
    return absl::InvalidArgumentError("fault settings must be a JSON object");
  }
  TRIVERSE_RETURN_IF_ERROR(CheckKeys(
      doc, "faults",
      {"reset", "seed", "routes", "websocket", "tasks", "tripo", "siray"}));
  bool reset = false;
  TRIVERSE_RETURN_IF_ERROR(ReadBool(doc, "reset", "faults", &reset));
  if (reset) *s = FaultSettings{};
  auto seed = doc.FindMember("seed");
  if (seed != doc.MemberEnd()) {
    if (!seed->value.IsUint64()) {
      return absl::InvalidArgumentError(
          "faults.seed must be a non-negative integer");
    }
    s->seed = seed->value.GetUint64();
  }
  auto routes = doc.FindMember("routes");
  if (routes != doc.MemberEnd()) {
    if (!routes->value.IsObject()) {
      return absl::InvalidArgumentError("faults.routes must be an object");
    }
    for (const auto& m : routes->value.GetObject()) {
      std::string name(m.name.GetString(), m.name.GetStringLength());
      RouteFaults r = s->routes.count(name) ? s->routes[name] : RouteFaults{};
      TRIVERSE_RETURN_IF_ERROR(
          MergeRoute(m.value, absl::StrCat("faults.routes.", name), &r));
      s->routes[name] = r;
    }
  }
  auto ws = doc.FindMember("websocket");
  if (ws != doc.MemberEnd()) {
    const std::string where = "faults.websocket";
    if (!ws->value.IsObject()) {
      return absl::InvalidArgumentError(where + " must be an object");
    }
    const rapidjson::Value& w = ws->value;
    TRIVERSE_RETURN_IF_ERROR(
        CheckKeys(w, where,
                  {"drop_after_frames", "finalized_without_close",
                   "close_without_finalized", "replay_duplicate_rate",
                   "trailing_blank_line", "enveloped_data", "silent",
                   "silent_rate", "drop_rate"}));
    int64_t drop = s->websocket.drop_after_frames;
    TRIVERSE_RETURN_IF_ERROR(ReadInt(w, "drop_after_frames", where, 0, &drop,
                                     std::numeric_limits<int>::max()));
    s->websocket.drop_after_frames = static_cast<int>(drop);
    TRIVERSE_RETURN_IF_ERROR(ReadBool(w, "finalized_without_close", where,
                                      &s->websocket.finalized_without_close));
    TRIVERSE_RETURN_IF_ERROR(ReadBool(w, "close_without_finalized", where,
                                      &s->websocket.close_without_finalized));
    TRIVERSE_RETURN_IF_ERROR(ReadRate(w, "replay_duplicate_rate", where,
                                      &s->websocket.replay_duplicate_rate));
    TRIVERSE_RETURN_IF_ERROR(ReadBool(w, "trailing_blank_line", where,
                                      &s->websocket.trailing_blank_line));
    TRIVERSE_RETURN_IF_ERROR(
        ReadBool(w, "enveloped_data", where, &s->websocket.enveloped_data));
    TRIVERSE_RETURN_IF_ERROR(
        ReadBool(w, "silent", where, &s->websocket.silent));
    TRIVERSE_RETURN_IF_ERROR(
        ReadRate(w, "silent_rate", where, &s->websocket.silent_rate));
    TRIVERSE_RETURN_IF_ERROR(
        ReadRate(w, "drop_rate", where, &s->websocket.drop_rate));
  }
  auto tasks = doc.FindMember("tasks");
  if (tasks != doc.MemberEnd()) {
    const std::string where = "faults.tasks";
    if (!tasks->value.IsObject()) {
      return absl::InvalidArgumentError(where + " must be an object");
    }
    const rapidjson::Value& t = tasks->value;
    TRIVERSE_RETURN_IF_ERROR(
        CheckKeys(t, where,
                  {"failure_rate", "cancel_rate", "no_assets_rate",
                   "read_after_write_miss_rate"}));
    TRIVERSE_RETURN_IF_ERROR(
        ReadRate(t, "failure_rate", where, &s->tasks.failure_rate));
    TRIVERSE_RETURN_IF_ERROR(
        ReadRate(t, "cancel_rate", where, &s->tasks.cancel_rate));
    TRIVERSE_RETURN_IF_ERROR(
        ReadRate(t, "no_assets_rate", where, &s->tasks.no_assets_rate));
    TRIVERSE_RETURN_IF_ERROR(ReadRate(t, "read_after_write_miss_rate", where,
                                      &s->tasks.read_after_write_miss_rate));
  }
  auto tripo = doc.FindMember("tripo");
  if (tripo != doc.MemberEnd()) {
    const std::string where = "faults.tripo";
    if (!tripo->value.IsObject()) {
      return absl::InvalidArgumentError(where + " must be an object");
    }
    const rapidjson::Value& t = tripo->value;
    TRIVERSE_RETURN_IF_ERROR(CheckKeys(
        t, where,
        {"banned_rate", "expired_rate", "unknown_rate", "extras_rate"}));
    TRIVERSE_RETURN_IF_ERROR(
        ReadRate(t, "banned_rate", where, &s->tripo.banned_rate));
    TRIVERSE_RETURN_IF_ERROR(
        ReadRate(t, "expired_rate", where, &s->tripo.expired_rate));
    TRIVERSE_RETURN_IF_ERROR(
        ReadRate(t, "unknown_rate", where, &s->tripo.unknown_rate));
    TRIVERSE_RETURN_IF_ERROR(
        ReadRate(t, "extras_rate", where, &s->tripo.extras_rate));
  }
  auto siray = doc.FindMember("siray");
  if (siray != doc.MemberEnd()) {
    const std::string where = "faults.siray";
    if (!siray->value.IsObject()) {
      return absl::InvalidArgumentError(where + " must be an object");
    }
    const rapidjson::Value& t = siray->value;
    TRIVERSE_RETURN_IF_ERROR(
        CheckKeys(t, where, {"odd_progress_rate", "alt_status_rate"}));
    TRIVERSE_RETURN_IF_ERROR(
        ReadRate(t, "odd_progress_rate", where, &s->siray.odd_progress_rate));
    TRIVERSE_RETURN_IF_ERROR(
        ReadRate(t, "alt_status_rate", where, &s->siray.alt_status_rate));
  }
  return absl::OkStatus();
}

absl::Status MergeText(absl::string_view json, FaultSettings* s) {
  rapidjson::Document doc;
  doc.Parse(json.data(), json.size());
  if (doc.HasParseError()) {
    return absl::InvalidArgumentError("fault settings are not valid JSON");
  }
  return Merge(doc, s);
}

}  // namespace

FaultInjector::FaultInjector(FaultSettings settings)
    : settings_(std::move(settings)) {}

FaultSettings FaultInjector::settings() const {
  absl::MutexLock lock(&mu_);
  return settings_;
}

void FaultInjector::Replace(FaultSettings settings) {
  absl::MutexLock lock(&mu_);
  settings_ = std::move(settings);
  counters_.clear();
}

absl::Status FaultInjector::Update(absl::string_view json) {
  absl::MutexLock lock(&mu_);
  FaultSettings next = settings_;
  absl::Status status = MergeText(json, &next);
  if (!status.ok()) return status;
  if (next.seed != settings_.seed) counters_.clear();
  settings_ = std::move(next);
  return absl::OkStatus();
}

absl::Status ParseFaultSettings(absl::string_view json, FaultSettings* out) {
  FaultSettings s;
  absl::Status status = MergeText(json, &s);
  if (status.ok()) *out = std::move(s);
  return status;
}

std::string FaultInjector::ToJson() const {
  FaultSettings s = settings();
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  w.Key("seed");
  w.Uint64(s.seed);
  w.Key("routes");
  w.StartObject();
  for (const auto& [name, r] : s.routes) {
    w.Key(name.c_str());
    w.StartObject();
    w.Key("latency_ms");
    w.Int64(absl::ToInt64Milliseconds(r.latency));
    w.Key("latency_jitter_ms");
    w.Int64(absl::ToInt64Milliseconds(r.latency_jitter));
    w.Key("unavailable_rate");
    w.Double(r.unavailable_rate);
    w.Key("internal_error_rate");
    w.Double(r.internal_error_rate);
    w.Key("rate_limit_rate");
    w.Double(r.rate_limit_rate);
    w.Key("retry_after_seconds");
    w.Int(r.retry_after_seconds);
    w.Key("truncate_rate");
    w.Double(r.truncate_rate);
    w.Key("hang_rate");
    w.Double(r.hang_rate);
    w.EndObject();
  }
  w.EndObject();
  w.Key("websocket");
  w.StartObject();
  w.Key("drop_after_frames");
  w.Int(s.websocket.drop_after_frames);
  w.Key("finalized_without_close");
  w.Bool(s.websocket.finalized_without_close);
  w.Key("close_without_finalized");
  w.Bool(s.websocket.close_without_finalized);
  w.Key("replay_duplicate_rate");
  w.Double(s.websocket.replay_duplicate_rate);
  w.Key("trailing_blank_line");
  w.Bool(s.websocket.trailing_blank_line);
  w.Key("enveloped_data");
  w.Bool(s.websocket.enveloped_data);
  w.Key("silent");
  w.Bool(s.websocket.silent);
  w.Key("silent_rate");
  w.Double(s.websocket.silent_rate);
  w.Key("drop_rate");
  w.Double(s.websocket.drop_rate);
  w.EndObject();
  w.Key("tasks");
  w.StartObject();
  w.Key("failure_rate");
  w.Double(s.tasks.failure_rate);
  w.Key("cancel_rate");
  w.Double(s.tasks.cancel_rate);
  w.Key("no_assets_rate");
  w.Double(s.tasks.no_assets_rate);
  w.Key("read_after_write_miss_rate");
  w.Double(s.tasks.read_after_write_miss_rate);
  w.EndObject();
  w.Key("tripo");
  w.StartObject();
  w.Key("banned_rate");
  w.Double(s.tripo.banned_rate);
  w.Key("expired_rate");
  w.Double(s.tripo.expired_rate);
  w.Key("unknown_rate");
  w.Double(s.tripo.unknown_rate);
  w.Key("extras_rate");
  w.Double(s.tripo.extras_rate);
  w.EndObject();
  w.Key("siray");
  w.StartObject();
  w.Key("odd_progress_rate");
  w.Double(s.siray.odd_progress_rate);
  w.Key("alt_status_rate");
  w.Double(s.siray.alt_status_rate);
  w.EndObject();
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

FaultDecision FaultInjector::Next(absl::string_view route) {
  absl::MutexLock lock(&mu_);
  auto it = settings_.routes.find(std::string(route));
  if (it == settings_.routes.end()) it = settings_.routes.find("*");
  FaultDecision d;
  if (it == settings_.routes.end()) return d;
  const RouteFaults& r = it->second;
  auto counter = counters_.find(route);
  if (counter == counters_.end()) {
    counter = counters_.emplace(std::string(route), 0).first;
  }
  const uint64_t n = counter->second++;
  d.delay = r.latency;
  if (r.latency_jitter > absl::ZeroDuration()) {
    d.delay += r.latency_jitter * Uniform(settings_.seed, route, n, 1);
  }
  double u = Uniform(settings_.seed, route, n, 0);
  double edge = 0;
  auto hit = [&](double rate) {
    edge += rate;
    return u < edge;
  };
  using Kind = FaultDecision::Kind;
  if (hit(r.unavailable_rate)) {
    d.kind = Kind::kUnavailable;
  } else if (hit(r.internal_error_rate)) {
    d.kind = Kind::kInternalError;
  } else if (hit(r.rate_limit_rate)) {
    d.kind = Kind::kRateLimit;
    d.retry_after_seconds = r.retry_after_seconds;
  } else if (hit(r.truncate_rate)) {
    d.kind = Kind::kTruncate;
  } else if (hit(r.hang_rate)) {
    d.kind = Kind::kHang;
  }
  return d;
}

bool FaultInjector::Roll(absl::string_view stream, uint64_t n,
                         double rate) const {
  if (rate <= 0) return false;
  uint64_t seed;
  {
    absl::MutexLock lock(&mu_);
    seed = settings_.seed;
  }
  return Uniform(seed, stream, n, 2) < rate;
}

}  // namespace triverse::emulator
