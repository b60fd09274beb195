//! The cells of an experiment and their dependency DAG (issue 8 item 3):
//! dataset (`gta data make`) → diffusion model (one per dataset and `[[diffusion]]` entry, shared
//! by every GTA augmentation that names it) → augmented dataset (shared by all algorithms and
//! seeds) → quality report and RL runs. Each cell is one `gta` command writing into its own
//! folder `OUT/<cell id>/`; cells are listed in a topological order (dependencies first).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

use super::spec::{
    AugKind, AugmentationSpec, Condition, DatasetSpec, ModelSpec, Reweighting, Spec,
};

/// What a cell computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CellKind {
    /// `gta data make`.
    Data,
    /// `gta diffusion train`.
    Model,
    /// `gta augment` (GTA) or `gta augment s4rl|synther`.
    Augment,
    /// `gta quality` of an augmented dataset.
    Quality,
    /// `gta rl train`.
    Rl,
}

/// One unit of work: a `gta` command and the folder it writes into.
#[derive(Clone, Debug, PartialEq)]
pub struct Cell {
    /// Unique id, also the folder name under the output root.
    pub id: String,
    /// What the cell computes.
    pub kind: CellKind,
    /// The cell's folder (`OUT/<id>`).
    pub dir: PathBuf,
    /// Arguments of the `gta` command (without the program name).
    pub args: Vec<String>,
    /// Small files written into `dir` before the command runs (derived configs).
    pub files: Vec<(PathBuf, String)>,
    /// Indices of the cells this one needs.
    pub deps: Vec<usize>,
    /// Main outputs by role (recorded in DONE.json).
    pub outputs: BTreeMap<String, PathBuf>,
    /// Dataset name.
    pub dataset: String,
    /// Augmentation name (augment, quality and RL cells).
    pub augmentation: Option<String>,
    /// Algorithm (RL cells).
    pub algorithm: Option<String>,
    /// RL seed (RL cells).
    pub seed: Option<u64>,
}

impl Cell {
    /// The command line as a shell would show it.
    pub fn command_line(&self) -> String {
        std::iter::once("gta".to_string())
            .chain(self.args.iter().map(|a| shell_quote(a)))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=+,".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

fn p(path: &Path) -> String {
    path.display().to_string()
}

fn push_opt<T: ToString>(args: &mut Vec<String>, flag: &str, v: Option<T>) {
    if let Some(v) = v {
        args.push(flag.to_string());
        args.push(v.to_string());
    }
}

/// Builds all cells of `spec` with folders under `out`, dependencies first.
pub fn plan(spec: &Spec, out: &Path) -> anyhow::Result<Vec<Cell>> {
    let mut cells: Vec<Cell> = vec![];
    let new = |id: String, kind: CellKind, dataset: &str| Cell {
        dir: out.join(&id),
        id,
        kind,
        args: vec![],
        files: vec![],
        deps: vec![],
        outputs: BTreeMap::new(),
        dataset: dataset.to_string(),
        augmentation: None,
        algorithm: None,
        seed: None,
    };
    for d in &spec.datasets {
        // 1. The dataset.
        let (data_path, data_cell) = match (&d.path, &d.make) {
            (Some(path), _) => (path.clone(), None),
            (None, Some(make_id)) => {
                let mut c = new(format!("data.{}", d.name), CellKind::Data, &d.name);
                let file = c.dir.join("dataset.hdf5");
                c.args = ["data", "make", make_id, "--out", &p(&file), "--seed"]
                    .map(String::from)
                    .to_vec();
                c.args.push(spec.seed.to_string());
                push_opt(&mut c.args, "--transitions", d.transitions);
                c.outputs.insert("dataset".into(), file.clone());
                cells.push(c);
                (file, Some(cells.len() - 1))
            }
            (None, None) => bail!("dataset {:?}: no path and no make id", d.name),
        };
        let data_deps: Vec<usize> = data_cell.into_iter().collect();
        // 2. Diffusion models this dataset's GTA augmentations use.
        let mut models: BTreeMap<String, (usize, PathBuf)> = BTreeMap::new();
        for a in spec.augmentations.iter().filter(|a| a.kind == AugKind::Gta) {
            let m = model_of(spec, a);
            if models.contains_key(&m.name) {
                continue;
            }
            let mut c = new(
                format!("model.{}.{}", d.name, m.name),
                CellKind::Model,
                &d.name,
            );
            let run = c.dir.join("run");
            c.args = [
                "diffusion",
                "train",
                "--dataset",
                &p(&data_path),
                "--out",
                &p(&run),
            ]
            .map(String::from)
            .to_vec();
            c.args.extend(["--seed".into(), spec.seed.to_string()]);
            c.args.extend(["--device".into(), spec.device.clone()]);
            push_opt(&mut c.args, "--steps", m.steps);
            match (model_config(m, d)?, &m.config) {
                (Some(text), _) => {
                    let cfg = c.dir.join("config.toml");
                    c.args.extend(["--config".into(), p(&cfg)]);
                    c.files.push((cfg, text));
                }
                (None, Some(base)) => c.args.extend(["--config".into(), p(base)]),
                (None, None) => {}
            }
            c.deps = data_deps.clone();
            c.outputs.insert("model".into(), run.clone());
            cells.push(c);
            models.insert(m.name.clone(), (cells.len() - 1, run));
        }
        // SynthER: one transition-level ResMLP model per dataset and augmentation (method.md §8.1).
        for a in spec
            .augmentations
            .iter()
            .filter(|a| a.kind == AugKind::Synther)
        {
            let mut c = new(
                format!("model.{}.{}", d.name, a.name),
                CellKind::Model,
                &d.name,
            );
            let run = c.dir.join("run");
            c.args = [
                "diffusion",
                "train",
                "--denoiser",
                "resmlp",
                "--dataset",
                &p(&data_path),
            ]
            .map(String::from)
            .to_vec();
            c.args.extend([
                "--out".into(),
                p(&run),
                "--seed".into(),
                spec.seed.to_string(),
            ]);
            c.args.extend(["--device".into(), spec.device.clone()]);
            push_opt(&mut c.args, "--steps", a.steps);
            c.deps = data_deps.clone();
            c.outputs.insert("model".into(), run.clone());
            cells.push(c);
            models.insert(synther_key(&a.name), (cells.len() - 1, run));
        }
        // 3. Augmented datasets, 4. their quality, 5. RL runs.
        for a in &spec.augmentations {
            let mut aug_file = None;
            let mut aug_deps = data_deps.clone();
            if a.kind != AugKind::None {
                let mut c = new(
                    format!("aug.{}.{}", d.name, a.name),
                    CellKind::Augment,
                    &d.name,
                );
                let file = c.dir.join("augmented.hdf5");
                c.args = augment_args(spec, d, a, &data_path, &file, &models)?;
                c.deps = data_deps.clone();
                match a.kind {
                    AugKind::Gta => c.deps.push(models[&model_of(spec, a).name].0),
                    AugKind::Synther => c.deps.push(models[&synther_key(&a.name)].0),
                    AugKind::None | AugKind::S4rl => {}
                }
                c.augmentation = Some(a.name.clone());
                c.outputs.insert("augmented".into(), file.clone());
                cells.push(c);
                aug_deps = vec![cells.len() - 1];
                aug_file = Some(file);
                if spec.quality.enabled {
                    let mut q = new(
                        format!("quality.{}.{}", d.name, a.name),
                        CellKind::Quality,
                        &d.name,
                    );
                    let aug = aug_file.as_ref().expect("set above");
                    q.args = [
                        "quality",
                        "--original",
                        &p(&data_path),
                        "--augmented",
                        &p(aug),
                    ]
                    .map(String::from)
                    .to_vec();
                    q.args.extend(["--env".into(), d.env_id().to_string()]);
                    q.args
                        .extend(["--samples".into(), spec.quality.samples.to_string()]);
                    q.args.extend(["--seed".into(), spec.seed.to_string()]);
                    q.args
                        .extend(["--out-dir".into(), p(&q.dir), "--plot".into(), p(&q.dir)]);
                    q.deps = aug_deps.clone();
                    q.augmentation = Some(a.name.clone());
                    q.outputs
                        .insert("quality".into(), q.dir.join("quality.json"));
                    q.outputs
                        .insert("reward_plot".into(), q.dir.join("rewards.png"));
                    cells.push(q);
                }
            }
            for algo in &spec.rl.algorithms {
                for &seed in &spec.rl.seeds {
                    let id = format!("rl.{}.{}.{}.s{}", d.name, a.name, algo, seed);
                    let mut c = new(id, CellKind::Rl, &d.name);
                    let run = c.dir.join("run");
                    c.args = ["rl", "train", "--algo", algo, "--dataset", &p(&data_path)]
                        .map(String::from)
                        .to_vec();
                    if let Some(f) = &aug_file {
                        c.args.extend(["--augmented".into(), p(f)]);
                    }
                    c.args.extend(["--env".into(), d.env_id().to_string()]);
                    c.args.extend(["--out".into(), p(&run)]);
                    c.args.extend(["--steps".into(), spec.rl.steps.to_string()]);
                    push_opt(&mut c.args, "--eval-every", spec.rl.eval_every);
                    push_opt(&mut c.args, "--eval-episodes", spec.rl.eval_episodes);
                    push_opt(&mut c.args, "--batch", spec.rl.batch);
                    c.args.extend(["--seed".into(), seed.to_string()]);
                    c.args.extend(["--device".into(), spec.device.clone()]);
                    c.args.extend(a.rl_args.iter().cloned());
                    c.deps = aug_deps.clone();
                    c.augmentation = Some(a.name.clone());
                    c.algorithm = Some(algo.clone());
                    c.seed = Some(seed);
                    c.outputs.insert("metrics".into(), run.join("metrics.csv"));
                    cells.push(c);
                }
            }
        }
    }
    let mut ids = std::collections::BTreeSet::new();
    for c in &cells {
        if !ids.insert(c.id.as_str()) {
            bail!(
                "cell id {:?} is produced twice: rename a dataset or augmentation",
                c.id
            );
        }
    }
    Ok(cells)
}

/// Key of a SynthER augmentation's model in the per-dataset model map (cannot clash with a
/// `[[diffusion]]` name, which has no '/').
fn synther_key(aug: &str) -> String {
    format!("synther/{aug}")
}

/// The `[[diffusion]]` entry a GTA augmentation uses (validated to exist).
fn model_of<'a>(spec: &'a Spec, a: &AugmentationSpec) -> &'a ModelSpec {
    match &a.model {
        Some(name) => spec
            .diffusion
            .iter()
            .find(|m| &m.name == name)
            .expect("validated model name"),
        None => &spec.diffusion[0],
    }
}

/// A derived diffusion config (the base config with `data.horizon` / `data.terminal_penalty`
/// overridden), or `None` when the base config applies unchanged (or no config is given).
fn model_config(m: &ModelSpec, d: &DatasetSpec) -> anyhow::Result<Option<String>> {
    if m.horizon.is_none() && d.terminal_penalty.is_none() {
        return Ok(None);
    }
    let mut table = read_config(m)?;
    let data = table
        .entry("data")
        .or_insert_with(|| toml::Value::Table(Default::default()))
        .as_table_mut()
        .with_context(|| format!("diffusion {:?}: config key `data` is not a table", m.name))?;
    if let Some(h) = m.horizon {
        data.insert("horizon".into(), toml::Value::Integer(h as i64));
    }
    if let Some(tp) = d.terminal_penalty {
        data.insert("terminal_penalty".into(), toml::Value::Boolean(tp));
    }
    Ok(Some(
        toml::to_string(&table).context("serializing the derived diffusion config")?,
    ))
}

fn read_config(m: &ModelSpec) -> anyhow::Result<toml::Table> {
    match &m.config {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| {
                format!("diffusion {:?}: reading config {}", m.name, path.display())
            })?;
            toml::from_str(&text)
                .with_context(|| format!("diffusion {:?}: config {}", m.name, path.display()))
        }
        None => Ok(toml::Table::new()),
    }
}

/// The augmentation command of `a` on dataset `d` (GTA values fall back to the dataset's).
fn augment_args(
    spec: &Spec,
    d: &DatasetSpec,
    a: &AugmentationSpec,
    data: &Path,
    out: &Path,
    models: &BTreeMap<String, (usize, PathBuf)>,
) -> anyhow::Result<Vec<String>> {
    let mut args: Vec<String> = match a.kind {
        AugKind::None => bail!(
            "augmentation {:?}: kind none has no augment command",
            a.name
        ),
        AugKind::Gta => {
            let model = &models[&model_of(spec, a).name].1;
            let mut v = [
                "augment",
                "--model",
                &p(model),
                "--dataset",
                &p(data),
                "--out",
                &p(out),
            ]
            .map(String::from)
            .to_vec();
            push_opt(&mut v, "--mu", a.mu.or(d.mu));
            push_opt(&mut v, "--alpha", a.alpha.or(d.alpha));
            push_opt(&mut v, "--guidance-scale", a.guidance_scale);
            if let Some(c) = a.condition {
                let name = match c {
                    Condition::Amplified => "amplified",
                    Condition::Fixed => "fixed",
                    Condition::Unconditioned => "unconditioned",
                    Condition::RewardInpainting => "reward-inpainting",
                };
                v.extend(["--condition".into(), name.into()]);
            }
            if let Some(r) = a.reweighting.or(d.reweighting) {
                let name = match r {
                    Reweighting::None => "none",
                    Reweighting::Dense => "dense",
                    Reweighting::Sparse => "sparse",
                };
                v.extend(["--reweighting".into(), name.into()]);
            }
            push_opt(&mut v, "--bins", a.bins.or(d.bins));
            push_opt(&mut v, "--lambda", a.lambda.or(d.lambda));
            push_opt(&mut v, "--min-episode-return", a.min_episode_return);
            v.extend(["--device".into(), spec.device.clone()]);
            v
        }
        AugKind::S4rl => {
            let mut v = ["augment", "s4rl", "--dataset", &p(data), "--out", &p(out)]
                .map(String::from)
                .to_vec();
            push_opt(&mut v, "--sigma", a.sigma);
            v
        }
        AugKind::Synther => {
            let model = &models[&synther_key(&a.name)].1;
            let mut v = ["augment", "synther", "--model", &p(model), "--out", &p(out)]
                .map(String::from)
                .to_vec();
            v.extend(["--device".into(), spec.device.clone()]);
            v
        }
    };
    if matches!(a.kind, AugKind::Gta | AugKind::Synther) {
        push_opt(&mut args, "--transitions", a.transitions);
    }
    args.extend(["--seed".into(), spec.seed.to_string()]);
    args.extend(a.augment_args.iter().cloned());
    Ok(args)
}

/// `target` and everything it depends on, dependencies first.
pub fn closure(cells: &[Cell], target: usize) -> Vec<usize> {
    let mut want = vec![false; cells.len()];
    let mut stack = vec![target];
    while let Some(i) = stack.pop() {
        if !want[i] {
            want[i] = true;
            stack.extend(&cells[i].deps);
        }
    }
    (0..cells.len()).filter(|&i| want[i]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(extra_dataset: &str, config: &Path) -> Spec {
        let text = format!(
            r#"
name = "t"
[[datasets]]
name = "hc"
path = "hc.hdf5"
env = "halfcheetah-medium-v2"
mu = 0.25
alpha = 1.1
reweighting = "dense"
bins = 20
{extra_dataset}
[[diffusion]]
name = "h64"
config = "{}"
horizon = 64
[[augmentations]]
name = "gta-default"
kind = "gta"
[[augmentations]]
name = "gta-own"
kind = "gta"
mu = 0.75
reweighting = "none"
[rl]
algorithms = ["iql"]
seeds = [3]
steps = 10
"#,
            config.display()
        );
        let s: Spec = toml::from_str(&text).unwrap();
        s.validate().unwrap();
        s
    }

    fn flag<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
        let i = args.iter().position(|a| a == name)?;
        args.get(i + 1).map(String::as_str)
    }

    #[test]
    fn derived_config_overrides_only_the_named_keys() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("base.toml");
        std::fs::write(
            &base,
            "[data]\nhorizon = 8\ngamma = 0.9\n[train]\nsteps = 7\n",
        )
        .unwrap();
        let s = spec("terminal_penalty = false", &base);
        let cells = plan(&s, Path::new("OUT")).unwrap();
        let model = cells.iter().find(|c| c.kind == CellKind::Model).unwrap();
        assert_eq!(model.id, "model.hc.h64");
        let (path, text) = &model.files[0];
        assert_eq!(flag(&model.args, "--config"), Some(path.to_str().unwrap()));
        let t: toml::Table = toml::from_str(text).unwrap();
        assert_eq!(t["data"]["horizon"].as_integer(), Some(64));
        assert_eq!(t["data"]["terminal_penalty"].as_bool(), Some(false));
        assert_eq!(t["data"]["gamma"].as_float(), Some(0.9), "other keys kept");
        assert_eq!(t["train"]["steps"].as_integer(), Some(7));
    }

    #[test]
    fn gta_settings_fall_back_to_the_dataset_and_cells_share_the_model() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("base.toml");
        std::fs::write(&base, "").unwrap();
        let s = spec("", &base);
        let cells = plan(&s, Path::new("OUT")).unwrap();
        let ids: Vec<&str> = cells.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "model.hc.h64",
                "aug.hc.gta-default",
                "quality.hc.gta-default",
                "rl.hc.gta-default.iql.s3",
                "aug.hc.gta-own",
                "quality.hc.gta-own",
                "rl.hc.gta-own.iql.s3",
            ]
        );
        let (def, own) = (&cells[1].args, &cells[4].args);
        assert_eq!(flag(def, "--mu"), Some("0.25"), "dataset μ");
        assert_eq!(flag(def, "--alpha"), Some("1.1"), "dataset α");
        assert_eq!(flag(def, "--reweighting"), Some("dense"));
        assert_eq!(flag(def, "--bins"), Some("20"));
        assert_eq!(flag(own, "--mu"), Some("0.75"), "augmentation μ wins");
        assert_eq!(flag(own, "--reweighting"), Some("none"));
        // Both augmentations use the one model; RL cells depend on their augmented data only.
        assert_eq!(cells[1].deps, [0]);
        assert_eq!(cells[4].deps, [0]);
        assert_eq!(cells[6].deps, [4]);
        assert_eq!(
            flag(&cells[6].args, "--augmented"),
            Some("OUT/aug.hc.gta-own/augmented.hdf5")
        );
        assert_eq!(closure(&cells, 6), [0, 4, 6]);
        // No derived config without horizon/terminal_penalty overrides... except horizon here.
        assert_eq!(cells[0].files.len(), 1);
    }
}
