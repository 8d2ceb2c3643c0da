//! Progress bars on stderr, shown only for work that takes over a second and never with
//! `--json` or `--quiet` (or when stderr is not a terminal).

use std::io::{self, Read};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::cmd::Out;

const DELAY: Duration = Duration::from_secs(1);

/// A byte-count bar that appears after a second of work.
pub struct Progress {
    bar: ProgressBar,
    start: Instant,
    wanted: bool,
    shown: bool,
}

impl Progress {
    /// A bar for `what`, over `total` bytes when known.
    pub fn bytes(out: Out, what: &str, total: Option<u64>) -> Self {
        let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::hidden());
        let template = if total.is_some() {
            "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}"
        } else {
            "{msg} {bytes} {bytes_per_sec} {elapsed}"
        };
        bar.set_style(
            ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_message(what.to_string());
        Progress {
            bar,
            start: Instant::now(),
            wanted: !out.json && !out.quiet,
            shown: false,
        }
    }

    /// A bar over `total` items (rounds, files).
    pub fn items(out: Out, what: &str, total: u64) -> Self {
        let progress = Self::bytes(out, what, Some(total));
        progress.bar.set_style(
            ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        progress
    }

    /// Records `n` more bytes (or items) done.
    pub fn inc(&mut self, n: u64) {
        self.bar.inc(n);
        if self.wanted && !self.shown && self.start.elapsed() > DELAY {
            self.bar.set_draw_target(ProgressDrawTarget::stderr());
            self.shown = true;
        }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// Counts bytes read into a [`Progress`].
pub struct ProgressReader<R> {
    pub inner: R,
    pub progress: Progress,
}

impl<R: Read> Read for ProgressReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.progress.inc(n as u64);
        Ok(n)
    }
}
