// Hostile clients against the assembled gateway (real gRPC, real libcurl,
// the in-process emulator, loopback only): an oversized message, a huge or
// lying upload, thousands of watch streams from one client, thousands of
// streams cancelled as fast as they open. Each must get a clear error (or
// its cancellation) and cost the other clients nothing; afterwards the
// gateway is back to idle.
//
// Two clients with different addresses: the gateway serves 127.0.0.1 and
// [::1] (GatewayOptions::extra_listen); client A connects over IPv4, client
// B over IPv6, so the per-client-address watch limit tells them apart.
// Without an IPv6 loopback B shares A's address and the test that needs
// two addresses skips that part.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "emulator/assets.h"
#include "gmock/gmock.h"
#include "google/rpc/error_details.pb.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "rapidjson/document.h"
#include "server/config/config.h"
#include "server/gateway/command_line.h"
#include "server/gateway/gateway.h"
#include "tests/emulator/testing_util/http_client.h"
#include "tests/emulator/testing_util/test_emulator.h"
#include "tests/server/testing_util/emulator_faults.h"
#include "tests/server/testing_util/log_capture.h"
#include "tests/server/testing_util/rpc_details.h"
#include "tests/server/testing_util/watch_reactor.h"
#include "triverse/v1/task_service.grpc.pb.h"

namespace triverse::gateway {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;
using testing_util::FindDetail;
using testing_util::Reason;
using testing_util::Stat;
using testing_util::TestEmulator;
using testing_util::ViolatedFields;
using testing_util::WatchReactor;

constexpr absl::Duration kWait = absl::Seconds(60);

// Upload limits small enough that exceeding them takes milliseconds.
constexpr int64_t kImageLimit = int64_t{256} << 10;
constexpr int64_t kModelLimit = int64_t{512} << 10;
constexpr size_t kChunkBytes = size_t{16} << 10;

// EmulatorStat reads GET /_emulator/stats → <group>.<name>; a name the
// group does not list (a route never requested) is 0.
int64_t EmulatorStat(const TestEmulator& emu, const char* group,
                     const char* name) {
  auto r = testing_util::HttpGet(emu.Url("/_emulator/stats"));
  rapidjson::Document doc;
  doc.Parse(r.body.c_str());
  if (doc.HasParseError() || !doc.IsObject() || !doc.HasMember(group) ||
      !doc[group].IsObject()) {
    ADD_FAILURE() << "bad stats: " << r.body;
    return -1;
  }
  if (!doc[group].HasMember(name)) return 0;
  if (!doc[group][name].IsInt64()) {
    ADD_FAILURE() << "bad stats: " << r.body;
    return -1;
  }
  return doc[group][name].GetInt64();
}

// Ipv6LoopbackWorks: a socket can be bound to [::1].
bool Ipv6LoopbackWorks() {
  const int fd = socket(AF_INET6, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in6 addr{};
  addr.sin6_family = AF_INET6;
  addr.sin6_addr = in6addr_loopback;
  addr.sin6_port = 0;
  const bool ok =
      bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  close(fd);
  return ok;
}

// WaitUntil polls a counter (there is no event to wait on: a server learns
// of a cancellation after its client did) until `pred` holds.
template <typename Pred>
bool WaitUntil(Pred pred) {
  const absl::Time give_up = absl::Now() + kWait;
  while (!pred()) {
    if (absl::Now() > give_up) return false;
    absl::SleepFor(absl::Milliseconds(5));  // polling a counter, not timing
  }
  return true;
}

v1::WatchTaskRequest WatchOne(const std::string& uuid) {
  v1::WatchTaskRequest req;
  req.set_task_uuid(uuid);
  return req;
}

v1::UploadFileRequest ImageMetadata(const std::string& name,
                                    std::optional<int64_t> size) {
  v1::UploadFileRequest meta;
  meta.mutable_metadata()->set_kind(v1::FILE_KIND_IMAGE);
  meta.mutable_metadata()->set_file_name(name);
  meta.mutable_metadata()->set_content_type("image/png");
  if (size) meta.mutable_metadata()->set_size_bytes(*size);
  return meta;
}

// HostileUpload is the result of an upload that keeps writing until the
// gateway stops it.
struct HostileUpload {
  int64_t chunk_bytes_written = 0;  // chunk bytes whose Write succeeded
  bool writes_failed = false;       // a Write returned false
  grpc::Status status;
};

// UploadUntilStopped sends `meta`, then chunks of kChunkBytes until a Write
// fails or `attempt` bytes went out, then reads the status.
HostileUpload UploadUntilStopped(v1::TaskService::Stub* stub,
                                 const v1::UploadFileRequest& meta,
                                 int64_t attempt) {
  HostileUpload out;
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + kWait));
  v1::UploadFileResponse response;
  auto writer = stub->UploadFile(&ctx, &response);
  if (writer->Write(meta)) {
    v1::UploadFileRequest chunk;
    chunk.set_chunk(std::string(kChunkBytes, 'x'));
    while (out.chunk_bytes_written < attempt) {
      if (!writer->Write(chunk)) {
        out.writes_failed = true;
        break;
      }
      out.chunk_bytes_written += static_cast<int64_t>(kChunkBytes);
    }
    if (!out.writes_failed) writer->WritesDone();
  } else {
    out.writes_failed = true;
  }
  out.status = writer->Finish();
  return out;
}

// UploadPng uploads a small valid PNG and returns the status.
grpc::Status UploadPng(v1::TaskService::Stub* stub, std::string* file_key) {
  const std::string png = emulator::MakePng(3, 32, 32);
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + kWait));
  v1::UploadFileResponse response;
  auto writer = stub->UploadFile(&ctx, &response);
  bool ok = writer->Write(
      ImageMetadata("fine.png", static_cast<int64_t>(png.size())));
  v1::UploadFileRequest chunk;
  chunk.set_chunk(png);
  ok = ok && writer->Write(chunk);
  if (ok) writer->WritesDone();
  grpc::Status s = writer->Finish();
  *file_key = response.file_key();
  return s;
}

class HostileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    emulator::EmulatorOptions options = TestEmulator::DefaultOptions();
    for (auto& key : options.engine.keys) key.credits = 1000000;
    emu_ = std::make_unique<TestEmulator>(std::move(options));
    ASSERT_TRUE(emu_->start_status().ok()) << emu_->start_status();
    // The gateway asks for `since` by its own clock.
    emu_->clock().Set(absl::Now());
    config_.listen = "127.0.0.1:0";
    ipv6_ = Ipv6LoopbackWorks();
    if (ipv6_) gateway_options_.extra_listen = "[::1]:0";
    config_.upstream_url = emu_->Api("");
    config_.api_key = testing_util::kKeyA;
    config_.retry.initial_backoff = absl::Milliseconds(1);
    config_.retry.max_backoff = absl::Milliseconds(20);
    config_.watch.reconnect_backoff = absl::Milliseconds(20);
    config_.watch.poll_interval = absl::Milliseconds(20);
    config_.watch.grace = absl::Milliseconds(50);
    gateway_options_.max_image_bytes = kImageLimit;
    gateway_options_.max_model_bytes = kModelLimit;
  }

  // Whatever the gateway logged never holds the key (the upstream socket's
  // URL carries it as ?token=).
  void TearDown() override {
    gateway_.reset();
    EXPECT_THAT(logs_.text(), Not(HasSubstr(testing_util::kKeyA)));
  }

  void StartGateway() {
    auto g = Gateway::Start(config_, gateway_options_);
    ASSERT_TRUE(g.ok()) << g.status();
    gateway_ = *std::move(g);
    a_ = v1::TaskService::NewStub(
        grpc::CreateChannel(absl::StrCat("127.0.0.1:", gateway_->port()),
                            grpc::InsecureChannelCredentials()));
    b_ = v1::TaskService::NewStub(grpc::CreateChannel(
        ipv6_ ? absl::StrCat("[::1]:", gateway_->extra_port())
              : absl::StrCat("127.0.0.1:", gateway_->port()),
        grpc::InsecureChannelCredentials()));
  }

  static std::unique_ptr<grpc::ClientContext> Context() {
    auto c = std::make_unique<grpc::ClientContext>();
    c->set_deadline(absl::ToChronoTime(absl::Now() + kWait));
    return c;
  }

  std::string Create(v1::TaskService::Stub* stub, const std::string& prompt) {
    v1::CreateTaskRequest req;
    req.mutable_text_to_model()->set_prompt(prompt);
    v1::TaskCreation created;
    auto ctx = Context();
    grpc::Status s = stub->CreateTask(ctx.get(), req, &created);
    EXPECT_TRUE(s.ok()) << s.error_message();
    // Past the emulator's read-after-write window (1 s on its fake clock):
    // the gateway forgets the window by the real clock, and a test that
    // runs long (sanitizers, thousands of streams) must not then see the
    // task answer NOT_FOUND.
    emu_->AdvanceBy(absl::Seconds(2));
    return created.task_uuid();
  }

  grpc::Status Account(v1::TaskService::Stub* stub) {
    v1::Account account;
    auto ctx = Context();
    return stub->GetAccount(ctx.get(), v1::GetAccountRequest(), &account);
  }

  // RunTasksToEnd advances the emulator's clock until no task waits or
  // runs.
  void RunTasksToEnd() {
    for (int i = 0; i < 2000; ++i) {
      emu_->AdvanceBy(absl::Seconds(1));
      if (EmulatorStat(*emu_, "tasks", "PENDING") +
              EmulatorStat(*emu_, "tasks", "QUEUED") +
              EmulatorStat(*emu_, "tasks", "RUNNING") ==
          0) {
        return;
      }
    }
    ADD_FAILURE() << "the emulator's tasks never ended";
  }

  // ExpectFinalized: the stream ended OK with one FINALIZED event, last,
  // with `status`.
  static void ExpectFinalized(WatchReactor& w, v1::TaskStatus status,
                              const std::string& where) {
    ASSERT_TRUE(w.WaitDone(kWait)) << where;
    EXPECT_TRUE(w.status().ok()) << where << ": " << w.status().error_message();
    const std::vector<v1::TaskEvent> events = w.events();
    ASSERT_FALSE(events.empty()) << where;
    int finalized = 0;
    for (const v1::TaskEvent& e : events) {
      if (e.kind() == v1::TASK_EVENT_KIND_FINALIZED) ++finalized;
    }
    EXPECT_EQ(finalized, 1) << where;
    EXPECT_EQ(events.back().kind(), v1::TASK_EVENT_KIND_FINALIZED) << where;
    EXPECT_EQ(events.back().task().status(), status) << where;
  }

  testing_util::LogCapture logs_;  // first: outlives the gateway
  std::unique_ptr<TestEmulator> emu_;
  config::Config config_;
  GatewayOptions gateway_options_;
  std::unique_ptr<Gateway> gateway_;
  std::unique_ptr<v1::TaskService::Stub> a_;  // client A: 127.0.0.1
  std::unique_ptr<v1::TaskService::Stub> b_;  // client B: ::1
  bool ipv6_ = false;                         // ::1 is usable
};

// --- 1. Oversized messages ------------------------------------------------

TEST(HostileConfigTest, MaxReceiveMessageSizeIsASetting) {
  config::ConfigInputs in;
  in.env["TRIVERSE_API_KEY"] = "env-key";
  auto c = config::LoadConfig(in);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->limits.max_receive_message_bytes, int64_t{16} << 20);

  in.env["TRIVERSE_MAX_RECEIVE_MESSAGE_SIZE"] = "4Mi";
  c = config::LoadConfig(in);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->limits.max_receive_message_bytes, int64_t{4} << 20);

  in.flags["max-receive-message-size"] = "1048576";  // flag beats env
  c = config::LoadConfig(in);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->limits.max_receive_message_bytes, int64_t{1} << 20);

  for (const char* bad : {"512Ki", "2Gi", "lots", "-1"}) {
    in.flags["max-receive-message-size"] = bad;
    c = config::LoadConfig(in);
    ASSERT_FALSE(c.ok()) << bad;
    EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(c.status().message(), HasSubstr("--max-receive-message-size"));
  }
  auto flags = ParseCommandLine({"--max-receive-message-size=8Mi"});
  ASSERT_TRUE(flags.ok()) << flags.status();
  EXPECT_EQ(flags->flags.at("max-receive-message-size"), "8Mi");
  EXPECT_THAT(Usage(), HasSubstr("--max-receive-message-size"));
}

TEST_F(HostileTest, OversizedMessageIsResourceExhaustedAndCostsNothingElse) {
  config_.limits.max_receive_message_bytes = int64_t{1} << 20;
  StartGateway();
  // A watch open on the same connection as the hostile calls.
  const std::string uuid = Create(a_.get(), "a bystander vase");
  WatchReactor bystander(a_.get(), WatchOne(uuid), kWait);
  ASSERT_TRUE(bystander.WaitEvents(1, kWait));
  const int64_t created = Stat(*emu_, "tasks_created");
  const int64_t create_requests =
      EmulatorStat(*emu_, "http_requests", "create_task");

  // A unary request of 2 MiB.
  v1::CreateTaskRequest big;
  big.mutable_text_to_model()->set_prompt(std::string(size_t{2} << 20, 'p'));
  v1::TaskCreation ignored;
  auto ctx = Context();
  grpc::Status s = a_->CreateTask(ctx.get(), big, &ignored);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << s.error_message();
  EXPECT_THAT(s.error_message(), HasSubstr("larger than max"));

  // An UploadFile message (one chunk) of 2 MiB: gRPC refuses it before
  // the service sees it.
  {
    grpc::ClientContext up;
    up.set_deadline(absl::ToChronoTime(absl::Now() + kWait));
    v1::UploadFileResponse response;
    auto writer = a_->UploadFile(&up, &response);
    v1::UploadFileRequest meta;
    meta.mutable_metadata()->set_kind(v1::FILE_KIND_MODEL);
    meta.mutable_metadata()->set_file_name("big.obj");
    writer->Write(meta);
    v1::UploadFileRequest chunk;
    chunk.set_chunk(std::string(size_t{2} << 20, 'v'));
    if (writer->Write(chunk)) writer->WritesDone();
    grpc::Status us = writer->Finish();
    EXPECT_EQ(us.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
        << us.error_message();
  }

  // Nothing reached the upstream; the connection, the watch on it and
  // other clients work as before.
  EXPECT_EQ(Stat(*emu_, "tasks_created"), created);
  EXPECT_EQ(Stat(*emu_, "uploads"), 0);
  EXPECT_EQ(EmulatorStat(*emu_, "http_requests", "create_task"),
            create_requests);
  EXPECT_EQ(EmulatorStat(*emu_, "http_requests", "upload_model"), 0);
  EXPECT_FALSE(bystander.done());
  EXPECT_TRUE(Account(a_.get()).ok());
  EXPECT_TRUE(Account(b_.get()).ok());
  const std::string second = Create(a_.get(), "a vase just under the limit");
  EXPECT_FALSE(second.empty());
  RunTasksToEnd();
  ExpectFinalized(bystander, v1::TASK_STATUS_SUCCESS, "bystander");
}

// --- 2. Huge uploads -------------------------------------------------------

TEST_F(HostileTest, HugeUploadIsCutOffWhileStreamingAndOthersStillUpload) {
  StartGateway();
  // Client A tries to push 128 MiB at a 256 KiB limit while client B
  // uploads a valid file.
  constexpr int64_t kAttempt = int64_t{128} << 20;
  HostileUpload hostile;
  std::thread hostile_thread([&] {
    hostile = UploadUntilStopped(
        a_.get(), ImageMetadata("huge.png", std::nullopt), kAttempt);
  });
  std::string file_key;
  grpc::Status fine = UploadPng(b_.get(), &file_key);
  hostile_thread.join();
  EXPECT_TRUE(fine.ok()) << fine.error_message();
  EXPECT_THAT(file_key, HasSubstr(".png"));

  // The call ended as the limit was crossed: the client's writes failed
  // long before it had sent everything (what it still wrote after the
  // limit is HTTP/2 flow-control window, never read by the gateway).
  EXPECT_TRUE(hostile.writes_failed);
  EXPECT_GT(hostile.chunk_bytes_written, kImageLimit);
  EXPECT_LT(hostile.chunk_bytes_written, kAttempt / 8)
      << "the gateway read the upload past its limit";
  const grpc::Status& s = hostile.status;
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
      << s.error_message();
  EXPECT_THAT(s.error_message(), HasSubstr(absl::StrCat(kImageLimit)));
  EXPECT_THAT(ViolatedFields(s), Contains("chunk"));
  auto bad_request = FindDetail<google::rpc::BadRequest>(s);
  ASSERT_TRUE(bad_request.has_value());
  EXPECT_THAT(bad_request->field_violations(0).description(),
              HasSubstr(absl::StrCat("limit of ", kImageLimit, " bytes")));
  EXPECT_TRUE(FindDetail<google::rpc::ErrorInfo>(s).has_value());
  std::cout << "hostile upload: " << hostile.chunk_bytes_written
            << " chunk bytes written before the writes failed (limit "
            << kImageLimit << ")\n";

  // Only the valid upload reached the upstream.
  EXPECT_EQ(Stat(*emu_, "uploads"), 1);
  EXPECT_EQ(EmulatorStat(*emu_, "http_requests", "upload_image"), 1);
}

TEST_F(HostileTest, UploadLongerThanAnnouncedIsCutOffAtTheAnnouncedSize) {
  StartGateway();
  constexpr int64_t kAnnounced = 32 << 10;
  constexpr int64_t kAttempt = int64_t{128} << 20;
  HostileUpload lying = UploadUntilStopped(
      a_.get(), ImageMetadata("liar.png", kAnnounced), kAttempt);
  EXPECT_TRUE(lying.writes_failed);
  EXPECT_LT(lying.chunk_bytes_written, kAttempt / 8);
  EXPECT_EQ(lying.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
      << lying.status.error_message();
  EXPECT_THAT(ViolatedFields(lying.status), Contains("metadata.size_bytes"));
  EXPECT_THAT(lying.status.error_message(),
              HasSubstr(absl::StrCat(kAnnounced)));

  // A model above the model limit (larger than the image one) too.
  v1::UploadFileRequest model;
  model.mutable_metadata()->set_kind(v1::FILE_KIND_MODEL);
  model.mutable_metadata()->set_file_name("huge.glb");
  HostileUpload huge_model = UploadUntilStopped(a_.get(), model, kAttempt);
  EXPECT_TRUE(huge_model.writes_failed);
  EXPECT_GT(huge_model.chunk_bytes_written, kModelLimit);
  EXPECT_LT(huge_model.chunk_bytes_written, kAttempt / 8);
  EXPECT_EQ(huge_model.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(huge_model.status.error_message(),
              HasSubstr(absl::StrCat(kModelLimit)));

  EXPECT_EQ(Stat(*emu_, "uploads"), 0);
  EXPECT_EQ(EmulatorStat(*emu_, "http_requests", "upload_image"), 0);
  EXPECT_EQ(EmulatorStat(*emu_, "http_requests", "upload_model"), 0);
  std::string file_key;
  grpc::Status fine = UploadPng(a_.get(), &file_key);
  EXPECT_TRUE(fine.ok()) << fine.error_message();
}

TEST_F(HostileTest, AnnouncedSizeAboveTheLimitIsRefusedBeforeAnyChunk) {
  StartGateway();
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + kWait));
  v1::UploadFileResponse response;
  auto writer = a_->UploadFile(&ctx, &response);
  ASSERT_TRUE(writer->Write(ImageMetadata("big.png", kImageLimit + 1)));
  // No chunk and no half-close: the status arrives on the metadata alone.
  grpc::Status s = writer->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
      << s.error_message();
  EXPECT_THAT(ViolatedFields(s), Contains("metadata.size_bytes"));
  auto bad_request = FindDetail<google::rpc::BadRequest>(s);
  ASSERT_TRUE(bad_request.has_value());
  EXPECT_THAT(bad_request->DebugString(), HasSubstr(absl::StrCat(kImageLimit)));
  EXPECT_EQ(Stat(*emu_, "uploads"), 0);
  EXPECT_EQ(EmulatorStat(*emu_, "http_requests", "upload_image"), 0);
}

// --- 2b. The gateway-wide upload buffer -------------------------------------

// OpenUpload is an UploadFile call the test drives chunk by chunk.
class OpenUpload {
 public:
  OpenUpload(v1::TaskService::Stub* stub, const v1::UploadFileRequest& meta) {
    ctx_.set_deadline(absl::ToChronoTime(absl::Now() + kWait));
    writer_ = stub->UploadFile(&ctx_, &response_);
    ok_ = writer_->Write(meta);
  }

  // Send writes `bytes` (a multiple of kChunkBytes) as chunks; false when a
  // Write failed (the gateway ended the call).
  bool Send(int64_t bytes) {
    v1::UploadFileRequest chunk;
    chunk.set_chunk(std::string(kChunkBytes, 'u'));
    for (int64_t sent = 0; ok_ && sent < bytes;
         sent += static_cast<int64_t>(kChunkBytes)) {
      ok_ = writer_->Write(chunk);
    }
    return ok_;
  }

  grpc::Status Finish() {
    if (ok_) writer_->WritesDone();
    return writer_->Finish();
  }

  void Cancel() { ctx_.TryCancel(); }

  const v1::UploadFileResponse& response() const { return response_; }

 private:
  grpc::ClientContext ctx_;
  v1::UploadFileResponse response_;
  std::unique_ptr<grpc::ClientWriter<v1::UploadFileRequest>> writer_;
  bool ok_ = false;
};

v1::UploadFileRequest ModelMetadata(const std::string& name, int64_t size) {
  v1::UploadFileRequest meta;
  meta.mutable_metadata()->set_kind(v1::FILE_KIND_MODEL);
  meta.mutable_metadata()->set_file_name(name);
  meta.mutable_metadata()->set_size_bytes(size);
  return meta;
}

// The budget equals the model limit: one whole model fits, a model and
// an image of 256 KiB together do not.
constexpr int64_t kUploadBuffer = kModelLimit;

TEST_F(HostileTest, UploadBufferFullRefusesOnlyTheUploadThatCrossesIt) {
  config_.limits.max_upload_buffer_bytes = kUploadBuffer;
  StartGateway();
  // Client A has 384 KiB of a model buffered in the gateway...
  constexpr int64_t kModel = int64_t{384} << 10;
  OpenUpload model(a_.get(), ModelMetadata("held.obj", kModel));
  ASSERT_TRUE(model.Send(kModel));
  ASSERT_TRUE(WaitUntil([&] {
    return gateway_->UploadBufferBytes() == kModel;
  })) << gateway_->UploadBufferBytes();

  // ...when client B sends a 256 KiB image: its first 128 KiB fit, the
  // chunk after them does not.
  HostileUpload image = UploadUntilStopped(
      b_.get(), ImageMetadata("late.png", kImageLimit), kImageLimit);
  const grpc::Status& s = image.status;
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << s.error_message();
  EXPECT_THAT(s.error_message(), HasSubstr("max-upload-buffer"));
  EXPECT_THAT(s.error_message(), HasSubstr(absl::StrCat(kUploadBuffer)));
  EXPECT_EQ(Reason(s), "UPLOAD_BUFFER_EXHAUSTED");
  auto quota = FindDetail<google::rpc::QuotaFailure>(s);
  ASSERT_TRUE(quota.has_value());
  ASSERT_EQ(quota->violations_size(), 1);
  EXPECT_EQ(quota->violations(0).subject(), "gateway");
  EXPECT_THAT(quota->violations(0).description(),
              HasSubstr(absl::StrCat(kUploadBuffer, " (max-upload-buffer)")));
  auto retry = FindDetail<google::rpc::RetryInfo>(s);
  ASSERT_TRUE(retry.has_value());
  EXPECT_GT(retry->retry_delay().seconds() * 1000000000 +
                retry->retry_delay().nanos(),
            0);
  EXPECT_LE(retry->retry_delay().seconds(), 5);
  // B's bytes went back before its status arrived; A's are still held.
  EXPECT_EQ(gateway_->UploadBufferBytes(), kModel);

  // A finishes as if nothing happened, and gives its bytes back.
  grpc::Status ms = model.Finish();
  EXPECT_TRUE(ms.ok()) << ms.error_message();
  EXPECT_THAT(model.response().file_key(), HasSubstr(".obj"));
  EXPECT_EQ(gateway_->UploadBufferBytes(), 0);

  // Only A's upload reached the upstream.
  EXPECT_EQ(Stat(*emu_, "uploads"), 1);
  EXPECT_EQ(EmulatorStat(*emu_, "http_requests", "upload_model"), 1);
  EXPECT_EQ(EmulatorStat(*emu_, "http_requests", "upload_image"), 0);

  // With room again, B's retry goes through.
  std::string file_key;
  grpc::Status again = UploadPng(b_.get(), &file_key);
  EXPECT_TRUE(again.ok()) << again.error_message();
  EXPECT_EQ(gateway_->UploadBufferBytes(), 0);
}

TEST_F(HostileTest, UploadBufferIsGivenBackHoweverAnUploadEnds) {
  config_.limits.max_upload_buffer_bytes = kUploadBuffer;
  StartGateway();
  constexpr int64_t kPart = int64_t{64} << 10;

  // Cancelled by its client halfway.
  {
    OpenUpload cancelled(a_.get(), ModelMetadata("gone.obj", 2 * kPart));
    ASSERT_TRUE(cancelled.Send(kPart));
    ASSERT_TRUE(WaitUntil([&] {
      return gateway_->UploadBufferBytes() == kPart;
    })) << gateway_->UploadBufferBytes();
    cancelled.Cancel();
    EXPECT_EQ(cancelled.Finish().error_code(), grpc::StatusCode::CANCELLED);
    // The gateway learns of the cancellation after its client did.
    EXPECT_TRUE(WaitUntil([&] { return gateway_->UploadBufferBytes() == 0; }))
        << gateway_->UploadBufferBytes();
  }

  // Failed: shorter than announced (found at the end of the stream)...
  {
    OpenUpload short_file(a_.get(), ModelMetadata("short.obj", 2 * kPart));
    ASSERT_TRUE(short_file.Send(kPart));
    grpc::Status s = short_file.Finish();
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << s.error_message();
    EXPECT_EQ(gateway_->UploadBufferBytes(), 0);
  }
  // ...and longer than the limit (found while streaming).
  HostileUpload huge = UploadUntilStopped(
      a_.get(), ImageMetadata("huge.png", std::nullopt), 4 * kImageLimit);
  EXPECT_EQ(huge.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
      << huge.status.error_message();
  EXPECT_EQ(gateway_->UploadBufferBytes(), 0);

  // Refused by the upstream (its content audit rejects the name).
  {
    OpenUpload refused(a_.get(), ModelMetadata("forbidden.obj", kPart));
    ASSERT_TRUE(refused.Send(kPart));
    grpc::Status s = refused.Finish();
    EXPECT_FALSE(s.ok());
    EXPECT_EQ(EmulatorStat(*emu_, "http_requests", "upload_model"), 1);
    EXPECT_EQ(gateway_->UploadBufferBytes(), 0);
  }

  // Succeeded.
  std::string file_key;
  grpc::Status fine = UploadPng(a_.get(), &file_key);
  EXPECT_TRUE(fine.ok()) << fine.error_message();
  EXPECT_EQ(gateway_->UploadBufferBytes(), 0);

  // Cut off by the gateway's shutdown while streaming.
  OpenUpload interrupted(b_.get(), ModelMetadata("late.obj", 2 * kPart));
  ASSERT_TRUE(interrupted.Send(kPart));
  ASSERT_TRUE(WaitUntil([&] { return gateway_->UploadBufferBytes() == kPart; }))
      << gateway_->UploadBufferBytes();
  gateway_->Shutdown(absl::ZeroDuration());
  EXPECT_FALSE(interrupted.Finish().ok());
  EXPECT_EQ(gateway_->UploadBufferBytes(), 0);
  EXPECT_EQ(Stat(*emu_, "uploads"), 1);
}

TEST_F(HostileTest, UploadBufferSmallerThanTheLargestUploadIsRefusedAtStart) {
  config_.limits.max_upload_buffer_bytes = kModelLimit - 1;
  auto g = Gateway::Start(config_, gateway_options_);
  ASSERT_FALSE(g.ok());
  EXPECT_EQ(g.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(g.status().message(), HasSubstr("max-upload-buffer"));
}

TEST(HostileConfigTest, MaxUploadBufferIsASetting) {
  config::ConfigInputs in;
  in.env["TRIVERSE_API_KEY"] = "env-key";
  auto c = config::LoadConfig(in);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->limits.max_upload_buffer_bytes, int64_t{1} << 30);

  in.env["TRIVERSE_MAX_UPLOAD_BUFFER"] = "512Mi";
  c = config::LoadConfig(in);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->limits.max_upload_buffer_bytes, int64_t{512} << 20);

  in.flags["max-upload-buffer"] = "200000000";  // flag beats env; the least
  c = config::LoadConfig(in);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->limits.max_upload_buffer_bytes, 200000000);

  in.flags["max-upload-buffer"] = "1024Gi";  // the most
  c = config::LoadConfig(in);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->limits.max_upload_buffer_bytes, int64_t{1} << 40);

  for (const char* bad :
       {"199999999", "190Mi", "1025Gi", "0", "lots", "-1", "1Ti"}) {
    in.flags["max-upload-buffer"] = bad;
    c = config::LoadConfig(in);
    ASSERT_FALSE(c.ok()) << bad;
    EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(c.status().message(), HasSubstr("--max-upload-buffer"));
  }
  in.flags.erase("max-upload-buffer");
  in.env["TRIVERSE_MAX_UPLOAD_BUFFER"] = "1Mi";
  c = config::LoadConfig(in);
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.status().message(), HasSubstr("TRIVERSE_MAX_UPLOAD_BUFFER"));

  auto flags = ParseCommandLine({"--max-upload-buffer=2Gi"});
  ASSERT_TRUE(flags.ok()) << flags.status();
  EXPECT_EQ(flags->flags.at("max-upload-buffer"), "2Gi");
  EXPECT_THAT(Usage(), HasSubstr("--max-upload-buffer"));
}

// --- 3. Thousands of watch streams from one client -------------------------

TEST_F(HostileTest, ThousandsOfWatchesFromOneClientAreCappedOthersUnharmed) {
  constexpr int kLimit = 100;
  constexpr int kFlood = 3000;
  config_.watch.max_per_client = kLimit;
  StartGateway();
  ASSERT_TRUE(Account(b_.get()).ok());
  const std::string uuid = Create(a_.get(), "a flooded lamp");

  std::vector<std::unique_ptr<WatchReactor>> flood;
  flood.reserve(kFlood);
  for (int i = 0; i < kFlood; ++i) {
    flood.push_back(
        std::make_unique<WatchReactor>(a_.get(), WatchOne(uuid), kWait));
  }
  int admitted = 0;
  int refused = 0;
  for (auto& w : flood) {
    if (w->WaitEvents(1, kWait)) {
      ++admitted;
      continue;
    }
    ASSERT_TRUE(w->done());
    const grpc::Status s = w->status();
    ASSERT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
        << s.error_message();
    ++refused;
    if (refused > 1) continue;  // the details of one suffice
    EXPECT_EQ(Reason(s), "WATCH_LIMIT_EXCEEDED");
    EXPECT_THAT(s.error_message(), HasSubstr("max-watches-per-client"));
    EXPECT_THAT(s.error_message(), HasSubstr(absl::StrCat(kLimit)));
    auto quota = FindDetail<google::rpc::QuotaFailure>(s);
    ASSERT_TRUE(quota.has_value());
    ASSERT_EQ(quota->violations_size(), 1);
    EXPECT_THAT(quota->violations(0).subject(), HasSubstr("127.0.0.1"));
    EXPECT_THAT(quota->violations(0).description(),
                HasSubstr("max-watches-per-client"));
  }
  EXPECT_EQ(admitted, kLimit);
  EXPECT_EQ(refused, kFlood - kLimit);
  EXPECT_EQ(gateway_->OpenWatches(), kLimit);

  if (!ipv6_) {
    GTEST_SKIP() << "no IPv6 loopback: no second client address";
  }
  // Client B (another address) watches its own task and A's to the end
  // and makes unary calls; A's unary calls are not limited either.
  const std::string other = Create(b_.get(), "an unflooded lamp");
  WatchReactor b_own(b_.get(), WatchOne(other), kWait);
  WatchReactor b_flooded(b_.get(), WatchOne(uuid), kWait);
  ASSERT_TRUE(b_own.WaitEvents(1, kWait)) << b_own.status().error_message();
  ASSERT_TRUE(b_flooded.WaitEvents(1, kWait))
      << b_flooded.status().error_message();
  EXPECT_TRUE(Account(b_.get()).ok());
  EXPECT_TRUE(Account(a_.get()).ok());
  // A is still at its limit.
  WatchReactor one_more(a_.get(), WatchOne(uuid), kWait);
  ASSERT_TRUE(one_more.WaitDone(kWait));
  EXPECT_EQ(one_more.status().error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);

  RunTasksToEnd();
  ExpectFinalized(b_own, v1::TASK_STATUS_SUCCESS, "B, own task");
  ExpectFinalized(b_flooded, v1::TASK_STATUS_SUCCESS, "B, A's task");
  int finalized = 0;
  for (auto& w : flood) {
    if (!w->events().empty()) {
      ExpectFinalized(*w, v1::TASK_STATUS_SUCCESS, "an admitted A stream");
      ++finalized;
    }
  }
  EXPECT_EQ(finalized, kLimit);
  EXPECT_TRUE(WaitUntil([&] { return gateway_->OpenWatches() == 0; }));
}

// --- 4. Rapid cancellation ---------------------------------------------------

TEST_F(HostileTest, RapidCancellationLeavesTheGatewayIdle) {
  constexpr int kStreams = 2400;
  constexpr int kBatch = 400;
  StartGateway();
  std::vector<std::string> uuids;
  for (int i = 0; i < 3; ++i) {
    uuids.push_back(Create(a_.get(), absl::StrCat("a fleeting chair ", i)));
  }

  int cancelled_after_event = 0;
  for (int start = 0; start < kStreams; start += kBatch) {
    std::vector<std::unique_ptr<WatchReactor>> batch;
    for (int i = start; i < start + kBatch; ++i) {
      const std::string& uuid = uuids[static_cast<size_t>(i) % uuids.size()];
      switch (i % 4) {
        case 0:  // cancelled before the first event
          batch.push_back(
              std::make_unique<WatchReactor>(a_.get(), WatchOne(uuid), kWait));
          batch.back()->TryCancel();
          break;
        case 1:  // cancelled at its first event (the snapshot)
        case 2:
          batch.push_back(std::make_unique<WatchReactor>(
              a_.get(), WatchOne(uuid), kWait,
              WatchReactor::Cancel::kAtFirstEvent));
          break;
        default: {  // an all-task watch, cancelled at once
          v1::WatchTasksRequest all;
          batch.push_back(std::make_unique<WatchReactor>(a_.get(), all, kWait));
          batch.back()->TryCancel();
        }
      }
    }
    for (auto& w : batch) {
      ASSERT_TRUE(w->WaitDone(kWait));
      const grpc::Status s = w->status();
      EXPECT_EQ(s.error_code(), grpc::StatusCode::CANCELLED)
          << s.error_message();
      if (!w->events().empty()) ++cancelled_after_event;
    }
  }
  // Every kAtFirstEvent stream saw its snapshot.
  EXPECT_GE(cancelled_after_event, kStreams / 2);

  // Idle again: no open stream, no hub subscriber, and (after the grace
  // period) no upstream socket.
  EXPECT_TRUE(WaitUntil([&] { return gateway_->OpenWatches() == 0; }))
      << gateway_->OpenWatches() << " watch streams still open";
  EXPECT_TRUE(WaitUntil([&] {
    return gateway_->WatchStats().subscribers == 0;
  })) << gateway_->WatchStats().subscribers
      << " subscribers left";
  EXPECT_TRUE(
      WaitUntil([&] { return gateway_->WatchStats().sockets_open == 0; }));
  EXPECT_TRUE(
      WaitUntil([&] { return EmulatorStat(*emu_, "websocket", "open") == 0; }));
  EXPECT_GE(gateway_->WatchStats().sockets_opened_total, 1);

  // A normal watcher afterwards gets every event to the end, over a new
  // upstream socket.
  const int64_t opened = gateway_->WatchStats().sockets_opened_total;
  WatchReactor normal(a_.get(), WatchOne(uuids[0]), kWait);
  ASSERT_TRUE(normal.WaitEvents(1, kWait)) << normal.status().error_message();
  EXPECT_EQ(normal.events().front().kind(), v1::TASK_EVENT_KIND_SNAPSHOT);
  EXPECT_TRUE(
      WaitUntil([&] { return EmulatorStat(*emu_, "websocket", "open") == 1; }));
  RunTasksToEnd();
  ExpectFinalized(normal, v1::TASK_STATUS_SUCCESS, "normal watcher");
  EXPECT_EQ(gateway_->WatchStats().sockets_opened_total, opened + 1);
  EXPECT_TRUE(WaitUntil([&] { return gateway_->OpenWatches() == 0; }));
  EXPECT_TRUE(Account(a_.get()).ok());
}

}  // namespace
}  // namespace triverse::gateway
