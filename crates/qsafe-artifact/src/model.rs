//! OpenSSF model signing: a signed manifest of every file of a model, in the layout of
//! model_signing v1.0 (`github.com/sigstore/model-transparency`, PyPI `model-signing` 1.1),
//! signed with any qsafe signature key, composite ML-DSA included. `docs/model-signing.md` is
//! the normative description.
//!
//! - Manifest: one SHA-256 per file (`files`) or per fixed-size shard of each file
//!   (`shards`, `path:start:end`), named by the `/`-separated path relative to the model and
//!   sorted by path components (model_signing `manifest.py`); [`walk`] decides which files.
//! - Statement: in-toto Statement v1 whose subject is the model name with the SHA-256 over all
//!   resource digests in order, predicate type [`PREDICATE_TYPE`] with `serialization` and
//!   `resources` (model_signing `_signing/signing.py`, `Payload`).
//! - Envelope: DSSE v1.0 with payload type [`PAYLOAD_TYPE`]; the signature is over
//!   `PAE(payloadType, payload)` with an empty context (DSSE `protocol.md`).
//! - Bundle: Sigstore bundle v0.3 JSON with `verificationMaterial.publicKey.hint` = hex
//!   SHA-256 of the signer's public key PEM, as model_signing's key signer writes it.
//!
//! ECDSA P-256/P-384 bundles are exactly what `model_signing sign key` writes. Any other key
//! yields the same bundle with its own signature in the one DSSE slot and `keyid` naming the
//! algorithm (composite: the draft-ietf-lamps-pq-composite-sigs-19 name, e.g.
//! `id-MLDSA87-ECDSA-P384-SHA512`). Because Sigstore verifiers take exactly one signature per
//! envelope, [`SignOptions::classical_compat`] writes the ECDSA half as a second bundle over
//! the same payload.
//!
//! ```
//! use qsafe_artifact::model::{self, SignOptions, VerifyOptions};
//! use qsafe_core::{registry, sig::SigningKey};
//!
//! let dir = tempfile::tempdir()?;
//! std::fs::write(dir.path().join("weights.bin"), b"weights")?;
//! let key = SigningKey::generate(&registry::MLDSA65_ED25519_SHA512)?;
//! let signed = model::sign(dir.path(), &key, &SignOptions::default())?;
//! let opts = VerifyOptions { require_pq: true, ..VerifyOptions::default() };
//! let report = model::verify(dir.path(), &key.verifying_key()?, &signed.bundle, &opts)?;
//! assert_eq!(report.summary.files, 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod bundle;
mod error;
mod hash;
mod walk;

use std::collections::{BTreeMap, BTreeSet};
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};

use qsafe_core::keys::{PublicKey, codec};
use qsafe_core::registry::{AlgId, Algorithm};
use qsafe_core::sig::{SigningKey, VerifyingKey};
use qsafe_core::symmetric::{Hash, Hasher};

pub use bundle::{BUNDLE_MEDIA_TYPE, PAYLOAD_TYPE, PREDICATE_TYPE, STATEMENT_TYPE};
pub use error::{Diff, Error, Result};

/// Most files or shards one manifest may hold (a manifest entry is ~150 bytes of JSON).
pub const MAX_ITEMS: usize = 1_000_000;
/// Largest bundle [`verify`] parses.
pub const MAX_BUNDLE_LEN: usize = 256 << 20;

/// A progress callback: `(bytes hashed so far, total bytes)`, called from hashing threads.
pub struct Progress<'a>(pub &'a (dyn Fn(u64, u64) + Sync));

impl core::fmt::Debug for Progress<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Progress")
    }
}

/// How to sign.
#[derive(Debug)]
pub struct SignOptions<'a> {
    /// Hash fixed-size shards of this many bytes instead of whole files: one large file then
    /// hashes on every core. model_signing's CLI verifies `files` manifests only; its Python
    /// API (`verifying.Config().use_elliptic_key_verifier(...).verify(...)`) reads both.
    pub shard_size: Option<u64>,
    /// Also sign with the classical (ECDSA) half of a composite key, for classical-only
    /// verifiers: [`SignOutput::classical`].
    pub classical_compat: bool,
    /// Paths relative to the model to leave out (and to record, so verifiers leave them out).
    pub ignore_paths: Vec<PathBuf>,
    /// Leave out `.git`, `.gitattributes`, `.github`, `.gitignore` (model_signing's default).
    pub ignore_git_paths: bool,
    /// Follow symbolic links to files instead of refusing them (model_signing refuses).
    pub allow_symlinks: bool,
    /// Hashing threads; all cores by default.
    pub threads: Option<NonZeroUsize>,
    /// Progress of hashing.
    pub progress: Option<Progress<'a>>,
}

impl Default for SignOptions<'_> {
    fn default() -> Self {
        SignOptions {
            shard_size: None,
            classical_compat: false,
            ignore_paths: Vec::new(),
            ignore_git_paths: true,
            allow_symlinks: false,
            threads: None,
            progress: None,
        }
    }
}

/// How to verify. The serialization method, shard size and recorded ignore paths come from
/// the signed statement.
#[derive(Debug)]
pub struct VerifyOptions<'a> {
    /// Refuse keys of quantum-vulnerable (classical-only) algorithms.
    pub require_pq: bool,
    /// Further paths relative to the model to leave out (e.g. the signature file itself).
    pub ignore_paths: Vec<PathBuf>,
    /// Leave out the git paths, as model_signing does by default.
    pub ignore_git_paths: bool,
    /// Follow symbolic links to files.
    pub allow_symlinks: bool,
    /// Hashing threads; all cores by default.
    pub threads: Option<NonZeroUsize>,
    /// Progress of hashing.
    pub progress: Option<Progress<'a>>,
}

impl Default for VerifyOptions<'_> {
    fn default() -> Self {
        VerifyOptions {
            require_pq: false,
            ignore_paths: Vec::new(),
            ignore_git_paths: true,
            allow_symlinks: false,
            threads: None,
            progress: None,
        }
    }
}

/// What a manifest covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// The model name in the statement subject (the model path's last component).
    pub model_name: String,
    /// `files` or `shards`.
    pub method: &'static str,
    /// Distinct files.
    pub files: usize,
    /// Manifest entries (files, or shards).
    pub items: usize,
    /// Bytes hashed.
    pub bytes: u64,
    /// The subject digest: hex SHA-256 over all entry digests in manifest order.
    pub root_digest: String,
}

/// A signed model.
#[derive(Debug)]
pub struct SignOutput {
    /// The Sigstore bundle (JSON).
    pub bundle: Vec<u8>,
    /// The signing algorithm.
    pub algorithm: &'static Algorithm,
    /// With [`SignOptions::classical_compat`]: the classical half's bundle and key.
    pub classical: Option<ClassicalCompat>,
    /// What was signed.
    pub summary: Summary,
}

/// A second bundle over the same statement, signed by the ECDSA half of a composite key alone,
/// for verifiers that only know classical signatures (`model_signing verify key`).
#[derive(Debug)]
pub struct ClassicalCompat {
    /// The bundle (JSON).
    pub bundle: Vec<u8>,
    /// The ECDSA public key as SubjectPublicKeyInfo PEM.
    pub public_key_pem: String,
    /// `ecdsa-p256-sha256` or `ecdsa-p384-sha384`.
    pub algorithm: &'static Algorithm,
}

/// A verified model.
#[derive(Debug)]
pub struct VerifyReport {
    /// The verifying key's algorithm.
    pub algorithm: &'static Algorithm,
    /// False when a quantum computer could forge this signature (classical-only key).
    pub post_quantum: bool,
    /// What was verified (names and digests from the signed statement).
    pub summary: Summary,
}

/// Hashes the model at `path` (a file or a directory) and signs its manifest with `key`.
pub fn sign(path: &Path, key: &SigningKey, opts: &SignOptions<'_>) -> Result<SignOutput> {
    let alg = key.algorithm();
    let compat = if opts.classical_compat {
        Some(compat_key(key)?)
    } else {
        None
    };
    let method = match opts.shard_size {
        None => Method::Files,
        Some(0) => return Err(Error::Unsupported("a shard size of 0".into())),
        Some(n) => Method::Shards(n),
    };
    let ignore = ignore_list(opts.ignore_git_paths, &opts.ignore_paths)?;
    let hashed = hash_model(
        path,
        method,
        &ignore,
        opts.allow_symlinks,
        opts.threads,
        opts.progress.as_ref(),
    )?;
    let model_name = model_name(path);
    let root = root_digest(&hashed.items);
    let statement = bundle::Statement {
        type_: STATEMENT_TYPE.into(),
        subject: vec![bundle::Subject {
            name: model_name.clone(),
            digest: bundle::SubjectDigest {
                sha256: root.clone(),
            },
        }],
        predicate_type: PREDICATE_TYPE.into(),
        predicate: bundle::Predicate {
            serialization: bundle::Serialization {
                method: method.name().into(),
                hash_type: "sha256".into(),
                shard_size: method.shard_size(),
                allow_symlinks: opts.allow_symlinks,
                ignore_paths: ignore,
            },
            resources: hashed
                .items
                .iter()
                .map(|i| bundle::Resource {
                    name: i.name(),
                    algorithm: method.algorithm(),
                    digest: hex::encode(i.digest),
                })
                .collect(),
        },
    };
    let payload = serde_json::to_vec(&statement).map_err(error::bundle)?;
    let classical = compat
        .map(|ck| -> Result<ClassicalCompat> {
            Ok(ClassicalCompat {
                bundle: seal(&payload, &ck)?,
                public_key_pem: codec::public_to_pem(&PublicKey::Sig(ck.verifying_key()?))?,
                algorithm: ck.algorithm(),
            })
        })
        .transpose()?;
    Ok(SignOutput {
        bundle: seal(&payload, key)?,
        algorithm: alg,
        classical,
        summary: Summary {
            model_name,
            method: method.name(),
            files: hashed.files,
            items: hashed.items.len(),
            bytes: hashed.bytes,
            root_digest: root,
        },
    })
}

/// Verifies `bundle` with `key`, then hashes the model at `path` as the signed statement
/// says and compares. Differences are [`Error::Mismatch`] with the files named.
pub fn verify(
    path: &Path,
    key: &VerifyingKey,
    bundle: &[u8],
    opts: &VerifyOptions<'_>,
) -> Result<VerifyReport> {
    let alg = key.algorithm();
    if opts.require_pq && alg.is_quantum_vulnerable() {
        return Err(Error::NotPostQuantum { alg: alg.id });
    }
    if bundle.len() > MAX_BUNDLE_LEN {
        return Err(Error::Bundle(format!(
            "{} bytes, more than the {MAX_BUNDLE_LEN}-byte limit",
            bundle.len()
        )));
    }
    let opened = bundle::open(bundle)?;
    if let Some(hint) = opened.hint
        && hint != bundle::key_hint(key)?
    {
        return Err(Error::KeyMismatch { hint });
    }
    key.verify(
        &bundle::pae(PAYLOAD_TYPE, &opened.payload),
        b"",
        &opened.sig,
    )
    .map_err(|_| Error::Signature)?;
    // Authenticated from here on.
    let signed = parse_statement(&opened.payload)?;
    let mut ignore = ignore_list(opts.ignore_git_paths, &opts.ignore_paths)?;
    ignore.extend(signed.ignore_paths);
    let actual = hash_model(
        path,
        signed.method,
        &ignore,
        opts.allow_symlinks,
        opts.threads,
        opts.progress.as_ref(),
    )?;
    let diff = diff(&signed.items, &actual.items);
    if !diff.is_empty() {
        return Err(Error::Mismatch(Box::new(diff)));
    }
    Ok(VerifyReport {
        algorithm: alg,
        post_quantum: !alg.is_quantum_vulnerable(),
        summary: Summary {
            model_name: signed.model_name,
            method: signed.method.name(),
            files: actual.files,
            items: actual.items.len(),
            bytes: actual.bytes,
            root_digest: signed.root,
        },
    })
}

/// model_signing 1.1 verifies elliptic-curve keys only (`sign_ec_key.py`); of those, qsafe
/// has P-256 and P-384.
fn model_signing_verifiable(alg: &Algorithm) -> bool {
    matches!(alg.alg_id, AlgId::EcdsaP256Sha256 | AlgId::EcdsaP384Sha384)
}

fn compat_key(key: &SigningKey) -> Result<SigningKey> {
    let id = key.algorithm().id;
    let ck = key.classical_component().map_err(|_| {
        Error::Unsupported(format!(
            "classical-compat needs a composite key; `{id}` is not one"
        ))
    })?;
    if !model_signing_verifiable(ck.algorithm()) {
        return Err(Error::Unsupported(format!(
            "classical-compat: the classical half of `{id}` is {}, and model_signing verifies \
             only ECDSA keys; use mldsa65-ecdsa-p256-sha512 or mldsa87-ecdsa-p384-sha512",
            ck.algorithm().id
        )));
    }
    Ok(ck)
}

/// One DSSE signature over the payload, in a bundle.
fn seal(payload: &[u8], key: &SigningKey) -> Result<Vec<u8>> {
    let sig = key.sign(&bundle::pae(PAYLOAD_TYPE, payload), b"")?;
    let hint = bundle::key_hint(&key.verifying_key()?)?;
    let alg = key.algorithm();
    // model_signing writes an empty keyid; other algorithms name themselves.
    let keyid = if model_signing_verifiable(alg) {
        ""
    } else {
        alg.name
    };
    bundle::encode(payload, &sig, keyid, &hint)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    Files,
    Shards(u64),
}

impl Method {
    fn name(self) -> &'static str {
        match self {
            Method::Files => "files",
            Method::Shards(_) => "shards",
        }
    }

    fn shard_size(self) -> Option<u64> {
        match self {
            Method::Files => None,
            Method::Shards(n) => Some(n),
        }
    }

    /// The resource `algorithm` (model_signing `io.ShardedFileHasher.digest_name`).
    fn algorithm(self) -> String {
        match self {
            Method::Files => "sha256".into(),
            Method::Shards(n) => format!("sha256-sharded-{n}"),
        }
    }
}

/// A manifest entry: a file, or the shard `[start, end)` of one.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Item {
    path: String,
    range: Option<(u64, u64)>,
    digest: [u8; 32],
}

impl Item {
    fn name(&self) -> String {
        match self.range {
            None => self.path.clone(),
            Some((s, e)) => format!("{}:{s}:{e}", self.path),
        }
    }
}

/// model_signing's order: `PurePosixPath` compares component lists, then shard offsets.
fn sort(items: &mut [Item]) {
    items.sort_by(|a, b| {
        a.path
            .split('/')
            .cmp(b.path.split('/'))
            .then(a.range.cmp(&b.range))
    });
}

fn root_digest(items: &[Item]) -> String {
    let mut h = Hasher::new(Hash::Sha256);
    for i in items {
        h.update(&i.digest);
    }
    hex::encode(h.finish())
}

struct Hashed {
    items: Vec<Item>,
    files: usize,
    bytes: u64,
}

fn hash_model(
    root: &Path,
    method: Method,
    ignore: &[String],
    allow_symlinks: bool,
    threads: Option<NonZeroUsize>,
    progress: Option<&Progress<'_>>,
) -> Result<Hashed> {
    let files = walk::files(root, ignore, allow_symlinks)?;
    let too_many = Error::TooManyItems { max: MAX_ITEMS };
    let mut jobs = Vec::new();
    let mut items = Vec::new();
    match method {
        Method::Files => {
            if files.len() > MAX_ITEMS {
                return Err(too_many);
            }
            for f in &files {
                jobs.push(hash::Job {
                    path: &f.path,
                    start: 0,
                    len: None,
                    size: f.len,
                });
                items.push((f.name.clone(), None));
            }
        }
        Method::Shards(size) => {
            // Count before allocating: a signed statement chooses the shard size.
            let count = files
                .iter()
                .try_fold(0u64, |n, f| n.checked_add(f.len.div_ceil(size)));
            if count.is_none_or(|n| n > MAX_ITEMS as u64) {
                return Err(too_many);
            }
            for f in &files {
                let mut start = 0;
                while start < f.len {
                    let end = start.saturating_add(size).min(f.len);
                    jobs.push(hash::Job {
                        path: &f.path,
                        start,
                        len: Some(end - start),
                        size: end - start,
                    });
                    items.push((f.name.clone(), Some((start, end))));
                    start = end;
                }
            }
        }
    }
    let threads = threads
        .or_else(|| std::thread::available_parallelism().ok())
        .map_or(1, NonZeroUsize::get);
    let digests = hash::digests(&jobs, threads, progress)?;
    let mut items: Vec<Item> = items
        .into_iter()
        .zip(digests)
        .map(|((path, range), digest)| Item {
            path,
            range,
            digest,
        })
        .collect();
    sort(&mut items);
    Ok(Hashed {
        items,
        files: files.len(),
        bytes: jobs.iter().map(|j| j.size).sum(),
    })
}

/// The model name model_signing records: the path's last component, or the resolved
/// directory's for `.` and `..`.
fn model_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .or_else(|| {
            std::fs::canonicalize(path)
                .ok()
                .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        })
        .unwrap_or_default()
}

fn ignore_list(git: bool, extra: &[PathBuf]) -> Result<Vec<String>> {
    let mut out: Vec<String> = if git {
        walk::GIT_PATHS.iter().map(|s| s.to_string()).collect()
    } else {
        Vec::new()
    };
    for p in extra {
        match walk::normalize(p)? {
            Some(s) if !s.is_empty() => out.push(s),
            _ => return Err(Error::IgnorePath(p.clone())),
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// A verified statement.
struct Signed {
    model_name: String,
    method: Method,
    ignore_paths: Vec<String>,
    items: Vec<Item>,
    root: String,
}

fn parse_statement(payload: &[u8]) -> Result<Signed> {
    let st: bundle::Statement = serde_json::from_slice(payload).map_err(error::bundle)?;
    if st.type_ != STATEMENT_TYPE {
        return Err(Error::Bundle(format!(
            "the payload is not an in-toto {STATEMENT_TYPE}"
        )));
    }
    if st.predicate_type != PREDICATE_TYPE {
        return Err(Error::Unsupported(format!(
            "predicate type {:?} (only {PREDICATE_TYPE})",
            st.predicate_type.chars().take(80).collect::<String>()
        )));
    }
    let [subject] = st.subject.as_slice() else {
        return Err(Error::Bundle("expected exactly one subject".into()));
    };
    let ser = &st.predicate.serialization;
    if ser.hash_type != "sha256" {
        return Err(Error::Unsupported(format!(
            "hash type {:?} (only sha256)",
            ser.hash_type.chars().take(40).collect::<String>()
        )));
    }
    let method = match (ser.method.as_str(), ser.shard_size) {
        ("files", _) => Method::Files,
        ("shards", Some(n)) if n > 0 => Method::Shards(n),
        ("shards", _) => return Err(Error::Bundle("shards need a positive shard_size".into())),
        (m, _) => {
            return Err(Error::Unsupported(format!(
                "serialization method {:?}",
                m.chars().take(40).collect::<String>()
            )));
        }
    };
    if st.predicate.resources.len() > MAX_ITEMS {
        return Err(Error::TooManyItems { max: MAX_ITEMS });
    }
    let algorithm = method.algorithm();
    let mut names = BTreeSet::new();
    let mut items = Vec::with_capacity(st.predicate.resources.len());
    for r in &st.predicate.resources {
        if r.algorithm != algorithm {
            return Err(Error::Bundle(format!(
                "a resource's algorithm is not {algorithm}"
            )));
        }
        let digest = hex::decode(&r.digest)
            .ok()
            .and_then(|d| <[u8; 32]>::try_from(d).ok())
            .ok_or_else(|| Error::Bundle("a resource digest is not 32 bytes of hex".into()))?;
        let (path, range) = match method {
            Method::Files => (r.name.clone(), None),
            Method::Shards(_) => parse_shard(&r.name)?,
        };
        if !names.insert(r.name.as_str()) {
            return Err(Error::Bundle("a resource is listed twice".into()));
        }
        items.push(Item {
            path,
            range,
            digest,
        });
    }
    let root = root_digest(&items);
    if !subject.digest.sha256.eq_ignore_ascii_case(&root) {
        return Err(Error::Bundle(
            "the subject digest does not match the resources".into(),
        ));
    }
    let mut ignore_paths = Vec::new();
    for p in &ser.ignore_paths {
        // Paths that cannot lie inside the model are skipped, as model_signing does.
        match walk::normalize(Path::new(p))? {
            Some(s) if s.is_empty() => {
                return Err(Error::Bundle(
                    "an ignore path covers the whole model".into(),
                ));
            }
            Some(s) => ignore_paths.push(s),
            None => {}
        }
    }
    Ok(Signed {
        model_name: subject.name.clone(),
        method,
        ignore_paths,
        items,
        root,
    })
}

/// `path:start:end` (model_signing `_ShardSerialization.new_item`).
fn parse_shard(name: &str) -> Result<(String, Option<(u64, u64)>)> {
    let bad = || Error::Bundle("a shard name is not path:start:end".into());
    let mut parts = name.split(':');
    let (Some(path), Some(start), Some(end), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    let start: u64 = start.parse().map_err(|_| bad())?;
    let end: u64 = end.parse().map_err(|_| bad())?;
    if end <= start {
        return Err(bad());
    }
    Ok((path.to_string(), Some((start, end))))
}

/// Files that differ, by path; a file whose shards differ in number or content is changed.
fn diff(expected: &[Item], actual: &[Item]) -> Diff {
    type Shards = BTreeSet<(Option<(u64, u64)>, [u8; 32])>;
    fn group(items: &[Item]) -> BTreeMap<&str, Shards> {
        let mut m: BTreeMap<&str, Shards> = BTreeMap::new();
        for i in items {
            m.entry(i.path.as_str())
                .or_default()
                .insert((i.range, i.digest));
        }
        m
    }
    let (want, have) = (group(expected), group(actual));
    let mut d = Diff::default();
    for (path, shards) in &want {
        match have.get(path) {
            None => d.removed.push(path.to_string()),
            Some(h) if h != shards => d.changed.push(path.to_string()),
            Some(_) => {}
        }
    }
    d.added = have
        .keys()
        .filter(|p| !want.contains_key(*p))
        .map(|p| p.to_string())
        .collect();
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(path: &str, range: Option<(u64, u64)>) -> Item {
        Item {
            path: path.into(),
            range,
            digest: [0; 32],
        }
    }

    #[test]
    fn order_is_by_path_components_like_purepath() {
        let mut items = vec![item("a/b", None), item("a-c", None), item("a.txt", None)];
        sort(&mut items);
        let names: Vec<_> = items.iter().map(Item::name).collect();
        // '-' < '.' < '/' as bytes, but "a" < "a-c" as components.
        assert_eq!(names, ["a/b", "a-c", "a.txt"]);
    }

    #[test]
    fn shard_names_round_trip_and_reject_junk() {
        let i = item("w.bin", Some((0, 10)));
        assert_eq!(
            parse_shard(&i.name()).unwrap(),
            ("w.bin".into(), Some((0, 10)))
        );
        for bad in ["w.bin", "a:1", "a:b:c", "a:5:5", "a:1:2:3", "a:-1:2"] {
            assert!(parse_shard(bad).is_err(), "{bad}");
        }
    }
}
