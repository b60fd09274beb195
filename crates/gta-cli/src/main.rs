//! `gta`: Generative Trajectory Augmentation (GTA, NeurIPS 2024) for offline reinforcement learning.
//!
//! This binary is the only crate that prints. Each subcommand group lives in its own module under
//! `commands/`; library crates return values and `Result`s.

mod commands;
mod exit;
mod experiment;

use clap::{Parser, Subcommand};

/// gta — train a return-conditioned diffusion model on offline-RL trajectories, augment the
/// dataset with amplified-return guidance, and train/evaluate offline-RL agents on the result.
#[derive(Parser, Debug)]
#[command(name = "gta", version, about, long_about = None, propagate_version = true)]
struct Cli {
    /// Log level for diagnostics on stderr (error, warn, info, debug, trace); RUST_LOG overrides it.
    #[arg(long, global = true, default_value = "warn")]
    log: String,

    /// GPU kernel/autotune cache directory (CUDA only; default $GTA_GPU_CACHE, else
    /// ~/.cache/gta/cubecl). A cubecl.toml in the working directory takes precedence.
    #[arg(long, global = true, value_name = "DIR")]
    gpu_cache: Option<std::path::PathBuf>,

    /// Autotune effort for kernel shapes not yet in the GPU cache: minimal (fastest cold start,
    /// default), balanced, extensive or full. CUBECL_AUTOTUNE_LEVEL also sets it.
    #[arg(long, global = true, value_name = "LEVEL")]
    autotune_level: Option<gta_nn::AutotuneLevel>,

    /// Precision of f32 matrix products on the GPU: `high` (TF32 tensor cores, default; about
    /// 1e-3 relative per product) or `highest` (true f32, slower; matches CPU results to f32
    /// rounding, e.g. for `gta diffusion import-official --check-io`). No effect on the CPU.
    #[arg(long, global = true, value_name = "P", default_value = "high")]
    matmul_precision: gta_nn::MatmulPrecision,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Inspect, validate and convert datasets (D4RL HDF5, Minari folders, .npz).
    #[command(subcommand)]
    Data(commands::data::DataCmd),
    /// Native MuJoCo environments: list them, roll out simple policies.
    #[command(subcommand)]
    Env(commands::env::EnvCmd),
    /// Train the return-conditioned diffusion model (EDM + MixerUnet).
    #[command(subcommand)]
    Diffusion(commands::diffusion::DiffusionCmd),
    /// Augment a dataset: partial noising + amplified-return guidance with a trained model (GTA
    /// stage B).
    Augment(commands::augment::AugmentCmd),
    /// Offline RL on original or augmented data: train (TD3+BC, IQL) and evaluate in native envs.
    #[command(subcommand)]
    Rl(commands::rl::RlCmd),
    /// Online SAC in the native envs: train behaviour policies and export them for the
    /// D4RL-style dataset recipes (`gta data make hopper-medium`).
    #[command(subcommand)]
    Sac(commands::sac::SacCmd),
    /// Data quality of generated transitions: oracle reward, dynamic MSE, reward MSE, novelty.
    Quality(commands::quality::QualityArgs),
    /// The main job on the embedded default: dataset → diffusion → augmentation → quality, on
    /// the CPU in a few minutes.
    Demo(commands::demo::DemoArgs),
    /// Experiment grids (datasets × augmentations × algorithms × seeds): run restart-safe cells,
    /// list them for a cluster scheduler, and report tables, t-tests and plots.
    #[command(subcommand)]
    Experiment(commands::experiment::ExperimentCmd),
    /// The GPU kernel and autotune cache: warm it up, export it, import it on a fresh machine.
    #[command(subcommand)]
    Gpu(commands::gpu::GpuCmd),
    /// Benchmarks that print throughput and its ratio to the official code's anchors.
    #[command(subcommand)]
    Bench(commands::bench::BenchCmd),
}

fn main() {
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&cli.log));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();

    match gta_nn::GpuCacheOptions::resolve(
        cli.gpu_cache.clone(),
        cli.autotune_level,
        gta_nn::AutotuneLevel::Minimal,
    ) {
        Ok(opts) => {
            if cfg!(feature = "cuda") {
                gta_nn::gpu_cache::set_driver_cache_env(&opts);
            }
            gta_nn::gpu_cache::request(opts)
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(exit::BAD_INPUT);
        }
    }

    gta_nn::set_matmul_precision(cli.matmul_precision);

    let result = match cli.command {
        Command::Data(cmd) => commands::data::run(cmd),
        Command::Env(cmd) => commands::env::run(cmd),
        Command::Diffusion(cmd) => commands::diffusion::run(cmd),
        Command::Augment(cmd) => commands::augment::run_cmd(cmd),
        Command::Rl(cmd) => commands::rl::run(cmd),
        Command::Sac(cmd) => commands::sac::run(cmd),
        Command::Quality(args) => commands::quality::run(args),
        Command::Demo(args) => commands::demo::run(args),
        Command::Experiment(cmd) => commands::experiment::run(cmd),
        Command::Gpu(cmd) => commands::gpu::run(cmd),
        Command::Bench(cmd) => commands::bench::run(cmd),
    };
    if let Err(err) = result {
        // One line: the chain of causes joined by ": " (anyhow's alternate format).
        eprintln!("error: {err:#}");
        std::process::exit(exit::code_for(&err));
    }
}
