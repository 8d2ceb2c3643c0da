//! Compiles the vendored Kubernetes KMS v2 API (`proto/k8s.io/kms/apis/v2/api.proto`) with
//! protox, a pure-Rust protobuf compiler, so no system `protoc` is needed; tonic-prost-build
//! then writes the messages, the server trait and a transport-agnostic client to
//! `$OUT_DIR/v2.rs`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto = "proto/k8s.io/kms/apis/v2/api.proto";
    println!("cargo:rerun-if-changed={proto}");
    let fds = protox::compile([proto], ["proto"])?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        // The client is generic over the transport: tests and callers bring their own
        // channel (a unix socket), so tonic's `channel` feature is not needed here.
        .build_transport(false)
        .compile_fds(fds)?;
    Ok(())
}
