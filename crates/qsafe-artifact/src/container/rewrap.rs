//! Re-wrapping: the same file key, payload and signature under new recipient stanzas
//! (`docs/format.md` §4.1), for key rotation without re-encrypting the payload.

use qsafe_core::kem::DecapsulationKey;
use qsafe_core::keys::PublicKey;

use super::Header;
use super::seal::{build_header, wrap_file_key};
use crate::Result;

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
        let file_key = self.unlock(key)?.file_key;
        let stanzas = recipients
            .iter()
            .map(|pk| wrap_file_key(self.suite, pk, &file_key, allow_classical))
            .collect::<Result<Vec<_>>>()?;
        build_header(self.suite, stanzas, self.signer.clone(), &file_key)
    }
}
