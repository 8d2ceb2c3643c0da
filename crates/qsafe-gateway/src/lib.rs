//! The qsafe inference gateway (issue 5): hybrid post-quantum protection in front of a model
//! server. Modules, one job each:
//!
//! - [`httpsig`]: RFC 9421 HTTP Message Signatures with composite and pure ML-DSA, and
//!   RFC 9530 `Content-Digest`; [`replay`]: the time window and bounded nonce cache.
//! - [`ohttp`]: RFC 9458 Oblivious HTTP encapsulation of RFC 9292 binary HTTP messages over
//!   HPKE with hybrid KEMs, and RFC 9540 key configurations.
//! - [`model`]: the embedded classifier served when no upstream is configured.
//! - [`server`]: the HTTPS service (qsafe-tls + hyper) tying them together; [`client`]: its
//!   client (sign, encapsulate, verify the signed response, open it).

pub mod client;
pub mod httpsig;
pub mod model;
pub mod ohttp;
pub mod replay;
pub mod server;
