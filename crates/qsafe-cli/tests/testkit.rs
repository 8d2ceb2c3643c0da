//! `qsafe open` on every hostile-input testkit case (crates/qsafe-artifact/src/testkit.rs):
//! the documented exit code and message, never a panic, and on failure no output file and no
//! temporary file left behind.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use assert_cmd::Command;
use qsafe_artifact::testkit::{Kit, OpenKey, VerifyWith, write};

fn key_file(k: OpenKey) -> &'static str {
    match k {
        OpenKey::Recipient => "keys/recipient.pem",
        OpenKey::Stranger => "keys/stranger.pem",
        OpenKey::Cnsa => "keys/cnsa.pem",
    }
}

fn signer_file(v: VerifyWith) -> &'static str {
    match v {
        VerifyWith::Signer => "keys/signer.pub.pem",
        VerifyWith::OtherSigner => "keys/other_signer.pub.pem",
    }
}

#[test]
fn qsafe_open_gives_every_expected_outcome() {
    let kit = Kit::generate().unwrap();
    let dir = tempfile::tempdir().unwrap();
    write(&kit, dir.path()).unwrap();
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let mut wrong = Vec::new();
    for case in &kit.cases {
        let output = format!("out/{}.bin", case.name);
        let input = format!("{}.qsealed", case.name);
        let mut args = vec!["open", "-k", key_file(case.key), "-o", &output, &input];
        if let Some(v) = case.verify_with {
            args.extend(["--verify-with", signer_file(v)]);
        }
        let run = Command::cargo_bin("qsafe")
            .unwrap()
            .current_dir(dir.path())
            .args(&args)
            .output()
            .unwrap();
        let code = run.status.code().unwrap_or(-1);
        let stderr = String::from_utf8_lossy(&run.stderr);
        let produced = dir.path().join(&output);
        let problem = if stderr.contains("panicked") {
            Some("panicked".to_string())
        } else if code != i32::from(case.exit) {
            Some(format!("exit {code}, expected {}", case.exit))
        } else if case.exit != 0 && !stderr.contains(case.message) {
            Some(format!("message lacks {:?}", case.message))
        } else if case.exit != 0 && produced.exists() {
            Some("left an output file".into())
        } else if case.exit == 0 {
            let want: &[u8] = if case.empty_plaintext {
                &[]
            } else {
                &kit.plaintext
            };
            (std::fs::read(&produced).unwrap_or_default() != want).then(|| "wrong plaintext".into())
        } else {
            None
        };
        if let Some(p) = problem {
            wrong.push(format!("{}: {p}; stderr: {}", case.name, stderr.trim()));
        }
    }
    let leftovers: Vec<_> = std::fs::read_dir(&out_dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("qsafe-tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    assert!(kit.cases.len() >= 150, "only {} cases", kit.cases.len());
    assert!(
        wrong.is_empty(),
        "{} of {} cases wrong:\n{}",
        wrong.len(),
        kit.cases.len(),
        wrong.join("\n")
    );
}
