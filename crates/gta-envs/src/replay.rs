//! One-step replay of a recorded dataset (issue 11; envs-and-data.md §6.3, §8): for every row i
//! whose successor i + 1 belongs to the same episode, start the environment from the stored
//! simulator state (`infos/qpos`, `infos/qvel`, and the recorded observation for what they do not
//! hold, e.g. the Adroit door position), apply the recorded action for one env step, and compare
//! with row i + 1. The errors measure how far the native dynamics are from the ones that made the
//! data (for door-human-v0: gymnasium-robotics models on MuJoCo 3.17 against D4RL's MuJoCo 1.5
//! recordings).

use std::ops::Range;

use gta_data::Dataset;
use rayon::prelude::*;
use serde::Serialize;

use crate::env::{Env, make_env_id};
use crate::error::EnvError;
use crate::spec::EnvId;

/// Order statistics of a set of non-negative errors.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Summary {
    /// Number of values.
    pub count: usize,
    /// Arithmetic mean.
    pub mean: f64,
    /// Median (linear interpolation, numpy's default).
    pub median: f64,
    /// 90th percentile (linear interpolation).
    pub p90: f64,
    /// Largest value.
    pub max: f64,
}

impl Summary {
    /// The summary of `values` (all zero when empty).
    pub fn of(values: &[f64]) -> Summary {
        let mut v = values.to_vec();
        v.sort_by(f64::total_cmp);
        let quantile = |q: f64| -> f64 {
            if v.is_empty() {
                return 0.0;
            }
            let pos = q * (v.len() - 1) as f64;
            let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
            v[lo] + (v[hi] - v[lo]) * (pos - lo as f64)
        };
        Summary {
            count: v.len(),
            mean: if v.is_empty() {
                0.0
            } else {
                v.iter().sum::<f64>() / v.len() as f64
            },
            median: quantile(0.5),
            p90: quantile(0.9),
            max: v.last().copied().unwrap_or(0.0),
        }
    }
}

/// What [`replay`] measured.
#[derive(Debug, Clone, Serialize)]
pub struct ReplayReport {
    /// The environment replayed in.
    pub env: String,
    /// Episodes replayed (Adroit: split at `terminals` only, §8; others: terminals or timeouts).
    pub episodes: usize,
    /// Transitions replayed (every row with a successor in its episode).
    pub transitions: usize,
    /// The leading qpos coordinates compared: the actuated arm and hand joints for Adroit (door
    /// 28: forearm slide in m, the rest in rad; pen 24), all of qpos otherwise.
    pub qpos_compared: usize,
    /// Per transition, max over the compared coordinates of |q_sim − q_recorded| after one step.
    pub qpos_error: Summary,
    /// Every compared coordinate of every transition, |q_sim − q_recorded|.
    pub qpos_error_elements: Summary,
    /// Per transition, max over the observation of |obs_sim − obs[i + 1]|.
    pub obs_error: Summary,
    /// Per transition, |r_sim − r_recorded|.
    pub reward_error: Summary,
    /// Per transition, max over the observation of |obs(start state) − obs[i]|: how well the
    /// stored state plus what is recovered from the observation reproduces the recorded
    /// observation before the step.
    pub start_obs_error: Summary,
}

/// The compared qpos coordinates of `id` (see [`ReplayReport::qpos_compared`]).
fn compared_qpos(id: EnvId) -> Range<usize> {
    let nq = id.spec().nq;
    match id {
        EnvId::Door => 0..nq - 2,
        EnvId::Pen => 0..nq - 6,
        _ => 0..nq,
    }
}

/// A row-major f32 matrix of the dataset with the expected width.
fn matrix(
    env: &'static str,
    dataset: &Dataset,
    key: &str,
    width: usize,
) -> Result<Vec<f32>, EnvError> {
    let replay_err = |reason: String| EnvError::Replay { env, reason };
    let (values, got) = dataset
        .f32_matrix(key)
        .map_err(|e| replay_err(format!("{key}: {e}")))?;
    if got != width {
        return Err(replay_err(format!(
            "{key} has {got} columns, the env needs {width}"
        )));
    }
    Ok(values)
}

/// Errors of one episode's transitions.
#[derive(Default)]
struct EpisodeErrors {
    qpos: Vec<f64>,
    qpos_elements: Vec<f64>,
    obs: Vec<f64>,
    reward: Vec<f64>,
    start_obs: Vec<f64>,
}

fn max_abs_diff(a: &[f64], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, &y)| (x - y as f64).abs())
        .fold(0.0, f64::max)
}

/// Replays every transition of `dataset` (at most `max_episodes` episodes, in file order) in the
/// environment `env_id`; the dataset needs `observations`, `actions`, `rewards`, `terminals`,
/// `infos/qpos` and `infos/qvel` (D4RL layout).
pub fn replay(
    env_id: &str,
    dataset: &Dataset,
    max_episodes: Option<usize>,
) -> Result<ReplayReport, EnvError> {
    let id = EnvId::parse(env_id)?;
    let spec = id.spec();
    let name = spec.name;
    let replay_err = |reason: String| EnvError::Replay { env: name, reason };
    let obs = matrix(name, dataset, "observations", spec.obs_dim)?;
    let actions = matrix(name, dataset, "actions", spec.act_dim)?;
    let qpos = matrix(name, dataset, "infos/qpos", spec.nq)?;
    let qvel = matrix(name, dataset, "infos/qvel", spec.nv)?;
    let rewards = dataset
        .rewards_f32()
        .map_err(|e| replay_err(format!("rewards: {e}")))?;
    let n = rewards.len();
    let flags = |key: &str| -> Result<Vec<bool>, EnvError> {
        Ok(dataset
            .flags(key)
            .map_err(|e| replay_err(format!("{key}: {e}")))?
            .unwrap_or_else(|| vec![false; n]))
    };
    let (terminals, timeouts) = (flags("terminals")?, flags("timeouts")?);
    for (key, len) in [
        ("observations", obs.len() / spec.obs_dim),
        ("actions", actions.len() / spec.act_dim),
        ("infos/qpos", qpos.len() / spec.nq),
        ("infos/qvel", qvel.len() / spec.nv),
        ("terminals", terminals.len()),
        ("timeouts", timeouts.len()),
    ] {
        if len != n {
            return Err(replay_err(format!("{key} has {len} rows, rewards {n}")));
        }
    }
    // §8: inside an Adroit demo the 200-step timeout is an artifact; the next row is the next state.
    let ends = |i: usize| terminals[i] || (!id.is_adroit() && timeouts[i]);
    let mut episodes: Vec<Range<usize>> = Vec::new();
    let mut start = 0;
    for i in 0..n {
        if ends(i) || i + 1 == n {
            episodes.push(start..i + 1);
            start = i + 1;
        }
    }
    if let Some(max) = max_episodes {
        episodes.truncate(max);
    }
    if episodes.iter().all(|e| e.len() < 2) {
        return Err(replay_err(
            "no transition to replay (every episode has fewer than two rows)".into(),
        ));
    }
    make_env_id(id)?; // loads the model once, so workers cannot fail on it
    let joints = compared_qpos(id);
    let (od, ad, nq, nv) = (spec.obs_dim, spec.act_dim, spec.nq, spec.nv);
    let row = |v: &[f32], w: usize, i: usize| -> Vec<f64> {
        v[i * w..(i + 1) * w].iter().map(|&x| x as f64).collect()
    };
    let per_episode: Vec<EpisodeErrors> = episodes
        .par_iter()
        .map_init(
            || make_env_id(id),
            |env, rows| -> Result<EpisodeErrors, EnvError> {
                let env: &mut Box<dyn Env> = env.as_mut().map_err(|e| EnvError::ModelLoad {
                    env: name,
                    reason: e.to_string(),
                })?;
                let mut out = EpisodeErrors::default();
                for i in rows.start..rows.end - 1 {
                    let start_obs = env.reset_to_recorded_state(
                        &row(&qpos, nq, i),
                        &row(&qvel, nv, i),
                        &row(&obs, od, i),
                    )?;
                    out.start_obs
                        .push(max_abs_diff(&start_obs, &obs[i * od..(i + 1) * od]));
                    let step = env.step(&row(&actions, ad, i))?;
                    out.obs
                        .push(max_abs_diff(&step.obs, &obs[(i + 1) * od..(i + 2) * od]));
                    out.reward.push((step.reward - rewards[i] as f64).abs());
                    let (q_sim, _) = env.sim_state().ok_or_else(|| {
                        replay_err("the env does not expose its simulator state".into())
                    })?;
                    let q_rec = &qpos[(i + 1) * nq..(i + 2) * nq];
                    let errors: Vec<f64> = joints
                        .clone()
                        .map(|j| (q_sim[j] - q_rec[j] as f64).abs())
                        .collect();
                    out.qpos.push(errors.iter().copied().fold(0.0, f64::max));
                    out.qpos_elements.extend(errors);
                }
                Ok(out)
            },
        )
        .collect::<Result<_, _>>()?;
    let gather = |f: fn(&EpisodeErrors) -> &Vec<f64>| -> Vec<f64> {
        per_episode
            .iter()
            .flat_map(|e| f(e).iter().copied())
            .collect()
    };
    let qpos_err = gather(|e| &e.qpos);
    Ok(ReplayReport {
        env: env_id.to_string(),
        episodes: episodes.len(),
        transitions: qpos_err.len(),
        qpos_compared: joints.len(),
        qpos_error: Summary::of(&qpos_err),
        qpos_error_elements: Summary::of(&gather(|e| &e.qpos_elements)),
        obs_error: Summary::of(&gather(|e| &e.obs)),
        reward_error: Summary::of(&gather(|e| &e.reward)),
        start_obs_error: Summary::of(&gather(|e| &e.start_obs)),
    })
}
