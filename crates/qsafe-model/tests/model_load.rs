//! `Classifier::from_safetensors` rejects hostile or mismatched files with a clear error and
//! never panics.

use std::collections::HashMap;

use proptest::prelude::*;
use qsafe_model::{Classifier, DIGITS_MLP_SAFETENSORS, Error, MAX_HIDDEN, MAX_MODEL_BYTES, Result};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};

/// A tensor to write: name, dtype, shape, raw little-endian bytes.
type Tensor = (String, Dtype, Vec<usize>, Vec<u8>);

fn committed_parts() -> (Vec<Tensor>, HashMap<String, String>) {
    let Ok(file) = SafeTensors::deserialize(DIGITS_MLP_SAFETENSORS) else {
        return (Vec::new(), HashMap::new());
    };
    let mut tensors: Vec<Tensor> = file
        .tensors()
        .into_iter()
        .map(|(name, view)| {
            (
                name,
                view.dtype(),
                view.shape().to_vec(),
                view.data().to_vec(),
            )
        })
        .collect();
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    let metadata = SafeTensors::read_metadata(DIGITS_MLP_SAFETENSORS)
        .ok()
        .and_then(|(_, m)| m.metadata().clone())
        .unwrap_or_default();
    (tensors, metadata)
}

fn write(tensors: &[Tensor], metadata: Option<HashMap<String, String>>) -> Vec<u8> {
    let views: Vec<(String, TensorView<'_>)> = tensors
        .iter()
        .filter_map(|(name, dtype, shape, data)| {
            TensorView::new(*dtype, shape.clone(), data)
                .ok()
                .map(|v| (name.clone(), v))
        })
        .collect();
    assert_eq!(
        views.len(),
        tensors.len(),
        "test built an inconsistent tensor"
    );
    safetensors::serialize(views, metadata).unwrap_or_default()
}

fn f32_bytes(n: usize, value: f32) -> Vec<u8> {
    (0..n).flat_map(|_| value.to_le_bytes()).collect()
}

/// The committed file with one change applied.
fn variant(change: impl FnOnce(&mut Vec<Tensor>, &mut HashMap<String, String>)) -> Vec<u8> {
    let (mut tensors, mut metadata) = committed_parts();
    change(&mut tensors, &mut metadata);
    write(&tensors, Some(metadata))
}

fn replace(tensors: &mut [Tensor], name: &str, t: Tensor) {
    if let Some(slot) = tensors.iter_mut().find(|t| t.0 == name) {
        *slot = t;
    }
}

fn shaped(name: &str, shape: &[usize]) -> Tensor {
    let n = shape.iter().product();
    (name.into(), Dtype::F32, shape.to_vec(), f32_bytes(n, 0.25))
}

/// A consistent network of the given hidden width (for the hidden-size bounds).
fn with_hidden(hidden: usize) -> Vec<u8> {
    variant(|t, _| {
        replace(t, "w1", shaped("w1", &[hidden, 64]));
        replace(t, "b1", shaped("b1", &[hidden]));
        replace(t, "w2", shaped("w2", &[10, hidden]));
    })
}

enum Expect {
    Format,
    Tensor(&'static str),
    Metadata(&'static str),
}

fn check(case: &str, bytes: &[u8], expect: &Expect) {
    let result = Classifier::from_safetensors(bytes);
    let ok = match (&result, expect) {
        (Err(Error::Format(_)), Expect::Format) => true,
        (Err(Error::Tensor { name, .. }), Expect::Tensor(n)) => name == n,
        (Err(Error::Metadata { key, .. }), Expect::Metadata(k)) => key == k,
        _ => false,
    };
    assert!(ok, "{case}: unexpected result {result:?}");
    if let Err(e) = result {
        // Errors name the problem in one lowercase line.
        let msg = e.to_string();
        assert!(msg.starts_with("model file"), "{case}: {msg}");
        assert!(!msg.contains('\n'), "{case}: {msg}");
    }
}

#[test]
fn committed_file_loads() -> Result<()> {
    let model = Classifier::from_safetensors(DIGITS_MLP_SAFETENSORS)?;
    assert_eq!(model.hidden(), 32);
    assert_eq!(model.version(), "1");
    assert!(DIGITS_MLP_SAFETENSORS.len() < 16 * 1024);
    // Rewriting what was read gives the committed bytes back (the format is canonical).
    assert_eq!(model.to_safetensors()?, DIGITS_MLP_SAFETENSORS);
    // Debug shows the architecture, not 2410 weights.
    let debug = format!("{model:?}");
    assert!(debug.len() < 200, "{debug}");
    Ok(())
}

#[test]
fn rejects_hostile_or_mismatched_files() {
    let committed = DIGITS_MLP_SAFETENSORS;
    let mut huge_header = committed.to_vec();
    huge_header.splice(..8, u64::MAX.to_le_bytes());
    let mut not_json = committed.to_vec();
    if let Some(b) = not_json.get_mut(8) {
        *b = b'[';
    }
    let mut not_utf8 = committed.to_vec();
    if let Some(b) = not_utf8.get_mut(12) {
        *b = 0xff;
    }
    let mut trailing = committed.to_vec();
    trailing.push(0);
    let mut too_big = committed.to_vec();
    too_big.resize(MAX_MODEL_BYTES + 1, 0);

    let cases: Vec<(&str, Vec<u8>, Expect)> = vec![
        ("empty", Vec::new(), Expect::Format),
        ("seven bytes", vec![0; 7], Expect::Format),
        (
            "truncated data",
            committed[..committed.len() - 1].to_vec(),
            Expect::Format,
        ),
        (
            "truncated header",
            committed[..100].to_vec(),
            Expect::Format,
        ),
        ("trailing byte", trailing, Expect::Format),
        ("header length u64::MAX", huge_header, Expect::Format),
        ("header not an object", not_json, Expect::Format),
        ("header not utf-8", not_utf8, Expect::Format),
        ("over the size limit", too_big, Expect::Format),
        (
            "missing b2",
            variant(|t, _| t.retain(|t| t.0 != "b2")),
            Expect::Tensor("b2"),
        ),
        (
            "extra tensor",
            variant(|t, _| t.push(shaped("w3", &[10, 10]))),
            Expect::Tensor("w3"),
        ),
        (
            "w1 as F64",
            variant(|t, _| {
                replace(
                    t,
                    "w1",
                    ("w1".into(), Dtype::F64, vec![32, 64], vec![0; 32 * 64 * 8]),
                );
            }),
            Expect::Tensor("w1"),
        ),
        (
            "b2 as I32",
            variant(|t, _| replace(t, "b2", ("b2".into(), Dtype::I32, vec![10], vec![0; 40]))),
            Expect::Tensor("b2"),
        ),
        (
            "w1 transposed",
            variant(|t, _| replace(t, "w1", shaped("w1", &[64, 32]))),
            Expect::Tensor("w1"),
        ),
        (
            "w1 three-dimensional",
            variant(|t, _| replace(t, "w1", shaped("w1", &[32, 64, 1]))),
            Expect::Tensor("w1"),
        ),
        (
            "b1 wrong length",
            variant(|t, _| replace(t, "b1", shaped("b1", &[31]))),
            Expect::Tensor("b1"),
        ),
        (
            "w2 hidden mismatch",
            variant(|t, _| replace(t, "w2", shaped("w2", &[10, 31]))),
            Expect::Tensor("w2"),
        ),
        (
            "w2 transposed",
            variant(|t, _| replace(t, "w2", shaped("w2", &[32, 10]))),
            Expect::Tensor("w2"),
        ),
        (
            "b2 scalar",
            variant(|t, _| replace(t, "b2", shaped("b2", &[]))),
            Expect::Tensor("b2"),
        ),
        ("hidden 0", with_hidden(0), Expect::Tensor("w1")),
        (
            "hidden above limit",
            with_hidden(MAX_HIDDEN + 1),
            Expect::Tensor("w1"),
        ),
        (
            "NaN weight",
            variant(|t, _| {
                replace(
                    t,
                    "w2",
                    (
                        "w2".into(),
                        Dtype::F32,
                        vec![10, 32],
                        f32_bytes(320, f32::NAN),
                    ),
                );
            }),
            Expect::Tensor("w2"),
        ),
        (
            "infinite bias",
            variant(|t, _| {
                replace(
                    t,
                    "b1",
                    (
                        "b1".into(),
                        Dtype::F32,
                        vec![32],
                        f32_bytes(32, f32::INFINITY),
                    ),
                );
            }),
            Expect::Tensor("b1"),
        ),
        (
            "no metadata",
            write(&committed_parts().0, None),
            Expect::Metadata("name"),
        ),
        (
            "other model name",
            variant(|_, m| {
                m.insert("name".into(), "resnet50".into());
            }),
            Expect::Metadata("name"),
        ),
        (
            "other class labels",
            variant(|_, m| {
                m.insert("class_labels".into(), "9,8,7,6,5,4,3,2,1,0".into());
            }),
            Expect::Metadata("class_labels"),
        ),
        (
            "other input shape",
            variant(|_, m| {
                m.insert("input_shape".into(), "[-1,784]".into());
            }),
            Expect::Metadata("input_shape"),
        ),
        (
            "missing version",
            variant(|_, m| {
                m.remove("version");
            }),
            Expect::Metadata("version"),
        ),
        (
            "version with a path",
            variant(|_, m| {
                m.insert("version".into(), "../../admin".into());
            }),
            Expect::Metadata("version"),
        ),
        (
            "too many metadata entries",
            variant(|_, m| {
                for i in 0..40 {
                    m.insert(format!("k{i}"), String::new());
                }
            }),
            Expect::Metadata("__metadata__"),
        ),
        (
            "oversized metadata value",
            variant(|_, m| {
                m.insert("notes".into(), "x".repeat(5000));
            }),
            Expect::Metadata("notes"),
        ),
    ];
    for (case, bytes, expect) in &cases {
        check(case, bytes, expect);
    }
    assert_eq!(cases.len(), 31);
}

#[test]
fn accepts_other_hidden_widths() -> Result<()> {
    assert_eq!(Classifier::from_safetensors(&with_hidden(1))?.hidden(), 1);
    assert_eq!(
        Classifier::from_safetensors(&with_hidden(MAX_HIDDEN))?.hidden(),
        MAX_HIDDEN
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Corrupting, truncating or extending the committed file never panics.
    #[test]
    fn mutated_files_never_panic(
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let mut bytes = DIGITS_MLP_SAFETENSORS.to_vec();
        for (at, value) in edits {
            let i = at.index(bytes.len());
            if let Some(b) = bytes.get_mut(i) {
                *b = value;
            }
        }
        if truncate {
            bytes.truncate(cut.index(bytes.len()));
        }
        let _ = Classifier::from_safetensors(&bytes);
    }

    /// Arbitrary bytes behind a plausible length prefix never panic either.
    #[test]
    fn arbitrary_headers_never_panic(header in ".{0,200}", tail in prop::collection::vec(any::<u8>(), 0..64)) {
        let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
        bytes.extend_from_slice(header.as_bytes());
        bytes.extend_from_slice(&tail);
        let _ = Classifier::from_safetensors(&bytes);
    }
}
