//! The bench report is complete and consistent, measured with a tiny budget (timings are not
//! asserted: the machine is shared and noisy).

// Test code: a failed unwrap is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::Duration;

use qsafe_bench::primitives;
use qsafe_bench::sizes;
use qsafe_bench::timing::Budget;
use qsafe_core::registry;

const TINY: Budget = Budget {
    per_op: Duration::from_micros(1),
    min_samples: 1,
    max_samples: 1,
};

#[test]
fn report_covers_every_algorithm_the_seed_rows_and_every_hybrid() {
    let mut calls = 0;
    let report = primitives::run(TINY, &mut |done, total, _| {
        assert!(done <= total);
        calls += 1;
    })
    .unwrap();
    let (kems, sigs) = registry::available_key_algorithms();
    // every key algorithm, ML-DSA again with a context
    assert_eq!(report.algorithms.len(), kems + sigs + 3);
    assert!(calls > kems + sigs);
    assert_eq!(report.seed_table.len(), 5);
    for row in &report.seed_table {
        assert!(row.measured_ms[0].is_some(), "{}: keygen", row.label);
        assert!(row.measured_ms.iter().flatten().all(|ms| *ms > 0.0));
    }
    // 5 hybrid KEMs and 4 composites, three operations each
    assert_eq!(report.hybrids.len(), 27);
    for h in &report.hybrids {
        assert!(
            h.ratio.is_finite() && h.ratio > 0.0,
            "{} {}",
            h.hybrid,
            h.op
        );
        assert!((h.hybrid_ms / h.parts_ms - h.ratio).abs() < 1e-9);
    }
    let json = serde_json::to_value(&report).unwrap();
    assert!(
        json["algorithms"][0]["keygen"]["median_ns"]
            .as_f64()
            .unwrap()
            > 0.0
    );
}

#[test]
fn size_table_matches_the_registry() {
    let rows = sizes::table().unwrap();
    for r in &rows {
        let alg = registry::by_id(r.id).unwrap();
        if alg.id != "rsa-pss-2048-sha256" {
            assert_eq!(Some(r.public_key), alg.sizes.public_key, "{}", r.id);
            assert_eq!(Some(r.private_key), alg.sizes.private_key, "{}", r.id);
        }
        let max = alg.sizes.ciphertext.or(alg.sizes.signature).unwrap();
        assert!(r.ciphertext_or_signature <= max, "{}", r.id);
        assert!(
            r.public_key_der > r.public_key && r.private_key_der > r.private_key,
            "{}",
            r.id
        );
    }
}
