//! `qsafe bench gateway`: req/s and latency of the model direct, behind the gateway's PQ TLS
//! only, and with full protection, plus a 10x overload and the cost of each crypto step.

use std::fmt::Write as _;
use std::time::Duration;

use qsafe_bench::gateway::{self, Config, Report};
use serde_json::json;

use super::Out;
use crate::cli::BenchGatewayArgs;
use crate::failure::{Failure, Outcome};
use crate::io::{emit, print_json};

/// Issue 5's targets: full protection adds under 0.5 ms at p50 over PQ TLS alone and keeps at
/// least half its throughput.
const P50_ADDED_TARGET_MS: f64 = 0.5;
const THROUGHPUT_TARGET: f64 = 0.5;

pub fn run(out: Out, quick: bool, args: BenchGatewayArgs) -> Outcome {
    let mut config = if quick { Config::QUICK } else { Config::FULL };
    if let Some(s) = args.seconds {
        config.duration = Duration::from_secs(s.clamp(1, 600));
    }
    if args.connections == 0 || args.connections > 4096 {
        return Err(Failure::usage(
            format!("--connections {}: out of range", args.connections),
            "use 1 to 4096",
        ));
    }
    config.connections = args.connections;
    let bar = (!out.json && !out.quiet).then(|| {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    });
    let started = std::time::Instant::now();
    let report = gateway::run(config, &mut |what| {
        if let Some(bar) = &bar {
            bar.set_message(what.to_string());
        }
    });
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let report = report.map_err(|e| {
        Failure::error(
            format!("benchmark failed: {e}"),
            "the bench binds loopback ports; check that none is refused",
        )
    })?;
    let elapsed = started.elapsed().as_secs_f64();
    let verdict = Verdict::of(&report);
    if out.json {
        return print_json(&json!({
            "schema_version": 1,
            "machine": super::bench::machine(),
            "mode": if quick { "quick" } else { "full" },
            "elapsed_s": elapsed,
            "seconds_per_setup": config.duration.as_secs(),
            "targets": {
                "p50_added_ms_max": P50_ADDED_TARGET_MS,
                "throughput_ratio_min": THROUGHPUT_TARGET,
                "overload_errors_max": 0,
            },
            "p50_added_ms": verdict.p50_added_ms,
            "p50_added_unloaded_ms": verdict.p50_added_unloaded_ms,
            "throughput_ratio": verdict.throughput_ratio,
            "report": report,
        }));
    }
    emit(&render(&report, &verdict, quick, elapsed))
}

/// The figures the targets are about.
struct Verdict {
    p50_added_ms: Option<f64>,
    p50_added_unloaded_ms: Option<f64>,
    throughput_ratio: Option<f64>,
}

impl Verdict {
    fn of(r: &Report) -> Self {
        let (tls, full) = (r.run("pq-tls"), r.run("full"));
        let added = |a: &str, b: &str| r.run(a).zip(r.run(b)).map(|(t, f)| f.p50_ms - t.p50_ms);
        Verdict {
            p50_added_ms: added("pq-tls", "full"),
            p50_added_unloaded_ms: added("pq-tls-1conn", "full-1conn"),
            throughput_ratio: tls
                .zip(full)
                .filter(|(t, _)| t.requests_per_second > 0.0)
                .map(|(t, f)| f.requests_per_second / t.requests_per_second),
        }
    }
}

fn mark(ok: bool) -> &'static str {
    if ok { "met" } else { "MISSED" }
}

fn render(r: &Report, v: &Verdict, quick: bool, elapsed: f64) -> String {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "qsafe bench gateway ({}), {elapsed:.1} s, embedded digits model, loopback\n",
        if quick { "quick" } else { "full" }
    );
    let _ = writeln!(
        t,
        "{:<14} {:>6} {:>9} {:>7} {:>7} {:>10} {:>9} {:>9}",
        "set-up", "conns", "ok", "503", "errors", "req/s", "p50 ms", "p99 ms"
    );
    for run in &r.runs {
        let _ = writeln!(
            t,
            "{:<14} {:>6} {:>9} {:>7} {:>7} {:>10.0} {:>9.3} {:>9.3}{}",
            run.setup,
            run.connections,
            run.ok,
            run.shed,
            run.errors,
            run.requests_per_second,
            run.p50_ms,
            run.p99_ms,
            if run.ran_out {
                "  (prepared requests ran out early)"
            } else {
                ""
            }
        );
    }
    let _ = writeln!(t, "\ntargets (issue 5):");
    if let Some(added) = v.p50_added_ms {
        let _ = writeln!(
            t,
            "  full protection adds {added:.3} ms at p50 over pq-tls (< {P50_ADDED_TARGET_MS} ms): {}",
            mark(added < P50_ADDED_TARGET_MS)
        );
    }
    if let Some(added) = v.p50_added_unloaded_ms {
        let _ = writeln!(
            t,
            "  ... with one connection (unloaded): adds {added:.3} ms at p50: {}",
            mark(added < P50_ADDED_TARGET_MS)
        );
    }
    if let Some(ratio) = v.throughput_ratio {
        let _ = writeln!(
            t,
            "  full protection keeps {:.0}% of pq-tls throughput (>= {:.0}%): {}",
            ratio * 100.0,
            THROUGHPUT_TARGET * 100.0,
            mark(ratio >= THROUGHPUT_TARGET)
        );
    }
    if let Some(o) = r.run("full-overload") {
        let _ = writeln!(
            t,
            "  10x overload: {} served, {} clean 503s, {} other errors (0): {}",
            o.ok,
            o.shed,
            o.errors,
            mark(o.errors == 0)
        );
    }
    let steps = [
        (
            "during `full`, 64 connections: waits for a core included",
            &r.steps,
        ),
        ("during `full-1conn`: the steps' own cost", &r.steps_1conn),
    ];
    for (title, costs) in steps {
        let _ = writeln!(t, "\ngateway cost per step {title} (mean):");
        for s in costs {
            let label = if s.label.is_empty() {
                String::new()
            } else {
                format!(" ({})", s.label)
            };
            let _ = writeln!(
                t,
                "  {:<28} {:>9.1} µs  x{}",
                format!("{}{label}", s.step),
                s.mean_us,
                s.count
            );
        }
    }
    let c = &r.client_us;
    let _ = writeln!(
        t,
        "client cost per request (outside the clock): encapsulate {:.1} µs, sign {:.1} µs, \
         verify {:.1} µs, open {:.1} µs",
        c.encapsulate, c.sign, c.verify, c.decapsulate
    );
    t
}
