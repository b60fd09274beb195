//! The augmentation loop (method.md §1 stage B, §6): choose source windows, give each a condition,
//! partially noise and denoise them in batches, cut them into transitions and stream them to disk
//! in resumable parts, then assemble the D4RL-layout output file.
//!
//! Chunk k holds generated windows `[k·B, (k+1)·B)`. Its source windows come from one list drawn
//! up front from the seed, and its sampler noise from a seed derived from `(seed, k)`, so a run
//! that is interrupted and resumed writes exactly the file an uninterrupted run writes.

use std::path::{Path, PathBuf};

use gta_data::{Array, ArrayData, Dataset, WindowSampler, WindowSet, WriteOptions};
use serde::{Deserialize, Serialize};

use crate::condition::conditions;
use crate::config::{AugmentConfig, ConditionMode};
use crate::error::AugmentError;
use crate::transitions::{Transitions, split_windows};

/// A batch generator: turns normalized source windows into normalized generated windows.
pub trait WindowGenerator {
    /// `source` (B, T, D) normalized source windows, `cond` (B,) conditions, `seed` for this
    /// batch's noise; `inpaint` = (values, mask), both (B, T, D), for the reward-inpainting mode.
    fn generate(
        &mut self,
        source: &[f32],
        cond: &[f32],
        batch: usize,
        seed: u64,
        inpaint: Option<(&[f32], &[f32])>,
    ) -> Result<Vec<f32>, AugmentError>;
}

/// Where the output and its data came from, recorded in the file's `metadata/*`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Provenance {
    /// sha256 of the source dataset file.
    pub dataset_sha256: String,
    /// sha256 of the model checkpoint (EMA weights) used.
    pub model_sha256: String,
    /// gta's version.
    pub gta_version: String,
}

/// Progress after each chunk.
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    /// Transitions written so far (including resumed parts).
    pub transitions_done: usize,
    /// Transitions requested.
    pub transitions_total: usize,
    /// Whether this chunk was found on disk from an earlier run.
    pub resumed: bool,
}

/// What was generated.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct AugmentReport {
    /// Generated transitions written.
    pub transitions: usize,
    /// Generated windows.
    pub windows: usize,
    /// Original transitions written in front (0 unless `include_original`).
    pub original_transitions: usize,
    /// Mean generated reward (after restoration).
    pub reward_mean_generated: f64,
    /// Mean reward of the source rows the generated transitions came from (penalty removed).
    pub reward_mean_source: f64,
    /// Mean condition of the source windows (c = 0.01·R) and of the conditions used.
    pub cond_mean_source: f64,
    /// Mean condition used for generation.
    pub cond_mean_used: f64,
    /// Generated action entries outside [−1, 1] (before optional clipping).
    pub actions_out_of_range: u64,
    /// Chunks found on disk from an interrupted run.
    pub chunks_resumed: usize,
}

/// The parts folder beside `out`.
pub fn parts_dir(out: &Path) -> PathBuf {
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    out.with_file_name(format!(".{name}.gta-parts"))
}

/// Source window ids for `n` generated windows: passes of the configured sampler, concatenated.
fn source_ids(set: &WindowSet, cfg: &AugmentConfig, n: usize) -> Result<Vec<u32>, AugmentError> {
    let allowed: Option<Vec<bool>> = cfg.min_episode_return.map(|min| {
        // Undiscounted return of each episode = RTG at its first window (t0 = 0).
        let mut ok = vec![false; set.episode_windows.len()];
        for (e, &first) in set.episode_first_window.iter().enumerate() {
            if set.episode_windows[e] > 0 {
                ok[e] = set.rtg_undiscounted[first as usize] as f64 >= min;
            }
        }
        ok
    });
    let mut sampler = WindowSampler::new(set, &cfg.reweighting, cfg.seed)?;
    let mut ids = Vec::with_capacity(n);
    let mut empty_passes = 0;
    while ids.len() < n {
        let pass = sampler.next_pass();
        let before = ids.len();
        ids.extend(pass.into_iter().filter(|&id| {
            allowed
                .as_ref()
                .is_none_or(|ok| ok[set.episode[id as usize] as usize])
        }));
        if ids.len() == before {
            empty_passes += 1;
            if empty_passes > 3 {
                return Err(AugmentError::Config(format!(
                    "min_episode_return = {}: no episode reaches it, so there is no source window",
                    cfg.min_episode_return.unwrap_or_default()
                )));
            }
        }
    }
    ids.truncate(n);
    Ok(ids)
}

/// Per-chunk noise seed (SplitMix64 of seed and chunk index).
fn chunk_seed(seed: u64, chunk: usize) -> u64 {
    gta_diffusion::derive_seed(seed, 0x6175_676d, chunk as u64)
}

/// Runs the augmentation and writes `out` (D4RL-layout HDF5 or npz by extension).
/// `original` is the source dataset, used when `cfg.include_original` is set.
#[allow(clippy::too_many_arguments)]
pub fn augment<G: WindowGenerator>(
    set: &WindowSet,
    generator: &mut G,
    cfg: &AugmentConfig,
    original: Option<&Dataset>,
    provenance: &Provenance,
    out: &Path,
    overwrite: bool,
    progress: &mut dyn FnMut(Progress),
) -> Result<AugmentReport, AugmentError> {
    cfg.validate()?;
    if out.exists() && !overwrite {
        return Err(AugmentError::Exists(out.to_path_buf()));
    }
    let (t, obs, act) = (set.horizon, set.obs_dim, set.act_dim);
    let (d, l) = (set.row_dim(), set.horizon - 1);
    let n_windows = cfg.transitions.div_ceil(l);
    let ids = source_ids(set, cfg, n_windows)?;
    let used_cond = conditions(
        &cfg.condition,
        cfg.alpha,
        &gather(&set.cond, &ids),
        &set.cond,
    );

    let parts = parts_dir(out);
    let manifest = serde_json::json!({
        "config": cfg, "provenance": provenance, "windows": n_windows,
        "horizon": t, "obs_dim": obs, "act_dim": act,
    });
    prepare_parts(&parts, &manifest)?;

    let mut report = AugmentReport {
        windows: n_windows,
        ..Default::default()
    };
    let penalty = (cfg.restore_terminal_reward && cfg.terminal_penalty != 0.0)
        .then_some(cfg.terminal_penalty);
    let mut done = 0usize;
    for (k, chunk) in ids.chunks(cfg.batch_windows).enumerate() {
        let first = k * cfg.batch_windows;
        let part = parts.join(format!("part-{k:06}.npz"));
        let n_here = (chunk.len() * l).min(cfg.transitions - first * l);
        let resumed = part.exists();
        if resumed {
            report.chunks_resumed += 1;
        } else {
            let cond = &used_cond[first..first + chunk.len()];
            let source = set.materialize(chunk);
            let inpaint = (cfg.condition == ConditionMode::RewardInpainting)
                .then(|| inpaint_targets(set, chunk, cfg.alpha));
            let generated = generator.generate(
                &source,
                cond,
                chunk.len(),
                chunk_seed(cfg.seed, k),
                inpaint.as_ref().map(|(v, m)| (v.as_slice(), m.as_slice())),
            )?;
            let mut raw = generated;
            set.normalizer.denormalize(&mut raw);
            check_finite(&raw, first, t, d)?;
            let flags = window_flags(set, chunk);
            let mut tr = split_windows(&raw, t, obs, act, &flags, first as u32, penalty);
            tr.truncate(n_here, obs, act);
            write_part(&part, &tr, chunk, cond, set, obs, act)?;
        }
        done += n_here;
        progress(Progress {
            transitions_done: done,
            transitions_total: cfg.transitions,
            resumed,
        });
    }

    // Assemble: read the parts back in order and write the final file atomically.
    let mut all = Transitions::default();
    let (mut src_ep, mut src_t0, mut src_cond, mut win_cond) = (vec![], vec![], vec![], vec![]);
    for k in 0..ids.chunks(cfg.batch_windows).count() {
        let part = parts.join(format!("part-{k:06}.npz"));
        let ds = gta_data::read(&part, &Default::default())?;
        append_part(
            &ds,
            &mut all,
            &mut src_ep,
            &mut src_t0,
            &mut src_cond,
            &mut win_cond,
        )?;
    }
    finish_report(
        &mut report,
        &all,
        set,
        &ids,
        &used_cond,
        cfg.transitions,
        cfg.terminal_penalty,
    );
    if cfg.clip_actions {
        all.actions.iter_mut().for_each(|a| *a = a.clamp(-1.0, 1.0));
    }
    let mut ds = Dataset::new(out);
    let mut offset = 0;
    if cfg.include_original {
        if let Some(orig) = original {
            offset = insert_original(&mut ds, orig)?;
            report.original_transitions = offset;
        }
    }
    append_columns(&mut ds, &all, obs, act, offset);
    let put = |ds: &mut Dataset, key: &str, data: ArrayData, n: usize| {
        ds.insert(key, Array::new(vec![n], data))
    };
    let nw = src_ep.len();
    put(
        &mut ds,
        "windows/source_episode",
        ArrayData::U32(src_ep),
        nw,
    );
    put(&mut ds, "windows/source_t0", ArrayData::U32(src_t0), nw);
    put(
        &mut ds,
        "windows/source_condition",
        ArrayData::F32(src_cond),
        nw,
    );
    put(&mut ds, "windows/condition", ArrayData::F32(win_cond), nw);
    let config_toml = toml::to_string(cfg).map_err(|e| AugmentError::Config(e.to_string()))?;
    let meta = [
        ("metadata/algorithm", "GTA".to_string()),
        ("metadata/config", config_toml),
        ("metadata/dataset_sha256", provenance.dataset_sha256.clone()),
        ("metadata/model_sha256", provenance.model_sha256.clone()),
        ("metadata/gta_version", provenance.gta_version.clone()),
        // The recorded report leaves out how many chunks were resumed, so that a resumed run
        // writes the same file as an uninterrupted one.
        (
            "metadata/report",
            serde_json::to_string(&AugmentReport {
                chunks_resumed: 0,
                ..report.clone()
            })
            .unwrap_or_default(),
        ),
    ];
    for (k, v) in meta {
        put(&mut ds, k, ArrayData::Str(vec![v]), 1);
    }
    put(&mut ds, "metadata/seed", ArrayData::U64(vec![cfg.seed]), 1);
    put(
        &mut ds,
        "metadata/restore_terminal_reward",
        ArrayData::Bool(vec![penalty.is_some()]),
        1,
    );
    gta_data::write(
        &ds,
        out,
        &WriteOptions {
            overwrite,
            ..Default::default()
        },
    )?;
    std::fs::remove_dir_all(&parts).map_err(|e| AugmentError::Io(parts.clone(), e.to_string()))?;
    Ok(report)
}

fn gather(v: &[f32], ids: &[u32]) -> Vec<f32> {
    ids.iter().map(|&i| v[i as usize]).collect()
}

/// The copied terminal flags (B, T−1) of the source windows.
fn window_flags(set: &WindowSet, ids: &[u32]) -> Vec<bool> {
    let l = set.horizon - 1;
    let mut f = Vec::with_capacity(ids.len() * l);
    for &id in ids {
        let s = set.starts[id as usize] as usize;
        f.extend_from_slice(&set.row_terminals[s..s + l]);
    }
    f
}

/// Reward-inpainting targets: normalize(α·r_src) in the reward column of rows 0…T−2 (method.md §11).
fn inpaint_targets(set: &WindowSet, ids: &[u32], alpha: f64) -> (Vec<f32>, Vec<f32>) {
    let (t, d) = (set.horizon, set.row_dim());
    let rc = d - 1;
    let mut raw = Vec::with_capacity(ids.len() * t * d);
    for &id in ids {
        set.window_raw_into(id as usize, &mut raw);
    }
    let mut mask = vec![0.0f32; raw.len()];
    for w in 0..ids.len() {
        for r in 0..t - 1 {
            let i = (w * t + r) * d + rc;
            raw[i] *= alpha as f32;
            mask[i] = 1.0;
        }
    }
    set.normalizer.normalize(&mut raw);
    (raw, mask)
}

/// Generated values must be finite (reference-code-notes.md §13): name the window and column.
fn check_finite(raw: &[f32], first_window: usize, t: usize, d: usize) -> Result<(), AugmentError> {
    match raw.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(i) => Err(AugmentError::NonFinite {
            window: first_window + i / (t * d),
            row: (i / d) % t,
            column: i % d,
        }),
    }
}

fn prepare_parts(parts: &Path, manifest: &serde_json::Value) -> Result<(), AugmentError> {
    let io = |e: std::io::Error| AugmentError::Io(parts.to_path_buf(), e.to_string());
    let path = parts.join("manifest.json");
    let text = serde_json::to_string_pretty(manifest).unwrap_or_default();
    if path.exists() {
        let old = std::fs::read_to_string(&path).map_err(io)?;
        if old != text {
            return Err(AugmentError::Config(format!(
                "{} holds parts of a different augmentation (other config, model or data); \
                 delete that folder to start over",
                parts.display()
            )));
        }
        return Ok(());
    }
    std::fs::create_dir_all(parts).map_err(io)?;
    std::fs::write(&path, text).map_err(io)
}

fn write_part(
    part: &Path,
    tr: &Transitions,
    ids: &[u32],
    cond: &[f32],
    set: &WindowSet,
    obs: usize,
    act: usize,
) -> Result<(), AugmentError> {
    let mut ds = Dataset::new(part);
    append_columns(&mut ds, tr, obs, act, 0);
    let nw = ids.len();
    let ep: Vec<u32> = ids.iter().map(|&i| set.episode[i as usize]).collect();
    let t0: Vec<u32> = ids.iter().map(|&i| set.t0[i as usize]).collect();
    ds.insert(
        "windows/source_episode",
        Array::new(vec![nw], ArrayData::U32(ep)),
    );
    ds.insert(
        "windows/source_t0",
        Array::new(vec![nw], ArrayData::U32(t0)),
    );
    ds.insert(
        "windows/source_condition",
        Array::new(vec![nw], ArrayData::F32(gather(&set.cond, ids))),
    );
    ds.insert(
        "windows/condition",
        Array::new(vec![nw], ArrayData::F32(cond.to_vec())),
    );
    Ok(gta_data::write(&ds, part, &WriteOptions::default())?)
}

pub(crate) fn append_columns(
    ds: &mut Dataset,
    tr: &Transitions,
    obs: usize,
    act: usize,
    offset: usize,
) {
    let n = tr.len();
    let mut cat_f = |key: &str, v: &[f32], w: usize| {
        let mut data = match ds.arrays.remove(key).map(|a| a.data) {
            Some(ArrayData::F32(x)) => x,
            _ => Vec::new(),
        };
        data.extend_from_slice(v);
        let rows = data.len() / w.max(1);
        let shape = if w == 0 { vec![rows] } else { vec![rows, w] };
        ds.insert(key, Array::new(shape, ArrayData::F32(data)));
    };
    cat_f("observations", &tr.observations, obs);
    cat_f("actions", &tr.actions, act);
    cat_f("next_observations", &tr.next_observations, obs);
    cat_f("rewards", &tr.rewards, 0);
    let mut cat_b = |key: &str, v: &[bool]| {
        let mut data = match ds.arrays.remove(key).map(|a| a.data) {
            Some(ArrayData::Bool(x)) => x,
            _ => Vec::new(),
        };
        data.extend_from_slice(v);
        let rows = data.len();
        ds.insert(key, Array::new(vec![rows], ArrayData::Bool(data)));
    };
    cat_b("terminals", &tr.terminals);
    cat_b("timeouts", &vec![false; n]);
    let mut cat_u = |key: &str, v: &[u32], pad: usize| {
        let mut data = match ds.arrays.remove(key).map(|a| a.data) {
            Some(ArrayData::U32(x)) => x,
            _ => vec![u32::MAX; pad],
        };
        data.extend_from_slice(v);
        let rows = data.len();
        ds.insert(key, Array::new(vec![rows], ArrayData::U32(data)));
    };
    // Original rows (if any, in front) get u32::MAX: "not generated".
    cat_u("window_id", &tr.window_id, offset);
    cat_u("step_in_window", &tr.step_in_window, offset);
}

fn append_part(
    ds: &Dataset,
    all: &mut Transitions,
    ep: &mut Vec<u32>,
    t0: &mut Vec<u32>,
    src_cond: &mut Vec<f32>,
    cond: &mut Vec<f32>,
) -> Result<(), AugmentError> {
    let f = |k: &str| -> Result<Vec<f32>, AugmentError> { Ok(ds.f32_matrix(k)?.0) };
    let u = |k: &str| -> Result<Vec<u32>, AugmentError> {
        match ds.require(k, "a uint32 array")?.data.clone() {
            ArrayData::U32(v) => Ok(v),
            _ => Err(AugmentError::Config(format!(
                "{}: {k} is not uint32",
                ds.source.display()
            ))),
        }
    };
    all.observations.extend(f("observations")?);
    all.actions.extend(f("actions")?);
    all.next_observations.extend(f("next_observations")?);
    all.rewards.extend(ds.rewards_f32()?);
    all.terminals
        .extend(ds.flags("terminals")?.unwrap_or_default());
    all.window_id.extend(u("window_id")?);
    all.step_in_window.extend(u("step_in_window")?);
    ep.extend(u("windows/source_episode")?);
    t0.extend(u("windows/source_t0")?);
    src_cond.extend(f("windows/source_condition")?);
    cond.extend(f("windows/condition")?);
    Ok(())
}

/// Original transitions in the D4RL q-learning layout, in front of the generated ones.
pub(crate) fn insert_original(ds: &mut Dataset, orig: &Dataset) -> Result<usize, AugmentError> {
    let q = gta_data::qlearning(orig, true)?;
    let n = q.rewards.len();
    let (obs, act) = (q.observations.len() / n.max(1), q.actions.len() / n.max(1));
    let tr = Transitions {
        observations: q.observations,
        actions: q.actions,
        rewards: q.rewards,
        next_observations: q.next_observations,
        terminals: q.dones,
        window_id: vec![],
        step_in_window: vec![],
    };
    append_columns(ds, &tr, obs, act, 0);
    // window ids of original rows are filled with u32::MAX by the next append.
    ds.arrays.remove("window_id");
    ds.arrays.remove("step_in_window");
    Ok(n)
}

/// Summary statistics. `penalty` is the P the windows were built with: source rewards at terminal
/// rows are reported with it added back, i.e. as stored in the dataset.
#[allow(clippy::too_many_arguments)]
fn finish_report(
    r: &mut AugmentReport,
    all: &Transitions,
    set: &WindowSet,
    ids: &[u32],
    used: &[f32],
    n: usize,
    penalty: f32,
) {
    r.transitions = all.len();
    let mean = |v: &mut dyn Iterator<Item = f64>, k: usize| v.sum::<f64>() / k.max(1) as f64;
    r.reward_mean_generated = mean(&mut all.rewards.iter().map(|&x| x as f64), all.len());
    r.actions_out_of_range = all.actions.iter().filter(|a| a.abs() > 1.0).count() as u64;
    let (d, l) = (set.row_dim(), set.horizon - 1);
    let mut src = 0.0;
    let k = n.min(ids.len() * l);
    for i in 0..k {
        let row = set.starts[ids[i / l] as usize] as usize + i % l;
        let mut rw = set.rows[row * d + d - 1] as f64;
        if set.row_terminals[row] {
            rw += penalty as f64;
        }
        src += rw;
    }
    r.reward_mean_source = src / k.max(1) as f64;
    r.cond_mean_source = mean(
        &mut ids.iter().map(|&i| set.cond[i as usize] as f64),
        ids.len(),
    );
    r.cond_mean_used = mean(&mut used.iter().map(|&c| c as f64), used.len());
}
