//! `qsafe bench`: the seed's tables, measured on this machine.

use std::fmt::Write as _;

use qsafe_bench::primitives::{self, AlgTimes, Report};
use qsafe_bench::sizes::{self, SizeRow};
use qsafe_bench::timing::{Budget, Stats};
use serde_json::json;

use super::Out;
use crate::cli::{BenchArgs, BenchWhat};
use crate::failure::{Failure, Outcome};
use crate::io::{emit, print_json};

pub(super) fn machine() -> serde_json::Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    json!({ "cpu": cpu, "cores": cores, "os": std::env::consts::OS, "arch": std::env::consts::ARCH })
}

pub fn run(out: Out, args: BenchArgs) -> Outcome {
    match args.what {
        Some(BenchWhat::Artifacts(a)) => super::bench_artifacts::run(out, args.quick, a),
        Some(BenchWhat::Gateway(g)) => super::bench_gateway::run(out, args.quick, g),
        Some(BenchWhat::Training(t)) => super::bench_training::run(out, args.quick, t),
        Some(BenchWhat::Primitives) | None => primitives(out, args.quick),
    }
}

fn primitives(out: Out, quick: bool) -> Outcome {
    let budget = if quick { Budget::QUICK } else { Budget::FULL };
    let bar = (!out.json && !out.quiet).then(|| {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} measuring {msg:<32} [{bar:30}] {pos}/{len} {elapsed}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let started = std::time::Instant::now();
    let report = primitives::run(budget, &mut |done, total, what| {
        if let Some(bar) = &bar {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
            bar.set_message(what.to_string());
        }
    })
    .map_err(|e| Failure::core("benchmark", e))?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let sizes = sizes::table().map_err(|e| Failure::core("size table", e))?;
    let elapsed = started.elapsed().as_secs_f64();
    if out.json {
        return print_json(&json!({
            "schema_version": 1,
            "machine": machine(),
            "mode": if quick { "quick" } else { "full" },
            "elapsed_s": elapsed,
            "seed_table": report.seed_table,
            "algorithms": report.algorithms,
            "hybrids": report.hybrids,
            "sizes": sizes,
        }));
    }
    emit(&render(&report, &sizes, quick, elapsed))
}

fn cell(v: Option<f64>, claim: Option<f64>) -> String {
    let measured = v.map(|ms| format!("{ms:.4}")).unwrap_or_else(|| "-".into());
    match (v, claim) {
        (Some(m), Some(c)) => format!("{measured} / {c} ({:.0}x)", c / m),
        (Some(_), None) => format!("{measured} / n.g."),
        _ => measured,
    }
}

fn us(s: &Option<Stats>) -> String {
    s.as_ref()
        .map(|s| format!("{:.1}", s.median_ns / 1e3))
        .unwrap_or_else(|| "-".into())
}

fn render(report: &Report, sizes: &[SizeRow], quick: bool, elapsed: f64) -> String {
    let m = machine();
    let mut t = String::new();
    let _ = writeln!(
        t,
        "qsafe bench ({}) on {} ({} cores), {:.1} s\n",
        if quick { "quick" } else { "full" },
        m.get("cpu")
            .and_then(serde_json::Value::as_str)
            .unwrap_or("?"),
        m.get("cores")
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0),
        elapsed
    );
    let _ = writeln!(
        t,
        "Computational overhead: median ms measured / the seed's claim (n.g. = the seed's figure was not given)"
    );
    let _ = writeln!(
        t,
        "{:<42} {:>22} {:>22} {:>22} {:>22} {:>22}",
        "ALGORITHM", "KEYGEN", "ENCAPS", "DECAPS", "SIGN", "VERIFY"
    );
    for row in &report.seed_table {
        let cells: Vec<String> = row
            .measured_ms
            .iter()
            .zip(row.claimed_ms)
            .map(|(v, c)| format!("{:>22}", cell(*v, c)))
            .collect();
        let _ = writeln!(t, "{:<42} {}", row.label, cells.join(" "));
    }
    let _ = writeln!(t, "\nEvery algorithm: median microseconds");
    let _ = writeln!(
        t,
        "{:<34} {:>10} {:>10} {:>10} {:>10} {:>10}",
        "ID", "KEYGEN", "ENCAPS", "DECAPS", "SIGN", "VERIFY"
    );
    for a in &report.algorithms {
        let AlgTimes {
            id,
            keygen,
            encaps,
            decaps,
            sign,
            verify,
            ..
        } = a;
        let _ = writeln!(
            t,
            "{id:<34} {:>10} {:>10} {:>10} {:>10} {:>10}",
            us(keygen),
            us(encaps),
            us(decaps),
            us(sign),
            us(verify)
        );
    }
    let _ = writeln!(
        t,
        "\nHybrid cost over the sum of its parts, measured in alternation (target <= 1.15; \
         ML-DSA parts sign with a context, as composites do)"
    );
    let _ = writeln!(
        t,
        "{:<30} {:<7} {:>10} {:>10} {:>7}  PARTS",
        "HYBRID", "OP", "HYBRID us", "PARTS us", "RATIO"
    );
    for h in &report.hybrids {
        let flag = if h.ratio > 1.15 { "  over target" } else { "" };
        let _ = writeln!(
            t,
            "{:<30} {:<7} {:>10.1} {:>10.1} {:>7.2}  {} + {}{flag}",
            h.hybrid,
            h.op,
            h.hybrid_ms * 1e3,
            h.parts_ms * 1e3,
            h.ratio,
            h.parts[0],
            h.parts[1]
        );
    }
    let _ = writeln!(t, "\nMemory and storage impact: bytes, from real encodings");
    let _ = writeln!(
        t,
        "{:<30} {:<13} {:>7} {:>7} {:>7} {:>7} {:>8} {:>5}",
        "ID", "FAMILY", "PK", "PK DER", "SK", "SK DER", "CT/SIG", "SS"
    );
    for r in sizes {
        let fam = serde_json::to_value(r.family)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default();
        let ss = r
            .shared_secret
            .map(|s| s.to_string())
            .unwrap_or_else(|| "-".into());
        let _ = writeln!(
            t,
            "{:<30} {:<13} {:>7} {:>7} {:>7} {:>7} {:>8} {:>5}",
            r.id,
            fam,
            r.public_key,
            r.public_key_der,
            r.private_key,
            r.private_key_der,
            r.ciphertext_or_signature,
            ss
        );
    }
    t
}
