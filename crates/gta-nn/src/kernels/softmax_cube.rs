//! CubeCL kernels of [`SoftmaxOps`]: one 32-lane plane per row, lane `l` taking elements
//! `l, l + 32, …`; max and sums by plane reductions in f32. The forward reads x (possibly a
//! strided view: the keys cut from the qkv tensor) in place.
use super::layer_norm_cube::row_base;
use super::softmax::SoftmaxOps;
use burn::backend::cubecl::dtype_to_storage_type;
use burn::backend::tensor::FloatTensor;
use burn_cubecl::CubeBackend;
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::ops::numeric::empty_device_contiguous_dtype;
use burn_cubecl::tensor::CubeTensor;
use cubecl::prelude::*;

/// Rows per cube: one plane each.
const ROWS_PER_CUBE: u32 = 8;

#[cube(launch_unchecked)]
fn softmax_fwd_kernel<F: Float>(
    x: &Tensor<F>,
    y: &mut Tensor<F>,
    lead: u32,
    s1: u32,
    #[comptime] n: usize,
    #[define(F)] _dtype: ElemType,
) {
    let row = CUBE_POS_X as usize * CUBE_DIM_Y as usize + UNIT_POS_Y as usize;
    if row >= y.len() / n {
        terminate!();
    }
    let lane = UNIT_POS_X as usize;
    let xb = row_base(x, row, lead);
    let s1 = s1 as usize;
    let mut m = f32::min_value();
    let mut i = lane;
    while i < n {
        m = m.max(f32::cast_from(x[xb + i * s1]));
        i += 32;
    }
    let m = plane_max(m);
    let mut sum = f32::new(0.0);
    let mut j = lane;
    while j < n {
        sum += f32::exp(f32::cast_from(x[xb + j * s1]) - m);
        j += 32;
    }
    let inv = f32::new(1.0) / plane_sum(sum);
    let base = row * n;
    let mut k = lane;
    while k < n {
        y[base + k] = F::cast_from(f32::exp(f32::cast_from(x[xb + k * s1]) - m) * inv);
        k += 32;
    }
}

#[cube(launch_unchecked)]
fn softmax_bwd_kernel<F: Float>(
    dy: &Tensor<F>,
    y: &Tensor<F>,
    dx: &mut Tensor<F>,
    #[comptime] n: usize,
    #[define(F)] _dtype: ElemType,
) {
    let row = CUBE_POS_X as usize * CUBE_DIM_Y as usize + UNIT_POS_Y as usize;
    if row >= y.len() / n {
        terminate!();
    }
    let lane = UNIT_POS_X as usize;
    let base = row * n;
    let mut dot = f32::new(0.0);
    let mut i = lane;
    while i < n {
        dot += f32::cast_from(dy[base + i]) * f32::cast_from(y[base + i]);
        i += 32;
    }
    let dot = plane_sum(dot);
    let mut j = lane;
    while j < n {
        let yv = f32::cast_from(y[base + j]);
        dx[base + j] = F::cast_from(yv * (f32::cast_from(dy[base + j]) - dot));
        j += 32;
    }
}

fn empty_like(t: &CubeTensor) -> CubeTensor {
    empty_device_contiguous_dtype(
        t.client.clone(),
        t.device.clone(),
        t.meta.shape().clone(),
        t.dtype,
    )
}

/// (rows, n) and the launch grid of one plane per row.
fn geometry(t: &CubeTensor) -> (usize, usize, CubeCount, CubeDim) {
    let shape = t.meta.shape();
    let n = shape[shape.num_dims() - 1];
    let rows = shape.num_elements() / n.max(1);
    let cubes = rows.div_ceil(ROWS_PER_CUBE as usize) as u32;
    (
        rows,
        n,
        CubeCount::Static(cubes, 1, 1),
        CubeDim::new_2d(32, ROWS_PER_CUBE),
    )
}

impl SoftmaxOps for CubeBackend {
    fn softmax_last(x: FloatTensor<Self>) -> FloatTensor<Self> {
        let y = empty_like(&x);
        let (_rows, n, count, dim) = geometry(&x);
        let d = x.meta.shape().num_dims();
        let u = |v: usize| u32::try_from(v).expect("softmax: tensor too large for 32-bit strides");
        let (lead, s1) = (u(d - 1), u(x.meta.strides()[d - 1]));
        let (client, dtype) = (x.client.clone(), x.dtype);
        // SAFETY: one plane per row < rows (guarded), lanes bounded by n; x is read at offsets
        // built from its own shape and strides; y is contiguous rows × n.
        unsafe {
            softmax_fwd_kernel::launch_unchecked(
                &client,
                count,
                dim,
                x.into_tensor_arg(),
                y.clone().into_tensor_arg(),
                lead,
                s1,
                n,
                dtype_to_storage_type(dtype),
            )
        };
        y
    }

    fn softmax_last_backward(dy: FloatTensor<Self>, y: FloatTensor<Self>) -> FloatTensor<Self> {
        let (dy, y) = (into_contiguous(dy), into_contiguous(y));
        let dx = empty_like(&y);
        let (_rows, n, count, dim) = geometry(&y);
        let (client, dtype) = (y.client.clone(), y.dtype);
        // SAFETY: as in the forward; all three tensors contiguous rows × n.
        unsafe {
            softmax_bwd_kernel::launch_unchecked(
                &client,
                count,
                dim,
                dy.into_tensor_arg(),
                y.into_tensor_arg(),
                dx.clone().into_tensor_arg(),
                n,
                dtype_to_storage_type(dtype),
            )
        };
        dx
    }
}
