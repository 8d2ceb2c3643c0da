//! The PKCS#11 KEK against a real SoftHSM2 token.
//!
//! SoftHSM2 reads `SOFTHSM2_CONF` once, at `C_Initialize`, and environment variables are
//! process-wide (and `set_var` is `unsafe`, which the workspace forbids). So each test runs
//! in a child process of this test binary (`<exe> <test> --exact`) whose `SOFTHSM2_CONF`
//! names a token directory of its own, made by `scripts/softhsm-init.sh` in a temp dir: no
//! test depends on a system-wide token or on another test.
//!
//! Without SoftHSM2 the tests print a notice and pass, unless `QSAFE_REQUIRE_SOFTHSM=1`
//! (CI), where they fail. `QSAFE_SOFTHSM_MODULE` overrides the module path
//! (default `/usr/lib/softhsm/libsofthsm2.so`, Debian's `softhsm2` package).
#![cfg(feature = "pkcs11")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use qsafe_core::keys::PrivateKey;
use qsafe_keys::wrap::{Kek, Wrapped};
use qsafe_keys::{
    DirBackend, Error, InsecurePlaintextKek, KekInfo, KeyStore, Passphrase, Pkcs11Kek, Pkcs11Pin,
    Pkcs11Problem,
};
use serde_json::Value;

/// Token label and user PIN set by `scripts/softhsm-init.sh`.
const TOKEN: &str = "qsafe-test";
const USER_PIN: &str = "qsafe-test-user-pin";
/// Set in the child process that runs a test body.
const CHILD: &str = "QSAFE_PKCS11_TEST_CHILD";
const DEFAULT_MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";

fn module() -> PathBuf {
    std::env::var_os("QSAFE_SOFTHSM_MODULE").map_or_else(|| DEFAULT_MODULE.into(), PathBuf::from)
}

fn pin() -> Pkcs11Pin {
    Pkcs11Pin::new(USER_PIN.into()).unwrap()
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/softhsm-init.sh")
}

/// Runs `body` in a child process with a fresh token (see the module docs). `name` is the
/// test function's name; the child must report exactly one passed test.
fn on_token(name: &str, body: impl FnOnce(&Path)) {
    if std::env::var_os(CHILD).is_some() {
        body(&module());
        return;
    }
    let util = Command::new("softhsm2-util").arg("--version").output();
    let missing = match (&util, module().exists()) {
        (Ok(out), true) if out.status.success() => None,
        (_, true) => Some("softhsm2-util is not runnable".to_owned()),
        (_, false) => Some(format!("no PKCS#11 module at {}", module().display())),
    };
    if let Some(why) = missing {
        let required = std::env::var("QSAFE_REQUIRE_SOFTHSM").is_ok_and(|v| v == "1");
        assert!(
            !required,
            "QSAFE_REQUIRE_SOFTHSM=1 but SoftHSM2 is unavailable: {why}; \
             install it with `apt-get install softhsm2` (or set QSAFE_SOFTHSM_MODULE)"
        );
        // Straight to stderr: libtest captures `eprintln!` of passing tests. Said once.
        static SAID: AtomicBool = AtomicBool::new(false);
        if !SAID.swap(true, Ordering::Relaxed) {
            let _ = writeln!(
                std::io::stderr(),
                "\n*** SKIPPING the PKCS#11 tests: SoftHSM2 is unavailable ({why}). Install it \
                 with `apt-get install softhsm2`; QSAFE_REQUIRE_SOFTHSM=1 makes this a \
                 failure. ***\n"
            );
        }
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let init = Command::new("bash")
        .arg(script())
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        init.status.success(),
        "softhsm-init.sh failed: {}",
        String::from_utf8_lossy(&init.stderr)
    );
    let conf = dir.path().join("softhsm2.conf");
    assert_eq!(
        String::from_utf8_lossy(&init.stdout).trim(),
        format!("export SOFTHSM2_CONF={}", conf.display())
    );
    let out = Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env("SOFTHSM2_CONF", &conf)
        .env(CHILD, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    print!("{stdout}");
    eprint!("{stderr}");
    assert!(out.status.success(), "{name} failed in its token process");
    assert!(
        stdout.contains("test result: ok. 1 passed"),
        "the child process ran no test named {name}"
    );
}

fn pkcs11_problem(r: Result<impl std::fmt::Debug, Error>) -> (String, Pkcs11Problem) {
    match r {
        Err(e @ Error::Pkcs11 { .. }) => {
            let shown = e.to_string();
            assert!(!shown.contains(USER_PIN), "{shown}");
            let Error::Pkcs11 { problem, .. } = e else {
                unreachable!()
            };
            (shown, problem)
        }
        other => panic!("expected a PKCS#11 error, got {other:?}"),
    }
}

fn unauthentic(r: Result<impl std::fmt::Debug, Error>) {
    assert!(matches!(r, Err(Error::WrappedUnauthentic)), "{r:?}");
}

fn parts(w: &Wrapped) -> (Vec<u8>, Vec<u8>) {
    match w {
        Wrapped::Aes256Gcm { nonce, ciphertext } => (nonce.clone(), ciphertext.clone()),
        other => panic!("{other:?}"),
    }
}

#[test]
fn wrap_round_trip_on_the_token() {
    on_token("wrap_round_trip_on_the_token", |module| {
        let kek = Pkcs11Kek::create_key(module, TOKEN, &pin(), "kek").unwrap();
        let secret = b"a PKCS #8 private key, in spirit";
        let w = kek.wrap(b"aad", secret).unwrap();
        assert_eq!(w.scheme(), "aes-256-gcm");
        let (nonce, ciphertext) = parts(&w);
        assert_eq!(nonce.len(), 12);
        assert_eq!(ciphertext.len(), secret.len() + 16);
        assert_ne!(&ciphertext[..secret.len()], secret);
        assert_eq!(kek.unwrap(b"aad", &w).unwrap().expose(), secret);
        // Fresh IVs; an empty secret and empty AAD work too.
        assert_ne!(parts(&kek.wrap(b"aad", secret).unwrap()).0, nonce);
        let empty = kek.wrap(b"", b"").unwrap();
        assert!(kek.unwrap(b"", &empty).unwrap().is_empty());
        // A second handle on the same key (shared login) unwraps the first one's output.
        let again = Pkcs11Kek::open(module, TOKEN, &pin(), "kek").unwrap();
        assert_eq!(again.unwrap(b"aad", &w).unwrap().expose(), secret);
        assert_eq!(again.describe(), kek.describe());
        assert_eq!(
            kek.describe(),
            KekInfo::Pkcs11 {
                token_label: TOKEN.into(),
                key_label: "kek".into()
            }
        );
        let shown = format!("{kek:?}");
        assert!(
            shown.contains("kek") && !shown.contains(USER_PIN),
            "{shown}"
        );
    });
}

#[test]
fn tampered_material_or_aad_is_unauthentic() {
    on_token("tampered_material_or_aad_is_unauthentic", |module| {
        let kek = Pkcs11Kek::create_key(module, TOKEN, &pin(), "kek").unwrap();
        let w = kek.wrap(b"aad", b"secret material").unwrap();
        let (nonce, ciphertext) = parts(&w);
        let with = |nonce: &[u8], ciphertext: &[u8]| Wrapped::Aes256Gcm {
            nonce: nonce.to_vec(),
            ciphertext: ciphertext.to_vec(),
        };
        let flip = |bytes: &[u8], i: usize| {
            let mut b = bytes.to_vec();
            b[i] ^= 1;
            b
        };
        unauthentic(kek.unwrap(b"aaD", &w));
        unauthentic(kek.unwrap(b"", &w));
        unauthentic(kek.unwrap(b"aad", &with(&nonce, &flip(&ciphertext, 0))));
        let tag_byte = ciphertext.len() - 1;
        unauthentic(kek.unwrap(b"aad", &with(&nonce, &flip(&ciphertext, tag_byte))));
        unauthentic(kek.unwrap(b"aad", &with(&flip(&nonce, 11), &ciphertext)));
        unauthentic(kek.unwrap(b"aad", &with(&nonce, &ciphertext[..ciphertext.len() - 1])));
        unauthentic(kek.unwrap(b"aad", &with(&nonce, &ciphertext[..15])));
        unauthentic(kek.unwrap(b"aad", &with(&nonce[..11], &ciphertext)));
        unauthentic(kek.unwrap(b"aad", &with(&nonce, &ciphertext[16..])));
        let planted = InsecurePlaintextKek
            .wrap(b"aad", b"secret material")
            .unwrap();
        unauthentic(kek.unwrap(b"aad", &planted));
        // Material wrapped under another token key does not authenticate either.
        let other = Pkcs11Kek::create_key(module, TOKEN, &pin(), "other").unwrap();
        unauthentic(other.unwrap(b"aad", &w));
        // The sessions that saw the failures were dropped; the KEK still works.
        assert_eq!(kek.unwrap(b"aad", &w).unwrap().expose(), b"secret material");
    });
}

#[test]
fn wrong_pin_is_refused_without_showing_it() {
    on_token("wrong_pin_is_refused_without_showing_it", |module| {
        let wrong = Pkcs11Pin::new("not-the-pin-9876".into()).unwrap();
        let check = |r: Result<Pkcs11Kek, Error>| {
            let (shown, problem) = pkcs11_problem(r);
            assert!(matches!(problem, Pkcs11Problem::PinIncorrect), "{shown}");
            assert!(shown.contains("PIN is incorrect"), "{shown}");
            assert!(shown.contains(TOKEN), "{shown}");
            assert!(!shown.contains("not-the-pin-9876"), "{shown}");
        };
        // Asked of the token (nobody logged in yet)...
        check(Pkcs11Kek::create_key(module, TOKEN, &wrong, "kek"));
        let kek = Pkcs11Kek::create_key(module, TOKEN, &pin(), "kek").unwrap();
        // ...and against the shared login while one is open (the token would not check it).
        check(Pkcs11Kek::open(module, TOKEN, &wrong, "kek"));
        drop(kek);
        // The login was released with the last KEK: the token decides again.
        check(Pkcs11Kek::open(module, TOKEN, &wrong, "kek"));
        Pkcs11Kek::open(module, TOKEN, &pin(), "kek").unwrap();
    });
}

#[test]
fn missing_key_or_token_is_named() {
    on_token("missing_key_or_token_is_named", |module| {
        let (shown, problem) = pkcs11_problem(Pkcs11Kek::open(module, TOKEN, &pin(), "nope"));
        assert!(
            matches!(&problem, Pkcs11Problem::KeyNotFound { key } if key == "nope"),
            "{shown}"
        );
        assert_eq!(
            shown,
            format!(
                "PKCS#11 token `{TOKEN}`: no secret key labelled `nope` on the token; create it \
                 first (Pkcs11Kek::create_key)"
            )
        );
        let (shown, problem) =
            pkcs11_problem(Pkcs11Kek::open(module, "no-such-token", &pin(), "kek"));
        assert!(
            matches!(problem, Pkcs11Problem::TokenNotFound { .. }),
            "{shown}"
        );
        assert!(shown.contains("`no-such-token`"), "{shown}");
        assert!(shown.contains(&format!("`{TOKEN}`")), "{shown}");
        assert!(shown.contains(&module.display().to_string()), "{shown}");
        let (shown, problem) = pkcs11_problem(Pkcs11Kek::open(
            "/nonexistent/libsofthsm2.so",
            TOKEN,
            &pin(),
            "kek",
        ));
        assert!(matches!(problem, Pkcs11Problem::Module { .. }), "{shown}");
        assert!(shown.contains("/nonexistent/libsofthsm2.so"), "{shown}");
    });
}

#[test]
fn create_key_refuses_a_duplicate_label() {
    on_token("create_key_refuses_a_duplicate_label", |module| {
        let kek = Pkcs11Kek::create_key(module, TOKEN, &pin(), "kek").unwrap();
        let w = kek.wrap(b"", b"x").unwrap();
        let (shown, problem) = pkcs11_problem(Pkcs11Kek::create_key(module, TOKEN, &pin(), "kek"));
        assert!(
            matches!(&problem, Pkcs11Problem::KeyExists { key } if key == "kek"),
            "{shown}"
        );
        // Refused before anything was generated: the label still names one key, the same one.
        let reopened = Pkcs11Kek::open(module, TOKEN, &pin(), "kek").unwrap();
        assert_eq!(reopened.unwrap(b"", &w).unwrap().expose(), b"x");
    });
}

#[test]
fn the_key_is_sensitive_and_not_extractable() {
    on_token("the_key_is_sensitive_and_not_extractable", |module| {
        let kek = Pkcs11Kek::create_key(module, TOKEN, &pin(), "kek").unwrap();
        for k in [
            &kek,
            &Pkcs11Kek::open(module, TOKEN, &pin(), "kek").unwrap(),
        ] {
            let p = k.key_properties().unwrap();
            assert!(p.sensitive, "{p:?}");
            assert!(!p.extractable, "{p:?}");
            assert!(p.always_sensitive && p.never_extractable, "{p:?}");
            assert!(p.token && p.private, "{p:?}");
            assert_eq!(p.value_len, 32);
            assert!(p.is_hardware_bound());
        }
    });
}

fn meta(root: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(root.join("store.json")).unwrap()).unwrap()
}

#[test]
fn key_store_round_trip_over_the_token() {
    on_token("key_store_round_trip_over_the_token", |module| {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("store");
        let kek = Pkcs11Kek::create_key(module, TOKEN, &pin(), "store-kek").unwrap();
        let store = KeyStore::init(DirBackend::new(&root), kek).unwrap();
        assert!(!store.is_insecure());
        store.create("x", "x-wing").unwrap();
        store.rotate("x").unwrap();
        let ek = store.encapsulation_key("x").unwrap();
        assert_eq!(ek.version, 2);
        let (ct, shared) = ek.key.encapsulate().unwrap();
        drop(store);

        // The store records the labels only: no module path, no PIN.
        let m = meta(&root);
        assert_eq!(
            m["kek"],
            serde_json::json!({"kind": "pkcs11", "token_label": TOKEN, "key_label": "store-kek"})
        );
        // The same stored form as a passphrase store's (`Wrapped::Aes256Gcm`).
        let record: Value =
            serde_json::from_slice(&std::fs::read(root.join("keys/x.json")).unwrap()).unwrap();
        for v in 0..2 {
            let private = &record["versions"][v]["private"];
            assert_eq!(private["scheme"], "aes256-gcm", "{record}");
            assert_eq!(private["nonce"].as_str().unwrap().len(), 16, "{record}");
        }
        for file in [root.join("store.json"), root.join("keys/x.json")] {
            let text = std::fs::read_to_string(file).unwrap();
            assert!(!text.contains(USER_PIN) && !text.contains("libsofthsm2"));
        }

        // Reopen from the store's own record, and with an explicitly built KEK.
        let store = KeyStore::open_with_pkcs11(DirBackend::new(&root), module, &pin()).unwrap();
        let dk = store.decapsulation_key("x", 2).unwrap();
        assert_eq!(dk.decapsulate(&ct).unwrap(), shared);
        store.decapsulation_key("x", 1).unwrap();
        assert!(store.verify_audit().unwrap().is_clean());
        drop(store);
        let kek = Pkcs11Kek::open(module, TOKEN, &pin(), "store-kek").unwrap();
        let store = KeyStore::open(DirBackend::new(&root), kek).unwrap();
        store.decapsulation_key("x", 2).unwrap();

        // A Kubernetes key bundle unlocks with the token key, and says so without it.
        let bundle = store.export_wrapped("x", None).unwrap();
        let err = bundle.unlock(None).unwrap_err();
        assert!(err.to_string().contains("pkcs11 KEK"), "{err}");
        let kek = Pkcs11Kek::open(module, TOKEN, &pin(), "store-kek").unwrap();
        match bundle.unlock_with(&kek).unwrap() {
            PrivateKey::Kem(dk) => assert_eq!(dk.decapsulate(&ct).unwrap(), shared),
            PrivateKey::Sig(_) => panic!("x-wing is a KEM"),
        }
        let other = Pkcs11Kek::create_key(module, TOKEN, &pin(), "other").unwrap();
        let err = bundle.unlock_with(&other).unwrap_err();
        assert!(matches!(err, Error::KekMismatch { .. }), "{err}");

        // The same token key reached through another module path is the same KEK.
        let link = dir.path().join("module-link.so");
        std::os::unix::fs::symlink(std::fs::canonicalize(module).unwrap(), &link).unwrap();
        let store = KeyStore::open_with_pkcs11(DirBackend::new(&root), &link, &pin()).unwrap();
        store.decapsulation_key("x", 1).unwrap();

        // A passphrase does not open it.
        let p = Passphrase::new("correct horse".into()).unwrap();
        let err = KeyStore::open_with_passphrase(DirBackend::new(&root), &p).unwrap_err();
        assert!(matches!(err, Error::KekMismatch { .. }), "{err}");
        assert!(err.to_string().contains("uses a pkcs11"), "{err}");
    });
}

#[test]
fn another_token_key_does_not_open_the_store() {
    on_token("another_token_key_does_not_open_the_store", |module| {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("store");
        let kek = Pkcs11Kek::create_key(module, TOKEN, &pin(), "kek-a").unwrap();
        let store = KeyStore::init(DirBackend::new(&root), kek).unwrap();
        store.create("x", "x-wing").unwrap();
        drop(store);
        let b = || Pkcs11Kek::create_key(module, TOKEN, &pin(), "kek-b");
        let kek_b = b().unwrap();

        // Another label: refused by the recorded labels, both named.
        let err = KeyStore::open(DirBackend::new(&root), kek_b).unwrap_err();
        assert!(matches!(err, Error::KekMismatch { .. }), "{err}");
        assert!(
            err.to_string()
                .contains("its key is `kek-a` on token `qsafe-test`, but key `kek-b`"),
            "{err}"
        );

        // Same labels, other key (as after a token is re-initialised): the check value says so.
        let mut m = meta(&root);
        m["kek"]["key_label"] = "kek-b".into();
        std::fs::write(
            root.join("store.json"),
            serde_json::to_vec_pretty(&m).unwrap(),
        )
        .unwrap();
        let err = KeyStore::open_with_pkcs11(DirBackend::new(&root), module, &pin()).unwrap_err();
        assert!(
            matches!(err, Error::WrongKek { ref kind, .. } if kind == "pkcs11"),
            "{err}"
        );
        assert_eq!(
            err.to_string(),
            format!(
                "the pkcs11 key-encryption key does not open the key store at {}",
                root.display()
            )
        );
        // And a store needing a missing key says which.
        m["kek"]["key_label"] = "kek-gone".into();
        std::fs::write(
            root.join("store.json"),
            serde_json::to_vec_pretty(&m).unwrap(),
        )
        .unwrap();
        let (shown, problem) = pkcs11_problem(KeyStore::open_with_pkcs11(
            DirBackend::new(&root),
            module,
            &pin(),
        ));
        assert!(
            matches!(problem, Pkcs11Problem::KeyNotFound { .. }),
            "{shown}"
        );
    });
}

#[test]
fn threads_wrap_and_unwrap_at_once() {
    on_token("threads_wrap_and_unwrap_at_once", |module| {
        let kek = Arc::new(Pkcs11Kek::create_key(module, TOKEN, &pin(), "kek").unwrap());
        let module = module.to_path_buf();
        let threads: Vec<_> = (0..8u8)
            .map(|t| {
                let kek = Arc::clone(&kek);
                let module = module.clone();
                std::thread::spawn(move || {
                    // Half the threads also open (and drop) their own handle on the token.
                    let own = (t % 2 == 1)
                        .then(|| Pkcs11Kek::open(&module, TOKEN, &pin(), "kek").unwrap());
                    for i in 0..25u8 {
                        let secret = [t, i, 0xAA];
                        let aad = [i, t];
                        let w = kek.wrap(&aad, &secret).unwrap();
                        let by = own.as_ref().unwrap_or(&*kek);
                        assert_eq!(by.unwrap(&aad, &w).unwrap().expose(), secret);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        // The shared login survived the handles that came and went.
        let w = kek.wrap(b"", b"after").unwrap();
        assert_eq!(kek.unwrap(b"", &w).unwrap().expose(), b"after");
    });
}
