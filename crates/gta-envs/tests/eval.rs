//! Parallel seeded evaluation: per-episode results depend only on the seed, scores follow §3.

use gta_envs::{RandomPolicy, ZeroPolicy, d4rl_score, evaluate, evaluate_seeds, mean_std};

#[test]
fn episodes_depend_only_on_their_seed() {
    let policy = RandomPolicy { act_dim: 3 };
    let all = evaluate("hopper-medium-v2", &policy, 5, 100).unwrap();
    assert_eq!(all.seeds, vec![100, 101, 102, 103, 104]);
    let one = evaluate_seeds("hopper", &policy, &[102]).unwrap();
    assert_eq!(one.returns[0], all.returns[2]);
    assert_eq!(one.lengths[0], all.lengths[2]);
    // Different seeds give different episodes.
    assert_ne!(all.returns[0], all.returns[1]);
}

#[test]
fn summary_and_scores_are_consistent() {
    let result = evaluate("walker2d", &ZeroPolicy { act_dim: 6 }, 4, 0).unwrap();
    assert_eq!(result.returns.len(), 4);
    assert!(result.lengths.iter().all(|&l| (1..=1000).contains(&l)));
    let (mean, std) = mean_std(&result.returns);
    assert_eq!((result.return_mean, result.return_std), (mean, std));
    for (r, s) in result.returns.iter().zip(&result.normalized_scores) {
        assert!((d4rl_score("walker2d-medium-v2", *r).unwrap() - s).abs() < 1e-12);
    }
    // Population std of [1, 3] is 1.
    assert_eq!(mean_std(&[1.0, 3.0]), (2.0, 1.0));
}

#[test]
fn maze2d_episodes_run_to_the_time_limit() {
    let result = evaluate("maze2d-umaze-v1", &ZeroPolicy { act_dim: 2 }, 3, 0).unwrap();
    assert_eq!(result.lengths, vec![300, 300, 300]);
    // Sparse rewards: each return counts steps within 0.5 of the goal.
    assert!(
        result
            .returns
            .iter()
            .all(|&r| (0.0..=300.0).contains(&r) && r.fract() == 0.0)
    );
}

#[test]
fn bad_requests_are_errors() {
    assert!(evaluate("hopper", &ZeroPolicy { act_dim: 3 }, 0, 0).is_err());
    assert!(evaluate("nope", &ZeroPolicy { act_dim: 3 }, 1, 0).is_err());
    let err = evaluate("hopper", &ZeroPolicy { act_dim: 2 }, 1, 0)
        .unwrap_err()
        .to_string();
    assert!(err.contains("policy output"), "{err}");
}
