//! Faults on the TCP transport: dropouts, thresholds, stalls, bad frames and unknown keys.
//! Every worker is a small dummy trainer whose updates are dyadic, so sums are exact.

// Test helpers run outside #[test] functions, where the workspace lints still apply.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use qsafe_core::registry::SUITE_DEFAULT;
use qsafe_core::sig::{SigningKey, VerifyingKey};
use qsafe_train::LocalTrainer;
use qsafe_train::SessionError;
use qsafe_train::net::wire::{self, TAG_ABORT, TAG_FINISH, TAG_ROUND_START, TAG_UPDATE};
use qsafe_train::net::{
    Aggregator, AggregatorConfig, Connection, DangerousConnection, DropReason, Message, Mode,
    NetError, Outcome, RoundReport, RunSummary, Update, Worker, WorkerConfig, WorkerSummary,
};

const LEN: usize = 256;

struct FnTrainer<F>(F);

impl<F> LocalTrainer for FnTrainer<F>
where
    F: FnMut(u64, &[f32]) -> Result<Vec<f32>, String> + Send,
{
    fn local_update(&mut self, round: u64, global: &[f32]) -> Result<Vec<f32>, String> {
        (self.0)(round, global)
    }
}

/// Worker `id`'s update in `round`: exact multiples of 2^-8.
fn update(id: u32, round: u64, j: usize) -> f32 {
    ((id as usize * 5 + j + round as usize) % 32) as f32 / 256.0 - 0.0625
}

fn honest(id: u32) -> impl LocalTrainer {
    FnTrainer(move |round, _g: &[f32]| Ok((0..LEN).map(|j| update(id, round, j)).collect()))
}

/// `global + mean of the given workers' updates` for one round.
fn step(global: &[f32], ids: &[u32], round: u64) -> Vec<f32> {
    global
        .iter()
        .enumerate()
        .map(|(j, g)| {
            let s: f64 = ids.iter().map(|&i| f64::from(update(i, round, j))).sum();
            g + (s / ids.len() as f64) as f32
        })
        .collect()
}

struct Setup {
    agg: Aggregator,
    addr: std::net::SocketAddr,
    agg_vk: VerifyingKey,
    keys: Vec<Option<SigningKey>>,
}

impl Setup {
    fn new(
        mode: Mode,
        n: usize,
        rounds: u64,
        threshold: usize,
        tweak: impl FnOnce(&mut AggregatorConfig),
    ) -> Self {
        let agg_key = SigningKey::generate(SUITE_DEFAULT.signature).unwrap();
        let agg_vk = agg_key.verifying_key().unwrap();
        let keys: Vec<SigningKey> = (0..n)
            .map(|_| SigningKey::generate(SUITE_DEFAULT.signature).unwrap())
            .collect();
        let mut cfg = match mode {
            Mode::Plaintext => AggregatorConfig::plaintext(rounds, n),
            _ => AggregatorConfig::protected(
                mode,
                agg_key,
                keys.iter().map(|k| k.verifying_key().unwrap()).collect(),
                rounds,
                n,
            ),
        };
        cfg.threshold = threshold;
        cfg.phase_timeout = Duration::from_secs(60);
        cfg.join_timeout = Duration::from_secs(120);
        tweak(&mut cfg);
        let agg = Aggregator::bind("127.0.0.1:0", cfg).unwrap();
        let addr = agg.local_addr().unwrap();
        Setup {
            agg,
            addr,
            agg_vk,
            keys: keys.into_iter().map(Some).collect(),
        }
    }

    fn worker_cfg(&mut self, mode: Mode, id: u32) -> WorkerConfig {
        let mut cfg = match mode {
            Mode::Plaintext => WorkerConfig::plaintext(),
            _ => {
                let key = self.keys[(id - 1) as usize].take().unwrap();
                WorkerConfig::protected(mode, key, self.agg_vk.clone())
            }
        };
        cfg.timeout = Duration::from_secs(120);
        cfg
    }

    fn spawn(
        &mut self,
        mode: Mode,
        id: u32,
        trainer: impl LocalTrainer + 'static,
    ) -> JoinHandle<Result<WorkerSummary, NetError>> {
        let cfg = self.worker_cfg(mode, id);
        let addr = self.addr;
        std::thread::spawn(move || Worker::connect(addr, cfg, trainer))
    }

    /// A hand-driven protected-mode worker: `act` gets the connection and each round-start
    /// and returns `false` to stop answering. The connection stays open until the
    /// aggregator closes it, so the aggregator sees the fault, not a disconnect.
    fn spawn_raw(
        &mut self,
        mode: Mode,
        id: u32,
        mut act: impl FnMut(&mut Connection, wire::RoundStart) -> bool + Send + 'static,
    ) -> JoinHandle<()> {
        let cfg = self.worker_cfg(mode, id);
        let addr = self.addr;
        std::thread::spawn(move || {
            let (mut conn, welcome) = Connection::connect(addr, &cfg).unwrap();
            assert_eq!(welcome.id, id);
            let mut answering = true;
            loop {
                let deadline = Instant::now() + Duration::from_secs(120);
                match conn.recv_next_round(deadline, &[TAG_ROUND_START, TAG_ABORT, TAG_FINISH], LEN)
                {
                    Ok(Message::RoundStart(rs)) if answering => answering = act(&mut conn, rs),
                    Ok(Message::Finish { .. }) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        })
    }

    fn run(&mut self, initial: Vec<f32>) -> (RunSummary, Vec<RoundReport>) {
        let mut seen = Vec::new();
        let s = self
            .agg
            .run(initial, |rep, _| seen.push(rep.clone()))
            .unwrap();
        (s, seen)
    }
}

fn dropped_reason(rep: &RoundReport, id: u32) -> &DropReason {
    &rep.dropped
        .iter()
        .find(|d| d.id == id)
        .unwrap_or_else(|| panic!("worker {id} not dropped in round {}: {rep:?}", rep.round))
        .reason
}

fn valid_update_payload(round: u64) -> Vec<u8> {
    let body = Message::Update(Update {
        round,
        update: vec![0.0; LEN],
    })
    .encode();
    DangerousConnection::message_payload(TAG_UPDATE, body.len() as u64, &body)
}

#[test]
fn net_secagg_dropout_after_share_keys_recovers_the_exact_sum() {
    let mode = Mode::SecureAggregation;
    let mut s = Setup::new(mode, 4, 2, 2, |_| {});
    let mut handles = Vec::new();
    for id in [1, 2, 4] {
        handles.push(s.spawn(mode, id, honest(id)));
    }
    // Worker 3 dies while training, i.e. after ShareKeys and before MaskedInput: its thread
    // unwinds and its socket closes.
    let dying = s.spawn(
        mode,
        3,
        FnTrainer(|_, _: &[f32]| -> Result<Vec<f32>, String> {
            panic!("worker 3 crashes mid-round (expected by the test)")
        }),
    );
    let initial = vec![0.5f32; LEN];
    let (summary, reports) = s.run(initial.clone());
    let r1 = &reports[0];
    assert_eq!(r1.outcome, Outcome::Completed);
    assert_eq!(r1.participants, vec![1, 2, 3, 4]);
    assert_eq!(r1.survivors, vec![1, 2, 4]);
    assert_eq!(r1.dropped.len(), 1);
    assert_eq!(r1.dropped[0].phase, "masked-input");
    assert_eq!(*dropped_reason(r1, 3), DropReason::Disconnected);
    let r2 = &reports[1];
    assert_eq!(r2.outcome, Outcome::Completed);
    assert_eq!(r2.survivors, vec![1, 2, 4]);
    let want = step(&step(&initial, &[1, 2, 4], 1), &[1, 2, 4], 2);
    assert_eq!(summary.params, want, "sum of the survivors, exactly");
    assert!(dying.join().is_err());
    for h in handles {
        assert_eq!(h.join().unwrap().unwrap().rounds_contributed, 2);
    }
}

#[test]
fn net_secagg_below_threshold_aborts_then_continues() {
    // Worker 3 leaves round 1 (its training fails): 2 masked inputs < t = 3, the round
    // aborts with the global parameters unchanged, and round 2 completes with all three.
    let mode = Mode::SecureAggregation;
    let mut s = Setup::new(mode, 3, 2, 3, |_| {});
    let mut handles: Vec<_> = [1, 2]
        .into_iter()
        .map(|id| s.spawn(mode, id, honest(id)))
        .collect();
    handles.push(s.spawn(
        mode,
        3,
        FnTrainer(|round, _: &[f32]| {
            if round == 1 {
                Err("no data this round".to_string())
            } else {
                Ok((0..LEN).map(|j| update(3, round, j)).collect())
            }
        }),
    ));
    let initial = vec![0.0f32; LEN];
    let mut after_round = Vec::new();
    let summary = s
        .agg
        .run(initial.clone(), |rep, p| {
            after_round.push((rep.clone(), p.to_vec()))
        })
        .unwrap();
    let (r1, p1) = &after_round[0];
    assert!(
        matches!(&r1.outcome, Outcome::Aborted { reason } if reason.contains("threshold")),
        "{:?}",
        r1.outcome
    );
    assert_eq!(
        p1, &initial,
        "an aborted round leaves the parameters unchanged"
    );
    assert_eq!(
        *dropped_reason(r1, 3),
        DropReason::Left("no data this round".into())
    );
    let (r2, _) = &after_round[1];
    assert_eq!(r2.outcome, Outcome::Completed);
    assert_eq!(r2.survivors, vec![1, 2, 3]);
    assert_eq!(summary.params, step(&initial, &[1, 2, 3], 2));
    assert_eq!(summary.stopped_early, None);
    let results: Vec<_> = handles
        .into_iter()
        .map(|h| h.join().unwrap().unwrap())
        .collect();
    assert_eq!(results[0].rounds_aborted, 1);
    assert_eq!(results[2].rounds_left, 1);
}

#[test]
fn net_secagg_too_few_connected_stops_the_run() {
    // Worker 3 crashes in round 1 (t = 3): round 1 aborts below threshold; at round 2 only
    // two workers are connected, so the run stops early, cleanly, and the rest get Finish.
    let mode = Mode::SecureAggregation;
    let mut s = Setup::new(mode, 3, 5, 3, |_| {});
    let handles: Vec<_> = [1, 2]
        .into_iter()
        .map(|id| s.spawn(mode, id, honest(id)))
        .collect();
    let dying = s.spawn(
        mode,
        3,
        FnTrainer(|_, _: &[f32]| -> Result<Vec<f32>, String> {
            panic!("worker 3 crashes (expected by the test)")
        }),
    );
    let initial = vec![0.0f32; LEN];
    let (summary, reports) = s.run(initial.clone());
    assert_eq!(reports.len(), 2);
    assert!(matches!(reports[0].outcome, Outcome::Aborted { .. }));
    assert_eq!(*dropped_reason(&reports[0], 3), DropReason::Disconnected);
    assert!(matches!(reports[1].outcome, Outcome::Aborted { .. }));
    assert!(
        summary
            .stopped_early
            .unwrap()
            .contains("only 2 workers connected")
    );
    assert_eq!(summary.params, initial);
    assert!(dying.join().is_err());
    for h in handles {
        let w = h.join().unwrap().unwrap();
        assert_eq!((w.rounds_contributed, w.rounds_aborted), (0, 1));
    }
}

#[test]
fn net_stalled_worker_is_dropped_after_the_phase_timeout() {
    let mode = Mode::Protected;
    let mut s = Setup::new(mode, 3, 1, 1, |c| c.phase_timeout = Duration::from_secs(2));
    let handles: Vec<_> = [1, 2]
        .into_iter()
        .map(|id| s.spawn(mode, id, honest(id)))
        .collect();
    let stalled = s.spawn(
        mode,
        3,
        FnTrainer(|round, _: &[f32]| {
            std::thread::sleep(Duration::from_secs(6));
            Ok((0..LEN).map(|j| update(3, round, j)).collect())
        }),
    );
    let initial = vec![0.0f32; LEN];
    let (summary, reports) = s.run(initial.clone());
    assert_eq!(reports[0].outcome, Outcome::Completed);
    assert_eq!(reports[0].survivors, vec![1, 2]);
    assert_eq!(*dropped_reason(&reports[0], 3), DropReason::Timeout);
    assert_eq!(summary.params, step(&initial, &[1, 2], 1));
    assert!(
        stalled.join().unwrap().is_err(),
        "the stalled worker's connection was closed"
    );
    for h in handles {
        h.join().unwrap().unwrap();
    }
}

/// Protected mode, workers 1 and 2 honest, worker 3 hand-driven by `act`.
fn protected_fault(
    rounds: u64,
    act: impl FnMut(&mut Connection, wire::RoundStart) -> bool + Send + 'static,
) -> Vec<RoundReport> {
    let mode = Mode::Protected;
    let mut s = Setup::new(mode, 3, rounds, 1, |_| {});
    let handles: Vec<_> = [1, 2]
        .into_iter()
        .map(|id| s.spawn(mode, id, honest(id)))
        .collect();
    let raw = s.spawn_raw(mode, 3, act);
    let initial = vec![0.0f32; LEN];
    let (summary, reports) = s.run(initial.clone());
    let last = reports.last().unwrap();
    assert_eq!(last.outcome, Outcome::Completed, "{last:?}");
    assert_eq!(last.survivors, vec![1, 2], "{last:?}");
    assert_eq!(reports.len() as u64, rounds);
    if rounds == 1 {
        // The honest workers' round is unaffected: the exact average of 1 and 2.
        assert_eq!(summary.params, step(&initial, &[1, 2], 1));
    }
    raw.join().unwrap();
    for h in handles {
        h.join().unwrap().unwrap();
    }
    reports
}

#[test]
fn net_oversized_frame_is_rejected_from_its_header() {
    let reports = protected_fault(1, |conn, rs| {
        // A session header (version 1, data, round, seq 0) declaring a ~4 GiB body.
        let mut header = vec![0x01, 0x01];
        header.extend_from_slice(&(rs.round as u32).to_be_bytes());
        header.extend_from_slice(&0u64.to_be_bytes());
        header.extend_from_slice(&0xFFFF_FFF0u32.to_be_bytes());
        conn.dangerous().write_raw(&header).unwrap();
        false
    });
    let reason = dropped_reason(&reports[0], 3);
    assert!(
        matches!(
            reason,
            DropReason::Oversized {
                len: 0xFFFF_FFF0,
                ..
            }
        ),
        "{reason:?}"
    );
}

#[test]
fn net_oversized_plaintext_frame_is_rejected_from_its_header() {
    let mode = Mode::Plaintext;
    let mut s = Setup::new(mode, 2, 1, 1, |c| c.max_frame = 4096);
    // The raw worker connects first so that it is worker 1.
    let raw = s.spawn_raw(mode, 1, |conn, _| {
        conn.dangerous()
            .write_raw(&100_000u32.to_be_bytes())
            .unwrap();
        false
    });
    std::thread::sleep(Duration::from_millis(300));
    let honest_worker = s.spawn(mode, 2, honest(2));
    let (_, reports) = s.run(vec![0.0; LEN]);
    let rep = &reports[0];
    assert_eq!(rep.outcome, Outcome::Completed);
    assert_eq!(rep.dropped.len(), 1, "{rep:?}");
    assert_eq!(
        rep.dropped[0].reason,
        DropReason::Oversized {
            len: 100_000,
            max: 4096
        }
    );
    assert_eq!(rep.survivors.len(), 1);
    raw.join().unwrap();
    honest_worker.join().unwrap().unwrap();
}

#[test]
fn net_tampered_frame_drops_the_worker() {
    let reports = protected_fault(1, |conn, rs| {
        let mut frame = conn
            .dangerous()
            .frame(&valid_update_payload(rs.round))
            .unwrap();
        let last = frame.len() - 1;
        frame[last] ^= 0x01;
        conn.dangerous().write_raw(&frame).unwrap();
        false
    });
    assert_eq!(
        *dropped_reason(&reports[0], 3),
        DropReason::Session(SessionError::Tampered { seq: 0 })
    );
}

#[test]
fn net_replayed_frame_drops_the_worker() {
    // Round 1: a valid (all-zero) update. Round 2: the same frame again.
    let mut saved: Option<Vec<u8>> = None;
    let reports = protected_fault(2, move |conn, rs| match saved.take() {
        None => {
            let frame = conn
                .dangerous()
                .frame(&valid_update_payload(rs.round))
                .unwrap();
            conn.dangerous().write_raw(&frame).unwrap();
            saved = Some(frame);
            true
        }
        Some(frame) => {
            conn.dangerous().write_raw(&frame).unwrap();
            false
        }
    });
    assert_eq!(reports[0].survivors, vec![1, 2, 3]);
    assert!(matches!(
        dropped_reason(&reports[1], 3),
        DropReason::Session(SessionError::Replayed { .. })
    ));
}

#[test]
fn net_malformed_messages_drop_the_worker() {
    // An authentic frame carrying an unknown message tag.
    let reports = protected_fault(1, |conn, _| {
        let frame = conn
            .dangerous()
            .frame(&DangerousConnection::message_payload(0xEE, 3, b"abc"))
            .unwrap();
        conn.dangerous().write_raw(&frame).unwrap();
        false
    });
    let reason = dropped_reason(&reports[0], 3);
    assert!(
        matches!(reason, DropReason::Malformed(m) if m.contains("unexpected")),
        "{reason:?}"
    );

    // A well-formed update of the wrong length.
    let reports = protected_fault(1, |conn, rs| {
        conn.send(&Message::Update(Update {
            round: rs.round,
            update: vec![0.0; LEN - 1],
        }))
        .unwrap();
        false
    });
    let reason = dropped_reason(&reports[0], 3);
    assert!(
        matches!(reason, DropReason::Malformed(m) if m.contains("coordinates")),
        "{reason:?}"
    );

    // A message header declaring more than the model allows (rejected before the body).
    let reports = protected_fault(1, |conn, _| {
        let frame = conn
            .dangerous()
            .frame(&DangerousConnection::message_payload(
                TAG_UPDATE,
                1 << 40,
                &[],
            ))
            .unwrap();
        conn.dangerous().write_raw(&frame).unwrap();
        false
    });
    assert!(matches!(
        dropped_reason(&reports[0], 3),
        DropReason::Oversized {
            len: 1_099_511_627_776,
            ..
        }
    ));
}

#[test]
fn net_unknown_worker_key_is_rejected_and_reported() {
    let mode = Mode::Protected;
    let mut s = Setup::new(mode, 2, 1, 1, |_| {});
    // A stranger with a valid key of the right algorithm that the aggregator does not trust.
    let stranger = SigningKey::generate(SUITE_DEFAULT.signature).unwrap();
    let mut cfg = WorkerConfig::protected(mode, stranger, s.agg_vk.clone());
    cfg.timeout = Duration::from_secs(120);
    let addr = s.addr;
    let rogue = std::thread::spawn(move || Worker::connect(addr, cfg, honest(9)));
    // Ordering only (not a timing assertion): let the stranger reach the backlog first.
    std::thread::sleep(Duration::from_millis(300));
    let handles: Vec<_> = [1, 2]
        .into_iter()
        .map(|id| s.spawn(mode, id, honest(id)))
        .collect();
    // The aggregator handshakes the stranger while waiting for the two trusted workers, or
    // (if it connects late) at the start of the round; either way the rejection is reported.
    let (summary, reports) = s.run(vec![0.0; LEN]);
    let err = rogue.join().unwrap().unwrap_err();
    assert!(
        matches!(err, NetError::Handshake(ref m) if m.contains("trusted")),
        "{err}"
    );
    let rejected: Vec<_> = reports.iter().flat_map(|r| &r.rejected).collect();
    assert_eq!(rejected.len(), 1, "{reports:?}");
    assert!(
        rejected[0].reason.contains("unknown peer key"),
        "{:?}",
        rejected[0]
    );
    assert_eq!(reports[0].survivors, vec![1, 2]);
    assert_eq!(summary.params, step(&[0.0; LEN], &[1, 2], 1));
    for h in handles {
        h.join().unwrap().unwrap();
    }
}
