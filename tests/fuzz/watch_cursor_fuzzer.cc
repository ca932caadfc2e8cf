// Fuzzes the watch resume cursor (server/service/watch_calls.h): DecodeCursor
// on arbitrary text, and EncodeCursor on arbitrary cursors. Checks, beyond no
// crash/leak/UB: an error is INVALID_ARGUMENT; a decoded cursor re-encodes
// to a cursor that decodes to the same fields; EncodeCursor's output is
// URL-safe (base64url), at most 256 characters (what DecodeCursor accepts),
// and decodes back to the cursor it encoded.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/service/watch_calls.h"

namespace {

using triverse::service::DecodeCursor;
using triverse::service::EncodeCursor;
using triverse::service::WatchCursor;

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "property violated: %s\n", what);
    __builtin_trap();
  }
}

bool Same(const WatchCursor& a, const WatchCursor& b) {
  return a.epoch == b.epoch && a.seq == b.seq && a.observed == b.observed &&
         a.status == b.status && a.progress == b.progress;
}

void CheckEncoded(const WatchCursor& cursor) {
  const std::string text = EncodeCursor(cursor);
  Check(!text.empty() && text.size() <= 256, "cursor length");
  for (const char c : text) {
    Check(absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' ||
              c == '_',
          "cursor is not base64url");
  }
  absl::StatusOr<WatchCursor> back = DecodeCursor(text);
  Check(back.ok(), "an encoded cursor does not decode");
  Check(Same(cursor, *back), "cursor changed over encode/decode");
}

template <typename T>
T Take(const uint8_t*& data, size_t& size) {
  T value{};
  const size_t n = size < sizeof(T) ? size : sizeof(T);
  std::memcpy(&value, data, n);
  data += n;
  size -= n;
  return value;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<WatchCursor> decoded = DecodeCursor(text);
  if (decoded.ok()) {
    CheckEncoded(*decoded);
  } else {
    Check(decoded.status().code() == absl::StatusCode::kInvalidArgument,
          "error is not INVALID_ARGUMENT");
  }
  // The same bytes as a cursor's fields, as a hub would fill them in.
  WatchCursor c;
  c.epoch = Take<uint64_t>(data, size);
  c.seq = Take<uint64_t>(data, size);
  c.observed = absl::FromUnixMicros(Take<int64_t>(data, size));
  const uint8_t status = Take<uint8_t>(data, size);
  if (!triverse::v1::TaskStatus_IsValid(status)) return 0;
  c.status = static_cast<triverse::v1::TaskStatus>(status);
  c.progress = Take<int32_t>(data, size);
  CheckEncoded(c);
  return 0;
}
