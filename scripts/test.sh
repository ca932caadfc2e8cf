#!/usr/bin/env bash
# Installs the dependencies (the example clients' languages included), checks
# formatting, builds with warnings as errors and runs every test (the example
# clients against the gateway among them), then runs them again under
# ASan + UBSan and under TSan, and gives every fuzz target a short run.
# Usage: scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh --clients
# The example clients' tests (Python, Go, Node, Java) must run, not skip.
export TRIVERSE_REQUIRE_EXAMPLES=1

echo "== format check (clang-format, Google style)"
mapfile -t sources < <(git ls-files '*.cc' '*.h' 2>/dev/null || find emulator tests -name '*.cc' -o -name '*.h')
clang-format --dry-run -Werror "${sources[@]}"

echo "== proto lint (buf)"
(cd proto && ../.tools/node_modules/.bin/buf lint && ../.tools/node_modules/.bin/buf format --diff --exit-code)

echo "== Helm chart (lint --strict, templates validated against the Kubernetes schemas)"
bash scripts/helm-check.sh

echo "== build (preset ci: RelWithDebInfo, -Werror)"
cmake --preset ci >/dev/null
cmake --build --preset ci

echo "== tests"
ctest --preset ci -j2 --timeout 600

echo "== the same suite under AddressSanitizer + UndefinedBehaviorSanitizer (preset asan)"
cmake --preset asan >/dev/null
cmake --build --preset asan
ctest --preset asan -j2 --timeout 900

echo "== the same suite under ThreadSanitizer (preset tsan)"
cmake --preset tsan >/dev/null
cmake --build --preset tsan
ctest --preset tsan -j2 --timeout 900

echo "== fuzzing: a short run of every libFuzzer target (clang-14, ASan + UBSan)"
bash scripts/fuzz.sh --seconds "${FUZZ_SECONDS:-10}"
