//! Secret byte containers: zeroized on drop, compared in constant time, never printed.

use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// Secret bytes (shared secrets, seeds, symmetric keys).
///
/// Not `Clone`, `Display`, `Serialize` or `AsRef<[u8]>`: reading the bytes takes an explicit
/// [`SecretBytes::expose`]. `Debug` prints the length only.
#[derive(Zeroize, ZeroizeOnDrop, Default)]
pub struct SecretBytes(Vec<u8>);

impl SecretBytes {
    /// Wraps bytes; the caller's copy should itself be zeroized.
    pub fn new(bytes: Vec<u8>) -> Self {
        SecretBytes(bytes)
    }

    /// Copies from a slice.
    pub fn from_slice(bytes: &[u8]) -> Self {
        SecretBytes(bytes.to_vec())
    }

    /// The secret bytes. Keep the borrow short and never log it.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// A second copy, for the rare caller that must keep two (explicit, unlike `Clone`).
    pub fn duplicate(&self) -> Self {
        SecretBytes(self.0.clone())
    }
}

impl core::fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "SecretBytes({} bytes, redacted)", self.0.len())
    }
}

impl PartialEq for SecretBytes {
    fn eq(&self, other: &Self) -> bool {
        self.0.len() == other.0.len() && bool::from(self.0.ct_eq(&other.0))
    }
}
impl Eq for SecretBytes {}

/// Fills a fresh buffer from the operating system's CSPRNG (through aws-lc).
pub fn random_bytes(len: usize) -> crate::Result<SecretBytes> {
    let mut buf = Zeroizing::new(vec![0u8; len]);
    aws_lc_rs::rand::fill(&mut buf).map_err(|_| crate::Error::Internal("os rng"))?;
    Ok(SecretBytes(core::mem::take(&mut *buf)))
}

/// A random fixed-size array from the OS CSPRNG.
pub(crate) fn random_array<const N: usize>() -> crate::Result<Zeroizing<[u8; N]>> {
    let mut buf = Zeroizing::new([0u8; N]);
    aws_lc_rs::rand::fill(buf.as_mut()).map_err(|_| crate::Error::Internal("os rng"))?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_bytes() {
        let s = SecretBytes::from_slice(&[0xAB; 4]);
        let shown = format!("{s:?}");
        assert!(!shown.to_lowercase().contains("ab"), "{shown}");
        assert!(shown.contains("4 bytes"));
    }

    #[test]
    fn equality_is_by_value() {
        assert_eq!(
            SecretBytes::from_slice(b"abc"),
            SecretBytes::from_slice(b"abc")
        );
        assert_ne!(
            SecretBytes::from_slice(b"abc"),
            SecretBytes::from_slice(b"abd")
        );
        assert_ne!(
            SecretBytes::from_slice(b"ab"),
            SecretBytes::from_slice(b"abc")
        );
    }
}
