//! The plugin: the KMS v2 `KeyManagementService` over a [`KeyStore`], with a key cache that
//! follows rotations and policy changes without a restart.
//!
//! ## What is cached, and when it is thrown away
//!
//! The plugin keeps a **snapshot** of its key's record (every version's status and
//! fingerprint, `min_decryption_version`, the active version's encapsulation key and key id)
//! and a map of **loaded decapsulation keys** by version. Loading a private key (unwrap under
//! the store KEK, check against the stored public key, expand) happens once per version, not
//! per request.
//!
//! - A snapshot is used for at most [`PluginOptions::refresh_interval`] (default 5 s); the
//!   first request after that re-reads the record (one read of one key record; private keys
//!   are not touched unless the active version changed). `Status` — polled by kube-apiserver
//!   every minute, every 10 s while unhealthy — always re-reads, so the key id it reports is
//!   the store's current one and a rotation is seen at the apiserver's next poll.
//! - When the active version changes, the new version's private key is loaded and checked
//!   against its public key *before* the new key id is reported or used: the plugin never
//!   hands out a key id it cannot decrypt. If that fails the refresh fails (see below).
//! - After each re-read, loaded keys of versions that are now retired, destroyed, below
//!   `min_decryption_version`, gone, or whose fingerprint changed are dropped (and zeroized).
//!   So a cached key outlives such a change by at most one refresh interval (immediately if
//!   `Status` is called).
//! - A version that is not loaded, or that the snapshot says is refused, is asked of the store
//!   itself ([`KeyStore::decapsulation_key`]), which decides with the current record and logs
//!   refusals to the audit log (`denied:retired`, …). A refusal is therefore immediate for
//!   any version the plugin has not been using.
//! - A `key_id` naming a version newer than the snapshot (another plugin instance sharing the
//!   store rotated first) forces a re-read, at most once per second.
//! - If the store cannot be read, requests that need a re-read fail with `UNAVAILABLE` and
//!   `Status` reports the error in `healthz` (with the last known key id): the plugin fails
//!   closed rather than serve from a snapshot it cannot confirm. Between failed re-reads of a
//!   stale snapshot it waits one second, so a dead store is not hammered.
//!
//! Rotation in the middle of traffic: requests are served from whichever snapshot was current
//! when they started; an `Encrypt` that races a rotation returns the old key id and a
//! ciphertext under the old version, which stays decryptable (decrypt-only) until an operator
//! retires it. kube-apiserver requires `Encrypt`'s key id to equal the one `Status` returned
//! when it generates a new DEK seed; if a rotation lands between the two calls it keeps its
//! current seed and retries at its next poll (10 s).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use qsafe_core::kem::{DecapsulationKey, EncapsulationKey};
use qsafe_core::keys::PublicKey;
use qsafe_core::keys::codec;
use qsafe_core::registry::{Family, Kind};
use qsafe_keys::{Backend, Key, KeyStore, Status as VersionStatus};
use tonic::{Request, Response};
use zeroize::Zeroize;

use crate::envelope;
use crate::key_id::{KeyId, MAX_KEY_ID_LEN, truncate};
use crate::proto::key_management_service_server::{
    KeyManagementService, KeyManagementServiceServer,
};
use crate::proto::{
    DecryptRequest, DecryptResponse, EncryptRequest, EncryptResponse, StatusRequest, StatusResponse,
};
use crate::{Error, Result};

/// The KMS API version `Status` reports (`KMSAPIVersionv2`).
pub const API_VERSION: &str = "v2";
/// The `healthz` value of a healthy plugin.
pub const HEALTHZ_OK: &str = "ok";
/// Largest gRPC request accepted: a 1 KiB ciphertext, a 1 KiB key id and 32 KiB of
/// annotations, with room for the uid and framing. Larger messages are refused by the
/// transport before they are decoded.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;
/// Longest `uid` accepted (kube-apiserver sends a 36-character UUID).
pub const MAX_UID_LEN: usize = 256;
/// Minimum time between re-reads forced by an unknown version or retried after a failure.
const RETRY_AFTER: Duration = Duration::from_secs(1);

/// Tuning for a [`Plugin`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PluginOptions {
    /// How long a snapshot of the key record is used before the store is read again.
    pub refresh_interval: Duration,
}

impl Default for PluginOptions {
    fn default() -> Self {
        PluginOptions {
            refresh_interval: Duration::from_secs(5),
        }
    }
}

impl PluginOptions {
    /// Sets [`PluginOptions::refresh_interval`].
    pub fn refresh_interval(mut self, interval: Duration) -> Self {
        self.refresh_interval = interval;
        self
    }
}

/// The active version: what `Encrypt` seals to and `Status` reports.
struct Active {
    version: u32,
    fingerprint: String,
    key_id: String,
    ek: EncapsulationKey,
}

/// One version as the snapshot saw it.
struct VersionInfo {
    status: VersionStatus,
    fingerprint: String,
}

/// One read of the key record.
struct Snapshot {
    taken: Instant,
    active: Arc<Active>,
    versions: BTreeMap<u32, VersionInfo>,
    min_decryption_version: u32,
}

impl Snapshot {
    fn usable(&self, version: u32) -> bool {
        version >= self.min_decryption_version
            && self.versions.get(&version).is_some_and(|v| {
                matches!(v.status, VersionStatus::Active | VersionStatus::DecryptOnly)
            })
    }
}

/// A loaded private key and the fingerprint of its public key.
struct Loaded {
    dk: DecapsulationKey,
    fingerprint: String,
}

#[derive(Default)]
struct State {
    snapshot: Option<Arc<Snapshot>>,
    keys: HashMap<u32, Arc<Loaded>>,
    /// When a re-read last found the store unreachable, and why.
    failure: Option<(Instant, String)>,
}

struct Inner {
    store: KeyStore<Box<dyn Backend>>,
    name: String,
    options: PluginOptions,
    state: Mutex<State>,
    /// Serialises re-reads of the store.
    refreshing: Mutex<()>,
}

/// The KMS v2 plugin for one store key. Cheap to clone; clones share the cache.
#[derive(Clone)]
pub struct Plugin {
    inner: Arc<Inner>,
}

impl core::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Plugin")
            .field("store", &self.inner.store)
            .field("key", &self.inner.name)
            .field("options", &self.inner.options)
            .finish_non_exhaustive()
    }
}

/// When a snapshot counts as fresh enough.
#[derive(Debug, Clone, Copy)]
enum Freshness {
    /// Taken within the refresh interval.
    Interval,
    /// Taken after this instant (a forced re-read, shared with concurrent callers).
    After(Instant),
    /// Forced, but at most once per [`RETRY_AFTER`].
    Throttled,
}

impl Plugin {
    /// A plugin serving key `key_name` of `store`, with default options. Reads the key and
    /// loads its active version, so a missing or unsuitable key (not a KEM, no HPKE id,
    /// classical-only) or a private key that does not unwrap fails here. This reads the
    /// store synchronously: call it before starting the async runtime, or from
    /// `spawn_blocking`.
    pub fn new(store: KeyStore<Box<dyn Backend>>, key_name: &str) -> Result<Plugin> {
        Self::with_options(store, key_name, PluginOptions::default())
    }

    /// [`Plugin::new`] with options.
    pub fn with_options(
        store: KeyStore<Box<dyn Backend>>,
        key_name: &str,
        options: PluginOptions,
    ) -> Result<Plugin> {
        let name = qsafe_keys::KeyName::new(key_name)?.to_string();
        let plugin = Plugin {
            inner: Arc::new(Inner {
                store,
                name,
                options,
                state: Mutex::new(State::default()),
                refreshing: Mutex::new(()),
            }),
        };
        plugin.inner.refresh(Freshness::After(Instant::now()))?;
        Ok(plugin)
    }

    /// The key id `Status` would report now (from the current snapshot; no store read).
    pub fn key_id(&self) -> Option<String> {
        self.inner
            .lock()
            .snapshot
            .as_ref()
            .map(|s| s.active.key_id.clone())
    }

    /// The gRPC service with this crate's request-size limit, for mounting on a server of
    /// one's own; [`crate::serve`] does this over a unix socket.
    pub fn into_service(self) -> KeyManagementServiceServer<Plugin> {
        KeyManagementServiceServer::new(self).max_decoding_message_size(MAX_REQUEST_BYTES)
    }

    /// `Status`: re-reads the store. `healthz` is `ok`, or says what is wrong.
    pub async fn status(&self) -> StatusResponse {
        let inner = Arc::clone(&self.inner);
        let started = Instant::now();
        let result = blocking(move || inner.refresh(Freshness::After(started))).await;
        let (healthz, key_id) = match result {
            Ok(snapshot) => (HEALTHZ_OK.to_owned(), snapshot.active.key_id.clone()),
            Err(e) => (format!("qsafe-kms: {e}"), self.key_id().unwrap_or_default()),
        };
        StatusResponse {
            version: API_VERSION.to_owned(),
            healthz,
            key_id,
        }
    }

    /// `Encrypt`: seals the plaintext to the active version.
    pub async fn encrypt(&self, request: EncryptRequest) -> Result<EncryptResponse> {
        check_uid(&request.uid)?;
        envelope::check_plaintext(&request.plaintext)?;
        let inner = Arc::clone(&self.inner);
        blocking(move || {
            let mut request = request;
            let sealed = inner.encrypt(&request.plaintext);
            request.plaintext.zeroize();
            sealed
        })
        .await
    }

    /// `Decrypt`: opens a ciphertext made by [`Plugin::encrypt`] with the version its key id
    /// names, if the store still allows that version to decrypt.
    pub async fn decrypt(&self, request: DecryptRequest) -> Result<DecryptResponse> {
        check_uid(&request.uid)?;
        let inner = Arc::clone(&self.inner);
        blocking(move || inner.decrypt(&request)).await
    }
}

fn check_uid(uid: &str) -> Result<()> {
    if uid.len() > MAX_UID_LEN {
        return Err(Error::InvalidRequest(format!(
            "uid is {} bytes; at most {MAX_UID_LEN} are accepted",
            uid.len()
        )));
    }
    Ok(())
}

/// Runs store and crypto work off the async executor.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Internal(format!("worker task failed: {e}")))?
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic cannot leave `State` half-updated (every update is one assignment), so a
        // poisoned lock is still consistent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn fresh(&self, want: Freshness) -> Option<Arc<Snapshot>> {
        let state = self.lock();
        let snapshot = state.snapshot.as_ref()?;
        let ok = match want {
            Freshness::Interval => snapshot.taken.elapsed() < self.options.refresh_interval,
            Freshness::After(t) => snapshot.taken >= t,
            Freshness::Throttled => snapshot.taken.elapsed() < RETRY_AFTER,
        };
        ok.then(|| Arc::clone(snapshot))
    }

    /// A snapshot at least as fresh as `want`, reading the store if needed.
    fn refresh(&self, want: Freshness) -> Result<Arc<Snapshot>> {
        if let Some(s) = self.fresh(want) {
            return Ok(s);
        }
        let _one_at_a_time = self
            .refreshing
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // Someone else may have re-read the store while this thread waited.
        if let Some(s) = self.fresh(want) {
            return Ok(s);
        }
        if !matches!(want, Freshness::After(_)) {
            // The store was unreachable a moment ago: do not queue another read behind it.
            if let Some((at, why)) = &self.lock().failure
                && at.elapsed() < RETRY_AFTER
            {
                return Err(Error::StoreUnavailable(format!(
                    "{why} (retried at most once a second)"
                )));
            }
        }
        let taken = Instant::now();
        match self.read_snapshot(taken) {
            Ok(snapshot) => {
                let snapshot = Arc::new(snapshot);
                let mut state = self.lock();
                state.keys.retain(|version, loaded| {
                    snapshot.usable(*version)
                        && snapshot
                            .versions
                            .get(version)
                            .is_some_and(|v| v.fingerprint == loaded.fingerprint)
                });
                state.snapshot = Some(Arc::clone(&snapshot));
                state.failure = None;
                Ok(snapshot)
            }
            Err(e) => {
                if let Error::StoreUnavailable(why) = &e {
                    self.lock().failure = Some((Instant::now(), why.clone()));
                }
                Err(e)
            }
        }
    }

    /// Reads the key record; loads the active version's private key if it is new.
    fn read_snapshot(&self, taken: Instant) -> Result<Snapshot> {
        let key = self.store.show(&self.name)?;
        check_suitable(&key)?;
        let active = key.active()?;
        let previous = self.lock().snapshot.as_ref().map(|s| Arc::clone(&s.active));
        let active = match previous {
            Some(p) if p.version == active.version && p.fingerprint == active.fingerprint => p,
            _ => Arc::new(self.load_active(&key, active)?),
        };
        Ok(Snapshot {
            taken,
            active,
            versions: key
                .versions
                .iter()
                .map(|v| {
                    (
                        v.version,
                        VersionInfo {
                            status: v.status,
                            fingerprint: v.fingerprint.clone(),
                        },
                    )
                })
                .collect(),
            min_decryption_version: key.policy.min_decryption_version,
        })
    }

    /// Parses the active version's public key from the record and proves the private key
    /// matches it (so every key id handed out can be decrypted); caches the private key.
    fn load_active(&self, key: &Key, v: &qsafe_keys::KeyVersion) -> Result<Active> {
        let ek = match codec::public_from_bytes(&v.public_key, Some(Kind::Kem))? {
            PublicKey::Kem(ek) if ek.algorithm().id == key.algorithm => ek,
            _ => {
                return Err(Error::Internal(format!(
                    "key `{}` version {} public key is not a {} key",
                    key.name, v.version, key.algorithm
                )));
            }
        };
        let loaded = self.load(v.version)?;
        if loaded.fingerprint != v.fingerprint
            || loaded.dk.encapsulation_key()?.as_bytes() != ek.as_bytes()
        {
            return Err(Error::Internal(format!(
                "key `{}` version {} changed while it was being loaded; retry",
                key.name, v.version
            )));
        }
        self.lock().keys.insert(v.version, loaded);
        Ok(Active {
            version: v.version,
            fingerprint: v.fingerprint.clone(),
            key_id: KeyId::new(&self.name, v.version, &v.fingerprint)?.to_string(),
            ek,
        })
    }

    /// Loads a version's private key from the store (which refuses, and audits, versions
    /// that may not decrypt).
    fn load(&self, version: u32) -> Result<Arc<Loaded>> {
        let dk = self.store.decapsulation_key(&self.name, version)?;
        let fingerprint = PublicKey::Kem(dk.encapsulation_key()?).fingerprint()?;
        Ok(Arc::new(Loaded { dk, fingerprint }))
    }

    fn encrypt(&self, plaintext: &[u8]) -> Result<EncryptResponse> {
        let snapshot = self.refresh(Freshness::Interval)?;
        let active = &snapshot.active;
        let sealed = envelope::seal(&active.ek, &active.key_id, plaintext)?;
        Ok(EncryptResponse {
            ciphertext: sealed.ciphertext,
            key_id: active.key_id.clone(),
            annotations: sealed.annotations,
        })
    }

    fn decrypt(&self, request: &DecryptRequest) -> Result<DecryptResponse> {
        if request.key_id.len() > MAX_KEY_ID_LEN {
            return Err(Error::InvalidRequest(format!(
                "key_id is {} bytes; kube-apiserver allows at most {MAX_KEY_ID_LEN}",
                request.key_id.len()
            )));
        }
        let id = KeyId::parse(&request.key_id)?;
        let key_id = request.key_id.as_str();
        if id.name != self.name {
            return Err(Error::UnknownKey {
                key_id: truncate(key_id),
                reason: format!(
                    "it names key `{}`, but this plugin serves key `{}`",
                    id.name, self.name
                ),
            });
        }
        let parsed = envelope::parse(&request.ciphertext)?;
        let mut snapshot = self.refresh(Freshness::Interval)?;
        if !snapshot.versions.contains_key(&id.version) {
            // Perhaps another plugin instance sharing the store saw a rotation first.
            snapshot = self.refresh(Freshness::Throttled)?;
        }
        let info = snapshot
            .versions
            .get(&id.version)
            .ok_or_else(|| Error::UnknownKey {
                key_id: key_id.to_owned(),
                reason: format!(
                    "key `{}` has no version {} in this store (versions are 1..={})",
                    self.name,
                    id.version,
                    snapshot.versions.keys().next_back().copied().unwrap_or(0)
                ),
            })?;
        if !id.matches_fingerprint(&info.fingerprint) {
            return Err(Error::UnknownKey {
                key_id: key_id.to_owned(),
                reason: format!(
                    "version {} of key `{}` in this store has fingerprint {}…, not the one the \
                     key_id names: the data was sealed to a key of another store",
                    id.version,
                    self.name,
                    info.fingerprint.get(..23).unwrap_or(&info.fingerprint)
                ),
            });
        }
        let cached = if snapshot.usable(id.version) {
            self.lock().keys.get(&id.version).cloned()
        } else {
            None
        };
        let loaded = match cached {
            Some(k) => k,
            None => {
                let loaded = self.load(id.version)?;
                if loaded.fingerprint != info.fingerprint {
                    return Err(Error::UnknownKey {
                        key_id: key_id.to_owned(),
                        reason: "the store's key changed while it was being loaded; retry".into(),
                    });
                }
                if snapshot.usable(id.version) {
                    self.lock().keys.insert(id.version, Arc::clone(&loaded));
                }
                loaded
            }
        };
        let enc = envelope::enc_annotation(&request.annotations, loaded.dk.algorithm())?;
        let plaintext = envelope::open(&loaded.dk, key_id, &parsed, enc)?;
        Ok(DecryptResponse { plaintext })
    }
}

/// The plugin's key must be a KEM with an HPKE id that is not classical-only.
fn check_suitable(key: &Key) -> Result<()> {
    let alg = key.alg()?;
    let unsuitable = |reason: String| {
        Err(Error::UnsuitableKey {
            name: key.name.to_string(),
            reason,
        })
    };
    if alg.kind != Kind::Kem {
        return unsuitable(format!(
            "it is a {} signing key; the plugin needs a KEM key (x-wing or mlkem1024-p384)",
            alg.id
        ));
    }
    if alg.hpke_id.is_none() {
        return unsuitable(format!(
            "{} has no HPKE KEM id; use x-wing or mlkem1024-p384",
            alg.id
        ));
    }
    if alg.family == Family::Classical {
        return unsuitable(format!(
            "{} is classical-only, so a quantum computer breaks it; use x-wing or mlkem1024-p384",
            alg.id
        ));
    }
    Ok(())
}

#[tonic::async_trait]
impl KeyManagementService for Plugin {
    async fn status(
        &self,
        _request: Request<StatusRequest>,
    ) -> Result<Response<StatusResponse>, tonic::Status> {
        Ok(Response::new(Plugin::status(self).await))
    }

    async fn decrypt(
        &self,
        request: Request<DecryptRequest>,
    ) -> Result<Response<DecryptResponse>, tonic::Status> {
        Ok(Response::new(
            Plugin::decrypt(self, request.into_inner()).await?,
        ))
    }

    async fn encrypt(
        &self,
        request: Request<EncryptRequest>,
    ) -> Result<Response<EncryptResponse>, tonic::Status> {
        Ok(Response::new(
            Plugin::encrypt(self, request.into_inner()).await?,
        ))
    }
}
