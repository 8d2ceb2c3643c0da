//! Fuzz target `open`: the fuzz input is a whole sealed file.
//!
//! Fixed, seeded keys (so that every crash reproduces in any process): an `x-wing` recipient
//! and an `mldsa65-ed25519-sha512` signer for the default suite, plus an `mlkem1024-p384`
//! recipient and an `ml-dsa-87` signer for `cnsa2`. For each input the target parses the
//! header, unlocks it, streams the payload with and without the verifying key (from a `Cursor`
//! and from a reader that splits and interrupts reads), checks the sender signature on its own,
//! and opens it for random access and reads ranges. Nothing may panic, and:
//!
//! - a successful open with the verifying key yields exactly the known signed plaintext, and
//!   `signature_verified()` is true;
//! - every successful open yields one of the plaintexts the fixed keys were ever used for
//!   (a prefix of a fixed pattern of length 0, 2·16 KiB or 2·16 KiB + 100);
//! - streaming, random access and `verify_signature` agree with each other;
//! - the valid file made at start-up opens on every path.
//!
//! `QSAFE_FUZZ_WRITE_SEEDS=DIR` makes the first run write a seed corpus sealed to the fixed
//! keys into DIR (see README.md).

#![no_main]

use std::io::{self, Cursor, Read, Write};
use std::path::Path;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use qsafe_artifact::Error;
use qsafe_artifact::chunked::CHUNK_SIZE;
use qsafe_artifact::container::{Header, SealOptions, Sealer, verify_signature};
use qsafe_core::kem::DecapsulationKey;
use qsafe_core::keys::PublicKey;
use qsafe_core::registry::{self, Suite};
use qsafe_core::sig::{SigningKey, VerifyingKey};

/// Length of the plaintext of the valid file (and of every signed seed): two full chunks and
/// a short final one.
const PLAIN_LEN: usize = 2 * CHUNK_SIZE + 100;
/// Every plaintext length the fixed keys are ever used for.
const KNOWN_LENS: [usize; 3] = [0, 2 * CHUNK_SIZE, PLAIN_LEN];

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

fn is_known_plaintext(p: &[u8]) -> bool {
    KNOWN_LENS.contains(&p.len()) && p.iter().enumerate().all(|(i, b)| *b == (i % 251) as u8)
}

struct Fixture {
    xwing: DecapsulationKey,
    cnsa: DecapsulationKey,
    signer: SigningKey,
    signer_vk: VerifyingKey,
    cnsa_signer: SigningKey,
    cnsa_signer_vk: VerifyingKey,
    /// A valid signed file: default suite, to `xwing`, signed by `signer`, `PLAIN_LEN` bytes.
    valid: Vec<u8>,
}

fn alg(id: &str) -> &'static registry::Algorithm {
    registry::by_id(id).unwrap_or_else(|| panic!("registry has no {id}"))
}

fn suite(id: &str) -> &'static Suite {
    registry::suite(id).unwrap_or_else(|| panic!("registry has no suite {id}"))
}

fn kem_public(dk: &DecapsulationKey) -> PublicKey {
    PublicKey::Kem(dk.encapsulation_key().expect("encapsulation key"))
}

fn seal(
    suite: &'static Suite,
    to: &[PublicKey],
    signer: Option<&SigningKey>,
    plain: &[u8],
) -> Vec<u8> {
    let opts = SealOptions {
        suite,
        recipients: to,
        signer,
        allow_classical: false,
    };
    let mut s = Sealer::new(&opts, Vec::new()).expect("Sealer::new");
    s.write_all(plain).expect("seal write");
    s.finish().expect("seal finish")
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        // Fixed seeds: keys are the same in every process, so crashes reproduce.
        let xwing = DecapsulationKey::from_seed(alg("x-wing"), &[0x51; 32]).expect("x-wing key");
        let cnsa = DecapsulationKey::from_concrete_seed(alg("mlkem1024-p384"), &[0x52; 32])
            .expect("mlkem1024-p384 key");
        // Composite stored form: ML-DSA-65 seed ξ ‖ Ed25519 seed.
        let mut composite_seed = [0x53u8; 64];
        composite_seed[32..].fill(0x54);
        let signer = SigningKey::from_seed(alg("mldsa65-ed25519-sha512"), &composite_seed)
            .expect("mldsa65-ed25519-sha512 key");
        let cnsa_signer =
            SigningKey::from_seed(alg("ml-dsa-87"), &[0x55; 32]).expect("ml-dsa-87 key");
        let signer_vk = signer.verifying_key().expect("verifying key");
        let cnsa_signer_vk = cnsa_signer.verifying_key().expect("verifying key");
        let valid = seal(
            suite("default"),
            &[kem_public(&xwing)],
            Some(&signer),
            &pattern(PLAIN_LEN),
        );
        let fx = Fixture {
            xwing,
            cnsa,
            signer,
            signer_vk,
            cnsa_signer,
            cnsa_signer_vk,
            valid,
        };
        if let Some(dir) = std::env::var_os("QSAFE_FUZZ_WRITE_SEEDS") {
            write_seeds(&fx, Path::new(&dir));
        }
        fx
    })
}

/// Writes seed files sealed to the fixed keys: every valid shape the target can open, and a
/// few damaged copies that stop at each later check.
fn write_seeds(fx: &Fixture, dir: &Path) {
    std::fs::create_dir_all(dir).expect("create seed dir");
    let default = suite("default");
    let cnsa2 = suite("cnsa2");
    // A second x-wing recipient that is not ours, also seeded.
    let other = DecapsulationKey::from_seed(alg("x-wing"), &[0x56; 32]).expect("x-wing key");
    let full = pattern(PLAIN_LEN);
    let v = &fx.valid;
    let hlen = u32::from_be_bytes([v[10], v[11], v[12], v[13]]) as usize;
    let trailer = fx.signer.algorithm().sizes.signature.expect("sig size") + 2;
    let flip = |at: usize| {
        let mut f = v.clone();
        f[at] ^= 1;
        f
    };
    let seeds: Vec<(&str, Vec<u8>)> = vec![
        ("valid_signed", v.clone()),
        (
            "valid_unsigned",
            seal(default, &[kem_public(&fx.xwing)], None, &full),
        ),
        (
            "valid_two_recipients",
            seal(
                default,
                &[kem_public(&other), kem_public(&fx.xwing)],
                None,
                &full,
            ),
        ),
        (
            "valid_empty",
            seal(default, &[kem_public(&fx.xwing)], None, &[]),
        ),
        (
            "valid_exact_chunks",
            seal(
                default,
                &[kem_public(&fx.xwing)],
                None,
                &pattern(2 * CHUNK_SIZE),
            ),
        ),
        (
            "valid_cnsa2_signed",
            seal(cnsa2, &[kem_public(&fx.cnsa)], Some(&fx.cnsa_signer), &full),
        ),
        ("bad_header_mac", flip(hlen - 1)),
        ("bad_commitment", flip(hlen + 30)),
        ("bad_chunk1", flip(hlen + 56 + CHUNK_SIZE + 16 + 5)),
        ("bad_signature", flip(v.len() - trailer + 10)),
        ("bad_trailer_padding", flip(v.len() - 1)),
        ("truncated_by_one", v[..v.len() - 1].to_vec()),
        ("trailer_removed", v[..v.len() - trailer].to_vec()),
        ("header_only", v[..hlen].to_vec()),
    ];
    for (name, bytes) in seeds {
        std::fs::write(dir.join(format!("fixedkey_{name}.qsealed")), bytes).expect("write seed");
    }
    eprintln!("QSAFE_FUZZ_WRITE_SEEDS: wrote seeds to {}", dir.display());
}

/// Returns at most `step` bytes per call and reports `Interrupted` every fourth call.
struct Trickle<'a> {
    data: &'a [u8],
    pos: usize,
    step: usize,
    calls: usize,
}

impl<'a> Trickle<'a> {
    fn new(data: &'a [u8], step: usize) -> Self {
        Trickle {
            data,
            pos: 0,
            step,
            calls: 0,
        }
    }
}

impl Read for Trickle<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        self.calls += 1;
        if self.calls.is_multiple_of(4) {
            return Err(io::ErrorKind::Interrupted.into());
        }
        let rest = self.data.get(self.pos..).unwrap_or_default();
        let n = rest.len().min(out.len()).min(self.step);
        out[..n].copy_from_slice(&rest[..n]);
        self.pos += n;
        Ok(n)
    }
}

/// Streams the payload; on success returns the plaintext and `signature_verified()`.
fn stream<R: Read>(
    header: &Header,
    key: &qsafe_artifact::container::FileKey,
    input: R,
    vk: Option<&VerifyingKey>,
) -> Result<(Vec<u8>, bool), Error> {
    let mut opened = header.open_stream(key, input, vk)?;
    let mut out = Vec::new();
    opened
        .read_to_end(&mut out)
        .map_err(qsafe_artifact::unwrap_io)?;
    // After the end, reading again yields nothing and does not fail.
    let mut more = [0u8; 8];
    let n = opened.read(&mut more).map_err(qsafe_artifact::unwrap_io)?;
    assert_eq!(n, 0, "read after end returned data");
    Ok((out, opened.signature_verified()))
}

/// What succeeded, for the valid-file check.
#[derive(Default)]
struct Outcome {
    unlocked: bool,
    plain: bool,
    verified: bool,
    random: bool,
}

fn run(fx: &Fixture, data: &[u8]) -> Outcome {
    let mut outcome = Outcome::default();
    let mut cursor = Cursor::new(data);
    let header = match Header::read(&mut cursor) {
        Ok(h) => h,
        Err(e) => {
            let _ = e.to_string();
            return outcome;
        }
    };
    assert_eq!(
        cursor.position(),
        header.len(),
        "header.len() != bytes consumed"
    );
    let body = &data[header.len() as usize..];

    // Our x-wing key, else our cnsa2 key.
    let key = match header.unlock(&fx.xwing) {
        Ok(k) => k,
        Err(Error::NoRecipient { .. }) => match header.unlock(&fx.cnsa) {
            Ok(k) => k,
            Err(e) => {
                let _ = e.to_string();
                return outcome;
            }
        },
        Err(e) => {
            let _ = e.to_string();
            return outcome;
        }
    };
    outcome.unlocked = true;
    // The verifying key for the header's signer algorithm (the default signer otherwise,
    // which then must be refused as a mismatch or as "not signed").
    let vk = match &header.signer {
        Some(s) if s.alg == fx.cnsa_signer_vk.algorithm() => &fx.cnsa_signer_vk,
        _ => &fx.signer_vk,
    };

    // 1. Stream without a signer, from a Cursor and from a trickling reader.
    let plain = stream(&header, &key, Cursor::new(body), None);
    let step = 1 + (data.len().wrapping_mul(7919)) % 6000;
    let trickled = stream(&header, &key, Trickle::new(body, step), None);
    match (&plain, &trickled) {
        (Ok(a), Ok(b)) => assert_eq!(a.0, b.0, "trickled stream differs"),
        (Err(_), Err(_)) => {}
        (a, b) => panic!(
            "Cursor and trickle streams disagree: {:?} vs {:?}",
            a.as_ref().map(|p| p.0.len()),
            b.as_ref().map(|p| p.0.len())
        ),
    }
    if let Ok((p, verified)) = &plain {
        assert!(!verified, "verified without a verifying key");
        assert!(
            is_known_plaintext(p),
            "opened to an unknown plaintext of {} bytes",
            p.len()
        );
        outcome.plain = true;
    }

    // 2. Stream with the signer required.
    let verified = stream(&header, &key, Cursor::new(body), Some(vk));
    let verified_trickle = stream(&header, &key, Trickle::new(body, step), Some(vk));
    assert_eq!(
        verified.is_ok(),
        verified_trickle.is_ok(),
        "Cursor and trickle disagree with a verifying key"
    );
    if let Ok((p, flag)) = &verified {
        assert!(*flag, "signature_verified() false after a verified read");
        assert!(header.signer.is_some(), "verified an unsigned file");
        assert!(
            *p == pattern(PLAIN_LEN),
            "a verified open yielded {} bytes that are not the signed plaintext",
            p.len()
        );
        assert_eq!(
            plain.as_ref().map(|x| &x.0).ok(),
            Some(p),
            "verified open succeeded but the unverified one did not agree"
        );
        if let Ok((t, _)) = &verified_trickle {
            assert_eq!(t, p);
        }
        outcome.verified = true;
    }

    // 3. The signature on its own agrees with the verified stream.
    let sig = verify_signature(&header, vk, Cursor::new(body));
    assert_eq!(
        sig.is_ok(),
        verified.is_ok(),
        "verify_signature and the verified stream disagree: {:?} vs {:?}",
        sig.as_ref().err().map(|e| e.to_string()),
        verified.as_ref().err().map(|e| e.to_string()),
    );

    // 4. Random access over the whole file.
    let random = header.open_random(&key, Cursor::new(data));
    if plain.is_ok() {
        assert!(
            random.is_ok(),
            "stream opened but random access failed: {:?}",
            random.as_ref().err().map(|e| e.to_string())
        );
    }
    if let Ok(mut ra) = random {
        outcome.random = true;
        let n = ra.len();
        assert_eq!(ra.is_empty(), n == 0);
        if let Ok((p, _)) = &plain {
            assert_eq!(
                n,
                p.len() as u64,
                "random-access length differs from stream"
            );
        }
        let c = CHUNK_SIZE as u64;
        let half = n / 2;
        let ranges = [
            (0, n),
            (0, n.min(1)),
            (half, (n - half).min(c + 3)),
            (c.min(n).saturating_sub(1), if n > c { 2 } else { 0 }),
            (n.saturating_sub(1), n.min(1)),
            (n, 0),
        ];
        for (offset, len) in ranges {
            match ra.read_range(offset, len) {
                Ok(bytes) => {
                    assert_eq!(bytes.len() as u64, len, "read_range length");
                    if let Ok((p, _)) = &plain {
                        assert_eq!(
                            bytes.as_slice(),
                            &p[offset as usize..(offset + len) as usize],
                            "read_range({offset}, {len}) differs from the stream"
                        );
                    }
                    if (offset, len) == (0, n) {
                        // Every chunk authenticated: the stream must have opened too.
                        assert!(plain.is_ok(), "random access read all, the stream failed");
                    }
                }
                Err(e) => {
                    assert!(
                        plain.is_err(),
                        "read_range({offset}, {len}) failed on a file that streams: {e}"
                    );
                }
            }
        }
        for (offset, len) in [
            (n, 1),
            (n + 1, 0),
            (u64::MAX, 1),
            (1, u64::MAX),
            (u64::MAX, u64::MAX),
        ] {
            match ra.read_range(offset, len) {
                Err(Error::Range { .. }) => {}
                other => panic!(
                    "read_range({offset}, {len}) past the end of {n}: {:?}",
                    other.map(|b| b.len()).map_err(|e| e.to_string())
                ),
            }
        }
    }
    outcome
}

fn assert_opens(outcome: &Outcome) {
    assert!(
        outcome.unlocked && outcome.plain && outcome.verified && outcome.random,
        "the valid file failed to open"
    );
}

fuzz_target!(|data: &[u8]| {
    let fx = fixture();
    // Once per process: the target itself works (the valid file opens on every path).
    static SELF_TEST: OnceLock<()> = OnceLock::new();
    SELF_TEST.get_or_init(|| assert_opens(&run(fx, &fx.valid)));
    let outcome = run(fx, data);
    if data == fx.valid.as_slice() {
        assert_opens(&outcome);
    }
});
