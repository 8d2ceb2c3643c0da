//! Stream adapters: hash what passes, hold back a trailer, window a file.

use std::io::{self, Read, Seek, SeekFrom, Write};

use qsafe_core::symmetric::{Hash, Hasher};

/// Passes writes through, hashing them when asked to (the payload digest of a signed file).
pub(crate) struct HashingWriter<W: Write> {
    pub(crate) inner: W,
    pub(crate) hasher: Option<Hasher>,
}

impl<W: Write> HashingWriter<W> {
    pub(crate) fn new(inner: W, hash: bool) -> Self {
        HashingWriter {
            inner,
            hasher: hash.then(|| Hasher::new(Hash::Sha512)),
        }
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(data)?;
        if let Some(h) = &mut self.hasher {
            h.update(data.get(..n).unwrap_or_default());
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Withholds the last `keep` bytes of a stream (the signature trailer) and hashes the rest
/// as it is released. Reads the inner stream in large blocks.
pub(crate) struct HoldBack<R: Read> {
    inner: R,
    keep: usize,
    buf: Vec<u8>,
    start: usize,
    eof: bool,
    pub(crate) hasher: Option<Hasher>,
}

const BLOCK: usize = 256 * 1024;

impl<R: Read> HoldBack<R> {
    pub(crate) fn new(inner: R, keep: usize, hash: bool) -> Self {
        HoldBack {
            inner,
            keep,
            buf: Vec::new(),
            start: 0,
            eof: false,
            hasher: hash.then(|| Hasher::new(Hash::Sha512)),
        }
    }

    fn pending(&self) -> usize {
        self.buf.len() - self.start
    }

    /// True once the inner stream ended and everything but the trailer was released.
    pub(crate) fn finished(&self) -> bool {
        self.eof && self.pending() == self.keep
    }

    /// The withheld bytes: the trailer once [`HoldBack::finished`], or a short tail.
    pub(crate) fn trailer(&self) -> &[u8] {
        self.buf.get(self.start..).unwrap_or_default()
    }

    fn fill(&mut self) -> io::Result<()> {
        while !self.eof && self.pending() <= self.keep {
            if self.start > 0 {
                self.buf.copy_within(self.start.., 0);
                self.buf.truncate(self.buf.len() - self.start);
                self.start = 0;
            }
            let old = self.buf.len();
            self.buf.resize(old + BLOCK, 0);
            let n = loop {
                match self.inner.read(self.buf.get_mut(old..).unwrap_or_default()) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    other => break other,
                }
            };
            self.buf.truncate(old + *n.as_ref().unwrap_or(&0));
            self.eof = n? == 0;
        }
        Ok(())
    }
}

impl<R: Read> Read for HoldBack<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.keep == 0 && self.pending() == 0 && self.hasher.is_none() {
            // Nothing to withhold or hash: read straight through.
            let n = self.inner.read(out)?;
            self.eof = n == 0 && !out.is_empty();
            return Ok(n);
        }
        self.fill()?;
        let n = self.pending().saturating_sub(self.keep).min(out.len());
        let src = self.buf.get(self.start..self.start + n).unwrap_or_default();
        if let Some(dst) = out.get_mut(..n) {
            dst.copy_from_slice(src);
        }
        if let Some(h) = &mut self.hasher {
            h.update(src);
        }
        self.start += n;
        Ok(n)
    }
}

/// A read-only view of `[start, end)` of a seekable stream (the payload between header and
/// trailer), for random access.
#[derive(Debug)]
pub struct Window<R> {
    inner: R,
    start: u64,
    end: u64,
    pos: u64,
}

impl<R: Seek> Window<R> {
    /// The window `[start, end)` of `inner`.
    pub fn new(inner: R, start: u64, end: u64) -> Self {
        Window {
            inner,
            start,
            end: end.max(start),
            pos: start,
        }
    }
}

impl<R: Read + Seek> Read for Window<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let left = usize::try_from(self.end.saturating_sub(self.pos)).unwrap_or(usize::MAX);
        let want = out.len().min(left);
        if want == 0 {
            return Ok(0);
        }
        let n = self.inner.read(out.get_mut(..want).unwrap_or_default())?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl<R: Read + Seek> Seek for Window<R> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(o) => self.start.checked_add(o),
            SeekFrom::End(d) => self.end.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        }
        .filter(|t| *t >= self.start)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek outside the window"))?;
        self.pos = self.inner.seek(SeekFrom::Start(target))?;
        Ok(self.pos - self.start)
    }
}
