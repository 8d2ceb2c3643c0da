//! Each composite signature next to its components (ML-DSA with a context string, as the
//! composite uses it): `cargo bench -p qsafe-core --bench sig`.

// Test code: a failed unwrap is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use qsafe_core::registry::{self, Algorithm, Family};
use qsafe_core::sig::SigningKey;

const GROUPS: &[(&Algorithm, &[&Algorithm])] = &[
    (
        &registry::MLDSA44_ED25519_SHA512,
        &[&registry::ML_DSA_44, &registry::ED25519],
    ),
    (
        &registry::MLDSA65_ED25519_SHA512,
        &[&registry::ML_DSA_65, &registry::ED25519],
    ),
    (
        &registry::MLDSA65_ECDSA_P256_SHA512,
        &[&registry::ML_DSA_65, &registry::ECDSA_P256_SHA256],
    ),
    (
        &registry::MLDSA87_ECDSA_P384_SHA512,
        &[&registry::ML_DSA_87, &registry::ECDSA_P384_SHA384],
    ),
];

const MSG: &[u8] = b"sha-256 digest of model manifest";

fn bench(c: &mut Criterion) {
    for (composite, parts) in GROUPS {
        let mut g = c.benchmark_group(composite.id);
        for alg in std::iter::once(*composite).chain(parts.iter().copied()) {
            let ctx: &[u8] = if alg.family == Family::Classical {
                b""
            } else {
                b"bench"
            };
            let sk = SigningKey::generate(alg).unwrap();
            let vk = sk.verifying_key().unwrap();
            let sig = sk.sign(MSG, ctx).unwrap();
            g.bench_function(BenchmarkId::new("keygen", alg.id), |b| {
                b.iter(|| SigningKey::generate(alg).unwrap())
            });
            g.bench_function(BenchmarkId::new("sign", alg.id), |b| {
                b.iter(|| sk.sign(MSG, ctx).unwrap())
            });
            g.bench_function(BenchmarkId::new("verify", alg.id), |b| {
                b.iter(|| vk.verify(MSG, ctx, &sig).unwrap())
            });
        }
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
