// The one conversion from absl::Status to grpc::Status.
#ifndef TRIVERSE_SERVER_ERRORS_GRPC_STATUS_H_
#define TRIVERSE_SERVER_ERRORS_GRPC_STATUS_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace triverse::errors {

// ToGrpcStatus keeps the code and the message and serialises the details
// attached with AddDetail into a google.rpc.Status, which gRPC sends in the
// grpc-status-details-bin trailer.
grpc::Status ToGrpcStatus(const absl::Status& status);

// StatusCodeName is the canonical name of a gRPC code ("NOT_FOUND"), or "?"
// for a number outside 0-16.
absl::string_view StatusCodeName(grpc::StatusCode code);

}  // namespace triverse::errors

#endif  // TRIVERSE_SERVER_ERRORS_GRPC_STATUS_H_
