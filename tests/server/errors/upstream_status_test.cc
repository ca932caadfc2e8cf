#include "server/errors/upstream_status.h"

#include <string>

#include "gmock/gmock.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "gtest/gtest.h"
#include "server/errors/grpc_status.h"

namespace triverse::errors {
namespace {

using ::testing::HasSubstr;

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

UpstreamError Err(std::string operation, long http, int code,
                  std::string message, std::string suggestion = "",
                  std::optional<absl::Duration> retry_after = std::nullopt) {
  UpstreamError e;
  e.operation = std::move(operation);
  e.http_status = http;
  e.code = code;
  e.message = std::move(message);
  e.suggestion = std::move(suggestion);
  e.retry_after = retry_after;
  return e;
}

struct Case {
  long http;
  int code;
  absl::StatusCode want;
  std::string reason;
  bool retry_info;
  bool quota;
  bool precondition;
  bool bad_request;
};

class TriverseCodeTest : public ::testing::TestWithParam<Case> {};

TEST_P(TriverseCodeTest, MapsToTheMostSpecificCodeWithDetails) {
  const Case& c = GetParam();
  UpstreamError e;
  e.operation = "GetTask";
  e.http_status = c.http;
  e.code = c.code;
  e.message = "upstream says no";
  e.suggestion = "do something else";
  absl::Status s = AsStatus(e);
  EXPECT_EQ(s.code(), c.want) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("GetTask"));

  google::rpc::ErrorInfo info;
  ASSERT_TRUE(Find(s, &info));
  EXPECT_EQ(info.reason(), c.reason);
  EXPECT_EQ(info.domain(), "triverse.ai");
  EXPECT_EQ(info.metadata().at("upstreamCode"), std::to_string(c.code));
  EXPECT_EQ(info.metadata().at("httpStatus"), std::to_string(c.http));
  EXPECT_EQ(info.metadata().at("suggestion"), "do something else");

  google::rpc::RetryInfo retry;
  EXPECT_EQ(Find(s, &retry), c.retry_info);
  google::rpc::QuotaFailure quota;
  EXPECT_EQ(Find(s, &quota), c.quota);
  google::rpc::PreconditionFailure pre;
  EXPECT_EQ(Find(s, &pre), c.precondition);
  google::rpc::BadRequest bad;
  EXPECT_EQ(Find(s, &bad), c.bad_request);
}

using C = absl::StatusCode;
INSTANTIATE_TEST_SUITE_P(
    Table, TriverseCodeTest,
    ::testing::Values(
        Case{400, 1004, C::kInvalidArgument, "INVALID_PARAMETERS", false, false,
             false, true},
        Case{404, 1005, C::kNotFound, "RESOURCE_NOT_FOUND", false, false, false,
             false},
        Case{404, 1006, C::kNotFound, "TASK_NOT_FOUND", false, false, false,
             false},
        Case{429, 2000, C::kResourceExhausted, "RATE_LIMITED", true, true,
             false, false},
        Case{400, 2002, C::kInvalidArgument, "TASK_TYPE_NOT_SUPPORTED", false,
             false, false, true},
        Case{400, 2004, C::kInvalidArgument, "FILE_TYPE_NOT_SUPPORTED", false,
             false, false, true},
        Case{409, 2005, C::kFailedPrecondition, "TASK_STATE_CONFLICT", false,
             false, true, false},
        Case{400, 2008, C::kInvalidArgument, "CONTENT_VIOLATION", false, false,
             false, true},
        Case{403, 2010, C::kResourceExhausted, "INSUFFICIENT_CREDITS", false,
             true, false, false},
        Case{404, 4042, C::kNotFound, "NO_ASSETS", false, false, false, false},
        Case{503, 5003, C::kUnavailable, "BACKEND_UNAVAILABLE", true, false,
             false, false},
        Case{500, 5004, C::kInternal, "INVALID_FLOW_NAME", false, false, false,
             false},
        Case{500, 5005, C::kUnavailable, "PERSISTENCE_ERROR", true, false,
             false, false}));

TEST(UpstreamStatusTest, RetryAfterBecomesTheRetryDelay) {
  UpstreamError e =
      Err("CreateTask", 429, 2000, "slow down", "", absl::Seconds(7));
  google::rpc::RetryInfo retry;
  ASSERT_TRUE(Find(AsStatus(e), &retry));
  EXPECT_EQ(retry.retry_delay().seconds(), 7);
  e.retry_after = absl::Milliseconds(1500);
  ASSERT_TRUE(Find(AsStatus(e), &retry));
  EXPECT_EQ(retry.retry_delay().seconds(), 1);
  EXPECT_EQ(retry.retry_delay().nanos(), 500000000);
}

TEST(UpstreamStatusTest, GatewayKeyRejectedIsNotTheCallersUnauthenticated) {
  for (long http : {401L, 403L}) {
    UpstreamError e =
        Err("GetAccount", http, static_cast<int>(http), "Unauthorized");
    absl::Status s = AsStatus(e);
    EXPECT_EQ(s.code(), absl::StatusCode::kInternal) << http;
    EXPECT_THAT(std::string(s.message()), HasSubstr("gateway's API key"));
    google::rpc::ErrorInfo info;
    ASSERT_TRUE(Find(s, &info));
    EXPECT_EQ(info.reason(), "UPSTREAM_CREDENTIALS_REJECTED");
  }
}

TEST(UpstreamStatusTest, CallersOwnKeyRejectedIsTheirs) {
  UpstreamError e = Err("GetAccount", 401, 401, "Unauthorized");
  e.caller_key = true;
  EXPECT_EQ(AsStatus(e).code(), absl::StatusCode::kUnauthenticated);
  e.http_status = 403;
  e.code = 403;
  EXPECT_EQ(AsStatus(e).code(), absl::StatusCode::kPermissionDenied);
}

TEST(UpstreamStatusTest, HttpStatusDecidesWithoutAKnownCode) {
  struct {
    long http;
    absl::StatusCode want;
  } cases[] = {{400, C::kInvalidArgument}, {404, C::kNotFound},
               {409, C::kAborted},         {429, C::kResourceExhausted},
               {500, C::kUnavailable},     {502, C::kUnavailable},
               {503, C::kUnavailable},     {504, C::kUnavailable},
               {501, C::kUnimplemented},   {418, C::kUnknown}};
  for (const auto& c : cases) {
    UpstreamError e = Err("GetTask", c.http, 0, "<html>bad gateway</html>");
    EXPECT_EQ(AsStatus(e).code(), c.want) << c.http;
  }
}

TEST(UpstreamStatusTest, BadRequestNamesTheFieldTheUpstreamNamed) {
  UpstreamError e =
      Err("CreateTask", 400, 1004, "Invalid parameters.",
          "Parameter 'polygon_limit' must be between 1000 and 1500000.");
  google::rpc::BadRequest bad;
  ASSERT_TRUE(Find(AsStatus(e), &bad));
  ASSERT_EQ(bad.field_violations_size(), 1);
  EXPECT_EQ(bad.field_violations(0).field(), "polygon_limit");
  EXPECT_THAT(bad.field_violations(0).description(), HasSubstr("1500000"));
}

TEST(UpstreamStatusTest, InvalidArgumentListsEveryViolation) {
  absl::Status s = InvalidArgument(
      {{"text_to_model.prompt", "must be at least 3 characters"},
       {"client_order_id", "must be 1-64 characters of [A-Za-z0-9_-]"}});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "text_to_model.prompt: must be at least 3 characters");
  google::rpc::BadRequest bad;
  ASSERT_TRUE(Find(s, &bad));
  ASSERT_EQ(bad.field_violations_size(), 2);
  EXPECT_EQ(bad.field_violations(1).field(), "client_order_id");
}

TEST(GrpcStatusTest, CarriesCodeMessageAndDetailsInGoogleRpcStatus) {
  UpstreamError e = Err("CreateTask", 429, 2000, "Too many requests.", "wait",
                        absl::Seconds(3));
  grpc::Status g = ToGrpcStatus(AsStatus(e));
  EXPECT_EQ(g.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(g.error_message(), HasSubstr("Too many requests."));
  google::rpc::Status rpc;
  ASSERT_TRUE(rpc.ParseFromString(g.error_details()));
  EXPECT_EQ(rpc.code(), static_cast<int>(grpc::StatusCode::RESOURCE_EXHAUSTED));
  EXPECT_EQ(rpc.message(), g.error_message());
  bool retry = false, info = false;
  for (const auto& any : rpc.details()) {
    retry |= any.type_url() == "type.googleapis.com/google.rpc.RetryInfo";
    info |= any.type_url() == "type.googleapis.com/google.rpc.ErrorInfo";
  }
  EXPECT_TRUE(retry);
  EXPECT_TRUE(info);
}

TEST(GrpcStatusTest, OkAndPlainStatuses) {
  EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok());
  grpc::Status g = ToGrpcStatus(absl::DeadlineExceededError("GetTask: late"));
  EXPECT_EQ(g.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_EQ(g.error_message(), "GetTask: late");
  EXPECT_TRUE(g.error_details().empty());
}

TEST(GrpcStatusTest, StatusCodeNamesAreTheCanonicalOnes) {
  EXPECT_EQ(StatusCodeName(grpc::StatusCode::OK), "OK");
  EXPECT_EQ(StatusCodeName(grpc::StatusCode::FAILED_PRECONDITION),
            "FAILED_PRECONDITION");
  EXPECT_EQ(StatusCodeName(grpc::StatusCode::UNAUTHENTICATED),
            "UNAUTHENTICATED");
  EXPECT_EQ(StatusCodeName(static_cast<grpc::StatusCode>(17)), "?");
  EXPECT_EQ(StatusCodeName(static_cast<grpc::StatusCode>(-1)), "?");
}

}  // namespace
}  // namespace triverse::errors
