//! The one environment trait and the factory that builds any environment by name (architecture
//! sketch: `Env`; envs-and-data.md §2, §6.1, §7).

use crate::adroit::{Door, Pen};
use crate::error::EnvError;
use crate::locomotion::Locomotion;
use crate::maze2d::Maze2d;
use crate::spec::{EnvId, EnvSpec};
use crate::{ant::Ant, half_cheetah::HalfCheetah, hopper::Hopper, walker2d::Walker2d};

/// The result of one env step.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// Observation after the step.
    pub obs: Vec<f64>,
    /// Reward of the step (computed from the clipped action).
    pub reward: f64,
    /// True termination (the state left the healthy set); never set by Maze2d or HalfCheetah.
    pub terminal: bool,
    /// The step reached `max_episode_steps` since the last reset. Independent of `terminal`
    /// (both can be set); a dataset writer following D4RL marks such a row as a timeout.
    pub timeout: bool,
}

/// A simulated environment with D4RL semantics. Instances are independent (one `MjData` each)
/// and `Send`, so a worker thread can own one.
pub trait Env: Send {
    /// Dimensions, time limit, dataset ids and score constants.
    fn spec(&self) -> &EnvSpec;

    /// Starts an episode from the initial state plus the env's seeded reset noise (§2.2 table,
    /// §6.1); returns the first observation.
    fn reset(&mut self, seed: u64) -> Vec<f64>;

    /// Starts an episode from an exact simulator state (no noise); returns the observation.
    fn reset_to_state(&mut self, qpos: &[f64], qvel: &[f64]) -> Result<Vec<f64>, EnvError>;

    /// Applies `action` (clipped to [−1, 1]) for one env step.
    fn step(&mut self, action: &[f64]) -> Result<Step, EnvError>;

    /// Rebuilds the simulator state from an observation (§7): the unobserved root position is set
    /// to 0, which the dynamics and rewards do not depend on. Resets the step counter.
    fn set_state_from_obs(&mut self, obs: &[f64]) -> Result<(), EnvError>;

    /// The current observation.
    fn observation(&self) -> Vec<f64>;

    /// Starts an episode from a recorded simulator state together with the observation recorded
    /// with it, for the part of the state that qpos/qvel do not hold: the Adroit door's position
    /// (solved from the handle position) and the pen's target orientation. Default:
    /// [`Env::reset_to_state`].
    fn reset_to_recorded_state(
        &mut self,
        qpos: &[f64],
        qvel: &[f64],
        obs: &[f64],
    ) -> Result<Vec<f64>, EnvError> {
        let _ = obs;
        self.reset_to_state(qpos, qvel)
    }

    /// The simulator state (qpos, qvel) after the last reset or step; `None` where an
    /// implementation does not expose it. Every gta-envs environment does.
    fn sim_state(&self) -> Option<(Vec<f64>, Vec<f64>)> {
        None
    }

    /// Whether the current state achieves the task's goal (D4RL's `goal_achieved`: Adroit door
    /// angle ≥ 1.35; pen within 0.075 of the target with orientation similarity > 0.95); `None`
    /// for tasks without a success notion.
    fn success(&self) -> Option<bool> {
        None
    }
}

/// Builds an environment from a name or D4RL dataset id (`hopper`, `hopper-medium-v2`,
/// `maze2d-umaze-v1`, `door-human-v0`).
pub fn make_env(name: &str) -> Result<Box<dyn Env>, EnvError> {
    make_env_id(EnvId::parse(name)?)
}

/// Builds the environment `id`.
pub fn make_env_id(id: EnvId) -> Result<Box<dyn Env>, EnvError> {
    Ok(match id {
        EnvId::HalfCheetah => Box::new(Locomotion::<HalfCheetah>::new()?),
        EnvId::Hopper => Box::new(Locomotion::<Hopper>::new()?),
        EnvId::Walker2d => Box::new(Locomotion::<Walker2d>::new()?),
        EnvId::Ant => Box::new(Locomotion::<Ant>::new()?),
        EnvId::Door => Box::new(Door::new()?),
        EnvId::Pen => Box::new(Pen::new()?),
        maze => Box::new(Maze2d::new(maze)?),
    })
}

/// Checks a vector length against the spec.
pub(crate) fn check_len(
    spec: &EnvSpec,
    what: &'static str,
    got: usize,
    expected: usize,
) -> Result<(), EnvError> {
    if got == expected {
        Ok(())
    } else {
        Err(EnvError::Dimension {
            env: spec.name,
            what,
            got,
            expected,
        })
    }
}
