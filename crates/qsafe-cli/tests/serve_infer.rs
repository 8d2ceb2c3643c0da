//! The README's main job: `qsafe serve --dev` in one process and the `qsafe infer` command it
//! prints in another return a verified, decrypted prediction from the embedded model; a wrong
//! pinned gateway key exits 3; SIGTERM shuts the gateway down cleanly.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use assert_cmd::cargo::CommandCargoExt;

struct Gateway(Child);

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn serve_dev_then_the_printed_infer_command() {
    let d = tempfile::tempdir().unwrap();
    let mut gateway = Gateway(
        Command::cargo_bin("qsafe")
            .unwrap()
            .current_dir(d.path())
            .env_remove("FALLBACK_CRYPTO")
            .env_remove("PQC_KEY_MANAGEMENT")
            .args(["serve", "--dev", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let stdout = gateway.0.stdout.take().unwrap();
    let printed = BufReader::new(stdout)
        .lines()
        .map(Result::unwrap)
        .find(|l| l.contains(" infer --gateway "))
        .expect("serve --dev prints the client command");
    let args: Vec<&str> = printed.split_whitespace().skip(1).collect();

    let out = Command::cargo_bin("qsafe")
        .unwrap()
        .current_dir(d.path())
        .args(&args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}{stderr}");
    // The first image of the digits data set is a 0.
    assert_eq!(stdout.trim(), "prediction: [0]", "{stderr}");
    assert!(stderr.contains("signature verified"), "{stderr}");

    // Pinning another key: the response is refused (exit 3) and nothing from it is printed.
    let wrong: Vec<&str> = args
        .iter()
        .map(|a| {
            if a.ends_with("gateway.pub") {
                "qsafe-dev/client.key"
            } else {
                a
            }
        })
        .collect();
    let out = Command::cargo_bin("qsafe")
        .unwrap()
        .current_dir(d.path())
        .args(&wrong)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty());

    // SIGTERM: a clean, successful exit.
    let status = Command::new("kill")
        .args(["-TERM", &gateway.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(gateway.0.wait().unwrap().success());
}
