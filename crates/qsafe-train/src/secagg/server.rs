//! The aggregator's side of the protocol.

use std::collections::{BTreeMap, BTreeSet};

use qsafe_core::kem::{DecapsulationKey, EncapsulationKey};

use super::messages::{
    Advertise, Delivered, Forwarded, MaskedInput, Roster, RosterEntry, ShareKeys, UnmaskRequest,
    UnmaskResponse,
};
use super::{
    COMMITMENT_LEN, Config, KEY_SECRET_LEN, MAX_WORKERS, Neighbours, SELF_SECRET_LEN,
    encaps_randomness, neighbourhoods, pair_seed, self_mask_commitment, shamir,
};
use crate::error::{Error, Result, SecAggError};
use crate::mask::{self, MaskSeed, Purpose, Sign};
use crate::quant::add_assign;

/// The outcome of a round: the sum of the survivors' quantised updates, and who took part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Aggregate {
    /// `Σ_{u ∈ U3} x_u` in Z_2^32 (dequantise with [`crate::quant::Quantiser::dequantise_sum`]
    /// and `survivors.len()`).
    pub sum: Vec<u32>,
    /// Workers whose updates are in the sum (`U3`), ascending.
    pub survivors: Vec<u32>,
    /// Workers that shared keys but sent no masked input (`U2 \ U3`), ascending.
    pub dropped: Vec<u32>,
}

struct Masking {
    roster: Vec<RosterEntry>,
    neighbours: Neighbours,
    u2: BTreeSet<u32>,
    /// Mask ciphertexts by (sender, recipient), sender < recipient.
    mask_cts: BTreeMap<(u32, u32), Vec<u8>>,
    /// Running wrapping sum of the masked inputs received.
    sum: Vec<u32>,
    u3: BTreeSet<u32>,
}

enum State {
    Advertising {
        ads: BTreeMap<u32, RosterEntry>,
    },
    Sharing {
        roster: Vec<RosterEntry>,
        neighbours: Neighbours,
        received: BTreeMap<u32, ShareKeys>,
    },
    Collecting(Masking),
    Unmasking {
        m: Masking,
        dropped: BTreeSet<u32>,
        responses: BTreeMap<u32, UnmaskResponse>,
    },
    Done,
}

impl State {
    fn name(&self) -> &'static str {
        match self {
            State::Advertising { .. } => "advertising",
            State::Sharing { .. } => "sharing-keys",
            State::Collecting(_) => "collecting-masked-inputs",
            State::Unmasking { .. } => "unmasking",
            State::Done => "done",
        }
    }
}

/// The aggregator's state machine for one round (honest-but-curious: it follows the protocol
/// and learns only the sum). Each `receive_*` validates one message and either records it or
/// returns an error leaving the state unchanged, so the caller can drop the offending worker
/// and carry on; each stage-closing method (`roster`, `forward`, `unmask_request`, `finish`)
/// fails cleanly below the threshold.
pub struct Server {
    cfg: Config,
    state: State,
}

impl core::fmt::Debug for Server {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Server")
            .field("round", &self.cfg.round())
            .field("state", &self.state.name())
            .finish_non_exhaustive()
    }
}

fn unexpected(state: &State, got: &'static str) -> Error {
    SecAggError::UnexpectedMessage {
        state: state.name(),
        got,
    }
    .into()
}

fn malformed(from: u32, what: &'static str) -> Error {
    SecAggError::Malformed { from, what }.into()
}

fn below(stage: &'static str, have: usize, threshold: usize) -> Result<()> {
    if have < threshold {
        return Err(SecAggError::BelowThreshold {
            stage,
            have,
            threshold,
        }
        .into());
    }
    Ok(())
}

impl Server {
    /// A server for one round.
    pub fn new(cfg: Config) -> Server {
        Server {
            cfg,
            state: State::Advertising {
                ads: BTreeMap::new(),
            },
        }
    }

    fn check_round(&self, round: u64) -> Result<()> {
        if round != self.cfg.round() {
            return Err(SecAggError::WrongRound {
                expected: self.cfg.round(),
                got: round,
            }
            .into());
        }
        Ok(())
    }

    /// Round 0: records a worker's advertised keys (validated as keys of the configured KEM).
    pub fn receive_advertise(&mut self, msg: &Advertise) -> Result<()> {
        self.check_round(msg.round)?;
        let kem = self.cfg.kem();
        let State::Advertising { ads } = &mut self.state else {
            return Err(unexpected(&self.state, "advertise"));
        };
        if msg.from == 0 {
            return Err(SecAggError::UnknownWorker(0).into());
        }
        if ads.contains_key(&msg.from) {
            return Err(SecAggError::Duplicate {
                what: "advertise",
                worker: msg.from,
            }
            .into());
        }
        if ads.len() >= MAX_WORKERS {
            return Err(Error::InvalidParameter(format!(
                "at most {MAX_WORKERS} workers per round"
            )));
        }
        if msg.self_mask_commitment.len() != COMMITMENT_LEN {
            return Err(malformed(msg.from, "self-mask commitment mis-sized"));
        }
        for key in [&msg.mask_key, &msg.share_key] {
            EncapsulationKey::from_bytes(kem, key)
                .map_err(|_| malformed(msg.from, "advertised key is not a valid KEM key"))?;
        }
        ads.insert(
            msg.from,
            RosterEntry {
                id: msg.from,
                mask_key: msg.mask_key.clone(),
                share_key: msg.share_key.clone(),
                self_mask_commitment: msg.self_mask_commitment.clone(),
            },
        );
        Ok(())
    }

    /// Closes round 0: the roster `U1`, to send to every listed worker.
    pub fn roster(&mut self) -> Result<Roster> {
        let State::Advertising { ads } = &self.state else {
            return Err(unexpected(&self.state, "close advertising"));
        };
        below("advertised keys", ads.len(), self.cfg.threshold())?;
        let roster = Roster {
            round: self.cfg.round(),
            workers: ads.values().cloned().collect(),
        };
        let neighbours = neighbourhoods(&self.cfg, &roster)?;
        self.state = State::Sharing {
            roster: roster.workers.clone(),
            neighbours,
            received: BTreeMap::new(),
        };
        Ok(roster)
    }

    /// Round 1: records a worker's envelopes after checking their shape: exactly one per
    /// neighbour (every other roster member for the complete graph), a mask ciphertext
    /// exactly when the sender's id is the lower, and the KEM ciphertext and sealed-share
    /// lengths of the configuration.
    pub fn receive_share_keys(&mut self, msg: &ShareKeys) -> Result<()> {
        self.check_round(msg.round)?;
        let ct_len = self.cfg.kem().sizes.ciphertext;
        let State::Sharing {
            neighbours,
            received,
            ..
        } = &mut self.state
        else {
            return Err(unexpected(&self.state, "share keys"));
        };
        let from = msg.from;
        let Some(mine) = neighbours.get(&from) else {
            return Err(SecAggError::UnknownWorker(from).into());
        };
        if received.contains_key(&from) {
            return Err(SecAggError::Duplicate {
                what: "share keys",
                worker: from,
            }
            .into());
        }
        if msg.envelopes.len() != mine.len() {
            return Err(malformed(from, "not one envelope per neighbour"));
        }
        let sealed_len =
            shamir::share_len(SELF_SECRET_LEN) + shamir::share_len(KEY_SECRET_LEN) + 16;
        let mut seen = BTreeSet::new();
        for env in &msg.envelopes {
            if !mine.contains(&env.to) {
                return Err(SecAggError::UnknownWorker(env.to).into());
            }
            if !seen.insert(env.to) {
                return Err(SecAggError::Duplicate {
                    what: "envelope",
                    worker: env.to,
                }
                .into());
            }
            match (&env.mask_ct, from < env.to) {
                (Some(ct), true) if ct_len.is_none_or(|l| l == ct.len()) => {}
                (None, false) => {}
                _ => {
                    return Err(malformed(
                        from,
                        "mask ciphertext missing, extra or mis-sized",
                    ));
                }
            }
            if ct_len.is_some_and(|l| l != env.share_ct.len()) {
                return Err(malformed(from, "share ciphertext mis-sized"));
            }
            if env.sealed_shares.len() != sealed_len {
                return Err(malformed(from, "sealed shares mis-sized"));
            }
        }
        received.insert(from, msg.clone());
        Ok(())
    }

    /// Closes round 1: `U2` is the workers whose envelopes arrived; returns, for each of them,
    /// the envelopes other members of `U2` addressed to it.
    pub fn forward(&mut self) -> Result<Vec<Forwarded>> {
        let State::Sharing {
            roster,
            neighbours,
            received,
        } = &self.state
        else {
            return Err(unexpected(&self.state, "close key sharing"));
        };
        below(
            "completed key sharing",
            received.len(),
            self.cfg.threshold(),
        )?;
        let u2: BTreeSet<u32> = received.keys().copied().collect();
        let mut mask_cts = BTreeMap::new();
        let mut out: BTreeMap<u32, Vec<Delivered>> = u2.iter().map(|&v| (v, Vec::new())).collect();
        for (&from, msg) in received {
            for env in msg.envelopes.iter().filter(|e| u2.contains(&e.to)) {
                if let Some(ct) = &env.mask_ct {
                    mask_cts.insert((from, env.to), ct.clone());
                }
                if let Some(list) = out.get_mut(&env.to) {
                    list.push(Delivered {
                        from,
                        mask_ct: env.mask_ct.clone(),
                        share_ct: env.share_ct.clone(),
                        sealed_shares: env.sealed_shares.clone(),
                    });
                }
            }
        }
        let round = self.cfg.round();
        let forwarded = out
            .into_iter()
            .map(|(to, envelopes)| Forwarded {
                round,
                to,
                envelopes,
            })
            .collect();
        self.state = State::Collecting(Masking {
            roster: roster.clone(),
            neighbours: neighbours.clone(),
            u2,
            mask_cts,
            sum: vec![0; self.cfg.vector_len()],
            u3: BTreeSet::new(),
        });
        Ok(forwarded)
    }

    /// Round 2: adds a worker's masked input to the running sum.
    pub fn receive_masked_input(&mut self, msg: &MaskedInput) -> Result<()> {
        self.check_round(msg.round)?;
        let State::Collecting(m) = &mut self.state else {
            return Err(unexpected(&self.state, "masked input"));
        };
        if !m.u2.contains(&msg.from) {
            return Err(SecAggError::UnknownWorker(msg.from).into());
        }
        if m.u3.contains(&msg.from) {
            return Err(SecAggError::Duplicate {
                what: "masked input",
                worker: msg.from,
            }
            .into());
        }
        add_assign(&mut m.sum, &msg.masked)?;
        m.u3.insert(msg.from);
        Ok(())
    }

    /// Closes round 2: the unmask request for every survivor (`U3`).
    pub fn unmask_request(&mut self) -> Result<UnmaskRequest> {
        let State::Collecting(m) = &self.state else {
            return Err(unexpected(&self.state, "close masked input"));
        };
        let t = self.cfg.threshold();
        below("sent masked inputs", m.u3.len(), t)?;
        let dropped: BTreeSet<u32> = m.u2.difference(&m.u3).copied().collect();
        // Every survivor's self-mask seed needs t survivors among its neighbours-and-self,
        // every dropped worker's key t survivors among its neighbours (always true for the
        // complete graph once |U3| >= t).
        let in_u3 = |w: u32| {
            m.neighbours
                .get(&w)
                .map_or(0, |n| n.intersection(&m.u3).count())
        };
        for &v in &m.u3 {
            below(
                "sent masked inputs among a survivor's neighbours",
                in_u3(v) + 1,
                t,
            )?;
        }
        for &u in &dropped {
            below(
                "sent masked inputs among a dropped worker's neighbours",
                in_u3(u),
                t,
            )?;
        }
        let State::Collecting(m) = core::mem::replace(&mut self.state, State::Done) else {
            return Err(Error::InvalidParameter("server state changed".into()));
        };
        let request = UnmaskRequest {
            round: self.cfg.round(),
            survivors: m.u3.iter().copied().collect(),
            dropped: dropped.iter().copied().collect(),
        };
        self.state = State::Unmasking {
            m,
            dropped,
            responses: BTreeMap::new(),
        };
        Ok(request)
    }

    /// Round 3: records a survivor's revealed shares after checking that they are exactly the
    /// requested ones, of the right length, at the sender's x-coordinate.
    pub fn receive_unmask_response(&mut self, msg: &UnmaskResponse) -> Result<()> {
        self.check_round(msg.round)?;
        let State::Unmasking {
            m,
            dropped,
            responses,
        } = &mut self.state
        else {
            return Err(unexpected(&self.state, "unmask response"));
        };
        let from = msg.from;
        if !m.u3.contains(&from) {
            return Err(SecAggError::UnknownWorker(from).into());
        }
        if responses.contains_key(&from) {
            return Err(SecAggError::Duplicate {
                what: "unmask response",
                worker: from,
            }
            .into());
        }
        let x = m
            .roster
            .iter()
            .position(|w| w.id == from)
            .and_then(|p| u8::try_from(p + 1).ok())
            .ok_or(SecAggError::UnknownWorker(from))?;
        let check = |shares: &[super::messages::RevealedShare],
                     owners: &BTreeSet<u32>,
                     len: usize|
         -> Result<()> {
            let got: BTreeSet<u32> = shares.iter().map(|s| s.owner).collect();
            if got.len() != shares.len() || &got != owners {
                return Err(malformed(
                    from,
                    "revealed shares are not the requested ones",
                ));
            }
            if shares.iter().any(|s| {
                s.share.len() != shamir::share_len(len) || shamir::share_x(&s.share) != Some(x)
            }) {
                return Err(malformed(
                    from,
                    "revealed share mis-sized or at the wrong x",
                ));
            }
            Ok(())
        };
        // A responder holds shares of itself and of its neighbours.
        let empty = BTreeSet::new();
        let near = m.neighbours.get(&from).unwrap_or(&empty);
        let mut self_owners: BTreeSet<u32> = m.u3.intersection(near).copied().collect();
        self_owners.insert(from);
        let key_owners: BTreeSet<u32> = dropped.intersection(near).copied().collect();
        check(&msg.self_mask_shares, &self_owners, SELF_SECRET_LEN)?;
        check(&msg.key_shares, &key_owners, KEY_SECRET_LEN)?;
        responses.insert(from, msg.clone());
        Ok(())
    }

    /// Closes round 3: reconstructs the survivors' self-mask seeds and the dropped workers'
    /// mask keys from at least `t` responses, removes those masks, and returns the sum.
    pub fn finish(&mut self) -> Result<Aggregate> {
        let State::Unmasking {
            m,
            dropped,
            responses,
        } = &self.state
        else {
            return Err(unexpected(&self.state, "finish"));
        };
        let t = self.cfg.threshold();
        below("answered the unmask request", responses.len(), t)?;
        let round = self.cfg.round();
        let mut sum = m.sum.clone();

        // Survivors: remove PRG(b_v).
        for &v in &m.u3 {
            let shares: Vec<&[u8]> = responses
                .values()
                .flat_map(|r| &r.self_mask_shares)
                .filter(|s| s.owner == v)
                .map(|s| s.share.as_slice())
                .collect();
            below("answered with shares of a survivor", shares.len(), t)?;
            let b = shamir::combine(t, SELF_SECRET_LEN, shares)
                .map_err(|_| SecAggError::Reconstruction { worker: v })?;
            let committed = m
                .roster
                .iter()
                .find(|w| w.id == v)
                .map(|w| w.self_mask_commitment.as_slice());
            if committed != Some(self_mask_commitment(round, v, &b).as_slice()) {
                return Err(SecAggError::Reconstruction { worker: v }.into());
            }
            let seed = MaskSeed::from_bytes(&b)?;
            mask::apply(
                &seed,
                round,
                Purpose::SelfMask { owner: v },
                Sign::Subtract,
                &mut sum,
            )?;
        }

        // Dropped workers: recover (sk_u, e_u), recompute their pairwise seeds with survivors,
        // and remove the masks the survivors applied.
        for &u in dropped {
            let shares: Vec<&[u8]> = responses
                .values()
                .flat_map(|r| &r.key_shares)
                .filter(|s| s.owner == u)
                .map(|s| s.share.as_slice())
                .collect();
            below("answered with shares of a dropped worker", shares.len(), t)?;
            let secret = shamir::combine(t, KEY_SECRET_LEN, shares)
                .map_err(|_| SecAggError::Reconstruction { worker: u })?;
            let (sk_seed, e) = secret
                .split_at_checked(32)
                .ok_or(SecAggError::Reconstruction { worker: u })?;
            let dk = DecapsulationKey::from_concrete_seed(self.cfg.kem(), sk_seed)
                .map_err(|_| SecAggError::Reconstruction { worker: u })?;
            let entry = m
                .roster
                .iter()
                .find(|w| w.id == u)
                .ok_or(SecAggError::UnknownWorker(u))?;
            if dk.public_bytes() != entry.mask_key {
                return Err(SecAggError::Reconstruction { worker: u }.into());
            }
            let near = m.neighbours.get(&u).ok_or(SecAggError::UnknownWorker(u))?;
            for &v in m.u3.intersection(near) {
                let ss = if u < v {
                    let peer = m
                        .roster
                        .iter()
                        .find(|w| w.id == v)
                        .ok_or(SecAggError::UnknownWorker(v))?;
                    let ek = EncapsulationKey::from_bytes(self.cfg.kem(), &peer.mask_key)?;
                    let r = encaps_randomness(&self.cfg, e, u, v)?;
                    let (ct, ss) = ek.encapsulate_derand(r.expose())?;
                    if m.mask_cts.get(&(u, v)) != Some(&ct) {
                        return Err(SecAggError::Reconstruction { worker: u }.into());
                    }
                    ss
                } else {
                    let ct = m
                        .mask_cts
                        .get(&(v, u))
                        .ok_or(SecAggError::Reconstruction { worker: u })?;
                    dk.decapsulate(ct)?
                };
                let seed = pair_seed(&ss, round, u, v)?;
                // Survivor v applied pairwise_sign(v, u); undo it.
                let sign = mask::pairwise_sign(v, u)?.negate();
                mask::apply(&seed, round, Purpose::pair(u, v)?, sign, &mut sum)?;
            }
        }
        let aggregate = Aggregate {
            sum,
            survivors: m.u3.iter().copied().collect(),
            dropped: dropped.iter().copied().collect(),
        };
        self.state = State::Done;
        Ok(aggregate)
    }
}
