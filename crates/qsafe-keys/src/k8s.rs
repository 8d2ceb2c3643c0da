//! One key version for Kubernetes: a [`KeyBundle`] (public key, private key still wrapped
//! under the store's KEK, and the KEK parameters and check value needed to unwrap it) and a
//! `v1/Secret` manifest carrying it, so a workload mounts the Secret and unlocks the key with
//! the store passphrase (from another Secret) — the private key never sits in etcd unwrapped.
//!
//! Manifest: `apiVersion: v1`, `kind: Secret`, `type: Opaque`, data keys `public.pem` and
//! `key-bundle.json` (base64, as the API requires for `data`), annotations
//! `qsafe.dev/key-id` (the version's fingerprint), `qsafe.dev/key-version`,
//! `qsafe.dev/algorithm`, `qsafe.dev/kek`; names follow RFC 1123 (Kubernetes object names).

use base64::Engine as _;
use qsafe_core::keys::{PrivateKey, PublicKey, codec};
use serde::{Deserialize, Serialize};

use crate::model::{Key, KeyName};
use crate::wrap::{self, InsecurePlaintextKek, Kek, KekInfo, Passphrase, PassphraseKek, Wrapped};
use crate::{Error, Result};

/// The bundle format.
pub const BUNDLE_FORMAT: &str = "qsafe-key-bundle/v1";

/// One exported key version; see the module docs.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyBundle {
    /// [`BUNDLE_FORMAT`].
    pub format: String,
    /// Key name.
    pub name: KeyName,
    /// Version.
    pub version: u32,
    /// Registry algorithm id.
    pub algorithm: String,
    /// `sha256:` fingerprint of the public key (the key id).
    pub fingerprint: String,
    /// The public key, PEM.
    pub public_pem: String,
    /// The store's KEK parameters (never a secret).
    pub kek: KekInfo,
    /// The store's KEK check value: a wrong passphrase is reported as such.
    pub kek_check: Wrapped,
    /// The private key (PKCS #8 DER) wrapped under the KEK, with the store's AAD.
    pub private: Wrapped,
}

impl KeyBundle {
    pub(crate) fn new(
        key: &Key,
        version: u32,
        public: &PublicKey,
        kek: KekInfo,
        kek_check: Wrapped,
        private: Wrapped,
    ) -> Result<KeyBundle> {
        Ok(KeyBundle {
            format: BUNDLE_FORMAT.into(),
            name: key.name.clone(),
            version,
            algorithm: key.algorithm.clone(),
            fingerprint: public.fingerprint()?,
            public_pem: codec::public_to_pem(public)?,
            kek,
            kek_check,
            private,
        })
    }

    /// Parses a bundle (e.g. mounted from a Secret); `file` names it in errors.
    pub fn from_json(bytes: &[u8], file: &str) -> Result<KeyBundle> {
        let b: KeyBundle = serde_json::from_slice(bytes)
            .map_err(|e| Error::corrupt(file, format!("not a qsafe key bundle: {e}")))?;
        if b.format != BUNDLE_FORMAT {
            return Err(Error::corrupt(file, format!("format {:?}", b.format)));
        }
        Ok(b)
    }

    /// Unwraps the private key with the store passphrase (ignored for plaintext stores) and
    /// checks that it matches the bundle's public key.
    pub fn unlock(&self, passphrase: Option<&Passphrase>) -> Result<PrivateKey> {
        let kek: Box<dyn Kek> = match (&self.kek, passphrase) {
            (KekInfo::InsecurePlaintext, _) => Box::new(InsecurePlaintextKek),
            (info @ KekInfo::Passphrase { .. }, Some(p)) => {
                Box::new(PassphraseKek::for_store(p, info)?)
            }
            (KekInfo::Passphrase { .. }, None) => {
                return Err(Error::Kek(
                    "this key bundle needs the store passphrase".into(),
                ));
            }
            (other, _) => {
                return Err(Error::Kek(format!(
                    "this key bundle is wrapped under a {} KEK; unlock it with \
                     KeyBundle::unlock_with and that KEK",
                    other.kind()
                )));
            }
        };
        self.unlock_with(kek.as_ref())
    }

    /// Unwraps the private key with a KEK built by the caller (e.g. a `Pkcs11Kek` for the
    /// bundle's token and key labels) and checks that it matches the bundle's public key.
    pub fn unlock_with(&self, kek: &dyn Kek) -> Result<PrivateKey> {
        let location = || format!("key bundle {} v{}", self.name, self.version);
        let given = kek.describe();
        if given != self.kek {
            return Err(Error::KekMismatch {
                location: location(),
                store: self.kek.kind().into(),
                given: format!("a {} KEK with other parameters was given", given.kind()),
            });
        }
        if !wrap::check(kek, &self.kek_check)? {
            return Err(match self.kek {
                KekInfo::Passphrase { .. } => Error::WrongPassphrase {
                    location: location(),
                },
                ref other => Error::WrongKek {
                    kind: other.kind().into(),
                    location: location(),
                },
            });
        }
        let der = kek.unwrap(
            &wrap::aad(&self.name, self.version, &self.algorithm),
            &self.private,
        )?;
        let key = codec::private_from_bytes(der.expose(), None)?;
        if key.public_key()?.fingerprint()? != self.fingerprint
            || key.algorithm().id != self.algorithm
        {
            return Err(Error::corrupt(
                format!("key bundle {} v{}", self.name, self.version),
                "the private key does not match the public key",
            ));
        }
        Ok(key)
    }

    /// The bundle as a `v1/Secret` manifest (YAML), named `name` or by default
    /// `qsafe-NAME-vVERSION`. A fixed name lets each new version replace the Secret a running
    /// workload mounts, which the kubelet then updates in place.
    pub fn secret_manifest(&self, name: Option<&str>, namespace: Option<&str>) -> Result<String> {
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        let json = serde_json::to_vec_pretty(self)
            .map_err(|e| Error::corrupt("key bundle", e.to_string()))?;
        let wanted = match name {
            Some(n) => n.to_owned(),
            None => format!("qsafe-{}-v{}", self.name, self.version),
        };
        let name = rfc1123(&wanted);
        if name.is_empty() {
            return Err(Error::InvalidSecretName(wanted));
        }
        let mut y = String::new();
        y.push_str("apiVersion: v1\nkind: Secret\nmetadata:\n");
        y.push_str(&format!("  name: {name}\n"));
        if let Some(ns) = namespace {
            y.push_str(&format!("  namespace: {}\n", rfc1123(ns)));
        }
        y.push_str("  labels:\n    app.kubernetes.io/managed-by: qsafe\n");
        y.push_str(&format!(
            "    qsafe.dev/key: {}\n",
            rfc1123(self.name.as_str())
        ));
        y.push_str("  annotations:\n");
        y.push_str(&format!("    qsafe.dev/key-id: \"{}\"\n", self.fingerprint));
        y.push_str(&format!(
            "    qsafe.dev/key-version: \"{}\"\n",
            self.version
        ));
        y.push_str(&format!(
            "    qsafe.dev/algorithm: \"{}\"\n",
            self.algorithm
        ));
        y.push_str(&format!("    qsafe.dev/kek: \"{}\"\n", self.kek.kind()));
        y.push_str("type: Opaque\ndata:\n");
        y.push_str(&format!(
            "  public.pem: {}\n",
            b64(self.public_pem.as_bytes())
        ));
        y.push_str(&format!("  key-bundle.json: {}\n", b64(&json)));
        Ok(y)
    }
}

/// An RFC 1123 label-ish name: lowercase alphanumerics, `-` and `.`, at most 253 characters,
/// starting and ending alphanumeric (key names already nearly are; `_` becomes `-`).
fn rfc1123(s: &str) -> String {
    let mapped: String = s
        .chars()
        .map(|c| match c {
            'a'..='z' | '0'..='9' | '-' | '.' => c,
            'A'..='Z' => c.to_ascii_lowercase(),
            _ => '-',
        })
        .take(253)
        .collect();
    mapped
        .trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_string()
}
