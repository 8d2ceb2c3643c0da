//! Streaming and random-access decryption.

use std::io::{self, Read, Seek, SeekFrom};

use qsafe_core::symmetric::TAG_LEN;

use super::{CHUNK_SIZE, Cobblestone, HEADER_LEN, MessageKeys, SALT_LEN, SEALED_CHUNK_SIZE};
use crate::{Error, Result};

/// Reads up to `buf.len()` bytes, stopping early only at end of stream.
pub(crate) fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(buf.get_mut(n..).unwrap_or_default()) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Reads the header and checks the commitment before anything else.
fn open_header(
    inst: Cobblestone,
    input_key: &[u8],
    context: &[u8],
    r: &mut impl Read,
) -> Result<MessageKeys> {
    let mut header = [0u8; HEADER_LEN];
    if read_full(r, &mut header)? < HEADER_LEN {
        return Err(Error::Header);
    }
    let (salt, commitment) = header.split_at(SALT_LEN);
    let mut s = [0u8; SALT_LEN];
    s.copy_from_slice(salt);
    let keys = MessageKeys::derive(inst, input_key, &s, context)?;
    keys.check_commitment(commitment)?;
    Ok(keys)
}

/// Streaming decryption. Each chunk is authenticated before its bytes are returned, and after
/// any error every later read fails; a truncated or extended message ends in an error after
/// the authentic prefix, so callers that need all-or-nothing must hold the output until `read`
/// returns 0 (the CLI writes beside the target and renames on success).
pub struct Decryptor<R: Read> {
    keys: MessageKeys,
    input: R,
    /// The current authenticated plaintext chunk and how much of it was returned.
    chunk: zeroize::Zeroizing<Vec<u8>>,
    pos: usize,
    /// Scratch for the next sealed chunk: only swapped into `chunk` once it authenticates.
    sealed: zeroize::Zeroizing<Vec<u8>>,
    counter: u64,
    done: bool,
    /// Set by any error: every later read fails too.
    failed: bool,
}

impl<R: Read> core::fmt::Debug for Decryptor<R> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Decryptor")
            .field("chunks_read", &self.counter)
            .finish_non_exhaustive()
    }
}

impl<R: Read> Decryptor<R> {
    /// Reads the header from `input` and checks the key commitment.
    pub fn new(inst: Cobblestone, input_key: &[u8], context: &[u8], mut input: R) -> Result<Self> {
        let keys = open_header(inst, input_key, context, &mut input)?;
        Ok(Decryptor {
            keys,
            input,
            chunk: zeroize::Zeroizing::new(Vec::with_capacity(SEALED_CHUNK_SIZE)),
            pos: 0,
            sealed: zeroize::Zeroizing::new(Vec::with_capacity(SEALED_CHUNK_SIZE)),
            counter: 0,
            done: false,
            failed: false,
        })
    }

    /// Decrypts the next chunk; a chunk shorter than full size is the last. The plaintext
    /// becomes readable only after it authenticates.
    fn next_chunk(&mut self) -> Result<()> {
        self.sealed.resize(SEALED_CHUNK_SIZE, 0);
        let n = read_full(&mut self.input, &mut self.sealed)?;
        self.sealed.truncate(n);
        if n < TAG_LEN {
            // Nothing (or less than a tag) after a full chunk: the final chunk is missing.
            return Err(Error::Truncated);
        }
        let nonce = self.keys.nonce(self.counter)?;
        let index = self.counter;
        self.keys
            .aead
            .open_in_place(&nonce, &[], &mut self.sealed)
            .map_err(|_| Error::Chunk(index))?;
        core::mem::swap(&mut self.chunk, &mut self.sealed);
        self.counter += 1;
        self.pos = 0;
        self.done = n < SEALED_CHUNK_SIZE;
        Ok(())
    }
}

impl<R: Read> Decryptor<R> {
    /// Makes the next authenticated bytes available (decrypting a chunk if the current one is
    /// used up); at the end of the message nothing is loaded.
    pub(crate) fn load(&mut self) -> io::Result<()> {
        while self.pos == self.chunk.len() {
            if self.failed {
                return Err(io::Error::from(Error::Failed));
            }
            if self.done {
                return Ok(());
            }
            if let Err(e) = self.next_chunk() {
                self.failed = true;
                return Err(e.into());
            }
        }
        Ok(())
    }

    /// The input stream, for adapters that inspect what was read.
    pub(crate) fn input_mut(&mut self) -> &mut R {
        &mut self.input
    }
}

impl<R: Read> Read for Decryptor<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        self.load()?;
        let available = self.chunk.get(self.pos..).unwrap_or_default();
        let n = available.len().min(out.len());
        if let (Some(dst), Some(src)) = (out.get_mut(..n), available.get(..n)) {
            dst.copy_from_slice(src);
        }
        self.pos += n;
        Ok(n)
    }
}

/// Random access: reads any byte range by decrypting only the chunks it covers. Opening
/// checks the commitment and authenticates the final chunk, so the plaintext length is
/// trusted before any read (the specification requires this for reads relative to the end).
pub struct RandomAccess<R: Read + Seek> {
    keys: MessageKeys,
    input: R,
    len: u64,
    chunks: u64,
}

impl<R: Read + Seek> core::fmt::Debug for RandomAccess<R> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RandomAccess")
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

impl<R: Read + Seek> RandomAccess<R> {
    /// Opens a sealed message.
    pub fn open(inst: Cobblestone, input_key: &[u8], context: &[u8], mut input: R) -> Result<Self> {
        input.seek(SeekFrom::Start(0))?;
        let keys = open_header(inst, input_key, context, &mut input)?;
        let total = input.seek(SeekFrom::End(0))?;
        let body = total.checked_sub(HEADER_LEN as u64).ok_or(Error::Header)?;
        let full = body / SEALED_CHUNK_SIZE as u64;
        let last = body % SEALED_CHUNK_SIZE as u64;
        if last < TAG_LEN as u64 {
            return Err(Error::Truncated);
        }
        let chunks = full + 1;
        let len = full * CHUNK_SIZE as u64 + last - TAG_LEN as u64;
        let mut ra = RandomAccess {
            keys,
            input,
            len,
            chunks,
        };
        ra.chunk(chunks - 1)?; // authenticates the length
        Ok(ra)
    }

    /// Plaintext length (authenticated).
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True for an empty message.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn chunk(&mut self, index: u64) -> Result<Vec<u8>> {
        let start = HEADER_LEN as u64 + index * SEALED_CHUNK_SIZE as u64;
        self.input.seek(SeekFrom::Start(start))?;
        let sealed_len = if index + 1 == self.chunks {
            (self.len - index * CHUNK_SIZE as u64) as usize + TAG_LEN
        } else {
            SEALED_CHUNK_SIZE
        };
        let mut buf = vec![0u8; sealed_len];
        if read_full(&mut self.input, &mut buf)? != sealed_len {
            return Err(Error::Truncated);
        }
        let nonce = self.keys.nonce(index)?;
        self.keys
            .aead
            .open_in_place(&nonce, &[], &mut buf)
            .map_err(|_| Error::Chunk(index))?;
        Ok(buf)
    }

    /// Reads `len` plaintext bytes from `offset`, decrypting only the chunks covered.
    pub fn read_range(&mut self, offset: u64, len: u64) -> Result<Vec<u8>> {
        let end = offset
            .checked_add(len)
            .filter(|e| *e <= self.len)
            .ok_or(Error::Range {
                offset,
                len,
                size: self.len,
            })?;
        // Grows as chunks authenticate; a huge request does not reserve memory up front.
        let mut out = Vec::with_capacity(usize::try_from(len.min(1 << 24)).unwrap_or(0));
        if len == 0 {
            return Ok(out);
        }
        let first = offset / CHUNK_SIZE as u64;
        let last = (end - 1) / CHUNK_SIZE as u64;
        for index in first..=last {
            let chunk = self.chunk(index)?;
            let base = index * CHUNK_SIZE as u64;
            let from = offset.saturating_sub(base) as usize;
            let to = (end - base).min(chunk.len() as u64) as usize;
            out.extend_from_slice(chunk.get(from..to).unwrap_or_default());
        }
        Ok(out)
    }
}
