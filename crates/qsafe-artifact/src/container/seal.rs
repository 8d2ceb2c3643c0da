//! Sealing: header, streaming payload, optional signature trailer.

use std::io::{self, Write};

use qsafe_core::hpke;
use qsafe_core::keys::PublicKey;
use qsafe_core::registry::{Kind, Suite};
use qsafe_core::secret::{SecretBytes, random_bytes};
use qsafe_core::sig::SigningKey;

use super::header::{Recipient, Signer, trailer_len};
use super::stream::HashingWriter;
use super::{
    FILE_KEY_LEN, FileKeys, HPKE_INFO, Header, PAYLOAD_CONTEXT, check_policy, derive_keys,
    header_mac, hpke_ids, hpke_suite, signed_message,
};
use crate::chunked::{Cobblestone, Encryptor};
use crate::{Error, Result};

/// What to seal to and with.
#[derive(Debug, Clone, Copy)]
pub struct SealOptions<'a> {
    /// The suite recorded in the header; `cnsa2` admits only CNSA 2.0 algorithms.
    pub suite: &'static Suite,
    /// Recipients' KEM public keys (1 to 64).
    pub recipients: &'a [PublicKey],
    /// Sender key for the optional signature.
    pub signer: Option<&'a SigningKey>,
    /// Admit classical-only recipients and signers (refused by default).
    pub allow_classical: bool,
}

/// Seals a stream: write the plaintext, then call [`Sealer::finish`]. The header is written
/// by [`Sealer::new`]; a sealer dropped before `finish` leaves a truncated file that every
/// reader rejects.
pub struct Sealer<'a, W: Write> {
    enc: Encryptor<HashingWriter<W>>,
    signer: Option<(&'a SigningKey, Vec<u8>, u32)>,
    header: Header,
}

impl<W: Write> core::fmt::Debug for Sealer<'_, W> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Sealer")
            .field("header_len", &self.header.len())
            .finish_non_exhaustive()
    }
}

/// Seals `file_key` to one recipient: a stanza (`docs/format.md` §4).
pub(crate) fn wrap_file_key(
    suite: &'static Suite,
    pk: &PublicKey,
    file_key: &SecretBytes,
    allow_classical: bool,
) -> Result<Recipient> {
    let PublicKey::Kem(ek) = pk else {
        return Err(Error::Algorithm {
            id: pk.algorithm().id.into(),
            role: "recipient",
            why: "it is a signature key; recipients need KEM public keys".into(),
        });
    };
    check_policy(ek.algorithm(), Kind::Kem, suite, allow_classical)?;
    let (hpke_kdf, hpke_aead) = hpke_ids(suite);
    let fingerprint = pk.fingerprint_bytes()?;
    let (enc, mut ctx) =
        hpke::setup_base_sender(&hpke_suite(suite, ek.algorithm())?, ek, HPKE_INFO)?;
    let wrapped_key = ctx.seal(&fingerprint, file_key.expose())?;
    Ok(Recipient {
        kem: ek.algorithm(),
        hpke_kdf,
        hpke_aead,
        fingerprint,
        enc,
        wrapped_key,
    })
}

/// Encodes and authenticates a header.
pub(crate) fn build_header(
    suite: &'static Suite,
    recipients: Vec<Recipient>,
    signer: Option<Signer>,
    keys: &FileKeys,
) -> Result<Header> {
    let mut bytes = Header::encode_unauthenticated(suite, &recipients, signer.as_ref())?;
    let mac = header_mac(keys, &bytes);
    bytes.extend_from_slice(&mac);
    Ok(Header {
        suite,
        recipients,
        signer,
        bytes,
    })
}

impl<'a, W: Write> Sealer<'a, W> {
    /// Checks the policy, wraps a fresh file key to every recipient and writes the header.
    pub fn new(opts: &SealOptions<'a>, mut out: W) -> Result<Self> {
        let file_key = random_bytes(FILE_KEY_LEN)?;
        let recipients = opts
            .recipients
            .iter()
            .map(|pk| wrap_file_key(opts.suite, pk, &file_key, opts.allow_classical))
            .collect::<Result<Vec<_>>>()?;
        let signer = match opts.signer {
            None => None,
            Some(sk) => {
                let alg = sk.algorithm();
                check_policy(alg, Kind::Signature, opts.suite, opts.allow_classical)?;
                let fingerprint = PublicKey::Sig(sk.verifying_key()?).fingerprint_bytes()?;
                Some(Signer {
                    alg,
                    fingerprint,
                    trailer_len: trailer_len(alg)?,
                })
            }
        };
        let keys = derive_keys(&file_key)?;
        let header = build_header(opts.suite, recipients, signer, &keys)?;
        out.write_all(header.as_bytes())?;
        let enc = Encryptor::new(
            Cobblestone::Aes256,
            keys.payload.expose(),
            PAYLOAD_CONTEXT,
            HashingWriter::new(out, opts.signer.is_some()),
        )?;
        let signer = match (opts.signer, &header.signer) {
            (Some(sk), Some(s)) => Some((sk, header.signed_digest()?, s.trailer_len)),
            _ => None,
        };
        Ok(Sealer {
            enc,
            signer,
            header,
        })
    }

    /// The header as written.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Writes the final chunk and the signature trailer; returns the writer, flushed.
    pub fn finish(self) -> Result<W> {
        let HashingWriter { mut inner, hasher } = self.enc.finish()?;
        if let (Some((sk, signed_digest, len)), Some(hasher)) = (self.signer, hasher) {
            let sig = sk.sign(&signed_message(&signed_digest, &hasher.finish()), &[])?;
            let mut trailer = vec![0u8; len as usize];
            let n = u16::try_from(sig.len()).map_err(|_| Error::Signature)?;
            let body = trailer.get_mut(..2 + sig.len()).ok_or(Error::Signature)?;
            body.get_mut(..2)
                .unwrap_or_default()
                .copy_from_slice(&n.to_be_bytes());
            body.get_mut(2..).unwrap_or_default().copy_from_slice(&sig);
            inner.write_all(&trailer)?;
        }
        inner.flush()?;
        Ok(inner)
    }
}

impl<W: Write> Write for Sealer<'_, W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.enc.write(data)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.enc.flush()
    }
}
