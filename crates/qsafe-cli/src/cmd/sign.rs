//! `qsafe sign` and `qsafe verify`.

use std::path::PathBuf;

use qsafe_core::keys::{PrivateKey, PublicKey};
use qsafe_core::registry::Kind;
use serde_json::json;

use super::{Out, load_private, load_public};
use crate::cli::{SignArgs, VerifyArgs};
use crate::failure::{Failure, Outcome, exit};
use crate::io::{Content, Sensitivity, parse_hex, print_json, read_input, write_output};

fn not_signature(path: &std::path::Path, alg: &str) -> Failure {
    Failure::usage(
        format!("{} is a {alg} key, which cannot sign", path.display()),
        "use a signature key (e.g. `qsafe key gen --alg mldsa65-ed25519-sha512`); KEM keys go with `qsafe kem`",
    )
}

fn context(arg: &Option<String>) -> Outcome<Vec<u8>> {
    arg.as_deref()
        .map(|h| parse_hex("--context", h))
        .transpose()
        .map(Option::unwrap_or_default)
}

pub fn sign(out: Out, args: SignArgs) -> Outcome {
    let ctx = context(&args.context)?;
    let sk = match load_private(&args.key, Some(Kind::Signature))? {
        PrivateKey::Sig(sk) => sk,
        other => return Err(not_signature(&args.key, other.algorithm().id)),
    };
    let message = read_input(&args.message)?;
    let sig = sk
        .sign(&message, &ctx)
        .map_err(|e| Failure::core("signing", e))?;
    let output = args.output.clone().unwrap_or_else(|| {
        if args.message.as_os_str() == "-" {
            PathBuf::from("-")
        } else {
            let mut p = args.message.as_os_str().to_owned();
            p.push(".sig");
            PathBuf::from(p)
        }
    });
    if out.json && output.as_os_str() == "-" {
        return Err(Failure::usage(
            "--json needs -o FILE for the signature",
            "stdout carries the JSON summary",
        ));
    }
    write_output(
        &output,
        &sig,
        Content::Binary,
        Sensitivity::Public,
        args.force,
    )?;
    if out.json {
        return print_json(&json!({
            "schema_version": 1, "algorithm": sk.algorithm().id, "signature": output,
            "signature_bytes": sig.len(), "context_bytes": ctx.len(), "message_bytes": message.len(),
        }));
    }
    if output.as_os_str() != "-" {
        out.say(format!(
            "{}: wrote {}-byte signature to {}",
            sk.algorithm().id,
            sig.len(),
            output.display()
        ));
    }
    Ok(())
}

pub fn verify(out: Out, args: VerifyArgs) -> Outcome {
    let ctx = context(&args.context)?;
    let vk = match load_public(&args.key, Some(Kind::Signature))? {
        PublicKey::Sig(vk) => vk,
        other => return Err(not_signature(&args.key, other.algorithm().id)),
    };
    let sig = read_input(&args.signature)?;
    let message = read_input(&args.message)?;
    let alg = vk.algorithm();
    let fingerprint = PublicKey::Sig(vk.clone())
        .fingerprint()
        .map_err(|e| Failure::core("fingerprint", e))?;
    let result = vk.verify(&message, &ctx, &sig);
    if out.json {
        print_json(&json!({
            "schema_version": 1, "valid": result.is_ok(), "algorithm": alg.id,
            "key_fingerprint": fingerprint, "quantum_vulnerable": alg.is_quantum_vulnerable(),
        }))?;
    }
    match result {
        Ok(()) => {
            out.say(format!("valid {} signature by {fingerprint}", alg.id));
            Ok(())
        }
        Err(e) => {
            let mut f = Failure::core(format!("{} does not verify", args.signature.display()), e);
            f.code = exit::CRYPTO;
            f.json_done = out.json;
            Err(f)
        }
    }
}
