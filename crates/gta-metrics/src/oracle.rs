//! Oracle reward and dynamic MSE (method.md §10): rebuild the simulator state from each generated
//! s, step the true dynamics with clip(a, −1, 1), and compare with the generated s′ and r.

use gta_envs::{EnvError, Oracle};

/// Oracle-based metrics of a batch of generated transitions.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct OracleMetrics {
    /// Mean r*(s, a).
    pub oracle_reward: f64,
    /// Mean generated r.
    pub generated_reward: f64,
    /// Eq. 17 with the original data's observation statistics (std + 1e-3).
    pub dynamic_mse: f64,
    /// Mean (r − r*)².
    pub reward_mse: f64,
}

/// Computes [`OracleMetrics`] for `n` transitions (row-major `obs`, `act`, `next_obs`, `rew`);
/// `obs_mean`/`obs_std` are the original dataset's per-dimension statistics (std already + 1e-3).
/// The env's observation function applies its own velocity clipping to s′* (Hopper, Walker2d).
pub fn oracle_metrics(
    env: &str,
    obs: &[f32],
    act: &[f32],
    next_obs: &[f32],
    rew: &[f32],
    obs_mean: &[f64],
    obs_std: &[f64],
) -> Result<OracleMetrics, EnvError> {
    let oracle = Oracle::new(env)?;
    let sims = oracle.transitions(obs, act)?;
    let d = obs_mean.len();
    let n = sims.len().max(1) as f64;
    let mut m = OracleMetrics::default();
    for (i, t) in sims.iter().enumerate() {
        let r = rew[i] as f64;
        m.oracle_reward += t.reward;
        m.generated_reward += r;
        m.reward_mse += (r - t.reward).powi(2);
        let mut sq = 0.0;
        for k in 0..d {
            let a = (next_obs[i * d + k] as f64 - obs_mean[k]) / obs_std[k];
            let b = (t.next_obs[k] - obs_mean[k]) / obs_std[k];
            sq += (a - b).powi(2);
        }
        m.dynamic_mse += sq / d as f64;
    }
    m.oracle_reward /= n;
    m.generated_reward /= n;
    m.reward_mse /= n;
    m.dynamic_mse /= n;
    Ok(m)
}
