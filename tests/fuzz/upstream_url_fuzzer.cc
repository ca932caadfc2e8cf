// Property fuzzer for the upstream URLs built from client-supplied values.
//
// The input is split into a selector byte and values; they go through the
// real gates (service::ValidateTaskUuid / ValidateListOwnModels /
// ValidateCreateTask, then RestTriverseStub's own id checks) and the real
// RestTriverseStub, whose requests a link-time fake engine records
// (fake_curl_engine.cc). Each built URL is parsed back with libcurl's URL
// API and must have: the base's scheme, host and path; exactly the expected
// path segments; no `.`/`..` segment (raw or percent-encoded) and no dot
// segment libcurl would normalise away; an id segment without raw `?`, `#`,
// `/`, `\`, NUL, `%00`, spaces or control characters, of bounded length, that
// percent-decodes to exactly the id; no query or fragment unless the
// endpoint has one, and then exactly its parameters, each decoding back to
// its value. A value a gate rejects must be rejected inline with
// INVALID_ARGUMENT and must not reach the engine; a task id the service
// accepts must be accepted by the stub. Any violation traps.
#include <curl/curl.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/service/validation.h"
#include "server/upstream/triverse_stub.h"
#include "tests/fuzz/fake_curl_engine.h"
#include "triverse/v1/task_service.pb.h"

namespace {

using triverse::fuzz::ClearRecorded;
using triverse::fuzz::Recorded;
using triverse::fuzz::RecordedRequest;
namespace upstream = triverse::upstream;
namespace service = triverse::service;
namespace v1 = triverse::v1;

constexpr char kHost[] = "upstream.test";
constexpr char kBasePath[] = "/api/v1";
// The longest id segment accepted: 64 characters, each possibly encoded.
constexpr size_t kMaxSegmentBytes = 3 * 64;

[[noreturn]] void Fail(absl::string_view what, absl::string_view detail) {
  std::fprintf(stderr, "URL property violated: %.*s: [%.*s]\n",
               static_cast<int>(what.size()), what.data(),
               static_cast<int>(detail.size()), detail.data());
  __builtin_trap();
}

void Check(bool ok, absl::string_view what, absl::string_view detail) {
  if (!ok) Fail(what, detail);
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// StrictDecode percent-decodes `s`; nullopt when a `%` is not followed by
// two hex digits.
std::optional<std::string> StrictDecode(absl::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out.push_back(s[i]);
      continue;
    }
    if (i + 2 >= s.size()) return std::nullopt;
    const int hi = HexValue(s[i + 1]);
    const int lo = HexValue(s[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return out;
}

bool IsControl(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u < 0x20 || u == 0x7F;
}

// ParsedUrl is a URL as libcurl reads it back (raw, nothing decoded).
struct ParsedUrl {
  std::string scheme, host, path;
  std::optional<std::string> query, fragment;
};

std::optional<std::string> Part(CURLU* h, CURLUPart part) {
  char* value = nullptr;
  if (curl_url_get(h, part, &value, 0) != CURLUE_OK || value == nullptr) {
    return std::nullopt;
  }
  std::string out(value);
  curl_free(value);
  return out;
}

ParsedUrl ParseBack(const std::string& url) {
  Check(url.find('\0') == std::string::npos, "NUL in URL", url);
  CURLU* h = curl_url();
  Check(h != nullptr, "curl_url", "");
  const CURLUcode rc =
      curl_url_set(h, CURLUPART_URL, url.c_str(), CURLU_NON_SUPPORT_SCHEME);
  if (rc != CURLUE_OK) {
    curl_url_cleanup(h);
    Fail("libcurl cannot parse the URL", url);
  }
  ParsedUrl p;
  p.scheme = Part(h, CURLUPART_SCHEME).value_or("");
  p.host = Part(h, CURLUPART_HOST).value_or("");
  p.path = Part(h, CURLUPART_PATH).value_or("");
  p.query = Part(h, CURLUPART_QUERY);
  p.fragment = Part(h, CURLUPART_FRAGMENT);
  curl_url_cleanup(h);
  // libcurl removes dot segments: the path it sends must be the path the
  // stub wrote, character for character.
  const size_t authority = url.find("://");
  Check(authority != std::string::npos, "no scheme separator", url);
  const size_t path_start = url.find('/', authority + 3);
  Check(path_start != std::string::npos, "no path", url);
  const size_t path_end = url.find_first_of("?#", path_start);
  Check(url.substr(path_start, path_end == std::string::npos
                                   ? std::string::npos
                                   : path_end - path_start) == p.path,
        "libcurl rewrote the path (dot segments?)", url);
  Check(!p.fragment.has_value(), "fragment in URL", url);
  return p;
}

// CheckIdSegment checks one path segment that carries `id`.
void CheckIdSegment(absl::string_view segment, absl::string_view id,
                    const std::string& url) {
  Check(!segment.empty(), "empty id segment", url);
  Check(segment.size() <= kMaxSegmentBytes, "id segment too long", url);
  for (const char c : segment) {
    Check(c != '?' && c != '#' && c != '/' && c != '\\' && c != ' ' &&
              !IsControl(c) && static_cast<unsigned char>(c) < 0x80,
          "raw reserved or control character in id segment", url);
  }
  Check(!absl::StrContains(absl::AsciiStrToLower(segment), "%00"),
        "%00 in id segment", url);
  const std::optional<std::string> decoded = StrictDecode(segment);
  Check(decoded.has_value(), "malformed percent-encoding", url);
  Check(*decoded == id, "decoded id segment differs from the id", url);
  Check(*decoded != "." && *decoded != "..", "dot segment", url);
  for (const char c : *decoded) {
    Check(c != '/' && c != '\\' && c != '\0' && !IsControl(c),
          "id decodes to a separator or control character", url);
  }
}

// CheckPathUrl checks a request to <base>/<fixed...>/<id> without a query.
void CheckPathUrl(const RecordedRequest& r, const std::string& scheme,
                  const std::vector<absl::string_view>& fixed,
                  absl::string_view id) {
  const ParsedUrl p = ParseBack(r.url);
  Check(p.scheme == scheme, "scheme changed", r.url);
  Check(p.host == kHost, "host changed", r.url);
  Check(!p.query.has_value(), "query in a path-only URL", r.url);
  Check(r.url.find('?') == std::string::npos, "raw ? in URL", r.url);
  Check(r.url.find('#') == std::string::npos, "raw # in URL", r.url);
  std::vector<absl::string_view> segments = absl::StrSplit(p.path, '/');
  // "", "api", "v1", fixed..., id
  Check(segments.size() == 3 + fixed.size() + 1, "wrong segment count", r.url);
  Check(segments[0].empty() && segments[1] == "api" && segments[2] == "v1",
        "base path changed", r.url);
  for (size_t i = 0; i < fixed.size(); ++i) {
    Check(segments[3 + i] == fixed[i], "fixed segment changed", r.url);
  }
  CheckIdSegment(segments.back(), id, r.url);
}

// CheckQueryParams checks that `query` is exactly `expected` (name, value)
// pairs, in order, each value encoded and decoding back.
void CheckQueryParams(
    absl::string_view query,
    const std::vector<std::pair<std::string, std::string>>& expected,
    const std::string& url) {
  std::vector<absl::string_view> params = absl::StrSplit(query, '&');
  Check(params.size() == expected.size(), "wrong number of query params", url);
  for (size_t i = 0; i < params.size(); ++i) {
    const size_t eq = params[i].find('=');
    Check(eq != absl::string_view::npos, "query param without =", url);
    Check(params[i].substr(0, eq) == expected[i].first, "query name changed",
          url);
    const absl::string_view raw = params[i].substr(eq + 1);
    for (const char c : raw) {
      Check(absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' ||
                c == '.' || c == '_' || c == '~' || c == '%' || c == ':',
            "unencoded character in a query value", url);
    }
    const std::optional<std::string> decoded = StrictDecode(raw);
    Check(decoded.has_value(), "malformed percent-encoding in query", url);
    Check(*decoded == expected[i].second, "query value decodes differently",
          url);
  }
}

struct Harness {
  std::unique_ptr<triverse::http::CurlEngine> engine =
      triverse::fuzz::NewFakeEngine();
  upstream::RestTriverseStub stub{engine.get(), StubOptions()};

  static upstream::RestTriverseStub::Options StubOptions() {
    upstream::RestTriverseStub::Options o;
    o.base_url = absl::StrCat("http://", kHost, kBasePath);
    return o;
  }
};

Harness& GetHarness() {
  static auto* h = new Harness();
  return *h;
}

upstream::CallOptions Options() {
  upstream::CallOptions o;
  o.api_key = "fuzz-key";
  return o;
}

// OneRequestOrRejected returns the single recorded request, or nullopt when
// the call was rejected inline (then with INVALID_ARGUMENT and nothing
// sent).
std::optional<RecordedRequest> OneRequestOrRejected(
    const std::optional<absl::Status>& inline_result, uint64_t id,
    absl::string_view what) {
  if (inline_result.has_value()) {
    Check(inline_result->code() == absl::StatusCode::kInvalidArgument,
          "rejection is not INVALID_ARGUMENT", what);
    Check(Recorded().empty(), "rejected, yet a request was sent", what);
    Check(id == 0, "rejected, yet a non-zero id", what);
    return std::nullopt;
  }
  Check(Recorded().size() == 1, "not exactly one request", what);
  RecordedRequest r = Recorded().front();
  ClearRecorded();
  return r;
}

// TaskIdEndpoints sends `id` to each endpoint that puts a task id in the
// path; returns whether the stub accepted it (the same for all three).
bool TaskIdEndpoints(const std::string& id) {
  Harness& h = GetHarness();
  std::optional<bool> accepted;
  auto record = [&](std::optional<RecordedRequest> r,
                    const std::vector<absl::string_view>& fixed) {
    Check(!accepted.has_value() || *accepted == r.has_value(),
          "endpoints disagree on an id", id);
    accepted = r.has_value();
    if (r) CheckPathUrl(*r, "http", fixed, id);
  };
  {
    ClearRecorded();
    std::optional<absl::Status> result;
    const uint64_t n = h.stub.GetTask(
        id, "", Options(),
        [&](absl::StatusOr<v1::Task> s) { result = s.status(); });
    record(OneRequestOrRejected(result, n, id), {"tasks"});
  }
  {
    ClearRecorded();
    std::optional<absl::Status> result;
    const uint64_t n = h.stub.GetDownloadUrl(
        id, Options(),
        [&](absl::StatusOr<v1::DownloadUrl> s) { result = s.status(); });
    record(OneRequestOrRejected(result, n, id), {"tasks", "url"});
  }
  {
    ClearRecorded();
    std::optional<absl::Status> result;
    const uint64_t n = h.stub.DownloadAsset(
        id, Options(), {}, [&](absl::Status s) { result = s; });
    record(OneRequestOrRejected(result, n, id), {"tasks", "download"});
  }
  ClearRecorded();
  return *accepted;
}

void FuzzTaskId(const std::string& id) {
  const bool service_ok = service::ValidateTaskUuid(id).empty();
  const bool stub_ok = TaskIdEndpoints(id);
  Check(!service_ok || stub_ok, "a UUID the service accepts, stub refuses", id);
  if (service_ok) Check(id.size() == 36, "accepted a non-UUID length", id);
}

void CheckOwnModelsUrl(const RecordedRequest& r, int64_t page, int64_t size) {
  const ParsedUrl p = ParseBack(r.url);
  Check(p.scheme == "http" && p.host == kHost, "origin changed", r.url);
  Check(p.path == "/api/v1/platform/generate/own-models", "path changed",
        r.url);
  Check(p.query.has_value(), "no query", r.url);
  CheckQueryParams(
      *p.query, {{"current", absl::StrCat(page)}, {"size", absl::StrCat(size)}},
      r.url);
}

// FuzzListOwnModels: the page token and size as the service turns them into
// the upstream query (after ValidateListOwnModels), and raw values straight
// into the stub.
void FuzzListOwnModels(absl::string_view data) {
  Harness& h = GetHarness();
  int32_t page_size = 0;
  if (data.size() >= 4) {
    uint32_t u = 0;
    for (int i = 0; i < 4; ++i) {
      u = (u << 8) | static_cast<unsigned char>(data[i]);
    }
    page_size = static_cast<int32_t>(u);
    data.remove_prefix(4);
  }
  v1::ListOwnModelsRequest request;
  request.set_page_size(page_size);
  request.set_page_token(std::string(data));
  if (service::ValidateListOwnModels(request).empty()) {
    int64_t page = 1;
    if (!request.page_token().empty()) {
      Check(absl::SimpleAtoi(request.page_token(), &page),
            "validated token does not parse", data);
    }
    Check(page >= 1, "validated page below 1", data);
    const int64_t size = page_size == 0 ? 10 : page_size;
    Check(size >= 1 && size <= 100, "validated size out of range", data);
    ClearRecorded();
    std::optional<absl::Status> result;
    const uint64_t n = h.stub.ListOwnModels(
        page, size, Options(),
        [&](absl::StatusOr<triverse::translate::OwnModelsPage> s) {
          result = s.status();
        });
    std::optional<RecordedRequest> r = OneRequestOrRejected(result, n, data);
    Check(r.has_value(), "valid page rejected", data);
    CheckOwnModelsUrl(*r, page, size);
  }
  ClearRecorded();
}

// FuzzWatchAll: a caller's API key (x-triverse-api-key) as the token query
// parameter, and a `since` time.
void FuzzWatchAll(absl::string_view data) {
  Harness& h = GetHarness();
  std::optional<absl::Time> since;
  if (!data.empty() && (data[0] & 1)) {
    int64_t seconds = 0;
    for (size_t i = 1; i < 9 && i < data.size(); ++i) {
      seconds = (seconds << 8) | static_cast<unsigned char>(data[i]);
    }
    // Times a hub can hold: within years 0001-9999.
    seconds = seconds % int64_t{253402300799};
    since = absl::FromUnixSeconds(seconds);
    data.remove_prefix(std::min<size_t>(9, data.size()));
  } else if (!data.empty()) {
    data.remove_prefix(1);
  }
  upstream::CallOptions options;
  options.api_key = std::string(data);
  ClearRecorded();
  std::optional<absl::Status> result;
  upstream::WatchHandler handler;
  handler.on_frame = [](auto) {};
  const uint64_t n =
      h.stub.WatchAll(since, std::move(options), std::move(handler),
                      [&](absl::Status s) { result = s; });
  std::optional<RecordedRequest> r = OneRequestOrRejected(result, n, data);
  Check(r.has_value(), "watch rejected", data);
  const ParsedUrl p = ParseBack(r->url);
  Check(p.scheme == "ws" && p.host == kHost, "origin changed", r->url);
  Check(p.path == "/api/v1/tasks/watch/all", "path changed", r->url);
  Check(p.query.has_value(), "no query", r->url);
  std::vector<std::pair<std::string, std::string>> expected = {
      {"token", std::string(data)}};
  if (since) {
    expected.emplace_back(
        "since",
        absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", *since, absl::UTCTimeZone()));
  }
  CheckQueryParams(*p.query, expected, r->url);
  ClearRecorded();
}

// FuzzCreateTask: a CreateTaskRequest (protobuf wire bytes); when the
// service accepts it, the stub must post to /tasks/<flow> with a flow
// segment of [a-z-] only.
void FuzzCreateTask(absl::string_view data) {
  Harness& h = GetHarness();
  v1::CreateTaskRequest request;
  if (!request.ParseFromArray(data.data(), static_cast<int>(data.size()))) {
    return;
  }
  ClearRecorded();
  std::optional<absl::Status> result;
  const uint64_t n = h.stub.CreateTask(
      request, "gw-fuzz", Options(),
      [&](absl::StatusOr<v1::TaskCreation> s) { result = s.status(); });
  std::optional<RecordedRequest> r = OneRequestOrRejected(result, n, "create");
  if (!r) {
    Check(request.params_case() == v1::CreateTaskRequest::PARAMS_NOT_SET,
          "a flow was refused", "create");
    return;
  }
  const ParsedUrl p = ParseBack(r->url);
  Check(p.scheme == "http" && p.host == kHost, "origin changed", r->url);
  Check(!p.query.has_value(), "query in create URL", r->url);
  Check(absl::StartsWith(p.path, "/api/v1/tasks/"), "path changed", r->url);
  const absl::string_view flow =
      absl::string_view(p.path).substr(sizeof("/api/v1/tasks/") - 1);
  Check(!flow.empty(), "empty flow", r->url);
  for (const char c : flow) {
    Check((c >= 'a' && c <= 'z') || c == '-', "flow outside [a-z-]", r->url);
  }
  ClearRecorded();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const absl::string_view rest(reinterpret_cast<const char*>(data) + 1,
                               size - 1);
  switch (data[0] % 4) {
    case 0:
      FuzzTaskId(std::string(rest));
      break;
    case 1:
      FuzzListOwnModels(rest);
      break;
    case 2:
      FuzzWatchAll(rest);
      break;
    case 3:
      FuzzCreateTask(rest);
      break;
  }
  return 0;
}
