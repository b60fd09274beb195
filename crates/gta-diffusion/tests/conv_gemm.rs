//! The im2col + matmul convolutions of `conv_gemm` against burn's own `conv2d` /
//! `conv_transpose2d`: forward values and the gradients w.r.t. input, weight and bias (autodiff
//! through both), for MixerUnet's three configurations and a few more general ones. The whole
//! MixerUnet along both paths is `conv_gemm_network.rs`.

mod common;

use burn::module::Param;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig, ConvTranspose2d, ConvTranspose2dConfig};
use burn::tensor::{Device, Distribution, Tensor};
use common::{check, values};
use gta_diffusion::conv_gemm::{conv_transpose2d_gemm, conv2d_gemm};

const FWD_TOL: f64 = 1e-5;
const GRAD_TOL: f64 = 1e-4;

fn randomize_bias(bias: &mut Option<Param<Tensor<1>>>, device: &Device) {
    let n = bias.as_ref().unwrap().dims()[0];
    *bias = Some(Param::from_tensor(Tensor::random(
        [n],
        Distribution::Normal(0.0, 1.0),
        device,
    )));
}

/// Forward and gradients of `gemm` vs `direct` (both reading the module's own weight and bias
/// leaves) on random x of `x_shape`; loss Σ y·r with random r.
fn compare(
    name: &str,
    x_shape: [usize; 4],
    weight: &Param<Tensor<4>>,
    bias: &Param<Tensor<1>>,
    direct: impl Fn(Tensor<4>) -> Tensor<4>,
    gemm: impl Fn(Tensor<4>) -> Tensor<4>,
) {
    let device = weight.device();
    let x0 = Tensor::<4>::random(x_shape, Distribution::Normal(0.0, 1.0), &device);
    let xd = x0.clone().require_grad();
    let xg = x0.require_grad();
    let yd = direct(xd.clone());
    let yg = gemm(xg.clone());
    assert_eq!(yd.dims(), yg.dims(), "{name}: output shape");
    let r = Tensor::<4>::random(yd.dims(), Distribution::Normal(0.0, 1.0), &device);
    let gd = (yd.clone() * r.clone()).sum().backward();
    let gg = (yg.clone() * r).sum().backward();
    check(&format!("{name} forward"), values(yg), values(yd), FWD_TOL);
    check(
        &format!("{name} d/dx"),
        values(xg.grad(&gg).unwrap()),
        values(xd.grad(&gd).unwrap()),
        GRAD_TOL,
    );
    check(
        &format!("{name} d/dweight"),
        values(weight.val().grad(&gg).unwrap()),
        values(weight.val().grad(&gd).unwrap()),
        GRAD_TOL,
    );
    check(
        &format!("{name} d/dbias"),
        values(bias.val().grad(&gg).unwrap()),
        values(bias.val().grad(&gd).unwrap()),
        GRAD_TOL,
    );
}

fn check_conv2d(name: &str, mut conv: Conv2d, x_shape: [usize; 4], padding: [(usize, usize); 2]) {
    let device = conv.weight.device();
    randomize_bias(&mut conv.bias, &device);
    let bias = conv.bias.clone().unwrap();
    let gemm = |x| conv2d_gemm(x, conv.weight.val(), Some(bias.val()), conv.stride, padding);
    compare(
        name,
        x_shape,
        &conv.weight,
        &bias,
        |x| conv.forward(x),
        gemm,
    );
}

fn check_conv_t(name: &str, mut conv: ConvTranspose2d, x_shape: [usize; 4]) {
    let device = conv.weight.device();
    randomize_bias(&mut conv.bias, &device);
    let bias = conv.bias.clone().unwrap();
    let gemm = |x| {
        conv_transpose2d_gemm(
            x,
            conv.weight.val(),
            Some(bias.val()),
            conv.stride,
            conv.padding,
        )
    };
    compare(
        name,
        x_shape,
        &conv.weight,
        &bias,
        |x| conv.forward(x),
        gemm,
    );
}

fn device(seed: u64) -> Device {
    let device = Device::flex().autodiff();
    device.seed(seed);
    device
}

/// MixerUnet's downsample: 3×3, stride (2, 1), padding 1 (C → C; also C_in ≠ C_out).
#[test]
fn downsample_conv_matches_burn() {
    for (seed, (c_in, c_out)) in [(4usize, 4usize), (8, 8), (4, 6)].into_iter().enumerate() {
        let device = device(10 + seed as u64);
        let conv = Conv2dConfig::new([c_in, c_out], [3, 3])
            .with_stride([2, 1])
            .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
            .init(&device);
        check_conv2d(
            &format!("downsample {c_in}->{c_out}"),
            conv,
            [2, c_in, 8, 5],
            [(1, 1), (1, 1)],
        );
    }
}

/// MixerUnet's final_conv: 3×3, stride 1, padding 1.
#[test]
fn final_conv_matches_burn() {
    for (seed, (c_in, c_out)) in [(4usize, 4usize), (8, 8), (8, 3)].into_iter().enumerate() {
        let device = device(20 + seed as u64);
        let conv = Conv2dConfig::new([c_in, c_out], [3, 3])
            .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
            .init(&device);
        check_conv2d(
            &format!("final_conv {c_in}->{c_out}"),
            conv,
            [2, c_in, 8, 5],
            [(1, 1), (1, 1)],
        );
    }
}

/// MixerUnet's upsample: ConvTranspose2d kernel (4, 3), stride (2, 1), padding (1, 1).
#[test]
fn upsample_conv_transpose_matches_burn() {
    for (seed, (c_in, c_out, h)) in [(4usize, 4usize, 8usize), (8, 8, 4), (4, 6, 8)]
        .into_iter()
        .enumerate()
    {
        let device = device(30 + seed as u64);
        let conv = ConvTranspose2dConfig::new([c_in, c_out], [4, 3])
            .with_stride([2, 1])
            .with_padding([1, 1])
            .init(&device);
        check_conv_t(
            &format!("upsample {c_in}->{c_out} h={h}"),
            conv,
            [2, c_in, h, 5],
        );
    }
}

/// Other strides, kernels and (asymmetric) paddings, so the general index arithmetic is covered.
#[test]
fn general_configurations_match_burn() {
    let device = device(40);
    let conv = Conv2dConfig::new([3, 5], [3, 2])
        .with_stride([2, 3])
        .with_padding(PaddingConfig2d::Explicit(1, 0, 2, 1))
        .init(&device);
    check_conv2d(
        "conv 3x2 s(2,3) p(1,0,2,1)",
        conv,
        [2, 3, 9, 7],
        [(1, 2), (0, 1)],
    );
    let conv = Conv2dConfig::new([3, 4], [2, 2])
        .with_padding(PaddingConfig2d::Valid)
        .init(&device);
    check_conv2d("conv 2x2 valid", conv, [2, 3, 5, 4], [(0, 0), (0, 0)]);
    let conv = ConvTranspose2dConfig::new([3, 5], [4, 4])
        .with_stride([2, 2])
        .with_padding([1, 1])
        .init(&device);
    check_conv_t("conv_t 4x4 s2 p1", conv, [2, 3, 4, 3]);
    let conv = ConvTranspose2dConfig::new([3, 2], [3, 5])
        .with_stride([3, 1])
        .with_padding([0, 2])
        .init(&device);
    check_conv_t("conv_t 3x5 s(3,1) p(0,2)", conv, [2, 3, 3, 6]);
}
