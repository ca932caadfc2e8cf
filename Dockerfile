# The Triverse gateway image: triverse-gateway (the entrypoint), the triverse
# CLI and the triverse-emulator, on Debian bookworm-slim with only their
# runtime libraries, running as uid/gid 65532. See docs/image.md.
#
# Build: scripts/build-image.sh (buildah; makes the Debian base images with
# debootstrap when no registry can be reached), or with any OCI builder:
#   docker build -t triverse-gateway --build-arg VERSION=0.1.0 \
#     --build-arg REVISION=$(git rev-parse HEAD) \
#     --build-arg CREATED=$(date -u +%Y-%m-%dT%H:%M:%SZ) .

# The base images; scripts/build-image.sh substitutes local ones
# (localhost/debian:bookworm, localhost/debian:bookworm-slim) when it must.
ARG BUILD_IMAGE=docker.io/library/debian:bookworm
ARG BASE_IMAGE=docker.io/library/debian:bookworm-slim

# ---- build stage: dependencies first (a cached layer until
# scripts/install-deps.sh changes), then the sources, the build and the tests.
FROM ${BUILD_IMAGE} AS build
ENV DEBIAN_FRONTEND=noninteractive
WORKDIR /src
COPY scripts/install-deps.sh scripts/install-deps.sh
# npm (for buf) fetches over HTTPS; behind a TLS-inspecting proxy, pass the
# host's CA bundle as the optional secret "host-ca" (scripts/build-image.sh
# does): it is used for this step only and stays out of the image.
RUN --mount=type=secret,id=host-ca,required=false \
    if [ -s /run/secrets/host-ca ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/host-ca; fi \
 && bash scripts/install-deps.sh \
 && rm -rf /var/lib/apt/lists/* /root/.npm
COPY . .
# Parallel jobs of the compile and the tests (empty: ninja's default).
ARG BUILD_JOBS=
ARG TEST_JOBS=2
RUN cmake --preset ci \
 && cmake --build --preset ci ${BUILD_JOBS:+-j${BUILD_JOBS}}
# The tests, but not the example clients (label "examples"): their
# toolchains (Python, Go, Node, Java gRPC) are not in this image. One test
# opens 2,000 sockets and needs RLIMIT_NOFILE >= 2100: the soft limit is raised
# to the hard one here, and the builder must allow it (buildah's chroot
# isolation sets 1024:1024 unless `--ulimit nofile=N:N`; scripts/build-image.sh
# passes the host's).
RUN ulimit -n "$(ulimit -Hn)" 2>/dev/null || true; \
    ctest --preset ci -LE examples -j${TEST_JOBS} --timeout 600
# The three binaries without their debug sections (the symbols stay, for
# readable backtraces).
RUN mkdir -p /out \
 && for b in server/triverse-gateway client/triverse emulator/triverse-emulator; do \
      objcopy --strip-debug "build/ci/$b" "/out/${b##*/}"; \
    done

# ---- runtime stage: the binaries and only their runtime libraries.
FROM ${BASE_IMAGE} AS runtime
# The binaries' NEEDED libraries (readelf -d) and their packages (dpkg -S):
#   gRPC, reflection  libgrpc++1.51 libgrpc29    protobuf  libprotobuf32
#   Abseil            libabsl20220623             zlib      zlib1g (emulator)
#   Prometheus /metrics  libprometheus-cpp-core1.0 libprometheus-cpp-pull1.0
#   libcurl 8.14 (WebSocket support) from bookworm-backports: libcurl4
#   libstdc++6, libgcc-s1 and libc6 are in the base already;
#   ca-certificates for TLS to the upstream API.
# The build fails here when a binary misses a library.
RUN set -eux; \
    echo 'deb http://deb.debian.org/debian bookworm-backports main' \
      > /etc/apt/sources.list.d/bookworm-backports.list; \
    apt-get update -o Acquire::Retries=3; \
    apt-get install -y --no-install-recommends \
      ca-certificates libgrpc++1.51 libgrpc29 libprotobuf32 libabsl20220623 zlib1g \
      libprometheus-cpp-core1.0 libprometheus-cpp-pull1.0 \
      libcurl4/bookworm-backports; \
    dpkg --compare-versions "$(dpkg-query -W -f='${Version}' libcurl4)" ge 8.11; \
    rm -rf /var/lib/apt/lists/* /var/cache/debconf/*-old /var/log/apt/* /var/log/dpkg.log; \
    groupadd --gid 65532 nonroot; \
    useradd --uid 65532 --gid 65532 --home-dir /home/nonroot --create-home \
      --shell /usr/sbin/nologin nonroot
COPY --from=build /out/triverse-gateway /out/triverse /out/triverse-emulator /usr/local/bin/
RUN set -eu; \
    for b in /usr/local/bin/triverse-gateway /usr/local/bin/triverse /usr/local/bin/triverse-emulator; do \
      if ldd "$b" | grep 'not found'; then echo "$b: missing libraries" >&2; exit 1; fi; \
    done; \
    /usr/local/bin/triverse-gateway --help >/dev/null
# Last, so that a new version or date does not rebuild the layers above.
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
ARG SOURCE=https://github.com/triverse/triverse-gateway
ARG BASE_IMAGE
LABEL org.opencontainers.image.title="triverse-gateway" \
      org.opencontainers.image.description="gRPC gateway (triverse.v1.TaskService) in front of the Triverse REST API; with the triverse CLI and the triverse-emulator" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.url="${SOURCE}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="${BASE_IMAGE}"
USER 65532:65532
WORKDIR /home/nonroot
# gRPC (TaskService, health, reflection) and Prometheus /metrics.
EXPOSE 50051 9464
ENTRYPOINT ["/usr/local/bin/triverse-gateway"]
