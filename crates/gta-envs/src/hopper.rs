//! Hopper with D4RL-v2 (= gymnasium v4) semantics (envs-and-data.md §2.2): obs
//! qpos[1:] ‖ clip(qvel, ±10) (11), reward (x′−x)/dt + 1 − 1e-3‖a‖² (the +1 is also paid on the
//! terminating step), reset noise U(−0.005, 0.005) on qpos and qvel.

use std::sync::OnceLock;

use rand_chacha::ChaCha8Rng;

use crate::error::EnvError;
use crate::locomotion::{Task, add_uniform, extend_clipped, sum_sq};
use crate::sim::{Data, HOPPER_XML, Model, cached_model};
use crate::spec::EnvId;

/// The Hopper task.
pub(crate) struct Hopper;

impl Task for Hopper {
    const ID: EnvId = EnvId::Hopper;

    fn new(_model: &Model) -> Result<Self, EnvError> {
        Ok(Hopper)
    }

    fn model() -> Result<Model, EnvError> {
        static MODEL: OnceLock<Result<Model, String>> = OnceLock::new();
        cached_model(&MODEL, "hopper", || HOPPER_XML.to_string())
    }

    fn observe(&self, data: &Data, out: &mut Vec<f64>) {
        out.clear();
        out.extend_from_slice(&data.qpos()[1..]);
        extend_clipped(out, data.qvel(), 10.0);
    }

    fn reward(&self, _data: &Data, x_before: f64, x_after: f64, dt: f64, action: &[f64]) -> f64 {
        (x_after - x_before) / dt + 1.0 - 1e-3 * sum_sq(action)
    }

    /// NOT(all finite(state) ∧ all |state[2:]| < 100 ∧ qpos[1] > 0.7 ∧ |qpos[2]| < 0.2).
    fn terminated(&self, data: &Data) -> bool {
        let (qpos, qvel) = (data.qpos(), data.qvel());
        let state = qpos.iter().chain(qvel);
        let finite = state.clone().all(|v| v.is_finite());
        let bounded = state.skip(2).all(|v| v.abs() < 100.0);
        let healthy = finite && bounded && qpos[1] > 0.7 && qpos[2].abs() < 0.2;
        !healthy
    }

    fn reset_noise(&self, rng: &mut ChaCha8Rng, qpos: &mut [f64], qvel: &mut [f64]) {
        add_uniform(rng, qpos, 0.005);
        add_uniform(rng, qvel, 0.005);
    }

    fn state_from_obs(&self, obs: &[f64], qpos: &mut [f64], qvel: &mut [f64]) {
        let nq = qpos.len();
        qpos[0] = 0.0;
        qpos[1..].copy_from_slice(&obs[..nq - 1]);
        qvel.copy_from_slice(&obs[nq - 1..]);
    }
}
