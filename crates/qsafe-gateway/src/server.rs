//! The HTTPS gateway service: TLS from `qsafe-tls` (post-quantum group preference enforced by
//! [`qsafe_tls::TlsAcceptor`]), HTTP/1.1 from hyper, and the protected path
//! `POST /` (`message/ohttp-req`): RFC 9421 request signature → RFC 9458 decapsulation →
//! RFC 9292 inner request → embedded model or upstream model server → encapsulated response → RFC 9421
//! response signature.
//!
//! # Routes
//!
//! | route | answer |
//! |---|---|
//! | `GET /healthz` | 200 `ok` |
//! | `GET /readyz` | 200 `ready` when a gateway key and the model are loaded, else 503 |
//! | `GET /metrics` | Prometheus text ([`metrics`]) |
//! | `GET /.well-known/ohttp-gateway` | `application/ohttp-keys` (RFC 9540) |
//! | `POST /` (`message/ohttp-req`) | `message/ohttp-res`, signed |
//! | `/v2/...` | only with `require_encryption = false`: the inner API in clear |
//!
//! Inner routes (inside OHTTP): with no upstream, the embedded model's KServe V2 routes
//! (`POST /v2/models/digits/infer`, `GET /v2/models/digits`, `GET /v2/health/ready`); with
//! [`GatewayConfig::upstream`], the KServe V2 and OpenAI-compatible routes listed in
//! [`upstream`], forwarded to the model server.
//!
//! # Error answers (outer, in clear, JSON `{"error": code, "request_id": id}`)
//!
//! | status | code | when |
//! |---|---|---|
//! | 401 | an [`crate::httpsig::Error::code`] (`signature_missing`, `signature_invalid`, `key_unknown`, `digest_mismatch`, `signature_outside_window`, `nonce_reused`, ...) | request signature rejected |
//! | 400 | RFC 9458 §5.3 problem JSON (`application/problem+json`) | unknown OHTTP key id |
//! | 400 | `ohttp_invalid` | the encapsulated request does not open |
//! | 413 | `body_too_large` | body over `body_limit` |
//! | 415 | `unsupported_media_type` | `POST /` without `message/ohttp-req` |
//! | 503 | `overloaded` (+ `Retry-After: 1`) | more than `max_concurrent_requests` in flight |
//! | 503 | `replay_cache_full` | the nonce cache is full |
//! | 404 / 405 | `not_found` / `method_not_allowed` | |
//! | 500 | `internal` | a local failure (logged, no detail sent) |
//!
//! Errors after decapsulation (a bad inner bhttp request, an invalid model input) go back
//! *inside* the encapsulated, signed response.
//!
//! # Key management (`PQC_KEY_MANAGEMENT`)
//!
//! [`KeyManagement::Hybrid`] (default): request signatures may use composite ML-DSA (e.g.
//! `mldsa65-ed25519-sha512`) or pure ML-DSA, never a classical algorithm alone; the gateway
//! signs responses with `mldsa65-ed25519-sha512`; OHTTP uses X-Wing. [`KeyManagement::PqOnly`]:
//! request signatures must be pure ML-DSA (`ml-dsa-44/65/87`), the gateway signs with
//! `ml-dsa-65`. The OHTTP layer has no pure ML-KEM profile yet, so its KEM stays X-Wing
//! (hybrid) in both modes (see the report of issue 5; a pure ML-KEM HPKE profile is left).

mod crypto_pool;
pub mod embedded;
pub mod managed_keys;
pub mod metrics;
mod routes;
mod stream;
pub mod upstream;

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use qsafe_core::registry;
use qsafe_core::sig::{SigningKey, VerifyingKey};
use qsafe_tls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use qsafe_tls::{Fallback, Suite, TlsAcceptor};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use crate::httpsig::{self, Policy, Signer, Verifier, alg::Source};
use crate::model::{Classifier, DIGITS_MLP_SAFETENSORS};
use crate::ohttp::{self, Gateway, GatewayKey, Profile, bhttp};
use crate::replay::{NonceCache, NonceCacheConfig};
use crypto_pool::CryptoPool;
use metrics::{Metrics, Step};
use upstream::Upstream;

/// The environment variable read by [`KeyManagement::from_env`].
pub const KEY_MANAGEMENT_ENV: &str = "PQC_KEY_MANAGEMENT";

/// Errors of the gateway service.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Binding or accepting on the listen address failed.
    #[error("listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// The crypto threads could not be started.
    #[error("starting the crypto threads: {0}")]
    Threads(std::io::Error),
    /// The TLS configuration could not be built.
    #[error(transparent)]
    Tls(#[from] qsafe_tls::Error),
    /// A key could not be generated or used.
    #[error(transparent)]
    Ohttp(#[from] ohttp::Error),
    /// The signing key could not be used.
    #[error(transparent)]
    HttpSig(#[from] httpsig::Error),
    /// A key could not be generated.
    #[error(transparent)]
    Crypto(#[from] qsafe_core::Error),
    /// The embedded model did not load.
    #[error(transparent)]
    Model(#[from] crate::model::Error),
    /// An invalid `PQC_KEY_MANAGEMENT` value.
    #[error("invalid {KEY_MANAGEMENT_ENV} value {0:?}: use `hybrid` or `pq-only`")]
    InvalidKeyManagement(String),
}

/// Which algorithm families the gateway accepts and uses (`PQC_KEY_MANAGEMENT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyManagement {
    /// Composite (ML-DSA + classical) and pure ML-DSA signatures; hybrid KEMs.
    #[default]
    Hybrid,
    /// Pure ML-DSA signatures only (OHTTP stays X-Wing, see the module docs).
    PqOnly,
}

impl KeyManagement {
    /// Reads [`KEY_MANAGEMENT_ENV`]; `Ok(None)` when unset.
    pub fn from_env() -> Result<Option<Self>, Error> {
        match std::env::var(KEY_MANAGEMENT_ENV) {
            Ok(v) => v.parse().map(Some),
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(v)) => Err(Error::InvalidKeyManagement(
                v.to_string_lossy().into_owned(),
            )),
        }
    }

    /// The request-signature policy of this mode with a `±window_secs` window.
    pub fn request_policy(self, window_secs: i64) -> Policy {
        let mut policy = Policy::request_default().post_quantum_only();
        policy.window_secs = window_secs;
        if self == KeyManagement::PqOnly {
            policy.allowed_algorithms = Some(
                httpsig::alg::ALL
                    .iter()
                    .copied()
                    .filter(|a| !a.is_quantum_vulnerable() && a.source == Source::C2spHttpsigPq)
                    .collect(),
            );
        }
        policy
    }

    /// The registry algorithm of the gateway's response-signing key in this mode.
    pub fn response_signing_algorithm(self) -> &'static registry::Algorithm {
        match self {
            KeyManagement::Hybrid => &registry::MLDSA65_ED25519_SHA512,
            KeyManagement::PqOnly => &registry::ML_DSA_65,
        }
    }
}

impl FromStr for KeyManagement {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        match s.trim().to_ascii_lowercase().as_str() {
            "hybrid" => Ok(KeyManagement::Hybrid),
            "pq-only" | "pq_only" => Ok(KeyManagement::PqOnly),
            _ => Err(Error::InvalidKeyManagement(s.to_owned())),
        }
    }
}

/// The service configuration.
pub struct GatewayConfig {
    /// Listen address (`127.0.0.1:0` picks a port; see [`Server::local_addr`]).
    pub listen: SocketAddr,
    /// TLS algorithm profile.
    pub suite: Suite,
    /// Whether classical-only TLS clients are accepted (`FALLBACK_CRYPTO`).
    pub fallback: Fallback,
    /// Server certificate chain, leaf first.
    pub cert_chain: Vec<CertificateDer<'static>>,
    /// Server private key.
    pub private_key: PrivateKeyDer<'static>,
    /// Largest request body accepted (413 beyond); default 1 MiB.
    pub body_limit: usize,
    /// Time allowed for the TLS handshake and for reading a request's headers; default 10 s.
    pub header_read_timeout: Duration,
    /// Requests processed at once (503 with `Retry-After` beyond); default 256.
    pub max_concurrent_requests: usize,
    /// Threads for the CPU-bound crypto steps; default: the available cores.
    pub crypto_threads: usize,
    /// Crypto jobs allowed to wait for a thread (503 `overloaded` beyond); default 64, about
    /// 10 ms of queueing on two cores at ~0.3 ms a job.
    pub crypto_queue: usize,
    /// Time allowed to drain in-flight requests at shutdown; default 10 s.
    pub drain_timeout: Duration,
    /// Accepted clock skew of request signatures (`created`), seconds; default 60.
    pub signature_window_secs: i64,
    /// Live entries of the replay (nonce) cache; past it new signed requests get 503
    /// `replay_cache_full`. An entry lives `2 × window + 1` seconds, so size it as at least
    /// peak signed requests per second × that: the default, 100 000, carries about 830 per
    /// second sustained with the default window.
    pub replay_cache_entries: usize,
    /// Refuse requests without a valid RFC 9421 signature (default true).
    pub require_signature: bool,
    /// Serve the inner API only through OHTTP (default true).
    pub require_encryption: bool,
    /// Algorithm families (`PQC_KEY_MANAGEMENT`).
    pub key_management: KeyManagement,
    /// Client request-signing keys by key id.
    pub client_keys: HashMap<String, VerifyingKey>,
    /// The model server to forward to; `None` serves the embedded digits model.
    pub upstream: Option<Upstream>,
    /// The embedded model, loaded by the caller (from a sealed, signed file:
    /// [`crate::model::sealed::open`]); `None` uses the committed weights as they are.
    pub model: Option<Classifier>,
}

impl fmt::Debug for GatewayConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GatewayConfig")
            .field("listen", &self.listen)
            .field("suite", &self.suite)
            .field("fallback", &self.fallback)
            .field("body_limit", &self.body_limit)
            .field("header_read_timeout", &self.header_read_timeout)
            .field("max_concurrent_requests", &self.max_concurrent_requests)
            .field("crypto_threads", &self.crypto_threads)
            .field("crypto_queue", &self.crypto_queue)
            .field("signature_window_secs", &self.signature_window_secs)
            .field("replay_cache_entries", &self.replay_cache_entries)
            .field("require_signature", &self.require_signature)
            .field("require_encryption", &self.require_encryption)
            .field("key_management", &self.key_management)
            .field("client_keys", &self.client_keys.keys().collect::<Vec<_>>())
            .field("upstream", &self.upstream.as_ref().map(Upstream::url))
            .finish_non_exhaustive()
    }
}

impl GatewayConfig {
    /// Defaults around a listen address and TLS identity.
    pub fn new(
        listen: SocketAddr,
        fallback: Fallback,
        cert_chain: Vec<CertificateDer<'static>>,
        private_key: PrivateKeyDer<'static>,
    ) -> Self {
        GatewayConfig {
            listen,
            suite: Suite::Default,
            fallback,
            cert_chain,
            private_key,
            body_limit: 1 << 20,
            header_read_timeout: Duration::from_secs(10),
            max_concurrent_requests: 256,
            crypto_threads: std::thread::available_parallelism().map_or(2, usize::from),
            crypto_queue: 64,
            drain_timeout: Duration::from_secs(10),
            signature_window_secs: httpsig::DEFAULT_WINDOW_SECS,
            replay_cache_entries: 100_000,
            require_signature: true,
            require_encryption: true,
            key_management: KeyManagement::default(),
            client_keys: HashMap::new(),
            upstream: None,
            model: None,
        }
    }
}

#[derive(Debug)]
struct KeySet {
    gateway: Gateway,
    current: u8,
    previous: Option<u8>,
    signer: Arc<Signer>,
}

/// The gateway's keys: OHTTP keys (current and previous) and the response-signing key,
/// replaceable at runtime.
#[derive(Debug)]
pub struct GatewayKeys {
    inner: RwLock<KeySet>,
}

impl GatewayKeys {
    /// Keys from an OHTTP gateway key and a response signer.
    pub fn new(ohttp_key: GatewayKey, signer: Signer) -> Result<Self, Error> {
        let current = ohttp_key.config().key_id();
        let mut gateway = Gateway::new();
        gateway.add_key(ohttp_key)?;
        Ok(GatewayKeys {
            inner: RwLock::new(KeySet {
                gateway,
                current,
                previous: None,
                signer: Arc::new(signer),
            }),
        })
    }

    /// Fresh keys: an X-Wing OHTTP key under key id 1 and a response-signing key for `mode`
    /// under `signing_keyid`.
    pub fn generate(mode: KeyManagement, signing_keyid: &str) -> Result<Self, Error> {
        let key = SigningKey::generate(mode.response_signing_algorithm())?;
        Self::new(
            GatewayKey::generate(1, Profile::XWing)?,
            Signer::new(key, signing_keyid)?,
        )
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, KeySet> {
        self.inner
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, KeySet> {
        self.inner
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Makes `new` the current OHTTP key (published first); the key it replaces stays valid
    /// for decapsulation, the one before that is dropped.
    pub fn rotate_ohttp_key(&self, new: GatewayKey) -> Result<(), Error> {
        let new_id = new.config().key_id();
        let mut set = self.write();
        if new_id == set.current || Some(new_id) == set.previous {
            return Err(ohttp::Error::DuplicateKeyId(new_id).into());
        }
        if let Some(old) = set.previous.take() {
            set.gateway.remove_key(old);
        }
        // Re-add the current key after the new one so the new key is listed first.
        let current = set.current;
        let kept = set.gateway.remove_key(current);
        set.gateway.add_key(new)?;
        if let Some(kept) = kept {
            set.gateway.add_key(kept)?;
            set.previous = Some(current);
        }
        set.current = new_id;
        Ok(())
    }

    /// Drops the replaced OHTTP key (no longer published, no longer decapsulating); returns
    /// its key id.
    pub fn drop_previous_ohttp_key(&self) -> Option<u8> {
        let mut set = self.write();
        let old = set.previous.take()?;
        set.gateway.remove_key(old);
        Some(old)
    }

    /// Replaces the response-signing key.
    pub fn replace_signer(&self, signer: Signer) {
        self.write().signer = Arc::new(signer);
    }

    /// The current OHTTP key id.
    pub fn current_key_id(&self) -> u8 {
        self.read().current
    }

    /// The published key configurations (`application/ohttp-keys`).
    pub fn encoded_configs(&self) -> Result<Vec<u8>, Error> {
        Ok(self.read().gateway.encoded_configs()?)
    }

    fn signer(&self) -> Arc<Signer> {
        Arc::clone(&self.read().signer)
    }

    fn is_ready(&self) -> bool {
        self.read().gateway.configs().next().is_some()
    }

    /// Opens an encapsulated request with the published key it names (current or previous).
    pub fn decapsulate(&self, enc: &[u8]) -> ohttp::Result<(Vec<u8>, ohttp::ServerResponse)> {
        self.read().gateway.decapsulate(enc)
    }

    /// Opens a chunked encapsulated request (`message/ohttp-chunked-req`).
    pub fn decapsulate_chunked(
        &self,
        enc: &[u8],
    ) -> ohttp::Result<(Vec<u8>, ohttp::ChunkedServerResponse)> {
        self.read().gateway.decapsulate_chunked(enc)
    }

    fn decode_request(&self, plain: &[u8]) -> ohttp::Result<ohttp::bhttp::Request> {
        self.read().gateway.decode_request(plain)
    }
}

/// Where inner requests go.
enum Backend {
    /// The embedded digits model (KServe V2 routes).
    Embedded(Classifier),
    /// A model server (KServe V2 and OpenAI-compatible routes).
    Upstream(Box<Upstream>),
}

impl Backend {
    async fn is_ready(&self) -> bool {
        match self {
            Backend::Embedded(_) => true,
            Backend::Upstream(up) => up.is_reachable().await,
        }
    }
}

/// An inner (encapsulated) JSON answer.
fn inner_json(status: u16, value: &serde_json::Value) -> bhttp::Response {
    let mut r = bhttp::Response::new(status);
    r.headers
        .push(bhttp::Field::new("content-type", "application/json"));
    r.content = value.to_string().into_bytes();
    r
}

/// What every request handler shares.
struct State {
    config: GatewayConfig,
    keys: Arc<GatewayKeys>,
    backend: Backend,
    verifier: Verifier,
    metrics: Arc<Metrics>,
    in_flight: Arc<Semaphore>,
    crypto: CryptoPool,
}

impl fmt::Debug for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("State").finish_non_exhaustive()
    }
}

/// A bound, not yet running, gateway.
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    acceptor: TlsAcceptor,
    state: Arc<State>,
}

impl Server {
    /// Binds the listener and loads the TLS configuration and the embedded model.
    pub async fn bind(mut config: GatewayConfig, keys: Arc<GatewayKeys>) -> Result<Self, Error> {
        let acceptor = TlsAcceptor::new(
            config.suite,
            config.fallback,
            config.cert_chain.clone(),
            config.private_key.clone_key(),
        )?
        .with_alpn(&[b"http/1.1"]);
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|source| Error::Listen {
                addr: config.listen,
                source,
            })?;
        // The backend owns the model or upstream; the config keeps the rest.
        let backend = match (config.upstream.take(), config.model.take()) {
            (Some(up), _) => Backend::Upstream(Box::new(up)),
            (None, Some(model)) => Backend::Embedded(model),
            (None, None) => {
                Backend::Embedded(Classifier::from_safetensors(DIGITS_MLP_SAFETENSORS)?)
            }
        };
        let policy = config
            .key_management
            .request_policy(config.signature_window_secs);
        let mut nonces = NonceCacheConfig::for_window(config.signature_window_secs);
        nonces.max_entries = config.replay_cache_entries.max(1);
        let verifier = Verifier::new(Arc::new(config.client_keys.clone()), policy)
            .with_nonce_cache(Arc::new(NonceCache::new(nonces)));
        let in_flight = Arc::new(Semaphore::new(config.max_concurrent_requests));
        let crypto =
            CryptoPool::new(config.crypto_threads, config.crypto_queue).map_err(Error::Threads)?;
        Ok(Server {
            listener,
            acceptor,
            state: Arc::new(State {
                config,
                keys,
                backend,
                verifier,
                metrics: Arc::new(Metrics::default()),
                in_flight,
                crypto,
            }),
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> Result<SocketAddr, Error> {
        let addr = self.state.config.listen;
        self.listener
            .local_addr()
            .map_err(|source| Error::Listen { addr, source })
    }

    /// The metrics (also served at `/metrics`).
    pub fn metrics(&self) -> Arc<Metrics> {
        Arc::clone(&self.state.metrics)
    }

    /// Serves until `shutdown` completes, then stops accepting, lets in-flight requests finish
    /// (at most `drain_timeout`) and returns.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), Error> {
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut connections = JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                accepted = self.listener.accept() => {
                    let (tcp, peer) = match accepted {
                        Ok(a) => a,
                        Err(e) => {
                            tracing::warn!(error = %e, "accept failed");
                            continue;
                        }
                    };
                    let state = Arc::clone(&self.state);
                    let acceptor = self.acceptor.clone();
                    let stop = stop_rx.clone();
                    connections.spawn(connection(state, acceptor, tcp, peer, stop));
                }
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
        drop(self.listener);
        let _ = stop_tx.send(true);
        let drain = async { while connections.join_next().await.is_some() {} };
        if tokio::time::timeout(self.state.config.drain_timeout, drain)
            .await
            .is_err()
        {
            tracing::warn!(
                remaining = connections.len(),
                "drain timeout: closing connections"
            );
            connections.abort_all();
        }
        Ok(())
    }
}

/// Binds and serves until `shutdown` completes (see [`Server::run`]).
pub async fn serve(
    config: GatewayConfig,
    keys: Arc<GatewayKeys>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), Error> {
    Server::bind(config, keys).await?.run(shutdown).await
}

async fn connection(
    state: Arc<State>,
    acceptor: TlsAcceptor,
    tcp: tokio::net::TcpStream,
    peer: SocketAddr,
    mut stop: watch::Receiver<bool>,
) {
    let start = Instant::now();
    let timeout = state.config.header_read_timeout;
    let tls = match tokio::time::timeout(timeout, acceptor.accept(tcp)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            state.metrics.tls_failure();
            tracing::info!(%peer, error = %e, "tls handshake failed");
            return;
        }
        Err(_) => {
            state.metrics.tls_failure();
            tracing::info!(%peer, "tls handshake timed out");
            return;
        }
    };
    let group = qsafe_tls::negotiated_group_name(tls.get_ref().1).unwrap_or("unknown");
    state
        .metrics
        .observe(Step::TlsHandshake, group, start.elapsed());
    tracing::debug!(%peer, group, "tls established");
    let svc_state = Arc::clone(&state);
    let service = hyper::service::service_fn(move |req| {
        let state = Arc::clone(&svc_state);
        async move { Ok::<_, std::convert::Infallible>(routes::handle(&state, req, group).await) }
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(timeout)
        .serve_connection(TokioIo::new(tls), service);
    tokio::pin!(conn);
    tokio::select! {
        res = conn.as_mut() => {
            if let Err(e) = res {
                tracing::debug!(%peer, error = %e, "connection closed with error");
            }
        }
        () = async { drop(stop.wait_for(|s| *s).await) } => {
            conn.as_mut().graceful_shutdown();
            if let Err(e) = conn.await {
                tracing::debug!(%peer, error = %e, "connection closed with error");
            }
        }
    }
}
