//! Walker2d with D4RL-v2 (= gymnasium v4) semantics (envs-and-data.md §2.2): obs
//! qpos[1:] ‖ clip(qvel, ±10) (17), reward (x′−x)/dt + 1 − 1e-3‖a‖², terminates unless
//! 0.8 < qpos[1] < 2.0 and −1 < qpos[2] < 1, reset noise U(−0.005, 0.005) on qpos and qvel.

use std::sync::OnceLock;

use rand_chacha::ChaCha8Rng;

use crate::error::EnvError;
use crate::locomotion::{Task, add_uniform, extend_clipped, sum_sq};
use crate::sim::{Data, Model, WALKER2D_XML, cached_model};
use crate::spec::EnvId;

/// The Walker2d task.
pub(crate) struct Walker2d;

impl Task for Walker2d {
    const ID: EnvId = EnvId::Walker2d;

    fn new(_model: &Model) -> Result<Self, EnvError> {
        Ok(Walker2d)
    }

    fn model() -> Result<Model, EnvError> {
        static MODEL: OnceLock<Result<Model, String>> = OnceLock::new();
        cached_model(&MODEL, "walker2d", || WALKER2D_XML.to_string())
    }

    fn observe(&self, data: &Data, out: &mut Vec<f64>) {
        out.clear();
        out.extend_from_slice(&data.qpos()[1..]);
        extend_clipped(out, data.qvel(), 10.0);
    }

    fn reward(&self, _data: &Data, x_before: f64, x_after: f64, dt: f64, action: &[f64]) -> f64 {
        (x_after - x_before) / dt + 1.0 - 1e-3 * sum_sq(action)
    }

    fn terminated(&self, data: &Data) -> bool {
        let qpos = data.qpos();
        let healthy = qpos[1] > 0.8 && qpos[1] < 2.0 && qpos[2] > -1.0 && qpos[2] < 1.0;
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
