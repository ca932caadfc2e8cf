// The generation flows the emulator serves: request validation, the public
// input each task echoes, pricing, and the assets each flow produces.
#ifndef TRIVERSE_EMULATOR_FLOWS_H_
#define TRIVERSE_EMULATOR_FLOWS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "emulator/api_error.h"

namespace triverse::emulator {

enum class AssetType { kGlbTextured, kGlbMesh, kPng, kObj, kStl };

// AssetSpec is one generated file of a task.
struct AssetSpec {
  std::string field;      // output field, e.g. "textured_model_url"
  bool list = true;       // the field is an array of URLs, not one URL
  std::string file_name;  // e.g. "textured_model_0.glb"
  AssetType type = AssetType::kGlbMesh;
  std::string kind;  // "model" or "image"
  int width = 0;     // images only
  int height = 0;
};

// ForcedOutcome overrides the fault rates for one task (the Tripo and Siray
// modes' prompt keywords).
enum class ForcedOutcome {
  kNone,
  kSuccess,
  kFailure,
  kCancel,
  kBanned,   // Tripo `banned`: FAILED internally
  kExpired,  // Tripo `expired`: FAILED internally
  kUnknown,  // Tripo `unknown`, then success after unknown_duration
};

// CreateRequest is a validated task-creation request.
struct CreateRequest {
  std::string flow_name;
  // Allow-listed, normalised input as a JSON object (defaults filled in).
  std::string public_input_json;
  int64_t cost_credits = 0;
  std::optional<std::string> client_order_id;
  bool allow_duplicate = false;
  // Identifies "the same request" for the short duplicate window.
  std::string fingerprint;
  // User text subject to content moderation.
  std::vector<std::string> texts;
  // `*_file` inputs (field name, value): upload file keys or public URLs.
  std::vector<std::pair<std::string, std::string>> file_refs;
  std::vector<AssetSpec> assets;
  int primary_asset = -1;  // index into `assets` served by /tasks/url
  // Tripo: at most `concurrency_limit` (> 0) tasks of the account in
  // `concurrency_group` queued or running at once (429/2000), and at most
  // `per_minute_limit` (> 0) creations per 60 s (429/1007).
  std::string concurrency_group;
  int concurrency_limit = 0;
  int per_minute_limit = 0;
  ForcedOutcome outcome = ForcedOutcome::kNone;
};

// PriceQuote is the normalised answer of POST /tasks/pricing/quote.
struct PriceQuote {
  std::string flow_name;
  std::string params_json;  // normalised price parameters as a JSON object
  int64_t cost_credits = 0;
};

// FlowNames lists every flow the emulator serves, in documentation order.
const std::vector<std::string>& FlowNames();

// IsKnownFlow reports whether `flow` is served.
bool IsKnownFlow(absl::string_view flow);

// ParseCreateRequest validates the JSON `body` of POST /tasks/{flow}.
// Errors: 400/2002 for an unknown flow, 400/1004 naming the field and the
// rule for malformed JSON, a missing required field, a wrong type or a value
// out of its documented range. `legacy` applies the older documented ranges
// (polygon_limit up to 10,000,000) and ignores the idempotency fields, which
// the older API did not have.
ApiResult<CreateRequest> ParseCreateRequest(absl::string_view flow,
                                            absl::string_view body,
                                            bool legacy);

// ParseQuoteRequest handles POST /tasks/pricing/quote: `flow_name` (or its
// alias `flowName`), optional `params` (unknown keys dropped) and `surface`
// (accepted and ignored).
ApiResult<PriceQuote> ParseQuoteRequest(absl::string_view body);

// IsValidClientOrderId checks length 1-64 and the charset [A-Za-z0-9_-].
bool IsValidClientOrderId(absl::string_view id);

}  // namespace triverse::emulator

#endif  // TRIVERSE_EMULATOR_FLOWS_H_
