//! HalfCheetah with D4RL-v2 (= gymnasium v4) semantics (envs-and-data.md §2.2): obs
//! qpos[1:] ‖ qvel (17), reward (x′−x)/dt − 0.1‖a‖², never terminates, reset noise
//! qpos + U(−0.1, 0.1), qvel + 0.1·N(0, 1).

use std::sync::OnceLock;

use rand_chacha::ChaCha8Rng;

use crate::error::EnvError;
use crate::locomotion::{Task, add_normal, add_uniform, sum_sq};
use crate::sim::{Data, HALF_CHEETAH_XML, Model, cached_model};
use crate::spec::EnvId;

/// The HalfCheetah task.
pub(crate) struct HalfCheetah;

impl Task for HalfCheetah {
    const ID: EnvId = EnvId::HalfCheetah;

    fn new(_model: &Model) -> Result<Self, EnvError> {
        Ok(HalfCheetah)
    }

    fn model() -> Result<Model, EnvError> {
        static MODEL: OnceLock<Result<Model, String>> = OnceLock::new();
        cached_model(&MODEL, "halfcheetah", || HALF_CHEETAH_XML.to_string())
    }

    fn observe(&self, data: &Data, out: &mut Vec<f64>) {
        out.clear();
        out.extend_from_slice(&data.qpos()[1..]);
        out.extend_from_slice(data.qvel());
    }

    fn reward(&self, _data: &Data, x_before: f64, x_after: f64, dt: f64, action: &[f64]) -> f64 {
        (x_after - x_before) / dt - 0.1 * sum_sq(action)
    }

    fn terminated(&self, _data: &Data) -> bool {
        false
    }

    fn reset_noise(&self, rng: &mut ChaCha8Rng, qpos: &mut [f64], qvel: &mut [f64]) {
        add_uniform(rng, qpos, 0.1);
        add_normal(rng, qvel, 0.1);
    }

    fn state_from_obs(&self, obs: &[f64], qpos: &mut [f64], qvel: &mut [f64]) {
        let nq = qpos.len();
        qpos[0] = 0.0;
        qpos[1..].copy_from_slice(&obs[..nq - 1]);
        qvel.copy_from_slice(&obs[nq - 1..]);
    }
}
