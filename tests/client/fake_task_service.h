// FakeTaskService: a scripted, recording triverse.v1.TaskService for the
// client tests, served by a real in-process grpc::Server on 127.0.0.1:0.
// Each test scripts the replies it needs and inspects what the service
// received (requests, metadata, deadlines).
#ifndef TRIVERSE_TESTS_CLIENT_FAKE_TASK_SERVICE_H_
#define TRIVERSE_TESTS_CLIENT_FAKE_TASK_SERVICE_H_

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <grpcpp/server_context.h>

#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "google/protobuf/duration.pb.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "triverse/v1/task_service.grpc.pb.h"

namespace triverse::client::testing_util {

// CallRecord is what the fake saw of one call.
struct CallRecord {
  std::string method;
  // The client's metadata (lower-case keys).
  std::multimap<std::string, std::string> metadata;
  // Whether the call had a deadline, and how far ahead it was on arrival.
  bool has_deadline = false;
  absl::Duration deadline_left = absl::InfiniteDuration();

  std::optional<std::string> Metadata(const std::string& key) const {
    auto it = metadata.find(key);
    if (it == metadata.end()) return std::nullopt;
    return it->second;
  }
};

// Reply is one scripted unary answer.
template <typename T>
struct Reply {
  grpc::Status status;
  T response;
};

template <typename T>
Reply<T> Ok(T response) {
  return {grpc::Status::OK, std::move(response)};
}

template <typename T>
Reply<T> Error(grpc::Status status) {
  return {std::move(status), T()};
}

// RichError builds a gateway-style error: a google.rpc.Status with an
// ErrorInfo (domain triverse.ai) and the extra details given.
inline grpc::Status RichError(
    grpc::StatusCode code, const std::string& message,
    const std::string& reason,
    const std::map<std::string, std::string>& metadata = {},
    const std::vector<const google::protobuf::Message*>& extra = {}) {
  google::rpc::Status rpc;
  rpc.set_code(static_cast<int>(code));
  rpc.set_message(message);
  google::rpc::ErrorInfo info;
  info.set_reason(reason);
  info.set_domain("triverse.ai");
  for (const auto& [k, v] : metadata) (*info.mutable_metadata())[k] = v;
  rpc.add_details()->PackFrom(info);
  for (const google::protobuf::Message* m : extra) {
    rpc.add_details()->PackFrom(*m);
  }
  return grpc::Status(code, message, rpc.SerializeAsString());
}

// WatchScript is one scripted WatchTask / WatchTasks call: `events` are
// written in order, then the call ends with `status`, or, with hold_open,
// stays open (as a live watch does) until the client cancels it.
struct WatchScript {
  std::vector<v1::TaskEvent> events;
  grpc::Status status;
  bool hold_open = false;
};

// UnavailableWithCursor is the gateway's end of a slow watch: UNAVAILABLE
// with the cursor to resume from in its ErrorInfo metadata.
inline grpc::Status UnavailableWithCursor(const std::string& cursor) {
  return RichError(grpc::StatusCode::UNAVAILABLE,
                   "WatchTask: the stream fell behind", "WATCH_TOO_SLOW",
                   {{"cursor", cursor}});
}

class FakeTaskService final : public v1::TaskService::Service {
 public:
  // Scripts. Unary queues answer in order; the last reply of a queue
  // repeats (so a polled GetTask can stay on its final state). An empty
  // queue answers UNIMPLEMENTED.
  void AddCreateTask(Reply<v1::TaskCreation> r) {
    absl::MutexLock lock(&mu_);
    create_.push_back(std::move(r));
  }
  void AddGetTask(Reply<v1::Task> r) {
    absl::MutexLock lock(&mu_);
    get_.push_back(std::move(r));
  }
  void AddQuotePrice(Reply<v1::PriceQuote> r) {
    absl::MutexLock lock(&mu_);
    quote_.push_back(std::move(r));
  }
  void AddGetDownloadUrl(Reply<v1::DownloadUrl> r) {
    absl::MutexLock lock(&mu_);
    url_.push_back(std::move(r));
  }
  void AddListOwnModels(Reply<v1::ListOwnModelsResponse> r) {
    absl::MutexLock lock(&mu_);
    models_.push_back(std::move(r));
  }
  void AddGetAccount(Reply<v1::Account> r) {
    absl::MutexLock lock(&mu_);
    account_.push_back(std::move(r));
  }
  // DownloadAsset writes `messages`, then ends with `status`.
  void SetDownload(std::vector<v1::DownloadAssetResponse> messages,
                   grpc::Status status = grpc::Status::OK) {
    absl::MutexLock lock(&mu_);
    download_messages_ = std::move(messages);
    download_status_ = std::move(status);
  }
  // UploadFile reads the whole stream, then answers `reply`; with
  // refuse_after_metadata it answers right after the first message.
  void SetUpload(Reply<v1::UploadFileResponse> reply,
                 bool refuse_after_metadata = false) {
    absl::MutexLock lock(&mu_);
    upload_reply_ = std::move(reply);
    refuse_after_metadata_ = refuse_after_metadata;
  }

  // Watch scripts: one per call, in order; the last repeats; none:
  // UNIMPLEMENTED (a gateway without watches).
  void AddWatchTask(WatchScript script) {
    absl::MutexLock lock(&mu_);
    watch_task_.push_back(std::move(script));
  }
  void AddWatchTasks(WatchScript script) {
    absl::MutexLock lock(&mu_);
    watch_tasks_.push_back(std::move(script));
  }

  // Records.
  std::vector<v1::WatchTaskRequest> WatchTaskRequests() const {
    absl::MutexLock lock(&mu_);
    return watch_task_requests_;
  }
  std::vector<v1::WatchTasksRequest> WatchTasksRequests() const {
    absl::MutexLock lock(&mu_);
    return watch_tasks_requests_;
  }
  std::vector<CallRecord> Calls() const {
    absl::MutexLock lock(&mu_);
    return calls_;
  }
  int CallCount(const std::string& method) const {
    absl::MutexLock lock(&mu_);
    int n = 0;
    for (const CallRecord& c : calls_) n += c.method == method ? 1 : 0;
    return n;
  }
  std::vector<v1::CreateTaskRequest> CreateRequests() const {
    absl::MutexLock lock(&mu_);
    return create_requests_;
  }
  std::vector<v1::QuotePriceRequest> QuoteRequests() const {
    absl::MutexLock lock(&mu_);
    return quote_requests_;
  }
  std::vector<std::string> GetTaskIds() const {
    absl::MutexLock lock(&mu_);
    return get_ids_;
  }
  std::vector<v1::ListOwnModelsRequest> ListRequests() const {
    absl::MutexLock lock(&mu_);
    return list_requests_;
  }
  std::vector<v1::UploadFileRequest> UploadReceived() const {
    absl::MutexLock lock(&mu_);
    return upload_received_;
  }
  std::vector<std::string> DownloadIds() const {
    absl::MutexLock lock(&mu_);
    return download_ids_;
  }

  grpc::Status CreateTask(grpc::ServerContext* context,
                          const v1::CreateTaskRequest* request,
                          v1::TaskCreation* response) override {
    absl::MutexLock lock(&mu_);
    Record(context, "CreateTask");
    create_requests_.push_back(*request);
    return Answer(create_, response);
  }
  grpc::Status GetTask(grpc::ServerContext* context,
                       const v1::GetTaskRequest* request,
                       v1::Task* response) override {
    absl::MutexLock lock(&mu_);
    Record(context, "GetTask");
    get_ids_.push_back(request->task_uuid());
    return Answer(get_, response);
  }
  grpc::Status QuotePrice(grpc::ServerContext* context,
                          const v1::QuotePriceRequest* request,
                          v1::PriceQuote* response) override {
    absl::MutexLock lock(&mu_);
    Record(context, "QuotePrice");
    quote_requests_.push_back(*request);
    return Answer(quote_, response);
  }
  grpc::Status GetDownloadUrl(grpc::ServerContext* context,
                              const v1::GetDownloadUrlRequest* request,
                              v1::DownloadUrl* response) override {
    absl::MutexLock lock(&mu_);
    Record(context, "GetDownloadUrl");
    get_ids_.push_back(request->task_uuid());
    return Answer(url_, response);
  }
  grpc::Status ListOwnModels(grpc::ServerContext* context,
                             const v1::ListOwnModelsRequest* request,
                             v1::ListOwnModelsResponse* response) override {
    absl::MutexLock lock(&mu_);
    Record(context, "ListOwnModels");
    list_requests_.push_back(*request);
    return Answer(models_, response);
  }
  grpc::Status GetAccount(grpc::ServerContext* context,
                          const v1::GetAccountRequest* request,
                          v1::Account* response) override {
    absl::MutexLock lock(&mu_);
    Record(context, "GetAccount");
    return Answer(account_, response);
  }
  grpc::Status DownloadAsset(
      grpc::ServerContext* context, const v1::DownloadAssetRequest* request,
      grpc::ServerWriter<v1::DownloadAssetResponse>* writer) override {
    std::vector<v1::DownloadAssetResponse> messages;
    grpc::Status status;
    {
      absl::MutexLock lock(&mu_);
      Record(context, "DownloadAsset");
      download_ids_.push_back(request->task_uuid());
      messages = download_messages_;
      status = download_status_;
    }
    for (const v1::DownloadAssetResponse& m : messages) {
      if (!writer->Write(m)) break;
    }
    return status;
  }
  grpc::Status UploadFile(grpc::ServerContext* context,
                          grpc::ServerReader<v1::UploadFileRequest>* reader,
                          v1::UploadFileResponse* response) override {
    bool refuse;
    {
      absl::MutexLock lock(&mu_);
      Record(context, "UploadFile");
      refuse = refuse_after_metadata_;
    }
    v1::UploadFileRequest message;
    while (reader->Read(&message)) {
      absl::MutexLock lock(&mu_);
      upload_received_.push_back(message);
      if (refuse) break;
    }
    absl::MutexLock lock(&mu_);
    *response = upload_reply_.response;
    return upload_reply_.status;
  }

  grpc::Status WatchTask(grpc::ServerContext* context,
                         const v1::WatchTaskRequest* request,
                         grpc::ServerWriter<v1::TaskEvent>* writer) override {
    std::optional<WatchScript> script;
    {
      absl::MutexLock lock(&mu_);
      Record(context, "WatchTask");
      watch_task_requests_.push_back(*request);
      script = Next(watch_task_);
    }
    return Play(context, script, writer);
  }
  grpc::Status WatchTasks(grpc::ServerContext* context,
                          const v1::WatchTasksRequest* request,
                          grpc::ServerWriter<v1::TaskEvent>* writer) override {
    std::optional<WatchScript> script;
    {
      absl::MutexLock lock(&mu_);
      Record(context, "WatchTasks");
      watch_tasks_requests_.push_back(*request);
      script = Next(watch_tasks_);
    }
    return Play(context, script, writer);
  }

 private:
  static std::optional<WatchScript> Next(std::deque<WatchScript>& queue) {
    if (queue.empty()) return std::nullopt;
    WatchScript script = queue.front();
    if (queue.size() > 1) queue.pop_front();
    return script;
  }

  // Play writes a script's events, then ends the call as it says. Runs
  // without the lock, so that the test can read records meanwhile.
  static grpc::Status Play(grpc::ServerContext* context,
                           const std::optional<WatchScript>& script,
                           grpc::ServerWriter<v1::TaskEvent>* writer) {
    if (!script.has_value()) {
      return grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "not scripted");
    }
    for (const v1::TaskEvent& event : script->events) {
      if (!writer->Write(event)) return grpc::Status::CANCELLED;
    }
    if (script->hold_open) {
      // The synchronous API has no cancellation callback: look every
      // millisecond (the client's cancel, or the server's shutdown, ends it).
      while (!context->IsCancelled()) absl::SleepFor(absl::Milliseconds(1));
      return grpc::Status::CANCELLED;
    }
    return script->status;
  }

  void Record(grpc::ServerContext* context, const std::string& method)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    CallRecord record;
    record.method = method;
    for (const auto& [k, v] : context->client_metadata()) {
      record.metadata.emplace(std::string(k.data(), k.size()),
                              std::string(v.data(), v.size()));
    }
    const auto deadline = context->deadline();
    record.has_deadline =
        deadline != std::chrono::system_clock::time_point::max();
    if (record.has_deadline) {
      record.deadline_left = absl::FromChrono(deadline) - absl::Now();
    }
    calls_.push_back(std::move(record));
  }

  template <typename T>
  grpc::Status Answer(std::deque<Reply<T>>& queue, T* response)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (queue.empty()) {
      return grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "not scripted");
    }
    Reply<T> reply = queue.front();
    if (queue.size() > 1) queue.pop_front();
    *response = reply.response;
    return reply.status;
  }

  mutable absl::Mutex mu_;
  std::deque<Reply<v1::TaskCreation>> create_ ABSL_GUARDED_BY(mu_);
  std::deque<Reply<v1::Task>> get_ ABSL_GUARDED_BY(mu_);
  std::deque<Reply<v1::PriceQuote>> quote_ ABSL_GUARDED_BY(mu_);
  std::deque<Reply<v1::DownloadUrl>> url_ ABSL_GUARDED_BY(mu_);
  std::deque<Reply<v1::ListOwnModelsResponse>> models_ ABSL_GUARDED_BY(mu_);
  std::deque<Reply<v1::Account>> account_ ABSL_GUARDED_BY(mu_);
  std::vector<v1::DownloadAssetResponse> download_messages_
      ABSL_GUARDED_BY(mu_);
  grpc::Status download_status_ ABSL_GUARDED_BY(mu_);
  Reply<v1::UploadFileResponse> upload_reply_ ABSL_GUARDED_BY(mu_);
  bool refuse_after_metadata_ ABSL_GUARDED_BY(mu_) = false;
  std::deque<WatchScript> watch_task_ ABSL_GUARDED_BY(mu_);
  std::deque<WatchScript> watch_tasks_ ABSL_GUARDED_BY(mu_);

  std::vector<CallRecord> calls_ ABSL_GUARDED_BY(mu_);
  std::vector<v1::CreateTaskRequest> create_requests_ ABSL_GUARDED_BY(mu_);
  std::vector<v1::QuotePriceRequest> quote_requests_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> get_ids_ ABSL_GUARDED_BY(mu_);
  std::vector<v1::ListOwnModelsRequest> list_requests_ ABSL_GUARDED_BY(mu_);
  std::vector<v1::UploadFileRequest> upload_received_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> download_ids_ ABSL_GUARDED_BY(mu_);
  std::vector<v1::WatchTaskRequest> watch_task_requests_ ABSL_GUARDED_BY(mu_);
  std::vector<v1::WatchTasksRequest> watch_tasks_requests_ ABSL_GUARDED_BY(mu_);
};

// FakeServer serves a FakeTaskService on 127.0.0.1 with a port the system
// picks.
class FakeServer {
 public:
  FakeServer() {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port_);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
  }
  ~FakeServer() {
    // Bounded, so that a stream a failed test left open cannot hang the
    // binary; a passing test never waits here.
    server_->Shutdown(std::chrono::system_clock::now() +
                      std::chrono::seconds(5));
  }

  bool ok() const { return server_ != nullptr && port_ > 0; }
  std::string target() const { return absl::StrCat("127.0.0.1:", port_); }
  std::shared_ptr<grpc::Channel> Channel() const {
    return grpc::CreateChannel(target(), grpc::InsecureChannelCredentials());
  }
  FakeTaskService& service() { return service_; }

 private:
  FakeTaskService service_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
};

}  // namespace triverse::client::testing_util

#endif  // TRIVERSE_TESTS_CLIENT_FAKE_TASK_SERVICE_H_
