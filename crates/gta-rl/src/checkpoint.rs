//! Checkpoints with exact resume (issue 7): a folder `step_NNNNNNNNN/` holding the agent's
//! networks, targets and optimizer states (burn-pack) and `state.json` (step, config, shapes,
//! state statistics). Random draws are functions of (seed, step), so the step is the whole
//! RNG state. Written under a temporary name in the same parent folder, then renamed.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::optim::ModuleOptimizer;
use gta_data::Normalizer;
use serde::{Deserialize, Serialize};

use crate::buffer::ReplayBuffer;
use crate::config::RlConfig;
use crate::error::RlError;
use crate::train::{Trainer, build_agent};

/// Version of the checkpoint layout.
pub const SCHEMA_VERSION: u32 = 1;

/// The human-readable part of a checkpoint (`state.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckpointState {
    /// [`SCHEMA_VERSION`] of the writer.
    pub schema_version: u32,
    /// Gradient steps done.
    pub step: u64,
    /// State width.
    pub obs_dim: usize,
    /// Action width.
    pub act_dim: usize,
    /// Transitions in the training buffer (checked on resume).
    pub buffer_len: usize,
    /// State statistics the policy expects (for `gta rl eval`).
    pub normalizer: Normalizer,
    /// The resolved run configuration.
    pub config: RlConfig,
}

/// Writes `module` (a plain module, e.g. `net.valid()`) to `dir/file` (burn-pack).
pub fn save_module<M: Module>(module: M, dir: &Path, file: &str) -> Result<(), RlError> {
    let path = dir.join(file);
    module
        .save_file(&path)
        .map_err(|e| RlError::checkpoint(&path, e))
}

/// Loads `dir/file` into `module`, which supplies only the architecture (every value is
/// overwritten).
pub fn load_module<M: Module>(module: M, dir: &Path, file: &str) -> Result<M, RlError> {
    let path = dir.join(file);
    module
        .try_load_file(&path)
        .map_err(|e| RlError::checkpoint(&path, e))
}

/// Writes each `(file, optimizer)` state into `dir`.
pub fn save_optims(dir: &Path, optims: &[(&str, &ModuleOptimizer)]) -> Result<(), RlError> {
    for (file, optim) in optims {
        let path = dir.join(file);
        optim
            .save(&path)
            .map_err(|e| RlError::checkpoint(&path, e))?;
    }
    Ok(())
}

/// Loads the state in `dir/file` into `optim` (a fresh optimizer of the right kind).
pub fn load_optim(
    optim: ModuleOptimizer,
    dir: &Path,
    file: &str,
) -> Result<ModuleOptimizer, RlError> {
    let path = dir.join(file);
    optim.load(&path).map_err(|e| RlError::checkpoint(&path, e))
}

/// Folder name of the checkpoint after `step` steps.
pub fn checkpoint_name(step: u64) -> String {
    format!("step_{step:09}")
}

/// Writes the run to `parent/step_NNNNNNNNN/` (temporary folder, then rename) and returns the
/// path. An existing checkpoint of the same step is replaced.
pub fn save(trainer: &Trainer, parent: &Path) -> Result<PathBuf, RlError> {
    save_atomic(parent, &checkpoint_name(trainer.step_count()), |tmp| {
        trainer.agent().save(tmp)?;
        let buffer = trainer.buffer();
        let state = CheckpointState {
            schema_version: SCHEMA_VERSION,
            step: trainer.step_count(),
            obs_dim: buffer.obs_dim,
            act_dim: buffer.act_dim,
            buffer_len: buffer.len,
            normalizer: buffer.normalizer.clone(),
            config: trainer.config.clone(),
        };
        let json = serde_json::to_string_pretty(&state).expect("checkpoint state serializes");
        std::fs::write(tmp.join("state.json"), json)
            .map_err(|e| RlError::io(tmp.join("state.json"), e))
    })
}

/// Writes the folder `parent/name/` atomically: `write` fills a temporary folder
/// `parent/.name.tmp/`, which is then renamed (an existing `parent/name/` is replaced).
/// Shared by the offline and the online (SAC) checkpoints.
pub fn save_atomic(
    parent: &Path,
    name: &str,
    write: impl FnOnce(&Path) -> Result<(), RlError>,
) -> Result<PathBuf, RlError> {
    std::fs::create_dir_all(parent).map_err(|e| RlError::io(parent, e))?;
    let tmp = parent.join(format!(".{name}.tmp"));
    let dst = parent.join(name);
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| RlError::io(&tmp, e))?;
    }
    std::fs::create_dir(&tmp).map_err(|e| RlError::io(&tmp, e))?;
    write(&tmp)?;
    if dst.exists() {
        std::fs::remove_dir_all(&dst).map_err(|e| RlError::io(&dst, e))?;
    }
    std::fs::rename(&tmp, &dst).map_err(|e| RlError::io(&dst, e))?;
    Ok(dst)
}

/// Reads `dir/state.json`.
pub fn read_state(dir: &Path) -> Result<CheckpointState, RlError> {
    let path = dir.join("state.json");
    let text = std::fs::read_to_string(&path).map_err(|e| RlError::io(&path, e))?;
    let state: CheckpointState =
        serde_json::from_str(&text).map_err(|e| RlError::checkpoint(&path, e))?;
    if state.schema_version != SCHEMA_VERSION {
        return Err(RlError::checkpoint(
            &path,
            format!(
                "schema_version {SCHEMA_VERSION} expected, found {}",
                state.schema_version
            ),
        ));
    }
    Ok(state)
}

/// The checkpoint with the most steps under `parent`, if any.
pub fn latest(parent: &Path) -> Option<PathBuf> {
    std::fs::read_dir(parent)
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let step: u64 = name.strip_prefix("step_")?.parse().ok()?;
            Some((step, e.path()))
        })
        .max_by_key(|(step, _)| *step)
        .map(|(_, p)| p)
}

/// Rebuilds the run saved in `dir` over `buffer` (which must hold the same data), continuing
/// exactly where it stopped.
pub fn load(dir: &Path, buffer: ReplayBuffer) -> Result<Trainer, RlError> {
    let state = read_state(dir)?;
    let check = |what: &str, expected: usize, got: usize| {
        if expected == got {
            Ok(())
        } else {
            Err(RlError::Shape {
                what: format!("{} ({what})", dir.display()),
                expected,
                got,
            })
        }
    };
    check("obs_dim", state.obs_dim, buffer.obs_dim)?;
    check("act_dim", state.act_dim, buffer.act_dim)?;
    check("buffer transitions", state.buffer_len, buffer.len)?;
    if state.config.algo == crate::config::Algo::Dt {
        return Err(RlError::checkpoint(
            dir,
            "a dt checkpoint: load it with gta_rl::dt::load",
        ));
    }
    let mut agent = build_agent(&state.config, state.obs_dim, state.act_dim, buffer.device());
    agent.load(dir)?;
    Ok(Trainer::restore(state.config, buffer, agent, state.step))
}
