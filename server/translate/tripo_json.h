// Tripo V2 (api.tripo3d.ai/v2/openapi) JSON ⇄ proto: pure functions that
// turn Tripo payloads into the triverse.v1 messages and CreateTask requests
// into Tripo request bodies (upstream-apis.md §2, §4, §5.2). Upstream bytes
// are untrusted: every access checks presence and type first, and a payload
// that cannot be translated faithfully gives a clean error naming the field,
// never a crash.
//
// Error codes of the Parse* functions:
//   DATA_LOSS  the payload is not valid JSON (or not UTF-8), not an object,
//              nests deeper than kMaxJsonDepth, misses a required field or
//              has a field of the wrong type or out of range. The message
//              names the payload and the field ("upstream tripo task
//              payload: field 'task_id' is missing or null"), as
//              upstream_json.h does for Triverse (see there for why
//              DATA_LOSS). Absent and null members are the same: "not
//              given". Unknown members are ignored (top level) or kept
//              (output.other), so newer servers keep working.
//
// Status mapping (ParseTripoTask; the table, with a reason per row, is in
// the .cc):
//   queued     QUEUED, queue {is_queued: true, position: queuing_num + 1
//              when queuing_num >= 0 (Tripo counts from 0, the contract
//              from 1)}; progress as given (Tripo sends 0)
//   running    RUNNING, progress clamped to 0-100, estimated_seconds_left =
//              running_left_time when >= 0
//   success    SUCCESS, progress 100
//   failed     FAILED, progress 0 (Tripo's is not meaningful there), error
//              {code: error_code (an integer or a numeric string; 0 when
//              absent), message: error_msg when non-empty, else "the task
//              failed upstream"}
//   banned     FAILED, error {2008, "banned: the input violates the
//              provider's content policy"} (2008 is the content-policy code
//              of both Triverse and Tripo: moderation is not lost)
//   expired    FAILED, error {2018, "expired: the task expired upstream",
//              suggestion "create the task again"} (Tripo V3's code for it;
//              a retry helps)
//   cancelled  CANCELLED
//   unknown, and any other string: UNSPECIFIED, error {1000, "status
//              unknown upstream (\"<status>\")"}; the connection re-polls
//              UNSPECIFIED before reporting it. Never DATA_LOSS for an
//              unknown string (Tripo documents new statuses at will); a
//              missing or non-string status is DATA_LOSS.
//   Statuses compare case-insensitively, exactly (no substring match).
//   Progress is 0 in every status but queued, running and success.
#ifndef TRIVERSE_SERVER_TRANSLATE_TRIPO_JSON_H_
#define TRIVERSE_SERVER_TRANSLATE_TRIPO_JSON_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/translate/watch_frame.h"
#include "triverse/v1/account.pb.h"
#include "triverse/v1/task.pb.h"
#include "triverse/v1/task_service.pb.h"

namespace triverse::translate {

// kTripoTurboModelVersion is the model_version sent for turbo = true when the
// request names no model_version.
inline constexpr char kTripoTurboModelVersion[] = "Turbo-v1.0-20250506";

// TripoEnvelope is the Tripo response envelope: {"code":0,"data":{...}} on
// success (no message), {"code":N,"message","suggestion"} on error.
struct TripoEnvelope {
  int code = 0;
  // Empty when the body had none (or a null one).
  std::string message;
  std::string suggestion;
  // The raw JSON of "data", re-serialised; "null" when absent or null.
  std::string data_json;
};

// ParseTripoEnvelope parses a whole response body. `code` is required and
// must be an integer in int range; `message` and `suggestion` are optional
// strings; other members (V3's `status`, `request_id`) are ignored.
// Errors: DATA_LOSS naming the field.
absl::StatusOr<TripoEnvelope> ParseTripoEnvelope(absl::string_view body);

// ParseTripoTask translates the `data` of GET /task/{task_id} (or of a watch
// frame) into a Task (status mapping: see the file comment).
//   task_id            required non-empty string → task_uuid
//   status             required string
//   type               optional string → flow_name: text_to_model →
//                      "text-to-model" ("text-to-mesh" when input.texture is
//                      false), image_to_model → "image-to-model"
//                      ("image-to-mesh" when input.texture is false),
//                      texture_model → "texture-model", convert_model and
//                      conversion → "convert-model-format", any other type
//                      with '_' replaced by '-' ("refine-model", ...)
//   progress           optional number (a numeric string too), rounded
//   queuing_num        optional integer; −1 when not queued
//   running_left_time  optional number of seconds (a fraction rounds up);
//                      −1 once finalized
//   create_time        optional Unix seconds (integer or double) →
//                      created_at; 0 or negative leaves it unset
//   input              optional object → input (as it came)
//   output             optional object: pbr_model, model →
//                      textured_model_url (in that order); base_model →
//                      geometry_model_url; rendered_image →
//                      rendered_image_url and preview_url; generated_image →
//                      image_url; generate_multiview_image.{front,left,back,
//                      right}_view_url → image_url (in that order). Each of
//                      these is a URL string or an object with a string
//                      `url`; an empty or other value is skipped. Every
//                      other member (riggable, rig_type, unknown ones) →
//                      output.other as it came.
//   result             optional, undocumented: its pbr_model, model,
//                      base_model, rendered_image and generated_image (same
//                      forms, e.g. {"pbr_model":{"url":...}}) feed the same
//                      lists for the names `output` lacks; anything else in
//                      it, or a non-object result, is ignored
//   error_code,        read on `failed` only (see the table)
//   error_msg
// The undocumented top-level `prompt`, consumed_credit and other members are
// ignored. Output URLs are kept as they come: they expire after about five
// minutes, so never cache them; fetch the task again before downloading.
// Errors: DATA_LOSS naming the field.
absl::StatusOr<v1::Task> ParseTripoTask(absl::string_view data_json);

// ParseTripoTaskId returns the non-empty `task_id` of the `data` of
// POST /task. Errors: DATA_LOSS naming the field.
absl::StatusOr<std::string> ParseTripoTaskId(absl::string_view data_json);

// ParseTripoImageToken returns the non-empty `image_token` of the `data` of
// POST /upload (or /upload/sts). Errors: DATA_LOSS naming the field.
absl::StatusOr<std::string> ParseTripoImageToken(absl::string_view data_json);

// ParseTripoBalance translates the `data` of GET /user/balance: required
// `balance` and `frozen`, numbers (a double is rounded down) that must fit
// an int64. Errors: DATA_LOSS naming the field.
absl::StatusOr<v1::Balance> ParseTripoBalance(absl::string_view data_json);

// ParseTripoWatchFrame parses one text message of the Tripo task watch
// WebSocket: {"event":"update"|"finalized","data":{<task as GET /task>}}.
// Tolerated: `data` wrapped in the {code:0,data} envelope; a frame without
// `event` whose data is a task (the kind then follows the status: terminal
// → finalized). nullopt: an unknown event kind, or an empty (all-whitespace)
// message. Errors: DATA_LOSS naming the problem (not JSON, no data, a
// non-string event, an envelope with a non-zero code, a bad task).
absl::StatusOr<std::optional<WatchFrame>> ParseTripoWatchFrame(
    absl::string_view message);

// BuildTripoCreateTaskBody returns the JSON body of POST /task:
//   text_to_model   {"type":"text_to_model","prompt",["negative_prompt"],
//                   ["model_seed": seed],["face_limit": polygon_limit]}
//   text_to_mesh    the same plus "texture":false,"pbr":false
//   image_to_model  {"type":"image_to_model","file":F,["model_version"],
//                   ["face_limit"]}; turbo = true with no model_version sends
//                   model_version kTripoTurboModelVersion
//   image_to_mesh   the same plus "texture":false,"pbr":false
//   texture_model   {"type":"texture_model","original_model_task_id":
//                   model_file,["model_version"]}
//   convert_model_format  {"type":"convert_model","original_model_task_id":
//                   model_file,"format": export_format upper-cased}
// F: an image_file starting with http:// or https:// (any case) is a URL:
// {"type": "jpg", "png" or "webp" from the URL path's extension (jpeg →
// jpg; default jpg), "url": image_file}; anything else is an upload
// image_token: {"type":"jpg","file_token": image_file}.
// Errors: INVALID_ARGUMENT when `params` selects no flow; INVALID_ARGUMENT
// from errors::InvalidArgument with a BadRequest naming every set field the
// provider cannot honour ("text_to_model.texture_size": "is not supported
// by the tripo provider"; text turbo = true; texture_model image_file,
// polygon_limit, texture_size; image turbo = true with a model_version that
// is not a Turbo one); UNIMPLEMENTED for any other flow ("CreateTask: flow
// text-to-texture is not offered by the tripo provider").
absl::StatusOr<std::string> BuildTripoCreateTaskBody(
    const v1::CreateTaskRequest& request);

// TripoModelUrl returns the download URL of a finished Tripo task (one
// ParseTripoTask returned): pbr_model, else model, else base_model (each
// from `output`, or the object form result.<name>.url), i.e. the first
// textured_model_url, else the first geometry_model_url.
// Errors: FAILED_PRECONDITION naming the task when it is not SUCCESS (as
// Triverse's 2005: nothing to download yet); NOT_FOUND naming the task when
// it has no model URL.
absl::StatusOr<std::string> TripoModelUrl(const v1::Task& task);

}  // namespace triverse::translate

#endif  // TRIVERSE_SERVER_TRANSLATE_TRIPO_JSON_H_
