// Fuzzes the request body builders of server/translate/request_json.h:
// BuildCreateTaskBody, BuildQuoteBody and FlowName on CreateTaskRequest /
// QuotePriceRequest messages decoded from the input (protobuf wire format;
// the first byte picks the message and the client_order_id length). Checks,
// beyond no crash/leak/UB: a body is a JSON object (strict UTF-8 parse);
// the flow segment is FlowName(), non-empty and [a-z-]; client_order_id
// appears as a string member exactly when non-empty; a quote body has a
// string flow_name and an object params; the only error is
// INVALID_ARGUMENT for an unset `params`.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "rapidjson/document.h"
#include "rapidjson/error/en.h"
#include "server/translate/request_json.h"

namespace {

namespace tr = triverse::translate;
namespace v1 = triverse::v1;

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "property violated: %s\n", what);
    __builtin_trap();
  }
}

void ParseBody(const std::string& body, rapidjson::Document* doc) {
  doc->Parse<rapidjson::kParseValidateEncodingFlag>(body.data(), body.size());
  Check(!doc->HasParseError(), "body is not valid UTF-8 JSON");
  Check(doc->IsObject(), "body is not an object");
}

void CheckFlow(absl::string_view flow) {
  Check(!flow.empty(), "empty flow");
  for (const char c : flow) {
    Check((c >= 'a' && c <= 'z') || c == '-', "flow outside [a-z-]");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t selector = data[0];
  ++data;
  --size;
  if ((selector & 1) == 0) {
    // client_order_id: the next (selector >> 1) % 80 bytes, as ASCII
    // (quotes, backslashes and control characters included; the service
    // lets only [A-Za-z0-9_-] through, and generated ids are ASCII).
    const size_t n = std::min<size_t>((selector >> 1) % 80, size);
    std::string order;
    for (size_t i = 0; i < n; ++i) order.push_back(data[i] & 0x7F);
    data += n;
    size -= n;
    v1::CreateTaskRequest request;
    if (!request.ParseFromArray(data, static_cast<int>(size))) return 0;
    absl::StatusOr<std::pair<std::string, std::string>> built =
        tr::BuildCreateTaskBody(request, order);
    if (!built.ok()) {
      Check(built.status().code() == absl::StatusCode::kInvalidArgument,
            "error is not INVALID_ARGUMENT");
      Check(request.params_case() == v1::CreateTaskRequest::PARAMS_NOT_SET,
            "a set params was refused");
      Check(tr::FlowName(request).empty(), "a flow name without params");
      return 0;
    }
    CheckFlow(built->first);
    Check(built->first == tr::FlowName(request), "segment is not FlowName");
    rapidjson::Document doc;
    ParseBody(built->second, &doc);
    const auto it = doc.FindMember("client_order_id");
    if (order.empty()) {
      Check(it == doc.MemberEnd(), "client_order_id sent though empty");
    } else {
      Check(it != doc.MemberEnd(), "client_order_id missing");
      Check(it->value.IsString(), "client_order_id is not a string");
      Check(std::string(it->value.GetString(), it->value.GetStringLength()) ==
                order,
            "client_order_id changed");
    }
  } else {
    v1::QuotePriceRequest request;
    if (!request.ParseFromArray(data, static_cast<int>(size))) return 0;
    absl::StatusOr<std::string> body = tr::BuildQuoteBody(request);
    if (!body.ok()) {
      Check(body.status().code() == absl::StatusCode::kInvalidArgument,
            "error is not INVALID_ARGUMENT");
      return 0;
    }
    rapidjson::Document doc;
    ParseBody(*body, &doc);
    const auto flow = doc.FindMember("flow_name");
    Check(flow != doc.MemberEnd() && flow->value.IsString(),
          "quote without a flow_name string");
    CheckFlow(flow->value.GetString());
    const auto params = doc.FindMember("params");
    Check(params != doc.MemberEnd() && params->value.IsObject(),
          "quote without a params object");
  }
  return 0;
}
