//! RFC 9530 `Content-Digest`: a Dictionary of `algorithm=:digest:` members over the message
//! content (the body after transfer coding is removed, before content coding is undone).
//!
//! Only `sha-256` and `sha-512` (the "Active" algorithms of RFC 9530 §7.2) are produced and
//! checked; every other member (`md5`, `sha`, `unixsum`, …) is ignored, as RFC 9530 §3 allows.
//! A value is accepted only when at least one supported member is present and **every**
//! supported member matches.

use qsafe_core::symmetric::{Hash, Hasher};

use super::Error;
use super::sfv::{self, BareItem, Item, Member};

/// Longest `Content-Digest` value parsed.
pub const MAX_CONTENT_DIGEST_LEN: usize = 4096;

/// A `Content-Digest` algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestAlgorithm {
    /// `sha-256` (RFC 9530 §5).
    Sha256,
    /// `sha-512`.
    Sha512,
}

impl DigestAlgorithm {
    /// The dictionary key.
    pub fn key(self) -> &'static str {
        match self {
            DigestAlgorithm::Sha256 => "sha-256",
            DigestAlgorithm::Sha512 => "sha-512",
        }
    }

    /// The algorithm for a dictionary key.
    pub fn from_key(key: &str) -> Option<Self> {
        match key {
            "sha-256" => Some(DigestAlgorithm::Sha256),
            "sha-512" => Some(DigestAlgorithm::Sha512),
            _ => None,
        }
    }

    fn hash(self) -> Hash {
        match self {
            DigestAlgorithm::Sha256 => Hash::Sha256,
            DigestAlgorithm::Sha512 => Hash::Sha512,
        }
    }

    fn len(self) -> usize {
        match self {
            DigestAlgorithm::Sha256 => 32,
            DigestAlgorithm::Sha512 => 64,
        }
    }
}

/// The `Content-Digest` field value for `body` with each of `algorithms`
/// (`sha-512=:…:` or `sha-256=:…:, sha-512=:…:`).
pub fn content_digest(body: &[u8], algorithms: &[DigestAlgorithm]) -> String {
    let dict: sfv::Dictionary = algorithms
        .iter()
        .map(|alg| {
            (
                alg.key().to_owned(),
                Member::Item(Item {
                    bare: BareItem::ByteSeq(alg.hash().digest(body)),
                    params: Vec::new(),
                }),
            )
        })
        .collect();
    sfv::write_dictionary(&dict)
}

/// Computes a `Content-Digest` over a body sent in pieces (a streamed response, whose digest
/// goes in a trailer).
#[derive(Debug)]
pub struct DigestWriter {
    alg: DigestAlgorithm,
    hasher: Hasher,
}

impl DigestWriter {
    /// A digest with `alg`.
    pub fn new(alg: DigestAlgorithm) -> Self {
        DigestWriter {
            alg,
            hasher: Hasher::new(alg.hash()),
        }
    }

    /// Absorbs the next piece of the body.
    pub fn update(&mut self, data: &[u8]) {
        self.hasher.update(data);
    }

    /// The field value (`sha-512=:…:`).
    pub fn finish(self) -> String {
        let dict: sfv::Dictionary = vec![(
            self.alg.key().to_owned(),
            Member::Item(Item {
                bare: BareItem::ByteSeq(self.hasher.finish()),
                params: Vec::new(),
            }),
        )];
        sfv::write_dictionary(&dict)
    }
}

/// Checks `body` against a `Content-Digest` field value. Returns the algorithms checked.
pub fn verify_content_digest(value: &str, body: &[u8]) -> Result<Vec<DigestAlgorithm>, Error> {
    let mut check = DigestCheck::new(value)?;
    check.update(body);
    check.finish()
}

/// An incremental `Content-Digest` check for streamed bodies.
#[derive(Debug)]
pub struct DigestCheck {
    expected: Vec<(DigestAlgorithm, Vec<u8>, Hasher)>,
}

impl DigestCheck {
    /// Parses the `Content-Digest` value; fails when it is malformed or names no supported
    /// algorithm.
    pub fn new(value: &str) -> Result<Self, Error> {
        if value.len() > MAX_CONTENT_DIGEST_LEN {
            return Err(Error::DigestMalformed("too long"));
        }
        let dict = sfv::parse_dictionary(value).map_err(|e| Error::DigestMalformed(e.0))?;
        let mut expected = Vec::new();
        for (key, member) in dict {
            let Some(alg) = DigestAlgorithm::from_key(&key) else {
                continue;
            };
            let Member::Item(Item {
                bare: BareItem::ByteSeq(digest),
                ..
            }) = member
            else {
                return Err(Error::DigestMalformed("a digest is not a byte sequence"));
            };
            if digest.len() != alg.len() {
                return Err(Error::DigestMalformed("a digest has the wrong length"));
            }
            expected.push((alg, digest, Hasher::new(alg.hash())));
        }
        if expected.is_empty() {
            return Err(Error::DigestUnsupported);
        }
        Ok(DigestCheck { expected })
    }

    /// Absorbs the next piece of the body.
    pub fn update(&mut self, data: &[u8]) {
        for (_, _, hasher) in &mut self.expected {
            hasher.update(data);
        }
    }

    /// Compares every digest.
    pub fn finish(self) -> Result<Vec<DigestAlgorithm>, Error> {
        let mut checked = Vec::new();
        for (alg, want, hasher) in self.expected {
            if hasher.finish() != want {
                return Err(Error::DigestMismatch(alg.key()));
            }
            checked.push(alg);
        }
        Ok(checked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 9530 Appendix B.1 ({"hello": "world"}) and RFC 9421 Appendix B.2 (test-request).
    const HELLO: &[u8] = b"{\"hello\": \"world\"}";
    const HELLO_SHA256: &str = "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:";
    const HELLO_SHA512: &str = "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:";

    #[test]
    fn rfc_examples() {
        assert_eq!(
            content_digest(HELLO, &[DigestAlgorithm::Sha256]),
            HELLO_SHA256
        );
        assert_eq!(
            content_digest(HELLO, &[DigestAlgorithm::Sha512]),
            HELLO_SHA512
        );
        assert_eq!(
            verify_content_digest(&format!("{HELLO_SHA256}, {HELLO_SHA512}"), HELLO).unwrap(),
            [DigestAlgorithm::Sha256, DigestAlgorithm::Sha512]
        );
    }

    #[test]
    fn verdicts() {
        assert_eq!(
            verify_content_digest(HELLO_SHA256, b"{\"hello\": \"World\"}"),
            Err(Error::DigestMismatch("sha-256"))
        );
        // unknown algorithms are ignored, but something must be checked
        assert_eq!(
            verify_content_digest(&format!("md5=:AAAA:, {HELLO_SHA512}"), HELLO).unwrap(),
            [DigestAlgorithm::Sha512]
        );
        assert_eq!(
            verify_content_digest("md5=:AAAA:", HELLO),
            Err(Error::DigestUnsupported)
        );
        assert_eq!(
            verify_content_digest("", HELLO),
            Err(Error::DigestUnsupported)
        );
        // one good, one bad: refused
        let bad = format!("{HELLO_SHA256}, sha-512=:{}:", "A".repeat(86) + "==");
        assert_eq!(
            verify_content_digest(&bad, HELLO),
            Err(Error::DigestMismatch("sha-512"))
        );
        assert!(matches!(
            verify_content_digest("sha-256=\"x\"", HELLO),
            Err(Error::DigestMalformed(_))
        ));
        assert!(matches!(
            verify_content_digest("sha-256=:AAAA:", HELLO),
            Err(Error::DigestMalformed(_))
        ));
        assert!(matches!(
            verify_content_digest("sha-256=:", HELLO),
            Err(Error::DigestMalformed(_))
        ));
    }

    #[test]
    fn streaming_matches_one_shot() {
        let header = content_digest(HELLO, &[DigestAlgorithm::Sha256, DigestAlgorithm::Sha512]);
        let mut check = DigestCheck::new(&header).unwrap();
        for chunk in HELLO.chunks(5) {
            check.update(chunk);
        }
        assert_eq!(check.finish().unwrap().len(), 2);
    }
}
