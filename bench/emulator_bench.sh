#!/usr/bin/env bash
# Measures the emulator: GET /tasks/{uuid} under wrk, and 1,000 concurrent
# WebSocket watchers. Usage: bench/emulator_bench.sh [WATCHERS] [TASKS]
# Both load generators share the machine with the emulator: read the figures
# as "the emulator is not the bottleneck", not as a server benchmark.
set -euo pipefail
cd "$(dirname "$0")/.."
watchers=${1:-1000}
tasks=${2:-100}

bash scripts/install-deps.sh
cmake --preset default >/dev/null
cmake --build --preset default --target triverse-emulator ws_watchers

work=$(mktemp -d)
key=bench-key
build/default/emulator/triverse-emulator --listen 127.0.0.1:0 --quiet \
  --port-file "$work/port" --api-keys "$key:100000000" --task-duration 5s \
  --workers-per-key 1000 --read-after-write-window 0s --duplicate-window 0s &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.05; done
port=$(cat "$work/port")
api="http://127.0.0.1:$port/api/v1"
rss() { awk '/VmRSS/{print $2}' "/proc/$pid/status"; }

uuid=$(curl -sS "$api/tasks/text-to-model" -H "Authorization: Bearer $key" \
  -H 'Content-Type: application/json' -d '{"prompt":"a chair"}' |
  /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["task_uuid"])')

echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "== emulator RSS at start: $(rss) KiB"
echo "== wrk: GET /tasks/{uuid}, 2 threads, 32 connections, 10 s"
wrk -t2 -c32 -d10s --latency -H "Authorization: Bearer $key" "$api/tasks/$uuid"
echo "== emulator RSS after wrk: $(rss) KiB"
echo "== $watchers WebSocket watchers on $tasks tasks (5 s each, progress step 5)"
build/default/bench/ws_watchers 127.0.0.1 "$port" "$key" "$watchers" "$tasks"
echo "== emulator RSS after watchers: $(rss) KiB"
curl -sS "http://127.0.0.1:$port/_emulator/stats"; echo
