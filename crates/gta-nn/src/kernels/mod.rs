//! Fused GPU kernels behind burn backend extensions (`../shared/docs/gpu-performance.md` §1).
//!
//! Each op is a `#[backend_extension]` trait whose default bodies are composites of burn's
//! primitive float ops: the CPU backend (`flex`) runs those, and CI checks them and the
//! hand-written autodiff backward against burn's own modules. With the `cuda` feature the
//! `CubeBackend` implementation launches CubeCL kernels instead.

mod bias_gelu;
mod bias_gelu_autodiff;
#[cfg(feature = "cuda")]
mod bias_gelu_cube;
#[cfg(feature = "cuda")]
mod cube_util;
mod fused_update;
#[cfg(feature = "cuda")]
mod fused_update_cube;
mod layer_norm;
mod layer_norm_autodiff;
#[cfg(feature = "cuda")]
mod layer_norm_cube;
pub mod selftest;

pub use bias_gelu::{BiasGeluOps, bias_gelu};
pub use fused_update::{AdamScalars, FusedUpdateOps, adam_update, axpby, lerp};
pub use layer_norm::{SHORT_ROW_MAX, ShortLnOps, short_layer_norm};

/// Whether the fused kernel `name` (`short-ln`, `long-ln`, `gelu`) is on. `GTA_FUSED_KERNELS`
/// unset or `1`: all; `0`: none (burn's composite ops everywhere, for comparisons); otherwise a
/// comma-separated list of the names that are on. Read once per process.
pub fn enabled(name: &str) -> bool {
    static SETTING: std::sync::OnceLock<Option<Vec<String>>> = std::sync::OnceLock::new();
    let setting = SETTING.get_or_init(|| match std::env::var("GTA_FUSED_KERNELS") {
        Err(_) => None,
        Ok(v) if v == "1" => None,
        Ok(v) if v == "0" => Some(Vec::new()),
        Ok(v) => Some(v.split(',').map(|s| s.trim().to_string()).collect()),
    });
    setting
        .as_ref()
        .is_none_or(|names| names.iter().any(|n| n == name))
}
