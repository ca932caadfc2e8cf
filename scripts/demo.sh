#!/usr/bin/env bash
# The main job, end to end on one machine: installs the dependencies, builds,
# starts the Triverse emulator on a free loopback port and walks one task
# through its life with curl (REST and WebSocket), then downloads the model.
# Usage: scripts/demo.sh [OUTPUT_FILE]   (default: model.glb)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-model.glb}

bash scripts/install-deps.sh
cmake --preset default >/dev/null
cmake --build --preset default --target triverse-emulator

work=$(mktemp -d)
key=demo-key
build/default/emulator/triverse-emulator --listen 127.0.0.1:0 \
  --port-file "$work/port" --api-keys "$key:500" --task-duration 4s \
  2>"$work/emulator.log" &
emulator_pid=$!
trap 'kill $emulator_pid 2>/dev/null || true; wait $emulator_pid 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.05; done
port=$(cat "$work/port")
api="http://127.0.0.1:$port/api/v1"
auth="Authorization: Bearer $key"
json() { /usr/bin/python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "Emulator listening on 127.0.0.1:$port"
step "GET /users/balance"
curl -sS "$api/users/balance" -H "$auth"; echo
step "POST /tasks/pricing/quote"
curl -sS "$api/tasks/pricing/quote" -H "$auth" -H 'Content-Type: application/json' \
  -d '{"flow_name":"text-to-model","params":{"texture_size":2048}}'; echo
step "POST /tasks/text-to-model"
created=$(curl -sS "$api/tasks/text-to-model" -H "$auth" -H 'Content-Type: application/json' \
  -d '{"prompt":"a small wooden chair","texture_size":1024,"client_order_id":"demo-order-1"}')
echo "$created"
uuid=$(echo "$created" | json 'd["data"]["task_uuid"]')
header=$(echo "$created" | json 'd["data"]["read_after_write_header"] or "X-Read-After-Write"')

step "GET /tasks/$uuid (read-after-write header: $header)"
curl -sS "$api/tasks/$uuid" -H "$auth" -H "$header: 1"; echo

step "WebSocket watch/$uuid until finalized"
curl -sS -N --max-time 60 "ws://127.0.0.1:$port/api/v1/tasks/watch/$uuid?token=$key" |
  /usr/bin/python3 -c '
import json, sys
buf = sys.stdin.buffer.read().decode("utf-8", "replace")
for chunk in buf.split("event: ")[1:]:
    kind, _, data = chunk.partition("\ndata: ")
    # raw_decode: the close frame payload may follow the last message.
    d, _ = json.JSONDecoder().raw_decode(data.strip())
    d = d.get("data", d)
    print("%-9s %-9s progress=%3d" % (kind, d["status"], d["progress"]))
'

step "GET /tasks/url/$uuid"
curl -sS "$api/tasks/url/$uuid" -H "$auth"; echo
step "GET /tasks/download/$uuid -> $out"
curl -sS -D "$work/headers" -o "$out" "$api/tasks/download/$uuid" -H "$auth"
grep -i '^content-disposition' "$work/headers"
magic=$(head -c 4 "$out")
[ "$magic" = "glTF" ] || { echo "download is not a glTF binary" >&2; exit 1; }
echo "saved $(stat -c %s "$out") bytes of binary glTF (.glb) to $out"
step "GET /users/balance after SUCCESS"
curl -sS "$api/users/balance" -H "$auth"; echo
step "Emulator stats"
curl -sS "http://127.0.0.1:$port/_emulator/stats"; echo
