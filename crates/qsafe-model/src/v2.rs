//! KServe Open Inference Protocol (V2), HTTP/REST model-metadata response objects.
//!
//! Field names follow `$metadata_model_response` and `$metadata_tensor` in the protocol's
//! REST specification (kserve/open-inference-protocol, `specification/protocol/
//! inference_rest.md`): `name`, `versions` (optional), `platform`, `inputs`, `outputs`; each
//! tensor has `name`, `datatype` (`FP32`, `INT64`, ...) and `shape`, with `-1` for a
//! variable-size dimension.

use serde::{Deserialize, Serialize};

use super::{
    CLASSES, INPUT_FEATURES, INPUT_NAME, OUTPUT_LABEL, OUTPUT_PROBABILITIES, PLATFORM, SERVED_NAME,
};

/// `$metadata_model_response`: the body of `GET /v2/models/<name>[/versions/<version>]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelMetadata {
    /// The model's name as used in the URL.
    pub name: String,
    /// Versions that may be requested explicitly.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub versions: Vec<String>,
    /// Framework/backend serving the model.
    pub platform: String,
    /// Input tensors the model requires.
    pub inputs: Vec<TensorMetadata>,
    /// Output tensors the model produces.
    pub outputs: Vec<TensorMetadata>,
}

/// `$metadata_tensor`: one input or output tensor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TensorMetadata {
    /// Tensor name.
    pub name: String,
    /// Element type, one of the protocol's tensor data types (`FP32`, `INT64`, ...).
    pub datatype: String,
    /// Shape; `-1` marks a variable-size (batch) dimension.
    pub shape: Vec<i64>,
}

/// `-1`: a variable dimension in V2 shapes.
const VARIABLE: i64 = -1;

impl TensorMetadata {
    fn new(name: &str, datatype: &str, shape: &[i64]) -> Self {
        Self {
            name: name.to_owned(),
            datatype: datatype.to_owned(),
            shape: shape.to_vec(),
        }
    }
}

impl ModelMetadata {
    /// The digits classifier's metadata at `version`.
    pub(crate) fn for_digits(version: &str) -> Self {
        // Both constants are small literals; the conversions cannot fail.
        let features = i64::try_from(INPUT_FEATURES).unwrap_or(VARIABLE);
        let classes = i64::try_from(CLASSES).unwrap_or(VARIABLE);
        Self {
            name: SERVED_NAME.to_owned(),
            versions: vec![version.to_owned()],
            platform: PLATFORM.to_owned(),
            inputs: vec![TensorMetadata::new(
                INPUT_NAME,
                "FP32",
                &[VARIABLE, features],
            )],
            outputs: vec![
                TensorMetadata::new(OUTPUT_PROBABILITIES, "FP32", &[VARIABLE, classes]),
                TensorMetadata::new(OUTPUT_LABEL, "INT64", &[VARIABLE]),
            ],
        }
    }
}
