#!/usr/bin/env bash
# Makes local Debian base images with debootstrap, for machines that cannot pull
# debian:bookworm / debian:bookworm-slim from a registry.
#
#   localhost/debian:bookworm       debootstrap --variant=minbase, apt sources
#                                   for bookworm, -updates and -security
#   localhost/debian:bookworm-slim  the same, without documentation, man pages
#                                   and translations (and dpkg told to keep them
#                                   out), as the official -slim image
#
# Both are imported into buildah's local storage (buildah from scratch, the
# root file system copied in, buildah commit). Needs root, debootstrap and
# buildah; the packages come from the Debian mirror (default deb.debian.org).
#
# Usage: scripts/make-base-image.sh [--mirror URL] [--suite SUITE] [--tag-prefix NAME]
#                                   [--work DIR] [--force] [-- buildah global flags...]
#   --mirror URL       Debian mirror (default http://deb.debian.org/debian)
#   --suite SUITE      Debian suite (default bookworm)
#   --tag-prefix NAME  image name (default localhost/debian: the tags are
#                      NAME:SUITE and NAME:SUITE-slim)
#   --work DIR         scratch directory for the root file system (default: a
#                      new directory under ${TMPDIR:-/tmp}, removed at the end)
#   --force            rebuild even when both images already exist
#   -- FLAGS...        buildah global flags, e.g. --storage-driver vfs --root DIR
set -euo pipefail

MIRROR=http://deb.debian.org/debian
SUITE=bookworm
PREFIX=localhost/debian
WORK=""
FORCE=0
BUILDAH_FLAGS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --mirror) MIRROR=$2; shift 2 ;;
    --suite) SUITE=$2; shift 2 ;;
    --tag-prefix) PREFIX=$2; shift 2 ;;
    --work) WORK=$2; shift 2 ;;
    --force) FORCE=1; shift ;;
    --) shift; BUILDAH_FLAGS=("$@"); break ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "make-base-image: unknown argument $1" >&2; exit 2 ;;
  esac
done

log() { echo "make-base-image: $*" >&2; }
bh() { buildah "${BUILDAH_FLAGS[@]}" "$@"; }

if [ "$(id -u)" != 0 ]; then log "needs root (debootstrap)"; exit 1; fi
for tool in debootstrap buildah; do
  command -v "$tool" >/dev/null || { log "$tool is missing: apt-get install -y --no-install-recommends $tool"; exit 1; }
done

FULL="$PREFIX:$SUITE"
SLIM="$PREFIX:$SUITE-slim"
if [ $FORCE = 0 ] && bh inspect --type image "$FULL" >/dev/null 2>&1 \
   && bh inspect --type image "$SLIM" >/dev/null 2>&1; then
  log "$FULL and $SLIM exist already (--force to rebuild)"
  exit 0
fi

own_work=0
if [ -z "$WORK" ]; then WORK=$(mktemp -d "${TMPDIR:-/tmp}/make-base-image.XXXXXX"); own_work=1; fi
mkdir -p "$WORK"
containers=()
cleanup() {
  for c in "${containers[@]}"; do [ -z "$c" ] || bh rm "$c" >/dev/null 2>&1 || true; done
  if [ $own_work = 1 ]; then rm -rf "$WORK"; fi
}
trap cleanup EXIT

ROOTFS="$WORK/rootfs"
rm -rf "$ROOTFS" "$WORK/rootfs-slim"
log "debootstrap --variant=minbase $SUITE from $MIRROR into $ROOTFS"
start=$(date +%s)
debootstrap --variant=minbase --arch="$(dpkg --print-architecture)" "$SUITE" "$ROOTFS" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 || {
  tail -30 "$WORK/debootstrap.log" >&2; log "debootstrap failed"; exit 1; }
log "debootstrap done in $(( $(date +%s) - start ))s"

# The apt sources of the official image (deb822), and its apt settings for
# containers: no package cache kept, no translations.
rm -f "$ROOTFS/etc/apt/sources.list"
cat >"$ROOTFS/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $MIRROR
Suites: $SUITE $SUITE-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${MIRROR%/debian}/debian-security
Suites: $SUITE-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
cat >"$ROOTFS/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
echo 'Acquire::Languages "none";' >"$ROOTFS/etc/apt/apt.conf.d/docker-no-languages"
echo 'Acquire::GzipIndexes "true";' >"$ROOTFS/etc/apt/apt.conf.d/docker-gzip-indexes"
echo 'Apt::AutoRemove::SuggestsImportant "false";' >"$ROOTFS/etc/apt/apt.conf.d/docker-autoremove-suggests"
# What belongs to the machine, not to the image.
rm -rf "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/cache/apt/*.bin "$ROOTFS"/var/cache/apt/archives/*.deb \
       "$ROOTFS"/var/log/*.log "$ROOTFS"/var/log/apt/* "$ROOTFS"/tmp/* "$ROOTFS"/root/.bash_history
: >"$ROOTFS/etc/machine-id"
: >"$ROOTFS/etc/resolv.conf"
echo localhost >"$ROOTFS/etc/hostname"

# The slim variant: documentation, manuals and translations removed, and kept
# out of later installs (the same rules as the official -slim images).
cp -a "$ROOTFS" "$WORK/rootfs-slim"
cat >"$WORK/rootfs-slim/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
(
  cd "$WORK/rootfs-slim/usr/share"
  find doc -mindepth 1 ! -type d ! -name copyright -delete 2>/dev/null || true
  find doc -mindepth 1 -type d -empty -delete 2>/dev/null || true
  rm -rf man/* groff/* info/* lintian/* linda/*
  find locale -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} + 2>/dev/null || true
)

import() { # import ROOTFS TAG
  local ctr mnt
  ctr=$(bh from scratch)
  containers+=("$ctr")
  mnt=$(bh mount "$ctr")
  cp -a "$1/." "$mnt/"
  bh umount "$ctr" >/dev/null
  bh config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --cmd /bin/bash --os linux --arch "$(dpkg --print-architecture)" \
    --label org.opencontainers.image.description="Debian $SUITE minbase made with debootstrap from $MIRROR" \
    --created-by "scripts/make-base-image.sh" "$ctr"
  bh commit --quiet --rm "$ctr" "$2" >/dev/null
  containers=("${containers[@]/$ctr}")
  log "$2: $(du -sh --apparent-size "$1" | cut -f1) unpacked"
}
import "$ROOTFS" "$FULL"
import "$WORK/rootfs-slim" "$SLIM"
bh images --filter reference="$PREFIX" >&2
