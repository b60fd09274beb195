//! Errors of the environment crate.

use thiserror::Error;

/// Everything that can go wrong when naming, building, stepping or scoring an environment.
#[derive(Debug, Error)]
pub enum EnvError {
    /// A name that is neither an environment nor a D4RL dataset id gta knows.
    #[error("unknown environment or dataset id {name:?}: expected one of {expected}")]
    UnknownEnv {
        /// The name as given.
        name: String,
        /// The accepted names, comma-separated.
        expected: String,
    },
    /// A dataset id with no D4RL reference scores (envs-and-data.md §3).
    #[error(
        "no D4RL reference scores for {name:?}: expected a dataset id or env name of {expected}"
    )]
    UnknownScoreId {
        /// The name as given.
        name: String,
        /// The families in the table.
        expected: String,
    },
    /// A vector whose length does not match the environment's dimension.
    #[error("{env}: {what} has length {got}, expected {expected}")]
    Dimension {
        /// The environment name.
        env: &'static str,
        /// Which vector (`observation`, `action`, `qpos`, ...).
        what: &'static str,
        /// Its length.
        got: usize,
        /// The length the environment needs.
        expected: usize,
    },
    /// MuJoCo rejected a model (a broken `.mujoco/assets` XML or a bad generated maze MJCF).
    #[error("{env}: MuJoCo could not load the model: {reason}")]
    ModelLoad {
        /// The environment name.
        env: &'static str,
        /// MuJoCo's message.
        reason: String,
    },
    /// A dataset that cannot be replayed in the environment (missing key, wrong width).
    #[error("replaying {env}: {reason}")]
    Replay {
        /// The environment name.
        env: &'static str,
        /// What is wrong with the dataset.
        reason: String,
    },
    /// An evaluation asked for zero episodes.
    #[error("evaluation of {env}: episodes must be at least 1, got 0")]
    NoEpisodes {
        /// The environment name.
        env: String,
    },
}
