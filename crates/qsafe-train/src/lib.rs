//! Post-quantum protection for federated training (sans-IO library core).
//!
//! - [`quant`]: fixed-point quantisation of `f32` updates into Z_2^32 with a documented clip
//!   range and scale, so that the sum of up to `N_max` workers never overflows.
//! - [`mask`]: AES-256-CTR mask expansion with domain separation by round and purpose, and
//!   the pairwise sign convention.
//! - [`secagg`]: secure aggregation (Bonawitz et al. 2017; SecAgg+ of Bell et al. 2020 as an
//!   option) with hybrid-KEM key agreement, as sans-IO [`secagg::Client`] and
//!   [`secagg::Server`] state machines: the aggregator learns only the sum.
//! - [`fedavg`]: federated averaging of the digits model (`qsafe-model`) on shards of the UCI
//!   digits data: the [`LocalTrainer`] of a worker, evaluation, and an in-process reference.
//! - [`net`]: aggregator and workers over TCP, in plaintext, protected ([`session`]) or
//!   protected with secure aggregation ([`secagg`]).
//! - [`session`]: the worker ↔ aggregator transport — hybrid-KEM handshake with mutual
//!   composite-signature authentication, AEAD frames with round and sequence numbers, replay
//!   and reordering checks, key updates, a frame-size limit, and counters.
//!
//! No networking here: the protocol state machines exchange plain message values and byte
//! frames, and the transport is the caller's.
//!
//! # Example: one aggregation round with a dropout
//!
//! ```
//! use qsafe_core::registry::SUITE_DEFAULT;
//! use qsafe_train::Quantiser;
//! use qsafe_train::secagg::{Client, Config, Server};
//!
//! let q = Quantiser::DEFAULT;
//! let updates = [[0.5f32, -1.0, 2.0], [0.25, 0.5, -1.5], [1.0, 1.0, 1.0]];
//! // Round 7, threshold 2, three coordinates.
//! let cfg = Config::for_suite(&SUITE_DEFAULT, 7, 2, 3)?;
//! let mut server = Server::new(cfg);
//! let mut workers = Vec::new();
//! for id in 1..=3 {
//!     let (worker, advertise) = Client::new(cfg, id)?;
//!     server.receive_advertise(&advertise)?;
//!     workers.push(worker);
//! }
//! let roster = server.roster()?;
//! for w in &mut workers {
//!     server.receive_share_keys(&w.share_keys(&roster)?)?;
//! }
//! let forwarded = server.forward()?;
//! // Worker 3 drops out after sharing its keys.
//! for (w, update) in workers.iter_mut().zip(&updates).take(2) {
//!     let mine = forwarded.iter().find(|f| f.to == w.id()).ok_or("no envelopes")?;
//!     server.receive_masked_input(&w.masked_input(mine, &q.quantise(update)?)?)?;
//! }
//! let request = server.unmask_request()?;
//! for w in workers.iter_mut().take(2) {
//!     server.receive_unmask_response(&w.unmask(&request)?)?;
//! }
//! let aggregate = server.finish()?;
//! assert_eq!(aggregate.survivors, [1, 2]);
//! let mean = q.dequantise_mean(&aggregate.sum, 2)?;
//! assert!((mean[0] - 0.375).abs() < 1e-6 && (mean[2] - 0.25).abs() < 1e-6);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Example: an authenticated session
//!
//! ```
//! use qsafe_core::{registry::SUITE_DEFAULT, sig::SigningKey};
//! use qsafe_train::session::{AggregatorHandshake, FrameType, SessionConfig, WorkerHandshake};
//!
//! let worker_key = SigningKey::generate(SUITE_DEFAULT.signature)?;
//! let aggregator_key = SigningKey::generate(SUITE_DEFAULT.signature)?;
//! let cfg = SessionConfig::new(&SUITE_DEFAULT);
//!
//! let (worker, client_hello) =
//!     WorkerHandshake::start(cfg, &worker_key, &aggregator_key.verifying_key()?)?;
//! let trusted = [worker_key.verifying_key()?];
//! let (aggregator, server_hello) =
//!     AggregatorHandshake::respond(cfg, &aggregator_key, &trusted, &client_hello)?;
//! let (mut worker, client_finish) = worker.finish(&worker_key, &server_hello)?;
//! let mut aggregator = aggregator.finish(&client_finish)?;
//!
//! let frame = worker.seal(FrameType::Data, b"masked update bytes")?;
//! let header = aggregator.parse_header(&frame[..18])?; // bound the read before allocating
//! assert_eq!(header.body_len, 19 + 16);
//! assert_eq!(aggregator.open(&frame)?.payload, b"masked update bytes");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod error;
pub mod fedavg;
pub mod mask;
pub mod net;
pub mod quant;
pub mod secagg;
pub mod session;
mod trainer;

pub use error::{Error, Result, SecAggError, SessionError};
pub use quant::Quantiser;
pub use trainer::LocalTrainer;
