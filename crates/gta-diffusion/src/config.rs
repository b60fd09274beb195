//! The full, serde-able configuration of a diffusion training run (method.md §3–§5).

use serde::{Deserialize, Serialize};

use crate::denoiser::DenoiserConfig;
use crate::edm::EdmConfig;
use crate::ema::EmaConfig;
use crate::error::DiffusionError;
use crate::schedule::LrScheduleKind;

/// Model, EDM and optimisation settings of one run. Every default is the paper/reference value.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DiffusionConfig {
    /// The denoiser network F.
    pub model: DenoiserConfig,
    /// EDM constants and training condition dropout.
    pub edm: EdmConfig,
    /// Optimisation, schedule, EMA, checkpoints.
    pub train: TrainConfig,
}

/// Optimisation settings (method.md §5).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    /// Total optimizer steps (1,000,000).
    pub steps: u64,
    /// Global batch size (256).
    pub batch_size: usize,
    /// Peak learning rate (3e-4).
    pub lr: f64,
    /// Adam β1 (0.9).
    pub beta_1: f64,
    /// Adam β2 (0.99; burn's default is 0.999).
    pub beta_2: f64,
    /// Adam ε (1e-8; burn's default is 1e-5). Weight decay is 0, so AdamW = Adam.
    pub epsilon: f64,
    /// Global L2 gradient-norm clip (1.0).
    pub grad_clip: f64,
    /// LR schedule (`cosine_restarts`, the reference's).
    pub lr_schedule: LrScheduleKind,
    /// Restart period of `cosine_restarts`; `None` = steps / 10 (the reference).
    pub restart_period: Option<u64>,
    /// Linear warm-up steps of `warmup_cosine` (unused otherwise).
    pub warmup_steps: u64,
    /// EMA of the weights.
    pub ema: EmaConfig,
    /// Write a checkpoint every this many steps (200,000), and at the end.
    pub checkpoint_every: u64,
    /// Report loss / steps/s every this many steps (reading the loss syncs the device).
    pub log_every: u64,
    /// Run seed (42 in the reference): model init, window order, noise.
    pub seed: u64,
    /// Capture the optimizer step (forward, backward, clipping, Adam) as one CUDA graph and
    /// replay it every step (true). Applies on one CUDA device; the CPU and data-parallel
    /// training always launch op by op. The numbers are the same either way; the graph removes
    /// the host's cost per kernel launch (`docs/gpu.md`). `GTA_CUDA_GRAPH=0` turns it off too.
    pub cuda_graph: bool,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            steps: 1_000_000,
            batch_size: 256,
            lr: 3e-4,
            beta_1: 0.9,
            beta_2: 0.99,
            epsilon: 1e-8,
            grad_clip: 1.0,
            lr_schedule: LrScheduleKind::CosineRestarts,
            restart_period: None,
            warmup_steps: 10_000,
            ema: EmaConfig::default(),
            checkpoint_every: 200_000,
            log_every: 1_000,
            seed: 42,
            cuda_graph: true,
        }
    }
}

impl TrainConfig {
    /// The restart period P actually used.
    pub fn period(&self) -> u64 {
        self.restart_period.unwrap_or(self.steps / 10).max(1)
    }

    /// The learning rate of optimizer step `t` (0-based).
    pub fn lr_at(&self, t: u64) -> f64 {
        crate::schedule::learning_rate(
            self.lr_schedule,
            self.lr,
            t,
            self.steps,
            self.period(),
            self.warmup_steps,
        )
    }
}

impl DiffusionConfig {
    /// Checks value ranges; the message names the key.
    pub fn validate(&self) -> Result<(), DiffusionError> {
        let bad = |key, expected: String| Err(DiffusionError::Config { key, expected });
        let t = &self.train;
        if t.batch_size == 0 {
            return bad(
                "train.batch_size",
                "a positive batch size expected, got 0".into(),
            );
        }
        if !(t.lr > 0.0 && t.lr.is_finite()) {
            return bad(
                "train.lr",
                format!("a positive learning rate expected, got {}", t.lr),
            );
        }
        if !(0.0..1.0).contains(&t.beta_1) || !(0.0..1.0).contains(&t.beta_2) {
            return bad(
                "train.beta_1/beta_2",
                format!("values in [0, 1) expected, got {} / {}", t.beta_1, t.beta_2),
            );
        }
        if t.grad_clip.is_nan() || t.grad_clip <= 0.0 {
            return bad(
                "train.grad_clip",
                format!("a positive norm expected, got {}", t.grad_clip),
            );
        }
        if t.log_every == 0 || t.checkpoint_every == 0 {
            return bad(
                "train.log_every/checkpoint_every",
                "positive step counts expected".into(),
            );
        }
        if !(0.0..1.0).contains(&self.edm.cond_dropout) {
            return bad(
                "edm.cond_dropout",
                format!(
                    "a probability in [0, 1) expected, got {}",
                    self.edm.cond_dropout
                ),
            );
        }
        if !(self.edm.sigma_data > 0.0 && self.edm.p_std > 0.0) {
            return bad("edm.sigma_data/p_std", "positive values expected".into());
        }
        if let DenoiserConfig::MixerUnet(m) = &self.model {
            if m.dim == 0 || m.dim % m.final_groups != 0 {
                return bad(
                    "model.dim",
                    format!(
                        "a positive multiple of final_groups = {} expected, got {}",
                        m.final_groups, m.dim
                    ),
                );
            }
            if m.dim_mults.len() < 2 {
                return bad(
                    "model.dim_mults",
                    format!("at least two levels expected, got {:?}", m.dim_mults),
                );
            }
        }
        Ok(())
    }
}
