#!/usr/bin/env bash
# Runs the Node example against a gateway (client/examples/run-example.sh node).
#
# Usage: client/examples/node/run.sh TARGET OUT_DIR
# Environment: EXAMPLE_WORK  where the TypeScript types are generated, to
#              check gen.sh (the example itself loads the .proto files at run
#              time); default: a temporary folder, removed at the end.
set -euo pipefail
target=${1:?usage: run.sh TARGET OUT_DIR}
out=${2:?usage: run.sh TARGET OUT_DIR}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
if [ ! -d "$here/node_modules/@grpc/grpc-js" ] || [ ! -d "$here/node_modules/@grpc/proto-loader" ]; then
  npm ci --prefix "$here" --no-audit --no-fund --loglevel=error >&2
fi
if [ -n "${EXAMPLE_WORK:-}" ]; then
  work=$EXAMPLE_WORK
else
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
fi
"$here/gen.sh" "$work/node" >&2
node "$here/example.js" --target "$target" --out "$out" \
  --service-config "$root/client/service_config.json"
