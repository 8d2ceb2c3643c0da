//! FN-DSA (Falcon; draft FIPS 206) on Thomas Pornin's `fn-dsa` (feature `experimental`).
//! FIPS 206 is not published: encodings and identifiers may change, so keys use the qsafe
//! envelope (no OID) and there is no seeded key generation.

use fn_dsa::{
    DomainContext, FN_DSA_LOGN_512, FN_DSA_LOGN_1024, HASH_ID_RAW, KeyPairGenerator,
    KeyPairGeneratorStandard, SigningKey, SigningKeyStandard, VerifyingKey, VerifyingKeyStandard,
    sign_key_size, signature_size, vrfy_key_size,
};
use rand_core06::OsRng;

use super::check_context;
use crate::registry::{AlgId, Algorithm};
use crate::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Param {
    Fn512,
    Fn1024,
}

impl Param {
    pub(crate) fn of(alg: &Algorithm) -> Option<Param> {
        match alg.alg_id {
            AlgId::FnDsa512 => Some(Param::Fn512),
            AlgId::FnDsa1024 => Some(Param::Fn1024),
            _ => None,
        }
    }

    fn logn(self) -> u32 {
        match self {
            Param::Fn512 => FN_DSA_LOGN_512,
            Param::Fn1024 => FN_DSA_LOGN_1024,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Param::Fn512 => "fn-dsa-512",
            Param::Fn1024 => "fn-dsa-1024",
        }
    }

    pub(crate) fn check_public(self, pk: &[u8]) -> Result<()> {
        let want = vrfy_key_size(self.logn());
        if pk.len() != want {
            return Err(Error::length("public key", self.name(), want, pk.len()));
        }
        VerifyingKeyStandard::decode(pk)
            .map(|_| ())
            .ok_or(Error::bad_public(self.name(), "malformed"))
    }
}

pub(crate) fn verify(p: Param, pk: &[u8], msg: &[u8], ctx: &[u8], sig: &[u8]) -> Result<()> {
    p.check_public(pk)?;
    check_context(ctx)?;
    let vk = VerifyingKeyStandard::decode(pk).ok_or(Error::bad_public(p.name(), "malformed"))?;
    if vk.verify(sig, &DomainContext(ctx), &HASH_ID_RAW, msg) {
        Ok(())
    } else {
        Err(Error::Verification)
    }
}

/// An FN-DSA signing key in the `fn-dsa` encoding.
pub(crate) struct PrivateKey {
    param: Param,
    sk: zeroize::Zeroizing<Vec<u8>>,
    public: Vec<u8>,
}

impl PrivateKey {
    pub(crate) fn generate(p: Param) -> Result<Self> {
        let mut sk = zeroize::Zeroizing::new(vec![0u8; sign_key_size(p.logn())]);
        let mut vk = vec![0u8; vrfy_key_size(p.logn())];
        KeyPairGeneratorStandard::default().keygen(p.logn(), &mut OsRng, &mut sk, &mut vk);
        Ok(PrivateKey {
            param: p,
            sk,
            public: vk,
        })
    }

    pub(crate) fn from_stored(p: Param, bytes: &[u8]) -> Result<Self> {
        let want = sign_key_size(p.logn());
        if bytes.len() != want {
            return Err(Error::length("private key", p.name(), want, bytes.len()));
        }
        let key =
            SigningKeyStandard::decode(bytes).ok_or(Error::bad_private(p.name(), "malformed"))?;
        if key.get_logn() != p.logn() {
            return Err(Error::bad_private(p.name(), "degree does not match"));
        }
        let mut public = vec![0u8; vrfy_key_size(p.logn())];
        key.to_verifying_key(&mut public);
        Ok(PrivateKey {
            param: p,
            sk: zeroize::Zeroizing::new(bytes.to_vec()),
            public,
        })
    }

    pub(crate) fn stored(&self) -> &[u8] {
        &self.sk
    }

    pub(crate) fn public(&self) -> &[u8] {
        &self.public
    }

    pub(crate) fn sign(&self, msg: &[u8], ctx: &[u8]) -> Result<Vec<u8>> {
        check_context(ctx)?;
        let p = self.param;
        let mut key = SigningKeyStandard::decode(&self.sk).ok_or(Error::Internal("fn-dsa key"))?;
        let mut sig = vec![0u8; signature_size(p.logn())];
        key.sign(&mut OsRng, &DomainContext(ctx), &HASH_ID_RAW, msg, &mut sig)
            .ok_or(Error::Internal("fn-dsa sign"))?;
        Ok(sig)
    }
}
