//! The SynthER baseline end to end through the binary (method.md §8.1): `gta diffusion train
//! --denoiser resmlp` on a small dataset with the tiny config, `gta augment synther`, and the
//! output read back with `gta data info --json`.

use std::path::Path;
use std::process::Command;

use gta_data::{Array, ArrayData, Dataset, WriteOptions};

fn gta(args: &[&str]) -> std::process::Output {
    let out = Command::new(env!("CARGO_BIN_EXE_gta"))
        .args(args)
        .output()
        .expect("run gta");
    assert!(
        out.status.success(),
        "gta {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    out
}

/// 40 episodes of 50 steps, obs 3, act 2. The reward is 6·s₀ (+ uniform noise of ±0.05), where
/// s₀ = t/50 is the first state dimension, so rewards follow the state exactly; every fourth
/// episode ends in a terminal, the others in a timeout (a row the q-learning view drops).
fn write_dataset(path: &Path) {
    let (episodes, len) = (40usize, 50usize);
    let n = episodes * len;
    let (mut obs, mut next, mut act, mut rew) = (vec![], vec![], vec![], vec![]);
    let (mut term, mut tout) = (vec![], vec![]);
    let mut z = 987u64;
    let mut noise = || {
        z = z
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((z >> 33) as f32 / (1u64 << 31) as f32 - 0.5) * 0.1
    };
    for e in 0..episodes {
        let phase = e as f32 * 0.7;
        for t in 0..len {
            let s = |t: usize| {
                let x = t as f32 / len as f32;
                [x, (x * 6.0 + phase).sin(), (x * 3.0 + phase).cos()]
            };
            let st = s(t);
            obs.extend(st);
            next.extend(s(t + 1));
            act.push(st[1] * 0.8 + noise());
            act.push(-st[2] * 0.5 + noise());
            rew.push(6.0 * st[0] + noise());
            let last = t == len - 1;
            term.push(last && e % 4 == 0);
            tout.push(last && e % 4 != 0);
        }
    }
    let mut ds = Dataset::new(path);
    ds.insert("observations", Array::new(vec![n, 3], ArrayData::F32(obs)));
    ds.insert(
        "next_observations",
        Array::new(vec![n, 3], ArrayData::F32(next)),
    );
    ds.insert("actions", Array::new(vec![n, 2], ArrayData::F32(act)));
    ds.insert("rewards", Array::new(vec![n], ArrayData::F32(rew)));
    ds.insert("terminals", Array::new(vec![n], ArrayData::Bool(term)));
    ds.insert("timeouts", Array::new(vec![n], ArrayData::Bool(tout)));
    gta_data::write(&ds, path, &WriteOptions::default()).unwrap();
}

fn column(ds: &Dataset, key: &str) -> (Vec<f32>, usize) {
    ds.f32_matrix(key).unwrap()
}

/// Mean of the rewards and their Pearson correlation with state dimension 0.
fn reward_stats(path: &Path) -> (f64, f64) {
    let ds = gta_data::read(path, &Default::default()).unwrap();
    let r: Vec<f64> = ds
        .rewards_f32()
        .unwrap()
        .iter()
        .map(|&v| v as f64)
        .collect();
    let (obs, w) = column(&ds, "observations");
    let s0: Vec<f64> = obs.iter().step_by(w).map(|&v| v as f64).collect();
    let n = r.len() as f64;
    let (mr, ms) = (r.iter().sum::<f64>() / n, s0.iter().sum::<f64>() / n);
    let cov: f64 = r.iter().zip(&s0).map(|(a, b)| (a - mr) * (b - ms)).sum();
    let vr: f64 = r.iter().map(|a| (a - mr).powi(2)).sum();
    let vs: f64 = s0.iter().map(|b| (b - ms).powi(2)).sum();
    (mr, cov / (vr * vs).sqrt())
}

#[test]
fn synther_trains_on_transitions_and_generates_data_like_the_original() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("levels.npz");
    write_dataset(&data);
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/synther-tiny.toml");
    let p = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let (d, c) = (data.to_str().unwrap(), config.to_str().unwrap());

    // Train with the tiny config: `--denoiser resmlp` agrees with its model.kind.
    let (model, untrained) = (p("synther"), p("synther-untrained"));
    gta(&[
        "diffusion",
        "train",
        "--dataset",
        d,
        "--out",
        &model,
        "--config",
        c,
        "--denoiser",
        "resmlp",
    ]);
    let resolved = std::fs::read_to_string(dir.path().join("synther/config.toml")).unwrap();
    assert!(resolved.contains("kind = \"res_mlp\""), "{resolved}");
    assert!(dir.path().join("synther/synther_normalizer.json").exists());
    // The same model after one optimizer step: (almost) its random initialisation.
    gta(&[
        "diffusion",
        "train",
        "--dataset",
        d,
        "--out",
        &untrained,
        "--config",
        c,
        "--steps",
        "1",
    ]);

    let generate = |model: &str, out: &str| {
        let o = gta(&[
            "augment",
            "synther",
            "--model",
            model,
            "--out",
            out,
            "--transitions",
            "2000",
            "--batch",
            "700",
            "--seed",
            "1",
            "--json",
        ]);
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("--json prints JSON");
        assert_eq!(v["transitions"], 2000);
        assert_eq!(v["batches"], 3);
        v
    };
    let out = p("synther.hdf5");
    let report = generate(&model, &out);
    generate(&untrained, &p("untrained.hdf5"));

    // The file round-trips through `gta data info` with exactly the requested count.
    let info = gta(&["data", "info", &out, "--json"]);
    let info: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
    assert_eq!(info["transitions"], 2000, "{info}");
    assert_eq!(
        (info["obs_dim"].as_u64(), info["act_dim"].as_u64()),
        (Some(3), Some(2))
    );
    assert_eq!(info["timeouts"], 0);
    let ds = gta_data::read(Path::new(&out), &Default::default()).unwrap();
    assert!(
        matches!(&ds.arrays["metadata/algorithm"].data, ArrayData::Str(v) if v[0] == "SynthER")
    );

    // A trained model reproduces the reward distribution and its dependence on the state;
    // the untrained one does not.
    let data_mean = report["reward_mean_data"].as_f64().unwrap();
    let (trained_mean, trained_corr) = reward_stats(Path::new(&out));
    let (random_mean, random_corr) = reward_stats(&dir.path().join("untrained.hdf5"));
    eprintln!(
        "data reward mean {data_mean:.3}; trained: mean {trained_mean:.3}, corr(r, s0) \
         {trained_corr:.3}; untrained: mean {random_mean:.3}, corr {random_corr:.3}"
    );
    // The q-learning view keeps t = 0…48 of every episode (mean 6·24/50 = 2.88) and the 10
    // terminal rows t = 49 (5.88): (1960·2.88 + 10·5.88)/1970 = 2.8952.
    assert!((data_mean - 2.8952).abs() < 0.01, "data mean {data_mean}");
    // Measured (seed 1): trained mean 2.855, corr 0.959; untrained mean 4.170, corr 0.073.
    let like_data = |mean: f64, corr: f64| (mean - data_mean).abs() < 0.3 && corr > 0.8;
    assert!(
        like_data(trained_mean, trained_corr),
        "trained: generated reward mean {trained_mean} vs data {data_mean}, corr(r, s0) {trained_corr}"
    );
    assert!(
        !like_data(random_mean, random_corr),
        "the untrained model passes the same check: mean {random_mean}, corr {random_corr}"
    );

    // Refuses to overwrite without --overwrite (bad input: exit code 2).
    let again = Command::new(env!("CARGO_BIN_EXE_gta"))
        .args(["augment", "synther", "--model", &model, "--out", &out])
        .output()
        .unwrap();
    assert_eq!(
        again.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert!(String::from_utf8_lossy(&again.stderr).contains("--overwrite"));
}
