// Upstream JSON → proto: pure functions that turn Triverse REST payloads into
// the triverse.v1 messages. Upstream bytes are untrusted: every access checks
// presence and type first, and a payload that cannot be translated faithfully
// gives a clean error naming the field, never a crash.
//
// Error codes (all functions):
//   DATA_LOSS  the upstream payload is not valid JSON (or not UTF-8), is not
//              the documented shape, misses a required field, has a field of
//              the wrong type or out of range, or nests deeper than
//              kMaxJsonDepth. The message names the field ("status",
//              "output.geometry_model_url[1]", ...). DATA_LOSS and not
//              INTERNAL: the gateway itself did nothing wrong and must not
//              collapse upstream garbage into its own bugs; not UNAVAILABLE:
//              retrying rarely helps and must not be automatic; not UNKNOWN:
//              we know exactly what is wrong.
//
// Both documented generations of the payloads are accepted: task_uuid and
// the older taskId, cost_credits and the older costCredits, statuses without
// QUEUED, and the older `output` that carries internal sub-job states
// (geometry_job_status, texture_job_status): those go to TaskOutput.other and
// never become the task status. Unknown fields are ignored (top level) or
// kept in an open-ended Struct (output.other), so newer servers keep working.
#ifndef TRIVERSE_SERVER_TRANSLATE_UPSTREAM_JSON_H_
#define TRIVERSE_SERVER_TRANSLATE_UPSTREAM_JSON_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "triverse/v1/account.pb.h"
#include "triverse/v1/assets.pb.h"
#include "triverse/v1/task.pb.h"
#include "triverse/v1/task_service.pb.h"

namespace triverse::translate {

// kMaxJsonDepth is the deepest nesting of objects and arrays accepted in an
// upstream payload (the documented payloads nest at most 4 levels).
inline constexpr int kMaxJsonDepth = 64;

// Envelope is the Triverse response envelope: {code, message, data} on
// success, {code, message, suggestion} on error.
struct Envelope {
  int code = 0;
  std::string message;
  // Empty when the body had no suggestion (or a null one).
  std::string suggestion;
  // The raw JSON of "data", re-serialised; "null" when absent or null.
  std::string data_json;
};

// ParseEnvelope parses a whole response body. `code` is required and must be
// an integer in int range; `message` and `suggestion` are optional strings.
// Errors: DATA_LOSS naming the problem (see the file comment).
absl::StatusOr<Envelope> ParseEnvelope(absl::string_view body);

// ParseTask translates the `data` of GET /tasks/{uuid} (or a WebSocket
// update): PublicTaskStatusPayload in either generation. Required:
// task_uuid (or taskId) and status (one of the six public statuses).
// progress accepts an integer, a double (rounded) or a numeric string and is
// clamped to 0-100; times are ISO-8601 (fraction and Z/offset optional; no
// offset means UTC), null leaves them unset; input, output, error and queue
// are objects or null (unset). Every member of `error` is optional (a failed
// task with a partial error object is still a failed task); error.code may
// be a numeric string. output list fields take a string or an array of
// strings; unknown output members go to output.other. Unknown top-level
// members are ignored.
// Errors: DATA_LOSS naming the field.
absl::StatusOr<v1::Task> ParseTask(absl::string_view data_json);

// ParseTaskCreation translates the `data` of a task-creation response
// (PublicTaskCreationPayload, or the older TaskCreationResponsePayload whose
// name / is_public / task_priority / input are tolerated and dropped).
// Required: task_uuid and status. client_order_id is left empty: the caller
// knows which one it sent.
// Errors: DATA_LOSS naming the field.
absl::StatusOr<v1::TaskCreation> ParseTaskCreation(absl::string_view data_json);

// ParsePriceQuote translates the `data` of POST /tasks/pricing/quote.
// Required: flow_name, cost_credits, available_credits.
// Errors: DATA_LOSS naming the field.
absl::StatusOr<v1::PriceQuote> ParsePriceQuote(absl::string_view data_json);

// ParseDownloadUrl translates the `data` of GET /tasks/url/{uuid}.
// Required: download_url. Errors: DATA_LOSS naming the field.
absl::StatusOr<v1::DownloadUrl> ParseDownloadUrl(absl::string_view data_json);

// ParseUser translates the `data` of GET /users/me. Required: id, email,
// api_credits_balance. Errors: DATA_LOSS naming the field.
absl::StatusOr<v1::User> ParseUser(absl::string_view data_json);

// ParseBalance translates the `data` of GET /users/balance. Required:
// balance, frozen. Errors: DATA_LOSS naming the field.
absl::StatusOr<v1::Balance> ParseBalance(absl::string_view data_json);

// ParseUploadFileKey translates the `data` of POST /upload/*: the non-empty
// `file_key` a later task names the upload by. Errors: DATA_LOSS naming the
// field.
absl::StatusOr<std::string> ParseUploadFileKey(absl::string_view data_json);

// ParseOwnModel translates one record of GET /platform/generate/own-models
// (PublicOwnModelItemPayload). Required: task_uuid, flow_name, status.
// Errors: DATA_LOSS naming the field.
absl::StatusOr<v1::OwnModel> ParseOwnModel(absl::string_view record_json);

// OwnModelsPage is one page of GET /platform/generate/own-models.
struct OwnModelsPage {
  std::vector<v1::OwnModel> models;
  int64_t total = 0;    // all records of the key
  int64_t size = 0;     // page size the upstream used (0 when not given)
  int64_t current = 0;  // 1-based page number (0 when not given)
  int64_t pages = 0;    // number of pages (0 when not given)
};

// ParseOwnModelsPage translates the `data` of GET
// /platform/generate/own-models. Required: records (an array) and total.
// Errors: DATA_LOSS naming the field ("records[3].status", ...).
absl::StatusOr<OwnModelsPage> ParseOwnModelsPage(absl::string_view data_json);

}  // namespace triverse::translate

#endif  // TRIVERSE_SERVER_TRANSLATE_UPSTREAM_JSON_H_
