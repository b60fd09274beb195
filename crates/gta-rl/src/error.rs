//! Errors of the offline-RL stage: one line naming the file, the key and what was expected.

use std::path::{Path, PathBuf};

/// Why an RL operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RlError {
    /// The dataset could not be read or has no usable q-learning view.
    #[error(transparent)]
    Data(#[from] gta_data::DataError),
    /// The evaluation environment failed.
    #[error(transparent)]
    Env(#[from] gta_envs::EnvError),
    /// Original and augmented data (or data and checkpoint) disagree on a shape.
    #[error("{what}: expected {expected}, got {got}")]
    Shape {
        /// Which array or dimension.
        what: String,
        /// The expected value.
        expected: usize,
        /// The value found.
        got: usize,
    },
    /// A configuration value is out of range.
    #[error("config key `{key}`: expected {expected}")]
    Config {
        /// The config key.
        key: &'static str,
        /// What was expected.
        expected: String,
    },
    /// A checkpoint file is missing or unreadable.
    #[error("checkpoint {path}: {what}")]
    Checkpoint {
        /// The file or folder.
        path: PathBuf,
        /// What went wrong.
        what: String,
    },
    /// A behaviour-policy file (`policies/*.policy`) is missing or unreadable.
    #[error("policy file {path}: {what}")]
    Policy {
        /// The file.
        path: PathBuf,
        /// What went wrong, and how to make the file.
        what: String,
    },
    /// A file-system operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

impl RlError {
    /// An I/O error on `path`.
    pub fn io(path: impl AsRef<Path>, source: std::io::Error) -> Self {
        RlError::Io {
            path: path.as_ref().to_path_buf(),
            source,
        }
    }

    /// A checkpoint error on `path`.
    pub fn checkpoint(path: impl AsRef<Path>, what: impl std::fmt::Display) -> Self {
        RlError::Checkpoint {
            path: path.as_ref().to_path_buf(),
            what: what.to_string(),
        }
    }
}
