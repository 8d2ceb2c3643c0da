//! RFC 9458 Appendix A ("Complete Example of a Request and Response"): DHKEM(X25519,
//! HKDF-SHA256), HKDF-SHA256, AES-128-GCM, key id 1.
//!
//! The hex values are copied from RFC 9458 Appendix A (January 2024), and agree with the
//! same example as transcribed in the Netty incubator's `OHttpCryptoTest`. What is checked,
//! byte for byte:
//!
//! - the key configuration, from the published `skR` (and as an `application/ohttp-keys`
//!   list);
//! - the request header, the HPKE `info`, and `enc` = the public key of the published `skE`;
//! - the gateway opens the published encapsulated request to the published binary HTTP
//!   request, which decodes as `GET https://example.com/`, and which this encoder
//!   reproduces with truncation;
//! - the response key schedule (`salt`, `prk`, `aead_key`, `aead_nonce`) from the published
//!   `secret` with the RFC's formulas;
//! - the gateway, given the published `response_nonce`, produces the published encapsulated
//!   response; the client side, given the published `secret`, opens it.
//!
//! Not checked: the client producing the published encapsulated request. That needs an
//! HPKE sender whose DHKEM ephemeral key is the published `skE` itself; qsafe-core's
//! `setup_base_sender_derand` takes RFC 9180's `ikmE` (and derives `skE` from it), which
//! the RFC does not publish.

// Test code: a failed unwrap is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use qsafe_core::kdf::Hkdf;
use qsafe_core::kem::DecapsulationKey;
use qsafe_core::registry;
use qsafe_gateway::ohttp::{
    ClientResponse, Error, Gateway, GatewayKey, KeyConfig, RequestHeader, SymmetricAlgorithm, bhttp,
};

const SK_R: &str = "3c168975674b2fa8e465970b79c8dcf09f1c741626480bd4c6162fc5b6a98e1a";
const PK_R: &str = "31e1f05a740102115220e9af918f738674aec95f54db6e04eb705aae8e798155";
const KEY_CONFIG: &str =
    "01002031e1f05a740102115220e9af918f738674aec95f54db6e04eb705aae8e79815500080001000100010003";
const REQUEST: &str = "00034745540568747470730b6578616d706c652e636f6d012f";
const SK_E: &str = "bc51d5e930bda26589890ac7032f70ad12e4ecb37abb1b65b1256c9c48999c73";
const PK_E: &str = "4b28f881333e7c164ffc499ad9796f877f4e1051ee6d31bad19dec96c208b472";
const INFO: &str = "6d6573736167652f626874747020726571756573740001002000010001";
const ENC_REQUEST: &str = "010020000100014b28f881333e7c164ffc499ad9796f877f4e1051ee6d31bad1\
                           9dec96c208b4726374e469135906992e1268c594d2a10c695d858c40a026e796\
                           5e7d86b83dd440b2c0185204b4d63525";
const RESPONSE: &str = "0140c8";
const SECRET: &str = "62d87a6ba569ee81014c2641f52bea36";
const RESPONSE_NONCE: &str = "c789e7151fcba46158ca84b04464910d";
const SALT: &str = "4b28f881333e7c164ffc499ad9796f877f4e1051ee6d31bad19dec96c208b472\
                    c789e7151fcba46158ca84b04464910d";
const PRK: &str = "979aaeae066cf211ab407b31ae49767f344e1501e475c84e8aff547cc5a683db";
const AEAD_KEY: &str = "5d0172a080e428b16d298c4ea0db620d";
const AEAD_NONCE: &str = "f6bf1aeb88d6df87007fa263";
const ENC_RESPONSE: &str = "c789e7151fcba46158ca84b04464910d86f9013e404feea014e7be4a441f234f857fbd";

fn h(s: &str) -> Vec<u8> {
    hex::decode(s).expect("test constant is hex")
}

/// HKDF-SHA256 with AES-128-GCM, then HKDF-SHA256 with ChaCha20-Poly1305, as published.
fn published_symmetric() -> Vec<SymmetricAlgorithm> {
    vec![
        SymmetricAlgorithm::HKDF_SHA256_AES_128_GCM,
        SymmetricAlgorithm::HKDF_SHA256_CHACHA20_POLY1305,
    ]
}

fn gateway_key() -> GatewayKey {
    let sk = DecapsulationKey::from_private_bytes(&registry::X25519, &h(SK_R)).unwrap();
    GatewayKey::new(1, sk, published_symmetric()).unwrap()
}

fn gateway() -> Gateway {
    let mut gw = Gateway::new();
    gw.dangerous().allow_classical_kem();
    gw.add_key(gateway_key()).unwrap();
    gw
}

#[test]
fn rfc9458_a_key_configuration() {
    let key = gateway_key();
    assert_eq!(key.config().public_key(), h(PK_R));
    assert_eq!(hex::encode(key.config().encode()), KEY_CONFIG);
    let parsed = KeyConfig::decode(&h(KEY_CONFIG)).unwrap();
    assert_eq!(&parsed, key.config());
    assert_eq!(parsed.key_id(), 1);
    assert_eq!(parsed.kem_id(), 0x0020);
    assert_eq!(parsed.symmetric(), published_symmetric().as_slice());

    // RFC 9458 §3.2: the same configuration as application/ohttp-keys, 2-byte length first.
    let list = gateway().encoded_configs().unwrap();
    assert_eq!(hex::encode(&list), format!("002d{KEY_CONFIG}"));
    assert_eq!(KeyConfig::decode_list(&list).unwrap(), vec![parsed]);
}

#[test]
fn rfc9458_a_request_header_info_and_enc() {
    let hdr = RequestHeader {
        key_id: 1,
        kem_id: 0x0020,
        kdf_id: 0x0001,
        aead_id: 0x0001,
    };
    assert_eq!(hex::encode(hdr.info()), INFO);
    let enc_request = h(ENC_REQUEST);
    assert_eq!(enc_request.len(), RequestHeader::LEN + 32 + 25 + 16);
    let (parsed, rest) = RequestHeader::decode(&enc_request).unwrap();
    assert_eq!(parsed, hdr);
    assert_eq!(hdr.encode().as_slice(), &enc_request[..7]);
    // enc is the ephemeral public key pkE = X25519(skE, 9).
    let sk_e = DecapsulationKey::from_private_bytes(&registry::X25519, &h(SK_E)).unwrap();
    assert_eq!(sk_e.public_bytes(), h(PK_E));
    assert_eq!(&rest[..32], h(PK_E).as_slice());
}

#[test]
fn rfc9458_a_gateway_opens_the_published_request() {
    let (request, responder) = gateway().decapsulate(&h(ENC_REQUEST)).unwrap();
    assert_eq!(hex::encode(&request), REQUEST);
    assert_eq!(responder.key_id(), 1);

    let decoded = bhttp::Request::decode(&request, &bhttp::Limits::default()).unwrap();
    assert_eq!(
        decoded,
        bhttp::Request::new("GET", "https", "example.com", "/")
    );
    // The published request is a known-length message truncated after its control data.
    let truncated = bhttp::Encoding {
        truncate: true,
        ..bhttp::Encoding::default()
    };
    assert_eq!(
        hex::encode(decoded.encode_with(&truncated).unwrap()),
        REQUEST
    );
    assert_eq!(
        hex::encode(bhttp::Response::new(200).encode_with(&truncated).unwrap()),
        RESPONSE
    );
}

#[test]
fn rfc9458_a_response_key_schedule() {
    // RFC 9458 §4.4 written out: salt = enc ‖ response_nonce, prk = Extract(salt, secret),
    // aead_key = Expand(prk, "key", Nk), aead_nonce = Expand(prk, "nonce", Nn).
    let salt = [h(PK_E), h(RESPONSE_NONCE)].concat();
    assert_eq!(hex::encode(&salt), SALT);
    let prk = Hkdf::Sha256.extract(&salt, &h(SECRET));
    assert_eq!(hex::encode(prk.expose()), PRK);
    let key = Hkdf::Sha256.expand(prk.expose(), &[b"key"], 16).unwrap();
    assert_eq!(hex::encode(key.expose()), AEAD_KEY);
    let nonce = Hkdf::Sha256.expand(prk.expose(), &[b"nonce"], 12).unwrap();
    assert_eq!(hex::encode(nonce.expose()), AEAD_NONCE);
}

#[test]
fn rfc9458_a_gateway_produces_the_published_response() {
    let (_, responder) = gateway().decapsulate(&h(ENC_REQUEST)).unwrap();
    let enc_response = responder
        .encapsulate_with_nonce(&h(RESPONSE), &h(RESPONSE_NONCE))
        .unwrap();
    assert_eq!(hex::encode(enc_response), ENC_RESPONSE);
}

#[test]
fn rfc9458_a_client_opens_the_published_response() {
    let sym = SymmetricAlgorithm::HKDF_SHA256_AES_128_GCM;
    let client = ClientResponse::from_exported_secret(sym, &h(PK_E), &h(SECRET)).unwrap();
    assert_eq!(
        hex::encode(client.open(&h(ENC_RESPONSE)).unwrap()),
        RESPONSE
    );
    let response = ClientResponse::from_exported_secret(sym, &h(PK_E), &h(SECRET))
        .unwrap()
        .open_response(&h(ENC_RESPONSE), &bhttp::Limits::default())
        .unwrap();
    assert_eq!(response, bhttp::Response::new(200));

    // One changed byte anywhere, nonce included, and it no longer opens.
    let published = h(ENC_RESPONSE);
    let mut rejected = 0;
    for i in 0..published.len() {
        let mut bad = published.clone();
        bad[i] ^= 0x01;
        let client = ClientResponse::from_exported_secret(sym, &h(PK_E), &h(SECRET)).unwrap();
        assert_eq!(client.open(&bad), Err(Error::Decryption), "byte {i}");
        rejected += 1;
    }
    assert_eq!(rejected, 35);
}

#[test]
fn rfc9458_a_tampered_requests_are_refused() {
    let gw = gateway();
    let published = h(ENC_REQUEST);
    // Any change after the header is a decryption failure, never a panic or a success.
    let mut n = 0;
    for i in RequestHeader::LEN..published.len() {
        let mut bad = published.clone();
        bad[i] ^= 0x80;
        assert_eq!(
            gw.decapsulate(&bad).err(),
            Some(Error::Decryption),
            "byte {i}"
        );
        n += 1;
    }
    assert_eq!(n, 73);
    // Header changes: another key id, KEM, or a pair the key does not offer.
    let with = |i: usize, v: u8| {
        let mut b = published.clone();
        b[i] = v;
        gw.decapsulate(&b).err()
    };
    assert_eq!(with(0, 2), Some(Error::UnknownKeyId(2)));
    for (i, v) in [(2, 0x10), (4, 0x02), (6, 0x02)] {
        let err = with(i, v).unwrap();
        assert!(
            matches!(err, Error::UnsupportedSuite { key_id: 1, .. }),
            "{err}"
        );
        assert!(err.is_key_problem());
        assert_eq!(err.http_status(), 400);
    }
    // ChaCha20-Poly1305 is offered: the header is accepted, the AEAD then fails.
    assert_eq!(with(6, 0x03), Some(Error::Decryption));
    assert_eq!(
        gw.decapsulate(&published[..30]).err(),
        Some(Error::Malformed("request"))
    );
}
