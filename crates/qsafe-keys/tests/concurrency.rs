//! Concurrent writers never lose an update, and a writer killed (SIGKILL) at any point leaves
//! a store that opens with the old or the new key set and whose audit log verifies.
//!
//! Child processes are this test binary run again with `QSAFE_KEYS_CHILD` set, executing only
//! the `child_process` test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use qsafe_keys::{DirBackend, KeyStore, Status};
use support::{new_store, open};

const CHILD_ENV: &str = "QSAFE_KEYS_CHILD";
const ROOT_ENV: &str = "QSAFE_KEYS_ROOT";

/// Entry point of the child processes; does nothing in a normal test run.
#[test]
fn child_process() {
    let Ok(mode) = std::env::var(CHILD_ENV) else {
        return;
    };
    let root = std::env::var(ROOT_ENV).unwrap();
    let store = open(Path::new(&root)).with_actor(format!("child-{}", std::process::id()));
    match mode.as_str() {
        "rotate20" => {
            for _ in 0..20 {
                store.rotate("k").unwrap();
            }
        }
        "forever" => {
            println!("READY");
            let pid = std::process::id();
            for i in 0u64.. {
                store.rotate("k").unwrap();
                store.create(&format!("c-{pid}-{i}"), "x-wing").unwrap();
                if i % 3 == 0 {
                    store.set_policy("k", Some(1), None).unwrap();
                }
            }
        }
        other => panic!("unknown child mode {other}"),
    }
}

fn child(root: &Path, mode: &str) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "--exact",
        "child_process",
        "--nocapture",
        "--test-threads=1",
        "--quiet",
    ])
    .env(CHILD_ENV, mode)
    .env(ROOT_ENV, root);
    cmd
}

/// The store agrees with its log: each key has exactly one `create`, one version per `ok`
/// rotate plus one, exactly one active version (checked when the record is read).
fn assert_consistent(store: &KeyStore<DirBackend>, root: &Path) {
    let lines = support::audit_lines(root);
    let count = |op: &str, name: &str| {
        lines
            .iter()
            .filter(|l| l["op"] == op && l["key"] == name && l["outcome"] == "ok")
            .count()
    };
    let keys = store.list().unwrap();
    for key in &keys {
        let name = key.name.as_str();
        assert_eq!(count("create", name), 1, "{name}");
        assert_eq!(key.versions.len(), count("rotate", name) + 1, "{name}");
        assert_eq!(key.active().unwrap().status, Status::Active);
    }
    let creates = lines
        .iter()
        .filter(|l| l["op"] == "create" && l["outcome"] == "ok")
        .count();
    assert_eq!(creates, keys.len(), "every logged create has its key");
}

#[test]
fn threads_hammering_rotate_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (store, root) = new_store(dir.path());
    store.create("k", "x-wing").unwrap();
    const THREADS: usize = 4;
    const EACH: usize = 15;
    std::thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| {
                let store = open(&root);
                for _ in 0..EACH {
                    store.rotate("k").unwrap();
                }
            });
        }
        // A reader alongside the writers always sees a whole key.
        s.spawn(|| {
            let store = open(&root);
            for _ in 0..50 {
                let key = store.show("k").unwrap();
                store.decapsulation_key("k", key.latest()).unwrap();
            }
        });
    });
    let key = store.show("k").unwrap();
    assert_eq!(key.versions.len(), THREADS * EACH + 1);
    let report = store.verify_audit().unwrap();
    assert!(report.is_clean());
    assert_eq!(report.lines as usize, 2 + THREADS * EACH);
    assert_consistent(&store, &root);
}

#[test]
fn processes_hammering_rotate_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (store, root) = new_store(dir.path());
    store.create("k", "x-wing").unwrap();
    let children: Vec<_> = (0..3)
        .map(|_| {
            child(&root, "rotate20")
                .stdout(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    assert_eq!(store.show("k").unwrap().versions.len(), 3 * 20 + 1);
    assert!(store.verify_audit().unwrap().is_clean());
    assert_consistent(&store, &root);
}

/// A small PRNG from the OS CSPRNG seed (no extra dependency).
fn random_below(n: u64) -> u64 {
    let b = qsafe_core::secret::random_bytes(8).unwrap();
    u64::from_le_bytes(b.expose().try_into().unwrap()) % n
}

fn kill_writers(iterations: usize) {
    let dir = tempfile::tempdir().unwrap();
    let (store, root) = new_store(dir.path());
    store.create("k", "x-wing").unwrap();
    let (mut applied, mut not_applied, mut torn) = (0, 0, 0);
    for i in 0..iterations {
        let mut c = child(&root, "forever")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(c.stdout.take().unwrap());
        let mut line = String::new();
        while out.read_line(&mut line).unwrap() > 0 && !line.contains("READY") {
            line.clear();
        }
        std::thread::sleep(Duration::from_micros(random_below(8_000)));
        c.kill().unwrap();
        c.wait().unwrap();
        // Opens, with whole records; the log verifies (a pending line or torn tail allowed).
        let store = open(&root);
        let report = store
            .verify_audit()
            .unwrap_or_else(|e| panic!("iteration {i}: {e}"));
        match report.pending.map(|p| p.applied) {
            Some(true) => applied += 1,
            Some(false) => not_applied += 1,
            None => {}
        }
        torn += usize::from(report.torn_bytes > 0);
        store
            .list()
            .unwrap_or_else(|e| panic!("iteration {i}: {e}"));
        // The next write resolves what the crash left; then store and log agree exactly.
        store.export_public("k", None).unwrap();
        assert!(store.verify_audit().unwrap().is_clean(), "iteration {i}");
        assert_consistent(&store, &root);
    }
    let store = open(&root);
    let versions = store.show("k").unwrap().versions.len();
    println!(
        "{iterations} kills: {versions} versions of k, {} keys; recovered {applied} applied and \
         {not_applied} unapplied pending lines, {torn} torn lines",
        store.list().unwrap().len()
    );
    assert!(versions > 1, "the children made progress");
}

#[test]
fn sigkill_during_writes_200() {
    kill_writers(200);
}

#[test]
#[ignore = "long: 1000 kills"]
fn sigkill_during_writes_1000() {
    kill_writers(1000);
}
