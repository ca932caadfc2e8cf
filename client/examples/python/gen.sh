#!/usr/bin/env bash
# Generates the Python messages (*_pb2.py) and gRPC stubs (*_pb2_grpc.py) of
# the contract with Debian's protoc and grpc_python_plugin.
#
# Usage: client/examples/python/gen.sh OUT_DIR
#
# Modules: triverse.v1.*, google.rpc.* (a namespace package next to the
# installed google.protobuf), and the health and reflection protocols as
# grpc_health.v1 and grpc_reflection.v1alpha: the module names of the
# grpcio-health-checking and grpcio-reflection packages. They cannot stay
# under grpc/, which the installed grpc package owns, so their protos are
# staged under those names first (the proto packages and wire names do not
# change).
set -euo pipefail
out=${1:?usage: gen.sh OUT_DIR}
root=$(cd "$(dirname "$0")/../../.." && pwd)
protoc=${PROTOC:-/usr/bin/protoc}
plugin=${GRPC_PYTHON_PLUGIN:-/usr/bin/grpc_python_plugin}
for tool in "$protoc" "$plugin"; do
  [ -x "$tool" ] || { echo "gen.sh: $tool is missing (apt-get install protobuf-compiler protobuf-compiler-grpc)" >&2; exit 1; }
done

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/grpc_health/v1" "$stage/grpc_reflection/v1alpha" "$out"
out=$(cd "$out" && pwd)
cp "$root/third_party/grpc/health/v1/health.proto" "$stage/grpc_health/v1/"
cp "$root/third_party/grpc/reflection/v1alpha/reflection.proto" "$stage/grpc_reflection/v1alpha/"

cd "$root"
"$protoc" -I proto -I third_party -I "$stage" -I /usr/include \
  --python_out="$out" --grpc_python_out="$out" \
  --plugin=protoc-gen-grpc_python="$plugin" \
  proto/triverse/v1/*.proto third_party/google/rpc/*.proto \
  "$stage/grpc_health/v1/health.proto" \
  "$stage/grpc_reflection/v1alpha/reflection.proto"
