//! Errors of `qsafe-train`: one small enum, with layered sub-enums for the two protocol
//! domains ([`SecAggError`], [`SessionError`]). No message ever carries secret bytes.

/// A `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// Everything that can go wrong in `qsafe-train`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A parameter is out of range (clip bound, threshold, vector length, …).
    #[error("invalid parameter: {0}")]
    InvalidParameter(String),
    /// An input has the wrong length.
    #[error("{what} must be {expected} long, got {got}")]
    Length {
        /// What was measured.
        what: &'static str,
        /// Expected length (bytes or elements, as `what` says).
        expected: usize,
        /// Length given.
        got: usize,
    },
    /// An update coordinate is NaN or infinite.
    #[error("update coordinate {index} is not a finite number")]
    NonFinite {
        /// Index of the first offending coordinate.
        index: usize,
    },
    /// The secure-aggregation protocol rejected a message or could not complete.
    #[error("secure aggregation: {0}")]
    SecAgg(#[from] SecAggError),
    /// The authenticated session rejected a handshake message or a frame.
    #[error("session: {0}")]
    Session(#[from] SessionError),
    /// A primitive from `qsafe-core` failed (opaque, as the core's errors are).
    #[error(transparent)]
    Crypto(#[from] qsafe_core::Error),
}

/// Why a secure-aggregation message was rejected or a round could not complete.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum SecAggError {
    /// A message arrived in the wrong protocol state (e.g. masked input before key sharing).
    #[error("unexpected {got} message in state {state}")]
    UnexpectedMessage {
        /// The state machine's current state.
        state: &'static str,
        /// The message that arrived.
        got: &'static str,
    },
    /// A message is for another aggregation round.
    #[error("message for round {got}, expected round {expected}")]
    WrongRound {
        /// This round.
        expected: u64,
        /// The message's round.
        got: u64,
    },
    /// A message names a worker that is not in the roster (or is not allowed at this stage).
    #[error("unknown worker {0}")]
    UnknownWorker(u32),
    /// The same worker sent the same message twice, or a list names a worker twice.
    #[error("duplicate {what} from or for worker {worker}")]
    Duplicate {
        /// What was duplicated.
        what: &'static str,
        /// The worker.
        worker: u32,
    },
    /// Fewer workers than the threshold remain, so the round must abort.
    #[error("only {have} workers {stage}; the threshold is {threshold}")]
    BelowThreshold {
        /// The stage that fell short.
        stage: &'static str,
        /// Workers available.
        have: usize,
        /// Threshold `t`.
        threshold: usize,
    },
    /// The server asked for both the self-mask share and the key share of one worker, which
    /// would let it unmask that worker's input.
    #[error("refusing to reveal both share kinds of worker {0}")]
    BothSharesRequested(u32),
    /// A message is structurally wrong (missing or extra entry, wrong length).
    #[error("malformed message from worker {from}: {what}")]
    Malformed {
        /// The sender (0 for the server).
        from: u32,
        /// What is wrong.
        what: &'static str,
    },
    /// Encrypted shares from a peer failed to decrypt (tampered, or not addressed to us).
    #[error("encrypted shares from worker {from} failed to decrypt")]
    ShareDecryption {
        /// The sender.
        from: u32,
    },
    /// Reconstructed secrets of a worker are inconsistent with what it sent.
    #[error("secrets of worker {worker} could not be reconstructed consistently")]
    Reconstruction {
        /// The worker.
        worker: u32,
    },
}

/// Why the session rejected a handshake message or a frame. Every frame rejection is also
/// counted in [`crate::session::Counters`].
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionError {
    /// The peer's long-term signing key is not the expected or a trusted one.
    #[error("unknown peer key ({role})")]
    UnknownKey {
        /// Whose key: "aggregator" or "worker".
        role: &'static str,
    },
    /// A handshake signature did not verify over the transcript.
    #[error("handshake authentication failed ({role} signature)")]
    Authentication {
        /// Whose signature: "aggregator" or "worker".
        role: &'static str,
    },
    /// A handshake message or frame header could not be parsed.
    #[error("malformed {0}")]
    Malformed(&'static str),
    /// The peer offered a different protocol version or suite.
    #[error("unsupported {what}: {got}")]
    Unsupported {
        /// Version or suite.
        what: &'static str,
        /// What was offered.
        got: String,
    },
    /// A frame failed authentication: its header or ciphertext was modified.
    #[error("frame {seq} failed authentication (tampered)")]
    Tampered {
        /// The sequence number in the (unauthenticated) header.
        seq: u64,
    },
    /// A frame's sequence number was already accepted (duplicate or old).
    #[error("frame {seq} replayed (next expected {expected})")]
    Replayed {
        /// The frame's sequence number.
        seq: u64,
        /// The next sequence number expected.
        expected: u64,
    },
    /// A frame arrived ahead of its turn: frames were dropped or reordered in transit.
    #[error("frame {seq} out of order (next expected {expected})")]
    Reordered {
        /// The frame's sequence number.
        seq: u64,
        /// The next sequence number expected.
        expected: u64,
    },
    /// A frame belongs to another training round.
    #[error("frame for round {got}, session is in round {expected}")]
    CrossRound {
        /// The session's current round.
        expected: u32,
        /// The frame's round.
        got: u32,
    },
    /// A frame is larger than the session's maximum; rejected before allocating.
    #[error("frame of {len} bytes exceeds the {max}-byte limit")]
    Oversized {
        /// Declared length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The session is closed, or its sequence numbers are exhausted.
    #[error("session closed")]
    Closed,
}
