//! Data-quality metrics of generated transitions (method.md §10, paper §5.1 and App. D):
//! oracle reward (optimality), dynamic MSE (eq. 17), novelty (eq. 18) and reward MSE.
//!
//! - [`oracle`]: replays each generated (s, a) in the true dynamics.
//! - [`novelty`]: exact nearest-neighbour distances to the original data.
//! - [`plot`]: reward distributions, learning curves and score bars (PNG/SVG).
//! - [`stats`]: mean ± std over seeds and Welch's t-test (paper F.2).

pub mod novelty;
pub mod oracle;
pub mod plot;
pub mod stats;

pub use novelty::{mean_nn_distance, mean_nn_distance_on, novelty, novelty_on};
pub use oracle::{OracleMetrics, oracle_metrics};

/// The metrics of `gta quality`, with the JSON keys the issue names.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct QualityReport {
    /// Transitions evaluated (a seeded subset of the generated data).
    pub samples: usize,
    /// Mean true reward r*(s, a) of the generated (s, a), unnormalized.
    pub oracle_reward: f64,
    /// Mean generated reward of the same transitions.
    pub generated_reward: f64,
    /// Mean over transitions of (1/obs_dim)·‖norm(s′) − norm(s′*)‖² (eq. 17).
    pub dynamic_mse: f64,
    /// Mean of (r − r*)².
    pub reward_mse: f64,
    /// Mean NN distance of generated states to original states.
    pub novelty_state: f64,
    /// Mean NN distance of generated actions to original actions.
    pub novelty_action: f64,
    /// Mean NN distance of generated [s | a] to original [s | a] (aligned features).
    pub novelty_state_action: f64,
    /// Fraction of generated action entries outside [−1, 1].
    pub action_out_of_range: f64,
}
