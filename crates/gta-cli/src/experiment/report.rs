//! `gta experiment report DIR`: the paper-style table computed from the run's own outputs
//! (issue 8 item 3). Final D4RL normalized scores are read from each finished RL cell's
//! `run/metrics.csv` (the last evaluation row); mean ± sample std over seeds (paper F.2);
//! Welch's t-test of every GTA augmentation against every baseline (none, s4rl, synther); the
//! quality cells' `quality.json`; plots (score bars, learning curves) and `report.md` /
//! `report.json`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use gta_metrics::QualityReport;
use gta_metrics::plot::{self, Bar, Curve};
use gta_metrics::stats::{WelchTest, mean_std, welch_t_test};
use serde::{Deserialize, Serialize};

use super::cells::{Cell, CellKind};
use super::runner::is_done;
use super::spec::{AugKind, Spec};
use crate::commands::run_dir::write_atomic;

/// One (dataset, algorithm, augmentation) entry of the score table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScoreRow {
    /// Dataset name.
    pub dataset: String,
    /// Algorithm.
    pub algorithm: String,
    /// Augmentation name.
    pub augmentation: String,
    /// Seeds with a finished run that has an evaluation.
    pub seeds: Vec<u64>,
    /// Final normalized score per seed (same order).
    pub scores: Vec<f64>,
    /// Gradient step of each final evaluation.
    pub steps: Vec<u64>,
    /// Mean over seeds (null when no run finished).
    pub mean: Option<f64>,
    /// Sample standard deviation over seeds (n − 1).
    pub std: Option<f64>,
}

/// Welch's t-test of a GTA augmentation against a baseline on one dataset × algorithm.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TestRow {
    /// Dataset name.
    pub dataset: String,
    /// Algorithm.
    pub algorithm: String,
    /// The GTA augmentation.
    pub gta: String,
    /// The augmentation it is compared with.
    pub baseline: String,
    /// t, df and two-sided p (null with fewer than 2 seeds a side or zero variance).
    pub test: Option<WelchTest>,
}

/// The quality report of one augmented dataset.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QualityRow {
    /// Dataset name.
    pub dataset: String,
    /// Augmentation name.
    pub augmentation: String,
    /// `gta quality`'s metrics.
    pub metrics: QualityReport,
    /// The reward-distribution plot, relative to the report folder.
    pub reward_plot: Option<PathBuf>,
}

/// `report.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Experiment name.
    pub name: String,
    /// Cells finished / planned.
    pub cells_done: usize,
    /// Cells planned.
    pub cells_total: usize,
    /// The score table.
    pub scores: Vec<ScoreRow>,
    /// GTA vs baselines.
    pub tests: Vec<TestRow>,
    /// Data quality per augmented dataset.
    pub quality: Vec<QualityRow>,
    /// Plot files written, relative to the report folder.
    pub plots: Vec<PathBuf>,
}

/// Evaluation rows `(step, normalized_score)` of a `gta rl train` metrics.csv, in file order.
pub fn read_eval_rows(path: &Path) -> anyhow::Result<Vec<(u64, f64)>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines
        .next()
        .with_context(|| format!("{}: empty file", path.display()))?
        .split(',')
        .collect();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .with_context(|| format!("{}: no `{name}` column in the header", path.display()))
    };
    let (step_col, score_col) = (col("step")?, col("normalized_score")?);
    let mut rows = vec![];
    for (n, line) in lines.enumerate() {
        let f: Vec<&str> = line.split(',').collect();
        let field = |c: usize| f.get(c).copied().unwrap_or("");
        if field(score_col).is_empty() {
            continue;
        }
        let bad = || format!("{}: line {}: expected numbers", path.display(), n + 2);
        let step: u64 = field(step_col).parse().with_context(bad)?;
        let score: f64 = field(score_col).parse().with_context(bad)?;
        rows.push((step, score));
    }
    Ok(rows)
}

fn fmt_ms(mean: Option<f64>, std: Option<f64>, n: usize) -> String {
    match (mean, std) {
        (Some(m), Some(s)) => format!("{m:.1} ± {s:.1} ({n})"),
        _ => "–".into(),
    }
}

fn safe(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Builds the report of the experiment in `out` (cells from `spec`), writing `report.md`,
/// `report.json` and `plots/`.
pub fn build(spec: &Spec, cells: &[Cell], out: &Path) -> anyhow::Result<Report> {
    let done: Vec<&Cell> = cells.iter().filter(|c| is_done(c)).collect();
    let plots_dir = out.join("plots");
    std::fs::create_dir_all(&plots_dir)
        .with_context(|| format!("creating {}", plots_dir.display()))?;
    // Learning curves and final scores of every finished RL cell.
    let mut runs: Runs = BTreeMap::new();
    for c in done.iter().filter(|c| c.kind == CellKind::Rl) {
        let rows = read_eval_rows(&c.outputs["metrics"])?;
        let key = (
            c.dataset.clone(),
            c.algorithm.clone().unwrap_or_default(),
            c.augmentation.clone().unwrap_or_default(),
        );
        runs.entry(key)
            .or_default()
            .push((c.seed.unwrap_or(0), rows));
    }
    let mut scores = vec![];
    for d in &spec.datasets {
        for algo in &spec.rl.algorithms {
            for a in &spec.augmentations {
                let key = (d.name.clone(), algo.clone(), a.name.clone());
                let mut row = ScoreRow {
                    dataset: d.name.clone(),
                    algorithm: algo.clone(),
                    augmentation: a.name.clone(),
                    seeds: vec![],
                    scores: vec![],
                    steps: vec![],
                    mean: None,
                    std: None,
                };
                for (seed, rows) in runs.get(&key).map(Vec::as_slice).unwrap_or(&[]) {
                    if let Some(&(step, score)) = rows.last() {
                        row.seeds.push(*seed);
                        row.scores.push(score);
                        row.steps.push(step);
                    }
                }
                if !row.scores.is_empty() {
                    let (m, s) = mean_std(&row.scores);
                    (row.mean, row.std) = (Some(m), Some(s));
                }
                scores.push(row);
            }
        }
    }
    let find = |d: &str, al: &str, au: &str| {
        scores
            .iter()
            .find(|r| r.dataset == d && r.algorithm == al && r.augmentation == au)
            .expect("every combination has a row")
    };
    let mut tests = vec![];
    for d in &spec.datasets {
        for algo in &spec.rl.algorithms {
            for g in spec.augmentations.iter().filter(|a| a.kind == AugKind::Gta) {
                for b in spec.augmentations.iter().filter(|b| b.kind != AugKind::Gta) {
                    let (x, y) = (find(&d.name, algo, &g.name), find(&d.name, algo, &b.name));
                    tests.push(TestRow {
                        dataset: d.name.clone(),
                        algorithm: algo.clone(),
                        gta: g.name.clone(),
                        baseline: b.name.clone(),
                        test: welch_t_test(&x.scores, &y.scores),
                    });
                }
            }
        }
    }
    let mut quality = vec![];
    for c in done.iter().filter(|c| c.kind == CellKind::Quality) {
        let path = &c.outputs["quality"];
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let metrics: QualityReport =
            serde_json::from_str(&text).with_context(|| format!("{}", path.display()))?;
        let plot = c.outputs.get("reward_plot").filter(|p| p.is_file());
        quality.push(QualityRow {
            dataset: c.dataset.clone(),
            augmentation: c.augmentation.clone().unwrap_or_default(),
            metrics,
            reward_plot: plot.map(|p| relative(p, out)),
        });
    }
    let plots = draw_plots(spec, &scores, &runs, out)?;
    let report = Report {
        name: spec.name.clone(),
        cells_done: done.len(),
        cells_total: cells.len(),
        scores,
        tests,
        quality,
        plots,
    };
    write_atomic(
        &out.join("report.json"),
        &serde_json::to_string_pretty(&report).context("serializing report.json")?,
    )?;
    write_atomic(&out.join("report.md"), &markdown(spec, &report))?;
    Ok(report)
}

/// `p` relative to `base` when it lies under it.
fn relative(p: &Path, base: &Path) -> PathBuf {
    p.strip_prefix(base)
        .map(Path::to_path_buf)
        .unwrap_or_else(|_| p.to_path_buf())
}

/// Evaluation rows `(step, score)` per seed, by (dataset, algorithm, augmentation).
/// Evaluation rows `(step, score)` per seed, by (dataset, algorithm, augmentation).
type Runs = BTreeMap<(String, String, String), Vec<(u64, Vec<(u64, f64)>)>>;

/// Score bars per algorithm (groups = datasets, series = augmentations) and learning curves per
/// dataset × algorithm, each as PNG and SVG.
fn draw_plots(
    spec: &Spec,
    scores: &[ScoreRow],
    runs: &Runs,
    out: &Path,
) -> anyhow::Result<Vec<PathBuf>> {
    let mut written = vec![];
    for algo in &spec.rl.algorithms {
        let bars: Vec<Bar> = scores
            .iter()
            .filter(|r| &r.algorithm == algo && r.mean.is_some())
            .map(|r| Bar {
                group: r.dataset.clone(),
                series: r.augmentation.clone(),
                mean: r.mean.unwrap_or(f64::NAN),
                std: r.std.unwrap_or(0.0),
            })
            .collect();
        if bars.is_empty() {
            continue;
        }
        for ext in ["png", "svg"] {
            let path = out
                .join("plots")
                .join(format!("scores-{}.{ext}", safe(algo)));
            let title = format!(
                "{}: {algo}, final normalized score (mean ± std over seeds)",
                spec.name
            );
            plot::score_bars(&path, &title, "D4RL normalized score", &bars)?;
            written.push(relative(&path, out));
        }
    }
    for d in &spec.datasets {
        for algo in &spec.rl.algorithms {
            let curves: Vec<Curve> = spec
                .augmentations
                .iter()
                .filter_map(|a| {
                    let r = runs.get(&(d.name.clone(), algo.clone(), a.name.clone()))?;
                    let runs: Vec<Vec<(f64, f64)>> = r
                        .iter()
                        .map(|(_, rows)| rows.iter().map(|&(s, v)| (s as f64, v)).collect())
                        .filter(|v: &Vec<(f64, f64)>| !v.is_empty())
                        .collect();
                    (!runs.is_empty()).then(|| Curve {
                        label: a.name.clone(),
                        runs,
                    })
                })
                .collect();
            if curves.is_empty() {
                continue;
            }
            for ext in ["png", "svg"] {
                let path = out.join("plots").join(format!(
                    "curves-{}-{}.{ext}",
                    safe(&d.name),
                    safe(algo)
                ));
                let title = format!("{} on {}: learning curves", algo, d.name);
                plot::learning_curves(&path, &title, "D4RL normalized score", &curves)?;
                written.push(relative(&path, out));
            }
        }
    }
    Ok(written)
}

fn markdown(spec: &Spec, r: &Report) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# Experiment `{}`\n", r.name);
    let _ = writeln!(
        md,
        "{} of {} cells finished. Every number below is computed from this folder's cells: final \
         D4RL normalized score = the last evaluation row of each RL run's `metrics.csv`; mean ± \
         sample std over seeds (n seeds in parentheses), paper F.2.\n",
        r.cells_done, r.cells_total
    );
    let _ = writeln!(md, "## Scores\n");
    let mut header = "| dataset | algorithm |".to_string();
    let mut rule = "|---|---|".to_string();
    for a in &spec.augmentations {
        let _ = write!(header, " {} |", a.name);
        rule.push_str("---|");
    }
    let _ = writeln!(md, "{header}\n{rule}");
    for d in &spec.datasets {
        for algo in &spec.rl.algorithms {
            let mut line = format!("| {} | {} |", d.name, algo);
            for a in &spec.augmentations {
                let row = r.scores.iter().find(|x| {
                    x.dataset == d.name && &x.algorithm == algo && x.augmentation == a.name
                });
                let cell = row.map_or("–".into(), |x| fmt_ms(x.mean, x.std, x.scores.len()));
                let _ = write!(line, " {cell} |");
            }
            let _ = writeln!(md, "{line}");
        }
    }
    if !r.tests.is_empty() {
        let _ = writeln!(
            md,
            "\n## Welch's t-test: GTA against each baseline\n\nTwo-sided, unequal variances, over \
             the seeds' final scores (t > 0: GTA higher).\n\n| dataset | algorithm | gta | vs | t | df | p |\n|---|---|---|---|---|---|---|"
        );
        for t in &r.tests {
            let (ts, df, p) = match &t.test {
                Some(w) => (
                    format!("{:.3}", w.t),
                    format!("{:.2}", w.df),
                    format!("{:.4}", w.p),
                ),
                None => ("–".into(), "–".into(), "–".into()),
            };
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {ts} | {df} | {p} |",
                t.dataset, t.algorithm, t.gta, t.baseline
            );
        }
    }
    if !r.quality.is_empty() {
        let _ = writeln!(
            md,
            "\n## Data quality of the augmented datasets\n\nmethod.md §10: oracle reward = true \
             r*(s, a) of generated (s, a); dynamic MSE = eq. 17; novelty = mean NN distance to the \
             original data.\n\n| dataset | augmentation | samples | oracle reward | generated reward | reward MSE | dynamic MSE | novelty s | novelty a | novelty (s, a) |\n|---|---|---|---|---|---|---|---|---|---|"
        );
        for q in &r.quality {
            let m = &q.metrics;
            let _ = writeln!(
                md,
                "| {} | {} | {} | {:.4} | {:.4} | {:.4} | {:.4} | {:.4} | {:.4} | {:.4} |",
                q.dataset,
                q.augmentation,
                m.samples,
                m.oracle_reward,
                m.generated_reward,
                m.reward_mse,
                m.dynamic_mse,
                m.novelty_state,
                m.novelty_action,
                m.novelty_state_action
            );
        }
    }
    let pngs: Vec<&PathBuf> = r
        .plots
        .iter()
        .chain(r.quality.iter().filter_map(|q| q.reward_plot.as_ref()))
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
        .collect();
    if !pngs.is_empty() {
        let _ = writeln!(md, "\n## Plots\n");
        for p in pngs {
            let name = p.display().to_string();
            let _ = writeln!(md, "![{name}]({name})\n");
        }
    }
    md
}

/// Checks that `out` holds an experiment (its `spec.json`) and returns the spec.
pub fn load_run_spec(out: &Path) -> anyhow::Result<Spec> {
    let path = out.join(super::SPEC_FILE);
    if !path.is_file() {
        bail!(
            "{}: no {} here; is this a `gta experiment run --out` folder?",
            out.display(),
            super::SPEC_FILE
        );
    }
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text)
        .with_context(|| format!("{}: not an experiment spec", path.display()))
}
