//! `qsafe bench gateway`: the inference gateway under load on this machine (issue 5).
//!
//! Three set-ups serve the embedded digits model, each measured for the same time with the
//! same number of keep-alive connections, in one run:
//!
//! - **direct**: the model behind plain HTTP/1.1 (what a model server without the gateway
//!   offers);
//! - **pq-tls**: the gateway with X25519MLKEM768 TLS only (signatures and OHTTP switched off,
//!   the KServe V2 API in clear inside TLS);
//! - **full**: TLS plus a signed (RFC 9421, composite ML-DSA-65 + Ed25519), OHTTP-encapsulated
//!   (X-Wing) request, and an encapsulated, signed response.
//!
//! For **full**, the client's own work (encapsulating and signing requests, verifying and
//! opening responses) is done before the clock starts and after it stops, so the figures
//! measure the gateway rather than a client sharing its two cores; every response is still
//! verified and opened, and any that fails counts as an error. An overload phase then runs
//! ten times more connections than the gateway's concurrency limit and counts what is not a
//! success or a clean `503 overloaded`. The gateway's own per-step crypto cost comes from its
//! metrics.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use qsafe_core::registry;
use qsafe_core::sig::SigningKey;
use qsafe_gateway::client::{Client, RawResponse, Timings, unix_now};
use qsafe_gateway::httpsig::{self, Fields, Signer};
use qsafe_gateway::model::{Classifier, DIGITS_MLP_SAFETENSORS};
use qsafe_gateway::ohttp::{ClientResponse, GatewayKey, Profile, bhttp};
use qsafe_gateway::server::metrics::StepTotal;
use qsafe_gateway::server::{GatewayConfig, GatewayKeys, Server, embedded};
use qsafe_tls::rustls::ClientConfig;
use qsafe_tls::rustls::pki_types::ServerName;
use qsafe_tls::tokio_rustls::TlsConnector;
use qsafe_tls::{Fallback, Suite};
use serde::Serialize;
use tokio::net::{TcpListener, TcpStream};

/// What to run.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    /// Measured time per set-up.
    pub duration: Duration,
    /// Concurrent keep-alive connections.
    pub connections: usize,
    /// The gateway's concurrency limit in the overload phase (connections are ten times it).
    pub overload_limit: usize,
    /// Requests prepared per second of `duration` for the full set-up (an upper bound on
    /// its throughput; a run that uses them all ends early and says so).
    pub prepared_per_second: usize,
}

impl Config {
    /// About ten seconds.
    pub const QUICK: Config = Config {
        duration: Duration::from_secs(1),
        connections: 64,
        overload_limit: 16,
        prepared_per_second: 6_000,
    };
    /// About a minute.
    pub const FULL: Config = Config {
        duration: Duration::from_secs(5),
        connections: 64,
        overload_limit: 64,
        prepared_per_second: 6_000,
    };
}

/// One set-up's figures.
#[derive(Debug, Clone, Serialize)]
pub struct Run {
    /// `direct`, `pq-tls`, `pq-tls-1conn`, `full`, `full-1conn` or `full-overload`.
    pub setup: &'static str,
    /// Connections used.
    pub connections: usize,
    /// Successful (200, and for `full` verified and opened) responses.
    pub ok: u64,
    /// `503 overloaded` answers.
    pub shed: u64,
    /// Everything else: other statuses, connection failures, failed verification.
    pub errors: u64,
    /// Wall time measured, seconds.
    pub seconds: f64,
    /// Successful responses per second.
    pub requests_per_second: f64,
    /// Median latency of successful requests, milliseconds.
    pub p50_ms: f64,
    /// 99th percentile latency, milliseconds.
    pub p99_ms: f64,
    /// True when the prepared requests ran out before the time did.
    pub ran_out: bool,
}

/// The gateway's mean time per step in the full set-up.
#[derive(Debug, Clone, Serialize)]
pub struct StepCost {
    /// Step name (`tls_handshake`, `verify`, `decapsulate`, `model`, `encapsulate`, `sign`).
    pub step: String,
    /// Label (the TLS group) or empty.
    pub label: String,
    /// Observations.
    pub count: u64,
    /// Mean, microseconds.
    pub mean_us: f64,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The set-ups, in order: direct, pq-tls, pq-tls-1conn, full, full-1conn, full-overload.
    pub runs: Vec<Run>,
    /// Gateway-side cost per step during the full run (64 connections: includes the time a
    /// step waits for a core).
    pub steps: Vec<StepCost>,
    /// The same during the one-connection run: the steps' own cost on an idle gateway.
    pub steps_1conn: Vec<StepCost>,
    /// Client-side cost per request, microseconds (prepared outside the clock).
    pub client_us: ClientCost,
}

/// Client-side mean costs, microseconds.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct ClientCost {
    /// Encapsulating a request.
    pub encapsulate: f64,
    /// Signing it.
    pub sign: f64,
    /// Verifying the response signature.
    pub verify: f64,
    /// Opening the response.
    pub decapsulate: f64,
}

impl Report {
    /// A run by set-up name.
    pub fn run(&self, setup: &str) -> Option<&Run> {
        self.runs.iter().find(|r| r.setup == setup)
    }
}

/// Why the bench could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Setting up a server or the client failed.
    #[error("gateway bench set-up: {0}")]
    Setup(String),
}

fn setup(e: impl std::fmt::Display) -> Error {
    Error::Setup(e.to_string())
}

/// The KServe V2 request every set-up answers: one digits image.
fn infer_body() -> Vec<u8> {
    let data: Vec<f32> = (0..64).map(|i| (i % 17) as f32).collect();
    serde_json::json!({"inputs": [{"name": "input", "shape": [1, 64], "datatype": "FP32",
                                   "data": data}]})
    .to_string()
    .into_bytes()
}

const INFER_PATH: &str = "/v2/models/digits/infer";

/// Runs the bench; `progress` receives one line per phase.
pub fn run(config: Config, progress: &mut dyn FnMut(&str)) -> Result<Report, Error> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(setup)?;
    runtime.block_on(run_async(config, progress))
}

async fn run_async(config: Config, progress: &mut dyn FnMut(&str)) -> Result<Report, Error> {
    let model = Classifier::from_safetensors(DIGITS_MLP_SAFETENSORS).map_err(setup)?;
    let mut runs = Vec::new();

    progress("direct: the model over plain HTTP/1.1");
    let direct = DirectServer::start(model.clone()).await?;
    let target = Target::Plain(direct.addr);
    runs.push(load_clear("direct", &target, config).await);
    direct.stop();

    progress("pq-tls: the gateway with TLS only");
    let tls_only = TestGateway::start(config.connections * 4, false).await?;
    runs.push(load_clear("pq-tls", &tls_only.target(), config).await);
    let single = Config {
        connections: 1,
        ..config
    };
    runs.push(load_clear("pq-tls-1conn", &tls_only.target(), single).await);
    tls_only.stop();

    progress("full: signed and encapsulated requests and responses");
    let full = TestGateway::start(config.connections * 4, true).await?;
    let count = config.prepared_per_second
        * usize::try_from(config.duration.as_secs())
            .unwrap_or(1)
            .max(1);
    let (prepared, client_us) = full.prepare(count).await?;
    let (run, answered) = load_full(
        "full",
        &full.target(),
        config.connections,
        config.duration,
        prepared,
    )
    .await;
    let (verify_us, run) = settle(&full, run, answered);
    runs.push(run);
    let loaded = full.metrics.step_totals();
    // One connection: the added latency of an unloaded gateway.
    let (prepared, _) = full.prepare(count / 3).await?;
    let (run, answered) =
        load_full("full-1conn", &full.target(), 1, config.duration, prepared).await;
    runs.push(settle(&full, run, answered).1);
    let steps = step_costs(&loaded, &[]);
    let steps_1conn = step_costs(&full.metrics.step_totals(), &loaded);
    full.stop();

    progress("full, 10x overload: connections ten times the concurrency limit");
    let overload = TestGateway::start(config.overload_limit, true).await?;
    let connections = config.overload_limit * 10;
    let (prepared, _) = overload.prepare(count).await?;
    let (run, answered) = load_full(
        "full-overload",
        &overload.target(),
        connections,
        config.duration,
        prepared,
    )
    .await;
    runs.push(settle(&overload, run, answered).1);
    overload.stop();

    Ok(Report {
        runs,
        steps,
        steps_1conn,
        client_us: ClientCost {
            verify: verify_us.0,
            decapsulate: verify_us.1,
            ..client_us
        },
    })
}

/// Mean cost per step between two snapshots of the gateway's step totals.
fn step_costs(now: &[StepTotal], before: &[StepTotal]) -> Vec<StepCost> {
    now.iter()
        .filter_map(|t| {
            let (count, seconds) = before
                .iter()
                .find(|b| b.step == t.step && b.label == t.label)
                .map_or((t.count, t.seconds), |b| {
                    (t.count - b.count, t.seconds - b.seconds)
                });
            (count > 0).then(|| StepCost {
                step: t.step.to_owned(),
                label: t.label.to_owned(),
                count,
                mean_us: seconds * 1e6 / count as f64,
            })
        })
        .collect()
}

/// Verifies and opens the answers of a full run: only those count as successes. Returns the
/// mean client verify and open times with the settled run.
fn settle(gw: &TestGateway, mut run: Run, answered: Vec<Answered>) -> ((f64, f64), Run) {
    let (ok, failed, client_us) = gw.verify_all(answered);
    run.ok = ok;
    run.errors += failed;
    run.requests_per_second = ok as f64 / run.seconds;
    (client_us, run)
}

/// Where the load goes.
#[derive(Clone)]
enum Target {
    Plain(std::net::SocketAddr),
    Tls(std::net::SocketAddr, Arc<ClientConfig>),
}

impl Target {
    /// The `Host` the requests carry (the authority the client signs for).
    fn host(&self) -> String {
        match self {
            Target::Plain(a) | Target::Tls(a, _) => format!("127.0.0.1:{}", a.port()),
        }
    }
}

type Sender = SendRequest<Full<Bytes>>;

async fn connect(target: &Target) -> Option<Sender> {
    match target {
        Target::Plain(addr) => {
            let tcp = TcpStream::connect(addr).await.ok()?;
            tcp.set_nodelay(true).ok()?;
            let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
                .await
                .ok()?;
            tokio::spawn(conn);
            Some(sender)
        }
        Target::Tls(addr, tls) => {
            let tcp = TcpStream::connect(addr).await.ok()?;
            tcp.set_nodelay(true).ok()?;
            let name = ServerName::try_from("127.0.0.1").ok()?;
            let stream = TlsConnector::from(Arc::clone(tls))
                .connect(name, tcp)
                .await
                .ok()?;
            let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .ok()?;
            tokio::spawn(conn);
            Some(sender)
        }
    }
}

/// Sends one request; `None` on a connection failure.
async fn exchange(sender: &mut Sender, req: http::Request<Full<Bytes>>) -> Option<RawResponse> {
    sender.ready().await.ok()?;
    let resp = sender.send_request(req).await.ok()?;
    let status = resp.status().as_u16();
    let mut headers = Fields::new();
    for (name, value) in resp.headers() {
        headers.append(name.as_str(), value.as_bytes());
    }
    let body = resp.into_body().collect().await.ok()?.to_bytes();
    Some(RawResponse {
        status,
        headers,
        body,
    })
}

#[derive(Default)]
struct Tally {
    ok: u64,
    shed: u64,
    errors: u64,
    latencies_us: Vec<u32>,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        self.ok += other.ok;
        self.shed += other.shed;
        self.errors += other.errors;
        self.latencies_us.extend(other.latencies_us);
    }

    fn latency(&mut self, started: Instant) {
        self.latencies_us
            .push(u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX));
    }

    fn count(&mut self, status: Option<u16>, started: Instant) {
        match status {
            Some(200) => {
                self.ok += 1;
                self.latency(started);
            }
            Some(503) => self.shed += 1,
            _ => self.errors += 1,
        }
    }

    fn into_run(
        mut self,
        setup: &'static str,
        connections: usize,
        seconds: f64,
        ran_out: bool,
    ) -> Run {
        self.latencies_us.sort_unstable();
        let pct = |p: f64| -> f64 {
            if self.latencies_us.is_empty() {
                return 0.0;
            }
            let i = ((self.latencies_us.len() - 1) as f64 * p).round() as usize;
            f64::from(self.latencies_us.get(i).copied().unwrap_or_default()) / 1000.0
        };
        Run {
            setup,
            connections,
            ok: self.ok,
            shed: self.shed,
            errors: self.errors,
            seconds,
            requests_per_second: self.ok as f64 / seconds,
            p50_ms: pct(0.50),
            p99_ms: pct(0.99),
            ran_out,
        }
    }
}

/// Plain KServe V2 requests for `config.duration` over `config.connections` connections.
async fn load_clear(setup: &'static str, target: &Target, config: Config) -> Run {
    let body = Bytes::from(infer_body());
    let host = target.host();
    let start = Instant::now();
    let deadline = start + config.duration;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..config.connections {
        let target = target.clone();
        let body = body.clone();
        let host = host.clone();
        tasks.spawn(async move {
            let mut tally = Tally::default();
            let Some(mut sender) = connect(&target).await else {
                tally.errors += 1;
                return tally;
            };
            while Instant::now() < deadline {
                let req = http::Request::post(INFER_PATH)
                    .header(http::header::HOST, host.as_str())
                    .header(http::header::CONTENT_TYPE, "application/json")
                    .body(Full::new(body.clone()));
                let Ok(req) = req else { break };
                let t = Instant::now();
                let resp = exchange(&mut sender, req).await;
                tally.count(resp.as_ref().map(|r| r.status), t);
                if resp.is_none() {
                    break;
                }
            }
            tally
        });
    }
    let mut total = Tally::default();
    while let Some(t) = tasks.join_next().await {
        total.merge(t.unwrap_or_default());
    }
    let seconds = start.elapsed().as_secs_f64();
    total.into_run(setup, config.connections, seconds, false)
}

/// A prepared full-protection request.
struct Prepared {
    outer: httpsig::Request,
    body: Bytes,
    pending: ClientResponse,
}

/// A full-protection answer waiting for verification.
struct Answered {
    outer: httpsig::Request,
    raw: RawResponse,
    pending: ClientResponse,
}

async fn load_full(
    setup: &'static str,
    target: &Target,
    connections: usize,
    duration: Duration,
    prepared: Vec<Prepared>,
) -> (Run, Vec<Answered>) {
    let queue = Arc::new(std::sync::Mutex::new(prepared));
    let host = target.host();
    let start = Instant::now();
    let deadline = start + duration;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..connections {
        let target = target.clone();
        let queue = Arc::clone(&queue);
        let host = host.clone();
        tasks.spawn(async move {
            let mut tally = Tally::default();
            let mut answered = Vec::new();
            let mut ran_out = false;
            let Some(mut sender) = connect(&target).await else {
                tally.errors += 1;
                return (tally, answered, ran_out);
            };
            while Instant::now() < deadline {
                let next = queue
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .pop();
                let Some(p) = next else {
                    ran_out = true;
                    break;
                };
                let mut builder =
                    http::Request::post("/").header(http::header::HOST, host.as_str());
                for (name, value) in p.outer.headers.iter() {
                    builder = builder.header(name, value);
                }
                let Ok(req) = builder.body(Full::new(p.body.clone())) else {
                    break;
                };
                let t = Instant::now();
                let resp = exchange(&mut sender, req).await;
                let status = resp.as_ref().map(|r| r.status);
                // Successes are counted once verified (after the clock stops).
                if status == Some(200) {
                    tally.latency(t);
                } else {
                    tally.count(status, t);
                }
                match resp {
                    Some(raw) if raw.status == 200 => answered.push(Answered {
                        outer: p.outer,
                        raw,
                        pending: p.pending,
                    }),
                    Some(_) => {}
                    None => break,
                }
            }
            (tally, answered, ran_out)
        });
    }
    let mut total = Tally::default();
    let mut all = Vec::new();
    let mut ran_out = false;
    while let Some(joined) = tasks.join_next().await {
        if let Ok((t, a, r)) = joined {
            total.merge(t);
            all.extend(a);
            ran_out |= r;
        } else {
            total.errors += 1;
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    (total.into_run(setup, connections, seconds, ran_out), all)
}

/// The model over plain HTTP/1.1, answered by the gateway's own embedded-model handler.
struct DirectServer {
    addr: std::net::SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
}

impl DirectServer {
    async fn start(model: Classifier) -> Result<Self, Error> {
        let listener = TcpListener::bind("127.0.0.1:0").await.map_err(setup)?;
        let addr = listener.local_addr().map_err(setup)?;
        let model = Arc::new(model);
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    _ = &mut stopped => break,
                    a = listener.accept() => a,
                };
                let Ok((tcp, _)) = accepted else { continue };
                let _ = tcp.set_nodelay(true);
                let model = Arc::clone(&model);
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(
                        move |req: http::Request<hyper::body::Incoming>| {
                            let model = Arc::clone(&model);
                            async move {
                                let (parts, body) = req.into_parts();
                                let content = body
                                    .collect()
                                    .await
                                    .map(|b| b.to_bytes().to_vec())
                                    .unwrap_or_default();
                                let mut inner = bhttp::Request::new(
                                    parts.method.as_str(),
                                    "http",
                                    "localhost",
                                    parts.uri.path(),
                                );
                                inner.content = content;
                                let r = embedded::dispatch(&model, &inner);
                                let mut resp =
                                    http::Response::new(Full::new(Bytes::from(r.content)));
                                *resp.status_mut() = http::StatusCode::from_u16(r.status)
                                    .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
                                Ok::<_, std::convert::Infallible>(resp)
                            }
                        },
                    );
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tcp), service)
                        .await;
                });
            }
        });
        Ok(DirectServer { addr, stop })
    }

    fn stop(self) {
        let _ = self.stop.send(());
    }
}

/// A gateway on loopback with a client key it trusts.
struct TestGateway {
    addr: std::net::SocketAddr,
    tls: Arc<ClientConfig>,
    client: Client,
    metrics: Arc<qsafe_gateway::server::metrics::Metrics>,
    stop: tokio::sync::oneshot::Sender<()>,
}

impl TestGateway {
    async fn start(max_concurrent: usize, protected: bool) -> Result<Self, Error> {
        let cert =
            qsafe_tls::dev_certificate(Suite::Default, qsafe_tls::DEV_HOSTNAMES).map_err(setup)?;
        let client_key = SigningKey::generate(&registry::MLDSA65_ED25519_SHA512).map_err(setup)?;
        let mut config = GatewayConfig::new(
            "127.0.0.1:0".parse().map_err(setup)?,
            Fallback::Disabled,
            cert.cert_chain(),
            cert.private_key(),
        );
        config.max_concurrent_requests = max_concurrent;
        config.require_signature = protected;
        config.require_encryption = protected;
        config
            .client_keys
            .insert("bench".into(), client_key.verifying_key().map_err(setup)?);
        let gateway_sk = SigningKey::generate(&registry::MLDSA65_ED25519_SHA512).map_err(setup)?;
        let gateway_vk = gateway_sk.verifying_key().map_err(setup)?;
        let keys = GatewayKeys::new(
            GatewayKey::generate(1, Profile::XWing).map_err(setup)?,
            Signer::new(gateway_sk, "gateway").map_err(setup)?,
        )
        .map_err(setup)?;
        let server = Server::bind(config, Arc::new(keys)).await.map_err(setup)?;
        let addr = server.local_addr().map_err(setup)?;
        let metrics = server.metrics();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(server.run(async {
            let _ = stopped.await;
        }));
        let roots = cert.root_store().map_err(setup)?;
        let tls = qsafe_tls::client_config(Suite::Default, Fallback::Disabled, roots.clone())
            .map_err(setup)?;
        let client = Client::new(
            &format!("https://127.0.0.1:{}", addr.port()),
            Signer::new(client_key, "bench").map_err(setup)?,
            Some(gateway_vk),
            roots,
        )
        .map_err(setup)?;
        Ok(TestGateway {
            addr,
            tls,
            client,
            metrics,
            stop,
        })
    }

    fn target(&self) -> Target {
        Target::Tls(self.addr, Arc::clone(&self.tls))
    }

    /// `count` signed, encapsulated requests and the mean client cost of each step.
    async fn prepare(&self, count: usize) -> Result<(Vec<Prepared>, ClientCost), Error> {
        let configs = self.client.fetch_key_configs().await.map_err(setup)?;
        let config = configs
            .first()
            .ok_or_else(|| setup("no key configuration"))?;
        let body: serde_json::Value = serde_json::from_slice(&infer_body()).map_err(setup)?;
        let mut out = Vec::with_capacity(count);
        let (mut enc, mut sign) = (Duration::ZERO, Duration::ZERO);
        let created = unix_now();
        for _ in 0..count {
            let t = Instant::now();
            let sealed = self
                .client
                .seal(config, "POST", INFER_PATH, Some(&body))
                .map_err(setup)?;
            enc += t.elapsed();
            let t = Instant::now();
            let outer = self
                .client
                .sign_outer(&sealed.enc_request, created)
                .map_err(setup)?;
            sign += t.elapsed();
            out.push(Prepared {
                outer,
                body: Bytes::from(sealed.enc_request),
                pending: sealed.pending,
            });
        }
        let n = count.max(1) as f64;
        Ok((
            out,
            ClientCost {
                encapsulate: enc.as_secs_f64() * 1e6 / n,
                sign: sign.as_secs_f64() * 1e6 / n,
                ..ClientCost::default()
            },
        ))
    }

    /// Verifies and opens every answer: (ok, failed, (mean verify µs, mean open µs)).
    fn verify_all(&self, answered: Vec<Answered>) -> (u64, u64, (f64, f64)) {
        let (mut ok, mut failed) = (0u64, 0u64);
        let mut timings = Timings::default();
        let (mut verify, mut open) = (Duration::ZERO, Duration::ZERO);
        let n = answered.len().max(1) as f64;
        for a in answered {
            match self.client.open(&a.outer, a.raw, a.pending, &mut timings) {
                Ok(inner) if inner.status == 200 => ok += 1,
                _ => failed += 1,
            }
            verify += timings.verify;
            open += timings.decapsulate;
        }
        (
            ok,
            failed,
            (verify.as_secs_f64() * 1e6 / n, open.as_secs_f64() * 1e6 / n),
        )
    }

    fn stop(self) {
        let _ = self.stop.send(());
    }
}
