//! `qsafe kem encap|decap`.

use qsafe_core::keys::{PrivateKey, PublicKey};
use qsafe_core::registry::Kind;
use serde_json::json;

use super::{Out, load_private, load_public};
use crate::cli::{DecapArgs, EncapArgs};
use crate::failure::{Failure, Outcome};
use crate::io::{Content, Sensitivity, print_json, read_input, refuse_existing, write_output};

fn not_kem(path: &std::path::Path, alg: &str) -> Failure {
    Failure::usage(
        format!("{} is a {alg} key, which is not a KEM", path.display()),
        "use a KEM key (e.g. `qsafe key gen --alg x-wing`); signature keys go with `qsafe sign`",
    )
}

pub fn encap(out: Out, args: EncapArgs) -> Outcome {
    let pk = match load_public(&args.to, Some(Kind::Kem))? {
        PublicKey::Kem(pk) => pk,
        other => return Err(not_kem(&args.to, other.algorithm().id)),
    };
    let (ct, ss) = pk
        .encapsulate()
        .map_err(|e| Failure::core("encapsulating", e))?;
    if args.ciphertext == args.secret {
        return Err(Failure::usage(
            "--ciphertext and --secret name the same file",
            "give two different paths",
        ));
    }
    refuse_existing(&[&args.secret, &args.ciphertext], args.force)?;
    write_output(
        &args.secret,
        ss.expose(),
        Content::Binary,
        Sensitivity::Secret,
        args.force,
    )?;
    write_output(
        &args.ciphertext,
        &ct,
        Content::Binary,
        Sensitivity::Public,
        args.force,
    )?;
    if out.json {
        return print_json(&json!({
            "schema_version": 1, "algorithm": pk.algorithm().id,
            "ciphertext": args.ciphertext, "ciphertext_bytes": ct.len(),
            "secret": args.secret, "secret_bytes": ss.len(),
        }));
    }
    out.say(format!(
        "{}: wrote {}-byte ciphertext and {}-byte secret",
        pk.algorithm().id,
        ct.len(),
        ss.len()
    ));
    Ok(())
}

pub fn decap(out: Out, args: DecapArgs) -> Outcome {
    let sk = match load_private(&args.key, Some(Kind::Kem))? {
        PrivateKey::Kem(sk) => sk,
        other => return Err(not_kem(&args.key, other.algorithm().id)),
    };
    let ct = read_input(&args.ciphertext)?;
    let ss = sk
        .decapsulate(&ct)
        .map_err(|e| Failure::core(format!("decapsulating {}", args.ciphertext.display()), e))?;
    write_output(
        &args.secret,
        ss.expose(),
        Content::Binary,
        Sensitivity::Secret,
        args.force,
    )?;
    if out.json {
        return print_json(&json!({
            "schema_version": 1, "algorithm": sk.algorithm().id,
            "secret": args.secret, "secret_bytes": ss.len(),
        }));
    }
    out.say(format!(
        "{}: wrote {}-byte secret",
        sk.algorithm().id,
        ss.len()
    ));
    Ok(())
}
