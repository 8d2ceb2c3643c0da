//! `qsafe bench training` runs end to end: every mode for every size, bytes counted, the
//! targets evaluated where the grid reaches them, and bad arguments refused with a usage exit.
//! No timing is asserted.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use assert_cmd::Command;

#[test]
fn small_training_bench_reports_every_mode_and_the_bytes_target() {
    let out = Command::cargo_bin("qsafe")
        .unwrap()
        .args([
            "bench",
            "training",
            "--json",
            "--params",
            "1e4,300000",
            "--workers",
            "3",
            "--rounds",
            "2",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = v["report"]["rows"].as_array().unwrap();
    let seen: Vec<(u64, &str)> = rows
        .iter()
        .map(|r| (r["params"].as_u64().unwrap(), r["mode"].as_str().unwrap()))
        .collect();
    assert_eq!(
        seen,
        [
            (10_000, "plaintext"),
            (10_000, "protected"),
            (10_000, "secagg"),
            (300_000, "plaintext"),
            (300_000, "protected"),
            (300_000, "secagg"),
        ]
    );
    for r in rows {
        let payload = r["payload_bytes_per_round"].as_f64().unwrap();
        assert!(
            r["bytes_per_round"].as_f64().unwrap() > 2.0 * payload,
            "{r}"
        );
    }
    // 300000 parameters are a 1.2 MB update: the bytes target applies to both protected modes.
    let verdicts = v["verdicts"].as_array().unwrap();
    let bytes: Vec<&str> = verdicts
        .iter()
        .filter(|x| x["target"] == "bytes")
        .map(|x| x["mode"].as_str().unwrap())
        .collect();
    assert_eq!(bytes, ["protected", "secagg"], "{verdicts:?}");
}

#[test]
fn bad_grid_is_a_usage_error() {
    for (args, want) in [
        (["--workers", "1"], "worker counts"),
        (["--params", "1x4"], "not a count"),
    ] {
        let out = Command::cargo_bin("qsafe")
            .unwrap()
            .args(["bench", "training"])
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(want), "{args:?}: {stderr}");
    }
}
