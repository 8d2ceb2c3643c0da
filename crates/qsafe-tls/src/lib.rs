#![doc = include_str!("../README.md")]

pub mod accept;
pub mod config;
pub mod dev_cert;
pub mod error;
pub mod policy;

pub use accept::TlsAcceptor;
pub use config::{
    client_config, load_cert_chain, load_private_key, load_root_store, server_config,
};
pub use dev_cert::{DEV_HOSTNAMES, DevCertificate, dev_certificate};
pub use error::{Error, Result};
pub use policy::{
    FALLBACK_ENV, Fallback, Suite, cipher_suites, group_algorithm, group_name, is_post_quantum,
    kx_groups, negotiated_group_name, protocol_versions, provider,
};
/// The rustls version this crate configures, re-exported so callers name the same types.
pub use rustls;
pub use tokio_rustls;
