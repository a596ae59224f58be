# A small non-root image: the release binary on distroless (glibc, no shell).
# The build command is the one tools/test runs and smoke-tests.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin clusterdns
# Bind :53 as a non-root user, as the CoreDNS image does.
RUN apt-get update && apt-get install -y --no-install-recommends libcap2-bin \
 && setcap cap_net_bind_service=+ep target/release/clusterdns

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/clusterdns /clusterdns
USER 65532:65532
EXPOSE 53/udp 53/tcp 8080 8181 9153
ENTRYPOINT ["/clusterdns"]
CMD ["-conf", "/etc/coredns/Corefile"]
