//! The SynthER baseline (method.md §8.1): an unconditional, transition-level EDM model with the
//! residual-MLP denoiser, sampled from pure noise with the full 128-step churned Heun sampler
//! and no guidance, written in the same D4RL layout as a GTA output.
//!
//! - Data: one vector per transition `[s, a, r, s′, terminal]` of the q-learning view, so
//!   D = 2·obs + act + 2; z-score normalization of every column except the terminal one, which
//!   stays 0/1 ([`TransitionNormalizer`]).
//! - Training: [`synther_train_data`] gives the [`TrainData`] (T = 1, no next-state row, so the
//!   trainer uses no loss mask); the run itself is `gta diffusion train --denoiser resmlp`.
//! - Generation: [`generate`] draws batches from a [`TransitionSource`] (the trained model:
//!   [`EdmTransitionSource`]), un-normalizes them and thresholds the terminal column at 0.5
//!   ([`terminal_flag`]); [`synther_dataset`] builds the output file's columns and metadata.
//!
//! In the RL stage SynthER trains on the generated data only, with state statistics from the real
//! data (method.md §9.1); the file therefore holds no original transitions.

use burn::tensor::{Device, Tensor, TensorData};
use gta_data::{Array, ArrayData, Dataset, Normalizer, QLearning};
use gta_diffusion::guidance::EdmGuidance;
use gta_diffusion::sampler::{self, SamplerConfig};
use gta_diffusion::{Denoiser, TrainData};
use serde::{Deserialize, Serialize};

use crate::augment::{Progress, Provenance};
use crate::error::AugmentError;
use crate::transitions::Transitions;

/// Random stream of the per-batch sampler noise (see [`gta_diffusion::derive_seed`]).
pub const STREAM_SYNTHER: u64 = 0x5359_4e54; // "SYNT"

/// Name of the file in the run folder that holds the [`TransitionNormalizer`].
pub const NORMALIZER_FILE: &str = "synther_normalizer.json";

/// The SynthER sampler: the full schedule of method.md §6.1 from pure noise, no guidance (w = 0).
pub fn synther_sampler() -> SamplerConfig {
    SamplerConfig {
        guidance_scale: 0.0,
        ..SamplerConfig::default()
    }
}

/// Settings of a SynthER generation run (method.md §8.1 "Generation").
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SyntherConfig {
    /// Generated transitions to write (5,000,000); the last batch is cut to give exactly this many.
    pub transitions: usize,
    /// Transitions sampled per batch on the device (100,000).
    pub batch: usize,
    /// A generated terminal value above this is a terminal (0.5).
    pub terminal_threshold: f32,
    /// Sampler constants (method.md §6.1: N 128, S_churn 80, …); w is 0 (no guidance).
    pub sampler: SamplerConfig,
    /// Seed of the sampler noise; batch k uses `derive_seed(seed, STREAM_SYNTHER, k)`.
    pub seed: u64,
}

impl Default for SyntherConfig {
    fn default() -> Self {
        Self {
            transitions: 5_000_000,
            batch: 100_000,
            terminal_threshold: 0.5,
            sampler: synther_sampler(),
            seed: 0,
        }
    }
}

impl SyntherConfig {
    /// Checks value ranges; the message names the field.
    pub fn validate(&self) -> Result<(), AugmentError> {
        if self.transitions == 0 || self.batch == 0 {
            return Err(AugmentError::Config(format!(
                "synther: transitions and batch must be positive (got {} and {})",
                self.transitions, self.batch
            )));
        }
        if !self.terminal_threshold.is_finite() {
            return Err(AugmentError::Config(format!(
                "synther: terminal_threshold must be finite (got {})",
                self.terminal_threshold
            )));
        }
        if self.sampler.num_steps == 0 {
            return Err(AugmentError::Config(
                "synther: sampler.num_steps must be positive (128 expected)".into(),
            ));
        }
        Ok(())
    }
}

/// The terminal rule of SynthER (method.md §8.1): a generated terminal value `v` is a terminal
/// iff `v > threshold` (0.5).
pub fn terminal_flag(v: f32, threshold: f32) -> bool {
    v > threshold
}

/// Transition width D = 2·obs + act + 2 of `[s, a, r, s′, terminal]` (method.md §8.1).
pub fn transition_dim(obs_dim: usize, act_dim: usize) -> usize {
    2 * obs_dim + act_dim + 2
}

/// The (M, D) transition vectors `[s, a, r, s′, terminal]` of a q-learning view, terminal as 0/1.
pub fn transition_vectors(q: &QLearning) -> (Vec<f32>, usize, usize) {
    let n = q.rewards.len();
    let (obs, act) = (q.observations.len() / n.max(1), q.actions.len() / n.max(1));
    let d = transition_dim(obs, act);
    let mut v = Vec::with_capacity(n * d);
    for i in 0..n {
        v.extend_from_slice(&q.observations[i * obs..(i + 1) * obs]);
        v.extend_from_slice(&q.actions[i * act..(i + 1) * act]);
        v.push(q.rewards[i]);
        v.extend_from_slice(&q.next_observations[i * obs..(i + 1) * obs]);
        v.push(if q.dones[i] { 1.0 } else { 0.0 });
    }
    (v, obs, act)
}

/// Splits raw (un-normalized) transition vectors (M, D) into columns; the terminal is
/// [`terminal_flag`] of the last column. No window ids: SynthER has no windows.
pub fn split_transition_vectors(
    raw: &[f32],
    obs_dim: usize,
    act_dim: usize,
    threshold: f32,
) -> Transitions {
    let d = transition_dim(obs_dim, act_dim);
    assert_eq!(raw.len() % d, 0, "transition vectors must be (M, D = {d})");
    let n = raw.len() / d;
    let mut t = Transitions {
        observations: Vec::with_capacity(n * obs_dim),
        actions: Vec::with_capacity(n * act_dim),
        rewards: Vec::with_capacity(n),
        next_observations: Vec::with_capacity(n * obs_dim),
        terminals: Vec::with_capacity(n),
        window_id: Vec::new(),
        step_in_window: Vec::new(),
    };
    let (a0, r, s1) = (obs_dim, obs_dim + act_dim, obs_dim + act_dim + 1);
    for row in raw.chunks_exact(d) {
        t.observations.extend_from_slice(&row[..a0]);
        t.actions.extend_from_slice(&row[a0..r]);
        t.rewards.push(row[r]);
        t.next_observations
            .extend_from_slice(&row[s1..s1 + obs_dim]);
        t.terminals.push(terminal_flag(row[d - 1], threshold));
    }
    t
}

/// The z-score normalizer of SynthER's transition vectors (method.md §8.1): column mean and
/// unbiased std + 1e-5 (the model-input normalizer of §2.3) for every column except the last,
/// the terminal, which keeps mean 0 and scale 1 so that it stays 0/1. Stored in the run folder
/// ([`NORMALIZER_FILE`]) so that generation can invert it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TransitionNormalizer {
    /// Observation width.
    pub obs_dim: usize,
    /// Action width.
    pub act_dim: usize,
    /// Per-column statistics over D = 2·obs + act + 2 columns (terminal: mean 0, std 1).
    pub normalizer: Normalizer,
}

impl TransitionNormalizer {
    /// Fits the statistics over `vectors` (M, D), M ≥ 2.
    pub fn fit(vectors: &[f32], obs_dim: usize, act_dim: usize) -> Result<Self, AugmentError> {
        let d = transition_dim(obs_dim, act_dim);
        let mut normalizer = Normalizer::fit(vectors, d, gta_data::normalizer::MODEL_EPS)?;
        normalizer.mean[d - 1] = 0.0;
        normalizer.std[d - 1] = 1.0;
        Ok(Self {
            obs_dim,
            act_dim,
            normalizer,
        })
    }

    /// Width D.
    pub fn transition_dim(&self) -> usize {
        transition_dim(self.obs_dim, self.act_dim)
    }

    /// Mean reward of the data it was fitted on (the reward column's mean).
    pub fn reward_mean(&self) -> f64 {
        self.normalizer.mean[self.obs_dim + self.act_dim] as f64
    }

    /// Checks that the statistics have D columns, finite means and positive scales.
    pub fn validate(&self) -> Result<(), AugmentError> {
        let d = self.transition_dim();
        let n = &self.normalizer;
        if n.mean.len() != d || n.std.len() != d {
            return Err(AugmentError::Config(format!(
                "synther normalizer: {d} columns expected (2·{} + {} + 2), got {} means and {} stds",
                self.obs_dim,
                self.act_dim,
                n.mean.len(),
                n.std.len()
            )));
        }
        if n.mean.iter().any(|m| !m.is_finite()) || n.std.iter().any(|s| s.is_nan() || *s <= 0.0) {
            return Err(AugmentError::Config(
                "synther normalizer: finite means and positive stds expected".into(),
            ));
        }
        Ok(())
    }

    /// In place: x ← (x − μ)/σ per column (the terminal column is unchanged).
    pub fn normalize(&self, vectors: &mut [f32]) {
        self.normalizer.normalize(vectors);
    }

    /// In place: x ← x·σ + μ per column (the terminal column is unchanged).
    pub fn denormalize(&self, vectors: &mut [f32]) {
        self.normalizer.denormalize(vectors);
    }
}

/// SynthER's training data from a dataset (method.md §8.1 "Data"): the normalized transition
/// vectors of its q-learning view (using `next_observations` when present), T = 1, one "window"
/// per transition, a zero condition (the residual MLP ignores it), no next-state row and so no
/// loss mask.
pub fn synther_train_data(
    dataset: &Dataset,
) -> Result<(TrainData, TransitionNormalizer), AugmentError> {
    let q = gta_data::qlearning(dataset, true)?;
    let n = q.rewards.len();
    if n < 2 {
        return Err(AugmentError::Config(format!(
            "synther: {}: at least 2 transitions expected, the q-learning view has {n}",
            dataset.source.display()
        )));
    }
    let (mut rows, obs, act) = transition_vectors(&q);
    let norm = TransitionNormalizer::fit(&rows, obs, act)?;
    norm.normalize(&mut rows);
    let data = TrainData {
        obs_dim: obs,
        act_dim: act,
        horizon: 1,
        transition_dim: norm.transition_dim(),
        rows,
        next_obs: Vec::new(),
        starts: (0..n as u32).collect(),
        cond: vec![0.0; n],
        cond_dim: 1,
        filler: Vec::new(),
    };
    Ok((data, norm))
}

/// A source of normalized transition vectors: `batch` rows (batch, D) for the given noise seed.
pub trait TransitionSource {
    /// Samples `batch` normalized transition vectors, row-major (batch, D).
    fn sample(&mut self, batch: usize, seed: u64) -> Result<Vec<f32>, AugmentError>;
}

/// The trained residual-MLP model (EMA weights) with the unguided sampler from pure noise
/// (method.md §8.1 "Generation"; §6.1–6.3 with μ = 1, w = 0).
pub struct EdmTransitionSource {
    net: Denoiser,
    device: Device,
    sigma_data: f64,
    sampler: SamplerConfig,
    width: usize,
}

impl EdmTransitionSource {
    /// A source for vectors of width `width` from `net` on `device`. The guidance scale of
    /// `sampler` is forced to 0: the model is unconditional.
    pub fn new(
        net: Denoiser,
        device: Device,
        sigma_data: f64,
        sampler: &SamplerConfig,
        width: usize,
    ) -> Self {
        Self {
            net,
            device,
            sigma_data,
            sampler: SamplerConfig {
                guidance_scale: 0.0,
                ..sampler.clone()
            },
            width,
        }
    }
}

impl TransitionSource for EdmTransitionSource {
    fn sample(&mut self, batch: usize, seed: u64) -> Result<Vec<f32>, AugmentError> {
        let x = Tensor::<3>::zeros([batch, 1, self.width], &self.device);
        // No condition is used (w = 0 asks only for D(x; σ, ∅)); the tensor only fixes the batch.
        let cond = Tensor::<2>::from_data(
            TensorData::new(vec![0.0f32; batch], [batch, 1]),
            &self.device,
        );
        self.device.seed(seed);
        let mut den = EdmGuidance::new(&self.net, self.sigma_data, cond, 0.0);
        sampler::sample(&self.sampler, &mut den, x, 1.0)
            .into_data()
            .try_to_vec::<f32>()
            .map_err(|e| AugmentError::Model(format!("reading generated transitions back: {e:?}")))
    }
}

/// What a SynthER generation produced.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SyntherReport {
    /// Generated transitions.
    pub transitions: usize,
    /// Batches sampled.
    pub batches: usize,
    /// Mean generated reward.
    pub reward_mean_generated: f64,
    /// Mean reward of the training data (from the stored normalizer).
    pub reward_mean_data: f64,
    /// Generated transitions flagged terminal.
    pub terminals: usize,
    /// Generated action entries outside [−1, 1] (not clipped).
    pub actions_out_of_range: u64,
}

/// Generates `cfg.transitions` transitions in batches of `cfg.batch` from `source`: batch k
/// uses the noise seed `derive_seed(cfg.seed, STREAM_SYNTHER, k)`, is un-normalized with
/// `norm`, checked to be finite and split with the terminal rule; `progress` is called after
/// every batch. The last batch is smaller so the count is exact.
pub fn generate<S: TransitionSource + ?Sized>(
    source: &mut S,
    norm: &TransitionNormalizer,
    cfg: &SyntherConfig,
    progress: &mut dyn FnMut(Progress),
) -> Result<(Transitions, SyntherReport), AugmentError> {
    cfg.validate()?;
    norm.validate()?;
    let (obs, act, d) = (norm.obs_dim, norm.act_dim, norm.transition_dim());
    let mut all = Transitions::default();
    let mut report = SyntherReport {
        reward_mean_data: norm.reward_mean(),
        ..Default::default()
    };
    let mut done = 0usize;
    while done < cfg.transitions {
        let k = report.batches;
        let b = cfg.batch.min(cfg.transitions - done);
        let seed = gta_diffusion::derive_seed(cfg.seed, STREAM_SYNTHER, k as u64);
        let mut raw = source.sample(b, seed)?;
        if raw.len() != b * d {
            return Err(AugmentError::Model(format!(
                "batch {k}: {} values expected ({b} × D = {d}), the model returned {}",
                b * d,
                raw.len()
            )));
        }
        norm.denormalize(&mut raw);
        if let Some(i) = raw.iter().position(|v| !v.is_finite()) {
            return Err(AugmentError::NonFinite {
                window: done + i / d,
                row: 0,
                column: i % d,
            });
        }
        let tr = split_transition_vectors(&raw, obs, act, cfg.terminal_threshold);
        all.observations.extend_from_slice(&tr.observations);
        all.actions.extend_from_slice(&tr.actions);
        all.rewards.extend_from_slice(&tr.rewards);
        all.next_observations
            .extend_from_slice(&tr.next_observations);
        all.terminals.extend_from_slice(&tr.terminals);
        done += b;
        report.batches += 1;
        progress(Progress {
            transitions_done: done,
            transitions_total: cfg.transitions,
            resumed: false,
        });
    }
    report.transitions = all.len();
    report.reward_mean_generated =
        all.rewards.iter().map(|&r| r as f64).sum::<f64>() / all.len().max(1) as f64;
    report.terminals = all.terminals.iter().filter(|&&t| t).count();
    report.actions_out_of_range = all.actions.iter().filter(|a| a.abs() > 1.0).count() as u64;
    Ok((all, report))
}

/// The SynthER output dataset: the D4RL columns `observations, actions, rewards,
/// next_observations, terminals, timeouts` (all false), and `metadata/{algorithm = "SynthER",
/// config, report, seed, dataset_sha256, model_sha256, gta_version}`. Consumes `tr` (no copy of
/// the columns).
pub fn synther_dataset(
    tr: Transitions,
    norm: &TransitionNormalizer,
    cfg: &SyntherConfig,
    report: &SyntherReport,
    provenance: &Provenance,
    path: &std::path::Path,
) -> Result<Dataset, AugmentError> {
    let (obs, act) = (norm.obs_dim, norm.act_dim);
    let n = tr.len();
    let mut ds = Dataset::new(path);
    let f = |v: Vec<f32>, w: usize| {
        let shape = if w == 0 { vec![n] } else { vec![n, w] };
        Array::new(shape, ArrayData::F32(v))
    };
    ds.insert("observations", f(tr.observations, obs));
    ds.insert("actions", f(tr.actions, act));
    ds.insert("rewards", f(tr.rewards, 0));
    ds.insert("next_observations", f(tr.next_observations, obs));
    ds.insert(
        "terminals",
        Array::new(vec![n], ArrayData::Bool(tr.terminals)),
    );
    ds.insert(
        "timeouts",
        Array::new(vec![n], ArrayData::Bool(vec![false; n])),
    );
    let config = toml::to_string(cfg).map_err(|e| AugmentError::Config(e.to_string()))?;
    let report = serde_json::to_string(report).unwrap_or_default();
    for (k, v) in [
        ("metadata/algorithm", "SynthER".to_string()),
        ("metadata/config", config),
        ("metadata/report", report),
        ("metadata/dataset_sha256", provenance.dataset_sha256.clone()),
        ("metadata/model_sha256", provenance.model_sha256.clone()),
        ("metadata/gta_version", provenance.gta_version.clone()),
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
    use gta_diffusion::sampler::GuidedDenoiser;

    /// A 2-episode dataset: obs 2, act 1, 6 rows, one terminal, next_observations present.
    fn tiny() -> Dataset {
        let mut ds = Dataset::new(std::path::Path::new("tiny"));
        let obs: Vec<f32> = (0..12).map(|i| i as f32 * 0.5).collect();
        let next: Vec<f32> = (0..12).map(|i| i as f32 * 0.5 + 1.0).collect();
        ds.insert("observations", Array::new(vec![6, 2], ArrayData::F32(obs)));
        ds.insert(
            "next_observations",
            Array::new(vec![6, 2], ArrayData::F32(next)),
        );
        let act: Vec<f32> = (0..6).map(|i| 0.1 * i as f32 - 0.2).collect();
        ds.insert("actions", Array::new(vec![6, 1], ArrayData::F32(act)));
        let rew: Vec<f32> = (0..6).map(|i| i as f32 * 2.0 - 3.0).collect();
        ds.insert("rewards", Array::new(vec![6], ArrayData::F32(rew)));
        let term = vec![false, false, true, false, false, false];
        ds.insert("terminals", Array::new(vec![6], ArrayData::Bool(term)));
        let tout = vec![false, false, false, false, false, true];
        ds.insert("timeouts", Array::new(vec![6], ArrayData::Bool(tout)));
        ds
    }

    #[test]
    fn transition_vectors_normalize_and_round_trip_with_the_terminal_left_raw() {
        let ds = tiny();
        let (data, norm) = synther_train_data(&ds).unwrap();
        // The q-learning view drops the timeout row: 5 transitions, D = 2·2 + 1 + 2 = 7.
        assert_eq!(
            (data.num_windows(), data.transition_dim, data.horizon),
            (5, 7, 1)
        );
        assert!(data.next_obs.is_empty() && !data.has_next_state_row());
        data.validate().unwrap();
        // Row 2 is [s, a, r, s′, 1]: s = (2, 2.5), a = 0.0, r = 1, s′ = (3, 3.5), terminal.
        let mut raw = data.rows.clone();
        norm.denormalize(&mut raw);
        let row2 = &raw[2 * 7..3 * 7];
        let want = [2.0, 2.5, 0.0, 1.0, 3.0, 3.5, 1.0];
        for (a, b) in row2.iter().zip(want) {
            assert!((a - b).abs() < 1e-5, "row 2 {row2:?} want {want:?}");
        }
        // The terminal column is 0/1 in normalized units too; the others have mean 0.
        let term: Vec<f32> = data.rows.iter().skip(6).step_by(7).copied().collect();
        assert_eq!(term, vec![0.0, 0.0, 1.0, 0.0, 0.0]);
        let reward_col: Vec<f32> = data.rows.iter().skip(3).step_by(7).copied().collect();
        assert!(reward_col.iter().sum::<f32>().abs() < 1e-5);
        // Unbiased std of the rewards (−3, −1, 1, 3, 5) is √10; normalized values are r/√10-ish.
        let sd = 10f32.sqrt();
        assert!((norm.normalizer.std[3] - sd).abs() < 1e-4);
        assert!((reward_col[0] - (-3.0 - 1.0) / sd).abs() < 1e-4);
        assert!((norm.reward_mean() - 1.0).abs() < 1e-6);
        // Normalize ∘ denormalize is the identity.
        let mut back = raw.clone();
        norm.normalize(&mut back);
        for (a, b) in back.iter().zip(&data.rows) {
            assert!((a - b).abs() < 1e-5);
        }
        // And the split of the raw vectors gives back the q-learning columns.
        let q = gta_data::qlearning(&ds, true).unwrap();
        let tr = split_transition_vectors(&raw, 2, 1, 0.5);
        assert_eq!(tr.terminals, q.dones);
        for (a, b) in tr.next_observations.iter().zip(&q.next_observations) {
            assert!((a - b).abs() < 1e-5);
        }
        for (a, b) in tr.rewards.iter().zip(&q.rewards) {
            assert!((a - b).abs() < 1e-5);
        }
    }

    #[test]
    fn terminal_rule_thresholds_at_one_half() {
        assert!(
            !terminal_flag(0.5, 0.5),
            "0.5 itself is not above the threshold"
        );
        assert!(terminal_flag(0.500_001, 0.5));
        assert!(!terminal_flag(-3.0, 0.5));
        assert!(terminal_flag(7.0, 0.5));
        assert!(!terminal_flag(f32::NAN, 0.5));
        // Crafted vectors (obs 1, act 1, D = 5): terminal values −0.2, 0.49, 0.51, 1.3.
        let raw = [
            0., 0., 0., 0., -0.2, //
            0., 0., 0., 0., 0.49, //
            0., 0., 0., 0., 0.51, //
            0., 0., 0., 0., 1.3,
        ];
        let tr = split_transition_vectors(&raw, 1, 1, 0.5);
        assert_eq!(tr.terminals, vec![false, false, true, true]);
    }

    /// Burn's CPU backend has one process-wide RNG: tests that seed it must not interleave.
    static DEVICE_RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

    /// Exact denoiser of N(m_j, s_j²) per column: D(x; σ) = m + s²/(s² + σ²)(x − m).
    struct Gaussian {
        mean: Tensor<3>,
        var: Tensor<3>,
    }

    impl Gaussian {
        fn exact(&self, x: Tensor<3>, sigma: f64) -> Tensor<3> {
            let b = x.dims()[0];
            let (m, v) = (
                self.mean.clone().repeat_dim(0, b),
                self.var.clone().repeat_dim(0, b),
            );
            let k = v.clone() / v.add_scalar(sigma * sigma);
            m.clone() + (x - m) * k
        }
    }

    impl GuidedDenoiser for Gaussian {
        fn denoise_pair(&mut self, x: Tensor<3>, sigma: f64) -> (Tensor<3>, Tensor<3>) {
            (self.exact(x.clone(), sigma), self.exact(x, sigma))
        }
        fn denoise_cond(&mut self, x: Tensor<3>, sigma: f64) -> Tensor<3> {
            self.exact(x, sigma)
        }
        fn denoise_uncond(&mut self, x: Tensor<3>, sigma: f64) -> Tensor<3> {
            self.exact(x, sigma)
        }
    }

    /// The full unguided sampler from pure noise on the exact Gaussian denoiser.
    struct AnalyticSource {
        den: Gaussian,
        device: Device,
        seeds: Vec<(usize, u64)>,
    }

    impl TransitionSource for AnalyticSource {
        fn sample(&mut self, batch: usize, seed: u64) -> Result<Vec<f32>, AugmentError> {
            self.seeds.push((batch, seed));
            let d = self.den.mean.dims()[2];
            self.device.seed(seed);
            let x = Tensor::<3>::zeros([batch, 1, d], &self.device);
            Ok(sampler::sample(&synther_sampler(), &mut self.den, x, 1.0)
                .into_data()
                .try_to_vec::<f32>()
                .unwrap())
        }
    }

    #[test]
    fn generator_writes_the_exact_count_with_thresholded_terminals_and_data_moments() {
        let _rng = DEVICE_RNG.lock().unwrap_or_else(|e| e.into_inner());
        let device = Device::flex();
        // obs 1, act 1, D = 5. Normalized model: column means (0, 0, 0.5, 0, 0.2), std (1, 1,
        // 0.5, 1, 0.3). The terminal column (mean 0.2, std 0.3) is left raw by the normalizer.
        let (m, s) = ([0.0f32, 0.0, 0.5, 0.0, 0.2], [1.0f32, 1.0, 0.5, 1.0, 0.3]);
        let t3 = |v: Vec<f32>| Tensor::<3>::from_data(TensorData::new(v, [1, 1, 5]), &device);
        let den = Gaussian {
            mean: t3(m.to_vec()),
            var: t3(s.iter().map(|x| x * x).collect()),
        };
        let norm = TransitionNormalizer {
            obs_dim: 1,
            act_dim: 1,
            normalizer: Normalizer {
                mean: vec![10.0, 0.0, 2.0, 10.0, 0.0],
                std: vec![2.0, 1.0, 4.0, 2.0, 1.0],
            },
        };
        let mut source = AnalyticSource {
            den,
            device,
            seeds: vec![],
        };
        let cfg = SyntherConfig {
            transitions: 2500,
            batch: 1000,
            seed: 3,
            ..SyntherConfig::default()
        };
        let mut calls = vec![];
        let (tr, report) = generate(&mut source, &norm, &cfg, &mut |p| {
            calls.push(p.transitions_done)
        })
        .unwrap();
        // Exact count in three batches (1000, 1000, 500), each with its own derived seed.
        assert_eq!(tr.len(), 2500);
        assert_eq!(tr.observations.len(), 2500);
        assert_eq!(calls, vec![1000, 2000, 2500]);
        let batches: Vec<usize> = source.seeds.iter().map(|s| s.0).collect();
        assert_eq!(batches, vec![1000, 1000, 500]);
        assert_ne!(source.seeds[0].1, source.seeds[1].1);
        assert_eq!(report.transitions, 2500);
        assert_eq!(report.batches, 3);
        // Reward column: raw = 2 + 4·N(0.5, 0.25) → mean 4, std 2 (se of the mean 0.04).
        let mean = tr.rewards.iter().map(|&r| r as f64).sum::<f64>() / 2500.0;
        let sd = (tr
            .rewards
            .iter()
            .map(|&r| (r as f64 - mean).powi(2))
            .sum::<f64>()
            / 2499.0)
            .sqrt();
        assert!((mean - 4.0).abs() < 0.15, "reward mean {mean}");
        assert!((sd - 2.0).abs() < 0.15, "reward std {sd}");
        assert!((report.reward_mean_generated - mean).abs() < 1e-9);
        assert!((report.reward_mean_data - 2.0).abs() < 1e-9);
        // States: raw = 10 + 2·N(0, 1) → mean 10.
        let s_mean = tr.observations.iter().map(|&v| v as f64).sum::<f64>() / 2500.0;
        assert!((s_mean - 10.0).abs() < 0.15, "state mean {s_mean}");
        // Terminal values ~ N(0.2, 0.3²) raw: P(v > 0.5) = P(z > 1) = 0.1587 (se 0.0073).
        let frac = report.terminals as f64 / 2500.0;
        assert_eq!(
            report.terminals,
            tr.terminals.iter().filter(|&&t| t).count()
        );
        assert!((frac - 0.1587).abs() < 0.03, "terminal fraction {frac}");
        // Actions ~ N(0, 1): P(|a| > 1) = 0.3173.
        let out = report.actions_out_of_range as f64 / 2500.0;
        assert!((out - 0.3173).abs() < 0.04, "actions out of range {out}");

        // The output file's layout and metadata.
        let prov = Provenance {
            dataset_sha256: "d".into(),
            model_sha256: "m".into(),
            gta_version: "v".into(),
        };
        let terminals = tr.terminals.clone();
        let ds =
            synther_dataset(tr, &norm, &cfg, &report, &prov, std::path::Path::new("x")).unwrap();
        assert_eq!(ds.check_layout().unwrap(), (2500, 1, 1));
        assert_eq!(ds.flags("terminals").unwrap().unwrap(), terminals);
        assert_eq!(ds.flags("timeouts").unwrap().unwrap(), vec![false; 2500]);
        assert!(
            matches!(&ds.arrays["metadata/algorithm"].data, ArrayData::Str(v) if v[0] == "SynthER")
        );
        assert!(matches!(&ds.arrays["metadata/seed"].data, ArrayData::U64(v) if v[0] == 3));
        assert!(!ds.arrays.contains_key("window_id"));
    }

    #[test]
    fn bad_settings_and_mismatched_normalizers_are_refused() {
        let norm = TransitionNormalizer {
            obs_dim: 2,
            act_dim: 1,
            normalizer: Normalizer {
                mean: vec![0.0; 6],
                std: vec![1.0; 6],
            },
        };
        let e = norm.validate().unwrap_err().to_string();
        assert!(e.contains("7 columns expected"), "{e}");
        for cfg in [
            SyntherConfig {
                transitions: 0,
                ..Default::default()
            },
            SyntherConfig {
                batch: 0,
                ..Default::default()
            },
        ] {
            let e = cfg.validate().unwrap_err().to_string();
            assert!(e.contains("transitions and batch"), "{e}");
        }
        let cfg = SyntherConfig::default();
        assert_eq!(
            (cfg.transitions, cfg.batch, cfg.terminal_threshold),
            (5_000_000, 100_000, 0.5)
        );
        assert_eq!(cfg.sampler.guidance_scale, 0.0);
        assert_eq!(cfg.sampler.num_steps, 128);
    }
}
