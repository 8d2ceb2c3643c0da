//! `TlsAcceptor` on tokio: the server's post-quantum preference wins over the client's order,
//! classical-only clients get the fallback only when it is enabled, ALPN is passed through.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod support;

use std::sync::Arc;

use qsafe_tls::rustls::crypto::aws_lc_rs::kx_group;
use qsafe_tls::rustls::pki_types::ServerName;
use qsafe_tls::rustls::{ClientConfig, version};
use qsafe_tls::tokio_rustls::TlsConnector;
use qsafe_tls::{
    DevCertificate, Fallback, Suite, TlsAcceptor, client_config, dev_certificate,
    negotiated_group_name,
};
use support::{custom_client, error_text};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

type Seen = (Option<&'static str>, Option<Vec<u8>>);

/// One connection through `acceptor`; returns (client, server) views or their errors.
async fn run(
    acceptor: TlsAcceptor,
    client: Arc<ClientConfig>,
) -> (Result<Seen, String>, Result<Seen, String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut tls = acceptor.accept(tcp).await.map_err(|e| error_text(&e))?;
        let (_, conn) = tls.get_ref();
        let seen = (
            negotiated_group_name(conn),
            conn.alpn_protocol().map(<[u8]>::to_vec),
        );
        tls.write_all(b"ok").await.map_err(|e| e.to_string())?;
        tls.shutdown().await.map_err(|e| e.to_string())?;
        Ok::<_, String>(seen)
    });
    let client = async {
        let tcp = TcpStream::connect(addr).await.unwrap();
        let name = ServerName::try_from("localhost").unwrap();
        let mut tls = TlsConnector::from(client)
            .connect(name, tcp)
            .await
            .map_err(|e| error_text(&e))?;
        let mut buf = Vec::new();
        tls.read_to_end(&mut buf).await.map_err(|e| e.to_string())?;
        assert_eq!(buf, b"ok");
        let (_, conn) = tls.get_ref();
        Ok::<_, String>((
            negotiated_group_name(conn),
            conn.alpn_protocol().map(<[u8]>::to_vec),
        ))
    };
    let timeout = support::TIMEOUT;
    let client = tokio::time::timeout(timeout, client)
        .await
        .expect("client timed out");
    let server = tokio::time::timeout(timeout, server)
        .await
        .expect("server timed out")
        .unwrap();
    (client, server)
}

fn acceptor(suite: Suite, fallback: Fallback, cert: &DevCertificate) -> TlsAcceptor {
    TlsAcceptor::new(suite, fallback, cert.cert_chain(), cert.private_key()).unwrap()
}

#[tokio::test]
async fn acceptor_prefers_post_quantum_over_the_client_order() {
    let cert = dev_certificate(Suite::Default, &["localhost"]).unwrap();
    // Lists x25519 first and sends its key share: the server asks for X25519MLKEM768 instead
    // (HelloRetryRequest).
    let client = custom_client(
        cert.root_store().unwrap(),
        &[kx_group::X25519, kx_group::X25519MLKEM768],
        &[&version::TLS13],
    );
    let (c, s) = run(acceptor(Suite::Default, Fallback::Enabled, &cert), client).await;
    assert_eq!(c.unwrap().0, Some("X25519MLKEM768"));
    assert_eq!(s.unwrap().0, Some("X25519MLKEM768"));

    // Same for cnsa2 with a client that knows only the hybrid besides P-384.
    let client = custom_client(
        cert.root_store().unwrap(),
        &[kx_group::SECP384R1, kx_group::X25519MLKEM768],
        &[&version::TLS13],
    );
    let (_, s) = run(acceptor(Suite::Cnsa2, Fallback::Enabled, &cert), client).await;
    assert_eq!(s.unwrap().0, Some("X25519MLKEM768"));
}

#[tokio::test]
async fn acceptor_fallback_only_for_classical_only_clients() {
    let cert = dev_certificate(Suite::Default, &["localhost"]).unwrap();
    let classical = || {
        custom_client(
            cert.root_store().unwrap(),
            &[kx_group::X25519],
            &[&version::TLS13],
        )
    };

    let (c, s) = run(
        acceptor(Suite::Default, Fallback::Enabled, &cert),
        classical(),
    )
    .await;
    assert_eq!(c.unwrap().0, Some("x25519"));
    assert_eq!(s.unwrap().0, Some("x25519"));

    let (c, s) = run(
        acceptor(Suite::Default, Fallback::Disabled, &cert),
        classical(),
    )
    .await;
    assert!(c.unwrap_err().contains("AlertReceived(HandshakeFailure)"));
    assert!(s.unwrap_err().contains("NoKxGroupsInCommon"));

    // TLS 1.2 clients send no post-quantum group: fallback configuration, when enabled.
    let tls12 = custom_client(
        cert.root_store().unwrap(),
        &[kx_group::SECP256R1],
        &[&version::TLS12],
    );
    let (c, _) = run(acceptor(Suite::Default, Fallback::Enabled, &cert), tls12).await;
    assert_eq!(c.unwrap().0, Some("secp256r1"));
}

#[tokio::test]
async fn acceptor_negotiates_alpn_and_the_suite_default() {
    let cert = dev_certificate(Suite::Cnsa2, &["localhost"]).unwrap();
    let mut client = (*client_config(Suite::Cnsa2, Fallback::Disabled, cert.root_store().unwrap())
        .unwrap())
    .clone();
    client.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let acc = acceptor(Suite::Cnsa2, Fallback::Enabled, &cert).with_alpn(&[b"h2", b"http/1.1"]);
    assert_eq!(
        (acc.suite(), acc.fallback()),
        (Suite::Cnsa2, Fallback::Enabled)
    );
    let (c, s) = run(acc, Arc::new(client)).await;
    assert_eq!(c.unwrap(), (Some("MLKEM1024"), Some(b"h2".to_vec())));
    assert_eq!(s.unwrap(), (Some("MLKEM1024"), Some(b"h2".to_vec())));
}
