#![doc = include_str!("../README.md")]

pub mod error;
pub mod hpke;
pub mod kdf;
pub mod kem;
pub mod keys;
pub mod registry;
mod sec1_key;
pub mod secret;
pub mod sig;
pub mod symmetric;

pub use error::{Error, Result};
pub use secret::SecretBytes;
