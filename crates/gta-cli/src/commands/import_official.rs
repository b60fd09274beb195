//! `gta diffusion import-official`: turn a checkpoint trained by the official GTA code into a
//! gta run folder that `gta augment --model RUN_DIR` uses like one gta trained (issue 10;
//! docs/import-official.md).
//!
//! The run folder holds `config.toml` (the architecture inferred from the checkpoint),
//! `normalizer.json` (the official data statistics, which `gta augment` uses instead of
//! recomputing them), `import.json` (provenance: source path, sha256, weight copy, step) and
//! `checkpoints/step_N/` whose model and EMA both hold the imported weights.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use gta_diffusion::checkpoint;
use gta_diffusion::import::{IO_TOLERANCE, WeightSet, compare_with_official_io, import_official};
use gta_diffusion::{Denoiser, DenoiserConfig, DiffusionConfig, EdmConfig, TrainConfig};
use gta_nn::{DeviceKind, init_device};

use super::diffusion::RunConfig;
use super::run_dir::{create_new, write_atomic};
use crate::exit::RuntimeFailure;

/// File of the imported normalizer inside a run folder.
pub const NORMALIZER_FILE: &str = "normalizer.json";
/// File of the import provenance inside a run folder.
pub const PROVENANCE_FILE: &str = "import.json";

/// Which weight copy of the official checkpoint to import.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum WeightsArg {
    /// `ema.ema_model.*`: the EMA weights the official sampler uses.
    Ema,
    /// `model.*`: the online weights.
    Model,
}

/// Arguments of `gta diffusion import-official`.
#[derive(clap::Args, Debug)]
pub struct ImportOfficialArgs {
    /// The official checkpoint (`torch.save` zip holding {step, model, opt, ema, scaler}).
    ckpt: PathBuf,
    /// Observation width of the dataset the model was trained on.
    #[arg(long)]
    obs_dim: usize,
    /// Action width of the dataset the model was trained on.
    #[arg(long)]
    act_dim: usize,
    /// Which weights to import.
    #[arg(long, value_enum, default_value = "ema")]
    weights: WeightsArg,
    /// The run folder to create (must not exist or be empty). May be left out with --check-io.
    #[arg(long, required_unless_present = "check_io")]
    out: Option<PathBuf>,
    /// Recompute the official outputs stored in this npz (`official_tiny_io.npz` layout) and
    /// fail if any relative error exceeds 1e-4; nothing is written when the check fails.
    #[arg(long)]
    check_io: Option<PathBuf>,
    /// Dataset the model was trained on, recorded in config.toml (then `gta augment` needs no
    /// --dataset).
    #[arg(long)]
    dataset: Option<PathBuf>,
    /// The model was trained without the −100 terminal penalty (the official code applies none
    /// to datasets whose name contains "maze").
    #[arg(long)]
    no_terminal_penalty: bool,
    /// Device for --check-io: cpu or cuda[:index].
    #[arg(long, default_value = "cpu")]
    device: String,
}

/// Runs `gta diffusion import-official`.
pub fn run(args: ImportOfficialArgs) -> anyhow::Result<()> {
    let kind: DeviceKind = args.device.parse()?;
    let device = init_device(kind, 0)?;
    let weights = match args.weights {
        WeightsArg::Ema => WeightSet::Ema,
        WeightsArg::Model => WeightSet::Model,
    };
    let ckpt = import_official(&args.ckpt, args.obs_dim, args.act_dim, weights, &device)?;
    let cfg = &ckpt.config;
    let net = Denoiser::MixerUnet(ckpt.net);
    eprintln!(
        "read {}: {:?} weights of step {}, MixerUnet dim {} dim_mults {:?}, T = {}, D = {} \
         (obs {} + act {} + reward), {} trainable parameters",
        args.ckpt.display(),
        weights,
        ckpt.step,
        cfg.dim,
        cfg.dim_mults,
        cfg.horizon,
        cfg.transition_dim,
        args.obs_dim,
        args.act_dim,
        net.num_trainable_params()
    );
    let edm = EdmConfig::default();
    if let Some(io) = &args.check_io {
        let errors = compare_with_official_io(&net, &ckpt.normalizer, edm.sigma_data, io, &device)?;
        let mut worst: Option<(&str, f64)> = None;
        for (name, err) in &errors {
            println!("{name}: relative error {err:.3e} (device {kind})");
            if *err > IO_TOLERANCE || !err.is_finite() {
                worst.get_or_insert((name, *err));
            }
        }
        if let Some((name, err)) = worst {
            bail!(RuntimeFailure(format!(
                "--check-io {}: `{name}` differs from the official output by {err:.3e} relative \
                 (at most {IO_TOLERANCE:e} expected)",
                io.display()
            )));
        }
        println!("all outputs within {IO_TOLERANCE:e} of the official code");
    }
    let Some(out) = &args.out else {
        return Ok(());
    };
    create_new(out)?;
    let mut run = RunConfig {
        dataset: args.dataset.clone(),
        model: DenoiserConfig::MixerUnet(cfg.clone()),
        edm,
        train: TrainConfig::default(),
        ..RunConfig::default()
    };
    run.data.horizon = cfg.horizon;
    run.data.terminal_penalty = !args.no_terminal_penalty;
    let diffusion = DiffusionConfig {
        model: run.model.clone(),
        edm: run.edm.clone(),
        train: run.train.clone(),
    };
    let saved = checkpoint::save_imported(
        &net,
        &diffusion,
        ckpt.step,
        (cfg.horizon, cfg.transition_dim),
        &out.join("checkpoints"),
    )?;
    let norm = serde_json::to_string_pretty(&ckpt.normalizer)? + "\n";
    write_atomic(&out.join(NORMALIZER_FILE), &norm)?;
    let source = std::fs::canonicalize(&args.ckpt).unwrap_or_else(|_| args.ckpt.clone());
    let provenance = serde_json::json!({
        "source": source.display().to_string(),
        "source_sha256": super::augment::sha256_of(&args.ckpt)?,
        "weights": format!("{weights:?}").to_lowercase(),
        "tensor_prefix": weights.prefix(),
        "step": ckpt.step,
        "obs_dim": args.obs_dim,
        "act_dim": args.act_dim,
        "official_code": "github.com/Jaewoopudding/GTA",
        "gta_version": env!("CARGO_PKG_VERSION"),
        "note": "model and EMA hold the imported weights; the optimizer state is not imported",
    });
    write_atomic(
        &out.join(PROVENANCE_FILE),
        &(serde_json::to_string_pretty(&provenance)? + "\n"),
    )?;
    // Written last: a folder without config.toml is not a usable run.
    let text = toml::to_string_pretty(&run).context("serializing the run config")?;
    write_atomic(&out.join("config.toml"), &text)?;
    println!(
        "wrote run folder {} (checkpoint {}); use it with `gta augment --model {}`",
        out.display(),
        saved.display(),
        out.display()
    );
    Ok(())
}

/// The imported normalizer of run folder `run_dir`, if it has one (`normalizer.json`, written
/// by [`run`]); its width must be `row_dim`.
pub fn read_normalizer(
    run_dir: &Path,
    row_dim: usize,
) -> anyhow::Result<Option<gta_data::Normalizer>> {
    let path = run_dir.join(NORMALIZER_FILE);
    if !path.exists() {
        return Ok(None);
    }
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let norm: gta_data::Normalizer =
        serde_json::from_str(&text).with_context(|| format!("{}", path.display()))?;
    if norm.mean.len() != row_dim || norm.std.len() != row_dim {
        bail!(
            "{}: `mean` / `std` of {} / {} columns, expected {row_dim} (obs + act + 1)",
            path.display(),
            norm.mean.len(),
            norm.std.len()
        );
    }
    Ok(Some(norm))
}
