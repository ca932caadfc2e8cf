// Tests of CurlEngine against the in-process Triverse emulator on
// 127.0.0.1:0: real HTTP on loopback, faults injected by the emulator, no
// sleeps (every wait is on a condition with a timeout).
#include "server/http/curl_engine.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rapidjson/document.h"
#include "tests/emulator/testing_util/http_client.h"
#include "tests/emulator/testing_util/test_emulator.h"
#include "tests/server/testing_util/loopback.h"

namespace triverse::http {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;
using testing_util::kKeyA;
using testing_util::TestEmulator;

constexpr absl::Duration kWait = absl::Seconds(30);
constexpr char kSecretToken[] = "s3cr3t-t0ken-value";

// Outcomes records every callback of a set of transfers, keyed by a label,
// and lets the test wait for a number of them.
class Outcomes {
 public:
  CurlEngine::Callback For(std::string label) {
    return [this, label = std::move(label)](absl::StatusOr<HttpResponse> r) {
      absl::MutexLock lock(&mu_);
      ++calls_[label];
      ++total_;
      threads_.push_back(std::this_thread::get_id());
      results_.insert_or_assign(label, std::move(r));
    };
  }

  // WaitFor returns true once `n` callbacks in total have run.
  bool WaitFor(int n, absl::Duration timeout = kWait) {
    absl::MutexLock lock(&mu_);
    auto reached = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return total_ >= n;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&reached), timeout);
  }

  absl::StatusOr<HttpResponse> Result(const std::string& label) {
    absl::MutexLock lock(&mu_);
    auto it = results_.find(label);
    if (it == results_.end()) return absl::NotFoundError("no result");
    return it->second;
  }
  int Calls(const std::string& label) {
    absl::MutexLock lock(&mu_);
    auto it = calls_.find(label);
    return it == calls_.end() ? 0 : it->second;
  }
  int Total() {
    absl::MutexLock lock(&mu_);
    return total_;
  }
  std::vector<std::thread::id> Threads() {
    absl::MutexLock lock(&mu_);
    return threads_;
  }

 private:
  absl::Mutex mu_;
  std::map<std::string, int> calls_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, absl::StatusOr<HttpResponse>> results_
      ABSL_GUARDED_BY(mu_);
  std::vector<std::thread::id> threads_ ABSL_GUARDED_BY(mu_);
  int total_ ABSL_GUARDED_BY(mu_) = 0;
};

rapidjson::Document ParseJson(const std::string& body) {
  rapidjson::Document doc;
  doc.Parse(body.c_str(), body.size());
  return doc;
}

// ClosedPort returns a loopback port that was just bound and closed, so a
// connection to it is refused.
int ClosedPort() {
  int port = 0;
  close(testing_util::BindLoopback(0, &port));
  return port;
}

// RawServer is a minimal HTTP/1.1 server on 127.0.0.1:0 for what the
// emulator cannot show: it counts accepted connections (keep-alive reuse) and
// answers every request header block with a fixed `response`.
class RawServer {
 public:
  explicit RawServer(std::string response) : response_(std::move(response)) {
    listen_fd_ = testing_util::BindLoopback(64, &port_);
    acceptor_ = std::thread([this] { AcceptLoop(); });
  }

  ~RawServer() {
    shutdown(listen_fd_, SHUT_RDWR);  // Wakes accept().
    acceptor_.join();
    close(listen_fd_);
    {
      absl::MutexLock lock(&mu_);
      for (int fd : fds_) shutdown(fd, SHUT_RDWR);  // Wakes recv().
    }
    for (std::thread& w : workers_) w.join();
    for (int fd : fds_) close(fd);
  }

  std::string Url(absl::string_view path) const {
    return absl::StrCat("http://127.0.0.1:", port_, path);
  }
  int accepted() {
    absl::MutexLock lock(&mu_);
    return static_cast<int>(fds_.size());
  }

 private:
  void AcceptLoop() {
    while (true) {
      const int fd = accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) return;
      {
        absl::MutexLock lock(&mu_);
        fds_.push_back(fd);
      }
      workers_.emplace_back([this, fd] { Serve(fd); });
    }
  }

  void Serve(int fd) {
    std::string buffer;
    char chunk[4096];
    while (true) {
      const ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
      if (n <= 0) return;
      buffer.append(chunk, static_cast<size_t>(n));
      for (size_t end = buffer.find("\r\n\r\n"); end != std::string::npos;
           end = buffer.find("\r\n\r\n")) {
        buffer.erase(0, end + 4);  // Requests here carry no body.
        if (send(fd, response_.data(), response_.size(), MSG_NOSIGNAL) < 0) {
          return;
        }
      }
    }
  }

  const std::string response_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::thread acceptor_;
  std::vector<std::thread> workers_;  // Acceptor thread, then destructor.
  absl::Mutex mu_;
  std::vector<int> fds_ ABSL_GUARDED_BY(mu_);
};

// WebSocketRecorder records the messages and the end of one WebSocket.
class WebSocketRecorder {
 public:
  // Request returns a request for `url` whose messages land here; after
  // `stop_after` messages on_message returns false.
  WebSocketRequest Request(std::string url, int stop_after = -1) {
    WebSocketRequest r;
    r.url = std::move(url);
    r.on_message = [this, stop_after](absl::string_view m, bool is_text) {
      absl::MutexLock lock(&mu_);
      messages_.emplace_back(m);
      all_text_ = all_text_ && is_text;
      return stop_after < 0 || static_cast<int>(messages_.size()) < stop_after;
    };
    r.on_open = [this] {
      absl::MutexLock lock(&mu_);
      // Opened before any message arrived.
      opens_before_messages_ += messages_.empty() ? 1 : 0;
      ++opens_;
    };
    return r;
  }
  int opens() {
    absl::MutexLock lock(&mu_);
    return opens_;
  }
  int opens_before_messages() {
    absl::MutexLock lock(&mu_);
    return opens_before_messages_;
  }
  CurlEngine::WebSocketCallback Done() {
    return [this](absl::StatusOr<WebSocketEnd> end) {
      absl::MutexLock lock(&mu_);
      ++ends_;
      end_ = std::move(end);
    };
  }
  bool WaitForMessages(size_t n) {
    absl::MutexLock lock(&mu_);
    auto reached = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return messages_.size() >= n;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&reached), kWait);
  }
  bool WaitForEnd() {
    absl::MutexLock lock(&mu_);
    auto ended = [this]()
                     ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return ends_ > 0; };
    return mu_.AwaitWithTimeout(absl::Condition(&ended), kWait);
  }
  std::vector<std::string> messages() {
    absl::MutexLock lock(&mu_);
    return messages_;
  }
  bool all_text() {
    absl::MutexLock lock(&mu_);
    return all_text_;
  }
  int ends() {
    absl::MutexLock lock(&mu_);
    return ends_;
  }
  absl::StatusOr<WebSocketEnd> end() {
    absl::MutexLock lock(&mu_);
    return end_;
  }

 private:
  absl::Mutex mu_;
  std::vector<std::string> messages_ ABSL_GUARDED_BY(mu_);
  bool all_text_ ABSL_GUARDED_BY(mu_) = true;
  int opens_ ABSL_GUARDED_BY(mu_) = 0;
  int opens_before_messages_ ABSL_GUARDED_BY(mu_) = 0;
  int ends_ ABSL_GUARDED_BY(mu_) = 0;
  absl::StatusOr<WebSocketEnd> end_ ABSL_GUARDED_BY(mu_) =
      absl::UnknownError("not ended");
};

class CurlEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    emu_ = std::make_unique<TestEmulator>();
    ASSERT_TRUE(emu_->start_status().ok()) << emu_->start_status();
    auto engine = CurlEngine::Create(CurlEngine::Options());
    ASSERT_TRUE(engine.ok()) << engine.status();
    engine_ = std::move(*engine);
  }
  void TearDown() override {
    // The engine first: its callbacks (run with CANCELLED for whatever is
    // still open after a failed assertion) use the recorders and the
    // emulator.
    engine_.reset();
    keep_.clear();
    emu_.reset();
  }

  // Make returns a T (a recorder) that lives until TearDown, after the
  // engine, so that a failed assertion never leaves a callback pointing at a
  // destroyed local.
  template <typename T>
  T& Make() {
    auto made = std::make_shared<T>();
    keep_.push_back(made);
    return *made;
  }

  HttpRequest Get(const std::string& path) {
    HttpRequest r;
    r.method = "GET";
    r.url = emu_->Api(path);
    r.headers = {{"Authorization", absl::StrCat("Bearer ", kKeyA)}};
    r.timeout = kWait;
    return r;
  }
  HttpRequest Post(const std::string& path, std::string body) {
    HttpRequest r = Get(path);
    r.method = "POST";
    r.headers.emplace_back("Content-Type", "application/json");
    r.body = std::move(body);
    return r;
  }

  // Fetch runs one transfer and waits for its only callback.
  absl::StatusOr<HttpResponse> Fetch(HttpRequest request) {
    Outcomes& outcomes = Make<Outcomes>();
    engine_->Start(std::move(request), outcomes.For("one"));
    if (!outcomes.WaitFor(1)) return absl::DeadlineExceededError("no result");
    return outcomes.Result("one");
  }

  void SetFaults(const std::string& json) {
    testing_util::HttpResponse r =
        testing_util::HttpPost(emu_->Url("/_emulator/faults"), json);
    ASSERT_EQ(r.status, 200) << r.body;
  }

  // CreateTask creates a text-to-model task through the engine and returns
  // its uuid.
  std::string CreateTask(const std::string& prompt) {
    absl::StatusOr<HttpResponse> r = Fetch(Post(
        "/tasks/text-to-model", absl::StrCat(R"({"prompt":")", prompt, "\"}")));
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok()) return "";
    EXPECT_EQ(r->status, 200) << r->body;
    rapidjson::Document doc = ParseJson(r->body);
    if (!doc.IsObject() || !doc.HasMember("data") || !doc["data"].IsObject() ||
        !doc["data"].HasMember("task_uuid") ||
        !doc["data"]["task_uuid"].IsString()) {
      ADD_FAILURE() << "no data.task_uuid in " << r->body;
      return "";
    }
    return doc["data"]["task_uuid"].GetString();
  }

  std::unique_ptr<TestEmulator> emu_;
  std::vector<std::shared_ptr<void>> keep_;
  std::unique_ptr<CurlEngine> engine_;
};

TEST_F(CurlEngineTest, GetReturnsStatusHeadersAndBody) {
  absl::StatusOr<HttpResponse> r = Fetch(Get("/users/me"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  EXPECT_THAT(r->Header("content-type"), HasSubstr("application/json"));
  EXPECT_EQ(r->Header("Content-Type"), r->Header("content-type"));
  EXPECT_EQ(r->Header("x-no-such-header"), "");
  EXPECT_EQ(r->Header("content-length"), absl::StrCat(r->body.size()));
  for (const auto& [name, value] : r->headers) {
    EXPECT_EQ(name, absl::AsciiStrToLower(name));
  }
  rapidjson::Document doc = ParseJson(r->body);
  ASSERT_FALSE(doc.HasParseError()) << r->body;
  ASSERT_TRUE(doc.IsObject() && doc.HasMember("code") && doc["code"].IsInt());
  EXPECT_EQ(doc["code"].GetInt(), 0);
}

TEST_F(CurlEngineTest, AuthorizationHeaderIsSent) {
  HttpRequest no_key = Get("/users/me");
  no_key.headers.clear();
  absl::StatusOr<HttpResponse> r = Fetch(std::move(no_key));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 401);
}

TEST_F(CurlEngineTest, PostBodyArrives) {
  const std::string uuid = CreateTask("a red chair");
  EXPECT_EQ(uuid.size(), 36u) << uuid;

  // The emulator parses the body: a body that is not JSON is refused.
  absl::StatusOr<HttpResponse> bad =
      Fetch(Post("/tasks/text-to-model", "not json"));
  ASSERT_TRUE(bad.ok()) << bad.status();
  EXPECT_EQ(bad->status, 400);

  // And the task exists.
  HttpRequest get = Get(absl::StrCat("/tasks/", uuid));
  get.headers.emplace_back("X-Triverse-Read-After-Write", "1");
  absl::StatusOr<HttpResponse> task = Fetch(std::move(get));
  ASSERT_TRUE(task.ok()) << task.status();
  EXPECT_EQ(task->status, 200) << task->body;
  EXPECT_THAT(task->body, HasSubstr(uuid));
}

TEST_F(CurlEngineTest, HundredConcurrentRequestsCompleteExactlyOnce) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 25;
  Outcomes& outcomes = Make<Outcomes>();
  std::vector<std::thread> starters;
  for (int t = 0; t < kThreads; ++t) {
    starters.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        engine_->Start(Get(i % 2 == 0 ? "/users/me" : "/users/balance"),
                       outcomes.For(absl::StrCat(t, "-", i)));
      }
    });
  }
  for (std::thread& s : starters) s.join();
  ASSERT_TRUE(outcomes.WaitFor(kThreads * kPerThread));

  const std::vector<std::thread::id> threads = outcomes.Threads();
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kPerThread; ++i) {
      const std::string label = absl::StrCat(t, "-", i);
      absl::StatusOr<HttpResponse> r = outcomes.Result(label);
      ASSERT_TRUE(r.ok()) << label << ": " << r.status();
      EXPECT_EQ(r->status, 200) << label << ": " << r->body;
    }
  }
  // All on one thread, the engine's.
  for (const std::thread::id& id : threads) {
    EXPECT_EQ(id, threads.front());
    EXPECT_NE(id, std::this_thread::get_id());
  }
  // Exactly once, even after the engine is gone.
  engine_.reset();
  EXPECT_EQ(outcomes.Total(), kThreads * kPerThread);
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kPerThread; ++i) {
      EXPECT_EQ(outcomes.Calls(absl::StrCat(t, "-", i)), 1);
    }
  }
}

TEST_F(CurlEngineTest, HttpErrorStatusesAreResponsesNotErrors) {
  absl::StatusOr<HttpResponse> not_found = Fetch(Get("/nothing/here"));
  ASSERT_TRUE(not_found.ok()) << not_found.status();
  EXPECT_EQ(not_found->status, 404);
  EXPECT_THAT(not_found->body, HasSubstr("1005"));

  // A download before SUCCESS: 409/2005.
  const std::string uuid = CreateTask("a blue table");
  absl::StatusOr<HttpResponse> conflict =
      Fetch(Get(absl::StrCat("/tasks/download/", uuid)));
  ASSERT_TRUE(conflict.ok()) << conflict.status();
  EXPECT_EQ(conflict->status, 409);
  EXPECT_THAT(conflict->body, HasSubstr("2005"));

  SetFaults(R"({"routes":{"users_me":{"unavailable_rate":1}}})");
  absl::StatusOr<HttpResponse> unavailable = Fetch(Get("/users/me"));
  ASSERT_TRUE(unavailable.ok()) << unavailable.status();
  EXPECT_EQ(unavailable->status, 503);
}

TEST_F(CurlEngineTest, HangPastTheTimeoutIsDeadlineExceeded) {
  SetFaults(R"({"routes":{"users_me":{"hang_rate":1}}})");
  HttpRequest request = Get("/users/me");
  request.timeout = absl::Milliseconds(200);
  const absl::Time start = absl::Now();
  absl::StatusOr<HttpResponse> r = Fetch(std::move(request));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded)
      << r.status();
  EXPECT_THAT(r.status().message(), HasSubstr("GET /api/v1/users/me"));
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(200));
}

TEST_F(CurlEngineTest, TruncatedBodyIsUnavailable) {
  SetFaults(R"({"routes":{"users_me":{"truncate_rate":1}}})");
  absl::StatusOr<HttpResponse> r = Fetch(Get("/users/me"));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
  EXPECT_THAT(r.status().message(), HasSubstr("GET /api/v1/users/me"));

  // The engine keeps working once the fault is gone.
  SetFaults(R"({"reset":true})");
  absl::StatusOr<HttpResponse> ok = Fetch(Get("/users/me"));
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->status, 200);
}

TEST_F(CurlEngineTest, ConnectionRefusedIsUnavailable) {
  HttpRequest request = Get("/users/me");
  request.url = absl::StrCat("http://127.0.0.1:", ClosedPort(), "/api/v1/x");
  absl::StatusOr<HttpResponse> r = Fetch(std::move(request));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
  EXPECT_THAT(r.status().message(), HasSubstr("GET /api/v1/x"));
}

TEST_F(CurlEngineTest, CancelOfAHungRequestIsPromptAndOnce) {
  SetFaults(R"({"routes":{"users_me":{"hang_rate":1}}})");
  Outcomes& outcomes = Make<Outcomes>();
  const uint64_t hung = engine_->Start(Get("/users/me"), outcomes.For("hung"));
  // A second transfer on another route: once it completes, the hung one has
  // been on the wire for a while.
  engine_->Start(Get("/users/balance"), outcomes.For("barrier"));
  ASSERT_TRUE(outcomes.WaitFor(1));
  ASSERT_EQ(outcomes.Calls("barrier"), 1);
  ASSERT_EQ(outcomes.Calls("hung"), 0);

  // Prompt: well before the emulator's hang limit (minutes) would end it.
  engine_->Cancel(hung);
  ASSERT_TRUE(outcomes.WaitFor(2, absl::Seconds(30)));
  absl::StatusOr<HttpResponse> r = outcomes.Result("hung");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kCancelled) << r.status();
  EXPECT_THAT(r.status().message(), HasSubstr("GET /api/v1/users/me"));

  // Cancelling again, or an id that never existed, changes nothing.
  engine_->Cancel(hung);
  engine_->Cancel(hung + 1000);
  absl::StatusOr<HttpResponse> after = Fetch(Get("/users/balance"));
  EXPECT_TRUE(after.ok()) << after.status();
  engine_.reset();
  EXPECT_EQ(outcomes.Calls("hung"), 1);
  EXPECT_EQ(outcomes.Total(), 2);
}

TEST_F(CurlEngineTest, CancelRightAfterStartIsCancelled) {
  Outcomes& outcomes = Make<Outcomes>();
  engine_->Cancel(engine_->Start(Get("/users/me"), outcomes.For("x")));
  ASSERT_TRUE(outcomes.WaitFor(1));
  // The transfer may have been fast enough to finish first; either way there
  // is exactly one outcome.
  absl::StatusOr<HttpResponse> r = outcomes.Result("x");
  if (!r.ok()) {
    EXPECT_EQ(r.status().code(), absl::StatusCode::kCancelled);
  }
  engine_.reset();
  EXPECT_EQ(outcomes.Calls("x"), 1);
}

TEST_F(CurlEngineTest, DestroyingTheEngineCancelsTransfersInFlightOnce) {
  SetFaults(R"({"routes":{"users_me":{"hang_rate":1}}})");
  constexpr int kHung = 10;
  Outcomes& outcomes = Make<Outcomes>();
  for (int i = 0; i < kHung; ++i) {
    engine_->Start(Get("/users/me"), outcomes.For(absl::StrCat("hung-", i)));
  }
  // A callback that starts another transfer while the engine shuts down:
  // that one is cancelled too.
  Outcomes& restarted = Make<Outcomes>();
  CurlEngine* engine = engine_.get();
  engine_->Start(Get("/users/me"),
                 [&, engine, inner = outcomes.For("restarter")](
                     absl::StatusOr<HttpResponse> r) mutable {
                   engine->Start(Get("/users/me"), restarted.For("restarted"));
                   std::move(inner)(std::move(r));
                 });
  engine_->Start(Get("/users/balance"), outcomes.For("barrier"));
  ASSERT_TRUE(outcomes.WaitFor(1));
  ASSERT_EQ(outcomes.Calls("barrier"), 1);

  engine_.reset();
  EXPECT_EQ(outcomes.Total(), kHung + 2);
  for (int i = 0; i < kHung; ++i) {
    const std::string label = absl::StrCat("hung-", i);
    EXPECT_EQ(outcomes.Calls(label), 1) << label;
    EXPECT_EQ(outcomes.Result(label).status().code(),
              absl::StatusCode::kCancelled);
  }
  EXPECT_EQ(outcomes.Result("restarter").status().code(),
            absl::StatusCode::kCancelled);
  EXPECT_EQ(restarted.Calls("restarted"), 1);
  EXPECT_EQ(restarted.Result("restarted").status().code(),
            absl::StatusCode::kCancelled);
}

TEST_F(CurlEngineTest, ErrorMessagesNeverContainTheQueryOrAuthorization) {
  const std::string bearer = absl::StrCat("Bearer ", kKeyA);
  auto secret_request = [&](std::string url) {
    HttpRequest r;
    r.method = "GET";
    r.url = std::move(url);
    r.headers = {{"Authorization", bearer}};
    r.timeout = absl::Milliseconds(300);
    return r;
  };
  const std::string query = absl::StrCat("?token=", kSecretToken);
  std::vector<std::pair<std::string, HttpRequest>> cases;
  cases.emplace_back(
      "refused", secret_request(absl::StrCat("http://127.0.0.1:", ClosedPort(),
                                             "/api/v1/x", query)));
  cases.emplace_back("bad scheme",
                     secret_request(absl::StrCat("ftp://127.0.0.1/x", query)));
  cases.emplace_back(
      "malformed", secret_request(absl::StrCat("http://[bad/api/v1/x", query)));
  HttpRequest bad_header = secret_request(emu_->Api("/users/me") + query);
  bad_header.headers.emplace_back("X-Bad", "a\r\nInjected: 1");
  cases.emplace_back("bad header", std::move(bad_header));

  auto expect_clean = [&](const std::string& label, const absl::Status& s) {
    EXPECT_FALSE(s.ok()) << label;
    EXPECT_THAT(std::string(s.message()),
                AllOf(Not(HasSubstr(kSecretToken)), Not(HasSubstr("token=")),
                      Not(HasSubstr(kKeyA)), Not(HasSubstr("Injected"))))
        << label;
  };
  for (auto& [label, request] : cases) {
    expect_clean(label, Fetch(std::move(request)).status());
  }

  // Timeouts and broken connections from the emulator.
  SetFaults(R"({"routes":{"users_me":{"hang_rate":1}}})");
  absl::StatusOr<HttpResponse> hung =
      Fetch(secret_request(emu_->Api("/users/me") + query));
  EXPECT_EQ(hung.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(hung.status().message(), HasSubstr("GET /api/v1/users/me"));
  expect_clean("hang", hung.status());

  SetFaults(R"({"reset":true,"routes":{"users_me":{"truncate_rate":1}}})");
  absl::StatusOr<HttpResponse> truncated =
      Fetch(secret_request(emu_->Api("/users/me") + query));
  EXPECT_EQ(truncated.status().code(), absl::StatusCode::kUnavailable);
  expect_clean("truncate", truncated.status());

  // Cancelled transfers too.
  SetFaults(R"({"reset":true,"routes":{"users_me":{"hang_rate":1}}})");
  Outcomes& outcomes = Make<Outcomes>();
  HttpRequest slow = secret_request(emu_->Api("/users/me") + query);
  slow.timeout = kWait;
  engine_->Cancel(engine_->Start(std::move(slow), outcomes.For("c")));
  ASSERT_TRUE(outcomes.WaitFor(1));
  expect_clean("cancel", outcomes.Result("c").status());
}

TEST_F(CurlEngineTest, InvalidRequestsFailThroughTheCallback) {
  HttpRequest bad_method = Get("/users/me");
  bad_method.method = "GE T";
  HttpRequest zero_timeout = Get("/users/me");
  zero_timeout.timeout = absl::ZeroDuration();
  HttpRequest bad_header_name = Get("/users/me");
  bad_header_name.headers.emplace_back("Bad Name", "v");
  HttpRequest no_url = Get("/users/me");
  no_url.url.clear();
  for (HttpRequest* r :
       {&bad_method, &zero_timeout, &bad_header_name, &no_url}) {
    absl::StatusOr<HttpResponse> result = Fetch(std::move(*r));
    EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument)
        << result.status();
  }
}

TEST_F(CurlEngineTest, OnBodyChunkReceivesTheWholeDownloadInPieces) {
  const std::string uuid = CreateTask("a green lamp");
  emu_->AdvanceBy(absl::Seconds(11) + absl::Milliseconds(100));

  const std::string path = absl::StrCat("/tasks/download/", uuid);
  absl::StatusOr<HttpResponse> whole = Fetch(Get(path));
  ASSERT_TRUE(whole.ok()) << whole.status();
  ASSERT_EQ(whole->status, 200) << whole->body.substr(0, 200);
  ASSERT_EQ(whole->body.substr(0, 4), "glTF");

  // The sink runs on the engine thread only, before the callback; the
  // callback's Outcomes mutex orders these writes before the reads below.
  std::string streamed;
  int chunks = 0;
  HttpRequest request = Get(path);
  request.on_body_chunk = [&](absl::string_view chunk) {
    streamed.append(chunk.data(), chunk.size());
    ++chunks;
    return true;
  };
  absl::StatusOr<HttpResponse> r = Fetch(std::move(request));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->Header("content-type"), "application/octet-stream");
  EXPECT_EQ(r->body, "");
  EXPECT_EQ(streamed.size(), whole->body.size());
  EXPECT_TRUE(streamed == whole->body);
  EXPECT_GE(chunks, 1);
  // libcurl hands over at most CURL_MAX_WRITE_SIZE (16 KiB) at a time.
  if (whole->body.size() > 16 * 1024) {
    EXPECT_GT(chunks, 1);
  }
}

TEST_F(CurlEngineTest, OnBodyChunkReturningFalseCancels) {
  HttpRequest request = Get("/users/me");
  request.on_body_chunk = [](absl::string_view) { return false; };
  absl::StatusOr<HttpResponse> r = Fetch(std::move(request));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kCancelled) << r.status();
}

// HeadRecorder records what on_headers and on_body_chunk saw. Both run on
// the engine thread before the transfer's callback, whose Outcomes mutex
// orders these writes before the test's reads.
struct HeadRecorder {
  int heads = 0;
  long status = 0;  // NOLINT(runtime/int)
  std::vector<std::pair<std::string, std::string>> headers;
  std::string head_body;
  int chunks_before_head = 0;
  std::string body;
  std::thread::id thread;

  void Attach(HttpRequest& request, bool accept_head = true) {
    request.on_headers = [this, accept_head](const HttpResponse& head) {
      ++heads;
      status = head.status;
      headers = head.headers;
      head_body = head.body;
      thread = std::this_thread::get_id();
      return accept_head;
    };
    request.on_body_chunk = [this](absl::string_view chunk) {
      if (heads == 0) ++chunks_before_head;
      body.append(chunk.data(), chunk.size());
      return true;
    };
  }
  std::string Header(absl::string_view name) const {
    HttpResponse r;
    r.headers = headers;
    return r.Header(name);
  }
};

TEST_F(CurlEngineTest, OnHeadersRunsOnceBeforeTheBody) {
  const std::string uuid = CreateTask("a red kettle");
  emu_->AdvanceBy(absl::Seconds(11) + absl::Milliseconds(100));
  HeadRecorder& rec = Make<HeadRecorder>();
  HttpRequest request = Get(absl::StrCat("/tasks/download/", uuid));
  rec.Attach(request);
  Outcomes& outcomes = Make<Outcomes>();
  engine_->Start(std::move(request), outcomes.For("one"));
  ASSERT_TRUE(outcomes.WaitFor(1));
  absl::StatusOr<HttpResponse> r = outcomes.Result("one");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(rec.heads, 1);
  EXPECT_EQ(rec.status, 200);
  EXPECT_EQ(rec.chunks_before_head, 0);
  EXPECT_EQ(rec.head_body, "");
  EXPECT_EQ(rec.Header("content-type"), "application/octet-stream");
  EXPECT_THAT(rec.Header("content-disposition"),
              HasSubstr(absl::StrCat("filename=\"", uuid)));
  EXPECT_EQ(rec.Header("content-length"), absl::StrCat(rec.body.size()));
  // The head is the final response's: the same headers as the result.
  EXPECT_EQ(rec.headers, r->headers);
  EXPECT_EQ(rec.body.substr(0, 4), "glTF");
  // On the engine thread, like the transfer's callback.
  EXPECT_EQ(rec.thread, outcomes.Threads().front());
  EXPECT_NE(rec.thread, std::this_thread::get_id());
}

TEST_F(CurlEngineTest, OnHeadersSeesErrorStatusesAndTheBodyStillArrives) {
  HeadRecorder& rec = Make<HeadRecorder>();
  HttpRequest request = Get("/nothing/here");
  rec.Attach(request);
  absl::StatusOr<HttpResponse> r = Fetch(std::move(request));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(rec.heads, 1);
  EXPECT_EQ(rec.status, 404);
  EXPECT_EQ(rec.chunks_before_head, 0);
  EXPECT_THAT(rec.body, HasSubstr("1005"));
}

TEST_F(CurlEngineTest, OnHeadersWithoutBodySinkKeepsTheBody) {
  int heads = 0;
  HttpRequest request = Get("/users/me");
  request.on_headers = [&heads](const HttpResponse& head) {
    ++heads;
    return head.status == 200;
  };
  absl::StatusOr<HttpResponse> r = Fetch(std::move(request));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(heads, 1);
  EXPECT_TRUE(ParseJson(r->body).IsObject()) << r->body;
}

TEST_F(CurlEngineTest, OnHeadersReturningFalseCancelsBeforeAnyChunk) {
  HeadRecorder& rec = Make<HeadRecorder>();
  HttpRequest request = Get("/users/me?token=abc");
  rec.Attach(request, /*accept_head=*/false);
  absl::StatusOr<HttpResponse> r = Fetch(std::move(request));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kCancelled) << r.status();
  EXPECT_THAT(r.status().message(),
              AllOf(HasSubstr("GET /api/v1/users/me"), HasSubstr("on_headers"),
                    Not(HasSubstr("token"))));
  EXPECT_EQ(rec.heads, 1);
  EXPECT_EQ(rec.status, 200);
  EXPECT_EQ(rec.body, "");
}

TEST_F(CurlEngineTest, OnHeadersSkipsInterimResponses) {
  RawServer server(
      "HTTP/1.1 100 Continue\r\nX-Interim: 1\r\n\r\n"
      "HTTP/1.1 201 Created\r\nContent-Length: 2\r\nX-Final: yes\r\n\r\nok");
  HeadRecorder& rec = Make<HeadRecorder>();
  HttpRequest request = Get("/");
  request.url = server.Url("/interim");
  rec.Attach(request);
  absl::StatusOr<HttpResponse> r = Fetch(std::move(request));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 201);
  EXPECT_EQ(rec.heads, 1);
  EXPECT_EQ(rec.status, 201);
  EXPECT_EQ(rec.Header("x-interim"), "");
  EXPECT_EQ(rec.Header("x-final"), "yes");
  EXPECT_EQ(rec.body, "ok");
}

TEST_F(CurlEngineTest, RedirectsAreResponsesUnlessFollowed) {
  RawServer target(
      "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Final: yes\r\n\r\nfinal");
  RawServer redirect(
      absl::StrCat("HTTP/1.1 302 Found\r\nLocation: ", target.Url("/asset.glb"),
                   "\r\nContent-Length: 5\r\n\r\nmoved"));
  HttpRequest plain = Get("/");
  plain.url = redirect.Url("/redirect/x");
  absl::StatusOr<HttpResponse> r = Fetch(std::move(plain));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 302);
  EXPECT_EQ(target.accepted(), 0);

  HeadRecorder& rec = Make<HeadRecorder>();
  HttpRequest follow = Get("/");
  follow.url = redirect.Url("/redirect/x");
  follow.max_redirects = 3;
  rec.Attach(follow);
  r = Fetch(std::move(follow));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  // Only the final response reaches on_headers and the body sink.
  EXPECT_EQ(rec.heads, 1);
  EXPECT_EQ(rec.status, 200);
  EXPECT_EQ(rec.Header("x-final"), "yes");
  EXPECT_EQ(rec.body, "final");
}

TEST_F(CurlEngineTest, RedirectLoopsAndOtherSchemesEndTheTransfer) {
  RawServer loop(
      "HTTP/1.1 302 Found\r\nLocation: /again\r\n"
      "Content-Length: 0\r\n\r\n");
  HttpRequest r1 = Get("/");
  r1.url = loop.Url("/start");
  r1.max_redirects = 2;
  EXPECT_FALSE(Fetch(std::move(r1)).ok());

  RawServer elsewhere(
      "HTTP/1.1 302 Found\r\nLocation: file:///etc/passwd\r\n"
      "Content-Length: 0\r\n\r\n");
  HttpRequest r2 = Get("/");
  r2.url = elsewhere.Url("/start");
  r2.max_redirects = 2;
  absl::StatusOr<HttpResponse> r = Fetch(std::move(r2));
  EXPECT_FALSE(r.ok() && r->status == 200);
  if (!r.ok()) {
    EXPECT_THAT(std::string(r.status().message()), Not(HasSubstr("passwd")));
  }
}

TEST_F(CurlEngineTest, OnHeadersRunsOnceDespiteTrailers) {
  RawServer server(
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n"
      "\r\n5\r\nhello\r\n0\r\nX-Sum: 42\r\n\r\n");
  HeadRecorder& rec = Make<HeadRecorder>();
  HttpRequest request = Get("/");
  request.url = server.Url("/trailers");
  rec.Attach(request);
  absl::StatusOr<HttpResponse> r = Fetch(std::move(request));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(rec.heads, 1);
  EXPECT_EQ(rec.Header("x-sum"), "");  // Trailers come after the head.
  EXPECT_EQ(rec.body, "hello");
}

TEST_F(CurlEngineTest, OnHeadersNotCalledWhenNoResponseArrives) {
  HeadRecorder& rec = Make<HeadRecorder>();
  HttpRequest request = Get("/");
  request.url = absl::StrCat("http://127.0.0.1:", ClosedPort(), "/x");
  rec.Attach(request);
  absl::StatusOr<HttpResponse> r = Fetch(std::move(request));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
  EXPECT_EQ(rec.heads, 0);
}

TEST_F(CurlEngineTest, BodyOverTheLimitIsResourceExhausted) {
  CurlEngine::Options options;
  options.max_response_body_bytes = 16;
  auto small = CurlEngine::Create(options);
  ASSERT_TRUE(small.ok()) << small.status();
  engine_ = std::move(*small);
  absl::StatusOr<HttpResponse> r = Fetch(Get("/users/me"));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted)
      << r.status();
  EXPECT_THAT(r.status().message(), HasSubstr("GET /api/v1/users/me"));
}

TEST_F(CurlEngineTest, CallbacksMayStartMoreTransfers) {
  Outcomes& outcomes = Make<Outcomes>();
  CurlEngine* engine = engine_.get();
  engine_->Start(Get("/users/me"), [&, engine, first = outcomes.For("first")](
                                       absl::StatusOr<HttpResponse> r) mutable {
    engine->Start(Get("/users/balance"), outcomes.For("second"));
    std::move(first)(std::move(r));
  });
  ASSERT_TRUE(outcomes.WaitFor(2));
  EXPECT_TRUE(outcomes.Result("first").ok());
  absl::StatusOr<HttpResponse> second = outcomes.Result("second");
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->status, 200);
}

TEST_F(CurlEngineTest, SequentialRequestsReuseOneConnection) {
  RawServer server("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  for (int i = 0; i < 5; ++i) {
    HttpRequest request = Get("/");
    request.url = server.Url("/keep-alive");
    absl::StatusOr<HttpResponse> r = Fetch(std::move(request));
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "ok");
  }
  EXPECT_EQ(server.accepted(), 1);
}

TEST_F(CurlEngineTest, OnlyTheFinalResponsesHeadersAreKept) {
  RawServer server(
      "HTTP/1.1 100 Continue\r\nX-Interim: 1\r\n\r\n"
      "HTTP/1.1 201 Created\r\nContent-Length: 2\r\nX-Folded: a\r\n  b\r\n"
      "X-Spaced:   v  \r\n\r\nok");
  HttpRequest request = Get("/");
  request.url = server.Url("/interim");
  absl::StatusOr<HttpResponse> r = Fetch(std::move(request));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 201);
  EXPECT_EQ(r->Header("x-interim"), "");
  EXPECT_EQ(r->Header("x-folded"), "a b");
  EXPECT_EQ(r->Header("x-spaced"), "v");
  EXPECT_EQ(r->body, "ok");
}

TEST_F(CurlEngineTest, ChunkedBodyOverTheLimitIsResourceExhausted) {
  // No Content-Length: the limit is enforced while the body arrives.
  RawServer server(absl::StrCat(
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n40\r\n",
      std::string(64, 'x'), "\r\n0\r\n\r\n"));
  CurlEngine::Options options;
  options.max_response_body_bytes = 16;
  auto small = CurlEngine::Create(options);
  ASSERT_TRUE(small.ok()) << small.status();
  engine_ = std::move(*small);
  HttpRequest request = Get("/");
  request.url = server.Url("/chunked?token=abc");
  absl::StatusOr<HttpResponse> r = Fetch(std::move(request));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted)
      << r.status();
  EXPECT_THAT(r.status().message(), HasSubstr("GET /chunked"));
  EXPECT_THAT(r.status().message(), Not(HasSubstr("token")));
}

// --------------------------------------------------------------- WebSocket

TEST_F(CurlEngineTest, WebSocketDeliversEveryEventThenTheCloseFrame) {
  const std::string uuid = CreateTask("a wooden boat");
  WebSocketRecorder& ws = Make<WebSocketRecorder>();
  engine_->OpenWebSocket(ws.Request(emu_->Ws(absl::StrCat("/tasks/watch/", uuid,
                                                          "?token=", kKeyA))),
                         ws.Done());
  ASSERT_TRUE(ws.WaitForMessages(1));  // The current state: subscribed.
  EXPECT_THAT(ws.messages().front(), HasSubstr("PENDING"));

  emu_->AdvanceBy(absl::Seconds(11) + absl::Milliseconds(100));
  ASSERT_TRUE(ws.WaitForEnd());
  absl::StatusOr<WebSocketEnd> end = ws.end();
  ASSERT_TRUE(end.ok()) << end.status();
  EXPECT_EQ(end->http_status, 101);
  EXPECT_EQ(end->close_code, 1000);

  const std::vector<std::string> messages = ws.messages();
  // PENDING, QUEUED, RUNNING 0..90 in steps of 10, finalized SUCCESS.
  EXPECT_EQ(messages.size(), 13u);
  ASSERT_FALSE(messages.empty());
  EXPECT_THAT(messages.back(), HasSubstr("event: finalized"));
  EXPECT_THAT(messages.back(), HasSubstr("SUCCESS"));
  EXPECT_TRUE(ws.all_text());
  EXPECT_EQ(ws.opens(), 1);
  EXPECT_EQ(ws.opens_before_messages(), 1);
  engine_.reset();
  EXPECT_EQ(ws.ends(), 1);
}

TEST_F(CurlEngineTest, WebSocketRefusedUpgradeIsData) {
  const std::string uuid = CreateTask("a stone bench");
  WebSocketRecorder& bad_key = Make<WebSocketRecorder>();
  engine_->OpenWebSocket(bad_key.Request(emu_->Ws(absl::StrCat(
                             "/tasks/watch/", uuid, "?token=", kSecretToken))),
                         bad_key.Done());
  WebSocketRecorder& no_task = Make<WebSocketRecorder>();
  engine_->OpenWebSocket(
      no_task.Request(emu_->Ws(absl::StrCat(
          "/tasks/watch/92483a80-236c-4889-9a95-4c90bb64dfd8?token=", kKeyA))),
      no_task.Done());
  ASSERT_TRUE(bad_key.WaitForEnd());
  ASSERT_TRUE(no_task.WaitForEnd());
  absl::StatusOr<WebSocketEnd> refused = bad_key.end();
  ASSERT_TRUE(refused.ok()) << refused.status();
  EXPECT_EQ(refused->http_status, 401);
  absl::StatusOr<WebSocketEnd> missing = no_task.end();
  ASSERT_TRUE(missing.ok()) << missing.status();
  EXPECT_EQ(missing->http_status, 404);
  EXPECT_TRUE(bad_key.messages().empty());
  EXPECT_TRUE(no_task.messages().empty());
  EXPECT_EQ(bad_key.opens(), 0);
  EXPECT_EQ(no_task.opens(), 0);
}

TEST_F(CurlEngineTest, WebSocketDropWithoutCloseFrameIsUnavailable) {
  SetFaults(R"({"websocket":{"drop_after_frames":3}})");
  const std::string uuid = CreateTask("a glass vase");
  // The secret rides in a second query parameter; the message must not
  // quote it.
  WebSocketRecorder& dropped = Make<WebSocketRecorder>();
  engine_->OpenWebSocket(
      dropped.Request(emu_->Ws(absl::StrCat(
          "/tasks/watch/", uuid, "?token=", kKeyA, "&x=", kSecretToken))),
      dropped.Done());
  ASSERT_TRUE(dropped.WaitForMessages(1));
  emu_->AdvanceBy(absl::Seconds(11) + absl::Milliseconds(100));
  ASSERT_TRUE(dropped.WaitForEnd());
  absl::StatusOr<WebSocketEnd> end = dropped.end();
  EXPECT_EQ(end.status().code(), absl::StatusCode::kUnavailable)
      << end.status();
  EXPECT_THAT(std::string(end.status().message()),
              AllOf(HasSubstr("WebSocket /api/v1/tasks/watch/"),
                    Not(HasSubstr(kSecretToken)), Not(HasSubstr(kKeyA))));
  EXPECT_EQ(dropped.messages().size(), 3u);
}

TEST_F(CurlEngineTest, WebSocketCancelAndEngineDestructionEndItOnce) {
  // A PENDING task's watch stays open while the fake clock stands still.
  const std::string uuid = CreateTask("an iron key");
  const std::string url =
      emu_->Ws(absl::StrCat("/tasks/watch/", uuid, "?token=", kKeyA));
  WebSocketRecorder& cancelled = Make<WebSocketRecorder>();
  const uint64_t id =
      engine_->OpenWebSocket(cancelled.Request(url), cancelled.Done());
  WebSocketRecorder& open = Make<WebSocketRecorder>();
  engine_->OpenWebSocket(open.Request(url), open.Done());
  ASSERT_TRUE(cancelled.WaitForMessages(1));
  ASSERT_TRUE(open.WaitForMessages(1));
  EXPECT_THAT(open.messages().front(), HasSubstr(uuid));

  engine_->Cancel(id);
  ASSERT_TRUE(cancelled.WaitForEnd());
  EXPECT_EQ(cancelled.end().status().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(open.ends(), 0);

  engine_.reset();
  EXPECT_EQ(open.ends(), 1);
  EXPECT_EQ(open.end().status().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(cancelled.ends(), 1);
  EXPECT_EQ(cancelled.messages().size(), 1u);
}

TEST_F(CurlEngineTest, WebSocketOnMessageReturningFalseCancels) {
  const std::string uuid = CreateTask("a paper crane");
  WebSocketRecorder& ws = Make<WebSocketRecorder>();
  engine_->OpenWebSocket(ws.Request(emu_->Ws(absl::StrCat("/tasks/watch/", uuid,
                                                          "?token=", kKeyA)),
                                    /*stop_after=*/1),
                         ws.Done());
  ASSERT_TRUE(ws.WaitForEnd());
  EXPECT_EQ(ws.end().status().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(ws.messages().size(), 1u);
}

TEST_F(CurlEngineTest, WebSocketInvalidRequests) {
  WebSocketRecorder& http_scheme = Make<WebSocketRecorder>();
  engine_->OpenWebSocket(http_scheme.Request(emu_->Api("/tasks/watch/all")),
                         http_scheme.Done());
  WebSocketRecorder& no_handler = Make<WebSocketRecorder>();
  WebSocketRequest request =
      no_handler.Request(emu_->Ws("/tasks/watch/all?token=x"));
  request.on_message = nullptr;
  engine_->OpenWebSocket(std::move(request), no_handler.Done());
  ASSERT_TRUE(http_scheme.WaitForEnd());
  ASSERT_TRUE(no_handler.WaitForEnd());
  EXPECT_EQ(http_scheme.end().status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(no_handler.end().status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(CurlEngineCreateTest, RejectsBadOptions) {
  CurlEngine::Options no_connections;
  no_connections.max_connections_per_host = 0;
  EXPECT_EQ(CurlEngine::Create(no_connections).status().code(),
            absl::StatusCode::kInvalidArgument);
  CurlEngine::Options no_connect_timeout;
  no_connect_timeout.connect_timeout = absl::ZeroDuration();
  EXPECT_EQ(CurlEngine::Create(no_connect_timeout).status().code(),
            absl::StatusCode::kInvalidArgument);
  CurlEngine::Options no_body;
  no_body.max_response_body_bytes = 0;
  EXPECT_EQ(CurlEngine::Create(no_body).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace triverse::http
