//! `gta-rl`: the offline-RL stage of GTA (issue 7; method.md §9). Any algorithm trains on the
//! original dataset, the augmented one, or their union, unchanged.
//!
//! Pipeline: [`ReplayBuffer`] (device-resident union of original and generated transitions,
//! state normalization over the union, §9.1) → an [`Agent`] ([`Td3Bc`], [`Iql`]) → [`Trainer`]
//! (seeded sampling, evaluation in the native envs every K steps with D4RL normalized scores,
//! metrics rows, checkpoints with exact resume, §9.2).

#![warn(missing_docs)]

pub mod agent;
pub mod buffer;
pub mod checkpoint;
pub mod config;
pub mod error;
pub mod iql;
pub mod nets;
pub mod td3bc;
pub mod train;

pub use agent::{Agent, Batch, HostMlp, HostPolicy, Losses};
pub use buffer::{ReplayBuffer, synthetic_qlearning};
pub use config::{Algo, IqlConfig, RlConfig, Td3BcConfig, TrainConfig};
pub use error::RlError;
pub use iql::Iql;
pub use td3bc::Td3Bc;
pub use train::{EvalReport, MetricsRow, Trainer, build_agent};

/// Random stream: minibatch indices (one draw per step).
pub const STREAM_SAMPLE: u64 = 1;
/// Random stream: the agent's own noise (TD3's target-policy smoothing), one per step.
pub const STREAM_AGENT: u64 = 2;
/// Random stream: network initialisation.
pub const STREAM_INIT: u64 = 3;

pub use gta_nn::derive_seed;
