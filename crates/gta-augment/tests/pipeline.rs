//! The augmentation loop with stand-in generators: exact amounts, transition layout, metadata,
//! resume after an interruption, and refusal to overwrite.

use gta_augment::{AugmentConfig, AugmentError, Provenance, WindowGenerator, augment};
use gta_data::{
    Array, ArrayData, Dataset, EpisodeOptions, ReadOptions, Trajectories, WindowOptions, WindowSet,
};

/// Three episodes (lengths 12, 9, 15; the second terminates), obs 2, act 1.
fn dataset() -> Dataset {
    let lens = [12usize, 9, 15];
    let n: usize = lens.iter().sum();
    let mut obs = Vec::new();
    let mut act = Vec::new();
    let mut rew = Vec::new();
    let mut next = Vec::new();
    let mut term = Vec::new();
    let mut tout = Vec::new();
    for (e, &len) in lens.iter().enumerate() {
        for t in 0..len {
            let s = |t: usize| [e as f32 + 0.1 * t as f32, (t as f32 * 0.3).sin()];
            obs.extend(s(t));
            next.extend(s(t + 1));
            act.push(((e * 7 + t) as f32 * 0.17).cos());
            rew.push(1.0 + e as f32 + 0.01 * t as f32);
            term.push(e == 1 && t == len - 1);
            tout.push(e != 1 && t == len - 1);
        }
    }
    let mut ds = Dataset::new("synthetic");
    ds.insert("observations", Array::new(vec![n, 2], ArrayData::F32(obs)));
    ds.insert(
        "next_observations",
        Array::new(vec![n, 2], ArrayData::F32(next)),
    );
    ds.insert("actions", Array::new(vec![n, 1], ArrayData::F32(act)));
    ds.insert("rewards", Array::new(vec![n], ArrayData::F32(rew)));
    ds.insert("terminals", Array::new(vec![n], ArrayData::Bool(term)));
    ds.insert("timeouts", Array::new(vec![n], ArrayData::Bool(tout)));
    ds
}

fn windows(ds: &Dataset) -> WindowSet {
    let traj = Trajectories::from_dataset(ds, &EpisodeOptions::default()).unwrap();
    WindowSet::build(
        &traj,
        &WindowOptions {
            horizon: 8,
            ..Default::default()
        },
    )
    .unwrap()
}

/// Returns the source windows unchanged (what μ = 0 does), and can fail on a given call.
struct Identity {
    calls: usize,
    fail_at: Option<usize>,
}

impl WindowGenerator for Identity {
    fn generate(
        &mut self,
        source: &[f32],
        _cond: &[f32],
        _batch: usize,
        _seed: u64,
        _inpaint: Option<(&[f32], &[f32])>,
    ) -> Result<Vec<f32>, AugmentError> {
        self.calls += 1;
        if self.fail_at == Some(self.calls) {
            return Err(AugmentError::Model("interrupted".into()));
        }
        Ok(source.to_vec())
    }
}

fn config(transitions: usize) -> AugmentConfig {
    AugmentConfig {
        transitions,
        batch_windows: 4,
        seed: 3,
        ..Default::default()
    }
}

#[test]
fn writes_exactly_the_requested_transitions_with_consistent_next_states() {
    let ds = dataset();
    let set = windows(&ds);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("gen.hdf5");
    let mut g = Identity {
        calls: 0,
        fail_at: None,
    };
    let report = augment(
        &set,
        &mut g,
        &config(100),
        Some(&ds),
        &Provenance::default(),
        &out,
        false,
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(report.transitions, 100);
    assert_eq!(report.windows, 15, "ceil(100 / 7) windows");
    assert_eq!(g.calls, 4, "15 windows in batches of 4");
    assert!(
        !gta_augment::augment::parts_dir(&out).exists(),
        "parts removed after assembly"
    );

    let back = gta_data::read(&out, &ReadOptions::default()).unwrap();
    let (obs, _) = back.f32_matrix("observations").unwrap();
    let (next, _) = back.f32_matrix("next_observations").unwrap();
    let step = match &back.get("step_in_window").unwrap().data {
        ArrayData::U32(v) => v.clone(),
        other => panic!("step_in_window dtype {}", other.dtype_name()),
    };
    assert_eq!(back.len().unwrap(), 100);
    for k in 0..99 {
        if step[k + 1] == step[k] + 1 {
            assert_eq!(
                next[2 * k..2 * k + 2],
                obs[2 * (k + 1)..2 * (k + 1) + 2],
                "transition {k}"
            );
        }
    }
    // Identity generation + restoration gives back the dataset's own rewards: the mean matches.
    assert!(
        (report.reward_mean_generated - report.reward_mean_source).abs() < 1e-4,
        "{report:?}"
    );
    // Conditions used are the amplified source conditions: α·c for c > 0, (2 − α)·c for c < 0
    // (episode 1 terminates, so its windows carry the −100 penalty and negative returns).
    let f = |k: &str| back.f32_matrix(k).unwrap().0;
    let (src, used) = (f("windows/source_condition"), f("windows/condition"));
    assert_eq!(src.len(), 15);
    assert!(src.iter().any(|&c| c < 0.0) && src.iter().any(|&c| c > 0.0));
    for (s, u) in src.iter().zip(&used) {
        let want = if *s > 0.0 { 1.3 * s } else { 0.7 * s };
        assert!((u - want).abs() < 1e-5, "source {s} used {u}");
    }
    // Terminal flags are copied, and only windows reaching the end of episode 1 can carry one.
    let terms = back.flags("terminals").unwrap().unwrap();
    let ids = match &back.get("windows/source_episode").unwrap().data {
        ArrayData::U32(v) => v.clone(),
        _ => unreachable!(),
    };
    let wid = match &back.get("window_id").unwrap().data {
        ArrayData::U32(v) => v.clone(),
        _ => unreachable!(),
    };
    for (k, &t) in terms.iter().enumerate() {
        if t {
            assert_eq!(ids[wid[k] as usize], 1);
            assert_eq!(
                step[k], 6,
                "the terminal is the last transition of a window ending the episode"
            );
        }
    }
    let meta = back.get("metadata/config").expect("config recorded");
    assert!(matches!(&meta.data, ArrayData::Str(s) if s[0].contains("mu = 0.5")));
}

#[test]
fn an_interrupted_run_resumes_to_the_same_file() {
    let ds = dataset();
    let set = windows(&ds);
    let dir = tempfile::tempdir().unwrap();
    let whole = dir.path().join("whole.npz");
    augment(
        &set,
        &mut Identity {
            calls: 0,
            fail_at: None,
        },
        &config(60),
        None,
        &Provenance::default(),
        &whole,
        false,
        &mut |_| {},
    )
    .unwrap();

    let resumed = dir.path().join("resumed.npz");
    let err = augment(
        &set,
        &mut Identity {
            calls: 0,
            fail_at: Some(2),
        },
        &config(60),
        None,
        &Provenance::default(),
        &resumed,
        false,
        &mut |_| {},
    )
    .unwrap_err();
    assert!(err.to_string().contains("interrupted"));
    assert!(!resumed.exists(), "no output file after a failure");
    let mut g = Identity {
        calls: 0,
        fail_at: None,
    };
    let report = augment(
        &set,
        &mut g,
        &config(60),
        None,
        &Provenance::default(),
        &resumed,
        false,
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(report.chunks_resumed, 1);
    assert_eq!(g.calls, 2, "9 windows = 3 chunks, 1 already on disk");
    let a = gta_data::read(&whole, &ReadOptions::default()).unwrap();
    let b = gta_data::read(&resumed, &ReadOptions::default()).unwrap();
    assert!(
        a.bit_eq(&b),
        "resumed output differs from the uninterrupted one"
    );

    // A changed config does not silently reuse old parts.
    let _ = augment(
        &set,
        &mut Identity {
            calls: 0,
            fail_at: Some(2),
        },
        &config(60),
        None,
        &Provenance::default(),
        &dir.path().join("x.npz"),
        false,
        &mut |_| {},
    );
    let other = AugmentConfig {
        alpha: 1.1,
        ..config(60)
    };
    let err = augment(
        &set,
        &mut Identity {
            calls: 0,
            fail_at: None,
        },
        &other,
        None,
        &Provenance::default(),
        &dir.path().join("x.npz"),
        false,
        &mut |_| {},
    )
    .unwrap_err();
    assert!(err.to_string().contains("different augmentation"), "{err}");
}

#[test]
fn refuses_to_overwrite_and_rejects_bad_settings() {
    let ds = dataset();
    let set = windows(&ds);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("gen.npz");
    std::fs::write(&out, b"user data").unwrap();
    let err = augment(
        &set,
        &mut Identity {
            calls: 0,
            fail_at: None,
        },
        &config(10),
        None,
        &Provenance::default(),
        &out,
        false,
        &mut |_| {},
    )
    .unwrap_err();
    assert!(err.to_string().contains("output exists"), "{err}");
    assert_eq!(std::fs::read(&out).unwrap(), b"user data");
    let bad = AugmentConfig {
        mu: 1.5,
        ..config(10)
    };
    let err = augment(
        &set,
        &mut Identity {
            calls: 0,
            fail_at: None,
        },
        &bad,
        None,
        &Provenance::default(),
        &dir.path().join("y.npz"),
        false,
        &mut |_| {},
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "augment config: mu = 1.5: expected a ratio in [0, 1]"
    );
}

#[test]
fn include_original_puts_the_qlearning_rows_first() {
    let ds = dataset();
    let set = windows(&ds);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("both.npz");
    let cfg = AugmentConfig {
        include_original: true,
        ..config(14)
    };
    let r = augment(
        &set,
        &mut Identity {
            calls: 0,
            fail_at: None,
        },
        &cfg,
        Some(&ds),
        &Provenance::default(),
        &out,
        false,
        &mut |_| {},
    )
    .unwrap();
    // The q-learning view skips the two rows flagged as timeouts (D4RL's qlearning_dataset).
    assert_eq!(r.original_transitions, 34);
    let back = gta_data::read(&out, &ReadOptions::default()).unwrap();
    assert_eq!(back.len().unwrap(), 34 + 14);
    let wid = match &back.get("window_id").unwrap().data {
        ArrayData::U32(v) => v.clone(),
        _ => unreachable!(),
    };
    assert!(wid[..34].iter().all(|&w| w == u32::MAX));
    assert_eq!(&wid[34..36], &[0, 0]);
}
