#include "server/upstream/siray_stub.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/errors/provider_status.h"
#include "server/errors/upstream_status.h"
#include "server/translate/request_json.h"
#include "server/translate/siray_json.h"

namespace triverse::upstream {
namespace {

constexpr ProviderKind kSiray = ProviderKind::kSiray;
constexpr char kDownloadOp[] = "DownloadAsset";
constexpr char kGenerations[] = "/v1/3d/generations";
// Siray's outputs are redirect URLs; a few hops at most.
constexpr int kMaxRedirects = 5;

}  // namespace

absl::StatusOr<std::string> SirayOutputUrl(const v1::Task& task) {
  if (task.output().textured_model_url_size() == 0) {
    return absl::NotFoundError(
        absl::StrCat("task ", task.task_uuid(), " finished without outputs"));
  }
  return task.output().textured_model_url(0);
}

RestSirayStub::RestSirayStub(http::CurlEngine* engine, Options options)
    : transport_(engine, std::move(options)) {}

const ProviderCapabilities& RestSirayStub::capabilities() const {
  return CapabilitiesOf(kSiray);
}

std::string RestSirayStub::EndpointTemplate(
    StubOperation operation, const v1::CreateTaskRequest* /*request*/) const {
  switch (operation) {
    case StubOperation::kCreateTask:
      return "POST /v1/3d/generations";
    case StubOperation::kGetTask:
    case StubOperation::kGetDownloadUrl:
      return "GET /v1/3d/generations/{id}";
    case StubOperation::kDownloadAsset:
      return "GET {output url}";
    default:
      break;
  }
  return "";
}

absl::Status RestSirayStub::MapError(absl::string_view operation,
                                     const http::HttpResponse& response,
                                     bool caller_key) const {
  const translate::SirayError body =
      translate::ParseSirayErrorBody(response.body);
  errors::UpstreamError e;
  e.operation = std::string(operation);
  e.provider = "siray";
  e.http_status = response.status;
  e.caller_key = caller_key;
  e.message = body.message.empty() ? absl::StrCat("HTTP ", response.status)
                                   : body.message;
  e.code_text = body.code.empty() ? body.type : body.code;
  e.retry_after =
      ParseRetryAfter(response.Header("retry-after"), transport_.Now());
  return errors::AsSirayStatus(e);
}

template <typename T, typename Parse>
uint64_t RestSirayStub::Call(absl::string_view operation, StubOperation route,
                             http::HttpRequest request,
                             const CallOptions& options, Parse parse,
                             Callback<T> done) {
  auto map_error = [this](absl::string_view op,
                          const http::HttpResponse& response, bool caller_key) {
    return MapError(op, response, caller_key);
  };
  return transport_.Call<T>(
      operation, EndpointTemplate(route), std::move(request), options,
      map_error,
      [map_error](absl::string_view op, const http::HttpResponse& response,
                  bool caller_key) -> absl::StatusOr<std::string> {
        absl::StatusOr<translate::SirayEnvelope> env =
            translate::ParseSirayEnvelope(response.body);
        if (!env.ok()) return Prefixed(op, env.status());
        // A 2xx whose string code is not "success": an upstream refusal.
        if (env->code != "success") return map_error(op, response, caller_key);
        return std::move(env->data_json);
      },
      std::move(parse), std::move(done));
}

uint64_t RestSirayStub::CreateTask(const v1::CreateTaskRequest& request,
                                   absl::string_view /*client_order_id*/,
                                   CallOptions options,
                                   Callback<v1::TaskCreation> done) {
  // Siray takes no idempotency key: the connection keeps the order id.
  absl::StatusOr<std::string> body =
      translate::BuildSirayCreateTaskBody(request);
  if (!body.ok()) {
    done(std::move(body).status());
    return 0;
  }
  http::HttpRequest http;
  http.method = "POST";
  http.url = absl::StrCat(transport_.base_url(), kGenerations);
  http.headers.emplace_back("Content-Type", "application/json");
  http.body = *std::move(body);
  return Call<v1::TaskCreation>(
      "CreateTask", StubOperation::kCreateTask, std::move(http), options,
      [flow = translate::FlowName(request)](
          absl::string_view data) -> absl::StatusOr<v1::TaskCreation> {
        absl::StatusOr<std::string> id = translate::ParseSirayTaskId(data);
        if (!id.ok()) return id.status();
        v1::TaskCreation creation;
        creation.set_task_uuid(*std::move(id));
        creation.set_flow_name(flow);
        // Siray's first status, NOT_START, maps to PENDING.
        creation.set_status(v1::TASK_STATUS_PENDING);
        return creation;
      },
      std::move(done));
}

uint64_t RestSirayStub::ReadTask(absl::string_view operation,
                                 absl::string_view task_id,
                                 const CallOptions& options,
                                 Callback<v1::Task> done) {
  if (!IsValidTaskId(kSiray, task_id)) {
    done(errors::InvalidArgument(
        {{"task_uuid",
          "must be a Siray task id: 1-128 characters of "
          "[A-Za-z0-9_-]"}}));
    return 0;
  }
  http::HttpRequest http;
  http.url = absl::StrCat(transport_.base_url(), kGenerations, "/", task_id);
  return Call<v1::Task>(operation, StubOperation::kGetTask, std::move(http),
                        options, &translate::ParseSirayTask, std::move(done));
}

uint64_t RestSirayStub::GetTask(absl::string_view task_id,
                                absl::string_view /*read_after_write_header*/,
                                CallOptions options, Callback<v1::Task> done) {
  return ReadTask("GetTask", task_id, options, std::move(done));
}

uint64_t RestSirayStub::QuotePrice(const v1::QuotePriceRequest& /*request*/,
                                   CallOptions /*options*/,
                                   Callback<v1::PriceQuote> done) {
  done(NotOffered(kSiray, "QuotePrice", "price quotes"));
  return 0;
}

uint64_t RestSirayStub::GetDownloadUrl(absl::string_view task_id,
                                       CallOptions options,
                                       Callback<v1::DownloadUrl> done) {
  return ReadTask("GetDownloadUrl", task_id, options,
                  DownloadUrlOf(&SirayOutputUrl, std::move(done)));
}

uint64_t RestSirayStub::ListOwnModels(int64_t /*page*/, int64_t /*size*/,
                                      CallOptions /*options*/,
                                      Callback<translate::OwnModelsPage> done) {
  done(NotOffered(kSiray, "ListOwnModels", "a model list"));
  return 0;
}

uint64_t RestSirayStub::GetUser(CallOptions /*options*/,
                                Callback<v1::User> done) {
  done(NotOffered(kSiray, "GetUser", "a user profile"));
  return 0;
}

uint64_t RestSirayStub::GetBalance(CallOptions /*options*/,
                                   Callback<v1::Balance> done) {
  done(NotOffered(kSiray, "GetBalance", "a balance endpoint"));
  return 0;
}

uint64_t RestSirayStub::UploadFile(UploadSpec /*file*/, CallOptions /*options*/,
                                   Callback<std::string> done) {
  done(NotOffered(kSiray, "UploadFile",
                  "uploads (pass an http(s) or data: URL as image_file)"));
  return 0;
}

uint64_t RestSirayStub::DownloadAsset(
    absl::string_view task_id, CallOptions options, DownloadSink sink,
    absl::AnyInvocable<void(absl::Status)> done) {
  return transport_.DownloadAfter(
      kDownloadOp, EndpointTemplate(StubOperation::kDownloadAsset),
      [this, id = std::string(task_id),
       options](RestTransport::UrlCallback found) {
        return ReadTask(
            kDownloadOp, id, options,
            AssetUrlOf(kDownloadOp, &SirayOutputUrl, std::move(found)));
      },
      options, kMaxRedirects,
      [this](absl::string_view op, const http::HttpResponse& response,
             bool caller_key) { return MapError(op, response, caller_key); },
      std::move(sink), std::move(done));
}

uint64_t RestSirayStub::WatchAll(std::optional<absl::Time> /*since*/,
                                 CallOptions /*options*/,
                                 WatchHandler /*handler*/,
                                 absl::AnyInvocable<void(absl::Status)> done) {
  done(NotOffered(kSiray, "WatchAll", "a push channel"));
  return 0;
}

void RestSirayStub::Cancel(uint64_t id) { transport_.Cancel(id); }

}  // namespace triverse::upstream
