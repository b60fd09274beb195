//! Choosing behaviour policies from a SAC run's snapshots (`gta sac export`): every snapshot is
//! scored with stochastic actions (as the recipes roll it out); `expert` is the best, `medium`
//! the snapshot before the expert whose score is nearest D4RL's medium return, and
//! `medium-replay` the snapshots from step 0 up to the medium one.

use std::path::{Path, PathBuf};

use gta_envs::EnvId;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::RlError;
use crate::online::policy::{BehaviourPolicy, SamplePolicy};
use crate::online::recipe::Level;

/// D4RL's medium-v2 mean returns (envs-and-data.md §4.2), the default medium targets.
pub fn d4rl_medium_return(env: EnvId) -> Option<f64> {
    match env {
        EnvId::HalfCheetah => Some(4770.3),
        EnvId::Hopper => Some(1422.1),
        EnvId::Walker2d => Some(2852.1),
        _ => None,
    }
}

/// A run's snapshot with its stochastic score.
#[derive(Clone, Debug)]
pub struct ScoredSnapshot {
    /// The `.policy` file.
    pub path: PathBuf,
    /// The snapshot.
    pub policy: BehaviourPolicy,
    /// Mean return of stochastic-action episodes.
    pub sample_return: f64,
}

/// Reads `run_dir/snapshots/*.policy` in step order and scores each with `episodes`
/// stochastic episodes (reset seeds `seed, seed+1, …`).
pub fn score_snapshots(
    run_dir: &Path,
    episodes: usize,
    seed: u64,
) -> Result<Vec<ScoredSnapshot>, RlError> {
    let dir = run_dir.join("snapshots");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|e| RlError::io(&dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "policy"))
        .collect();
    paths.sort();
    let mut out = Vec::new();
    for path in paths {
        let policy = BehaviourPolicy::read(&path)?;
        let sp = SamplePolicy {
            actor: policy.actors[0].clone(),
            log_std_min: policy.header.log_std_min,
            log_std_max: policy.header.log_std_max,
        };
        let r = gta_envs::evaluate(&policy.header.env, &sp, episodes.max(1), seed)?;
        out.push(ScoredSnapshot {
            path,
            policy,
            sample_return: r.return_mean,
        });
    }
    if out.is_empty() {
        return Err(RlError::Policy {
            path: dir,
            what: "no snapshots (train with --snapshot-every K > 0)".into(),
        });
    }
    Ok(out)
}

/// The provenance written next to an exported policy (`<env>-<level>.toml`).
#[derive(Clone, Debug, Serialize)]
pub struct Provenance {
    /// Env name.
    pub env: String,
    /// medium, expert or medium-replay.
    pub level: String,
    /// The run folder.
    pub run: String,
    /// Run seed.
    pub seed: u64,
    /// Env steps of the snapshot(s) used.
    pub snapshot_steps: Vec<u64>,
    /// Deterministic (mean-action) evaluation return of the (last) snapshot at training time.
    pub eval_return: f64,
    /// Mean return of stochastic-action episodes of the (last) snapshot.
    pub sample_return: f64,
    /// D4RL normalized score of `sample_return`.
    pub normalized_score: f64,
    /// Episodes behind `sample_return`.
    pub sample_episodes: usize,
    /// The medium target return (medium and medium-replay).
    pub target_return: Option<f64>,
    /// Env steps of uniform actions at the start (medium-replay).
    pub random_steps: u64,
    /// Env steps the replay covers (medium-replay).
    pub end_step: u64,
    /// SHA-256 of the `.policy` file.
    pub policy_sha256: String,
    /// gta version of the exporter.
    pub gta_version: String,
}

/// Picks the policy of `level` from scored snapshots: returns the policy and its provenance.
/// `target` overrides D4RL's medium return; medium-replay keeps at most `max_replay` snapshots
/// (evenly strided, always the first and the medium one).
pub fn choose(
    scored: &[ScoredSnapshot],
    level: Level,
    target: Option<f64>,
    max_replay: usize,
    run: &Path,
    seed: u64,
    episodes: usize,
) -> Result<(BehaviourPolicy, Provenance), RlError> {
    let env = EnvId::parse(&scored[0].policy.header.env)?;
    let best = (0..scored.len())
        .max_by(|&a, &b| scored[a].sample_return.total_cmp(&scored[b].sample_return))
        .expect("non-empty");
    let target = target.or(d4rl_medium_return(env));
    let medium = |target: f64| {
        (0..=best)
            .min_by(|&a, &b| {
                let d = |i: usize| (scored[i].sample_return - target).abs();
                d(a).total_cmp(&d(b))
            })
            .expect("non-empty")
    };
    let (policy, k, target) = match level {
        Level::Expert => (scored[best].policy.clone(), best, None),
        Level::Medium | Level::MediumReplay => {
            let t = target.ok_or_else(|| RlError::Config {
                key: "target",
                expected: format!("a medium target return for {}", env.name()),
            })?;
            let m = medium(t);
            if level == Level::Medium {
                (scored[m].policy.clone(), m, Some(t))
            } else {
                let idx = strided(m + 1, max_replay.max(2));
                let mut p = merge(&scored.iter().map(|s| &s.policy).collect::<Vec<_>>());
                let end = scored[m].policy.header.snapshots[0].env_step;
                p = p.select(&idx, end);
                (p, m, Some(t))
            }
        }
        Level::MediumExpert => {
            return Err(RlError::Config {
                key: "level",
                expected: "medium, expert or medium-replay (medium-expert uses medium + expert)"
                    .into(),
            });
        }
    };
    let bytes = policy.to_bytes();
    let sha: String = Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let s = &scored[k];
    let prov = Provenance {
        env: env.name().to_string(),
        level: level.name().to_string(),
        run: run.display().to_string(),
        seed,
        snapshot_steps: policy.header.snapshots.iter().map(|s| s.env_step).collect(),
        eval_return: s.policy.header.snapshots[0].eval_return,
        sample_return: s.sample_return,
        normalized_score: gta_envs::d4rl_score(env.name(), s.sample_return)?,
        sample_episodes: episodes,
        target_return: target,
        random_steps: policy.header.random_steps,
        end_step: policy.header.end_step,
        policy_sha256: sha,
        gta_version: env!("CARGO_PKG_VERSION").to_string(),
    };
    Ok((policy, prov))
}

/// `k` indices spread over `0..n` (all when n ≤ k), including 0 and n − 1.
fn strided(n: usize, k: usize) -> Vec<usize> {
    if n <= k {
        return (0..n).collect();
    }
    let mut v: Vec<usize> = (0..k).map(|i| i * (n - 1) / (k - 1)).collect();
    v.dedup();
    v
}

/// One multi-snapshot policy of single-snapshot ones (same env and sizes).
fn merge(policies: &[&BehaviourPolicy]) -> BehaviourPolicy {
    let mut out = policies[0].clone();
    out.header.snapshots = policies
        .iter()
        .flat_map(|p| p.header.snapshots.clone())
        .collect();
    out.actors = policies.iter().flat_map(|p| p.actors.clone()).collect();
    out
}
