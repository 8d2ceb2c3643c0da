//! The `qsafe` binary end to end: happy paths, every documented error path and exit code.

// Test code: a failed unwrap is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use tempfile::TempDir;

fn qsafe() -> Command {
    Command::cargo_bin("qsafe").unwrap()
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(dir: &Path, args: &[&str]) -> Run {
    let out = qsafe().current_dir(dir).args(args).output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn ok(dir: &Path, args: &[&str]) -> Run {
    let r = run(dir, args);
    assert_eq!(r.code, 0, "qsafe {args:?} failed: {}", r.stderr);
    r
}

/// Asserts the exit code and that stderr names the problem and carries a hint.
fn fails(dir: &Path, args: &[&str], code: i32, needle: &str) -> Run {
    let r = run(dir, args);
    assert_eq!(r.code, code, "qsafe {args:?}: {}", r.stderr);
    assert!(
        r.stderr.contains(needle),
        "qsafe {args:?}: stderr lacks {needle:?}: {}",
        r.stderr
    );
    if code != 2 || !r.stderr.contains("Usage") {
        assert!(
            r.stderr.contains("hint:") || r.stderr.contains("Usage"),
            "no hint: {}",
            r.stderr
        );
    }
    assert!(!r.stderr.contains("panicked"), "panic: {}", r.stderr);
    r
}

fn tmp() -> TempDir {
    tempfile::tempdir().unwrap()
}

fn keygen(dir: &Path, alg: &str, name: &str) -> PathBuf {
    ok(dir, &["key", "gen", "--alg", alg, "-o", name]);
    dir.join(name)
}

#[test]
fn algs_lists_every_algorithm_as_table_and_json() {
    let d = tmp();
    let t = ok(d.path(), &["algs"]);
    for id in [
        "x-wing",
        "mlkem1024-p384",
        "mldsa87-ecdsa-p384-sha512",
        "x25519-mlkem1024-hkdf-sha384",
        "blake3",
    ] {
        assert!(t.stdout.contains(id), "{id} missing");
    }
    let j: serde_json::Value =
        serde_json::from_str(&ok(d.path(), &["algs", "--json"]).stdout).unwrap();
    assert_eq!(j["schema_version"], 1);
    let algs = j["algorithms"].as_array().unwrap();
    let xwing = algs.iter().find(|a| a["id"] == "x-wing").unwrap();
    assert_eq!(xwing["hpke_id"], 0x647a);
    assert_eq!(xwing["standard"], "draft-connolly-cfrg-xwing-kem-08");
    assert_eq!(j["suites"][1]["kem"]["id"], "mlkem1024-p384");
}

#[cfg(unix)]
#[test]
fn key_gen_writes_private_0600_and_refuses_to_overwrite() {
    use std::os::unix::fs::PermissionsExt;
    let d = tmp();
    let key = keygen(d.path(), "x-wing", "k");
    let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert!(
        std::fs::read_to_string(d.path().join("k.pub"))
            .unwrap()
            .starts_with("-----BEGIN PUBLIC KEY-----")
    );
    let before = std::fs::read(&key).unwrap();
    fails(
        d.path(),
        &["key", "gen", "--alg", "x-wing", "-o", "k"],
        1,
        "already exists",
    );
    assert_eq!(
        std::fs::read(&key).unwrap(),
        before,
        "existing key was touched"
    );
    ok(
        d.path(),
        &["key", "gen", "--alg", "x-wing", "-o", "k", "--force"],
    );
    assert_ne!(std::fs::read(&key).unwrap(), before);
    let leftovers: Vec<_> = std::fs::read_dir(d.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains("qsafe-tmp"))
        .collect();
    assert!(leftovers.is_empty());
}

#[test]
fn seeded_key_gen_is_deterministic_and_matches_the_xwing_draft() {
    let d = tmp();
    // draft-connolly-cfrg-xwing-kem test vector 1 seed; its public key starts e2236b35…
    let seed = "7f9c2ba4e88f827d616045507605853ed73b8093f6efbc88eb1a6eacfa66ef26";
    ok(
        d.path(),
        &["key", "gen", "--alg", "x-wing", "--seed", seed, "-o", "a"],
    );
    ok(
        d.path(),
        &["key", "gen", "--alg", "x-wing", "--seed", seed, "-o", "b"],
    );
    assert_eq!(
        std::fs::read(d.path().join("a.pub")).unwrap(),
        std::fs::read(d.path().join("b.pub")).unwrap()
    );
    ok(
        d.path(),
        &["key", "export", "a.pub", "--format", "raw", "-o", "a.raw"],
    );
    let raw = std::fs::read(d.path().join("a.raw")).unwrap();
    assert_eq!(hex::encode(&raw[..4]), "e2236b35");
}

#[test]
fn kem_encap_decap_round_trip_for_every_kem() {
    let d = tmp();
    for alg in [
        "ml-kem-512",
        "ml-kem-768",
        "ml-kem-1024",
        "x25519",
        "p256",
        "p384",
        "x-wing",
        "mlkem768-p256",
        "mlkem1024-p384",
        "x25519-mlkem768",
        "x25519-mlkem1024-hkdf-sha384",
    ] {
        keygen(d.path(), alg, alg);
        let pubf = format!("{alg}.pub");
        ok(
            d.path(),
            &[
                "kem",
                "encap",
                "--to",
                &pubf,
                "--ciphertext",
                "ct",
                "--secret",
                "ss",
                "--force",
            ],
        );
        ok(
            d.path(),
            &[
                "kem",
                "decap",
                "--key",
                alg,
                "--ciphertext",
                "ct",
                "--secret",
                "ss2",
                "--force",
            ],
        );
        assert_eq!(
            std::fs::read(d.path().join("ss")).unwrap(),
            std::fs::read(d.path().join("ss2")).unwrap(),
            "{alg}"
        );
    }
}

#[test]
fn sign_verify_round_trip_with_context_and_exit_3_on_failure() {
    let d = tmp();
    std::fs::write(d.path().join("m"), b"weights").unwrap();
    for alg in [
        "ml-dsa-44",
        "ml-dsa-65",
        "ml-dsa-87",
        "mldsa44-ed25519-sha512",
        "mldsa65-ed25519-sha512",
        "mldsa65-ecdsa-p256-sha512",
        "mldsa87-ecdsa-p384-sha512",
        "fn-dsa-512",
    ] {
        keygen(d.path(), alg, alg);
        let pubf = format!("{alg}.pub");
        ok(
            d.path(),
            &[
                "sign",
                "--key",
                alg,
                "--context",
                "c0ffee",
                "-o",
                "sig",
                "--force",
                "m",
            ],
        );
        ok(
            d.path(),
            &[
                "verify",
                "--key",
                &pubf,
                "--context",
                "c0ffee",
                "--signature",
                "sig",
                "m",
            ],
        );
        fails(
            d.path(),
            &[
                "verify",
                "--key",
                &pubf,
                "--context",
                "c0ffef",
                "--signature",
                "sig",
                "m",
            ],
            3,
            "does not verify",
        );
        fails(
            d.path(),
            &["verify", "--key", &pubf, "--signature", "sig", "m"],
            3,
            "does not verify",
        );
    }
    for alg in [
        "ed25519",
        "ecdsa-p256-sha256",
        "ecdsa-p384-sha384",
        "rsa-pss-2048-sha256",
    ] {
        keygen(d.path(), alg, alg);
        ok(
            d.path(),
            &["sign", "--key", alg, "-o", "sig", "--force", "m"],
        );
        ok(
            d.path(),
            &[
                "verify",
                "--key",
                &format!("{alg}.pub"),
                "--signature",
                "sig",
                "m",
            ],
        );
        fails(
            d.path(),
            &[
                "sign",
                "--key",
                alg,
                "--context",
                "00",
                "-o",
                "sig",
                "--force",
                "m",
            ],
            2,
            "context",
        );
    }
    std::fs::write(d.path().join("m"), b"weightz").unwrap();
    fails(
        d.path(),
        &["verify", "--key", "ed25519.pub", "--signature", "sig", "m"],
        3,
        "does not verify",
    );
}

#[test]
fn verify_json_reports_validity() {
    let d = tmp();
    std::fs::write(d.path().join("m"), b"weights").unwrap();
    keygen(d.path(), "mldsa65-ed25519-sha512", "k");
    ok(d.path(), &["sign", "--key", "k", "m"]);
    let r = ok(
        d.path(),
        &[
            "--json",
            "verify",
            "--key",
            "k.pub",
            "--signature",
            "m.sig",
            "m",
        ],
    );
    let j: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(j["valid"], true);
    assert_eq!(j["quantum_vulnerable"], false);
    std::fs::write(d.path().join("m"), b"tampered").unwrap();
    let r = run(
        d.path(),
        &[
            "--json",
            "verify",
            "--key",
            "k.pub",
            "--signature",
            "m.sig",
            "m",
        ],
    );
    assert_eq!(r.code, 3);
    let j: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(j["valid"], false);
}

#[test]
fn export_import_round_trips_raw_der_pem() {
    let d = tmp();
    for alg in [
        "ml-kem-768",
        "ml-dsa-65",
        "mldsa87-ecdsa-p384-sha512",
        "x25519-mlkem768",
        "ecdsa-p256-sha256",
    ] {
        keygen(d.path(), alg, "k");
        for fmt in ["raw", "der", "pem"] {
            ok(
                d.path(),
                &[
                    "key", "export", "k", "--format", fmt, "-o", "sk.out", "--force",
                ],
            );
            ok(
                d.path(),
                &[
                    "key",
                    "import",
                    "--alg",
                    alg,
                    "--format",
                    fmt,
                    "--private",
                    "sk.out",
                    "-o",
                    "k2",
                    "--force",
                ],
            );
            assert_eq!(
                std::fs::read(d.path().join("k")).unwrap(),
                std::fs::read(d.path().join("k2")).unwrap(),
                "{alg} {fmt}"
            );
            ok(
                d.path(),
                &[
                    "key", "export", "k.pub", "--format", fmt, "-o", "pk.out", "--force",
                ],
            );
            ok(
                d.path(),
                &[
                    "key", "import", "--alg", alg, "--format", fmt, "pk.out", "-o", "k2.pub",
                    "--force",
                ],
            );
            assert_eq!(
                std::fs::read(d.path().join("k.pub")).unwrap(),
                std::fs::read(d.path().join("k2.pub")).unwrap(),
                "{alg} {fmt}"
            );
        }
        std::fs::remove_file(d.path().join("k")).unwrap();
        std::fs::remove_file(d.path().join("k.pub")).unwrap();
    }
}

#[test]
fn import_accepts_expanded_mlkem_keys() {
    let d = tmp();
    keygen(d.path(), "ml-kem-768", "k");
    // The expanded key: export via the library's PKCS#8 is seed form, so build it from the seed.
    let raw_seed = {
        ok(
            d.path(),
            &["key", "export", "k", "--format", "raw", "-o", "seed"],
        );
        std::fs::read(d.path().join("seed")).unwrap()
    };
    let sk =
        qsafe_core::kem::DecapsulationKey::from_seed(&qsafe_core::registry::ML_KEM_768, &raw_seed)
            .unwrap();
    std::fs::write(d.path().join("expanded"), sk.mlkem_expanded().unwrap()).unwrap();
    ok(
        d.path(),
        &[
            "key",
            "import",
            "--alg",
            "ml-kem-768",
            "--format",
            "raw",
            "--private",
            "expanded",
            "-o",
            "k2",
        ],
    );
    ok(d.path(), &["key", "pub", "k2", "-o", "k2.pub"]);
    assert_eq!(
        std::fs::read(d.path().join("k.pub")).unwrap(),
        std::fs::read(d.path().join("k2.pub")).unwrap()
    );
    let mut bad = sk.mlkem_expanded().unwrap().to_vec();
    bad[1152 + 1184 + 5] ^= 1; // inside H(ek): dk = dk_PKE(1152) ‖ ek(1184) ‖ H(ek) ‖ z
    std::fs::write(d.path().join("bad"), bad).unwrap();
    fails(
        d.path(),
        &[
            "key",
            "import",
            "--alg",
            "ml-kem-768",
            "--format",
            "raw",
            "--private",
            "bad",
            "-o",
            "k3",
        ],
        1,
        "FIPS 203",
    );
    assert!(!d.path().join("k3").exists());
}

#[test]
fn error_paths_name_the_problem_with_documented_exit_codes() {
    let d = tmp();
    let p = d.path();
    keygen(p, "x-wing", "kem");
    keygen(p, "ml-dsa-65", "sig");
    std::fs::write(p.join("m"), b"m").unwrap();
    std::fs::write(p.join("garbage"), b"not a key at all").unwrap();
    let pem = std::fs::read_to_string(p.join("sig")).unwrap();
    std::fs::write(p.join("truncated"), &pem[..pem.len() / 2]).unwrap();
    let mut lines: Vec<String> = pem.lines().map(String::from).collect();
    lines[1] = lines[1].replace(['A', 'B', 'C', 'M'], "*");
    std::fs::write(p.join("badb64"), lines.join("\n")).unwrap();
    std::fs::write(
        p.join("cert"),
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    )
    .unwrap();

    // usage errors: exit 2
    fails(
        p,
        &["key", "gen", "--alg", "nope", "-o", "x"],
        2,
        "unknown algorithm `nope`",
    );
    fails(
        p,
        &["key", "gen", "--alg", "aes-256-gcm", "-o", "x"],
        2,
        "no key pairs",
    );
    fails(
        p,
        &[
            "key",
            "gen",
            "--alg",
            "ml-kem-768",
            "--seed",
            "xyz",
            "-o",
            "x",
        ],
        2,
        "--seed is not valid hex",
    );
    fails(
        p,
        &["sign", "--key", "sig", "--context", &"00".repeat(256), "m"],
        2,
        "at most 255",
    );
    fails(
        p,
        &[
            "kem",
            "encap",
            "--to",
            "sig.pub",
            "--ciphertext",
            "c",
            "--secret",
            "s",
        ],
        2,
        "not a KEM",
    );
    fails(p, &["sign", "--key", "kem", "m"], 2, "cannot sign");
    fails(p, &["frobnicate"], 2, "Usage");
    fails(p, &["key", "gen", "--alg", "x-wing"], 2, "Usage");
    // errors: exit 1
    fails(
        p,
        &[
            "key",
            "gen",
            "--alg",
            "ml-kem-768",
            "--seed",
            "00",
            "-o",
            "x",
        ],
        1,
        "must be 64 bytes",
    );
    fails(p, &["sign", "--key", "missing", "m"], 1, "does not exist");
    fails(
        p,
        &["sign", "--key", "garbage", "m"],
        1,
        "neither PEM nor DER",
    );
    fails(
        p,
        &["sign", "--key", "truncated", "m"],
        1,
        "reading truncated",
    );
    fails(p, &["sign", "--key", "badb64", "m"], 1, "PEM");
    fails(
        p,
        &["verify", "--key", "cert", "--signature", "m", "m"],
        1,
        "CERTIFICATE",
    );
    fails(
        p,
        &[
            "kem",
            "decap",
            "--key",
            "kem",
            "--ciphertext",
            "m",
            "--secret",
            "s",
        ],
        1,
        "must be 1120 bytes",
    );
    fails(
        p,
        &[
            "kem",
            "decap",
            "--key",
            "kem.pub",
            "--ciphertext",
            "m",
            "--secret",
            "s",
        ],
        1,
        "not a private key",
    );
    fails(
        p,
        &[
            "key",
            "import",
            "--alg",
            "ml-kem-768",
            "--format",
            "raw",
            "--private",
            "m",
            "-o",
            "x",
        ],
        1,
        "expanded",
    );
    fails(
        p,
        &[
            "key",
            "import",
            "--alg",
            "ml-dsa-44",
            "--format",
            "pem",
            "--private",
            "sig",
            "-o",
            "x",
        ],
        1,
        "the key is ml-dsa-65",
    );
    fails(
        p,
        &["sign", "--key", "sig", "-o", "m", "m"],
        1,
        "already exists",
    );
    // encap refuses before writing anything when one of its two outputs exists
    std::fs::write(p.join("ct-exists"), b"keep").unwrap();
    fails(
        p,
        &[
            "kem",
            "encap",
            "--to",
            "kem.pub",
            "--ciphertext",
            "ct-exists",
            "--secret",
            "s",
        ],
        1,
        "already exists",
    );
    assert_eq!(std::fs::read(p.join("ct-exists")).unwrap(), b"keep");
    for f in ["x", "s", "c"] {
        assert!(!p.join(f).exists(), "{f} was written by a failing command");
    }
}

#[test]
fn json_errors_are_one_document_on_stdout() {
    let d = tmp();
    let r = run(
        d.path(),
        &["--json", "key", "gen", "--alg", "nope", "-o", "x"],
    );
    assert_eq!(r.code, 2);
    let j: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(j["ok"], false);
    assert_eq!(j["error"]["exit_code"], 2);
    assert!(j["error"]["hint"].as_str().unwrap().contains("qsafe algs"));
}

#[test]
fn key_info_warns_about_quantum_vulnerable_keys() {
    let d = tmp();
    keygen(d.path(), "ecdsa-p256-sha256", "k");
    assert!(
        ok(d.path(), &["key", "info", "k.pub"])
            .stdout
            .contains("quantum-vulnerable")
    );
    keygen(d.path(), "mlkem1024-p384", "h");
    let j: serde_json::Value =
        serde_json::from_str(&ok(d.path(), &["--json", "key", "info", "h"]).stdout).unwrap();
    assert_eq!(j["algorithm"], "mlkem1024-p384");
    assert_eq!(j["private"], true);
    assert!(j["fingerprint"].as_str().unwrap().starts_with("sha256:"));
}

#[test]
fn stdin_and_stdout_work_for_messages_and_public_keys() {
    let d = tmp();
    keygen(d.path(), "ed25519", "k");
    let out = qsafe()
        .current_dir(d.path())
        .args(["key", "pub", "k"])
        .output()
        .unwrap();
    assert_eq!(out.stdout, std::fs::read(d.path().join("k.pub")).unwrap());
    let sig = qsafe()
        .current_dir(d.path())
        .args(["sign", "--key", "k", "-"])
        .write_stdin("hello")
        .output()
        .unwrap();
    assert!(sig.status.success());
    assert_eq!(sig.stdout.len(), 64);
    std::fs::write(d.path().join("sig"), &sig.stdout).unwrap();
    qsafe()
        .current_dir(d.path())
        .args(["verify", "--key", "k.pub", "--signature", "sig", "-"])
        .write_stdin("hello")
        .assert()
        .success();
}
