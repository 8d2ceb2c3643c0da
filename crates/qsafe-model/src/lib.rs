//! The digits classifier: the model the gateway serves when no upstream model server is
//! configured, and the one federated training (`qsafe-train`) trains. A 64-32-10 perceptron recognising handwritten digits from 8x8 images (the UCI digits data
//! vendored by `qsafe-data`).
//!
//! - [`Classifier::from_safetensors`] loads a weights file and checks it strictly: exactly the
//!   tensors `w1` `[H,64]`, `b1` `[H]`, `w2` `[10,H]`, `b2` `[10]`, all `F32`, all finite,
//!   `1 <= H <=` [`MAX_HIDDEN`], and `__metadata__` naming this model. Anything else is an
//!   [`Error`], never a panic.
//! - [`Classifier::predict`] / [`Classifier::predict_flat`] run a batch of raw images
//!   (intensities `0.0..=16.0`, row-major) and return a label and ten probabilities each.
//! - [`Classifier::metadata`] is the KServe Open Inference Protocol (V2) model-metadata
//!   response for `GET /v2/models/digits`: input `input` FP32 `[-1,64]`, outputs
//!   `probabilities` FP32 `[-1,10]` and `label` INT64 `[-1]`.
//! - [`Classifier::parameters`] / [`Classifier::from_parameters`] view the weights as one flat
//!   vector (`w1`, `b1`, `w2`, `b2`; [`parameter_count`] values), the form federated averaging
//!   adds and averages.
//! - [`train`] (feature `train`) is the deterministic training recipe that produced
//!   `assets/digits-mlp.safetensors`; `examples/train_digits.rs` runs it.
//!
//! Sealing and signing the weights (and loading them only once verified) is the gateway's
//! `model::sealed`, over `qsafe-artifact`.
//!
//! The committed weights: [`DIGITS_MLP_SAFETENSORS`].

mod error;
mod mlp;
#[cfg(feature = "train")]
pub mod train;
mod v2;

use std::collections::BTreeMap;

use safetensors::tensor::{Dtype, SafeTensors, TensorInfo, TensorView};
use serde::ser::{SerializeMap, Serializer};

pub use error::{Error, Result};
use mlp::Mlp;
pub use v2::{ModelMetadata, TensorMetadata};

/// The committed, trained weights file (`assets/digits-mlp.safetensors`). Load it with
/// [`Classifier::from_safetensors`]; in production the gateway loads a sealed and signed
/// copy instead.
pub const DIGITS_MLP_SAFETENSORS: &[u8] = include_bytes!("../assets/digits-mlp.safetensors");

/// The `name` the weights file's `__metadata__` must carry.
pub const MODEL_NAME: &str = "digits-mlp";
/// The name the model is served under: `/v2/models/digits`.
pub const SERVED_NAME: &str = "digits";
/// The V2 `platform` string: qsafe's own runtime reading a safetensors file.
pub const PLATFORM: &str = "qsafe_safetensors";
/// Features per input: an 8x8 image, row-major.
pub const INPUT_FEATURES: usize = 64;
/// Output classes: the digits 0 to 9.
pub const CLASSES: usize = 10;
/// Largest accepted input intensity (inputs are raw UCI block counts, `0..=16`).
pub const MAX_INTENSITY: f32 = 16.0;
/// Largest hidden layer a weights file may declare.
pub const MAX_HIDDEN: usize = 512;
/// Largest weights file accepted, checked before any parsing.
pub const MAX_MODEL_BYTES: usize = 1 << 20;
/// Largest batch [`Classifier::predict`] accepts.
pub const MAX_BATCH: usize = 1024;
/// V2 input tensor name.
pub const INPUT_NAME: &str = "input";
/// V2 output tensor holding the `[N,10]` probabilities.
pub const OUTPUT_PROBABILITIES: &str = "probabilities";
/// V2 output tensor holding the `[N]` predicted labels.
pub const OUTPUT_LABEL: &str = "label";

/// `__metadata__` keys every weights file must have, with the value checked on load.
const KEY_NAME: &str = "name";
const KEY_VERSION: &str = "version";
const KEY_INPUT_SHAPE: &str = "input_shape";
const KEY_CLASS_LABELS: &str = "class_labels";
const INPUT_SHAPE: &str = "[-1,64]";
const CLASS_LABELS: &str = "0,1,2,3,4,5,6,7,8,9";
const MAX_METADATA_ENTRIES: usize = 32;
const MAX_METADATA_KEY: usize = 64;
const MAX_METADATA_VALUE: usize = 1024;
const MAX_VERSION: usize = 32;
const TENSOR_NAMES: [&str; 4] = ["w1", "b1", "w2", "b2"];

/// One input's result.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prediction {
    /// The most probable digit (the first one on a tie).
    pub label: u8,
    /// Probability of each digit `0..=9`; they sum to 1 up to rounding.
    pub probabilities: [f32; CLASSES],
}

/// A loaded, validated digits classifier. Cheap to share behind an `Arc`; `predict` takes
/// `&self`.
#[derive(Clone, PartialEq)]
pub struct Classifier {
    mlp: Mlp,
    version: String,
    metadata: BTreeMap<String, String>,
}

impl core::fmt::Debug for Classifier {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Classifier")
            .field("name", &MODEL_NAME)
            .field("version", &self.version)
            .field("architecture", &self.mlp)
            .finish_non_exhaustive()
    }
}

impl Classifier {
    /// Parses and validates a safetensors weights file (see the [module docs](self) for the
    /// exact layout).
    ///
    /// # Errors
    /// [`Error::Format`] if the file is too large or not valid safetensors,
    /// [`Error::Tensor`] for a missing, extra, mistyped, misshapen or non-finite tensor,
    /// [`Error::Metadata`] if `__metadata__` is missing or does not name this model.
    pub fn from_safetensors(bytes: &[u8]) -> Result<Self> {
        if bytes.len() > MAX_MODEL_BYTES {
            return Err(Error::Format(format!(
                "{} bytes, more than the {MAX_MODEL_BYTES}-byte limit",
                bytes.len()
            )));
        }
        let file = SafeTensors::deserialize(bytes).map_err(|e| Error::Format(e.to_string()))?;
        let (_, header) =
            SafeTensors::read_metadata(bytes).map_err(|e| Error::Format(e.to_string()))?;

        let mut names = file.names();
        names.sort_unstable();
        if let Some(extra) = names.iter().find(|n| !TENSOR_NAMES.contains(n)) {
            return Err(tensor_error(
                extra,
                format!("unexpected tensor; expected exactly {TENSOR_NAMES:?}"),
            ));
        }
        let w1 = read_f32(&file, "w1")?;
        let hidden = match *w1.shape.as_slice() {
            [h, INPUT_FEATURES] if (1..=MAX_HIDDEN).contains(&h) => h,
            _ => {
                return Err(tensor_error(
                    "w1",
                    format!(
                        "shape {:?}, expected [H, {INPUT_FEATURES}] with 1 <= H <= {MAX_HIDDEN}",
                        w1.shape
                    ),
                ));
            }
        };
        let b1 = read_f32(&file, "b1")?.expect_shape("b1", &[hidden])?;
        let w2 = read_f32(&file, "w2")?.expect_shape("w2", &[CLASSES, hidden])?;
        let b2 = read_f32(&file, "b2")?.expect_shape("b2", &[CLASSES])?;

        let metadata: BTreeMap<String, String> = header
            .metadata()
            .as_ref()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        let version = check_metadata(&metadata)?;

        Ok(Self {
            mlp: Mlp {
                hidden,
                w1: w1.values,
                b1,
                w2,
                b2,
            },
            version,
            metadata,
        })
    }

    /// Builds a classifier from a flat parameter vector in the order of
    /// [`parameters`](Self::parameters) (`w1`, `b1`, `w2`, `b2`, each row-major) and a complete
    /// `__metadata__` map (start from [`required_metadata`]). The checks are those of
    /// [`from_safetensors`](Self::from_safetensors): the inverse of `parameters` for any
    /// classifier, `from_parameters(c.hidden(), &c.parameters(), c.file_metadata().clone())`
    /// gives back `c`.
    ///
    /// # Errors
    /// [`Error::Tensor`] if `hidden` is outside `1..=`[`MAX_HIDDEN`], the length is not
    /// [`parameter_count`]`(hidden)`, or a value is not finite (named by tensor and element);
    /// [`Error::Metadata`] as for a weights file.
    pub fn from_parameters(
        hidden: usize,
        parameters: &[f32],
        metadata: BTreeMap<String, String>,
    ) -> Result<Self> {
        if !(1..=MAX_HIDDEN).contains(&hidden) {
            return Err(tensor_error(
                "w1",
                format!("hidden width {hidden}, expected 1..={MAX_HIDDEN}"),
            ));
        }
        let expected = parameter_count(hidden);
        if parameters.len() != expected {
            return Err(tensor_error(
                "parameters",
                format!(
                    "{} values, expected {expected} for a {INPUT_FEATURES}-{hidden}-{CLASSES} network",
                    parameters.len()
                ),
            ));
        }
        let sizes = [hidden * INPUT_FEATURES, hidden, CLASSES * hidden, CLASSES];
        let mut tensors: Vec<Vec<f32>> = Vec::with_capacity(TENSOR_NAMES.len());
        let mut rest = parameters;
        for (name, size) in TENSOR_NAMES.iter().zip(sizes) {
            let (values, tail) = rest
                .split_at_checked(size)
                .ok_or_else(|| tensor_error(name, "parameter vector too short".to_owned()))?;
            if let Some(i) = values.iter().position(|v| !v.is_finite()) {
                return Err(tensor_error(
                    name,
                    format!("element {i} is not a finite number"),
                ));
            }
            tensors.push(values.to_vec());
            rest = tail;
        }
        let version = check_metadata(&metadata)?;
        let [w1, b1, w2, b2]: [Vec<f32>; 4] = tensors
            .try_into()
            .map_err(|_| tensor_error("parameters", "wrong number of tensors".to_owned()))?;
        Ok(Self {
            mlp: Mlp {
                hidden,
                w1,
                b1,
                w2,
                b2,
            },
            version,
            metadata,
        })
    }

    /// The weights as one flat vector: `w1` (`[H,64]`), `b1` (`[H]`), `w2` (`[10,H]`), `b2`
    /// (`[10]`), each row-major as in the weights file, concatenated in that order;
    /// [`parameter_count`]`(H)` values. `w1` acts on raw `0..=16` intensities (the training
    /// input scale is folded in). Federated averaging adds and averages these vectors.
    pub fn parameters(&self) -> Vec<f32> {
        let mut out = Vec::with_capacity(parameter_count(self.mlp.hidden));
        for tensor in [&self.mlp.w1, &self.mlp.b1, &self.mlp.w2, &self.mlp.b2] {
            out.extend_from_slice(tensor);
        }
        out
    }

    /// Serialises the classifier as a safetensors file that [`from_safetensors`] accepts.
    ///
    /// The output is canonical: tensors laid out as the `safetensors` crate lays them out
    /// (by dtype, then name) and `__metadata__` keys in sorted order, so the same weights and
    /// metadata always give the same bytes (the crate itself emits metadata in hash order).
    ///
    /// [`from_safetensors`]: Self::from_safetensors
    ///
    /// # Errors
    /// [`Error::Format`] if the `safetensors` crate rejects the layout (it cannot for a
    /// validated classifier).
    pub fn to_safetensors(&self) -> Result<Vec<u8>> {
        let format = |e: safetensors::SafeTensorError| Error::Format(e.to_string());
        let bytes: Vec<Vec<u8>> = [&self.mlp.w1, &self.mlp.b1, &self.mlp.w2, &self.mlp.b2]
            .iter()
            .map(|t| t.iter().flat_map(|v| v.to_le_bytes()).collect())
            .collect();
        let shapes = [
            vec![self.mlp.hidden, INPUT_FEATURES],
            vec![self.mlp.hidden],
            vec![CLASSES, self.mlp.hidden],
            vec![CLASSES],
        ];
        let views = TENSOR_NAMES
            .iter()
            .zip(shapes)
            .zip(&bytes)
            .map(|((&name, shape), data)| {
                TensorView::new(Dtype::F32, shape, data).map(|view| (name, view))
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(format)?;
        let metadata = self.metadata.clone().into_iter().collect();
        let file = safetensors::serialize(views, Some(metadata)).map_err(format)?;
        canonicalize(&file, &self.metadata)
    }

    /// Classifies a batch of 8x8 images, each 64 raw intensities in `0.0..=16.0`, row-major.
    ///
    /// # Errors
    /// [`Error::Input`] if the batch is larger than [`MAX_BATCH`] or a value is not a finite
    /// number in `0.0..=16.0`.
    pub fn predict(&self, inputs: &[[f32; INPUT_FEATURES]]) -> Result<Vec<Prediction>> {
        self.predict_flat(inputs.as_flattened())
    }

    /// Like [`predict`](Self::predict) for a flat row-major `[N, 64]` buffer, the layout of a
    /// V2 `input` tensor's `data`.
    ///
    /// # Errors
    /// [`Error::Input`] if the length is not a multiple of 64, the batch is larger than
    /// [`MAX_BATCH`], or a value is not a finite number in `0.0..=16.0`.
    pub fn predict_flat(&self, data: &[f32]) -> Result<Vec<Prediction>> {
        if !data.len().is_multiple_of(INPUT_FEATURES) {
            return Err(Error::Input(format!(
                "{} values is not a whole number of {INPUT_FEATURES}-value images (shape [N, {INPUT_FEATURES}])",
                data.len()
            )));
        }
        let batch = data.len() / INPUT_FEATURES;
        if batch > MAX_BATCH {
            return Err(Error::Input(format!(
                "batch of {batch} images is larger than the limit of {MAX_BATCH}"
            )));
        }
        if let Some((i, v)) = data
            .iter()
            .enumerate()
            .find(|&(_, v)| !(0.0..=MAX_INTENSITY).contains(v))
        {
            return Err(Error::Input(format!(
                "input[{}][{}] = {v} is outside 0..={MAX_INTENSITY}",
                i / INPUT_FEATURES,
                i % INPUT_FEATURES
            )));
        }
        let mut h = vec![0.0; self.mlp.hidden];
        Ok(data
            .chunks_exact(INPUT_FEATURES)
            .map(|x| self.predict_one(x, &mut h))
            .collect())
    }

    /// One validated image.
    fn predict_one(&self, x: &[f32], h: &mut [f32]) -> Prediction {
        let probabilities = self.mlp.forward(x, h);
        // argmax is below CLASSES = 10, so it fits in a u8.
        let label = u8::try_from(mlp::argmax(&probabilities)).unwrap_or(u8::MAX);
        Prediction {
            label,
            probabilities,
        }
    }

    /// The V2 model-metadata response for this model, to serve as the JSON body of
    /// `GET /v2/models/digits` (and `/v2/models/digits/versions/<version>`).
    pub fn metadata(&self) -> ModelMetadata {
        ModelMetadata::for_digits(&self.version)
    }

    /// The model version from the file's `__metadata__` (e.g. `1`).
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Hidden-layer width `H`.
    pub fn hidden(&self) -> usize {
        self.mlp.hidden
    }

    /// All `__metadata__` entries of the file: the required ones and informational ones
    /// written by the trainer (`test_accuracy`, `training_seed`, `dataset`, ...).
    pub fn file_metadata(&self) -> &BTreeMap<String, String> {
        &self.metadata
    }
}

/// Length of [`Classifier::parameters`] for hidden width `hidden`: `75 · hidden + 10`
/// (2410 for the committed `H = 32`).
pub const fn parameter_count(hidden: usize) -> usize {
    // (64 + 1 + 10) · H + 10, saturating for absurd widths (which no check accepts).
    hidden
        .saturating_mul(INPUT_FEATURES + 1 + CLASSES)
        .saturating_add(CLASSES)
}

/// The `__metadata__` entries every weights file must carry, for model `version` (`1-32`
/// characters of `[A-Za-z0-9._-]`, checked when the classifier is built): `name`
/// ([`MODEL_NAME`]), `version`, `input_shape` and `class_labels`. Add informational entries
/// and pass it to [`Classifier::from_parameters`].
pub fn required_metadata(version: &str) -> BTreeMap<String, String> {
    [
        (KEY_NAME, MODEL_NAME),
        (KEY_VERSION, version),
        (KEY_INPUT_SHAPE, INPUT_SHAPE),
        (KEY_CLASS_LABELS, CLASS_LABELS),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

fn tensor_error(name: &str, reason: String) -> Error {
    Error::Tensor {
        name: name.to_owned(),
        reason,
    }
}

fn metadata_error(key: &str, reason: String) -> Error {
    Error::Metadata {
        key: key.to_owned(),
        reason,
    }
}

/// A decoded F32 tensor.
struct F32Tensor {
    shape: Vec<usize>,
    values: Vec<f32>,
}

impl F32Tensor {
    fn expect_shape(self, name: &str, expected: &[usize]) -> Result<Vec<f32>> {
        if self.shape != expected {
            return Err(tensor_error(
                name,
                format!("shape {:?}, expected {expected:?}", self.shape),
            ));
        }
        Ok(self.values)
    }
}

fn read_f32(file: &SafeTensors<'_>, name: &str) -> Result<F32Tensor> {
    let view = file
        .tensor(name)
        .map_err(|_| tensor_error(name, format!("missing; expected {TENSOR_NAMES:?}")))?;
    if view.dtype() != Dtype::F32 {
        return Err(tensor_error(
            name,
            format!("dtype {:?}, expected F32", view.dtype()),
        ));
    }
    let values: Vec<f32> = view
        .data()
        .chunks_exact(4)
        // A chunk of 4 always converts; NaN would be rejected below anyway.
        .map(|b| <[u8; 4]>::try_from(b).map_or(f32::NAN, f32::from_le_bytes))
        .collect();
    // safetensors has checked that the data length matches dtype and shape.
    if let Some(i) = values.iter().position(|v| !v.is_finite()) {
        return Err(tensor_error(
            name,
            format!("element {i} is not a finite number"),
        ));
    }
    Ok(F32Tensor {
        shape: view.shape().to_vec(),
        values,
    })
}

/// Checks the required `__metadata__` entries and the size limits; returns the version.
fn check_metadata(metadata: &BTreeMap<String, String>) -> Result<String> {
    if metadata.len() > MAX_METADATA_ENTRIES {
        return Err(metadata_error(
            "__metadata__",
            format!("{} entries, limit {MAX_METADATA_ENTRIES}", metadata.len()),
        ));
    }
    for (key, value) in metadata {
        if key.len() > MAX_METADATA_KEY || value.len() > MAX_METADATA_VALUE {
            return Err(metadata_error(
                key.get(..MAX_METADATA_KEY).unwrap_or(key),
                format!(
                    "key or value too long (limits {MAX_METADATA_KEY} and {MAX_METADATA_VALUE} bytes)"
                ),
            ));
        }
    }
    let get = |key: &str| {
        metadata
            .get(key)
            .map(String::as_str)
            .ok_or_else(|| metadata_error(key, "missing".to_owned()))
    };
    for (key, expected) in [
        (KEY_NAME, MODEL_NAME),
        (KEY_INPUT_SHAPE, INPUT_SHAPE),
        (KEY_CLASS_LABELS, CLASS_LABELS),
    ] {
        let value = get(key)?;
        if value != expected {
            return Err(metadata_error(
                key,
                format!("{value:?}, expected {expected:?}"),
            ));
        }
    }
    let version = get(KEY_VERSION)?;
    let valid = !version.is_empty()
        && version.len() <= MAX_VERSION
        && version
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    if !valid {
        return Err(metadata_error(
            KEY_VERSION,
            format!(
                "{version:?} is not 1-{MAX_VERSION} characters of [A-Za-z0-9._-] (it appears in V2 URLs)"
            ),
        ));
    }
    Ok(version.to_owned())
}

/// Rewrites a safetensors file produced by `safetensors::serialize` with its `__metadata__`
/// keys sorted: same tensors, same order, same offsets, same data.
fn canonicalize(file: &[u8], metadata: &BTreeMap<String, String>) -> Result<Vec<u8>> {
    struct Header<'a> {
        metadata: &'a BTreeMap<String, String>,
        tensors: Vec<(String, &'a TensorInfo)>,
    }
    impl serde::Serialize for Header<'_> {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            let mut map = serializer.serialize_map(Some(self.tensors.len() + 1))?;
            map.serialize_entry("__metadata__", self.metadata)?;
            for (name, info) in &self.tensors {
                map.serialize_entry(name, info)?;
            }
            map.end()
        }
    }

    let format = |e: String| Error::Format(e);
    let (n, parsed) = SafeTensors::read_metadata(file).map_err(|e| format(e.to_string()))?;
    let infos = parsed.tensors();
    let tensors = parsed
        .offset_keys()
        .into_iter()
        .map(|name| {
            let info = infos
                .get(&name)
                .copied()
                .ok_or_else(|| format(format!("tensor {name} vanished")))?;
            Ok((name, info))
        })
        .collect::<Result<Vec<_>>>()?;
    let mut header =
        serde_json::to_vec(&Header { metadata, tensors }).map_err(|e| format(e.to_string()))?;
    header.resize(header.len().next_multiple_of(8), b' ');
    let data = file
        .get(8 + n..)
        .ok_or_else(|| format("truncated".to_owned()))?;
    let header_len = u64::try_from(header.len()).map_err(|e| format(e.to_string()))?;
    let mut out = Vec::with_capacity(8 + header.len() + data.len());
    out.extend_from_slice(&header_len.to_le_bytes());
    out.extend_from_slice(&header);
    out.extend_from_slice(data);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> Classifier {
        let hidden = 2;
        let mut metadata = BTreeMap::new();
        for (k, v) in [
            (KEY_NAME, MODEL_NAME),
            (KEY_VERSION, "test"),
            (KEY_INPUT_SHAPE, INPUT_SHAPE),
            (KEY_CLASS_LABELS, CLASS_LABELS),
            ("zzz", "last"),
            ("aaa", "first"),
        ] {
            metadata.insert(k.to_owned(), v.to_owned());
        }
        Classifier {
            mlp: Mlp {
                hidden,
                w1: (0..hidden * INPUT_FEATURES)
                    .map(|i| i as f32 / 128.0)
                    .collect(),
                b1: vec![0.5; hidden],
                w2: (0..CLASSES * hidden).map(|i| i as f32 / 16.0).collect(),
                b2: vec![-1.0; CLASSES],
            },
            version: "test".to_owned(),
            metadata,
        }
    }

    #[test]
    fn to_safetensors_round_trips_and_is_canonical() -> Result<()> {
        let model = tiny();
        let bytes = model.to_safetensors()?;
        assert_eq!(Classifier::from_safetensors(&bytes)?, model);
        // Hash-map order inside the safetensors crate must not leak into the bytes.
        for _ in 0..8 {
            assert_eq!(model.clone().to_safetensors()?, bytes);
        }
        let header_len = usize::try_from(u64::from_le_bytes(
            bytes
                .get(..8)
                .and_then(|b| b.try_into().ok())
                .unwrap_or_default(),
        ))
        .unwrap_or(0);
        assert_eq!(header_len % 8, 0);
        let header = std::str::from_utf8(bytes.get(8..8 + header_len).unwrap_or_default())
            .map_err(|e| Error::Format(e.to_string()))?;
        assert!(header.starts_with(r#"{"__metadata__":{"aaa":"first","class_labels""#));
        Ok(())
    }
}
