// Siray (api.siray.ai) JSON ⇄ proto: pure functions that turn Siray 3D
// generation payloads into the triverse.v1 messages and CreateTask requests
// into Siray request bodies (upstream-apis.md §3, §4). Upstream bytes are
// untrusted: every access checks presence and type first, and a payload that
// cannot be translated faithfully gives a clean error naming the field,
// never a crash.
//
// Error codes of the Parse* functions:
//   DATA_LOSS  the payload is not valid JSON (or not UTF-8), not an object,
//              nests deeper than kMaxJsonDepth, misses a required field or
//              has a field of the wrong type or out of range. The message
//              names the payload and the field ("upstream siray task
//              payload: field 'task_id' is empty"), as upstream_json.h does
//              for Triverse. Absent and null members are the same. Unknown
//              members (`action`, ...) are ignored.
//
// Status mapping (ParseSirayTask; statuses compare case-insensitively and
// exactly, never by substring, so "" is not SUCCESS):
//   NOT_START, SUBMITTED          PENDING (the two collapse into one)
//   QUEUED                        QUEUED, queue {is_queued: true} (Siray
//                                 gives no position)
//   IN_PROGRESS                   RUNNING
//   SUCCESS, SUCCEEDED, COMPLETED SUCCESS, progress 100
//   FAILURE, FAILED, ERROR        FAILED, error {5000, fail_reason, or "the
//                                 task failed upstream" when empty}
//   anything else (UNKNOWN, "")   UNSPECIFIED, error {1000, "status unknown
//                                 upstream (\"<status>\")"}; the connection
//                                 re-polls UNSPECIFIED before reporting it
// The spellings beyond the documented six come from Siray's own plugin code.
#ifndef TRIVERSE_SERVER_TRANSLATE_SIRAY_JSON_H_
#define TRIVERSE_SERVER_TRANSLATE_SIRAY_JSON_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "triverse/v1/task.pb.h"
#include "triverse/v1/task_service.pb.h"

namespace triverse::translate {

// kSirayTextTo3dModel and kSirayImageTo3dModel are the default Siray model
// slugs of the text and image flows.
inline constexpr char kSirayTextTo3dModel[] =
    "tencent/hunyuan3d-v2.5-rapid-text-to-3d";
inline constexpr char kSirayImageTo3dModel[] = "tripo/tripo3d-v2.5-image-to-3d";

// SirayEnvelope is the Siray response envelope:
// {"code":"success","message":"","data":{...}}.
struct SirayEnvelope {
  // "success" on success. A string upstream; an integer code is rendered in
  // decimal, except 0, which becomes "success".
  std::string code;
  // Empty when absent or null.
  std::string message;
  // The raw JSON of "data", re-serialised; "null" when absent or null.
  std::string data_json;
};

// ParseSirayEnvelope parses a whole response body. `code` is required: a
// string, or an integer (tolerated; 0 means success). `message` is an
// optional string. Errors: DATA_LOSS naming the field.
absl::StatusOr<SirayEnvelope> ParseSirayEnvelope(absl::string_view body);

// ParseSirayTask translates the `data` of GET /v1/3d/generations/{task_id}.
//   task_id      required non-empty string → task_uuid; flow_name stays
//                empty (the payload does not say)
//   status       required string (mapping: see the file comment)
//   progress     "42%": surrounding spaces and the '%' are optional, an
//                integer or a decimal (rounded), clamped to 0-100; a JSON
//                number too. "", garbage, missing or null → 0 (100 on
//                SUCCESS): never an error, progress is decoration
//   submit_time  → created_at, start_time → started_at, finish_time →
//                completed_at: Unix seconds (integer, double or numeric
//                string); 0, negative, missing or null → unset
//   outputs      array of URL strings (non-strings and empty ones skipped;
//                a lone string is one URL) → output.textured_model_url.
//                They are Siray redirect URLs: follow 3xx to download
//   fail_reason  string, read on failure ("" when not failed)
// Errors: DATA_LOSS naming the field.
absl::StatusOr<v1::Task> ParseSirayTask(absl::string_view data_json);

// ParseSirayTaskId returns the non-empty `task_id` of the `data` of
// POST /v1/3d/generations. Errors: DATA_LOSS naming the field.
absl::StatusOr<std::string> ParseSirayTaskId(absl::string_view data_json);

// SirayError is a Siray error body as data. Every member is bounded in size
// and valid UTF-8.
struct SirayError {
  std::string message;
  std::string type;
  // Siray's error code as text ("invalid_request", "429", ...); empty when
  // none.
  std::string code;
};

// ParseSirayErrorBody reads an error response body: the OpenAI-style
// {"error":{"message","type","code"}} (code a string or a number; `error`
// may also be a bare string), or an envelope whose code is not "success"
// ({"code":"...","message":"..."}). Never fails: on anything else (HTML,
// garbage, non-UTF-8, deep nesting) it returns a SirayError whose only
// member is `message`: a bounded (about 200 bytes), printable ASCII excerpt
// of the body.
SirayError ParseSirayErrorBody(absl::string_view body);

// BuildSirayCreateTaskBody returns the JSON body of POST /v1/3d/generations:
//   text_to_model   {"model":kSirayTextTo3dModel,"prompt"}
//   text_to_mesh    the same plus "texture_enable":false
//   image_to_model  {"model":kSirayImageTo3dModel,"image": image_file,
//                   ["face_limit": polygon_limit]}
//   image_to_mesh   the same plus "texture_enable":false
// model_version, when set on an image flow, must hold a '/' (a Siray model
// slug) and replaces the default "model". image_file must be an http(s) URL
// or a data: URL (Siray has no upload).
// Errors: INVALID_ARGUMENT when `params` selects no flow; INVALID_ARGUMENT
// from errors::InvalidArgument with a BadRequest naming every set field the
// provider cannot honour (text negative_prompt, polygon_limit,
// texture_size, seed, turbo = true; image texture_size, turbo = true, a
// model_version without '/', an image_file that is not a URL);
// UNIMPLEMENTED for any other flow ("CreateTask: flow texture-model is not
// offered by the siray provider").
absl::StatusOr<std::string> BuildSirayCreateTaskBody(
    const v1::CreateTaskRequest& request);

}  // namespace triverse::translate

#endif  // TRIVERSE_SERVER_TRANSLATE_SIRAY_JSON_H_
