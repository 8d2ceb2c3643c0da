//! A framework-independent view of the HTTP messages that signatures cover: just what RFC 9421
//! §2 derives components from. The gateway fills these from its hyper/`http` types; behind a
//! proxy it supplies the scheme and authority the client used (RFC 9421 §1.4: the verifier has
//! to see the target URI the signer saw).

use super::Error;

/// HTTP field lines in order. Names are stored lowercased (field names are case-insensitive,
/// RFC 9110 §5.1); values are the raw bytes of each line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fields {
    lines: Vec<(String, Vec<u8>)>,
}

impl Fields {
    /// No fields.
    pub const fn new() -> Self {
        Fields { lines: Vec::new() }
    }

    /// Appends one field line.
    pub fn append(&mut self, name: &str, value: impl AsRef<[u8]>) {
        self.lines
            .push((name.to_ascii_lowercase(), value.as_ref().to_vec()));
    }

    /// Builder form of [`Fields::append`].
    #[must_use]
    pub fn with(mut self, name: &str, value: impl AsRef<[u8]>) -> Self {
        self.append(name, value);
        self
    }

    /// Removes every line of `name`.
    pub fn remove(&mut self, name: &str) {
        self.lines.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    }

    /// The values of every line named `name`, in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.lines
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    /// True when at least one line is named `name`.
    pub fn contains(&self, name: &str) -> bool {
        self.get_all(name).next().is_some()
    }

    /// Every line as `(lowercase name, value)`.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.lines.iter().map(|(n, v)| (n.as_str(), v.as_slice()))
    }

    /// Number of lines.
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    /// True when there are no lines.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// The lines of `name` combined as one structured field value (RFC 8941 §4.2: joined with
    /// `", "`), or `None` when absent. Fails when the combined value exceeds `max_len` bytes or
    /// is not ASCII (structured fields are ASCII).
    pub(crate) fn combined_ascii(
        &self,
        name: &str,
        max_len: usize,
    ) -> Option<Result<String, &'static str>> {
        let mut out: Option<String> = None;
        for value in self.get_all(name) {
            let s = out.get_or_insert_with(String::new);
            if !s.is_empty() {
                s.push_str(", ");
            }
            if s.len().saturating_add(value.len()) > max_len {
                return Some(Err("field value too long"));
            }
            match core::str::from_utf8(value) {
                Ok(v) if v.is_ascii() => s.push_str(v),
                _ => return Some(Err("field value is not ASCII")),
            }
        }
        out.map(Ok)
    }
}

/// The parts of a request that RFC 9421 request components (§2.2) come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Method, case-sensitive (`POST`).
    pub method: String,
    /// URI scheme (`https`); lowercased when derived.
    pub scheme: String,
    /// Authority `host[:port]`; lowercased, and a default port dropped, when derived.
    pub authority: String,
    /// Absolute path (`/v1/infer`); empty means `/`.
    pub path: String,
    /// Query without the leading `?`, or `None` when the target has no `?`.
    pub query: Option<String>,
    /// Header fields (and, for signing, any field the signature covers).
    pub headers: Fields,
}

impl Request {
    /// A request from its parts; `path_and_query` is split at the first `?`.
    pub fn new(method: &str, scheme: &str, authority: &str, path_and_query: &str) -> Self {
        let (path, query) = match path_and_query.split_once('?') {
            Some((p, q)) => (p, Some(q.to_owned())),
            None => (path_and_query, None),
        };
        Request {
            method: method.to_owned(),
            scheme: scheme.to_owned(),
            authority: authority.to_owned(),
            path: path.to_owned(),
            query,
            headers: Fields::new(),
        }
    }

    /// A request from an absolute target URI `scheme://authority/path?query` (no fragment, no
    /// userinfo).
    pub fn from_target_uri(method: &str, uri: &str) -> Result<Self, Error> {
        let (scheme, rest) = uri
            .split_once("://")
            .ok_or(Error::InvalidMessage("target URI has no scheme"))?;
        let scheme_ok = scheme
            .bytes()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic())
            && scheme
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'));
        if !scheme_ok {
            return Err(Error::InvalidMessage("bad URI scheme"));
        }
        if rest.contains('#') {
            return Err(Error::InvalidMessage("target URI has a fragment"));
        }
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path_and_query) = rest.split_at(split);
        if authority.is_empty() || authority.contains('@') {
            return Err(Error::InvalidMessage("bad URI authority"));
        }
        Ok(Request::new(method, scheme, authority, path_and_query))
    }

    /// Builder: appends a header line.
    #[must_use]
    pub fn with_header(mut self, name: &str, value: impl AsRef<[u8]>) -> Self {
        self.headers.append(name, value);
        self
    }
}

/// The parts of a response that RFC 9421 response components come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status code (three digits).
    pub status: u16,
    /// Header fields.
    pub headers: Fields,
    /// Trailer fields (components with `;tr`), for a body whose digest is known at its end.
    pub trailers: Fields,
}

impl Response {
    /// A response with no fields.
    pub fn new(status: u16) -> Self {
        Response {
            status,
            headers: Fields::new(),
            trailers: Fields::new(),
        }
    }

    /// Builder: appends a header line.
    #[must_use]
    pub fn with_header(mut self, name: &str, value: impl AsRef<[u8]>) -> Self {
        self.headers.append(name, value);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_uri_split() {
        let r = Request::from_target_uri("GET", "https://Example.com:443/foo?a=b?c").unwrap();
        assert_eq!(r.scheme, "https");
        assert_eq!(r.authority, "Example.com:443");
        assert_eq!(r.path, "/foo");
        assert_eq!(r.query.as_deref(), Some("a=b?c"));
        let r = Request::from_target_uri("GET", "http://h?x").unwrap();
        assert_eq!((r.path.as_str(), r.query.as_deref()), ("", Some("x")));
        for bad in [
            "example.com/x",
            "://h/",
            "https://",
            "https://u@h/",
            "https://h/#f",
            "1x://h/",
        ] {
            assert!(Request::from_target_uri("GET", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn fields_are_case_insensitive_and_combine() {
        let f = Fields::new()
            .with("Signature", "a=:AA==:")
            .with("signature", "b=:AQ==:");
        assert_eq!(
            f.combined_ascii("SIGNATURE", 100),
            Some(Ok("a=:AA==:, b=:AQ==:".into()))
        );
        assert_eq!(
            f.combined_ascii("signature", 10),
            Some(Err("field value too long"))
        );
        assert_eq!(f.combined_ascii("other", 10), None);
        let f = Fields::new().with("x", [0xffu8]);
        assert_eq!(
            f.combined_ascii("x", 10),
            Some(Err("field value is not ASCII"))
        );
    }
}
