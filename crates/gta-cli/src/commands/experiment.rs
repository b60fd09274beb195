//! `gta experiment run | tasks | report`: grids of datasets × augmentations × algorithms × seeds
//! run as cells of the `gta` binary itself, restart-safe and parallel, and the paper-style report
//! (issue 8 items 3–4; docs/experiments.md).

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Subcommand;

use crate::commands::run_dir::write_atomic;
use crate::experiment::cells::{self, Cell};
use crate::experiment::spec::Spec;
use crate::experiment::{SPEC_FILE, report, runner};

/// `gta experiment` subcommands.
#[derive(Subcommand, Debug)]
pub enum ExperimentCmd {
    /// Run every cell of SPEC.toml into --out (finished cells are skipped, unfinished ones
    /// redone), then write the report; or, with --task-index I, only cell I and what it needs.
    Run(RunArgs),
    /// Print one line per cell: index, id and the gta command it runs (dependencies first).
    Tasks(TasksArgs),
    /// Write DIR/report.md, DIR/report.json and DIR/plots/ from the finished cells in DIR.
    Report(ReportArgs),
}

/// Arguments of `gta experiment run`.
#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// The experiment spec (TOML; see experiments/ and docs/experiments.md).
    spec: PathBuf,
    /// Output folder: one subfolder per cell, spec.json, report.md, report.json, plots/.
    #[arg(long)]
    out: PathBuf,
    /// Cells run at the same time (independent cells only).
    #[arg(long, default_value_t = 1)]
    jobs: usize,
    /// Run only the cell with this index (see `gta experiment tasks`) and the cells it depends
    /// on, e.g. as a Slurm array task; no report is written.
    #[arg(long)]
    task_index: Option<usize>,
}

/// Arguments of `gta experiment tasks`.
#[derive(clap::Args, Debug)]
pub struct TasksArgs {
    /// The experiment spec.
    spec: PathBuf,
    /// The output folder the commands write into (default: runs/<spec name>).
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Arguments of `gta experiment report`.
#[derive(clap::Args, Debug)]
pub struct ReportArgs {
    /// An output folder of `gta experiment run`.
    dir: PathBuf,
}

/// Dispatches a `gta experiment` subcommand.
pub fn run(cmd: ExperimentCmd) -> anyhow::Result<()> {
    match cmd {
        ExperimentCmd::Run(args) => run_spec(args),
        ExperimentCmd::Tasks(args) => tasks(args),
        ExperimentCmd::Report(args) => report_cmd(args),
    }
}

/// Records the resolved spec in `out/spec.json` (what `report` reads) after checking that every
/// finished cell of the plan was finished with the command the spec now gives it: a spec may grow
/// over an existing folder (more seeds, augmentations, datasets), but a finished cell is never
/// reused for a different command.
fn claim_out_dir(spec: &Spec, cells: &[Cell], out: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("creating --out {}", out.display()))?;
    for c in cells.iter().filter(|c| runner::is_done(c)) {
        let done = runner::read_done(c)?;
        if done.args != c.args {
            bail!(
                "--out {}: cell {} was finished with `{}`, but the spec now gives it `{}`; \
                 delete {} to redo it, or use another --out",
                out.display(),
                c.id,
                done.command,
                c.command_line(),
                c.dir.display()
            );
        }
    }
    let path = out.join(SPEC_FILE);
    if path.is_file() && report::load_run_spec(out).is_ok_and(|old| &old == spec) {
        return Ok(());
    }
    let text = serde_json::to_string_pretty(spec).context("serializing the spec")?;
    write_atomic(&path, &text)
}

fn run_spec(args: RunArgs) -> anyhow::Result<()> {
    let spec = Spec::load(&args.spec)?;
    spec.check_dataset_files()
        .with_context(|| format!("spec {}", args.spec.display()))?;
    let all = cells::plan(&spec, &args.out)?;
    claim_out_dir(&spec, &all, &args.out)?;
    let wanted: Vec<usize> = match args.task_index {
        Some(i) if i < all.len() => cells::closure(&all, i),
        Some(i) => bail!(
            "--task-index {i}: the spec has {} cells (0..{})",
            all.len(),
            all.len()
        ),
        None => (0..all.len()).collect(),
    };
    println!(
        "experiment {}: {} cells, running {} with --jobs {} into {}",
        spec.name,
        all.len(),
        wanted.len(),
        args.jobs,
        args.out.display()
    );
    let summary = runner::run_cells(&all, &wanted, args.jobs)?;
    println!(
        "ran {}, skipped {} finished, {} failed, {} blocked",
        summary.ran.len(),
        summary.skipped.len(),
        summary.failed.len(),
        summary.blocked.len()
    );
    runner::check(&summary)?;
    if args.task_index.is_none() {
        let r = report::build(&spec, &all, &args.out)?;
        println!(
            "report: {} ({} plots)",
            args.out.join("report.md").display(),
            r.plots.len()
        );
    }
    Ok(())
}

fn tasks(args: TasksArgs) -> anyhow::Result<()> {
    let spec = Spec::load(&args.spec)?;
    let out = args
        .out
        .unwrap_or_else(|| PathBuf::from("runs").join(&spec.name));
    let all: Vec<Cell> = cells::plan(&spec, &out)?;
    let mut stdout = std::io::stdout().lock();
    for (i, c) in all.iter().enumerate() {
        use std::io::Write;
        match writeln!(stdout, "{i}\t{}\t{}", c.id, c.command_line()) {
            Ok(()) => {}
            // `gta experiment tasks ... | head`: the reader has all it wants.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
            Err(e) => return Err(e).context("writing the task list"),
        }
    }
    Ok(())
}

fn report_cmd(args: ReportArgs) -> anyhow::Result<()> {
    let spec = report::load_run_spec(&args.dir)?;
    let all = cells::plan(&spec, &args.dir)?;
    let r = report::build(&spec, &all, &args.dir)?;
    let md = std::fs::read_to_string(args.dir.join("report.md"))
        .with_context(|| format!("reading {}/report.md", args.dir.display()))?;
    print!("{md}");
    eprintln!(
        "wrote {0}/report.md, {0}/report.json and {1} plots ({2} of {3} cells finished)",
        args.dir.display(),
        r.plots.len(),
        r.cells_done,
        r.cells_total
    );
    Ok(())
}
