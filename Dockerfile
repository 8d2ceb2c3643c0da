# qsafe in a container: `docker build -t qsafe .` then see deploy/kubernetes/README.md.
# Stage 1 builds the release binary; stage 2 is a distroless (glibc, no shell) image running
# as the non-root user 65532.

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
# aws-lc-sys compiles its C with the system compiler (cc crate builder; no cmake needed).
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc g++ make perl pkg-config \
    && rm -rf /var/lib/apt/lists/*
COPY . .
RUN cargo build --release --locked -p qsafe-cli \
    && install -D -m 0755 target/release/qsafe /out/qsafe

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/qsafe /usr/local/bin/qsafe
USER 65532:65532
EXPOSE 8443
ENTRYPOINT ["/usr/local/bin/qsafe"]
CMD ["serve", "--help"]
