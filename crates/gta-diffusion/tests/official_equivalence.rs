//! Number-for-number equivalence with the official PyTorch MixerUnet and EDM preconditioning:
//! the weights of `official_tiny.npz` loaded by name reproduce the outputs stored in
//! `official_tiny_io.npz` within 1e-4 relative (fixtures README) on the CPU backend.

mod common;

use std::collections::BTreeMap;

use burn::tensor::{Device, Tensor, TensorData};
use common::{fixture, read_npz, rel_err};
use gta_diffusion::denoiser::Denoiser;
use gta_diffusion::edm::denoise;
use gta_diffusion::official::{OfficialWeights, load_mixer_unet};
use gta_diffusion::{DiffusionError, MixerUnetConfig};

fn tiny_config() -> MixerUnetConfig {
    MixerUnetConfig {
        dim: 8,
        horizon: 8,
        transition_dim: 5,
        ..MixerUnetConfig::default()
    }
}

fn weights() -> OfficialWeights {
    read_npz(&fixture("official_tiny.npz"))
        .into_iter()
        .map(|(n, s, v)| (n, (s, v)))
        .collect()
}

fn io() -> BTreeMap<String, (Vec<usize>, Vec<f32>)> {
    read_npz(&fixture("official_tiny_io.npz"))
        .into_iter()
        .map(|(n, s, v)| (n, (s, v)))
        .collect()
}

fn tensor<const D: usize>(
    io: &BTreeMap<String, (Vec<usize>, Vec<f32>)>,
    name: &str,
    device: &Device,
) -> Tensor<D> {
    let (shape, v) = &io[name];
    let shape: [usize; D] = shape.clone().try_into().expect("rank");
    Tensor::from_data(TensorData::new(v.clone(), shape), device)
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().unwrap()
}

#[test]
fn tiny_mixer_unet_reproduces_official_outputs() {
    let device = Device::flex();
    let net = load_mixer_unet(tiny_config().init(&device), &weights(), "model/net.").unwrap();
    let net = Denoiser::MixerUnet(net);
    let io = io();
    let x: Tensor<3> = tensor(&io, "x", &device);
    let sigma: Tensor<1> = tensor(&io, "sigma", &device);
    let c_noise: Tensor<2> = tensor(&io, "c_noise", &device);
    let cond: Tensor<2> = tensor(&io, "cond", &device);

    // c_noise = ¼ ln σ, as the fixture stores it.
    let want_c_noise = &io["c_noise"].1;
    for (s, c) in io["sigma"].1.iter().zip(want_c_noise) {
        assert!(((0.25 * (*s as f64).ln()) as f32 - c).abs() < 1e-6);
    }

    let checks = [
        (
            "net_out_cond",
            net.forward(x.clone(), c_noise.clone(), Some(cond.clone()), None),
        ),
        (
            "net_out_uncond",
            net.forward(x.clone(), c_noise, None, None),
        ),
        (
            "denoised_cond",
            denoise(&net, x.clone(), &sigma, 1.0, Some(cond), None),
        ),
        ("denoised_uncond", denoise(&net, x, &sigma, 1.0, None, None)),
    ];
    for (name, got) in checks {
        let err = rel_err(&values(got), &io[name].1);
        assert!(err < 1e-4, "{name}: relative error {err:.3e}");
    }
}

#[test]
fn missing_or_misshaped_tensor_is_refused_by_name() {
    let device = Device::flex();
    let mut w = weights();
    w.remove("model/net.mid_attn.fn.fn.to_qkv.weight");
    let err = load_mixer_unet(tiny_config().init(&device), &w, "model/net.").unwrap_err();
    assert!(matches!(err, DiffusionError::Import { .. }));
    assert!(
        err.to_string().contains("mid_attn.fn.fn.to_qkv.weight"),
        "{err}"
    );

    let wrong_d = MixerUnetConfig {
        transition_dim: 6,
        ..tiny_config()
    };
    let err = load_mixer_unet(wrong_d.init(&device), &weights(), "model/net.").unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("shape") && msg.contains("downs.0.0"), "{msg}");
}
