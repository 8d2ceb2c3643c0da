//! `qsafe model sign` and `qsafe model verify`: OpenSSF model_signing v1.0 bundles over a
//! model directory (docs/model-signing.md).

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use qsafe_artifact::model::{self, Error as ModelError, SignOptions, VerifyOptions};
use qsafe_core::keys::{PrivateKey, PublicKey};
use qsafe_core::registry::Kind;
use serde_json::json;

use super::{Out, load_private, load_public};
use crate::cli::{ModelCommand, ModelFilesArgs, ModelSignArgs, ModelVerifyArgs};
use crate::failure::{Failure, Outcome, exit};
use crate::io::{Content, Sensitivity, print_json, read_input, refuse_existing, write_output};
use crate::progress::Progress;

pub fn run(out: Out, cmd: ModelCommand) -> Outcome {
    match cmd {
        ModelCommand::Sign(a) => sign(out, a),
        ModelCommand::Verify(a) => verify(out, a),
    }
}

fn not_signature(path: &Path, alg: &str) -> Failure {
    Failure::usage(
        format!("{} is a {alg} key, which cannot sign", path.display()),
        "use a signature key, e.g. `qsafe key gen --alg mldsa87-ecdsa-p384-sha512`",
    )
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(suffix);
    PathBuf::from(p)
}

/// `p` relative to the model when it lies inside it. As in model_signing's CLI
/// (`_resolve_ignore_paths`), paths are taken from the current directory with links resolved
/// (the file need not exist yet), and paths outside the model are dropped.
fn inside(root: &Path, p: &Path) -> Option<PathBuf> {
    let abs = std::path::absolute(p).ok()?;
    let mut base = abs.as_path();
    let mut tail = Vec::new();
    let resolved = loop {
        if let Ok(c) = fs::canonicalize(base) {
            break c;
        }
        tail.push(base.file_name()?);
        base = base.parent()?;
    };
    let full = tail.iter().rev().fold(resolved, |acc, n| acc.join(n));
    full.strip_prefix(root).ok().map(Path::to_path_buf)
}

/// The ignore list: `--ignore-paths` plus our own outputs or inputs inside the model.
fn ignore_paths(model_path: &Path, files: &ModelFilesArgs, own: &[&Path]) -> Outcome<Vec<PathBuf>> {
    let root = fs::canonicalize(model_path).map_err(|e| {
        Failure::error(
            format!("cannot read {}: {e}", model_path.display()),
            "check the model path",
        )
    })?;
    let mut out = Vec::new();
    for p in &files.ignore_paths {
        match inside(&root, p) {
            Some(rel) if !rel.as_os_str().is_empty() => out.push(rel),
            Some(_) => {
                return Err(Failure::usage(
                    format!("--ignore-paths {} is the whole model", p.display()),
                    "name files or directories inside the model",
                ));
            }
            None => {}
        }
    }
    out.extend(
        own.iter()
            .filter(|p| p.as_os_str() != "-")
            .filter_map(|p| inside(&root, p))
            .filter(|rel| !rel.as_os_str().is_empty()),
    );
    Ok(out)
}

/// Hashing progress: the library reports `(done, total)` from several threads; the bar is
/// made once the total is known.
struct Hashing {
    out: Out,
    bar: Mutex<Option<(Progress, u64)>>,
}

impl Hashing {
    fn new(out: Out) -> Self {
        Hashing {
            out,
            bar: Mutex::new(None),
        }
    }

    fn tick(&self, done: u64, total: u64) {
        let Ok(mut guard) = self.bar.lock() else {
            return;
        };
        let (bar, seen) =
            guard.get_or_insert_with(|| (Progress::bytes(self.out, "hashing", Some(total)), 0));
        if done > *seen {
            bar.inc(done - *seen);
            *seen = done;
        }
    }

    fn finish(&self) {
        if let Ok(guard) = self.bar.lock()
            && let Some((bar, _)) = guard.as_ref()
        {
            bar.finish();
        }
    }
}

fn failure(context: String, err: ModelError, signing: bool) -> Failure {
    let err = match err {
        ModelError::Core(e) => return Failure::core(context, e),
        other => other,
    };
    let msg = format!("{context}: {err}");
    let (code, hint) = match &err {
        ModelError::Signature => (
            exit::CRYPTO,
            "the bundle was modified, or made with another key",
        ),
        ModelError::KeyMismatch { .. } => (
            exit::CRYPTO,
            "pass the public key of the key that signed (`qsafe key pub SIGNER`)",
        ),
        ModelError::NotPostQuantum { .. } => (
            exit::CRYPTO,
            "sign with a composite or ML-DSA key, or drop --require-pq to accept classical signatures",
        ),
        ModelError::Bundle(_) => (
            exit::CRYPTO,
            "pass the bundle written by `qsafe model sign` or `model_signing sign key`",
        ),
        ModelError::Mismatch(_) => (
            exit::CRYPTO,
            "the files listed changed after signing, or this is another model",
        ),
        ModelError::Symlink(_) => (
            exit::ERROR,
            "pass --allow-symlinks to hash the files links point to (model_signing: --allow_symlinks)",
        ),
        ModelError::NotFileOrDir(_) | ModelError::NonUtf8Path(_) => (
            exit::ERROR,
            "remove or rename it, or leave it out with --ignore-paths",
        ),
        ModelError::IgnorePath(_) => (
            exit::USAGE,
            "--ignore-paths must name files or directories inside the model",
        ),
        ModelError::TooManyItems { .. } => (
            exit::ERROR,
            "pass a larger --shard-size, or sign parts of the model separately",
        ),
        ModelError::Unsupported(_) if signing => (
            exit::USAGE,
            "see docs/model-signing.md for the supported keys and options",
        ),
        ModelError::Unsupported(_) => (
            exit::ERROR,
            "qsafe verifies public-key bundles of model_signing v1.0 with SHA-256 manifests",
        ),
        ModelError::Io { .. } => (exit::ERROR, "check the path and its permissions"),
        _ => (
            exit::ERROR,
            "this is unexpected; please report it with the command you ran",
        ),
    };
    Failure::new(code, msg, hint)
}

fn sign(out: Out, args: ModelSignArgs) -> Outcome {
    let sk = match load_private(&args.key, Some(Kind::Signature))? {
        PrivateKey::Sig(sk) => sk,
        other => return Err(not_signature(&args.key, other.algorithm().id)),
    };
    let stdout = args.output.as_os_str() == "-";
    if out.json && stdout {
        return Err(Failure::usage(
            "--json needs -o FILE for the bundle",
            "stdout carries the JSON summary",
        ));
    }
    if args.classical_compat && stdout {
        return Err(Failure::usage(
            "--classical-compat writes SIG.classical and SIG.classical.pub beside SIG",
            "pass -o FILE",
        ));
    }
    let compat_sig = with_suffix(&args.output, ".classical");
    let compat_pub = with_suffix(&args.output, ".classical.pub");
    let mut outputs = vec![args.output.as_path()];
    if args.classical_compat {
        outputs.extend([compat_sig.as_path(), compat_pub.as_path()]);
    }
    refuse_existing(&outputs, args.force)?;
    let hashing = Hashing::new(out);
    let tick = |done, total| hashing.tick(done, total);
    let opts = SignOptions {
        shard_size: args.shard_size,
        classical_compat: args.classical_compat,
        ignore_paths: ignore_paths(&args.path, &args.files, &outputs)?,
        ignore_git_paths: !args.files.no_ignore_git_paths,
        allow_symlinks: args.files.allow_symlinks,
        progress: Some(model::Progress(&tick)),
        ..SignOptions::default()
    };
    let result = model::sign(&args.path, &sk, &opts);
    hashing.finish();
    let signed =
        result.map_err(|e| failure(format!("signing {}", args.path.display()), e, true))?;
    let (text, public) = (Content::Text, Sensitivity::Public);
    write_output(&args.output, &signed.bundle, text, public, args.force)?;
    if let Some(c) = &signed.classical {
        write_output(&compat_sig, &c.bundle, text, public, args.force)?;
        write_output(
            &compat_pub,
            c.public_key_pem.as_bytes(),
            text,
            public,
            args.force,
        )?;
    }
    let s = &signed.summary;
    if out.json {
        let classical = signed.classical.as_ref().map(|c| {
            json!({ "algorithm": c.algorithm.id, "signature": compat_sig, "public_key": compat_pub })
        });
        return print_json(&json!({
            "schema_version": 1, "algorithm": signed.algorithm.id, "signature": args.output,
            "model": args.path, "model_name": s.model_name, "method": s.method, "files": s.files,
            "items": s.items, "bytes": s.bytes, "root_digest": s.root_digest,
            "classical": classical,
        }));
    }
    if !stdout {
        out.say(format!(
            "signed {} files ({} bytes) of {} with {}: wrote {}",
            s.files,
            s.bytes,
            args.path.display(),
            signed.algorithm.id,
            args.output.display()
        ));
    }
    if let Some(c) = &signed.classical {
        out.say(format!(
            "classical half ({}): wrote {} and {} for `model_signing verify key`",
            c.algorithm.id,
            compat_sig.display(),
            compat_pub.display()
        ));
    }
    Ok(())
}

fn verify(out: Out, args: ModelVerifyArgs) -> Outcome {
    let vk = match load_public(&args.key, Some(Kind::Signature))? {
        PublicKey::Sig(vk) => vk,
        other => return Err(not_signature(&args.key, other.algorithm().id)),
    };
    if args.signature.as_os_str() != "-"
        && fs::metadata(&args.signature).is_ok_and(|m| m.len() > model::MAX_BUNDLE_LEN as u64)
    {
        return Err(Failure::new(
            exit::CRYPTO,
            format!("{} is too large for a bundle", args.signature.display()),
            "pass the bundle written by `qsafe model sign` or `model_signing sign key`",
        ));
    }
    let bundle = read_input(&args.signature)?;
    let fingerprint = PublicKey::Sig(vk.clone())
        .fingerprint()
        .map_err(|e| Failure::core("fingerprint", e))?;
    let hashing = Hashing::new(out);
    let tick = |done, total| hashing.tick(done, total);
    let opts = VerifyOptions {
        require_pq: args.require_pq,
        ignore_paths: ignore_paths(&args.path, &args.files, &[args.signature.as_path()])?,
        ignore_git_paths: !args.files.no_ignore_git_paths,
        allow_symlinks: args.files.allow_symlinks,
        progress: Some(model::Progress(&tick)),
        ..VerifyOptions::default()
    };
    let result = model::verify(&args.path, &vk, &bundle, &opts);
    hashing.finish();
    let alg = vk.algorithm();
    let context = format!(
        "{} does not verify {}",
        args.signature.display(),
        args.path.display()
    );
    match result {
        Ok(report) => {
            let s = &report.summary;
            if out.json {
                return print_json(&json!({
                    "schema_version": 1, "valid": true, "algorithm": alg.id,
                    "post_quantum": report.post_quantum, "key_fingerprint": fingerprint,
                    "model_name": s.model_name, "method": s.method, "files": s.files,
                    "items": s.items, "bytes": s.bytes, "root_digest": s.root_digest,
                    "added": [], "removed": [], "changed": [],
                }));
            }
            let pq = if report.post_quantum {
                "post-quantum"
            } else {
                "classical only: a quantum computer could forge it"
            };
            out.say(format!(
                "valid: {} files of {} match, {} signature by {fingerprint} ({pq})",
                s.files,
                args.path.display(),
                alg.id
            ));
            Ok(())
        }
        Err(ModelError::Mismatch(diff)) => {
            if out.json {
                print_json(&json!({
                    "schema_version": 1, "valid": false, "algorithm": alg.id,
                    "post_quantum": !alg.is_quantum_vulnerable(), "key_fingerprint": fingerprint,
                    "added": diff.added, "removed": diff.removed, "changed": diff.changed,
                }))?;
            } else if !out.quiet {
                for (what, names) in [
                    ("added", &diff.added),
                    ("removed", &diff.removed),
                    ("changed", &diff.changed),
                ] {
                    for name in names {
                        eprintln!("{what:>8}: {name}");
                    }
                }
            }
            let mut f = failure(context, ModelError::Mismatch(diff), false);
            f.json_done = out.json;
            Err(f)
        }
        Err(e) => {
            let mut f = failure(context, e, false);
            if out.json && f.code == exit::CRYPTO {
                print_json(&json!({
                    "schema_version": 1, "valid": false, "algorithm": alg.id,
                    "post_quantum": !alg.is_quantum_vulnerable(), "key_fingerprint": fingerprint,
                    "error": { "exit_code": f.code, "message": f.message, "hint": f.hint },
                }))?;
                f.json_done = true;
            }
            Err(f)
        }
    }
}
