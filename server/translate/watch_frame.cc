#include "server/translate/watch_frame.h"

#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "server/translate/upstream_json.h"

namespace triverse::translate {
namespace {

// FieldValue returns the value of an SSE line "name: value" (one optional
// space after the colon), or nullopt when `line` is another field.
std::optional<absl::string_view> FieldValue(absl::string_view line,
                                            absl::string_view name) {
  if (!absl::ConsumePrefix(&line, name) || !absl::ConsumePrefix(&line, ":")) {
    return std::nullopt;
  }
  absl::ConsumePrefix(&line, " ");
  return line;
}

// TaskJson returns the task payload of a `data` value: the value itself, or
// the `data` of an envelope around it.
absl::StatusOr<std::string> TaskJson(absl::string_view data) {
  const absl::string_view trimmed = absl::StripAsciiWhitespace(data);
  // An envelope has a code; a task payload never has one at the top level.
  // ParseEnvelope requires `code`, so a bare payload fails it cleanly.
  absl::StatusOr<Envelope> envelope = ParseEnvelope(trimmed);
  if (!envelope.ok()) return std::string(trimmed);
  if (envelope->code != 0) {
    return absl::DataLossError(
        absl::StrCat("watch event: the envelope carries error code ",
                     envelope->code, ": ", envelope->message));
  }
  return std::move(envelope->data_json);
}

}  // namespace

absl::StatusOr<std::optional<WatchFrame>> ParseWatchFrame(
    absl::string_view message) {
  std::optional<absl::string_view> event;
  std::optional<std::string> data;
  bool any_field = false;
  for (absl::string_view line : absl::StrSplit(message, '\n')) {
    absl::ConsumeSuffix(&line, "\r");
    if (line.empty() || line.front() == ':') continue;  // blank or comment
    any_field = true;
    if (auto v = FieldValue(line, "event")) {
      event = absl::StripAsciiWhitespace(*v);
    } else if (auto v = FieldValue(line, "data")) {
      // SSE joins several data lines with "\n"; JSON does not mind.
      if (data) {
        absl::StrAppend(&*data, "\n", *v);
      } else {
        data = std::string(*v);
      }
    }
  }
  if (!any_field) return std::nullopt;
  if (!event) {
    return absl::DataLossError("watch event: no `event:` line");
  }
  WatchFrame frame;
  if (*event == "update") {
    frame.kind = WatchFrame::Kind::kUpdate;
  } else if (*event == "finalized") {
    frame.kind = WatchFrame::Kind::kFinalized;
  } else {
    return std::nullopt;
  }
  if (!data) {
    return absl::DataLossError(
        absl::StrCat("watch event `", *event, "`: no `data:` line"));
  }
  absl::StatusOr<std::string> json = TaskJson(*data);
  if (!json.ok()) return json.status();
  absl::StatusOr<v1::Task> task = ParseTask(*json);
  if (!task.ok()) {
    return absl::DataLossError(
        absl::StrCat("watch event `", *event, "`: ", task.status().message()));
  }
  frame.task = *std::move(task);
  return frame;
}

}  // namespace triverse::translate
