//! LayerNorm over the last axis for short rows (H ≤ [`SHORT_ROW_MAX`]): the temporal branch of
//! every MixerBlock normalizes B·C·W rows of H = 4…32 values (method.md §3.3), which burn's
//! composite LayerNorm turns into a dozen launches and slow short-row reductions. The CUDA
//! kernel (`layer_norm_cube.rs`) does one row per thread with f32 statistics, forward and
//! backward; measured 9.3× faster than the composite on an H100 in the probe this comes from
//! (`../shared/probe/fused_layernorm/`).

use super::col_sum;
#[cfg(feature = "fusion")]
use burn::backend::fusion::custom::TensorSpec;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, TensorMetadata, backend_extension};
use burn::tensor::{Shape, Tensor};

/// Longest row of the one-row-per-thread kernel (its loops are unrolled at compile time);
/// longer rows (the MixerUnet's feature rows of C·W = 240…6144) run one 32-lane plane per row.
pub const SHORT_ROW_MAX: usize = 128;

/// `(rows, n)` of a LayerNorm of `x` over the trailing axes that together hold `n` (γ's length)
/// values: the last axis, or the last two (a feature row C·W read from a (B, H, C, W) view).
/// Panics if no such trailing axes exist.
pub(crate) fn rows_n(shape: &Shape, n: usize) -> (usize, usize) {
    let d = shape.num_dims();
    let last = shape[d - 1];
    assert!(
        last == n || (d >= 2 && last * shape[d - 2] == n),
        "short_layer_norm: γ has {n} values but x's trailing axes are {shape:?}"
    );
    (shape.num_elements() / n, n)
}

/// Values per (b, c) row of an InstanceNorm input `[B, C, …]` (one or two trailing axes).
pub(crate) fn channel_row(shape: &Shape) -> usize {
    let d = shape.num_dims();
    assert!(
        (3..=4).contains(&d),
        "channel_norm: x must be [B, C, L] or [B, C, H, W], got {shape:?}"
    );
    shape.num_elements() / (shape[0] * shape[1])
}

/// Shape of the per-row statistics: `[rows, 1]`.
#[cfg_attr(not(feature = "cuda"), allow(dead_code))]
pub(crate) fn stats_shape(shape: &Shape, n: usize) -> Shape {
    Shape::from(vec![rows_n(shape, n).0, 1])
}

#[cfg(feature = "fusion")]
fn stats_spec(x: &TensorSpec, g: &TensorSpec) -> TensorSpec {
    TensorSpec::new(stats_shape(&x.shape, g.shape.num_elements()), x.dtype)
}

/// `x` as `[rows, n]` (a copy when the trailing axes are a strided view).
fn as_rows<B: Backend>(x: FloatTensor<B>, n: usize) -> FloatTensor<B> {
    let rows = rows_n(&x.shape(), n).0;
    B::float_reshape(x, Shape::from(vec![rows, n]))
}

/// Reshapes a `[H]` parameter so it broadcasts against `[.., H]`.
fn bcast<B: Backend>(p: FloatTensor<B>, rank: usize) -> FloatTensor<B> {
    let h = p.shape()[0];
    let dims: Vec<usize> = (0..rank)
        .map(|i| if i + 1 == rank { h } else { 1 })
        .collect();
    B::float_reshape(p, Shape::from(dims))
}

/// Short-row LayerNorm as a backend op with a hand-written backward.
#[backend_extension(
    Cube: cfg(feature = "cuda"),
    Flex: cfg(all()),
    Autodiff,
    Fusion: cfg(feature = "fusion")
)]
pub trait ShortLnOps: Backend {
    /// y = (x − mean)/√(var + eps)·γ + β over the trailing axes holding γ's `n` values (the
    /// last axis, or the last two), biased variance as PyTorch. `x` may be a strided view (the
    /// CUDA kernels read it in place); `y` is contiguous with `x`'s shape.
    #[fusion(dtype = x, shape = x)]
    fn short_layer_norm(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        eps: f32,
    ) -> FloatTensor<Self> {
        Self::short_ln_forward(x, gamma, beta, eps).0
    }

    /// The forward, also returning the per-row mean and 1/std (shape `[rows, 1]`) for the
    /// backward.
    #[fusion(meta = |x, g, _b, _eps| (x.clone(), stats_spec(x, g), stats_spec(x, g)))]
    fn short_ln_forward(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        eps: f32,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let (shape, n) = (x.shape(), gamma.shape()[0]);
        let x = as_rows::<Self>(x, n);
        let mean = Self::float_mean_dim(x.clone(), 1);
        let xc = Self::float_sub(x, mean.clone());
        let var = Self::float_mean_dim(Self::float_mul(xc.clone(), xc.clone()), 1);
        let rstd = Self::float_recip(Self::float_sqrt(Self::float_add_scalar(var, eps.into())));
        let y = Self::float_mul(Self::float_mul(xc, rstd.clone()), bcast::<Self>(gamma, 2));
        let y = Self::float_add(y, bcast::<Self>(beta, 2));
        (Self::float_reshape(y, shape), mean, rstd)
    }

    /// InstanceNorm of `x: [B, C, …]`: each (b, c) row of the trailing axes normalized
    /// (biased variance), then scaled and shifted by that channel's γ, β (both `[C]`), as
    /// burn's `InstanceNorm` (its `group_norm` with one group per channel). The trailing axes
    /// must be one or two. On CUDA the LayerNorm forward kernel with per-channel affine (x read
    /// in place); the composite elsewhere, which autodiff differentiates op by op.
    #[fusion(dtype = x, shape = x)]
    fn channel_norm(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        eps: f32,
    ) -> FloatTensor<Self> {
        let shape = x.shape();
        let (b, c) = (shape[0], shape[1]);
        let n = channel_row(&shape);
        let x = Self::float_reshape(x, Shape::from([b, c, n]));
        let mean = Self::float_mean_dim(x.clone(), 2);
        let xc = Self::float_sub(x, mean);
        let var = Self::float_mean_dim(Self::float_mul(xc.clone(), xc.clone()), 2);
        let y = Self::float_div(
            xc,
            Self::float_sqrt(Self::float_add_scalar(var, eps.into())),
        );
        let y = Self::float_mul(y, Self::float_reshape(gamma, Shape::from([1, c, 1])));
        let y = Self::float_add(y, Self::float_reshape(beta, Shape::from([1, c, 1])));
        Self::float_reshape(y, shape)
    }

    /// (dx, dγ, dβ) from dy and the saved state: with x̂ = (x − mean)·rstd and g = dy·γ,
    /// dx = rstd·(g − mean(g) − x̂·mean(g·x̂)), dγ = Σ_rows dy·x̂, dβ = Σ_rows dy.
    #[fusion(meta = |_dy, x, g, _m, _r| (x.clone(), g.clone(), g.clone()))]
    fn short_ln_backward(
        dy: FloatTensor<Self>,
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        rstd: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let (shape, n) = (x.shape(), gamma.shape()[0]);
        let (x, dy) = (as_rows::<Self>(x, n), as_rows::<Self>(dy, n));
        let xhat = Self::float_mul(Self::float_sub(x, mean), rstd.clone());
        let g = Self::float_mul(dy.clone(), bcast::<Self>(gamma, 2));
        let mg = Self::float_mean_dim(g.clone(), 1);
        let mgx = Self::float_mean_dim(Self::float_mul(g.clone(), xhat.clone()), 1);
        let inner = Self::float_sub(Self::float_sub(g, mg), Self::float_mul(xhat.clone(), mgx));
        let dx = Self::float_reshape(Self::float_mul(inner, rstd), shape);
        let dgamma = col_sum::<Self>(Self::float_mul(dy.clone(), xhat));
        (dx, dgamma, col_sum::<Self>(dy))
    }
}

impl ShortLnOps for burn::backend::Flex {}

/// LayerNorm of `x` over its trailing axes holding `n` values (the last axis, or the last two),
/// with scale `gamma` and shift `beta` (both `[n]`), differentiable; one kernel each way on CUDA
/// for any row length (one thread per row up to [`SHORT_ROW_MAX`], one plane per row beyond).
/// `x` may be a permuted view: the kernels read it in place, so `ln(x.swap_dims(..))` costs no
/// copy; the result is contiguous with `x`'s shape.
pub fn short_layer_norm<const D: usize>(
    x: Tensor<D>,
    gamma: Tensor<1>,
    beta: Tensor<1>,
    eps: f32,
) -> Tensor<D> {
    let out = Dispatch::short_layer_norm(
        x.into_dispatch(),
        gamma.into_dispatch(),
        beta.into_dispatch(),
        eps,
    );
    Tensor::from_dispatch(out)
}

/// InstanceNorm of `x: [B, C, L]` or `[B, C, H, W]` with per-channel `gamma`, `beta` (`[C]`),
/// as burn's `InstanceNorm::forward` with `affine`; one kernel on CUDA (forward), differentiable
/// everywhere (composite under autodiff).
pub fn channel_norm<const D: usize>(
    x: Tensor<D>,
    gamma: Tensor<1>,
    beta: Tensor<1>,
    eps: f32,
) -> Tensor<D> {
    let out = Dispatch::channel_norm(
        x.into_dispatch(),
        gamma.into_dispatch(),
        beta.into_dispatch(),
        eps,
    );
    Tensor::from_dispatch(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::Param;
    use burn::nn::LayerNormConfig;
    use burn::tensor::{Distribution, Tolerance};

    /// Forward and all three gradients equal burn's own LayerNorm (autodiff through the
    /// hand-written backward vs burn's composite graph) for several row lengths.
    #[test]
    fn matches_burn_layer_norm_forward_and_gradients() {
        let device = burn::tensor::Device::flex().autodiff();
        for h in [4usize, 8, 17, 32] {
            device.seed(h as u64);
            let mut ln = LayerNormConfig::new(h).init(&device);
            // Non-trivial γ, β so that their gradients and the γ path of dx are exercised.
            ln.gamma = Param::from_tensor(Tensor::random(
                [h],
                Distribution::Uniform(0.5, 1.5),
                &device,
            ));
            ln.beta = Some(Param::from_tensor(Tensor::random(
                [h],
                Distribution::Normal(0.0, 1.0),
                &device,
            )));
            let x0 = Tensor::<4>::random([3, 5, 2, h], Distribution::Normal(0.3, 2.0), &device);
            let w = Tensor::<4>::random([3, 5, 2, h], Distribution::Normal(0.0, 1.0), &device);

            let xr = x0.clone().require_grad();
            let yr = ln.forward(xr.clone());
            let gr = (yr.clone() * w.clone()).sum().backward();

            let xf = x0.clone().require_grad();
            let beta = ln.beta.as_ref().unwrap().val();
            let yf = short_layer_norm(xf.clone(), ln.gamma.val(), beta.clone(), 1e-5);
            let gf = (yf.clone() * w).sum().backward();

            let tol = Tolerance::<f32>::absolute(2e-5);
            yf.into_data().assert_approx_eq::<f32>(&yr.into_data(), tol);
            xf.grad(&gf)
                .unwrap()
                .into_data()
                .assert_approx_eq::<f32>(&xr.grad(&gr).unwrap().into_data(), tol);
            ln.gamma
                .val()
                .grad(&gf)
                .unwrap()
                .into_data()
                .assert_approx_eq::<f32>(
                    &ln.gamma.val().grad(&gr).unwrap().into_data(),
                    Tolerance::absolute(1e-4),
                );
            beta.grad(&gf).unwrap().into_data().assert_approx_eq::<f32>(
                &beta.grad(&gr).unwrap().into_data(),
                Tolerance::absolute(1e-4),
            );
        }
    }

    /// `channel_norm` equals burn's affine `InstanceNorm` on [B, C, H, W] and [B, C, L] inputs,
    /// forward and (through autodiff of the composite) the input gradient.
    #[test]
    fn channel_norm_matches_burn_instance_norm() {
        use burn::nn::InstanceNormConfig;
        let device = burn::tensor::Device::flex().autodiff();
        device.seed(9);
        let mut norm = InstanceNormConfig::new(6).with_affine(true).init(&device);
        norm.gamma = Some(Param::from_tensor(Tensor::random(
            [6],
            Distribution::Uniform(0.5, 1.5),
            &device,
        )));
        norm.beta = Some(Param::from_tensor(Tensor::random(
            [6],
            Distribution::Normal(0.0, 1.0),
            &device,
        )));
        let (gamma, beta) = (
            norm.gamma.as_ref().unwrap().val(),
            norm.beta.as_ref().unwrap().val(),
        );
        let x0 = Tensor::<4>::random([3, 6, 4, 5], Distribution::Normal(0.3, 2.0), &device);
        let w = Tensor::<4>::random([3, 6, 4, 5], Distribution::Normal(0.0, 1.0), &device);
        let (xr, xf) = (x0.clone().require_grad(), x0.clone().require_grad());
        let yr = norm.forward(xr.clone());
        let yf = channel_norm(xf.clone(), gamma.clone(), beta.clone(), 1e-5);
        let tol = Tolerance::<f32>::absolute(2e-5);
        yf.clone()
            .into_data()
            .assert_approx_eq::<f32>(&yr.clone().into_data(), tol);
        let gr = (yr * w.clone()).sum().backward();
        let gf = (yf * w).sum().backward();
        xf.grad(&gf)
            .unwrap()
            .into_data()
            .assert_approx_eq::<f32>(&xr.grad(&gr).unwrap().into_data(), tol);
        let x3 = x0.reshape([3, 6, 20]);
        channel_norm(x3.clone(), gamma, beta, 1e-5)
            .into_data()
            .assert_approx_eq::<f32>(&norm.forward(x3).into_data(), tol);
    }
}
