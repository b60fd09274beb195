//! The gym-MuJoCo locomotion env loop shared by HalfCheetah, Hopper, Walker2d and Ant
//! (envs-and-data.md §2.2): clip the action, run `frame_skip` MuJoCo steps, then the task's
//! observation, reward and termination; 1000-step time limit; seeded reset noise.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::env::{Env, Step, check_len};
use crate::error::EnvError;
use crate::sim::{Data, Model, Sim, clip_action};
use crate::spec::{EnvId, EnvSpec};

/// What distinguishes one locomotion task from another (one implementation per env module).
pub(crate) trait Task: Send + Sized + 'static {
    /// Which environment.
    const ID: EnvId;
    /// Builds the task for a loaded model (looks up body ids it needs).
    fn new(model: &Model) -> Result<Self, EnvError>;
    /// The shared model (loaded once per process).
    fn model() -> Result<Model, EnvError>;
    /// The forward position whose change over `dt` is the forward reward.
    fn x_position(&self, data: &Data) -> f64 {
        data.qpos()[0]
    }
    /// Writes the observation of the current state into `out` (cleared first).
    fn observe(&self, data: &Data, out: &mut Vec<f64>);
    /// Reward of a step with clipped `action` that moved x from `x_before` to `x_after`.
    fn reward(&self, data: &Data, x_before: f64, x_after: f64, dt: f64, action: &[f64]) -> f64;
    /// Whether the state after the step is outside the healthy set.
    fn terminated(&self, data: &Data) -> bool;
    /// Adds the reset noise of the task to `qpos0` and the zero `qvel`.
    fn reset_noise(&self, rng: &mut ChaCha8Rng, qpos: &mut [f64], qvel: &mut [f64]);
    /// Rebuilds (qpos, qvel) from an observation, unobserved root coordinates set to 0 (§7).
    fn state_from_obs(&self, obs: &[f64], qpos: &mut [f64], qvel: &mut [f64]);
}

/// A locomotion environment running task `T`.
pub(crate) struct Locomotion<T: Task> {
    task: T,
    sim: Sim,
    spec: EnvSpec,
    elapsed: usize,
}

impl<T: Task> Locomotion<T> {
    /// A new environment at `qpos0` (call `reset` before stepping an episode).
    pub fn new() -> Result<Self, EnvError> {
        let model = T::model()?;
        let spec = T::ID.spec();
        let task = T::new(&model)?;
        let sim = Sim::new(model, spec.frame_skip);
        Ok(Locomotion {
            task,
            sim,
            spec,
            elapsed: 0,
        })
    }
}

impl<T: Task> Env for Locomotion<T> {
    fn spec(&self) -> &EnvSpec {
        &self.spec
    }

    fn reset(&mut self, seed: u64) -> Vec<f64> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut qpos = self.sim.qpos0();
        let mut qvel = vec![0.0; self.spec.nv];
        self.task.reset_noise(&mut rng, &mut qpos, &mut qvel);
        self.sim.reset_to(&qpos, &qvel);
        self.elapsed = 0;
        self.observation()
    }

    fn reset_to_state(&mut self, qpos: &[f64], qvel: &[f64]) -> Result<Vec<f64>, EnvError> {
        check_len(&self.spec, "qpos", qpos.len(), self.spec.nq)?;
        check_len(&self.spec, "qvel", qvel.len(), self.spec.nv)?;
        self.sim.reset_to(qpos, qvel);
        self.elapsed = 0;
        Ok(self.observation())
    }

    fn step(&mut self, action: &[f64]) -> Result<Step, EnvError> {
        check_len(&self.spec, "action", action.len(), self.spec.act_dim)?;
        let action = clip_action(action);
        let x_before = self.task.x_position(&self.sim.data);
        self.sim.advance(&action);
        let x_after = self.task.x_position(&self.sim.data);
        let reward = self
            .task
            .reward(&self.sim.data, x_before, x_after, self.spec.dt, &action);
        let terminal = self.task.terminated(&self.sim.data);
        self.elapsed += 1;
        Ok(Step {
            obs: self.observation(),
            reward,
            terminal,
            timeout: self.elapsed >= self.spec.max_episode_steps,
        })
    }

    fn set_state_from_obs(&mut self, obs: &[f64]) -> Result<(), EnvError> {
        check_len(&self.spec, "observation", obs.len(), self.spec.obs_dim)?;
        let mut qpos = vec![0.0; self.spec.nq];
        let mut qvel = vec![0.0; self.spec.nv];
        self.task.state_from_obs(obs, &mut qpos, &mut qvel);
        self.sim.reset_to(&qpos, &qvel);
        self.elapsed = 0;
        Ok(())
    }

    fn sim_state(&self) -> Option<(Vec<f64>, Vec<f64>)> {
        let data = &self.sim.data;
        Some((data.qpos().to_vec(), data.qvel().to_vec()))
    }

    fn observation(&self) -> Vec<f64> {
        let mut obs = Vec::with_capacity(self.spec.obs_dim);
        self.task.observe(&self.sim.data, &mut obs);
        obs
    }
}

/// Sum of squares ‖a‖².
pub(crate) fn sum_sq(values: &[f64]) -> f64 {
    values.iter().map(|v| v * v).sum()
}

/// Adds U(−scale, scale) to every element.
pub(crate) fn add_uniform(rng: &mut ChaCha8Rng, values: &mut [f64], scale: f64) {
    use rand::RngExt;
    for v in values {
        *v += rng.random_range(-scale..scale);
    }
}

/// Adds scale·N(0, 1) to every element.
pub(crate) fn add_normal(rng: &mut ChaCha8Rng, values: &mut [f64], scale: f64) {
    use rand::RngExt;
    for v in values {
        let z: f64 = rng.sample(rand_distr::StandardNormal);
        *v += scale * z;
    }
}

/// Appends `values` clipped to [−limit, limit].
pub(crate) fn extend_clipped(out: &mut Vec<f64>, values: &[f64], limit: f64) {
    out.extend(values.iter().map(|v| v.clamp(-limit, limit)));
}
