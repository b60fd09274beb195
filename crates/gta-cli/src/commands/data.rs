//! `gta data info|convert`: inspect, validate and convert datasets (issue 2 item 4).

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Subcommand, ValueEnum};
use gta_data::{
    DataError, DatasetInfo, EpisodeOptions, Format, ReadOptions, SplitRule, WriteOptions,
};

use crate::exit::RuntimeFailure;

/// `gta data` subcommands.
#[derive(Subcommand, Debug)]
pub enum DataCmd {
    /// Summarize and validate a dataset: transitions, episodes, dims, dtype, returns per episode,
    /// terminal/timeout counts and problems found. Exits with 2 if the dataset holds NaN/Inf.
    Info {
        /// The dataset: a D4RL .hdf5/.h5 file, a .npz file or a Minari dataset folder.
        path: PathBuf,
        /// Print one JSON object instead of a table.
        #[arg(long)]
        json: bool,
        /// Which flags end an episode.
        #[arg(long, value_enum, default_value_t = Split::TerminalsOrTimeouts)]
        split: Split,
        /// Count the rows after the last episode end as a final, incomplete episode.
        #[arg(long)]
        keep_partial: bool,
        /// Read the input as this format instead of guessing it from the path.
        #[arg(long, value_enum)]
        format: Option<FormatArg>,
        /// The environment (name or D4RL id, e.g. hopper-medium-v2) whose D4RL reference scores
        /// turn the mean episode return into a normalized score (`normalized_score_mean`).
        #[arg(long)]
        env: Option<String>,
    },
    /// Make a D4RL-style dataset with gta's own environments and scripted policies:
    /// `maze2d-{umaze,medium,large}` (D4RL's noisy waypoint controller, 300/600/800-step episodes)
    /// `{halfcheetah,hopper,walker2d,ant,maze2d-*}-random` (uniform actions), and the SAC
    /// recipes `{halfcheetah,hopper,walker2d}-{medium,medium-replay,expert,medium-expert}` from
    /// the behaviour policies in policies/ (docs/datasets.md).
    Make {
        /// Dataset id, e.g. maze2d-umaze or hopper-random.
        id: String,
        /// Output file (.hdf5, .npz) or Minari folder.
        #[arg(long)]
        out: PathBuf,
        /// Number of transitions (D4RL uses 1,000,000).
        #[arg(long, default_value_t = 1_000_000)]
        transitions: usize,
        /// Standard deviation of the waypoint controller's Gaussian action noise (D4RL: 0.5).
        #[arg(long, default_value_t = 0.5)]
        noise: f32,
        /// Seed: episode e resets with seed + e.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Replace the output if it already exists.
        #[arg(long)]
        overwrite: bool,
        /// Folder of the SAC behaviour policies (default: $GTA_POLICIES, else ./policies, else
        /// the policies/ folder of the source tree this binary was built from).
        #[arg(long)]
        policies: Option<PathBuf>,
    },
    /// Convert a dataset between D4RL HDF5, .npz and Minari, keeping every array bit for bit.
    Convert {
        /// The input dataset (.hdf5/.h5, .npz or a Minari folder).
        input: PathBuf,
        /// The output path (.hdf5/.h5, .npz, or a folder name for Minari).
        output: PathBuf,
        /// The output format, instead of guessing it from the output path.
        #[arg(long, value_enum)]
        format: Option<FormatArg>,
        /// Read the input as this format instead of guessing it from the path.
        #[arg(long, value_enum)]
        input_format: Option<FormatArg>,
        /// Replace the output if it already exists.
        #[arg(long)]
        overwrite: bool,
    },
}

/// Episode split rule on the command line.
#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum Split {
    /// terminals | timeouts (D4RL locomotion).
    TerminalsOrTimeouts,
    /// terminals only (Adroit human demos).
    Terminals,
    /// timeouts only (maze2d).
    Timeouts,
}

/// Dataset format on the command line.
#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum FormatArg {
    /// D4RL-layout HDF5.
    Hdf5,
    /// numpy .npz.
    Npz,
    /// Minari dataset folder.
    Minari,
}

impl From<FormatArg> for Format {
    fn from(f: FormatArg) -> Format {
        match f {
            FormatArg::Hdf5 => Format::Hdf5,
            FormatArg::Npz => Format::Npz,
            FormatArg::Minari => Format::Minari,
        }
    }
}

impl From<Split> for SplitRule {
    fn from(s: Split) -> SplitRule {
        match s {
            Split::TerminalsOrTimeouts => SplitRule::TerminalsOrTimeouts,
            Split::Terminals => SplitRule::Terminals,
            Split::Timeouts => SplitRule::Timeouts,
        }
    }
}

/// Runs a `gta data` subcommand.
pub fn run(cmd: DataCmd) -> anyhow::Result<()> {
    match cmd {
        DataCmd::Info {
            path,
            json,
            split,
            keep_partial,
            format,
            env,
        } => {
            let options = EpisodeOptions {
                split: split.into(),
                keep_partial,
            };
            let dataset = gta_data::read(
                &path,
                &ReadOptions {
                    format: format.map(Into::into),
                },
            )
            .map_err(classify)?;
            let info = DatasetInfo::from_dataset(&dataset, &options).map_err(classify)?;
            // A linear map, so the mean of per-episode scores is the score of the mean return.
            let score = match &env {
                Some(e) => Some(gta_envs::d4rl_score(e, info.return_mean)?),
                None => None,
            };
            if json {
                let mut v = serde_json::to_value(&info).context("serializing the summary")?;
                if let Some(s) = score {
                    v["normalized_score_mean"] = s.into();
                }
                println!("{v}");
            } else {
                print_table(&info);
                for key in ["metadata/gta_recipe", "metadata/gta_recipe_hash"] {
                    if let Some(gta_data::Array {
                        data: gta_data::ArrayData::Str(v),
                        ..
                    }) = dataset.get(key)
                    {
                        let name = key.trim_start_matches("metadata/gta_").replace('_', " ");
                        println!("{name:<22} {}", v.join(","));
                    }
                }
                if let (Some(s), Some(e)) = (score, &env) {
                    println!(
                        "{:<20} {s:.2} (D4RL reference scores of {e})",
                        "normalized score"
                    );
                }
            }
            // The report is printed either way; NaN/Inf in the pipeline arrays makes it bad input.
            dataset.check_finite().map_err(classify)?;
            Ok(())
        }
        DataCmd::Make {
            id,
            out,
            transitions,
            noise,
            seed,
            overwrite,
            policies,
        } => make(&id, &out, transitions, noise, seed, overwrite, policies),
        DataCmd::Convert {
            input,
            output,
            format,
            input_format,
            overwrite,
        } => {
            let dataset = gta_data::read(
                &input,
                &ReadOptions {
                    format: input_format.map(Into::into),
                },
            )
            .map_err(classify)?;
            dataset.check_layout().map_err(classify)?;
            dataset.check_finite().map_err(classify)?;
            let options = WriteOptions {
                format: format.map(Into::into),
                overwrite,
                ..WriteOptions::default()
            };
            gta_data::write(&dataset, &output, &options).map_err(classify)?;
            println!(
                "wrote {} ({} arrays)",
                output.display(),
                dataset.arrays.len()
            );
            Ok(())
        }
    }
}

/// Bad input stays a plain error (exit 2); an I/O failure becomes a runtime failure (exit 1).
fn classify(e: DataError) -> anyhow::Error {
    if e.is_bad_input() {
        anyhow::Error::new(e)
    } else {
        anyhow::Error::new(RuntimeFailure(e.to_string()))
    }
}

fn print_table(info: &DatasetInfo) {
    let rows: Vec<(&str, String)> = vec![
        ("path", info.path.clone()),
        ("transitions", info.transitions.to_string()),
        ("episodes", info.episodes.to_string()),
        ("trailing rows", info.trailing_rows.to_string()),
        ("obs_dim", info.obs_dim.to_string()),
        ("act_dim", info.act_dim.to_string()),
        ("dtype", info.dtype.clone()),
        ("terminals", info.terminals.to_string()),
        ("timeouts", info.timeouts.to_string()),
        (
            "next_observations",
            if info.has_next_observations {
                "present"
            } else {
                "absent"
            }
            .to_string(),
        ),
        (
            "episode length",
            format!("{} .. {}", info.episode_len_min, info.episode_len_max),
        ),
        (
            "return (min/mean/max)",
            format!(
                "{:.3} / {:.3} / {:.3}",
                info.return_min, info.return_mean, info.return_max
            ),
        ),
    ];
    for (k, v) in rows {
        println!("{k:<22} {v}");
    }
    println!("arrays:");
    for (k, v) in &info.arrays {
        println!("  {k:<36} {v}");
    }
    if info.problems.is_empty() {
        println!("problems: none");
    } else {
        println!("problems:");
        for p in &info.problems {
            println!("  - {p}");
        }
    }
}

/// `gta data make`: a scripted-policy dataset in the D4RL layout.
fn make(
    id: &str,
    out: &Path,
    transitions: usize,
    noise: f32,
    seed: u64,
    overwrite: bool,
    policies: Option<PathBuf>,
) -> anyhow::Result<()> {
    if transitions == 0 {
        anyhow::bail!("--transitions 0: expected at least 1");
    }
    if out.exists() && !overwrite {
        anyhow::bail!(
            "--out {}: exists; pass --overwrite to replace it",
            out.display()
        );
    }
    if let Some((env, _)) = gta_rl::online::recipe::parse_recipe(id) {
        let dir = policies.unwrap_or_else(default_policies_dir);
        let t0 = std::time::Instant::now();
        let made = gta_rl::online::recipe::make(id, &dir, transitions, seed)?;
        let options = WriteOptions {
            overwrite,
            ..WriteOptions::default()
        };
        gta_data::write(&made.dataset, out, &options).map_err(classify)?;
        let info = DatasetInfo::from_dataset(&made.dataset, &EpisodeOptions::default())
            .map_err(classify)?;
        println!(
            "wrote {} in {:.1} s: {} transitions, {} episodes, return mean {:.2} (min {:.2}, max {:.2}), \
             normalized score {:.2}; recipe hash {}",
            out.display(),
            t0.elapsed().as_secs_f64(),
            info.transitions,
            info.episodes,
            info.return_mean,
            info.return_min,
            info.return_max,
            gta_envs::d4rl_score(env.name(), info.return_mean)?,
            made.hash
        );
        return Ok(());
    }
    let (env_name, random) = match id.strip_suffix("-random") {
        Some(base) => (base, true),
        None => (id, false),
    };
    let env = gta_envs::EnvId::parse(env_name)?;
    let spec = env.spec();
    let dataset = if random {
        gta_envs::collect(
            env,
            &gta_envs::RandomPolicy {
                act_dim: spec.act_dim,
            },
            transitions,
            seed,
        )?
    } else if env.name().starts_with("maze2d") {
        gta_envs::collect(
            env,
            &gta_envs::WaypointPolicy::new(env, noise),
            transitions,
            seed,
        )?
    } else {
        anyhow::bail!(
            "dataset id {id}: gta can make `<env>-random`, `maze2d-{{umaze,medium,large}}` and \
             `{{halfcheetah,hopper,walker2d}}-{{medium,medium-replay,expert,medium-expert}}`"
        );
    };
    let options = WriteOptions {
        overwrite,
        ..WriteOptions::default()
    };
    gta_data::write(&dataset, out, &options).map_err(classify)?;
    let info = DatasetInfo::from_dataset(&dataset, &EpisodeOptions::default()).map_err(classify)?;
    println!(
        "wrote {}: {} transitions, {} episodes, return mean {:.2} (min {:.2}, max {:.2}), normalized score {:.2}",
        out.display(),
        info.transitions,
        info.episodes,
        info.return_mean,
        info.return_min,
        info.return_max,
        gta_envs::d4rl_score(env.name(), info.return_mean)?
    );
    Ok(())
}

/// The behaviour-policy folder: `$GTA_POLICIES`, else `./policies` if it exists, else the
/// `policies/` folder of the source tree the binary was built from.
fn default_policies_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("GTA_POLICIES") {
        return PathBuf::from(d);
    }
    let local = PathBuf::from("policies");
    if local.is_dir() {
        return local;
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../policies")
}
