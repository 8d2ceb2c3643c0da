//! A response produced and read piece by piece: the indeterminate-length form of RFC 9292
//! §3.2 (framing indicator 3), which a chunked OHTTP response carries.
//!
//! ```text
//! Indeterminate-Length Response {
//!   Framing Indicator (i) = 3,
//!   Informational Response (..) ...,          (skipped by the reader)
//!   Final Response Control Data (..),         status
//!   Indeterminate-Length Field Section (..),  field lines, then a zero
//!   Indeterminate-Length Content (..),        { Length (i) = 1.., Chunk (..) } ..., a zero
//!   Indeterminate-Length Field Section (..),  trailers (the writer sends none)
//!   Padding (..),
//! }
//! ```

use super::{Error, Field, Limits, Result, read_varint, write_varint};

/// The start of a streamed response: the framing indicator, the status and the header
/// section.
pub fn streamed_head(status: u16, headers: &[Field]) -> Result<Vec<u8>> {
    if !(200..=599).contains(&status) {
        return Err(Error::Invalid("status code"));
    }
    let mut out = Vec::new();
    write_varint(&mut out, 3)?;
    write_varint(&mut out, u64::from(status))?;
    for f in headers {
        write_varint(&mut out, f.name.len() as u64)?;
        out.extend_from_slice(f.name.as_bytes());
        write_varint(&mut out, f.value.len() as u64)?;
        out.extend_from_slice(&f.value);
    }
    out.push(0);
    Ok(out)
}

/// One content chunk (`data` must not be empty).
pub fn streamed_chunk(data: &[u8]) -> Result<Vec<u8>> {
    if data.is_empty() {
        return Err(Error::Invalid("empty content chunk"));
    }
    let mut out = Vec::with_capacity(data.len() + 8);
    write_varint(&mut out, data.len() as u64)?;
    out.extend_from_slice(data);
    Ok(out)
}

/// The end of a streamed response: the content terminator and an empty trailer section.
pub fn streamed_end() -> Vec<u8> {
    vec![0, 0]
}

/// What a [`StreamedResponseReader`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamEvent {
    /// The final status and header fields.
    Head {
        /// Status code.
        status: u16,
        /// Header fields.
        headers: Vec<Field>,
    },
    /// A piece of the content.
    Content(Vec<u8>),
    /// The content and the trailer section ended.
    End,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Framing,
    Status,
    Informational,
    Headers(u16),
    Content,
    Trailers,
    Done,
}

/// Reads an indeterminate-length response as its bytes arrive, within [`Limits`].
#[derive(Debug)]
pub struct StreamedResponseReader {
    buf: Vec<u8>,
    part: Part,
    limits: Limits,
    content: usize,
    informational: usize,
}

impl StreamedResponseReader {
    /// A reader applying `limits` (content size, section size and line count, 1xx count).
    pub fn new(limits: Limits) -> Self {
        StreamedResponseReader {
            buf: Vec::new(),
            part: Part::Framing,
            limits,
            content: 0,
            informational: 0,
        }
    }

    /// Appends bytes; returns the events now complete.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<StreamEvent>> {
        let mut buf = std::mem::take(&mut self.buf);
        buf.extend_from_slice(bytes);
        let mut events = Vec::new();
        let mut at = 0;
        while let Some((event, used)) = self.step(buf.get(at..).unwrap_or_default())? {
            at += used;
            if let Some(e) = event {
                events.push(e);
            }
        }
        buf.drain(..at);
        self.buf = buf;
        if self.part != Part::Done && self.buf.len() > self.limits.max_section + 16 {
            return Err(Error::TooLarge {
                what: "pending part",
                len: self.buf.len() as u64,
                limit: self.limits.max_section,
            });
        }
        Ok(events)
    }

    /// Checks that the response ended (content and trailers complete; padding is zeros).
    pub fn finish(self) -> Result<()> {
        if self.part != Part::Done {
            return Err(Error::Truncated("streamed response"));
        }
        if self.buf.iter().any(|b| *b != 0) {
            return Err(Error::Padding);
        }
        Ok(())
    }

    /// One step from the front of `buf`: `None` when more bytes are needed, else the event
    /// (if any) and the bytes used.
    fn step(&mut self, buf: &[u8]) -> Result<Option<(Option<StreamEvent>, usize)>> {
        match self.part {
            Part::Framing => {
                let Some((v, n)) = read_varint(buf) else {
                    return Ok(None);
                };
                if v != 3 {
                    return Err(Error::Framing {
                        got: v,
                        expected: "streamed response",
                    });
                }
                self.part = Part::Status;
                Ok(Some((None, n)))
            }
            Part::Status => {
                let Some((v, n)) = read_varint(buf) else {
                    return Ok(None);
                };
                let status = u16::try_from(v)
                    .ok()
                    .filter(|s| (100..=599).contains(s))
                    .ok_or(Error::Invalid("status code"))?;
                self.part = if status < 200 {
                    self.informational += 1;
                    if self.informational > self.limits.max_informational {
                        return Err(Error::TooMany {
                            what: "informational responses",
                            limit: self.limits.max_informational,
                        });
                    }
                    Part::Informational
                } else {
                    Part::Headers(status)
                };
                Ok(Some((None, n)))
            }
            Part::Informational => Ok(self.section(buf)?.map(|(_, n)| {
                self.part = Part::Status;
                (None, n)
            })),
            Part::Headers(status) => Ok(self.section(buf)?.map(|(headers, n)| {
                self.part = Part::Content;
                (Some(StreamEvent::Head { status, headers }), n)
            })),
            Part::Content => {
                let Some((len, n)) = read_varint(buf) else {
                    return Ok(None);
                };
                if len == 0 {
                    self.part = Part::Trailers;
                    return Ok(Some((None, n)));
                }
                let len = usize::try_from(len).unwrap_or(usize::MAX);
                self.content = self.content.saturating_add(len);
                if self.content > self.limits.max_content {
                    return Err(Error::TooLarge {
                        what: "content",
                        len: self.content as u64,
                        limit: self.limits.max_content,
                    });
                }
                let Some(chunk) = buf.get(n..n + len) else {
                    self.content -= len;
                    return Ok(None);
                };
                Ok(Some((Some(StreamEvent::Content(chunk.to_vec())), n + len)))
            }
            Part::Trailers => Ok(self.section(buf)?.map(|(_, n)| {
                self.part = Part::Done;
                (Some(StreamEvent::End), n)
            })),
            Part::Done => Ok(None),
        }
    }

    /// A whole indeterminate-length field section from the front of `buf`, or `None`.
    fn section(&self, buf: &[u8]) -> Result<Option<(Vec<Field>, usize)>> {
        let mut fields = Vec::new();
        let mut at = 0;
        loop {
            if at > self.limits.max_section {
                return Err(Error::TooLarge {
                    what: "field section",
                    len: at as u64,
                    limit: self.limits.max_section,
                });
            }
            let Some((name_len, n)) = read_varint(buf.get(at..).unwrap_or_default()) else {
                return Ok(None);
            };
            at += n;
            if name_len == 0 {
                return Ok(Some((fields, at)));
            }
            if fields.len() >= self.limits.max_fields {
                return Err(Error::TooMany {
                    what: "field lines in a section",
                    limit: self.limits.max_fields,
                });
            }
            let name_len = usize::try_from(name_len).unwrap_or(usize::MAX);
            let Some(name) = buf.get(at..at.saturating_add(name_len)) else {
                return Ok(None);
            };
            at += name_len;
            let Some((value_len, n)) = read_varint(buf.get(at..).unwrap_or_default()) else {
                return Ok(None);
            };
            at += n;
            let value_len = usize::try_from(value_len).unwrap_or(usize::MAX);
            let Some(value) = buf.get(at..at.saturating_add(value_len)) else {
                return Ok(None);
            };
            at += value_len;
            let name = std::str::from_utf8(name).map_err(|_| Error::Invalid("field name"))?;
            fields.push(Field::new(name, value));
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;
    use crate::ohttp::bhttp::Response;

    fn whole() -> Vec<u8> {
        let mut b = streamed_head(200, &[Field::new("content-type", "text/event-stream")]).unwrap();
        b.extend(streamed_chunk(b"data: one\n\n").unwrap());
        b.extend(streamed_chunk(b"data: two\n\n").unwrap());
        b.extend(streamed_end());
        b
    }

    #[test]
    fn the_writer_is_read_by_the_whole_message_decoder_and_byte_by_byte() {
        let bytes = whole();
        let r = Response::decode(&bytes, &Limits::default()).unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.content, b"data: one\n\ndata: two\n\n");

        let mut reader = StreamedResponseReader::new(Limits::default());
        let mut events = Vec::new();
        for b in &bytes {
            events.extend(reader.push(std::slice::from_ref(b)).unwrap());
        }
        reader.finish().unwrap();
        assert_eq!(events.len(), 4, "{events:?}");
        assert!(
            matches!(&events[0], StreamEvent::Head { status: 200, headers } if headers.len() == 1)
        );
        assert_eq!(events[1], StreamEvent::Content(b"data: one\n\n".to_vec()));
        assert_eq!(events[3], StreamEvent::End);
    }

    #[test]
    fn truncation_and_bounds_are_errors() {
        let bytes = whole();
        let mut reader = StreamedResponseReader::new(Limits::default());
        reader.push(&bytes[..bytes.len() - 1]).unwrap();
        assert!(reader.finish().is_err(), "missing trailer terminator");

        let limits = Limits {
            max_content: 12,
            ..Limits::default()
        };
        let mut reader = StreamedResponseReader::new(limits);
        assert!(matches!(
            reader.push(&bytes),
            Err(Error::TooLarge {
                what: "content",
                ..
            })
        ));

        let mut reader = StreamedResponseReader::new(Limits::default());
        assert!(matches!(
            reader.push(&[1]),
            Err(Error::Framing { got: 1, .. })
        ));
        assert!(streamed_chunk(b"").is_err());
        assert!(streamed_head(99, &[]).is_err());
    }
}
