//! What qsafe negotiates: key-exchange groups, cipher suites and protocol versions per
//! [`Suite`] and [`Fallback`] setting.
//!
//! # Key exchange
//!
//! TLS 1.3 (RFC 8446 §4.2.7, §4.2.8) negotiates a "group" whose key shares travel in the
//! ClientHello and ServerHello. The post-quantum groups used here are:
//!
//! | name (IANA) | code point | definition |
//! |---|---|---|
//! | `X25519MLKEM768` | `0x11EC` | draft-ietf-tls-ecdhe-mlkem-03 (ML-KEM-768 ‖ X25519) |
//! | `SecP256r1MLKEM768` | `0x11EB` | draft-ietf-tls-ecdhe-mlkem-03 (P-256 ‖ ML-KEM-768) |
//! | `MLKEM1024` | `0x0202` | draft-ietf-tls-mlkem-05 (pure ML-KEM-1024, FIPS 203) |
//!
//! The draft versions are those of `qsafe_core::registry::drafts` (the code points are IANA
//! assignments and did not change in later versions; draft-ietf-tls-ecdhe-mlkem-05 became
//! RFC 10024). Classical groups: `x25519` `0x001D` (RFC 8446 §4.2.7, RFC 7748), `secp256r1`
//! `0x0017`, `secp384r1` `0x0018`.
//!
//! draft-ietf-tls-ecdhe-mlkem-03 also defines `SecP384r1MLKEM1024` (`0x11ED`); rustls 0.23.46
//! (the newest 0.23 release, used here) does not implement it, so CNSA 2.0 mode leads with pure
//! `MLKEM1024`, which is the key establishment CNSA 2.0 itself specifies (NSA, "Announcing the
//! Commercial National Security Algorithm Suite 2.0", 2022, and the CNSA 2.0 FAQ, 2024:
//! ML-KEM-1024 for all classification levels). When rustls ships `SecP384r1MLKEM1024` it belongs
//! first in [`Suite::Cnsa2`]; the pinned-order test (`tests/group_order.rs`) makes a bump visible.
//!
//! Pure `MLKEM768` (`0x0201`) is never offered: it is weaker than `X25519MLKEM768` against a
//! break of ML-KEM and no client offers it alone. Pure `MLKEM1024` is offered in the default
//! suite too (after the hybrids), so a client configured for CNSA 2.0 can reach a default
//! gateway without falling back to a classical group.
//!
//! Classical groups (`x25519`, `secp256r1`, `secp384r1`) are quantum-vulnerable: a recorded
//! handshake can be decrypted later ("harvest now, decrypt later"). They are only offered with
//! [`Fallback::Enabled`], for legacy clients such as OpenSSL 3.0.
//!
//! ## Who chooses the group
//!
//! A rustls 0.23 server picks the first group in the *client's* `supported_groups` list that it
//! supports (RFC 8446 lets the server choose; rustls follows the client). The order returned by
//! [`kx_groups`] is therefore the order our *client* offers (and the first entry is the one it
//! sends a key share for), while on the server it is the accepted set. To make the server's
//! preference win, [`crate::TlsAcceptor`] looks at the ClientHello first and, when the client
//! offers any post-quantum group of ours, answers with the post-quantum-only configuration.
//!
//! # Authentication
//!
//! Certificates stay classical (ECDSA): browsers, OpenSSL 3.0 and most clients cannot verify
//! ML-DSA certificates yet. Confidentiality against a future quantum adversary needs only the key
//! exchange to be post-quantum — a signature cannot be forged retroactively — so hybrid key
//! exchange with classical authentication is what "harvest now, decrypt later" requires. (rustls
//! 0.23.46 with aws-lc-rs can already verify and sign with ML-DSA, draft-ietf-tls-mldsa code
//! points `0x0904`-`0x0906`; [`crate::server_config`] accepts an ML-DSA key, but only rustls
//! peers will accept such a certificate.)
//!
//! # Cipher suites and versions
//!
//! | | TLS 1.3 (RFC 8446 §B.4) | TLS 1.2 (ECDHE only, forward secret) |
//! |---|---|---|
//! | default, fallback disabled | AES-256-GCM, AES-128-GCM, ChaCha20-Poly1305 | none |
//! | default, fallback enabled | same | ECDHE-{ECDSA,RSA} with AES-256-GCM, AES-128-GCM, ChaCha20-Poly1305 |
//! | cnsa2, fallback disabled | AES-256-GCM-SHA384 only | none |
//! | cnsa2, fallback enabled | same | ECDHE-{ECDSA,RSA}-AES256-GCM-SHA384 |
//!
//! The post-quantum groups exist only in TLS 1.3, so TLS 1.2 is offered only with the fallback:
//! it lets a TLS-1.2-only legacy client in, classically protected, which is what enabling the
//! fallback asks for.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use qsafe_core::registry::{self, Algorithm, Kind};
use rustls::crypto::CryptoProvider;
use rustls::crypto::SupportedKxGroup;
use rustls::crypto::aws_lc_rs::{self, cipher_suite, kx_group};
use rustls::{NamedGroup, SupportedCipherSuite, SupportedProtocolVersion};

use crate::error::{Error, Result};

/// The environment variable that selects [`Fallback`].
pub const FALLBACK_ENV: &str = "FALLBACK_CRYPTO";

/// Algorithm profile, matching `qsafe_core::registry::SUITES` (`default`, `cnsa2`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Suite {
    /// `X25519MLKEM768` first; AES-256-GCM preferred.
    #[default]
    Default,
    /// CNSA 2.0: `MLKEM1024` first; TLS 1.3 with AES-256-GCM-SHA384 only; P-384 dev certificates.
    Cnsa2,
}

impl Suite {
    /// The stable name, as in `--suite` and the registry.
    pub fn as_str(self) -> &'static str {
        match self {
            Suite::Default => "default",
            Suite::Cnsa2 => "cnsa2",
        }
    }

    /// The registry suite of the same name.
    pub fn registry_suite(self) -> &'static registry::Suite {
        match self {
            Suite::Default => &registry::SUITE_DEFAULT,
            Suite::Cnsa2 => &registry::SUITE_CNSA2,
        }
    }
}

impl fmt::Display for Suite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Suite {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "default" => Ok(Suite::Default),
            "cnsa2" => Ok(Suite::Cnsa2),
            _ => Err(Error::InvalidSuite {
                value: s.to_owned(),
            }),
        }
    }
}

/// Whether classical (quantum-vulnerable) key exchange is allowed for legacy clients.
///
/// Parsed from `enabled` / `disabled`, the values of [`FALLBACK_ENV`]. There is deliberately no
/// `Default`: the gateway states its choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fallback {
    /// Also accept `x25519`, `secp256r1`, `secp384r1` and TLS 1.2 (ECDHE suites).
    Enabled,
    /// Post-quantum groups and TLS 1.3 only: a classical-only client fails the handshake.
    Disabled,
}

impl Fallback {
    /// The value as written in [`FALLBACK_ENV`].
    pub fn as_str(self) -> &'static str {
        match self {
            Fallback::Enabled => "enabled",
            Fallback::Disabled => "disabled",
        }
    }

    /// Reads [`FALLBACK_ENV`]: `Ok(None)` when unset, an error when set to anything but
    /// `enabled` or `disabled`.
    pub fn from_env() -> Result<Option<Self>> {
        match std::env::var(FALLBACK_ENV) {
            Ok(v) => v.parse().map(Some),
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(v)) => Err(Error::InvalidFallback {
                value: v.to_string_lossy().into_owned(),
            }),
        }
    }
}

impl fmt::Display for Fallback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Fallback {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "enabled" => Ok(Fallback::Enabled),
            "disabled" => Ok(Fallback::Disabled),
            _ => Err(Error::InvalidFallback {
                value: s.to_owned(),
            }),
        }
    }
}

/// Key-exchange groups in preference order (see the module docs for who applies the order).
///
/// | suite | post-quantum (always) | appended with [`Fallback::Enabled`] |
/// |---|---|---|
/// | default | `X25519MLKEM768`, `SecP256r1MLKEM768`, `MLKEM1024` | `x25519`, `secp256r1`, `secp384r1` |
/// | cnsa2 | `MLKEM1024`, `X25519MLKEM768`, `SecP256r1MLKEM768` | `secp384r1`, `secp256r1`, `x25519` |
///
/// CNSA 2.0 mode keeps the ML-KEM-768 hybrids after `MLKEM1024` so that browsers (which offer
/// only `X25519MLKEM768` today) still get a post-quantum connection; its classical tail starts
/// with the CNSA 1.0 curve P-384.
pub fn kx_groups(suite: Suite, fallback: Fallback) -> Vec<&'static dyn SupportedKxGroup> {
    let mut groups: Vec<&'static dyn SupportedKxGroup> = match suite {
        Suite::Default => vec![
            kx_group::X25519MLKEM768,
            kx_group::SECP256R1MLKEM768,
            kx_group::MLKEM1024,
        ],
        Suite::Cnsa2 => vec![
            kx_group::MLKEM1024,
            kx_group::X25519MLKEM768,
            kx_group::SECP256R1MLKEM768,
        ],
    };
    if fallback == Fallback::Enabled {
        match suite {
            Suite::Default => {
                groups.extend([kx_group::X25519, kx_group::SECP256R1, kx_group::SECP384R1]);
            }
            Suite::Cnsa2 => {
                groups.extend([kx_group::SECP384R1, kx_group::SECP256R1, kx_group::X25519]);
            }
        }
    }
    groups
}

/// Cipher suites in preference order (the server applies its own order).
pub fn cipher_suites(suite: Suite, fallback: Fallback) -> Vec<SupportedCipherSuite> {
    let tls13: &[SupportedCipherSuite] = match suite {
        Suite::Default => &[
            cipher_suite::TLS13_AES_256_GCM_SHA384,
            cipher_suite::TLS13_AES_128_GCM_SHA256,
            cipher_suite::TLS13_CHACHA20_POLY1305_SHA256,
        ],
        Suite::Cnsa2 => &[cipher_suite::TLS13_AES_256_GCM_SHA384],
    };
    let tls12: &[SupportedCipherSuite] = match (suite, fallback) {
        (_, Fallback::Disabled) => &[],
        (Suite::Default, Fallback::Enabled) => &[
            cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
            cipher_suite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
            cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            cipher_suite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
            cipher_suite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
            cipher_suite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        ],
        (Suite::Cnsa2, Fallback::Enabled) => &[
            cipher_suite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
            cipher_suite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        ],
    };
    tls13.iter().chain(tls12).copied().collect()
}

/// Protocol versions: TLS 1.3 only, plus TLS 1.2 with [`Fallback::Enabled`].
pub fn protocol_versions(fallback: Fallback) -> &'static [&'static SupportedProtocolVersion] {
    static TLS13_ONLY: &[&SupportedProtocolVersion] = &[&rustls::version::TLS13];
    static TLS13_AND_12: &[&SupportedProtocolVersion] =
        &[&rustls::version::TLS13, &rustls::version::TLS12];
    match fallback {
        Fallback::Disabled => TLS13_ONLY,
        Fallback::Enabled => TLS13_AND_12,
    }
}

/// The aws-lc-rs provider restricted to [`kx_groups`] and [`cipher_suites`].
pub fn provider(suite: Suite, fallback: Fallback) -> Arc<CryptoProvider> {
    Arc::new(CryptoProvider {
        cipher_suites: cipher_suites(suite, fallback),
        kx_groups: kx_groups(suite, fallback),
        ..aws_lc_rs::default_provider()
    })
}

/// True for the post-quantum (pure or hybrid) groups qsafe offers.
pub fn is_post_quantum(group: NamedGroup) -> bool {
    matches!(
        group,
        NamedGroup::X25519MLKEM768
            | NamedGroup::secp256r1MLKEM768
            | NamedGroup::MLKEM768
            | NamedGroup::MLKEM1024
    )
}

/// The IANA TLS Supported Groups name of a group (`X25519MLKEM768`, `MLKEM1024`, `x25519`), for
/// logs and metric labels; `None` for groups qsafe never negotiates.
pub fn group_name(group: NamedGroup) -> Option<&'static str> {
    Some(match group {
        NamedGroup::X25519MLKEM768 => "X25519MLKEM768",
        NamedGroup::secp256r1MLKEM768 => "SecP256r1MLKEM768",
        NamedGroup::MLKEM768 => "MLKEM768",
        NamedGroup::MLKEM1024 => "MLKEM1024",
        NamedGroup::X25519 => "x25519",
        NamedGroup::secp256r1 => "secp256r1",
        NamedGroup::secp384r1 => "secp384r1",
        _ => return None,
    })
}

/// The `qsafe_core` registry entry whose TLS code point is `group`, if the registry lists it
/// (`SecP256r1MLKEM768` is not in the registry).
pub fn group_algorithm(group: NamedGroup) -> Option<&'static Algorithm> {
    let code = u16::from(group);
    registry::ALL
        .iter()
        .copied()
        .find(|a| a.kind == Kind::Kem && a.tls_group == Some(code))
}

/// The group a connection (client or server) negotiated, by its IANA name; `None` before the
/// handshake has chosen one. Use it for metrics, e.g. `tls_handshakes_total{group="..."}`.
///
/// Works on `&ServerConnection` and `&ClientConnection` (they dereference to `CommonState`), and
/// on a tokio-rustls stream through `stream.get_ref().1`.
pub fn negotiated_group_name(conn: &rustls::CommonState) -> Option<&'static str> {
    conn.negotiated_key_exchange_group()
        .and_then(|g| group_name(g.name()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fallback_parses_the_env_values() {
        assert_eq!("enabled".parse::<Fallback>().ok(), Some(Fallback::Enabled));
        assert_eq!(
            " Disabled\n".parse::<Fallback>().ok(),
            Some(Fallback::Disabled)
        );
        for bad in ["", "on", "true", "1", "enable"] {
            let err = bad.parse::<Fallback>().err().map(|e| e.to_string());
            assert_eq!(
                err.as_deref(),
                Some(
                    format!(
                        "invalid {FALLBACK_ENV} value {bad:?}: expected `enabled` or `disabled`"
                    )
                    .as_str()
                )
            );
        }
        for f in [Fallback::Enabled, Fallback::Disabled] {
            assert_eq!(f.as_str().parse::<Fallback>().ok(), Some(f));
        }
    }

    #[test]
    fn suite_names_match_the_registry() {
        for s in [Suite::Default, Suite::Cnsa2] {
            assert_eq!(s.registry_suite().id, s.as_str());
            assert_eq!(s.as_str().parse::<Suite>().ok(), Some(s));
        }
        assert!("cnsa1".parse::<Suite>().is_err());
    }

    #[test]
    fn every_offered_group_has_a_name() {
        for s in [Suite::Default, Suite::Cnsa2] {
            for g in kx_groups(s, Fallback::Enabled) {
                assert!(group_name(g.name()).is_some(), "{:?}", g.name());
            }
        }
    }

    #[test]
    fn fallback_disabled_offers_only_post_quantum_groups() {
        for s in [Suite::Default, Suite::Cnsa2] {
            assert!(
                kx_groups(s, Fallback::Disabled)
                    .iter()
                    .all(|g| is_post_quantum(g.name()))
            );
            assert!(
                cipher_suites(s, Fallback::Disabled)
                    .iter()
                    .all(|c| c.version() == &rustls::version::TLS13)
            );
        }
    }
}
