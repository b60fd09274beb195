//! Errors of the augmentation stage; every message is one line naming the file or field.

use std::path::PathBuf;

/// Why an augmentation could not run or complete.
#[derive(Debug, thiserror::Error)]
pub enum AugmentError {
    /// A setting is out of range or inconsistent.
    #[error("augment config: {0}")]
    Config(String),
    /// The output exists and overwriting was not asked for.
    #[error("{0}: output exists; pass --overwrite to replace it")]
    Exists(PathBuf),
    /// The model produced a non-finite value (reference-code-notes.md §13).
    #[error("generated window {window} has a non-finite value at row {row}, column {column}")]
    NonFinite {
        /// Generated window index.
        window: usize,
        /// Row inside the window.
        row: usize,
        /// Column (0…D−1).
        column: usize,
    },
    /// Reading or writing a dataset failed.
    #[error(transparent)]
    Data(#[from] gta_data::DataError),
    /// The model or sampler failed.
    #[error("{0}")]
    Model(String),
    /// A file-system operation failed.
    #[error("{0}: {1}")]
    Io(PathBuf, String),
}
