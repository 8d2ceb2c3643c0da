//! Per-algorithm operation timings, the seed's comparison table and hybrid-vs-parts ratios.

use qsafe_core::kem::DecapsulationKey;
use qsafe_core::registry::{self, Algorithm, Family, Kind};
use qsafe_core::sig::SigningKey;
use qsafe_core::{Error, Result};
use serde::Serialize;

use crate::timing::{Budget, Stats, measure};

/// Timings of one algorithm (operations that do not apply are `None`).
#[derive(Debug, Clone, Serialize)]
pub struct AlgTimes {
    /// Registry id, with ` (ctx)` when measured with a context string.
    pub id: String,
    /// Kind.
    pub kind: Kind,
    /// Family.
    pub family: Family,
    /// Key generation.
    pub keygen: Option<Stats>,
    /// Encapsulation.
    pub encaps: Option<Stats>,
    /// Decapsulation.
    pub decaps: Option<Stats>,
    /// Signing.
    pub sign: Option<Stats>,
    /// Verification.
    pub verify: Option<Stats>,
}

/// The message signed in benchmarks: a 32-byte digest, as when signing a manifest hash.
pub const MESSAGE: &[u8; 32] = b"qsafe-bench-manifest-digest-0001";
/// Context string used for the "(ctx)" ML-DSA rows and composites.
pub const CONTEXT: &[u8] = b"qsafe-bench";

/// Times a KEM.
pub fn measure_kem(alg: &'static Algorithm, budget: Budget) -> Result<AlgTimes> {
    let keygen = measure(budget, || DecapsulationKey::generate(alg).map(drop))?;
    let sk = DecapsulationKey::generate(alg)?;
    let pk = sk.encapsulation_key()?;
    let encaps = measure(budget, || pk.encapsulate().map(drop))?;
    let (ct, _) = pk.encapsulate()?;
    let decaps = measure(budget, || sk.decapsulate(&ct).map(drop))?;
    Ok(AlgTimes {
        id: alg.id.to_string(),
        kind: alg.kind,
        family: alg.family,
        keygen: Some(keygen),
        encaps: Some(encaps),
        decaps: Some(decaps),
        sign: None,
        verify: None,
    })
}

/// Times a signature algorithm, with `ctx` as context string.
pub fn measure_sig(alg: &'static Algorithm, budget: Budget, ctx: &[u8]) -> Result<AlgTimes> {
    let keygen = measure(budget, || SigningKey::generate(alg).map(drop))?;
    let sk = SigningKey::generate(alg)?;
    let vk = sk.verifying_key()?;
    let sign = measure(budget, || sk.sign(MESSAGE, ctx).map(drop))?;
    let sig = sk.sign(MESSAGE, ctx)?;
    let verify = measure(budget, || vk.verify(MESSAGE, ctx, &sig))?;
    let id = if ctx.is_empty() {
        alg.id.to_string()
    } else {
        format!("{} (ctx)", alg.id)
    };
    Ok(AlgTimes {
        id,
        kind: alg.kind,
        family: alg.family,
        keygen: Some(keygen),
        encaps: None,
        decaps: None,
        sign: Some(sign),
        verify: Some(verify),
    })
}

/// RSA-2048 key transport (RSAES-OAEP-SHA256 of a 32-byte key) straight on aws-lc, as the
/// "encaps/decaps" of the seed's RSA-2048 row; qsafe itself offers no RSA KEM.
pub fn measure_rsa_oaep(budget: Budget) -> Result<(Stats, Stats)> {
    use aws_lc_rs::rsa::{
        KeySize, OAEP_SHA256_MGF1SHA256, OaepPrivateDecryptingKey, OaepPublicEncryptingKey,
        PrivateDecryptingKey,
    };
    let err = |_| Error::Internal("rsa-oaep");
    let private = PrivateDecryptingKey::generate(KeySize::Rsa2048).map_err(err)?;
    let public = private.public_key();
    let enc = OaepPublicEncryptingKey::new(public).map_err(err)?;
    let dec = OaepPrivateDecryptingKey::new(private).map_err(err)?;
    let secret = [7u8; 32];
    let mut ct = vec![0u8; enc.ciphertext_size()];
    let encaps = measure(budget, || {
        enc.encrypt(&OAEP_SHA256_MGF1SHA256, &secret, &mut ct, None)
            .map(drop)
            .map_err(err)
    })?;
    let ct_len = enc
        .encrypt(&OAEP_SHA256_MGF1SHA256, &secret, &mut ct, None)
        .map_err(err)?
        .len();
    ct.truncate(ct_len);
    let mut out = vec![0u8; dec.min_output_size()];
    let decaps = measure(budget, || {
        dec.decrypt(&OAEP_SHA256_MGF1SHA256, &ct, &mut out, None)
            .map(drop)
            .map_err(err)
    })?;
    Ok((encaps, decaps))
}

/// One row of the seed's "Computational Overhead Comparison", measured.
#[derive(Debug, Clone, Serialize)]
pub struct SeedRow {
    /// The seed's label and what qsafe measures for it.
    pub label: &'static str,
    /// Registry id measured.
    pub measured_id: &'static str,
    /// Measured medians in ms: keygen, encaps, decaps, sign, verify.
    pub measured_ms: [Option<f64>; 5],
    /// The seed's claimed ms, same order; `None` where the seed gives no figure.
    pub claimed_ms: [Option<f64>; 5],
}

/// The seed's rows: label, registry id, KEM companion id (for encaps/decaps of signature rows).
const SEED_ROWS: &[(&str, &str, Option<&str>)] = &[
    (
        "RSA-2048 (PSS sign, OAEP key transport)",
        "rsa-pss-2048-sha256",
        None,
    ),
    (
        "ECDSA P-256 (ECDH P-256 for encaps)",
        "ecdsa-p256-sha256",
        Some("p256"),
    ),
    ("Kyber-1024 -> ML-KEM-1024", "ml-kem-1024", None),
    ("Dilithium-5 -> ML-DSA-87", "ml-dsa-87", None),
    ("Falcon-1024 -> FN-DSA-1024", "fn-dsa-1024", None),
];

/// The seed's claimed milliseconds, as (keygen, encaps, decaps, sign, verify) per row.
///
/// The seed document's figures were not given to the developers (neither the issue nor
/// `shared/` carries them), so every claim is `None` until they are supplied; the table
/// prints "not given" rather than an invented number.
const SEED_CLAIMS: [[Option<f64>; 5]; 5] = [[None; 5]; 5];

/// One hybrid next to the sum of its components.
#[derive(Debug, Clone, Serialize)]
pub struct HybridRatio {
    /// The hybrid.
    pub hybrid: &'static str,
    /// Its two components as measured (ML-DSA with a context string, as composites use it).
    pub parts: [String; 2],
    /// Operation.
    pub op: &'static str,
    /// Hybrid median (ms).
    pub hybrid_ms: f64,
    /// Sum of the component medians (ms).
    pub parts_ms: f64,
    /// `hybrid_ms / parts_ms`.
    pub ratio: f64,
}

const HYBRID_PARTS: &[(&str, &str, &str)] = &[
    ("x-wing", "ml-kem-768", "x25519"),
    ("x25519-mlkem768", "ml-kem-768", "x25519"),
    ("mlkem768-p256", "ml-kem-768", "p256"),
    ("mlkem1024-p384", "ml-kem-1024", "p384"),
    ("x25519-mlkem1024-hkdf-sha384", "ml-kem-1024", "x25519"),
    ("mldsa44-ed25519-sha512", "ml-dsa-44 (ctx)", "ed25519"),
    ("mldsa65-ed25519-sha512", "ml-dsa-65 (ctx)", "ed25519"),
    (
        "mldsa65-ecdsa-p256-sha512",
        "ml-dsa-65 (ctx)",
        "ecdsa-p256-sha256",
    ),
    (
        "mldsa87-ecdsa-p384-sha512",
        "ml-dsa-87 (ctx)",
        "ecdsa-p384-sha384",
    ),
];

/// Everything `qsafe bench` reports.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Every measured algorithm.
    pub algorithms: Vec<AlgTimes>,
    /// The seed's table.
    pub seed_table: Vec<SeedRow>,
    /// Hybrid cost over the sum of its parts.
    pub hybrids: Vec<HybridRatio>,
}

impl Report {
    fn find(&self, id: &str) -> Option<&AlgTimes> {
        self.algorithms.iter().find(|a| a.id == id)
    }
}

fn ms(s: &Option<Stats>) -> Option<f64> {
    s.as_ref().map(Stats::median_ms)
}

/// Measures every available KEM and signature algorithm (ML-DSA twice: without and with a
/// context string), plus RSA-OAEP. `progress(done, total, what)` is called before each.
pub fn run(budget: Budget, progress: &mut dyn FnMut(usize, usize, &str)) -> Result<Report> {
    let algs: Vec<&'static Algorithm> = registry::ALL
        .iter()
        .copied()
        .filter(|a| matches!(a.kind, Kind::Kem | Kind::Signature) && a.is_available())
        .collect();
    let mldsa: Vec<&'static Algorithm> = [
        &registry::ML_DSA_44,
        &registry::ML_DSA_65,
        &registry::ML_DSA_87,
    ]
    .into();
    let total = algs.len() + mldsa.len() + 1;
    let mut algorithms = Vec::with_capacity(total);
    for (i, alg) in algs.iter().enumerate() {
        progress(i, total, alg.id);
        algorithms.push(match alg.kind {
            Kind::Kem => measure_kem(alg, budget)?,
            _ => measure_sig(alg, budget, b"")?,
        });
    }
    for (i, alg) in mldsa.iter().enumerate() {
        progress(algs.len() + i, total, alg.id);
        algorithms.push(measure_sig(alg, budget, CONTEXT)?);
    }
    progress(total - 1, total, "rsa-2048 oaep");
    let (rsa_enc, rsa_dec) = measure_rsa_oaep(budget)?;
    progress(total, total, "done");

    let mut report = Report {
        algorithms,
        seed_table: Vec::new(),
        hybrids: Vec::new(),
    };
    report.seed_table = SEED_ROWS
        .iter()
        .zip(SEED_CLAIMS)
        .map(|(&(label, id, kem), claimed_ms)| {
            let t = report.find(id);
            let k = kem.and_then(|k| report.find(k));
            let (enc, dec) = match (id, k) {
                ("rsa-pss-2048-sha256", _) => {
                    (Some(rsa_enc.median_ms()), Some(rsa_dec.median_ms()))
                }
                (_, Some(k)) => (ms(&k.encaps), ms(&k.decaps)),
                _ => (t.and_then(|t| ms(&t.encaps)), t.and_then(|t| ms(&t.decaps))),
            };
            let measured_ms = [
                t.and_then(|t| ms(&t.keygen)),
                enc,
                dec,
                t.and_then(|t| ms(&t.sign)),
                t.and_then(|t| ms(&t.verify)),
            ];
            SeedRow {
                label,
                measured_id: id,
                measured_ms,
                claimed_ms,
            }
        })
        .collect();
    report.hybrids = hybrid_ratios(&report);
    Ok(report)
}

/// Reads one operation's statistics out of [`AlgTimes`].
type OpField = fn(&AlgTimes) -> &Option<Stats>;

fn hybrid_ratios(report: &Report) -> Vec<HybridRatio> {
    let mut out = Vec::new();
    for &(hybrid, a, b) in HYBRID_PARTS {
        let (Some(h), Some(pa), Some(pb)) = (report.find(hybrid), report.find(a), report.find(b))
        else {
            continue;
        };
        let ops: [(&'static str, OpField); 5] = [
            ("keygen", |t| &t.keygen),
            ("encaps", |t| &t.encaps),
            ("decaps", |t| &t.decaps),
            ("sign", |t| &t.sign),
            ("verify", |t| &t.verify),
        ];
        for (op, get) in ops {
            if let (Some(hm), Some(am), Some(bm)) = (ms(get(h)), ms(get(pa)), ms(get(pb))) {
                let parts_ms = am + bm;
                out.push(HybridRatio {
                    hybrid,
                    parts: [a.to_string(), b.to_string()],
                    op,
                    hybrid_ms: hm,
                    parts_ms,
                    ratio: hm / parts_ms,
                });
            }
        }
    }
    out
}
