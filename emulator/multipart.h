// Parsing of multipart/form-data request bodies (RFC 7578) for the upload
// endpoints.
#ifndef TRIVERSE_EMULATOR_MULTIPART_H_
#define TRIVERSE_EMULATOR_MULTIPART_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace triverse::emulator {

// MultipartPart is one part of a multipart/form-data body. `data` points into
// the body passed to ParseMultipart and is valid as long as that body is.
struct MultipartPart {
  std::string name;          // from Content-Disposition: form-data; name="..."
  std::string filename;      // from filename="..." (empty when absent)
  std::string content_type;  // the part's Content-Type, lower-cased, without
                             // parameters; empty when the part has none
  std::string_view data;
};

// BoundaryFromContentType returns the boundary parameter of a
// `multipart/form-data; boundary=...` Content-Type header value (quoted or
// not). Returns INVALID_ARGUMENT when the media type is not
// multipart/form-data or the boundary is missing or longer than 70 chars.
absl::StatusOr<std::string> BoundaryFromContentType(
    std::string_view content_type);

// ParseMultipart splits `body` into its parts. Tolerates CRLF or bare LF line
// ends in part headers, a preamble and an epilogue. Returns INVALID_ARGUMENT
// naming the problem for a missing closing delimiter, a part without a
// Content-Disposition form-data header, or malformed headers. Never copies
// part contents.
absl::StatusOr<std::vector<MultipartPart>> ParseMultipart(
    std::string_view content_type, std::string_view body);

}  // namespace triverse::emulator

#endif  // TRIVERSE_EMULATOR_MULTIPART_H_
