//! Storage backends: where key records, the store metadata and the audit log live.
//!
//! The [`Backend`] trait is shaped so that a SQL database can implement it with one
//! transaction per call:
//!
//! - [`Backend::read`] runs a closure over a consistent snapshot ([`Txn`]): a shared lock on
//!   the directory, a `REPEATABLE READ` transaction in PostgreSQL.
//! - [`Backend::update`] takes the store's exclusive write lock (PostgreSQL: `SELECT … FOR
//!   UPDATE` on the metadata row), re-reads, runs the closure, and applies the returned
//!   [`Commit`] — at most one key record and exactly one audit entry — together with the new
//!   audit head, atomically. The closure may run more than once (a database backend retries on
//!   serialization failures), so it must not have side effects beyond its return value.
//! - Chaining the audit line (`seq`, `prev`, `hash`, `state`) happens inside the backend under
//!   the lock, with [`crate::audit::seal`], so concurrent writers can never fork the chain.
//!
//! The trait is synchronous and object-safe (`Box<dyn Backend>` implements it): a CLI picks
//! the backend at run time, and a PostgreSQL backend can use the blocking `postgres` client
//! (or block on `tokio-postgres`).

pub mod dir;
#[cfg(feature = "postgres")]
pub mod postgres;

use serde::{Deserialize, Serialize};

use crate::audit::{AuditEntry, AuditHead};
use crate::model::{Key, KeyName, Timestamp};
use crate::wrap::{KekInfo, Wrapped};
use crate::{Error, Result};

pub use dir::{DirBackend, default_root};

/// The store metadata format this build reads and writes.
pub const STORE_FORMAT_VERSION: u32 = 1;

/// Store-wide metadata (`store.json` in a directory store).
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreMeta {
    /// [`STORE_FORMAT_VERSION`].
    pub format_version: u32,
    /// When the store was created.
    pub created: Timestamp,
    /// Which KEK wraps private keys, and its parameters.
    pub kek: KekInfo,
    /// A known constant wrapped under the KEK: opening checks it first.
    pub kek_check: Wrapped,
    /// The committed head of the audit log.
    pub audit: AuditHead,
}

impl StoreMeta {
    /// Parses and validates metadata; `file` names it in errors.
    pub fn from_json(bytes: &[u8], file: &str) -> Result<StoreMeta> {
        let meta: StoreMeta = crate::model::parse_versioned(bytes, file, STORE_FORMAT_VERSION)?;
        let h = &meta.audit.hash;
        if h.len() != 64
            || !h
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(Error::corrupt(
                file,
                "audit.hash is not 64 lowercase hex digits",
            ));
        }
        if meta.audit.seq == 0 && meta.audit.bytes != 0 {
            return Err(Error::corrupt(file, "audit head is empty but has a length"));
        }
        Ok(meta)
    }

    /// Serialises (pretty JSON, trailing newline).
    pub fn to_json(&self) -> Result<Vec<u8>> {
        let mut out = serde_json::to_vec_pretty(self)
            .map_err(|e| Error::corrupt("store metadata", format!("cannot serialise: {e}")))?;
        out.push(b'\n');
        Ok(out)
    }
}

/// A consistent view of the store inside [`Backend::read`] or [`Backend::update`].
pub trait Txn {
    /// The metadata.
    fn meta(&self) -> &StoreMeta;
    /// A key record, `None` if there is no key of that name.
    fn key(&self, name: &KeyName) -> Result<Option<Key>>;
    /// All key names, sorted.
    fn names(&self) -> Result<Vec<KeyName>>;
    /// `sha256:` of a key's stored record bytes ([`crate::model::state_hash`]).
    fn key_state(&self, name: &str) -> Result<Option<String>>;
    /// The whole audit log as stored.
    fn audit_log(&self) -> Result<Vec<u8>>;
    /// How the log is named in errors (`/path/audit.jsonl`).
    fn audit_location(&self) -> String;
}

/// What one [`Backend::update`] writes.
#[derive(Debug)]
pub struct Commit {
    /// The new or changed key record (none for denials and exports).
    pub key: Option<Key>,
    /// The operation's audit entry.
    pub audit: AuditEntry,
}

/// A place to keep a key store.
pub trait Backend: Send + Sync + core::fmt::Debug {
    /// Where the store is, for messages (a path, a redacted database URL).
    fn location(&self) -> String;

    /// Creates a new store holding `meta` (its audit head is replaced) and the log's first
    /// line from `first`. Refuses a location that already holds a store, or part of one.
    fn create(&self, meta: StoreMeta, first: AuditEntry) -> Result<()>;

    /// The metadata, without taking the store lock.
    fn read_meta(&self) -> Result<StoreMeta>;

    /// Runs `f` over a consistent read-only snapshot.
    fn read(&self, f: &mut dyn FnMut(&dyn Txn) -> Result<()>) -> Result<()>;

    /// Under the exclusive write lock: re-reads, runs `f`, and applies its [`Commit`]
    /// atomically with the audit line. If `f` fails nothing is written.
    fn update(&self, f: &mut dyn FnMut(&dyn Txn) -> Result<Commit>) -> Result<()>;

    /// Writes a whole store taken from a backup (metadata, key records, audit log, bytes as
    /// [`Backend::read`] gives them) into a location that holds no store; never overwrites.
    fn restore(&self, store: &[u8], keys: &[(KeyName, Vec<u8>)], audit: &[u8]) -> Result<()>;
}

impl<B: Backend + ?Sized> Backend for Box<B> {
    fn location(&self) -> String {
        (**self).location()
    }
    fn create(&self, meta: StoreMeta, first: AuditEntry) -> Result<()> {
        (**self).create(meta, first)
    }
    fn read_meta(&self) -> Result<StoreMeta> {
        (**self).read_meta()
    }
    fn read(&self, f: &mut dyn FnMut(&dyn Txn) -> Result<()>) -> Result<()> {
        (**self).read(f)
    }
    fn update(&self, f: &mut dyn FnMut(&dyn Txn) -> Result<Commit>) -> Result<()> {
        (**self).update(f)
    }
    fn restore(&self, store: &[u8], keys: &[(KeyName, Vec<u8>)], audit: &[u8]) -> Result<()> {
        (**self).restore(store, keys, audit)
    }
}
