//! Logged rollouts: D4RL layout and flags, and the maze2d waypoint controller reaching its goal.

use gta_envs::{EnvId, RandomPolicy, WaypointPolicy, collect};

#[test]
fn waypoint_controller_data_beats_random_data_and_has_d4rl_flags() {
    let expert = collect(
        EnvId::Maze2dUmaze,
        &WaypointPolicy::new(EnvId::Maze2dUmaze, 0.5),
        1500,
        0,
    )
    .unwrap();
    let random = collect(EnvId::Maze2dUmaze, &RandomPolicy { act_dim: 2 }, 1500, 0).unwrap();
    let (n, obs_dim, act_dim) = expert.check_layout().unwrap();
    assert_eq!((n, obs_dim, act_dim), (1500, 4, 2));
    let sum = |d: &gta_data::Dataset| {
        d.rewards_f32()
            .unwrap()
            .iter()
            .map(|&r| r as f64)
            .sum::<f64>()
    };
    // 5 episodes of 300 steps from random cells: the controller spends most steps at the goal.
    let (e, r) = (sum(&expert), sum(&random));
    assert!(
        e > 500.0 && e > 4.0 * r + 100.0,
        "expert reward {e}, random {r}"
    );
    let timeouts = expert.flags("timeouts").unwrap().unwrap();
    let terminals = expert.flags("terminals").unwrap().unwrap();
    assert_eq!(
        timeouts.iter().filter(|&&t| t).count(),
        5,
        "a timeout every 300 steps"
    );
    assert!(timeouts[299] && timeouts[1499] && !terminals.iter().any(|&t| t));
    // next_observations[i] == observations[i+1] inside episodes.
    let (obs, _) = expert.f32_matrix("observations").unwrap();
    let (next, _) = expert.f32_matrix("next_observations").unwrap();
    for i in 0..n - 1 {
        if !timeouts[i] {
            assert_eq!(
                next[4 * i..4 * i + 4],
                obs[4 * (i + 1)..4 * (i + 1) + 4],
                "row {i}"
            );
        }
    }
    // Actions are logged clipped, as applied.
    let (act, _) = expert.f32_matrix("actions").unwrap();
    assert!(act.iter().all(|a| a.abs() <= 1.0));
}

#[test]
fn collection_is_seeded() {
    let p = WaypointPolicy::new(EnvId::Maze2dUmaze, 0.5);
    let a = collect(EnvId::Maze2dUmaze, &p, 400, 7).unwrap();
    let b = collect(EnvId::Maze2dUmaze, &p, 400, 7).unwrap();
    let c = collect(EnvId::Maze2dUmaze, &p, 400, 8).unwrap();
    assert!(a.bit_eq(&b));
    assert!(!a.bit_eq(&c));
}
