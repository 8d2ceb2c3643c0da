//! Trains the digits classifier (the gateway's embedded model) and writes it as safetensors.
//!
//! ```text
//! cargo run --release -p qsafe-model --features train --example train_digits -- \
//!     --output crates/qsafe-model/assets/digits-mlp.safetensors --force
//! ```
//!
//! Without `--output` it trains, reports, and writes nothing. It refuses to overwrite an
//! existing file without `--force`. Training is deterministic: rerunning it reproduces the
//! committed file byte for byte (checked by `tests/model_train.rs`).

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use qsafe_model::train::{TrainConfig, train_digits};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut output: Option<PathBuf> = None;
    let mut force = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-o" | "--output" => output = args.next().map(PathBuf::from),
            "--force" => force = true,
            _ => {
                eprintln!("usage: train_digits [--output PATH [--force]]");
                std::process::exit(2);
            }
        }
    }

    let config = TrainConfig::default();
    eprintln!("training: {}", config.describe());
    let started = Instant::now();
    let trained = train_digits(&config, |s| {
        if s.epoch % 10 == 0 || s.epoch == 1 {
            eprintln!(
                "epoch {:>3}: loss {:.4}, train accuracy {:.4}",
                s.epoch, s.loss, s.train_accuracy
            );
        }
    })?;
    let elapsed = started.elapsed();
    let bytes = trained.classifier.to_safetensors()?;
    eprintln!(
        "trained in {:.2} s; train accuracy {:.4} ({}/{}), test accuracy {:.4} ({}/{})",
        elapsed.as_secs_f64(),
        trained.train_accuracy.ratio(),
        trained.train_accuracy.correct,
        trained.train_accuracy.total,
        trained.test_accuracy.ratio(),
        trained.test_accuracy.correct,
        trained.test_accuracy.total,
    );
    eprintln!("safetensors file: {} bytes", bytes.len());

    if let Some(path) = output {
        let mut file = if force {
            std::fs::File::create(&path)?
        } else {
            std::fs::File::create_new(&path)
                .map_err(|e| format!("{}: {e} (pass --force to overwrite)", path.display()))?
        };
        file.write_all(&bytes)?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}
