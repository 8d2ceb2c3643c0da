//! Wrapping private keys at rest under a key-encryption key (KEK).
//!
//! Private keys are stored as the PKCS #8 DER of `qsafe_core::keys::codec::private_to_der`,
//! always wrapped by a [`Kek`]:
//!
//! - [`PassphraseKek`]: AES-256-GCM under a 256-bit key derived from a passphrase with
//!   Argon2id (RFC 9106, version 0x13). The cost parameters and a 16-byte random salt are
//!   stored in the store metadata ([`KekInfo::Passphrase`]). The default cost is RFC 9106 §4's
//!   second recommended option (t = 3, m = 64 MiB) with p = 1, because the `argon2` crate
//!   computes lanes sequentially; [`PassphraseKek::with_cost`] takes lower costs for tests.
//! - [`InsecurePlaintextKek`]: stores the DER unwrapped, labelled `insecure-plaintext`, for
//!   tests and development only; [`Kek::is_insecure`] lets a caller warn on every use.
//! - `Pkcs11Kek` (feature `pkcs11`, module `wrap::pkcs11`): a non-extractable AES-256 key on a
//!   PKCS#11 token (an HSM, or SoftHSM2 in tests). `wrap` and `unwrap` run AES-256-GCM on the
//!   token and produce the same [`Wrapped::Aes256Gcm`] form; the store records the token and
//!   key labels ([`KekInfo::Pkcs11`]), not the module path and never the PIN.
//!
//! AES-256-GCM use follows NIST SP 800-38D: a fresh 96-bit nonce from the OS CSPRNG for every
//! wrap (the random construction of §8.2.2), well inside the §8.3 limit of 2^32 invocations
//! per key, since a store wraps one secret per key version. The associated data binds the
//! material to its place ([`aad`]): `"qsafe-keys/v1\0" ‖ key name ‖ 0x00 ‖ version (u32 BE) ‖
//! algorithm id`. A name never contains `0x00` and the algorithm id comes last, so the
//! encoding is unambiguous; wrapped material copied to another key, version or algorithm
//! fails to authenticate.
//!
//! A store keeps a *KEK check value*: [`KEK_CHECK_PLAINTEXT`] wrapped with [`KEK_CHECK_AAD`].
//! Opening a store unwraps it first, so a wrong passphrase is reported as such before any key
//! is read or written.

use argon2::{Algorithm as Argon2Algorithm, Argon2, Params, Version};
use qsafe_core::SecretBytes;
use qsafe_core::secret::random_bytes;
use qsafe_core::symmetric::{Aead, AeadKey, NONCE_LEN};
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

use crate::model::{KeyName, b64};
use crate::{Error, Result};

#[cfg(feature = "pkcs11")]
pub mod pkcs11;

/// Prefix of every wrapping AAD.
pub const AAD_PREFIX: &[u8] = b"qsafe-keys/v1\0";
/// AAD of the KEK check value (differs from every key AAD at byte 13).
pub const KEK_CHECK_AAD: &[u8] = b"qsafe-keys/v1/kek-check";
/// The constant wrapped as the KEK check value.
pub const KEK_CHECK_PLAINTEXT: &[u8] = b"qsafe-keys KEK check value v1";

/// The associated data for one key version's private material.
pub fn aad(name: &KeyName, version: u32, alg_id: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(AAD_PREFIX.len() + name.as_str().len() + 5 + alg_id.len());
    out.extend_from_slice(AAD_PREFIX);
    out.extend_from_slice(name.as_str().as_bytes());
    out.push(0);
    out.extend_from_slice(&version.to_be_bytes());
    out.extend_from_slice(alg_id.as_bytes());
    out
}

/// Private material as stored.
#[derive(Serialize, Deserialize)]
#[serde(tag = "scheme", rename_all = "kebab-case", deny_unknown_fields)]
#[non_exhaustive]
pub enum Wrapped {
    /// AES-256-GCM: `ciphertext ‖ tag` under a 96-bit random nonce.
    Aes256Gcm {
        /// 12-byte nonce.
        #[serde(with = "b64")]
        nonce: Vec<u8>,
        /// Ciphertext with the 16-byte tag appended.
        #[serde(with = "b64")]
        ciphertext: Vec<u8>,
    },
    /// Not wrapped at all ([`InsecurePlaintextKek`]). Zeroized on drop.
    InsecurePlaintext {
        /// The PKCS #8 DER itself.
        #[serde(with = "b64")]
        plaintext: Vec<u8>,
    },
}

impl Wrapped {
    /// `aes-256-gcm` or `insecure-plaintext`.
    pub fn scheme(&self) -> &'static str {
        match self {
            Wrapped::Aes256Gcm { .. } => "aes-256-gcm",
            Wrapped::InsecurePlaintext { .. } => "insecure-plaintext",
        }
    }
}

impl Drop for Wrapped {
    fn drop(&mut self) {
        if let Wrapped::InsecurePlaintext { plaintext } = self {
            plaintext.zeroize();
        }
    }
}

impl core::fmt::Debug for Wrapped {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let len = match self {
            Wrapped::Aes256Gcm { ciphertext, .. } => ciphertext.len(),
            Wrapped::InsecurePlaintext { plaintext } => plaintext.len(),
        };
        write!(f, "Wrapped({}, {len} bytes)", self.scheme())
    }
}

/// Argon2id cost parameters (RFC 9106 §3.1 names: m in KiB, t passes, p lanes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argon2Cost {
    /// Memory in KiB.
    pub m_cost_kib: u32,
    /// Passes.
    pub t_cost: u32,
    /// Lanes.
    pub p_cost: u32,
}

impl Argon2Cost {
    /// RFC 9106 §4 second recommended option (t = 3, m = 64 MiB), with p = 1.
    pub const DEFAULT: Argon2Cost = Argon2Cost {
        m_cost_kib: 64 * 1024,
        t_cost: 3,
        p_cost: 1,
    };

    /// Fast and weak (m = 64 KiB, t = 1): for tests only.
    pub const INSECURE_FAST_FOR_TESTS: Argon2Cost = Argon2Cost {
        m_cost_kib: 64,
        t_cost: 1,
        p_cost: 1,
    };

    /// Upper bounds accepted from a store file, so a modified file cannot make opening
    /// exhaust memory or time: 4 GiB, 64 passes, 64 lanes.
    const MAX: Argon2Cost = Argon2Cost {
        m_cost_kib: 4 * 1024 * 1024,
        t_cost: 64,
        p_cost: 64,
    };

    /// True when weaker than [`Argon2Cost::DEFAULT`] in memory or passes (a CLI may warn).
    pub fn is_below_default(&self) -> bool {
        self.m_cost_kib < Self::DEFAULT.m_cost_kib || self.t_cost < Self::DEFAULT.t_cost
    }
}

/// Stored Argon2id parameters: cost, version and salt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Argon2Params {
    /// Argon2 version: 19 (0x13), the RFC 9106 version.
    pub version: u32,
    /// Memory in KiB.
    pub m_cost_kib: u32,
    /// Passes.
    pub t_cost: u32,
    /// Lanes.
    pub p_cost: u32,
    /// 16 random bytes.
    #[serde(with = "b64")]
    pub salt: Vec<u8>,
}

impl Argon2Params {
    /// The cost part.
    pub fn cost(&self) -> Argon2Cost {
        Argon2Cost {
            m_cost_kib: self.m_cost_kib,
            t_cost: self.t_cost,
            p_cost: self.p_cost,
        }
    }
}

/// Which KEK a store uses, with what a KEK needs to be rebuilt (never a secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
#[non_exhaustive]
pub enum KekInfo {
    /// [`PassphraseKek`].
    Passphrase {
        /// Argon2id parameters and salt.
        argon2id: Argon2Params,
    },
    /// [`InsecurePlaintextKek`].
    InsecurePlaintext,
    /// An AES-256 key on a PKCS#11 token (`Pkcs11Kek`, feature `pkcs11`), found by its labels.
    ///
    /// The module path is not recorded: it is host configuration (it differs between hosts and
    /// distributions), and loading a shared library named by a store file would turn write
    /// access to the store into code execution. Two KEKs are the same when both labels are
    /// equal, whatever module reached the token; the KEK check value then proves the key.
    Pkcs11 {
        /// The token label (`CK_TOKEN_INFO.label`, at most 32 bytes).
        token_label: String,
        /// The key label (`CKA_LABEL` of the secret key).
        key_label: String,
    },
}

impl KekInfo {
    /// `passphrase`, `insecure-plaintext` or `pkcs11`.
    pub fn kind(&self) -> &'static str {
        match self {
            KekInfo::Passphrase { .. } => "passphrase",
            KekInfo::InsecurePlaintext => "insecure-plaintext",
            KekInfo::Pkcs11 { .. } => "pkcs11",
        }
    }
}

/// A key-encryption key.
///
/// `unwrap` must return [`Error::WrappedUnauthentic`] when the material does not
/// authenticate (wrong KEK, modified data, other AAD), so the store can report a wrong
/// passphrase or a tampered key file; other errors (a token that went away) pass through.
pub trait Kek: Send + Sync + core::fmt::Debug {
    /// What the store records about this KEK.
    fn describe(&self) -> KekInfo;
    /// Wraps `secret` with associated data `aad`.
    fn wrap(&self, aad: &[u8], secret: &[u8]) -> Result<Wrapped>;
    /// Unwraps; see the trait docs for the error contract.
    fn unwrap(&self, aad: &[u8], wrapped: &Wrapped) -> Result<SecretBytes>;
    /// True when material is stored unprotected: callers should warn on every use.
    fn is_insecure(&self) -> bool {
        false
    }
}

impl<K: Kek + ?Sized> Kek for Box<K> {
    fn describe(&self) -> KekInfo {
        (**self).describe()
    }
    fn wrap(&self, aad: &[u8], secret: &[u8]) -> Result<Wrapped> {
        (**self).wrap(aad, secret)
    }
    fn unwrap(&self, aad: &[u8], wrapped: &Wrapped) -> Result<SecretBytes> {
        (**self).unwrap(aad, wrapped)
    }
    fn is_insecure(&self) -> bool {
        (**self).is_insecure()
    }
}

/// A passphrase, zeroized on drop and never printed.
pub struct Passphrase(SecretBytes);

impl Passphrase {
    /// Takes ownership of the string (its buffer becomes the secret; nothing is copied).
    pub fn new(passphrase: String) -> Result<Self> {
        Self::from_bytes(passphrase.into_bytes())
    }

    /// From raw bytes; empty passphrases are refused.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self> {
        let secret = SecretBytes::new(bytes);
        if secret.is_empty() {
            return Err(Error::Kek("the passphrase is empty".into()));
        }
        Ok(Passphrase(secret))
    }

    /// From an environment variable (e.g. `QSAFE_PASSPHRASE`).
    pub fn from_env(var: &str) -> Result<Self> {
        match std::env::var_os(var) {
            Some(v) => Self::from_bytes(v.into_encoded_bytes()),
            None => Err(Error::Kek(format!(
                "environment variable {var} holding the passphrase is not set"
            ))),
        }
    }

    /// From a file: its contents minus one trailing `\n` or `\r\n`.
    pub fn from_file(path: &std::path::Path) -> Result<Self> {
        let mut bytes =
            std::fs::read(path).map_err(|e| Error::io("read passphrase file", path, e))?;
        strip_one_newline(&mut bytes);
        Self::from_bytes(bytes)
    }
}

/// Drops one trailing `\n` or `\r\n` from a secret read from a file, zeroizing it.
fn strip_one_newline(bytes: &mut Vec<u8>) {
    for suffix in [&b"\r\n"[..], b"\n"] {
        if bytes.ends_with(suffix) {
            let keep = bytes.len() - suffix.len();
            if let Some(tail) = bytes.get_mut(keep..) {
                tail.zeroize();
            }
            bytes.truncate(keep);
            return;
        }
    }
}

impl core::fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Passphrase(redacted)")
    }
}

/// AES-256-GCM under an Argon2id key derived from a passphrase.
pub struct PassphraseKek {
    params: Argon2Params,
    key: AeadKey,
}

impl core::fmt::Debug for PassphraseKek {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PassphraseKek")
            .field("cost", &self.params.cost())
            .finish_non_exhaustive()
    }
}

impl PassphraseKek {
    /// For a new store: a fresh salt and [`Argon2Cost::DEFAULT`].
    pub fn new(passphrase: &Passphrase) -> Result<Self> {
        Self::with_cost(passphrase, Argon2Cost::DEFAULT)
    }

    /// For a new store with explicit cost; anything the `argon2` crate accepts is allowed
    /// (use [`Argon2Cost::INSECURE_FAST_FOR_TESTS`] in tests only).
    pub fn with_cost(passphrase: &Passphrase, cost: Argon2Cost) -> Result<Self> {
        let salt = random_bytes(16)?;
        let params = Argon2Params {
            version: 0x13,
            m_cost_kib: cost.m_cost_kib,
            t_cost: cost.t_cost,
            p_cost: cost.p_cost,
            salt: salt.expose().to_vec(),
        };
        Self::derive(passphrase, params)
    }

    /// For an existing store: the parameters recorded in its metadata.
    pub fn for_store(passphrase: &Passphrase, info: &KekInfo) -> Result<Self> {
        match info {
            KekInfo::Passphrase { argon2id } => {
                let max = Argon2Cost::MAX;
                if argon2id.m_cost_kib > max.m_cost_kib
                    || argon2id.t_cost > max.t_cost
                    || argon2id.p_cost > max.p_cost
                {
                    return Err(Error::Kek(format!(
                        "the store's Argon2id parameters (m = {} KiB, t = {}, p = {}) exceed \
                         the accepted maximum (m = 4 GiB, t = 64, p = 64)",
                        argon2id.m_cost_kib, argon2id.t_cost, argon2id.p_cost
                    )));
                }
                Self::derive(passphrase, argon2id.clone())
            }
            other => Err(Error::Kek(format!(
                "the store uses a {} KEK, not a passphrase",
                other.kind()
            ))),
        }
    }

    /// The stored parameters.
    pub fn params(&self) -> &Argon2Params {
        &self.params
    }

    fn derive(passphrase: &Passphrase, params: Argon2Params) -> Result<Self> {
        if params.version != 0x13 {
            return Err(Error::Kek(format!(
                "unsupported Argon2 version {} (only 19 = 0x13, RFC 9106)",
                params.version
            )));
        }
        if params.salt.len() < 16 {
            return Err(Error::Kek(format!(
                "Argon2id salt is {} bytes; at least 16 are required",
                params.salt.len()
            )));
        }
        let argon_params = Params::new(params.m_cost_kib, params.t_cost, params.p_cost, Some(32))
            .map_err(|e| Error::Kek(format!("invalid Argon2id parameters: {e}")))?;
        let argon = Argon2::new(Argon2Algorithm::Argon2id, Version::V0x13, argon_params);
        let mut out = Zeroizing::new([0u8; 32]);
        argon
            .hash_password_into(passphrase.0.expose(), &params.salt, out.as_mut())
            .map_err(|e| Error::Kek(format!("Argon2id failed: {e}")))?;
        let key = AeadKey::new(Aead::Aes256Gcm, out.as_ref())?;
        Ok(PassphraseKek { params, key })
    }
}

impl Kek for PassphraseKek {
    fn describe(&self) -> KekInfo {
        KekInfo::Passphrase {
            argon2id: self.params.clone(),
        }
    }

    fn wrap(&self, aad: &[u8], secret: &[u8]) -> Result<Wrapped> {
        let nonce = random_bytes(NONCE_LEN)?;
        let ciphertext = self.key.seal(nonce.expose(), aad, secret)?;
        Ok(Wrapped::Aes256Gcm {
            nonce: nonce.expose().to_vec(),
            ciphertext,
        })
    }

    fn unwrap(&self, aad: &[u8], wrapped: &Wrapped) -> Result<SecretBytes> {
        match wrapped {
            Wrapped::Aes256Gcm { nonce, ciphertext } => self
                .key
                .open(nonce, aad, ciphertext)
                .map(SecretBytes::new)
                .map_err(|_| Error::WrappedUnauthentic),
            // Plaintext material in a protected store could only have been planted.
            Wrapped::InsecurePlaintext { .. } => Err(Error::WrappedUnauthentic),
        }
    }
}

/// Stores private keys unwrapped. For tests and development only: [`Kek::is_insecure`] is
/// true, and every stored secret is labelled `insecure-plaintext`.
#[derive(Debug, Default, Clone, Copy)]
pub struct InsecurePlaintextKek;

impl Kek for InsecurePlaintextKek {
    fn describe(&self) -> KekInfo {
        KekInfo::InsecurePlaintext
    }

    fn wrap(&self, _aad: &[u8], secret: &[u8]) -> Result<Wrapped> {
        Ok(Wrapped::InsecurePlaintext {
            plaintext: secret.to_vec(),
        })
    }

    fn unwrap(&self, _aad: &[u8], wrapped: &Wrapped) -> Result<SecretBytes> {
        match wrapped {
            Wrapped::InsecurePlaintext { plaintext } => Ok(SecretBytes::from_slice(plaintext)),
            Wrapped::Aes256Gcm { .. } => Err(Error::WrappedUnauthentic),
        }
    }

    fn is_insecure(&self) -> bool {
        true
    }
}

/// Makes a store's KEK check value.
pub(crate) fn make_check(kek: &dyn Kek) -> Result<Wrapped> {
    kek.wrap(KEK_CHECK_AAD, KEK_CHECK_PLAINTEXT)
}

/// True when `kek` opens the check value.
pub(crate) fn check(kek: &dyn Kek, value: &Wrapped) -> Result<bool> {
    match kek.unwrap(KEK_CHECK_AAD, value) {
        Ok(p) => Ok(p.expose() == KEK_CHECK_PLAINTEXT),
        Err(Error::WrappedUnauthentic) => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )]
    use super::*;

    fn pass(s: &str) -> Passphrase {
        Passphrase::new(s.to_owned()).unwrap()
    }

    #[test]
    fn aad_layout() {
        let name = KeyName::new("k1").unwrap();
        assert_eq!(
            aad(&name, 258, "x-wing"),
            b"qsafe-keys/v1\0k1\0\x00\x00\x01\x02x-wing".to_vec()
        );
    }

    #[test]
    fn passphrase_round_trip_and_binding() {
        let kek =
            PassphraseKek::with_cost(&pass("pw"), Argon2Cost::INSECURE_FAST_FOR_TESTS).unwrap();
        let w = kek.wrap(b"aad", b"secret").unwrap();
        assert_eq!(kek.unwrap(b"aad", &w).unwrap().expose(), b"secret");
        assert!(matches!(
            kek.unwrap(b"aaD", &w),
            Err(Error::WrappedUnauthentic)
        ));
        let w2 = kek.wrap(b"aad", b"secret").unwrap();
        match (&w, &w2) {
            (Wrapped::Aes256Gcm { nonce: a, .. }, Wrapped::Aes256Gcm { nonce: b, .. }) => {
                assert_eq!(a.len(), 12);
                assert_ne!(a, b, "nonces must be fresh");
            }
            _ => panic!("wrong scheme"),
        }
        // Same passphrase and parameters rebuild the same key.
        let again = PassphraseKek::for_store(&pass("pw"), &kek.describe()).unwrap();
        assert_eq!(again.unwrap(b"aad", &w).unwrap().expose(), b"secret");
        let wrong = PassphraseKek::for_store(&pass("pW"), &kek.describe()).unwrap();
        assert!(matches!(
            wrong.unwrap(b"aad", &w),
            Err(Error::WrappedUnauthentic)
        ));
        assert!(!check(&wrong, &make_check(&kek).unwrap()).unwrap());
        assert!(check(&again, &make_check(&kek).unwrap()).unwrap());
        // Plaintext material is refused by a real KEK.
        let planted = InsecurePlaintextKek.wrap(b"aad", b"secret").unwrap();
        assert!(matches!(
            kek.unwrap(b"aad", &planted),
            Err(Error::WrappedUnauthentic)
        ));
    }

    #[test]
    fn rfc9106_default_cost_and_bounds() {
        assert_eq!(Argon2Cost::DEFAULT.m_cost_kib, 65_536);
        assert_eq!(Argon2Cost::DEFAULT.t_cost, 3);
        assert!(Argon2Cost::INSECURE_FAST_FOR_TESTS.is_below_default());
        let mut info = PassphraseKek::with_cost(&pass("pw"), Argon2Cost::INSECURE_FAST_FOR_TESTS)
            .unwrap()
            .describe();
        if let KekInfo::Passphrase { argon2id } = &mut info {
            argon2id.m_cost_kib = u32::MAX;
        }
        let err = PassphraseKek::for_store(&pass("pw"), &info)
            .unwrap_err()
            .to_string();
        assert!(err.contains("exceed"), "{err}");
        assert!(Passphrase::new(String::new()).is_err());
    }

    #[test]
    fn secrets_are_not_printed() {
        let p = pass("hunter2");
        assert!(!format!("{p:?}").contains("hunter2"));
        let w = InsecurePlaintextKek.wrap(b"", b"PRIVATE").unwrap();
        assert!(!format!("{w:?}").contains("PRIVATE"));
        let kek = PassphraseKek::with_cost(&p, Argon2Cost::INSECURE_FAST_FOR_TESTS).unwrap();
        assert!(!format!("{kek:?}").contains("hunter2"));
    }

    #[test]
    fn passphrase_file_loses_one_newline() {
        let dir = tempfile::tempdir().unwrap();
        let info = PassphraseKek::with_cost(&pass("pw\n"), Argon2Cost::INSECURE_FAST_FOR_TESTS)
            .unwrap()
            .describe();
        let check = |contents: &[u8], expected: &str| {
            let path = dir.path().join("p");
            std::fs::write(&path, contents).unwrap();
            let from_file =
                PassphraseKek::for_store(&Passphrase::from_file(&path).unwrap(), &info).unwrap();
            let direct = PassphraseKek::for_store(&pass(expected), &info).unwrap();
            let w = direct.wrap(b"", b"x").unwrap();
            assert!(from_file.unwrap(b"", &w).is_ok(), "{contents:?}");
        };
        check(b"pw\n", "pw");
        check(b"pw\r\n", "pw");
        check(b"pw\n\n", "pw\n");
        check(b"pw", "pw");
        let empty = dir.path().join("empty");
        std::fs::write(&empty, b"\n").unwrap();
        assert!(Passphrase::from_file(&empty).is_err());
        let err = Passphrase::from_env("QSAFE_KEYS_TEST_SURELY_UNSET").unwrap_err();
        assert!(err.to_string().contains("QSAFE_KEYS_TEST_SURELY_UNSET"));
    }

    #[test]
    fn json_forms() {
        let w = InsecurePlaintextKek.wrap(b"", b"\x01\x02").unwrap();
        assert_eq!(
            serde_json::to_string(&w).unwrap(),
            r#"{"scheme":"insecure-plaintext","plaintext":"AQI="}"#
        );
        assert_eq!(
            serde_json::to_string(&KekInfo::InsecurePlaintext).unwrap(),
            r#"{"kind":"insecure-plaintext"}"#
        );
        assert!(
            serde_json::from_str::<Wrapped>(r#"{"scheme":"rot13","plaintext":"AQI="}"#).is_err()
        );
        assert!(
            serde_json::from_str::<Wrapped>(
                r#"{"scheme":"insecure-plaintext","plaintext":"AQI=","x":1}"#
            )
            .is_err()
        );
    }
}
