#include "client/cli/flags.h"

#include <algorithm>
#include <cstdint>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace triverse::client::cli {
namespace {

namespace pb = google::protobuf;

size_t EditDistance(absl::string_view a, absl::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1,
                         diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// UpperSnake turns a CamelCase type name into UPPER_SNAKE ("FileKind" →
// "FILE_KIND"), the prefix style buf lint enforces on enum values.
std::string UpperSnake(absl::string_view name) {
  std::string out;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    if (absl::ascii_isupper(static_cast<unsigned char>(c)) && i > 0) {
      out.push_back('_');
    }
    out.push_back(absl::ascii_toupper(static_cast<unsigned char>(c)));
  }
  return out;
}

bool IsUnspecified(const pb::EnumValueDescriptor& value) {
  return value.number() == 0 || absl::EndsWith(value.name(), "_UNSPECIFIED");
}

absl::Status FlagError(absl::string_view flag, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("--", flag, ": ", what));
}

absl::Status SetOne(pb::Message& message, const pb::FieldDescriptor& field,
                    absl::string_view flag, const std::string& value) {
  const pb::Reflection& r = *message.GetReflection();
  const bool rep = field.is_repeated();
  switch (field.cpp_type()) {
    case pb::FieldDescriptor::CPPTYPE_STRING:
      rep ? r.AddString(&message, &field, value)
          : r.SetString(&message, &field, value);
      return absl::OkStatus();
    case pb::FieldDescriptor::CPPTYPE_INT32: {
      int32_t v;
      if (!absl::SimpleAtoi(value, &v)) {
        return FlagError(flag, absl::StrCat("not an integer: '", value, "'"));
      }
      rep ? r.AddInt32(&message, &field, v) : r.SetInt32(&message, &field, v);
      return absl::OkStatus();
    }
    case pb::FieldDescriptor::CPPTYPE_INT64: {
      int64_t v;
      if (!absl::SimpleAtoi(value, &v)) {
        return FlagError(flag, absl::StrCat("not an integer: '", value, "'"));
      }
      rep ? r.AddInt64(&message, &field, v) : r.SetInt64(&message, &field, v);
      return absl::OkStatus();
    }
    case pb::FieldDescriptor::CPPTYPE_UINT32: {
      uint32_t v;
      if (!absl::SimpleAtoi(value, &v)) {
        return FlagError(
            flag, absl::StrCat("not a non-negative integer: '", value, "'"));
      }
      rep ? r.AddUInt32(&message, &field, v) : r.SetUInt32(&message, &field, v);
      return absl::OkStatus();
    }
    case pb::FieldDescriptor::CPPTYPE_UINT64: {
      uint64_t v;
      if (!absl::SimpleAtoi(value, &v)) {
        return FlagError(
            flag, absl::StrCat("not a non-negative integer: '", value, "'"));
      }
      rep ? r.AddUInt64(&message, &field, v) : r.SetUInt64(&message, &field, v);
      return absl::OkStatus();
    }
    case pb::FieldDescriptor::CPPTYPE_DOUBLE:
    case pb::FieldDescriptor::CPPTYPE_FLOAT: {
      double v;
      if (!absl::SimpleAtod(value, &v)) {
        return FlagError(flag, absl::StrCat("not a number: '", value, "'"));
      }
      if (field.cpp_type() == pb::FieldDescriptor::CPPTYPE_DOUBLE) {
        rep ? r.AddDouble(&message, &field, v)
            : r.SetDouble(&message, &field, v);
      } else {
        const auto f = static_cast<float>(v);
        rep ? r.AddFloat(&message, &field, f) : r.SetFloat(&message, &field, f);
      }
      return absl::OkStatus();
    }
    case pb::FieldDescriptor::CPPTYPE_BOOL: {
      const bool v = value == "true";
      rep ? r.AddBool(&message, &field, v) : r.SetBool(&message, &field, v);
      return absl::OkStatus();
    }
    case pb::FieldDescriptor::CPPTYPE_ENUM: {
      absl::StatusOr<int> v = ParseEnumFlag(*field.enum_type(), flag, value);
      if (!v.ok()) return v.status();
      rep ? r.AddEnumValue(&message, &field, *v)
          : r.SetEnumValue(&message, &field, *v);
      return absl::OkStatus();
    }
    case pb::FieldDescriptor::CPPTYPE_MESSAGE:
      break;
  }
  return FlagError(flag, "not settable from the command line");
}

bool Settable(const pb::FieldDescriptor& field) {
  return field.cpp_type() != pb::FieldDescriptor::CPPTYPE_MESSAGE;
}

std::string ValueName(const pb::FieldDescriptor& field) {
  switch (field.cpp_type()) {
    case pb::FieldDescriptor::CPPTYPE_STRING:
      return "STRING";
    case pb::FieldDescriptor::CPPTYPE_INT32:
    case pb::FieldDescriptor::CPPTYPE_INT64:
    case pb::FieldDescriptor::CPPTYPE_UINT32:
    case pb::FieldDescriptor::CPPTYPE_UINT64:
      return "N";
    case pb::FieldDescriptor::CPPTYPE_DOUBLE:
    case pb::FieldDescriptor::CPPTYPE_FLOAT:
      return "X";
    case pb::FieldDescriptor::CPPTYPE_ENUM:
      return EnumChoices(*field.enum_type());
    default:
      return "";
  }
}

}  // namespace

bool ParsedFlags::Has(absl::string_view name) const {
  return values.find(std::string(name)) != values.end();
}

std::optional<std::string> ParsedFlags::Last(absl::string_view name) const {
  auto it = values.find(std::string(name));
  if (it == values.end() || it->second.empty()) return std::nullopt;
  return it->second.back();
}

bool ParsedFlags::Switch(absl::string_view name) const {
  return Last(name).value_or("false") == "true";
}

std::string Suggest(absl::string_view word,
                    const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_distance = 3;
  for (const std::string& c : candidates) {
    size_t d = EditDistance(word, c);
    if (word.size() >= 3 && absl::StartsWith(c, word))
      d = std::min<size_t>(d, 1);
    if (d < best_distance) {
      best_distance = d;
      best = c;
    }
  }
  return best;
}

absl::StatusOr<ParsedFlags> ParseFlags(const std::vector<std::string>& args,
                                       const std::vector<FlagSpec>& specs) {
  ParsedFlags out;
  auto find_long = [&specs](absl::string_view name) -> const FlagSpec* {
    for (const FlagSpec& s : specs) {
      if (s.name == name) return &s;
    }
    return nullptr;
  };
  auto find_short = [&specs](char c) -> const FlagSpec* {
    for (const FlagSpec& s : specs) {
      if (s.short_name != 0 && s.short_name == c) return &s;
    }
    return nullptr;
  };
  bool flags_done = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (flags_done || arg == "-" || arg.size() < 2 || arg[0] != '-') {
      out.positionals.push_back(arg);
      continue;
    }
    if (arg == "--") {
      flags_done = true;
      continue;
    }
    const FlagSpec* spec = nullptr;
    std::string shown;
    std::optional<std::string> inline_value;
    if (arg[1] == '-') {
      absl::string_view body = absl::string_view(arg).substr(2);
      const size_t eq = body.find('=');
      if (eq != absl::string_view::npos) {
        inline_value = std::string(body.substr(eq + 1));
        body = body.substr(0, eq);
      }
      spec = find_long(body);
      shown = absl::StrCat("--", body);
      if (spec == nullptr) {
        std::vector<std::string> names;
        for (const FlagSpec& s : specs) names.push_back(s.name);
        std::string hint = Suggest(body, names);
        return absl::InvalidArgumentError(absl::StrCat(
            "unknown flag ", shown,
            hint.empty() ? "" : absl::StrCat("; did you mean --", hint, "?")));
      }
    } else {
      spec = find_short(arg[1]);
      shown = arg.substr(0, 2);
      if (spec == nullptr) {
        return absl::InvalidArgumentError(absl::StrCat("unknown flag ", shown));
      }
      if (arg.size() > 2) {
        inline_value = arg[2] == '=' ? arg.substr(3) : arg.substr(2);
      }
    }
    std::string value;
    if (!spec->takes_value) {
      value = inline_value.value_or("true");
      if (value != "true" && value != "false") {
        return absl::InvalidArgumentError(absl::StrCat(
            shown, " is a switch: give it no value, or =true / =false"));
      }
    } else if (inline_value.has_value()) {
      value = *inline_value;
    } else if (spec->value_optional) {
      if (i + 1 < args.size() &&
          (args[i + 1] == "-" || !absl::StartsWith(args[i + 1], "-"))) {
        value = args[++i];
      }
    } else {
      if (i + 1 >= args.size() || absl::StartsWith(args[i + 1], "--")) {
        return absl::InvalidArgumentError(
            absl::StrCat(shown, " needs a value",
                         spec->value_name.empty()
                             ? ""
                             : absl::StrCat(" (", spec->value_name, ")")));
      }
      value = args[++i];
    }
    std::vector<std::string>& values = out.values[spec->name];
    if (!spec->repeated) values.clear();
    values.push_back(std::move(value));
  }
  return out;
}

std::string FormatFlagHelp(const std::vector<FlagSpec>& specs) {
  std::vector<std::pair<std::string, std::string>> rows;
  size_t width = 0;
  for (const FlagSpec& s : specs) {
    std::string left =
        s.short_name != 0
            ? absl::StrCat("-", std::string(1, s.short_name), ", ")
            : std::string();
    absl::StrAppend(&left, "--", s.name);
    if (s.takes_value && !s.value_name.empty()) {
      absl::StrAppend(&left, s.value_optional ? " [" : " ", s.value_name,
                      s.value_optional ? "]" : "");
    }
    width = std::max(width, left.size());
    rows.emplace_back(std::move(left), s.help);
  }
  std::string out;
  for (const auto& [left, help] : rows) {
    std::string line =
        help.empty()
            ? absl::StrCat("  ", left)
            : absl::StrCat("  ", left,
                           std::string(width - left.size() + 2, ' '), help);
    absl::StrAppend(&out, line, "\n");
  }
  return out;
}

absl::StatusOr<absl::Duration> ParseDurationFlag(absl::string_view flag,
                                                 absl::string_view value) {
  absl::Duration d;
  double seconds;
  if (absl::SimpleAtod(value, &seconds)) {
    d = absl::Seconds(seconds);
  } else if (!absl::ParseDuration(value, &d)) {
    return FlagError(flag, absl::StrCat("not a duration: '", value,
                                        "' (e.g. 30s, 2m, 1h30m, 500ms)"));
  }
  if (d < absl::ZeroDuration() || d == absl::InfiniteDuration()) {
    return FlagError(flag, absl::StrCat("must be a finite, non-negative "
                                        "duration, got '",
                                        value, "'"));
  }
  return d;
}

std::string FlagName(absl::string_view field_name) {
  return absl::StrReplaceAll(field_name, {{"_", "-"}});
}

std::string ShortEnumName(const pb::EnumValueDescriptor& value) {
  const std::string prefix = UpperSnake(value.type()->name()) + "_";
  absl::string_view name = value.name();
  absl::ConsumePrefix(&name, prefix);
  return absl::AsciiStrToLower(name);
}

std::string EnumChoices(const pb::EnumDescriptor& type) {
  std::vector<std::string> names;
  for (int i = 0; i < type.value_count(); ++i) {
    if (IsUnspecified(*type.value(i))) continue;
    names.push_back(ShortEnumName(*type.value(i)));
  }
  return absl::StrJoin(names, "|");
}

absl::StatusOr<int> ParseEnumFlag(const pb::EnumDescriptor& type,
                                  absl::string_view flag,
                                  absl::string_view value) {
  const std::string wanted =
      absl::AsciiStrToLower(absl::StrReplaceAll(value, {{"-", "_"}}));
  for (int i = 0; i < type.value_count(); ++i) {
    const pb::EnumValueDescriptor& v = *type.value(i);
    if (IsUnspecified(v)) continue;
    if (ShortEnumName(v) == wanted ||
        absl::AsciiStrToLower(v.name()) == wanted) {
      return v.number();
    }
  }
  return FlagError(
      flag, absl::StrCat("'", value, "' is not one of ", EnumChoices(type)));
}

std::vector<FlagSpec> FlagsForMessage(const pb::Descriptor& type) {
  std::vector<FlagSpec> out;
  for (int i = 0; i < type.field_count(); ++i) {
    const pb::FieldDescriptor& field = *type.field(i);
    if (!Settable(field)) continue;
    FlagSpec spec;
    spec.name = FlagName(field.name());
    spec.takes_value = field.cpp_type() != pb::FieldDescriptor::CPPTYPE_BOOL;
    spec.repeated = field.is_repeated();
    spec.value_name = ValueName(field);
    if (field.is_repeated()) {
      spec.help = "repeatable, or comma-separated";
    } else if (!spec.takes_value) {
      spec.help = "optional switch (--" + spec.name + "=false sends false)";
    } else if (field.has_presence()) {
      spec.help = "optional";
    }
    out.push_back(std::move(spec));
  }
  return out;
}

absl::Status SetFieldsFromFlags(const ParsedFlags& flags,
                                pb::Message& message) {
  const pb::Descriptor& type = *message.GetDescriptor();
  for (int i = 0; i < type.field_count(); ++i) {
    const pb::FieldDescriptor& field = *type.field(i);
    if (!Settable(field)) continue;
    const std::string flag = FlagName(field.name());
    auto it = flags.values.find(flag);
    if (it == flags.values.end()) continue;
    if (field.is_repeated()) {
      for (const std::string& value : it->second) {
        for (absl::string_view part : absl::StrSplit(value, ',')) {
          part = absl::StripAsciiWhitespace(part);
          if (part.empty()) continue;
          absl::Status s = SetOne(message, field, flag, std::string(part));
          if (!s.ok()) return s;
        }
      }
    } else if (!it->second.empty()) {
      absl::Status s = SetOne(message, field, flag, it->second.back());
      if (!s.ok()) return s;
    }
  }
  return absl::OkStatus();
}

}  // namespace triverse::client::cli
