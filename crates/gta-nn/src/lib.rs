//! Shared burn building blocks for gta: device selection with a CUDA pre-flight check, and
//! (as the model crates grow) MLPs, EMA and checkpoint helpers used by more than one stage.

#[cfg(feature = "cuda")]
pub mod cublas;
pub mod device;
pub mod gemm_plan;
pub mod gpu_cache;
pub mod kernels;
pub mod optim;
pub mod overhead;
pub mod precision;
pub mod seed;

pub use device::{DeviceError, DeviceKind, compiled_backends, init_device};
pub use gpu_cache::{AutotuneLevel, GpuCacheOptions};
pub use precision::{MatmulPrecision, set_matmul_precision};
pub use seed::derive_seed;
