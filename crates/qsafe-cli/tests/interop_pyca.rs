//! Runs `interop/pyca_interop.py` against the built `qsafe` binary: ML-KEM, ML-DSA (with
//! contexts), DHKEM(X25519), ECDSA and Ed25519 exchanged with pyca/cryptography in both
//! directions through PEM files, and every hybrid KEM and two composite signatures recomputed
//! from pyca's components. Needs `QSAFE_INTEROP_PYTHON` (a Python with
//! `cryptography>=50`, as `scripts/test.sh` sets up); without it the test says so and skips.

// Test code: a failed unwrap is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::PathBuf;
use std::process::Command;

#[test]
fn pyca_cryptography_interoperates_in_both_directions() {
    let Some(python) = std::env::var_os("QSAFE_INTEROP_PYTHON") else {
        eprintln!(
            "skipped pyca interop: QSAFE_INTEROP_PYTHON is not set (scripts/test.sh sets it up)"
        );
        return;
    };
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../interop/pyca_interop.py");
    let qsafe = assert_cmd::cargo::cargo_bin("qsafe");
    let out = Command::new(python)
        .arg(&script)
        .arg(&qsafe)
        .output()
        .expect("run python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "interop failed:\n{stdout}");
    assert_eq!(stdout.lines().last(), Some("30 passed, 0 failed"));
}
