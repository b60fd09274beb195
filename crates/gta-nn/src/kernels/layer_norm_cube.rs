//! CubeCL kernels: one row per thread, row length `h` fixed at compile time (loops unrolled),
//! statistics accumulated in f32 whatever the tensor dtype.
use super::layer_norm::{SHORT_ROW_MAX as MAX_H, ShortLnOps, stats_shape};
use burn::backend::cubecl::dtype_to_storage_type;
use burn::backend::ops::FloatTensorOps;
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

fn empty_like(t: &CubeTensor, shape: Shape, dtype: DType) -> CubeTensor {
    empty_device_contiguous_dtype(t.client.clone(), t.device.clone(), shape, dtype)
}

/// (rows, h) of a `[.., h]` tensor; panics for rows longer than `MAX_H`.
fn rows_h(x: &CubeTensor) -> (usize, usize) {
    let shape = x.meta.shape();
    let h = shape[shape.num_dims() - 1];
    assert!(h <= MAX_H, "short_layer_norm: row length {h} > {MAX_H}");
    (shape.num_elements() / h, h)
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
        let cube_dim = CubeDim::new(&client, rows);
        let cube_count = calculate_cube_count_elemwise(&client, rows, cube_dim);
        // SAFETY: every index is < rows * h (row guard above), all buffers are contiguous.
        unsafe {
            ln_fwd_kernel::launch_unchecked(
                &client,
                cube_count,
                cube_dim,
                x.into_tensor_arg(),
                gamma.into_tensor_arg(),
                beta.into_tensor_arg(),
                y.clone().into_tensor_arg(),
                mean.clone().into_tensor_arg(),
                rstd.clone().into_tensor_arg(),
                eps,
                h,
                dtype_to_storage_type(dtype),
            )
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
        let cube_dim = CubeDim::new(&client, rows);
        let cube_count = calculate_cube_count_elemwise(&client, rows, cube_dim);
        // SAFETY: as in the forward.
        unsafe {
            ln_bwd_kernel::launch_unchecked(
                &client,
                cube_count,
                cube_dim,
                dy.clone().into_tensor_arg(),
                x.into_tensor_arg(),
                gamma.into_tensor_arg(),
                mean.into_tensor_arg(),
                rstd.into_tensor_arg(),
                dx.clone().into_tensor_arg(),
                dy_xhat.clone().into_tensor_arg(),
                h,
                dtype_to_storage_type(dtype),
            )
        };
        // Column sums over all rows: two reduction kernels from the stock backend.
        let col_sum = |t: CubeTensor| {
            let t = Self::float_reshape(t, Shape::from([rows, h]));
            Self::float_reshape(Self::float_sum_dim(t, 0), Shape::from([h]))
        };
        (dx, col_sum(dy_xhat), col_sum(dy))
    }
}
