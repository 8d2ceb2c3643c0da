//! `qsafe bench gateway --quick` runs end to end: every set-up reports successes, full
//! protection answers are all verified and opened (no errors), the overload phase has no error
//! beyond clean 503s, and the per-step costs are present. No timing is asserted.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use assert_cmd::Command;

#[test]
fn quick_gateway_bench_reports_every_setup() {
    let out = Command::cargo_bin("qsafe")
        .unwrap()
        .args([
            "bench",
            "gateway",
            "--quick",
            "--json",
            "--connections",
            "8",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let runs = v["report"]["runs"].as_array().unwrap();
    let setups: Vec<&str> = runs.iter().map(|r| r["setup"].as_str().unwrap()).collect();
    assert_eq!(
        setups,
        [
            "direct",
            "pq-tls",
            "pq-tls-1conn",
            "full",
            "full-1conn",
            "full-overload"
        ]
    );
    for r in runs {
        assert!(r["ok"].as_u64().unwrap() > 0, "{r}");
        assert_eq!(r["errors"], 0, "{r}");
        assert!(r["p50_ms"].as_f64().unwrap() > 0.0, "{r}");
    }
    let steps: Vec<&str> = v["report"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["step"].as_str().unwrap())
        .collect();
    for step in [
        "tls_handshake",
        "verify",
        "decapsulate",
        "model",
        "encapsulate",
        "sign",
    ] {
        assert!(steps.contains(&step), "{step} missing from {steps:?}");
    }
    // The idle gateway's own per-step cost: every crypto step ran during the one-connection run.
    let idle = v["report"]["steps_1conn"].as_array().unwrap();
    for step in ["verify", "decapsulate", "encapsulate", "sign"] {
        let s = idle
            .iter()
            .find(|s| s["step"] == step)
            .unwrap_or_else(|| panic!("{step}: {idle:?}"));
        assert!(
            s["count"].as_u64().unwrap() > 0 && s["mean_us"].as_f64().unwrap() > 0.0,
            "{s}"
        );
    }
    assert!(v["throughput_ratio"].as_f64().is_some());
    assert!(v["p50_added_unloaded_ms"].as_f64().is_some());
}
