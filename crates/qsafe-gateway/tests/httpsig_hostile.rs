//! Hostile `Signature-Input`, `Signature` and `Content-Digest` values: a fixed corpus (one
//! case per line, each with its expected code) and property tests that nothing panics, every
//! failure has a known code, and whatever parses re-serialises to something that parses the
//! same.

// Test code: a failed unwrap is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::HashMap;
use std::sync::Arc;

use proptest::prelude::*;
use qsafe_core::registry;
use qsafe_core::sig::SigningKey;
use qsafe_gateway::httpsig::{
    DigestAlgorithm, ErrorClass, ManualClock, Policy, Request, SignatureParams, Signer, Verifier,
    content_digest, parse_signature, parse_signature_input, verify_content_digest,
};

const NOW: i64 = 1_750_000_000;
const BODY: &[u8] = b"{}";

fn base_request() -> Request {
    Request::from_target_uri("POST", "https://gw.example/v1/infer")
        .unwrap()
        .with_header(
            "content-digest",
            content_digest(BODY, &[DigestAlgorithm::Sha256]),
        )
}

struct Setup {
    verifier: Verifier,
    valid_input: String,
    valid_signature: String,
}

fn setup() -> Setup {
    let key = SigningKey::generate(&registry::ED25519).unwrap();
    let keys = Arc::new(HashMap::from([(
        "k".to_owned(),
        key.verifying_key().unwrap(),
    )]));
    let signer = Signer::new(key, "k").unwrap();
    let req = base_request();
    let headers = signer
        .sign_request(&req, &SignatureParams::for_request(&req, NOW).unwrap())
        .unwrap();
    Setup {
        verifier: Verifier::new(keys, Policy::request_default())
            .with_clock(Arc::new(ManualClock::new(NOW))),
        valid_input: headers.signature_input,
        valid_signature: headers.signature,
    }
}

fn verify_code(setup: &Setup, input: &[u8], signature: &[u8]) -> &'static str {
    let req = base_request()
        .with_header("Signature-Input", input)
        .with_header("Signature", signature);
    match setup.verifier.verify_request(&req, BODY) {
        Ok(_) => "ok",
        Err(e) => {
            assert!(
                matches!(
                    e.class(),
                    ErrorClass::Invalid | ErrorClass::Stale | ErrorClass::Replay
                ),
                "{e}"
            );
            e.code()
        }
    }
}

const CODES: &[&str] = &[
    "ok",
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
];

#[test]
fn hostile_corpus() {
    let s = setup();
    let sig = s.valid_signature.as_str();
    let deep = "(".repeat(100_000);
    let many_members = (0..100)
        .map(|i| format!("s{i}=()"))
        .collect::<Vec<_>>()
        .join(", ");
    let many_items = format!("sig1=({})", "\"@method\" ".repeat(1000));
    let many_params = format!(
        "sig1=(){}",
        (0..100).map(|i| format!(";p{i}")).collect::<String>()
    );
    let long_string = format!("sig1=();keyid=\"{}\"", "k".repeat(5000));
    let huge = "a".repeat(1 << 20);
    let valid = s.valid_input.as_str();
    let c = |name: &'static str, input: &[u8], signature: &[u8]| {
        (name, input.to_vec(), signature.to_vec())
    };
    let cases = vec![
        c("empty input", b"", sig.as_bytes()),
        c("only spaces", b"   ", sig.as_bytes()),
        c("deep nesting", deep.as_bytes(), sig.as_bytes()),
        c("many members", many_members.as_bytes(), sig.as_bytes()),
        c("many items", many_items.as_bytes(), sig.as_bytes()),
        c("many params", many_params.as_bytes(), sig.as_bytes()),
        c("long string", long_string.as_bytes(), sig.as_bytes()),
        c("1 MiB input", huge.as_bytes(), sig.as_bytes()),
        c("1 MiB signature", valid.as_bytes(), huge.as_bytes()),
        c("non-ascii input", "sig1=(\"caf\u{e9}\")".as_bytes(), sig.as_bytes()),
        c("raw 0xff", b"sig1=(\xff)", sig.as_bytes()),
        c("NUL", b"sig1=(\"@method\0\")", sig.as_bytes()),
        c("CRLF in name", b"sig1=(\"a\r\nb\")", sig.as_bytes()),
        c("escaped newline", b"sig1=(\"a\\nb\")", sig.as_bytes()),
        c("integer overflow", b"sig1=();created=99999999999999999999", sig.as_bytes()),
        c(
            "negative created",
            b"sig1=(\"@method\" \"@target-uri\" \"content-digest\");created=-1;keyid=\"k\";nonce=\"n\"",
            sig.as_bytes(),
        ),
        c(
            "max created",
            b"sig1=(\"@method\" \"@target-uri\" \"content-digest\");created=999999999999999;keyid=\"k\";nonce=\"n\"",
            sig.as_bytes(),
        ),
        c(
            "min created and expires",
            b"sig1=(\"@method\" \"@target-uri\" \"content-digest\");created=-999999999999999;expires=-999999999999999;keyid=\"k\";nonce=\"n\"",
            sig.as_bytes(),
        ),
        c("decimal created", b"sig1=();created=1.5", sig.as_bytes()),
        c("token keyid", b"sig1=();keyid=k", sig.as_bytes()),
        c("boolean member", b"sig1", sig.as_bytes()),
        c("byte seq member", b"sig1=:AAAA:", sig.as_bytes()),
        c("signature inner list", valid.as_bytes(), b"sig1=(:AAAA:)"),
        c("signature bad base64", valid.as_bytes(), b"sig1=:@@@@:"),
        c("signature unterminated", valid.as_bytes(), b"sig1=:AAAA"),
        c("signature empty", valid.as_bytes(), b"sig1=::"),
        c("duplicate labels", format!("{valid}, {valid}").as_bytes(), sig.as_bytes()),
        c("duplicate params", b"sig1=();keyid=\"k\";keyid=\"k\"", sig.as_bytes()),
        c("trailing comma", format!("{valid},").as_bytes(), sig.as_bytes()),
        c("uppercase label", valid.replacen("sig1", "Sig1", 1).as_bytes(), sig.as_bytes()),
        c("@signature-params covered", b"sig1=(\"@signature-params\");keyid=\"k\"", sig.as_bytes()),
        c("req param value", b"sig1=(\"@method\";req=1);keyid=\"k\"", sig.as_bytes()),
        c("second unsigned member", format!("{valid},\tother=()").as_bytes(), sig.as_bytes()),
    ];
    let mut n = 0;
    for (name, input, signature) in &cases {
        let code = verify_code(&s, input, signature);
        assert!(CODES.contains(&code), "{name}: {code}");
        assert_ne!(code, "ok", "{name} verified");
        n += 1;
    }
    assert_eq!(n, cases.len());
    // the valid pair still verifies (and only once)
    assert_eq!(
        verify_code(&s, s.valid_input.as_bytes(), sig.as_bytes()),
        "ok"
    );
    assert_eq!(
        verify_code(&s, s.valid_input.as_bytes(), sig.as_bytes()),
        "nonce_reused"
    );
}

#[test]
fn hostile_content_digest_values() {
    for value in [
        "",
        ",",
        "sha-256",
        "sha-256=",
        "sha-256=:",
        "sha-256=::",
        "sha-256=:AAAA:, sha-256=:AAAA:",
        "sha-512=(:AAAA:)",
        "sha-256=:AAAA:;q=1",
        &"sha-256=:AAAA:, ".repeat(1000),
        "\u{0}",
    ] {
        let err = verify_content_digest(value, BODY).unwrap_err();
        assert!(
            matches!(
                err.code(),
                "digest_malformed" | "digest_unsupported" | "digest_mismatch"
            ),
            "{value:.40}: {err}"
        );
    }
}

/// Characters that reach deep into the structured-field grammar.
const SF_ALPHABET: &str = "[a-z0-9@\"();=:,*?\\\\ \t.+/_-]{0,160}";

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_strings_never_panic(input in any::<String>(), signature in any::<String>()) {
        let _ = parse_signature_input(&input);
        let _ = parse_signature(&signature);
        let _ = verify_content_digest(&input, b"x");
    }

    #[test]
    fn grammar_shaped_strings_never_panic_and_reparse(input in SF_ALPHABET) {
        if let Ok(parsed) = parse_signature_input(&input) {
            let again = parsed
                .iter()
                .map(|(label, i)| format!("{label}={}", i.serialize()))
                .collect::<Vec<_>>()
                .join(", ");
            prop_assert_eq!(parse_signature_input(&again).unwrap(), parsed);
        }
        let _ = parse_signature(&input);
    }

    #[test]
    fn mutated_valid_headers_are_refused_without_panic(
        pos in any::<prop::sample::Index>(),
        byte in any::<u8>(),
        mode in 0u8..3,
        in_signature in any::<bool>(),
    ) {
        let s = setup();
        let mut input = s.valid_input.clone().into_bytes();
        let mut signature = s.valid_signature.clone().into_bytes();
        let target = if in_signature { &mut signature } else { &mut input };
        let i = pos.index(target.len());
        match mode {
            0 => target[i] = byte,
            1 => { target.remove(i); }
            _ => target.insert(i, byte),
        }
        let code = verify_code(&s, &input, &signature);
        prop_assert!(CODES.contains(&code), "{}", code);
        if code == "ok" {
            // only a change that parses to the same thing (extra whitespace, optional base64
            // padding, a byte replaced by itself) may still verify
            let same = |a: &[u8], b: &str, parse: &dyn Fn(&str) -> Option<String>| {
                std::str::from_utf8(a).ok().and_then(parse) == parse(b)
            };
            let inputs = |v: &str| parse_signature_input(v).ok().map(|p| format!("{p:?}"));
            let sigs = |v: &str| parse_signature(v).ok().map(|p| format!("{p:?}"));
            prop_assert!(same(&input, &s.valid_input, &inputs), "a mutated Signature-Input verified");
            prop_assert!(same(&signature, &s.valid_signature, &sigs), "a mutated Signature verified");
        }
    }

    #[test]
    fn random_signature_bytes_are_refused(bytes in prop::collection::vec(any::<u8>(), 0..128)) {
        let s = setup();
        let sig = format!("sig1=:{}:", base64_encode(&bytes));
        prop_assert_eq!(verify_code(&s, s.valid_input.as_bytes(), sig.as_bytes()), "signature_invalid");
    }
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
