# syntax=docker/dockerfile:1
#
# tuskq: worker, monitor and enqueue (CLI and HTTP API) in one image.
#
#   docker build -t tuskq:latest .
#   docker run --rm tuskq:latest worker --help
#
# The binaries are built with cgo and linked dynamically against glibc, so
# the worker can load native Go plugins (-buildmode=plugin): a CGO_ENABLED=0
# binary answers "plugin: not implemented" and a static one crashes on load.
# A native plugin must be built by the same Go toolchain, from the same
# module versions and with the same flags as the worker; build it in the
# "build" stage of this file (docker build --target build) so that it is.
# Subprocess, exec and WebAssembly plugins have no such constraint.

ARG GO_VERSION=1.26
ARG DEBIAN_RELEASE=bookworm

FROM golang:${GO_VERSION}-${DEBIAN_RELEASE} AS build
WORKDIR /src
# Modules first: this layer is reused until go.mod or go.sum change.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=1 go build -o /out/ \
        ./cmd/worker ./cmd/monitor ./cmd/enqueue

FROM debian:${DEBIAN_RELEASE}-slim
# ca-certificates: TLS to Redis (redis.tls.*) and the http:request processor.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/tuskq --create-home tuskq \
 && mkdir -p /var/lib/tuskq/plugins \
 && chown -R tuskq:tuskq /var/lib/tuskq
COPY --from=build /out/ /usr/local/bin/
USER tuskq
WORKDIR /var/lib/tuskq
# 9464: worker /healthz, /readyz, /metrics; 8080: monitor; 8090: HTTP enqueue API.
EXPOSE 9464 8080 8090
# SIGTERM starts the graceful shutdown of every binary (the default).
STOPSIGNAL SIGTERM
CMD ["worker"]
