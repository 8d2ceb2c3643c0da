//! Partitioning a data set across federated workers.

use core::ops::Range;

use rand::SeedableRng;
use rand::rngs::ChaCha8Rng;
use rand::seq::SliceRandom;

use crate::{Dataset, Error, Result};

const STREAM_IID: u64 = 2;
const STREAM_LABEL_SKEW: u64 = 3;

/// How [`Dataset::partition`] deals samples out to workers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Partitioning {
    /// Independent and identically distributed: shuffle all samples, cut them into one
    /// contiguous shard per worker. Shard sizes differ by at most one (the first
    /// `len % workers` workers get one more).
    Iid,
    /// Label skew, the "pathological non-IID" partition of McMahan et al., *Communication-
    /// Efficient Learning of Deep Networks from Decentralized Data* (AISTATS 2017, §3):
    /// shuffle, stable-sort by label, cut into `workers * shards_per_worker` contiguous
    /// shards of near-equal size, and give each worker `shards_per_worker` shards chosen at
    /// random. With `shards_per_worker = 2` most workers see only two or three classes.
    LabelSkew {
        /// Shards per worker; at least 1.
        shards_per_worker: usize,
    },
}

impl Dataset {
    /// Deals the samples out to `workers` federated workers. Returns one list of ascending
    /// sample indices per worker; every index in `0..len()` appears in exactly one list.
    /// The same `(workers, scheme, seed)` always gives the same partition.
    ///
    /// To partition only a training split, call this on `dataset.subset(&split.train)`; the
    /// indices are then into that subset.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if `workers` or `shards_per_worker` is zero or there are
    /// fewer samples than shards.
    pub fn partition(
        &self,
        workers: usize,
        scheme: Partitioning,
        seed: u64,
    ) -> Result<Vec<Vec<usize>>> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut order: Vec<usize> = (0..self.len()).collect();
        let shards = match scheme {
            Partitioning::Iid => workers,
            Partitioning::LabelSkew { shards_per_worker } => {
                workers.checked_mul(shards_per_worker).unwrap_or(0)
            }
        };
        if shards == 0 || shards > self.len() {
            return Err(Error::InvalidArgument(format!(
                "cannot cut {} samples into {shards} shards for {workers} workers",
                self.len()
            )));
        }
        let mut parts: Vec<Vec<usize>> = match scheme {
            Partitioning::Iid => {
                rng.set_stream(STREAM_IID);
                order.shuffle(&mut rng);
                chunk_ranges(order.len(), workers)
                    .map(|range| order.get(range).map(<[usize]>::to_vec).unwrap_or_default())
                    .collect()
            }
            Partitioning::LabelSkew { shards_per_worker } => {
                rng.set_stream(STREAM_LABEL_SKEW);
                order.shuffle(&mut rng);
                let labels = self.labels();
                order.sort_by_key(|&i| labels.get(i).copied());
                let mut shard_ids: Vec<usize> = (0..shards).collect();
                shard_ids.shuffle(&mut rng);
                let ranges: Vec<Range<usize>> = chunk_ranges(order.len(), shards).collect();
                shard_ids
                    .chunks_exact(shards_per_worker)
                    .map(|ids| {
                        ids.iter()
                            .filter_map(|&id| ranges.get(id).and_then(|r| order.get(r.clone())))
                            .flatten()
                            .copied()
                            .collect()
                    })
                    .collect()
            }
        };
        for part in &mut parts {
            part.sort_unstable();
        }
        Ok(parts)
    }
}

/// `len` items cut into `parts` contiguous ranges whose sizes differ by at most one.
fn chunk_ranges(len: usize, parts: usize) -> impl Iterator<Item = Range<usize>> {
    let base = len.checked_div(parts).unwrap_or(0);
    let extra = len.checked_rem(parts).unwrap_or(0);
    (0..parts).scan(0usize, move |start, part| {
        let size = base + usize::from(part < extra);
        let range = *start..*start + size;
        *start += size;
        Some(range)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_ranges_cover_everything() {
        let ranges: Vec<_> = chunk_ranges(10, 3).collect();
        assert_eq!(ranges, vec![0..4, 4..7, 7..10]);
        assert_eq!(chunk_ranges(2, 2).collect::<Vec<_>>(), vec![0..1, 1..2]);
    }

    #[test]
    fn partition_rejects_bad_arguments() -> Result<()> {
        let ds = Dataset::new("toy", 1, 2, vec![0.0; 4], vec![0, 1, 0, 1])?;
        assert!(ds.partition(0, Partitioning::Iid, 1).is_err());
        assert!(ds.partition(5, Partitioning::Iid, 1).is_err());
        let skew = |shards_per_worker| Partitioning::LabelSkew { shards_per_worker };
        assert!(ds.partition(2, skew(0), 1).is_err());
        assert!(ds.partition(2, skew(3), 1).is_err());
        assert!(ds.partition(usize::MAX, skew(2), 1).is_err());
        assert_eq!(ds.partition(2, skew(2), 1)?.len(), 2);
        Ok(())
    }
}
