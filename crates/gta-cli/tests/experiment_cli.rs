//! `gta experiment` end to end (issue 8 items 3–4): a micro spec (maze2d-umaze made by gta, a
//! tiny diffusion model, none vs gta, TD3+BC, 2 seeds) runs; the report's numbers equal the ones
//! read back from the cells' own metrics.csv; a restart after a partial run (`--task-index`), an
//! interrupted cell and a deleted DONE marker redoes exactly the unfinished cells; every shipped
//! spec parses.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::SystemTime;

fn gta(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gta"))
        .args(args)
        .output()
        .expect("run gta")
}

fn ok(args: &[&str]) -> String {
    let out = gta(args);
    assert!(
        out.status.success(),
        "gta {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn micro_spec(dir: &Path) -> PathBuf {
    let tiny = repo().join("configs/tiny.toml");
    let spec = format!(
        r#"
name = "micro"
seed = 0

[[datasets]]
name = "maze"
make = "maze2d-umaze"
transitions = 1200
env = "maze2d-umaze"
terminal_penalty = false

[[diffusion]]
name = "tiny"
config = "{}"
steps = 30

[[augmentations]]
name = "none"
kind = "none"

[[augmentations]]
name = "gta"
kind = "gta"
mu = 0.5
alpha = 1.3
transitions = 70

[rl]
algorithms = ["td3bc"]
seeds = [0, 1]
steps = 40
eval_every = 20
eval_episodes = 2
batch = 64

[quality]
samples = 70
"#,
        tiny.display()
    );
    let path = dir.join("micro.toml");
    std::fs::write(&path, spec).unwrap();
    path
}

/// DONE.json text and mtime of every finished cell.
fn markers(out: &Path) -> BTreeMap<String, (String, SystemTime)> {
    let mut m = BTreeMap::new();
    let Ok(dir) = std::fs::read_dir(out) else {
        return m; // not created yet
    };
    for e in dir {
        let p = e.unwrap().path().join("DONE.json");
        if p.is_file() {
            let name = p
                .parent()
                .unwrap()
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let mtime = std::fs::metadata(&p).unwrap().modified().unwrap();
            m.insert(name, (std::fs::read_to_string(&p).unwrap(), mtime));
        }
    }
    m
}

/// The final (last evaluated) normalized score of a metrics.csv, read independently of gta.
fn final_score(metrics: &Path) -> f64 {
    let text = std::fs::read_to_string(metrics).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = header
        .iter()
        .position(|h| *h == "normalized_score")
        .unwrap();
    lines
        .rev()
        .find_map(|l| {
            l.split(',')
                .nth(col)
                .filter(|s| !s.is_empty())
                .map(|s| s.parse().unwrap())
        })
        .expect("an evaluation row")
}

#[test]
fn micro_experiment_runs_restarts_and_reports_its_own_numbers() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = micro_spec(tmp.path());
    let out = tmp.path().join("out");
    let (spec_s, out_s) = (spec.to_str().unwrap(), out.to_str().unwrap());

    // The task list: 8 cells, dependencies first.
    let tasks = ok(&["experiment", "tasks", spec_s, "--out", out_s]);
    let rows: Vec<Vec<&str>> = tasks.lines().map(|l| l.split('\t').collect()).collect();
    let ids: Vec<&str> = rows.iter().map(|r| r[1]).collect();
    assert_eq!(
        ids,
        [
            "data.maze",
            "model.maze.tiny",
            "rl.maze.none.td3bc.s0",
            "rl.maze.none.td3bc.s1",
            "aug.maze.gta",
            "quality.maze.gta",
            "rl.maze.gta.td3bc.s0",
            "rl.maze.gta.td3bc.s1",
        ]
    );
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r.len(), 3, "index, id, command: {r:?}");
        assert_eq!(r[0], i.to_string());
        assert!(r[2].starts_with("gta "), "{r:?}");
    }
    assert!(
        rows[0][2].contains("data make maze2d-umaze"),
        "{:?}",
        rows[0]
    );
    assert!(
        rows[4][2].contains("--model") && rows[4][2].contains("--alpha 1.3"),
        "{:?}",
        rows[4]
    );

    // 1. Only one RL cell (and the dataset it needs), as one Slurm array task would.
    ok(&[
        "experiment",
        "run",
        spec_s,
        "--out",
        out_s,
        "--task-index",
        "2",
    ]);
    let first = markers(&out);
    assert_eq!(
        first.keys().collect::<Vec<_>>(),
        ["data.maze", "rl.maze.none.td3bc.s0"],
        "cell 2 and its dependency only"
    );
    assert!(
        !out.join("report.md").exists(),
        "no report for a single task"
    );

    // 2. A cell killed midway: a folder without DONE.json.
    let killed = out.join("rl.maze.gta.td3bc.s1");
    std::fs::create_dir_all(killed.join("run")).unwrap();
    std::fs::write(killed.join("run/metrics.csv"), "step,partial\n").unwrap();

    // 3. Restart the whole experiment, two cells at a time.
    let log = ok(&["experiment", "run", spec_s, "--out", out_s, "--jobs", "2"]);
    assert!(log.contains("ran 6, skipped 2 finished"), "{log}");
    let second = markers(&out);
    assert_eq!(second.len(), 8, "every cell finished: {:?}", second.keys());
    for (id, v) in &first {
        assert_eq!(&second[id], v, "finished cell {id} was redone");
    }
    let marker: serde_json::Value =
        serde_json::from_str(&second["rl.maze.gta.td3bc.s1"].0).unwrap();
    assert_eq!(marker["kind"], "rl");
    assert!(
        marker["command"]
            .as_str()
            .unwrap()
            .starts_with("gta rl train --algo td3bc")
    );
    assert!(marker["duration_s"].as_f64().unwrap() > 0.0);
    let metrics = final_score(&killed.join("run/metrics.csv"));
    assert!(
        metrics.is_finite(),
        "the interrupted cell was rerun from scratch"
    );

    // 4. Delete one marker: only that cell runs again.
    std::fs::remove_file(out.join("rl.maze.gta.td3bc.s0/DONE.json")).unwrap();
    let log = ok(&["experiment", "run", spec_s, "--out", out_s]);
    assert!(log.contains("ran 1, skipped 7 finished"), "{log}");
    let third = markers(&out);
    for (id, v) in &second {
        if id != "rl.maze.gta.td3bc.s0" {
            assert_eq!(&third[id], v, "finished cell {id} was redone");
        }
    }
    assert!(third.contains_key("rl.maze.gta.td3bc.s0"));

    // 5. The report's numbers are the cells' own.
    let text = ok(&["experiment", "report", out_s]);
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["cells_done"], 8);
    let mut by_aug = BTreeMap::new();
    for row in report["scores"].as_array().unwrap() {
        let aug = row["augmentation"].as_str().unwrap().to_string();
        let want: Vec<f64> = [0, 1]
            .iter()
            .map(|s| final_score(&out.join(format!("rl.maze.{aug}.td3bc.s{s}/run/metrics.csv"))))
            .collect();
        let got: Vec<f64> = row["scores"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        assert_eq!(
            got, want,
            "{aug}: scores are the metrics.csv final evaluations"
        );
        let mean = (want[0] + want[1]) / 2.0;
        let std = ((want[0] - mean).powi(2) + (want[1] - mean).powi(2)).sqrt(); // n − 1 = 1
        assert!((row["mean"].as_f64().unwrap() - mean).abs() < 1e-9);
        assert!((row["std"].as_f64().unwrap() - std).abs() < 1e-9);
        let cell = format!("{mean:.1} ± {std:.1} (2)");
        assert!(text.contains(&cell), "report.md lacks {cell}:\n{text}");
        by_aug.insert(aug, want);
    }
    assert_eq!(by_aug.len(), 2);
    // Welch's t of gta vs none from the same numbers.
    let test = &report["tests"][0];
    assert_eq!(
        (test["gta"].as_str(), test["baseline"].as_str()),
        (Some("gta"), Some("none"))
    );
    let (g, n) = (&by_aug["gta"], &by_aug["none"]);
    let var = |x: &[f64]| {
        let m = (x[0] + x[1]) / 2.0;
        (x[0] - m).powi(2) + (x[1] - m).powi(2)
    };
    let (vg, vn) = (var(g) / 2.0, var(n) / 2.0);
    if vg + vn > 0.0 {
        let t = ((g[0] + g[1]) / 2.0 - (n[0] + n[1]) / 2.0) / (vg + vn).sqrt();
        assert!((test["test"]["t"].as_f64().unwrap() - t).abs() < 1e-9 * (1.0 + t.abs()));
        let df = (vg + vn).powi(2) / (vg * vg + vn * vn);
        assert!((test["test"]["df"].as_f64().unwrap() - df).abs() < 1e-9 * (1.0 + df));
    }
    // Quality of the augmented data, and the plots.
    let q = &report["quality"][0];
    assert_eq!(q["augmentation"], "gta");
    assert_eq!(q["metrics"]["samples"], 70);
    for f in [
        "plots/scores-td3bc.png",
        "plots/scores-td3bc.svg",
        "plots/curves-maze-td3bc.png",
        "plots/curves-maze-td3bc.svg",
        "quality.maze.gta/rewards.png",
        "quality.maze.gta/rewards.svg",
        "report.md",
    ] {
        let len = std::fs::metadata(out.join(f)).map(|m| m.len()).unwrap_or(0);
        assert!(len > 1000, "{f}: {len} bytes");
    }
    assert!(
        text.contains("![plots/scores-td3bc.png](plots/scores-td3bc.png)"),
        "{text}"
    );

    // 6. A spec that changes a finished cell's command is refused (exit 2), naming the cell.
    let other = std::fs::read_to_string(&spec)
        .unwrap()
        .replace("steps = 40", "steps = 41");
    let other_path = tmp.path().join("other.toml");
    std::fs::write(&other_path, other).unwrap();
    let r = gta(&[
        "experiment",
        "run",
        other_path.to_str().unwrap(),
        "--out",
        out_s,
    ]);
    assert_eq!(r.status.code(), Some(2));
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(
        err.contains("rl.maze.none.td3bc.s0 was finished with"),
        "{err}"
    );
    // A spec that only grows (a third seed) reuses every finished cell.
    let grown = std::fs::read_to_string(&spec)
        .unwrap()
        .replace("seeds = [0, 1]", "seeds = [0, 1, 2]");
    std::fs::write(&other_path, grown).unwrap();
    let log = ok(&[
        "experiment",
        "run",
        other_path.to_str().unwrap(),
        "--out",
        out_s,
    ]);
    assert!(log.contains("ran 2, skipped 8 finished"), "{log}");
    let grown_markers = markers(&out);
    for (id, v) in &third {
        assert_eq!(&grown_markers[id], v, "finished cell {id} was redone");
    }
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["scores"][0]["scores"].as_array().unwrap().len(), 3);
}

#[test]
fn every_shipped_spec_parses_into_cells() {
    let dir = repo().join("experiments");
    let mut names = vec![];
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "toml") {
            let text = std::fs::read_to_string(&p).unwrap();
            assert!(
                text.starts_with("# "),
                "{}: comment header first",
                p.display()
            );
            let tasks = ok(&[
                "experiment",
                "tasks",
                p.to_str().unwrap(),
                "--out",
                "/nonexistent",
            ]);
            names.push((
                p.file_stem().unwrap().to_string_lossy().into_owned(),
                tasks.lines().count(),
            ));
        }
    }
    names.sort();
    let count: BTreeMap<_, _> = names.into_iter().collect();
    // quick: data + model + (aug + quality) × {s4rl, gta} + 3 augmentations × 2 seeds.
    assert_eq!(count["quick"], 1 + 1 + 4 + 6);
    // Table 1: per dataset 2 models (GTA, SynthER) + 3 × (aug + quality) + 4 augmentations × 4
    // algorithms × 8 seeds.
    assert_eq!(count["table1"], 9 * (2 + 6 + 128));
    // μ × α grid: 1 model + 30 × (aug + quality) + 31 × 4 seeds.
    assert_eq!(count["sensitivity"], 1 + 60 + 124);
    // Horizon: 5 models + 5 × (aug + quality) + 6 × 4 seeds.
    assert_eq!(count["horizon"], 5 + 10 + 24);
    // Conditioning: 1 model + 4 × (aug + quality) + 5 × 4 seeds.
    assert_eq!(count["conditioning"], 1 + 8 + 20);
    // Mixed quality: 2 datasets × (1 model + 2 × (aug + quality) + 3 × 4 seeds).
    assert_eq!(count["mixed-quality"], 2 * (1 + 4 + 12));
    // door-human: 1 model + 1 augmentation (no quality cells) + 2 arms × 4 seeds.
    assert_eq!(count["door-human"], 1 + 1 + 2 * 4);
}

#[test]
fn bad_specs_exit_2_naming_the_problem() {
    let tmp = tempfile::tempdir().unwrap();
    let base = std::fs::read_to_string(micro_spec(tmp.path())).unwrap();
    for (edit, expect) in [
        (
            base.replace(
                "make = \"maze2d-umaze\"",
                "make = \"maze2d-umaze\"\npath = \"x.hdf5\"",
            ),
            "exactly one of",
        ),
        (
            base.replace("seeds = [0, 1]", "seeds = [0, 1]\nsed = 3"),
            "sed",
        ),
        (base.replace("[\"td3bc\"]", "[\"ppo\"]"), "ppo"),
        (
            base.replace("name = \"gta\"", "name = \"none\""),
            "appears twice",
        ),
    ] {
        let p = tmp.path().join("bad.toml");
        std::fs::write(&p, edit).unwrap();
        let r = gta(&["experiment", "tasks", p.to_str().unwrap()]);
        let err = String::from_utf8_lossy(&r.stderr);
        assert_eq!(r.status.code(), Some(2), "{err}");
        assert!(
            err.contains(expect) && err.contains("bad.toml"),
            "{expect:?} not in {err}"
        );
    }
}

#[test]
fn a_missing_dataset_path_stops_the_run_with_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let base = std::fs::read_to_string(micro_spec(tmp.path())).unwrap();
    let p = tmp.path().join("missing.toml");
    std::fs::write(
        &p,
        base.replace("make = \"maze2d-umaze\"", "path = \"nope/door.hdf5\""),
    )
    .unwrap();
    let out = tmp.path().join("out");
    let r = gta(&[
        "experiment",
        "run",
        p.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(2), "{err}");
    // The path is resolved against the spec's folder and named in the message.
    let want = tmp.path().join("nope/door.hdf5");
    assert!(
        err.contains("does not exist") && err.contains(want.to_str().unwrap()),
        "{err}"
    );
    assert!(!out.exists(), "nothing is written before the check");
}

#[test]
fn a_killed_run_restarts_without_redoing_finished_cells() {
    use std::os::unix::process::CommandExt;
    let tmp = tempfile::tempdir().unwrap();
    let spec = micro_spec(tmp.path());
    let out = tmp.path().join("out");
    let (spec_s, out_s) = (spec.to_str().unwrap(), out.to_str().unwrap());
    // The runner and its cells in their own process group, killed together as Ctrl-C or a
    // scheduler would, once the first two cells have finished.
    let mut child = Command::new(env!("CARGO_BIN_EXE_gta"))
        .args(["experiment", "run", spec_s, "--out", out_s])
        .stdout(std::process::Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    let t0 = std::time::Instant::now();
    while markers(&out).len() < 2 {
        assert!(t0.elapsed().as_secs() < 120, "no progress");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let group = format!("-{}", child.id());
    let status = Command::new("kill")
        .args(["-s", "KILL", "--", &group])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&exit),
        Some(9),
        "the runner was killed"
    );
    let before = markers(&out);
    assert!(before.len() < 8, "killed midway: {:?}", before.keys());
    let log = ok(&["experiment", "run", spec_s, "--out", out_s]);
    assert!(
        log.contains(&format!(
            "ran {}, skipped {} finished",
            8 - before.len(),
            before.len()
        )),
        "{log}"
    );
    let after = markers(&out);
    assert_eq!(after.len(), 8);
    for (id, v) in &before {
        assert_eq!(&after[id], v, "finished cell {id} was redone");
    }
    assert!(out.join("report.md").is_file());
}
