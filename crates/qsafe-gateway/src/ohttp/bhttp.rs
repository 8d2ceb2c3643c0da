//! Binary HTTP messages (RFC 9292), media type `message/bhttp`.
//!
//! Encoding writes known-length (framing indicators 0 and 1, §3.1) or indeterminate-length
//! (2 and 3, §3.2) messages, optionally truncated (§3.8: empty trailing parts left out) and
//! padded with zero bytes (§3.8). Decoding reads all four framings, truncated or padded, and
//! is strict: every length is checked against what is left of the input *before* anything is
//! allocated, every count and size is bounded by [`Limits`], and any deviation from §3 is a
//! typed [`Error`]; nothing is repaired.
//!
//! Validation follows §3.6 (field names and values by RFC 9113 §8.2.1, messages that would
//! be malformed in HTTP/2 by RFC 9113 §8.1.1 are invalid), §3.5.1 (informational 1xx
//! responses, kept apart in [`Response::informational`] so callers see the final response),
//! and §6 (`:method`, `:scheme`, `:authority`, `:path` and `:status` fields make a message
//! invalid; this decoder refuses every pseudo-field). Integers are QUIC variable-length
//! integers (RFC 9000 §16); non-minimal encodings are accepted, as RFC 9000 allows.

mod stream;

pub use stream::{
    StreamEvent, StreamedResponseReader, streamed_chunk, streamed_end, streamed_head,
};

/// Media type of a binary HTTP message (RFC 9292 §7).
pub const MEDIA_TYPE: &str = "message/bhttp";

/// Largest value a QUIC variable-length integer holds (RFC 9000 §16): 2^62 - 1.
pub const VARINT_MAX: u64 = (1 << 62) - 1;

/// Why a binary HTTP message was refused. Messages name the part that failed, never the
/// message bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input ends inside a part that cannot be truncated (RFC 9292 §3.8).
    #[error("binary HTTP message is truncated inside the {0}")]
    Truncated(&'static str),
    /// The framing indicator is not one of the two for the expected kind of message.
    #[error("framing indicator {got} does not start a binary HTTP {expected}")]
    Framing {
        /// The indicator read.
        got: u64,
        /// `"request"` or `"response"`.
        expected: &'static str,
    },
    /// A part is larger than the configured [`Limits`] allow.
    #[error("{what} of {len} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The part (message, field section, content, …).
        what: &'static str,
        /// Its length (as claimed by the message, for known-length parts).
        len: u64,
        /// The limit in force.
        limit: usize,
    },
    /// More field lines in one section, or more informational responses, than allowed.
    #[error("more than {limit} {what}")]
    TooMany {
        /// `"field lines in a section"` or `"informational responses"`.
        what: &'static str,
        /// The limit in force.
        limit: usize,
    },
    /// A control-data element, status code, field name or field value is not valid.
    #[error("invalid {0}")]
    Invalid(&'static str),
    /// A field that binary HTTP forbids (a pseudo-field, or one RFC 9113 §8.2.2 makes
    /// connection-specific).
    #[error("field `{0}` is not allowed in a binary HTTP message")]
    ForbiddenField(String),
    /// A `content-length` field disagrees with the content (RFC 9113 §8.1.1).
    #[error("content-length does not match the {0}-byte content")]
    ContentLength(usize),
    /// A padding byte after the message is not zero (RFC 9292 §3.8).
    #[error("padding after the binary HTTP message contains a non-zero byte")]
    Padding,
    /// A length does not fit a QUIC variable-length integer (encoding only).
    #[error("{0} is too long to encode")]
    Unencodable(&'static str),
}

/// Result alias of this module.
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// Bounds applied when decoding. Every bound is checked before the bytes it covers are
/// copied, so a hostile message costs at most its own length in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Whole encoded message, padding included.
    pub max_message: usize,
    /// Content (the sum of all chunks for indeterminate-length messages).
    pub max_content: usize,
    /// One field section (the encoded field lines), and each control-data element.
    pub max_section: usize,
    /// Field lines in one section.
    pub max_fields: usize,
    /// Informational (1xx) responses before the final response.
    pub max_informational: usize,
}

impl Default for Limits {
    /// 8 MiB messages and content, 64 KiB and 128 lines per field section, 8 informational
    /// responses.
    fn default() -> Self {
        Limits {
            max_message: 8 << 20,
            max_content: 8 << 20,
            max_section: 64 << 10,
            max_fields: 128,
            max_informational: 8,
        }
    }
}

/// How lengths are framed (RFC 9292 §3.1, §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Framing {
    /// Length-prefixed sections and content (framing indicators 0 and 1).
    #[default]
    KnownLength,
    /// Terminated sections and chunked content (framing indicators 2 and 3).
    IndeterminateLength,
}

/// Encoding options.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Encoding {
    /// Known or indeterminate length.
    pub framing: Framing,
    /// Leave out trailing empty parts (RFC 9292 §3.8), as RFC 9458 Appendix A does.
    pub truncate: bool,
    /// Zero bytes appended after the message (RFC 9292 §3.8).
    pub padding: usize,
}

/// One field line: a lowercase name and a value (RFC 9292 §3.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// Field name: lowercase `tchar`s (RFC 9110 §5.1, RFC 9113 §8.2.1).
    pub name: String,
    /// Field value: any bytes but NUL, CR and LF, without leading or trailing whitespace.
    pub value: Vec<u8>,
}

impl Field {
    /// A field line.
    pub fn new(name: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        Field {
            name: name.into(),
            value: value.into(),
        }
    }
}

/// A request (RFC 9292 §3.4 control data, header and trailer sections, content).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Request {
    /// Method (a `token`).
    pub method: String,
    /// Scheme (`https`); empty only for CONNECT.
    pub scheme: String,
    /// Authority; empty when HTTP/2 would omit `:authority`.
    pub authority: String,
    /// Path and query (`/…`, or `*`); empty only for CONNECT.
    pub path: String,
    /// Header section.
    pub headers: Vec<Field>,
    /// Content.
    pub content: Vec<u8>,
    /// Trailer section.
    pub trailers: Vec<Field>,
}

/// An informational (1xx) response preceding the final response (RFC 9292 §3.5.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Informational {
    /// Status code, 100..=199 (101 is refused, as in HTTP/2).
    pub status: u16,
    /// Its header section.
    pub headers: Vec<Field>,
}

/// A response (RFC 9292 §3.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Informational responses before the final one, in order; decoders may ignore them.
    pub informational: Vec<Informational>,
    /// Final status code, 200..=599.
    pub status: u16,
    /// Header section.
    pub headers: Vec<Field>,
    /// Content.
    pub content: Vec<u8>,
    /// Trailer section.
    pub trailers: Vec<Field>,
}

impl Response {
    /// A final response with no fields and no content.
    pub fn new(status: u16) -> Self {
        Response {
            informational: Vec::new(),
            status,
            headers: Vec::new(),
            content: Vec::new(),
            trailers: Vec::new(),
        }
    }
}

// ---- QUIC variable-length integers (RFC 9000 §16) ----------------------------------------------

/// Appends `v` in the shortest QUIC variable-length encoding.
pub fn write_varint(out: &mut Vec<u8>, v: u64) -> Result<()> {
    match v {
        0..=0x3f => out.push(v as u8),
        0x40..=0x3fff => out.extend_from_slice(&(v as u16 | 0x4000).to_be_bytes()),
        0x4000..=0x3fff_ffff => out.extend_from_slice(&(v as u32 | 0x8000_0000).to_be_bytes()),
        0x4000_0000..=VARINT_MAX => {
            out.extend_from_slice(&(v | 0xc000_0000_0000_0000).to_be_bytes())
        }
        _ => return Err(Error::Unencodable("integer")),
    }
    Ok(())
}

/// Reads one QUIC variable-length integer from the front of `buf`: `(value, bytes used)`, or
/// `None` when `buf` ends inside it.
pub fn read_varint(buf: &[u8]) -> Option<(u64, usize)> {
    let first = *buf.first()?;
    let len = 1usize << (first >> 6);
    let bytes = buf.get(..len)?;
    let v = bytes
        .iter()
        .skip(1)
        .fold(u64::from(first & 0x3f), |acc, b| (acc << 8) | u64::from(*b));
    Some((v, len))
}

fn len_u64(len: usize) -> u64 {
    u64::try_from(len).unwrap_or(u64::MAX)
}

// ---- Reading ------------------------------------------------------------------------------------

struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    fn varint(&mut self, part: &'static str) -> Result<u64> {
        let (v, used) = read_varint(self.rest).ok_or(Error::Truncated(part))?;
        self.rest = self.rest.get(used..).unwrap_or_default();
        Ok(v)
    }

    fn take(&mut self, len: u64, part: &'static str) -> Result<&'a [u8]> {
        let len = usize::try_from(len).map_err(|_| Error::Truncated(part))?;
        let (head, tail) = self
            .rest
            .split_at_checked(len)
            .ok_or(Error::Truncated(part))?;
        self.rest = tail;
        Ok(head)
    }

    /// A length-prefixed byte string of at most `limit` bytes.
    fn prefixed(&mut self, part: &'static str, limit: usize) -> Result<&'a [u8]> {
        let len = self.varint(part)?;
        if len > len_u64(limit) {
            return Err(Error::TooLarge {
                what: part,
                len,
                limit,
            });
        }
        self.take(len, part)
    }
}

fn read_field_line<'a>(r: &mut Reader<'a>, name_len: u64, limits: &Limits) -> Result<Field> {
    if name_len > len_u64(limits.max_section) {
        return Err(Error::TooLarge {
            what: "field name",
            len: name_len,
            limit: limits.max_section,
        });
    }
    let name = r.take(name_len, "field name")?;
    let value = r.prefixed("field value", limits.max_section)?;
    // Names and values are checked with the whole section (`check_fields`).
    let name = core::str::from_utf8(name).map_err(|_| Error::Invalid("field name"))?;
    Ok(Field::new(name, value))
}

fn read_section(r: &mut Reader<'_>, framing: Framing, limits: &Limits) -> Result<Vec<Field>> {
    let mut fields = Vec::new();
    let too_many = || Error::TooMany {
        what: "field lines in a section",
        limit: limits.max_fields,
    };
    match framing {
        Framing::KnownLength => {
            let mut section = Reader {
                rest: r.prefixed("field section", limits.max_section)?,
            };
            while !section.is_empty() {
                if fields.len() >= limits.max_fields {
                    return Err(too_many());
                }
                let name_len = section.varint("field section")?;
                if name_len == 0 {
                    return Err(Error::Invalid("field name (empty)"));
                }
                fields.push(read_field_line(&mut section, name_len, limits)?);
            }
        }
        Framing::IndeterminateLength => {
            let start = r.rest.len();
            loop {
                let name_len = r.varint("field section")?;
                if name_len == 0 {
                    break;
                }
                if fields.len() >= limits.max_fields {
                    return Err(too_many());
                }
                fields.push(read_field_line(r, name_len, limits)?);
                let used = start.saturating_sub(r.rest.len());
                if used > limits.max_section {
                    return Err(Error::TooLarge {
                        what: "field section",
                        len: len_u64(used),
                        limit: limits.max_section,
                    });
                }
            }
        }
    }
    check_fields(&fields)?;
    Ok(fields)
}

fn read_content(r: &mut Reader<'_>, framing: Framing, limits: &Limits) -> Result<Vec<u8>> {
    match framing {
        Framing::KnownLength => Ok(r.prefixed("content", limits.max_content)?.to_vec()),
        Framing::IndeterminateLength => {
            let mut content = Vec::new();
            loop {
                let len = r.varint("content")?;
                if len == 0 {
                    return Ok(content);
                }
                let total = len_u64(content.len()).saturating_add(len);
                if total > len_u64(limits.max_content) {
                    return Err(Error::TooLarge {
                        what: "content",
                        len: total,
                        limit: limits.max_content,
                    });
                }
                content.extend_from_slice(r.take(len, "content")?);
            }
        }
    }
}

/// Header section, content and trailer section, each of which may be truncated away; then
/// padding.
fn read_tail(
    r: &mut Reader<'_>,
    framing: Framing,
    limits: &Limits,
) -> Result<(Vec<Field>, Vec<u8>, Vec<Field>)> {
    let headers = if r.is_empty() {
        Vec::new()
    } else {
        read_section(r, framing, limits)?
    };
    let content = if r.is_empty() {
        Vec::new()
    } else {
        read_content(r, framing, limits)?
    };
    let trailers = if r.is_empty() {
        Vec::new()
    } else {
        read_section(r, framing, limits)?
    };
    if r.rest.iter().any(|b| *b != 0) {
        return Err(Error::Padding);
    }
    Ok((headers, content, trailers))
}

fn check_size(buf: &[u8], limits: &Limits) -> Result<()> {
    if buf.len() > limits.max_message {
        return Err(Error::TooLarge {
            what: "message",
            len: len_u64(buf.len()),
            limit: limits.max_message,
        });
    }
    Ok(())
}

fn control_str<'a>(r: &mut Reader<'a>, part: &'static str, limits: &Limits) -> Result<&'a str> {
    let bytes = r.prefixed(part, limits.max_section)?;
    core::str::from_utf8(bytes).map_err(|_| Error::Invalid(part))
}

impl Request {
    /// A request with no fields and no content.
    pub fn new(
        method: impl Into<String>,
        scheme: impl Into<String>,
        authority: impl Into<String>,
        path: impl Into<String>,
    ) -> Self {
        Request {
            method: method.into(),
            scheme: scheme.into(),
            authority: authority.into(),
            path: path.into(),
            ..Request::default()
        }
    }

    /// Decodes a request of either framing, truncated or padded.
    pub fn decode(buf: &[u8], limits: &Limits) -> Result<Request> {
        check_size(buf, limits)?;
        let mut r = Reader { rest: buf };
        let framing = match r.varint("framing indicator")? {
            0 => Framing::KnownLength,
            2 => Framing::IndeterminateLength,
            got => {
                return Err(Error::Framing {
                    got,
                    expected: "request",
                });
            }
        };
        let method = control_str(&mut r, "method", limits)?;
        let scheme = control_str(&mut r, "scheme", limits)?;
        let authority = control_str(&mut r, "authority", limits)?;
        let path = control_str(&mut r, "path", limits)?;
        let (headers, content, trailers) = read_tail(&mut r, framing, limits)?;
        let req = Request {
            method: method.to_owned(),
            scheme: scheme.to_owned(),
            authority: authority.to_owned(),
            path: path.to_owned(),
            headers,
            content,
            trailers,
        };
        req.validate()?;
        Ok(req)
    }

    /// Checks the control data (RFC 9113 §8.3.1 rules, as RFC 9292 §3.4 requires), the
    /// fields and `content-length`.
    pub fn validate(&self) -> Result<()> {
        if !is_token(&self.method) {
            return Err(Error::Invalid("method"));
        }
        if self.method == "CONNECT" {
            if !self.scheme.is_empty() || !self.path.is_empty() || self.authority.is_empty() {
                return Err(Error::Invalid(
                    "CONNECT control data (authority only, no scheme or path)",
                ));
            }
        } else {
            if !is_scheme(&self.scheme) {
                return Err(Error::Invalid("scheme"));
            }
            if !is_path(&self.path) {
                return Err(Error::Invalid("path"));
            }
        }
        if !self.authority.bytes().all(is_authority_byte) {
            return Err(Error::Invalid("authority"));
        }
        check_fields(&self.headers)?;
        check_fields(&self.trailers)?;
        check_content_length(&self.headers, self.content.len(), false)
    }

    /// Known-length encoding without truncation or padding (framing indicator 0).
    pub fn encode(&self) -> Result<Vec<u8>> {
        self.encode_with(&Encoding::default())
    }

    /// Encodes with the given framing, truncation and padding; refuses an invalid request.
    pub fn encode_with(&self, encoding: &Encoding) -> Result<Vec<u8>> {
        self.validate()?;
        let mut out = Vec::with_capacity(64 + self.content.len() + encoding.padding);
        write_varint(
            &mut out,
            match encoding.framing {
                Framing::KnownLength => 0,
                Framing::IndeterminateLength => 2,
            },
        )?;
        for part in [&self.method, &self.scheme, &self.authority, &self.path] {
            write_prefixed(&mut out, part.as_bytes(), "control data")?;
        }
        write_tail(
            &mut out,
            encoding,
            &self.headers,
            &self.content,
            &self.trailers,
        )?;
        Ok(out)
    }
}

impl Response {
    /// Decodes a response of either framing, truncated or padded. Informational responses
    /// are checked and returned in [`Response::informational`].
    pub fn decode(buf: &[u8], limits: &Limits) -> Result<Response> {
        check_size(buf, limits)?;
        let mut r = Reader { rest: buf };
        let framing = match r.varint("framing indicator")? {
            1 => Framing::KnownLength,
            3 => Framing::IndeterminateLength,
            got => {
                return Err(Error::Framing {
                    got,
                    expected: "response",
                });
            }
        };
        let mut informational = Vec::new();
        let status = loop {
            let status = r.varint("status code")?;
            match u16::try_from(status) {
                Ok(s @ 200..=599) => break s,
                Ok(s) if is_informational(s) => {
                    if informational.len() >= limits.max_informational {
                        return Err(Error::TooMany {
                            what: "informational responses",
                            limit: limits.max_informational,
                        });
                    }
                    // The final response must follow, so this section cannot be truncated.
                    let headers = read_section(&mut r, framing, limits)?;
                    informational.push(Informational { status: s, headers });
                }
                _ => return Err(Error::Invalid("status code")),
            }
        };
        let (headers, content, trailers) = read_tail(&mut r, framing, limits)?;
        let res = Response {
            informational,
            status,
            headers,
            content,
            trailers,
        };
        res.validate()?;
        Ok(res)
    }

    /// Checks status codes, fields and `content-length`.
    pub fn validate(&self) -> Result<()> {
        if !(200..=599).contains(&self.status) {
            return Err(Error::Invalid("status code"));
        }
        for i in &self.informational {
            if !is_informational(i.status) {
                return Err(Error::Invalid("informational status code"));
            }
            check_fields(&i.headers)?;
        }
        check_fields(&self.headers)?;
        check_fields(&self.trailers)?;
        check_content_length(&self.headers, self.content.len(), true)
    }

    /// Known-length encoding without truncation or padding (framing indicator 1).
    pub fn encode(&self) -> Result<Vec<u8>> {
        self.encode_with(&Encoding::default())
    }

    /// Encodes with the given framing, truncation and padding; refuses an invalid response.
    pub fn encode_with(&self, encoding: &Encoding) -> Result<Vec<u8>> {
        self.validate()?;
        let mut out = Vec::with_capacity(16 + self.content.len() + encoding.padding);
        write_varint(
            &mut out,
            match encoding.framing {
                Framing::KnownLength => 1,
                Framing::IndeterminateLength => 3,
            },
        )?;
        for i in &self.informational {
            write_varint(&mut out, u64::from(i.status))?;
            write_section(&mut out, encoding.framing, &i.headers)?;
        }
        write_varint(&mut out, u64::from(self.status))?;
        write_tail(
            &mut out,
            encoding,
            &self.headers,
            &self.content,
            &self.trailers,
        )?;
        Ok(out)
    }
}

// ---- Writing ------------------------------------------------------------------------------------

fn write_prefixed(out: &mut Vec<u8>, bytes: &[u8], what: &'static str) -> Result<()> {
    write_varint(
        out,
        u64::try_from(bytes.len()).map_err(|_| Error::Unencodable(what))?,
    )
    .map_err(|_| Error::Unencodable(what))?;
    out.extend_from_slice(bytes);
    Ok(())
}

fn write_section(out: &mut Vec<u8>, framing: Framing, fields: &[Field]) -> Result<()> {
    let mut lines = Vec::new();
    for f in fields {
        write_prefixed(&mut lines, f.name.as_bytes(), "field name")?;
        write_prefixed(&mut lines, &f.value, "field value")?;
    }
    match framing {
        Framing::KnownLength => write_prefixed(out, &lines, "field section"),
        Framing::IndeterminateLength => {
            out.extend_from_slice(&lines);
            out.push(0);
            Ok(())
        }
    }
}

fn write_tail(
    out: &mut Vec<u8>,
    encoding: &Encoding,
    headers: &[Field],
    content: &[u8],
    trailers: &[Field],
) -> Result<()> {
    let keep_trailers = !encoding.truncate || !trailers.is_empty();
    let keep_content = keep_trailers || !content.is_empty();
    let keep_headers = keep_content || !headers.is_empty();
    if keep_headers {
        write_section(out, encoding.framing, headers)?;
    }
    if keep_content {
        match encoding.framing {
            Framing::KnownLength => write_prefixed(out, content, "content")?,
            Framing::IndeterminateLength => {
                if !content.is_empty() {
                    write_prefixed(out, content, "content")?;
                }
                out.push(0);
            }
        }
    }
    if keep_trailers {
        write_section(out, encoding.framing, trailers)?;
    }
    out.resize(out.len().saturating_add(encoding.padding), 0);
    Ok(())
}

// ---- Validation ---------------------------------------------------------------------------------

/// `tchar` of RFC 9110 §5.6.2.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_tchar)
}

/// A field name: a token without upper-case letters (RFC 9113 §8.2.1).
fn is_field_name(s: &str) -> bool {
    is_token(s) && !s.bytes().any(|b| b.is_ascii_uppercase())
}

/// A field value: no NUL, CR or LF, no leading or trailing SP/HTAB (RFC 9113 §8.2.1).
fn is_field_value(v: &[u8]) -> bool {
    let ws = |b: &u8| *b == b' ' || *b == b'\t';
    !v.iter().any(|b| matches!(b, 0 | b'\r' | b'\n'))
        && !v.first().is_some_and(ws)
        && !v.last().is_some_and(ws)
}

/// `scheme` of RFC 3986 §3.1.
fn is_scheme(s: &str) -> bool {
    let mut bytes = s.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
}

/// Origin-form or `*`, visible ASCII only (RFC 9113 §8.3.1).
fn is_path(s: &str) -> bool {
    (s == "*" || s.starts_with('/')) && s.bytes().all(|b| (0x21..=0x7e).contains(&b))
}

/// Host and port characters of RFC 3986 §3.2.2-3.2.3; no userinfo (RFC 9113 §8.3.1).
fn is_authority_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~%!$&'()*+,;=:[]".contains(&b)
}

fn is_informational(status: u16) -> bool {
    // 101 (Switching Protocols) cannot be expressed in HTTP/2 (RFC 9113 §8.6).
    (100..=199).contains(&status) && status != 101
}

/// Connection-specific fields make an HTTP/2 message malformed (RFC 9113 §8.2.2).
const CONNECTION_SPECIFIC: [&str; 5] = [
    "connection",
    "proxy-connection",
    "keep-alive",
    "transfer-encoding",
    "upgrade",
];

fn check_fields(fields: &[Field]) -> Result<()> {
    for f in fields {
        if !is_field_name(&f.name) {
            // Pseudo-fields (`:path`, …) fail here too: `:` is not a tchar.
            return Err(if f.name.starts_with(':') {
                Error::ForbiddenField(f.name.clone())
            } else {
                Error::Invalid("field name")
            });
        }
        if !is_field_value(&f.value) {
            return Err(Error::Invalid("field value"));
        }
        if CONNECTION_SPECIFIC.contains(&f.name.as_str())
            || (f.name == "te" && f.value != b"trailers")
        {
            return Err(Error::ForbiddenField(f.name.clone()));
        }
    }
    Ok(())
}

/// Every `content-length` must equal the content length (RFC 9113 §8.1.1). A response with
/// no content may carry any value (a response to HEAD, a 304).
fn check_content_length(headers: &[Field], len: usize, response: bool) -> Result<()> {
    if response && len == 0 {
        return Ok(());
    }
    for f in headers.iter().filter(|f| f.name == "content-length") {
        let ok = !f.value.is_empty()
            && f.value.len() <= 19
            && f.value.iter().all(u8::is_ascii_digit)
            && core::str::from_utf8(&f.value)
                .ok()
                .and_then(|s| s.parse::<u64>().ok())
                == Some(len_u64(len));
        if !ok {
            return Err(Error::ContentLength(len));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_examples_of_rfc9000_appendix_a1() {
        // RFC 9000 §A.1: the four example encodings, and a non-minimal one.
        let cases: [(&str, u64); 4] = [
            ("c2197c5eff14e88c", 151_288_809_941_952_652),
            ("9d7f3e7d", 494_878_333),
            ("7bbd", 15_293),
            ("25", 37),
        ];
        for (hex, v) in cases {
            let bytes = hex::decode(hex).unwrap_or_default();
            assert_eq!(read_varint(&bytes), Some((v, bytes.len())));
            let mut out = Vec::new();
            assert!(write_varint(&mut out, v).is_ok());
            assert_eq!(out, bytes);
        }
        assert_eq!(read_varint(&[0x40, 0x25]), Some((37, 2)));
        assert_eq!(read_varint(&[0x40]), None);
        assert_eq!(read_varint(&[]), None);
        assert!(write_varint(&mut Vec::new(), VARINT_MAX + 1).is_err());
    }

    #[test]
    fn field_rules() {
        assert!(is_field_name("accept-language"));
        assert!(!is_field_name("Accept"));
        assert!(!is_field_name(":path"));
        assert!(!is_field_name(""));
        assert!(is_field_value(b""));
        assert!(is_field_value(b"a b"));
        assert!(is_field_value(&[0x80, 0xff]));
        assert!(!is_field_value(b" a"));
        assert!(!is_field_value(b"a\t"));
        assert!(!is_field_value(b"a\r\nb"));
        assert!(!is_field_value(b"a\0"));
    }
}
