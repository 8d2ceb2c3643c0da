#![doc = include_str!("../README.md")]

pub mod envelope;
mod error;
pub mod key_id;
pub mod plugin;
mod serve;

/// The Kubernetes KMS v2 API (gRPC package `v2`), generated at build time from the vendored
/// `proto/k8s.io/kms/apis/v2/api.proto` (kubernetes/kubernetes, Apache-2.0): messages, the
/// `KeyManagementService` server trait and a client generic over its transport.
pub mod proto {
    #![allow(missing_docs, missing_debug_implementations, clippy::all)] // generated code
    tonic::include_proto!("v2");
}

pub use error::{ERROR_METADATA_KEY, Error, Result};
pub use key_id::KeyId;
pub use plugin::{Plugin, PluginOptions};
pub use serve::serve;
