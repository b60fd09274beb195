//! Maze2d sanity (envs-and-data.md §6.1): layouts, goal, sparse/dense reward, velocity clip,
//! walls, time limit, seeded resets.

use gta_envs::make_env;
use gta_envs::maze2d::{LARGE_MAZE, MEDIUM_MAZE, U_MAZE, maze_mjcf};

fn goal(rows: &[&str]) -> (usize, usize) {
    rows.iter()
        .enumerate()
        .find_map(|(r, row)| row.find('G').map(|c| (r, c)))
        .unwrap()
}

#[test]
fn layouts_match_d4rl() {
    assert_eq!((U_MAZE.len(), U_MAZE[0].len()), (5, 5));
    assert_eq!((MEDIUM_MAZE.len(), MEDIUM_MAZE[0].len()), (8, 8));
    assert_eq!((LARGE_MAZE.len(), LARGE_MAZE[0].len()), (9, 12));
    assert_eq!(goal(&U_MAZE), (1, 1));
    assert_eq!(goal(&MEDIUM_MAZE), (6, 6));
    assert_eq!(goal(&LARGE_MAZE), (7, 9));
    // One wall box per '#'.
    let walls = U_MAZE.iter().map(|r| r.matches('#').count()).sum::<usize>();
    assert_eq!(maze_mjcf(&U_MAZE).matches("type=\"box\"").count(), walls);
}

#[test]
fn sparse_reward_is_one_only_near_the_goal() {
    let mut env = make_env("maze2d-umaze-v1").unwrap();
    // At the goal cell (1, 1), at rest: reward 1.
    env.reset_to_state(&[1.0, 1.0], &[0.0, 0.0]).unwrap();
    assert_eq!(env.step(&[0.0, 0.0]).unwrap().reward, 1.0);
    // 0.45 away: still inside the 0.5 radius.
    env.reset_to_state(&[1.45, 1.0], &[0.0, 0.0]).unwrap();
    assert_eq!(env.step(&[0.0, 0.0]).unwrap().reward, 1.0);
    // 0.55 away: outside.
    env.reset_to_state(&[1.0, 1.55], &[0.0, 0.0]).unwrap();
    assert_eq!(env.step(&[0.0, 0.0]).unwrap().reward, 0.0);
    // The far end of the U, (3, 1): distance 2.
    env.reset_to_state(&[3.0, 1.0], &[0.0, 0.0]).unwrap();
    let step = env.step(&[0.0, 0.0]).unwrap();
    assert_eq!(step.reward, 0.0);
    assert!(!step.terminal, "maze2d never terminates");
}

#[test]
fn dense_reward_is_exp_minus_distance() {
    let mut env = make_env("maze2d-umaze-dense-v1").unwrap();
    env.reset_to_state(&[3.0, 1.0], &[0.0, 0.0]).unwrap();
    let step = env.step(&[0.0, 0.0]).unwrap();
    // At rest with no force the particle does not move (no gravity, contacts only along z).
    assert!(
        (step.obs[0] - 3.0).abs() < 1e-12 && (step.obs[1] - 1.0).abs() < 1e-12,
        "{:?}",
        step.obs
    );
    assert!(
        (step.reward - (-2.0f64).exp()).abs() < 1e-12,
        "{}",
        step.reward
    );
}

#[test]
fn velocity_is_clipped_to_five_before_the_step() {
    let mut env = make_env("maze2d-large").unwrap();
    env.reset_to_state(&[3.0, 1.0], &[10.0, -10.0]).unwrap();
    let step = env.step(&[0.0, 0.0]).unwrap();
    // Euler: v' = 5 (1 − dt·damping/m) < 5 and x' = x + dt·v' ≈ x + 0.05, not + 0.1.
    assert!(step.obs[2] > 4.9 && step.obs[2] < 5.0, "{:?}", step.obs);
    assert!(step.obs[3] < -4.9 && step.obs[3] > -5.0, "{:?}", step.obs);
    assert!((step.obs[0] - 3.05).abs() < 1e-3, "{:?}", step.obs);
}

#[test]
fn walls_stop_the_particle() {
    // U maze: pushing from the goal cell (1, 1) towards column 0 hits the wall at (1, 0).
    // Walls are centred at (r+1, c+1) in world coordinates and the particle body sits at
    // qpos + (1.2, 1.2): the wall face is at qpos y = 0.3, the sphere's radius is 0.1.
    let mut env = make_env("maze2d-umaze").unwrap();
    env.reset_to_state(&[1.0, 1.0], &[0.0, 0.0]).unwrap();
    let mut y = 1.0;
    for _ in 0..200 {
        y = env.step(&[0.0, -1.0]).unwrap().obs[1];
    }
    assert!(
        y > 0.3 && y < 0.5,
        "particle y after pushing into the wall: {y}"
    );
    // Free direction: pushing along +y for 50 steps moves it well past its start.
    env.reset_to_state(&[3.0, 1.0], &[0.0, 0.0]).unwrap();
    for _ in 0..50 {
        y = env.step(&[0.0, 1.0]).unwrap().obs[1];
    }
    assert!(y > 1.5, "free motion: {y}");
}

#[test]
fn time_limits_and_seeded_resets() {
    for (name, limit) in [
        ("maze2d-umaze", 300),
        ("maze2d-medium", 600),
        ("maze2d-large", 800),
    ] {
        let mut env = make_env(name).unwrap();
        assert_eq!(env.spec().max_episode_steps, limit);
        let start = env.reset(9);
        assert_eq!(start, env.reset(9));
        assert_ne!(start, env.reset(10));
        // Starts are within 0.1 of a free or goal cell centre.
        let (r, c) = (start[0].round(), start[1].round());
        assert!(
            (start[0] - r).abs() <= 0.1 && (start[1] - c).abs() <= 0.1,
            "{start:?}"
        );
        let rows = gta_envs::maze2d::layout(env.spec().id);
        assert_ne!(
            rows[r as usize].as_bytes()[c as usize],
            b'#',
            "{name}: start in a wall {start:?}"
        );
        env.reset(1);
        for t in 1..=limit {
            assert_eq!(env.step(&[0.3, -0.2]).unwrap().timeout, t == limit);
        }
    }
}
