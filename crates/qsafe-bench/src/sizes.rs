//! The "Memory and Storage Impact" table, from real keys, ciphertexts and signatures.

use qsafe_core::Result;
use qsafe_core::keys::{PrivateKey, PublicKey, codec};
use qsafe_core::registry::{self, Family, Kind};
use serde::Serialize;

/// Encoded sizes of one algorithm, in bytes.
#[derive(Debug, Clone, Serialize)]
pub struct SizeRow {
    /// Registry id.
    pub id: &'static str,
    /// Family.
    pub family: Family,
    /// Raw public key.
    pub public_key: usize,
    /// Public key as DER SubjectPublicKeyInfo (or qsafe envelope).
    pub public_key_der: usize,
    /// Private key in its stored form (seed where the standard allows).
    pub private_key: usize,
    /// Private key as DER PKCS #8 (or qsafe envelope).
    pub private_key_der: usize,
    /// Ciphertext (KEM) or signature, as produced.
    pub ciphertext_or_signature: usize,
    /// Shared secret (KEM).
    pub shared_secret: Option<usize>,
}

/// Builds the table for every available KEM and signature algorithm.
pub fn table() -> Result<Vec<SizeRow>> {
    let mut rows = Vec::new();
    for alg in registry::ALL
        .iter()
        .copied()
        .filter(|a| matches!(a.kind, Kind::Kem | Kind::Signature) && a.is_available())
    {
        let sk = PrivateKey::generate(alg)?;
        let pk = sk.public_key()?;
        let (out_len, ss) = match (&sk, &pk) {
            (_, PublicKey::Kem(pk)) => {
                let (ct, ss) = pk.encapsulate()?;
                (ct.len(), Some(ss.len()))
            }
            (PrivateKey::Sig(sk), _) => (sk.sign(crate::primitives::MESSAGE, b"")?.len(), None),
            _ => (0, None),
        };
        rows.push(SizeRow {
            id: alg.id,
            family: alg.family,
            public_key: pk.raw().len(),
            public_key_der: codec::public_to_der(&pk)?.len(),
            private_key: sk.raw()?.len(),
            private_key_der: codec::private_to_der(&sk)?.len(),
            ciphertext_or_signature: out_len,
            shared_secret: ss,
        });
    }
    Ok(rows)
}
