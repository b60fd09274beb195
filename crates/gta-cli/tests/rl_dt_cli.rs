//! `gta rl train|eval --algo dt` end to end (issue 7): a tiny DT run on a scripted maze2d
//! dataset writes config.toml (with the `[dt]` section and DT's protocol), metrics.csv with the
//! `action_loss` and score columns and a checkpoint; `--resume` continues it; `gta rl eval` reads
//! it back; a file without generated windows is refused as bad input (exit 2).

use std::path::Path;
use std::process::{Command, Output};

const GTA: &str = env!("CARGO_BIN_EXE_gta");

fn gta(args: &[&str]) -> Output {
    Command::new(GTA).args(args).output().expect("running gta")
}

fn ok(o: Output) -> String {
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "gta failed: {err}");
    String::from_utf8_lossy(&o.stdout).into_owned() + &err
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn dt_trains_resumes_and_evaluates() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("umaze.hdf5");
    let run = dir.path().join("run");
    ok(gta(&[
        "data",
        "make",
        "maze2d-umaze",
        "--out",
        p(&data),
        "--transitions",
        "1200",
    ]));
    let train = |extra: &[&str]| {
        let mut args = vec![
            "rl",
            "train",
            "--algo",
            "dt",
            "--dataset",
            p(&data),
            "--env",
            "maze2d-umaze",
            "--out",
            p(&run),
            "--batch",
            "8",
            "--eval-episodes",
            "2",
        ];
        args.extend(extra);
        gta(&args)
    };
    ok(train(&["--steps", "4", "--eval-every", "2"]));
    let config = std::fs::read_to_string(run.join("config.toml")).unwrap();
    assert!(config.contains("algo = \"dt\""), "{config}");
    assert!(
        config.contains("[dt]") && config.contains("seq_len = 20"),
        "{config}"
    );
    // DT's protocol defaults apart from the flags given: 100 episodes → 2 by flag.
    assert!(config.contains("eval_episodes = 2") && config.contains("steps = 4"));
    let metrics = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    let lines: Vec<&str> = metrics.lines().collect();
    assert_eq!(
        lines[0],
        "step,action_loss,return_mean,normalized_score,normalized_score_std,steps_per_s"
    );
    assert_eq!(lines.len(), 3, "{metrics}");
    assert!(lines[1].starts_with("2,") && lines[2].starts_with("4,"));
    let fields: Vec<&str> = lines[2].split(',').collect();
    let loss: f64 = fields[1].parse().unwrap();
    assert!(loss.is_finite() && loss > 0.0, "{metrics}");
    assert!(fields[3].parse::<f64>().is_ok(), "evaluated: {metrics}");
    assert!(run.join("checkpoints/step_000000004/dt.bpk").exists());

    ok(gta(&["rl", "train", "--resume", p(&run), "--steps", "6"]));
    let metrics = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    assert!(
        metrics.lines().last().unwrap().starts_with("6,"),
        "{metrics}"
    );
    assert!(run.join("checkpoints/step_000000006").exists());

    let out = ok(gta(&["rl", "eval", p(&run), "--episodes", "2", "--json"]));
    let json: serde_json::Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert_eq!(json["checkpoint_step"], 6);
    assert_eq!(json["episodes"], 2);
    assert!(json["normalized_score"].as_f64().is_some());

    // The original file has no generated windows: bad input, the missing key named.
    let o = gta(&[
        "rl",
        "train",
        "--algo",
        "dt",
        "--dataset",
        p(&data),
        "--augmented",
        p(&data),
        "--env",
        "maze2d-umaze",
        "--out",
        p(&dir.path().join("run2")),
        "--steps",
        "1",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("window_id"), "{err}");
}
