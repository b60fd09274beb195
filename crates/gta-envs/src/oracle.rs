//! The one-step simulator oracle (s, a) → (s′, r, terminal) used for the dynamic-MSE metric and
//! oracle rewards (envs-and-data.md §7): rebuild the state from the observation, apply the
//! clipped action for one env step, read the next observation.

use rayon::prelude::*;

use crate::env::{Env, make_env_id};
use crate::error::EnvError;
use crate::spec::EnvId;

/// One simulated transition.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    /// s′ as the environment observes it (Hopper/Walker2d velocities clipped to ±10).
    pub next_obs: Vec<f64>,
    /// r(s, a).
    pub reward: f64,
    /// Whether s′ is terminal.
    pub terminal: bool,
}

/// `set_state_from_obs(obs)` then `step(action)` on `env`.
pub fn one_step(env: &mut dyn Env, obs: &[f64], action: &[f64]) -> Result<Transition, EnvError> {
    env.set_state_from_obs(obs)?;
    let step = env.step(action)?;
    Ok(Transition {
        next_obs: step.obs,
        reward: step.reward,
        terminal: step.terminal,
    })
}

/// A thread-safe batch oracle for one environment: each rayon worker steps its own `MjData`.
#[derive(Debug, Clone)]
pub struct Oracle {
    id: EnvId,
    obs_dim: usize,
    act_dim: usize,
}

impl Oracle {
    /// An oracle for an env name or dataset id (`hopper-medium-v2`).
    pub fn new(name: &str) -> Result<Oracle, EnvError> {
        let id = EnvId::parse(name)?;
        make_env_id(id)?; // loads the model once, so later workers cannot fail on it
        let spec = id.spec();
        Ok(Oracle {
            id,
            obs_dim: spec.obs_dim,
            act_dim: spec.act_dim,
        })
    }

    /// Transitions for `n` row-major observations (n × obs_dim) and actions (n × act_dim), in
    /// parallel across the rayon pool; f32 inputs (datasets) and f64 inputs are both accepted.
    pub fn transitions<T>(
        &self,
        observations: &[T],
        actions: &[T],
    ) -> Result<Vec<Transition>, EnvError>
    where
        T: Copy + Into<f64> + Sync,
    {
        let spec = self.id.spec();
        let n = observations.len() / self.obs_dim;
        if observations.len() != n * self.obs_dim || actions.len() != n * self.act_dim {
            return Err(EnvError::Dimension {
                env: spec.name,
                what: "oracle actions (rows × act_dim, matching the observation rows)",
                got: actions.len(),
                expected: n * self.act_dim,
            });
        }
        observations
            .par_chunks(self.obs_dim)
            .zip(actions.par_chunks(self.act_dim))
            .map_init(
                || make_env_id(self.id),
                |env, (obs, action)| {
                    let env = env.as_mut().map_err(|e| EnvError::ModelLoad {
                        env: spec.name,
                        reason: e.to_string(),
                    })?;
                    let obs: Vec<f64> = obs.iter().map(|&v| v.into()).collect();
                    let action: Vec<f64> = action.iter().map(|&v| v.into()).collect();
                    one_step(env.as_mut(), &obs, &action)
                },
            )
            .collect()
    }
}
