//! SHA-256 of files and file shards on every core: workers take jobs largest first from a
//! shared counter and stream each file in [`BLOCK`]-sized reads, so memory stays at one
//! buffer per worker whatever the model's size.

use std::fs;
use std::io::{ErrorKind, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use qsafe_core::symmetric::{Hash, Hasher};

use super::Progress;
use super::error::{Error, Result, io};

/// Read size: large enough that per-call overhead vanishes next to hashing.
pub(crate) const BLOCK: usize = 4 << 20;

/// One digest to compute: `len` bytes from `start`, or to the end of the file for `None`.
#[derive(Debug)]
pub(crate) struct Job<'a> {
    pub path: &'a Path,
    pub start: u64,
    pub len: Option<u64>,
    /// Expected size, for scheduling and progress.
    pub size: u64,
}

/// The digests of `jobs`, in order, on up to `threads` threads.
pub(crate) fn digests(
    jobs: &[Job<'_>],
    threads: usize,
    progress: Option<&Progress<'_>>,
) -> Result<Vec<[u8; 32]>> {
    let total: u64 = jobs.iter().map(|j| j.size).sum();
    let mut order: Vec<usize> = (0..jobs.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(jobs.get(i).map_or(0, |j| j.size)));
    let next = AtomicUsize::new(0);
    let done = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let tick = |n: u64| {
        let d = done.fetch_add(n, Ordering::Relaxed) + n;
        if let Some(p) = progress {
            (p.0)(d, total);
        }
    };
    let worker = || -> Result<Vec<(usize, [u8; 32])>> {
        let mut buf = vec![0u8; BLOCK];
        let mut out = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            let Some(&i) = order.get(next.fetch_add(1, Ordering::Relaxed)) else {
                break;
            };
            let Some(job) = jobs.get(i) else { break };
            match hash_one(job, &mut buf, &tick, &stop) {
                Ok(d) => out.push((i, d)),
                Err(e) => {
                    stop.store(true, Ordering::Relaxed);
                    return Err(e);
                }
            }
        }
        Ok(out)
    };
    let threads = threads.clamp(1, jobs.len().max(1));
    let parts = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads).map(|_| s.spawn(worker)).collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect::<Vec<_>>()
    });
    let mut digests = vec![[0u8; 32]; jobs.len()];
    for part in parts {
        for (i, d) in part? {
            if let Some(slot) = digests.get_mut(i) {
                *slot = d;
            }
        }
    }
    Ok(digests)
}

fn hash_one(
    job: &Job<'_>,
    buf: &mut [u8],
    tick: &dyn Fn(u64),
    stop: &AtomicBool,
) -> Result<[u8; 32]> {
    let mut file = fs::File::open(job.path).map_err(io(job.path))?;
    if job.start > 0 {
        file.seek(SeekFrom::Start(job.start))
            .map_err(io(job.path))?;
    }
    let mut reader = file.take(job.len.unwrap_or(u64::MAX));
    let mut hasher = Hasher::new(Hash::Sha256);
    loop {
        let n = match reader.read(buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(io(job.path)(e)),
        };
        hasher.update(buf.get(..n).unwrap_or_default());
        tick(n as u64);
        if stop.load(Ordering::Relaxed) {
            // Another worker failed: its error is the one reported.
            break;
        }
    }
    <[u8; 32]>::try_from(hasher.finish().as_slice())
        .map_err(|_| Error::Core(qsafe_core::Error::Internal("sha-256 length")))
}
