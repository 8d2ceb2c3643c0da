//! `qsafe serve` on its real identity: TLS from PEM files, OHTTP and response-signing keys
//! from the key store or from mounted Kubernetes Secrets, authorised clients from a directory,
//! and the embedded model from a file sealed with `qsafe seal` and signed by its publisher. A
//! `qsafe key rotate` in another process (or an updated Secret) is picked up without a
//! restart: responses are then signed by the new version, and a client pinning the old one
//! refuses them (exit 3).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::cargo::CommandCargoExt;
use base64::Engine as _;

const PASS: &str = "gateway store passphrase";

struct Gateway(Child);

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn qsafe(dir: &Path) -> Command {
    let mut c = Command::cargo_bin("qsafe").unwrap();
    c.current_dir(dir)
        .env("QSAFE_PASSPHRASE", PASS)
        .env("QSAFE_STORE", dir.join("store"))
        .env_remove("FALLBACK_CRYPTO")
        .env_remove("PQC_KEY_MANAGEMENT");
    c
}

fn ok(dir: &Path, args: &[&str]) {
    let out = qsafe(dir).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "qsafe {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Store keys, a TLS identity, one authorised client, the model sealed to store key `model`
/// by `publisher`, and an input image.
fn setup(p: &Path) {
    ok(p, &["key", "init"]);
    ok(p, &["key", "create", "gw-ohttp", "--alg", "x-wing"]);
    ok(
        p,
        &[
            "key",
            "create",
            "gw-sign",
            "--alg",
            "mldsa65-ed25519-sha512",
        ],
    );
    ok(p, &["key", "create", "model", "--alg", "x-wing"]);
    ok(
        p,
        &[
            "key",
            "export",
            "gw-sign",
            "--public",
            "-o",
            "gateway-v1.pub",
        ],
    );
    let cert =
        qsafe_tls::dev_certificate(qsafe_tls::Suite::Default, qsafe_tls::DEV_HOSTNAMES).unwrap();
    std::fs::write(p.join("cert.pem"), cert.cert_pem()).unwrap();
    std::fs::write(p.join("key.pem"), cert.key_pem()).unwrap();
    std::fs::create_dir(p.join("clients")).unwrap();
    ok(
        p,
        &[
            "key",
            "gen",
            "--alg",
            "mldsa65-ed25519-sha512",
            "-o",
            "client",
        ],
    );
    std::fs::copy(p.join("client.pub"), p.join("clients/client.pub")).unwrap();
    ok(
        p,
        &[
            "key",
            "gen",
            "--alg",
            "mldsa65-ed25519-sha512",
            "-o",
            "publisher",
        ],
    );
    std::fs::write(
        p.join("digits.safetensors"),
        qsafe_gateway::model::DIGITS_MLP_SAFETENSORS,
    )
    .unwrap();
    ok(
        p,
        &["key", "export", "model", "--public", "-o", "model.pub"],
    );
    ok(
        p,
        &[
            "seal",
            "-r",
            "model.pub",
            "--sign-with",
            "publisher",
            "-o",
            "digits.qsealed",
            "digits.safetensors",
        ],
    );
    let image: Vec<String> = (0..64).map(|i| ((i * 7) % 17).to_string()).collect();
    std::fs::write(
        p.join("input.json"),
        format!(
            r#"{{"inputs": [{{"name": "input", "shape": [1, 64], "datatype": "FP32", "data": [{}]}}]}}"#,
            image.join(",")
        ),
    )
    .unwrap();
}

/// `qsafe serve` with the TLS identity, the clients and the sealed model, plus `keys`.
fn serve_command(p: &Path, keys: &[&str]) -> Command {
    let mut c = qsafe(p);
    c.args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--tls-cert",
        "cert.pem",
        "--tls-key",
        "key.pem",
        "--clients",
        "clients",
        "--model",
        "digits.qsealed",
    ])
    .args(keys);
    c
}

/// Starts the gateway; returns it, its URL and its banner.
fn start(mut serve: Command) -> (Gateway, String, String) {
    serve.stdout(Stdio::piped()).stderr(Stdio::inherit());
    let mut gateway = Gateway(serve.spawn().unwrap());
    let line = BufReader::new(gateway.0.stdout.take().unwrap())
        .lines()
        .map(Result::unwrap)
        .find(|l| l.starts_with("qsafe gateway on https://"))
        .expect("the gateway says where it listens");
    let url = line
        .split_whitespace()
        .nth(3)
        .unwrap()
        .trim_end_matches(':')
        .to_owned();
    (gateway, url, line)
}

fn infer(p: &Path, url: &str, pinned: &str) -> std::process::Output {
    qsafe(p)
        .args([
            "infer",
            "--gateway",
            url,
            "--key",
            "client",
            "--gateway-key",
            pinned,
            "--ca",
            "cert.pem",
            "--model",
            "digits",
            "--input",
            "input.json",
        ])
        .output()
        .unwrap()
}

/// Rotates both gateway keys in the store and waits until the gateway answers under the new
/// signing key; the old pinned key is then refused.
fn rotate_and_follow(p: &Path, url: &str, remount: impl Fn()) {
    let out = infer(p, url, "gateway-v1.pub");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("prediction: ["));

    ok(p, &["key", "rotate", "gw-ohttp"]);
    ok(p, &["key", "rotate", "gw-sign"]);
    ok(
        p,
        &[
            "key",
            "export",
            "gw-sign",
            "--public",
            "-o",
            "gateway-v2.pub",
        ],
    );
    remount();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = infer(p, url, "gateway-v2.pub");
        if out.status.success() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "rotation not picked up: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    // The old pinned key no longer verifies the gateway's answers.
    assert_eq!(infer(p, url, "gateway-v1.pub").status.code(), Some(3));
}

#[test]
fn serve_from_the_key_store_and_pick_up_a_rotation() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    setup(p);

    // A model sealed to another key, or signed by someone else: exit 3 before listening.
    for (model_key, publisher) in [("gw-ohttp", "publisher.pub"), ("model", "client.pub")] {
        let out = serve_command(
            p,
            &[
                "--ohttp-key",
                "gw-ohttp",
                "--signing-key",
                "gw-sign",
                "--model-key",
                model_key,
                "--model-publisher",
                publisher,
            ],
        )
        .output()
        .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{model_key} {publisher}: {err}");
        assert!(err.contains("digits.qsealed"), "{err}");
    }

    let (_gateway, url, banner) = start(serve_command(
        p,
        &[
            "--ohttp-key",
            "gw-ohttp",
            "--signing-key",
            "gw-sign",
            "--model-key",
            "model",
            "--model-publisher",
            "publisher.pub",
            "--key-refresh",
            "1",
        ],
    ));
    assert!(banner.contains("gw-ohttp v1 (key id 1)"), "{banner}");
    rotate_and_follow(p, &url, || {});
}

/// Mounts key `name`'s active version as the kubelet would: the Secret from `qsafe key export
/// --k8s-secret`, its `key-bundle.json` decoded into `secrets/NAME/`, replaced atomically.
fn mount_secret(p: &Path, name: &str) {
    let out = qsafe(p)
        .args(["key", "export", name, "--k8s-secret"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let manifest = String::from_utf8(out.stdout).unwrap();
    let encoded = manifest
        .lines()
        .find_map(|l| l.strip_prefix("  key-bundle.json: "))
        .unwrap();
    let bundle = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .unwrap();
    let dir = p.join("secrets").join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(".tmp"), bundle).unwrap();
    std::fs::rename(dir.join(".tmp"), dir.join("key-bundle.json")).unwrap();
}

#[test]
fn serve_from_mounted_kubernetes_secrets_and_follow_a_new_secret() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    setup(p);
    for name in ["gw-ohttp", "gw-sign", "model"] {
        mount_secret(p, name);
    }
    std::fs::write(p.join("secrets/passphrase"), PASS).unwrap();
    // The gateway sees the Secrets only: no store, no passphrase variable.
    let mounted = |c: &mut Command| {
        c.env_remove("QSAFE_STORE").env_remove("QSAFE_PASSPHRASE");
    };
    let keys = [
        "--ohttp-key-bundle",
        "secrets/gw-ohttp",
        "--signing-key-bundle",
        "secrets/gw-sign/key-bundle.json",
        "--model-key-bundle",
        "secrets/model",
        "--model-publisher",
        "publisher.pub",
        "--key-refresh",
        "1",
    ];

    // Without the passphrase the bundles do not unlock: a usage-level error, not a hang.
    let mut c = serve_command(p, &keys);
    mounted(&mut c);
    let out = c.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("passphrase"), "{err}");

    let mut c = serve_command(p, &keys);
    mounted(&mut c);
    c.args(["--passphrase-file", "secrets/passphrase"]);
    let (_gateway, url, banner) = start(c);
    assert!(banner.contains("gw-ohttp v1 (key id 1)"), "{banner}");
    assert!(banner.contains("mounted Secrets"), "{banner}");
    rotate_and_follow(p, &url, || {
        mount_secret(p, "gw-ohttp");
        mount_secret(p, "gw-sign");
    });
}

/// The container and the volumes of `deploy/kubernetes/deployment.yaml`.
fn deployment_container() -> (yaml_rust2::Yaml, Vec<yaml_rust2::Yaml>) {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/kubernetes/deployment.yaml");
    let text = std::fs::read_to_string(path).unwrap();
    let docs = yaml_rust2::YamlLoader::load_from_str(&text).unwrap();
    let spec = &docs[0]["spec"]["template"]["spec"];
    assert_eq!(
        spec["securityContext"]["runAsNonRoot"].as_bool(),
        Some(true)
    );
    let container = spec["containers"][0].clone();
    let volumes = spec["volumes"].as_vec().unwrap();
    // Every mount is a declared Secret or ConfigMap volume.
    for mount in container["volumeMounts"].as_vec().unwrap() {
        let name = mount["name"].as_str().unwrap();
        let volume = volumes
            .iter()
            .find(|v| v["name"].as_str() == Some(name))
            .unwrap_or_else(|| panic!("volume {name} not declared"));
        assert!(
            volume["secret"]["secretName"].as_str().is_some()
                || volume["configMap"]["name"].as_str().is_some(),
            "{name}"
        );
    }
    (container, volumes.clone())
}

/// Where a volume's files come from, as deploy/kubernetes/README.md creates them.
fn fill_volume(p: &Path, source: &str, dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let copy = |from: &str, to: &str| {
        std::fs::copy(p.join(from), dir.join(to)).unwrap();
    };
    let store_key = match source {
        "qsafe-tls" => return (copy("cert.pem", "tls.crt"), copy("key.pem", "tls.key")).0,
        "qsafe-passphrase" => return std::fs::write(dir.join("passphrase"), PASS).unwrap(),
        "qsafe-clients" => return copy("client.pub", "client.pub"),
        "qsafe-model" => {
            return (
                copy("digits.qsealed", "digits.qsealed"),
                copy("publisher.pub", "publisher.pub"),
            )
                .0;
        }
        "qsafe-ohttp-key" => "gw-ohttp",
        "qsafe-signing-key" => "gw-sign",
        "qsafe-model-key" => "model",
        other => panic!("deployment.yaml mounts {other}, which the README does not create"),
    };
    let out = qsafe(p)
        .args([
            "key",
            "export",
            store_key,
            "--k8s-secret",
            "--secret-name",
            source,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let manifest = String::from_utf8(out.stdout).unwrap();
    assert!(
        manifest.contains(&format!("  name: {source}\n")),
        "{manifest}"
    );
    // The `data:` entries, base64-decoded into files as the kubelet does.
    let data = manifest.split("\ndata:\n").nth(1).unwrap();
    for line in data.lines() {
        let (file, value) = line.trim().split_once(": ").unwrap();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(value)
            .unwrap();
        std::fs::write(dir.join(file), bytes).unwrap();
    }
}

#[test]
fn the_kubernetes_deployment_serves_from_its_mounts() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    setup(p);
    let (container, volumes) = deployment_container();
    let root = p.join("pod");
    for mount in container["volumeMounts"].as_vec().unwrap() {
        let name = mount["name"].as_str().unwrap();
        let volume = volumes
            .iter()
            .find(|v| v["name"].as_str() == Some(name))
            .unwrap();
        let source = volume["secret"]["secretName"]
            .as_str()
            .or(volume["configMap"]["name"].as_str())
            .unwrap();
        let at = mount["mountPath"].as_str().unwrap().trim_start_matches('/');
        fill_volume(p, source, &root.join(at));
    }

    // The container's own command line and environment; only the paths move under `root`
    // and the port becomes an ephemeral one.
    let args: Vec<String> = container["args"]
        .as_vec()
        .unwrap()
        .iter()
        .map(|a| {
            let a = a.as_str().unwrap();
            if a.starts_with("--listen=") {
                "--listen=127.0.0.1:0".to_owned()
            } else {
                a.replace("=/", &format!("={}/", root.display()))
            }
        })
        .collect();
    let mut serve = qsafe(p);
    serve
        .env_remove("QSAFE_STORE")
        .env_remove("QSAFE_PASSPHRASE")
        .args(&args);
    for var in container["env"].as_vec().unwrap() {
        serve.env(
            var["name"].as_str().unwrap(),
            var["value"].as_str().unwrap(),
        );
    }
    let log = std::fs::File::create(p.join("gateway.log")).unwrap();
    serve.stdout(Stdio::piped()).stderr(log);
    let mut gateway = Gateway(serve.spawn().unwrap());
    let banner = BufReader::new(gateway.0.stdout.take().unwrap())
        .lines()
        .map(Result::unwrap)
        .find(|l| l.starts_with("qsafe gateway on https://"))
        .unwrap_or_else(|| {
            panic!(
                "no banner; log:\n{}",
                std::fs::read_to_string(p.join("gateway.log")).unwrap_or_default()
            )
        });
    assert!(banner.contains("mounted Secrets"), "{banner}");
    let url = banner
        .split_whitespace()
        .nth(3)
        .unwrap()
        .trim_end_matches(':');
    let out = infer(p, url, "gateway-v1.pub");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("prediction: ["));

    // Structured logs: a JSON line per request, without the passphrase or key material.
    drop(gateway);
    let log = std::fs::read_to_string(p.join("gateway.log")).unwrap();
    let request_line = log
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["fields"]["route"] == "protected")
        .unwrap_or_else(|| panic!("no JSON request log line in:\n{log}"));
    assert_eq!(request_line["fields"]["status"], 200, "{request_line}");
    assert!(!log.contains(PASS) && !log.contains("PRIVATE KEY"), "{log}");
}
