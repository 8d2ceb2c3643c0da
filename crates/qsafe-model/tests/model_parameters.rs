//! The flat parameter-vector view (`Classifier::parameters` / `from_parameters`), the recipe's
//! initial model, and `train::train_from`, the building blocks of federated training.

use std::collections::BTreeMap;

use qsafe_model::train::{TrainConfig, digits_split, evaluate, train_from};
use qsafe_model::{
    Classifier, DIGITS_MLP_SAFETENSORS, Error, MAX_HIDDEN, Result, parameter_count,
    required_metadata,
};

fn committed() -> Result<Classifier> {
    Classifier::from_safetensors(DIGITS_MLP_SAFETENSORS)
}

#[test]
fn parameters_round_trip_the_committed_model_to_the_same_bytes() -> Result<()> {
    let model = committed()?;
    let params = model.parameters();
    assert_eq!(model.hidden(), 32);
    assert_eq!(params.len(), parameter_count(32));
    assert_eq!(parameter_count(32), 2410);
    let back = Classifier::from_parameters(model.hidden(), &params, model.file_metadata().clone())?;
    assert_eq!(back, model);
    assert!(back.to_safetensors()? == DIGITS_MLP_SAFETENSORS);
    Ok(())
}

#[test]
fn parameters_are_w1_b1_w2_b2_in_file_order() -> Result<()> {
    let model = committed()?;
    let params = model.parameters();
    let file = safetensors::SafeTensors::deserialize(DIGITS_MLP_SAFETENSORS)
        .map_err(|e| Error::Format(e.to_string()))?;
    let mut expected = Vec::new();
    for name in ["w1", "b1", "w2", "b2"] {
        let t = file
            .tensor(name)
            .map_err(|e| Error::Format(e.to_string()))?;
        expected.extend(
            t.data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        );
    }
    assert_eq!(params.len(), expected.len());
    assert!(
        params
            .iter()
            .zip(&expected)
            .all(|(a, b)| a.to_bits() == b.to_bits())
    );
    Ok(())
}

#[test]
fn from_parameters_rejects_wrong_lengths_and_widths() -> Result<()> {
    let model = committed()?;
    let params = model.parameters();
    let meta = || model.file_metadata().clone();
    let mut cases = 0;
    for len in [0, 1, params.len() - 1, params.len() + 1, 2 * params.len()] {
        let v = vec![0.0f32; len];
        assert!(
            matches!(
                Classifier::from_parameters(32, &v, meta()),
                Err(Error::Tensor { .. })
            ),
            "length {len} accepted"
        );
        cases += 1;
    }
    // The right length for another width is still the wrong width.
    assert!(Classifier::from_parameters(31, &params, meta()).is_err());
    cases += 1;
    for hidden in [0, MAX_HIDDEN + 1, usize::MAX] {
        let v = vec![0.0f32; parameter_count(hidden).min(100_000)];
        assert!(
            matches!(
                Classifier::from_parameters(hidden, &v, meta()),
                Err(Error::Tensor { .. })
            ),
            "hidden {hidden} accepted"
        );
        cases += 1;
    }
    assert_eq!(cases, 9);
    Ok(())
}

#[test]
fn from_parameters_rejects_non_finite_values_naming_the_tensor() -> Result<()> {
    let model = committed()?;
    let params = model.parameters();
    // First index of w1, b1, w2, b2 and the last element, for H = 32.
    let cases = [
        (0, "w1"),
        (2048, "b1"),
        (2080, "w2"),
        (2400, "b2"),
        (2409, "b2"),
    ];
    let mut checked = 0;
    for (index, tensor) in cases {
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            let mut v = params.clone();
            if let Some(x) = v.get_mut(index) {
                *x = bad;
            }
            match Classifier::from_parameters(32, &v, model.file_metadata().clone()) {
                Err(Error::Tensor { name, .. }) => assert_eq!(name, tensor, "index {index}"),
                other => panic!("index {index} value {bad}: {other:?}"),
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 15);
    Ok(())
}

#[test]
fn from_parameters_checks_metadata_like_a_weights_file() -> Result<()> {
    let params = committed()?.parameters();
    assert!(Classifier::from_parameters(32, &params, required_metadata("7")).is_ok());
    let mut wrong_name = required_metadata("7");
    wrong_name.insert("name".into(), "other-model".into());
    let bad_version = required_metadata("has space");
    let mut missing = required_metadata("7");
    missing.remove("class_labels");
    for metadata in [wrong_name, bad_version, missing, BTreeMap::new()] {
        assert!(matches!(
            Classifier::from_parameters(32, &params, metadata),
            Err(Error::Metadata { .. })
        ));
    }
    Ok(())
}

#[test]
fn initial_model_is_seeded_and_checked() -> Result<()> {
    let a = Classifier::initial(32, 2024)?;
    assert_eq!(a, Classifier::initial(32, 2024)?);
    assert_ne!(a.parameters(), Classifier::initial(32, 2025)?.parameters());
    assert_eq!(a.hidden(), 32);
    // Biases start at zero; weights within the He / Glorot bounds (w1 scaled by 1/16).
    let p = a.parameters();
    let (w1, rest) = p.split_at(32 * 64);
    let (b1, rest) = rest.split_at(32);
    let (w2, b2) = rest.split_at(320);
    assert!(b1.iter().chain(b2).all(|&b| b == 0.0));
    assert!(w1.iter().all(|w| w.abs() <= (6.0f32 / 64.0).sqrt() / 16.0));
    assert!(w2.iter().all(|w| w.abs() <= (6.0f32 / 42.0).sqrt()));
    // It serialises to a file the loader accepts.
    assert_eq!(Classifier::from_safetensors(&a.to_safetensors()?)?, a);
    assert!(Classifier::initial(0, 1).is_err());
    assert!(Classifier::initial(MAX_HIDDEN + 1, 1).is_err());
    Ok(())
}

#[test]
fn train_from_is_deterministic_and_learns() -> Result<()> {
    let (train, test) = digits_split()?;
    // A small slice keeps this quick in the dev profile.
    let n = 500;
    let (x, y) = (&train.features()[..n * 64], &train.labels()[..n]);
    let start = Classifier::initial(16, 5)?;
    let cfg = TrainConfig {
        hidden: 16,
        epochs: 10,
        ..TrainConfig::default()
    };
    let a = train_from(&start, x, y, &cfg, |_| {})?;
    let b = train_from(&start, x, y, &cfg, |_| {})?;
    assert_eq!(a, b);
    assert_eq!(a.file_metadata(), start.file_metadata());
    let c = train_from(
        &start,
        x,
        y,
        &TrainConfig {
            seed: 9,
            ..cfg.clone()
        },
        |_| {},
    )?;
    assert_ne!(a.parameters(), c.parameters());
    let before = evaluate(&start, test.features(), test.labels())?.ratio();
    let after = evaluate(&a, test.features(), test.labels())?.ratio();
    assert!(after > 0.8 && after > before, "{before} -> {after}");
    // Continuing is training more: epochs are counted, momentum restarts each call.
    let mut epochs = 0;
    train_from(&a, x, y, &cfg, |s| epochs = s.epoch)?;
    assert_eq!(epochs, 10);
    Ok(())
}

#[test]
fn train_from_rejects_mismatched_width_and_bad_data() -> Result<()> {
    let start = Classifier::initial(8, 1)?;
    let cfg = TrainConfig {
        hidden: 8,
        epochs: 1,
        ..TrainConfig::default()
    };
    let x = [1.0f32; 64];
    assert!(train_from(&start, &x, &[3], &cfg, |_| {}).is_ok());
    let wide = TrainConfig {
        hidden: 9,
        ..cfg.clone()
    };
    let zero_lr = TrainConfig {
        learning_rate: 0.0,
        ..cfg.clone()
    };
    let mut cases = 0;
    for (c, x, y) in [
        (&wide, &x[..], &[3u8][..]),
        (&zero_lr, &x[..], &[3][..]),
        (&cfg, &x[..63], &[3][..]),
        (&cfg, &x[..], &[10][..]),
        (&cfg, &[], &[]),
        (&cfg, &[17.0; 64][..], &[3][..]),
        (&cfg, &[f32::NAN; 64][..], &[3][..]),
    ] {
        assert!(matches!(
            train_from(&start, x, y, c, |_| {}),
            Err(Error::Training(_))
        ));
        cases += 1;
    }
    assert_eq!(cases, 7);
    // A learning rate that blows up is an error, not a NaN model.
    let huge = TrainConfig {
        learning_rate: 1e30,
        epochs: 5,
        ..cfg
    };
    assert!(matches!(
        train_from(&start, &[16.0; 64], &[3], &huge, |_| {}),
        Err(Error::Training(_))
    ));
    Ok(())
}
