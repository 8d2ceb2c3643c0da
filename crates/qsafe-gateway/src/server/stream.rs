//! Streamed answers: a `message/ohttp-chunked-req` request gets a `message/ohttp-chunked-res`
//! response (draft-ietf-ohai-chunked-ohttp-08) whose chunks leave as the model server produces
//! them, e.g. the server-sent events of an OpenAI-compatible `"stream": true` call.
//!
//! The inner answer is an indeterminate-length binary HTTP response (RFC 9292 §3.2): its head
//! goes in the first chunk, each upstream body frame in one more, and the content and trailer
//! terminators in the final chunk. Every chunk is authenticated by the OHTTP response AEAD,
//! whose key only the holder of the gateway's OHTTP key can derive. The gateway's RFC 9421
//! signature cannot precede a body it has not seen, so it follows it: the response announces
//! `Trailer: content-digest, signature-input, signature`, and the trailers carry the SHA-512
//! `content-digest` of the whole encapsulated body and a signature covering `@status`,
//! `content-type`, `"content-digest";tr` and the request (`;req`), as for whole responses.
//! A stream that fails midway ends without its final chunk and trailers, which the client
//! reports as truncated.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use http_body_util::BodyExt;
use http_body_util::channel::{Channel, Sender};
use hyper::body::Incoming;
use serde_json::json;

use super::metrics::Step;
use super::routes::{Response, error, inner_call};
use super::upstream::{self, Streaming};
use super::{Backend, State, inner_json};
use crate::httpsig::{self, DigestAlgorithm, DigestWriter, SignatureParams};
use crate::ohttp::{self, ChunkSealer, bhttp};

/// Frames buffered between the producer and the connection.
const BUFFERED_FRAMES: usize = 16;

/// Where the inner answer comes from.
enum Source {
    /// Produced whole (the embedded model, an error, a non-streaming route).
    Whole(bhttp::Response),
    /// An upstream answer still arriving.
    Live(Box<Streaming>),
}

/// Answers a decapsulated chunked request: the head now, the chunks as they come.
pub(super) async fn respond(
    state: &Arc<State>,
    sig_req: httpsig::Request,
    responder: ohttp::ChunkedServerResponse,
    inner: ohttp::Result<bhttp::Request>,
    id: &str,
) -> Response {
    let source = match inner {
        Ok(req) => source(state, &req, id).await,
        Err(e) => {
            tracing::info!(request_id = %id, error = %e, "inner request invalid");
            Source::Whole(inner_json(
                400,
                &json!({ "error": "inner_request_invalid" }),
            ))
        }
    };
    let (sealer, nonce) = match responder.start() {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(request_id = %id, error = %e, "starting a chunked response");
            return error(StatusCode::INTERNAL_SERVER_ERROR, "internal", id);
        }
    };
    let (tx, body) = Channel::<Bytes, std::convert::Infallible>::new(BUFFERED_FRAMES);
    let task = Pump {
        state: Arc::clone(state),
        sig_req,
        sealer,
        digest: DigestWriter::new(DigestAlgorithm::Sha512),
        tx,
        id: id.to_owned(),
    };
    tokio::spawn(task.run(nonce, source));
    let mut resp = http::Response::new(body.boxed());
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(ohttp::CHUNKED_RESPONSE_MEDIA_TYPE),
    );
    headers.insert(
        header::TRAILER,
        HeaderValue::from_static("content-digest, signature-input, signature"),
    );
    headers.insert("incremental", HeaderValue::from_static("?1"));
    resp
}

/// The upstream's live answer for a forwarded route, else the whole inner answer.
async fn source(state: &State, req: &bhttp::Request, id: &str) -> Source {
    let Backend::Upstream(up) = &state.backend else {
        return Source::Whole(inner_call(state, req, id).await);
    };
    let path = req.path.split('?').next().unwrap_or("");
    if upstream::classify(&req.method, path).is_none() {
        return Source::Whole(inner_call(state, req, id).await);
    }
    match up.forward_streaming(req, id).await {
        Ok(live) => Source::Live(Box::new(live)),
        Err(whole) => Source::Whole(whole),
    }
}

/// Seals and sends the chunks of one response, then its signed trailers.
struct Pump {
    state: Arc<State>,
    sig_req: httpsig::Request,
    sealer: ChunkSealer,
    digest: DigestWriter,
    tx: Sender<Bytes>,
    id: String,
}

impl Pump {
    async fn run(mut self, nonce: Vec<u8>, source: Source) {
        let id = self.id.clone();
        let outcome = match self.body(nonce, source).await {
            Ok(()) => self.finish().await,
            // Dropping the sender without the final chunk: the client sees a truncation.
            Err(e) => Err(e),
        };
        if let Err(e) = outcome {
            tracing::warn!(request_id = %id, error = e, "streamed response cut short");
        }
    }

    async fn send(&mut self, bytes: Vec<u8>) -> Result<(), &'static str> {
        self.digest.update(&bytes);
        self.tx
            .send_data(Bytes::from(bytes))
            .await
            .map_err(|_| "client went away")
    }

    async fn chunk(&mut self, plain: &[u8]) -> Result<(), &'static str> {
        let sealed = self.sealer.seal(plain).map_err(|_| "sealing a chunk")?;
        self.send(sealed).await
    }

    /// Everything before the final chunk.
    async fn body(&mut self, nonce: Vec<u8>, source: Source) -> Result<(), &'static str> {
        self.send(nonce).await?;
        match source {
            Source::Whole(r) => {
                let head = bhttp::streamed_head(r.status, &r.headers).map_err(|_| "head")?;
                self.chunk(&head).await?;
                if !r.content.is_empty() {
                    let piece = bhttp::streamed_chunk(&r.content).map_err(|_| "content")?;
                    self.chunk(&piece).await?;
                }
                Ok(())
            }
            Source::Live(live) => {
                let Streaming {
                    head,
                    body,
                    idle_timeout,
                    max_bytes,
                } = *live;
                let encoded =
                    bhttp::streamed_head(head.status, &head.headers).map_err(|_| "head")?;
                self.chunk(&encoded).await?;
                self.relay(body, idle_timeout, max_bytes).await
            }
        }
    }

    /// Upstream body frames, one sealed chunk each, within the idle timeout and size cap.
    async fn relay(
        &mut self,
        mut body: Incoming,
        idle_timeout: std::time::Duration,
        max_bytes: usize,
    ) -> Result<(), &'static str> {
        let mut total = 0usize;
        loop {
            let frame = match tokio::time::timeout(idle_timeout, body.frame()).await {
                Err(_) => return Err("upstream stalled"),
                Ok(None) => return Ok(()),
                Ok(Some(Err(_))) => return Err("upstream body failed"),
                Ok(Some(Ok(frame))) => frame,
            };
            let Ok(data) = frame.into_data() else {
                continue; // upstream trailers are not forwarded
            };
            if data.is_empty() {
                continue;
            }
            total = total.saturating_add(data.len());
            if total > max_bytes {
                return Err("upstream response too large");
            }
            let piece = bhttp::streamed_chunk(&data).map_err(|_| "content")?;
            self.chunk(&piece).await?;
        }
    }

    /// The final chunk, then the digest and signature trailers (signed on the crypto pool).
    async fn finish(mut self) -> Result<(), &'static str> {
        let last = self
            .sealer
            .seal_final(&bhttp::streamed_end())
            .map_err(|_| "sealing the final chunk")?;
        self.send(last).await?;
        let Pump {
            state,
            sig_req,
            digest,
            mut tx,
            ..
        } = self;
        let digest = digest.finish();
        let job = {
            let state = Arc::clone(&state);
            move || {
                let t = Instant::now();
                let signed = sign_trailers(&state, &sig_req, &digest);
                state.metrics.observe(Step::Sign, "", t.elapsed());
                signed
            }
        };
        let trailers = match state.crypto.run(job).await {
            Ok(Ok(t)) => t,
            Ok(Err(_)) => return Err("signing the trailers"),
            Err(_) => return Err("no crypto thread for the trailers"),
        };
        tx.send_trailers(trailers)
            .await
            .map_err(|_| "client went away")
    }
}

/// The trailers of a streamed response: its `content-digest` and the gateway's signature
/// over it, the status, the content type and the request.
fn sign_trailers(
    state: &State,
    request: &httpsig::Request,
    digest: &str,
) -> Result<HeaderMap, httpsig::Error> {
    let mut response =
        httpsig::Response::new(200).with_header("content-type", ohttp::CHUNKED_RESPONSE_MEDIA_TYPE);
    response.trailers.append("content-digest", digest);
    let params =
        SignatureParams::for_response(&response, Some(request), crate::client::unix_now())?;
    let mut fields = response.trailers.clone();
    state
        .keys
        .signer()
        .sign_response(&response, Some(request), &params)?
        .apply(&mut fields);
    let mut map = HeaderMap::new();
    for (name, value) in fields.iter() {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_bytes(value),
        ) {
            map.append(n, v);
        }
    }
    Ok(map)
}
