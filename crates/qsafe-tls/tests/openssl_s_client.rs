//! The real OpenSSL command line against our server. Debian 12's OpenSSL 3.0 offers only
//! classical groups, so with `FALLBACK_CRYPTO=disabled` its handshake must fail and with
//! `enabled` it must succeed classically.
//!
//! Skipped with a notice when `openssl` is not on PATH, unless `QSAFE_REQUIRE_OPENSSL=1`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod support;

use std::io::Read;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use qsafe_tls::{DevCertificate, Fallback, Suite, dev_certificate, server_config};
use support::{TIMEOUT, serve_once};

/// `openssl version`'s (major, minor), or `None` (with a notice) when it cannot run.
fn openssl_version() -> Option<(u32, u32)> {
    let out = Command::new("openssl").arg("version").output();
    let out = match out {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).into_owned(),
        other => {
            if std::env::var("QSAFE_REQUIRE_OPENSSL").as_deref() == Ok("1") {
                panic!("QSAFE_REQUIRE_OPENSSL=1 but `openssl version` failed: {other:?}");
            }
            // Written to the real stderr, past libtest's capture, so a skip is never silent.
            let _ = std::io::Write::write_all(
                &mut std::io::stderr(),
                b"\n*** SKIPPED: `openssl` not found; the OpenSSL interoperability test did not \
                  run (install the `openssl` package, or set QSAFE_REQUIRE_OPENSSL=1 to fail) ***\n",
            );
            return None;
        }
    };
    eprintln!("using {}", out.trim());
    // "OpenSSL 3.0.19 27 Jan 2026 (Library: ...)"
    let v = out.split_whitespace().nth(1)?;
    let mut parts = v.split('.').map(|p| p.parse::<u32>().ok());
    Some((parts.next()??, parts.next()??))
}

struct Outcome {
    success: bool,
    /// s_client's `-brief` summary and errors go to stderr.
    stderr: String,
}

/// Runs `openssl s_client -brief` against `addr` with stdin closed, trusting `ca`.
fn s_client(addr: SocketAddr, ca: &Path, extra: &[&str]) -> Outcome {
    let mut child = Command::new("openssl")
        .args(["s_client", "-connect", &addr.to_string()])
        .args(["-servername", "localhost", "-brief", "-verify_return_error"])
        .arg("-CAfile")
        .arg(ca)
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > TIMEOUT {
            let _ = child.kill();
            panic!("openssl s_client did not finish within {TIMEOUT:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let mut stdout = String::new();
    let mut stderr = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    eprintln!("--- openssl s_client {extra:?}: {status}\n{stderr}{stdout}---");
    Outcome {
        success: status.success(),
        stderr,
    }
}

fn setup(suite: Suite) -> (DevCertificate, tempfile::TempDir, std::path::PathBuf) {
    let cert = dev_certificate(suite, &["localhost"]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, cert.cert_pem()).unwrap();
    (cert, dir, ca)
}

fn run(
    suite: Suite,
    fallback: Fallback,
    cert: &DevCertificate,
    ca: &Path,
    extra: &[&str],
) -> (Outcome, Result<support::Handshake, String>) {
    let config = server_config(suite, fallback, cert.cert_chain(), cert.private_key()).unwrap();
    let (addr, server) = serve_once(config);
    let out = s_client(addr, ca, extra);
    (out, server.join().unwrap())
}

#[test]
fn openssl_classical_client_fails_against_fallback_disabled() {
    let Some(v) = openssl_version() else { return };
    let (cert, _dir, ca) = setup(Suite::Default);

    // OpenSSL's own default groups: classical only before 3.5.
    let (out, server) = run(Suite::Default, Fallback::Disabled, &cert, &ca, &[]);
    if v < (3, 5) {
        assert!(!out.success, "OpenSSL {v:?} must not connect");
        assert!(
            out.stderr.contains("alert handshake failure"),
            "{}",
            out.stderr
        );
        assert!(out.stderr.contains("alert number 40"), "{}", out.stderr);
        assert!(server.unwrap_err().contains("NoKxGroupsInCommon"));
    } else {
        // OpenSSL 3.5+ offers X25519MLKEM768 by default.
        assert!(out.success, "{}", out.stderr);
        assert_eq!(server.unwrap().group, Some("X25519MLKEM768"));
    }

    // Explicitly classical groups fail on every version.
    let (out, server) = run(
        Suite::Default,
        Fallback::Disabled,
        &cert,
        &ca,
        &["-groups", "X25519:P-256:P-384"],
    );
    assert!(!out.success);
    assert!(
        out.stderr.contains("alert handshake failure"),
        "{}",
        out.stderr
    );
    assert!(server.unwrap_err().contains("NoKxGroupsInCommon"));

    // TLS 1.2 is refused too.
    let (out, server) = run(Suite::Default, Fallback::Disabled, &cert, &ca, &["-tls1_2"]);
    assert!(!out.success);
    assert!(
        out.stderr.contains("alert protocol version"),
        "{}",
        out.stderr
    );
    assert!(server.is_err());
}

#[test]
fn openssl_classical_client_succeeds_against_fallback_enabled() {
    let Some(v) = openssl_version() else { return };
    let (cert, _dir, ca) = setup(Suite::Default);

    let (out, server) = run(
        Suite::Default,
        Fallback::Enabled,
        &cert,
        &ca,
        &["-groups", "X25519:P-256:P-384"],
    );
    assert!(out.success, "{}", out.stderr);
    assert!(
        out.stderr.contains("Protocol version: TLSv1.3"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("Ciphersuite: TLS_AES_256_GCM_SHA384"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("Server Temp Key: X25519"),
        "{}",
        out.stderr
    );
    assert_eq!(server.unwrap().group, Some("x25519"));

    if v < (3, 5) {
        // The default invocation, as a legacy client would run it.
        let (out, server) = run(Suite::Default, Fallback::Enabled, &cert, &ca, &[]);
        assert!(out.success, "{}", out.stderr);
        assert_eq!(server.unwrap().group, Some("x25519"));
    }

    // TLS 1.2 legacy client: ECDHE-ECDSA with AES-256-GCM.
    let (out, server) = run(Suite::Default, Fallback::Enabled, &cert, &ca, &["-tls1_2"]);
    assert!(out.success, "{}", out.stderr);
    assert!(
        out.stderr.contains("Protocol version: TLSv1.2"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("Ciphersuite: ECDHE-ECDSA-AES256-GCM-SHA384"),
        "{}",
        out.stderr
    );
    assert_eq!(
        server.unwrap().version,
        Some(qsafe_tls::rustls::ProtocolVersion::TLSv1_2)
    );
}

#[test]
fn openssl_p384_client_against_cnsa2_with_fallback() {
    let Some(_) = openssl_version() else { return };
    let (cert, _dir, ca) = setup(Suite::Cnsa2);

    let (out, server) = run(
        Suite::Cnsa2,
        Fallback::Enabled,
        &cert,
        &ca,
        &["-groups", "P-384"],
    );
    assert!(out.success, "{}", out.stderr);
    assert!(
        out.stderr.contains("Ciphersuite: TLS_AES_256_GCM_SHA384"),
        "{}",
        out.stderr
    );
    assert_eq!(server.unwrap().group, Some("secp384r1"));

    let (out, server) = run(
        Suite::Cnsa2,
        Fallback::Disabled,
        &cert,
        &ca,
        &["-groups", "P-384"],
    );
    assert!(!out.success);
    assert!(
        out.stderr.contains("alert handshake failure"),
        "{}",
        out.stderr
    );
    assert!(server.is_err());
}
