//! `gta rl train`, `gta rl eval` and `gta bench rl`: offline RL on original or augmented data
//! (issue 7; method.md §9) and the gradient-step throughput of TD3+BC, IQL, CQL and MCQ.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Subcommand;
use gta_nn::{DeviceKind, init_device};
use gta_rl::checkpoint;
use gta_rl::{
    Algo, CqlConfig, DtConfig, DtData, DtTrainer, IqlConfig, McqConfig, MetricsRow, ReplayBuffer,
    RlConfig, Td3BcConfig, TrainConfig, Trainer,
};
use serde::{Deserialize, Serialize};

use crate::exit::RuntimeFailure;

/// The official TD3+BC (CORL, PyTorch) speed on one H100 at batch 1024 (performance.md).
const OFFICIAL_TD3BC_STEPS_PER_S: f64 = 150.5;

/// `gta rl` subcommands.
#[derive(Subcommand, Debug)]
pub enum RlCmd {
    /// Train an offline-RL agent on a dataset (optionally + GTA's augmented data); writes
    /// RUN_DIR/config.toml, metrics.csv and checkpoints/. `--resume RUN_DIR` continues exactly.
    Train(TrainArgs),
    /// Evaluate the latest checkpoint of a run in its env (D4RL normalized score).
    Eval(EvalArgs),
}

/// Arguments of `gta rl train`.
#[derive(clap::Args, Debug)]
pub struct TrainArgs {
    /// td3bc, iql, cql, mcq or dt (paper defaults: CORL's TD3+BC, IQL, CQL and DT,
    /// OfflineRL-Kit's MCQ; see docs/config.md). cql on a maze2d env uses the Lagrange version
    /// with target action gap 5, as the reference does. dt trains on trajectory segments
    /// (--augmented must then be a `gta augment` output with its windows) and defaults to
    /// 100k steps, evaluation every 10k steps over 100 episodes.
    #[arg(long, default_value = "td3bc")]
    algo: String,
    /// The original dataset (D4RL .hdf5, .npz or Minari folder). Required unless --resume.
    #[arg(long)]
    dataset: Option<PathBuf>,
    /// GTA's augmented dataset, appended to the original (uniform sampling over the union).
    #[arg(long)]
    augmented: Option<PathBuf>,
    /// Env or D4RL dataset id for evaluation and score normalization (e.g. halfcheetah-medium-v2).
    #[arg(long)]
    env: Option<String>,
    /// The run folder to create (must not exist or be empty).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Gradient steps (default 1,000,000).
    #[arg(long)]
    steps: Option<u64>,
    /// Evaluate every K steps (default 5,000).
    #[arg(long)]
    eval_every: Option<u64>,
    /// Episodes per evaluation (default 10; use 100 for maze2d/antmaze).
    #[arg(long)]
    eval_episodes: Option<usize>,
    /// Minibatch size (default 1024).
    #[arg(long)]
    batch: Option<usize>,
    /// Run seed.
    #[arg(long)]
    seed: Option<u64>,
    /// cpu or cuda[:index].
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Continue the run in this folder from its latest checkpoint (to --steps, if given).
    #[arg(long, conflicts_with_all = ["out", "dataset", "augmented", "env", "seed", "batch"])]
    resume: Option<PathBuf>,
}

/// Arguments of `gta rl eval`.
#[derive(clap::Args, Debug)]
pub struct EvalArgs {
    /// The run folder (written by `gta rl train`).
    run_dir: PathBuf,
    /// Episodes (default: the run's eval_episodes).
    #[arg(long)]
    episodes: Option<usize>,
    /// Reset seed of the first episode (default: the run seed).
    #[arg(long)]
    seed: Option<u64>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// `RUN_DIR/config.toml`: the data paths and the resolved RL configuration.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RunConfig {
    /// The original dataset.
    pub dataset: Option<PathBuf>,
    /// The augmented dataset, if any.
    pub augmented: Option<PathBuf>,
    /// Algorithm.
    pub algo: Option<Algo>,
    /// Evaluation env / dataset id.
    pub env: String,
    /// TD3+BC settings.
    pub td3bc: Td3BcConfig,
    /// IQL settings.
    pub iql: IqlConfig,
    /// CQL settings.
    pub cql: CqlConfig,
    /// MCQ settings.
    pub mcq: McqConfig,
    /// Decision Transformer settings.
    pub dt: DtConfig,
    /// Protocol.
    pub train: TrainConfig,
}

impl RunConfig {
    fn rl(&self) -> RlConfig {
        RlConfig {
            algo: self.algo.unwrap_or(Algo::Td3bc),
            env: self.env.clone(),
            td3bc: self.td3bc.clone(),
            iql: self.iql.clone(),
            cql: self.cql.clone(),
            mcq: self.mcq.clone(),
            dt: self.dt.clone(),
            train: self.train.clone(),
        }
    }
}

/// Per-task settings of a new run: CQL on maze2d uses the Lagrange version with target action
/// gap 5.0 (method.md §9.3; the reference keys it on the dataset name, reference-code-notes.md
/// §9). Written into config.toml, so a resumed run keeps it.
fn apply_env_defaults(cfg: &mut RunConfig) {
    if cfg.env.contains("maze2d") {
        cfg.cql.lagrange = true;
        cfg.cql.target_action_gap = 5.0;
    }
}

/// Dispatches a `gta rl` subcommand.
pub fn run(cmd: RlCmd) -> anyhow::Result<()> {
    match cmd {
        RlCmd::Train(args) => train(args),
        RlCmd::Eval(args) => eval(args),
    }
}

use super::run_dir::write_atomic;

fn read_run_config(path: &Path) -> anyhow::Result<RunConfig> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("config {}", path.display()))
}

/// The q-learning view of a dataset file. The original uses D4RL's `qlearning_dataset`
/// (s′ = next row, timeouts dropped, as CORL); generated data carries its own s′.
fn load_qlearning(path: &Path, generated: bool) -> anyhow::Result<gta_data::QLearning> {
    let ds = gta_data::read(path, &gta_data::ReadOptions::default())
        .with_context(|| format!("reading dataset {}", path.display()))?;
    gta_data::qlearning(&ds, generated).with_context(|| format!("dataset {}", path.display()))
}

fn train(args: TrainArgs) -> anyhow::Result<()> {
    let kind: DeviceKind = args.device.parse()?;
    let (run_dir, mut cfg, resuming) = match &args.resume {
        Some(dir) => (
            dir.clone(),
            read_run_config(&dir.join("config.toml"))?,
            true,
        ),
        None => {
            let out = args
                .out
                .clone()
                .context("--out RUN_DIR is required (or --resume RUN_DIR)")?;
            let algo: Algo = args.algo.parse()?;
            let mut cfg = RunConfig {
                dataset: Some(args.dataset.clone().context("--dataset PATH is required")?),
                augmented: args.augmented.clone(),
                algo: Some(algo),
                env: args.env.clone().context("--env ENV_ID is required")?,
                train: TrainConfig::for_algo(algo),
                ..RunConfig::default()
            };
            if let Some(s) = args.seed {
                cfg.train.seed = s;
            }
            if let Some(b) = args.batch {
                cfg.train.batch_size = b;
            }
            apply_env_defaults(&mut cfg);
            (out, cfg, false)
        }
    };
    if let Some(s) = args.steps {
        cfg.train.steps = s;
    }
    if let Some(k) = args.eval_every {
        cfg.train.eval_every = k;
    }
    if let Some(n) = args.eval_episodes {
        cfg.train.eval_episodes = n;
    }
    gta_envs::EnvId::parse(&cfg.env).with_context(|| format!("--env {}", cfg.env))?;
    let rl = cfg.rl();
    rl.validate()?;
    if rl.algo == Algo::Dt {
        return train_dt(run_dir, cfg, resuming, kind);
    }
    let dataset = cfg.dataset.clone().context("config has no dataset")?;
    let original = load_qlearning(&dataset, false)?;
    let augmented = match &cfg.augmented {
        Some(p) => Some(load_qlearning(p, true)?),
        None => None,
    };
    let device = init_device(kind, cfg.train.seed)?;
    let buffer = ReplayBuffer::new(
        &original,
        augmented.as_ref(),
        cfg.train.normalize_states,
        &device,
    )?;
    let ckpt_dir = run_dir.join("checkpoints");
    let mut trainer = if resuming {
        let last = checkpoint::latest(&ckpt_dir)
            .with_context(|| format!("no checkpoint in {} to resume from", ckpt_dir.display()))?;
        let mut t = checkpoint::load(&last, buffer)?;
        // Protocol changes given on the command line (steps, eval cadence) apply on resume.
        t.config.train = cfg.train.clone();
        t
    } else {
        super::run_dir::create_new(&run_dir)?;
        Trainer::new(rl.clone(), buffer)?
    };
    let text = toml::to_string_pretty(&cfg).context("serializing the resolved config")?;
    write_atomic(&run_dir.join("config.toml"), &text)?;

    let until = cfg.train.steps;
    let start = trainer.step_count();
    let metrics_path = run_dir.join("metrics.csv");
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
    let buf = trainer.buffer();
    eprintln!(
        "gta rl train: {} on {} transitions ({} original + {} generated), obs {} act {}, env {}, device {kind}, run {}",
        rl.algo,
        buf.len,
        buf.original_len,
        buf.len - buf.original_len,
        buf.obs_dim,
        buf.act_dim,
        cfg.env,
        run_dir.display()
    );
    let bar = indicatif::ProgressBar::new(until).with_position(start);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} steps  {msg}  ETA {eta}")
            .expect("valid template"),
    );
    let header = MetricsRow::csv_header(rl.algo);
    let mut write_error = None;
    let result = trainer.train(
        until,
        |r: &MetricsRow| {
            bar.set_position(r.step);
            let score = r
                .eval
                .as_ref()
                .map_or("-".to_string(), |e| format!("{:.1}", e.normalized_score));
            bar.set_message(format!("score {score}  {:.1} steps/s", r.steps_per_s));
            rows.push(r.csv_row(rl.algo));
            let text = std::iter::once(header.clone())
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
    match result? {
        Some(r) => match &r.eval {
            Some(e) => eprintln!(
                "done: step {}, normalized score {:.1} ± {:.1} (return {:.1})",
                r.step, e.normalized_score, e.normalized_score_std, e.return_mean
            ),
            None => eprintln!("done: step {}", r.step),
        },
        None => eprintln!(
            "nothing to do: the run is already at step {}",
            trainer.step_count()
        ),
    }
    Ok(())
}

fn eval(args: EvalArgs) -> anyhow::Result<()> {
    let ckpt_dir = args.run_dir.join("checkpoints");
    let last = checkpoint::latest(&ckpt_dir)
        .with_context(|| format!("no checkpoint in {}", ckpt_dir.display()))?;
    let state = checkpoint::read_state(&last)?;
    let device = init_device(DeviceKind::Cpu, state.config.train.seed)?;
    let episodes = args.episodes.unwrap_or(state.config.train.eval_episodes);
    let seed = args.seed.unwrap_or(state.config.train.seed);
    let r = if state.config.algo == Algo::Dt {
        let (dt, _) = gta_rl::dt::load_model(&last, &device)?;
        let target = state
            .config
            .dt
            .target_return_for(&state.config.env)
            .context("the run has no dt.target_return for its env")?;
        gta_rl::dt::evaluate(
            &dt,
            &state.normalizer,
            &state.config.env,
            target,
            episodes,
            seed,
        )?
    } else {
        let mut agent = gta_rl::build_agent(&state.config, state.obs_dim, state.act_dim, &device);
        agent.load(&last)?;
        let policy = gta_rl::HostPolicy {
            actor: agent.host_actor(),
            normalizer: state.normalizer.clone(),
        };
        gta_envs::evaluate(&state.config.env, &policy, episodes, seed)?
    };
    if args.json {
        let v = serde_json::json!({
            "run": args.run_dir,
            "checkpoint_step": state.step,
            "env": r.env,
            "episodes": episodes,
            "return_mean": r.return_mean,
            "return_std": r.return_std,
            "normalized_score": r.normalized_score,
            "normalized_score_std": r.normalized_score_std,
        });
        println!("{v}");
    } else {
        println!(
            "{} step {}: {} episodes of {}, normalized score {:.1} ± {:.1}, return {:.1} ± {:.1}",
            state.config.algo,
            state.step,
            episodes,
            r.env,
            r.normalized_score,
            r.normalized_score_std,
            r.return_mean,
            r.return_std
        );
    }
    Ok(())
}

/// Arguments of `gta bench rl`.
#[derive(clap::Args, Debug)]
pub struct BenchRlArgs {
    /// td3bc, iql, cql, mcq or dt (each with its paper network sizes).
    #[arg(long, default_value = "td3bc")]
    algo: String,
    /// cpu or cuda[:index].
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Batch size.
    #[arg(long, default_value_t = 1024)]
    batch: usize,
    /// Timed gradient steps.
    #[arg(long, default_value_t = 200)]
    steps: u64,
    /// Untimed warm-up steps (kernel compilation, autotune), each synchronized.
    #[arg(long, default_value_t = 10)]
    warmup: u64,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// `gta bench rl`: gradient steps/s at batch 1024 on synthetic halfcheetah-shaped data
/// (obs 17, act 6, 200k transitions), the paper's network sizes per algorithm, and the ratio
/// to the official TD3+BC's 150.5 steps/s on one H100.
pub fn bench_rl(args: BenchRlArgs) -> anyhow::Result<()> {
    if args.batch == 0 || args.steps == 0 {
        bail!("--batch and --steps must be positive");
    }
    let algo: Algo = args.algo.parse()?;
    let kind: DeviceKind = args.device.parse()?;
    if algo == Algo::Dt {
        return bench_dt(&args, kind);
    }
    let device = init_device(kind, 0)?;
    let data = gta_rl::synthetic_qlearning(200_000, 17, 6, 0);
    let buffer = ReplayBuffer::new(&data, None, true, &device)?;
    let mut config = RlConfig {
        algo,
        ..RlConfig::default()
    };
    config.train.batch_size = args.batch;
    config.train.steps = args.warmup + args.steps;
    let mut trainer = Trainer::new(config, buffer)?;
    let read = |losses: gta_rl::Losses| -> f32 {
        losses
            .into_iter()
            .next()
            .expect("every update reports a loss")
            .1
            .into_scalar::<f32>() // synchronizes
    };

    let t_warm = Instant::now();
    let mut first_step_s = 0.0;
    for i in 0..args.warmup {
        let t = Instant::now();
        let loss = read(trainer.train_step());
        if !loss.is_finite() {
            return Err(anyhow::Error::new(RuntimeFailure(format!(
                "warm-up step {i}: loss is {loss}"
            ))));
        }
        if i == 0 {
            first_step_s = t.elapsed().as_secs_f64();
        }
    }
    let warmup_s = t_warm.elapsed().as_secs_f64();

    let t0 = Instant::now();
    let mut last = None;
    for _ in 0..args.steps {
        last = Some(trainer.train_step());
    }
    let final_loss = read(last.expect("at least one step"));
    let secs = t0.elapsed().as_secs_f64();
    let steps_per_s = args.steps as f64 / secs;
    let ratio = steps_per_s / OFFICIAL_TD3BC_STEPS_PER_S;
    if args.json {
        let v = serde_json::json!({
            "bench": "rl",
            "algo": algo.to_string(),
            "device": kind.to_string(),
            "batch": args.batch,
            "warmup_steps": args.warmup,
            "warmup_s": warmup_s,
            "first_step_s": first_step_s,
            "steps": args.steps,
            "seconds": secs,
            "steps_per_s": steps_per_s,
            "ms_per_step": 1e3 / steps_per_s,
            "official_td3bc_steps_per_s": OFFICIAL_TD3BC_STEPS_PER_S,
            "ratio_to_official_td3bc": ratio,
            "final_loss": final_loss,
            "matmul": gta_nn::precision::matmul_route(),
        });
        println!("{v}");
    } else {
        let nets = match algo {
            Algo::Td3bc | Algo::Iql => "MLP 256x2",
            Algo::Cql => "MLP 256x3, 10 sampled actions",
            Algo::Mcq => "MLP 400x2, CVAE 750x2, 10 sampled actions",
            Algo::Dt => unreachable!("dt is benchmarked by bench_dt"),
        };
        println!(
            "rl: {algo}, {nets}, halfcheetah shape (obs 17, act 6), batch {}, f32, device {kind}",
            args.batch
        );
        println!(
            "warm-up: {} steps in {warmup_s:.2} s (first step {first_step_s:.2} s)",
            args.warmup
        );
        println!(
            "timed: {} steps in {secs:.3} s = {steps_per_s:.1} steps/s, {:.2} ms/step",
            args.steps,
            1e3 / steps_per_s
        );
        println!("ratio to the official TD3+BC (150.5 steps/s on one H100): {ratio:.3}x");
    }
    Ok(())
}

/// Reads a dataset file (any format gta reads).
fn read_dataset(path: &Path) -> anyhow::Result<gta_data::Dataset> {
    gta_data::read(path, &gta_data::ReadOptions::default())
        .with_context(|| format!("reading dataset {}", path.display()))
}

/// `gta rl train --algo dt`: DT on the original episodes (+ the generated windows of
/// `--augmented`), same run folder layout as the other algorithms.
fn train_dt(
    run_dir: PathBuf,
    cfg: RunConfig,
    resuming: bool,
    kind: DeviceKind,
) -> anyhow::Result<()> {
    let rl = cfg.rl();
    let dataset = cfg.dataset.clone().context("config has no dataset")?;
    let original = read_dataset(&dataset)?;
    let augmented = match &cfg.augmented {
        Some(p) => Some(read_dataset(p)?),
        None => None,
    };
    let data = DtData::from_datasets(&original, augmented.as_ref(), &rl.dt)?;
    drop((original, augmented));
    let device = init_device(kind, cfg.train.seed)?;
    let ckpt_dir = run_dir.join("checkpoints");
    let mut trainer = if resuming {
        let last = checkpoint::latest(&ckpt_dir)
            .with_context(|| format!("no checkpoint in {} to resume from", ckpt_dir.display()))?;
        let mut t = gta_rl::dt::load(&last, data, &device)?;
        t.config.train = cfg.train.clone();
        t
    } else {
        let t = DtTrainer::new(rl.clone(), data, &device)?;
        super::run_dir::create_new(&run_dir)?;
        t
    };
    let text = toml::to_string_pretty(&cfg).context("serializing the resolved config")?;
    write_atomic(&run_dir.join("config.toml"), &text)?;
    let until = cfg.train.steps;
    let start = trainer.step_count();
    let metrics_path = run_dir.join("metrics.csv");
    let mut rows = previous_rows(&metrics_path, start);
    let d = trainer.data();
    eprintln!(
        "gta rl train: dt on {} trajectories ({} original + {} generated windows, {} steps), obs {} act {}, env {}, target return {:?}, device {kind}, run {}",
        d.spans.len(),
        d.original_trajectories,
        d.spans.len() - d.original_trajectories,
        d.len(),
        d.obs_dim,
        d.act_dim,
        cfg.env,
        rl.dt.target_return_for(&cfg.env),
        run_dir.display()
    );
    let bar = progress_bar(until, start);
    let header = MetricsRow::csv_header(rl.algo);
    let mut write_error = None;
    let result = trainer.train(
        until,
        |r: &MetricsRow| {
            on_metrics_row(
                r,
                &bar,
                &mut rows,
                &header,
                &metrics_path,
                &mut write_error,
                rl.algo,
            )
        },
        |t| gta_rl::dt::save(t, &ckpt_dir).map(|_| ()),
    );
    bar.finish();
    if let Some(e) = write_error {
        return Err(e.context(RuntimeFailure("writing metrics.csv failed".into())));
    }
    report_done(result?.as_ref(), trainer.step_count());
    Ok(())
}

/// Rows of an existing metrics.csv up to step `start` (kept on resume).
fn previous_rows(metrics_path: &Path, start: u64) -> Vec<String> {
    match std::fs::read_to_string(metrics_path) {
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
    }
}

fn progress_bar(until: u64, start: u64) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(until).with_position(start);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} steps  {msg}  ETA {eta}")
            .expect("valid template"),
    );
    bar
}

fn on_metrics_row(
    r: &MetricsRow,
    bar: &indicatif::ProgressBar,
    rows: &mut Vec<String>,
    header: &str,
    metrics_path: &Path,
    write_error: &mut Option<anyhow::Error>,
    algo: Algo,
) {
    bar.set_position(r.step);
    let score = r
        .eval
        .as_ref()
        .map_or("-".to_string(), |e| format!("{:.1}", e.normalized_score));
    bar.set_message(format!("score {score}  {:.1} steps/s", r.steps_per_s));
    rows.push(r.csv_row(algo));
    let text = std::iter::once(header.to_string())
        .chain(rows.iter().cloned())
        .collect::<Vec<_>>()
        .join("\n")
        + "\n";
    if let Err(e) = write_atomic(metrics_path, &text) {
        write_error.get_or_insert(e);
    }
}

fn report_done(last: Option<&MetricsRow>, step: u64) {
    match last {
        Some(r) => match &r.eval {
            Some(e) => eprintln!(
                "done: step {}, normalized score {:.1} ± {:.1} (return {:.1})",
                r.step, e.normalized_score, e.normalized_score_std, e.return_mean
            ),
            None => eprintln!("done: step {}", r.step),
        },
        None => eprintln!("nothing to do: the run is already at step {step}"),
    }
}

/// `gta bench rl --algo dt`: DT gradient steps/s on synthetic halfcheetah-shaped episodes
/// (obs 17, act 6, 200 episodes of 1000 steps) with the paper's model (E 128, 3 layers,
/// K 20) at `--batch` (the GTA reference uses 1024).
fn bench_dt(args: &BenchRlArgs, kind: DeviceKind) -> anyhow::Result<()> {
    let device = init_device(kind, 0)?;
    let q = gta_rl::synthetic_qlearning(200_000, 17, 6, 0);
    let trajs = q
        .observations
        .chunks(1000 * 17)
        .zip(q.actions.chunks(1000 * 6))
        .zip(q.rewards.chunks(1000))
        .map(|((o, a), r)| gta_rl::dt_data::DtTrajectory {
            observations: o.to_vec(),
            actions: a.to_vec(),
            returns_to_go: gta_rl::dt_data::returns_to_go(r),
            first_timestep: 0,
        })
        .collect();
    let mut config = RlConfig {
        algo: Algo::Dt,
        ..RlConfig::default()
    };
    let data = DtData::new(trajs, 17, 6, 200, config.dt.state_std_eps)?;
    config.train.batch_size = args.batch;
    config.train.steps = args.warmup + args.steps;
    let mut trainer = DtTrainer::new(config, data, &device)?;
    let read = |losses: gta_rl::Losses| -> f32 {
        losses
            .into_iter()
            .next()
            .expect("one loss")
            .1
            .into_scalar::<f32>()
    };
    let t_warm = Instant::now();
    for i in 0..args.warmup {
        let loss = read(trainer.train_step());
        if !loss.is_finite() {
            return Err(anyhow::Error::new(RuntimeFailure(format!(
                "warm-up step {i}: loss is {loss}"
            ))));
        }
    }
    let warmup_s = t_warm.elapsed().as_secs_f64();
    let t0 = Instant::now();
    let mut last = None;
    for _ in 0..args.steps {
        last = Some(trainer.train_step());
    }
    let final_loss = read(last.expect("at least one step"));
    let secs = t0.elapsed().as_secs_f64();
    let steps_per_s = args.steps as f64 / secs;
    if args.json {
        let v = serde_json::json!({
            "bench": "rl",
            "algo": "dt",
            "device": kind.to_string(),
            "batch": args.batch,
            "warmup_steps": args.warmup,
            "warmup_s": warmup_s,
            "steps": args.steps,
            "seconds": secs,
            "steps_per_s": steps_per_s,
            "ms_per_step": 1e3 / steps_per_s,
            "final_loss": final_loss,
        });
        println!("{v}");
    } else {
        println!(
            "rl: dt, GPT E 128 x 3 layers x 1 head, K 20 (60 tokens), halfcheetah shape (obs 17, act 6), batch {}, f32, device {kind}",
            args.batch
        );
        println!("warm-up: {} steps in {warmup_s:.2} s", args.warmup);
        println!(
            "timed: {} steps in {secs:.3} s = {steps_per_s:.2} steps/s, {:.2} ms/step",
            args.steps,
            1e3 / steps_per_s
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_config_round_trips_and_refuses_unknown_keys() {
        let cfg = RunConfig {
            dataset: Some("d.hdf5".into()),
            algo: Some(Algo::Iql),
            env: "hopper-medium-v2".into(),
            ..RunConfig::default()
        };
        let text = toml::to_string_pretty(&cfg).unwrap();
        let back: RunConfig = toml::from_str(&text).unwrap();
        assert_eq!(back.rl(), cfg.rl());
        assert_eq!(back.rl().train.batch_size, 1024, "paper batch by default");
        let err = toml::from_str::<RunConfig>("[td3bc]\nalpa = 2.0\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("alpa"), "{err}");
    }

    #[test]
    fn cql_and_mcq_sections_round_trip_and_maze2d_turns_on_lagrange() {
        let mut cfg = RunConfig {
            dataset: Some("d.hdf5".into()),
            algo: Some("cql".parse().unwrap()),
            env: "maze2d-umaze-v1".into(),
            ..RunConfig::default()
        };
        cfg.cql.clip_diff_max = Some(50.0);
        cfg.mcq.lambda = 0.7;
        apply_env_defaults(&mut cfg);
        assert!(cfg.cql.lagrange && cfg.cql.target_action_gap == 5.0);
        let text = toml::to_string_pretty(&cfg).unwrap();
        let back: RunConfig = toml::from_str(&text).unwrap();
        assert_eq!(back.rl(), cfg.rl());
        assert_eq!(back.rl().algo, Algo::Cql);
        assert_eq!(back.rl().cql.clip_diff_min, None);
        // Paper defaults (method.md §9.3) and locomotion without the Lagrange version.
        let mut loco = RunConfig {
            env: "hopper-medium-v2".into(),
            ..RunConfig::default()
        };
        apply_env_defaults(&mut loco);
        let rl = loco.rl();
        assert!(!rl.cql.lagrange);
        assert_eq!(
            (rl.cql.policy_lr, rl.cql.qf_lr, rl.cql.cql_alpha),
            (3e-5, 3e-4, 10.0)
        );
        assert_eq!(
            (rl.mcq.hidden, rl.mcq.lambda, rl.mcq.vae_hidden),
            (400, 0.9, 750)
        );
        let err = toml::from_str::<RunConfig>("[mcq]\nlamda = 0.5\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("lamda"), "{err}");
    }

    #[test]
    fn dt_section_round_trips_with_paper_defaults() {
        let mut cfg = RunConfig {
            dataset: Some("d.hdf5".into()),
            algo: Some("dt".parse().unwrap()),
            env: "hopper-medium-v2".into(),
            train: TrainConfig::for_algo(Algo::Dt),
            ..RunConfig::default()
        };
        cfg.dt.amplify_rtg = Some(1.3);
        let text = toml::to_string_pretty(&cfg).unwrap();
        let back: RunConfig = toml::from_str(&text).unwrap();
        assert_eq!(back.rl(), cfg.rl());
        let rl = back.rl();
        assert_eq!(rl.algo, Algo::Dt);
        // method.md §9.2–9.3: 100k steps, eval every 10k over 100 episodes, batch 1024.
        assert_eq!(
            (
                rl.train.steps,
                rl.train.eval_every,
                rl.train.eval_episodes,
                rl.train.batch_size
            ),
            (100_000, 10_000, 100, 1024)
        );
        assert_eq!(
            (
                rl.dt.embedding_dim,
                rl.dt.n_layers,
                rl.dt.n_heads,
                rl.dt.seq_len
            ),
            (128, 3, 1, 20)
        );
        assert_eq!(rl.dt.target_return_for(&rl.env), Some(3600.0));
        let err = toml::from_str::<RunConfig>("[dt]\nseq_lenn = 5\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("seq_lenn"), "{err}");
    }
}
