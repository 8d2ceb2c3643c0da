//! RFC 9421 and c2sp httpsig-pq against published examples.
//!
//! | test | source | cases |
//! |---|---|---|
//! | `c2sp_httpsig_pq_vectors` | `$QSAFE_VECTORS/c2sp-specs/httpsig-pq-test-vectors.json` (c2sp.org/httpsig-pq v1.0.0): seed → pk, signature base, deterministic re-sign, verify | 3 |
//! | `rfc9421_b26_*` | RFC 9421 Appendix B.2.6 (Ed25519 over the test request; key B.1.4), embedded | 1 |
//! | `rfc9421_b24_*` | RFC 9421 Appendix B.2.4 (ECDSA P-256 over the test response; key B.1.3), embedded | 1 |
//! | `rfc9421_2_4_*` | RFC 9421 §2.4 (`;req` components in a response signature, ECDSA P-256), embedded | 1 |
//! | `rfc9530_*` | RFC 9530 Appendix B / RFC 9421 Appendix B.2 bodies and `Content-Digest` values | 3 |
//!
//! The vector file is read from `$QSAFE_VECTORS` (default: `shared/vectors` beside the
//! workspace); a missing file fails the test with a message saying where to find it. The RFC
//! example texts below are quoted from RFC 9421 (February 2024) and RFC 9530.

// Test code: a failed unwrap is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use qsafe_core::keys::codec::{private_from_bytes, public_from_bytes};
use qsafe_core::keys::{PrivateKey, PublicKey};
use qsafe_core::registry::{self, Kind};
use qsafe_core::sig::{SigningKey, VerifyingKey};
use qsafe_core::symmetric::Hash;
use qsafe_gateway::httpsig::{
    self, ComponentId, DigestAlgorithm, Fields, ManualClock, Policy, Request, Requirement,
    Response, SignatureParams, Signer, Verifier, alg, content_digest, parse_signature_input,
    verify_content_digest,
};
use serde_json::Value;

// ---- helpers -----------------------------------------------------------------------------------

fn vectors_dir() -> PathBuf {
    std::env::var_os("QSAFE_VECTORS").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/vectors"),
        PathBuf::from,
    )
}

fn load_json(rel: &str) -> Value {
    let path = vectors_dir().join(rel);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read test vector file {} ({e}): set QSAFE_VECTORS to the shared/vectors \
             folder (see its SOURCES.md)",
            path.display()
        )
    });
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{rel} is not JSON: {e}"))
}

fn field<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("missing string field {key}"))
}

fn b64(s: &str) -> Vec<u8> {
    STANDARD.decode(s).unwrap()
}

fn resolver(keyid: &str, key: VerifyingKey) -> Arc<HashMap<String, VerifyingKey>> {
    Arc::new(HashMap::from([(keyid.to_owned(), key)]))
}

fn verifier(keyid: &str, key: VerifyingKey, policy: Policy, now: i64) -> Verifier {
    Verifier::new(resolver(keyid, key), policy).with_clock(Arc::new(ManualClock::new(now)))
}

// ---- c2sp httpsig-pq --------------------------------------------------------------------------

/// The request all three c2sp vectors sign (recovered from their signature bases).
fn c2sp_request() -> Request {
    Request::from_target_uri("GET", "https://example.com/foo?param=Value&Pet=dog")
        .unwrap()
        .with_header("Host", "example.com")
        .with_header("Date", "Mon, 06 Jul 2026 20:00:00 GMT")
}

#[test]
fn c2sp_httpsig_pq_vectors() {
    let json = load_json("c2sp-specs/httpsig-pq-test-vectors.json");
    let vectors = json.get("vectors").and_then(Value::as_array).unwrap();
    let mut n = 0;
    for v in vectors {
        let name = field(v, "algorithm");
        let http_alg = alg::by_name(name).unwrap_or_else(|| panic!("no alg {name}"));
        assert_eq!(http_alg.source, alg::Source::C2spHttpsigPq);

        // seed → public key
        let seed = hex::decode(field(v, "private_key_seed_hex")).unwrap();
        let sk = SigningKey::from_seed(http_alg.algorithm, &seed).unwrap();
        let pk = b64(field(v, "public_key_base64"));
        assert_eq!(sk.public_bytes(), pk, "{name}: pk");

        // Signature-Input round trip and signature base
        let header = field(v, "serialized_signature_input");
        let value = header.strip_prefix("Signature-Input: ").unwrap();
        let inputs = parse_signature_input(value).unwrap();
        let [(label, input)] = inputs.as_slice() else {
            panic!("{name}: one signature expected")
        };
        assert_eq!(format!("{label}={}", input.serialize()), value, "{name}");
        assert_eq!(input.alg(), Some(name));
        let base = input.request_base(&c2sp_request()).unwrap();
        let want_base = b64(field(v, "signature_base_base64"));
        assert_eq!(base.as_bytes(), want_base, "{name}: signature base");
        assert_eq!(Some(base.len() as u64), v["signature_base_length"].as_u64());
        assert_eq!(
            hex::encode(Hash::Sha256.digest(base.as_bytes())),
            field(v, "signature_base_sha256")
        );

        // deterministic re-sign (rnd = 32 zero bytes, empty context)
        let want_sig = b64(field(v, "deterministic_signature_base64"));
        let sig = sk.sign_with_rnd(base.as_bytes(), b"", [0; 32]).unwrap();
        assert_eq!(sig, want_sig, "{name}: deterministic signature");

        // verify through the full verifier (the vectors carry no nonce and no body)
        let mut request = c2sp_request();
        request.headers.append("Signature-Input", value);
        request.headers.append(
            "Signature",
            format!("{label}=:{}:", field(v, "deterministic_signature_base64")),
        );
        let policy = Policy {
            required: vec![
                Requirement::component("@method"),
                Requirement::component("@target-uri"),
            ],
            require_nonce: false,
            ..Policy::request_default()
        }
        .post_quantum_only();
        let vk = VerifyingKey::from_bytes(http_alg.algorithm, &pk).unwrap();
        let created = input.created().unwrap();
        let keyid = input.keyid().unwrap();
        let verified = verifier(keyid, vk.clone(), policy.clone(), created + 59)
            .verify_request(&request, b"")
            .unwrap();
        assert_eq!(verified.algorithm, http_alg);
        assert_eq!(verified.keyid, keyid);

        // hedged signatures from our signer verify too, and a flipped bit does not
        let hedged = http_alg.sign(&sk, base.as_bytes()).unwrap();
        assert_ne!(hedged, want_sig);
        http_alg.verify(&vk, base.as_bytes(), &hedged).unwrap();
        let mut bad = want_sig.clone();
        bad[100] ^= 1;
        assert_eq!(
            http_alg.verify(&vk, base.as_bytes(), &bad),
            Err(httpsig::Error::BadSignature)
        );
        // …and the window is enforced on the vector's own created time
        let err = verifier(keyid, vk, policy, created + 61)
            .verify_request(&request, b"")
            .unwrap_err();
        assert_eq!(err.code(), "signature_outside_window");
        n += 1;
    }
    assert_eq!(
        n, 3,
        "c2sp httpsig-pq has one vector per ML-DSA parameter set"
    );
}

// ---- RFC 9421 Appendix B ----------------------------------------------------------------------

/// RFC 9421 Appendix B.1.4, `test-key-ed25519`.
const TEST_KEY_ED25519_PRIVATE: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF
-----END PRIVATE KEY-----";
const TEST_KEY_ED25519_PUBLIC: &str = "-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAJrQLj5P/89iXES9+vFgrIy29clF9CC/oPPsw3c5D0bs=
-----END PUBLIC KEY-----";
/// RFC 9421 Appendix B.1.3, `test-key-ecc-p256` (public part).
const TEST_KEY_ECC_P256_PUBLIC: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEqIVYZVLCrPZHGHjP17CTW0/+D9Lf
w0EkjqF7xB4FivAxzic30tMM4GF+hR6Dxh71Z50VGGdldkkDXZCnTNnoXQ==
-----END PUBLIC KEY-----";

const TEST_REQUEST_BODY: &[u8] = b"{\"hello\": \"world\"}";
const TEST_REQUEST_DIGEST: &str = "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:";

/// RFC 9421 Appendix B.2 `test-request`.
fn test_request() -> Request {
    Request::from_target_uri("POST", "https://example.com/foo?param=Value&Pet=dog")
        .unwrap()
        .with_header("Host", "example.com")
        .with_header("Date", "Tue, 20 Apr 2021 02:07:55 GMT")
        .with_header("Content-Type", "application/json")
        .with_header("Content-Digest", TEST_REQUEST_DIGEST)
        .with_header("Content-Length", "18")
}

/// RFC 9421 Appendix B.2 `test-response`.
fn test_response() -> (Response, &'static [u8]) {
    let response = Response::new(200)
        .with_header("Date", "Tue, 20 Apr 2021 02:07:56 GMT")
        .with_header("Content-Type", "application/json")
        .with_header(
            "Content-Digest",
            "sha-512=:mEWXIS7MaLRuGgxOBdODa3xqM1XdEvxoYhvlCFJ41QJgJc4GTsPp29l5oGX69wWdXymyU0rjJuahq4l5aGgfLQ==:",
        )
        .with_header("Content-Length", "23");
    (response, b"{\"message\": \"good dog\"}")
}

fn ed25519_test_keys() -> (SigningKey, VerifyingKey) {
    let PrivateKey::Sig(sk) =
        private_from_bytes(TEST_KEY_ED25519_PRIVATE.as_bytes(), Some(Kind::Signature)).unwrap()
    else {
        panic!("not a signature key")
    };
    let PublicKey::Sig(vk) =
        public_from_bytes(TEST_KEY_ED25519_PUBLIC.as_bytes(), Some(Kind::Signature)).unwrap()
    else {
        panic!("not a signature key")
    };
    assert_eq!(sk.public_bytes(), vk.as_bytes());
    (sk, vk)
}

fn ecc_p256_test_key() -> VerifyingKey {
    let PublicKey::Sig(vk) =
        public_from_bytes(TEST_KEY_ECC_P256_PUBLIC.as_bytes(), Some(Kind::Signature)).unwrap()
    else {
        panic!("not a signature key")
    };
    assert_eq!(vk.algorithm(), &registry::ECDSA_P256_SHA256);
    vk
}

const B26_BASE: &str = "\"date\": Tue, 20 Apr 2021 02:07:55 GMT
\"@method\": POST
\"@path\": /foo
\"@authority\": example.com
\"content-type\": application/json
\"content-length\": 18
\"@signature-params\": (\"date\" \"@method\" \"@path\" \"@authority\" \"content-type\" \"content-length\");created=1618884473;keyid=\"test-key-ed25519\"";
const B26_INPUT: &str = "sig-b26=(\"date\" \"@method\" \"@path\" \"@authority\" \"content-type\" \"content-length\");created=1618884473;keyid=\"test-key-ed25519\"";
const B26_SIGNATURE: &str = "sig-b26=:wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw==:";

#[test]
fn rfc9421_b26_ed25519_signs_byte_for_byte() {
    let (sk, _) = ed25519_test_keys();
    let signer = Signer::new(sk, "test-key-ed25519")
        .unwrap()
        .with_label("sig-b26")
        .unwrap();
    let components = [
        "date",
        "@method",
        "@path",
        "@authority",
        "content-type",
        "content-length",
    ]
    .iter()
    .map(|c| ComponentId::new(c).unwrap())
    .collect();
    let params = SignatureParams {
        created: Some(1618884473),
        include_alg: false,
        ..SignatureParams::new(components)
    };
    let request = test_request();
    let headers = signer.sign_request(&request, &params).unwrap();
    assert_eq!(headers.signature_input, B26_INPUT);
    assert_eq!(headers.signature, B26_SIGNATURE, "Ed25519 is deterministic");
    let (_, input) = parse_signature_input(B26_INPUT).unwrap().remove(0);
    assert_eq!(input.request_base(&request).unwrap(), B26_BASE);
}

#[test]
fn rfc9421_b26_ed25519_verifies_under_a_matching_policy_only() {
    let (_, vk) = ed25519_test_keys();
    let mut request = test_request();
    request.headers.append("Signature-Input", B26_INPUT);
    request.headers.append("Signature", B26_SIGNATURE);
    // B.2.6 covers neither the query nor the digest nor a nonce: a policy for it.
    let policy = Policy {
        required: vec![Requirement::any_of(&[&["@method", "@authority", "@path"]])],
        require_content_digest_with_body: false,
        require_nonce: false,
        ..Policy::request_default()
    };
    let created = 1618884473;
    let verified = verifier("test-key-ed25519", vk.clone(), policy, created)
        .verify_request(&request, TEST_REQUEST_BODY)
        .unwrap();
    assert_eq!(verified.algorithm, &alg::ED25519);
    assert!(!verified.content_digest_checked);
    // qsafe's default policy refuses it: no @query and no nonce
    let err = verifier(
        "test-key-ed25519",
        vk.clone(),
        Policy::request_default(),
        created,
    )
    .verify_request(&request, TEST_REQUEST_BODY)
    .unwrap_err();
    assert_eq!(err.code(), "parameter_missing");
    let err = verifier(
        "test-key-ed25519",
        vk,
        Policy {
            require_nonce: false,
            ..Policy::request_default()
        },
        created,
    )
    .verify_request(&request, TEST_REQUEST_BODY)
    .unwrap_err();
    assert_eq!(err.code(), "component_not_covered");
}

#[test]
fn rfc9421_b24_ecdsa_p256_response_verifies() {
    let (mut response, body) = test_response();
    response.headers.append(
        "Signature-Input",
        "sig-b24=(\"@status\" \"content-type\" \"content-digest\" \"content-length\");created=1618884473;keyid=\"test-key-ecc-p256\"",
    );
    response.headers.append(
        "Signature",
        "sig-b24=:wNmSUAhwb5LxtOtOpNa6W5xj067m5hFrj0XQ4fvpaCLx0NKocgPquLgyahnzDnDAUy5eCdlYUEkLIj+32oiasw==:",
    );
    let v = verifier(
        "test-key-ecc-p256",
        ecc_p256_test_key(),
        Policy::response_default(),
        1618884473,
    );
    let verified = v.verify_response(&response, None, body).unwrap();
    assert_eq!(verified.algorithm, &alg::ECDSA_P256_SHA256);
    assert!(verified.content_digest_checked);
    // the same signature over another body: the digest catches it
    let err = v
        .verify_response(&response, None, b"{\"message\": \"bad dog\"}")
        .unwrap_err();
    assert_eq!(err.code(), "digest_mismatch");
}

#[test]
fn rfc9421_2_4_response_covering_request_components_verifies() {
    let response = Response::new(503)
        .with_header("Date", "Tue, 20 Apr 2021 02:07:56 GMT")
        .with_header("Content-Type", "application/json")
        .with_header("Content-Length", "62")
        .with_header(
            "Content-Digest",
            "sha-512=:0Y6iCBzGg5rZtoXS95Ijz03mslf6KAMCloESHObfwnHJDbkkWWQz6PhhU9kxsTbARtY2PTBOzq24uJFpHsMuAg==:",
        )
        .with_header(
            "Signature-Input",
            "reqres=(\"@status\" \"content-digest\" \"content-type\" \"@authority\";req \"@method\";req \"@path\";req \"content-digest\";req);created=1618884479;keyid=\"test-key-ecc-p256\"",
        )
        .with_header(
            "Signature",
            "reqres=:dMT/A/76ehrdBTD/2Xx8QuKV6FoyzEP/I9hdzKN8LQJLNgzU4W767HK05rx1i8meNQQgQPgQp8wq2ive3tV5Ag==:",
        );
    let body = b"{\"busy\": true, \"message\": \"Your call is very important to us\"}";
    let want_base = "\"@status\": 503
\"content-digest\": sha-512=:0Y6iCBzGg5rZtoXS95Ijz03mslf6KAMCloESHObfwnHJDbkkWWQz6PhhU9kxsTbARtY2PTBOzq24uJFpHsMuAg==:
\"content-type\": application/json
\"@authority\";req: example.com
\"@method\";req: POST
\"@path\";req: /foo
\"content-digest\";req: sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:
\"@signature-params\": (\"@status\" \"content-digest\" \"content-type\" \"@authority\";req \"@method\";req \"@path\";req \"content-digest\";req);created=1618884479;keyid=\"test-key-ecc-p256\"";
    let request = test_request();
    let parsed = httpsig::parse_signatures(&response.headers).unwrap();
    assert_eq!(
        parsed[0]
            .input
            .response_base(&response, Some(&request))
            .unwrap(),
        want_base
    );
    let v = verifier(
        "test-key-ecc-p256",
        ecc_p256_test_key(),
        Policy::response_default(),
        1618884479,
    );
    v.verify_response(&response, Some(&request), body).unwrap();
    // without the request the ;req components are unavailable
    let err = v.verify_response(&response, None, body).unwrap_err();
    assert_eq!(err.code(), "component_missing");
    // another request: the binding fails
    let mut other = test_request();
    other.path = "/bar".into();
    let err = v
        .verify_response(&response, Some(&other), body)
        .unwrap_err();
    assert_eq!(err.code(), "signature_invalid");
}

// ---- RFC 9530 ---------------------------------------------------------------------------------

#[test]
fn rfc9530_content_digest_examples() {
    // RFC 9530 Appendix B.1 / RFC 9421 test-request body
    assert_eq!(
        content_digest(TEST_REQUEST_BODY, &[DigestAlgorithm::Sha256]),
        "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:"
    );
    assert_eq!(
        content_digest(TEST_REQUEST_BODY, &[DigestAlgorithm::Sha512]),
        TEST_REQUEST_DIGEST
    );
    // RFC 9421 test-response body
    let (response, body) = test_response();
    let header: Vec<_> = response.headers.get_all("content-digest").collect();
    verify_content_digest(std::str::from_utf8(header[0]).unwrap(), body).unwrap();
}

#[test]
fn rfc9530_digest_mismatch_is_its_own_error() {
    let err = verify_content_digest(TEST_REQUEST_DIGEST, b"{\"hello\": \"world!\"}").unwrap_err();
    assert_eq!(err, httpsig::Error::DigestMismatch("sha-512"));
    assert_eq!(err.code(), "digest_mismatch");
}

#[test]
fn rfc9530_fields_combine_across_lines() {
    let fields = Fields::new()
        .with(
            "content-digest",
            "sha-256=:X48E9qOokqqrvdts8nOJRJN3OWDUoyWxBf7kbu9DBPE=:",
        )
        .with("content-digest", TEST_REQUEST_DIGEST);
    let joined: Vec<&str> = fields
        .get_all("content-digest")
        .map(|v| std::str::from_utf8(v).unwrap())
        .collect();
    assert_eq!(
        verify_content_digest(&joined.join(", "), TEST_REQUEST_BODY).unwrap(),
        [DigestAlgorithm::Sha256, DigestAlgorithm::Sha512]
    );
}
