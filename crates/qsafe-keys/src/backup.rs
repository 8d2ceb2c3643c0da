//! Backups of a whole store: metadata, every key file (private keys still wrapped under the
//! store's KEK) and the audit log, as one JSON document whose SHA-256 covers everything else.
//! A backup is exactly as sensitive as the store; restoring needs the same passphrase to use.
//!
//! The audit log is checked before a backup is written and after a restore, and a restore
//! goes only into a location that holds no store (a new or empty directory, an empty
//! PostgreSQL schema): it never overwrites one. Backup and restore work across backends, so
//! a directory store moves into PostgreSQL with `backup` then `restore`.

use serde::{Deserialize, Serialize};

use crate::backend::{Backend, StoreMeta};
use crate::model::{Key, Timestamp, state_hash};
use crate::{Error, Result, verify_audit};

/// The backup format.
pub const BACKUP_FORMAT: &str = "qsafe-keys-backup/v1";

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Contents {
    format: String,
    created: Timestamp,
    source: String,
    store: String,
    keys: Vec<String>,
    audit: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    contents: Contents,
    /// `sha256:` over the compact JSON of `contents`.
    sha256: String,
}

fn digest(contents: &Contents) -> Result<String> {
    let bytes = serde_json::to_vec(contents)
        .map_err(|e| Error::corrupt("backup", format!("cannot serialise: {e}")))?;
    Ok(state_hash(&bytes))
}

/// What a backup or restore covered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupSummary {
    /// Keys in the backup.
    pub keys: usize,
    /// Audit lines in the backup.
    pub audit_lines: u64,
}

/// Writes a backup of `backend` (a consistent snapshot under the store's read lock).
pub fn backup<B: Backend + ?Sized>(backend: &B) -> Result<(Vec<u8>, BackupSummary)> {
    let report = verify_audit(backend)?;
    let mut contents = None;
    backend.read(&mut |txn| {
        let mut keys = Vec::new();
        for name in txn.names()? {
            if let Some(key) = txn.key(&name)? {
                keys.push(utf8(key.to_json()?, "key file")?);
            }
        }
        contents = Some(Contents {
            format: BACKUP_FORMAT.into(),
            created: Timestamp::now(),
            source: backend.location(),
            store: utf8(txn.meta().to_json()?, "store metadata")?,
            keys,
            audit: utf8(txn.audit_log()?, "audit log")?,
        });
        Ok(())
    })?;
    let contents = contents.ok_or_else(|| Error::corrupt("backup", "the read did not run"))?;
    let summary = BackupSummary {
        keys: contents.keys.len(),
        audit_lines: report.lines,
    };
    let doc = Document {
        sha256: digest(&contents)?,
        contents,
    };
    let mut out = serde_json::to_vec_pretty(&doc)
        .map_err(|e| Error::corrupt("backup", format!("cannot serialise: {e}")))?;
    out.push(b'\n');
    Ok((out, summary))
}

fn utf8(bytes: Vec<u8>, what: &str) -> Result<String> {
    String::from_utf8(bytes).map_err(|_| Error::corrupt(what, "not UTF-8"))
}

/// Restores a backup into `target`, which must hold no store; checks the backup's digest,
/// every record's contents and, after writing, the audit chain.
pub fn restore<B: Backend + ?Sized>(
    target: &B,
    backup: &[u8],
    file: &str,
) -> Result<BackupSummary> {
    let doc: Document = serde_json::from_slice(backup)
        .map_err(|e| Error::corrupt(file, format!("not a qsafe key store backup: {e}")))?;
    if doc.contents.format != BACKUP_FORMAT {
        return Err(Error::corrupt(
            file,
            format!(
                "format {:?}; this build reads {BACKUP_FORMAT:?}",
                doc.contents.format
            ),
        ));
    }
    if digest(&doc.contents)? != doc.sha256 {
        return Err(Error::corrupt(
            file,
            "its SHA-256 does not match: the backup was modified or damaged",
        ));
    }
    let c = &doc.contents;
    StoreMeta::from_json(c.store.as_bytes(), file)?;
    let mut keys = Vec::with_capacity(c.keys.len());
    for text in &c.keys {
        let key = Key::from_json(text.as_bytes(), file)?;
        keys.push((key.name, text.as_bytes().to_vec()));
    }
    target.restore(c.store.as_bytes(), &keys, c.audit.as_bytes())?;
    let report = verify_audit(target)?;
    Ok(BackupSummary {
        keys: keys.len(),
        audit_lines: report.lines,
    })
}
