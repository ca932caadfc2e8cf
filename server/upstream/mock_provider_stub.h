// MockProviderStub is a gMock ProviderStub for testing the layers above the
// Stub (decorators, Connection, WatchHub) without any network.
// Thread-safety: as gMock mocks (expectations set before concurrent use).
#ifndef TRIVERSE_SERVER_UPSTREAM_MOCK_PROVIDER_STUB_H_
#define TRIVERSE_SERVER_UPSTREAM_MOCK_PROVIDER_STUB_H_

#include <cstdint>
#include <string>

#include "gmock/gmock.h"
#include "server/upstream/provider_stub.h"
#include "server/upstream/triverse_stub.h"

namespace triverse::upstream {

class MockProviderStub : public ProviderStub {
 public:
  // Triverse's capabilities unless a test sets others before use.
  ProviderCapabilities caps = CapabilitiesOf(ProviderKind::kTriverse);
  const ProviderCapabilities& capabilities() const override { return caps; }
  // Triverse's routes.
  std::string EndpointTemplate(
      StubOperation operation,
      const v1::CreateTaskRequest* request = nullptr) const override {
    return TriverseEndpointTemplate(operation, request);
  }

  MOCK_METHOD(uint64_t, CreateTask,
              (const v1::CreateTaskRequest& request,
               absl::string_view client_order_id, CallOptions options,
               Callback<v1::TaskCreation> done),
              (override));
  MOCK_METHOD(uint64_t, GetTask,
              (absl::string_view task_uuid,
               absl::string_view read_after_write_header, CallOptions options,
               Callback<v1::Task> done),
              (override));
  MOCK_METHOD(uint64_t, QuotePrice,
              (const v1::QuotePriceRequest& request, CallOptions options,
               Callback<v1::PriceQuote> done),
              (override));
  MOCK_METHOD(uint64_t, GetDownloadUrl,
              (absl::string_view task_uuid, CallOptions options,
               Callback<v1::DownloadUrl> done),
              (override));
  MOCK_METHOD(uint64_t, ListOwnModels,
              (int64_t page, int64_t size, CallOptions options,
               Callback<translate::OwnModelsPage> done),
              (override));
  MOCK_METHOD(uint64_t, GetUser, (CallOptions options, Callback<v1::User> done),
              (override));
  MOCK_METHOD(uint64_t, WatchAll,
              (std::optional<absl::Time> since, CallOptions options,
               WatchHandler handler,
               absl::AnyInvocable<void(absl::Status)> done),
              (override));
  MOCK_METHOD(uint64_t, GetBalance,
              (CallOptions options, Callback<v1::Balance> done), (override));
  MOCK_METHOD(uint64_t, UploadFile,
              (UploadSpec file, CallOptions options,
               Callback<std::string> done),
              (override));
  MOCK_METHOD(uint64_t, DownloadAsset,
              (absl::string_view task_uuid, CallOptions options,
               DownloadSink sink, absl::AnyInvocable<void(absl::Status)> done),
              (override));
  MOCK_METHOD(void, Cancel, (uint64_t id), (override));
};

}  // namespace triverse::upstream

#endif  // TRIVERSE_SERVER_UPSTREAM_MOCK_PROVIDER_STUB_H_
