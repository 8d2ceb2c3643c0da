//! Development certificates: a client that trusts the dev certificate (loaded back from its PEM
//! files) connects; anything else is refused; PEM errors name the file.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod support;

use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P384_SHA384_ASN1_SIGNING, EcdsaKeyPair,
};
use qsafe_tls::rustls::pki_types::PrivateKeyDer;
use qsafe_tls::{
    DEV_HOSTNAMES, Error, Fallback, Suite, client_config, dev_certificate, load_cert_chain,
    load_private_key, load_root_store, server_config,
};
use support::handshake;

fn pkcs8(key: &PrivateKeyDer<'_>) -> Vec<u8> {
    match key {
        PrivateKeyDer::Pkcs8(k) => k.secret_pkcs8_der().to_vec(),
        other => panic!("expected PKCS#8, got {other:?}"),
    }
}

#[test]
fn dev_cert_round_trip_through_pem_files() {
    for (suite, group) in [
        (Suite::Default, "X25519MLKEM768"),
        (Suite::Cnsa2, "MLKEM1024"),
    ] {
        let dev = dev_certificate(suite, DEV_HOSTNAMES).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        std::fs::write(&cert_path, dev.cert_pem()).unwrap();
        std::fs::write(&key_path, dev.key_pem()).unwrap();
        assert!(dev.cert_pem().starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(dev.key_pem().starts_with("-----BEGIN PRIVATE KEY-----"));

        let chain = load_cert_chain(&cert_path).unwrap();
        let key = load_private_key(&key_path).unwrap();
        assert_eq!(chain, dev.cert_chain());
        // P-256 for the default suite, P-384 for CNSA 2.0.
        let der = pkcs8(&key);
        match suite {
            Suite::Default => {
                EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &der).unwrap();
            }
            Suite::Cnsa2 => {
                EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_ASN1_SIGNING, &der).unwrap();
            }
        }

        let server = server_config(suite, Fallback::Disabled, chain, key).unwrap();
        let client = client_config(
            suite,
            Fallback::Disabled,
            load_root_store(&cert_path).unwrap(),
        )
        .unwrap();
        let (c, s) = handshake(client, server);
        assert_eq!(c.unwrap().group, Some(group));
        assert_eq!(s.unwrap().group, Some(group));
    }
}

#[test]
fn client_that_does_not_trust_the_dev_cert_is_refused() {
    let dev = dev_certificate(Suite::Default, &["localhost"]).unwrap();
    let other = dev_certificate(Suite::Default, &["localhost"]).unwrap();
    let server = server_config(
        Suite::Default,
        Fallback::Disabled,
        dev.cert_chain(),
        dev.private_key(),
    )
    .unwrap();
    let client = client_config(
        Suite::Default,
        Fallback::Disabled,
        other.root_store().unwrap(),
    )
    .unwrap();
    let (c, s) = handshake(client, server);
    let (c, s) = (c.unwrap_err(), s.unwrap_err());
    assert!(c.contains("InvalidCertificate"), "{c}");
    assert!(s.contains("AlertReceived"), "{s}");
}

#[test]
fn dev_cert_for_another_name_is_refused() {
    let dev = dev_certificate(Suite::Default, &["gateway.internal"]).unwrap();
    let server = server_config(
        Suite::Default,
        Fallback::Disabled,
        dev.cert_chain(),
        dev.private_key(),
    )
    .unwrap();
    let client = client_config(
        Suite::Default,
        Fallback::Disabled,
        dev.root_store().unwrap(),
    )
    .unwrap();
    let (c, _) = handshake(client, server); // connects as "localhost"
    assert!(c.unwrap_err().contains("NotValidForName"));
}

#[test]
fn dev_cert_needs_a_hostname_and_hides_its_key() {
    assert!(matches!(
        dev_certificate(Suite::Default, &[]),
        Err(Error::NoHostnames)
    ));
    let dev = dev_certificate(Suite::Default, &["localhost"]).unwrap();
    let debug = format!("{dev:?}");
    assert!(debug.contains("BEGIN CERTIFICATE"));
    assert!(!debug.contains("PRIVATE KEY"), "{debug}");
}

#[test]
fn pem_errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.pem");
    let err = load_cert_chain(&missing).unwrap_err().to_string();
    assert!(
        err.starts_with("cannot read certificate chain from "),
        "{err}"
    );
    assert!(err.contains("missing.pem"), "{err}");

    let err = load_private_key(&missing).unwrap_err().to_string();
    assert!(err.starts_with("cannot read private key from "), "{err}");
    assert!(err.contains("missing.pem"), "{err}");

    let err = load_root_store(&missing).unwrap_err().to_string();
    assert!(
        err.starts_with("cannot read trusted certificates from "),
        "{err}"
    );

    // A key file given as the certificate, and a certificate given as the key.
    let dev = dev_certificate(Suite::Default, &["localhost"]).unwrap();
    let key_file = dir.path().join("key.pem");
    let cert_file = dir.path().join("cert.pem");
    std::fs::write(&key_file, dev.key_pem()).unwrap();
    std::fs::write(&cert_file, dev.cert_pem()).unwrap();
    let err = load_cert_chain(&key_file).unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "no CERTIFICATE section in {}: expected a PEM certificate chain",
            key_file.display()
        )
    );
    let err = load_private_key(&cert_file).unwrap_err().to_string();
    assert!(
        err.contains("cert.pem") && err.contains("no items found"),
        "{err}"
    );

    // Corrupt base64.
    let bad = dir.path().join("bad.pem");
    std::fs::write(
        &bad,
        "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let err = load_cert_chain(&bad).unwrap_err().to_string();
    assert!(err.contains("bad.pem"), "{err}");
}

#[test]
fn key_that_does_not_match_the_certificate_is_rejected() {
    let a = dev_certificate(Suite::Default, &["localhost"]).unwrap();
    let b = dev_certificate(Suite::Default, &["localhost"]).unwrap();
    let err = server_config(
        Suite::Default,
        Fallback::Disabled,
        a.cert_chain(),
        b.private_key(),
    )
    .unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err}");
    assert!(
        err.to_string().starts_with("tls configuration rejected: "),
        "{err}"
    );
}
