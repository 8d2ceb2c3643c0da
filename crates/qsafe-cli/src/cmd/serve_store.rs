//! `qsafe serve` without `--dev`: the gateway on its real identity. The TLS certificate and
//! key come from files; the OHTTP and response-signing keys are named keys of the key store
//! (`--store`, a directory or PostgreSQL), looked at again every `--key-refresh` seconds so a
//! `qsafe key rotate` anywhere is picked up without a restart; authorised clients are the
//! public keys in `--clients DIR`; the embedded model is a sealed file signed by its
//! publisher (or `--upstream` forwards to a model server).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use qsafe_artifact::container::Header;
use qsafe_core::keys::PublicKey;
use qsafe_core::sig::VerifyingKey;
use qsafe_gateway::model::{Classifier, sealed};
use qsafe_gateway::server::store_keys::{self, StoreKeys};
use qsafe_gateway::server::{GatewayConfig, Server};

use super::Out;
use super::serve::{Common, client_keyid, gateway_failure};
use super::store::{Store, open, recipient_version};
use crate::cli::ServeArgs;
use crate::failure::{Failure, Outcome, exit};

fn required<'a, T>(value: &'a Option<T>, flag: &str, hint: &str) -> Outcome<&'a T> {
    value
        .as_ref()
        .ok_or_else(|| Failure::usage(format!("{flag} is required without --dev"), hint.to_owned()))
}

/// The authorised clients: every `*.pub` signature key in `dir`, by fingerprint.
fn client_keys(dir: &Path) -> Outcome<HashMap<String, VerifyingKey>> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        Failure::error(
            format!("reading {}: {e}", dir.display()),
            "--clients takes a directory of client public keys (*.pub)",
        )
    })?;
    let mut keys = HashMap::new();
    for entry in entries {
        let path = entry
            .map_err(|e| gateway_failure("listing --clients", e))?
            .path();
        if path.extension().and_then(|e| e.to_str()) != Some("pub") {
            continue;
        }
        match super::load_public(&path, None)? {
            PublicKey::Sig(vk) => {
                keys.insert(client_keyid(&PublicKey::Sig(vk.clone()))?, vk);
            }
            PublicKey::Kem(_) => {
                return Err(Failure::usage(
                    format!("{} is a KEM key", path.display()),
                    "--clients holds the clients' signing public keys",
                ));
            }
        }
    }
    if keys.is_empty() {
        return Err(Failure::usage(
            format!("no client keys (*.pub) in {}", dir.display()),
            "add the public key of every client allowed to call the gateway",
        ));
    }
    Ok(keys)
}

/// Opens the sealed model with the version of `key_name` it is sealed to.
fn sealed_model(
    store: &Store,
    path: &Path,
    key_name: &str,
    publisher: &Path,
) -> Outcome<Classifier> {
    let publisher = match super::load_public(publisher, None)? {
        PublicKey::Sig(vk) => vk,
        PublicKey::Kem(_) => {
            return Err(Failure::usage(
                "--model-publisher is a KEM key",
                "pass the public signing key of whoever sealed the model",
            ));
        }
    };
    let file = std::fs::read(path)
        .map_err(|e| gateway_failure(&format!("reading {}", path.display()), e))?;
    let header = Header::read(&mut file.as_slice()).map_err(|e| {
        Failure::new(
            exit::CRYPTO,
            format!("loading {}: {e}", path.display()),
            "--model takes a file written by `qsafe seal`",
        )
    })?;
    let (dk, _) = recipient_version(store, key_name, &header, path)?;
    sealed::open(&file, &dk, &publisher).map_err(|e| {
        let code = if e.is_verification_failure() {
            exit::CRYPTO
        } else {
            exit::ERROR
        };
        Failure::new(
            code,
            format!("loading {}: {e}", path.display()),
            "the model loads only when sealed to --model-key and signed by --model-publisher",
        )
    })
}

pub(super) fn run(out: Out, args: &ServeArgs, common: Common) -> Outcome {
    let hint = "see `qsafe serve --help`; `--dev` runs with throw-away keys";
    let cert = required(&args.tls_cert, "--tls-cert", hint)?;
    let key = required(&args.tls_key, "--tls-key", hint)?;
    let ohttp = required(
        &args.ohttp_key,
        "--ohttp-key",
        "create one: qsafe key create gateway-ohttp --alg x-wing",
    )?;
    let signing = required(
        &args.signing_key,
        "--signing-key",
        "create one: qsafe key create gateway-sign --alg mldsa65-ed25519-sha512",
    )?;
    let clients = required(&args.clients, "--clients", hint)?;
    let tls_err = |e: qsafe_tls::Error| {
        Failure::error(e.to_string(), "--tls-cert and --tls-key take PEM files")
    };
    let cert_chain = qsafe_tls::load_cert_chain(cert).map_err(tls_err)?;
    let private_key = qsafe_tls::load_private_key(key).map_err(tls_err)?;
    let client_keys = client_keys(clients)?;

    let store = open(&args.store)?;
    let model = match (&common.upstream, &args.model) {
        (Some(_), _) => None,
        (None, Some(path)) => {
            let key_name = required(&args.model_key, "--model-key", hint)?;
            let publisher = required(&args.model_publisher, "--model-publisher", hint)?;
            Some(sealed_model(&store, path, key_name, publisher)?)
        }
        (None, None) => {
            return Err(Failure::usage(
                "nothing to serve: neither --upstream nor --model",
                "--upstream http://HOST:PORT, or --model FILE --model-key NAME --model-publisher PUB",
            ));
        }
    };
    let (store_keys, keys) = StoreKeys::load(store, ohttp, signing)
        .map_err(|e| Failure::error(e.to_string(), "check the key names with `qsafe key list`"))?;
    let versions = store_keys.versions();

    let mut config = GatewayConfig::new(common.listen, common.fallback, cert_chain, private_key);
    config.key_management = common.mode;
    config.replay_cache_entries = args.replay_cache_entries;
    config.client_keys = client_keys;
    let serves = match &common.upstream {
        Some(up) => format!("upstream {}", up.url()),
        None => "the sealed embedded model".to_owned(),
    };
    config.upstream = common.upstream;
    config.model = model;
    let n_clients = config.client_keys.len();
    let refresh = Duration::from_secs(args.key_refresh.max(1));

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| gateway_failure("starting the runtime", e))?;
    runtime.block_on(async move {
        let keys = Arc::new(keys);
        let server = Server::bind(config, Arc::clone(&keys))
            .await
            .map_err(|e| gateway_failure(&format!("listening on {}", common.listen), e))?;
        let addr = server
            .local_addr()
            .map_err(|e| gateway_failure("listening", e))?;
        out.say(format!(
            "qsafe gateway on https://{addr}: {serves}; OHTTP key {ohttp} v{} (key id {}), \
             response signing key {signing} v{}, {n_clients} client key(s); key store checked \
             every {} s",
            versions.ohttp,
            store_keys::key_id(versions.ohttp),
            versions.signing,
            refresh.as_secs()
        ));
        let watcher = tokio::spawn(watch_store(Arc::new(store_keys), keys, refresh));
        let served = server
            .run(super::shutdown_signal("qsafe serve"))
            .await
            .map_err(|e| gateway_failure("serving", e));
        watcher.abort();
        served
    })
}

/// Looks at the store every `every` and switches to rotated keys; a failed look keeps the
/// keys in use and is logged.
async fn watch_store(
    store_keys: Arc<StoreKeys<Box<dyn qsafe_keys::Backend>>>,
    keys: Arc<qsafe_gateway::server::GatewayKeys>,
    every: Duration,
) {
    let mut tick = tokio::time::interval(every);
    tick.tick().await;
    loop {
        tick.tick().await;
        let (sk, k) = (Arc::clone(&store_keys), Arc::clone(&keys));
        match tokio::task::spawn_blocking(move || sk.refresh(&k)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => eprintln!("warning: key store refresh failed (keys unchanged): {e}"),
            Err(e) => eprintln!("warning: key store refresh failed (keys unchanged): {e}"),
        }
    }
}
