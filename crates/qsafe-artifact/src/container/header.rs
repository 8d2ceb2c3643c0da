//! The header: encoding and strict parsing (`docs/format.md` §3).

use std::io::Read;

use qsafe_core::registry::{self, Algorithm, Kind, Suite};
use qsafe_core::symmetric::Hash;

use super::{
    FILE_KEY_LEN, FINGERPRINT_LEN, MAC_LEN, MAGIC, MAX_HEADER_LEN, MAX_RECIPIENTS, PAYLOAD_ID,
    PREFIX_LEN, VERSION, WRAPPED_KEY_LEN, hpke_ids,
};
use crate::chunked::read_full;
use crate::{Error, Result};

/// One recipient stanza: the file key, HPKE-sealed to one public key.
#[derive(Debug, Clone)]
pub struct Recipient {
    /// The recipient's KEM.
    pub kem: &'static Algorithm,
    /// HPKE KDF id (RFC 9180 §7.2).
    pub hpke_kdf: u16,
    /// HPKE AEAD id (RFC 9180 §7.3).
    pub hpke_aead: u16,
    /// SHA-256 of the recipient's SubjectPublicKeyInfo.
    pub fingerprint: [u8; FINGERPRINT_LEN],
    /// HPKE encapsulated key.
    pub enc: Vec<u8>,
    /// The file key sealed under the HPKE context.
    pub wrapped_key: Vec<u8>,
}

/// The signer stanza: who signed, and the size of the signature trailer.
#[derive(Debug, Clone)]
pub struct Signer {
    /// Signature algorithm.
    pub alg: &'static Algorithm,
    /// SHA-256 of the signer's SubjectPublicKeyInfo.
    pub fingerprint: [u8; FINGERPRINT_LEN],
    /// Bytes of the trailer after the payload.
    pub trailer_len: u32,
}

/// A parsed header. Fields are untrusted until [`super::Header::unlock`] checks the MAC.
#[derive(Debug, Clone)]
pub struct Header {
    /// The suite the file was sealed under.
    pub suite: &'static Suite,
    /// Recipient stanzas (at least one).
    pub recipients: Vec<Recipient>,
    /// Signer stanza, if the file carries a sender signature.
    pub signer: Option<Signer>,
    /// The exact header bytes, magic through MAC.
    pub(crate) bytes: Vec<u8>,
}

/// The trailer size for a signature algorithm: a length, the signature, zero padding.
pub(crate) fn trailer_len(alg: &Algorithm) -> Result<u32> {
    alg.sizes
        .signature
        .and_then(|s| u32::try_from(s + 2).ok())
        .ok_or_else(|| Error::Algorithm {
            id: alg.id.into(),
            role: "signer",
            why: "it has no signature size".into(),
        })
}

impl Header {
    /// Total header length in bytes: the payload starts here.
    pub fn len(&self) -> u64 {
        self.bytes.len() as u64
    }

    /// Never true: a header holds at least magic, version and MAC.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The header bytes, magic through MAC.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The bytes the MAC covers, and the MAC.
    pub(crate) fn split_mac(&self) -> (&[u8], &[u8]) {
        self.bytes
            .split_at(self.bytes.len().saturating_sub(MAC_LEN))
    }

    /// Trailer bytes after the payload (0 when unsigned).
    pub fn trailer_len(&self) -> u64 {
        self.signer.as_ref().map_or(0, |s| u64::from(s.trailer_len))
    }

    /// Encodes everything but the MAC; the caller appends it.
    pub(crate) fn encode_unauthenticated(
        suite: &Suite,
        recipients: &[Recipient],
        signer: Option<&Signer>,
    ) -> Result<Vec<u8>> {
        let mut b = Vec::with_capacity(256 + recipients.len() * 1800);
        b.extend_from_slice(&MAGIC);
        b.extend_from_slice(&VERSION.to_be_bytes());
        b.extend_from_slice(&[0; 4]); // header length, patched below
        put_str8(&mut b, suite.id)?;
        put_str8(&mut b, PAYLOAD_ID)?;
        let n = u8::try_from(recipients.len())
            .ok()
            .filter(|n| (1..=MAX_RECIPIENTS).contains(&usize::from(*n)))
            .ok_or_else(|| format_err("recipients", "between 1 and 64 recipients are allowed"))?;
        b.push(n);
        for r in recipients {
            put_str8(&mut b, r.kem.id)?;
            b.extend_from_slice(&hpke_kem_id(r.kem)?.to_be_bytes());
            b.extend_from_slice(&r.hpke_kdf.to_be_bytes());
            b.extend_from_slice(&r.hpke_aead.to_be_bytes());
            b.extend_from_slice(&r.fingerprint);
            put_bytes16(&mut b, &r.enc)?;
            put_bytes16(&mut b, &r.wrapped_key)?;
        }
        put_signer(&mut b, signer)?;
        let total = u32::try_from(b.len() + MAC_LEN)
            .ok()
            .filter(|t| *t <= MAX_HEADER_LEN)
            .ok_or_else(|| format_err("header", "longer than 1 MiB"))?;
        if let Some(len) = b.get_mut(10..14) {
            len.copy_from_slice(&total.to_be_bytes());
        }
        Ok(b)
    }

    /// SHA-512 of the fields a sender signature covers (`docs/format.md` §5.2): magic,
    /// version, suite, payload and the signer stanza — not the recipient stanzas, which a
    /// re-wrap replaces.
    pub(crate) fn signed_digest(&self) -> Result<Vec<u8>> {
        let mut b = Vec::with_capacity(128);
        b.extend_from_slice(&MAGIC);
        b.extend_from_slice(&VERSION.to_be_bytes());
        put_str8(&mut b, self.suite.id)?;
        put_str8(&mut b, PAYLOAD_ID)?;
        put_signer(&mut b, self.signer.as_ref())?;
        Ok(Hash::Sha512.digest(&b))
    }

    /// Reads and parses a header, consuming exactly its bytes from `input`.
    pub fn read(input: &mut impl Read) -> Result<Header> {
        let mut prefix = [0u8; PREFIX_LEN];
        let got = read_full(input, &mut prefix)?;
        let magic = prefix.get(..MAGIC.len()).unwrap_or_default();
        if got < MAGIC.len() || magic != MAGIC {
            return Err(format_err(
                "magic",
                "not a qsafe sealed file (expected the bytes 89 51 53 46 0d 0a 1a 0a)",
            ));
        }
        if got < PREFIX_LEN {
            return Err(format_err("prefix", "truncated before the header length"));
        }
        let version = u16::from_be_bytes([prefix[8], prefix[9]]);
        if version != VERSION {
            return Err(Error::Version(version));
        }
        let total = u32::from_be_bytes([prefix[10], prefix[11], prefix[12], prefix[13]]);
        if total > MAX_HEADER_LEN || (total as usize) < PREFIX_LEN + MAC_LEN {
            return Err(format_err(
                "header_length",
                format!("{total} is outside {}..=1048576", PREFIX_LEN + MAC_LEN),
            ));
        }
        let mut bytes = vec![0u8; total as usize];
        let (head, rest) = bytes.split_at_mut(PREFIX_LEN);
        head.copy_from_slice(&prefix);
        if read_full(input, rest)? < rest.len() {
            return Err(format_err("header", "the file ends inside the header"));
        }
        Self::parse(bytes)
    }

    fn parse(bytes: Vec<u8>) -> Result<Header> {
        let body_end = bytes.len() - MAC_LEN;
        let mut c = Cursor {
            buf: bytes.get(PREFIX_LEN..body_end).unwrap_or_default(),
            pos: 0,
        };
        let suite_id = c.str8("suite")?;
        let suite = registry::suite(suite_id)
            .filter(|s| s.id == suite_id)
            .ok_or_else(|| format_err("suite", format!("unknown suite {suite_id:?}")))?;
        let payload = c.str8("payload")?;
        if payload != PAYLOAD_ID {
            return Err(format_err(
                "payload",
                format!("unknown payload encryption {payload:?} (expected {PAYLOAD_ID:?})"),
            ));
        }
        let n = c.u8("recipients")?;
        if n == 0 || usize::from(n) > MAX_RECIPIENTS {
            return Err(format_err(
                "recipients",
                format!("{n} recipients; 1 to 64 allowed"),
            ));
        }
        let mut recipients: Vec<Recipient> = Vec::with_capacity(usize::from(n));
        for i in 0..n {
            let r = parse_recipient(&mut c, i, suite)?;
            if recipients.iter().any(|o| o.fingerprint == r.fingerprint) {
                return Err(format_err(
                    format!("recipient[{i}].fingerprint"),
                    "duplicate recipient",
                ));
            }
            recipients.push(r);
        }
        let signer = match c.u8("signer")? {
            0 => None,
            1 => Some(parse_signer(&mut c)?),
            other => {
                return Err(format_err(
                    "signer",
                    format!("flag {other}; expected 0 or 1"),
                ));
            }
        };
        if c.pos != c.buf.len() {
            return Err(format_err(
                "header",
                format!("{} unexpected bytes before the MAC", c.buf.len() - c.pos),
            ));
        }
        Ok(Header {
            suite,
            recipients,
            signer,
            bytes,
        })
    }
}

fn parse_recipient(c: &mut Cursor<'_>, i: u8, suite: &Suite) -> Result<Recipient> {
    let field = |name: &str| format!("recipient[{i}].{name}");
    let id = c.str8(&field("kem"))?;
    let kem = registry::by_id(id)
        .filter(|a| a.id == id && a.kind == Kind::Kem)
        .ok_or_else(|| {
            format_err(
                field("kem"),
                format!("{id:?} is not a KEM this build knows"),
            )
        })?;
    let hpke_kem = c.u16(&field("hpke_kem"))?;
    if Some(hpke_kem) != kem.hpke_id {
        return Err(format_err(
            field("hpke_kem"),
            format!("0x{hpke_kem:04x} is not the HPKE id of {}", kem.id),
        ));
    }
    let hpke_kdf = c.u16(&field("hpke_kdf"))?;
    let hpke_aead = c.u16(&field("hpke_aead"))?;
    if (hpke_kdf, hpke_aead) != hpke_ids(suite) {
        return Err(format_err(
            field("hpke_kdf"),
            format!(
                "HPKE KDF 0x{hpke_kdf:04x} / AEAD 0x{hpke_aead:04x} do not match suite {}",
                suite.id
            ),
        ));
    }
    let mut fingerprint = [0u8; FINGERPRINT_LEN];
    fingerprint.copy_from_slice(c.take(FINGERPRINT_LEN, &field("fingerprint"))?);
    let enc = c.bytes16(&field("enc"))?.to_vec();
    if Some(enc.len()) != kem.sizes.ciphertext {
        return Err(format_err(
            field("enc"),
            format!(
                "{} bytes; {} encapsulations are {:?}",
                enc.len(),
                kem.id,
                kem.sizes.ciphertext
            ),
        ));
    }
    let wrapped_key = c.bytes16(&field("wrapped_key"))?.to_vec();
    if wrapped_key.len() != WRAPPED_KEY_LEN {
        return Err(format_err(
            field("wrapped_key"),
            format!("{} bytes; expected {WRAPPED_KEY_LEN}", wrapped_key.len()),
        ));
    }
    Ok(Recipient {
        kem,
        hpke_kdf,
        hpke_aead,
        fingerprint,
        enc,
        wrapped_key,
    })
}

fn parse_signer(c: &mut Cursor<'_>) -> Result<Signer> {
    let id = c.str8("signer.alg")?;
    let alg = registry::by_id(id)
        .filter(|a| a.id == id && a.kind == Kind::Signature)
        .ok_or_else(|| {
            format_err(
                "signer.alg",
                format!("{id:?} is not a signature algorithm this build knows"),
            )
        })?;
    let mut fingerprint = [0u8; FINGERPRINT_LEN];
    fingerprint.copy_from_slice(c.take(FINGERPRINT_LEN, "signer.fingerprint")?);
    let len = c.u32("signer.trailer_length")?;
    let expected = trailer_len(alg)?;
    if len != expected {
        return Err(format_err(
            "signer.trailer_length",
            format!("{len}; {} trailers are {expected} bytes", alg.id),
        ));
    }
    Ok(Signer {
        alg,
        fingerprint,
        trailer_len: len,
    })
}

pub(crate) fn hpke_kem_id(kem: &Algorithm) -> Result<u16> {
    kem.hpke_id.ok_or_else(|| Error::Algorithm {
        id: kem.id.into(),
        role: "recipient KEM",
        why: "it has no HPKE KEM id".into(),
    })
}

pub(crate) fn format_err(field: impl Into<String>, problem: impl Into<String>) -> Error {
    Error::Format {
        field: field.into(),
        problem: problem.into(),
    }
}

fn put_str8(b: &mut Vec<u8>, s: &str) -> Result<()> {
    let n = u8::try_from(s.len()).map_err(|_| format_err("id", "longer than 255 bytes"))?;
    b.push(n);
    b.extend_from_slice(s.as_bytes());
    Ok(())
}

fn put_signer(b: &mut Vec<u8>, signer: Option<&Signer>) -> Result<()> {
    match signer {
        None => b.push(0),
        Some(s) => {
            b.push(1);
            put_str8(b, s.alg.id)?;
            b.extend_from_slice(&s.fingerprint);
            b.extend_from_slice(&s.trailer_len.to_be_bytes());
        }
    }
    Ok(())
}

fn put_bytes16(b: &mut Vec<u8>, v: &[u8]) -> Result<()> {
    let n = u16::try_from(v.len()).map_err(|_| format_err("field", "longer than 65535 bytes"))?;
    b.extend_from_slice(&n.to_be_bytes());
    b.extend_from_slice(v);
    Ok(())
}

/// A bounds-checked reader over the header body; every error names the field.
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, field: &str) -> Result<&'a [u8]> {
        let out = self
            .pos
            .checked_add(n)
            .and_then(|end| self.buf.get(self.pos..end))
            .ok_or_else(|| format_err(field, "truncated"))?;
        self.pos += n;
        Ok(out)
    }

    fn u8(&mut self, field: &str) -> Result<u8> {
        Ok(self.take(1, field)?.first().copied().unwrap_or_default())
    }

    fn u16(&mut self, field: &str) -> Result<u16> {
        let mut a = [0u8; 2];
        a.copy_from_slice(self.take(2, field)?);
        Ok(u16::from_be_bytes(a))
    }

    fn u32(&mut self, field: &str) -> Result<u32> {
        let mut a = [0u8; 4];
        a.copy_from_slice(self.take(4, field)?);
        Ok(u32::from_be_bytes(a))
    }

    fn str8(&mut self, field: &str) -> Result<&'a str> {
        let n = usize::from(self.u8(field)?);
        let raw = self.take(n, field)?;
        let ok = !raw.is_empty()
            && raw
                .iter()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-');
        if !ok {
            return Err(format_err(field, "not an id of [a-z0-9-]"));
        }
        core::str::from_utf8(raw).map_err(|_| format_err(field, "not ASCII"))
    }

    fn bytes16(&mut self, field: &str) -> Result<&'a [u8]> {
        let n = usize::from(self.u16(field)?);
        self.take(n, field)
    }
}

const _: () = assert!(WRAPPED_KEY_LEN == FILE_KEY_LEN + 16);
