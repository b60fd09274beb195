//! `gta-rl`: the offline-RL stage of GTA (issue 7; method.md §9). Any algorithm trains on the
//! original dataset, the augmented one, or their union, unchanged.
//!
//! Pipeline: [`ReplayBuffer`] (device-resident union of original and generated transitions,
//! state normalization over the union, §9.1) → an [`Agent`] ([`Td3Bc`], [`Iql`], [`Cql`], [`Mcq`]) → [`Trainer`]
//! (seeded sampling, evaluation in the native envs every K steps with D4RL normalized scores,
//! metrics rows, checkpoints with exact resume, §9.2).
//!
//! The Decision Transformer trains on trajectory segments instead: [`DtData`] (original
//! episodes + generated windows with the RTG rule of §9.3) → [`DtTrainer`] (same cadence,
//! metrics rows and checkpoint layout; its own context-keeping evaluation rollout).

#![warn(missing_docs)]

pub mod agent;
pub mod buffer;
pub mod checkpoint;
pub mod config;
pub mod cql;
pub mod dt;
pub mod dt_data;
pub mod error;
pub mod iql;
pub mod mcq;
pub mod nets;
pub mod online;
pub mod sac;
pub mod td3bc;
pub mod train;

pub use agent::{Agent, Batch, HostMlp, HostPolicy, Losses};
pub use buffer::{ReplayBuffer, synthetic_qlearning};
pub use config::{
    Algo, CqlConfig, DtConfig, IqlConfig, McqConfig, RlConfig, Td3BcConfig, TrainConfig,
};
pub use cql::Cql;
pub use dt::{Dt, DtTrainer};
pub use dt_data::DtData;
pub use error::RlError;
pub use iql::Iql;
pub use mcq::Mcq;
pub use td3bc::Td3Bc;
pub use train::{EvalReport, MetricsRow, Trainer, build_agent};

/// Random stream: minibatch indices (one draw per step).
pub const STREAM_SAMPLE: u64 = 1;
/// Random stream: the agent's own noise (TD3's target-policy smoothing), one per step.
pub const STREAM_AGENT: u64 = 2;
/// Random stream: network initialisation.
pub const STREAM_INIT: u64 = 3;

pub use gta_nn::derive_seed;
