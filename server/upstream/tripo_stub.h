// RestTripoStub: the Tripo V2 adapter behind the ProviderStub interface
// (api.tripo3d.ai/v2/openapi; upstream-apis.md §2 and §5.2).
//
// Routes: CreateTask → POST /task; GetTask → GET /task/{id}; UploadFile
// (images) → POST /upload (multipart) whose image_token is the file key;
// GetBalance → GET /user/balance; GetDownloadUrl and DownloadAsset → a
// fresh GET /task/{id} every time (Tripo's URLs expire after five minutes:
// never cached), then the model URL (pbr_model, model, base_model) fetched
// without the key; WatchAll → the WebSocket /task/watch/all[/{since}] with
// the key in the Authorization header of the upgrade (Tripo answers 426
// without it). QuotePrice, ListOwnModels, GetUser and model uploads (STS to
// S3) answer UNIMPLEMENTED. Errors go through errors::AsTripoStatus with
// Tripo's code table; every error names the X-Tripo-Trace-ID of its
// response, which Tripo asks its clients to report.
#ifndef TRIVERSE_SERVER_UPSTREAM_TRIPO_STUB_H_
#define TRIVERSE_SERVER_UPSTREAM_TRIPO_STUB_H_

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

// RestTripoStub is the ProviderStub for Tripo V2.
//
// Thread-safety: thread-safe. `engine` must outlive it, and it must outlive
// every request it started.
class RestTripoStub : public ProviderStub {
 public:
  using Options = RestTransport::Options;

  RestTripoStub(http::CurlEngine* engine, Options options);

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
  // ReadTask starts GET /task/{id} for `operation`.
  uint64_t ReadTask(absl::string_view operation, absl::string_view task_id,
                    const CallOptions& options, Callback<v1::Task> done);
  // MapError: a Tripo error response as a status (errors::AsTripoStatus).
  absl::Status MapError(absl::string_view operation,
                        const http::HttpResponse& response,
                        bool caller_key) const;

  RestTransport transport_;
};

}  // namespace triverse::upstream

#endif  // TRIVERSE_SERVER_UPSTREAM_TRIPO_STUB_H_
