#include "server/upstream/rest_transport.h"

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <memory>
#include <random>
#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "server/errors/upstream_status.h"

namespace triverse::upstream {
namespace {

constexpr size_t kMaxFileNameLength = 255;
// The most of a download's error body kept for the error mapping: error
// bodies are a few hundred bytes.
constexpr size_t kMaxErrorBodyBytes = size_t{64} << 10;

// HasControl tells whether `s` holds a control character (CR, LF, NUL, ...).
bool HasControl(absl::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
  });
}

// CodeOf is an exchange's code for the observer: the HTTP status, or the
// transport error's code name.
std::string CodeOf(const absl::StatusOr<http::HttpResponse>& response) {
  if (response.ok()) return absl::StrCat(response->status);
  return absl::StatusCodeToString(response.status().code());
}

// MetadataOf builds a download's metadata from a 2xx response head.
v1::AssetMetadata MetadataOf(const http::HttpResponse& head) {
  v1::AssetMetadata metadata;
  metadata.set_file_name(
      ParseContentDispositionFileName(head.Header("content-disposition")));
  metadata.set_content_type(head.Header("content-type"));
  int64_t length = 0;
  if (absl::SimpleAtoi(head.Header("content-length"), &length) && length >= 0) {
    metadata.set_size_bytes(length);
  }
  return metadata;
}

// RandomBoundary returns a multipart boundary that does not occur in `data`.
std::string RandomBoundary(absl::string_view data) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  while (true) {
    std::string b = absl::StrFormat("triverse-%016x%016x", rng(), rng());
    if (!absl::StrContains(data, b)) return b;
  }
}

}  // namespace

bool IsSuccess(long status) {  // NOLINT(runtime/int)
  return status >= 200 && status < 300;
}

absl::Status Prefixed(absl::string_view operation, const absl::Status& status) {
  return absl::Status(status.code(),
                      absl::StrCat(operation, ": ", status.message()));
}

bool IsHttpToken(absl::string_view s) {
  if (s.empty()) return false;
  for (const char c : s) {
    if (absl::ascii_isalnum(static_cast<unsigned char>(c))) continue;
    if (!absl::StrContains("!#$%&'*+-.^_`|~", c)) return false;
  }
  return true;
}

absl::Status CheckUploadSpec(const UploadSpec& file) {
  // The file name and content type go into the part headers verbatim: no
  // quote, backslash or control character may break out of them.
  if (file.file_name.empty() || file.file_name.size() > kMaxFileNameLength ||
      HasControl(file.file_name) || absl::StrContains(file.file_name, '"') ||
      absl::StrContains(file.file_name, '\\')) {
    return errors::InvalidArgument(
        {{"metadata.file_name",
          "must be 1-255 printable characters without '\"' or '\\'"}});
  }
  if (HasControl(file.content_type) ||
      file.content_type.size() > kMaxFileNameLength) {
    return errors::InvalidArgument(
        {{"metadata.content_type", "must be a media type such as image/png"}});
  }
  return absl::OkStatus();
}

std::string MultipartBody(UploadSpec& file, std::string* content_type) {
  const std::string part_type = file.content_type.empty()
                                    ? "application/octet-stream"
                                    : file.content_type;
  const std::string boundary = RandomBoundary(file.bytes);
  *content_type = absl::StrCat("multipart/form-data; boundary=", boundary);
  std::string body = absl::StrCat(
      "--", boundary, "\r\n",
      "Content-Disposition: form-data; name=\"file\"; filename=\"",
      file.file_name, "\"\r\n", "Content-Type: ", part_type, "\r\n\r\n");
  body.append(file.bytes);
  absl::StrAppend(&body, "\r\n--", boundary, "--\r\n");
  file.bytes.clear();
  file.bytes.shrink_to_fit();
  return body;
}

std::optional<std::string> WebSocketBase(absl::string_view http_base) {
  if (absl::StartsWith(http_base, "https://")) {
    return absl::StrCat("wss://", http_base.substr(8));
  }
  if (absl::StartsWith(http_base, "http://")) {
    return absl::StrCat("ws://", http_base.substr(7));
  }
  return std::nullopt;
}

std::optional<absl::Duration> ParseRetryAfter(absl::string_view value,
                                              absl::Time now) {
  value = absl::StripAsciiWhitespace(value);
  if (value.empty()) return std::nullopt;
  if (std::all_of(value.begin(), value.end(), [](char c) {
        return absl::ascii_isdigit(static_cast<unsigned char>(c));
      })) {
    // Delta-seconds. Anything beyond a day is clamped: no sane retry waits
    // longer, and it keeps the arithmetic far from overflow.
    constexpr int64_t kMaxSeconds = 24 * 3600;
    int64_t seconds = kMaxSeconds;
    if (value.size() <= 9 && !absl::SimpleAtoi(value, &seconds)) {
      return std::nullopt;
    }
    return absl::Seconds(std::min(seconds, kMaxSeconds));
  }
  // HTTP-date: IMF-fixdate, then the two obsolete forms RFC 9110 requires
  // recipients to accept.
  for (const char* format :
       {"%a, %d %b %Y %H:%M:%S GMT", "%A, %d-%b-%y %H:%M:%S GMT",
        "%a %b %e %H:%M:%S %Y"}) {
    absl::Time t;
    std::string err;
    if (absl::ParseTime(format, std::string(value), absl::UTCTimeZone(), &t,
                        &err)) {
      return std::max(t - now, absl::ZeroDuration());
    }
  }
  return std::nullopt;
}

std::string ParseContentDispositionFileName(absl::string_view value) {
  // Find `filename=` as a parameter (not `filename*=`), case-insensitively.
  const std::string lower = absl::AsciiStrToLower(value);
  size_t pos = 0;
  while ((pos = lower.find("filename", pos)) != std::string::npos) {
    const bool at_param_start = pos == 0 || lower[pos - 1] == ';' ||
                                lower[pos - 1] == ' ' || lower[pos - 1] == '\t';
    size_t i = pos + 8;
    while (i < lower.size() && (lower[i] == ' ' || lower[i] == '\t')) ++i;
    if (!at_param_start || i >= lower.size() || lower[i] != '=') {
      pos += 8;
      continue;
    }
    ++i;
    while (i < value.size() && (value[i] == ' ' || value[i] == '\t')) ++i;
    std::string out;
    if (i < value.size() && value[i] == '"') {
      for (++i; i < value.size() && value[i] != '"'; ++i) {
        if (value[i] == '\\' && i + 1 < value.size()) ++i;
        out.push_back(value[i]);
      }
    } else {
      for (; i < value.size() && value[i] != ';'; ++i) out.push_back(value[i]);
      out = std::string(absl::StripTrailingAsciiWhitespace(out));
    }
    return out;
  }
  return "";
}

RestTransport::RestTransport(http::CurlEngine* engine, Options options)
    : engine_(engine), options_(std::move(options)) {}

void RestTransport::Observe(absl::string_view endpoint, absl::string_view code,
                            std::chrono::steady_clock::time_point start) const {
  if (!options_.observer || endpoint.empty()) return;
  UpstreamExchange exchange;
  exchange.endpoint = endpoint;
  exchange.code = code;
  exchange.elapsed = absl::FromChrono(std::chrono::steady_clock::now() - start);
  options_.observer(exchange);
}

uint64_t RestTransport::Send(
    http::HttpRequest request, const CallOptions& options,
    absl::string_view endpoint,
    absl::AnyInvocable<void(absl::StatusOr<http::HttpResponse>)> on_response,
    bool authorize) {
  request.timeout = options.timeout;
  if (authorize) {
    request.headers.emplace_back("Authorization",
                                 absl::StrCat("Bearer ", options.api_key));
  }
  const bool has_accept = std::any_of(
      request.headers.begin(), request.headers.end(),
      [](const auto& h) { return absl::EqualsIgnoreCase(h.first, "accept"); });
  if (!has_accept) request.headers.emplace_back("Accept", "application/json");
  for (const auto& header : options.extra_headers) {
    request.headers.push_back(header);
  }
  return engine_->Start(
      std::move(request),
      [this,
       endpoint = options_.observer ? std::string(endpoint) : std::string(),
       start = std::chrono::steady_clock::now(),
       on_response = std::move(on_response)](
          absl::StatusOr<http::HttpResponse> response) mutable {
        Observe(endpoint, CodeOf(response), start);
        on_response(std::move(response));
      });
}

uint64_t RestTransport::Download(absl::string_view operation,
                                 absl::string_view endpoint,
                                 http::HttpRequest request,
                                 const CallOptions& options, bool authorize,
                                 ErrorMapper map_error, DownloadSink sink,
                                 absl::AnyInvocable<void(absl::Status)> done) {
  // Streamed: the engine reports the response head (on_headers) before the
  // first body chunk, so a 2xx body goes straight to the sink as it arrives
  // and nothing but the current chunk is held. Any other status carries a
  // small error body, collected (bounded) for the error mapping; the sink
  // never sees it. The engine thread runs every callback below, one at a
  // time, so the state needs no lock.
  struct State {
    DownloadSink sink;
    // The final response's status and headers (body unused), once known.
    http::HttpResponse head;
    bool have_head = false;
    bool success = false;  // A 2xx: the body is the asset.
    bool sink_stopped = false;
    std::string error_body;  // Of a non-2xx, up to kMaxErrorBodyBytes.
    bool error_body_cut = false;
  };
  auto state = std::make_shared<State>();
  state->sink = std::move(sink);
  // The asset is binary; an error still comes as a JSON body.
  request.headers.emplace_back("Accept", "*/*");
  request.on_headers = [state](const http::HttpResponse& head) {
    state->have_head = true;
    state->head.status = head.status;
    state->head.headers = head.headers;
    state->success = IsSuccess(head.status);
    if (state->success && state->sink.on_metadata) {
      state->sink.on_metadata(MetadataOf(head));
    }
    return true;
  };
  request.on_body_chunk = [state](absl::string_view chunk) {
    if (state->success) {
      if (state->sink.on_chunk && !state->sink.on_chunk(chunk)) {
        state->sink_stopped = true;
        return false;
      }
      return true;
    }
    // An error body larger than any envelope: keep what fits and stop
    // reading; the mapping then goes by the HTTP status (and the body, if
    // the part kept happens to parse).
    const size_t room = kMaxErrorBodyBytes - state->error_body.size();
    state->error_body.append(chunk.data(), std::min(room, chunk.size()));
    if (chunk.size() > room) {
      state->error_body_cut = true;
      return false;
    }
    return true;
  };
  const bool caller_key = options.caller_key;
  // Reported here rather than by Send: an error body cut short ends the
  // transfer with a transport error, yet the exchange had an HTTP status.
  return Send(
      std::move(request), options, /*endpoint=*/"",
      [this, op = std::string(operation), endpoint = std::string(endpoint),
       caller_key, state, start = std::chrono::steady_clock::now(),
       map_error = std::move(map_error), done = std::move(done)](
          absl::StatusOr<http::HttpResponse> response) mutable {
        Observe(endpoint,
                state->have_head && (response.ok() || !state->success)
                    ? absl::StrCat(state->head.status)
                    : CodeOf(response),
                start);
        if (state->sink_stopped) {
          return done(absl::CancelledError(
              absl::StrCat(op, ": the sink stopped the download")));
        }
        if (state->have_head && !state->success &&
            (response.ok() || state->error_body_cut)) {
          // An upstream error: never the sink's business.
          http::HttpResponse error = std::move(state->head);
          error.body = std::move(state->error_body);
          return done(map_error(op, error, caller_key));
        }
        // Transport errors, before or after the head, are the engine's.
        if (!response.ok()) return done(std::move(response).status());
        if (!state->have_head) {
          // The engine reports the head of every complete response;
          // without it the body went nowhere.
          return done(absl::InternalError(
              absl::StrCat(op, ": the response head was not reported")));
        }
        done(absl::OkStatus());
      },
      authorize);
}

uint64_t RestTransport::Watch(absl::string_view operation,
                              absl::string_view endpoint,
                              http::WebSocketRequest ws,
                              const CallOptions& options, FrameParser parse,
                              ErrorMapper map_error, WatchHandler handler,
                              absl::AnyInvocable<void(absl::Status)> done) {
  for (const auto& header : options.extra_headers) ws.headers.push_back(header);
  // The observer sees the upgrade (101, when on_open runs) or its failure
  // (the refusal's status or the transport error, when the socket ends
  // without having opened); a socket's lifetime is no request latency.
  auto opened = std::make_shared<bool>(false);  // Engine thread only.
  const auto start = std::chrono::steady_clock::now();
  ws.on_open = [this, opened, start, endpoint = std::string(endpoint),
                on_open = std::move(handler.on_open)]() mutable {
    *opened = true;
    Observe(endpoint, "101", start);
    if (on_open) on_open();
  };
  ws.on_message = [op = std::string(operation), parse = std::move(parse),
                   on_frame = std::move(handler.on_frame)](
                      absl::string_view message, bool is_text) mutable {
    if (!is_text) {
      on_frame(absl::DataLossError(
          absl::StrCat(op, ": a binary message where text records go")));
      return true;
    }
    absl::StatusOr<std::optional<translate::WatchFrame>> frame = parse(message);
    if (!frame.ok()) {
      on_frame(frame.status());
    } else if (frame->has_value()) {
      on_frame(**std::move(frame));
    }
    return true;
  };
  const bool caller_key = options.caller_key;
  return engine_->OpenWebSocket(
      std::move(ws),
      [this, opened, start, op = std::string(operation),
       endpoint = std::string(endpoint), map_error = std::move(map_error),
       done = std::move(done),
       caller_key](absl::StatusOr<http::WebSocketEnd> end) mutable {
        if (!*opened) {
          Observe(endpoint,
                  end.ok() ? absl::StrCat(end->http_status)
                           : absl::StatusCodeToString(end.status().code()),
                  start);
        }
        if (!end.ok()) {
          done(std::move(end).status());
          return;
        }
        if (end->http_status == 101) {
          done(absl::OkStatus());
          return;
        }
        http::HttpResponse refusal;
        refusal.status = end->http_status;
        done(map_error(op, refusal, caller_key));
      });
}

RestTransport::~RestTransport() = default;

bool RestTransport::SameOrigin(absl::string_view url) const {
  // The origin is the base URL up to the first '/' after "scheme://".
  absl::string_view base = options_.base_url;
  const size_t scheme = base.find("://");
  if (scheme == absl::string_view::npos) return false;
  const size_t path = base.find('/', scheme + 3);
  const absl::string_view origin =
      path == absl::string_view::npos ? base : base.substr(0, path);
  return absl::StartsWithIgnoreCase(url, origin) &&
         (url.size() == origin.size() || url[origin.size()] == '/' ||
          url[origin.size()] == '?');
}

uint64_t RestTransport::DownloadAfter(
    absl::string_view operation, absl::string_view endpoint,
    absl::AnyInvocable<uint64_t(UrlCallback)> resolve,
    const CallOptions& options, int max_redirects, ErrorMapper map_error,
    DownloadSink sink, absl::AnyInvocable<void(absl::Status)> done) {
  auto chain = std::make_shared<Chain>();
  uint64_t id = 0;
  {
    absl::MutexLock lock(&chains_mu_);
    id = kChainBit | next_chain_++;
    chains_[id] = chain;
  }
  // Both steps fit in the one timeout the caller gave.
  const absl::Time deadline = absl::Now() + options.timeout;
  const uint64_t first = resolve(
      [this, id, chain, op = std::string(operation),
       endpoint = std::string(endpoint), options, deadline, max_redirects,
       map_error = std::move(map_error), sink = std::move(sink),
       done = std::move(done)](absl::StatusOr<std::string> url) mutable {
        if (!url.ok()) {
          ForgetChain(id);
          return done(std::move(url).status());
        }
        {
          absl::MutexLock lock(&chain->mu);
          chain->second_step = true;
          chain->step_id = 0;
          if (chain->cancelled) {
            ForgetChain(id);
            return done(absl::CancelledError(absl::StrCat(op, ": cancelled")));
          }
        }
        const absl::Duration left = deadline - absl::Now();
        if (left <= absl::ZeroDuration()) {
          ForgetChain(id);
          return done(absl::DeadlineExceededError(absl::StrCat(
              op, ": no time left to fetch the asset after finding it")));
        }
        CallOptions second_options = options;
        second_options.timeout = left;
        http::HttpRequest request;
        request.url = *std::move(url);
        request.max_redirects = max_redirects;
        const bool authorize = SameOrigin(request.url);
        const uint64_t second = Download(
            op, endpoint, std::move(request), second_options, authorize,
            std::move(map_error), std::move(sink),
            [this, id, done = std::move(done)](absl::Status status) mutable {
              ForgetChain(id);
              done(std::move(status));
            });
        bool cancel_now = false;
        {
          absl::MutexLock lock(&chain->mu);
          chain->step_id = second;
          cancel_now = chain->cancelled;
        }
        if (cancel_now && second != 0) engine_->Cancel(second);
      });
  bool cancel_now = false;
  {
    absl::MutexLock lock(&chain->mu);
    if (!chain->second_step) {
      chain->step_id = first;
      cancel_now = chain->cancelled;
    }
  }
  if (cancel_now && first != 0) engine_->Cancel(first);
  return id;
}

void RestTransport::ForgetChain(uint64_t id) {
  absl::MutexLock lock(&chains_mu_);
  chains_.erase(id);
}

void RestTransport::Cancel(uint64_t id) {
  if (id == 0) return;
  if ((id & kChainBit) == 0) {
    engine_->Cancel(id);
    return;
  }
  std::shared_ptr<Chain> chain;
  {
    absl::MutexLock lock(&chains_mu_);
    auto it = chains_.find(id);
    if (it == chains_.end()) return;
    chain = it->second;
  }
  uint64_t step = 0;
  {
    absl::MutexLock lock(&chain->mu);
    chain->cancelled = true;
    step = chain->step_id;
  }
  if (step != 0) engine_->Cancel(step);
}

}  // namespace triverse::upstream
