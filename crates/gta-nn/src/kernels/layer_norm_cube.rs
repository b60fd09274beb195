//! CubeCL kernels: one row per thread for rows of at most `MAX_H` values (loops unrolled), one
//! 32-lane plane per row for longer rows; row length fixed at compile time, statistics
//! accumulated in f32 whatever the tensor dtype.
use super::col_sum;
use super::layer_norm::{SHORT_ROW_MAX as MAX_H, ShortLnOps, channel_row, rows_n, stats_shape};
use burn::backend::cubecl::dtype_to_storage_type;
use burn::backend::ops::FloatTensorOps;
use burn::backend::tensor::FloatTensor;
use burn::tensor::{DType, Shape};
use burn_cubecl::CubeBackend;
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::ops::numeric::empty_device_contiguous_dtype;
use burn_cubecl::tensor::CubeTensor;
use cubecl::{calculate_cube_count_elemwise, prelude::*};

/// Offset in `x` of the first element of row `row`: the row index split over x's `lead` leading
/// axes, each through x's own stride (x may be a permuted view).
#[cube]
pub(crate) fn row_base<F: Float>(x: &Tensor<F>, row: usize, lead: u32) -> usize {
    let mut r = row;
    let mut off = 0usize;
    for i in 0..lead {
        let d = (lead - 1 - i) as usize;
        let size = x.shape(d);
        off += (r % size) * x.stride(d);
        r /= size;
    }
    off
}

/// Element `e` of a row starting at `base`: `e` split as (e / w, e % w) over the one or two
/// trailing axes, with strides (s2, s1).
#[cube]
fn elem<F: Float>(x: &Tensor<F>, base: usize, e: usize, #[comptime] w: u32, s1: u32, s2: u32) -> F {
    // w is a compile-time constant: `e / w` and `e % w` divide by a constant (multiply-shift)
    // instead of running a 64-bit division per element.
    let w = comptime!(w as usize);
    let (s1, s2) = (s1 as usize, s2 as usize);
    x[base + (e / w) * s2 + (e % w) * s1]
}

/// Where element `e` of row `row` finds its affine parameters, as `ci + e·si`: `(0, 1)` for a
/// LayerNorm (γ over the row), `(row mod C, 0)` for an InstanceNorm (one γ per channel, rows
/// ordered (b, c)).
#[cube]
fn affine_index<F: Float>(
    gamma: &Tensor<F>,
    row: usize,
    #[comptime] channel: bool,
) -> (usize, usize) {
    let on = comptime!(channel as usize);
    ((row % gamma.len()) * on, comptime!(1 - channel as usize))
}

#[cube(launch_unchecked)]
fn ln_fwd_kernel<F: Float>(
    x: &Tensor<F>,
    gamma: &Tensor<F>,
    beta: &Tensor<F>,
    y: &mut Tensor<F>,
    mean: &mut Tensor<F>,
    rstd: &mut Tensor<F>,
    eps: f32,
    lead: u32,
    #[comptime] w: u32,
    s1: u32,
    s2: u32,
    #[comptime] h: usize,
    #[comptime] channel: bool,
    #[define(F)] _dtype: ElemType,
) {
    let row = ABSOLUTE_POS;
    if row >= mean.len() {
        terminate!();
    }
    let base = row * h;
    let xb = row_base(x, row, lead);
    let (ci, si) = affine_index(gamma, row, channel);
    let inv_h = f32::new(comptime!(1.0 / h as f32));
    let mut sum = f32::new(0.0);
    #[unroll]
    for i in 0..h {
        sum += f32::cast_from(elem(x, xb, i, w, s1, s2));
    }
    let mu = sum * inv_h;
    let mut var = f32::new(0.0);
    #[unroll]
    for i in 0..h {
        let d = f32::cast_from(elem(x, xb, i, w, s1, s2)) - mu;
        var += d * d;
    }
    let r = (var * inv_h + eps).inverse_sqrt();
    #[unroll]
    for i in 0..h {
        let xhat = (f32::cast_from(elem(x, xb, i, w, s1, s2)) - mu) * r;
        y[base + i] = F::cast_from(xhat) * gamma[ci + i * si] + beta[ci + i * si];
    }
    mean[row] = F::cast_from(mu);
    rstd[row] = F::cast_from(r);
}

#[cube(launch_unchecked)]
fn ln_bwd_kernel<F: Float>(
    dy: &Tensor<F>,
    x: &Tensor<F>,
    gamma: &Tensor<F>,
    mean: &Tensor<F>,
    rstd: &Tensor<F>,
    dx: &mut Tensor<F>,
    dy_xhat: &mut Tensor<F>,
    lead: u32,
    #[comptime] w: u32,
    s1: u32,
    s2: u32,
    #[comptime] h: usize,
    #[define(F)] _dtype: ElemType,
) {
    let row = ABSOLUTE_POS;
    if row >= mean.len() {
        terminate!();
    }
    let base = row * h;
    let xb = row_base(x, row, lead);
    let inv_h = f32::new(comptime!(1.0 / h as f32));
    let mu = f32::cast_from(mean[row]);
    let r = f32::cast_from(rstd[row]);
    let mut mg = f32::new(0.0);
    let mut mgx = f32::new(0.0);
    #[unroll]
    for i in 0..h {
        let xhat = (f32::cast_from(elem(x, xb, i, w, s1, s2)) - mu) * r;
        let d = f32::cast_from(dy[base + i]);
        let g = d * f32::cast_from(gamma[i]);
        mg += g;
        mgx += g * xhat;
        dy_xhat[base + i] = F::cast_from(d * xhat);
    }
    mg *= inv_h;
    mgx *= inv_h;
    #[unroll]
    for i in 0..h {
        let xhat = (f32::cast_from(elem(x, xb, i, w, s1, s2)) - mu) * r;
        let g = f32::cast_from(dy[base + i]) * f32::cast_from(gamma[i]);
        dx[base + i] = F::cast_from(r * (g - mg - xhat * mgx));
    }
}

/// Rows per cube of the long-row kernels: one 32-lane plane per row.
const ROWS_PER_CUBE: u32 = 8;

/// Long rows (n > `MAX_H`): one plane of 32 lanes per row, lane `l` takes elements
/// `l, l + 32, …`; statistics by `plane_sum` in f32 (two passes over the row, which stays in
/// cache).
#[cube(launch_unchecked)]
fn ln_row_fwd_kernel<F: Float>(
    x: &Tensor<F>,
    gamma: &Tensor<F>,
    beta: &Tensor<F>,
    y: &mut Tensor<F>,
    mean: &mut Tensor<F>,
    rstd: &mut Tensor<F>,
    eps: f32,
    lead: u32,
    #[comptime] w: u32,
    s1: u32,
    s2: u32,
    #[comptime] n: usize,
    #[comptime] channel: bool,
    #[define(F)] _dtype: ElemType,
) {
    let row = CUBE_POS_X as usize * CUBE_DIM_Y as usize + UNIT_POS_Y as usize;
    if row >= mean.len() {
        terminate!();
    }
    let lane = UNIT_POS_X as usize;
    let base = row * n;
    let xb = row_base(x, row, lead);
    let (ci, si) = affine_index(gamma, row, channel);
    let inv_n = f32::new(comptime!(1.0 / n as f32));
    let mut sum = f32::new(0.0);
    let mut i = lane;
    while i < n {
        sum += f32::cast_from(elem(x, xb, i, w, s1, s2));
        i += 32;
    }
    let mu = plane_sum(sum) * inv_n;
    let mut var = f32::new(0.0);
    let mut j = lane;
    while j < n {
        let d = f32::cast_from(elem(x, xb, j, w, s1, s2)) - mu;
        var += d * d;
        j += 32;
    }
    let r = (plane_sum(var) * inv_n + eps).inverse_sqrt();
    let mut k = lane;
    while k < n {
        let xhat = (f32::cast_from(elem(x, xb, k, w, s1, s2)) - mu) * r;
        y[base + k] = F::cast_from(xhat) * gamma[ci + k * si] + beta[ci + k * si];
        k += 32;
    }
    if lane == 0 {
        mean[row] = F::cast_from(mu);
        rstd[row] = F::cast_from(r);
    }
}

#[cube(launch_unchecked)]
fn ln_row_bwd_kernel<F: Float>(
    dy: &Tensor<F>,
    x: &Tensor<F>,
    gamma: &Tensor<F>,
    mean: &Tensor<F>,
    rstd: &Tensor<F>,
    dx: &mut Tensor<F>,
    dy_xhat: &mut Tensor<F>,
    lead: u32,
    #[comptime] w: u32,
    s1: u32,
    s2: u32,
    #[comptime] n: usize,
    #[define(F)] _dtype: ElemType,
) {
    let row = CUBE_POS_X as usize * CUBE_DIM_Y as usize + UNIT_POS_Y as usize;
    if row >= mean.len() {
        terminate!();
    }
    let lane = UNIT_POS_X as usize;
    let base = row * n;
    let xb = row_base(x, row, lead);
    let inv_n = f32::new(comptime!(1.0 / n as f32));
    let mu = f32::cast_from(mean[row]);
    let r = f32::cast_from(rstd[row]);
    let mut mg = f32::new(0.0);
    let mut mgx = f32::new(0.0);
    let mut i = lane;
    while i < n {
        let xhat = (f32::cast_from(elem(x, xb, i, w, s1, s2)) - mu) * r;
        let d = f32::cast_from(dy[base + i]);
        let g = d * f32::cast_from(gamma[i]);
        mg += g;
        mgx += g * xhat;
        dy_xhat[base + i] = F::cast_from(d * xhat);
        i += 32;
    }
    mg = plane_sum(mg) * inv_n;
    mgx = plane_sum(mgx) * inv_n;
    let mut j = lane;
    while j < n {
        let xhat = (f32::cast_from(elem(x, xb, j, w, s1, s2)) - mu) * r;
        let g = f32::cast_from(dy[base + j]) * f32::cast_from(gamma[j]);
        dx[base + j] = F::cast_from(r * (g - mg - xhat * mgx));
        j += 32;
    }
}

fn empty_like(t: &CubeTensor, shape: Shape, dtype: DType) -> CubeTensor {
    empty_device_contiguous_dtype(t.client.clone(), t.device.clone(), shape, dtype)
}

/// How the kernels read `x` (possibly a permuted view) as `rows` rows of `n` values: the number
/// of leading axes, the size of the last axis, and the strides of the last two (the second only
/// matters when a row spans both).
struct XView {
    rows: usize,
    n: usize,
    lead: u32,
    w: u32,
    s1: u32,
    s2: u32,
}

fn x_view(x: &CubeTensor, n: usize) -> XView {
    let (shape, strides) = (x.meta.shape(), x.meta.strides());
    let (rows, n) = rows_n(shape, n);
    let d = shape.num_dims();
    let k = if shape[d - 1] == n { 1 } else { 2 };
    let u = |v: usize| u32::try_from(v).expect("LayerNorm: tensor too large for 32-bit strides");
    XView {
        rows,
        n,
        lead: (d - k) as u32,
        w: u(shape[d - 1]),
        s1: u(strides[d - 1]),
        s2: if k == 2 { u(strides[d - 2]) } else { 0 },
    }
}

/// Launch geometry: one thread per row for rows of at most `MAX_H` values, else one plane
/// (32 lanes) per row, `ROWS_PER_CUBE` rows per cube.
fn geometry(client: &cubecl::client::Client, rows: usize, short: bool) -> (CubeCount, CubeDim) {
    if short {
        let cube_dim = CubeDim::new(client, rows);
        (
            calculate_cube_count_elemwise(client, rows, cube_dim),
            cube_dim,
        )
    } else {
        let cubes = rows.div_ceil(ROWS_PER_CUBE as usize) as u32;
        (
            CubeCount::Static(cubes, 1, 1),
            CubeDim::new_2d(32, ROWS_PER_CUBE),
        )
    }
}

/// The LayerNorm forward over rows of `n` values (`channel`: one γ, β per channel instead of
/// per element, for [`ShortLnOps::channel_norm`]).
fn forward(
    x: CubeTensor,
    gamma: CubeTensor,
    beta: CubeTensor,
    eps: f32,
    n: usize,
    channel: bool,
) -> (CubeTensor, CubeTensor, CubeTensor) {
    // x is read in place through its strides (no copy of a permuted view).
    let (gamma, beta) = (into_contiguous(gamma), into_contiguous(beta));
    let v = x_view(&x, n);
    let (rows, h) = (v.rows, v.n);
    let (shape, dtype, client) = (x.meta.shape().clone(), x.dtype, x.client.clone());
    let y = empty_like(&x, shape.clone(), dtype);
    let mean = empty_like(&x, stats_shape(&shape, h), dtype);
    let rstd = empty_like(&x, stats_shape(&shape, h), dtype);
    // Per-thread rows suit the temporal rows, whose threads read neighbouring columns of a
    // (B, C, H, W) view (coalesced); an InstanceNorm row is contiguous, so one thread per row
    // would read 32 far-apart addresses per warp: one plane per row instead.
    let short = h <= MAX_H && !channel;
    let (cube_count, cube_dim) = geometry(&client, rows, short);
    let (x, gamma, beta) = (
        x.into_tensor_arg(),
        gamma.into_tensor_arg(),
        beta.into_tensor_arg(),
    );
    let (y_a, m_a, r_a) = (
        y.clone().into_tensor_arg(),
        mean.clone().into_tensor_arg(),
        rstd.clone().into_tensor_arg(),
    );
    let storage = dtype_to_storage_type(dtype);
    let (lead, w, s1, s2) = (v.lead, v.w, v.s1, v.s2);
    // SAFETY: every output index is < rows * h (row guard, lane/element loops bounded by h;
    // outputs contiguous); x is read at offsets built from its own shape and strides; γ and β
    // are read at e < h (per element) or at row mod their length (per channel).
    unsafe {
        if short {
            ln_fwd_kernel::launch_unchecked(
                &client, cube_count, cube_dim, x, gamma, beta, y_a, m_a, r_a, eps, lead, w, s1, s2,
                h, channel, storage,
            )
        } else {
            ln_row_fwd_kernel::launch_unchecked(
                &client, cube_count, cube_dim, x, gamma, beta, y_a, m_a, r_a, eps, lead, w, s1, s2,
                h, channel, storage,
            )
        }
    };
    (y, mean, rstd)
}

impl ShortLnOps for CubeBackend {
    fn short_ln_forward(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        eps: f32,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let n = gamma.meta.shape().num_elements();
        forward(x, gamma, beta, eps, n, false)
    }

    fn channel_norm(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        eps: f32,
    ) -> FloatTensor<Self> {
        let n = channel_row(&x.meta.shape().clone());
        forward(x, gamma, beta, eps, n, true).0
    }

    fn short_ln_backward(
        dy: FloatTensor<Self>,
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        rstd: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let (dy, gamma) = (into_contiguous(dy), into_contiguous(gamma));
        let (mean, rstd) = (into_contiguous(mean), into_contiguous(rstd));
        let v = x_view(&x, gamma.meta.shape().num_elements());
        let (rows, h) = (v.rows, v.n);
        let (shape, dtype, client) = (x.meta.shape().clone(), x.dtype, x.client.clone());
        let dx = empty_like(&x, shape.clone(), dtype);
        let dy_xhat = empty_like(&x, shape, dtype);
        let (cube_count, cube_dim) = geometry(&client, rows, h <= MAX_H);
        let (dy_a, x, gamma) = (
            dy.clone().into_tensor_arg(),
            x.into_tensor_arg(),
            gamma.into_tensor_arg(),
        );
        let (mean, rstd) = (mean.into_tensor_arg(), rstd.into_tensor_arg());
        let (dx_a, dyx_a) = (
            dx.clone().into_tensor_arg(),
            dy_xhat.clone().into_tensor_arg(),
        );
        let storage = dtype_to_storage_type(dtype);
        // SAFETY: as in the forward.
        let (lead, w, s1, s2) = (v.lead, v.w, v.s1, v.s2);
        unsafe {
            if h <= MAX_H {
                ln_bwd_kernel::launch_unchecked(
                    &client, cube_count, cube_dim, dy_a, x, gamma, mean, rstd, dx_a, dyx_a, lead,
                    w, s1, s2, h, storage,
                )
            } else {
                ln_row_bwd_kernel::launch_unchecked(
                    &client, cube_count, cube_dim, dy_a, x, gamma, mean, rstd, dx_a, dyx_a, lead,
                    w, s1, s2, h, storage,
                )
            }
        };
        // Column sums over all rows (two-stage reductions from the stock backend), as [rows, h].
        let as_rows = |t| Self::float_reshape(t, Shape::from(vec![rows, h]));
        (
            dx,
            col_sum::<Self>(as_rows(dy_xhat)),
            col_sum::<Self>(as_rows(dy)),
        )
    }
}
