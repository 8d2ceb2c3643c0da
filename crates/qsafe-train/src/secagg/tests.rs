//! Protocol-level tests: whole rounds between in-memory clients and a server.

use std::collections::BTreeMap;

use qsafe_core::registry::{SUITE_CNSA2, SUITE_DEFAULT};

use super::messages::RevealedShare;
use super::*;
use crate::mask::{self, MaskSeed, Purpose};
use crate::quant::Quantiser;

/// Deterministic pseudo-random vector (test data only).
fn data(tag: u8, len: usize) -> Vec<u32> {
    mask::expand(
        &MaskSeed::from_bytes(&[tag; 32]).unwrap(),
        99,
        Purpose::SelfMask { owner: 0 },
        len,
    )
    .unwrap()
}

fn plain_sum(inputs: &BTreeMap<u32, Vec<u32>>, who: &[u32], len: usize) -> Vec<u32> {
    let mut acc = vec![0u32; len];
    for id in who {
        crate::quant::add_assign(&mut acc, &inputs[id]).unwrap();
    }
    acc
}

#[derive(Default)]
struct Faults {
    /// Advertise but never send round 1.
    before_share_keys: Vec<u32>,
    /// Complete round 1 but send no masked input.
    after_share_keys: Vec<u32>,
    /// Send a masked input but never answer the unmask request.
    before_unmask: Vec<u32>,
}

struct Outcome {
    aggregate: Aggregate,
    masked: BTreeMap<u32, Vec<u32>>,
    /// Envelopes each worker sent in round 1.
    envelopes: BTreeMap<u32, usize>,
}

fn run(cfg: Config, inputs: &BTreeMap<u32, Vec<u32>>, faults: &Faults) -> crate::Result<Outcome> {
    let mut server = Server::new(cfg);
    let mut clients = BTreeMap::new();
    for &id in inputs.keys() {
        let (c, ad) = Client::new(cfg, id)?;
        server.receive_advertise(&ad)?;
        clients.insert(id, c);
    }
    let roster = server.roster()?;
    let mut envelopes = BTreeMap::new();
    for (id, c) in clients.iter_mut() {
        if faults.before_share_keys.contains(id) {
            continue;
        }
        let msg = c.share_keys(&roster)?;
        envelopes.insert(*id, msg.envelopes.len());
        server.receive_share_keys(&msg)?;
    }
    let forwarded = server.forward()?;
    let mut masked = BTreeMap::new();
    for f in &forwarded {
        if faults.after_share_keys.contains(&f.to) {
            continue;
        }
        let c = clients.get_mut(&f.to).unwrap();
        let y = c.masked_input(f, &inputs[&f.to])?;
        server.receive_masked_input(&y)?;
        masked.insert(f.to, y.masked);
    }
    let request = server.unmask_request()?;
    for id in &request.survivors {
        if faults.before_unmask.contains(id) {
            continue;
        }
        let response = clients.get_mut(id).unwrap().unmask(&request)?;
        server.receive_unmask_response(&response)?;
    }
    Ok(Outcome {
        aggregate: server.finish()?,
        masked,
        envelopes,
    })
}

fn inputs(ids: &[u32], len: usize) -> BTreeMap<u32, Vec<u32>> {
    ids.iter()
        .map(|&id| (id, data(u8::try_from(id % 251).unwrap(), len)))
        .collect()
}

#[test]
fn masks_cancel_without_dropouts() {
    let ids = [3, 7, 11, 12, 40];
    let len = 1000;
    let cfg = Config::for_suite(&SUITE_DEFAULT, 1, 3, len).unwrap();
    let x = inputs(&ids, len);
    let out = run(cfg, &x, &Faults::default()).unwrap();
    assert_eq!(out.aggregate.sum, plain_sum(&x, &ids, len));
    assert_eq!(out.aggregate.survivors, ids.to_vec());
    assert!(out.aggregate.dropped.is_empty());
    // Each masked input differs from its plaintext.
    for (id, y) in &out.masked {
        assert_ne!(y, &x[id], "worker {id} sent its input unmasked");
    }
}

#[test]
fn cnsa2_suite_aggregates_with_a_dropout() {
    let ids = [1, 2, 3, 4];
    let len = 257;
    let cfg = Config::for_suite(&SUITE_CNSA2, 9, 3, len).unwrap();
    assert_eq!(cfg.kem().id, "mlkem1024-p384");
    let x = inputs(&ids, len);
    let faults = Faults {
        after_share_keys: vec![2],
        ..Faults::default()
    };
    let out = run(cfg, &x, &faults).unwrap();
    assert_eq!(out.aggregate.sum, plain_sum(&x, &[1, 3, 4], len));
    assert_eq!(out.aggregate.dropped, vec![2]);
}

#[test]
fn up_to_n_minus_t_dropouts_after_round_one_are_recovered() {
    let ids = [2, 5, 6, 9, 10, 14, 20];
    let len = 333;
    let cfg = Config::new(&qsafe_core::registry::X_WING, 4, 4, len).unwrap();
    let x = inputs(&ids, len);
    // n = 7, t = 4. First: one worker never does round 1 (so it is not in U2) and two drop
    // after it — the lowest id (which only encapsulated to its peers) and the highest (which
    // only decapsulated) — leaving exactly t survivors.
    let faults = Faults {
        before_share_keys: vec![6],
        after_share_keys: vec![2, 20],
        ..Faults::default()
    };
    let out = run(cfg, &x, &faults).unwrap();
    assert_eq!(out.aggregate.sum, plain_sum(&x, &[5, 9, 10, 14], len));
    assert_eq!(out.aggregate.survivors, vec![5, 9, 10, 14]);
    assert_eq!(out.aggregate.dropped, vec![2, 20]);

    // Then the full n - t = 3 dropouts after round 1.
    let faults = Faults {
        after_share_keys: vec![2, 10, 20],
        ..Faults::default()
    };
    let out = run(cfg, &x, &faults).unwrap();
    assert_eq!(out.aggregate.sum, plain_sum(&x, &[5, 6, 9, 14], len));
    assert_eq!(out.aggregate.dropped, vec![2, 10, 20]);

    // A survivor that goes silent during unmasking is fine while t still answer.
    let faults = Faults {
        after_share_keys: vec![5],
        before_unmask: vec![9, 14],
        ..Faults::default()
    };
    let out = run(cfg, &x, &faults).unwrap();
    assert_eq!(
        out.aggregate.sum,
        plain_sum(&x, &[2, 6, 9, 10, 14, 20], len)
    );
}

fn is_below_threshold(r: crate::Result<Outcome>) -> bool {
    matches!(r, Err(Error::SecAgg(SecAggError::BelowThreshold { .. })))
}

#[test]
fn below_threshold_aborts_cleanly_at_every_stage() {
    let ids = [1, 2, 3, 4, 5];
    let len = 64;
    let cfg = Config::for_suite(&SUITE_DEFAULT, 0, 3, len).unwrap();
    let x = inputs(&ids, len);
    // Too few masked inputs.
    let faults = Faults {
        after_share_keys: vec![1, 3, 5],
        ..Faults::default()
    };
    assert!(is_below_threshold(run(cfg, &x, &faults)));
    // Too few completed round 1.
    let faults = Faults {
        before_share_keys: vec![2, 3, 4],
        ..Faults::default()
    };
    assert!(is_below_threshold(run(cfg, &x, &faults)));
    // Too few unmask responses.
    let faults = Faults {
        before_unmask: vec![1, 2, 3],
        ..Faults::default()
    };
    assert!(is_below_threshold(run(cfg, &x, &faults)));
    // Too few advertised.
    assert!(is_below_threshold(run(
        cfg,
        &inputs(&[1, 2], len),
        &Faults::default()
    )));
}

/// Runs rounds 0–2 for `ids`, all completing; returns the clients, the server and the request.
fn up_to_unmask(cfg: Config, ids: &[u32]) -> (BTreeMap<u32, Client>, Server, UnmaskRequest) {
    let mut server = Server::new(cfg);
    let mut clients = BTreeMap::new();
    for &id in ids {
        let (c, ad) = Client::new(cfg, id).unwrap();
        server.receive_advertise(&ad).unwrap();
        clients.insert(id, c);
    }
    let roster = server.roster().unwrap();
    for c in clients.values_mut() {
        server
            .receive_share_keys(&c.share_keys(&roster).unwrap())
            .unwrap();
    }
    for f in server.forward().unwrap() {
        let c = clients.get_mut(&f.to).unwrap();
        let y = c.masked_input(&f, &vec![1; cfg.vector_len()]).unwrap();
        server.receive_masked_input(&y).unwrap();
    }
    let request = server.unmask_request().unwrap();
    (clients, server, request)
}

#[test]
fn client_refuses_to_reveal_both_shares_of_a_worker() {
    let cfg = Config::for_suite(&SUITE_DEFAULT, 5, 2, 8).unwrap();
    let (mut clients, _server, request) = up_to_unmask(cfg, &[1, 2, 3, 4]);
    let c = clients.get_mut(&1).unwrap();
    let both = UnmaskRequest {
        dropped: vec![3],
        ..request.clone()
    };
    assert_eq!(
        c.unmask(&both).unwrap_err().to_string(),
        Error::from(SecAggError::BothSharesRequested(3)).to_string()
    );
    // Lists that do not cover U2, name strangers, repeat ids, drop the responder itself, or
    // leave fewer than t survivors are refused too.
    let partial = UnmaskRequest {
        survivors: vec![1, 2],
        dropped: vec![],
        ..request.clone()
    };
    assert!(c.unmask(&partial).is_err());
    let stranger = UnmaskRequest {
        survivors: vec![1, 2, 3, 4],
        dropped: vec![77],
        ..request.clone()
    };
    assert!(matches!(
        c.unmask(&stranger),
        Err(Error::SecAgg(SecAggError::UnknownWorker(77)))
    ));
    let repeated = UnmaskRequest {
        survivors: vec![1, 2, 2, 3, 4],
        ..request.clone()
    };
    assert!(c.unmask(&repeated).is_err());
    let self_dropped = UnmaskRequest {
        survivors: vec![2, 3, 4],
        dropped: vec![1],
        ..request.clone()
    };
    assert!(c.unmask(&self_dropped).is_err());
    let few = UnmaskRequest {
        survivors: vec![1],
        dropped: vec![2, 3, 4],
        ..request.clone()
    };
    assert!(matches!(
        c.unmask(&few),
        Err(Error::SecAgg(SecAggError::BelowThreshold { .. }))
    ));
    // The honest request is answered once; a second request (say, asking for key shares of
    // a survivor) is refused because the client already revealed its self-mask shares.
    c.unmask(&request).unwrap();
    let second = UnmaskRequest {
        survivors: vec![1, 2, 4],
        dropped: vec![3],
        ..request
    };
    assert!(matches!(
        c.unmask(&second),
        Err(Error::SecAgg(SecAggError::UnexpectedMessage { .. }))
    ));
}

/// Chi-square statistic of the top 4 bits of `v` against the uniform distribution (15 dof).
fn chi2_high_nibble(v: &[u32]) -> f64 {
    let mut counts = [0f64; 16];
    for x in v {
        counts[(x >> 28) as usize] += 1.0;
    }
    let expected = v.len() as f64 / 16.0;
    counts
        .iter()
        .map(|c| (c - expected).powi(2) / expected)
        .sum()
}

/// Chi-square test of homogeneity of the top-nibble histograms of two samples (15 dof).
fn chi2_two_sample(a: &[u32], b: &[u32]) -> f64 {
    let (mut ca, mut cb) = ([0f64; 16], [0f64; 16]);
    a.iter().for_each(|x| ca[(x >> 28) as usize] += 1.0);
    b.iter().for_each(|x| cb[(x >> 28) as usize] += 1.0);
    let (na, nb) = (a.len() as f64, b.len() as f64);
    ca.iter()
        .zip(&cb)
        .filter(|(x, y)| **x + **y > 0.0)
        .map(|(x, y)| {
            let total = x + y;
            let ea = total * na / (na + nb);
            let eb = total * nb / (na + nb);
            (x - ea).powi(2) / ea + (y - eb).powi(2) / eb
        })
        .sum()
}

fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = a.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = b.iter().map(|y| (y - mb).powi(2)).sum();
    cov / (va * vb).sqrt()
}

#[test]
fn a_single_masked_update_is_independent_of_the_true_update() {
    // χ²(15) critical value at p = 1e-6 (Wilson–Hilferty): about 57.
    const CRITICAL: f64 = 57.0;
    let len = 1 << 15;
    let q = Quantiser::DEFAULT;
    let cfg = Config::for_suite(&SUITE_DEFAULT, 2, 2, len).unwrap();
    // Two very different true updates for worker 1: all zeros, and all at -C (top nibble 0xF).
    let zeros = q.quantise(&vec![0.0; len]).unwrap();
    let min = q.quantise(&vec![-4.0; len]).unwrap();
    let mut seen = Vec::new();
    for update in [&zeros, &min] {
        let mut x = inputs(&[1, 2, 3], len);
        x.insert(1, update.clone());
        let out = run(cfg, &x, &Faults::default()).unwrap();
        let y = out.masked[&1].clone();
        let chi2 = chi2_high_nibble(&y);
        assert!(chi2 < CRITICAL, "masked update not uniform: chi2 {chi2}");
        // Control: the same statistic rejects the unmasked update, so the test can fail.
        assert!(chi2_high_nibble(update) > CRITICAL);
        seen.push(y);
    }
    let homogeneity = chi2_two_sample(&seen[0], &seen[1]);
    assert!(
        homogeneity < CRITICAL,
        "distinguishable: chi2 {homogeneity}"
    );
    assert!(chi2_two_sample(&zeros, &min) > CRITICAL);

    // Correlation between a varying true update and its masked form is near zero
    // (|r| < 5/sqrt(n) ≈ 0.028), while the update correlates perfectly with itself.
    let floats: Vec<f32> = (0..len).map(|i| ((i as f32) * 0.01).sin() * 3.0).collect();
    let quantised = q.quantise(&floats).unwrap();
    let mut x = inputs(&[1, 2, 3], len);
    x.insert(1, quantised.clone());
    let out = run(cfg, &x, &Faults::default()).unwrap();
    let xs: Vec<f64> = quantised.iter().map(|&v| f64::from(v as i32)).collect();
    let ys: Vec<f64> = out.masked[&1].iter().map(|&v| f64::from(v)).collect();
    let r = pearson(&xs, &ys);
    let limit = 5.0 / (len as f64).sqrt();
    assert!(r.abs() < limit, "correlation {r}");
    assert!(pearson(&xs, &xs) > 0.999);
    // And the aggregate is still exact.
    assert_eq!(out.aggregate.sum, plain_sum(&x, &[1, 2, 3], len));
}

#[test]
fn sum_matches_plaintext_float_aggregation_within_the_quantisation_bound() {
    let q = Quantiser::new(2.0, 16).unwrap();
    let len = 2000;
    let ids = [1u32, 2, 3, 4, 5];
    let updates: BTreeMap<u32, Vec<f32>> = ids
        .iter()
        .map(|&id| {
            let v = (0..len)
                .map(|i| ((i as f32) * 0.37 + id as f32).sin() * 1.5 + (id as f32) * 0.01)
                .collect();
            (id, v)
        })
        .collect();
    let x: BTreeMap<u32, Vec<u32>> = updates
        .iter()
        .map(|(&id, u)| (id, q.quantise(u).unwrap()))
        .collect();
    let cfg = Config::for_suite(&SUITE_DEFAULT, 3, 3, len).unwrap();
    let faults = Faults {
        after_share_keys: vec![4],
        ..Faults::default()
    };
    let out = run(cfg, &x, &faults).unwrap();
    let n = u32::try_from(out.aggregate.survivors.len()).unwrap();
    let sum = q.dequantise_sum(&out.aggregate.sum, n).unwrap();
    let bound = q.sum_error_bound(n);
    for i in 0..len {
        let exact: f64 = out
            .aggregate
            .survivors
            .iter()
            .map(|id| f64::from(updates[id][i]))
            .sum();
        let err = (f64::from(sum[i]) - exact).abs();
        assert!(
            err <= bound + exact.abs() * f64::from(f32::EPSILON),
            "coordinate {i}: {err} > {bound}"
        );
    }
}

#[test]
fn hostile_messages_are_errors_not_panics() {
    let len = 16;
    let cfg = Config::for_suite(&SUITE_DEFAULT, 7, 2, len).unwrap();
    let mut server = Server::new(cfg);
    let (mut c1, ad1) = Client::new(cfg, 1).unwrap();
    let (mut c2, ad2) = Client::new(cfg, 2).unwrap();
    let (mut c3, ad3) = Client::new(cfg, 3).unwrap();

    // Round 0: wrong round, id 0, malformed key, duplicate; out-of-order messages.
    assert!(matches!(
        server.receive_advertise(&Advertise {
            round: 8,
            ..ad1.clone()
        }),
        Err(Error::SecAgg(SecAggError::WrongRound {
            expected: 7,
            got: 8
        }))
    ));
    assert!(
        server
            .receive_advertise(&Advertise {
                from: 0,
                ..ad1.clone()
            })
            .is_err()
    );
    let mut bad_commitment = ad1.clone();
    bad_commitment.self_mask_commitment.pop();
    assert!(server.receive_advertise(&bad_commitment).is_err());
    let mut bad_key = ad1.clone();
    bad_key.mask_key.truncate(100);
    assert!(matches!(
        server.receive_advertise(&bad_key),
        Err(Error::SecAgg(SecAggError::Malformed { from: 1, .. }))
    ));
    assert!(matches!(
        server.forward(),
        Err(Error::SecAgg(SecAggError::UnexpectedMessage { .. }))
    ));
    server.receive_advertise(&ad1).unwrap();
    assert!(matches!(
        server.receive_advertise(&ad1),
        Err(Error::SecAgg(SecAggError::Duplicate { .. }))
    ));
    server.receive_advertise(&ad2).unwrap();
    server.receive_advertise(&ad3).unwrap();
    let roster = server.roster().unwrap();
    assert!(server.receive_advertise(&ad1).is_err());

    // Clients reject a bad roster before doing anything.
    let mut unsorted = roster.clone();
    unsorted.workers.reverse();
    assert!(c1.share_keys(&unsorted).is_err());
    let mut without_me = roster.clone();
    without_me.workers.retain(|w| w.id != 1);
    assert!(matches!(
        c1.share_keys(&without_me),
        Err(Error::SecAgg(SecAggError::UnknownWorker(1)))
    ));
    let mut swapped = roster.clone();
    swapped.workers[0].mask_key = swapped.workers[1].mask_key.clone();
    assert!(c1.share_keys(&swapped).is_err());
    // Masked input before key sharing is out of order.
    let early = Forwarded {
        round: 7,
        to: 1,
        envelopes: vec![],
    };
    assert!(matches!(
        c1.masked_input(&early, &[0; 16]),
        Err(Error::SecAgg(SecAggError::UnexpectedMessage { .. }))
    ));

    // Round 1: unknown sender, wrong envelope sets, mis-sized ciphertexts, duplicates.
    let s1 = c1.share_keys(&roster).unwrap();
    let s2 = c2.share_keys(&roster).unwrap();
    let s3 = c3.share_keys(&roster).unwrap();
    assert!(
        c1.share_keys(&roster).is_err(),
        "second share_keys accepted"
    );
    assert!(
        server
            .receive_share_keys(&ShareKeys {
                from: 9,
                ..s1.clone()
            })
            .is_err()
    );
    let mut missing = s1.clone();
    missing.envelopes.pop();
    assert!(server.receive_share_keys(&missing).is_err());
    let mut dup_to = s1.clone();
    dup_to.envelopes[1].to = dup_to.envelopes[0].to;
    assert!(server.receive_share_keys(&dup_to).is_err());
    let mut short_ct = s1.clone();
    if let Some(ct) = short_ct.envelopes[0].mask_ct.as_mut() {
        ct.truncate(10);
    }
    assert!(matches!(
        server.receive_share_keys(&short_ct),
        Err(Error::SecAgg(SecAggError::Malformed { from: 1, .. }))
    ));
    let mut wrong_direction = s3.clone();
    wrong_direction.envelopes[0].mask_ct = Some(vec![0; 1120]);
    assert!(server.receive_share_keys(&wrong_direction).is_err());
    let mut short_sealed = s2.clone();
    short_sealed.envelopes[0].sealed_shares.pop();
    assert!(server.receive_share_keys(&short_sealed).is_err());
    // Right shapes but tampered contents pass the server and are caught by the recipient.
    let mut tampered = s1.clone();
    tampered.envelopes[0].sealed_shares[3] ^= 1; // to worker 2
    tampered.envelopes[1].share_ct[5] ^= 1; // to worker 3
    server.receive_share_keys(&tampered).unwrap();
    assert!(
        server.receive_share_keys(&s1).is_err(),
        "duplicate accepted"
    );
    server.receive_share_keys(&s2).unwrap();
    server.receive_share_keys(&s3).unwrap();
    let forwarded = server.forward().unwrap();
    let f = |to: u32| forwarded.iter().find(|f| f.to == to).unwrap().clone();
    assert!(matches!(
        c2.masked_input(&f(2), &[0; 16]),
        Err(Error::SecAgg(SecAggError::ShareDecryption { from: 1 }))
    ));
    assert!(matches!(
        c3.masked_input(&f(3), &[0; 16]),
        Err(Error::SecAgg(SecAggError::ShareDecryption { from: 1 }))
    ));
    // Client-side checks on forwarded envelopes: wrong recipient, unknown or duplicate sender,
    // wrong input length, a mask ciphertext that is garbage.
    assert!(c1.masked_input(&f(2), &[0; 16]).is_err());
    assert!(matches!(
        c1.masked_input(&f(1), &[0; 15]),
        Err(Error::Length { .. })
    ));
    let mut stranger = f(1);
    stranger.envelopes[0].from = 42;
    assert!(c1.masked_input(&stranger, &[0; 16]).is_err());
    let mut twice = f(1);
    twice.envelopes.push(twice.envelopes[0].clone());
    assert!(matches!(
        c1.masked_input(&twice, &[0; 16]),
        Err(Error::SecAgg(SecAggError::Duplicate { .. }))
    ));
    let mut mixed = f(2);
    let from1 = mixed.envelopes.iter().position(|e| e.from == 1).unwrap();
    mixed.envelopes[from1].mask_ct = Some(vec![0xFF; 7]);
    assert!(c2.masked_input(&mixed, &[0; 16]).is_err());
    // Worker 1's own envelopes decrypt: it can carry on.
    let y1 = c1.masked_input(&f(1), &[5; 16]).unwrap();

    // Round 2: unknown sender, wrong length, duplicate.
    assert!(
        server
            .receive_masked_input(&MaskedInput {
                from: 9,
                ..y1.clone()
            })
            .is_err()
    );
    assert!(matches!(
        server.receive_masked_input(&MaskedInput {
            masked: vec![0; 3],
            ..y1.clone()
        }),
        Err(Error::Length { .. })
    ));
    server.receive_masked_input(&y1).unwrap();
    assert!(server.receive_masked_input(&y1).is_err());
    // Only one masked input (t = 2): closing the round is a clean error.
    assert!(matches!(
        server.unmask_request(),
        Err(Error::SecAgg(SecAggError::BelowThreshold { .. }))
    ));
}

#[test]
fn server_rejects_bad_unmask_responses() {
    let cfg = Config::for_suite(&SUITE_DEFAULT, 11, 2, 8).unwrap();
    let (mut clients, mut server, request) = up_to_unmask(cfg, &[1, 2, 3]);
    let r1 = clients.get_mut(&1).unwrap().unmask(&request).unwrap();
    let r2 = clients.get_mut(&2).unwrap().unmask(&request).unwrap();
    // Missing a requested share, an extra one, a wrong x-coordinate, a stranger, wrong round.
    let mut missing = r1.clone();
    missing.self_mask_shares.pop();
    assert!(server.receive_unmask_response(&missing).is_err());
    let mut extra = r1.clone();
    extra.key_shares.push(RevealedShare {
        owner: 2,
        share: vec![1; 65],
    });
    assert!(server.receive_unmask_response(&extra).is_err());
    let mut moved = r1.clone();
    moved.self_mask_shares[0].share[0] = 9;
    assert!(server.receive_unmask_response(&moved).is_err());
    assert!(
        server
            .receive_unmask_response(&UnmaskResponse {
                from: 8,
                ..r1.clone()
            })
            .is_err()
    );
    assert!(
        server
            .receive_unmask_response(&UnmaskResponse {
                round: 1,
                ..r1.clone()
            })
            .is_err()
    );
    server.receive_unmask_response(&r1).unwrap();
    assert!(server.receive_unmask_response(&r1).is_err());
    server.receive_unmask_response(&r2).unwrap();
    let agg = server.finish().unwrap();
    assert_eq!(agg.sum, vec![3; 8]);
    assert!(server.finish().is_err(), "finished twice");
}

#[test]
fn messages_survive_serde_and_garbage_is_rejected() {
    let cfg = Config::for_suite(&SUITE_DEFAULT, 1, 2, 4).unwrap();
    let (_c, ad) = Client::new(cfg, 5).unwrap();
    let json = serde_json::to_string(&ad).unwrap();
    assert_eq!(serde_json::from_str::<Advertise>(&json).unwrap(), ad);
    assert!(serde_json::from_str::<Advertise>(r#"{"round":1,"from":-1}"#).is_err());
    assert!(serde_json::from_str::<MaskedInput>("[1,2").is_err());
}

#[test]
fn debug_output_shows_no_secrets() {
    let cfg = Config::for_suite(&SUITE_DEFAULT, 1, 2, 4).unwrap();
    let (c, _) = Client::new(cfg, 5).unwrap();
    let shown = format!("{c:?}");
    assert!(
        shown.contains("id: 5") && shown.contains("advertised"),
        "{shown}"
    );
    let share = RevealedShare {
        owner: 3,
        share: vec![0xAB; 33],
    };
    let shown = format!("{share:?}");
    assert!(
        !shown.to_lowercase().contains("ab,") && !shown.contains("171"),
        "{shown}"
    );
    assert!(format!("{:?}", Server::new(cfg)).contains("advertising"));
}

#[test]
fn config_validation() {
    assert!(Config::for_suite(&SUITE_DEFAULT, 0, 1, 10).is_err());
    assert!(Config::for_suite(&SUITE_DEFAULT, 0, 256, 10).is_err());
    assert!(Config::for_suite(&SUITE_DEFAULT, 0, 2, 0).is_err());
    assert!(Config::for_suite(&SUITE_DEFAULT, 0, 2, MAX_VECTOR_LEN + 1).is_err());
    assert!(Config::new(&qsafe_core::registry::ML_KEM_768, 0, 2, 10).is_err());
    assert!(Client::new(Config::for_suite(&SUITE_DEFAULT, 0, 2, 1).unwrap(), 0).is_err());
    assert_eq!(
        Config::for_suite(&SUITE_DEFAULT, 0, 2, 1).unwrap().graph(),
        Graph::Complete
    );
}

fn fake_roster(round: u64, ids: &[u32], key_tag: u8) -> Roster {
    Roster {
        round,
        workers: ids
            .iter()
            .map(|&id| messages::RosterEntry {
                id,
                mask_key: vec![key_tag; 8],
                share_key: id.to_be_bytes().to_vec(),
                self_mask_commitment: vec![0; 32],
            })
            .collect(),
    }
}

#[test]
fn harary_graph_is_regular_symmetric_and_roster_dependent() {
    let ids: Vec<u32> = (1..=12).collect();
    let cfg = Config::for_suite(&SUITE_DEFAULT, 1, 3, 4)
        .unwrap()
        .with_graph(Graph::Harary { degree: 4 })
        .unwrap();
    let g = neighbourhoods(&cfg, &fake_roster(1, &ids, 0)).unwrap();
    assert_eq!(g.len(), 12);
    for (u, n) in &g {
        assert_eq!(n.len(), 4, "degree of {u}");
        assert!(!n.contains(u));
        for v in n {
            assert!(g[v].contains(u), "{u}-{v} not symmetric");
        }
    }
    // Deterministic for a roster, different for other round keys or another round.
    assert_eq!(g, neighbourhoods(&cfg, &fake_roster(1, &ids, 0)).unwrap());
    assert_ne!(g, neighbourhoods(&cfg, &fake_roster(1, &ids, 1)).unwrap());
    assert_ne!(g, neighbourhoods(&cfg, &fake_roster(2, &ids, 0)).unwrap());
    // Small rosters get the complete graph; so does Graph::Complete.
    let small = neighbourhoods(&cfg, &fake_roster(1, &[1, 2, 3, 4, 5], 0)).unwrap();
    assert!(small.values().all(|n| n.len() == 4));
    let complete = Config::for_suite(&SUITE_DEFAULT, 1, 3, 4).unwrap();
    let all = neighbourhoods(&complete, &fake_roster(1, &ids, 0)).unwrap();
    assert!(all.values().all(|n| n.len() == 11));
    // Degree validation: even, >= 2, >= t - 1.
    for degree in [0, 1, 3] {
        assert!(
            complete.with_graph(Graph::Harary { degree }).is_err(),
            "{degree}"
        );
    }
    let t5 = Config::for_suite(&SUITE_DEFAULT, 1, 5, 4).unwrap();
    assert!(t5.with_graph(Graph::Harary { degree: 2 }).is_err());
    assert!(t5.with_graph(Graph::Harary { degree: 4 }).is_ok());
}

#[test]
fn secagg_plus_masks_only_neighbours_and_recovers_dropouts() {
    let ids: Vec<u32> = (1..=12).collect();
    let len = 500;
    let cfg = Config::for_suite(&SUITE_DEFAULT, 6, 3, len)
        .unwrap()
        .with_graph(Graph::Harary { degree: 4 })
        .unwrap();
    let x = inputs(&ids, len);
    let out = run(cfg, &x, &Faults::default()).unwrap();
    assert_eq!(out.aggregate.sum, plain_sum(&x, &ids, len));
    assert!(
        out.envelopes.values().all(|&n| n == 4),
        "{:?}",
        out.envelopes
    );
    for (id, y) in &out.masked {
        assert_ne!(y, &x[id]);
    }
    // Any two dropouts leave every closed neighbourhood (5 workers) with >= 3 survivors.
    let faults = Faults {
        after_share_keys: vec![1, 7],
        ..Faults::default()
    };
    let out = run(cfg, &x, &faults).unwrap();
    let survivors: Vec<u32> = ids
        .iter()
        .copied()
        .filter(|i| ![1, 7].contains(i))
        .collect();
    assert_eq!(out.aggregate.sum, plain_sum(&x, &survivors, len));
}

#[test]
fn secagg_plus_aborts_when_a_neighbourhood_falls_below_threshold() {
    let ids: Vec<u32> = (1..=10).collect();
    let len = 8;
    let cfg = Config::for_suite(&SUITE_DEFAULT, 2, 3, len)
        .unwrap()
        .with_graph(Graph::Harary { degree: 4 })
        .unwrap();
    let mut server = Server::new(cfg);
    let mut clients = BTreeMap::new();
    for &id in &ids {
        let (c, ad) = Client::new(cfg, id).unwrap();
        server.receive_advertise(&ad).unwrap();
        clients.insert(id, c);
    }
    let roster = server.roster().unwrap();
    let graph = neighbourhoods(&cfg, &roster).unwrap();
    let mut shared = BTreeMap::new();
    for (&id, c) in clients.iter_mut() {
        let msg = c.share_keys(&roster).unwrap();
        server.receive_share_keys(&msg).unwrap();
        shared.insert(id, msg);
    }
    // The server refuses envelopes for non-neighbours.
    let mut bad = shared[&1].clone();
    let outsider = ids
        .iter()
        .copied()
        .find(|v| *v != 1 && !graph[&1].contains(v))
        .unwrap();
    bad.envelopes[0].to = outsider;
    let mut fresh = Server::new(cfg);
    for c in &roster.workers {
        fresh
            .receive_advertise(&Advertise {
                round: 2,
                from: c.id,
                mask_key: c.mask_key.clone(),
                share_key: c.share_key.clone(),
                self_mask_commitment: c.self_mask_commitment.clone(),
            })
            .unwrap();
    }
    fresh.roster().unwrap();
    assert!(fresh.receive_share_keys(&bad).is_err());

    let forwarded = server.forward().unwrap();
    // A client refuses an envelope from a non-neighbour.
    let mut from_outsider = forwarded.iter().find(|f| f.to == 1).unwrap().clone();
    from_outsider.envelopes[0].from = outsider;
    assert!(matches!(
        clients
            .get_mut(&1)
            .unwrap()
            .masked_input(&from_outsider, &[0; 8]),
        Err(Error::SecAgg(SecAggError::UnknownWorker(_)))
    ));
    // Worker 1 survives, three of its four neighbours drop: its self-mask seed has only two
    // surviving holders (itself and one neighbour) for t = 3.
    let dropped: Vec<u32> = graph[&1].iter().copied().take(3).collect();
    for f in &forwarded {
        if dropped.contains(&f.to) {
            continue;
        }
        let c = clients.get_mut(&f.to).unwrap();
        server
            .receive_masked_input(&c.masked_input(f, &[1; 8]).unwrap())
            .unwrap();
    }
    assert!(matches!(
        server.unmask_request(),
        Err(Error::SecAgg(SecAggError::BelowThreshold { .. }))
    ));
}

#[test]
fn every_supported_hybrid_kem_aggregates() {
    use qsafe_core::registry::{MLKEM768_P256, MLKEM1024_P384, X_WING};
    let ids = [4, 8, 15];
    let x = inputs(&ids, 40);
    let mut n = 0;
    for kem in [&X_WING, &MLKEM768_P256, &MLKEM1024_P384] {
        let cfg = Config::new(kem, 3, 2, 40).unwrap();
        // The middle id drops: the server re-encapsulates its mask to 15 and decapsulates 4's.
        let faults = Faults {
            after_share_keys: vec![8],
            ..Faults::default()
        };
        let out = run(cfg, &x, &faults).unwrap();
        assert_eq!(out.aggregate.sum, plain_sum(&x, &[4, 15], 40), "{}", kem.id);
        n += 1;
    }
    assert_eq!(n, 3);
}

#[test]
fn tampered_revealed_shares_are_detected_not_absorbed() {
    // A self-mask share with the right length and x but a wrong value would otherwise make
    // the server remove a wrong mask and return garbage; the commitment catches it.
    let cfg = Config::for_suite(&SUITE_DEFAULT, 12, 2, 8).unwrap();
    let (mut clients, mut server, request) = up_to_unmask(cfg, &[1, 2, 3]);
    let mut r1 = clients.get_mut(&1).unwrap().unmask(&request).unwrap();
    let r2 = clients.get_mut(&2).unwrap().unmask(&request).unwrap();
    r1.self_mask_shares[1].share[7] ^= 0x40; // share of worker 2's b
    server.receive_unmask_response(&r1).unwrap();
    server.receive_unmask_response(&r2).unwrap();
    assert!(matches!(
        server.finish(),
        Err(Error::SecAgg(SecAggError::Reconstruction { worker: 2 }))
    ));

    // A tampered key share of a dropped worker (the lowest id, so the server needs both its
    // key and its encapsulation seed): in the seed of sk_1 the rebuilt key does not match its
    // public key; in e_1 the re-encapsulation does not match the ciphertext it sent.
    for pos in [3, 1 + 32 + 5] {
        let mut server = Server::new(cfg);
        let mut clients = BTreeMap::new();
        for id in [1, 2, 3] {
            let (c, ad) = Client::new(cfg, id).unwrap();
            server.receive_advertise(&ad).unwrap();
            clients.insert(id, c);
        }
        let roster = server.roster().unwrap();
        for c in clients.values_mut() {
            server
                .receive_share_keys(&c.share_keys(&roster).unwrap())
                .unwrap();
        }
        for f in server.forward().unwrap() {
            if f.to == 1 {
                continue;
            }
            let c = clients.get_mut(&f.to).unwrap();
            server
                .receive_masked_input(&c.masked_input(&f, &[0; 8]).unwrap())
                .unwrap();
        }
        let request = server.unmask_request().unwrap();
        assert_eq!(request.dropped, vec![1]);
        let mut r2 = clients.get_mut(&2).unwrap().unmask(&request).unwrap();
        let r3 = clients.get_mut(&3).unwrap().unmask(&request).unwrap();
        r2.key_shares[0].share[pos] ^= 1;
        server.receive_unmask_response(&r2).unwrap();
        server.receive_unmask_response(&r3).unwrap();
        assert!(
            matches!(
                server.finish(),
                Err(Error::SecAgg(SecAggError::Reconstruction { worker: 1 }))
            ),
            "byte {pos}"
        );
    }
}
