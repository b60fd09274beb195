//! Softmax over the last axis as one kernel each way. MixerUnet's linear attention soft-maxes
//! its keys over the H·W positions of every (head, channel) row (method.md §3.3); burn composes
//! softmax of a max reduction, a subtraction, an exponential, a sum and a division, five passes
//! over a tensor that at the first level is eight times the block's activation size. The CUDA
//! kernels (`softmax_cube.rs`) do one 32-lane plane per row and read the keys in place from the
//! qkv tensor (a strided view), forward; backward, `dx = y·(dy − Σ dy·y)` from the saved output.

#[cfg(feature = "fusion")]
use burn::backend::fusion::custom::TensorSpec;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, TensorMetadata, backend_extension};
use burn::tensor::Tensor;

#[cfg(feature = "fusion")]
fn like(t: &TensorSpec) -> TensorSpec {
    t.clone()
}

/// Softmax over the last axis as a backend op with a hand-written backward.
#[backend_extension(
    Cube: cfg(feature = "cuda"),
    Flex: cfg(all()),
    Autodiff,
    Fusion: cfg(feature = "fusion")
)]
pub trait SoftmaxOps: Backend {
    /// `y = exp(x − max x) / Σ exp(x − max x)` over the last axis; `x` may be a strided view,
    /// `y` is contiguous with x's shape.
    #[fusion(dtype = x, shape = x)]
    fn softmax_last(x: FloatTensor<Self>) -> FloatTensor<Self> {
        let d = x.shape().num_dims() - 1;
        let max = Self::float_max_dim(x.clone(), d);
        let e = Self::float_exp(Self::float_sub(x, max));
        let sum = Self::float_sum_dim(e.clone(), d);
        Self::float_div(e, sum)
    }

    /// `dx = y·(dy − Σ_last dy·y)` from the forward's output `y`.
    #[fusion(meta = |_dy, y| like(y))]
    fn softmax_last_backward(dy: FloatTensor<Self>, y: FloatTensor<Self>) -> FloatTensor<Self> {
        let d = y.shape().num_dims() - 1;
        let dot = Self::float_sum_dim(Self::float_mul(dy.clone(), y.clone()), d);
        Self::float_mul(y, Self::float_sub(dy, dot))
    }
}

impl SoftmaxOps for burn::backend::Flex {}

/// Softmax of `x` over its last axis, differentiable; one kernel each way on CUDA.
pub fn softmax_last<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    Tensor::from_dispatch(Dispatch::softmax_last(x.into_dispatch()))
}

// Tested by `selftest::softmax_checks` against burn's `softmax`, forward and gradient: on the CPU in
// `every_check_passes_on_the_cpu`, on CUDA by `gta gpu selftest`.
