//! The SynthER baseline from the command line (method.md §8.1): the training side of
//! `gta diffusion train --denoiser resmlp` (transition data, SynthER's training defaults, the
//! stored normalizer) and `gta augment synther` (unguided generation from pure noise).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use gta_augment::synther::{self, EdmTransitionSource, NORMALIZER_FILE, TransitionNormalizer};
use gta_augment::{Provenance, SyntherConfig};
use gta_diffusion::schedule::LrScheduleKind;
use gta_diffusion::{DenoiserConfig, ResMlpConfig, TrainData};
use gta_nn::{DeviceKind, init_device};
use serde::{Deserialize, Serialize};

use super::augment::sha256_of;
use super::diffusion::{RunConfig, read_run_config};
use super::run_dir::write_atomic;
use crate::exit::RuntimeFailure;

/// SynthER's batch size switch (method.md §8.1): 1024 from this many transitions on, else 256.
pub const LARGE_DATASET: usize = 800_000;

/// `RUN_DIR/synther_normalizer.json`: the transition normalizer and the training data's hash.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SyntherRunFile {
    /// sha256 of the dataset the model was trained on (recorded in generated files).
    pub dataset_sha256: String,
    /// Widths and per-column statistics (terminal column left raw).
    #[serde(flatten)]
    pub normalizer: TransitionNormalizer,
}

/// `--denoiser` of `gta diffusion train`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum DenoiserArg {
    /// GTA's MixerUnet on return-conditioned windows (method.md §3).
    MixerUnet,
    /// SynthER's residual MLP on single transitions, unconditional (method.md §8.1).
    Resmlp,
}

/// Sets `cfg.model` from `--denoiser` (keeping a config file's settings of the same kind).
pub fn apply_denoiser_arg(cfg: &mut RunConfig, arg: Option<DenoiserArg>) {
    match (arg, &cfg.model) {
        (Some(DenoiserArg::Resmlp), DenoiserConfig::MixerUnet(_)) => {
            cfg.model = DenoiserConfig::ResMlp(ResMlpConfig::default())
        }
        (Some(DenoiserArg::MixerUnet), DenoiserConfig::ResMlp(_)) => {
            cfg.model = DenoiserConfig::default()
        }
        _ => {}
    }
}

/// SynthER's training defaults (method.md §8.1 "Training") for every key the config file left
/// out: 100k steps, one cosine annealing to 0 without warm-up, batch 1024 from 800k transitions
/// on (else 256), a checkpoint every 50k steps. `config_text` is the `--config` file, if any.
pub fn apply_training_defaults(
    cfg: &mut RunConfig,
    config_text: Option<&str>,
    transitions: usize,
) -> anyhow::Result<()> {
    let table: toml::Table = match config_text {
        Some(t) => toml::from_str(t).context("reading the config's keys")?,
        None => toml::Table::new(),
    };
    let given = |key: &str| {
        table
            .get("train")
            .and_then(|t| t.as_table())
            .is_some_and(|t| t.contains_key(key))
    };
    let t = &mut cfg.train;
    if !given("steps") {
        t.steps = 100_000;
    }
    if !given("batch_size") {
        t.batch_size = if transitions >= LARGE_DATASET {
            1024
        } else {
            256
        };
    }
    if !given("lr_schedule") {
        t.lr_schedule = LrScheduleKind::WarmupCosine;
    }
    if !given("warmup_steps") {
        t.warmup_steps = 0;
    }
    if !given("checkpoint_every") {
        t.checkpoint_every = 50_000;
    }
    Ok(())
}

/// Reads the dataset and builds SynthER's training data and normalizer (method.md §8.1).
pub fn load_train_data(path: &Path) -> anyhow::Result<(TrainData, TransitionNormalizer)> {
    let dataset = gta_data::read(path, &gta_data::ReadOptions::default())
        .with_context(|| format!("reading dataset {}", path.display()))?;
    synther::synther_train_data(&dataset).with_context(|| format!("dataset {}", path.display()))
}

/// Writes `RUN_DIR/synther_normalizer.json`.
pub fn write_normalizer(
    run_dir: &Path,
    dataset: &Path,
    normalizer: &TransitionNormalizer,
) -> anyhow::Result<()> {
    let file = SyntherRunFile {
        dataset_sha256: sha256_of(dataset)?,
        normalizer: normalizer.clone(),
    };
    let text = serde_json::to_string_pretty(&file).context("serializing the normalizer")?;
    write_atomic(&run_dir.join(NORMALIZER_FILE), &text)
}

/// Arguments of `gta augment synther`.
#[derive(clap::Args, Debug)]
pub struct SyntherArgs {
    /// Run folder of a SynthER model (`gta diffusion train --denoiser resmlp --out RUN_DIR`);
    /// its latest checkpoint's EMA weights are used.
    #[arg(long)]
    model: PathBuf,
    /// Output file (.hdf5 or .npz, D4RL layout), written to a temporary name and renamed.
    #[arg(long)]
    out: PathBuf,
    /// Generated transitions to write (exactly this many).
    #[arg(long, default_value_t = 5_000_000)]
    transitions: usize,
    /// Transitions sampled per batch on the device.
    #[arg(long, default_value_t = 100_000)]
    batch: usize,
    /// Device: cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Seed of the sampler noise.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Replace an existing output file.
    #[arg(long)]
    overwrite: bool,
    /// Print the summary as one JSON object.
    #[arg(long)]
    json: bool,
}

/// `gta augment synther`: 128-step churned Heun sampling from pure noise, no guidance,
/// terminal = value > 0.5, un-normalized with the run's stored normalizer.
pub fn augment(a: SyntherArgs) -> anyhow::Result<()> {
    if a.out.exists() && !a.overwrite {
        bail!(
            "--out {}: file exists; pass --overwrite to replace it",
            a.out.display()
        );
    }
    let run_cfg = read_run_config(&a.model.join("config.toml"))?;
    if !matches!(run_cfg.model, DenoiserConfig::ResMlp(_)) {
        bail!(
            "--model {}: not a SynthER run (model.kind is not \"res_mlp\"); train one with \
             `gta diffusion train --denoiser resmlp`",
            a.model.display()
        );
    }
    let norm_path = a.model.join(NORMALIZER_FILE);
    let text = std::fs::read_to_string(&norm_path)
        .with_context(|| format!("reading {}", norm_path.display()))?;
    let run_file: SyntherRunFile =
        serde_json::from_str(&text).with_context(|| format!("{}", norm_path.display()))?;
    let norm = run_file.normalizer;
    norm.validate()
        .with_context(|| format!("{}", norm_path.display()))?;
    let cfg = SyntherConfig {
        transitions: a.transitions,
        batch: a.batch,
        seed: a.seed,
        ..SyntherConfig::default()
    };
    cfg.validate()?;
    let ckpt_dir = a.model.join("checkpoints");
    let last = gta_diffusion::checkpoint::latest(&ckpt_dir)
        .with_context(|| format!("no checkpoint in {}", ckpt_dir.display()))?;
    let kind: DeviceKind = a.device.parse()?;
    let device = init_device(kind, a.seed)?;
    let (net, state) = gta_diffusion::checkpoint::load_ema(&last, &device)?;
    if (state.horizon, state.transition_dim) != (1, norm.transition_dim()) {
        bail!(
            "{}: the model was trained on {}x{} rows, the normalizer {} describes 1x{} \
             transition vectors (2·obs + act + 2)",
            last.display(),
            state.horizon,
            state.transition_dim,
            norm_path.display(),
            norm.transition_dim()
        );
    }
    let provenance = Provenance {
        dataset_sha256: run_file.dataset_sha256,
        model_sha256: sha256_of(&last.join("ema.bpk"))?,
        gta_version: env!("CARGO_PKG_VERSION").to_string(),
    };
    let mut source = EdmTransitionSource::new(
        net,
        device,
        state.config.edm.sigma_data,
        &cfg.sampler,
        norm.transition_dim(),
    );
    let bar = indicatif::ProgressBar::new(cfg.transitions as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:30} {pos}/{len} transitions  {per_sec}  ETA {eta}",
        )
        .expect("valid template"),
    );
    let t0 = Instant::now();
    let (tr, report) = synther::generate(&mut source, &norm, &cfg, &mut |p| {
        bar.set_position(p.transitions_done as u64)
    })
    .map_err(|e| anyhow::Error::new(RuntimeFailure(e.to_string())))?;
    bar.finish_and_clear();
    let ds = synther::synther_dataset(tr, &norm, &cfg, &report, &provenance, &a.out)?;
    gta_data::write(
        &ds,
        &a.out,
        &gta_data::WriteOptions {
            overwrite: a.overwrite,
            ..Default::default()
        },
    )
    .map_err(|e| anyhow::Error::new(RuntimeFailure(e.to_string())))?;
    let secs = t0.elapsed().as_secs_f64();
    if a.json {
        let mut v = serde_json::to_value(&report)?;
        v["seconds"] = secs.into();
        v["transitions_per_s"] = (report.transitions as f64 / secs).into();
        v["out"] = a.out.display().to_string().into();
        println!("{v}");
    } else {
        println!(
            "wrote {} SynthER transitions to {}",
            report.transitions,
            a.out.display()
        );
        println!(
            "  mean reward: data {:.4} -> generated {:.4}",
            report.reward_mean_data, report.reward_mean_generated
        );
        println!(
            "  terminals: {}, actions outside [-1, 1]: {}",
            report.terminals, report.actions_out_of_range
        );
        println!(
            "  {:.1} s, {:.0} transitions/s",
            secs,
            report.transitions as f64 / secs
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config_text(name: &str) -> String {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../configs")
            .join(name);
        std::fs::read_to_string(path).unwrap()
    }

    /// `--denoiser resmlp` alone (no config file) on a small dataset.
    fn flag_only(transitions: usize) -> RunConfig {
        let mut cfg = RunConfig::default();
        apply_denoiser_arg(&mut cfg, Some(DenoiserArg::Resmlp));
        apply_training_defaults(&mut cfg, None, transitions).unwrap();
        cfg
    }

    #[test]
    fn denoiser_flag_gives_synthers_training_defaults() {
        let cfg = flag_only(1000);
        assert_eq!(cfg.model, DenoiserConfig::ResMlp(ResMlpConfig::default()));
        let t = &cfg.train;
        assert_eq!((t.steps, t.batch_size), (100_000, 256));
        // Batch 1024 from 800k transitions on (method.md §8.1).
        assert_eq!(flag_only(799_999).train.batch_size, 256);
        assert_eq!(flag_only(800_000).train.batch_size, 1024);
        // One cosine annealing from 3e-4 to 0 over 100k steps, no warm-up, no restarts.
        assert!((t.lr_at(0) - 3e-4).abs() < 1e-12);
        assert!((t.lr_at(50_000) - 1.5e-4).abs() < 1e-9);
        assert!((t.lr_at(25_000) - 1.5e-4 * (1.0 + 0.5f64.sqrt())).abs() < 1e-9);
        assert!(t.lr_at(99_999) < 1e-12);
        // Unchanged GTA settings: Adam β2 0.99, clip 1, EMA 0.995 every 10.
        assert_eq!(
            (t.beta_2, t.grad_clip, t.ema.beta, t.ema.update_every),
            (0.99, 1.0, 0.995, 10)
        );
    }

    #[test]
    fn keys_given_in_the_config_file_win_over_synthers_defaults() {
        let text = "[model]\nkind = \"res_mlp\"\nwidth = 64\n[train]\nbatch_size = 32\nsteps = 7\n";
        let mut cfg: RunConfig = toml::from_str(text).unwrap();
        apply_training_defaults(&mut cfg, Some(text), 1_000_000).unwrap();
        assert_eq!((cfg.train.steps, cfg.train.batch_size), (7, 32));
        assert_eq!(cfg.train.lr_schedule, LrScheduleKind::WarmupCosine);
        // --denoiser resmlp keeps the file's res_mlp settings; --denoiser mixer-unet replaces them.
        apply_denoiser_arg(&mut cfg, Some(DenoiserArg::Resmlp));
        assert!(matches!(&cfg.model, DenoiserConfig::ResMlp(m) if m.width == 64));
        apply_denoiser_arg(&mut cfg, Some(DenoiserArg::MixerUnet));
        assert_eq!(cfg.model, DenoiserConfig::default());
    }

    #[test]
    fn synther_config_file_spells_out_what_the_flag_gives() {
        let text = config_text("synther.toml");
        let mut cfg: RunConfig = toml::from_str(&text).unwrap();
        apply_training_defaults(&mut cfg, Some(&text), 1000).unwrap();
        let flag = flag_only(1000);
        assert_eq!(cfg.model, flag.model);
        assert_eq!(cfg.edm, flag.edm);
        assert_eq!(cfg.train, flag.train);

        let tiny = config_text("synther-tiny.toml");
        let mut cfg: RunConfig = toml::from_str(&tiny).unwrap();
        apply_training_defaults(&mut cfg, Some(&tiny), 1000).unwrap();
        assert!(matches!(&cfg.model, DenoiserConfig::ResMlp(m) if (m.width, m.depth) == (128, 2)));
        assert_eq!((cfg.train.steps, cfg.train.batch_size), (400, 128));
    }
}
