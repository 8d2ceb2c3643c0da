//! The gateway in front of a model server started as its own process
//! (`tests/fixtures/model_server.py`, KServe V2 and OpenAI-compatible over HTTP/1.1): every
//! call is signed, OHTTP-encapsulated and sent over loopback post-quantum TLS; the answer is
//! verified and opened by the library client.

// Test code: a failed unwrap is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use qsafe_core::registry;
use qsafe_core::sig::SigningKey;
use qsafe_gateway::client::Client;
use qsafe_gateway::httpsig::Signer;
use qsafe_gateway::ohttp::{GatewayKey, Profile};
use qsafe_gateway::server::upstream::{Upstream, UpstreamLimits};
use qsafe_gateway::server::{GatewayConfig, GatewayKeys, Server};
use qsafe_tls::{Fallback, Suite};
use serde_json::{Value, json};
use tokio::sync::oneshot;

/// The fixture process, killed when dropped.
struct ModelServer {
    child: Child,
    port: u16,
}

impl ModelServer {
    fn start() -> Self {
        let python = std::env::var("QSAFE_INTEROP_PYTHON").unwrap_or_else(|_| "python3".into());
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/model_server.py"
        );
        let mut child = Command::new(python)
            .arg(script)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 runs the fixture model server");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .strip_prefix("listening ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("fixture said {line:?}"));
        ModelServer { child, port }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Paths the fixture has been asked for, straight from it (not through the gateway).
    fn seen(&self) -> Vec<String> {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        use std::io::{Read, Write};
        s.write_all(b"GET /fixture/seen HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        let body = text.split("\r\n\r\n").nth(1).unwrap();
        let v: Value = serde_json::from_str(body).unwrap();
        v["seen"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap().to_owned())
            .collect()
    }
}

impl Drop for ModelServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Gateway {
    client: Client,
    url: String,
    stop: Option<oneshot::Sender<()>>,
}

impl Gateway {
    async fn start(upstream_url: &str, limits: UpstreamLimits) -> Self {
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
            .insert("client-1".into(), client_key.verifying_key().unwrap());
        config.upstream = Some(Upstream::new(upstream_url, limits).unwrap());
        let gateway_sk = SigningKey::generate(&registry::MLDSA65_ED25519_SHA512).unwrap();
        let gateway_vk = gateway_sk.verifying_key().unwrap();
        let keys = GatewayKeys::new(
            GatewayKey::generate(1, Profile::XWing).unwrap(),
            Signer::new(gateway_sk, "gateway-1").unwrap(),
        )
        .unwrap();
        let server = Server::bind(config, Arc::new(keys)).await.unwrap();
        let url = format!("https://127.0.0.1:{}", server.local_addr().unwrap().port());
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(server.run(async {
            let _ = rx.await;
        }));
        let client = Client::new(
            &url,
            Signer::new(client_key, "client-1").unwrap(),
            Some(gateway_vk),
            cert.root_store().unwrap(),
        )
        .unwrap();
        Gateway {
            client,
            url,
            stop: Some(tx),
        }
    }

    async fn readyz(&self) -> u16 {
        self.client
            .send("GET", "/readyz", &Default::default(), Vec::new())
            .await
            .unwrap()
            .status
    }

    async fn metrics(&self) -> String {
        let raw = self
            .client
            .send("GET", "/metrics", &Default::default(), Vec::new())
            .await
            .unwrap();
        String::from_utf8(raw.body.to_vec()).unwrap()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kserve_and_openai_through_the_gateway() {
    let upstream = ModelServer::start();
    let gw = Gateway::start(&upstream.url(), UpstreamLimits::default()).await;
    assert_eq!(gw.readyz().await, 200, "{}", gw.url);

    // KServe V2: metadata and inference.
    let meta = gw.client.metadata("double").await.unwrap();
    assert_eq!(
        (meta.status, meta.body["name"].as_str()),
        (200, Some("double"))
    );
    assert!(
        meta.response_keyid.is_some(),
        "the response signature was verified"
    );
    let request = json!({"inputs": [{"name": "x", "shape": [3], "datatype": "FP32",
                                     "data": [1.0, -2.5, 4.0]}]});
    let r = gw.client.infer("double", &request).await.unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["outputs"][0]["data"], json!([2.0, -5.0, 8.0]));
    // Only content negotiation fields and the request id reach the upstream: none of the
    // outer request's signature or OHTTP fields.
    let seen: Vec<&str> = r.body["fixture_headers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap())
        .collect();
    assert!(seen.contains(&"x-request-id"), "{seen:?}");
    for h in [
        "signature",
        "signature-input",
        "content-digest",
        "authorization",
    ] {
        assert!(!seen.contains(&h), "{h} forwarded: {seen:?}");
    }

    // OpenAI-compatible: chat, completions, embeddings, models.
    let chat = json!({"model": "echo", "messages": [{"role": "user", "content": "hello there"}]});
    let r = gw
        .client
        .call("POST", "/v1/chat/completions", Some(&chat))
        .await
        .unwrap();
    assert_eq!(
        r.body["choices"][0]["message"]["content"],
        json!("echo: hello there")
    );
    let r = gw
        .client
        .call(
            "POST",
            "/v1/completions",
            Some(&json!({"model": "echo", "prompt": "abc"})),
        )
        .await
        .unwrap();
    assert_eq!(r.body["choices"][0]["text"], json!("ABC"));
    let r = gw
        .client
        .call(
            "POST",
            "/v1/embeddings",
            Some(&json!({"model": "echo", "input": ["ab", "xyz"]})),
        )
        .await
        .unwrap();
    assert_eq!(r.body["data"][1]["embedding"], json!([3.0, 363.0]));
    let r = gw.client.call("GET", "/v1/models", None).await.unwrap();
    assert_eq!(r.body["data"][0]["id"], json!("echo"));

    // A streamed chat answer arrives whole, as the upstream's event stream.
    let mut stream = chat.clone();
    stream["stream"] = json!(true);
    let r = gw
        .client
        .call("POST", "/v1/chat/completions", Some(&stream))
        .await
        .unwrap();
    assert_eq!(r.content_type.as_deref(), Some("text/event-stream"));
    let text = String::from_utf8(r.content).unwrap();
    let events: Vec<&str> = text.split("\n\n").filter(|e| !e.is_empty()).collect();
    assert_eq!(events.len(), 4, "{text}");
    assert_eq!(events[3], "data: [DONE]");

    // The same call streamed (chunked OHTTP): the events open as their chunks arrive, and the
    // gateway's signature over the whole stream, sent as a trailer, verifies at the end.
    let mut pieces: Vec<Vec<u8>> = Vec::new();
    let r = gw
        .client
        .call_streaming("POST", "/v1/chat/completions", Some(&stream), |p| {
            pieces.push(p.to_vec())
        })
        .await
        .unwrap();
    assert!(
        r.response_keyid.is_some(),
        "the trailer signature was checked"
    );
    assert_eq!(r.content_type.as_deref(), Some("text/event-stream"));
    assert_eq!(pieces.concat(), r.content);
    assert!(pieces.len() > 1, "arrived in {} piece(s)", pieces.len());
    assert!(
        String::from_utf8(r.content)
            .unwrap()
            .ends_with("data: [DONE]\n\n")
    );

    // Anything outside the model APIs is answered by the gateway, never forwarded.
    for (method, path) in [
        ("POST", "/admin"),
        ("GET", "/fixture/seen"),
        ("GET", "/v1/files"),
    ] {
        let r = gw.client.call(method, path, None).await.unwrap();
        assert_eq!(
            (r.status, r.body["error"].as_str()),
            (404, Some("not_found"))
        );
    }
    let seen = upstream.seen();
    assert_eq!(
        seen,
        [
            "GET /v2/models/double",
            "POST /v2/models/double/infer",
            "POST /v1/chat/completions",
            "POST /v1/completions",
            "POST /v1/embeddings",
            "GET /v1/models",
            "POST /v1/chat/completions",
            "POST /v1/chat/completions",
        ]
    );

    // Upstream time is measured per API.
    let metrics = gw.metrics().await;
    for api in ["kserve_v2", "openai"] {
        let series = format!(r#"step="upstream",api="{api}""#);
        assert!(metrics.contains(&series), "{series}: {metrics}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_failures_are_signed_inner_errors() {
    let upstream = ModelServer::start();
    let limits = UpstreamLimits {
        timeout: Duration::from_millis(1500),
        max_response: 64,
    };
    let gw = Gateway::start(&upstream.url(), limits).await;
    let request = json!({"inputs": [{"name": "x", "shape": [1], "datatype": "FP32",
                                     "data": [1.0]}]});

    // Slower than the timeout: 504, inside a verified response.
    let r = gw.client.infer("slow", &request).await.unwrap();
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (504, Some("upstream_timeout"))
    );
    assert!(r.response_keyid.is_some());

    // Larger than max_response: 502.
    let r = gw
        .client
        .call(
            "POST",
            "/v1/embeddings",
            Some(&json!({"model": "echo", "input": vec!["a"; 40]})),
        )
        .await
        .unwrap();
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (502, Some("upstream_response_too_large"))
    );

    // The upstream gone: not ready, and calls answer 502 upstream_unavailable.
    drop(upstream);
    assert_eq!(gw.readyz().await, 503);
    let r = gw.client.infer("double", &request).await.unwrap();
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (502, Some("upstream_unavailable"))
    );
}
