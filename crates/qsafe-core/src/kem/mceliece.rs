//! Classic McEliece 348864 (NIST PQC round 4, ISO/IEC 18033-2 amendment in progress) on
//! `classic-mceliece-rust` (feature `mceliece`). Conservative code-based KEM with 261 120-byte
//! public keys and 96-byte ciphertexts. The private key is stored as the 32-byte seed δ from
//! which the reference key generation is deterministic (Classic McEliece spec §2.4.3,
//! "SeededKeyGen"); the expanded key is rebuilt on load.

use classic_mceliece_rust as cm;
use rand_core06::{CryptoRng, RngCore};
use zeroize::Zeroizing;

use crate::secret::SecretBytes;
use crate::{Error, Result};

const NAME: &str = "mceliece348864";
/// Length of the seed δ.
pub(crate) const SEED_LEN: usize = 32;

/// Feeds δ to the reference key generation, which draws exactly 32 bytes (`operations.rs`:
/// `randombytes(seed + 1, 32)`); any further request gets zeros and is counted.
struct SeedRng<'a> {
    seed: &'a [u8],
    drawn: usize,
}

impl RngCore for SeedRng<'_> {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        self.fill_bytes(&mut b);
        u32::from_le_bytes(b)
    }
    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.fill_bytes(&mut b);
        u64::from_le_bytes(b)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for d in dest.iter_mut() {
            *d = self.seed.get(self.drawn).copied().unwrap_or(0);
            self.drawn += 1;
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> core::result::Result<(), rand_core06::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}
impl CryptoRng for SeedRng<'_> {}

pub(crate) struct PublicKey {
    pk: cm::PublicKey<'static>,
}

impl PublicKey {
    pub(crate) fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let boxed: Box<[u8; cm::CRYPTO_PUBLICKEYBYTES]> =
            bytes.to_vec().into_boxed_slice().try_into().map_err(|_| {
                Error::length("public key", NAME, cm::CRYPTO_PUBLICKEYBYTES, bytes.len())
            })?;
        Ok(PublicKey {
            pk: cm::PublicKey::from(boxed),
        })
    }

    pub(crate) fn encapsulate(&self) -> Result<(Vec<u8>, SecretBytes)> {
        let (ct, ss) = cm::encapsulate_boxed(&self.pk, &mut rand_core06::OsRng);
        Ok((
            ct.as_array().to_vec(),
            SecretBytes::from_slice(ss.as_array()),
        ))
    }
}

pub(crate) struct PrivateKey {
    seed: Zeroizing<Vec<u8>>,
    sk: cm::SecretKey<'static>,
    public: Vec<u8>,
}

impl PrivateKey {
    pub(crate) fn generate() -> Result<Self> {
        let seed = crate::secret::random_bytes(SEED_LEN)?;
        Self::from_seed(seed.expose())
    }

    pub(crate) fn from_seed(seed: &[u8]) -> Result<Self> {
        if seed.len() != SEED_LEN {
            return Err(Error::length("seed δ", NAME, SEED_LEN, seed.len()));
        }
        let mut rng = SeedRng { seed, drawn: 0 };
        let (pk, sk) = cm::keypair_boxed(&mut rng);
        if rng.drawn != SEED_LEN {
            return Err(Error::Internal(
                "mceliece key generation drew an unexpected amount of randomness",
            ));
        }
        Ok(PrivateKey {
            seed: Zeroizing::new(seed.to_vec()),
            sk,
            public: pk.as_array().to_vec(),
        })
    }

    pub(crate) fn seed(&self) -> &[u8] {
        &self.seed
    }

    pub(crate) fn public(&self) -> &[u8] {
        &self.public
    }

    pub(crate) fn decapsulate(&self, ct: &[u8]) -> Result<SecretBytes> {
        let ct: [u8; cm::CRYPTO_CIPHERTEXTBYTES] = ct
            .try_into()
            .map_err(|_| Error::length("ciphertext", NAME, cm::CRYPTO_CIPHERTEXTBYTES, ct.len()))?;
        let ss = cm::decapsulate_boxed(&cm::Ciphertext::from(ct), &self.sk);
        Ok(SecretBytes::from_slice(ss.as_array()))
    }
}
