#!/usr/bin/env bash
# Runs one example client against a real gateway and emulator, and checks
# what it printed (check_output.py): the contract in all four languages.
#
# Usage: client/examples/run-example.sh LANG      (python, go, node or java)
# Environment:
#   BUILD_DIR    where triverse-emulator and triverse-gateway were built
#                (default build/default)
#   EXAMPLE_WORK where the example's generated code and build go (default: a
#                temporary folder, removed at the end)
#   TRIVERSE_REQUIRE_EXAMPLES=1  fail, instead of skipping (exit 77), when the
#                language's toolchain is missing
# The emulator and the gateway listen on free loopback ports (port 0).
set -euo pipefail
lang=${1:?usage: run-example.sh python|go|node|java}
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD_DIR:-$root/build/default}
case "$build" in /*) ;; *) build=$root/$build ;; esac
emulator=$build/emulator/triverse-emulator
gateway=$build/server/triverse-gateway
for bin in "$emulator" "$gateway"; do
  [ -x "$bin" ] || { echo "run-example: $bin is not built" >&2; exit 1; }
done

# The language's toolchain (scripts/install-deps.sh --clients): without it
# the example is skipped (exit 77, CTest's "skipped") unless
# TRIVERSE_REQUIRE_EXAMPLES=1.
case "$lang" in
  python) needs=(/usr/bin/python3 /usr/bin/grpc_python_plugin) ;;
  go) needs=(go /usr/share/gocode/src/google.golang.org/grpc) ;;
  node) needs=(node "$root/client/examples/node/node_modules/@grpc/grpc-js") ;;
  java) needs=(javac /usr/bin/grpc_java_plugin /usr/share/java/grpc-netty.jar /usr/share/java/netty-codec-http2.jar) ;;
  *) echo "run-example: no example in $lang" >&2; exit 2 ;;
esac
for need in "${needs[@]}"; do
  if ! command -v "$need" >/dev/null 2>&1 && [ ! -e "$need" ]; then
    echo "run-example: $need is missing: run scripts/install-deps.sh --clients" >&2
    [ "${TRIVERSE_REQUIRE_EXAMPLES:-0}" = 1 ] && exit 1
    exit 77
  fi
done
if [ "$lang" = python ] && ! /usr/bin/python3 -c 'import grpc' 2>/dev/null; then
  echo "run-example: /usr/bin/python3 has no grpc: run scripts/install-deps.sh --clients" >&2
  [ "${TRIVERSE_REQUIRE_EXAMPLES:-0}" = 1 ] && exit 1
  exit 77
fi

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
wait_for_file() {  # FILE PID NAME LOG
  for _ in $(seq 600); do
    [ -s "$1" ] && return 0
    kill -0 "$2" 2>/dev/null || { echo "run-example: $3 exited" >&2; cat "$4" >&2; return 1; }
    sleep 0.05
  done
  echo "run-example: $3 did not start" >&2
  cat "$4" >&2
  return 1
}

# Tasks PENDING 1 s (time enough to watch, drop and resume the stream before
# they run), then RUNNING 3 s.
key=examples-key
"$emulator" --listen 127.0.0.1:0 --quiet --port-file "$work/emulator.port" \
  --api-keys "$key:1000" --pending-duration 1s --task-duration 3s \
  2>"$work/emulator.log" &
pids+=($!)
wait_for_file "$work/emulator.port" "${pids[-1]}" emulator "$work/emulator.log"
TRIVERSE_API_KEY=$key "$gateway" --listen 127.0.0.1:0 \
  --port-file "$work/gateway.port" --metrics-listen 127.0.0.1:0 \
  --upstream-url "http://127.0.0.1:$(cat "$work/emulator.port")/api/v1" \
  >"$work/gateway.log" 2>&1 &
pids+=($!)
wait_for_file "$work/gateway.port" "${pids[-1]}" gateway "$work/gateway.log"
target=127.0.0.1:$(cat "$work/gateway.port")

example_work=${EXAMPLE_WORK:-$work/example}
mkdir -p "$example_work" "$work/out"
echo "run-example: $lang against the gateway on $target"
status=0
EXAMPLE_WORK=$example_work "$root/client/examples/$lang/run.sh" "$target" "$work/out" \
  >"$work/stdout" 2>"$work/stderr" || status=$?
cat "$work/stdout"
if [ $status != 0 ]; then
  echo "run-example: the $lang example exited with $status; its stderr:" >&2
  cat "$work/stderr" >&2
  exit 1
fi
/usr/bin/python3 "$root/client/examples/check_output.py" "$work/stdout" "$work/out"
# Whatever the gateway printed (its JSON log lines) never holds the key.
if grep -qF "$key" "$work/gateway.log"; then
  echo "run-example: the gateway's log contains the API key" >&2
  exit 1
fi
