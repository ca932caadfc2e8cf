#!/usr/bin/env bash
# Soak: 10,000 idle WatchTask streams held on one gateway for 10 minutes,
# then a steady unary load (GetTask) for 10 minutes with the streams still
# open; the gateway is sampled every 10 s (RSS, open fds, threads, TCP
# sockets to the emulator, calls and errors). Writes $OUT_DIR/$OUT_NAME.csv,
# and $OUT_NAME.md: the run's log, summary table, verdict and an ASCII plot
# of the curves (bench/soak_plot.py).
#
# Usage: bench/soak.sh [soak flags...]
#   e.g. bench/soak.sh                       # the full 10 + 10 minutes
#        bench/soak.sh --streams 1000 --idle-duration 30s --load-duration 30s
# soak flags: --streams --tasks --channels --idle-duration --load-duration
#   --load-rps --load-threads --sample-interval --warmup
#   --max-rss-slope-kib-per-min (see bench/soak.cc)
# Environment:
#   BUILD_DIR, NO_BUILD, GATEWAY_BIN   as for bench/watch_bench.sh
#   OUT_DIR    where the CSV and the report go (default bench/results)
#   OUT_NAME   their base name (default soak-<UTC date>)
# The emulator's tasks stay PENDING for longer than any run (PENDING 24h),
# so the streams stay idle: after their snapshot they get no event.
set -euo pipefail
cd "$(dirname "$0")/.."
bench_name=soak
# shellcheck source=bench/lib.sh
source bench/lib.sh
build_binaries soak

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt 4096 ]; then
  echo "soak: needs 4096 open files (ulimit -n is $(ulimit -n))" >&2
  exit 1
fi
out_dir=${OUT_DIR:-bench/results}
out_name=${OUT_NAME:-soak-$(date -u +%F)}
mkdir -p "$out_dir"

key=bench-key
"$emulator_bin" --listen 127.0.0.1:0 --quiet --port-file "$work/emulator.port" \
  --threads "${EMULATOR_THREADS:-2}" --api-keys "$key:1000000000" \
  --pending-duration 24h --task-duration 10s --queue-duration 0s \
  --workers-per-key 100000 --max-queue 100000 \
  --read-after-write-window 0s --duplicate-window 0s \
  2>"$work/emulator.log" &
emulator_pid=$!
pids+=("$emulator_pid")
wait_port "$work/emulator.port" "$emulator_pid" emulator "$work/emulator.log"
emulator_port=$(cat "$work/emulator.port")
api="http://127.0.0.1:$emulator_port/api/v1"

TRIVERSE_API_KEY=$key "$gateway_bin" --listen 127.0.0.1:0 \
  --max-watches-per-client 100000 --max-watch-streams 100000 \
  --metrics-listen 127.0.0.1:0 \
  --port-file "$work/gateway.port" --upstream-url "$api" \
  >"$work/gateway.log" 2>&1 &
gateway_pid=$!
pids+=("$gateway_pid")
wait_port "$work/gateway.port" "$gateway_pid" gateway "$work/gateway.log"
gateway="127.0.0.1:$(cat "$work/gateway.port")"

{
  echo "# Soak run of $(date -u +%FT%TZ)"
  echo
  echo "Command: \`bench/soak.sh $*\`"
  echo
  echo "- machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)," \
    "$(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo), kernel $(uname -r)"
  echo "- build: $build ($(grep -m1 '^CMAKE_BUILD_TYPE:' "$build/CMakeCache.txt" | cut -d= -f2))," \
    "source tree at $(git rev-parse --short HEAD 2>/dev/null || echo ?)$(git diff --quiet HEAD 2>/dev/null || echo +changes)"
  echo "- gRPC $(pkg-config --modversion grpc++), libcurl $(pkg-config --modversion libcurl)"
  echo "- emulator: tasks PENDING 24h (idle streams), pid $emulator_pid;" \
    "gateway: default watch settings (idle timeout 60s, grace 30s), pid $gateway_pid"
  echo
  echo '```'
} >"$out_dir/$out_name.md"

set +e
"$bench_bin" --gateway "$gateway" --gateway-pid "$gateway_pid" \
  --upstream-port "$emulator_port" --csv "$out_dir/$out_name.csv" "$@" |
  tee -a "$out_dir/$out_name.md"
status=${PIPESTATUS[0]}
set -e
echo '```' >>"$out_dir/$out_name.md"

if ! kill -0 "$gateway_pid" 2>/dev/null; then
  echo "soak: the gateway is gone; its log tail:" | tee -a "$out_dir/$out_name.md"
  tail -n 30 "$work/gateway.log" | tee -a "$out_dir/$out_name.md"
  status=1
fi
curl -sS "http://127.0.0.1:$emulator_port/_emulator/stats" >"$work/stats.json" || true
{
  echo
  echo "Emulator stats at the end: \`$(cat "$work/stats.json")\`"
  echo
} >>"$out_dir/$out_name.md"
/usr/bin/python3 bench/soak_plot.py "$out_dir/$out_name.csv" >>"$out_dir/$out_name.md" || true
echo "soak: wrote $out_dir/$out_name.csv and $out_dir/$out_name.md (exit $status)"
exit "$status"
