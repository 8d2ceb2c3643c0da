//! Interop with Mozilla's implementation (crates `ohttp` 0.8 with its `rust-hpke` backend,
//! and `bhttp` 0.8), both directions, for DHKEM(X25519) and for X-Wing (HPKE KEM 0x647a),
//! the one post-quantum KEM both implement.
//!
//! That backend only offers HKDF-SHA256 with AES-128-GCM or ChaCha20-Poly1305 (it drops
//! other pairs from a configuration, and its client then panics on an empty list), so X-Wing
//! is tested with ChaCha20-Poly1305 rather than qsafe's default AES-256-GCM.
//!
//! Their client → our gateway, our client → their server, key configurations both ways,
//! and binary HTTP messages written by one and read by the other in both framings.

// Test code: a failed unwrap is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::Cursor;

use ohttp::hpke::{Aead, Kdf, Kem};
use qsafe_core::kem::DecapsulationKey;
use qsafe_core::registry;
use qsafe_gateway::ohttp::{Gateway, GatewayKey, KeyConfig, SymmetricAlgorithm, bhttp as ours};

/// The suites exercised: (their KEM, their KDF/AEAD, our KEM, our pair).
fn suites() -> [(
    Kem,
    ohttp::SymmetricSuite,
    &'static registry::Algorithm,
    SymmetricAlgorithm,
); 2] {
    [
        (
            Kem::X25519Sha256,
            ohttp::SymmetricSuite::new(Kdf::HkdfSha256, Aead::Aes128Gcm),
            &registry::X25519,
            SymmetricAlgorithm::HKDF_SHA256_AES_128_GCM,
        ),
        (
            Kem::XWing,
            ohttp::SymmetricSuite::new(Kdf::HkdfSha256, Aead::ChaCha20Poly1305),
            &registry::X_WING,
            SymmetricAlgorithm::HKDF_SHA256_CHACHA20_POLY1305,
        ),
    ]
}

fn request() -> ours::Request {
    let mut req = ours::Request::new("POST", "https", "model.internal", "/v1/infer");
    req.headers
        .push(ours::Field::new("content-type", "application/json"));
    req.content = br#"{"inputs":[1,2,3]}"#.to_vec();
    req
}

#[test]
fn their_client_to_our_gateway() {
    let mut n = 0;
    for (_, _, kem, sym) in suites() {
        let key = GatewayKey::new(3, DecapsulationKey::generate(kem).unwrap(), vec![sym]).unwrap();
        let mut gw = Gateway::new();
        gw.dangerous().allow_classical_kem();
        gw.add_key(key).unwrap();

        let client =
            ohttp::ClientRequest::from_encoded_config_list(&gw.encoded_configs().unwrap()).unwrap();
        let plain = request().encode().unwrap();
        let (enc_request, pending) = client.encapsulate(&plain).unwrap();

        let (opened, responder) = gw.decapsulate(&enc_request).unwrap();
        assert_eq!(opened, plain, "{}", kem.id);
        let response = ours::Response::new(201).encode().unwrap();
        let enc_response = responder.encapsulate(&response).unwrap();
        assert_eq!(
            pending.decapsulate(&enc_response).unwrap(),
            response,
            "{}",
            kem.id
        );
        n += 1;
    }
    assert_eq!(n, 2);
}

#[test]
fn our_client_to_their_server() {
    let mut n = 0;
    for (their_kem, their_sym, kem, sym) in suites() {
        let config = ohttp::KeyConfig::new(5, their_kem, vec![their_sym]).unwrap();
        let encoded = config.encode().unwrap();
        let list = ohttp::KeyConfig::encode_list(&[&config]).unwrap();
        let server = ohttp::Server::new(config).unwrap();

        let ours = KeyConfig::decode(&encoded).unwrap();
        assert_eq!(ours.kem(), kem);
        assert_eq!(ours.symmetric(), &[sym]);
        assert_eq!(KeyConfig::decode_list(&list).unwrap(), vec![ours.clone()]);
        assert_eq!(ours.encode(), encoded, "{}", kem.id);

        let plain = request().encode().unwrap();
        let (enc_request, pending) = ours.encapsulate(&plain).unwrap();
        let (opened, responder) = server.decapsulate(&enc_request).unwrap();
        assert_eq!(opened, plain, "{}", kem.id);
        let response = ours::Response::new(200).encode().unwrap();
        let enc_response = responder.encapsulate(&response).unwrap();
        assert_eq!(pending.open(&enc_response).unwrap(), response, "{}", kem.id);
        n += 1;
    }
    assert_eq!(n, 2);
}

#[test]
fn their_key_configuration_reads_ours() {
    let sk = DecapsulationKey::generate(&registry::X_WING).unwrap();
    let key = GatewayKey::new(
        9,
        sk,
        vec![
            SymmetricAlgorithm::HKDF_SHA256_CHACHA20_POLY1305,
            SymmetricAlgorithm::HKDF_SHA256_AES_128_GCM,
        ],
    )
    .unwrap();
    let encoded = key.config().encode();
    let theirs = ohttp::KeyConfig::decode(&encoded).unwrap();
    assert_eq!(theirs.encode().unwrap(), encoded);
}

fn their_fields(section: &bhttp::FieldSection) -> Vec<(Vec<u8>, Vec<u8>)> {
    section
        .fields()
        .iter()
        .map(|f| (f.name().to_vec(), f.value().to_vec()))
        .collect()
}

fn our_fields(fields: &[ours::Field]) -> Vec<(Vec<u8>, Vec<u8>)> {
    fields
        .iter()
        .map(|f| (f.name.as_bytes().to_vec(), f.value.clone()))
        .collect()
}

#[test]
fn binary_http_both_ways_in_both_framings() {
    let limits = ours::Limits::default();
    let mut req = request();
    req.trailers.push(ours::Field::new("x-checksum", "abc"));
    let mut res = ours::Response::new(200);
    res.headers
        .push(ours::Field::new("content-type", "text/plain"));
    res.content = b"hello".to_vec();
    res.informational.push(ours::Informational {
        status: 103,
        headers: vec![ours::Field::new("link", "</a.css>; rel=preload")],
    });

    let mut n = 0;
    for (framing, mode) in [
        (ours::Framing::KnownLength, bhttp::Mode::KnownLength),
        (
            ours::Framing::IndeterminateLength,
            bhttp::Mode::IndeterminateLength,
        ),
    ] {
        let enc = ours::Encoding {
            framing,
            ..ours::Encoding::default()
        };

        // Ours → theirs.
        let bytes = req.encode_with(&enc).unwrap();
        let m = bhttp::Message::read_bhttp(&mut Cursor::new(&bytes[..])).unwrap();
        assert_eq!(m.control().method(), Some(&b"POST"[..]));
        assert_eq!(m.control().scheme(), Some(&b"https"[..]));
        assert_eq!(m.control().authority(), Some(&b"model.internal"[..]));
        assert_eq!(m.control().path(), Some(&b"/v1/infer"[..]));
        assert_eq!(their_fields(m.header()), our_fields(&req.headers));
        assert_eq!(m.content(), req.content.as_slice());
        assert_eq!(their_fields(m.trailer()), our_fields(&req.trailers));

        // Theirs → ours, byte for byte the same as ours.
        let mut back = Vec::new();
        m.write_bhttp(mode, &mut back).unwrap();
        assert_eq!(back, bytes, "{framing:?}");
        assert_eq!(ours::Request::decode(&back, &limits).unwrap(), req);

        let bytes = res.encode_with(&enc).unwrap();
        let m = bhttp::Message::read_bhttp(&mut Cursor::new(&bytes[..])).unwrap();
        assert_eq!(m.control().status().map(|s| s.code()), Some(200));
        assert_eq!(m.informational().len(), 1);
        assert_eq!(m.content(), b"hello");
        let mut back = Vec::new();
        m.write_bhttp(mode, &mut back).unwrap();
        assert_eq!(back, bytes, "{framing:?}");
        assert_eq!(ours::Response::decode(&back, &limits).unwrap(), res);
        n += 1;
    }
    assert_eq!(n, 2);
}
