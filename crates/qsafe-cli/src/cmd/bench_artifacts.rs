//! `qsafe bench artifacts`: seal, open and model signing against age and model_signing.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use qsafe_bench::artifacts::{self, Config, Report};
use serde_json::json;

use super::Out;
use crate::cli::BenchArtifactsArgs;
use crate::failure::{Failure, Outcome};
use crate::io::{emit, print_json};

/// Seal throughput target on a 2-core machine (issue 3).
const SEAL_TARGET_GBPS: f64 = 1.5;

fn in_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    })
}

fn model_signing(arg: Option<PathBuf>) -> Option<PathBuf> {
    arg.or_else(|| std::env::var_os("QSAFE_MODEL_SIGNING").map(PathBuf::from))
        .or_else(|| in_path("model_signing"))
        .or_else(|| Some(PathBuf::from(".venv/bin/model_signing")).filter(|p| p.is_file()))
}

/// Removes the scratch directory when the bench ends, however it ends.
struct Scratch {
    dir: PathBuf,
    keep: bool,
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

pub fn run(out: Out, quick: bool, args: BenchArtifactsArgs) -> Outcome {
    let qsafe = std::env::current_exe()?;
    // A fresh directory of our own, inside --dir or the temp dir, removed at the end.
    let parent = args.dir.clone().unwrap_or_else(std::env::temp_dir);
    let dir = parent.join(format!("qsafe-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| {
        Failure::error(
            format!("cannot create {}: {e}", dir.display()),
            "pass a writable directory to --dir",
        )
    })?;
    let scratch = Scratch {
        dir: dir.clone(),
        keep: args.keep,
    };
    let cfg = Config {
        qsafe,
        model_signing: model_signing(args.model_signing),
        age: in_path("age").zip(in_path("age-keygen")),
        dir,
        quick,
    };
    let bar = (!out.json && !out.quiet).then(|| {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.enable_steady_tick(std::time::Duration::from_millis(200));
        bar
    });
    let started = std::time::Instant::now();
    let report = artifacts::run_all(&cfg, &mut |what| {
        if let Some(bar) = &bar {
            bar.set_message(what.to_string());
        }
    })
    .map_err(|e| {
        Failure::error(
            format!("benchmark failed: {e}"),
            "check free space in the scratch directory (about 4 GiB for the full run)",
        )
    });
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let report = report?;
    let elapsed = started.elapsed().as_secs_f64();
    drop(scratch);
    if out.json {
        return print_json(&json!({
            "schema_version": 1,
            "machine": super::bench::machine(),
            "mode": if quick { "quick" } else { "full" },
            "elapsed_s": elapsed,
            "seal_target_gb_per_s": SEAL_TARGET_GBPS,
            "seed_claim_overhead_percent": [20, 35],
            "report": report,
        }));
    }
    emit(&render(&report, quick, elapsed, &cfg.dir))
}

fn render(r: &Report, quick: bool, elapsed: f64, dir: &Path) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "qsafe bench artifacts ({}), {:.1} s, scratch {}\n",
        if quick { "quick" } else { "full" },
        elapsed,
        dir.display()
    );
    let _ = writeln!(
        t,
        "{:<28} {:<13} {:<28} {:>9} {:>8} {:>9}",
        "DATA", "OP", "TOOL", "SECONDS", "GB/s", "RSS MiB"
    );
    for row in &r.rows {
        let rss = row
            .peak_rss_kib
            .map(|k| format!("{:.1}", k as f64 / 1024.0))
            .unwrap_or_else(|| "-".into());
        let _ = writeln!(
            t,
            "{:<28} {:<13} {:<28} {:>9.3} {:>8.3} {:>9}",
            row.dataset, row.op, row.tool, row.seconds, row.gb_per_s, rss
        );
    }
    let _ = writeln!(t, "\nqsafe time / peer time (below 1: qsafe is faster)");
    for ratio in &r.ratios {
        let target = ratio.target.map_or(String::new(), |tg| {
            let verdict = if ratio.time_ratio <= tg {
                "met"
            } else {
                "MISSED"
            };
            format!("  target <= {tg} {verdict}")
        });
        let _ = writeln!(t, "  {:<92} {:>6.3}{target}", ratio.what, ratio.time_ratio);
    }
    if let Some(seal) = r
        .rows
        .iter()
        .find(|row| row.op == "seal" && row.tool == "qsafe x-wing")
    {
        let verdict = if seal.gb_per_s >= SEAL_TARGET_GBPS {
            "met"
        } else {
            "MISSED"
        };
        let _ = writeln!(
            t,
            "  seal {}: {:.2} GB/s, target >= {SEAL_TARGET_GBPS} GB/s {verdict}",
            seal.dataset, seal.gb_per_s
        );
    }
    let _ = writeln!(
        t,
        "\nSize overhead of sealing (the seed claims +20-35% for encrypted checkpoints)"
    );
    for o in &r.overhead {
        let age = o
            .age_sealed
            .map(|a| {
                format!(
                    ", age {:+.4}%",
                    (a.saturating_sub(o.plaintext)) as f64 * 100.0 / o.plaintext.max(1) as f64
                )
            })
            .unwrap_or_default();
        let verdict = if o.sealed.saturating_sub(o.plaintext) <= o.budget_bytes {
            "within"
        } else {
            "OVER"
        };
        let _ = writeln!(
            t,
            "  {:<28} {} -> {} bytes: {:+.4}% ({verdict} the 0.2% + 8 KiB budget){age}",
            o.dataset, o.plaintext, o.sealed, o.percent
        );
    }
    let _ = writeln!(
        t,
        "\nround trip: {}",
        if r.roundtrip_ok {
            "every opened file matched its source byte for byte"
        } else {
            "MISMATCH"
        }
    );
    if !r.missing.is_empty() {
        let _ = writeln!(t, "not installed, rows missing: {}", r.missing.join(", "));
    }
    t
}
