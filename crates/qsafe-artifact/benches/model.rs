//! Model signing on a generated 24-file, 12 MiB model: `cargo bench -p qsafe-artifact --bench
//! model`. The composite sits next to its ECDSA component so the post-quantum overhead reads
//! directly; hashing dominates both, and sharding shows what splitting large files buys.

// Bench code: a failed unwrap is a failed run.
#![allow(clippy::unwrap_used)]

use std::fs;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use qsafe_artifact::model::{self, SignOptions, VerifyOptions};
use qsafe_core::registry;
use qsafe_core::sig::SigningKey;

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("model");
    let mut bytes = 0u64;
    for i in 0..24u32 {
        let sub = root.join(format!("layer{}", i % 4));
        fs::create_dir_all(&sub).unwrap();
        // One large file and many small ones, as in a checkpoint with its configs.
        let len = if i == 0 {
            8 << 20
        } else {
            (i as usize) * 10_000
        };
        fs::write(sub.join(format!("part{i}.bin")), vec![i as u8; len]).unwrap();
        bytes += len as u64;
    }
    let mut g = c.benchmark_group("model-signing");
    g.throughput(Throughput::Bytes(bytes));
    g.sample_size(10);
    for alg in [
        &registry::ECDSA_P256_SHA256,
        &registry::MLDSA65_ECDSA_P256_SHA512,
    ] {
        let sk = SigningKey::generate(alg).unwrap();
        let vk = sk.verifying_key().unwrap();
        let bundle = model::sign(&root, &sk, &SignOptions::default())
            .unwrap()
            .bundle;
        g.bench_function(format!("sign/{}", alg.id), |b| {
            b.iter(|| model::sign(&root, &sk, &SignOptions::default()).unwrap())
        });
        g.bench_function(format!("verify/{}", alg.id), |b| {
            b.iter(|| model::verify(&root, &vk, &bundle, &VerifyOptions::default()).unwrap())
        });
    }
    let sk = SigningKey::generate(&registry::MLDSA65_ECDSA_P256_SHA512).unwrap();
    let sharded = SignOptions {
        shard_size: Some(1 << 20),
        ..SignOptions::default()
    };
    g.bench_function("sign-1MiB-shards/mldsa65-ecdsa-p256-sha512", |b| {
        b.iter(|| model::sign(&root, &sk, &sharded).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
