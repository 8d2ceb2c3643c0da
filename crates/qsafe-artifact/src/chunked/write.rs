//! Streaming encryption: buffers at most one chunk.

use std::io::{self, Write};

use qsafe_core::symmetric::TAG_LEN;
use zeroize::{Zeroize, Zeroizing};

use super::{CHUNK_SIZE, Cobblestone, MessageKeys, SALT_LEN};
use crate::{Error, Result};

/// Encrypts a stream into `out`. Call [`Encryptor::finish`] to write the final chunk; a
/// dropped encryptor leaves a truncated (and so rejected) ciphertext. After any error the
/// encryptor refuses further use, and what it wrote must be discarded.
pub struct Encryptor<W: Write> {
    keys: MessageKeys,
    out: W,
    /// Plaintext of the chunk being filled (at most `CHUNK_SIZE`).
    buf: Zeroizing<Vec<u8>>,
    /// The sealed chunk being written (plaintext only while it is being encrypted).
    sealed: Zeroizing<Vec<u8>>,
    counter: u64,
    /// Set by any error: a nonce is never used twice and nothing more is written.
    failed: bool,
}

impl<W: Write> core::fmt::Debug for Encryptor<W> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Encryptor")
            .field("chunks_written", &self.counter)
            .finish_non_exhaustive()
    }
}

impl<W: Write> Encryptor<W> {
    /// Starts a message with a fresh random salt and writes the header.
    pub fn new(inst: Cobblestone, input_key: &[u8], context: &[u8], out: W) -> Result<Self> {
        let salt = qsafe_core::secret::random_bytes(SALT_LEN)?;
        let mut s = [0u8; SALT_LEN];
        s.copy_from_slice(salt.expose());
        Self::start(inst, input_key, context, &s, out)
    }

    /// Hazmat: starts a message with a caller-chosen salt (it must never repeat for a key).
    #[cfg(feature = "hazmat")]
    pub fn with_salt(
        inst: Cobblestone,
        input_key: &[u8],
        context: &[u8],
        salt: &[u8; SALT_LEN],
        out: W,
    ) -> Result<Self> {
        Self::start(inst, input_key, context, salt, out)
    }

    fn start(
        inst: Cobblestone,
        input_key: &[u8],
        context: &[u8],
        salt: &[u8; SALT_LEN],
        mut out: W,
    ) -> Result<Self> {
        let keys = MessageKeys::derive(inst, input_key, salt, context)?;
        out.write_all(salt)?;
        out.write_all(&keys.commitment)?;
        Ok(Encryptor {
            keys,
            out,
            buf: Zeroizing::new(Vec::with_capacity(CHUNK_SIZE + TAG_LEN)),
            sealed: Zeroizing::new(Vec::with_capacity(CHUNK_SIZE + TAG_LEN)),
            counter: 0,
            failed: false,
        })
    }

    /// Seals the buffered plaintext as the next chunk and writes it. The counter advances and
    /// the plaintext leaves `buf` before anything can fail, so a retry after an error can
    /// neither reuse a nonce nor re-encrypt a sealed chunk; any error poisons the encryptor.
    /// The buffers swap roles instead of copying: the plaintext is encrypted where it lies.
    fn seal_buffered(&mut self) -> Result<()> {
        if self.failed {
            return Err(Error::Failed);
        }
        self.failed = true;
        let nonce = self.keys.nonce(self.counter)?;
        self.counter += 1;
        core::mem::swap(&mut self.sealed, &mut self.buf);
        self.buf.clear();
        if let Err(e) = self.keys.aead.seal_in_place(&nonce, &[], &mut self.sealed) {
            self.sealed.zeroize();
            return Err(e.into());
        }
        self.out.write_all(&self.sealed)?;
        self.failed = false;
        Ok(())
    }

    /// Seals the final (short, possibly empty) chunk, flushes, and returns the writer.
    pub fn finish(mut self) -> Result<W> {
        if self.buf.len() == CHUNK_SIZE {
            self.seal_buffered()?; // a full chunk is never final: an empty one follows
        }
        self.seal_buffered()?;
        self.out.flush()?;
        Ok(self.out)
    }
}

impl<W: Write> Write for Encryptor<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.failed {
            return Err(io::Error::from(Error::Failed));
        }
        // A full buffer is sealed only once more data arrives, since the final chunk must be
        // shorter than CHUNK_SIZE.
        if self.buf.len() == CHUNK_SIZE && !data.is_empty() {
            self.seal_buffered().map_err(io::Error::from)?;
        }
        let take = data.len().min(CHUNK_SIZE.saturating_sub(self.buf.len()));
        self.buf
            .extend_from_slice(data.get(..take).unwrap_or_default());
        Ok(take)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}
