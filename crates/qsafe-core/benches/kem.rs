//! Each hybrid KEM next to its components, so the cost of hybridisation reads directly:
//! `cargo bench -p qsafe-core --bench kem`.

// Test code: a failed unwrap is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use qsafe_core::kem::DecapsulationKey;
use qsafe_core::registry::{self, Algorithm};

const GROUPS: &[(&Algorithm, &[&Algorithm])] = &[
    (
        &registry::X_WING,
        &[&registry::ML_KEM_768, &registry::X25519],
    ),
    (
        &registry::X25519_MLKEM768,
        &[&registry::ML_KEM_768, &registry::X25519],
    ),
    (
        &registry::MLKEM768_P256,
        &[&registry::ML_KEM_768, &registry::P256],
    ),
    (
        &registry::MLKEM1024_P384,
        &[&registry::ML_KEM_1024, &registry::P384],
    ),
    (
        &registry::X25519_MLKEM1024_HKDF_SHA384,
        &[&registry::ML_KEM_1024, &registry::X25519],
    ),
];

fn bench(c: &mut Criterion) {
    for (hybrid, parts) in GROUPS {
        let mut g = c.benchmark_group(hybrid.id);
        for alg in std::iter::once(*hybrid).chain(parts.iter().copied()) {
            let sk = DecapsulationKey::generate(alg).unwrap();
            let pk = sk.encapsulation_key().unwrap();
            let (ct, _) = pk.encapsulate().unwrap();
            g.bench_function(BenchmarkId::new("keygen", alg.id), |b| {
                b.iter(|| DecapsulationKey::generate(alg).unwrap())
            });
            g.bench_function(BenchmarkId::new("encaps", alg.id), |b| {
                b.iter(|| pk.encapsulate().unwrap())
            });
            g.bench_function(BenchmarkId::new("decaps", alg.id), |b| {
                b.iter(|| sk.decapsulate(&ct).unwrap())
            });
        }
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
