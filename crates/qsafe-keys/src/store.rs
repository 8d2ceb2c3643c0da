//! The key store: operations on named, versioned keys over a [`Backend`] and a [`Kek`].
//!
//! Semantics follow HashiCorp Vault's Transit secrets engine where it has an equivalent:
//! `create` makes version 1; `rotate` adds version n+1 as the only active version and makes
//! the previous one decrypt-only; `min_decryption_version` (1..=latest) refuses decryption
//! with older versions without deleting them, and can be lowered again; encryption (and
//! signing) always uses the newest version. Beyond Transit: `retire` makes a decrypt-only
//! version unusable while keeping it, and `destroy` wipes a non-active version's private
//! material while keeping its public key and history. Neither applies to the active version:
//! rotate first.
//!
//! Every write — and every refusal decided under the write lock — appends an audit line in the
//! same atomic update ([`Backend::update`]). `export_private` logs before it returns the key.
//! Loading keys for use (`decapsulation_key`, `signing_key`, `verifying_key`) is not logged
//! when it succeeds (a gateway does it at start-up and on rotation); a refusal is logged on a
//! best-effort basis, so a read-only store still refuses correctly.
//!
//! Unwrapped private keys are `qsafe_core` key types, zeroized on drop; the PKCS #8 bytes in
//! between are `SecretBytes`. After unwrapping, the store checks that the private key
//! matches the stored public key, so a record whose public key was swapped is caught on use.

use qsafe_core::SecretBytes;
use qsafe_core::kem::{DecapsulationKey, EncapsulationKey};
use qsafe_core::keys::codec;
use qsafe_core::keys::{PrivateKey, PublicKey};
use qsafe_core::registry::{self, Kind};
use qsafe_core::sig::{SigningKey, VerifyingKey};

use crate::audit::{self, AuditEntry, AuditReport, Op};
use crate::backend::{Backend, Commit, STORE_FORMAT_VERSION, StoreMeta, Txn};
use crate::k8s::KeyBundle;
use crate::model::{
    KEY_FORMAT_VERSION, Key, KeyName, KeyVersion, Policy, Purpose, Status, Timestamp,
};
use crate::wrap::{self, Kek, KekInfo, Passphrase, PassphraseKek, aad};
use crate::{Error, Result};

/// A key of one version, with where it came from.
#[derive(Debug)]
pub struct VersionedKey<T> {
    /// Key name.
    pub name: KeyName,
    /// Version.
    pub version: u32,
    /// `sha256:` fingerprint of the public key.
    pub fingerprint: String,
    /// The key.
    pub key: T,
}

/// A version just made by `create` or `rotate`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewVersion {
    /// Key name.
    pub name: KeyName,
    /// The new version.
    pub version: u32,
    /// Algorithm id.
    pub algorithm: &'static str,
    /// `sha256:` fingerprint of its public key.
    pub fingerprint: String,
}

/// A key whose active version is older than its rotation period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationDue {
    /// Key name.
    pub name: KeyName,
    /// The active version.
    pub version: u32,
    /// Unix time at which it became due.
    pub due_since: u64,
}

/// What an operation's closure hands to [`KeyStore::write`].
struct Change<T> {
    key: Option<Key>,
    version: Option<u32>,
    detail: Option<String>,
    value: T,
}

impl<T> Change<T> {
    fn new(value: T) -> Self {
        Change {
            key: None,
            version: None,
            detail: None,
            value,
        }
    }
}

/// A fresh key pair, generated outside the lock.
struct Fresh {
    alg: &'static registry::Algorithm,
    public_der: Vec<u8>,
    fingerprint: String,
    private_der: SecretBytes,
}

impl Fresh {
    fn generate(alg: &'static registry::Algorithm) -> Result<Fresh> {
        let private = PrivateKey::generate(alg)?;
        let public = private.public_key()?;
        Ok(Fresh {
            alg,
            public_der: codec::public_to_der(&public)?,
            fingerprint: public.fingerprint()?,
            private_der: codec::private_to_der(&private)?,
        })
    }

    fn version(&self, kek: &dyn Kek, name: &KeyName, version: u32) -> Result<KeyVersion> {
        Ok(KeyVersion {
            version,
            status: Status::Active,
            created: Timestamp::now(),
            algorithm: self.alg.id.to_owned(),
            public_key: self.public_der.clone(),
            fingerprint: self.fingerprint.clone(),
            private: Some(kek.wrap(&aad(name, version, self.alg.id), self.private_der.expose())?),
        })
    }
}

/// A key store.
pub struct KeyStore<B: Backend> {
    backend: B,
    kek: Box<dyn Kek>,
    actor: String,
}

impl<B: Backend> core::fmt::Debug for KeyStore<B> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("KeyStore")
            .field("backend", &self.backend)
            .field("kek", &self.kek.describe().kind())
            .field("actor", &self.actor)
            .finish()
    }
}

/// `$USER`, or `unknown`.
pub fn default_actor() -> String {
    std::env::var("USER")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

fn wanted_kind(purpose: Purpose) -> Kind {
    match purpose {
        Purpose::Encrypt => Kind::Kem,
        Purpose::Sign => Kind::Signature,
    }
}

fn check_purpose(key: &Key, wanted: Purpose) -> Result<()> {
    if key.purpose == wanted {
        Ok(())
    } else {
        Err(Error::WrongPurpose {
            name: key.name.to_string(),
            alg: key.algorithm.clone(),
            purpose: key.purpose.noun(),
            wanted: wanted.noun(),
        })
    }
}

/// The version if it may decrypt (or verify): not destroyed, not retired, and not below
/// `min_decryption_version`.
fn usable(key: &Key, version: u32, wanted: Purpose) -> Result<&KeyVersion> {
    check_purpose(key, wanted)?;
    let v = key.version(version)?;
    let (name, version) = (key.name.to_string(), v.version);
    match v.status {
        Status::Destroyed => return Err(Error::VersionDestroyed { name, version }),
        Status::Retired => return Err(Error::VersionRetired { name, version }),
        Status::Active | Status::DecryptOnly => {}
    }
    let min = key.policy.min_decryption_version;
    if version < min {
        return Err(Error::BelowMinDecryptionVersion { name, version, min });
    }
    Ok(v)
}

fn parse_public(key: &Key, v: &KeyVersion) -> Result<PublicKey> {
    let public =
        codec::public_from_bytes(&v.public_key, Some(wanted_kind(key.purpose))).map_err(|e| {
            Error::corrupt(
                format!("key `{}`", key.name),
                format!("version {} public key: {e}", v.version),
            )
        })?;
    if public.algorithm().id != key.algorithm {
        return Err(Error::corrupt(
            format!("key `{}`", key.name),
            format!("version {} public key is not {}", v.version, key.algorithm),
        ));
    }
    Ok(public)
}

fn get(txn: &dyn Txn, name: &KeyName) -> Result<Key> {
    txn.key(name)?
        .ok_or_else(|| Error::KeyNotFound(name.to_string()))
}

fn describe_period(p: Option<u64>) -> String {
    p.map_or_else(|| "none".into(), |s| format!("{s}s"))
}

impl<B: Backend> KeyStore<B> {
    /// Creates a new, empty store protected by `kek`. Refuses a location that holds a store.
    pub fn init(backend: B, kek: impl Kek + 'static) -> Result<Self> {
        let kek: Box<dyn Kek> = Box::new(kek);
        let info = kek.describe();
        let meta = StoreMeta {
            format_version: STORE_FORMAT_VERSION,
            created: Timestamp::now(),
            kek_check: wrap::make_check(kek.as_ref())?,
            kek: info.clone(),
            audit: audit::AuditHead::genesis(),
        };
        let store = KeyStore {
            backend,
            kek,
            actor: default_actor(),
        };
        let first = AuditEntry::ok(Op::Init, None, None, &store.actor)
            .with_detail(format!("kek {}", info.kind()));
        store.backend.create(meta, first)?;
        Ok(store)
    }

    /// Opens a store with a KEK built for it. A wrong passphrase fails here, before any key
    /// is read or written.
    pub fn open(backend: B, kek: impl Kek + 'static) -> Result<Self> {
        let meta = backend.read_meta()?;
        let kek: Box<dyn Kek> = Box::new(kek);
        let given = kek.describe();
        let location = backend.location();
        if given.kind() != meta.kek.kind() {
            return Err(Error::KekMismatch {
                location,
                store: meta.kek.kind().into(),
                given: format!("a {} KEK was given", given.kind()),
            });
        }
        if given != meta.kek {
            let given = match (&meta.kek, &given) {
                (
                    KekInfo::Pkcs11 {
                        token_label,
                        key_label,
                    },
                    KekInfo::Pkcs11 {
                        token_label: t,
                        key_label: k,
                    },
                ) => format!(
                    "its key is `{key_label}` on token `{token_label}`, but key `{k}` on token \
                     `{t}` was given"
                ),
                _ => "the KEK given was made with other parameters; build it from the \
                      store's (PassphraseKek::for_store, or KeyStore::open_with_passphrase)"
                    .into(),
            };
            return Err(Error::KekMismatch {
                location,
                store: meta.kek.kind().into(),
                given,
            });
        }
        if !wrap::check(kek.as_ref(), &meta.kek_check)? {
            return Err(match meta.kek {
                KekInfo::Passphrase { .. } => Error::WrongPassphrase { location },
                other => Error::WrongKek {
                    kind: other.kind().into(),
                    location,
                },
            });
        }
        Ok(KeyStore {
            backend,
            kek,
            actor: default_actor(),
        })
    }

    /// Opens a passphrase-protected store: derives the KEK with the stored Argon2id
    /// parameters, then [`KeyStore::open`].
    pub fn open_with_passphrase(backend: B, passphrase: &Passphrase) -> Result<Self> {
        let info = backend.read_meta()?.kek;
        if !matches!(info, KekInfo::Passphrase { .. }) {
            return Err(Error::KekMismatch {
                location: backend.location(),
                store: info.kind().into(),
                given: "a passphrase was given".into(),
            });
        }
        let kek = PassphraseKek::for_store(passphrase, &info)?;
        Self::open(backend, kek)
    }

    /// Opens a store whose KEK is a PKCS#11 token key: opens the key its metadata names
    /// (token and key labels) through `module`, then [`KeyStore::open`].
    #[cfg(feature = "pkcs11")]
    pub fn open_with_pkcs11(
        backend: B,
        module: impl AsRef<std::path::Path>,
        pin: &crate::Pkcs11Pin,
    ) -> Result<Self> {
        let info = backend.read_meta()?.kek;
        if !matches!(info, KekInfo::Pkcs11 { .. }) {
            return Err(Error::KekMismatch {
                location: backend.location(),
                store: info.kind().into(),
                given: "a PKCS#11 token key was given".into(),
            });
        }
        let kek = crate::Pkcs11Kek::for_store(module, pin, &info)?;
        Self::open(backend, kek)
    }

    /// Which KEK a store needs (to choose how to open it).
    pub fn kek_info(backend: &B) -> Result<KekInfo> {
        Ok(backend.read_meta()?.kek)
    }

    /// Sets who the audit log names (default: `$USER`, or `unknown`).
    pub fn with_actor(mut self, actor: impl Into<String>) -> Self {
        self.actor = actor.into();
        self
    }

    /// The actor the audit log names.
    pub fn actor(&self) -> &str {
        &self.actor
    }

    /// True when private keys are stored unprotected ([`crate::InsecurePlaintextKek`]):
    /// callers should warn on every use.
    pub fn is_insecure(&self) -> bool {
        self.kek.is_insecure()
    }

    /// What the store records about its KEK (never a secret).
    pub fn kek_description(&self) -> KekInfo {
        self.kek.describe()
    }

    /// The backend.
    pub fn backend(&self) -> &B {
        &self.backend
    }

    /// One audited update. A refusal (an error with a [`Error::denial_code`]) is logged as
    /// `denied:<code>` and returned; other errors write nothing.
    fn write<T>(
        &self,
        op: Op,
        name: Option<&KeyName>,
        version: Option<u32>,
        mut f: impl FnMut(&dyn Txn) -> Result<Change<T>>,
    ) -> Result<T> {
        let mut out: Option<Result<T>> = None;
        let key_name = name.map(KeyName::as_str);
        self.backend.update(&mut |txn| match f(txn) {
            Ok(change) => {
                if let Some(k) = &change.key {
                    k.validate(&format!("key `{}` (about to be written)", k.name))?;
                }
                let mut entry =
                    AuditEntry::ok(op, key_name, change.version.or(version), &self.actor);
                entry.detail = change.detail;
                out = Some(Ok(change.value));
                Ok(Commit {
                    key: change.key,
                    audit: entry,
                })
            }
            Err(e) => match e.denial_code() {
                Some(code) => {
                    let entry = AuditEntry::denied(op, key_name, version, &self.actor, code);
                    out = Some(Err(e));
                    Ok(Commit {
                        key: None,
                        audit: entry,
                    })
                }
                None => Err(e),
            },
        })?;
        out.unwrap_or_else(|| {
            Err(Error::corrupt(
                self.backend.location(),
                "internal: the update did not run",
            ))
        })
    }

    /// Logs a refusal decided outside an update (best effort) and returns it.
    fn refuse(&self, op: Op, name: &KeyName, version: Option<u32>, err: Error) -> Error {
        if let Some(code) = err.denial_code() {
            let entry = AuditEntry::denied(op, Some(name.as_str()), version, &self.actor, code);
            let _ = self.backend.update(&mut |_| {
                Ok(Commit {
                    key: None,
                    audit: entry.clone(),
                })
            });
        }
        err
    }

    fn read_key(&self, name: &KeyName) -> Result<Key> {
        let mut out = None;
        self.backend.read(&mut |txn| {
            out = txn.key(name)?;
            Ok(())
        })?;
        out.ok_or_else(|| Error::KeyNotFound(name.to_string()))
    }

    /// Unwraps a version's PKCS #8 and checks it against the stored public key.
    fn unwrap_checked(&self, key: &Key, v: &KeyVersion) -> Result<(PrivateKey, SecretBytes)> {
        let (name, version) = (key.name.to_string(), v.version);
        let wrapped = v.private.as_ref().ok_or_else(|| Error::VersionDestroyed {
            name: name.clone(),
            version,
        })?;
        let der = self
            .kek
            .unwrap(&aad(&key.name, version, &key.algorithm), wrapped)
            .map_err(|e| match e {
                Error::WrappedUnauthentic => Error::Unwrap {
                    name: name.clone(),
                    version,
                },
                other => other,
            })?;
        let file = format!("key `{name}`");
        let private = codec::private_from_bytes(der.expose(), Some(wanted_kind(key.purpose)))
            .map_err(|e| Error::corrupt(&file, format!("version {version} private key: {e}")))?;
        if private.algorithm().id != key.algorithm {
            return Err(Error::corrupt(
                &file,
                format!("version {version} private key is not {}", key.algorithm),
            ));
        }
        if codec::public_to_der(&private.public_key()?)? != v.public_key {
            return Err(Error::corrupt(
                &file,
                format!("version {version} public key does not match its private key"),
            ));
        }
        Ok((private, der))
    }

    /// Creates key `name` (version 1, active) of registry algorithm `alg_id`.
    pub fn create(&self, name: &str, alg_id: &str) -> Result<NewVersion> {
        let name = KeyName::new(name)?;
        let alg =
            registry::by_id(alg_id).ok_or_else(|| Error::UnknownAlgorithm(alg_id.to_owned()))?;
        let purpose = Purpose::of(alg)?;
        if !alg.is_available() {
            return Err(Error::UnsuitableAlgorithm {
                alg: alg.id.to_owned(),
                reason: "not in this build (enable its qsafe-core feature)",
            });
        }
        let fresh = Fresh::generate(alg)?;
        self.write(Op::Create, Some(&name), Some(1), |txn| {
            if txn.key(&name)?.is_some() {
                return Err(Error::KeyExists(name.to_string()));
            }
            let first = fresh.version(self.kek.as_ref(), &name, 1)?;
            let key = Key {
                format_version: KEY_FORMAT_VERSION,
                name: name.clone(),
                algorithm: alg.id.to_owned(),
                purpose,
                created: first.created.clone(),
                policy: Policy::default(),
                versions: vec![first],
            };
            Ok(Change {
                key: Some(key),
                detail: Some(format!("algorithm {}", alg.id)),
                ..Change::new(NewVersion {
                    name: name.clone(),
                    version: 1,
                    algorithm: alg.id,
                    fingerprint: fresh.fingerprint.clone(),
                })
            })
        })
    }

    /// Adds a version: the new one is active, the previous active one becomes decrypt-only.
    pub fn rotate(&self, name: &str) -> Result<NewVersion> {
        let name = KeyName::new(name)?;
        // Generate outside the lock; a missing key is refused (and logged) under it.
        let fresh = match self.read_key(&name) {
            Ok(k) => Some(Fresh::generate(k.alg()?)?),
            Err(Error::KeyNotFound(_)) => None,
            Err(e) => return Err(e),
        };
        self.write(Op::Rotate, Some(&name), None, |txn| {
            let mut key = get(txn, &name)?;
            let fresh = fresh
                .as_ref()
                .filter(|f| f.alg.id == key.algorithm)
                .ok_or_else(|| {
                    Error::corrupt(
                        format!("key `{name}`"),
                        "the key was replaced during rotation; retry",
                    )
                })?;
            let previous = key.active()?.version;
            let version = previous
                .checked_add(1)
                .ok_or_else(|| Error::InvalidPolicy {
                    name: name.to_string(),
                    reason: "no more versions (u32 limit)".into(),
                })?;
            for v in &mut key.versions {
                if v.status == Status::Active {
                    v.status = Status::DecryptOnly;
                }
            }
            key.versions
                .push(fresh.version(self.kek.as_ref(), &name, version)?);
            Ok(Change {
                key: Some(key),
                version: Some(version),
                detail: Some(format!("version {previous} -> decrypt-only")),
                value: NewVersion {
                    name: name.clone(),
                    version,
                    algorithm: fresh.alg.id,
                    fingerprint: fresh.fingerprint.clone(),
                },
            })
        })
    }

    /// All keys, sorted by name.
    pub fn list(&self) -> Result<Vec<Key>> {
        let mut out = Vec::new();
        self.backend.read(&mut |txn| {
            out.clear();
            for name in txn.names()? {
                out.push(get(txn, &name)?);
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// One key.
    pub fn show(&self, name: &str) -> Result<Key> {
        self.read_key(&KeyName::new(name)?)
    }

    /// Changes the policy: `min_decryption_version` (1..=latest) and/or the rotation period
    /// (`Some(None)` clears it). Returns the new policy.
    pub fn set_policy(
        &self,
        name: &str,
        min_decryption_version: Option<u32>,
        rotation_period: Option<Option<u64>>,
    ) -> Result<Policy> {
        let name = KeyName::new(name)?;
        self.write(Op::SetPolicy, Some(&name), None, |txn| {
            let mut key = get(txn, &name)?;
            let old = key.policy.clone();
            let invalid = |reason: String| Error::InvalidPolicy {
                name: name.to_string(),
                reason,
            };
            if let Some(min) = min_decryption_version {
                let latest = key.latest();
                if min == 0 || min > latest {
                    return Err(invalid(format!(
                        "min_decryption_version {min} must be between 1 and the latest \
                         version {latest}"
                    )));
                }
                key.policy.min_decryption_version = min;
            }
            if let Some(period) = rotation_period {
                if period == Some(0) {
                    return Err(invalid("rotation period must be at least 1 second".into()));
                }
                key.policy.rotation_period = period;
            }
            let mut changes = Vec::new();
            if old.min_decryption_version != key.policy.min_decryption_version {
                changes.push(format!(
                    "min_decryption_version {} -> {}",
                    old.min_decryption_version, key.policy.min_decryption_version
                ));
            }
            if old.rotation_period != key.policy.rotation_period {
                changes.push(format!(
                    "rotation_period {} -> {}",
                    describe_period(old.rotation_period),
                    describe_period(key.policy.rotation_period)
                ));
            }
            if changes.is_empty() {
                changes.push("no change".into());
            }
            let policy = key.policy.clone();
            Ok(Change {
                key: Some(key),
                detail: Some(changes.join(", ")),
                ..Change::new(policy)
            })
        })
    }

    /// Retires a decrypt-only version: kept, but unusable.
    pub fn retire(&self, name: &str, version: u32) -> Result<()> {
        self.transition(name, version, Op::Retire, "retire")
    }

    /// Destroys a non-active version's private material; its public key and history stay.
    /// The old file contents are replaced, not overwritten in place: the wrapped bytes may
    /// survive on the disk until the file system reuses the blocks (they stay wrapped).
    pub fn destroy(&self, name: &str, version: u32) -> Result<()> {
        self.transition(name, version, Op::Destroy, "destroy")
    }

    fn transition(&self, name: &str, version: u32, op: Op, verb: &'static str) -> Result<()> {
        let name = KeyName::new(name)?;
        self.write(op, Some(&name), Some(version), |txn| {
            let mut key = get(txn, &name)?;
            let v = key.version_mut(version)?;
            let refuse = |from| Error::InvalidTransition {
                name: name.to_string(),
                version,
                from,
                op: verb,
            };
            let from = v.status;
            match (op, from) {
                (_, Status::Active) => {
                    return Err(Error::ActiveVersion {
                        name: name.to_string(),
                        version,
                        op: verb,
                    });
                }
                (Op::Retire, Status::DecryptOnly) => v.status = Status::Retired,
                (Op::Destroy, Status::DecryptOnly | Status::Retired) => {
                    v.status = Status::Destroyed;
                    v.private = None;
                }
                _ => return Err(refuse(from)),
            }
            Ok(Change {
                key: Some(key),
                detail: Some(format!(
                    "{from} -> {}",
                    if op == Op::Retire {
                        "retired"
                    } else {
                        "destroyed"
                    }
                )),
                ..Change::new(())
            })
        })
    }

    /// A version's public key (the active one by default). Not logged: see
    /// [`KeyStore::export_public`].
    pub fn public_key(&self, name: &str, version: Option<u32>) -> Result<VersionedKey<PublicKey>> {
        let key = self.read_key(&KeyName::new(name)?)?;
        Self::public_of(&key, version)
    }

    fn public_of(key: &Key, version: Option<u32>) -> Result<VersionedKey<PublicKey>> {
        let v = match version {
            Some(n) => key.version(n)?,
            None => key.active()?,
        };
        Ok(VersionedKey {
            name: key.name.clone(),
            version: v.version,
            fingerprint: v.fingerprint.clone(),
            key: parse_public(key, v)?,
        })
    }

    /// [`KeyStore::public_key`], logged as `export-public`.
    pub fn export_public(
        &self,
        name: &str,
        version: Option<u32>,
    ) -> Result<VersionedKey<PublicKey>> {
        let name = KeyName::new(name)?;
        self.write(Op::ExportPublic, Some(&name), version, |txn| {
            let key = get(txn, &name)?;
            let public = Self::public_of(&key, version)?;
            Ok(Change {
                version: Some(public.version),
                ..Change::new(public)
            })
        })
    }

    /// The PKCS #8 DER private key of a version that is active or decrypt-only. Logged as
    /// `export-private` before it is returned. The CLI must warn: the key leaves the store
    /// unwrapped.
    pub fn export_private(&self, name: &str, version: u32) -> Result<SecretBytes> {
        let name = KeyName::new(name)?;
        self.write(Op::ExportPrivate, Some(&name), Some(version), |txn| {
            let key = get(txn, &name)?;
            let v = key.version(version)?;
            match v.status {
                Status::Destroyed => {
                    return Err(Error::VersionDestroyed {
                        name: name.to_string(),
                        version,
                    });
                }
                Status::Retired => {
                    return Err(Error::VersionRetired {
                        name: name.to_string(),
                        version,
                    });
                }
                Status::Active | Status::DecryptOnly => {}
            }
            let (_private, der) = self.unwrap_checked(&key, v)?;
            Ok(Change::new(der))
        })
    }

    /// One version as a [`KeyBundle`]: public key, the private key still wrapped under the
    /// store's KEK, and what is needed to unwrap it elsewhere (KEK parameters and check
    /// value). Logged as `export-wrapped`. Active or decrypt-only versions only.
    pub fn export_wrapped(&self, name: &str, version: Option<u32>) -> Result<KeyBundle> {
        let name = KeyName::new(name)?;
        self.write(Op::ExportWrapped, Some(&name), version, |txn| {
            let key = get(txn, &name)?;
            let number = version.unwrap_or_else(|| key.latest());
            let public = Self::public_of(&key, Some(number))?;
            let v = key.version(number)?;
            match v.status {
                Status::Destroyed => {
                    return Err(Error::VersionDestroyed {
                        name: name.to_string(),
                        version: number,
                    });
                }
                Status::Retired => {
                    return Err(Error::VersionRetired {
                        name: name.to_string(),
                        version: number,
                    });
                }
                Status::Active | Status::DecryptOnly => {}
            }
            let mut key = key;
            let private = key
                .versions
                .iter_mut()
                .find(|x| x.version == number)
                .and_then(|x| x.private.take())
                .ok_or_else(|| Error::VersionDestroyed {
                    name: name.to_string(),
                    version: number,
                })?;
            // `Wrapped` is deliberately not `Clone`; the check value is public, so a JSON round
            // trip is the copy.
            let check = serde_json::to_vec(&txn.meta().kek_check)
                .and_then(|b| serde_json::from_slice(&b))
                .map_err(|e| Error::corrupt(self.backend.location(), e.to_string()))?;
            Ok(Change {
                version: Some(number),
                ..Change::new(KeyBundle::new(
                    &key,
                    number,
                    &public.key,
                    txn.meta().kek.clone(),
                    check,
                    private,
                )?)
            })
        })
    }

    /// The decapsulation key of `version`, for decrypting. Refused below
    /// `min_decryption_version`, and for retired or destroyed versions.
    pub fn decapsulation_key(&self, name: &str, version: u32) -> Result<DecapsulationKey> {
        let name = KeyName::new(name)?;
        let loaded = self.read_key(&name).and_then(|key| {
            let v = usable(&key, version, Purpose::Encrypt)?;
            match self.unwrap_checked(&key, v)?.0 {
                PrivateKey::Kem(k) => Ok(k),
                PrivateKey::Sig(_) => Err(Error::corrupt(
                    format!("key `{name}`"),
                    "a signing key is stored under a KEM algorithm",
                )),
            }
        });
        loaded.map_err(|e| self.refuse(Op::UseDecrypt, &name, Some(version), e))
    }

    /// The active version's encapsulation key, for encrypting.
    pub fn encapsulation_key(&self, name: &str) -> Result<VersionedKey<EncapsulationKey>> {
        let key = self.read_key(&KeyName::new(name)?)?;
        check_purpose(&key, Purpose::Encrypt)?;
        let public = Self::public_of(&key, None)?;
        match public.key {
            PublicKey::Kem(k) => Ok(VersionedKey {
                name: public.name,
                version: public.version,
                fingerprint: public.fingerprint,
                key: k,
            }),
            PublicKey::Sig(_) => Err(Error::corrupt(
                format!("key `{}`", key.name),
                "a signature public key is stored under a KEM algorithm",
            )),
        }
    }

    /// The active version's signing key.
    pub fn signing_key(&self, name: &str) -> Result<VersionedKey<SigningKey>> {
        let name = KeyName::new(name)?;
        let loaded = self.read_key(&name).and_then(|key| {
            check_purpose(&key, Purpose::Sign)?;
            let v = key.active()?;
            match self.unwrap_checked(&key, v)?.0 {
                PrivateKey::Sig(k) => Ok(VersionedKey {
                    name: name.clone(),
                    version: v.version,
                    fingerprint: v.fingerprint.clone(),
                    key: k,
                }),
                PrivateKey::Kem(_) => Err(Error::corrupt(
                    format!("key `{name}`"),
                    "a KEM key is stored under a signature algorithm",
                )),
            }
        });
        loaded.map_err(|e| self.refuse(Op::UseSign, &name, None, e))
    }

    /// The verifying key of `version`: refused like decryption (below
    /// `min_decryption_version`, retired, destroyed).
    pub fn verifying_key(&self, name: &str, version: u32) -> Result<VerifyingKey> {
        let name = KeyName::new(name)?;
        let loaded = self.read_key(&name).and_then(|key| {
            let v = usable(&key, version, Purpose::Sign)?;
            match parse_public(&key, v)? {
                PublicKey::Sig(k) => Ok(k),
                PublicKey::Kem(_) => Err(Error::corrupt(
                    format!("key `{name}`"),
                    "a KEM public key is stored under a signature algorithm",
                )),
            }
        });
        loaded.map_err(|e| self.refuse(Op::UseVerify, &name, Some(version), e))
    }

    /// Keys whose active version is at least one rotation period old at `now` (Unix seconds).
    pub fn due_for_rotation(&self, now: u64) -> Result<Vec<RotationDue>> {
        let mut due = Vec::new();
        for key in self.list()? {
            let Some(period) = key.policy.rotation_period else {
                continue;
            };
            let active = key.active()?;
            let due_since = active.created.unix.saturating_add(period);
            if now >= due_since {
                due.push(RotationDue {
                    name: key.name.clone(),
                    version: active.version,
                    due_since,
                });
            }
        }
        Ok(due)
    }

    /// Verifies the audit log against the head in the store metadata ([`audit::verify`]).
    pub fn verify_audit(&self) -> Result<AuditReport> {
        verify_audit(&self.backend)
    }
}

/// Verifies a store's audit log without opening it (no KEK needed).
pub fn verify_audit<B: Backend + ?Sized>(backend: &B) -> Result<AuditReport> {
    let mut report = None;
    backend.read(&mut |txn| {
        let log = txn.audit_log()?;
        report = Some(audit::verify(
            &log,
            &txn.meta().audit,
            &txn.audit_location(),
            &mut |k| txn.key_state(k),
        )?);
        Ok(())
    })?;
    report.ok_or_else(|| Error::corrupt(backend.location(), "internal: the read did not run"))
}
