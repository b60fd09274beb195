//! Golden values of envs-and-data.md §2.3 (raw MuJoCo 3.17, gymnasium v4 semantics): three steps
//! with action 0.5 from qpos0 and zero velocity, no reset noise; and the observation dimensions.

use gta_envs::make_env;

/// Runs the §2.3 protocol; returns the three rewards and the final observation.
fn three_steps(name: &str, qpos0: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let mut env = make_env(name).unwrap();
    let spec = env.spec().clone();
    env.reset_to_state(qpos0, &vec![0.0; spec.nv]).unwrap();
    let action = vec![0.5; spec.act_dim];
    let mut rewards = Vec::new();
    let mut obs = Vec::new();
    for _ in 0..3 {
        let step = env.step(&action).unwrap();
        assert!(
            !step.terminal && !step.timeout,
            "{name}: no termination in 3 steps"
        );
        rewards.push(step.reward);
        obs = step.obs;
    }
    (rewards, obs)
}

fn assert_close(name: &str, what: &str, got: &[f64], want: &[f64]) {
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() < 1e-8,
            "{name} {what}[{i}]: got {g:.12}, golden {w:.10}"
        );
    }
}

#[test]
fn halfcheetah_matches_golden_values() {
    let (rewards, obs) = three_steps("halfcheetah", &[0.0; 9]);
    assert_close(
        "halfcheetah",
        "reward",
        &rewards,
        &[0.3206701259, 0.4539565101, 0.0489885305],
    );
    assert_close(
        "halfcheetah",
        "obs",
        &obs[..4],
        &[-0.1448381186, -0.1192662516, 0.3536234027, 0.3272006871],
    );
}

#[test]
fn hopper_matches_golden_values() {
    let (rewards, obs) = three_steps("hopper", &[0.0, 1.25, 0.0, 0.0, 0.0, 0.0]);
    assert_close(
        "hopper",
        "reward",
        &rewards,
        &[1.0172542918, 1.0308016038, 1.0422894725],
    );
    assert_close(
        "hopper",
        "obs",
        &obs[..4],
        &[1.2466141853, 0.0026268807, 0.0014259793, 0.0012762165],
    );
}

#[test]
fn walker2d_matches_golden_values() {
    let mut qpos0 = vec![0.0; 9];
    qpos0[1] = 1.25;
    let (rewards, obs) = three_steps("walker2d-medium-v2", &qpos0);
    assert_close(
        "walker2d",
        "reward",
        &rewards,
        &[1.1107760398, 1.1850745267, 1.2202883021],
    );
    assert_close(
        "walker2d",
        "obs",
        &obs[..4],
        &[1.2405880948, 0.0128644341, 0.0091343853, 0.0035218806],
    );
}

#[test]
fn observation_dimensions_match_d4rl() {
    for (name, dim, act) in [
        ("halfcheetah", 17, 6),
        ("hopper", 11, 3),
        ("walker2d", 17, 6),
        ("ant", 111, 8),
    ] {
        let mut env = make_env(name).unwrap();
        assert_eq!(env.spec().obs_dim, dim, "{name} spec");
        assert_eq!(env.spec().act_dim, act, "{name} spec");
        assert_eq!(env.reset(0).len(), dim, "{name} reset obs");
        let step = env.step(&vec![0.1; act]).unwrap();
        assert_eq!(step.obs.len(), dim, "{name} step obs");
        assert!(step.obs.iter().all(|v| v.is_finite()), "{name} finite obs");
    }
}

#[test]
fn ant_contact_dimensions_are_zero_as_in_d4rl() {
    // §2.2 note: under MuJoCo 2.0 gym never filled cfrc_ext, so D4RL ant data have 84 zeros.
    let mut env = make_env("ant").unwrap();
    env.reset(3);
    for _ in 0..20 {
        let step = env
            .step(&[0.3, -0.3, 0.3, -0.3, 0.3, -0.3, 0.3, -0.3])
            .unwrap();
        assert!(step.obs[27..].iter().all(|&v| v == 0.0));
    }
}

#[test]
fn actions_are_clipped_to_unit_box() {
    // Clipping happens before the control cost (NormalizedBoxEnv, §2.1): action 7 == action 1.
    let mut a = make_env("hopper").unwrap();
    let mut b = make_env("hopper").unwrap();
    a.reset(11);
    b.reset(11);
    let sa = a.step(&[7.0, -3.0, 1.0]).unwrap();
    let sb = b.step(&[1.0, -1.0, 1.0]).unwrap();
    assert_eq!(sa, sb);
}

#[test]
fn resets_are_seeded_and_noisy_within_bounds() {
    let mut env = make_env("hopper").unwrap();
    let first = env.reset(42);
    assert_eq!(first, env.reset(42), "same seed, same start");
    assert_ne!(first, env.reset(43), "different seed, different start");
    // Hopper: qpos0 = [0, 1.25, 0, 0, 0, 0] + U(-0.005, 0.005); obs[0] = qpos[1].
    assert!((first[0] - 1.25).abs() <= 0.005);
    assert!(first[1..5].iter().all(|v| v.abs() <= 0.005));
    assert!(first[5..].iter().all(|v| v.abs() <= 0.005));
    assert!(first.iter().any(|&v| v != 0.0 && v != 1.25));
}

#[test]
fn time_limit_sets_timeout_on_step_1000() {
    let mut env = make_env("halfcheetah").unwrap();
    env.reset(0);
    for t in 1..=1000 {
        let step = env.step(&[0.0; 6]).unwrap();
        assert!(!step.terminal);
        assert_eq!(step.timeout, t == 1000, "step {t}");
    }
}

#[test]
fn hopper_terminates_when_it_falls() {
    let mut env = make_env("hopper").unwrap();
    env.reset(0);
    let mut terminal_at = None;
    for t in 1..=1000 {
        let step = env.step(&[1.0, -1.0, 1.0]).unwrap();
        if step.terminal {
            // The healthy bonus is still paid on the terminating step (§2.2 notes); the forward
            // term is bounded, so the reward stays finite.
            assert!(step.reward.is_finite());
            let height = step.obs[0];
            let angle = step.obs[1];
            assert!(
                height <= 0.7 || angle.abs() >= 0.2,
                "terminal but healthy: {height} {angle}"
            );
            terminal_at = Some(t);
            break;
        }
    }
    assert!(
        terminal_at.is_some_and(|t| t < 1000),
        "a saturated action must topple the hopper"
    );
}

#[test]
fn bad_lengths_are_rejected() {
    let mut env = make_env("walker2d").unwrap();
    env.reset(0);
    let err = env.step(&[0.0; 3]).unwrap_err().to_string();
    assert!(
        err.contains("walker2d") && err.contains("action") && err.contains("expected 6"),
        "{err}"
    );
    assert!(env.set_state_from_obs(&[0.0; 11]).is_err());
}
