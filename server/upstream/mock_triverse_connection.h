// MockTriverseConnection is a gMock TriverseConnection for testing the
// service layer without any upstream.
// Thread-safety: as gMock mocks (expectations set before concurrent use).
#ifndef TRIVERSE_SERVER_UPSTREAM_MOCK_TRIVERSE_CONNECTION_H_
#define TRIVERSE_SERVER_UPSTREAM_MOCK_TRIVERSE_CONNECTION_H_

#include <cstdint>
#include <string>

#include "gmock/gmock.h"
#include "server/upstream/triverse_connection.h"

namespace triverse::upstream {

class MockTriverseConnection : public TriverseConnection {
 public:
  MOCK_METHOD(uint64_t, CreateTask,
              (const v1::CreateTaskRequest& request, CallContext context,
               Callback<v1::TaskCreation> done),
              (override));
  MOCK_METHOD(uint64_t, GetTask,
              (absl::string_view task_uuid, CallContext context,
               Callback<v1::Task> done),
              (override));
  MOCK_METHOD(uint64_t, QuotePrice,
              (const v1::QuotePriceRequest& request, CallContext context,
               Callback<v1::PriceQuote> done),
              (override));
  MOCK_METHOD(uint64_t, GetDownloadUrl,
              (absl::string_view task_uuid, CallContext context,
               Callback<v1::DownloadUrl> done),
              (override));
  MOCK_METHOD(uint64_t, ListOwnModels,
              (int64_t page, int64_t size, CallContext context,
               Callback<translate::OwnModelsPage> done),
              (override));
  MOCK_METHOD(uint64_t, GetUser, (CallContext context, Callback<v1::User> done),
              (override));
  MOCK_METHOD(uint64_t, GetBalance,
              (CallContext context, Callback<v1::Balance> done), (override));
  MOCK_METHOD(uint64_t, UploadFile,
              (UploadSpec file, CallContext context,
               Callback<std::string> done),
              (override));
  MOCK_METHOD(uint64_t, DownloadAsset,
              (absl::string_view task_uuid, CallContext context,
               DownloadSink sink, absl::AnyInvocable<void(absl::Status)> done),
              (override));
  MOCK_METHOD(void, Cancel, (uint64_t id), (override));
};

}  // namespace triverse::upstream

#endif  // TRIVERSE_SERVER_UPSTREAM_MOCK_TRIVERSE_CONNECTION_H_
