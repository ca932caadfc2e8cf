// Command-line parsing for the `triverse` CLI: a small GNU-style flag parser
// (--name value, --name=value, -o value, switches, "--" ends the flags)
// and the reflection helpers that turn a message's fields into flags
// (field `texture_size` → `--texture-size`, enums by lowercase short name).
// Every parse error is an INVALID_ARGUMENT whose message is meant for the
// user (the CLI prints it and exits with the usage code).
#ifndef TRIVERSE_CLIENT_CLI_FLAGS_H_
#define TRIVERSE_CLIENT_CLI_FLAGS_H_

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"

namespace triverse::client::cli {

// FlagSpec describes one accepted flag.
struct FlagSpec {
  // The long name without dashes, e.g. "texture-size".
  std::string name;
  // A one-letter alias (-o), or 0.
  char short_name = 0;
  // False for a switch (--wait, --wait=false).
  bool takes_value = true;
  // May be given more than once (values accumulate).
  bool repeated = false;
  // A value flag whose value may be left out (--download, --download FILE,
  // --download=FILE): without "=", the next argument is its value unless
  // it is missing or starts with '-' (but "-" itself is a value); then the
  // value is "". Only for
  // commands without positionals after the flag's place (the next word
  // would be taken).
  bool value_optional = false;
  // For help: the value's placeholder (e.g. "N") and what the flag does.
  std::string value_name;
  std::string help;
};

// ParsedFlags is the result of ParseFlags. Switches hold "true" or "false".
struct ParsedFlags {
  std::vector<std::string> positionals;
  std::map<std::string, std::vector<std::string>> values;

  bool Has(absl::string_view name) const;
  // The last value given for `name`, if any.
  std::optional<std::string> Last(absl::string_view name) const;
  // A switch's value: false when absent.
  bool Switch(absl::string_view name) const;
};

// ParseFlags parses `args` against `specs`. A non-repeated flag given twice
// keeps its last value. Errors (INVALID_ARGUMENT): an unknown flag (with a
// "did you mean" when one is close), a missing value, a switch given a
// value other than true/false.
absl::StatusOr<ParsedFlags> ParseFlags(const std::vector<std::string>& args,
                                       const std::vector<FlagSpec>& specs);

// Suggest returns the candidate closest to `word` (edit distance at most
// 2, or a prefix match), or an empty string.
std::string Suggest(absl::string_view word,
                    const std::vector<std::string>& candidates);

// FormatFlagHelp lists `specs` as aligned help lines.
std::string FormatFlagHelp(const std::vector<FlagSpec>& specs);

// ParseDurationFlag accepts absl durations ("30s", "1m30s", "250ms") and a
// bare number of seconds. Errors: unparsable or negative values.
absl::StatusOr<absl::Duration> ParseDurationFlag(absl::string_view flag,
                                                 absl::string_view value);

// FlagName turns a proto field name into a flag name ("a_b" → "a-b").
std::string FlagName(absl::string_view field_name);

// ShortEnumName is an enum value's name without its type prefix, in lower
// case: FILE_KIND_IMAGE → "image".
std::string ShortEnumName(const google::protobuf::EnumValueDescriptor& value);

// EnumChoices lists the accepted short names, "image|model" (UNSPECIFIED
// excluded).
std::string EnumChoices(const google::protobuf::EnumDescriptor& type);

// ParseEnumFlag maps a short name (any case, '-' or '_') or a full value
// name to the value's number. UNSPECIFIED is not accepted.
absl::StatusOr<int> ParseEnumFlag(const google::protobuf::EnumDescriptor& type,
                                  absl::string_view flag,
                                  absl::string_view value);

// FlagsForMessage returns one FlagSpec per scalar, enum or repeated
// scalar field of `type` (bools are switches; repeated fields accept
// repeated flags and comma-separated values).
std::vector<FlagSpec> FlagsForMessage(const google::protobuf::Descriptor& type);

// SetFieldsFromFlags sets every field of `message` whose flag (see
// FlagsForMessage) is in `flags`. Errors name the flag and the bad value.
absl::Status SetFieldsFromFlags(const ParsedFlags& flags,
                                google::protobuf::Message& message);

}  // namespace triverse::client::cli

#endif  // TRIVERSE_CLIENT_CLI_FLAGS_H_
