//! `qsafe serve` without `--dev`: the gateway on its real identity. The TLS certificate and
//! key come from files; the OHTTP and response-signing keys are named keys of the key store
//! (`--store`, a directory or PostgreSQL) or key bundles in mounted Kubernetes Secrets
//! (`--ohttp-key-bundle`, `--signing-key-bundle`), looked at again every `--key-refresh`
//! seconds so a `qsafe key rotate` (or an updated Secret) is picked up without a restart;
//! authorised clients are the
//! public keys in `--clients DIR`; the embedded model is a sealed file signed by its
//! publisher (or `--upstream` forwards to a model server).

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use qsafe_artifact::container::Header;
use qsafe_core::kem::DecapsulationKey;
use qsafe_core::keys::PublicKey;
use qsafe_core::sig::VerifyingKey;
use qsafe_gateway::model::{Classifier, sealed};
use qsafe_gateway::server::managed_keys::{
    self, KeySource, ManagedKeys, MountedBundles, StoreSource,
};
use qsafe_gateway::server::{GatewayConfig, GatewayKeys, Server};
use qsafe_keys::Passphrase;
use qsafe_keys::k8s::KeyBundle;

use super::Out;
use super::serve::{Common, client_keyid, gateway_failure};
use super::store::{Store, open, recipient_version, service_passphrase};
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

/// The model's private key: the version of store key `name` the file is sealed to, or the
/// key of a mounted bundle (which must be one of the file's recipients).
enum ModelKey<'a> {
    Store(&'a str),
    Bundle(&'a Path),
}

/// Opens the sealed model at `path`, signed by `publisher`.
fn sealed_model(
    store: Option<&Store>,
    path: &Path,
    key: ModelKey<'_>,
    passphrase: Option<&Passphrase>,
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
    let dk = match (key, store) {
        (ModelKey::Store(name), Some(store)) => recipient_version(store, name, &header, path)?.0,
        (ModelKey::Bundle(bundle), _) => bundle_model_key(bundle, passphrase, &header, path)?,
        (ModelKey::Store(_), None) => {
            return Err(Failure::usage(
                "--model-key names a store key, but the gateway keys come from mounted Secrets",
                "pass --model-key-bundle PATH (the model key's Secret) instead",
            ));
        }
    };
    sealed::open(&file, &dk, &publisher).map_err(|e| {
        let code = if e.is_verification_failure() {
            exit::CRYPTO
        } else {
            exit::ERROR
        };
        Failure::new(
            code,
            format!("loading {}: {e}", path.display()),
            "the model loads only when sealed to its key and signed by --model-publisher",
        )
    })
}

/// The model key from a mounted bundle, if the sealed file is sealed to it.
fn bundle_model_key(
    bundle: &Path,
    passphrase: Option<&Passphrase>,
    header: &Header,
    file: &Path,
) -> Outcome<DecapsulationKey> {
    let path = managed_keys::mounted::bundle_path(bundle);
    let keys_failure =
        |e: qsafe_keys::Error| super::store::fail(&format!("unlocking {}", path.display()), e);
    let bytes = std::fs::read(&path)
        .map_err(|e| gateway_failure(&format!("reading {}", path.display()), e))?;
    let parsed = KeyBundle::from_json(&bytes, &path.display().to_string()).map_err(keys_failure)?;
    let sealed_to = header.recipient_fingerprints();
    if !sealed_to.contains(&parsed.fingerprint) {
        return Err(Failure::new(
            exit::CRYPTO,
            format!(
                "{} ({} v{}, {}) is not a recipient of {}; it is sealed to: {}",
                path.display(),
                parsed.name,
                parsed.version,
                parsed.fingerprint,
                file.display(),
                sealed_to.join(", ")
            ),
            "mount the Secret of the key version the model is sealed to",
        ));
    }
    match parsed.unlock(passphrase).map_err(keys_failure)? {
        qsafe_core::keys::PrivateKey::Kem(dk) => Ok(dk),
        qsafe_core::keys::PrivateKey::Sig(_) => Err(Failure::usage(
            format!("{} holds a signature key", path.display()),
            "--model-key-bundle takes the Secret of the KEM key the model is sealed to",
        )),
    }
}

/// Where the OHTTP and response-signing keys come from.
enum Source {
    Store(ManagedKeys<StoreSource<Box<dyn qsafe_keys::Backend>>>),
    Mounted(ManagedKeys<MountedBundles>),
}

pub(super) fn run(out: Out, args: &ServeArgs, common: Common) -> Outcome {
    let hint = "see `qsafe serve --help`; `--dev` runs with throw-away keys";
    let cert = required(&args.tls_cert, "--tls-cert", hint)?;
    let key = required(&args.tls_key, "--tls-key", hint)?;
    let clients = required(&args.clients, "--clients", hint)?;
    let tls_err = |e: qsafe_tls::Error| {
        Failure::error(e.to_string(), "--tls-cert and --tls-key take PEM files")
    };
    let cert_chain = qsafe_tls::load_cert_chain(cert).map_err(tls_err)?;
    let private_key = qsafe_tls::load_private_key(key).map_err(tls_err)?;
    let client_keys = client_keys(clients)?;

    let mounted = args
        .ohttp_key_bundle
        .as_ref()
        .zip(args.signing_key_bundle.as_ref());
    let store = match mounted {
        Some(_) => None,
        None => Some(open(&args.store)?),
    };
    let passphrase = match mounted.is_some() || args.model_key_bundle.is_some() {
        true => service_passphrase(&args.store)?,
        false => None,
    };
    let model = match (&common.upstream, &args.model) {
        (Some(_), _) => None,
        (None, Some(path)) => {
            let key = match (&args.model_key_bundle, &args.model_key) {
                (Some(bundle), _) => ModelKey::Bundle(bundle),
                (None, key) => ModelKey::Store(required(
                    key,
                    "--model-key",
                    "name the key the model is sealed to (or --model-key-bundle PATH)",
                )?),
            };
            let publisher = required(&args.model_publisher, "--model-publisher", hint)?;
            Some(sealed_model(
                store.as_ref(),
                path,
                key,
                passphrase.as_ref(),
                publisher,
            )?)
        }
        (None, None) => {
            return Err(Failure::usage(
                "nothing to serve: neither --upstream nor --model",
                "--upstream http://HOST:PORT, or --model FILE --model-key NAME --model-publisher PUB",
            ));
        }
    };
    let (source, keys) = match (mounted, store) {
        (Some((ohttp, signing)), _) => {
            let (managed, keys) = ManagedKeys::load(MountedBundles::new(
                ohttp, signing, passphrase,
            ))
            .map_err(|e| {
                keys_failure(
                    e,
                    "mount the Secrets written by `qsafe key export --k8s-secret`",
                )
            })?;
            (Source::Mounted(managed), keys)
        }
        (None, Some(store)) => {
            let ohttp = required(
                &args.ohttp_key,
                "--ohttp-key",
                "create one: qsafe key create gateway-ohttp --alg x-wing (or pass --ohttp-key-bundle)",
            )?;
            let signing = required(
                &args.signing_key,
                "--signing-key",
                "create one: qsafe key create gateway-sign --alg mldsa65-ed25519-sha512",
            )?;
            let (managed, keys) = ManagedKeys::load(StoreSource::new(store, ohttp, signing))
                .map_err(|e| keys_failure(e, "check the key names with `qsafe key list`"))?;
            (Source::Store(managed), keys)
        }
        (None, None) => return Err(Failure::error("no key source", hint)),
    };

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
    let refresh = Duration::from_secs(args.key_refresh.max(1));
    match source {
        Source::Store(m) => serve(out, config, keys, m, refresh, &serves, "key store"),
        Source::Mounted(m) => serve(out, config, keys, m, refresh, &serves, "mounted Secrets"),
    }
}

fn keys_failure(e: managed_keys::Error, hint: &str) -> Failure {
    match e {
        managed_keys::Error::Keys(e) => super::store::fail("loading the gateway keys", e),
        other => Failure::error(other.to_string(), hint),
    }
}

/// Runs the gateway until SIGTERM/SIGINT, refreshing keys from their source every `refresh`.
fn serve<S: KeySource + 'static>(
    out: Out,
    config: GatewayConfig,
    keys: GatewayKeys,
    managed: ManagedKeys<S>,
    refresh: Duration,
    serves: &str,
    source: &str,
) -> Outcome {
    let (listen, n_clients, versions) =
        (config.listen, config.client_keys.len(), managed.versions());
    let (ohttp, signing) = managed.names();
    let (ohttp, signing) = (ohttp.to_owned(), signing.to_owned());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| gateway_failure("starting the runtime", e))?;
    runtime.block_on(async move {
        let keys = Arc::new(keys);
        let server = Server::bind(config, Arc::clone(&keys))
            .await
            .map_err(|e| gateway_failure(&format!("listening on {listen}"), e))?;
        let addr = server
            .local_addr()
            .map_err(|e| gateway_failure("listening", e))?;
        out.say(format!(
            "qsafe gateway on https://{addr}: {serves}; OHTTP key {ohttp} v{} (key id {}), \
             response signing key {signing} v{}, {n_clients} client key(s); {source} checked \
             every {} s",
            versions.ohttp,
            managed_keys::key_id(versions.ohttp),
            versions.signing,
            refresh.as_secs()
        ));
        let watcher = tokio::spawn(watch(Arc::new(managed), keys, refresh));
        let served = server
            .run(super::shutdown_signal("qsafe serve"))
            .await
            .map_err(|e| gateway_failure("serving", e));
        watcher.abort();
        served
    })
}

/// Looks at the key source every `every` and switches to rotated keys; a failed look keeps
/// the keys in use and is logged.
async fn watch<S: KeySource + 'static>(
    managed: Arc<ManagedKeys<S>>,
    keys: Arc<GatewayKeys>,
    every: Duration,
) {
    let mut tick = tokio::time::interval(every);
    tick.tick().await;
    loop {
        tick.tick().await;
        let (m, k) = (Arc::clone(&managed), Arc::clone(&keys));
        match tokio::task::spawn_blocking(move || m.refresh(&k)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => eprintln!("warning: key refresh failed (keys unchanged): {e}"),
            Err(e) => eprintln!("warning: key refresh failed (keys unchanged): {e}"),
        }
    }
}
