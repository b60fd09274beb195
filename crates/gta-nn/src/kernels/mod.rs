//! Fused GPU kernels behind burn backend extensions (`../shared/docs/gpu-performance.md` §1).
//!
//! Each op is a `#[backend_extension]` trait whose default bodies are composites of burn's
//! primitive float ops: the CPU backend (`flex`) runs those, and CI checks them and the
//! hand-written autodiff backward against burn's own modules. With the `cuda` feature the
//! `CubeBackend` implementation launches CubeCL kernels instead.

mod fused_update;
#[cfg(feature = "cuda")]
mod fused_update_cube;
mod layer_norm;
mod layer_norm_autodiff;
#[cfg(feature = "cuda")]
mod layer_norm_cube;

pub use fused_update::{AdamScalars, FusedUpdateOps, adam_update, axpby, lerp};
pub use layer_norm::{SHORT_ROW_MAX, ShortLnOps, short_layer_norm};
