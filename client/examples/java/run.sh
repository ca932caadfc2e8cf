#!/usr/bin/env bash
# Generates the Java code of the contract, compiles the example with javac
# against Debian's jars (/usr/share/java) and runs it against TARGET.
#
# Usage: client/examples/java/run.sh TARGET OUT_DIR
# Environment: EXAMPLE_WORK, where the generated code and classes go
#              (default: build/examples/java under the repository).
# Debian packages: openjdk-17-jdk-headless libgrpc-java libprotobuf-java
#   protobuf-compiler-grpc-java-plugin libnetty-java libperfmark-java
#   libgoogle-gson-java libgeronimo-annotation-1.3-spec-java
set -euo pipefail
target=${1:?usage: run.sh TARGET OUT_DIR}
out=${2:?usage: run.sh TARGET OUT_DIR}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
work=${EXAMPLE_WORK:-$root/build/examples/java}
jars=/usr/share/java

# To compile: gRPC's API and stubs, protobuf, Guava, Gson, and
# javax.annotation.Generated (used by the generated stubs).
compile_cp=
for jar in grpc-api grpc-context grpc-stub grpc-protobuf grpc-protobuf-lite \
    protobuf guava gson geronimo-annotation-1.3-spec; do
  compile_cp+=$jars/$jar.jar:
done
# To run, also: grpc-core, the Netty transport and what they load.
run_cp=$compile_cp
for jar in grpc-core grpc-netty perfmark-api netty-buffer netty-codec \
    netty-codec-http netty-codec-http2 netty-codec-socks netty-common \
    netty-handler netty-handler-proxy netty-resolver netty-transport; do
  run_cp+=$jars/$jar.jar:
done
for jar in ${run_cp//:/ }; do
  [ -f "$jar" ] || { echo "run.sh: $jar missing; see client/examples/java/README.md" >&2; exit 1; }
done

rm -rf "$work/gen" "$work/classes"
"$here/gen.sh" "$work/gen" >&2
find "$work/gen" "$here/src" -name '*.java' >"$work/sources.txt"
javac --release 11 -nowarn -encoding UTF-8 -cp "$compile_cp" -d "$work/classes" @"$work/sources.txt" >&2

exec java -cp "$work/classes:$run_cp" ai.triverse.example.TriverseExample \
  --target "$target" --out "$out" --service-config "$root/client/service_config.json"
