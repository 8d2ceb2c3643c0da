//! The directory backend: one store per directory.
//!
//! ```text
//! <root>/            0700
//!   store.json       0600  metadata: format version, KEK info, KEK check value, audit head
//!   keys/            0700
//!     <name>.json    0600  one key record per key (crate::model::Key)
//!   audit.jsonl      0600  the hash-chained audit log (crate::audit)
//!   lock             0600  empty; flock()ed: shared by readers, exclusive by writers
//! ```
//!
//! Every file is replaced atomically: a temporary file `.tmp-*` in the same directory
//! (`create_new`, mode 0600), write, `fsync`, `rename` over the target, `fsync` the directory.
//! Only the audit log grows in place (append, then `fsync`). Writers hold an exclusive
//! `File::lock` on `lock`, readers a shared one, so a reader never sees half of an update and
//! two writers (threads or processes) never interleave. An error while reading anything
//! (corrupt, truncated or unknown-version JSON) stops the operation before any write.
//!
//! # Write order and the crash-safety invariant
//!
//! One update writes at most one key record and exactly one audit line, in this order:
//!
//! 1. append the audit line `L` (`seq = head + 1`, with `state` = SHA-256 of the new key
//!    record's bytes) and `fsync` the log — a write-ahead record;
//! 2. replace `keys/<name>.json` (the **commit point**: the rename is atomic);
//! 3. replace `store.json` with the head advanced to `L`.
//!
//! Invariant: *key records are the truth, the committed log ends at the head recorded in
//! `store.json`, and at most one complete line (plus at most one torn partial line) follows
//! the head. A line after the head is "applied" iff it wrote no key record or the key record's
//! current hash equals its `state`.* A crash between any two steps therefore leaves the old key
//! set (before step 2's rename) or the new one (after it), and:
//!
//! - before 1 completes: at most a torn partial line after the head — no change was made;
//! - between 1 and 2: a complete line whose `state` does not match the record — not applied;
//! - between 2 and 3: a complete line whose `state` matches — applied.
//!
//! Readers need no repair: they read key records, which are always whole. [`crate::audit::verify`]
//! accepts exactly this shape and reports the pending line. The next writer, under the
//! exclusive lock and before its own change, *recovers*: it checks that the pending line
//! chains to the head (else the log was tampered with and nothing is written), drops the torn
//! tail, drops a not-applied line (it describes a change that never became visible, so no
//! visible change is left unrecorded) or commits an applied one by advancing the head. Lines
//! up to the head are never modified. Exports and denials write no key record, so their line
//! counts as applied once it is durable: a crash may log an export that was never delivered,
//! never the reverse.

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::audit::{self, AuditEntry, AuditHead, AuditProblem};
use crate::backend::{Backend, Commit, StoreMeta, Txn};
use crate::model::{Key, KeyName, state_hash, unix_now};
use crate::{Error, Result};

const STORE: &str = "store.json";
const KEYS: &str = "keys";
const AUDIT: &str = "audit.jsonl";
const LOCK: &str = "lock";
const TMP_PREFIX: &str = ".tmp-";

/// The default store directory: `$QSAFE_HOME`, else `$XDG_DATA_HOME/qsafe` (if absolute),
/// else `~/.local/share/qsafe`.
pub fn default_root() -> Result<PathBuf> {
    let var = |name| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    root_from(var("QSAFE_HOME"), var("XDG_DATA_HOME"), var("HOME")).ok_or(Error::NoDefaultRoot)
}

fn root_from(
    qsafe: Option<PathBuf>,
    xdg: Option<PathBuf>,
    home: Option<PathBuf>,
) -> Option<PathBuf> {
    // The XDG Base Directory spec says relative XDG_DATA_HOME values are invalid.
    qsafe
        .or_else(|| xdg.filter(|p| p.is_absolute()).map(|p| p.join("qsafe")))
        .or_else(|| home.map(|h| h.join(".local").join("share").join("qsafe")))
}

/// A key store in a directory.
#[derive(Debug, Clone)]
pub struct DirBackend {
    root: PathBuf,
}

impl DirBackend {
    /// A store rooted at `root` (nothing is touched until an operation runs).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        DirBackend { root: root.into() }
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    fn keys_dir(&self) -> PathBuf {
        self.root.join(KEYS)
    }

    fn key_path(&self, name: &KeyName) -> PathBuf {
        self.keys_dir().join(format!("{name}.json"))
    }

    fn display_root(&self) -> String {
        self.root.display().to_string()
    }

    /// Why there is no store here.
    fn missing(&self) -> Error {
        if self.path(AUDIT).exists() || self.keys_dir().exists() {
            Error::PartialStore(self.display_root())
        } else {
            Error::NotAStore(self.display_root())
        }
    }

    /// For `create` and restore: checks the directory is new or empty, makes the 0700
    /// directories, and returns the writer lock, checking again under it (another process
    /// may have won the race).
    fn prepare_new_store(&self) -> Result<File> {
        self.check_empty_for_init()?;
        if let Some(parent) = self.root.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::create_dir_all(parent).map_err(|e| Error::io("create directory", parent, e))?;
        }
        for dir in [self.root.clone(), self.keys_dir()] {
            match fs::DirBuilder::new().mode(0o700).create(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
                Err(e) => return Err(Error::io("create directory", &dir, e)),
            }
            fs::set_permissions(&dir, fs::Permissions::from_mode(0o700))
                .map_err(|e| Error::io("set permissions of", &dir, e))?;
        }
        let lock = self.create_lock()?;
        self.check_empty_for_init()?;
        Ok(lock)
    }

    /// Creates (if needed) and takes the writer lock of a store being made.
    fn create_lock(&self) -> Result<File> {
        let lock_path = self.path(LOCK);
        let lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&lock_path)
            .map_err(|e| Error::io("create", &lock_path, e))?;
        lock.lock().map_err(|e| Error::io("lock", &lock_path, e))?;
        Ok(lock)
    }

    fn lock(&self, exclusive: bool) -> Result<File> {
        let path = self.path(LOCK);
        let file = match OpenOptions::new().read(true).write(exclusive).open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Err(if self.path(STORE).exists() {
                    Error::corrupt(path.display().to_string(), "the lock file is missing")
                } else {
                    self.missing()
                });
            }
            Err(e) => return Err(Error::io("open", &path, e)),
        };
        let locked = if exclusive {
            file.lock()
        } else {
            file.lock_shared()
        };
        locked.map_err(|e| Error::io("lock", &path, e))?;
        Ok(file)
    }

    fn read_key(&self, name: &KeyName) -> Result<Option<Key>> {
        let path = self.key_path(name);
        let Some(bytes) = read_optional(&path)? else {
            return Ok(None);
        };
        let file = path.display().to_string();
        let key = Key::from_json(&bytes, &file)?;
        if &key.name != name {
            return Err(Error::corrupt(file, format!("it holds key `{}`", key.name)));
        }
        Ok(Some(key))
    }

    fn key_state(&self, name: &str) -> Result<Option<String>> {
        let Ok(name) = KeyName::new(name) else {
            return Ok(None);
        };
        Ok(read_optional(&self.key_path(&name))?.map(|b| state_hash(&b)))
    }

    fn names(&self) -> Result<Vec<KeyName>> {
        let dir = self.keys_dir();
        let entries = fs::read_dir(&dir).map_err(|e| Error::io("list", &dir, e))?;
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| Error::io("list", &dir, e))?;
            let file = entry.file_name();
            let file = file.to_string_lossy();
            if file.starts_with('.') {
                continue;
            }
            let Some(stem) = file.strip_suffix(".json") else {
                continue;
            };
            let name = KeyName::new(stem).map_err(|_| {
                Error::corrupt(
                    entry.path().display().to_string(),
                    "not a valid key name; move the file out of the keys directory",
                )
            })?;
            names.push(name);
        }
        names.sort();
        Ok(names)
    }

    /// Removes `.tmp-*` files: only writers make them, under the exclusive lock, so any
    /// that exist when a writer starts are left by a crash.
    fn clean_temp_files(&self) -> Result<()> {
        for dir in [self.root.clone(), self.keys_dir()] {
            let entries = fs::read_dir(&dir).map_err(|e| Error::io("list", &dir, e))?;
            for entry in entries.flatten() {
                if entry.file_name().to_string_lossy().starts_with(TMP_PREFIX) {
                    match fs::remove_file(entry.path()) {
                        Ok(()) => {}
                        Err(e) if e.kind() == ErrorKind::NotFound => {}
                        Err(e) => return Err(Error::io("remove", &entry.path(), e)),
                    }
                }
            }
        }
        Ok(())
    }

    fn audit_error(&self, problem: AuditProblem) -> Error {
        Error::Audit {
            file: self.path(AUDIT).display().to_string(),
            problem,
        }
    }

    /// Resolves what a crash left after the head (module docs). Checks everything before
    /// changing anything.
    fn recover(&self, meta: &mut StoreMeta) -> Result<()> {
        let path = self.path(AUDIT);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io("open", &path, e))?;
        let len = file
            .metadata()
            .map_err(|e| Error::io("stat", &path, e))?
            .len();
        let head = meta.audit.clone();
        if len < head.bytes {
            return Err(self.audit_error(AuditProblem::Length {
                found: len,
                expected: head.bytes,
            }));
        }
        if len == head.bytes {
            return Ok(());
        }
        let mut tail = Vec::new();
        file.seek(SeekFrom::Start(head.bytes))
            .and_then(|_| file.read_to_end(&mut tail))
            .map_err(|e| Error::io("read", &path, e))?;
        let (lines, _torn) = audit::split_lines(&tail);
        if lines.len() > 1 {
            return Err(self.audit_error(AuditProblem::Uncommitted {
                line: head.seq + 1,
                count: lines.len() as u64,
            }));
        }
        let pending = match lines.first() {
            Some(text) => {
                let line = audit::check_next(text, &head).map_err(|p| self.audit_error(p))?;
                let applied = match (&line.state, &line.key) {
                    (None, _) => true,
                    (Some(state), Some(key)) => {
                        self.key_state(key)?.as_deref() == Some(state.as_str())
                    }
                    (Some(_), None) => false,
                };
                Some((line, text.len() + 1, applied))
            }
            None => None,
        };
        let keep = match &pending {
            Some((_, n, true)) => head.bytes + *n as u64,
            _ => head.bytes,
        };
        if keep < len {
            file.set_len(keep)
                .and_then(|()| file.sync_all())
                .map_err(|e| Error::io("truncate", &path, e))?;
        }
        if let Some((line, n, true)) = pending {
            meta.audit = head.after(&line, n);
            atomic_write(&self.root, STORE, &meta.to_json()?)?;
        }
        Ok(())
    }

    fn append_audit(&self, expected_len: u64, text: &[u8]) -> Result<()> {
        let path = self.path(AUDIT);
        let mut file = OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(|e| Error::io("open", &path, e))?;
        let len = file
            .metadata()
            .map_err(|e| Error::io("stat", &path, e))?
            .len();
        if len != expected_len {
            return Err(self.audit_error(AuditProblem::Length {
                found: len,
                expected: expected_len,
            }));
        }
        file.write_all(text)
            .and_then(|()| file.sync_all())
            .map_err(|e| Error::io("append to", &path, e))
    }

    fn apply(&self, meta: &mut StoreMeta, commit: Commit) -> Result<()> {
        let Commit { key, audit: entry } = commit;
        let record = match &key {
            Some(k) => {
                if entry.key.as_deref() != Some(k.name.as_str()) {
                    return Err(Error::corrupt(
                        self.display_root(),
                        "internal: audit entry does not name the key it writes",
                    ));
                }
                let bytes = k.to_json()?;
                let state = state_hash(&bytes);
                Some((&k.name, bytes, state))
            }
            None => None,
        };
        let state = record.as_ref().map(|(_, _, s)| s.clone());
        let (line, text) = audit::seal(&meta.audit, entry, state, unix_now())?;
        // 1. write-ahead audit line
        self.append_audit(meta.audit.bytes, &text)?;
        // 2. the key record: the commit point
        if let Some((name, bytes, _)) = &record {
            atomic_write(&self.keys_dir(), &format!("{name}.json"), bytes)?;
        }
        // 3. the head
        meta.audit = meta.audit.after(&line, text.len());
        atomic_write(&self.root, STORE, &meta.to_json()?)
    }

    fn check_empty_for_init(&self) -> Result<()> {
        if self.path(STORE).exists() {
            return Err(Error::StoreExists(self.display_root()));
        }
        let entries = match fs::read_dir(&self.root) {
            Ok(e) => e,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(Error::io("list", &self.root, e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| Error::io("list", &self.root, e))?;
            let name = entry.file_name();
            match name.to_str() {
                Some(STORE) => return Err(Error::StoreExists(self.display_root())),
                Some(KEYS) => {
                    let mut inner = fs::read_dir(entry.path())
                        .map_err(|e| Error::io("list", &entry.path(), e))?;
                    if inner.next().is_some() {
                        return Err(Error::PartialStore(self.display_root()));
                    }
                }
                Some(AUDIT) => {
                    let len = entry
                        .metadata()
                        .map_err(|e| Error::io("stat", &entry.path(), e))?
                        .len();
                    if len > 0 {
                        return Err(Error::PartialStore(self.display_root()));
                    }
                }
                Some(LOCK) => {}
                _ => return Err(Error::NotEmpty(self.display_root())),
            }
        }
        Ok(())
    }
}

impl Backend for DirBackend {
    fn location(&self) -> String {
        self.display_root()
    }

    fn create(&self, mut meta: StoreMeta, first: AuditEntry) -> Result<()> {
        let lock = self.prepare_new_store()?;
        let (line, text) = audit::seal(&AuditHead::genesis(), first, None, unix_now())?;
        atomic_write(&self.root, AUDIT, &text)?;
        meta.audit = AuditHead::genesis().after(&line, text.len());
        atomic_write(&self.root, STORE, &meta.to_json()?)?;
        drop(lock);
        Ok(())
    }

    fn read_meta(&self) -> Result<StoreMeta> {
        let path = self.path(STORE);
        match read_optional(&path)? {
            Some(bytes) => StoreMeta::from_json(&bytes, &path.display().to_string()),
            None => Err(self.missing()),
        }
    }

    fn read(&self, f: &mut dyn FnMut(&dyn Txn) -> Result<()>) -> Result<()> {
        let lock = self.lock(false)?;
        let meta = self.read_meta()?;
        let txn = DirTxn {
            backend: self,
            meta,
        };
        let out = f(&txn);
        drop(lock);
        out
    }

    fn update(&self, f: &mut dyn FnMut(&dyn Txn) -> Result<Commit>) -> Result<()> {
        let lock = self.lock(true)?;
        let mut meta = self.read_meta()?;
        self.clean_temp_files()?;
        self.recover(&mut meta)?;
        let txn = DirTxn {
            backend: self,
            meta,
        };
        let commit = f(&txn)?;
        let mut meta = txn.meta;
        self.apply(&mut meta, commit)?;
        drop(lock);
        Ok(())
    }

    /// Into a new or empty directory only: keys and audit log first, `store.json` last, so a
    /// crash leaves no store at all.
    fn restore(&self, store: &[u8], keys: &[(KeyName, Vec<u8>)], audit: &[u8]) -> Result<()> {
        let lock = self.prepare_new_store()?;
        for (name, bytes) in keys {
            atomic_write(&self.keys_dir(), &format!("{name}.json"), bytes)?;
        }
        atomic_write(&self.root, AUDIT, audit)?;
        atomic_write(&self.root, STORE, store)?;
        drop(lock);
        Ok(())
    }
}

struct DirTxn<'a> {
    backend: &'a DirBackend,
    meta: StoreMeta,
}

impl Txn for DirTxn<'_> {
    fn meta(&self) -> &StoreMeta {
        &self.meta
    }

    fn key(&self, name: &KeyName) -> Result<Option<Key>> {
        self.backend.read_key(name)
    }

    fn names(&self) -> Result<Vec<KeyName>> {
        self.backend.names()
    }

    fn key_state(&self, name: &str) -> Result<Option<String>> {
        self.backend.key_state(name)
    }

    fn audit_log(&self) -> Result<Vec<u8>> {
        let path = self.backend.path(AUDIT);
        fs::read(&path).map_err(|e| Error::io("read", &path, e))
    }

    fn audit_location(&self) -> String {
        self.backend.path(AUDIT).display().to_string()
    }
}

fn read_optional(path: &Path) -> Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("read", path, e)),
    }
}

/// Replaces `dir/name` atomically and durably (module docs).
fn atomic_write(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    let suffix = hex::encode(qsafe_core::secret::random_bytes(6)?.expose());
    let tmp = dir.join(format!(
        "{TMP_PREFIX}{name}.{}.{suffix}",
        std::process::id()
    ));
    let target = dir.join(name);
    let written = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, &target)
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(Error::io("write", &target, e));
    }
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io("sync directory", dir, e))
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
    fn default_root_order() {
        let p = |s: &str| Some(PathBuf::from(s));
        assert_eq!(root_from(p("/q"), p("/x"), p("/h")), p("/q"));
        assert_eq!(root_from(None, p("/x"), p("/h")), p("/x/qsafe"));
        assert_eq!(
            root_from(None, p("rel"), p("/h")),
            p("/h/.local/share/qsafe")
        );
        assert_eq!(root_from(None, None, None), None);
    }

    #[test]
    fn atomic_write_leaves_no_temp_and_sets_0600() {
        let dir = tempfile::tempdir().unwrap();
        atomic_write(dir.path(), "f", b"one").unwrap();
        atomic_write(dir.path(), "f", b"two").unwrap();
        assert_eq!(fs::read(dir.path().join("f")).unwrap(), b"two");
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("f")]);
        let mode = fs::metadata(dir.path().join("f"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
