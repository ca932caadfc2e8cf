# Shared by the bench scripts (sourced after `set -euo pipefail`): a work
# directory removed on exit, every process in `pids` killed on exit, and
# wait_port. The sourcing script sets `bench_name` for its messages.

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# build_binaries BENCH: unless NO_BUILD=1, installs the dependencies and
# builds the emulator, the gateway and the benchmark program BENCH in
# BUILD_DIR (default build/default); sets build, emulator_bin, gateway_bin
# (GATEWAY_BIN, when set, names another gateway binary: to compare two
# builds side by side) and bench_bin.
build_binaries() {
  build=${BUILD_DIR:-build/default}
  if [ "${NO_BUILD:-0}" != 1 ]; then
    bash scripts/install-deps.sh
    if [ "$build" = build/default ]; then cmake --preset default >/dev/null; fi
    cmake --build "$build" --target triverse-emulator triverse-gateway "$1"
  fi
  emulator_bin=$build/emulator/triverse-emulator
  gateway_bin=${GATEWAY_BIN:-$build/server/triverse-gateway}
  bench_bin=$build/bench/$1
  for b in "$emulator_bin" "$gateway_bin" "$bench_bin"; do
    [ -x "$b" ] || { echo "$bench_name: $b is missing" >&2; exit 1; }
  done
}

# wait_port FILE PID NAME LOG: waits until the server started as PID has
# written its port to FILE; otherwise shows the end of its LOG and exits.
wait_port() {
  for _ in $(seq 200); do
    [ -s "$1" ] && return 0
    kill -0 "$2" 2>/dev/null || break
    sleep 0.05
  done
  echo "$bench_name: $3 did not start; its log:" >&2
  tail -n 20 "$4" >&2 || true
  exit 1
}
