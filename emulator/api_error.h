// The Triverse error envelope: `{code, message, suggestion}` with the HTTP
// status that goes with each documented code.
#ifndef TRIVERSE_EMULATOR_API_ERROR_H_
#define TRIVERSE_EMULATOR_API_ERROR_H_

#include <string>
#include <utility>
#include <variant>

#include "absl/strings/string_view.h"

namespace triverse::emulator {

// Error codes of the Triverse API (upstream-apis.md §1.2).
enum ErrorCode : int {
  kInvalidParameters = 1004,
  kResourceNotFound = 1005,
  kTaskNotFound = 1006,
  kRateLimited = 2000,
  kTaskTypeNotSupported = 2002,
  kFileTypeNotSupported = 2004,
  kStateConflict = 2005,
  kContentViolation = 2008,
  kInsufficientCredits = 2010,
  kNoAssets = 4042,
  kBackendUnavailable = 5003,
  kInvalidFlowName = 5004,
  kPersistenceError = 5005,
};

// ApiError is one error response. `http_status` 401/403 with code equal to
// the status is used for authentication failures, which the docs leave
// without an internal code.
struct ApiError {
  int http_status = 500;
  int code = kPersistenceError;
  std::string message;
  std::string suggestion;
  int retry_after_seconds = 0;  // > 0 adds a Retry-After header
  // Siray (OpenAI-style) errors: `type` and the string `code`.
  std::string error_type;
  std::string string_code;

  std::string ToJson() const;
};

// HttpStatusForCode returns the documented HTTP status of a Triverse code
// (500 for codes outside the table).
int HttpStatusForCode(int code);

// DefaultMessage returns the documented message of a Triverse code.
absl::string_view DefaultMessage(int code);

// MakeError builds the error for `code` with its documented HTTP status and
// message, and the given suggestion.
ApiError MakeError(int code, std::string suggestion);

// InvalidParam is a 400/1004 naming the offending field and the rule.
ApiError InvalidParam(absl::string_view field, absl::string_view rule);

// ApiResult holds either a value or the ApiError that prevented it.
template <typename T>
class ApiResult {
 public:
  ApiResult(T value) : v_(std::move(value)) {}         // NOLINT
  ApiResult(ApiError error) : v_(std::move(error)) {}  // NOLINT

  bool ok() const { return v_.index() == 1; }
  const ApiError& error() const { return std::get<0>(v_); }
  T& value() { return std::get<1>(v_); }
  const T& value() const { return std::get<1>(v_); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() { return value(); }

 private:
  std::variant<ApiError, T> v_;
};

}  // namespace triverse::emulator

#endif  // TRIVERSE_EMULATOR_API_ERROR_H_
