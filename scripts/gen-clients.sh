#!/usr/bin/env bash
# Generates the client code of the contract for Python, Go, Node and Java:
# proto/triverse/v1 plus the vendored google.rpc error model
# (third_party/google/rpc) and the gRPC health and reflection protocols
# (third_party/grpc), each with its language's protoc plugin from Debian (or
# npm for Node). Each language's recipe is client/examples/LANG/gen.sh.
#
# Usage: scripts/gen-clients.sh [OUT_DIR [LANG...]]
#   OUT_DIR defaults to build/clients; LANG to: python go node java.
# Installs what it needs first (scripts/install-deps.sh --clients).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$root/build/clients}
shift || true
langs=("$@")
[ ${#langs[@]} -gt 0 ] || langs=(python go node java)
bash "$root/scripts/install-deps.sh" --clients >/dev/null
mkdir -p "$out"
out=$(cd "$out" && pwd)
for lang in "${langs[@]}"; do
  [ -x "$root/client/examples/$lang/gen.sh" ] || { echo "gen-clients: no $lang" >&2; exit 1; }
  "$root/client/examples/$lang/gen.sh" "$out/$lang"
  echo "gen-clients: $lang -> $out/$lang"
done
