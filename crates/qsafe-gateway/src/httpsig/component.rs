//! Covered components (RFC 9421 §2), signature parameters (§2.3), the signature base (§2.5),
//! and the `Signature-Input`/`Signature` fields (§4.1, §4.2).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::Error;
use super::error::shown;
use super::message::{Fields, Request, Response};
use super::sfv::{self, BareItem, InnerList, Item, Member, Params};

/// Longest `Signature-Input` value accepted (all lines combined).
pub const MAX_SIGNATURE_INPUT_LEN: usize = 8 * 1024;
/// Longest `Signature` value accepted (all lines combined): room for a few ML-DSA-87 or
/// composite signatures (about 6.3 KB of base64 each).
pub const MAX_SIGNATURE_LEN: usize = 48 * 1024;

/// The derived components this implementation computes (RFC 9421 §2.2).
pub const DERIVED_COMPONENTS: &[&str] = &[
    "@method",
    "@target-uri",
    "@authority",
    "@scheme",
    "@request-target",
    "@path",
    "@query",
    "@status",
];

/// A component parameter (RFC 9421 §2.1, §2.4) this implementation supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ComponentParam {
    /// `req`: in a response signature, the component comes from the request (§2.4).
    Req,
    /// `bs`: each field line wrapped as a Byte Sequence (§2.1.3).
    Bs,
    /// `tr`: the field comes from the message's trailers (§2.1.4), e.g. the
    /// `content-digest` of a streamed body, known only at its end.
    Tr,
}

impl ComponentParam {
    fn key(self) -> &'static str {
        match self {
            ComponentParam::Req => "req",
            ComponentParam::Bs => "bs",
            ComponentParam::Tr => "tr",
        }
    }
}

/// A component identifier (RFC 9421 §2): a lowercase field name or a derived `@name`, with
/// parameters in the order they were given (the order is part of the signature base).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ComponentId {
    name: String,
    params: Vec<ComponentParam>,
}

impl ComponentId {
    /// A component by name: one of [`DERIVED_COMPONENTS`] or a field name (RFC 9110 token,
    /// lowercase).
    pub fn new(name: &str) -> Result<Self, Error> {
        check_name(name)?;
        Ok(ComponentId {
            name: name.to_owned(),
            params: Vec::new(),
        })
    }

    /// Adds the `req` parameter (a request component in a response signature, §2.4).
    #[must_use]
    pub fn req(mut self) -> Self {
        if !self.params.contains(&ComponentParam::Req) {
            self.params.push(ComponentParam::Req);
        }
        self
    }

    /// Adds the `bs` parameter (fields only, §2.1.3).
    pub fn bs(mut self) -> Result<Self, Error> {
        if self.is_derived() {
            return Err(Error::UnsupportedComponent(format!("{self} with bs")));
        }
        if !self.params.contains(&ComponentParam::Bs) {
            self.params.push(ComponentParam::Bs);
        }
        Ok(self)
    }

    /// Adds the `tr` parameter (a trailer field, §2.1.4; fields only).
    pub fn tr(mut self) -> Result<Self, Error> {
        if self.is_derived() {
            return Err(Error::UnsupportedComponent(format!("{self} with tr")));
        }
        if !self.params.contains(&ComponentParam::Tr) {
            self.params.push(ComponentParam::Tr);
        }
        Ok(self)
    }

    /// True with the `tr` parameter.
    pub fn is_tr(&self) -> bool {
        self.params.contains(&ComponentParam::Tr)
    }

    /// The component name (`@method`, `content-digest`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The parameters, in order.
    pub fn params(&self) -> &[ComponentParam] {
        &self.params
    }

    /// True for `@…` derived components.
    pub fn is_derived(&self) -> bool {
        self.name.starts_with('@')
    }

    /// True with the `req` parameter.
    pub fn is_req(&self) -> bool {
        self.params.contains(&ComponentParam::Req)
    }

    /// True for the plain (parameterless) component `name`.
    pub(crate) fn is_plain(&self, name: &str) -> bool {
        self.params.is_empty() && self.name == name
    }

    pub(crate) fn from_item(item: &Item) -> Result<Self, Error> {
        let BareItem::String(name) = &item.bare else {
            return Err(Error::Malformed("a covered component is not a string"));
        };
        if name == "@signature-params" {
            return Err(Error::Malformed("@signature-params cannot be covered"));
        }
        let mut id = ComponentId::new(name)?;
        for (key, value) in &item.params {
            let param = match key.as_str() {
                "req" => ComponentParam::Req,
                "bs" if !id.is_derived() => ComponentParam::Bs,
                "tr" if !id.is_derived() => ComponentParam::Tr,
                _ => {
                    return Err(Error::UnsupportedComponent(format!(
                        "\"{}\";{}",
                        shown(name),
                        shown(key)
                    )));
                }
            };
            if *value != BareItem::Boolean(true) {
                return Err(Error::Malformed("component parameter must be boolean true"));
            }
            id.params.push(param);
        }
        Ok(id)
    }

    pub(crate) fn to_item(&self) -> Item {
        Item {
            bare: BareItem::String(self.name.clone()),
            params: self
                .params
                .iter()
                .map(|p| (p.key().to_owned(), BareItem::Boolean(true)))
                .collect(),
        }
    }
}

impl core::fmt::Display for ComponentId {
    /// The serialised identifier as it appears in a signature base (`"@authority";req`).
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let mut s = String::new();
        sfv::write_item(&mut s, &self.to_item());
        f.write_str(&s)
    }
}

impl core::str::FromStr for ComponentId {
    type Err = Error;

    /// A bare name (`@method`, `content-type`).
    fn from_str(s: &str) -> Result<Self, Error> {
        ComponentId::new(s)
    }
}

fn check_name(name: &str) -> Result<(), Error> {
    if let Some(derived) = name.strip_prefix('@') {
        if DERIVED_COMPONENTS.contains(&name) {
            return Ok(());
        }
        if derived == "signature-params" {
            return Err(Error::Malformed("@signature-params cannot be covered"));
        }
        return Err(Error::UnsupportedComponent(format!("\"{}\"", shown(name))));
    }
    let token = !name.is_empty()
        && name.len() <= sfv::MAX_KEY * 4
        && name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c));
    if !token {
        return Err(Error::Malformed("a covered field name is not a token"));
    }
    if name.bytes().any(|c| c.is_ascii_uppercase()) {
        return Err(Error::Malformed("covered field names must be lowercase"));
    }
    Ok(())
}

/// The covered components and parameters of one signature: the value of one
/// `Signature-Input` member (RFC 9421 §4.1), which is also the `@signature-params` value.
///
/// Parsed inputs keep every parameter in the order received, including ones this
/// implementation does not interpret, because the base re-serialises them (§2.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureInput {
    components: Vec<ComponentId>,
    params: Params,
}

fn int_param(params: &Params, key: &str) -> Option<i64> {
    match sfv::param(params, key) {
        Some(BareItem::Integer(i)) => Some(*i),
        _ => None,
    }
}

fn str_param<'a>(params: &'a Params, key: &str) -> Option<&'a str> {
    match sfv::param(params, key) {
        Some(BareItem::String(s)) => Some(s),
        _ => None,
    }
}

impl SignatureInput {
    /// Builds an input for signing, with parameters in the order `created`, `expires`, `keyid`,
    /// `nonce`, `alg`, `tag` (the order of RFC 9421's and c2sp httpsig-pq's examples).
    /// Strings must be printable ASCII; times must fit an RFC 8941 Integer; components must
    /// not repeat.
    pub fn new(
        components: Vec<ComponentId>,
        created: Option<i64>,
        expires: Option<i64>,
        keyid: Option<&str>,
        nonce: Option<&str>,
        alg: Option<&str>,
        tag: Option<&str>,
    ) -> Result<Self, Error> {
        check_unique(&components)?;
        let mut params = Params::new();
        for (key, value) in [("created", created), ("expires", expires)] {
            if let Some(v) = value {
                if !(0..=sfv::MAX_INTEGER).contains(&v) {
                    return Err(Error::InvalidMessage("timestamp out of range"));
                }
                params.push((key.to_owned(), BareItem::Integer(v)));
            }
        }
        for (key, value) in [
            ("keyid", keyid),
            ("nonce", nonce),
            ("alg", alg),
            ("tag", tag),
        ] {
            if let Some(v) = value {
                if !sfv::is_valid_string(v) {
                    return Err(Error::InvalidMessage("parameter is not printable ASCII"));
                }
                params.push((key.to_owned(), BareItem::String(v.to_owned())));
            }
        }
        Ok(SignatureInput { components, params })
    }

    pub(crate) fn from_inner_list(list: &InnerList) -> Result<Self, Error> {
        let components = list
            .items
            .iter()
            .map(ComponentId::from_item)
            .collect::<Result<Vec<_>, _>>()?;
        check_unique(&components)?;
        for (key, value) in &list.params {
            let ok = match key.as_str() {
                "created" | "expires" => matches!(value, BareItem::Integer(_)),
                "nonce" | "keyid" | "alg" | "tag" => matches!(value, BareItem::String(_)),
                _ => true, // unknown parameters are signed over and otherwise ignored
            };
            if !ok {
                return Err(Error::Malformed("signature parameter has the wrong type"));
            }
        }
        Ok(SignatureInput {
            components,
            params: list.params.clone(),
        })
    }

    fn to_inner_list(&self) -> InnerList {
        InnerList {
            items: self.components.iter().map(ComponentId::to_item).collect(),
            params: self.params.clone(),
        }
    }

    /// The covered components, in order.
    pub fn components(&self) -> &[ComponentId] {
        &self.components
    }

    /// `created` (Unix seconds).
    pub fn created(&self) -> Option<i64> {
        int_param(&self.params, "created")
    }

    /// `expires` (Unix seconds).
    pub fn expires(&self) -> Option<i64> {
        int_param(&self.params, "expires")
    }

    /// `nonce`.
    pub fn nonce(&self) -> Option<&str> {
        str_param(&self.params, "nonce")
    }

    /// `keyid`.
    pub fn keyid(&self) -> Option<&str> {
        str_param(&self.params, "keyid")
    }

    /// `alg`.
    pub fn alg(&self) -> Option<&str> {
        str_param(&self.params, "alg")
    }

    /// `tag`.
    pub fn tag(&self) -> Option<&str> {
        str_param(&self.params, "tag")
    }

    /// The serialised inner list: the `@signature-params` value and the `Signature-Input`
    /// member value.
    pub fn serialize(&self) -> String {
        let mut s = String::new();
        sfv::write_inner_list(&mut s, &self.to_inner_list());
        s
    }

    /// The signature base (RFC 9421 §2.5) of a request.
    pub fn request_base(&self, request: &Request) -> Result<String, Error> {
        self.base(Target::Request(request))
    }

    /// The signature base of a response; `request` supplies `;req` components (§2.4).
    pub fn response_base(
        &self,
        response: &Response,
        request: Option<&Request>,
    ) -> Result<String, Error> {
        self.base(Target::Response { response, request })
    }

    pub(crate) fn base(&self, target: Target<'_>) -> Result<String, Error> {
        let mut base = String::new();
        for id in &self.components {
            let value = component_value(target, id)?;
            base.push_str(&id.to_string());
            base.push_str(": ");
            base.push_str(&value);
            base.push('\n');
        }
        base.push_str("\"@signature-params\": ");
        base.push_str(&self.serialize());
        Ok(base)
    }
}

fn check_unique(components: &[ComponentId]) -> Result<(), Error> {
    for (i, c) in components.iter().enumerate() {
        if components.iter().skip(i + 1).any(|d| d == c) {
            return Err(Error::Malformed("a component is covered twice"));
        }
    }
    Ok(())
}

/// The message a base is built from.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Target<'a> {
    Request(&'a Request),
    Response {
        response: &'a Response,
        request: Option<&'a Request>,
    },
}

impl<'a> Target<'a> {
    pub(crate) fn headers(self) -> &'a Fields {
        match self {
            Target::Request(r) => &r.headers,
            Target::Response { response, .. } => &response.headers,
        }
    }

    /// The trailer fields (none for a request: qsafe signs no request trailers).
    pub(crate) fn trailers(self) -> &'a Fields {
        static NONE: Fields = Fields::new();
        match self {
            Target::Request(_) => &NONE,
            Target::Response { response, .. } => &response.trailers,
        }
    }
}

/// RFC 9421 §2.5: component values must be ASCII; control characters other than HTAB
/// (notably CR and LF, which would start a new base line) are refused.
fn check_value(id: &ComponentId, value: &[u8]) -> Result<(), Error> {
    if value
        .iter()
        .all(|&c| c == b'\t' || (0x20..=0x7e).contains(&c))
    {
        Ok(())
    } else {
        Err(Error::ComponentInvalid(id.to_string()))
    }
}

fn component_value(target: Target<'_>, id: &ComponentId) -> Result<String, Error> {
    let missing = || Error::ComponentMissing(id.to_string());
    // Which message the component is read from (§2.4).
    let source = match (target, id.is_req()) {
        (Target::Request(_), true) => {
            return Err(Error::Malformed("`req` on a request signature component"));
        }
        (Target::Request(r), false) => Target::Request(r),
        (Target::Response { request, .. }, true) => Target::Request(request.ok_or_else(missing)?),
        (Target::Response { .. }, false) => target,
    };
    let value = if id.is_derived() {
        derived_value(source, id)?
    } else {
        let fields = if id.is_tr() {
            source.trailers()
        } else {
            source.headers()
        };
        field_value(fields, id)?
    };
    check_value(id, value.as_bytes())?;
    Ok(value)
}

fn derived_value(source: Target<'_>, id: &ComponentId) -> Result<String, Error> {
    let missing = || Error::ComponentMissing(id.to_string());
    if id.name == "@status" {
        return match source {
            Target::Response { response, .. } if (100..=999).contains(&response.status) => {
                Ok(response.status.to_string())
            }
            Target::Response { .. } => Err(Error::ComponentInvalid(id.to_string())),
            Target::Request(_) => Err(missing()),
        };
    }
    let Target::Request(req) = source else {
        return Err(missing());
    };
    let path = if req.path.is_empty() { "/" } else { &req.path };
    if !path.starts_with('/') {
        return Err(Error::ComponentInvalid(id.to_string()));
    }
    let query = req.query.as_deref();
    Ok(match id.name.as_str() {
        "@method" => req.method.clone(),
        "@scheme" => req.scheme.to_ascii_lowercase(),
        "@authority" => normalized_authority(req),
        "@path" => path.to_owned(),
        "@query" => format!("?{}", query.unwrap_or_default()),
        "@request-target" => match query {
            Some(q) => format!("{path}?{q}"),
            None => path.to_owned(),
        },
        "@target-uri" => {
            let mut uri = format!(
                "{}://{}{}",
                req.scheme.to_ascii_lowercase(),
                normalized_authority(req),
                path
            );
            if let Some(q) = query {
                uri.push('?');
                uri.push_str(q);
            }
            uri
        }
        _ => return Err(Error::UnsupportedComponent(id.to_string())),
    })
}

/// RFC 9421 §2.2.3: the authority, lowercased, without the scheme's default port.
fn normalized_authority(req: &Request) -> String {
    let authority = req.authority.to_ascii_lowercase();
    let default_port = match req.scheme.to_ascii_lowercase().as_str() {
        "https" => Some("443"),
        "http" => Some("80"),
        _ => None,
    };
    if let (Some(port), Some((host, p))) = (default_port, authority.rsplit_once(':'))
        && p == port
        && !host.is_empty()
    {
        return host.to_owned();
    }
    authority
}

/// RFC 9421 §2.1: every line of the field, each stripped of leading and trailing whitespace,
/// joined with `", "`; with `bs`, each line as a Byte Sequence (§2.1.3).
fn field_value(fields: &Fields, id: &ComponentId) -> Result<String, Error> {
    let bs = id.params.contains(&ComponentParam::Bs);
    let mut out: Option<String> = None;
    for line in fields.get_all(&id.name) {
        let value = trim_ows(line);
        let s = out.get_or_insert_with(String::new);
        if !s.is_empty() {
            s.push_str(", ");
        }
        if bs {
            s.push(':');
            s.push_str(&STANDARD.encode(value));
            s.push(':');
        } else {
            check_value(id, value)?;
            s.push_str(&String::from_utf8_lossy(value));
        }
    }
    out.ok_or_else(|| Error::ComponentMissing(id.to_string()))
}

fn trim_ows(mut v: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = v {
        v = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = v {
        v = rest;
    }
    v
}

/// One signature of a message: its label, input and signature bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedSignature {
    /// Dictionary key shared by `Signature-Input` and `Signature` (`sig1`).
    pub label: String,
    /// Covered components and parameters.
    pub input: SignatureInput,
    /// The signature bytes, or `None` when `Signature` has no member with this label.
    pub signature: Option<Vec<u8>>,
}

/// Parses a `Signature-Input` field value into `(label, input)` pairs (RFC 9421 §4.1).
pub fn parse_signature_input(value: &str) -> Result<Vec<(String, SignatureInput)>, Error> {
    if value.len() > MAX_SIGNATURE_INPUT_LEN {
        return Err(Error::Malformed("Signature-Input too long"));
    }
    let dict = sfv::parse_dictionary(value).map_err(|e| Error::Malformed(e.0))?;
    dict.iter()
        .map(|(label, member)| match member {
            Member::InnerList(list) => Ok((label.clone(), SignatureInput::from_inner_list(list)?)),
            Member::Item(_) => Err(Error::Malformed(
                "Signature-Input member is not an inner list",
            )),
        })
        .collect()
}

/// Parses a `Signature` field value into `(label, bytes)` pairs (RFC 9421 §4.2).
pub fn parse_signature(value: &str) -> Result<Vec<(String, Vec<u8>)>, Error> {
    if value.len() > MAX_SIGNATURE_LEN {
        return Err(Error::Malformed("Signature too long"));
    }
    let dict = sfv::parse_dictionary(value).map_err(|e| Error::Malformed(e.0))?;
    dict.into_iter()
        .map(|(label, member)| match member {
            Member::Item(Item {
                bare: BareItem::ByteSeq(bytes),
                ..
            }) => Ok((label, bytes)),
            _ => Err(Error::Malformed("Signature member is not a byte sequence")),
        })
        .collect()
}

/// Every signature in `fields` (`Signature-Input` members paired with `Signature` members by
/// label). Fails when either field does not parse; an input without a matching signature is
/// returned with `signature: None`.
pub fn parse_signatures(fields: &Fields) -> Result<Vec<ParsedSignature>, Error> {
    let inputs = match fields.combined_ascii("signature-input", MAX_SIGNATURE_INPUT_LEN) {
        None => return Err(Error::MissingSignature("no Signature-Input field")),
        Some(Err(e)) => return Err(Error::Malformed(e)),
        Some(Ok(v)) => parse_signature_input(&v)?,
    };
    let mut signatures = match fields.combined_ascii("signature", MAX_SIGNATURE_LEN) {
        None => return Err(Error::MissingSignature("no Signature field")),
        Some(Err(e)) => return Err(Error::Malformed(e)),
        Some(Ok(v)) => parse_signature(&v)?,
    };
    Ok(inputs
        .into_iter()
        .map(|(label, input)| {
            let signature = signatures
                .iter()
                .position(|(l, _)| *l == label)
                .map(|i| signatures.swap_remove(i).1);
            ParsedSignature {
                label,
                input,
                signature,
            }
        })
        .collect())
}

/// The `Signature-Input` and `Signature` member values a signer adds (each is one dictionary
/// member, `label=…`, so they can be appended as new field lines next to existing signatures).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureHeaders {
    /// The label.
    pub label: String,
    /// `Signature-Input` field value (`sig1=(…);created=…`).
    pub signature_input: String,
    /// `Signature` field value (`sig1=:…:`).
    pub signature: String,
}

impl SignatureHeaders {
    pub(crate) fn new(label: &str, input: &SignatureInput, signature: Vec<u8>) -> Self {
        let mut signature_input = String::new();
        sfv::write_member(
            &mut signature_input,
            label,
            &Member::InnerList(input.to_inner_list()),
        );
        let mut sig = String::new();
        sfv::write_member(
            &mut sig,
            label,
            &Member::Item(Item {
                bare: BareItem::ByteSeq(signature),
                params: Vec::new(),
            }),
        );
        SignatureHeaders {
            label: label.to_owned(),
            signature_input,
            signature: sig,
        }
    }

    /// Appends the two field lines to `fields`.
    pub fn apply(&self, fields: &mut Fields) {
        fields.append("signature-input", &self.signature_input);
        fields.append("signature", &self.signature);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req() -> Request {
        Request::from_target_uri("POST", "https://Example.COM:443/foo?param=Value&Pet=dog")
            .unwrap()
            .with_header("Host", "example.com")
            .with_header("X-Multi", "  a ")
            .with_header("x-multi", "b\t")
            .with_header("X-Empty", "")
    }

    fn value(id: &str) -> Result<String, Error> {
        component_value(Target::Request(&req()), &ComponentId::new(id).unwrap())
    }

    #[test]
    fn derived_request_components_rfc9421_2_2() {
        assert_eq!(value("@method").unwrap(), "POST");
        assert_eq!(
            value("@target-uri").unwrap(),
            "https://example.com/foo?param=Value&Pet=dog"
        );
        assert_eq!(value("@authority").unwrap(), "example.com");
        assert_eq!(value("@scheme").unwrap(), "https");
        assert_eq!(
            value("@request-target").unwrap(),
            "/foo?param=Value&Pet=dog"
        );
        assert_eq!(value("@path").unwrap(), "/foo");
        assert_eq!(value("@query").unwrap(), "?param=Value&Pet=dog");
        assert!(matches!(value("@status"), Err(Error::ComponentMissing(_))));
        // §2.2.7: no query is "?"; an empty path is "/".
        let bare = Request::new("GET", "http", "h:8080", "");
        let t = Target::Request(&bare);
        let v = |n: &str| component_value(t, &ComponentId::new(n).unwrap()).unwrap();
        assert_eq!(v("@query"), "?");
        assert_eq!(v("@path"), "/");
        assert_eq!(v("@authority"), "h:8080");
        assert_eq!(v("@target-uri"), "http://h:8080/");
    }

    #[test]
    fn fields_rfc9421_2_1() {
        assert_eq!(value("x-multi").unwrap(), "a, b");
        assert_eq!(value("x-empty").unwrap(), "");
        assert!(matches!(value("x-absent"), Err(Error::ComponentMissing(_))));
        let bs = ComponentId::new("x-multi").unwrap().bs().unwrap();
        assert_eq!(
            component_value(Target::Request(&req()), &bs).unwrap(),
            ":YQ==:, :Yg==:"
        );
        assert_eq!(bs.to_string(), "\"x-multi\";bs");
    }

    #[test]
    fn refuses_line_breaks_and_non_ascii() {
        let r = Request::new("GET", "https", "h", "/a\nb");
        let id = ComponentId::new("@path").unwrap();
        assert!(matches!(
            component_value(Target::Request(&r), &id),
            Err(Error::ComponentInvalid(_))
        ));
        let r = Request::new("GET", "https", "h", "/").with_header("x", "caf\u{e9}");
        let id = ComponentId::new("x").unwrap();
        assert!(matches!(
            component_value(Target::Request(&r), &id),
            Err(Error::ComponentInvalid(_))
        ));
        // with bs the raw bytes are fine
        let id = id.bs().unwrap();
        assert!(component_value(Target::Request(&r), &id).is_ok());
    }

    #[test]
    fn component_names() {
        assert!(ComponentId::new("Content-Type").is_err());
        assert!(ComponentId::new("").is_err());
        assert!(ComponentId::new("a b").is_err());
        assert!(matches!(
            ComponentId::new("@query-param"),
            Err(Error::UnsupportedComponent(_))
        ));
        assert!(matches!(
            ComponentId::new("@signature-params"),
            Err(Error::Malformed(_))
        ));
        assert!(ComponentId::new("@method").unwrap().bs().is_err());
        assert_eq!(
            ComponentId::new("@authority").unwrap().req().to_string(),
            "\"@authority\";req"
        );
    }

    #[test]
    fn parses_and_reserialises_inputs() {
        let v = r#"sig1=("@method" "x";bs;req);created=1;keyid="k";ext=tok;alg="ed25519", sig2=();nonce="n""#;
        let parsed = parse_signature_input(v).unwrap();
        assert_eq!(parsed.len(), 2);
        assert_eq!(
            parsed[0].1.serialize(),
            r#"("@method" "x";bs;req);created=1;keyid="k";ext=tok;alg="ed25519""#
        );
        assert_eq!(parsed[0].1.keyid(), Some("k"));
        assert_eq!(parsed[1].1.nonce(), Some("n"));
        for bad in [
            r#"sig1="x""#,
            r#"sig1=("@method" "@method")"#,
            r#"sig1=(1)"#,
            r#"sig1=("x";sf)"#,
            r#"sig1=("x";req=?0)"#,
            r#"sig1=("@method");created="1""#,
            r#"sig1=("@method");keyid=k"#,
            r#"sig1=("@signature-params")"#,
        ] {
            assert!(parse_signature_input(bad).is_err(), "{bad}");
        }
    }
}
