//! Request and response encapsulation (RFC 9458 §4).
//!
//! ```text
//! Encapsulated Request {                    Encapsulated Response {
//!   Key Identifier (8),                       Nonce (8 * max(Nn, Nk)),
//!   HPKE KEM ID (16),                         AEAD-Protected Response (..),
//!   HPKE KDF ID (16),                       }
//!   HPKE AEAD ID (16),
//!   Encapsulated KEM Shared Secret (8 * Nenc),
//!   HPKE-Protected Request (..),
//! }
//! ```
//!
//! Requests (§4.3): `hdr = key_id ‖ kem_id ‖ kdf_id ‖ aead_id`, `info = "message/bhttp
//! request" ‖ 0x00 ‖ hdr`, `enc, sctxt = SetupBaseS(pkR, info)`, `ct = sctxt.Seal("",
//! request)`, sent as `hdr ‖ enc ‖ ct`. `Nenc` is the KEM's: 32 for X25519, 1120 for X-Wing,
//! 1665 for MLKEM1024-P384.
//!
//! Responses (§4.4): `secret = context.Export("message/bhttp response", max(Nn, Nk))`, a
//! random `response_nonce` of the same length, `prk = Extract(enc ‖ response_nonce,
//! secret)`, `aead_key = Expand(prk, "key", Nk)`, `aead_nonce = Expand(prk, "nonce", Nn)`,
//! sent as `response_nonce ‖ Seal(aead_key, aead_nonce, "", response)`. Extract and Expand
//! are the plain HKDF functions of the suite's KDF.

use qsafe_core::hpke::{self, Suite};
use qsafe_core::kdf::Hkdf;
use qsafe_core::kem::EncapsulationKey;
use qsafe_core::secret::{self, SecretBytes};
use qsafe_core::symmetric::{Aead, AeadKey, NONCE_LEN, TAG_LEN};

use super::bhttp;
use super::keyconfig::{GatewayKey, KeyConfig, SymmetricAlgorithm, kem_lengths};
use super::{Error, Result};

/// HPKE `info` prefix of requests (RFC 9458 §4.3).
pub const REQUEST_LABEL: &[u8] = b"message/bhttp request";
/// HPKE export context of responses (RFC 9458 §4.4).
pub const RESPONSE_LABEL: &[u8] = b"message/bhttp response";

/// The AAD of the final chunk of a chunked message (draft-ietf-ohai-chunked-ohttp §6).
pub(super) const FINAL_AAD: &[u8] = b"final";

/// Which encapsulation: RFC 9458's whole messages, or the chunked variant of
/// draft-ietf-ohai-chunked-ohttp (its own HPKE labels, chunks sealed one by one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Variant {
    Whole,
    Chunked,
}

impl Variant {
    fn request_label(self) -> &'static [u8] {
        match self {
            Variant::Whole => REQUEST_LABEL,
            Variant::Chunked => super::chunked::CHUNKED_REQUEST_LABEL,
        }
    }

    fn response_label(self) -> &'static [u8] {
        match self {
            Variant::Whole => RESPONSE_LABEL,
            Variant::Chunked => super::chunked::CHUNKED_RESPONSE_LABEL,
        }
    }
}

/// The 7-byte header of an encapsulated request (RFC 9458 §4.1), which is also bound into
/// the HPKE `info`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestHeader {
    /// Key identifier.
    pub key_id: u8,
    /// HPKE KEM id.
    pub kem_id: u16,
    /// HPKE KDF id.
    pub kdf_id: u16,
    /// HPKE AEAD id.
    pub aead_id: u16,
}

impl RequestHeader {
    /// Encoded length.
    pub const LEN: usize = 7;

    /// `hdr`.
    pub fn encode(&self) -> [u8; RequestHeader::LEN] {
        let [k0, k1] = self.kem_id.to_be_bytes();
        let [d0, d1] = self.kdf_id.to_be_bytes();
        let [a0, a1] = self.aead_id.to_be_bytes();
        [self.key_id, k0, k1, d0, d1, a0, a1]
    }

    /// Parses the front of an encapsulated request.
    pub fn decode(bytes: &[u8]) -> Option<(RequestHeader, &[u8])> {
        let (hdr, rest) = bytes.split_first_chunk::<{ RequestHeader::LEN }>()?;
        let [key_id, k0, k1, d0, d1, a0, a1] = *hdr;
        Some((
            RequestHeader {
                key_id,
                kem_id: u16::from_be_bytes([k0, k1]),
                kdf_id: u16::from_be_bytes([d0, d1]),
                aead_id: u16::from_be_bytes([a0, a1]),
            },
            rest,
        ))
    }

    /// `info = "message/bhttp request" ‖ 0x00 ‖ hdr`.
    pub fn info(&self) -> Vec<u8> {
        self.info_with(REQUEST_LABEL)
    }

    /// `info = label ‖ 0x00 ‖ hdr` (the chunked variant has its own label).
    pub(super) fn info_with(&self, label: &[u8]) -> Vec<u8> {
        [label, &[0], &self.encode()].concat()
    }

    fn symmetric(&self) -> SymmetricAlgorithm {
        SymmetricAlgorithm::from_ids(self.kdf_id, self.aead_id)
    }
}

/// `max(Nn, Nk)`: the length of the exported secret and of the response nonce.
pub(super) fn response_nonce_len(aead: Aead) -> usize {
    NONCE_LEN.max(aead.key_len())
}

/// The response AEAD key and nonce (RFC 9458 §4.4 steps 3-5).
pub(super) fn response_key(
    kdf: Hkdf,
    aead: Aead,
    secret: &SecretBytes,
    enc: &[u8],
    response_nonce: &[u8],
) -> Result<(AeadKey, SecretBytes)> {
    let salt = [enc, response_nonce].concat();
    let prk = kdf.extract(&salt, secret.expose());
    let key = kdf.expand(prk.expose(), &[b"key"], aead.key_len())?;
    let nonce = kdf.expand(prk.expose(), &[b"nonce"], NONCE_LEN)?;
    Ok((AeadKey::new(aead, key.expose())?, nonce))
}

/// The algorithms of an accepted (header, key) pair.
fn suite_of(sym: SymmetricAlgorithm, key_id: u8, kem_id: u16) -> Result<(Hkdf, Aead)> {
    match (sym.kdf(), sym.aead()) {
        (Some(kdf), Some(aead)) => Ok((kdf, aead)),
        _ => Err(Error::UnsupportedSuite {
            key_id,
            kem_id,
            kdf_id: sym.kdf_id,
            aead_id: sym.aead_id,
        }),
    }
}

// ---- Client -------------------------------------------------------------------------------------

/// What a client keeps after sending a request, to open the response (RFC 9458 §4.4). The
/// exported secret is zeroized on drop.
#[derive(Debug)]
pub struct ClientResponse {
    pub(super) kdf: Hkdf,
    pub(super) aead: Aead,
    pub(super) enc: Vec<u8>,
    pub(super) secret: SecretBytes,
}

impl KeyConfig {
    /// Encapsulates a binary HTTP request with the first offered KDF and AEAD that qsafe
    /// implements: returns the `message/ohttp-req` content and the state to open the reply.
    pub fn encapsulate(&self, request: &[u8]) -> Result<(Vec<u8>, ClientResponse)> {
        let sym = self
            .preferred_symmetric()
            .ok_or(Error::NoSupportedSymmetric(self.key_id()))?;
        self.encapsulate_with(sym, request)
    }

    /// Encapsulates with a chosen pair, which must be one the configuration offers.
    pub fn encapsulate_with(
        &self,
        sym: SymmetricAlgorithm,
        request: &[u8],
    ) -> Result<(Vec<u8>, ClientResponse)> {
        self.encapsulate_inner(sym, request, Variant::Whole, |suite, pk, info| {
            Ok(hpke::setup_base_sender(suite, pk, info)?)
        })
    }

    #[cfg(feature = "hazmat")]
    /// Hazmat: encapsulation with the HPKE ephemeral randomness derived from `ikm_e`
    /// (`setup_base_sender_derand`), for test vectors. Reusing it destroys security.
    #[doc(hidden)]
    pub fn encapsulate_derand(
        &self,
        sym: SymmetricAlgorithm,
        request: &[u8],
        ikm_e: &[u8],
    ) -> Result<(Vec<u8>, ClientResponse)> {
        self.encapsulate_inner(sym, request, Variant::Whole, |suite, pk, info| {
            Ok(hpke::setup_base_sender_derand(suite, pk, info, ikm_e)?)
        })
    }

    pub(super) fn encapsulate_inner(
        &self,
        sym: SymmetricAlgorithm,
        request: &[u8],
        variant: Variant,
        setup: impl FnOnce(&Suite, &EncapsulationKey, &[u8]) -> Result<(Vec<u8>, hpke::Context)>,
    ) -> Result<(Vec<u8>, ClientResponse)> {
        if !self.symmetric().contains(&sym) {
            return Err(Error::UnsupportedSuite {
                key_id: self.key_id(),
                kem_id: self.kem_id(),
                kdf_id: sym.kdf_id,
                aead_id: sym.aead_id,
            });
        }
        let (kdf, aead) = suite_of(sym, self.key_id(), self.kem_id())?;
        let (_, nenc) = kem_lengths(self.kem()).ok_or(Error::UnsupportedKem(self.kem_id()))?;
        let suite = Suite::new(self.kem(), kdf, Some(aead))?;
        let hdr = RequestHeader {
            key_id: self.key_id(),
            kem_id: self.kem_id(),
            kdf_id: sym.kdf_id,
            aead_id: sym.aead_id,
        };
        let (enc, mut ctx) = setup(
            &suite,
            &self.encapsulation_key()?,
            &hdr.info_with(variant.request_label()),
        )?;
        if enc.len() != nenc {
            return Err(Error::Crypto(qsafe_core::Error::Internal(
                "HPKE enc length",
            )));
        }
        let ct = match variant {
            Variant::Whole => ctx.seal(b"", request)?,
            // One final chunk: a zero length, then the chunk sealed with AAD "final".
            Variant::Chunked => [&[0u8][..], &ctx.seal(FINAL_AAD, request)?].concat(),
        };
        let secret = ctx.export(variant.response_label(), response_nonce_len(aead))?;
        let mut out = Vec::with_capacity(RequestHeader::LEN + enc.len() + ct.len());
        out.extend_from_slice(&hdr.encode());
        out.extend_from_slice(&enc);
        out.extend_from_slice(&ct);
        Ok((
            out,
            ClientResponse {
                kdf,
                aead,
                enc,
                secret,
            },
        ))
    }
}

impl ClientResponse {
    #[cfg(feature = "hazmat")]
    /// Hazmat: the client state from a known exported secret (RFC 9458 Appendix A publishes
    /// one), for test vectors.
    #[doc(hidden)]
    pub fn from_exported_secret(
        sym: SymmetricAlgorithm,
        enc: &[u8],
        secret: &[u8],
    ) -> Result<Self> {
        let (kdf, aead) = suite_of(sym, 0, 0)?;
        if secret.len() != response_nonce_len(aead) {
            return Err(Error::Malformed("exported secret"));
        }
        Ok(ClientResponse {
            kdf,
            aead,
            enc: enc.to_vec(),
            secret: SecretBytes::from_slice(secret),
        })
    }

    /// Opens a `message/ohttp-res` body: returns the binary HTTP response bytes.
    pub fn open(self, enc_response: &[u8]) -> Result<Vec<u8>> {
        let (nonce, ct) = enc_response
            .split_at_checked(response_nonce_len(self.aead))
            .filter(|(_, ct)| ct.len() >= TAG_LEN)
            .ok_or(Error::Malformed("response"))?;
        let (key, aead_nonce) = response_key(self.kdf, self.aead, &self.secret, &self.enc, nonce)?;
        key.open(aead_nonce.expose(), b"", ct)
            .map_err(|_| Error::Decryption)
    }

    /// Opens and decodes the binary HTTP response.
    pub fn open_response(
        self,
        enc_response: &[u8],
        limits: &bhttp::Limits,
    ) -> Result<bhttp::Response> {
        Ok(bhttp::Response::decode(&self.open(enc_response)?, limits)?)
    }
}

// ---- Gateway ------------------------------------------------------------------------------------

/// Default bound on an encapsulated request: the default binary HTTP message limit plus
/// room for the header, the largest `enc` (1665 bytes) and the tag.
pub const DEFAULT_MAX_REQUEST: usize = (8 << 20) + 4096;

/// An Oblivious Gateway Resource's keys (RFC 9458 §2): one or more configurations, each
/// under its own key id, so keys rotate by adding the new one, publishing both, and removing
/// the old one once clients have moved.
#[derive(Debug)]
pub struct Gateway {
    keys: Vec<GatewayKey>,
    max_request: usize,
    limits: bhttp::Limits,
    allow_classical: bool,
}

impl Default for Gateway {
    fn default() -> Self {
        Gateway::new()
    }
}

/// Options that weaken a [`Gateway`]; reached through [`Gateway::dangerous`].
#[derive(Debug)]
pub struct DangerousGateway<'a>(&'a mut Gateway);

impl DangerousGateway<'_> {
    /// Accepts keys whose KEM a quantum computer breaks (DHKEM X25519, P-256, P-384):
    /// requests to them can be recorded now and decrypted later.
    pub fn allow_classical_kem(self) {
        self.0.allow_classical = true;
    }
}

/// What the gateway keeps from a request to encapsulate its response (RFC 9458 §4.4). The
/// exported secret is zeroized on drop; the value is consumed by the one response it allows.
#[derive(Debug)]
pub struct ServerResponse {
    key_id: u8,
    pub(super) kdf: Hkdf,
    pub(super) aead: Aead,
    pub(super) enc: Vec<u8>,
    pub(super) secret: SecretBytes,
}

impl Gateway {
    /// A gateway with no keys and the [`DEFAULT_MAX_REQUEST`] bound.
    pub fn new() -> Self {
        Gateway {
            keys: Vec::new(),
            max_request: DEFAULT_MAX_REQUEST,
            limits: bhttp::Limits::default(),
            allow_classical: false,
        }
    }

    /// Options that weaken the gateway.
    pub fn dangerous(&mut self) -> DangerousGateway<'_> {
        DangerousGateway(self)
    }

    /// Sets the largest encapsulated request accepted.
    pub fn set_max_request(&mut self, bytes: usize) {
        self.max_request = bytes;
    }

    /// Sets the bounds [`Gateway::decode_request`] applies.
    pub fn set_limits(&mut self, limits: bhttp::Limits) {
        self.limits = limits;
    }

    /// Decodes a decapsulated binary HTTP request under the gateway's limits, and refuses a
    /// `100-continue` expectation, which Oblivious HTTP cannot honour (RFC 9458 §5.1). The
    /// request is already open, so errors go back encapsulated (RFC 9458 §5.2).
    pub fn decode_request(&self, plain: &[u8]) -> Result<bhttp::Request> {
        let request = bhttp::Request::decode(plain, &self.limits)?;
        let continues = request.headers.iter().any(|f| {
            f.name == "expect"
                && f.value
                    .split(|b| *b == b',')
                    .any(|v| v.trim_ascii().eq_ignore_ascii_case(b"100-continue"))
        });
        if continues {
            return Err(Error::ContinueExpectation);
        }
        Ok(request)
    }

    /// Adds a key under its (unused) key id.
    pub fn add_key(&mut self, key: GatewayKey) -> Result<()> {
        let cfg = key.config();
        if self.key(cfg.key_id()).is_some() {
            return Err(Error::DuplicateKeyId(cfg.key_id()));
        }
        if cfg.kem().is_quantum_vulnerable() && !self.allow_classical {
            return Err(Error::ClassicalKem(cfg.kem().id));
        }
        self.keys.push(key);
        Ok(())
    }

    /// Removes and returns the key with this id.
    pub fn remove_key(&mut self, key_id: u8) -> Option<GatewayKey> {
        let i = self
            .keys
            .iter()
            .position(|k| k.config().key_id() == key_id)?;
        Some(self.keys.remove(i))
    }

    /// The key with this id.
    pub fn key(&self, key_id: u8) -> Option<&GatewayKey> {
        self.keys.iter().find(|k| k.config().key_id() == key_id)
    }

    /// The public configurations, in the order the keys were added.
    pub fn configs(&self) -> impl Iterator<Item = &KeyConfig> {
        self.keys.iter().map(GatewayKey::config)
    }

    /// The `application/ohttp-keys` body for `GET /.well-known/ohttp-gateway` (RFC 9540 §5).
    pub fn encoded_configs(&self) -> Result<Vec<u8>> {
        KeyConfig::encode_list(self.configs())
    }

    /// Removes the encapsulation of a `message/ohttp-req` body (RFC 9458 §4.3): returns the
    /// binary HTTP request bytes and the state to encapsulate the response.
    ///
    /// Errors, all before anything is decrypted: [`Error::TooLarge`];
    /// [`Error::Malformed`] (shorter than header, `enc` and tag); [`Error::UnknownKeyId`];
    /// [`Error::UnsupportedSuite`] (the key exists but not with this KEM, KDF and AEAD).
    /// Then [`Error::Decryption`], one opaque error for a rejected `enc` and a failed open.
    pub fn decapsulate(&self, enc_request: &[u8]) -> Result<(Vec<u8>, ServerResponse)> {
        self.decapsulate_variant(enc_request, Variant::Whole)
    }

    pub(super) fn decapsulate_variant(
        &self,
        enc_request: &[u8],
        variant: Variant,
    ) -> Result<(Vec<u8>, ServerResponse)> {
        if enc_request.len() > self.max_request {
            return Err(Error::TooLarge {
                what: "request",
                len: enc_request.len(),
                limit: self.max_request,
            });
        }
        let (hdr, rest) = RequestHeader::decode(enc_request).ok_or(Error::Malformed("request"))?;
        let key = self
            .key(hdr.key_id)
            .ok_or(Error::UnknownKeyId(hdr.key_id))?;
        let cfg = key.config();
        let sym = hdr.symmetric();
        if hdr.kem_id != cfg.kem_id() || !cfg.symmetric().contains(&sym) {
            return Err(Error::UnsupportedSuite {
                key_id: hdr.key_id,
                kem_id: hdr.kem_id,
                kdf_id: hdr.kdf_id,
                aead_id: hdr.aead_id,
            });
        }
        let (kdf, aead) = suite_of(sym, hdr.key_id, hdr.kem_id)?;
        let (_, nenc) = kem_lengths(cfg.kem()).ok_or(Error::UnsupportedKem(hdr.kem_id))?;
        let (enc, ct) = rest
            .split_at_checked(nenc)
            .filter(|(_, ct)| ct.len() >= TAG_LEN)
            .ok_or(Error::Malformed("request"))?;
        let suite = Suite::new(cfg.kem(), kdf, Some(aead))?;
        let info = hdr.info_with(variant.request_label());
        let mut ctx = hpke::setup_base_receiver(&suite, enc, key.secret(), &info)
            .map_err(|_| Error::Decryption)?;
        let request = match variant {
            Variant::Whole => ctx.open(b"", ct).map_err(|_| Error::Decryption)?,
            Variant::Chunked => super::chunked::open_request_chunks(&mut ctx, ct)?,
        };
        let secret = ctx.export(variant.response_label(), response_nonce_len(aead))?;
        Ok((
            request,
            ServerResponse {
                key_id: hdr.key_id,
                kdf,
                aead,
                enc: enc.to_vec(),
                secret,
            },
        ))
    }
}

impl ServerResponse {
    /// The key id the request used.
    pub fn key_id(&self) -> u8 {
        self.key_id
    }

    /// Encapsulates binary HTTP response bytes under a fresh random nonce: returns the
    /// `message/ohttp-res` body.
    pub fn encapsulate(self, response: &[u8]) -> Result<Vec<u8>> {
        let nonce = secret::random_bytes(response_nonce_len(self.aead))?;
        self.seal(response, nonce.expose())
    }

    /// Encodes (known-length) and encapsulates a response; errors found after the request
    /// was opened travel this way too (RFC 9458 §5.2).
    pub fn encapsulate_response(self, response: &bhttp::Response) -> Result<Vec<u8>> {
        self.encapsulate(&response.encode()?)
    }

    #[cfg(feature = "hazmat")]
    /// Hazmat: encapsulation under a caller-chosen `response_nonce`, for test vectors.
    /// Reusing a nonce with the same request reuses the AEAD key and nonce.
    #[doc(hidden)]
    pub fn encapsulate_with_nonce(self, response: &[u8], response_nonce: &[u8]) -> Result<Vec<u8>> {
        if response_nonce.len() != response_nonce_len(self.aead) {
            return Err(Error::Malformed("response nonce"));
        }
        self.seal(response, response_nonce)
    }

    fn seal(self, response: &[u8], nonce: &[u8]) -> Result<Vec<u8>> {
        let (key, aead_nonce) = response_key(self.kdf, self.aead, &self.secret, &self.enc, nonce)?;
        let mut out = Vec::with_capacity(nonce.len() + response.len() + TAG_LEN);
        out.extend_from_slice(nonce);
        out.extend_from_slice(&key.seal(aead_nonce.expose(), b"", response)?);
        Ok(out)
    }
}
