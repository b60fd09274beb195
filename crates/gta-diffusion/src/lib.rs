//! Stage A of GTA: the return-conditioned EDM diffusion model.
//!
//! - [`mixer_unet`]: the MixerUnet denoiser (method.md §3); [`resmlp`]: SynthER's residual MLP
//!   (§8.1); both behind [`denoiser::Denoiser`].
//! - [`edm`]: preconditioning, training noise and the masked loss (§4).
//! - [`train`]: Adam, global-norm clipping, LR schedules, EMA, checkpoints with exact resume (§5).
//! - [`data_parallel`]: the same training step over several GPUs of one host (issue 9).
//! - [`official`]: the name mapping from the official PyTorch state dict; [`import`]: reading
//!   official `.pt` checkpoints through it.
//!
//! Library code never prints: progress goes to a callback, diagnostics to `tracing`.

pub mod checkpoint;
pub mod config;
pub mod conv_gemm;
pub mod data;
pub mod data_parallel;
pub mod denoiser;
pub mod edm;
pub mod ema;
pub mod embedding;
pub mod error;
pub mod grad;
pub(crate) mod graph_step;
pub mod guidance;
pub mod import;
pub mod mixer_unet;
pub mod official;
pub mod resmlp;
pub mod sampler;
pub mod schedule;
pub mod train;

pub use config::{DiffusionConfig, TrainConfig};
pub use data::{DeviceData, TrainData, WindowSampler};
pub use denoiser::{Denoiser, DenoiserConfig};
pub use edm::EdmConfig;
pub use error::DiffusionError;
pub use mixer_unet::{MixerUnet, MixerUnetConfig};
pub use resmlp::{ResMlp, ResMlpConfig};
pub use train::{StepReport, Trainer};

/// Random stream of the window sampler's permutations.
pub const STREAM_SAMPLER: u64 = 1;
/// Random stream of the per-step training noise (σ, n, dropout mask).
pub const STREAM_NOISE: u64 = 2;
/// Random stream of model initialisation.
pub const STREAM_INIT: u64 = 3;

pub use gta_nn::derive_seed;
