//! The worker's side of the protocol.

use std::collections::{BTreeMap, BTreeSet};

use qsafe_core::SecretBytes;
use qsafe_core::kem::{DecapsulationKey, EncapsulationKey};
use zeroize::Zeroizing;

use super::messages::{
    Advertise, Envelope, Forwarded, MaskedInput, RevealedShare, Roster, RosterEntry, ShareKeys,
    UnmaskRequest, UnmaskResponse,
};
use super::{
    AAD_SHARES, Config, KEY_SECRET_LEN, SELF_SECRET_LEN, encaps_randomness, neighbourhoods,
    pair_seed, self_mask_commitment, shamir, share_aead, validate_roster,
};
use crate::error::{Error, Result, SecAggError};
use crate::mask::{self, MaskSeed, Purpose, Sign};

/// This worker's per-round secrets. Dropping zeroizes them.
struct RoundSecrets {
    /// `seed(sk_u) ‖ e_u`: the secret-shared key material.
    key_secret: Zeroizing<[u8; KEY_SECRET_LEN]>,
    /// `b_u`.
    self_seed: MaskSeed,
    mask_dk: DecapsulationKey,
    share_dk: DecapsulationKey,
}

impl RoundSecrets {
    fn e(&self) -> &[u8] {
        self.key_secret.get(32..).unwrap_or_default()
    }
}

/// Shares held for one owner: of its self-mask seed and of its key secret.
struct HeldShares {
    self_mask: Zeroizing<Vec<u8>>,
    key: Zeroizing<Vec<u8>>,
}

enum State {
    Advertised,
    SharedKeys {
        roster: Vec<RosterEntry>,
        /// `N(u)`: the peers this worker masks with and shares with.
        neighbours: BTreeSet<u32>,
        /// KEM shared secrets of the encapsulations this worker made (to higher ids).
        sent: BTreeMap<u32, SecretBytes>,
        own: HeldShares,
    },
    Masked {
        /// Every roster id.
        roster_ids: BTreeSet<u32>,
        /// `N(u) ∪ {u}`.
        closed: BTreeSet<u32>,
        /// `U2` as this worker sees it: itself and the neighbours whose envelopes arrived.
        u2: BTreeSet<u32>,
        held: BTreeMap<u32, HeldShares>,
    },
    Done,
}

impl State {
    fn name(&self) -> &'static str {
        match self {
            State::Advertised => "advertised",
            State::SharedKeys { .. } => "shared-keys",
            State::Masked { .. } => "masked-input",
            State::Done => "done",
        }
    }
}

/// A worker's state machine for one aggregation round. Fresh keys every round: make a new
/// `Client` per round. Every method checks the state, so calls out of order are errors, and a
/// failed call leaves the state as it was.
pub struct Client {
    cfg: Config,
    id: u32,
    secrets: RoundSecrets,
    state: State,
}

impl core::fmt::Debug for Client {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Client")
            .field("id", &self.id)
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

impl Client {
    /// Round 0 (AdvertiseKeys): generates fresh round keys and returns the advertisement.
    pub fn new(cfg: Config, id: u32) -> Result<(Client, Advertise)> {
        if id == 0 {
            return Err(Error::InvalidParameter("worker id 0 is reserved".into()));
        }
        let mut key_secret = Zeroizing::new([0u8; KEY_SECRET_LEN]);
        let random = qsafe_core::secret::random_bytes(KEY_SECRET_LEN)?;
        key_secret.copy_from_slice(random.expose());
        let sk_seed = key_secret.get(..32).unwrap_or_default();
        let mask_dk = DecapsulationKey::from_concrete_seed(cfg.kem(), sk_seed)?;
        let share_dk = DecapsulationKey::generate(cfg.kem())?;
        let secrets = RoundSecrets {
            self_seed: MaskSeed::random()?,
            mask_dk,
            share_dk,
            key_secret,
        };
        let advertise = Advertise {
            round: cfg.round(),
            from: id,
            mask_key: secrets.mask_dk.public_bytes(),
            share_key: secrets.share_dk.public_bytes(),
            self_mask_commitment: self_mask_commitment(cfg.round(), id, secrets.self_seed.expose()),
        };
        Ok((
            Client {
                cfg,
                id,
                secrets,
                state: State::Advertised,
            },
            advertise,
        ))
    }

    /// This worker's id.
    pub fn id(&self) -> u32 {
        self.id
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

    /// Round 1 (ShareKeys): on the roster, agrees pairwise mask keys with every higher-id
    /// neighbour (deterministic encapsulation from `e_u`), splits `seed(sk_u) ‖ e_u` and `b_u`
    /// t-of-n, and seals each neighbour's shares to that neighbour's share key.
    pub fn share_keys(&mut self, roster: &Roster) -> Result<ShareKeys> {
        if !matches!(self.state, State::Advertised) {
            return Err(unexpected(&self.state, "roster"));
        }
        self.check_round(roster.round)?;
        validate_roster(&self.cfg, roster)?;
        let me = roster
            .workers
            .iter()
            .find(|w| w.id == self.id)
            .ok_or(SecAggError::UnknownWorker(self.id))?;
        if me.mask_key != self.secrets.mask_dk.public_bytes()
            || me.share_key != self.secrets.share_dk.public_bytes()
            || me.self_mask_commitment
                != self_mask_commitment(self.cfg.round(), self.id, self.secrets.self_seed.expose())
        {
            return Err(SecAggError::Malformed {
                from: 0,
                what: "roster carries other keys for this worker",
            }
            .into());
        }
        let n = roster.workers.len();
        let t = self.cfg.threshold();
        let neighbours = neighbourhoods(&self.cfg, roster)?
            .remove(&self.id)
            .ok_or(SecAggError::UnknownWorker(self.id))?;
        let self_shares = shamir::split(self.secrets.self_seed.expose(), t, n)?;
        let key_shares = shamir::split(self.secrets.key_secret.as_slice(), t, n)?;

        let round = self.cfg.round();
        let mut sent = BTreeMap::new();
        let mut envelopes = Vec::with_capacity(n.saturating_sub(1));
        let mut own = None;
        for ((peer, s_share), k_share) in roster.workers.iter().zip(&self_shares).zip(&key_shares) {
            if peer.id == self.id {
                own = Some(HeldShares {
                    self_mask: s_share.clone(),
                    key: k_share.clone(),
                });
                continue;
            }
            if !neighbours.contains(&peer.id) {
                continue;
            }
            let mask_ct = if self.id < peer.id {
                let ek = EncapsulationKey::from_bytes(self.cfg.kem(), &peer.mask_key)?;
                let r = encaps_randomness(&self.cfg, self.secrets.e(), self.id, peer.id)?;
                let (ct, ss) = ek.encapsulate_derand(r.expose())?;
                sent.insert(peer.id, ss);
                Some(ct)
            } else {
                None
            };
            let share_ek = EncapsulationKey::from_bytes(self.cfg.kem(), &peer.share_key)?;
            let (share_ct, k) = share_ek.encapsulate()?;
            let aead = share_aead(&k, round, self.id, peer.id)?;
            let mut plaintext = Zeroizing::new(Vec::with_capacity(s_share.len() + k_share.len()));
            plaintext.extend_from_slice(s_share);
            plaintext.extend_from_slice(k_share);
            let sealed_shares =
                aead.seal(&[0u8; 12], &shares_aad(round, self.id, peer.id), &plaintext)?;
            envelopes.push(Envelope {
                to: peer.id,
                mask_ct,
                share_ct,
                sealed_shares,
            });
        }
        let own = own.ok_or(SecAggError::UnknownWorker(self.id))?;
        self.state = State::SharedKeys {
            roster: roster.workers.clone(),
            neighbours,
            sent,
            own,
        };
        Ok(ShareKeys {
            round,
            from: self.id,
            envelopes,
        })
    }

    /// Round 2 (MaskedInputCollection): opens the forwarded envelopes (the senders are `U2`),
    /// then returns `y_u = x_u + PRG(b_u) + Σ_{v∈U2, v>u} PRG(s_uv) − Σ_{v∈U2, v<u} PRG(s_uv)`.
    /// `input` is the quantised update ([`crate::quant::Quantiser::quantise`]).
    pub fn masked_input(&mut self, forwarded: &Forwarded, input: &[u32]) -> Result<MaskedInput> {
        let State::SharedKeys {
            roster,
            neighbours,
            sent,
            ..
        } = &self.state
        else {
            return Err(unexpected(&self.state, "forwarded shares"));
        };
        self.check_round(forwarded.round)?;
        if forwarded.to != self.id {
            return Err(SecAggError::Malformed {
                from: 0,
                what: "forwarded shares addressed to another worker",
            }
            .into());
        }
        if input.len() != self.cfg.vector_len() {
            return Err(Error::Length {
                what: "quantised update",
                expected: self.cfg.vector_len(),
                got: input.len(),
            });
        }
        let round = self.cfg.round();
        let my_x = roster
            .iter()
            .position(|w| w.id == self.id)
            .and_then(|p| u8::try_from(p + 1).ok())
            .ok_or(SecAggError::UnknownWorker(self.id))?;
        let share_len = shamir::share_len(SELF_SECRET_LEN) + shamir::share_len(KEY_SECRET_LEN);

        let mut held = BTreeMap::new();
        let mut pair_keys: BTreeMap<u32, SecretBytes> = BTreeMap::new();
        for env in &forwarded.envelopes {
            let from = env.from;
            if !neighbours.contains(&from) {
                return Err(SecAggError::UnknownWorker(from).into());
            }
            if held.contains_key(&from) {
                return Err(SecAggError::Duplicate {
                    what: "forwarded envelope",
                    worker: from,
                }
                .into());
            }
            // Shares: decapsulate, open, check shape and x-coordinate.
            let k = self
                .secrets
                .share_dk
                .decapsulate(&env.share_ct)
                .map_err(|_| SecAggError::ShareDecryption { from })?;
            let aead = share_aead(&k, round, from, self.id)?;
            let plaintext = Zeroizing::new(
                aead.open(
                    &[0u8; 12],
                    &shares_aad(round, from, self.id),
                    &env.sealed_shares,
                )
                .map_err(|_| SecAggError::ShareDecryption { from })?,
            );
            if plaintext.len() != share_len {
                return Err(SecAggError::Malformed {
                    from,
                    what: "sealed shares have the wrong length",
                }
                .into());
            }
            let (s_share, k_share) = plaintext
                .split_at_checked(shamir::share_len(SELF_SECRET_LEN))
                .ok_or(SecAggError::Malformed {
                    from,
                    what: "sealed shares have the wrong length",
                })?;
            if shamir::share_x(s_share) != Some(my_x) || shamir::share_x(k_share) != Some(my_x) {
                return Err(SecAggError::Malformed {
                    from,
                    what: "shares carry another worker's x-coordinate",
                }
                .into());
            }
            held.insert(
                from,
                HeldShares {
                    self_mask: Zeroizing::new(s_share.to_vec()),
                    key: Zeroizing::new(k_share.to_vec()),
                },
            );
            // Pairwise key: from a lower id we decapsulate; to a higher id we encapsulated.
            let ss =
                match (&env.mask_ct, from < self.id) {
                    (Some(ct), true) => self.secrets.mask_dk.decapsulate(ct).map_err(|_| {
                        SecAggError::Malformed {
                            from,
                            what: "mask ciphertext rejected",
                        }
                    })?,
                    (None, false) => sent
                        .get(&from)
                        .map(SecretBytes::duplicate)
                        .ok_or(SecAggError::UnknownWorker(from))?,
                    _ => {
                        return Err(SecAggError::Malformed {
                            from,
                            what: "mask ciphertext present for the wrong direction or missing",
                        }
                        .into());
                    }
                };
            pair_keys.insert(from, ss);
        }
        let u2_len = held.len() + 1;
        if u2_len < self.cfg.threshold() {
            return Err(SecAggError::BelowThreshold {
                stage: "completed key sharing",
                have: u2_len,
                threshold: self.cfg.threshold(),
            }
            .into());
        }

        let mut masked = input.to_vec();
        mask::apply(
            &self.secrets.self_seed,
            round,
            Purpose::SelfMask { owner: self.id },
            Sign::Add,
            &mut masked,
        )?;
        for (&peer, ss) in &pair_keys {
            let seed = pair_seed(ss, round, self.id, peer)?;
            mask::apply(
                &seed,
                round,
                Purpose::pair(self.id, peer)?,
                mask::pairwise_sign(self.id, peer)?,
                &mut masked,
            )?;
        }

        let mut u2: BTreeSet<u32> = held.keys().copied().collect();
        u2.insert(self.id);
        let State::SharedKeys {
            roster,
            mut neighbours,
            own,
            ..
        } = core::mem::replace(&mut self.state, State::Done)
        else {
            return Err(Error::InvalidParameter("client state changed".into()));
        };
        held.insert(self.id, own);
        neighbours.insert(self.id);
        self.state = State::Masked {
            roster_ids: roster.iter().map(|w| w.id).collect(),
            closed: neighbours,
            u2,
            held,
        };
        Ok(MaskedInput {
            round,
            from: self.id,
            masked,
        })
    }

    /// Round 3 (Unmasking): reveals shares of `b_v` for survivors and of `seed(sk_u) ‖ e_u`
    /// for dropped workers, among the workers it holds shares of. Refuses a request that names
    /// a worker in both lists, names workers outside the roster (or neighbours outside `U2`),
    /// does not account for every member of its `U2`, lists this worker as dropped, or leaves
    /// fewer than `t` survivors in its closed neighbourhood. Answers at most once.
    pub fn unmask(&mut self, request: &UnmaskRequest) -> Result<UnmaskResponse> {
        let State::Masked {
            roster_ids,
            closed,
            u2,
            held,
        } = &self.state
        else {
            return Err(unexpected(&self.state, "unmask request"));
        };
        self.check_round(request.round)?;
        let mut survivors = BTreeSet::new();
        for &v in &request.survivors {
            if !survivors.insert(v) {
                return Err(SecAggError::Duplicate {
                    what: "survivor entry",
                    worker: v,
                }
                .into());
            }
        }
        let mut dropped = BTreeSet::new();
        for &v in &request.dropped {
            if survivors.contains(&v) {
                return Err(SecAggError::BothSharesRequested(v).into());
            }
            if !dropped.insert(v) {
                return Err(SecAggError::Duplicate {
                    what: "dropped entry",
                    worker: v,
                }
                .into());
            }
        }
        if let Some(&v) = survivors
            .iter()
            .chain(&dropped)
            .find(|v| !roster_ids.contains(v) || (closed.contains(v) && !u2.contains(v)))
        {
            return Err(SecAggError::UnknownWorker(v).into());
        }
        if u2
            .iter()
            .any(|v| !survivors.contains(v) && !dropped.contains(v))
        {
            return Err(SecAggError::Malformed {
                from: 0,
                what: "unmask request does not account for every worker that shared keys",
            }
            .into());
        }
        if !survivors.contains(&self.id) {
            return Err(SecAggError::Malformed {
                from: 0,
                what: "unmask request lists this worker as dropped",
            }
            .into());
        }
        let near: BTreeSet<u32> = survivors.intersection(u2).copied().collect();
        if near.len() < self.cfg.threshold() {
            return Err(SecAggError::BelowThreshold {
                stage: "sent masked inputs",
                have: near.len(),
                threshold: self.cfg.threshold(),
            }
            .into());
        }
        let near_dropped: BTreeSet<u32> = dropped.intersection(u2).copied().collect();
        let reveal = |owners: &BTreeSet<u32>, pick: fn(&HeldShares) -> &[u8]| {
            owners
                .iter()
                .map(|&owner| {
                    held.get(&owner)
                        .map(|h| RevealedShare {
                            owner,
                            share: pick(h).to_vec(),
                        })
                        .ok_or(Error::from(SecAggError::UnknownWorker(owner)))
                })
                .collect::<Result<Vec<_>>>()
        };
        let response = UnmaskResponse {
            round: self.cfg.round(),
            from: self.id,
            self_mask_shares: reveal(&near, |h| h.self_mask.as_slice())?,
            key_shares: reveal(&near_dropped, |h| h.key.as_slice())?,
        };
        self.state = State::Done;
        Ok(response)
    }
}

pub(super) fn shares_aad(round: u64, from: u32, to: u32) -> Vec<u8> {
    let mut aad = Vec::with_capacity(AAD_SHARES.len() + 16);
    aad.extend_from_slice(AAD_SHARES);
    aad.extend_from_slice(&round.to_be_bytes());
    aad.extend_from_slice(&from.to_be_bytes());
    aad.extend_from_slice(&to.to_be_bytes());
    aad
}
