//! Shared fixtures for the data crate's integration tests.
#![allow(dead_code)]

use gta_data::{Array, ArrayData, Dataset};

/// The real D4RL door-human-v0 file (envs-and-data.md §8); CI has shared/ beside the clone.
pub const DOOR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/d4rl/door-v0_demos_clipped.hdf5"
);

/// A small synthetic D4RL-layout dataset with every kind of array the formats must keep:
/// f64 observations and next_observations, f32 actions, (N, 1) rewards, bool flags, u8/f32 infos,
/// string, int32 scalar and nested metadata. 12 rows: episodes end at rows 3 (terminal), 7 (timeout)
/// and 10 (terminal); row 11 is a trailing partial episode. next_obs[5] != obs[6] on purpose.
pub fn synthetic(with_next: bool) -> Dataset {
    let n = 12;
    let obs: Vec<f64> = (0..n * 3)
        .map(|i| (i as f64) * 0.25 - 1.0 + 1e-9 * i as f64)
        .collect();
    let mut next = vec![0f64; n * 3];
    for i in 0..n {
        for c in 0..3 {
            next[i * 3 + c] = if i + 1 < n {
                obs[(i + 1) * 3 + c]
            } else {
                42.0 + c as f64
            };
        }
    }
    next[5 * 3 + 1] = -0.0; // differs (bitwise and in value) from obs[6][1]
    let mut d = Dataset::new("synthetic");
    d.insert("observations", Array::new(vec![n, 3], ArrayData::F64(obs)));
    if with_next {
        d.insert(
            "next_observations",
            Array::new(vec![n, 3], ArrayData::F64(next)),
        );
    }
    d.insert(
        "actions",
        Array::new(
            vec![n, 2],
            ArrayData::F32((0..n * 2).map(|i| (i as f32).sin()).collect()),
        ),
    );
    d.insert(
        "rewards",
        Array::new(
            vec![n, 1],
            ArrayData::F32((0..n).map(|i| i as f32 * 0.5 - 1.0).collect()),
        ),
    );
    let mut term = vec![false; n];
    term[3] = true;
    term[10] = true;
    let mut tout = vec![false; n];
    tout[7] = true;
    d.insert("terminals", Array::new(vec![n], ArrayData::Bool(term)));
    d.insert("timeouts", Array::new(vec![n], ArrayData::Bool(tout)));
    d.insert(
        "infos/qpos",
        Array::new(
            vec![n, 2],
            ArrayData::F32((0..n * 2).map(|i| i as f32 / 3.0).collect()),
        ),
    );
    d.insert(
        "infos/flag",
        Array::new(vec![n], ArrayData::U8((0..n as u8).collect())),
    );
    d.insert(
        "metadata/algorithm",
        Array::new(vec![], ArrayData::Str(vec!["SAC".to_string()])),
    );
    d.insert(
        "metadata/iteration",
        Array::new(vec![], ArrayData::I32(vec![7])),
    );
    d.insert(
        "metadata/policy/fc0/weight",
        Array::new(
            vec![2, 3],
            ArrayData::F32(vec![1.5, -2.0, f32::MIN_POSITIVE, 0.1, 1e-30, 3.0]),
        ),
    );
    d
}

/// Sum of an array accumulated in f64, as the golden sums of envs-and-data.md §8.
pub fn sum(d: &Dataset, key: &str) -> f64 {
    let a = d.get(key).unwrap_or_else(|| panic!("missing {key}"));
    (0..a.data.len()).map(|i| a.data.get_f64(i).unwrap()).sum()
}

/// Asserts `a` and `b` hold the same keys with bit-identical arrays, naming the first difference.
pub fn assert_bit_eq(a: &Dataset, b: &Dataset) {
    let ka: Vec<&String> = a.arrays.keys().collect();
    let kb: Vec<&String> = b.arrays.keys().collect();
    assert_eq!(ka, kb, "different keys");
    for (k, x) in &a.arrays {
        let y = &b.arrays[k];
        assert_eq!(x.shape, y.shape, "shape of {k}");
        assert_eq!(x.data.dtype_name(), y.data.dtype_name(), "dtype of {k}");
        assert!(x.bit_eq(y), "bits of {k} differ");
    }
    assert!(a.bit_eq(b));
}
