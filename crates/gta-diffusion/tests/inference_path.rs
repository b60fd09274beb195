//! The sampler's forward (no autodiff: MixerBlocks through the fused `mixer_tail` op) against the
//! training forward (autodiff: the differentiable composite), same weights and inputs.

mod common;

use burn::module::Module;
use burn::tensor::{Device, Distribution, Tensor};
use common::{check, values};
use gta_diffusion::MixerUnetConfig;

/// Both block kinds (C ≠ C_o with 1×1 convs, C = C_o with the fused residual), with and without
/// down-sampling, conditional and unconditional.
#[test]
fn inference_forward_matches_training_forward() {
    let device = Device::flex();
    device.seed(7);
    for (horizon, width) in [(8usize, 5usize), (5, 4)] {
        let config = MixerUnetConfig {
            dim: 8,
            horizon,
            transition_dim: width,
            ..MixerUnetConfig::default()
        };
        let net = config.init(&device);
        let b = 3;
        let x = Tensor::<3>::random([b, horizon, width], Distribution::Normal(0.0, 1.0), &device);
        let c_noise = Tensor::<2>::random([b, 1], Distribution::Normal(0.0, 1.0), &device);
        let cond = Tensor::<2>::random([b, 1], Distribution::Normal(0.0, 1.0), &device);
        for cond in [Some(cond), None] {
            let fused = net.forward(x.clone(), c_noise.clone(), cond.clone(), None);
            let ad = device.clone().autodiff();
            let training = net.clone().to_device(&ad).train().forward(
                x.clone().autodiff(),
                c_noise.clone().autodiff(),
                cond.clone().map(|c| c.autodiff()),
                None,
            );
            assert!(training.is_autodiff() && !fused.is_autodiff());
            let tag = format!("T {horizon}, D {width}, cond {}", cond.is_some());
            check(&tag, values(fused), values(training.inner()), 1e-4);
        }
    }
}
