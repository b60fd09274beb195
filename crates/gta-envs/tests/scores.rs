//! D4RL normalized scores (envs-and-data.md §3) against hand-computed values, one dataset per
//! family, plus the published mean scores of §4.2 and §8.

use gta_envs::{EnvId, d4rl_score, ref_scores};

fn close(got: f64, want: f64, tol: f64) {
    assert!((got - want).abs() < tol, "got {got}, expected {want}");
}

#[test]
fn locomotion_scores_match_published_means() {
    // §4.2: mean return (normalized) of the v2 datasets from a public conversion log.
    close(d4rl_score("hopper-medium-v2", 1422.1).unwrap(), 44.3, 0.05);
    close(
        d4rl_score("halfcheetah-medium-v2", 4770.3).unwrap(),
        40.7,
        0.05,
    );
    close(
        d4rl_score("walker2d-medium-v2", 2852.1).unwrap(),
        62.1,
        0.05,
    );
    close(
        d4rl_score("walker2d-expert-v2", 4920.5).unwrap(),
        107.1,
        0.05,
    );
    // Hand-computed: 100 (1422.1 + 20.272305) / (3234.3 + 20.272305).
    close(
        d4rl_score("hopper-medium-replay-v2", 1422.1).unwrap(),
        44.31833647647289,
        1e-9,
    );
    close(d4rl_score("hopper", -20.272305).unwrap(), 0.0, 1e-12);
    close(d4rl_score("Hopper-v4", 3234.3).unwrap(), 100.0, 1e-12);
}

#[test]
fn ant_score() {
    // 100 (1000 + 325.6) / (3879.7 + 325.6)
    close(
        d4rl_score("ant-medium-v2", 1000.0).unwrap(),
        31.522126839940075,
        1e-9,
    );
}

#[test]
fn maze2d_scores() {
    // 100 (100 − 13.13) / (277.39 − 13.13)
    close(
        d4rl_score("maze2d-medium-v1", 100.0).unwrap(),
        32.87292817679558,
        1e-9,
    );
    close(d4rl_score("maze2d-umaze-v1", 161.86).unwrap(), 100.0, 1e-9);
    close(d4rl_score("maze2d-large", 6.7).unwrap(), 0.0, 1e-12);
    // Dense: 100 (150 − 68.537689) / (193.66285642381482 − 68.537689)
    close(
        d4rl_score("maze2d-umaze-dense-v1", 150.0).unwrap(),
        65.10465694249729,
        1e-9,
    );
}

#[test]
fn antmaze_adroit_kitchen_scores() {
    close(d4rl_score("antmaze-umaze-v2", 1.0).unwrap(), 100.0, 1e-12);
    close(
        d4rl_score("antmaze-large-diverse-v0", 0.5).unwrap(),
        50.0,
        1e-12,
    );
    // §8: the door-human demos' mean return 795.7 is "about 29.0".
    close(
        d4rl_score("door-human-v0", 795.7).unwrap(),
        29.015628160064544,
        1e-9,
    );
    close(d4rl_score("door-human-v0", 795.7).unwrap(), 29.0, 0.05);
    close(d4rl_score("pen-cloned-v1", 96.262799).unwrap(), 0.0, 1e-9);
    close(
        d4rl_score("hammer-expert-v0", 12794.134825156867).unwrap(),
        100.0,
        1e-9,
    );
    close(
        d4rl_score("relocate-human-v0", -6.425911).unwrap(),
        0.0,
        1e-9,
    );
    close(d4rl_score("kitchen-mixed-v0", 2.0).unwrap(), 50.0, 1e-12);
}

#[test]
fn unknown_ids_are_rejected_with_the_table() {
    let err = ref_scores("cartpole-v1").unwrap_err().to_string();
    assert!(
        err.contains("cartpole-v1") && err.contains("maze2d"),
        "{err}"
    );
    assert!(ref_scores("maze2d-open-v0").is_err());
}

#[test]
fn env_names_and_dataset_ids_parse() {
    for (name, id) in [
        ("hopper", EnvId::Hopper),
        ("Hopper-v4", EnvId::Hopper),
        ("hopper-medium-replay-v2", EnvId::Hopper),
        ("half_cheetah", EnvId::HalfCheetah),
        ("halfcheetah-medium-expert-v2", EnvId::HalfCheetah),
        ("walker2d-random-v2", EnvId::Walker2d),
        ("ant-expert-v2", EnvId::Ant),
        ("maze2d-umaze-v1", EnvId::Maze2dUmaze),
        ("maze2d-large-dense-v1", EnvId::Maze2dLargeDense),
        ("maze2d-medium", EnvId::Maze2dMedium),
    ] {
        assert_eq!(EnvId::parse(name).unwrap(), id, "{name}");
    }
    for bad in [
        "antmaze-umaze-v0",
        "hopper-foo-v2",
        "cheetah",
        "maze2d-open-v0",
        "",
    ] {
        let err = EnvId::parse(bad).unwrap_err().to_string();
        assert!(err.contains("hopper-medium-v2"), "{bad}: {err}");
    }
}

#[test]
fn every_spec_has_its_score_row() {
    for id in EnvId::ALL {
        let spec = id.spec();
        assert_eq!(
            spec.ref_scores,
            ref_scores(&spec.datasets[0]).unwrap(),
            "{}",
            spec.name
        );
    }
}
