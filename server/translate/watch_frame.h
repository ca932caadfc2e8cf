// Parsing of the Triverse task-watch WebSocket messages.
//
// One text message carries one SSE-style record (upstream-apis.md §5.1):
//   event: update
//   data: {"task_uuid":"...","status":"RUNNING","progress":42,...}
// Tolerated, because the docs leave them unconfirmed: a trailing blank line
// (or several), CRLF line ends, `data` wrapped in the {code,message,data}
// envelope or bare, extra SSE fields (id:, retry:, comments), and a space
// after the colon or not. Unknown event kinds are not errors: they are
// reported as no frame, so that a new kind upstream never breaks a watch.
#ifndef TRIVERSE_SERVER_TRANSLATE_WATCH_FRAME_H_
#define TRIVERSE_SERVER_TRANSLATE_WATCH_FRAME_H_

#include <optional>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "triverse/v1/task.pb.h"

namespace triverse::translate {

// WatchFrame is one task event pushed by the upstream.
struct WatchFrame {
  enum class Kind { kUpdate, kFinalized };
  Kind kind = Kind::kUpdate;
  // The full task payload (as GET /tasks/{uuid} returns it).
  v1::Task task;
};

// ParseWatchFrame parses one WebSocket text message. nullopt: a record that
// carries no task event (an unknown event kind, an empty or comment-only
// message). Errors: DATA_LOSS naming the problem (no `event:` or `data:`
// line, JSON that is not a task payload, an envelope with a non-zero code).
absl::StatusOr<std::optional<WatchFrame>> ParseWatchFrame(
    absl::string_view message);

}  // namespace triverse::translate

#endif  // TRIVERSE_SERVER_TRANSLATE_WATCH_FRAME_H_
