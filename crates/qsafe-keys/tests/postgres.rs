//! The PostgreSQL backend against a real server (`QSAFE_TEST_POSTGRES`, a libpq connection
//! string; `.ci/run` starts one on loopback): two connections see each other's rotations at
//! once, two processes rotating concurrently lose no update, policy and audit hold.
#![cfg(feature = "postgres")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::process::Command;

use qsafe_keys::backend::postgres::PgBackend;
use qsafe_keys::{Argon2Cost, KeyStore, Passphrase, PassphraseKek};

const CHILD: &str = "QSAFE_PG_TEST_CHILD_SCHEMA";
const ROTATIONS: u32 = 15;

fn conn() -> Option<String> {
    let c = std::env::var("QSAFE_TEST_POSTGRES").ok();
    if c.is_none() {
        eprintln!("notice: QSAFE_TEST_POSTGRES is not set; the PostgreSQL tests do not run");
    }
    c
}

fn pass() -> Passphrase {
    Passphrase::new("postgres test passphrase".into()).unwrap()
}

fn open(conn: &str, schema: &str) -> KeyStore<PgBackend> {
    KeyStore::open_with_passphrase(PgBackend::connect(conn, schema).unwrap(), &pass()).unwrap()
}

/// Run as a child process: rotate the shared key ROTATIONS times.
#[test]
fn child_rotates() {
    let (Ok(schema), Some(conn)) = (std::env::var(CHILD), conn()) else {
        return;
    };
    let store = open(&conn, &schema);
    for _ in 0..ROTATIONS {
        store.rotate("shared").unwrap();
    }
}

#[test]
fn replicas_share_one_store() {
    let Some(conn) = conn() else { return };
    if std::env::var(CHILD).is_ok() {
        return;
    }
    let schema = format!(
        "qsafe_test_{}_{}",
        std::process::id(),
        qsafe_keys::model::unix_now()
    );
    let kek = PassphraseKek::with_cost(&pass(), Argon2Cost::INSECURE_FAST_FOR_TESTS).unwrap();
    let a = KeyStore::init(PgBackend::connect(&conn, &schema).unwrap(), kek).unwrap();
    assert!(
        KeyStore::init(
            PgBackend::connect(&conn, &schema).unwrap(),
            PassphraseKek::with_cost(&pass(), Argon2Cost::INSECURE_FAST_FOR_TESTS).unwrap()
        )
        .is_err(),
        "a second init is refused"
    );
    a.create("shared", "x-wing").unwrap();
    let b = open(&conn, &schema);
    assert_eq!(b.show("shared").unwrap().latest(), 1);
    a.rotate("shared").unwrap();
    assert_eq!(
        b.show("shared").unwrap().latest(),
        2,
        "b sees a's rotation at once"
    );

    // Encrypt to b's view of the active version, decrypt through a.
    let ek = b.encapsulation_key("shared").unwrap();
    let (ct, ss) = ek.key.encapsulate().unwrap();
    assert_eq!(
        a.decapsulation_key("shared", ek.version)
            .unwrap()
            .decapsulate(&ct)
            .unwrap(),
        ss
    );

    // Two processes rotate concurrently: no update is lost, the chain stays whole.
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..2)
        .map(|_| {
            Command::new(&exe)
                .args(["--exact", "child_rotates", "--nocapture"])
                .env(CHILD, &schema)
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    assert_eq!(a.show("shared").unwrap().latest(), 2 + 2 * ROTATIONS);
    assert!(a.verify_audit().unwrap().is_clean());

    // Policy set through one replica binds the other.
    b.set_policy("shared", Some(3), None).unwrap();
    let err = a.decapsulation_key("shared", 2).unwrap_err();
    assert!(err.to_string().contains("min_decryption_version"), "{err}");

    // A wrong passphrase is refused before anything is read.
    let wrong = Passphrase::new("wrong".into()).unwrap();
    let err = KeyStore::open_with_passphrase(PgBackend::connect(&conn, &schema).unwrap(), &wrong)
        .unwrap_err();
    assert!(err.to_string().contains("wrong passphrase"), "{err}");

    // Backups taken from the database restore into a directory store.
    let (bytes, summary) = qsafe_keys::backup::backup(a.backend()).unwrap();
    assert_eq!(summary.keys, 1);
    let dir = tempfile::tempdir().unwrap();
    let target = qsafe_keys::DirBackend::new(dir.path().join("s"));
    qsafe_keys::backup::restore(&target, &bytes, "backup").unwrap();
    let restored =
        KeyStore::open_with_passphrase(qsafe_keys::DirBackend::new(dir.path().join("s")), &pass())
            .unwrap();
    assert_eq!(restored.show("shared").unwrap().latest(), 2 + 2 * ROTATIONS);

    // Clean up the schema.
    let mut c = postgres::Client::connect(&conn, postgres::NoTls).unwrap();
    c.batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
        .unwrap();
}
