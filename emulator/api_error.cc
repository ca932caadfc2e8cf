#include "emulator/api_error.h"

#include "absl/strings/str_cat.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"

namespace triverse::emulator {

int HttpStatusForCode(int code) {
  switch (code) {
    case kInvalidParameters:
    case kTaskTypeNotSupported:
    case kFileTypeNotSupported:
    case kContentViolation:
      return 400;
    case 401:
      return 401;
    case 403:
    case kInsufficientCredits:
      return 403;
    case kResourceNotFound:
    case kTaskNotFound:
    case kNoAssets:
      return 404;
    case kStateConflict:
      return 409;
    case kRateLimited:
      return 429;
    case kBackendUnavailable:
      return 503;
    default:
      return 500;
  }
}

absl::string_view DefaultMessage(int code) {
  switch (code) {
    case kInvalidParameters:
      return "Invalid parameters.";
    case kResourceNotFound:
      return "Resource not found or no permission.";
    case kTaskNotFound:
      return "Task not found.";
    case kRateLimited:
      return "Too many requests.";
    case kTaskTypeNotSupported:
      return "The task type is not supported.";
    case kFileTypeNotSupported:
      return "The file type is unsupported.";
    case kStateConflict:
      return "The task is not in a state that allows this operation.";
    case kContentViolation:
      return "Content violation: the input failed the safety audit.";
    case kInsufficientCredits:
      return "Insufficient API credits.";
    case kNoAssets:
      return "The task succeeded but produced no downloadable assets.";
    case kBackendUnavailable:
      return "A backend service is unavailable.";
    case kInvalidFlowName:
      return "Internal flow name is not valid.";
    case kPersistenceError:
      return "Persistence error: the task state could not be recorded.";
    case 401:
      return "Unauthorized.";
    case 403:
      return "Forbidden.";
    default:
      return "Internal error.";
  }
}

ApiError MakeError(int code, std::string suggestion) {
  ApiError e;
  e.code = code;
  e.http_status = HttpStatusForCode(code);
  e.message = std::string(DefaultMessage(code));
  e.suggestion = std::move(suggestion);
  return e;
}

ApiError InvalidParam(absl::string_view field, absl::string_view rule) {
  return MakeError(kInvalidParameters,
                   absl::StrCat("Parameter '", field, "' ", rule, "."));
}

std::string ApiError::ToJson() const {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  w.Key("code");
  w.Int(code);
  w.Key("message");
  w.String(message);
  w.Key("suggestion");
  w.String(suggestion);
  w.EndObject();
  return std::string(buf.GetString(), buf.GetSize());
}

}  // namespace triverse::emulator
