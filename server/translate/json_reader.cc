#include "server/translate/json_reader.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/timestamp.pb.h"
#include "rapidjson/document.h"
#include "rapidjson/error/en.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"
#include "server/errors/upstream_status.h"
#include "server/translate/request_json.h"
#include "server/translate/upstream_json.h"
#include "triverse/v1/task_service.pb.h"

namespace triverse::translate::json_internal {
namespace {

using ::rapidjson::Value;

// TooDeep reports whether containers nest deeper than kMaxJsonDepth. It is
// iterative so hostile nesting cannot exhaust the stack; the recursive
// conversions run only on values that passed it.
bool TooDeep(const Value& root) {
  std::vector<std::pair<const Value*, int>> stack = {{&root, 1}};
  while (!stack.empty()) {
    const auto [v, depth] = stack.back();
    stack.pop_back();
    if (!v->IsObject() && !v->IsArray()) continue;
    if (depth > kMaxJsonDepth) return true;
    if (v->IsObject()) {
      for (auto it = v->MemberBegin(); it != v->MemberEnd(); ++it) {
        stack.emplace_back(&it->value, depth + 1);
      }
    } else {
      for (auto it = v->Begin(); it != v->End(); ++it) {
        stack.emplace_back(&*it, depth + 1);
      }
    }
  }
  return false;
}

// HasSurrogate reports whether a string or member name holds a UTF-16
// surrogate (U+D800-U+DFFF, UTF-8 ED A0-BF xx): RapidJSON 1.1.0 rejects raw
// ones and unpaired high escapes, but decodes an unpaired low escape
// ("\udc00") into those bytes, which are not UTF-8. Iterative, like TooDeep.
bool HasSurrogate(const Value& root) {
  auto bad = [](const Value& s) {
    const char* p = s.GetString();
    const rapidjson::SizeType n = s.GetStringLength();
    for (rapidjson::SizeType i = 0; i + 1 < n; ++i) {
      if (static_cast<unsigned char>(p[i]) == 0xED &&
          static_cast<unsigned char>(p[i + 1]) >= 0xA0) {
        return true;
      }
    }
    return false;
  };
  std::vector<const Value*> stack = {&root};
  while (!stack.empty()) {
    const Value* v = stack.back();
    stack.pop_back();
    if (v->IsString() && bad(*v)) return true;
    if (v->IsObject()) {
      for (auto it = v->MemberBegin(); it != v->MemberEnd(); ++it) {
        if (bad(it->name)) return true;
        stack.push_back(&it->value);
      }
    } else if (v->IsArray()) {
      for (auto it = v->Begin(); it != v->End(); ++it) stack.push_back(&*it);
    }
  }
  return false;
}

}  // namespace

std::string Child(absl::string_view prefix, absl::string_view key) {
  if (prefix.empty()) return std::string(key);
  return absl::StrCat(prefix, ".", key);
}

absl::Status Bad(const Where& w, absl::string_view problem) {
  return absl::DataLossError(absl::StrCat(
      "upstream ", w.payload, " payload: field '", w.path, "' ", problem));
}

std::string Quote(absl::string_view s) {
  const bool cut = s.size() > kMaxQuotedBytes;
  return absl::StrCat("\"", absl::CHexEscape(s.substr(0, kMaxQuotedBytes)),
                      cut ? "...\"" : "\"");
}

absl::string_view StringOf(const Value& v) {
  return absl::string_view(v.GetString(), v.GetStringLength());
}

const char* TypeName(const Value& v) {
  switch (v.GetType()) {
    case rapidjson::kNullType:
      return "null";
    case rapidjson::kFalseType:
    case rapidjson::kTrueType:
      return "a boolean";
    case rapidjson::kObjectType:
      return "an object";
    case rapidjson::kArrayType:
      return "an array";
    case rapidjson::kStringType:
      return "a string";
    case rapidjson::kNumberType:
      return "a number";
  }
  return "an unknown type";
}

absl::Status WrongType(const Where& w, absl::string_view expected,
                       const Value& got) {
  return Bad(w, absl::StrCat("must be ", expected, ", got ", TypeName(got)));
}

absl::Status ParseObject(absl::string_view json, absl::string_view payload,
                         rapidjson::Document* doc) {
  // Iterative parsing: no recursion on hostile nesting. Encoding validation:
  // proto3 strings must be UTF-8.
  doc->Parse<rapidjson::kParseIterativeFlag |
             rapidjson::kParseValidateEncodingFlag>(json.data(), json.size());
  if (doc->HasParseError()) {
    return absl::DataLossError(
        absl::StrCat("upstream ", payload, " payload is not valid JSON: ",
                     rapidjson::GetParseError_En(doc->GetParseError()),
                     " (at offset ", doc->GetErrorOffset(), ")"));
  }
  if (!doc->IsObject()) {
    return absl::DataLossError(absl::StrCat("upstream ", payload,
                                            " payload must be an object, got ",
                                            TypeName(*doc)));
  }
  if (TooDeep(*doc)) {
    return absl::DataLossError(absl::StrCat("upstream ", payload,
                                            " payload nests deeper than ",
                                            kMaxJsonDepth, " levels"));
  }
  if (HasSurrogate(*doc)) {
    return absl::DataLossError(
        absl::StrCat("upstream ", payload,
                     " payload is not valid JSON: a string holds an unpaired "
                     "surrogate escape, which is not UTF-8"));
  }
  return absl::OkStatus();
}

void ToStruct(const Value& obj, google::protobuf::Struct* out) {
  auto& fields = *out->mutable_fields();
  for (auto it = obj.MemberBegin(); it != obj.MemberEnd(); ++it) {
    ToProtoValue(it->value, &fields[std::string(StringOf(it->name))]);
  }
}

void ToProtoValue(const Value& v, google::protobuf::Value* out) {
  switch (v.GetType()) {
    case rapidjson::kNullType:
      out->set_null_value(google::protobuf::NULL_VALUE);
      return;
    case rapidjson::kFalseType:
    case rapidjson::kTrueType:
      out->set_bool_value(v.GetBool());
      return;
    case rapidjson::kNumberType:
      out->set_number_value(v.GetDouble());
      return;
    case rapidjson::kStringType:
      out->set_string_value(std::string(StringOf(v)));
      return;
    case rapidjson::kArrayType: {
      auto* list = out->mutable_list_value();
      for (auto it = v.Begin(); it != v.End(); ++it) {
        ToProtoValue(*it, list->add_values());
      }
      return;
    }
    case rapidjson::kObjectType:
      ToStruct(v, out->mutable_struct_value());
      return;
  }
}

std::string Serialise(const Value& v) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buf);
  v.Accept(writer);  // depth bounded by ParseObject
  return std::string(buf.GetString(), buf.GetSize());
}

absl::StatusOr<std::string> AsString(const Value& v, const Where& w) {
  if (!v.IsString()) return WrongType(w, "a string", v);
  return std::string(StringOf(v));
}

absl::StatusOr<double> AsNumber(const Value& v, const Where& w) {
  if (!v.IsNumber()) return WrongType(w, "a number", v);
  const double d = v.GetDouble();
  if (!std::isfinite(d)) return Bad(w, "must be a finite number");
  return d;
}

absl::StatusOr<double> AsNumberOrNumericString(const Value& v, const Where& w) {
  if (!v.IsString()) return AsNumber(v, w);
  double d = 0;
  if (!absl::SimpleAtod(StringOf(v), &d) || !std::isfinite(d)) {
    return Bad(w, absl::StrCat("must be a number, got the string ",
                               Quote(StringOf(v))));
  }
  return d;
}

absl::Status SetUnixSeconds(double seconds, const Where& w,
                            google::protobuf::Timestamp* out) {
  // 253402300799 is exact as a double.
  if (seconds > static_cast<double>(kMaxTimestampSeconds)) {
    return Bad(w, "is after year 9999");
  }
  const double whole = std::floor(seconds);
  out->set_seconds(static_cast<int64_t>(whole));
  out->set_nanos(
      std::min(static_cast<int32_t>((seconds - whole) * 1e9), 999999999));
  return absl::OkStatus();
}

// ------------------------------------------------------------ ObjectReader

const Value* ObjectReader::Get(absl::string_view key) const {
  const Value name(rapidjson::StringRef(key.data(), key.size()));
  auto it = obj_.FindMember(name);
  if (it == obj_.MemberEnd() || it->value.IsNull()) return nullptr;
  return &it->value;
}

absl::StatusOr<std::string> ObjectReader::ReqNonEmptyString(
    absl::string_view key) const {
  TR_ASSIGN_OR_RETURN(std::string s, Req(key, AsString));
  if (s.empty()) return Bad(At(key), "is empty");
  return s;
}

absl::StatusOr<const Value*> ObjectReader::OptObject(
    absl::string_view key) const {
  const Value* v = Get(key);
  if (v != nullptr && !v->IsObject()) {
    return WrongType(At(key), "an object", *v);
  }
  return v;
}

// ------------------------------------------------------------ request bodies

void Key(Writer& w, absl::string_view key) {
  w.Key(key.data(), static_cast<rapidjson::SizeType>(key.size()));
}

void Str(Writer& w, absl::string_view key, absl::string_view value) {
  Key(w, key);
  w.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
}

void Unsupported::Check(bool set, absl::string_view field) {
  if (!set) return;
  Add(field, absl::StrCat("is not supported by the ", provider_, " provider"));
}

void Unsupported::Add(absl::string_view field, absl::string_view rule) {
  violations_.push_back({absl::StrCat(flow_, ".", field), std::string(rule)});
}

absl::Status Unsupported::status() const {
  if (violations_.empty()) return absl::OkStatus();
  return errors::InvalidArgument(violations_);
}

absl::Status FlowNotOffered(const v1::CreateTaskRequest& request,
                            absl::string_view provider) {
  if (request.params_case() == v1::CreateTaskRequest::PARAMS_NOT_SET) {
    return absl::InvalidArgumentError(
        "CreateTask: `params` must select a flow (image_to_model, "
        "text_to_model, ...)");
  }
  return absl::UnimplementedError(
      absl::StrCat("CreateTask: flow ", FlowName(request),
                   " is not offered by the ", provider, " provider"));
}

}  // namespace triverse::translate::json_internal
