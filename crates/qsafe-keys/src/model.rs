//! The key store's data model: named keys, their versions, status and policy.
//!
//! A [`Key`] has a validated [`KeyName`], one registry algorithm (a KEM gives an
//! [`Purpose::Encrypt`] key, a signature algorithm a [`Purpose::Sign`] key), versions numbered
//! from 1, and a [`Policy`]. Semantics follow HashiCorp Vault's Transit engine: `rotate` adds a
//! version that becomes the only [`Status::Active`] one (the previous active version becomes
//! [`Status::DecryptOnly`]), and `min_decryption_version` refuses older versions for decryption
//! without deleting them. Two statuses go beyond Transit: [`Status::Retired`] (kept, unusable)
//! and [`Status::Destroyed`] (private material wiped, public key and history kept).
//!
//! Invariants, checked whenever a key record is read ([`Key::from_json`]): versions are
//! `1..=n` in order; exactly one version is active and it is the newest (rotate appends, and
//! neither retire nor destroy applies to the active version); every version has the key's
//! algorithm; a destroyed version has no private material and every other version has some;
//! `1 <= min_decryption_version <= n`; the fingerprint is the SHA-256 of the stored public key.
//!
//! Records are JSON with a `format_version`; byte strings are standard base64.

use qsafe_core::registry::{self, Algorithm, Kind};
use qsafe_core::symmetric::Hash;
use serde::{Deserialize, Serialize};

use crate::wrap::Wrapped;
use crate::{Error, Result};

/// The key record format this build reads and writes.
pub const KEY_FORMAT_VERSION: u32 = 1;

/// Longest key name.
pub const MAX_NAME_LEN: usize = 63;

/// A validated key name: `[a-z0-9][a-z0-9._-]{0,62}`.
///
/// The alphabet keeps names safe as file names, URL path segments, Kubernetes object names
/// (after the dots) and SQL values, and a name never contains the `0x00` that separates fields
/// of the wrapping AAD.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct KeyName(String);

impl KeyName {
    /// Validates a name.
    pub fn new(name: &str) -> Result<Self> {
        let invalid = |reason| Error::InvalidName {
            name: name.chars().take(80).collect(),
            reason,
        };
        let mut bytes = name.bytes();
        let first = bytes.next().ok_or_else(|| invalid("the name is empty"))?;
        if name.len() > MAX_NAME_LEN {
            return Err(invalid("longer than 63 characters"));
        }
        if !(first.is_ascii_lowercase() || first.is_ascii_digit()) {
            return Err(invalid("must start with a lowercase letter or a digit"));
        }
        if !bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b)) {
            return Err(invalid(
                "only lowercase letters, digits, '.', '_' and '-' are allowed",
            ));
        }
        Ok(KeyName(name.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for KeyName {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        KeyName::new(&s)
    }
}

impl From<KeyName> for String {
    fn from(n: KeyName) -> String {
        n.0
    }
}

impl core::fmt::Display for KeyName {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.0)
    }
}

impl core::str::FromStr for KeyName {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        KeyName::new(s)
    }
}

/// What a key is for, derived from its algorithm's registry kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Purpose {
    /// A KEM key: encapsulate to the active version, decapsulate with any usable version.
    Encrypt,
    /// A signature key: sign with the active version, verify with any usable version.
    Sign,
}

impl Purpose {
    /// The purpose of keys of this algorithm, or why it cannot be a stored key.
    pub fn of(alg: &Algorithm) -> Result<Purpose> {
        match alg.kind {
            Kind::Kem => Ok(Purpose::Encrypt),
            Kind::Signature => Ok(Purpose::Sign),
            _ => Err(Error::UnsuitableAlgorithm {
                alg: alg.id.to_owned(),
                reason: "only KEM and signature algorithms have key pairs",
            }),
        }
    }

    /// `encrypt` or `sign`.
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Encrypt => "encrypt",
            Purpose::Sign => "sign",
        }
    }

    /// `encryption` or `signing`, for messages.
    pub fn noun(self) -> &'static str {
        match self {
            Purpose::Encrypt => "encryption",
            Purpose::Sign => "signing",
        }
    }
}

/// Lifecycle status of one key version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// The version new data is encrypted to (or signed with). Exactly one per key: the newest.
    Active,
    /// Decrypt-only (verify-only for signing keys): an older version still usable for existing
    /// data, subject to `min_decryption_version`.
    DecryptOnly,
    /// No longer usable for anything; private material kept (it can still be destroyed).
    Retired,
    /// Private material wiped; the public key and history are kept.
    Destroyed,
}

impl Status {
    /// The stable lowercase name (`decrypt-only`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::DecryptOnly => "decrypt-only",
            Status::Retired => "retired",
            Status::Destroyed => "destroyed",
        }
    }

    /// The name a user reads for a key of this purpose: `verify-only` for signing keys.
    pub fn label(self, purpose: Purpose) -> &'static str {
        match (self, purpose) {
            (Status::DecryptOnly, Purpose::Sign) => "verify-only",
            _ => self.as_str(),
        }
    }
}

impl core::fmt::Display for Status {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A point in time: Unix seconds and the same instant in RFC 3339 UTC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Timestamp {
    /// Seconds since 1970-01-01T00:00:00Z.
    pub unix: u64,
    /// RFC 3339, e.g. `2025-01-31T12:00:00Z`.
    pub utc: String,
}

impl Timestamp {
    /// The given Unix time.
    pub fn at(unix: u64) -> Self {
        Timestamp {
            unix,
            utc: rfc3339(unix),
        }
    }

    /// The current time (the Unix epoch if the clock is before it).
    pub fn now() -> Self {
        Timestamp::at(unix_now())
    }
}

/// Seconds since the Unix epoch, 0 if the clock is set before it.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Formats Unix seconds as RFC 3339 UTC (`YYYY-MM-DDTHH:MM:SSZ`), proleptic Gregorian.
pub fn rfc3339(unix: u64) -> String {
    let days = unix / 86_400;
    let secs = unix % 86_400;
    // Howard Hinnant's civil_from_days, for days since 1970-01-01 (non-negative here).
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// Per-key policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Versions below this cannot decrypt (or verify). Vault Transit's `min_decryption_version`;
    /// starts at 1 (all versions).
    pub min_decryption_version: u32,
    /// Rotate when the active version is this many seconds old ([`crate::KeyStore::due_for_rotation`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation_period: Option<u64>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            min_decryption_version: 1,
            rotation_period: None,
        }
    }
}

/// One version of a key.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyVersion {
    /// 1, 2, …
    pub version: u32,
    /// Lifecycle status.
    pub status: Status,
    /// When the version was generated.
    pub created: Timestamp,
    /// Registry algorithm id (the key's algorithm).
    pub algorithm: String,
    /// Public key: SubjectPublicKeyInfo DER (the qsafe envelope for OID-less algorithms).
    #[serde(with = "b64")]
    pub public_key: Vec<u8>,
    /// `sha256:<hex>` of [`KeyVersion::public_key`] (`qsafe_core::keys::PublicKey::fingerprint`).
    pub fingerprint: String,
    /// PKCS #8 private key wrapped under the store's KEK; `None` once destroyed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private: Option<Wrapped>,
}

/// A named key with all its versions.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Key {
    /// Record format ([`KEY_FORMAT_VERSION`]).
    pub format_version: u32,
    /// The name.
    pub name: KeyName,
    /// Registry algorithm id.
    pub algorithm: String,
    /// Encrypt (KEM) or sign.
    pub purpose: Purpose,
    /// When version 1 was created.
    pub created: Timestamp,
    /// Policy.
    pub policy: Policy,
    /// Versions `1..=n`, oldest first.
    pub versions: Vec<KeyVersion>,
}

impl Key {
    /// The newest version number.
    pub fn latest(&self) -> u32 {
        self.versions.last().map_or(0, |v| v.version)
    }

    /// The active version (the newest).
    pub fn active(&self) -> Result<&KeyVersion> {
        self.versions
            .iter()
            .rev()
            .find(|v| v.status == Status::Active)
            .ok_or_else(|| Error::corrupt(self.name.as_str(), "no active version"))
    }

    /// One version, or a clear error naming the valid range.
    pub fn version(&self, version: u32) -> Result<&KeyVersion> {
        self.versions
            .iter()
            .find(|v| v.version == version)
            .ok_or_else(|| self.no_version(version))
    }

    pub(crate) fn version_mut(&mut self, version: u32) -> Result<&mut KeyVersion> {
        let err = self.no_version(version);
        self.versions
            .iter_mut()
            .find(|v| v.version == version)
            .ok_or(err)
    }

    fn no_version(&self, version: u32) -> Error {
        Error::VersionNotFound {
            name: self.name.to_string(),
            version,
            latest: self.latest(),
        }
    }

    /// The registry algorithm.
    pub fn alg(&self) -> Result<&'static Algorithm> {
        registry::by_id(&self.algorithm)
            .ok_or_else(|| Error::UnknownAlgorithm(self.algorithm.clone()))
    }

    /// Serialises the record (pretty JSON with a trailing newline). These exact bytes are what
    /// a backend stores and what [`state_hash`] covers.
    pub fn to_json(&self) -> Result<Vec<u8>> {
        let mut out = serde_json::to_vec_pretty(self)
            .map_err(|e| Error::corrupt(self.name.as_str(), format!("cannot serialise: {e}")))?;
        out.push(b'\n');
        Ok(out)
    }

    /// Parses and validates a record; `file` names it in errors.
    pub fn from_json(bytes: &[u8], file: &str) -> Result<Key> {
        let key: Key = parse_versioned(bytes, file, KEY_FORMAT_VERSION)?;
        key.validate(file)?;
        Ok(key)
    }

    /// Checks the invariants listed in the module documentation.
    pub fn validate(&self, file: &str) -> Result<()> {
        let bad = |reason: String| Err(Error::corrupt(file, reason));
        let alg = match registry::by_id(&self.algorithm) {
            Some(a) if a.id == self.algorithm => a,
            _ => return bad(format!("unknown algorithm `{}`", self.algorithm)),
        };
        match Purpose::of(alg) {
            Ok(p) if p == self.purpose => {}
            _ => return bad(format!("purpose does not match algorithm `{}`", alg.id)),
        }
        if self.versions.is_empty() {
            return bad("the key has no versions".into());
        }
        let n = self.versions.len();
        let mut active = 0usize;
        for (i, v) in self.versions.iter().enumerate() {
            let expected = u32::try_from(i + 1).unwrap_or(u32::MAX);
            if v.version != expected {
                return bad(format!(
                    "version {} found where version {expected} belongs",
                    v.version
                ));
            }
            if v.algorithm != self.algorithm {
                return bad(format!(
                    "version {} has algorithm `{}`",
                    v.version, v.algorithm
                ));
            }
            if v.status == Status::Active {
                active += 1;
                if i + 1 != n {
                    return bad(format!("active version {} is not the newest", v.version));
                }
            }
            if (v.status == Status::Destroyed) != v.private.is_none() {
                return bad(format!(
                    "version {} is {} but {} private material",
                    v.version,
                    v.status,
                    if v.private.is_some() { "has" } else { "has no" }
                ));
            }
            if v.fingerprint != fingerprint_of(&v.public_key) {
                return bad(format!(
                    "version {} fingerprint does not match its public key",
                    v.version
                ));
            }
        }
        if active != 1 {
            return bad(format!(
                "{active} active versions (exactly one is required)"
            ));
        }
        let latest = self.latest();
        let min = self.policy.min_decryption_version;
        if min == 0 || min > latest {
            return bad(format!(
                "min_decryption_version {min} is outside 1..={latest}"
            ));
        }
        if self.policy.rotation_period == Some(0) {
            return bad("rotation_period is 0".into());
        }
        Ok(())
    }
}

/// `sha256:<hex>` of a stored public key DER: the same value as `PublicKey::fingerprint`.
pub fn fingerprint_of(public_der: &[u8]) -> String {
    let digest = Hash::Sha256.digest(public_der);
    format!("sha256:{}", hex::encode(digest))
}

/// `sha256:<hex>` of a stored record: the audit log's `state` field.
pub fn state_hash(record: &[u8]) -> String {
    fingerprint_of(record)
}

/// Parses a JSON document with a `format_version` field: newer versions get a clear error,
/// syntax errors say where, and nothing from the document is echoed beyond serde's field names.
pub(crate) fn parse_versioned<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
    file: &str,
    supported: u32,
) -> Result<T> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| json_error(file, &e))?;
    match value
        .get("format_version")
        .and_then(serde_json::Value::as_u64)
    {
        Some(v) if v == u64::from(supported) => {}
        Some(v) if v > u64::from(supported) => {
            return Err(Error::UnsupportedFormat {
                file: file.to_owned(),
                found: v,
                supported,
            });
        }
        Some(v) => {
            return Err(Error::corrupt(
                file,
                format!("format_version {v} is invalid"),
            ));
        }
        None => return Err(Error::corrupt(file, "no format_version field")),
    }
    serde_json::from_value(value).map_err(|e| json_error(file, &e))
}

fn json_error(file: &str, e: &serde_json::Error) -> Error {
    use serde_json::error::Category;
    let reason = match e.classify() {
        Category::Eof => format!(
            "truncated JSON (ends at line {} column {})",
            e.line(),
            e.column()
        ),
        Category::Syntax => format!("invalid JSON at line {} column {}", e.line(), e.column()),
        Category::Data | Category::Io => e.to_string(),
    };
    Error::corrupt(file, reason)
}

/// Serde helpers: bytes as standard base64 strings. Decoding errors never echo the input.
pub(crate) mod b64 {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};
    use zeroize::Zeroizing;

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&Zeroizing::new(STANDARD.encode(bytes)))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = Zeroizing::new(String::deserialize(d)?);
        STANDARD
            .decode(s.as_bytes())
            .map_err(|_| serde::de::Error::custom("invalid base64"))
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )]
    use super::*;

    #[test]
    fn names() {
        for ok in ["a", "0", "gateway-prod.eu_1", &"x".repeat(63)] {
            assert!(KeyName::new(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "-a",
            ".a",
            "_a",
            "A",
            "a/b",
            "a b",
            "a\0b",
            "é",
            &"x".repeat(64),
        ] {
            let err = KeyName::new(bad).unwrap_err().to_string();
            assert!(err.starts_with("invalid key name"), "{bad}: {err}");
        }
        assert!(serde_json::from_str::<KeyName>("\"../x\"").is_err());
    }

    #[test]
    fn rfc3339_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(4_102_444_799), "2099-12-31T23:59:59Z");
    }

    #[test]
    fn status_labels() {
        assert_eq!(Status::DecryptOnly.label(Purpose::Sign), "verify-only");
        assert_eq!(Status::DecryptOnly.label(Purpose::Encrypt), "decrypt-only");
        assert_eq!(
            serde_json::to_string(&Status::DecryptOnly).unwrap(),
            "\"decrypt-only\""
        );
    }
}
