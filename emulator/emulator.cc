#include "emulator/emulator.h"

#include <algorithm>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <deque>
#include <map>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "emulator/assets.h"
#include "emulator/hashing.h"
#include "emulator/multipart.h"
#include "emulator/payloads.h"
#include "emulator/providers.h"

namespace triverse::emulator {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;

constexpr absl::string_view kApiPrefix = "/api/v1";
constexpr absl::string_view kTripoPrefix = "/v2/openapi";
constexpr char kTraceHeader[] = "X-Tripo-Trace-ID";
constexpr uint64_t kJsonBodyLimit = 1024 * 1024;
constexpr uint64_t kMultipartSlack = 64 * 1024;

// ---------------------------------------------------------------- helpers

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string PercentDecode(absl::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && HexValue(s[i + 1]) >= 0 &&
        HexValue(s[i + 2]) >= 0) {
      out.push_back(
          static_cast<char>(HexValue(s[i + 1]) * 16 + HexValue(s[i + 2])));
      i += 2;
    } else if (s[i] == '+') {
      out.push_back(' ');
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

// Target is a request target split into its decoded path and query.
struct Target {
  std::string path;
  std::map<std::string, std::string> query;
};

Target ParseTarget(absl::string_view target) {
  Target t;
  const size_t q = target.find('?');
  t.path = std::string(target.substr(0, q));
  if (q != absl::string_view::npos) {
    for (absl::string_view kv :
         absl::StrSplit(target.substr(q + 1), '&', absl::SkipEmpty())) {
      const size_t eq = kv.find('=');
      std::string key = PercentDecode(kv.substr(0, eq));
      std::string value =
          eq == absl::string_view::npos ? "" : PercentDecode(kv.substr(eq + 1));
      t.query.emplace(std::move(key), std::move(value));
    }
  }
  return t;
}

// A path segment the emulator accepts as a task id: UUID characters only, so
// nothing a client sends can climb out of the route.
bool IsIdSegment(absl::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return absl::ascii_isxdigit(static_cast<unsigned char>(c)) || c == '-';
  });
}

std::optional<absl::Time> ParseSince(absl::string_view s) {
  absl::Time t;
  std::string err;
  std::string value(s);
  if (absl::ParseTime(absl::RFC3339_full, value, &t, &err)) return t;
  if (absl::EndsWith(value, "Z") &&
      absl::ParseTime(absl::RFC3339_full,
                      absl::StrCat(value.substr(0, value.size() - 1), "+00:00"),
                      &t, &err)) {
    return t;
  }
  if (absl::ParseTime("%Y-%m-%d%ET%H:%M:%E*S", value, absl::UTCTimeZone(), &t,
                      &err)) {
    return t;
  }
  return std::nullopt;
}

std::string AssetBytes(const Task& task, const AssetSpec& a) {
  const uint64_t seed = Fnv1a(task.uuid);
  switch (a.type) {
    case AssetType::kGlbTextured:
      return MakeGlb(seed, true);
    case AssetType::kGlbMesh:
      return MakeGlb(seed, false);
    case AssetType::kPng:
      return MakePng(seed ^ Fnv1a(a.file_name), a.width, a.height);
    case AssetType::kObj:
      return MakeObj(seed);
    case AssetType::kStl:
      return MakeStl(seed);
  }
  return {};
}

absl::string_view AssetContentType(AssetType type) {
  switch (type) {
    case AssetType::kGlbTextured:
    case AssetType::kGlbMesh:
      return "model/gltf-binary";
    case AssetType::kPng:
      return "image/png";
    case AssetType::kObj:
      return "model/obj";
    case AssetType::kStl:
      return "model/stl";
  }
  return "application/octet-stream";
}

// -------------------------------------------------------------- the server

class EmulatorImpl;

// Stats kept by the HTTP layer.
struct HttpStats {
  absl::Mutex mu;
  std::map<std::string, int64_t> requests_by_route ABSL_GUARDED_BY(mu);
  std::map<int, int64_t> responses_by_status ABSL_GUARDED_BY(mu);
  std::atomic<int64_t> ws_open{0};
  std::atomic<int64_t> ws_total{0};
  std::atomic<int64_t> ws_frames{0};
  std::atomic<int64_t> faults_injected{0};
  // Faults by kind: the HTTP ones (unavailable, internal_error, rate_limit,
  // truncate, hang) and the WebSocket ones (ws_drop, ws_silent,
  // ws_replay_duplicate).
  std::map<std::string, int64_t> faults_by_kind ABSL_GUARDED_BY(mu);
  // Draw indexes of the rate-based WebSocket faults.
  std::atomic<uint64_t> ws_silent_draws{0};
  std::atomic<uint64_t> ws_drop_draws{0};
  std::atomic<uint64_t> raw_miss_draws{0};

  void CountFault(const char* kind) {
    absl::MutexLock lock(&mu);
    ++faults_by_kind[kind];
  }
};

class EmulatorImpl : public Emulator,
                     public std::enable_shared_from_this<EmulatorImpl> {
 public:
  explicit EmulatorImpl(EmulatorOptions options)
      : options_(std::move(options)),
        clock_(options_.clock != nullptr ? options_.clock : &real_clock_),
        faults_(options_.faults),
        store_(options_.engine, clock_, &faults_),
        ioc_(std::make_unique<asio::io_context>(std::max(1, options_.threads))),
        acceptor_(std::in_place, asio::make_strand(*ioc_)),
        ticker_(std::in_place, *ioc_) {
    uint64_t secret = options_.engine.seed * 0x9e3779b97f4a7c15ULL ^
                      static_cast<uint64_t>(absl::ToUnixNanos(absl::Now()));
    signing_secret_ = absl::StrFormat("%016x", secret);
    trace_seed_ = SplitMix64(secret);
  }
  ~EmulatorImpl() override { Stop(); }

  absl::Status Listen();

  int port() const override { return port_; }
  std::string base_url() const override { return base_url_; }
  TaskStore& store() override { return store_; }
  FaultInjector& faults() override { return faults_; }
  void Advance() override { store_.Advance(); }
  std::string StatsJson() const override;
  void Stop() override;

  const EmulatorOptions& options() const { return options_; }
  HttpStats& stats() { return stats_; }
  const Clock* clock() const { return clock_; }

  PayloadContext Context() {
    PayloadContext ctx;
    ctx.legacy = options_.engine.legacy;
    ctx.base_url = base_url_;
    ctx.now = clock_->Now();
    ctx.url_ttl = options_.engine.asset_url_ttl;
    ctx.signing_secret = signing_secret_;
    ctx.read_after_write_window = options_.engine.read_after_write_window;
    ctx.read_after_write_header = options_.engine.read_after_write_header;
    if (options_.provider == Provider::kTripo) {
      ctx.url_ttl = options_.tripo.url_ttl;
      ctx.url_nonce = absl::StrFormat("%x", ++nonce_counter_);
    }
    return ctx;
  }

  Provider provider() const { return options_.provider; }

  TripoPayloadContext TripoContext() {
    TripoPayloadContext ctx;
    ctx.base = Context();
    ctx.run_duration = options_.engine.run_duration;
    ctx.extras = faults_.Roll("tripo-extras", extras_draws_++,
                              faults_.settings().tripo.extras_rate);
    return ctx;
  }

  SirayPayloadContext SirayContext() {
    SirayPayloadContext ctx;
    ctx.base_url = base_url_;
    ctx.signing_secret = signing_secret_;
    ctx.now = clock_->Now();
    ctx.pending_duration = options_.engine.pending_duration;
    ctx.omit_unset_times = options_.siray.omit_unset_times;
    const SirayFaults f = faults_.settings().siray;
    const uint64_t n = siray_draws_++;
    if (faults_.Roll("siray-progress", n, f.odd_progress_rate)) {
      ctx.odd_progress = 1 + static_cast<int>(SplitMix64(n ^ 0x9a) % 5);
    }
    if (faults_.Roll("siray-status", n, f.alt_status_rate)) {
      ctx.alt_status = 1 + static_cast<int>(SplitMix64(n ^ 0x57) % 2);
    }
    return ctx;
  }

  // Frame is one WebSocket message for `event` in the provider's format.
  std::string Frame(const TaskEvent& event, bool trailing, bool enveloped) {
    if (options_.provider == Provider::kTripo) {
      return TripoFrame(event.task, TripoContext());
    }
    return WebSocketFrame(event, Context(), trailing, enveloped);
  }

  // The full JSON body (enveloped) of a task in the provider's format.
  std::string TaskBody(const Task& task) {
    switch (options_.provider) {
      case Provider::kTripo:
        return TripoEnvelope(TripoTaskPayload(task, TripoContext()));
      case Provider::kSiray:
        return SirayEnvelope(SirayTaskPayload(task, SirayContext()));
      case Provider::kTriverse:
        break;
    }
    return Envelope(StatusPayload(task, Context()));
  }

  std::string NewTraceId() {
    const uint64_t n = ++trace_counter_;
    return FormatUuid(SplitMix64(trace_seed_ ^ n), SplitMix64(n * 31 + 7));
  }

  // Tripo uploads: image_token → (account, file key).
  std::string AddImageToken(int account, std::string file_key) {
    absl::MutexLock lock(&tokens_mu_);
    const uint64_t n = ++token_counter_;
    std::string token =
        FormatUuid(SplitMix64(trace_seed_ + n * 0x1f), SplitMix64(n ^ 0x70c3));
    image_tokens_[token] = {account, std::move(file_key)};
    return token;
  }
  bool HasImageToken(int account, const std::string& token) {
    absl::MutexLock lock(&tokens_mu_);
    auto it = image_tokens_.find(token);
    return it != image_tokens_.end() && it->second.first == account;
  }
  uint64_t NextOutcomeDraw() { return outcome_draws_++; }
  const std::string& signing_secret() const { return signing_secret_; }

  void Log(absl::string_view line) {
    if (options_.log) options_.log(line);
  }

 private:
  void Accept();
  void Tick();

  const EmulatorOptions options_;
  RealClock real_clock_;
  const Clock* const clock_;
  FaultInjector faults_;
  TaskStore store_;
  HttpStats stats_;
  std::string signing_secret_;
  uint64_t trace_seed_ = 0;
  std::atomic<uint64_t> trace_counter_{0};
  std::atomic<uint64_t> nonce_counter_{0};
  std::atomic<uint64_t> extras_draws_{0};
  std::atomic<uint64_t> siray_draws_{0};
  std::atomic<uint64_t> outcome_draws_{0};
  absl::Mutex tokens_mu_;
  uint64_t token_counter_ ABSL_GUARDED_BY(tokens_mu_) = 0;
  std::map<std::string, std::pair<int, std::string>> image_tokens_
      ABSL_GUARDED_BY(tokens_mu_);
  std::unique_ptr<asio::io_context> ioc_;
  // Optional so that Stop() can destroy them before the context.
  std::optional<tcp::acceptor> acceptor_;
  std::optional<asio::steady_timer> ticker_;
  std::vector<std::thread> threads_;
  int port_ = 0;
  std::string base_url_;
  std::atomic<bool> stopped_{false};
};

// ---------------------------------------------------------- WebSocket side

class WebSocketSession : public std::enable_shared_from_this<WebSocketSession> {
 public:
  WebSocketSession(EmulatorImpl* emulator, tcp::socket socket)
      : emulator_(emulator), ws_(std::move(socket)) {}

  ~WebSocketSession() {
    if (watch_id_ != 0) emulator_->store().Unwatch(watch_id_);
    if (accepted_) --emulator_->stats().ws_open;
  }

  // Start subscribes and completes the upgrade. `task_uuid` empty means
  // watch/all.
  // `trace_id` non-empty: the upgrade response carries X-Tripo-Trace-ID.
  void Start(Request request, int account, std::string task_uuid,
             std::optional<absl::Time> since, std::string trace_id = "") {
    account_ = account;
    task_uuid_ = std::move(task_uuid);
    since_ = since;
    ws_.set_option(
        websocket::stream_base::timeout::suggested(beast::role_type::server));
    ws_.set_option(websocket::stream_base::decorator(
        [trace_id](websocket::response_type& res) {
          res.set(http::field::server, "triverse-emulator");
          if (!trace_id.empty()) res.set(kTraceHeader, trace_id);
        }));
    ws_.text(true);
    // Subscribe before the 101 goes out, so that a client misses nothing
    // that happens once it sees the upgrade; frames wait for OnAccept.
    Subscribe();
    ws_.async_accept(request,
                     beast::bind_front_handler(&WebSocketSession::OnAccept,
                                               shared_from_this()));
  }

 private:
  void OnAccept(beast::error_code ec) {
    if (ec) return;
    accepted_ = true;
    ++emulator_->stats().ws_open;
    ++emulator_->stats().ws_total;
    if (vanished_) {
      // The task vanished between the check and the upgrade.
      Close(websocket::close_code::policy_error);
      return;
    }
    if (!queue_.empty()) Write();
    Read();
  }

  void Subscribe() {
    faults_ = emulator_->faults().settings().websocket;
    HttpStats& stats = emulator_->stats();
    if (faults_.silent ||
        emulator_->faults().Roll("ws-silent", stats.ws_silent_draws++,
                                 faults_.silent_rate)) {
      faults_.silent = true;
      stats.CountFault("ws_silent");
    }
    std::weak_ptr<WebSocketSession> weak = shared_from_this();
    auto executor = ws_.get_executor();
    EmulatorImpl* emulator = emulator_;
    const bool trailing = faults_.trailing_blank_line;
    const bool enveloped = faults_.enveloped_data;
    // Runs under the store's lock: serialise and post, nothing more.
    auto on_event = [weak, executor, emulator, trailing,
                     enveloped](const TaskEvent& event) {
      std::string frame = emulator->Frame(event, trailing, enveloped);
      asio::post(executor, [weak, frame = std::move(frame),
                            finalized = event.finalized]() mutable {
        if (auto self = weak.lock()) self->Enqueue(std::move(frame), finalized);
      });
    };
    if (!task_uuid_.empty()) {
      TaskEvent snapshot;
      auto id = emulator_->store().WatchTask(account_, task_uuid_, on_event,
                                             &snapshot);
      if (!id.ok()) {
        vanished_ = true;
        return;
      }
      watch_id_ = *id;
      Enqueue(emulator_->Frame(snapshot, trailing, enveloped),
              snapshot.finalized);
    } else {
      std::vector<TaskEvent> catch_up;
      watch_id_ =
          emulator_->store().WatchAll(account_, since_, on_event, &catch_up);
      uint64_t n = 0;
      for (const TaskEvent& e : catch_up) {
        std::string frame = emulator_->Frame(e, trailing, enveloped);
        if (emulator_->faults().Roll("ws-replay", n++,
                                     faults_.replay_duplicate_rate)) {
          if (!faults_.silent) stats.CountFault("ws_replay_duplicate");
          Enqueue(frame, e.finalized);
        }
        Enqueue(std::move(frame), e.finalized);
      }
    }
  }

  void Read() {
    ws_.async_read(read_buffer_,
                   beast::bind_front_handler(&WebSocketSession::OnRead,
                                             shared_from_this()));
  }

  void OnRead(beast::error_code ec, std::size_t) {
    if (ec) {
      Shutdown();
      return;
    }
    // Nothing the client sends is documented: ignore it.
    read_buffer_.consume(read_buffer_.size());
    Read();
  }

  void Enqueue(std::string frame, bool finalized) {
    if (closing_ || faults_.silent) return;
    // Only a single-task watch ends with its task.
    const bool last = finalized && !task_uuid_.empty();
    // close_without_finalized: a close takes the place of `finalized`, after
    // the frames queued before it.
    const bool close = last && faults_.close_without_finalized;
    queue_.push_back({close ? std::string() : std::move(frame), last, close});
    if (accepted_ && queue_.size() == 1) Write();
  }

  void Write() {
    if (queue_.front().close) {
      queue_.clear();
      Close(websocket::close_code::normal);
      return;
    }
    ws_.async_write(asio::buffer(queue_.front().frame),
                    beast::bind_front_handler(&WebSocketSession::OnWrite,
                                              shared_from_this()));
  }

  void OnWrite(beast::error_code ec, std::size_t) {
    if (ec) {
      Shutdown();
      return;
    }
    ++frames_sent_;
    ++emulator_->stats().ws_frames;
    const bool last = queue_.front().last;
    queue_.pop_front();
    if ((faults_.drop_after_frames > 0 &&
         frames_sent_ >= faults_.drop_after_frames) ||
        emulator_->faults().Roll("ws-drop", emulator_->stats().ws_drop_draws++,
                                 faults_.drop_rate)) {
      // An abrupt drop: no close frame, the TCP connection just ends.
      emulator_->stats().CountFault("ws_drop");
      Shutdown();
      return;
    }
    if (last) {
      if (!faults_.finalized_without_close)
        Close(websocket::close_code::normal);
      queue_.clear();
      return;
    }
    if (!queue_.empty()) Write();
  }

  void Close(websocket::close_code code) {
    if (closing_) return;
    closing_ = true;
    if (watch_id_ != 0) {
      emulator_->store().Unwatch(watch_id_);
      watch_id_ = 0;
    }
    ws_.async_close(code, [self = shared_from_this()](beast::error_code) {});
  }

  void Shutdown() {
    closing_ = true;
    if (watch_id_ != 0) {
      emulator_->store().Unwatch(watch_id_);
      watch_id_ = 0;
    }
    beast::error_code ignored;
    beast::get_lowest_layer(ws_).socket().shutdown(tcp::socket::shutdown_both,
                                                   ignored);
    beast::get_lowest_layer(ws_).socket().close(ignored);
  }

  struct Outgoing {
    std::string frame;
    bool last;
    bool close = false;  // send a close frame instead
  };

  EmulatorImpl* const emulator_;
  websocket::stream<beast::tcp_stream> ws_;
  beast::flat_buffer read_buffer_;
  std::deque<Outgoing> queue_;
  WebSocketFaults faults_;
  int account_ = -1;
  std::string task_uuid_;
  std::optional<absl::Time> since_;
  uint64_t watch_id_ = 0;
  int frames_sent_ = 0;
  bool accepted_ = false;
  bool vanished_ = false;  // the watched task was gone at subscription
  bool closing_ = false;
};

// --------------------------------------------------------------- HTTP side

class HttpSession : public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(EmulatorImpl* emulator, tcp::socket socket)
      : emulator_(emulator),
        stream_(std::move(socket)),
        timer_(stream_.get_executor()) {}

  void Run() {
    asio::dispatch(stream_.get_executor(),
                   beast::bind_front_handler(&HttpSession::ReadHeader,
                                             shared_from_this()));
  }

 private:
  // Per-request state.
  struct Call {
    std::string route;
    std::string alias = "-";
    absl::Time start;
    Target target;
    FaultDecision fault;
  };

  void ReadHeader() {
    parser_.emplace();
    parser_->header_limit(16 * 1024);
    // No limit yet: the parser would refuse a Content-Length above it while
    // reading the header. OnHeader sets the limit of the route.
    parser_->body_limit(boost::none);
    stream_.expires_after(std::chrono::seconds(60));
    http::async_read_header(
        stream_, buffer_, *parser_,
        beast::bind_front_handler(&HttpSession::OnHeader, shared_from_this()));
  }

  void OnHeader(beast::error_code ec, std::size_t) {
    if (ec) {
      Close();
      return;
    }
    call_ = Call{};
    call_.start = absl::Now();
    const auto& req = parser_->get();
    call_.target = ParseTarget(
        absl::string_view(req.target().data(), req.target().size()));
    const std::string& path = call_.target.path;
    bool image = false;
    const uint64_t upload_limit = UploadLimit(path, &image);
    if (req.method() == http::verb::post && upload_limit > 0) {
      const uint64_t limit = upload_limit;
      const auto length = parser_->content_length();
      if (length && *length > limit + kMultipartSlack) {
        call_.route = image ? "upload_image" : "upload_model";
        // Refuse before reading a byte of the body.
        Response res =
            ErrorResponse(TooLarge(image, limit), req.version(), false);
        keep_alive_ = false;
        Send(std::move(res));
        return;
      }
      parser_->body_limit(limit + kMultipartSlack);
    } else {
      parser_->body_limit(kJsonBodyLimit);
    }
    if (absl::EqualsIgnoreCase(
            absl::string_view(req[http::field::expect].data(),
                              req[http::field::expect].size()),
            "100-continue")) {
      // RFC 9110 10.1.1: answer at once, or the client waits (libcurl: 1 s)
      // before it sends the body.
      auto interim = std::make_shared<http::response<http::empty_body>>(
          http::status::continue_, req.version());
      http::async_write(stream_, *interim,
                        [self = shared_from_this(), interim](
                            beast::error_code ec, std::size_t) {
                          if (ec) {
                            self->Close();
                            return;
                          }
                          self->ReadBody();
                        });
      return;
    }
    ReadBody();
  }

  void ReadBody() {
    stream_.expires_after(std::chrono::seconds(300));
    http::async_read(
        stream_, buffer_, *parser_,
        beast::bind_front_handler(&HttpSession::OnRead, shared_from_this()));
  }

  // UploadLimit is the size limit of an upload route (0: not an upload).
  uint64_t UploadLimit(const std::string& path, bool* image) const {
    const EmulatorOptions& o = emulator_->options();
    switch (o.provider) {
      case Provider::kTriverse:
        *image = path == "/api/v1/upload/image";
        if (*image) return static_cast<uint64_t>(o.engine.max_image_bytes);
        if (path == "/api/v1/upload/model") {
          return static_cast<uint64_t>(o.engine.max_model_bytes);
        }
        return 0;
      case Provider::kTripo:
        *image = true;
        if (path == "/v2/openapi/upload" || path == "/v2/openapi/upload/sts") {
          return static_cast<uint64_t>(o.tripo.max_upload_bytes);
        }
        return 0;
      case Provider::kSiray:
        return 0;
    }
    return 0;
  }

  ApiError TooLarge(bool image, uint64_t limit) const {
    switch (emulator_->provider()) {
      case Provider::kTripo:
        return TripoError(kTripoInvalidParams,
                          absl::StrCat("The file is too large: images are "
                                       "limited to ",
                                       limit / (1024 * 1024), " MB."));
      case Provider::kSiray:
        return SirayError(400, "The request body is too large.",
                          "invalid_request_error", "request_too_large");
      case Provider::kTriverse:
        break;
    }
    return MakeError(
        kInvalidParameters,
        absl::StrCat("The file is too large: ", image ? "images" : "models",
                     " are limited to ", limit / (1024 * 1024), " MB."));
  }

  void OnRead(beast::error_code ec, std::size_t) {
    if (ec == http::error::body_limit) {
      bool image = false;
      const uint64_t limit = UploadLimit(call_.target.path, &image);
      const bool upload = limit > 0;
      call_.route =
          upload ? (image ? "upload_image" : "upload_model") : "other";
      keep_alive_ = false;
      ApiError e = upload ? TooLarge(image, limit)
                          : ProviderError(kInvalidParameters,
                                          "The request body is too large.");
      Send(ErrorResponse(e, parser_->get().version(), false));
      return;
    }
    if (ec) {
      Close();
      return;
    }
    request_ = parser_->release();
    keep_alive_ = request_.keep_alive();
    call_.route = RouteName(request_);
    {
      HttpStats& s = emulator_->stats();
      absl::MutexLock lock(&s.mu);
      ++s.requests_by_route[call_.route];
    }
    if (IsApiRoute(call_.route)) {
      call_.fault = emulator_->faults().Next(call_.route);
      if (call_.fault.kind != FaultDecision::Kind::kNone) {
        ++emulator_->stats().faults_injected;
        emulator_->stats().CountFault(FaultKindName(call_.fault.kind));
      }
    }
    if (call_.fault.delay > absl::ZeroDuration()) {
      timer_.expires_after(absl::ToChronoNanoseconds(call_.fault.delay));
      timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
        if (!ec) self->Dispatch();
      });
      return;
    }
    Dispatch();
  }

  static const char* FaultKindName(FaultDecision::Kind kind) {
    using Kind = FaultDecision::Kind;
    switch (kind) {
      case Kind::kUnavailable:
        return "unavailable";
      case Kind::kInternalError:
        return "internal_error";
      case Kind::kRateLimit:
        return "rate_limit";
      case Kind::kTruncate:
        return "truncate";
      case Kind::kHang:
        return "hang";
      default:
        return "none";
    }
  }

  static bool IsApiRoute(const std::string& route) {
    return route != "emulator" && route != "not_found" && route != "asset";
  }

  // RouteName gives the fault/stats name of a request.
  std::string RouteName(const Request& req) const {
    const std::string& p = call_.target.path;
    if (absl::StartsWith(p, "/_emulator/")) return "emulator";
    if (absl::StartsWith(p, "/assets/")) return "asset";
    if (emulator_->provider() == Provider::kTripo) {
      if (!absl::StartsWith(p, "/v2/openapi/")) return "not_found";
      absl::string_view rest = absl::string_view(p).substr(kTripoPrefix.size());
      if (rest == "/task") return "create_task";
      if (rest == "/task/watch/all" ||
          absl::StartsWith(rest, "/task/watch/all/")) {
        return "ws_watch_all";
      }
      if (absl::StartsWith(rest, "/task/watch/")) return "ws_watch_task";
      if (absl::StartsWith(rest, "/task/")) return "get_task";
      if (rest == "/upload" || rest == "/upload/sts") return "upload_image";
      if (rest == "/user/balance") return "users_balance";
      return "not_found";
    }
    if (emulator_->provider() == Provider::kSiray) {
      if (p == "/v1/3d/generations") return "create_task";
      if (absl::StartsWith(p, "/v1/3d/generations/")) return "get_task";
      if (absl::StartsWith(p, "/redirect/")) return "redirect";
      return "not_found";
    }
    if (!absl::StartsWith(p, "/api/v1/")) return "not_found";
    absl::string_view rest = absl::string_view(p).substr(kApiPrefix.size());
    if (rest == "/users/me") return "users_me";
    if (rest == "/users/balance") return "users_balance";
    if (rest == "/upload/image") return "upload_image";
    if (rest == "/upload/model") return "upload_model";
    if (rest == "/tasks/pricing/quote") return "pricing_quote";
    if (rest == "/platform/generate/own-models") return "own_models";
    if (rest == "/tasks/watch/all") return "ws_watch_all";
    if (absl::StartsWith(rest, "/tasks/watch/")) return "ws_watch_task";
    if (absl::StartsWith(rest, "/tasks/url/")) return "task_url";
    if (absl::StartsWith(rest, "/tasks/download/")) return "task_download";
    if (absl::StartsWith(rest, "/tasks/")) {
      return req.method() == http::verb::post ? "create_task" : "get_task";
    }
    return "not_found";
  }

  void Dispatch() {
    using Kind = FaultDecision::Kind;
    const Request& req = request_;
    switch (call_.fault.kind) {
      case Kind::kUnavailable:
        Send(ErrorResponse(ProviderError(kBackendUnavailable,
                                         "A backend dependency (Storage, "
                                         "Prefect or Audit) is down; retry "
                                         "later."),
                           req.version(), keep_alive_));
        return;
      case Kind::kInternalError:
        Send(ErrorResponse(ProviderError(kPersistenceError,
                                         "The task state could not be "
                                         "recorded; retry later."),
                           req.version(), keep_alive_));
        return;
      case Kind::kRateLimit: {
        ApiError e = ProviderError(kRateLimited,
                                   "Too many requests; retry after the delay "
                                   "in the Retry-After header.");
        e.retry_after_seconds = std::max(1, call_.fault.retry_after_seconds);
        Send(ErrorResponse(e, req.version(), keep_alive_));
        return;
      }
      case Kind::kHang:
        Hang();
        return;
      default:
        break;
    }
    if (call_.route == "ws_watch_all" || call_.route == "ws_watch_task") {
      if (emulator_->provider() == Provider::kTripo) {
        HandleTripoWebSocket();
      } else {
        HandleWebSocket();
      }
      return;
    }
    Send(Handle());
  }

  // ------------------------------------------------------------ handlers

  Response Handle() {
    const Request& req = request_;
    const std::string& route = call_.route;
    if (route == "emulator") return HandleControl();
    if (route == "asset") return HandleAsset();
    const Provider provider = emulator_->provider();
    if (provider == Provider::kSiray && websocket::is_upgrade(req)) {
      return Error(SirayError(404,
                              "Siray has no WebSocket API: poll GET "
                              "/v1/3d/generations/{task_id}.",
                              "not_found_error", "not_found"));
    }
    if (route == "redirect") return HandleSirayRedirect();
    if (route == "not_found") {
      return ErrorResponse(
          ProviderError(kResourceNotFound,
                        provider == Provider::kTripo
                            ? "No such endpoint. The API lives under "
                              "/v2/openapi."
                        : provider == Provider::kSiray
                            ? "No such endpoint. 3D generations live under "
                              "/v1/3d/generations."
                            : "No such endpoint. The API lives under /api/v1."),
          req.version(), keep_alive_);
    }
    const bool post = req.method() == http::verb::post;
    const bool get = req.method() == http::verb::get;
    const bool want_post = route == "upload_image" || route == "upload_model" ||
                           route == "pricing_quote" || route == "create_task";
    if ((want_post && !post) || (!want_post && !get)) {
      Response res = ErrorResponse(
          ProviderError(kResourceNotFound,
                        absl::StrCat("Use ", want_post ? "POST" : "GET",
                                     " for this endpoint.")),
          req.version(), keep_alive_);
      res.result(http::status::method_not_allowed);
      res.set(http::field::allow, want_post ? "POST" : "GET");
      return res;
    }
    const int account = Authenticate();
    if (account < 0) return AuthError();
    call_.alias = emulator_->store().Account(account).alias;
    if (provider == Provider::kTripo) return HandleTripo(account);
    if (provider == Provider::kSiray) return HandleSiray(account);

    TaskStore& store = emulator_->store();
    const absl::string_view rest =
        absl::string_view(call_.target.path).substr(kApiPrefix.size());
    if (route == "users_me") return Json(UserPayload(store.Account(account)));
    if (route == "users_balance") {
      return Json(BalancePayload(store.Account(account)));
    }
    if (route == "pricing_quote") {
      auto quote = ParseQuoteRequest(req.body());
      if (!quote.ok()) return Error(quote.error());
      const AccountInfo info = store.Account(account);
      return Json(
          QuotePayload(*quote, info.total_credits - info.frozen_credits));
    }
    if (route == "create_task") {
      absl::string_view flow = rest.substr(absl::string_view("/tasks/").size());
      auto request = ParseCreateRequest(flow, req.body(),
                                        emulator_->options().engine.legacy);
      if (!request.ok()) return Error(request.error());
      bool created = false;
      auto task = store.Create(account, *request, &created);
      if (!task.ok()) return Error(task.error());
      return Json(CreationPayload(*task, emulator_->Context()));
    }
    if (route == "get_task" || route == "task_url" ||
        route == "task_download") {
      absl::string_view id = rest.substr(rest.rfind('/') + 1);
      const size_t depth = std::count(rest.begin(), rest.end(), '/');
      if (!IsIdSegment(id) || depth != (route == "get_task" ? 2u : 3u)) {
        return Error(MakeError(kTaskNotFound,
                               "A task_uuid is a UUID such as "
                               "92483a80-236c-4889-9a95-4c90bb64dfd8."));
      }
      if (route == "get_task") {
        const std::string& header =
            emulator_->options().engine.read_after_write_header;
        bool consistent = !header.empty() && !req[header].empty();
        if (consistent && emulator_->faults().Roll(
                              "raw-miss", emulator_->stats().raw_miss_draws++,
                              emulator_->faults()
                                  .settings()
                                  .tasks.read_after_write_miss_rate)) {
          consistent = false;  // the header is ignored
        }
        auto task = store.Get(account, id, consistent);
        if (!task.ok()) return Error(task.error());
        return Json(StatusPayload(*task, emulator_->Context()));
      }
      auto task = store.GetDownloadable(account, id);
      if (!task.ok()) return Error(task.error());
      if (route == "task_url") {
        return Json(DownloadPayload(*task, emulator_->Context()));
      }
      Response res{http::status::ok, req.version()};
      res.set(http::field::content_type, "application/octet-stream");
      res.set(http::field::content_disposition,
              absl::StrCat(
                  "attachment; filename=\"", task->uuid, ".",
                  DownloadExtension(*task, emulator_->options().engine.legacy),
                  "\""));
      res.body() = AssetBytes(*task, task->assets[task->primary_asset]);
      return Finish(std::move(res));
    }
    if (route == "own_models") return HandleOwnModels(account);
    if (route == "upload_image" || route == "upload_model") {
      return HandleUpload(account, route == "upload_image");
    }
    return Error(MakeError(kResourceNotFound, "No such endpoint."));
  }

  // ------------------------------------------------------------ Tripo

  Response HandleTripo(int account) {
    const std::string& route = call_.route;
    TaskStore& store = emulator_->store();
    const absl::string_view rest =
        absl::string_view(call_.target.path).substr(kTripoPrefix.size());
    if (route == "users_balance") {
      return Json(TripoEnvelope(BalancePayload(store.Account(account))),
                  /*envelope=*/false);
    }
    if (route == "upload_image") return HandleTripoUpload(account);
    if (route == "create_task") return HandleTripoCreate(account);
    if (route == "get_task") {
      const absl::string_view id =
          rest.substr(absl::string_view("/task/").size());
      if (!IsIdSegment(id)) {
        return Error(TripoError(kTripoTaskNotFound,
                                "A task_id is a UUID such as "
                                "916ef2cf-0b1d-4b5e-9d6c-2f0e2a1c7d11."));
      }
      auto task = store.Get(account, id, ConsistentRead());
      if (!task.ok()) return Error(TripoFromStore(task.error()));
      return Json(emulator_->TaskBody(*task), /*envelope=*/false);
    }
    return Error(TripoError(kTripoRouteNotFound, "No such endpoint."));
  }

  // ConsistentRead is false when the read-after-write miss fault hits: a
  // GET inside the task's read-after-write window then misses the task.
  bool ConsistentRead() {
    return !emulator_->faults().Roll(
        "raw-miss", emulator_->stats().raw_miss_draws++,
        emulator_->faults().settings().tasks.read_after_write_miss_rate);
  }

  Response HandleTripoCreate(int account) {
    TaskStore& store = emulator_->store();
    auto parsed = ParseTripoCreate(request_.body(), emulator_->options().tripo);
    if (!parsed.ok()) return Error(parsed.error());
    TripoCreate& c = *parsed;
    if (!c.file_token.empty() &&
        !emulator_->HasImageToken(account, c.file_token)) {
      return Error(TripoError(
          kTripoFileNotFound,
          absl::StrCat("No uploaded file has the file_token '", c.file_token,
                       "' for this API key; upload it with POST /upload.")));
    }
    if (!c.origin_field.empty()) {
      const bool draft = c.origin_field == "draft_model_task_id";
      const int not_success =
          draft ? kTripoDraftNotSuccess : kTripoOriginalNotSuccess;
      std::optional<Task> origin;
      if (IsIdSegment(c.origin_task_id)) {
        auto got = store.Get(account, c.origin_task_id, true);
        if (got.ok()) origin = *got;
      }
      if (!origin) {
        return Error(TripoError(
            not_success,
            absl::StrCat(c.origin_field, " '", c.origin_task_id,
                         "' is not a successful task of this API key.")));
      }
      if (std::find(c.origin_types.begin(), c.origin_types.end(),
                    origin->flow_name) == c.origin_types.end()) {
        return Error(
            TripoError(kTripoOriginalType,
                       absl::StrCat("A ", c.type, " task cannot start from a ",
                                    origin->flow_name, " task.")));
      }
      if (TripoStatus(*origin) != "success") {
        return Error(TripoError(
            not_success,
            absl::StrCat("The task ", c.origin_task_id, " is ",
                         TripoStatus(*origin), "; wait until it is success.")));
      }
    }
    if (c.request.outcome == ForcedOutcome::kNone) {
      const TripoFaults f = emulator_->faults().settings().tripo;
      const uint64_t n = emulator_->NextOutcomeDraw();
      FaultInjector& faults = emulator_->faults();
      if (faults.Roll("tripo-banned", n, f.banned_rate)) {
        c.request.outcome = ForcedOutcome::kBanned;
      } else if (faults.Roll("tripo-expired", n, f.expired_rate)) {
        c.request.outcome = ForcedOutcome::kExpired;
      } else if (faults.Roll("tripo-unknown", n, f.unknown_rate)) {
        c.request.outcome = ForcedOutcome::kUnknown;
      }
    }
    bool created = false;
    auto task = store.Create(account, c.request, &created);
    if (!task.ok()) return Error(TripoFromStore(task.error()));
    return Json(TripoEnvelope(TripoCreationPayload(*task)), /*envelope=*/false);
  }

  Response HandleTripoUpload(int account) {
    const Request& req = request_;
    const uint64_t limit =
        static_cast<uint64_t>(emulator_->options().tripo.max_upload_bytes);
    auto parts =
        ParseMultipart(std::string_view(req[http::field::content_type].data(),
                                        req[http::field::content_type].size()),
                       std::string_view(req.body()));
    if (!parts.ok()) {
      return Error(TripoError(
          kTripoInvalidParams,
          absl::StrCat("Send the image as multipart/form-data in the field "
                       "'file': ",
                       parts.status().message())));
    }
    const MultipartPart* file = nullptr;
    for (const MultipartPart& p : *parts) {
      if (p.name == "file") file = &p;
    }
    if (file == nullptr) {
      return Error(TripoError(kTripoInvalidParams,
                              "The multipart field 'file' is required."));
    }
    if (file->data.empty()) {
      return Error(TripoError(kTripoImageEmpty, "The uploaded file is empty."));
    }
    if (file->data.size() > limit) return Error(TooLarge(true, limit));
    static const std::map<std::string, std::string> kImageTypes = {
        {"image/jpeg", "jpg"}, {"image/png", "png"}, {"image/webp", "webp"}};
    std::string extension;
    auto it = kImageTypes.find(file->content_type);
    if (it != kImageTypes.end()) {
      extension = it->second;
    } else if (file->content_type.empty() ||
               file->content_type == "application/octet-stream") {
      // No declared type: look at the bytes.
      const absl::string_view d(file->data.data(), file->data.size());
      if (absl::StartsWith(d, "\x89PNG")) extension = "png";
      if (absl::StartsWith(d, "\xff\xd8\xff")) extension = "jpg";
      if (d.size() >= 12 && absl::StartsWith(d, "RIFF") &&
          d.substr(8, 4) == "WEBP") {
        extension = "webp";
      }
    }
    if (extension.empty()) {
      return Error(TripoError(
          kTripoImageType,
          absl::StrCat(
              "The file type '",
              file->content_type.empty() ? "unknown" : file->content_type,
              "' is not supported. Upload a webp, jpeg or png "
              "image.")));
    }
    auto key = emulator_->store().RecordUpload(account, extension);
    if (!key.ok()) return Error(TripoFromStore(key.error()));
    return Json(TripoEnvelope(TripoUploadPayload(
                    emulator_->AddImageToken(account, std::move(*key)))),
                /*envelope=*/false);
  }

  void HandleTripoWebSocket() {
    const Request& req = request_;
    if (!websocket::is_upgrade(req)) {
      ApiError e = TripoError(kTripoInvalidParams,
                              "This endpoint is a WebSocket: connect with "
                              "wss:// and 'Authorization: Bearer <API_KEY>'.");
      e.http_status = 426;
      Response res = Error(e);
      res.set(http::field::upgrade, "websocket");
      Send(std::move(res));
      return;
    }
    if (req[http::field::authorization].empty()) {
      ApiError e = TripoError(kTripoAuthFailed,
                              "Send 'Authorization: Bearer <API_KEY>' on the "
                              "WebSocket upgrade request (a query token is "
                              "not accepted).");
      e.http_status = emulator_->options().tripo.ws_missing_auth_status;
      Response res = Error(e);
      if (e.http_status == 426) res.set(http::field::upgrade, "websocket");
      Send(std::move(res));
      return;
    }
    const int account = Authenticate();
    if (account < 0) {
      Send(AuthError());
      return;
    }
    call_.alias = emulator_->store().Account(account).alias;
    const absl::string_view rest =
        absl::string_view(call_.target.path).substr(kTripoPrefix.size());
    std::string uuid;
    std::optional<absl::Time> since;
    if (call_.route == "ws_watch_task") {
      uuid = std::string(rest.substr(absl::string_view("/task/watch/").size()));
      const std::optional<Task> task =
          IsIdSegment(uuid) ? emulator_->store().FindTask(uuid) : std::nullopt;
      if (!task || task->account != account) {
        Send(Error(TripoError(kTripoTaskNotFound,
                              "Check the task_id. A task is visible only to "
                              "the API key that created it.")));
        return;
      }
    } else if (rest.size() > absl::string_view("/task/watch/all/").size()) {
      // The path was percent-decoded by ParseTarget only for the query;
      // decode the `since` segment here.
      const std::string raw(
          rest.substr(absl::string_view("/task/watch/all/").size()));
      std::string value;
      for (size_t i = 0; i < raw.size(); ++i) {
        if (raw[i] == '%' && i + 2 < raw.size() && HexValue(raw[i + 1]) >= 0 &&
            HexValue(raw[i + 2]) >= 0) {
          value.push_back(static_cast<char>(HexValue(raw[i + 1]) * 16 +
                                            HexValue(raw[i + 2])));
          i += 2;
        } else {
          value.push_back(raw[i]);
        }
      }
      since = ParseSince(value);
      if (!since) {
        Send(Error(TripoError(kTripoInvalidParams,
                              "The since segment must be an ISO-8601 / RFC "
                              "3339 time such as 2026-02-09T00:00:00Z or "
                              "1997-07-16T19:20:30+01:00.")));
        return;
      }
    }
    LogLine(101);
    const std::string trace_id = emulator_->NewTraceId();
    auto session =
        std::make_shared<WebSocketSession>(emulator_, stream_.release_socket());
    session->Start(std::move(request_), account, std::move(uuid), since,
                   trace_id);
  }

  // ------------------------------------------------------------ Siray

  Response HandleSiray(int account) {
    TaskStore& store = emulator_->store();
    if (call_.route == "create_task") {
      auto request = ParseSirayCreate(request_.body());
      if (!request.ok()) return Error(request.error());
      bool created = false;
      auto task = store.Create(account, *request, &created);
      if (!task.ok()) return Error(SirayFromStore(task.error()));
      return Json(SirayEnvelope(SirayCreationPayload(*task)),
                  /*envelope=*/false);
    }
    if (call_.route == "get_task") {
      const absl::string_view id =
          absl::string_view(call_.target.path)
              .substr(absl::string_view("/v1/3d/generations/").size());
      const std::optional<std::string> uuid = SirayTaskUuid(id);
      if (!uuid) {
        return Error(SirayError(404, "Task not found.", "not_found_error",
                                "task_not_found"));
      }
      auto task = store.Get(account, *uuid, ConsistentRead());
      if (!task.ok()) return Error(SirayFromStore(task.error()));
      return Json(emulator_->TaskBody(*task), /*envelope=*/false);
    }
    return Error(
        SirayError(404, "No such endpoint.", "not_found_error", "not_found"));
  }

  // GET /redirect/<token>: 302 to a fresh signed URL of the file.
  Response HandleSirayRedirect() {
    const Request& req = request_;
    const std::string token =
        call_.target.path.substr(std::string("/redirect/").size());
    std::string uuid;
    int index = -1;
    std::optional<Task> task;
    if (ParseSirayRedirectToken(token, emulator_->signing_secret(), &uuid,
                                &index)) {
      task = emulator_->store().FindTask(uuid);
    }
    const absl::Time now = emulator_->clock()->Now();
    if (!task || task->status != TaskStatus::kSuccess || task->no_assets ||
        index < 0 || index >= static_cast<int>(task->assets.size()) ||
        !task->completed_at ||
        now >
            *task->completed_at + emulator_->options().engine.asset_retention) {
      return Error(SirayError(404, "The requested output does not exist.",
                              "not_found_error", "not_found"));
    }
    Response res{http::status::found, req.version()};
    res.set(http::field::location,
            AssetUrl(*task, task->assets[index], emulator_->Context()));
    return Finish(std::move(res));
  }

  Response HandleOwnModels(int account) {
    auto param = [&](std::initializer_list<const char*> names, int64_t def,
                     int64_t min, int64_t max, int64_t* out) -> bool {
      for (const char* name : names) {
        auto it = call_.target.query.find(name);
        if (it == call_.target.query.end()) continue;
        int64_t v = 0;
        if (!absl::SimpleAtoi(it->second, &v) || v < min || v > max)
          return false;
        *out = v;
        return true;
      }
      *out = def;
      return true;
    };
    int64_t page = 1, size = 10;
    if (!param({"current", "page"}, 1, 1, 1000000, &page)) {
      return Error(InvalidParam("current", "must be an integer >= 1"));
    }
    if (!param({"size", "page_size"}, 10, 1, 100, &size)) {
      return Error(
          InvalidParam("size", "must be an integer between 1 and 100"));
    }
    int64_t total = 0;
    std::vector<Task> tasks =
        emulator_->store().List(account, (page - 1) * size, size, &total);
    return Json(OwnModelsPage(tasks, total, page, size, emulator_->Context()));
  }

  Response HandleUpload(int account, bool image) {
    const Request& req = request_;
    const EngineOptions& engine = emulator_->options().engine;
    std::string variant;
    if (!image) {
      auto it = call_.target.query.find("modelVariant");
      if (it != call_.target.query.end()) {
        variant = it->second;
        if (variant != "geometry" && variant != "textured") {
          return Error(
              InvalidParam("modelVariant", "must be 'geometry' or 'textured'"));
        }
      }
    }
    auto parts =
        ParseMultipart(std::string_view(req[http::field::content_type].data(),
                                        req[http::field::content_type].size()),
                       std::string_view(req.body()));
    if (!parts.ok()) {
      return Error(
          MakeError(kInvalidParameters,
                    absl::StrCat("Send the file as multipart/form-data "
                                 "in the field 'file': ",
                                 parts.status().message())));
    }
    const MultipartPart* file = nullptr;
    for (const MultipartPart& p : *parts) {
      if (p.name == "file") file = &p;
    }
    if (file == nullptr) return Error(InvalidParam("file", "is required"));
    const uint64_t limit = static_cast<uint64_t>(
        image ? engine.max_image_bytes : engine.max_model_bytes);
    if (file->data.size() > limit) return Error(TooLarge(image, limit));
    if (file->data.empty()) return Error(InvalidParam("file", "is empty"));
    std::string extension;
    if (image) {
      static const std::map<std::string, std::string> kImageTypes = {
          {"image/jpeg", "jpg"}, {"image/png", "png"}, {"image/webp", "webp"}};
      std::string type = file->content_type;
      auto it = kImageTypes.find(type);
      if (it == kImageTypes.end()) {
        return Error(MakeError(
            kFileTypeNotSupported,
            absl::StrCat("The provided file type '",
                         type.empty() ? "application/octet-stream" : type,
                         "' is not supported. Please use one of: image/jpeg, "
                         "image/png, image/webp.")));
      }
      extension = it->second;
    } else {
      static const std::vector<std::string> kModelTypes = {
          "glb", "gltf", "obj", "fbx", "stl", "ply", "usdz"};
      const size_t dot = file->filename.rfind('.');
      extension = dot == std::string::npos
                      ? ""
                      : absl::AsciiStrToLower(file->filename.substr(dot + 1));
      if (std::find(kModelTypes.begin(), kModelTypes.end(), extension) ==
          kModelTypes.end()) {
        return Error(MakeError(
            kFileTypeNotSupported,
            absl::StrCat("The provided model file '", file->filename,
                         "' is not supported. Please use one of: .glb, .gltf, "
                         ".obj, .fbx, .stl, .ply, .usdz.")));
      }
    }
    const std::string lower_name = absl::AsciiStrToLower(file->filename);
    for (const std::string& word : engine.moderation_words) {
      if (!word.empty() && absl::StrContains(lower_name, word)) {
        return Error(MakeError(kContentViolation,
                               "The uploaded file was rejected by the content "
                               "safety audit."));
      }
    }
    auto key = emulator_->store().RecordUpload(account, extension);
    if (!key.ok()) return Error(key.error());
    return Json(UploadPayload(*key));
  }

  Response HandleAsset() {
    const Request& req = request_;
    // /assets/<uuid>/<file>
    std::vector<std::string> parts = absl::StrSplit(
        call_.target.path.substr(std::string("/assets/").size()), '/');
    auto xml_error = [&](http::status status, const char* code,
                         const char* message) {
      Response res{status, req.version()};
      res.set(http::field::content_type, "application/xml");
      res.body() = absl::StrCat(
          "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>", code,
          "</Code><Message>", message, "</Message></Error>\n");
      return Finish(std::move(res));
    };
    if (parts.size() != 2 || !IsIdSegment(parts[0])) {
      return xml_error(http::status::not_found, "NoSuchKey",
                       "The specified key does not exist.");
    }
    const auto& q = call_.target.query;
    auto expires_it = q.find("expires");
    auto sig_it = q.find("signature");
    int64_t expires = 0;
    std::string path = absl::StrCat(parts[0], "/", parts[1]);
    auto nonce_it = q.find("nonce");
    if (nonce_it != q.end()) absl::StrAppend(&path, "#", nonce_it->second);
    if (expires_it == q.end() || sig_it == q.end() ||
        !absl::SimpleAtoi(expires_it->second, &expires) ||
        sig_it->second !=
            AssetSignature(emulator_->signing_secret(), path, expires)) {
      return xml_error(http::status::forbidden, "SignatureDoesNotMatch",
                       "The request signature does not match.");
    }
    const absl::Time now = emulator_->clock()->Now();
    if (absl::FromUnixSeconds(expires) < now) {
      return xml_error(http::status::forbidden, "AccessDenied",
                       "Request has expired.");
    }
    std::optional<Task> task = emulator_->store().FindTask(parts[0]);
    const AssetSpec* asset = nullptr;
    if (task && task->status == TaskStatus::kSuccess && !task->no_assets &&
        task->completed_at &&
        now <=
            *task->completed_at + emulator_->options().engine.asset_retention) {
      for (const AssetSpec& a : task->assets) {
        if (a.file_name == parts[1]) asset = &a;
      }
    }
    if (asset == nullptr) {
      return xml_error(http::status::not_found, "NoSuchKey",
                       "The specified key does not exist.");
    }
    Response res{http::status::ok, req.version()};
    res.set(http::field::content_type,
            std::string(AssetContentType(asset->type)));
    res.body() = AssetBytes(*task, *asset);
    return Finish(std::move(res));
  }

  Response HandleControl() {
    const Request& req = request_;
    const std::string& p = call_.target.path;
    if (p == "/_emulator/stats" && req.method() == http::verb::get) {
      return Json(emulator_->StatsJson(), /*envelope=*/false);
    }
    if (p == "/_emulator/ledger" && req.method() == http::verb::get) {
      return Json(LedgerJson(), /*envelope=*/false);
    }
    if (p == "/_emulator/health") return Json(R"({"status":"ok"})", false);
    if (p == "/_emulator/faults") {
      if (req.method() == http::verb::post) {
        absl::Status s = emulator_->faults().Update(req.body());
        if (!s.ok()) {
          return Error(MakeError(kInvalidParameters, std::string(s.message())));
        }
      }
      return Json(emulator_->faults().ToJson(), false);
    }
    constexpr absl::string_view kTasks = "/_emulator/tasks/";
    if (absl::StartsWith(p, kTasks) && absl::EndsWith(p, "/cancel") &&
        req.method() == http::verb::post) {
      absl::string_view id = absl::string_view(p).substr(kTasks.size());
      id = id.substr(0, id.size() - absl::string_view("/cancel").size());
      // Siray task ids (3d_...) name the same tasks.
      const std::optional<std::string> siray_uuid = SirayTaskUuid(id);
      if (siray_uuid) id = *siray_uuid;
      auto task = emulator_->store().Cancel(id);
      if (!task.ok()) return Error(task.error());
      return Json(emulator_->TaskBody(*task), /*envelope=*/false);
    }
    return Error(
        MakeError(kResourceNotFound, "Unknown emulator control path."));
  }

  // LedgerJson: GET /_emulator/ledger, every account's credits and every
  // task with its client_order_id, status, cost and input (the ground truth
  // of bench/fault_matrix).
  std::string LedgerJson() const {
    TaskStore& store = emulator_->store();
    std::string out = "{\"accounts\":[";
    bool first = true;
    for (const LedgerAccount& a : store.LedgerAccounts()) {
      absl::StrAppend(&out, first ? "" : ",", "{\"alias\":\"", a.alias,
                      "\",\"initial_credits\":", a.initial_credits,
                      ",\"total_credits\":", a.total_credits,
                      ",\"frozen_credits\":", a.frozen_credits, "}");
      first = false;
    }
    absl::StrAppend(&out, "],\"tasks\":[");
    first = true;
    for (const Task& t : store.LedgerTasks()) {
      // client_order_id is [A-Za-z0-9_-] (validated), the input is JSON.
      const std::string provider_id = emulator_->provider() == Provider::kSiray
                                          ? SirayTaskId(t.uuid)
                                          : t.uuid;
      absl::StrAppend(
          &out, first ? "" : ",", "{\"task_uuid\":\"", t.uuid,
          "\",\"provider_task_id\":\"", provider_id, "\",\"flow_name\":\"",
          t.flow_name, "\",\"account\":", t.account, ",\"client_order_id\":",
          t.client_order_id ? absl::StrCat("\"", *t.client_order_id, "\"")
                            : "null",
          ",\"status\":\"", StatusName(t.status),
          "\",\"cost_credits\":", t.cost_credits, ",\"input\":",
          t.public_input_json.empty() ? "null" : t.public_input_json, "}");
      first = false;
    }
    absl::StrAppend(&out, "]}");
    return out;
  }

  void HandleWebSocket() {
    const Request& req = request_;
    if (!websocket::is_upgrade(req)) {
      Response res = ErrorResponse(
          MakeError(kInvalidParameters,
                    "This endpoint is a WebSocket: connect with ws:// or "
                    "wss:// and ?token=<API_KEY>."),
          req.version(), keep_alive_);
      res.result(http::status::upgrade_required);
      res.set(http::field::upgrade, "websocket");
      Send(std::move(res));
      return;
    }
    auto token = call_.target.query.find("token");
    const int account = token == call_.target.query.end()
                            ? -1
                            : emulator_->store().Authenticate(token->second);
    if (account < 0) {
      Send(AuthError());
      return;
    }
    call_.alias = emulator_->store().Account(account).alias;
    std::string uuid;
    std::optional<absl::Time> since;
    if (call_.route == "ws_watch_task") {
      uuid =
          call_.target.path.substr(std::string("/api/v1/tasks/watch/").size());
      const std::optional<Task> task =
          IsIdSegment(uuid) ? emulator_->store().FindTask(uuid) : std::nullopt;
      if (!task || task->account != account) {
        Send(Error(MakeError(kTaskNotFound,
                             "Check the task_uuid. Tasks are visible only to "
                             "the API key that created them.")));
        return;
      }
    } else {
      auto it = call_.target.query.find("since");
      if (it != call_.target.query.end()) {
        since = ParseSince(it->second);
        if (!since) {
          Send(Error(InvalidParam("since",
                                  "must be a UTC ISO-8601 time such as "
                                  "2026-02-09T00:00:00Z")));
          return;
        }
      }
    }
    LogLine(101);
    auto session =
        std::make_shared<WebSocketSession>(emulator_, stream_.release_socket());
    session->Start(std::move(request_), account, std::move(uuid), since);
  }

  // ------------------------------------------------------------ responses

  int Authenticate() const {
    const auto& auth = request_[http::field::authorization];
    absl::string_view value(auth.data(), auth.size());
    constexpr absl::string_view kBearer = "Bearer ";
    // The Siray Python SDK can send "API-KEY <key>" instead.
    constexpr absl::string_view kApiKey = "API-KEY ";
    absl::string_view key;
    if (value.size() > kBearer.size() &&
        absl::EqualsIgnoreCase(value.substr(0, kBearer.size()), kBearer)) {
      key = value.substr(kBearer.size());
    } else if (emulator_->provider() == Provider::kSiray &&
               value.size() > kApiKey.size() &&
               absl::EqualsIgnoreCase(value.substr(0, kApiKey.size()),
                                      kApiKey)) {
      key = value.substr(kApiKey.size());
    } else {
      return -1;
    }
    key = absl::StripAsciiWhitespace(key);
    // Tripo keys start with tsk_ (the official SDK refuses others).
    if (emulator_->provider() == Provider::kTripo &&
        !absl::StartsWith(key, "tsk_")) {
      return -1;
    }
    return emulator_->store().Authenticate(key);
  }

  // ProviderError is the error of the current provider for a generic
  // condition named by its Triverse code: 1004 (invalid request), 1005
  // (no such endpoint), 2000 (rate limited), 5003 (unavailable), 5005
  // (internal error).
  ApiError ProviderError(int triverse_code, std::string detail) const {
    switch (emulator_->provider()) {
      case Provider::kTripo:
        switch (triverse_code) {
          case kInvalidParameters:
            return TripoError(kTripoInvalidParams, std::move(detail));
          case kResourceNotFound:
            return TripoError(kTripoRouteNotFound, std::move(detail));
          case kRateLimited:
            return TripoError(kTripoConcurrency, std::move(detail));
          case kBackendUnavailable: {
            ApiError e = TripoError(kTripoUnknownError, std::move(detail));
            e.http_status = 503;
            return e;
          }
          default:
            return TripoError(kTripoFatalError, std::move(detail));
        }
      case Provider::kSiray:
        switch (triverse_code) {
          case kInvalidParameters:
            return SirayError(400, std::move(detail), "invalid_request_error",
                              "invalid_request");
          case kResourceNotFound:
            return SirayError(404, std::move(detail), "not_found_error",
                              "not_found");
          case kRateLimited:
            return SirayError(429, std::move(detail), "rate_limit_error",
                              "rate_limit_exceeded");
          case kBackendUnavailable:
            return SirayError(503, std::move(detail), "server_error",
                              "service_unavailable");
          default:
            return SirayError(500, std::move(detail), "server_error",
                              "internal_error");
        }
      case Provider::kTriverse:
        break;
    }
    return MakeError(triverse_code, std::move(detail));
  }

  Response AuthError() {
    if (emulator_->provider() == Provider::kTripo) {
      Response res = Error(TripoError(
          kTripoAuthFailed,
          "Send a valid API key (it starts with tsk_) as 'Authorization: "
          "Bearer <API_KEY>'."));
      res.set(http::field::www_authenticate, "Bearer");
      return res;
    }
    if (emulator_->provider() == Provider::kSiray) {
      Response res =
          Error(SirayError(401, "Invalid API key provided.",
                           "authentication_error", "invalid_api_key"));
      res.set(http::field::www_authenticate, "Bearer");
      return res;
    }
    const int status = emulator_->options().auth_failure_status;
    ApiError e;
    e.http_status = status;
    e.code = status;
    e.message = std::string(DefaultMessage(status));
    e.suggestion =
        "Send a valid API key as 'Authorization: Bearer <API_KEY>' (REST) or "
        "'?token=<API_KEY>' (WebSocket).";
    Response res = ErrorResponse(e, request_.version(), keep_alive_);
    if (status == 401) res.set(http::field::www_authenticate, "Bearer");
    return res;
  }

  Response Json(std::string data, bool envelope = true) {
    Response res{http::status::ok, request_.version()};
    res.set(http::field::content_type, "application/json");
    res.body() = envelope ? Envelope(data) : std::move(data);
    return Finish(std::move(res));
  }

  Response Error(const ApiError& e) {
    return ErrorResponse(e, request_.version(), keep_alive_);
  }

  Response ErrorResponse(const ApiError& e, unsigned version,
                         bool keep_alive) const {
    Response res{static_cast<http::status>(e.http_status), version};
    res.set(http::field::content_type, "application/json");
    if (e.retry_after_seconds > 0) {
      res.set(http::field::retry_after, std::to_string(e.retry_after_seconds));
    }
    res.body() = emulator_->provider() == Provider::kSiray ? SirayErrorJson(e)
                                                           : e.ToJson();
    res.keep_alive(keep_alive);
    res.set(http::field::server, "triverse-emulator");
    res.prepare_payload();
    return res;
  }

  Response Finish(Response res) {
    res.keep_alive(keep_alive_);
    res.set(http::field::server, "triverse-emulator");
    res.prepare_payload();
    return res;
  }

  void LogLine(int status) {
    if (!emulator_->options().log) return;
    // The path only: queries may hold a token.
    emulator_->Log(absl::StrFormat(
        "%s %s %s %d %.3fms %s %s",
        absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(),
                         absl::UTCTimeZone()),
        std::string(request_.method_string()), call_.target.path, status,
        absl::ToDoubleMilliseconds(absl::Now() - call_.start), call_.alias,
        call_.route.empty() ? "-" : call_.route));
  }

  void Send(Response res) {
    {
      HttpStats& s = emulator_->stats();
      absl::MutexLock lock(&s.mu);
      ++s.responses_by_status[res.result_int()];
    }
    LogLine(res.result_int());
    if (emulator_->provider() == Provider::kTripo) {
      res.set(kTraceHeader, emulator_->NewTraceId());
    }
    if (!res.keep_alive()) keep_alive_ = false;
    if (call_.fault.kind == FaultDecision::Kind::kTruncate) {
      // Serialise the whole response, send only part of its body and end
      // the connection: the headers promise more than arrives.
      std::ostringstream out;
      out << res;
      std::string wire = out.str();
      const size_t header_end = wire.find("\r\n\r\n");
      const size_t body = wire.size() - (header_end + 4);
      wire.resize(header_end + 4 + body / 2);
      truncated_ = std::make_shared<std::string>(std::move(wire));
      asio::async_write(stream_, asio::buffer(*truncated_),
                        [self = shared_from_this()](
                            beast::error_code, std::size_t) { self->Close(); });
      return;
    }
    response_ = std::make_shared<Response>(std::move(res));
    http::async_write(
        stream_, *response_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) {
          if (ec || !self->keep_alive_) {
            self->Close();
            return;
          }
          self->response_.reset();
          self->ReadHeader();
        });
  }

  void Hang() {
    LogLine(0);
    // No response. The connection stays open until the client gives up or
    // the hang limit passes.
    stream_.expires_after(
        absl::ToChronoNanoseconds(emulator_->options().hang_limit));
    stream_.async_read_some(
        asio::buffer(hang_buffer_),
        [self = shared_from_this()](beast::error_code ec, std::size_t) {
          if (ec) {
            self->Close();
            return;
          }
          self->Hang();
        });
  }

  void Close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.close();
  }

  EmulatorImpl* const emulator_;
  beast::tcp_stream stream_;
  asio::steady_timer timer_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  Request request_;
  Call call_;
  bool keep_alive_ = true;
  std::shared_ptr<Response> response_;
  std::shared_ptr<std::string> truncated_;
  std::array<char, 512> hang_buffer_{};
};

// ----------------------------------------------------------- EmulatorImpl

absl::Status EmulatorImpl::Listen() {
  beast::error_code ec;
  auto address = asio::ip::make_address(options_.listen_host, ec);
  if (ec) {
    return absl::InvalidArgumentError(absl::StrCat(
        "listen host '", options_.listen_host, "' is not an IP address"));
  }
  tcp::endpoint endpoint(address, static_cast<unsigned short>(options_.port));
  acceptor_->open(endpoint.protocol(), ec);
  if (!ec) acceptor_->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_->bind(endpoint, ec);
  if (!ec) acceptor_->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", options_.listen_host, ":",
                     options_.port, ": ", ec.message()));
  }
  port_ = acceptor_->local_endpoint().port();
  const std::string host = address.is_v6()
                               ? absl::StrCat("[", options_.listen_host, "]")
                               : options_.listen_host;
  base_url_ = options_.public_base_url.empty()
                  ? absl::StrCat("http://", host, ":", port_)
                  : options_.public_base_url;
  Accept();
  Tick();
  for (int i = 0; i < std::max(1, options_.threads); ++i) {
    threads_.emplace_back([this] { ioc_->run(); });
  }
  return absl::OkStatus();
}

void EmulatorImpl::Accept() {
  acceptor_->async_accept(asio::make_strand(*ioc_), [this](beast::error_code ec,
                                                           tcp::socket socket) {
    if (ec == asio::error::operation_aborted || stopped_) return;
    if (!ec) {
      beast::error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      std::make_shared<HttpSession>(this, std::move(socket))->Run();
    }
    Accept();
  });
}

void EmulatorImpl::Tick() {
  store_.Advance();
  ticker_->expires_after(absl::ToChronoNanoseconds(options_.tick));
  ticker_->async_wait([this](beast::error_code ec) {
    if (!ec && !stopped_) Tick();
  });
}

void EmulatorImpl::Stop() {
  if (stopped_.exchange(true)) return;
  ioc_->stop();
  for (std::thread& t : threads_) t.join();
  threads_.clear();
  acceptor_.reset();
  ticker_.reset();
  // Destroying the context destroys every session (and so every watch)
  // while the store is still alive.
  ioc_.reset();
}

std::string EmulatorImpl::StatsJson() const {
  std::string out = "{\"http_requests\":{";
  int64_t total = 0;
  {
    HttpStats& s = const_cast<HttpStats&>(stats_);
    absl::MutexLock lock(&s.mu);
    bool first = true;
    for (const auto& [route, n] : s.requests_by_route) {
      absl::StrAppend(&out, first ? "" : ",", "\"", route, "\":", n);
      total += n;
      first = false;
    }
    absl::StrAppend(&out, "},\"http_requests_total\":", total,
                    ",\"http_responses\":{");
    first = true;
    for (const auto& [status, n] : s.responses_by_status) {
      absl::StrAppend(&out, first ? "" : ",", "\"", status, "\":", n);
      first = false;
    }
  }
  const StoreStats store = store_.Stats();
  absl::StrAppend(&out, "},\"websocket\":{\"open\":", stats_.ws_open.load(),
                  ",\"total\":", stats_.ws_total.load(),
                  ",\"frames_sent\":", stats_.ws_frames.load(),
                  "},\"faults_injected\":", stats_.faults_injected.load(),
                  ",\"faults_by_kind\":{");
  {
    HttpStats& s = const_cast<HttpStats&>(stats_);
    absl::MutexLock lock(&s.mu);
    for (const auto& [kind, n] : s.faults_by_kind) {
      absl::StrAppend(&out, "\"", kind, "\":", n, ",");
    }
  }
  absl::StrAppend(&out,
                  "\"read_after_write_miss\":", store.read_after_write_misses,
                  "},\"tasks\":{");
  for (int i = 0; i < kTaskStatusCount; ++i) {
    absl::StrAppend(&out, i ? "," : "", "\"",
                    StatusName(static_cast<TaskStatus>(i)),
                    "\":", store.tasks_by_status[i]);
  }
  absl::StrAppend(&out, "},\"tasks_created\":", store.tasks_created,
                  ",\"uploads\":", store.uploads,
                  ",\"watchers\":", store.watchers, "}");
  return out;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Emulator>> Emulator::Start(
    EmulatorOptions options) {
  if (options.engine.keys.empty()) {
    return absl::InvalidArgumentError("at least one API key is required");
  }
  if (options.auth_failure_status != 401 &&
      options.auth_failure_status != 403) {
    return absl::InvalidArgumentError("auth failure status must be 401 or 403");
  }
  if (options.port < 0 || options.port > 65535) {
    return absl::InvalidArgumentError("port must be in 0-65535");
  }
  if (options.tick <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("tick must be positive");
  }
  auto emulator = std::make_unique<EmulatorImpl>(std::move(options));
  absl::Status status = emulator->Listen();
  if (!status.ok()) return status;
  return std::unique_ptr<Emulator>(std::move(emulator));
}

}  // namespace triverse::emulator
