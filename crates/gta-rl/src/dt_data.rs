//! Trajectory segments for the Decision Transformer (method.md §9.3, "DT with GTA data"; CORL
//! `dt.py` `SequenceDataset`).
//!
//! - Original data: episodes split at `terminals | timeouts` (trailing partial episode
//!   dropped, envs-and-data.md §4.4), every stored row kept, return-to-go undiscounted
//!   (CORL `discounted_cumsum(rewards, 1.0)`), timesteps 0, 1, ….
//! - Generated data (a `gta augment` output): each generated window is its own trajectory
//!   (rebuilt from `window_id`/`step_in_window`, docs/formats.md). Its first RTG is the source
//!   window's **undiscounted original** RTG at its first step (× α only with
//!   `DtConfig::amplify_rtg`); later RTGs subtract the *generated* rewards (method.md §9.3,
//!   reference-code-notes.md §14). Its timesteps continue from the source start `source_t0`.
//! - States are z-scored with mean/std (+`state_std_eps`) over the union of all stored states.
//! - Sampling: a trajectory in proportion to its length, then a start uniform in it; segments
//!   of K steps are zero-padded **at the end** with a 0 mask (CORL's `pad_along_axis`, which
//!   pads after the data; the original DT pads in front).

use burn::tensor::{Device, Int, Tensor, TensorData};
use gta_data::{DataError, Dataset, EpisodeOptions, Normalizer, Trajectories};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::config::DtConfig;
use crate::error::RlError;

/// One trajectory before concatenation: states, actions and (unscaled) returns-to-go of `len`
/// steps, and the env timestep of its first step.
#[derive(Clone, Debug, PartialEq)]
pub struct DtTrajectory {
    /// (len, obs_dim) raw states.
    pub observations: Vec<f32>,
    /// (len, act_dim) actions.
    pub actions: Vec<f32>,
    /// (len,) returns-to-go R_t, unscaled.
    pub returns_to_go: Vec<f64>,
    /// Env timestep of step 0 (0 for an original episode, `source_t0` for a generated window).
    pub first_timestep: usize,
}

/// Undiscounted return-to-go `R_t = Σ_{k ≥ t} r_k` of an episode (CORL
/// `discounted_cumsum(rewards, gamma=1.0)`), accumulated in f64.
pub fn returns_to_go(rewards: &[f32]) -> Vec<f64> {
    let r: Vec<f64> = rewards.iter().map(|&v| v as f64).collect();
    gta_data::reward_to_go(&r, 1.0)
}

/// Returns-to-go of a generated window (method.md §9.3): `R_0 = rtg0`,
/// `R_k = rtg0 − Σ_{j<k} r̂_j` with the window's generated rewards `r̂` (the reference's
/// `attach_generated_rtg`).
pub fn generated_returns_to_go(rtg0: f64, rewards: &[f32]) -> Vec<f64> {
    let mut out = Vec::with_capacity(rewards.len());
    let mut acc = rtg0;
    for &r in rewards {
        out.push(acc);
        acc -= r as f64;
    }
    out
}

/// The episodes of an original dataset as DT trajectories (all stored rows, split at
/// `terminals | timeouts`, partial tail dropped: CORL `load_d4rl_trajectories`).
pub fn original_trajectories(dataset: &Dataset) -> Result<Vec<DtTrajectory>, RlError> {
    let (_, obs_dim, act_dim) = dataset.check_layout()?;
    dataset.check_finite()?;
    let (obs, _) = dataset.f32_matrix(gta_data::dataset::OBSERVATIONS)?;
    let (act, _) = dataset.f32_matrix(gta_data::dataset::ACTIONS)?;
    let rew = dataset.rewards_f32()?;
    let episodes = gta_data::episodes::episodes(dataset, &EpisodeOptions::default())?;
    Ok(episodes
        .iter()
        .map(|ep| DtTrajectory {
            observations: obs[ep.start * obs_dim..(ep.start + ep.len) * obs_dim].to_vec(),
            actions: act[ep.start * act_dim..(ep.start + ep.len) * act_dim].to_vec(),
            returns_to_go: returns_to_go(&rew[ep.rows()]),
            first_timestep: 0,
        })
        .collect())
}

fn u32_column(ds: &Dataset, key: &str, expected: &str) -> Result<Vec<u32>, RlError> {
    let a = ds.require(key, expected)?;
    (0..a.data.len())
        .map(|i| match a.data.get_f64(i) {
            Some(v) if v >= 0.0 && v <= u32::MAX as f64 && v.fract() == 0.0 => Ok(v as u32),
            _ => Err(RlError::Data(DataError::Malformed {
                path: ds.source.clone(),
                key: key.to_string(),
                detail: format!("element {i}: expected a non-negative integer"),
            })),
        })
        .collect()
}

/// The generated windows of a `gta augment` output as DT trajectories (method.md §9.3).
/// `source` must be the original dataset's transition view with default episode options
/// (the view `gta augment` numbers `windows/source_episode` and `source_t0` in). Rows with
/// `window_id = u32::MAX` (original rows written in front with `--include-original`) are
/// skipped: the original episodes come from the original dataset.
pub fn generated_trajectories(
    augmented: &Dataset,
    source: &Trajectories,
    amplify_rtg: Option<f64>,
) -> Result<Vec<DtTrajectory>, RlError> {
    let (_, obs_dim, act_dim) = augmented.check_layout()?;
    augmented.check_finite()?;
    let need = "generated windows of a `gta augment` output (DT rebuilds its windows)";
    let window_id = u32_column(augmented, "window_id", need)?;
    let step = u32_column(augmented, "step_in_window", need)?;
    let src_ep = u32_column(augmented, "windows/source_episode", need)?;
    let src_t0 = u32_column(augmented, "windows/source_t0", need)?;
    let (obs, _) = augmented.f32_matrix(gta_data::dataset::OBSERVATIONS)?;
    let (act, _) = augmented.f32_matrix(gta_data::dataset::ACTIONS)?;
    let rew = augmented.rewards_f32()?;
    let malformed = |key: &str, detail: String| {
        RlError::Data(DataError::Malformed {
            path: augmented.source.clone(),
            key: key.to_string(),
            detail,
        })
    };
    if window_id.len() != rew.len() || step.len() != rew.len() {
        return Err(malformed(
            "window_id",
            format!("expected one entry per row ({})", rew.len()),
        ));
    }
    // Rows of each window, in file order (a window's rows are written contiguously).
    let mut rows: Vec<Vec<usize>> = vec![Vec::new(); src_ep.len()];
    for (i, (&w, &k)) in window_id.iter().zip(&step).enumerate() {
        if w == u32::MAX {
            continue;
        }
        let list = rows.get_mut(w as usize).ok_or_else(|| {
            malformed(
                "window_id",
                format!("row {i}: window {w}, expected < {} windows", src_ep.len()),
            )
        })?;
        if k as usize != list.len() {
            return Err(malformed(
                "step_in_window",
                format!(
                    "row {i} (window {w}): step {k}, expected {} (steps 0, 1, … in order)",
                    list.len()
                ),
            ));
        }
        list.push(i);
    }
    let mut out = Vec::new();
    for (w, list) in rows.iter().enumerate().filter(|(_, l)| !l.is_empty()) {
        let (e, t0) = (src_ep[w] as usize, src_t0[w] as usize);
        let ep = source.episodes.get(e).ok_or_else(|| {
            malformed(
                "windows/source_episode",
                format!(
                    "window {w}: episode {e}, the original dataset has {}",
                    source.episodes.len()
                ),
            )
        })?;
        if t0 >= ep.len {
            return Err(malformed(
                "windows/source_t0",
                format!(
                    "window {w}: t0 {t0} outside episode {e} of {} steps",
                    ep.len
                ),
            ));
        }
        let rtg0: f64 = source.rewards[ep.start + t0..ep.start + ep.len]
            .iter()
            .map(|&r| r as f64)
            .sum::<f64>()
            * amplify_rtg.unwrap_or(1.0);
        let rewards: Vec<f32> = list.iter().map(|&i| rew[i]).collect();
        out.push(DtTrajectory {
            observations: list
                .iter()
                .flat_map(|&i| obs[i * obs_dim..(i + 1) * obs_dim].iter().copied())
                .collect(),
            actions: list
                .iter()
                .flat_map(|&i| act[i * act_dim..(i + 1) * act_dim].iter().copied())
                .collect(),
            returns_to_go: generated_returns_to_go(rtg0, &rewards),
            first_timestep: t0,
        });
    }
    Ok(out)
}

/// Where one trajectory lives in [`DtData`]'s row arrays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrajectorySpan {
    /// First row.
    pub start: usize,
    /// Steps.
    pub len: usize,
    /// Env timestep of its first step.
    pub first_timestep: usize,
}

/// All DT trajectories (original, then generated), states normalized, on the host.
#[derive(Clone, Debug)]
pub struct DtData {
    /// State width.
    pub obs_dim: usize,
    /// Action width.
    pub act_dim: usize,
    observations: Vec<f32>,
    actions: Vec<f32>,
    returns_to_go: Vec<f32>,
    /// The trajectories.
    pub spans: Vec<TrajectorySpan>,
    /// How many of `spans` (the first ones) are original episodes.
    pub original_trajectories: usize,
    /// State statistics over the union (the evaluation env's states are normalized with them).
    pub normalizer: Normalizer,
}

/// A batch of K-step segments on the host, row-major, padded at the end.
#[derive(Clone, Debug, PartialEq)]
pub struct SegmentBatch {
    /// B.
    pub batch: usize,
    /// K.
    pub seq_len: usize,
    /// (B, K, obs_dim) normalized states, 0 where padded.
    pub states: Vec<f32>,
    /// (B, K, act_dim) actions, 0 where padded.
    pub actions: Vec<f32>,
    /// (B, K) returns-to-go × reward_scale, 0 where padded.
    pub returns_to_go: Vec<f32>,
    /// (B, K) timesteps `first + start + k` (padding included, as CORL), clamped to
    /// `max_timestep`.
    pub timesteps: Vec<i64>,
    /// (B, K) 1 for data, 0 for padding.
    pub mask: Vec<f32>,
}

/// A segment batch on the device.
#[derive(Clone, Debug)]
pub struct DtBatch {
    /// (B, K, obs_dim).
    pub states: Tensor<3>,
    /// (B, K, act_dim).
    pub actions: Tensor<3>,
    /// (B, K, 1), scaled.
    pub returns_to_go: Tensor<3>,
    /// (B, K).
    pub timesteps: Tensor<2, Int>,
    /// (B, K) 1 = data, 0 = padding.
    pub mask: Tensor<2>,
}

impl SegmentBatch {
    /// Uploads the batch to `device`.
    pub fn to_device(&self, obs_dim: usize, act_dim: usize, device: &Device) -> DtBatch {
        let (b, k) = (self.batch, self.seq_len);
        let f3 = |v: &Vec<f32>, w: usize| {
            Tensor::<3>::from_data(TensorData::new(v.clone(), [b, k, w]), device)
        };
        DtBatch {
            states: f3(&self.states, obs_dim),
            actions: f3(&self.actions, act_dim),
            returns_to_go: f3(&self.returns_to_go, 1),
            timesteps: Tensor::from_data(TensorData::new(self.timesteps.clone(), [b, k]), device),
            mask: Tensor::from_data(TensorData::new(self.mask.clone(), [b, k]), device),
        }
    }
}

impl DtData {
    /// Concatenates `trajectories` (the first `original` of them original episodes) and
    /// normalizes states with their union's mean/std + `eps`.
    pub fn new(
        trajectories: Vec<DtTrajectory>,
        obs_dim: usize,
        act_dim: usize,
        original: usize,
        eps: f64,
    ) -> Result<Self, RlError> {
        let mut data = DtData {
            obs_dim,
            act_dim,
            observations: Vec::new(),
            actions: Vec::new(),
            returns_to_go: Vec::new(),
            spans: Vec::new(),
            original_trajectories: original.min(trajectories.len()),
            normalizer: Normalizer {
                mean: vec![0.0; obs_dim],
                std: vec![1.0; obs_dim],
            },
        };
        for t in trajectories
            .into_iter()
            .filter(|t| !t.returns_to_go.is_empty())
        {
            let len = t.returns_to_go.len();
            if t.observations.len() != len * obs_dim || t.actions.len() != len * act_dim {
                return Err(RlError::Shape {
                    what: "DT trajectory rows (states, actions)".into(),
                    expected: len,
                    got: t.observations.len() / obs_dim.max(1),
                });
            }
            data.spans.push(TrajectorySpan {
                start: data.returns_to_go.len(),
                len,
                first_timestep: t.first_timestep,
            });
            data.observations.extend(t.observations);
            data.actions.extend(t.actions);
            data.returns_to_go
                .extend(t.returns_to_go.iter().map(|&r| r as f32));
        }
        if data.returns_to_go.len() < 2 {
            return Err(RlError::Shape {
                what: "DT trajectory steps (at least)".into(),
                expected: 2,
                got: data.returns_to_go.len(),
            });
        }
        data.normalizer = Normalizer::fit(&data.observations, obs_dim, eps)?;
        data.normalizer.normalize(&mut data.observations);
        Ok(data)
    }

    /// The original dataset's episodes followed by the generated windows of `augmented` (if
    /// any), as the GTA reference's DT loader builds them (method.md §9.3).
    pub fn from_datasets(
        original: &Dataset,
        augmented: Option<&Dataset>,
        config: &DtConfig,
    ) -> Result<Self, RlError> {
        let (_, obs_dim, act_dim) = original.check_layout()?;
        let mut trajs = original_trajectories(original)?;
        let n_orig = trajs.len();
        if let Some(aug) = augmented {
            let (_, o, a) = aug.check_layout()?;
            if (o, a) != (obs_dim, act_dim) {
                return Err(RlError::Shape {
                    what: "augmented (observation + action) width".into(),
                    expected: obs_dim + act_dim,
                    got: o + a,
                });
            }
            let source = Trajectories::from_dataset(original, &EpisodeOptions::default())?;
            trajs.extend(generated_trajectories(aug, &source, config.amplify_rtg)?);
        }
        Self::new(trajs, obs_dim, act_dim, n_orig, config.state_std_eps)
    }

    /// Total steps over all trajectories.
    pub fn len(&self) -> usize {
        self.returns_to_go.len()
    }

    /// Whether there are no steps.
    pub fn is_empty(&self) -> bool {
        self.returns_to_go.is_empty()
    }

    /// `batch` draws `(trajectory, start)` from a ChaCha8 stream seeded `seed`: the trajectory
    /// with probability ∝ its length (a uniform step over all steps picks it), the start uniform
    /// in `[0, len)` (CORL `SequenceDataset.__iter__`).
    pub fn sample(&self, seed: u64, batch: usize) -> Vec<(usize, usize)> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let total = self.len();
        (0..batch)
            .map(|_| {
                let row = rng.random_range(0..total);
                let t = self.spans.partition_point(|s| s.start + s.len <= row);
                let start = rng.random_range(0..self.spans[t].len);
                (t, start)
            })
            .collect()
    }

    /// The K-step segments `picks` (CORL `__prepare_sample`): states, actions and
    /// returns-to-go × `reward_scale` from `start`, zero-padded at the end, mask 1/0,
    /// timesteps `first_timestep + start + k` clamped to `max_timestep`.
    pub fn segments(
        &self,
        picks: &[(usize, usize)],
        seq_len: usize,
        reward_scale: f64,
        max_timestep: usize,
    ) -> SegmentBatch {
        let (s, a, k) = (self.obs_dim, self.act_dim, seq_len);
        let b = picks.len();
        let mut out = SegmentBatch {
            batch: b,
            seq_len: k,
            states: vec![0.0; b * k * s],
            actions: vec![0.0; b * k * a],
            returns_to_go: vec![0.0; b * k],
            timesteps: vec![0; b * k],
            mask: vec![0.0; b * k],
        };
        for (i, &(t, start)) in picks.iter().enumerate() {
            let span = self.spans[t];
            let n = (span.len - start).min(k);
            let row0 = span.start + start;
            out.states[i * k * s..(i * k + n) * s]
                .copy_from_slice(&self.observations[row0 * s..(row0 + n) * s]);
            out.actions[i * k * a..(i * k + n) * a]
                .copy_from_slice(&self.actions[row0 * a..(row0 + n) * a]);
            for j in 0..k {
                out.timesteps[i * k + j] =
                    (span.first_timestep + start + j).min(max_timestep) as i64;
                if j < n {
                    out.returns_to_go[i * k + j] =
                        (self.returns_to_go[row0 + j] as f64 * reward_scale) as f32;
                    out.mask[i * k + j] = 1.0;
                }
            }
        }
        out
    }

    /// Unscaled returns-to-go of trajectory `t` (for tests and diagnostics).
    pub fn trajectory_returns_to_go(&self, t: usize) -> &[f32] {
        let s = self.spans[t];
        &self.returns_to_go[s.start..s.start + s.len]
    }
}
