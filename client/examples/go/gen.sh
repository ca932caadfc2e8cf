#!/usr/bin/env bash
# Generates the Go messages (*.pb.go) and gRPC client stubs (*_grpc.pb.go) of
# proto/triverse/v1 with Debian's protoc and protoc-gen-go / protoc-gen-go-grpc
# built offline from the Debian sources in /usr/share/gocode.
#
# Usage: client/examples/go/gen.sh OUT_DIR
#
# OUT_DIR becomes a GOPATH root:
#   OUT_DIR/bin/protoc-gen-go, protoc-gen-go-grpc      (the plugins)
#   OUT_DIR/src/github.com/triverse-gateway/gateway/gen/go/triverse/v1/*.go
#                                                      (package triversev1)
# Build against it with GO111MODULE=off GOPATH=OUT_DIR:/usr/share/gocode.
#
# google.rpc, grpc.health.v1 and grpc.reflection.v1alpha are not generated:
# Go code imports them from genproto (google.golang.org/genproto/googleapis/
# rpc/...) and grpc-go (google.golang.org/grpc/health/grpc_health_v1,
# google.golang.org/grpc/reflection/grpc_reflection_v1alpha).
set -euo pipefail
out=${1:?usage: gen.sh OUT_DIR}
root=$(cd "$(dirname "$0")/../../.." && pwd)
protoc=${PROTOC:-/usr/bin/protoc}
gocode=/usr/share/gocode
[ -x "$protoc" ] || { echo "gen.sh: $protoc is missing (apt-get install protobuf-compiler)" >&2; exit 1; }
command -v go >/dev/null || { echo "gen.sh: go is missing (apt-get install golang-go)" >&2; exit 1; }
for pkg in google.golang.org/protobuf/cmd/protoc-gen-go google.golang.org/grpc/cmd/protoc-gen-go-grpc; do
  [ -d "$gocode/src/$pkg" ] || { echo "gen.sh: $gocode/src/$pkg is missing (apt-get install golang-google-protobuf-dev golang-google-grpc-dev)" >&2; exit 1; }
done
mkdir -p "$out/bin" "$out/src"
out=$(cd "$out" && pwd)

# Offline: GOPATH mode over Debian's Go sources, no module download.
export GO111MODULE=off GOPATH="$gocode" GOFLAGS=
# The build cache: the user's, or one in OUT_DIR when there is no home.
[ -n "${GOCACHE:-}${XDG_CACHE_HOME:-}${HOME:-}" ] || export GOCACHE="$out/.cache"
go build -o "$out/bin/protoc-gen-go" google.golang.org/protobuf/cmd/protoc-gen-go
go build -o "$out/bin/protoc-gen-go-grpc" google.golang.org/grpc/cmd/protoc-gen-go-grpc

# The Go package of every triverse proto, whatever go_package says (or not).
pkg=github.com/triverse-gateway/gateway/gen/go/triverse/v1
maps=()
cd "$root/proto"
for f in triverse/v1/*.proto; do maps+=("M$f=$pkg;triversev1"); done
go_opts=$(IFS=,; echo "${maps[*]}")
rm -rf "${out:?}/src/$pkg"
"$protoc" -I . -I /usr/include \
  --plugin=protoc-gen-go="$out/bin/protoc-gen-go" \
  --plugin=protoc-gen-go-grpc="$out/bin/protoc-gen-go-grpc" \
  --go_out="$out/src" --go_opt="$go_opts" \
  --go-grpc_out="$out/src" --go-grpc_opt="$go_opts" \
  triverse/v1/*.proto
