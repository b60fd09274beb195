//! Checkpoints with everything needed for an exact resume (method.md §5; reference-code-notes
//! §15): online model, EMA, optimizer state, step (which fixes the LR-scheduler position and
//! every derived random stream), sampler position, and the resolved config.
//!
//! A checkpoint is a folder `step_NNNNNNNNN/` holding `model.bpk`, `ema.bpk`, `optim.bpk`
//! (burn-pack) and `state.json`. It is written under a temporary name in the same parent folder
//! and renamed when complete.

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use crate::config::DiffusionConfig;
use crate::data::{TrainData, WindowSampler};
use crate::error::DiffusionError;
use crate::train::{Trainer, build_optimizer, init_model};

/// Version of the checkpoint layout.
pub const SCHEMA_VERSION: u32 = 1;

/// The small, human-readable part of a checkpoint (`state.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckpointState {
    /// [`SCHEMA_VERSION`] of the writer.
    pub schema_version: u32,
    /// Optimizer steps taken.
    pub step: u64,
    /// Window-sampler position.
    pub sampler: WindowSampler,
    /// Rows per window T the model was built for.
    pub horizon: usize,
    /// Row width D the model was built for.
    pub transition_dim: usize,
    /// The resolved run configuration.
    pub config: DiffusionConfig,
}

/// Folder name of the checkpoint after `step` steps.
pub fn checkpoint_name(step: u64) -> String {
    format!("step_{step:09}")
}

fn ckpt_err(path: &Path, what: impl std::fmt::Display) -> DiffusionError {
    DiffusionError::Checkpoint {
        path: path.to_path_buf(),
        what: what.to_string(),
    }
}

/// Writes the trainer's state to `parent/step_NNNNNNNNN/` (temporary folder, then rename) and
/// returns that path. An existing checkpoint of the same step is replaced.
pub fn save(trainer: &Trainer, parent: &Path) -> Result<PathBuf, DiffusionError> {
    if trainer.optimizer_is_stale() {
        return Err(ckpt_err(
            parent,
            "the optimizer's step counters lag behind the replayed CUDA-graph steps; call \
             Trainer::sync_optimizer before saving (Trainer::train does)",
        ));
    }
    std::fs::create_dir_all(parent).map_err(|e| DiffusionError::io(parent, e))?;
    let name = checkpoint_name(trainer.step_count());
    let tmp = parent.join(format!(".{name}.tmp"));
    let dst = parent.join(&name);
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| DiffusionError::io(&tmp, e))?;
    }
    std::fs::create_dir(&tmp).map_err(|e| DiffusionError::io(&tmp, e))?;
    trainer
        .model()
        .valid()
        .save_file(tmp.join("model.bpk"))
        .map_err(|e| ckpt_err(&tmp.join("model.bpk"), e))?;
    trainer
        .ema()
        .clone()
        .save_file(tmp.join("ema.bpk"))
        .map_err(|e| ckpt_err(&tmp.join("ema.bpk"), e))?;
    trainer
        .optimizer()
        .save(tmp.join("optim.bpk"))
        .map_err(|e| ckpt_err(&tmp.join("optim.bpk"), e))?;
    let (horizon, transition_dim) = trainer.shape();
    let state = CheckpointState {
        schema_version: SCHEMA_VERSION,
        step: trainer.step_count(),
        sampler: trainer.sampler().clone(),
        horizon,
        transition_dim,
        config: trainer.config.clone(),
    };
    let json = serde_json::to_string_pretty(&state).expect("checkpoint state serializes");
    std::fs::write(tmp.join("state.json"), json)
        .map_err(|e| DiffusionError::io(tmp.join("state.json"), e))?;
    if dst.exists() {
        std::fs::remove_dir_all(&dst).map_err(|e| DiffusionError::io(&dst, e))?;
    }
    std::fs::rename(&tmp, &dst).map_err(|e| DiffusionError::io(&dst, e))?;
    Ok(dst)
}

/// Writes a checkpoint `parent/step_NNNNNNNNN/` for weights that were not trained here (the
/// official importer, issue 10): `model.bpk` and `ema.bpk` both hold `net`, `optim.bpk` a fresh
/// Adam state (the official optimizer moments are not imported), `state.json` the given step,
/// shape and config with a sampler over zero windows. Refuses an existing checkpoint folder.
pub fn save_imported(
    net: &crate::denoiser::Denoiser,
    config: &DiffusionConfig,
    step: u64,
    (horizon, transition_dim): (usize, usize),
    parent: &Path,
) -> Result<PathBuf, DiffusionError> {
    std::fs::create_dir_all(parent).map_err(|e| DiffusionError::io(parent, e))?;
    let name = checkpoint_name(step);
    let tmp = parent.join(format!(".{name}.tmp"));
    let dst = parent.join(&name);
    if dst.exists() {
        return Err(ckpt_err(&dst, "exists already; not replaced"));
    }
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| DiffusionError::io(&tmp, e))?;
    }
    std::fs::create_dir(&tmp).map_err(|e| DiffusionError::io(&tmp, e))?;
    for file in ["model.bpk", "ema.bpk"] {
        net.clone()
            .save_file(tmp.join(file))
            .map_err(|e| ckpt_err(&tmp.join(file), e))?;
    }
    build_optimizer(config)
        .save(tmp.join("optim.bpk"))
        .map_err(|e| ckpt_err(&tmp.join("optim.bpk"), e))?;
    let state = CheckpointState {
        schema_version: SCHEMA_VERSION,
        step,
        sampler: WindowSampler::new(config.train.seed, 0),
        horizon,
        transition_dim,
        config: config.clone(),
    };
    let json = serde_json::to_string_pretty(&state).expect("checkpoint state serializes");
    std::fs::write(tmp.join("state.json"), json)
        .map_err(|e| DiffusionError::io(tmp.join("state.json"), e))?;
    std::fs::rename(&tmp, &dst).map_err(|e| DiffusionError::io(&dst, e))?;
    Ok(dst)
}

/// Reads `dir/state.json`.
pub fn read_state(dir: &Path) -> Result<CheckpointState, DiffusionError> {
    let path = dir.join("state.json");
    let text = std::fs::read_to_string(&path).map_err(|e| DiffusionError::io(&path, e))?;
    let state: CheckpointState = serde_json::from_str(&text).map_err(|e| ckpt_err(&path, e))?;
    if state.schema_version != SCHEMA_VERSION {
        return Err(ckpt_err(
            &path,
            format!(
                "schema_version {} expected, found {}",
                SCHEMA_VERSION, state.schema_version
            ),
        ));
    }
    Ok(state)
}

/// The checkpoint with the most steps under `parent`, if any.
pub fn latest(parent: &Path) -> Option<PathBuf> {
    let entries = std::fs::read_dir(parent).ok()?;
    entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let step: u64 = name.strip_prefix("step_")?.parse().ok()?;
            Some((step, e.path()))
        })
        .max_by_key(|(step, _)| *step)
        .map(|(_, p)| p)
}

/// Loads the EMA weights of a checkpoint into a fresh (non-autodiff) network.
pub fn load_ema(
    dir: &Path,
    device: &Device,
) -> Result<(crate::denoiser::Denoiser, CheckpointState), DiffusionError> {
    let state = read_state(dir)?;
    let net = init_model(&state.config, state.horizon, state.transition_dim, device);
    let path = dir.join("ema.bpk");
    let net = net.try_load_file(&path).map_err(|e| ckpt_err(&path, e))?;
    Ok((net, state))
}

/// Rebuilds a [`Trainer`] from checkpoint `dir` on `device`, continuing exactly where it stopped.
/// `data` must be the same training data (its shape is checked).
pub fn load(dir: &Path, data: &TrainData, device: &Device) -> Result<Trainer, DiffusionError> {
    let state = read_state(dir)?;
    if (state.horizon, state.transition_dim) != (data.horizon, data.transition_dim) {
        return Err(ckpt_err(
            dir,
            format!(
                "model was trained on windows T×D = {}×{}, the data has {}×{}",
                state.horizon, state.transition_dim, data.horizon, data.transition_dim
            ),
        ));
    }
    if state.sampler.num_windows == 0 {
        return Err(ckpt_err(
            dir,
            "imported weights (gta diffusion import-official) hold no optimizer or sampler state \
             to resume from",
        ));
    }
    if state.sampler.num_windows != data.num_windows() {
        return Err(ckpt_err(
            dir,
            format!(
                "{} training windows expected, the data has {}",
                state.sampler.num_windows,
                data.num_windows()
            ),
        ));
    }
    let load_net = |file: &str| {
        let path = dir.join(file);
        init_model(&state.config, state.horizon, state.transition_dim, device)
            .try_load_file(&path)
            .map_err(|e| ckpt_err(&path, e))
    };
    let model = load_net("model.bpk")?;
    let ema = load_net("ema.bpk")?;
    let mut trainer = Trainer::with_model(state.config.clone(), data, model, device)?;
    let path = dir.join("optim.bpk");
    let optim = trainer
        .fresh_optimizer()
        .load(&path)
        .map_err(|e| ckpt_err(&path, e))?;
    let model = trainer.model().clone();
    trainer.restore(model, ema, optim, state.sampler, state.step);
    Ok(trainer)
}
