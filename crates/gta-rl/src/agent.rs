//! The interface every offline-RL algorithm implements, and the host copy of a trained actor
//! used for evaluation in the native envs (architecture sketch: `Agent`, `Policy`).

use std::path::Path;

use burn::tensor::Tensor;
use gta_data::Normalizer;
use gta_envs::{Policy, PolicyRng};

pub use crate::buffer::Batch;
use crate::error::RlError;
use crate::nets::Mlp;

/// Named, detached losses of one update as `(1,)` device tensors (nothing read back).
pub type Losses = Vec<(&'static str, Tensor<1>)>;

/// An offline-RL algorithm: networks, targets and optimizers.
pub trait Agent {
    /// One gradient update on `batch`. `step` is the number of earlier updates (it drives
    /// delayed actor updates and schedules); `seed` seeds this update's own noise.
    fn update(&mut self, batch: &Batch, step: u64, seed: u64) -> Losses;

    /// Deterministic actions for normalized states `(B, obs_dim)` → `(B, act_dim)`.
    fn act(&self, observations: Tensor<2>) -> Tensor<2>;

    /// The deterministic actor copied to the host (for evaluation rollouts).
    fn host_actor(&self) -> HostMlp;

    /// Every float parameter of the online and target networks, flattened to host f32 (reads
    /// the device; for tests and diagnostics).
    fn params(&self) -> Vec<Vec<f32>>;

    /// Writes networks, targets and optimizer states into the existing folder `dir`.
    fn save(&self, dir: &Path) -> Result<(), RlError>;

    /// Replaces networks, targets and optimizer states with those saved in `dir`.
    fn load(&mut self, dir: &Path) -> Result<(), RlError>;
}

/// A ReLU MLP on the host in f32: `y = tanh(x W + b) · scale` at the output when `tanh_scale`
/// is set. Hand-written because evaluation steps many small batches in parallel threads, where
/// a device round trip per env step would dominate.
#[derive(Clone, Debug, PartialEq)]
pub struct HostMlp {
    /// Per layer: weight `[in, out]` row-major, bias `[out]`.
    pub layers: Vec<(Vec<f32>, Vec<f32>)>,
    /// Layer widths `[in, h, …, out]`.
    pub sizes: Vec<usize>,
    /// Output `tanh(·)·scale` (the actor's `max_action`), or linear when `None`.
    pub tanh_scale: Option<f32>,
}

impl HostMlp {
    /// Copies a device [`Mlp`].
    pub fn from_mlp(mlp: &Mlp, tanh_scale: Option<f32>) -> Self {
        let read = |t: Tensor<2>| {
            t.into_data()
                .convert::<f32>()
                .try_to_vec::<f32>()
                .expect("f32")
        };
        let mut sizes = Vec::new();
        let mut layers = Vec::new();
        for (i, l) in mlp.layers.iter().enumerate() {
            let [d_in, d_out] = l.weight.dims();
            if i == 0 {
                sizes.push(d_in);
            }
            sizes.push(d_out);
            let bias = l
                .bias
                .as_ref()
                .map(|b| {
                    b.val()
                        .into_data()
                        .convert::<f32>()
                        .try_to_vec::<f32>()
                        .expect("f32")
                })
                .unwrap_or_else(|| vec![0.0; d_out]);
            layers.push((read(l.weight.val()), bias));
        }
        Self {
            layers,
            sizes,
            tanh_scale,
        }
    }

    /// Forward pass of `n` rows of `x` (row-major `n × in`).
    pub fn forward(&self, x: &[f32], n: usize) -> Vec<f32> {
        let mut h = x.to_vec();
        let last = self.layers.len() - 1;
        for (k, (w, b)) in self.layers.iter().enumerate() {
            let (d_in, d_out) = (self.sizes[k], self.sizes[k + 1]);
            let mut out = Vec::with_capacity(n * d_out);
            for row in h.chunks_exact(d_in).take(n) {
                let mut y = b.clone();
                for (xi, wrow) in row.iter().zip(w.chunks_exact(d_out)) {
                    for (yj, wij) in y.iter_mut().zip(wrow) {
                        *yj += xi * wij;
                    }
                }
                if k < last {
                    y.iter_mut().for_each(|v| *v = v.max(0.0));
                } else if let Some(scale) = self.tanh_scale {
                    y.iter_mut().for_each(|v| *v = v.tanh() * scale);
                }
                out.extend(y);
            }
            h = out;
        }
        h
    }
}

/// A deterministic actor for evaluation: normalizes raw env observations with the buffer's
/// statistics (method.md §9.1), then runs the host actor.
#[derive(Clone, Debug)]
pub struct HostPolicy {
    /// The actor.
    pub actor: HostMlp,
    /// The buffer's state statistics.
    pub normalizer: Normalizer,
}

impl Policy for HostPolicy {
    fn act_batch(&self, observations: &[f32], n: usize, _rngs: &mut [PolicyRng]) -> Vec<f32> {
        let mut x = observations.to_vec();
        self.normalizer.normalize(&mut x);
        self.actor.forward(&x, n)
    }
}
