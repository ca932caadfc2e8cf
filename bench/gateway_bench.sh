#!/usr/bin/env bash
# GetTask through the gateway against direct REST calls to the same emulator,
# in one run, at several concurrency levels (see BENCHMARKS.md).
#
# Usage: bench/gateway_bench.sh [gateway-bench flags...]
#   e.g. bench/gateway_bench.sh --concurrency 1,8,64,256 --duration 5s
# Environment:
#   BUILD_DIR         build tree (default build/default, configured with the
#                     `default` preset when it is that one)
#   NO_BUILD=1        take the binaries from BUILD_DIR as they are
#   EMULATOR_THREADS  emulator server threads (default 2)
#   PIN=1             gateway alone on the last core, emulator and load
#                     generator on the others (taskset): the gRPC runs then
#                     show what one gateway core sustains
#   PERF_SECONDS=N    also record the gateway with perf (DWARF call graphs:
#                     Debian's libraries have no frame pointers) for the
#                     first N s of the run, into $PERF_OUT (default
#                     gateway-bench.perf.data); e.g. with --modes grpc
#                     --concurrency 64
# Everything (load generator, gateway, emulator) shares the machine: read the
# CPU-per-call columns as the cost of each process, and the throughput as
# what this machine sustains with all three on it.
set -euo pipefail
cd "$(dirname "$0")/.."
bench_name=gateway_bench
# shellcheck source=bench/lib.sh
source bench/lib.sh
build_binaries gateway-bench

# With PIN=1: gateway on the last core, everything else on the rest.
on_rest=() on_gateway=()
if [ "${PIN:-0}" = 1 ]; then
  last=$(($(nproc) - 1))
  [ "$last" -ge 1 ] || { echo "gateway_bench: PIN=1 needs 2 cores" >&2; exit 1; }
  on_rest=(taskset -c "0-$((last - 1))") on_gateway=(taskset -c "$last")
fi


key=bench-key
"${on_rest[@]}" "$emulator_bin" --listen 127.0.0.1:0 --quiet --port-file "$work/emulator.port" \
  --threads "${EMULATOR_THREADS:-2}" --api-keys "$key:100000000" \
  --task-duration 1s --pending-duration 0s --queue-duration 0s \
  --read-after-write-window 0s --duplicate-window 0s \
  2>"$work/emulator.log" &
emulator_pid=$!
pids+=("$emulator_pid")
wait_port "$work/emulator.port" "$emulator_pid" emulator "$work/emulator.log"
api="http://127.0.0.1:$(cat "$work/emulator.port")/api/v1"

# One task, read once it has finished: the full payload (output and assets),
# and the same bytes for every call.
uuid=$(curl -sS "$api/tasks/text-to-model" -H "Authorization: Bearer $key" \
  -H 'Content-Type: application/json' -d '{"prompt":"a benchmark chair"}' |
  /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["task_uuid"])')
for _ in $(seq 100); do
  payload=$(curl -sS "$api/tasks/$uuid" -H "Authorization: Bearer $key")
  case $payload in *'"status":"SUCCESS"'*) break ;; esac
  sleep 0.1
done
case $payload in
  *'"status":"SUCCESS"'*) ;;
  *) echo "gateway_bench: task $uuid did not succeed: $payload" >&2; exit 1 ;;
esac

TRIVERSE_API_KEY=$key "${on_gateway[@]}" "$gateway_bin" --listen 127.0.0.1:0 \
  --port-file "$work/gateway.port" --upstream-url "$api" --metrics-listen 127.0.0.1:0 \
  >"$work/gateway.log" 2>&1 &
gateway_pid=$!
pids+=("$gateway_pid")
wait_port "$work/gateway.port" "$gateway_pid" gateway "$work/gateway.log"
gateway="127.0.0.1:$(cat "$work/gateway.port")"

rss() { awk '/VmRSS/{print $2}' "/proc/$1/status"; }
cache="$build/CMakeCache.txt"
echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)," \
  "kernel $(uname -r), load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
compiler=$(grep -m1 '^CMAKE_CXX_COMPILER:' "$cache" | cut -d= -f2)
echo "== build: $build, $(grep -m1 '^CMAKE_BUILD_TYPE:' "$cache" | cut -d= -f2)," \
  "$("$compiler" --version | head -1)," \
  "source tree at $(git rev-parse --short HEAD 2>/dev/null || echo ?)$(git diff --quiet HEAD 2>/dev/null || echo +changes)," \
  "gateway binary of $(date -u -r "$gateway_bin" +%FT%TZ)"
echo "== libraries: gRPC $(pkg-config --modversion grpc++), protobuf $(pkg-config --modversion protobuf)," \
  "libcurl $(pkg-config --modversion libcurl)"
echo "== emulator: ${EMULATOR_THREADS:-2} threads, pid $emulator_pid; gateway: pid $gateway_pid;" \
  "pinning: ${on_gateway[*]:-none}${on_gateway:+ for the gateway, ${on_rest[*]} for the rest};" \
  "payload of GET /tasks/{uuid}: $(printf %s "$payload" | wc -c) bytes (SUCCESS)"
echo "== RSS at start: gateway $(rss "$gateway_pid") KiB, emulator $(rss "$emulator_pid") KiB"

if [ -n "${PERF_SECONDS:-}" ]; then
  command -v perf >/dev/null || { echo "gateway_bench: PERF_SECONDS needs perf (apt-get install linux-perf)" >&2; exit 1; }
  perf record -F 499 --call-graph dwarf,16384 -o "${PERF_OUT:-gateway-bench.perf.data}" -p "$gateway_pid" \
    -- sleep "$PERF_SECONDS" >"$work/perf.log" 2>&1 &
  pids+=("$!")
fi

status=0
"${on_rest[@]}" "$bench_bin" --rest-url "$api" --api-key "$key" --task-uuid "$uuid" \
  --gateway "$gateway" --gateway-pid "$gateway_pid" \
  --emulator-pid "$emulator_pid" "$@" || status=$?

echo
echo "== RSS after: gateway $(rss "$gateway_pid") KiB, emulator $(rss "$emulator_pid") KiB;" \
  "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
if [ $status != 0 ]; then
  echo "== gateway-bench exited with $status (errors above); gateway log tail:"
  tail -n 20 "$work/gateway.log"
fi
exit $status
