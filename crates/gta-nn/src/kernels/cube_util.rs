//! Launch helpers shared by the element-wise CubeCL kernels.
use burn_cubecl::ops::numeric::empty_device_contiguous_dtype;
use burn_cubecl::tensor::CubeTensor;
use cubecl::{calculate_cube_count_elemwise, prelude::*};

/// A new contiguous tensor with `t`'s shape, dtype and device.
pub(crate) fn empty_like(t: &CubeTensor) -> CubeTensor {
    empty_device_contiguous_dtype(
        t.client.clone(),
        t.device.clone(),
        t.meta.shape().clone(),
        t.dtype,
    )
}

/// (cube count, cube dim) covering `n` elements, one per thread.
pub(crate) fn grid(t: &CubeTensor, n: usize) -> (CubeCount, CubeDim) {
    let cube_dim = CubeDim::new(&t.client, n);
    (
        calculate_cube_count_elemwise(&t.client, n, cube_dim),
        cube_dim,
    )
}
