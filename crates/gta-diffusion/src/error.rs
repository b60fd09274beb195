//! Errors of the diffusion crate; each message names the file or field and what was expected.

use std::path::PathBuf;

/// Everything that can go wrong building, training, saving or importing a diffusion model.
#[derive(Debug, thiserror::Error)]
pub enum DiffusionError {
    /// The training data is inconsistent.
    #[error("training data: field `{field}`: {expected}")]
    Data {
        /// The offending field of [`crate::data::TrainData`].
        field: &'static str,
        /// What was expected and what was found.
        expected: String,
    },
    /// A configuration value is out of range.
    #[error("config: `{key}`: {expected}")]
    Config {
        /// The config key.
        key: &'static str,
        /// What was expected and what was found.
        expected: String,
    },
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A checkpoint is missing, unreadable or does not fit the model.
    #[error("checkpoint {}: {what}", path.display())]
    Checkpoint {
        /// The checkpoint folder or file.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
    /// An imported weight is missing or has the wrong shape.
    #[error("official weights: tensor `{name}`: {expected}")]
    Import {
        /// The reference state-dict name.
        name: String,
        /// What was expected and what was found.
        expected: String,
    },
}

impl DiffusionError {
    /// Shorthand for [`DiffusionError::Io`].
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}
