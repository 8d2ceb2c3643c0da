//! `qsafe seal`, `open` and `inspect` end to end: files and pipes, several recipients,
//! signatures, ranges, safetensors tensors, policy refusals and their exit codes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;

use assert_cmd::Command;
use tempfile::TempDir;

struct Run {
    code: i32,
    stdout: Vec<u8>,
    stderr: String,
}

fn run_with(dir: &Path, args: &[&str], stdin: &[u8]) -> Run {
    let out = Command::cargo_bin("qsafe")
        .unwrap()
        .current_dir(dir)
        .args(args)
        .write_stdin(stdin.to_vec())
        .output()
        .unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: out.stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn ok(dir: &Path, args: &[&str]) -> Run {
    let r = run_with(dir, args, &[]);
    assert_eq!(r.code, 0, "qsafe {args:?} failed: {}", r.stderr);
    r
}

fn setup() -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, alg) in [
        ("alice", "x-wing"),
        ("bob", "mlkem768-p256"),
        ("carol", "mlkem1024-p384"),
        ("mallory", "x-wing"),
        ("legacy", "x25519"),
        ("signer", "mldsa65-ed25519-sha512"),
        ("cnsa-signer", "mldsa87-ecdsa-p384-sha512"),
    ] {
        ok(dir.path(), &["key", "gen", "--alg", alg, "-o", name]);
    }
    dir
}

/// A safetensors file with two F32 tensors spanning several chunks.
fn safetensors(path: &Path) -> (Vec<u8>, Vec<u8>) {
    let a: Vec<u8> = (0..40_000u32)
        .flat_map(|i| (i as f32).to_le_bytes())
        .collect();
    let b: Vec<u8> = (0..1000u32)
        .flat_map(|i| (-(i as f32)).to_le_bytes())
        .collect();
    let header = format!(
        r#"{{"__metadata__":{{"format":"pt"}},"a":{{"dtype":"F32","shape":[200,200],"data_offsets":[0,{}]}},"b":{{"dtype":"F32","shape":[1000],"data_offsets":[{},{}]}}}}"#,
        a.len(),
        a.len(),
        a.len() + b.len()
    );
    let mut file = (header.len() as u64).to_le_bytes().to_vec();
    file.extend_from_slice(header.as_bytes());
    file.extend_from_slice(&a);
    file.extend_from_slice(&b);
    std::fs::write(path, &file).unwrap();
    (a, b)
}

#[test]
fn seal_to_several_recipients_and_open_with_each() {
    let d = setup();
    let p = d.path();
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 253) as u8).collect();
    std::fs::write(p.join("model.bin"), &data).unwrap();
    ok(
        p,
        &[
            "seal",
            "-r",
            "alice.pub",
            "-r",
            "bob.pub",
            "--sign-with",
            "signer",
            "-o",
            "model.qs",
            "model.bin",
        ],
    );
    for key in ["alice", "bob"] {
        let out = format!("out-{key}");
        ok(
            p,
            &[
                "open",
                "-k",
                key,
                "--verify-with",
                "signer.pub",
                "-o",
                &out,
                "model.qs",
            ],
        );
        assert_eq!(std::fs::read(p.join(&out)).unwrap(), data);
    }
    let r = run_with(p, &["open", "-k", "mallory", "-o", "nope", "model.qs"], &[]);
    assert_eq!(r.code, 3);
    assert!(
        r.stderr.contains("no recipient stanza matches this key"),
        "{}",
        r.stderr
    );
    let alice_fp =
        String::from_utf8(ok(p, &["key", "info", "--json", "alice.pub"]).stdout).unwrap();
    let fp: serde_json::Value = serde_json::from_str(&alice_fp).unwrap();
    assert!(
        r.stderr.contains(fp["fingerprint"].as_str().unwrap()),
        "{}",
        r.stderr
    );
    assert!(!p.join("nope").exists());

    let inspect = ok(p, &["inspect", "--json", "model.qs"]);
    let v: serde_json::Value = serde_json::from_slice(&inspect.stdout).unwrap();
    assert_eq!(v["recipients"].as_array().unwrap().len(), 2);
    assert_eq!(v["signer"]["algorithm"], "mldsa65-ed25519-sha512");
    assert_eq!(v["plaintext_bytes"], 200_000);
    let human = String::from_utf8(ok(p, &["inspect", "model.qs"]).stdout).unwrap();
    assert!(human.contains("mlkem768-p256"), "{human}");
}

#[test]
fn pipes_ranges_and_tensors() {
    let d = setup();
    let p = d.path();
    let data: Vec<u8> = (0..70_000u32).map(|i| (i * 7 % 256) as u8).collect();
    let sealed = run_with(p, &["seal", "-r", "alice.pub", "-o", "-", "-"], &data);
    assert_eq!(sealed.code, 0, "{}", sealed.stderr);
    let opened = run_with(p, &["open", "-k", "alice", "-o", "-", "-"], &sealed.stdout);
    assert_eq!(opened.code, 0, "{}", opened.stderr);
    assert_eq!(opened.stdout, data);
    std::fs::write(p.join("piped.qs"), &sealed.stdout).unwrap();
    let r = ok(
        p,
        &[
            "open", "-k", "alice", "--range", "16380:10", "-o", "-", "piped.qs",
        ],
    );
    assert_eq!(r.stdout, &data[16380..16390]);
    let r = run_with(
        p,
        &[
            "open", "-k", "alice", "--range", "69999:2", "-o", "-", "piped.qs",
        ],
        &[],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    let r = run_with(
        p,
        &["open", "-k", "alice", "--range", "0:1", "-o", "-", "-"],
        &sealed.stdout,
    );
    assert_eq!(r.code, 2, "{}", r.stderr);

    let (a, b) = safetensors(&p.join("m.safetensors"));
    ok(
        p,
        &[
            "seal",
            "-r",
            "alice.pub",
            "--sign-with",
            "signer",
            "-o",
            "m.qs",
            "m.safetensors",
        ],
    );
    ok(
        p,
        &[
            "open",
            "-k",
            "alice",
            "--verify-with",
            "signer.pub",
            "--tensor",
            "b",
            "-o",
            "b.safetensors",
            "m.qs",
        ],
    );
    let one = std::fs::read(p.join("b.safetensors")).unwrap();
    let n = u64::from_le_bytes(one[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&one[8..8 + n]).unwrap();
    assert_eq!(header["b"]["shape"][0], 1000);
    assert_eq!(header["__metadata__"]["format"], "pt");
    assert_eq!(&one[8 + n..], &b[..]);
    ok(
        p,
        &[
            "open",
            "-k",
            "alice",
            "--tensor",
            "a",
            "-o",
            "a.safetensors",
            "m.qs",
        ],
    );
    assert!(
        std::fs::read(p.join("a.safetensors"))
            .unwrap()
            .ends_with(&a)
    );
    let r = run_with(
        p,
        &["open", "-k", "alice", "--tensor", "zzz", "-o", "z", "m.qs"],
        &[],
    );
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("no tensor named \"zzz\""), "{}", r.stderr);
    assert!(r.stderr.contains("a, b"), "{}", r.stderr);
}

#[test]
fn policy_refusals_and_signature_requirements() {
    let d = setup();
    let p = d.path();
    std::fs::write(p.join("f"), b"weights").unwrap();
    let r = run_with(p, &["seal", "-r", "legacy.pub", "-o", "f.qs", "f"], &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("classical-only"), "{}", r.stderr);
    assert!(!p.join("f.qs").exists());
    ok(
        p,
        &[
            "seal",
            "-r",
            "legacy.pub",
            "--allow-classical",
            "-o",
            "f.qs",
            "f",
        ],
    );
    let r = run_with(
        p,
        &[
            "seal",
            "--suite",
            "cnsa2",
            "-r",
            "alice.pub",
            "-o",
            "g.qs",
            "f",
        ],
        &[],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    let r = run_with(
        p,
        &[
            "seal",
            "--suite",
            "cnsa2",
            "-r",
            "carol.pub",
            "--sign-with",
            "signer",
            "-o",
            "g.qs",
            "f",
        ],
        &[],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    ok(
        p,
        &[
            "seal",
            "--suite",
            "cnsa2",
            "-r",
            "carol.pub",
            "--sign-with",
            "cnsa-signer",
            "-o",
            "g.qs",
            "f",
        ],
    );
    ok(
        p,
        &[
            "open",
            "-k",
            "carol",
            "--verify-with",
            "cnsa-signer.pub",
            "-o",
            "g.out",
            "g.qs",
        ],
    );
    assert_eq!(std::fs::read(p.join("g.out")).unwrap(), b"weights");
    // Unsigned file, signer required.
    ok(p, &["seal", "-r", "alice.pub", "-o", "u.qs", "f"]);
    let r = run_with(
        p,
        &[
            "open",
            "-k",
            "alice",
            "--verify-with",
            "signer.pub",
            "-o",
            "u.out",
            "u.qs",
        ],
        &[],
    );
    assert_eq!(r.code, 3);
    assert!(r.stderr.contains("no sender signature"), "{}", r.stderr);
    // stdin to stdout with a required signer would release data unchecked: refused.
    let sealed = std::fs::read(p.join("u.qs")).unwrap();
    let r = run_with(
        p,
        &[
            "open",
            "-k",
            "alice",
            "--verify-with",
            "signer.pub",
            "-o",
            "-",
            "-",
        ],
        &sealed,
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    // Wrong key kinds are usage errors.
    let r = run_with(p, &["seal", "-r", "signer.pub", "-o", "x.qs", "f"], &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    // No overwrite without --force.
    let r = run_with(p, &["seal", "-r", "alice.pub", "-o", "u.qs", "f"], &[]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("already exists"), "{}", r.stderr);
}

#[test]
fn json_summaries() {
    let d = setup();
    let p = d.path();
    std::fs::write(p.join("f"), vec![7u8; 5000]).unwrap();
    let r = ok(p, &["--json", "seal", "-r", "alice.pub", "-o", "f.qs", "f"]);
    let v: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    assert_eq!(v["plaintext_bytes"], 5000);
    assert_eq!(
        v["sealed_bytes"],
        std::fs::metadata(p.join("f.qs")).unwrap().len()
    );
    let r = run_with(
        p,
        &["--json", "open", "-k", "mallory", "-o", "o", "f.qs"],
        &[],
    );
    assert_eq!(r.code, 3);
    let v: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    assert_eq!(v["error"]["exit_code"], 3);
}
