//! Kubernetes Secret export: the manifest's shape, and the mounted `key-bundle.json` unlocks
//! to the stored key with the store passphrase (and only with it).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use base64::Engine as _;
use qsafe_core::keys::PrivateKey;
use qsafe_keys::k8s::KeyBundle;
use qsafe_keys::{Argon2Cost, DirBackend, KeyStore, Passphrase, PassphraseKek};

#[test]
fn secret_manifest_carries_a_bundle_that_unlocks_with_the_passphrase() {
    let dir = tempfile::tempdir().unwrap();
    let pass = Passphrase::new("k8s test passphrase".into()).unwrap();
    let kek = PassphraseKek::with_cost(&pass, Argon2Cost::INSECURE_FAST_FOR_TESTS).unwrap();
    let store = KeyStore::init(DirBackend::new(dir.path().join("s")), kek).unwrap();
    store.create("gateway_tls", "x-wing").unwrap();
    store.rotate("gateway_tls").unwrap();

    let bundle = store.export_wrapped("gateway_tls", None).unwrap();
    assert_eq!(bundle.version, 2);
    let manifest = bundle.secret_manifest(None, Some("Inference")).unwrap();
    for line in [
        "apiVersion: v1",
        "kind: Secret",
        "  name: qsafe-gateway-tls-v2",
        "  namespace: inference",
        "    qsafe.dev/key-version: \"2\"",
        "    qsafe.dev/algorithm: \"x-wing\"",
        "type: Opaque",
    ] {
        assert!(
            manifest.lines().any(|l| l == line),
            "missing {line:?} in\n{manifest}"
        );
    }
    assert!(manifest.contains(&format!("qsafe.dev/key-id: \"{}\"", bundle.fingerprint)));
    let fixed = bundle.secret_manifest(Some("Gateway_OHTTP"), None).unwrap();
    assert!(
        fixed.lines().any(|l| l == "  name: gateway-ohttp"),
        "{fixed}"
    );
    assert!(bundle.secret_manifest(Some("__"), None).is_err());

    // What a pod sees: the data value base64-decoded into a file.
    let encoded = manifest
        .lines()
        .find_map(|l| l.strip_prefix("  key-bundle.json: "))
        .unwrap();
    let mounted = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .unwrap();
    assert!(!String::from_utf8_lossy(&mounted).contains("PRIVATE KEY"));
    let parsed = KeyBundle::from_json(&mounted, "key-bundle.json").unwrap();
    let key = parsed.unlock(Some(&pass)).unwrap();
    let PrivateKey::Kem(dk) = key else {
        panic!("expected a KEM key")
    };
    let ek = store.encapsulation_key("gateway_tls").unwrap();
    let (ct, ss) = ek.key.encapsulate().unwrap();
    assert_eq!(dk.decapsulate(&ct).unwrap(), ss);

    let wrong = Passphrase::new("not it".into()).unwrap();
    let err = parsed.unlock(Some(&wrong)).unwrap_err();
    assert!(err.to_string().contains("wrong passphrase"), "{err}");
    assert!(parsed.unlock(None).is_err());

    // The export is audited; destroyed versions cannot be exported.
    let log = std::fs::read_to_string(dir.path().join("s/audit.jsonl")).unwrap();
    assert!(log.contains("\"export-wrapped\""));
    store.retire("gateway_tls", 1).unwrap();
    assert!(store.export_wrapped("gateway_tls", Some(1)).is_err());
}
