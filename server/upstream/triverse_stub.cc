#include "server/upstream/triverse_stub.h"

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <memory>
#include <random>
#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "rapidjson/document.h"
#include "server/errors/upstream_status.h"
#include "server/translate/request_json.h"

namespace triverse::upstream {
namespace {

constexpr char kWatchAllOp[] = "WatchAll";
constexpr size_t kMaxPathIdLength = 64;
constexpr size_t kMaxHeaderNameLength = 64;

// PercentEncode escapes everything but RFC 3986's unreserved characters,
// for a query value.
std::string PercentEncode(absl::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (const char c : value) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '.' || c == '_' ||
        c == '~') {
      out.push_back(c);
    } else {
      absl::StrAppendFormat(&out, "%%%02X", static_cast<unsigned char>(c));
    }
  }
  return out;
}

// ErrorFromResponse builds the UpstreamError of a response that is not a
// success: the HTTP status, the envelope when the body is one, Retry-After.
errors::UpstreamError ErrorFromResponse(absl::string_view operation,
                                        const http::HttpResponse& response,
                                        bool caller_key, absl::Time now) {
  errors::UpstreamError e;
  e.operation = std::string(operation);
  e.http_status = response.status;
  e.caller_key = caller_key;
  if (absl::StatusOr<translate::Envelope> env =
          translate::ParseEnvelope(response.body);
      env.ok()) {
    e.code = env->code;
    e.message = env->message;
    e.suggestion = env->suggestion;
  }
  e.retry_after = ParseRetryAfter(response.Header("retry-after"), now);
  return e;
}

}  // namespace

std::string CreateTaskEndpoint(const v1::CreateTaskRequest& request) {
  const std::string flow = translate::FlowName(request);
  if (flow.empty() || !IsValidPathId(flow)) return "POST /tasks/{flow}";
  return absl::StrCat("POST /tasks/", flow);
}

absl::string_view UploadEndpoint(v1::FileKind kind) {
  switch (kind) {
    case v1::FILE_KIND_IMAGE:
      return kEndpointUploadImage;
    case v1::FILE_KIND_MODEL:
      return kEndpointUploadModel;
    default:
      return "POST /upload/{kind}";
  }
}

bool IsValidPathId(absl::string_view id) {
  if (id.empty() || id.size() > kMaxPathIdLength) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-';
  });
}

RestTriverseStub::RestTriverseStub(http::CurlEngine* engine, Options options)
    : transport_(engine, std::move(options)) {}

const ProviderCapabilities& RestTriverseStub::capabilities() const {
  return CapabilitiesOf(ProviderKind::kTriverse);
}

std::string TriverseEndpointTemplate(StubOperation operation,
                                     const v1::CreateTaskRequest* request) {
  switch (operation) {
    case StubOperation::kCreateTask:
      return request != nullptr ? CreateTaskEndpoint(*request)
                                : "POST /tasks/{flow}";
    case StubOperation::kGetTask:
      return std::string(kEndpointGetTask);
    case StubOperation::kQuotePrice:
      return std::string(kEndpointQuotePrice);
    case StubOperation::kGetDownloadUrl:
      return std::string(kEndpointGetDownloadUrl);
    case StubOperation::kListOwnModels:
      return std::string(kEndpointListOwnModels);
    case StubOperation::kGetUser:
      return std::string(kEndpointGetUser);
    case StubOperation::kGetBalance:
      return std::string(kEndpointGetBalance);
    case StubOperation::kUploadImage:
      return std::string(kEndpointUploadImage);
    case StubOperation::kUploadModel:
      return std::string(kEndpointUploadModel);
    case StubOperation::kDownloadAsset:
      return std::string(kEndpointDownloadAsset);
    case StubOperation::kWatchAll:
      return std::string(kEndpointWatchAll);
  }
  return "";
}

std::string RestTriverseStub::EndpointTemplate(
    StubOperation operation, const v1::CreateTaskRequest* request) const {
  return TriverseEndpointTemplate(operation, request);
}

absl::Status RestTriverseStub::MapError(absl::string_view operation,
                                        const http::HttpResponse& response,
                                        bool caller_key) const {
  errors::UpstreamError e =
      ErrorFromResponse(operation, response, caller_key, transport_.Now());
  if (e.message.empty() && response.body.empty()) {
    e.message = absl::StrCat("HTTP ", response.status, " without a body");
  }
  return errors::AsStatus(e);
}

template <typename T, typename Parse>
uint64_t RestTriverseStub::Call(absl::string_view operation,
                                absl::string_view endpoint,
                                http::HttpRequest request, CallOptions options,
                                Parse parse, Callback<T> done) {
  auto map_error = [this](absl::string_view op,
                          const http::HttpResponse& response, bool caller_key) {
    return MapError(op, response, caller_key);
  };
  return transport_.Call<T>(
      operation, endpoint, std::move(request), options, map_error,
      [map_error](absl::string_view op, const http::HttpResponse& response,
                  bool caller_key) -> absl::StatusOr<std::string> {
        absl::StatusOr<translate::Envelope> env =
            translate::ParseEnvelope(response.body);
        if (!env.ok()) return Prefixed(op, env.status());
        // A 2xx that carries an error envelope: still an upstream error.
        if (env->code != 0) return map_error(op, response, caller_key);
        return std::move(env->data_json);
      },
      std::move(parse), std::move(done));
}

uint64_t RestTriverseStub::CreateTask(const v1::CreateTaskRequest& request,
                                      absl::string_view client_order_id,
                                      CallOptions options,
                                      Callback<v1::TaskCreation> done) {
  constexpr absl::string_view kOp = "CreateTask";
  absl::StatusOr<std::pair<std::string, std::string>> built =
      translate::BuildCreateTaskBody(request, client_order_id);
  if (!built.ok()) {
    // The only failure is an unset oneof: the caller's, with a BadRequest.
    done(errors::InvalidArgument({{"params", "must be set"}}));
    return 0;
  }
  // The flow segment comes from our own table, but check it like any id.
  if (!IsValidPathId(built->first)) {
    done(errors::InvalidArgument({{"params", "unknown flow"}}));
    return 0;
  }
  http::HttpRequest http;
  http.method = "POST";
  http.url = absl::StrCat(transport_.base_url(), "/tasks/", built->first);
  http.headers.emplace_back("Content-Type", "application/json");
  http.body = std::move(built->second);
  return Call<v1::TaskCreation>(
      kOp, absl::StrCat("POST /tasks/", built->first), std::move(http),
      std::move(options),
      [order = std::string(client_order_id)](
          absl::string_view data) -> absl::StatusOr<v1::TaskCreation> {
        absl::StatusOr<v1::TaskCreation> c = translate::ParseTaskCreation(data);
        if (c.ok()) c->set_client_order_id(order);
        return c;
      },
      std::move(done));
}

uint64_t RestTriverseStub::GetTask(absl::string_view task_uuid,
                                   absl::string_view read_after_write_header,
                                   CallOptions options,
                                   Callback<v1::Task> done) {
  if (!IsValidPathId(task_uuid)) {
    done(errors::InvalidArgument(
        {{"task_uuid", "must be 1-64 characters of [0-9A-Za-z-]"}}));
    return 0;
  }
  http::HttpRequest http;
  http.url = absl::StrCat(transport_.base_url(), "/tasks/", task_uuid);
  if (!read_after_write_header.empty()) {
    // The name comes from an upstream payload: untrusted, so it must be a
    // plain token that cannot smuggle another header in.
    if (!IsHttpToken(read_after_write_header) ||
        read_after_write_header.size() > kMaxHeaderNameLength) {
      done(errors::InvalidArgument(
          {{"read_after_write_header", "must be an HTTP token"}}));
      return 0;
    }
    http.headers.emplace_back(std::string(read_after_write_header), "1");
  }
  return Call<v1::Task>("GetTask", kEndpointGetTask, std::move(http),
                        std::move(options), &translate::ParseTask,
                        std::move(done));
}

uint64_t RestTriverseStub::QuotePrice(const v1::QuotePriceRequest& request,
                                      CallOptions options,
                                      Callback<v1::PriceQuote> done) {
  constexpr absl::string_view kOp = "QuotePrice";
  absl::StatusOr<std::string> body = translate::BuildQuoteBody(request);
  if (!body.ok()) {
    done(errors::InvalidArgument({{"params", "must be set"}}));
    return 0;
  }
  http::HttpRequest http;
  http.method = "POST";
  http.url = absl::StrCat(transport_.base_url(), "/tasks/pricing/quote");
  http.headers.emplace_back("Content-Type", "application/json");
  http.body = *std::move(body);
  return Call<v1::PriceQuote>(kOp, kEndpointQuotePrice, std::move(http),
                              std::move(options), &translate::ParsePriceQuote,
                              std::move(done));
}

uint64_t RestTriverseStub::GetDownloadUrl(absl::string_view task_uuid,
                                          CallOptions options,
                                          Callback<v1::DownloadUrl> done) {
  if (!IsValidPathId(task_uuid)) {
    done(errors::InvalidArgument(
        {{"task_uuid", "must be 1-64 characters of [0-9A-Za-z-]"}}));
    return 0;
  }
  http::HttpRequest http;
  http.url = absl::StrCat(transport_.base_url(), "/tasks/url/", task_uuid);
  return Call<v1::DownloadUrl>("GetDownloadUrl", kEndpointGetDownloadUrl,
                               std::move(http), std::move(options),
                               &translate::ParseDownloadUrl, std::move(done));
}

uint64_t RestTriverseStub::ListOwnModels(
    int64_t page, int64_t size, CallOptions options,
    Callback<translate::OwnModelsPage> done) {
  http::HttpRequest http;
  http.url = absl::StrCat(transport_.base_url(),
                          "/platform/generate/own-models?current=", page,
                          "&size=", size);
  return Call<translate::OwnModelsPage>(
      "ListOwnModels", kEndpointListOwnModels, std::move(http),
      std::move(options), &translate::ParseOwnModelsPage, std::move(done));
}

uint64_t RestTriverseStub::GetUser(CallOptions options,
                                   Callback<v1::User> done) {
  http::HttpRequest http;
  http.url = absl::StrCat(transport_.base_url(), "/users/me");
  return Call<v1::User>("GetUser", kEndpointGetUser, std::move(http),
                        std::move(options), &translate::ParseUser,
                        std::move(done));
}

uint64_t RestTriverseStub::GetBalance(CallOptions options,
                                      Callback<v1::Balance> done) {
  http::HttpRequest http;
  http.url = absl::StrCat(transport_.base_url(), "/users/balance");
  return Call<v1::Balance>("GetBalance", kEndpointGetBalance, std::move(http),
                           std::move(options), &translate::ParseBalance,
                           std::move(done));
}

uint64_t RestTriverseStub::UploadFile(UploadSpec file, CallOptions options,
                                      Callback<std::string> done) {
  std::string path;
  switch (file.kind) {
    case v1::FILE_KIND_IMAGE:
      path = "/upload/image";
      break;
    case v1::FILE_KIND_MODEL:
      path = "/upload/model";
      if (file.model_variant == v1::MODEL_VARIANT_GEOMETRY) {
        path += "?modelVariant=geometry";
      } else if (file.model_variant == v1::MODEL_VARIANT_TEXTURED) {
        path += "?modelVariant=textured";
      }
      break;
    default:
      done(errors::InvalidArgument(
          {{"metadata.kind", "must be FILE_KIND_IMAGE or FILE_KIND_MODEL"}}));
      return 0;
  }
  if (absl::Status checked = CheckUploadSpec(file); !checked.ok()) {
    done(std::move(checked));
    return 0;
  }
  http::HttpRequest http;
  http.method = "POST";
  http.url = absl::StrCat(transport_.base_url(), path);
  std::string content_type;
  http.body = MultipartBody(file, &content_type);
  http.headers.emplace_back("Content-Type", std::move(content_type));
  return Call<std::string>(
      "UploadFile", UploadEndpoint(file.kind), std::move(http),
      std::move(options),
      [](absl::string_view data) {
        return translate::ParseUploadFileKey(data);
      },
      std::move(done));
}

uint64_t RestTriverseStub::DownloadAsset(
    absl::string_view task_uuid, CallOptions options, DownloadSink sink,
    absl::AnyInvocable<void(absl::Status)> done) {
  constexpr absl::string_view kOp = "DownloadAsset";
  if (!IsValidPathId(task_uuid)) {
    done(errors::InvalidArgument(
        {{"task_uuid", "must be 1-64 characters of [0-9A-Za-z-]"}}));
    return 0;
  }
  http::HttpRequest http;
  http.url = absl::StrCat(transport_.base_url(), "/tasks/download/", task_uuid);
  return transport_.Download(
      kOp, kEndpointDownloadAsset, std::move(http), options,
      /*authorize=*/true,
      [this](absl::string_view op, const http::HttpResponse& response,
             bool caller_key) { return MapError(op, response, caller_key); },
      std::move(sink), std::move(done));
}

uint64_t RestTriverseStub::WatchAll(
    std::optional<absl::Time> since, CallOptions options, WatchHandler handler,
    absl::AnyInvocable<void(absl::Status)> done) {
  std::optional<std::string> base = WebSocketBase(transport_.base_url());
  if (!base) {
    done(absl::InvalidArgumentError(absl::StrCat(
        kWatchAllOp, ": the base URL is neither http:// nor https://")));
    return 0;
  }
  http::WebSocketRequest ws;
  ws.url = absl::StrCat(
      *base, "/tasks/watch/all?token=", PercentEncode(options.api_key));
  if (since) {
    absl::StrAppend(
        &ws.url, "&since=",
        absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", *since, absl::UTCTimeZone()));
  }
  return transport_.Watch(
      kWatchAllOp, kEndpointWatchAll, std::move(ws), options,
      &translate::ParseWatchFrame,
      [](absl::string_view op, const http::HttpResponse& refusal,
         bool caller_key) {
        errors::UpstreamError error;
        error.operation = std::string(op);
        error.http_status = refusal.status;
        error.message =
            absl::StrCat("the upgrade was refused with HTTP ", refusal.status);
        error.caller_key = caller_key;
        return errors::AsStatus(error);
      },
      std::move(handler), std::move(done));
}

void RestTriverseStub::Cancel(uint64_t id) { transport_.Cancel(id); }

}  // namespace triverse::upstream
