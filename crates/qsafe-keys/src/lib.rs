#![doc = include_str!("../README.md")]

pub mod audit;
pub mod backend;
pub mod backup;
mod error;
pub mod k8s;
pub mod model;
pub mod store;
pub mod wrap;

pub use backend::{Backend, DirBackend, default_root};
pub use error::{Error, Pkcs11Problem, Result};
pub use model::{Key, KeyName, KeyVersion, Policy, Purpose, Status, Timestamp};
pub use store::{KeyStore, NewVersion, RotationDue, VersionedKey, verify_audit};
#[cfg(feature = "pkcs11")]
pub use wrap::pkcs11::{Pkcs11Kek, Pkcs11KeyProperties, Pkcs11Pin};
pub use wrap::{Argon2Cost, InsecurePlaintextKek, Kek, KekInfo, Passphrase, PassphraseKek};
