//! The vendored digits file is the one documented in data/README.md.

use qsafe_data::{
    DIGITS_CLASSES, DIGITS_CSV_SHA256, DIGITS_FEATURES, DIGITS_GZ_SHA256, DIGITS_SAMPLES, Result,
    digits, digits_csv,
};
use sha2::{Digest, Sha256};

/// Class counts of UCI `optdigits.tes`, from the data set's documentation.
const UCI_TEST_CLASS_COUNTS: [usize; 10] = [178, 182, 177, 183, 181, 182, 181, 179, 174, 180];

#[test]
fn digits_gz_matches_pinned_sha256() {
    let gz = include_bytes!("../data/digits.csv.gz");
    assert_eq!(gz.len(), 57_523);
    assert_eq!(hex::encode(Sha256::digest(gz)), DIGITS_GZ_SHA256);
}

#[test]
fn digits_csv_matches_pinned_sha256() -> Result<()> {
    let csv = digits_csv()?;
    assert_eq!(csv.len(), 264_712);
    assert_eq!(hex::encode(Sha256::digest(&csv)), DIGITS_CSV_SHA256);
    Ok(())
}

#[test]
fn digits_has_documented_counts() -> Result<()> {
    let ds = digits()?;
    assert_eq!(ds.name(), "digits");
    assert_eq!(ds.len(), DIGITS_SAMPLES);
    assert_eq!(ds.len(), 1797);
    assert_eq!(ds.n_features(), DIGITS_FEATURES);
    assert_eq!(ds.n_classes(), DIGITS_CLASSES);
    assert_eq!(ds.features().len(), 1797 * 64);
    let counts = ds.class_counts();
    assert_eq!(counts, UCI_TEST_CLASS_COUNTS);
    assert_eq!(counts.iter().sum::<usize>(), 1797);
    Ok(())
}

#[test]
fn digits_values_are_raw_intensities() -> Result<()> {
    let ds = digits()?;
    assert!(
        ds.features()
            .iter()
            .all(|&v| (0.0..=16.0).contains(&v) && v.fract() == 0.0)
    );
    assert!(ds.features().contains(&16.0));
    // First line of the file: "0,0,5,13,9,1,0,0,..." with label 0.
    let first = ds
        .sample(0)
        .ok_or(qsafe_data::Error::InvalidArgument("empty".into()))?;
    assert_eq!(first.label, 0);
    assert_eq!(
        first.features.get(..6),
        Some(&[0.0, 0.0, 5.0, 13.0, 9.0, 1.0][..])
    );
    assert_eq!(ds.iter().len(), 1797);
    Ok(())
}
