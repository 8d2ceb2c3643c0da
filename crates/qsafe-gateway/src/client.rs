//! The gateway's client: fetch the OHTTP key configurations, encapsulate a binary HTTP
//! request, sign the outer request (RFC 9421, with `Content-Digest`), send it over qsafe-tls,
//! verify the signed response and open it.
//!
//! [`Client::infer`] does all of it. The steps are public too ([`Client::seal`],
//! [`Client::sign_outer`], [`Client::send`], [`Client::open`]) for tests and tools that need to
//! misbehave on purpose.
//!
//! A response whose signature or encryption does not check fails with an error for which
//! [`ClientError::is_verification_failure`] is true (the CLI exits 3).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use qsafe_core::sig::VerifyingKey;
use qsafe_tls::rustls::pki_types::ServerName;
use qsafe_tls::rustls::{ClientConfig, RootCertStore};
use qsafe_tls::tokio_rustls::TlsConnector;
use qsafe_tls::{Fallback, Suite};
use tokio::net::TcpStream;

use crate::httpsig::{
    self, DigestAlgorithm, Fields, KeyResolver, Policy, SignatureParams, Signer, Verifier,
    content_digest,
};
use crate::ohttp::{self, ClientResponse, KeyConfig, bhttp};

mod stream;

/// Largest response body read.
const MAX_RESPONSE: usize = 16 << 20;

/// Why a client call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The gateway URL is not `https://host[:port][/]`.
    #[error("invalid gateway URL {0:?}: expected https://host[:port]")]
    Url(String),
    /// The TLS configuration could not be built.
    #[error(transparent)]
    TlsConfig(#[from] qsafe_tls::Error),
    /// Connecting or the TLS handshake failed.
    #[error("connecting to the gateway: {0}")]
    Connect(std::io::Error),
    /// An HTTP-level failure.
    #[error("HTTP exchange with the gateway failed: {0}")]
    Http(String),
    /// The gateway answered in clear with an error status.
    #[error("gateway refused the request: {status} {code}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// The `error` code of the JSON body (or the problem `type`), if any.
        code: String,
    },
    /// The key configurations could not be fetched or used.
    #[error("gateway key configuration: {0}")]
    KeyConfig(ohttp::Error),
    /// The request could not be encoded or encapsulated.
    #[error("encapsulating the request: {0}")]
    Encapsulate(ohttp::Error),
    /// The request could not be signed.
    #[error("signing the request: {0}")]
    Sign(httpsig::Error),
    /// The response signature did not verify (or is missing, or not bound to the request).
    #[error("the gateway response signature did not verify: {0}")]
    ResponseSignature(httpsig::Error),
    /// The response signature does not cover the request (`;req`).
    #[error("the gateway response signature is not bound to this request")]
    ResponseUnbound,
    /// The encapsulated response did not open.
    #[error("the gateway response did not decrypt: {0}")]
    ResponseDecryption(ohttp::Error),
}

impl ClientError {
    /// True when the gateway's answer failed authentication (exit code 3).
    pub fn is_verification_failure(&self) -> bool {
        matches!(
            self,
            ClientError::ResponseSignature(_)
                | ClientError::ResponseUnbound
                | ClientError::ResponseDecryption(_)
        )
    }
}

/// A response as received, before any check.
#[derive(Debug, Clone)]
pub struct RawResponse {
    /// Status.
    pub status: u16,
    /// Header fields.
    pub headers: Fields,
    /// Body.
    pub body: Bytes,
}

impl RawResponse {
    /// The `error` code of a JSON error body (or the `type` of a problem document).
    pub fn error_code(&self) -> Option<String> {
        let v: serde_json::Value = serde_json::from_slice(&self.body).ok()?;
        v.get("error")
            .or_else(|| v.get("type"))
            .and_then(|c| c.as_str())
            .map(str::to_owned)
    }
}

/// An encapsulated inner request and what is needed to open its answer.
#[derive(Debug)]
pub struct Sealed {
    /// The `message/ohttp-req` body.
    pub enc_request: Vec<u8>,
    /// The state to open the response.
    pub pending: ClientResponse,
    /// The key id used.
    pub key_id: u8,
}

/// Time spent in each client step.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Timings {
    /// Encoding and encapsulating the inner request.
    pub encapsulate: Duration,
    /// Signing the outer request.
    pub sign: Duration,
    /// Connect, TLS handshake, request and response.
    pub round_trip: Duration,
    /// Verifying the response signature.
    pub verify: Duration,
    /// Opening the encapsulated response.
    pub decapsulate: Duration,
}

/// A verified and opened inner response.
#[derive(Debug, Clone)]
pub struct InnerResponse {
    /// The inner (model API) status.
    pub status: u16,
    /// The inner JSON body (`Null` if empty or not JSON).
    pub body: serde_json::Value,
    /// The inner `content-type`, if any.
    pub content_type: Option<String>,
    /// The inner body as received (e.g. `text/event-stream` events).
    pub content: Vec<u8>,
    /// The key id of the verified response signature, `None` when no gateway key is pinned.
    pub response_keyid: Option<String>,
    /// Step timings.
    pub timings: Timings,
}

/// The response signature must cover the request (`;req`): its method, target and digest.
fn check_bound(verified: &httpsig::Verified) -> Result<(), ClientError> {
    let bound = ["@method", "@target-uri", "content-digest"]
        .iter()
        .all(|n| {
            verified
                .components
                .iter()
                .any(|c| c.is_req() && c.name() == *n)
        });
    if bound {
        Ok(())
    } else {
        Err(ClientError::ResponseUnbound)
    }
}

fn fields_of(headers: &http::HeaderMap) -> Fields {
    let mut fields = Fields::new();
    for (name, value) in headers {
        fields.append(name.as_str(), value.as_bytes());
    }
    fields
}

/// Resolves every key id to the pinned gateway key.
struct Pinned(VerifyingKey);

impl KeyResolver for Pinned {
    fn resolve(&self, _keyid: &str) -> Option<VerifyingKey> {
        Some(self.0.clone())
    }
}

/// A gateway client.
pub struct Client {
    host: String,
    port: u16,
    authority: String,
    tls: Arc<ClientConfig>,
    signer: Signer,
    response_verifier: Option<Verifier>,
    configs: Mutex<Option<KeyConfig>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("authority", &self.authority)
            .field("keyid", &self.signer.keyid())
            .field("pinned", &self.response_verifier.is_some())
            .finish_non_exhaustive()
    }
}

fn split_url(url: &str) -> Option<(String, u16, String)> {
    let rest = url.strip_prefix("https://")?;
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    if authority.is_empty() || authority.contains(['/', '?', '#', '@']) {
        return None;
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None if after.is_empty() => 443,
            None => return None,
        };
        (h.to_owned(), port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_owned(), p.parse().ok()?),
            None => (authority.to_owned(), 443),
        }
    };
    Some((host, port, authority.to_owned()))
}

impl Client {
    /// A client for `gateway_url` (`https://host:port`) signing with `signer`, verifying
    /// responses with `gateway_key` when given (without it responses are opened but their
    /// signature is not checked), trusting `roots`, with the default TLS suite and no
    /// classical fallback.
    pub fn new(
        gateway_url: &str,
        signer: Signer,
        gateway_key: Option<VerifyingKey>,
        roots: RootCertStore,
    ) -> Result<Self, ClientError> {
        let tls = qsafe_tls::client_config(Suite::Default, Fallback::Disabled, roots)?;
        Self::with_tls_config(gateway_url, signer, gateway_key, tls)
    }

    /// As [`Client::new`] with a caller-built TLS configuration.
    pub fn with_tls_config(
        gateway_url: &str,
        signer: Signer,
        gateway_key: Option<VerifyingKey>,
        tls: Arc<ClientConfig>,
    ) -> Result<Self, ClientError> {
        let (host, port, authority) =
            split_url(gateway_url).ok_or_else(|| ClientError::Url(gateway_url.to_owned()))?;
        let response_verifier =
            gateway_key.map(|k| Verifier::new(Arc::new(Pinned(k)), Policy::response_default()));
        Ok(Client {
            host,
            port,
            authority,
            tls,
            signer,
            response_verifier,
            configs: Mutex::new(None),
        })
    }

    /// Sends one HTTP/1.1 request over a new TLS connection and reads the whole response.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &Fields,
        body: Vec<u8>,
    ) -> Result<RawResponse, ClientError> {
        let (response, driver) = self.exchange(method, path, headers, body).await?;
        let status = response.status().as_u16();
        let fields = fields_of(response.headers());
        let body = Limited::new(response.into_body(), MAX_RESPONSE)
            .collect()
            .await
            .map_err(|e| ClientError::Http(e.to_string()))?
            .to_bytes();
        driver.abort();
        Ok(RawResponse {
            status,
            headers: fields,
            body,
        })
    }

    /// Connects, sends, and returns the response with its body still to read; abort the
    /// returned connection task when done.
    async fn exchange(
        &self,
        method: &str,
        path: &str,
        headers: &Fields,
        body: Vec<u8>,
    ) -> Result<(http::Response<Incoming>, tokio::task::JoinHandle<()>), ClientError> {
        let tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(ClientError::Connect)?;
        let name = ServerName::try_from(self.host.clone())
            .map_err(|_| ClientError::Url(self.host.clone()))?;
        let tls = TlsConnector::from(Arc::clone(&self.tls))
            .connect(name, tcp)
            .await
            .map_err(ClientError::Connect)?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(|e| ClientError::Http(e.to_string()))?;
        let driver = tokio::spawn(async move {
            let _ = conn.await;
        });
        let mut builder = http::Request::builder()
            .method(method)
            .uri(path)
            .header(http::header::HOST, &self.authority);
        for (name, value) in headers.iter() {
            builder = builder.header(name, value);
        }
        let request = builder
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| ClientError::Http(e.to_string()))?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| ClientError::Http(e.to_string()))?;
        Ok((response, driver))
    }

    /// Fetches the gateway's key configurations (`/.well-known/ohttp-gateway`) and keeps the
    /// first for later requests.
    pub async fn fetch_key_configs(&self) -> Result<Vec<KeyConfig>, ClientError> {
        let raw = self
            .send("GET", ohttp::WELL_KNOWN_PATH, &Fields::new(), Vec::new())
            .await?;
        if raw.status != 200 {
            return Err(ClientError::Refused {
                status: raw.status,
                code: raw.error_code().unwrap_or_default(),
            });
        }
        let configs = KeyConfig::decode_list(&raw.body).map_err(ClientError::KeyConfig)?;
        if let Some(first) = configs.first() {
            *self
                .configs
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(first.clone());
        }
        Ok(configs)
    }

    async fn key_config(&self) -> Result<KeyConfig, ClientError> {
        let cached = self
            .configs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        if let Some(c) = cached {
            return Ok(c);
        }
        self.fetch_key_configs()
            .await?
            .into_iter()
            .next()
            .ok_or(ClientError::KeyConfig(ohttp::Error::KeyConfig(
                "the gateway publishes no key configuration",
            )))
    }

    /// Encodes an inner request (`application/json` body if any) and encapsulates it under
    /// `config`.
    pub fn seal(
        &self,
        config: &KeyConfig,
        method: &str,
        inner_path: &str,
        json: Option<&serde_json::Value>,
    ) -> Result<Sealed, ClientError> {
        let (enc_request, pending) = config
            .encapsulate(&self.inner_request(method, inner_path, json)?)
            .map_err(ClientError::Encapsulate)?;
        Ok(Sealed {
            enc_request,
            pending,
            key_id: config.key_id(),
        })
    }

    /// The encoded binary HTTP inner request, with a JSON body when given.
    fn inner_request(
        &self,
        method: &str,
        inner_path: &str,
        json: Option<&serde_json::Value>,
    ) -> Result<Vec<u8>, ClientError> {
        let mut inner = bhttp::Request::new(method, "https", self.authority.clone(), inner_path);
        if let Some(json) = json {
            inner
                .headers
                .push(bhttp::Field::new("content-type", "application/json"));
            inner.content = json.to_string().into_bytes();
        }
        inner
            .encode()
            .map_err(|e| ClientError::Encapsulate(e.into()))
    }

    /// The signed outer request (`POST /`, `message/ohttp-req`) for `body`, created at
    /// `created` (Unix seconds).
    pub fn sign_outer(&self, body: &[u8], created: i64) -> Result<httpsig::Request, ClientError> {
        self.sign_outer_as(body, created, ohttp::REQUEST_MEDIA_TYPE)
    }

    fn sign_outer_as(
        &self,
        body: &[u8],
        created: i64,
        media_type: &str,
    ) -> Result<httpsig::Request, ClientError> {
        let mut request = httpsig::Request::new("POST", "https", &self.authority, "/")
            .with_header("content-type", media_type)
            .with_header(
                "content-digest",
                content_digest(body, &[DigestAlgorithm::Sha512]),
            );
        let params = SignatureParams::for_request(&request, created).map_err(ClientError::Sign)?;
        self.signer
            .sign_request(&request, &params)
            .map_err(ClientError::Sign)?
            .apply(&mut request.headers);
        Ok(request)
    }

    /// Checks the response of `outer`: status 200, the signature (when a key is pinned, and
    /// bound to `outer` with `;req`), then opens it.
    pub fn open(
        &self,
        outer: &httpsig::Request,
        raw: RawResponse,
        pending: ClientResponse,
        timings: &mut Timings,
    ) -> Result<InnerResponse, ClientError> {
        if raw.status != 200 {
            return Err(ClientError::Refused {
                status: raw.status,
                code: raw.error_code().unwrap_or_default(),
            });
        }
        let t = Instant::now();
        let mut response_keyid = None;
        if let Some(verifier) = &self.response_verifier {
            let response = httpsig::Response {
                status: raw.status,
                headers: raw.headers.clone(),
                trailers: httpsig::Fields::new(),
            };
            let verified = verifier
                .verify_response(&response, Some(outer), &raw.body)
                .map_err(ClientError::ResponseSignature)?;
            check_bound(&verified)?;
            response_keyid = Some(verified.keyid);
        }
        timings.verify = t.elapsed();
        let t = Instant::now();
        let inner = pending
            .open_response(&raw.body, &bhttp::Limits::default())
            .map_err(ClientError::ResponseDecryption)?;
        timings.decapsulate = t.elapsed();
        let body = serde_json::from_slice(&inner.content).unwrap_or(serde_json::Value::Null);
        let content_type = inner
            .headers
            .iter()
            .find(|f| f.name.eq_ignore_ascii_case("content-type"))
            .map(|f| String::from_utf8_lossy(&f.value).into_owned());
        Ok(InnerResponse {
            status: inner.status,
            body,
            content_type,
            content: inner.content,
            response_keyid,
            timings: *timings,
        })
    }

    /// One protected call of the inner API: `method inner_path` with an optional JSON body.
    pub async fn call(
        &self,
        method: &str,
        inner_path: &str,
        json: Option<&serde_json::Value>,
    ) -> Result<InnerResponse, ClientError> {
        let config = self.key_config().await?;
        let mut timings = Timings::default();
        let t = Instant::now();
        let sealed = self.seal(&config, method, inner_path, json)?;
        timings.encapsulate = t.elapsed();
        let t = Instant::now();
        let outer = self.sign_outer(&sealed.enc_request, unix_now())?;
        timings.sign = t.elapsed();
        let t = Instant::now();
        let raw = self
            .send("POST", "/", &outer.headers, sealed.enc_request)
            .await?;
        timings.round_trip = t.elapsed();
        if raw.status == 400 && raw.error_code().as_deref() == Some(ohttp::KEY_PROBLEM_TYPE) {
            // The key was rotated out: forget it so the next call fetches the new list.
            *self
                .configs
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
        }
        self.open(&outer, raw, sealed.pending, &mut timings)
    }

    /// `POST /v2/models/<model>/infer` with a KServe V2 JSON body.
    pub async fn infer(
        &self,
        model: &str,
        body: &serde_json::Value,
    ) -> Result<InnerResponse, ClientError> {
        self.call("POST", &format!("/v2/models/{model}/infer"), Some(body))
            .await
    }

    /// `GET /v2/models/<model>`: the model metadata.
    pub async fn metadata(&self, model: &str) -> Result<InnerResponse, ClientError> {
        self.call("GET", &format!("/v2/models/{model}"), None).await
    }
}

/// The current Unix time in seconds.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::split_url;

    #[test]
    fn urls() {
        assert_eq!(
            split_url("https://127.0.0.1:8443/"),
            Some(("127.0.0.1".into(), 8443, "127.0.0.1:8443".into()))
        );
        assert_eq!(
            split_url("https://gw.example"),
            Some(("gw.example".into(), 443, "gw.example".into()))
        );
        assert_eq!(
            split_url("https://[::1]:9"),
            Some(("::1".into(), 9, "[::1]:9".into()))
        );
        assert_eq!(split_url("http://x"), None);
        assert_eq!(split_url("https://x/y"), None);
    }
}
