// Fuzzes every upstream JSON decoder of server/translate/upstream_json.h:
// ParseEnvelope (success and error envelopes), ParseTask, ParseTaskCreation,
// ParsePriceQuote, ParseDownloadUrl, ParseUser, ParseBalance, ParseOwnModel,
// ParseOwnModelsPage and ParseUploadFileKey; of tripo_json.h:
// ParseTripoEnvelope, ParseTripoTask (and TripoModelUrl on its result),
// ParseTripoTaskId, ParseTripoImageToken, ParseTripoBalance and
// ParseTripoWatchFrame; and of siray_json.h: ParseSirayEnvelope,
// ParseSirayTask, ParseSirayTaskId and ParseSirayErrorBody. The first byte
// picks the decoder (0, 10 and 16: an envelope, whose `data` then goes
// through every payload decoder of its provider, as the stubs do); the rest
// is the body. Checks, beyond no crash/leak/UB: every error is DATA_LOSS;
// every decoded message serialises and parses back (proto3 strings must be
// UTF-8) to an equal message; progress is 0-100; page counts are
// non-negative; ParseSirayErrorBody never fails and returns bounded UTF-8;
// TripoModelUrl gives a URL, NOT_FOUND or FAILED_PRECONDITION.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/util/message_differencer.h"
#include "server/translate/siray_json.h"
#include "server/translate/tripo_json.h"
#include "server/translate/upstream_json.h"

namespace {

namespace tr = triverse::translate;

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "property violated: %s\n", what);
    __builtin_trap();
  }
}

void CheckError(const absl::Status& status) {
  Check(status.code() == absl::StatusCode::kDataLoss,
        "decoder error is not DATA_LOSS");
  Check(!status.message().empty(), "decoder error without a message");
}

// CheckMessage: a decoded message survives the wire (the gateway's reply).
template <typename M>
void CheckMessage(const M& message) {
  std::string wire;
  Check(message.SerializeToString(&wire), "message does not serialise");
  M back;
  Check(back.ParseFromString(wire), "serialised message does not parse");
  Check(google::protobuf::util::MessageDifferencer::Equals(message, back),
        "message changed over the wire");
}

template <typename M>
void CheckResult(const absl::StatusOr<M>& result) {
  if (!result.ok()) return CheckError(result.status());
  CheckMessage(*result);
}

void CheckTask(const absl::StatusOr<triverse::v1::Task>& task) {
  CheckResult(task);
  if (task.ok()) {
    Check(task->progress() >= 0 && task->progress() <= 100,
          "progress outside 0-100");
    Check(!task->task_uuid().empty(), "task without a uuid");
  }
}

void CheckPage(const absl::StatusOr<tr::OwnModelsPage>& page) {
  if (!page.ok()) return CheckError(page.status());
  Check(page->total >= 0 && page->size >= 0 && page->current >= 0 &&
            page->pages >= 0,
        "negative page count");
  for (const auto& m : page->models) CheckMessage(m);
}

// CheckKey: an upload's file_key is non-empty and valid UTF-8 (it goes into
// a proto3 string field).
void CheckKey(const absl::StatusOr<std::string>& key) {
  if (!key.ok()) return CheckError(key.status());
  Check(!key->empty(), "empty file_key accepted");
  triverse::v1::UploadFileResponse response;
  response.set_file_key(*key);
  CheckMessage(response);
}

// CheckId: a provider task id or token is non-empty UTF-8.
void CheckId(const absl::StatusOr<std::string>& id) {
  if (!id.ok()) return CheckError(id.status());
  Check(!id->empty(), "empty id accepted");
  triverse::v1::Task task;
  task.set_task_uuid(*id);
  CheckMessage(task);
}

void CheckTripoTask(const absl::StatusOr<triverse::v1::Task>& task) {
  CheckTask(task);
  if (!task.ok()) return;
  absl::StatusOr<std::string> url = tr::TripoModelUrl(*task);
  if (url.ok()) {
    Check(!url->empty(), "empty model URL");
    Check(task->status() == triverse::v1::TASK_STATUS_SUCCESS,
          "a model URL before SUCCESS");
  } else {
    Check(url.status().code() == absl::StatusCode::kNotFound ||
              url.status().code() == absl::StatusCode::kFailedPrecondition,
          "TripoModelUrl error is not NOT_FOUND or FAILED_PRECONDITION");
  }
  if (task->has_queue() && task->queue().has_position()) {
    Check(task->queue().position() >= 1, "queue position below 1");
  }
  if (task->has_estimated_seconds_left()) {
    Check(task->estimated_seconds_left() >= 0, "negative time left");
  }
}

void CheckWatchFrame(
    const absl::StatusOr<std::optional<tr::WatchFrame>>& frame) {
  if (!frame.ok()) return CheckError(frame.status());
  if (!frame->has_value()) return;
  CheckTripoTask((*frame)->task);
}

// CheckSirayError: never fails, every member bounded and UTF-8.
void CheckSirayError(const tr::SirayError& e) {
  Check(e.message.size() <= 1030 && e.type.size() <= 1030 &&
            e.code.size() <= 1030,
        "unbounded siray error text");
  triverse::v1::TaskError error;
  error.set_message(e.message);
  error.set_suggestion(e.type + e.code);
  CheckMessage(error);
}

void Decode(int which, absl::string_view json) {
  switch (which) {
    case 1:
      CheckTask(tr::ParseTask(json));
      break;
    case 2:
      CheckResult(tr::ParseTaskCreation(json));
      break;
    case 3:
      CheckResult(tr::ParsePriceQuote(json));
      break;
    case 4:
      CheckResult(tr::ParseDownloadUrl(json));
      break;
    case 5:
      CheckResult(tr::ParseUser(json));
      break;
    case 6:
      CheckResult(tr::ParseBalance(json));
      break;
    case 7:
      CheckResult(tr::ParseOwnModel(json));
      break;
    case 8:
      CheckPage(tr::ParseOwnModelsPage(json));
      break;
    case 9:
      CheckKey(tr::ParseUploadFileKey(json));
      break;
    // 10: the Tripo envelope (see below).
    case 11:
      CheckTripoTask(tr::ParseTripoTask(json));
      break;
    case 12:
      CheckId(tr::ParseTripoTaskId(json));
      break;
    case 13:
      CheckId(tr::ParseTripoImageToken(json));
      break;
    case 14:
      CheckResult(tr::ParseTripoBalance(json));
      break;
    case 15:
      CheckWatchFrame(tr::ParseTripoWatchFrame(json));
      break;
    // 16: the Siray envelope (see below).
    case 17:
      CheckTask(tr::ParseSirayTask(json));
      break;
    case 18:
      CheckId(tr::ParseSirayTaskId(json));
      break;
    case 19:
      CheckSirayError(tr::ParseSirayErrorBody(json));
      break;
  }
}

constexpr int kDecoders = 20;

// kTriverseEnvelope, kTripoEnvelope and kSirayEnvelope select the envelopes;
// each provider's payload decoders follow its envelope's selector.
constexpr int kTriverseEnvelope = 0;
constexpr int kTripoEnvelope = 10;
constexpr int kSirayEnvelope = 16;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const int which = data[0] % kDecoders;
  const absl::string_view body(reinterpret_cast<const char*>(data) + 1,
                               size - 1);
  // data_json (the re-serialised `data`) is not checked for being JSON again:
  // RapidJSON's default number parsing is not correctly rounded, so a huge
  // number may come back as DBL_MAX, whose text then parses as out of range;
  // the decoders below then report a clean DATA_LOSS, which is checked.
  switch (which) {
    case kTriverseEnvelope: {
      absl::StatusOr<tr::Envelope> env = tr::ParseEnvelope(body);
      if (!env.ok()) {
        CheckError(env.status());
        return 0;
      }
      for (int i = 1; i < kTripoEnvelope; ++i) Decode(i, env->data_json);
      return 0;
    }
    case kTripoEnvelope: {
      absl::StatusOr<tr::TripoEnvelope> env = tr::ParseTripoEnvelope(body);
      if (!env.ok()) {
        CheckError(env.status());
        return 0;
      }
      for (int i = kTripoEnvelope + 1; i < kSirayEnvelope; ++i) {
        Decode(i, env->data_json);
      }
      return 0;
    }
    case kSirayEnvelope: {
      // An error response goes through the error-body reader too.
      CheckSirayError(tr::ParseSirayErrorBody(body));
      absl::StatusOr<tr::SirayEnvelope> env = tr::ParseSirayEnvelope(body);
      if (!env.ok()) {
        CheckError(env.status());
        return 0;
      }
      for (int i = kSirayEnvelope + 1; i < kDecoders; ++i) {
        Decode(i, env->data_json);
      }
      return 0;
    }
    default:
      Decode(which, body);
      return 0;
  }
}
