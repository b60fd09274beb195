//! Online SAC (issue 4): the trainer of the behaviour policies behind gta's D4RL-style
//! datasets, the behaviour-policy file format, and the dataset recipes.
//!
//! - [`SacConfig`] / [`SacAgent`]: SAC with twin critics, a tanh-Gaussian actor and automatic
//!   entropy tuning (256×256 ReLU MLPs, the usual defaults), backend-generic (CPU or CUDA).
//! - [`SacTrainer`]: the online loop in a native env, evaluation rows, actor snapshots and
//!   checkpoints with exact resume.
//! - [`BehaviourPolicy`]: the `.policy` files committed under `policies/`.
//! - [`export`]: picks medium / expert / medium-replay snapshots of a run.
//! - [`recipe`]: `{env}-{medium,medium-replay,expert,medium-expert}` datasets.

pub mod agent;
pub mod config;
pub mod export;
pub mod policy;
pub mod recipe;
pub mod replay;
pub mod trainer;

pub use agent::{SacAgent, SacLosses, SacNoise, actor_dist, actor_sample, sac_losses, sac_sizes};
pub use config::SacConfig;
pub use policy::{
    BehaviourPolicy, MeanPolicy, PolicyHeader, SamplePolicy, SnapshotInfo, sample_action,
};
pub use replay::HostReplay;
pub use trainer::{SacRow, SacState, SacTrainer};
