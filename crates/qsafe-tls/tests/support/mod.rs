//! Shared loopback helpers for the integration tests (a `mod.rs` because every file directly in
//! `tests/` becomes its own test crate).
#![allow(dead_code)] // each test crate uses a different subset

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use qsafe_tls::negotiated_group_name;
use qsafe_tls::rustls::crypto::{CryptoProvider, SupportedKxGroup, aws_lc_rs};
use qsafe_tls::rustls::pki_types::ServerName;
use qsafe_tls::rustls::{
    self, ClientConfig, ClientConnection, RootCertStore, ServerConfig, ServerConnection,
    StreamOwned, SupportedProtocolVersion,
};

pub const TIMEOUT: Duration = Duration::from_secs(20);
pub const GREETING: &[u8] = b"hello from qsafe-tls\n";

/// What one side saw of a handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handshake {
    pub group: Option<&'static str>,
    pub version: Option<rustls::ProtocolVersion>,
    pub suite: Option<rustls::CipherSuite>,
    pub alpn: Option<Vec<u8>>,
}

fn describe(conn: &rustls::CommonState) -> Handshake {
    Handshake {
        group: negotiated_group_name(conn),
        version: conn.protocol_version(),
        suite: conn.negotiated_cipher_suite().map(|s| s.suite()),
        alpn: conn.alpn_protocol().map(<[u8]>::to_vec),
    }
}

/// The rustls error inside an I/O error, or the I/O error itself, as text.
pub fn error_text(e: &std::io::Error) -> String {
    match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        Some(tls) => format!("{tls:?}: {tls}"),
        None => format!("io: {e}"),
    }
}

/// Serves exactly one connection on a fresh loopback port: handshake, send [`GREETING`],
/// close_notify. The thread returns what the server negotiated, or the handshake error.
pub fn serve_once(
    config: Arc<ServerConfig>,
) -> (SocketAddr, JoinHandle<Result<Handshake, String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = std::thread::spawn(move || {
        let (mut tcp, _) = listener.accept().map_err(|e| format!("accept: {e}"))?;
        tcp.set_read_timeout(Some(TIMEOUT)).ok();
        tcp.set_write_timeout(Some(TIMEOUT)).ok();
        let mut conn = ServerConnection::new(config).map_err(|e| e.to_string())?;
        while conn.is_handshaking() {
            conn.complete_io(&mut tcp).map_err(|e| error_text(&e))?;
        }
        let seen = describe(&conn);
        // After the handshake, errors (a peer that hangs up first) do not matter.
        let mut stream = StreamOwned::new(conn, tcp);
        let _ = stream.write_all(GREETING);
        stream.conn.send_close_notify();
        let _ = stream.flush();
        let _ = stream.conn.complete_io(&mut stream.sock);
        Ok(seen)
    });
    (addr, handle)
}

/// Connects to `addr` as `localhost`, completes the handshake and reads the greeting.
pub fn connect(config: Arc<ClientConfig>, addr: SocketAddr) -> Result<Handshake, String> {
    let mut tcp = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
    tcp.set_read_timeout(Some(TIMEOUT)).ok();
    tcp.set_write_timeout(Some(TIMEOUT)).ok();
    let name = ServerName::try_from("localhost").map_err(|e| e.to_string())?;
    let mut conn = ClientConnection::new(config, name).map_err(|e| e.to_string())?;
    while conn.is_handshaking() {
        conn.complete_io(&mut tcp).map_err(|e| error_text(&e))?;
    }
    let seen = describe(&conn);
    let mut stream = StreamOwned::new(conn, tcp);
    let mut got = Vec::new();
    stream
        .read_to_end(&mut got)
        .map_err(|e| format!("after handshake: {}", error_text(&e)))?;
    assert_eq!(got, GREETING);
    Ok(seen)
}

/// Runs one client against one server configuration; returns (client, server) outcomes.
pub fn handshake(
    client: Arc<ClientConfig>,
    server: Arc<ServerConfig>,
) -> (Result<Handshake, String>, Result<Handshake, String>) {
    let (addr, server) = serve_once(server);
    let client = connect(client, addr);
    let server = server.join().unwrap();
    (client, server)
}

/// A rustls client configured *outside* qsafe's policy: only the given groups and versions,
/// every aws-lc-rs cipher suite (a stand-in for a legacy client).
pub fn custom_client(
    roots: RootCertStore,
    groups: &[&'static dyn SupportedKxGroup],
    versions: &[&'static SupportedProtocolVersion],
) -> Arc<ClientConfig> {
    let provider = CryptoProvider {
        kx_groups: groups.to_vec(),
        cipher_suites: aws_lc_rs::ALL_CIPHER_SUITES.to_vec(),
        ..aws_lc_rs::default_provider()
    };
    Arc::new(
        ClientConfig::builder_with_provider(Arc::new(provider))
            .with_protocol_versions(versions)
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

/// A rustls server configured outside qsafe's policy, with only the given groups.
pub fn custom_server(
    cert: &qsafe_tls::DevCertificate,
    groups: &[&'static dyn SupportedKxGroup],
) -> Arc<ServerConfig> {
    let provider = CryptoProvider {
        kx_groups: groups.to_vec(),
        ..aws_lc_rs::default_provider()
    };
    Arc::new(
        ServerConfig::builder_with_provider(Arc::new(provider))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(cert.cert_chain(), cert.private_key())
            .unwrap(),
    )
}
