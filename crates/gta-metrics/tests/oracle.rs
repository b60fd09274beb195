//! Oracle metrics on data gta collects itself: real transitions have zero dynamic and reward
//! error; perturbed next states have exactly the error put in.

use gta_envs::{EnvId, RandomPolicy, collect};
use gta_metrics::oracle_metrics;

#[test]
fn real_transitions_have_no_dynamics_error_and_perturbations_are_measured() {
    let ds = collect(EnvId::HalfCheetah, &RandomPolicy { act_dim: 6 }, 200, 0).unwrap();
    let (obs, _) = ds.f32_matrix("observations").unwrap();
    let (act, _) = ds.f32_matrix("actions").unwrap();
    let (next, _) = ds.f32_matrix("next_observations").unwrap();
    let rew = ds.rewards_f32().unwrap();
    let (mean, std) = (vec![0.0; 17], vec![1.0; 17]);
    let m = oracle_metrics("halfcheetah", &obs, &act, &next, &rew, &mean, &std).unwrap();
    // Only the float32 storage of states differs from the simulator (≈1e-5, envs-and-data.md §7).
    assert!(m.dynamic_mse < 1e-6, "{m:?}");
    assert!(m.reward_mse < 1e-6, "{m:?}");
    assert!((m.oracle_reward - m.generated_reward).abs() < 1e-3);
    // Shift every next state by 0.5 in one dimension: dynMSE grows by 0.25/17 (std 1).
    let mut shifted = next.clone();
    for i in 0..200 {
        shifted[i * 17 + 3] += 0.5;
    }
    let p = oracle_metrics("halfcheetah", &obs, &act, &shifted, &rew, &mean, &std).unwrap();
    assert!((p.dynamic_mse - 0.25 / 17.0).abs() < 1e-3, "{p:?}");
}
