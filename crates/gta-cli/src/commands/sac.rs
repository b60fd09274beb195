//! `gta sac train` and `gta sac export` (issue 4): online SAC in the native envs, and turning a
//! run's snapshots into the behaviour policies of the dataset recipes (docs/datasets.md).

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Subcommand;
use gta_nn::{DeviceKind, init_device};
use gta_rl::online::recipe::Level;
use gta_rl::online::{SacConfig, SacRow, SacTrainer, export};

use super::run_dir::{create_new, write_atomic};

/// `gta sac` subcommands.
#[derive(Subcommand, Debug)]
pub enum SacCmd {
    /// Train SAC online in a native env; writes RUN_DIR/config.toml, metrics.csv (evaluation
    /// returns), snapshots/*.policy and checkpoints/. `--resume` continues exactly.
    Train(TrainArgs),
    /// Pick medium / expert / medium-replay behaviour policies from a run's snapshots and write
    /// `<env>-<level>.policy` plus a provenance `<env>-<level>.toml` into --out.
    Export(ExportArgs),
}

/// Arguments of `gta sac train`.
#[derive(clap::Args, Debug)]
pub struct TrainArgs {
    /// Env: halfcheetah, hopper, walker2d (also ant, maze2d-*).
    #[arg(long)]
    env: Option<String>,
    /// The run folder (new, or with --resume an existing one).
    #[arg(long)]
    out: PathBuf,
    /// Env steps in total (default 1,000,000; with --resume, the new end).
    #[arg(long)]
    steps: Option<u64>,
    /// Run seed (default 0).
    #[arg(long)]
    seed: Option<u64>,
    /// cpu or cuda[:index].
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Continue the run in --out from its newest checkpoint.
    #[arg(long)]
    resume: bool,
    /// Evaluate the mean-action policy every K env steps (default 10,000).
    #[arg(long)]
    eval_every: Option<u64>,
    /// Episodes per evaluation (default 10).
    #[arg(long)]
    eval_episodes: Option<usize>,
    /// Snapshot the actor every K env steps (default 10,000).
    #[arg(long)]
    snapshot_every: Option<u64>,
    /// Checkpoint every K env steps (default 50,000).
    #[arg(long)]
    checkpoint_every: Option<u64>,
    /// A TOML file of SacConfig fields (hidden, batch_size, start_steps, …) for a new run.
    #[arg(long)]
    config: Option<PathBuf>,
}

/// Arguments of `gta sac export`.
#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    /// The run folder of `gta sac train`.
    run_dir: PathBuf,
    /// medium, expert, medium-replay or all.
    #[arg(long, default_value = "all")]
    level: String,
    /// The output folder (e.g. policies/).
    #[arg(long)]
    out: PathBuf,
    /// Medium target return (default: D4RL's medium-v2 mean return of the env).
    #[arg(long)]
    target: Option<f64>,
    /// Stochastic episodes scoring each snapshot.
    #[arg(long, default_value_t = 10)]
    episodes: usize,
    /// Reset seed of the first scoring episode.
    #[arg(long, default_value_t = 1_000_000)]
    seed: u64,
    /// At most this many snapshots in the medium-replay policy (evenly strided).
    #[arg(long, default_value_t = 25)]
    max_replay_snapshots: usize,
}

/// Dispatches a `gta sac` subcommand.
pub fn run(cmd: SacCmd) -> anyhow::Result<()> {
    match cmd {
        SacCmd::Train(a) => train(a),
        SacCmd::Export(a) => export_cmd(a),
    }
}

fn train(args: TrainArgs) -> anyhow::Result<()> {
    let kind: DeviceKind = args.device.parse()?;
    let device = init_device(kind, 0)?;
    let cfg_path = args.out.join("config.toml");
    let mut trainer = if args.resume {
        let t = SacTrainer::load_latest(&args.out.join("checkpoints"), &device)
            .with_context(|| format!("resuming {}", args.out.display()))?;
        if args.env.as_ref().is_some_and(|e| *e != t.config.env) || args.seed.is_some() {
            bail!("--resume keeps the run's env and seed; drop --env/--seed");
        }
        t
    } else {
        let mut c = match &args.config {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .with_context(|| format!("reading {}", p.display()))?;
                toml::from_str::<SacConfig>(&text)
                    .with_context(|| format!("config {}", p.display()))?
            }
            None => SacConfig::default(),
        };
        if let Some(e) = &args.env {
            c.env = e.clone();
        }
        if c.env.is_empty() {
            bail!("--env ENV is required for a new run");
        }
        gta_envs::EnvId::parse(&c.env).with_context(|| format!("--env {}", c.env))?;
        if let Some(s) = args.seed {
            c.seed = s;
        }
        create_new(&args.out)?;
        SacTrainer::new(c, &device)?
    };
    // Protocol settings given on the command line apply to new and resumed runs.
    let c = &mut trainer.config;
    if let Some(s) = args.steps {
        c.steps = s;
    }
    if let Some(k) = args.eval_every {
        c.eval_every = k;
    }
    if let Some(k) = args.eval_episodes {
        c.eval_episodes = k;
    }
    if let Some(k) = args.snapshot_every {
        c.snapshot_every = k;
    }
    if let Some(k) = args.checkpoint_every {
        c.checkpoint_every = k;
    }
    c.validate()?;
    let text = toml::to_string_pretty(&trainer.config).context("serializing the config")?;
    write_atomic(&cfg_path, &text)?;
    let until = trainer.config.steps;
    let start = trainer.env_steps();
    eprintln!(
        "gta sac train: {} (obs {}, act {}), device {kind}, env steps {start} → {until}, run {}",
        trainer.config.env,
        trainer.spec().obs_dim,
        trainer.spec().act_dim,
        args.out.display()
    );
    let bar = indicatif::ProgressBar::new(until).with_position(start);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} env steps  {msg}  ETA {eta}")
            .expect("valid template"),
    );
    let last = trainer.train(until, Some(&args.out), |r: &SacRow| {
        bar.set_position(r.env_step);
        let f = |v: Option<f64>| v.map_or("-".to_string(), |x| format!("{x:.1}"));
        let msg = format!(
            "eval {} (score {})  train {}  α {:.3}  {:.0} upd/s",
            f(r.eval_return),
            f(r.normalized_score),
            f(r.train_return),
            r.alpha,
            r.updates_per_s
        );
        bar.set_message(msg.clone());
        if !bar.is_hidden() {
            return;
        }
        eprintln!("step {}: {msg}", r.env_step);
    })?;
    bar.finish();
    match last {
        Some(r) => eprintln!(
            "done: env step {}, eval return {} (normalized {}); snapshots in {}",
            r.env_step,
            r.eval_return.map_or("-".into(), |v| format!("{v:.1}")),
            r.normalized_score.map_or("-".into(), |v| format!("{v:.1}")),
            args.out.join("snapshots").display()
        ),
        None => eprintln!("nothing to do: the run is at env step {start}"),
    }
    Ok(())
}

fn export_cmd(args: ExportArgs) -> anyhow::Result<()> {
    let levels = match args.level.as_str() {
        "all" => vec![Level::Medium, Level::Expert, Level::MediumReplay],
        "medium" => vec![Level::Medium],
        "expert" => vec![Level::Expert],
        "medium-replay" => vec![Level::MediumReplay],
        other => bail!("--level {other}: expected medium, expert, medium-replay or all"),
    };
    let scored = export::score_snapshots(&args.run_dir, args.episodes, args.seed)?;
    eprintln!(
        "scored {} snapshots of {}",
        scored.len(),
        args.run_dir.display()
    );
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    for level in levels {
        let (policy, prov) = export::choose(
            &scored,
            level,
            args.target,
            args.max_replay_snapshots,
            &args.run_dir,
            run_seed(&args.run_dir),
            args.episodes,
        )?;
        let stem = format!("{}-{}", prov.env, prov.level);
        let ppath = args.out.join(format!("{stem}.policy"));
        std::fs::write(&ppath, policy.to_bytes())
            .with_context(|| format!("writing {}", ppath.display()))?;
        let toml = toml::to_string_pretty(&prov).context("serializing provenance")?;
        write_atomic(&args.out.join(format!("{stem}.toml")), &toml)?;
        println!(
            "wrote {}: snapshot step(s) {:?}, stochastic return {:.1} (normalized {:.1}), eval return {:.1}",
            ppath.display(),
            prov.snapshot_steps,
            prov.sample_return,
            prov.normalized_score,
            prov.eval_return
        );
    }
    Ok(())
}

/// The seed in RUN_DIR/config.toml (0 when unreadable).
fn run_seed(run_dir: &Path) -> u64 {
    std::fs::read_to_string(run_dir.join("config.toml"))
        .ok()
        .and_then(|t| toml::from_str::<SacConfig>(&t).ok())
        .map_or(0, |c| c.seed)
}
