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

/// The real D4RL door-human-v0 file (envs-and-data.md §8); CI has shared/ beside the clone.
const DOOR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/d4rl/door-v0_demos_clipped.hdf5"
);

/// Issue 11: the zero policy in the native Adroit door scores near D4RL's random level (0).
#[test]
fn door_zero_policy_rollout_scores_near_random() {
    let dir = tempfile::tempdir().unwrap();
    let out = gta(
        &[
            "env",
            "rollout",
            "--env",
            "door-human-v0",
            "--policy",
            "zero",
            "--episodes",
            "5",
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
    assert_eq!(v["lengths"], serde_json::json!([200, 200, 200, 200, 200]));
    let returns: Vec<f64> = v["returns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    let mean = returns.iter().sum::<f64>() / 5.0;
    // D4RL door constants (envs-and-data.md §3).
    let score = 100.0 * (mean + 56.512833) / (2880.5693087298737 + 56.512833);
    assert!((v["normalized_score"].as_f64().unwrap() - score).abs() < 1e-9);
    // A closed door and a hand that never reaches the handle: every step costs about
    // 0.1·1.57² + 0.1·distance ≈ 0.26, so the return is about −53 and the score within ±1 of 0
    // (D4RL's random policy is the 0 of the scale; the expert demos average about 29).
    assert!(score.abs() < 1.0, "normalized score {score}");
    assert_eq!(v["success_rate"].as_f64(), Some(0.0));
}

#[test]
fn door_replay_reports_one_step_errors() {
    let dir = tempfile::tempdir().unwrap();
    let out = gta(
        &[
            "env",
            "replay",
            "--dataset",
            DOOR,
            "--env",
            "door-human-v0",
            "--episodes",
            "2",
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
    // The first two demos have 300 rows each (envs-and-data.md §8): 299 transitions each.
    assert_eq!(v["episodes"], 2);
    assert_eq!(v["transitions"], 598);
    for key in ["qpos_error", "obs_error", "reward_error", "start_obs_error"] {
        let s = &v[key];
        let (median, p90, max) = (
            s["median"].as_f64().unwrap(),
            s["p90"].as_f64().unwrap(),
            s["max"].as_f64().unwrap(),
        );
        assert!(0.0 <= median && median <= p90 && p90 <= max, "{key}: {s}");
        assert_eq!(s["count"], 598, "{key}");
    }
    assert!(v["qpos_error"]["median"].as_f64().unwrap() < 0.01, "{v}");

    // A dataset without the stored states cannot be replayed: exit 2, one message.
    let out = gta(
        &["env", "replay", "--dataset", DOOR, "--env", "hopper"],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("observations has 39 columns"), "{err}");
}
