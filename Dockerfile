# syntax=docker/dockerfile:1
# The one `itsm` image: every service runs from it (`itsm serve --service <name>`), and so do
# the migrations (`itsm migrate`). Build: docker build -t itsm:0.1.0 .
#
# Runtime contract:
# - runs as uid/gid 10001, needs no capabilities and works with a read-only root filesystem;
# - writes nothing except the embedded mode's SQLite files under ITSM_DATA_DIR
#   (/var/lib/itsm: mount a volume there for `itsm serve` without ITSM_DATABASE_URL) and, at
#   most, temporary files in /tmp (mount a tmpfs/emptyDir when the root is read-only);
# - listens on 0.0.0.0:8080 (ITSM_LISTEN); /healthz, /readyz and /metrics on that port.
#
#   docker run --read-only --tmpfs /tmp -v itsm-data:/var/lib/itsm -p 8080:8080 itsm:0.1.0 serve --demo

ARG RUST_VERSION=1
ARG DEBIAN_RELEASE=bookworm

FROM rust:${RUST_VERSION}-${DEBIAN_RELEASE} AS builder
# The release profile keeps line tables (≈170 MB of the ≈215 MB binary). The image ships the
# binary without them (symbols stay, so backtraces and profiles still name functions);
# --build-arg KEEP_DEBUG_INFO=1 keeps them for file:line backtraces.
ARG KEEP_DEBUG_INFO=0
WORKDIR /src
# The whole workspace: cargo resolves every member (e2e, testkit) even for `-p itsm`.
COPY . .
# Registry and target caches persist between builds (BuildKit); the binary is copied out of
# the cached target directory.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked -p itsm \
 && install -D -m 0755 target/release/itsm /out/itsm \
 && if [ "$KEEP_DEBUG_INFO" != 1 ]; then objcopy --strip-debug /out/itsm; fi

FROM debian:${DEBIAN_RELEASE}-slim AS runtime
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="itsm" \
      org.opencontainers.image.description="Multi-tenant IT service management platform (all services in one binary)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
# ca-certificates for TLS to PostgreSQL, RabbitMQ and remote JWKS; nothing else is installed
# (the health check below uses bash's /dev/tcp instead of curl).
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 itsm \
 && useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin itsm \
 && install -d -o 10001 -g 10001 -m 0750 /var/lib/itsm
COPY --from=builder /out/itsm /usr/local/bin/itsm
ENV ITSM_LISTEN=0.0.0.0:8080 \
    ITSM_DATA_DIR=/var/lib/itsm \
    ITSM_LOG_FORMAT=json
USER 10001:10001
WORKDIR /var/lib/itsm
EXPOSE 8080
# GET /healthz over bash's /dev/tcp on the port of ITSM_LISTEN; healthy on HTTP 200.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/${ITSM_LISTEN##*:} && printf 'GET /healthz HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n' >&3 && IFS=' ' read -r -t 4 _ status _ <&3 && [ \"$status\" = 200 ]"]
ENTRYPOINT ["itsm"]
CMD ["serve"]
