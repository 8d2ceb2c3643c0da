//! Oblivious HTTP end to end with the post-quantum profiles, key rotation, and the errors a
//! gateway distinguishes.

// Test code: a failed unwrap is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use qsafe_core::kem::DecapsulationKey;
use qsafe_core::registry;
use qsafe_gateway::ohttp::{
    self, ClientResponse, Error, Gateway, GatewayKey, KeyConfig, Profile, RequestHeader,
    SymmetricAlgorithm, bhttp,
};

fn inference_request() -> bhttp::Request {
    let mut req = bhttp::Request::new("POST", "https", "model.internal", "/v1/infer");
    req.headers
        .push(bhttp::Field::new("content-type", "application/json"));
    req.content = br#"{"inputs":[[0.1,0.2,0.3]]}"#.to_vec();
    req.headers.push(bhttp::Field::new(
        "content-length",
        req.content.len().to_string(),
    ));
    req
}

fn inference_response() -> bhttp::Response {
    let mut res = bhttp::Response::new(200);
    res.headers
        .push(bhttp::Field::new("content-type", "application/json"));
    res.content = br#"{"label":"cat","score":0.97}"#.to_vec();
    res
}

fn gateway_with(keys: impl IntoIterator<Item = GatewayKey>) -> Gateway {
    let mut gw = Gateway::new();
    for k in keys {
        gw.add_key(k).unwrap();
    }
    gw
}

/// One full exchange; returns the encapsulated request's length.
fn exchange(gw: &Gateway, config: &KeyConfig) -> usize {
    let limits = bhttp::Limits::default();
    let request = inference_request();
    let (enc_request, pending) = config.encapsulate(&request.encode().unwrap()).unwrap();
    let (plain, responder) = gw.decapsulate(&enc_request).unwrap();
    assert_eq!(bhttp::Request::decode(&plain, &limits).unwrap(), request);
    assert_eq!(responder.key_id(), config.key_id());
    let enc_response = responder
        .encapsulate_response(&inference_response())
        .unwrap();
    assert_eq!(
        pending.open_response(&enc_response, &limits).unwrap(),
        inference_response()
    );
    enc_request.len()
}

#[test]
fn xwing_round_trip() {
    let gw = gateway_with([GatewayKey::generate(7, Profile::XWing).unwrap()]);
    let configs = KeyConfig::decode_list(&gw.encoded_configs().unwrap()).unwrap();
    assert_eq!(configs.len(), 1);
    let config = &configs[0];
    assert_eq!(config.kem_id(), 0x647a);
    assert_eq!(config.public_key().len(), 1216);
    assert_eq!(
        config.symmetric(),
        &[SymmetricAlgorithm::HKDF_SHA256_AES_256_GCM]
    );
    let body = inference_request().encode().unwrap().len();
    assert_eq!(exchange(&gw, config), RequestHeader::LEN + 1120 + body + 16);
}

#[test]
fn mlkem1024_p384_round_trip() {
    let gw = gateway_with([GatewayKey::generate(9, Profile::Cnsa2).unwrap()]);
    let config = gw.key(9).unwrap().config().clone();
    assert_eq!(config.kem_id(), 0x0051);
    assert_eq!(config.kem().id, "mlkem1024-p384");
    assert_eq!(config.public_key().len(), 1665);
    assert_eq!(
        config.symmetric(),
        &[SymmetricAlgorithm::HKDF_SHA384_AES_256_GCM]
    );
    let body = inference_request().encode().unwrap().len();
    assert_eq!(
        exchange(&gw, &config),
        RequestHeader::LEN + 1665 + body + 16
    );
}

#[test]
fn classical_x25519_needs_the_dangerous_switch() {
    let key = GatewayKey::generate(1, Profile::ClassicalX25519).unwrap();
    let mut gw = Gateway::new();
    let err = gw.add_key(key).unwrap_err();
    assert_eq!(err, Error::ClassicalKem("x25519"));
    gw.dangerous().allow_classical_kem();
    gw.add_key(GatewayKey::generate(1, Profile::ClassicalX25519).unwrap())
        .unwrap();
    let config = gw.key(1).unwrap().config().clone();
    let body = inference_request().encode().unwrap().len();
    assert_eq!(exchange(&gw, &config), RequestHeader::LEN + 32 + body + 16);
}

#[test]
fn nenc_comes_from_each_kem() {
    // Nenc per draft-ietf-hpke-pq / RFC 9180, as the registry records it.
    let mut n = 0;
    for (kem, nenc) in [
        (&registry::X25519, 32),
        (&registry::P256, 65),
        (&registry::X_WING, 1120),
        (&registry::ML_KEM_768, 1088),
        (&registry::MLKEM768_P256, 1153),
        (&registry::MLKEM1024_P384, 1665),
    ] {
        let sk = DecapsulationKey::generate(kem).unwrap();
        let key =
            GatewayKey::new(3, sk, vec![SymmetricAlgorithm::HKDF_SHA256_AES_256_GCM]).unwrap();
        let mut gw = Gateway::new();
        gw.dangerous().allow_classical_kem();
        gw.add_key(key).unwrap();
        let config = gw.key(3).unwrap().config().clone();
        let (enc_request, _) = config.encapsulate(b"\x00\x03GET").unwrap();
        assert_eq!(
            enc_request.len(),
            RequestHeader::LEN + nenc + 5 + 16,
            "{}",
            kem.id
        );
        let (plain, _) = gw.decapsulate(&enc_request).unwrap();
        assert_eq!(plain, b"\x00\x03GET");
        n += 1;
    }
    assert_eq!(n, 6);
}

#[test]
fn rotation_keeps_old_keys_until_removed() {
    let mut gw = gateway_with([
        GatewayKey::generate(1, Profile::XWing).unwrap(),
        GatewayKey::generate(2, Profile::Cnsa2).unwrap(),
    ]);
    let published = gw.encoded_configs().unwrap();
    let configs = KeyConfig::decode_list(&published).unwrap();
    assert_eq!(
        configs.iter().map(KeyConfig::key_id).collect::<Vec<_>>(),
        [1, 2]
    );
    for c in &configs {
        exchange(&gw, c);
    }
    assert_eq!(
        gw.add_key(GatewayKey::generate(2, Profile::XWing).unwrap()),
        Err(Error::DuplicateKeyId(2))
    );

    // Key 1 retired: requests to it get the key problem, key 2 still works.
    let (stale, _) = configs[0].encapsulate(b"\x00\x03GET").unwrap();
    assert!(gw.remove_key(1).is_some());
    assert!(gw.remove_key(1).is_none());
    let err = gw.decapsulate(&stale).unwrap_err();
    assert_eq!(err, Error::UnknownKeyId(1));
    assert!(err.is_key_problem());
    assert_eq!(err.http_status(), 400);
    exchange(&gw, &configs[1]);
    assert_eq!(
        KeyConfig::decode_list(&gw.encoded_configs().unwrap()).unwrap(),
        vec![configs[1].clone()]
    );
}

#[test]
fn header_must_match_an_offered_suite() {
    let gw = gateway_with([GatewayKey::generate(4, Profile::XWing).unwrap()]);
    let config = gw.key(4).unwrap().config().clone();
    let (good, _) = config.encapsulate(b"\x00\x03GET").unwrap();
    let with = |i: usize, v: u8| {
        let mut b = good.clone();
        b[i] = v;
        gw.decapsulate(&b).unwrap_err()
    };
    // KEM 0x0051 instead of 0x647a; KDF 0x0002; AEAD 0x0001 and export-only 0xffff.
    for (i, v) in [(1, 0x00), (4, 0x02), (6, 0x01)] {
        let err = with(i, v);
        assert!(
            matches!(err, Error::UnsupportedSuite { key_id: 4, .. }),
            "{err}"
        );
        assert!(err.is_key_problem());
    }
    let mut export_only = good.clone();
    export_only[5..7].copy_from_slice(&[0xff, 0xff]);
    assert!(gw.decapsulate(&export_only).unwrap_err().is_key_problem());

    // A client cannot pick a pair the configuration does not offer.
    assert!(matches!(
        config.encapsulate_with(SymmetricAlgorithm::HKDF_SHA384_AES_256_GCM, b""),
        Err(Error::UnsupportedSuite { .. })
    ));
}

#[test]
fn decryption_failures_are_one_opaque_error() {
    let gw = gateway_with([GatewayKey::generate(5, Profile::XWing).unwrap()]);
    let config = gw.key(5).unwrap().config().clone();
    let (good, _) = config
        .encapsulate(&inference_request().encode().unwrap())
        .unwrap();
    let mut n = 0;
    for i in [7, 100, 7 + 1119, 7 + 1120, good.len() - 1] {
        let mut bad = good.clone();
        bad[i] ^= 0x01;
        let err = gw.decapsulate(&bad).unwrap_err();
        assert_eq!(err, Error::Decryption, "byte {i}");
        assert!(!err.is_key_problem());
        assert_eq!(err.http_status(), 400);
        n += 1;
    }
    assert_eq!(n, 5);

    // Another gateway's key under the same id and profile.
    let other = gateway_with([GatewayKey::generate(5, Profile::XWing).unwrap()]);
    assert_eq!(other.decapsulate(&good).unwrap_err(), Error::Decryption);

    // A response belongs to its own request.
    let (req_a, pending_a) = config.encapsulate(b"\x00\x03GET").unwrap();
    let (req_b, _) = config.encapsulate(b"\x00\x03GET").unwrap();
    assert_ne!(
        req_a[7..7 + 1120],
        req_b[7..7 + 1120],
        "fresh enc per request"
    );
    let (_, responder_b) = gw.decapsulate(&req_b).unwrap();
    let response_b = responder_b.encapsulate(b"\x01\x40\xc8").unwrap();
    assert_eq!(pending_a.open(&response_b).unwrap_err(), Error::Decryption);
}

#[test]
fn responses_are_fresh_and_tamper_evident() {
    let gw = gateway_with([GatewayKey::generate(6, Profile::XWing).unwrap()]);
    let config = gw.key(6).unwrap().config().clone();
    let (req, _) = config.encapsulate(b"\x00\x03GET").unwrap();
    let (_, r1) = gw.decapsulate(&req).unwrap();
    let (_, r2) = gw.decapsulate(&req).unwrap();
    let a = r1.encapsulate(b"\x01\x40\xc8").unwrap();
    let b = r2.encapsulate(b"\x01\x40\xc8").unwrap();
    // max(Nn, Nk) = 32 bytes of nonce for AES-256-GCM, then 3 bytes and the tag.
    assert_eq!(a.len(), 32 + 3 + 16);
    assert_ne!(a[..32], b[..32]);

    let (req, pending) = config.encapsulate(b"\x00\x03GET").unwrap();
    let (_, responder) = gw.decapsulate(&req).unwrap();
    let mut res = responder.encapsulate(b"\x01\x40\xc8").unwrap();
    res[0] ^= 1;
    assert_eq!(pending.open(&res).unwrap_err(), Error::Decryption);
}

#[test]
fn short_and_oversized_messages() {
    let mut gw = gateway_with([GatewayKey::generate(8, Profile::XWing).unwrap()]);
    let config = gw.key(8).unwrap().config().clone();
    let (good, pending) = config.encapsulate(b"\x00\x03GET").unwrap();
    for len in [0, 6, 7, 7 + 1119, 7 + 1120, 7 + 1120 + 15] {
        assert_eq!(
            gw.decapsulate(&good[..len]).unwrap_err(),
            Error::Malformed("request"),
            "len {len}"
        );
    }
    assert_eq!(
        pending.open(&[0u8; 47]).unwrap_err(),
        Error::Malformed("response")
    );
    gw.set_max_request(1000);
    let err = gw.decapsulate(&good).unwrap_err();
    assert!(matches!(err, Error::TooLarge { limit: 1000, .. }));
    assert_eq!(err.http_status(), 413);
}

#[test]
fn key_configuration_encoding_errors() {
    let key = GatewayKey::generate(1, Profile::XWing).unwrap();
    let good = key.config().encode();
    assert_eq!(good.len(), 1 + 2 + 1216 + 2 + 4);
    assert_eq!(&KeyConfig::decode(&good).unwrap(), key.config());

    let mut trailing = good.clone();
    trailing.push(0);
    assert!(matches!(
        KeyConfig::decode(&trailing),
        Err(Error::KeyConfig(_))
    ));
    assert!(matches!(
        KeyConfig::decode(&good[..good.len() - 1]),
        Err(Error::KeyConfig(_))
    ));
    assert!(matches!(
        KeyConfig::decode(&good[..100]),
        Err(Error::KeyConfig(_))
    ));
    let mut odd = good.clone();
    let n = odd.len();
    odd[n - 6..n - 4].copy_from_slice(&[0, 2]);
    assert!(matches!(KeyConfig::decode(&odd), Err(Error::KeyConfig(_))));
    let mut unknown = good.clone();
    unknown[1..3].copy_from_slice(&[0x12, 0x34]);
    assert_eq!(
        KeyConfig::decode(&unknown),
        Err(Error::UnsupportedKem(0x1234))
    );

    // Lists: an unknown KEM is skipped, anything malformed rejects the list.
    let list = |configs: &[&[u8]]| {
        let mut out = Vec::new();
        for c in configs {
            out.extend_from_slice(&u16::try_from(c.len()).unwrap().to_be_bytes());
            out.extend_from_slice(c);
        }
        out
    };
    assert_eq!(
        KeyConfig::decode_list(&list(&[&unknown, &good])).unwrap(),
        vec![key.config().clone()]
    );
    assert_eq!(
        KeyConfig::decode_list(&list(&[&unknown])),
        Err(Error::UnsupportedKem(0x1234))
    );
    assert!(KeyConfig::decode_list(&list(&[&good, &trailing])).is_err());
    assert!(KeyConfig::decode_list(&[]).is_err());
    let mut cut = list(&[&good]);
    cut.pop();
    assert!(KeyConfig::decode_list(&cut).is_err());

    // A configuration advertising an unknown pair is parsed; a client skips the pair.
    let mut extra = good[..good.len() - 6].to_vec();
    extra.extend_from_slice(&[0, 8, 0x00, 0x09, 0x00, 0x09, 0x00, 0x01, 0x00, 0x02]);
    let parsed = KeyConfig::decode(&extra).unwrap();
    assert_eq!(
        parsed.preferred_symmetric(),
        Some(SymmetricAlgorithm::HKDF_SHA256_AES_256_GCM)
    );
    // A gateway never advertises a pair it cannot serve.
    let sk = DecapsulationKey::generate(&registry::X_WING).unwrap();
    assert!(matches!(
        GatewayKey::new(1, sk, vec![SymmetricAlgorithm::from_ids(9, 9)]),
        Err(Error::UnsupportedSuite { .. })
    ));
}

#[test]
fn constants_and_problem_details() {
    assert_eq!(ohttp::REQUEST_MEDIA_TYPE, "message/ohttp-req");
    assert_eq!(ohttp::RESPONSE_MEDIA_TYPE, "message/ohttp-res");
    assert_eq!(ohttp::KEYS_MEDIA_TYPE, "application/ohttp-keys");
    assert_eq!(ohttp::WELL_KNOWN_PATH, "/.well-known/ohttp-gateway");
    assert_eq!(bhttp::MEDIA_TYPE, "message/bhttp");
    let problem: serde_json::Value = serde_json::from_str(&ohttp::key_problem_json()).unwrap();
    assert_eq!(
        problem["type"],
        "https://iana.org/assignments/http-problem-types#ohttp-key"
    );
    assert!(problem["title"].is_string());
}

#[test]
fn gateway_is_shareable_and_debug_hides_keys() {
    fn shareable<T: Send + Sync>() {}
    shareable::<Gateway>();
    shareable::<KeyConfig>();
    shareable::<ClientResponse>();
    let key = GatewayKey::generate(1, Profile::XWing).unwrap();
    let seed = hex::encode(key.secret().private_bytes().unwrap().expose());
    let shown = format!("{key:?}");
    let shown = format!("{shown} {:?}", gateway_with([key]));
    assert!(shown.contains("x-wing"), "{shown}");
    assert!(!shown.contains(&seed[..16]), "{shown}");
}

#[test]
fn derandomized_encapsulation_is_deterministic() {
    // Hazmat, for vectors: the same ephemeral randomness gives the same bytes.
    let gw = gateway_with([GatewayKey::generate(2, Profile::XWing).unwrap()]);
    let config = gw.key(2).unwrap().config().clone();
    let sym = SymmetricAlgorithm::HKDF_SHA256_AES_256_GCM;
    let (a, _) = config
        .encapsulate_derand(sym, b"\x00\x03GET", &[1; 64])
        .unwrap();
    let (b, pending) = config
        .encapsulate_derand(sym, b"\x00\x03GET", &[1; 64])
        .unwrap();
    let (c, _) = config
        .encapsulate_derand(sym, b"\x00\x03GET", &[2; 64])
        .unwrap();
    assert_eq!(a, b);
    assert_ne!(a, c);
    let (_, responder) = gw.decapsulate(&b).unwrap();
    let nonce = [9u8; 32];
    let res = responder
        .encapsulate_with_nonce(b"\x01\x40\xc8", &nonce)
        .unwrap();
    assert_eq!(res[..32], nonce);
    assert_eq!(pending.open(&res).unwrap(), b"\x01\x40\xc8");
}

#[test]
fn gateway_decodes_requests_under_its_limits() {
    let mut gw = gateway_with([GatewayKey::generate(1, Profile::XWing).unwrap()]);
    let plain = inference_request().encode().unwrap();
    assert_eq!(gw.decode_request(&plain).unwrap(), inference_request());

    // RFC 9458 §5.1: a 100-continue expectation is an error (sent encapsulated).
    let mut expecting = inference_request();
    expecting
        .headers
        .push(bhttp::Field::new("expect", "foo, 100-Continue"));
    let err = gw.decode_request(&expecting.encode().unwrap()).unwrap_err();
    assert_eq!(err, Error::ContinueExpectation);
    assert_eq!(err.http_status(), 417);

    gw.set_limits(bhttp::Limits {
        max_content: 4,
        ..bhttp::Limits::default()
    });
    let err = gw.decode_request(&plain).unwrap_err();
    assert!(matches!(
        err,
        Error::Bhttp(bhttp::Error::TooLarge {
            what: "content",
            ..
        })
    ));
    assert_eq!(err.http_status(), 400);
    assert!(!err.is_key_problem());

    // The gateway answers such errors inside the encapsulation.
    let config = gw.key(1).unwrap().config().clone();
    let (enc_request, pending) = config.encapsulate(&plain).unwrap();
    let (opened, responder) = gw.decapsulate(&enc_request).unwrap();
    let status = gw.decode_request(&opened).unwrap_err().http_status();
    let enc_response = responder
        .encapsulate_response(&bhttp::Response::new(status))
        .unwrap();
    let limits = bhttp::Limits::default();
    assert_eq!(
        pending
            .open_response(&enc_response, &limits)
            .unwrap()
            .status,
        400
    );
}
