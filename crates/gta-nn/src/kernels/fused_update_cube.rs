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

/// Clipped Adam in place over flat buffers, with the clip factor `coef[0]` and
/// `[lr, combined_factor, eps_hat]` read from the device (broadcast loads; the values change
/// every step, so they cannot be launch arguments of a captured graph).
#[cube(launch_unchecked)]
#[allow(clippy::too_many_arguments)]
fn adam_flat_kernel<F: Float>(
    param: &mut Tensor<F>,
    grad: &Tensor<F>,
    m: &mut Tensor<F>,
    v: &mut Tensor<F>,
    coef: &Tensor<F>,
    scalars: &Tensor<F>,
    beta_1: f32,
    one_minus_beta_1: f32,
    beta_2: f32,
    one_minus_beta_2: f32,
    #[define(F)] _dtype: ElemType,
) {
    let i = ABSOLUTE_POS;
    if i >= param.len() {
        terminate!();
    }
    let lr = f32::cast_from(scalars[0]);
    let combined_factor = f32::cast_from(scalars[1]);
    let eps_hat = f32::cast_from(scalars[2]);
    // The clipped gradient rounded to F, as the composite's `grad·coef` tensor.
    let g = f32::cast_from(grad[i] * coef[0]);
    let m1 = f32::cast_from(m[i]) * beta_1 + g * one_minus_beta_1;
    let v1 = f32::cast_from(v[i]) * beta_2 + (g * g) * one_minus_beta_2;
    let step = (m1 * combined_factor) / (v1.sqrt() + eps_hat);
    param[i] = F::cast_from(f32::cast_from(param[i]) - step * lr);
    m[i] = F::cast_from(m1);
    v[i] = F::cast_from(v1);
}

/// `dst[i] = src[i]` over contiguous buffers of the same length.
#[cube(launch_unchecked)]
fn copy_kernel<F: Float>(src: &Tensor<F>, dst: &mut Tensor<F>, #[define(F)] _dtype: ElemType) {
    let i = ABSOLUTE_POS;
    if i >= dst.len() {
        terminate!();
    }
    dst[i] = src[i];
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

    fn adam_flat(
        param: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        m: FloatTensor<Self>,
        v: FloatTensor<Self>,
        coef: FloatTensor<Self>,
        scalars: FloatTensor<Self>,
        beta_1: f32,
        one_minus_beta_1: f32,
        beta_2: f32,
        one_minus_beta_2: f32,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        // The state must be updated where it lives: a buffer that is not contiguous would be
        // copied first and the update would land in the copy.
        for (t, what) in [(&param, "param"), (&m, "m"), (&v, "v")] {
            assert!(
                t.is_contiguous(),
                "adam_flat: {what} must be contiguous to be updated in place"
            );
        }
        let (grad, coef, scalars) = (
            into_contiguous(grad),
            into_contiguous(coef),
            into_contiguous(scalars),
        );
        let n = same_len(&param, &grad, "adam_flat");
        same_len(&param, &m, "adam_flat");
        same_len(&param, &v, "adam_flat");
        assert_eq!(coef.meta.shape().num_elements(), 1, "adam_flat: coef");
        assert_eq!(scalars.meta.shape().num_elements(), 3, "adam_flat: scalars");
        for (t, what) in [
            (&grad, "grad"),
            (&m, "m"),
            (&v, "v"),
            (&coef, "coef"),
            (&scalars, "scalars"),
        ] {
            assert_eq!(t.dtype, param.dtype, "adam_flat: {what} dtype");
        }
        let (count, dim) = grid(&param, n);
        let (client, dtype) = (param.client.clone(), param.dtype);
        // SAFETY: one thread per element < n (guarded); param, grad, m, v contiguous with n
        // elements (asserted), each thread reads and writes only its own element.
        unsafe {
            adam_flat_kernel::launch_unchecked(
                &client,
                count,
                dim,
                param.clone().into_tensor_arg(),
                grad.into_tensor_arg(),
                m.clone().into_tensor_arg(),
                v.clone().into_tensor_arg(),
                coef.into_tensor_arg(),
                scalars.into_tensor_arg(),
                beta_1,
                one_minus_beta_1,
                beta_2,
                one_minus_beta_2,
                dtype_to_storage_type(dtype),
            )
        };
        (param, m, v)
    }

    fn flat_view(
        flat: FloatTensor<Self>,
        offset: usize,
        shape: burn::tensor::Shape,
    ) -> FloatTensor<Self> {
        assert!(
            flat.is_contiguous() && flat.meta.shape().num_dims() == 1,
            "flat_view: the flat buffer must be a contiguous 1-D tensor"
        );
        let (total, n, size) = (
            flat.meta.shape()[0],
            shape.num_elements(),
            flat.dtype.size() as u64,
        );
        let start = offset as u64 * size;
        assert!(
            start.is_multiple_of(flat.client.properties().memory.alignment),
            "flat_view: offset {offset} is not on the buffer alignment"
        );
        // The binding ends exactly where the view ends (an unaligned end only trims the
        // binding's length; the start, which the kernels' vector loads depend on, is aligned).
        let end = (total - offset - n) as u64 * size;
        let handle = flat.handle.clone().offset_start(start).offset_end(end);
        CubeTensor::new_contiguous(
            flat.client.clone(),
            flat.device.clone(),
            shape,
            handle,
            flat.dtype,
        )
    }

    fn copy_into(dst: FloatTensor<Self>, src: FloatTensor<Self>) -> FloatTensor<Self> {
        assert!(dst.is_contiguous(), "copy_into: dst must be contiguous");
        assert_eq!(src.dtype, dst.dtype, "copy_into: dtypes differ");
        let src = into_contiguous(src);
        let n = same_len(&dst, &src, "copy_into");
        let (count, dim) = grid(&dst, n);
        let (client, dtype) = (dst.client.clone(), dst.dtype);
        // SAFETY: one thread per element < n (guarded), both buffers contiguous with n elements.
        unsafe {
            copy_kernel::launch_unchecked(
                &client,
                count,
                dim,
                src.into_tensor_arg(),
                dst.clone().into_tensor_arg(),
                dtype_to_storage_type(dtype),
            )
        };
        dst
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
