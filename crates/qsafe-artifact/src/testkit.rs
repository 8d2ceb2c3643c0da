//! Hostile-input testkit for the sealed container: well-formed files damaged in every field
//! and every payload position that `docs/format.md` names, each with the outcome a reader
//! must give. `cargo run -p qsafe-artifact --features testkit --example testkit -- DIR`
//! writes the kit; `crates/qsafe-cli/tests/testkit.rs` runs `qsafe open` on every case.
//!
//! The generator walks headers with its own reading of `docs/format.md` §3 (not the
//! library's parser), so a parser bug does not hide itself.

use std::io::Write;

use qsafe_core::kem::DecapsulationKey;
use qsafe_core::keys::{PrivateKey, PublicKey};
use qsafe_core::registry::{self, Suite};

use crate::chunked::{CHUNK_SIZE, HEADER_LEN as PAYLOAD_HEADER, SEALED_CHUNK_SIZE};
use crate::container::{SealOptions, Sealer};
use crate::{Error, Result};

/// Which private key a case is opened with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenKey {
    /// The x-wing recipient every default-suite file is sealed to.
    Recipient,
    /// An x-wing key the files are not sealed to.
    Stranger,
    /// The mlkem1024-p384 recipient of the cnsa2 files.
    Cnsa,
}

/// Which public key `--verify-with` names, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerifyWith {
    /// The signer of the signed files.
    Signer,
    /// A signature key that signed nothing.
    OtherSigner,
}

/// One case: a file, how to open it, and what must happen.
#[derive(Debug, Clone)]
pub struct Case {
    /// `<area>_<condition>`.
    pub name: String,
    /// The file's bytes.
    pub bytes: Vec<u8>,
    /// Key to open with.
    pub key: OpenKey,
    /// Signer to require.
    pub verify_with: Option<VerifyWith>,
    /// Exit code `qsafe open` must give (0: success, output = [`Kit::plaintext`] or empty).
    pub exit: u8,
    /// Text the error message must contain (empty for success).
    pub message: &'static str,
    /// True when a success must reproduce the empty plaintext.
    pub empty_plaintext: bool,
}

/// The kit: keys and cases.
#[derive(Debug)]
pub struct Kit {
    /// x-wing recipient (all default-suite files).
    pub recipient: PrivateKey,
    /// x-wing key no file is sealed to.
    pub stranger: PrivateKey,
    /// mlkem1024-p384 recipient (cnsa2 files).
    pub cnsa: PrivateKey,
    /// Signer (mldsa65-ed25519-sha512).
    pub signer: PrivateKey,
    /// A signature key that signed nothing.
    pub other_signer: PrivateKey,
    /// The plaintext of every non-empty file.
    pub plaintext: Vec<u8>,
    /// The cases.
    pub cases: Vec<Case>,
}

const MALFORMED: &str = "malformed header";
const VERSION: &str = "unsupported container version";
const NO_STANZA: &str = "no recipient stanza matches this key";
const STANZA: &str = "recipient stanza for this key failed to decrypt";
const MAC: &str = "header authentication failed";
const COMMITMENT: &str = "header check failed";
const TRUNCATED: &str = "truncated";
const NOT_SIGNED: &str = "carries no sender signature";
const MISMATCH: &str = "was signed by";
const SIGNATURE: &str = "sender signature does not verify";

/// Number of plaintext chunks in the base files: five full and a short final one.
const CHUNKS: usize = 6;

fn chunk_err(i: usize) -> &'static str {
    // Leaked once per index; the kit is built once per process.
    Box::leak(format!("chunk {i} failed authentication").into_boxed_str())
}

/// A header field as `docs/format.md` §3 lays it out.
#[derive(Debug, Clone)]
struct Field {
    name: String,
    start: usize,
    len: usize,
    /// What flipping a byte of it must cause.
    expect: &'static str,
}

/// Walks a header per `docs/format.md` §3, independently of the library's parser.
fn fields(h: &[u8]) -> Vec<Field> {
    let mut out = Vec::new();
    let mut at = 0usize;
    let mut push = |name: &str, len: usize, expect: &'static str, at: &mut usize| {
        out.push(Field {
            name: name.into(),
            start: *at,
            len,
            expect,
        });
        *at += len;
    };
    let byte = |i: usize| usize::from(h.get(i).copied().unwrap_or_default());
    let be16 = |i: usize| byte(i) << 8 | byte(i + 1);
    push("magic", 8, MALFORMED, &mut at);
    push("version", 2, VERSION, &mut at);
    push("header_length", 4, MALFORMED, &mut at);
    for name in ["suite", "payload"] {
        let n = byte(at);
        push(&format!("{name}_length"), 1, MALFORMED, &mut at);
        push(&format!("{name}_id"), n, MALFORMED, &mut at);
    }
    let count = byte(at);
    push("recipient_count", 1, MALFORMED, &mut at);
    for i in 0..count {
        let n = byte(at);
        push(&format!("recipient{i}_kem_length"), 1, MALFORMED, &mut at);
        push(&format!("recipient{i}_kem_id"), n, MALFORMED, &mut at);
        push(&format!("recipient{i}_hpke_kem"), 2, MALFORMED, &mut at);
        push(&format!("recipient{i}_hpke_kdf"), 2, MALFORMED, &mut at);
        push(&format!("recipient{i}_hpke_aead"), 2, MALFORMED, &mut at);
        push(&format!("recipient{i}_fingerprint"), 32, NO_STANZA, &mut at);
        let n = be16(at);
        push(&format!("recipient{i}_enc_length"), 2, MALFORMED, &mut at);
        push(&format!("recipient{i}_enc"), n, STANZA, &mut at);
        let n = be16(at);
        push(
            &format!("recipient{i}_wrapped_key_length"),
            2,
            MALFORMED,
            &mut at,
        );
        push(&format!("recipient{i}_wrapped_key"), n, STANZA, &mut at);
    }
    let signed = byte(at) == 1;
    push("signer_flag", 1, MALFORMED, &mut at);
    if signed {
        let n = byte(at);
        push("signer_alg_length", 1, MALFORMED, &mut at);
        push("signer_alg_id", n, MALFORMED, &mut at);
        push("signer_fingerprint", 32, MAC, &mut at);
        push("signer_trailer_length", 4, MALFORMED, &mut at);
    }
    push("mac", 64, MAC, &mut at);
    out
}

fn header_len(file: &[u8]) -> usize {
    let mut b = [0u8; 4];
    b.copy_from_slice(file.get(10..14).unwrap_or(&[0; 4]));
    u32::from_be_bytes(b) as usize
}

fn flip(file: &[u8], at: usize, mask: u8) -> Vec<u8> {
    let mut v = file.to_vec();
    if let Some(b) = v.get_mut(at) {
        *b ^= mask;
    }
    v
}

fn splice(file: &[u8], at: usize, remove: usize, insert: &[u8]) -> Vec<u8> {
    let mut v = file.to_vec();
    let end = (at + remove).min(v.len());
    v.splice(at.min(end)..end, insert.iter().copied());
    v
}

/// Byte range of payload chunk `i` (0-based) in a file with header length `h`.
fn chunk_range(h: usize, i: usize, payload_len: usize) -> (usize, usize) {
    let start = h + PAYLOAD_HEADER + i * SEALED_CHUNK_SIZE;
    (start, (start + SEALED_CHUNK_SIZE).min(h + payload_len))
}

fn seal(
    suite: &'static Suite,
    to: &[&PrivateKey],
    signer: Option<&PrivateKey>,
    plain: &[u8],
) -> Result<Vec<u8>> {
    let recipients = to
        .iter()
        .map(|k| k.public_key())
        .collect::<qsafe_core::Result<Vec<PublicKey>>>()?;
    let sk = match signer {
        Some(PrivateKey::Sig(sk)) => Some(sk),
        _ => None,
    };
    let opts = SealOptions {
        suite,
        recipients: &recipients,
        signer: sk,
        allow_classical: false,
    };
    let mut s = Sealer::new(&opts, Vec::new())?;
    s.write_all(plain)?;
    s.finish()
}

fn key(id: &str) -> Result<PrivateKey> {
    let alg = registry::by_id(id).ok_or(Error::Failed)?;
    Ok(PrivateKey::generate(alg)?)
}

impl Kit {
    /// Generates fresh keys, base files, and every case.
    pub fn generate() -> Result<Kit> {
        let recipient = key("x-wing")?;
        let stranger = key("x-wing")?;
        let cnsa = key("mlkem1024-p384")?;
        let signer = key("mldsa65-ed25519-sha512")?;
        let other_signer = key("mldsa65-ed25519-sha512")?;
        let plaintext: Vec<u8> = (0..(CHUNKS - 1) * CHUNK_SIZE + 100)
            .map(|i| (i % 251) as u8)
            .collect();
        let default = registry::suite("default").ok_or(Error::Failed)?;
        let cnsa2 = registry::suite("cnsa2").ok_or(Error::Failed)?;
        let unsigned = seal(default, &[&recipient], None, &plaintext)?;
        let unsigned2 = seal(default, &[&recipient], None, &plaintext)?;
        let signed = seal(default, &[&recipient], Some(&signer), &plaintext)?;
        let signed2 = seal(default, &[&recipient], Some(&signer), &plaintext)?;
        let two = seal(default, &[&stranger, &recipient], None, &plaintext)?;
        let cnsa_file = seal(cnsa2, &[&cnsa], None, &plaintext)?;
        let empty = seal(default, &[&recipient], None, &[])?;
        let exact = seal(
            default,
            &[&recipient],
            None,
            plaintext.get(..3 * CHUNK_SIZE).unwrap_or_default(),
        )?;

        let mut kit = Kit {
            recipient,
            stranger,
            cnsa,
            signer,
            other_signer,
            plaintext,
            cases: Vec::new(),
        };
        let b = Builder {
            cases: &mut kit.cases,
        };
        b.run(&Bases {
            unsigned,
            unsigned2,
            signed,
            signed2,
            two,
            cnsa: cnsa_file,
            empty,
            exact,
        });
        Ok(kit)
    }
}

struct Bases {
    unsigned: Vec<u8>,
    unsigned2: Vec<u8>,
    signed: Vec<u8>,
    signed2: Vec<u8>,
    two: Vec<u8>,
    cnsa: Vec<u8>,
    empty: Vec<u8>,
    exact: Vec<u8>,
}

struct Builder<'a> {
    cases: &'a mut Vec<Case>,
}

impl Builder<'_> {
    /// Adds a case; the returned reference amends it (key, signer).
    fn add(
        &mut self,
        name: impl Into<String>,
        bytes: Vec<u8>,
        exit: u8,
        message: &'static str,
    ) -> &mut Case {
        self.cases.push(Case {
            name: name.into(),
            bytes,
            key: OpenKey::Recipient,
            verify_with: None,
            exit,
            message,
            empty_plaintext: false,
        });
        let at = self.cases.len() - 1;
        #[expect(clippy::indexing_slicing, reason = "the case was just pushed")]
        &mut self.cases[at]
    }

    fn bad(&mut self, name: impl Into<String>, bytes: Vec<u8>, message: &'static str) -> &mut Case {
        self.add(name, bytes, 3, message)
    }

    fn run(mut self, f: &Bases) {
        self.valid(f);
        self.magic_and_version(f);
        self.header_fields(f);
        self.structure(f);
        self.payload(f);
        self.signatures(f);
    }

    fn valid(&mut self, f: &Bases) {
        self.add("valid_unsigned", f.unsigned.clone(), 0, "");
        self.add("valid_signed_without_verify", f.signed.clone(), 0, "");
        self.add("valid_signed", f.signed.clone(), 0, "")
            .verify_with = Some(VerifyWith::Signer);
        self.add("valid_second_of_two_recipients", f.two.clone(), 0, "");
        self.add("valid_cnsa2", f.cnsa.clone(), 0, "").key = OpenKey::Cnsa;
        self.add("valid_empty", f.empty.clone(), 0, "")
            .empty_plaintext = true;
        self.add("key_not_a_recipient", f.unsigned.clone(), 3, NO_STANZA)
            .key = OpenKey::Stranger;
        self.add("key_other_algorithm", f.unsigned.clone(), 3, NO_STANZA)
            .key = OpenKey::Cnsa;
    }

    fn magic_and_version(&mut self, f: &Bases) {
        let u = &f.unsigned;
        for i in 0..8 {
            self.bad(
                format!("magic_byte{i}_flipped"),
                flip(u, i, 0x20),
                MALFORMED,
            );
        }
        self.bad("magic_empty_file", Vec::new(), MALFORMED);
        self.bad(
            "magic_only_4_bytes",
            u.get(..4).unwrap_or_default().to_vec(),
            MALFORMED,
        );
        self.bad("magic_text_file", b"hello, world\n".to_vec(), MALFORMED);
        self.bad(
            "magic_age_file",
            b"age-encryption.org/v1\n-> X25519 abc\n".to_vec(),
            MALFORMED,
        );
        self.bad(
            "magic_only",
            u.get(..8).unwrap_or_default().to_vec(),
            MALFORMED,
        );
        for (name, v) in [("0", 0u16), ("2", 2), ("256", 256), ("65535", 0xffff)] {
            self.bad(
                format!("version_{name}"),
                splice(u, 8, 2, &v.to_be_bytes()),
                VERSION,
            );
        }
    }

    /// Flips the first, middle and last byte of every header field of the unsigned, signed
    /// and two-recipient files.
    fn header_fields(&mut self, f: &Bases) {
        for (file_name, file, verify) in [
            ("unsigned", &f.unsigned, None),
            ("signed", &f.signed, Some(VerifyWith::Signer)),
            ("tworecipients", &f.two, None),
        ] {
            let h = header_len(file);
            for field in fields(file.get(..h).unwrap_or_default()) {
                // The two-recipient file: only the stanza of the key used matters.
                if file_name == "tworecipients" && !field.name.starts_with("recipient") {
                    continue;
                }
                let mut positions = vec![field.start, field.start + field.len / 2];
                positions.push(field.start + field.len.saturating_sub(1));
                positions.dedup();
                for (k, at) in positions.into_iter().enumerate() {
                    let label = ["first", "middle", "last"].get(k).copied().unwrap_or("x");
                    let mut expect = field.expect;
                    // A stranger's stanza, damaged, does not stop our key from opening;
                    // the header MAC does.
                    if file_name == "tworecipients"
                        && field.name.starts_with("recipient0_")
                        && matches!(expect, NO_STANZA | STANZA)
                    {
                        expect = MAC;
                    }
                    if field.name.ends_with("_id") || field.name.ends_with("kem_length") {
                        // A changed id or length is unknown (or shifts every later field).
                        expect = MALFORMED;
                    }
                    self.bad(
                        format!("header_{file_name}_{}_{label}_byte_flipped", field.name),
                        flip(file, at, 0x01),
                        expect,
                    )
                    .verify_with = verify;
                }
            }
        }
    }

    fn structure(&mut self, f: &Bases) {
        let u = &f.unsigned;
        let h = header_len(u);
        let len = |v: u32| splice(u, 10, 4, &v.to_be_bytes());
        self.bad("header_length_zero", len(0), MALFORMED);
        self.bad("header_length_below_minimum", len(77), MALFORMED);
        self.bad("header_length_over_1mib", len((1 << 20) + 1), MALFORMED);
        self.bad("header_length_max", len(u32::MAX), MALFORMED);
        self.bad(
            "header_length_past_eof",
            len(u.len() as u32 + 100)
                .get(..u.len())
                .unwrap_or_default()
                .to_vec(),
            MALFORMED,
        );
        self.bad("header_length_minus_one", len(h as u32 - 1), MALFORMED);
        self.bad("header_length_plus_one", len(h as u32 + 1), MALFORMED);
        self.bad(
            "header_truncated_in_mac",
            u.get(..h - 10).unwrap_or_default().to_vec(),
            MALFORMED,
        );
        self.bad(
            "header_truncated_in_stanza",
            u.get(..200).unwrap_or_default().to_vec(),
            MALFORMED,
        );
        self.bad(
            "header_truncated_after_prefix",
            u.get(..14).unwrap_or_default().to_vec(),
            MALFORMED,
        );
        // Field-level edits (re-encoded lengths, original MAC).
        let suite_at = 14;
        let replace_str = |at: usize, old: &[u8], new: &[u8]| {
            let mut v = splice(
                u,
                at,
                1 + old.len(),
                &[&[new.len() as u8][..], new].concat(),
            );
            let nh = (h + new.len()).saturating_sub(old.len()) as u32;
            if let Some(b) = v.get_mut(10..14) {
                b.copy_from_slice(&nh.to_be_bytes());
            }
            v
        };
        self.bad(
            "suite_unknown",
            replace_str(suite_at, b"default", b"classic"),
            MALFORMED,
        );
        self.bad(
            "suite_uppercase",
            replace_str(suite_at, b"default", b"DEFAULT"),
            MALFORMED,
        );
        self.bad(
            "suite_empty",
            replace_str(suite_at, b"default", b""),
            MALFORMED,
        );
        self.bad(
            "suite_cnsa2_relabelled",
            replace_str(suite_at, b"default", b"cnsa2"),
            MALFORMED,
        );
        let payload_at = suite_at + 8;
        self.bad(
            "payload_cobblestone128",
            replace_str(payload_at, b"cobblestone-256", b"cobblestone-128"),
            MALFORMED,
        );
        self.bad(
            "payload_empty_id",
            replace_str(payload_at, b"cobblestone-256", b""),
            MALFORMED,
        );
        let count_at = payload_at + 16;
        self.bad("recipients_zero", splice(u, count_at, 1, &[0]), MALFORMED);
        self.bad("recipients_65", splice(u, count_at, 1, &[65]), MALFORMED);
        self.bad(
            "recipients_two_declared_one_present",
            splice(u, count_at, 1, &[2]),
            MALFORMED,
        );
        let kem_at = count_at + 1;
        self.bad(
            "recipient_kem_unknown",
            replace_str(kem_at, b"x-wing", b"y-wing"),
            MALFORMED,
        );
        self.bad(
            "recipient_kem_is_signature",
            replace_str(kem_at, b"x-wing", b"ml-dsa-65"),
            MALFORMED,
        );
        self.bad(
            "recipient_kem_other_kem",
            replace_str(kem_at, b"x-wing", b"ml-kem-768"),
            MALFORMED,
        );
        let stanza_len = h - 64 - 1 - kem_at;
        let stanza = u
            .get(kem_at..kem_at + stanza_len)
            .unwrap_or_default()
            .to_vec();
        let mut dup = splice(u, kem_at, 0, &stanza);
        if let Some(b) = dup.get_mut(count_at) {
            *b = 2;
        }
        let dh = (h + stanza_len) as u32;
        if let Some(b) = dup.get_mut(10..14) {
            b.copy_from_slice(&dh.to_be_bytes());
        }
        self.bad("recipient_duplicated", dup, MALFORMED);
        let flag_at = h - 65;
        self.bad("signer_flag_2", splice(u, flag_at, 1, &[2]), MALFORMED);
        self.bad("signer_flag_255", splice(u, flag_at, 1, &[255]), MALFORMED);
        self.bad(
            "signer_flag_set_without_stanza",
            splice(u, flag_at, 1, &[1]),
            MALFORMED,
        );
        let mut extra = splice(u, flag_at + 1, 0, &[0]);
        if let Some(b) = extra.get_mut(10..14) {
            b.copy_from_slice(&(h as u32 + 1).to_be_bytes());
        }
        self.bad("header_extra_byte_before_mac", extra, MALFORMED);
        self.bad("mac_zeroed", splice(u, h - 64, 64, &[0; 64]), MAC);
        // The MAC of another file with the same recipient.
        let other_mac = f.unsigned2.get(h - 64..h).unwrap_or_default().to_vec();
        self.bad(
            "mac_from_other_file",
            splice(u, h - 64, 64, &other_mac),
            MAC,
        );
        // A whole header from another file (another file key) in front of this payload.
        let h2 = header_len(&f.unsigned2);
        let mut swapped = f.unsigned2.get(..h2).unwrap_or_default().to_vec();
        swapped.extend_from_slice(u.get(h..).unwrap_or_default());
        self.bad("splice_header_from_other_file", swapped, COMMITMENT);
    }

    fn payload(&mut self, f: &Bases) {
        let u = &f.unsigned;
        let h = header_len(u);
        let p = u.len() - h;
        self.bad(
            "payload_missing",
            u.get(..h).unwrap_or_default().to_vec(),
            COMMITMENT,
        );
        self.bad("payload_salt_flipped", flip(u, h, 0x01), COMMITMENT);
        self.bad(
            "payload_salt_last_byte_flipped",
            flip(u, h + 23, 0x80),
            COMMITMENT,
        );
        self.bad(
            "payload_commitment_flipped",
            flip(u, h + 24, 0x01),
            COMMITMENT,
        );
        self.bad(
            "payload_commitment_last_byte_flipped",
            flip(u, h + 55, 0x80),
            COMMITMENT,
        );
        self.bad(
            "payload_truncated_in_salt",
            u.get(..h + 10).unwrap_or_default().to_vec(),
            COMMITMENT,
        );
        for i in 0..CHUNKS {
            let (s, e) = chunk_range(h, i, p);
            let msg = chunk_err(i);
            self.bad(
                format!("chunk{i}_first_byte_flipped"),
                flip(u, s, 0x01),
                msg,
            );
            self.bad(
                format!("chunk{i}_middle_byte_flipped"),
                flip(u, (s + e) / 2, 0x10),
                msg,
            );
            self.bad(
                format!("chunk{i}_tag_last_byte_flipped"),
                flip(u, e - 1, 0x80),
                msg,
            );
            // Truncation at every chunk boundary (before chunk i) and inside chunk i.
            let before = u.get(..s).unwrap_or_default().to_vec();
            self.bad(format!("truncate_before_chunk{i}"), before, TRUNCATED);
            self.bad(
                format!("truncate_inside_chunk{i}"),
                u.get(..s + 20).unwrap_or_default().to_vec(),
                msg,
            );
        }
        self.bad(
            "truncate_last_byte",
            u.get(..u.len() - 1).unwrap_or_default().to_vec(),
            chunk_err(CHUNKS - 1),
        );
        let (f0s, f0e) = chunk_range(h, 0, p);
        let (f1s, f1e) = chunk_range(h, 1, p);
        let (ls, le) = chunk_range(h, CHUNKS - 1, p);
        let c0 = u.get(f0s..f0e).unwrap_or_default().to_vec();
        let c1 = u.get(f1s..f1e).unwrap_or_default().to_vec();
        let last = u.get(ls..le).unwrap_or_default().to_vec();
        self.bad(
            "final_chunk_missing",
            u.get(..ls).unwrap_or_default().to_vec(),
            TRUNCATED,
        );
        self.bad(
            "final_chunk_duplicated",
            [u.as_slice(), &last].concat(),
            chunk_err(CHUNKS - 1),
        );
        self.bad("chunk0_duplicated", splice(u, f1s, 0, &c0), chunk_err(1));
        self.bad(
            "chunks_0_1_swapped",
            splice(u, f0s, f1e - f0s, &[c1.as_slice(), &c0].concat()),
            chunk_err(0),
        );
        self.bad(
            "chunk_dropped_middle",
            splice(u, f1s, f1e - f1s, &[]),
            chunk_err(1),
        );
        self.bad(
            "final_chunk_moved_first",
            [
                u.get(..f0s).unwrap_or_default(),
                &last,
                u.get(f0s..ls).unwrap_or_default(),
            ]
            .concat(),
            chunk_err(0),
        );
        // Chunk 2 from another file sealed to the same key (another file key).
        let (o2s, o2e) = chunk_range(
            header_len(&f.unsigned2),
            2,
            f.unsigned2.len() - header_len(&f.unsigned2),
        );
        let (c2s, c2e) = chunk_range(h, 2, p);
        self.bad(
            "splice_chunk2_from_other_file",
            splice(
                u,
                c2s,
                c2e - c2s,
                f.unsigned2.get(o2s..o2e).unwrap_or_default(),
            ),
            chunk_err(2),
        );
        // The whole payload of another file under this header.
        let h2 = header_len(&f.unsigned2);
        self.bad(
            "splice_payload_from_other_file",
            [
                u.get(..h).unwrap_or_default(),
                f.unsigned2.get(h2..).unwrap_or_default(),
            ]
            .concat(),
            COMMITMENT,
        );
        self.bad(
            "trailing_1_byte",
            [u.as_slice(), &[0]].concat(),
            chunk_err(CHUNKS - 1),
        );
        self.bad(
            "trailing_16_bytes",
            [u.as_slice(), &[0xaa; 16]].concat(),
            chunk_err(CHUNKS - 1),
        );
        self.bad(
            "trailing_full_chunk",
            [u.as_slice(), &vec![0u8; SEALED_CHUNK_SIZE]].concat(),
            chunk_err(CHUNKS - 1),
        );
        // A plaintext that is a whole number of chunks ends in an empty final chunk.
        let eh = header_len(&f.exact);
        self.bad(
            "exact_final_empty_chunk_missing",
            f.exact
                .get(..f.exact.len() - 16)
                .unwrap_or_default()
                .to_vec(),
            TRUNCATED,
        );
        self.bad(
            "exact_final_empty_chunk_flipped",
            flip(&f.exact, f.exact.len() - 1, 1),
            chunk_err(3),
        );
        self.bad(
            "exact_truncate_at_header",
            f.exact.get(..eh).unwrap_or_default().to_vec(),
            COMMITMENT,
        );
        let em = header_len(&f.empty);
        self.bad(
            "empty_final_chunk_missing",
            f.empty
                .get(..em + PAYLOAD_HEADER)
                .unwrap_or_default()
                .to_vec(),
            TRUNCATED,
        );
        self.bad(
            "empty_final_chunk_flipped",
            flip(&f.empty, f.empty.len() - 1, 1),
            chunk_err(0),
        );
        let c = &f.cnsa;
        let ch = header_len(c);
        self.bad(
            "cnsa2_chunk0_flipped",
            flip(c, ch + PAYLOAD_HEADER, 1),
            chunk_err(0),
        )
        .key = OpenKey::Cnsa;
        let enc = fields(c.get(..ch).unwrap_or_default())
            .into_iter()
            .find(|f| f.name == "recipient0_enc")
            .map_or(0, |f| f.start + 100);
        self.bad("cnsa2_enc_flipped", flip(c, enc, 1), STANZA).key = OpenKey::Cnsa;
    }

    fn signatures(&mut self, f: &Bases) {
        let s = &f.signed;
        let n = s.len();
        let h = header_len(s);
        let trailer = {
            let mut b = [0u8; 4];
            b.copy_from_slice(s.get(h - 68..h - 64).unwrap_or(&[0; 4]));
            u32::from_be_bytes(b) as usize
        };
        let t = n - trailer;
        let cases: Vec<(&str, Vec<u8>, &'static str)> = vec![
            ("signature_byte_flipped", flip(s, t + 10, 1), SIGNATURE),
            (
                "signature_last_byte_flipped",
                flip(s, t + 2 + 3308, 1),
                SIGNATURE,
            ),
            ("signature_length_flipped", flip(s, t, 0x40), SIGNATURE),
            ("signature_length_zero", splice(s, t, 2, &[0, 0]), SIGNATURE),
            ("signature_padding_nonzero", flip(s, n - 1, 1), SIGNATURE),
            (
                "signature_trailer_truncated",
                s.get(..n - 1).unwrap_or_default().to_vec(),
                chunk_err(CHUNKS - 1),
            ),
            // The reader still withholds a trailer's worth of bytes, cutting into chunk 4.
            (
                "signature_trailer_removed",
                s.get(..t).unwrap_or_default().to_vec(),
                chunk_err(CHUNKS - 2),
            ),
            (
                "signature_trailing_byte",
                [s.as_slice(), &[0]].concat(),
                chunk_err(CHUNKS - 1),
            ),
            (
                "signature_from_other_file",
                [
                    s.get(..t).unwrap_or_default(),
                    f.signed2
                        .get(f.signed2.len() - trailer..)
                        .unwrap_or_default(),
                ]
                .concat(),
                SIGNATURE,
            ),
            (
                "signature_chunk0_flipped",
                flip(s, h + PAYLOAD_HEADER, 1),
                chunk_err(0),
            ),
            (
                "signature_payload_truncated_before_final_chunk",
                [
                    s.get(..t - 116).unwrap_or_default(),
                    s.get(t..).unwrap_or_default(),
                ]
                .concat(),
                TRUNCATED,
            ),
        ];
        for (name, bytes, msg) in cases {
            self.bad(name, bytes, msg).verify_with = Some(VerifyWith::Signer);
        }
        self.bad("signer_mismatch", s.clone(), MISMATCH).verify_with =
            Some(VerifyWith::OtherSigner);
        self.bad(
            "signer_required_but_unsigned",
            f.unsigned.clone(),
            NOT_SIGNED,
        )
        .verify_with = Some(VerifyWith::Signer);
        // Without --verify-with, a damaged signature is not looked at; the payload still
        // authenticates. A reader that needs the sender must ask for it.
        self.add(
            "signature_damaged_but_not_required",
            flip(s, t + 10, 1),
            0,
            "",
        );
    }
}

impl Kit {
    /// The private or public key a case needs, PEM-encoded.
    pub fn open_key(&self, which: OpenKey) -> &PrivateKey {
        match which {
            OpenKey::Recipient => &self.recipient,
            OpenKey::Stranger => &self.stranger,
            OpenKey::Cnsa => &self.cnsa,
        }
    }

    /// The signer a case requires.
    pub fn verify_key(&self, which: VerifyWith) -> &PrivateKey {
        match which {
            VerifyWith::Signer => &self.signer,
            VerifyWith::OtherSigner => &self.other_signer,
        }
    }
}

/// The decapsulation key inside a kit key.
pub fn decapsulation_key(key: &PrivateKey) -> Option<&DecapsulationKey> {
    match key {
        PrivateKey::Kem(k) => Some(k),
        PrivateKey::Sig(_) => None,
    }
}

/// Writes the kit: `keys/*.pem`, one `<name>.qsealed` per case, and `cases.tsv`
/// (`name  exit  key  verify_with  message`).
pub fn write(kit: &Kit, dir: &std::path::Path) -> std::io::Result<()> {
    use qsafe_core::keys::codec;
    let keys = dir.join("keys");
    std::fs::create_dir_all(&keys)?;
    let pem_err = |e: qsafe_core::Error| std::io::Error::other(e.to_string());
    for (name, k) in [
        ("recipient", &kit.recipient),
        ("stranger", &kit.stranger),
        ("cnsa", &kit.cnsa),
        ("signer", &kit.signer),
        ("other_signer", &kit.other_signer),
    ] {
        std::fs::write(
            keys.join(format!("{name}.pem")),
            codec::private_to_pem(k).map_err(pem_err)?.as_bytes(),
        )?;
        let public = k.public_key().map_err(pem_err)?;
        std::fs::write(
            keys.join(format!("{name}.pub.pem")),
            codec::public_to_pem(&public).map_err(pem_err)?,
        )?;
    }
    std::fs::write(dir.join("plaintext.bin"), &kit.plaintext)?;
    let mut index = String::from("# name\texit\tkey\tverify_with\texpected message\n");
    for c in &kit.cases {
        std::fs::write(dir.join(format!("{}.qsealed", c.name)), &c.bytes)?;
        index.push_str(&format!(
            "{}\t{}\t{:?}\t{}\t{}\n",
            c.name,
            c.exit,
            c.key,
            c.verify_with.map_or("-".to_string(), |v| format!("{v:?}")),
            c.message
        ));
    }
    std::fs::write(dir.join("cases.tsv"), index)
}
