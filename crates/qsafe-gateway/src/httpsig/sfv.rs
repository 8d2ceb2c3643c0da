//! The part of RFC 8941 (Structured Field Values for HTTP) that RFC 9421 and RFC 9530 need:
//! Dictionaries (§3.2) whose members are Items or Inner Lists (§3.1.1), with Parameters
//! (§3.1.2), over every RFC 8941 bare item type (§3.3). Parsing follows §4.2, serialisation §4.1.
//!
//! The input is attacker-controlled, so this parser is stricter than RFC 8941 in three ways,
//! all of which fail closed:
//!
//! - **Size limits** ([`MAX_INPUT`], [`MAX_MEMBERS`], [`MAX_INNER_ITEMS`], [`MAX_PARAMS`],
//!   [`MAX_KEY`], [`MAX_STRING`]), far below the minimums RFC 8941 §3 asks general-purpose
//!   parsers to support, but well above what a signature profile uses.
//! - **Duplicate keys** in a Dictionary or a Parameters list are rejected. RFC 8941 would keep
//!   the last value; for a signature a field that means two things is refused.
//! - Byte Sequences must be canonical-alphabet base64 (padding optional, as §4.2.7 allows).
//!
//! No recursion beyond one level (Inner Lists cannot nest), no indexing, no panics.

use base64::Engine as _;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};

/// Longest field value parsed (bytes).
pub(crate) const MAX_INPUT: usize = 64 * 1024;
/// Most members in a Dictionary.
pub(crate) const MAX_MEMBERS: usize = 16;
/// Most items in an Inner List (covered components of one signature).
pub(crate) const MAX_INNER_ITEMS: usize = 32;
/// Most parameters on one Item or Inner List.
pub(crate) const MAX_PARAMS: usize = 16;
/// Longest key (dictionary member or parameter name).
pub(crate) const MAX_KEY: usize = 64;
/// Longest String (characters after unescaping).
pub(crate) const MAX_STRING: usize = 1024;

/// A bare item (RFC 8941 §3.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BareItem {
    /// Integer, at most 15 digits.
    Integer(i64),
    /// Decimal, held as thousandths (at most 12 integer and 3 fractional digits).
    Decimal(i64),
    /// String of printable ASCII.
    String(String),
    /// Token.
    Token(String),
    /// Byte Sequence.
    ByteSeq(Vec<u8>),
    /// Boolean.
    Boolean(bool),
}

/// Parameters, in order, keys unique.
pub(crate) type Params = Vec<(String, BareItem)>;

/// An Item: a bare item with parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Item {
    pub(crate) bare: BareItem,
    pub(crate) params: Params,
}

/// An Inner List with its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InnerList {
    pub(crate) items: Vec<Item>,
    pub(crate) params: Params,
}

/// A Dictionary member value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Member {
    Item(Item),
    InnerList(InnerList),
}

/// A Dictionary, in order, keys unique.
pub(crate) type Dictionary = Vec<(String, Member)>;

/// Why a field value did not parse. The reason is a fixed string (never echoes input).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ParseError(pub(crate) &'static str);

type Result<T> = core::result::Result<T, ParseError>;

/// Looks a parameter up by key.
pub(crate) fn param<'a>(params: &'a Params, key: &str) -> Option<&'a BareItem> {
    params.iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

/// Parses a Dictionary field value (RFC 8941 §4.2 with §4.2.2). Several field lines are
/// combined by the caller with `", "` first.
pub(crate) fn parse_dictionary(input: &str) -> Result<Dictionary> {
    if input.len() > MAX_INPUT {
        return Err(ParseError("field value too long"));
    }
    let mut p = Parser {
        s: input.as_bytes(),
        pos: 0,
    };
    p.skip_sp();
    let dict = p.dictionary()?;
    p.skip_sp();
    if !p.at_end() {
        return Err(ParseError("trailing characters"));
    }
    Ok(dict)
}

struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
}

fn is_lcalpha(c: u8) -> bool {
    c.is_ascii_lowercase()
}

fn is_tchar(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    fn bump(&mut self) {
        self.pos = self.pos.saturating_add(1);
    }

    fn at_end(&self) -> bool {
        self.pos >= self.s.len()
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.bump();
            true
        } else {
            false
        }
    }

    fn skip_sp(&mut self) {
        while self.peek() == Some(b' ') {
            self.bump();
        }
    }

    fn skip_ows(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.bump();
        }
    }

    /// §4.2.2
    fn dictionary(&mut self) -> Result<Dictionary> {
        let mut dict: Dictionary = Vec::new();
        while !self.at_end() {
            let key = self.key()?;
            let member = if self.eat(b'=') {
                self.item_or_inner_list()?
            } else {
                Member::Item(Item {
                    bare: BareItem::Boolean(true),
                    params: self.parameters()?,
                })
            };
            if dict.iter().any(|(k, _)| *k == key) {
                return Err(ParseError("duplicate dictionary key"));
            }
            if dict.len() >= MAX_MEMBERS {
                return Err(ParseError("too many dictionary members"));
            }
            dict.push((key, member));
            self.skip_ows();
            if self.at_end() {
                return Ok(dict);
            }
            if !self.eat(b',') {
                return Err(ParseError("expected `,` between dictionary members"));
            }
            self.skip_ows();
            if self.at_end() {
                return Err(ParseError("trailing `,`"));
            }
        }
        Ok(dict)
    }

    /// §4.2.1.1
    fn item_or_inner_list(&mut self) -> Result<Member> {
        if self.peek() == Some(b'(') {
            Ok(Member::InnerList(self.inner_list()?))
        } else {
            Ok(Member::Item(self.item()?))
        }
    }

    /// §4.2.1.2
    fn inner_list(&mut self) -> Result<InnerList> {
        if !self.eat(b'(') {
            return Err(ParseError("expected `(`"));
        }
        let mut items = Vec::new();
        loop {
            self.skip_sp();
            match self.peek() {
                None => return Err(ParseError("unterminated inner list")),
                Some(b')') => {
                    self.bump();
                    let params = self.parameters()?;
                    return Ok(InnerList { items, params });
                }
                Some(_) => {
                    if items.len() >= MAX_INNER_ITEMS {
                        return Err(ParseError("too many inner list items"));
                    }
                    items.push(self.item()?);
                    match self.peek() {
                        Some(b' ' | b')') => {}
                        _ => return Err(ParseError("expected SP or `)` in inner list")),
                    }
                }
            }
        }
    }

    /// §4.2.3
    fn item(&mut self) -> Result<Item> {
        let bare = self.bare_item()?;
        let params = self.parameters()?;
        Ok(Item { bare, params })
    }

    /// §4.2.3.2
    fn parameters(&mut self) -> Result<Params> {
        let mut params: Params = Vec::new();
        while self.eat(b';') {
            self.skip_sp();
            let key = self.key()?;
            let value = if self.eat(b'=') {
                self.bare_item()?
            } else {
                BareItem::Boolean(true)
            };
            if params.iter().any(|(k, _)| *k == key) {
                return Err(ParseError("duplicate parameter"));
            }
            if params.len() >= MAX_PARAMS {
                return Err(ParseError("too many parameters"));
            }
            params.push((key, value));
        }
        Ok(params)
    }

    /// §4.2.3.3
    fn key(&mut self) -> Result<String> {
        match self.peek() {
            Some(c) if is_lcalpha(c) || c == b'*' => {}
            _ => {
                return Err(ParseError(
                    "a key must start with a lowercase letter or `*`",
                ));
            }
        }
        let start = self.pos;
        while let Some(c) = self.peek() {
            if is_lcalpha(c) || c.is_ascii_digit() || matches!(c, b'_' | b'-' | b'.' | b'*') {
                self.bump();
            } else {
                break;
            }
        }
        let bytes = self.s.get(start..self.pos).unwrap_or_default();
        if bytes.len() > MAX_KEY {
            return Err(ParseError("key too long"));
        }
        Ok(String::from_utf8_lossy(bytes).into_owned())
    }

    /// §4.2.3.1
    fn bare_item(&mut self) -> Result<BareItem> {
        match self.peek() {
            Some(b'-') => self.number(),
            Some(c) if c.is_ascii_digit() => self.number(),
            Some(b'"') => self.string(),
            Some(b':') => self.byte_seq(),
            Some(b'?') => self.boolean(),
            Some(c) if c.is_ascii_alphabetic() || c == b'*' => self.token(),
            _ => Err(ParseError("expected a bare item")),
        }
    }

    /// §4.2.4
    fn number(&mut self) -> Result<BareItem> {
        let negative = self.eat(b'-');
        let mut int_digits: Vec<u8> = Vec::new();
        let mut frac_digits: Option<Vec<u8>> = None;
        match self.peek() {
            Some(c) if c.is_ascii_digit() => {}
            _ => return Err(ParseError("expected a digit")),
        }
        while let Some(c) = self.peek() {
            if c.is_ascii_digit() {
                match frac_digits.as_mut() {
                    Some(f) => f.push(c),
                    None => int_digits.push(c),
                }
                self.bump();
            } else if c == b'.' && frac_digits.is_none() {
                if int_digits.len() > 12 {
                    return Err(ParseError("decimal with more than 12 integer digits"));
                }
                frac_digits = Some(Vec::new());
                self.bump();
            } else {
                break;
            }
            let len = int_digits.len() + frac_digits.as_ref().map_or(0, |f| f.len() + 1);
            if frac_digits.is_none() && len > 15 {
                return Err(ParseError("integer with more than 15 digits"));
            }
            if frac_digits.is_some() && len > 16 {
                return Err(ParseError("decimal too long"));
            }
        }
        let int_value = digits_value(&int_digits);
        let sign = if negative { -1 } else { 1 };
        match frac_digits {
            None => Ok(BareItem::Integer(sign * int_value)),
            Some(f) if f.is_empty() => Err(ParseError("decimal ends with `.`")),
            Some(f) if f.len() > 3 => Err(ParseError("decimal with more than 3 fraction digits")),
            Some(f) => {
                let mut thousandths = digits_value(&f);
                for _ in f.len()..3 {
                    thousandths *= 10;
                }
                Ok(BareItem::Decimal(sign * (int_value * 1000 + thousandths)))
            }
        }
    }

    /// §4.2.5
    fn string(&mut self) -> Result<BareItem> {
        if !self.eat(b'"') {
            return Err(ParseError("expected `\"`"));
        }
        let mut out = String::new();
        loop {
            let Some(c) = self.peek() else {
                return Err(ParseError("unterminated string"));
            };
            self.bump();
            match c {
                b'\\' => match self.peek() {
                    Some(e @ (b'"' | b'\\')) => {
                        self.bump();
                        out.push(char::from(e));
                    }
                    _ => return Err(ParseError("bad escape in string")),
                },
                b'"' => return Ok(BareItem::String(out)),
                0x20..=0x7e => out.push(char::from(c)),
                _ => return Err(ParseError("non-printable character in string")),
            }
            if out.len() > MAX_STRING {
                return Err(ParseError("string too long"));
            }
        }
    }

    /// §4.2.6
    fn token(&mut self) -> Result<BareItem> {
        let start = self.pos;
        self.bump(); // first character checked by bare_item
        while let Some(c) = self.peek() {
            if is_tchar(c) || c == b':' || c == b'/' {
                self.bump();
            } else {
                break;
            }
        }
        let bytes = self.s.get(start..self.pos).unwrap_or_default();
        if bytes.len() > MAX_STRING {
            return Err(ParseError("token too long"));
        }
        Ok(BareItem::Token(String::from_utf8_lossy(bytes).into_owned()))
    }

    /// §4.2.7
    fn byte_seq(&mut self) -> Result<BareItem> {
        if !self.eat(b':') {
            return Err(ParseError("expected `:`"));
        }
        let start = self.pos;
        loop {
            match self.peek() {
                None => return Err(ParseError("unterminated byte sequence")),
                Some(b':') => break,
                Some(c) if c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'=') => {
                    self.bump()
                }
                Some(_) => return Err(ParseError("bad character in byte sequence")),
            }
        }
        let b64 = self.s.get(start..self.pos).unwrap_or_default();
        self.bump(); // closing ':'
        BASE64_LENIENT_PADDING
            .decode(b64)
            .map(BareItem::ByteSeq)
            .map_err(|_| ParseError("bad base64 in byte sequence"))
    }

    /// §4.2.8
    fn boolean(&mut self) -> Result<BareItem> {
        if !self.eat(b'?') {
            return Err(ParseError("expected `?`"));
        }
        if self.eat(b'1') {
            Ok(BareItem::Boolean(true))
        } else if self.eat(b'0') {
            Ok(BareItem::Boolean(false))
        } else {
            Err(ParseError("boolean must be ?0 or ?1"))
        }
    }
}

/// Value of at most 15 ASCII digits (the callers bound the count, so no overflow).
fn digits_value(digits: &[u8]) -> i64 {
    digits
        .iter()
        .fold(0i64, |acc, d| acc * 10 + i64::from(d - b'0'))
}

/// RFC 8941 §4.2.7: padding is optional on input; the alphabet and trailing bits are strict.
const BASE64_LENIENT_PADDING: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_encode_padding(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

// ---- serialisation (§4.1) ---------------------------------------------------------------------

/// Largest magnitude of an Integer (§3.3.1).
pub(crate) const MAX_INTEGER: i64 = 999_999_999_999_999;

/// True when `s` can be serialised as a String (printable ASCII, §3.3.3).
pub(crate) fn is_valid_string(s: &str) -> bool {
    s.len() <= MAX_STRING && s.bytes().all(|c| (0x20..=0x7e).contains(&c))
}

/// True when `s` is a valid key (§3.1.2).
pub(crate) fn is_valid_key(s: &str) -> bool {
    let mut bytes = s.bytes();
    matches!(bytes.next(), Some(c) if is_lcalpha(c) || c == b'*')
        && s.len() <= MAX_KEY
        && bytes
            .all(|c| is_lcalpha(c) || c.is_ascii_digit() || matches!(c, b'_' | b'-' | b'.' | b'*'))
}

/// Serialises a bare item. Values built by this crate are validated on construction; parsed
/// values are valid by construction.
pub(crate) fn write_bare(out: &mut String, item: &BareItem) {
    match item {
        BareItem::Integer(i) => out.push_str(&i.to_string()),
        BareItem::Decimal(t) => {
            if *t < 0 {
                out.push('-');
            }
            let abs = t.unsigned_abs();
            out.push_str(&(abs / 1000).to_string());
            out.push('.');
            let frac = format!("{:03}", abs % 1000);
            let trimmed = frac.trim_end_matches('0');
            out.push_str(if trimmed.is_empty() { "0" } else { trimmed });
        }
        BareItem::String(s) => {
            out.push('"');
            for c in s.chars() {
                if c == '"' || c == '\\' {
                    out.push('\\');
                }
                out.push(c);
            }
            out.push('"');
        }
        BareItem::Token(t) => out.push_str(t),
        BareItem::ByteSeq(b) => {
            out.push(':');
            out.push_str(&STANDARD.encode(b));
            out.push(':');
        }
        BareItem::Boolean(b) => out.push_str(if *b { "?1" } else { "?0" }),
    }
}

/// Serialises parameters (§4.1.1.2).
pub(crate) fn write_params(out: &mut String, params: &Params) {
    for (key, value) in params {
        out.push(';');
        out.push_str(key);
        if *value != BareItem::Boolean(true) {
            out.push('=');
            write_bare(out, value);
        }
    }
}

/// Serialises an Item.
pub(crate) fn write_item(out: &mut String, item: &Item) {
    write_bare(out, &item.bare);
    write_params(out, &item.params);
}

/// Serialises an Inner List (§4.1.1.1).
pub(crate) fn write_inner_list(out: &mut String, list: &InnerList) {
    out.push('(');
    for (i, item) in list.items.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        write_item(out, item);
    }
    out.push(')');
    write_params(out, &list.params);
}

/// Serialises one Dictionary member `key=value` (§4.1.2).
pub(crate) fn write_member(out: &mut String, key: &str, member: &Member) {
    out.push_str(key);
    match member {
        Member::Item(item) if item.bare == BareItem::Boolean(true) => {
            write_params(out, &item.params);
        }
        Member::Item(item) => {
            out.push('=');
            write_item(out, item);
        }
        Member::InnerList(list) => {
            out.push('=');
            write_inner_list(out, list);
        }
    }
}

/// Serialises a Dictionary.
pub(crate) fn write_dictionary(dict: &Dictionary) -> String {
    let mut out = String::new();
    for (i, (key, member)) in dict.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        write_member(&mut out, key, member);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(input: &str) -> String {
        write_dictionary(&parse_dictionary(input).unwrap())
    }

    #[test]
    fn parses_rfc9421_signature_input() {
        let input = r#"sig1=("@method" "@target-uri" "content-digest";req);created=1618884473;keyid="test-key";alg="ml-dsa-65""#;
        let dict = parse_dictionary(input).unwrap();
        assert_eq!(dict.len(), 1);
        let (label, Member::InnerList(list)) = &dict[0] else {
            panic!("not an inner list")
        };
        assert_eq!(label, "sig1");
        assert_eq!(list.items.len(), 3);
        assert_eq!(
            list.items[2].params,
            vec![("req".into(), BareItem::Boolean(true))]
        );
        assert_eq!(
            param(&list.params, "created"),
            Some(&BareItem::Integer(1618884473))
        );
        assert_eq!(round_trip(input), input);
    }

    #[test]
    fn canonicalises_whitespace_and_padding() {
        assert_eq!(
            round_trip("  a=1 ,\tb=:AQI:;x, c;y=?0  "),
            "a=1, b=:AQI=:;x, c;y=?0"
        );
        assert_eq!(round_trip("a=( 1  2 )"), "a=(1 2)");
        assert_eq!(round_trip(""), "");
    }

    #[test]
    fn all_bare_item_types() {
        let input = r#"a=-15, b=1.5, c=-0.125, d="q\"\\", e=tok/en:x, f=:aGk=:, g=?0, h=?1, i"#;
        assert_eq!(
            round_trip(input),
            r#"a=-15, b=1.5, c=-0.125, d="q\"\\", e=tok/en:x, f=:aGk=:, g=?0, h, i"#
        );
        assert_eq!(round_trip("a=1.000"), "a=1.0");
        assert_eq!(round_trip("a=999999999999999"), "a=999999999999999");
        assert_eq!(round_trip("a=999999999999.999"), "a=999999999999.999");
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            "a=1,",
            "a=1,,b=2",
            "A=1",
            "a=1 b=2",
            "a=(1",
            "a=(1)(2)",
            "a=1000000000000000",
            "a=1234567890123.1",
            "a=1.",
            "a=1.1234",
            "a=--1",
            "a=\"unterminated",
            "a=\"bad\\escape\"",
            "a=\"tab\there\"",
            "a=:not base64!:",
            "a=:AQI",
            "a=?2",
            "a=1, a=2",
            "a=1;p;p",
            "a=\u{e9}",
            "a=((1))",
            "a=1;",
            "a=1;P=1",
            "a=#",
        ] {
            assert!(parse_dictionary(bad).is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn enforces_limits() {
        let members: Vec<String> = (0..=MAX_MEMBERS).map(|i| format!("k{i}=1")).collect();
        assert!(parse_dictionary(&members.join(", ")).is_err());
        let items = vec!["1"; MAX_INNER_ITEMS + 1].join(" ");
        assert!(parse_dictionary(&format!("a=({items})")).is_err());
        let params: String = (0..=MAX_PARAMS).map(|i| format!(";p{i}")).collect();
        assert!(parse_dictionary(&format!("a=1{params}")).is_err());
        assert!(parse_dictionary(&format!("{}=1", "k".repeat(MAX_KEY + 1))).is_err());
        assert!(parse_dictionary(&format!("a=\"{}\"", "s".repeat(MAX_STRING + 1))).is_err());
        assert!(parse_dictionary(&"a".repeat(MAX_INPUT + 1)).is_err());
    }
}
