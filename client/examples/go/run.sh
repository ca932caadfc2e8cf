#!/usr/bin/env bash
# Generates the Go code into $EXAMPLE_WORK, builds the example offline and
# runs it.
# Usage: client/examples/go/run.sh TARGET OUT_DIR   (see run-example.sh)
set -euo pipefail
target=${1:?usage: run.sh TARGET OUT_DIR}
out=${2:?usage: run.sh TARGET OUT_DIR}
here=$(cd "$(dirname "$0")" && pwd)
work=${EXAMPLE_WORK:-$(mktemp -d)}
mkdir -p "$work"
work=$(cd "$work" && pwd)
[ -n "${GOCACHE:-}${XDG_CACHE_HOME:-}${HOME:-}" ] || export GOCACHE="$work/gocache"
"$here/gen.sh" "$work/gen" >&2
# GOPATH mode: the generated package from $work/gen, everything else from
# Debian's /usr/share/gocode; nothing is downloaded.
(cd "$here" && GO111MODULE=off GOPATH="$work/gen:/usr/share/gocode" GOFLAGS= \
  go build -o "$work/triverse-example" .)
# grpc-go 1.33 honours the service config's retryPolicy only with this.
GRPC_GO_RETRY=on exec "$work/triverse-example" -target "$target" -out "$out" \
  -service-config "${TRIVERSE_SERVICE_CONFIG:-$here/../../service_config.json}"
