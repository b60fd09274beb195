//! Precision of f32 matrix products on the GPU, the counterpart of PyTorch's
//! `torch.set_float32_matmul_precision`.
//!
//! burn-cubecl's untuned matmul stages f32 operands through TF32 tensor cores on cards that have
//! them (Ampere and later): each product keeps about 10 mantissa bits, so a deep network's output
//! differs from a true-f32 evaluation by ~1e-3–1e-2 relative (measured: 1.1e-2 on the official
//! tiny checkpoint, `docs/import-official.md`). `Highest` forces a true-f32 routine (no tensor
//! cores) through a small patch of burn-cubecl (`patches/README.md`) — for verification against
//! reference outputs; `High` (TF32) is the default, as in JAX and in PyTorch's convolutions.
//! The CPU backend always computes in true f32.

use std::fmt;
use std::str::FromStr;

/// How f32 matmuls run on the GPU.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MatmulPrecision {
    /// TF32 tensor cores where the card has them (fast; ~1e-3 relative per product).
    #[default]
    High,
    /// True f32 (no tensor cores): slower, matches CPU results to f32 rounding.
    Highest,
}

impl MatmulPrecision {
    /// The name used on the command line and in run metadata.
    pub fn as_str(self) -> &'static str {
        match self {
            MatmulPrecision::High => "high",
            MatmulPrecision::Highest => "highest",
        }
    }
}

impl fmt::Display for MatmulPrecision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for MatmulPrecision {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "high" | "tf32" => Ok(MatmulPrecision::High),
            "highest" | "f32" => Ok(MatmulPrecision::Highest),
            other => Err(format!(
                "unknown matmul precision `{other}`: expected `high` (TF32 tensor cores) or \
                 `highest` (true f32)"
            )),
        }
    }
}

/// Sets the process-wide precision of GPU f32 matmuls. Call before the first GPU matmul.
/// Without the `cuda` feature this only records nothing: the CPU backend is always true f32.
pub fn set_matmul_precision(p: MatmulPrecision) {
    #[cfg(feature = "cuda")]
    burn_cubecl::kernel::matmul::set_f32_matmul_tensor_cores(p == MatmulPrecision::High);
    #[cfg(not(feature = "cuda"))]
    let _ = p;
}

/// The precision GPU f32 matmuls use now ([`MatmulPrecision::Highest`] without CUDA).
pub fn matmul_precision() -> MatmulPrecision {
    #[cfg(feature = "cuda")]
    {
        if burn_cubecl::kernel::matmul::f32_matmul_tensor_cores() {
            MatmulPrecision::High
        } else {
            MatmulPrecision::Highest
        }
    }
    #[cfg(not(feature = "cuda"))]
    MatmulPrecision::Highest
}

/// Which library ran this process's GPU matmuls, for benchmark records: `cublas: N GEMMs, M left
/// to CubeCL (library)`, `cubecl (reason)`, or `cpu` without the `cuda` feature.
pub fn matmul_route() -> String {
    #[cfg(feature = "cuda")]
    {
        let (taken, left, small) = crate::cublas::counts();
        match crate::cublas::install() {
            Ok(lib) => format!(
                "cublas: {taken} GEMMs, {left} unsupported and {small} small left to CubeCL ({lib})"
            ),
            Err(why) => format!("cubecl ({why})"),
        }
    }
    #[cfg(not(feature = "cuda"))]
    String::from("cpu")
}

/// Which library GPU matmuls use in this process: `cuBLAS (library)` or `CubeCL kernels (reason)`
/// (loads cuBLAS if it was not loaded yet); `CPU backend only` without the `cuda` feature.
pub fn matmul_library() -> String {
    #[cfg(feature = "cuda")]
    match crate::cublas::install() {
        Ok(lib) => format!("cuBLAS ({lib})"),
        Err(why) => format!("CubeCL kernels ({why})"),
    }
    #[cfg(not(feature = "cuda"))]
    String::from("CPU backend only (built without the `cuda` feature)")
}

/// Makes `name` (`f32`, `bf16` or `f16`) the default float dtype of every tensor later created
/// on `device` — weights, activations and optimizer state alike (pure, not mixed, precision:
/// a speed probe for benchmarks). Must run before the first tensor is created on the device.
pub fn configure_float_dtype(device: &mut burn::tensor::Device, name: &str) -> Result<(), String> {
    use burn::tensor::FloatDType;
    let dtype = match name {
        "f32" => FloatDType::F32,
        "bf16" => FloatDType::BF16,
        "f16" => FloatDType::F16,
        other => {
            return Err(format!(
                "unknown float dtype `{other}`: expected f32, bf16 or f16"
            ));
        }
    };
    device
        .configure(dtype)
        .map_err(|e| format!("cannot make {name} the default float dtype: {e:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_names_and_rejects_others() {
        assert_eq!("high".parse::<MatmulPrecision>(), Ok(MatmulPrecision::High));
        assert_eq!("tf32".parse::<MatmulPrecision>(), Ok(MatmulPrecision::High));
        assert_eq!(
            "highest".parse::<MatmulPrecision>(),
            Ok(MatmulPrecision::Highest)
        );
        assert_eq!(
            "f32".parse::<MatmulPrecision>(),
            Ok(MatmulPrecision::Highest)
        );
        let err = "medium".parse::<MatmulPrecision>().unwrap_err();
        assert!(err.contains("medium") && err.contains("highest"), "{err}");
        for p in [MatmulPrecision::High, MatmulPrecision::Highest] {
            assert_eq!(p.to_string().parse::<MatmulPrecision>(), Ok(p));
        }
    }
}
