#!/usr/bin/env bash
# Generates the Java client code of the contract into OUT_DIR: messages
# (protoc --java_out) and gRPC stubs (--grpc-java_out, Debian's
# protobuf-compiler-grpc-java-plugin) for proto/triverse/v1, the vendored
# google.rpc error model and the gRPC health and reflection protocols.
#
# Usage: client/examples/java/gen.sh OUT_DIR
set -euo pipefail
out=${1:?usage: gen.sh OUT_DIR}
root=$(cd "$(dirname "$0")/../../.." && pwd)
plugin=${GRPC_JAVA_PLUGIN:-/usr/bin/grpc_java_plugin}
[ -x "$plugin" ] || { echo "gen.sh: $plugin missing (apt-get install protobuf-compiler-grpc-java-plugin)" >&2; exit 1; }
mkdir -p "$out"
cd "$root"
protoc -I proto -I third_party \
  --plugin=protoc-gen-grpc-java="$plugin" \
  --java_out="$out" --grpc-java_out="$out" \
  proto/triverse/v1/*.proto third_party/google/rpc/*.proto \
  third_party/grpc/health/v1/health.proto \
  third_party/grpc/reflection/v1alpha/reflection.proto
