// JSON payloads of the Triverse API, as pure functions of the emulator's
// state. Field names and shapes follow the public docs; `legacy` selects the
// older documented generation (costCredits, taskId, no QUEUED, ...).
#ifndef TRIVERSE_EMULATOR_PAYLOADS_H_
#define TRIVERSE_EMULATOR_PAYLOADS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "emulator/flows.h"
#include "emulator/task_store.h"

namespace triverse::emulator {

// PayloadContext is what a payload needs beyond the task itself.
struct PayloadContext {
  bool legacy = false;
  std::string base_url;  // e.g. http://127.0.0.1:8080, for asset URLs
  absl::Time now;
  absl::Duration url_ttl = absl::Hours(1);
  std::string signing_secret;
  absl::Duration read_after_write_window;
  std::string read_after_write_header;
  // Non-empty: asset URLs carry `&nonce=` (signed too), so that every
  // response gives new URLs even at the same instant (Tripo).
  std::string url_nonce;
};

// Envelope wraps `data_json` as {"code":0,"message":"success","data":...}.
std::string Envelope(absl::string_view data_json);

// FormatTimestamp gives UTC ISO-8601 with microseconds and a Z suffix.
std::string FormatTimestamp(absl::Time t);

std::string CreationPayload(const Task& task, const PayloadContext& ctx);
std::string StatusPayload(const Task& task, const PayloadContext& ctx);
std::string OwnModelRecord(const Task& task, const PayloadContext& ctx);
std::string OwnModelsPage(const std::vector<Task>& tasks, int64_t total,
                          int64_t page, int64_t page_size,
                          const PayloadContext& ctx);
std::string DownloadPayload(const Task& task, const PayloadContext& ctx);
std::string UserPayload(const AccountInfo& account);
std::string BalancePayload(const AccountInfo& account);
std::string QuotePayload(const PriceQuote& quote, int64_t available_credits);
std::string UploadPayload(absl::string_view file_key);

// WebSocketFrame is one text message: "event: <kind>\ndata: <json>", with a
// trailing blank line and/or the data wrapped in the envelope when asked.
std::string WebSocketFrame(const TaskEvent& event, const PayloadContext& ctx,
                           bool trailing_blank_line, bool enveloped);

// AssetUrl is the signed, expiring URL of one file of a task.
std::string AssetUrl(const Task& task, const AssetSpec& asset,
                     const PayloadContext& ctx);

// AssetSignature signs "<uuid>/<file>" (then "#<nonce>" when the URL has a
// nonce) with its expiry.
std::string AssetSignature(absl::string_view secret, absl::string_view path,
                           int64_t expires);

// AssetId is the stable asset UUID of one file of a task.
std::string AssetId(absl::string_view task_uuid, absl::string_view file_name);

// DownloadExtension is the file extension of the task's primary asset
// ("glb" when it cannot be determined, and always in legacy mode).
std::string DownloadExtension(const Task& task, bool legacy);

}  // namespace triverse::emulator

#endif  // TRIVERSE_EMULATOR_PAYLOADS_H_
