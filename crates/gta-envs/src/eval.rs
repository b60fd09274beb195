//! Policy evaluation: roll a policy out for N seeded episodes in parallel and report returns,
//! lengths and D4RL normalized scores ×100 (envs-and-data.md §3; GTA reports the mean over 10
//! episodes for locomotion, 100 for the other families).

use rand::SeedableRng;
use rayon::prelude::*;
use serde::Serialize;

use crate::env::{Env, make_env_id};
use crate::error::EnvError;
use crate::policy::{Policy, PolicyRng};
use crate::spec::EnvId;

/// Per-episode results and their summary.
#[derive(Debug, Clone, Serialize)]
pub struct EvalResult {
    /// The env or dataset id evaluated (its score constants were used).
    pub env: String,
    /// Reset seed of each episode.
    pub seeds: Vec<u64>,
    /// Undiscounted return of each episode.
    pub returns: Vec<f64>,
    /// Steps of each episode (until terminal or the time limit).
    pub lengths: Vec<usize>,
    /// D4RL normalized score ×100 of each episode.
    pub normalized_scores: Vec<f64>,
    /// Mean return.
    pub return_mean: f64,
    /// Population standard deviation of the returns (numpy's default).
    pub return_std: f64,
    /// Mean normalized score.
    pub normalized_score: f64,
    /// Population standard deviation of the normalized scores.
    pub normalized_score_std: f64,
}

/// The reset seeds of `episodes` episodes starting from `seed`: seed, seed+1, ….
pub fn episode_seeds(seed: u64, episodes: usize) -> Vec<u64> {
    (0..episodes as u64).map(|i| seed.wrapping_add(i)).collect()
}

/// Evaluates `policy` on `env_id` (name or dataset id) for `episodes` episodes with reset seeds
/// `seed, seed+1, …`.
pub fn evaluate(
    env_id: &str,
    policy: &dyn Policy,
    episodes: usize,
    seed: u64,
) -> Result<EvalResult, EnvError> {
    evaluate_seeds(env_id, policy, &episode_seeds(seed, episodes))
}

/// Evaluates one episode per seed. Episodes are split into one chunk per rayon thread; a chunk
/// steps its episodes in lockstep with one batched policy call per step. Each episode's result
/// depends only on its seed.
pub fn evaluate_seeds(
    env_id: &str,
    policy: &dyn Policy,
    seeds: &[u64],
) -> Result<EvalResult, EnvError> {
    Ok(evaluate_seeds_with_success(env_id, policy, seeds)?.result)
}

/// An evaluation with the task's success statistics where it has them (Adroit).
#[derive(Debug, Clone, Serialize)]
pub struct Evaluation {
    /// Returns, lengths and normalized scores.
    pub result: EvalResult,
    /// Per episode, the number of steps whose state achieved the goal (`Env::success`); `None`
    /// for tasks without a success notion.
    pub goal_steps: Option<Vec<usize>>,
    /// The fraction of episodes that count as successes under D4RL's rule (goal achieved in more
    /// than [`EnvId::success_min_steps`] steps: door 25, pen 20); `None` without a rule.
    pub success_rate: Option<f64>,
}

/// [`evaluate`] plus the task's success statistics.
pub fn evaluate_with_success(
    env_id: &str,
    policy: &dyn Policy,
    episodes: usize,
    seed: u64,
) -> Result<Evaluation, EnvError> {
    evaluate_seeds_with_success(env_id, policy, &episode_seeds(seed, episodes))
}

fn evaluate_seeds_with_success(
    env_id: &str,
    policy: &dyn Policy,
    seeds: &[u64],
) -> Result<Evaluation, EnvError> {
    let id = EnvId::parse(env_id)?;
    if seeds.is_empty() {
        return Err(EnvError::NoEpisodes {
            env: env_id.to_string(),
        });
    }
    let ref_scores = crate::scores::ref_scores(env_id).unwrap_or(id.spec().ref_scores);
    let chunk = seeds.len().div_ceil(rayon::current_num_threads().max(1));
    let per_chunk: Vec<Vec<Episode>> = seeds
        .par_chunks(chunk)
        .map(|chunk| rollout_lockstep(id, policy, chunk))
        .collect::<Result<_, _>>()?;
    let episodes: Vec<Episode> = per_chunk.into_iter().flatten().collect();
    let returns: Vec<f64> = episodes.iter().map(|e| e.ret).collect();
    let lengths: Vec<usize> = episodes.iter().map(|e| e.length).collect();
    let goal_steps: Option<Vec<usize>> = episodes.iter().map(|e| e.goal_steps).collect();
    let normalized_scores: Vec<f64> = returns.iter().map(|&r| ref_scores.normalize(r)).collect();
    let (return_mean, return_std) = mean_std(&returns);
    let (normalized_score, normalized_score_std) = mean_std(&normalized_scores);
    let success_rate = match (&goal_steps, id.success_min_steps()) {
        (Some(steps), Some(min)) => {
            Some(steps.iter().filter(|&&s| s > min).count() as f64 / steps.len() as f64)
        }
        _ => None,
    };
    Ok(Evaluation {
        result: EvalResult {
            env: env_id.to_string(),
            seeds: seeds.to_vec(),
            returns,
            lengths,
            normalized_scores,
            return_mean,
            return_std,
            normalized_score,
            normalized_score_std,
        },
        goal_steps,
        success_rate,
    })
}

/// What one episode of [`rollout_lockstep`] produced.
#[derive(Debug, Clone, Copy, Default)]
struct Episode {
    ret: f64,
    length: usize,
    /// Steps whose state achieved the goal; `None` if the env has no success notion.
    goal_steps: Option<usize>,
}

/// The policy's stream for the episode with reset seed `seed` (a different stream from the
/// env's reset noise).
pub fn policy_rng(seed: u64) -> PolicyRng {
    PolicyRng::seed_from_u64(seed ^ 0x9E37_79B9_7F4A_7C15)
}

/// Runs one episode per seed in lockstep; returns return, length and goal steps per episode.
fn rollout_lockstep(
    id: EnvId,
    policy: &dyn Policy,
    seeds: &[u64],
) -> Result<Vec<Episode>, EnvError> {
    let mut envs: Vec<Box<dyn Env>> = seeds
        .iter()
        .map(|_| make_env_id(id))
        .collect::<Result<_, _>>()?;
    let spec = envs[0].spec().clone();
    let mut obs: Vec<Vec<f64>> = envs
        .iter_mut()
        .zip(seeds)
        .map(|(env, &s)| env.reset(s))
        .collect();
    let mut rngs: Vec<PolicyRng> = seeds.iter().map(|&s| policy_rng(s)).collect();
    let mut totals: Vec<Episode> = envs
        .iter()
        .map(|env| Episode {
            goal_steps: env.success().map(|_| 0),
            ..Episode::default()
        })
        .collect();
    let mut live: Vec<usize> = (0..seeds.len()).collect();
    while !live.is_empty() {
        let batch: Vec<f32> = live
            .iter()
            .flat_map(|&i| obs[i].iter().map(|&v| v as f32))
            .collect();
        let mut batch_rngs: Vec<PolicyRng> = live.iter().map(|&i| rngs[i].clone()).collect();
        let actions = policy.act_batch(&batch, live.len(), &mut batch_rngs);
        if actions.len() != live.len() * spec.act_dim {
            return Err(EnvError::Dimension {
                env: spec.name,
                what: "policy output (rows × act_dim)",
                got: actions.len(),
                expected: live.len() * spec.act_dim,
            });
        }
        let mut still_live = Vec::with_capacity(live.len());
        for (k, &i) in live.iter().enumerate() {
            rngs[i] = batch_rngs[k].clone();
            let action: Vec<f64> = actions[k * spec.act_dim..(k + 1) * spec.act_dim]
                .iter()
                .map(|&a| a as f64)
                .collect();
            let step = envs[i].step(&action)?;
            totals[i].ret += step.reward;
            totals[i].length += 1;
            if let (Some(count), Some(true)) = (totals[i].goal_steps.as_mut(), envs[i].success()) {
                *count += 1;
            }
            obs[i] = step.obs;
            if !(step.terminal || step.timeout) {
                still_live.push(i);
            }
        }
        live = still_live;
    }
    Ok(totals)
}

/// Mean and population standard deviation.
pub fn mean_std(values: &[f64]) -> (f64, f64) {
    let n = values.len().max(1) as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
    (mean, var.sqrt())
}
