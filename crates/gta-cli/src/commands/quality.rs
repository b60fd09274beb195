//! `gta quality`: how good is generated data? Oracle reward, dynamic MSE, reward MSE and novelty
//! of the generated transitions against the original dataset (method.md §10).

use std::path::PathBuf;

use anyhow::{Context, bail};
use gta_data::{ArrayData, Dataset};
use gta_metrics::QualityReport;
use rand::SeedableRng;
use rand::seq::SliceRandom;

/// Arguments of `gta quality`.
#[derive(clap::Args, Debug)]
pub struct QualityArgs {
    /// The original dataset (the reference set for novelty and the normalization statistics).
    #[arg(long)]
    original: PathBuf,
    /// The augmented dataset written by `gta augment` (rows of original data in it are skipped).
    #[arg(long)]
    augmented: PathBuf,
    /// Environment whose true dynamics are the oracle (name or D4RL id, e.g. hopper-medium-v2).
    #[arg(long)]
    env: String,
    /// Generated transitions to evaluate, drawn without replacement (the paper: 1M of 5M).
    #[arg(long, default_value_t = 1_000_000)]
    samples: usize,
    /// Seed of the subsample.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Write quality.json and quality.md into this folder.
    #[arg(long)]
    out_dir: Option<PathBuf>,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
    /// Also plot the reward distributions (original vs generated vs oracle-evaluated, paper
    /// Figure 3) as rewards.png and rewards.svg into this folder.
    #[arg(long)]
    plot: Option<PathBuf>,
    /// Where the exact nearest-neighbour search for novelty runs: cpu (all cores) or cuda[:N]
    /// (batched matmuls; the paper's 1M × 1M).
    #[arg(long, default_value = "cpu")]
    device: String,
}

fn rows_of(ds: &Dataset, key: &str, idx: &[usize], width: usize) -> anyhow::Result<Vec<f32>> {
    let (all, w) = ds.f32_matrix(key)?;
    let w = if w == 0 { width } else { w };
    Ok(idx
        .iter()
        .flat_map(|&i| all[i * w..(i + 1) * w].iter().copied())
        .collect())
}

/// Runs `gta quality`.
pub fn run(args: QualityArgs) -> anyhow::Result<()> {
    let read = |p: &PathBuf| {
        gta_data::read(p, &Default::default()).with_context(|| format!("reading {}", p.display()))
    };
    let orig = read(&args.original)?;
    let aug = read(&args.augmented)?;
    let (_, obs_dim, act_dim) = orig.check_layout()?;
    let (n_aug, o2, a2) = aug.check_layout()?;
    if (o2, a2) != (obs_dim, act_dim) {
        bail!(
            "--augmented {}: obs/act dims {o2}/{a2} differ from the original's {obs_dim}/{act_dim}",
            args.augmented.display()
        );
    }
    aug.require(
        "next_observations",
        "(N, obs_dim) next states of the generated transitions",
    )?;
    // Generated rows only: `window_id` = u32::MAX marks original rows written in front.
    let mut idx: Vec<usize> = match aug.get("window_id").map(|a| &a.data) {
        Some(ArrayData::U32(w)) => (0..n_aug).filter(|&i| w[i] != u32::MAX).collect(),
        _ => (0..n_aug).collect(),
    };
    idx.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(args.seed));
    idx.truncate(args.samples.max(1));
    idx.sort_unstable();
    let obs = rows_of(&aug, "observations", &idx, obs_dim)?;
    let act = rows_of(&aug, "actions", &idx, act_dim)?;
    let next = rows_of(&aug, "next_observations", &idx, obs_dim)?;
    let rew = rows_of(&aug, "rewards", &idx, 1)?;

    let (orig_obs, _) = orig.f32_matrix("observations")?;
    let (orig_act, _) = orig.f32_matrix("actions")?;
    let norm = gta_data::Normalizer::fit(&orig_obs, obs_dim, 1e-3)?;
    let to64 = |v: &[f32]| v.iter().map(|&x| x as f64).collect::<Vec<f64>>();
    let (mean, std) = (to64(&norm.mean), to64(&norm.std));
    let m = gta_metrics::oracle_metrics(&args.env, &obs, &act, &next, &rew, &mean, &std)?;
    let (ns, na, nsa) = match args.device.parse::<gta_nn::DeviceKind>()? {
        gta_nn::DeviceKind::Cpu => {
            gta_metrics::novelty(&obs, &act, &orig_obs, &orig_act, obs_dim, act_dim)
        }
        kind => {
            let device = gta_nn::init_device(kind, args.seed)?;
            gta_metrics::novelty_on(&obs, &act, &orig_obs, &orig_act, obs_dim, act_dim, &device)
        }
    };
    let report = QualityReport {
        samples: idx.len(),
        oracle_reward: m.oracle_reward,
        generated_reward: m.generated_reward,
        dynamic_mse: m.dynamic_mse,
        reward_mse: m.reward_mse,
        novelty_state: ns,
        novelty_action: na,
        novelty_state_action: nsa,
        action_out_of_range: act.iter().filter(|a| a.abs() > 1.0).count() as f64
            / act.len().max(1) as f64,
    };
    if let Some(dir) = &args.plot {
        plot_rewards(dir, &args, &orig, &obs, &act, &rew)?;
    }
    let md = markdown(&report, &args);
    if let Some(dir) = &args.out_dir {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        for (name, text) in [
            ("quality.json", serde_json::to_string_pretty(&report)?),
            ("quality.md", md.clone()),
        ] {
            let (tmp, path) = (dir.join(format!(".{name}.tmp")), dir.join(name));
            std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
            std::fs::rename(&tmp, &path)
                .with_context(|| format!("renaming to {}", path.display()))?;
        }
    }
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print!("{md}");
    }
    Ok(())
}

/// `--plot DIR`: histograms of the original rewards, the generated rewards and the true rewards
/// r*(s, a) of the generated (s, a) (the evaluated subsample; the oracle is stepped again here).
fn plot_rewards(
    dir: &std::path::Path,
    args: &QualityArgs,
    orig: &Dataset,
    obs: &[f32],
    act: &[f32],
    rew: &[f32],
) -> anyhow::Result<()> {
    let to64 = |v: &[f32]| v.iter().map(|&x| x as f64).collect::<Vec<f64>>();
    let (orig_rew, _) = orig.f32_matrix("rewards")?;
    let oracle: Vec<f64> = gta_envs::Oracle::new(&args.env)?
        .transitions(obs, act)?
        .iter()
        .map(|t| t.reward)
        .collect();
    let series = [
        ("original", to64(&orig_rew)),
        ("generated", to64(rew)),
        ("oracle (true r of generated s, a)", oracle),
    ]
    .map(|(label, values)| gta_metrics::plot::Series {
        label: label.to_string(),
        values,
    });
    std::fs::create_dir_all(dir).with_context(|| format!("creating --plot {}", dir.display()))?;
    let title = format!("Reward distributions: {}", args.env);
    for name in ["rewards.png", "rewards.svg"] {
        gta_metrics::plot::reward_distributions(&dir.join(name), &title, &series, 50)?;
    }
    Ok(())
}

fn markdown(r: &QualityReport, args: &QualityArgs) -> String {
    format!(
        "# Data quality of {}\n\nOriginal data: {}; oracle: {}; {} generated transitions.\n\n\
         | metric | value |\n|---|---|\n\
         | oracle reward (true r of generated s, a) | {:.4} |\n\
         | generated reward | {:.4} |\n\
         | reward MSE | {:.4} |\n\
         | dynamic MSE (eq. 17) | {:.4} |\n\
         | novelty: state | {:.4} |\n\
         | novelty: action | {:.4} |\n\
         | novelty: state-action | {:.4} |\n\
         | actions outside [-1, 1] | {:.2}% |\n",
        args.augmented.display(),
        args.original.display(),
        args.env,
        r.samples,
        r.oracle_reward,
        r.generated_reward,
        r.reward_mse,
        r.dynamic_mse,
        r.novelty_state,
        r.novelty_action,
        r.novelty_state_action,
        100.0 * r.action_out_of_range
    )
}
