//! t-out-of-n Shamir secret sharing of byte strings, over GF(2^8) byte by byte, from the
//! `blahaj` crate.
//!
//! Why `blahaj` 0.7: it is the maintained fork of `sharks` (unmaintained since 2021) that
//! fixed RUSTSEC-2024-0398 (polynomial coefficients drawn from 1..=255 instead of 0..=255,
//! which biased shares); it is small (GF(256) tables, `rand`, `hashbrown`, `zeroize`), has no
//! `unsafe`, zeroizes shares on drop and draws coefficients from `rand`'s thread-local CSPRNG
//! (ChaCha12 seeded by the OS). `vsss-rs` was the alternative: generic over prime-order
//! groups with constant-time field arithmetic, but it pulls in `crypto-bigint` and
//! `elliptic-curve`, its API has changed incompatibly across majors, and its GF(256) mode had
//! its own biased-randomness findings fixed only in 2026. `sharks` itself carries the advisory.
//!
//! What this wrapper adds, because `blahaj` leaves it to the caller:
//! - thresholds `2 ≤ t ≤ n ≤ 255` (t = 1 would hand every holder the secret);
//! - share `i` (1-based) has x-coordinate `i`; inputs are checked for x ≠ 0, the expected
//!   length, and duplicate x-coordinates (which `blahaj::Sharks::recover` would count once
//!   toward the threshold but still feed to the interpolation, giving a wrong secret);
//! - errors instead of `&str`, zeroizing buffers.
//!
//! Caveat: GF(256) multiplication in `blahaj` uses log/exp tables, so splitting and
//! recombining are not constant-time with respect to cache-timing attackers on the same host.
//! Splitting happens on the worker over its own per-round seeds; recombination on the
//! aggregator over seeds it is entitled to learn.

use blahaj::{Share, Sharks};
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// Most shares a GF(256) scheme can hand out (x-coordinates 1..=255).
pub const MAX_SHARES: usize = 255;

/// Length of one encoded share of a `secret_len`-byte secret: x-coordinate then y bytes.
pub const fn share_len(secret_len: usize) -> usize {
    secret_len + 1
}

fn threshold_u8(t: usize, n: usize) -> Result<u8> {
    if t < 2 || t > n || n > MAX_SHARES {
        return Err(Error::InvalidParameter(format!(
            "Shamir sharing needs 2 <= t <= n <= {MAX_SHARES}, got t = {t}, n = {n}"
        )));
    }
    u8::try_from(t).map_err(|_| Error::InvalidParameter(format!("threshold {t} too large")))
}

/// Splits `secret` into `n` shares, any `t` of which recover it. Share `i` (0-based in the
/// returned vector) has x-coordinate `i + 1`.
pub fn split(secret: &[u8], t: usize, n: usize) -> Result<Vec<Zeroizing<Vec<u8>>>> {
    let sharks = Sharks(threshold_u8(t, n)?);
    if secret.is_empty() {
        return Err(Error::InvalidParameter(
            "cannot share an empty secret".into(),
        ));
    }
    Ok(sharks
        .dealer(secret)
        .take(n)
        .map(|share| Zeroizing::new(Vec::from(&share)))
        .collect())
}

/// The x-coordinate of an encoded share.
pub fn share_x(share: &[u8]) -> Option<u8> {
    share.first().copied()
}

/// Recovers a `secret_len`-byte secret from at least `t` shares with distinct, non-zero
/// x-coordinates.
pub fn combine<'a>(
    t: usize,
    secret_len: usize,
    shares: impl IntoIterator<Item = &'a [u8]>,
) -> Result<Zeroizing<Vec<u8>>> {
    let sharks = Sharks(threshold_u8(t, MAX_SHARES)?);
    let mut seen = [false; 256];
    let mut parsed = Vec::new();
    for bytes in shares {
        if bytes.len() != share_len(secret_len) {
            return Err(Error::Length {
                what: "secret share",
                expected: share_len(secret_len),
                got: bytes.len(),
            });
        }
        let x = share_x(bytes).unwrap_or(0);
        let slot = seen
            .get_mut(usize::from(x))
            .ok_or(Error::InvalidParameter("share x-coordinate".into()))?;
        if x == 0 || *slot {
            return Err(Error::InvalidParameter(format!(
                "share x-coordinate {x} is zero or repeated"
            )));
        }
        *slot = true;
        let share = Share::try_from(bytes)
            .map_err(|e| Error::InvalidParameter(format!("secret share: {e}")))?;
        parsed.push(share);
    }
    if parsed.len() < t {
        return Err(Error::InvalidParameter(format!(
            "{} shares cannot recover a {t}-of-n secret",
            parsed.len()
        )));
    }
    let secret = sharks
        .recover(&parsed)
        .map_err(|e| Error::InvalidParameter(format!("secret shares: {e}")))?;
    Ok(Zeroizing::new(secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refs(v: &[Zeroizing<Vec<u8>>]) -> Vec<&[u8]> {
        v.iter().map(|s| s.as_slice()).collect()
    }

    #[test]
    fn any_t_of_n_recover_and_fewer_do_not() {
        let secret: Vec<u8> = (0..64).collect();
        let (t, n) = (3, 6);
        let shares = split(&secret, t, n).unwrap();
        assert_eq!(shares.len(), n);
        for (i, s) in shares.iter().enumerate() {
            assert_eq!(share_x(s), Some(u8::try_from(i + 1).unwrap()));
            assert_eq!(s.len(), share_len(64));
        }
        let r = refs(&shares);
        // Every 3-subset recovers the secret.
        let mut subsets = 0;
        for a in 0..n {
            for b in a + 1..n {
                for c in b + 1..n {
                    let got = combine(t, 64, [r[a], r[b], r[c]]).unwrap();
                    assert_eq!(got.as_slice(), secret.as_slice());
                    subsets += 1;
                }
            }
        }
        assert_eq!(subsets, 20);
        // All six also recover it.
        assert_eq!(combine(t, 64, r.clone()).unwrap().as_slice(), &secret[..]);
        // Two are refused.
        assert!(combine(t, 64, [r[0], r[4]]).is_err());
    }

    #[test]
    fn fewer_than_t_shares_reveal_nothing_about_a_byte() {
        // Information-theoretic hiding, checked empirically: with t = 2 a single share's y
        // byte is uniform whatever the secret. Over 4096 sharings of secret 0x00 and of 0xFF,
        // the histograms of share 1's byte both pass a chi-square test (255 dof, p = 1e-6
        // critical value ≈ 375; expected 16 per bucket).
        for secret in [0x00u8, 0xFF] {
            let mut counts = [0f64; 256];
            for _ in 0..4096 {
                let s = split(&[secret], 2, 3).unwrap();
                counts[usize::from(s[0][1])] += 1.0;
            }
            let chi2: f64 = counts.iter().map(|c| (c - 16.0).powi(2) / 16.0).sum();
            assert!(chi2 < 375.0, "secret {secret:#x}: chi2 {chi2}");
        }
    }

    #[test]
    fn rejects_bad_parameters_and_shares() {
        assert!(split(b"k", 1, 3).is_err());
        assert!(split(b"k", 4, 3).is_err());
        assert!(split(b"k", 2, 256).is_err());
        assert!(split(b"", 2, 3).is_err());
        let shares = split(&[7u8; 32], 2, 3).unwrap();
        let r = refs(&shares);
        // Duplicate x-coordinate, even with enough distinct shares besides.
        assert!(combine(2, 32, [r[0], r[0], r[1]]).is_err());
        // Wrong length.
        assert!(combine(2, 31, [r[0], r[1]]).is_err());
        assert!(combine(2, 32, [&r[0][..10], r[1]]).is_err());
        // x = 0 would be the secret itself.
        let mut zero = r[0].to_vec();
        zero[0] = 0;
        assert!(combine(2, 32, [zero.as_slice(), r[1]]).is_err());
        assert!(combine(2, 32, std::iter::empty()).is_err());
        // A modified share recovers a different secret (Shamir alone is not authenticated;
        // the protocol checks recovered keys against their public halves).
        let mut bad = r[0].to_vec();
        bad[5] ^= 1;
        assert_ne!(
            combine(2, 32, [bad.as_slice(), r[1]]).unwrap().as_slice(),
            &[7u8; 32]
        );
    }

    proptest::proptest! {
        #[test]
        fn any_t_shares_recover_any_secret(
            secret in proptest::collection::vec(proptest::num::u8::ANY, 1..80),
            t in 2usize..8,
            extra in 0usize..5,
            skip in 0usize..8,
        ) {
            let n = t + extra;
            let shares = split(&secret, t, n).unwrap();
            // t consecutive shares starting at an arbitrary offset (wrapping).
            let picked: Vec<&[u8]> = (0..t).map(|i| shares[(skip + i) % n].as_slice()).collect();
            let got = combine(t, secret.len(), picked.clone()).unwrap();
            proptest::prop_assert_eq!(got.as_slice(), secret.as_slice());
            proptest::prop_assert!(combine(t, secret.len(), picked[1..].to_vec()).is_err());
        }

        #[test]
        fn combine_never_panics_on_garbage(
            shares in proptest::collection::vec(
                proptest::collection::vec(proptest::num::u8::ANY, 0..40), 0..6),
            t in 0usize..300,
            len in 0usize..40,
        ) {
            let _ = combine(t, len, shares.iter().map(|s| s.as_slice()));
        }
    }
}
