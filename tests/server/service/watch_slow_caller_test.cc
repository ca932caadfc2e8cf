// A WatchTasks caller that reads more slowly than tasks change: its stream
// ends with UNAVAILABLE and the cursor to resume from, and the hub that
// feeds it is never held up. The upstream socket is a mocked stub whose
// frames the test injects.
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "google/rpc/error_details.pb.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "server/service/task_service.h"
#include "server/upstream/fake_scheduler.h"
#include "server/upstream/mock_provider_stub.h"
#include "server/upstream/mock_triverse_connection.h"
#include "server/upstream/watch_hub.h"
#include "tests/server/testing_util/rpc_details.h"
#include "triverse/v1/task_service.grpc.pb.h"

namespace triverse::service {
namespace {

using ::testing::_;
using ::testing::NiceMock;

TEST(WatchTasksSlowCaller, EndsWithUnavailableAndTheCursorToResumeFrom) {
  auto stub = std::make_shared<NiceMock<upstream::MockProviderStub>>();
  auto connection =
      std::make_shared<NiceMock<upstream::MockTriverseConnection>>();
  upstream::FakeScheduler scheduler;
  upstream::WatchHandler socket;
  absl::Notification subscribed;
  EXPECT_CALL(*stub, WatchAll(_, _, _, _))
      .WillOnce([&](std::optional<absl::Time>, upstream::CallOptions,
                    upstream::WatchHandler handler,
                    absl::AnyInvocable<void(absl::Status)>) {
        socket = std::move(handler);
        socket.on_open();
        subscribed.Notify();  // The hub opens its socket for a subscriber.
        return uint64_t{1};
      });
  auto hubs = std::make_shared<upstream::WatchHubs>(
      stub, connection, &scheduler, upstream::WatchHubOptions{});
  ServiceOptions options;
  options.api_key = "gateway-key";
  options.watch.max_pending_tasks = 4;
  TaskServiceImpl service(connection, options, hubs);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                           &port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);
  auto client = v1::TaskService::NewStub(grpc::CreateChannel(
      absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));

  // The caller opens the stream and reads its first event only after many
  // tasks changed: more than HTTP/2 flow control lets through unread.
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
  std::unique_ptr<grpc::ClientReader<v1::TaskEvent>> reader =
      client->WatchTasks(&context, v1::WatchTasksRequest());
  ASSERT_TRUE(subscribed.WaitForNotificationWithTimeout(absl::Seconds(60)));
  const std::string padding(16 << 10, 'x');
  for (int i = 0; i < 2000; ++i) {
    translate::WatchFrame frame;
    frame.task.set_task_uuid(absl::StrCat("task-", i));
    frame.task.set_status(v1::TASK_STATUS_RUNNING);
    frame.task.set_progress(10);
    frame.task.mutable_error()->set_message(padding);
    socket.on_frame(std::move(frame));  // returns at once: nobody waits
  }

  std::vector<v1::TaskEvent> events;
  v1::TaskEvent event;
  while (reader->Read(&event)) events.push_back(event);
  const grpc::Status status = reader->Finish();
  ASSERT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE)
      << status.error_message();
  EXPECT_LT(events.size(), 2000u);
  ASSERT_FALSE(events.empty());
  const auto info = testing_util::FindDetail<google::rpc::ErrorInfo>(status);
  ASSERT_TRUE(info.has_value());
  EXPECT_EQ(info->reason(), "CALLER_TOO_SLOW");
  EXPECT_EQ(info->metadata().at("cursor"), events.back().cursor());
  EXPECT_TRUE(testing_util::HasDetail<google::rpc::RetryInfo>(status));
  server->Shutdown();
}

}  // namespace
}  // namespace triverse::service
