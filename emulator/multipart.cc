#include "emulator/multipart.h"

#include <algorithm>
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace triverse::emulator {
namespace {

// RFC 2046 section 5.1.1: a boundary is 1 to 70 characters.
constexpr size_t kMaxBoundaryLength = 70;
// Limits that keep hostile bodies from costing much before they are rejected.
constexpr size_t kMaxParts = 100;
constexpr size_t kMaxHeaderBlockBytes = 16 * 1024;

// The Debian build of Abseil has its own absl::string_view (not an alias of
// std::string_view); these convert without copying either way.
absl::string_view Av(std::string_view s) {
  return absl::string_view(s.data(), s.size());
}
std::string_view Sv(absl::string_view s) {
  return std::string_view(s.data(), s.size());
}

std::string_view Strip(std::string_view s) {
  return Sv(absl::StripAsciiWhitespace(Av(s)));
}

bool IsLinearWhitespace(char c) { return c == ' ' || c == '\t'; }

// Quoted returns `s` in double quotes for an error message, cut short so that
// a hostile request cannot make the message arbitrarily long.
std::string Quoted(std::string_view s) {
  constexpr size_t kMaxQuoted = 64;
  if (s.size() <= kMaxQuoted) return absl::StrCat("\"", Av(s), "\"");
  return absl::StrCat("\"", Av(s.substr(0, kMaxQuoted)), "...\"");
}

// A header value of the form `value; name=param; name="quoted param"`, as in
// Content-Type (RFC 2045) and Content-Disposition (RFC 2183 / RFC 7578).
struct HeaderValue {
  std::string_view value;  // the part before the first ';', stripped
  // Parameter names are lower-cased; values are unquoted and unescaped.
  std::vector<std::pair<std::string, std::string>> params;

  const std::string* Param(std::string_view name) const {
    for (const auto& [param_name, param_value] : params) {
      if (param_name == name) return &param_value;
    }
    return nullptr;
  }
};

// ParseHeaderValue splits `s` into its leading value and its parameters.
// `what` names the header in error messages. Parameters without '=' are
// ignored. In quoted strings, \" and \\ are unescaped; any other backslash is
// kept as is, so that unescaped Windows paths ("C:\dir\a.png", as some
// browsers send them) survive.
absl::StatusOr<HeaderValue> ParseHeaderValue(std::string_view s,
                                             std::string_view what) {
  HeaderValue result;
  size_t pos = s.find(';');
  result.value = Strip(s.substr(0, pos));
  while (pos < s.size()) {
    if (s[pos] == ';' ||
        absl::ascii_isspace(static_cast<unsigned char>(s[pos]))) {
      ++pos;
      continue;
    }
    const size_t name_end = s.find_first_of("=;", pos);
    if (name_end == std::string_view::npos || s[name_end] == ';') {
      pos = name_end;  // a parameter without a value: ignored
      continue;
    }
    std::string name =
        absl::AsciiStrToLower(Av(Strip(s.substr(pos, name_end - pos))));
    pos = name_end + 1;
    while (pos < s.size() && IsLinearWhitespace(s[pos])) ++pos;
    std::string value;
    if (pos < s.size() && s[pos] == '"') {
      ++pos;
      bool closed = false;
      while (pos < s.size()) {
        const char c = s[pos];
        if (c == '"') {
          closed = true;
          ++pos;
          break;
        }
        if (c == '\\' && pos + 1 < s.size() &&
            (s[pos + 1] == '"' || s[pos + 1] == '\\')) {
          value.push_back(s[pos + 1]);
          pos += 2;
          continue;
        }
        value.push_back(c);
        ++pos;
      }
      if (!closed) {
        return absl::InvalidArgumentError(
            absl::StrCat("unterminated quoted string in ", Av(what),
                         " parameter \"", name, "\""));
      }
      while (pos < s.size() && IsLinearWhitespace(s[pos])) ++pos;
      if (pos < s.size() && s[pos] != ';') {
        return absl::InvalidArgumentError(
            absl::StrCat("unexpected characters after quoted string in ",
                         Av(what), " parameter \"", name, "\""));
      }
    } else {
      const size_t value_end = std::min(s.find(';', pos), s.size());
      value = std::string(Strip(s.substr(pos, value_end - pos)));
      pos = value_end;
    }
    if (name.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("parameter without a name in ", Av(what)));
    }
    if (result.Param(name) != nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("duplicate parameter \"", name, "\" in ", Av(what)));
    }
    result.params.emplace_back(std::move(name), std::move(value));
  }
  return result;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// DecodeExtValue decodes an RFC 8187 ext-value (`UTF-8'lang'%E2%82%AC.png`)
// into UTF-8. Returns false for an unsupported charset or bad encoding.
bool DecodeExtValue(std::string_view ext_value, std::string* out) {
  const size_t first_quote = ext_value.find('\'');
  if (first_quote == std::string_view::npos) return false;
  const size_t second_quote = ext_value.find('\'', first_quote + 1);
  if (second_quote == std::string_view::npos) return false;
  const std::string_view charset = ext_value.substr(0, first_quote);
  const bool latin1 = absl::EqualsIgnoreCase(Av(charset), "iso-8859-1");
  if (!latin1 && !absl::EqualsIgnoreCase(Av(charset), "utf-8")) return false;
  const std::string_view encoded = ext_value.substr(second_quote + 1);
  std::string decoded;
  decoded.reserve(encoded.size());
  for (size_t i = 0; i < encoded.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(encoded[i]);
    if (c == '%') {
      if (i + 2 >= encoded.size()) return false;
      const int high = HexValue(encoded[i + 1]);
      const int low = HexValue(encoded[i + 2]);
      if (high < 0 || low < 0) return false;
      c = static_cast<unsigned char>(high * 16 + low);
      i += 2;
    }
    if (latin1 && c >= 0x80) {
      decoded.push_back(static_cast<char>(0xC0 | (c >> 6)));
      decoded.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    } else {
      decoded.push_back(static_cast<char>(c));
    }
  }
  *out = std::move(decoded);
  return true;
}

bool IsValidBoundary(std::string_view boundary) {
  if (boundary.empty() || boundary.size() > kMaxBoundaryLength) return false;
  // RFC 2046 allows a restricted set of printable characters; anything
  // outside printable ASCII (notably CR and LF) would make the delimiter
  // line ambiguous. A trailing space is not allowed either.
  for (const char c : boundary) {
    if (c < 0x20 || c > 0x7E) return false;
  }
  return boundary.back() != ' ';
}

// What follows an occurrence of "--boundary" in the body.
enum class DelimiterKind { kNone, kPart, kClose };

// ClassifyDelimiter looks at the bytes right after "--boundary" (starting at
// `pos`). A delimiter is followed by optional linear whitespace and a line end
// (then a part follows, starting at *next), a close delimiter by "--".
// Anything else (e.g. "--boundaryX") is not a delimiter at all.
DelimiterKind ClassifyDelimiter(std::string_view body, size_t pos,
                                size_t* next) {
  if (body.substr(pos, 2) == "--") return DelimiterKind::kClose;
  while (pos < body.size() && IsLinearWhitespace(body[pos])) ++pos;
  if (body.substr(pos, 2) == "\r\n") {
    *next = pos + 2;
    return DelimiterKind::kPart;
  }
  if (body.substr(pos, 1) == "\n") {
    *next = pos + 1;
    return DelimiterKind::kPart;
  }
  return DelimiterKind::kNone;
}

class Parser {
 public:
  Parser(std::string_view body, std::string_view boundary)
      : body_(body),
        delimiter_(absl::StrCat("--", Av(boundary))),
        line_delimiter_(absl::StrCat("\n", delimiter_)),
        searcher_(line_delimiter_.data(),
                  line_delimiter_.data() + line_delimiter_.size()) {}

  Parser(const Parser&) = delete;
  Parser& operator=(const Parser&) = delete;

  absl::StatusOr<std::vector<MultipartPart>> Parse() const {
    std::vector<MultipartPart> parts;
    size_t pos = 0;
    DelimiterKind kind = FindOpeningDelimiter(&pos);
    if (kind == DelimiterKind::kNone) {
      return absl::InvalidArgumentError(absl::StrCat(
          "multipart body has no opening delimiter \"", delimiter_, "\""));
    }
    while (kind == DelimiterKind::kPart) {
      if (parts.size() == kMaxParts) {
        return absl::InvalidArgumentError(
            absl::StrCat("multipart body has more than ", kMaxParts, " parts"));
      }
      MultipartPart& part = parts.emplace_back();
      const std::string where = absl::StrCat("multipart part ", parts.size());
      absl::StatusOr<size_t> data_start = ParseHeaders(pos, where, &part);
      if (!data_start.ok()) return data_start.status();
      // The data ends right before the (CR)LF of the next delimiter line. The
      // search starts at the blank line's LF: RFC 2046 makes the CRLF that
      // would start the content optional, so in "...\r\n\r\n--boundary" the
      // delimiter shares the blank line's CRLF and the part is empty.
      size_t match = *data_start - 1;
      while (true) {
        match = Find(match);
        if (match == std::string_view::npos) {
          return absl::InvalidArgumentError(
              absl::StrCat(where, ": missing closing delimiter \"", delimiter_,
                           "--\" (truncated body?)"));
        }
        kind = ClassifyDelimiter(body_, match + line_delimiter_.size(), &pos);
        if (kind != DelimiterKind::kNone) break;
        ++match;
      }
      size_t data_end = match;
      if (data_end > *data_start && body_[data_end - 1] == '\r') --data_end;
      data_end = std::max(data_end, *data_start);
      part.data = body_.substr(*data_start, data_end - *data_start);
    }
    return parts;  // after the close delimiter: the epilogue, ignored
  }

 private:
  // Find returns the position of the next "\n--boundary" at or after `from`.
  size_t Find(size_t from) const {
    if (from >= body_.size()) return std::string_view::npos;
    const char* const end = body_.data() + body_.size();
    const char* const found = searcher_(body_.data() + from, end).first;
    return found == end ? std::string_view::npos
                        : static_cast<size_t>(found - body_.data());
  }

  // FindOpeningDelimiter skips the preamble: the first delimiter is at the
  // start of the body or of a line.
  DelimiterKind FindOpeningDelimiter(size_t* next) const {
    if (body_.substr(0, delimiter_.size()) == delimiter_) {
      const DelimiterKind kind =
          ClassifyDelimiter(body_, delimiter_.size(), next);
      if (kind != DelimiterKind::kNone) return kind;
    }
    for (size_t match = Find(0); match != std::string_view::npos;
         match = Find(match + 1)) {
      const DelimiterKind kind =
          ClassifyDelimiter(body_, match + line_delimiter_.size(), next);
      if (kind != DelimiterKind::kNone) return kind;
    }
    return DelimiterKind::kNone;
  }

  // ParseHeaders parses the header block of a part starting at `pos` and fills
  // in the part's name, filename and content type. Returns the position right
  // after the blank line ending the block.
  absl::StatusOr<size_t> ParseHeaders(size_t pos, const std::string& where,
                                      MultipartPart* part) const {
    const size_t limit = std::min(body_.size(), pos + kMaxHeaderBlockBytes);
    struct Header {
      std::string_view name;
      std::string value;
    };
    std::vector<Header> headers;
    while (true) {
      const size_t newline =
          body_.substr(0, limit).find('\n', std::min(pos, limit));
      if (newline == std::string_view::npos) {
        if (limit < body_.size()) {
          return absl::InvalidArgumentError(
              absl::StrCat(where, ": header block exceeds ",
                           kMaxHeaderBlockBytes, " bytes"));
        }
        return absl::InvalidArgumentError(absl::StrCat(
            where, ": header block is not terminated by a blank line"));
      }
      std::string_view line = body_.substr(pos, newline - pos);
      pos = newline + 1;
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (line.empty()) break;
      if (line.substr(0, delimiter_.size()) == delimiter_) {
        return absl::InvalidArgumentError(absl::StrCat(
            where, ": header block is not terminated by a blank line"));
      }
      if (IsLinearWhitespace(line.front()) && !headers.empty()) {
        // Obsolete line folding: a continuation of the previous header.
        absl::StrAppend(&headers.back().value, " ", Av(Strip(line)));
        continue;
      }
      const size_t colon = line.find(':');
      if (colon == std::string_view::npos) {
        return absl::InvalidArgumentError(absl::StrCat(
            where, ": header line without a colon: ", Quoted(line)));
      }
      const std::string_view name = Strip(line.substr(0, colon));
      if (name.empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ": header line with an empty name"));
      }
      headers.push_back({name, std::string(Strip(line.substr(colon + 1)))});
    }

    const Header* disposition = nullptr;
    const Header* content_type = nullptr;
    for (const Header& header : headers) {
      const Header** slot = nullptr;
      if (absl::EqualsIgnoreCase(Av(header.name), "content-disposition")) {
        slot = &disposition;
      } else if (absl::EqualsIgnoreCase(Av(header.name), "content-type")) {
        slot = &content_type;
      } else {
        continue;
      }
      if (*slot != nullptr) {
        return absl::InvalidArgumentError(absl::StrCat(
            where, ": duplicate ", Quoted(header.name), " header"));
      }
      *slot = &header;
    }

    if (disposition == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": no Content-Disposition header"));
    }
    absl::StatusOr<HeaderValue> parsed =
        ParseHeaderValue(disposition->value, "Content-Disposition");
    if (!parsed.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": ", parsed.status().message()));
    }
    if (!absl::EqualsIgnoreCase(Av(parsed->value), "form-data")) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": Content-Disposition is ",
                       Quoted(parsed->value), ", not form-data"));
    }
    const std::string* name = parsed->Param("name");
    if (name == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": Content-Disposition has no name parameter"));
    }
    part->name = *name;
    const std::string* ext_filename = parsed->Param("filename*");
    if (ext_filename == nullptr ||
        !DecodeExtValue(*ext_filename, &part->filename)) {
      if (const std::string* filename = parsed->Param("filename")) {
        part->filename = *filename;
      }
    }
    if (content_type != nullptr) {
      const std::string_view value = content_type->value;
      part->content_type =
          absl::AsciiStrToLower(Av(Strip(value.substr(0, value.find(';')))));
    }
    return pos;
  }

  const std::string_view body_;
  const std::string delimiter_;       // "--boundary"
  const std::string line_delimiter_;  // "\n--boundary"
  const std::boyer_moore_horspool_searcher<const char*> searcher_;
};

}  // namespace

absl::StatusOr<std::string> BoundaryFromContentType(
    std::string_view content_type) {
  absl::StatusOr<HeaderValue> parsed =
      ParseHeaderValue(content_type, "Content-Type");
  if (!parsed.ok()) return parsed.status();
  if (!absl::EqualsIgnoreCase(Av(parsed->value), "multipart/form-data")) {
    return absl::InvalidArgumentError(
        absl::StrCat("Content-Type is ", Quoted(parsed->value),
                     ", not multipart/form-data"));
  }
  const std::string* boundary = parsed->Param("boundary");
  if (boundary == nullptr) {
    return absl::InvalidArgumentError(
        "multipart/form-data Content-Type has no boundary parameter");
  }
  if (boundary->empty()) {
    return absl::InvalidArgumentError(
        "multipart/form-data Content-Type has an empty boundary");
  }
  if (boundary->size() > kMaxBoundaryLength) {
    return absl::InvalidArgumentError(
        absl::StrCat("multipart boundary is ", boundary->size(),
                     " characters long, over ", kMaxBoundaryLength));
  }
  if (!IsValidBoundary(*boundary)) {
    return absl::InvalidArgumentError(
        "multipart boundary contains invalid characters");
  }
  return *boundary;
}

absl::StatusOr<std::vector<MultipartPart>> ParseMultipart(
    std::string_view content_type, std::string_view body) {
  absl::StatusOr<std::string> boundary = BoundaryFromContentType(content_type);
  if (!boundary.ok()) return boundary.status();
  return Parser(body, *boundary).Parse();
}

}  // namespace triverse::emulator
