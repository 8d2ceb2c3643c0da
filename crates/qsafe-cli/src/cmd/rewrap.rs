//! `qsafe rewrap`: the same payload under new recipient stanzas (docs/format.md §4.1).

use std::fs::File;
use std::io::{self, BufReader, Seek, SeekFrom, Write};
use std::time::Instant;

use qsafe_artifact::container::{Header, JOURNAL_SUFFIX, recover_header, rewrite_header_in_place};
use qsafe_core::kem::DecapsulationKey;
use qsafe_core::keys::{PrivateKey, PublicKey};
use qsafe_core::registry::Kind;
use serde_json::json;

use super::{Out, load_private, load_public};
use crate::cli::RewrapArgs;
use crate::failure::{Failure, Outcome};
use crate::io::{AtomicFile, Sensitivity, print_json, read_failure};

pub fn run(out: Out, args: RewrapArgs) -> Outcome {
    let context = format!("rewrapping {}", args.input.display());
    let fail = |e| Failure::artifact(&context, e);
    if args.recover {
        let recovered = recover_header(&args.input).map_err(fail)?;
        let what = if recovered {
            "restored the header saved before an interrupted rewrap"
        } else {
            "nothing to recover"
        };
        if out.json {
            return print_json(&json!({"schema_version": 1, "ok": true, "recovered": recovered}));
        }
        out.say(format!("{}: {what}", args.input.display()));
        return Ok(());
    }
    let key_path = args.key.as_deref().ok_or_else(|| {
        Failure::usage(
            "--key is required",
            "pass the private key of a current recipient",
        )
    })?;
    let stored_name = (!key_path.exists() && args.recipients.is_empty())
        .then(|| key_path.to_string_lossy().into_owned());
    let file = File::open(&args.input).map_err(|e| read_failure(&args.input, &e))?;
    let old = Header::read(&mut BufReader::new(&file)).map_err(fail)?;
    let (dk, recipients, versions) = match &stored_name {
        Some(name) => stored_keys(&args, name, &old)?,
        None => {
            if args.recipients.is_empty() {
                return Err(Failure::usage(
                    "no new recipients",
                    "pass -r NEW.pub (with a key file), or -k NAME for a key in the store",
                ));
            }
            let dk = match load_private(key_path, Some(Kind::Kem))? {
                PrivateKey::Kem(dk) => dk,
                PrivateKey::Sig(k) => {
                    return Err(Failure::usage(
                        format!(
                            "{} is a {} signature key",
                            key_path.display(),
                            k.algorithm().id
                        ),
                        "pass the KEM private key of a current recipient",
                    ));
                }
            };
            let recipients = args
                .recipients
                .iter()
                .map(|p| load_public(p, Some(Kind::Kem)))
                .collect::<Outcome<Vec<PublicKey>>>()?;
            (dk, recipients, None)
        }
    };
    let started = Instant::now();
    let new = old
        .rewrap(&dk, &recipients, args.allow_classical)
        .map_err(fail)?;
    match &args.output {
        None => {
            drop(file);
            rewrite_header_in_place(&args.input, &old, &new).map_err(|e| {
                let io_failure = matches!(e, qsafe_artifact::Error::Io(_));
                let mut f = fail(e);
                if io_failure {
                    f.hint = Some(format!(
                        "if a {JOURNAL_SUFFIX} file is left, run `qsafe rewrap --recover {}`",
                        args.input.display()
                    ));
                }
                f
            })?;
        }
        Some(path) => {
            let mut dst = AtomicFile::create(path, Sensitivity::Public, args.force)?;
            dst.write_all(new.as_bytes())?;
            let mut src = &file;
            src.seek(SeekFrom::Start(old.len()))?;
            io::copy(&mut BufReader::with_capacity(1 << 20, src), &mut dst)?;
            dst.commit()?;
        }
    }
    let ms = started.elapsed().as_secs_f64() * 1e3;
    let target = args.output.as_ref().unwrap_or(&args.input);
    if out.json {
        return print_json(&json!({
            "schema_version": 1, "ok": true, "operation": "rewrap",
            "input": args.input, "output": target, "in_place": args.output.is_none(),
            "recipients": new.recipient_fingerprints(), "milliseconds": ms,
            "from_version": versions.map(|(_, v)| v), "to_version": versions.map(|(t, _)| t),
        }));
    }
    let versions = versions
        .map(|(to, from)| format!(" (version {from} -> {to})"))
        .unwrap_or_default();
    out.say(format!(
        "rewrapped {} -> {} for {} recipient(s){versions} in {ms:.1} ms; payload and signature \
         unchanged",
        args.input.display(),
        target.display(),
        new.recipients.len()
    ));
    Ok(())
}

/// For `-k NAME`: the unlocked stored version the file is sealed to (policy-checked), the
/// active version's public key, and `(active, from)` version numbers.
type StoredKeys = (DecapsulationKey, Vec<PublicKey>, Option<(u32, u32)>);

fn stored_keys(args: &RewrapArgs, name: &str, header: &Header) -> Outcome<StoredKeys> {
    let store = super::store::open(&args.store)?;
    let (dk, from) = super::store::recipient_version(&store, name, header, &args.input)?;
    let active = store
        .public_key(name, None)
        .map_err(|e| super::store::fail(&format!("reading key {name}"), e))?;
    Ok((dk, vec![active.key], Some((active.version, from))))
}
