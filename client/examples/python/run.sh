#!/usr/bin/env bash
# Generates the Python code into $EXAMPLE_WORK and runs the example.
# Usage: client/examples/python/run.sh TARGET OUT_DIR   (see run-example.sh)
set -euo pipefail
target=${1:?usage: run.sh TARGET OUT_DIR}
out=${2:?usage: run.sh TARGET OUT_DIR}
here=$(cd "$(dirname "$0")" && pwd)
work=${EXAMPLE_WORK:-$(mktemp -d)}
"$here/gen.sh" "$work/gen" >&2
# Debian's interpreter: its python3-grpcio and python3-protobuf, not a pyenv's.
PYTHONPATH="$work/gen" exec /usr/bin/python3 "$here/triverse_example.py" \
  --target "$target" --out "$out" \
  --service-config "${TRIVERSE_SERVICE_CONFIG:-$here/../../service_config.json}"
