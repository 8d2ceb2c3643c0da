//! Opening: find the stanza, check the header MAC, stream or randomly access the payload,
//! check the sender signature.

use std::io::{self, Read, Seek, SeekFrom};

use qsafe_core::kem::DecapsulationKey;
use qsafe_core::keys::{PublicKey, format_fingerprint};
use qsafe_core::secret::SecretBytes;
use qsafe_core::sig::VerifyingKey;
use qsafe_core::{hpke, kdf};

use super::stream::{HoldBack, Window};
use super::{
    FILE_KEY_LEN, FileKeys, HPKE_INFO, Header, PAYLOAD_CONTEXT, derive_keys, hpke_suite,
    signed_message,
};
use crate::chunked::{Cobblestone, Decryptor, RandomAccess};
use crate::{Error, Result};

/// The unwrapped file key of one file, known to match its header MAC.
#[derive(Debug)]
pub struct FileKey {
    pub(crate) file_key: SecretBytes,
    pub(crate) keys: FileKeys,
}

impl core::fmt::Debug for FileKeys {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("FileKeys(redacted)")
    }
}

impl Header {
    /// Finds the stanza for `key`, unwraps the file key and checks the header MAC.
    pub fn unlock(&self, key: &DecapsulationKey) -> Result<FileKey> {
        let fingerprint = PublicKey::Kem(key.encapsulation_key()?).fingerprint_bytes()?;
        let stanza = self
            .recipients
            .iter()
            .find(|r| r.fingerprint == fingerprint)
            .ok_or_else(|| Error::NoRecipient {
                key: format_fingerprint(&fingerprint),
                recipients: self.recipient_fingerprints(),
            })?;
        let suite = hpke_suite(self.suite, stanza.kem)?;
        let file_key = hpke::setup_base_receiver(&suite, &stanza.enc, key, HPKE_INFO)
            .and_then(|mut ctx| ctx.open(&stanza.fingerprint, &stanza.wrapped_key))
            .map(SecretBytes::new)
            .map_err(|_| Error::Stanza)?;
        if file_key.len() != FILE_KEY_LEN {
            return Err(Error::Stanza);
        }
        let keys = derive_keys(&file_key)?;
        let (body, mac) = self.split_mac();
        if !kdf::hmac_sha512_verify(keys.mac.expose(), &[body], mac) {
            return Err(Error::HeaderMac);
        }
        Ok(FileKey { file_key, keys })
    }

    /// The recipients' fingerprints, `sha256:<hex>`.
    pub fn recipient_fingerprints(&self) -> Vec<String> {
        self.recipients
            .iter()
            .map(|r| format_fingerprint(&r.fingerprint))
            .collect()
    }

    /// Checks that the file is signed by `vk` (by fingerprint); the signature itself is
    /// checked once the payload has been read.
    fn expect_signer(&self, vk: &VerifyingKey) -> Result<u32> {
        let signer = self.signer.as_ref().ok_or(Error::NotSigned)?;
        let expected = PublicKey::Sig(vk.clone()).fingerprint_bytes()?;
        if signer.fingerprint != expected || signer.alg != vk.algorithm() {
            return Err(Error::SignerMismatch {
                expected: format_fingerprint(&expected),
                found: format_fingerprint(&signer.fingerprint),
            });
        }
        Ok(signer.trailer_len)
    }

    /// Opens the payload that follows the header in `input` as a stream. With `verify_with`,
    /// the file must be signed by that key, and the last plaintext chunk is released only
    /// after the signature verifies.
    pub fn open_stream<'a, R: Read>(
        &self,
        key: &FileKey,
        input: R,
        verify_with: Option<&'a VerifyingKey>,
    ) -> Result<Opened<'a, R>> {
        if let Some(vk) = verify_with {
            self.expect_signer(vk)?;
        }
        let keep = usize::try_from(self.trailer_len()).map_err(|_| Error::Signature)?;
        let held = HoldBack::new(input, keep, verify_with.is_some());
        let dec = Decryptor::new(
            Cobblestone::Aes256,
            key.keys.payload.expose(),
            PAYLOAD_CONTEXT,
            held,
        )?;
        let signed_digest = match verify_with {
            Some(_) => self.signed_digest()?,
            None => Vec::new(),
        };
        Ok(Opened {
            dec,
            verify: verify_with.map(|vk| (vk, signed_digest)),
            verified: false,
            failed: false,
        })
    }

    /// Random access to the payload of a seekable file that starts with this header.
    /// Opening authenticates the final chunk (the plaintext length). The sender signature is
    /// not checked here: call [`verify_signature`] first when it matters.
    pub fn open_random<R: Read + Seek>(
        &self,
        key: &FileKey,
        mut input: R,
    ) -> Result<RandomAccess<Window<R>>> {
        let total = input.seek(SeekFrom::End(0))?;
        let end = total
            .checked_sub(self.trailer_len())
            .filter(|e| *e >= self.len())
            .ok_or(Error::Truncated)?;
        let window = Window::new(input, self.len(), end);
        RandomAccess::open(
            Cobblestone::Aes256,
            key.keys.payload.expose(),
            PAYLOAD_CONTEXT,
            window,
        )
    }
}

/// Checks the sender signature of a file by hashing its payload (no key needed but the
/// signer's). `input` is positioned just after the header.
pub fn verify_signature(header: &Header, vk: &VerifyingKey, input: impl Read) -> Result<()> {
    let keep = usize::try_from(header.expect_signer(vk)?).map_err(|_| Error::Signature)?;
    let mut held = HoldBack::new(input, keep, true);
    io::copy(&mut held, &mut io::sink())?;
    check_trailer(vk, &header.signed_digest()?, &mut held)
}

fn check_trailer<R: Read>(
    vk: &VerifyingKey,
    header_digest: &[u8],
    held: &mut HoldBack<R>,
) -> Result<()> {
    if !held.finished() {
        return Err(Error::Truncated);
    }
    let payload_digest = held.hasher.take().ok_or(Error::Signature)?.finish();
    let trailer = held.trailer();
    let (len, rest) = trailer.split_at_checked(2).ok_or(Error::Signature)?;
    let len = usize::from(u16::from_be_bytes([
        len.first().copied().unwrap_or_default(),
        len.get(1).copied().unwrap_or_default(),
    ]));
    let (sig, padding) = rest.split_at_checked(len).ok_or(Error::Signature)?;
    if padding.iter().any(|b| *b != 0) {
        return Err(Error::Signature);
    }
    vk.verify(&signed_message(header_digest, &payload_digest), &[], sig)
        .map_err(|_| Error::Signature)
}

/// A payload being decrypted. Every byte returned has been authenticated; with a required
/// signer, the final chunk's bytes are returned only after the signature verifies. After an
/// error every read fails.
pub struct Opened<'a, R: Read> {
    dec: Decryptor<HoldBack<R>>,
    verify: Option<(&'a VerifyingKey, Vec<u8>)>,
    verified: bool,
    failed: bool,
}

impl<R: Read> core::fmt::Debug for Opened<'_, R> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Opened")
            .field("verified", &self.verified)
            .finish_non_exhaustive()
    }
}

impl<R: Read> Opened<'_, R> {
    /// True once the sender signature verified.
    pub fn signature_verified(&self) -> bool {
        self.verified
    }
}

impl<R: Read> Read for Opened<'_, R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.failed {
            return Err(io::Error::from(Error::Failed));
        }
        self.dec.load()?;
        if !self.verified
            && let Some((vk, digest)) = &self.verify
            && self.dec.input_mut().finished()
        {
            // The decryptor holds the last chunk, so the payload digest is complete: release
            // nothing more unless the signature verifies.
            if let Err(e) = check_trailer(vk, digest, self.dec.input_mut()) {
                self.failed = true;
                return Err(e.into());
            }
            self.verified = true;
        }
        self.dec.read(out)
    }
}
