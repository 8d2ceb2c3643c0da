//! A key store whose KEK is an AES-256 key on a SoftHSM2 token, from the command line:
//! `key init --pkcs11-*` generating the key on the token, create/rotate/show, a wrong PIN
//! (exit 3, PIN never echoed), a missing module flag (exit 2) and the Kubernetes export.
//! Skips with a notice when SoftHSM2 is absent, unless QSAFE_REQUIRE_SOFTHSM=1.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};

use assert_cmd::Command;

const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
const PIN: &str = "qsafe-test-user-pin";

fn module() -> PathBuf {
    std::env::var_os("QSAFE_SOFTHSM_MODULE").map_or_else(|| MODULE.into(), PathBuf::from)
}

/// Makes a private token with the repository's script; None (after a notice) without SoftHSM2.
fn token(dir: &Path) -> Option<String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/softhsm-init.sh");
    let available = module().exists()
        && std::process::Command::new("softhsm2-util")
            .arg("--version")
            .output()
            .is_ok();
    if !available {
        assert!(
            std::env::var("QSAFE_REQUIRE_SOFTHSM").as_deref() != Ok("1"),
            "SoftHSM2 is required (QSAFE_REQUIRE_SOFTHSM=1) but not installed"
        );
        eprintln!("notice: SoftHSM2 is not installed; the PKCS#11 CLI test does not run");
        return None;
    }
    let out = std::process::Command::new(script)
        .arg(dir.join("hsm"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = String::from_utf8(out.stdout).unwrap();
    Some(
        line.trim()
            .strip_prefix("export SOFTHSM2_CONF=")
            .unwrap()
            .trim_matches('\'')
            .to_string(),
    )
}

fn qsafe(dir: &Path, conf: &str, pin: &str, args: &[&str]) -> (i32, String, String) {
    let out = Command::cargo_bin("qsafe")
        .unwrap()
        .current_dir(dir)
        .env("SOFTHSM2_CONF", conf)
        .env("QSAFE_PKCS11_MODULE", module())
        .env("QSAFE_PKCS11_PIN", pin)
        .env_remove("QSAFE_PASSPHRASE")
        .env_remove("QSAFE_STORE")
        .args(args)
        .arg("--store")
        .arg(dir.join("store"))
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn store_wrapped_on_a_softhsm2_token() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    let Some(conf) = token(p) else { return };
    let ok = |args: &[&str]| {
        let (code, out, err) = qsafe(p, &conf, PIN, args);
        assert_eq!(code, 0, "qsafe {args:?}: {err}");
        out
    };

    let init = ok(&[
        "--json",
        "key",
        "init",
        "--pkcs11-token",
        "qsafe-test",
        "--pkcs11-key",
        "qsafe-kek",
        "--pkcs11-create-key",
    ]);
    assert!(init.contains("pkcs11"), "{init}");
    ok(&["key", "create", "gw", "--alg", "x-wing"]);
    ok(&["key", "rotate", "gw"]);
    let show: serde_json::Value =
        serde_json::from_str(&ok(&["--json", "key", "show", "gw"])).unwrap();
    assert_eq!(show["versions"].as_array().unwrap().len(), 2);
    let store_json = std::fs::read_to_string(p.join("store/store.json")).unwrap();
    assert!(store_json.contains("\"pkcs11\""), "{store_json}");
    assert!(!store_json.contains(PIN));

    // The private key really is wrapped: export --private needs the token.
    ok(&[
        "key",
        "export",
        "gw",
        "--private",
        "--version",
        "2",
        "-o",
        "gw.key",
    ]);
    assert!(
        std::fs::read_to_string(p.join("gw.key"))
            .unwrap()
            .contains("PRIVATE KEY")
    );
    let secret = ok(&["key", "export", "gw", "--k8s-secret"]);
    assert!(secret.contains("kind: Secret"), "{secret}");

    // A wrong PIN: exit 3, and the PIN given is never printed.
    let (code, _, err) = qsafe(p, &conf, "wrong-pin-xyzzy", &["key", "list"]);
    assert_eq!(code, 3, "{err}");
    assert!(err.to_lowercase().contains("pin"), "{err}");
    assert!(!err.contains("xyzzy"), "the PIN leaked: {err}");

    // Without a module the store cannot be opened; the error says which flag to pass.
    let out = Command::cargo_bin("qsafe")
        .unwrap()
        .current_dir(p)
        .env("SOFTHSM2_CONF", &conf)
        .env_remove("QSAFE_PKCS11_MODULE")
        .env("QSAFE_PKCS11_PIN", PIN)
        .args(["key", "list", "--store"])
        .arg(p.join("store"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("--pkcs11-module"), "{err}");

    // A second init on the same token refuses to make a second key with the same label.
    let other = tempfile::tempdir().unwrap();
    let (code, _, err) = qsafe(
        other.path(),
        &conf,
        PIN,
        &[
            "key",
            "init",
            "--pkcs11-token",
            "qsafe-test",
            "--pkcs11-key",
            "qsafe-kek",
            "--pkcs11-create-key",
        ],
    );
    assert_ne!(code, 0, "{err}");
    assert!(err.contains("qsafe-kek"), "{err}");
}
