#!/usr/bin/env bash
# Fault matrix: 1,000 tasks created through the gateway and watched by
# several clients while the emulator injects every fault at once (503, 500,
# 429 with Retry-After, truncated and hung responses, WebSocket drops and
# silent sockets, duplicate `since` replays, read-after-write misses, failed
# and cancelled tasks), and the gateway is restarted mid-run (SIGTERM, then
# SIGKILL, by default). Checked against the emulator's ledger and stats (see
# bench/fault_matrix.cc); exits 1 when an invariant is violated.
#
# Usage: bench/fault_matrix.sh [fault-matrix flags...]
#   e.g. bench/fault_matrix.sh   # 1,000 tasks over 60 s, SIGTERM at 40 s, SIGKILL at 90 s
#        bench/fault_matrix.sh --restarts TERM@45s     # one graceful restart only
#        bench/fault_matrix.sh --tasks 100 --create-spread 10s --restarts TERM@8s
#   TASK_DURATION=10s shortens the tasks for such a small run.
# Environment:
#   BUILD_DIR, NO_BUILD, GATEWAY_BIN   as for bench/watch_bench.sh
#   TASK_DURATION   time each task spends RUNNING (default 60s)
#   FAULTS          the fault settings (JSON; default: every fault, below)
#   RAW_WINDOW      the read-after-write window (default 2s)
#   OUT             append the Markdown report to this file too
#   KEEP_LOGS=DIR   copy the gateway's and the emulator's logs there
set -euo pipefail
cd "$(dirname "$0")/.."
bench_name=fault_matrix
# shellcheck source=bench/lib.sh
source bench/lib.sh
build_binaries fault-matrix

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# Every fault at once, on every route (the watch upgrades too), at rates a
# gateway with retries must absorb.
default_faults='{"seed":20261126,
 "routes":{"*":{"latency_ms":0,"latency_jitter_ms":20,
   "unavailable_rate":0.04,"internal_error_rate":0.03,
   "rate_limit_rate":0.03,"retry_after_seconds":1,
   "truncate_rate":0.02,"hang_rate":0.01}},
 "websocket":{"drop_rate":0.01,"silent_rate":0.15,
   "replay_duplicate_rate":0.5},
 "tasks":{"failure_rate":0.1,"cancel_rate":0.05,
   "read_after_write_miss_rate":0.3}}'
faults=${FAULTS:-$default_faults}

key=bench-key
# Hung responses end after 60 s (--hang-limit) unless the gateway gives up
# first; every created task may run at once.
"$emulator_bin" --listen 127.0.0.1:0 --port-file "$work/emulator.port" \
  --threads "${EMULATOR_THREADS:-2}" --api-keys "$key:1000000000" \
  --task-duration "${TASK_DURATION:-60s}" --progress-step 10 \
  --pending-duration 1s --queue-duration 0s \
  --workers-per-key 100000 --max-queue 100000 \
  --read-after-write-window "${RAW_WINDOW:-2s}" --hang-limit 60s \
  2>"$work/emulator.log" &
emulator_pid=$!
pids+=("$emulator_pid")
wait_port "$work/emulator.port" "$emulator_pid" emulator "$work/emulator.log"
emulator_port=$(cat "$work/emulator.port")
api="http://127.0.0.1:$emulator_port/api/v1"

echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)," \
  "kernel $(uname -r), load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== build: $build ($(grep -m1 '^CMAKE_BUILD_TYPE:' "$build/CMakeCache.txt" | cut -d= -f2))," \
  "source tree at $(git rev-parse --short HEAD 2>/dev/null || echo ?)$(git diff --quiet HEAD 2>/dev/null || echo +changes)"
echo "== emulator: tasks PENDING 1s, RUNNING ${TASK_DURATION:-60s} (progress step 10)," \
  "read-after-write window ${RAW_WINDOW:-2s}, hang limit 60s"
echo "== faults: $(printf %s "$faults" | tr -d '\n ')"

status=0
"$bench_bin" --gateway-bin "$gateway_bin" --gateway-log "$work/gateway.log" \
  --work-dir "$work" --rest-url "$api" --api-key "$key" --faults "$faults" \
  --gateway-args=--max-watches-per-client=100000,--max-watch-streams=100000,--watch-idle-timeout=10s,--shutdown-grace=5s,--watch-grace=5s \
  ${OUT:+--out "$OUT"} "$@" || status=$?

if [ -n "${KEEP_LOGS:-}" ]; then
  mkdir -p "$KEEP_LOGS"
  cp "$work/gateway.log" "$work/emulator.log" "$KEEP_LOGS/"
fi
if [ $status != 0 ]; then
  echo "== fault-matrix exited with $status; gateway log tail:"
  tail -n 30 "$work/gateway.log"
fi
exit $status
