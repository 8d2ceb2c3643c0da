//! The UCI Optical Recognition of Handwritten Digits data (Alpaydin & Kaynak 1998), in the
//! copy scikit-learn ships as `sklearn/datasets/data/digits.csv.gz`. Provenance, licence and
//! hashes: `data/README.md`.

use std::io::Read;

use flate2::read::GzDecoder;

use crate::{Dataset, Error, Result};

/// Features per sample: an 8x8 image, row-major.
pub const DIGITS_FEATURES: usize = 64;
/// Classes: the digits 0 to 9.
pub const DIGITS_CLASSES: usize = 10;
/// Samples in the file (the UCI `optdigits.tes` writer-independent test set).
pub const DIGITS_SAMPLES: usize = 1797;
/// SHA-256 of the vendored `data/digits.csv.gz`, as listed in the scikit-learn 1.9.1 wheel's
/// `RECORD`.
pub const DIGITS_GZ_SHA256: &str =
    "09f66e6debdee2cd2b5ae59e0d6abbb73fc2b0e0185d2e1957e9ebb51e23aa22";
/// SHA-256 of the decompressed CSV.
pub const DIGITS_CSV_SHA256: &str =
    "6ebb3d2fee246a4e99363262ddf8a00a3c41bee6014c373ed9d9216ba7f651b8";

const NAME: &str = "digits";
const DIGITS_GZ: &[u8] = include_bytes!("../data/digits.csv.gz");
/// The CSV is 264,712 bytes; anything much larger is not the file we vendored.
const MAX_CSV_BYTES: u64 = 1 << 20;
const MAX_INTENSITY: u8 = 16;

/// The decompressed CSV exactly as vendored: one sample per line, 64 intensities then the
/// label, comma-separated, `\n`-terminated.
///
/// # Errors
/// [`Error::Decompress`] if the embedded gzip stream is corrupt or larger than 1 MiB.
pub fn digits_csv() -> Result<Vec<u8>> {
    let decompress = |reason: String| Error::Decompress {
        dataset: NAME,
        reason,
    };
    let mut csv = Vec::new();
    GzDecoder::new(DIGITS_GZ)
        .take(MAX_CSV_BYTES + 1)
        .read_to_end(&mut csv)
        .map_err(|e| decompress(e.to_string()))?;
    if u64::try_from(csv.len()).map_or(true, |n| n > MAX_CSV_BYTES) {
        return Err(decompress(format!(
            "more than {MAX_CSV_BYTES} bytes after decompression"
        )));
    }
    Ok(csv)
}

/// Loads the digits data set: 1797 samples of 64 `f32` features in `0.0..=16.0` (raw
/// intensities, not rescaled) and `u8` labels in `0..=9`.
///
/// # Errors
/// [`Error::Decompress`], [`Error::Parse`] for any malformed line (wrong field count,
/// anything but a canonical decimal integer, out-of-range value, `\r`, missing final
/// newline), and [`Error::Shape`] if the sample count or class set is not the documented one.
pub fn digits() -> Result<Dataset> {
    let csv = digits_csv()?;
    let (features, labels) = parse_csv(&csv)?;
    if labels.len() != DIGITS_SAMPLES {
        return Err(Error::Shape {
            dataset: NAME,
            expected: format!("{DIGITS_SAMPLES} samples"),
            found: labels.len().to_string(),
        });
    }
    let dataset = Dataset::new(NAME, DIGITS_FEATURES, DIGITS_CLASSES, features, labels)?;
    let missing: Vec<usize> = dataset
        .class_counts()
        .iter()
        .enumerate()
        .filter(|&(_, &n)| n == 0)
        .map(|(class, _)| class)
        .collect();
    if !missing.is_empty() {
        return Err(Error::Shape {
            dataset: NAME,
            expected: format!("samples of all {DIGITS_CLASSES} classes"),
            found: format!("none of classes {missing:?}"),
        });
    }
    Ok(dataset)
}

fn parse_csv(csv: &[u8]) -> Result<(Vec<f32>, Vec<u8>)> {
    let Some(body) = csv.strip_suffix(b"\n") else {
        return Err(Error::Parse {
            dataset: NAME,
            line: csv.split(|&b| b == b'\n').count(),
            reason: "file does not end with a newline".into(),
        });
    };
    let mut features = Vec::with_capacity(DIGITS_SAMPLES * DIGITS_FEATURES);
    let mut labels = Vec::with_capacity(DIGITS_SAMPLES);
    for (index, line) in body.split(|&b| b == b'\n').enumerate() {
        let line_no = index + 1;
        let parse_error = |reason: String| Error::Parse {
            dataset: NAME,
            line: line_no,
            reason,
        };
        let mut fields = 0usize;
        for (column, field) in line.split(|&b| b == b',').enumerate() {
            fields += 1;
            let value = parse_field(field).ok_or_else(|| {
                parse_error(format!(
                    "field {}: {:?} is not a decimal integer 0..=99",
                    column + 1,
                    String::from_utf8_lossy(field)
                ))
            })?;
            if column < DIGITS_FEATURES {
                if value > MAX_INTENSITY {
                    return Err(parse_error(format!(
                        "field {}: intensity {value} is above {MAX_INTENSITY}",
                        column + 1
                    )));
                }
                features.push(f32::from(value));
            } else if column == DIGITS_FEATURES {
                if usize::from(value) >= DIGITS_CLASSES {
                    return Err(parse_error(format!("label {value} is not a digit 0..=9")));
                }
                labels.push(value);
            }
        }
        if fields != DIGITS_FEATURES + 1 {
            return Err(parse_error(format!(
                "{fields} fields, expected {} (64 intensities and a label)",
                DIGITS_FEATURES + 1
            )));
        }
    }
    Ok((features, labels))
}

/// A canonical decimal integer below 100: `0`, or 1-2 ASCII digits without a leading zero.
fn parse_field(field: &[u8]) -> Option<u8> {
    match *field {
        [d @ b'0'..=b'9'] => Some(d - b'0'),
        [t @ b'1'..=b'9', u @ b'0'..=b'9'] => Some((t - b'0') * 10 + (u - b'0')),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_field_accepts_canonical_integers_only() {
        assert_eq!(parse_field(b"0"), Some(0));
        assert_eq!(parse_field(b"16"), Some(16));
        assert_eq!(parse_field(b"99"), Some(99));
        for bad in [
            &b""[..],
            b"00",
            b"07",
            b"-1",
            b"+1",
            b" 1",
            b"1 ",
            b"1.0",
            b"100",
            b"a",
        ] {
            assert_eq!(parse_field(bad), None, "{bad:?}");
        }
    }

    fn row(label: &str) -> String {
        let mut fields = vec!["0"; DIGITS_FEATURES];
        fields.push(label);
        fields.join(",")
    }

    #[test]
    fn parse_csv_accepts_well_formed_rows() -> Result<()> {
        let csv = format!("{}\n{}\n", row("3"), row("9"));
        let (features, labels) = parse_csv(csv.as_bytes())?;
        assert_eq!(labels, vec![3, 9]);
        assert_eq!(features.len(), 2 * DIGITS_FEATURES);
        Ok(())
    }

    #[test]
    fn parse_csv_rejects_malformed_rows() {
        let mut too_many = row("1");
        too_many.push_str(",0");
        let cases = [
            ("no final newline", row("1")),
            ("crlf", format!("{}\r\n", row("1"))),
            ("label 10", format!("{}\n", row("10"))),
            ("intensity 17", format!("17{}\n", &row("1")[1..])),
            ("too few fields", format!("{}\n", &row("1")[2..])),
            ("too many fields", format!("{too_many}\n")),
            ("empty line", format!("{}\n\n", row("1"))),
            ("float", format!("{}\n", row("1.0"))),
        ];
        for (case, csv) in &cases {
            assert!(
                matches!(parse_csv(csv.as_bytes()), Err(Error::Parse { .. })),
                "{case} was accepted"
            );
        }
        assert_eq!(cases.len(), 8);
    }
}
