//! The application messages of [`super`] and their byte encodings (see the module docs for the
//! table). Every decoder is bounds-checked: a hostile body can only produce
//! [`super::DropReason::Malformed`], and no count read from the wire sizes an allocation
//! beyond the bytes actually present.

use crate::secagg::messages::{
    Advertise, Delivered, Envelope, Forwarded, MaskedInput, RevealedShare, Roster, RosterEntry,
    ShareKeys, UnmaskRequest, UnmaskResponse,
};

use super::DropReason;

/// `Welcome`, aggregator → worker, once after the handshake.
pub const TAG_WELCOME: u8 = 0x01;
/// `RoundStart`, aggregator → worker: the round's global parameters.
pub const TAG_ROUND_START: u8 = 0x02;
/// `Update`, worker → aggregator (plaintext and protected modes).
pub const TAG_UPDATE: u8 = 0x03;
/// `Leave`, worker → aggregator: the worker sits this round out.
pub const TAG_LEAVE: u8 = 0x04;
/// `Abort`, aggregator → worker: the round is abandoned.
pub const TAG_ABORT: u8 = 0x05;
/// `Finish`, aggregator → worker: the run is over.
pub const TAG_FINISH: u8 = 0x06;
/// Secure aggregation, round 0 (worker → aggregator).
pub const TAG_ADVERTISE: u8 = 0x10;
/// Secure aggregation, end of round 0 (aggregator → worker).
pub const TAG_ROSTER: u8 = 0x11;
/// Secure aggregation, round 1 (worker → aggregator).
pub const TAG_SHARE_KEYS: u8 = 0x12;
/// Secure aggregation, end of round 1 (aggregator → worker).
pub const TAG_FORWARDED: u8 = 0x13;
/// Secure aggregation, round 2 (worker → aggregator).
pub const TAG_MASKED_INPUT: u8 = 0x14;
/// Secure aggregation, end of round 2 (aggregator → worker).
pub const TAG_UNMASK_REQUEST: u8 = 0x15;
/// Secure aggregation, round 3 (worker → aggregator).
pub const TAG_UNMASK_RESPONSE: u8 = 0x16;

/// Largest body of any message that does not carry a model-sized vector (rosters, envelopes
/// and shares of up to 255 workers under the largest KEM fit with room to spare).
pub const MAX_CONTROL_LEN: usize = 4 << 20;
/// Longest free-text reason in `Leave` and `Abort`.
pub const MAX_REASON_LEN: usize = 1024;

/// Which protection a run uses, as sent in [`Welcome`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Raw little-endian `f32` updates over plain TCP: no protection (the baseline).
    Plaintext,
    /// Every message in an authenticated [`crate::session::Session`]; the aggregator sees
    /// each update.
    Protected,
    /// Session plus [`crate::secagg`]: the aggregator learns only the quantised sum.
    SecureAggregation,
}

impl Mode {
    fn code(self) -> u8 {
        match self {
            Mode::Plaintext => 0,
            Mode::Protected => 1,
            Mode::SecureAggregation => 2,
        }
    }

    fn from_code(code: u8) -> Option<Mode> {
        match code {
            0 => Some(Mode::Plaintext),
            1 => Some(Mode::Protected),
            2 => Some(Mode::SecureAggregation),
            _ => None,
        }
    }

    /// Whether messages travel in a session.
    pub fn is_protected(self) -> bool {
        !matches!(self, Mode::Plaintext)
    }
}

impl core::fmt::Display for Mode {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Mode::Plaintext => "plaintext",
            Mode::Protected => "protected",
            Mode::SecureAggregation => "secure-aggregation",
        })
    }
}

/// Aggregator → worker after the handshake: the worker's id (from its authenticated key in
/// protected modes, its connection order in plaintext) and the aggregator's mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Welcome {
    /// Protocol version (1).
    pub version: u8,
    /// The aggregator's mode.
    pub mode: Mode,
    /// The worker's id (non-zero).
    pub id: u32,
}

/// Aggregator → worker at the start of each round.
#[derive(Debug, Clone, PartialEq)]
pub struct RoundStart {
    /// Training round (1, 2, …).
    pub round: u64,
    /// Secure-aggregation threshold `t` (0 in the other modes).
    pub threshold: u16,
    /// Harary degree of the SecAgg+ graph, 0 for the complete graph.
    pub graph_degree: u16,
    /// Quantiser clip bound `C`.
    pub clip: f32,
    /// Quantiser `N_max`.
    pub quant_max_workers: u32,
    /// The global parameters.
    pub params: Vec<f32>,
}

/// Worker → aggregator in plaintext and protected modes.
#[derive(Debug, Clone, PartialEq)]
pub struct Update {
    /// Training round.
    pub round: u64,
    /// The update (same length as the parameters).
    pub update: Vec<f32>,
}

/// One application message.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Message {
    /// See [`Welcome`].
    Welcome(Welcome),
    /// See [`RoundStart`].
    RoundStart(RoundStart),
    /// See [`Update`].
    Update(Update),
    /// Worker → aggregator: the worker sits this round out (its training failed).
    Leave {
        /// Training round.
        round: u64,
        /// Why (at most [`MAX_REASON_LEN`] bytes).
        reason: String,
    },
    /// Aggregator → worker: the round is abandoned; wait for the next `RoundStart`.
    Abort {
        /// Training round.
        round: u64,
        /// Why.
        reason: String,
    },
    /// Aggregator → worker: the run is over.
    Finish {
        /// Rounds run.
        rounds: u64,
    },
    /// Secure aggregation: [`Advertise`].
    Advertise(Advertise),
    /// Secure aggregation: [`Roster`].
    Roster(Roster),
    /// Secure aggregation: [`ShareKeys`].
    ShareKeys(ShareKeys),
    /// Secure aggregation: [`Forwarded`].
    Forwarded(Forwarded),
    /// Secure aggregation: [`MaskedInput`].
    MaskedInput(MaskedInput),
    /// Secure aggregation: [`UnmaskRequest`].
    UnmaskRequest(UnmaskRequest),
    /// Secure aggregation: [`UnmaskResponse`].
    UnmaskResponse(UnmaskResponse),
}

impl Message {
    /// The message's tag byte.
    pub fn tag(&self) -> u8 {
        match self {
            Message::Welcome(_) => TAG_WELCOME,
            Message::RoundStart(_) => TAG_ROUND_START,
            Message::Update(_) => TAG_UPDATE,
            Message::Leave { .. } => TAG_LEAVE,
            Message::Abort { .. } => TAG_ABORT,
            Message::Finish { .. } => TAG_FINISH,
            Message::Advertise(_) => TAG_ADVERTISE,
            Message::Roster(_) => TAG_ROSTER,
            Message::ShareKeys(_) => TAG_SHARE_KEYS,
            Message::Forwarded(_) => TAG_FORWARDED,
            Message::MaskedInput(_) => TAG_MASKED_INPUT,
            Message::UnmaskRequest(_) => TAG_UNMASK_REQUEST,
            Message::UnmaskResponse(_) => TAG_UNMASK_RESPONSE,
        }
    }

    /// A short name for reports.
    pub fn name(&self) -> &'static str {
        tag_name(self.tag())
    }

    /// The body (without the tag and length, which the framing adds).
    pub fn encode(&self) -> Vec<u8> {
        let mut w = W(Vec::new());
        match self {
            Message::Welcome(m) => {
                w.u8(m.version);
                w.u8(m.mode.code());
                w.u32(m.id);
            }
            Message::RoundStart(m) => {
                w.0.reserve(32 + 4 * m.params.len());
                w.u64(m.round);
                w.u16(m.threshold);
                w.u16(m.graph_degree);
                w.f32s(&[m.clip]);
                w.u32(m.quant_max_workers);
                w.f32s(&m.params);
            }
            Message::Update(m) => {
                w.0.reserve(16 + 4 * m.update.len());
                w.u64(m.round);
                w.f32s(&m.update);
            }
            Message::Leave { round, reason } | Message::Abort { round, reason } => {
                w.u64(*round);
                w.text(reason);
            }
            Message::Finish { rounds } => w.u64(*rounds),
            Message::Advertise(m) => {
                w.u64(m.round);
                w.u32(m.from);
                w.bytes(&m.mask_key);
                w.bytes(&m.share_key);
                w.bytes(&m.self_mask_commitment);
            }
            Message::Roster(m) => {
                w.u64(m.round);
                w.len(m.workers.len());
                for e in &m.workers {
                    w.u32(e.id);
                    w.bytes(&e.mask_key);
                    w.bytes(&e.share_key);
                    w.bytes(&e.self_mask_commitment);
                }
            }
            Message::ShareKeys(m) => {
                w.u64(m.round);
                w.u32(m.from);
                w.len(m.envelopes.len());
                for e in &m.envelopes {
                    w.u32(e.to);
                    w.opt_bytes(e.mask_ct.as_deref());
                    w.bytes(&e.share_ct);
                    w.bytes(&e.sealed_shares);
                }
            }
            Message::Forwarded(m) => {
                w.u64(m.round);
                w.u32(m.to);
                w.len(m.envelopes.len());
                for e in &m.envelopes {
                    w.u32(e.from);
                    w.opt_bytes(e.mask_ct.as_deref());
                    w.bytes(&e.share_ct);
                    w.bytes(&e.sealed_shares);
                }
            }
            Message::MaskedInput(m) => {
                w.0.reserve(16 + 4 * m.masked.len());
                w.u64(m.round);
                w.u32(m.from);
                w.u32s(&m.masked);
            }
            Message::UnmaskRequest(m) => {
                w.u64(m.round);
                w.ids(&m.survivors);
                w.ids(&m.dropped);
            }
            Message::UnmaskResponse(m) => {
                w.u64(m.round);
                w.u32(m.from);
                for list in [&m.self_mask_shares, &m.key_shares] {
                    w.len(list.len());
                    for s in list.iter() {
                        w.u32(s.owner);
                        w.bytes(&s.share);
                    }
                }
            }
        }
        w.0
    }

    /// Decodes a body of the message type `tag`.
    pub fn decode(tag: u8, body: &[u8]) -> Result<Message, DropReason> {
        let mut r = R {
            rest: body,
            what: tag_name(tag),
        };
        let msg = match tag {
            TAG_WELCOME => {
                let version = r.u8()?;
                let mode = Mode::from_code(r.u8()?).ok_or_else(|| r.err())?;
                Message::Welcome(Welcome {
                    version,
                    mode,
                    id: r.u32()?,
                })
            }
            TAG_ROUND_START => Message::RoundStart(RoundStart {
                round: r.u64()?,
                threshold: r.u16()?,
                graph_degree: r.u16()?,
                clip: r.f32s()?.first().copied().ok_or_else(|| r.err())?,
                quant_max_workers: r.u32()?,
                params: r.f32s()?,
            }),
            TAG_UPDATE => Message::Update(Update {
                round: r.u64()?,
                update: r.f32s()?,
            }),
            TAG_LEAVE => Message::Leave {
                round: r.u64()?,
                reason: r.text()?,
            },
            TAG_ABORT => Message::Abort {
                round: r.u64()?,
                reason: r.text()?,
            },
            TAG_FINISH => Message::Finish { rounds: r.u64()? },
            TAG_ADVERTISE => Message::Advertise(Advertise {
                round: r.u64()?,
                from: r.u32()?,
                mask_key: r.bytes()?,
                share_key: r.bytes()?,
                self_mask_commitment: r.bytes()?,
            }),
            TAG_ROSTER => {
                let round = r.u64()?;
                let n = r.u32()?;
                let mut workers = Vec::new();
                for _ in 0..n {
                    workers.push(RosterEntry {
                        id: r.u32()?,
                        mask_key: r.bytes()?,
                        share_key: r.bytes()?,
                        self_mask_commitment: r.bytes()?,
                    });
                }
                Message::Roster(Roster { round, workers })
            }
            TAG_SHARE_KEYS => {
                let round = r.u64()?;
                let from = r.u32()?;
                let n = r.u32()?;
                let mut envelopes = Vec::new();
                for _ in 0..n {
                    envelopes.push(Envelope {
                        to: r.u32()?,
                        mask_ct: r.opt_bytes()?,
                        share_ct: r.bytes()?,
                        sealed_shares: r.bytes()?,
                    });
                }
                Message::ShareKeys(ShareKeys {
                    round,
                    from,
                    envelopes,
                })
            }
            TAG_FORWARDED => {
                let round = r.u64()?;
                let to = r.u32()?;
                let n = r.u32()?;
                let mut envelopes = Vec::new();
                for _ in 0..n {
                    envelopes.push(Delivered {
                        from: r.u32()?,
                        mask_ct: r.opt_bytes()?,
                        share_ct: r.bytes()?,
                        sealed_shares: r.bytes()?,
                    });
                }
                Message::Forwarded(Forwarded {
                    round,
                    to,
                    envelopes,
                })
            }
            TAG_MASKED_INPUT => Message::MaskedInput(MaskedInput {
                round: r.u64()?,
                from: r.u32()?,
                masked: r.u32s()?,
            }),
            TAG_UNMASK_REQUEST => Message::UnmaskRequest(UnmaskRequest {
                round: r.u64()?,
                survivors: r.ids()?,
                dropped: r.ids()?,
            }),
            TAG_UNMASK_RESPONSE => {
                let round = r.u64()?;
                let from = r.u32()?;
                let self_mask_shares = r.shares()?;
                let key_shares = r.shares()?;
                Message::UnmaskResponse(UnmaskResponse {
                    round,
                    from,
                    self_mask_shares,
                    key_shares,
                })
            }
            other => {
                return Err(DropReason::Malformed(format!(
                    "unknown message tag 0x{other:02x}"
                )));
            }
        };
        if !r.rest.is_empty() {
            return Err(DropReason::Malformed(format!(
                "{} message has {} trailing bytes",
                tag_name(tag),
                r.rest.len()
            )));
        }
        Ok(msg)
    }
}

/// The name of a message tag, for errors and reports.
pub fn tag_name(tag: u8) -> &'static str {
    match tag {
        TAG_WELCOME => "welcome",
        TAG_ROUND_START => "round-start",
        TAG_UPDATE => "update",
        TAG_LEAVE => "leave",
        TAG_ABORT => "abort",
        TAG_FINISH => "finish",
        TAG_ADVERTISE => "advertise",
        TAG_ROSTER => "roster",
        TAG_SHARE_KEYS => "share-keys",
        TAG_FORWARDED => "forwarded",
        TAG_MASKED_INPUT => "masked-input",
        TAG_UNMASK_REQUEST => "unmask-request",
        TAG_UNMASK_RESPONSE => "unmask-response",
        _ => "unknown",
    }
}

/// The largest body accepted for `tag` when vectors have at most `vector_len` coordinates.
pub fn max_body_len(tag: u8, vector_len: usize) -> usize {
    match tag {
        TAG_ROUND_START | TAG_UPDATE | TAG_MASKED_INPUT => {
            vector_len.saturating_mul(4).saturating_add(64)
        }
        _ => MAX_CONTROL_LEN,
    }
}

struct W(Vec<u8>);

impl W {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    /// A count; counts above `u32::MAX` cannot occur (vectors are capped far below).
    fn len(&mut self, n: usize) {
        self.u32(u32::try_from(n).unwrap_or(u32::MAX));
    }
    fn bytes(&mut self, b: &[u8]) {
        self.len(b.len());
        self.0.extend_from_slice(b);
    }
    fn opt_bytes(&mut self, b: Option<&[u8]>) {
        match b {
            None => self.u8(0),
            Some(b) => {
                self.u8(1);
                self.bytes(b);
            }
        }
    }
    fn f32s(&mut self, v: &[f32]) {
        self.len(v.len());
        v.iter()
            .for_each(|x| self.0.extend_from_slice(&x.to_le_bytes()));
    }
    fn u32s(&mut self, v: &[u32]) {
        self.len(v.len());
        v.iter()
            .for_each(|x| self.0.extend_from_slice(&x.to_le_bytes()));
    }
    fn ids(&mut self, ids: &[u32]) {
        self.len(ids.len());
        ids.iter().for_each(|&id| self.u32(id));
    }
    fn text(&mut self, s: &str) {
        let mut end = s.len().min(MAX_REASON_LEN);
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        self.bytes(s.get(..end).unwrap_or_default().as_bytes());
    }
}

struct R<'a> {
    rest: &'a [u8],
    what: &'static str,
}

impl<'a> R<'a> {
    fn err(&self) -> DropReason {
        DropReason::Malformed(format!("truncated or invalid {} message", self.what))
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], DropReason> {
        let (head, tail) = self.rest.split_at_checked(n).ok_or_else(|| self.err())?;
        self.rest = tail;
        Ok(head)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], DropReason> {
        let b = self.take(N)?;
        b.try_into().map_err(|_| self.err())
    }
    fn u8(&mut self) -> Result<u8, DropReason> {
        Ok(u8::from_be_bytes(self.array()?))
    }
    fn u16(&mut self) -> Result<u16, DropReason> {
        Ok(u16::from_be_bytes(self.array()?))
    }
    fn u32(&mut self) -> Result<u32, DropReason> {
        Ok(u32::from_be_bytes(self.array()?))
    }
    fn u64(&mut self) -> Result<u64, DropReason> {
        Ok(u64::from_be_bytes(self.array()?))
    }
    /// A count of items of `item` bytes each, checked against the bytes left.
    fn count(&mut self, item: usize) -> Result<usize, DropReason> {
        let n = self.u32()? as usize;
        if n.saturating_mul(item) > self.rest.len() {
            return Err(self.err());
        }
        Ok(n)
    }
    fn bytes(&mut self) -> Result<Vec<u8>, DropReason> {
        let n = self.count(1)?;
        Ok(self.take(n)?.to_vec())
    }
    fn opt_bytes(&mut self) -> Result<Option<Vec<u8>>, DropReason> {
        match self.u8()? {
            0 => Ok(None),
            1 => Ok(Some(self.bytes()?)),
            _ => Err(self.err()),
        }
    }
    fn f32s(&mut self) -> Result<Vec<f32>, DropReason> {
        let n = self.count(4)?;
        let raw = self.take(n * 4)?;
        Ok(raw
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap_or([0; 4])))
            .collect())
    }
    fn u32s(&mut self) -> Result<Vec<u32>, DropReason> {
        let n = self.count(4)?;
        let raw = self.take(n * 4)?;
        Ok(raw
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes(c.try_into().unwrap_or([0; 4])))
            .collect())
    }
    fn ids(&mut self) -> Result<Vec<u32>, DropReason> {
        let n = self.count(4)?;
        (0..n).map(|_| self.u32()).collect()
    }
    fn text(&mut self) -> Result<String, DropReason> {
        let b = self.bytes()?;
        if b.len() > MAX_REASON_LEN {
            return Err(self.err());
        }
        Ok(String::from_utf8_lossy(&b).into_owned())
    }
    fn shares(&mut self) -> Result<Vec<RevealedShare>, DropReason> {
        let n = self.count(8)?;
        (0..n)
            .map(|_| {
                Ok(RevealedShare {
                    owner: self.u32()?,
                    share: self.bytes()?,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(m: Message) {
        let body = m.encode();
        assert_eq!(Message::decode(m.tag(), &body).unwrap(), m);
        // Every strict prefix is rejected, never a panic.
        for cut in 0..body.len() {
            assert!(Message::decode(m.tag(), &body[..cut]).is_err(), "{cut}");
        }
        let mut longer = body.clone();
        longer.push(0);
        assert!(Message::decode(m.tag(), &longer).is_err());
    }

    #[test]
    fn every_message_round_trips_and_rejects_truncation() {
        round_trip(Message::Welcome(Welcome {
            version: 1,
            mode: Mode::SecureAggregation,
            id: 7,
        }));
        round_trip(Message::RoundStart(RoundStart {
            round: 3,
            threshold: 2,
            graph_degree: 0,
            clip: 4.0,
            quant_max_workers: 256,
            params: vec![1.0, -2.5, 0.0],
        }));
        round_trip(Message::Update(Update {
            round: 3,
            update: vec![0.5; 5],
        }));
        round_trip(Message::Leave {
            round: 1,
            reason: "no data".into(),
        });
        round_trip(Message::Abort {
            round: 1,
            reason: "below threshold".into(),
        });
        round_trip(Message::Finish { rounds: 9 });
        round_trip(Message::Advertise(Advertise {
            round: 1,
            from: 2,
            mask_key: vec![1; 5],
            share_key: vec![2; 6],
            self_mask_commitment: vec![3; 32],
        }));
        round_trip(Message::Roster(Roster {
            round: 1,
            workers: vec![RosterEntry {
                id: 1,
                mask_key: vec![1; 3],
                share_key: vec![2; 3],
                self_mask_commitment: vec![3; 3],
            }],
        }));
        round_trip(Message::ShareKeys(ShareKeys {
            round: 1,
            from: 1,
            envelopes: vec![
                Envelope {
                    to: 2,
                    mask_ct: Some(vec![9; 4]),
                    share_ct: vec![8; 4],
                    sealed_shares: vec![7; 4],
                },
                Envelope {
                    to: 3,
                    mask_ct: None,
                    share_ct: vec![8; 4],
                    sealed_shares: vec![7; 4],
                },
            ],
        }));
        round_trip(Message::Forwarded(Forwarded {
            round: 1,
            to: 2,
            envelopes: vec![Delivered {
                from: 1,
                mask_ct: Some(vec![9; 4]),
                share_ct: vec![8; 4],
                sealed_shares: vec![7; 4],
            }],
        }));
        round_trip(Message::MaskedInput(MaskedInput {
            round: 1,
            from: 2,
            masked: vec![1, u32::MAX, 3],
        }));
        round_trip(Message::UnmaskRequest(UnmaskRequest {
            round: 1,
            survivors: vec![1, 2],
            dropped: vec![3],
        }));
        round_trip(Message::UnmaskResponse(UnmaskResponse {
            round: 1,
            from: 1,
            self_mask_shares: vec![RevealedShare {
                owner: 1,
                share: vec![1; 33],
            }],
            key_shares: vec![],
        }));
    }

    #[test]
    fn counts_larger_than_the_body_are_rejected_without_allocating() {
        let mut body = 1u64.to_be_bytes().to_vec();
        body.extend_from_slice(&u32::MAX.to_be_bytes());
        assert!(Message::decode(TAG_UPDATE, &body).is_err());
        assert!(Message::decode(0xee, &[]).is_err());
    }
}
