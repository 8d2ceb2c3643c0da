//! A KEK held on a PKCS#11 token: [`Pkcs11Kek`] (feature `pkcs11`).
//!
//! The key-encryption key is an AES-256 secret key object on a token (a hardware security
//! module, a cloud HSM's PKCS#11 library, or SoftHSM2 in tests), reached through the
//! `cryptoki` crate. It never leaves the token: [`Kek::wrap`] and [`Kek::unwrap`] send the
//! private key material to the token, which runs AES-256-GCM and returns the result in the
//! same [`Wrapped::Aes256Gcm`] form as [`crate::PassphraseKek`] (12-byte nonce, ciphertext ‖
//! 16-byte tag), under the same associated data ([`crate::wrap::aad`]).
//!
//! References are to the OASIS *PKCS #11 Cryptographic Token Interface* Version 3.0: the
//! Current Mechanisms Specification (§2.10 "AES": `CKK_AES` secret key objects and
//! `CKM_AES_KEY_GEN`; §2.13 "Additional AES Mechanisms": `CK_GCM_PARAMS` and AES-GCM
//! authenticated encryption/decryption with `CKM_AES_GCM`) and the Base Specification (§4.10
//! "Secret key objects": `CKA_SENSITIVE`, `CKA_EXTRACTABLE`, `CKA_ALWAYS_SENSITIVE`,
//! `CKA_NEVER_EXTRACTABLE`; §5.6 session management: `C_Login`).
//!
//! # The key
//!
//! [`Pkcs11Kek::create_key`] generates the key on the token with `CKM_AES_KEY_GEN` and the
//! template `CKA_CLASS = CKO_SECRET_KEY`, `CKA_KEY_TYPE = CKK_AES`, `CKA_VALUE_LEN = 32`,
//! `CKA_TOKEN = true` (persistent), `CKA_PRIVATE = true` (usable only after login),
//! `CKA_SENSITIVE = true`, `CKA_EXTRACTABLE = false`, `CKA_ENCRYPT = CKA_DECRYPT = true`,
//! and `CKA_WRAP`, `CKA_UNWRAP`, `CKA_SIGN`, `CKA_VERIFY`, `CKA_DERIVE` false; it refuses a
//! label that a secret key already carries.
//!
//! The key is non-extractable and sensitive so that its value can never be read or wrapped
//! out of the token (`C_GetAttributeValue` on `CKA_VALUE` and `C_WrapKey` both fail). Whoever
//! steals the store files, and even the PIN, can use the KEK only through this token while
//! they have access to it; they cannot take a copy of it away. Both attributes are one-way
//! (a token refuses to clear `CKA_SENSITIVE` or set `CKA_EXTRACTABLE` again), and the token
//! records `CKA_ALWAYS_SENSITIVE` and `CKA_NEVER_EXTRACTABLE` as evidence;
//! [`Pkcs11Kek::key_properties`] reads them back. The price: the KEK cannot be backed up with
//! PKCS#11 calls. Back up the token with the vendor's mechanism (HSM cloning, or SoftHSM2's
//! token directory); losing the token loses every private key wrapped under it.
//!
//! [`Pkcs11Kek::open`] finds the key by its label (`CKO_SECRET_KEY` with that `CKA_LABEL`),
//! refuses zero or several matches, and checks that it is an AES key of 32 bytes allowed to
//! encrypt and decrypt. It accepts a key made by other tools with other attributes: call
//! [`Pkcs11Kek::key_properties`] to warn about an extractable one.
//!
//! # The IV
//!
//! Every wrap uses a fresh 96-bit IV from qsafe-core's CSPRNG (the OS generator through
//! aws-lc), passed in `CK_GCM_PARAMS.pIv` with `ulTagBits = 128`: the RBG-based construction
//! of NIST SP 800-38D §8.2.2, with the full-length tag of §5.2.1.2. §8.3 bounds the number of
//! encryptions under one key with random IVs to 2^32; a key store wraps one secret per key
//! version (and one check value), so even one token key shared by many stores stays far
//! below it. Do not use the same token key for bulk data. A token that ignores the caller's
//! IV and generates its own (some HSMs in FIPS mode) is supported only when it writes the IV
//! it used back into `pIv`; a token that appends it to the ciphertext is refused (the output
//! length is checked).
//!
//! # Errors
//!
//! A GCM tag failure is reported by tokens in different ways. Any of `CKR_ENCRYPTED_DATA_INVALID`,
//! `CKR_ENCRYPTED_DATA_LEN_RANGE`, `CKR_AEAD_DECRYPT_FAILED` (0x42, newer headers),
//! `CKR_SIGNATURE_INVALID`, `CKR_FUNCTION_FAILED` or `CKR_GENERAL_ERROR` returned by
//! `C_Decrypt` itself (after `C_DecryptInit` accepted the key and parameters) becomes
//! [`Error::WrappedUnauthentic`], as the [`Kek`] contract asks. SoftHSM2 2.6.1 returns
//! `CKR_GENERAL_ERROR` from `C_Decrypt` for a modified ciphertext, tag, IV or AAD (observed;
//! the tamper tests in `tests/pkcs11.rs` go through that path). The price of accepting the
//! generic codes: a token that fails inside `C_Decrypt` for another reason reports it as
//! material that does not authenticate. A nonce that is not 12 bytes or a ciphertext shorter
//! than the tag is refused before the token is asked. Everything else (module missing, token
//! missing, PIN refused, session or device errors) is an [`Error::Pkcs11`] naming the token
//! and key labels and the `CKR_` code, never the PIN.
//!
//! # Sessions, login and threads
//!
//! PKCS#11 login state belongs to the application, not to a session: one `C_Login` logs in
//! every session of the process with that token, and the last `C_CloseSession` logs out
//! (Base Specification §5.6). A module must also be initialised once per process. So:
//!
//! - each module (by canonical path) is loaded and `C_Initialize`d once, with
//!   `CKF_OS_LOCKING_OK`, and kept for the life of the process (never finalised, so no other
//!   user of the module loses its sessions);
//! - each token is logged in once: a process-wide registry holds one "keeper" session that
//!   stays logged in while any [`Pkcs11Kek`] uses the token, and logs out when the last one
//!   is dropped. A second [`Pkcs11Kek`] for the same token checks its PIN (in constant time)
//!   against the one that logged in, because the token would not check it again
//!   (`C_Login` answers `CKR_USER_ALREADY_LOGGED_IN` without looking at the PIN). The PIN is
//!   kept, zeroized on drop, only while that login lasts. A login made by other code in the
//!   process cannot be checked and is refused ([`Pkcs11Problem::LoggedInElsewhere`]);
//! - operations take a session from a small per-KEK pool (`Session` is `Send` but not
//!   `Sync`) or open a new read-only one, so several threads wrap and unwrap at once; a
//!   session whose operation failed is closed rather than reused.
//!
//! Tokens that need a protected authentication path (a PIN pad) are not supported.
//!
//! # SoftHSM2
//!
//! Debian's `softhsm2` package provides the module `/usr/lib/softhsm/libsofthsm2.so` and
//! `softhsm2-util`. SoftHSM2 reads its configuration file (`SOFTHSM2_CONF`, else
//! `/etc/softhsm/softhsm2.conf`) once, at `C_Initialize`, which happens at the first
//! [`Pkcs11Kek::open`] or [`Pkcs11Kek::create_key`] of the process. `scripts/softhsm-init.sh
//! DIR` writes a configuration with its own token directory and initialises a token
//! `qsafe-test` with fixed test PINs; `tests/pkcs11.rs` runs each test in a child process
//! with its own token made that way.
//!
//! # Identity
//!
//! [`Kek::describe`] gives [`KekInfo::Pkcs11`] with the token and key labels. The module path
//! is deliberately not recorded (see [`KekInfo::Pkcs11`]), so a store opens with the same
//! token and key reached through another module path or on another host. Labels only name
//! the key; the store's KEK check value proves it: a token re-initialised with a new key
//! under the same labels gives [`Error::WrongKek`] when the store is opened.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Function, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::{RawAuthPin, Ulong};
use qsafe_core::SecretBytes;
use qsafe_core::secret::random_bytes;
use qsafe_core::symmetric::NONCE_LEN;

use super::{Kek, KekInfo, Wrapped, strip_one_newline};
use crate::{Error, Pkcs11Problem, Result};

/// AES-256 key length in bytes (`CKA_VALUE_LEN`).
const KEY_LEN: usize = 32;
/// GCM tag length in bytes (`ulTagBits = 128`).
const TAG_LEN: usize = 16;
/// `CKR_AEAD_DECRYPT_FAILED`, which `cryptoki` 0.12 does not name.
const CKR_AEAD_DECRYPT_FAILED: u64 = 0x42;
/// Idle sessions kept per KEK; more concurrent callers open (and close) their own.
const MAX_IDLE_SESSIONS: usize = 4;
/// Maximum token label length (`CK_TOKEN_INFO.label` is 32 bytes, blank-padded).
const MAX_TOKEN_LABEL: usize = 32;

/// A token's user PIN: zeroized on drop, never printed, never in an error.
pub struct Pkcs11Pin(SecretBytes);

impl Pkcs11Pin {
    /// Takes ownership of the string (its buffer becomes the secret).
    pub fn new(pin: String) -> Result<Self> {
        Self::from_bytes(pin.into_bytes())
    }

    /// From raw bytes (PKCS#11 PINs are byte strings); an empty PIN is refused.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self> {
        let secret = SecretBytes::new(bytes);
        if secret.is_empty() {
            return Err(Error::Kek("the PKCS#11 user PIN is empty".into()));
        }
        Ok(Pkcs11Pin(secret))
    }

    /// From an environment variable (e.g. `QSAFE_PKCS11_PIN`).
    pub fn from_env(var: &str) -> Result<Self> {
        match std::env::var_os(var) {
            Some(v) => Self::from_bytes(v.into_encoded_bytes()),
            None => Err(Error::Kek(format!(
                "environment variable {var} holding the PKCS#11 user PIN is not set"
            ))),
        }
    }

    /// From a file: its contents minus one trailing `\n` or `\r\n`.
    pub fn from_file(path: &Path) -> Result<Self> {
        let mut bytes = std::fs::read(path).map_err(|e| Error::io("read PIN file", path, e))?;
        strip_one_newline(&mut bytes);
        Self::from_bytes(bytes)
    }
}

impl core::fmt::Debug for Pkcs11Pin {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Pkcs11Pin(redacted)")
    }
}

/// Security attributes of the token key, as the token reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Pkcs11KeyProperties {
    /// `CKA_SENSITIVE`: the value cannot be read in plaintext.
    pub sensitive: bool,
    /// `CKA_EXTRACTABLE`: the key can be wrapped out of the token.
    pub extractable: bool,
    /// `CKA_ALWAYS_SENSITIVE`: it has been sensitive since it was made.
    pub always_sensitive: bool,
    /// `CKA_NEVER_EXTRACTABLE`: it has never been extractable.
    pub never_extractable: bool,
    /// `CKA_TOKEN`: a persistent token object.
    pub token: bool,
    /// `CKA_PRIVATE`: usable only after login.
    pub private: bool,
    /// `CKA_VALUE_LEN` in bytes.
    pub value_len: u64,
}

impl Pkcs11KeyProperties {
    /// True when the key's value has never been able to leave the token: sensitive and not
    /// extractable, now and since its creation.
    pub fn is_hardware_bound(&self) -> bool {
        self.sensitive && !self.extractable && self.always_sensitive && self.never_extractable
    }
}

/// AES-256-GCM on a PKCS#11 token under a non-extractable key; see the [module docs](self).
pub struct Pkcs11Kek {
    // Field order is drop order: idle sessions close before the login is released.
    idle: Mutex<Vec<Session>>,
    key: ObjectHandle,
    slot: Slot,
    ctx: Pkcs11,
    module: PathBuf,
    token_label: String,
    key_label: String,
    _login: Login,
}

impl core::fmt::Debug for Pkcs11Kek {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Pkcs11Kek")
            .field("module", &self.module)
            .field("token_label", &self.token_label)
            .field("key_label", &self.key_label)
            .finish_non_exhaustive()
    }
}

impl Pkcs11Kek {
    /// Opens the AES-256 key labelled `key_label` on the token labelled `token_label`,
    /// logging in with the user PIN. `module` is the PKCS#11 library, e.g.
    /// `/usr/lib/softhsm/libsofthsm2.so`.
    pub fn open(
        module: impl AsRef<Path>,
        token_label: &str,
        pin: &Pkcs11Pin,
        key_label: &str,
    ) -> Result<Self> {
        check_labels(token_label, key_label)?;
        let token = Token::connect(module.as_ref(), token_label, pin)?;
        Self::from_token(token, key_label)
    }

    /// Generates a non-extractable, sensitive AES-256 key labelled `key_label` on the token
    /// (template in the [module docs](self)) and opens it. Refuses a label that a secret key
    /// on the token already carries.
    pub fn create_key(
        module: impl AsRef<Path>,
        token_label: &str,
        pin: &Pkcs11Pin,
        key_label: &str,
    ) -> Result<Self> {
        check_labels(token_label, key_label)?;
        let token = Token::connect(module.as_ref(), token_label, pin)?;
        let fail = |function: &'static str| {
            let label = key_label.to_owned();
            let token = token_label.to_owned();
            move |e: CkError| Error::Pkcs11 {
                token,
                problem: call_problem(function, Some(label), e),
            }
        };
        let session = token
            .ctx
            .open_rw_session(token.slot)
            .map_err(fail("C_OpenSession"))?;
        if !find_keys(&session, key_label)
            .map_err(fail("C_FindObjects"))?
            .is_empty()
        {
            return Err(token.error(Pkcs11Problem::KeyExists {
                key: key_label.to_owned(),
            }));
        }
        let template = [
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::ValueLen(Ulong::new(32)),
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Encrypt(true),
            Attribute::Decrypt(true),
            Attribute::Wrap(false),
            Attribute::Unwrap(false),
            Attribute::Sign(false),
            Attribute::Verify(false),
            Attribute::Derive(false),
            Attribute::Label(key_label.as_bytes().to_vec()),
        ];
        session
            .generate_key(&Mechanism::AesKeyGen, &template)
            .map_err(fail("C_GenerateKey"))?;
        drop(session);
        Self::from_token(token, key_label)
    }

    /// Opens the key a store records ([`KekInfo::Pkcs11`]) through `module`.
    pub fn for_store(module: impl AsRef<Path>, pin: &Pkcs11Pin, info: &KekInfo) -> Result<Self> {
        match info {
            KekInfo::Pkcs11 {
                token_label,
                key_label,
            } => Self::open(module, token_label, pin, key_label),
            other => Err(Error::Kek(format!(
                "the store uses a {} KEK, not a PKCS#11 key",
                other.kind()
            ))),
        }
    }

    /// The module path as given.
    pub fn module(&self) -> &Path {
        &self.module
    }

    /// The token label.
    pub fn token_label(&self) -> &str {
        &self.token_label
    }

    /// The key label.
    pub fn key_label(&self) -> &str {
        &self.key_label
    }

    /// Reads the key's security attributes from the token (e.g. to warn when a key made by
    /// another tool is extractable).
    pub fn key_properties(&self) -> Result<Pkcs11KeyProperties> {
        let wanted = [
            AttributeType::Sensitive,
            AttributeType::Extractable,
            AttributeType::AlwaysSensitive,
            AttributeType::NeverExtractable,
            AttributeType::Token,
            AttributeType::Private,
            AttributeType::ValueLen,
        ];
        let attrs = self
            .with_session(|s| s.get_attributes(self.key, &wanted))
            .map_err(|e| self.error("C_GetAttributeValue", e))?;
        let mut flags = [None::<bool>; 6];
        let mut value_len = None;
        for attr in attrs {
            let (i, v) = match attr {
                Attribute::Sensitive(v) => (0, v),
                Attribute::Extractable(v) => (1, v),
                Attribute::AlwaysSensitive(v) => (2, v),
                Attribute::NeverExtractable(v) => (3, v),
                Attribute::Token(v) => (4, v),
                Attribute::Private(v) => (5, v),
                Attribute::ValueLen(v) => {
                    value_len = Some(widen(*v));
                    continue;
                }
                _ => continue,
            };
            if let Some(slot) = flags.get_mut(i) {
                *slot = Some(v);
            }
        }
        match (flags, value_len) {
            (
                [
                    Some(sensitive),
                    Some(extractable),
                    Some(always_sensitive),
                    Some(never_extractable),
                    Some(token),
                    Some(private),
                ],
                Some(value_len),
            ) => Ok(Pkcs11KeyProperties {
                sensitive,
                extractable,
                always_sensitive,
                never_extractable,
                token,
                private,
                value_len,
            }),
            _ => Err(self.problem(Pkcs11Problem::KeyUnsuitable {
                key: self.key_label.clone(),
                reason: "the token did not report all of its security attributes".into(),
            })),
        }
    }

    /// Finds and checks the key, keeping the session that found it for the pool.
    fn from_token(token: Token, key_label: &str) -> Result<Self> {
        let fail = |function: &'static str| {
            let label = key_label.to_owned();
            let token = token.label.clone();
            move |e: CkError| Error::Pkcs11 {
                token,
                problem: call_problem(function, Some(label), e),
            }
        };
        let session = token
            .ctx
            .open_ro_session(token.slot)
            .map_err(fail("C_OpenSession"))?;
        let found = find_keys(&session, key_label).map_err(fail("C_FindObjects"))?;
        let key = match found.as_slice() {
            [one] => *one,
            [] => {
                return Err(token.error(Pkcs11Problem::KeyNotFound {
                    key: key_label.to_owned(),
                }));
            }
            many => {
                return Err(token.error(Pkcs11Problem::KeyAmbiguous {
                    key: key_label.to_owned(),
                    count: many.len(),
                }));
            }
        };
        let attrs = session
            .get_attributes(
                key,
                &[
                    AttributeType::KeyType,
                    AttributeType::ValueLen,
                    AttributeType::Encrypt,
                    AttributeType::Decrypt,
                ],
            )
            .map_err(fail("C_GetAttributeValue"))?;
        let (mut aes, mut len, mut encrypt, mut decrypt) = (false, None, false, false);
        for attr in &attrs {
            match attr {
                Attribute::KeyType(t) => aes = *t == KeyType::AES,
                Attribute::ValueLen(v) => len = Some(widen(*v)),
                Attribute::Encrypt(v) => encrypt = *v,
                Attribute::Decrypt(v) => decrypt = *v,
                _ => {}
            }
        }
        let unsuitable = if !aes {
            Some("it is not an AES key (CKK_AES)".to_owned())
        } else if len != Some(KEY_LEN as u64) {
            Some(format!(
                "it is {} bytes long, not 32 (AES-256)",
                len.map_or_else(|| "an unknown number of".into(), |l| l.to_string())
            ))
        } else if !(encrypt && decrypt) {
            Some("it may not both encrypt and decrypt (CKA_ENCRYPT, CKA_DECRYPT)".to_owned())
        } else {
            None
        };
        if let Some(reason) = unsuitable {
            return Err(token.error(Pkcs11Problem::KeyUnsuitable {
                key: key_label.to_owned(),
                reason,
            }));
        }
        Ok(Pkcs11Kek {
            idle: Mutex::new(vec![session]),
            key,
            slot: token.slot,
            ctx: token.ctx,
            module: token.module,
            token_label: token.label,
            key_label: key_label.to_owned(),
            _login: token.login,
        })
    }

    /// Runs `f` on a pooled session (or a new read-only one); a session is returned to the
    /// pool only when `f` succeeded.
    fn with_session<T>(
        &self,
        f: impl FnOnce(&Session) -> cryptoki::error::Result<T>,
    ) -> cryptoki::error::Result<T> {
        let pooled = lock(&self.idle).pop();
        let session = match pooled {
            Some(s) => s,
            None => self.ctx.open_ro_session(self.slot)?,
        };
        let out = f(&session);
        if out.is_ok() {
            let mut idle = lock(&self.idle);
            if idle.len() < MAX_IDLE_SESSIONS {
                idle.push(session);
            }
        }
        out
    }

    fn problem(&self, problem: Pkcs11Problem) -> Error {
        Error::Pkcs11 {
            token: self.token_label.clone(),
            problem,
        }
    }

    fn error(&self, function: &'static str, e: CkError) -> Error {
        self.problem(call_problem(function, Some(self.key_label.clone()), e))
    }
}

impl Kek for Pkcs11Kek {
    fn describe(&self) -> KekInfo {
        KekInfo::Pkcs11 {
            token_label: self.token_label.clone(),
            key_label: self.key_label.clone(),
        }
    }

    fn wrap(&self, aad: &[u8], secret: &[u8]) -> Result<Wrapped> {
        let fresh = random_bytes(NONCE_LEN)?;
        let mut iv = [0u8; NONCE_LEN];
        iv.copy_from_slice(fresh.expose());
        let ciphertext = self
            .with_session(|s| {
                let params = GcmParams::new(&mut iv, aad, Ulong::new(128))?;
                s.encrypt(&Mechanism::AesGcm(params), self.key, secret)
            })
            .map_err(|e| self.error("C_Encrypt", e))?;
        if ciphertext.len() != secret.len() + TAG_LEN {
            return Err(self.problem(Pkcs11Problem::Call {
                function: "C_Encrypt".into(),
                key: Some(self.key_label.clone()),
                code: format!(
                    "returned {} bytes for {} of plaintext (expected ciphertext and a 16-byte \
                     tag; tokens that append their own IV are not supported)",
                    ciphertext.len(),
                    secret.len()
                ),
            }));
        }
        // `iv` is what the token used: ours, or its own if it wrote one back into `pIv`.
        Ok(Wrapped::Aes256Gcm {
            nonce: iv.to_vec(),
            ciphertext,
        })
    }

    fn unwrap(&self, aad: &[u8], wrapped: &Wrapped) -> Result<SecretBytes> {
        let (nonce, ciphertext) = match wrapped {
            Wrapped::Aes256Gcm { nonce, ciphertext } => (nonce, ciphertext),
            // Plaintext material in a protected store could only have been planted.
            Wrapped::InsecurePlaintext { .. } => return Err(Error::WrappedUnauthentic),
        };
        let Ok(mut iv) = <[u8; NONCE_LEN]>::try_from(nonce.as_slice()) else {
            return Err(Error::WrappedUnauthentic);
        };
        if ciphertext.len() < TAG_LEN {
            return Err(Error::WrappedUnauthentic);
        }
        let result = self.with_session(|s| {
            let params = GcmParams::new(&mut iv, aad, Ulong::new(128))?;
            s.decrypt(&Mechanism::AesGcm(params), self.key, ciphertext)
        });
        match result {
            Ok(plaintext) => Ok(SecretBytes::new(plaintext)),
            Err(e) if is_tag_failure(&e) => Err(Error::WrappedUnauthentic),
            Err(e) => Err(self.error("C_Decrypt", e)),
        }
    }
}

/// True for the return values tokens use for a GCM tag that does not verify, when returned
/// by `C_Decrypt` itself (see the module docs).
fn is_tag_failure(e: &CkError) -> bool {
    match e {
        CkError::Pkcs11(rv, Function::Decrypt) => match rv {
            RvError::EncryptedDataInvalid
            | RvError::EncryptedDataLenRange
            | RvError::SignatureInvalid
            | RvError::FunctionFailed
            | RvError::GeneralError => true,
            RvError::UnknownErrorCode(code) => widen(*code) == CKR_AEAD_DECRYPT_FAILED,
            _ => false,
        },
        _ => false,
    }
}

fn check_labels(token_label: &str, key_label: &str) -> Result<()> {
    let invalid = |what, reason| Error::Pkcs11 {
        token: token_label.to_owned(),
        problem: Pkcs11Problem::InvalidLabel { what, reason },
    };
    if token_label.is_empty() {
        return Err(invalid("token", "it is empty"));
    }
    if token_label.len() > MAX_TOKEN_LABEL {
        return Err(invalid("token", "it is longer than 32 bytes"));
    }
    if token_label.ends_with(' ') {
        return Err(invalid(
            "token",
            "it ends with a space (token labels are blank-padded)",
        ));
    }
    if key_label.is_empty() {
        return Err(invalid("key", "it is empty"));
    }
    Ok(())
}

/// Secret keys with this label.
fn find_keys(session: &Session, label: &str) -> cryptoki::error::Result<Vec<ObjectHandle>> {
    session.find_objects(&[
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::Label(label.as_bytes().to_vec()),
    ])
}

/// A PKCS#11 error as a [`Pkcs11Problem::Call`]: the function and the `CKR_` name.
fn call_problem(fallback: &'static str, key: Option<String>, e: CkError) -> Pkcs11Problem {
    match e {
        CkError::Pkcs11(rv, function) => Pkcs11Problem::Call {
            function: format!("C_{function:?}"),
            key,
            code: ckr_name(&rv),
        },
        other => Pkcs11Problem::Call {
            function: fallback.into(),
            key,
            code: other.to_string(),
        },
    }
}

/// `CKR_PIN_INCORRECT` for `RvError::PinIncorrect`, and so on.
fn ckr_name(rv: &RvError) -> String {
    match rv {
        RvError::VendorDefined(code) => format!("vendor-defined CKR 0x{:08X}", widen(*code)),
        RvError::UnknownErrorCode(code) if widen(*code) == CKR_AEAD_DECRYPT_FAILED => {
            "CKR_AEAD_DECRYPT_FAILED".into()
        }
        RvError::UnknownErrorCode(code) => format!("CKR 0x{:08X}", widen(*code)),
        other => {
            let mut out = String::from("CKR");
            for c in format!("{other:?}").chars() {
                if c.is_ascii_uppercase() {
                    out.push('_');
                }
                out.push(c.to_ascii_uppercase());
            }
            out
        }
    }
}

/// `CK_ULONG` (and so `CK_RV`) is `u64` on Unix and `u32` on Windows.
fn widen(v: impl Into<u64>) -> u64 {
    v.into()
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A loaded, initialised module, a slot whose token has the label, and a login to it.
struct Token {
    ctx: Pkcs11,
    slot: Slot,
    module: PathBuf,
    label: String,
    login: Login,
}

impl Token {
    fn connect(module: &Path, label: &str, pin: &Pkcs11Pin) -> Result<Token> {
        let err = |problem| Error::Pkcs11 {
            token: label.to_owned(),
            problem,
        };
        let (canonical, ctx) = load_module(module).map_err(err)?;
        let slot = find_token(&ctx, module, label).map_err(err)?;
        let login = Login::acquire(&ctx, canonical, slot, pin).map_err(err)?;
        Ok(Token {
            ctx,
            slot,
            module: module.to_path_buf(),
            label: label.to_owned(),
            login,
        })
    }

    fn error(&self, problem: Pkcs11Problem) -> Error {
        Error::Pkcs11 {
            token: self.label.clone(),
            problem,
        }
    }
}

/// Loads and initialises a module once per process (keyed by canonical path) and keeps it.
fn load_module(module: &Path) -> Result<(PathBuf, Pkcs11), Pkcs11Problem> {
    static MODULES: OnceLock<Mutex<HashMap<PathBuf, Pkcs11>>> = OnceLock::new();
    let shown = || module.display().to_string();
    let canonical = std::fs::canonicalize(module).map_err(|e| Pkcs11Problem::Module {
        module: shown(),
        reason: e.to_string(),
    })?;
    let mut modules = lock(MODULES.get_or_init(Default::default));
    if let Some(ctx) = modules.get(&canonical) {
        return Ok((canonical, ctx.clone()));
    }
    let ctx = Pkcs11::new(&canonical).map_err(|e| Pkcs11Problem::Module {
        module: shown(),
        reason: e.to_string(),
    })?;
    match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
        Err(e) => {
            return Err(Pkcs11Problem::Module {
                module: shown(),
                reason: format!("C_Initialize failed: {}", describe(e)),
            });
        }
    }
    modules.insert(canonical.clone(), ctx.clone());
    Ok((canonical, ctx))
}

fn describe(e: CkError) -> String {
    match e {
        CkError::Pkcs11(rv, _) => ckr_name(&rv),
        other => other.to_string(),
    }
}

/// The one slot whose initialised token carries `label`.
fn find_token(ctx: &Pkcs11, module: &Path, label: &str) -> Result<Slot, Pkcs11Problem> {
    let call = |function: &'static str| move |e| call_problem(function, None, e);
    let mut matching = Vec::new();
    let mut present = Vec::new();
    for slot in ctx
        .get_slots_with_initialized_token()
        .map_err(call("C_GetSlotList"))?
    {
        let info = ctx.get_token_info(slot).map_err(call("C_GetTokenInfo"))?;
        if info.label() == label {
            matching.push(slot);
        }
        present.push(format!("`{}`", info.label()));
    }
    match matching.as_slice() {
        [one] => Ok(*one),
        [] => Err(Pkcs11Problem::TokenNotFound {
            module: module.display().to_string(),
            present: if present.is_empty() {
                "none".into()
            } else {
                present.join(", ")
            },
        }),
        many => Err(Pkcs11Problem::TokenAmbiguous {
            module: module.display().to_string(),
            count: many.len(),
        }),
    }
}

/// One process-wide login per (module, slot), shared by every [`Pkcs11Kek`] on that token.
struct LoginEntry {
    /// Keeps the login alive: the last session to close would log the token out.
    keeper: Session,
    /// The PIN that logged in, to check later opens against (the token will not).
    pin: SecretBytes,
    users: usize,
}

type LoginKey = (PathBuf, Slot);

fn logins() -> &'static Mutex<HashMap<LoginKey, LoginEntry>> {
    static LOGINS: OnceLock<Mutex<HashMap<LoginKey, LoginEntry>>> = OnceLock::new();
    LOGINS.get_or_init(Default::default)
}

/// A counted use of a token login; the last one dropped logs out.
struct Login {
    key: LoginKey,
}

impl Login {
    fn acquire(
        ctx: &Pkcs11,
        module: PathBuf,
        slot: Slot,
        pin: &Pkcs11Pin,
    ) -> Result<Login, Pkcs11Problem> {
        let key = (module, slot);
        let mut all = lock(logins());
        if let Some(entry) = all.get_mut(&key) {
            // Constant-time comparison (`SecretBytes` equality).
            if entry.pin != pin.0 {
                return Err(Pkcs11Problem::PinIncorrect);
            }
            entry.users += 1;
            return Ok(Login { key });
        }
        let keeper = ctx
            .open_ro_session(slot)
            .map_err(|e| call_problem("C_OpenSession", None, e))?;
        let raw = RawAuthPin::new(Box::new(pin.0.expose().to_vec()));
        match keeper.login_with_raw(UserType::User, &raw) {
            Ok(()) => {}
            Err(CkError::Pkcs11(rv, function)) => {
                return Err(match rv {
                    RvError::PinIncorrect | RvError::PinInvalid | RvError::PinLenRange => {
                        Pkcs11Problem::PinIncorrect
                    }
                    RvError::PinLocked => Pkcs11Problem::PinLocked,
                    RvError::UserAlreadyLoggedIn => Pkcs11Problem::LoggedInElsewhere,
                    other => Pkcs11Problem::Call {
                        function: format!("C_{function:?}"),
                        key: None,
                        code: ckr_name(&other),
                    },
                });
            }
            Err(other) => return Err(call_problem("C_Login", None, other)),
        }
        all.insert(
            key.clone(),
            LoginEntry {
                keeper,
                pin: pin.0.duplicate(),
                users: 1,
            },
        );
        Ok(Login { key })
    }
}

impl Drop for Login {
    fn drop(&mut self) {
        let mut all = lock(logins());
        let last = match all.get_mut(&self.key) {
            Some(entry) => {
                entry.users = entry.users.saturating_sub(1);
                entry.users == 0
            }
            None => false,
        };
        if last && let Some(entry) = all.remove(&self.key) {
            // Best effort: closing the keeper (the last session) logs out anyway.
            let _ = entry.keeper.logout();
        }
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

    #[test]
    fn pin_is_never_printed_and_empty_is_refused() {
        let pin = Pkcs11Pin::new("hunter2".into()).unwrap();
        assert!(!format!("{pin:?}").contains("hunter2"));
        assert!(Pkcs11Pin::new(String::new()).is_err());
        let err = Pkcs11Pin::from_env("QSAFE_KEYS_TEST_SURELY_UNSET_PIN").unwrap_err();
        assert!(err.to_string().contains("QSAFE_KEYS_TEST_SURELY_UNSET_PIN"));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pin");
        std::fs::write(&path, b"1234\r\n").unwrap();
        assert_eq!(Pkcs11Pin::from_file(&path).unwrap().0.expose(), b"1234");
    }

    #[test]
    fn ckr_names_follow_the_header() {
        assert_eq!(ckr_name(&RvError::PinIncorrect), "CKR_PIN_INCORRECT");
        assert_eq!(
            ckr_name(&RvError::EncryptedDataLenRange),
            "CKR_ENCRYPTED_DATA_LEN_RANGE"
        );
        assert_eq!(
            ckr_name(&RvError::UnknownErrorCode(0x42)),
            "CKR_AEAD_DECRYPT_FAILED"
        );
        assert_eq!(
            ckr_name(&RvError::VendorDefined(0x8000_0001)),
            "vendor-defined CKR 0x80000001"
        );
    }

    #[test]
    fn only_decrypt_failures_are_tag_failures() {
        let tag = CkError::Pkcs11(RvError::GeneralError, Function::Decrypt);
        assert!(is_tag_failure(&tag));
        let aead = CkError::Pkcs11(RvError::UnknownErrorCode(0x42), Function::Decrypt);
        assert!(is_tag_failure(&aead));
        let init = CkError::Pkcs11(RvError::GeneralError, Function::DecryptInit);
        assert!(!is_tag_failure(&init));
        let gone = CkError::Pkcs11(RvError::DeviceRemoved, Function::Decrypt);
        assert!(!is_tag_failure(&gone));
    }

    #[test]
    fn labels_are_checked_before_the_module_is_loaded() {
        let pin = Pkcs11Pin::new("1234".into()).unwrap();
        for (token, key) in [
            ("", "k"),
            ("t", ""),
            (&"x".repeat(33)[..], "k"),
            ("t ", "k"),
        ] {
            let err = Pkcs11Kek::open("/nonexistent/module.so", token, &pin, key).unwrap_err();
            assert!(
                matches!(
                    err,
                    Error::Pkcs11 {
                        problem: Pkcs11Problem::InvalidLabel { .. },
                        ..
                    }
                ),
                "{err}"
            );
        }
    }

    #[test]
    fn a_missing_module_is_named() {
        let pin = Pkcs11Pin::new("secret-pin-1234".into()).unwrap();
        let err = Pkcs11Kek::open("/nonexistent/libpkcs11.so", "tok", &pin, "kek").unwrap_err();
        let shown = err.to_string();
        assert!(
            matches!(
                err,
                Error::Pkcs11 {
                    problem: Pkcs11Problem::Module { .. },
                    ..
                }
            ),
            "{shown}"
        );
        assert!(shown.contains("/nonexistent/libpkcs11.so"), "{shown}");
        assert!(shown.contains("`tok`"), "{shown}");
        assert!(!shown.contains("secret-pin-1234"), "{shown}");
    }

    #[test]
    fn describe_records_labels_only() {
        let info = KekInfo::Pkcs11 {
            token_label: "qsafe".into(),
            key_label: "kek".into(),
        };
        assert_eq!(info.kind(), "pkcs11");
        assert_eq!(
            serde_json::to_string(&info).unwrap(),
            r#"{"kind":"pkcs11","token_label":"qsafe","key_label":"kek"}"#
        );
        assert!(
            serde_json::from_str::<KekInfo>(
                r#"{"kind":"pkcs11","token_label":"a","key_label":"b","module":"/x.so"}"#
            )
            .is_err()
        );
    }
}
