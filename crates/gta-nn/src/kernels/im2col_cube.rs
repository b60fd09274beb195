//! CubeCL kernels of [`Im2colOps`]: one gather thread per output element each way (no atomics,
//! so the backward is deterministic).
use super::cube_util::grid;
use super::im2col::{Im2col, Im2colOps, im2col_composite};
use burn::backend::cubecl::dtype_to_storage_type;
use burn::backend::tensor::FloatTensor;
use burn::tensor::Shape;
use burn_cubecl::CubeBackend;
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::ops::numeric::empty_device_contiguous_dtype;
use burn_cubecl::tensor::CubeTensor;
use cubecl::prelude::*;

/// The geometry as compile-time constants, so that the index arithmetic divides by constants
/// (multiply-shift) instead of running 64-bit divisions per element (which made the forward
/// kernel run at a third of the memory bandwidth): `[C, H, W, kh, kw, sh, sw, top, left, ho, wo]`.
type Geo = [usize; 11];

/// cols[b, (c·kh + i)·kw + j, oh·wo + ow] = x[b, c, oh·sh + i − top, ow·sw + j − left] or 0.
#[cube(launch_unchecked)]
fn im2col_kernel<F: Float>(
    x: &Tensor<F>,
    cols: &mut Tensor<F>,
    #[comptime] geo: Geo,
    #[define(F)] _dtype: ElemType,
) {
    let idx = ABSOLUTE_POS;
    if idx >= cols.len() {
        terminate!();
    }
    let (c, h, w) = (comptime!(geo[0]), comptime!(geo[1]), comptime!(geo[2]));
    let (kw, sh, sw) = (comptime!(geo[4]), comptime!(geo[5]), comptime!(geo[6]));
    let (top, left, wo) = (comptime!(geo[7]), comptime!(geo[8]), comptime!(geo[10]));
    let p_len = comptime!(geo[9] * geo[10]);
    let k = comptime!(geo[3] * geo[4]);
    let ck = comptime!(geo[0] * geo[3] * geo[4]);
    let p = idx % p_len;
    let row = (idx / p_len) % ck;
    let b = idx / (p_len * ck);
    let (ch, t) = (row / k, row % k);
    let (i, j) = (t / kw, t % kw);
    let yy = (p / wo) * sh + i;
    let xx = (p % wo) * sw + j;
    let mut v = F::new(0.0);
    if yy >= top && yy - top < h && xx >= left && xx - left < w {
        v = x[((b * c + ch) * h + (yy - top)) * w + (xx - left)];
    }
    cols[idx] = v;
}

/// dx[b, c, y, x] = Σ over the taps (i, j) and positions (oh, ow) that read x[b, c, y, x].
#[cube(launch_unchecked)]
fn col2im_kernel<F: Float>(
    dcols: &Tensor<F>,
    dx: &mut Tensor<F>,
    #[comptime] geo: Geo,
    #[define(F)] _dtype: ElemType,
) {
    let idx = ABSOLUTE_POS;
    if idx >= dx.len() {
        terminate!();
    }
    let (c, h, w) = (comptime!(geo[0]), comptime!(geo[1]), comptime!(geo[2]));
    let (kh, kw, sh, sw) = (
        comptime!(geo[3]),
        comptime!(geo[4]),
        comptime!(geo[5]),
        comptime!(geo[6]),
    );
    let (top, left, ho, wo) = (
        comptime!(geo[7]),
        comptime!(geo[8]),
        comptime!(geo[9]),
        comptime!(geo[10]),
    );
    let p_len = comptime!(geo[9] * geo[10]);
    let k = comptime!(geo[3] * geo[4]);
    let xx = idx % w;
    let yy = (idx / w) % h;
    let bc = idx / (w * h);
    let (b, ch) = (bc / c, bc % c);
    let base = (b * c + ch) * k * p_len;
    let mut acc = f32::new(0.0);
    #[unroll]
    for i in 0..kh {
        let ty = yy + top;
        if ty >= i && (ty - i) % sh == 0 && (ty - i) / sh < ho {
            let oh = (ty - i) / sh;
            #[unroll]
            for j in 0..kw {
                let tx = xx + left;
                if tx >= j && (tx - j) % sw == 0 && (tx - j) / sw < wo {
                    let ow = (tx - j) / sw;
                    acc += f32::cast_from(dcols[base + (i * kw + j) * p_len + oh * wo + ow]);
                }
            }
        }
    }
    dx[idx] = F::cast_from(acc);
}

fn geo(g: &Im2col, c: usize, h: usize, w: usize) -> Geo {
    [
        c,
        h,
        w,
        g.kernel[0],
        g.kernel[1],
        g.stride[0],
        g.stride[1],
        g.pad[0],
        g.pad[1],
        g.out[0],
        g.out[1],
    ]
}

fn empty(t: &CubeTensor, shape: Shape) -> CubeTensor {
    empty_device_contiguous_dtype(t.client.clone(), t.device.clone(), shape, t.dtype)
}

impl Im2colOps for CubeBackend {
    fn im2col(x: FloatTensor<Self>, geometry: Im2col) -> FloatTensor<Self> {
        if !super::enabled("im2col") {
            return im2col_composite::<Self>(x, geometry);
        }
        let x = into_contiguous(x);
        let s = x.meta.shape().clone();
        let cols = empty(&x, geometry.cols_shape(&s));
        let n = cols.meta.shape().num_elements();
        let (count, cube_dim) = grid(&x, n);
        let (client, dtype) = (x.client.clone(), x.dtype);
        let geo = geo(&geometry, s[1], s[2], s[3]);
        // SAFETY: one thread per cols element < n (guarded); x is read only at in-range
        // (b, c, y, x) of its contiguous [B, C, H, W] buffer.
        unsafe {
            im2col_kernel::launch_unchecked(
                &client,
                count,
                cube_dim,
                x.into_tensor_arg(),
                cols.clone().into_tensor_arg(),
                geo,
                dtype_to_storage_type(dtype),
            )
        };
        cols
    }

    fn col2im(dcols: FloatTensor<Self>, geometry: Im2col, input: [usize; 2]) -> FloatTensor<Self> {
        let d = into_contiguous(dcols);
        let s = d.meta.shape().clone();
        let c = s[1] / (geometry.kernel[0] * geometry.kernel[1]);
        if !super::enabled("im2col") {
            let x_shape = Shape::from(vec![s[0], c, input[0], input[1]]);
            return super::im2col::col2im_composite::<Self>(d, &x_shape, geometry);
        }
        let dx = empty(&d, Shape::from(vec![s[0], c, input[0], input[1]]));
        let n = dx.meta.shape().num_elements();
        let (count, cube_dim) = grid(&d, n);
        let (client, dtype) = (d.client.clone(), d.dtype);
        let geo = geo(&geometry, c, input[0], input[1]);
        // SAFETY: one thread per dx element < n (guarded); dcols is read at in-range
        // (b, c·K + tap, position) of its contiguous [B, C·K, ho·wo] buffer.
        unsafe {
            col2im_kernel::launch_unchecked(
                &client,
                count,
                cube_dim,
                d.into_tensor_arg(),
                dx.clone().into_tensor_arg(),
                geo,
                dtype_to_storage_type(dtype),
            )
        };
        dx
    }
}
