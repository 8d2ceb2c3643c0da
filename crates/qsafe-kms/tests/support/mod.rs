//! Shared fixture: a passphrase-protected store in a tempdir, the plugin served on a real unix
//! socket, a tonic client dialling that socket, and a second `KeyStore` handle on the same
//! directory acting as the operator.

#![allow(
    dead_code, // each test binary uses a different subset
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use qsafe_keys::{Argon2Cost, Backend, DirBackend, KeyStore, Passphrase, PassphraseKek};
use qsafe_kms::proto::key_management_service_client::KeyManagementServiceClient;
use qsafe_kms::proto::{
    DecryptRequest, EncryptRequest, EncryptResponse, StatusRequest, StatusResponse,
};
use qsafe_kms::{Plugin, PluginOptions};
use tokio::net::UnixStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::{Channel, Endpoint, Uri};

pub type Client = KeyManagementServiceClient<Channel>;

pub const KEY: &str = "k8s-secrets";
const PASSPHRASE: &str = "correct horse battery staple";

pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub store_dir: PathBuf,
    pub socket: PathBuf,
    pub client: Client,
    pub admin: KeyStore<DirBackend>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<qsafe_kms::Result<()>>>,
}

fn passphrase() -> Passphrase {
    Passphrase::new(PASSPHRASE.to_owned()).unwrap()
}

/// Opens another handle on the store (the plugin's own, boxed as the CLI will).
pub fn open_store(store_dir: &Path) -> KeyStore<Box<dyn Backend>> {
    let backend: Box<dyn Backend> = Box::new(DirBackend::new(store_dir));
    KeyStore::open_with_passphrase(backend, &passphrase()).unwrap()
}

/// An operator's handle on the store.
pub fn open_admin(store_dir: &Path) -> KeyStore<DirBackend> {
    KeyStore::open_with_passphrase(DirBackend::new(store_dir), &passphrase())
        .unwrap()
        .with_actor("test-admin")
}

impl Fixture {
    /// A new store with key [`KEY`] of `alg`, and the plugin serving it.
    pub async fn start(alg: &str, options: PluginOptions) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let store_dir = dir.path().join("store");
        let kek =
            PassphraseKek::with_cost(&passphrase(), Argon2Cost::INSECURE_FAST_FOR_TESTS).unwrap();
        let admin = KeyStore::init(DirBackend::new(&store_dir), kek)
            .unwrap()
            .with_actor("test-admin");
        admin.create(KEY, alg).unwrap();
        let socket = dir.path().join("kms.sock");
        let (shutdown, server, client) = serve(&store_dir, &socket, options).await;
        Fixture {
            dir,
            store_dir,
            socket,
            client,
            admin,
            shutdown: Some(shutdown),
            server: Some(server),
        }
    }

    /// Stops the server gracefully and returns what `serve` returned.
    pub async fn stop(&mut self) -> qsafe_kms::Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        match self.server.take() {
            Some(h) => tokio::time::timeout(Duration::from_secs(10), h)
                .await
                .unwrap()
                .unwrap(),
            None => Ok(()),
        }
    }

    pub async fn status(&mut self) -> StatusResponse {
        self.client
            .status(StatusRequest {})
            .await
            .unwrap()
            .into_inner()
    }

    pub async fn encrypt(&mut self, plaintext: &[u8]) -> Result<EncryptResponse, tonic::Status> {
        encrypt(&mut self.client, plaintext).await
    }

    pub async fn decrypt(&mut self, sealed: &EncryptResponse) -> Result<Vec<u8>, tonic::Status> {
        decrypt(&mut self.client, sealed).await
    }
}

/// Serves a plugin over `socket` for the store at `store_dir`; returns the shutdown trigger,
/// the server task and a connected client.
pub async fn serve(
    store_dir: &Path,
    socket: &Path,
    options: PluginOptions,
) -> (
    oneshot::Sender<()>,
    JoinHandle<qsafe_kms::Result<()>>,
    Client,
) {
    let plugin = Plugin::with_options(open_store(store_dir), KEY, options).unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let path = socket.to_path_buf();
    let server = tokio::spawn(async move {
        qsafe_kms::serve(plugin, path, async {
            let _ = rx.await;
        })
        .await
    });
    let client = connect(socket).await;
    (tx, server, client)
}

/// Dials the plugin's unix socket as kube-apiserver does, retrying for up to 10 s while the
/// server starts (a stale socket file may be there before the server replaces it).
pub async fn connect(socket: &Path) -> Client {
    let mut last = None;
    for _ in 0..1000 {
        let path = socket.to_path_buf();
        // The URI is ignored: every connection goes to the socket.
        let connected =
            Endpoint::try_from("http://localhost")
                .unwrap()
                .connect_with_connector(tower::service_fn(move |_: Uri| {
                    let path = path.clone();
                    async move {
                        Ok::<_, std::io::Error>(TokioIo::new(UnixStream::connect(path).await?))
                    }
                }))
                .await;
        match connected {
            Ok(channel) => return KeyManagementServiceClient::new(channel),
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("cannot connect to {}: {last:?}", socket.display());
}

pub async fn encrypt(
    client: &mut Client,
    plaintext: &[u8],
) -> Result<EncryptResponse, tonic::Status> {
    client
        .encrypt(EncryptRequest {
            plaintext: plaintext.to_vec(),
            uid: "00000000-0000-0000-0000-000000000001".into(),
        })
        .await
        .map(tonic::Response::into_inner)
}

pub fn decrypt_request(sealed: &EncryptResponse) -> DecryptRequest {
    DecryptRequest {
        ciphertext: sealed.ciphertext.clone(),
        uid: "00000000-0000-0000-0000-000000000002".into(),
        key_id: sealed.key_id.clone(),
        annotations: sealed.annotations.clone(),
    }
}

pub async fn decrypt(
    client: &mut Client,
    sealed: &EncryptResponse,
) -> Result<Vec<u8>, tonic::Status> {
    decrypt_with(client, decrypt_request(sealed)).await
}

pub async fn decrypt_with(
    client: &mut Client,
    request: DecryptRequest,
) -> Result<Vec<u8>, tonic::Status> {
    client
        .decrypt(request)
        .await
        .map(|r| r.into_inner().plaintext)
}

/// A 32-byte plaintext derived from `i`, like the DEK seeds kube-apiserver sends.
pub fn seed(i: u64) -> Vec<u8> {
    (0..4u64)
        .flat_map(|k| (i.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ k).to_le_bytes())
        .collect()
}

/// Asserts an error's gRPC code and `qsafe-error` machine code.
#[track_caller]
pub fn assert_status(
    result: Result<impl std::fmt::Debug, tonic::Status>,
    code: tonic::Code,
    machine: &str,
) {
    let status = match result {
        Ok(v) => panic!("expected {code:?} ({machine}), got Ok({v:?})"),
        Err(s) => s,
    };
    assert_eq!(status.code(), code, "message: {}", status.message());
    let got = status
        .metadata()
        .get(qsafe_kms::ERROR_METADATA_KEY)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("<none>");
    assert_eq!(got, machine, "message: {}", status.message());
    assert!(!status.message().is_empty());
}

/// The key id the plugin should report for `version` of [`KEY`].
pub fn expected_key_id(admin: &KeyStore<DirBackend>, version: u32) -> String {
    let key = admin.show(KEY).unwrap();
    let fp = &key.versions[(version - 1) as usize].fingerprint;
    format!(
        "qsafe:{KEY}:v{version}:sha256:{}",
        &fp["sha256:".len().."sha256:".len() + 16]
    )
}
