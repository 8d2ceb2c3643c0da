//! `qsafe train demo`: an aggregator and N workers as separate `qsafe train` processes on
//! loopback, secure aggregation first and then the plaintext baseline with the same data,
//! seeds and dropouts, a table per round and the two final accuracies side by side.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use qsafe_core::keys::PrivateKey;
use qsafe_core::registry;
use serde_json::{Value, json};

use super::Out;
use super::train::mode_name;
use crate::cli::{TrainDemoArgs, TrainMode, TrainPartition};
use crate::failure::{Failure, Outcome};
use crate::io::print_json;
use crate::progress::Progress;

/// The round in which `--dropout` workers leave (after the key exchange).
const DROPOUT_ROUND: u64 = 2;

/// Child processes killed when dropped (a failed demo leaves nothing running).
struct Children(Vec<Child>);

impl Drop for Children {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn demo_failure(what: &str, e: impl std::fmt::Display) -> Failure {
    Failure::error(
        format!("{what}: {e}"),
        "run the aggregator and workers by hand to see more",
    )
}

fn write_key_pair(private: &Path, public: &Path) -> Outcome {
    let key = PrivateKey::generate(&registry::MLDSA65_ED25519_SHA512)
        .map_err(|e| Failure::core("generating a key", e))?;
    let public_key = key
        .public_key()
        .map_err(|e| Failure::core("public key", e))?;
    super::key::write_pair(&key, &public_key, private, public, true)
}

/// One run: returns the round reports and the aggregator's final summary.
fn run_once(out: Out, args: &TrainDemoArgs, mode: TrainMode, exe: &Path) -> Outcome<Value> {
    let dir = &args.dir;
    let name = mode_name(mode);
    let mut agg = Command::new(exe);
    agg.args([
        "train",
        "aggregator",
        "--listen",
        "127.0.0.1:0",
        "--events",
        "--force",
    ])
    .args(["--mode", name, "--rounds", &args.rounds.to_string()])
    .args(["--min-workers", &args.workers.to_string()])
    .arg("--output")
    .arg(dir.join(format!("model-{name}.safetensors")))
    .stdout(Stdio::piped());
    if mode != TrainMode::Plaintext {
        agg.arg("--key")
            .arg(dir.join("aggregator.key"))
            .arg("--workers")
            .arg(dir.join("workers"));
    }
    let mut children = Children(Vec::new());
    let mut child = agg
        .spawn()
        .map_err(|e| demo_failure("starting the aggregator", e))?;
    let stdout = child.stdout.take();
    children.0.push(child);
    let mut lines =
        BufReader::new(stdout.ok_or_else(|| demo_failure("aggregator", "no stdout"))?).lines();
    let first: Value = lines
        .next()
        .and_then(Result::ok)
        .and_then(|l| serde_json::from_str(&l).ok())
        .ok_or_else(|| demo_failure("the aggregator did not start", "no listening event"))?;
    let addr = first
        .get("addr")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();

    let partition = match args.partition {
        TrainPartition::Iid => "iid",
        TrainPartition::LabelSkew => "label-skew",
    };
    for i in 0..args.workers {
        let mut w = Command::new(exe);
        w.args([
            "--quiet",
            "train",
            "worker",
            "--connect",
            &addr,
            "--mode",
            name,
        ])
        .args([
            "--shard",
            &format!("{i}/{}", args.workers),
            "--partition",
            partition,
        ])
        .stdout(Stdio::null());
        if mode != TrainMode::Plaintext {
            w.arg("--key")
                .arg(dir.join(format!("keys/worker-{i:02}.key")))
                .arg("--aggregator-key")
                .arg(dir.join("aggregator.pub"));
        }
        if i >= args.workers - args.dropout {
            w.args(["--exit-in-round", &DROPOUT_ROUND.to_string()]);
        }
        children.0.push(
            w.spawn()
                .map_err(|e| demo_failure("starting a worker", e))?,
        );
    }

    out.say(format!(
        "\n{name}: {} workers{}, {} rounds",
        args.workers,
        if args.dropout > 0 {
            format!(" ({} leaving in round {DROPOUT_ROUND})", args.dropout)
        } else {
            String::new()
        },
        args.rounds
    ));
    out.say("round  accuracy  workers     bytes on wire   seconds  note");
    let mut progress = Progress::items(out, name, args.rounds);
    let mut rounds = Vec::new();
    for line in lines {
        let line = line.map_err(|e| demo_failure("reading the aggregator", e))?;
        let Ok(event) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        match event.get("event").and_then(Value::as_str) {
            Some("round") => {
                let r = event.get("report").unwrap_or(&Value::Null);
                let dropped: Vec<String> = r["dropped"]
                    .as_array()
                    .map(|d| {
                        d.iter()
                            .map(|x| {
                                format!(
                                    "worker {} dropped ({})",
                                    x["id"],
                                    x["phase"].as_str().unwrap_or("")
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                out.say(format!(
                    "{:>5}  {:>8.4}  {:>3} of {:<3} {:>13}  {:>8.3}  {}",
                    r["round"].as_u64().unwrap_or(0),
                    r["accuracy"].as_f64().unwrap_or(0.0),
                    r["survivors"].as_array().map_or(0, Vec::len),
                    r["participants"].as_array().map_or(0, Vec::len),
                    r["bytes_sent"].as_u64().unwrap_or(0)
                        + r["bytes_received"].as_u64().unwrap_or(0),
                    r["seconds"].as_f64().unwrap_or(0.0),
                    if r["outcome"] == "aborted" {
                        format!("aborted: {}", r["reason"].as_str().unwrap_or(""))
                    } else {
                        dropped.join(", ")
                    }
                ));
                progress.inc(1);
                rounds.push(r.clone());
            }
            Some("done") => {
                progress.finish();
                let mut summary = event.get("summary").cloned().unwrap_or_default();
                if let Some(s) = summary.as_object_mut() {
                    s.insert("rounds".into(), Value::Array(rounds));
                }
                for mut c in children.0.drain(..) {
                    let _ = c.wait();
                }
                return Ok(summary);
            }
            _ => {}
        }
    }
    progress.finish();
    Err(demo_failure(
        &format!("the {name} run"),
        "the aggregator stopped before finishing (see its error above)",
    ))
}

/// `qsafe train demo`.
pub fn run(out: Out, args: TrainDemoArgs) -> Outcome {
    let majority = args.workers / 2 + 1;
    if args.workers < 2 || args.workers > 64 {
        return Err(Failure::usage(
            "--workers must be 2..=64",
            "e.g. --workers 4",
        ));
    }
    // Secure aggregation's default threshold is a majority (at least 2 for 2+ workers).
    if args.workers - args.dropout.min(args.workers) < majority {
        return Err(Failure::usage(
            format!(
                "{} of {} workers leaving leaves fewer than the {majority} secure aggregation needs",
                args.dropout, args.workers
            ),
            "use fewer --dropout or more --workers",
        ));
    }
    let exe: PathBuf = std::env::current_exe().map_err(|e| demo_failure("finding qsafe", e))?;
    let dir = &args.dir;
    for sub in ["keys", "workers"] {
        std::fs::create_dir_all(dir.join(sub))
            .map_err(|e| demo_failure("creating the demo directory", e))?;
    }
    let modes: &[TrainMode] = if args.plaintext {
        &[TrainMode::Plaintext]
    } else {
        write_key_pair(&dir.join("aggregator.key"), &dir.join("aggregator.pub"))?;
        for i in 0..args.workers {
            write_key_pair(
                &dir.join(format!("keys/worker-{i:02}.key")),
                &dir.join(format!("workers/worker-{i:02}.pub")),
            )?;
        }
        &[TrainMode::Secagg, TrainMode::Plaintext]
    };
    let mut runs = Vec::new();
    for &mode in modes {
        runs.push((mode, run_once(out, &args, mode, &exe)?));
    }
    let accuracy = |v: &Value| v["final_accuracy"].as_f64().unwrap_or(0.0);
    let (first_mode, first) = &runs
        .first()
        .map(|(m, v)| (*m, v.clone()))
        .ok_or_else(|| demo_failure("demo", "no run"))?;
    let plaintext = runs
        .iter()
        .find(|(m, _)| *m == TrainMode::Plaintext)
        .map(|(_, v)| accuracy(v));
    let difference = plaintext.map(|p| (accuracy(first) - p) * 100.0);
    if out.json {
        let mut doc = first.clone();
        if let Some(d) = doc.as_object_mut() {
            d.insert("mode".into(), json!(mode_name(*first_mode)));
            d.insert("plaintext_final_accuracy".into(), json!(plaintext));
            d.insert("difference_points".into(), json!(difference));
        }
        return print_json(&doc);
    }
    out.say("");
    for (mode, v) in &runs {
        out.say(format!(
            "{:<10} final test accuracy {:.4}, {} bytes on the wire",
            mode_name(*mode),
            accuracy(v),
            v["bytes_sent"].as_u64().unwrap_or(0) + v["bytes_received"].as_u64().unwrap_or(0)
        ));
    }
    if let (Some(d), false) = (difference, args.plaintext) {
        out.say(format!(
            "secure aggregation vs plaintext: {d:+.2} points (target: within 0.5); models in {}",
            dir.display()
        ));
    }
    Ok(())
}
