// Table tests of the provider error mappings (AsTripoStatus, AsSirayStatus):
// every row of each table with its code, reason and details, the own-key
// rule, Retry-After, and the provider and trace id metadata (in AsStatus
// too).
#include "server/errors/provider_status.h"

#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "google/rpc/error_details.pb.h"
#include "gtest/gtest.h"
#include "server/errors/upstream_status.h"

namespace triverse::errors {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

template <typename T>
bool Find(const absl::Status& s, T* out) {
  for (const auto& any : Details(s)) {
    if (any.type_url() ==
        "type.googleapis.com/" + T::descriptor()->full_name()) {
      return out->ParseFromString(any.value());
    }
  }
  return false;
}

google::rpc::ErrorInfo Info(const absl::Status& s) {
  google::rpc::ErrorInfo info;
  EXPECT_TRUE(Find(s, &info)) << s;
  return info;
}

using C = absl::StatusCode;

struct Case {
  long http;
  int code;
  C want;
  std::string reason;
  bool retry_info;
  bool quota;
  bool precondition;
  // The BadRequest field; empty: no BadRequest.
  std::string bad_request_field;
};

void PrintTo(const Case& c, std::ostream* os) {
  *os << "HTTP " << c.http << " code " << c.code << " → " << c.reason;
}

// ------------------------------------------------------------------ tripo

class TripoCodeTest : public ::testing::TestWithParam<Case> {};

TEST_P(TripoCodeTest, MapsEveryDocumentedCode) {
  const Case& c = GetParam();
  UpstreamError e;
  e.operation = "CreateTask";
  e.http_status = c.http;
  e.code = c.code;
  e.message = "tripo says no";
  e.suggestion = "try something else";
  e.trace_id = "5c0ffee5-aaaa-4bbb-8ccc-0123456789ab";
  e.caller_key = true;
  absl::Status s = AsTripoStatus(e);
  EXPECT_EQ(s.code(), c.want) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("CreateTask: "));
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("(trace id 5c0ffee5-aaaa-4bbb-8ccc-0123456789ab)"));

  google::rpc::ErrorInfo info = Info(s);
  EXPECT_EQ(info.reason(), c.reason);
  EXPECT_EQ(info.domain(), "triverse.ai");
  EXPECT_EQ(info.metadata().at("upstreamCode"), std::to_string(c.code));
  EXPECT_EQ(info.metadata().at("httpStatus"), std::to_string(c.http));
  EXPECT_EQ(info.metadata().at("provider"), "tripo");
  EXPECT_EQ(info.metadata().at("upstreamTraceId"),
            "5c0ffee5-aaaa-4bbb-8ccc-0123456789ab");
  EXPECT_EQ(info.metadata().at("upstreamMessage"), "tripo says no");
  EXPECT_EQ(info.metadata().at("suggestion"), "try something else");
  EXPECT_EQ(info.metadata().at("operation"), "CreateTask");

  google::rpc::RetryInfo retry;
  EXPECT_EQ(Find(s, &retry), c.retry_info);
  google::rpc::QuotaFailure quota;
  EXPECT_EQ(Find(s, &quota), c.quota);
  google::rpc::PreconditionFailure pre;
  EXPECT_EQ(Find(s, &pre), c.precondition);
  google::rpc::BadRequest bad;
  EXPECT_EQ(Find(s, &bad), !c.bad_request_field.empty());
  if (!c.bad_request_field.empty()) {
    ASSERT_EQ(bad.field_violations_size(), 1);
    EXPECT_EQ(bad.field_violations(0).field(), c.bad_request_field);
    EXPECT_EQ(bad.field_violations(0).description(), "try something else");
  }
}

INSTANTIATE_TEST_SUITE_P(
    Table, TripoCodeTest,
    ::testing::Values(
        Case{500, 1000, C::kUnavailable, "UPSTREAM_UNAVAILABLE", true, false,
             false, ""},
        Case{500, 1001, C::kUnavailable, "UPSTREAM_UNAVAILABLE", true, false,
             false, ""},
        Case{401, 1002, C::kUnauthenticated, "API_KEY_INVALID", false, false,
             false, ""},
        Case{400, 1003, C::kInvalidArgument, "MALFORMED_REQUEST", false, false,
             false, ""},
        Case{400, 1004, C::kInvalidArgument, "INVALID_PARAMETERS", false, false,
             false, ""},
        Case{403, 1005, C::kPermissionDenied, "API_KEY_FORBIDDEN", false, false,
             false, ""},
        Case{429, 1007, C::kResourceExhausted, "RATE_LIMITED", true, true,
             false, ""},
        Case{429, 2000, C::kResourceExhausted, "RATE_LIMITED", true, true,
             false, ""},
        Case{404, 2001, C::kNotFound, "TASK_NOT_FOUND", false, false, false,
             ""},
        Case{400, 2002, C::kInvalidArgument, "TASK_TYPE_NOT_SUPPORTED", false,
             false, false, "params"},
        Case{400, 2003, C::kInvalidArgument, "FILE_EMPTY", false, false, false,
             "image_file"},
        Case{400, 2004, C::kInvalidArgument, "FILE_TYPE_NOT_SUPPORTED", false,
             false, false, "image_file"},
        Case{400, 2005, C::kFailedPrecondition, "TASK_STATE_CONFLICT", false,
             false, true, ""},
        Case{400, 2006, C::kInvalidArgument, "ORIGINAL_TASK_TYPE_NOT_SUPPORTED",
             false, false, false, "model_file"},
        Case{400, 2007, C::kFailedPrecondition, "TASK_STATE_CONFLICT", false,
             false, true, ""},
        Case{400, 2008, C::kInvalidArgument, "CONTENT_VIOLATION", false, false,
             false, "params"},
        Case{400, 2009, C::kInvalidArgument, "PROMPT_INVALID_CHARACTERS", false,
             false, false, "prompt"},
        Case{403, 2010, C::kResourceExhausted, "INSUFFICIENT_CREDITS", false,
             true, false, ""},
        Case{400, 2011, C::kFailedPrecondition, "INPUT_TASK_HAS_NO_MODEL",
             false, false, true, ""},
        Case{400, 2012, C::kFailedPrecondition, "INPUT_TASK_TYPE_INVALID",
             false, false, true, ""},
        Case{403, 2013, C::kPermissionDenied, "PRIORITY_NOT_ALLOWED", false,
             false, false, ""},
        Case{400, 2014, C::kUnavailable, "MODERATION_UNAVAILABLE", true, false,
             false, ""},
        Case{400, 2015, C::kInvalidArgument, "MODEL_VERSION_DEPRECATED", false,
             false, false, "model_version"},
        Case{400, 2016, C::kInvalidArgument, "TASK_TYPE_DEPRECATED", false,
             false, false, "params"},
        Case{400, 2017, C::kInvalidArgument, "MODEL_VERSION_INVALID", false,
             false, false, "model_version"},
        Case{400, 2018, C::kInvalidArgument, "MODEL_TOO_COMPLEX", false, false,
             false, "model_file"},
        Case{404, 2019, C::kNotFound, "FILE_NOT_FOUND", false, false, false,
             ""},
        // 9xxx router errors and undocumented codes: by the HTTP status.
        Case{404, 9404, C::kNotFound, "RESOURCE_NOT_FOUND", false, false, false,
             ""},
        Case{502, 9502, C::kUnavailable, "UPSTREAM_UNAVAILABLE", true, false,
             false, ""},
        Case{400, 2021, C::kInvalidArgument, "INVALID_PARAMETERS", false, false,
             false, ""},
        Case{429, 7, C::kResourceExhausted, "RATE_LIMITED", true, true, false,
             ""},
        Case{418, 1234, C::kUnknown, "UPSTREAM_HTTP_ERROR", false, false, false,
             ""}));

TEST(AsTripoStatusTest, GatewayKeyRefusalsAreTheOperators) {
  for (const auto& [http, code] :
       std::vector<std::pair<long, int>>{{401, 1002}, {403, 1005}}) {
    UpstreamError e;
    e.operation = "GetTask";
    e.http_status = http;
    e.code = code;
    e.message = "Authentication failed.";
    absl::Status s = AsTripoStatus(e);
    EXPECT_EQ(s.code(), C::kInternal) << code;
    EXPECT_THAT(std::string(s.message()), HasSubstr("gateway's API key"));
    EXPECT_EQ(Info(s).reason(), "UPSTREAM_CREDENTIALS_REJECTED");
  }
  UpstreamError e;
  e.operation = "CreateTask";
  e.http_status = 403;
  e.code = 2013;
  e.message = "priority not valid";
  absl::Status s = AsTripoStatus(e);
  EXPECT_EQ(s.code(), C::kInternal);
  EXPECT_THAT(std::string(s.message()), HasSubstr("gateway's API key"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("priority not valid"));
  EXPECT_EQ(Info(s).reason(), "UPSTREAM_PERMISSION_DENIED");
}

TEST(AsTripoStatusTest, A401GoesByTheHttpStatusWhateverTheCode) {
  UpstreamError e;
  e.operation = "GetTask";
  e.http_status = 401;
  e.code = 2001;
  e.caller_key = true;
  EXPECT_EQ(AsTripoStatus(e).code(), C::kUnauthenticated);
}

TEST(AsTripoStatusTest, RetryAfterBecomesTheRetryDelay) {
  UpstreamError e;
  e.operation = "CreateTask";
  e.http_status = 429;
  e.code = 2000;
  e.retry_after = absl::Seconds(9);
  absl::Status s = AsTripoStatus(e);
  google::rpc::RetryInfo retry;
  ASSERT_TRUE(Find(s, &retry));
  EXPECT_EQ(retry.retry_delay().seconds(), 9);
  google::rpc::QuotaFailure quota;
  ASSERT_TRUE(Find(s, &quota));
  EXPECT_EQ(quota.violations(0).subject(), "concurrent_tasks");
  // Without Retry-After: the default delay.
  e.code = 1007;
  e.retry_after.reset();
  s = AsTripoStatus(e);
  ASSERT_TRUE(Find(s, &retry));
  EXPECT_EQ(retry.retry_delay().seconds(), 0);
  EXPECT_EQ(retry.retry_delay().nanos(), 250000000);
  ASSERT_TRUE(Find(s, &quota));
  EXPECT_EQ(quota.violations(0).subject(), "requests");
  e.code = 2010;
  ASSERT_TRUE(Find(AsTripoStatus(e), &quota));
  EXPECT_EQ(quota.violations(0).subject(), "api_credits");
}

TEST(AsTripoStatusTest, NoTraceIdNoMention) {
  UpstreamError e;
  e.operation = "GetTask";
  e.http_status = 404;
  e.code = 2001;
  e.message = "task not found";
  absl::Status s = AsTripoStatus(e);
  EXPECT_EQ(s.message(), "GetTask: task not found");
  EXPECT_EQ(Info(s).metadata().count("upstreamTraceId"), 0u);
  EXPECT_EQ(Info(s).metadata().at("provider"), "tripo");
}

TEST(AsTripoStatusTest, InvalidParametersNameTheFieldTheMessageNames) {
  UpstreamError e;
  e.operation = "CreateTask";
  e.http_status = 400;
  e.code = 1004;
  e.message = "Invalid parameter 'face_limit': must be at most 20000";
  google::rpc::BadRequest bad;
  ASSERT_TRUE(Find(AsTripoStatus(e), &bad));
  EXPECT_EQ(bad.field_violations(0).field(), "face_limit");
  EXPECT_THAT(bad.field_violations(0).description(), HasSubstr("20000"));
}

// ------------------------------------------------------------------ siray

class SirayHttpTest : public ::testing::TestWithParam<Case> {};

TEST_P(SirayHttpTest, MapsByHttpStatus) {
  const Case& c = GetParam();
  UpstreamError e;
  e.operation = "GetTask";
  e.http_status = c.http;
  e.message = "siray says no";
  e.code_text = "some_code";
  e.caller_key = true;
  absl::Status s = AsSirayStatus(e);
  EXPECT_EQ(s.code(), c.want) << s;
  EXPECT_EQ(s.message(), "GetTask: siray says no");
  google::rpc::ErrorInfo info = Info(s);
  EXPECT_EQ(info.reason(), c.reason);
  EXPECT_EQ(info.metadata().at("upstreamCode"), "some_code");
  EXPECT_EQ(info.metadata().at("provider"), "siray");
  EXPECT_EQ(info.metadata().at("httpStatus"), std::to_string(c.http));
  google::rpc::RetryInfo retry;
  EXPECT_EQ(Find(s, &retry), c.retry_info);
  google::rpc::QuotaFailure quota;
  EXPECT_EQ(Find(s, &quota), c.quota);
  google::rpc::PreconditionFailure pre;
  EXPECT_EQ(Find(s, &pre), c.precondition);
  google::rpc::BadRequest bad;
  EXPECT_EQ(Find(s, &bad), !c.bad_request_field.empty());
}

INSTANTIATE_TEST_SUITE_P(
    Table, SirayHttpTest,
    ::testing::Values(Case{200, 0, C::kFailedPrecondition, "UPSTREAM_REJECTED",
                           false, false, true, ""},
                      Case{400, 0, C::kInvalidArgument, "INVALID_PARAMETERS",
                           false, false, false, ""},
                      Case{401, 0, C::kUnauthenticated, "API_KEY_INVALID",
                           false, false, false, ""},
                      Case{402, 0, C::kResourceExhausted,
                           "INSUFFICIENT_CREDITS", false, true, false, ""},
                      Case{403, 0, C::kPermissionDenied, "API_KEY_FORBIDDEN",
                           false, false, false, ""},
                      Case{404, 0, C::kNotFound, "RESOURCE_NOT_FOUND", false,
                           false, false, ""},
                      Case{408, 0, C::kUnavailable, "UPSTREAM_TIMEOUT", true,
                           false, false, ""},
                      Case{409, 0, C::kAborted, "CONFLICT", false, false, false,
                           ""},
                      Case{413, 0, C::kInvalidArgument, "PAYLOAD_TOO_LARGE",
                           false, false, false, ""},
                      Case{422, 0, C::kInvalidArgument, "INVALID_PARAMETERS",
                           false, false, false, ""},
                      Case{429, 0, C::kResourceExhausted, "RATE_LIMITED", true,
                           true, false, ""},
                      Case{500, 0, C::kUnavailable, "UPSTREAM_UNAVAILABLE",
                           true, false, false, ""},
                      Case{501, 0, C::kUnimplemented, "NOT_IMPLEMENTED", false,
                           false, false, ""},
                      Case{502, 0, C::kUnavailable, "UPSTREAM_UNAVAILABLE",
                           true, false, false, ""},
                      Case{503, 0, C::kUnavailable, "UPSTREAM_UNAVAILABLE",
                           true, false, false, ""},
                      Case{520, 0, C::kUnavailable, "UPSTREAM_UNAVAILABLE",
                           true, false, false, ""},
                      Case{418, 0, C::kUnknown, "UPSTREAM_HTTP_ERROR", false,
                           false, false, ""}));

TEST(AsSirayStatusTest, GatewayKeyRefusalsAreTheOperators) {
  for (long http : {401L, 403L}) {
    UpstreamError e;
    e.operation = "GetTask";
    e.http_status = http;
    e.message = "Invalid token";
    absl::Status s = AsSirayStatus(e);
    EXPECT_EQ(s.code(), C::kInternal) << http;
    EXPECT_THAT(std::string(s.message()), HasSubstr("gateway's API key"));
    EXPECT_EQ(Info(s).reason(), "UPSTREAM_CREDENTIALS_REJECTED");
  }
}

TEST(AsSirayStatusTest, OutOfCreditsIsNotARateLimit) {
  UpstreamError e;
  e.operation = "CreateTask";
  e.http_status = 429;
  e.message = "You exceeded your current quota";
  e.code_text = "insufficient_quota";
  absl::Status s = AsSirayStatus(e);
  EXPECT_EQ(s.code(), C::kResourceExhausted);
  EXPECT_EQ(Info(s).reason(), "INSUFFICIENT_CREDITS");
  google::rpc::RetryInfo retry;
  EXPECT_FALSE(Find(s, &retry));  // the connection must not retry it
}

TEST(AsSirayStatusTest, RetryAfterAndNoTraceIdInTheMessage) {
  UpstreamError e;
  e.operation = "GetTask";
  e.http_status = 503;
  e.retry_after = absl::Seconds(4);
  e.trace_id = "abc";  // Siray has none; if set, metadata only
  absl::Status s = AsSirayStatus(e);
  EXPECT_EQ(s.message(), "GetTask: upstream error");
  google::rpc::RetryInfo retry;
  ASSERT_TRUE(Find(s, &retry));
  EXPECT_EQ(retry.retry_delay().seconds(), 4);
  EXPECT_EQ(Info(s).metadata().at("upstreamTraceId"), "abc");
  EXPECT_EQ(Info(s).metadata().count("upstreamCode"), 0u);
}

TEST(AsSirayStatusTest, BadRequestOnlyWhenTheFieldIsNamed) {
  UpstreamError e;
  e.operation = "CreateTask";
  e.http_status = 400;
  e.message = "Parameter 'seed' must be between -1 and 9999999999";
  google::rpc::BadRequest bad;
  ASSERT_TRUE(Find(AsSirayStatus(e), &bad));
  EXPECT_EQ(bad.field_violations(0).field(), "seed");
}

TEST(AsSirayStatusTest, ExplicitProviderWins) {
  UpstreamError e;
  e.operation = "GetTask";
  e.http_status = 404;
  e.provider = "siray-eu";
  EXPECT_EQ(Info(AsSirayStatus(e)).metadata().at("provider"), "siray-eu");
}

// ------------------------------------------------------------------ AsStatus

TEST(AsStatusProviderFieldsTest, TraceIdProviderAndCodeTextInMetadata) {
  UpstreamError e;
  e.operation = "GetTask";
  e.http_status = 404;
  e.code = 1006;
  e.trace_id = "trace-1";
  e.provider = "tripo";
  google::rpc::ErrorInfo info = Info(AsStatus(e));
  EXPECT_EQ(info.metadata().at("upstreamTraceId"), "trace-1");
  EXPECT_EQ(info.metadata().at("provider"), "tripo");
  EXPECT_EQ(info.metadata().at("upstreamCode"), "1006");

  UpstreamError plain;
  plain.operation = "GetTask";
  plain.http_status = 404;
  info = Info(AsStatus(plain));
  EXPECT_EQ(info.metadata().count("upstreamTraceId"), 0u);
  EXPECT_EQ(info.metadata().count("provider"), 0u);
  EXPECT_EQ(info.metadata().count("upstreamCode"), 0u);

  plain.code_text = "not_found";
  EXPECT_EQ(Info(AsStatus(plain)).metadata().at("upstreamCode"), "not_found");
  EXPECT_THAT(std::string(AsStatus(plain).message()), Not(HasSubstr("trace")));
}

}  // namespace
}  // namespace triverse::errors
