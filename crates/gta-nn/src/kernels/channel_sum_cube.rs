//! CubeCL kernel of [`ChannelSumOps`]: one thread per output element, C and L fixed at compile
//! time (the per-element channel index divides by constants).
use super::channel_sum::ChannelSumOps;
use super::cube_util::{empty_like, grid};
use burn::backend::cubecl::dtype_to_storage_type;
use burn::backend::tensor::FloatTensor;
use burn_cubecl::CubeBackend;
use burn_cubecl::kernel::into_contiguous;
use cubecl::prelude::*;

#[cube(launch_unchecked)]
fn channel_sum_kernel<F: Float>(
    a: &Tensor<F>,
    r: &Tensor<F>,
    bias: &Tensor<F>,
    emb: &Tensor<F>,
    y: &mut Tensor<F>,
    #[comptime] c: usize,
    #[comptime] l: usize,
    #[define(F)] _dtype: ElemType,
) {
    let i = ABSOLUTE_POS;
    if i >= y.len() {
        terminate!();
    }
    let bc = i / l;
    let ch = bc % c;
    let v = f32::cast_from(a[i])
        + f32::cast_from(r[i])
        + f32::cast_from(bias[ch])
        + f32::cast_from(emb[bc]);
    y[i] = F::cast_from(v);
}

impl ChannelSumOps for CubeBackend {
    fn channel_sum(
        a: FloatTensor<Self>,
        r: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        emb: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let [a, r, bias, emb] = [a, r, bias, emb].map(into_contiguous);
        let s = a.meta.shape().clone();
        let (c, l) = (s[1], s[2]);
        let y = empty_like(&a);
        let n = s.num_elements();
        let (count, cube_dim) = grid(&a, n);
        let (client, dtype) = (a.client.clone(), a.dtype);
        // SAFETY: one thread per element < n (guarded); a, r, y contiguous [B, C, L]; bias read
        // at c < C, emb at b·C + c < B·C (shapes checked by `channel_sum`).
        unsafe {
            channel_sum_kernel::launch_unchecked(
                &client,
                count,
                cube_dim,
                a.into_tensor_arg(),
                r.into_tensor_arg(),
                bias.into_tensor_arg(),
                emb.into_tensor_arg(),
                y.clone().into_tensor_arg(),
                c,
                l,
                dtype_to_storage_type(dtype),
            )
        };
        y
    }
}
