# syntax=docker/dockerfile:1
# Multi-stage image. Today it ships the Triverse emulator; the gateway joins
# it when it exists. Build: buildah bud -t triverse-emulator . (or docker).

# ---- build stage: dependencies first (cached), then sources, then tests.
FROM debian:bookworm AS build
WORKDIR /src
COPY scripts/install-deps.sh scripts/install-deps.sh
RUN bash scripts/install-deps.sh && rm -rf /var/lib/apt/lists/*
COPY . .
RUN cmake --preset ci \
 && cmake --build --preset ci \
 && ctest --preset ci -j2 --timeout 600

# ---- runtime stage: only the runtime libraries.
FROM debian:bookworm-slim
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="triverse-emulator" \
      org.opencontainers.image.description="A local Triverse 3D-generation API (REST + WebSocket) with fault injection" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN apt-get update \
 && apt-get install -y --no-install-recommends libabsl20220623 zlib1g \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/build/ci/emulator/triverse-emulator /usr/local/bin/triverse-emulator
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/triverse-emulator", "--listen", "0.0.0.0:8080"]
