//! CubeCL kernels of [`BiasGeluOps`]: one thread per element, f32 arithmetic.
use super::bias_gelu::BiasGeluOps;
use super::col_sum;
use super::cube_util::{empty_like, grid};
use burn::backend::cubecl::dtype_to_storage_type;
use burn::backend::tensor::FloatTensor;
use burn_cubecl::CubeBackend;
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::tensor::CubeTensor;
use cubecl::prelude::*;

#[cube(launch_unchecked)]
fn bias_gelu_fwd_kernel<F: Float>(
    x: &Tensor<F>,
    bias: &Tensor<F>,
    y: &mut Tensor<F>,
    #[define(F)] _dtype: ElemType,
) {
    let i = ABSOLUTE_POS;
    if i >= x.len() {
        terminate!();
    }
    let z = f32::cast_from(x[i]) + f32::cast_from(bias[i % bias.len()]);
    let e = Erf::erf(z * f32::new(comptime!(core::f32::consts::FRAC_1_SQRT_2)));
    y[i] = F::cast_from(z * (e + 1.0) * 0.5);
}

#[cube(launch_unchecked)]
fn bias_gelu_bwd_kernel<F: Float>(
    dy: &Tensor<F>,
    x: &Tensor<F>,
    bias: &Tensor<F>,
    dx: &mut Tensor<F>,
    #[define(F)] _dtype: ElemType,
) {
    let i = ABSOLUTE_POS;
    if i >= x.len() {
        terminate!();
    }
    let z = f32::cast_from(x[i]) + f32::cast_from(bias[i % bias.len()]);
    let cdf = (Erf::erf(z * f32::new(comptime!(core::f32::consts::FRAC_1_SQRT_2))) + 1.0) * 0.5;
    // φ(z) = exp(−z²/2)/√(2π).
    let pdf = f32::exp(z * z * f32::new(-0.5)) * f32::new(0.398_942_3);
    dx[i] = F::cast_from(f32::cast_from(dy[i]) * (cdf + z * pdf));
}

/// Elements of `x` and checks that `bias` matches its last axis.
fn checked_len(x: &CubeTensor, bias: &CubeTensor) -> usize {
    let shape = x.meta.shape();
    let n = shape[shape.num_dims() - 1];
    assert_eq!(
        bias.meta.shape().num_elements(),
        n,
        "bias_gelu: bias length != last axis"
    );
    shape.num_elements()
}

impl BiasGeluOps for CubeBackend {
    fn bias_gelu(x: FloatTensor<Self>, bias: FloatTensor<Self>) -> FloatTensor<Self> {
        let (x, bias) = (into_contiguous(x), into_contiguous(bias));
        let n = checked_len(&x, &bias);
        let y = empty_like(&x);
        let (count, cube_dim) = grid(&x, n);
        let (client, dtype) = (x.client.clone(), x.dtype);
        // SAFETY: one thread per element < n (guarded); bias index < bias.len(); contiguous.
        unsafe {
            bias_gelu_fwd_kernel::launch_unchecked(
                &client,
                count,
                cube_dim,
                x.into_tensor_arg(),
                bias.into_tensor_arg(),
                y.clone().into_tensor_arg(),
                dtype_to_storage_type(dtype),
            )
        };
        y
    }

    fn bias_gelu_backward(
        dy: FloatTensor<Self>,
        x: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let (dy, x, bias) = (
            into_contiguous(dy),
            into_contiguous(x),
            into_contiguous(bias),
        );
        let n = checked_len(&x, &bias);
        let dx = empty_like(&x);
        let (count, cube_dim) = grid(&x, n);
        let (client, dtype) = (x.client.clone(), x.dtype);
        // SAFETY: as in the forward.
        unsafe {
            bias_gelu_bwd_kernel::launch_unchecked(
                &client,
                count,
                cube_dim,
                dy.into_tensor_arg(),
                x.into_tensor_arg(),
                bias.into_tensor_arg(),
                dx.clone().into_tensor_arg(),
                dtype_to_storage_type(dtype),
            )
        };
        (dx.clone(), col_sum::<Self>(dx))
    }
}
