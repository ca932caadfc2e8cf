// Fuzzes ParseWatchFrame (server/translate/watch_frame.h), the parser of one
// upstream watch WebSocket text message. Checks, beyond no crash/leak/UB:
// every error is DATA_LOSS; a parsed frame carries a task with a uuid and a
// known status, progress 0-100, that serialises and parses back unchanged;
// and the same record with CRLF line ends (LF-only input) parses to the
// same result.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/util/message_differencer.h"
#include "server/translate/watch_frame.h"

namespace {

namespace tr = triverse::translate;

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "property violated: %s\n", what);
    __builtin_trap();
  }
}

bool SameResult(const absl::StatusOr<std::optional<tr::WatchFrame>>& a,
                const absl::StatusOr<std::optional<tr::WatchFrame>>& b) {
  if (a.ok() != b.ok()) return false;
  if (!a.ok()) return a.status().code() == b.status().code();
  if (a->has_value() != b->has_value()) return false;
  if (!a->has_value()) return true;
  return (*a)->kind == (*b)->kind &&
         google::protobuf::util::MessageDifferencer::Equals((*a)->task,
                                                            (*b)->task);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view message(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<std::optional<tr::WatchFrame>> frame =
      tr::ParseWatchFrame(message);
  if (message.find('\r') == absl::string_view::npos &&
      message.find('\n') != absl::string_view::npos) {
    const std::string crlf = absl::StrReplaceAll(message, {{"\n", "\r\n"}});
    Check(SameResult(frame, tr::ParseWatchFrame(crlf)),
          "CRLF line ends parse differently");
  }
  if (!frame.ok()) {
    Check(frame.status().code() == absl::StatusCode::kDataLoss,
          "error is not DATA_LOSS");
    return 0;
  }
  if (!frame->has_value()) return 0;
  const triverse::v1::Task& task = (*frame)->task;
  Check(!task.task_uuid().empty(), "frame task without a uuid");
  Check(task.status() != triverse::v1::TASK_STATUS_UNSPECIFIED,
        "frame task without a status");
  Check(task.progress() >= 0 && task.progress() <= 100,
        "progress outside 0-100");
  std::string wire;
  Check(task.SerializeToString(&wire), "task does not serialise");
  triverse::v1::Task back;
  Check(back.ParseFromString(wire), "serialised task does not parse");
  Check(google::protobuf::util::MessageDifferencer::Equals(task, back),
        "task changed over the wire");
  return 0;
}
