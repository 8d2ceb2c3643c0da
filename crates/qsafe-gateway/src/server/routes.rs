//! Request handling: routing, limits, the protected OHTTP path and the inner KServe V2 API.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderValue, Method, StatusCode, header};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use serde_json::json;

use super::crypto_pool::Refused;
use super::metrics::Step;
use super::{Backend, State, embedded, inner_json, stream, upstream};
use crate::httpsig::{self, DigestAlgorithm, ErrorClass, Fields, SignatureParams, content_digest};
use crate::ohttp::{self, bhttp};

pub(super) type Response = http::Response<BoxBody<Bytes, std::convert::Infallible>>;

/// Longest `x-request-id` taken from a client.
const MAX_REQUEST_ID: usize = 128;

fn request_id(req: &http::Request<Incoming>) -> String {
    req.headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty() && v.len() <= MAX_REQUEST_ID && v.bytes().all(|b| b.is_ascii_graphic())
        })
        .map(str::to_owned)
        .or_else(|| httpsig::random_nonce().ok())
        .unwrap_or_else(|| "unknown".to_owned())
}

pub(super) fn respond(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response {
    let mut resp = http::Response::new(Full::new(body.into()).boxed());
    *resp.status_mut() = status;
    if let Ok(v) = HeaderValue::from_str(content_type) {
        resp.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    resp
}

pub(super) fn error(status: StatusCode, code: &str, request_id: &str) -> Response {
    respond(
        status,
        "application/json",
        json!({ "error": code, "request_id": request_id }).to_string(),
    )
}

/// Handles one request; never fails (errors become responses).
pub(super) async fn handle(
    state: &Arc<State>,
    req: http::Request<Incoming>,
    _group: &'static str,
) -> Response {
    let start = Instant::now();
    let id = request_id(&req);
    let method = req.method().clone();
    let (route, mut resp) = route(state, req, &id).await;
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert("x-request-id", v);
    }
    let status = resp.status().as_u16();
    state.metrics.request(route, status);
    tracing::info!(
        request_id = %id,
        %method,
        route,
        status,
        elapsed_us = u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX),
        "request"
    );
    resp
}

async fn route(
    state: &Arc<State>,
    req: http::Request<Incoming>,
    id: &str,
) -> (&'static str, Response) {
    let path = req.uri().path();
    let method = req.method();
    match (method, path) {
        (&Method::GET, "/healthz") => ("healthz", respond(StatusCode::OK, "text/plain", "ok")),
        (&Method::GET, "/readyz") => {
            let resp = if state.keys.is_ready() && state.backend.is_ready().await {
                respond(StatusCode::OK, "text/plain", "ready")
            } else {
                respond(StatusCode::SERVICE_UNAVAILABLE, "text/plain", "not ready")
            };
            ("readyz", resp)
        }
        (&Method::GET, "/metrics") => (
            "metrics",
            respond(
                StatusCode::OK,
                "text/plain; version=0.0.4",
                state.metrics.render(),
            ),
        ),
        _ => {
            // Everything else counts against the in-flight limit.
            let Ok(_permit) = state.in_flight.clone().try_acquire_owned() else {
                return ("overloaded", overloaded(id));
            };
            limited(state, req, id).await
        }
    }
}

async fn limited(
    state: &Arc<State>,
    req: http::Request<Incoming>,
    id: &str,
) -> (&'static str, Response) {
    let path = req.uri().path().to_owned();
    let method = req.method().clone();
    if path == ohttp::WELL_KNOWN_PATH && method == Method::GET {
        return match state.keys.encoded_configs() {
            Ok(c) => (
                "ohttp_keys",
                respond(StatusCode::OK, ohttp::KEYS_MEDIA_TYPE, c),
            ),
            Err(e) => {
                tracing::error!(request_id = %id, error = %e, "encoding key configs");
                (
                    "ohttp_keys",
                    error(StatusCode::INTERNAL_SERVER_ERROR, "internal", id),
                )
            }
        };
    }
    let protected = path == "/" || path == ohttp::WELL_KNOWN_PATH;
    let clear = !state.config.require_encryption && path.starts_with("/v2/");
    if !protected && !clear {
        return ("not_found", error(StatusCode::NOT_FOUND, "not_found", id));
    }
    let route = if protected { "protected" } else { "clear" };
    if protected && method != Method::POST {
        return (
            route,
            error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", id),
        );
    }
    // `message/ohttp-req`, or `message/ohttp-chunked-req` for an answer streamed chunk by
    // chunk (draft-ietf-ohai-chunked-ohttp).
    let mut chunked = false;
    if protected {
        let ct = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        chunked = ct.eq_ignore_ascii_case(ohttp::CHUNKED_REQUEST_MEDIA_TYPE);
        if !chunked && !ct.eq_ignore_ascii_case(ohttp::REQUEST_MEDIA_TYPE) {
            return (
                route,
                error(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    id,
                ),
            );
        }
    }
    // The outer request as RFC 9421 sees it.
    let authority = req
        .uri()
        .authority()
        .map(|a| a.as_str().to_owned())
        .or_else(|| {
            req.headers()
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .map(str::to_owned)
        })
        .unwrap_or_default();
    let path_and_query = req
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    let mut sig_req = httpsig::Request::new(method.as_str(), "https", &authority, &path_and_query);
    for (name, value) in req.headers() {
        sig_req.headers.append(name.as_str(), value.as_bytes());
    }
    let limit = state.config.body_limit;
    let declared_too_large = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|n| n > u64::try_from(limit).unwrap_or(u64::MAX));
    if declared_too_large {
        return (
            route,
            error(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", id),
        );
    }
    let body = match Limited::new(req.into_body(), limit).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                return (
                    route,
                    error(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", id),
                );
            }
            return (route, error(StatusCode::BAD_REQUEST, "body_unreadable", id));
        }
    };

    // 1–2. Signature and decapsulation, on the crypto pool.
    let job = {
        let (state, id) = (Arc::clone(state), id.to_owned());
        move || {
            let opened = open_request(&state, &sig_req, &body, protected, chunked, &id);
            (sig_req, body, opened)
        }
    };
    let (sig_req, body, opened) = match state.crypto.run(job).await {
        Ok(done) => done,
        Err(refused) => return (route, refused_response(refused, id)),
    };
    let (inner, responder) = match opened {
        Err(resp) => return (route, *resp),
        Ok(Opened::Clear) => {
            // require_encryption = false: the inner API in clear (still signed if configured).
            let headers = sig_req
                .headers
                .get_all("content-type")
                .next()
                .map(|ct| vec![bhttp::Field::new("content-type", ct)])
                .unwrap_or_default();
            let inner = bhttp::Request {
                method: method.as_str().to_owned(),
                scheme: "https".to_owned(),
                authority,
                path: path_and_query,
                headers,
                content: body.to_vec(),
                trailers: Vec::new(),
            };
            let r = inner_call(state, &inner, id).await;
            let resp = respond(
                StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                "application/json",
                r.content,
            );
            return (route, resp);
        }
        Ok(Opened::Protected(d)) => (d.inner, d.responder),
    };
    let responder = match responder {
        Responder::Whole(r) => r,
        Responder::Chunked(r) => {
            return (route, stream::respond(state, sig_req, r, inner, id).await);
        }
    };

    // 3. Inner request → model or upstream.
    let inner_resp = match inner {
        Ok(inner) => inner_call(state, &inner, id).await,
        Err(e) => {
            tracing::info!(request_id = %id, error = %e, "inner request invalid");
            inner_json(400, &json!({ "error": "inner_request_invalid" }))
        }
    };

    // 4–5. Encapsulation and response signature, on the crypto pool.
    let job = {
        let (state, id) = (Arc::clone(state), id.to_owned());
        move || seal_response(&state, &sig_req, responder, &inner_resp, &id)
    };
    match state.crypto.run(job).await {
        Ok(resp) => (route, resp),
        Err(refused) => (route, refused_response(refused, id)),
    }
}

/// A request past steps 1–2.
enum Opened {
    /// Not encapsulated (`require_encryption = false`); verified if a signature was required.
    Clear,
    /// Decapsulated: the inner request (or why it does not decode) and the response context.
    Protected(Box<Decapsulated>),
}

/// A decapsulated request: the inner request (or why it does not decode) and the context that
/// encapsulates the response.
struct Decapsulated {
    inner: ohttp::Result<bhttp::Request>,
    responder: Responder,
}

/// How the answer is encapsulated: whole, or chunk by chunk as it is produced.
enum Responder {
    Whole(ohttp::ServerResponse),
    Chunked(ohttp::ChunkedServerResponse),
}

fn refused_response(refused: Refused, id: &str) -> Response {
    match refused {
        Refused::Overloaded => overloaded(id),
        Refused::Failed => error(StatusCode::INTERNAL_SERVER_ERROR, "internal", id),
    }
}

fn overloaded(id: &str) -> Response {
    let mut resp = error(StatusCode::SERVICE_UNAVAILABLE, "overloaded", id);
    resp.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    resp
}

/// Steps 1 (RFC 9421 request signature) and 2 (RFC 9458 decapsulation, RFC 9292 decoding);
/// `Err` is the answer to send.
fn open_request(
    state: &State,
    sig_req: &httpsig::Request,
    body: &[u8],
    protected: bool,
    chunked: bool,
    id: &str,
) -> Result<Opened, Box<Response>> {
    if state.config.require_signature || sig_req.headers.contains("signature") {
        let t = Instant::now();
        let verified = state.verifier.verify_request(sig_req, body);
        state.metrics.observe(Step::Verify, "", t.elapsed());
        match verified {
            Ok(v) => {
                tracing::debug!(request_id = %id, keyid = %v.keyid, alg = v.algorithm.name, "signature verified")
            }
            Err(e) => {
                tracing::info!(request_id = %id, code = e.code(), "request signature rejected");
                let status = match e.class() {
                    ErrorClass::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
                    ErrorClass::Local => StatusCode::INTERNAL_SERVER_ERROR,
                    _ => StatusCode::UNAUTHORIZED,
                };
                return Err(Box::new(error(status, e.code(), id)));
            }
        }
    }
    if !protected {
        return Ok(Opened::Clear);
    }
    let t = Instant::now();
    let opened = if chunked {
        state
            .keys
            .decapsulate_chunked(body)
            .map(|(plain, r)| (plain, Responder::Chunked(r)))
    } else {
        state
            .keys
            .decapsulate(body)
            .map(|(plain, r)| (plain, Responder::Whole(r)))
    };
    state.metrics.observe(Step::Decapsulate, "", t.elapsed());
    match opened {
        Ok((plain, responder)) => Ok(Opened::Protected(Box::new(Decapsulated {
            inner: state.keys.decode_request(&plain),
            responder,
        }))),
        Err(e) if e.is_key_problem() => {
            tracing::info!(request_id = %id, error = %e, "ohttp key unknown");
            Err(Box::new(respond(
                StatusCode::BAD_REQUEST,
                "application/problem+json",
                ohttp::key_problem_json(),
            )))
        }
        Err(e) => {
            tracing::info!(request_id = %id, error = %e, "ohttp request rejected");
            let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
            let code = if status == StatusCode::PAYLOAD_TOO_LARGE {
                "body_too_large"
            } else if status.is_server_error() {
                "internal"
            } else {
                "ohttp_invalid"
            };
            Err(Box::new(error(status, code, id)))
        }
    }
}

/// Steps 4 (RFC 9458 response encapsulation) and 5 (RFC 9421 response signature bound to the
/// request with `;req`).
fn seal_response(
    state: &State,
    sig_req: &httpsig::Request,
    responder: ohttp::ServerResponse,
    inner: &bhttp::Response,
    id: &str,
) -> Response {
    let t = Instant::now();
    let enc = responder.encapsulate_response(inner);
    state.metrics.observe(Step::Encapsulate, "", t.elapsed());
    let enc = match enc {
        Ok(e) => e,
        Err(e) => {
            tracing::error!(request_id = %id, error = %e, "encapsulating the response");
            return error(StatusCode::INTERNAL_SERVER_ERROR, "internal", id);
        }
    };
    let t = Instant::now();
    let signed = sign_response(state, sig_req, &enc);
    state.metrics.observe(Step::Sign, "", t.elapsed());
    match signed {
        Ok(fields) => {
            let mut resp = respond(StatusCode::OK, ohttp::RESPONSE_MEDIA_TYPE, enc);
            for (name, value) in fields.iter() {
                if name == "content-type" {
                    continue;
                }
                if let (Ok(n), Ok(v)) = (
                    header::HeaderName::from_bytes(name.as_bytes()),
                    HeaderValue::from_bytes(value),
                ) {
                    resp.headers_mut().append(n, v);
                }
            }
            resp
        }
        Err(e) => {
            tracing::error!(request_id = %id, code = e.code(), "signing the response");
            error(StatusCode::INTERNAL_SERVER_ERROR, "internal", id)
        }
    }
}

pub(super) fn sign_response(
    state: &State,
    request: &httpsig::Request,
    body: &[u8],
) -> Result<Fields, httpsig::Error> {
    let signer = state.keys.signer();
    let mut response = httpsig::Response::new(200)
        .with_header("content-type", ohttp::RESPONSE_MEDIA_TYPE)
        .with_header(
            "content-digest",
            content_digest(body, &[DigestAlgorithm::Sha512]),
        );
    let now = crate::client::unix_now();
    let params = SignatureParams::for_response(&response, Some(request), now)?;
    signer
        .sign_response(&response, Some(request), &params)?
        .apply(&mut response.headers);
    Ok(response.headers)
}

/// The inner API call: the embedded model, or the upstream for the model API paths.
pub(super) async fn inner_call(state: &State, req: &bhttp::Request, id: &str) -> bhttp::Response {
    let t = Instant::now();
    match &state.backend {
        Backend::Embedded(model) => {
            let r = embedded::dispatch(model, req);
            state.metrics.observe(Step::Model, "", t.elapsed());
            r
        }
        Backend::Upstream(up) => {
            let path = req.path.split('?').next().unwrap_or("");
            let Some(api) = upstream::classify(&req.method, path) else {
                return inner_json(404, &json!({ "error": "not_found" }));
            };
            let r = up.forward(req, id).await;
            state
                .metrics
                .observe(Step::Upstream, api.as_str(), t.elapsed());
            r
        }
    }
}
