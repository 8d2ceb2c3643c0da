//! The embedded digits model behind the KServe V2 routes, served when no upstream is set.

use serde::Deserialize;
use serde_json::json;

use super::inner_json;
use crate::model::{
    CLASSES, Classifier, INPUT_FEATURES, INPUT_NAME, OUTPUT_LABEL, OUTPUT_PROBABILITIES,
    SERVED_NAME,
};
use crate::ohttp::bhttp;

#[derive(Deserialize)]
struct InferRequest {
    inputs: Vec<InferInput>,
}

#[derive(Deserialize)]
struct InferInput {
    name: String,
    shape: Vec<i64>,
    datatype: String,
    data: Vec<f32>,
}

/// The inner API: KServe V2 for the embedded digits model.
pub fn dispatch(model: &Classifier, req: &bhttp::Request) -> bhttp::Response {
    let path = req.path.split('?').next().unwrap_or("");
    let model_path = format!("/v2/models/{SERVED_NAME}");
    let infer_path = format!("{model_path}/infer");
    match (req.method.as_str(), path) {
        ("GET", "/v2/health/ready" | "/v2/health/live") => {
            inner_json(200, &json!({ "ready": true }))
        }
        ("GET", p) if p == model_path => match serde_json::to_value(model.metadata()) {
            Ok(v) => inner_json(200, &v),
            Err(_) => inner_json(500, &json!({ "error": "internal" })),
        },
        ("POST", p) if p == infer_path => infer(model, &req.content),
        (_, p) if p == model_path || p == infer_path => {
            inner_json(405, &json!({ "error": "method_not_allowed" }))
        }
        _ => inner_json(404, &json!({ "error": "not_found" })),
    }
}

fn infer(model: &Classifier, body: &[u8]) -> bhttp::Response {
    let bad =
        |detail: &str| inner_json(400, &json!({ "error": "invalid_input", "detail": detail }));
    let req: InferRequest = match serde_json::from_slice(body) {
        Ok(r) => r,
        Err(_) => return bad("body is not a KServe V2 inference request"),
    };
    let [input] = req.inputs.as_slice() else {
        return bad("exactly one input tensor is expected");
    };
    if input.name != INPUT_NAME || input.datatype != "FP32" {
        return bad("the input must be named \"input\" with datatype FP32");
    }
    let features = i64::try_from(INPUT_FEATURES).unwrap_or(i64::MAX);
    let rows = match input.shape.as_slice() {
        [n, f] if *f == features && *n >= 0 => usize::try_from(*n).unwrap_or(usize::MAX),
        _ => return bad("shape must be [N, 64]"),
    };
    if rows.checked_mul(INPUT_FEATURES) != Some(input.data.len()) {
        return bad("data length does not match the shape");
    }
    let predictions = match model.predict_flat(&input.data) {
        Ok(p) => p,
        Err(e) => return bad(&e.to_string()),
    };
    let probabilities: Vec<f32> = predictions
        .iter()
        .flat_map(|p| p.probabilities.iter().copied())
        .collect();
    let labels: Vec<i64> = predictions.iter().map(|p| i64::from(p.label)).collect();
    inner_json(
        200,
        &json!({
            "model_name": SERVED_NAME,
            "model_version": model.version(),
            "outputs": [
                {
                    "name": OUTPUT_PROBABILITIES,
                    "shape": [rows, CLASSES],
                    "datatype": "FP32",
                    "data": probabilities,
                },
                {
                    "name": OUTPUT_LABEL,
                    "shape": [rows],
                    "datatype": "INT64",
                    "data": labels,
                },
            ],
        }),
    )
}
