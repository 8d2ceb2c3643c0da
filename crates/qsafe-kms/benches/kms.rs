//! Encrypt and Decrypt latency over a real unix socket (gRPC, tonic client and server, one
//! connection, one request at a time), next to the bare envelope seal/open in-process, so the
//! socket + gRPC + worker-thread overhead reads directly. `cargo bench -p qsafe-kms`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // bench code

use std::path::PathBuf;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use hyper_util::rt::TokioIo;
use qsafe_core::kem::DecapsulationKey;
use qsafe_core::registry;
use qsafe_keys::{Backend, DirBackend, InsecurePlaintextKek, KeyStore};
use qsafe_kms::envelope;
use qsafe_kms::proto::key_management_service_client::KeyManagementServiceClient;
use qsafe_kms::proto::{DecryptRequest, EncryptRequest, StatusRequest};
use qsafe_kms::{Plugin, PluginOptions};
use tonic::transport::{Channel, Endpoint, Uri};

struct Served {
    _dir: tempfile::TempDir,
    client: KeyManagementServiceClient<Channel>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

fn serve(rt: &tokio::runtime::Runtime, alg: &str) -> Served {
    let dir = tempfile::tempdir().unwrap();
    let store_dir = dir.path().join("store");
    let store = KeyStore::init(DirBackend::new(&store_dir), InsecurePlaintextKek).unwrap();
    store.create("bench", alg).unwrap();
    let backend: Box<dyn Backend> = Box::new(DirBackend::new(&store_dir));
    let store = KeyStore::open(backend, InsecurePlaintextKek).unwrap();
    let plugin = Plugin::with_options(store, "bench", PluginOptions::default()).unwrap();
    let socket: PathBuf = dir.path().join("kms.sock");
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    let path = socket.clone();
    rt.spawn(async move {
        qsafe_kms::serve(plugin, path, async {
            let _ = rx.await;
        })
        .await
    });
    let client = rt.block_on(async {
        while !socket.exists() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let channel = Endpoint::try_from("http://localhost")
            .unwrap()
            .connect_with_connector(tower::service_fn(move |_: Uri| {
                let path = socket.clone();
                async move {
                    Ok::<_, std::io::Error>(TokioIo::new(
                        tokio::net::UnixStream::connect(path).await?,
                    ))
                }
            }))
            .await
            .unwrap();
        KeyManagementServiceClient::new(channel)
    });
    Served {
        _dir: dir,
        client,
        _stop: stop,
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let seed = vec![0x42u8; 32];
    let mut group = c.benchmark_group("kms");
    for alg in ["x-wing", "mlkem1024-p384"] {
        let served = serve(&rt, alg);
        let mut client = served.client.clone();
        group.bench_function(format!("socket_encrypt/{alg}"), |b| {
            b.iter(|| {
                rt.block_on(client.encrypt(EncryptRequest {
                    plaintext: seed.clone(),
                    uid: String::new(),
                }))
                .unwrap()
            })
        });
        let sealed = rt
            .block_on(client.encrypt(EncryptRequest {
                plaintext: seed.clone(),
                uid: String::new(),
            }))
            .unwrap()
            .into_inner();
        let request = DecryptRequest {
            ciphertext: sealed.ciphertext,
            uid: String::new(),
            key_id: sealed.key_id,
            annotations: sealed.annotations,
        };
        group.bench_function(format!("socket_decrypt/{alg}"), |b| {
            b.iter(|| rt.block_on(client.decrypt(request.clone())).unwrap())
        });
        if alg == "x-wing" {
            group.bench_function("socket_status", |b| {
                b.iter(|| rt.block_on(client.status(StatusRequest {})).unwrap())
            });
        }

        // The envelope alone, in-process.
        let kem = registry::by_id(alg).unwrap();
        let dk = DecapsulationKey::generate(kem).unwrap();
        let ek = dk.encapsulation_key().unwrap();
        let key_id = "qsafe:bench:v1:sha256:0011223344556677";
        group.bench_function(format!("envelope_seal/{alg}"), |b| {
            b.iter(|| envelope::seal(&ek, key_id, &seed).unwrap())
        });
        let s = envelope::seal(&ek, key_id, &seed).unwrap();
        let enc = s.annotations[envelope::ENC_ANNOTATION].clone();
        group.bench_function(format!("envelope_open/{alg}"), |b| {
            b.iter(|| {
                let parsed = envelope::parse(&s.ciphertext).unwrap();
                envelope::open(&dk, key_id, &parsed, &enc).unwrap()
            })
        });
        drop(served);
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
