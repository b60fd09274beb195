//! `GELU(x + b)` (exact, erf form) with the bias broadcast over the last axis, as one kernel
//! forward and one backward. burn runs GELU as five element-wise launches forward and about
//! seventeen backward, plus a separate bias add, over the MixerUnet's widest activations (the
//! temporal branch's 4·H hidden layer, four times the block's size); at the sampler's 2,000
//! rows per call those passes alone are ≈ 20 ms of a 58 ms forward (benchmarks/RESULTS.md).
//!
//! The backward uses the exact derivative `Φ(z) + z·φ(z)` (PyTorch's `nn.GELU()`, which the
//! reference trains with); burn's own `gelu_backward` differentiates the tanh approximation
//! instead, about 1e-3 off. The CPU forward repeats burn's composite `gelu` op for op.

use super::col_sum;
#[cfg(feature = "fusion")]
use burn::backend::fusion::custom::TensorSpec;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, TensorMetadata, backend_extension};
use burn::tensor::{Shape, Tensor};

/// `[N]` reshaped to broadcast against `[.., N]` of rank `rank`.
fn bcast<B: Backend>(p: FloatTensor<B>, rank: usize) -> FloatTensor<B> {
    let n = p.shape()[0];
    let dims: Vec<usize> = (0..rank)
        .map(|i| if i + 1 == rank { n } else { 1 })
        .collect();
    B::float_reshape(p, Shape::from(dims))
}

#[cfg(feature = "fusion")]
fn x_and_bias(x: &TensorSpec, b: &TensorSpec) -> (TensorSpec, TensorSpec) {
    (x.clone(), b.clone())
}

/// Fused bias + exact GELU as a backend op with a hand-written backward.
#[backend_extension(
    Cube: cfg(feature = "cuda"),
    Flex: cfg(all()),
    Autodiff,
    Fusion: cfg(feature = "fusion")
)]
pub trait BiasGeluOps: Backend {
    /// `GELU(x + b)`, `x: [.., N]`, `b: [N]`.
    #[fusion(dtype = x, shape = x)]
    fn bias_gelu(x: FloatTensor<Self>, bias: FloatTensor<Self>) -> FloatTensor<Self> {
        let rank = x.shape().num_dims();
        let z = Self::float_add(x, bcast::<Self>(bias, rank));
        // burn's `gelu`, op for op: z·(erf(z/√2) + 1)/2.
        let e = Self::float_erf(Self::float_div_scalar(
            z.clone(),
            core::f32::consts::SQRT_2.into(),
        ));
        let e = Self::float_add_scalar(e, 1f32.into());
        Self::float_div_scalar(Self::float_mul(z, e), 2f32.into())
    }

    /// `(dx, db)` from `dy`: `dx = dy·(Φ(z) + z·φ(z))` with `z = x + b`, `db = Σ_rows dx`.
    #[fusion(meta = |_dy, x, b| x_and_bias(x, b))]
    fn bias_gelu_backward(
        dy: FloatTensor<Self>,
        x: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let rank = x.shape().num_dims();
        let z = Self::float_add(x, bcast::<Self>(bias, rank));
        let cdf = Self::float_mul_scalar(
            Self::float_add_scalar(
                Self::float_erf(Self::float_mul_scalar(
                    z.clone(),
                    core::f32::consts::FRAC_1_SQRT_2.into(),
                )),
                1f32.into(),
            ),
            0.5f32.into(),
        );
        // φ(z) = exp(−z²/2)/√(2π).
        let pdf = Self::float_mul_scalar(
            Self::float_exp(Self::float_mul_scalar(
                Self::float_mul(z.clone(), z.clone()),
                (-0.5f32).into(),
            )),
            0.398_942_3_f32.into(),
        );
        let slope = Self::float_add(cdf, Self::float_mul(z, pdf));
        let dx = Self::float_mul(dy, slope);
        (dx.clone(), col_sum::<Self>(dx))
    }
}

impl BiasGeluOps for burn::backend::Flex {}

/// `GELU(x + bias)` over the last axis of `x` (`bias: [N]`), differentiable in both; one kernel
/// each way on CUDA.
pub fn bias_gelu<const D: usize>(x: Tensor<D>, bias: Tensor<1>) -> Tensor<D> {
    Tensor::from_dispatch(Dispatch::bias_gelu(x.into_dispatch(), bias.into_dispatch()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;
    use burn::tensor::activation::gelu;

    /// Forward equals burn's `gelu(x + b)` exactly on the CPU; the gradients equal the exact
    /// derivative Φ(z) + z·φ(z), computed independently on the host in f64 (libm's erf).
    #[test]
    fn forward_matches_burn_and_gradients_match_finite_differences() {
        let device = burn::tensor::Device::flex().autodiff();
        device.seed(3);
        let x0 = Tensor::<3>::random([2, 3, 5], Distribution::Normal(0.0, 1.5), &device);
        let b0 = Tensor::<1>::random([5], Distribution::Normal(0.0, 1.0), &device);
        let w = Tensor::<3>::random([2, 3, 5], Distribution::Normal(0.0, 1.0), &device);

        let reference = gelu(x0.clone() + b0.clone().reshape([1, 1, 5]));
        let (x, b) = (x0.clone().require_grad(), b0.clone().require_grad());
        let y = bias_gelu(x.clone(), b.clone());
        assert_eq!(y.clone().into_data(), reference.into_data());

        let grads = (y * w.clone()).sum().backward();
        let dx: Vec<f32> = x.grad(&grads).unwrap().into_data().try_to_vec().unwrap();
        let db: Vec<f32> = b.grad(&grads).unwrap().into_data().try_to_vec().unwrap();

        // Host reference: d/dz of GELU(z) = z·Φ(z) is Φ(z) + z·φ(z) (f64, libm's erf).
        let xs: Vec<f32> = x0.into_data().try_to_vec().unwrap();
        let bs: Vec<f32> = b0.into_data().try_to_vec().unwrap();
        let ws: Vec<f32> = w.into_data().try_to_vec().unwrap();
        let slope_of = |z: f64| {
            let cdf = 0.5 * (1.0 + libm::erf(z / std::f64::consts::SQRT_2));
            let pdf = (-0.5 * z * z).exp() / (2.0 * std::f64::consts::PI).sqrt();
            cdf + z * pdf
        };
        let mut db_ref = [0f64; 5];
        for (i, ((&xi, &wi), &dxi)) in xs.iter().zip(&ws).zip(&dx).enumerate() {
            let z = xi as f64 + bs[i % 5] as f64;
            let want = wi as f64 * slope_of(z);
            assert!((dxi as f64 - want).abs() < 2e-5, "dx[{i}] {dxi} vs {want}");
            db_ref[i % 5] += want;
        }
        for (j, (&got, want)) in db.iter().zip(db_ref).enumerate() {
            assert!((got as f64 - want).abs() < 1e-4, "db[{j}] {got} vs {want}");
        }
    }
}
