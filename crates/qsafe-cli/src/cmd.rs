//! Command handlers. Each parses its inputs, calls `qsafe-core`, and prints.

mod algs;
mod bench;
mod bench_artifacts;
mod bench_gateway;
mod bench_training;
mod infer;
mod kem;
mod key;
mod kms;
mod model;
mod rewrap;
mod seal;
mod serve;
mod serve_store;
mod sign;
mod store;
mod train;
mod train_demo;

use std::path::Path;

use qsafe_core::keys::{PrivateKey, PublicKey, codec};
use qsafe_core::registry::Kind;

use crate::cli::{AuditCommand, Cli, Command, KemCommand, KeyCommand, TrainCommand};
use crate::failure::{Failure, Outcome};
use crate::io::read_input;

/// Output settings shared by all commands.
#[derive(Clone, Copy)]
pub struct Out {
    pub json: bool,
    pub quiet: bool,
}

impl Out {
    /// Prints a human line on stdout unless `--json` or `--quiet`.
    pub fn say(&self, line: impl AsRef<str>) {
        if !self.json && !self.quiet {
            let _ = crate::io::emit(&format!("{}\n", line.as_ref()));
        }
    }
}

pub fn run(cli: Cli) -> Outcome {
    let out = Out {
        json: cli.json,
        quiet: cli.quiet,
    };
    match cli.command {
        Command::Algs(a) => algs::run(out, a),
        Command::Key(KeyCommand::Gen(a)) => key::generate(out, a),
        Command::Key(KeyCommand::Pub(a)) => key::public(out, a),
        Command::Key(KeyCommand::Export(a)) => key::export(out, a),
        Command::Key(KeyCommand::Import(a)) => key::import(out, a),
        Command::Key(KeyCommand::Info(a)) => key::info(out, a),
        Command::Key(KeyCommand::Init(a)) => store::init(out, a),
        Command::Key(KeyCommand::Create(a)) => store::create(out, a),
        Command::Key(KeyCommand::Rotate(a)) => store::rotate(out, a),
        Command::Key(KeyCommand::List(a)) => store::list(out, a),
        Command::Key(KeyCommand::Show(a)) => store::show(out, a),
        Command::Key(KeyCommand::SetPolicy(a)) => store::set_policy(out, a),
        Command::Key(KeyCommand::Retire(a)) => store::retire(out, a),
        Command::Key(KeyCommand::Destroy(a)) => store::destroy(out, a),
        Command::Key(KeyCommand::Audit(AuditCommand::Verify(a))) => store::audit_verify(out, a),
        Command::Key(KeyCommand::Backup(a)) => store::backup(out, a),
        Command::Key(KeyCommand::Restore(a)) => store::restore(out, a),
        Command::Kem(KemCommand::Encap(a)) => kem::encap(out, a),
        Command::Kem(KemCommand::Decap(a)) => kem::decap(out, a),
        Command::Sign(a) => sign::sign(out, a),
        Command::Verify(a) => sign::verify(out, a),
        Command::Seal(a) => seal::seal(out, a),
        Command::Open(a) => seal::open(out, a),
        Command::Inspect(a) => seal::inspect(out, a),
        Command::Rewrap(a) => rewrap::run(out, a),
        Command::Bench(a) => bench::run(out, a),
        Command::Model(a) => model::run(out, a),
        Command::KmsPlugin(a) => kms::run(out, a),
        Command::Serve(a) => serve::run(out, *a),
        Command::Infer(a) => infer::run(out, a),
        Command::Train(TrainCommand::Aggregator(a)) => train::aggregator(out, a),
        Command::Train(TrainCommand::Worker(a)) => train::worker(out, a),
        Command::Train(TrainCommand::Demo(a)) => train_demo::run(out, a),
    }
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C), for the long-running commands' graceful shutdown.
pub(crate) async fn shutdown_signal(who: &'static str) {
    use tokio::signal::unix::{SignalKind, signal};
    if let Ok(mut term) = signal(SignalKind::terminate()) {
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    } else {
        let _ = tokio::signal::ctrl_c().await;
    }
    eprintln!("{who}: shutting down");
}

/// A key file's contents: private or public.
pub enum AnyKey {
    Private(PrivateKey),
    Public(PublicKey),
}

/// Loads a key file of either kind, decoding it once. PEM says which kind it is; DER is tried
/// as PKCS #8 first, then as SubjectPublicKeyInfo.
pub fn load_any(path: &Path, kind: Option<Kind>) -> Outcome<AnyKey> {
    let bytes = zeroize::Zeroizing::new(read_input(path)?);
    let context = || format!("reading {}", path.display());
    let head =
        String::from_utf8_lossy(bytes.get(..bytes.len().min(64)).unwrap_or_default()).into_owned();
    let result = if head.trim_start().starts_with("-----BEGIN") {
        if head.contains("PRIVATE KEY") {
            codec::private_from_bytes(&bytes, kind).map(AnyKey::Private)
        } else {
            codec::public_from_bytes(&bytes, kind).map(AnyKey::Public)
        }
    } else {
        codec::private_from_bytes(&bytes, kind)
            .map(AnyKey::Private)
            .or_else(|e| {
                codec::public_from_bytes(&bytes, kind)
                    .map(AnyKey::Public)
                    .map_err(|_| e)
            })
    };
    result.map_err(|e| Failure::core(context(), e))
}

/// Loads a private key, naming the file in any error.
pub fn load_private(path: &Path, kind: Option<Kind>) -> Outcome<PrivateKey> {
    match load_any(path, kind)? {
        AnyKey::Private(key) => Ok(key),
        AnyKey::Public(_) => Err(Failure::error(
            format!("{} is not a private key", path.display()),
            "pass the private key file written by `qsafe key gen` (not the .pub)",
        )),
    }
}

/// Loads a public key; a private key file is accepted too and its public half used.
pub fn load_public(path: &Path, kind: Option<Kind>) -> Outcome<PublicKey> {
    match load_any(path, kind)? {
        AnyKey::Public(key) => Ok(key),
        AnyKey::Private(key) => key
            .public_key()
            .map_err(|e| Failure::core(format!("reading {}", path.display()), e)),
    }
}

/// Resolves `--alg`.
pub fn algorithm(id: &str) -> Outcome<&'static qsafe_core::registry::Algorithm> {
    qsafe_core::registry::by_id(id).ok_or_else(|| {
        Failure::usage(
            format!("unknown algorithm `{id}`"),
            "run `qsafe algs` to list the supported algorithm ids",
        )
    })
}
