//! End-to-end measurements of qsafe on the machine it runs on.
//!
//! [`primitives`] times key generation, encapsulation, decapsulation, signing and
//! verification (median of many runs) for every registry algorithm, next to the seed's
//! "Computational Overhead Comparison"; [`sizes`] builds the "Memory and Storage Impact" table
//! from real encodings; [`artifacts`] times sealing and model signing against age and
//! OpenSSF `model_signing`; [`gateway`] loads the inference gateway (direct, PQ TLS only,
//! full protection, overload); [`training`] measures bytes and round time of federated
//! averaging in plaintext, protected and secure-aggregation modes. Progress goes through a callback, so the library draws nothing.

pub mod artifacts;
pub mod gateway;
pub mod primitives;
pub mod sizes;
pub mod timing;
pub mod training;
