//! `gta demo`: the main job on the embedded default, end to end on the CPU in a few minutes.
//! It runs the same subcommands a user would, printing each command line first:
//! make a small maze2d-umaze dataset with D4RL's waypoint controller → summarize it → train a tiny
//! diffusion model → augment with amplified-return guidance (and, for comparison, without
//! guidance) → measure both generated sets against the true dynamics → train TD3+BC on the
//! original and on the augmented data and report D4RL normalized scores.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

/// The tiny model config the demo trains (also `configs/tiny.toml`).
const TINY_CONFIG: &str = include_str!("../../../../configs/tiny.toml");

/// Arguments of `gta demo`.
#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// Folder for everything the demo writes (dataset, model run, generated data, reports).
    #[arg(long, default_value = "runs/demo")]
    out: PathBuf,
    /// Transitions of the built-in dataset (maze2d-umaze, 300-step episodes).
    #[arg(long, default_value_t = 9000)]
    transitions: usize,
    /// Diffusion training steps.
    #[arg(long, default_value_t = 400)]
    train_steps: u64,
    /// Generated transitions per augmentation.
    #[arg(long, default_value_t = 2100)]
    augment: usize,
    /// TD3+BC gradient steps on the original and on the augmented data (0 skips the RL stage).
    #[arg(long, default_value_t = 1000)]
    rl_steps: u64,
    /// Seed of every stage.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Device for training and sampling: cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Delete an existing demo folder first.
    #[arg(long)]
    overwrite: bool,
}

fn step(title: &str, args: &[String]) -> anyhow::Result<()> {
    let exe = std::env::current_exe().context("locating the gta binary")?;
    println!("\n== {title}\n$ gta {}", args.join(" "));
    let status = Command::new(&exe)
        .args(args)
        .status()
        .with_context(|| format!("running {}", exe.display()))?;
    if !status.success() {
        bail!("step '{title}' failed ({status})");
    }
    Ok(())
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// Runs `gta demo`.
pub fn run(args: DemoArgs) -> anyhow::Result<()> {
    let dir = &args.out;
    if dir.exists() {
        if !args.overwrite {
            bail!(
                "--out {}: exists; pass --overwrite to replace the demo folder",
                dir.display()
            );
        }
        std::fs::remove_dir_all(dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let data = dir.join("maze2d-umaze.hdf5");
    let config = dir.join("tiny.toml");
    // Maze tasks get no terminal penalty (method.md §2.4).
    let text = TINY_CONFIG.replace("[data]\n", "[data]\nterminal_penalty = false\n");
    std::fs::write(&config, text).with_context(|| format!("writing {}", config.display()))?;
    let model = dir.join("model");
    let seed = args.seed.to_string();
    step(
        "1. make a D4RL-style dataset (noisy waypoint controller in maze2d-umaze)",
        &[
            "data",
            "make",
            "maze2d-umaze",
            "--out",
            &s(&data),
            "--transitions",
            &args.transitions.to_string(),
            "--seed",
            &seed,
        ]
        .map(String::from),
    )?;
    step(
        "2. summarize it",
        &["data", "info", &s(&data), "--env", "maze2d-umaze"].map(String::from),
    )?;
    step(
        "3. train a tiny return-conditioned diffusion model (EDM + MixerUnet)",
        &[
            "diffusion",
            "train",
            "--dataset",
            &s(&data),
            "--out",
            &s(&model),
            "--config",
            &s(&config),
            "--steps",
            &args.train_steps.to_string(),
            "--seed",
            &seed,
            "--device",
            &args.device,
        ]
        .map(String::from),
    )?;
    let n = args.augment.to_string();
    let mut outputs = vec![];
    for (name, extra) in [
        (
            "gta",
            vec!["--condition", "amplified", "--reweighting", "sparse"],
        ),
        ("unconditioned", vec!["--condition", "unconditioned"]),
    ] {
        let out = dir.join(format!("{name}.hdf5"));
        let mut a: Vec<String> = [
            "augment",
            "--model",
            &s(&model),
            "--out",
            &s(&out),
            "--transitions",
            &n,
            "--seed",
            &seed,
            "--device",
            &args.device,
        ]
        .map(String::from)
        .to_vec();
        a.extend(extra.iter().map(|x| x.to_string()));
        let title = format!("4. augment: {name} (mu 0.5, alpha 1.3, w 2)");
        step(&title, &a)?;
        outputs.push((name, out));
    }
    for (name, out) in &outputs {
        let report_dir = dir.join(format!("quality-{name}"));
        step(
            &format!("5. data quality of '{name}' against the true maze dynamics"),
            &[
                "quality",
                "--original",
                &s(&data),
                "--augmented",
                &s(out),
                "--env",
                "maze2d-umaze",
                "--out-dir",
                &s(&report_dir),
            ]
            .map(String::from),
        )?;
    }
    if args.rl_steps > 0 {
        let gta_data = &outputs[0].1;
        for (name, extra) in [
            ("original", vec![]),
            ("original+gta", vec!["--augmented".to_string(), s(gta_data)]),
        ] {
            let mut a: Vec<String> = [
                "rl",
                "train",
                "--algo",
                "td3bc",
                "--dataset",
                &s(&data),
                "--env",
                "maze2d-umaze",
                "--out",
                &s(&dir.join(format!("td3bc-{}", name.replace('+', "-")))),
                "--steps",
                &args.rl_steps.to_string(),
                "--eval-every",
                &args.rl_steps.to_string(),
                "--eval-episodes",
                "10",
                "--batch",
                "256",
                "--seed",
                &seed,
                "--device",
                &args.device,
            ]
            .map(String::from)
            .to_vec();
            a.extend(extra);
            step(
                &format!("6. TD3+BC on {name} data, D4RL normalized score in the native env"),
                &a,
            )?;
        }
    }
    println!(
        "\nDone. Everything is in {}: the dataset, the model run (config.toml, metrics.csv, checkpoints/),",
        dir.display()
    );
    println!(
        "the generated datasets, the quality reports (quality-*/quality.md) and the TD3+BC runs (td3bc-*/metrics.csv)."
    );
    Ok(())
}
