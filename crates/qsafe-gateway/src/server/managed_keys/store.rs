//! Keys from the qsafe key store, by name.

use qsafe_core::kem::DecapsulationKey;
use qsafe_core::sig::SigningKey;
use qsafe_keys::{Backend, KeyStore, Status};

use super::{Error, KeySource, Sourced, Versions};

/// Named keys of a key store.
#[derive(Debug)]
pub struct StoreSource<B: Backend> {
    store: KeyStore<B>,
    ohttp: String,
    signing: String,
}

impl<B: Backend> StoreSource<B> {
    /// The OHTTP key `ohttp` and the response-signing key `signing` of `store`.
    pub fn new(store: KeyStore<B>, ohttp: &str, signing: &str) -> Self {
        StoreSource {
            store,
            ohttp: ohttp.to_owned(),
            signing: signing.to_owned(),
        }
    }
}

impl<B: Backend> KeySource for StoreSource<B> {
    fn active_versions(&self) -> Result<Versions, Error> {
        // Public lookups: cheap, and not audit-logged on every poll.
        Ok(Versions {
            ohttp: self.store.public_key(&self.ohttp, None)?.version,
            signing: self.store.public_key(&self.signing, None)?.version,
        })
    }

    fn ohttp_key(&self) -> Result<Sourced<DecapsulationKey>, Error> {
        let public = self.store.encapsulation_key(&self.ohttp)?;
        let key = self.store.decapsulation_key(&self.ohttp, public.version)?;
        Ok(Sourced {
            name: self.ohttp.clone(),
            version: public.version,
            fingerprint: public.fingerprint,
            key,
        })
    }

    fn signing_key(&self) -> Result<Sourced<SigningKey>, Error> {
        let v = self.store.signing_key(&self.signing)?;
        Ok(Sourced {
            name: self.signing.clone(),
            version: v.version,
            fingerprint: v.fingerprint,
            key: v.key,
        })
    }

    fn may_decrypt(&self, version: u32) -> Result<bool, Error> {
        let key = self.store.show(&self.ohttp)?;
        let usable = key.versions.iter().any(|v| {
            v.version == version && matches!(v.status, Status::Active | Status::DecryptOnly)
        });
        Ok(usable && version >= key.policy.min_decryption_version)
    }
}
