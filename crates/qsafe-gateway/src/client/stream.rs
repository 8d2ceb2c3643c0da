//! A streamed call: the request goes as `message/ohttp-chunked-req` with `TE: trailers`, and
//! the answer's pieces are handed over as their chunks open. Each chunk is authenticated by
//! the OHTTP response AEAD (only the holder of the gateway's OHTTP key derives its key); the
//! gateway's signature follows the body in trailers and is checked at the end, with the
//! digest of the whole body, the status, the content type and the binding to this request.
//! A stream that ends early, or whose signature does not verify, fails with an error for
//! which [`ClientError::is_verification_failure`] is true, after the pieces already handed
//! over: the caller must treat them as provisional until the call returns `Ok`.

use std::time::Instant;

use http_body_util::BodyExt;

use super::{
    Client, ClientError, Fields, InnerResponse, MAX_RESPONSE, Timings, check_bound, fields_of,
    unix_now,
};
use crate::httpsig;
use crate::ohttp::{self, bhttp};

/// The inner response put together from stream events.
struct Assembly<F> {
    status: Option<u16>,
    content_type: Option<String>,
    content: Vec<u8>,
    on_piece: F,
}

impl<F: FnMut(&[u8])> Assembly<F> {
    fn absorb(&mut self, events: Vec<bhttp::StreamEvent>) {
        for event in events {
            match event {
                bhttp::StreamEvent::Head { status, headers } => {
                    self.status = Some(status);
                    self.content_type = headers
                        .iter()
                        .find(|f| f.name.eq_ignore_ascii_case("content-type"))
                        .map(|f| String::from_utf8_lossy(&f.value).into_owned());
                }
                bhttp::StreamEvent::Content(piece) => {
                    (self.on_piece)(&piece);
                    self.content.extend_from_slice(&piece);
                }
                bhttp::StreamEvent::End => {}
            }
        }
    }
}

fn undecryptable(e: impl Into<ohttp::Error>) -> ClientError {
    ClientError::ResponseDecryption(e.into())
}

impl Client {
    /// One protected call of the inner API whose answer streams back chunk by chunk
    /// (draft-ietf-ohai-chunked-ohttp): `on_piece` receives each piece of the inner content
    /// as it opens. The result is returned only once the whole stream arrived and the
    /// gateway's trailer signature verified (see the module docs).
    pub async fn call_streaming(
        &self,
        method: &str,
        inner_path: &str,
        json: Option<&serde_json::Value>,
        on_piece: impl FnMut(&[u8]),
    ) -> Result<InnerResponse, ClientError> {
        let config = self.key_config().await?;
        let mut timings = Timings::default();
        let t = Instant::now();
        let (enc_request, pending) = config
            .encapsulate_chunked(&self.inner_request(method, inner_path, json)?)
            .map_err(ClientError::Encapsulate)?;
        timings.encapsulate = t.elapsed();
        let t = Instant::now();
        let outer =
            self.sign_outer_as(&enc_request, unix_now(), ohttp::CHUNKED_REQUEST_MEDIA_TYPE)?;
        timings.sign = t.elapsed();
        let headers = outer.headers.clone().with("te", "trailers");
        let t = Instant::now();
        let (response, driver) = self.exchange("POST", "/", &headers, enc_request).await?;
        let status = response.status().as_u16();
        let response_headers = fields_of(response.headers());
        let mut body = response.into_body();
        if status != 200 {
            let raw = http_body_util::Limited::new(body, MAX_RESPONSE)
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            driver.abort();
            let raw = super::RawResponse {
                status,
                headers: response_headers,
                body: raw,
            };
            return Err(ClientError::Refused {
                status,
                code: raw.error_code().unwrap_or_default(),
            });
        }
        let media_type = response_headers.get_all("content-type").next();
        if media_type != Some(ohttp::CHUNKED_RESPONSE_MEDIA_TYPE.as_bytes()) {
            driver.abort();
            return Err(undecryptable(ohttp::Error::Malformed(
                "not a chunked OHTTP response",
            )));
        }

        let mut opener = pending.opener();
        let mut reader = bhttp::StreamedResponseReader::new(bhttp::Limits::default());
        let mut assembly = Assembly {
            status: None,
            content_type: None,
            content: Vec::new(),
            on_piece,
        };
        let mut raw = Vec::new();
        let mut trailers = Fields::new();
        let mut open_time = std::time::Duration::ZERO;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| ClientError::Http(e.to_string()))?;
            match frame.into_data() {
                Ok(data) => {
                    if raw.len() + data.len() > MAX_RESPONSE {
                        driver.abort();
                        return Err(ClientError::Http("streamed response too large".into()));
                    }
                    raw.extend_from_slice(&data);
                    let t = Instant::now();
                    for plain in opener.push(&data).map_err(undecryptable)? {
                        assembly.absorb(reader.push(&plain).map_err(undecryptable)?);
                    }
                    open_time += t.elapsed();
                }
                Err(frame) => {
                    if let Ok(map) = frame.into_trailers() {
                        trailers = fields_of(&map);
                    }
                }
            }
        }
        driver.abort();
        timings.round_trip = t.elapsed();
        let t = Instant::now();
        let last = opener.finish().map_err(undecryptable)?;
        assembly.absorb(reader.push(&last).map_err(undecryptable)?);
        reader.finish().map_err(undecryptable)?;
        timings.decapsulate = open_time + t.elapsed();

        let t = Instant::now();
        let mut response_keyid = None;
        if let Some(verifier) = &self.response_verifier {
            // The signature travels in the trailers; the verifier reads it beside the headers.
            let mut signed = response_headers.clone();
            for name in ["signature-input", "signature"] {
                signed.remove(name);
                for value in trailers.get_all(name) {
                    signed.append(name, value);
                }
            }
            let response = httpsig::Response {
                status,
                headers: signed,
                trailers,
            };
            let verified = verifier
                .verify_response(&response, Some(&outer), &raw)
                .map_err(ClientError::ResponseSignature)?;
            check_bound(&verified)?;
            response_keyid = Some(verified.keyid);
        }
        timings.verify = t.elapsed();

        let status = assembly
            .status
            .ok_or_else(|| undecryptable(ohttp::Error::Malformed("stream without a head")))?;
        Ok(InnerResponse {
            status,
            body: serde_json::from_slice(&assembly.content).unwrap_or(serde_json::Value::Null),
            content_type: assembly.content_type,
            content: assembly.content,
            response_keyid,
            timings,
        })
    }
}
