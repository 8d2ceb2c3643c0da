//! Real TLS handshakes on loopback between qsafe's client and server configurations, and
//! against rustls clients and servers configured for classical key exchange only.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod support;

use qsafe_tls::rustls::crypto::aws_lc_rs::kx_group;
use qsafe_tls::rustls::{CipherSuite, ProtocolVersion, version};
use qsafe_tls::{DevCertificate, Fallback, Suite, client_config, dev_certificate, server_config};
use support::{custom_client, custom_server, handshake};

const BOTH: [Fallback; 2] = [Fallback::Disabled, Fallback::Enabled];

fn cert(suite: Suite) -> DevCertificate {
    dev_certificate(suite, &["localhost"]).unwrap()
}

fn server(
    suite: Suite,
    fallback: Fallback,
    cert: &DevCertificate,
) -> std::sync::Arc<qsafe_tls::rustls::ServerConfig> {
    server_config(suite, fallback, cert.cert_chain(), cert.private_key()).unwrap()
}

#[test]
fn default_negotiates_x25519mlkem768() {
    let cert = cert(Suite::Default);
    for fallback in BOTH {
        let client = client_config(Suite::Default, fallback, cert.root_store().unwrap()).unwrap();
        let (c, s) = handshake(client, server(Suite::Default, fallback, &cert));
        let (c, s) = (c.unwrap(), s.unwrap());
        assert_eq!(c, s);
        assert_eq!(c.group, Some("X25519MLKEM768"), "fallback {fallback}");
        assert_eq!(c.version, Some(ProtocolVersion::TLSv1_3));
        assert_eq!(c.suite, Some(CipherSuite::TLS13_AES_256_GCM_SHA384));
    }
}

#[test]
fn cnsa2_negotiates_mlkem1024_with_aes256() {
    let cert = cert(Suite::Cnsa2);
    for fallback in BOTH {
        let client = client_config(Suite::Cnsa2, fallback, cert.root_store().unwrap()).unwrap();
        let (c, s) = handshake(client, server(Suite::Cnsa2, fallback, &cert));
        let (c, s) = (c.unwrap(), s.unwrap());
        assert_eq!(c, s);
        assert_eq!(c.group, Some("MLKEM1024"), "fallback {fallback}");
        assert_eq!(c.version, Some(ProtocolVersion::TLSv1_3));
        assert_eq!(c.suite, Some(CipherSuite::TLS13_AES_256_GCM_SHA384));
    }
}

#[test]
fn default_and_cnsa2_interoperate_post_quantum() {
    let cert = cert(Suite::Cnsa2);
    // A default client at a cnsa2 gateway: the hybrid, AES-256.
    let client = client_config(
        Suite::Default,
        Fallback::Disabled,
        cert.root_store().unwrap(),
    )
    .unwrap();
    let (c, s) = handshake(client, server(Suite::Cnsa2, Fallback::Disabled, &cert));
    assert_eq!(s.unwrap().group, Some("X25519MLKEM768"));
    assert_eq!(
        c.unwrap().suite,
        Some(CipherSuite::TLS13_AES_256_GCM_SHA384)
    );
    // A cnsa2 client at a default gateway: ML-KEM-1024 (the client's first choice).
    let client =
        client_config(Suite::Cnsa2, Fallback::Disabled, cert.root_store().unwrap()).unwrap();
    let (c, s) = handshake(client, server(Suite::Default, Fallback::Disabled, &cert));
    assert_eq!(s.unwrap().group, Some("MLKEM1024"));
    assert_eq!(c.unwrap().group, Some("MLKEM1024"));
}

#[test]
fn classical_only_client_fails_against_fallback_disabled() {
    for suite in [Suite::Default, Suite::Cnsa2] {
        let cert = cert(suite);
        let client = custom_client(
            cert.root_store().unwrap(),
            &[kx_group::X25519],
            &[&version::TLS13],
        );
        let (c, s) = handshake(client, server(suite, Fallback::Disabled, &cert));
        let (c, s) = (c.unwrap_err(), s.unwrap_err());
        assert!(c.contains("AlertReceived(HandshakeFailure)"), "client: {c}");
        assert!(s.contains("NoKxGroupsInCommon"), "server: {s}");
    }
}

#[test]
fn classical_only_client_succeeds_against_fallback_enabled() {
    let cert = cert(Suite::Default);
    let client = custom_client(
        cert.root_store().unwrap(),
        &[kx_group::X25519],
        &[&version::TLS13],
    );
    let (c, s) = handshake(client, server(Suite::Default, Fallback::Enabled, &cert));
    assert_eq!(c.unwrap().group, Some("x25519"));
    assert_eq!(s.unwrap().group, Some("x25519"));

    // A P-384-only client at a cnsa2 gateway with the fallback: secp384r1, AES-256 only.
    let cert = self::cert(Suite::Cnsa2);
    let client = custom_client(
        cert.root_store().unwrap(),
        &[kx_group::SECP384R1],
        &[&version::TLS13],
    );
    let (c, _) = handshake(client, server(Suite::Cnsa2, Fallback::Enabled, &cert));
    let c = c.unwrap();
    assert_eq!(c.group, Some("secp384r1"));
    assert_eq!(c.suite, Some(CipherSuite::TLS13_AES_256_GCM_SHA384));
}

#[test]
fn tls12_client_only_with_fallback_enabled() {
    let cert = cert(Suite::Default);
    let tls12 = || {
        custom_client(
            cert.root_store().unwrap(),
            &[kx_group::X25519, kx_group::SECP256R1],
            &[&version::TLS12],
        )
    };

    let (c, s) = handshake(tls12(), server(Suite::Default, Fallback::Disabled, &cert));
    assert!(c.unwrap_err().contains("AlertReceived(ProtocolVersion)"));
    assert!(s.unwrap_err().contains("Tls12NotOffered"));

    let (c, s) = handshake(tls12(), server(Suite::Default, Fallback::Enabled, &cert));
    let (c, s) = (c.unwrap(), s.unwrap());
    assert_eq!(c, s);
    assert_eq!(c.version, Some(ProtocolVersion::TLSv1_2));
    assert_eq!(c.group, Some("x25519"));
    assert_eq!(
        c.suite,
        Some(CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384)
    );
}

#[test]
fn client_with_fallback_disabled_refuses_a_classical_server() {
    let cert = cert(Suite::Default);
    let classical_server = custom_server(&cert, &[kx_group::X25519, kx_group::SECP256R1]);
    let client = client_config(
        Suite::Default,
        Fallback::Disabled,
        cert.root_store().unwrap(),
    )
    .unwrap();
    let (c, s) = handshake(client, classical_server.clone());
    assert!(c.is_err(), "{c:?}");
    assert!(s.unwrap_err().contains("NoKxGroupsInCommon"));

    // With the fallback, our client reaches it classically.
    let client = client_config(
        Suite::Default,
        Fallback::Enabled,
        cert.root_store().unwrap(),
    )
    .unwrap();
    let (c, _) = handshake(client, classical_server);
    assert_eq!(c.unwrap().group, Some("x25519"));
}

/// rustls servers follow the client's group order: documents why `TlsAcceptor` exists.
#[test]
fn plain_server_config_follows_the_client_group_order() {
    let cert = cert(Suite::Default);
    let client = custom_client(
        cert.root_store().unwrap(),
        &[kx_group::X25519, kx_group::X25519MLKEM768],
        &[&version::TLS13],
    );
    let (c, _) = handshake(client, server(Suite::Default, Fallback::Enabled, &cert));
    assert_eq!(c.unwrap().group, Some("x25519"));
}
