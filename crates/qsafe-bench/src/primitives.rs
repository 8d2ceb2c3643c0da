//! Per-algorithm operation timings, the seed's comparison table and hybrid-vs-parts ratios.

use qsafe_core::kem::DecapsulationKey;
use qsafe_core::registry::{self, Algorithm, Family, Kind};
use qsafe_core::sig::SigningKey;
use qsafe_core::{Error, Result};
use serde::Serialize;

use crate::timing::{Budget, Stats, measure, measure_interleaved};

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

/// One hybrid next to the sum of its components, measured in alternation.
#[derive(Debug, Clone, Serialize)]
pub struct HybridRatio {
    /// The hybrid.
    pub hybrid: &'static str,
    /// Its two components (ML-DSA with a context string, as composites use it).
    pub parts: [&'static str; 2],
    /// Operation.
    pub op: &'static str,
    /// Hybrid median (ms).
    pub hybrid_ms: f64,
    /// Sum of the component medians (ms).
    pub parts_ms: f64,
    /// `hybrid_ms / parts_ms`.
    pub ratio: f64,
}

const KEM_PARTS: &[(&Algorithm, &Algorithm, &Algorithm)] = &[
    (&registry::X_WING, &registry::ML_KEM_768, &registry::X25519),
    (
        &registry::X25519_MLKEM768,
        &registry::ML_KEM_768,
        &registry::X25519,
    ),
    (
        &registry::MLKEM768_P256,
        &registry::ML_KEM_768,
        &registry::P256,
    ),
    (
        &registry::MLKEM1024_P384,
        &registry::ML_KEM_1024,
        &registry::P384,
    ),
    (
        &registry::X25519_MLKEM1024_HKDF_SHA384,
        &registry::ML_KEM_1024,
        &registry::X25519,
    ),
];

const SIG_PARTS: &[(&Algorithm, &Algorithm, &Algorithm)] = &[
    (
        &registry::MLDSA44_ED25519_SHA512,
        &registry::ML_DSA_44,
        &registry::ED25519,
    ),
    (
        &registry::MLDSA65_ED25519_SHA512,
        &registry::ML_DSA_65,
        &registry::ED25519,
    ),
    (
        &registry::MLDSA65_ECDSA_P256_SHA512,
        &registry::ML_DSA_65,
        &registry::ECDSA_P256_SHA256,
    ),
    (
        &registry::MLDSA87_ECDSA_P384_SHA512,
        &registry::ML_DSA_87,
        &registry::ECDSA_P384_SHA384,
    ),
];

type Op<'a> = Box<dyn FnMut() -> Result<()> + 'a>;

fn ratio(
    budget: Budget,
    hybrid: &'static Algorithm,
    parts: [&'static Algorithm; 2],
    op: &'static str,
    mut ops: [Op<'_>; 3],
) -> Result<HybridRatio> {
    let [a, b, c] = &mut ops;
    let [h, pa, pb] = measure_interleaved(budget, &mut [a.as_mut(), b.as_mut(), c.as_mut()])?;
    let parts_ms = pa.median_ms() + pb.median_ms();
    Ok(HybridRatio {
        hybrid: hybrid.id,
        parts: [parts[0].id, parts[1].id],
        op,
        hybrid_ms: h.median_ms(),
        parts_ms,
        ratio: h.median_ms() / parts_ms,
    })
}

/// Measures every hybrid against its two components, each operation interleaved.
pub fn hybrid_ratios(budget: Budget) -> Result<Vec<HybridRatio>> {
    let mut out = Vec::new();
    for &(h, a, b) in KEM_PARTS {
        let algs = [h, a, b];
        let keys = algs.map(DecapsulationKey::generate);
        let keys = keys.into_iter().collect::<Result<Vec<_>>>()?;
        let pks = keys
            .iter()
            .map(DecapsulationKey::encapsulation_key)
            .collect::<Result<Vec<_>>>()?;
        let cts = pks
            .iter()
            .map(|pk| pk.encapsulate().map(|(ct, _)| ct))
            .collect::<Result<Vec<_>>>()?;
        let keygen: [Op<'_>; 3] = algs
            .map(|alg| -> Op<'_> { Box::new(move || DecapsulationKey::generate(alg).map(drop)) });
        out.push(ratio(budget, h, [a, b], "keygen", keygen)?);
        let encaps: Vec<Op<'_>> = pks
            .iter()
            .map(|pk| -> Op<'_> { Box::new(move || pk.encapsulate().map(drop)) })
            .collect();
        out.push(ratio(budget, h, [a, b], "encaps", three(encaps)?)?);
        let decaps: Vec<Op<'_>> = keys
            .iter()
            .zip(&cts)
            .map(|(sk, ct)| -> Op<'_> { Box::new(move || sk.decapsulate(ct).map(drop)) })
            .collect();
        out.push(ratio(budget, h, [a, b], "decaps", three(decaps)?)?);
    }
    for &(h, a, b) in SIG_PARTS {
        let algs = [h, a, b];
        let ctx = |alg: &Algorithm| -> &'static [u8] {
            if alg.family == Family::Classical {
                b""
            } else {
                CONTEXT
            }
        };
        let keys = algs
            .map(SigningKey::generate)
            .into_iter()
            .collect::<Result<Vec<_>>>()?;
        let vks = keys
            .iter()
            .map(SigningKey::verifying_key)
            .collect::<Result<Vec<_>>>()?;
        let sigs = keys
            .iter()
            .zip(algs)
            .map(|(k, alg)| k.sign(MESSAGE, ctx(alg)))
            .collect::<Result<Vec<_>>>()?;
        let keygen: [Op<'_>; 3] =
            algs.map(|alg| -> Op<'_> { Box::new(move || SigningKey::generate(alg).map(drop)) });
        out.push(ratio(budget, h, [a, b], "keygen", keygen)?);
        let sign: Vec<Op<'_>> = keys
            .iter()
            .zip(algs)
            .map(|(k, alg)| -> Op<'_> { Box::new(move || k.sign(MESSAGE, ctx(alg)).map(drop)) })
            .collect();
        out.push(ratio(budget, h, [a, b], "sign", three(sign)?)?);
        let verify: Vec<Op<'_>> = vks
            .iter()
            .zip(&sigs)
            .zip(algs)
            .map(|((vk, sig), alg)| -> Op<'_> {
                Box::new(move || vk.verify(MESSAGE, ctx(alg), sig))
            })
            .collect();
        out.push(ratio(budget, h, [a, b], "verify", three(verify)?)?);
    }
    Ok(out)
}

fn three<T>(v: Vec<T>) -> Result<[T; 3]> {
    v.try_into()
        .map_err(|_| Error::Internal("three operations"))
}

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
    progress(total, total, "hybrids against their parts");
    report.hybrids = hybrid_ratios(budget)?;
    Ok(report)
}
