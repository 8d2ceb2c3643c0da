//! The sealed container, format v1 (normative text: `docs/format.md`).
//!
//! `header ‖ payload ‖ trailer`. The header names the suite and carries one stanza per
//! recipient: a fresh 32-byte file key sealed with HPKE base mode (RFC 9180 §5.1, §6.1) under
//! the recipient's KEM (draft-ietf-hpke-pq ids for the hybrids), and an optional signer
//! stanza; HMAC-SHA-512 under a key derived from the file key authenticates it. The payload
//! is C2SP chunked encryption, Cobblestone-256 (c2sp.org/chunked-encryption), keyed from the
//! file key. A signed file ends with a fixed-size trailer holding the sender's signature over
//! the header's fixed fields and the payload. Neither depends on the recipient stanzas, so a
//! key manager can re-wrap a file to new keys ([`Header::rewrap`]) without touching the
//! payload or the signature.

mod header;
mod open;
mod rewrap;
mod seal;
mod stream;

pub use header::{Header, Recipient, Signer};
pub use open::{FileKey, Opened, verify_signature};
pub use rewrap::{JOURNAL_SUFFIX, recover_header, rewrite_header_in_place};
pub use seal::{SealOptions, Sealer};
pub use stream::Window;

use qsafe_core::hpke;
use qsafe_core::kdf::{self, Hkdf};
use qsafe_core::registry::{Algorithm, Cnsa2, Family, Kind, Suite};
use qsafe_core::secret::SecretBytes;
use qsafe_core::symmetric::Aead;

use crate::{Error, Result};

/// First bytes of every sealed file (PNG-style: detects text-mode and 7-bit damage).
pub const MAGIC: [u8; 8] = *b"\x89QSF\r\n\x1a\n";
/// The format version this module writes and reads.
pub const VERSION: u16 = 1;
/// Magic, version and header length.
pub(crate) const PREFIX_LEN: usize = 14;
/// Upper bound on the header length.
pub const MAX_HEADER_LEN: u32 = 1 << 20;
/// Upper bound on recipient stanzas.
pub const MAX_RECIPIENTS: usize = 64;
/// Header MAC length (HMAC-SHA-512).
pub const MAC_LEN: usize = 64;
/// File key length.
pub const FILE_KEY_LEN: usize = 32;
/// Key fingerprint length (SHA-256 of the SubjectPublicKeyInfo).
pub const FINGERPRINT_LEN: usize = 32;
/// The sealed file key: key and AES-256-GCM tag.
pub(crate) const WRAPPED_KEY_LEN: usize = FILE_KEY_LEN + 16;
/// The payload encryption this version uses.
pub const PAYLOAD_ID: &str = "cobblestone-256";

const HPKE_INFO: &[u8] = b"qsafe-sealed/v1 file key";
const KDF_SALT: &[u8] = b"qsafe-sealed/v1";
const SIGNATURE_LABEL: &[u8] = b"qsafe-sealed/v1 signature\0";
/// The Cobblestone context of every payload (domain separation).
pub(crate) const PAYLOAD_CONTEXT: &[u8] = b"qsafe-sealed/v1 payload";

/// The HPKE suite of a recipient stanza: the recipient's KEM, HKDF-SHA384 under `cnsa2`
/// (CNSA 2.0 requires SHA-384 or stronger) and HKDF-SHA256 otherwise, AES-256-GCM.
pub(crate) fn hpke_suite(suite: &Suite, kem: &'static Algorithm) -> Result<hpke::Suite> {
    let kdf = if suite.id == "cnsa2" {
        Hkdf::Sha384
    } else {
        Hkdf::Sha256
    };
    Ok(hpke::Suite::new(kem, kdf, Some(Aead::Aes256Gcm))?)
}

/// HPKE ids (KDF, AEAD) written in a stanza, for the suite.
pub(crate) fn hpke_ids(suite: &Suite) -> (u16, u16) {
    (if suite.id == "cnsa2" { 0x0002 } else { 0x0001 }, 0x0002)
}

/// Keys derived from the file key (`docs/format.md` §4).
pub(crate) struct FileKeys {
    pub(crate) mac: SecretBytes,
    pub(crate) payload: SecretBytes,
}

pub(crate) fn derive_keys(file_key: &SecretBytes) -> Result<FileKeys> {
    let prk = Hkdf::Sha512.extract(KDF_SALT, file_key.expose());
    Ok(FileKeys {
        mac: Hkdf::Sha512.expand(prk.expose(), &[b"header mac"], 64)?,
        payload: Hkdf::Sha512.expand(prk.expose(), &[b"payload key"], 32)?,
    })
}

/// The HMAC over the header bytes before the MAC.
pub(crate) fn header_mac(keys: &FileKeys, unauthenticated: &[u8]) -> [u8; MAC_LEN] {
    kdf::hmac_sha512(keys.mac.expose(), &[unauthenticated])
}

/// The message a sender signs: a label, the header digest and the payload digest.
pub(crate) fn signed_message(header_digest: &[u8], payload_digest: &[u8]) -> Vec<u8> {
    [SIGNATURE_LABEL, header_digest, payload_digest].concat()
}

/// Whether `alg` may protect a sealed file under `suite` (`docs/format.md` §6).
pub fn check_policy(
    alg: &Algorithm,
    kind: Kind,
    suite: &Suite,
    allow_classical: bool,
) -> Result<()> {
    let role = if kind == Kind::Kem {
        "recipient"
    } else {
        "signer"
    };
    let refuse = |why: String| {
        Err(Error::Algorithm {
            id: alg.id.into(),
            role,
            why,
        })
    };
    if alg.kind != kind {
        return refuse(format!("it is a {:?} algorithm", alg.kind).to_lowercase());
    }
    if kind == Kind::Kem && alg.hpke_id.is_none() {
        return refuse("it has no HPKE KEM id".into());
    }
    if alg.family == Family::Classical && !allow_classical {
        return refuse(
            "it is classical-only, so a quantum computer breaks it; use a hybrid such as \
             x-wing or mlkem1024-p384, or pass --allow-classical"
                .into(),
        );
    }
    if suite.id == "cnsa2" && !matches!(alg.cnsa2, Cnsa2::Approved | Cnsa2::HybridApproved) {
        return refuse(format!(
            "suite cnsa2 needs CNSA 2.0 algorithms (e.g. {}); {} is not",
            if kind == Kind::Kem {
                suite.kem.id
            } else {
                suite.signature.id
            },
            alg.id
        ));
    }
    Ok(())
}
