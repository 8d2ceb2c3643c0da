//! `qsafe kms-plugin` as kube-apiserver sees it: a separate process serving KMS v2 on a unix
//! socket, a gRPC client doing Status/Encrypt/Decrypt while `qsafe key rotate` runs in another
//! process, old data keys still decrypting, retire taking effect, and SIGTERM removing the
//! socket.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

use assert_cmd::cargo::CommandCargoExt;
use hyper_util::rt::TokioIo;
use qsafe_kms::proto::key_management_service_client::KeyManagementServiceClient;
use qsafe_kms::proto::{DecryptRequest, EncryptRequest, EncryptResponse, StatusRequest};
use tokio::net::UnixStream;
use tonic::transport::{Channel, Endpoint, Uri};

const PASSPHRASE: &str = "kms cli passphrase";

fn qsafe(store: &Path) -> std::process::Command {
    let mut c = std::process::Command::cargo_bin("qsafe").unwrap();
    c.env("QSAFE_PASSPHRASE", PASSPHRASE)
        .env_remove("QSAFE_STORE")
        .env("QSAFE_HOME", store);
    c
}

fn ok(store: &Path, args: &[&str]) {
    let out = qsafe(store).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "qsafe {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn connect(socket: &Path) -> KeyManagementServiceClient<Channel> {
    for _ in 0..1000 {
        if socket.exists() {
            let path = socket.to_path_buf();
            let channel = Endpoint::try_from("http://localhost")
                .unwrap()
                .connect_with_connector(tower::service_fn(move |_: Uri| {
                    let path = path.clone();
                    async move {
                        Ok::<_, std::io::Error>(TokioIo::new(UnixStream::connect(path).await?))
                    }
                }))
                .await;
            if let Ok(channel) = channel {
                return KeyManagementServiceClient::new(channel);
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the plugin never listened on {}", socket.display());
}

async fn encrypt(c: &mut KeyManagementServiceClient<Channel>, seed: u8) -> EncryptResponse {
    c.encrypt(EncryptRequest {
        plaintext: vec![seed; 32],
        uid: format!("e{seed}"),
    })
    .await
    .unwrap()
    .into_inner()
}

async fn decrypt(
    c: &mut KeyManagementServiceClient<Channel>,
    sealed: &EncryptResponse,
) -> Result<Vec<u8>, tonic::Status> {
    c.decrypt(DecryptRequest {
        ciphertext: sealed.ciphertext.clone(),
        uid: "d".into(),
        key_id: sealed.key_id.clone(),
        annotations: sealed.annotations.clone(),
    })
    .await
    .map(|r| r.into_inner().plaintext)
}

struct Plugin(Child);

impl Drop for Plugin {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn terminate(child: &mut Child) {
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugin_process_round_trip_with_rotation_in_flight() {
    let d = tempfile::tempdir().unwrap();
    let store: PathBuf = d.path().join("store");
    let socket = d.path().join("kms.sock");
    ok(&store, &["key", "init"]);
    ok(&store, &["key", "create", "k8s", "--alg", "x-wing"]);

    let mut plugin = Plugin(
        qsafe(&store)
            .args(["kms-plugin", "--socket"])
            .arg(&socket)
            .args(["--key", "k8s"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut client = connect(&socket).await;
    let status = client.status(StatusRequest {}).await.unwrap().into_inner();
    assert_eq!(
        (status.version.as_str(), status.healthz.as_str()),
        ("v2", "ok")
    );
    assert!(
        status.key_id.starts_with("qsafe:k8s:v1:sha256:"),
        "{}",
        status.key_id
    );

    // Traffic before, during and after a rotation made by another process.
    let mut sealed = Vec::new();
    let rotate = {
        let store = store.clone();
        tokio::task::spawn_blocking(move || ok(&store, &["key", "rotate", "k8s"]))
    };
    for i in 0..40u8 {
        let s = encrypt(&mut client, i).await;
        assert_eq!(decrypt(&mut client, &s).await.unwrap(), vec![i; 32]);
        sealed.push(s);
    }
    rotate.await.unwrap();

    // Status re-reads the store: the new key id is reported, and new data keys use it.
    let status = client.status(StatusRequest {}).await.unwrap().into_inner();
    assert!(
        status.key_id.starts_with("qsafe:k8s:v2:"),
        "{}",
        status.key_id
    );
    let fresh = encrypt(&mut client, 200).await;
    assert_eq!(fresh.key_id, status.key_id);
    for (i, s) in sealed.iter().enumerate() {
        assert_eq!(
            decrypt(&mut client, s).await.unwrap(),
            vec![i as u8; 32],
            "{}",
            s.key_id
        );
    }

    // Retiring version 1 stops its data keys from decrypting (after the next Status re-read).
    let old = sealed
        .iter()
        .find(|s| s.key_id.contains(":v1:"))
        .expect("some v1 traffic");
    ok(&store, &["key", "retire", "k8s", "--version", "1"]);
    client.status(StatusRequest {}).await.unwrap();
    let refused = decrypt(&mut client, old).await.unwrap_err();
    assert_eq!(
        refused.code(),
        tonic::Code::FailedPrecondition,
        "{refused:?}"
    );
    assert_eq!(decrypt(&mut client, &fresh).await.unwrap(), vec![200; 32]);

    // SIGTERM: a clean exit that removes the socket.
    terminate(&mut plugin.0);
    let status = tokio::task::spawn_blocking(move || plugin.0.wait().unwrap())
        .await
        .unwrap();
    assert!(status.success(), "{status:?}");
    assert!(!socket.exists(), "the socket is removed on shutdown");
}
