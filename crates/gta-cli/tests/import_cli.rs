//! `gta diffusion import-official` end to end (issue 10): the official tiny checkpoint becomes a
//! run folder that `gta augment --model RUN_DIR` uses unchanged; `--check-io` reproduces the
//! official outputs; bad dims, a non-checkpoint file and an existing run folder are refused
//! with exit code 2 and a message naming the problem.
//!
//! `official_tiny.pt` (14 MB) lives in `../shared/fixtures/official/`, outside the repository;
//! the tests that need it print why they skip when it is absent.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use gta_data::{Array, ArrayData, Dataset, WriteOptions};

fn gta(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gta"))
        .args(args)
        .output()
        .expect("run gta")
}

fn ok(args: &[&str]) -> Output {
    let out = gta(args);
    assert!(
        out.status.success(),
        "gta {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    out
}

/// Asserts exit code 2 and an `error:` line containing every fragment.
fn bad_input(out: &Output, fragments: &[&str]) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {err}");
    let line = err
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or_else(|| panic!("no error line in: {err}"));
    for f in fragments {
        assert!(line.contains(f), "`{f}` not in: {line}");
    }
}

fn fixture(name: &str) -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fixtures/official")
        .join(name);
    if p.exists() {
        Some(p)
    } else {
        println!("skipped: fixture {} is absent", p.display());
        None
    }
}

/// 6 episodes of 20 steps with obs 3, act 1 (the tiny official model's dims).
fn write_dataset(path: &Path) {
    let (episodes, len) = (6usize, 20usize);
    let n = episodes * len;
    let (mut obs, mut next, mut act, mut rew, mut term, mut tout) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    for e in 0..episodes {
        let s = |t: usize| {
            let x = t as f32 * 0.3 + e as f32;
            [x.sin(), x.cos(), 0.1 * x]
        };
        for t in 0..len {
            obs.extend(s(t));
            next.extend(s(t + 1));
            act.push((t as f32 * 0.5).cos() * 0.7);
            rew.push(1.0 + 0.1 * e as f32);
            term.push(false);
            tout.push(t == len - 1);
        }
    }
    let mut ds = Dataset::new(path);
    ds.insert("observations", Array::new(vec![n, 3], ArrayData::F32(obs)));
    ds.insert(
        "next_observations",
        Array::new(vec![n, 3], ArrayData::F32(next)),
    );
    ds.insert("actions", Array::new(vec![n, 1], ArrayData::F32(act)));
    ds.insert("rewards", Array::new(vec![n], ArrayData::F32(rew)));
    ds.insert("terminals", Array::new(vec![n], ArrayData::Bool(term)));
    ds.insert("timeouts", Array::new(vec![n], ArrayData::Bool(tout)));
    gta_data::write(&ds, path, &WriteOptions::default()).unwrap();
}

#[test]
fn imported_run_folder_is_used_by_gta_augment() {
    let Some(pt) = fixture("official_tiny.pt") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("tiny.npz");
    write_dataset(&data);
    let run = dir.path().join("imported");
    let (p, r, d) = (
        pt.to_str().unwrap(),
        run.to_str().unwrap(),
        data.to_str().unwrap(),
    );
    let import = [
        "diffusion",
        "import-official",
        p,
        "--obs-dim",
        "3",
        "--act-dim",
        "1",
        "--out",
        r,
        "--dataset",
        d,
    ];
    ok(&import);

    // The run folder: config with the inferred architecture, normalizer, provenance, checkpoint.
    let config = std::fs::read_to_string(run.join("config.toml")).unwrap();
    for key in [
        "horizon = 8",
        "dim = 8",
        "dim_mults = [",
        "transition_dim = 5",
    ] {
        assert!(
            config.contains(key),
            "`{key}` not in config.toml:\n{config}"
        );
    }
    let norm: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("normalizer.json")).unwrap())
            .unwrap();
    assert_eq!(norm["mean"].as_array().unwrap().len(), 5);
    let prov: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("import.json")).unwrap()).unwrap();
    assert_eq!(prov["weights"], "ema");
    assert_eq!(prov["source_sha256"].as_str().unwrap().len(), 64);
    let step = prov["step"].as_u64().unwrap();
    let ckpt = run.join(format!("checkpoints/step_{step:09}"));
    for f in ["model.bpk", "ema.bpk", "optim.bpk", "state.json"] {
        assert!(ckpt.join(f).exists(), "{} missing", ckpt.join(f).display());
    }

    // `gta augment` takes the folder as it is (the dataset comes from config.toml).
    let out = dir.path().join("aug.npz");
    let o = ok(&[
        "augment",
        "--model",
        r,
        "--out",
        out.to_str().unwrap(),
        "--transitions",
        "35",
        "--batch-windows",
        "5",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["transitions"], 35);
    assert!(out.exists());
    let info = ok(&["data", "info", out.to_str().unwrap(), "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
    assert_eq!(v["transitions"], 35);

    // augment really reads the imported normalizer: a wrong-width one is refused by name.
    std::fs::write(
        run.join("normalizer.json"),
        r#"{"mean": [0, 0, 0, 0], "std": [1, 1, 1, 1]}"#,
    )
    .unwrap();
    let again = gta(&[
        "augment",
        "--model",
        r,
        "--out",
        dir.path().join("aug2.npz").to_str().unwrap(),
        "--transitions",
        "7",
    ]);
    bad_input(&again, &["normalizer.json", "expected 5"]);

    // A second import into the now non-empty folder is refused.
    bad_input(&gta(&import), &["exists"]);
}

#[test]
fn check_io_reproduces_the_official_outputs_without_writing() {
    let (Some(pt), Some(io)) = (fixture("official_tiny.pt"), fixture("official_tiny_io.npz"))
    else {
        return;
    };
    let o = ok(&[
        "diffusion",
        "import-official",
        pt.to_str().unwrap(),
        "--obs-dim",
        "3",
        "--act-dim",
        "1",
        "--weights",
        "model",
        "--check-io",
        io.to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(text.matches("relative error").count(), 5, "{text}");
    assert!(text.contains("all outputs within 1e-4"), "{text}");
}

#[test]
fn bad_dims_and_non_checkpoints_exit_with_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.pt");
    std::fs::write(&junk, "not a checkpoint").unwrap();
    let out = dir.path().join("run");
    let o = gta(&[
        "diffusion",
        "import-official",
        junk.to_str().unwrap(),
        "--obs-dim",
        "3",
        "--act-dim",
        "1",
        "--out",
        out.to_str().unwrap(),
    ]);
    bad_input(&o, &["junk.pt", "not a readable PyTorch checkpoint"]);
    assert!(!out.exists(), "nothing is written for a refused import");

    let Some(pt) = fixture("official_tiny.pt") else {
        return;
    };
    let o = gta(&[
        "diffusion",
        "import-official",
        pt.to_str().unwrap(),
        "--obs-dim",
        "17",
        "--act-dim",
        "6",
        "--out",
        out.to_str().unwrap(),
    ]);
    bad_input(
        &o,
        &["official_tiny.pt", "downs.0.0.ln1.weight", "[5]", "[24]"],
    );
    assert!(!out.exists(), "nothing is written for a refused import");
}
