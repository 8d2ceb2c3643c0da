//! `qsafe bench artifacts --quick` runs end to end: every qsafe row, a byte-exact round trip,
//! sizes within budget, and the peers' rows when they are installed. No timing is asserted.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use assert_cmd::Command;

#[test]
fn quick_artifact_bench_reports_every_row() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::cargo_bin("qsafe").unwrap();
    std::fs::create_dir(dir.path().join("scratch")).unwrap();
    cmd.args(["bench", "artifacts", "--quick", "--json", "--dir"])
        .arg(dir.path().join("scratch"));
    // The interop venv carries model_signing (scripts/test.sh).
    let model_signing = std::env::var_os("QSAFE_INTEROP_PYTHON")
        .map(std::path::PathBuf::from)
        .and_then(|py| py.parent().map(|bin| bin.join("model_signing")))
        .filter(|p| p.is_file());
    if let Some(ms) = &model_signing {
        cmd.env("QSAFE_MODEL_SIGNING", ms);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let report = &v["report"];
    assert_eq!(report["roundtrip_ok"], true);
    let rows = report["rows"].as_array().unwrap();
    let has = |op: &str, tool: &str| rows.iter().any(|r| r["op"] == op && r["tool"] == tool);
    for (op, tool) in [
        ("seal", "qsafe x-wing"),
        ("seal-durable", "qsafe x-wing -o FILE"),
        ("open", "qsafe x-wing"),
        ("sign", "qsafe ecdsa-p256"),
        ("verify", "qsafe mldsa87-ecdsa-p384"),
    ] {
        assert!(has(op, tool), "missing {op} {tool}");
    }
    if model_signing.is_some() {
        assert!(has("sign", "model_signing ecdsa-p256"));
        assert!(has("verify", "model_signing ecdsa-p256"));
    }
    let missing: Vec<&str> = report["missing"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m.as_str())
        .collect();
    if !missing.contains(&"age") {
        assert!(has("seal", "age X25519") && has("open", "age X25519"));
    }
    for o in report["overhead"].as_array().unwrap() {
        let extra = o["sealed"].as_u64().unwrap() - o["plaintext"].as_u64().unwrap();
        assert!(extra <= o["budget_bytes"].as_u64().unwrap(), "{o}");
    }
    let left: Vec<_> = std::fs::read_dir(dir.path().join("scratch"))
        .unwrap()
        .collect();
    assert!(left.is_empty(), "scratch data left behind: {left:?}");
}
