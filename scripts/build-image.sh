#!/usr/bin/env bash
# Builds the gateway image from the Dockerfile with buildah (no container
# engine needed), then smoke-tests it. See docs/image.md.
#
#   1. tools      buildah (and debootstrap when needed), from Debian with apt
#   2. storage    buildah's storage works here (overlay, else vfs)
#   3. base       debian:bookworm and debian:bookworm-slim pulled from Docker
#                 Hub; when no registry answers, made with debootstrap
#                 (scripts/make-base-image.sh) as localhost/debian:bookworm[-slim]
#   4. build      buildah bud --layers: dependencies, build, tests (ctest -LE
#                 examples), runtime stage; tagged NAME:VERSION and NAME:latest
#   5. smoke      from the image: the emulator, the gateway in front of it
#                 (TRIVERSE_API_KEY set), gRPC health SERVING, the gateway
#                 running as uid/gid 65532, the triverse CLI through it
#
# Usage: scripts/build-image.sh [flags]
#   --name NAME            image name (default localhost/triverse-gateway)
#   --version V            version label and tag (default: CMakeLists.txt's)
#   --git REV              build the committed sources of REV (git archive)
#                          instead of the working tree; the Dockerfile and
#                          .dockerignore are this checkout's
#   --base MODE            auto (default): pull, else debootstrap;
#                          pull: only pull; debootstrap: only make them locally
#   --build-image IMG      build stage base (overrides --base for it)
#   --base-image IMG       runtime stage base (overrides --base for it)
#   --jobs N               compile jobs (default: ninja's)
#   --ca-bundle FILE       CA bundle trusted by npm in the dependency step
#                          (default: $NODE_EXTRA_CA_CERTS, else
#                          /etc/ssl/certs/ca-certificates.crt; "" for none)
#   --no-cache             rebuild every layer
#   --storage-driver D     overlay or vfs (default: buildah's, vfs if that fails)
#   --storage-root DIR     buildah storage in DIR (default: buildah's own,
#                          /var/lib/containers/storage for root)
#   --ephemeral            storage inside the work dir, removed at the end
#                          (only --archive keeps the image)
#   --archive FILE         also write the image to FILE (docker-archive: for
#                          docker load / podman load)
#   --work DIR             scratch directory (default: new, under ${TMPDIR:-/tmp})
#   --keep-work            do not remove the scratch directory
#   --no-smoke             build only
#   --smoke-only           only smoke-test the image NAME:VERSION
#   --no-install           never apt-get install missing tools
# Environment: BUILDAH_ISOLATION (default chroot: RUN steps and the smoke test
# need no OCI runtime, no cgroups and no network namespace).
# Exit status: 0 image built and smoke test passed; non-zero otherwise.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
NAME=localhost/triverse-gateway
VERSION=$(sed -n 's/^project([A-Za-z_]* VERSION \([0-9][0-9.]*\).*/\1/p' "$ROOT/CMakeLists.txt")
VERSION=${VERSION:-0.0.0}
GIT_REV=""
BASE_MODE=auto
BUILD_IMAGE=""
BASE_IMAGE=""
JOBS=""
CA_BUNDLE=${NODE_EXTRA_CA_CERTS:-/etc/ssl/certs/ca-certificates.crt}
[ -s "$CA_BUNDLE" ] || CA_BUNDLE=""
NO_CACHE=0
STORAGE_DRIVER=""
STORAGE_ROOT=""
EPHEMERAL=0
ARCHIVE=""
WORK=""
KEEP_WORK=0
SMOKE=1
BUILD=1
INSTALL=1
export BUILDAH_ISOLATION=${BUILDAH_ISOLATION:-chroot}

while [ $# -gt 0 ]; do
  case "$1" in
    --name) NAME=$2; shift 2 ;;
    --version) VERSION=$2; shift 2 ;;
    --git) GIT_REV=$2; shift 2 ;;
    --base) BASE_MODE=$2; shift 2 ;;
    --build-image) BUILD_IMAGE=$2; shift 2 ;;
    --base-image) BASE_IMAGE=$2; shift 2 ;;
    --jobs) JOBS=$2; shift 2 ;;
    --ca-bundle) CA_BUNDLE=$2; shift 2 ;;
    --no-cache) NO_CACHE=1; shift ;;
    --storage-driver) STORAGE_DRIVER=$2; shift 2 ;;
    --storage-root) STORAGE_ROOT=$2; shift 2 ;;
    --ephemeral) EPHEMERAL=1; shift ;;
    --archive) ARCHIVE=$2; shift 2 ;;
    --work) WORK=$2; shift 2 ;;
    --keep-work) KEEP_WORK=1; shift ;;
    --no-smoke) SMOKE=0; shift ;;
    --smoke-only) BUILD=0; shift ;;
    --no-install) INSTALL=0; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "build-image: unknown argument $1 (--help)" >&2; exit 2 ;;
  esac
done
case "$BASE_MODE" in auto|pull|debootstrap) ;; *) echo "build-image: --base auto|pull|debootstrap" >&2; exit 2 ;; esac
[ -z "$ARCHIVE" ] || ARCHIVE=$(realpath -m "$ARCHIVE")
IMAGE="$NAME:$VERSION"

T0=$(date +%s)
step() { printf '\n\033[1m== [%s] %s\033[0m\n' "$(date -u +%H:%M:%S)" "$*"; }
info() { echo "build-image: $*"; }
die() { echo "build-image: FAILED: $*" >&2; exit 1; }

# ---- scratch directory, and everything to undo at the end.
own_work=0
if [ -z "$WORK" ]; then WORK=$(mktemp -d "${TMPDIR:-/tmp}/build-image.XXXXXX"); own_work=1; fi
mkdir -p "$WORK"; WORK=$(cd "$WORK" && pwd)
PIDS=()        # background `buildah run`s of the smoke test
CONTAINERS=()  # working containers of the smoke test
BH=(buildah)
BUD_PID=""     # buildah bud, while it runs
cleanup() {
  local rc=$?
  if [ -n "$BUD_PID" ]; then kill -TERM "$BUD_PID" 2>/dev/null || true; wait "$BUD_PID" 2>/dev/null || true; fi
  for pid in "${PIDS[@]}"; do
    for child in $(descendants "$pid"); do kill -TERM "$child" 2>/dev/null || true; done
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  for c in "${CONTAINERS[@]}"; do "${BH[@]}" rm "$c" >/dev/null 2>&1 || true; done
  if [ $EPHEMERAL = 1 ]; then
    "${BH[@]}" rm --all >/dev/null 2>&1 || true
    # Overlay mounts under the storage must go before the files.
    grep -o " $WORK/[^ ]*" /proc/mounts | sort -r | while read -r m; do umount "$m" 2>/dev/null || true; done
  fi
  if [ $EPHEMERAL = 1 ] && [ $KEEP_WORK = 0 ]; then rm -rf "$STORAGE_ROOT"; fi
  if [ $KEEP_WORK = 1 ] || [ $own_work = 0 ]; then
    info "work dir kept: $WORK"
  else
    rm -rf "$WORK"
  fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# descendants PID: every process below PID, deepest last.
descendants() {
  local kids k
  kids=$(ps -o pid= --ppid "$1" 2>/dev/null || true)
  for k in $kids; do echo "$k"; descendants "$k"; done
}

# ---- 1. tools
step "1/5 tools"
if [ "$(id -u)" != 0 ]; then
  die "run as root: buildah's chroot isolation and debootstrap need it here (rootless buildah needs subuids and user namespaces; see docs/image.md)"
fi
apt_install() {
  [ $INSTALL = 1 ] || die "missing $*; install: apt-get install -y --no-install-recommends $*"
  info "installing $* (apt)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
    -o DPkg::Lock::Timeout=300 "$@" >"$WORK/apt.log" 2>&1 || {
    DEBIAN_FRONTEND=noninteractive apt-get update -o DPkg::Lock::Timeout=300 >>"$WORK/apt.log" 2>&1 || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      -o DPkg::Lock::Timeout=300 "$@" >>"$WORK/apt.log" 2>&1
  } || { tail -20 "$WORK/apt.log" >&2; die "apt-get install $*"; }
}
command -v buildah >/dev/null || apt_install buildah
PY=/usr/bin/python3; [ -x "$PY" ] || PY=$(command -v python3 || true)
[ -n "$PY" ] || apt_install python3
[ -x "$PY" ] || PY=/usr/bin/python3
info "$(buildah --version), isolation $BUILDAH_ISOLATION"

# ---- 2. storage
step "2/5 storage"
if [ $EPHEMERAL = 1 ]; then STORAGE_ROOT="$WORK/storage"; fi
storage_flags() {
  BH=(buildah)
  [ -z "$STORAGE_DRIVER" ] || BH+=(--storage-driver "$STORAGE_DRIVER")
  [ -z "$STORAGE_ROOT" ] || BH+=(--root "$STORAGE_ROOT/root" --runroot "$STORAGE_ROOT/run")
}
probe_storage() {
  local c
  c=$("${BH[@]}" from scratch 2>"$WORK/storage.log") || return 1
  "${BH[@]}" mount "$c" >/dev/null 2>>"$WORK/storage.log" || { "${BH[@]}" rm "$c" >/dev/null 2>&1; return 1; }
  "${BH[@]}" rm "$c" >/dev/null 2>&1
}
storage_flags
if ! probe_storage; then
  [ -z "$STORAGE_DRIVER" ] || { cat "$WORK/storage.log" >&2; die "storage driver $STORAGE_DRIVER does not work here"; }
  info "the default storage does not work here ($(tail -1 "$WORK/storage.log")); trying vfs"
  STORAGE_DRIVER=vfs
  # A storage made with one driver cannot be opened with another.
  [ -n "$STORAGE_ROOT" ] || STORAGE_ROOT=/var/lib/containers/storage-vfs
  storage_flags
  probe_storage || { cat "$WORK/storage.log" >&2; die "no buildah storage works here"; }
fi
info "buildah storage: $("${BH[@]}" info --format '{{.store.GraphDriverName}} in {{.store.GraphRoot}}' 2>/dev/null || echo "${BH[*]}")"

image_exists() { "${BH[@]}" inspect --type image "$1" >/dev/null 2>&1; }

if [ $BUILD = 1 ]; then
  # ---- 3. base images
  step "3/5 base images (--base $BASE_MODE)"
  OFFICIAL_BUILD=docker.io/library/debian:bookworm
  OFFICIAL_BASE=docker.io/library/debian:bookworm-slim
  LOCAL_BUILD=localhost/debian:bookworm
  LOCAL_BASE=localhost/debian:bookworm-slim
  base_source=""
  if [ -n "$BUILD_IMAGE" ] && [ -n "$BASE_IMAGE" ]; then
    base_source="given"
  fi
  if [ -z "$base_source" ] && [ "$BASE_MODE" != debootstrap ]; then
    if image_exists "$OFFICIAL_BUILD" && image_exists "$OFFICIAL_BASE"; then
      base_source="pulled earlier"
    else
      info "is Docker Hub reachable? (10 s)"
      code=$(curl -sS -m 10 -o /dev/null -w '%{http_code}' https://registry-1.docker.io/v2/ 2>"$WORK/curl.log" || true)
      if [ "$code" = 000 ] || [ -z "$code" ]; then
        info "no: $(tail -1 "$WORK/curl.log")"
      else
        info "yes (HTTP $code): pulling $OFFICIAL_BUILD and $OFFICIAL_BASE"
        if timeout 600 "${BH[@]}" pull --quiet "$OFFICIAL_BUILD" >/dev/null \
           && timeout 600 "${BH[@]}" pull --quiet "$OFFICIAL_BASE" >/dev/null; then
          base_source="pulled"
        else
          info "the pull failed"
        fi
      fi
    fi
    if [ -n "$base_source" ]; then
      BUILD_IMAGE=${BUILD_IMAGE:-$OFFICIAL_BUILD}; BASE_IMAGE=${BASE_IMAGE:-$OFFICIAL_BASE}
    elif [ "$BASE_MODE" = pull ]; then
      die "cannot pull the Debian images (--base auto would make them with debootstrap)"
    fi
  fi
  if [ -z "$base_source" ]; then
    if image_exists "$LOCAL_BUILD" && image_exists "$LOCAL_BASE"; then
      base_source="debootstrapped earlier"
    else
      info "making the base images with debootstrap (scripts/make-base-image.sh; a few minutes)"
      command -v debootstrap >/dev/null || apt_install debootstrap
      flags=("${BH[@]:1}")
      bash "$ROOT/scripts/make-base-image.sh" --work "$WORK/base" -- "${flags[@]}" \
        || die "scripts/make-base-image.sh"
      rm -rf "$WORK/base"
      base_source="debootstrapped"
    fi
    BUILD_IMAGE=${BUILD_IMAGE:-$LOCAL_BUILD}; BASE_IMAGE=${BASE_IMAGE:-$LOCAL_BASE}
  fi
  info "build stage on $BUILD_IMAGE, runtime on $BASE_IMAGE ($base_source)"

  # ---- 4. build
  step "4/5 build $IMAGE (dependencies, compile, tests, runtime stage)"
  if [ -n "$GIT_REV" ]; then
    REVISION=$(git -C "$ROOT" rev-parse --verify "$GIT_REV^{commit}") || die "no commit $GIT_REV"
    CONTEXT="$WORK/context"
    mkdir -p "$CONTEXT"
    git -C "$ROOT" archive "$REVISION" | tar -x -C "$CONTEXT"
    cp "$ROOT/.dockerignore" "$CONTEXT/.dockerignore"
    info "context: git archive $GIT_REV ($REVISION)"
  else
    CONTEXT=$ROOT
    REVISION=$(git -C "$ROOT" rev-parse HEAD 2>/dev/null || echo unknown)
    if [ -n "$(git -C "$ROOT" status --porcelain 2>/dev/null)" ]; then REVISION="$REVISION-dirty"; fi
    info "context: the working tree ($REVISION)"
  fi
  if [ -n "${SOURCE_DATE_EPOCH:-}" ]; then
    CREATED=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)
  else
    CREATED=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  fi
  bud=("${BH[@]}" bud --layers --isolation "$BUILDAH_ISOLATION" --network host
       -f "$ROOT/Dockerfile"
       --build-arg "BUILD_IMAGE=$BUILD_IMAGE" --build-arg "BASE_IMAGE=$BASE_IMAGE"
       --build-arg "VERSION=$VERSION" --build-arg "REVISION=$REVISION"
       --build-arg "CREATED=$CREATED" --build-arg "BUILD_JOBS=$JOBS"
       -t "$IMAGE" -t "$NAME:latest")
  # This machine's CA bundle, for npm's HTTPS in the dependency step (a
  # TLS-inspecting proxy's CA is trusted there too); a build secret, not a layer.
  if [ -n "$CA_BUNDLE" ]; then
    [ -s "$CA_BUNDLE" ] || die "no CA bundle $CA_BUNDLE"
    bud+=(--secret "id=host-ca,src=$CA_BUNDLE")
    info "host CA bundle for the build: $CA_BUNDLE"
  fi
  [ $NO_CACHE = 0 ] || bud+=(--no-cache)
  # The tests need more than 1024 open files (the chroot isolation's default
  # for RUN); the host's hard limit is what may be set without privileges.
  nofile=$(ulimit -Hn)
  [ "$nofile" != unlimited ] || nofile=1048576
  bud+=(--ulimit "nofile=$nofile:$nofile")
  [ "$nofile" -ge 2100 ] || info "warning: RLIMIT_NOFILE hard limit $nofile < 2100: WebSocketTest.ThousandConcurrentWatchersAllGetFinalized will fail"
  info "log: $WORK/build.log"
  b0=$(date +%s)
  # The whole log goes to the file; the steps and test summary to the terminal.
  set +e
  # In the background, so that an interrupt runs the cleanup at once (which
  # stops buildah); the terminal gets the filtered log.
  "${bud[@]}" "$CONTEXT" >"$WORK/build.log" 2>&1 &
  BUD_PID=$!
  tail -n +1 --pid=$BUD_PID -f "$WORK/build.log" \
    | grep --line-buffered -E 'STEP [0-9]+/[0-9]+|^COMMIT|^--> Using cache|^Successfully|^Error|^error|tests passed|\*\*\*Failed|\*\*\*Timeout|Total Test time' &
  TAIL_PID=$!
  wait $BUD_PID
  bud_rc=$?
  BUD_PID=""
  wait $TAIL_PID
  set -e
  if [ "$bud_rc" != 0 ] || ! image_exists "$IMAGE"; then
    KEEP_WORK=1
    tail -40 "$WORK/build.log" >&2
    die "buildah bud (full log: $WORK/build.log)"
  fi
  info "built $IMAGE in $(( $(date +%s) - b0 ))s"
fi

image_exists "$IMAGE" || die "no image $IMAGE"
SIZE=$("${BH[@]}" images --format '{{.Size}}' "$IMAGE" | head -1)
info "image $IMAGE: $SIZE ($("${BH[@]}" inspect --type image --format '{{.FromImageID}}' "$IMAGE" | cut -c1-12))"

# ---- 5. smoke test
if [ $SMOKE = 1 ]; then
  step "5/5 smoke test of $IMAGE"
  "${BH[@]}" inspect --type image "$IMAGE" >"$WORK/inspect.json"
  "$PY" - "$WORK/inspect.json" <<'EOF' || die "image configuration"
import json, sys
config = json.load(open(sys.argv[1]))["OCIv1"]["config"]
problems = []
def want(what, got, expected):
    ok = got == expected
    print("  %-11s %s%s" % (what, json.dumps(got), "" if ok else "   (want %s)" % json.dumps(expected)))
    if not ok: problems.append(what)
want("user", config.get("User"), "65532:65532")
want("entrypoint", config.get("Entrypoint"), ["/usr/local/bin/triverse-gateway"])
want("ports", sorted(config.get("ExposedPorts", {})), ["50051/tcp", "9464/tcp"])
labels = config.get("Labels") or {}
for k in ("title", "description", "version", "revision", "created", "source", "licenses"):
    v = labels.get("org.opencontainers.image." + k, "")
    print("  %-11s %s" % (k, v))
    if not v or v == "unknown": problems.append("label " + k)
if problems: sys.exit("wrong: " + ", ".join(problems))
EOF
  ENTRYPOINT=$("$PY" -c 'import json,sys; print(" ".join(json.load(open(sys.argv[1]))["OCIv1"]["config"]["Entrypoint"]))' "$WORK/inspect.json")

  CONTAINERS=("triverse-smoke-emulator-$$" "triverse-smoke-gateway-$$" "triverse-smoke-cli-$$")
  new_container() { # new_container NAME: prints the mount point
    "${BH[@]}" from --pull=never --name "$1-$$" "$IMAGE" >/dev/null || return 1
    "${BH[@]}" mount "$1-$$"
  }
  wait_for() { # wait_for FILE PID SECONDS
    local i
    for i in $(seq $(( $3 * 10 ))); do
      [ -s "$1" ] && return 0
      kill -0 "$2" 2>/dev/null || return 1
      sleep 0.1
    done
    return 1
  }
  free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
  find_process() { # find_process PID COMM: the descendant of PID named COMM
    local p
    for p in $(descendants "$1"); do
      [ "$(cat /proc/"$p"/comm 2>/dev/null)" = "$2" ] && { echo "$p"; return 0; }
    done
    return 1
  }
  key=smoke-test-key

  info "emulator (from the image, --entrypoint /usr/local/bin/triverse-emulator)"
  emu_root=$(new_container triverse-smoke-emulator)
  "${BH[@]}" run --isolation "$BUILDAH_ISOLATION" --network host "triverse-smoke-emulator-$$" -- \
    /usr/local/bin/triverse-emulator --listen 127.0.0.1:0 --port-file /tmp/emulator.port \
    --api-keys "$key:500" --task-duration 2s >"$WORK/emulator.log" 2>&1 &
  PIDS+=($!); emu_pid=$!
  wait_for "$emu_root/tmp/emulator.port" $emu_pid 30 || { cat "$WORK/emulator.log" >&2; die "the emulator did not start"; }
  emu_port=$(cat "$emu_root/tmp/emulator.port")
  info "emulator on 127.0.0.1:$emu_port"

  metrics_port=$(free_port)
  info "gateway: $ENTRYPOINT --listen 127.0.0.1:0 --port-file /tmp/gateway.port --upstream-url http://127.0.0.1:$emu_port/api/v1, TRIVERSE_API_KEY set, TRIVERSE_METRICS_LISTEN=127.0.0.1:$metrics_port"
  gw_root=$(new_container triverse-smoke-gateway)
  # shellcheck disable=SC2086 # the entrypoint is words
  "${BH[@]}" run --isolation "$BUILDAH_ISOLATION" --network host \
    --env "TRIVERSE_API_KEY=$key" --env "TRIVERSE_METRICS_LISTEN=127.0.0.1:$metrics_port" \
    "triverse-smoke-gateway-$$" -- $ENTRYPOINT --listen 127.0.0.1:0 --port-file /tmp/gateway.port \
    --upstream-url "http://127.0.0.1:$emu_port/api/v1" >"$WORK/gateway.log" 2>&1 &
  PIDS+=($!); gw_run=$!
  wait_for "$gw_root/tmp/gateway.port" $gw_run 60 || { cat "$WORK/gateway.log" >&2; die "the gateway did not start"; }
  gw_port=$(cat "$gw_root/tmp/gateway.port")
  sed 's/^/  | /' "$WORK/gateway.log"

  gw_pid=$(find_process $gw_run triverse-gatewa) || die "no gateway process under buildah run $gw_run"
  ids=$(awk '/^Uid:/{u=$2} /^Gid:/{g=$2} END{print u":"g}' /proc/"$gw_pid"/status)
  info "gateway process $gw_pid runs as uid:gid $ids"
  [ "$ids" = 65532:65532 ] || die "the gateway runs as $ids, not 65532:65532"

  info "gRPC health on 127.0.0.1:$gw_port"
  "$PY" - "$gw_port" <<'EOF' || die "gRPC health"
import sys, time
port = sys.argv[1]
names = {0: "UNKNOWN", 1: "SERVING", 2: "NOT_SERVING", 3: "SERVICE_UNKNOWN"}
def request(service):  # grpc.health.v1.HealthCheckRequest{service}
    b = service.encode()
    return b"\x0a" + bytes([len(b)]) + b if b else b""
def status(reply):     # grpc.health.v1.HealthCheckResponse{status}: field 1, varint
    return names.get(reply[1] if len(reply) >= 2 and reply[0] == 0x08 else 0, "?")
try:
    import grpc
except ImportError:
    grpc = None
if grpc:
    channel = grpc.insecure_channel("127.0.0.1:" + port)
    grpc.channel_ready_future(channel).result(timeout=15)
    rpc = channel.unary_unary("/grpc.health.v1.Health/Check")
    how = ""
    def check(service):  # None: not a service of this gateway (NOT_FOUND)
        try:
            return status(rpc(request(service), timeout=10))
        except grpc.RpcError as e:
            if e.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise
else:  # curl speaks gRPC well enough: HTTP/2 without TLS, one framed message
    import subprocess, struct
    how = " (curl)"
    def check(service):
        body = request(service)
        out = subprocess.run(["curl", "-sS", "--http2-prior-knowledge", "-m", "10",
            "-H", "content-type: application/grpc", "-H", "te: trailers",
            "--data-binary", "@-", "http://127.0.0.1:%s/grpc.health.v1.Health/Check" % port],
            input=b"\0" + struct.pack(">I", len(body)) + body, capture_output=True, check=True).stdout
        return status(out[5:]) if len(out) > 5 else None
required = ["", "triverse.v1.TaskService", "liveness", "readiness"]
optional = []
# Readiness may wait for the upstream's first answer: ask again until SERVING.
deadline = time.time() + 30
while True:
    got = {s: check(s) for s in required + optional}
    ok = all(got[s] == "SERVING" for s in required) and \
         all(got[s] in ("SERVING", None) for s in optional)
    if ok or time.time() > deadline:
        break
    time.sleep(0.5)
for s in required + optional:
    print("  Health/Check %-25s %s%s" % (repr(s), got[s] or "(not a service of this gateway)", how))
sys.exit(0 if ok else 1)
EOF

  info "the triverse CLI in the image: triverse --gateway 127.0.0.1:$gw_port account"
  new_container triverse-smoke-cli >/dev/null
  "${BH[@]}" run --isolation "$BUILDAH_ISOLATION" --network host "triverse-smoke-cli-$$" -- \
    /usr/local/bin/triverse --gateway "127.0.0.1:$gw_port" account 2>&1 | sed 's/^/  | /'
  [ "${PIPESTATUS[0]}" = 0 ] || die "triverse account through the gateway"

  info "Prometheus metrics on 127.0.0.1:$metrics_port/metrics"
  curl -fsS -m 10 "http://127.0.0.1:$metrics_port/metrics" >"$WORK/metrics.txt" || die "GET /metrics"
  grep -q '^grpc_server_handled_total' "$WORK/metrics.txt" || die "/metrics has no grpc_server_handled_total"
  grep -v '^#' "$WORK/metrics.txt" | head -5 | sed 's/^/  | /'
  ! grep -qF "$key" "$WORK/metrics.txt" "$WORK/gateway.log" || die "the API key appears in the gateway's output"

  info "SIGTERM to the gateway (pid $gw_pid), then to the emulator"
  kill -TERM "$gw_pid"
  wait $gw_run && gw_rc=0 || gw_rc=$?
  tail -n +2 "$WORK/gateway.log" | sed 's/^/  | /'
  [ $gw_rc = 0 ] || die "the gateway exited with $gw_rc after SIGTERM"
  emu=$(find_process $emu_pid triverse-emulat) && kill -TERM "$emu"
  wait $emu_pid || true
  PIDS=()
  info "smoke test passed"
fi

if [ -n "$ARCHIVE" ]; then
  step "archive"
  mkdir -p "$(dirname "$ARCHIVE")"
  rm -f "$ARCHIVE"
  "${BH[@]}" push --quiet "$IMAGE" "docker-archive:$ARCHIVE:$IMAGE" || die "buildah push docker-archive:$ARCHIVE"
  info "$ARCHIVE: $(du -h "$ARCHIVE" | cut -f1) (docker load -i / podman load -i)"
fi

if [ $BUILD = 1 ]; then
  step "done in $(( $(date +%s) - T0 ))s: $IMAGE ($SIZE), also tagged $NAME:latest; base $base_source"
else
  step "done in $(( $(date +%s) - T0 ))s: $IMAGE ($SIZE)"
fi
