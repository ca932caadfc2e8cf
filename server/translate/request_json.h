// Proto → upstream JSON: pure functions that build the Triverse REST request
// bodies from triverse.v1 requests.
//
// Presence rules: a proto3 `optional` field is sent only when set; a plain
// string parameter (image_file, prompt, model_file, export_format) only when
// non-empty; a repeated one (camera_angles) only when non-empty. Defaults and
// range checks are the upstream's: a missing required parameter is reported
// by the upstream (400 / code 1004), which is the authority on each flow's
// rules, so these builders never invent a value.
#ifndef TRIVERSE_SERVER_TRANSLATE_REQUEST_JSON_H_
#define TRIVERSE_SERVER_TRANSLATE_REQUEST_JSON_H_

#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "triverse/v1/task_service.pb.h"

namespace triverse::translate {

// BuildCreateTaskBody returns the flow's path segment (e.g.
// "image-to-model", for POST /tasks/{segment}) and the JSON body. The body
// carries the flow's parameters that are set, `client_order_id` when it is
// non-empty (the caller passes the caller's key or one it generated; the
// request's own field is not read) and `allow_duplicate` only when true.
// Errors: INVALID_ARGUMENT when `params` is not set.
absl::StatusOr<std::pair<std::string, std::string>> BuildCreateTaskBody(
    const v1::CreateTaskRequest& request, absl::string_view client_order_id);

// BuildQuoteBody returns the JSON body of POST /tasks/pricing/quote:
// {"flow_name": ..., "params": {...}}. `params` holds the set parameters
// that can change the price, i.e. all but the execution-only inputs the
// docs list (prompt, negative_prompt, image_file, model_file) and the seed;
// the upstream drops any it does not price.
// Errors: INVALID_ARGUMENT when `params` is not set.
absl::StatusOr<std::string> BuildQuoteBody(
    const v1::QuotePriceRequest& request);

// FlowName returns the public flow name of a CreateTaskRequest params case
// ("image-to-model", ...), or an empty string when none is set.
std::string FlowName(const v1::CreateTaskRequest& request);

}  // namespace triverse::translate

#endif  // TRIVERSE_SERVER_TRANSLATE_REQUEST_JSON_H_
