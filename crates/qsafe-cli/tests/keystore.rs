//! The key store from the command line: init, create, rotate, policy, retire/destroy,
//! exports, audit verification, and `qsafe rewrap -k NAME` from an old version to the active
//! one (refused below min_decryption_version).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;

use assert_cmd::Command;

fn run(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::cargo_bin("qsafe")
        .unwrap()
        .current_dir(dir)
        .env("QSAFE_PASSPHRASE", "correct horse battery staple")
        .env_remove("QSAFE_HOME")
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

fn ok(dir: &Path, args: &[&str]) -> String {
    let (code, out, err) = run(dir, args);
    assert_eq!(code, 0, "qsafe {args:?}: {err}");
    out
}

#[test]
fn store_lifecycle_and_rewrap_by_name() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    ok(p, &["key", "init"]);
    let (code, _, err) = run(p, &["key", "init"]);
    assert_eq!(code, 1, "a second init is refused: {err}");
    ok(p, &["key", "create", "models", "--alg", "mlkem1024-p384"]);
    ok(p, &["key", "export", "models", "--public", "-o", "v1.pub"]);
    std::fs::write(p.join("m.bin"), vec![42u8; 50_000]).unwrap();
    let seal = |out: &str| {
        let mut c = Command::cargo_bin("qsafe").unwrap();
        c.current_dir(p).args([
            "seal", "--suite", "cnsa2", "-r", "v1.pub", "-o", out, "m.bin",
        ]);
        assert!(c.output().unwrap().status.success());
    };
    seal("a.qs");
    seal("b.qs");
    ok(p, &["key", "rotate", "models"]);

    // Re-wrap from version 1 to the active version 2, in place.
    let out = ok(
        p,
        &["--json", "rewrap", "-k", "models", "--in-place", "a.qs"],
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (v["from_version"].as_u64(), v["to_version"].as_u64()),
        (Some(1), Some(2))
    );
    ok(p, &["key", "export", "models", "--private", "-o", "v2.key"]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(p.join("v2.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let mut open = Command::cargo_bin("qsafe").unwrap();
    let r = open
        .current_dir(p)
        .args(["open", "-k", "v2.key", "-o", "a.out", "a.qs"])
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert_eq!(std::fs::read(p.join("a.out")).unwrap(), vec![42u8; 50_000]);

    // A Kubernetes Secret for the active version.
    let manifest = ok(
        p,
        &[
            "key",
            "export",
            "models",
            "--k8s-secret",
            "--namespace",
            "ml",
        ],
    );
    assert!(
        manifest.starts_with("apiVersion: v1\nkind: Secret\n"),
        "{manifest}"
    );
    assert!(manifest.contains("  namespace: ml\n"), "{manifest}");
    assert!(
        manifest.contains("qsafe.dev/key-version: \"2\""),
        "{manifest}"
    );
    assert!(
        !manifest.contains("PRIVATE KEY"),
        "the private key stays wrapped"
    );

    // Raise the floor: version 1 may no longer decrypt, so b.qs cannot be re-wrapped.
    ok(
        p,
        &[
            "key",
            "set-policy",
            "models",
            "--min-decryption-version",
            "2",
        ],
    );
    let (code, _, err) = run(p, &["rewrap", "-k", "models", "--in-place", "b.qs"]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("min_decryption_version"), "{err}");

    // Retire and destroy the old version; the active one is protected.
    let (code, _, err) = run(
        p,
        &["key", "destroy", "models", "--version", "2", "--confirm"],
    );
    assert_ne!(code, 0, "{err}");
    ok(p, &["key", "retire", "models", "--version", "1"]);
    let (code, _, _) = run(p, &["key", "destroy", "models", "--version", "1"]);
    assert_eq!(code, 2, "destroy needs --confirm");
    ok(
        p,
        &["key", "destroy", "models", "--version", "1", "--confirm"],
    );
    let show: serde_json::Value =
        serde_json::from_str(&ok(p, &["--json", "key", "show", "models"])).unwrap();
    assert_eq!(show["versions"][0]["status"], "destroyed");
    assert_eq!(show["versions"][0]["private_key"], false);
    assert_eq!(show["versions"][1]["status"], "active");

    // The audit log verifies; a backup restores elsewhere and opens with the passphrase.
    ok(p, &["key", "audit", "verify"]);
    ok(p, &["key", "backup", "-o", "store.backup"]);
    let restored = Command::cargo_bin("qsafe")
        .unwrap()
        .current_dir(p)
        .env("QSAFE_PASSPHRASE", "correct horse battery staple")
        .args(["--json", "key", "show", "models", "--store"])
        .arg(p.join("restored"))
        .output()
        .unwrap();
    assert_eq!(restored.status.code(), Some(1), "no store there yet");
    let r = Command::cargo_bin("qsafe")
        .unwrap()
        .current_dir(p)
        .args(["key", "restore", "store.backup", "--store"])
        .arg(p.join("restored"))
        .output()
        .unwrap();
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let again = Command::cargo_bin("qsafe")
        .unwrap()
        .current_dir(p)
        .env("QSAFE_PASSPHRASE", "correct horse battery staple")
        .args(["--json", "key", "show", "models", "--store"])
        .arg(p.join("restored"))
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(v, show);

    // An edited audit line is detected.
    let log = p.join("store/audit.jsonl");
    let text = std::fs::read_to_string(&log).unwrap();
    std::fs::write(&log, text.replacen("\"rotate\"", "\"create\"", 1)).unwrap();
    let (code, _, err) = run(p, &["key", "audit", "verify"]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("line"), "{err}");

    // A wrong passphrase is named as such.
    let out = Command::cargo_bin("qsafe")
        .unwrap()
        .current_dir(p)
        .env("QSAFE_PASSPHRASE", "wrong")
        .args(["key", "list", "--store"])
        .arg(p.join("store"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("wrong passphrase"));
}

/// Runs `qsafe ARGS --store DIR/store` on a pseudo-terminal (util-linux `script`) with `typed`
/// as the keyboard, without QSAFE_PASSPHRASE, so the passphrase is prompted for.
#[cfg(target_os = "linux")]
fn on_terminal(dir: &Path, args: &[&str], typed: &str) -> (i32, String) {
    let bin = assert_cmd::cargo::cargo_bin("qsafe");
    let mut cmd = vec![bin.display().to_string()];
    cmd.extend(args.iter().map(|a| (*a).to_owned()));
    cmd.extend([
        "--store".to_owned(),
        dir.join("store").display().to_string(),
    ]);
    let line = cmd
        .iter()
        .map(|a| format!("'{}'", a.replace('\'', r"'\''")))
        .collect::<Vec<_>>()
        .join(" ");
    let out = Command::new("script")
        .args(["-q", "-e", "-c", &line, "/dev/null"])
        .current_dir(dir)
        .env_remove("QSAFE_PASSPHRASE")
        .env_remove("QSAFE_HOME")
        .write_stdin(typed)
        .timeout(std::time::Duration::from_secs(60))
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap_or(-1), text)
}

#[cfg(target_os = "linux")]
#[test]
fn passphrase_prompted_on_a_terminal() {
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("skipped: util-linux `script` is not installed");
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    let secret = "correct horse battery staple";

    // init asks twice; a mismatch is refused and creates nothing.
    let (code, text) = on_terminal(p, &["key", "init"], "one\ntwo\n");
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("the two passphrases differ"), "{text}");
    assert!(!p.join("store").join("store.json").exists());

    let (code, text) = on_terminal(p, &["key", "init"], &format!("{secret}\n{secret}\n"));
    assert_eq!(code, 0, "{text}");
    // Input typed ahead is echoed by the terminal before qsafe turns echo off; nothing is
    // echoed once the prompt is up.
    let after_prompt = text
        .split("key store passphrase:")
        .nth(1)
        .unwrap_or_default();
    assert!(!after_prompt.is_empty(), "{text}");
    assert!(
        !after_prompt.contains(secret),
        "the passphrase is echoed: {text}"
    );

    // Later commands ask once; the prompted passphrase is the one the variable gives.
    let (code, text) = on_terminal(
        p,
        &["key", "create", "m", "--alg", "x-wing"],
        &format!("{secret}\n"),
    );
    assert_eq!(code, 0, "{text}");
    ok(p, &["key", "show", "m"]);
    let (code, text) = on_terminal(p, &["key", "list"], "wrong\n");
    assert_eq!(code, 3, "a wrong passphrase: {text}");

    // Without a terminal and without a source: a usage error naming all three ways.
    let out = Command::cargo_bin("qsafe")
        .unwrap()
        .env_remove("QSAFE_PASSPHRASE")
        .args(["key", "list", "--store"])
        .arg(p.join("store"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("run on a terminal to be asked"), "{err}");
}
