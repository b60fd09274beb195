//! The tail of a MixerBlock for inference (method.md §3.3): the whole temporal branch
//! `fc2(GELU(fc1(LN(x))))` over the H rows of each (b, c, w) column, plus the feature branch's
//! bias and the branch sum, and, for blocks with C = C_o, the embedding and the residual:
//!
//! `y[b,c,h,w] = T(x)[b,c,h,w] + f[b,h,c·W+w] + b_f[c·W+w] (+ e[b,c] + x[b,c,h,w])`.
//!
//! Composed of burn's ops this is about 22 passes over the block's activation size A (the
//! hidden layer of the temporal MLP is 4·A: written by one GEMM, read and rewritten by
//! bias + GELU, read by the next GEMM) plus three more for the adds; at the sampler's 2,000 rows
//! per network call A is 98 MB, so those passes were most of an augmentation call
//! (benchmarks/RESULTS.md, session 6). The CUDA kernel keeps the column and the hidden layer in
//! registers: it reads x and f once and writes y once.
//!
//! No backward: the sampler only evaluates the network; training keeps the differentiable
//! composite path of the MixerBlock (which this op's default body repeats, for the CPU and for
//! the self-test).

#[cfg(feature = "fusion")]
use burn::backend::fusion::custom::TensorSpec;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, TensorMetadata, backend_extension};
use burn::tensor::{Shape, Tensor};

/// The weights of one MixerBlock's temporal branch (burn `Linear` layout: weight `[in, out]`).
#[derive(Clone, Debug)]
pub struct TemporalMlp {
    /// LayerNorm scale γ, `[H]`.
    pub ln_gamma: Tensor<1>,
    /// LayerNorm shift β, `[H]`.
    pub ln_beta: Tensor<1>,
    /// LayerNorm ε.
    pub ln_eps: f32,
    /// fc1 weight `[H, 4H]`.
    pub w1: Tensor<2>,
    /// fc1 bias `[4H]`.
    pub b1: Tensor<1>,
    /// fc2 weight `[4H, H]`.
    pub w2: Tensor<2>,
    /// fc2 bias `[H]`.
    pub b2: Tensor<1>,
}

#[cfg(feature = "fusion")]
fn out_spec(x: &TensorSpec) -> TensorSpec {
    x.clone()
}

/// `[N]` as `[1, …, 1, N]` of rank `rank`.
fn bcast_last<B: Backend>(p: FloatTensor<B>, rank: usize) -> FloatTensor<B> {
    let n = p.shape().num_elements();
    let dims: Vec<usize> = (0..rank)
        .map(|i| if i + 1 == rank { n } else { 1 })
        .collect();
    B::float_reshape(p, Shape::from(dims))
}

/// The MixerBlock tail as a backend op (inference only: no autodiff implementation).
#[backend_extension(
    Cube: cfg(feature = "cuda"),
    Flex: cfg(all()),
    Fusion: cfg(feature = "fusion")
)]
pub trait MixerTailOps: Backend {
    /// `x: [B, C, H, W]` (any strides), `f: [B, H, C·W]` (the feature MLP's output before its
    /// bias), `b_f: [C·W]`, `emb: [B, C]` (read only when `residual != 0`). Returns `y` as
    /// `[B, C, H, W]`, contiguous: `T(x) + f + b_f`, plus `emb + x` when `residual != 0`.
    #[fusion(meta = |x, _f, _g, _b, _w1, _b1, _w2, _b2, _bf, _e, _eps, _r| out_spec(x))]
    #[allow(clippy::too_many_arguments)]
    fn mixer_tail(
        x: FloatTensor<Self>,
        f: FloatTensor<Self>,
        ln_gamma: FloatTensor<Self>,
        ln_beta: FloatTensor<Self>,
        w1: FloatTensor<Self>,
        b1: FloatTensor<Self>,
        w2: FloatTensor<Self>,
        b2: FloatTensor<Self>,
        b_f: FloatTensor<Self>,
        emb: FloatTensor<Self>,
        ln_eps: f32,
        residual: u32,
    ) -> FloatTensor<Self> {
        mixer_tail_composite::<Self>(
            x, f, ln_gamma, ln_beta, w1, b1, w2, b2, b_f, emb, ln_eps, residual,
        )
    }
}

/// [`MixerTailOps::mixer_tail`] composed of burn's primitive ops (the CPU path, and the CUDA
/// path for columns the kernel does not unroll).
#[allow(clippy::too_many_arguments)]
pub(crate) fn mixer_tail_composite<B: Backend>(
    x: FloatTensor<B>,
    f: FloatTensor<B>,
    ln_gamma: FloatTensor<B>,
    ln_beta: FloatTensor<B>,
    w1: FloatTensor<B>,
    b1: FloatTensor<B>,
    w2: FloatTensor<B>,
    b2: FloatTensor<B>,
    b_f: FloatTensor<B>,
    emb: FloatTensor<B>,
    ln_eps: f32,
    residual: u32,
) -> FloatTensor<B> {
    let shape = x.shape();
    let (b, c, h, w) = (shape[0], shape[1], shape[2], shape[3]);
    // Temporal branch on the (B, C, W, H) rows.
    let rows = b * c * w;
    let xt = B::float_reshape(B::float_swap_dims(x.clone(), 2, 3), [rows, h].into());
    let mean = B::float_mean_dim(xt.clone(), 1);
    let xc = B::float_sub(xt, mean);
    let var = B::float_mean_dim(B::float_mul(xc.clone(), xc.clone()), 1);
    let rstd = B::float_recip(B::float_sqrt(B::float_add_scalar(var, ln_eps.into())));
    let xn = B::float_mul(B::float_mul(xc, rstd), bcast_last::<B>(ln_gamma, 2));
    let xn = B::float_add(xn, bcast_last::<B>(ln_beta, 2));
    let z = B::float_add(B::float_matmul(xn, w1), bcast_last::<B>(b1, 2));
    // Exact GELU: z·(erf(z/√2) + 1)/2.
    let e = B::float_erf(B::float_mul_scalar(
        z.clone(),
        core::f32::consts::FRAC_1_SQRT_2.into(),
    ));
    let g = B::float_mul_scalar(
        B::float_mul(z, B::float_add_scalar(e, 1f32.into())),
        0.5f32.into(),
    );
    let t = B::float_add(B::float_matmul(g, w2), bcast_last::<B>(b2, 2));
    let t = B::float_swap_dims(B::float_reshape(t, [b, c, w, h].into()), 2, 3);
    // Feature branch (B, H, C, W) + bias, viewed (B, C, H, W).
    let fb = B::float_add(
        B::float_reshape(f, [b, h, c * w].into()),
        bcast_last::<B>(b_f, 3),
    );
    let fb = B::float_swap_dims(B::float_reshape(fb, [b, h, c, w].into()), 1, 2);
    let y = B::float_add(t, fb);
    let y = if residual != 0 {
        let e = B::float_reshape(emb, [b, c, 1, 1].into());
        B::float_add(B::float_add(y, e), x)
    } else {
        y
    };
    // Contiguous (B, C, H, W), as the kernel writes it.
    let y = B::float_reshape(y, [b * c * h * w].into());
    B::float_reshape(y, shape)
}

impl MixerTailOps for burn::backend::Flex {}

/// The MixerBlock tail (module docs): `T(x) + f + b_f`, plus `emb + x` when `residual`.
/// `x: [B, C, H, W]`, `f: [B, H, C·W]`, `b_f: [C·W]`, `emb: [B, C]`. Not differentiable: call
/// it on tensors without autodiff.
pub fn mixer_tail(
    x: Tensor<4>,
    f: Tensor<3>,
    mlp: &TemporalMlp,
    b_f: Tensor<1>,
    emb: Tensor<2>,
    residual: bool,
) -> Tensor<4> {
    let [b, c, h, w] = x.dims();
    assert_eq!(f.dims(), [b, h, c * w], "mixer_tail: f must be [B, H, C·W]");
    assert_eq!(b_f.dims(), [c * w], "mixer_tail: b_f must be [C·W]");
    assert_eq!(mlp.w1.dims(), [h, 4 * h], "mixer_tail: w1 must be [H, 4H]");
    assert_eq!(mlp.w2.dims(), [4 * h, h], "mixer_tail: w2 must be [4H, H]");
    let out = Dispatch::mixer_tail(
        x.into_dispatch(),
        f.into_dispatch(),
        mlp.ln_gamma.clone().into_dispatch(),
        mlp.ln_beta.clone().into_dispatch(),
        mlp.w1.clone().into_dispatch(),
        mlp.b1.clone().into_dispatch(),
        mlp.w2.clone().into_dispatch(),
        mlp.b2.clone().into_dispatch(),
        b_f.into_dispatch(),
        emb.into_dispatch(),
        mlp.ln_eps,
        residual as u32,
    );
    Tensor::from_dispatch(out)
}

// Tested by `selftest::mixer_tail_checks` against burn's modules: on the CPU in
// `every_check_passes_on_the_cpu`, on CUDA by `gta gpu selftest`.
