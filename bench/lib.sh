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
