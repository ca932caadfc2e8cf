#!/usr/bin/env bash
# Builds the libFuzzer targets (preset `fuzz`: clang-14, ASan + UBSan) and
# runs each for a while on a temporary copy of its seed corpus
# (tests/fuzz/corpus/<target>/, never changed by a plain run). Fails on any
# crash, leak, sanitizer report, timeout or property violation; the inputs
# that failed are kept in build/fuzz/artifacts/<target>/.
# Usage: scripts/fuzz.sh [--seconds N] [--merge]
#   --seconds N  run each target N seconds (default 10)
#   --merge      afterwards, minimise the seed corpus together with what the
#                run found (-set_cover_merge=1 over edge coverage) back into
#                tests/fuzz/corpus/<target>/; inputs named regression-* are
#                always kept
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=10
merge=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --seconds) seconds="${2:?--seconds needs a value}"; shift 2 ;;
    --seconds=*) seconds="${1#*=}"; shift ;;
    --merge) merge=1; shift ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "fuzz.sh: unknown argument: $1" >&2; exit 2 ;;
  esac
done
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [[ "$seconds" -lt 1 ]]; then
  echo "fuzz.sh: --seconds must be a positive integer" >&2
  exit 2
fi

echo "== build (preset fuzz: clang-14, ASan + UBSan + libFuzzer)"
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz --target fuzzers -j2

bindir=build/fuzz/tests/fuzz
work="$(mktemp -d "${TMPDIR:-/tmp}/triverse-fuzz.XXXXXX")"
trap 'rm -rf "$work"' EXIT

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:symbolize=1:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}"

failed=()
summary=()
for src in tests/fuzz/*_fuzzer.cc; do
  fuzzer="$(basename "$src" .cc)"
  target="${fuzzer%_fuzzer}"
  seeds="tests/fuzz/corpus/$target"
  corpus="$work/$target/corpus"
  artifacts="$work/$target/artifacts"
  mkdir -p "$corpus" "$artifacts"
  if [[ -d "$seeds" ]]; then cp -R "$seeds/." "$corpus/"; fi
  args=(-max_total_time="$seconds" -timeout=25 -rss_limit_mb=2048
        -max_len=8192 -print_final_stats=1 -artifact_prefix="$artifacts/")
  if [[ -f "tests/fuzz/$target.dict" ]]; then
    args+=(-dict="tests/fuzz/$target.dict")
  fi
  echo "== $fuzzer (${seconds}s, $(find "$corpus" -type f | wc -l) seeds)"
  log="$work/$target/log"
  status=0
  "$bindir/$fuzzer" "${args[@]}" "$corpus" >"$log" 2>&1 || status=$?
  execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)"
  rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n1)"
  found="$(sed -n 's/^stat::new_units_added: *//p' "$log" | tail -n1)"
  if [[ "$status" -ne 0 ]]; then
    tail -n 60 "$log"
    mkdir -p "build/fuzz/artifacts/$target"
    cp -R "$artifacts/." "build/fuzz/artifacts/$target/" || true
    cp "$log" "build/fuzz/artifacts/$target/log"
    echo "!! $fuzzer FAILED (exit $status); inputs in build/fuzz/artifacts/$target/"
    failed+=("$fuzzer")
    summary+=("$(printf '%-22s FAILED (exit %s)' "$fuzzer" "$status")")
    continue
  fi
  line="$(printf '%-22s %12s execs %8s exec/s %5s new inputs' \
    "$fuzzer" "${execs:-?}" "${rate:-?}" "${found:-?}")"
  echo "   $line"
  summary+=("$line")
  if [[ "$merge" -eq 1 ]]; then
    merged="$work/$target/merged"
    mkdir -p "$merged" "$seeds"
    # A set cover over plain edge coverage (no hit-count buckets) keeps the
    # corpus small: a few hundred inputs at most.
    "$bindir/$fuzzer" -set_cover_merge=1 -use_counters=0 -timeout=25 \
      -rss_limit_mb=2048 -max_len=8192 "$merged" "$seeds" "$corpus" \
      >"$work/$target/merge.log" 2>&1
    find "$seeds" -maxdepth 1 -type f -name 'regression-*' \
      -exec cp {} "$merged/" \;
    find "$seeds" -maxdepth 1 -type f -delete
    cp "$merged"/* "$seeds/"
    echo "   merged: $(find "$seeds" -type f | wc -l) inputs," \
      "$(cat "$seeds"/* | wc -c) bytes in $seeds"
  fi
done

echo "== summary"
printf '%s\n' "${summary[@]}"
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "fuzz.sh: failed: ${failed[*]}" >&2
  exit 1
fi
