//! im2col with zero padding, the data rearrangement of a 2-D convolution written as one matmul
//! (gta-diffusion's `conv_gemm`), as a backend op with a hand-written backward (col2im).
//!
//! The composite (pad, 6-D reshape, one slice per tap, `cat`) costs ≈ 11 launches per call and
//! its autodiff backward about 30: a zero fill and a slice-assign per tap, the adds between the
//! tap gradients and the pad's own fills (session-5 profiles, `benchmarks/RESULTS.md`). On CUDA
//! each direction is one gather kernel (`im2col_cube.rs`); the composite below is the CPU path
//! and the reference the GPU self-test compares the kernels with.

#[cfg(feature = "fusion")]
use burn::backend::fusion::custom::TensorSpec;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, TensorMetadata, backend_extension};
use burn::tensor::ops::PadMode;
use burn::tensor::{Shape, Slice, Tensor};

/// The geometry of one im2col:
/// `cols[b, (c·kh + i)·kw + j, oh·wo + ow] = x[b, c, oh·sh + i − top, ow·sw + j − left]`, zero
/// where the index falls outside x.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Im2col {
    /// Kernel size (kh, kw).
    pub kernel: [usize; 2],
    /// Stride (sh, sw).
    pub stride: [usize; 2],
    /// Zero rows above and columns left of x (top, left); those below and right follow from `out`.
    pub pad: [usize; 2],
    /// Output positions (ho, wo).
    pub out: [usize; 2],
}

impl Im2col {
    /// `[B, C·kh·kw, ho·wo]` for x of `[B, C, H, W]`.
    pub fn cols_shape(&self, x: &Shape) -> Shape {
        let [kh, kw] = self.kernel;
        Shape::from(vec![x[0], x[1] * kh * kw, self.out[0] * self.out[1]])
    }

    /// Per axis: the padded extent, a multiple of the stride that the 6-D view needs
    /// (`hb·sh`), and how many input rows it keeps (x is cropped when taps never reach its end).
    fn extents(&self, h: usize, axis: usize) -> (usize, usize, usize) {
        let (k, s, pad, out) = (
            self.kernel[axis],
            self.stride[axis],
            self.pad[axis],
            self.out[axis],
        );
        let need = (out - 1) * s + k;
        let blocks = need.div_ceil(s).max(out + (k - 1) / s);
        let total = blocks * s;
        (blocks, total, h.min(total.saturating_sub(pad)))
    }
}

#[cfg(feature = "fusion")]
fn cols_spec(x: &TensorSpec, g: &Im2col) -> TensorSpec {
    TensorSpec::new(g.cols_shape(&x.shape), x.dtype)
}

fn full(n: usize) -> Slice {
    Slice::new(0, Some(n as isize), 1)
}

fn range(start: usize, len: usize) -> Slice {
    Slice::new(start as isize, Some((start + len) as isize), 1)
}

/// The 6-D region `[b, c, r..r+ho, p, q..q+wo, s]` that tap (i, j) reads in the
/// `[B, C, hb, sh, wb, sw]` view of the padded input.
fn tap_region(g: &Im2col, b: usize, c: usize, i: usize, j: usize) -> [Slice; 6] {
    let ([sh, sw], [ho, wo]) = (g.stride, g.out);
    [
        full(b),
        full(c),
        range(i / sh, ho),
        range(i % sh, 1),
        range(j / sw, wo),
        range(j % sw, 1),
    ]
}

/// im2col from pad, reshape, slices and `cat` (the CPU path and the GPU reference).
pub fn im2col_composite<B: Backend>(x: FloatTensor<B>, g: Im2col) -> FloatTensor<B> {
    let shape = x.shape();
    let (b, c, h, w) = (shape[0], shape[1], shape[2], shape[3]);
    let ((hb, th, kh_), (wb, tw, kw_)) = (g.extents(h, 0), g.extents(w, 1));
    let x = if kh_ < h || kw_ < w {
        B::float_slice(x, &[full(b), full(c), full(kh_), full(kw_)])
    } else {
        x
    };
    let [top, left] = g.pad;
    // One (before, after) pair per axis.
    let padding = [
        (0, 0),
        (0, 0),
        (top, th - top - kh_),
        (left, tw - left - kw_),
    ];
    let x = if padding.iter().any(|&(a, z)| a + z > 0) {
        B::float_pad(x, &padding, PadMode::Constant(0.0))
    } else {
        x
    };
    let [sh, sw] = g.stride;
    let x = B::float_reshape(x, Shape::from(vec![b, c, hb, sh, wb, sw]));
    let ([kh, kw], [ho, wo]) = (g.kernel, g.out);
    let taps = (0..kh * kw)
        .map(|t| {
            let tap = B::float_slice(x.clone(), &tap_region(&g, b, c, t / kw, t % kw));
            B::float_reshape(tap, Shape::from(vec![b, c, 1, ho * wo]))
        })
        .collect();
    B::float_reshape(B::float_cat(taps, 2), g.cols_shape(&shape))
}

/// The adjoint of [`im2col_composite`] (col2im): every tap's gradient added back where the tap
/// read, then the padding cut off.
pub fn col2im_composite<B: Backend>(
    dcols: FloatTensor<B>,
    x_shape: &Shape,
    g: Im2col,
) -> FloatTensor<B> {
    let (b, c, h, w) = (x_shape[0], x_shape[1], x_shape[2], x_shape[3]);
    let ((hb, th, kh_), (wb, tw, kw_)) = (g.extents(h, 0), g.extents(w, 1));
    let ([kh, kw], [sh, sw], [ho, wo], [top, left]) = (g.kernel, g.stride, g.out, g.pad);
    let d = B::float_reshape(dcols, Shape::from(vec![b, c, kh * kw, ho, wo]));
    let (device, dtype) = (d.device(), d.dtype());
    let mut acc = B::float_zeros(
        Shape::from(vec![b, c, hb, sh, wb, sw]),
        &device,
        dtype.into(),
    );
    for t in 0..kh * kw {
        let tap = B::float_slice(
            d.clone(),
            &[full(b), full(c), range(t, 1), full(ho), full(wo)],
        );
        let tap = B::float_reshape(tap, Shape::from(vec![b, c, ho, 1, wo, 1]));
        let region = tap_region(&g, b, c, t / kw, t % kw);
        let sum = B::float_add(B::float_slice(acc.clone(), &region), tap);
        acc = B::float_slice_assign(acc, &region, sum);
    }
    let dx = B::float_reshape(acc, Shape::from(vec![b, c, th, tw]));
    let dx = B::float_slice(dx, &[full(b), full(c), range(top, kh_), range(left, kw_)]);
    if kh_ < h || kw_ < w {
        let padding = [(0, 0), (0, 0), (0, h - kh_), (0, w - kw_)];
        B::float_pad(dx, &padding, PadMode::Constant(0.0))
    } else {
        dx
    }
}

/// im2col as a backend op with a hand-written backward.
#[backend_extension(
    Cube: cfg(feature = "cuda"),
    Flex: cfg(all()),
    Autodiff,
    Fusion: cfg(feature = "fusion")
)]
pub trait Im2colOps: Backend {
    /// `[B, C, H, W]` → `[B, C·kh·kw, ho·wo]` (see [`Im2col`]).
    #[fusion(meta = |x, g| cols_spec(x, g))]
    fn im2col(x: FloatTensor<Self>, geometry: Im2col) -> FloatTensor<Self> {
        im2col_composite::<Self>(x, geometry)
    }

    /// The gradient of x: `[B, C·kh·kw, ho·wo]` → `[B, C, H, W]` (`input` = (H, W)).
    #[fusion(meta = |d, g, input| TensorSpec::new(
        Shape::from(vec![d.shape[0], d.shape[1] / (g.kernel[0] * g.kernel[1]), input[0], input[1]]),
        d.dtype,
    ))]
    fn col2im(dcols: FloatTensor<Self>, geometry: Im2col, input: [usize; 2]) -> FloatTensor<Self> {
        let [k0, k1] = geometry.kernel;
        let s = dcols.shape();
        let x_shape = Shape::from(vec![s[0], s[1] / (k0 * k1), input[0], input[1]]);
        col2im_composite::<Self>(dcols, &x_shape, geometry)
    }
}

impl Im2colOps for burn::backend::Flex {}

/// im2col of `x` (`[B, C, H, W]`) with zero padding: `[B, C·kh·kw, ho·wo]`, differentiable;
/// one gather kernel each way on CUDA.
pub fn im2col(x: Tensor<4>, geometry: Im2col) -> Tensor<3> {
    Tensor::from_dispatch(Dispatch::im2col(x.into_dispatch(), geometry))
}
