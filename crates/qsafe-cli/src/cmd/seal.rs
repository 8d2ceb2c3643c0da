//! `qsafe seal`, `qsafe open` and `qsafe inspect`: the sealed container (docs/format.md).

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use qsafe_artifact::chunked::plaintext_len;
use qsafe_artifact::container::{Header, SealOptions, Sealer, verify_signature};
use qsafe_artifact::{safetensors, unwrap_io};
use qsafe_core::keys::{PrivateKey, PublicKey, format_fingerprint};
use qsafe_core::registry::{self, Kind};
use qsafe_core::sig::VerifyingKey;
use serde_json::{Value, json};

use super::{Out, load_private, load_public};
use crate::cli::{InspectArgs, OpenArgs, SealArgs};
use crate::failure::{Failure, Outcome};
use crate::io::{Output, Sensitivity, print_json, read_failure};
use crate::pipeline::{pump, write_behind};
use crate::progress::{Progress, ProgressReader};

const BUF: usize = 1 << 20;

/// An input file with its size, or stdin.
enum Input {
    File(File, u64),
    Stdin,
}

impl Input {
    fn open(path: &Path) -> Outcome<Input> {
        if path.as_os_str() == "-" {
            return Ok(Input::Stdin);
        }
        let f = File::open(path).map_err(|e| read_failure(path, &e))?;
        let len = f.metadata()?.len();
        Ok(Input::File(f, len))
    }

    fn len(&self) -> Option<u64> {
        match self {
            Input::File(_, len) => Some(*len),
            Input::Stdin => None,
        }
    }

    fn reader(self) -> Box<dyn Read + Send> {
        match self {
            Input::File(f, _) => Box::new(f),
            Input::Stdin => Box::new(io::stdin()),
        }
    }
}

/// Prints the human summary on stderr (stdout may carry the data).
fn tell(out: Out, line: &str) {
    if !out.json && !out.quiet {
        eprintln!("{line}");
    }
}

fn refuse_json_on_stdout(out: Out, path: &Path) -> Outcome {
    if out.json && path.as_os_str() == "-" {
        return Err(Failure::usage(
            "--json needs -o FILE",
            "stdout carries the JSON summary",
        ));
    }
    Ok(())
}

fn signer_json(header: &Header) -> Value {
    header.signer.as_ref().map_or(
        Value::Null,
        |s| json!({ "algorithm": s.alg.id, "fingerprint": format_fingerprint(&s.fingerprint) }),
    )
}

pub fn seal(out: Out, args: SealArgs) -> Outcome {
    refuse_json_on_stdout(out, &args.output)?;
    let suite = registry::suite(&args.suite).ok_or_else(|| {
        Failure::usage(
            format!("unknown suite `{}`", args.suite),
            "use --suite default or --suite cnsa2",
        )
    })?;
    let recipients = args
        .recipients
        .iter()
        .map(|p| load_public(p, Some(Kind::Kem)))
        .collect::<Outcome<Vec<PublicKey>>>()?;
    let signer = match &args.sign_with {
        None => None,
        Some(p) => match load_private(p, Some(Kind::Signature))? {
            PrivateKey::Sig(sk) => Some(sk),
            PrivateKey::Kem(k) => {
                return Err(Failure::usage(
                    format!(
                        "{} is a {} key, which cannot sign",
                        p.display(),
                        k.algorithm().id
                    ),
                    "pass a signature key to --sign-with, e.g. from `qsafe key gen --alg mldsa65-ed25519-sha512`",
                ));
            }
        },
    };
    let input = Input::open(&args.input)?;
    let total = input.len();
    let mut output = Output::create(&args.output, Sensitivity::Public, args.force)?;
    let opts = SealOptions {
        suite,
        recipients: &recipients,
        signer: signer.as_ref(),
        allow_classical: args.allow_classical,
    };
    let context = format!("sealing {}", args.input.display());
    // Three stages on their own threads: read, encrypt, write.
    let sealed = write_behind(&mut output, |sink| {
        let mut sealer = Sealer::new(&opts, sink)?;
        let header = sealer.header().clone();
        let plain = pump(out, "sealing", total, input.reader(), &mut sealer)?;
        sealer.finish()?;
        Ok((plain, header))
    });
    let (plain, header) = sealed.map_err(|e| Failure::artifact(&context, unwrap_io(e)))?;
    output.commit()?;
    let sealed = qsafe_artifact::chunked::sealed_len(plain)
        .map_or(0, |p| p + header.len() + header.trailer_len());
    tell(
        out,
        &format!(
            "sealed {} -> {}: {plain} -> {sealed} bytes, {} recipient(s), suite {}{}",
            args.input.display(),
            args.output.display(),
            header.recipients.len(),
            suite.id,
            header
                .signer
                .as_ref()
                .map(|s| format!(", signed with {}", s.alg.id))
                .unwrap_or_default()
        ),
    );
    if out.json {
        print_json(&json!({
            "schema_version": 1, "ok": true, "operation": "seal",
            "input": args.input, "output": args.output, "suite": suite.id,
            "plaintext_bytes": plain, "sealed_bytes": sealed,
            "recipients": header.recipient_fingerprints(),
            "signer": signer_json(&header),
        }))?;
    }
    Ok(())
}

fn parse_range(text: &str) -> Outcome<(u64, u64)> {
    let bad = || {
        Failure::usage(
            format!("--range {text:?} is not START:LEN"),
            "give two byte counts, e.g. --range 0:4096",
        )
    };
    let (a, b) = text.split_once(':').ok_or_else(bad)?;
    Ok((
        a.trim().parse().map_err(|_| bad())?,
        b.trim().parse().map_err(|_| bad())?,
    ))
}

pub fn open(out: Out, args: OpenArgs) -> Outcome {
    refuse_json_on_stdout(out, &args.output)?;
    let range = args.range.as_deref().map(parse_range).transpose()?;
    let dk = match load_private(&args.key, Some(Kind::Kem))? {
        PrivateKey::Kem(dk) => dk,
        PrivateKey::Sig(k) => {
            return Err(Failure::usage(
                format!(
                    "{} is a {} signature key",
                    args.key.display(),
                    k.algorithm().id
                ),
                "open with a recipient's KEM private key; signer keys go to --verify-with (public)",
            ));
        }
    };
    let vk = match &args.verify_with {
        None => None,
        Some(p) => match load_public(p, Some(Kind::Signature))? {
            PublicKey::Sig(vk) => Some(vk),
            PublicKey::Kem(k) => {
                return Err(Failure::usage(
                    format!("{} is a {} KEM key", p.display(), k.algorithm().id),
                    "--verify-with takes the signer's public signature key",
                ));
            }
        },
    };
    let context = format!("opening {}", args.input.display());
    let fail = |e| Failure::artifact(&context, e);
    let input = Input::open(&args.input)?;
    let partial = range.is_some() || args.tensor.is_some();
    let Input::File(file, len) = input else {
        if partial {
            return Err(Failure::usage(
                "--range and --tensor need a sealed file, not stdin",
                "pass the file path",
            ));
        }
        if vk.is_some() && args.output.as_os_str() == "-" {
            return Err(Failure::usage(
                "--verify-with from stdin to stdout would release data before the signature is checked",
                "read from a file, or write with -o FILE (it appears only after the check)",
            ));
        }
        let mut reader = BufReader::with_capacity(BUF, io::stdin());
        let header = Header::read(&mut reader).map_err(fail)?;
        let key = header.unlock(&dk).map_err(fail)?;
        let mut output = Output::create(&args.output, Sensitivity::Public, args.force)?;
        let opened = header
            .open_stream(&key, reader, vk.as_ref())
            .map_err(fail)?;
        let n = pump(out, "opening", None, opened, &mut output).map_err(|e| fail(unwrap_io(e)))?;
        output.commit()?;
        return report_open(out, &args, &header, n, vk.is_some(), None);
    };
    let mut reader = BufReader::with_capacity(BUF, &file);
    let header = Header::read(&mut reader).map_err(fail)?;
    drop(reader);
    let key = header.unlock(&dk).map_err(fail)?;
    let mut output = Output::create(&args.output, Sensitivity::Public, args.force)?;
    if let Some(vk) = &vk
        && (partial || output.is_stdout())
    {
        // Nothing may reach stdout, or come from a partial read, before the signature holds.
        check_signature(out, &header, vk, &file, len).map_err(fail)?;
    }
    let mut tensor = None;
    let n = if partial {
        let mut ra = header.open_random(&key, &file).map_err(fail)?;
        if let Some(name) = &args.tensor {
            let info = safetensors::extract_tensor(&mut ra, name, &mut output).map_err(fail)?;
            let n = info.len;
            tensor = Some(info);
            n
        } else {
            let (start, n) = range.unwrap_or_default();
            safetensors::copy_range(&mut ra, start, n, &mut output).map_err(fail)?;
            n
        }
    } else {
        let mut f = &file;
        f.seek(SeekFrom::Start(header.len()))?;
        let reader = BufReader::with_capacity(BUF, f);
        let opened = header
            .open_stream(&key, reader, vk.as_ref())
            .map_err(fail)?;
        let total = plaintext_len(len.saturating_sub(header.len() + header.trailer_len()));
        pump(out, "opening", total, opened, &mut output).map_err(|e| fail(unwrap_io(e)))?
    };
    output.commit()?;
    report_open(out, &args, &header, n, vk.is_some(), tensor)
}

fn check_signature(
    out: Out,
    header: &Header,
    vk: &VerifyingKey,
    mut file: &File,
    len: u64,
) -> qsafe_artifact::Result<()> {
    file.seek(SeekFrom::Start(header.len()))?;
    let reader = ProgressReader {
        inner: BufReader::with_capacity(BUF, file),
        progress: Progress::bytes(
            out,
            "verifying signature",
            Some(len.saturating_sub(header.len())),
        ),
    };
    verify_signature(header, vk, reader)
}

fn report_open(
    out: Out,
    args: &OpenArgs,
    header: &Header,
    n: u64,
    verified: bool,
    tensor: Option<safetensors::TensorInfo>,
) -> Outcome {
    tell(
        out,
        &format!(
            "opened {} -> {}: {n} bytes{}{}",
            args.input.display(),
            args.output.display(),
            tensor
                .as_ref()
                .map(|t| format!(
                    " of tensor {} ({} {:?})",
                    args.tensor.as_deref().unwrap_or(""),
                    t.dtype,
                    t.shape
                ))
                .unwrap_or_default(),
            if verified {
                ", sender signature verified"
            } else {
                ""
            }
        ),
    );
    if out.json {
        print_json(&json!({
            "schema_version": 1, "ok": true, "operation": "open",
            "input": args.input, "output": args.output, "bytes": n,
            "signature_verified": verified, "signer": signer_json(header),
            "tensor": tensor.map(|t| json!({"name": args.tensor, "dtype": t.dtype, "shape": t.shape})),
        }))?;
    }
    Ok(())
}

pub fn inspect(out: Out, args: InspectArgs) -> Outcome {
    let context = format!("inspecting {}", args.input.display());
    let input = Input::open(&args.input)?;
    let known = input.len();
    let mut reader = BufReader::new(input.reader());
    let header = Header::read(&mut reader).map_err(|e| Failure::artifact(&context, e))?;
    let total = match known {
        Some(len) => len,
        None => header.len() + io::copy(&mut reader, &mut io::sink())?,
    };
    let payload = total.saturating_sub(header.len() + header.trailer_len());
    let plain = plaintext_len(payload);
    let recipients: Vec<Value> = header
        .recipients
        .iter()
        .map(|r| json!({ "kem": r.kem.id, "fingerprint": format_fingerprint(&r.fingerprint) }))
        .collect();
    if out.json {
        return print_json(&json!({
            "schema_version": 1, "ok": true, "format": "qsafe-sealed", "version": 1,
            "suite": header.suite.id, "payload": qsafe_artifact::container::PAYLOAD_ID,
            "recipients": recipients, "signer": signer_json(&header),
            "header_bytes": header.len(), "trailer_bytes": header.trailer_len(),
            "file_bytes": total, "plaintext_bytes": plain,
            "authenticated": false,
        }));
    }
    out.say(format!(
        "qsafe sealed file, format v1, suite {}",
        header.suite.id
    ));
    out.say(format!(
        "payload:    {} (C2SP chunked, 16 KiB chunks)",
        qsafe_artifact::container::PAYLOAD_ID
    ));
    for r in &header.recipients {
        out.say(format!(
            "recipient:  {} {}",
            r.kem.id,
            format_fingerprint(&r.fingerprint)
        ));
    }
    match &header.signer {
        Some(s) => out.say(format!(
            "signer:     {} {}",
            s.alg.id,
            format_fingerprint(&s.fingerprint)
        )),
        None => out.say("signer:     none"),
    }
    let plain_text = plain.map_or("invalid (truncated or padded)".to_string(), |p| {
        let overhead = total.saturating_sub(p);
        format!("{p} bytes (overhead {overhead} bytes)")
    });
    out.say(format!(
        "size:       {total} bytes; header {}, trailer {}",
        header.len(),
        header.trailer_len()
    ));
    out.say(format!("plaintext:  {plain_text}"));
    out.say("(unauthenticated: `qsafe open` checks every field)");
    Ok(())
}
