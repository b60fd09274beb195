//! Stage B of GTA (method.md §6): partial noising of original windows, denoising towards an
//! amplified return with classifier-free guidance, and the generated dataset.
//!
//! - [`config`]: μ, α, w, conditioning mode, amounts, reference-compatibility switches.
//! - [`condition`]: the condition of each generated window (eq. 11 and the ablation modes).
//! - [`transitions`]: windows → transitions, terminal-reward restoration (§6.7, §2.4).
//! - [`augment`]: source choice, batched generation, resumable parts, the output file.
//! - [`generator`]: the EDM model + guided sampler as a [`augment::WindowGenerator`].
//! - [`s4rl`]: the S4RL baseline (Gaussian state noise, method.md §8.2).
//! - [`synther`]: the SynthER baseline (unconditional transition-level EDM, method.md §8.1).

pub mod augment;
pub mod condition;
pub mod config;
pub mod error;
pub mod generator;
pub mod s4rl;
pub mod split;
pub mod synther;
pub mod transitions;

pub use augment::{AugmentReport, Progress, Provenance, WindowGenerator, augment};
pub use config::{AugmentConfig, ConditionMode};
pub use error::AugmentError;
pub use generator::EdmGenerator;
pub use s4rl::{S4rlConfig, s4rl_dataset};
pub use split::SplitGenerator;
pub use synther::{SyntherConfig, SyntherReport, TransitionNormalizer};
