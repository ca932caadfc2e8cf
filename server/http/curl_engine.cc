#include "server/http/curl_engine.h"

#include <curl/curl.h>
#include <pthread.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace triverse::http {
namespace {

CURLM* AsMulti(void* m) { return static_cast<CURLM*>(m); }

// CodeForCurl maps a failed transfer's CURLcode to the most specific absl
// code. Callers above this layer retry UNAVAILABLE (for idempotent requests)
// and DEADLINE_EXCEEDED (within their own deadline), so a row decides whether
// a failure is retried.
absl::StatusCode CodeForCurl(CURLcode code) {
  switch (code) {
    case CURLE_OPERATION_TIMEDOUT:
      return absl::StatusCode::kDeadlineExceeded;
    // The peer could not be reached at all: nothing was sent, so even a
    // non-idempotent request is safe to retry.
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
      return absl::StatusCode::kUnavailable;
    // The connection broke mid-exchange: a truncated body (headers promised
    // more than arrived), a reset while sending or receiving, or a closed
    // connection without any response (typically a stale keep-alive
    // connection closed by the server). Transient by nature.
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_HTTP3:
    case CURLE_QUIC_CONNECT_ERROR:
      return absl::StatusCode::kUnavailable;
    // Bytes that are not HTTP: a broken intermediary or a half-dead peer is
    // the likely cause, and another connection may well succeed. Not
    // INTERNAL: nothing in the gateway is wrong.
    case CURLE_WEIRD_SERVER_REPLY:
      return absl::StatusCode::kUnavailable;
    // A TLS handshake that failed on the wire (reset, protocol alert) is
    // transient like any other broken connection...
    case CURLE_SSL_CONNECT_ERROR:
      return absl::StatusCode::kUnavailable;
    // ...but a certificate that does not verify, or a local TLS setup
    // problem, will fail the same way on every retry until someone fixes the
    // configuration.
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
      return absl::StatusCode::kFailedPrecondition;
    // Body larger than Options::max_response_body_bytes (announced by
    // Content-Length), or libcurl ran out of memory.
    case CURLE_FILESIZE_EXCEEDED:
    case CURLE_OUT_OF_MEMORY:
      return absl::StatusCode::kResourceExhausted;
    // Rejected before any I/O: the request itself is wrong.
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
    case CURLE_BAD_FUNCTION_ARGUMENT:
      return absl::StatusCode::kInvalidArgument;
    // A body that arrived but cannot be decoded (content or transfer
    // encoding): the bytes are corrupt, not missing.
    case CURLE_BAD_CONTENT_ENCODING:
      return absl::StatusCode::kDataLoss;
    // A write or progress callback stopped the transfer; the engine reports
    // its own reasons (consumer abort, body limit) before reaching here.
    case CURLE_ABORTED_BY_CALLBACK:
      return absl::StatusCode::kCancelled;
    default:
      // Not enough information to pick a canonical code; UNKNOWN rather than
      // INTERNAL, and the message names libcurl's error.
      return absl::StatusCode::kUnknown;
  }
}

// IsToken: RFC 9110 token characters (method and header names).
bool IsToken(absl::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (absl::ascii_isalnum(static_cast<unsigned char>(c))) continue;
    if (std::strchr("!#$%&'*+-.^_`|~", c) != nullptr && c != '\0') continue;
    return false;
  }
  return true;
}

bool HasCrLf(absl::string_view s) {
  return s.find_first_of("\r\n") != absl::string_view::npos;
}

// UrlPart returns one part of a parsed URL, or "" when it is absent.
std::string UrlPart(CURLU* url, CURLUPart part) {
  char* value = nullptr;
  if (curl_url_get(url, part, &value, 0) != CURLUE_OK || value == nullptr) {
    return "";
  }
  std::string out(value);
  curl_free(value);
  return out;
}

}  // namespace

std::string HttpResponse::Header(absl::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (absl::EqualsIgnoreCase(key, name)) return value;
  }
  return "";
}

// Command is one request from a caller thread to the engine thread.
struct CurlEngine::Command {
  enum class Kind { kStart, kCancel };
  Kind kind;
  uint64_t id;
  std::unique_ptr<Transfer> transfer;  // kStart only.
};

// Transfer is one REST exchange or one WebSocket. Owned by the command
// queue, then by `active_` (engine thread); libcurl holds a raw pointer to it
// (PRIVATE, WRITEDATA, HEADERDATA) while the easy handle is in the multi
// handle.
struct CurlEngine::Transfer {
  ~Transfer() {
    if (easy != nullptr) curl_easy_cleanup(easy);
    curl_slist_free_all(header_list);
  }

  uint64_t id = 0;
  bool websocket = false;
  HttpRequest request;          // REST only.
  Callback done;                // REST only.
  WebSocketRequest ws_request;  // WebSocket only.
  WebSocketCallback ws_done;    // WebSocket only.
  // "METHOD /path" (or "WebSocket /path"): the only part of the request that
  // error messages name.
  std::string operation;
  // Strings that must never appear in a message: the query string, URL
  // credentials and header values.
  std::vector<std::string> secrets;
  // Not OK when the request was rejected before reaching libcurl.
  absl::Status setup_status;
  size_t max_body = 0;

  CURL* easy = nullptr;
  curl_slist* header_list = nullptr;
  char error[CURL_ERROR_SIZE] = {};
  HttpResponse response;  // For a WebSocket: the upgrade response's headers.
  bool body_too_large = false;
  bool consumer_aborted = false;
  // Which consumer callback stopped the transfer (for the message).
  const char* aborted_by = "";
  // The status of the latest status line, and whether the final response's
  // head went to on_headers (REST only).
  long head_status = 0;  // NOLINT(runtime/int)
  bool head_reported = false;

  // WebSocket state: the message being reassembled and the close frame.
  std::string ws_message;
  bool ws_message_is_text = false;
  std::string ws_close_payload;
  bool ws_closed = false;
  WebSocketEnd ws_end;
};

namespace {

// StatusCodeOf returns the code of an HTTP status line ("HTTP/1.1 200 OK" →
// 200), or 0 when the line has no three-digit code after the version.
long StatusCodeOf(absl::string_view line) {  // NOLINT(runtime/int)
  const size_t space = line.find(' ');
  if (space == absl::string_view::npos) return 0;
  absl::string_view code = line.substr(space + 1, 3);
  if (code.size() != 3) return 0;
  long value = 0;  // NOLINT(runtime/int)
  for (char c : code) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return 0;
    value = value * 10 + (c - '0');
  }
  return value;
}

}  // namespace

size_t CurlEngine::OnHeader(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  HttpResponse* response = &t->response;
  const size_t length = size * count;
  absl::string_view line(data, length);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) {
    line.remove_suffix(1);
  }
  if (absl::StartsWith(line, "HTTP/")) {
    // A new status line: an interim (1xx) response came before. Keep only
    // the final response's headers.
    response->headers.clear();
    t->head_status = StatusCodeOf(line);
    if (t->head_status == 0) {
      long code = 0;  // NOLINT(runtime/int)
      curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &code);
      t->head_status = code;
    }
    return length;
  }
  if (line.empty()) {
    // The end of a header block: an interim response's, the final
    // response's, or (after a chunked body) the trailers'. on_headers runs
    // for the final response's only.
    if (t->websocket && !t->head_reported && t->head_status == 101) {
      t->head_reported = true;
      if (t->ws_request.on_open) t->ws_request.on_open();
      return length;
    }
    if (!t->websocket && t->request.max_redirects > 0 &&
        t->head_status >= 300 && t->head_status < 400 &&
        !response->Header("location").empty()) {
      // A redirect libcurl follows: the final response comes next.
      return length;
    }
    if (!t->websocket && !t->head_reported && t->head_status >= 200) {
      t->head_reported = true;
      if (t->request.on_headers) {
        response->status = t->head_status;
        if (!t->request.on_headers(*response)) {
          t->consumer_aborted = true;
          t->aborted_by = "on_headers";
          return 0;  // Not `length`: libcurl aborts the transfer.
        }
      }
    }
    return length;
  }
  if (line.front() == ' ' || line.front() == '\t') {
    // Obsolete line folding: a continuation of the previous value.
    if (!response->headers.empty()) {
      std::string& value = response->headers.back().second;
      absl::StrAppend(&value, " ", absl::StripAsciiWhitespace(line));
    }
    return length;
  }
  const size_t colon = line.find(':');
  if (colon == absl::string_view::npos) return length;
  response->headers.emplace_back(
      absl::AsciiStrToLower(line.substr(0, colon)),
      std::string(absl::StripAsciiWhitespace(line.substr(colon + 1))));
  return length;
}

absl::StatusOr<std::unique_ptr<CurlEngine>> CurlEngine::Create(
    Options options) {
  if (options.max_connections_per_host <= 0) {
    return absl::InvalidArgumentError(
        "CurlEngine: max_connections_per_host must be positive");
  }
  if (options.connect_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "CurlEngine: connect_timeout must be positive");
  }
  if (options.max_response_body_bytes == 0) {
    return absl::InvalidArgumentError(
        "CurlEngine: max_response_body_bytes must be positive");
  }
  // Thread-safe since libcurl 7.84; the static makes it once per process.
  static const CURLcode kGlobalInit = curl_global_init(CURL_GLOBAL_DEFAULT);
  if (kGlobalInit != CURLE_OK) {
    return absl::InternalError(absl::StrCat("CurlEngine: curl_global_init: ",
                                            curl_easy_strerror(kGlobalInit)));
  }
  CURLM* multi = curl_multi_init();
  if (multi == nullptr) {
    return absl::ResourceExhaustedError("CurlEngine: curl_multi_init failed");
  }
  curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS,
                    options.max_connections_per_host);
  // Keep every connection the host limit allows (for a few hosts: the API
  // and the asset host): libcurl otherwise sizes its idle pool from the
  // transfers currently added, and a burst of completions closes
  // connections that the next burst has to open again.
  curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS,
                    4 * options.max_connections_per_host);
  std::unique_ptr<CurlEngine> engine(new CurlEngine(std::move(options), multi));
  engine->thread_ = std::thread([e = engine.get()] { e->Run(); });
  return engine;
}

CurlEngine::CurlEngine(Options options, void* multi)
    : options_(std::move(options)), multi_(multi) {}

CurlEngine::~CurlEngine() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  curl_multi_wakeup(AsMulti(multi_));
  thread_.join();
  curl_multi_cleanup(AsMulti(multi_));
}

uint64_t CurlEngine::Start(HttpRequest request, Callback done) {
  auto t = std::make_unique<Transfer>();
  t->request = std::move(request);
  t->done = std::move(done);
  t->setup_status = Setup(*t, options_);
  return Enqueue(std::move(t));
}

uint64_t CurlEngine::OpenWebSocket(WebSocketRequest request,
                                   WebSocketCallback done) {
  auto t = std::make_unique<Transfer>();
  t->websocket = true;
  t->ws_request = std::move(request);
  t->ws_done = std::move(done);
  t->setup_status = Setup(*t, options_);
  return Enqueue(std::move(t));
}

uint64_t CurlEngine::Enqueue(std::unique_ptr<Transfer> t) {
  t->id = next_id_.fetch_add(1, std::memory_order_relaxed);
  const uint64_t id = t->id;
  Push(Command{Command::Kind::kStart, id, std::move(t)});
  return id;
}

void CurlEngine::Cancel(uint64_t id) {
  Push(Command{Command::Kind::kCancel, id, nullptr});
}

// Only the command that finds the queue empty wakes the engine: the ones
// queued behind it are drained by the same wake-up, which saves a write to
// libcurl's wake-up socket (and a spurious poll round) per transfer under
// load.
void CurlEngine::Push(Command command) {
  bool was_empty = false;
  {
    absl::MutexLock lock(&mu_);
    was_empty = commands_.empty();
    commands_.push_back(std::move(command));
  }
  if (was_empty) curl_multi_wakeup(AsMulti(multi_));
}

// Setup validates `t` and prepares its easy handle. It runs on the caller's
// thread, so the engine thread only adds ready handles; a failure is reported
// through the callback like every other outcome.
absl::Status CurlEngine::Setup(Transfer& t, const Options& options) {
  static const std::string kGet = "GET";
  const bool ws = t.websocket;
  const std::string& method = ws ? kGet : t.request.method;
  const std::string& url_text = ws ? t.ws_request.url : t.request.url;
  const auto& headers = ws ? t.ws_request.headers : t.request.headers;
  t.max_body = options.max_response_body_bytes;

  if (!IsToken(method)) {
    t.operation = "HTTP request";
    return absl::InvalidArgumentError(
        "HTTP request: invalid request: the method is not an HTTP token");
  }
  const std::string verb = ws ? "WebSocket" : method;
  t.operation = verb;
  auto invalid = [&t](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat(t.operation, ": invalid request: ", why));
  };
  CURLU* url = curl_url();
  if (url == nullptr) {
    return absl::ResourceExhaustedError(
        absl::StrCat(t.operation, ": out of memory"));
  }
  if (curl_url_set(url, CURLUPART_URL, url_text.c_str(), 0) != CURLUE_OK) {
    curl_url_cleanup(url);
    return invalid("malformed URL");  // Never the URL: it may hold a token.
  }
  const std::string scheme =
      absl::AsciiStrToLower(UrlPart(url, CURLUPART_SCHEME));
  t.operation = absl::StrCat(verb, " ", UrlPart(url, CURLUPART_PATH));
  for (CURLUPart part : {CURLUPART_QUERY, CURLUPART_PASSWORD, CURLUPART_USER}) {
    std::string secret = UrlPart(url, part);
    if (!secret.empty()) t.secrets.push_back(std::move(secret));
  }
  curl_url_cleanup(url);

  if (ws) {
    if (scheme != "ws" && scheme != "wss") {
      return invalid("the URL scheme must be ws or wss");
    }
    if (!t.ws_request.on_message) return invalid("on_message is required");
  } else {
    if (scheme != "http" && scheme != "https") {
      return invalid("the URL scheme must be http or https");
    }
    if (t.request.timeout <= absl::ZeroDuration()) {
      return invalid("the timeout must be positive");
    }
  }
  bool has_expect = false;
  for (const auto& [name, value] : headers) {
    if (!IsToken(name) || HasCrLf(value)) {
      return invalid(
          absl::StrCat("bad header '", IsToken(name) ? name : "?", "'"));
    }
    if (absl::EqualsIgnoreCase(name, "expect")) has_expect = true;
    if (!value.empty()) t.secrets.push_back(value);
  }

  t.easy = curl_easy_init();
  if (t.easy == nullptr) {
    return absl::ResourceExhaustedError(
        absl::StrCat(t.operation, ": curl_easy_init failed"));
  }
  CURL* easy = t.easy;
  for (const auto& [name, value] : headers) {
    // "Name;" is libcurl's way to send a header with an empty value.
    const std::string line = value.empty() ? absl::StrCat(name, ";")
                                           : absl::StrCat(name, ": ", value);
    t.header_list = curl_slist_append(t.header_list, line.c_str());
  }
  if (!has_expect && !ws) {
    // No "Expect: 100-continue" round trip before large bodies.
    t.header_list = curl_slist_append(t.header_list, "Expect:");
  }
  curl_easy_setopt(easy, CURLOPT_PRIVATE, &t);
  curl_easy_setopt(easy, CURLOPT_URL, url_text.c_str());
  curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, ws ? "ws,wss" : "http,https");
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  // HTTP/1.1 for keep-alive reuse, and required by the WebSocket upgrade.
  curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
  curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(easy, CURLOPT_USERAGENT, options.user_agent.c_str());
  curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(absl::ToInt64Milliseconds(absl::Ceil(
                       options.connect_timeout, absl::Milliseconds(1)))));
  if (!ws && t.request.timeout != absl::InfiniteDuration()) {
    // Round up: a sub-millisecond timeout must not become 0 (= none).
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS,
                     static_cast<long>(absl::ToInt64Milliseconds(absl::Ceil(
                         t.request.timeout, absl::Milliseconds(1)))));
  }
  curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, t.error);
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, t.header_list);
  curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, &OnHeader);
  curl_easy_setopt(easy, CURLOPT_HEADERDATA, &t);
  // A proxy's CONNECT response is not the upstream's: keep it away from
  // the header callback (and from on_headers).
  curl_easy_setopt(easy, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &OnBody);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, &t);
  if (ws) return absl::OkStatus();

  const HttpRequest& r = t.request;
  if (r.max_redirects > 0) {
    curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(easy, CURLOPT_MAXREDIRS,
                     static_cast<long>(r.max_redirects));
    curl_easy_setopt(easy, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  }
  if (!r.on_body_chunk) {
    // Refuse early when Content-Length already announces too much; OnBody
    // enforces the limit for bodies of unknown length.
    curl_easy_setopt(easy, CURLOPT_MAXFILESIZE_LARGE,
                     static_cast<curl_off_t>(t.max_body));
  }
  if (r.method == "HEAD") {
    curl_easy_setopt(easy, CURLOPT_NOBODY, 1L);
  } else if (r.method == "POST" || !r.body.empty()) {
    // The body lives in the Transfer, which outlives the easy handle.
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(r.body.size()));
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, r.body.data());
    if (r.method != "POST") {
      curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, r.method.c_str());
    }
  } else {
    curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L);
    if (r.method != "GET") {
      curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, r.method.c_str());
    }
  }
  return absl::OkStatus();
}

size_t CurlEngine::OnBody(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t length = size * count;
  if (t->websocket) return OnWebSocketData(*t, data, length);
  if (t->request.on_body_chunk) {
    if (!t->request.on_body_chunk(absl::string_view(data, length))) {
      t->consumer_aborted = true;
      t->aborted_by = "on_body_chunk";
      return CURL_WRITEFUNC_ERROR;
    }
    return length;
  }
  if (length > t->max_body - t->response.body.size()) {
    t->body_too_large = true;
    return CURL_WRITEFUNC_ERROR;
  }
  t->response.body.append(data, length);
  return length;
}

// With a write callback, libcurl hands over WebSocket frame payloads,
// possibly in parts; curl_ws_meta() describes the current frame. It answers
// pings by itself.
size_t CurlEngine::OnWebSocketData(Transfer& t, char* data, size_t length) {
  const curl_ws_frame* meta = curl_ws_meta(t.easy);
  if (meta == nullptr) return length;
  if ((meta->flags & CURLWS_CLOSE) != 0) {
    if (length > 125 - std::min<size_t>(125, t.ws_close_payload.size())) {
      return CURL_WRITEFUNC_ERROR;  // Control frames carry at most 125 bytes.
    }
    t.ws_close_payload.append(data, length);
    if (meta->bytesleft != 0) return length;
    // The whole close frame is here: echo its code (RFC 6455 §5.5.1, best
    // effort) and end the transfer at once rather than wait for the peer to
    // drop the TCP connection. CompleteFinished reports the close, not the
    // write error this return causes.
    t.ws_closed = true;
    size_t sent = 0;
    const size_t echo = std::min<size_t>(2, t.ws_close_payload.size());
    curl_ws_send(t.easy, t.ws_close_payload.data(), echo, &sent, 0,
                 CURLWS_CLOSE);
    return CURL_WRITEFUNC_ERROR;
  }
  if ((meta->flags & CURLWS_PING) != 0) return length;
  if (t.ws_message.empty() && meta->offset == 0) {
    t.ws_message_is_text = (meta->flags & CURLWS_TEXT) != 0;
  }
  if (length > t.max_body - t.ws_message.size()) {
    t.body_too_large = true;
    return CURL_WRITEFUNC_ERROR;
  }
  t.ws_message.append(data, length);
  // CURLWS_CONT: more fragments of this message follow.
  if (meta->bytesleft == 0 && (meta->flags & CURLWS_CONT) == 0) {
    const std::string message = std::move(t.ws_message);
    t.ws_message.clear();
    if (!t.ws_request.on_message(message, t.ws_message_is_text)) {
      t.consumer_aborted = true;
      return CURL_WRITEFUNC_ERROR;
    }
  }
  return length;
}

void CurlEngine::Run() {
  pthread_setname_np(pthread_self(), "curl-engine");
  CURLM* multi = AsMulti(multi_);
  while (DrainCommands()) {
    int running = 0;
    curl_multi_perform(multi, &running);
    CompleteFinished();
    // Returns early on socket activity, on libcurl's own timers (timeouts)
    // and on curl_multi_wakeup() from Start()/Cancel()/the destructor.
    curl_multi_poll(multi, nullptr, 0, /*timeout_ms=*/1000, nullptr);
  }
  CancelEverything();
}

bool CurlEngine::DrainCommands() {
  std::vector<Command> commands;
  bool stopping = false;
  {
    absl::MutexLock lock(&mu_);
    commands.swap(commands_);
    stopping = stopping_;
  }
  // A Cancel always follows its Start in the queue (Start returns the id
  // only after enqueuing), so by the time a cancel is read, its transfer is
  // in `active_` or has completed.
  for (Command& c : commands) {
    if (c.kind == Command::Kind::kStart) {
      AddTransfer(std::move(c.transfer));
    } else {
      auto it = active_.find(c.id);
      if (it != active_.end()) {
        Finish(c.id, absl::CancelledError(
                         absl::StrCat(it->second->operation, ": cancelled")));
      }
    }
  }
  return !stopping;
}

void CurlEngine::AddTransfer(std::unique_ptr<Transfer> t) {
  if (!t->setup_status.ok()) {
    absl::Status status = std::move(t->setup_status);
    Complete(std::move(t), std::move(status));
    return;
  }
  const CURLMcode code = curl_multi_add_handle(AsMulti(multi_), t->easy);
  if (code != CURLM_OK) {
    absl::Status status(
        code == CURLM_OUT_OF_MEMORY ? absl::StatusCode::kResourceExhausted
                                    : absl::StatusCode::kInternal,
        absl::StrCat(t->operation,
                     ": curl_multi_add_handle: ", curl_multi_strerror(code)));
    Complete(std::move(t), std::move(status));
    return;
  }
  const uint64_t id = t->id;
  active_.emplace(id, std::move(t));
}

void CurlEngine::CompleteFinished() {
  CURLM* multi = AsMulti(multi_);
  int left = 0;
  while (CURLMsg* msg = curl_multi_info_read(multi, &left)) {
    if (msg->msg != CURLMSG_DONE) continue;
    Transfer* t = nullptr;
    curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &t);
    const CURLcode code = msg->data.result;
    long http_status = 0;  // NOLINT(runtime/int)
    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &http_status);
    absl::Status status;
    if (t->consumer_aborted) {
      status = absl::CancelledError(
          t->websocket ? absl::StrCat(t->operation,
                                      ": on_message stopped the connection")
                       : absl::StrCat(t->operation, ": ", t->aborted_by,
                                      " stopped the transfer"));
    } else if (t->body_too_large || code == CURLE_FILESIZE_EXCEEDED) {
      status = absl::ResourceExhaustedError(absl::StrCat(
          t->operation, t->websocket ? ": message" : ": response body",
          " larger than ", t->max_body, " bytes"));
    } else if (t->websocket && http_status != 0 && http_status != 101) {
      // The upgrade was refused: the HTTP status is data, as for REST.
      t->ws_end.http_status = http_status;
    } else if (t->websocket && t->ws_closed) {
      t->ws_end.http_status = 101;
      const std::string& p = t->ws_close_payload;
      if (p.size() >= 2) {
        t->ws_end.close_code = (static_cast<unsigned char>(p[0]) << 8) |
                               static_cast<unsigned char>(p[1]);
        t->ws_end.close_reason = p.substr(2);
      } else {
        t->ws_end.close_code = 1005;  // RFC 6455: no status code present.
      }
    } else if (t->websocket && code == CURLE_OK) {
      // The connection ended without a close frame: a drop, as transient as
      // any broken connection.
      status = absl::UnavailableError(absl::StrCat(
          t->operation, ": the connection ended without a close frame"));
    } else if (code == CURLE_OK) {
      t->response.status = http_status;
    } else {
      // libcurl's detail helps ("Failed to connect to 127.0.0.1 port 1"),
      // but is dropped when it quotes a secret of this request.
      absl::string_view detail = t->error;
      for (const std::string& secret : t->secrets) {
        if (absl::StrContains(detail, secret)) detail = "";
      }
      if (detail.empty()) detail = curl_easy_strerror(code);
      status = absl::Status(CodeForCurl(code),
                            absl::StrCat(t->operation, ": ", detail, " [curl ",
                                         static_cast<int>(code), "]"));
    }
    Finish(t->id, std::move(status));
  }
}

void CurlEngine::Finish(uint64_t id, absl::Status status) {
  auto it = active_.find(id);
  if (it == active_.end()) return;
  std::unique_ptr<Transfer> t = std::move(it->second);
  active_.erase(it);
  curl_multi_remove_handle(AsMulti(multi_), t->easy);
  Complete(std::move(t), std::move(status));
}

void CurlEngine::Complete(std::unique_ptr<Transfer> t, absl::Status status) {
  // The Transfer (and its easy handle, whose connection stays in the pool)
  // is freed before the callback runs.
  if (t->websocket) {
    WebSocketCallback done = std::move(t->ws_done);
    absl::StatusOr<WebSocketEnd> result(std::move(t->ws_end));
    if (!status.ok()) result = std::move(status);
    t.reset();
    std::move(done)(std::move(result));
  } else {
    Callback done = std::move(t->done);
    absl::StatusOr<HttpResponse> result(std::move(t->response));
    if (!status.ok()) result = std::move(status);
    t.reset();
    std::move(done)(std::move(result));
  }
}

void CurlEngine::CancelEverything() {
  // Callbacks may start new transfers (or cancel); keep going until nothing
  // is left, so that every callback still runs exactly once.
  while (true) {
    std::vector<Command> commands;
    {
      absl::MutexLock lock(&mu_);
      commands.swap(commands_);
    }
    if (commands.empty() && active_.empty()) return;
    for (Command& c : commands) {
      if (c.kind != Command::Kind::kStart) continue;
      const std::string operation = c.transfer->operation;
      Complete(std::move(c.transfer),
               absl::CancelledError(absl::StrCat(
                   operation, ": cancelled: the engine is shutting down")));
    }
    std::vector<uint64_t> ids;
    ids.reserve(active_.size());
    for (const auto& entry : active_) ids.push_back(entry.first);
    for (uint64_t id : ids) {
      auto it = active_.find(id);
      if (it == active_.end()) continue;
      Finish(id, absl::CancelledError(
                     absl::StrCat(it->second->operation,
                                  ": cancelled: the engine is shutting down")));
    }
  }
}

}  // namespace triverse::http
