//! The HTTPS gateway end to end over loopback TLS: a server started in-process on port 0 and
//! the library client (or raw, misbehaving requests).

// Test code: a failed unwrap is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::Arc;
use std::time::Duration;

use qsafe_core::registry;
use qsafe_core::sig::{SigningKey, VerifyingKey};
use qsafe_gateway::client::{Client, ClientError, unix_now};
use qsafe_gateway::httpsig::{Fields, Signer};
use qsafe_gateway::model::{Classifier, DIGITS_MLP_SAFETENSORS};
use qsafe_gateway::ohttp::{self, GatewayKey, KeyConfig, Profile};
use qsafe_gateway::server::{GatewayConfig, GatewayKeys, Server};
use qsafe_tls::rustls::{self, RootCertStore};
use qsafe_tls::{Fallback, Suite};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const CLIENT_KEYID: &str = "client-1";

struct Harness {
    url: String,
    addr: std::net::SocketAddr,
    keys: Arc<GatewayKeys>,
    roots: RootCertStore,
    gateway_vk: VerifyingKey,
    client_key: SigningKey,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), qsafe_gateway::server::Error>>,
}

impl Harness {
    async fn start(tweak: impl FnOnce(&mut GatewayConfig)) -> Self {
        let cert = qsafe_tls::dev_certificate(Suite::Default, qsafe_tls::DEV_HOSTNAMES).unwrap();
        let client_key = SigningKey::generate(&registry::MLDSA65_ED25519_SHA512).unwrap();
        let mut config = GatewayConfig::new(
            "127.0.0.1:0".parse().unwrap(),
            Fallback::Disabled,
            cert.cert_chain(),
            cert.private_key(),
        );
        config
            .client_keys
            .insert(CLIENT_KEYID.to_owned(), client_key.verifying_key().unwrap());
        tweak(&mut config);
        let gateway_sk = SigningKey::generate(&registry::MLDSA65_ED25519_SHA512).unwrap();
        let gateway_vk = gateway_sk.verifying_key().unwrap();
        let keys = Arc::new(
            GatewayKeys::new(
                GatewayKey::generate(1, Profile::XWing).unwrap(),
                Signer::new(gateway_sk, "gateway-1").unwrap(),
            )
            .unwrap(),
        );
        let server = Server::bind(config, Arc::clone(&keys)).await.unwrap();
        let addr = server.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(server.run(async {
            let _ = rx.await;
        }));
        Harness {
            url: format!("https://127.0.0.1:{}", addr.port()),
            addr,
            keys,
            roots: cert.root_store().unwrap(),
            gateway_vk,
            client_key,
            stop: Some(tx),
            task,
        }
    }

    fn client(&self) -> Client {
        self.client_as(self.client_key_copy(), CLIENT_KEYID)
    }

    fn client_key_copy(&self) -> SigningKey {
        SigningKey::from_private_bytes(
            self.client_key.algorithm(),
            self.client_key.private_bytes().unwrap().expose(),
        )
        .unwrap()
    }

    fn client_as(&self, key: SigningKey, keyid: &str) -> Client {
        Client::new(
            &self.url,
            Signer::new(key, keyid).unwrap(),
            Some(self.gateway_vk.clone()),
            self.roots.clone(),
        )
        .unwrap()
    }

    async fn shutdown(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        self.task.await.unwrap().unwrap();
    }
}

fn digits_input(rows: usize) -> Vec<f32> {
    (0..rows * 64).map(|i| ((i * 7) % 17) as f32).collect()
}

fn infer_body(data: &[f32]) -> serde_json::Value {
    json!({"inputs": [{"name": "input", "shape": [data.len() / 64, 64], "datatype": "FP32", "data": data}]})
}

fn ohttp_headers(outer: &qsafe_gateway::httpsig::Request) -> Fields {
    outer.headers.clone()
}

/// A sealed inference request under the gateway's first key configuration.
async fn sealed(client: &Client) -> (qsafe_gateway::client::Sealed, KeyConfig) {
    let config = client.fetch_key_configs().await.unwrap().remove(0);
    let data = digits_input(1);
    let s = client
        .seal(
            &config,
            "POST",
            "/v2/models/digits/infer",
            Some(&infer_body(&data)),
        )
        .unwrap();
    (s, config)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_happy_path_prediction_matches_local_model() {
    let h = Harness::start(|_| {}).await;
    let client = h.client();
    let data = digits_input(3);
    let resp = client.infer("digits", &infer_body(&data)).await.unwrap();
    assert_eq!(resp.status, 200, "{}", resp.body);
    assert_eq!(resp.response_keyid.as_deref(), Some("gateway-1"));
    assert_eq!(resp.body["model_name"], "digits");

    let local = Classifier::from_safetensors(DIGITS_MLP_SAFETENSORS)
        .unwrap()
        .predict_flat(&data)
        .unwrap();
    let outputs = resp.body["outputs"].as_array().unwrap();
    let labels: Vec<i64> = outputs[1]["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    assert_eq!(outputs[1]["name"], "label");
    assert_eq!(outputs[1]["datatype"], "INT64");
    assert_eq!(
        labels,
        local.iter().map(|p| i64::from(p.label)).collect::<Vec<_>>()
    );
    let probs: Vec<f32> = outputs[0]["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap() as f32)
        .collect();
    let expected: Vec<f32> = local.iter().flat_map(|p| p.probabilities).collect();
    assert_eq!(probs, expected);

    // Metadata and readiness through OHTTP.
    let meta = client.metadata("digits").await.unwrap();
    assert_eq!(meta.status, 200);
    assert_eq!(meta.body["name"], "digits");
    let ready = client.call("GET", "/v2/health/ready", None).await.unwrap();
    assert_eq!(ready.status, 200);
    let missing = client.call("GET", "/v2/models/nope", None).await.unwrap();
    assert_eq!(missing.status, 404);
    let bad = client
        .infer("digits", &json!({"inputs": [{"name": "input", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]}]}))
        .await
        .unwrap();
    assert_eq!(bad.status, 400);

    // Plain routes.
    let health = client
        .send("GET", "/healthz", &Fields::new(), Vec::new())
        .await
        .unwrap();
    assert_eq!((health.status, &health.body[..]), (200, &b"ok"[..]));
    assert!(health.headers.contains("x-request-id"));
    let echoed = client
        .send(
            "GET",
            "/readyz",
            &Fields::new().with("x-request-id", "abc-123"),
            Vec::new(),
        )
        .await
        .unwrap();
    assert_eq!(echoed.status, 200);
    assert_eq!(
        echoed.headers.get_all("x-request-id").next(),
        Some(&b"abc-123"[..])
    );
    let metrics = client
        .send("GET", "/metrics", &Fields::new(), Vec::new())
        .await
        .unwrap();
    let text = String::from_utf8(metrics.body.to_vec()).unwrap();
    assert!(text.contains("route=\"protected\",code=\"200\""), "{text}");
    assert!(
        text.contains("step=\"tls_handshake\",group=\"X25519MLKEM768\""),
        "{text}"
    );
    for step in ["verify", "decapsulate", "model", "encapsulate", "sign"] {
        assert!(text.contains(&format!("step=\"{step}\"")), "{step}");
    }
    let keys = client
        .send("GET", ohttp::WELL_KNOWN_PATH, &Fields::new(), Vec::new())
        .await
        .unwrap();
    assert_eq!(
        keys.headers.get_all("content-type").next(),
        Some(ohttp::KEYS_MEDIA_TYPE.as_bytes())
    );
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_replayed_request_is_401_nonce_reused() {
    let h = Harness::start(|_| {}).await;
    let client = h.client();
    let (s, _) = sealed(&client).await;
    let outer = client.sign_outer(&s.enc_request, unix_now()).unwrap();
    let first = client
        .send("POST", "/", &ohttp_headers(&outer), s.enc_request.clone())
        .await
        .unwrap();
    assert_eq!(first.status, 200);
    let again = client
        .send("POST", "/", &ohttp_headers(&outer), s.enc_request)
        .await
        .unwrap();
    assert_eq!(again.status, 401);
    assert_eq!(again.error_code().as_deref(), Some("nonce_reused"));
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_stale_and_future_created_are_401_outside_window() {
    let h = Harness::start(|_| {}).await;
    let client = h.client();
    for created in [unix_now() - 3600, unix_now() + 3600] {
        let (s, _) = sealed(&client).await;
        let outer = client.sign_outer(&s.enc_request, created).unwrap();
        let r = client
            .send("POST", "/", &ohttp_headers(&outer), s.enc_request)
            .await
            .unwrap();
        assert_eq!(r.status, 401);
        assert_eq!(r.error_code().as_deref(), Some("signature_outside_window"));
    }
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_tampered_body_is_401_digest_mismatch() {
    let h = Harness::start(|_| {}).await;
    let client = h.client();
    let (s, _) = sealed(&client).await;
    let outer = client.sign_outer(&s.enc_request, unix_now()).unwrap();
    let mut body = s.enc_request;
    *body.last_mut().unwrap() ^= 1;
    let r = client
        .send("POST", "/", &ohttp_headers(&outer), body)
        .await
        .unwrap();
    assert_eq!(r.status, 401);
    assert_eq!(r.error_code().as_deref(), Some("digest_mismatch"));
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_tampered_encapsulation_with_fresh_signature_is_400() {
    let h = Harness::start(|_| {}).await;
    let client = h.client();
    let (s, _) = sealed(&client).await;
    let mut body = s.enc_request;
    *body.last_mut().unwrap() ^= 1;
    let outer = client.sign_outer(&body, unix_now()).unwrap();
    let r = client
        .send("POST", "/", &ohttp_headers(&outer), body)
        .await
        .unwrap();
    assert_eq!(r.status, 400);
    assert_eq!(r.error_code().as_deref(), Some("ohttp_invalid"));
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_unknown_client_key_is_401_key_unknown() {
    let h = Harness::start(|_| {}).await;
    let stranger = h.client_as(
        SigningKey::generate(&registry::MLDSA65_ED25519_SHA512).unwrap(),
        "stranger",
    );
    let err = stranger
        .infer("digits", &infer_body(&digits_input(1)))
        .await
        .unwrap_err();
    match err {
        ClientError::Refused { status, code } => {
            assert_eq!((status, code.as_str()), (401, "key_unknown"));
        }
        other => panic!("unexpected {other:?}"),
    }
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_response_signed_by_other_key_fails_verification() {
    let h = Harness::start(|_| {}).await;
    let other = SigningKey::generate(&registry::MLDSA65_ED25519_SHA512)
        .unwrap()
        .verifying_key()
        .unwrap();
    let key = SigningKey::from_private_bytes(
        h.client_key.algorithm(),
        h.client_key.private_bytes().unwrap().expose(),
    )
    .unwrap();
    let client = Client::new(
        &h.url,
        Signer::new(key, CLIENT_KEYID).unwrap(),
        Some(other),
        h.roots.clone(),
    )
    .unwrap();
    let err = client
        .infer("digits", &infer_body(&digits_input(1)))
        .await
        .unwrap_err();
    assert!(err.is_verification_failure(), "{err:?}");
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_oversized_body_is_413() {
    let h = Harness::start(|c| c.body_limit = 4096).await;
    let client = h.client();
    let body = vec![0u8; 8192];
    let outer = client.sign_outer(&body, unix_now()).unwrap();
    let r = client
        .send("POST", "/", &ohttp_headers(&outer), body)
        .await
        .unwrap();
    assert_eq!(r.status, 413);
    assert_eq!(r.error_code().as_deref(), Some("body_too_large"));
    h.shutdown().await;
}

async fn raw_tls(h: &Harness) -> qsafe_tls::tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    let cfg =
        qsafe_tls::client_config(Suite::Default, Fallback::Disabled, h.roots.clone()).unwrap();
    let tcp = tokio::net::TcpStream::connect(h.addr).await.unwrap();
    qsafe_tls::tokio_rustls::TlsConnector::from(cfg)
        .connect(
            rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap(),
            tcp,
        )
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_slow_headers_connection_closed() {
    let h = Harness::start(|c| c.header_read_timeout = Duration::from_millis(300)).await;
    let mut tls = raw_tls(&h).await;
    tls.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .await
        .unwrap();
    tls.flush().await.unwrap();
    // The server must close the connection on its own (the outer timeout is a safety net
    // against a hang, not an assertion on timing).
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(60), tls.read_to_end(&mut buf))
        .await
        .expect("the server did not close the slow connection");
    let text = String::from_utf8_lossy(&buf);
    assert!(!text.contains(" 200 "), "{text}");
    let _ = read;
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_classical_only_tls_client_fails_without_fallback() {
    let h = Harness::start(|_| {}).await;
    let mut provider = rustls::crypto::aws_lc_rs::default_provider();
    provider.kx_groups = vec![rustls::crypto::aws_lc_rs::kx_group::X25519];
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(provider))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(h.roots.clone())
        .with_no_client_auth();
    let key = SigningKey::from_private_bytes(
        h.client_key.algorithm(),
        h.client_key.private_bytes().unwrap().expose(),
    )
    .unwrap();
    let client = Client::with_tls_config(
        &h.url,
        Signer::new(key, CLIENT_KEYID).unwrap(),
        Some(h.gateway_vk.clone()),
        Arc::new(tls),
    )
    .unwrap();
    let err = client.fetch_key_configs().await.unwrap_err();
    assert!(matches!(err, ClientError::Connect(_)), "{err:?}");
    // The post-quantum client still works.
    h.client().fetch_key_configs().await.unwrap();
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_ohttp_key_rotation_keeps_previous_key() {
    let h = Harness::start(|_| {}).await;
    let client = h.client();
    let (s, config) = sealed(&client).await;
    assert_eq!(config.key_id(), 1);

    h.keys
        .rotate_ohttp_key(GatewayKey::generate(2, Profile::XWing).unwrap())
        .unwrap();
    assert_eq!(h.keys.current_key_id(), 2);
    // In flight under key 1: still answered.
    let outer = client.sign_outer(&s.enc_request, unix_now()).unwrap();
    let raw = client
        .send("POST", "/", &ohttp_headers(&outer), s.enc_request)
        .await
        .unwrap();
    let mut timings = Default::default();
    let resp = client.open(&outer, raw, s.pending, &mut timings).unwrap();
    assert_eq!(resp.status, 200);

    // The list now offers 2 first, then 1; new requests use 2.
    let ids: Vec<u8> = client
        .fetch_key_configs()
        .await
        .unwrap()
        .iter()
        .map(KeyConfig::key_id)
        .collect();
    assert_eq!(ids, [2, 1]);
    let resp = client
        .infer("digits", &infer_body(&digits_input(1)))
        .await
        .unwrap();
    assert_eq!(resp.status, 200);

    // A second rotation retires key 1: the RFC 9458 key problem.
    let (old, _) = {
        let c1 = config.clone();
        let s = client.seal(&c1, "GET", "/v2/health/ready", None).unwrap();
        (s, c1)
    };
    h.keys
        .rotate_ohttp_key(GatewayKey::generate(3, Profile::XWing).unwrap())
        .unwrap();
    let outer = client.sign_outer(&old.enc_request, unix_now()).unwrap();
    let raw = client
        .send("POST", "/", &ohttp_headers(&outer), old.enc_request)
        .await
        .unwrap();
    assert_eq!(raw.status, 400);
    assert_eq!(
        raw.headers.get_all("content-type").next(),
        Some(&b"application/problem+json"[..])
    );
    assert_eq!(raw.error_code().as_deref(), Some(ohttp::KEY_PROBLEM_TYPE));
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_concurrency_limit_answers_503() {
    let h = Harness::start(|c| c.max_concurrent_requests = 1).await;
    let client = h.client();
    // Hold the only slot: a request whose body never completes.
    let mut held = raw_tls(&h).await;
    held.write_all(
        b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: message/ohttp-req\r\nContent-Length: 1000\r\n\r\nabc",
    )
    .await
    .unwrap();
    held.flush().await.unwrap();
    let mut seen = None;
    for _ in 0..200 {
        let r = client
            .send("GET", ohttp::WELL_KNOWN_PATH, &Fields::new(), Vec::new())
            .await
            .unwrap();
        if r.status == 503 {
            seen = Some(r);
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let r = seen.expect("no 503 while the only slot was held");
    assert_eq!(r.error_code().as_deref(), Some("overloaded"));
    assert_eq!(r.headers.get_all("retry-after").next(), Some(&b"1"[..]));
    // Health stays outside the limit.
    let health = client
        .send("GET", "/healthz", &Fields::new(), Vec::new())
        .await
        .unwrap();
    assert_eq!(health.status, 200);
    drop(held);
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_unsigned_request_is_401_signature_missing() {
    let h = Harness::start(|_| {}).await;
    let client = h.client();
    let (s, _) = sealed(&client).await;
    let r = client
        .send(
            "POST",
            "/",
            &Fields::new().with("content-type", ohttp::REQUEST_MEDIA_TYPE),
            s.enc_request,
        )
        .await
        .unwrap();
    assert_eq!(r.status, 401);
    assert_eq!(r.error_code().as_deref(), Some("signature_missing"));
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_full_replay_cache_sheds_with_503() {
    let h = Harness::start(|c| c.replay_cache_entries = 2).await;
    let client = h.client();
    let body = infer_body(&digits_input(1));
    for _ in 0..2 {
        let r = client.infer("digits", &body).await.unwrap();
        assert_eq!(r.status, 200);
    }
    match client.infer("digits", &body).await {
        Err(ClientError::Refused { status, code }) => {
            assert_eq!((status, code.as_str()), (503, "replay_cache_full"));
        }
        other => panic!("expected 503 replay_cache_full, got {other:?}"),
    }
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_full_crypto_queue_sheds_with_503_and_serves_the_rest() {
    // One crypto thread and one waiting slot: a burst cannot all be admitted.
    let h = Harness::start(|c| {
        c.crypto_threads = 1;
        c.crypto_queue = 1;
    })
    .await;
    let client = Arc::new(h.client());
    let body = Arc::new(infer_body(&digits_input(1)));
    let (mut served, mut shed) = (0, 0);
    for _round in 0..20 {
        let burst: Vec<_> = (0..32)
            .map(|_| {
                let (client, body) = (Arc::clone(&client), Arc::clone(&body));
                tokio::spawn(async move { client.infer("digits", &body).await })
            })
            .collect();
        for task in burst {
            match task.await.unwrap() {
                Ok(r) => {
                    assert_eq!(r.status, 200);
                    served += 1;
                }
                Err(ClientError::Refused { status, code }) => {
                    assert_eq!((status, code.as_str()), (503, "overloaded"));
                    shed += 1;
                }
                Err(other) => panic!("only verified answers or clean 503s: {other:?}"),
            }
        }
        if shed > 0 && served > 0 {
            break;
        }
    }
    assert!(served > 0 && shed > 0, "served {served}, shed {shed}");
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_streamed_answer_is_verified_at_its_end() {
    let h = Harness::start(|_| {}).await;
    let client = h.client();
    let body = infer_body(&digits_input(2));
    let whole = client.infer("digits", &body).await.unwrap();

    // The embedded model's answer as a chunked response: the same prediction, signed.
    let mut pieces = 0;
    let streamed = client
        .call_streaming("POST", "/v2/models/digits/infer", Some(&body), |_| {
            pieces += 1
        })
        .await
        .unwrap();
    assert_eq!(streamed.status, 200);
    assert_eq!(streamed.body, whole.body);
    assert_eq!(pieces, 1);
    assert!(streamed.response_keyid.is_some());

    // Pinned to another gateway key: the trailer signature fails, exit-3 class.
    let other = SigningKey::generate(&registry::MLDSA65_ED25519_SHA512).unwrap();
    let wrong = Client::new(
        &h.url,
        Signer::new(h.client_key_copy(), CLIENT_KEYID).unwrap(),
        Some(other.verifying_key().unwrap()),
        h.roots.clone(),
    )
    .unwrap();
    let err = wrong
        .call_streaming("POST", "/v2/models/digits/infer", Some(&body), |_| {})
        .await
        .unwrap_err();
    assert!(err.is_verification_failure(), "{err}");
    h.shutdown().await;
}
