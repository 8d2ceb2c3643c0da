//! One framed, metered TCP connection: plaintext frames or [`Session`] frames, messages split
//! into frames of at most `max_frame` bytes, every read bounded by a deadline.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use qsafe_core::sig::{SigningKey, VerifyingKey};

use super::wire::{self, Message, Mode, Welcome};
use super::{DropReason, NetError, PROTOCOL_VERSION, WorkerConfig};
use crate::error::{Error, SessionError};
use crate::session::{
    AggregatorHandshake, FrameType, HEADER_LEN, MAX_HANDSHAKE_LEN, Session, SessionConfig,
    WorkerHandshake,
};

/// Length of a plaintext frame header (a big-endian `u32` payload length).
pub const PLAIN_HEADER_LEN: usize = 4;
/// Length of the message header at the start of a message's first frame: tag, `u64` length.
pub const MESSAGE_HEADER_LEN: usize = 9;
/// The smallest allowed `max_frame`.
pub const MIN_FRAME: usize = 64;
/// The plaintext-mode hello: magic, version.
pub const PLAIN_HELLO: &[u8; 5] = b"QTP1\x01";

/// Socket byte counters, shared by all connections of one endpoint.
#[derive(Debug, Default)]
pub(crate) struct Meter {
    sent: AtomicU64,
    received: AtomicU64,
}

impl Meter {
    pub(crate) fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }
    pub(crate) fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }
}

enum Channel {
    Plain,
    Sealed(Box<Session>),
}

/// A framed connection between a worker and the aggregator (either end). Used by
/// [`super::Aggregator`] and [`super::Worker`]; public so that other implementations and
/// fault-injection tests can speak the protocol message by message.
pub struct Connection {
    stream: TcpStream,
    meter: Arc<Meter>,
    channel: Channel,
    max_frame: usize,
    peer: Option<SocketAddr>,
}

impl core::fmt::Debug for Connection {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Connection")
            .field("peer", &self.peer)
            .field("session", &self.session())
            .field("max_frame", &self.max_frame)
            .field("bytes_sent", &self.meter.sent())
            .field("bytes_received", &self.meter.received())
            .finish_non_exhaustive()
    }
}

fn io_reason(e: &io::Error) -> DropReason {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => DropReason::Timeout,
        io::ErrorKind::UnexpectedEof
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::BrokenPipe => DropReason::Disconnected,
        _ => DropReason::Io(e.to_string()),
    }
}

fn session_reason(e: Error) -> DropReason {
    match e {
        Error::Session(SessionError::Oversized { len, max }) => DropReason::Oversized {
            len: len as u64,
            max,
        },
        Error::Session(s) => DropReason::Session(s),
        other => DropReason::Malformed(other.to_string()),
    }
}

impl Connection {
    pub(crate) fn new(stream: TcpStream, meter: Arc<Meter>, max_frame: usize) -> Self {
        let peer = stream.peer_addr().ok();
        Connection {
            stream,
            meter,
            channel: Channel::Plain,
            max_frame,
            peer,
        }
    }

    /// Connects to an aggregator as a worker: TCP, the handshake of `cfg.mode` (the session
    /// handshake in protected modes, `PLAIN_HELLO` in plaintext), then the `Welcome`, whose
    /// mode must match. Every read is bounded by `cfg.timeout`.
    pub fn connect(
        addr: impl ToSocketAddrs,
        cfg: &WorkerConfig,
    ) -> Result<(Connection, Welcome), NetError> {
        cfg.validate()?;
        let addrs: Vec<SocketAddr> = addr
            .to_socket_addrs()
            .map_err(|source| NetError::Io {
                what: "resolving the aggregator address",
                source,
            })?
            .collect();
        let mut last = io::Error::new(io::ErrorKind::NotFound, "no address to connect to");
        let mut stream = None;
        for a in addrs {
            match TcpStream::connect_timeout(&a, cfg.timeout) {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) => last = e,
            }
        }
        let stream = stream.ok_or(NetError::Io {
            what: "connecting to the aggregator",
            source: last,
        })?;
        Self::from_stream(stream, cfg, Arc::new(Meter::default()))
    }

    pub(crate) fn from_stream(
        stream: TcpStream,
        cfg: &WorkerConfig,
        meter: Arc<Meter>,
    ) -> Result<(Connection, Welcome), NetError> {
        let setup = |s: &TcpStream| -> io::Result<()> {
            s.set_nodelay(true)?;
            s.set_write_timeout(Some(cfg.timeout))
        };
        setup(&stream).map_err(|source| NetError::Io {
            what: "configuring the socket",
            source,
        })?;
        let mut conn = Connection::new(stream, meter, cfg.max_frame);
        let deadline = Instant::now() + cfg.timeout;
        let hint = "the aggregator closed the connection during the handshake; check that \
                    this worker's key is among its trusted keys and that both run the same mode";
        let handshake_err = |r: DropReason| match r {
            DropReason::Disconnected => NetError::Handshake(hint.into()),
            other => NetError::Handshake(other.to_string()),
        };
        match (cfg.mode, &cfg.identity, &cfg.aggregator) {
            (Mode::Plaintext, _, _) => {
                conn.write_plain(PLAIN_HELLO).map_err(handshake_err)?;
            }
            (_, Some(identity), Some(aggregator)) => {
                let session = conn
                    .worker_handshake(cfg, identity, aggregator, deadline)
                    .map_err(handshake_err)?;
                conn.channel = Channel::Sealed(Box::new(session));
            }
            _ => {
                return Err(NetError::Config(
                    "protected modes need the worker's signing key and the aggregator's key".into(),
                ));
            }
        }
        let welcome = match conn.recv_inner(deadline, &[wire::TAG_WELCOME], 0, true) {
            Ok(Message::Welcome(w)) => w,
            Ok(other) => {
                return Err(NetError::Protocol(format!(
                    "expected welcome, got {}",
                    other.name()
                )));
            }
            Err(r) => return Err(handshake_err(r)),
        };
        if welcome.version != PROTOCOL_VERSION || welcome.mode != cfg.mode || welcome.id == 0 {
            return Err(NetError::Protocol(format!(
                "aggregator runs protocol version {} in {} mode (id {}); this worker speaks \
                 version {PROTOCOL_VERSION} in {} mode",
                welcome.version, welcome.mode, welcome.id, cfg.mode
            )));
        }
        Ok((conn, welcome))
    }

    fn worker_handshake(
        &mut self,
        cfg: &WorkerConfig,
        identity: &SigningKey,
        aggregator: &VerifyingKey,
        deadline: Instant,
    ) -> Result<Session, DropReason> {
        let session_cfg = session_config(cfg.suite, cfg.max_frame)?;
        let (hs, client_hello) =
            WorkerHandshake::start(session_cfg, identity, aggregator).map_err(session_reason)?;
        self.write_plain(&client_hello)?;
        let server_hello = self.read_plain(deadline, MAX_HANDSHAKE_LEN)?;
        let (session, client_finish) =
            hs.finish(identity, &server_hello).map_err(session_reason)?;
        self.write_plain(&client_finish)?;
        Ok(session)
    }

    /// The aggregator's side of the plaintext hello.
    pub(crate) fn accept_plain(&mut self, deadline: Instant) -> Result<(), DropReason> {
        let hello = self.read_plain(deadline, MAX_HANDSHAKE_LEN)?;
        if hello.as_slice() != PLAIN_HELLO {
            return Err(DropReason::Malformed(
                "expected the plaintext hello (is the worker in a protected mode?)".into(),
            ));
        }
        Ok(())
    }

    /// The aggregator's side of the session handshake; installs the session.
    pub(crate) fn accept_protected(
        &mut self,
        session_cfg: SessionConfig,
        identity: &SigningKey,
        trusted: &[VerifyingKey],
        deadline: Instant,
    ) -> Result<(), DropReason> {
        let client_hello = self.read_plain(deadline, MAX_HANDSHAKE_LEN)?;
        let (hs, server_hello) =
            AggregatorHandshake::respond(session_cfg, identity, trusted, &client_hello)
                .map_err(session_reason)?;
        self.write_plain(&server_hello)?;
        let client_finish = self.read_plain(deadline, MAX_HANDSHAKE_LEN)?;
        let session = hs.finish(&client_finish).map_err(session_reason)?;
        self.channel = Channel::Sealed(Box::new(session));
        Ok(())
    }

    /// The session, in protected modes (counters, peer key, round).
    pub fn session(&self) -> Option<&Session> {
        match &self.channel {
            Channel::Plain => None,
            Channel::Sealed(s) => Some(s),
        }
    }

    /// The peer's address.
    pub fn peer(&self) -> Option<SocketAddr> {
        self.peer
    }

    /// Socket bytes written by this endpoint (all of its connections, for an aggregator).
    pub fn bytes_sent(&self) -> u64 {
        self.meter.sent()
    }

    /// Socket bytes read by this endpoint.
    pub fn bytes_received(&self) -> u64 {
        self.meter.received()
    }

    /// Moves the session to training round `round` (no-op in plaintext).
    pub fn set_round(&mut self, round: u32) -> Result<(), DropReason> {
        match &mut self.channel {
            Channel::Plain => Ok(()),
            Channel::Sealed(s) => s.set_round(round).map_err(session_reason),
        }
    }

    fn write_raw(&mut self, bytes: &[u8]) -> Result<(), DropReason> {
        let mut done = 0;
        while let Some(rest) = bytes.get(done..).filter(|r| !r.is_empty()) {
            match self.stream.write(rest) {
                Ok(0) => return Err(DropReason::Disconnected),
                Ok(n) => {
                    done += n;
                    self.meter.sent.fetch_add(n as u64, Ordering::Relaxed);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io_reason(&e)),
            }
        }
        Ok(())
    }

    fn read_raw(&mut self, buf: &mut [u8], deadline: Instant) -> Result<(), DropReason> {
        let mut filled = 0;
        while let Some(rest) = buf.get_mut(filled..).filter(|r| !r.is_empty()) {
            let left = deadline
                .checked_duration_since(Instant::now())
                .filter(|d| !d.is_zero())
                .ok_or(DropReason::Timeout)?;
            self.stream
                .set_read_timeout(Some(left))
                .map_err(|e| io_reason(&e))?;
            match self.stream.read(rest) {
                Ok(0) => return Err(DropReason::Disconnected),
                Ok(n) => {
                    filled += n;
                    self.meter.received.fetch_add(n as u64, Ordering::Relaxed);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io_reason(&e)),
            }
        }
        Ok(())
    }

    fn write_plain(&mut self, payload: &[u8]) -> Result<(), DropReason> {
        self.write_raw(&plain_frame(payload)?)
    }

    fn read_plain(&mut self, deadline: Instant, max: usize) -> Result<Vec<u8>, DropReason> {
        let mut header = [0u8; PLAIN_HEADER_LEN];
        self.read_raw(&mut header, deadline)?;
        let len = u32::from_be_bytes(header) as usize;
        if len > max {
            return Err(DropReason::Oversized {
                len: len as u64,
                max,
            });
        }
        if len == 0 {
            return Err(DropReason::Malformed("empty frame".into()));
        }
        let mut payload = vec![0u8; len];
        self.read_raw(&mut payload, deadline)?;
        Ok(payload)
    }

    /// Frames `payload` (sealing it in protected modes) without sending it.
    fn frame(&mut self, payload: &[u8]) -> Result<Vec<u8>, DropReason> {
        match &mut self.channel {
            Channel::Plain => plain_frame(payload),
            Channel::Sealed(s) => s.seal(FrameType::Data, payload).map_err(session_reason),
        }
    }

    fn write_frame(&mut self, payload: &[u8]) -> Result<(), DropReason> {
        if payload.len() > self.max_frame {
            return Err(DropReason::Oversized {
                len: payload.len() as u64,
                max: self.max_frame,
            });
        }
        let frame = self.frame(payload)?;
        self.write_raw(&frame)
    }

    fn read_frame(
        &mut self,
        deadline: Instant,
        advance_round: bool,
    ) -> Result<Vec<u8>, DropReason> {
        if matches!(self.channel, Channel::Plain) {
            return self.read_plain(deadline, self.max_frame);
        }
        let mut header = [0u8; HEADER_LEN];
        self.read_raw(&mut header, deadline)?;
        let body_len = match &mut self.channel {
            Channel::Plain => return Err(DropReason::Malformed("no session".into())),
            Channel::Sealed(s) => {
                // Bounds the body before anything is allocated for it.
                let h = s.parse_header(&header).map_err(session_reason)?;
                if advance_round && h.round > s.round() {
                    s.set_round(h.round).map_err(session_reason)?;
                }
                h.body_len
            }
        };
        let mut frame = vec![0u8; HEADER_LEN + body_len];
        if let Some((head, body)) = frame.split_at_mut_checked(HEADER_LEN) {
            head.copy_from_slice(&header);
            self.read_raw(body, deadline)?;
        }
        let Channel::Sealed(s) = &mut self.channel else {
            return Err(DropReason::Malformed("no session".into()));
        };
        let opened = s.open(&frame).map_err(session_reason)?;
        if opened.kind == FrameType::Close {
            return Err(DropReason::Disconnected);
        }
        Ok(opened.payload)
    }

    /// Sends one message, split into frames of at most `max_frame` payload bytes.
    pub fn send(&mut self, msg: &Message) -> Result<(), DropReason> {
        self.send_encoded(msg.tag(), &msg.encode())
    }

    pub(crate) fn send_encoded(&mut self, tag: u8, body: &[u8]) -> Result<(), DropReason> {
        let first_cap = self.max_frame.saturating_sub(MESSAGE_HEADER_LEN);
        let (first, rest) = body.split_at(first_cap.min(body.len()));
        let payload = message_payload(tag, body.len() as u64, first);
        self.write_frame(&payload)?;
        drop(payload);
        for chunk in rest.chunks(self.max_frame.max(1)) {
            self.write_frame(chunk)?;
        }
        Ok(())
    }

    /// Receives one message whose tag is among `expected`, by `deadline`. Bodies are bounded
    /// by [`wire::max_body_len`] for vectors of `vector_len` coordinates, checked from the
    /// message header before the body is allocated.
    pub fn recv(
        &mut self,
        deadline: Instant,
        expected: &[u8],
        vector_len: usize,
    ) -> Result<Message, DropReason> {
        self.recv_inner(deadline, expected, vector_len, false)
    }

    /// [`Connection::recv`] for a worker between rounds: lets the session move forward to the
    /// round of the next frame (the worker does not know the next round number yet). The
    /// frame is still authenticated, its round included.
    pub fn recv_next_round(
        &mut self,
        deadline: Instant,
        expected: &[u8],
        vector_len: usize,
    ) -> Result<Message, DropReason> {
        self.recv_inner(deadline, expected, vector_len, true)
    }

    pub(crate) fn recv_inner(
        &mut self,
        deadline: Instant,
        expected: &[u8],
        vector_len: usize,
        advance_round: bool,
    ) -> Result<Message, DropReason> {
        let first = self.read_frame(deadline, advance_round)?;
        let (head, data) = first
            .split_at_checked(MESSAGE_HEADER_LEN)
            .ok_or_else(|| DropReason::Malformed("frame too short for a message header".into()))?;
        let (tag, total) = match head {
            [tag, l0, l1, l2, l3, l4, l5, l6, l7] => (
                *tag,
                u64::from_be_bytes([*l0, *l1, *l2, *l3, *l4, *l5, *l6, *l7]),
            ),
            _ => return Err(DropReason::Malformed("message header".into())),
        };
        if !expected.contains(&tag) {
            let names: Vec<&str> = expected.iter().map(|&t| wire::tag_name(t)).collect();
            return Err(DropReason::Malformed(format!(
                "unexpected {} message (tag 0x{tag:02x}); expected {}",
                wire::tag_name(tag),
                names.join(" or ")
            )));
        }
        let max = wire::max_body_len(tag, vector_len);
        if total > max as u64 {
            return Err(DropReason::Oversized { len: total, max });
        }
        let total = total as usize;
        if data.len() > total {
            return Err(DropReason::Malformed(
                "message longer than its declared length".into(),
            ));
        }
        let mut body = Vec::with_capacity(total);
        body.extend_from_slice(data);
        drop(first);
        while body.len() < total {
            let more = self.read_frame(deadline, false)?;
            if more.is_empty() || body.len() + more.len() > total {
                return Err(DropReason::Malformed(
                    "message continuation is empty or overruns the declared length".into(),
                ));
            }
            body.extend_from_slice(&more);
        }
        Message::decode(tag, &body)
    }

    /// Low-level access for fault-injection tests and protocol experiments: raw socket
    /// writes and frames built but not sent. Misuse desynchronises the peer.
    pub fn dangerous(&mut self) -> DangerousConnection<'_> {
        DangerousConnection(self)
    }
}

/// See [`Connection::dangerous`].
#[derive(Debug)]
pub struct DangerousConnection<'a>(&'a mut Connection);

impl DangerousConnection<'_> {
    /// Writes raw bytes to the socket.
    pub fn write_raw(&mut self, bytes: &[u8]) -> Result<(), DropReason> {
        self.0.write_raw(bytes)
    }

    /// Builds the frame for `payload` — sealed in protected modes, which consumes a sequence
    /// number — and returns it without sending it.
    pub fn frame(&mut self, payload: &[u8]) -> Result<Vec<u8>, DropReason> {
        self.0.frame(payload)
    }

    /// The first-frame payload of a message: tag, declared body length, then `body`.
    pub fn message_payload(tag: u8, declared_len: u64, body: &[u8]) -> Vec<u8> {
        message_payload(tag, declared_len, body)
    }
}

/// A plaintext frame: `u32` length, then the payload.
fn plain_frame(payload: &[u8]) -> Result<Vec<u8>, DropReason> {
    let len = u32::try_from(payload.len()).map_err(|_| DropReason::Oversized {
        len: payload.len() as u64,
        max: u32::MAX as usize,
    })?;
    let mut frame = Vec::with_capacity(PLAIN_HEADER_LEN + payload.len());
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(payload);
    Ok(frame)
}

/// A message's first-frame payload: tag, declared body length, then the first bytes.
fn message_payload(tag: u8, declared_len: u64, first: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(MESSAGE_HEADER_LEN + first.len());
    p.push(tag);
    p.extend_from_slice(&declared_len.to_be_bytes());
    p.extend_from_slice(first);
    p
}

pub(crate) fn session_config(
    suite: &'static qsafe_core::registry::Suite,
    max_frame: usize,
) -> Result<SessionConfig, DropReason> {
    SessionConfig::new(suite)
        .with_max_frame_len(max_frame)
        .map_err(session_reason)
}
