//! Helpers shared by the integration tests.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    dead_code // each test binary uses a different subset
)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use qsafe_keys::audit::AuditProblem;
use qsafe_keys::{Argon2Cost, DirBackend, Error, KeyStore, Passphrase, PassphraseKek};

pub const PASSPHRASE: &str = "correct horse battery staple";

pub fn passphrase() -> Passphrase {
    Passphrase::new(PASSPHRASE.to_owned()).unwrap()
}

/// A fresh passphrase store with test-only Argon2 costs, in `<tmp>/store`.
pub fn new_store(dir: &Path) -> (KeyStore<DirBackend>, PathBuf) {
    let root = dir.join("store");
    let kek = PassphraseKek::with_cost(&passphrase(), Argon2Cost::INSECURE_FAST_FOR_TESTS).unwrap();
    let store = KeyStore::init(DirBackend::new(&root), kek)
        .unwrap()
        .with_actor("tester");
    (store, root)
}

pub fn open(root: &Path) -> KeyStore<DirBackend> {
    KeyStore::open_with_passphrase(DirBackend::new(root), &passphrase())
        .unwrap()
        .with_actor("tester")
}

/// Every file under `root` with its bytes: "nothing changed" is equality of two snapshots.
pub fn snapshot(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.insert(path.clone(), std::fs::read(&path).unwrap());
            }
        }
    }
    out
}

pub fn audit_problem<T: std::fmt::Debug>(r: Result<T, Error>) -> AuditProblem {
    match r {
        Err(Error::Audit { problem, .. }) => problem,
        other => panic!("expected an audit problem, got {other:?}"),
    }
}

/// The audit log's lines as JSON values.
pub fn audit_lines(root: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(root.join("audit.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Lines whose op, key and outcome match.
pub fn count_lines(root: &Path, op: &str, key: &str, outcome: &str) -> usize {
    audit_lines(root)
        .iter()
        .filter(|l| l["op"] == op && l["key"] == key && l["outcome"] == outcome)
        .count()
}
