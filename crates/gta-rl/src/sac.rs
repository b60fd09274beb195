//! Soft-actor-critic building blocks shared by CQL and MCQ (method.md §9.3): the tanh-squashed
//! Gaussian policy's sample and log-probability, a learnable log-temperature scalar, the host
//! noise streams (seeded, explicit, so tests can pass their own draws), and the CORL
//! initialisers (orthogonal, Xavier-uniform).

use std::f64::consts::LN_2;

use burn::module::{Module, Param};
use burn::tensor::activation::softplus;
use burn::tensor::{Device, Tensor, TensorData};
use rand::{Rng, RngExt};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

use crate::agent::HostMlp;
use crate::nets::{Mlp, TwinCritic};

/// `½·ln(2π)`, the Gaussian normaliser per dimension.
pub const HALF_LN_2PI: f64 = 0.918_938_533_204_672_8;

/// `log(1 − tanh²(u)) = 2·(ln 2 − u − softplus(−2u))`, the tanh change-of-variables term in
/// the numerically stable form of PyTorch's `TanhTransform.log_abs_det_jacobian` (finite for
/// every `u`, unlike `log(1 − tanh²u)` once `tanh u` rounds to ±1).
pub fn tanh_log_det(u: Tensor<2>) -> Tensor<2> {
    (softplus(u.clone().mul_scalar(-2.0), 1.0) + u)
        .neg()
        .add_scalar(LN_2)
        .mul_scalar(2.0)
}

/// Splits a Gaussian policy head's `(B, 2A)` output into `(mean, raw log σ)`, each `(B, A)`
/// (first half mean, second half log σ before any clamping or scaling).
pub fn split_mean_log_std(out: Tensor<2>) -> (Tensor<2>, Tensor<2>) {
    let [b, two_a] = out.dims();
    let a = two_a / 2;
    (out.clone().slice([0..b, 0..a]), out.slice([0..b, a..two_a]))
}

/// Reparameterised sample of `tanh(N(mean, exp(log_std)²))` with standard-normal `eps`:
/// `u = mean + exp(log_std)·eps`, returns `(tanh(u), log π(tanh u))` with the log-probability
/// summed over action dimensions, `(B, 1)`:
/// `Σ_j [−½ε_j² − log σ_j − ½ ln 2π − log(1 − tanh² u_j)]` (CORL `ReparameterizedTanhGaussian`;
/// `(u − mean)/σ = ε` exactly, so the Gaussian term is written in `ε`). `log_std` must be
/// clamped by the caller. The action is **not** scaled by max_action.
pub fn tanh_gaussian_sample(
    mean: Tensor<2>,
    log_std: Tensor<2>,
    eps: Tensor<2>,
) -> (Tensor<2>, Tensor<2>) {
    let [_, a] = eps.dims();
    let u = mean + log_std.clone().exp() * eps.clone();
    let gauss = eps.square().mul_scalar(-0.5) - log_std;
    let log_prob = (gauss - tanh_log_det(u.clone()))
        .sum_dim(1)
        .sub_scalar(HALF_LN_2PI * a as f64);
    (u.tanh(), log_prob)
}

/// `log N(u; mean, exp(log_std)²)` summed over dimensions: `(B, 1)`.
pub fn gaussian_log_prob(u: Tensor<2>, mean: Tensor<2>, log_std: Tensor<2>) -> Tensor<2> {
    let [_, a] = u.dims();
    let z = (u - mean) / log_std.clone().exp();
    (z.square().mul_scalar(-0.5) - log_std)
        .sum_dim(1)
        .sub_scalar(HALF_LN_2PI * a as f64)
}

/// A learnable scalar `log α` (SAC temperature, CQL's α′), shape `(1,)`.
#[derive(Module, Debug)]
pub struct LogScalar {
    /// The value `log α`.
    pub value: Param<Tensor<1>>,
}

impl LogScalar {
    /// A scalar initialised to `init`.
    pub fn new(init: f64, device: &Device) -> Self {
        Self {
            value: Param::from_tensor(Tensor::from_floats([init as f32], device)),
        }
    }

    /// `exp(log α)`: `(1,)`.
    pub fn exp(&self) -> Tensor<1> {
        self.value.val().exp()
    }
}

/// SAC's automatic entropy tuning loss `−mean(log α · (log π + target_entropy))` with `log π`
/// detached (CORL `_alpha_and_alpha_loss`, OfflineRL-Kit `SACPolicy.learn`): `(1,)`.
pub fn temperature_loss(
    log_alpha: &LogScalar,
    log_pi: Tensor<2>,
    target_entropy: f64,
) -> Tensor<1> {
    let w = log_pi.detach().add_scalar(target_entropy).mean();
    (log_alpha.value.val() * w).neg()
}

/// `n` standard-normal draws from `rng` (f32).
pub fn normals(rng: &mut ChaCha8Rng, n: usize) -> Vec<f32> {
    (0..n)
        .map(|_| rng.sample::<f32, _>(StandardNormal))
        .collect()
}

/// `n` draws of U(lo, hi) from `rng` (f32).
pub fn uniforms(rng: &mut ChaCha8Rng, n: usize, lo: f32, hi: f32) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(lo..hi)).collect()
}

/// An inverted-dropout mask: each entry is `1/(1 − p)` with probability `1 − p`, else 0.
/// Hand-written rather than burn's `Dropout` so the draw comes from the step's seeded host
/// stream (burn's device RNG is process-global, breaking exact resume). Four 16-bit
/// comparisons per 64-bit draw keep the host cost low; `p` is quantised to 1/65536.
pub fn dropout_mask(rng: &mut ChaCha8Rng, n: usize, p: f64) -> Vec<f32> {
    let threshold = (p * 65536.0).round() as u32;
    let keep = (1.0 / (1.0 - p)) as f32;
    let mut out = Vec::with_capacity(n + 3);
    while out.len() < n {
        let bits = rng.next_u64();
        for k in 0..4 {
            let v = ((bits >> (16 * k)) & 0xffff) as u32;
            out.push(if v < threshold { 0.0 } else { keep });
        }
    }
    out.truncate(n);
    out
}

/// Uploads `v` as a `(rows, cols)` tensor.
pub fn upload(v: Vec<f32>, rows: usize, cols: usize, device: &Device) -> Tensor<2> {
    Tensor::from_data(TensorData::new(v, [rows, cols]), device)
}

/// PyTorch's `nn.init.orthogonal_(W, gain)` for a `Linear(d_in, d_out)` weight, returned in
/// burn's `[in, out]` row-major layout: a standard-normal `max × min` matrix is QR-decomposed
/// (modified Gram–Schmidt, whose R has a positive diagonal, as PyTorch's sign fix gives) and
/// `gain·Q` is laid out so that `W (out × in)` has orthonormal rows or columns. Hand-written:
/// a few lines, and no linear-algebra crate is in the workspace.
pub fn orthogonal(rng: &mut ChaCha8Rng, d_in: usize, d_out: usize, gain: f64) -> Vec<f32> {
    let (n, m) = (d_in.max(d_out), d_in.min(d_out));
    // Columns of the tall n × m matrix.
    let mut cols: Vec<Vec<f64>> = (0..m)
        .map(|_| {
            (0..n)
                .map(|_| rng.sample::<f64, _>(StandardNormal))
                .collect()
        })
        .collect();
    for j in 0..m {
        let (done, rest) = cols.split_at_mut(j);
        let c = &mut rest[0];
        for q in done.iter() {
            let r: f64 = q.iter().zip(c.iter()).map(|(a, b)| a * b).sum();
            c.iter_mut().zip(q).for_each(|(x, qi)| *x -= r * qi);
        }
        let norm = c.iter().map(|x| x * x).sum::<f64>().sqrt();
        c.iter_mut().for_each(|x| *x /= norm);
    }
    // Q[row][col] = cols[col][row]. W (out × in) is Q when out ≥ in, else Qᵀ; our layout is
    // Wᵀ, i.e. out[i][o] = W[o][i].
    let mut w = vec![0.0f32; d_in * d_out];
    for i in 0..d_in {
        for o in 0..d_out {
            let v = if d_out >= d_in {
                cols[i][o]
            } else {
                cols[o][i]
            };
            w[i * d_out + o] = (gain * v) as f32;
        }
    }
    w
}

/// Xavier-uniform `U(±gain·√(6/(in + out)))`, `[in, out]` layout (PyTorch
/// `nn.init.xavier_uniform_`).
pub fn xavier_uniform(rng: &mut ChaCha8Rng, d_in: usize, d_out: usize, gain: f64) -> Vec<f32> {
    let k = (gain * (6.0 / (d_in + d_out) as f64).sqrt()) as f32;
    (0..d_in * d_out).map(|_| rng.random_range(-k..k)).collect()
}

/// Replaces layer `k` of `mlp` with weight `w` (`[in, out]`) and a zero bias.
pub fn set_layer(mlp: &mut Mlp, k: usize, w: Vec<f32>, device: &Device) {
    let [d_in, d_out] = mlp.layers[k].weight.dims();
    mlp.layers[k].weight =
        Param::from_tensor(Tensor::from_data(TensorData::new(w, [d_in, d_out]), device));
    mlp.layers[k].bias = Some(Param::from_tensor(Tensor::zeros([d_out], device)));
}

/// Twin critics with CORL's `orthogonal_init = True`: hidden layers orthogonal with gain √2,
/// the output layer orthogonal with gain 1e-2, all biases zero (CORL `init_module_weights`).
pub fn orthogonal_twin_critic(
    sizes: &[usize],
    rng: &mut ChaCha8Rng,
    device: &Device,
) -> TwinCritic {
    let mut weights = Vec::new();
    let mut biases = Vec::new();
    let last = sizes.len() - 2;
    for (k, w) in sizes.windows(2).enumerate() {
        let gain = if k == last { 1e-2 } else { 2f64.sqrt() };
        let mut v = orthogonal(rng, w[0], w[1], gain);
        v.extend(orthogonal(rng, w[0], w[1], gain));
        weights.push(Param::from_tensor(Tensor::from_data(
            TensorData::new(v, [2, w[0], w[1]]),
            device,
        )));
        biases.push(Param::from_tensor(Tensor::zeros([2, 1, w[1]], device)));
    }
    TwinCritic { weights, biases }
}

/// The host copy of a tanh-Gaussian actor's deterministic action `max_action·tanh(mean)`:
/// `mlp` outputs `[mean, log_std]` (`2·act_dim` columns); only the mean head is kept.
pub fn host_mean_actor(mlp: &Mlp, act_dim: usize, max_action: f64) -> HostMlp {
    let mut host = HostMlp::from_mlp(mlp, Some(max_action as f32));
    let k = host.layers.len() - 1;
    let d_in = host.sizes[k];
    let two_a = host.sizes[k + 1];
    let (w, b) = &host.layers[k];
    let w: Vec<f32> = w
        .chunks_exact(two_a)
        .take(d_in)
        .flat_map(|row| row[..act_dim].to_vec())
        .collect();
    let b = b[..act_dim].to_vec();
    host.layers[k] = (w, b);
    host.sizes[k + 1] = act_dim;
    host
}
