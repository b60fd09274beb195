//! numpy `.npz` archives with the D4RL key names (brief item 2): nested keys such as `infos/qpos`
//! are stored as `infos/qpos.npy` entries (so `np.load(f)["infos/qpos"]` works). Written with deflate
//! (like `np.savez_compressed`), read whether compressed or not.

use std::io::{BufWriter, Write};
use std::path::Path;

use npyz::npz::{NpzArchive, NpzWriter};
use npyz::zip::{CompressionMethod, write::FileOptions};
use npyz::{DType, TypeChar, TypeStr, WriterBuilder};

use crate::dataset::{Array, ArrayData, Dataset};
use crate::error::{DataError, Result};

/// Reads every array of the `.npz` archive at `path`, keeping its dtype.
pub fn read(path: &Path) -> Result<Dataset> {
    let not_npz = |e: std::io::Error| DataError::Malformed {
        path: path.to_path_buf(),
        key: "/".to_string(),
        detail: format!("not a readable .npz (zip) archive, truncated or corrupt: {e}"),
    };
    let mut archive = NpzArchive::open(path).map_err(not_npz)?;
    let names: Vec<String> = archive.array_names().map(str::to_string).collect();
    let mut out = Dataset::new(path);
    for name in names {
        let bad = |detail: String| DataError::Malformed {
            path: path.to_path_buf(),
            key: name.clone(),
            detail,
        };
        // Inflate the whole entry first: npyz reads element by element, slow from a zip stream.
        let mut bytes = Vec::new();
        {
            let mut entry = archive
                .zip_archive()
                .by_name(&npyz::npz::file_name_from_array_name(&name))
                .map_err(|e| bad(format!("unreadable .npy entry: {e}")))?;
            std::io::Read::read_to_end(&mut entry, &mut bytes)
                .map_err(|e| bad(format!("truncated or corrupt entry: {e}")))?;
        }
        let npy = npyz::NpyFile::new(&bytes[..])
            .map_err(|e| bad(format!("unreadable .npy header: {e}")))?;
        if npy.order() == npyz::Order::Fortran {
            return Err(bad(
                "is stored in Fortran order; expected C order".to_string()
            ));
        }
        let shape: Vec<usize> = npy.shape().iter().map(|&d| d as usize).collect();
        let DType::Plain(ts) = npy.dtype() else {
            return Err(DataError::UnsupportedDtype {
                path: path.to_path_buf(),
                key: name.clone(),
                found: npy.dtype().descr(),
                expected: "a plain numeric, bool or byte-string dtype".to_string(),
            });
        };
        let io = |e: std::io::Error| bad(format!("truncated or corrupt data: {e}"));
        let data = match (ts.type_char(), ts.size_field()) {
            (TypeChar::Float, 4) => ArrayData::F32(npy.into_vec().map_err(io)?),
            (TypeChar::Float, 8) => ArrayData::F64(npy.into_vec().map_err(io)?),
            (TypeChar::Bool, 1) => ArrayData::Bool(npy.into_vec().map_err(io)?),
            (TypeChar::Uint, 1) => ArrayData::U8(npy.into_vec().map_err(io)?),
            (TypeChar::Int, 4) => ArrayData::I32(npy.into_vec().map_err(io)?),
            (TypeChar::Int, 8) => ArrayData::I64(npy.into_vec().map_err(io)?),
            (TypeChar::Uint, 4) => ArrayData::U32(npy.into_vec().map_err(io)?),
            (TypeChar::Uint, 8) => ArrayData::U64(npy.into_vec().map_err(io)?),
            (TypeChar::ByteStr, _) => {
                let raw: Vec<Vec<u8>> = npy.into_vec().map_err(io)?;
                let strings = raw
                    .into_iter()
                    .map(|b| {
                        String::from_utf8(b)
                            .map_err(|e| bad(format!("byte string is not UTF-8: {e}")))
                    })
                    .collect::<Result<Vec<_>>>()?;
                ArrayData::Str(strings)
            }
            _ => {
                return Err(DataError::UnsupportedDtype {
                    path: path.to_path_buf(),
                    key: name.clone(),
                    found: ts.to_string(),
                    expected: "float32/64, bool, uint8, int32/64, uint32/64 or |S bytes"
                        .to_string(),
                });
            }
        };
        out.insert(name, Array::new(shape, data));
    }
    Ok(out)
}

/// Writes `dataset` as an `.npz` archive into `file` (`path` names it in messages).
pub(crate) fn write_to(dataset: &Dataset, path: &Path, file: &mut std::fs::File) -> Result<()> {
    let mut npz = NpzWriter::new(BufWriter::new(file));
    let options = FileOptions::default().compression_method(CompressionMethod::Deflated);
    for (key, a) in &dataset.arrays {
        let fail = |e: std::io::Error| DataError::io(path, &format!("writing `{key}` to"), e);
        let shape: Vec<u64> = a.shape.iter().map(|&d| d as u64).collect();
        match &a.data {
            ArrayData::F32(v) => put(&mut npz, key, options, &shape, v).map_err(fail)?,
            ArrayData::F64(v) => put(&mut npz, key, options, &shape, v).map_err(fail)?,
            ArrayData::Bool(v) => put(&mut npz, key, options, &shape, v).map_err(fail)?,
            ArrayData::U8(v) => put(&mut npz, key, options, &shape, v).map_err(fail)?,
            ArrayData::I32(v) => put(&mut npz, key, options, &shape, v).map_err(fail)?,
            ArrayData::I64(v) => put(&mut npz, key, options, &shape, v).map_err(fail)?,
            ArrayData::U32(v) => put(&mut npz, key, options, &shape, v).map_err(fail)?,
            ArrayData::U64(v) => put(&mut npz, key, options, &shape, v).map_err(fail)?,
            ArrayData::Str(v) => {
                let width = v.iter().map(String::len).max().unwrap_or(0).max(1);
                let ts: TypeStr =
                    format!("|S{width}")
                        .parse()
                        .map_err(|e| DataError::Malformed {
                            path: path.to_path_buf(),
                            key: key.clone(),
                            detail: format!("bad byte-string dtype: {e}"),
                        })?;
                let mut w = npz
                    .array::<[u8]>(key, options)
                    .map_err(fail)?
                    .dtype(DType::Plain(ts))
                    .shape(&shape)
                    .begin_nd()
                    .map_err(fail)?;
                for s in v {
                    w.push(s.as_bytes()).map_err(fail)?;
                }
                w.finish().map_err(fail)?;
            }
        }
    }
    let zip_err = |e: npyz::zip::result::ZipError| {
        DataError::io(
            path,
            "finishing the zip archive",
            std::io::Error::other(e.to_string()),
        )
    };
    let mut buf = npz.zip_writer().finish().map_err(zip_err)?;
    buf.flush().map_err(|e| DataError::io(path, "writing", e))?;
    Ok(())
}

/// Writes one numeric array entry with its default (little-endian) dtype. The `.npy` bytes are
/// built in memory first: npyz writes element by element, which is slow straight into a deflate
/// stream.
fn put<T, W>(
    npz: &mut NpzWriter<W>,
    key: &str,
    options: FileOptions,
    shape: &[u64],
    v: &[T],
) -> std::io::Result<()>
where
    T: npyz::AutoSerialize + Copy,
    W: Write + std::io::Seek,
{
    let mut bytes = Vec::with_capacity(std::mem::size_of_val(v) + 128);
    let mut w = npyz::WriteOptions::new()
        .default_dtype()
        .shape(shape)
        .writer(&mut bytes)
        .begin_nd()?;
    w.extend(v.iter().copied())?;
    w.finish()?;
    npz.zip_writer()
        .start_file(npyz::npz::file_name_from_array_name(key), options)?;
    npz.zip_writer().write_all(&bytes)
}
