//! Adroit door and pen (issue 11; envs-and-data.md §6.3, §8): dimensions, seeded resets, state
//! rebuilding from observations, the pen reward from its own observation, and the one-step
//! replay of the real door-human-v0 file.

use std::path::Path;

use gta_envs::adroit::{Door, Pen};
use gta_envs::{Env, EnvId, make_env, replay};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The real D4RL door-human-v0 file (envs-and-data.md §8); CI has shared/ beside the clone.
const DOOR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/d4rl/door-v0_demos_clipped.hdf5"
);

fn random_actions(seed: u64, n: usize, dim: usize) -> Vec<Vec<f64>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|_| (0..dim).map(|_| rng.random_range(-1.0..1.0)).collect())
        .collect()
}

fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max)
}

#[test]
fn ids_dimensions_and_time_limits() {
    for (name, id, obs, act, steps) in [
        ("door-human-v0", EnvId::Door, 39, 28, 200),
        ("door", EnvId::Door, 39, 28, 200),
        ("door-expert-v1", EnvId::Door, 39, 28, 200),
        ("pen-human-v0", EnvId::Pen, 45, 24, 100),
        ("pen", EnvId::Pen, 45, 24, 100),
    ] {
        assert_eq!(EnvId::parse(name).unwrap(), id, "{name}");
        let mut env = make_env(name).unwrap();
        let spec = env.spec().clone();
        assert_eq!(
            (
                spec.obs_dim,
                spec.act_dim,
                spec.nq,
                spec.nv,
                spec.max_episode_steps
            ),
            (obs, act, 30, 30, steps),
            "{name}"
        );
        assert!((spec.dt - 0.01).abs() < 1e-12, "{name}: dt {}", spec.dt);
        assert_eq!(env.reset(0).len(), obs, "{name}");
        let step = env.step(&vec![0.0; act]).unwrap();
        assert_eq!(step.obs.len(), obs, "{name}");
        assert!(
            env.step(&vec![0.0; act + 1]).is_err(),
            "{name}: wrong action length"
        );
    }
    assert!(EnvId::parse("door-medium-v0").is_err());
    let spec = EnvId::Door.spec();
    assert_eq!(
        (spec.ref_scores.min, spec.ref_scores.max),
        (-56.512833, 2880.5693087298737)
    );
    assert!(spec.datasets.contains(&"door-human-v0".to_string()));
    let spec = EnvId::Pen.spec();
    assert_eq!(
        (spec.ref_scores.min, spec.ref_scores.max),
        (96.262799, 3076.8331017826877)
    );
}

#[test]
fn resets_are_deterministic_per_seed() {
    for name in ["door", "pen"] {
        let mut a = make_env(name).unwrap();
        let mut b = make_env(name).unwrap();
        let act_dim = a.spec().act_dim;
        let actions = random_actions(5, 20, act_dim);
        // b runs another episode first: nothing may leak into the next reset.
        b.reset(99);
        for action in &actions[..5] {
            b.step(action).unwrap();
        }
        assert_eq!(a.reset(7), b.reset(7), "{name}");
        for action in &actions {
            assert_eq!(a.step(action).unwrap(), b.step(action).unwrap(), "{name}");
        }
        let (o7, o8) = (a.reset(7), a.reset(8));
        assert_ne!(
            o7,
            o8,
            "{name}: different seeds draw different {} ",
            if name == "door" {
                "door positions"
            } else {
                "targets"
            }
        );
    }
}

#[test]
fn door_steps_time_out_at_200_and_never_terminate() {
    let mut env = make_env("door-human-v0").unwrap();
    env.reset(1);
    for t in 1..=200 {
        let step = env.step(&[0.0; 28]).unwrap();
        assert!(!step.terminal);
        assert_eq!(step.timeout, t == 200, "step {t}");
    }
}

#[test]
fn door_state_is_rebuilt_from_its_observation() {
    let mut env = Door::new().unwrap();
    let mut rebuilt = Door::new().unwrap();
    env.reset(4);
    rebuilt.reset(5);
    for (t, action) in random_actions(1, 40, 28).iter().enumerate() {
        env.step(action).unwrap();
        // After a step the observation's site positions lag qpos by one MuJoCo step (D4RL
        // semantics); rebuild from the observation of the same state after mj_forward.
        let (q, v) = env.sim_state().unwrap();
        let obs = env.reset_to_state(&q, &v).unwrap();
        rebuilt.set_state_from_obs(&obs).unwrap();
        let err = max_abs_diff(&rebuilt.observation(), &obs);
        assert!(err < 1e-9, "step {t}: observation error {err}");
        let (q, _) = env.sim_state().unwrap();
        let (q2, v2) = rebuilt.sim_state().unwrap();
        assert!(
            max_abs_diff(&q, &q2) < 1e-9,
            "step {t}: qpos (forearm slide solved from the palm)"
        );
        assert!(v2.iter().all(|&v| v == 0.0), "qvel is not observed");
        let (p, p2) = (env.door_position(), rebuilt.door_position());
        assert!(
            max_abs_diff(&p, &p2) < 1e-9,
            "door position {p:?} vs {p2:?}"
        );
    }
}

#[test]
fn door_recorded_state_restores_the_episode_exactly() {
    let mut env = Door::new().unwrap();
    let mut other = Door::new().unwrap();
    env.reset(12);
    other.reset(13);
    let actions = random_actions(2, 30, 28);
    for action in &actions[..10] {
        env.step(action).unwrap();
    }
    let (qpos, qvel) = env.sim_state().unwrap();
    // The observation as a dataset records it: right after a step.
    let obs = env.observation();
    assert_eq!(
        other
            .reset_to_recorded_state(&qpos, &qvel, &obs)
            .unwrap()
            .len(),
        39
    );
    let (a, b) = (other.door_position(), env.door_position());
    assert!(max_abs_diff(&a, &b) < 1e-12, "{a:?} vs {b:?}");
    for action in &actions[10..] {
        let (a, b) = (env.step(action).unwrap(), other.step(action).unwrap());
        // mj_resetData clears the solver warm start, the only difference left.
        assert!(
            max_abs_diff(&a.obs, &b.obs) < 1e-6,
            "{}",
            max_abs_diff(&a.obs, &b.obs)
        );
        assert!((a.reward - b.reward).abs() < 1e-6);
    }
}

#[test]
fn door_success_and_open_flag_follow_the_hinge_angle() {
    let mut env = Door::new().unwrap();
    let obs = env.reset(0);
    assert_eq!(env.success(), Some(false));
    assert_eq!(obs[38], -1.0);
    for (angle, open, success) in [(0.5, -1.0, false), (1.2, 1.0, false), (1.4, 1.0, true)] {
        let mut o = obs.clone();
        o[28] = angle;
        env.set_state_from_obs(&o).unwrap();
        let now = env.observation();
        assert_eq!((now[28], now[38]), (angle, open), "angle {angle}");
        assert_eq!(env.success(), Some(success), "angle {angle}");
    }
}

#[test]
fn pen_reward_matches_its_observation_and_state_rebuilds() {
    let mut env = Pen::new().unwrap();
    let mut rebuilt = Pen::new().unwrap();
    env.reset(3);
    let mut dropped = false;
    for (t, action) in random_actions(9, 100, 24).iter().enumerate() {
        let step = env.step(action).unwrap();
        let o = &step.obs;
        // Recomputed from the observation alone: pen − target position and both orientations.
        let dist = (o[39] * o[39] + o[40] * o[40] + o[41] * o[41]).sqrt();
        let sim = o[33] * o[36] + o[34] * o[37] + o[35] * o[38];
        let mut want = -dist + sim;
        if dist < 0.075 && sim > 0.9 {
            want += 10.0;
        }
        if dist < 0.075 && sim > 0.95 {
            want += 50.0;
        }
        let fell = o[26] < 0.075;
        if fell {
            want -= 5.0;
        }
        assert!(
            (step.reward - want).abs() < 1e-9,
            "step {t}: {} vs {want}",
            step.reward
        );
        assert_eq!(step.terminal, fell, "step {t}");
        assert_eq!(env.success(), Some(dist < 0.075 && sim > 0.95));
        // Rebuild from the observation of the same state after mj_forward (see the door test).
        let (q, v) = env.sim_state().unwrap();
        let fresh = env.reset_to_state(&q, &v).unwrap();
        rebuilt.set_state_from_obs(&fresh).unwrap();
        let err = max_abs_diff(&rebuilt.observation(), &fresh);
        assert!(err < 1e-9, "step {t}: rebuilt observation error {err}");
        if step.terminal {
            dropped = true;
            break;
        }
    }
    // Random actions open the hand and the pen falls (the episode's termination path is used).
    assert!(dropped, "the pen was never dropped in 100 random steps");
}

/// Replaying the first demo of the real file from its stored states. The door position is not
/// stored but recovered from the handle position, so what is left is the simulator difference
/// (gymnasium-robotics models on MuJoCo 3.17 against D4RL's recordings) plus float32 storage
/// (~1e-7) and D4RL's one-MuJoCo-step lag of site positions (start observation ~1e-3). Measured on
/// this demo: one-step hand error (max over the 28 actuated joints) median 2.3e-3, p90 7.5e-3
/// (the same to 1e-9 with Python's mujoco 3.17 and an independent script). The bounds, median
/// 0.01 and p90 0.03, leave a 4× margin and still fail by an order of magnitude for the XML's door
/// position instead of the recovered one (median 0.12, p90 0.21).
#[test]
fn replay_of_the_first_door_human_demo_stays_close() {
    let dataset = gta_data::read(Path::new(DOOR), &Default::default()).unwrap();
    let report = replay("door-human-v0", &dataset, Some(1)).unwrap();
    assert_eq!(
        (report.episodes, report.transitions, report.qpos_compared),
        (1, 299, 28)
    );
    assert!(
        report.start_obs_error.max < 0.01,
        "{:?}",
        report.start_obs_error
    );
    assert!(report.qpos_error.median < 0.01, "{:?}", report.qpos_error);
    assert!(report.qpos_error.p90 < 0.03, "{:?}", report.qpos_error);
    assert!(
        report.reward_error.median < 1e-3,
        "{:?}",
        report.reward_error
    );
}
