//! The model server behind the gateway (`--upstream URL`): the decapsulated inner request is
//! forwarded over HTTP/1.1 with a pooled client, and the upstream's answer goes back inside
//! the encapsulated, signed response.
//!
//! Only the model-serving APIs are forwarded, so the gateway is never an open proxy:
//!
//! - KServe Open Inference Protocol V2: `GET /v2`, `GET /v2/health/{live,ready}`,
//!   `GET /v2/models/{name}[/versions/{v}][/ready]`,
//!   `POST /v2/models/{name}[/versions/{v}]/infer`;
//! - OpenAI-compatible: `POST /v1/chat/completions`, `/v1/completions`, `/v1/embeddings`,
//!   `GET /v1/models`.
//!
//! Anything else is answered `404 not_found` without contacting the upstream. Forwarded
//! header fields are limited to the content negotiation set ([`FORWARDED_REQUEST_FIELDS`]);
//! the gateway adds `x-request-id`. Failures are inner answers: `502 upstream_unavailable`
//! (connect or protocol error), `504 upstream_timeout`, `502 upstream_response_too_large`.
//!
//! A streamed answer (`text/event-stream`, e.g. `"stream": true`) is collected and returned
//! as one encapsulated message: RFC 9458 responses are single messages, and chunk-by-chunk
//! delivery needs chunked OHTTP (draft-ietf-ohai-chunked-ohttp), which is not built yet.
//!
//! The upstream is plain `http://`: it is expected next to the gateway (same pod, loopback or
//! a cluster-internal address) behind the gateway's post-quantum protection.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Method, Uri, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::json;

use super::inner_json;
use crate::ohttp::bhttp;

/// Request header fields passed on to the upstream (all others are dropped).
pub const FORWARDED_REQUEST_FIELDS: [&str; 3] = ["content-type", "accept", "accept-encoding"];

/// Response header fields passed back from the upstream.
const FORWARDED_RESPONSE_FIELDS: [&str; 3] = ["content-type", "content-encoding", "cache-control"];

/// Why an upstream could not be configured.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The URL is not `http://host[:port][/prefix]`.
    #[error("invalid upstream URL {url:?}: {why}")]
    Url {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        why: &'static str,
    },
}

/// Upstream limits.
#[derive(Debug, Clone, Copy)]
pub struct UpstreamLimits {
    /// Time allowed for the whole exchange (connect, request, response body).
    pub timeout: Duration,
    /// Largest response body accepted from the upstream.
    pub max_response: usize,
}

impl Default for UpstreamLimits {
    fn default() -> Self {
        UpstreamLimits {
            timeout: Duration::from_secs(60),
            max_response: 16 << 20,
        }
    }
}

/// A KServe V2 / OpenAI-compatible model server reached over HTTP.
#[derive(Debug, Clone)]
pub struct Upstream {
    scheme_authority: String,
    /// `host:port` for the readiness probe (port 80 when the URL has none).
    probe_target: String,
    prefix: String,
    client: Client<HttpConnector, Full<Bytes>>,
    limits: UpstreamLimits,
}

/// The kind of API a forwarded path belongs to (a metrics label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// KServe Open Inference Protocol V2.
    KserveV2,
    /// OpenAI-compatible.
    OpenAi,
}

impl Api {
    /// The label used in metrics and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Api::KserveV2 => "kserve_v2",
            Api::OpenAi => "openai",
        }
    }
}

/// Whether `method path` (path without query) is a forwarded model API call.
pub fn classify(method: &str, path: &str) -> Option<Api> {
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let get = method == "GET";
    let post = method == "POST";
    let name_ok = |s: &str| {
        !s.is_empty()
            && s != "."
            && s != ".."
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
    };
    match segments.as_slice() {
        ["v2"] | ["v2", "health", "live" | "ready"] if get => Some(Api::KserveV2),
        ["v2", "models", name, rest @ ..] if name_ok(name) => {
            let rest = match rest {
                ["versions", v, rest @ ..] if name_ok(v) => rest,
                other => other,
            };
            match rest {
                [] | ["ready"] if get => Some(Api::KserveV2),
                ["infer"] if post => Some(Api::KserveV2),
                _ => None,
            }
        }
        ["v1", "chat", "completions"] | ["v1", "completions" | "embeddings"] if post => {
            Some(Api::OpenAi)
        }
        ["v1", "models"] if get => Some(Api::OpenAi),
        _ => None,
    }
}

impl Upstream {
    /// An upstream at `url` (`http://host[:port][/prefix]`).
    pub fn new(url: &str, limits: UpstreamLimits) -> Result<Self, Error> {
        let bad = |why| Error::Url {
            url: url.to_owned(),
            why,
        };
        let uri: Uri = url.parse().map_err(|_| bad("not a URL"))?;
        if uri.scheme_str() != Some("http") {
            return Err(bad(
                "only http:// is supported (the upstream sits beside the gateway)",
            ));
        }
        let authority = uri.authority().ok_or_else(|| bad("no host"))?;
        if authority.as_str().contains('@') {
            return Err(bad("credentials in the URL are not supported"));
        }
        if uri.query().is_some() {
            return Err(bad("a query is not allowed"));
        }
        let prefix = uri.path().trim_end_matches('/').to_owned();
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(limits.timeout.min(Duration::from_secs(10))));
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        let probe_target = match authority.port_u16() {
            Some(_) => authority.as_str().to_owned(),
            None => format!("{}:80", authority.host()),
        };
        Ok(Upstream {
            scheme_authority: format!("http://{authority}"),
            probe_target,
            prefix,
            client,
            limits,
        })
    }

    /// The upstream's base URL as configured.
    pub fn url(&self) -> String {
        format!("{}{}", self.scheme_authority, self.prefix)
    }

    /// True when a TCP connection to the upstream opens within one second.
    pub async fn is_reachable(&self) -> bool {
        matches!(
            tokio::time::timeout(
                Duration::from_secs(1),
                tokio::net::TcpStream::connect(self.probe_target.as_str())
            )
            .await,
            Ok(Ok(_))
        )
    }

    /// Forwards an inner request already accepted by [`classify`].
    pub async fn forward(&self, req: &bhttp::Request, request_id: &str) -> bhttp::Response {
        match tokio::time::timeout(self.limits.timeout, self.exchange(req, request_id)).await {
            Ok(Ok(resp)) => resp,
            Ok(Err(code)) => {
                tracing::warn!(request_id, upstream = %self.url(), code, "upstream failed");
                inner_json(502, &json!({ "error": code }))
            }
            Err(_) => {
                tracing::warn!(request_id, upstream = %self.url(), "upstream timed out");
                inner_json(504, &json!({ "error": "upstream_timeout" }))
            }
        }
    }

    /// Forwards an inner request and hands back the answer's head and live body, for a
    /// streamed (chunked OHTTP) response; failures before the head are answered whole.
    pub async fn forward_streaming(
        &self,
        req: &bhttp::Request,
        request_id: &str,
    ) -> Result<Streaming, bhttp::Response> {
        match tokio::time::timeout(self.limits.timeout, self.open_exchange(req, request_id)).await {
            Ok(Ok((head, body))) => Ok(Streaming {
                head,
                body,
                idle_timeout: self.limits.timeout,
                max_bytes: self.limits.max_response,
            }),
            Ok(Err(code)) => {
                tracing::warn!(request_id, upstream = %self.url(), code, "upstream failed");
                Err(inner_json(502, &json!({ "error": code })))
            }
            Err(_) => {
                tracing::warn!(request_id, upstream = %self.url(), "upstream timed out");
                Err(inner_json(504, &json!({ "error": "upstream_timeout" })))
            }
        }
    }

    async fn exchange(
        &self,
        req: &bhttp::Request,
        request_id: &str,
    ) -> Result<bhttp::Response, &'static str> {
        let (mut out, body) = self.open_exchange(req, request_id).await?;
        let body = Limited::new(body, self.limits.max_response)
            .collect()
            .await
            .map_err(|e| {
                if e.downcast_ref::<http_body_util::LengthLimitError>()
                    .is_some()
                {
                    "upstream_response_too_large"
                } else {
                    "upstream_unavailable"
                }
            })?;
        out.content = body.to_bytes().to_vec();
        Ok(out)
    }

    /// Sends the request; returns the response head (status and forwarded fields) and body.
    async fn open_exchange(
        &self,
        req: &bhttp::Request,
        request_id: &str,
    ) -> Result<(bhttp::Response, Incoming), &'static str> {
        let method =
            Method::from_bytes(req.method.as_bytes()).map_err(|_| "inner_request_invalid")?;
        let uri: Uri = format!("{}{}{}", self.scheme_authority, self.prefix, req.path)
            .parse()
            .map_err(|_| "inner_request_invalid")?;
        let mut builder = http::Request::builder().method(method).uri(uri);
        for field in &req.headers {
            if FORWARDED_REQUEST_FIELDS
                .iter()
                .any(|f| field.name.eq_ignore_ascii_case(f))
                && let Ok(v) = HeaderValue::from_bytes(&field.value)
            {
                builder = builder.header(field.name.as_str(), v);
            }
        }
        if let Ok(v) = HeaderValue::from_str(request_id) {
            builder = builder.header("x-request-id", v);
        }
        let request = builder
            .body(Full::new(Bytes::copy_from_slice(&req.content)))
            .map_err(|_| "inner_request_invalid")?;
        let response = self
            .client
            .request(request)
            .await
            .map_err(|_| "upstream_unavailable")?;
        let status = response.status().as_u16();
        let declared = response
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > u64::try_from(self.limits.max_response).unwrap_or(u64::MAX))
        {
            return Err("upstream_response_too_large");
        }
        let mut out = bhttp::Response::new(status);
        for name in FORWARDED_RESPONSE_FIELDS {
            if let Some(v) = response.headers().get(name) {
                out.headers.push(bhttp::Field::new(name, v.as_bytes()));
            }
        }
        Ok((out, response.into_body()))
    }
}

/// An upstream answer still arriving: its head, and the body to read frame by frame.
#[derive(Debug)]
pub struct Streaming {
    /// Status and forwarded fields (no content).
    pub head: bhttp::Response,
    /// The body.
    pub body: Incoming,
    /// Longest wait for the next piece.
    pub idle_timeout: Duration,
    /// Largest body forwarded.
    pub max_bytes: usize,
}

#[cfg(test)]
mod tests {
    use super::{Api, Upstream, UpstreamLimits, classify};

    #[test]
    fn only_model_apis_are_forwarded() {
        let k = Some(Api::KserveV2);
        let o = Some(Api::OpenAi);
        for (m, p, want) in [
            ("GET", "/v2", k),
            ("GET", "/v2/health/ready", k),
            ("GET", "/v2/models/digits", k),
            ("GET", "/v2/models/digits/ready", k),
            ("POST", "/v2/models/digits/infer", k),
            ("POST", "/v2/models/digits/versions/3/infer", k),
            ("POST", "/v1/chat/completions", o),
            ("POST", "/v1/completions", o),
            ("POST", "/v1/embeddings", o),
            ("GET", "/v1/models", o),
            ("GET", "/v2/models/digits/infer", None),
            ("POST", "/v2/models/../infer", None),
            ("POST", "/v2/models//infer", None),
            ("POST", "/v2/models/a%2Fb/infer", None),
            ("GET", "/v1/chat/completions", None),
            ("POST", "/admin", None),
            ("GET", "/", None),
            ("POST", "/v1/files", None),
        ] {
            assert_eq!(classify(m, p), want, "{m} {p}");
        }
    }

    #[test]
    fn urls() {
        let l = UpstreamLimits::default();
        assert_eq!(
            Upstream::new("http://127.0.0.1:8080/", l)
                .map(|u| u.url())
                .ok(),
            Some("http://127.0.0.1:8080".to_owned())
        );
        assert_eq!(
            Upstream::new("http://model:80/serving", l)
                .map(|u| u.url())
                .ok(),
            Some("http://model:80/serving".to_owned())
        );
        for bad in ["https://x", "ftp://x", "x", "http://u:p@x", "http://x/?a=1"] {
            assert!(Upstream::new(bad, l).is_err(), "{bad}");
        }
    }
}
