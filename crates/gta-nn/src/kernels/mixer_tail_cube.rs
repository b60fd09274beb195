//! CubeCL kernel of [`MixerTailOps`]: each thread takes `r` of the (b, c, w) columns of H
//! values. The columns, their normalized copies and the outputs stay in registers (H ≤ 32
//! unrolled); the hidden layer is produced `V` units at a time and consumed at once, so it never
//! reaches memory. Every thread of a warp reads the same weights, which each block first copies
//! to shared memory and then reads as `V`-wide vectors (one load per `r·V` multiply-adds).
//! Arithmetic in f32 whatever the tensor dtype.
use super::cube_util::empty_like;
use super::mixer_tail::{MixerTailOps, mixer_tail_composite};
use burn::backend::cubecl::dtype_to_storage_type;
use burn::backend::tensor::FloatTensor;
use burn_cubecl::CubeBackend;
use burn_cubecl::kernel::into_contiguous;
use cubecl::{calculate_cube_count_elemwise, prelude::*};

/// Longest column the kernel unrolls; longer ones (windows without down-sampling, T > 32) take
/// the composite default.
pub(crate) const MAX_COLUMN: usize = 32;

/// Offset in x of row 0 of column `col` ((b, c, w) in x's (B, C, ·, W) order).
#[cube]
fn column_base<F: Float>(x: &Tensor<F>, col: usize) -> usize {
    let wd = x.shape(3);
    let bc = col / wd;
    let cd = x.shape(1);
    (bc / cd) * x.stride(0) + (bc % cd) * x.stride(1) + (col % wd) * x.stride(3)
}

#[cube(launch_unchecked)]
#[allow(clippy::too_many_arguments)]
fn mixer_tail_kernel<F: Float, N: Size>(
    x: &Tensor<F>,
    f: &Tensor<F>,
    gamma: &Tensor<F>,
    beta: &Tensor<F>,
    w1: &Tensor<Vector<F, N>>,
    b1: &Tensor<Vector<F, N>>,
    w2: &Tensor<Vector<F, N>>,
    b2: &Tensor<F>,
    b_f: &Tensor<F>,
    emb: &Tensor<F>,
    y: &mut Tensor<F>,
    eps: f32,
    #[comptime] h: usize,
    #[comptime] v: usize,
    #[comptime] r: usize,
    #[comptime] residual: bool,
    #[define(F)] _dtype: ElemType,
) {
    // Thread t takes the r columns t, t + per, …, t + (r − 1)·per (each set of r is read
    // coalesced across the warp); every weight load then feeds r·v multiply-adds.
    let cols = y.len() / h;
    let per = (cols + r - 1) / r;
    let t = ABSOLUTE_POS;
    let hid_vecs = comptime!(4 * h / v);
    let out_vecs = comptime!(h / v);

    // The block's copy of the MLP weights in shared memory: every thread reads the same weight
    // at the same time (a broadcast), and shared memory answers sooner than the L1 cache (the
    // global loads were the warps' main stall, Nsight Compute, RESULTS.md session 6).
    let w_vecs = comptime!(4 * h * h / v);
    let mut w1s = Shared::<[Vector<F, N>]>::new_slice(w_vecs);
    let mut w2s = Shared::<[Vector<F, N>]>::new_slice(w_vecs);
    let mut b1s = Shared::<[Vector<F, N>]>::new_slice(hid_vecs);
    let mut ld = UNIT_POS as usize;
    while ld < w_vecs {
        w1s[ld] = w1[ld];
        w2s[ld] = w2[ld];
        ld += CUBE_DIM as usize;
    }
    let mut lb = UNIT_POS as usize;
    while lb < hid_vecs {
        b1s[lb] = b1[lb];
        lb += CUBE_DIM as usize;
    }
    sync_cube();
    if t >= per {
        terminate!();
    }
    let sh = x.stride(2);
    let inv_h = f32::new(comptime!(1.0 / h as f32));

    // LayerNorm of each column (biased variance, as PyTorch). Columns past the end (the last
    // thread's) repeat the last column and are not written.
    let mut xs = Array::<f32>::new(comptime!(r * h));
    #[unroll]
    for k in 0..r {
        let mut col = t + k * per;
        if col >= cols {
            col = cols - 1;
        }
        let xb = column_base(x, col);
        let mut sum = f32::new(0.0);
        #[unroll]
        for i in 0..h {
            let val = f32::cast_from(x[xb + i * sh]);
            xs[k * h + i] = val;
            sum += val;
        }
        let mu = sum * inv_h;
        let mut var = f32::new(0.0);
        #[unroll]
        for i in 0..h {
            let d = xs[k * h + i] - mu;
            var += d * d;
        }
        let rs = (var * inv_h + eps).inverse_sqrt();
        #[unroll]
        for i in 0..h {
            xs[k * h + i] =
                (xs[k * h + i] - mu) * rs * f32::cast_from(gamma[i]) + f32::cast_from(beta[i]);
        }
    }

    // fc2(GELU(fc1(x̂))): V hidden units at a time, for the r columns together.
    let mut out = Array::<f32>::new(comptime!(r * h));
    #[unroll]
    for k in 0..r {
        #[unroll]
        for i in 0..h {
            out[k * h + i] = f32::cast_from(b2[i]);
        }
    }
    let mut s = Array::<f32>::new(comptime!(r * v));
    for jv in 0..hid_vecs {
        let bias = b1s[jv];
        #[unroll]
        for k in 0..r {
            #[unroll]
            for u in 0..v {
                s[k * v + u] = f32::cast_from(bias.extract(u));
            }
        }
        #[unroll]
        for i in 0..h {
            let wv = w1s[i * hid_vecs + jv];
            #[unroll]
            for u in 0..v {
                let wu = f32::cast_from(wv.extract(u));
                #[unroll]
                for k in 0..r {
                    s[k * v + u] += xs[k * h + i] * wu;
                }
            }
        }
        #[unroll]
        for k in 0..r {
            #[unroll]
            for u in 0..v {
                let z = s[k * v + u];
                s[k * v + u] = z
                    * (Erf::erf(z * f32::new(comptime!(core::f32::consts::FRAC_1_SQRT_2))) + 1.0)
                    * 0.5;
            }
        }
        #[unroll]
        for u in 0..v {
            let j = jv * v + u;
            #[unroll]
            for iv in 0..out_vecs {
                let wv = w2s[j * out_vecs + iv];
                #[unroll]
                for uu in 0..v {
                    let wu = f32::cast_from(wv.extract(uu));
                    #[unroll]
                    for k in 0..r {
                        out[k * h + iv * v + uu] += s[k * v + u] * wu;
                    }
                }
            }
        }
    }

    // Branch sum (+ embedding and residual), written as contiguous (B, C, H, W).
    let wd = x.shape(3);
    let cd = x.shape(1);
    #[unroll]
    for k in 0..r {
        let col = t + k * per;
        if col < cols {
            let w = col % wd;
            let bc = col / wd;
            let c = bc % cd;
            let b = bc / cd;
            let xb = column_base(x, col);
            let fcol = b * f.stride(0) + (c * wd + w) * f.stride(2);
            let bias_f = f32::cast_from(b_f[c * wd + w]);
            #[unroll]
            for i in 0..h {
                let mut val = out[k * h + i] + f32::cast_from(f[fcol + i * f.stride(1)]) + bias_f;
                if comptime!(residual) {
                    val += f32::cast_from(emb[b * cd + c]) + f32::cast_from(x[xb + i * sh]);
                }
                y[(bc * h + i) * wd + w] = F::cast_from(val);
            }
        }
    }
}

impl MixerTailOps for CubeBackend {
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
        let shape = x.meta.shape();
        let (b, c, h, w) = (shape[0], shape[1], shape[2], shape[3]);
        if h > MAX_COLUMN {
            return mixer_tail_composite::<Self>(
                x, f, ln_gamma, ln_beta, w1, b1, w2, b2, b_f, emb, ln_eps, residual,
            );
        }
        // x and f are read in place through their strides; the small operands contiguous.
        let [gamma, beta, w1, b1, w2, b2, b_f, emb] =
            [ln_gamma, ln_beta, w1, b1, w2, b2, b_f, emb].map(into_contiguous);
        let v = [4usize, 2, 1]
            .into_iter()
            .find(|v| h % v == 0)
            .expect("1 divides h");
        let y = empty_like(&x);
        // Columns per thread: the registers of r columns and outputs (2·r·H values) limit how
        // many warps fit on an SM; 1 for H = 32, 2 for H = 16, 4 below. Blocks of 128 threads.
        let r = match h {
            17.. => 1,
            9..=16 => 2,
            _ => 4,
        };
        let threads = (b * c * w).div_ceil(r);
        let cube_dim = CubeDim::new_1d(128);
        let cube_count = calculate_cube_count_elemwise(&x.client, threads, cube_dim);
        let (client, dtype) = (x.client.clone(), x.dtype);
        // SAFETY: r columns per thread, each clamped to < rows for reads and guarded for writes;
        // x and f are read at offsets built from
        // their own shapes and strides ([B, C, H, W] and [B, H, C·W], checked by the caller);
        // the weights are contiguous [H, 4H] and [4H, H] with H a multiple of the vector width;
        // y is contiguous [B, C, H, W].
        unsafe {
            mixer_tail_kernel::launch_unchecked(
                &client,
                cube_count,
                cube_dim,
                v,
                x.into_tensor_arg(),
                f.into_tensor_arg(),
                gamma.into_tensor_arg(),
                beta.into_tensor_arg(),
                w1.into_tensor_arg(),
                b1.into_tensor_arg(),
                w2.into_tensor_arg(),
                b2.into_tensor_arg(),
                b_f.into_tensor_arg(),
                emb.into_tensor_arg(),
                y.clone().into_tensor_arg(),
                ln_eps,
                h,
                v,
                r,
                residual != 0,
                dtype_to_storage_type(dtype),
            )
        };
        y
    }
}
