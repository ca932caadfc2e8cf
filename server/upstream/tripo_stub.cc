#include "server/upstream/tripo_stub.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "server/errors/provider_status.h"
#include "server/errors/upstream_status.h"
#include "server/translate/request_json.h"
#include "server/translate/tripo_json.h"

namespace triverse::upstream {
namespace {

constexpr ProviderKind kTripo = ProviderKind::kTripo;
constexpr char kDownloadOp[] = "DownloadAsset";

absl::Status BadTaskId() {
  return errors::InvalidArgument(
      {{"task_uuid", "must be a Tripo task id (a UUID)"}});
}

}  // namespace

RestTripoStub::RestTripoStub(http::CurlEngine* engine, Options options)
    : transport_(engine, std::move(options)) {}

const ProviderCapabilities& RestTripoStub::capabilities() const {
  return CapabilitiesOf(kTripo);
}

std::string RestTripoStub::EndpointTemplate(
    StubOperation operation, const v1::CreateTaskRequest* /*request*/) const {
  switch (operation) {
    case StubOperation::kCreateTask:
      return "POST /task";
    case StubOperation::kGetTask:
    case StubOperation::kGetDownloadUrl:
      return "GET /task/{id}";
    case StubOperation::kGetBalance:
      return "GET /user/balance";
    case StubOperation::kUploadImage:
    case StubOperation::kUploadModel:
      return "POST /upload";
    case StubOperation::kDownloadAsset:
      return "GET {model url}";
    case StubOperation::kWatchAll:
      return "GET /task/watch/all";
    case StubOperation::kQuotePrice:
    case StubOperation::kListOwnModels:
    case StubOperation::kGetUser:
      break;
  }
  return "";
}

absl::Status RestTripoStub::MapError(absl::string_view operation,
                                     const http::HttpResponse& response,
                                     bool caller_key) const {
  errors::UpstreamError e;
  e.operation = std::string(operation);
  e.provider = "tripo";
  e.http_status = response.status;
  e.caller_key = caller_key;
  e.trace_id = response.Header("x-tripo-trace-id");
  if (absl::StatusOr<translate::TripoEnvelope> env =
          translate::ParseTripoEnvelope(response.body);
      env.ok()) {
    e.code = env->code;
    e.message = env->message;
    e.suggestion = env->suggestion;
  }
  if (e.message.empty() && e.code == 0) {
    e.message = absl::StrCat("HTTP ", response.status);
  }
  e.retry_after =
      ParseRetryAfter(response.Header("retry-after"), transport_.Now());
  return errors::AsTripoStatus(e);
}

template <typename T, typename Parse>
uint64_t RestTripoStub::Call(absl::string_view operation, StubOperation route,
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
        absl::StatusOr<translate::TripoEnvelope> env =
            translate::ParseTripoEnvelope(response.body);
        if (!env.ok()) return Prefixed(op, env.status());
        // A 2xx that carries an error envelope: still an upstream error.
        if (env->code != 0) return map_error(op, response, caller_key);
        return std::move(env->data_json);
      },
      std::move(parse), std::move(done));
}

uint64_t RestTripoStub::CreateTask(const v1::CreateTaskRequest& request,
                                   absl::string_view /*client_order_id*/,
                                   CallOptions options,
                                   Callback<v1::TaskCreation> done) {
  // Tripo takes no idempotency key: the connection keeps the order id.
  absl::StatusOr<std::string> body =
      translate::BuildTripoCreateTaskBody(request);
  if (!body.ok()) {
    done(std::move(body).status());
    return 0;
  }
  http::HttpRequest http;
  http.method = "POST";
  http.url = absl::StrCat(transport_.base_url(), "/task");
  http.headers.emplace_back("Content-Type", "application/json");
  http.body = *std::move(body);
  return Call<v1::TaskCreation>(
      "CreateTask", StubOperation::kCreateTask, std::move(http), options,
      [flow = translate::FlowName(request)](
          absl::string_view data) -> absl::StatusOr<v1::TaskCreation> {
        absl::StatusOr<std::string> id = translate::ParseTripoTaskId(data);
        if (!id.ok()) return id.status();
        v1::TaskCreation creation;
        creation.set_task_uuid(*std::move(id));
        creation.set_flow_name(flow);
        // Tripo has no PENDING: a new task waits in its queue.
        creation.set_status(v1::TASK_STATUS_QUEUED);
        creation.mutable_queue()->set_is_queued(true);
        return creation;
      },
      std::move(done));
}

uint64_t RestTripoStub::ReadTask(absl::string_view operation,
                                 absl::string_view task_id,
                                 const CallOptions& options,
                                 Callback<v1::Task> done) {
  if (!IsValidTaskId(kTripo, task_id)) {
    done(BadTaskId());
    return 0;
  }
  http::HttpRequest http;
  http.url = absl::StrCat(transport_.base_url(), "/task/", task_id);
  return Call<v1::Task>(operation, StubOperation::kGetTask, std::move(http),
                        options, &translate::ParseTripoTask, std::move(done));
}

uint64_t RestTripoStub::GetTask(absl::string_view task_id,
                                absl::string_view /*read_after_write_header*/,
                                CallOptions options, Callback<v1::Task> done) {
  return ReadTask("GetTask", task_id, options, std::move(done));
}

uint64_t RestTripoStub::QuotePrice(const v1::QuotePriceRequest& /*request*/,
                                   CallOptions /*options*/,
                                   Callback<v1::PriceQuote> done) {
  done(NotOffered(kTripo, "QuotePrice", "price quotes"));
  return 0;
}

uint64_t RestTripoStub::GetDownloadUrl(absl::string_view task_id,
                                       CallOptions options,
                                       Callback<v1::DownloadUrl> done) {
  // A fresh read every time: the URLs expire five minutes after it.
  return ReadTask("GetDownloadUrl", task_id, options,
                  DownloadUrlOf(&translate::TripoModelUrl, std::move(done)));
}

uint64_t RestTripoStub::ListOwnModels(int64_t /*page*/, int64_t /*size*/,
                                      CallOptions /*options*/,
                                      Callback<translate::OwnModelsPage> done) {
  done(NotOffered(kTripo, "ListOwnModels", "a model list"));
  return 0;
}

uint64_t RestTripoStub::GetUser(CallOptions /*options*/,
                                Callback<v1::User> done) {
  done(NotOffered(kTripo, "GetUser", "a user profile"));
  return 0;
}

uint64_t RestTripoStub::GetBalance(CallOptions options,
                                   Callback<v1::Balance> done) {
  http::HttpRequest http;
  http.url = absl::StrCat(transport_.base_url(), "/user/balance");
  return Call<v1::Balance>("GetBalance", StubOperation::kGetBalance,
                           std::move(http), options,
                           &translate::ParseTripoBalance, std::move(done));
}

uint64_t RestTripoStub::UploadFile(UploadSpec file, CallOptions options,
                                   Callback<std::string> done) {
  if (file.kind != v1::FILE_KIND_IMAGE) {
    done(NotOffered(kTripo, "UploadFile",
                    "direct model uploads (models go through its STS "
                    "upload to S3); upload images only"));
    return 0;
  }
  if (absl::Status checked = CheckUploadSpec(file); !checked.ok()) {
    done(std::move(checked));
    return 0;
  }
  http::HttpRequest http;
  http.method = "POST";
  http.url = absl::StrCat(transport_.base_url(), "/upload");
  std::string content_type;
  http.body = MultipartBody(file, &content_type);
  http.headers.emplace_back("Content-Type", std::move(content_type));
  return Call<std::string>("UploadFile", StubOperation::kUploadImage,
                           std::move(http), options,
                           &translate::ParseTripoImageToken, std::move(done));
}

uint64_t RestTripoStub::DownloadAsset(
    absl::string_view task_id, CallOptions options, DownloadSink sink,
    absl::AnyInvocable<void(absl::Status)> done) {
  return transport_.DownloadAfter(
      kDownloadOp, EndpointTemplate(StubOperation::kDownloadAsset),
      [this, id = std::string(task_id),
       options](RestTransport::UrlCallback found) {
        // A fresh read every time: the URLs expire five minutes after it.
        return ReadTask(kDownloadOp, id, options,
                        AssetUrlOf(kDownloadOp, &translate::TripoModelUrl,
                                   std::move(found)));
      },
      options, /*max_redirects=*/3,
      [this](absl::string_view op, const http::HttpResponse& response,
             bool caller_key) {
        // The asset host is not the API: its refusal (403 once the signed
        // URL expired) has no Tripo envelope and says nothing about the key.
        if (response.status == 403 || response.status == 404) {
          return absl::UnavailableError(absl::StrCat(
              op, ": the model URL answered HTTP ", response.status,
              " (expired or gone); retry to read a fresh one"));
        }
        return MapError(op, response, caller_key);
      },
      std::move(sink), std::move(done));
}

uint64_t RestTripoStub::WatchAll(std::optional<absl::Time> since,
                                 CallOptions options, WatchHandler handler,
                                 absl::AnyInvocable<void(absl::Status)> done) {
  constexpr absl::string_view kOp = "WatchAll";
  std::optional<std::string> base = WebSocketBase(transport_.base_url());
  if (!base) {
    done(absl::InvalidArgumentError(
        absl::StrCat(kOp, ": the base URL is neither http:// nor https://")));
    return 0;
  }
  http::WebSocketRequest ws;
  ws.url = absl::StrCat(*base, "/task/watch/all");
  if (since) {
    // `since` is a path segment: RFC 3339 in UTC, whole seconds.
    absl::StrAppend(
        &ws.url, "/",
        absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", *since, absl::UTCTimeZone()));
  }
  // The key goes in the upgrade's Authorization header (Tripo refuses the
  // upgrade with 426 without it), never in the URL.
  ws.headers.emplace_back("Authorization",
                          absl::StrCat("Bearer ", options.api_key));
  return transport_.Watch(
      kOp, EndpointTemplate(StubOperation::kWatchAll), std::move(ws), options,
      &translate::ParseTripoWatchFrame,
      [this](absl::string_view op, const http::HttpResponse& refusal,
             bool caller_key) { return MapError(op, refusal, caller_key); },
      std::move(handler), std::move(done));
}

void RestTripoStub::Cancel(uint64_t id) { transport_.Cancel(id); }

}  // namespace triverse::upstream
