//! CubeCL kernels of [`FusedUpdateOps`]: one thread per element, arithmetic in f32.
use super::cube_util::{empty_like, grid};
use super::fused_update::FusedUpdateOps;
use burn::backend::cubecl::dtype_to_storage_type;
use burn::backend::tensor::FloatTensor;
use burn_cubecl::CubeBackend;
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::tensor::CubeTensor;
use cubecl::prelude::*;

#[cube(launch_unchecked)]
#[allow(clippy::too_many_arguments)]
fn adam_kernel<F: Float>(
    param: &Tensor<F>,
    grad: &Tensor<F>,
    m: &Tensor<F>,
    v: &Tensor<F>,
    param_out: &mut Tensor<F>,
    m_out: &mut Tensor<F>,
    v_out: &mut Tensor<F>,
    beta_1: f32,
    one_minus_beta_1: f32,
    beta_2: f32,
    one_minus_beta_2: f32,
    combined_factor: f32,
    eps_hat: f32,
    lr: f32,
    #[define(F)] _dtype: ElemType,
) {
    let i = ABSOLUTE_POS;
    if i >= param.len() {
        terminate!();
    }
    let g = f32::cast_from(grad[i]);
    let m1 = f32::cast_from(m[i]) * beta_1 + g * one_minus_beta_1;
    let v1 = f32::cast_from(v[i]) * beta_2 + (g * g) * one_minus_beta_2;
    let step = (m1 * combined_factor) / (v1.sqrt() + eps_hat);
    param_out[i] = F::cast_from(f32::cast_from(param[i]) - step * lr);
    m_out[i] = F::cast_from(m1);
    v_out[i] = F::cast_from(v1);
}

/// `lerp == false`: `out = a·x + b·y`; `lerp == true`: `out = x + (y − x)·a` (`b` unused).
#[cube(launch_unchecked)]
fn blend_kernel<F: Float>(
    x: &Tensor<F>,
    y: &Tensor<F>,
    out: &mut Tensor<F>,
    a: f32,
    b: f32,
    #[comptime] lerp: bool,
    #[define(F)] _dtype: ElemType,
) {
    let i = ABSOLUTE_POS;
    if i >= x.len() {
        terminate!();
    }
    let xi = f32::cast_from(x[i]);
    let yi = f32::cast_from(y[i]);
    if comptime!(lerp) {
        out[i] = F::cast_from(xi + (yi - xi) * a);
    } else {
        out[i] = F::cast_from(xi * a + yi * b);
    }
}

fn same_len(a: &CubeTensor, b: &CubeTensor, what: &str) -> usize {
    let n = a.meta.shape().num_elements();
    assert_eq!(
        n,
        b.meta.shape().num_elements(),
        "{what}: operand sizes differ"
    );
    n
}

impl FusedUpdateOps for CubeBackend {
    fn adam_update(
        param: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        m: FloatTensor<Self>,
        v: FloatTensor<Self>,
        beta_1: f32,
        one_minus_beta_1: f32,
        beta_2: f32,
        one_minus_beta_2: f32,
        combined_factor: f32,
        eps_hat: f32,
        lr: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let (param, grad) = (into_contiguous(param), into_contiguous(grad));
        let (m, v) = (into_contiguous(m), into_contiguous(v));
        let n = same_len(&param, &grad, "adam_update");
        same_len(&param, &m, "adam_update");
        same_len(&param, &v, "adam_update");
        let (p_out, m_out, v_out) = (empty_like(&param), empty_like(&m), empty_like(&v));
        let (count, dim) = grid(&param, n);
        let (client, dtype) = (param.client.clone(), param.dtype);
        // SAFETY: one thread per element < n (guarded), all buffers contiguous with n elements.
        unsafe {
            adam_kernel::launch_unchecked(
                &client,
                count,
                dim,
                param.into_tensor_arg(),
                grad.into_tensor_arg(),
                m.into_tensor_arg(),
                v.into_tensor_arg(),
                p_out.clone().into_tensor_arg(),
                m_out.clone().into_tensor_arg(),
                v_out.clone().into_tensor_arg(),
                beta_1,
                one_minus_beta_1,
                beta_2,
                one_minus_beta_2,
                combined_factor,
                eps_hat,
                lr as f32,
                dtype_to_storage_type(dtype),
            )
        };
        (p_out, m_out, v_out)
    }

    fn axpby(x: FloatTensor<Self>, y: FloatTensor<Self>, a: f32, b: f32) -> FloatTensor<Self> {
        blend(x, y, a, b, false, "axpby")
    }

    fn lerp(x: FloatTensor<Self>, y: FloatTensor<Self>, w: f32) -> FloatTensor<Self> {
        blend(x, y, w, 0.0, true, "lerp")
    }
}

/// Launches [`blend_kernel`] over same-sized `x` and `y` into a new tensor.
fn blend(x: CubeTensor, y: CubeTensor, a: f32, b: f32, lerp: bool, what: &str) -> CubeTensor {
    let (x, y) = (into_contiguous(x), into_contiguous(y));
    let n = same_len(&x, &y, what);
    let out = empty_like(&x);
    let (count, dim) = grid(&x, n);
    let (client, dtype) = (x.client.clone(), x.dtype);
    // SAFETY: one thread per element < n (guarded), all buffers contiguous with n elements.
    unsafe {
        blend_kernel::launch_unchecked(
            &client,
            count,
            dim,
            x.into_tensor_arg(),
            y.into_tensor_arg(),
            out.clone().into_tensor_arg(),
            a,
            b,
            lerp,
            dtype_to_storage_type(dtype),
        )
    };
    out
}
