//! Byte-level helpers: a bounds-checked reader and length-prefixed writers.

use crate::error::{Result, SessionError};

/// Reads big-endian fields from a byte slice; every short read is `Malformed(what)`.
pub(super) struct Reader<'a> {
    rest: &'a [u8],
    what: &'static str,
}

impl<'a> Reader<'a> {
    pub(super) fn new(bytes: &'a [u8], what: &'static str) -> Self {
        Reader { rest: bytes, what }
    }

    fn err(&self) -> crate::Error {
        SessionError::Malformed(self.what).into()
    }

    pub(super) fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let (head, tail) = self.rest.split_at_checked(n).ok_or_else(|| self.err())?;
        self.rest = tail;
        Ok(head)
    }

    pub(super) fn u8(&mut self) -> Result<u8> {
        let b = self.take(1)?;
        b.first().copied().ok_or_else(|| self.err())
    }

    pub(super) fn u16(&mut self) -> Result<u16> {
        let b = self.take(2)?;
        let arr: [u8; 2] = b.try_into().map_err(|_| self.err())?;
        Ok(u16::from_be_bytes(arr))
    }

    /// A `u16`-length-prefixed byte string.
    pub(super) fn vec16(&mut self) -> Result<&'a [u8]> {
        let n = self.u16()?;
        self.take(usize::from(n))
    }

    /// Fails unless everything was read.
    pub(super) fn finish(self) -> Result<()> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(self.err())
        }
    }

    /// Bytes consumed so far, given the original input.
    pub(super) fn consumed(&self, original: &[u8]) -> usize {
        original.len() - self.rest.len()
    }
}

/// Appends a `u16`-length-prefixed byte string.
pub(super) fn put_vec16(out: &mut Vec<u8>, bytes: &[u8], what: &'static str) -> Result<()> {
    let n = u16::try_from(bytes.len()).map_err(|_| SessionError::Malformed(what))?;
    out.extend_from_slice(&n.to_be_bytes());
    out.extend_from_slice(bytes);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_is_bounds_checked() {
        let mut out = Vec::new();
        put_vec16(&mut out, b"abc", "t").unwrap();
        out.push(7);
        let mut r = Reader::new(&out, "t");
        assert_eq!(r.vec16().unwrap(), b"abc");
        assert_eq!(r.consumed(&out), 5);
        assert_eq!(r.u8().unwrap(), 7);
        assert!(r.u8().is_err());
        r.finish().unwrap();
        let mut r = Reader::new(&[0, 9, 1], "t");
        assert!(r.vec16().is_err());
        assert!(Reader::new(&[1], "t").finish().is_err());
        assert!(put_vec16(&mut out, &vec![0; 70_000], "t").is_err());
    }
}
