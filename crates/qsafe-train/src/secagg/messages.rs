//! The messages of the protocol, as serde structs. The transport chooses the encoding; every
//! receiver validates what it gets (lengths, ids, duplicates), so a hostile encoding can only
//! produce an error.

use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Round 0, worker → server: the worker's fresh per-round public keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Advertise {
    /// Aggregation round.
    pub round: u64,
    /// The worker's id (non-zero; the transport authenticates it).
    pub from: u32,
    /// KEM encapsulation key for pairwise mask agreement (`pk` of `sk_u`).
    pub mask_key: Vec<u8>,
    /// KEM encapsulation key for receiving encrypted shares (never secret-shared).
    pub share_key: Vec<u8>,
    /// Commitment to the self-mask seed `b_u`, so a reconstructed seed can be checked.
    pub self_mask_commitment: Vec<u8>,
}

/// One roster entry: a worker and its round keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RosterEntry {
    /// Worker id.
    pub id: u32,
    /// Mask-agreement encapsulation key.
    pub mask_key: Vec<u8>,
    /// Share-encryption encapsulation key.
    pub share_key: Vec<u8>,
    /// Commitment to the self-mask seed.
    pub self_mask_commitment: Vec<u8>,
}

/// End of round 0, server → every worker: the workers that advertised (`U1`), sorted by id.
/// A worker's Shamir x-coordinate is its 1-based position in this list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Roster {
    /// Aggregation round.
    pub round: u64,
    /// Workers in ascending id order.
    pub workers: Vec<RosterEntry>,
}

/// What one worker sends another through the server in round 1.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// The peer the envelope is for.
    pub to: u32,
    /// The mask KEM ciphertext, present exactly when the sender's id is lower than `to`.
    pub mask_ct: Option<Vec<u8>>,
    /// The share KEM ciphertext (encapsulated to the peer's share key).
    pub share_ct: Vec<u8>,
    /// AES-256-GCM of the sender's shares for this peer.
    pub sealed_shares: Vec<u8>,
}

/// Round 1, worker → server: one envelope per other roster member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShareKeys {
    /// Aggregation round.
    pub round: u64,
    /// Sender.
    pub from: u32,
    /// One envelope per other roster member.
    pub envelopes: Vec<Envelope>,
}

/// An envelope as delivered, with its sender.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivered {
    /// The sender.
    pub from: u32,
    /// See [`Envelope::mask_ct`].
    pub mask_ct: Option<Vec<u8>>,
    /// See [`Envelope::share_ct`].
    pub share_ct: Vec<u8>,
    /// See [`Envelope::sealed_shares`].
    pub sealed_shares: Vec<u8>,
}

/// End of round 1, server → one worker: the envelopes addressed to it from every worker that
/// completed round 1 (`U2`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Forwarded {
    /// Aggregation round.
    pub round: u64,
    /// Recipient.
    pub to: u32,
    /// The envelopes, one per other member of `U2`.
    pub envelopes: Vec<Delivered>,
}

/// Round 2, worker → server: the masked, quantised update.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaskedInput {
    /// Aggregation round.
    pub round: u64,
    /// Sender.
    pub from: u32,
    /// `y_u` in Z_2^32.
    pub masked: Vec<u32>,
}

/// Round 3, server → surviving workers: who sent a masked input (`U3`) and who dropped
/// (`U2 \ U3`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnmaskRequest {
    /// Aggregation round.
    pub round: u64,
    /// Workers whose masked inputs are in the sum: reveal shares of their self-mask seeds.
    pub survivors: Vec<u32>,
    /// Workers that dropped after round 1: reveal shares of their mask keys.
    pub dropped: Vec<u32>,
}

/// One revealed share. Zeroized on drop; `Debug` shows the owner and length only.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct RevealedShare {
    /// Whose secret the share is of.
    pub owner: u32,
    /// The encoded share (x-coordinate, then the y bytes).
    pub share: Vec<u8>,
}

impl core::fmt::Debug for RevealedShare {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RevealedShare")
            .field("owner", &self.owner)
            .field("len", &self.share.len())
            .finish_non_exhaustive()
    }
}

/// Round 3, worker → server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnmaskResponse {
    /// Aggregation round.
    pub round: u64,
    /// Sender.
    pub from: u32,
    /// Shares of `b_v` for every survivor `v` (the sender's own included).
    pub self_mask_shares: Vec<RevealedShare>,
    /// Shares of `sk_u seed ‖ e_u` for every dropped `u`.
    pub key_shares: Vec<RevealedShare>,
}
