//! The embedded model as the gateway loads it: a safetensors weights file sealed with
//! `qsafe-artifact` (container v1, `docs/format.md`) to the gateway's model key and signed by
//! the model's publisher. [`open`] requires that signature: the decryptor releases the last
//! chunk only after it verifies, and nothing is parsed before the whole file has been read,
//! so a tampered, re-signed or foreign file never reaches [`Classifier::from_safetensors`].

use std::io::{Cursor, Read};

use qsafe_artifact::container::{Header, SealOptions, Sealer};
use qsafe_core::kem::DecapsulationKey;
use qsafe_core::keys::PublicKey;
use qsafe_core::registry::SUITE_DEFAULT;
use qsafe_core::sig::{SigningKey, VerifyingKey};
use zeroize::Zeroizing;

use super::{Classifier, MAX_MODEL_BYTES};

/// Why a sealed model did not load.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The sealed file is damaged, not for this key, not signed by the publisher, or its
    /// signature does not verify.
    #[error("sealed model: {0}")]
    Artifact(#[from] qsafe_artifact::Error),
    /// The sealed file holds more than [`MAX_MODEL_BYTES`].
    #[error("sealed model: the weights are larger than {MAX_MODEL_BYTES} bytes")]
    TooLarge,
    /// The verified weights are not a valid model.
    #[error(transparent)]
    Model(#[from] super::Error),
}

impl Error {
    /// True when the file failed authentication (damaged, foreign, or not the publisher's).
    pub fn is_verification_failure(&self) -> bool {
        matches!(self, Error::Artifact(e) if !matches!(e, qsafe_artifact::Error::Io(_)))
    }
}

/// Seals `weights` to `recipients` (the gateway model keys), signed by `publisher`.
pub fn seal(
    weights: &[u8],
    recipients: &[PublicKey],
    publisher: &SigningKey,
) -> Result<Vec<u8>, Error> {
    let opts = SealOptions {
        suite: &SUITE_DEFAULT,
        recipients,
        signer: Some(publisher),
        allow_classical: false,
    };
    let mut sealer = Sealer::new(&opts, Vec::new())?;
    std::io::Write::write_all(&mut sealer, weights).map_err(qsafe_artifact::unwrap_io)?;
    Ok(sealer.finish()?)
}

/// Opens a sealed model with the gateway's model key, requiring `publisher`'s signature,
/// and loads it.
pub fn open(
    sealed: &[u8],
    key: &DecapsulationKey,
    publisher: &VerifyingKey,
) -> Result<Classifier, Error> {
    let mut input = Cursor::new(sealed);
    let header = Header::read(&mut input)?;
    let file_key = header.unlock(key)?;
    let mut opened = header.open_stream(&file_key, input, Some(publisher))?;
    let mut weights = Zeroizing::new(Vec::new());
    let limit = u64::try_from(MAX_MODEL_BYTES).unwrap_or(u64::MAX) + 1;
    (&mut opened)
        .take(limit)
        .read_to_end(&mut weights)
        .map_err(qsafe_artifact::unwrap_io)?;
    if weights.len() > MAX_MODEL_BYTES {
        return Err(Error::TooLarge);
    }
    if !opened.signature_verified() {
        return Err(qsafe_artifact::Error::Signature.into());
    }
    Ok(Classifier::from_safetensors(&weights)?)
}
