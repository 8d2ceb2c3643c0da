//! `qsafe serve`: the inference gateway of `qsafe-gateway` over post-quantum TLS.
//!
//! `--dev` makes everything it needs: a self-signed certificate, an X-Wing OHTTP key, a
//! response-signing key, and a client key pair that it authorises, all written to a dev
//! directory, and prints the `qsafe infer` command that calls it. The embedded model is
//! loaded the way production loads it: its weights sealed to a model key and signed by a
//! publisher key (`qsafe-dev/digits.qsealed`), opened only once the signature verified.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use qsafe_core::kem::DecapsulationKey;
use qsafe_core::keys::{PrivateKey, PublicKey, codec};
use qsafe_core::registry;
use qsafe_core::sig::SigningKey;
use qsafe_gateway::httpsig::Signer;
use qsafe_gateway::model::{Classifier, DIGITS_MLP_SAFETENSORS, sealed};
use qsafe_gateway::ohttp::{GatewayKey, Profile};
use qsafe_gateway::server::upstream::{Upstream, UpstreamLimits};
use qsafe_gateway::server::{GatewayConfig, GatewayKeys, KeyManagement, Server};
use qsafe_tls::{Fallback, Suite};

use super::Out;
use crate::cli::ServeArgs;
use crate::failure::{Failure, Outcome};
use crate::io::{Content, Sensitivity, write_output};

pub(super) fn gateway_failure(context: &str, e: impl std::fmt::Display) -> Failure {
    Failure::error(format!("{context}: {e}"), "see the message above")
}

/// The key id a client signs with: its public key's fingerprint.
pub(super) fn client_keyid(public: &PublicKey) -> Outcome<String> {
    public
        .fingerprint()
        .map_err(|e| Failure::core("fingerprinting the client key", e))
}

/// A sample request for the embedded model: the first image of the digits data set.
fn sample_input() -> Outcome<serde_json::Value> {
    let data = qsafe_data::digits().map_err(|e| gateway_failure("loading the digits", e))?;
    let sample = data
        .sample(0)
        .ok_or_else(|| gateway_failure("loading the digits", "empty data set"))?;
    Ok(serde_json::json!({
        "inputs": [{"name": "input", "shape": [1, 64], "datatype": "FP32",
                    "data": sample.features}]
    }))
}

fn write_pem(path: &Path, text: &str, sensitivity: Sensitivity) -> Outcome {
    write_output(path, text.as_bytes(), Content::Text, sensitivity, true)
}

/// Seals the committed weights to a fresh model key, signed by a fresh publisher key, writes
/// the sealed file to `dir`, and loads it back through the verifying path.
fn dev_sealed_model(dir: &Path) -> Outcome<(Classifier, String)> {
    let model_key =
        DecapsulationKey::generate(&registry::X_WING).map_err(|e| Failure::core("model key", e))?;
    let recipient = PublicKey::Kem(
        model_key
            .encapsulation_key()
            .map_err(|e| Failure::core("model key", e))?,
    );
    let publisher = SigningKey::generate(&registry::MLDSA65_ED25519_SHA512)
        .map_err(|e| Failure::core("model publisher key", e))?;
    let publisher_vk = publisher
        .verifying_key()
        .map_err(|e| Failure::core("model publisher key", e))?;
    let file = sealed::seal(DIGITS_MLP_SAFETENSORS, &[recipient], &publisher)
        .map_err(|e| gateway_failure("sealing the model", e))?;
    let path = dir.join("digits.qsealed");
    write_output(&path, &file, Content::Binary, Sensitivity::Public, true)?;
    let read = std::fs::read(&path)
        .map_err(|e| gateway_failure(&format!("reading {}", path.display()), e))?;
    let model = sealed::open(&read, &model_key, &publisher_vk).map_err(|e| {
        let code = if e.is_verification_failure() {
            crate::failure::exit::CRYPTO
        } else {
            crate::failure::exit::ERROR
        };
        Failure::new(
            code,
            format!("loading {}: {e}", path.display()),
            "the model is loaded only when sealed to this gateway and signed by its publisher",
        )
    })?;
    let publisher_fp = client_keyid(&PublicKey::Sig(publisher_vk))?;
    Ok((model, publisher_fp))
}

/// What dev and production serving share: parsed from flags and the environment.
pub(super) struct Common {
    pub fallback: Fallback,
    pub mode: KeyManagement,
    pub listen: SocketAddr,
    pub upstream: Option<Upstream>,
}

fn common(args: &ServeArgs) -> Outcome<Common> {
    let fallback = match &args.fallback {
        Some(v) => v.parse::<Fallback>(),
        None => Fallback::from_env().map(|f| f.unwrap_or(Fallback::Disabled)),
    }
    .map_err(|e| Failure::usage(e.to_string(), "FALLBACK_CRYPTO is enabled or disabled"))?;
    let mode = KeyManagement::from_env()
        .map_err(|e| Failure::usage(e.to_string(), "PQC_KEY_MANAGEMENT is hybrid or pq-only"))?
        .unwrap_or_default();
    let listen: SocketAddr = args.listen.parse().map_err(|e| {
        Failure::usage(
            format!("--listen {}: {e}", args.listen),
            "e.g. 127.0.0.1:8443",
        )
    })?;
    let upstream = match &args.upstream {
        Some(url) => {
            let limits = UpstreamLimits {
                timeout: std::time::Duration::from_secs(args.upstream_timeout.max(1)),
                ..UpstreamLimits::default()
            };
            Some(Upstream::new(url, limits).map_err(|e| {
                Failure::usage(
                    e.to_string(),
                    "e.g. --upstream http://127.0.0.1:8080 (a KServe V2 or OpenAI-compatible server)",
                )
            })?)
        }
        None => None,
    };
    Ok(Common {
        fallback,
        mode,
        listen,
        upstream,
    })
}

/// The service's structured logs: one JSON object per line on stderr (request id, route,
/// status, timings, key rotations; never bodies or keys), filtered by `QSAFE_LOG` (or
/// `RUST_LOG`) with `tracing` directives, default `info`.
fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("QSAFE_LOG")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new("info"));
    // Already set (a second serve in one process, as in tests): keep the first.
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

pub fn run(out: Out, args: ServeArgs) -> Outcome {
    init_logging();
    let Common {
        fallback,
        mode,
        listen,
        upstream,
    } = common(&args)?;
    if !args.dev {
        return super::serve_store::run(
            out,
            &args,
            Common {
                fallback,
                mode,
                listen,
                upstream,
            },
        );
    }

    // Throw-away identity, keys and a client the gateway trusts.
    let dir = &args.dev_dir;
    std::fs::create_dir_all(dir)
        .map_err(|e| gateway_failure(&format!("creating {}", dir.display()), e))?;
    let cert = qsafe_tls::dev_certificate(Suite::Default, qsafe_tls::DEV_HOSTNAMES)
        .map_err(|e| gateway_failure("making the dev certificate", e))?;
    write_pem(&dir.join("ca.pem"), cert.cert_pem(), Sensitivity::Public)?;
    let client_alg = match mode {
        KeyManagement::PqOnly => &registry::ML_DSA_65,
        _ => &registry::MLDSA65_ED25519_SHA512,
    };
    let client = SigningKey::generate(client_alg).map_err(|e| Failure::core("client key", e))?;
    let client_verifying = client
        .verifying_key()
        .map_err(|e| Failure::core("client key", e))?;
    let client = PrivateKey::Sig(client);
    let client_pem = codec::private_to_pem(&client).map_err(|e| Failure::core("client key", e))?;
    write_pem(&dir.join("client.key"), &client_pem, Sensitivity::Secret)?;
    let keyid = client_keyid(&PublicKey::Sig(client_verifying.clone()))?;
    let signing = SigningKey::generate(mode.response_signing_algorithm())
        .map_err(|e| Failure::core("gateway signing key", e))?;
    let gateway_pub = PublicKey::Sig(
        signing
            .verifying_key()
            .map_err(|e| Failure::core("gateway signing key", e))?,
    );
    let signer = Signer::new(signing, &client_keyid(&gateway_pub)?)
        .map_err(|e| gateway_failure("gateway signing key", e))?;
    let ohttp_key = GatewayKey::generate(1, Profile::XWing)
        .map_err(|e| gateway_failure("generating the OHTTP key", e))?;
    let keys =
        GatewayKeys::new(ohttp_key, signer).map_err(|e| gateway_failure("gateway keys", e))?;
    let gateway_pem =
        codec::public_to_pem(&gateway_pub).map_err(|e| Failure::core("gateway key", e))?;
    write_pem(&dir.join("gateway.pub"), &gateway_pem, Sensitivity::Public)?;
    let input = serde_json::to_vec_pretty(&sample_input()?)
        .map_err(|e| gateway_failure("sample input", e))?;
    write_output(
        &dir.join("input.json"),
        &input,
        Content::Text,
        Sensitivity::Public,
        true,
    )?;

    let mut config = GatewayConfig::new(listen, fallback, cert.cert_chain(), cert.private_key());
    config.key_management = mode;
    config.replay_cache_entries = args.replay_cache_entries;
    config.client_keys = HashMap::from([(keyid, client_verifying)]);
    let serves = match &upstream {
        Some(up) => format!(
            "upstream {} (KServe V2 and OpenAI-compatible API)",
            up.url()
        ),
        None => {
            let (model, publisher) = dev_sealed_model(dir)?;
            config.model = Some(model);
            format!(
                "embedded model `digits` from {}/digits.qsealed (signature by {publisher} \
                 verified)",
                dir.display()
            )
        }
    };
    config.upstream = upstream;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| gateway_failure("starting the runtime", e))?;
    runtime.block_on(async move {
        let server = Server::bind(config, Arc::new(keys))
            .await
            .map_err(|e| gateway_failure(&format!("listening on {listen}"), e))?;
        let addr = server
            .local_addr()
            .map_err(|e| gateway_failure("listening", e))?;
        let d = dir.display();
        // The exact command: this binary's own path, so it works before `qsafe` is installed.
        let exe = std::env::current_exe()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|_| "qsafe".into());
        let call = format!(
            "{exe} infer --gateway https://{addr} --key {d}/client.key \
             --gateway-key {d}/gateway.pub --ca {d}/ca.pem"
        );
        let example = if args.upstream.is_some() {
            format!(
                "  {call} --model MODEL --input kserve-request.json\n  \
                 {call} --openai chat --input chat-request.json"
            )
        } else {
            format!("  {call} --model digits --input {d}/input.json")
        };
        out.say(format!(
            "qsafe gateway (dev mode) on https://{addr}: {serves}, X25519MLKEM768 TLS, RFC 9421 \
             signatures, OHTTP over X-Wing; throw-away keys in {d}\ncall it with:\n{example}"
        ));
        server
            .run(super::shutdown_signal("qsafe serve"))
            .await
            .map_err(|e| gateway_failure("serving", e))
    })
}
