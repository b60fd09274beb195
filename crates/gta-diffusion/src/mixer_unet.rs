//! The MixerUnet denoiser F(x, c_noise, c) of the official GTA code (method.md §3).
//!
//! The window x (B, T, D) is viewed as an image (B, C = 1, H = T, W = D); down- and up-sampling
//! act on H only, and only when T is a multiple of 2^(levels − 1) (8 for the default four
//! levels). The skip of the first level (h0) is never used by the reference and is not computed.

use burn::module::{Module, Param};
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::nn::{
    GroupNorm, GroupNormConfig, Initializer, InstanceNorm, InstanceNormConfig, LayerNorm,
    LayerNormConfig, Linear, LinearConfig, PaddingConfig2d,
};
use burn::tensor::activation::{gelu, mish, softmax};
use burn::tensor::{Device, FloatDType, Tensor};
use gta_nn::kernels::{
    TemporalMlp, bias_gelu, channel_norm, channel_sum, mixer_tail, softmax_last,
};
use serde::{Deserialize, Serialize};

use crate::conv_gemm::{conv_transpose2d_gemm, conv2d_gemm};
use crate::embedding::RandomFourierEmbedding;

/// burn's (and PyTorch's) LayerNorm epsilon, which every MixerBlock LayerNorm uses.
const LN_EPS: f32 = 1e-5;

/// `ln(x)` over the trailing axes holding `ln`'s width (the last axis, or the last two: a
/// feature row C·W of a (B, H, C, W) view): gta's fused LayerNorm
/// (`gta_nn::kernels::short_layer_norm`), one thread per row for rows of at most
/// `SHORT_ROW_MAX` values (the temporal branch, H = 4…32) and one plane per row for the feature
/// rows (C·W up to 6144). The kernels read permuted views in place, so neither branch copies its
/// input. burn's composite LayerNorm where `GTA_FUSED_KERNELS` turns `short-ln` / `long-ln` off
/// (comparisons). Same parameters either way, so checkpoints do not change.
fn layer_norm<const D: usize>(ln: &LayerNorm, x: Tensor<D>) -> Tensor<D> {
    let [h] = ln.gamma.dims();
    let kernel = if h <= gta_nn::kernels::SHORT_ROW_MAX {
        "short-ln"
    } else {
        "long-ln"
    };
    match &ln.beta {
        Some(beta) if gta_nn::kernels::enabled(kernel) => {
            gta_nn::kernels::short_layer_norm(x, ln.gamma.val(), beta.val(), LN_EPS)
        }
        _ => {
            let dims = x.dims();
            let rows = x.shape().num_elements() / h;
            ln.forward(x.reshape([rows, h])).reshape(dims)
        }
    }
}

/// How MixerUnet evaluates its 3×3 convolutions and transposed convolutions (the down/up
/// sampling and `final_conv`). Either way the parameters are the `Conv2d` / `ConvTranspose2d`
/// modules' own, so checkpoints do not change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConvPath {
    /// im2col + one matmul ([`crate::conv_gemm`]); the default.
    Gemm,
    /// burn's own `conv2d` / `conv_transpose2d` kernels.
    Direct,
}

impl ConvPath {
    /// `GTA_DIRECT_CONV=1` selects [`ConvPath::Direct`] (for A/B comparisons), anything else
    /// [`ConvPath::Gemm`]. Read once per process.
    pub fn from_env() -> Self {
        static PATH: std::sync::OnceLock<ConvPath> = std::sync::OnceLock::new();
        *PATH.get_or_init(|| match std::env::var("GTA_DIRECT_CONV") {
            Ok(v) if v == "1" => ConvPath::Direct,
            _ => ConvPath::Gemm,
        })
    }

    /// `conv.forward(x)` along this path.
    pub fn conv2d(self, conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
        let padding = match conv.padding {
            PaddingConfig2d::Valid => Some([(0, 0), (0, 0)]),
            PaddingConfig2d::Explicit(top, left, bottom, right) => {
                Some([(top, bottom), (left, right)])
            }
            _ => None,
        };
        match padding {
            Some(padding)
                if self == ConvPath::Gemm && conv.dilation == [1, 1] && conv.groups == 1 =>
            {
                conv2d_gemm(
                    x,
                    conv.weight.val(),
                    conv.bias.as_ref().map(|b| b.val()),
                    conv.stride,
                    padding,
                )
            }
            _ => conv.forward(x),
        }
    }

    /// `conv.forward(x)` along this path.
    pub fn conv_transpose2d(self, conv: &ConvTranspose2d, x: Tensor<4>) -> Tensor<4> {
        if self == ConvPath::Gemm
            && conv.dilation == [1, 1]
            && conv.groups == 1
            && conv.padding_out == [0, 0]
        {
            conv_transpose2d_gemm(
                x,
                conv.weight.val(),
                conv.bias.as_ref().map(|b| b.val()),
                conv.stride,
                conv.padding,
            )
        } else {
            conv.forward(x)
        }
    }
}

/// MixerUnet hyper-parameters (method.md §3.1); defaults are the reference's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MixerUnetConfig {
    /// Base channel count `dim` (16).
    pub dim: usize,
    /// Channel multipliers per level (1, 2, 4, 8): channels dim·m.
    pub dim_mults: Vec<usize>,
    /// Rows per window T (32). Set from the data at build time.
    pub horizon: usize,
    /// Row width D = obs_dim + act_dim + 1. Set from the data at build time.
    pub transition_dim: usize,
    /// Width of the condition input (1: the scaled return).
    pub cond_dim: usize,
    /// Number of frozen random Fourier frequencies (8).
    pub rff_frequencies: usize,
    /// Linear-attention heads (4).
    pub attn_heads: usize,
    /// Linear-attention width per head (32).
    pub attn_dim_head: usize,
    /// GroupNorm groups of the output head (8).
    pub final_groups: usize,
}

impl Default for MixerUnetConfig {
    fn default() -> Self {
        Self {
            dim: 16,
            dim_mults: vec![1, 2, 4, 8],
            horizon: 32,
            transition_dim: 24,
            cond_dim: 1,
            rff_frequencies: 8,
            attn_heads: 4,
            attn_dim_head: 32,
            final_groups: 8,
        }
    }
}

impl MixerUnetConfig {
    /// Whether down/up-sampling is active: T divisible by 2^(levels − 1) (method.md §3.1).
    pub fn downsampling(&self) -> bool {
        let levels = self.dim_mults.len();
        levels > 0 && self.horizon.is_multiple_of(1 << (levels - 1))
    }

    /// Block embedding width E = 2·dim (condition embedding ++ time embedding).
    pub fn embed_dim(&self) -> usize {
        2 * self.dim
    }

    /// Builds the network with PyTorch-default initialisation on `device`.
    pub fn init(&self, device: &Device) -> MixerUnet {
        let (dim, t, w, e) = (
            self.dim,
            self.horizon,
            self.transition_dim,
            self.embed_dim(),
        );
        let down = self.downsampling();
        let mut chans = vec![1usize];
        chans.extend(self.dim_mults.iter().map(|m| dim * m));
        let pairs: Vec<(usize, usize)> = chans.windows(2).map(|p| (p[0], p[1])).collect();
        let levels = pairs.len();
        let attn = |c| AttnBlock::new(c, self.attn_heads, self.attn_dim_head, device);

        let mut h = t;
        let mut downs = Vec::with_capacity(levels);
        for (i, &(c_in, c_out)) in pairs.iter().enumerate() {
            let is_last = i + 1 == levels;
            downs.push(DownLevel {
                block1: MixerBlock::new(c_in, c_out, h, w, e, device),
                block2: MixerBlock::new(c_out, c_out, h, w, e, device),
                attn: attn(c_out),
                downsample: (down && !is_last).then(|| {
                    Conv2dConfig::new([c_out, c_out], [3, 3])
                        .with_stride([2, 1])
                        .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                        .init(device)
                }),
            });
            if down && !is_last {
                h /= 2;
            }
        }
        let c_mid = *chans.last().unwrap();
        let mid_block1 = MixerBlock::new(c_mid, c_mid, h, w, e, device);
        let mid_attn = attn(c_mid);
        let mid_block2 = MixerBlock::new(c_mid, c_mid, h, w, e, device);
        let mut ups = Vec::with_capacity(levels - 1);
        for &(c_in, c_out) in pairs[1..].iter().rev() {
            ups.push(UpLevel {
                block1: MixerBlock::new(2 * c_out, c_in, h, w, e, device),
                block2: MixerBlock::new(c_in, c_in, h, w, e, device),
                attn: attn(c_in),
                upsample: down.then(|| {
                    ConvTranspose2dConfig::new([c_in, c_in], [4, 3])
                        .with_stride([2, 1])
                        .with_padding([1, 1])
                        .init(device)
                }),
            });
            if down {
                h *= 2;
            }
        }
        let lin = |i, o| LinearConfig::new(i, o).init(device);
        let rff = RandomFourierEmbedding::new(self.rff_frequencies, device);
        let rff_out = rff.output_dim();
        MixerUnet {
            time_rff: rff,
            time_fc1: lin(rff_out, 4 * dim),
            time_fc2: lin(4 * dim, dim),
            cond_fc1: lin(self.cond_dim, 2 * dim),
            cond_fc2: lin(2 * dim, dim),
            downs,
            mid_block1,
            mid_attn,
            mid_block2,
            ups,
            final_conv: Conv2dConfig::new([dim, dim], [3, 3])
                .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                .init(device),
            final_norm: GroupNormConfig::new(self.final_groups, dim).init(device),
            final_out: Conv1x1::new(dim, 1, device),
            dim,
            horizon: t,
            transition_dim: w,
        }
    }
}

/// 1×1 convolution C → C_o written as one broadcast matmul over (B, C, H·W).
///
/// Hand-written instead of burn's `Conv2d` because a 1×1 conv is a plain matmul and this keeps
/// one GEMM per call on every backend; weights use PyTorch's [C_o, C] order.
#[derive(Module, Debug)]
pub struct Conv1x1 {
    /// Weight [C_o, C] (PyTorch's [C_o, C, 1, 1] without the unit axes).
    pub weight: Param<Tensor<2>>,
    /// Bias [C_o].
    pub bias: Option<Param<Tensor<1>>>,
}

impl Conv1x1 {
    /// PyTorch-default init: U(±1/√C) for weight and bias.
    pub fn new(c: usize, c_out: usize, device: &Device) -> Self {
        Self::with_bias(c, c_out, true, device)
    }

    /// Like [`Conv1x1::new`], optionally without bias.
    pub fn with_bias(c: usize, c_out: usize, bias: bool, device: &Device) -> Self {
        let k = 1.0 / (c as f64).sqrt();
        let init = Initializer::Uniform { min: -k, max: k };
        Self {
            weight: init.init([c_out, c], device),
            bias: bias.then(|| init.init([c_out], device)),
        }
    }

    /// x: (B, C, H, W) → (B, C_o, H, W).
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [b, _, h, w] = x.dims();
        let y = self.forward_unbiased(x);
        let c_out = y.dims()[1];
        let y = match &self.bias {
            Some(bias) => y + bias.val().reshape([1, c_out, 1]),
            None => y,
        };
        y.reshape([b, c_out, h, w])
    }

    /// The product alone, without the bias: x (B, C, H, W) → (B, C_o, H·W).
    pub fn forward_unbiased(&self, x: Tensor<4>) -> Tensor<3> {
        let [b, c, h, w] = x.dims();
        let [c_out, _] = self.weight.val().dims();
        self.weight
            .val()
            .reshape([1, c_out, c])
            .matmul(x.reshape([b, c, h * w]))
    }

    /// The bias, or zeros `[C_o]`.
    fn bias_or_zeros(&self) -> Tensor<1> {
        match &self.bias {
            Some(bias) => bias.val(),
            None => {
                let w = self.weight.val();
                Tensor::<1>::zeros([w.dims()[0]], &w.device()).cast(FloatDType::from(w.dtype()))
            }
        }
    }
}

/// `out_conv(s) + emb + res_conv(x)` with both biases folded into one fused pass
/// ([`gta_nn::kernels::channel_sum`]), for the sampler. s, x: (B, ·, H, W); emb: (B, C_o).
fn conv_pair_sum(
    out_conv: &Conv1x1,
    s: Tensor<4>,
    res_conv: &Conv1x1,
    x: Tensor<4>,
    emb: Tensor<2>,
) -> Tensor<4> {
    let [b, _, h, w] = x.dims();
    let bias = out_conv.bias_or_zeros() + res_conv.bias_or_zeros();
    let y = channel_sum(
        out_conv.forward_unbiased(s),
        res_conv.forward_unbiased(x),
        bias,
        emb,
    );
    let c_out = y.dims()[1];
    y.reshape([b, c_out, h, w])
}

/// MixerBlock(C → C_o) at height H, width W (method.md §3.3): parallel feature and temporal
/// MLP branches, optional 1×1 output conv, embedding projection, residual.
#[derive(Module, Debug)]
pub struct MixerBlock {
    /// Feature-branch LayerNorm over C·W (reference `ln1`).
    pub ln_feature: LayerNorm,
    /// Feature MLP C·W → 4C (reference `block1.net.0`).
    pub feature_fc1: Linear,
    /// Feature MLP 4C → C·W (reference `block1.net.3`).
    pub feature_fc2: Linear,
    /// Temporal-branch LayerNorm over H (reference `ln2`).
    pub ln_time: LayerNorm,
    /// Temporal MLP H → 4H (reference `block2.net.0`).
    pub time_fc1: Linear,
    /// Temporal MLP 4H → H (reference `block2.net.3`).
    pub time_fc2: Linear,
    /// 1×1 conv C → C_o when C ≠ C_o (reference `output_conv`).
    pub out_conv: Option<Conv1x1>,
    /// Embedding projection E → C_o applied to Mish(e) (reference `mlp.1`).
    pub emb_proj: Linear,
    /// Residual 1×1 conv C → C_o when C ≠ C_o (reference `res_conv`).
    pub res_conv: Option<Conv1x1>,
}

impl MixerBlock {
    /// A block with PyTorch-default init.
    pub fn new(c: usize, c_out: usize, h: usize, w: usize, e: usize, device: &Device) -> Self {
        let lin = |i, o| LinearConfig::new(i, o).init(device);
        let conv = || (c != c_out).then(|| Conv1x1::new(c, c_out, device));
        Self {
            ln_feature: LayerNormConfig::new(c * w).init(device),
            feature_fc1: lin(c * w, 4 * c),
            feature_fc2: lin(4 * c, c * w),
            ln_time: LayerNormConfig::new(h).init(device),
            time_fc1: lin(h, 4 * h),
            time_fc2: lin(4 * h, h),
            out_conv: conv(),
            emb_proj: lin(e, c_out),
            res_conv: conv(),
        }
    }

    /// x: (B, C, H, W); `mish_e`: Mish(e), (B, E). Returns (B, C_o, H, W).
    ///
    /// Without autodiff (the sampler) the temporal branch, the branch sum, the embedding and
    /// the residual run as one fused op ([`MixerBlock::forward_inference`]); with autodiff, or
    /// where `GTA_FUSED_KERNELS` turns `mixer-tail` off, the differentiable composite
    /// ([`MixerBlock::forward_composite`]).
    pub fn forward(&self, x: Tensor<4>, mish_e: &Tensor<2>) -> Tensor<4> {
        match self.temporal_mlp() {
            Some(mlp)
                if !x.is_autodiff()
                    && !mlp.w1.is_autodiff()
                    && gta_nn::kernels::enabled("mixer-tail") =>
            {
                self.forward_inference(x, mish_e, &mlp)
            }
            _ => self.forward_composite(x, mish_e),
        }
    }

    /// The temporal branch's weights for [`gta_nn::kernels::mixer_tail`] (`None` when a bias or
    /// the LayerNorm shift is absent, which burn's modules allow but MixerUnet never builds).
    fn temporal_mlp(&self) -> Option<TemporalMlp> {
        Some(TemporalMlp {
            ln_gamma: self.ln_time.gamma.val(),
            ln_beta: self.ln_time.beta.as_ref()?.val(),
            ln_eps: LN_EPS,
            w1: self.time_fc1.weight.val(),
            b1: self.time_fc1.bias.as_ref()?.val(),
            w2: self.time_fc2.weight.val(),
            b2: self.time_fc2.bias.as_ref()?.val(),
        })
        .filter(|_| self.feature_fc2.bias.is_some())
    }

    /// [`MixerBlock::forward`] for inference: the feature branch up to its last matmul, then
    /// one fused op for everything else (1×1 convs and their adds stay separate when C ≠ C_o).
    pub fn forward_inference(
        &self,
        x: Tensor<4>,
        mish_e: &Tensor<2>,
        mlp: &TemporalMlp,
    ) -> Tensor<4> {
        let [b, c, h, w] = x.dims();
        let f = layer_norm(&self.ln_feature, x.clone().swap_dims(1, 2)).reshape([b, h, c * w]);
        let f = burn::tensor::module::linear(
            linear_gelu(&self.feature_fc1, f),
            self.feature_fc2.weight.val(),
            None,
        );
        let b_f = self.feature_fc2.bias.as_ref().expect("checked").val();
        let emb = self.emb_proj.forward(mish_e.clone());
        match (&self.out_conv, &self.res_conv) {
            (None, None) => mixer_tail(x, f, mlp, b_f, emb, true),
            (Some(out_conv), Some(res_conv)) if gta_nn::kernels::enabled("channel-sum") => {
                let s = mixer_tail(x.clone(), f, mlp, b_f, emb.clone(), false);
                conv_pair_sum(out_conv, s, res_conv, x, emb)
            }
            (out_conv, res_conv) => {
                let mut y = mixer_tail(x.clone(), f, mlp, b_f, emb.clone(), false);
                if let Some(conv) = out_conv {
                    y = conv.forward(y);
                }
                let c_out = y.dims()[1];
                y = y + emb.reshape([b, c_out, 1, 1]);
                match res_conv {
                    Some(conv) => y + conv.forward(x),
                    None => y + x,
                }
            }
        }
    }

    /// [`MixerBlock::forward`] composed of differentiable ops (training).
    pub fn forward_composite(&self, x: Tensor<4>, mish_e: &Tensor<2>) -> Tensor<4> {
        let [b, c, h, w] = x.dims();
        // Feature branch on (B, H, C·W), flat index c·W + w: the LayerNorm reads the (B, H, C, W)
        // view of x in place and writes (B, H, C·W) rows.
        let f = layer_norm(&self.ln_feature, x.clone().swap_dims(1, 2)).reshape([b, h, c * w]);
        let f = self.feature_fc2.forward(linear_gelu(&self.feature_fc1, f));
        let f = f.reshape([b, h, c, w]).swap_dims(1, 2);
        // Temporal branch on (B, C, W, H), from the same x.
        let t = layer_norm(&self.ln_time, x.clone().swap_dims(2, 3));
        let t = self
            .time_fc2
            .forward(linear_gelu(&self.time_fc1, t))
            .swap_dims(2, 3);
        // Both branch outputs are permuted views ((B, H, C, W) and (B, C, W, H) in memory). An add
        // may write in place into an operand it owns alone, and the block output would keep that
        // permuted layout, so every later reshape of it (the 1×1 convs, the next block) copied it;
        // holding both operands makes the add write a fresh (B, C, H, W) tensor instead
        // (`GTA_FRESH_SUM=0` restores the in-place add, for measurements).
        let held = fresh_sum().then(|| (f.clone(), t.clone()));
        let mut y = f + t;
        drop(held);
        if let Some(conv) = &self.out_conv {
            y = conv.forward(y);
        }
        let c_out = y.dims()[1];
        y = y + self
            .emb_proj
            .forward(mish_e.clone())
            .reshape([b, c_out, 1, 1]);
        match &self.res_conv {
            Some(conv) => y + conv.forward(x),
            None => y + x,
        }
    }
}

/// Whether training computes q, k and v as three products (unless `GTA_SPLIT_QKV=0`, which
/// restores one product and `chunk`, for measurements).
fn split_qkv_weight() -> bool {
    static SPLIT: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *SPLIT.get_or_init(|| !std::env::var("GTA_SPLIT_QKV").is_ok_and(|v| v == "0"))
}

/// Whether the MixerBlock's branch sum writes a fresh contiguous tensor (unless `GTA_FRESH_SUM=0`).
fn fresh_sum() -> bool {
    static FRESH: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *FRESH.get_or_init(|| !std::env::var("GTA_FRESH_SUM").is_ok_and(|v| v == "0"))
}

/// `GELU(Linear(x))` (exact GELU) with the bias add fused into the activation: one kernel each
/// way on CUDA ([`bias_gelu`]) instead of a bias pass plus five GELU passes forward and about
/// eighteen backward over the branch's widest tensor. `GTA_FUSED_KERNELS` without `gelu`
/// restores burn's `gelu(linear(x))` (whose backward differentiates the tanh approximation).
fn linear_gelu<const D: usize>(lin: &Linear, x: Tensor<D>) -> Tensor<D> {
    match &lin.bias {
        Some(b) if gta_nn::kernels::enabled("gelu") => bias_gelu(
            burn::tensor::module::linear(x, lin.weight.val(), None),
            b.val(),
        ),
        _ => gelu(lin.forward(x)),
    }
}

/// `x + LinearAttention(InstanceNorm(x))` (method.md §3.3).
#[derive(Module, Debug)]
pub struct AttnBlock {
    /// InstanceNorm2d(C), affine (reference `fn.norm`).
    pub norm: InstanceNorm,
    /// 1×1 conv C → 3·heads·dim_head, no bias (reference `fn.fn.to_qkv`).
    pub to_qkv: Conv1x1,
    /// 1×1 conv heads·dim_head → C (reference `fn.fn.to_out`).
    pub to_out: Conv1x1,
    /// Number of heads.
    pub heads: usize,
}

impl AttnBlock {
    /// A block with PyTorch-default init.
    pub fn new(c: usize, heads: usize, dim_head: usize, device: &Device) -> Self {
        let hidden = heads * dim_head;
        Self {
            norm: InstanceNormConfig::new(c).with_affine(true).init(device),
            to_qkv: Conv1x1::with_bias(c, 3 * hidden, false, device),
            to_out: Conv1x1::new(hidden, c, device),
            heads,
        }
    }

    /// x: (B, C, H, W) → same shape. k is soft-maxed over the H·W positions; q is not scaled.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [b, _c, h, w] = x.dims();
        let n = h * w;
        let normed = match (&self.norm.gamma, &self.norm.beta) {
            (Some(gamma), Some(beta)) if gta_nn::kernels::enabled("instance-norm") => {
                channel_norm(x.clone(), gamma.val(), beta.val(), self.norm.epsilon as f32)
            }
            _ => self.norm.forward(x.clone()),
        };
        let wqkv = self.to_qkv.weight.val();
        let [three_hidden, c_in] = wqkv.dims();
        let hidden = three_hidden / 3;
        let dh = hidden / self.heads;
        let (q, k, v) = if wqkv.is_autodiff() && split_qkv_weight() {
            // Training: one product per row block of the qkv weight. Splitting one qkv product
            // with `chunk` costs its backward, per chunk, a zero tensor the size of the whole qkv
            // activation, a slice write and an add: ≈ 11 qkv-sized passes per attention block,
            // about 6 GB a step (session-7 fill trace, `benchmarks/RESULTS.md`). Slicing the
            // weight moves that zero-fill-and-add onto the [3·hidden, C] weight gradient instead.
            let x = normed.reshape([b, c_in, n]);
            let part = |i: usize| {
                wqkv.clone()
                    .slice(i * hidden..(i + 1) * hidden)
                    .reshape([1, hidden, c_in])
                    .matmul(x.clone())
                    .reshape([b, self.heads, dh, n])
            };
            (part(0), part(1), part(2))
        } else {
            let qkv = self.to_qkv.forward(normed);
            let mut parts = qkv.reshape([b, 3 * self.heads, dh, n]).chunk(3, 1);
            let v = parts.pop().unwrap();
            let k = parts.pop().unwrap();
            (parts.pop().unwrap(), k, v)
        };
        let k = if gta_nn::kernels::enabled("softmax") {
            softmax_last(k)
        } else {
            softmax(k, 3)
        };
        // context[d, e] = Σ_n k[d, n] v[e, n];  out[e, n] = Σ_d context[d, e] q[d, n].
        let context = k.matmul(v.swap_dims(2, 3));
        let out = context.swap_dims(2, 3).matmul(q).reshape([b, hidden, h, w]);
        if !x.is_autodiff()
            && !self.to_out.weight.val().is_autodiff()
            && gta_nn::kernels::enabled("channel-sum")
        {
            // Sampler: the output conv's bias and the residual in one pass.
            let [_, c, _, _] = x.dims();
            let zero_emb =
                Tensor::<2>::zeros([b, c], &x.device()).cast(FloatDType::from(x.dtype()));
            let y = channel_sum(
                self.to_out.forward_unbiased(out),
                x.reshape([b, c, h * w]),
                self.to_out.bias_or_zeros(),
                zero_emb,
            );
            return y.reshape([b, c, h, w]);
        }
        x + self.to_out.forward(out)
    }
}

/// One down level: two MixerBlocks, attention, optional stride-(2,1) 3×3 conv.
#[derive(Module, Debug)]
pub struct DownLevel {
    /// MixerBlock(C_in → C_out).
    pub block1: MixerBlock,
    /// MixerBlock(C_out → C_out).
    pub block2: MixerBlock,
    /// Attention block.
    pub attn: AttnBlock,
    /// Downsample conv (absent at the last level or without down-sampling).
    pub downsample: Option<Conv2d>,
}

/// One up level: two MixerBlocks on `[x, skip]`, attention, optional transposed conv.
#[derive(Module, Debug)]
pub struct UpLevel {
    /// MixerBlock(2·C_out → C_in).
    pub block1: MixerBlock,
    /// MixerBlock(C_in → C_in).
    pub block2: MixerBlock,
    /// Attention block.
    pub attn: AttnBlock,
    /// Upsample: ConvTranspose2d kernel (4,3), stride (2,1), pad (1,1) (absent without
    /// down-sampling).
    pub upsample: Option<ConvTranspose2d>,
}

/// The MixerUnet network F (method.md §3, layer table §3.4).
#[derive(Module, Debug)]
pub struct MixerUnet {
    /// Frozen RFF of c_noise (reference `time_mlp.0`).
    pub time_rff: RandomFourierEmbedding,
    /// Linear(2k+1 → 4·dim) (reference `time_mlp.1`).
    pub time_fc1: Linear,
    /// Linear(4·dim → dim) (reference `time_mlp.3`).
    pub time_fc2: Linear,
    /// Linear(cond_dim → 2·dim) (reference `cond_mlp.0`).
    pub cond_fc1: Linear,
    /// Linear(2·dim → dim) (reference `cond_mlp.2`).
    pub cond_fc2: Linear,
    /// Down levels.
    pub downs: Vec<DownLevel>,
    /// First middle MixerBlock.
    pub mid_block1: MixerBlock,
    /// Middle attention.
    pub mid_attn: AttnBlock,
    /// Second middle MixerBlock.
    pub mid_block2: MixerBlock,
    /// Up levels.
    pub ups: Vec<UpLevel>,
    /// Conv2d(dim → dim, 3×3, pad 1) (reference `final_conv.0.block.0`).
    pub final_conv: Conv2d,
    /// GroupNorm(groups, dim) (reference `final_conv.0.block.1`).
    pub final_norm: GroupNorm,
    /// Conv 1×1 dim → 1 (reference `final_conv.1`).
    pub final_out: Conv1x1,
    /// Base channel count.
    pub dim: usize,
    /// Rows T.
    pub horizon: usize,
    /// Row width D.
    pub transition_dim: usize,
}

impl MixerUnet {
    /// Trainable parameters (all but the frozen RFF frequencies), the §3.5 count.
    pub fn num_trainable_params(&self) -> usize {
        self.num_params() - self.time_rff.num_frequencies()
    }

    /// Block embedding `e = [c_emb, t_emb]` (method.md §3.2). `cond = None` is the unconditional
    /// call (zero c_emb); `cond_keep` (B, 1) multiplies c_emb (the condition-dropout mask).
    pub fn embedding(
        &self,
        c_noise: Tensor<2>,
        cond: Option<Tensor<2>>,
        cond_keep: Option<Tensor<2>>,
    ) -> Tensor<2> {
        let b = c_noise.dims()[0];
        let t_emb = self.time_fc2.forward(mish(
            self.time_fc1
                .forward(self.time_rff.forward(c_noise.clone())),
        ));
        let c_emb = match cond {
            Some(c) => {
                let c_emb = self.cond_fc2.forward(mish(self.cond_fc1.forward(c)));
                match cond_keep {
                    Some(keep) => c_emb * keep,
                    None => c_emb,
                }
            }
            None => Tensor::zeros([b, self.dim], &c_noise.device()),
        };
        Tensor::cat(vec![c_emb, t_emb], 1)
    }

    /// F(x, c_noise, c): x (B, T, D), c_noise (B, 1), cond (B, cond_dim) → (B, T, D).
    /// Convolutions along [`ConvPath::from_env`].
    pub fn forward(
        &self,
        x: Tensor<3>,
        c_noise: Tensor<2>,
        cond: Option<Tensor<2>>,
        cond_keep: Option<Tensor<2>>,
    ) -> Tensor<3> {
        self.forward_with(x, c_noise, cond, cond_keep, ConvPath::from_env())
    }

    /// [`MixerUnet::forward`] with the convolutions evaluated along `conv`.
    pub fn forward_with(
        &self,
        x: Tensor<3>,
        c_noise: Tensor<2>,
        cond: Option<Tensor<2>>,
        cond_keep: Option<Tensor<2>>,
        conv: ConvPath,
    ) -> Tensor<3> {
        let [b, t, d] = x.dims();
        // The embedding is computed in its weights' dtype (f32 even in a bf16-cast network,
        // `Denoiser::cast`) and used in the blocks' dtype.
        let mish_e = mish(self.embedding(c_noise, cond, cond_keep));
        let mish_e = if mish_e.dtype() == x.dtype() {
            mish_e
        } else {
            mish_e.cast(burn::tensor::FloatDType::from(x.dtype()))
        };
        let mut h = x.reshape([b, 1, t, d]);
        let mut skips = Vec::with_capacity(self.downs.len());
        for (i, level) in self.downs.iter().enumerate() {
            h = level.block1.forward(h, &mish_e);
            h = level.block2.forward(h, &mish_e);
            h = level.attn.forward(h);
            if i > 0 {
                skips.push(h.clone()); // h0 is never popped by the reference: not kept
            }
            if let Some(down) = &level.downsample {
                h = conv.conv2d(down, h);
            }
        }
        h = self.mid_block1.forward(h, &mish_e);
        h = self.mid_attn.forward(h);
        h = self.mid_block2.forward(h, &mish_e);
        for level in &self.ups {
            let skip = skips.pop().expect("one skip per up level");
            h = Tensor::cat(vec![h, skip], 1);
            h = level.block1.forward(h, &mish_e);
            h = level.block2.forward(h, &mish_e);
            h = level.attn.forward(h);
            if let Some(up) = &level.upsample {
                h = conv.conv_transpose2d(up, h);
            }
        }
        let h = conv.conv2d(&self.final_conv, h);
        let h = mish(self.final_norm.forward(h));
        self.final_out.forward(h).reshape([b, t, d])
    }
}
