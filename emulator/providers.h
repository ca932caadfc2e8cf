// The Tripo V2 and Siray modes of the emulator: request parsing, error
// bodies and payloads, as pure functions over the shared task store (see
// upstream-apis.md §2, §3 and §6 items 15-29).
#ifndef TRIVERSE_EMULATOR_PROVIDERS_H_
#define TRIVERSE_EMULATOR_PROVIDERS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "emulator/api_error.h"
#include "emulator/flows.h"
#include "emulator/options.h"
#include "emulator/payloads.h"
#include "emulator/task_store.h"

namespace triverse::emulator {

// ------------------------------------------------------------------ Tripo

// Tripo error codes (upstream-apis.md §2.1) beyond the shared ones.
enum TripoCode : int {
  kTripoUnknownError = 1000,
  kTripoFatalError = 1001,
  kTripoAuthFailed = 1002,
  kTripoBadBody = 1003,
  kTripoInvalidParams = 1004,
  kTripoForbidden = 1005,
  kTripoRateLimited = 1007,
  kTripoConcurrency = 2000,
  kTripoTaskNotFound = 2001,
  kTripoTypeNotSupported = 2002,
  kTripoImageEmpty = 2003,
  kTripoImageType = 2004,
  kTripoDraftNotSuccess = 2005,
  kTripoOriginalType = 2006,
  kTripoOriginalNotSuccess = 2007,
  kTripoContentPolicy = 2008,
  kTripoNoCredit = 2010,
  kTripoVersionInvalid = 2017,
  kTripoFileNotFound = 2019,
  kTripoRouteNotFound = 9404,  // V2 router errors (9xxx)
};

// TripoError builds {code, message, suggestion} with the documented status.
ApiError TripoError(int code, std::string suggestion);

// TripoFromStore turns an error of the task store (Triverse codes) into its
// Tripo equivalent.
ApiError TripoFromStore(const ApiError& e);

// TripoCreate is a parsed POST /task body. The caller resolves the file
// token and the origin task, then hands `request` to the store.
struct TripoCreate {
  CreateRequest request;
  std::string type;
  std::string file_token;  // "" unless the input names one
  // Chained tasks: the id field ("original_model_task_id" or
  // "draft_model_task_id"), its value and the types it may name.
  std::string origin_field;
  std::string origin_task_id;
  std::vector<std::string> origin_types;
};

// ParseTripoCreate validates a POST /task body: 400/1003 malformed, 400/1004
// bad or missing field, 400/2002 unknown type, 400/2017 unknown version.
// Prompt keywords tripo-fail, tripo-banned, tripo-expired, tripo-cancelled,
// tripo-unknown anywhere in the body force the outcome.
ApiResult<TripoCreate> ParseTripoCreate(absl::string_view body,
                                        const TripoOptions& options);

// TripoPayloadContext is what a Tripo payload needs beyond the task.
struct TripoPayloadContext {
  PayloadContext base;  // URLs signed with TripoOptions::url_ttl
  absl::Duration run_duration;
  bool extras = false;  // add the undocumented `prompt` and `result`
};

// TripoStatus is the public status: queued, running, success, failed,
// banned, expired, cancelled or unknown.
std::string TripoStatus(const Task& task);
bool TripoFinalized(absl::string_view status);

// TripoEnvelope wraps data as {"code":0,"data":...}.
std::string TripoEnvelope(absl::string_view data_json);
std::string TripoTaskPayload(const Task& task, const TripoPayloadContext& ctx);
std::string TripoCreationPayload(const Task& task);
std::string TripoUploadPayload(absl::string_view image_token);
// {"event":"update"|"finalized","data":{...}}
std::string TripoFrame(const Task& task, const TripoPayloadContext& ctx);

// ------------------------------------------------------------------ Siray

// SirayError builds an OpenAI-style error: HTTP status, message, type and
// (string) code.
ApiError SirayError(int http_status, std::string message, std::string type,
                    std::string code);
// SirayFromStore turns an error of the task store into its Siray form.
ApiError SirayFromStore(const ApiError& e);
// SirayErrorJson renders {"error":{"message","type","code"}}.
std::string SirayErrorJson(const ApiError& e);

// ParseSirayCreate validates POST /v1/3d/generations. The prompt keyword
// siray-fail forces a FAILURE.
ApiResult<CreateRequest> ParseSirayCreate(absl::string_view body);

// SirayTaskId is "3d_" + 48 hex digits derived from the task UUID;
// SirayTaskUuid reverses it (nullopt for anything else).
std::string SirayTaskId(absl::string_view uuid);
std::optional<std::string> SirayTaskUuid(absl::string_view task_id);

// SirayRedirectToken names one output file of a task (signed);
// ParseSirayRedirectToken returns the UUID and asset index.
std::string SirayRedirectToken(const Task& task, int asset,
                               absl::string_view secret);
bool ParseSirayRedirectToken(absl::string_view token, absl::string_view secret,
                             std::string* uuid, int* asset);

struct SirayPayloadContext {
  std::string base_url;
  std::string signing_secret;
  absl::Time now;
  absl::Duration pending_duration;
  bool omit_unset_times = false;
  // Faults drawn for this response: 0 none, else a variant (1-5 progress,
  // 1-2 status spelling).
  int odd_progress = 0;
  int alt_status = 0;
};

std::string SirayEnvelope(absl::string_view data_json);
std::string SirayCreationPayload(const Task& task);
std::string SirayTaskPayload(const Task& task, const SirayPayloadContext& ctx);

}  // namespace triverse::emulator

#endif  // TRIVERSE_EMULATOR_PROVIDERS_H_
