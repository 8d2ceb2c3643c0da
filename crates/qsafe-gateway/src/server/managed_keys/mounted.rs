//! Keys from mounted Kubernetes Secrets: each Secret written by `qsafe key export
//! --k8s-secret` carries one version as `key-bundle.json` (public key, private key still
//! wrapped under the store's KEK); the gateway unlocks it with the store passphrase. The
//! kubelet replaces a mounted Secret's files atomically when the Secret changes, so applying
//! the Secret of a new version rotates the gateway on its next refresh. A mount shows one
//! version, so the OHTTP version it replaces keeps decrypting until the next rotation.

use std::path::{Path, PathBuf};

use qsafe_core::kem::DecapsulationKey;
use qsafe_core::keys::PrivateKey;
use qsafe_core::sig::SigningKey;
use qsafe_keys::Passphrase;
use qsafe_keys::k8s::KeyBundle;

use super::{Error, KeySource, Sourced, Versions};

/// The file name of a bundle inside a mounted Secret.
pub const BUNDLE_FILE: &str = "key-bundle.json";

/// Two mounted key bundles: the OHTTP key and the response-signing key.
#[derive(Debug)]
pub struct MountedBundles {
    ohttp: PathBuf,
    signing: PathBuf,
    passphrase: Option<Passphrase>,
}

impl MountedBundles {
    /// Bundles at `ohttp` and `signing`, each a bundle file or a mounted Secret directory
    /// holding [`BUNDLE_FILE`]; `passphrase` unlocks passphrase-wrapped bundles.
    pub fn new(ohttp: &Path, signing: &Path, passphrase: Option<Passphrase>) -> Self {
        MountedBundles {
            ohttp: bundle_path(ohttp),
            signing: bundle_path(signing),
            passphrase,
        }
    }

    fn unlock(&self, path: &Path) -> Result<(KeyBundle, PrivateKey), Error> {
        let bundle = read(path)?;
        let key = bundle.unlock(self.passphrase.as_ref())?;
        Ok((bundle, key))
    }
}

/// A directory means the Secret's mount point.
pub fn bundle_path(path: &Path) -> PathBuf {
    if path.is_dir() {
        path.join(BUNDLE_FILE)
    } else {
        path.to_path_buf()
    }
}

fn read(path: &Path) -> Result<KeyBundle, Error> {
    let bytes = std::fs::read(path).map_err(|source| Error::Read {
        path: path.display().to_string(),
        source,
    })?;
    Ok(KeyBundle::from_json(&bytes, &path.display().to_string())?)
}

fn sourced<K>(bundle: KeyBundle, key: K) -> Sourced<K> {
    Sourced {
        name: bundle.name.to_string(),
        version: bundle.version,
        fingerprint: bundle.fingerprint,
        key,
    }
}

fn wrong_kind(bundle: &KeyBundle, role: &'static str, hint: &'static str) -> Error {
    Error::Algorithm {
        name: bundle.name.to_string(),
        alg: bundle.algorithm.clone(),
        role,
        hint,
    }
}

impl KeySource for MountedBundles {
    fn active_versions(&self) -> Result<Versions, Error> {
        Ok(Versions {
            ohttp: read(&self.ohttp)?.version,
            signing: read(&self.signing)?.version,
        })
    }

    fn ohttp_key(&self) -> Result<Sourced<DecapsulationKey>, Error> {
        match self.unlock(&self.ohttp)? {
            (bundle, PrivateKey::Kem(dk)) => Ok(sourced(bundle, dk)),
            (bundle, PrivateKey::Sig(_)) => Err(wrong_kind(
                &bundle,
                "OHTTP key",
                "mount the Secret of an x-wing (or mlkem1024-p384) key",
            )),
        }
    }

    fn signing_key(&self) -> Result<Sourced<SigningKey>, Error> {
        match self.unlock(&self.signing)? {
            (bundle, PrivateKey::Sig(sk)) => Ok(sourced(bundle, sk)),
            (bundle, PrivateKey::Kem(_)) => Err(wrong_kind(
                &bundle,
                "response-signing key",
                "mount the Secret of an mldsa65-ed25519-sha512 (or ml-dsa-65) key",
            )),
        }
    }

    fn may_decrypt(&self, _version: u32) -> Result<bool, Error> {
        Ok(true)
    }
}
