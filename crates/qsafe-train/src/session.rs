//! The authenticated worker ↔ aggregator transport, sans-IO: a hybrid-KEM handshake with
//! mutual authentication by composite signatures over the transcript, then AEAD frames with
//! round and sequence numbers, replay and reordering checks, and key updates.
//!
//! # Handshake
//!
//! Both sides hold long-term signing keys of the suite's signature algorithm
//! (`mldsa65-ed25519-sha512` by default, `mldsa87-ecdsa-p384-sha512` under cnsa2). The worker
//! pins the aggregator's verifying key; the aggregator has a list of trusted worker keys.
//! `H` is the suite hash (SHA-256 default, SHA-384 cnsa2), `kid(vk) = H(vk)`; integers are
//! big-endian; `vec16(x)` is a `u16` length then `x`.
//!
//! ```text
//! ClientHello   = "QTS1" ‖ 0x01 ‖ u8 len ‖ suite id ‖ nonce_w[32] ‖ vec16(kid(vk_w))
//! ServerHello   = 0x02 ‖ nonce_a[32] ‖ vec16(ek_a) ‖ vec16(kid(vk_a))            (= SH_body)
//!                 ‖ vec16(sig_a)      sig_a = Sign(sk_a, H(CH ‖ SH_body),
//!                                                  ctx "qsafe-train/session/v1 aggregator")
//! ClientFinish  = 0x03 ‖ vec16(ct)                                              (= CF_body)
//!                 ‖ vec16(sig_w)      sig_w = Sign(sk_w, H(CH ‖ SH ‖ CF_body),
//!                                                  ctx "qsafe-train/session/v1 worker")
//! ```
//!
//! `ek_a` is a fresh ephemeral key of the suite KEM (`x-wing`, or `mlkem1024-p384` under
//! cnsa2) for every session, so sessions have forward secrecy; `(ct, ss) = Encaps(ek_a)`.
//! The aggregator's signature binds its ephemeral key to the worker's nonce; the worker's
//! binds the ciphertext and both nonces. An unknown key id on either side is
//! [`SessionError::UnknownKey`]; a bad signature [`SessionError::Authentication`]. Key ids
//! travel in the clear (identities are not hidden from a passive observer).
//!
//! # Key schedule
//!
//! ```text
//! th      = H(CH ‖ SH ‖ CF)
//! prk     = HKDF-Extract(salt = th, ikm = ss)
//! s_c2s_0 = HKDF-Expand(prk, "qsafe-train/session/v1 c2s", Nh)      worker → aggregator
//! s_s2c_0 = HKDF-Expand(prk, "qsafe-train/session/v1 s2c", Nh)      aggregator → worker
//! key_i   = HKDF-Expand(s_i, "qsafe-train/session/v1 key", 32)       AES-256-GCM
//! iv_i    = HKDF-Expand(s_i, "qsafe-train/session/v1 iv", 12)
//! s_{i+1} = HKDF-Expand(s_i, "qsafe-train/session/v1 update", Nh)
//! ```
//!
//! Key update: each direction moves from epoch `i` to `i + 1` right after the frame that
//! brings the epoch's count to [`SessionConfig::key_update_frames`] frames or its plaintext
//! total to [`SessionConfig::key_update_bytes`] bytes. Both ends count the same authenticated
//! frames, so no signalling is needed; `s_i` is zeroized when replaced. (The AES key schedule
//! inside aws-lc's AEAD context is freed with the old key; aws-lc does not cleanse it.)
//!
//! # Frames
//!
//! ```text
//! offset  size  field
//!  0      1     version = 0x01
//!  1      1     type: 0x01 data, 0x02 control, 0x03 close
//!  2      4     round (u32)
//!  6      8     seq (u64): 0, 1, 2, … per direction, across key updates
//! 14      4     length of what follows = plaintext length + 16
//! 18      len   AES-256-GCM ciphertext ‖ tag;  AAD = bytes 0..18,
//!               nonce = iv_i XOR (4 zero bytes ‖ seq as 8 bytes)
//! ```
//!
//! A receiver reads the 18-byte header, calls [`Session::parse_header`] — which rejects
//! unknown versions and types and lengths above [`SessionConfig::max_frame_len`] + 16
//! ([`SessionError::Oversized`]) *before* the body is read or allocated — then passes the
//! whole frame to [`Session::open`], which checks in this order: closed session; sequence
//! number (`seq < next` → [`SessionError::Replayed`], `seq > next` →
//! [`SessionError::Reordered`]); authentication (→ [`SessionError::Tampered`]); round
//! (an authentic frame whose round is not the session's current round →
//! [`SessionError::CrossRound`]; it still consumes its sequence number, since the sender
//! counted it). A rejected frame changes no state except its counter in [`Counters`].
//!
//! The replay window has width one: the transport is TCP, which delivers in order, so any
//! gap or repetition is an attack or a bug, and strict order keeps key updates in lock-step.

mod handshake;
mod wire;

use qsafe_core::SecretBytes;
use qsafe_core::kdf::Hkdf;
use qsafe_core::registry::Suite;
use qsafe_core::symmetric::{Aead, AeadKey, TAG_LEN};
use zeroize::Zeroizing;

pub use handshake::{
    AggregatorHandshake, MAGIC, MAX_HANDSHAKE_LEN, NONCE_LEN, WorkerHandshake, key_id,
};

use crate::error::{Error, Result, SessionError};

/// The frame format version.
pub const VERSION: u8 = 0x01;
/// Length of a frame header.
pub const HEADER_LEN: usize = 18;

const LABEL_C2S: &[u8] = b"qsafe-train/session/v1 c2s";
const LABEL_S2C: &[u8] = b"qsafe-train/session/v1 s2c";
const LABEL_KEY: &[u8] = b"qsafe-train/session/v1 key";
const LABEL_IV: &[u8] = b"qsafe-train/session/v1 iv";
const LABEL_UPDATE: &[u8] = b"qsafe-train/session/v1 update";

/// Session parameters.
#[derive(Debug, Clone, Copy)]
pub struct SessionConfig {
    suite: &'static Suite,
    max_frame_len: usize,
    key_update_frames: u64,
    key_update_bytes: u64,
}

impl SessionConfig {
    /// Largest plaintext per frame by default: 64 MiB (a 10^7-parameter `f32` update is 40 MB).
    pub const DEFAULT_MAX_FRAME_LEN: usize = 64 << 20;
    /// Frames per key epoch by default.
    pub const DEFAULT_KEY_UPDATE_FRAMES: u64 = 1 << 20;
    /// Plaintext bytes per key epoch by default (4 GiB).
    pub const DEFAULT_KEY_UPDATE_BYTES: u64 = 1 << 32;

    /// Defaults for `suite` (`SUITE_DEFAULT` or `SUITE_CNSA2`).
    pub fn new(suite: &'static Suite) -> Self {
        SessionConfig {
            suite,
            max_frame_len: Self::DEFAULT_MAX_FRAME_LEN,
            key_update_frames: Self::DEFAULT_KEY_UPDATE_FRAMES,
            key_update_bytes: Self::DEFAULT_KEY_UPDATE_BYTES,
        }
    }

    /// Sets the largest plaintext per frame (1 ..= 2^32 − 17 bytes).
    pub fn with_max_frame_len(mut self, max: usize) -> Result<Self> {
        let limit = (u32::MAX as usize) - TAG_LEN;
        if max == 0 || max > limit {
            return Err(Error::InvalidParameter(format!(
                "maximum frame length must be in 1..={limit}, got {max}"
            )));
        }
        self.max_frame_len = max;
        Ok(self)
    }

    /// Sets the key-update interval: after `frames` frames or `bytes` plaintext bytes.
    pub fn with_key_update(mut self, frames: u64, bytes: u64) -> Result<Self> {
        if frames == 0 || bytes == 0 {
            return Err(Error::InvalidParameter(
                "key-update intervals must be non-zero".into(),
            ));
        }
        self.key_update_frames = frames;
        self.key_update_bytes = bytes;
        Ok(self)
    }

    /// The suite.
    pub fn suite(&self) -> &'static Suite {
        self.suite
    }
    /// Largest plaintext per frame.
    pub fn max_frame_len(&self) -> usize {
        self.max_frame_len
    }
    /// Frames per key epoch.
    pub fn key_update_frames(&self) -> u64 {
        self.key_update_frames
    }
    /// Plaintext bytes per key epoch.
    pub fn key_update_bytes(&self) -> u64 {
        self.key_update_bytes
    }

    fn hkdf(&self) -> Result<Hkdf> {
        match qsafe_core::symmetric::Hash::from_algorithm(self.suite.hash)? {
            qsafe_core::symmetric::Hash::Sha384 => Ok(Hkdf::Sha384),
            qsafe_core::symmetric::Hash::Sha512 => Ok(Hkdf::Sha512),
            _ => Ok(Hkdf::Sha256),
        }
    }
}

/// Which end of the session this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The worker (handshake initiator).
    Worker,
    /// The aggregator (handshake responder).
    Aggregator,
}

/// What a frame carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameType {
    /// Application data (a tensor message, a secure-aggregation message).
    Data,
    /// Application control messages (round start, errors).
    Control,
    /// The sender will send nothing more.
    Close,
}

impl FrameType {
    fn code(self) -> u8 {
        match self {
            FrameType::Data => 0x01,
            FrameType::Control => 0x02,
            FrameType::Close => 0x03,
        }
    }

    fn from_code(code: u8) -> Option<Self> {
        match code {
            0x01 => Some(FrameType::Data),
            0x02 => Some(FrameType::Control),
            0x03 => Some(FrameType::Close),
            _ => None,
        }
    }
}

/// A parsed (not yet authenticated) frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// Frame type.
    pub kind: FrameType,
    /// Training round.
    pub round: u32,
    /// Sequence number.
    pub seq: u64,
    /// Length of the body that follows the header (ciphertext and tag).
    pub body_len: usize,
}

impl FrameHeader {
    fn encode(&self) -> Result<[u8; HEADER_LEN]> {
        let len = u32::try_from(self.body_len).map_err(|_| SessionError::Oversized {
            len: self.body_len,
            max: u32::MAX as usize,
        })?;
        let mut h = [0u8; HEADER_LEN];
        let (a, rest) = h.split_at_mut(2);
        a.copy_from_slice(&[VERSION, self.kind.code()]);
        let (round, rest) = rest.split_at_mut(4);
        round.copy_from_slice(&self.round.to_be_bytes());
        let (seq, l) = rest.split_at_mut(8);
        seq.copy_from_slice(&self.seq.to_be_bytes());
        l.copy_from_slice(&len.to_be_bytes());
        Ok(h)
    }
}

/// An opened frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Frame type.
    pub kind: FrameType,
    /// Training round (equal to the session's).
    pub round: u32,
    /// Sequence number.
    pub seq: u64,
    /// The plaintext.
    pub payload: Vec<u8>,
}

/// Per-session counters, for metrics and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Frames sealed.
    pub frames_sent: u64,
    /// Frames opened and accepted.
    pub frames_received: u64,
    /// Bytes of sealed frames, headers and tags included.
    pub bytes_sent: u64,
    /// Bytes of accepted frames, headers and tags included.
    pub bytes_received: u64,
    /// Sending-key updates.
    pub key_updates_sent: u64,
    /// Receiving-key updates.
    pub key_updates_received: u64,
    /// Frames rejected as tampered.
    pub rejected_tampered: u64,
    /// Frames rejected as replayed.
    pub rejected_replayed: u64,
    /// Frames rejected as out of order.
    pub rejected_reordered: u64,
    /// Authentic frames rejected for belonging to another round.
    pub rejected_cross_round: u64,
    /// Frames rejected as oversized.
    pub rejected_oversized: u64,
    /// Frames rejected as malformed (bad version, type or length).
    pub rejected_malformed: u64,
}

/// One direction's traffic keys and sequence state.
struct Direction {
    hkdf: Hkdf,
    secret: SecretBytes,
    key: AeadKey,
    iv: Zeroizing<[u8; 12]>,
    next_seq: u64,
    epoch_frames: u64,
    epoch_bytes: u64,
}

impl Direction {
    fn new(hkdf: Hkdf, secret: SecretBytes) -> Result<Self> {
        let (key, iv) = Self::keys(hkdf, &secret)?;
        Ok(Direction {
            hkdf,
            secret,
            key,
            iv,
            next_seq: 0,
            epoch_frames: 0,
            epoch_bytes: 0,
        })
    }

    fn keys(hkdf: Hkdf, secret: &SecretBytes) -> Result<(AeadKey, Zeroizing<[u8; 12]>)> {
        let key = hkdf.expand(secret.expose(), &[LABEL_KEY], 32)?;
        let iv_bytes = hkdf.expand(secret.expose(), &[LABEL_IV], 12)?;
        let mut iv = Zeroizing::new([0u8; 12]);
        iv.copy_from_slice(iv_bytes.expose());
        Ok((AeadKey::new(Aead::Aes256Gcm, key.expose())?, iv))
    }

    fn nonce(&self, seq: u64) -> [u8; 12] {
        let mut n = *self.iv;
        n.iter_mut()
            .skip(4)
            .zip(seq.to_be_bytes())
            .for_each(|(b, s)| *b ^= s);
        n
    }

    /// Counts an accepted frame; moves to the next epoch when an interval is reached.
    fn account(&mut self, plaintext_len: usize, cfg: &SessionConfig) -> Result<bool> {
        self.next_seq = self.next_seq.saturating_add(1);
        self.epoch_frames = self.epoch_frames.saturating_add(1);
        self.epoch_bytes = self.epoch_bytes.saturating_add(plaintext_len as u64);
        if self.epoch_frames >= cfg.key_update_frames || self.epoch_bytes >= cfg.key_update_bytes {
            self.ratchet()?;
            return Ok(true);
        }
        Ok(false)
    }

    fn ratchet(&mut self) -> Result<()> {
        let next = self
            .hkdf
            .expand(self.secret.expose(), &[LABEL_UPDATE], self.hkdf.hash_len())?;
        let (key, iv) = Self::keys(self.hkdf, &next)?;
        // Assigning drops (and so zeroizes) the previous secret and IV.
        self.secret = next;
        self.key = key;
        self.iv = iv;
        self.epoch_frames = 0;
        self.epoch_bytes = 0;
        Ok(())
    }
}

/// An established session. `Debug` shows the role, round and counters, never keys.
pub struct Session {
    cfg: SessionConfig,
    role: Role,
    peer_key: Vec<u8>,
    send: Direction,
    recv: Direction,
    round: u32,
    counters: Counters,
    send_closed: bool,
    recv_closed: bool,
}

impl core::fmt::Debug for Session {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Session")
            .field("suite", &self.cfg.suite.id)
            .field("role", &self.role)
            .field("round", &self.round)
            .field("counters", &self.counters)
            .finish_non_exhaustive()
    }
}

impl Session {
    fn new(
        cfg: SessionConfig,
        role: Role,
        ss: &SecretBytes,
        transcript_hash: &[u8],
        peer_key: &[u8],
    ) -> Result<Self> {
        let hkdf = cfg.hkdf()?;
        let prk = hkdf.extract(transcript_hash, ss.expose());
        let c2s = hkdf.expand(prk.expose(), &[LABEL_C2S], hkdf.hash_len())?;
        let s2c = hkdf.expand(prk.expose(), &[LABEL_S2C], hkdf.hash_len())?;
        let (send, recv) = match role {
            Role::Worker => (c2s, s2c),
            Role::Aggregator => (s2c, c2s),
        };
        Ok(Session {
            cfg,
            role,
            peer_key: peer_key.to_vec(),
            send: Direction::new(hkdf, send)?,
            recv: Direction::new(hkdf, recv)?,
            round: 0,
            counters: Counters::default(),
            send_closed: false,
            recv_closed: false,
        })
    }

    /// This end's role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The peer's authenticated verifying key (raw encoding).
    pub fn peer_key(&self) -> &[u8] {
        &self.peer_key
    }

    /// The current training round (0 after the handshake).
    pub fn round(&self) -> u32 {
        self.round
    }

    /// Moves to training round `round`; rounds only go forward.
    pub fn set_round(&mut self, round: u32) -> Result<()> {
        if round < self.round {
            return Err(Error::InvalidParameter(format!(
                "round {round} is before the session's round {}",
                self.round
            )));
        }
        self.round = round;
        Ok(())
    }

    /// The counters.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// The configuration.
    pub fn config(&self) -> &SessionConfig {
        &self.cfg
    }

    /// Seals `payload` as the next frame of the current round.
    pub fn seal(&mut self, kind: FrameType, payload: &[u8]) -> Result<Vec<u8>> {
        if self.send_closed || self.send.next_seq == u64::MAX {
            return Err(SessionError::Closed.into());
        }
        if payload.len() > self.cfg.max_frame_len {
            return Err(SessionError::Oversized {
                len: payload.len(),
                max: self.cfg.max_frame_len,
            }
            .into());
        }
        let seq = self.send.next_seq;
        let header = FrameHeader {
            kind,
            round: self.round,
            seq,
            body_len: payload.len() + TAG_LEN,
        }
        .encode()?;
        let mut frame = Vec::with_capacity(HEADER_LEN + payload.len() + TAG_LEN);
        frame.extend_from_slice(&header);
        let mut body = Vec::with_capacity(payload.len() + TAG_LEN);
        body.extend_from_slice(payload);
        self.send
            .key
            .seal_in_place(&self.send.nonce(seq), &header, &mut body)?;
        frame.extend_from_slice(&body);
        if self.send.account(payload.len(), &self.cfg)? {
            self.counters.key_updates_sent += 1;
        }
        self.counters.frames_sent += 1;
        self.counters.bytes_sent += frame.len() as u64;
        if kind == FrameType::Close {
            self.send_closed = true;
        }
        Ok(frame)
    }

    /// Parses and bounds-checks a frame header (the first [`HEADER_LEN`] bytes), so the
    /// transport knows how much to read — and refuses oversized frames before reading them.
    pub fn parse_header(&mut self, header: &[u8]) -> Result<FrameHeader> {
        match parse_header(header, self.cfg.max_frame_len) {
            Ok(h) => Ok(h),
            Err(e) => {
                match &e {
                    Error::Session(SessionError::Oversized { .. }) => {
                        self.counters.rejected_oversized += 1
                    }
                    _ => self.counters.rejected_malformed += 1,
                }
                Err(e)
            }
        }
    }

    /// Authenticates and decrypts one whole frame (header and body).
    pub fn open(&mut self, frame: &[u8]) -> Result<Frame> {
        let header_bytes = frame
            .get(..HEADER_LEN)
            .ok_or(SessionError::Malformed("frame header"));
        let header_bytes = match header_bytes {
            Ok(h) => h,
            Err(e) => {
                self.counters.rejected_malformed += 1;
                return Err(e.into());
            }
        };
        let header = self.parse_header(header_bytes)?;
        let Some(body) = frame
            .get(HEADER_LEN..)
            .filter(|b| b.len() == header.body_len)
        else {
            self.counters.rejected_malformed += 1;
            return Err(SessionError::Malformed("frame length").into());
        };
        if self.recv_closed {
            return Err(SessionError::Closed.into());
        }
        let expected = self.recv.next_seq;
        if header.seq < expected {
            self.counters.rejected_replayed += 1;
            return Err(SessionError::Replayed {
                seq: header.seq,
                expected,
            }
            .into());
        }
        if header.seq > expected {
            self.counters.rejected_reordered += 1;
            return Err(SessionError::Reordered {
                seq: header.seq,
                expected,
            }
            .into());
        }
        let mut payload = body.to_vec();
        if self
            .recv
            .key
            .open_in_place(&self.recv.nonce(header.seq), header_bytes, &mut payload)
            .is_err()
        {
            self.counters.rejected_tampered += 1;
            return Err(SessionError::Tampered { seq: header.seq }.into());
        }
        // Authentic: the frame consumes its sequence number whatever its round.
        if self.recv.account(payload.len(), &self.cfg)? {
            self.counters.key_updates_received += 1;
        }
        if header.round != self.round {
            self.counters.rejected_cross_round += 1;
            return Err(SessionError::CrossRound {
                expected: self.round,
                got: header.round,
            }
            .into());
        }
        self.counters.frames_received += 1;
        self.counters.bytes_received += frame.len() as u64;
        if header.kind == FrameType::Close {
            self.recv_closed = true;
        }
        Ok(Frame {
            kind: header.kind,
            round: header.round,
            seq: header.seq,
            payload,
        })
    }
}

/// Parses a frame header without a session (for transports that bound reads early).
pub fn parse_header(header: &[u8], max_frame_len: usize) -> Result<FrameHeader> {
    let bytes: &[u8; HEADER_LEN] = header
        .get(..HEADER_LEN)
        .and_then(|h| h.try_into().ok())
        .ok_or(SessionError::Malformed("frame header"))?;
    let [
        version,
        kind,
        r0,
        r1,
        r2,
        r3,
        s0,
        s1,
        s2,
        s3,
        s4,
        s5,
        s6,
        s7,
        l0,
        l1,
        l2,
        l3,
    ] = *bytes;
    if version != VERSION {
        return Err(SessionError::Unsupported {
            what: "frame version",
            got: version.to_string(),
        }
        .into());
    }
    let kind = FrameType::from_code(kind).ok_or(SessionError::Malformed("frame type"))?;
    let body_len = u32::from_be_bytes([l0, l1, l2, l3]) as usize;
    let max = max_frame_len.saturating_add(TAG_LEN);
    if body_len > max {
        return Err(SessionError::Oversized { len: body_len, max }.into());
    }
    if body_len < TAG_LEN {
        return Err(SessionError::Malformed("frame shorter than its tag").into());
    }
    Ok(FrameHeader {
        kind,
        round: u32::from_be_bytes([r0, r1, r2, r3]),
        seq: u64::from_be_bytes([s0, s1, s2, s3, s4, s5, s6, s7]),
        body_len,
    })
}

#[cfg(test)]
mod tests;
