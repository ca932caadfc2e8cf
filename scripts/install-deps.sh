#!/usr/bin/env bash
# Installs every build, test and demo dependency of the project on Debian 12 (bookworm).
#
# Idempotent: when every package is already present it only checks and returns
# (no apt-get update). Run as root, or as a user with sudo.
#
# Usage: scripts/install-deps.sh [--clients]
#   --clients  also what the example clients need (client/examples): Python's
#              grpcio, Go with grpc-go, Java with grpc-java, and for Node
#              @grpc/grpc-js and @grpc/proto-loader (npm, in the example's folder)
set -euo pipefail

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive

# Packages from bookworm itself.
MAIN_PKGS=(
  build-essential cmake ninja-build pkg-config git ca-certificates
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libabsl-dev
  rapidjson-dev libgtest-dev libgmock-dev libbenchmark-dev
  libboost1.81-dev zlib1g-dev prometheus-cpp-dev
  clang-format wrk python3 nodejs npm
  clang-14 libclang-rt-14-dev
)
# The example clients' languages, their gRPC libraries and protoc plugins.
CLIENT_PKGS=(
  python3-grpcio python3-protobuf
  golang-go golang-google-grpc-dev golang-google-protobuf-dev golang-google-genproto-dev
  openjdk-17-jdk-headless libgrpc-java protobuf-compiler-grpc-java-plugin libprotobuf-java
  libnetty-java libperfmark-java libgoogle-gson-java libgeronimo-annotation-1.3-spec-java
)
clients=0
for arg in "$@"; do
  case "$arg" in
    --clients) clients=1 ;;
    *) echo "install-deps: unknown argument $arg" >&2; exit 2 ;;
  esac
done
if [ $clients = 1 ]; then MAIN_PKGS+=("${CLIENT_PKGS[@]}"); fi
# libcurl 8.14 (WebSocket support built in) and the matching curl tool come from
# bookworm-backports: bookworm's own 7.88 has no ws:// support.
BACKPORTS_PKGS=(libcurl4-openssl-dev curl)
BACKPORTS_LIST=/etc/apt/sources.list.d/bookworm-backports.list
BACKPORTS_LINE="deb http://deb.debian.org/debian bookworm-backports main"

# Tools from npm, installed into the project's .tools/ (git-ignored).
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUF_VERSION=1.75.0
install_npm_tools() {
  if [ $clients = 1 ]; then install_node_example; fi
  if [ "$("$ROOT/.tools/node_modules/.bin/buf" --version 2>/dev/null)" != "$BUF_VERSION" ]; then
    echo "install-deps: installing @bufbuild/buf@$BUF_VERSION into .tools/"
    npm install --prefix "$ROOT/.tools" --no-audit --no-fund --loglevel=error \
      "@bufbuild/buf@$BUF_VERSION"
  fi
}

# The Node example's packages, from its package.json and package-lock.json.
install_node_example() {
  local dir="$ROOT/client/examples/node"
  [ -f "$dir/package.json" ] || return 0
  if [ ! -d "$dir/node_modules/@grpc/grpc-js" ] || [ ! -d "$dir/node_modules/@grpc/proto-loader" ]; then
    echo "install-deps: installing the Node example's packages into client/examples/node/"
    npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error
  fi
}

missing=()
for p in "${MAIN_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
curl_dev_version=$(dpkg-query -W -f='${Version}' libcurl4-openssl-dev 2>/dev/null || true)
curl_tool_version=$(dpkg-query -W -f='${Version}' curl 2>/dev/null || true)
need_backports=0
for v in "$curl_dev_version" "$curl_tool_version"; do
  if [ -z "$v" ] || dpkg --compare-versions "$v" lt 8.11; then need_backports=1; fi
done

# nodejs/npm may come from another source than Debian (e.g. NodeSource):
# any working npm will do.
if command -v npm >/dev/null 2>&1; then
  kept=()
  for p in "${missing[@]}"; do
    [ "$p" = nodejs ] || [ "$p" = npm ] || kept+=("$p")
  done
  missing=("${kept[@]}")
fi

if [ ${#missing[@]} -eq 0 ] && [ $need_backports = 0 ]; then
  install_npm_tools
  echo "install-deps: everything is installed"
  exit 0
fi

if ! grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
  echo "$BACKPORTS_LINE" | $SUDO tee "$BACKPORTS_LIST" >/dev/null
fi
# A third-party source that cannot be reached must not stop the install.
$SUDO apt-get update -o Acquire::Retries=3 || echo "install-deps: apt-get update reported errors; going on"
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
fi
if [ $need_backports = 1 ]; then
  echo "install-deps: installing ${BACKPORTS_PKGS[*]} from bookworm-backports"
  $SUDO apt-get install -y --no-install-recommends -t bookworm-backports "${BACKPORTS_PKGS[@]}"
fi
install_npm_tools
curl-config --version
