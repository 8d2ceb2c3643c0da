//! Hostile input: random, truncated, oversized and mutated binary HTTP messages, key
//! configurations and encapsulated requests and responses are refused with a typed error
//! (never a panic, never a false success), and valid messages round-trip (proptest).

// Test code: a failed unwrap is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::LazyLock;

use proptest::prelude::*;
use qsafe_gateway::ohttp::bhttp::{
    Encoding, Field, Framing, Informational, Limits, Request, Response,
};
use qsafe_gateway::ohttp::{Error, Gateway, GatewayKey, KeyConfig, Profile};

/// One X-Wing and one X25519 key, made once: (gateway, their configurations).
static GATEWAY: LazyLock<(Gateway, Vec<KeyConfig>)> = LazyLock::new(|| {
    let mut gw = Gateway::new();
    gw.dangerous().allow_classical_kem();
    gw.add_key(GatewayKey::generate(1, Profile::XWing).unwrap())
        .unwrap();
    gw.add_key(GatewayKey::generate(2, Profile::ClassicalX25519).unwrap())
        .unwrap();
    let configs = gw.configs().cloned().collect();
    (gw, configs)
});

/// RFC 9292 Figures 8 and 11 (see tests/ohttp_bhttp.rs) as mutation seeds.
const SEEDS: [&str; 3] = [
    "0003474554056874747073000a2f68656c6c6f2e747874406c0a757365722d6167656e74346375726c2f372e\
     31362e33206c69626375726c2f372e31362e33204f70656e53534c2f302e392e376c207a6c69622f312e322e\
     3304686f73740f7777772e6578616d706c652e636f6d0f6163636570742d6c616e677561676506656e2c206d\
     690000",
    "0140c8001d5468697320636f6e74656e7420636f6e7461696e732043524c462e0d0a0d07747261696c657204\
     74657874",
    "0340660772756e6e696e670a22736c65657020313522004067046c696e6b233c2f7374796c652e6373733e3b\
     2072656c3d7072656c6f61643b2061733d7374796c650040c80474657374017800033132330000",
];

fn small_limits() -> Limits {
    Limits {
        max_message: 4096,
        max_content: 1024,
        max_section: 512,
        max_fields: 8,
        max_informational: 2,
    }
}

/// Decodes as both kinds under default and small limits; a success must re-encode and
/// decode to the same message.
fn decode_everything(bytes: &[u8]) {
    for limits in [Limits::default(), small_limits()] {
        if let Ok(req) = Request::decode(bytes, &limits) {
            let again = req.encode().unwrap();
            assert_eq!(Request::decode(&again, &Limits::default()).unwrap(), req);
        }
        if let Ok(res) = Response::decode(bytes, &limits) {
            let again = res.encode().unwrap();
            assert_eq!(Response::decode(&again, &Limits::default()).unwrap(), res);
        }
    }
    let _ = KeyConfig::decode(bytes);
    let _ = KeyConfig::decode_list(bytes);
}

fn token() -> impl Strategy<Value = String> {
    "[a-z0-9!#$%&'*+.^_`|~-]{1,12}"
}

fn field() -> impl Strategy<Value = Field> {
    (
        token(),
        // Visible ASCII and obs-text, no leading or trailing whitespace.
        proptest::collection::vec(prop_oneof![0x21u8..=0x7e, 0x80u8..=0xff], 0..24),
    )
        .prop_filter("connection-specific", |(n, _)| {
            !matches!(
                n.as_str(),
                "connection"
                    | "proxy-connection"
                    | "keep-alive"
                    | "transfer-encoding"
                    | "upgrade"
                    | "te"
                    | "content-length"
            )
        })
        .prop_map(|(n, v)| Field::new(n, v))
}

fn fields() -> impl Strategy<Value = Vec<Field>> {
    proptest::collection::vec(field(), 0..6)
}

fn request() -> impl Strategy<Value = Request> {
    (
        "[A-Z]{1,8}",
        "[a-z][a-z0-9+.-]{0,7}",
        "[a-z0-9.-]{0,20}(:[0-9]{1,5})?",
        "/[!-~]{0,30}",
        fields(),
        proptest::collection::vec(any::<u8>(), 0..200),
        fields(),
    )
        .prop_filter("CONNECT has no scheme or path", |t| t.0 != "CONNECT")
        .prop_map(
            |(method, scheme, authority, path, headers, content, trailers)| Request {
                method,
                scheme,
                authority,
                path,
                headers,
                content,
                trailers,
            },
        )
}

fn response() -> impl Strategy<Value = Response> {
    (
        proptest::collection::vec((prop_oneof![100u16..=100, 102u16..=199], fields()), 0..3),
        200u16..=599,
        fields(),
        proptest::collection::vec(any::<u8>(), 0..200),
        fields(),
    )
        .prop_map(|(info, status, headers, content, trailers)| Response {
            informational: info
                .into_iter()
                .map(|(status, headers)| Informational { status, headers })
                .collect(),
            status,
            headers,
            content,
            trailers,
        })
}

fn encoding() -> impl Strategy<Value = Encoding> {
    (any::<bool>(), any::<bool>(), 0usize..40).prop_map(|(indet, truncate, padding)| Encoding {
        framing: if indet {
            Framing::IndeterminateLength
        } else {
            Framing::KnownLength
        },
        truncate,
        padding,
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn bhttp_random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        decode_everything(&bytes);
    }

    #[test]
    fn bhttp_mutated_examples_never_panic(
        seed in 0usize..SEEDS.len(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut bytes = hex::decode(SEEDS[seed]).unwrap();
        for (at, v) in flips {
            let i = at.index(bytes.len());
            bytes[i] = v;
        }
        decode_everything(&bytes);
        decode_everything(&bytes[..cut.index(bytes.len() + 1)]);
    }

    #[test]
    fn bhttp_requests_round_trip(req in request(), enc in encoding()) {
        let bytes = req.encode_with(&enc).unwrap();
        prop_assert_eq!(Request::decode(&bytes, &Limits::default()).unwrap(), req);
    }

    #[test]
    fn bhttp_responses_round_trip(res in response(), enc in encoding()) {
        let bytes = res.encode_with(&enc).unwrap();
        prop_assert_eq!(Response::decode(&bytes, &Limits::default()).unwrap(), res);
    }

    #[test]
    fn bhttp_truncated_known_length_is_refused_or_equal(
        req in request(),
        cut in any::<prop::sample::Index>(),
    ) {
        // Cutting a valid message either hits an allowed boundary (and means a message
        // with the cut parts empty) or is an error; it never yields other content.
        let bytes = req.encode().unwrap();
        if let Ok(got) = Request::decode(&bytes[..cut.index(bytes.len())], &Limits::default()) {
            prop_assert_eq!((&got.method, &got.scheme, &got.authority, &got.path),
                (&req.method, &req.scheme, &req.authority, &req.path));
            prop_assert!(got.content.is_empty() || got.content == req.content);
        }
    }

    #[test]
    fn encapsulated_request_garbage_is_refused(
        bytes in proptest::collection::vec(any::<u8>(), 0..1400),
        key_id in 0u8..4,
    ) {
        let (gw, _) = &*GATEWAY;
        prop_assert!(gw.decapsulate(&bytes).is_err());
        // With a plausible header in front: refused all the same.
        let mut framed = vec![key_id, 0x64, 0x7a, 0, 1, 0, 2];
        framed.extend_from_slice(&bytes);
        let err = gw.decapsulate(&framed).unwrap_err();
        let expected = matches!(
            err,
            Error::UnknownKeyId(_)
                | Error::UnsupportedSuite { .. }
                | Error::Malformed(_)
                | Error::Decryption
        );
        prop_assert!(expected, "{}", err);
    }

    #[test]
    fn encapsulated_request_any_change_is_refused(
        which in 0usize..2,
        at in any::<prop::sample::Index>(),
        xor in 1u8..=255,
        cut in any::<prop::sample::Index>(),
    ) {
        let (gw, configs) = &*GATEWAY;
        let (good, _) = configs[which].encapsulate(b"\x00\x03GET\x05https\x00\x01/").unwrap();
        let mut bad = good.clone();
        bad[at.index(good.len())] ^= xor;
        prop_assert!(gw.decapsulate(&bad).is_err());
        prop_assert!(gw.decapsulate(&good[..cut.index(good.len())]).is_err());
        let mut longer = good.clone();
        longer.push(xor);
        prop_assert!(gw.decapsulate(&longer).is_err());
    }

    #[test]
    fn encapsulated_response_garbage_is_refused(
        bytes in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let (_, configs) = &*GATEWAY;
        let (_, pending) = configs[0].encapsulate(b"\x00\x03GET").unwrap();
        prop_assert!(pending.open(&bytes).is_err());
    }
}

#[test]
fn oversized_inputs_are_refused_by_size_first() {
    let (gw, _) = &*GATEWAY;
    let mut gw_small = Gateway::new();
    gw_small.set_max_request(64);
    assert!(matches!(
        gw_small.decapsulate(&[0u8; 65]),
        Err(Error::TooLarge { .. })
    ));
    let huge = vec![0u8; (8 << 20) + 4097];
    assert!(matches!(gw.decapsulate(&huge), Err(Error::TooLarge { .. })));
    let limits = small_limits();
    let mut padded = hex::decode(SEEDS[1]).unwrap();
    padded.resize(5000, 0);
    assert!(matches!(
        Response::decode(&padded, &limits),
        Err(qsafe_gateway::ohttp::bhttp::Error::TooLarge {
            what: "message",
            ..
        })
    ));
}
