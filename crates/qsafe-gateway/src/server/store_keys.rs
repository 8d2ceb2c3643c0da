//! Gateway keys from the qsafe key store (`qsafe-keys`): the OHTTP key is a named KEM key
//! (`x-wing`, or `mlkem1024-p384` for CNSA 2.0) and the response-signing key a named
//! signature key (composite or pure ML-DSA). Each is used at its active version.
//!
//! The OHTTP key id is the store version modulo 256, so a rotation in the store publishes a
//! new key id while the version it replaces keeps decapsulating requests already encrypted to
//! it ([`GatewayKeys::rotate_ohttp_key`]). [`StoreKeys::refresh`] looks for a new active
//! version and switches to it without a restart; the gateway calls it periodically. A store
//! shared through PostgreSQL makes every replica pick up one rotation.

use std::sync::Mutex;

use qsafe_core::registry::Kind;
use qsafe_keys::{Backend, KeyStore};

use super::{Error as ServerError, GatewayKeys};
use crate::httpsig::Signer;
use crate::ohttp::{GatewayKey, Profile};

/// Why store keys could not be loaded or refreshed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The store refused (unknown key, wrong purpose, locked, unreadable).
    #[error("key store: {0}")]
    Store(#[from] qsafe_keys::Error),
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

/// Named store keys behind a gateway.
#[derive(Debug)]
pub struct StoreKeys<B: Backend> {
    store: KeyStore<B>,
    ohttp: String,
    signing: String,
    current: Mutex<Versions>,
}

/// The OHTTP key id of a store version.
pub fn key_id(version: u32) -> u8 {
    u8::try_from(version % 256).unwrap_or_default()
}

impl<B: Backend> StoreKeys<B> {
    /// Loads the active versions of `ohttp` and `signing` from `store`.
    pub fn load(
        store: KeyStore<B>,
        ohttp: &str,
        signing: &str,
    ) -> Result<(Self, GatewayKeys), Error> {
        let ohttp_key = ohttp_key(&store, ohttp, None)?;
        let (signer, signing_version) = signer(&store, signing)?;
        let versions = Versions {
            ohttp: ohttp_key.1,
            signing: signing_version,
        };
        let keys = GatewayKeys::new(ohttp_key.0, signer)?;
        Ok((
            StoreKeys {
                store,
                ohttp: ohttp.to_owned(),
                signing: signing.to_owned(),
                current: Mutex::new(versions),
            },
            keys,
        ))
    }

    /// The versions in use.
    pub fn versions(&self) -> Versions {
        *self
            .current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Switches `keys` to the store's active versions if they changed; returns the versions
    /// now in use. On an error the keys in use stay as they are.
    pub fn refresh(&self, keys: &GatewayKeys) -> Result<Versions, Error> {
        let mut current = self
            .current
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Public lookups: cheap, and not audit-logged on every poll.
        let ohttp_active = self.store.public_key(&self.ohttp, None)?.version;
        if ohttp_active != current.ohttp {
            let (key, version) = ohttp_key(&self.store, &self.ohttp, Some(ohttp_active))?;
            keys.rotate_ohttp_key(key)?;
            current.ohttp = version;
            tracing::info!(key = %self.ohttp, version, key_id = key_id(version), "OHTTP key rotated");
        }
        let signing_active = self.store.public_key(&self.signing, None)?.version;
        if signing_active != current.signing {
            let (signer, version) = signer(&self.store, &self.signing)?;
            keys.replace_signer(signer);
            current.signing = version;
            tracing::info!(key = %self.signing, version, "response-signing key rotated");
        }
        Ok(*current)
    }
}

fn ohttp_key<B: Backend>(
    store: &KeyStore<B>,
    name: &str,
    version: Option<u32>,
) -> Result<(GatewayKey, u32), Error> {
    let version = match version {
        Some(v) => v,
        None => store.encapsulation_key(name)?.version,
    };
    let secret = store.decapsulation_key(name, version)?;
    let alg = secret.algorithm();
    let profile = [Profile::XWing, Profile::Cnsa2]
        .into_iter()
        .find(|p| p.kem().id == alg.id)
        .ok_or_else(|| Error::Algorithm {
            name: name.to_owned(),
            alg: alg.id.to_owned(),
            role: "OHTTP key",
            hint: "create it with --alg x-wing (or mlkem1024-p384 for CNSA 2.0)",
        })?;
    let key = GatewayKey::new(key_id(version), secret, vec![profile.symmetric()])
        .map_err(ServerError::from)?;
    Ok((key, version))
}

fn signer<B: Backend>(store: &KeyStore<B>, name: &str) -> Result<(Signer, u32), Error> {
    let versioned = store.signing_key(name)?;
    let alg = versioned.key.algorithm();
    let refuse = || Error::Algorithm {
        name: name.to_owned(),
        alg: alg.id.to_owned(),
        role: "response-signing key",
        hint: "create it with --alg mldsa65-ed25519-sha512 (or ml-dsa-65 for pq-only)",
    };
    let quantum_safe =
        crate::httpsig::alg::for_key(alg).is_some_and(|a| !a.is_quantum_vulnerable());
    if alg.kind != Kind::Signature || !quantum_safe {
        return Err(refuse());
    }
    let signer = Signer::new(versioned.key, &versioned.fingerprint).map_err(|_| refuse())?;
    Ok((signer, versioned.version))
}
