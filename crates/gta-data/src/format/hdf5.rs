//! D4RL-layout HDF5 through the pure-Rust `hdf5-pure` crate (envs-and-data.md §4.1, §4.5): every
//! dataset of the file, groups walked recursively (`infos/qpos`, `metadata/policy/...`), each kept
//! in its stored dtype; bools read from the h5py enum {FALSE, TRUE} and written the same way.

use std::collections::BTreeMap;
use std::path::Path;

use hdf5_pure::{DType, DatasetBuilder, EnumTypeBuilder, File, FileBuilder, GroupBuilder};

use crate::dataset::{Array, ArrayData, Dataset};
use crate::error::{DataError, Result};

/// Target size of one gzip chunk in bytes (h5py's auto-chunking aims at 10 KiB–1 MiB).
const CHUNK_BYTES: usize = 1 << 18;

/// Opens `path` as HDF5, telling "not HDF5" and "truncated/corrupt" apart in the message.
pub(crate) fn open(path: &Path) -> Result<File> {
    match hdf5_pure::is_hdf5(path) {
        Ok(true) => {}
        Ok(false) => {
            return Err(DataError::NotHdf5 {
                path: path.to_path_buf(),
                detail: "no HDF5 signature".to_string(),
                expected: "an HDF5 file written by h5py or gta".to_string(),
            });
        }
        Err(e) => return Err(DataError::io(path, "reading", e)),
    }
    File::open(path).map_err(|e| DataError::NotHdf5 {
        path: path.to_path_buf(),
        detail: format!("truncated or corrupt: {e}"),
        expected: "a complete HDF5 file".to_string(),
    })
}

/// Reads every dataset of the HDF5 file at `path` into a [`Dataset`] keyed by its path.
pub fn read(path: &Path) -> Result<Dataset> {
    let file = open(path)?;
    let mut out = Dataset::new(path);
    read_group(&file, path, "", &mut out)?;
    Ok(out)
}

/// Reads the datasets below group `prefix` ("" for the root) into `out`, keys prefixed by it.
pub(crate) fn read_group(file: &File, path: &Path, prefix: &str, out: &mut Dataset) -> Result<()> {
    let corrupt = |key: &str, e: hdf5_pure::Error| DataError::NotHdf5 {
        path: path.to_path_buf(),
        detail: format!("truncated or corrupt at `{key}`: {e}"),
        expected: "a complete HDF5 file".to_string(),
    };
    let group = if prefix.is_empty() {
        file.root()
    } else {
        file.group(prefix).map_err(|e| corrupt(prefix, e))?
    };
    let names = group.datasets().map_err(|e| corrupt(prefix, e))?;
    for name in names {
        let key = join(prefix, &name);
        let array = read_array(file, path, &key)?;
        out.insert(key, array);
    }
    for name in group.groups().map_err(|e| corrupt(prefix, e))? {
        read_group(file, path, &join(prefix, &name), out)?;
    }
    Ok(())
}

/// Reads the one dataset at full path `key`, keeping its dtype.
pub(crate) fn read_array(file: &File, path: &Path, key: &str) -> Result<Array> {
    read_dataset(file, path, key).map_err(|e| match e {
        ReadErr::Hdf5(e) => DataError::NotHdf5 {
            path: path.to_path_buf(),
            detail: format!("truncated or corrupt at `{key}`: {e}"),
            expected: "a complete HDF5 file".to_string(),
        },
        ReadErr::Data(d) => d,
    })
}

enum ReadErr {
    Hdf5(hdf5_pure::Error),
    Data(DataError),
}

impl From<hdf5_pure::Error> for ReadErr {
    fn from(e: hdf5_pure::Error) -> Self {
        ReadErr::Hdf5(e)
    }
}

/// Reads one dataset at full path `key`, keeping its dtype.
fn read_dataset(file: &File, path: &Path, key: &str) -> std::result::Result<Array, ReadErr> {
    let ds = file.dataset(key)?;
    let shape: Vec<usize> = ds.shape()?.into_iter().map(|d| d as usize).collect();
    let dtype = ds.dtype()?;
    let data = match &dtype {
        DType::F32 => ArrayData::F32(ds.read_f32()?),
        DType::F64 => ArrayData::F64(ds.read_f64()?),
        DType::U8 => ArrayData::U8(ds.read_u8()?),
        DType::I32 => ArrayData::I32(ds.read_i32()?),
        DType::I64 => ArrayData::I64(ds.read_i64()?),
        DType::U32 => ArrayData::U32(ds.read_u32()?),
        DType::U64 => ArrayData::U64(ds.read_u64()?),
        DType::Enum(names) if is_bool_enum(names) => {
            ArrayData::Bool(ds.read_u8()?.into_iter().map(|b| b != 0).collect())
        }
        DType::String | DType::VariableLengthString => ArrayData::Str(ds.read_string()?),
        other => {
            return Err(ReadErr::Data(DataError::UnsupportedDtype {
                path: path.to_path_buf(),
                key: key.to_string(),
                found: other.to_string(),
                expected: "float32/64, bool enum, uint8, int32/64, uint32/64 or strings"
                    .to_string(),
            }));
        }
    };
    Ok(Array::new(shape, data))
}

/// Whether an HDF5 enum is h5py's boolean {FALSE = 0, TRUE = 1}.
fn is_bool_enum(names: &[String]) -> bool {
    names.len() == 2 && names[0] == "FALSE" && names[1] == "TRUE"
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}/{name}")
    }
}

/// A group tree of arrays to write.
#[derive(Default)]
pub(crate) struct Node<'a> {
    /// Arrays directly in this group, by leaf name.
    pub datasets: BTreeMap<String, &'a Array>,
    /// Subgroups by name.
    pub children: BTreeMap<String, Node<'a>>,
}

impl<'a> Node<'a> {
    /// Builds the tree of `arrays` keyed by slash-separated paths.
    pub fn from_arrays(arrays: impl IntoIterator<Item = (&'a str, &'a Array)>) -> Node<'a> {
        let mut root = Node::default();
        for (key, a) in arrays {
            let mut node = &mut root;
            let mut parts: Vec<&str> = key.split('/').filter(|p| !p.is_empty()).collect();
            let leaf = parts.pop().unwrap_or(key);
            for p in parts {
                node = node.children.entry(p.to_string()).or_default();
            }
            node.datasets.insert(leaf.to_string(), a);
        }
        root
    }
}

/// Serializes `dataset` as a D4RL-layout HDF5 file (gzip chunks, bools as the h5py enum).
/// `path` is only used in error messages.
pub fn to_bytes(dataset: &Dataset, path: &Path, gzip_level: u32) -> Result<Vec<u8>> {
    let mut fb = FileBuilder::new();
    let tree = Node::from_arrays(dataset.arrays.iter().map(|(k, a)| (k.as_str(), a)));
    write_root(&mut fb, &tree, path, "", gzip_level)?;
    fb.finish().map_err(|e| DataError::Malformed {
        path: path.to_path_buf(),
        key: "/".to_string(),
        detail: format!("HDF5 serialization failed: {e}"),
    })
}

/// Writes the arrays and subgroups of the root node `tree` into `fb`.
pub(crate) fn write_root(
    fb: &mut FileBuilder,
    tree: &Node,
    path: &Path,
    prefix: &str,
    level: u32,
) -> Result<()> {
    for (name, a) in &tree.datasets {
        configure(fb.create_dataset(name), a, path, &join(prefix, name), level)?;
    }
    for (name, child) in &tree.children {
        let mut g = fb.create_group(name);
        write_group(&mut g, child, path, &join(prefix, name), level)?;
        fb.add_group(g.finish());
    }
    Ok(())
}

pub(crate) fn write_group(
    g: &mut GroupBuilder,
    node: &Node,
    path: &Path,
    prefix: &str,
    level: u32,
) -> Result<()> {
    for (name, a) in &node.datasets {
        configure(g.create_dataset(name), a, path, &join(prefix, name), level)?;
    }
    for (name, child) in &node.children {
        let mut sub = g.create_group(name);
        write_group(&mut sub, child, path, &join(prefix, name), level)?;
        g.add_group(sub.finish());
    }
    Ok(())
}

/// Sets data, shape, chunks and gzip of one dataset builder from `a`.
fn configure(b: &mut DatasetBuilder, a: &Array, path: &Path, key: &str, level: u32) -> Result<()> {
    let elem_bytes = match &a.data {
        ArrayData::F32(v) => {
            b.with_f32_data(v);
            4
        }
        ArrayData::F64(v) => {
            b.with_f64_data(v);
            8
        }
        ArrayData::Bool(v) => {
            let bool_type = EnumTypeBuilder::u8_based()
                .u8_value("FALSE", 0)
                .u8_value("TRUE", 1)
                .build()
                .map_err(|e| bad_write(path, key, e))?;
            let bytes: Vec<u8> = v.iter().map(|&x| x as u8).collect();
            b.with_enum_u8_data(bool_type, &bytes);
            1
        }
        ArrayData::U8(v) => {
            b.with_u8_data(v);
            1
        }
        ArrayData::I32(v) => {
            b.with_i32_data(v);
            4
        }
        ArrayData::I64(v) => {
            b.with_i64_data(v);
            8
        }
        ArrayData::U32(v) => {
            b.with_u32_data(v);
            4
        }
        ArrayData::U64(v) => {
            b.with_u64_data(v);
            8
        }
        ArrayData::Str(v) => {
            let refs: Vec<&str> = v.iter().map(String::as_str).collect();
            if refs.iter().all(|s| s.is_ascii()) {
                b.with_ascii_strings(&refs)
                    .map_err(|e| bad_write(path, key, e))?;
            } else {
                b.with_strings(&refs).map_err(|e| bad_write(path, key, e))?;
            }
            0
        }
    };
    let shape: Vec<u64> = a.shape.iter().map(|&d| d as u64).collect();
    b.with_shape(&shape);
    // Chunk and compress numeric arrays with at least one row, like h5py's `compression="gzip"`.
    if elem_bytes > 0 && !shape.is_empty() && shape.iter().all(|&d| d > 0) {
        let row_bytes = a.row_width().max(1) * elem_bytes;
        let rows = (CHUNK_BYTES / row_bytes).clamp(1, a.rows());
        let mut chunks = shape.clone();
        chunks[0] = rows as u64;
        b.with_chunks(&chunks).with_deflate(level);
    }
    Ok(())
}

fn bad_write(path: &Path, key: &str, e: impl std::fmt::Display) -> DataError {
    DataError::Malformed {
        path: path.to_path_buf(),
        key: key.to_string(),
        detail: format!("cannot be written as HDF5: {e}"),
    }
}
