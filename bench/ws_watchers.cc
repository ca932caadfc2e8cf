// ws_watchers: opens many WebSocket watchers on a running Triverse API (the
// emulator) and measures connection set-up and event delivery.
//
// Usage: ws_watchers HOST PORT API_KEY WATCHERS TASKS
// Creates TASKS text-to-model tasks over REST, opens WATCHERS sockets on
// /tasks/watch/{uuid} spread over them and waits until every socket got its
// `finalized` event. Prints one JSON object with the figures.
#include <algorithm>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

std::string CreateTask(asio::io_context& ioc, const std::string& host,
                       const std::string& port, const std::string& key, int n) {
  tcp::resolver resolver(ioc);
  beast::tcp_stream stream(ioc);
  stream.connect(resolver.resolve(host, port));
  http::request<http::string_body> req{http::verb::post,
                                       "/api/v1/tasks/text-to-model", 11};
  req.set(http::field::host, host);
  req.set(http::field::authorization, "Bearer " + key);
  req.set(http::field::content_type, "application/json");
  req.body() = "{\"prompt\":\"benchmark chair " + std::to_string(n) +
               "\",\"allow_duplicate\":true}";
  req.prepare_payload();
  http::write(stream, req);
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  http::read(stream, buffer, res);
  const std::string& body = res.body();
  const size_t at = body.find("\"task_uuid\":\"");
  if (res.result() != http::status::ok || at == std::string::npos) {
    std::fprintf(stderr, "create failed: %d %s\n", res.result_int(),
                 body.c_str());
    std::exit(1);
  }
  return body.substr(at + 13, 36);
}

struct Stats {
  std::vector<double> connect_ms;
  std::vector<double> finalized_at_ms;
  long frames = 0;
  int errors = 0;
  int finalized = 0;
};

class Watcher : public std::enable_shared_from_this<Watcher> {
 public:
  Watcher(asio::io_context& ioc, Stats* stats, std::string host,
          std::string port, std::string target, Clock::time_point t0)
      : resolver_(ioc),
        ws_(ioc),
        stats_(stats),
        host_(std::move(host)),
        port_(std::move(port)),
        target_(std::move(target)),
        t0_(t0) {}

  void Start() {
    start_ = Clock::now();
    resolver_.async_resolve(
        host_, port_,
        [self = shared_from_this()](beast::error_code ec,
                                    tcp::resolver::results_type r) {
          if (ec) return self->Fail();
          beast::get_lowest_layer(self->ws_).async_connect(
              r, [self](beast::error_code ec, const tcp::endpoint&) {
                if (ec) return self->Fail();
                self->ws_.async_handshake(
                    self->host_, self->target_, [self](beast::error_code ec) {
                      if (ec) return self->Fail();
                      self->stats_->connect_ms.push_back(
                          std::chrono::duration<double, std::milli>(
                              Clock::now() - self->start_)
                              .count());
                      self->Read();
                    });
              });
        });
  }

 private:
  void Read() {
    ws_.async_read(buffer_, [self = shared_from_this()](beast::error_code ec,
                                                        std::size_t) {
      if (ec) {
        if (!self->done_) self->Fail();
        return;
      }
      ++self->stats_->frames;
      const std::string text = beast::buffers_to_string(self->buffer_.data());
      self->buffer_.consume(self->buffer_.size());
      if (text.rfind("event: finalized", 0) == 0 && !self->done_) {
        self->done_ = true;
        ++self->stats_->finalized;
        self->stats_->finalized_at_ms.push_back(
            std::chrono::duration<double, std::milli>(Clock::now() - self->t0_)
                .count());
      }
      self->Read();
    });
  }
  void Fail() { ++stats_->errors; }

  tcp::resolver resolver_;
  websocket::stream<beast::tcp_stream> ws_;
  beast::flat_buffer buffer_;
  Stats* stats_;
  std::string host_, port_, target_;
  Clock::time_point t0_, start_;
  bool done_ = false;
};

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 6) {
    std::fprintf(stderr, "usage: %s HOST PORT API_KEY WATCHERS TASKS\n",
                 argv[0]);
    return 2;
  }
  const std::string host = argv[1], port = argv[2], key = argv[3];
  const int watchers = std::atoi(argv[4]);
  const int tasks = std::max(1, std::atoi(argv[5]));
  asio::io_context ioc;
  std::vector<std::string> uuids;
  for (int i = 0; i < tasks; ++i) {
    uuids.push_back(CreateTask(ioc, host, port, key, i));
  }
  Stats stats;
  const Clock::time_point t0 = Clock::now();
  for (int i = 0; i < watchers; ++i) {
    const std::string target =
        "/api/v1/tasks/watch/" + uuids[i % tasks] + "?token=" + key;
    std::make_shared<Watcher>(ioc, &stats, host, port, target, t0)->Start();
  }
  ioc.run();
  const double elapsed =
      std::chrono::duration<double>(Clock::now() - t0).count();
  std::printf(
      "{\"watchers\":%d,\"tasks\":%d,\"connected\":%zu,\"errors\":%d,"
      "\"finalized\":%d,\"frames\":%ld,\"elapsed_s\":%.3f,"
      "\"frames_per_s\":%.0f,\"connect_ms_p50\":%.2f,\"connect_ms_p99\":%.2f,"
      "\"connect_ms_max\":%.2f}\n",
      watchers, tasks, stats.connect_ms.size(), stats.errors, stats.finalized,
      stats.frames, elapsed, stats.frames / elapsed,
      Percentile(stats.connect_ms, 0.5), Percentile(stats.connect_ms, 0.99),
      Percentile(stats.connect_ms, 1.0));
  return stats.finalized == watchers ? 0 : 1;
}
