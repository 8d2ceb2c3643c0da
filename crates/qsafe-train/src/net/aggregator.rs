//! The aggregator endpoint (see the [module docs](super) for the protocol).

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::conn::{Connection, Meter, session_config};
use super::wire::{
    Message, Mode, RoundStart, TAG_ADVERTISE, TAG_LEAVE, TAG_MASKED_INPUT, TAG_SHARE_KEYS,
    TAG_UNMASK_RESPONSE, TAG_UPDATE, Welcome,
};
use super::{
    AggregatorConfig, DropReason, Dropped, NetError, Outcome, PROTOCOL_VERSION, Rejected,
    RoundReport, RunSummary,
};
use crate::fedavg::{self, Aggregation};
use crate::secagg::{self, Graph, Server};
use crate::session::SessionConfig;

/// An encoded message, sent to several workers without re-encoding.
struct Encoded {
    tag: u8,
    body: Vec<u8>,
}

impl Encoded {
    fn of(msg: &Message) -> Self {
        Encoded {
            tag: msg.tag(),
            body: msg.encode(),
        }
    }
}

enum Outgoing<'a> {
    All(&'a Encoded),
    Each(&'a BTreeMap<u32, Encoded>),
}

type PhaseResults = BTreeMap<u32, Result<Option<Message>, DropReason>>;

/// The aggregator: listens, admits authenticated workers, runs the rounds.
pub struct Aggregator {
    listener: TcpListener,
    cfg: AggregatorConfig,
    session_cfg: Option<SessionConfig>,
    conns: BTreeMap<u32, Connection>,
    meter: Arc<Meter>,
    next_plain_id: u32,
    pending_rejected: Vec<Rejected>,
}

impl core::fmt::Debug for Aggregator {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Aggregator")
            .field("addr", &self.listener.local_addr().ok())
            .field("mode", &self.cfg.mode)
            .field("workers", &self.conns.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

fn io_err(what: &'static str) -> impl FnOnce(io::Error) -> NetError {
    move |source| NetError::Io { what, source }
}

impl Aggregator {
    /// Validates `cfg` and listens on `addr` (use port 0 for an ephemeral port).
    pub fn bind(addr: impl ToSocketAddrs, cfg: AggregatorConfig) -> Result<Self, NetError> {
        cfg.validate()?;
        let session_cfg = if cfg.mode.is_protected() {
            Some(
                session_config(cfg.suite, cfg.max_frame)
                    .map_err(|e| NetError::Config(e.to_string()))?,
            )
        } else {
            None
        };
        let listener = TcpListener::bind(addr).map_err(io_err("binding the listener"))?;
        listener
            .set_nonblocking(true)
            .map_err(io_err("configuring the listener"))?;
        Ok(Aggregator {
            listener,
            cfg,
            session_cfg,
            conns: BTreeMap::new(),
            meter: Arc::new(Meter::default()),
            next_plain_id: 1,
            pending_rejected: Vec::new(),
        })
    }

    /// The address workers connect to.
    pub fn local_addr(&self) -> Result<SocketAddr, NetError> {
        self.listener
            .local_addr()
            .map_err(io_err("reading the listener address"))
    }

    /// Waits for `min_workers`, runs the rounds, calls `on_round` after each with its report
    /// and the global parameters, tells the workers the run is over, and returns the final
    /// parameters with every report. Fails only on set-up (bad parameters, not enough
    /// workers joining); worker faults and aborted rounds are reported, not errors.
    pub fn run(
        &mut self,
        initial_params: Vec<f32>,
        mut on_round: impl FnMut(&RoundReport, &[f32]),
    ) -> Result<RunSummary, NetError> {
        if initial_params.is_empty() || initial_params.len() > secagg::MAX_VECTOR_LEN {
            return Err(NetError::Config(format!(
                "the model must have 1..={} parameters, got {}",
                secagg::MAX_VECTOR_LEN,
                initial_params.len()
            )));
        }
        let start = (self.meter.sent(), self.meter.received());
        self.wait_for_workers()?;
        let mut params = initial_params;
        let mut reports = Vec::new();
        let mut stopped_early = None;
        let mut before = start;
        for round in 1..=self.cfg.rounds {
            let t0 = Instant::now();
            self.admit();
            let mut rep = RoundReport {
                round,
                participants: self.conns.keys().copied().collect(),
                survivors: Vec::new(),
                dropped: Vec::new(),
                rejected: core::mem::take(&mut self.pending_rejected),
                bytes_sent: 0,
                bytes_received: 0,
                seconds: 0.0,
                outcome: Outcome::Completed,
            };
            let result = if self.conns.len() < self.cfg.threshold {
                let reason = format!(
                    "only {} workers connected; a round needs {}",
                    self.conns.len(),
                    self.cfg.threshold
                );
                stopped_early = Some(reason.clone());
                Err(reason)
            } else {
                match self.cfg.mode {
                    Mode::Plaintext | Mode::Protected => {
                        self.round_plain(round, &mut params, &mut rep)
                    }
                    Mode::SecureAggregation => self.round_secagg(round, &mut params, &mut rep),
                }
            };
            if let Err(reason) = result {
                self.abort_round(round, &reason, &mut rep);
                rep.outcome = Outcome::Aborted { reason };
            }
            let now = (self.meter.sent(), self.meter.received());
            rep.bytes_sent = now.0 - before.0;
            rep.bytes_received = now.1 - before.1;
            before = now;
            rep.seconds = t0.elapsed().as_secs_f64();
            on_round(&rep, &params);
            reports.push(rep);
            if stopped_early.is_some() {
                break;
            }
        }
        let rounds = reports.len() as u64;
        let finish = Encoded::of(&Message::Finish { rounds });
        let members: BTreeSet<u32> = self.conns.keys().copied().collect();
        self.phase(&members, Outgoing::All(&finish), &[], 0);
        self.conns.clear();
        Ok(RunSummary {
            params,
            rounds: reports,
            stopped_early,
            bytes_sent: self.meter.sent() - start.0,
            bytes_received: self.meter.received() - start.1,
        })
    }

    fn wait_for_workers(&mut self) -> Result<(), NetError> {
        let deadline = Instant::now() + self.cfg.join_timeout;
        loop {
            self.admit();
            if self.conns.len() >= self.cfg.min_workers {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(NetError::NotEnoughWorkers {
                    joined: self.conns.len(),
                    needed: self.cfg.min_workers,
                    seconds: self.cfg.join_timeout.as_secs_f64(),
                });
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Admits every pending connection (handshake, `Welcome`); failures become [`Rejected`].
    fn admit(&mut self) {
        loop {
            match self.listener.accept() {
                Ok((stream, peer)) => {
                    if let Err(reason) = self.admit_one(stream) {
                        self.pending_rejected.push(Rejected {
                            peer: Some(peer),
                            reason,
                        });
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.pending_rejected.push(Rejected {
                        peer: None,
                        reason: format!("accept failed: {e}"),
                    });
                    return;
                }
            }
        }
    }

    fn capacity(&self) -> usize {
        match self.cfg.mode {
            Mode::SecureAggregation => {
                (self.cfg.quantiser.max_workers() as usize).min(secagg::MAX_WORKERS)
            }
            _ => secagg::MAX_WORKERS,
        }
    }

    fn admit_one(&mut self, stream: TcpStream) -> Result<(), String> {
        let setup = |s: &TcpStream| -> io::Result<()> {
            s.set_nonblocking(false)?;
            s.set_nodelay(true)?;
            s.set_write_timeout(Some(self.cfg.phase_timeout))
        };
        setup(&stream).map_err(|e| format!("socket set-up failed: {e}"))?;
        if self.conns.len() >= self.capacity() {
            return Err(format!(
                "the aggregator is full ({} workers)",
                self.capacity()
            ));
        }
        let deadline = Instant::now() + self.cfg.phase_timeout;
        let mut conn = Connection::new(stream, Arc::clone(&self.meter), self.cfg.max_frame);
        let id = match (&self.session_cfg, &self.cfg.identity) {
            (Some(session_cfg), Some(identity)) => {
                conn.accept_protected(*session_cfg, identity, &self.cfg.trusted_workers, deadline)
                    .map_err(|r| format!("handshake rejected: {r}"))?;
                let peer_key = conn.session().map(|s| s.peer_key()).unwrap_or_default();
                let index = self
                    .cfg
                    .trusted_workers
                    .iter()
                    .position(|k| k.as_bytes() == peer_key)
                    .ok_or("authenticated key is not in the trusted list")?;
                let id = u32::try_from(index + 1).map_err(|_| "too many trusted keys")?;
                if self.conns.contains_key(&id) {
                    return Err(format!(
                        "worker {id} is already connected; a second connection with its key \
                         is refused"
                    ));
                }
                id
            }
            _ => {
                conn.accept_plain(deadline)
                    .map_err(|r| format!("plaintext hello rejected: {r}"))?;
                let id = self.next_plain_id;
                self.next_plain_id = self.next_plain_id.saturating_add(1);
                id
            }
        };
        conn.send(&Message::Welcome(Welcome {
            version: PROTOCOL_VERSION,
            mode: self.cfg.mode,
            id,
        }))
        .map_err(|r| format!("sending welcome failed: {r}"))?;
        self.conns.insert(id, conn);
        Ok(())
    }

    /// Sends `out` to every member, then (if `expect` is not empty) waits for one message
    /// from each, all in parallel, until `phase_timeout` from now.
    fn phase(
        &mut self,
        members: &BTreeSet<u32>,
        out: Outgoing<'_>,
        expect: &[u8],
        vector_len: usize,
    ) -> PhaseResults {
        let deadline = Instant::now() + self.cfg.phase_timeout;
        std::thread::scope(|s| {
            let handles: Vec<_> = self
                .conns
                .iter_mut()
                .filter(|(id, _)| members.contains(id))
                .map(|(&id, conn)| {
                    let msg = match &out {
                        Outgoing::All(e) => Some(*e),
                        Outgoing::Each(m) => m.get(&id),
                    };
                    let handle = s.spawn(move || -> Result<Option<Message>, DropReason> {
                        if let Some(e) = msg {
                            conn.send_encoded(e.tag, &e.body)?;
                        }
                        if expect.is_empty() {
                            return Ok(None);
                        }
                        conn.recv(deadline, expect, vector_len).map(Some)
                    });
                    (id, handle)
                })
                .collect();
            handles
                .into_iter()
                .map(|(id, h)| {
                    let r = h.join().unwrap_or_else(|_| {
                        Err(DropReason::Io("connection thread panicked".into()))
                    });
                    (id, r)
                })
                .collect()
        })
    }

    fn drop_worker(
        &mut self,
        id: u32,
        phase: &'static str,
        reason: DropReason,
        rep: &mut RoundReport,
    ) {
        if !matches!(reason, DropReason::Left(_)) {
            self.conns.remove(&id);
        }
        rep.dropped.push(Dropped { id, phase, reason });
    }

    fn set_rounds(&mut self, round: u64, rep: &mut RoundReport) {
        let r = u32::try_from(round).unwrap_or(u32::MAX);
        let failed: Vec<(u32, DropReason)> = self
            .conns
            .iter_mut()
            .filter_map(|(&id, c)| c.set_round(r).err().map(|e| (id, e)))
            .collect();
        for (id, reason) in failed {
            self.drop_worker(id, "round-start", reason, rep);
        }
    }

    fn round_start(&self, round: u64, params: &[f32]) -> Encoded {
        let (threshold, graph_degree) = match self.cfg.mode {
            Mode::SecureAggregation => {
                let degree = match self.cfg.graph {
                    Graph::Complete => 0,
                    Graph::Harary { degree } => degree,
                };
                (self.cfg.threshold, degree)
            }
            _ => (0, 0),
        };
        Encoded::of(&Message::RoundStart(RoundStart {
            round,
            threshold: u16::try_from(threshold).unwrap_or(u16::MAX),
            graph_degree: u16::try_from(graph_degree).unwrap_or(u16::MAX),
            clip: self.cfg.quantiser.clip(),
            quant_max_workers: self.cfg.quantiser.max_workers(),
            params: params.to_vec(),
        }))
    }

    /// Handles a `Leave`, an error, or an unexpected message; returns the message otherwise.
    fn triage(
        &mut self,
        id: u32,
        phase: &'static str,
        round: u64,
        result: Result<Option<Message>, DropReason>,
        rep: &mut RoundReport,
    ) -> Option<Message> {
        match result {
            Ok(Some(Message::Leave { round: r, reason })) if r == round => {
                self.drop_worker(id, phase, DropReason::Left(reason), rep);
                None
            }
            Ok(Some(Message::Leave { round: r, .. })) => {
                let reason = DropReason::Malformed(format!("leave for round {r} in round {round}"));
                self.drop_worker(id, phase, reason, rep);
                None
            }
            Ok(Some(msg)) => Some(msg),
            Ok(None) => None,
            Err(reason) => {
                self.drop_worker(id, phase, reason, rep);
                None
            }
        }
    }

    /// Plaintext and protected modes: one exchange, then the mean of the updates.
    fn round_plain(
        &mut self,
        round: u64,
        params: &mut [f32],
        rep: &mut RoundReport,
    ) -> Result<(), String> {
        let p = params.len();
        self.set_rounds(round, rep);
        let start = self.round_start(round, params);
        let members: BTreeSet<u32> = self.conns.keys().copied().collect();
        let results = self.phase(&members, Outgoing::All(&start), &[TAG_UPDATE, TAG_LEAVE], p);
        drop(start);
        let mut updates = Vec::with_capacity(results.len());
        let survivors = self.accept_phase("update", round, results, rep, |_, msg| match msg {
            Message::Update(u) if u.round != round => Err(DropReason::Malformed(format!(
                "update for round {} in round {round}",
                u.round
            ))),
            Message::Update(u) if u.update.len() != p => Err(DropReason::Malformed(format!(
                "update has {} coordinates, the model {p}",
                u.update.len()
            ))),
            Message::Update(u) => match u.update.iter().position(|x| !x.is_finite()) {
                Some(i) => Err(DropReason::Malformed(format!(
                    "update coordinate {i} is not finite"
                ))),
                None => {
                    updates.push(u.update);
                    Ok(())
                }
            },
            other => Err(unexpected(&other)),
        });
        rep.survivors = survivors.into_iter().collect();
        let n = rep.survivors.len();
        if n < self.cfg.threshold || n == 0 {
            return Err(format!(
                "only {n} updates arrived; the threshold is {}",
                self.cfg.threshold
            ));
        }
        // The same f64 mean, in ascending id order, as the in-process reference.
        let mean = Aggregation::Float
            .mean(&updates)
            .map_err(|e| e.to_string())?;
        fedavg::apply(params, &mean).map_err(|e| e.to_string())?;
        Ok(())
    }

    /// Secure aggregation: the four rounds of [`crate::secagg`], one phase each.
    fn round_secagg(
        &mut self,
        round: u64,
        params: &mut [f32],
        rep: &mut RoundReport,
    ) -> Result<(), String> {
        let p = params.len();
        let cfg = secagg::Config::for_suite(self.cfg.suite, round, self.cfg.threshold, p)
            .and_then(|c| c.with_graph(self.cfg.graph))
            .map_err(|e| e.to_string())?;
        let mut server = Server::new(cfg);
        self.set_rounds(round, rep);
        let protocol = |e: crate::Error| DropReason::Protocol(e.to_string());

        // Round 0: RoundStart → Advertise.
        let start = self.round_start(round, params);
        let members: BTreeSet<u32> = self.conns.keys().copied().collect();
        let results = self.phase(
            &members,
            Outgoing::All(&start),
            &[TAG_ADVERTISE, TAG_LEAVE],
            p,
        );
        drop(start);
        let u1 = self.accept_phase("advertise", round, results, rep, |id, msg| match msg {
            Message::Advertise(a) => {
                sender_is(a.from, id)?;
                server.receive_advertise(&a).map_err(protocol)
            }
            other => Err(unexpected(&other)),
        });
        let roster = server.roster().map_err(|e| e.to_string())?;
        let roster = Encoded::of(&Message::Roster(roster));

        // Round 1: Roster → ShareKeys.
        let results = self.phase(&u1, Outgoing::All(&roster), &[TAG_SHARE_KEYS, TAG_LEAVE], p);
        drop(roster);
        self.accept_phase("share-keys", round, results, rep, |id, msg| match msg {
            Message::ShareKeys(m) => {
                sender_is(m.from, id)?;
                server.receive_share_keys(&m).map_err(protocol)
            }
            other => Err(unexpected(&other)),
        });
        let forwarded = server.forward().map_err(|e| e.to_string())?;
        let u2: BTreeSet<u32> = forwarded.iter().map(|f| f.to).collect();
        let forwarded: BTreeMap<u32, Encoded> = forwarded
            .into_iter()
            .map(|f| (f.to, Encoded::of(&Message::Forwarded(f))))
            .collect();

        // Round 2: Forwarded → (train) → MaskedInput.
        let results = self.phase(
            &u2,
            Outgoing::Each(&forwarded),
            &[TAG_MASKED_INPUT, TAG_LEAVE],
            p,
        );
        drop(forwarded);
        self.accept_phase("masked-input", round, results, rep, |id, msg| match msg {
            Message::MaskedInput(m) => {
                sender_is(m.from, id)?;
                server.receive_masked_input(&m).map_err(protocol)
            }
            other => Err(unexpected(&other)),
        });
        let request = server.unmask_request().map_err(|e| e.to_string())?;
        let u3: BTreeSet<u32> = request.survivors.iter().copied().collect();
        let request = Encoded::of(&Message::UnmaskRequest(request));

        // Round 3: UnmaskRequest → UnmaskResponse.
        let results = self.phase(&u3, Outgoing::All(&request), &[TAG_UNMASK_RESPONSE], p);
        self.accept_phase("unmask", round, results, rep, |id, msg| match msg {
            Message::UnmaskResponse(m) => {
                sender_is(m.from, id)?;
                server.receive_unmask_response(&m).map_err(protocol)
            }
            other => Err(unexpected(&other)),
        });
        let aggregate = server.finish().map_err(|e| e.to_string())?;
        let n = u32::try_from(aggregate.survivors.len()).map_err(|e| e.to_string())?;
        let mean = self
            .cfg
            .quantiser
            .dequantise_mean(&aggregate.sum, n)
            .map_err(|e| e.to_string())?;
        params.iter_mut().zip(&mean).for_each(|(g, m)| *g += *m);
        rep.survivors = aggregate.survivors;
        Ok(())
    }

    /// Hands each answer of a phase, in ascending id order, to `accept` (which checks its
    /// type and contents and takes it); drops the workers whose answer is missing, a `Leave`,
    /// or refused. Returns the workers whose answers were accepted.
    fn accept_phase(
        &mut self,
        phase: &'static str,
        round: u64,
        results: PhaseResults,
        rep: &mut RoundReport,
        mut accept: impl FnMut(u32, Message) -> Result<(), DropReason>,
    ) -> BTreeSet<u32> {
        let mut accepted = BTreeSet::new();
        for (id, result) in results {
            let Some(msg) = self.triage(id, phase, round, result, rep) else {
                continue;
            };
            match accept(id, msg) {
                Ok(()) => {
                    accepted.insert(id);
                }
                Err(reason) => self.drop_worker(id, phase, reason, rep),
            }
        }
        accepted
    }

    /// Tells every connected worker the round is abandoned.
    fn abort_round(&mut self, round: u64, reason: &str, rep: &mut RoundReport) {
        rep.survivors.clear();
        let abort = Encoded::of(&Message::Abort {
            round,
            reason: reason.to_string(),
        });
        let members: BTreeSet<u32> = self.conns.keys().copied().collect();
        let results = self.phase(&members, Outgoing::All(&abort), &[], 0);
        for (id, result) in results {
            if let Err(reason) = result {
                self.drop_worker(id, "abort", reason, rep);
            }
        }
    }
}

/// A secure-aggregation message must name the worker whose connection it came on.
fn sender_is(claimed: u32, id: u32) -> Result<(), DropReason> {
    if claimed == id {
        Ok(())
    } else {
        Err(DropReason::Protocol(format!(
            "message claims to be from worker {claimed} on worker {id}'s connection"
        )))
    }
}

fn unexpected(msg: &Message) -> DropReason {
    DropReason::Protocol(format!("unexpected {} message", msg.name()))
}
