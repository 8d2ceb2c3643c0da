//! The seam between training and the transport: what a worker computes each round.

/// One worker's local training, as the aggregation transport sees it: given the global
/// parameters of a round, the update it contributes (its locally trained parameters minus
/// `global`, the same length as `global`). The aggregator averages the updates of the
/// round's survivors and adds the mean to the global parameters (unweighted FedAvg).
pub trait LocalTrainer: Send {
    /// Trains on the local shard from `global` and returns the update; `Err` names why not
    /// (the worker then leaves the round, which the aggregator treats as a dropout).
    fn local_update(&mut self, round: u64, global: &[f32]) -> Result<Vec<f32>, String>;
}
