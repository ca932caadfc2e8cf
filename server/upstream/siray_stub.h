// RestSirayStub: the Siray adapter behind the ProviderStub interface
// (api.siray.ai; upstream-apis.md §3).
//
// Routes: CreateTask → POST /v1/3d/generations; GetTask → GET
// /v1/3d/generations/{id}; GetDownloadUrl and DownloadAsset → a fresh GET
// of the task, then its first output, a Siray redirect URL whose redirects
// are followed (the key goes to Siray's own origin only). Siray has no push
// channel (capabilities().push_watch is false: watches poll), no upload,
// price quote, model list, user or balance endpoint: those answer
// UNIMPLEMENTED. Errors go through errors::AsSirayStatus: the OpenAI-style
// error body, or an envelope whose string code is not "success".
#ifndef TRIVERSE_SERVER_UPSTREAM_SIRAY_STUB_H_
#define TRIVERSE_SERVER_UPSTREAM_SIRAY_STUB_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/http/curl_engine.h"
#include "server/upstream/provider_stub.h"
#include "server/upstream/rest_transport.h"

namespace triverse::upstream {

// RestSirayStub is the ProviderStub for Siray's 3D generations.
//
// Thread-safety: thread-safe. `engine` must outlive it, and it must outlive
// every request it started.
class RestSirayStub : public ProviderStub {
 public:
  using Options = RestTransport::Options;

  RestSirayStub(http::CurlEngine* engine, Options options);

  const ProviderCapabilities& capabilities() const override;
  std::string EndpointTemplate(
      StubOperation operation,
      const v1::CreateTaskRequest* request = nullptr) const override;

  uint64_t CreateTask(const v1::CreateTaskRequest& request,
                      absl::string_view client_order_id, CallOptions options,
                      Callback<v1::TaskCreation> done) override;
  uint64_t GetTask(absl::string_view task_id,
                   absl::string_view read_after_write_header,
                   CallOptions options, Callback<v1::Task> done) override;
  uint64_t QuotePrice(const v1::QuotePriceRequest& request, CallOptions options,
                      Callback<v1::PriceQuote> done) override;
  uint64_t GetDownloadUrl(absl::string_view task_id, CallOptions options,
                          Callback<v1::DownloadUrl> done) override;
  uint64_t ListOwnModels(int64_t page, int64_t size, CallOptions options,
                         Callback<translate::OwnModelsPage> done) override;
  uint64_t GetUser(CallOptions options, Callback<v1::User> done) override;
  uint64_t GetBalance(CallOptions options, Callback<v1::Balance> done) override;
  uint64_t UploadFile(UploadSpec file, CallOptions options,
                      Callback<std::string> done) override;
  uint64_t DownloadAsset(absl::string_view task_id, CallOptions options,
                         DownloadSink sink,
                         absl::AnyInvocable<void(absl::Status)> done) override;
  uint64_t WatchAll(std::optional<absl::Time> since, CallOptions options,
                    WatchHandler handler,
                    absl::AnyInvocable<void(absl::Status)> done) override;
  void Cancel(uint64_t id) override;

 private:
  template <typename T, typename Parse>
  uint64_t Call(absl::string_view operation, StubOperation route,
                http::HttpRequest request, const CallOptions& options,
                Parse parse, Callback<T> done);
  // ReadTask starts GET /v1/3d/generations/{id} for `operation`.
  uint64_t ReadTask(absl::string_view operation, absl::string_view task_id,
                    const CallOptions& options, Callback<v1::Task> done);
  // MapError: a Siray error response as a status (errors::AsSirayStatus).
  absl::Status MapError(absl::string_view operation,
                        const http::HttpResponse& response,
                        bool caller_key) const;

  RestTransport transport_;
};

// SirayOutputUrl is the first output URL of a finished Siray task;
// NOT_FOUND when it has none.
absl::StatusOr<std::string> SirayOutputUrl(const v1::Task& task);

}  // namespace triverse::upstream

#endif  // TRIVERSE_SERVER_UPSTREAM_SIRAY_STUB_H_
