//! `qsafe infer`: one protected call to a qsafe gateway — sign (RFC 9421), encapsulate
//! (OHTTP), send over post-quantum TLS, verify the response signature and decrypt. A
//! response that fails verification exits 3 and prints nothing from it.
//!
//! `--model NAME` calls KServe V2 inference and prints the predicted labels; `--openai API`
//! posts the input to an OpenAI-compatible endpoint behind `serve --upstream` and prints the
//! verified answer as received. `--stream` asks for a chunked answer: with `--openai`, each
//! piece is printed as it opens (authenticated per chunk by OHTTP) and the gateway's
//! signature over the whole stream is checked at the end (exit 3, discard the output, if not).

use qsafe_core::keys::PrivateKey;
use qsafe_gateway::client::Client;
use qsafe_gateway::httpsig::Signer;
use std::io::Write as _;

use serde_json::json;

use super::{Out, load_private, load_public};
use crate::cli::InferArgs;
use crate::failure::{Failure, Outcome, exit};
use crate::io::{print_json, read_input};

pub fn run(out: Out, args: InferArgs) -> Outcome {
    let key = match load_private(&args.key, None)? {
        PrivateKey::Sig(k) => k,
        PrivateKey::Kem(_) => {
            return Err(Failure::usage(
                format!("{} is a KEM key", args.key.display()),
                "--key takes the client's signing key (e.g. client.key from `qsafe serve --dev`)",
            ));
        }
    };
    let public = qsafe_core::keys::PublicKey::Sig(
        key.verifying_key()
            .map_err(|e| Failure::core("client key", e))?,
    );
    let keyid = super::serve::client_keyid(&public)?;
    let signer = Signer::new(key, &keyid)
        .map_err(|e| Failure::usage(format!("client key: {e}"), "use a composite or ML-DSA key"))?;
    let gateway_key = match &args.gateway_key {
        Some(path) => match load_public(path, None)? {
            qsafe_core::keys::PublicKey::Sig(k) => Some(k),
            qsafe_core::keys::PublicKey::Kem(_) => {
                return Err(Failure::usage(
                    format!("{} is a KEM key", path.display()),
                    "--gateway-key takes the gateway's response-signing public key",
                ));
            }
        },
        None => {
            eprintln!(
                "warning: no --gateway-key: the response is decrypted but its signature is NOT \
                 verified"
            );
            None
        }
    };
    let roots = match &args.ca {
        Some(path) => qsafe_tls::load_root_store(path).map_err(|e| {
            Failure::error(
                e.to_string(),
                "--ca takes the PEM certificate the gateway uses",
            )
        })?,
        None => {
            return Err(Failure::usage(
                "no --ca given",
                "pass the gateway's CA certificate (ca.pem from `qsafe serve --dev`)",
            ));
        }
    };
    let input = read_input(&args.input)?;
    let body: serde_json::Value = serde_json::from_slice(&input).map_err(|e| {
        Failure::usage(
            format!("{}: not JSON: {e}", args.input.display()),
            "the input is a KServe V2 inference request or an OpenAI request body",
        )
    })?;
    let client = Client::new(&args.gateway, signer, gateway_key, roots).map_err(|e| {
        Failure::usage(
            format!("--gateway {}: {e}", args.gateway),
            "e.g. https://127.0.0.1:8443",
        )
    })?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::error(format!("cannot start the runtime: {e}"), "see the error"))?;
    let path = match (&args.model, args.openai) {
        (_, Some(api)) => api.path().to_owned(),
        (Some(model), None) => format!("/v2/models/{model}/infer"),
        (None, None) => {
            return Err(Failure::usage(
                "neither --model nor --openai given",
                "--model NAME for KServe V2, --openai chat|completions|embeddings",
            ));
        }
    };
    // With --stream and --openai, pieces go to stdout as their chunks open.
    let live = args.stream && args.openai.is_some() && !out.json;
    let call = async {
        if args.stream {
            client
                .call_streaming("POST", &path, Some(&body), |piece| {
                    if live {
                        let mut stdout = std::io::stdout().lock();
                        let _ = stdout.write_all(piece).and_then(|()| stdout.flush());
                    }
                })
                .await
        } else {
            client.call("POST", &path, Some(&body)).await
        }
    };
    let response = runtime.block_on(call).map_err(|e| {
        if e.is_verification_failure() {
            let hint = if live {
                "check --gateway-key; DISCARD the pieces printed above: the stream did not verify"
            } else {
                "check --gateway-key; nothing from the response was used"
            };
            Failure::new(
                exit::CRYPTO,
                format!("the gateway's response failed verification: {e}"),
                hint,
            )
        } else {
            Failure::error(
                format!("calling {}: {e}", args.gateway),
                "check the gateway is running and --ca matches its certificate",
            )
        }
    })?;
    if out.json {
        return print_json(&json!({
            "schema_version": 1, "ok": response.status == 200, "status": response.status,
            "verified_by": response.response_keyid, "content_type": response.content_type,
            "response": if response.body.is_null() {
                json!(String::from_utf8_lossy(&response.content))
            } else {
                response.body.clone()
            },
            "timings_us": {
                "encapsulate": response.timings.encapsulate.as_micros() as u64,
                "sign": response.timings.sign.as_micros() as u64,
                "round_trip": response.timings.round_trip.as_micros() as u64,
                "verify": response.timings.verify.as_micros() as u64,
                "decapsulate": response.timings.decapsulate.as_micros() as u64,
            },
        }));
    }
    if response.status != 200 {
        return Err(Failure::error(
            format!(
                "the model answered {}: {}",
                response.status,
                String::from_utf8_lossy(&response.content)
            ),
            "check --model or --openai and the input (the digits model takes shape [N,64], FP32)",
        ));
    }
    let verified = match &response.response_keyid {
        Some(k) => format!("signature verified ({k})"),
        None => "signature NOT checked".into(),
    };
    if live {
        eprintln!("\nstream complete; decrypted; {verified}");
        return Ok(());
    }
    if args.openai.is_some() {
        println!("{}", String::from_utf8_lossy(&response.content));
        eprintln!("decrypted; {verified}");
        return Ok(());
    }
    let labels = response
        .body
        .get("outputs")
        .and_then(serde_json::Value::as_array)
        .and_then(|o| o.iter().find(|t| t.get("name") == Some(&json!("label"))))
        .and_then(|t| t.get("data"))
        .cloned()
        .unwrap_or_default();
    println!("prediction: {labels}");
    eprintln!("decrypted; {verified}");
    Ok(())
}
