//! Pins the negotiated-algorithm policy so that a dependency bump or an edit that changes it
//! fails loudly. Change these lists only together with the docs in `src/policy.rs`.

use qsafe_core::registry;
use qsafe_tls::rustls::crypto::aws_lc_rs::kx_group;
use qsafe_tls::rustls::{CipherSuite, NamedGroup, ProtocolVersion, SignatureScheme};
use qsafe_tls::{Fallback, Suite, cipher_suites, group_algorithm, group_name, kx_groups};

fn names(suite: Suite, fallback: Fallback) -> Vec<&'static str> {
    kx_groups(suite, fallback)
        .iter()
        .map(|g| group_name(g.name()).unwrap_or("<unnamed>"))
        .collect()
}

#[test]
fn group_order_default_fallback_disabled() {
    assert_eq!(
        names(Suite::Default, Fallback::Disabled),
        ["X25519MLKEM768", "SecP256r1MLKEM768", "MLKEM1024"]
    );
}

#[test]
fn group_order_default_fallback_enabled() {
    assert_eq!(
        names(Suite::Default, Fallback::Enabled),
        [
            "X25519MLKEM768",
            "SecP256r1MLKEM768",
            "MLKEM1024",
            "x25519",
            "secp256r1",
            "secp384r1"
        ]
    );
}

#[test]
fn group_order_cnsa2_fallback_disabled() {
    assert_eq!(
        names(Suite::Cnsa2, Fallback::Disabled),
        ["MLKEM1024", "X25519MLKEM768", "SecP256r1MLKEM768"]
    );
}

#[test]
fn group_order_cnsa2_fallback_enabled() {
    assert_eq!(
        names(Suite::Cnsa2, Fallback::Enabled),
        [
            "MLKEM1024",
            "X25519MLKEM768",
            "SecP256r1MLKEM768",
            "secp384r1",
            "secp256r1",
            "x25519"
        ]
    );
}

#[test]
fn group_code_points_are_the_iana_ones() {
    let expect = [
        (
            Suite::Default,
            Fallback::Enabled,
            [0x11ec, 0x11eb, 0x0202, 0x001d, 0x0017, 0x0018],
        ),
        (
            Suite::Cnsa2,
            Fallback::Enabled,
            [0x0202, 0x11ec, 0x11eb, 0x0018, 0x0017, 0x001d],
        ),
    ];
    for (suite, fallback, codes) in expect {
        let got: Vec<u16> = kx_groups(suite, fallback)
            .iter()
            .map(|g| u16::from(g.name()))
            .collect();
        assert_eq!(got, codes, "{suite} / {fallback}");
    }
}

#[test]
fn cipher_suite_order() {
    let suites =
        |s, f| -> Vec<CipherSuite> { cipher_suites(s, f).iter().map(|c| c.suite()).collect() };
    use CipherSuite::*;
    assert_eq!(
        suites(Suite::Default, Fallback::Disabled),
        [
            TLS13_AES_256_GCM_SHA384,
            TLS13_AES_128_GCM_SHA256,
            TLS13_CHACHA20_POLY1305_SHA256
        ]
    );
    assert_eq!(
        suites(Suite::Default, Fallback::Enabled),
        [
            TLS13_AES_256_GCM_SHA384,
            TLS13_AES_128_GCM_SHA256,
            TLS13_CHACHA20_POLY1305_SHA256,
            TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
            TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
            TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
            TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
            TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        ]
    );
    assert_eq!(
        suites(Suite::Cnsa2, Fallback::Disabled),
        [TLS13_AES_256_GCM_SHA384]
    );
    assert_eq!(
        suites(Suite::Cnsa2, Fallback::Enabled),
        [
            TLS13_AES_256_GCM_SHA384,
            TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
            TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        ]
    );
}

#[test]
fn protocol_versions_per_fallback() {
    let v = |f| -> Vec<ProtocolVersion> {
        qsafe_tls::protocol_versions(f)
            .iter()
            .map(|v| v.version)
            .collect()
    };
    assert_eq!(v(Fallback::Disabled), [ProtocolVersion::TLSv1_3]);
    assert_eq!(
        v(Fallback::Enabled),
        [ProtocolVersion::TLSv1_3, ProtocolVersion::TLSv1_2]
    );
}

/// rustls's group code points agree with the `qsafe_core` registry wherever the registry lists
/// a TLS code point, and the names line up.
#[test]
fn registry_tls_group_code_points_match_rustls() {
    let pairs = [
        (kx_group::X25519MLKEM768, &registry::X25519_MLKEM768),
        (kx_group::MLKEM768, &registry::ML_KEM_768),
        (kx_group::MLKEM1024, &registry::ML_KEM_1024),
        (kx_group::X25519, &registry::X25519),
        (kx_group::SECP256R1, &registry::P256),
        (kx_group::SECP384R1, &registry::P384),
    ];
    for (group, alg) in pairs {
        assert_eq!(
            Some(u16::from(group.name())),
            alg.tls_group,
            "{} vs {:?}",
            alg.id,
            group.name()
        );
        assert_eq!(group_algorithm(group.name()).map(|a| a.id), Some(alg.id));
    }
    assert_eq!(u16::from(NamedGroup::MLKEM512), 0x0200);
    assert_eq!(registry::ML_KEM_512.tls_group, Some(0x0200));
    // Not in the registry (yet): the P-256 hybrid.
    assert!(group_algorithm(NamedGroup::secp256r1MLKEM768).is_none());
    // Every registry KEM with a TLS code point is one rustls knows by name.
    for alg in registry::ALL
        .iter()
        .filter(|a| a.kind == registry::Kind::Kem)
    {
        if let Some(code) = alg.tls_group {
            assert!(
                !matches!(NamedGroup::from(code), NamedGroup::Unknown(_)),
                "{} has TLS group {code:#06x} unknown to rustls",
                alg.id
            );
        }
    }
    // The X25519MLKEM768 name: registry id, IANA name, and the draft it follows.
    assert_eq!(
        group_name(NamedGroup::X25519MLKEM768),
        Some("X25519MLKEM768")
    );
    assert_eq!(
        registry::X25519_MLKEM768.standard,
        registry::drafts::TLS_ECDHE_MLKEM
    );
}

/// The signature schemes our certificates and a future ML-DSA certificate would use.
#[test]
fn registry_tls_signature_code_points_match_rustls() {
    let pairs = [
        (
            SignatureScheme::ECDSA_NISTP256_SHA256,
            &registry::ECDSA_P256_SHA256,
        ),
        (
            SignatureScheme::ECDSA_NISTP384_SHA384,
            &registry::ECDSA_P384_SHA384,
        ),
        (SignatureScheme::ED25519, &registry::ED25519),
        (
            SignatureScheme::RSA_PSS_SHA256,
            &registry::RSA_PSS_2048_SHA256,
        ),
        (SignatureScheme::ML_DSA_44, &registry::ML_DSA_44),
        (SignatureScheme::ML_DSA_65, &registry::ML_DSA_65),
        (SignatureScheme::ML_DSA_87, &registry::ML_DSA_87),
    ];
    for (scheme, alg) in pairs {
        assert_eq!(Some(u16::from(scheme)), alg.tls_group, "{}", alg.id);
    }
}
