//! Minari dataset folders (envs-and-data.md §5.1): `<folder>/data/main_data.hdf5` with one group
//! `episode_{i}` per episode (observations (T+1, obs_dim), actions, rewards, terminations,
//! truncations, infos/...) and `<folder>/data/metadata.json`.
//!
//! Mapping to the D4RL view: obs = observations[:-1], next_obs = observations[1:],
//! terminals = terminations, timeouts = truncations; per-episode infos with T+1 rows (Minari records
//! the reset info too) keep their first T rows, the info of the state *before* each step, as in D4RL.
//!
//! **Writing** (the choices this module makes, so that every round trip is exact):
//! - A Minari episode ends at `terminals | timeouts`, at the last row, and wherever
//!   `next_observations[i]` differs (bitwise) from `observations[i + 1]` (Minari stores one
//!   observation sequence, so it cannot hold both otherwise).
//! - The final observation of an episode is `next_observations[last]`. **Without
//!   `next_observations`** the true next state of an episode's last row is unknown: the final
//!   observation is then a copy of the episode's last stored observation, and the file gets the root
//!   attribute `gta_next_observations = "absent"`, so that gta reads it back without inventing a
//!   `next_observations` array. Other Minari readers will see a zero-motion last step.
//! - Arrays that are not per-step (`metadata/...`, scalars, anything without N rows) are stored
//!   under their own path at the root of `main_data.hdf5`, beside the episode groups, where Minari
//!   ignores them and gta reads them back.

use std::path::{Path, PathBuf};

use hdf5_pure::{AttrValue, FileBuilder};

use crate::dataset::{
    Array, ArrayData, Dataset, NEXT_OBSERVATIONS, OBSERVATIONS, TERMINALS, TIMEOUTS,
};
use crate::error::{DataError, Result};
use crate::format::hdf5::{self, Node};
use crate::format::{WriteOptions, parent_dir};

/// Root attribute recording whether the source had `next_observations` (`present` / `absent`).
pub const NEXT_OBS_ATTR: &str = "gta_next_observations";

/// Finds `main_data.hdf5` for a Minari folder, its `data/` folder, or the file itself.
fn main_data_path(path: &Path) -> Result<PathBuf> {
    if path.is_file() {
        return Ok(path.to_path_buf());
    }
    for candidate in [
        path.join("data").join("main_data.hdf5"),
        path.join("main_data.hdf5"),
    ] {
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    Err(DataError::MissingKey {
        path: path.to_path_buf(),
        key: "data/main_data.hdf5".to_string(),
        expected: "a Minari dataset folder holding data/main_data.hdf5".to_string(),
    })
}

/// Maps a Minari per-episode key to the D4RL key.
fn to_d4rl_key(key: &str) -> &str {
    match key {
        "terminations" => TERMINALS,
        "truncations" => TIMEOUTS,
        k => k,
    }
}

/// Maps a D4RL per-step key to the Minari key.
fn to_minari_key(key: &str) -> &str {
    match key {
        TERMINALS => "terminations",
        TIMEOUTS => "truncations",
        k => k,
    }
}

/// Parses `episode_{i}` into i.
fn episode_index(name: &str) -> Option<u64> {
    name.strip_prefix("episode_")?.parse().ok()
}

/// Reads a Minari dataset folder into the D4RL view.
pub fn read(path: &Path) -> Result<Dataset> {
    let main = main_data_path(path)?;
    let file = hdf5::open(&main)?;
    let bad = |key: &str, detail: String| DataError::Malformed {
        path: main.clone(),
        key: key.to_string(),
        detail,
    };
    let root = file.root();
    let corrupt = |e: hdf5_pure::Error| bad("/", format!("unreadable group listing: {e}"));
    let next_obs_absent = root
        .attrs()
        .map_err(corrupt)?
        .get(NEXT_OBS_ATTR)
        .and_then(|v| v.as_str().map(|s| s == "absent"))
        .unwrap_or(false);
    let mut episodes: Vec<(u64, String)> = Vec::new();
    let mut out = Dataset::new(path);
    for name in root.groups().map_err(corrupt)? {
        match episode_index(&name) {
            Some(i) => episodes.push((i, name)),
            None => hdf5::read_group(&file, &main, &name, &mut out)?,
        }
    }
    for name in root.datasets().map_err(corrupt)? {
        // Root-level arrays written beside the episodes (scalars and other non-per-step data).
        let a = hdf5::read_array(&file, &main, &name)?;
        out.insert(name, a);
    }
    if episodes.is_empty() {
        return Err(DataError::MissingKey {
            path: main.clone(),
            key: "episode_0".to_string(),
            expected: "at least one episode_{i} group".to_string(),
        });
    }
    episodes.sort();
    let mut merged: std::collections::BTreeMap<String, Array> = Default::default();
    for (_, name) in &episodes {
        let mut ep = Dataset::new(&main);
        hdf5::read_group(&file, &main, name, &mut ep)?;
        let prefix = format!("{name}/");
        let obs_key = format!("{name}/observations");
        let Some(obs) = ep.arrays.remove(&obs_key) else {
            let detail = if ep
                .arrays
                .keys()
                .any(|k| k.starts_with(&format!("{obs_key}/")))
            {
                "observations is a group (a Dict observation space); expected one (T+1, obs_dim) array"
            } else {
                "missing; expected observations of shape (T+1, obs_dim)"
            };
            return Err(bad(&obs_key, detail.to_string()));
        };
        let actions = ep.get(&format!("{name}/actions")).ok_or_else(|| {
            bad(
                &format!("{name}/actions"),
                "missing; expected (T, act_dim)".to_string(),
            )
        })?;
        let steps = actions.rows();
        if obs.shape.len() != 2 || obs.rows() != steps + 1 {
            return Err(bad(
                &obs_key,
                format!(
                    "has shape {:?}, expected ({}, obs_dim): one more row than actions",
                    obs.shape,
                    steps + 1
                ),
            ));
        }
        let w = obs.row_width();
        let mut pieces: Vec<(String, Array)> = vec![(
            OBSERVATIONS.to_string(),
            Array::new(vec![steps, w], obs.data.slice(0..steps * w)),
        )];
        if !next_obs_absent {
            pieces.push((
                NEXT_OBSERVATIONS.to_string(),
                Array::new(vec![steps, w], obs.data.slice(w..(steps + 1) * w)),
            ));
        }
        for (key, a) in ep.arrays {
            let short = key.strip_prefix(&prefix).unwrap_or(&key);
            let a = if a.rows() == steps + 1 && short.starts_with("infos/") && !a.shape.is_empty() {
                let rw = a.row_width();
                let mut shape = a.shape.clone();
                shape[0] = steps;
                Array::new(shape, a.data.slice(0..steps * rw))
            } else {
                a
            };
            if a.shape.is_empty() || a.rows() != steps {
                return Err(bad(
                    &key,
                    format!(
                        "has shape {:?}, expected {steps} rows (total steps)",
                        a.shape
                    ),
                ));
            }
            pieces.push((to_d4rl_key(short).to_string(), a));
        }
        for (key, a) in pieces {
            match merged.get_mut(&key) {
                None => {
                    merged.insert(key, a);
                }
                Some(m) => {
                    if m.shape[1..] != a.shape[1..] || !m.data.extend_from(&a.data) {
                        return Err(bad(
                            &format!("{name}/{key}"),
                            format!(
                                "has dtype {} and shape {:?}, unlike earlier episodes",
                                a.data.dtype_name(),
                                a.shape
                            ),
                        ));
                    }
                    m.shape[0] += a.shape[0];
                }
            }
        }
    }
    out.arrays.extend(merged);
    Ok(out)
}

/// Row ranges of the Minari episodes written for `dataset` (see the module docs for the rule).
pub fn episode_ranges(dataset: &Dataset) -> Result<Vec<std::ops::Range<usize>>> {
    let (n, obs_dim, _) = dataset.check_layout()?;
    let terminals = dataset.flags(TERMINALS)?.unwrap_or_else(|| vec![false; n]);
    let timeouts = dataset.flags(TIMEOUTS)?.unwrap_or_else(|| vec![false; n]);
    let obs = &dataset
        .require(OBSERVATIONS, "an (N, obs_dim) float array")?
        .data;
    let next = dataset.get(NEXT_OBSERVATIONS).map(|a| &a.data);
    let same_bits = |a: &ArrayData, i: usize, b: &ArrayData, j: usize| match (a, b) {
        (ArrayData::F32(x), ArrayData::F32(y)) => x[i].to_bits() == y[j].to_bits(),
        (ArrayData::F64(x), ArrayData::F64(y)) => x[i].to_bits() == y[j].to_bits(),
        _ => false,
    };
    let mut ranges = Vec::new();
    let mut start = 0;
    for i in 0..n {
        let mut end = terminals[i] || timeouts[i] || i + 1 == n;
        if !end && let Some(next) = next {
            end =
                (0..obs_dim).any(|c| !same_bits(next, i * obs_dim + c, obs, (i + 1) * obs_dim + c));
        }
        if end {
            ranges.push(start..i + 1);
            start = i + 1;
        }
    }
    Ok(ranges)
}

/// Writes `dataset` as a Minari folder at `path` (`path/data/main_data.hdf5` and
/// `path/data/metadata.json`), built in a temporary folder beside it and renamed on completion.
pub fn write(dataset: &Dataset, path: &Path, options: &WriteOptions) -> Result<()> {
    let (n, obs_dim, act_dim) = dataset.check_layout()?;
    let ranges = episode_ranges(dataset)?;
    let has_next = dataset.get(NEXT_OBSERVATIONS).is_some();
    let per_step = |key: &str, a: &Array| {
        key != NEXT_OBSERVATIONS
            && !key.starts_with("metadata/")
            && !a.shape.is_empty()
            && a.rows() == n
    };

    let mut fb = FileBuilder::new();
    fb.set_attr(
        NEXT_OBS_ATTR,
        AttrValue::String(if has_next { "present" } else { "absent" }.into()),
    );
    fb.set_attr("total_episodes", AttrValue::I64(ranges.len() as i64));
    fb.set_attr("total_steps", AttrValue::I64(n as i64));
    let extras: Vec<(&str, &Array)> = dataset
        .arrays
        .iter()
        .filter(|(k, a)| !per_step(k, a))
        .map(|(k, a)| (k.as_str(), a))
        .collect();
    hdf5::write_root(
        &mut fb,
        &Node::from_arrays(extras),
        path,
        "",
        options.gzip_level,
    )?;

    for (i, range) in ranges.iter().enumerate() {
        let steps = range.len();
        let mut arrays: Vec<(String, Array)> = Vec::new();
        for (key, a) in dataset.arrays.iter().filter(|(k, a)| per_step(k, a)) {
            let rw = a.row_width();
            let mut shape = a.shape.clone();
            if key == OBSERVATIONS {
                // (T+1, obs_dim): the episode's observations plus its final observation.
                let mut data = a.data.slice(range.start * rw..range.end * rw);
                let last = range.end - 1;
                let final_obs = match dataset.get(NEXT_OBSERVATIONS) {
                    Some(next) => next.data.slice(last * obs_dim..(last + 1) * obs_dim),
                    None => a.data.slice(last * obs_dim..(last + 1) * obs_dim),
                };
                data.extend_from(&final_obs);
                shape[0] = steps + 1;
                arrays.push((key.clone(), Array::new(shape, data)));
            } else {
                shape[0] = steps;
                let data = a.data.slice(range.start * rw..range.end * rw);
                arrays.push((to_minari_key(key).to_string(), Array::new(shape, data)));
            }
        }
        let name = format!("episode_{i}");
        let mut g = fb.create_group(&name);
        g.set_attr("id", AttrValue::I64(i as i64));
        g.set_attr("total_steps", AttrValue::I64(steps as i64));
        let tree = Node::from_arrays(arrays.iter().map(|(k, a)| (k.as_str(), a)));
        hdf5::write_group(&mut g, &tree, path, &name, options.gzip_level)?;
        fb.add_group(g.finish());
    }
    let bytes = fb.finish().map_err(|e| DataError::Malformed {
        path: path.to_path_buf(),
        key: "/".to_string(),
        detail: format!("HDF5 serialization failed: {e}"),
    })?;
    let metadata = metadata_json(dataset, path, ranges.len(), n, obs_dim, act_dim);

    let parent = parent_dir(path);
    let tmp = tempfile::Builder::new()
        .prefix(".gta-tmp-")
        .tempdir_in(&parent)
        .map_err(|e| DataError::io(&parent, "creating a temporary folder in", e))?;
    let data_dir = tmp.path().join("data");
    std::fs::create_dir(&data_dir).map_err(|e| DataError::io(&data_dir, "creating", e))?;
    let main = data_dir.join("main_data.hdf5");
    std::fs::write(&main, &bytes).map_err(|e| DataError::io(&main, "writing", e))?;
    let meta = data_dir.join("metadata.json");
    std::fs::write(&meta, metadata).map_err(|e| DataError::io(&meta, "writing", e))?;
    if path.exists() {
        if !options.overwrite {
            return Err(DataError::OutputExists {
                path: path.to_path_buf(),
            });
        }
        let removed = if path.is_dir() {
            std::fs::remove_dir_all(path)
        } else {
            std::fs::remove_file(path)
        };
        removed.map_err(|e| DataError::io(path, "removing the old output", e))?;
    }
    let kept = tmp.keep();
    std::fs::rename(&kept, path).map_err(|e| {
        let _ = std::fs::remove_dir_all(&kept);
        DataError::io(path, "renaming the temporary folder to", e)
    })
}

/// The `metadata.json` Minari keeps beside `main_data.hdf5` (spaces as JSON strings, §5.1);
/// `minari.load_dataset` 0.5.4 opens the result (checked by hand: see the crate's report).
fn metadata_json(
    dataset: &Dataset,
    path: &Path,
    episodes: usize,
    n: usize,
    obs_dim: usize,
    act_dim: usize,
) -> String {
    let dtype = |key: &str| dataset.get(key).map_or("float32", |a| a.data.dtype_name());
    // Box bounds: the per-column range of the data (minari's deserializer requires low/high, and
    // JSON cannot hold the infinities an unbounded space would need).
    let bounds = |key: &str, dim: usize| {
        let mut low = vec![f64::INFINITY; dim];
        let mut high = vec![f64::NEG_INFINITY; dim];
        if let Some(a) = dataset.get(key) {
            for i in 0..a.data.len() {
                let x = a.data.get_f64(i).unwrap_or(0.0);
                low[i % dim] = low[i % dim].min(x);
                high[i % dim] = high[i % dim].max(x);
            }
        }
        let finite = |v: Vec<f64>| {
            v.into_iter()
                .map(|x| if x.is_finite() { x } else { 0.0 })
                .collect::<Vec<_>>()
        };
        (finite(low), finite(high))
    };
    let space = |key: &str, dim: usize| {
        let (low, high) = bounds(key, dim);
        serde_json::json!({ "type": "Box", "dtype": dtype(key), "shape": [dim], "low": low, "high": high })
            .to_string()
    };
    let id = path.file_name().map_or("gta-dataset".to_string(), |s| {
        s.to_string_lossy().into_owned()
    });
    let meta = serde_json::json!({
        "dataset_id": id,
        "total_episodes": episodes,
        "total_steps": n,
        "data_format": "hdf5",
        "jpeg_encoding": false,
        // The minari release whose on-disk layout this writer follows (minari checks it).
        "minari_version": "0.5.4",
        "observation_space": space(OBSERVATIONS, obs_dim),
        "action_space": space("actions", act_dim),
        "author": "gta",
        "description": "Written by gta data convert from a D4RL-layout dataset.",
    });
    serde_json::to_string_pretty(&meta).unwrap_or_default()
}
