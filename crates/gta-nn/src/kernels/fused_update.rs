//! Element-wise parameter updates fused into one kernel per tensor: the Adam step and the
//! Polyak/EMA blend. burn's `Adam` spends about 13 launches per parameter tensor (moments,
//! bias correction, square root, division, learning rate) and a blend three; on the GPU each
//! launch costs more than the arithmetic, and these updates were half the launches of a TD3+BC
//! step (session-4 kernel profile in benchmarks/RESULTS.md).
//!
//! The default bodies repeat burn's composite ops in burn's order, so the CPU backend gives
//! exactly the numbers of `burn::optim::Adam` (tested); the CUDA kernels compute the same
//! expressions per element in f32.

#[cfg(feature = "fusion")]
use burn::backend::fusion::custom::TensorSpec;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, TensorMetadata, backend_extension};
use burn::tensor::Tensor;

/// The scalars of one Adam step (burn's `AdaptiveMomentum` with bias correction folded in).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamScalars {
    /// β1.
    pub beta_1: f32,
    /// 1 − β1, computed in f32 as burn does.
    pub one_minus_beta_1: f32,
    /// β2.
    pub beta_2: f32,
    /// 1 − β2.
    pub one_minus_beta_2: f32,
    /// √(1 − β2^t) / (1 − β1^t).
    pub combined_factor: f32,
    /// ε·√(1 − β2^t).
    pub eps_hat: f32,
    /// The learning rate (f64 as burn passes it; the kernels round it to f32).
    pub lr: f64,
}

impl AdamScalars {
    /// The scalars of step `time` (1-based, after the increment), as burn's Adam computes them.
    pub fn new(beta_1: f32, beta_2: f32, epsilon: f32, time: usize, lr: f64) -> Self {
        let t = time as i32;
        let bias_correction2_sqrt = (1.0 - beta_2.powi(t)).sqrt();
        Self {
            beta_1,
            one_minus_beta_1: 1.0 - beta_1,
            beta_2,
            one_minus_beta_2: 1.0 - beta_2,
            combined_factor: bias_correction2_sqrt / (1.0 - beta_1.powi(t)),
            eps_hat: epsilon * bias_correction2_sqrt,
            lr,
        }
    }
}

#[cfg(feature = "fusion")]
fn same3(p: &TensorSpec, m: &TensorSpec, v: &TensorSpec) -> (TensorSpec, TensorSpec, TensorSpec) {
    (p.clone(), m.clone(), v.clone())
}

/// Fused parameter updates as backend ops (no autodiff: optimizers work on inner tensors).
#[backend_extension(
    Cube: cfg(feature = "cuda"),
    Flex: cfg(all()),
    Fusion: cfg(feature = "fusion")
)]
pub trait FusedUpdateOps: Backend {
    /// One Adam step on `param` with gradient `grad` and moments `m`, `v` (all the same
    /// shape): `m ← β1·m + (1−β1)·g`, `v ← β2·v + (1−β2)·g²`,
    /// `param ← param − lr·(cf·m)/(√v + ε̂)`. Returns `(param, m, v)`.
    #[fusion(meta = |p, _g, m, v, _b1, _c1, _b2, _c2, _cf, _e, _lr| same3(p, m, v))]
    #[allow(clippy::too_many_arguments)]
    fn adam_update(
        param: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        m: FloatTensor<Self>,
        v: FloatTensor<Self>,
        beta_1: f32,
        one_minus_beta_1: f32,
        beta_2: f32,
        one_minus_beta_2: f32,
        combined_factor: f32,
        eps_hat: f32,
        lr: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let (m, v) = adam_moments::<Self>(
            grad,
            m,
            v,
            [beta_1, one_minus_beta_1, beta_2, one_minus_beta_2],
        );
        let step = Self::float_div(
            Self::float_mul_scalar(m.clone(), combined_factor.into()),
            Self::float_add_scalar(Self::float_sqrt(v.clone()), eps_hat.into()),
        );
        let param = Self::float_sub(param, Self::float_mul_scalar(step, lr.into()));
        (param, m, v)
    }

    /// Adam over whole flat buffers with the gradient-clipping factor and the step-dependent
    /// scalars read from the device: `g = grad·coef` (`coef` shape [1], the clip factor
    /// `min(1, max_norm/(‖g‖+1e-6))`), then the [`adam_update`](FusedUpdateOps::adam_update)
    /// step with `scalars = [lr, combined_factor, eps_hat]` (shape [3]). `param`, `grad`, `m`,
    /// `v` are the same length (all of a model's parameters laid end to end). On CUDA the update
    /// is **in place** and returns `param`, `m`, `v` themselves: one launch per optimizer step,
    /// replayable by a captured CUDA graph (the host writes the next step's scalars between
    /// replays). The default body is the composite, so the CPU gives the per-tensor path's
    /// numbers.
    #[fusion(meta = |p, _g, m, v, _c, _s, _b1, _c1, _b2, _c2| same3(p, m, v))]
    #[allow(clippy::too_many_arguments)]
    fn adam_flat(
        param: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        m: FloatTensor<Self>,
        v: FloatTensor<Self>,
        coef: FloatTensor<Self>,
        scalars: FloatTensor<Self>,
        beta_1: f32,
        one_minus_beta_1: f32,
        beta_2: f32,
        one_minus_beta_2: f32,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let scalar = |i: usize| {
            let r = burn::tensor::Slice::new(i as isize, Some(i as isize + 1), 1);
            Self::float_slice(scalars.clone(), &[r])
        };
        let (lr, combined_factor, eps_hat) = (scalar(0), scalar(1), scalar(2));
        let grad = Self::float_mul(grad, coef);
        let (m, v) = adam_moments::<Self>(
            grad,
            m,
            v,
            [beta_1, one_minus_beta_1, beta_2, one_minus_beta_2],
        );
        let step = Self::float_div(
            Self::float_mul(m.clone(), combined_factor),
            Self::float_add(Self::float_sqrt(v.clone()), eps_hat),
        );
        let param = Self::float_sub(param, Self::float_mul(step, lr));
        (param, m, v)
    }

    /// The `shape`-d tensor stored contiguously at element `offset` of the 1-D `flat`, as a
    /// view sharing `flat`'s buffer (no copy). burn's `slice` makes a view on the GPU only when
    /// both ends of the range fall on CubeCL's 512-byte alignment, and copies otherwise, so a
    /// parameter whose end is not aligned could not be a view of a flat weight buffer (the
    /// captured training step updates the flat buffer in place and needs the parameters to
    /// follow). On CUDA `offset` must start on the 512-byte buffer alignment.
    #[fusion(meta = |flat, _offset, shape| TensorSpec::new(shape.clone(), flat.dtype))]
    fn flat_view(
        flat: FloatTensor<Self>,
        offset: usize,
        shape: burn::tensor::Shape,
    ) -> FloatTensor<Self> {
        let n = shape.num_elements();
        let r = burn::tensor::Slice::new(offset as isize, Some((offset + n) as isize), 1);
        Self::float_reshape(Self::float_slice(flat, &[r]), shape)
    }

    /// Writes `src` into `dst` (same number of elements) and returns `dst`. On CUDA this is an
    /// in-place copy into `dst`'s buffer (the fixed input buffers of a captured CUDA graph are
    /// refreshed this way between replays); the default returns `src` reshaped to `dst`'s shape.
    #[fusion(dtype = dst, shape = dst)]
    fn copy_into(dst: FloatTensor<Self>, src: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::float_reshape(src, dst.shape())
    }

    /// `a·x + b·y` element-wise (the Polyak update `(1−τ)·θ′ + τ·θ`).
    #[fusion(dtype = x, shape = x)]
    fn axpby(x: FloatTensor<Self>, y: FloatTensor<Self>, a: f32, b: f32) -> FloatTensor<Self> {
        Self::float_add(
            Self::float_mul_scalar(x, a.into()),
            Self::float_mul_scalar(y, b.into()),
        )
    }

    /// `x + (y − x)·w` element-wise (ema-pytorch's `lerp_`, exact when x == y).
    #[fusion(dtype = x, shape = x)]
    fn lerp(x: FloatTensor<Self>, y: FloatTensor<Self>, w: f32) -> FloatTensor<Self> {
        Self::float_add(
            x.clone(),
            Self::float_mul_scalar(Self::float_sub(y, x), w.into()),
        )
    }
}

impl FusedUpdateOps for burn::backend::Flex {}

/// Adam's moment updates in burn's op order: `m ← β1·m + (1−β1)·g`, `v ← β2·v + (1−β2)·g²`
/// (`betas = [β1, 1−β1, β2, 1−β2]`); the composite bodies of both Adam ops share it.
fn adam_moments<B: Backend>(
    grad: FloatTensor<B>,
    m: FloatTensor<B>,
    v: FloatTensor<B>,
    [beta_1, one_minus_beta_1, beta_2, one_minus_beta_2]: [f32; 4],
) -> (FloatTensor<B>, FloatTensor<B>) {
    let m = B::float_add(
        B::float_mul_scalar(m, beta_1.into()),
        B::float_mul_scalar(grad.clone(), one_minus_beta_1.into()),
    );
    let v = B::float_add(
        B::float_mul_scalar(v, beta_2.into()),
        B::float_mul_scalar(B::float_mul(grad.clone(), grad), one_minus_beta_2.into()),
    );
    (m, v)
}

/// One fused Adam step: returns `(param, m, v)` (see [`FusedUpdateOps::adam_update`]).
pub fn adam_update<const D: usize>(
    param: Tensor<D>,
    grad: Tensor<D>,
    m: Tensor<D>,
    v: Tensor<D>,
    s: AdamScalars,
) -> (Tensor<D>, Tensor<D>, Tensor<D>) {
    let (p, m, v) = Dispatch::adam_update(
        param.into_dispatch(),
        grad.into_dispatch(),
        m.into_dispatch(),
        v.into_dispatch(),
        s.beta_1,
        s.one_minus_beta_1,
        s.beta_2,
        s.one_minus_beta_2,
        s.combined_factor,
        s.eps_hat,
        s.lr,
    );
    (
        Tensor::from_dispatch(p),
        Tensor::from_dispatch(m),
        Tensor::from_dispatch(v),
    )
}

/// One clipped Adam step over flat buffers, in place on CUDA; see
/// [`FusedUpdateOps::adam_flat`]. Returns `(param, m, v)`.
#[allow(clippy::too_many_arguments)]
pub fn adam_flat(
    param: Tensor<1>,
    grad: Tensor<1>,
    m: Tensor<1>,
    v: Tensor<1>,
    coef: Tensor<1>,
    scalars: Tensor<1>,
    beta_1: f32,
    beta_2: f32,
) -> (Tensor<1>, Tensor<1>, Tensor<1>) {
    let (p, m, v) = Dispatch::adam_flat(
        param.into_dispatch(),
        grad.into_dispatch(),
        m.into_dispatch(),
        v.into_dispatch(),
        coef.into_dispatch(),
        scalars.into_dispatch(),
        beta_1,
        1.0 - beta_1,
        beta_2,
        1.0 - beta_2,
    );
    (
        Tensor::from_dispatch(p),
        Tensor::from_dispatch(m),
        Tensor::from_dispatch(v),
    )
}

/// Elements `offset..offset + n` of the 1-D `flat` as a tensor of `shape` (n elements), sharing
/// its buffer; see [`FusedUpdateOps::flat_view`].
pub fn flat_view<const D: usize>(
    flat: &Tensor<1>,
    offset: usize,
    shape: burn::tensor::Shape,
) -> Tensor<D> {
    assert_eq!(shape.num_dims(), D, "flat_view: rank");
    assert!(
        offset + shape.num_elements() <= flat.shape().num_elements(),
        "flat_view: out of range"
    );
    Tensor::from_dispatch(Dispatch::flat_view(
        flat.clone().into_dispatch(),
        offset,
        shape,
    ))
}

/// Writes `src` into `dst`'s buffer (in place on CUDA) and returns `dst`; see
/// [`FusedUpdateOps::copy_into`].
pub fn copy_into<const D: usize, const E: usize>(dst: Tensor<D>, src: Tensor<E>) -> Tensor<D> {
    assert_eq!(
        dst.shape().num_elements(),
        src.shape().num_elements(),
        "copy_into: sizes differ"
    );
    Tensor::from_dispatch(Dispatch::copy_into(
        dst.into_dispatch(),
        src.into_dispatch(),
    ))
}

/// `a·x + b·y` in one kernel on CUDA (x, y the same shape; no autodiff).
pub fn axpby<const D: usize>(x: Tensor<D>, y: Tensor<D>, a: f32, b: f32) -> Tensor<D> {
    Tensor::from_dispatch(Dispatch::axpby(x.into_dispatch(), y.into_dispatch(), a, b))
}

/// `x + (y − x)·w` in one kernel on CUDA (x, y the same shape; no autodiff).
pub fn lerp<const D: usize>(x: Tensor<D>, y: Tensor<D>, w: f32) -> Tensor<D> {
    Tensor::from_dispatch(Dispatch::lerp(x.into_dispatch(), y.into_dispatch(), w))
}
