// Fuzzes every upstream JSON decoder of server/translate/upstream_json.h:
// ParseEnvelope (success and error envelopes), ParseTask, ParseTaskCreation,
// ParsePriceQuote, ParseDownloadUrl, ParseUser, ParseBalance, ParseOwnModel,
// ParseOwnModelsPage and ParseUploadFileKey. The first byte picks the decoder
// (0: the envelope, whose `data` then goes through every payload decoder, as
// the stub does); the rest is the body. Checks, beyond no crash/leak/UB: every
// error is DATA_LOSS; every decoded message serialises and parses back (proto3
// strings must be UTF-8) to an equal message; progress is 0-100; page counts
// are non-negative.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/util/message_differencer.h"
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
  }
}

constexpr int kDecoders = 10;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const int which = data[0] % kDecoders;
  const absl::string_view body(reinterpret_cast<const char*>(data) + 1,
                               size - 1);
  if (which != 0) {
    Decode(which, body);
    return 0;
  }
  absl::StatusOr<tr::Envelope> env = tr::ParseEnvelope(body);
  if (!env.ok()) {
    CheckError(env.status());
    return 0;
  }
  // data_json (the re-serialised `data`) is not checked for being JSON again:
  // RapidJSON's default number parsing is not correctly rounded, so a huge
  // number may come back as DBL_MAX, whose text then parses as out of range;
  // the decoders below then report a clean DATA_LOSS, which is checked.
  for (int i = 1; i < kDecoders; ++i) Decode(i, env->data_json);
  return 0;
}
