//! Fused GPU kernels behind burn backend extensions (`../shared/docs/gpu-performance.md` §1).
//!
//! Each op is a `#[backend_extension]` trait whose default bodies are composites of burn's
//! primitive float ops: the CPU backend (`flex`) runs those, and CI checks them and the
//! hand-written autodiff backward against burn's own modules. With the `cuda` feature the
//! `CubeBackend` implementation launches CubeCL kernels instead.

mod bias_gelu;
mod bias_gelu_autodiff;
#[cfg(feature = "cuda")]
mod bias_gelu_cube;
mod channel_sum;
#[cfg(feature = "cuda")]
mod channel_sum_cube;
#[cfg(feature = "cuda")]
mod cube_util;
mod fused_update;
#[cfg(feature = "cuda")]
mod fused_update_cube;
pub mod im2col;
mod im2col_autodiff;
#[cfg(feature = "cuda")]
mod im2col_cube;
mod layer_norm;
mod layer_norm_autodiff;
#[cfg(feature = "cuda")]
mod layer_norm_cube;
mod mixer_tail;
#[cfg(feature = "cuda")]
mod mixer_tail_cube;
pub mod selftest;
mod softmax;
mod softmax_autodiff;
#[cfg(feature = "cuda")]
mod softmax_cube;

use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, TensorMetadata};
use burn::tensor::Shape;

pub use bias_gelu::{BiasGeluOps, bias_gelu};
pub use channel_sum::{ChannelSumOps, channel_sum};
pub use fused_update::{
    AdamScalars, FusedUpdateOps, adam_flat, adam_update, axpby, copy_into, flat_view, lerp,
};
pub use im2col::{Im2col, Im2colOps, im2col};
pub use layer_norm::{SHORT_ROW_MAX, ShortLnOps, channel_norm, short_layer_norm};
pub use mixer_tail::{MixerTailOps, TemporalMlp, mixer_tail};
pub use softmax::{SoftmaxOps, softmax_last};

/// Whether the fused kernel `name` (`short-ln`, `long-ln`, `gelu`, `im2col`,
/// `mixer-tail`, `softmax`, `instance-norm`, `channel-sum`) is on. `GTA_FUSED_KERNELS`
/// unset or `1`: all; `0`: none (burn's composite ops everywhere, for comparisons); otherwise a
/// comma-separated list of the names that are on. Read once per process.
pub fn enabled(name: &str) -> bool {
    static SETTING: std::sync::OnceLock<Option<Vec<String>>> = std::sync::OnceLock::new();
    let setting = SETTING.get_or_init(|| match std::env::var("GTA_FUSED_KERNELS") {
        Err(_) => None,
        Ok(v) if v == "1" => None,
        Ok(v) if v == "0" => Some(Vec::new()),
        Ok(v) => Some(v.split(',').map(|s| s.trim().to_string()).collect()),
    });
    setting
        .as_ref()
        .is_none_or(|names| names.iter().any(|n| n == name))
}

/// Column sums of `t` viewed as `[rows, n]`: `[n]` (bias and LayerNorm-affine gradients).
///
/// One reduction over all rows gives the GPU only `n` (often 32–128) outputs to work on, each a
/// sum of up to 98,304 values: a few hundred threads for the whole tensor, 0.3–1 ms per call in
/// the session-4 profile. So long columns are summed in two stages, `[S, rows/S, n]` → `[S, n]`
/// → `[n]`, with S a divisor of `rows` between 8 and 256.
pub(crate) fn col_sum<B: Backend>(t: FloatTensor<B>) -> FloatTensor<B> {
    let shape = t.shape();
    let n = shape[shape.num_dims() - 1];
    let rows = shape.num_elements() / n;
    let split = (rows >= 4096)
        .then(|| (8..=256).rev().find(|s| rows.is_multiple_of(*s)))
        .flatten();
    let sums = match split {
        Some(s) => {
            let t = B::float_reshape(t, Shape::from([s, rows / s, n]));
            let partial = B::float_reshape(B::float_sum_dim(t, 1), Shape::from([s, n]));
            B::float_sum_dim(partial, 0)
        }
        None => B::float_sum_dim(B::float_reshape(t, Shape::from([rows, n])), 0),
    };
    B::float_reshape(sums, Shape::from([n]))
}
