# syntax=docker/dockerfile:1.7
# The clusterdns image for any platform, built without emulation: the build
# stage runs on the build machine's platform and cross-compiles a static
# (musl) binary for the target's architecture (tools/cross-build, with
# cargo-zigbuild); the image is that binary, allowed to bind :53 as the
# non-root user, on distroless static.
#   docker buildx build --platform linux/arm64,linux/amd64 -t clusterdns/clusterdns:0.1.0 .
# tools/image writes the same images as OCI archives without a Docker daemon.
# Base images are pinned by digest; the tag beside each says what it is.
ARG RUST_IMAGE=rust:1.95-bookworm@sha256:6258907abe69656e41cd992e0b705cdcfabcbbe3db374f92ed2d47121282d4a1
ARG BASE_IMAGE=gcr.io/distroless/static-debian12:nonroot@sha256:d093aa3e30dbadd3efe1310db061a14da60299baff8450a17fe0ccc514a16639

FROM --platform=$BUILDPLATFORM ${RUST_IMAGE} AS build
ARG TARGETARCH
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3-venv libcap2-bin \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Dependencies first, so a source change does not rebuild them.
COPY Cargo.toml Cargo.lock ./
COPY tools/cross-build tools/cross-build
COPY src src
COPY benches benches
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/root/.cache/clusterdns-cross \
    --mount=type=cache,target=/src/target,id=target-$TARGETARCH \
    cp "$(tools/cross-build "$TARGETARCH")" /clusterdns \
 && setcap cap_net_bind_service=+ep /clusterdns

FROM --platform=$TARGETPLATFORM ${BASE_IMAGE}
COPY --from=build /clusterdns /clusterdns
USER 65532:65532
EXPOSE 53/udp 53/tcp 8080 8181 9153
ENTRYPOINT ["/clusterdns"]
CMD ["-conf", "/etc/coredns/Corefile"]
