#include "emulator/multipart.h"

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace triverse::emulator {
namespace {

using std::string_literals::operator""s;

// absl::StrCat in the Debian build of Abseil takes std::string, not
// std::string_view.
const std::string kCurlBoundary = "------------------------d74496d66958873e";

std::string CurlContentType() {
  return absl::StrCat("multipart/form-data; boundary=", kCurlBoundary);
}

// The first bytes of a PNG file: they contain CR LF, LF, SUB and NUL.
const std::string kPngBytes =
    "\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x02\0\0\0"s;

// Expects `result` to be an INVALID_ARGUMENT error whose message contains
// `needle`.
template <typename T>
void ExpectInvalid(const absl::StatusOr<T>& result, std::string_view needle) {
  ASSERT_FALSE(result.ok()) << "expected an error containing: " << needle;
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument)
      << result.status();
  EXPECT_NE(std::string(result.status().message()).find(needle),
            std::string::npos)
      << "message \"" << result.status().message() << "\" lacks \"" << needle
      << "\"";
}

// --- BoundaryFromContentType ---

TEST(BoundaryFromContentTypeTest, Unquoted) {
  absl::StatusOr<std::string> boundary =
      BoundaryFromContentType("multipart/form-data; boundary=abc123");
  ASSERT_TRUE(boundary.ok()) << boundary.status();
  EXPECT_EQ(*boundary, "abc123");
}

TEST(BoundaryFromContentTypeTest, CurlStyle) {
  absl::StatusOr<std::string> boundary =
      BoundaryFromContentType(CurlContentType());
  ASSERT_TRUE(boundary.ok()) << boundary.status();
  EXPECT_EQ(*boundary, kCurlBoundary);
}

TEST(BoundaryFromContentTypeTest, Quoted) {
  absl::StatusOr<std::string> boundary = BoundaryFromContentType(
      "multipart/form-data; boundary=\"simple boundary:=?\"");
  ASSERT_TRUE(boundary.ok()) << boundary.status();
  EXPECT_EQ(*boundary, "simple boundary:=?");
}

TEST(BoundaryFromContentTypeTest, CaseInsensitiveAndWhitespace) {
  absl::StatusOr<std::string> boundary = BoundaryFromContentType(
      "  Multipart/Form-Data ;charset=utf-8;  BOUNDARY = xyz ;  ");
  ASSERT_TRUE(boundary.ok()) << boundary.status();
  EXPECT_EQ(*boundary, "xyz");
}

TEST(BoundaryFromContentTypeTest, OtherQuotedParameterWithSemicolon) {
  absl::StatusOr<std::string> boundary = BoundaryFromContentType(
      "multipart/form-data; foo=\"a;boundary=wrong\"; boundary=right");
  ASSERT_TRUE(boundary.ok()) << boundary.status();
  EXPECT_EQ(*boundary, "right");
}

TEST(BoundaryFromContentTypeTest, SeventyCharactersAccepted) {
  const std::string seventy(70, 'b');
  absl::StatusOr<std::string> boundary =
      BoundaryFromContentType("multipart/form-data; boundary=" + seventy);
  ASSERT_TRUE(boundary.ok()) << boundary.status();
  EXPECT_EQ(*boundary, seventy);
}

TEST(BoundaryFromContentTypeTest, Errors) {
  ExpectInvalid(BoundaryFromContentType("application/json"),
                "not multipart/form-data");
  ExpectInvalid(BoundaryFromContentType("multipart/mixed; boundary=abc"),
                "not multipart/form-data");
  ExpectInvalid(BoundaryFromContentType(""), "not multipart/form-data");
  ExpectInvalid(BoundaryFromContentType("multipart/form-data"),
                "no boundary parameter");
  ExpectInvalid(BoundaryFromContentType("multipart/form-data; charset=utf-8"),
                "no boundary parameter");
  ExpectInvalid(BoundaryFromContentType("multipart/form-data; boundary="),
                "empty boundary");
  ExpectInvalid(BoundaryFromContentType("multipart/form-data; boundary=\"\""),
                "empty boundary");
  ExpectInvalid(BoundaryFromContentType("multipart/form-data; boundary=" +
                                        std::string(71, 'b')),
                "71 characters");
  ExpectInvalid(BoundaryFromContentType("multipart/form-data; boundary=\"abc"),
                "unterminated quoted string");
  ExpectInvalid(
      BoundaryFromContentType("multipart/form-data; boundary=\"a\nb\""),
      "invalid characters");
  ExpectInvalid(
      BoundaryFromContentType("multipart/form-data; boundary=a; boundary=b"),
      "duplicate parameter \"boundary\"");
}

TEST(BoundaryFromContentTypeTest, LongValueIsCutShortInMessage) {
  absl::StatusOr<std::string> boundary =
      BoundaryFromContentType(std::string(100000, 'x'));
  ExpectInvalid(boundary, "not multipart/form-data");
  EXPECT_LT(boundary.status().message().size(), 200u);
}

// --- ParseMultipart ---

TEST(ParseMultipartTest, CurlFileUpload) {
  // What `curl -F file=@x.png;type=image/png` sends.
  const std::string body = absl::StrCat(
      "--", kCurlBoundary,
      "\r\n"
      "Content-Disposition: form-data; name=\"file\"; filename=\"x.png\"\r\n"
      "Content-Type: image/png\r\n"
      "\r\n",
      kPngBytes, "\r\n--", kCurlBoundary, "--\r\n");
  absl::StatusOr<std::vector<MultipartPart>> parts =
      ParseMultipart(CurlContentType(), body);
  ASSERT_TRUE(parts.ok()) << parts.status();
  ASSERT_EQ(parts->size(), 1u);
  const MultipartPart& part = (*parts)[0];
  EXPECT_EQ(part.name, "file");
  EXPECT_EQ(part.filename, "x.png");
  EXPECT_EQ(part.content_type, "image/png");
  EXPECT_EQ(part.data, kPngBytes);
  EXPECT_EQ(part.data.size(), kPngBytes.size());
  EXPECT_EQ(part.data.data(), body.data() + body.find(kPngBytes));
}

TEST(ParseMultipartTest, TextFieldAndFile) {
  const std::string body = absl::StrCat(
      "--XyZ\r\n"
      "Content-Disposition: form-data; name=\"prompt\"\r\n"
      "\r\n"
      "a red chair\r\n"
      "--XyZ\r\n"
      "Content-Disposition: form-data; name=\"image\"; "
      "filename=\"chair.png\"\r\n"
      "Content-Type: Image/PNG; charset=binary\r\n"
      "\r\n",
      kPngBytes,
      "\r\n"
      "--XyZ--\r\n");
  absl::StatusOr<std::vector<MultipartPart>> parts =
      ParseMultipart("multipart/form-data; boundary=XyZ", body);
  ASSERT_TRUE(parts.ok()) << parts.status();
  ASSERT_EQ(parts->size(), 2u);
  EXPECT_EQ((*parts)[0].name, "prompt");
  EXPECT_EQ((*parts)[0].filename, "");
  EXPECT_EQ((*parts)[0].content_type, "");
  EXPECT_EQ((*parts)[0].data, "a red chair");
  EXPECT_EQ((*parts)[1].name, "image");
  EXPECT_EQ((*parts)[1].filename, "chair.png");
  EXPECT_EQ((*parts)[1].content_type, "image/png");
  EXPECT_EQ((*parts)[1].data, kPngBytes);
}

TEST(ParseMultipartTest, BinaryDataWithLineEndsDashesAndPartialBoundaries) {
  // None of these is a delimiter: the boundary is cut short, followed by
  // other characters, not at the start of a line, or only "--" at a line
  // start.
  const std::string data =
      "\r\n--\r\n"
      "\r\n--bound\r\n"
      "\r\n--boundar\r\n"
      "\r\n--boundaryX\r\n"
      "\r\n--boundary-x\r\n"
      "x--boundary\r\n"
      "--\0\xff\r\r\n\n\r"s;
  const std::string body = absl::StrCat(
      "--boundary\r\n"
      "Content-Disposition: form-data; name=\"blob\"\r\n"
      "Content-Type: application/octet-stream\r\n"
      "\r\n",
      data, "\r\n--boundary--\r\n");
  absl::StatusOr<std::vector<MultipartPart>> parts =
      ParseMultipart("multipart/form-data; boundary=boundary", body);
  ASSERT_TRUE(parts.ok()) << parts.status();
  ASSERT_EQ(parts->size(), 1u);
  EXPECT_EQ((*parts)[0].data, data);
  EXPECT_EQ((*parts)[0].content_type, "application/octet-stream");
}

TEST(ParseMultipartTest, EmptyPartsAndEmptyForm) {
  absl::StatusOr<std::vector<MultipartPart>> parts =
      ParseMultipart("multipart/form-data; boundary=b",
                     "--b\r\n"
                     "Content-Disposition: form-data; name=\"a\"\r\n"
                     "\r\n"
                     "\r\n"
                     "--b\r\n"
                     // RFC 2046 makes the CRLF before the (empty) content
                     // optional: the delimiter shares the blank line's CRLF.
                     "Content-Disposition: form-data; name=\"b\"\r\n"
                     "\r\n"
                     "--b--\r\n");
  ASSERT_TRUE(parts.ok()) << parts.status();
  ASSERT_EQ(parts->size(), 2u);
  EXPECT_EQ((*parts)[0].name, "a");
  EXPECT_TRUE((*parts)[0].data.empty());
  EXPECT_EQ((*parts)[1].name, "b");
  EXPECT_TRUE((*parts)[1].data.empty());

  parts = ParseMultipart("multipart/form-data; boundary=b", "--b--\r\n");
  ASSERT_TRUE(parts.ok()) << parts.status();
  EXPECT_TRUE(parts->empty());
}

TEST(ParseMultipartTest, QuotedBoundary) {
  const std::string body =
      "--my boundary:1\r\n"
      "Content-Disposition: form-data; name=\"x\"\r\n"
      "\r\n"
      "value\r\n"
      "--my boundary:1--";
  absl::StatusOr<std::vector<MultipartPart>> parts =
      ParseMultipart("multipart/form-data; boundary=\"my boundary:1\"", body);
  ASSERT_TRUE(parts.ok()) << parts.status();
  ASSERT_EQ(parts->size(), 1u);
  EXPECT_EQ((*parts)[0].name, "x");
  EXPECT_EQ((*parts)[0].data, "value");
}

TEST(ParseMultipartTest, PreambleAndEpilogue) {
  const std::string body =
      "This is the preamble. It mentions --b-not-a-delimiter and\r\n"
      " --b indented, which is not a delimiter either.\r\n"
      "--b  \t\r\n"  // transport padding after the delimiter
      "Content-Disposition: form-data; name=\"field\"\r\n"
      "\r\n"
      "payload\r\n"
      "--b--\r\n"
      "This is the epilogue.\r\n"
      "--b\r\n"
      "garbage without headers\r\n";
  absl::StatusOr<std::vector<MultipartPart>> parts =
      ParseMultipart("multipart/form-data; boundary=b", body);
  ASSERT_TRUE(parts.ok()) << parts.status();
  ASSERT_EQ(parts->size(), 1u);
  EXPECT_EQ((*parts)[0].name, "field");
  EXPECT_EQ((*parts)[0].data, "payload");
}

TEST(ParseMultipartTest, BareLineFeeds) {
  const std::string body =
      "--b\n"
      "Content-Disposition: form-data; name=\"one\"\n"
      "\n"
      "first\n"
      "--b\n"
      "content-disposition: form-data; name=\"two\"\r\n"  // mixed line ends
      "content-type: text/plain\n"
      "\n"
      "second\nline\n"
      "--b--\n";
  absl::StatusOr<std::vector<MultipartPart>> parts =
      ParseMultipart("multipart/form-data; boundary=b", body);
  ASSERT_TRUE(parts.ok()) << parts.status();
  ASSERT_EQ(parts->size(), 2u);
  EXPECT_EQ((*parts)[0].name, "one");
  EXPECT_EQ((*parts)[0].data, "first");
  EXPECT_EQ((*parts)[1].name, "two");
  EXPECT_EQ((*parts)[1].content_type, "text/plain");
  EXPECT_EQ((*parts)[1].data, "second\nline");
}

TEST(ParseMultipartTest, HeaderNamesAndParametersAreCaseInsensitive) {
  const std::string body =
      "--b\r\n"
      "X-Other: ignored\r\n"
      "CONTENT-DISPOSITION: Form-Data; NAME=plain; FileName=\"a.obj\"\r\n"
      "CONTENT-TYPE: Model/OBJ\r\n"
      "\r\n"
      "v 0 0 0\r\n"
      "--b--\r\n";
  absl::StatusOr<std::vector<MultipartPart>> parts =
      ParseMultipart("multipart/form-data; boundary=b", body);
  ASSERT_TRUE(parts.ok()) << parts.status();
  ASSERT_EQ(parts->size(), 1u);
  EXPECT_EQ((*parts)[0].name, "plain");
  EXPECT_EQ((*parts)[0].filename, "a.obj");
  EXPECT_EQ((*parts)[0].content_type, "model/obj");
  EXPECT_EQ((*parts)[0].data, "v 0 0 0");
}

TEST(ParseMultipartTest, FoldedHeader) {
  const std::string body =
      "--b\r\n"
      "Content-Disposition: form-data;\r\n"
      "\tname=\"folded\"\r\n"
      "\r\n"
      "v\r\n"
      "--b--\r\n";
  absl::StatusOr<std::vector<MultipartPart>> parts =
      ParseMultipart("multipart/form-data; boundary=b", body);
  ASSERT_TRUE(parts.ok()) << parts.status();
  ASSERT_EQ(parts->size(), 1u);
  EXPECT_EQ((*parts)[0].name, "folded");
}

// Parses a one-part body whose Content-Disposition parameters are `params`
// and returns the filename.
std::string FilenameOf(const std::string& params) {
  const std::string body =
      absl::StrCat("--b\r\nContent-Disposition: form-data; name=\"f\"; ",
                   params, "\r\n\r\nx\r\n--b--\r\n");
  absl::StatusOr<std::vector<MultipartPart>> parts =
      ParseMultipart("multipart/form-data; boundary=b", body);
  if (!parts.ok()) return absl::StrCat("error: ", parts.status().message());
  if (parts->size() != 1) return "error: wrong part count";
  return (*parts)[0].filename;
}

TEST(ParseMultipartTest, FilenameEscapes) {
  EXPECT_EQ(FilenameOf(R"(filename="say \"hi\".png")"), "say \"hi\".png");
  EXPECT_EQ(FilenameOf(R"(filename="back\\slash.png")"), "back\\slash.png");
  // Unescaped Windows paths keep their backslashes.
  EXPECT_EQ(FilenameOf(R"(filename="C:\dir\x.png")"), "C:\\dir\\x.png");
  EXPECT_EQ(FilenameOf(R"(filename="semi;colon.png")"), "semi;colon.png");
  EXPECT_EQ(FilenameOf("filename=unquoted.png"), "unquoted.png");
  EXPECT_EQ(FilenameOf("filename=\"\xc3\xa9t\xc3\xa9.png\""),
            "\xc3\xa9t\xc3\xa9.png");
  // RFC 8187 extended notation wins over the plain parameter.
  EXPECT_EQ(FilenameOf("filename=\"euro.png\"; "
                       "filename*=UTF-8''%e2%82%AC%20rates.png"),
            "\xe2\x82\xac rates.png");
  EXPECT_EQ(FilenameOf("filename*=iso-8859-1'en'%E9t%E9.png"),
            "\xc3\xa9t\xc3\xa9.png");
  // An undecodable extended value falls back to the plain one.
  EXPECT_EQ(FilenameOf("filename=\"plain.png\"; filename*=UTF-8''bad%zz"),
            "plain.png");
  EXPECT_EQ(FilenameOf("filename=\"plain.png\"; filename*=KOI8-R''%C1"),
            "plain.png");
  EXPECT_EQ(FilenameOf(R"(filename="unterminated.png)"),
            "error: multipart part 1: unterminated quoted string in "
            "Content-Disposition parameter \"filename\"");
}

TEST(ParseMultipartTest, LargePartIsNotCopied) {
  constexpr size_t kSize = 20 * 1024 * 1024;
  std::string data(kSize, '\0');
  for (size_t i = 0; i < kSize; ++i) {
    data[i] = static_cast<char>((i * 131 + (i >> 7)) & 0xFF);
  }
  const std::string prefix =
      "--b0undary-AaB03x\r\n"
      "Content-Disposition: form-data; name=\"model\"; "
      "filename=\"big.bin\"\r\n"
      "Content-Type: application/octet-stream\r\n"
      "\r\n";
  std::string body = absl::StrCat(prefix, data, "\r\n--b0undary-AaB03x--\r\n");
  data.clear();
  data.shrink_to_fit();

  absl::StatusOr<std::vector<MultipartPart>> parts =
      ParseMultipart("multipart/form-data; boundary=b0undary-AaB03x", body);
  ASSERT_TRUE(parts.ok()) << parts.status();
  ASSERT_EQ(parts->size(), 1u);
  const std::string_view got = (*parts)[0].data;
  EXPECT_EQ(got.data(), body.data() + prefix.size());
  ASSERT_EQ(got.size(), kSize);
  EXPECT_EQ(static_cast<unsigned char>(got[kSize - 1]),
            ((kSize - 1) * 131 + ((kSize - 1) >> 7)) & 0xFF);
}

std::string PartsBody(size_t count) {
  std::string body;
  for (size_t i = 0; i < count; ++i) {
    absl::StrAppend(&body, "--b\r\nContent-Disposition: form-data; name=\"f", i,
                    "\"\r\n\r\n", i, "\r\n");
  }
  absl::StrAppend(&body, "--b--\r\n");
  return body;
}

TEST(ParseMultipartTest, PartLimit) {
  const std::string body = PartsBody(100);  // outlives the parts' data
  absl::StatusOr<std::vector<MultipartPart>> parts =
      ParseMultipart("multipart/form-data; boundary=b", body);
  ASSERT_TRUE(parts.ok()) << parts.status();
  ASSERT_EQ(parts->size(), 100u);
  EXPECT_EQ((*parts)[99].name, "f99");
  EXPECT_EQ((*parts)[99].data, "99");

  ExpectInvalid(
      ParseMultipart("multipart/form-data; boundary=b", PartsBody(101)),
      "more than 100 parts");
}

TEST(ParseMultipartTest, HeaderBlockLimit) {
  const std::string body = absl::StrCat(
      "--b\r\nContent-Disposition: form-data; name=\"a\"\r\n",
      "X-Padding: ", std::string(20000, 'p'), "\r\n\r\nv\r\n--b--\r\n");
  ExpectInvalid(ParseMultipart("multipart/form-data; boundary=b", body),
                "header block exceeds 16384 bytes");

  std::string many_lines = "--b\r\nContent-Disposition: form-data; name=a\r\n";
  for (int i = 0; i < 3000; ++i) many_lines += "X-A: b\r\n";
  many_lines += "\r\nv\r\n--b--\r\n";
  ExpectInvalid(ParseMultipart("multipart/form-data; boundary=b", many_lines),
                "header block exceeds");
}

TEST(ParseMultipartTest, BadContentType) {
  ExpectInvalid(ParseMultipart("text/plain", "--b--\r\n"),
                "not multipart/form-data");
  ExpectInvalid(ParseMultipart("multipart/form-data", "--b--\r\n"),
                "no boundary parameter");
}

TEST(ParseMultipartTest, NoOpeningDelimiter) {
  ExpectInvalid(ParseMultipart("multipart/form-data; boundary=b", ""),
                "no opening delimiter \"--b\"");
  ExpectInvalid(ParseMultipart("multipart/form-data; boundary=b",
                               "--c\r\nContent-Disposition: form-data; "
                               "name=a\r\n\r\nv\r\n--c--\r\n"),
                "no opening delimiter");
  // Only a longer boundary that starts with this one.
  ExpectInvalid(ParseMultipart("multipart/form-data; boundary=b",
                               "--bb\r\nContent-Disposition: form-data; "
                               "name=a\r\n\r\nv\r\n--bb--\r\n"),
                "no opening delimiter");
}

TEST(ParseMultipartTest, MissingClosingDelimiter) {
  const std::string full =
      "--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n"
      "data\r\n--b--\r\n";
  const size_t data_pos = full.find("\r\n\r\n") + 4;
  const size_t close_pos = full.find("--b--");
  // Truncated anywhere between the blank line and the final "--".
  for (size_t cut :
       {data_pos, data_pos + 3, close_pos - 2, close_pos + 3, close_pos + 4}) {
    SCOPED_TRACE(cut);
    ExpectInvalid(ParseMultipart("multipart/form-data; boundary=b",
                                 std::string_view(full).substr(0, cut)),
                  "missing closing delimiter \"--b--\"");
  }
  // A second part that never ends.
  ExpectInvalid(ParseMultipart("multipart/form-data; boundary=b",
                               "--b\r\nContent-Disposition: form-data; "
                               "name=a\r\n\r\nv\r\n--b\r\n"
                               "Content-Disposition: form-data; "
                               "name=c\r\n\r\nrest"),
                "multipart part 2: missing closing delimiter");
}

TEST(ParseMultipartTest, HeaderBlockWithoutBlankLine) {
  ExpectInvalid(ParseMultipart("multipart/form-data; boundary=b",
                               "--b\r\nContent-Disposition: form-data; "
                               "name=a\r\n--b--\r\n"),
                "not terminated by a blank line");
  // Truncated inside the header block.
  ExpectInvalid(ParseMultipart("multipart/form-data; boundary=b",
                               "--b\r\nContent-Disposition: form-data; name="),
                "not terminated by a blank line");
}

TEST(ParseMultipartTest, PartWithoutFormDataDisposition) {
  ExpectInvalid(ParseMultipart("multipart/form-data; boundary=b",
                               "--b\r\nContent-Type: text/plain\r\n\r\n"
                               "v\r\n--b--\r\n"),
                "multipart part 1: no Content-Disposition header");
  ExpectInvalid(ParseMultipart("multipart/form-data; boundary=b",
                               "--b\r\n\r\nv\r\n--b--\r\n"),
                "no Content-Disposition header");
  ExpectInvalid(ParseMultipart("multipart/form-data; boundary=b",
                               "--b\r\nContent-Disposition: form-data; "
                               "name=a\r\n\r\nv\r\n--b\r\n"
                               "Content-Disposition: attachment; "
                               "filename=x\r\n\r\nv\r\n--b--\r\n"),
                "multipart part 2: Content-Disposition is \"attachment\", "
                "not form-data");
  ExpectInvalid(ParseMultipart("multipart/form-data; boundary=b",
                               "--b\r\nContent-Disposition: form-data; "
                               "filename=\"x\"\r\n\r\nv\r\n--b--\r\n"),
                "Content-Disposition has no name parameter");
  ExpectInvalid(ParseMultipart("multipart/form-data; boundary=b",
                               "--b\r\nContent-Disposition: form-data; "
                               "name=a\r\nContent-Disposition: form-data; "
                               "name=c\r\n\r\nv\r\n--b--\r\n"),
                "duplicate \"Content-Disposition\" header");
}

TEST(ParseMultipartTest, HeaderLineWithoutColon) {
  ExpectInvalid(ParseMultipart("multipart/form-data; boundary=b",
                               "--b\r\nContent-Disposition: form-data; "
                               "name=a\r\nnot a header\r\n\r\nv\r\n--b--\r\n"),
                "header line without a colon: \"not a header\"");
  ExpectInvalid(ParseMultipart("multipart/form-data; boundary=b",
                               "--b\r\n: value\r\n\r\nv\r\n--b--\r\n"),
                "header line with an empty name");
}

}  // namespace
}  // namespace triverse::emulator
