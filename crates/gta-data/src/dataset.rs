//! The in-memory dataset: named arrays that keep their stored dtype bit for bit, plus typed accessors
//! that give the pipeline f32 row-major matrices (envs-and-data.md §4.1 layout, §4.4 tolerance).

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::error::{DataError, Result};

/// Key of the observations array, shape (N, obs_dim).
pub const OBSERVATIONS: &str = "observations";
/// Key of the actions array, shape (N, act_dim).
pub const ACTIONS: &str = "actions";
/// Key of the rewards array, shape (N,) or (N, 1).
pub const REWARDS: &str = "rewards";
/// Key of the optional next-observations array, shape (N, obs_dim).
pub const NEXT_OBSERVATIONS: &str = "next_observations";
/// Key of the termination flags, shape (N,).
pub const TERMINALS: &str = "terminals";
/// Key of the time-limit truncation flags, shape (N,).
pub const TIMEOUTS: &str = "timeouts";

/// The element storage of one array, in the dtype it was stored with.
#[derive(Debug, Clone)]
pub enum ArrayData {
    /// 32-bit floats (`float32`).
    F32(Vec<f32>),
    /// 64-bit floats (`float64`, D4RL replay files, Minari observations).
    F64(Vec<f64>),
    /// Booleans (HDF5 enum {FALSE, TRUE} as h5py writes them, numpy `|b1`).
    Bool(Vec<bool>),
    /// Unsigned bytes (`uint8`, sometimes used for flags).
    U8(Vec<u8>),
    /// 32-bit signed integers (`metadata/iteration`).
    I32(Vec<i32>),
    /// 64-bit signed integers.
    I64(Vec<i64>),
    /// 32-bit unsigned integers.
    U32(Vec<u32>),
    /// 64-bit unsigned integers.
    U64(Vec<u64>),
    /// Fixed-length byte strings (`metadata/algorithm`), one per element.
    Str(Vec<String>),
}

impl ArrayData {
    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            ArrayData::F32(v) => v.len(),
            ArrayData::F64(v) => v.len(),
            ArrayData::Bool(v) => v.len(),
            ArrayData::U8(v) => v.len(),
            ArrayData::I32(v) => v.len(),
            ArrayData::I64(v) => v.len(),
            ArrayData::U32(v) => v.len(),
            ArrayData::U64(v) => v.len(),
            ArrayData::Str(v) => v.len(),
        }
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The numpy name of the dtype (`float32`, `bool`, ...).
    pub fn dtype_name(&self) -> &'static str {
        match self {
            ArrayData::F32(_) => "float32",
            ArrayData::F64(_) => "float64",
            ArrayData::Bool(_) => "bool",
            ArrayData::U8(_) => "uint8",
            ArrayData::I32(_) => "int32",
            ArrayData::I64(_) => "int64",
            ArrayData::U32(_) => "uint32",
            ArrayData::U64(_) => "uint64",
            ArrayData::Str(_) => "bytes",
        }
    }

    /// Bit-for-bit equality: same dtype, and floats compared by their bit patterns (so NaN == NaN
    /// and 0.0 != -0.0).
    pub fn bit_eq(&self, other: &ArrayData) -> bool {
        match (self, other) {
            (ArrayData::F32(a), ArrayData::F32(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
            }
            (ArrayData::F64(a), ArrayData::F64(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
            }
            (ArrayData::Bool(a), ArrayData::Bool(b)) => a == b,
            (ArrayData::U8(a), ArrayData::U8(b)) => a == b,
            (ArrayData::I32(a), ArrayData::I32(b)) => a == b,
            (ArrayData::I64(a), ArrayData::I64(b)) => a == b,
            (ArrayData::U32(a), ArrayData::U32(b)) => a == b,
            (ArrayData::U64(a), ArrayData::U64(b)) => a == b,
            (ArrayData::Str(a), ArrayData::Str(b)) => a == b,
            _ => false,
        }
    }

    /// Element `i` as f64 (booleans as 0/1); `None` for strings.
    pub fn get_f64(&self, i: usize) -> Option<f64> {
        Some(match self {
            ArrayData::F32(v) => v[i] as f64,
            ArrayData::F64(v) => v[i],
            ArrayData::Bool(v) => v[i] as u8 as f64,
            ArrayData::U8(v) => v[i] as f64,
            ArrayData::I32(v) => v[i] as f64,
            ArrayData::I64(v) => v[i] as f64,
            ArrayData::U32(v) => v[i] as f64,
            ArrayData::U64(v) => v[i] as f64,
            ArrayData::Str(_) => return None,
        })
    }

    /// The elements `range` of the same dtype (used to cut per-episode slices).
    pub fn slice(&self, range: std::ops::Range<usize>) -> ArrayData {
        match self {
            ArrayData::F32(v) => ArrayData::F32(v[range].to_vec()),
            ArrayData::F64(v) => ArrayData::F64(v[range].to_vec()),
            ArrayData::Bool(v) => ArrayData::Bool(v[range].to_vec()),
            ArrayData::U8(v) => ArrayData::U8(v[range].to_vec()),
            ArrayData::I32(v) => ArrayData::I32(v[range].to_vec()),
            ArrayData::I64(v) => ArrayData::I64(v[range].to_vec()),
            ArrayData::U32(v) => ArrayData::U32(v[range].to_vec()),
            ArrayData::U64(v) => ArrayData::U64(v[range].to_vec()),
            ArrayData::Str(v) => ArrayData::Str(v[range].to_vec()),
        }
    }

    /// Appends `other` (same dtype) to `self`; returns false on a dtype mismatch.
    pub fn extend_from(&mut self, other: &ArrayData) -> bool {
        match (self, other) {
            (ArrayData::F32(a), ArrayData::F32(b)) => a.extend_from_slice(b),
            (ArrayData::F64(a), ArrayData::F64(b)) => a.extend_from_slice(b),
            (ArrayData::Bool(a), ArrayData::Bool(b)) => a.extend_from_slice(b),
            (ArrayData::U8(a), ArrayData::U8(b)) => a.extend_from_slice(b),
            (ArrayData::I32(a), ArrayData::I32(b)) => a.extend_from_slice(b),
            (ArrayData::I64(a), ArrayData::I64(b)) => a.extend_from_slice(b),
            (ArrayData::U32(a), ArrayData::U32(b)) => a.extend_from_slice(b),
            (ArrayData::U64(a), ArrayData::U64(b)) => a.extend_from_slice(b),
            (ArrayData::Str(a), ArrayData::Str(b)) => a.extend_from_slice(b),
            _ => return false,
        }
        true
    }
}

/// One named array: a row-major shape and its elements (an empty shape is a scalar).
#[derive(Debug, Clone)]
pub struct Array {
    /// Row-major shape; `[]` for a scalar.
    pub shape: Vec<usize>,
    /// The elements, `shape.iter().product()` of them.
    pub data: ArrayData,
}

impl Array {
    /// A new array; the caller guarantees `data.len() == shape.iter().product()` (checked by
    /// [`Array::is_consistent`] before writing).
    pub fn new(shape: Vec<usize>, data: ArrayData) -> Self {
        Array { shape, data }
    }

    /// Whether the element count matches the shape.
    pub fn is_consistent(&self) -> bool {
        self.shape.iter().product::<usize>() == self.data.len()
    }

    /// Number of rows (first axis); 1 for a scalar.
    pub fn rows(&self) -> usize {
        self.shape.first().copied().unwrap_or(1)
    }

    /// Elements per row (product of the trailing axes).
    pub fn row_width(&self) -> usize {
        self.shape.iter().skip(1).product()
    }

    /// Bit-for-bit equality of shape, dtype and elements.
    pub fn bit_eq(&self, other: &Array) -> bool {
        self.shape == other.shape && self.data.bit_eq(&other.data)
    }
}

/// A dataset: named arrays keyed by their path (`observations`, `infos/qpos`,
/// `metadata/policy/fc0/weight`, ...), plus the file it came from (for error messages).
#[derive(Debug, Clone, Default)]
pub struct Dataset {
    /// The arrays, by slash-separated key.
    pub arrays: BTreeMap<String, Array>,
    /// The file or folder the dataset was read from (empty for an in-memory dataset).
    pub source: PathBuf,
}

impl Dataset {
    /// An empty dataset attributed to `source`.
    pub fn new(source: impl Into<PathBuf>) -> Self {
        Dataset {
            arrays: BTreeMap::new(),
            source: source.into(),
        }
    }

    /// Inserts (or replaces) the array under `key`.
    pub fn insert(&mut self, key: impl Into<String>, array: Array) {
        self.arrays.insert(key.into(), array);
    }

    /// The array under `key`, if any.
    pub fn get(&self, key: &str) -> Option<&Array> {
        self.arrays.get(key)
    }

    /// The array under `key`, or [`DataError::MissingKey`] saying what it should hold.
    pub fn require(&self, key: &str, expected: &str) -> Result<&Array> {
        self.arrays.get(key).ok_or_else(|| DataError::MissingKey {
            path: self.source.clone(),
            key: key.to_string(),
            expected: expected.to_string(),
        })
    }

    /// Bit-for-bit equality of every array (same keys, shapes, dtypes and bits).
    pub fn bit_eq(&self, other: &Dataset) -> bool {
        self.arrays.len() == other.arrays.len()
            && self
                .arrays
                .iter()
                .all(|(k, a)| other.arrays.get(k).is_some_and(|b| a.bit_eq(b)))
    }

    /// Number of transitions N (rows of `observations`).
    pub fn len(&self) -> Result<usize> {
        Ok(self
            .require(OBSERVATIONS, "an (N, obs_dim) float array")?
            .rows())
    }

    /// Whether the dataset has no transitions (or no observations).
    pub fn is_empty(&self) -> bool {
        self.get(OBSERVATIONS).is_none_or(|a| a.rows() == 0)
    }

    /// Checks the D4RL layout (envs-and-data.md §4.1): `observations` (N, obs_dim), `actions`
    /// (N, act_dim), `rewards` (N,) or (N, 1), `terminals` (N,), optional `timeouts` (N,) and
    /// `next_observations` (N, obs_dim), and that every array's element count matches its shape.
    /// Returns (N, obs_dim, act_dim).
    pub fn check_layout(&self) -> Result<(usize, usize, usize)> {
        for (key, a) in &self.arrays {
            if !a.is_consistent() {
                return Err(self.malformed(
                    key,
                    format!(
                        "holds {} elements, expected {} for shape {:?}",
                        a.data.len(),
                        a.shape.iter().product::<usize>(),
                        a.shape
                    ),
                ));
            }
        }
        let obs = self.require(OBSERVATIONS, "an (N, obs_dim) float array")?;
        let n = self.expect_matrix(OBSERVATIONS, obs, "(N, obs_dim)")?;
        let obs_dim = obs.shape[1];
        let act = self.require(ACTIONS, "an (N, act_dim) float array")?;
        self.expect_matrix(ACTIONS, act, "(N, act_dim)")?;
        self.expect_rows(ACTIONS, act, n)?;
        let act_dim = act.shape[1];
        let rew = self.require(REWARDS, "an (N,) or (N, 1) float array")?;
        if !(rew.shape.len() == 1 || (rew.shape.len() == 2 && rew.shape[1] == 1)) {
            return Err(self.wrong_dims(REWARDS, rew, "(N,) or (N, 1)"));
        }
        self.expect_rows(REWARDS, rew, n)?;
        let term = self.require(TERMINALS, "an (N,) bool array")?;
        self.expect_flags(TERMINALS, term, n)?;
        if let Some(t) = self.get(TIMEOUTS) {
            self.expect_flags(TIMEOUTS, t, n)?;
        }
        if let Some(next) = self.get(NEXT_OBSERVATIONS) {
            if next.shape.len() != 2 || next.shape[1] != obs_dim {
                return Err(self.wrong_dims(
                    NEXT_OBSERVATIONS,
                    next,
                    &format!("(N, {obs_dim}) like `observations`"),
                ));
            }
            self.expect_rows(NEXT_OBSERVATIONS, next, n)?;
        }
        for key in [OBSERVATIONS, ACTIONS, REWARDS, NEXT_OBSERVATIONS] {
            if let Some(a) = self.get(key)
                && !matches!(a.data, ArrayData::F32(_) | ArrayData::F64(_))
            {
                return Err(DataError::UnsupportedDtype {
                    path: self.source.clone(),
                    key: key.to_string(),
                    found: a.data.dtype_name().to_string(),
                    expected: "float32 or float64".to_string(),
                });
            }
        }
        Ok((n, obs_dim, act_dim))
    }

    /// Returns the first NaN/Inf in the float arrays the pipeline uses (observations, actions,
    /// rewards, next_observations) as [`DataError::NonFinite`], naming row and column.
    pub fn check_finite(&self) -> Result<()> {
        for key in [OBSERVATIONS, ACTIONS, REWARDS, NEXT_OBSERVATIONS] {
            let Some(a) = self.get(key) else { continue };
            let width = a.row_width().max(1);
            let bad = match &a.data {
                ArrayData::F32(v) => v
                    .iter()
                    .position(|x| !x.is_finite())
                    .map(|i| (i, v[i] as f64)),
                ArrayData::F64(v) => v.iter().position(|x| !x.is_finite()).map(|i| (i, v[i])),
                _ => None,
            };
            if let Some((i, value)) = bad {
                return Err(DataError::NonFinite {
                    path: self.source.clone(),
                    key: key.to_string(),
                    row: i / width,
                    col: i % width,
                    value: format!("{value}"),
                });
            }
        }
        Ok(())
    }

    /// The array under `key` as an f32 row-major matrix (any float or integer dtype, converted),
    /// with its row width. Rewards of shape (N, 1) come back with width 1, i.e. squeezed.
    pub fn f32_matrix(&self, key: &str) -> Result<(Vec<f32>, usize)> {
        let a = self.require(key, "a numeric array")?;
        let width = a.row_width().max(1);
        let v = match &a.data {
            ArrayData::F32(v) => v.clone(),
            ArrayData::F64(v) => v.iter().map(|&x| x as f32).collect(),
            ArrayData::Str(_) => {
                return Err(DataError::UnsupportedDtype {
                    path: self.source.clone(),
                    key: key.to_string(),
                    found: "bytes".to_string(),
                    expected: "a numeric dtype".to_string(),
                });
            }
            other => (0..other.len())
                .map(|i| other.get_f64(i).unwrap_or(0.0) as f32)
                .collect(),
        };
        Ok((v, width))
    }

    /// Rewards as an f32 vector of length N (squeezed from (N, 1)).
    pub fn rewards_f32(&self) -> Result<Vec<f32>> {
        Ok(self.f32_matrix(REWARDS)?.0)
    }

    /// The flags under `key` as bools, from any storage (bool, integers or floats: nonzero is true).
    /// `None` if the key is absent.
    pub fn flags(&self, key: &str) -> Result<Option<Vec<bool>>> {
        let Some(a) = self.get(key) else {
            return Ok(None);
        };
        let v = match &a.data {
            ArrayData::Bool(v) => v.clone(),
            ArrayData::Str(_) => {
                return Err(DataError::UnsupportedDtype {
                    path: self.source.clone(),
                    key: key.to_string(),
                    found: "bytes".to_string(),
                    expected: "bool, an integer or a float".to_string(),
                });
            }
            other => (0..other.len())
                .map(|i| other.get_f64(i).is_some_and(|x| x != 0.0))
                .collect(),
        };
        Ok(Some(v))
    }

    /// The dtype name of `observations` (`float32`, `float64`), or `none`.
    pub fn dtype_name(&self) -> &'static str {
        self.get(OBSERVATIONS)
            .map_or("none", |a| a.data.dtype_name())
    }

    fn expect_matrix(&self, key: &str, a: &Array, expected: &str) -> Result<usize> {
        if a.shape.len() != 2 {
            return Err(self.wrong_dims(key, a, expected));
        }
        Ok(a.shape[0])
    }

    fn expect_rows(&self, key: &str, a: &Array, n: usize) -> Result<()> {
        if a.shape.first().copied() != Some(n) {
            return Err(DataError::LengthMismatch {
                path: self.source.clone(),
                key: key.to_string(),
                found: a.rows(),
                expected: n,
            });
        }
        Ok(())
    }

    fn expect_flags(&self, key: &str, a: &Array, n: usize) -> Result<()> {
        if !(a.shape.len() == 1 || (a.shape.len() == 2 && a.shape[1] == 1)) {
            return Err(self.wrong_dims(key, a, "(N,)"));
        }
        self.expect_rows(key, a, n)
    }

    fn wrong_dims(&self, key: &str, a: &Array, expected: &str) -> DataError {
        DataError::WrongDims {
            path: self.source.clone(),
            key: key.to_string(),
            found: a.shape.clone(),
            expected: expected.to_string(),
        }
    }

    fn malformed(&self, key: &str, detail: String) -> DataError {
        DataError::Malformed {
            path: self.source.clone(),
            key: key.to_string(),
            detail,
        }
    }
}
