//! Gateway keys that live somewhere else and change while the gateway runs: the OHTTP key is a
//! KEM key (`x-wing`, or `mlkem1024-p384` for CNSA 2.0) and the response-signing key a
//! signature key (composite or pure ML-DSA), each used at its active version. Two sources:
//!
//! - [`StoreSource`]: named keys of the qsafe key store (`qsafe-keys`), a directory or a
//!   PostgreSQL store shared by every replica;
//! - [`MountedBundles`]: key bundles from mounted Kubernetes Secrets (`qsafe key export
//!   --k8s-secret`), private keys still wrapped and unlocked with the store passphrase.
//!
//! The OHTTP key id is the version modulo 256, so a rotation publishes a new key id while the
//! version it replaces keeps decapsulating requests already encrypted to it
//! ([`GatewayKeys::rotate_ohttp_key`]) until the source says it may no longer decrypt (retired,
//! destroyed, or below `min_decryption_version` in the store); then it is dropped from memory.
//! [`ManagedKeys::refresh`] does both without a restart; the gateway calls it periodically.

pub mod mounted;
mod store;

use std::sync::Mutex;

use qsafe_core::kem::DecapsulationKey;
use qsafe_core::registry::Kind;
use qsafe_core::sig::SigningKey;

pub use mounted::{BUNDLE_FILE, MountedBundles};
pub use store::StoreSource;

use super::{Error as ServerError, GatewayKeys};
use crate::httpsig::Signer;
use crate::ohttp::{GatewayKey, Profile};

/// Why keys could not be loaded or refreshed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The store or bundle refused (unknown key, wrong purpose, wrong passphrase, corrupt).
    #[error("{0}")]
    Keys(#[from] qsafe_keys::Error),
    /// A mounted bundle could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The key's algorithm cannot serve this role.
    #[error("key `{name}` ({alg}) cannot be the gateway's {role}: {hint}")]
    Algorithm {
        /// Key name.
        name: String,
        /// Its algorithm id.
        alg: String,
        /// `OHTTP key` or `response-signing key`.
        role: &'static str,
        /// What would do.
        hint: &'static str,
    },
    /// Building the gateway key set failed.
    #[error(transparent)]
    Gateway(#[from] ServerError),
}

/// The versions in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Versions {
    /// Active version of the OHTTP key.
    pub ohttp: u32,
    /// Active version of the response-signing key.
    pub signing: u32,
}

/// A private key with the name and version it has at its source.
#[derive(Debug)]
pub struct Sourced<K> {
    /// Key name.
    pub name: String,
    /// Version.
    pub version: u32,
    /// `sha256:` fingerprint of the public key (the response signature's `keyid`).
    pub fingerprint: String,
    /// The key.
    pub key: K,
}

/// Where the gateway's keys come from.
pub trait KeySource: std::fmt::Debug + Send + Sync {
    /// The active versions; cheap (no private key is unwrapped), called on every refresh.
    fn active_versions(&self) -> Result<Versions, Error>;
    /// The active OHTTP private key.
    fn ohttp_key(&self) -> Result<Sourced<DecapsulationKey>, Error>;
    /// The active response-signing key.
    fn signing_key(&self) -> Result<Sourced<SigningKey>, Error>;
    /// Whether OHTTP key `version` may still decrypt requests.
    fn may_decrypt(&self, version: u32) -> Result<bool, Error>;
}

/// The OHTTP key id of a version.
pub fn key_id(version: u32) -> u8 {
    u8::try_from(version % 256).unwrap_or_default()
}

#[derive(Debug, Clone, Copy)]
struct InUse {
    versions: Versions,
    previous_ohttp: Option<u32>,
}

/// A source's keys behind a gateway.
#[derive(Debug)]
pub struct ManagedKeys<S: KeySource> {
    source: S,
    names: [String; 2],
    in_use: Mutex<InUse>,
}

impl<S: KeySource> ManagedKeys<S> {
    /// Loads the active versions from `source`.
    pub fn load(source: S) -> Result<(Self, GatewayKeys), Error> {
        let (ohttp_key, signing_key) = (source.ohttp_key()?, source.signing_key()?);
        let names = [ohttp_key.name.clone(), signing_key.name.clone()];
        let (ohttp, ohttp_version) = gateway_key(ohttp_key)?;
        let (signer, signing) = signer(signing_key)?;
        let keys = GatewayKeys::new(ohttp, signer)?;
        let in_use = InUse {
            versions: Versions {
                ohttp: ohttp_version,
                signing,
            },
            previous_ohttp: None,
        };
        let managed = ManagedKeys {
            source,
            names,
            in_use: Mutex::new(in_use),
        };
        Ok((managed, keys))
    }

    /// The source.
    pub fn source(&self) -> &S {
        &self.source
    }

    /// The versions in use.
    pub fn versions(&self) -> Versions {
        self.lock().versions
    }

    /// The names of the OHTTP key and the response-signing key at their source.
    pub fn names(&self) -> (&str, &str) {
        let [ohttp, signing] = &self.names;
        (ohttp, signing)
    }

    /// The replaced OHTTP version still decapsulating, if any.
    pub fn previous_ohttp_version(&self) -> Option<u32> {
        self.lock().previous_ohttp
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, InUse> {
        self.in_use
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Switches `keys` to the source's active versions if they changed, and drops a replaced
    /// OHTTP key that may no longer decrypt; returns the versions now in use. On an error the
    /// keys in use stay as they are.
    pub fn refresh(&self, keys: &GatewayKeys) -> Result<Versions, Error> {
        let mut in_use = self.lock();
        let active = self.source.active_versions()?;
        if active.ohttp != in_use.versions.ohttp {
            let (key, version) = gateway_key(self.source.ohttp_key()?)?;
            keys.rotate_ohttp_key(key)?;
            in_use.previous_ohttp = Some(in_use.versions.ohttp);
            in_use.versions.ohttp = version;
            tracing::info!(version, key_id = key_id(version), "OHTTP key rotated");
        }
        if let Some(previous) = in_use.previous_ohttp
            && !self.source.may_decrypt(previous)?
        {
            keys.drop_previous_ohttp_key();
            in_use.previous_ohttp = None;
            tracing::info!(
                version = previous,
                "replaced OHTTP key may no longer decrypt: dropped"
            );
        }
        if active.signing != in_use.versions.signing {
            let (signer, version) = signer(self.source.signing_key()?)?;
            keys.replace_signer(signer);
            in_use.versions.signing = version;
            tracing::info!(version, "response-signing key rotated");
        }
        Ok(in_use.versions)
    }
}

fn gateway_key(k: Sourced<DecapsulationKey>) -> Result<(GatewayKey, u32), Error> {
    let alg = k.key.algorithm();
    let profile = [Profile::XWing, Profile::Cnsa2]
        .into_iter()
        .find(|p| p.kem().id == alg.id)
        .ok_or_else(|| Error::Algorithm {
            name: k.name.clone(),
            alg: alg.id.to_owned(),
            role: "OHTTP key",
            hint: "create it with --alg x-wing (or mlkem1024-p384 for CNSA 2.0)",
        })?;
    let key = GatewayKey::new(key_id(k.version), k.key, vec![profile.symmetric()])
        .map_err(ServerError::from)?;
    Ok((key, k.version))
}

fn signer(k: Sourced<SigningKey>) -> Result<(Signer, u32), Error> {
    let alg = k.key.algorithm();
    let refuse = || Error::Algorithm {
        name: k.name.clone(),
        alg: alg.id.to_owned(),
        role: "response-signing key",
        hint: "create it with --alg mldsa65-ed25519-sha512 (or ml-dsa-65 for pq-only)",
    };
    let quantum_safe =
        crate::httpsig::alg::for_key(alg).is_some_and(|a| !a.is_quantum_vulnerable());
    if alg.kind != Kind::Signature || !quantum_safe {
        return Err(refuse());
    }
    let signer = Signer::new(k.key, &k.fingerprint).map_err(|_| refuse())?;
    Ok((signer, k.version))
}
