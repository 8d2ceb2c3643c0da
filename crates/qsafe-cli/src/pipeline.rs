//! Streaming in stages on separate threads, so that reading, the cryptography and writing use
//! both cores: [`pump`] reads on a second thread, [`write_behind`] writes on one.

use std::io::{self, Read, Write};
use std::sync::mpsc::{Receiver, SyncSender, channel, sync_channel};

use crate::cmd::Out;
use crate::progress::Progress;

/// Bytes per block handed between threads: small enough to stay in the L2 cache.
const BLOCK: usize = 256 * 1024;
/// Blocks in flight per channel (bounds memory at a few MiB).
const DEPTH: usize = 8;

/// Streams `input` into `sink` with a progress bar; returns the byte count. A second thread
/// reads (and, for `open`, decrypts) while this one writes (and, for `seal`, encrypts), so the
/// two halves use both cores; at most `DEPTH` blocks are in flight.
pub fn pump(
    out: Out,
    what: &str,
    total: Option<u64>,
    mut input: impl Read + Send,
    sink: &mut impl Write,
) -> io::Result<u64> {
    let mut progress = Progress::bytes(out, what, total);
    let (full_tx, full_rx) = std::sync::mpsc::sync_channel::<io::Result<Vec<u8>>>(DEPTH);
    let (empty_tx, empty_rx) = std::sync::mpsc::channel::<Vec<u8>>();
    let result = std::thread::scope(|scope| {
        scope.spawn(move || {
            loop {
                let mut buf = empty_rx.try_recv().unwrap_or_else(|_| vec![0u8; BLOCK]);
                buf.resize(BLOCK, 0);
                let got = read_block(&mut input, &mut buf).map(|n| {
                    buf.truncate(n);
                    buf
                });
                let end = !matches!(&got, Ok(b) if !b.is_empty());
                if full_tx.send(got).is_err() || end {
                    return;
                }
            }
        });
        let mut n = 0u64;
        for block in full_rx {
            let block = block?;
            if block.is_empty() {
                break;
            }
            sink.write_all(&block)?;
            n += block.len() as u64;
            progress.inc(block.len() as u64);
            let _ = empty_tx.send(block);
        }
        Ok(n)
    });
    progress.finish();
    result
}

/// Fills `buf` unless the stream ends first.
fn read_block(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(buf.get_mut(n..).unwrap_or_default()) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// A writer that hands full blocks to the thread running [`write_behind`].
pub struct BlockSender {
    buf: Vec<u8>,
    full: SyncSender<Vec<u8>>,
    empty: Receiver<Vec<u8>>,
}

impl BlockSender {
    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let next = self
            .empty
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(BLOCK));
        let block = std::mem::replace(&mut self.buf, next);
        self.full
            .send(block)
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the writer thread stopped"))
    }
}

impl Write for BlockSender {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = data.len().min(BLOCK - self.buf.len());
        self.buf
            .extend_from_slice(data.get(..n).unwrap_or_default());
        if self.buf.len() == BLOCK {
            self.send()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

/// Runs `produce` with a writer whose bytes a second thread writes to `sink`, in order. The
/// sink's own error wins over the "writer stopped" error it causes on the producing side.
pub fn write_behind<W: Write + Send, T>(
    sink: &mut W,
    produce: impl FnOnce(&mut BlockSender) -> io::Result<T>,
) -> io::Result<T> {
    let (full_tx, full_rx) = sync_channel::<Vec<u8>>(DEPTH);
    let (empty_tx, empty_rx) = channel::<Vec<u8>>();
    std::thread::scope(|scope| {
        let writer = scope.spawn(move || -> io::Result<()> {
            for mut block in full_rx {
                sink.write_all(&block)?;
                block.clear();
                let _ = empty_tx.send(block);
            }
            sink.flush()
        });
        let mut sender = BlockSender {
            buf: Vec::with_capacity(BLOCK),
            full: full_tx,
            empty: empty_rx,
        };
        let produced = produce(&mut sender).and_then(|t| sender.flush().map(|()| t));
        drop(sender);
        let written = writer
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the writer thread panicked")));
        match (produced, written) {
            (_, Err(e)) => Err(e),
            (result, Ok(())) => result,
        }
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    struct FailAfter(usize);

    impl Write for FailAfter {
        fn write(&mut self, data: &[u8]) -> io::Result<usize> {
            if self.0 < data.len() {
                return Err(io::Error::other("disk full"));
            }
            self.0 -= data.len();
            Ok(data.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn stages_keep_order_and_report_the_sinks_error() {
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        let out = Out {
            json: true,
            quiet: true,
        };
        let mut sink = Vec::new();
        let n = write_behind(&mut sink, |w| pump(out, "t", None, &data[..], w)).unwrap();
        assert_eq!(n, data.len() as u64);
        assert_eq!(sink, data);
        let mut full = FailAfter(BLOCK * 3);
        let err = write_behind(&mut full, |w| pump(out, "t", None, &data[..], w)).unwrap_err();
        assert_eq!(err.to_string(), "disk full");
    }
}
