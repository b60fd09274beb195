//! CubeCL kernels: one row per thread for rows of at most `MAX_H` values (loops unrolled), one
//! 32-lane plane per row for longer rows; row length fixed at compile time, statistics
//! accumulated in f32 whatever the tensor dtype.
use super::col_sum;
use super::layer_norm::{SHORT_ROW_MAX as MAX_H, ShortLnOps, stats_shape};
use burn::backend::cubecl::dtype_to_storage_type;
use burn::backend::tensor::FloatTensor;
use burn::tensor::{DType, Shape};
use burn_cubecl::CubeBackend;
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::ops::numeric::empty_device_contiguous_dtype;
use burn_cubecl::tensor::CubeTensor;
use cubecl::{calculate_cube_count_elemwise, prelude::*};

#[cube(launch_unchecked)]
fn ln_fwd_kernel<F: Float>(
    x: &Tensor<F>,
    gamma: &Tensor<F>,
    beta: &Tensor<F>,
    y: &mut Tensor<F>,
    mean: &mut Tensor<F>,
    rstd: &mut Tensor<F>,
    eps: f32,
    #[comptime] h: usize,
    #[define(F)] _dtype: ElemType,
) {
    let row = ABSOLUTE_POS;
    if row >= mean.len() {
        terminate!();
    }
    let base = row * h;
    let inv_h = f32::new(comptime!(1.0 / h as f32));
    let mut sum = f32::new(0.0);
    #[unroll]
    for i in 0..h {
        sum += f32::cast_from(x[base + i]);
    }
    let mu = sum * inv_h;
    let mut var = f32::new(0.0);
    #[unroll]
    for i in 0..h {
        let d = f32::cast_from(x[base + i]) - mu;
        var += d * d;
    }
    let r = (var * inv_h + eps).inverse_sqrt();
    #[unroll]
    for i in 0..h {
        let xhat = (f32::cast_from(x[base + i]) - mu) * r;
        y[base + i] = F::cast_from(xhat) * gamma[i] + beta[i];
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
    #[comptime] h: usize,
    #[define(F)] _dtype: ElemType,
) {
    let row = ABSOLUTE_POS;
    if row >= mean.len() {
        terminate!();
    }
    let base = row * h;
    let inv_h = f32::new(comptime!(1.0 / h as f32));
    let mu = f32::cast_from(mean[row]);
    let r = f32::cast_from(rstd[row]);
    let mut mg = f32::new(0.0);
    let mut mgx = f32::new(0.0);
    #[unroll]
    for i in 0..h {
        let xhat = (f32::cast_from(x[base + i]) - mu) * r;
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
        let xhat = (f32::cast_from(x[base + i]) - mu) * r;
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
    #[comptime] n: usize,
    #[define(F)] _dtype: ElemType,
) {
    let row = CUBE_POS_X as usize * CUBE_DIM_Y as usize + UNIT_POS_Y as usize;
    if row >= mean.len() {
        terminate!();
    }
    let lane = UNIT_POS_X as usize;
    let base = row * n;
    let inv_n = f32::new(comptime!(1.0 / n as f32));
    let mut sum = f32::new(0.0);
    let mut i = lane;
    while i < n {
        sum += f32::cast_from(x[base + i]);
        i += 32;
    }
    let mu = plane_sum(sum) * inv_n;
    let mut var = f32::new(0.0);
    let mut j = lane;
    while j < n {
        let d = f32::cast_from(x[base + j]) - mu;
        var += d * d;
        j += 32;
    }
    let r = (plane_sum(var) * inv_n + eps).inverse_sqrt();
    let mut k = lane;
    while k < n {
        let xhat = (f32::cast_from(x[base + k]) - mu) * r;
        y[base + k] = F::cast_from(xhat) * gamma[k] + beta[k];
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
    #[comptime] n: usize,
    #[define(F)] _dtype: ElemType,
) {
    let row = CUBE_POS_X as usize * CUBE_DIM_Y as usize + UNIT_POS_Y as usize;
    if row >= mean.len() {
        terminate!();
    }
    let lane = UNIT_POS_X as usize;
    let base = row * n;
    let inv_n = f32::new(comptime!(1.0 / n as f32));
    let mu = f32::cast_from(mean[row]);
    let r = f32::cast_from(rstd[row]);
    let mut mg = f32::new(0.0);
    let mut mgx = f32::new(0.0);
    let mut i = lane;
    while i < n {
        let xhat = (f32::cast_from(x[base + i]) - mu) * r;
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
        let xhat = (f32::cast_from(x[base + j]) - mu) * r;
        let g = f32::cast_from(dy[base + j]) * f32::cast_from(gamma[j]);
        dx[base + j] = F::cast_from(r * (g - mg - xhat * mgx));
        j += 32;
    }
}

fn empty_like(t: &CubeTensor, shape: Shape, dtype: DType) -> CubeTensor {
    empty_device_contiguous_dtype(t.client.clone(), t.device.clone(), shape, dtype)
}

/// (rows, h) of a `[.., h]` tensor.
fn rows_h(x: &CubeTensor) -> (usize, usize) {
    let shape = x.meta.shape();
    let h = shape[shape.num_dims() - 1];
    (shape.num_elements() / h, h)
}

/// Launch geometry: one thread per row for rows of at most `MAX_H` values, else one plane
/// (32 lanes) per row, `ROWS_PER_CUBE` rows per cube.
fn geometry(client: &cubecl::client::Client, rows: usize, h: usize) -> (CubeCount, CubeDim) {
    if h <= MAX_H {
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

impl ShortLnOps for CubeBackend {
    fn short_ln_forward(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        eps: f32,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let (x, gamma, beta) = (
            into_contiguous(x),
            into_contiguous(gamma),
            into_contiguous(beta),
        );
        let (rows, h) = rows_h(&x);
        let (shape, dtype, client) = (x.meta.shape().clone(), x.dtype, x.client.clone());
        let y = empty_like(&x, shape.clone(), dtype);
        let mean = empty_like(&x, stats_shape(&shape), dtype);
        let rstd = empty_like(&x, stats_shape(&shape), dtype);
        let (cube_count, cube_dim) = geometry(&client, rows, h);
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
        // SAFETY: every index is < rows * h (row guard, lane/element loops bounded by h), all
        // buffers are contiguous.
        unsafe {
            if h <= MAX_H {
                ln_fwd_kernel::launch_unchecked(
                    &client, cube_count, cube_dim, x, gamma, beta, y_a, m_a, r_a, eps, h, storage,
                )
            } else {
                ln_row_fwd_kernel::launch_unchecked(
                    &client, cube_count, cube_dim, x, gamma, beta, y_a, m_a, r_a, eps, h, storage,
                )
            }
        };
        (y, mean, rstd)
    }

    fn short_ln_backward(
        dy: FloatTensor<Self>,
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        rstd: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let (dy, x, gamma) = (
            into_contiguous(dy),
            into_contiguous(x),
            into_contiguous(gamma),
        );
        let (mean, rstd) = (into_contiguous(mean), into_contiguous(rstd));
        let (rows, h) = rows_h(&x);
        let (shape, dtype, client) = (x.meta.shape().clone(), x.dtype, x.client.clone());
        let dx = empty_like(&x, shape.clone(), dtype);
        let dy_xhat = empty_like(&x, shape, dtype);
        let (cube_count, cube_dim) = geometry(&client, rows, h);
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
        unsafe {
            if h <= MAX_H {
                ln_bwd_kernel::launch_unchecked(
                    &client, cube_count, cube_dim, dy_a, x, gamma, mean, rstd, dx_a, dyx_a, h,
                    storage,
                )
            } else {
                ln_row_bwd_kernel::launch_unchecked(
                    &client, cube_count, cube_dim, dy_a, x, gamma, mean, rstd, dx_a, dyx_a, h,
                    storage,
                )
            }
        };
        // Column sums over all rows (two-stage reductions from the stock backend).
        (dx, col_sum::<Self>(dy_xhat), col_sum::<Self>(dy))
    }
}
