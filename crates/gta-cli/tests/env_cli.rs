//! `gta env ...` and `gta bench env` end to end (issue 3).

use std::process::Command;

fn gta(args: &[&str], cwd: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_gta"))
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("run gta")
}

#[test]
fn rollout_json_reports_returns_and_normalized_score() {
    let dir = tempfile::tempdir().unwrap();
    let out = gta(
        &[
            "env",
            "rollout",
            "--env",
            "hopper-medium-v2",
            "--policy",
            "zero",
            "--episodes",
            "3",
            "--seed",
            "0",
            "--json",
        ],
        dir.path(),
    );
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let returns: Vec<f64> = v["returns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    assert_eq!(returns.len(), 3);
    let mean = returns.iter().sum::<f64>() / 3.0;
    let std = (returns.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / 3.0).sqrt();
    assert!((v["return_mean"].as_f64().unwrap() - mean).abs() < 1e-9);
    assert!((v["return_std"].as_f64().unwrap() - std).abs() < 1e-9);
    // D4RL hopper constants (envs-and-data.md §3).
    let score = 100.0 * (mean + 20.272305) / (3234.3 + 20.272305);
    assert!((v["normalized_score"].as_f64().unwrap() - score).abs() < 1e-9);
}

#[test]
fn rollout_is_reproducible_and_leaves_no_mujoco_log() {
    // HalfCheetah's XML makes MuJoCo warn on every load; the warning must not become a file.
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "env",
        "rollout",
        "--env",
        "halfcheetah",
        "--policy",
        "random",
        "--episodes",
        "2",
        "--json",
    ];
    let a = gta(&args, dir.path());
    let b = gta(&args, dir.path());
    assert!(
        a.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&a.stderr)
    );
    let (va, vb): (serde_json::Value, serde_json::Value) = (
        serde_json::from_slice(&a.stdout).unwrap(),
        serde_json::from_slice(&b.stdout).unwrap(),
    );
    assert_eq!(va["returns"], vb["returns"]);
    assert_eq!(va["lengths"], serde_json::json!([1000, 1000]));
    assert!(!dir.path().join("MUJOCO_LOG.TXT").exists());
}

#[test]
fn unknown_env_is_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let out = gta(&["env", "rollout", "--env", "cartpole"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cartpole") && stderr.contains("hopper"),
        "{stderr}"
    );
}

#[test]
fn list_and_bench_run() {
    let dir = tempfile::tempdir().unwrap();
    let out = gta(&["env", "list", "--json"], dir.path());
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let dims: Vec<u64> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["obs_dim"].as_u64().unwrap())
        .collect();
    assert_eq!(&dims[..4], &[17, 11, 17, 111]);

    let out = gta(
        &[
            "bench",
            "env",
            "--env",
            "maze2d-umaze",
            "--steps",
            "2000",
            "--json",
        ],
        dir.path(),
    );
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["steps_per_s"].as_f64().unwrap() > 0.0);
}
