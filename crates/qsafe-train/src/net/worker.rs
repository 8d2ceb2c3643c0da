//! The worker endpoint (see the [module docs](super) for the protocol).

use std::net::ToSocketAddrs;
use std::time::Instant;

use super::conn::Connection;
use super::wire::{
    Message, Mode, RoundStart, TAG_ABORT, TAG_FINISH, TAG_FORWARDED, TAG_ROSTER, TAG_ROUND_START,
    TAG_UNMASK_REQUEST, Update,
};
use super::{NetError, WorkerConfig};
use crate::LocalTrainer;
use crate::quant::Quantiser;
use crate::secagg::{self, Client, Graph};

/// What a worker did over a run.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerSummary {
    /// The id the aggregator assigned.
    pub id: u32,
    /// Rounds in which the worker sent its update (and, in secure aggregation, its unmask
    /// response).
    pub rounds_contributed: u64,
    /// Rounds it sat out because training failed.
    pub rounds_left: u64,
    /// Rounds the aggregator aborted while this worker took part.
    pub rounds_aborted: u64,
    /// The global parameters of the last round it saw.
    pub last_params: Vec<f32>,
    /// Socket bytes written.
    pub bytes_sent: u64,
    /// Socket bytes read.
    pub bytes_received: u64,
}

/// A worker: connects, then answers rounds with `trainer` until the aggregator finishes.
#[derive(Debug)]
pub struct Worker;

enum RoundEnd {
    Contributed,
    Left,
    Aborted,
}

impl Worker {
    /// Connects to the aggregator at `addr` and takes part in every round until the
    /// aggregator sends `Finish`. Errors: handshake failures (e.g. this worker's key is not
    /// trusted), a dropped connection (e.g. the aggregator timed this worker out), or an
    /// invalid message from the aggregator.
    pub fn connect(
        addr: impl ToSocketAddrs,
        cfg: WorkerConfig,
        mut trainer: impl LocalTrainer,
    ) -> Result<WorkerSummary, NetError> {
        let (mut conn, welcome) = Connection::connect(addr, &cfg)?;
        let mut summary = WorkerSummary {
            id: welcome.id,
            rounds_contributed: 0,
            rounds_left: 0,
            rounds_aborted: 0,
            last_params: Vec::new(),
            bytes_sent: 0,
            bytes_received: 0,
        };
        loop {
            let deadline = Instant::now() + cfg.timeout;
            let msg = conn
                .recv_inner(
                    deadline,
                    &[TAG_ROUND_START, TAG_ABORT, TAG_FINISH],
                    cfg.max_params,
                    true,
                )
                .map_err(NetError::Connection)?;
            match msg {
                Message::Finish { .. } => break,
                // An abort of a round this worker already left or finished.
                Message::Abort { .. } => {}
                Message::RoundStart(start) => {
                    let end = match cfg.mode {
                        Mode::SecureAggregation => {
                            secure_round(&mut conn, &cfg, welcome.id, &mut trainer, &start)?
                        }
                        Mode::Plaintext | Mode::Protected => {
                            plain_round(&mut conn, &mut trainer, &start)?
                        }
                    };
                    match end {
                        RoundEnd::Contributed => summary.rounds_contributed += 1,
                        RoundEnd::Left => summary.rounds_left += 1,
                        RoundEnd::Aborted => summary.rounds_aborted += 1,
                    }
                    summary.last_params = start.params;
                }
                other => {
                    return Err(NetError::Protocol(format!(
                        "unexpected {} message between rounds",
                        other.name()
                    )));
                }
            }
        }
        summary.bytes_sent = conn.bytes_sent();
        summary.bytes_received = conn.bytes_received();
        Ok(summary)
    }
}

fn send(conn: &mut Connection, msg: &Message) -> Result<(), NetError> {
    conn.send(msg).map_err(NetError::Connection)
}

fn leave(conn: &mut Connection, round: u64, reason: String) -> Result<RoundEnd, NetError> {
    send(conn, &Message::Leave { round, reason })?;
    Ok(RoundEnd::Left)
}

/// The trainer's update for `start`, checked to have the model's length.
fn local_update(trainer: &mut impl LocalTrainer, start: &RoundStart) -> Result<Vec<f32>, String> {
    let update = trainer.local_update(start.round, &start.params)?;
    if update.len() != start.params.len() {
        return Err(format!(
            "the trainer returned {} coordinates for a {}-parameter model",
            update.len(),
            start.params.len()
        ));
    }
    Ok(update)
}

fn plain_round(
    conn: &mut Connection,
    trainer: &mut impl LocalTrainer,
    start: &RoundStart,
) -> Result<RoundEnd, NetError> {
    match local_update(trainer, start) {
        Ok(update) => {
            send(
                conn,
                &Message::Update(Update {
                    round: start.round,
                    update,
                }),
            )?;
            Ok(RoundEnd::Contributed)
        }
        Err(reason) => leave(conn, start.round, reason),
    }
}

/// Waits for the next message of the round: `expected` or an `Abort`.
fn next(
    conn: &mut Connection,
    cfg: &WorkerConfig,
    expected: u8,
    vector_len: usize,
) -> Result<Option<Message>, NetError> {
    let deadline = Instant::now() + cfg.timeout;
    match conn
        .recv(deadline, &[expected, TAG_ABORT], vector_len)
        .map_err(NetError::Connection)?
    {
        Message::Abort { .. } => Ok(None),
        msg => Ok(Some(msg)),
    }
}

fn secure_round(
    conn: &mut Connection,
    cfg: &WorkerConfig,
    id: u32,
    trainer: &mut impl LocalTrainer,
    start: &RoundStart,
) -> Result<RoundEnd, NetError> {
    let p = start.params.len();
    let graph = match start.graph_degree {
        0 => Graph::Complete,
        d => Graph::Harary {
            degree: usize::from(d),
        },
    };
    let sa_cfg =
        secagg::Config::for_suite(cfg.suite, start.round, usize::from(start.threshold), p)?
            .with_graph(graph)?;
    let quantiser = Quantiser::new(start.clip, start.quant_max_workers)?;
    let (mut client, advertise) = Client::new(sa_cfg, id)?;
    send(conn, &Message::Advertise(advertise))?;

    let Some(msg) = next(conn, cfg, TAG_ROSTER, p)? else {
        return Ok(RoundEnd::Aborted);
    };
    let Message::Roster(roster) = msg else {
        return Err(NetError::Protocol(format!(
            "expected roster, got {}",
            msg.name()
        )));
    };
    send(conn, &Message::ShareKeys(client.share_keys(&roster)?))?;

    let Some(msg) = next(conn, cfg, TAG_FORWARDED, p)? else {
        return Ok(RoundEnd::Aborted);
    };
    let Message::Forwarded(forwarded) = msg else {
        return Err(NetError::Protocol(format!(
            "expected forwarded envelopes, got {}",
            msg.name()
        )));
    };
    let quantised = match local_update(trainer, start)
        .and_then(|update| quantiser.quantise(&update).map_err(|e| e.to_string()))
    {
        Ok(q) => q,
        Err(reason) => return leave(conn, start.round, reason),
    };
    let masked = client.masked_input(&forwarded, &quantised)?;
    drop(quantised);
    send(conn, &Message::MaskedInput(masked))?;

    let Some(msg) = next(conn, cfg, TAG_UNMASK_REQUEST, p)? else {
        return Ok(RoundEnd::Aborted);
    };
    let Message::UnmaskRequest(request) = msg else {
        return Err(NetError::Protocol(format!(
            "expected unmask request, got {}",
            msg.name()
        )));
    };
    send(conn, &Message::UnmaskResponse(client.unmask(&request)?))?;
    Ok(RoundEnd::Contributed)
}
