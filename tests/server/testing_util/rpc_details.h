// Reading the google.rpc details (grpc-status-details-bin) of a finished
// gRPC call, for tests of the gateway's errors.
#ifndef TRIVERSE_TESTS_SERVER_TESTING_UTIL_RPC_DETAILS_H_
#define TRIVERSE_TESTS_SERVER_TESTING_UTIL_RPC_DETAILS_H_

#include <optional>
#include <string>
#include <vector>

#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"

namespace triverse::testing_util {

// RpcDetails decodes the google.rpc.Status a call ended with.
inline google::rpc::Status RpcDetails(const grpc::Status& status) {
  google::rpc::Status out;
  EXPECT_TRUE(out.ParseFromString(status.error_details()))
      << "no google.rpc.Status details";
  return out;
}

// FindDetail returns the first detail of type T, if any.
template <typename T>
std::optional<T> FindDetail(const grpc::Status& status) {
  const google::rpc::Status details = RpcDetails(status);
  for (const auto& any : details.details()) {
    T detail;
    if (any.UnpackTo(&detail)) return detail;
  }
  return std::nullopt;
}

template <typename T>
bool HasDetail(const grpc::Status& status) {
  return FindDetail<T>(status).has_value();
}

// Reason is the ErrorInfo reason, or "<no ErrorInfo>".
inline std::string Reason(const grpc::Status& status) {
  auto info = FindDetail<google::rpc::ErrorInfo>(status);
  return info ? info->reason() : "<no ErrorInfo>";
}

// ViolatedFields lists the fields of the BadRequest detail.
inline std::vector<std::string> ViolatedFields(const grpc::Status& status) {
  std::vector<std::string> out;
  if (auto br = FindDetail<google::rpc::BadRequest>(status)) {
    for (const auto& v : br->field_violations()) out.push_back(v.field());
  }
  return out;
}

}  // namespace triverse::testing_util

#endif  // TRIVERSE_TESTS_SERVER_TESTING_UTIL_RPC_DETAILS_H_
