//! Files are 0600 and directories 0700; no temporary file survives a write.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod support;

use std::os::unix::fs::PermissionsExt;

#[test]
fn files_0600_dirs_0700() {
    let dir = tempfile::tempdir().unwrap();
    let (store, root) = support::new_store(dir.path());
    store.create("a", "x-wing").unwrap();
    store.create("b", "ml-dsa-65").unwrap();
    store.rotate("a").unwrap();
    store.destroy("a", 1).unwrap();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&root), 0o700);
    assert_eq!(mode(&root.join("keys")), 0o700);
    let files = support::snapshot(&root);
    let names: Vec<String> = files
        .keys()
        .map(|p| p.strip_prefix(&root).unwrap().display().to_string())
        .collect();
    assert_eq!(
        names,
        [
            "audit.jsonl",
            "keys/a.json",
            "keys/b.json",
            "lock",
            "store.json"
        ]
    );
    for path in files.keys() {
        assert_eq!(mode(path), 0o600, "{}", path.display());
    }
}

#[test]
fn an_existing_root_is_tightened_to_0700() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("store");
    std::fs::create_dir(&root).unwrap();
    std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)).unwrap();
    qsafe_keys::KeyStore::init(
        qsafe_keys::DirBackend::new(&root),
        qsafe_keys::InsecurePlaintextKek,
    )
    .unwrap();
    assert_eq!(
        std::fs::metadata(&root).unwrap().permissions().mode() & 0o777,
        0o700
    );
}
