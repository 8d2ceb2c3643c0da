//! Fuzz target `header`: arbitrary bytes into `container::Header::read`.
//!
//! `Header::read` must never panic. When it succeeds, the parsed header must satisfy the
//! invariants of `docs/format.md` §3, it must have consumed exactly `header.len()` bytes, and
//! parsing must not depend on how the input stream splits its reads.

#![no_main]

use std::collections::HashSet;
use std::io::{self, Cursor, Read};

use libfuzzer_sys::fuzz_target;
use qsafe_artifact::container::{Header, MAC_LEN, MAGIC, MAX_HEADER_LEN, MAX_RECIPIENTS};
use qsafe_core::registry::Kind;

/// Magic, version and header length (`docs/format.md` §3).
const PREFIX_LEN: usize = 14;

/// A reader that returns at most `step` bytes per call and reports `Interrupted` every third
/// call: `Header::read` must give the same answer as from a `Cursor`.
struct Trickle<'a> {
    data: &'a [u8],
    pos: usize,
    step: usize,
    calls: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        self.calls += 1;
        if self.calls.is_multiple_of(3) {
            return Err(io::ErrorKind::Interrupted.into());
        }
        let rest = self.data.get(self.pos..).unwrap_or_default();
        let n = rest.len().min(out.len()).min(self.step);
        out[..n].copy_from_slice(&rest[..n]);
        self.pos += n;
        Ok(n)
    }
}

fn check(data: &[u8], header: &Header, consumed: u64) {
    let len = header.len();
    assert_eq!(len, consumed, "header.len() must equal the bytes consumed");
    let bytes = header.as_bytes();
    assert_eq!(bytes.len() as u64, len);
    assert_eq!(
        bytes,
        &data[..bytes.len()],
        "as_bytes() must be the input prefix"
    );
    assert!(!header.is_empty());
    assert!(bytes.len() >= PREFIX_LEN + MAC_LEN && len <= u64::from(MAX_HEADER_LEN));
    assert_eq!(&bytes[..8], &MAGIC);
    assert_eq!(u16::from_be_bytes([bytes[8], bytes[9]]), 1);
    let declared = u32::from_be_bytes([bytes[10], bytes[11], bytes[12], bytes[13]]);
    assert_eq!(u64::from(declared), len, "header_length field");

    // Recipients: 1..=64, KEMs with HPKE ids, lengths as the registry says, no duplicates.
    assert!(!header.recipients.is_empty(), "no recipients");
    assert!(
        header.recipients.len() <= MAX_RECIPIENTS,
        "too many recipients"
    );
    let cnsa2 = header.suite.id == "cnsa2";
    let mut seen = HashSet::new();
    for r in &header.recipients {
        assert_eq!(r.kem.kind, Kind::Kem);
        assert!(r.kem.hpke_id.is_some());
        assert_eq!(Some(r.enc.len()), r.kem.sizes.ciphertext);
        assert_eq!(r.wrapped_key.len(), 32 + 16);
        assert_eq!(r.hpke_kdf, if cnsa2 { 2 } else { 1 });
        assert_eq!(r.hpke_aead, 2);
        assert!(
            seen.insert(r.fingerprint),
            "duplicate recipient fingerprint"
        );
    }
    assert_eq!(
        header.recipient_fingerprints().len(),
        header.recipients.len()
    );

    // Signer: a signature algorithm, trailer = 2 + its signature size.
    match &header.signer {
        None => assert_eq!(header.trailer_len(), 0),
        Some(s) => {
            assert_eq!(s.alg.kind, Kind::Signature);
            let sig = s
                .alg
                .sizes
                .signature
                .expect("signer without signature size");
            assert_eq!(s.trailer_len as usize, sig + 2);
            assert_eq!(header.trailer_len(), u64::from(s.trailer_len));
        }
    }

    // The exact header bytes parse again, to the same header, consuming all of them.
    let mut again = Cursor::new(bytes);
    let reparsed = Header::read(&mut again).expect("a parsed header must parse again");
    assert_eq!(again.position(), len);
    assert_eq!(reparsed.as_bytes(), bytes);
    assert_eq!(reparsed.suite.id, header.suite.id);
    assert_eq!(reparsed.recipients.len(), header.recipients.len());
    assert_eq!(reparsed.trailer_len(), header.trailer_len());
}

fuzz_target!(|data: &[u8]| {
    let mut cursor = Cursor::new(data);
    let parsed = Header::read(&mut cursor);

    // Same input through a reader that splits reads and interrupts.
    let step = 1 + data.len() % 97;
    let mut trickle = Trickle {
        data,
        pos: 0,
        step,
        calls: 0,
    };
    let trickled = Header::read(&mut trickle);

    match (&parsed, &trickled) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a.as_bytes(), b.as_bytes());
            assert_eq!(
                trickle.pos as u64,
                b.len(),
                "trickled read consumed too much"
            );
            check(data, a, cursor.position());
        }
        (Err(a), Err(b)) => {
            // Both rejected; the messages must be renderable and agree.
            assert_eq!(a.to_string(), b.to_string());
        }
        _ => panic!(
            "Cursor and trickling reader disagree: {:?} vs {:?}",
            parsed.as_ref().map(|h| h.len()),
            trickled.as_ref().map(|h| h.len())
        ),
    }
});
