#include "server/upstream/triverse_stub.h"

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
#include "rapidjson/document.h"
#include "server/errors/upstream_status.h"
#include "server/translate/request_json.h"

namespace triverse::upstream {
namespace {

constexpr char kWatchAllOp[] = "WatchAll";
constexpr size_t kMaxPathIdLength = 64;
constexpr size_t kMaxFileNameLength = 255;
constexpr size_t kMaxHeaderNameLength = 64;
// The most of a DownloadAsset error body kept for AsStatus: error
// envelopes are a few hundred bytes.
constexpr size_t kMaxErrorBodyBytes = size_t{64} << 10;

// PercentEncode escapes everything but RFC 3986's unreserved characters,
// for a query value.
std::string PercentEncode(absl::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (const char c : value) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '.' || c == '_' ||
        c == '~') {
      out.push_back(c);
    } else {
      absl::StrAppendFormat(&out, "%%%02X", static_cast<unsigned char>(c));
    }
  }
  return out;
}

bool IsSuccess(long status) {  // NOLINT(runtime/int)
  return status >= 200 && status < 300;
}

// Prefixed returns `status` with its message prefixed by the operation, so
// that every error names the operation (style rule 8). Translate and local
// errors carry no payloads, so nothing is lost.
absl::Status Prefixed(absl::string_view operation, const absl::Status& status) {
  return absl::Status(status.code(),
                      absl::StrCat(operation, ": ", status.message()));
}

// IsToken tells whether `s` is an HTTP token (RFC 9110 section 5.6.2).
bool IsToken(absl::string_view s) {
  if (s.empty()) return false;
  for (const char c : s) {
    if (absl::ascii_isalnum(static_cast<unsigned char>(c))) continue;
    if (!absl::StrContains("!#$%&'*+-.^_`|~", c)) return false;
  }
  return true;
}

// HasControl tells whether `s` holds a control character (CR, LF, NUL, ...).
bool HasControl(absl::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
  });
}

// ErrorFromResponse builds the UpstreamError of a response that is not a
// success: the HTTP status, the envelope when the body is one, Retry-After.
errors::UpstreamError ErrorFromResponse(absl::string_view operation,
                                        const http::HttpResponse& response,
                                        bool caller_key, absl::Time now) {
  errors::UpstreamError e;
  e.operation = std::string(operation);
  e.http_status = response.status;
  e.caller_key = caller_key;
  if (absl::StatusOr<translate::Envelope> env =
          translate::ParseEnvelope(response.body);
      env.ok()) {
    e.code = env->code;
    e.message = env->message;
    e.suggestion = env->suggestion;
  }
  e.retry_after = ParseRetryAfter(response.Header("retry-after"), now);
  return e;
}

// CodeOf is an exchange's code for the observer: the HTTP status, or the
// transport error's code name.
std::string CodeOf(const absl::StatusOr<http::HttpResponse>& response) {
  if (response.ok()) return absl::StrCat(response->status);
  return absl::StatusCodeToString(response.status().code());
}

// MetadataOf builds a DownloadAsset's metadata from a 2xx response head.
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

std::string CreateTaskEndpoint(const v1::CreateTaskRequest& request) {
  const std::string flow = translate::FlowName(request);
  if (flow.empty() || !IsValidPathId(flow)) return "POST /tasks/{flow}";
  return absl::StrCat("POST /tasks/", flow);
}

absl::string_view UploadEndpoint(v1::FileKind kind) {
  switch (kind) {
    case v1::FILE_KIND_IMAGE:
      return kEndpointUploadImage;
    case v1::FILE_KIND_MODEL:
      return kEndpointUploadModel;
    default:
      return "POST /upload/{kind}";
  }
}

bool IsValidPathId(absl::string_view id) {
  if (id.empty() || id.size() > kMaxPathIdLength) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-';
  });
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

RestTriverseStub::RestTriverseStub(http::CurlEngine* engine, Options options)
    : engine_(engine), options_(std::move(options)) {}

void RestTriverseStub::Observe(
    absl::string_view endpoint, absl::string_view code,
    std::chrono::steady_clock::time_point start) const {
  if (!options_.observer || endpoint.empty()) return;
  UpstreamExchange exchange;
  exchange.endpoint = endpoint;
  exchange.code = code;
  exchange.elapsed = absl::FromChrono(std::chrono::steady_clock::now() - start);
  options_.observer(exchange);
}

uint64_t RestTriverseStub::Start(
    http::HttpRequest request, const CallOptions& options,
    absl::string_view endpoint,
    absl::AnyInvocable<void(absl::StatusOr<http::HttpResponse>)> on_response) {
  request.timeout = options.timeout;
  request.headers.emplace_back("Authorization",
                               absl::StrCat("Bearer ", options.api_key));
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

template <typename T, typename Parse>
uint64_t RestTriverseStub::Call(absl::string_view operation,
                                absl::string_view endpoint,
                                http::HttpRequest request, CallOptions options,
                                Parse parse, Callback<T> done) {
  const bool caller_key = options.caller_key;
  return Start(std::move(request), options, endpoint,
               [this, op = std::string(operation), caller_key,
                parse = std::move(parse), done = std::move(done)](
                   absl::StatusOr<http::HttpResponse> response) mutable {
                 // Transport errors are statuses already, mapped by the engine.
                 if (!response.ok()) return done(std::move(response).status());
                 if (!IsSuccess(response->status)) {
                   return done(errors::AsStatus(ErrorFromResponse(
                       op, *response, caller_key, options_.now())));
                 }
                 absl::StatusOr<translate::Envelope> env =
                     translate::ParseEnvelope(response->body);
                 if (!env.ok()) return done(Prefixed(op, env.status()));
                 if (env->code != 0) {
                   // A 2xx that carries an error envelope: still an upstream
                   // error.
                   errors::UpstreamError e = ErrorFromResponse(
                       op, *response, caller_key, options_.now());
                   return done(errors::AsStatus(e));
                 }
                 absl::StatusOr<T> result = parse(env->data_json);
                 if (!result.ok()) return done(Prefixed(op, result.status()));
                 done(std::move(result));
               });
}

uint64_t RestTriverseStub::CreateTask(const v1::CreateTaskRequest& request,
                                      absl::string_view client_order_id,
                                      CallOptions options,
                                      Callback<v1::TaskCreation> done) {
  constexpr absl::string_view kOp = "CreateTask";
  absl::StatusOr<std::pair<std::string, std::string>> built =
      translate::BuildCreateTaskBody(request, client_order_id);
  if (!built.ok()) {
    // The only failure is an unset oneof: the caller's, with a BadRequest.
    done(errors::InvalidArgument({{"params", "must be set"}}));
    return 0;
  }
  // The flow segment comes from our own table, but check it like any id.
  if (!IsValidPathId(built->first)) {
    done(errors::InvalidArgument({{"params", "unknown flow"}}));
    return 0;
  }
  http::HttpRequest http;
  http.method = "POST";
  http.url = absl::StrCat(options_.base_url, "/tasks/", built->first);
  http.headers.emplace_back("Content-Type", "application/json");
  http.body = std::move(built->second);
  return Call<v1::TaskCreation>(
      kOp, absl::StrCat("POST /tasks/", built->first), std::move(http),
      std::move(options),
      [order = std::string(client_order_id)](
          absl::string_view data) -> absl::StatusOr<v1::TaskCreation> {
        absl::StatusOr<v1::TaskCreation> c = translate::ParseTaskCreation(data);
        if (c.ok()) c->set_client_order_id(order);
        return c;
      },
      std::move(done));
}

uint64_t RestTriverseStub::GetTask(absl::string_view task_uuid,
                                   absl::string_view read_after_write_header,
                                   CallOptions options,
                                   Callback<v1::Task> done) {
  if (!IsValidPathId(task_uuid)) {
    done(errors::InvalidArgument(
        {{"task_uuid", "must be 1-64 characters of [0-9A-Za-z-]"}}));
    return 0;
  }
  http::HttpRequest http;
  http.url = absl::StrCat(options_.base_url, "/tasks/", task_uuid);
  if (!read_after_write_header.empty()) {
    // The name comes from an upstream payload: untrusted, so it must be a
    // plain token that cannot smuggle another header in.
    if (!IsToken(read_after_write_header) ||
        read_after_write_header.size() > kMaxHeaderNameLength) {
      done(errors::InvalidArgument(
          {{"read_after_write_header", "must be an HTTP token"}}));
      return 0;
    }
    http.headers.emplace_back(std::string(read_after_write_header), "1");
  }
  return Call<v1::Task>("GetTask", kEndpointGetTask, std::move(http),
                        std::move(options), &translate::ParseTask,
                        std::move(done));
}

uint64_t RestTriverseStub::QuotePrice(const v1::QuotePriceRequest& request,
                                      CallOptions options,
                                      Callback<v1::PriceQuote> done) {
  constexpr absl::string_view kOp = "QuotePrice";
  absl::StatusOr<std::string> body = translate::BuildQuoteBody(request);
  if (!body.ok()) {
    done(errors::InvalidArgument({{"params", "must be set"}}));
    return 0;
  }
  http::HttpRequest http;
  http.method = "POST";
  http.url = absl::StrCat(options_.base_url, "/tasks/pricing/quote");
  http.headers.emplace_back("Content-Type", "application/json");
  http.body = *std::move(body);
  return Call<v1::PriceQuote>(kOp, kEndpointQuotePrice, std::move(http),
                              std::move(options), &translate::ParsePriceQuote,
                              std::move(done));
}

uint64_t RestTriverseStub::GetDownloadUrl(absl::string_view task_uuid,
                                          CallOptions options,
                                          Callback<v1::DownloadUrl> done) {
  if (!IsValidPathId(task_uuid)) {
    done(errors::InvalidArgument(
        {{"task_uuid", "must be 1-64 characters of [0-9A-Za-z-]"}}));
    return 0;
  }
  http::HttpRequest http;
  http.url = absl::StrCat(options_.base_url, "/tasks/url/", task_uuid);
  return Call<v1::DownloadUrl>("GetDownloadUrl", kEndpointGetDownloadUrl,
                               std::move(http), std::move(options),
                               &translate::ParseDownloadUrl, std::move(done));
}

uint64_t RestTriverseStub::ListOwnModels(
    int64_t page, int64_t size, CallOptions options,
    Callback<translate::OwnModelsPage> done) {
  http::HttpRequest http;
  http.url = absl::StrCat(options_.base_url,
                          "/platform/generate/own-models?current=", page,
                          "&size=", size);
  return Call<translate::OwnModelsPage>(
      "ListOwnModels", kEndpointListOwnModels, std::move(http),
      std::move(options), &translate::ParseOwnModelsPage, std::move(done));
}

uint64_t RestTriverseStub::GetUser(CallOptions options,
                                   Callback<v1::User> done) {
  http::HttpRequest http;
  http.url = absl::StrCat(options_.base_url, "/users/me");
  return Call<v1::User>("GetUser", kEndpointGetUser, std::move(http),
                        std::move(options), &translate::ParseUser,
                        std::move(done));
}

uint64_t RestTriverseStub::GetBalance(CallOptions options,
                                      Callback<v1::Balance> done) {
  http::HttpRequest http;
  http.url = absl::StrCat(options_.base_url, "/users/balance");
  return Call<v1::Balance>("GetBalance", kEndpointGetBalance, std::move(http),
                           std::move(options), &translate::ParseBalance,
                           std::move(done));
}

uint64_t RestTriverseStub::UploadFile(UploadSpec file, CallOptions options,
                                      Callback<std::string> done) {
  std::string path;
  switch (file.kind) {
    case v1::FILE_KIND_IMAGE:
      path = "/upload/image";
      break;
    case v1::FILE_KIND_MODEL:
      path = "/upload/model";
      if (file.model_variant == v1::MODEL_VARIANT_GEOMETRY) {
        path += "?modelVariant=geometry";
      } else if (file.model_variant == v1::MODEL_VARIANT_TEXTURED) {
        path += "?modelVariant=textured";
      }
      break;
    default:
      done(errors::InvalidArgument(
          {{"metadata.kind", "must be FILE_KIND_IMAGE or FILE_KIND_MODEL"}}));
      return 0;
  }
  // The file name and content type go into the part headers verbatim: no
  // quote, backslash or control character may break out of them.
  if (file.file_name.empty() || file.file_name.size() > kMaxFileNameLength ||
      HasControl(file.file_name) || absl::StrContains(file.file_name, '"') ||
      absl::StrContains(file.file_name, '\\')) {
    done(errors::InvalidArgument(
        {{"metadata.file_name",
          "must be 1-255 printable characters without '\"' or '\\'"}}));
    return 0;
  }
  if (HasControl(file.content_type) ||
      file.content_type.size() > kMaxFileNameLength) {
    done(errors::InvalidArgument(
        {{"metadata.content_type", "must be a media type such as image/png"}}));
    return 0;
  }
  const std::string content_type = file.content_type.empty()
                                       ? "application/octet-stream"
                                       : file.content_type;
  const std::string boundary = RandomBoundary(file.bytes);
  http::HttpRequest http;
  http.method = "POST";
  http.url = absl::StrCat(options_.base_url, path);
  http.headers.emplace_back(
      "Content-Type", absl::StrCat("multipart/form-data; boundary=", boundary));
  http.body = absl::StrCat(
      "--", boundary, "\r\n",
      "Content-Disposition: form-data; name=\"file\"; filename=\"",
      file.file_name, "\"\r\n", "Content-Type: ", content_type, "\r\n\r\n");
  http.body.append(file.bytes);
  absl::StrAppend(&http.body, "\r\n--", boundary, "--\r\n");
  file.bytes.clear();
  return Call<std::string>(
      "UploadFile", UploadEndpoint(file.kind), std::move(http),
      std::move(options),
      [](absl::string_view data) {
        return translate::ParseUploadFileKey(data);
      },
      std::move(done));
}

uint64_t RestTriverseStub::DownloadAsset(
    absl::string_view task_uuid, CallOptions options, DownloadSink sink,
    absl::AnyInvocable<void(absl::Status)> done) {
  constexpr absl::string_view kOp = "DownloadAsset";
  if (!IsValidPathId(task_uuid)) {
    done(errors::InvalidArgument(
        {{"task_uuid", "must be 1-64 characters of [0-9A-Za-z-]"}}));
    return 0;
  }
  // Streamed: the engine reports the response head (on_headers) before the
  // first body chunk, so a 2xx body goes straight to the sink as it arrives
  // and nothing but the current chunk is held. Any other status carries a
  // small error envelope, collected (bounded) for AsStatus; the sink never
  // sees it. The engine thread runs every callback below, one at a time, so
  // the state needs no lock.
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
  http::HttpRequest http;
  http.url = absl::StrCat(options_.base_url, "/tasks/download/", task_uuid);
  // The asset is binary; an error still comes as a JSON envelope.
  http.headers.emplace_back("Accept", "*/*");
  http.on_headers = [state](const http::HttpResponse& head) {
    state->have_head = true;
    state->head.status = head.status;
    state->head.headers = head.headers;
    state->success = IsSuccess(head.status);
    if (state->success && state->sink.on_metadata) {
      state->sink.on_metadata(MetadataOf(head));
    }
    return true;
  };
  http.on_body_chunk = [state](absl::string_view chunk) {
    if (state->success) {
      if (state->sink.on_chunk && !state->sink.on_chunk(chunk)) {
        state->sink_stopped = true;
        return false;
      }
      return true;
    }
    // An error body larger than any envelope: keep what fits and stop
    // reading; AsStatus then maps the HTTP status (and the envelope, if the
    // part kept happens to parse).
    const size_t room = kMaxErrorBodyBytes - state->error_body.size();
    state->error_body.append(chunk.data(), std::min(room, chunk.size()));
    if (chunk.size() > room) {
      state->error_body_cut = true;
      return false;
    }
    return true;
  };
  const bool caller_key = options.caller_key;
  // Reported here rather than by Start: an error body cut short ends the
  // transfer with a transport error, yet the exchange had an HTTP status.
  return Start(
      std::move(http), options, /*endpoint=*/"",
      [this, kOp, caller_key, state, start = std::chrono::steady_clock::now(),
       done = std::move(done)](
          absl::StatusOr<http::HttpResponse> response) mutable {
        Observe(kEndpointDownloadAsset,
                state->have_head && (response.ok() || !state->success)
                    ? absl::StrCat(state->head.status)
                    : CodeOf(response),
                start);
        if (state->sink_stopped) {
          return done(absl::CancelledError(
              absl::StrCat(kOp, ": the sink stopped the download")));
        }
        if (state->have_head && !state->success &&
            (response.ok() || state->error_body_cut)) {
          // An upstream error: never the sink's business.
          http::HttpResponse error = std::move(state->head);
          error.body = std::move(state->error_body);
          return done(errors::AsStatus(
              ErrorFromResponse(kOp, error, caller_key, options_.now())));
        }
        // Transport errors, before or after the head, are the
        // engine's.
        if (!response.ok()) return done(std::move(response).status());
        if (!state->have_head) {
          // The engine reports the head of every complete response;
          // without it the body went nowhere.
          return done(absl::InternalError(
              absl::StrCat(kOp, ": the response head was not reported")));
        }
        done(absl::OkStatus());
      });
}

uint64_t RestTriverseStub::WatchAll(
    std::optional<absl::Time> since, CallOptions options, WatchHandler handler,
    absl::AnyInvocable<void(absl::Status)> done) {
  const absl::string_view base = options_.base_url;
  http::WebSocketRequest ws;
  if (absl::StartsWith(base, "https://")) {
    ws.url = absl::StrCat("wss://", base.substr(8));
  } else if (absl::StartsWith(base, "http://")) {
    ws.url = absl::StrCat("ws://", base.substr(7));
  } else {
    done(absl::InvalidArgumentError(absl::StrCat(
        kWatchAllOp, ": the base URL is neither http:// nor https://")));
    return 0;
  }
  absl::StrAppend(&ws.url,
                  "/tasks/watch/all?token=", PercentEncode(options.api_key));
  if (since) {
    absl::StrAppend(
        &ws.url, "&since=",
        absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", *since, absl::UTCTimeZone()));
  }
  ws.headers = std::move(options.extra_headers);
  // The observer sees the upgrade (101, when on_open runs) or its failure
  // (the refusal's status or the transport error, when the socket ends
  // without having opened); a socket's lifetime is no request latency.
  auto opened = std::make_shared<bool>(false);  // Engine thread only.
  const auto start = std::chrono::steady_clock::now();
  ws.on_open = [this, opened, start,
                on_open = std::move(handler.on_open)]() mutable {
    *opened = true;
    Observe(kEndpointWatchAll, "101", start);
    if (on_open) on_open();
  };
  ws.on_message = [on_frame = std::move(handler.on_frame)](
                      absl::string_view message, bool is_text) mutable {
    if (!is_text) {
      on_frame(absl::DataLossError(absl::StrCat(
          kWatchAllOp, ": a binary message where text records go")));
      return true;
    }
    absl::StatusOr<std::optional<translate::WatchFrame>> frame =
        translate::ParseWatchFrame(message);
    if (!frame.ok()) {
      on_frame(frame.status());
    } else if (frame->has_value()) {
      on_frame(**std::move(frame));
    }
    return true;
  };
  const bool caller_key = options.caller_key;
  return engine_->OpenWebSocket(
      std::move(ws), [this, opened, start, done = std::move(done), caller_key](
                         absl::StatusOr<http::WebSocketEnd> end) mutable {
        if (!*opened) {
          Observe(kEndpointWatchAll,
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
        errors::UpstreamError error;
        error.operation = std::string(kWatchAllOp);
        error.http_status = end->http_status;
        error.message = absl::StrCat("the upgrade was refused with HTTP ",
                                     end->http_status);
        error.caller_key = caller_key;
        done(errors::AsStatus(error));
      });
}

void RestTriverseStub::Cancel(uint64_t id) {
  if (id != 0) engine_->Cancel(id);
}

}  // namespace triverse::upstream
