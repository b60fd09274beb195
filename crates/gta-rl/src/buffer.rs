//! The replay buffer on the device (method.md §9.1): the q-learning view of the original data,
//! followed by the generated transitions, uploaded once; minibatches are index gathers.

use burn::tensor::{Device, Int, Tensor, TensorData};
use gta_data::{Normalizer, QLearning};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::RlError;

/// The eps added to the state std (CORL `compute_mean_std(..., eps=1e-3)`).
pub const STATE_EPS: f64 = 1e-3;

/// A minibatch on the device (non-autodiff tensors).
#[derive(Clone, Debug)]
pub struct Batch {
    /// (B, obs_dim) normalized states s.
    pub observations: Tensor<2>,
    /// (B, act_dim) actions a.
    pub actions: Tensor<2>,
    /// (B, 1) rewards r.
    pub rewards: Tensor<2>,
    /// (B, obs_dim) normalized next states s′.
    pub next_observations: Tensor<2>,
    /// (B, 1) done flags (1.0 = terminal).
    pub dones: Tensor<2>,
}

/// Original (+ generated) transitions, state-normalized, resident on one device.
#[derive(Clone, Debug)]
pub struct ReplayBuffer {
    observations: Tensor<2>,
    actions: Tensor<2>,
    rewards: Tensor<2>,
    next_observations: Tensor<2>,
    dones: Tensor<2>,
    /// Number of transitions N (original + generated).
    pub len: usize,
    /// Of which original.
    pub original_len: usize,
    /// State width.
    pub obs_dim: usize,
    /// Action width.
    pub act_dim: usize,
    /// State statistics over the union (identity when normalization is off). The evaluation
    /// env's observations are normalized with these.
    pub normalizer: Normalizer,
    device: Device,
}

fn dims(q: &QLearning) -> (usize, usize, usize) {
    let n = q.rewards.len();
    let obs = q.observations.len().checked_div(n).unwrap_or(0);
    let act = q.actions.len().checked_div(n).unwrap_or(0);
    (n, obs, act)
}

impl ReplayBuffer {
    /// Builds the buffer: `original` followed by `augmented` (if any), key-wise concatenated;
    /// with `normalize_states`, s and s′ are z-scored with mean/std (+1e-3) of the union's
    /// states (§9.1). Rewards are left as they are. Uploads everything to `device` once.
    ///
    /// The std is the unbiased one of [`Normalizer::fit`]; CORL uses numpy's biased std. The
    /// two differ by a factor √(N/(N−1)), below 1e-5 relative for any D4RL dataset.
    pub fn new(
        original: &QLearning,
        augmented: Option<&QLearning>,
        normalize_states: bool,
        device: &Device,
    ) -> Result<Self, RlError> {
        let (n0, obs_dim, act_dim) = dims(original);
        if n0 < 2 {
            return Err(RlError::Shape {
                what: "transitions in the original dataset (at least)".into(),
                expected: 2,
                got: n0,
            });
        }
        let mut obs = original.observations.clone();
        let mut act = original.actions.clone();
        let mut rew = original.rewards.clone();
        let mut next = original.next_observations.clone();
        let mut done: Vec<f32> = original.dones.iter().map(|&d| d as u8 as f32).collect();
        if let Some(aug) = augmented {
            let (_, o, a) = dims(aug);
            if o != obs_dim {
                return Err(RlError::Shape {
                    what: "augmented observations width".into(),
                    expected: obs_dim,
                    got: o,
                });
            }
            if a != act_dim {
                return Err(RlError::Shape {
                    what: "augmented actions width".into(),
                    expected: act_dim,
                    got: a,
                });
            }
            obs.extend_from_slice(&aug.observations);
            act.extend_from_slice(&aug.actions);
            rew.extend_from_slice(&aug.rewards);
            next.extend_from_slice(&aug.next_observations);
            done.extend(aug.dones.iter().map(|&d| d as u8 as f32));
        }
        let n = rew.len();
        let normalizer = if normalize_states {
            let fitted = Normalizer::fit(&obs, obs_dim, STATE_EPS)?;
            fitted.normalize(&mut obs);
            fitted.normalize(&mut next);
            fitted
        } else {
            Normalizer {
                mean: vec![0.0; obs_dim],
                std: vec![1.0; obs_dim],
            }
        };
        let up = |v: Vec<f32>, w: usize| Tensor::<2>::from_data(TensorData::new(v, [n, w]), device);
        Ok(Self {
            observations: up(obs, obs_dim),
            actions: up(act, act_dim),
            rewards: up(rew, 1),
            next_observations: up(next, obs_dim),
            dones: up(done, 1),
            len: n,
            original_len: n0,
            obs_dim,
            act_dim,
            normalizer,
            device: device.clone(),
        })
    }

    /// The device the data lives on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// `batch` indices uniform over the union [0, N), drawn from a ChaCha8 stream seeded `seed`.
    pub fn sample_indices(&self, seed: u64, batch: usize) -> Vec<i64> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..batch)
            .map(|_| rng.random_range(0..self.len) as i64)
            .collect()
    }

    /// Gathers rows `indices` of every field on the device (one upload of the indices).
    pub fn gather(&self, indices: &[i64]) -> Batch {
        let idx = Tensor::<1, Int>::from_data(
            TensorData::new(indices.to_vec(), [indices.len()]),
            &self.device,
        );
        Batch {
            observations: self.observations.clone().select(0, idx.clone()),
            actions: self.actions.clone().select(0, idx.clone()),
            rewards: self.rewards.clone().select(0, idx.clone()),
            next_observations: self.next_observations.clone().select(0, idx.clone()),
            dones: self.dones.clone().select(0, idx),
        }
    }

    /// A uniform minibatch of `batch` transitions from the stream seeded `seed`.
    pub fn sample(&self, seed: u64, batch: usize) -> Batch {
        self.gather(&self.sample_indices(seed, batch))
    }
}

/// `n` random transitions of the given widths (states, actions and rewards U(−1, 1), 1 in 100
/// terminal), seeded: data for throughput benchmarks, whose speed does not depend on values.
pub fn synthetic_qlearning(n: usize, obs_dim: usize, act_dim: usize, seed: u64) -> QLearning {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut draw = |k: usize| -> Vec<f32> { (0..k).map(|_| rng.random_range(-1.0..1.0)).collect() };
    let observations = draw(n * obs_dim);
    let actions = draw(n * act_dim);
    let rewards = draw(n);
    let next_observations = draw(n * obs_dim);
    QLearning {
        observations,
        actions,
        rewards,
        next_observations,
        dones: (0..n).map(|i| i % 100 == 99).collect(),
        source_rows: (0..n).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(rows: &[[f32; 2]], act: f32, done: bool) -> QLearning {
        QLearning {
            observations: rows.iter().flatten().copied().collect(),
            actions: vec![act; rows.len()],
            rewards: (0..rows.len()).map(|i| i as f32).collect(),
            next_observations: rows.iter().flatten().map(|v| v + 1.0).collect(),
            dones: vec![done; rows.len()],
            source_rows: (0..rows.len()).collect(),
        }
    }

    fn to_vec(t: Tensor<2>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().unwrap()
    }

    #[test]
    fn union_is_original_then_generated_and_normalized_over_both() {
        let device = Device::flex();
        let orig = q(&[[0.0, 10.0], [2.0, 10.0]], 0.5, false);
        let aug = q(&[[4.0, 16.0]], -0.5, true);
        let buf = ReplayBuffer::new(&orig, Some(&aug), true, &device).unwrap();
        assert_eq!(
            (buf.len, buf.original_len, buf.obs_dim, buf.act_dim),
            (3, 2, 2, 1)
        );
        // Column 0: mean 2, unbiased std 2; column 1: mean 12, std sqrt(12) (by hand).
        assert_eq!(buf.normalizer.mean, vec![2.0, 12.0]);
        assert!((buf.normalizer.std[0] - 2.001).abs() < 1e-6);
        assert!((buf.normalizer.std[1] - (12f32.sqrt() + 1e-3)).abs() < 1e-5);
        let b = buf.gather(&[2, 0]);
        let o = to_vec(b.observations);
        assert!(
            (o[0] - 2.0 / 2.001).abs() < 1e-6,
            "generated row comes after the original"
        );
        assert!((o[2] + 2.0 / 2.001).abs() < 1e-6);
        let n = to_vec(b.next_observations);
        assert!(
            (n[0] - 3.0 / 2.001).abs() < 1e-6,
            "s′ uses the same statistics"
        );
        assert_eq!(to_vec(b.actions), vec![-0.5, 0.5]);
        assert_eq!(to_vec(b.rewards), vec![0.0, 0.0]);
        assert_eq!(to_vec(b.dones), vec![1.0, 0.0]);
    }

    #[test]
    fn sampling_is_seeded_and_covers_the_union() {
        let device = Device::flex();
        let rows: Vec<[f32; 2]> = (0..10).map(|i| [i as f32, 0.0]).collect();
        let buf = ReplayBuffer::new(&q(&rows, 0.0, false), None, false, &device).unwrap();
        let a = buf.sample_indices(7, 1000);
        assert_eq!(a, buf.sample_indices(7, 1000));
        assert_ne!(a, buf.sample_indices(8, 1000));
        let mut counts = [0usize; 10];
        for &i in &a {
            counts[i as usize] += 1;
        }
        // Uniform: each of the 10 rows is drawn 100 ± 40 times out of 1000 (> 4 sigma).
        assert!(
            counts.iter().all(|&c| (60..=140).contains(&c)),
            "{counts:?}"
        );
        assert_eq!(
            buf.normalizer.std,
            vec![1.0, 1.0],
            "normalization off = identity"
        );
    }

    #[test]
    fn width_mismatch_is_an_error() {
        let device = Device::flex();
        let orig = q(&[[0.0, 1.0], [1.0, 2.0]], 0.0, false);
        let mut aug = orig.clone();
        aug.actions = vec![0.0; 4];
        let err = ReplayBuffer::new(&orig, Some(&aug), true, &device).unwrap_err();
        assert!(err.to_string().contains("augmented actions width"), "{err}");
    }
}
