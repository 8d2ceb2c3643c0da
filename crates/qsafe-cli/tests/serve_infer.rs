//! The README's main job: `qsafe serve --dev` in one process and the `qsafe infer` command it
//! prints in another return a verified, decrypted prediction from the embedded model; a wrong
//! pinned gateway key exits 3; SIGTERM shuts the gateway down cleanly. With `--upstream`, the
//! same gateway fronts a separately started KServe V2 / OpenAI-compatible model server.
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
    // The model was loaded from the sealed, signed file it wrote.
    let sealed = std::fs::read(d.path().join("qsafe-dev/digits.qsealed")).unwrap();
    assert!(sealed.starts_with(b"\x89QSF"));

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

/// Starts `cmd` and returns it with the first stdout line that contains `marker`.
fn spawn_until(mut cmd: Command, marker: &str) -> (Gateway, String) {
    let mut child = Gateway(cmd.stdout(Stdio::piped()).spawn().unwrap());
    let stdout = child.0.stdout.take().unwrap();
    let line = BufReader::new(stdout)
        .lines()
        .map(Result::unwrap)
        .find(|l| l.contains(marker))
        .unwrap_or_else(|| panic!("no line with {marker:?}"));
    (child, line)
}

#[test]
fn serve_dev_in_front_of_an_upstream_model_server() {
    let d = tempfile::tempdir().unwrap();
    let python = std::env::var("QSAFE_INTEROP_PYTHON").unwrap_or_else(|_| "python3".into());
    let mut fixture = Command::new(python);
    fixture.arg(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../qsafe-gateway/tests/fixtures/model_server.py"
    ));
    let (_upstream, line) = spawn_until(fixture, "listening ");
    let port = line.trim().strip_prefix("listening ").unwrap();

    let mut serve = Command::cargo_bin("qsafe").unwrap();
    serve
        .current_dir(d.path())
        .env_remove("FALLBACK_CRYPTO")
        .env_remove("PQC_KEY_MANAGEMENT")
        .args(["serve", "--dev", "--listen", "127.0.0.1:0", "--upstream"])
        .arg(format!("http://127.0.0.1:{port}"))
        .stderr(Stdio::null());
    let (_gateway, line) = spawn_until(serve, " --openai chat ");
    let call: Vec<&str> = line
        .split_whitespace()
        .skip(1)
        .take_while(|a| *a != "--openai")
        .collect();
    let infer = |extra: &[&str], body: &str| {
        std::fs::write(d.path().join("req.json"), body).unwrap();
        let out = Command::cargo_bin("qsafe")
            .unwrap()
            .current_dir(d.path())
            .args(&call)
            .args(extra)
            .args(["--input", "req.json"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            out.status.success(),
            "{:?} {call:?} {extra:?}: {stderr}",
            out.status
        );
        if !extra.contains(&"--json") {
            assert!(stderr.contains("signature verified"), "{stderr}");
        }
        String::from_utf8(out.stdout).unwrap()
    };
    let chat = r#"{"model": "echo", "messages": [{"role": "user", "content": "hi"}]}"#;
    let answer: serde_json::Value =
        serde_json::from_str(&infer(&["--openai", "chat"], chat)).unwrap();
    assert_eq!(answer["choices"][0]["message"]["content"], "echo: hi");
    // Streamed chunk by chunk: the events are printed as they open, verified at the end.
    let streamed = r#"{"model": "echo", "stream": true, "messages": [{"role": "user", "content": "one two"}]}"#;
    let out = infer(&["--openai", "chat", "--stream"], streamed);
    assert!(out.starts_with("data: {"), "{out}");
    assert!(out.ends_with("data: [DONE]\n\n"), "{out}");
    assert_eq!(out.matches("chat.completion.chunk").count(), 3, "{out}");
    let kserve =
        r#"{"inputs": [{"name": "x", "shape": [2], "datatype": "FP32", "data": [1.5, 2.5]}]}"#;
    let out = infer(&["--json", "--model", "double"], kserve);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v["response"]["outputs"][0]["data"],
        serde_json::json!([3.0, 5.0])
    );
    assert!(v["verified_by"].as_str().is_some(), "{v}");
}
