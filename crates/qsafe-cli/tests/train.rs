//! `qsafe train`: the demo's aggregator and workers run as separate processes over loopback
//! TCP; with one worker leaving mid-round, secure aggregation ends within 0.5 accuracy points
//! of plaintext FedAvg; a worker with an unknown key is refused; the final model is written,
//! sealed and signed so the gateway can serve it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::process::{Command, Stdio};

use assert_cmd::cargo::CommandCargoExt;
use qsafe_core::keys::PrivateKey;

fn qsafe(dir: &std::path::Path) -> Command {
    let mut c = Command::cargo_bin("qsafe").unwrap();
    c.current_dir(dir);
    c
}

#[test]
fn demo_with_a_dropout_matches_plaintext() {
    let d = tempfile::tempdir().unwrap();
    let out = qsafe(d.path())
        .args([
            "--json",
            "train",
            "demo",
            "--workers",
            "4",
            "--dropout",
            "1",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["mode"], "secagg");
    let rounds = v["rounds"].as_array().unwrap();
    assert_eq!(rounds.len(), 20);
    // Round 2: the leaving worker is dropped after the key exchange and recovered.
    assert_eq!(rounds[1]["outcome"], "completed", "{}", rounds[1]);
    assert_eq!(rounds[1]["dropped"].as_array().unwrap().len(), 1);
    assert_eq!(rounds[1]["survivors"].as_array().unwrap().len(), 3);
    let protected = v["final_accuracy"].as_f64().unwrap();
    let plain = v["plaintext_final_accuracy"].as_f64().unwrap();
    assert!(protected >= 0.9, "{v}");
    assert!(
        v["difference_points"].as_f64().unwrap().abs() <= 0.5,
        "secagg {protected} vs plaintext {plain}"
    );
    // The final model loads as the gateway's classifier.
    let model = std::fs::read(d.path().join("qsafe-train-demo/model-secagg.safetensors")).unwrap();
    let classifier = qsafe_gateway::model::Classifier::from_safetensors(&model).unwrap();
    assert_eq!(classifier.hidden(), 32);
}

#[test]
fn unknown_worker_key_is_refused_and_the_model_is_sealed_for_the_gateway() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    let keygen = |name: &str, alg: &str| {
        let ok = qsafe(p)
            .args(["key", "gen", "--alg", alg, "-o", name])
            .status()
            .unwrap()
            .success();
        assert!(ok, "key gen {name}");
    };
    for name in ["agg", "w0", "intruder", "publisher"] {
        keygen(name, "mldsa65-ed25519-sha512");
    }
    keygen("model", "x-wing");
    std::fs::create_dir(p.join("workers")).unwrap();
    std::fs::copy(p.join("w0.pub"), p.join("workers/w0.pub")).unwrap();

    let mut agg = qsafe(p)
        .args(["train", "aggregator", "--listen", "127.0.0.1:0", "--events"])
        .args(["--mode", "protected", "--rounds", "2", "--min-workers", "1"])
        .args([
            "--key",
            "agg",
            "--workers",
            "workers",
            "-o",
            "fed.safetensors",
        ])
        .args(["--seal-to", "model.pub", "--sign-with", "publisher"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(agg.stdout.take().unwrap()));
    let first: serde_json::Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    let addr = first["addr"].as_str().unwrap().to_owned();
    let worker = |key: &str| {
        qsafe(p)
            .args(["train", "worker", "--connect", &addr, "--shard", "0/2"])
            .args([
                "--mode",
                "protected",
                "--key",
                key,
                "--aggregator-key",
                "agg.pub",
            ])
            .output()
            .unwrap()
    };
    // A key the aggregator does not trust: refused during the handshake.
    let refused = worker("intruder");
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("worker 0/2"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    // The trusted worker trains both rounds.
    let ok = worker("w0");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let events: Vec<serde_json::Value> = lines
        .map(|l| serde_json::from_str(&l.unwrap()).unwrap())
        .collect();
    assert!(agg.wait().unwrap().success());
    let done = events.iter().find(|e| e["event"] == "done").unwrap();
    assert_eq!(done["summary"]["rounds"].as_array().unwrap().len(), 2);
    let rejected: usize = done["summary"]["rounds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["rejected"].as_array().unwrap().len())
        .sum();
    assert_eq!(rejected, 1, "{done}");

    // Sealed to the model key and signed by the publisher: what `serve --model` loads.
    let sealed = std::fs::read(p.join("fed.safetensors.qsealed")).unwrap();
    let PrivateKey::Kem(dk) =
        qsafe_core::keys::codec::private_from_bytes(&std::fs::read(p.join("model")).unwrap(), None)
            .unwrap()
    else {
        panic!("model is a KEM key")
    };
    let publisher = match qsafe_core::keys::codec::public_from_bytes(
        &std::fs::read(p.join("publisher.pub")).unwrap(),
        None,
    )
    .unwrap()
    {
        qsafe_core::keys::PublicKey::Sig(vk) => vk,
        qsafe_core::keys::PublicKey::Kem(_) => panic!("publisher is a signing key"),
    };
    qsafe_gateway::model::sealed::open(&sealed, &dk, &publisher).unwrap();
}
