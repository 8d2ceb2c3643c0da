//! A few threads for the gateway's CPU-bound crypto (request-signature verification, OHTTP
//! decapsulation, response encapsulation and signing), fed by a bounded queue.
//!
//! Run on the async workers, a 0.2–0.4 ms signature stalls every connection on that worker,
//! so under overload requests wait unread in socket buffers (the in-flight limit never
//! trips) and latency grows without bound. On the pool the async workers keep reading,
//! writing and shedding, and a full queue is an immediate `503 overloaded`: admission control
//! in front of the work the machine cannot finish in time.

use std::panic::AssertUnwindSafe;
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

type Job = Box<dyn FnOnce() + Send>;

/// Why a job did not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The queue is full: shed the request.
    Overloaded,
    /// The pool is gone, or the job panicked.
    Failed,
}

/// A fixed set of crypto threads and their bounded queue.
#[derive(Debug)]
pub(crate) struct CryptoPool {
    queue: SyncSender<Job>,
}

impl CryptoPool {
    /// `threads` workers (at least one) and room for `queued` waiting jobs (at least one).
    pub(crate) fn new(threads: usize, queued: usize) -> std::io::Result<Self> {
        let (queue, jobs) = mpsc::sync_channel::<Job>(queued.max(1));
        let jobs = Arc::new(Mutex::new(jobs));
        for i in 0..threads.max(1) {
            let jobs = Arc::clone(&jobs);
            std::thread::Builder::new()
                .name(format!("qsafe-crypto-{i}"))
                .spawn(move || work(&jobs))?;
        }
        Ok(CryptoPool { queue })
    }

    /// Runs `f` on a pool thread; refused at once when the queue is full.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Refused> {
        self.submit(f)?.await.map_err(|_| Refused::Failed)
    }

    /// Queues `f`; its answer arrives on the receiver (closed if `f` panicked).
    fn submit<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<oneshot::Receiver<T>, Refused> {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = tx.send(f());
        });
        match self.queue.try_send(job) {
            Ok(()) => Ok(rx),
            Err(TrySendError::Full(_)) => Err(Refused::Overloaded),
            Err(TrySendError::Disconnected(_)) => Err(Refused::Failed),
        }
    }
}

/// A worker: takes jobs until the pool (its sender) is dropped. A panicking job loses only
/// its own answer (the waiting request gets a 500), not the thread.
fn work(jobs: &Mutex<Receiver<Job>>) {
    loop {
        let next = jobs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .recv();
        let Ok(job) = next else { return };
        if std::panic::catch_unwind(AssertUnwindSafe(job)).is_err() {
            tracing::error!("a crypto job panicked");
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn runs_jobs_sheds_when_full_and_survives_a_panic() {
        let pool = CryptoPool::new(1, 1).unwrap();
        assert_eq!(pool.run(|| 2 + 2).await, Ok(4));

        // Hold the one worker and fill the one queue slot: the next job is shed at once.
        let (release, hold) = mpsc::channel::<()>();
        let (started_tx, started) = mpsc::channel::<()>();
        let busy = pool
            .submit(move || {
                started_tx.send(()).unwrap();
                hold.recv().unwrap();
            })
            .unwrap();
        started.recv().unwrap();
        let queued = pool.submit(|| 7).unwrap();
        assert_eq!(pool.submit(|| 8).err(), Some(Refused::Overloaded));
        release.send(()).unwrap();
        assert_eq!(busy.await, Ok(()));
        assert_eq!(queued.await, Ok(7));

        // A panicking job fails its caller only; the worker keeps going.
        assert_eq!(
            pool.run(|| panic!("job")).await,
            Err::<(), _>(Refused::Failed)
        );
        assert_eq!(pool.run(|| "still here").await, Ok("still here"));
    }
}
