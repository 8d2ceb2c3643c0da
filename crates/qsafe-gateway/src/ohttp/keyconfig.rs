//! Key configurations (RFC 9458 §3.1), the `application/ohttp-keys` list (RFC 9458 §3.2)
//! and the gateway's key pairs.
//!
//! ```text
//! Key Config {
//!   Key Identifier (8),
//!   HPKE KEM ID (16),
//!   HPKE Public Key (Npk * 8),
//!   HPKE Symmetric Algorithms Length (16) = 4..65532,
//!   HPKE Symmetric Algorithms (32) ...,        // KDF ID (16), AEAD ID (16)
//! }
//! ```
//!
//! `Npk` comes from the KEM's registry entry, so a configuration for any registry KEM with
//! an HPKE id parses: `x25519` (32), `x-wing` (1216), `mlkem1024-p384` (1665), ….

use qsafe_core::kdf::Hkdf;
use qsafe_core::kem::{DecapsulationKey, EncapsulationKey};
use qsafe_core::registry::{self, Algorithm, Kind};
use qsafe_core::symmetric::Aead;

use super::{Error, Result};

/// Longest symmetric-algorithm list a configuration can carry (65532 bytes / 4).
const MAX_SYMMETRIC: usize = 16383;

/// An HPKE KDF and AEAD pair offered with a key (RFC 9458 §3.1). Ids are kept as sent, so
/// a configuration naming algorithms qsafe lacks still parses; [`SymmetricAlgorithm::kdf`]
/// and [`SymmetricAlgorithm::aead`] say whether qsafe can use them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SymmetricAlgorithm {
    /// HPKE KDF id (RFC 9180 §7.2).
    pub kdf_id: u16,
    /// HPKE AEAD id (RFC 9180 §7.3).
    pub aead_id: u16,
}

/// RFC 9180 §7.2 id of a KDF.
pub(crate) fn kdf_id(kdf: Hkdf) -> u16 {
    match kdf {
        Hkdf::Sha256 => 0x0001,
        Hkdf::Sha384 => 0x0002,
        Hkdf::Sha512 => 0x0003,
    }
}

/// RFC 9180 §7.3 id of an AEAD.
pub(crate) fn aead_id(aead: Aead) -> u16 {
    match aead {
        Aead::Aes128Gcm => 0x0001,
        Aead::Aes256Gcm => 0x0002,
        Aead::ChaCha20Poly1305 => 0x0003,
    }
}

impl SymmetricAlgorithm {
    /// HKDF-SHA256 with AES-256-GCM: the default beside X-Wing.
    pub const HKDF_SHA256_AES_256_GCM: SymmetricAlgorithm = SymmetricAlgorithm::from_ids(1, 2);
    /// HKDF-SHA384 with AES-256-GCM: the CNSA 2.0 profile.
    pub const HKDF_SHA384_AES_256_GCM: SymmetricAlgorithm = SymmetricAlgorithm::from_ids(2, 2);
    /// HKDF-SHA256 with AES-128-GCM: RFC 9458 Appendix A and classical interop.
    pub const HKDF_SHA256_AES_128_GCM: SymmetricAlgorithm = SymmetricAlgorithm::from_ids(1, 1);
    /// HKDF-SHA256 with ChaCha20-Poly1305: offered in RFC 9458 Appendix A; the 256-bit
    /// choice of implementations without AES-256-GCM (Mozilla's `ohttp` with `rust-hpke`).
    pub const HKDF_SHA256_CHACHA20_POLY1305: SymmetricAlgorithm =
        SymmetricAlgorithm::from_ids(1, 3);

    /// From raw HPKE ids.
    pub const fn from_ids(kdf_id: u16, aead_id: u16) -> Self {
        SymmetricAlgorithm { kdf_id, aead_id }
    }

    /// From qsafe algorithms.
    pub fn new(kdf: Hkdf, aead: Aead) -> Self {
        SymmetricAlgorithm::from_ids(kdf_id(kdf), aead_id(aead))
    }

    /// The KDF, if qsafe implements it.
    pub fn kdf(&self) -> Option<Hkdf> {
        Hkdf::from_hpke_id(self.kdf_id)
    }

    /// The AEAD, if qsafe implements it (never the export-only id 0xffff, which cannot
    /// protect a request).
    pub fn aead(&self) -> Option<Aead> {
        Aead::from_hpke_id(self.aead_id)
    }

    /// Both ids name algorithms qsafe implements.
    pub fn is_supported(&self) -> bool {
        self.kdf().is_some() && self.aead().is_some()
    }
}

/// The algorithm sets a gateway key can be made with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Profile {
    /// X-Wing (HPKE KEM 0x647a) with HKDF-SHA256 and AES-256-GCM: the default.
    #[default]
    XWing,
    /// MLKEM1024-P384 (HPKE KEM 0x0051) with HKDF-SHA384 and AES-256-GCM: CNSA 2.0.
    Cnsa2,
    /// DHKEM(X25519, HKDF-SHA256) with HKDF-SHA256 and AES-128-GCM: quantum-vulnerable, for
    /// RFC 9458 Appendix A and clients without a post-quantum KEM. A [`super::Gateway`]
    /// accepts such a key only after `dangerous().allow_classical_kem()`.
    ClassicalX25519,
}

impl Profile {
    /// The KEM.
    pub fn kem(self) -> &'static Algorithm {
        match self {
            Profile::XWing => &registry::X_WING,
            Profile::Cnsa2 => &registry::MLKEM1024_P384,
            Profile::ClassicalX25519 => &registry::X25519,
        }
    }

    /// The KDF and AEAD.
    pub fn symmetric(self) -> SymmetricAlgorithm {
        match self {
            Profile::XWing => SymmetricAlgorithm::HKDF_SHA256_AES_256_GCM,
            Profile::Cnsa2 => SymmetricAlgorithm::HKDF_SHA384_AES_256_GCM,
            Profile::ClassicalX25519 => SymmetricAlgorithm::HKDF_SHA256_AES_128_GCM,
        }
    }
}

/// The registry KEM with this HPKE id.
pub(crate) fn kem_by_id(kem_id: u16) -> Option<&'static Algorithm> {
    registry::ALL
        .iter()
        .copied()
        .find(|a| a.kind == Kind::Kem && a.hpke_id == Some(kem_id) && a.is_available())
}

/// `Npk` and `Nenc` of a KEM, from its registry sizes.
pub(crate) fn kem_lengths(kem: &'static Algorithm) -> Option<(usize, usize)> {
    Some((kem.sizes.public_key?, kem.sizes.ciphertext?))
}

/// A gateway's public key configuration (RFC 9458 §3.1): what a client needs to encapsulate
/// requests. The public key was validated for its KEM when the configuration was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyConfig {
    key_id: u8,
    kem: &'static Algorithm,
    kem_id: u16,
    public_key: Vec<u8>,
    symmetric: Vec<SymmetricAlgorithm>,
}

impl KeyConfig {
    /// A configuration for `public_key` under `key_id`, offering `symmetric` in order of
    /// preference.
    pub fn new(
        key_id: u8,
        public_key: &EncapsulationKey,
        symmetric: Vec<SymmetricAlgorithm>,
    ) -> Result<Self> {
        let kem = public_key.algorithm();
        let kem_id = kem
            .hpke_id
            .ok_or(Error::KeyConfig("the KEM has no HPKE id"))?;
        if symmetric.is_empty() {
            return Err(Error::KeyConfig("no symmetric algorithm"));
        }
        if symmetric.len() > MAX_SYMMETRIC {
            return Err(Error::KeyConfig("more than 16383 symmetric algorithms"));
        }
        Ok(KeyConfig {
            key_id,
            kem,
            kem_id,
            public_key: public_key.as_bytes().to_vec(),
            symmetric,
        })
    }

    /// Key identifier.
    pub fn key_id(&self) -> u8 {
        self.key_id
    }

    /// The KEM's registry entry.
    pub fn kem(&self) -> &'static Algorithm {
        self.kem
    }

    /// HPKE KEM id.
    pub fn kem_id(&self) -> u16 {
        self.kem_id
    }

    /// The raw public key.
    pub fn public_key(&self) -> &[u8] {
        &self.public_key
    }

    /// The offered KDF and AEAD pairs, in the gateway's order of preference.
    pub fn symmetric(&self) -> &[SymmetricAlgorithm] {
        &self.symmetric
    }

    /// The public key, parsed for encapsulation.
    pub fn encapsulation_key(&self) -> Result<EncapsulationKey> {
        Ok(EncapsulationKey::from_bytes(self.kem, &self.public_key)?)
    }

    /// The RFC 9458 §3.1 encoding.
    pub fn encode(&self) -> Vec<u8> {
        let sym_len = self.symmetric.len().saturating_mul(4);
        let mut out = Vec::with_capacity(5 + self.public_key.len() + sym_len);
        out.push(self.key_id);
        out.extend_from_slice(&self.kem_id.to_be_bytes());
        out.extend_from_slice(&self.public_key);
        // `new` and `decode` bound the list to 16383 entries, so this fits.
        out.extend_from_slice(&u16::try_from(sym_len).unwrap_or(u16::MAX).to_be_bytes());
        for s in &self.symmetric {
            out.extend_from_slice(&s.kdf_id.to_be_bytes());
            out.extend_from_slice(&s.aead_id.to_be_bytes());
        }
        out
    }

    /// Parses one configuration, which must fill `bytes` exactly. A KEM without a registry
    /// entry is [`Error::UnsupportedKem`]; any other defect is [`Error::KeyConfig`].
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let (&key_id, rest) = bytes
            .split_first()
            .ok_or(Error::KeyConfig("truncated before the KEM id"))?;
        let (kem_id, rest) = split_u16(rest).ok_or(Error::KeyConfig("truncated KEM id"))?;
        let kem = kem_by_id(kem_id).ok_or(Error::UnsupportedKem(kem_id))?;
        let (npk, _) = kem_lengths(kem).ok_or(Error::UnsupportedKem(kem_id))?;
        let (pk, rest) = rest
            .split_at_checked(npk)
            .ok_or(Error::KeyConfig("truncated public key"))?;
        let public_key = EncapsulationKey::from_bytes(kem, pk)
            .map_err(|_| Error::KeyConfig("public key rejected by its KEM"))?;
        let (sym_len, rest) =
            split_u16(rest).ok_or(Error::KeyConfig("truncated symmetric algorithms length"))?;
        let sym_len = usize::from(sym_len);
        if sym_len < 4 || !sym_len.is_multiple_of(4) {
            return Err(Error::KeyConfig(
                "symmetric algorithms length is not a positive multiple of 4",
            ));
        }
        if rest.len() != sym_len {
            return Err(Error::KeyConfig(
                "symmetric algorithms length does not match the configuration",
            ));
        }
        let symmetric = rest
            .chunks_exact(4)
            .filter_map(|c| {
                let (kdf, aead) = split_u16(c)?;
                let (aead, _) = split_u16(aead)?;
                Some(SymmetricAlgorithm::from_ids(kdf, aead))
            })
            .collect();
        KeyConfig::new(key_id, &public_key, symmetric)
    }

    /// The `application/ohttp-keys` encoding (RFC 9458 §3.2): each configuration prefixed
    /// with its length as a 16-bit integer. RFC 9540 §5 serves it at
    /// `/.well-known/ohttp-gateway`.
    pub fn encode_list<'a>(configs: impl IntoIterator<Item = &'a KeyConfig>) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        for c in configs {
            let enc = c.encode();
            let len = u16::try_from(enc.len())
                .map_err(|_| Error::KeyConfig("configuration longer than 65535 bytes"))?;
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(&enc);
        }
        if out.is_empty() {
            return Err(Error::KeyConfig("an ohttp-keys list needs a configuration"));
        }
        Ok(out)
    }

    /// Parses an `application/ohttp-keys` list. Configurations for KEMs qsafe lacks are
    /// skipped, which the length prefixes exist to allow; any encoding error rejects the
    /// whole list, and so does a list with no usable configuration.
    pub fn decode_list(bytes: &[u8]) -> Result<Vec<KeyConfig>> {
        let mut configs = Vec::new();
        let mut rest = bytes;
        let mut skipped = None;
        while !rest.is_empty() {
            let (len, tail) =
                split_u16(rest).ok_or(Error::KeyConfig("truncated configuration length"))?;
            let (one, tail) = tail
                .split_at_checked(usize::from(len))
                .ok_or(Error::KeyConfig("configuration longer than the list"))?;
            match KeyConfig::decode(one) {
                Ok(c) => configs.push(c),
                Err(Error::UnsupportedKem(id)) => skipped = Some(id),
                Err(e) => return Err(e),
            }
            rest = tail;
        }
        match (configs.is_empty(), skipped) {
            (true, Some(id)) => Err(Error::UnsupportedKem(id)),
            (true, None) => Err(Error::KeyConfig("empty ohttp-keys list")),
            (false, _) => Ok(configs),
        }
    }

    /// The first offered pair that qsafe implements.
    pub fn preferred_symmetric(&self) -> Option<SymmetricAlgorithm> {
        self.symmetric.iter().copied().find(|s| s.is_supported())
    }
}

fn split_u16(b: &[u8]) -> Option<(u16, &[u8])> {
    let (head, tail) = b.split_first_chunk::<2>()?;
    Some((u16::from_be_bytes(*head), tail))
}

/// A gateway key pair with its configuration. The private key is zeroized on drop; `Debug`
/// shows the key id and KEM only.
pub struct GatewayKey {
    config: KeyConfig,
    secret: DecapsulationKey,
}

impl core::fmt::Debug for GatewayKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("GatewayKey")
            .field("key_id", &self.config.key_id)
            .field("kem", &self.config.kem.id)
            .finish_non_exhaustive()
    }
}

impl GatewayKey {
    /// A fresh key pair for `profile` under `key_id`.
    pub fn generate(key_id: u8, profile: Profile) -> Result<Self> {
        let secret = DecapsulationKey::generate(profile.kem())?;
        GatewayKey::new(key_id, secret, vec![profile.symmetric()])
    }

    /// Wraps an existing private key. Every offered pair must be one qsafe implements, since
    /// the gateway has to honour what it advertises.
    pub fn new(
        key_id: u8,
        secret: DecapsulationKey,
        symmetric: Vec<SymmetricAlgorithm>,
    ) -> Result<Self> {
        if let Some(s) = symmetric.iter().find(|s| !s.is_supported()) {
            return Err(Error::UnsupportedSuite {
                key_id,
                kem_id: secret.algorithm().hpke_id.unwrap_or_default(),
                kdf_id: s.kdf_id,
                aead_id: s.aead_id,
            });
        }
        let config = KeyConfig::new(key_id, &secret.encapsulation_key()?, symmetric)?;
        kem_lengths(config.kem).ok_or(Error::UnsupportedKem(config.kem_id))?;
        Ok(GatewayKey { config, secret })
    }

    /// The public configuration.
    pub fn config(&self) -> &KeyConfig {
        &self.config
    }

    /// The private key (to store it).
    pub fn secret(&self) -> &DecapsulationKey {
        &self.secret
    }
}
