//! `gta augment`: GTA's stage B (method.md §6). Loads a model trained by `gta diffusion train`,
//! picks source windows of the dataset, partially noises and denoises them towards amplified
//! returns, and writes the generated transitions as a D4RL-layout file.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use gta_augment::{AugmentConfig, ConditionMode, EdmGenerator, Provenance};
use gta_data::{DenseReweighting, Reweighting, SparseReweighting};
use gta_diffusion::checkpoint;
use gta_diffusion::sampler::CfgHeun;
use gta_nn::{DeviceKind, init_device};
use sha2::{Digest, Sha256};

use crate::commands::diffusion::{RunConfig, read_run_config};
use crate::exit::RuntimeFailure;

/// Conditioning of the generated windows.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum ConditionArg {
    /// c = 0.01·amp(R, α): α·R above zero, (2 − α)·R below (paper eq. 11; GTA).
    Amplified,
    /// Every window gets the largest window return of the data (ablation, method.md §11).
    Fixed,
    /// No return guidance: the unconditional model only (w = 0).
    Unconditioned,
    /// Amplified reward inpainting (paper E.6): w = 0, rewards pinned to α·r_src.
    RewardInpainting,
}

/// Which source windows to augment.
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum ReweightArg {
    /// Shuffled passes over all windows.
    None,
    /// Dense-reward bins of the return (method.md §2.6; locomotion, Table 9).
    Dense,
    /// Sparse-reward episode weighting: successful episodes λ times more often (maze2d, antmaze).
    Sparse,
}

/// `gta augment [FLAGS]` (GTA) or `gta augment s4rl|...` (baselines).
#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct AugmentCmd {
    /// A baseline augmentation instead of GTA.
    #[command(subcommand)]
    baseline: Option<BaselineCmd>,
    /// GTA's flags (when no baseline is named).
    #[command(flatten)]
    gta: Option<AugmentArgs>,
}

/// Baseline augmentations (method.md §8), written in the same layout as GTA's output.
#[derive(clap::Subcommand, Debug)]
pub enum BaselineCmd {
    /// S4RL: noisy copies of the original transitions (Gaussian state noise σ = 3e-4 in
    /// normalized units, s and s′ independently; actions, rewards, dones unchanged).
    S4rl(S4rlArgs),
    /// SynthER: transitions sampled from pure noise by an unconditional transition-level model
    /// (`gta diffusion train --denoiser resmlp`), 128-step churned Heun, no guidance, terminal =
    /// value > 0.5 (method.md §8.1).
    Synther(super::synther::SyntherArgs),
}

/// Arguments of `gta augment s4rl`.
#[derive(clap::Args, Debug)]
pub struct S4rlArgs {
    /// The original dataset (D4RL .hdf5, .npz or Minari folder).
    #[arg(long)]
    dataset: PathBuf,
    /// Output file (.hdf5 or .npz), written to a temporary name and renamed when complete.
    #[arg(long)]
    out: PathBuf,
    /// σ, noise std in normalized state units.
    #[arg(long, default_value_t = 3e-4)]
    sigma: f64,
    /// Noisy copies of the dataset (2, as the historical two noisy copies per batch).
    #[arg(long, default_value_t = 2)]
    copies: usize,
    /// Add N(0, σ²) to raw states instead of σ·std per dimension.
    #[arg(long)]
    raw_units: bool,
    /// Also write the original transitions in front of the noisy ones.
    #[arg(long)]
    include_original: bool,
    /// Seed of the noise.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Replace an existing output file.
    #[arg(long)]
    overwrite: bool,
}

/// Runs `gta augment` or one of its baselines.
pub fn run_cmd(cmd: AugmentCmd) -> anyhow::Result<()> {
    match (cmd.baseline, cmd.gta) {
        (Some(BaselineCmd::S4rl(a)), _) => s4rl(a),
        (Some(BaselineCmd::Synther(a)), _) => super::synther::augment(a),
        (None, Some(args)) => run(args),
        (None, None) => bail!("gta augment needs --model and --out (or a baseline: s4rl, synther)"),
    }
}

/// `gta augment s4rl`.
fn s4rl(a: S4rlArgs) -> anyhow::Result<()> {
    if a.out.exists() && !a.overwrite {
        bail!(
            "--out {}: file exists; pass --overwrite to replace it",
            a.out.display()
        );
    }
    let dataset = gta_data::read(&a.dataset, &Default::default())
        .with_context(|| format!("reading dataset {}", a.dataset.display()))?;
    let cfg = gta_augment::S4rlConfig {
        sigma: a.sigma,
        copies: a.copies,
        normalized: !a.raw_units,
        include_original: a.include_original,
        seed: a.seed,
    };
    let sha = sha256_of(&a.dataset)?;
    let ds = gta_augment::s4rl_dataset(&dataset, &cfg, &sha, env!("CARGO_PKG_VERSION"))
        .with_context(|| format!("dataset {}", a.dataset.display()))?;
    let n = ds.arrays.get("rewards").map_or(0, |r| r.shape[0]);
    gta_data::write(
        &ds,
        &a.out,
        &gta_data::WriteOptions {
            overwrite: a.overwrite,
            ..Default::default()
        },
    )?;
    println!(
        "wrote {} ({n} transitions, S4RL σ = {}, {} copies)",
        a.out.display(),
        a.sigma,
        a.copies
    );
    Ok(())
}

/// Arguments of `gta augment`.
#[derive(clap::Args, Debug)]
pub struct AugmentArgs {
    /// Run folder of a trained model (`gta diffusion train --out RUN_DIR`); its latest checkpoint's
    /// EMA weights are used.
    #[arg(long)]
    model: PathBuf,
    /// The dataset whose windows are augmented (default: the dataset the model was trained on).
    #[arg(long)]
    dataset: Option<PathBuf>,
    /// Output file (.hdf5 or .npz, D4RL layout). Written to a temporary name, renamed when complete;
    /// an interrupted run resumes from the parts folder `.<name>.gta-parts` beside it.
    #[arg(long)]
    out: PathBuf,
    /// A TOML file with an `AugmentConfig` (every field optional; flags below override it).
    #[arg(long)]
    config: Option<PathBuf>,
    /// μ, partial-noising ratio: denoising starts at step ⌊128·(1 − μ)⌋ (default 0.5).
    #[arg(long)]
    mu: Option<f64>,
    /// α, return multiplier of the amplified condition (default 1.3).
    #[arg(long)]
    alpha: Option<f64>,
    /// w, classifier-free guidance scale: 1 = conditional model, 0 = unconditional (default 2.0).
    #[arg(long)]
    guidance_scale: Option<f64>,
    /// Generated transitions to write (default 5,000,000).
    #[arg(long)]
    transitions: Option<usize>,
    /// Windows denoised per batch on each device (default 1000; with `--devices`, a batch holds
    /// this many windows per GPU).
    #[arg(long)]
    batch_windows: Option<usize>,
    /// How each window's condition is chosen.
    #[arg(long, value_enum)]
    condition: Option<ConditionArg>,
    /// Source-window selection.
    #[arg(long, value_enum)]
    reweighting: Option<ReweightArg>,
    /// N_B, bins of the dense reweighting (Table 9: 20, 50 or 100).
    #[arg(long, default_value_t = 50)]
    bins: usize,
    /// λ, weight of successful episodes in the sparse reweighting (10 or 30).
    #[arg(long, default_value_t = 10.0)]
    lambda: f64,
    /// Use only windows of episodes whose (undiscounted) return is at least this (paper E.2).
    #[arg(long)]
    min_episode_return: Option<f64>,
    /// Also write the original transitions (q-learning view) in front of the generated ones.
    #[arg(long)]
    include_original: bool,
    /// Reproduce the official code's sampler: guidance only on the Euler step, condition dropout
    /// 0.25 left on while sampling, terminal penalty kept in generated rewards.
    #[arg(long)]
    reference: bool,
    /// The denoiser's dtype while sampling: f32 (default) or bf16 (mixed precision: network
    /// weights and activations in bfloat16, the sampler state and the embeddings in f32; about
    /// 1.5× faster on an H100, same data quality: docs/gpu.md).
    #[arg(long, value_parser = ["f32", "bf16"])]
    network_dtype: Option<String>,
    /// Device: cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Several GPUs of this host, e.g. `cuda:0,cuda:1`: each batch of windows is cut into one
    /// part per GPU and the parts are generated concurrently (no communication; the noise of
    /// part i is seeded from the batch seed and i, so the output depends on the GPU count).
    #[arg(long, conflicts_with = "device", value_name = "LIST")]
    devices: Option<String>,
    /// Seed of source-window choice and sampler noise (default 0).
    #[arg(long)]
    seed: Option<u64>,
    /// Replace an existing output file.
    #[arg(long)]
    overwrite: bool,
    /// Print the summary as one JSON object.
    #[arg(long)]
    json: bool,
}

fn resolve(args: &AugmentArgs, run: &RunConfig) -> anyhow::Result<AugmentConfig> {
    let mut cfg = match &args.config {
        Some(p) => {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            toml::from_str(&text).with_context(|| format!("config {}", p.display()))?
        }
        None => AugmentConfig::default(),
    };
    if let Some(v) = args.mu {
        cfg.mu = v;
    }
    if let Some(v) = args.alpha {
        cfg.alpha = v;
    }
    if let Some(v) = args.guidance_scale {
        cfg.sampler.guidance_scale = v;
    }
    if let Some(v) = &args.network_dtype {
        cfg.sampler.network_dtype = v.parse().map_err(anyhow::Error::msg)?;
    }
    if let Some(v) = args.transitions {
        cfg.transitions = v;
    }
    if let Some(v) = args.batch_windows {
        cfg.batch_windows = v;
    }
    if let Some(v) = args.seed {
        cfg.seed = v;
    }
    if let Some(c) = args.condition {
        cfg.condition = match c {
            ConditionArg::Amplified => ConditionMode::Amplified,
            ConditionArg::Fixed => ConditionMode::Fixed { factor: 1.0 },
            ConditionArg::Unconditioned => ConditionMode::Unconditioned,
            ConditionArg::RewardInpainting => ConditionMode::RewardInpainting,
        };
    }
    if let Some(r) = args.reweighting {
        cfg.reweighting = match r {
            ReweightArg::None => Reweighting::None,
            ReweightArg::Dense => Reweighting::Dense(DenseReweighting {
                n_bins: args.bins,
                ..Default::default()
            }),
            ReweightArg::Sparse => Reweighting::Sparse(SparseReweighting {
                lambda: args.lambda,
                ..Default::default()
            }),
        };
    }
    if args.min_episode_return.is_some() {
        cfg.min_episode_return = args.min_episode_return;
    }
    cfg.include_original |= args.include_original;
    if args.reference {
        cfg.sampler.cfg_heun = CfgHeun::CondOnly;
        cfg.sample_cond_dropout = 0.25;
        cfg.restore_terminal_reward = false;
    }
    // The penalty the model was trained with (none when the windows were built without it).
    cfg.terminal_penalty = if run.data.terminal_penalty {
        run.data.penalty
    } else {
        0.0
    };
    cfg.validate()?;
    Ok(cfg)
}

/// sha256 of a file, or of a Minari folder's `data/main_data.hdf5`.
pub(crate) fn sha256_of(path: &Path) -> anyhow::Result<String> {
    let file = if path.is_dir() {
        [
            path.join("data/main_data.hdf5"),
            path.join("main_data.hdf5"),
        ]
        .into_iter()
        .find(|p| p.exists())
        .with_context(|| format!("{}: no main_data.hdf5 to hash", path.display()))?
    } else {
        path.to_path_buf()
    };
    let mut f =
        std::fs::File::open(&file).with_context(|| format!("opening {}", file.display()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f
            .read(&mut buf)
            .with_context(|| format!("reading {}", file.display()))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// Runs `gta augment`.
pub fn run(args: AugmentArgs) -> anyhow::Result<()> {
    let run_cfg = read_run_config(&args.model.join("config.toml"))?;
    let mut cfg = resolve(&args, &run_cfg)?;
    let dataset_path = args
        .dataset
        .clone()
        .or_else(|| run_cfg.dataset.clone())
        .context("--dataset PATH is required (the model's config names no dataset)")?;
    if args.out.exists() && !args.overwrite {
        bail!(
            "--out {}: file exists; pass --overwrite to replace it",
            args.out.display()
        );
    }
    let dataset = gta_data::read(&dataset_path, &Default::default())
        .with_context(|| format!("reading dataset {}", dataset_path.display()))?;
    let traj = gta_data::Trajectories::from_dataset(&dataset, &Default::default())
        .with_context(|| format!("dataset {}", dataset_path.display()))?;
    let mut set = gta_data::WindowSet::build(&traj, &run_cfg.data)
        .with_context(|| format!("cutting windows of {}", dataset_path.display()))?;
    // A model imported from the official code brings the normalizer it was trained with.
    if let Some(norm) = super::import_official::read_normalizer(&args.model, set.row_dim())? {
        set.normalizer = norm;
    }
    if set.is_empty() {
        bail!(
            "dataset {}: no episode is long enough for windows of T = {} rows",
            dataset_path.display(),
            set.horizon
        );
    }
    let ckpt_dir = args.model.join("checkpoints");
    let last = checkpoint::latest(&ckpt_dir)
        .with_context(|| format!("no checkpoint in {}", ckpt_dir.display()))?;
    let devices = match &args.devices {
        Some(list) => {
            gta_nn::device::init_devices(&gta_nn::device::parse_device_list(list)?, cfg.seed)?
        }
        None => vec![init_device(args.device.parse()?, cfg.seed)?],
    };
    if cfg.sampler.network_dtype != gta_diffusion::sampler::NetworkDtype::F32
        && args.devices.is_none()
        && matches!(args.device.parse()?, DeviceKind::Cpu)
    {
        tracing::warn!(
            "--network-dtype bf16 on the CPU: burn's CPU ops accumulate in bf16 there (less accurate \
             than on CUDA, where gta's kernels and cuBLAS accumulate in f32) and are not faster; \
             mixed precision is meant for GPUs"
        );
    }
    // `batch_windows` is per device: each GPU keeps network calls of the size it runs best at
    // (2 H100s: 8,754 transitions/s with 500 windows each, slower than one H100 with 1,000).
    cfg.batch_windows *= devices.len();
    let (net, state) = checkpoint::load_ema(&last, &devices[0])?;
    if (state.horizon, state.transition_dim) != (set.horizon, set.row_dim()) {
        bail!(
            "--dataset {}: windows are {}x{} but the model in {} was trained on {}x{} (obs + act + 1 columns)",
            dataset_path.display(),
            set.horizon,
            set.row_dim(),
            args.model.display(),
            state.horizon,
            state.transition_dim
        );
    }
    let provenance = Provenance {
        dataset_sha256: sha256_of(&dataset_path)?,
        model_sha256: sha256_of(&last.join("ema.bpk"))?,
        gta_version: env!("CARGO_PKG_VERSION").to_string(),
    };
    // One copy of the EMA weights per device (the first is already loaded).
    let mut nets = vec![net];
    for device in &devices[1..] {
        nets.push(checkpoint::load_ema(&last, device)?.0);
    }
    let parts = nets
        .into_iter()
        .zip(&devices)
        .map(|(net, device)| {
            let sigma_data = state.config.edm.sigma_data;
            EdmGenerator::new(
                net,
                device.clone(),
                sigma_data,
                &cfg,
                set.horizon,
                set.row_dim(),
            )
        })
        .collect();
    let mut generator = gta_augment::SplitGenerator::new(parts);
    let bar = indicatif::ProgressBar::new(cfg.transitions as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:30} {pos}/{len} transitions  {per_sec}  ETA {eta}",
        )
        .expect("valid template"),
    );
    let t0 = Instant::now();
    let report = gta_augment::augment(
        &set,
        &mut generator,
        &cfg,
        Some(&dataset),
        &provenance,
        &args.out,
        args.overwrite,
        &mut |p| bar.set_position(p.transitions_done as u64),
    )
    .map_err(|e| match e {
        gta_augment::AugmentError::Io(..) => anyhow::Error::new(RuntimeFailure(e.to_string())),
        other => anyhow::Error::new(other),
    })?;
    bar.finish_and_clear();
    let secs = t0.elapsed().as_secs_f64();
    if args.json {
        let mut v = serde_json::to_value(&report)?;
        v["seconds"] = secs.into();
        v["transitions_per_s"] = (report.transitions as f64 / secs).into();
        v["out"] = args.out.display().to_string().into();
        println!("{v}");
    } else {
        println!(
            "wrote {} generated transitions ({} windows) to {}",
            report.transitions,
            report.windows,
            args.out.display()
        );
        if report.original_transitions > 0 {
            println!(
                "  plus {} original transitions in front",
                report.original_transitions
            );
        }
        println!(
            "  mean reward: source {:.4} -> generated {:.4}",
            report.reward_mean_source, report.reward_mean_generated
        );
        println!(
            "  mean condition: source {:.4} -> used {:.4}",
            report.cond_mean_source, report.cond_mean_used
        );
        println!("  actions outside [-1, 1]: {}", report.actions_out_of_range);
        println!(
            "  {:.1} s, {:.0} transitions/s",
            secs,
            report.transitions as f64 / secs
        );
    }
    Ok(())
}

/// The official code's augmentation speed on one H100 (performance.md §1): generated transitions/s.
const OFFICIAL_TRANSITIONS_PER_S: f64 = 2110.0;

/// Arguments of `gta bench augment`.
#[derive(clap::Args, Debug)]
pub struct BenchAugmentArgs {
    /// Device: cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Windows per batch (the reference uses 1000).
    #[arg(long, default_value_t = 1000)]
    batch: usize,
    /// Timed batches (after the warm-up batch).
    #[arg(long, default_value_t = 2)]
    batches: usize,
    /// μ (0.5 in the anchor).
    #[arg(long, default_value_t = 0.5)]
    mu: f64,
    /// Reproduce the official sampler's call pattern (Heun correction conditional only: 191 calls
    /// per window at μ = 0.5 instead of 254).
    #[arg(long)]
    reference: bool,
    /// Float dtype of every tensor (weights, sampler state): f32 (the default and the only one
    /// `gta augment` uses), or bf16 / f16 to measure what half precision would buy (a speed probe:
    /// pure half precision is too coarse for the sampler's small noise levels).
    #[arg(long, default_value = "f32", value_parser = ["f32", "bf16", "f16"])]
    float_dtype: String,
    /// The denoiser's dtype while sampling (as `gta augment --network-dtype`): f32, or bf16 for
    /// mixed precision with an f32 sampler state.
    #[arg(long, default_value = "f32", value_parser = ["f32", "bf16"])]
    network_dtype: String,
    /// Several GPUs (as `gta augment --devices`): the batch is cut into one part per GPU.
    #[arg(long, conflicts_with = "device", value_name = "LIST")]
    devices: Option<String>,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

/// `gta bench augment`: generated transitions/s of the halfcheetah-shaped model (D = 24, T = 32,
/// 29.6M parameters, random weights) at μ = 0.5, w = 2, against the official 2,110/s on one H100.
pub fn bench(args: BenchAugmentArgs) -> anyhow::Result<()> {
    if args.batch == 0 || args.batches == 0 {
        bail!("--batch and --batches must be positive");
    }
    let kinds = match &args.devices {
        Some(list) => gta_nn::device::parse_device_list(list)?,
        None => vec![args.device.parse::<DeviceKind>()?],
    };
    let devices = match kinds.len() {
        1 => vec![init_device(kinds[0], 0)?],
        _ => gta_nn::device::init_devices(&kinds, 0)?,
    };
    let kind = kinds
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let config = gta_diffusion::DiffusionConfig::default();
    let (t, d) = (32usize, 24usize);
    let mut cfg = AugmentConfig {
        mu: args.mu,
        ..AugmentConfig::default()
    };
    if args.reference {
        cfg.sampler.cfg_heun = CfgHeun::CondOnly;
    }
    cfg.sampler.network_dtype = args.network_dtype.parse().map_err(anyhow::Error::msg)?;
    let calls = cfg.sampler.network_calls(args.mu);
    let mut parts = Vec::with_capacity(devices.len());
    for mut device in devices {
        if args.float_dtype != "f32" {
            gta_nn::precision::configure_float_dtype(&mut device, &args.float_dtype)
                .map_err(|e| anyhow::anyhow!("--float-dtype: device {kind}: {e}"))?;
        }
        let net = gta_diffusion::train::init_model(&config, t, d, &device);
        parts.push(EdmGenerator::new(net, device, 1.0, &cfg, t, d));
    }
    let mut generator = gta_augment::SplitGenerator::new(parts);
    let source: Vec<f32> = (0..args.batch * t * d)
        .map(|i| ((i as f32) * 0.618).sin())
        .collect();
    let cond: Vec<f32> = (0..args.batch)
        .map(|i| 4.8 + (i % 7) as f32 * 0.1)
        .collect();
    use gta_augment::WindowGenerator;
    let t_warm = Instant::now();
    generator.generate(&source, &cond, args.batch, 0, None)?;
    let warmup_s = t_warm.elapsed().as_secs_f64();
    let t0 = Instant::now();
    let mut mean_abs = 0.0;
    for k in 0..args.batches {
        let out = generator.generate(&source, &cond, args.batch, k as u64 + 1, None)?;
        if out.iter().any(|v| !v.is_finite()) {
            bail!(RuntimeFailure(format!(
                "batch {k}: non-finite generated values"
            )));
        }
        // A fingerprint of the output for A/B runs (same seed: builds or kernels that compute
        // the same function give nearly the same value).
        mean_abs = out.iter().map(|v| v.abs() as f64).sum::<f64>() / out.len() as f64;
    }
    let secs = t0.elapsed().as_secs_f64();
    let per_s = (args.batch * args.batches * (t - 1)) as f64 / secs;
    let ratio = per_s / OFFICIAL_TRANSITIONS_PER_S;
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "bench": "augment", "device": kind, "batch_windows": args.batch,
                "batches": args.batches, "mu": args.mu, "network_calls_per_window": calls,
                "float_dtype": args.float_dtype, "network_dtype": args.network_dtype,
                "mean_abs_generated_last_batch": mean_abs,
                "warmup_s": warmup_s, "seconds": secs, "transitions_per_s": per_s,
                "ratio_to_official_h100": ratio, "matmul": gta_nn::precision::matmul_route(),
            })
        );
    } else {
        println!(
            "augment bench on {kind}: {} windows x {} batches at mu {} ({} network calls per window)",
            args.batch, args.batches, args.mu, calls
        );
        println!("  warm-up batch (compilation, autotune) {warmup_s:.1} s");
        println!(
            "  {per_s:.0} generated transitions/s = {ratio:.2}x the official code on one H100 (2,110/s)"
        );
    }
    Ok(())
}
