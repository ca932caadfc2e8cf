#!/usr/bin/env bash
# The main job, end to end on one machine: installs the dependencies, builds,
# starts the Triverse emulator and the gateway on free loopback ports, then
# uses the `triverse` CLI over gRPC to quote, create a task, watch it to
# SUCCESS and download its model.
# Usage: scripts/demo.sh [--provider triverse|tripo|siray] [OUTPUT_FILE]
#   (default: triverse, model.glb). With tripo or siray the emulator runs in
#   that provider's mode and the gateway fronts it: the same CLI, the same
#   contract (the steps a provider lacks are skipped).
set -euo pipefail
cd "$(dirname "$0")/.."
provider=triverse
if [ "${1:-}" = "--provider" ]; then
  provider=${2:?--provider needs triverse, tripo or siray}
  shift 2
fi
case "$provider" in
triverse) key=demo-key base=/api/v1 ;;
tripo) key=tsk_demo-key base=/v2/openapi ;;
siray) key=demo-key base= ;;
*)
  echo "unknown provider $provider (triverse, tripo or siray)" >&2
  exit 2
  ;;
esac
out=${1:-model.glb}

bash scripts/install-deps.sh
cmake --preset default >/dev/null
cmake --build --preset default --target triverse-emulator triverse-gateway triverse

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
wait_for_file() {
  for _ in $(seq 200); do [ -s "$1" ] && return 0; sleep 0.05; done
  echo "timed out waiting for $1" >&2
  return 1
}
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

# The emulator stands in for the provider's API: one key with 500 credits,
# tasks that take about 6 s.
build/default/emulator/triverse-emulator --listen 127.0.0.1:0 --provider "$provider" \
  --port-file "$work/emulator.port" --api-keys "$key:500" --task-duration 6s \
  2>"$work/emulator.log" &
pids+=($!)
wait_for_file "$work/emulator.port"
emulator_port=$(cat "$work/emulator.port")

# The gateway: its key comes from a file, as a Kubernetes Secret would.
printf '%s\n' "$key" >"$work/api-key"
build/default/server/triverse-gateway --listen 127.0.0.1:0 --provider "$provider" \
  --port-file "$work/gateway.port" --metrics-listen 127.0.0.1:0 \
  --upstream-url "http://127.0.0.1:$emulator_port$base" \
  --api-key-file "$work/api-key" >"$work/gateway.log" 2>&1 &
pids+=($!)
wait_for_file "$work/gateway.port"
export TRIVERSE_GATEWAY="127.0.0.1:$(cat "$work/gateway.port")"
triverse() { build/default/client/triverse "$@"; }

step "$provider emulator on 127.0.0.1:$emulator_port, gateway on $TRIVERSE_GATEWAY"
cat "$work/gateway.log"
if [ "$provider" = triverse ]; then
  step "triverse account"
  triverse account
  step "triverse quote text-to-model --texture-size 2048"
  triverse quote text-to-model --texture-size 2048
  step "triverse create text-to-model --prompt 'a small wooden chair' --texture-size 2048"
  triverse create text-to-model --prompt "a small wooden chair" --texture-size 2048 \
    -o json | tee "$work/created.json"
else
  # Tripo has a balance but no quote; Siray neither (both: UNIMPLEMENTED).
  if [ "$provider" = tripo ]; then
    step "triverse account"
    triverse account
  fi
  step "triverse create text-to-model --prompt 'a small wooden chair'"
  triverse create text-to-model --prompt "a small wooden chair" -o json | tee "$work/created.json"
fi
uuid=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["task_uuid"])' \
  "$work/created.json")
if [ "$provider" = siray ]; then
  step "triverse watch $uuid (Siray has no push channel: one shared poller per task)"
else
  step "triverse watch $uuid (one upstream WebSocket, fanned out by the gateway)"
fi
triverse watch "$uuid"
step "triverse url $uuid"
triverse url "$uuid"
step "triverse download $uuid $out"
triverse download "$uuid" "$out"
magic=$(head -c 4 "$out")
[ "$magic" = "glTF" ] || { echo "download is not a glTF binary" >&2; exit 1; }
echo "saved $(stat -c %s "$out") bytes of binary glTF (.glb) to $out"
if [ "$provider" = triverse ]; then
  step "triverse models"
  triverse models
  step "triverse account (the task's credits are now charged)"
  triverse account
fi
