//! Chunked OHTTP (draft-ietf-ohai-chunked-ohttp-08): a response sealed chunk by chunk opens
//! as it arrives, byte by byte if need be; truncation, reordering, tampering and empty
//! non-final chunks are refused; a chunked request never opens as a whole one or vice versa.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use qsafe_gateway::ohttp::{Error, Gateway, GatewayKey, KeyConfig, Profile, bhttp};

fn setup(profile: Profile) -> (Gateway, KeyConfig) {
    let mut gateway = Gateway::new();
    gateway
        .add_key(GatewayKey::generate(7, profile).unwrap())
        .unwrap();
    let config = KeyConfig::decode_list(&gateway.encoded_configs().unwrap())
        .unwrap()
        .remove(0);
    (gateway, config)
}

fn request() -> Vec<u8> {
    bhttp::Request::new("POST", "https", "gw", "/v1/chat/completions")
        .encode()
        .unwrap()
}

/// A response body of three non-final chunks and a final one.
fn streamed(gateway: &Gateway, enc_request: &[u8]) -> Vec<u8> {
    let (plain, responder) = gateway.decapsulate_chunked(enc_request).unwrap();
    assert_eq!(plain, request());
    let (mut sealer, mut body) = responder.start().unwrap();
    let pieces: Vec<Vec<u8>> = vec![b"alpha".to_vec(), b"beta".to_vec(), vec![7u8; 40_000]];
    for p in &pieces {
        body.extend(sealer.seal(p).unwrap());
    }
    body.extend(sealer.seal_final(b"end").unwrap());
    body
}

#[test]
fn chunks_open_as_they_arrive_for_both_profiles() {
    for profile in [Profile::XWing, Profile::Cnsa2] {
        let (gateway, config) = setup(profile);
        let (enc_request, pending) = config.encapsulate_chunked(&request()).unwrap();
        let body = streamed(&gateway, &enc_request);
        let mut opener = pending.opener();
        let mut pieces = Vec::new();
        for b in &body {
            pieces.extend(opener.push(std::slice::from_ref(b)).unwrap());
        }
        assert_eq!(pieces.len(), 3, "{profile:?}");
        assert_eq!(pieces[0], b"alpha");
        assert_eq!(pieces[2], vec![7u8; 40_000]);
        assert_eq!(opener.finish().unwrap(), b"end");
    }
}

#[test]
fn truncated_reordered_tampered_and_empty_chunks_are_refused() {
    let (gateway, config) = setup(Profile::XWing);
    let (enc_request, pending) = config.encapsulate_chunked(&request()).unwrap();
    let body = streamed(&gateway, &enc_request);

    // Truncation: everything but the final chunk opens, then finish fails.
    let mut opener = pending.opener();
    opener.push(&body[..body.len() - 20]).unwrap();
    assert!(opener.finish().is_err(), "a cut final chunk must fail");

    // Tampering with a non-final chunk.
    let (enc_request, pending) = config.encapsulate_chunked(&request()).unwrap();
    let mut body = streamed(&gateway, &enc_request);
    body[40] ^= 1;
    let mut opener = pending.opener();
    assert!(matches!(opener.push(&body), Err(Error::Decryption)));

    // Reordering: swap the first two chunks (same length prefix shape, different counters).
    let (enc_request, pending) = config.encapsulate_chunked(&request()).unwrap();
    let (plain, responder) = gateway.decapsulate_chunked(&enc_request).unwrap();
    assert_eq!(plain, request());
    let (mut sealer, nonce) = responder.start().unwrap();
    let a = sealer.seal(b"first").unwrap();
    let b = sealer.seal(b"secnd").unwrap();
    let fin = sealer.seal_final(b"").unwrap();
    let swapped = [nonce, b, a, fin].concat();
    let mut opener = pending.opener();
    assert!(matches!(opener.push(&swapped), Err(Error::Decryption)));

    // An empty non-final chunk cannot be sealed.
    let (enc_request, _) = config.encapsulate_chunked(&request()).unwrap();
    let (_, responder) = gateway.decapsulate_chunked(&enc_request).unwrap();
    let (mut sealer, _) = responder.start().unwrap();
    assert!(sealer.seal(b"").is_err());
}

#[test]
fn the_variants_do_not_mix() {
    let (gateway, config) = setup(Profile::XWing);
    let (chunked, _) = config.encapsulate_chunked(&request()).unwrap();
    assert!(matches!(
        gateway.decapsulate(&chunked),
        Err(Error::Decryption)
    ));
    let (whole, _) = config.encapsulate(&request()).unwrap();
    assert!(gateway.decapsulate_chunked(&whole).is_err());
}
