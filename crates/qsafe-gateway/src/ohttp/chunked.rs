//! Chunked Oblivious HTTP messages (draft-ietf-ohai-chunked-ohttp-08): a response sealed and
//! sent chunk by chunk, so a streamed answer (OpenAI-style server-sent events) reaches the
//! client as it is produced instead of after the last token.
//!
//! ```text
//! Chunked Encapsulated Request {            Chunked Encapsulated Response {
//!   Chunked Request Header (56 + 8*Nenc),     Response Nonce (8 * max(Nn, Nk)),
//!   Non-Final Request Chunk (..) ...,         Non-Final Response Chunk (..) ...,
//!   Final Request Chunk Indicator (i) = 0,    Final Response Chunk Indicator (i) = 0,
//!   HPKE-Protected Final Chunk (..),          AEAD-Protected Final Response Chunk (..),
//! }                                         }
//! Non-Final Chunk { Length (i) = 1.., Protected Chunk (..) }
//! ```
//!
//! Requests (§6.1): `info = "message/bhttp chunked request" ‖ 0x00 ‖ hdr`; each chunk is
//! `sctxt.Seal(aad, chunk)` in order (HPKE's sequence number orders them), with `aad = ""`
//! for non-final chunks and `"final"` for the last. Responses (§6.2): `secret =
//! context.Export("message/bhttp chunked response", max(Nn, Nk))`, the key and nonce derived
//! as in RFC 9458 §4.4, and chunk `i` sealed under `aead_nonce XOR i` (big-endian in `Nn`
//! bytes), AAD `""` or `"final"`. A non-final chunk with an empty plaintext is a decryption
//! error (§6), and so is a stream that ends without its final chunk (truncation).
//!
//! qsafe's client sends its (small) request as one final chunk; the gateway accepts any
//! number of request chunks.

use qsafe_core::hpke;
use qsafe_core::secret::{self, SecretBytes};
use qsafe_core::symmetric::{AeadKey, NONCE_LEN, TAG_LEN};

use super::bhttp::{read_varint, write_varint};
use super::encap::{FINAL_AAD, Variant, response_key, response_nonce_len};
use super::{ClientResponse, Error, Gateway, KeyConfig, Result, ServerResponse};

/// Media type of a chunked encapsulated request.
pub const CHUNKED_REQUEST_MEDIA_TYPE: &str = "message/ohttp-chunked-req";
/// Media type of a chunked encapsulated response.
pub const CHUNKED_RESPONSE_MEDIA_TYPE: &str = "message/ohttp-chunked-res";
/// HPKE `info` prefix of chunked requests.
pub const CHUNKED_REQUEST_LABEL: &[u8] = b"message/bhttp chunked request";
/// HPKE export context of chunked responses.
pub const CHUNKED_RESPONSE_LABEL: &[u8] = b"message/bhttp chunked response";
/// Largest protected non-final chunk accepted (the draft requires 16 KiB of plaintext).
pub const MAX_CHUNK: usize = 1 << 20;

/// Opens the chunks after a chunked request's header and `enc`, in order.
pub(super) fn open_request_chunks(ctx: &mut hpke::Context, mut rest: &[u8]) -> Result<Vec<u8>> {
    let mut plain = Vec::new();
    loop {
        let (len, n) = read_varint(rest).ok_or(Error::Malformed("request chunk length"))?;
        rest = rest.get(n..).unwrap_or_default();
        if len == 0 {
            let last = ctx.open(FINAL_AAD, rest).map_err(|_| Error::Decryption)?;
            plain.extend_from_slice(&last);
            return Ok(plain);
        }
        let len = usize::try_from(len).map_err(|_| Error::Malformed("request chunk length"))?;
        let (chunk, tail) = rest
            .split_at_checked(len)
            .ok_or(Error::Malformed("request chunk"))?;
        let opened = ctx.open(b"", chunk).map_err(|_| Error::Decryption)?;
        if opened.is_empty() {
            return Err(Error::Decryption);
        }
        plain.extend_from_slice(&opened);
        rest = tail;
    }
}

impl KeyConfig {
    /// Encapsulates a binary HTTP request as a chunked request (one final chunk): returns the
    /// `message/ohttp-chunked-req` content and the state to open the chunked response.
    pub fn encapsulate_chunked(&self, request: &[u8]) -> Result<(Vec<u8>, ChunkedClientResponse)> {
        let sym = self
            .preferred_symmetric()
            .ok_or(Error::NoSupportedSymmetric(self.key_id()))?;
        let (enc, pending) =
            self.encapsulate_inner(sym, request, Variant::Chunked, |suite, pk, info| {
                Ok(hpke::setup_base_sender(suite, pk, info)?)
            })?;
        Ok((enc, ChunkedClientResponse(pending)))
    }
}

impl Gateway {
    /// Removes the encapsulation of a `message/ohttp-chunked-req` body; the same errors as
    /// [`Gateway::decapsulate`], plus [`Error::Decryption`] for an empty non-final chunk.
    pub fn decapsulate_chunked(
        &self,
        enc_request: &[u8],
    ) -> Result<(Vec<u8>, ChunkedServerResponse)> {
        let (plain, responder) = self.decapsulate_variant(enc_request, Variant::Chunked)?;
        Ok((plain, ChunkedServerResponse(responder)))
    }
}

/// The gateway's state for a chunked response; [`ChunkedServerResponse::start`] begins it.
#[derive(Debug)]
pub struct ChunkedServerResponse(ServerResponse);

impl ChunkedServerResponse {
    /// The key id the request used.
    pub fn key_id(&self) -> u8 {
        self.0.key_id()
    }

    /// Draws the response nonce: returns the sealer and the first bytes of the body.
    pub fn start(self) -> Result<(ChunkSealer, Vec<u8>)> {
        let r = self.0;
        let nonce = secret::random_bytes(response_nonce_len(r.aead))?;
        let (key, aead_nonce) = response_key(r.kdf, r.aead, &r.secret, &r.enc, nonce.expose())?;
        let sealer = ChunkSealer {
            key,
            aead_nonce,
            counter: 0,
            done: false,
        };
        Ok((sealer, nonce.expose().to_vec()))
    }
}

/// `aead_nonce XOR counter`, the counter big-endian in the nonce's length.
fn chunk_nonce(aead_nonce: &SecretBytes, counter: u64) -> [u8; NONCE_LEN] {
    let mut nonce = [0u8; NONCE_LEN];
    for (out, b) in nonce.iter_mut().zip(aead_nonce.expose()) {
        *out = *b;
    }
    for (out, c) in nonce.iter_mut().rev().zip(counter.to_le_bytes()) {
        *out ^= c;
    }
    nonce
}

/// Seals response chunks in order.
#[derive(Debug)]
pub struct ChunkSealer {
    key: AeadKey,
    aead_nonce: SecretBytes,
    counter: u64,
    done: bool,
}

impl ChunkSealer {
    /// A non-final chunk, length-prefixed; `chunk` must not be empty.
    pub fn seal(&mut self, chunk: &[u8]) -> Result<Vec<u8>> {
        if chunk.is_empty() {
            return Err(Error::Malformed("empty non-final chunk"));
        }
        if self.done {
            return Err(Error::Malformed("chunk after the final chunk"));
        }
        let sealed = self
            .key
            .seal(&chunk_nonce(&self.aead_nonce, self.counter), b"", chunk)?;
        self.counter = self
            .counter
            .checked_add(1)
            .ok_or(Error::Malformed("too many chunks"))?;
        let mut out = Vec::with_capacity(sealed.len() + 8);
        write_varint(&mut out, sealed.len() as u64)?;
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// The final chunk (may be empty), after a zero length; nothing can be sealed after it.
    pub fn seal_final(&mut self, chunk: &[u8]) -> Result<Vec<u8>> {
        if self.done {
            return Err(Error::Malformed("a second final chunk"));
        }
        self.done = true;
        let sealed = self.key.seal(
            &chunk_nonce(&self.aead_nonce, self.counter),
            FINAL_AAD,
            chunk,
        )?;
        Ok([&[0u8][..], &sealed].concat())
    }
}

/// The client's state for a chunked response.
#[derive(Debug)]
pub struct ChunkedClientResponse(ClientResponse);

impl ChunkedClientResponse {
    /// An opener for the response body, fed as it arrives.
    pub fn opener(self) -> ChunkOpener {
        ChunkOpener {
            pending: Some(self.0),
            keyed: None,
            buf: Vec::new(),
            in_final: false,
        }
    }
}

/// Opens a chunked response incrementally: [`ChunkOpener::push`] the bytes as they arrive,
/// then [`ChunkOpener::finish`] at the end of the body, which fails unless the final chunk
/// arrived whole (so truncation is detected).
#[derive(Debug)]
pub struct ChunkOpener {
    pending: Option<ClientResponse>,
    keyed: Option<OpenState>,
    buf: Vec<u8>,
    /// Set once the zero length of the final chunk was read: the rest of the body is it.
    in_final: bool,
}

#[derive(Debug)]
struct OpenState {
    key: AeadKey,
    aead_nonce: SecretBytes,
    counter: u64,
}

impl ChunkOpener {
    /// Appends received bytes; returns the plaintext of every non-final chunk now complete.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<Vec<u8>>> {
        self.buf.extend_from_slice(bytes);
        let mut out = Vec::new();
        if let Some(pending) = self.pending.take() {
            let n = response_nonce_len(pending.aead);
            if self.buf.len() < n {
                self.pending = Some(pending);
                return Ok(out);
            }
            let nonce: Vec<u8> = self.buf.drain(..n).collect();
            let (key, aead_nonce) = response_key(
                pending.kdf,
                pending.aead,
                &pending.secret,
                &pending.enc,
                &nonce,
            )?;
            self.keyed = Some(OpenState {
                key,
                aead_nonce,
                counter: 0,
            });
        }
        let Some(state) = self.keyed.as_mut() else {
            return Ok(out);
        };
        while !self.in_final {
            let Some((len, n)) = read_varint(&self.buf) else {
                break;
            };
            if len == 0 {
                self.buf.drain(..n);
                self.in_final = true;
                break;
            }
            let len = usize::try_from(len)
                .ok()
                .filter(|l| (TAG_LEN + 1..=MAX_CHUNK).contains(l))
                .ok_or(Error::Malformed("response chunk length"))?;
            let Some(chunk) = self.buf.get(n..n + len) else {
                break;
            };
            let plain = state
                .key
                .open(&chunk_nonce(&state.aead_nonce, state.counter), b"", chunk)
                .map_err(|_| Error::Decryption)?;
            if plain.is_empty() {
                return Err(Error::Decryption);
            }
            state.counter = state.counter.saturating_add(1);
            self.buf.drain(..n + len);
            out.push(plain);
        }
        if self.in_final && self.buf.len() > MAX_CHUNK {
            return Err(Error::Malformed("final response chunk too long"));
        }
        Ok(out)
    }

    /// Opens the final chunk at the end of the body.
    pub fn finish(self) -> Result<Vec<u8>> {
        match (self.keyed, self.in_final) {
            (Some(state), true) => state
                .key
                .open(
                    &chunk_nonce(&state.aead_nonce, state.counter),
                    FINAL_AAD,
                    &self.buf,
                )
                .map_err(|_| Error::Decryption),
            _ => Err(Error::Malformed(
                "chunked response truncated before its final chunk",
            )),
        }
    }
}
