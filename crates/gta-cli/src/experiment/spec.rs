//! The experiment spec (`gta experiment run SPEC.toml`): datasets × augmentations × algorithms ×
//! seeds, with the diffusion models GTA augmentations share (issue 8 item 3; reference in
//! docs/experiments.md). Relative paths in a spec are relative to the spec file's folder.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

/// A whole experiment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// Experiment name (titles of the report and plots).
    pub name: String,
    /// Device of every training and sampling cell: cpu, cuda or cuda:N.
    #[serde(default = "default_device")]
    pub device: String,
    /// Seed of the dataset, diffusion-training and augmentation cells (RL cells use `rl.seeds`).
    #[serde(default)]
    pub seed: u64,
    /// The datasets (at least one).
    pub datasets: Vec<DatasetSpec>,
    /// Diffusion models trained per dataset; GTA augmentations name one with `model` (default:
    /// the first). Required when any augmentation is `gta`.
    #[serde(default)]
    pub diffusion: Vec<ModelSpec>,
    /// The augmentations compared (at least one; `none` is the no-augmentation baseline).
    pub augmentations: Vec<AugmentationSpec>,
    /// The offline-RL stage.
    pub rl: RlSpec,
    /// Data-quality cells (`gta quality`) for every augmented dataset.
    #[serde(default)]
    pub quality: QualitySpec,
}

fn default_device() -> String {
    "cpu".into()
}

/// One dataset: an existing file, or one `gta data make` generates.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetSpec {
    /// Name used in cell ids and the report (letters, digits, '.', '_', '-').
    pub name: String,
    /// An existing dataset file or Minari folder (exclusive with `make`).
    pub path: Option<PathBuf>,
    /// A `gta data make` id (e.g. maze2d-umaze, hopper-random) to generate the dataset.
    pub make: Option<String>,
    /// Transitions to generate with `make` (default: gta data make's 1,000,000).
    pub transitions: Option<usize>,
    /// Env or D4RL id for evaluation, the oracle and score normalization (default: `name`).
    pub env: Option<String>,
    /// Override of the diffusion config's `data.terminal_penalty` (method.md §2.4: false for maze
    /// tasks, true for hopper/walker2d); unset keeps the config's value.
    pub terminal_penalty: Option<bool>,
    /// Per-dataset μ for GTA augmentations that leave it unset (paper Table 1 settings).
    pub mu: Option<f64>,
    /// Per-dataset α for GTA augmentations that leave it unset.
    pub alpha: Option<f64>,
    /// Per-dataset source reweighting for GTA augmentations that leave it unset (Table 9).
    pub reweighting: Option<Reweighting>,
    /// N_B of the dense reweighting (Table 9: 20, 50 or 100).
    pub bins: Option<usize>,
    /// λ of the sparse reweighting (10 or 30).
    pub lambda: Option<f64>,
}

/// A diffusion model trained on every dataset that a GTA augmentation needs it for.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    /// Name used in cell ids (default "default").
    #[serde(default = "default_model_name")]
    pub name: String,
    /// A `gta diffusion train --config` file (e.g. configs/tiny.toml); unset = paper defaults.
    pub config: Option<PathBuf>,
    /// Training steps (default: the config's train.steps).
    pub steps: Option<u64>,
    /// Override of `data.horizon` (T rows per window; horizon ablation, method.md §11).
    pub horizon: Option<usize>,
}

fn default_model_name() -> String {
    "default".into()
}

/// The kinds of augmentation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AugKind {
    /// No augmentation: RL on the original data.
    None,
    /// S4RL Gaussian state noise (method.md §8.2), `gta augment s4rl`.
    S4rl,
    /// GTA: partial noising + amplified-return guidance (`gta augment`).
    Gta,
    /// SynthER unconditional transition diffusion (method.md §8.1), `gta augment synther`.
    Synther,
}

/// Source-window selection of a GTA augmentation (`gta augment --reweighting`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Reweighting {
    /// Shuffled passes over all windows.
    None,
    /// Dense-reward return bins (locomotion, Table 9).
    Dense,
    /// Sparse-reward episode weighting (maze2d, antmaze).
    Sparse,
}

/// Conditioning of a GTA augmentation (`gta augment --condition`; ablation F.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Condition {
    /// c = 0.01·amp(R, α) (GTA).
    Amplified,
    /// c = 0.01·R_max for every window.
    Fixed,
    /// w = 0: the unconditional model only.
    Unconditioned,
    /// Amplified reward inpainting (paper E.6).
    RewardInpainting,
}

/// One augmentation compared in the experiment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AugmentationSpec {
    /// Name used in cell ids and as the report's column (letters, digits, '.', '_', '-').
    pub name: String,
    /// none, s4rl, gta or synther.
    pub kind: AugKind,
    /// gta: the `diffusion` entry whose model is used (default: the first).
    pub model: Option<String>,
    /// gta: μ, partial-noising ratio (default: the dataset's, else gta augment's 0.5).
    pub mu: Option<f64>,
    /// gta: α, return multiplier (default: the dataset's, else 1.3).
    pub alpha: Option<f64>,
    /// gta: w, guidance scale (default 2.0).
    pub guidance_scale: Option<f64>,
    /// gta/synther: generated transitions (default: the command's 5,000,000); s4rl writes
    /// noisy copies of the dataset instead (`--copies` through `augment_args`).
    pub transitions: Option<usize>,
    /// gta: conditioning (default amplified).
    pub condition: Option<Condition>,
    /// gta: source reweighting (default: the dataset's, else none).
    pub reweighting: Option<Reweighting>,
    /// gta: N_B of the dense reweighting (default: the dataset's, else 50).
    pub bins: Option<usize>,
    /// gta: λ of the sparse reweighting (default: the dataset's, else 10).
    pub lambda: Option<f64>,
    /// gta: only windows of episodes with at least this return are sources (paper E.2).
    pub min_episode_return: Option<f64>,
    /// s4rl: σ of the Gaussian state noise (default: the command's 3e-4).
    pub sigma: Option<f64>,
    /// synther: training steps of its transition-level ResMLP model (default: SynthER's 100k).
    pub steps: Option<u64>,
    /// Extra arguments appended to the augmentation command.
    #[serde(default)]
    pub augment_args: Vec<String>,
    /// Extra arguments appended to this augmentation's `gta rl train` commands.
    #[serde(default)]
    pub rl_args: Vec<String>,
}

/// The offline-RL stage.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RlSpec {
    /// Algorithms (any `gta rl train --algo` value: td3bc, iql, cql, mcq).
    pub algorithms: Vec<String>,
    /// RL seeds; the report gives mean ± std over them (paper: 8, sensitivity studies: 4).
    pub seeds: Vec<u64>,
    /// Gradient steps (paper: 1,000,000).
    pub steps: u64,
    /// Evaluate every K steps (default: gta rl train's 5,000).
    pub eval_every: Option<u64>,
    /// Episodes per evaluation (default: gta rl train's 10; the paper uses 100 for maze2d).
    pub eval_episodes: Option<usize>,
    /// Minibatch size (default: gta rl train's 1024).
    pub batch: Option<usize>,
}

/// Data-quality cells.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QualitySpec {
    /// Run `gta quality` on every augmented dataset (default true; needs an oracle env).
    pub enabled: bool,
    /// Generated transitions evaluated (paper: 1,000,000 of 5M).
    pub samples: usize,
}

impl Default for QualitySpec {
    fn default() -> Self {
        QualitySpec {
            enabled: true,
            samples: 1_000_000,
        }
    }
}

fn check_name(what: &str, name: &str) -> anyhow::Result<()> {
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        bail!("{what} name {name:?}: expected letters, digits, '.', '_' or '-'");
    }
    Ok(())
}

fn check_unique<'a>(what: &str, names: impl Iterator<Item = &'a str>) -> anyhow::Result<()> {
    let mut seen = std::collections::BTreeSet::new();
    for n in names {
        check_name(what, n)?;
        if !seen.insert(n) {
            bail!("{what} name {n:?} appears twice");
        }
    }
    Ok(())
}

impl Spec {
    /// Reads and validates a spec file; relative paths become relative to its folder.
    pub fn load(path: &Path) -> anyhow::Result<Spec> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading spec {}", path.display()))?;
        let mut spec: Spec =
            toml::from_str(&text).with_context(|| format!("spec {}", path.display()))?;
        spec.validate()
            .with_context(|| format!("spec {}", path.display()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let abs = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        for d in &mut spec.datasets {
            d.path.as_mut().map(abs);
        }
        for m in &mut spec.diffusion {
            m.config.as_mut().map(abs);
        }
        Ok(spec)
    }

    /// Checks that every dataset given by `path` exists (after [`Spec::load`] resolved it), so a
    /// run stops with one clear message instead of failing each cell that reads it.
    pub fn check_dataset_files(&self) -> anyhow::Result<()> {
        for d in &self.datasets {
            if let Some(path) = &d.path
                && !path.exists()
            {
                bail!(
                    "dataset {:?}: path {} does not exist (relative paths in a spec are relative \
                     to the spec file's folder)",
                    d.name,
                    path.display()
                );
            }
        }
        Ok(())
    }

    /// Checks names, references and ranges.
    pub fn validate(&self) -> anyhow::Result<()> {
        check_name("experiment", &self.name)?;
        if self.datasets.is_empty() || self.augmentations.is_empty() {
            bail!("datasets and augmentations: expected at least one of each");
        }
        if self.rl.algorithms.is_empty() || self.rl.seeds.is_empty() {
            bail!("rl.algorithms and rl.seeds: expected at least one of each");
        }
        if self.rl.steps == 0 {
            bail!("rl.steps: expected a positive number of gradient steps");
        }
        check_unique("dataset", self.datasets.iter().map(|d| d.name.as_str()))?;
        check_unique("diffusion", self.diffusion.iter().map(|m| m.name.as_str()))?;
        check_unique(
            "augmentation",
            self.augmentations.iter().map(|a| a.name.as_str()),
        )?;
        for d in &self.datasets {
            if d.path.is_some() == d.make.is_some() {
                bail!(
                    "dataset {:?}: expected exactly one of `path` (a file) or `make` (a gta data make id)",
                    d.name
                );
            }
            gta_envs::EnvId::parse(d.env_id())
                .with_context(|| format!("dataset {:?}: env {:?}", d.name, d.env_id()))?;
        }
        for algo in &self.rl.algorithms {
            algo.parse::<gta_rl::Algo>()
                .with_context(|| format!("rl.algorithms: {algo:?}"))?;
        }
        let mut seeds = self.rl.seeds.clone();
        seeds.sort_unstable();
        seeds.dedup();
        if seeds.len() != self.rl.seeds.len() {
            bail!("rl.seeds: a seed appears twice");
        }
        for a in &self.augmentations {
            if a.kind == AugKind::Gta {
                if self.diffusion.is_empty() {
                    bail!(
                        "augmentation {:?} is gta: add a [[diffusion]] model to the spec",
                        a.name
                    );
                }
                if let Some(m) = &a.model
                    && !self.diffusion.iter().any(|d| &d.name == m)
                {
                    bail!(
                        "augmentation {:?}: model {m:?} is not a [[diffusion]] name",
                        a.name
                    );
                }
            }
            if a.kind == AugKind::S4rl && a.transitions.is_some() {
                bail!(
                    "augmentation {:?}: s4rl writes noisy copies of the whole dataset; drop \
                     `transitions` (use augment_args = [\"--copies\", \"N\"])",
                    a.name
                );
            }
            for (key, v) in [("mu", a.mu), ("alpha", a.alpha)] {
                if v.is_some_and(|v| !(v.is_finite() && v > 0.0)) {
                    bail!("augmentation {:?}: {key} must be positive", a.name);
                }
            }
        }
        Ok(())
    }
}

impl DatasetSpec {
    /// The env / D4RL id of the dataset (`env`, else `name`).
    pub fn env_id(&self) -> &str {
        self.env.as_deref().unwrap_or(&self.name)
    }
}
