//! The MuJoCo layer (envs-and-data.md §1): the embedded gymnasium XMLs, loading models once per
//! process, routing MuJoCo's log to `tracing` (so no `MUJOCO_LOG.TXT` appears), and a
//! frame-skipping simulator over one `MjData`.

use std::sync::{Arc, Once, OnceLock};

use mujoco_rs::prelude::{MjData, MjLogMessage, MjModel, MjtLogLevel, set_log_handler};

use crate::error::EnvError;

/// A loaded model, shared by every `MjData` of that environment (`MjModel` is `Send + Sync`).
pub(crate) type Model = Arc<MjModel>;
/// Simulation state bound to a shared model; one per environment instance or worker thread.
pub(crate) type Data = MjData<Model>;

/// gymnasium 1.4.0 `half_cheetah.xml` (MIT), copied by `scripts/setup-mujoco.sh`.
pub(crate) const HALF_CHEETAH_XML: &str =
    include_str!(concat!(env!("GTA_MUJOCO_ASSETS"), "/half_cheetah.xml"));
/// gymnasium 1.4.0 `hopper.xml` (MIT).
pub(crate) const HOPPER_XML: &str = include_str!(concat!(env!("GTA_MUJOCO_ASSETS"), "/hopper.xml"));
/// gymnasium 1.4.0 `walker2d.xml` (MIT; not `walker2d_v5.xml`, §2.1).
pub(crate) const WALKER2D_XML: &str =
    include_str!(concat!(env!("GTA_MUJOCO_ASSETS"), "/walker2d.xml"));
/// gymnasium 1.4.0 `ant.xml` (MIT).
pub(crate) const ANT_XML: &str = include_str!(concat!(env!("GTA_MUJOCO_ASSETS"), "/ant.xml"));

static LOG_HOOK: Once = Once::new();

/// Sends MuJoCo messages to `tracing` instead of stdout and `MUJOCO_LOG.TXT` (§1.6). The
/// `settotalmass` deprecation that every HalfCheetah load reports is benign (the mass is still
/// honoured), so it goes to `debug`.
fn log_to_tracing(message: &MjLogMessage) {
    let text = format!(
        "{} {}",
        message.subject(),
        message.body().unwrap_or_default()
    );
    match message.level() {
        MjtLogLevel::mjLOG_ERROR => tracing::error!(target: "mujoco", "{text}"),
        MjtLogLevel::mjLOG_WARNING if !text.contains("settotalmass") => {
            tracing::warn!(target: "mujoco", "{text}")
        }
        _ => tracing::debug!(target: "mujoco", "{text}"),
    }
}

/// Loads `xml` once per process into `cell`; later calls share the same model.
pub(crate) fn cached_model(
    cell: &'static OnceLock<Result<Model, String>>,
    env: &'static str,
    xml: impl FnOnce() -> String,
) -> Result<Model, EnvError> {
    cached_model_with(cell, env, || {
        MjModel::from_xml_string(&xml()).map_err(|e| e.to_string())
    })
}

/// Builds a model with `load` once per process into `cell` (after installing the log hook);
/// later calls share the same model.
pub(crate) fn cached_model_with(
    cell: &'static OnceLock<Result<Model, String>>,
    env: &'static str,
    load: impl FnOnce() -> Result<MjModel, String>,
) -> Result<Model, EnvError> {
    // SAFETY: `call_once` runs before any model is loaded in this process (every load goes
    // through here), and blocks other threads until the hook is installed.
    LOG_HOOK.call_once(|| unsafe { set_log_handler(log_to_tracing) });
    cell.get_or_init(|| load().map(Arc::new))
        .clone()
        .map_err(|reason| EnvError::ModelLoad { env, reason })
}

/// One `MjData` that advances `frame_skip` MuJoCo steps per env step (§2.2).
pub(crate) struct Sim {
    /// The MuJoCo state.
    pub data: Data,
    /// MuJoCo steps per env step.
    pub frame_skip: usize,
}

impl Sim {
    /// A fresh simulation of `model` at `qpos0` with zero velocity.
    pub fn new(model: Model, frame_skip: usize) -> Sim {
        Sim {
            data: MjData::new(model),
            frame_skip,
        }
    }

    /// gym's `reset` + `set_state`: `mj_resetData`, write `qpos`/`qvel`, then `mj_forward` so that
    /// derived quantities (body positions) match the new state.
    pub fn reset_to(&mut self, qpos: &[f64], qvel: &[f64]) {
        self.data.reset();
        self.data.qpos_mut().copy_from_slice(qpos);
        self.data.qvel_mut().copy_from_slice(qvel);
        self.data.forward();
    }

    /// Sets `ctrl` (already clipped) and runs `frame_skip` `mj_step`s (gym's `do_simulation`).
    pub fn advance(&mut self, ctrl: &[f64]) {
        self.data.ctrl_mut().copy_from_slice(ctrl);
        for _ in 0..self.frame_skip {
            self.data.step();
        }
    }

    /// The model's `qpos0` (gym's `init_qpos`).
    pub fn qpos0(&self) -> Vec<f64> {
        self.data.model().qpos0().to_vec()
    }
}

/// Clips every action component to [−1, 1] (D4RL's `NormalizedBoxEnv`, §2.1); NaN becomes 0.
pub(crate) fn clip_action(action: &[f64]) -> Vec<f64> {
    action
        .iter()
        .map(|&a| if a.is_nan() { 0.0 } else { a.clamp(-1.0, 1.0) })
        .collect()
}
