//! The aggregator and the workers as separate TCP endpoints (std threads, blocking sockets with
//! deadlines), in three [`Mode`]s:
//!
//! - [`Mode::Plaintext`] — updates as raw little-endian `f32` over plain TCP (the baseline:
//!   no protection at all);
//! - [`Mode::Protected`] — every message inside a [`crate::session::Session`] (hybrid-KEM
//!   handshake, mutual composite-signature authentication, AEAD frames with round and
//!   sequence numbers); the aggregator sees each update;
//! - [`Mode::SecureAggregation`] — the session plus [`crate::secagg`] (Bonawitz et al. 2017,
//!   §4): the aggregator learns only the quantised sum of the survivors' updates.
//!
//! [`Aggregator::bind`] then [`Aggregator::run`] drive the rounds; [`Worker::connect`] runs a
//! worker around a [`crate::LocalTrainer`] until the aggregator says the run is over.
//!
//! # Connection set-up
//!
//! Before a session exists, handshake messages travel as *plain frames*: a big-endian `u32`
//! length (at most [`crate::session::MAX_HANDSHAKE_LEN`] here) then the bytes.
//!
//! - Plaintext: the worker sends [`PLAIN_HELLO`] (`"QTP1" ‖ 0x01`).
//! - Protected modes: `ClientHello`, `ServerHello`, `ClientFinish` of [`crate::session`], one
//!   plain frame each. The aggregator only answers workers whose key is in
//!   [`AggregatorConfig::trusted_workers`]; anything else (unknown key, bad signature, wrong
//!   suite) closes the connection and is reported as a [`Rejected`] connection in the next
//!   [`RoundReport`].
//!
//! The aggregator then sends `Welcome { version, mode, id }`. **Worker ids**: in protected
//! modes the id is `1 + the index of the worker's authenticated key` in
//! `trusted_workers` (never a claim of the worker; a second connection with a key already
//! connected is rejected); in plaintext mode it is the connection order (1, 2, …), since
//! nothing is authenticated there. In secure aggregation the aggregator also checks that the
//! `from` field of every message equals the connection's id.
//!
//! # Framing
//!
//! Frames (after the handshake):
//!
//! - plaintext: `u32 len ‖ payload` (`1 ≤ len ≤ max_frame`);
//! - protected: a session frame, `18-byte header ‖ AES-256-GCM(payload) ‖ tag` (see
//!   [`crate::session`]): the header (version, type, round, sequence number, length) is the
//!   AAD, the payload is encrypted; every byte of every frame is authenticated.
//!
//! The receiver reads the frame header and rejects a length above `max_frame` (plus the tag)
//! **before allocating** the body. A *message* is one or more frames: the first frame's
//! payload is `tag u8 ‖ body_len u64 ‖ first bytes of the body`, and continuation frames carry
//! the rest of the body (each non-empty, never past `body_len`). `body_len` is checked against
//! the limit for that tag and the expected tag set before anything else is read
//! ([`wire::max_body_len`]: `4·P + 64` for the three vector messages, where `P` is the model
//! size, and [`wire::MAX_CONTROL_LEN`] = 4 MiB for everything else). Integers inside bodies are
//! big-endian, vectors (`f32` parameters and updates, `u32` masked inputs) little-endian with
//! a `u32` count; byte strings have a `u32` length. Each body is decoded strictly (no trailing
//! bytes) by [`wire::Message::decode`].
//!
//! | tag  | message         | direction | body                                                                |
//! |------|-----------------|-----------|---------------------------------------------------------------------|
//! | 0x01 | Welcome         | A → W     | version u8, mode u8, id u32                                         |
//! | 0x02 | RoundStart      | A → W     | round u64, t u16, graph degree u16, clip f32, N_max u32, params f32s |
//! | 0x03 | Update          | W → A     | round u64, update f32s (plaintext and protected modes)              |
//! | 0x04 | Leave           | W → A     | round u64, reason (the worker sits this round out)                  |
//! | 0x05 | Abort           | A → W     | round u64, reason                                                   |
//! | 0x06 | Finish          | A → W     | rounds u64                                                          |
//! | 0x10 | Advertise       | W → A     | [`crate::secagg::Advertise`]                                        |
//! | 0x11 | Roster          | A → W     | [`crate::secagg::Roster`]                                           |
//! | 0x12 | ShareKeys       | W → A     | [`crate::secagg::ShareKeys`]                                        |
//! | 0x13 | Forwarded       | A → W     | [`crate::secagg::Forwarded`] (one per recipient)                    |
//! | 0x14 | MaskedInput     | W → A     | [`crate::secagg::MaskedInput`]                                      |
//! | 0x15 | UnmaskRequest   | A → W     | [`crate::secagg::UnmaskRequest`]                                    |
//! | 0x16 | UnmaskResponse  | W → A     | [`crate::secagg::UnmaskResponse`]                                   |
//!
//! # One round
//!
//! Rounds are numbered 1, 2, …; in protected modes the aggregator moves each session to the
//! round number before sending `RoundStart`, so every frame of the round carries (and
//! authenticates) it, and a frame of another round is rejected as cross-round. A worker
//! between rounds lets its session follow the round of the next authenticated frame.
//!
//! - Plaintext / Protected: `RoundStart` → each worker trains and answers `Update` (or
//!   `Leave`). The aggregator averages the updates it received, in id order in `f64`:
//!   `global += (Σ u_i / n) as f32`.
//! - SecureAggregation: `RoundStart` → `Advertise` → `Roster` → `ShareKeys` → `Forwarded`
//!   (each worker gets only the envelopes addressed to it) → the worker trains, quantises
//!   ([`crate::Quantiser`], parameters from `RoundStart`), masks and answers `MaskedInput` (or
//!   `Leave`) → `UnmaskRequest` → `UnmaskResponse` → [`crate::secagg::Server::finish`], then
//!   `global += dequantise_mean(sum, |survivors|)`.
//!
//! Each phase sends to every current member and then waits for every answer, in parallel (one
//! scoped thread per connection), until `phase_timeout` after the phase began.
//!
//! # Faults
//!
//! A worker is **dropped** from the round — its connection closed, a [`Dropped`] entry with a
//! [`DropReason`] in the [`RoundReport`] — when, during a phase, it disconnects, sends nothing
//! complete before the phase deadline (a stalled worker), sends a frame whose header is
//! malformed or declares more than `max_frame` (rejected before allocation), a frame the
//! session rejects (tampered, replayed, reordered or cross-round; counted in
//! [`crate::session::Counters`] too), a message with an unexpected tag, a bad length or
//! undecodable body, or a secure-aggregation message the [`crate::secagg::Server`] rejects.
//! A worker that answers `Leave` is listed as dropped with [`DropReason::Left`] but keeps its
//! connection and takes part in the next round. In secure aggregation, dropped workers after
//! `ShareKeys` are recovered by the protocol: the sum is exactly that of the survivors.
//!
//! A round **aborts** when fewer than `threshold` workers remain at a closing step (the
//! secagg stages, or fewer than `threshold` updates in the other modes): the global
//! parameters are unchanged, remaining workers get `Abort`, the report says
//! [`Outcome::Aborted`] with the reason, and the run **continues** with the next round (new
//! workers may join between rounds). If, at the start of a round, fewer than `threshold`
//! workers are connected at all, that round is reported as aborted and the run **stops**
//! early (there is nobody left to wait for); [`RunSummary::stopped_early`] says why. No read
//! ever waits without a deadline: phases use `phase_timeout`, handshakes too, the initial
//! wait for `min_workers` uses `join_timeout`, and workers use [`WorkerConfig::timeout`]
//! for every read.
//!
//! # Bounds
//!
//! Per worker connection the aggregator holds at most one frame (`max_frame` + 34 bytes) and
//! one message body (at most `4·P + 64` bytes for vector messages, 4 MiB otherwise), plus that
//! worker's decoded update until the round's sum is formed (`4·P` bytes). Handshake messages
//! are capped at 16 KiB. Handshakes are run one at a time by the aggregator, each bounded by
//! `phase_timeout`, so a silent connection delays admission by at most that long. At most 255 workers (and at most the quantiser's `N_max` in secure
//! aggregation) are admitted.
//!
//! # Byte counts
//!
//! [`RoundReport::bytes_sent`] and [`RoundReport::bytes_received`] are actual socket bytes on
//! the aggregator (all connections, handshakes and framing included). The first round also
//! carries the handshakes of the workers that joined before it.

mod aggregator;
mod conn;
pub mod wire;
mod worker;

use std::net::SocketAddr;
use std::time::Duration;

use qsafe_core::registry::{SUITE_DEFAULT, Suite};
use qsafe_core::sig::{SigningKey, VerifyingKey};

pub use aggregator::Aggregator;
pub use conn::{Connection, DangerousConnection, MIN_FRAME, PLAIN_HELLO};
pub use wire::{Message, Mode, RoundStart, Update, Welcome};
pub use worker::{Worker, WorkerSummary};

use crate::error::SessionError;
use crate::quant::Quantiser;
use crate::secagg::Graph;

/// The version in `Welcome`.
pub const PROTOCOL_VERSION: u8 = 1;
/// Default largest frame payload: 1 MiB.
pub const DEFAULT_MAX_FRAME: usize = 1 << 20;

/// Why a worker was dropped from a round.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DropReason {
    /// The connection closed (or was reset).
    #[error("disconnected")]
    Disconnected,
    /// No complete message before the phase deadline.
    #[error("timed out: no complete message before the phase deadline")]
    Timeout,
    /// A frame or message declared more bytes than allowed; rejected from its header.
    #[error("frame or message of {len} bytes exceeds the {max}-byte limit")]
    Oversized {
        /// Declared length.
        len: u64,
        /// The limit.
        max: usize,
    },
    /// The session rejected a frame (tampered, replayed, reordered, cross-round, bad header)
    /// or the handshake (unknown key, bad signature).
    #[error("session: {0}")]
    Session(SessionError),
    /// A message could not be decoded, had an unexpected type, or a wrong length or round.
    #[error("malformed message: {0}")]
    Malformed(String),
    /// A well-formed message the protocol rejected (e.g. by [`crate::secagg::Server`]).
    #[error("protocol violation: {0}")]
    Protocol(String),
    /// The worker sat the round out (its training failed); it stays connected.
    #[error("left the round: {0}")]
    Left(String),
    /// Another socket error.
    #[error("i/o error: {0}")]
    Io(String),
}

/// Errors of the network endpoints (a worker's connection, an aggregator's set-up).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetError {
    /// A socket operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The error.
        source: std::io::Error,
    },
    /// The configuration is unusable.
    #[error("invalid network configuration: {0}")]
    Config(String),
    /// Not enough workers joined before `join_timeout`.
    #[error(
        "only {joined} of the {needed} required workers joined within {seconds:.1} s; start \
         more workers or raise join_timeout"
    )]
    NotEnoughWorkers {
        /// Workers connected.
        joined: usize,
        /// `min_workers`.
        needed: usize,
        /// The join timeout.
        seconds: f64,
    },
    /// The handshake with the aggregator failed.
    #[error("handshake with the aggregator failed: {0}")]
    Handshake(String),
    /// The connection to the aggregator failed or carried something invalid.
    #[error("connection to the aggregator: {0}")]
    Connection(DropReason),
    /// The aggregator sent something the protocol does not allow.
    #[error("aggregator protocol violation: {0}")]
    Protocol(String),
    /// Training or a protocol state machine failed.
    #[error(transparent)]
    Train(#[from] crate::Error),
}

/// The aggregator's configuration. Build with [`AggregatorConfig::plaintext`] or
/// [`AggregatorConfig::protected`], then adjust fields.
#[derive(Debug)]
pub struct AggregatorConfig {
    /// Protection mode.
    pub mode: Mode,
    /// Rounds to run.
    pub rounds: u64,
    /// Workers to wait for before round 1.
    pub min_workers: usize,
    /// Least number of contributions for a round to complete (secure aggregation: the Shamir
    /// threshold `t ≥ 2`; other modes: updates needed, `≥ 1`).
    pub threshold: usize,
    /// Secure aggregation neighbour graph.
    pub graph: Graph,
    /// How long each phase waits for every worker's answer (include local training time).
    pub phase_timeout: Duration,
    /// How long to wait for `min_workers` before round 1.
    pub join_timeout: Duration,
    /// Largest frame payload (both sides must use the same value).
    pub max_frame: usize,
    /// Fixed-point parameters for secure aggregation.
    pub quantiser: Quantiser,
    /// Algorithm suite (session and secure-aggregation KEM).
    pub suite: &'static Suite,
    /// The aggregator's signing key (protected modes).
    pub identity: Option<SigningKey>,
    /// Keys of the workers allowed to join; worker `i` (0-based) gets id `i + 1`.
    pub trusted_workers: Vec<VerifyingKey>,
}

impl AggregatorConfig {
    /// Plaintext mode (no keys).
    pub fn plaintext(rounds: u64, min_workers: usize) -> Self {
        AggregatorConfig {
            mode: Mode::Plaintext,
            rounds,
            min_workers,
            threshold: 1,
            graph: Graph::Complete,
            phase_timeout: Duration::from_secs(60),
            join_timeout: Duration::from_secs(60),
            max_frame: DEFAULT_MAX_FRAME,
            quantiser: Quantiser::DEFAULT,
            suite: &SUITE_DEFAULT,
            identity: None,
            trusted_workers: Vec::new(),
        }
    }

    /// A protected mode with the aggregator's key and the trusted worker keys. The threshold
    /// defaults to `min_workers / 2 + 1` (at least 2) in secure aggregation, 1 otherwise.
    pub fn protected(
        mode: Mode,
        identity: SigningKey,
        trusted_workers: Vec<VerifyingKey>,
        rounds: u64,
        min_workers: usize,
    ) -> Self {
        let threshold = match mode {
            Mode::SecureAggregation => (min_workers / 2 + 1).max(2),
            _ => 1,
        };
        AggregatorConfig {
            mode,
            threshold,
            identity: Some(identity),
            trusted_workers,
            ..Self::plaintext(rounds, min_workers)
        }
    }

    fn validate(&self) -> Result<(), NetError> {
        let bad = |s: String| Err(NetError::Config(s));
        if self.max_frame < MIN_FRAME || self.max_frame > (u32::MAX as usize) - 16 {
            return bad(format!(
                "max_frame must be in {MIN_FRAME}..={}, got {}",
                (u32::MAX as usize) - 16,
                self.max_frame
            ));
        }
        if self.rounds > u64::from(u32::MAX) {
            return bad(format!("at most {} rounds", u32::MAX));
        }
        if self.phase_timeout.is_zero() {
            return bad("phase_timeout must be positive".into());
        }
        if self.min_workers == 0 || self.min_workers > crate::secagg::MAX_WORKERS {
            return bad(format!(
                "min_workers must be in 1..={}, got {}",
                crate::secagg::MAX_WORKERS,
                self.min_workers
            ));
        }
        if self.threshold == 0 || self.threshold > self.min_workers {
            return bad(format!(
                "threshold must be in 1..=min_workers ({}), got {}",
                self.min_workers, self.threshold
            ));
        }
        if self.mode.is_protected() {
            let Some(identity) = &self.identity else {
                return bad("protected modes need the aggregator's signing key".into());
            };
            if identity.algorithm() != self.suite.signature {
                return bad(format!(
                    "suite {} signs with {}, the aggregator key is {}",
                    self.suite.id,
                    self.suite.signature.id,
                    identity.algorithm().id
                ));
            }
            if self.trusted_workers.is_empty() {
                return bad("protected modes need at least one trusted worker key".into());
            }
        }
        if self.mode == Mode::SecureAggregation {
            crate::secagg::Config::for_suite(self.suite, 1, self.threshold, 1)
                .and_then(|c| c.with_graph(self.graph))
                .map_err(|e| NetError::Config(e.to_string()))?;
            if u16::try_from(self.threshold).is_err() {
                return bad("threshold too large".into());
            }
        }
        Ok(())
    }
}

/// A worker's configuration. Build with [`WorkerConfig::plaintext`] or
/// [`WorkerConfig::protected`], then adjust fields.
#[derive(Debug)]
pub struct WorkerConfig {
    /// Protection mode (must match the aggregator's).
    pub mode: Mode,
    /// Algorithm suite (must match the aggregator's).
    pub suite: &'static Suite,
    /// The worker's signing key (protected modes).
    pub identity: Option<SigningKey>,
    /// The aggregator's pinned verifying key (protected modes).
    pub aggregator: Option<VerifyingKey>,
    /// Largest frame payload (the aggregator's value).
    pub max_frame: usize,
    /// Bound on every read: the longest the worker waits for the aggregator's next message
    /// (a whole round of the other workers, in the worst case).
    pub timeout: Duration,
    /// Largest model accepted from the aggregator (coordinates).
    pub max_params: usize,
}

impl WorkerConfig {
    /// Plaintext mode.
    pub fn plaintext() -> Self {
        WorkerConfig {
            mode: Mode::Plaintext,
            suite: &SUITE_DEFAULT,
            identity: None,
            aggregator: None,
            max_frame: DEFAULT_MAX_FRAME,
            timeout: Duration::from_secs(600),
            max_params: 1 << 25,
        }
    }

    /// A protected mode with the worker's key and the aggregator's pinned key.
    pub fn protected(mode: Mode, identity: SigningKey, aggregator: VerifyingKey) -> Self {
        WorkerConfig {
            mode,
            identity: Some(identity),
            aggregator: Some(aggregator),
            ..Self::plaintext()
        }
    }

    fn validate(&self) -> Result<(), NetError> {
        if self.max_frame < MIN_FRAME || self.max_frame > (u32::MAX as usize) - 16 {
            return Err(NetError::Config(format!(
                "max_frame must be at least {MIN_FRAME}, got {}",
                self.max_frame
            )));
        }
        if self.timeout.is_zero() || self.max_params == 0 {
            return Err(NetError::Config(
                "timeout and max_params must be positive".into(),
            ));
        }
        if self.mode.is_protected() && (self.identity.is_none() || self.aggregator.is_none()) {
            return Err(NetError::Config(
                "protected modes need the worker's signing key and the aggregator's key".into(),
            ));
        }
        Ok(())
    }
}

/// A worker dropped from a round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped {
    /// The worker's id.
    pub id: u32,
    /// The phase it was dropped in (`"update"`, `"advertise"`, `"share-keys"`,
    /// `"masked-input"`, `"unmask"`, `"abort"`, `"round-start"`).
    pub phase: &'static str,
    /// Why.
    pub reason: DropReason,
}

/// A connection refused before it became a worker (handshake failure, unknown key, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// The peer address, if known.
    pub peer: Option<SocketAddr>,
    /// Why.
    pub reason: String,
}

/// How a round ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The global parameters were updated.
    Completed,
    /// The round was abandoned; the global parameters are unchanged.
    Aborted {
        /// Why.
        reason: String,
    },
}

/// What happened in one round (aggregator side).
#[derive(Debug, Clone, PartialEq)]
pub struct RoundReport {
    /// Round number (1-based).
    pub round: u64,
    /// Workers connected at the start of the round, ascending.
    pub participants: Vec<u32>,
    /// Workers whose updates are in the average, ascending.
    pub survivors: Vec<u32>,
    /// Workers dropped during the round (including those that left it).
    pub dropped: Vec<Dropped>,
    /// Connections refused while admitting workers for this round.
    pub rejected: Vec<Rejected>,
    /// Socket bytes the aggregator wrote during the round (all workers).
    pub bytes_sent: u64,
    /// Socket bytes the aggregator read during the round (all workers).
    pub bytes_received: u64,
    /// Wall-clock duration.
    pub seconds: f64,
    /// How it ended.
    pub outcome: Outcome,
}

/// The result of [`Aggregator::run`].
#[derive(Debug, Clone, PartialEq)]
pub struct RunSummary {
    /// The final global parameters.
    pub params: Vec<f32>,
    /// One report per round run.
    pub rounds: Vec<RoundReport>,
    /// Why the run stopped before `rounds` rounds, if it did.
    pub stopped_early: Option<String>,
    /// Socket bytes written over the whole run.
    pub bytes_sent: u64,
    /// Socket bytes read over the whole run.
    pub bytes_received: u64,
}
