//! Oblivious HTTP (RFC 9458) over binary HTTP (RFC 9292), with post-quantum and hybrid
//! HPKE KEMs.
//!
//! A client fetches the gateway's key configurations (`application/ohttp-keys`, RFC 9458
//! §3.2; fetched from `/.well-known/ohttp-gateway`, RFC 9540 §4-5), encodes its HTTP request
//! as binary HTTP ([`bhttp`]), encapsulates it under one configuration (RFC 9458 §4.3) and
//! POSTs it as `message/ohttp-req` through a relay. The gateway decapsulates it, answers,
//! and encapsulates the binary HTTP response under a key exported from the same HPKE
//! context (RFC 9458 §4.4) as `message/ohttp-res`.
//!
//! - [`bhttp`]: RFC 9292 messages, with QUIC variable-length integers (RFC 9000 §16).
//! - [`KeyConfig`], [`SymmetricAlgorithm`], [`GatewayKey`], [`Profile`]: RFC 9458 §3.
//! - [`KeyConfig::encapsulate`] and [`ClientResponse::open`]: the client side of §4.
//! - [`Gateway::decapsulate`] and [`ServerResponse::encapsulate`]: the gateway side of §4,
//!   with several keys at once for rotation.
//! - [`KeyConfig::encapsulate_chunked`], [`Gateway::decapsulate_chunked`], [`ChunkSealer`]
//!   and [`ChunkOpener`]: chunked messages (draft-ietf-ohai-chunked-ohttp-08), for responses
//!   streamed as they are produced.
//!
//! HPKE is RFC 9180 base mode from [`qsafe_core::hpke`]; the hybrid KEMs use the HPKE ids
//! and `Nenc` of draft-ietf-hpke-pq (the version in
//! [`qsafe_core::registry::drafts::HPKE_PQ`]). Profiles: [`Profile::XWing`] (X-Wing, HPKE
//! KEM 0x647a, with HKDF-SHA256 and AES-256-GCM) by default; [`Profile::Cnsa2`]
//! (MLKEM1024-P384, 0x0051, HKDF-SHA384, AES-256-GCM); [`Profile::ClassicalX25519`]
//! (DHKEM(X25519), HKDF-SHA256, AES-128-GCM) only for RFC 9458 Appendix A and legacy
//! clients, behind [`Gateway::dangerous`].
//!
//! Errors a gateway meets before it has opened a request are answered in clear (RFC 9458
//! §5.2): [`Error::http_status`] gives the status, and [`Error::is_key_problem`] marks the
//! ones to answer with the `ohttp-key` problem type of RFC 9458 §5.3 ([`KEY_PROBLEM_TYPE`],
//! [`key_problem_json`]) so the client fetches the configurations again. Errors after the
//! request was opened, an invalid binary HTTP request ([`Gateway::decode_request`])
//! included, go back encapsulated through [`ServerResponse::encapsulate_response`].
//!
//! ```
//! use qsafe_gateway::ohttp::{bhttp, Gateway, GatewayKey, KeyConfig, Profile};
//!
//! // Gateway: one X-Wing key under key id 1, published as application/ohttp-keys.
//! let mut gateway = Gateway::new();
//! gateway.add_key(GatewayKey::generate(1, Profile::XWing)?)?;
//! let published = gateway.encoded_configs()?;
//!
//! // Client: pick a configuration, encapsulate a binary HTTP request.
//! let config = &KeyConfig::decode_list(&published)?[0];
//! let request = bhttp::Request::new("POST", "https", "model.example", "/v1/infer");
//! let (enc_request, pending) = config.encapsulate(&request.encode()?)?;
//!
//! // Gateway: open it, answer.
//! let (plain, responder) = gateway.decapsulate(&enc_request)?;
//! assert_eq!(gateway.decode_request(&plain)?.path, "/v1/infer");
//! let enc_response = responder.encapsulate_response(&bhttp::Response::new(200))?;
//!
//! // Client: open the answer.
//! let limits = bhttp::Limits::default();
//! assert_eq!(pending.open_response(&enc_response, &limits)?.status, 200);
//! # Ok::<(), qsafe_gateway::ohttp::Error>(())
//! ```

pub mod bhttp;
mod chunked;
mod encap;
mod keyconfig;

pub use chunked::{
    CHUNKED_REQUEST_LABEL, CHUNKED_REQUEST_MEDIA_TYPE, CHUNKED_RESPONSE_LABEL,
    CHUNKED_RESPONSE_MEDIA_TYPE, ChunkOpener, ChunkSealer, ChunkedClientResponse,
    ChunkedServerResponse, MAX_CHUNK,
};
pub use encap::{
    ClientResponse, DEFAULT_MAX_REQUEST, DangerousGateway, Gateway, REQUEST_LABEL, RESPONSE_LABEL,
    RequestHeader, ServerResponse,
};
pub use keyconfig::{GatewayKey, KeyConfig, Profile, SymmetricAlgorithm};

/// Media type of an encapsulated request (RFC 9458 §9.2).
pub const REQUEST_MEDIA_TYPE: &str = "message/ohttp-req";
/// Media type of an encapsulated response (RFC 9458 §9.3).
pub const RESPONSE_MEDIA_TYPE: &str = "message/ohttp-res";
/// Media type of a key configuration list (RFC 9458 §3.2, §9.1).
pub const KEYS_MEDIA_TYPE: &str = "application/ohttp-keys";
/// The gateway location, which takes requests (POST) and serves the key configurations
/// (GET, `application/ohttp-keys`) (RFC 9540 §4 and §5).
pub const WELL_KNOWN_PATH: &str = "/.well-known/ohttp-gateway";
/// Problem type for a request under an unknown or outdated key configuration (RFC 9458
/// §5.3), sent with status 400 as `application/problem+json`.
pub const KEY_PROBLEM_TYPE: &str = "https://iana.org/assignments/http-problem-types#ohttp-key";

/// The `application/problem+json` body of RFC 9458 §5.3.
pub fn key_problem_json() -> String {
    serde_json::json!({
        "type": KEY_PROBLEM_TYPE,
        "title": "key identifier unknown",
    })
    .to_string()
}

/// Result alias of this module.
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// Everything that can go wrong in Oblivious HTTP. Decryption failures are one opaque
/// variant; messages never carry message or key bytes.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No gateway key has this key id (RFC 9458 §5.3).
    #[error("no gateway key has key id {0}: fetch the key configuration again")]
    UnknownKeyId(u8),
    /// The key exists, but not with this KEM, or it does not offer this KDF and AEAD
    /// (RFC 9458 §4.3 steps 1a-1b).
    #[error(
        "key id {key_id} is not offered with KEM 0x{kem_id:04x}, KDF 0x{kdf_id:04x} and AEAD \
         0x{aead_id:04x}: fetch the key configuration again"
    )]
    UnsupportedSuite {
        /// Key id.
        key_id: u8,
        /// HPKE KEM id asked for.
        kem_id: u16,
        /// HPKE KDF id asked for.
        kdf_id: u16,
        /// HPKE AEAD id asked for.
        aead_id: u16,
    },
    /// An encapsulated request or response too short for its fixed parts.
    #[error("malformed encapsulated {0}")]
    Malformed(&'static str),
    /// An encapsulated request over the gateway's bound.
    #[error("encapsulated {what} of {len} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// `"request"`.
        what: &'static str,
        /// Its length.
        len: usize,
        /// The bound.
        limit: usize,
    },
    /// The request or response does not decrypt (wrong key, modified, or not for this
    /// exchange). Deliberately says no more.
    #[error("decryption failed: the message was modified or is not for this key or exchange")]
    Decryption,
    /// A key configuration could not be parsed or built.
    #[error("invalid key configuration: {0}")]
    KeyConfig(&'static str),
    /// No registry KEM with an HPKE implementation has this id.
    #[error("HPKE KEM 0x{0:04x} is not supported")]
    UnsupportedKem(u16),
    /// A configuration offers no KDF and AEAD pair that qsafe implements.
    #[error("key id {0} offers no KDF and AEAD pair that qsafe implements")]
    NoSupportedSymmetric(u8),
    /// Two gateway keys with one key id.
    #[error("key id {0} is already in use: remove the old key first")]
    DuplicateKeyId(u8),
    /// A quantum-vulnerable KEM without `dangerous().allow_classical_kem()`.
    #[error(
        "`{0}` is quantum-vulnerable: use x-wing or mlkem1024-p384, or allow it explicitly \
         with Gateway::dangerous()"
    )]
    ClassicalKem(&'static str),
    /// The request carries `Expect: 100-continue` (RFC 9458 §5.1).
    #[error("a 100-continue expectation cannot be met through Oblivious HTTP")]
    ContinueExpectation,
    /// The binary HTTP message inside was invalid.
    #[error(transparent)]
    Bhttp(#[from] bhttp::Error),
    /// A key, RNG or primitive failure from `qsafe-core`.
    #[error(transparent)]
    Crypto(#[from] qsafe_core::Error),
}

impl Error {
    /// The HTTP status for this error: 413 for size, 417 for a `100-continue` expectation,
    /// 400 for the client's other errors, 500 for internal failures. Before the request is
    /// open it is sent in clear; after, inside an encapsulated response (RFC 9458 §5.2).
    pub fn http_status(&self) -> u16 {
        match self {
            Error::TooLarge { .. } => 413,
            Error::ContinueExpectation => 417,
            Error::UnknownKeyId(_)
            | Error::UnsupportedSuite { .. }
            | Error::Malformed(_)
            | Error::Decryption
            | Error::Bhttp(_) => 400,
            _ => 500,
        }
    }

    /// True for errors to answer with the [`KEY_PROBLEM_TYPE`] problem (RFC 9458 §5.3).
    pub fn is_key_problem(&self) -> bool {
        matches!(
            self,
            Error::UnknownKeyId(_) | Error::UnsupportedSuite { .. }
        )
    }
}
