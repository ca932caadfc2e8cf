#!/usr/bin/env bash
# Generates TypeScript type definitions of the contract for the Node client
# with @grpc/proto-loader's proto-loader-gen-types: proto/triverse/v1, the
# vendored google.rpc error model and the gRPC health and reflection protocols.
# The example itself loads the same .proto files at run time (no code to
# generate); these types are for TypeScript callers, with the same loader
# options as example.js (keepCase, longs/enums as String, defaults, oneofs).
#
# Usage: client/examples/node/gen.sh OUT_DIR
set -euo pipefail
out=${1:?usage: gen.sh OUT_DIR}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
gen=$here/node_modules/.bin/proto-loader-gen-types
if [ ! -x "$gen" ]; then
  npm ci --prefix "$here" --no-audit --no-fund --loglevel=error >&2
fi
mkdir -p "$out"
# Paths relative to the include directories, as the imports spell them.
mapfile -t files < <(
  cd "$root/proto" && find triverse/v1 -name '*.proto' | sort
  cd "$root/third_party" && find google/rpc grpc -name '*.proto' | sort
)
"$gen" --grpcLib=@grpc/grpc-js --outDir="$out" \
  -I "$root/proto" -I "$root/third_party" \
  --keepCase --longs=String --enums=String --defaults --oneofs \
  --includeComments "${files[@]}"
