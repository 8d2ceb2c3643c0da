//! Inference with the committed model: output shape and values, input validation, the V2
//! metadata document, and a pinned hash of every prediction on the digits data.

use qsafe_model::{
    CLASSES, Classifier, DIGITS_MLP_SAFETENSORS, Error, INPUT_FEATURES, MAX_BATCH, Prediction,
    Result,
};
use serde_json::json;
use sha2::{Digest, Sha256};

fn model() -> Result<Classifier> {
    Classifier::from_safetensors(DIGITS_MLP_SAFETENSORS)
}

fn digits() -> Result<qsafe_data::Dataset> {
    qsafe_data::digits().map_err(|e| Error::Input(e.to_string()))
}

fn predict_all(model: &Classifier, data: &qsafe_data::Dataset) -> Result<Vec<Prediction>> {
    let mut out = Vec::new();
    for chunk in data.features().chunks(MAX_BATCH * INPUT_FEATURES) {
        out.extend(model.predict_flat(chunk)?);
    }
    Ok(out)
}

#[test]
fn metadata_is_the_v2_model_metadata_response() -> Result<()> {
    let metadata =
        serde_json::to_value(model()?.metadata()).map_err(|e| Error::Input(e.to_string()))?;
    assert_eq!(
        metadata,
        json!({
            "name": "digits",
            "versions": ["1"],
            "platform": "qsafe_safetensors",
            "inputs": [
                { "name": "input", "datatype": "FP32", "shape": [-1, 64] }
            ],
            "outputs": [
                { "name": "probabilities", "datatype": "FP32", "shape": [-1, 10] },
                { "name": "label", "datatype": "INT64", "shape": [-1] }
            ]
        })
    );
    Ok(())
}

#[test]
fn predictions_are_distributions_with_argmax_labels() -> Result<()> {
    let model = model()?;
    let data = digits()?;
    let predictions = predict_all(&model, &data)?;
    assert_eq!(predictions.len(), 1797);
    for p in &predictions {
        let sum: f32 = p.probabilities.iter().sum();
        assert!((sum - 1.0).abs() < 1e-5, "sum {sum}");
        assert!(p.probabilities.iter().all(|&q| (0.0..=1.0).contains(&q)));
        let max = p.probabilities.iter().copied().fold(f32::MIN, f32::max);
        assert_eq!(p.probabilities[usize::from(p.label)], max);
        assert!(usize::from(p.label) < CLASSES);
    }
    // On all 1797 samples (80% of which it was trained on) the model is right almost always.
    let correct = predictions
        .iter()
        .zip(data.labels())
        .filter(|(p, y)| p.label == **y)
        .count();
    assert!(correct >= 1780, "{correct}/1797");
    Ok(())
}

#[test]
fn predict_and_predict_flat_agree() -> Result<()> {
    let model = model()?;
    let data = digits()?;
    let images: Vec<[f32; INPUT_FEATURES]> = data
        .iter()
        .take(50)
        .filter_map(|s| s.features.try_into().ok())
        .collect();
    assert_eq!(images.len(), 50);
    let flat = data
        .features()
        .get(..50 * INPUT_FEATURES)
        .unwrap_or_default();
    assert_eq!(model.predict(&images)?, model.predict_flat(flat)?);
    // Batching does not change a result.
    let one_by_one: Vec<Prediction> = images
        .iter()
        .map(|x| model.predict(std::slice::from_ref(x)))
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .flatten()
        .collect();
    assert_eq!(one_by_one, model.predict(&images)?);
    assert_eq!(model.predict(&[])?, Vec::new());
    Ok(())
}

#[test]
fn predictions_match_pinned_hash() -> Result<()> {
    // SHA-256 over (label byte, 10 little-endian f32 probabilities) for all 1797 samples in
    // file order. libm's expf and a fixed summation order make this identical on every
    // platform; it changes only if the committed weights or the arithmetic change.
    let predictions = predict_all(&model()?, &digits()?)?;
    let mut h = Sha256::new();
    for p in &predictions {
        h.update([p.label]);
        for q in p.probabilities {
            h.update(q.to_le_bytes());
        }
    }
    assert_eq!(
        hex::encode(h.finalize()),
        "c4614500ba79d2e1aca985739272482826d5ef411ca269304b420e66331304cd"
    );
    Ok(())
}

#[test]
fn rejects_invalid_inputs() -> Result<()> {
    let model = model()?;
    let mut bad = [0.0f32; INPUT_FEATURES];
    let cases: Vec<(&str, Vec<f32>)> = vec![
        ("63 values", vec![0.0; 63]),
        ("65 values", vec![0.0; 65]),
        ("NaN", {
            bad[5] = f32::NAN;
            bad.to_vec()
        }),
        ("infinity", {
            bad[5] = f32::INFINITY;
            bad.to_vec()
        }),
        ("17", {
            bad[5] = 17.0;
            bad.to_vec()
        }),
        ("negative", {
            bad[5] = -0.5;
            bad.to_vec()
        }),
        (
            "batch too large",
            vec![0.0; (MAX_BATCH + 1) * INPUT_FEATURES],
        ),
    ];
    for (case, data) in &cases {
        let result = model.predict_flat(data);
        assert!(matches!(result, Err(Error::Input(_))), "{case}: {result:?}");
    }
    assert_eq!(cases.len(), 7);
    // The boundary values are accepted, and so is a full batch.
    assert_eq!(model.predict_flat(&[16.0; INPUT_FEATURES])?.len(), 1);
    assert_eq!(
        model
            .predict_flat(&vec![0.0; MAX_BATCH * INPUT_FEATURES])?
            .len(),
        MAX_BATCH
    );
    Ok(())
}
