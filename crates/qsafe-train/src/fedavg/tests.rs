//! Tests of the FedAvg reference: accuracy of the default runs, quantised against float,
//! the final model file, and hostile inputs. Each default run takes well under a second in
//! the dev profile; the IID float run is shared between two tests.

use std::sync::OnceLock;

use super::*;

fn quantised() -> Aggregation {
    Aggregation::Quantised(Quantiser::DEFAULT)
}

fn skew() -> Partitioning {
    Partitioning::LabelSkew {
        shards_per_worker: 2,
    }
}

fn run(partitioning: Partitioning, aggregation: Aggregation) -> Simulation {
    let config = SimulationConfig {
        partitioning,
        aggregation,
        ..SimulationConfig::default()
    };
    match simulate(&config) {
        Ok(sim) => sim,
        Err(e) => panic!("simulation {config:?} failed: {e}"),
    }
}

/// The default run (4 IID workers, plaintext), computed once.
fn iid_float() -> &'static Simulation {
    static RUN: OnceLock<Simulation> = OnceLock::new();
    RUN.get_or_init(|| run(Partitioning::Iid, Aggregation::Float))
}

fn final_ratio(sim: &Simulation) -> f64 {
    sim.final_accuracy().map_or(0.0, |a| a.ratio())
}

fn max_update(sim: &Simulation) -> f32 {
    sim.rounds
        .iter()
        .map(|r| r.max_abs_update)
        .fold(0.0, f32::max)
}

#[test]
fn default_four_iid_workers_reach_90_percent() {
    let sim = iid_float();
    assert_eq!(sim.rounds.len(), 20);
    assert_eq!(sim.parameters.len(), parameter_count(DEFAULT_HIDDEN));
    let acc = final_ratio(sim);
    // Measured 0.9833 (353/359) when the defaults were chosen; the committed centrally
    // trained model gets 0.97.
    assert!(
        acc >= 0.90,
        "IID FedAvg final test accuracy {acc:.4} < 0.90"
    );
    assert!(
        max_update(sim) <= Quantiser::DEFAULT.clip() / 4.0,
        "largest IID update coordinate {} is not well inside the clip bound",
        max_update(sim)
    );
}

#[test]
fn quantised_aggregation_matches_float_within_half_a_point() {
    let float = iid_float();
    let quant = run(Partitioning::Iid, quantised());
    let (f, q) = (final_ratio(float), final_ratio(&quant));
    let message = format!(
        "final test accuracy: float {f:.4} ({:?}), quantised {q:.4} ({:?})",
        float.final_accuracy(),
        quant.final_accuracy()
    );
    assert!((f - q).abs() * 100.0 <= 0.5, "{message}");
    assert!(q >= 0.90, "{message}");
    assert_eq!(quant.rounds.iter().map(|r| r.clipped).sum::<usize>(), 0);
    // The parameters themselves stay within a few quantisation steps per round.
    let drift = float
        .parameters
        .iter()
        .zip(&quant.parameters)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(
        drift < 1e-2,
        "{message}; largest parameter difference {drift}"
    );
}

#[test]
fn label_skew_reaches_documented_floor_float_and_quantised() {
    let float = run(skew(), Aggregation::Float);
    let quant = run(skew(), quantised());
    let (f, q) = (final_ratio(&float), final_ratio(&quant));
    let message = format!("label-skew final test accuracy: float {f:.4}, quantised {q:.4}");
    // Measured 0.9304 for both.
    assert!(f >= LABEL_SKEW_FLOOR && q >= LABEL_SKEW_FLOOR, "{message}");
    assert!((f - q).abs() * 100.0 <= 0.5, "{message}");
    assert!(
        max_update(&float) <= Quantiser::DEFAULT.clip() / 2.0,
        "{message}"
    );
    assert_eq!(quant.rounds.iter().map(|r| r.clipped).sum::<usize>(), 0);
    // Non-IID really is harder: the first round is far below the IID one.
    let first = |s: &Simulation| s.rounds.first().map_or(1.0, |r| r.accuracy.ratio());
    assert!(first(&float) < first(iid_float()), "{message}");
}

#[test]
fn simulation_is_deterministic() -> Result<()> {
    let config = SimulationConfig {
        rounds: 3,
        aggregation: quantised(),
        ..SimulationConfig::default()
    };
    let a = simulate(&config)?;
    assert_eq!(a, simulate(&config)?);
    let other = simulate(&SimulationConfig {
        local: LocalConfig {
            seed: 1,
            ..config.local
        },
        ..config
    })?;
    assert_ne!(a.parameters, other.parameters);
    Ok(())
}

#[test]
fn final_model_loads_with_the_gateway_loader() -> Result<()> {
    let sim = iid_float();
    let (_, test) = digits_shards(1, Partitioning::Iid, 0)?;
    let mut metadata = BTreeMap::new();
    metadata.insert(
        "training".to_owned(),
        SimulationConfig::default().describe(),
    );
    metadata.insert(
        "test_accuracy".to_owned(),
        format!("{:.4}", final_ratio(sim)),
    );
    let bytes = to_safetensors(&sim.parameters, DEFAULT_HIDDEN, &metadata)?;
    let model =
        Classifier::from_safetensors(&bytes).map_err(|e| Error::InvalidParameter(e.to_string()))?;
    assert_eq!(model.version(), FEDAVG_MODEL_VERSION);
    assert_eq!(model.hidden(), DEFAULT_HIDDEN);
    assert_eq!(
        model.file_metadata().get("name").map(String::as_str),
        Some(qsafe_model::MODEL_NAME)
    );
    assert_eq!(model.parameters(), sim.parameters);
    assert_eq!(model.metadata().name, qsafe_model::SERVED_NAME);
    let reloaded = qsafe_model::train::evaluate(&model, test.features(), test.labels())
        .map_err(|e| Error::InvalidParameter(e.to_string()))?;
    assert_eq!(Some(reloaded), sim.final_accuracy());
    // A caller-chosen version is kept; a contradicting model name is refused.
    metadata.insert("version".to_owned(), "3".to_owned());
    let v3 = to_safetensors(&sim.parameters, DEFAULT_HIDDEN, &metadata)?;
    let v3 =
        Classifier::from_safetensors(&v3).map_err(|e| Error::InvalidParameter(e.to_string()))?;
    assert_eq!(v3.version(), "3");
    metadata.insert("name".to_owned(), "not-digits".to_owned());
    assert!(to_safetensors(&sim.parameters, DEFAULT_HIDDEN, &metadata).is_err());
    Ok(())
}

fn trainer() -> Result<ShardTrainer> {
    let (mut shards, _) = digits_shards(4, Partitioning::Iid, DEFAULT_PARTITION_SEED)?;
    let shard = shards
        .pop()
        .ok_or_else(|| Error::InvalidParameter("no shard".into()))?;
    ShardTrainer::new(3, shard, LocalConfig::default())
}

#[test]
fn local_update_is_deterministic_per_worker_and_round() -> Result<()> {
    let mut t = trainer()?;
    let global = initial_parameters(DEFAULT_HIDDEN, DEFAULT_INIT_SEED)?;
    let a = t
        .local_update(1, &global)
        .map_err(Error::InvalidParameter)?;
    assert_eq!(a.len(), global.len());
    assert_eq!(Some(&a), t.local_update(1, &global).ok().as_ref());
    assert_ne!(Some(&a), t.local_update(2, &global).ok().as_ref());
    // The update is the trained model minus the global one.
    let trained: Vec<f32> = global.iter().zip(&a).map(|(g, u)| g + u).collect();
    assert!(evaluate(&trained, DEFAULT_HIDDEN, t.shard())?.ratio() > 0.5);
    let seeds: std::collections::BTreeSet<u64> = (0..4)
        .flat_map(|w| (0..50).map(move |r| local_seed(2024, w, r)))
        .collect();
    assert_eq!(seeds.len(), 200);
    Ok(())
}

#[test]
fn hostile_globals_are_errors() -> Result<()> {
    let mut t = trainer()?;
    let good = initial_parameters(DEFAULT_HIDDEN, DEFAULT_INIT_SEED)?;
    let n = good.len();
    let mut cases = 0;
    for len in [0, 1, n - 1, n + 1, 10 * n] {
        let global = vec![0.0f32; len];
        assert!(matches!(
            t.update(1, &global),
            Err(Error::Length { got, .. }) if got == len
        ));
        assert!(t.local_update(1, &global).is_err());
        cases += 1;
    }
    for (index, bad) in [
        (0, f32::NAN),
        (n / 2, f32::INFINITY),
        (n - 1, f32::NEG_INFINITY),
    ] {
        let mut global = good.clone();
        if let Some(x) = global.get_mut(index) {
            *x = bad;
        }
        assert!(matches!(
            t.update(1, &global),
            Err(Error::NonFinite { index: i }) if i == index
        ));
        let message = t.local_update(1, &global).err().unwrap_or_default();
        assert!(message.contains("not a finite number"), "{message}");
        assert!(evaluate(&global, DEFAULT_HIDDEN, t.shard()).is_err());
        assert!(to_safetensors(&global, DEFAULT_HIDDEN, &BTreeMap::new()).is_err());
        cases += 1;
    }
    // Finite but enormous weights make training diverge: an error, not a NaN update.
    let huge = vec![1e30f32; n];
    assert!(t.update(1, &huge).is_err());
    cases += 1;
    // A global for another width.
    assert!(t.update(1, &vec![0.0; parameter_count(16)]).is_err());
    assert!(evaluate(&good, 16, t.shard()).is_err());
    assert!(to_safetensors(&good, 16, &BTreeMap::new()).is_err());
    cases += 1;
    assert_eq!(cases, 10);
    Ok(())
}

#[test]
fn aggregation_rejects_bad_update_sets() {
    for agg in [Aggregation::Float, quantised()] {
        assert!(agg.mean(&[]).is_err());
        assert!(agg.mean(&[vec![0.0; 3], vec![0.0; 2]]).is_err());
        assert!(agg.mean(&[vec![0.0; 3], vec![0.0, f32::NAN, 0.0]]).is_err());
        assert!(agg.mean(&[vec![1.0, -2.0], vec![3.0, 0.5]]).is_ok());
    }
    let too_many = vec![vec![0.0f32]; 257];
    assert!(quantised().mean(&too_many).is_err());
    assert!(Aggregation::Float.mean(&too_many).is_ok());
    assert!(apply(&mut [0.0; 3], &[0.0; 2]).is_err());
}

#[test]
fn quantised_mean_is_float_mean_within_the_bound_and_clips_beyond() -> Result<()> {
    let updates: Vec<Vec<f32>> = (0..4u8)
        .map(|w| {
            (0..1000u16)
                .map(|i| (f32::from(i) * 0.37 + f32::from(w)).sin() * 1.5)
                .collect()
        })
        .collect();
    let f = Aggregation::Float.mean(&updates)?;
    let q = quantised().mean(&updates)?;
    let bound = Quantiser::DEFAULT.sum_error_bound(1) + 1e-6;
    for (a, b) in f.iter().zip(&q) {
        assert!(f64::from((a - b).abs()) <= bound, "{a} vs {b}");
    }
    // Beyond the clip bound the quantised mean is biased and the clip is counted.
    let big = vec![vec![10.0f32, 0.0], vec![10.0, 0.0]];
    assert_eq!(quantised().mean(&big)?, vec![4.0, 0.0]);
    assert_eq!(quantised().clipped(&[10.0, -4.5, 3.9]), 2);
    assert_eq!(Aggregation::Float.clipped(&[10.0]), 0);
    Ok(())
}

#[test]
fn shard_trainer_rejects_non_digits_shards() -> Result<()> {
    let other = Dataset::new("other", 4, 10, vec![0.0; 8], vec![1, 2])
        .map_err(|e| Error::InvalidParameter(e.to_string()))?;
    assert!(ShardTrainer::new(0, other, LocalConfig::default()).is_err());
    assert!(digits_shards(0, Partitioning::Iid, 1).is_err());
    assert!(digits_shards(5000, Partitioning::Iid, 1).is_err());
    Ok(())
}
