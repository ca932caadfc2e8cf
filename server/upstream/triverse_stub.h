// RestTriverseStub: the Triverse adapter behind the ProviderStub interface
// (provider_stub.h), one asynchronous method per Triverse REST endpoint.
#ifndef TRIVERSE_SERVER_UPSTREAM_TRIVERSE_STUB_H_
#define TRIVERSE_SERVER_UPSTREAM_TRIVERSE_STUB_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/http/curl_engine.h"
#include "server/translate/upstream_json.h"
#include "server/upstream/provider_stub.h"
#include "server/upstream/rest_transport.h"
#include "triverse/v1/account.pb.h"
#include "triverse/v1/assets.pb.h"
#include "triverse/v1/task.pb.h"
#include "triverse/v1/task_service.pb.h"

namespace triverse::upstream {

// Endpoint templates: the route of each upstream request with every id
// replaced by a placeholder, for metrics labels (never a concrete id, a key
// or a query string).
inline constexpr absl::string_view kEndpointGetTask = "GET /tasks/{uuid}";
inline constexpr absl::string_view kEndpointQuotePrice =
    "POST /tasks/pricing/quote";
inline constexpr absl::string_view kEndpointGetDownloadUrl =
    "GET /tasks/url/{uuid}";
inline constexpr absl::string_view kEndpointListOwnModels =
    "GET /platform/generate/own-models";
inline constexpr absl::string_view kEndpointGetUser = "GET /users/me";
inline constexpr absl::string_view kEndpointGetBalance = "GET /users/balance";
inline constexpr absl::string_view kEndpointUploadImage = "POST /upload/image";
inline constexpr absl::string_view kEndpointUploadModel = "POST /upload/model";
inline constexpr absl::string_view kEndpointDownloadAsset =
    "GET /tasks/download/{uuid}";
inline constexpr absl::string_view kEndpointWatchAll = "GET /tasks/watch/all";

// CreateTaskEndpoint is "POST /tasks/<flow>" for the flow `request` selects
// (a name from our own table, e.g. "POST /tasks/text-to-model"), or
// "POST /tasks/{flow}" when none is selected.
std::string CreateTaskEndpoint(const v1::CreateTaskRequest& request);

// UploadEndpoint is kEndpointUploadImage or kEndpointUploadModel for
// `kind`, "POST /upload/{kind}" otherwise.
absl::string_view UploadEndpoint(v1::FileKind kind);

// TriverseEndpointTemplate is RestTriverseStub::EndpointTemplate.
std::string TriverseEndpointTemplate(StubOperation operation,
                                     const v1::CreateTaskRequest* request);

// RestTriverseStub is the ProviderStub over HTTP/1.1 REST via a CurlEngine.
//
// Thread-safety: immutable after construction; thread-safe. `engine` must
// outlive it, and it must outlive every request it started (callbacks use
// its options).
class RestTriverseStub : public ProviderStub {
 public:
  using Options = RestTransport::Options;

  RestTriverseStub(http::CurlEngine* engine, Options options);

  const ProviderCapabilities& capabilities() const override;
  std::string EndpointTemplate(
      StubOperation operation,
      const v1::CreateTaskRequest* request = nullptr) const override;

  uint64_t CreateTask(const v1::CreateTaskRequest& request,
                      absl::string_view client_order_id, CallOptions options,
                      Callback<v1::TaskCreation> done) override;
  uint64_t GetTask(absl::string_view task_uuid,
                   absl::string_view read_after_write_header,
                   CallOptions options, Callback<v1::Task> done) override;
  uint64_t QuotePrice(const v1::QuotePriceRequest& request, CallOptions options,
                      Callback<v1::PriceQuote> done) override;
  uint64_t GetDownloadUrl(absl::string_view task_uuid, CallOptions options,
                          Callback<v1::DownloadUrl> done) override;
  uint64_t ListOwnModels(int64_t page, int64_t size, CallOptions options,
                         Callback<translate::OwnModelsPage> done) override;
  uint64_t GetUser(CallOptions options, Callback<v1::User> done) override;
  uint64_t GetBalance(CallOptions options, Callback<v1::Balance> done) override;
  uint64_t UploadFile(UploadSpec file, CallOptions options,
                      Callback<std::string> done) override;
  uint64_t DownloadAsset(absl::string_view task_uuid, CallOptions options,
                         DownloadSink sink,
                         absl::AnyInvocable<void(absl::Status)> done) override;
  uint64_t WatchAll(std::optional<absl::Time> since, CallOptions options,
                    WatchHandler handler,
                    absl::AnyInvocable<void(absl::Status)> done) override;
  void Cancel(uint64_t id) override;

 private:
  template <typename T, typename Parse>
  uint64_t Call(absl::string_view operation, absl::string_view endpoint,
                http::HttpRequest request, CallOptions options, Parse parse,
                Callback<T> done);
  // MapError: an upstream error response as a status (errors::AsStatus).
  absl::Status MapError(absl::string_view operation,
                        const http::HttpResponse& response,
                        bool caller_key) const;

  RestTransport transport_;
};

// IsValidPathId tells whether `id` may be placed in a URL path segment:
// 1-64 characters of [0-9A-Za-z-].
bool IsValidPathId(absl::string_view id);

}  // namespace triverse::upstream

#endif  // TRIVERSE_SERVER_UPSTREAM_TRIVERSE_STUB_H_
