//! The `key_id` this plugin reports: which store key and version wrapped a DEK seed.
//!
//! `qsafe:<name>:v<version>:sha256:<16 hex>` — the key name (`[a-z0-9][a-z0-9._-]{0,62}`, so
//! never a `:`), the version in decimal without leading zeros, and the first 16 hex digits
//! (64 bits) of the version's `sha256:` public-key fingerprint. Example:
//! `qsafe:k8s-secrets:v3:sha256:9f86d081884c7d65`.
//!
//! kube-apiserver treats the key id as opaque: it compares the one `Status` returns with the
//! one stored beside each object to decide that the object is stale and should be rewritten
//! (KEP-3299, "Status API"), and it refuses ids that are empty or longer than 1 KiB
//! (`ValidateKeyID` in `staging/src/k8s.io/apiserver/pkg/storage/value/encrypt/envelope/kmsv2/envelope.go`).
//! The version changes on every rotation, so the apiserver notices a rotation at its next
//! `Status` poll. The fingerprint prefix changes too when a store is rebuilt and a name's
//! version 1 is a different key, so an id can never silently refer to another key.

use crate::{Error, Result};

/// Longest key id kube-apiserver accepts (`KeyIDMaxSize`, 1 KiB).
pub const MAX_KEY_ID_LEN: usize = 1024;

/// Hex digits of the fingerprint kept in the id.
pub const FINGERPRINT_HEX_LEN: usize = 16;

const PREFIX: &str = "qsafe";
const FINGERPRINT_SCHEME: &str = "sha256";

/// A parsed key id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyId {
    /// Store key name.
    pub name: String,
    /// Key version.
    pub version: u32,
    /// The first [`FINGERPRINT_HEX_LEN`] lowercase hex digits of the public-key fingerprint.
    pub fingerprint_prefix: String,
}

impl KeyId {
    /// The id of `version` of key `name` whose fingerprint is `fingerprint`
    /// (`sha256:<64 hex>`, as the store records it).
    pub fn new(name: &str, version: u32, fingerprint: &str) -> Result<KeyId> {
        let hex = fingerprint
            .strip_prefix("sha256:")
            .filter(|h| h.len() >= FINGERPRINT_HEX_LEN && is_lower_hex(h))
            .ok_or_else(|| {
                Error::Internal(format!(
                    "key `{name}` version {version} has fingerprint {fingerprint:?}, not sha256:<hex>"
                ))
            })?;
        let prefix = hex.get(..FINGERPRINT_HEX_LEN).unwrap_or(hex);
        Ok(KeyId {
            name: name.to_owned(),
            version,
            fingerprint_prefix: prefix.to_owned(),
        })
    }

    /// Parses an id as the apiserver hands it back in `DecryptRequest.key_id`.
    pub fn parse(s: &str) -> Result<KeyId> {
        let bad = |why: &str| Error::InvalidKeyId {
            key_id: truncate(s),
            reason: why.to_owned(),
        };
        if s.is_empty() {
            return Err(bad("it is empty"));
        }
        if s.len() > MAX_KEY_ID_LEN {
            return Err(bad("it is longer than 1024 bytes"));
        }
        let mut parts = s.split(':');
        let (Some(prefix), Some(name), Some(version), Some(scheme), Some(fp), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(bad(
                "expected qsafe:<name>:v<version>:sha256:<16 hex digits>",
            ));
        };
        if prefix != PREFIX {
            return Err(bad(
                "it does not start with `qsafe:`; it was not made by this plugin",
            ));
        }
        qsafe_keys::KeyName::new(name).map_err(|_| bad("the key name is not a valid name"))?;
        let digits = version
            .strip_prefix('v')
            .ok_or_else(|| bad("the version must be written v<number>"))?;
        if digits.is_empty()
            || !digits.bytes().all(|b| b.is_ascii_digit())
            || digits.starts_with('0')
        {
            return Err(bad(
                "the version must be a positive decimal number without leading zeros",
            ));
        }
        let version: u32 = digits
            .parse()
            .map_err(|_| bad("the version is out of range"))?;
        if scheme != FINGERPRINT_SCHEME {
            return Err(bad("the fingerprint must be sha256"));
        }
        if fp.len() != FINGERPRINT_HEX_LEN || !is_lower_hex(fp) {
            return Err(bad("the fingerprint must be 16 lowercase hex digits"));
        }
        Ok(KeyId {
            name: name.to_owned(),
            version,
            fingerprint_prefix: fp.to_owned(),
        })
    }

    /// Whether `fingerprint` (`sha256:<64 hex>`) is the one this id names.
    pub fn matches_fingerprint(&self, fingerprint: &str) -> bool {
        fingerprint
            .strip_prefix("sha256:")
            .and_then(|h| h.get(..FINGERPRINT_HEX_LEN))
            .is_some_and(|p| p == self.fingerprint_prefix)
    }
}

impl core::fmt::Display for KeyId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "{PREFIX}:{}:v{}:{FINGERPRINT_SCHEME}:{}",
            self.name, self.version, self.fingerprint_prefix
        )
    }
}

fn is_lower_hex(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// At most 80 characters of a hostile string, for an error message.
pub(crate) fn truncate(s: &str) -> String {
    let mut out: String = s.chars().take(80).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const FP: &str = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    #[test]
    fn formats_and_parses() {
        let id = KeyId::new("k8s-secrets", 3, FP).unwrap();
        let s = id.to_string();
        assert_eq!(s, "qsafe:k8s-secrets:v3:sha256:9f86d081884c7d65");
        assert_eq!(KeyId::parse(&s).unwrap(), id);
        assert!(id.matches_fingerprint(FP));
        assert!(!id.matches_fingerprint("sha256:00"));
    }

    #[test]
    fn rejects_malformed_ids() {
        let cases = [
            "",
            "qsafe",
            "qsafe:a:v1:sha256",
            "qsafe:a:v1:sha256:9f86d081884c7d65:extra",
            "other:a:v1:sha256:9f86d081884c7d65",
            "qsafe:A:v1:sha256:9f86d081884c7d65",
            "qsafe:a:1:sha256:9f86d081884c7d65",
            "qsafe:a:v0:sha256:9f86d081884c7d65",
            "qsafe:a:v01:sha256:9f86d081884c7d65",
            "qsafe:a:v-1:sha256:9f86d081884c7d65",
            "qsafe:a:v+1:sha256:9f86d081884c7d65",
            "qsafe:a:v4294967296:sha256:9f86d081884c7d65",
            "qsafe:a:v1:sha384:9f86d081884c7d65",
            "qsafe:a:v1:sha256:9F86D081884C7D65",
            "qsafe:a:v1:sha256:9f86d081884c7d6",
            "qsafe:a:v1:sha256:9f86d081884c7d650",
        ];
        for c in cases {
            assert!(KeyId::parse(c).is_err(), "{c:?} parsed");
        }
        assert_eq!(cases.len(), 16);
        assert!(KeyId::parse(&"x".repeat(2000)).is_err());
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in ".{0,200}") {
            let _ = KeyId::parse(&s);
        }

        #[test]
        fn round_trips(name in "[a-z0-9][a-z0-9._-]{0,62}", version in 1u32.., fp in "[0-9a-f]{64}") {
            let id = KeyId::new(&name, version, &format!("sha256:{fp}")).unwrap();
            prop_assert_eq!(KeyId::parse(&id.to_string()).unwrap(), id);
        }
    }
}
