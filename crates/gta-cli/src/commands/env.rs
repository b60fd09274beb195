//! `gta env list|rollout|replay` and `gta bench env`: native MuJoCo environments (issues 3, 11;
//! gta-envs).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::{Subcommand, ValueEnum};
use gta_envs::{EnvId, Policy, RandomPolicy, ZeroPolicy, make_env, policy_rng};
use rand::RngExt;
use serde_json::json;

#[derive(Subcommand, Debug)]
pub enum EnvCmd {
    /// List the environments with their dimensions, time limits, datasets and score constants.
    List {
        /// Print one JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Roll out a scripted policy and print mean/std return and the D4RL normalized score.
    Rollout(RolloutArgs),
    /// Replay a recorded dataset one step at a time from its stored simulator states and report
    /// how far the native dynamics are from the data (one-step qpos, observation, reward errors).
    Replay(ReplayArgs),
}

/// Arguments of `gta env replay`.
#[derive(clap::Args, Debug)]
pub struct ReplayArgs {
    /// A D4RL-layout dataset with `infos/qpos` and `infos/qvel` (e.g. door-v0_demos_clipped.hdf5).
    #[arg(long)]
    pub dataset: PathBuf,
    /// Environment name or D4RL dataset id (`door-human-v0`).
    #[arg(long)]
    pub env: String,
    /// Replay only the first N episodes (default: all).
    #[arg(long)]
    pub episodes: Option<usize>,
    /// Print one JSON object (keys `qpos_error`, `obs_error`, `reward_error`, ... with
    /// `median`, `p90`, `max`, `mean`, `count`).
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `gta env rollout`.
#[derive(clap::Args, Debug)]
pub struct RolloutArgs {
    /// Environment name or D4RL dataset id (`hopper`, `hopper-medium-v2`, `maze2d-umaze-v1`).
    #[arg(long)]
    pub env: String,
    /// Which scripted policy to roll out.
    #[arg(long, value_enum, default_value_t = ScriptedPolicy::Random)]
    pub policy: ScriptedPolicy,
    /// Number of episodes (reset seeds seed, seed+1, ...).
    #[arg(long, default_value_t = 10)]
    pub episodes: usize,
    /// First reset seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Print one JSON object (keys `return_mean`, `return_std`, `normalized_score`, ...).
    #[arg(long)]
    pub json: bool,
}

/// The scripted policies of `gta env rollout`.
#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum ScriptedPolicy {
    /// Always the zero action.
    Zero,
    /// Uniform in [-1, 1) per component.
    Random,
}

pub fn run(cmd: EnvCmd) -> anyhow::Result<()> {
    match cmd {
        EnvCmd::List { json } => list(json),
        EnvCmd::Rollout(args) => rollout(args),
        EnvCmd::Replay(args) => replay(args),
    }
}

fn replay(args: ReplayArgs) -> anyhow::Result<()> {
    EnvId::parse(&args.env)?;
    anyhow::ensure!(
        args.episodes != Some(0),
        "--episodes: expected at least 1, got 0"
    );
    let dataset = gta_data::read(&args.dataset, &Default::default())?;
    let started = Instant::now();
    let report = gta_envs::replay(&args.env, &dataset, args.episodes)?;
    let seconds = started.elapsed().as_secs_f64();
    if args.json {
        let mut value = serde_json::to_value(&report)?;
        value["dataset"] = json!(args.dataset.display().to_string());
        value["seconds"] = json!(seconds);
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    println!(
        "{}: replayed {} transitions of {} episodes of {} ({:.2} s)",
        report.env,
        report.transitions,
        report.episodes,
        args.dataset.display(),
        seconds
    );
    println!(
        "{:<44} {:>10} {:>10} {:>10} {:>10}",
        "one-step error", "median", "p90", "max", "mean"
    );
    let qpos_row = format!("qpos, max over {} coordinates", report.qpos_compared);
    for (what, s) in [
        (qpos_row.as_str(), report.qpos_error),
        ("qpos, every coordinate", report.qpos_error_elements),
        ("observation, max over dimensions", report.obs_error),
        ("reward", report.reward_error),
        ("start observation (state rebuild)", report.start_obs_error),
    ] {
        println!(
            "{what:<44} {:>10.3e} {:>10.3e} {:>10.3e} {:>10.3e}",
            s.median, s.p90, s.max, s.mean
        );
    }
    Ok(())
}

fn list(as_json: bool) -> anyhow::Result<()> {
    let specs: Vec<_> = EnvId::ALL.iter().map(|id| id.spec()).collect();
    if as_json {
        println!("{}", serde_json::to_string_pretty(&specs)?);
        return Ok(());
    }
    println!(
        "{:<20} {:>4} {:>4} {:>6} {:>7} {:>12} {:>12}  datasets",
        "env", "obs", "act", "steps", "dt", "ref_min", "ref_max"
    );
    for s in &specs {
        println!(
            "{:<20} {:>4} {:>4} {:>6} {:>7} {:>12} {:>12}  {}",
            s.name,
            s.obs_dim,
            s.act_dim,
            s.max_episode_steps,
            s.dt,
            s.ref_scores.min,
            s.ref_scores.max,
            s.datasets.join(", ")
        );
    }
    Ok(())
}

fn rollout(args: RolloutArgs) -> anyhow::Result<()> {
    let id = EnvId::parse(&args.env)?;
    anyhow::ensure!(args.episodes > 0, "--episodes: expected at least 1, got 0");
    let act_dim = id.spec().act_dim;
    let policy: Box<dyn Policy> = match args.policy {
        ScriptedPolicy::Zero => Box::new(ZeroPolicy { act_dim }),
        ScriptedPolicy::Random => Box::new(RandomPolicy { act_dim }),
    };
    let started = Instant::now();
    let evaluation =
        gta_envs::evaluate_with_success(&args.env, policy.as_ref(), args.episodes, args.seed)?;
    let result = &evaluation.result;
    let seconds = started.elapsed().as_secs_f64();
    let steps: usize = result.lengths.iter().sum();
    if args.json {
        let value = json!({
            "env": result.env,
            "policy": format!("{:?}", args.policy).to_lowercase(),
            "episodes": args.episodes,
            "seed": args.seed,
            "return_mean": result.return_mean,
            "return_std": result.return_std,
            "normalized_score": result.normalized_score,
            "normalized_score_std": result.normalized_score_std,
            "length_mean": steps as f64 / args.episodes as f64,
            "returns": result.returns,
            "lengths": result.lengths,
            "normalized_scores": result.normalized_scores,
            "success_rate": evaluation.success_rate,
            "goal_steps": evaluation.goal_steps,
            "seconds": seconds,
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        println!(
            "{} ({:?} policy, {} episodes from seed {}): return {:.3} ± {:.3}, normalized score {:.2} ± {:.2}, \
             mean length {:.1} ({} steps in {:.2} s)",
            result.env,
            args.policy,
            args.episodes,
            args.seed,
            result.return_mean,
            result.return_std,
            result.normalized_score,
            result.normalized_score_std,
            steps as f64 / args.episodes as f64,
            steps,
            seconds
        );
        if let Some(rate) = evaluation.success_rate {
            println!("success rate {:.1}% (D4RL's rule)", 100.0 * rate);
        }
    }
    Ok(())
}

/// The issue-3 target for HalfCheetah env steps/s on one core.
const TARGET_STEPS_PER_S: f64 = 20_000.0;

/// Arguments of `gta bench env`.
#[derive(clap::Args, Debug)]
pub struct BenchEnvArgs {
    /// Environment name or D4RL dataset id.
    #[arg(long, default_value = "halfcheetah")]
    pub env: String,
    /// Env steps to time (uniform random actions, reset on terminal or time limit).
    #[arg(long, default_value_t = 100_000)]
    pub steps: usize,
    /// Seed of the resets and actions.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Print one JSON object (key `steps_per_s`).
    #[arg(long)]
    pub json: bool,
}

/// Steps one environment on the calling thread (one core) with random actions.
pub fn bench(args: BenchEnvArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.steps > 0, "--steps: expected at least 1, got 0");
    let mut env = make_env(&args.env)?;
    let act_dim = env.spec().act_dim;
    let mut rng = policy_rng(args.seed);
    // Actions are drawn before timing so the figure is the simulator's alone.
    let actions: Vec<f64> = (0..args.steps * act_dim)
        .map(|_| rng.random_range(-1.0..1.0))
        .collect();
    let mut reset_seed = args.seed;
    env.reset(reset_seed);
    let mut episodes = 1usize;
    let started = Instant::now();
    for action in actions.chunks(act_dim) {
        let step = env.step(action).context("stepping the benchmark env")?;
        if step.terminal || step.timeout {
            reset_seed = reset_seed.wrapping_add(1);
            env.reset(reset_seed);
            episodes += 1;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let steps_per_s = args.steps as f64 / seconds;
    let name = env.spec().name;
    if args.json {
        let value = json!({
            "env": name,
            "steps": args.steps,
            "episodes": episodes,
            "seconds": seconds,
            "steps_per_s": steps_per_s,
            "threads": 1,
            "target_steps_per_s": TARGET_STEPS_PER_S,
            "ratio_to_target": steps_per_s / TARGET_STEPS_PER_S,
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        println!(
            "{name}: {steps_per_s:.0} env steps/s on one thread ({} steps, {episodes} episodes, {seconds:.2} s); \
             {:.2}x the {TARGET_STEPS_PER_S:.0} steps/s target",
            args.steps,
            steps_per_s / TARGET_STEPS_PER_S
        );
    }
    Ok(())
}
