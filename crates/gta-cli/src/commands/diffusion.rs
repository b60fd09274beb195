//! `gta diffusion train` and `gta bench diffusion-train`: train the return-conditioned EDM model
//! (issue 5) and measure its training throughput.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Subcommand;
use gta_diffusion::checkpoint;
use gta_diffusion::{
    DenoiserConfig, DiffusionConfig, EdmConfig, StepReport, TrainConfig, TrainData, Trainer,
};
use gta_nn::{DeviceKind, init_device};
use serde::{Deserialize, Serialize};

use crate::exit::RuntimeFailure;

/// The official code's training speed on one H100 at batch 256 (performance.md).
const OFFICIAL_STEPS_PER_S: f64 = 16.1;

/// `gta diffusion` subcommands.
#[derive(Subcommand, Debug)]
pub enum DiffusionCmd {
    /// Train the diffusion model on a dataset's windows; writes RUN_DIR/config.toml,
    /// metrics.csv and checkpoints/. `--resume RUN_DIR` continues a run exactly.
    Train(TrainArgs),
    /// Import a checkpoint trained by the official GTA code (.pt) as a run folder that
    /// `gta augment --model RUN_DIR` uses (docs/import-official.md).
    ImportOfficial(super::import_official::ImportOfficialArgs),
}

/// Arguments of `gta diffusion train`.
#[derive(clap::Args, Debug)]
pub struct TrainArgs {
    /// The dataset (D4RL .hdf5, .npz or Minari folder). Required unless --resume.
    #[arg(long)]
    dataset: Option<PathBuf>,
    /// The run folder to create (must not exist or be empty).
    #[arg(long)]
    out: Option<PathBuf>,
    /// A TOML run config (see configs/); missing keys take the paper defaults.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Stop after this many optimizer steps (default: train.steps of the config).
    #[arg(long)]
    steps: Option<u64>,
    /// cpu or cuda[:index].
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Data-parallel training on several GPUs of this host, e.g. `cuda:0,cuda:1`: each step's
    /// batch (train.batch_size, which must divide evenly) is split across them and the gradients
    /// are averaged with NCCL (docs/gpu.md, "Several GPUs"). Checkpoints are the same as on one GPU.
    #[arg(long, conflicts_with = "device", value_name = "LIST")]
    devices: Option<String>,
    /// Run seed (overrides train.seed).
    #[arg(long)]
    seed: Option<u64>,
    /// Continue the run in this folder from its latest checkpoint.
    #[arg(long, conflicts_with_all = ["out", "config", "seed", "denoiser"])]
    resume: Option<PathBuf>,
    /// The denoiser (overrides model.kind of the config): `resmlp` trains the SynthER baseline
    /// on single transitions with SynthER's training defaults (method.md §8.1).
    #[arg(long, value_enum)]
    denoiser: Option<super::synther::DenoiserArg>,
}

/// The file format of `--config` and `RUN_DIR/config.toml`: the dataset, how windows are cut,
/// and the diffusion configuration.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RunConfig {
    /// Dataset path (set from --dataset).
    pub dataset: Option<PathBuf>,
    /// Windows and return conditions (method.md §2); `horizon` is T.
    pub data: gta_data::WindowOptions,
    /// The denoiser (its horizon/width are taken from the data).
    pub model: DenoiserConfig,
    /// EDM constants.
    pub edm: EdmConfig,
    /// Optimisation.
    pub train: TrainConfig,
}

impl RunConfig {
    fn diffusion(&self) -> DiffusionConfig {
        DiffusionConfig {
            model: self.model.clone(),
            edm: self.edm.clone(),
            train: self.train.clone(),
        }
    }
}

/// Dispatches a `gta diffusion` subcommand.
pub fn run(cmd: DiffusionCmd) -> anyhow::Result<()> {
    match cmd {
        DiffusionCmd::Train(args) => train(args),
        DiffusionCmd::ImportOfficial(args) => super::import_official::run(args),
    }
}

/// Reads the dataset, cuts windows (gta-data) and normalizes rows, next states and the filler
/// with the dataset's normalizer (method.md §2.3).
pub fn load_train_data(
    path: &Path,
    options: &gta_data::WindowOptions,
) -> anyhow::Result<(TrainData, gta_data::Normalizer)> {
    let dataset = gta_data::read(path, &gta_data::ReadOptions::default())
        .with_context(|| format!("reading dataset {}", path.display()))?;
    let traj = gta_data::Trajectories::from_dataset(&dataset, &gta_data::EpisodeOptions::default())
        .with_context(|| format!("dataset {}", path.display()))?;
    let set = gta_data::WindowSet::build(&traj, options)
        .with_context(|| format!("cutting windows of {}", path.display()))?;
    let (obs, act) = (set.obs_dim, set.act_dim);
    let d = obs + act + 1;
    let norm = set.normalizer.clone();
    let mut rows = set.rows;
    for row in rows.chunks_exact_mut(d) {
        for ((x, m), s) in row.iter_mut().zip(&norm.mean).zip(&norm.std) {
            *x = (*x - m) / s;
        }
    }
    let mut next_obs = set.next_obs;
    for row in next_obs.chunks_exact_mut(obs) {
        for ((x, m), s) in row.iter_mut().zip(&norm.mean).zip(&norm.std) {
            *x = (*x - m) / s;
        }
    }
    let filler = (obs..d).map(|c| -norm.mean[c] / norm.std[c]).collect();
    if set.starts.is_empty() {
        bail!(
            "dataset {}: no episode is long enough for windows of T = {} rows",
            path.display(),
            options.horizon
        );
    }
    let data = TrainData {
        obs_dim: obs,
        act_dim: act,
        horizon: set.horizon,
        transition_dim: d,
        rows,
        next_obs,
        starts: set.starts,
        cond: set.cond,
        cond_dim: 1,
        filler,
    };
    Ok((data, norm))
}

use super::run_dir::write_atomic;

pub fn read_run_config(path: &Path) -> anyhow::Result<RunConfig> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("config {}", path.display()))
}

/// The devices of `--device` / `--devices`.
fn device_kinds(device: &str, devices: Option<&str>) -> anyhow::Result<Vec<DeviceKind>> {
    Ok(match devices {
        Some(list) => gta_nn::device::parse_device_list(list)?,
        None => vec![device.parse()?],
    })
}

fn kinds_label(kinds: &[DeviceKind]) -> String {
    kinds
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

fn train(args: TrainArgs) -> anyhow::Result<()> {
    let kinds = device_kinds(&args.device, args.devices.as_deref())?;
    let (run_dir, mut cfg, resuming) = match &args.resume {
        Some(dir) => {
            let cfg = read_run_config(&dir.join("config.toml"))?;
            (dir.clone(), cfg, true)
        }
        None => {
            let out = args
                .out
                .clone()
                .context("--out RUN_DIR is required (or --resume RUN_DIR)")?;
            let mut cfg = match &args.config {
                Some(p) => read_run_config(p)?,
                None => RunConfig::default(),
            };
            if let Some(seed) = args.seed {
                cfg.train.seed = seed;
            }
            super::synther::apply_denoiser_arg(&mut cfg, args.denoiser);
            (out, cfg, false)
        }
    };
    if let Some(ds) = &args.dataset {
        cfg.dataset = Some(ds.clone());
    }
    let dataset = cfg.dataset.clone().context("--dataset PATH is required")?;
    // SynthER (res_mlp) trains on single transitions with its own defaults (method.md §8.1).
    let (data, synther_norm) = if let DenoiserConfig::ResMlp(_) = cfg.model {
        let (data, norm) = super::synther::load_train_data(&dataset)?;
        if !resuming {
            let text = (args.config.as_ref())
                .map(|p| {
                    std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))
                })
                .transpose()?;
            let n = data.num_windows();
            super::synther::apply_training_defaults(&mut cfg, text.as_deref(), n)?;
        }
        (data, Some(norm))
    } else {
        (load_train_data(&dataset, &cfg.data)?.0, None)
    };
    cfg.model.set_shape(data.horizon, data.transition_dim);
    let until = args.steps.unwrap_or(cfg.train.steps);
    let devices = gta_nn::device::init_devices(&kinds, cfg.train.seed)?;
    let device = devices[0].clone();
    let ckpt_dir = run_dir.join("checkpoints");

    let mut trainer = if resuming {
        let last = checkpoint::latest(&ckpt_dir)
            .with_context(|| format!("no checkpoint in {} to resume from", ckpt_dir.display()))?;
        checkpoint::load(&last, &data, &device)?
    } else {
        super::run_dir::create_new(&run_dir)?;
        let text = toml::to_string_pretty(&cfg).context("serializing the resolved config")?;
        write_atomic(&run_dir.join("config.toml"), &text)?;
        if let Some(norm) = &synther_norm {
            super::synther::write_normalizer(&run_dir, &dataset, norm)?;
        }
        Trainer::new(cfg.diffusion(), &data, &device)?
    };
    trainer.enable_data_parallel(&devices)?;
    let params = trainer.model().num_trainable_params();
    tracing::info!(
        params,
        windows = data.num_windows(),
        "training the diffusion model"
    );

    let metrics_path = run_dir.join("metrics.csv");
    let start = trainer.step_count();
    let mut rows: Vec<String> = match std::fs::read_to_string(&metrics_path) {
        Ok(text) => text
            .lines()
            .skip(1)
            .filter(|l| {
                l.split(',')
                    .next()
                    .and_then(|s| s.parse::<u64>().ok())
                    .is_some_and(|s| s <= start)
            })
            .map(str::to_string)
            .collect(),
        Err(_) => Vec::new(),
    };
    let bar = indicatif::ProgressBar::new(until).with_position(start);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} steps  {msg}  ETA {eta}")
            .expect("valid template"),
    );
    eprintln!(
        "gta diffusion train: {} windows of {}x{}, {} trainable parameters, device {}, run {}",
        data.num_windows(),
        data.horizon,
        data.transition_dim,
        params,
        kinds_label(&kinds),
        run_dir.display()
    );
    let mut write_error = None;
    let report = trainer.train(
        until,
        |r: &StepReport| {
            bar.set_position(r.step);
            bar.set_message(format!("loss {:.4}  {:.1} steps/s", r.loss, r.steps_per_s));
            rows.push(r.csv_row());
            let text = std::iter::once(StepReport::CSV_HEADER.to_string())
                .chain(rows.iter().cloned())
                .collect::<Vec<_>>()
                .join("\n")
                + "\n";
            if let Err(e) = write_atomic(&metrics_path, &text) {
                write_error.get_or_insert(e);
            }
        },
        |t| checkpoint::save(t, &ckpt_dir).map(|_| ()),
    );
    bar.finish();
    if let Some(e) = write_error {
        return Err(e.context(RuntimeFailure("writing metrics.csv failed".into())));
    }
    let report = report?;
    match report {
        Some(r) => eprintln!("done: step {}, loss {:.5}, lr {:.3e}", r.step, r.loss, r.lr),
        None => eprintln!(
            "nothing to do: the run is already at step {}",
            trainer.step_count()
        ),
    }
    Ok(())
}

/// Arguments of `gta bench diffusion-train`.
#[derive(clap::Args, Debug)]
pub struct BenchTrainArgs {
    /// cpu or cuda[:index].
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Several GPUs, e.g. `cuda:0,cuda:1`: times one GPU (the first) and then data-parallel
    /// training on all of them in the same process, and reports the speed-up and the scaling
    /// efficiency.
    #[arg(long, conflicts_with_all = ["device", "float_dtype"], value_name = "LIST")]
    devices: Option<String>,
    /// With --devices: keep the batch per GPU at --batch (global batch N·batch, weak scaling)
    /// instead of splitting the global batch --batch across the GPUs (strong scaling).
    #[arg(long, requires = "devices")]
    weak: bool,
    /// Batch size (the global batch; see --weak).
    #[arg(long, default_value_t = 256)]
    batch: usize,
    /// Timed steps.
    #[arg(long, default_value_t = 20)]
    steps: u64,
    /// Untimed warm-up steps (kernel compilation, autotune), each synchronized. On CUDA the
    /// third step captures the training step as a CUDA graph, so keep at least 3 there.
    #[arg(long, default_value_t = 3)]
    warmup: u64,
    /// Float dtype of every tensor (weights, activations, optimizer state): f32 (the default and
    /// the only one `gta diffusion train` uses), or bf16 / f16 to measure what half precision
    /// would buy (pure half precision, not mixed: a speed probe, not a training recipe).
    #[arg(long, default_value = "f32", value_parser = ["f32", "bf16", "f16"])]
    float_dtype: String,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// Timings of one benchmarked trainer.
struct Timing {
    warmup_s: f64,
    first_step_s: f64,
    secs: f64,
    steps_per_s: f64,
    final_loss: f32,
    /// Sampled peak of the pool memory reserved on the first device.
    peak: Option<u64>,
}

/// Warm-up steps (each synchronized) and then `steps` timed steps of `trainer`.
fn time_trainer(trainer: &mut Trainer, warmup: u64, steps: u64) -> anyhow::Result<Timing> {
    let memory = |trainer: &Trainer, peak: &mut Option<u64>| {
        if let Some(u) = trainer.device().memory_pool_usage() {
            *peak = Some(peak.unwrap_or(0).max(u.bytes_reserved));
        }
    };
    let mut peak = None;
    let t_warm = Instant::now();
    let mut first_step_s = 0.0;
    for i in 0..warmup {
        let t = Instant::now();
        let (loss, _) = trainer.train_step();
        let loss = loss.into_scalar::<f32>(); // synchronizes
        if !loss.is_finite() {
            return Err(anyhow::Error::new(RuntimeFailure(format!(
                "warm-up step {i}: loss is {loss}"
            ))));
        }
        if i == 0 {
            first_step_s = t.elapsed().as_secs_f64();
        }
        memory(trainer, &mut peak);
    }
    let warmup_s = t_warm.elapsed().as_secs_f64();

    let t0 = Instant::now();
    let mut last = None;
    for _ in 0..steps {
        last = Some(trainer.train_step().0);
    }
    let final_loss = last.expect("at least one step").into_scalar::<f32>(); // synchronizes
    let secs = t0.elapsed().as_secs_f64();
    memory(trainer, &mut peak);
    Ok(Timing {
        warmup_s,
        first_step_s,
        secs,
        steps_per_s: steps as f64 / secs,
        final_loss,
        peak,
    })
}

/// Halfcheetah-shaped windows (D = 24: obs 17, act 6, reward 1; T = 32) and the default
/// MixerUnet config at `batch`, seed 0.
fn bench_setup(batch: usize) -> (TrainData, DiffusionConfig) {
    let data = TrainData::synthetic(17, 6, 32, 4096, 0);
    let mut config = DiffusionConfig::default();
    config.train.batch_size = batch;
    config.train.seed = 0;
    (data, config)
}

/// `gta bench diffusion-train`: steps/s of the halfcheetah MixerUnet (29,628,949 parameters).
pub fn bench_train(args: BenchTrainArgs) -> anyhow::Result<()> {
    if args.batch == 0 || args.steps == 0 {
        bail!("--batch and --steps must be positive");
    }
    if let Some(list) = &args.devices {
        let kinds = gta_nn::device::parse_device_list(list)?;
        if kinds.len() > 1 {
            return bench_train_multi(&args, &kinds);
        }
    }
    let kind: DeviceKind = match &args.devices {
        Some(list) => gta_nn::device::parse_device_list(list)?[0],
        None => args.device.parse()?,
    };
    let mut device = init_device(kind, 0)?;
    if args.float_dtype != "f32" {
        gta_nn::precision::configure_float_dtype(&mut device, &args.float_dtype)
            .map_err(|e| anyhow::anyhow!("--float-dtype: device {kind}: {e}"))?;
    }
    let (data, config) = bench_setup(args.batch);
    let mut trainer = Trainer::new(config, &data, &device)?;
    let params = trainer.model().num_trainable_params();
    let Timing {
        warmup_s,
        first_step_s,
        secs,
        steps_per_s,
        final_loss,
        peak,
    } = time_trainer(&mut trainer, args.warmup, args.steps)?;
    let ratio = steps_per_s / OFFICIAL_STEPS_PER_S;
    let cuda_graph = trainer.uses_cuda_graph();
    if args.json {
        let v = serde_json::json!({
            "bench": "diffusion-train",
            "device": kind.to_string(),
            "batch": args.batch,
            "cuda_graph": cuda_graph,
            "float_dtype": args.float_dtype,
            "matmul_precision": gta_nn::precision::matmul_precision().as_str(),
            "matmul": gta_nn::precision::matmul_route(),
            "params": params,
            "warmup_steps": args.warmup,
            "warmup_s": warmup_s,
            "first_step_s": first_step_s,
            "steps": args.steps,
            "seconds": secs,
            "steps_per_s": steps_per_s,
            "ms_per_step": 1e3 / steps_per_s,
            "device_memory_reserved_peak_bytes": peak,
            "official_steps_per_s": OFFICIAL_STEPS_PER_S,
            "ratio_to_official": ratio,
            "final_loss": final_loss,
        });
        println!("{v}");
    } else {
        println!(
            "diffusion-train: MixerUnet D=24 T=32 ({params} params), batch {}, {}, device {kind}, {}",
            args.batch,
            args.float_dtype,
            if cuda_graph {
                "step captured as a CUDA graph"
            } else {
                "op by op"
            }
        );
        println!(
            "warm-up: {} steps in {warmup_s:.2} s (first step {first_step_s:.2} s)",
            args.warmup
        );
        println!(
            "timed: {} steps in {secs:.3} s = {steps_per_s:.2} steps/s, {:.1} ms/step",
            args.steps,
            1e3 / steps_per_s
        );
        match peak {
            Some(b) => println!(
                "device memory (pool reserved, sampled peak): {:.1} MiB",
                b as f64 / (1 << 20) as f64
            ),
            None => println!("device memory: not reported by this backend"),
        }
        println!("ratio to the official code (16.1 steps/s on one H100): {ratio:.3}x");
    }
    Ok(())
}

/// `gta bench diffusion-train --devices LIST`: one GPU, then data-parallel on all, same process.
fn bench_train_multi(args: &BenchTrainArgs, kinds: &[DeviceKind]) -> anyhow::Result<()> {
    let n = kinds.len();
    let devices = gta_nn::device::init_devices(kinds, 0)?;
    let (global, per_device) = if args.weak {
        (args.batch * n, args.batch)
    } else {
        if !args.batch.is_multiple_of(n) {
            bail!(
                "--batch {} does not split into {n} equal shards; use a multiple of {n} (or --weak)",
                args.batch
            );
        }
        (args.batch, args.batch / n)
    };

    // One GPU first: the baseline, at the batch each configuration's step processes per GPU
    // under weak scaling, the global batch under strong scaling.
    let single_batch = if args.weak { per_device } else { global };
    let (data, config) = bench_setup(single_batch);
    let mut single = Trainer::new(config, &data, &devices[0])?;
    let params = single.model().num_trainable_params();
    let one = time_trainer(&mut single, args.warmup, args.steps)?;
    drop(single);

    let (data, config) = bench_setup(global);
    let mut multi = Trainer::new(config, &data, &devices[0])?;
    multi.enable_data_parallel(&devices)?;
    let many = time_trainer(&mut multi, args.warmup, args.steps)?;
    drop(multi);

    let speedup = many.steps_per_s / one.steps_per_s;
    // Samples per second relative to N times one GPU's: 1.0 is linear scaling.
    let samples_1 = one.steps_per_s * single_batch as f64;
    let samples_n = many.steps_per_s * global as f64;
    let efficiency = samples_n / (n as f64 * samples_1);
    let label = kinds_label(kinds);
    let scaling = if args.weak { "weak" } else { "strong" };
    if args.json {
        let timing = |t: &Timing, batch: usize| {
            serde_json::json!({
                "batch": batch,
                "warmup_s": t.warmup_s,
                "first_step_s": t.first_step_s,
                "seconds": t.secs,
                "steps_per_s": t.steps_per_s,
                "ms_per_step": 1e3 / t.steps_per_s,
                "samples_per_s": t.steps_per_s * batch as f64,
                "device0_memory_reserved_peak_bytes": t.peak,
                "final_loss": t.final_loss,
            })
        };
        let v = serde_json::json!({
            "bench": "diffusion-train",
            "devices": label,
            "num_devices": n,
            "scaling": scaling,
            "batch": global,
            "per_device_batch": per_device,
            "params": params,
            "warmup_steps": args.warmup,
            "steps": args.steps,
            "one_device": timing(&one, single_batch),
            "all_devices": timing(&many, global),
            "steps_per_s_ratio": speedup,
            "scaling_efficiency": efficiency,
            "official_steps_per_s": OFFICIAL_STEPS_PER_S,
        });
        println!("{v}");
    } else {
        println!(
            "diffusion-train: MixerUnet D=24 T=32 ({params} params), devices {label}, \
             {scaling} scaling: global batch {global}, {per_device} per device"
        );
        for (name, t, b) in [
            (format!("1 device ({})", kinds[0]), &one, single_batch),
            (format!("{n} devices"), &many, global),
        ] {
            println!(
                "{name}: batch {b}, first step {:.2} s, {} timed steps in {:.3} s = {:.2} steps/s \
                 ({:.1} ms/step, {:.0} samples/s), final loss {:.4}",
                t.first_step_s,
                args.steps,
                t.secs,
                t.steps_per_s,
                1e3 / t.steps_per_s,
                t.steps_per_s * b as f64,
                t.final_loss
            );
        }
        println!("steps/s ratio ({n} devices / 1): {speedup:.3}");
        println!(
            "scaling efficiency (samples/s over {n} x one device's): {efficiency:.3} (1.0 = linear)"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(name: &str) -> RunConfig {
        read_run_config(
            &Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../configs")
                .join(name),
        )
        .unwrap()
    }

    #[test]
    fn halfcheetah_config_spells_out_the_paper_defaults() {
        let cfg = config("halfcheetah-medium-v2.toml");
        let defaults = RunConfig {
            dataset: cfg.dataset.clone(),
            ..RunConfig::default()
        };
        assert_eq!(cfg.diffusion(), defaults.diffusion());
        assert_eq!(cfg.data, defaults.data);
    }

    #[test]
    fn tiny_config_parses_and_unknown_keys_are_refused() {
        let cfg = config("tiny.toml");
        assert_eq!(cfg.data.horizon, 8);
        assert_eq!(cfg.train.steps, 200);
        match &cfg.model {
            DenoiserConfig::MixerUnet(m) => {
                assert_eq!((m.dim, m.dim_mults.clone()), (8, vec![1, 2]))
            }
            other => panic!("unexpected model {other:?}"),
        }
        let err = toml::from_str::<RunConfig>("[train]\nstepz = 3\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("stepz"), "{err}");
    }
}
