//! Signing and verification round trips for every algorithm, and every error code reached
//! through the public API (one test per code, named `<code>_<condition>`).

// Test code: a failed unwrap is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::HashMap;
use std::sync::Arc;

use qsafe_core::registry::{self, Algorithm};
use qsafe_core::sig::{SigningKey, VerifyingKey};
use qsafe_gateway::httpsig::{
    ComponentId, DigestAlgorithm, Error, ErrorClass, ManualClock, Policy, Request, Requirement,
    Response, SignatureInput, SignatureParams, Signer, Verified, Verifier, alg, content_digest,
};
use qsafe_gateway::replay::{NonceCache, NonceCacheConfig};

const NOW: i64 = 1_750_000_000;
const KEYID: &str = "client-1";
const BODY: &[u8] = br#"{"inputs": [[0.1, 0.2, 0.3]]}"#;

struct Fixture {
    signer: Signer,
    keys: Arc<HashMap<String, VerifyingKey>>,
    clock: Arc<ManualClock>,
}

fn fixture(algorithm: &'static Algorithm) -> Fixture {
    let key = SigningKey::generate(algorithm).unwrap();
    let keys = Arc::new(HashMap::from([(
        KEYID.to_owned(),
        key.verifying_key().unwrap(),
    )]));
    Fixture {
        signer: Signer::new(key, KEYID).unwrap(),
        keys,
        clock: Arc::new(ManualClock::new(NOW)),
    }
}

fn ed25519() -> Fixture {
    fixture(&registry::ED25519)
}

fn request(body: &[u8]) -> Request {
    Request::from_target_uri("POST", "https://gw.example/v1/infer?model=digits")
        .unwrap()
        .with_header("Content-Type", "application/json")
        .with_header(
            "Content-Digest",
            content_digest(body, &[DigestAlgorithm::Sha256]),
        )
}

impl Fixture {
    fn verifier(&self, policy: Policy) -> Verifier {
        Verifier::new(self.keys.clone(), policy).with_clock(self.clock.clone())
    }

    fn sign_with(&self, mut request: Request, edit: impl FnOnce(&mut SignatureParams)) -> Request {
        let mut params = SignatureParams::for_request(&request, NOW).unwrap();
        edit(&mut params);
        self.signer
            .sign_request(&request, &params)
            .unwrap()
            .apply(&mut request.headers);
        request
    }

    fn signed(&self) -> Request {
        self.sign_with(request(BODY), |_| {})
    }

    fn verify(&self, request: &Request, body: &[u8]) -> Result<Verified, Error> {
        self.verifier(Policy::request_default())
            .verify_request(request, body)
    }
}

fn code(result: Result<Verified, Error>) -> &'static str {
    match result {
        Ok(v) => panic!("verified unexpectedly: {v:?}"),
        Err(e) => e.code(),
    }
}

/// Replaces the `Signature-Input` value (keeps the signature).
fn edit_input(mut request: Request, edit: impl Fn(&str) -> String) -> Request {
    let old: Vec<String> = request
        .headers
        .get_all("signature-input")
        .map(|v| String::from_utf8(v.to_vec()).unwrap())
        .collect();
    request.headers.remove("signature-input");
    for v in old {
        request.headers.append("Signature-Input", edit(&v));
    }
    request
}

fn components(names: &[&str]) -> Vec<ComponentId> {
    names.iter().map(|n| ComponentId::new(n).unwrap()).collect()
}

// ---- round trips -------------------------------------------------------------------------------

#[test]
fn every_algorithm_round_trips_requests_and_responses() {
    let mut n = 0;
    for http_alg in alg::ALL {
        let fx = fixture(http_alg.algorithm);
        assert_eq!(fx.signer.algorithm(), *http_alg);
        let req = fx.signed();
        let input = String::from_utf8(
            req.headers
                .get_all("signature-input")
                .next()
                .unwrap()
                .to_vec(),
        )
        .unwrap();
        assert!(
            input.contains(&format!(";alg=\"{}\"", http_alg.name)),
            "{input}"
        );
        let requests = fx.verifier(Policy::request_default());
        let verified = requests.verify_request(&req, BODY).unwrap();
        assert_eq!(verified.algorithm, *http_alg);
        assert_eq!(verified.keyid, KEYID);
        assert!(verified.content_digest_checked);
        assert_eq!(
            requests.verify_request(&req, BODY).unwrap_err(),
            Error::NonceReused
        );

        // a response bound to the request with ;req components
        let mut resp = Response::new(200)
            .with_header("content-type", "application/json")
            .with_header(
                "content-digest",
                content_digest(b"{}", &[DigestAlgorithm::Sha512]),
            );
        let params = SignatureParams::for_response(&resp, Some(&req), NOW).unwrap();
        fx.signer
            .sign_response(&resp, Some(&req), &params)
            .unwrap()
            .apply(&mut resp.headers);
        let v = fx.verifier(Policy::response_default());
        let verified = v.verify_response(&resp, Some(&req), b"{}").unwrap();
        assert!(verified.components.iter().any(|c| c.is_req()));
        let mut other = req.clone();
        other.query = Some("model=other".into());
        assert_eq!(
            v.verify_response(&resp, Some(&other), b"{}").unwrap_err(),
            Error::BadSignature,
            "{}",
            http_alg.name
        );
        n += 1;
    }
    assert_eq!(n, 10);
}

#[test]
fn composite_signature_does_not_verify_as_its_components() {
    let fx = fixture(&registry::MLDSA65_ED25519_SHA512);
    let req = fx.signed();
    // the Ed25519 half alone, under the ed25519 alg, is refused
    let ed = fx.keys[KEYID].classical_component().unwrap();
    let keys = Arc::new(HashMap::from([(KEYID.to_owned(), ed)]));
    let v = Verifier::new(keys, Policy::request_default()).with_clock(fx.clock.clone());
    assert_eq!(code(v.verify_request(&req, BODY)), "algorithm_mismatch");
    let req = edit_input(req, |s| s.replace("mldsa65-ed25519-sha512", "ed25519"));
    assert_eq!(code(v.verify_request(&req, BODY)), "signature_invalid");
}

#[test]
fn authority_path_query_satisfy_the_default_policy() {
    let fx = ed25519();
    let req = fx.sign_with(request(BODY), |p| {
        p.components = components(&["@method", "@authority", "@path", "@query", "content-digest"]);
    });
    fx.verify(&req, BODY).unwrap();
    // @authority and @path without @query do not
    let req = fx.sign_with(request(BODY), |p| {
        p.components = components(&["@method", "@authority", "@path", "content-digest"]);
    });
    assert_eq!(
        fx.verify(&req, BODY).unwrap_err(),
        Error::ComponentNotCovered("@target-uri | @authority @path @query".into())
    );
}

#[test]
fn bodiless_requests_need_no_digest() {
    let fx = ed25519();
    let req = fx.sign_with(
        Request::from_target_uri("GET", "https://gw.example/v1/models").unwrap(),
        |_| {},
    );
    let verified = fx.verify(&req, b"").unwrap();
    assert!(!verified.content_digest_checked);
}

#[test]
fn label_and_tag_select_among_several_signatures() {
    let fx = ed25519();
    let mut req = fx.sign_with(request(BODY), |p| p.tag = Some("qsafe-client".into()));
    let proxy_signer = Signer::new(SigningKey::generate(&registry::ML_DSA_44).unwrap(), "proxy")
        .unwrap()
        .with_label("proxy")
        .unwrap();
    let params = SignatureParams::for_request(&req, NOW).unwrap();
    proxy_signer
        .sign_request(&req, &params)
        .unwrap()
        .apply(&mut req.headers);
    // two signatures and no selector: refused as ambiguous
    assert_eq!(code(fx.verify(&req, BODY)), "signature_malformed");
    let by_label = Policy {
        label: Some("sig1".into()),
        ..Policy::request_default()
    };
    fx.verifier(by_label).verify_request(&req, BODY).unwrap();
    let by_tag = Policy {
        tag: Some("qsafe-client".into()),
        ..Policy::request_default()
    };
    let verified = fx.verifier(by_tag).verify_request(&req, BODY).unwrap();
    assert_eq!(verified.tag.as_deref(), Some("qsafe-client"));
}

#[test]
fn window_edges_are_inclusive() {
    let fx = ed25519();
    for offset in [-60, 60] {
        fx.clock.set(NOW + offset);
        fx.verify(&fx.signed(), BODY).unwrap();
    }
}

// ---- one test per error code ------------------------------------------------------------------

#[test]
fn signature_missing_without_headers_or_matching_label() {
    let fx = ed25519();
    assert_eq!(code(fx.verify(&request(BODY), BODY)), "signature_missing");
    let mut only_input = fx.signed();
    only_input.headers.remove("signature");
    assert_eq!(code(fx.verify(&only_input, BODY)), "signature_missing");
    let other_label = Policy {
        label: Some("other".into()),
        ..Policy::request_default()
    };
    let err = fx
        .verifier(other_label)
        .verify_request(&fx.signed(), BODY)
        .unwrap_err();
    assert_eq!(err.code(), "signature_missing");
    assert_eq!(err.class(), ErrorClass::Invalid);
}

#[test]
fn signature_malformed_headers() {
    let fx = ed25519();
    let cases: &[(&str, &str)] = &[
        ("sig1=garbage(", "sig1=:AAAA:"),
        ("sig1=(\"@method\")", "sig1=\"not bytes\""),
        ("sig1=(\"@method\");keyid=\"k\"", "other=:AAAA:"),
        (
            "sig1=(\"@method\");created=\"yesterday\";keyid=\"k\"",
            "sig1=:AAAA:",
        ),
        (
            "sig1=(\"@method\");created=10;expires=5;keyid=\"client-1\"",
            "sig1=:AAAA:",
        ),
        ("sig1=(\"@method\" \"@method\");keyid=\"k\"", "sig1=:AAAA:"),
        ("sig1=(\"Content-Type\");keyid=\"k\"", "sig1=:AAAA:"),
    ];
    let policy = Policy {
        required: vec![],
        require_created: false,
        require_nonce: false,
        require_content_digest_with_body: false,
        ..Policy::request_default()
    };
    for (input, sig) in cases {
        let req = request(BODY)
            .with_header("Signature-Input", input)
            .with_header("Signature", sig);
        let err = fx
            .verifier(policy.clone())
            .verify_request(&req, BODY)
            .unwrap_err();
        assert_eq!(err.code(), "signature_malformed", "{input} / {sig}: {err}");
    }
}

#[test]
fn component_unsupported_query_param_and_sf() {
    let fx = ed25519();
    for replacement in [
        "\"@query-param\";name=\"model\"",
        "\"content-type\";sf",
        "\"@foo\"",
    ] {
        let req = edit_input(fx.signed(), |s| {
            s.replace("\"@method\"", &format!("\"@method\" {replacement}"))
        });
        assert_eq!(
            code(fx.verify(&req, BODY)),
            "component_unsupported",
            "{replacement}"
        );
    }
}

#[test]
fn component_missing_when_a_covered_field_is_dropped() {
    let fx = ed25519();
    let mut req = fx.signed();
    req.headers.remove("content-type");
    assert_eq!(code(fx.verify(&req, BODY)), "component_missing");
}

#[test]
fn component_invalid_on_line_breaks_and_non_ascii() {
    let fx = ed25519();
    for value in ["application/json\n\"@method\": GET", "caf\u{e9}"] {
        let mut req = fx.signed();
        req.headers.remove("content-type");
        req.headers.append("content-type", value);
        assert_eq!(code(fx.verify(&req, BODY)), "component_invalid");
    }
    let mut req = fx.signed();
    req.path = "/v1/infer\r\nx".into();
    assert_eq!(code(fx.verify(&req, BODY)), "component_invalid");
}

#[test]
fn component_not_covered_method_target_or_digest() {
    let fx = ed25519();
    let no_method = fx.sign_with(request(BODY), |p| {
        p.components.remove(0);
    });
    assert_eq!(
        fx.verify(&no_method, BODY).unwrap_err(),
        Error::ComponentNotCovered("@method".into())
    );
    let no_digest = fx.sign_with(request(BODY), |p| {
        p.components.retain(|c| c.name() != "content-digest");
    });
    assert_eq!(
        fx.verify(&no_digest, BODY).unwrap_err(),
        Error::ComponentNotCovered("content-digest".into())
    );
}

#[test]
fn parameter_missing_keyid_created_nonce_alg() {
    let fx = ed25519();
    let no_nonce = fx.sign_with(request(BODY), |p| p.nonce = None);
    assert_eq!(
        fx.verify(&no_nonce, BODY).unwrap_err(),
        Error::ParameterMissing("nonce")
    );
    let no_created = fx.sign_with(request(BODY), |p| p.created = None);
    assert_eq!(
        fx.verify(&no_created, BODY).unwrap_err(),
        Error::ParameterMissing("created")
    );
    let no_keyid = edit_input(fx.signed(), |s| s.replace(";keyid=\"client-1\"", ""));
    assert_eq!(
        fx.verify(&no_keyid, BODY).unwrap_err(),
        Error::ParameterMissing("keyid")
    );
    let no_alg = fx.sign_with(request(BODY), |p| p.include_alg = false);
    fx.verify(&no_alg, BODY).unwrap();
    let policy = Policy {
        require_alg: true,
        ..Policy::request_default()
    };
    let no_alg = fx.sign_with(request(BODY), |p| p.include_alg = false);
    assert_eq!(
        fx.verifier(policy)
            .verify_request(&no_alg, BODY)
            .unwrap_err(),
        Error::ParameterMissing("alg")
    );
}

#[test]
fn key_unknown_for_an_unregistered_keyid() {
    let fx = ed25519();
    let req = edit_input(fx.signed(), |s| s.replace("client-1", "client-2"));
    assert_eq!(
        fx.verify(&req, BODY).unwrap_err(),
        Error::UnknownKey("client-2".into())
    );
}

#[test]
fn algorithm_unsupported_names_and_keys() {
    let fx = ed25519();
    for name in ["rsa-pss-sha512", "hmac-sha256", "ED25519", "ml-dsa-65 "] {
        let req = edit_input(fx.signed(), |s| {
            s.replace("\"ed25519\"", &format!("\"{name}\""))
        });
        assert_eq!(
            code(fx.verify(&req, BODY)),
            "algorithm_unsupported",
            "{name}"
        );
    }
    // a registry signature algorithm without an HTTP mapping
    let rsa = SigningKey::generate(&registry::RSA_PSS_2048_SHA256).unwrap();
    let err = Signer::new(rsa, KEYID).unwrap_err();
    assert_eq!(err.code(), "algorithm_unsupported");
}

#[test]
fn algorithm_mismatch_between_alg_and_key() {
    let fx = ed25519();
    let req = edit_input(fx.signed(), |s| s.replace("\"ed25519\"", "\"ml-dsa-65\""));
    assert_eq!(
        fx.verify(&req, BODY).unwrap_err(),
        Error::AlgorithmMismatch {
            alg: "ml-dsa-65".into(),
            key: "ed25519"
        }
    );
}

#[test]
fn algorithm_not_allowed_by_a_post_quantum_policy() {
    let fx = ed25519();
    let err = fx
        .verifier(Policy::request_default().post_quantum_only())
        .verify_request(&fx.signed(), BODY)
        .unwrap_err();
    assert_eq!(err, Error::AlgorithmNotAllowed("ed25519"));
    let pq = fixture(&registry::MLDSA87_ECDSA_P384_SHA512);
    pq.verifier(Policy::request_default().post_quantum_only())
        .verify_request(&pq.signed(), BODY)
        .unwrap();
}

#[test]
fn signature_invalid_after_tampering() {
    let fx = ed25519();
    let mut req = fx.signed();
    req.method = "PUT".into();
    assert_eq!(fx.verify(&req, BODY).unwrap_err(), Error::BadSignature);
    let mut req = fx.signed();
    req.query = Some("model=other".into());
    assert_eq!(fx.verify(&req, BODY).unwrap_err(), Error::BadSignature);
    // a changed parameter (created within the window) breaks @signature-params
    let req = edit_input(fx.signed(), |s| {
        s.replace(&format!("created={NOW}"), &format!("created={}", NOW + 1))
    });
    assert_eq!(fx.verify(&req, BODY).unwrap_err(), Error::BadSignature);
    // a signature of the wrong length
    let mut req = fx.signed();
    req.headers.remove("signature");
    req.headers.append("signature", "sig1=:AAAA:");
    assert_eq!(fx.verify(&req, BODY).unwrap_err(), Error::BadSignature);
}

#[test]
fn digest_malformed_unsupported_and_mismatch() {
    let fx = ed25519();
    let signed_with_digest = |digest: &str| {
        let mut req = request(BODY);
        req.headers.remove("content-digest");
        req.headers.append("content-digest", digest);
        fx.sign_with(req, |_| {})
    };
    let err = fx
        .verify(&signed_with_digest("sha-256=abc"), BODY)
        .unwrap_err();
    assert_eq!(err.code(), "digest_malformed");
    let err = fx
        .verify(&signed_with_digest("md5=:AAAAAAAAAAAAAAAAAAAAAA==:"), BODY)
        .unwrap_err();
    assert_eq!(err.code(), "digest_unsupported");
    let err = fx.verify(&fx.signed(), b"{\"inputs\": []}").unwrap_err();
    assert_eq!(err, Error::DigestMismatch("sha-256"));
    assert_eq!(err.class(), ErrorClass::Invalid);
}

#[test]
fn signature_expired_after_expires() {
    let fx = ed25519();
    let req = fx.sign_with(request(BODY), |p| p.expires = Some(NOW + 10));
    fx.verify(&req, BODY).unwrap();
    fx.clock.set(NOW + 11);
    let req = fx.sign_with(request(BODY), |p| p.expires = Some(NOW + 10));
    let err = fx.verify(&req, BODY).unwrap_err();
    assert_eq!(
        err,
        Error::Expired {
            expires: NOW + 10,
            now: NOW + 11
        }
    );
    assert_eq!(err.code(), "signature_expired");
    assert_eq!(err.class(), ErrorClass::Stale);
}

#[test]
fn signature_outside_window_past_and_future() {
    let fx = ed25519();
    for offset in [-61, 61, -100_000] {
        fx.clock.set(NOW + offset);
        let err = fx.verify(&fx.signed(), BODY).unwrap_err();
        assert_eq!(err.code(), "signature_outside_window");
        assert_eq!(err.class(), ErrorClass::Stale);
    }
    // a wider window accepts it
    fx.clock.set(NOW + 100);
    let wide = Policy {
        window_secs: 300,
        ..Policy::request_default()
    };
    fx.verifier(wide)
        .verify_request(&fx.signed(), BODY)
        .unwrap();
}

#[test]
fn nonce_reused_on_replay() {
    let fx = ed25519();
    let v = fx.verifier(Policy::request_default());
    let req = fx.signed();
    v.verify_request(&req, BODY).unwrap();
    let err = v.verify_request(&req, BODY).unwrap_err();
    assert_eq!(err.code(), "nonce_reused");
    assert_eq!(err.class(), ErrorClass::Replay);
    // a failed verification does not burn the nonce
    let req2 = fx.signed();
    assert_eq!(
        code(v.verify_request(&req2, b"tampered")),
        "digest_mismatch"
    );
    v.verify_request(&req2, BODY).unwrap();
}

#[test]
fn nonce_invalid_empty_or_too_long() {
    let fx = ed25519();
    for nonce in [String::new(), "n".repeat(129)] {
        let req = fx.sign_with(request(BODY), |p| p.nonce = Some(nonce.clone()));
        assert_eq!(code(fx.verify(&req, BODY)), "nonce_invalid");
    }
}

#[test]
fn replay_cache_full_refuses_instead_of_evicting() {
    let fx = ed25519();
    let cache = Arc::new(NonceCache::new(NonceCacheConfig {
        max_entries: 2,
        ..NonceCacheConfig::default()
    }));
    let v = fx
        .verifier(Policy::request_default())
        .with_nonce_cache(cache.clone());
    let first = fx.signed();
    v.verify_request(&first, BODY).unwrap();
    v.verify_request(&fx.signed(), BODY).unwrap();
    let err = v.verify_request(&fx.signed(), BODY).unwrap_err();
    assert_eq!(err.code(), "replay_cache_full");
    assert_eq!(err.class(), ErrorClass::Unavailable);
    // the earlier nonces are still remembered
    assert_eq!(code(v.verify_request(&first, BODY)), "nonce_reused");
    // once they expire (created + window), there is room again
    fx.clock.set(NOW + 61);
    let later = fx.sign_with(request(BODY), |p| p.created = Some(NOW + 61));
    v.verify_request(&later, BODY).unwrap();
    assert_eq!(cache.len(), 1);
}

#[test]
fn message_invalid_for_bad_caller_input() {
    let key = || SigningKey::generate(&registry::ED25519).unwrap();
    assert_eq!(
        Signer::new(key(), "").unwrap_err().code(),
        "message_invalid"
    );
    assert_eq!(
        Signer::new(key(), "tab\there").unwrap_err().code(),
        "message_invalid"
    );
    let signer = Signer::new(key(), KEYID).unwrap();
    assert_eq!(
        signer.with_label("Sig1").unwrap_err().code(),
        "message_invalid"
    );
    let err = Request::from_target_uri("GET", "/relative").unwrap_err();
    assert_eq!(err.code(), "message_invalid");
    assert_eq!(err.class(), ErrorClass::Local);
    let err = SignatureInput::new(
        components(&["@method"]),
        Some(-1),
        None,
        None,
        None,
        None,
        None,
    )
    .unwrap_err();
    assert_eq!(err.code(), "message_invalid");
    let err = SignatureInput::new(
        components(&["@method"]),
        None,
        None,
        Some("caf\u{e9}"),
        None,
        None,
        None,
    )
    .unwrap_err();
    assert_eq!(err.code(), "message_invalid");
}

#[test]
fn signing_failed_is_local_and_opaque() {
    // Only a backend failure produces it (no input reaches it); pin the mapping.
    let err = Error::Signing(qsafe_core::Error::Internal("rng"));
    assert_eq!(err.code(), "signing_failed");
    assert_eq!(err.class(), ErrorClass::Local);
    // signing covered components that are absent fails before any signature is made
    let fx = ed25519();
    let params = SignatureParams::new(components(&["x-absent"]));
    let err = fx.signer.sign_request(&request(BODY), &params).unwrap_err();
    assert_eq!(err.code(), "component_missing");
    // @status on a request, ;req on a request
    let params = SignatureParams::new(components(&["@status"]));
    assert_eq!(
        fx.signer
            .sign_request(&request(BODY), &params)
            .unwrap_err()
            .code(),
        "component_missing"
    );
    let params = SignatureParams::new(vec![ComponentId::new("@method").unwrap().req()]);
    assert_eq!(
        fx.signer
            .sign_request(&request(BODY), &params)
            .unwrap_err()
            .code(),
        "signature_malformed"
    );
}

#[test]
fn codes_are_unique_and_stable() {
    let all = [
        Error::MissingSignature(""),
        Error::Malformed(""),
        Error::UnsupportedComponent(String::new()),
        Error::ComponentMissing(String::new()),
        Error::ComponentInvalid(String::new()),
        Error::ComponentNotCovered(String::new()),
        Error::ParameterMissing(""),
        Error::UnknownKey(String::new()),
        Error::UnsupportedAlgorithm(String::new()),
        Error::AlgorithmMismatch {
            alg: String::new(),
            key: "",
        },
        Error::AlgorithmNotAllowed(""),
        Error::BadSignature,
        Error::DigestMalformed(""),
        Error::DigestUnsupported,
        Error::DigestMismatch(""),
        Error::Expired { expires: 0, now: 0 },
        Error::OutsideWindow {
            created: 0,
            now: 0,
            window: 0,
        },
        Error::NonceReused,
        Error::NonceInvalid(""),
        Error::ReplayCacheFull(""),
        Error::InvalidMessage(""),
        Error::Signing(qsafe_core::Error::Verification),
    ];
    let codes: Vec<&str> = all.iter().map(Error::code).collect();
    assert_eq!(
        codes,
        [
            "signature_missing",
            "signature_malformed",
            "component_unsupported",
            "component_missing",
            "component_invalid",
            "component_not_covered",
            "parameter_missing",
            "key_unknown",
            "algorithm_unsupported",
            "algorithm_mismatch",
            "algorithm_not_allowed",
            "signature_invalid",
            "digest_malformed",
            "digest_unsupported",
            "digest_mismatch",
            "signature_expired",
            "signature_outside_window",
            "nonce_reused",
            "nonce_invalid",
            "replay_cache_full",
            "message_invalid",
            "signing_failed",
        ]
    );
    for (i, c) in codes.iter().enumerate() {
        assert!(!codes[i + 1..].contains(c), "duplicate code {c}");
    }
}

#[test]
fn custom_requirements_and_peer_text_is_cut() {
    let fx = ed25519();
    let policy = Policy {
        required: vec![Requirement::component("content-type")],
        ..Policy::request_default()
    };
    fx.verifier(policy)
        .verify_request(&fx.signed(), BODY)
        .unwrap();
    let long = "k".repeat(500);
    let req = edit_input(fx.signed(), |s| s.replace("client-1", &long));
    let Error::UnknownKey(shown) = fx.verify(&req, BODY).unwrap_err() else {
        panic!()
    };
    assert!(shown.chars().count() <= 65, "{shown}");
}
