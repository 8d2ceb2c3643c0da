//! Re-wrapping: the same file key, payload and signature under new recipient stanzas
//! (`docs/format.md` §4.1), for key rotation without re-encrypting the payload.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use qsafe_core::kem::DecapsulationKey;
use qsafe_core::keys::PublicKey;

use super::Header;
use super::header::format_err;
use super::seal::{build_header, wrap_file_key};
use crate::{Error, Result};

impl Header {
    /// Unlocks the file key with `key` and returns a header that wraps it to `recipients`
    /// instead, keeping the suite and signer stanza. The payload and any signature trailer
    /// stay valid behind the new header. When every recipient keeps its algorithm (a new
    /// version of the same key), the new header has the same length as the old one and can
    /// replace it in place.
    pub fn rewrap(
        &self,
        key: &DecapsulationKey,
        recipients: &[PublicKey],
        allow_classical: bool,
    ) -> Result<Header> {
        let unlocked = self.unlock(key)?;
        let stanzas = recipients
            .iter()
            .map(|pk| wrap_file_key(self.suite, pk, &unlocked.file_key, allow_classical))
            .collect::<Result<Vec<_>>>()?;
        build_header(self.suite, stanzas, self.signer.clone(), &unlocked.keys)
    }
}

/// Suffix of the journal that makes an in-place header rewrite crash safe.
pub const JOURNAL_SUFFIX: &str = ".qsafe-journal";
const JOURNAL_MAGIC: &[u8] = b"qsafe-rewrap-journal/v1\n";

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(suffix);
    PathBuf::from(p)
}

fn journal_path(path: &Path) -> PathBuf {
    with_suffix(path, JOURNAL_SUFFIX)
}

fn sync_dir(path: &Path) {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Replaces the header of the sealed file at `path` with `new`, which must have the same
/// length, without touching the payload: milliseconds for any file size.
///
/// Crash safety: the old header is first written to `PATH.qsafe-journal` (temporary file,
/// fsync, rename, directory fsync); then the new header is written in place and synced; then
/// the journal is removed. A crash leaves either no journal (the file is untouched or fully
/// rewritten) or a complete journal, from which [`recover_header`] restores the old header —
/// always a valid file, since payload and trailer never change.
pub fn rewrite_header_in_place(path: &Path, old: &Header, new: &Header) -> Result<()> {
    if new.len() != old.len() {
        return Err(Error::InPlace(format!(
            "the new header is {} bytes, the old {}: in place needs the same recipient \
             algorithms; write a new file instead",
            new.len(),
            old.len()
        )));
    }
    let journal = journal_path(path);
    if journal.exists() {
        return Err(Error::InPlace(format!(
            "{} exists: an earlier rewrite was interrupted",
            journal.display()
        )));
    }
    let mut file = OpenOptions::new().read(true).write(true).open(path)?;
    let mut current = vec![0u8; old.bytes.len()];
    file.read_exact(&mut current)?;
    if current != old.bytes {
        return Err(Error::InPlace(
            "the file changed since its header was read".into(),
        ));
    }
    let tmp = with_suffix(&journal, ".tmp");
    {
        let mut j = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        j.write_all(JOURNAL_MAGIC)?;
        j.write_all(&old.bytes)?;
        j.sync_all()?;
    }
    std::fs::rename(&tmp, &journal)?;
    sync_dir(path);
    file.seek(SeekFrom::Start(0))?;
    file.write_all(&new.bytes)?;
    file.sync_all()?;
    std::fs::remove_file(&journal)?;
    sync_dir(path);
    Ok(())
}

/// Finishes an interrupted [`rewrite_header_in_place`]: restores the old header from a
/// complete journal and removes it. Returns whether there was anything to recover.
pub fn recover_header(path: &Path) -> Result<bool> {
    let journal = journal_path(path);
    let _ = std::fs::remove_file(with_suffix(&journal, ".tmp"));
    let bytes = match std::fs::read(&journal) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e.into()),
    };
    let old = bytes
        .strip_prefix(JOURNAL_MAGIC)
        .ok_or_else(|| format_err("journal", "not a qsafe rewrap journal"))?;
    // The journal holds a complete header; parse it before writing it back.
    let header = Header::read(&mut &old[..])?;
    if header.len() != old.len() as u64 {
        return Err(format_err(
            "journal",
            "trailing bytes after the saved header",
        ));
    }
    let mut file = OpenOptions::new().write(true).open(path)?;
    file.write_all(old)?;
    file.sync_all()?;
    std::fs::remove_file(&journal)?;
    sync_dir(path);
    Ok(true)
}
