//! `qsafe key gen|pub|export|import|info`.

use std::path::{Path, PathBuf};

use qsafe_core::keys::{PrivateKey, PublicKey, codec};
use qsafe_core::registry::Kind;
use serde_json::json;
use zeroize::Zeroizing;

use super::{AnyKey, Out, algorithm, load_any};
use crate::cli::{Format, KeyExportArgs, KeyGenArgs, KeyImportArgs, KeyInfoArgs, KeyPubArgs};
use crate::failure::{Failure, Outcome};
use crate::io::{Content, Sensitivity, parse_hex, print_json, read_input, write_output};

fn pub_path(private: &std::path::Path) -> PathBuf {
    let mut s = private.as_os_str().to_owned();
    s.push(".pub");
    PathBuf::from(s)
}

/// Adds a field to a JSON object we built (a no-op on anything else).
fn set(obj: &mut serde_json::Value, key: &str, value: serde_json::Value) {
    if let Some(map) = obj.as_object_mut() {
        map.insert(key.to_string(), value);
    }
}

fn key_summary(pk: &PublicKey) -> Outcome<serde_json::Value> {
    let alg = pk.algorithm();
    let fingerprint = pk
        .fingerprint()
        .map_err(|e| Failure::core("fingerprint", e))?;
    Ok(json!({
        "algorithm": alg.id,
        "kind": alg.kind,
        "family": alg.family,
        "public_key_bytes": pk.raw().len(),
        "fingerprint": fingerprint,
    }))
}

pub fn generate(out: Out, args: KeyGenArgs) -> Outcome {
    let alg = algorithm(&args.alg)?;
    if !matches!(alg.kind, Kind::Kem | Kind::Signature) {
        return Err(Failure::usage(
            format!(
                "`{}` is a {:?} algorithm and has no key pairs",
                alg.id, alg.kind
            ),
            "pick a KEM or signature id from `qsafe algs`",
        ));
    }
    if args.output.as_os_str() == "-" {
        return Err(Failure::usage(
            "key gen needs a file path for -o",
            "pass -o PATH; the public key goes to PATH.pub",
        ));
    }
    let key = match &args.seed {
        Some(hex) => {
            let seed = Zeroizing::new(parse_hex("--seed", hex)?);
            PrivateKey::from_seed(alg, &seed).map_err(|e| seed_failure(alg, e))?
        }
        None => PrivateKey::generate(alg).map_err(|e| Failure::core("generating the key", e))?,
    };
    let public = key
        .public_key()
        .map_err(|e| Failure::core("deriving the public key", e))?;
    let pub_out = pub_path(&args.output);
    crate::io::refuse_existing(&[&args.output, &pub_out], args.force)?;
    write_pair(&key, &public, &args.output, &pub_out, args.force)?;
    let mut summary = key_summary(&public)?;
    if out.json {
        set(&mut summary, "schema_version", json!(1));
        set(&mut summary, "private_key", json!(args.output));
        set(&mut summary, "public_key", json!(pub_out));
        set(&mut summary, "deterministic", json!(args.seed.is_some()));
        return print_json(&summary);
    }
    out.say(format!(
        "wrote {} (private, 0600) and {} — {} {}",
        args.output.display(),
        pub_out.display(),
        alg.id,
        summary
            .get("fingerprint")
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
    ));
    Ok(())
}

/// Writes `key` as PEM to `private` (0600) and `public` (its public key) to `public_path`.
pub(super) fn write_pair(
    key: &PrivateKey,
    public: &PublicKey,
    private: &Path,
    public_path: &Path,
    force: bool,
) -> Outcome {
    let private_pem =
        codec::private_to_pem(key).map_err(|e| Failure::core("encoding the private key", e))?;
    let public_pem =
        codec::public_to_pem(public).map_err(|e| Failure::core("encoding the public key", e))?;
    write_output(
        private,
        private_pem.as_bytes(),
        Content::Text,
        Sensitivity::Secret,
        force,
    )?;
    write_output(
        public_path,
        public_pem.as_bytes(),
        Content::Text,
        Sensitivity::Public,
        force,
    )
}

fn seed_failure(alg: &'static qsafe_core::registry::Algorithm, e: qsafe_core::Error) -> Failure {
    let mut f = Failure::core("--seed", e);
    if let Some(n) = alg.sizes.private_key {
        f.hint = Some(format!(
            "a {} seed is {n} bytes ({} hex digits); composite keys take mlkemSeed/mldsaSeed followed by the classical private key",
            alg.id,
            2 * n
        ));
    }
    f
}

pub fn public(out: Out, args: KeyPubArgs) -> Outcome {
    let key = super::load_private(&args.private, None)?;
    let public = key
        .public_key()
        .map_err(|e| Failure::core("deriving the public key", e))?;
    let pem = codec::public_to_pem(&public).map_err(|e| Failure::core("encoding", e))?;
    if out.json {
        if args.output.as_os_str() != "-" {
            write_output(
                &args.output,
                pem.as_bytes(),
                Content::Text,
                Sensitivity::Public,
                args.force,
            )?;
        }
        let mut summary = key_summary(&public)?;
        set(&mut summary, "schema_version", json!(1));
        set(&mut summary, "public_key_pem", json!(pem));
        return print_json(&summary);
    }
    write_output(
        &args.output,
        pem.as_bytes(),
        Content::Text,
        Sensitivity::Public,
        args.force,
    )
}

pub fn export(out: Out, args: KeyExportArgs) -> Outcome {
    if args.public || args.private || args.k8s_secret {
        return super::store::export(out, &args);
    }
    let format = args.format.unwrap_or(Format::Pem);
    let loaded = load_any(&args.key, None)?;
    let private = matches!(loaded, AnyKey::Private(_));
    let (encoded, content, sensitivity, alg): (Zeroizing<Vec<u8>>, Content, Sensitivity, &str) =
        match loaded {
            AnyKey::Private(key) => {
                let enc = match format {
                    Format::Raw => key.raw().map(|s| s.expose().to_vec()),
                    Format::Der => codec::private_to_der(&key).map(|s| s.expose().to_vec()),
                    Format::Pem => codec::private_to_pem(&key).map(|s| s.as_bytes().to_vec()),
                }
                .map_err(|e| Failure::core("encoding the private key", e))?;
                (
                    Zeroizing::new(enc),
                    content_of(format),
                    Sensitivity::Secret,
                    key.algorithm().id,
                )
            }
            AnyKey::Public(key) => {
                let enc = match format {
                    Format::Raw => Ok(key.raw().to_vec()),
                    Format::Der => codec::public_to_der(&key),
                    Format::Pem => codec::public_to_pem(&key).map(String::into_bytes),
                }
                .map_err(|e| Failure::core("encoding the public key", e))?;
                (
                    Zeroizing::new(enc),
                    content_of(format),
                    Sensitivity::Public,
                    key.algorithm().id,
                )
            }
        };
    if out.json && args.output.as_os_str() == "-" {
        return Err(Failure::usage(
            "--json needs -o FILE for key export",
            "stdout carries the JSON summary",
        ));
    }
    write_output(&args.output, &encoded, content, sensitivity, args.force)?;
    if out.json {
        return print_json(&json!({
            "schema_version": 1, "algorithm": alg, "private": private,
            "format": format_name(format), "bytes": encoded.len(), "output": args.output,
        }));
    }
    Ok(())
}

fn content_of(f: Format) -> Content {
    if f == Format::Pem {
        Content::Text
    } else {
        Content::Binary
    }
}

fn format_name(f: Format) -> &'static str {
    match f {
        Format::Raw => "raw",
        Format::Der => "der",
        Format::Pem => "pem",
    }
}

pub fn import(out: Out, args: KeyImportArgs) -> Outcome {
    let alg = algorithm(&args.alg)?;
    let input = Zeroizing::new(read_input(&args.file)?);
    let ctx = format!(
        "importing {} as {} {}",
        args.file.display(),
        alg.id,
        format_name(args.format)
    );
    let (pem, sensitivity, public) = if args.private {
        let key = match args.format {
            Format::Raw => PrivateKey::from_raw(alg, &input),
            Format::Der | Format::Pem => codec::private_from_bytes(&input, Some(alg.kind)),
        }
        .map_err(|e| Failure::core(&ctx, e))?;
        check_alg(alg.id, key.algorithm().id)?;
        let public = key.public_key().map_err(|e| Failure::core(&ctx, e))?;
        let pem = codec::private_to_pem(&key).map_err(|e| Failure::core(&ctx, e))?;
        (pem, Sensitivity::Secret, public)
    } else {
        let key = match args.format {
            Format::Raw => PublicKey::from_raw(alg, &input),
            Format::Der | Format::Pem => codec::public_from_bytes(&input, Some(alg.kind)),
        }
        .map_err(|e| Failure::core(&ctx, e))?;
        check_alg(alg.id, key.algorithm().id)?;
        let pem = codec::public_to_pem(&key).map_err(|e| Failure::core(&ctx, e))?;
        (Zeroizing::new(pem), Sensitivity::Public, key)
    };
    write_output(
        &args.output,
        pem.as_bytes(),
        Content::Text,
        sensitivity,
        args.force,
    )?;
    let mut summary = key_summary(&public)?;
    if out.json {
        set(&mut summary, "schema_version", json!(1));
        set(&mut summary, "output", json!(args.output));
        set(&mut summary, "private", json!(args.private));
        return print_json(&summary);
    }
    out.say(format!("wrote {} ({})", args.output.display(), alg.id));
    Ok(())
}

fn check_alg(wanted: &str, found: &str) -> Outcome {
    if wanted != found {
        return Err(Failure::error(
            format!("the key is {found}, not {wanted}"),
            format!("pass --alg {found}, or check that this is the right file"),
        ));
    }
    Ok(())
}

pub fn info(out: Out, args: KeyInfoArgs) -> Outcome {
    let (private, public) = match load_any(&args.key, None)? {
        AnyKey::Private(key) => (
            true,
            key.public_key()
                .map_err(|e| Failure::core("deriving the public key", e))?,
        ),
        AnyKey::Public(key) => (false, key),
    };
    let alg = public.algorithm();
    let mut summary = key_summary(&public)?;
    set(&mut summary, "private", json!(private));
    set(&mut summary, "standard", json!(alg.standard));
    set(&mut summary, "nist_level", json!(alg.nist_level));
    set(
        &mut summary,
        "quantum_vulnerable",
        json!(alg.is_quantum_vulnerable()),
    );
    if out.json {
        set(&mut summary, "schema_version", json!(1));
        return print_json(&summary);
    }
    let mut text = format!(
        "{} key\nalgorithm    {} ({})\nstandard     {}\npublic key   {} bytes\nfingerprint  {}\n",
        if private { "private" } else { "public" },
        alg.id,
        alg.name,
        alg.standard,
        public.raw().len(),
        summary
            .get("fingerprint")
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
    );
    if alg.is_quantum_vulnerable() {
        text.push_str(
            "warning      quantum-vulnerable: a quantum computer breaks this algorithm\n",
        );
    }
    crate::io::emit(&text)?;
    Ok(())
}
