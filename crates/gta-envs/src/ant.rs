//! Ant with D4RL-v2 semantics (gym v2 `AntEnv`, envs-and-data.md §2.2): obs
//! qpos[2:] (13) ‖ qvel (14) ‖ clip(cfrc_ext, ±1) (84) = 111; reward
//! (xcom′−xcom)/dt − 0.5‖a‖² − 0.5e-3‖clip(cfrc_ext, ±1)‖² + 1 with xcom = xpos[torso]
//! (which lags one substep); terminates unless all finite and 0.2 ≤ qpos[2] ≤ 1.0; reset noise
//! qpos + U(−0.1, 0.1), qvel + 0.1·N(0, 1).
//!
//! `cfrc_ext` is read as `mj_step` leaves it, without `mj_rnePostConstraint`, as gym did under
//! MuJoCo 2.0: the 84 contact dimensions and the contact cost are zero, as in D4RL's ant data.

use std::sync::OnceLock;

use mujoco_rs::prelude::MjtObjBase;
use rand_chacha::ChaCha8Rng;

use crate::error::EnvError;
use crate::locomotion::{Task, add_normal, add_uniform, extend_clipped, sum_sq};
use crate::sim::{ANT_XML, Data, Model, cached_model};
use crate::spec::EnvId;

/// The Ant task.
pub(crate) struct Ant {
    /// Body id of `torso`, whose `xpos` gives the forward position.
    torso: usize,
}

impl Ant {
    /// The contact forces clipped to ±1, flattened over all bodies (6 per body).
    fn contact_forces(data: &Data) -> Vec<f64> {
        let mut out = Vec::with_capacity(84);
        for body in data.cfrc_ext() {
            extend_clipped(&mut out, body, 1.0);
        }
        out
    }
}

impl Task for Ant {
    const ID: EnvId = EnvId::Ant;

    fn new(model: &Model) -> Result<Self, EnvError> {
        let torso = model
            .name_to_id(MjtObjBase::mjOBJ_BODY, "torso")
            .ok_or_else(|| EnvError::ModelLoad {
                env: "ant",
                reason: "ant.xml has no body named torso".to_string(),
            })?;
        Ok(Ant { torso })
    }

    fn model() -> Result<Model, EnvError> {
        static MODEL: OnceLock<Result<Model, String>> = OnceLock::new();
        cached_model(&MODEL, "ant", || ANT_XML.to_string())
    }

    fn x_position(&self, data: &Data) -> f64 {
        data.xpos()[self.torso][0]
    }

    fn observe(&self, data: &Data, out: &mut Vec<f64>) {
        out.clear();
        out.extend_from_slice(&data.qpos()[2..]);
        out.extend_from_slice(data.qvel());
        out.extend(Self::contact_forces(data));
    }

    fn reward(&self, data: &Data, x_before: f64, x_after: f64, dt: f64, action: &[f64]) -> f64 {
        let contact_cost = 0.5e-3 * sum_sq(&Self::contact_forces(data));
        (x_after - x_before) / dt - 0.5 * sum_sq(action) - contact_cost + 1.0
    }

    fn terminated(&self, data: &Data) -> bool {
        let (qpos, qvel) = (data.qpos(), data.qvel());
        let finite = qpos.iter().chain(qvel).all(|v| v.is_finite());
        let healthy = finite && qpos[2] >= 0.2 && qpos[2] <= 1.0;
        !healthy
    }

    fn reset_noise(&self, rng: &mut ChaCha8Rng, qpos: &mut [f64], qvel: &mut [f64]) {
        add_uniform(rng, qpos, 0.1);
        add_normal(rng, qvel, 0.1);
    }

    fn state_from_obs(&self, obs: &[f64], qpos: &mut [f64], qvel: &mut [f64]) {
        let nq = qpos.len();
        qpos[0] = 0.0;
        qpos[1] = 0.0;
        qpos[2..].copy_from_slice(&obs[..nq - 2]);
        qvel.copy_from_slice(&obs[nq - 2..nq - 2 + qvel.len()]);
    }
}
