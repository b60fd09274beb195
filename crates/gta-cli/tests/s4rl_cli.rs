//! The S4RL baseline through the binary (method.md §8.2): `gta augment s4rl` writes noisy copies
//! of the q-learning view that `gta data info` reads back with the expected count; an existing
//! output is refused with exit code 2 and left untouched.

use std::process::Command;

fn gta(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_gta"))
        .args(args)
        .output()
        .expect("run gta")
}

fn json(out: &std::process::Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON object")
}

#[test]
fn s4rl_writes_noisy_copies_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("umaze.hdf5");
    let out = dir.path().join("s4rl.hdf5");
    let (d, o) = (data.to_str().unwrap(), out.to_str().unwrap());
    let made = gta(&[
        "data",
        "make",
        "maze2d-umaze",
        "--out",
        d,
        "--transitions",
        "600",
    ]);
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );

    let run = gta(&[
        "augment",
        "s4rl",
        "--dataset",
        d,
        "--out",
        o,
        "--copies",
        "3",
        "--seed",
        "7",
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let info = json(&gta(&["data", "info", o, "--json"]));
    // Three copies of the q-learning view (computed here independently of the CLI).
    let ds = gta_data::read(&data, &Default::default()).unwrap();
    let q = gta_data::qlearning(&ds, true).unwrap();
    let n = info["transitions"].as_u64().unwrap() as usize;
    assert_eq!(n, 3 * q.rewards.len(), "s4rl {info}");
    assert_eq!(info["obs_dim"].as_u64(), Some(4));

    let before = std::fs::read(&out).unwrap();
    let again = gta(&["augment", "s4rl", "--dataset", d, "--out", o]);
    assert_eq!(again.status.code(), Some(2));
    let msg = String::from_utf8_lossy(&again.stderr);
    assert!(
        msg.contains("exists") && msg.contains("--overwrite"),
        "{msg}"
    );
    assert_eq!(
        std::fs::read(&out).unwrap(),
        before,
        "the existing file is untouched"
    );
}
