//! `y[b, c, l] = a[b, c, l] + r[b, c, l] + bias[c] + emb[b, c]`: the end of a MixerBlock whose
//! channel count changes (`out_conv(s) + emb + res_conv(x)`, both 1×1 convs taken without their
//! biases, which are summed into `bias`) and of an attention block (`x + to_out(o)`), in one
//! pass. burn runs these as two bias adds and two adds, four passes over the block's output
//! (the element-wise Adds were 17% of the sampler's kernel time after session 6's other fixes,
//! benchmarks/RESULTS.md).
//!
//! No backward: used by the sampler's inference path only (the MixerBlock and attention
//! forwards take it only without autodiff).

#[cfg(feature = "fusion")]
use burn::backend::fusion::custom::TensorSpec;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, TensorMetadata, backend_extension};
use burn::tensor::{Shape, Tensor};

#[cfg(feature = "fusion")]
fn like(t: &TensorSpec) -> TensorSpec {
    t.clone()
}

/// The fused channel-wise sum as a backend op (inference only).
#[backend_extension(
    Cube: cfg(feature = "cuda"),
    Flex: cfg(all()),
    Fusion: cfg(feature = "fusion")
)]
pub trait ChannelSumOps: Backend {
    /// `a, r: [B, C, L]`, `bias: [C]`, `emb: [B, C]`; returns `a + r + bias + emb` as a
    /// contiguous `[B, C, L]`.
    #[fusion(meta = |a, _r, _bias, _emb| like(a))]
    fn channel_sum(
        a: FloatTensor<Self>,
        r: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        emb: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let s = a.shape();
        let (b, c) = (s[0], s[1]);
        let y = Self::float_add(a, r);
        let y = Self::float_add(y, Self::float_reshape(bias, Shape::from([1, c, 1])));
        Self::float_add(y, Self::float_reshape(emb, Shape::from([b, c, 1])))
    }
}

impl ChannelSumOps for burn::backend::Flex {}

/// `a + r + bias[c] + emb[b, c]` over `[B, C, L]` tensors (module docs). Not differentiable.
pub fn channel_sum(a: Tensor<3>, r: Tensor<3>, bias: Tensor<1>, emb: Tensor<2>) -> Tensor<3> {
    let [b, c, _] = a.dims();
    assert_eq!(
        a.dims(),
        r.dims(),
        "channel_sum: a and r must have one shape"
    );
    assert_eq!(bias.dims(), [c], "channel_sum: bias must be [C]");
    assert_eq!(emb.dims(), [b, c], "channel_sum: emb must be [B, C]");
    Tensor::from_dispatch(Dispatch::channel_sum(
        a.into_dispatch(),
        r.into_dispatch(),
        bias.into_dispatch(),
        emb.into_dispatch(),
    ))
}

// Tested by `selftest::channel_sum_checks` against burn's adds: on the CPU in
// `every_check_passes_on_the_cpu`, on CUDA by `gta gpu selftest`.
