//! SynthER's residual-MLP denoiser for single transitions (method.md §8.1), the baseline.

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::activation::{relu, silu};
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::embedding::RandomFourierEmbedding;

/// Residual-MLP hyper-parameters (method.md §8.1); defaults are SynthER's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResMlpConfig {
    /// Transition width D = 2·obs + act + 2 (42 for halfcheetah). Set from the data.
    pub transition_dim: usize,
    /// Width of the input projection and time embedding (128).
    pub dim_t: usize,
    /// Width of the residual trunk (2048).
    pub width: usize,
    /// Number of residual blocks (6).
    pub depth: usize,
    /// Frozen random Fourier frequencies (8, giving 17 features).
    pub rff_frequencies: usize,
}

impl Default for ResMlpConfig {
    fn default() -> Self {
        Self {
            transition_dim: 42,
            dim_t: 128,
            width: 2048,
            depth: 6,
            rff_frequencies: 8,
        }
    }
}

impl ResMlpConfig {
    /// Builds the network with PyTorch-default init.
    pub fn init(&self, device: &Device) -> ResMlp {
        let lin = |i, o| LinearConfig::new(i, o).init(device);
        let rff = RandomFourierEmbedding::new(self.rff_frequencies, device);
        let rff_out = rff.output_dim();
        ResMlp {
            time_rff: rff,
            time_fc1: lin(rff_out, self.dim_t),
            time_fc2: lin(self.dim_t, self.dim_t),
            proj: lin(self.transition_dim, self.dim_t),
            input: lin(self.dim_t, self.width),
            blocks: (0..self.depth)
                .map(|_| lin(self.width, self.width))
                .collect(),
            output: lin(self.width, self.transition_dim),
        }
    }
}

/// `x ← proj(x) + time_mlp(c_noise)`, `Linear(dim_t → width)`, `depth × (x + Linear(ReLU(x)))`,
/// `Linear(ReLU(x))` back to D (method.md §8.1; LayerNorm off). Unconditional.
#[derive(Module, Debug)]
pub struct ResMlp {
    /// Frozen RFF of c_noise.
    pub time_rff: RandomFourierEmbedding,
    /// Linear(2k+1 → dim_t).
    pub time_fc1: Linear,
    /// Linear(dim_t → dim_t) after SiLU.
    pub time_fc2: Linear,
    /// Linear(D → dim_t).
    pub proj: Linear,
    /// Linear(dim_t → width).
    pub input: Linear,
    /// Residual blocks Linear(width → width).
    pub blocks: Vec<Linear>,
    /// Linear(width → D).
    pub output: Linear,
}

impl ResMlp {
    /// Trainable parameters (all but the frozen RFF frequencies).
    pub fn num_trainable_params(&self) -> usize {
        self.num_params() - self.time_rff.num_frequencies()
    }

    /// x (B, 1, D), c_noise (B, 1) → (B, 1, D).
    pub fn forward(&self, x: Tensor<3>, c_noise: Tensor<2>) -> Tensor<3> {
        let [b, t, d] = x.dims();
        let t_emb = self
            .time_fc2
            .forward(silu(self.time_fc1.forward(self.time_rff.forward(c_noise))));
        let mut h = self.proj.forward(x.reshape([b * t, d])) + t_emb;
        h = self.input.forward(h);
        for block in &self.blocks {
            h = h.clone() + block.forward(relu(h));
        }
        self.output.forward(relu(h)).reshape([b, t, d])
    }
}
