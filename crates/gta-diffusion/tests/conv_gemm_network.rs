//! The whole MixerUnet along both convolution paths (im2col GEMMs and burn's direct kernels):
//! forward values and gradients. Alone in this binary so that its seeded draws are the same on
//! every run.

mod common;

use burn::module::Param;
use burn::tensor::{Device, Distribution, Tensor};
use common::{check, values};
use gta_diffusion::MixerUnetConfig;
use gta_diffusion::mixer_unet::ConvPath;

/// Whole-network tolerances. Alone in its test binary, the test draws the same network and inputs
/// on every run (d/dx error 3.8e-4 with seed 50). Beside the other conv tests, which share the CPU
/// device's random stream, the draws differed from run to run: over 10 runs the forward error
/// ranged 1.5e-6–3.7e-5 and the d/dx error 6.7e-5–2.1e-3, and one CI run reached 1.4e-2 (a deep
/// network amplifies float-order noise, see below). A wrong convolution gives errors of order
/// 1e-1–1, so these bounds still catch one.
const NET_FWD_TOL: f64 = 2e-4;
/// See [`NET_FWD_TOL`].
const NET_GRAD_TOL: f64 = 1e-2;

/// The whole MixerUnet (tiny, with down/up-sampling) along both paths: same output and the same
/// gradients of the convolution parameters and the input.
///
/// The gradients of the whole network are ill-conditioned in f32 at this initialisation: on the
/// direct path alone, multiplying x by (1 + 1e-7·N(0, 1)) moves d/dx and the first-layer weight
/// gradient by ~1.6e-4 relative (measured). Each convolution's own gradients agree to ~1e-7
/// (`conv_gemm.rs`); the whole-network gradients are therefore compared at `NET_GRAD_TOL`.
#[test]
fn mixer_unet_gemm_path_matches_direct_path() {
    let device = Device::flex().autodiff();
    device.seed(50);
    let config = MixerUnetConfig {
        dim: 8,
        horizon: 8,
        transition_dim: 5,
        ..MixerUnetConfig::default()
    };
    assert!(config.downsampling());
    let net = config.init(&device);
    let b = 3;
    let x0 = Tensor::<3>::random([b, 8, 5], Distribution::Normal(0.0, 1.0), &device);
    let c_noise = Tensor::<2>::random([b, 1], Distribution::Normal(0.0, 1.0), &device);
    let cond = Tensor::<2>::random([b, 1], Distribution::Normal(0.0, 1.0), &device);
    let r = Tensor::<3>::random([b, 8, 5], Distribution::Normal(0.0, 1.0), &device);
    let run = |path| {
        let x = x0.clone().require_grad();
        let y = net.forward_with(x.clone(), c_noise.clone(), Some(cond.clone()), None, path);
        let grads = (y.clone() * r.clone()).sum().backward();
        (x, y, grads)
    };
    let (xd, yd, gd) = run(ConvPath::Direct);
    let (xg, yg, gg) = run(ConvPath::Gemm);
    check("mixer_unet forward", values(yg), values(yd), NET_FWD_TOL);
    check(
        "mixer_unet d/dx",
        values(xg.grad(&gg).unwrap()),
        values(xd.grad(&gd).unwrap()),
        NET_GRAD_TOL,
    );
    let w4 = |p: &Param<Tensor<4>>, name: &str| {
        check(
            name,
            values(p.val().grad(&gg).unwrap()),
            values(p.val().grad(&gd).unwrap()),
            NET_GRAD_TOL,
        );
    };
    let down = net.downs[0].downsample.as_ref().unwrap();
    w4(&down.weight, "mixer_unet d/d downs.0.downsample.weight");
    let up = net.ups[0].upsample.as_ref().unwrap();
    w4(&up.weight, "mixer_unet d/d ups.0.upsample.weight");
    w4(&net.final_conv.weight, "mixer_unet d/d final_conv.weight");
    // GroupNorm follows final_conv, so its bias gradient is zero up to roundoff on both paths.
    let fb = net.final_conv.bias.as_ref().unwrap().val();
    for (path, g) in [("gemm", &gg), ("direct", &gd)] {
        let v = values(fb.grad(g).unwrap());
        let m = v.iter().fold(0f32, |m, x| m.max(x.abs()));
        println!("mixer_unet d/d final_conv.bias ({path}): max abs {m:.3e}");
        assert!(m < 1e-4, "final_conv.bias gradient ({path}) {m:e}");
    }
    // A parameter upstream of every convolution.
    let t1 = net.downs[0].block1.time_fc1.weight.val();
    check(
        "mixer_unet d/d downs.0.block1.time_fc1.weight",
        values(t1.grad(&gg).unwrap()),
        values(t1.grad(&gd).unwrap()),
        NET_GRAD_TOL,
    );
}
