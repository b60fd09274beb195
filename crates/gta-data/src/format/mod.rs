//! Dataset formats behind one `read` / `write` pair: D4RL HDF5 (`.hdf5`, `.h5`), numpy `.npz`, and
//! Minari dataset folders (envs-and-data.md §4, §5). The format comes from the path (extension, or a
//! folder) unless given explicitly. Writes go to a temporary name in the target folder and are renamed
//! on completion; an existing output is replaced only with `overwrite`.

pub mod hdf5;
pub mod minari;
pub mod npz;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::dataset::Dataset;
use crate::error::{DataError, Result};

/// A dataset file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// D4RL-layout HDF5: flat top-level arrays, gzip chunks, bools as an h5py enum.
    Hdf5,
    /// numpy `.npz` with the same key names (`infos/qpos` stored as `infos/qpos.npy`).
    Npz,
    /// A Minari dataset folder (`data/main_data.hdf5` + `data/metadata.json`).
    Minari,
}

impl Format {
    /// Parses a format name (`hdf5`, `h5`, `npz`, `minari`).
    pub fn from_name(name: &str, path: &Path) -> Result<Format> {
        match name.to_ascii_lowercase().as_str() {
            "hdf5" | "h5" | "d4rl" => Ok(Format::Hdf5),
            "npz" => Ok(Format::Npz),
            "minari" => Ok(Format::Minari),
            other => Err(DataError::UnknownFormat {
                path: path.to_path_buf(),
                found: other.to_string(),
                expected: "one of hdf5, npz, minari".to_string(),
            }),
        }
    }

    /// The format implied by `path`: `.hdf5`/`.h5`, `.npz`, or a folder (an existing directory, or
    /// a path without an extension) for Minari.
    pub fn from_path(path: &Path) -> Result<Format> {
        if path.is_dir() {
            return Ok(Format::Minari);
        }
        match path.extension().and_then(|e| e.to_str()) {
            Some(ext) if ext.eq_ignore_ascii_case("hdf5") || ext.eq_ignore_ascii_case("h5") => {
                Ok(Format::Hdf5)
            }
            Some(ext) if ext.eq_ignore_ascii_case("npz") => Ok(Format::Npz),
            None => Ok(Format::Minari),
            Some(ext) => Err(DataError::UnknownFormat {
                path: path.to_path_buf(),
                found: format!(".{ext}"),
                expected: ".hdf5, .h5, .npz or a Minari dataset folder".to_string(),
            }),
        }
    }
}

/// Options for [`read`].
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ReadOptions {
    /// The format; `None` infers it from the path ([`Format::from_path`]).
    pub format: Option<Format>,
}

/// Options for [`write`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WriteOptions {
    /// The format; `None` infers it from the path ([`Format::from_path`]).
    pub format: Option<Format>,
    /// Replace an existing output (default false: an existing path is an error).
    pub overwrite: bool,
    /// gzip level for HDF5 chunks (h5py's default for `compression="gzip"` is 4).
    pub gzip_level: u32,
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions {
            format: None,
            overwrite: false,
            gzip_level: 4,
        }
    }
}

/// Reads the dataset at `path` (D4RL HDF5, `.npz` or a Minari folder).
pub fn read(path: impl AsRef<Path>, options: &ReadOptions) -> Result<Dataset> {
    let path = path.as_ref();
    if !path.exists() {
        return Err(DataError::MissingFile {
            path: path.to_path_buf(),
        });
    }
    let format = match options.format {
        Some(f) => f,
        None => Format::from_path(path)?,
    };
    match format {
        Format::Hdf5 => hdf5::read(path),
        Format::Npz => npz::read(path),
        Format::Minari => minari::read(path),
    }
}

/// Writes `dataset` to `path`, through a temporary name in the same folder renamed on completion.
pub fn write(dataset: &Dataset, path: impl AsRef<Path>, options: &WriteOptions) -> Result<()> {
    let path = path.as_ref();
    let format = match options.format {
        Some(f) => f,
        None => Format::from_path(path)?,
    };
    if path.exists() && !options.overwrite {
        return Err(DataError::OutputExists {
            path: path.to_path_buf(),
        });
    }
    for (key, a) in &dataset.arrays {
        if !a.is_consistent() {
            return Err(DataError::Malformed {
                path: path.to_path_buf(),
                key: key.clone(),
                detail: format!(
                    "holds {} elements, expected {} for shape {:?}",
                    a.data.len(),
                    a.shape.iter().product::<usize>(),
                    a.shape
                ),
            });
        }
    }
    match format {
        Format::Hdf5 => {
            let bytes = hdf5::to_bytes(dataset, path, options.gzip_level)?;
            write_file_atomic(path, options.overwrite, |f| {
                std::io::Write::write_all(f, &bytes).map_err(|e| DataError::io(path, "writing", e))
            })
        }
        Format::Npz => {
            write_file_atomic(path, options.overwrite, |f| npz::write_to(dataset, path, f))
        }
        Format::Minari => minari::write(dataset, path, options),
    }
}

/// The folder a new file at `path` goes into (`.` for a bare file name).
pub(crate) fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Creates a temporary file next to `path`, lets `fill` write it, flushes it and renames it to
/// `path`. On any error the temporary file is removed (tempfile's drop), so no partial output is
/// left behind.
pub(crate) fn write_file_atomic(
    path: &Path,
    overwrite: bool,
    fill: impl FnOnce(&mut std::fs::File) -> Result<()>,
) -> Result<()> {
    let dir = parent_dir(path);
    let mut tmp = tempfile::Builder::new()
        .prefix(".gta-tmp-")
        .tempfile_in(&dir)
        .map_err(|e| DataError::io(&dir, "creating a temporary file in", e))?;
    fill(tmp.as_file_mut())?;
    tmp.as_file()
        .sync_all()
        .map_err(|e| DataError::io(tmp.path(), "syncing", e))?;
    // tempfile creates files readable by the owner only; a dataset is an ordinary output file.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o644))
            .map_err(|e| DataError::io(tmp.path(), "setting permissions of", e))?;
    }
    let persisted = if overwrite {
        tmp.persist(path)
    } else {
        tmp.persist_noclobber(path)
    };
    persisted.map_err(|e| {
        if e.error.kind() == std::io::ErrorKind::AlreadyExists {
            DataError::OutputExists {
                path: path.to_path_buf(),
            }
        } else {
            DataError::io(path, "renaming the temporary file to", e.error)
        }
    })?;
    Ok(())
}
