//! D4RL-style dataset recipes from committed SAC behaviour policies (`gta data make
//! {halfcheetah,hopper,walker2d}-{medium,medium-replay,expert,medium-expert}`;
//! envs-and-data.md §4.3).
//!
//! - `medium`, `expert`: episodes of the stochastic policy (tanh-Gaussian samples, not means)
//!   until `transitions` rows; episode e resets with seed `seed + e` and draws its action noise
//!   from `gta_envs::policy_rng(seed + e)`. Episodes are independent, so they run in parallel
//!   and are appended in order: the bytes do not depend on the thread count.
//! - `medium-replay`: the training run's exploration up to the medium point, replayed from the
//!   saved snapshots: uniform actions for the first `random_steps` env steps, then each snapshot
//!   acts (stochastically) from its `env_step` until the next one's, episodes running across
//!   snapshot changes as they did in training. This reproduces the buffer's policy mixture, not
//!   its exact transitions (the actor moved after every update; a snapshot stands for the
//!   `snapshot_every` steps after it). Stored as float64 like D4RL's replay files.
//! - `medium-expert`: medium up to its last episode end, then all of expert, at most 2,000,000
//!   rows (D4RL's stitching rule).
//!
//! Rows follow D4RL: an episode ending at the 1000-step limit is a timeout, a true termination
//! a terminal; the trailing episode cut by `transitions` is left unflagged, so loaders drop it.
//! `infos/qpos`, `infos/qvel` hold the simulator state before the step, read from the env
//! (`Env::sim_state`), so they are exact, including velocities beyond the ±10 that hopper's and
//! walker2d's observations clip. Each episode starts from its seeded reset state moved to x = 0
//! (dynamics and rewards do not depend on x).

use std::path::{Path, PathBuf};

use gta_data::{Array, ArrayData, Dataset};
use gta_envs::{EnvId, make_env_id, policy_rng};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use sha2::{Digest, Sha256};

use crate::agent::HostMlp;
use crate::derive_seed;
use crate::error::RlError;
use crate::online::policy::{BehaviourPolicy, sample_action, uniform_action};

/// The D4RL medium-expert cap.
pub const MEDIUM_EXPERT_MAX_ROWS: usize = 2_000_000;

/// Random stream of the uniform actions of medium-replay's first steps.
const STREAM_REPLAY_UNIFORM: u64 = 21;

/// A SAC-based dataset level.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// The policy stopped near D4RL's medium return.
    Medium,
    /// The training run's exploration up to the medium point.
    MediumReplay,
    /// The best policy of the run.
    Expert,
    /// Medium then expert.
    MediumExpert,
}

impl Level {
    /// The id suffix.
    pub fn name(self) -> &'static str {
        match self {
            Level::Medium => "medium",
            Level::MediumReplay => "medium-replay",
            Level::Expert => "expert",
            Level::MediumExpert => "medium-expert",
        }
    }
}

/// `hopper-medium` → (Hopper, Medium); `None` for ids that are not SAC recipes.
pub fn parse_recipe(id: &str) -> Option<(EnvId, Level)> {
    let id = id.trim().to_ascii_lowercase();
    let id = id.strip_suffix("-v2").unwrap_or(&id);
    for (suffix, level) in [
        ("-medium-replay", Level::MediumReplay),
        ("-medium-expert", Level::MediumExpert),
        ("-medium", Level::Medium),
        ("-expert", Level::Expert),
    ] {
        if let Some(env) = id.strip_suffix(suffix) {
            let env = EnvId::parse(env).ok()?;
            return matches!(env, EnvId::HalfCheetah | EnvId::Hopper | EnvId::Walker2d)
                .then_some((env, level));
        }
    }
    None
}

/// The file name of a behaviour policy: `hopper-medium.policy`.
pub fn policy_file_name(env: EnvId, level: Level) -> String {
    format!("{}-{}.policy", env.name(), level.name())
}

/// The policy files a recipe reads.
pub fn policy_files(env: EnvId, level: Level) -> Vec<String> {
    match level {
        Level::MediumExpert => vec![
            policy_file_name(env, Level::Medium),
            policy_file_name(env, Level::Expert),
        ],
        l => vec![policy_file_name(env, l)],
    }
}

/// Reads a policy file of `dir`, or explains how to make it.
pub fn read_policy(
    dir: &Path,
    file: &str,
    env: EnvId,
) -> Result<(BehaviourPolicy, Vec<u8>), RlError> {
    let path = dir.join(file);
    let bytes = std::fs::read(&path).map_err(|e| RlError::Policy {
        path: path.clone(),
        what: format!(
            "{e}. Make it with `gta sac train --env {env} --out runs/sac-{env}` and then \
             `gta sac export runs/sac-{env} --out {}` (see docs/datasets.md), or pass \
             --policies DIR",
            dir.display(),
            env = env.name()
        ),
    })?;
    let policy = BehaviourPolicy::from_bytes(&bytes, &path)?;
    let spec = env.spec();
    if policy.header.env != env.name()
        || policy.obs_dim() != spec.obs_dim
        || policy.act_dim() != spec.act_dim
    {
        return Err(RlError::Policy {
            path,
            what: format!(
                "a policy for {} (obs {}, act {}), expected {} (obs {}, act {})",
                policy.header.env,
                policy.obs_dim(),
                policy.act_dim(),
                env.name(),
                spec.obs_dim,
                spec.act_dim
            ),
        });
    }
    Ok((policy, bytes))
}

/// The recipe hash: SHA-256 over the recipe id, seed, transitions, gta version and every
/// policy file's bytes (hex).
pub fn recipe_hash(id: &str, seed: u64, transitions: usize, policies: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    h.update(id.as_bytes());
    h.update([0u8]);
    h.update(seed.to_le_bytes());
    h.update((transitions as u64).to_le_bytes());
    h.update(env!("CARGO_PKG_VERSION").as_bytes());
    h.update([0u8]);
    for p in policies {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Rows of one or more episodes.
#[derive(Default)]
struct Rows {
    obs: Vec<f64>,
    next: Vec<f64>,
    act: Vec<f32>,
    rew: Vec<f32>,
    term: Vec<bool>,
    tout: Vec<bool>,
    logp: Vec<f32>,
    qpos: Vec<f64>,
    qvel: Vec<f64>,
}

impl Rows {
    fn len(&self) -> usize {
        self.rew.len()
    }

    fn append(&mut self, o: Rows, take: usize, od: usize, ad: usize, nq: usize, nv: usize) {
        self.obs.extend_from_slice(&o.obs[..take * od]);
        self.next.extend_from_slice(&o.next[..take * od]);
        self.act.extend_from_slice(&o.act[..take * ad]);
        self.rew.extend_from_slice(&o.rew[..take]);
        self.term.extend_from_slice(&o.term[..take]);
        self.tout.extend_from_slice(&o.tout[..take]);
        self.logp.extend_from_slice(&o.logp[..take]);
        self.qpos.extend_from_slice(&o.qpos[..take * nq]);
        self.qvel.extend_from_slice(&o.qvel[..take * nv]);
    }
}

/// An episode driver recording D4RL rows.
struct Episode {
    env: Box<dyn gta_envs::Env>,
    id: EnvId,
    obs: Vec<f64>,
    len: usize,
}

impl Episode {
    fn start(id: EnvId, seed: u64) -> Result<Self, RlError> {
        let mut env = make_env_id(id)?;
        let nq = env.spec().nq;
        let obs0 = env.reset(seed);
        let mut qpos = vec![0.0];
        qpos.extend_from_slice(&obs0[..nq - 1]);
        let obs = env.reset_to_state(&qpos, &obs0[nq - 1..])?;
        Ok(Self {
            env,
            id,
            obs,
            len: 0,
        })
    }

    fn restart(&mut self, seed: u64) -> Result<(), RlError> {
        *self = Self::start(self.id, seed)?;
        Ok(())
    }

    /// Steps with `action`, records the row; returns whether the episode ended.
    fn step(&mut self, action: &[f32], log_prob: f64, rows: &mut Rows) -> Result<bool, RlError> {
        let spec = self.env.spec().clone();
        let (qpos, qvel) = self.env.sim_state().ok_or_else(|| RlError::Config {
            key: "env",
            expected: format!("{}: an env that exposes its simulator state", spec.name),
        })?;
        rows.qpos.extend_from_slice(&qpos);
        rows.qvel.extend_from_slice(&qvel);
        let a: Vec<f64> = action.iter().map(|&v| v as f64).collect();
        let step = self.env.step(&a)?;
        self.len += 1;
        rows.obs.extend_from_slice(&self.obs);
        rows.next.extend_from_slice(&step.obs);
        rows.act.extend_from_slice(action);
        rows.rew.push(step.reward as f32);
        rows.logp.push(log_prob as f32);
        let timeout = self.len >= spec.max_episode_steps;
        // D4RL: an episode that ends exactly at the time limit is a timeout, not a terminal.
        rows.term.push(step.terminal && !timeout);
        rows.tout.push(timeout);
        self.obs = step.obs;
        Ok(step.terminal || timeout)
    }
}

fn policy_act(
    actor: &HostMlp,
    p: &BehaviourPolicy,
    obs: &[f64],
    rng: &mut ChaCha8Rng,
) -> (Vec<f32>, f64) {
    let x: Vec<f32> = obs.iter().map(|&v| v as f32).collect();
    let out = actor.forward(&x, 1);
    sample_action(
        &out,
        p.act_dim(),
        p.header.log_std_min,
        p.header.log_std_max,
        rng,
    )
}

/// Episodes of the first snapshot of `policy` until `transitions` rows (module docs).
pub fn rollout(
    id: EnvId,
    policy: &BehaviourPolicy,
    transitions: usize,
    seed: u64,
) -> Result<Dataset, RlError> {
    let spec = id.spec();
    let (od, ad, nq, nv) = (spec.obs_dim, spec.act_dim, spec.nq, spec.nv);
    let actor = &policy.actors[0];
    let run = |e: u64| -> Result<Rows, RlError> {
        let s = seed.wrapping_add(e);
        let mut ep = Episode::start(id, s)?;
        let mut rng = policy_rng(s);
        let mut rows = Rows::default();
        loop {
            let (a, lp) = policy_act(actor, policy, &ep.obs, &mut rng);
            if ep.step(&a, lp, &mut rows)? || rows.len() >= transitions {
                return Ok(rows);
            }
        }
    };
    let mut all = Rows::default();
    let mut next_episode = 0u64;
    let chunk = (rayon::current_num_threads() * 2) as u64;
    while all.len() < transitions {
        let eps: Vec<Rows> = (next_episode..next_episode + chunk)
            .into_par_iter()
            .map(run)
            .collect::<Result<_, _>>()?;
        next_episode += chunk;
        for rows in eps {
            let take = rows.len().min(transitions - all.len());
            all.append(rows, take, od, ad, nq, nv);
            if all.len() >= transitions {
                break;
            }
        }
    }
    Ok(to_dataset(id, all, false))
}

/// The training run's exploration up to `policy.header.end_step`, at most `transitions` rows
/// (module docs).
pub fn replay(
    id: EnvId,
    policy: &BehaviourPolicy,
    transitions: usize,
    seed: u64,
) -> Result<Dataset, RlError> {
    let h = &policy.header;
    let total = (h.end_step as usize).min(transitions);
    let ad = id.spec().act_dim;
    let mut rows = Rows::default();
    let mut episode = 0u64;
    let mut ep = Episode::start(id, seed)?;
    let mut rng = policy_rng(seed);
    for t in 0..total as u64 {
        let (a, lp) = if t < h.random_steps {
            let mut r = ChaCha8Rng::seed_from_u64(derive_seed(seed, STREAM_REPLAY_UNIFORM, t));
            // Uniform on [−1, 1)^A: density 2^−A.
            (
                uniform_action(ad, &mut r),
                -(ad as f64) * std::f64::consts::LN_2,
            )
        } else {
            let k = h
                .snapshots
                .iter()
                .rposition(|s| s.env_step <= t)
                .unwrap_or(0);
            policy_act(&policy.actors[k], policy, &ep.obs, &mut rng)
        };
        if ep.step(&a, lp, &mut rows)? && t + 1 < total as u64 {
            episode += 1;
            ep.restart(seed.wrapping_add(episode))?;
            rng = policy_rng(seed.wrapping_add(episode));
        }
    }
    Ok(to_dataset(id, rows, true))
}

/// D4RL's medium-expert: `medium` up to its last episode end, then `expert`, at most
/// [`MEDIUM_EXPERT_MAX_ROWS`] rows. Keeps the row-wise arrays (observations, actions, …,
/// infos/*) and drops metadata.
pub fn stitch(medium: &Dataset, expert: &Dataset) -> Result<Dataset, RlError> {
    let n_med = medium.len()?;
    let term = medium.flags("terminals")?.unwrap_or_default();
    let tout = medium.flags("timeouts")?.unwrap_or_default();
    let keep = (0..n_med)
        .rev()
        .find(|&i| term.get(i).copied().unwrap_or(false) || tout.get(i).copied().unwrap_or(false))
        .map_or(0, |i| i + 1);
    let n_exp = expert
        .len()?
        .min(MEDIUM_EXPERT_MAX_ROWS.saturating_sub(keep));
    let mut out = Dataset::new("medium-expert");
    for (key, a) in &medium.arrays {
        if key.starts_with("metadata/") {
            continue;
        }
        let Some(b) = expert.get(key) else { continue };
        let (wa, wb) = (a.row_width(), b.row_width());
        let mut data = a.data.slice(0..keep * wa);
        let ok = data.extend_from(&b.data.slice(0..n_exp * wb));
        if !ok || wa != wb {
            return Err(RlError::Shape {
                what: format!("medium-expert: {key} width/dtype of expert"),
                expected: wa,
                got: wb,
            });
        }
        let mut shape = a.shape.clone();
        shape[0] = keep + n_exp;
        out.insert(key.clone(), Array::new(shape, data));
    }
    Ok(out)
}

fn to_dataset(id: EnvId, r: Rows, f64_data: bool) -> Dataset {
    let spec = id.spec();
    let n = r.len();
    let (od, ad) = (spec.obs_dim, spec.act_dim);
    let mut ds = Dataset::new(format!("{}-sac", id.name()));
    let float = |v: Vec<f64>| {
        if f64_data {
            ArrayData::F64(v)
        } else {
            ArrayData::F32(v.into_iter().map(|x| x as f32).collect())
        }
    };
    ds.insert("observations", Array::new(vec![n, od], float(r.obs)));
    ds.insert("next_observations", Array::new(vec![n, od], float(r.next)));
    let act = if f64_data {
        ArrayData::F64(r.act.iter().map(|&v| v as f64).collect())
    } else {
        ArrayData::F32(r.act)
    };
    ds.insert("actions", Array::new(vec![n, ad], act));
    ds.insert("rewards", Array::new(vec![n], ArrayData::F32(r.rew)));
    ds.insert("terminals", Array::new(vec![n], ArrayData::Bool(r.term)));
    ds.insert("timeouts", Array::new(vec![n], ArrayData::Bool(r.tout)));
    let f32s = |v: Vec<f64>| ArrayData::F32(v.into_iter().map(|x| x as f32).collect());
    ds.insert("infos/qpos", Array::new(vec![n, spec.nq], f32s(r.qpos)));
    ds.insert("infos/qvel", Array::new(vec![n, spec.nv], f32s(r.qvel)));
    ds.insert(
        "infos/action_log_probs",
        Array::new(vec![n], ArrayData::F32(r.logp)),
    );
    ds
}

/// Adds D4RL's `metadata/policy/*` (the actor in PyTorch `[out, in]` layout: fc0, fc1, …,
/// last_fc (mean), last_fc_log_std) and `metadata/algorithm`, `metadata/iteration`.
fn add_policy_metadata(ds: &mut Dataset, policy: &BehaviourPolicy) {
    let actor = &policy.actors[0];
    let a = policy.act_dim();
    let transpose = |w: &[f32], d_in: usize, d_out: usize, cols: std::ops::Range<usize>| {
        let mut t = Vec::with_capacity(cols.len() * d_in);
        for o in cols {
            for i in 0..d_in {
                t.push(w[i * d_out + o]);
            }
        }
        t
    };
    let last = actor.layers.len() - 1;
    for (k, (w, b)) in actor.layers.iter().enumerate() {
        let (d_in, d_out) = (actor.sizes[k], actor.sizes[k + 1]);
        let mut put = |name: &str, cols: std::ops::Range<usize>| {
            let rows = cols.len();
            ds.insert(
                format!("metadata/policy/{name}/weight"),
                Array::new(
                    vec![rows, d_in],
                    ArrayData::F32(transpose(w, d_in, d_out, cols.clone())),
                ),
            );
            ds.insert(
                format!("metadata/policy/{name}/bias"),
                Array::new(vec![rows], ArrayData::F32(b[cols].to_vec())),
            );
        };
        if k < last {
            put(&format!("fc{k}"), 0..d_out);
        } else {
            put("last_fc", 0..a);
            put("last_fc_log_std", a..2 * a);
        }
    }
    let s = |v: &str| ArrayData::Str(vec![v.to_string()]);
    ds.insert(
        "metadata/policy/nonlinearity",
        Array::new(vec![], s("relu")),
    );
    ds.insert(
        "metadata/policy/output_distribution",
        Array::new(vec![], s("tanh_gaussian")),
    );
    ds.insert("metadata/algorithm", Array::new(vec![], s("SAC")));
    ds.insert(
        "metadata/iteration",
        Array::new(
            vec![],
            ArrayData::I32(vec![policy.header.snapshots[0].env_step as i32]),
        ),
    );
}

/// What `make` produced.
#[derive(Clone, Debug)]
pub struct RecipeOutput {
    /// The dataset.
    pub dataset: Dataset,
    /// The recipe hash.
    pub hash: String,
    /// The policy files read.
    pub policy_files: Vec<PathBuf>,
}

/// Makes the dataset of recipe `id` from the policies in `dir` (see the module docs).
pub fn make(id: &str, dir: &Path, transitions: usize, seed: u64) -> Result<RecipeOutput, RlError> {
    let (env, level) = parse_recipe(id).ok_or_else(|| RlError::Config {
        key: "dataset id",
        expected: format!(
            "{{halfcheetah,hopper,walker2d}}-{{medium,medium-replay,expert,medium-expert}}, got {id}"
        ),
    })?;
    let files = policy_files(env, level);
    let mut loaded = Vec::new();
    for f in &files {
        loaded.push(read_policy(dir, f, env)?);
    }
    let canonical = format!("{}-{}", env.name(), level.name());
    let bytes: Vec<&[u8]> = loaded.iter().map(|(_, b)| b.as_slice()).collect();
    let hash = recipe_hash(&canonical, seed, transitions, &bytes);
    let mut ds = match level {
        Level::Medium | Level::Expert => {
            let mut ds = rollout(env, &loaded[0].0, transitions, seed)?;
            add_policy_metadata(&mut ds, &loaded[0].0);
            ds
        }
        Level::MediumReplay => {
            let mut ds = replay(env, &loaded[0].0, transitions, seed)?;
            let s = |v: &str| ArrayData::Str(vec![v.to_string()]);
            ds.insert("metadata/algorithm", Array::new(vec![], s("SAC")));
            ds.insert(
                "metadata/iteration",
                Array::new(
                    vec![],
                    ArrayData::I32(vec![loaded[0].0.header.end_step as i32]),
                ),
            );
            ds
        }
        Level::MediumExpert => {
            let med = rollout(env, &loaded[0].0, transitions, seed)?;
            let exp = rollout(env, &loaded[1].0, transitions, seed.wrapping_add(1 << 32))?;
            stitch(&med, &exp)?
        }
    };
    let s = |v: &str| ArrayData::Str(vec![v.to_string()]);
    ds.source = PathBuf::from(&canonical);
    ds.insert("metadata/gta_recipe", Array::new(vec![], s(&canonical)));
    ds.insert("metadata/gta_recipe_hash", Array::new(vec![], s(&hash)));
    ds.insert(
        "metadata/gta_version",
        Array::new(vec![], s(env!("CARGO_PKG_VERSION"))),
    );
    ds.insert(
        "metadata/gta_seed",
        Array::new(vec![], ArrayData::U64(vec![seed])),
    );
    Ok(RecipeOutput {
        dataset: ds,
        hash,
        policy_files: files.iter().map(|f| dir.join(f)).collect(),
    })
}
