//! The committed `assets/digits-mlp.safetensors` is reproducible and meets its accuracy bar.
//!
//! If `retraining_reproduces_committed_file_bit_for_bit` fails after an intended change to
//! the recipe, regenerate the file with
//! `cargo run --release -p qsafe-model --features train --example train_digits -- --output crates/qsafe-model/assets/digits-mlp.safetensors --force`
//! and update the pinned hashes in `tests/model_predict.rs`.

use qsafe_model::train::{TrainConfig, digits_split, evaluate, train_digits};
use qsafe_model::{Classifier, DIGITS_MLP_SAFETENSORS, Result};
use safetensors::SafeTensors;

#[test]
fn committed_model_scores_at_least_95_percent_on_test_split() -> Result<()> {
    let model = Classifier::from_safetensors(DIGITS_MLP_SAFETENSORS)?;
    let (_, test) = digits_split()?;
    assert_eq!(test.len(), 359);
    let accuracy = evaluate(&model, test.features(), test.labels())?;
    assert!(
        accuracy.ratio() >= 0.95,
        "test accuracy {} ({}/{})",
        accuracy.ratio(),
        accuracy.correct,
        accuracy.total
    );
    // The metadata records the same figure.
    let recorded = model.file_metadata().get("test_correct").cloned();
    assert_eq!(
        recorded,
        Some(format!("{}/{}", accuracy.correct, accuracy.total))
    );
    Ok(())
}

#[test]
fn retraining_reproduces_committed_file_bit_for_bit() -> Result<()> {
    let trained = train_digits(&TrainConfig::default(), |_| {})?;
    assert!(trained.test_accuracy.ratio() >= 0.95);
    let retrained = trained.classifier.to_safetensors()?;

    // Compare tensor by tensor first, for a readable failure.
    let parse = |b| SafeTensors::deserialize(b).map_err(|e| e.to_string());
    let (ours, committed) = (parse(&retrained), parse(DIGITS_MLP_SAFETENSORS));
    let (Ok(ours), Ok(committed)) = (ours, committed) else {
        return Err(qsafe_model::Error::Format("a file does not parse".into()));
    };
    for name in ["w1", "b1", "w2", "b2"] {
        let a = ours.tensor(name).map(|t| t.data().to_vec()).ok();
        let b = committed.tensor(name).map(|t| t.data().to_vec()).ok();
        assert!(
            a.is_some() && a == b,
            "tensor {name} differs from the committed file"
        );
    }
    assert_eq!(
        Classifier::from_safetensors(&retrained)?.file_metadata(),
        Classifier::from_safetensors(DIGITS_MLP_SAFETENSORS)?.file_metadata()
    );
    assert!(
        retrained == DIGITS_MLP_SAFETENSORS,
        "retrained file ({} bytes) differs from the committed one ({} bytes)",
        retrained.len(),
        DIGITS_MLP_SAFETENSORS.len()
    );
    Ok(())
}
