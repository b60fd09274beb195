//! 2-D convolution and transposed convolution as im2col + one batched matmul.
//!
//! Same functions as burn's `conv2d` / `conv_transpose2d` (dilation 1, groups 1, no output
//! padding) with burn's weight layouts, written as gta-nn's `im2col` (zero padding included; one
//! gather kernel each way on CUDA, pad / slice / cat on the CPU) and one matmul. On the GPU this
//! replaces burn's direct convolution kernels, which are slow for MixerUnet's shapes (many
//! channels, short rows); see [`crate::mixer_unet`].
//!
//! Layouts (burn-nn 0.22.1): `Conv2d.weight` is `[C_out, C_in, kh, kw]`,
//! `ConvTranspose2d.weight` is `[C_in, C_out, kh, kw]`, both biases are `[C_out]`.

use burn::tensor::ops::PadMode;
use burn::tensor::{Device, Int, Tensor, TensorData};
use gta_nn::kernels::{Im2col, im2col};

/// `burn::tensor::module::conv2d` with dilation 1 and groups 1 as im2col + one matmul.
///
/// x `[B, C_in, H, W]`, weight `[C_out, C_in, kh, kw]`, bias `[C_out]`, padding
/// `[(top, bottom), (left, right)]` (zeros). Returns `[B, C_out, H_out, W_out]` with
/// `H_out = (H + top + bottom − kh) / sh + 1` (likewise W).
pub fn conv2d_gemm(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Option<Tensor<1>>,
    stride: [usize; 2],
    padding: [(usize, usize); 2],
) -> Tensor<4> {
    let [b, c_in, h, w] = x.dims();
    let [c_out, wc_in, kh, kw] = weight.dims();
    assert_eq!(
        c_in, wc_in,
        "conv2d_gemm: input channels (groups must be 1)"
    );
    assert!(stride[0] > 0 && stride[1] > 0, "conv2d_gemm: zero stride");
    let [(top, bottom), (left, right)] = padding;
    let (hp, wp) = (h + top + bottom, w + left + right);
    assert!(
        hp >= kh && wp >= kw,
        "conv2d_gemm: kernel larger than padded input"
    );
    let (ho, wo) = ((hp - kh) / stride[0] + 1, (wp - kw) / stride[1] + 1);
    let cols = im2col(
        x,
        Im2col {
            kernel: [kh, kw],
            stride,
            pad: [top, left],
            out: [ho, wo],
        },
    );
    let y = weight.reshape([1, c_out, c_in * kh * kw]).matmul(cols);
    let y = match bias {
        Some(bias) => y + bias.reshape([1, c_out, 1]),
        None => y,
    };
    y.reshape([b, c_out, ho, wo])
}

/// Polyphase plan of a transposed convolution along one axis (stride s, kernel k, padding p,
/// input length n, no output padding): output `o = m·s + r` (phase r < s) reads inputs
/// `m + d` for the taps `d ∈ [d_min, d_min + taps)`, tap d of phase r using kernel index
/// `r + p − s·d` when that lies in `[0, k)` (and nothing otherwise).
#[derive(Clone, Copy, Debug)]
struct Phases {
    s: usize,
    k: usize,
    p: usize,
    d_min: isize,
    taps: usize,
    /// Output length `(n − 1)·s − 2p + k`, a multiple of s.
    out: usize,
}

impl Phases {
    fn new(n: usize, k: usize, s: usize, p: usize) -> Self {
        assert!(
            s > 0 && n > 0,
            "conv_transpose2d_gemm: zero stride or empty input"
        );
        let full = (n - 1) * s + k;
        assert!(full > 2 * p, "conv_transpose2d_gemm: padding too large");
        let out = full - 2 * p;
        assert!(
            out.is_multiple_of(s),
            "conv_transpose2d_gemm: output length {out} not a multiple of the stride {s}"
        );
        let (si, pi) = (s as isize, p as isize);
        // d = (r + p − kk) / s over all phases r and kernel indices kk ≡ r + p (mod s).
        let ds = (0..s as isize).flat_map(|r| {
            (0..k as isize)
                .filter(move |kk| (r + pi - kk).rem_euclid(si) == 0)
                .map(move |kk| (r + pi - kk) / si)
        });
        let (lo, hi) = ds.fold((isize::MAX, isize::MIN), |(lo, hi), d| {
            (lo.min(d), hi.max(d))
        });
        assert!(lo <= hi, "conv_transpose2d_gemm: empty kernel");
        Self {
            s,
            k,
            p,
            d_min: lo,
            taps: (hi - lo + 1) as usize,
            out,
        }
    }

    /// Kernel index of (phase r, tap u), if any.
    fn kernel_index(&self, r: usize, u: usize) -> Option<usize> {
        let d = self.d_min + u as isize;
        let kk = r as isize + self.p as isize - self.s as isize * d;
        (0..self.k as isize).contains(&kk).then_some(kk as usize)
    }

    /// Zero padding (before, after) of the input so that every tap of every output is in range.
    fn padding(&self, n: usize) -> (usize, usize) {
        let m = (self.out / self.s) as isize;
        let before = -self.d_min;
        let after = (m - 1) + self.d_min + self.taps as isize - 1 - (n as isize - 1);
        assert!(
            before >= 0 && after >= 0,
            "conv_transpose2d_gemm: unsupported configuration (negative padding)"
        );
        (before as usize, after as usize)
    }
}

/// `burn::tensor::module::conv_transpose2d` with dilation 1, groups 1 and no output padding,
/// as one stride-1 im2col + one matmul (polyphase form).
///
/// x `[B, C_in, H, W]`, weight `[C_in, C_out, kh, kw]`, bias `[C_out]`, symmetric padding
/// `[ph, pw]`. Returns `[B, C_out, H_out, W_out]`, `H_out = (H − 1)·sh − 2ph + kh` (likewise W),
/// which must be a multiple of the stride (true for MixerUnet's kernel (4, 3), stride (2, 1),
/// padding (1, 1)).
///
/// Every output phase `(rh, rw)` (row mod sh, column mod sw) is a stride-1 correlation of the
/// padded input with a sub-kernel of the flipped weight; all phases share the same input taps,
/// so one matmul with a `[C_out·sh·sw, C_in·th·tw]` weight (zeros where a phase does not use a
/// tap) computes all of them, and one axis permutation interleaves them.
pub fn conv_transpose2d_gemm(
    x: Tensor<4>,
    weight: Tensor<4>,
    bias: Option<Tensor<1>>,
    stride: [usize; 2],
    padding: [usize; 2],
) -> Tensor<4> {
    let [b, c_in, h, w] = x.dims();
    let [wc_in, c_out, kh, kw] = weight.dims();
    assert_eq!(
        c_in, wc_in,
        "conv_transpose2d_gemm: input channels (groups must be 1)"
    );
    let ph = Phases::new(h, kh, stride[0], padding[0]);
    let pw = Phases::new(w, kw, stride[1], padding[1]);
    let (sh, sw) = (ph.s, pw.s);
    let (mh, mw) = (ph.out / sh, pw.out / sw);
    let (th, tw) = (ph.taps, pw.taps);

    // Gather the [C_out, sh, sw, C_in, th, tw] weight from the flattened kernel plus one zero.
    let zero = kh * kw;
    let mut index = Vec::with_capacity(sh * sw * th * tw);
    for rh in 0..sh {
        for rw in 0..sw {
            for uh in 0..th {
                for uw in 0..tw {
                    index.push(match (ph.kernel_index(rh, uh), pw.kernel_index(rw, uw)) {
                        (Some(i), Some(j)) => (i * kw + j) as i64,
                        _ => zero as i64,
                    });
                }
            }
        }
    }
    let index = gather_index(index, &weight.device());
    let wm = weight
        .reshape([c_in, c_out, kh * kw])
        .pad([(0, 1)], PadMode::Constant(0.0))
        .select(2, index)
        .reshape([c_in, c_out, sh * sw, th * tw])
        .permute([1, 2, 0, 3])
        .reshape([1, c_out * sh * sw, c_in * th * tw]);

    let (top, _) = ph.padding(h);
    let (left, _) = pw.padding(w);
    let cols = im2col(
        x,
        Im2col {
            kernel: [th, tw],
            stride: [1, 1],
            pad: [top, left],
            out: [mh, mw],
        },
    );
    // [B, C_out·sh·sw, mh·mw]; rows (co, rh, rw).
    let y = wm.matmul(cols).reshape([b, c_out, sh * sw * mh * mw]);
    let y = match bias {
        Some(bias) => y + bias.reshape([1, c_out, 1]),
        None => y,
    };
    if sh * sw == 1 {
        return y.reshape([b, c_out, mh, mw]);
    }
    y.reshape([b, c_out, sh, sw, mh, mw])
        .permute([0, 1, 4, 2, 5, 3])
        .reshape([b, c_out, ph.out, pw.out])
}

/// Uploaded gather indices: (host indices, device, the tensor on that device).
type IndexCache = Vec<(Vec<i64>, Device, Tensor<1, Int>)>;

thread_local! {
    /// The weight-gather indices already on a device, per (indices, device): uploaded once, so a
    /// training step writes nothing from the host (a captured CUDA graph may not contain host
    /// writes, `crate::graph_step`).
    static GATHER_INDEX: std::cell::RefCell<IndexCache> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// `index` as an Int tensor on `device`, from the cache when it was uploaded before.
fn gather_index(index: Vec<i64>, device: &Device) -> Tensor<1, Int> {
    GATHER_INDEX.with(|cache| {
        let mut cache = cache.borrow_mut();
        if let Some((_, _, t)) = cache.iter().find(|(i, d, _)| *i == index && d == device) {
            return t.clone();
        }
        let n = index.len();
        let t = Tensor::<1, Int>::from_data(TensorData::new(index.clone(), [n]), device);
        cache.push((index, device.clone(), t.clone()));
        t
    })
}
