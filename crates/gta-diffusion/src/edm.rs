//! EDM preconditioning, training-noise distribution and the masked loss (method.md §4).

use burn::tensor::{Device, FloatDType, Tensor, TensorData};
use rand::{Rng, RngExt};
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

use crate::denoiser::Denoiser;

/// EDM constants (method.md §4) and the training-time condition dropout (§3.2).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EdmConfig {
    /// σ_data (1.0; EDM's own default is 0.5).
    pub sigma_data: f64,
    /// Mean of ln σ during training, P_mean (−1.2).
    pub p_mean: f64,
    /// Std of ln σ during training, P_std (1.2).
    pub p_std: f64,
    /// Per-sample condition-dropout probability in training, p_drop (0.25).
    pub cond_dropout: f64,
}

impl Default for EdmConfig {
    fn default() -> Self {
        Self {
            sigma_data: 1.0,
            p_mean: -1.2,
            p_std: 1.2,
            cond_dropout: 0.25,
        }
    }
}

/// Preconditioning coefficients for one σ (method.md §4 table), in f64 closed form.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Precond {
    /// c_skip = σ_d² / (σ² + σ_d²).
    pub c_skip: f64,
    /// c_out = σ·σ_d / √(σ² + σ_d²).
    pub c_out: f64,
    /// c_in = 1 / √(σ² + σ_d²).
    pub c_in: f64,
    /// c_noise = ¼ ln σ (σ clamped at 1e-20).
    pub c_noise: f64,
    /// Loss weight λ(σ) = (σ² + σ_d²) / (σ·σ_d)².
    pub weight: f64,
}

impl Precond {
    /// Coefficients for noise level `sigma` and data scale `sigma_data`.
    pub fn new(sigma: f64, sigma_data: f64) -> Self {
        let s2 = sigma * sigma + sigma_data * sigma_data;
        Self {
            c_skip: sigma_data * sigma_data / s2,
            c_out: sigma * sigma_data / s2.sqrt(),
            c_in: 1.0 / s2.sqrt(),
            c_noise: 0.25 * sigma.max(1e-20).ln(),
            weight: s2 / (sigma * sigma_data).powi(2),
        }
    }
}

/// The same coefficients as device tensors for a batch of σ, each shaped (B, 1, 1)
/// (c_noise (B, 1)); computed on the device so that no host round trip is needed.
struct PrecondTensors {
    c_skip: Tensor<3>,
    c_out: Tensor<3>,
    c_in: Tensor<3>,
    c_noise: Tensor<2>,
}

fn precond_tensors(sigma: &Tensor<1>, sigma_data: f64) -> PrecondTensors {
    let b = sigma.dims()[0];
    let sd2 = sigma_data * sigma_data;
    let s2 = sigma.clone().powi_scalar(2) + sd2;
    let root = s2.clone().sqrt();
    PrecondTensors {
        c_skip: s2.recip().mul_scalar(sd2).reshape([b, 1, 1]),
        c_out: (sigma.clone() * sigma_data / root.clone()).reshape([b, 1, 1]),
        c_in: root.recip().reshape([b, 1, 1]),
        c_noise: sigma
            .clone()
            .clamp_min(1e-20)
            .log()
            .mul_scalar(0.25)
            .reshape([b, 1]),
    }
}

/// D(x; σ, c) = c_skip·x + c_out·F(c_in·x, c_noise, c) (method.md §4). `sigma` is (B,).
pub fn denoise(
    net: &Denoiser,
    x: Tensor<3>,
    sigma: &Tensor<1>,
    sigma_data: f64,
    cond: Option<Tensor<2>>,
    cond_keep: Option<Tensor<2>>,
) -> Tensor<3> {
    let p = precond_tensors(sigma, sigma_data);
    // Mixed precision (a network cast by `Denoiser::cast`): only F runs in the network's dtype;
    // x, σ, the coefficients and the result stay in x's.
    let (state, weights) = (x.dtype(), net.float_dtype());
    let input = x.clone() * p.c_in;
    let input = if weights == state {
        input
    } else {
        input.cast(FloatDType::from(weights))
    };
    let f = net.forward(input, p.c_noise, cond, cond_keep);
    let f = if weights == state {
        f
    } else {
        f.cast(FloatDType::from(state))
    };
    x * p.c_skip + f * p.c_out
}

/// Loss mask M (T, D): ones except row T−1, columns obs_dim … D−1 (the filler action and
/// reward of the next-state row; method.md §4 step 4). `obs_dim = None` gives all ones (SynthER).
pub fn loss_mask(
    horizon: usize,
    transition_dim: usize,
    obs_dim: Option<usize>,
    device: &Device,
) -> Tensor<2> {
    let mut m = vec![1.0f32; horizon * transition_dim];
    if let Some(obs) = obs_dim {
        let last = (horizon - 1) * transition_dim;
        m[last + obs..last + transition_dim]
            .iter_mut()
            .for_each(|v| *v = 0.0);
    }
    Tensor::from_data(TensorData::new(m, [horizon, transition_dim]), device)
}

/// The random draws of one training step, made on the host from an explicit generator.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainNoise {
    /// σ per sample, ln σ ~ N(P_mean, P_std²); (B,).
    pub sigma: Vec<f32>,
    /// n ~ N(0, I); (B, T, D) row-major.
    pub noise: Vec<f32>,
    /// Condition keep mask m ~ Bernoulli(1 − p_drop); (B,).
    pub keep: Vec<f32>,
}

impl TrainNoise {
    /// Draws σ, n and the dropout mask for a batch of `batch` windows of shape (T, D).
    pub fn draw<R: Rng>(
        rng: &mut R,
        cfg: &EdmConfig,
        batch: usize,
        horizon: usize,
        width: usize,
    ) -> Self {
        let sigma = (0..batch)
            .map(|_| {
                let z: f64 = rng.sample(StandardNormal);
                (cfg.p_mean + cfg.p_std * z).exp() as f32
            })
            .collect();
        let noise = (0..batch * horizon * width)
            .map(|_| rng.sample::<f32, _>(StandardNormal))
            .collect();
        let keep = (0..batch)
            .map(|_| {
                if rng.random::<f64>() < cfg.cond_dropout {
                    0.0
                } else {
                    1.0
                }
            })
            .collect();
        Self { sigma, noise, keep }
    }
}

/// Masked, weighted EDM loss (method.md §4 steps 1–7): x = x0 + σ·n; per-sample mean over all
/// T·D elements of M ⊙ (D(x; σ, c) − x0)², times λ(σ), mean over the batch. Returns a (1,) tensor.
///
/// `cond_keep` is the condition-dropout mask (pass `None` to disable dropout).
#[allow(clippy::too_many_arguments)]
pub fn edm_loss(
    net: &Denoiser,
    x0: Tensor<3>,
    sigma: Tensor<1>,
    noise: Tensor<3>,
    cond: Option<Tensor<2>>,
    cond_keep: Option<Tensor<2>>,
    mask: Tensor<2>,
    sigma_data: f64,
) -> Tensor<1> {
    let [b, t, d] = x0.dims();
    let x = x0.clone() + noise * sigma.clone().reshape([b, 1, 1]);
    let denoised = denoise(net, x, &sigma, sigma_data, cond, cond_keep);
    let sq = (denoised - x0).powi_scalar(2) * mask.reshape([1, t, d]);
    let per_sample = sq.reshape([b, t * d]).mean_dim(1).reshape([b]);
    let sd2 = sigma_data * sigma_data;
    let s2 = sigma.powi_scalar(2);
    let weight = (s2.clone() + sd2) / s2.mul_scalar(sd2);
    (per_sample * weight).mean()
}
