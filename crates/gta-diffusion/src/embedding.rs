//! Random-Fourier-feature noise embedding shared by both denoisers (method.md §3.2, §8.1).

use burn::module::{Module, Param};
use burn::tensor::{Device, Distribution, Tensor};

/// `emb = [x, sin(2π x w), cos(2π x w)]` with `w ∈ R^k ~ N(0, 1)` frozen (method.md §3.2).
///
/// The frequencies are a parameter with gradients switched off, so they are saved with the
/// model (and follow the EMA like the reference's constant buffers) but never trained.
#[derive(Module, Debug)]
pub struct RandomFourierEmbedding {
    /// The `k` frozen frequencies `w` (reference name `time_mlp.0.weights`).
    pub weights: Param<Tensor<1>>,
}

impl RandomFourierEmbedding {
    /// Draws `k` frequencies from N(0, 1) with the device's seeded generator.
    pub fn new(k: usize, device: &Device) -> Self {
        let w = Tensor::<1>::random([k], Distribution::Normal(0.0, 1.0), device);
        Self::from_weights(w)
    }

    /// Wraps given frequencies as a frozen parameter.
    pub fn from_weights(w: Tensor<1>) -> Self {
        Self {
            weights: Param::from_tensor(w).set_require_grad(false),
        }
    }

    /// Number of frozen frequencies `k`.
    pub fn num_frequencies(&self) -> usize {
        self.weights.lazy_shape().num_elements()
    }

    /// Output width `2k + 1`.
    pub fn output_dim(&self) -> usize {
        2 * self.num_frequencies() + 1
    }

    /// `x`: (B, 1) noise input `c_noise`; returns (B, 2k + 1) in the order `[x, sin, cos]`.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let k = self.num_frequencies();
        let w = self.weights.val().detach().reshape([1, k]);
        let freqs = x.clone().matmul(w) * (2.0 * std::f64::consts::PI);
        Tensor::cat(vec![x, freqs.clone().sin(), freqs.cos()], 1)
    }
}
