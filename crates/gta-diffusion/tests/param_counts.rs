//! Trainable-parameter counts against method.md §3.5 and §8.1.

use burn::tensor::Device;
use gta_diffusion::{MixerUnetConfig, ResMlpConfig};

fn mixer_params(d: usize, t: usize) -> usize {
    let cfg = MixerUnetConfig {
        horizon: t,
        transition_dim: d,
        ..MixerUnetConfig::default()
    };
    cfg.init(&Device::flex()).num_trainable_params()
}

#[test]
fn mixer_unet_counts_match_method_table_for_every_d() {
    // method.md §3.5, T = 32.
    for (d, want) in [
        (24, 29_628_949),
        (15, 18_704_002),
        (7, 8_992_938),
        (38, 46_623_311),
        (68, 83_039_801),
        (70, 85_467_567),
    ] {
        assert_eq!(mixer_params(d, 32), want, "D = {d}");
    }
}

#[test]
fn mixer_unet_counts_match_method_table_for_every_t() {
    // method.md §3.5, D = 24; 2, 17 and 65 have no down-sampling.
    for (t, want) in [
        (2, 29_487_885),
        (16, 29_607_761),
        (17, 29_526_045),
        (32, 29_628_949),
        (64, 29_712_413),
        (65, 30_035_229),
        (128, 30_043_693),
    ] {
        assert_eq!(mixer_params(24, t), want, "T = {t}");
    }
}

#[test]
fn tiny_fixture_model_count_matches_readme() {
    // ../shared/fixtures/official/README.md: dim 8, T 8, D 5 has 1,704,358 trainable parameters.
    let cfg = MixerUnetConfig {
        dim: 8,
        horizon: 8,
        transition_dim: 5,
        ..MixerUnetConfig::default()
    };
    assert_eq!(cfg.init(&Device::flex()).num_trainable_params(), 1_704_358);
}

#[test]
fn synther_residual_mlp_counts_match_method() {
    // method.md §8.1: D = 42 (halfcheetah/walker2d) and D = 27 (hopper).
    for (d, want) in [(42, 25_552_682), (27, 25_520_027)] {
        let cfg = ResMlpConfig {
            transition_dim: d,
            ..ResMlpConfig::default()
        };
        assert_eq!(
            cfg.init(&Device::flex()).num_trainable_params(),
            want,
            "D = {d}"
        );
    }
}
