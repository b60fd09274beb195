//! `gta-data`: datasets in and out (D4RL HDF5, numpy `.npz`, Minari folders), episodes, the
//! transition and `qlearning` views, the normalizer, windows with return conditions, and the
//! source-window samplers of GTA (method.md §2; envs-and-data.md §4, §5, §8).
//!
//! Pipeline: [`read`] → [`Dataset`] → [`Trajectories`] (episodes, next states) → [`WindowSet`]
//! (rows, windows, conditions, normalizer) → [`WindowSampler`] (which windows to use).

#![warn(missing_docs)]

pub mod dataset;
pub mod episodes;
pub mod error;
pub mod format;
pub mod info;
pub mod normalizer;
pub mod sampler;
pub mod windows;

pub use dataset::{Array, ArrayData, Dataset};
pub use episodes::{
    Episode, EpisodeOptions, QLearning, SplitRule, Trajectories, qlearning, split_episodes,
};
pub use error::DataError;
pub use format::{Format, ReadOptions, WriteOptions, read, write};
pub use info::DatasetInfo;
pub use normalizer::Normalizer;
pub use sampler::{
    DenseReweighting, Reweighting, SparseReweighting, WindowSampler, dense_weights,
    sparse_episode_weights,
};
pub use windows::{WindowOptions, WindowSet, reward_to_go};
