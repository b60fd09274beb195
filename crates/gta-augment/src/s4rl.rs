//! The S4RL baseline (method.md §8.2, paper C.1): copies of the original transitions with
//! Gaussian noise on the states, written in the same layout as a GTA output so that every
//! downstream command (RL, quality, experiments) treats both alike.
//!
//! The historical implementation adds the noise to each sampled RL batch *after* state
//! normalization, independently for s and s′, two noisy copies per batch. A file cannot redraw
//! the noise per batch, so gta draws `copies` independent noisy copies once; "after
//! normalization" becomes noise of σ·std_i in raw units on state dimension i (the RL replay
//! buffer's normalizer: `gta_data::Normalizer`, std + 1e-3, method.md §9.1). Actions, rewards and dones are
//! unchanged.

use gta_data::{Array, ArrayData, Dataset};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use serde::{Deserialize, Serialize};

use crate::AugmentError;
use crate::transitions::Transitions;

/// S4RL settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct S4rlConfig {
    /// σ, standard deviation of the state noise in normalized units (3e-4, method.md §8.2).
    pub sigma: f64,
    /// Noisy copies of the dataset to write (2: the historical `iteration = 2`).
    pub copies: usize,
    /// Noise in normalized units, i.e. σ·(std_i + 1e-3) in raw units (true, as the historical
    /// code); false adds N(0, σ²) to the raw states.
    pub normalized: bool,
    /// Also write the original transitions in front of the noisy copies.
    pub include_original: bool,
    /// Seed of the noise.
    pub seed: u64,
}

impl Default for S4rlConfig {
    fn default() -> Self {
        Self {
            sigma: 3e-4,
            copies: 2,
            normalized: true,
            include_original: false,
            seed: 0,
        }
    }
}

/// The S4RL transitions of `original` (its q-learning view): `copies` × N transitions, states
/// and next states each with independent noise.
pub fn s4rl_transitions(
    original: &Dataset,
    cfg: &S4rlConfig,
) -> Result<(Transitions, usize, usize), AugmentError> {
    if !(cfg.sigma.is_finite() && cfg.sigma >= 0.0) || cfg.copies == 0 {
        return Err(AugmentError::Config(format!(
            "s4rl: sigma must be finite and >= 0 (got {}) and copies >= 1 (got {})",
            cfg.sigma, cfg.copies
        )));
    }
    let q = gta_data::qlearning(original, true)?;
    let n = q.rewards.len();
    if n == 0 {
        return Err(AugmentError::Config(
            "s4rl: the dataset has no transitions".into(),
        ));
    }
    let (obs, act) = (q.observations.len() / n, q.actions.len() / n);
    // The RL replay buffer's state normalization (gta-rl `STATE_EPS` = 1e-3), so that the noise
    // is σ in the units the agent sees.
    let scale: Vec<f64> = if cfg.normalized {
        gta_data::Normalizer::fit(&q.observations, obs, 1e-3)?
            .std
            .into_iter()
            .map(|s| s as f64 * cfg.sigma)
            .collect()
    } else {
        vec![cfg.sigma; obs]
    };
    let normal = Normal::new(0.0f64, 1.0).expect("unit normal");
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let noisy = |states: &[f32], rng: &mut ChaCha8Rng| -> Vec<f32> {
        states
            .iter()
            .enumerate()
            .map(|(i, &s)| (s as f64 + scale[i % obs] * normal.sample(rng)) as f32)
            .collect()
    };
    let mut tr = Transitions::default();
    for _ in 0..cfg.copies {
        tr.observations.extend(noisy(&q.observations, &mut rng));
        tr.next_observations
            .extend(noisy(&q.next_observations, &mut rng));
        tr.actions.extend_from_slice(&q.actions);
        tr.rewards.extend_from_slice(&q.rewards);
        tr.terminals.extend_from_slice(&q.dones);
    }
    Ok((tr, obs, act))
}

/// The S4RL output dataset: D4RL columns (optionally the original transitions first) and
/// `metadata/{algorithm, config, seed, dataset_sha256, gta_version}`.
pub fn s4rl_dataset(
    original: &Dataset,
    cfg: &S4rlConfig,
    dataset_sha256: &str,
    gta_version: &str,
) -> Result<Dataset, AugmentError> {
    let (tr, obs, act) = s4rl_transitions(original, cfg)?;
    let mut ds = Dataset::new(std::path::Path::new("s4rl"));
    let mut offset = 0;
    if cfg.include_original {
        offset = crate::augment::insert_original(&mut ds, original)?;
    }
    crate::augment::append_columns(&mut ds, &tr, obs, act, offset);
    // No windows: these columns only make sense for generated windows.
    ds.arrays.remove("window_id");
    ds.arrays.remove("step_in_window");
    let config = toml::to_string(cfg).map_err(|e| AugmentError::Config(e.to_string()))?;
    for (k, v) in [
        ("metadata/algorithm", "S4RL".to_string()),
        ("metadata/config", config),
        ("metadata/dataset_sha256", dataset_sha256.to_string()),
        ("metadata/gta_version", gta_version.to_string()),
    ] {
        ds.insert(k, Array::new(vec![1], ArrayData::Str(vec![v])));
    }
    ds.insert(
        "metadata/seed",
        Array::new(vec![1], ArrayData::U64(vec![cfg.seed])),
    );
    Ok(ds)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 2-episode dataset: obs 2, act 1, 6 rows.
    fn tiny() -> Dataset {
        let mut ds = Dataset::new(std::path::Path::new("tiny"));
        let obs: Vec<f32> = (0..12).map(|i| i as f32 * 0.5).collect();
        ds.insert("observations", Array::new(vec![6, 2], ArrayData::F32(obs)));
        ds.insert(
            "actions",
            Array::new(vec![6, 1], ArrayData::F32(vec![0.1; 6])),
        );
        ds.insert(
            "rewards",
            Array::new(vec![6], ArrayData::F32((0..6).map(|i| i as f32).collect())),
        );
        let term = vec![false, false, true, false, false, false];
        ds.insert("terminals", Array::new(vec![6], ArrayData::Bool(term)));
        let tout = vec![false, false, false, false, false, true];
        ds.insert("timeouts", Array::new(vec![6], ArrayData::Bool(tout)));
        ds
    }

    #[test]
    fn copies_keep_actions_rewards_dones_and_noise_has_the_requested_scale() {
        let ds = tiny();
        let q = gta_data::qlearning(&ds, true).unwrap();
        let cfg = S4rlConfig {
            sigma: 0.0,
            ..Default::default()
        };
        let (tr, obs, _) = s4rl_transitions(&ds, &cfg).unwrap();
        // σ = 0: exact copies.
        assert_eq!(tr.len(), 2 * q.rewards.len());
        assert_eq!(
            &tr.observations[..q.observations.len()],
            &q.observations[..]
        );
        assert_eq!(
            &tr.next_observations[q.next_observations.len()..],
            &q.next_observations[..]
        );
        assert_eq!(&tr.rewards[q.rewards.len()..], &q.rewards[..]);
        assert_eq!(&tr.terminals[..q.dones.len()], &q.dones[..]);

        // Large σ in raw units over many copies: the noise's std matches σ per dimension, and
        // s and s′ are noised independently (their noises are uncorrelated).
        let cfg = S4rlConfig {
            sigma: 0.5,
            copies: 4000,
            normalized: false,
            ..Default::default()
        };
        let (tr, _, _) = s4rl_transitions(&ds, &cfg).unwrap();
        let m = q.observations.len();
        let ds_: Vec<f64> = tr
            .observations
            .iter()
            .enumerate()
            .map(|(i, &v)| v as f64 - q.observations[i % m] as f64)
            .collect();
        let dn: Vec<f64> = tr
            .next_observations
            .iter()
            .enumerate()
            .map(|(i, &v)| v as f64 - q.next_observations[i % m] as f64)
            .collect();
        let var = ds_.iter().map(|x| x * x).sum::<f64>() / ds_.len() as f64;
        let cov = ds_.iter().zip(&dn).map(|(a, b)| a * b).sum::<f64>() / dn.len() as f64;
        assert!((var.sqrt() - 0.5).abs() < 0.01, "noise std {}", var.sqrt());
        assert!(cov.abs() < 0.01, "s/s' noise covariance {cov}");
        assert_eq!(obs, 2);
    }

    #[test]
    fn normalized_noise_is_sigma_times_state_std_and_output_has_metadata() {
        let ds = tiny();
        let q = gta_data::qlearning(&ds, true).unwrap();
        let std: Vec<f64> = gta_data::Normalizer::fit(&q.observations, 2, 1e-3)
            .unwrap()
            .std
            .iter()
            .map(|&s| s as f64)
            .collect();
        // Independent check of the std of dimension 0 of the q-learning states (unbiased, as the
        // RL replay buffer's normalizer).
        let col: Vec<f64> = q
            .observations
            .iter()
            .step_by(2)
            .map(|&v| v as f64)
            .collect();
        let mean = col.iter().sum::<f64>() / col.len() as f64;
        let ss = col.iter().map(|v| (v - mean).powi(2)).sum::<f64>();
        let sd = (ss / (col.len() - 1) as f64).sqrt();
        assert!((std[0] - (sd + 1e-3)).abs() < 1e-5);

        let cfg = S4rlConfig {
            sigma: 0.1,
            copies: 3000,
            include_original: true,
            ..Default::default()
        };
        let out = s4rl_dataset(&ds, &cfg, "abc", "0.1.0").unwrap();
        let n = q.rewards.len();
        let o = match &out.arrays["observations"].data {
            ArrayData::F32(v) => v.clone(),
            _ => panic!(),
        };
        assert_eq!(o.len(), (1 + 3000) * n * 2);
        assert_eq!(
            &o[..n * 2],
            &q.observations[..],
            "originals come first, unchanged"
        );
        let d0: Vec<f64> = o[n * 2..]
            .iter()
            .enumerate()
            .filter(|(i, _)| i % 2 == 0)
            .map(|(i, &v)| v as f64 - q.observations[i % (n * 2)] as f64)
            .collect();
        let s = (d0.iter().map(|x| x * x).sum::<f64>() / d0.len() as f64).sqrt();
        assert!(
            (s / (0.1 * std[0]) - 1.0).abs() < 0.05,
            "dim-0 noise std {s} vs {}",
            0.1 * std[0]
        );
        assert!(
            matches!(&out.arrays["metadata/algorithm"].data, ArrayData::Str(v) if v[0] == "S4RL")
        );
        assert!(!out.arrays.contains_key("window_id"));
    }

    #[test]
    fn bad_settings_are_refused() {
        let ds = tiny();
        for cfg in [
            S4rlConfig {
                sigma: f64::NAN,
                ..Default::default()
            },
            S4rlConfig {
                sigma: -1.0,
                ..Default::default()
            },
            S4rlConfig {
                copies: 0,
                ..Default::default()
            },
        ] {
            let e = s4rl_transitions(&ds, &cfg).unwrap_err().to_string();
            assert!(e.contains("sigma") && e.contains("copies"), "{e}");
        }
    }
}
