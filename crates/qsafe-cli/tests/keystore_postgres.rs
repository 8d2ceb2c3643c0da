//! `--store` pointing at PostgreSQL (`QSAFE_TEST_POSTGRES`, a libpq connection string that
//! `.ci/run` sets): a directory store moved into PostgreSQL by backup and restore, two
//! processes seeing one rotation, rewrap by key name, audit verification, and a wrong
//! password reported without echoing it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;

use assert_cmd::Command;
use serde_json::Value;

fn conn() -> Option<String> {
    let c = std::env::var("QSAFE_TEST_POSTGRES").ok();
    if c.is_none() {
        eprintln!("notice: QSAFE_TEST_POSTGRES is not set; the PostgreSQL CLI tests do not run");
    }
    c
}

fn qsafe(dir: &Path, store: &str, schema: &str, args: &[&str]) -> (i32, String, String) {
    let out = Command::cargo_bin("qsafe")
        .unwrap()
        .current_dir(dir)
        .env("QSAFE_PASSPHRASE", "pg cli passphrase")
        .env_remove("QSAFE_HOME")
        .env_remove("PGPASSWORD")
        .env("QSAFE_STORE", store)
        .args(args)
        .args(["--pg-schema", schema])
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn ok(dir: &Path, store: &str, schema: &str, args: &[&str]) -> String {
    let (code, out, err) = qsafe(dir, store, schema, args);
    assert_eq!(code, 0, "qsafe {args:?}: {err}");
    out
}

fn versions(dir: &Path, store: &str, schema: &str) -> Vec<(u64, String)> {
    let show: Value = serde_json::from_str(&ok(
        dir,
        store,
        schema,
        &["--json", "key", "show", "models"],
    ))
    .unwrap();
    show["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["version"].as_u64().unwrap(),
                v["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn directory_store_moves_into_postgres_and_replicas_share_it() {
    let Some(pg) = conn() else { return };
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    let dir_store = p.join("store").display().to_string();
    let schema = format!(
        "qsafe_cli_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis()
    );

    // A directory store with one key and a file sealed to version 1.
    ok(p, &dir_store, &schema, &["key", "init"]);
    ok(
        p,
        &dir_store,
        &schema,
        &["key", "create", "models", "--alg", "x-wing"],
    );
    ok(
        p,
        &dir_store,
        &schema,
        &["key", "export", "models", "--public", "-o", "v1.pub"],
    );
    std::fs::write(p.join("m.bin"), vec![7u8; 40_000]).unwrap();
    Command::cargo_bin("qsafe")
        .unwrap()
        .current_dir(p)
        .args(["seal", "-r", "v1.pub", "-o", "m.qs", "m.bin"])
        .assert()
        .success();
    ok(
        p,
        &dir_store,
        &schema,
        &["key", "backup", "-o", "backup.json"],
    );

    // Restore into an empty schema; a second restore is refused and changes nothing.
    ok(p, &pg, &schema, &["key", "restore", "backup.json"]);
    let (code, _, err) = qsafe(p, &pg, &schema, &["key", "restore", "backup.json"]);
    assert_eq!(code, 1, "restoring over a store is refused: {err}");
    assert!(err.contains("already"), "{err}");
    assert_eq!(versions(p, &pg, &schema), [(1, "active".to_string())]);

    // One process rotates; another sees version 2 at once.
    ok(p, &pg, &schema, &["key", "rotate", "models"]);
    assert_eq!(
        versions(p, &pg, &schema),
        [(1, "decrypt-only".to_string()), (2, "active".to_string())]
    );

    // Rewrap by name from the PostgreSQL store, then open with version 2's private key.
    ok(
        p,
        &pg,
        &schema,
        &["rewrap", "-k", "models", "m.qs", "-o", "m2.qs"],
    );
    let (code, out, err) = qsafe(
        p,
        &pg,
        &schema,
        &[
            "key",
            "export",
            "models",
            "--private",
            "--version",
            "2",
            "-o",
            "v2.key",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    Command::cargo_bin("qsafe")
        .unwrap()
        .current_dir(p)
        .args(["open", "-k", "v2.key", "-o", "back.bin", "m2.qs"])
        .assert()
        .success();
    assert_eq!(
        std::fs::read(p.join("back.bin")).unwrap(),
        vec![7u8; 40_000]
    );

    let audit = ok(p, &pg, &schema, &["--json", "key", "audit", "verify"]);
    let report: Value = serde_json::from_str(&audit).unwrap();
    assert_eq!(report["ok"], true, "{audit}");

    // A wrong database password: a clear error that never echoes the password.
    let wrong = format!("{pg} password=not-the-password-xyzzy");
    let (code, _, err) = qsafe(p, &wrong, &schema, &["key", "list"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("connecting to the key store"), "{err}");
    assert!(!err.contains("xyzzy"), "the password leaked: {err}");
}
