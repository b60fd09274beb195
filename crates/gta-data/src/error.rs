//! The one error type of the data crate: every message is a single line that names the file, the key
//! (where there is one) and what was expected (brief item 6; envs-and-data.md §4.4 "Validate").

use std::path::PathBuf;

/// Everything that can go wrong while reading, checking, converting or windowing a dataset.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The input path does not exist.
    #[error(
        "{}: no such file or folder (expected a .hdf5/.h5 file, a .npz file or a Minari dataset folder)",
        path.display()
    )]
    MissingFile {
        /// The path that was asked for.
        path: PathBuf,
    },
    /// The path's extension names no known format, or an explicit format name is unknown.
    #[error("{}: unknown dataset format `{found}` (expected {expected})", path.display())]
    UnknownFormat {
        /// The file.
        path: PathBuf,
        /// The extension or format name that was found.
        found: String,
        /// What would have been accepted.
        expected: String,
    },
    /// The file is not HDF5 at all, or is truncated/corrupt.
    #[error("{}: not a readable HDF5 file ({detail}); expected {expected}", path.display())]
    NotHdf5 {
        /// The file.
        path: PathBuf,
        /// What the HDF5 reader said.
        detail: String,
        /// What kind of file was expected.
        expected: String,
    },
    /// A required key (array) is absent.
    #[error("{}: missing key `{key}` (expected {expected})", path.display())]
    MissingKey {
        /// The file.
        path: PathBuf,
        /// The key that is missing.
        key: String,
        /// What the key should hold.
        expected: String,
    },
    /// An array has a different number of rows than `observations`.
    #[error(
        "{}: key `{key}` has {found} rows, expected {expected} (the rows of `observations`)",
        path.display()
    )]
    LengthMismatch {
        /// The file.
        path: PathBuf,
        /// The offending key.
        key: String,
        /// Its number of rows.
        found: usize,
        /// The number of rows of `observations`.
        expected: usize,
    },
    /// An array has the wrong number of dimensions or the wrong width.
    #[error("{}: key `{key}` has shape {found:?}, expected {expected}", path.display())]
    WrongDims {
        /// The file.
        path: PathBuf,
        /// The offending key.
        key: String,
        /// Its shape.
        found: Vec<usize>,
        /// The expected shape, in words.
        expected: String,
    },
    /// A NaN or infinite value in a numeric array the pipeline uses.
    #[error(
        "{}: key `{key}` holds {value} at row {row}, column {col} (expected finite numbers)",
        path.display()
    )]
    NonFinite {
        /// The file.
        path: PathBuf,
        /// The offending key.
        key: String,
        /// Row index (first axis).
        row: usize,
        /// Column index (0 for a 1-D array).
        col: usize,
        /// The value found (`NaN`, `inf`, `-inf`).
        value: String,
    },
    /// An array's element type cannot be handled.
    #[error("{}: key `{key}` has unsupported dtype {found} (expected {expected})", path.display())]
    UnsupportedDtype {
        /// The file.
        path: PathBuf,
        /// The offending key.
        key: String,
        /// The dtype found.
        found: String,
        /// What would have been accepted.
        expected: String,
    },
    /// A file's structure is readable but not what the format requires.
    #[error("{}: key `{key}`: {detail}", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// The key (or group) concerned.
        key: String,
        /// What is wrong and what was expected.
        detail: String,
    },
    /// The output exists and overwriting was not asked for.
    #[error("{}: output already exists (expected a new path, or pass overwrite)", path.display())]
    OutputExists {
        /// The output path.
        path: PathBuf,
    },
    /// An option value is out of range.
    #[error("invalid option `{option}`: {detail}")]
    InvalidOption {
        /// The option name.
        option: String,
        /// What is wrong and what was expected.
        detail: String,
    },
    /// An operating-system I/O failure not caused by the input's content.
    #[error("{}: {action} failed: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What was being done (`reading`, `writing`, `renaming`).
        action: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl DataError {
    /// Whether the user's input (file, key, shape, value, flag) is at fault, as opposed to the
    /// machine (an I/O failure while writing). The CLI maps `true` to exit code 2.
    pub fn is_bad_input(&self) -> bool {
        !matches!(self, DataError::Io { .. })
    }

    /// Builds an [`DataError::Io`] for `path`.
    pub fn io(path: impl Into<PathBuf>, action: &str, source: std::io::Error) -> Self {
        DataError::Io {
            path: path.into(),
            action: action.to_string(),
            source,
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = DataError> = std::result::Result<T, E>;
