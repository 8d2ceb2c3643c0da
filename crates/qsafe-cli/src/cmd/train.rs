//! `qsafe train aggregator|worker`: federated averaging of the digits classifier over TCP,
//! in plaintext, protected (hybrid-KEM session, composite signatures) or with secure
//! aggregation (the aggregator learns only the sum); see docs/training.md.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use qsafe_core::keys::{PrivateKey, PublicKey};
use qsafe_core::sig::{SigningKey, VerifyingKey};
use qsafe_data::Partitioning;
use qsafe_train::LocalTrainer;
use qsafe_train::fedavg::{self, LocalConfig, ShardTrainer};
use qsafe_train::net::{
    Aggregator, AggregatorConfig, Mode, NetError, Outcome as RoundOutcome, RoundReport, Worker,
    WorkerConfig,
};
use serde_json::{Value, json};

use super::{Out, load_private, load_public};
use crate::cli::{TrainAggregatorArgs, TrainMode, TrainPartition, TrainWorkerArgs};
use crate::failure::{Failure, Outcome, exit};
use crate::io::{Content, Sensitivity, print_json, write_output};

/// The seed every party uses for the data split (all must agree).
const PARTITION_SEED: u64 = fedavg::DEFAULT_PARTITION_SEED;

fn mode(m: TrainMode) -> Mode {
    match m {
        TrainMode::Plaintext => Mode::Plaintext,
        TrainMode::Protected => Mode::Protected,
        TrainMode::Secagg => Mode::SecureAggregation,
    }
}

pub(super) fn partitioning(p: TrainPartition) -> Partitioning {
    match p {
        TrainPartition::Iid => Partitioning::Iid,
        TrainPartition::LabelSkew => Partitioning::LabelSkew {
            shards_per_worker: 2,
        },
    }
}

fn train_failure(context: &str, e: impl std::fmt::Display) -> Failure {
    Failure::error(
        format!("{context}: {e}"),
        "see docs/training.md; `qsafe train demo` runs a complete example",
    )
}

fn signing_key(path: Option<&Path>, flag: &str) -> Outcome<SigningKey> {
    let path = path.ok_or_else(|| {
        Failure::usage(
            format!("{flag} is required in protected modes"),
            "create one: qsafe key gen --alg mldsa65-ed25519-sha512 -o NAME (or --mode plaintext)",
        )
    })?;
    match load_private(path, None)? {
        PrivateKey::Sig(sk) => Ok(sk),
        PrivateKey::Kem(_) => Err(Failure::usage(
            format!("{} is a KEM key", path.display()),
            format!("{flag} takes a signing key (mldsa65-ed25519-sha512)"),
        )),
    }
}

fn verifying_key(path: &Path) -> Outcome<VerifyingKey> {
    match load_public(path, None)? {
        PublicKey::Sig(vk) => Ok(vk),
        PublicKey::Kem(_) => Err(Failure::usage(
            format!("{} is a KEM key", path.display()),
            "worker and aggregator keys are signing keys",
        )),
    }
}

/// The trusted worker keys: every `*.pub` in `dir`, by file name.
fn worker_keys(dir: &Path) -> Outcome<Vec<VerifyingKey>> {
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| {
            Failure::error(
                format!("reading {}: {e}", dir.display()),
                "--workers takes a directory of the workers' public keys (*.pub)",
            )
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().and_then(|e| e.to_str()) == Some("pub"))
        .collect();
    paths.sort();
    if paths.is_empty() {
        return Err(Failure::usage(
            format!("no worker keys (*.pub) in {}", dir.display()),
            "add the public key of every worker allowed to join",
        ));
    }
    paths.iter().map(|p| verifying_key(p)).collect()
}

/// One round as JSON (events and `--json`).
pub(super) fn round_json(r: &RoundReport, accuracy: Option<f64>) -> Value {
    let (outcome, reason) = match &r.outcome {
        RoundOutcome::Completed => ("completed", None),
        RoundOutcome::Aborted { reason } => ("aborted", Some(reason.clone())),
    };
    json!({
        "round": r.round, "participants": r.participants, "survivors": r.survivors,
        "dropped": r.dropped.iter().map(|d| json!({
            "id": d.id, "phase": d.phase, "reason": d.reason.to_string(),
        })).collect::<Vec<_>>(),
        "rejected": r.rejected.iter().map(|x| x.reason.clone()).collect::<Vec<_>>(),
        "accuracy": accuracy, "bytes_sent": r.bytes_sent, "bytes_received": r.bytes_received,
        "seconds": r.seconds, "outcome": outcome, "reason": reason,
    })
}

/// `qsafe train aggregator`.
pub fn aggregator(out: Out, args: TrainAggregatorArgs) -> Outcome {
    let mode = mode(args.mode);
    let mut cfg = if mode.is_protected() {
        let identity = signing_key(args.key.as_deref(), "--key")?;
        let dir = args.workers.as_deref().ok_or_else(|| {
            Failure::usage(
                "--workers DIR is required in protected modes",
                "a directory holding every worker's public key (*.pub)",
            )
        })?;
        AggregatorConfig::protected(
            mode,
            identity,
            worker_keys(dir)?,
            args.rounds,
            args.min_workers,
        )
    } else {
        AggregatorConfig::plaintext(args.rounds, args.min_workers)
    };
    if let Some(t) = args.threshold {
        cfg.threshold = t;
    }
    cfg.phase_timeout = Duration::from_secs(args.phase_timeout.max(1));
    let hidden = LocalConfig::default().hidden;
    let (_, test) = fedavg::digits_shards(1, Partitioning::Iid, PARTITION_SEED)
        .map_err(|e| train_failure("loading the digits test split", e))?;
    let initial = fedavg::initial_parameters(hidden, fedavg::DEFAULT_INIT_SEED)
        .map_err(|e| train_failure("initialising the model", e))?;
    let mut agg = Aggregator::bind(args.listen.as_str(), cfg)
        .map_err(|e| train_failure(&format!("listening on {}", args.listen), e))?;
    let addr = agg
        .local_addr()
        .map_err(|e| train_failure("listening", e))?;
    if args.events {
        println!(
            "{}",
            json!({"event": "listening", "addr": addr.to_string()})
        );
    } else {
        out.say(format!(
            "qsafe train aggregator on {addr}: {} rounds, waiting for {} workers",
            args.rounds, args.min_workers
        ));
    }
    let mut rounds = Vec::new();
    let summary = agg
        .run(initial, |report, params| {
            let accuracy = fedavg::evaluate(params, hidden, &test)
                .ok()
                .map(|a| a.ratio());
            let line = round_json(report, accuracy);
            if args.events {
                println!("{}", json!({"event": "round", "report": line}));
            } else {
                out.say(format!(
                    "round {:>3}: accuracy {:.4}, {} of {} workers, {} bytes, {:.2} s{}",
                    report.round,
                    accuracy.unwrap_or(0.0),
                    report.survivors.len(),
                    report.participants.len(),
                    report.bytes_sent + report.bytes_received,
                    report.seconds,
                    match &report.outcome {
                        RoundOutcome::Aborted { reason } => format!(" (aborted: {reason})"),
                        _ => String::new(),
                    }
                ));
            }
            rounds.push(line);
        })
        .map_err(|e| train_failure("running the rounds", e))?;
    let accuracy = fedavg::evaluate(&summary.params, hidden, &test)
        .map_err(|e| train_failure("evaluating the final model", e))?;
    if let Some(path) = &args.output {
        write_model(&args, path, &summary.params, hidden, accuracy.ratio())?;
    }
    let done = json!({
        "schema_version": 1, "ok": true, "mode": mode_name(args.mode),
        "rounds": rounds, "final_accuracy": accuracy.ratio(),
        "stopped_early": summary.stopped_early,
        "bytes_sent": summary.bytes_sent, "bytes_received": summary.bytes_received,
    });
    if args.events {
        println!("{}", json!({"event": "done", "summary": done}));
        return Ok(());
    }
    if out.json {
        return print_json(&done);
    }
    out.say(format!(
        "final test accuracy {:.4} ({}/{})",
        accuracy.ratio(),
        accuracy.correct,
        accuracy.total
    ));
    Ok(())
}

pub(super) fn mode_name(m: TrainMode) -> &'static str {
    match m {
        TrainMode::Plaintext => "plaintext",
        TrainMode::Protected => "protected",
        TrainMode::Secagg => "secagg",
    }
}

/// The final model as safetensors, and sealed and signed for the gateway when asked.
fn write_model(
    args: &TrainAggregatorArgs,
    path: &Path,
    params: &[f32],
    hidden: usize,
    accuracy: f64,
) -> Outcome {
    let metadata = BTreeMap::from([
        (
            "training".to_owned(),
            format!(
                "federated averaging, {} rounds, {}",
                args.rounds,
                mode_name(args.mode)
            ),
        ),
        ("test_accuracy".to_owned(), format!("{accuracy:.4}")),
    ]);
    let bytes = fedavg::to_safetensors(params, hidden, &metadata)
        .map_err(|e| train_failure("writing the model", e))?;
    write_output(
        path,
        &bytes,
        Content::Binary,
        Sensitivity::Public,
        args.force,
    )?;
    if let (Some(to), Some(with)) = (&args.seal_to, &args.sign_with) {
        let recipient = load_public(to, None)?;
        let publisher = signing_key(Some(with), "--sign-with")?;
        let sealed = qsafe_gateway::model::sealed::seal(&bytes, &[recipient], &publisher)
            .map_err(|e| train_failure("sealing the model", e))?;
        let mut sealed_path = path.as_os_str().to_owned();
        sealed_path.push(".qsealed");
        write_output(
            Path::new(&sealed_path),
            &sealed,
            Content::Binary,
            Sensitivity::Public,
            args.force,
        )?;
    }
    Ok(())
}

/// A worker's trainer that leaves the process in round `exit_in_round` (fault injection).
struct Trainer {
    inner: ShardTrainer,
    exit_in_round: Option<u64>,
}

impl LocalTrainer for Trainer {
    fn local_update(&mut self, round: u64, global: &[f32]) -> Result<Vec<f32>, String> {
        if self.exit_in_round == Some(round) {
            eprintln!(
                "worker on shard {}: leaving in round {round} (fault injection)",
                self.inner.worker()
            );
            std::process::exit(0);
        }
        self.inner.local_update(round, global)
    }
}

fn parse_shard(s: &str) -> Outcome<(usize, usize)> {
    let bad = || {
        Failure::usage(
            format!("--shard {s:?} is not I/N"),
            "e.g. --shard 0/4 for the first of four workers",
        )
    };
    let (i, n) = s.split_once('/').ok_or_else(bad)?;
    let (i, n): (usize, usize) = (i.parse().map_err(|_| bad())?, n.parse().map_err(|_| bad())?);
    if n == 0 || i >= n {
        return Err(bad());
    }
    Ok((i, n))
}

/// `qsafe train worker`.
pub fn worker(out: Out, args: TrainWorkerArgs) -> Outcome {
    let (index, of) = parse_shard(&args.shard)?;
    let mode = mode(args.mode);
    let cfg = if mode.is_protected() {
        let identity = signing_key(args.key.as_deref(), "--key")?;
        let pinned = args.aggregator_key.as_deref().ok_or_else(|| {
            Failure::usage(
                "--aggregator-key is required in protected modes",
                "pass the aggregator's public key",
            )
        })?;
        WorkerConfig::protected(mode, identity, verifying_key(pinned)?)
    } else {
        WorkerConfig::plaintext()
    };
    let (mut shards, _) = fedavg::digits_shards(of, partitioning(args.partition), PARTITION_SEED)
        .map_err(|e| train_failure("loading the digits shards", e))?;
    if index >= shards.len() {
        return Err(Failure::usage(
            format!("no shard {index} of {of}"),
            "check --shard",
        ));
    }
    let shard = shards.swap_remove(index);
    let samples = shard.len();
    let inner = ShardTrainer::new(index, shard, LocalConfig::default())
        .map_err(|e| train_failure("preparing the shard", e))?;
    out.say(format!(
        "worker {index}/{of}: {samples} samples, connecting to {}",
        args.connect
    ));
    let trainer = Trainer {
        inner,
        exit_in_round: args.exit_in_round,
    };
    let summary = Worker::connect(args.connect.as_str(), cfg, trainer).map_err(|e| {
        let code = if matches!(e, NetError::Handshake(_)) {
            exit::CRYPTO
        } else {
            exit::ERROR
        };
        Failure::new(
            code,
            format!("worker {index}/{of}: {e}"),
            "check the aggregator address, mode and keys",
        )
    })?;
    if out.json {
        return print_json(&json!({
            "schema_version": 1, "ok": true, "id": summary.id,
            "rounds_contributed": summary.rounds_contributed,
            "rounds_aborted": summary.rounds_aborted,
            "bytes_sent": summary.bytes_sent, "bytes_received": summary.bytes_received,
        }));
    }
    out.say(format!(
        "worker {index}/{of} (id {}): contributed to {} rounds, {} bytes sent",
        summary.id, summary.rounds_contributed, summary.bytes_sent
    ));
    Ok(())
}
