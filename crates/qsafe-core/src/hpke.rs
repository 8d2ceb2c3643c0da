//! HPKE (RFC 9180) base mode with export, over every registry KEM that has an HPKE KEM id:
//! DHKEM (§4.1), ML-KEM and the PQ/T hybrids with the ids and `DeriveKeyPair` of
//! draft-ietf-hpke-pq. (`x25519-mlkem768`, `x25519-mlkem1024-hkdf-sha384` and McEliece have
//! no HPKE id.)
//!
//! Only the two-stage HKDF key schedule (§5.1) is implemented; the single-stage SHAKE KDFs
//! of draft-ietf-hpke-pq are not.
//!
//! ```
//! use qsafe_core::{hpke, kem::DecapsulationKey, registry};
//! let suite = hpke::Suite::new(&registry::X_WING, qsafe_core::kdf::Hkdf::Sha256, Some(qsafe_core::symmetric::Aead::Aes256Gcm))?;
//! let recipient = DecapsulationKey::generate(&registry::X_WING)?;
//! let (enc, mut sender) = hpke::setup_base_sender(&suite, &recipient.encapsulation_key()?, b"info")?;
//! let ct = sender.seal(b"aad", b"gradient shard")?;
//! let mut receiver = hpke::setup_base_receiver(&suite, &enc, &recipient, b"info")?;
//! assert_eq!(receiver.open(b"aad", &ct)?, b"gradient shard");
//! # Ok::<(), qsafe_core::Error>(())
//! ```

use sha3::digest::{ExtendableOutput, Update, XofReader};
use zeroize::Zeroizing;

use crate::kdf::{self, Hkdf};
use crate::kem::{DecapsulationKey, EncapsulationKey, dhkem};
use crate::registry::{AlgId, Algorithm, Kind};
use crate::secret::SecretBytes;
use crate::symmetric::{Aead, AeadKey, NONCE_LEN};
use crate::{Error, Result};

/// HPKE AEAD id of the export-only mode (RFC 9180 §7.3).
pub const EXPORT_ONLY: u16 = 0xffff;

/// A KEM, KDF and AEAD chosen together.
#[derive(Debug, Clone, Copy)]
pub struct Suite {
    kem: &'static Algorithm,
    kem_id: u16,
    kdf: Hkdf,
    aead: Option<Aead>,
}

fn kdf_id(kdf: Hkdf) -> u16 {
    match kdf {
        Hkdf::Sha256 => 0x0001,
        Hkdf::Sha384 => 0x0002,
        Hkdf::Sha512 => 0x0003,
    }
}

fn aead_id(aead: Option<Aead>) -> u16 {
    match aead {
        Some(Aead::Aes128Gcm) => 0x0001,
        Some(Aead::Aes256Gcm) => 0x0002,
        Some(Aead::ChaCha20Poly1305) => 0x0003,
        None => EXPORT_ONLY,
    }
}

impl Suite {
    /// A suite over a registry KEM; `aead = None` is export-only.
    pub fn new(kem: &'static Algorithm, kdf: Hkdf, aead: Option<Aead>) -> Result<Suite> {
        if kem.kind != Kind::Kem {
            return Err(Error::WrongKind {
                alg: kem.id,
                expected: Kind::Kem,
            });
        }
        let kem_id = kem.hpke_id.ok_or(Error::Unsupported {
            alg: kem.id,
            what: "HPKE (no KEM id)",
        })?;
        Ok(Suite {
            kem,
            kem_id,
            kdf,
            aead,
        })
    }

    /// From the three RFC 9180 identifiers.
    pub fn from_ids(kem_id: u16, kdf: u16, aead: u16) -> Result<Suite> {
        let kem = crate::registry::ALL
            .iter()
            .copied()
            .find(|a| a.kind == Kind::Kem && a.hpke_id == Some(kem_id))
            .ok_or_else(|| Error::UnknownAlgorithm(format!("HPKE KEM 0x{kem_id:04x}")))?;
        let kdf = Hkdf::from_hpke_id(kdf)
            .ok_or_else(|| Error::UnknownAlgorithm(format!("HPKE KDF 0x{kdf:04x}")))?;
        let aead = match aead {
            EXPORT_ONLY => None,
            id => Some(
                Aead::from_hpke_id(id)
                    .ok_or_else(|| Error::UnknownAlgorithm(format!("HPKE AEAD 0x{id:04x}")))?,
            ),
        };
        Suite::new(kem, kdf, aead)
    }

    /// The KEM.
    pub fn kem(&self) -> &'static Algorithm {
        self.kem
    }

    /// The KDF.
    pub fn kdf(&self) -> Hkdf {
        self.kdf
    }

    /// The AEAD (`None`: export-only).
    pub fn aead(&self) -> Option<Aead> {
        self.aead
    }

    /// The three RFC 9180 §7 identifiers: KEM, KDF, AEAD (0xFFFF for export-only).
    pub fn ids(&self) -> (u16, u16, u16) {
        (self.kem_id, kdf_id(self.kdf), aead_id(self.aead))
    }

    fn suite_id(&self) -> [u8; 10] {
        let mut id = *b"HPKE\0\0\0\0\0\0";
        id[4..6].copy_from_slice(&self.kem_id.to_be_bytes());
        id[6..8].copy_from_slice(&kdf_id(self.kdf).to_be_bytes());
        id[8..10].copy_from_slice(&aead_id(self.aead).to_be_bytes());
        id
    }
}

/// `LabeledDerive` with SHAKE256 (draft-ietf-hpke-hpke §4; used by draft-ietf-hpke-pq for
/// `DeriveKeyPair` whatever the suite's KDF).
fn shake256_labeled_derive(
    kem_id: u16,
    ikm: &[u8],
    label: &[u8],
    context: &[u8],
    len: usize,
) -> Result<SecretBytes> {
    let label_len = u16::try_from(label.len()).map_err(|_| Error::Internal("label length"))?;
    let out_len = u16::try_from(len).map_err(|_| Error::Internal("derive length"))?;
    let mut h = sha3::Shake256::default();
    h.update(ikm);
    h.update(b"HPKE-v1");
    h.update(b"KEM");
    h.update(&kem_id.to_be_bytes());
    h.update(&label_len.to_be_bytes());
    h.update(label);
    h.update(&out_len.to_be_bytes());
    h.update(context);
    let mut out = Zeroizing::new(vec![0u8; len]);
    h.finalize_xof().read(&mut out);
    Ok(SecretBytes::from_slice(&out))
}

/// `DeriveKeyPair(ikm)` for the KEM (RFC 9180 §7.1.3; draft-ietf-hpke-pq §3, §4).
pub fn derive_key_pair(kem: &'static Algorithm, ikm: &[u8]) -> Result<DecapsulationKey> {
    let kem_id = kem.hpke_id.ok_or(Error::Unsupported {
        alg: kem.id,
        what: "HPKE (no KEM id)",
    })?;
    match kem.alg_id {
        AlgId::X25519 | AlgId::P256 | AlgId::P384 => {
            let curve = crate::kem::dh_curve(kem)?;
            Ok(DecapsulationKey::from_dh(
                kem,
                dhkem::derive_key_pair(curve, ikm)?,
            ))
        }
        AlgId::MlKem512 | AlgId::MlKem768 | AlgId::MlKem1024 => {
            let dk = shake256_labeled_derive(kem_id, ikm, b"DeriveKeyPair", b"", 64)?;
            DecapsulationKey::from_seed(kem, dk.expose())
        }
        _ => {
            let seed = shake256_labeled_derive(kem_id, ikm, b"DeriveKeyPair", b"", 32)?;
            DecapsulationKey::from_concrete_seed(kem, seed.expose())
        }
    }
}

/// `SerializePrivateKey(sk)`: DHKEM scalar, ML-KEM seed, or the 32-byte hybrid seed.
pub fn serialize_private_key(sk: &DecapsulationKey) -> Result<SecretBytes> {
    match sk.concrete_seed() {
        Some(seed) => Ok(SecretBytes::from_slice(seed)),
        None => sk.private_bytes(),
    }
}

/// Direction of a context: senders seal, receivers open; both export.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Sender,
    Receiver,
}

/// An HPKE encryption context (§5.2).
pub struct Context {
    role: Role,
    key: Option<AeadKey>,
    base_nonce: [u8; NONCE_LEN],
    seq: u64,
    exporter_secret: SecretBytes,
    kdf: Hkdf,
    suite_id: [u8; 10],
}

impl core::fmt::Debug for Context {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Context")
            .field("role", &self.role)
            .field("seq", &self.seq)
            .finish_non_exhaustive()
    }
}

fn key_schedule(
    suite: &Suite,
    role: Role,
    shared_secret: &SecretBytes,
    info: &[u8],
) -> Result<Context> {
    let sid = suite.suite_id();
    let kdf = suite.kdf;
    // Base mode: mode 0x00, empty psk and psk_id.
    let psk_id_hash = kdf::labeled_extract(kdf, &sid, b"", b"psk_id_hash", b"");
    let info_hash = kdf::labeled_extract(kdf, &sid, b"", b"info_hash", info);
    let context = [&[0u8][..], psk_id_hash.expose(), info_hash.expose()].concat();
    let secret = kdf::labeled_extract(kdf, &sid, shared_secret.expose(), b"secret", b"");
    let exporter_secret =
        kdf::labeled_expand(kdf, secret.expose(), &sid, b"exp", &context, kdf.hash_len())?;
    let (key, base_nonce) = match suite.aead {
        None => (None, [0u8; NONCE_LEN]),
        Some(aead) => {
            let key =
                kdf::labeled_expand(kdf, secret.expose(), &sid, b"key", &context, aead.key_len())?;
            let nonce = kdf::labeled_expand(
                kdf,
                secret.expose(),
                &sid,
                b"base_nonce",
                &context,
                NONCE_LEN,
            )?;
            let mut base_nonce = [0u8; NONCE_LEN];
            base_nonce.copy_from_slice(nonce.expose());
            (Some(AeadKey::new(aead, key.expose())?), base_nonce)
        }
    };
    Ok(Context {
        role,
        key,
        base_nonce,
        seq: 0,
        exporter_secret,
        kdf,
        suite_id: sid,
    })
}

impl Context {
    fn next_nonce(&mut self) -> Result<[u8; NONCE_LEN]> {
        // §5.2: the sequence number must not wrap; with a 96-bit nonce u64 never reaches it.
        let seq = self.seq;
        self.seq = seq.checked_add(1).ok_or(Error::Unsupported {
            alg: "hpke",
            what: "more than 2^64 messages",
        })?;
        let mut nonce = self.base_nonce;
        for (n, s) in nonce.iter_mut().skip(NONCE_LEN - 8).zip(seq.to_be_bytes()) {
            *n ^= s;
        }
        Ok(nonce)
    }

    fn aead(&self) -> Result<&AeadKey> {
        self.key.as_ref().ok_or(Error::Unsupported {
            alg: "hpke",
            what: "encryption in an export-only suite",
        })
    }

    /// `ContextS.Seal(aad, pt)`.
    pub fn seal(&mut self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>> {
        if self.role != Role::Sender {
            return Err(Error::Unsupported {
                alg: "hpke",
                what: "sealing with a receiver context",
            });
        }
        self.aead()?;
        let nonce = self.next_nonce()?;
        self.aead()?.seal(&nonce, aad, plaintext)
    }

    /// `ContextR.Open(aad, ct)`. The sequence number advances only on success.
    pub fn open(&mut self, aad: &[u8], ciphertext: &[u8]) -> Result<Vec<u8>> {
        if self.role != Role::Receiver {
            return Err(Error::Unsupported {
                alg: "hpke",
                what: "opening with a sender context",
            });
        }
        let mut nonce = self.base_nonce;
        for (n, s) in nonce
            .iter_mut()
            .skip(NONCE_LEN - 8)
            .zip(self.seq.to_be_bytes())
        {
            *n ^= s;
        }
        let pt = self.aead()?.open(&nonce, aad, ciphertext)?;
        self.next_nonce()?;
        Ok(pt)
    }

    /// `Context.Export(exporter_context, L)`.
    pub fn export(&self, exporter_context: &[u8], len: usize) -> Result<SecretBytes> {
        kdf::labeled_expand(
            self.kdf,
            self.exporter_secret.expose(),
            &self.suite_id,
            b"sec",
            exporter_context,
            len,
        )
    }
}

/// `SetupBaseS(pkR, info)`: returns `(enc, context)`.
pub fn setup_base_sender(
    suite: &Suite,
    pk_r: &EncapsulationKey,
    info: &[u8],
) -> Result<(Vec<u8>, Context)> {
    check_kem(suite, pk_r.algorithm())?;
    let (enc, ss) = pk_r.encapsulate()?;
    Ok((enc, key_schedule(suite, Role::Sender, &ss, info)?))
}

#[cfg(feature = "hazmat")]
/// Hazmat: `SetupBaseS` with the encapsulation randomness derived from `ikm_e` as the test
/// vectors do (DHKEM: `DeriveKeyPair(ikmE)`; ML-KEM and hybrids: `ikmE` is the randomness).
#[doc(hidden)]
pub fn setup_base_sender_derand(
    suite: &Suite,
    pk_r: &EncapsulationKey,
    info: &[u8],
    ikm_e: &[u8],
) -> Result<(Vec<u8>, Context)> {
    check_kem(suite, pk_r.algorithm())?;
    let randomness = match suite.kem.alg_id {
        AlgId::X25519 | AlgId::P256 | AlgId::P384 => {
            derive_key_pair(suite.kem, ikm_e)?.private_bytes()?
        }
        _ => SecretBytes::from_slice(ikm_e),
    };
    let (enc, ss) = pk_r.encapsulate_derand(randomness.expose())?;
    Ok((enc, key_schedule(suite, Role::Sender, &ss, info)?))
}

#[cfg(feature = "hazmat")]
/// Hazmat: `SetupBaseS` with the encapsulation randomness given as is (DHKEM: the ephemeral
/// private key `skE` itself, as RFC 9458 Appendix A publishes it; ML-KEM and hybrids: as in
/// [`setup_base_sender_derand`]).
#[doc(hidden)]
pub fn setup_base_sender_with_randomness(
    suite: &Suite,
    pk_r: &EncapsulationKey,
    info: &[u8],
    randomness: &[u8],
) -> Result<(Vec<u8>, Context)> {
    check_kem(suite, pk_r.algorithm())?;
    let (enc, ss) = pk_r.encapsulate_derand(randomness)?;
    Ok((enc, key_schedule(suite, Role::Sender, &ss, info)?))
}

/// `SetupBaseR(enc, skR, info)`.
pub fn setup_base_receiver(
    suite: &Suite,
    enc: &[u8],
    sk_r: &DecapsulationKey,
    info: &[u8],
) -> Result<Context> {
    check_kem(suite, sk_r.algorithm())?;
    let ss = sk_r.decapsulate(enc)?;
    key_schedule(suite, Role::Receiver, &ss, info)
}

fn check_kem(suite: &Suite, key_alg: &'static Algorithm) -> Result<()> {
    if key_alg.id != suite.kem.id {
        return Err(Error::InvalidKey {
            what: "HPKE key",
            alg: key_alg.id,
            reason: "does not match the suite's KEM",
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::ALL;

    #[test]
    fn every_hpke_kem_round_trips() {
        let mut n = 0;
        for kem in ALL
            .iter()
            .copied()
            .filter(|a| a.kind == Kind::Kem && a.hpke_id.is_some())
        {
            let suite = Suite::new(kem, Hkdf::Sha384, Some(Aead::Aes256Gcm)).unwrap();
            let sk = DecapsulationKey::generate(kem).unwrap();
            let (enc, mut s) =
                setup_base_sender(&suite, &sk.encapsulation_key().unwrap(), b"i").unwrap();
            let mut r = setup_base_receiver(&suite, &enc, &sk, b"i").unwrap();
            for msg in [&b"one"[..], b"two"] {
                let ct = s.seal(b"a", msg).unwrap();
                assert_eq!(r.open(b"a", &ct).unwrap(), msg, "{}", kem.id);
            }
            assert!(r.open(b"a", b"garbage garbage garbage").is_err());
            assert_eq!(s.export(b"x", 32).unwrap(), r.export(b"x", 32).unwrap());
            assert!(
                setup_base_receiver(&suite, &enc, &sk, b"other")
                    .unwrap()
                    .open(b"a", &s.seal(b"a", b"m").unwrap())
                    .is_err()
            );
            n += 1;
        }
        assert_eq!(n, 9);
    }
}
