//! `qsafe model sign` / `qsafe model verify` end to end: outputs, JSON, exit codes and hints.

// Test code: a failed unwrap is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::fs;
use std::path::Path;

use assert_cmd::Command;
use serde_json::Value;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(dir: &Path, args: &[&str]) -> Run {
    let out = Command::cargo_bin("qsafe")
        .unwrap()
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    let r = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert!(!r.stderr.contains("panicked"), "panic: {}", r.stderr);
    r
}

fn ok(dir: &Path, args: &[&str]) -> Run {
    let r = run(dir, args);
    assert_eq!(r.code, 0, "qsafe {args:?} failed: {}", r.stderr);
    r
}

fn fails(dir: &Path, args: &[&str], code: i32, needle: &str) -> Run {
    let r = run(dir, args);
    assert_eq!(r.code, code, "qsafe {args:?}: {}", r.stderr);
    assert!(
        r.stderr.contains(needle),
        "stderr lacks {needle:?}: {}",
        r.stderr
    );
    assert!(r.stderr.contains("hint:"), "no hint: {}", r.stderr);
    r
}

fn json(r: &Run) -> Value {
    serde_json::from_str(&r.stdout).unwrap()
}

/// A model directory with nested, hidden, empty and ignored files.
fn setup() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    let m = d.path().join("model");
    fs::create_dir_all(m.join("shards")).unwrap();
    fs::create_dir_all(m.join(".git")).unwrap();
    fs::write(m.join("config.json"), r#"{"layers": 2}"#).unwrap();
    fs::write(m.join("shards/00.bin"), vec![1u8; 70_000]).unwrap();
    fs::write(m.join("shards/01.bin"), vec![2u8; 50_000]).unwrap();
    fs::write(m.join(".hidden"), "h").unwrap();
    fs::write(m.join("empty"), "").unwrap();
    fs::write(m.join(".git/HEAD"), "ref").unwrap();
    for (alg, name) in [
        ("mldsa87-ecdsa-p384-sha512", "comp"),
        ("mldsa65-ed25519-sha512", "ed"),
        ("ecdsa-p256-sha256", "ec"),
    ] {
        ok(d.path(), &["key", "gen", "--alg", alg, "-o", name]);
    }
    d
}

#[test]
fn sign_then_verify_reports_files_and_algorithm() {
    let d = setup();
    let p = d.path();
    let s = ok(
        p,
        &["model", "sign", "model", "--key", "comp", "-o", "m.sig"],
    );
    assert!(s.stdout.contains("signed 5 files"), "{}", s.stdout);
    let v = ok(
        p,
        &[
            "model",
            "verify",
            "model",
            "--key",
            "comp.pub",
            "--signature",
            "m.sig",
            "--require-pq",
        ],
    );
    assert!(v.stdout.contains("valid: 5 files"), "{}", v.stdout);
    assert!(v.stdout.contains("(post-quantum)"), "{}", v.stdout);
    let j = json(&ok(
        p,
        &[
            "--json",
            "model",
            "verify",
            "model",
            "--key",
            "comp",
            "--signature",
            "m.sig",
        ],
    ));
    assert_eq!(j["schema_version"], 1);
    assert_eq!(j["valid"], true);
    assert_eq!(j["algorithm"], "mldsa87-ecdsa-p384-sha512");
    assert_eq!(j["post_quantum"], true);
    assert_eq!(j["files"], 5);
    assert_eq!(j["method"], "files");
    let bundle: Value = serde_json::from_slice(&fs::read(p.join("m.sig")).unwrap()).unwrap();
    assert_eq!(
        bundle["dsseEnvelope"]["signatures"][0]["keyid"],
        "id-MLDSA87-ECDSA-P384-SHA512"
    );
}

#[test]
fn verify_names_added_removed_and_changed_files_with_exit_3() {
    let d = setup();
    let p = d.path();
    ok(p, &["model", "sign", "model", "--key", "ed", "-o", "m.sig"]);
    let mut w = fs::read(p.join("model/shards/00.bin")).unwrap();
    w[12_345] ^= 0x80;
    fs::write(p.join("model/shards/00.bin"), w).unwrap();
    fs::remove_file(p.join("model/empty")).unwrap();
    fs::write(p.join("model/extra.txt"), "x").unwrap();
    let args = [
        "model",
        "verify",
        "model",
        "--key",
        "ed.pub",
        "--signature",
        "m.sig",
    ];
    let r = fails(p, &args, 3, "1 added, 1 removed, 1 changed");
    for line in [
        "added: extra.txt",
        "removed: empty",
        "changed: shards/00.bin",
    ] {
        assert!(r.stderr.contains(line), "{line}: {}", r.stderr);
    }
    let j = json(&run(p, &[&["--json"], &args[..]].concat()));
    assert_eq!(j["valid"], false);
    assert_eq!(j["added"], serde_json::json!(["extra.txt"]));
    assert_eq!(j["removed"], serde_json::json!(["empty"]));
    assert_eq!(j["changed"], serde_json::json!(["shards/00.bin"]));
}

#[test]
fn require_pq_refuses_classical_signatures() {
    let d = setup();
    let p = d.path();
    ok(p, &["model", "sign", "model", "--key", "ec", "-o", "m.sig"]);
    let args = [
        "model",
        "verify",
        "model",
        "--key",
        "ec.pub",
        "--signature",
        "m.sig",
    ];
    let v = ok(p, &args);
    assert!(v.stdout.contains("classical only"), "{}", v.stdout);
    fails(
        p,
        &[&args[..], &["--require-pq"]].concat(),
        3,
        "post-quantum signatures were required",
    );
}

#[test]
fn classical_compat_writes_bundle_and_key_beside_the_signature() {
    let d = setup();
    let p = d.path();
    let j = json(&ok(
        p,
        &[
            "--json",
            "model",
            "sign",
            "model",
            "--key",
            "comp",
            "-o",
            "m.sig",
            "--classical-compat",
        ],
    ));
    assert_eq!(j["classical"]["algorithm"], "ecdsa-p384-sha384");
    let pem = fs::read_to_string(p.join("m.sig.classical.pub")).unwrap();
    assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----"), "{pem}");
    ok(
        p,
        &[
            "model",
            "verify",
            "model",
            "--key",
            "m.sig.classical.pub",
            "--signature",
            "m.sig.classical",
        ],
    );
    // An Ed25519 composite has no half model_signing can verify; nothing is written.
    fails(
        p,
        &[
            "model",
            "sign",
            "model",
            "--key",
            "ed",
            "-o",
            "e.sig",
            "--classical-compat",
        ],
        2,
        "verifies only ECDSA keys",
    );
    assert!(!p.join("e.sig").exists());
    fails(
        p,
        &[
            "model",
            "sign",
            "model",
            "--key",
            "ec",
            "-o",
            "e.sig",
            "--classical-compat",
        ],
        2,
        "needs a composite key",
    );
}

#[test]
fn signature_inside_the_model_is_left_out_and_outputs_are_not_overwritten() {
    let d = setup();
    let p = d.path();
    ok(
        p,
        &[
            "model",
            "sign",
            "model",
            "--key",
            "comp",
            "-o",
            "model/model.sig",
            "--classical-compat",
        ],
    );
    ok(
        p,
        &[
            "model",
            "verify",
            "model",
            "--key",
            "comp.pub",
            "--signature",
            "model/model.sig",
        ],
    );
    let before = fs::read(p.join("model/model.sig")).unwrap();
    fails(
        p,
        &[
            "model",
            "sign",
            "model",
            "--key",
            "comp",
            "-o",
            "model/model.sig",
        ],
        1,
        "already exists",
    );
    assert_eq!(fs::read(p.join("model/model.sig")).unwrap(), before);
    ok(
        p,
        &[
            "model",
            "sign",
            "model",
            "--key",
            "comp",
            "-o",
            "model/model.sig",
            "--force",
        ],
    );
}

#[test]
fn ignore_paths_shards_and_git_paths() {
    let d = setup();
    let p = d.path();
    ok(
        p,
        &[
            "model",
            "sign",
            "model",
            "--key",
            "ec",
            "-o",
            "m.sig",
            "--shard-size",
            "16384",
            "--ignore-paths",
            "model/config.json",
        ],
    );
    fs::write(p.join("model/config.json"), "changed").unwrap();
    let j = json(&ok(
        p,
        &[
            "--json",
            "model",
            "verify",
            "model",
            "--key",
            "ec.pub",
            "--signature",
            "m.sig",
        ],
    ));
    assert_eq!(j["method"], "shards");
    assert_eq!(j["items"], 10); // 5 + 4 shards, one for .hidden, none for the empty file
    ok(
        p,
        &[
            "model",
            "sign",
            "model",
            "--key",
            "ec",
            "-o",
            "g.sig",
            "--no-ignore-git-paths",
        ],
    );
    fs::write(p.join("model/.git/HEAD"), "other").unwrap();
    fails(
        p,
        &[
            "model",
            "verify",
            "model",
            "--key",
            "ec.pub",
            "--signature",
            "g.sig",
            "--no-ignore-git-paths",
        ],
        3,
        "1 changed",
    );
    fails(
        p,
        &[
            "model",
            "sign",
            "model",
            "--key",
            "ec",
            "-o",
            "x.sig",
            "--ignore-paths",
            "model",
        ],
        2,
        "is the whole model",
    );
}

#[test]
fn wrong_key_bad_bundle_and_wrong_kind_have_distinct_exits() {
    let d = setup();
    let p = d.path();
    ok(
        p,
        &["model", "sign", "model", "--key", "comp", "-o", "m.sig"],
    );
    fails(
        p,
        &[
            "model",
            "verify",
            "model",
            "--key",
            "ed.pub",
            "--signature",
            "m.sig",
        ],
        3,
        "signed by another key",
    );
    fs::write(p.join("junk.sig"), "{\"mediaType\": 1}").unwrap();
    fails(
        p,
        &[
            "model",
            "verify",
            "model",
            "--key",
            "comp.pub",
            "--signature",
            "junk.sig",
        ],
        3,
        "malformed signature bundle",
    );
    ok(p, &["key", "gen", "--alg", "x-wing", "-o", "kem"]);
    fails(
        p,
        &["model", "sign", "model", "--key", "kem", "-o", "k.sig"],
        2,
        "cannot sign",
    );
    fails(
        p,
        &["model", "sign", "missing", "--key", "comp", "-o", "k.sig"],
        1,
        "missing",
    );
}

#[cfg(unix)]
#[test]
fn symlinks_need_allow_symlinks() {
    let d = setup();
    let p = d.path();
    std::os::unix::fs::symlink("config.json", p.join("model/link.json")).unwrap();
    fails(
        p,
        &["model", "sign", "model", "--key", "ec", "-o", "m.sig"],
        1,
        "symbolic link",
    );
    ok(
        p,
        &[
            "model",
            "sign",
            "model",
            "--key",
            "ec",
            "-o",
            "m.sig",
            "--allow-symlinks",
        ],
    );
    ok(
        p,
        &[
            "model",
            "verify",
            "model",
            "--key",
            "ec.pub",
            "--signature",
            "m.sig",
            "--allow-symlinks",
        ],
    );
}
