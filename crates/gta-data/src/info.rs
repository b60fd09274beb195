//! Dataset summary and validation (issue 2 item 4; envs-and-data.md §4.4 "Validate"): counts, dims,
//! per-episode returns and the problems found (NaN/Inf by row and column, terminals not at episode
//! ends, next_obs ≠ obs[i+1] inside episodes).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::dataset::{Dataset, NEXT_OBSERVATIONS, OBSERVATIONS, TERMINALS, TIMEOUTS};
use crate::episodes::{EpisodeOptions, split_episodes};
use crate::error::Result;

/// At most this many problems of one kind are listed (the count says how many there were).
const MAX_LISTED: usize = 5;

/// A summary of a dataset, as `gta data info` prints it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DatasetInfo {
    /// The file or folder.
    pub path: String,
    /// Number of rows N.
    pub transitions: usize,
    /// Number of episodes under the split options.
    pub episodes: usize,
    /// Rows after the last episode end (dropped unless `keep_partial`).
    pub trailing_rows: usize,
    /// Observation width.
    pub obs_dim: usize,
    /// Action width.
    pub act_dim: usize,
    /// dtype of `observations`.
    pub dtype: String,
    /// Number of rows with `terminals` set.
    pub terminals: usize,
    /// Number of rows with `timeouts` set (0 when the key is absent).
    pub timeouts: usize,
    /// Whether `next_observations` is present.
    pub has_next_observations: bool,
    /// Smallest undiscounted episode return (0 with no episodes).
    pub return_min: f64,
    /// Mean undiscounted episode return.
    pub return_mean: f64,
    /// Largest undiscounted episode return.
    pub return_max: f64,
    /// Shortest episode, in rows.
    pub episode_len_min: usize,
    /// Longest episode, in rows.
    pub episode_len_max: usize,
    /// Every array: `dtype (shape)`.
    pub arrays: BTreeMap<String, String>,
    /// Problems found; empty for a clean dataset.
    pub problems: Vec<String>,
}

impl DatasetInfo {
    /// Summarizes `dataset`. Structural errors (missing key, mismatched lengths, wrong dims) are
    /// returned as errors; content problems are listed in `problems`.
    pub fn from_dataset(dataset: &Dataset, options: &EpisodeOptions) -> Result<DatasetInfo> {
        let (n, obs_dim, act_dim) = dataset.check_layout()?;
        let terminals = dataset.flags(TERMINALS)?.unwrap_or_default();
        let timeouts = dataset.flags(TIMEOUTS)?;
        let rewards = dataset.rewards_f32()?;
        let episodes = split_episodes(&terminals, timeouts.as_deref(), options);
        let returns: Vec<f64> = episodes
            .iter()
            .map(|e| rewards[e.rows()].iter().map(|&r| r as f64).sum())
            .collect();
        let ended = episodes
            .iter()
            .filter(|e| e.complete)
            .map(|e| e.start + e.len)
            .max()
            .unwrap_or(0);
        let mut problems = Vec::new();
        non_finite_problems(dataset, &mut problems);
        // Terminals that do not end an episode under the split rule (e.g. with `timeouts` splitting).
        let ends: std::collections::HashSet<usize> =
            episodes.iter().map(|e| e.start + e.len - 1).collect();
        let stray: Vec<usize> = (0..n)
            .filter(|&i| terminals[i] && !ends.contains(&i))
            .collect();
        list(&mut problems, "terminal not at an episode end", &stray);
        if let Some(next) = dataset.get(NEXT_OBSERVATIONS) {
            let obs = &dataset.require(OBSERVATIONS, "(N, obs_dim)")?.data;
            let mut mismatched = Vec::new();
            for e in &episodes {
                for i in e.start..e.start + e.len - 1 {
                    let differs = (0..obs_dim).any(|c| {
                        next.data.get_f64(i * obs_dim + c) != obs.get_f64((i + 1) * obs_dim + c)
                    });
                    if differs {
                        mismatched.push(i);
                    }
                }
            }
            list(
                &mut problems,
                "next_observations[i] != observations[i+1] inside an episode",
                &mismatched,
            );
        }
        let count = |v: &[bool]| v.iter().filter(|&&b| b).count();
        let mean = if returns.is_empty() {
            0.0
        } else {
            returns.iter().sum::<f64>() / returns.len() as f64
        };
        Ok(DatasetInfo {
            path: dataset.source.display().to_string(),
            transitions: n,
            episodes: episodes.len(),
            trailing_rows: n - ended,
            obs_dim,
            act_dim,
            dtype: dataset.dtype_name().to_string(),
            terminals: count(&terminals),
            timeouts: timeouts.as_deref().map_or(0, count),
            has_next_observations: dataset.get(NEXT_OBSERVATIONS).is_some(),
            return_min: if returns.is_empty() {
                0.0
            } else {
                returns.iter().copied().fold(f64::INFINITY, f64::min)
            },
            return_mean: mean,
            return_max: if returns.is_empty() {
                0.0
            } else {
                returns.iter().copied().fold(f64::NEG_INFINITY, f64::max)
            },
            episode_len_min: episodes.iter().map(|e| e.len).min().unwrap_or(0),
            episode_len_max: episodes.iter().map(|e| e.len).max().unwrap_or(0),
            arrays: dataset
                .arrays
                .iter()
                .map(|(k, a)| (k.clone(), format!("{} {:?}", a.data.dtype_name(), a.shape)))
                .collect(),
            problems,
        })
    }
}

/// Adds one line per non-finite value (up to [`MAX_LISTED`] per key), naming key, row and column.
fn non_finite_problems(dataset: &Dataset, problems: &mut Vec<String>) {
    for (key, a) in &dataset.arrays {
        let width = a.row_width().max(1);
        let bad: Vec<(usize, f64)> = (0..a.data.len())
            .filter_map(|i| a.data.get_f64(i).filter(|x| !x.is_finite()).map(|x| (i, x)))
            .collect();
        for &(i, x) in bad.iter().take(MAX_LISTED) {
            problems.push(format!(
                "`{key}` holds {x} at row {}, column {}",
                i / width,
                i % width
            ));
        }
        if bad.len() > MAX_LISTED {
            problems.push(format!(
                "`{key}` holds {} non-finite values in all",
                bad.len()
            ));
        }
    }
}

fn list(problems: &mut Vec<String>, what: &str, rows: &[usize]) {
    if rows.is_empty() {
        return;
    }
    let shown: Vec<String> = rows
        .iter()
        .take(MAX_LISTED)
        .map(|r| r.to_string())
        .collect();
    let more = if rows.len() > MAX_LISTED { ", ..." } else { "" };
    problems.push(format!(
        "{what}: {} rows ({}{more})",
        rows.len(),
        shown.join(", ")
    ));
}
