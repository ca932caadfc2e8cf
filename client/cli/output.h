// Output of the `triverse` CLI: protobuf JSON (field names as in the
// proto) or aligned human-readable tables, and the error report printed on
// stderr. Pure functions of their arguments (the time zone is passed in).
#ifndef TRIVERSE_CLIENT_CLI_OUTPUT_H_
#define TRIVERSE_CLIENT_CLI_OUTPUT_H_

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "google/protobuf/message.h"
#include "google/protobuf/timestamp.pb.h"
#include "triverse/v1/account.pb.h"
#include "triverse/v1/assets.pb.h"
#include "triverse/v1/task.pb.h"
#include "triverse/v1/task_service.pb.h"

namespace triverse::client::cli {

enum class OutputFormat { kTable, kJson };

// ToJson is protobuf JSON with the proto field names, primitive fields
// printed even when zero, indented, ending with a newline.
std::string ToJson(const google::protobuf::Message& message);

// ToJsonLine is ToJson on one line (no indentation, no newline): one
// message per line of a JSON-lines stream.
std::string ToJsonLine(const google::protobuf::Message& message);

// FormatTime is a Timestamp in ISO 8601 in `tz` ("2026-11-26T01:02:03+01:00"),
// or "-" when unset.
std::string FormatTime(const google::protobuf::Timestamp& time,
                       absl::TimeZone tz);

// StatusName is a TaskStatus without its prefix: "RUNNING".
std::string StatusName(v1::TaskStatus status);

// KeyValues formats rows as an aligned two-column table.
std::string KeyValues(
    const std::vector<std::pair<std::string, std::string>>& rows);

// Tables of each result type.
std::string TaskTable(const v1::Task& task, absl::TimeZone tz);
std::string TaskCreationTable(const v1::TaskCreation& creation,
                              absl::TimeZone tz);
std::string PriceQuoteTable(const v1::PriceQuote& quote);
std::string DownloadUrlTable(const v1::DownloadUrl& url);
std::string AccountTable(const v1::Account& account);
std::string ModelsTable(const v1::ListOwnModelsResponse& models,
                        absl::TimeZone tz);

// EventKindName is a TaskEventKind without its prefix: "FINALIZED".
std::string EventKindName(v1::TaskEventKind kind);

// EventLine is one human-readable line (no newline) of a watch event:
//   <observed_at in tz>  <KIND>  <task_uuid>  <flow_name>  <STATUS>  <N>%
std::string EventLine(const v1::TaskEvent& event, absl::TimeZone tz);

// ProgressMeter turns the successive states of one task into the one-line
// progress display of `watch` and `--wait`, with an ETA estimated from the
// progress rate seen while RUNNING:
//   [########............] 40% RUNNING  ETA 1m30s
//   [....................] 0% QUEUED #3  starts in ~30s  ETA —
// "ETA —" when there is no estimate yet. Not thread-safe.
class ProgressMeter {
 public:
  // Observe records `task` as seen at `at` (an event's observed_at, or the
  // local time of a poll).
  void Observe(const v1::Task& task, absl::Time at);
  // Line is the display of the last state observed (no "\r", no newline).
  std::string Line() const;
  // Eta is the estimated time left, when there is one.
  std::optional<absl::Duration> Eta() const;

 private:
  v1::Task last_;
  absl::Time last_at_ = absl::InfinitePast();
  // The first RUNNING observation: the origin of the rate.
  std::optional<std::pair<absl::Time, int>> first_running_;
};

// FormatError is the stderr report of a failed call:
//   error: NOT_FOUND (TASK_NOT_FOUND): GetTask: task not found
//     suggestion: check the task id
//     field text_to_model.prompt: must be at least 3 characters
//     quota requests: ...
//     precondition TASK_STATE GetDownloadUrl: ...
//     retry after: 2s
std::string FormatError(const absl::Status& status);

}  // namespace triverse::client::cli

#endif  // TRIVERSE_CLIENT_CLI_OUTPUT_H_
