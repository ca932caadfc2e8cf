#!/usr/bin/env bash
# WatchTask fan-out on one gateway (issue 5): 10,000 concurrent WatchTask
# streams (gateway RSS per stream, upstream WebSockets, delay from an
# upstream event to its delivery on every stream), then the upstream
# requests of 1,000 watchers of one task against 1,000 clients polling every
# 2 s (see BENCHMARKS.md, "WatchTask fan-out").
#
# Usage: bench/watch_bench.sh [watch-bench flags...]
#   e.g. bench/watch_bench.sh --streams 10000 --tasks 100
#        bench/watch_bench.sh --modes requests
# Environment:
#   BUILD_DIR         build tree (default build/default, configured with the
#                     `default` preset when it is that one)
#   NO_BUILD=1        take the binaries from BUILD_DIR as they are
#   GATEWAY_BIN       another triverse-gateway binary to measure (e.g. one
#                     built from an earlier commit, for side-by-side runs)
#   EMULATOR_THREADS  emulator server threads (default 2)
#   EMULATOR_TICK     the emulator's state-machine resolution (default 5ms;
#                     its own default is 20ms): an event goes out up to one tick
#                     after its started_at/completed_at, and that lag counts
#                     in the upstream → gateway part of the delay
#   TASK_DURATION     time each task spends RUNNING (default 10s)
#   PROGRESS_STEP     progress moves in steps of this many % (default 5, the
#                     emulator's: 20 UPDATE events per task while RUNNING)
#   PENDING_DURATION  time each task stays PENDING (default 30s): long enough
#                     for every stream to be open before any task runs, so
#                     that each stream sees RUNNING as a live event
#   OUT_DIR           where watch-bench writes delays.csv (one row per
#                     measured delivery; git-ignored) and rss.csv, and where
#                     bench/watch_plot.py draws watch_delay_run.svg and
#                     watch_rss.svg from them (default bench/results)
#   PLOT=0            do not draw them
# Everything (the streams' client, the gateway, the emulator) shares the
# machine.
set -euo pipefail
cd "$(dirname "$0")/.."
bench_name=watch_bench
# shellcheck source=bench/lib.sh
source bench/lib.sh
build_binaries watch-bench

# File descriptors: the gateway holds one socket per client HTTP/2
# connection (16) and a few upstream; the emulator and watch-bench one per
# polling client (1,000) in the requests mode. Raise the soft limit to the
# hard one and insist on room for that.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt 4096 ]; then
  echo "watch_bench: needs 4096 open files (ulimit -n is $(ulimit -n))" >&2
  exit 1
fi

out_dir=${OUT_DIR:-bench/results}
mkdir -p "$out_dir"

# One key with credits for every task; every task of it may run at once
# (--workers-per-key), so that all start after their PENDING time.
key=bench-key
"$emulator_bin" --listen 127.0.0.1:0 --quiet --port-file "$work/emulator.port" \
  --threads "${EMULATOR_THREADS:-2}" --tick "${EMULATOR_TICK:-5ms}" --api-keys "$key:1000000000" \
  --task-duration "${TASK_DURATION:-10s}" --progress-step "${PROGRESS_STEP:-5}" \
  --pending-duration "${PENDING_DURATION:-30s}" --queue-duration 0s \
  --workers-per-key 100000 --max-queue 100000 \
  --read-after-write-window 0s --duplicate-window 0s \
  2>"$work/emulator.log" &
emulator_pid=$!
pids+=("$emulator_pid")
wait_port "$work/emulator.port" "$emulator_pid" emulator "$work/emulator.log"
api="http://127.0.0.1:$(cat "$work/emulator.port")/api/v1"

# The gateway as a user starts it, with the per-client watch limit above the
# 10,000 streams that all come from this one address, and a short grace so
# that the hub's socket closes between the two modes.
TRIVERSE_API_KEY=$key "$gateway_bin" --listen 127.0.0.1:0 \
  --max-watches-per-client 100000 --max-watch-streams 100000 \
  --watch-grace 2s --metrics-listen 127.0.0.1:0 \
  --port-file "$work/gateway.port" --upstream-url "$api" \
  >"$work/gateway.log" 2>&1 &
gateway_pid=$!
pids+=("$gateway_pid")
wait_port "$work/gateway.port" "$gateway_pid" gateway "$work/gateway.log"
gateway="127.0.0.1:$(cat "$work/gateway.port")"

rss() { awk '/VmRSS/{print $2}' "/proc/$1/status"; }
cache="$build/CMakeCache.txt"
echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)," \
  "$(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo)," \
  "kernel $(uname -r), load average before: $(cut -d' ' -f1-3 /proc/loadavg), ulimit -n $(ulimit -n)"
compiler=$(grep -m1 '^CMAKE_CXX_COMPILER:' "$cache" | cut -d= -f2)
echo "== build: $build, $(grep -m1 '^CMAKE_BUILD_TYPE:' "$cache" | cut -d= -f2)," \
  "$("$compiler" --version | head -1)," \
  "source tree at $(git rev-parse --short HEAD 2>/dev/null || echo ?)$(git diff --quiet HEAD 2>/dev/null || echo +changes)," \
  "gateway binary of $(date -u -r "$gateway_bin" +%FT%TZ)"
echo "== libraries: gRPC $(pkg-config --modversion grpc++), protobuf $(pkg-config --modversion protobuf)," \
  "libcurl $(pkg-config --modversion libcurl)"
echo "== emulator: ${EMULATOR_THREADS:-2} threads, tick ${EMULATOR_TICK:-5ms}, tasks PENDING ${PENDING_DURATION:-30s}," \
  "RUNNING ${TASK_DURATION:-10s} (progress in steps of ${PROGRESS_STEP:-5} %), pid $emulator_pid;" \
  "gateway: pid $gateway_pid, --watch-grace 2s --max-watches-per-client 100000 --max-watch-streams 100000"
echo "== RSS at start: gateway $(rss "$gateway_pid") KiB, emulator $(rss "$emulator_pid") KiB"
echo

status=0
"$bench_bin" --gateway "$gateway" --rest-url "$api" --api-key "$key" \
  --gateway-pid "$gateway_pid" --out-dir "$out_dir" "$@" || status=$?

echo
echo "== RSS after: gateway $(rss "$gateway_pid") KiB, emulator $(rss "$emulator_pid") KiB;" \
  "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
if ! kill -0 "$gateway_pid" 2>/dev/null; then
  echo "== the gateway is gone; its log tail:"
  tail -n 30 "$work/gateway.log"
  status=1
fi
if [ $status != 0 ]; then
  echo "== watch-bench exited with $status (errors above); gateway log tail:"
  tail -n 20 "$work/gateway.log"
fi
if [ "${PLOT:-1}" = 1 ] && [ -s "$out_dir/delays.csv" ]; then
  /usr/bin/python3 bench/watch_plot.py "$out_dir"
fi
exit $status
