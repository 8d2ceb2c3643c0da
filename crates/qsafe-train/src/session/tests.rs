//! Handshake and record-layer tests: every rejection, key update, close.

use qsafe_core::registry::{SUITE_CNSA2, SUITE_DEFAULT};
use qsafe_core::sig::{SigningKey, VerifyingKey};

use super::*;

struct Keys {
    worker: SigningKey,
    aggregator: SigningKey,
}

fn keys(suite: &'static Suite) -> Keys {
    Keys {
        worker: SigningKey::generate(suite.signature).unwrap(),
        aggregator: SigningKey::generate(suite.signature).unwrap(),
    }
}

fn vk(k: &SigningKey) -> VerifyingKey {
    k.verifying_key().unwrap()
}

/// A full handshake; returns (worker session, aggregator session).
fn pair(cfg: SessionConfig, k: &Keys) -> (Session, Session) {
    let (w, ch) = WorkerHandshake::start(cfg, &k.worker, &vk(&k.aggregator)).unwrap();
    let (a, sh) = AggregatorHandshake::respond(cfg, &k.aggregator, &[vk(&k.worker)], &ch).unwrap();
    let (ws, cf) = w.finish(&k.worker, &sh).unwrap();
    let as_ = a.finish(&cf).unwrap();
    (ws, as_)
}

fn session_err(r: Result<impl core::fmt::Debug>) -> SessionError {
    match r {
        Err(Error::Session(e)) => e,
        other => panic!("expected a session error, got {other:?}"),
    }
}

#[test]
fn handshake_and_frames_both_ways_for_both_suites() {
    for suite in [&SUITE_DEFAULT, &SUITE_CNSA2] {
        let k = keys(suite);
        let cfg = SessionConfig::new(suite);
        let (mut w, mut a) = pair(cfg, &k);
        assert_eq!(w.role(), Role::Worker);
        assert_eq!(a.peer_key(), vk(&k.worker).as_bytes());
        assert_eq!(w.peer_key(), vk(&k.aggregator).as_bytes());
        for i in 0..3u8 {
            let f = w.seal(FrameType::Data, &[i; 100]).unwrap();
            assert_eq!(f.len(), HEADER_LEN + 100 + TAG_LEN);
            let got = a.open(&f).unwrap();
            assert_eq!(got.payload, vec![i; 100]);
            assert_eq!(got.seq, u64::from(i));
            let back = a.seal(FrameType::Control, b"ack").unwrap();
            assert_eq!(w.open(&back).unwrap().payload, b"ack");
        }
        assert_eq!(w.counters().frames_sent, 3);
        assert_eq!(a.counters().frames_received, 3);
        assert_eq!(a.counters().bytes_received, 3 * (18 + 116));
        // The two directions use different keys: a worker frame does not open as if it
        // came from the aggregator.
        let f = w.seal(FrameType::Data, b"x").unwrap();
        let mut w2 = w;
        assert!(matches!(
            session_err(w2.open(&f)),
            SessionError::Tampered { .. } | SessionError::Reordered { .. }
        ));
    }
}

#[test]
fn unknown_keys_are_rejected_on_both_sides() {
    let k = keys(&SUITE_DEFAULT);
    let cfg = SessionConfig::new(&SUITE_DEFAULT);
    let stranger = SigningKey::generate(SUITE_DEFAULT.signature).unwrap();
    // The aggregator does not trust this worker.
    let (_, ch) = WorkerHandshake::start(cfg, &stranger, &vk(&k.aggregator)).unwrap();
    assert_eq!(
        session_err(AggregatorHandshake::respond(
            cfg,
            &k.aggregator,
            &[vk(&k.worker)],
            &ch
        )),
        SessionError::UnknownKey { role: "worker" }
    );
    // The worker pinned another aggregator.
    let (w, ch) = WorkerHandshake::start(cfg, &k.worker, &vk(&stranger)).unwrap();
    let (_, sh) = AggregatorHandshake::respond(cfg, &k.aggregator, &[vk(&k.worker)], &ch).unwrap();
    assert_eq!(
        session_err(w.finish(&k.worker, &sh)),
        SessionError::UnknownKey { role: "aggregator" }
    );
    // Keys of another algorithm are refused as configuration errors.
    let cnsa = SigningKey::generate(SUITE_CNSA2.signature).unwrap();
    assert!(matches!(
        WorkerHandshake::start(cfg, &cnsa, &vk(&k.aggregator)),
        Err(Error::InvalidParameter(_))
    ));
}

#[test]
fn tampered_handshake_messages_are_rejected() {
    let k = keys(&SUITE_DEFAULT);
    let cfg = SessionConfig::new(&SUITE_DEFAULT);
    let trusted = [vk(&k.worker)];

    // ServerHello: a flipped byte in the ephemeral key or the signature fails authentication.
    let (w, ch) = WorkerHandshake::start(cfg, &k.worker, &vk(&k.aggregator)).unwrap();
    let (_, sh) = AggregatorHandshake::respond(cfg, &k.aggregator, &trusted, &ch).unwrap();
    for pos in [40, sh.len() - 3] {
        let mut bad = sh.clone();
        bad[pos] ^= 1;
        let w = WorkerHandshake {
            cfg,
            client_hello: w.client_hello.clone(),
            aggregator: w.aggregator.clone(),
        };
        assert_eq!(
            session_err(w.finish(&k.worker, &bad)),
            SessionError::Authentication { role: "aggregator" },
            "byte {pos}"
        );
    }
    // A ServerHello for another ClientHello (replayed) fails too.
    let (_, ch2) = WorkerHandshake::start(cfg, &k.worker, &vk(&k.aggregator)).unwrap();
    let (_, sh2) = AggregatorHandshake::respond(cfg, &k.aggregator, &trusted, &ch2).unwrap();
    assert_eq!(
        session_err(w.finish(&k.worker, &sh2)),
        SessionError::Authentication { role: "aggregator" }
    );

    // ClientFinish: a flipped ciphertext byte breaks the worker's signature.
    let (w, ch) = WorkerHandshake::start(cfg, &k.worker, &vk(&k.aggregator)).unwrap();
    let (a, sh) = AggregatorHandshake::respond(cfg, &k.aggregator, &trusted, &ch).unwrap();
    let (_, cf) = w.finish(&k.worker, &sh).unwrap();
    let mut bad = cf.clone();
    bad[10] ^= 1;
    assert_eq!(
        session_err(a.finish(&bad)),
        SessionError::Authentication { role: "worker" }
    );

    // Truncations, trailing bytes, wrong magic, wrong suite.
    let (_, ch) = WorkerHandshake::start(cfg, &k.worker, &vk(&k.aggregator)).unwrap();
    for cut in [0, 3, 5, 20, ch.len() - 1] {
        assert!(
            AggregatorHandshake::respond(cfg, &k.aggregator, &trusted, &ch[..cut]).is_err(),
            "cut {cut}"
        );
    }
    let mut long = ch.clone();
    long.push(0);
    assert_eq!(
        session_err(AggregatorHandshake::respond(
            cfg,
            &k.aggregator,
            &trusted,
            &long
        )),
        SessionError::Malformed("client hello")
    );
    let mut magic = ch.clone();
    magic[0] = b'X';
    assert!(matches!(
        session_err(AggregatorHandshake::respond(
            cfg,
            &k.aggregator,
            &trusted,
            &magic
        )),
        SessionError::Unsupported { .. }
    ));
    let cnsa_cfg = SessionConfig::new(&SUITE_CNSA2);
    let cnsa_agg = SigningKey::generate(SUITE_CNSA2.signature).unwrap();
    assert!(matches!(
        session_err(AggregatorHandshake::respond(
            cnsa_cfg, &cnsa_agg, &trusted, &ch
        )),
        SessionError::Unsupported { what: "suite", .. }
    ));
    assert!(AggregatorHandshake::respond(cfg, &k.aggregator, &trusted, &vec![0; 20_000]).is_err());
}

#[test]
fn tampered_frames_are_rejected_and_counted() {
    let k = keys(&SUITE_DEFAULT);
    let (mut w, mut a) = pair(SessionConfig::new(&SUITE_DEFAULT), &k);
    let f = w.seal(FrameType::Data, b"gradient bytes").unwrap();
    // Body, tag, and every authenticated header field except seq (seq is checked first).
    for pos in [HEADER_LEN + 2, f.len() - 1, 5] {
        let mut bad = f.clone();
        bad[pos] ^= 1;
        assert_eq!(
            session_err(a.open(&bad)),
            SessionError::Tampered { seq: 0 },
            "byte {pos}"
        );
    }
    // Changing the type to another valid type is caught by the AAD too.
    let mut retyped = f.clone();
    retyped[1] = FrameType::Control.code();
    assert_eq!(
        session_err(a.open(&retyped)),
        SessionError::Tampered { seq: 0 }
    );
    assert_eq!(a.counters().rejected_tampered, 4);
    // Nothing advanced: the genuine frame still opens.
    assert_eq!(a.open(&f).unwrap().payload, b"gradient bytes");
    // Unknown version / type and a body of the wrong length are malformed.
    let mut v2 = f.clone();
    v2[0] = 2;
    assert!(a.open(&v2).is_err());
    let mut ty = f.clone();
    ty[1] = 9;
    assert_eq!(
        session_err(a.open(&ty)),
        SessionError::Malformed("frame type")
    );
    assert_eq!(
        session_err(a.open(&f[..f.len() - 1])),
        SessionError::Malformed("frame length")
    );
    assert_eq!(
        session_err(a.open(&f[..10])),
        SessionError::Malformed("frame header")
    );
    assert_eq!(a.counters().rejected_malformed, 4);
}

#[test]
fn replayed_and_reordered_frames_are_rejected() {
    let k = keys(&SUITE_DEFAULT);
    let (mut w, mut a) = pair(SessionConfig::new(&SUITE_DEFAULT), &k);
    let f0 = w.seal(FrameType::Data, b"zero").unwrap();
    let f1 = w.seal(FrameType::Data, b"one").unwrap();
    let f2 = w.seal(FrameType::Data, b"two").unwrap();
    assert_eq!(
        session_err(a.open(&f1)),
        SessionError::Reordered {
            seq: 1,
            expected: 0
        }
    );
    a.open(&f0).unwrap();
    assert_eq!(
        session_err(a.open(&f0)),
        SessionError::Replayed {
            seq: 0,
            expected: 1
        }
    );
    a.open(&f1).unwrap();
    a.open(&f2).unwrap();
    assert_eq!(
        session_err(a.open(&f1)),
        SessionError::Replayed {
            seq: 1,
            expected: 3
        }
    );
    // A forged header claiming the next sequence number with an old body is tampered.
    let mut forged = f0.clone();
    forged[6..14].copy_from_slice(&3u64.to_be_bytes());
    assert_eq!(
        session_err(a.open(&forged)),
        SessionError::Tampered { seq: 3 }
    );
    let c = a.counters();
    assert_eq!(
        (
            c.rejected_reordered,
            c.rejected_replayed,
            c.rejected_tampered
        ),
        (1, 2, 1)
    );
}

#[test]
fn cross_round_frames_are_rejected() {
    let k = keys(&SUITE_DEFAULT);
    let (mut w, mut a) = pair(SessionConfig::new(&SUITE_DEFAULT), &k);
    w.set_round(1).unwrap();
    a.set_round(1).unwrap();
    a.open(&w.seal(FrameType::Data, b"round 1").unwrap())
        .unwrap();
    // The worker is still in round 1 when the aggregator has moved on.
    let stale = w.seal(FrameType::Data, b"late update").unwrap();
    a.set_round(2).unwrap();
    assert_eq!(
        session_err(a.open(&stale)),
        SessionError::CrossRound {
            expected: 2,
            got: 1
        }
    );
    assert_eq!(a.counters().rejected_cross_round, 1);
    // The authentic cross-round frame consumed its sequence number: the stream continues.
    w.set_round(2).unwrap();
    let f = w.seal(FrameType::Data, b"round 2").unwrap();
    assert_eq!(a.open(&f).unwrap().round, 2);
    // And cannot be replayed.
    assert!(matches!(
        session_err(a.open(&stale)),
        SessionError::Replayed { .. }
    ));
    // Rounds only move forward.
    assert!(a.set_round(1).is_err());
}

#[test]
fn oversized_frames_are_rejected_before_reading_the_body() {
    let k = keys(&SUITE_DEFAULT);
    let cfg = SessionConfig::new(&SUITE_DEFAULT)
        .with_max_frame_len(1024)
        .unwrap();
    let (mut w, mut a) = pair(cfg, &k);
    assert!(matches!(
        session_err(w.seal(FrameType::Data, &[0; 1025])),
        SessionError::Oversized { len: 1025, .. }
    ));
    let ok = w.seal(FrameType::Data, &[0; 1024]).unwrap();
    assert_eq!(
        a.parse_header(&ok[..HEADER_LEN]).unwrap().body_len,
        1024 + 16
    );
    // A header declaring 4 GiB: rejected from the 18 header bytes alone.
    let mut huge = ok[..HEADER_LEN].to_vec();
    huge[14..18].copy_from_slice(&u32::MAX.to_be_bytes());
    assert_eq!(
        session_err(a.parse_header(&huge)),
        SessionError::Oversized {
            len: u32::MAX as usize,
            max: 1024 + 16
        }
    );
    assert!(matches!(
        session_err(a.open(&huge)),
        SessionError::Oversized { .. }
    ));
    assert_eq!(a.counters().rejected_oversized, 2);
    a.open(&ok).unwrap();
    assert!(
        SessionConfig::new(&SUITE_DEFAULT)
            .with_max_frame_len(0)
            .is_err()
    );
}

#[test]
fn keys_update_every_n_frames_and_every_b_bytes() {
    let k = keys(&SUITE_DEFAULT);
    let cfg = SessionConfig::new(&SUITE_DEFAULT)
        .with_key_update(3, 1 << 20)
        .unwrap();
    let (mut w, mut a) = pair(cfg, &k);
    for i in 0..10u8 {
        let f = w.seal(FrameType::Data, &[i; 32]).unwrap();
        assert_eq!(a.open(&f).unwrap().payload, vec![i; 32]);
    }
    assert_eq!(w.counters().key_updates_sent, 3);
    assert_eq!(a.counters().key_updates_received, 3);
    assert_eq!(a.counters().key_updates_sent, 0);

    // By bytes: 100-byte epochs, 60-byte frames → an update after every second frame.
    let cfg = SessionConfig::new(&SUITE_DEFAULT)
        .with_key_update(1000, 100)
        .unwrap();
    let (mut w, mut a) = pair(cfg, &k);
    for _ in 0..6 {
        a.open(&w.seal(FrameType::Data, &[7; 60]).unwrap()).unwrap();
    }
    assert_eq!(w.counters().key_updates_sent, 3);
    assert_eq!(a.counters().key_updates_received, 3);
    assert!(
        SessionConfig::new(&SUITE_DEFAULT)
            .with_key_update(0, 1)
            .is_err()
    );
}

#[test]
fn key_update_changes_the_key_and_forgets_the_old_one() {
    let secret = SecretBytes::from_slice(&[3u8; 32]);
    let mut d = Direction::new(Hkdf::Sha256, secret.duplicate()).unwrap();
    let before = d.key.seal(&d.nonce(0), b"", b"same plaintext").unwrap();
    let old_secret = d.secret.duplicate();
    d.ratchet().unwrap();
    let after = d.key.seal(&d.nonce(0), b"", b"same plaintext").unwrap();
    assert_ne!(before, after);
    assert_ne!(d.secret, old_secret);
    // The old epoch's frames no longer open under the new key.
    assert!(d.key.open(&d.nonce(0), b"", &before).is_err());
    // Lock-step: an independent direction from the same secret ratchets to the same key.
    let mut e = Direction::new(Hkdf::Sha256, secret).unwrap();
    e.ratchet().unwrap();
    assert_eq!(
        e.key.open(&e.nonce(0), b"", &after).unwrap(),
        b"same plaintext"
    );
}

#[test]
fn a_dropped_frame_cannot_desynchronise_keys_silently() {
    let k = keys(&SUITE_DEFAULT);
    let cfg = SessionConfig::new(&SUITE_DEFAULT)
        .with_key_update(2, 1 << 20)
        .unwrap();
    let (mut w, mut a) = pair(cfg, &k);
    let f0 = w.seal(FrameType::Data, b"a").unwrap();
    let _dropped = w.seal(FrameType::Data, b"b").unwrap();
    let f2 = w.seal(FrameType::Data, b"c").unwrap();
    a.open(&f0).unwrap();
    assert!(matches!(
        session_err(a.open(&f2)),
        SessionError::Reordered { .. }
    ));
}

#[test]
fn close_ends_each_direction() {
    let k = keys(&SUITE_DEFAULT);
    let (mut w, mut a) = pair(SessionConfig::new(&SUITE_DEFAULT), &k);
    let bye = w.seal(FrameType::Close, b"").unwrap();
    assert_eq!(
        session_err(w.seal(FrameType::Data, b"x")),
        SessionError::Closed
    );
    assert_eq!(a.open(&bye).unwrap().kind, FrameType::Close);
    assert_eq!(session_err(a.open(&bye)), SessionError::Closed);
    // The other direction is still open.
    let f = a.seal(FrameType::Data, b"final model").unwrap();
    assert_eq!(w.open(&f).unwrap().payload, b"final model");
}

#[test]
fn debug_shows_no_key_material() {
    let k = keys(&SUITE_DEFAULT);
    let (w, _) = pair(SessionConfig::new(&SUITE_DEFAULT), &k);
    let shown = format!("{w:?}");
    assert!(
        shown.contains("Worker") && shown.contains("default"),
        "{shown}"
    );
    assert!(
        !shown.contains("secret") && !shown.contains("key:"),
        "{shown}"
    );
}

#[test]
fn standalone_header_parser_matches() {
    let k = keys(&SUITE_DEFAULT);
    let (mut w, _) = pair(SessionConfig::new(&SUITE_DEFAULT), &k);
    w.set_round(7).unwrap();
    let f = w.seal(FrameType::Control, b"hi").unwrap();
    let h = parse_header(&f, 1024).unwrap();
    assert_eq!(
        h,
        FrameHeader {
            kind: FrameType::Control,
            round: 7,
            seq: 0,
            body_len: 2 + TAG_LEN
        }
    );
    assert!(parse_header(&f[..17], 1024).is_err());
    let mut short = f[..HEADER_LEN].to_vec();
    short[14..18].copy_from_slice(&3u32.to_be_bytes());
    assert!(parse_header(&short, 1024).is_err());
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]

    #[test]
    fn seal_open_round_trips_and_any_bit_flip_is_rejected(
        payloads in proptest::collection::vec(
            proptest::collection::vec(proptest::num::u8::ANY, 0..600), 1..5),
        flip in proptest::num::usize::ANY,
        bit in 0u8..8,
    ) {
        let k = keys(&SUITE_DEFAULT);
        let cfg = SessionConfig::new(&SUITE_DEFAULT).with_key_update(2, 1000).unwrap();
        let (mut w, mut a) = pair(cfg, &k);
        for p in &payloads {
            let f = w.seal(FrameType::Data, p).unwrap();
            let mut bad = f.clone();
            let pos = flip % bad.len();
            bad[pos] ^= 1 << bit;
            proptest::prop_assert!(a.open(&bad).is_err(), "flip at {}", pos);
            let got = a.open(&f).unwrap();
            proptest::prop_assert_eq!(&got.payload, p);
        }
    }

    #[test]
    fn parsing_garbage_never_panics(
        bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..64),
    ) {
        let _ = parse_header(&bytes, 1 << 20);
    }
}
