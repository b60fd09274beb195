//! Logging rollouts of a policy as a D4RL-layout dataset (envs-and-data.md §4.1, §4.3): rows
//! `observations, actions, rewards, next_observations, terminals, timeouts`, where an episode that
//! ends at the time limit is a timeout (never both flags on one row, as in D4RL).

use gta_data::{Array, ArrayData, Dataset};

use crate::env::make_env_id;
use crate::error::EnvError;
use crate::eval::policy_rng;
use crate::policy::Policy;
use crate::spec::EnvId;

/// Rolls out `policy` in `id` until `transitions` rows are logged (the last episode is cut and
/// flagged as a timeout), starting episode e from reset seed `seed + e`. Stochastic actions are
/// logged as taken (clipped to [−1, 1] like the env applies them).
pub fn collect(
    id: EnvId,
    policy: &dyn Policy,
    transitions: usize,
    seed: u64,
) -> Result<Dataset, EnvError> {
    let mut env = make_env_id(id)?;
    let (obs_dim, act_dim) = (env.spec().obs_dim, env.spec().act_dim);
    let mut obs_all = Vec::with_capacity(transitions * obs_dim);
    let mut next_all = Vec::with_capacity(transitions * obs_dim);
    let mut act_all = Vec::with_capacity(transitions * act_dim);
    let (mut rew, mut term, mut tout) = (vec![], vec![], vec![]);
    let mut episode = 0u64;
    while rew.len() < transitions {
        let mut rng = policy_rng(seed.wrapping_add(episode));
        let mut obs: Vec<f32> = env
            .reset(seed.wrapping_add(episode))
            .iter()
            .map(|&v| v as f32)
            .collect();
        loop {
            let a: Vec<f64> = policy
                .act(&obs, &mut rng)
                .iter()
                .map(|&v| (v as f64).clamp(-1.0, 1.0))
                .collect();
            let step = env.step(&a)?;
            let next: Vec<f32> = step.obs.iter().map(|&v| v as f32).collect();
            let last = rew.len() + 1 == transitions;
            obs_all.extend_from_slice(&obs);
            act_all.extend(a.iter().map(|&v| v as f32));
            next_all.extend_from_slice(&next);
            rew.push(step.reward as f32);
            // D4RL: an episode that ends exactly at the time limit is a timeout, not a terminal.
            let terminal = step.terminal && !step.timeout;
            term.push(terminal);
            tout.push(!terminal && (step.timeout || last));
            if step.terminal || step.timeout || last {
                break;
            }
            obs = next;
        }
        episode += 1;
    }
    let n = rew.len();
    let mut ds = Dataset::new(format!("{}-collected", id.name()));
    ds.insert(
        "observations",
        Array::new(vec![n, obs_dim], ArrayData::F32(obs_all)),
    );
    ds.insert(
        "actions",
        Array::new(vec![n, act_dim], ArrayData::F32(act_all)),
    );
    ds.insert(
        "next_observations",
        Array::new(vec![n, obs_dim], ArrayData::F32(next_all)),
    );
    ds.insert("rewards", Array::new(vec![n], ArrayData::F32(rew)));
    ds.insert("terminals", Array::new(vec![n], ArrayData::Bool(term)));
    ds.insert("timeouts", Array::new(vec![n], ArrayData::Bool(tout)));
    Ok(ds)
}
