//! Episodes, the qlearning view, the normalizer, windows/conditions and samplers on a toy dataset
//! whose expected values are computed by hand in the comments (method.md §2).

mod common;

use gta_data::{
    Array, ArrayData, Dataset, DenseReweighting, EpisodeOptions, Reweighting, SparseReweighting,
    SplitRule, Trajectories, WindowOptions, WindowSampler, WindowSet, dense_weights, qlearning,
    sparse_episode_weights,
};

/// 10 rows, obs_dim = act_dim = 1. obs[i] = i, act[i] = 10 + i, next_obs[i] = i + 0.5.
/// Rewards: E0 rows 0..4 = [1, 2, 3, 4] (terminal at 3), E1 rows 4..7 = [1, 1, 1] (timeout at 6),
/// E2 rows 7..9 = [5, 5] (terminal at 8), trailing row 9 = [0].
fn toy(with_next: bool) -> Dataset {
    let n = 10;
    let mut d = Dataset::new("toy");
    d.insert(
        "observations",
        Array::new(
            vec![n, 1],
            ArrayData::F32((0..n).map(|i| i as f32).collect()),
        ),
    );
    d.insert(
        "actions",
        Array::new(
            vec![n, 1],
            ArrayData::F32((0..n).map(|i| 10.0 + i as f32).collect()),
        ),
    );
    if with_next {
        d.insert(
            "next_observations",
            Array::new(
                vec![n, 1],
                ArrayData::F32((0..n).map(|i| i as f32 + 0.5).collect()),
            ),
        );
    }
    d.insert(
        "rewards",
        Array::new(
            vec![n],
            ArrayData::F32(vec![1., 2., 3., 4., 1., 1., 1., 5., 5., 0.]),
        ),
    );
    let flags = |set: &[usize]| ArrayData::U8((0..n).map(|i| set.contains(&i) as u8).collect());
    d.insert("terminals", Array::new(vec![n], flags(&[3, 8])));
    d.insert(
        "timeouts",
        Array::new(
            vec![n],
            ArrayData::F32((0..n).map(|i| (i == 6) as u8 as f32).collect()),
        ),
    );
    d
}

fn ranges(eps: &[gta_data::Episode]) -> Vec<(usize, usize, bool, bool)> {
    eps.iter()
        .map(|e| (e.start, e.len, e.terminated, e.complete))
        .collect()
}

#[test]
fn split_rules_and_trailing_partial_episode() {
    let d = toy(true);
    let opts = |split, keep_partial| EpisodeOptions {
        split,
        keep_partial,
    };
    let eps =
        gta_data::episodes::episodes(&d, &opts(SplitRule::TerminalsOrTimeouts, false)).unwrap();
    assert_eq!(
        ranges(&eps),
        vec![(0, 4, true, true), (4, 3, false, true), (7, 2, true, true)]
    );
    let eps =
        gta_data::episodes::episodes(&d, &opts(SplitRule::TerminalsOrTimeouts, true)).unwrap();
    assert_eq!(
        eps.last().map(|e| (e.start, e.len, e.complete)),
        Some((9, 1, false))
    );
    let eps = gta_data::episodes::episodes(&d, &opts(SplitRule::Terminals, false)).unwrap();
    assert_eq!(ranges(&eps), vec![(0, 4, true, true), (4, 5, true, true)]);
    let eps = gta_data::episodes::episodes(&d, &opts(SplitRule::Timeouts, true)).unwrap();
    assert_eq!(
        ranges(&eps),
        vec![(0, 7, false, true), (7, 3, false, false)]
    );
}

#[test]
fn next_states_from_next_observations_or_from_the_following_row() {
    let with = Trajectories::from_dataset(&toy(true), &EpisodeOptions::default()).unwrap();
    assert_eq!(with.len(), 9);
    assert_eq!(with.next_observations[3], 3.5);
    // Without next_observations: next = obs[i+1] inside the episode, each episode's last row dropped:
    // E0 keeps rows 0..3, E1 rows 4..6, E2 row 7 -> 3 + 2 + 1 transitions.
    let without = Trajectories::from_dataset(&toy(false), &EpisodeOptions::default()).unwrap();
    assert_eq!(without.observations, vec![0., 1., 2., 4., 5., 7.]);
    assert_eq!(without.next_observations, vec![1., 2., 3., 5., 6., 8.]);
    assert_eq!(
        ranges(&without.episodes),
        vec![
            (0, 3, false, true),
            (3, 2, false, true),
            (5, 1, false, true)
        ]
    );
}

#[test]
fn qlearning_view_skips_timeouts_and_uses_terminals_as_done() {
    let q = qlearning(&toy(true), false).unwrap();
    // Rows 0..9 (the last row has no obs[i+1]) minus the timeout row 6.
    assert_eq!(q.source_rows, vec![0, 1, 2, 3, 4, 5, 7, 8]);
    assert_eq!(q.next_observations, vec![1., 2., 3., 4., 5., 6., 8., 9.]);
    assert_eq!(
        q.dones,
        vec![false, false, false, true, false, false, false, true]
    );
    let q = qlearning(&toy(true), true).unwrap();
    assert_eq!(q.source_rows.len(), 9);
    assert_eq!(q.next_observations[8], 9.5);
}

#[test]
fn normalizer_is_unbiased_std_plus_eps_and_inverts() {
    let data = [1.0f32, 10., 2., 20., 3., 30., 4., 40.];
    let norm = gta_data::Normalizer::fit(&data, 2, 1e-5).unwrap();
    // mean 2.5 / 25; unbiased var = (2.25 + 0.25 + 0.25 + 2.25) / 3 = 5/3 -> std 1.2909944.
    assert_eq!(norm.mean, vec![2.5, 25.0]);
    assert!(
        (norm.std[0] - (1.2909944 + 1e-5)).abs() < 1e-6,
        "{}",
        norm.std[0]
    );
    assert!(
        (norm.std[1] - (12.909944 + 1e-5)).abs() < 1e-5,
        "{}",
        norm.std[1]
    );
    let mut x = data.to_vec();
    norm.normalize(&mut x);
    assert!((x[0] - (1.0 - 2.5) / norm.std[0]).abs() < 1e-7);
    norm.denormalize(&mut x);
    for (a, b) in x.iter().zip(&data) {
        assert!((a - b).abs() < 1e-5);
    }
    let json = serde_json::to_string(&norm).unwrap();
    assert_eq!(
        serde_json::from_str::<gta_data::Normalizer>(&json).unwrap(),
        norm
    );
}

fn toy_windows() -> WindowSet {
    let traj = Trajectories::from_dataset(&toy(true), &EpisodeOptions::default()).unwrap();
    let opts = WindowOptions {
        horizon: 3,
        gamma: 0.5,
        ..WindowOptions::default()
    };
    WindowSet::build(&traj, &opts).unwrap()
}

#[test]
fn windows_conditions_and_side_data_by_hand() {
    let w = toy_windows();
    // T = 3 -> L = 2 transitions per window: E0 (4) has 3 starts, E1 (3) 2, E2 (2) 1.
    assert_eq!(w.starts, vec![0, 1, 2, 4, 5, 7]);
    assert_eq!(w.episode, vec![0, 0, 0, 1, 1, 2]);
    assert_eq!(w.t0, vec![0, 1, 2, 0, 1, 0]);
    assert_eq!(w.episode_first_window, vec![0, 3, 5]);
    assert_eq!(w.episode_windows, vec![3, 2, 1]);
    // E0 penalized [1, 2, 3, -96], γ = 0.5: G3 = -96, G2 = -45, G1 = -20.5, G0 = -9.25.
    // E1 [1, 1, 1]: G1 = 1.5, G0 = 1.75. E2 [5, -95]: G0 = 5 - 47.5 = -42.5. c = 0.01 G.
    let want = [-0.0925f32, -0.205, -0.45, 0.0175, 0.015, -0.425];
    for (c, e) in w.cond.iter().zip(want) {
        assert!((c - e).abs() < 1e-7, "{:?}", w.cond);
    }
    // Undiscounted RTG before the penalty: E0 [10, 9, 7], E1 [3, 2], E2 [10].
    assert_eq!(w.rtg_undiscounted, vec![10., 9., 7., 3., 2., 10.]);
    // Episode scores: discounted G0 without penalty: 1 + 1 + 0.75 + 0.5, 1.75, 5 + 2.5.
    assert_eq!(w.episode_score, vec![3.25, 1.75, 7.5]);
    // The penalty is in the reward channel of terminal rows 3 and 8 (D = 3, reward column 2).
    assert_eq!(w.rows[3 * 3 + 2], -96.0);
    assert_eq!(w.rows[8 * 3 + 2], -95.0);
    // The normalizer excludes the penalty: reward mean = 23 / 9.
    assert!((w.normalizer.mean[2] - 23.0 / 9.0).abs() < 1e-6);
}

#[test]
fn materialize_builds_the_next_state_row_and_normalizes_everything() {
    let w = toy_windows();
    let mut raw = Vec::new();
    w.window_raw_into(2, &mut raw);
    // Window 2 starts at row 2: [s2, a2, r2], [s3, a3, r3 - 100], [next_obs[3], 0, 0].
    assert_eq!(raw, vec![2., 12., 3., 3., 13., -96., 3.5, 0., 0.]);
    let got = w.materialize(&[2, 0]);
    assert_eq!(got.len(), 2 * 3 * 3);
    for (i, &x) in raw.iter().enumerate() {
        let c = i % 3;
        let want = (x - w.normalizer.mean[c]) / w.normalizer.std[c];
        assert!((got[i] - want).abs() < 1e-6, "element {i}");
    }
    // Window 0 follows: row 0 = normalized [0, 10, 1].
    assert!((got[9] - (0.0 - w.normalizer.mean[0]) / w.normalizer.std[0]).abs() < 1e-6);
}

#[test]
fn horizon_below_two_and_short_episodes() {
    let traj = Trajectories::from_dataset(&toy(true), &EpisodeOptions::default()).unwrap();
    let err = WindowSet::build(
        &traj,
        &WindowOptions {
            horizon: 1,
            ..Default::default()
        },
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid option `horizon`: is 1, expected T >= 2 (T − 1 transitions + a next-state row)"
    );
    // T = 4 (3 transitions): only E0 (4) and E1 (3) are long enough: 2 + 1 windows.
    let w = WindowSet::build(
        &traj,
        &WindowOptions {
            horizon: 4,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(w.starts, vec![0, 1, 4]);
    assert_eq!(w.episode_windows, vec![2, 1, 0]);
}

#[test]
fn dense_weights_match_hand_computation() {
    // y = [0, 0, 0, 1], N_B = 2: edges 0, 0.5, 1; p = [0.75, 0.25];
    // s = softmax(0.5/5, 1/5) = [0.475021, 0.524979]; q = s p / (p + 1e-3) = [0.474389, 0.522887];
    // normalized q = [0.475685, 0.524315]; w = q / p = [0.634245, 2.097263].
    let cfg = DenseReweighting {
        n_bins: 2,
        ..Default::default()
    };
    let w = dense_weights(&[0.0, 0.0, 0.0, 1.0], &cfg);
    for (got, want) in w.iter().zip([0.6342453, 0.6342453, 0.6342453, 2.0972626]) {
        assert!((got - want).abs() < 1e-6, "{w:?}");
    }
    // One outlier among 100: its bin's weight q1/p1 ≈ 71 is clipped to 5; the others get 0.290789.
    let mut y = vec![0.0f32; 99];
    y.push(10.0);
    let w = dense_weights(&y, &cfg);
    assert_eq!(w[99], 5.0);
    assert!((w[0] - 0.2907885).abs() < 1e-6, "{}", w[0]);
}

#[test]
fn sparse_weights_and_the_reference_bug() {
    let cfg = SparseReweighting {
        lambda: 10.0,
        sparse_weight_bug: false,
    };
    // Scores 0 (failure), 1.75 (success), 0 but no windows.
    assert_eq!(
        sparse_episode_weights(&[0.0, 1.75, 0.0], &[3, 2, 0], &cfg),
        vec![1.0, 10.0, 0.0]
    );
    let bug = SparseReweighting {
        sparse_weight_bug: true,
        ..cfg
    };
    assert_eq!(
        sparse_episode_weights(&[0.0, 1.75, 0.0], &[3, 2, 0], &bug),
        vec![10.0, 10.0, 0.0]
    );
}

#[test]
fn uniform_passes_are_seeded_permutations() {
    let w = toy_windows();
    let mut a = WindowSampler::new(&w, &Reweighting::None, 7).unwrap();
    let mut b = WindowSampler::new(&w, &Reweighting::None, 7).unwrap();
    let (p1, p2) = (a.next_pass(), a.next_pass());
    assert_eq!(p1, b.next_pass(), "same seed, same pass");
    for p in [&p1, &p2] {
        let mut s = p.clone();
        s.sort();
        assert_eq!(s, vec![0, 1, 2, 3, 4, 5], "a pass visits every window once");
    }
}

#[test]
fn weighted_samplers_follow_their_weights() {
    let w = toy_windows();
    // Dense: frequencies ≈ w_j / Σw over 20k passes of 6 draws.
    let cfg = DenseReweighting {
        n_bins: 3,
        ..Default::default()
    };
    let weights = dense_weights(&w.cond, &cfg);
    let total: f64 = weights.iter().sum();
    let mut s = WindowSampler::new(&w, &Reweighting::Dense(cfg), 1).unwrap();
    let mut counts = [0usize; 6];
    for _ in 0..20_000 {
        let pass = s.next_pass();
        assert_eq!(pass.len(), 6);
        pass.iter().for_each(|&j| counts[j as usize] += 1);
    }
    for j in 0..6 {
        let f = counts[j] as f64 / 120_000.0;
        assert!(
            (f - weights[j] / total).abs() < 0.01,
            "window {j}: {f} vs {}",
            weights[j] / total
        );
    }
    // Sparse: all toy episodes score > 0 -> weights λ each, so episodes are uniform (1/3 each) and
    // windows uniform inside: E0's 3 windows 1/9 each, E1's 1/6 each, E2's one window 1/3.
    let mut s =
        WindowSampler::new(&w, &Reweighting::Sparse(SparseReweighting::default()), 2).unwrap();
    let mut counts = [0usize; 6];
    for _ in 0..20_000 {
        let pass = s.next_pass();
        assert_eq!(pass.len(), 3, "one draw per episode with windows");
        pass.iter().for_each(|&j| counts[j as usize] += 1);
    }
    let want = [1. / 9., 1. / 9., 1. / 9., 1. / 6., 1. / 6., 1. / 3.];
    for j in 0..6 {
        let f = counts[j] as f64 / 60_000.0;
        assert!((f - want[j]).abs() < 0.01, "window {j}: {f} vs {}", want[j]);
    }
}

#[test]
fn door_human_windows_with_terminal_split() {
    let d = gta_data::read(common::DOOR, &Default::default()).unwrap();
    let opts = EpisodeOptions {
        split: SplitRule::Terminals,
        keep_partial: false,
    };
    let traj = Trajectories::from_dataset(&d, &opts).unwrap();
    // 25 demos, each loses its last row (no next_observations): 6729 - 25 transitions.
    assert_eq!(traj.episodes.len(), 25);
    assert_eq!(traj.len(), 6729 - 25);
    let w = WindowSet::build(
        &traj,
        &WindowOptions {
            terminal_penalty: false,
            ..Default::default()
        },
    )
    .unwrap();
    // Each demo of n rows has n - 1 transitions and n - 1 - 31 + 1 = n - 31 windows: 6729 - 25 * 31.
    assert_eq!(w.len(), 6729 - 25 * 31);
    assert_eq!(w.row_dim(), 68);
    let info = gta_data::DatasetInfo::from_dataset(&d, &opts).unwrap();
    assert_eq!(
        (
            info.transitions,
            info.episodes,
            info.terminals,
            info.timeouts
        ),
        (6729, 25, 25, 25)
    );
    // Demo returns 230.2 .. 1496.2, mean 795.7 (envs-and-data.md §8).
    assert!(
        (info.return_mean - 795.7).abs() < 0.05,
        "{}",
        info.return_mean
    );
    assert!((info.return_min - 230.2).abs() < 0.05 && (info.return_max - 1496.2).abs() < 0.05);
    assert!(info.problems.is_empty(), "{:?}", info.problems);
}

#[test]
fn info_lists_stray_terminals_and_next_observation_mismatches() {
    // Split on timeouts only: the terminals at rows 3 and 8 end no episode (episode 0..7 ends at 6).
    let opts = EpisodeOptions {
        split: SplitRule::Timeouts,
        keep_partial: false,
    };
    let info = gta_data::DatasetInfo::from_dataset(&toy(false), &opts).unwrap();
    assert_eq!(
        info.problems,
        vec!["terminal not at an episode end: 2 rows (3, 8)".to_string()]
    );
    assert_eq!((info.episodes, info.trailing_rows), (1, 3));
    // The synthetic dataset breaks next_obs[5] == obs[6] inside the episode 4..8.
    let info =
        gta_data::DatasetInfo::from_dataset(&common::synthetic(true), &EpisodeOptions::default())
            .unwrap();
    assert_eq!(
        info.problems,
        vec!["next_observations[i] != observations[i+1] inside an episode: 1 rows (5)".to_string()]
    );
    // Returns of the three complete episodes (rewards 0.5 i - 1): rows 0..4 -> -1, 4..8 -> 7, 8..11 -> 10.5.
    assert_eq!((info.return_min, info.return_max), (-1.0, 10.5));
    assert!((info.return_mean - 16.5 / 3.0).abs() < 1e-12);
}
