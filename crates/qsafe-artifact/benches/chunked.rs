//! Cobblestone-256 throughput on 16 MiB in memory: `cargo bench -p qsafe-artifact`.

// Bench code: a failed unwrap is a failed run.
#![allow(clippy::unwrap_used)]

use std::io::{Cursor, Read};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use qsafe_artifact::chunked::{self, Cobblestone, Decryptor};

fn bench(c: &mut Criterion) {
    let key = [5u8; 32];
    let pt = vec![0xa5u8; 16 << 20];
    let ct = chunked::encrypt(Cobblestone::Aes256, &key, b"bench", &pt).unwrap();
    let mut g = c.benchmark_group("cobblestone-256");
    g.throughput(Throughput::Bytes(pt.len() as u64));
    g.sample_size(10);
    g.bench_function("encrypt", |b| {
        b.iter(|| chunked::encrypt(Cobblestone::Aes256, &key, b"bench", &pt).unwrap())
    });
    g.bench_function("decrypt-stream", |b| {
        b.iter(|| {
            let mut out = Vec::with_capacity(pt.len());
            Decryptor::new(Cobblestone::Aes256, &key, b"bench", Cursor::new(&ct))
                .unwrap()
                .read_to_end(&mut out)
                .unwrap();
            out
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
