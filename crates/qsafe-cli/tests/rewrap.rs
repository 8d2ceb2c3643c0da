//! `qsafe rewrap`: in place and to a new file, signature kept, old key locked out, crash
//! recovery from the journal.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;

use assert_cmd::Command;

fn run(dir: &Path, args: &[&str]) -> (i32, String) {
    let out = Command::cargo_bin("qsafe")
        .unwrap()
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn ok(dir: &Path, args: &[&str]) {
    let (code, err) = run(dir, args);
    assert_eq!(code, 0, "qsafe {args:?}: {err}");
}

#[test]
fn rewrap_in_place_and_to_a_new_file() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    for (name, alg) in [
        ("v1", "mlkem1024-p384"),
        ("v2", "mlkem1024-p384"),
        ("v3", "x-wing"),
        ("signer", "mldsa87-ecdsa-p384-sha512"),
    ] {
        ok(p, &["key", "gen", "--alg", alg, "-o", name]);
    }
    let data: Vec<u8> = (0..100_000u32).map(|i| (i % 249) as u8).collect();
    std::fs::write(p.join("m.bin"), &data).unwrap();
    ok(
        p,
        &[
            "seal",
            "--suite",
            "cnsa2",
            "-r",
            "v1.pub",
            "--sign-with",
            "signer",
            "-o",
            "m.qs",
            "m.bin",
        ],
    );
    let before = std::fs::read(p.join("m.qs")).unwrap();

    ok(
        p,
        &["rewrap", "-k", "v1", "-r", "v2.pub", "--in-place", "m.qs"],
    );
    let after = std::fs::read(p.join("m.qs")).unwrap();
    assert_eq!(before.len(), after.len());
    assert!(!p.join("m.qs.qsafe-journal").exists());
    ok(
        p,
        &[
            "open",
            "-k",
            "v2",
            "--verify-with",
            "signer.pub",
            "-o",
            "out2",
            "m.qs",
        ],
    );
    assert_eq!(std::fs::read(p.join("out2")).unwrap(), data);
    let (code, err) = run(p, &["open", "-k", "v1", "-o", "out1", "m.qs"]);
    assert_eq!(code, 3, "{err}");

    // x-wing is not CNSA 2.0: refused under the file's suite, file untouched.
    let (code, err) = run(
        p,
        &["rewrap", "-k", "v2", "-r", "v3.pub", "-o", "x.qs", "m.qs"],
    );
    assert_eq!(code, 2, "{err}");
    assert!(!p.join("x.qs").exists());
    assert_eq!(std::fs::read(p.join("m.qs")).unwrap(), after);

    // An interrupted rewrite: journal holds the old header; recovery restores it.
    let header_len = u32::from_be_bytes(before[10..14].try_into().unwrap()) as usize;
    let mut journal = b"qsafe-rewrap-journal/v1\n".to_vec();
    journal.extend_from_slice(&before[..header_len]);
    std::fs::write(p.join("m.qs.qsafe-journal"), &journal).unwrap();
    let (code, err) = run(
        p,
        &["rewrap", "-k", "v2", "-r", "v1.pub", "--in-place", "m.qs"],
    );
    assert_eq!(code, 2, "a pending journal blocks a new rewrite: {err}");
    assert!(err.contains("--recover"), "{err}");
    ok(p, &["rewrap", "--recover", "m.qs"]);
    assert_eq!(std::fs::read(p.join("m.qs")).unwrap(), before);
    ok(
        p,
        &[
            "open",
            "-k",
            "v1",
            "--verify-with",
            "signer.pub",
            "-o",
            "out3",
            "m.qs",
        ],
    );

    // To a new file: the source stays as it was.
    ok(
        p,
        &[
            "rewrap", "-k", "v1", "-r", "v2.pub", "-r", "v1.pub", "-o", "n.qs", "m.qs",
        ],
    );
    assert_eq!(std::fs::read(p.join("m.qs")).unwrap(), before);
    for k in ["v1", "v2"] {
        let out = format!("n-{k}");
        ok(
            p,
            &[
                "open",
                "-k",
                k,
                "--verify-with",
                "signer.pub",
                "-o",
                &out,
                "n.qs",
            ],
        );
        assert_eq!(std::fs::read(p.join(&out)).unwrap(), data);
    }
    // In place needs the same header length: two recipients instead of one is refused.
    let (code, err) = run(
        p,
        &[
            "rewrap",
            "-k",
            "v1",
            "-r",
            "v2.pub",
            "-r",
            "v1.pub",
            "--in-place",
            "m.qs",
        ],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("same recipient algorithms"), "{err}");
}
