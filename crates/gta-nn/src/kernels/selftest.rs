//! `gta gpu selftest`: every fused kernel against burn's composite ops on the same device, with
//! random inputs, forward and gradients. On the CPU both sides run composites (CI exercises the
//! harness); on CUDA this is the check that the hand-written kernels are right on that card.

use burn::module::Param;
use burn::nn::{InstanceNormConfig, LayerNormConfig, Linear, LinearConfig};
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::activation::{gelu, softmax};
use burn::tensor::{Device, Distribution, Tensor};

use super::{
    Im2col, TemporalMlp, axpby, bias_gelu, channel_norm, channel_sum, im2col, lerp, mixer_tail,
    short_layer_norm, softmax_last,
};
use crate::optim::FusedAdam;
use burn::tensor::module::unfold4d;
use burn::tensor::ops::{PadMode, UnfoldOptions};

/// One comparison: the largest absolute difference against its tolerance.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    /// What was compared.
    pub name: String,
    /// max |fused − reference|.
    pub max_abs_err: f64,
    /// The tolerance it must stay within.
    pub tolerance: f64,
}

impl Check {
    /// Within tolerance (and finite).
    pub fn ok(&self) -> bool {
        self.max_abs_err.is_finite() && self.max_abs_err <= self.tolerance
    }
}

fn max_err<const D: usize>(a: Tensor<D>, b: Tensor<D>) -> f64 {
    (a - b).abs().max().into_scalar::<f32>() as f64
}

fn check<const D: usize>(out: &mut Vec<Check>, name: String, a: Tensor<D>, b: Tensor<D>, tol: f64) {
    out.push(Check {
        name,
        max_abs_err: max_err(a, b),
        tolerance: tol,
    });
}

/// LayerNorm over rows of `h` values: fused vs burn's module, output and the three gradients.
fn layer_norm_checks(out: &mut Vec<Check>, device: &Device, rows: usize, h: usize) {
    let ad = device.clone().autodiff();
    let mut ln = LayerNormConfig::new(h).init(&ad);
    ln.gamma = Param::from_tensor(Tensor::random([h], Distribution::Uniform(0.5, 1.5), &ad));
    let beta = Tensor::random([h], Distribution::Normal(0.0, 1.0), &ad);
    ln.beta = Some(Param::from_tensor(beta));
    let x0 = Tensor::<2>::random([rows, h], Distribution::Normal(0.3, 2.0), &ad);
    let w = Tensor::<2>::random([rows, h], Distribution::Normal(0.0, 1.0), &ad);
    let (xr, xf) = (x0.clone().require_grad(), x0.require_grad());
    let yr = ln.forward(xr.clone());
    let gr = (yr.clone() * w.clone()).sum().backward();
    let beta = ln.beta.as_ref().expect("set above").val();
    let yf = short_layer_norm(xf.clone(), ln.gamma.val(), beta.clone(), 1e-5);
    let gf = (yf.clone() * w).sum().backward();
    let tag = format!("layer_norm rows {rows} x {h}");
    check(out, format!("{tag}: y"), yf.inner(), yr.inner(), 1e-4);
    let g = |t: &Tensor<2>, gr| t.grad(gr).expect("x grad");
    check(out, format!("{tag}: dx"), g(&xf, &gf), g(&xr, &gr), 1e-3);
    let gg = ln.gamma.val();
    let (dgf, dgr) = (gg.grad(&gf).expect("dγ"), gg.grad(&gr).expect("dγ"));
    // Column sums over `rows` rows: the tolerance grows with the number of terms.
    let col_tol = 1e-4 * (rows as f64).sqrt().max(1.0);
    check(out, format!("{tag}: dgamma"), dgf, dgr, col_tol);
    let (dbf, dbr) = (beta.grad(&gf).expect("dβ"), beta.grad(&gr).expect("dβ"));
    check(out, format!("{tag}: dbeta"), dbf, dbr, col_tol);
}

/// LayerNorm of a permuted view read in place (the MixerBlock's temporal rows: x (B, C, H, W)
/// viewed (B, C, W, H); its feature rows: the (B, H, C, W) view normalized over C·W), against
/// burn's module on a contiguous copy: output and the gradients of x, γ and β.
fn strided_layer_norm_checks(
    out: &mut Vec<Check>,
    device: &Device,
    dims: [usize; 4],
    feature: bool,
) {
    let ad = device.clone().autodiff();
    let [b, c, h, w] = dims;
    let n = if feature { c * w } else { h };
    let mut ln = LayerNormConfig::new(n).init(&ad);
    ln.gamma = Param::from_tensor(Tensor::random([n], Distribution::Uniform(0.5, 1.5), &ad));
    let beta = Tensor::random([n], Distribution::Normal(0.0, 1.0), &ad);
    ln.beta = Some(Param::from_tensor(beta));
    let x0 = Tensor::<4>::random(dims, Distribution::Normal(0.3, 2.0), &ad);
    let (xr, xf) = (x0.clone().require_grad(), x0.require_grad());
    let view = |x: Tensor<4>| {
        if feature {
            x.swap_dims(1, 2)
        } else {
            x.swap_dims(2, 3)
        }
    };
    let vdims = view(xr.clone()).dims();
    let rows = b * c * h * w / n;
    let yr = ln
        .forward(view(xr.clone()).reshape([rows, n]))
        .reshape(vdims);
    let wgt = Tensor::<4>::random(vdims, Distribution::Normal(0.0, 1.0), &ad);
    let gr = (yr.clone() * wgt.clone()).sum().backward();
    let beta = ln.beta.as_ref().expect("set above").val();
    let yf = short_layer_norm(view(xf.clone()), ln.gamma.val(), beta.clone(), 1e-5);
    let gf = (yf.clone() * wgt).sum().backward();
    let tag = format!(
        "layer_norm of a {} view {dims:?} over {n}",
        if feature { "(B,H,C,W)" } else { "(B,C,W,H)" }
    );
    check(out, format!("{tag}: y"), yf.inner(), yr.inner(), 1e-4);
    let g = |t: &Tensor<4>, gr| t.grad(gr).expect("x grad");
    check(out, format!("{tag}: dx"), g(&xf, &gf), g(&xr, &gr), 1e-3);
    let gg = ln.gamma.val();
    let col_tol = 1e-4 * (rows as f64).sqrt().max(1.0);
    let (dgf, dgr) = (gg.grad(&gf).expect("dγ"), gg.grad(&gr).expect("dγ"));
    check(out, format!("{tag}: dgamma"), dgf, dgr, col_tol);
    let (dbf, dbr) = (beta.grad(&gf).expect("dβ"), beta.grad(&gr).expect("dβ"));
    check(out, format!("{tag}: dbeta"), dbf, dbr, col_tol);
}

/// im2col with zero padding against burn's `unfold4d` of the explicitly padded input: columns
/// and the gradient of x (col2im), at the MixerUnet's convolution geometries.
fn im2col_checks(
    out: &mut Vec<Check>,
    device: &Device,
    dims: [usize; 4],
    kernel: [usize; 2],
    stride: [usize; 2],
    pad: [(usize, usize); 2],
) {
    let ad = device.clone().autodiff();
    let [_, _, h, w] = dims;
    let [(top, bottom), (left, right)] = pad;
    let ho = (h + top + bottom - kernel[0]) / stride[0] + 1;
    let wo = (w + left + right - kernel[1]) / stride[1] + 1;
    let x0 = Tensor::<4>::random(dims, Distribution::Normal(0.0, 1.0), &ad);
    let (xr, xf) = (x0.clone().require_grad(), x0.require_grad());
    let options = UnfoldOptions::new(stride, [0, 0], [1, 1]);
    let cr = unfold4d(xr.clone().pad(pad, PadMode::Constant(0.0)), kernel, options);
    let geometry = Im2col {
        kernel,
        stride,
        pad: [top, left],
        out: [ho, wo],
    };
    let cf = im2col(xf.clone(), geometry);
    let r = Tensor::<3>::random(cr.dims(), Distribution::Normal(0.0, 1.0), &ad);
    let gr = (cr.clone() * r.clone()).sum().backward();
    let gf = (cf.clone() * r).sum().backward();
    let tag = format!("im2col {dims:?} k{kernel:?} s{stride:?} p{pad:?}");
    check(out, format!("{tag}: cols"), cf.inner(), cr.inner(), 0.0);
    let g = |t: &Tensor<4>, g| t.grad(g).expect("x grad");
    check(out, format!("{tag}: dx"), g(&xf, &gf), g(&xr, &gr), 1e-5);
}

/// GELU(x + b): fused vs `gelu(x + b)` forward; gradients vs the exact derivative written
/// with tensor ops.
fn bias_gelu_checks(out: &mut Vec<Check>, device: &Device, rows: usize, n: usize) {
    let ad = device.clone().autodiff();
    let x0 = Tensor::<2>::random([rows, n], Distribution::Normal(0.0, 2.0), &ad);
    let b0 = Tensor::<1>::random([n], Distribution::Normal(0.0, 1.0), &ad);
    let w = Tensor::<2>::random([rows, n], Distribution::Normal(0.0, 1.0), &ad);
    let (x, b) = (x0.clone().require_grad(), b0.clone().require_grad());
    let y = bias_gelu(x.clone(), b.clone());
    let grads = (y.clone() * w.clone()).sum().backward();
    let z = x0.inner() + b0.inner().reshape([1, n]);
    let reference = gelu(z.clone());
    let cdf = (z.clone().mul_scalar(core::f64::consts::FRAC_1_SQRT_2).erf() + 1.0).mul_scalar(0.5);
    let pdf = (z.clone() * z.clone())
        .mul_scalar(-0.5)
        .exp()
        .mul_scalar(0.398_942_280_4);
    let dx_ref = w.inner() * (cdf + z * pdf);
    let tag = format!("bias_gelu rows {rows} x {n}");
    check(out, format!("{tag}: y"), y.inner(), reference, 1e-5);
    let dx = x.grad(&grads).expect("dx");
    check(out, format!("{tag}: dx"), dx, dx_ref.clone(), 1e-5);
    let db = b.grad(&grads).expect("db");
    let col_tol = 1e-5 * (rows as f64).sqrt().max(1.0) * 10.0;
    check(
        out,
        format!("{tag}: db"),
        db,
        dx_ref.sum_dim(0).reshape([n]),
        col_tol,
    );
}

/// Three Adam steps on a random linear layer: FusedAdam vs burn's Adam.
fn adam_checks(out: &mut Vec<Check>, device: &Device) {
    let ad = device.clone().autodiff();
    ad.seed(11);
    let init: Linear = LinearConfig::new(300, 257).init(&ad);
    let (mut a, mut b) = (init.clone(), init);
    let mut burn_adam: ModuleOptimizer = AdamConfig::new().with_epsilon(1e-8).init();
    let mut fused = ModuleOptimizer::from(FusedAdam {
        beta_1: 0.9,
        beta_2: 0.999,
        epsilon: 1e-8,
        access: None,
    });
    for _ in 0..3 {
        let x = Tensor::<2>::random([64, 300], Distribution::Normal(0.0, 1.0), &ad);
        let ga = a.forward(x.clone()).powi_scalar(2).mean().backward();
        let ga = GradientsParams::from_grads(ga, &a);
        a = burn_adam.step(1e-3, a, ga);
        let gb = b.forward(x).powi_scalar(2).mean().backward();
        let gb = GradientsParams::from_grads(gb, &b);
        b = fused.step(1e-3, b, gb);
    }
    // The flat clipped step of a captured training step (in place on CUDA) against the
    // per-tensor kernel on the clipped gradient.
    let n = 100_003;
    let r = |std: f64| Tensor::<1>::random([n], Distribution::Normal(0.0, std), device);
    let (p, g, m) = (r(1.0), r(0.1), r(0.01));
    let v = r(0.001).abs();
    let s = crate::kernels::AdamScalars::new(0.9, 0.99, 1e-8, 7, 3e-4);
    let (want, _, _) = crate::kernels::adam_update(
        p.clone().mul_scalar(1.0),
        g.clone().mul_scalar(0.37),
        m.clone().mul_scalar(1.0),
        v.clone().mul_scalar(1.0),
        s,
    );
    let scalars = Tensor::<1>::from_floats([s.lr as f32, s.combined_factor, s.eps_hat], device);
    let coef = Tensor::<1>::from_floats([0.37], device);
    let (got, _, _) = crate::kernels::adam_flat(p, g, m, v, coef, scalars, 0.9, 0.99);
    check(
        out,
        "adam flat, clipped, device scalars".into(),
        got,
        want,
        1e-7,
    );
    check(
        out,
        "adam 3 steps: weight".into(),
        b.weight.val().inner(),
        a.weight.val().inner(),
        1e-6,
    );
    let (bb, ab) = (b.bias.expect("bias").val(), a.bias.expect("bias").val());
    check(
        out,
        "adam 3 steps: bias".into(),
        bb.inner(),
        ab.inner(),
        1e-6,
    );
}

/// A parameter-shaped view of a flat buffer (size not a multiple of 128) shares the buffer: a
/// write into the flat buffer shows through it (the captured training step relies on this).
fn flat_view_checks(out: &mut Vec<Check>, device: &Device) {
    if *device == Device::flex() {
        return; // the CPU backend's copy_into returns new values instead of writing in place
    }
    let flat = Tensor::<1>::random([1024], Distribution::Normal(0.0, 1.0), device);
    let view: Tensor<2> = crate::kernels::flat_view(&flat, 256, [7, 13].into());
    let fresh = Tensor::<1>::random([1024], Distribution::Normal(0.0, 1.0), device);
    let want = fresh.clone().slice(256..256 + 91).reshape([7, 13]);
    crate::kernels::copy_into(flat.clone(), fresh);
    check(
        out,
        "flat view follows in-place writes".into(),
        view,
        want,
        0.0,
    );
}

fn blend_checks(out: &mut Vec<Check>, device: &Device) {
    let x = Tensor::<2>::random([333, 77], Distribution::Normal(0.0, 1.0), device);
    let y = Tensor::<2>::random([333, 77], Distribution::Normal(0.0, 1.0), device);
    let reference = x.clone().mul_scalar(0.995) + y.clone().mul_scalar(0.005);
    check(
        out,
        "axpby".into(),
        axpby(x.clone(), y.clone(), 0.995, 0.005),
        reference,
        1e-6,
    );
    let reference = x.clone() + (y.clone() - x.clone()).mul_scalar(0.25);
    check(out, "lerp".into(), lerp(x, y, 0.25), reference, 1e-6);
}

/// `a · b` on the device against an f64 product of the same numbers on the host. On CUDA the
/// device product is cuBLAS' (when it loaded) or CubeCL's; the views cover the layouts a network
/// produces: plain, transposed operands (a Linear layer's backward), a column slice (padded rows),
/// a weight broadcast over a batch and two batched operands.
fn matmul_checks(out: &mut Vec<Check>, device: &Device) {
    fn host<const D: usize>(t: &Tensor<D>) -> (Vec<usize>, Vec<f64>) {
        let dims = t.dims().to_vec();
        let v: Vec<f32> = t
            .clone()
            .into_data()
            .convert::<f32>()
            .try_to_vec()
            .expect("f32 data");
        (dims, v.into_iter().map(f64::from).collect())
    }
    fn check_product<const D: usize>(out: &mut Vec<Check>, name: &str, a: Tensor<D>, b: Tensor<D>) {
        let got = host(&a.clone().matmul(b.clone()));
        let ((ad, av), (bd, bv)) = (host(&a), host(&b));
        let (m, k, n) = (ad[D - 2], ad[D - 1], bd[D - 1]);
        let batch: usize = got.0[..D - 2].iter().product();
        let (a_batch, b_batch) = (av.len() / (m * k), bv.len() / (k * n));
        let mut err = 0f64;
        for bi in 0..batch {
            let (ao, bo) = ((bi % a_batch) * m * k, (bi % b_batch) * k * n);
            for i in 0..m {
                for j in 0..n {
                    let want: f64 = (0..k)
                        .map(|l| av[ao + i * k + l] * bv[bo + l * n + j])
                        .sum();
                    err = err.max((got.1[bi * m * n + i * n + j] - want).abs());
                }
            }
        }
        // TF32 products keep ≈ 11 bits: outputs of unit scale stay within 2e-2.
        out.push(Check {
            name: format!("matmul {name}"),
            max_abs_err: err,
            tolerance: 2e-2,
        });
    }
    let r = |dims: [usize; 2], k: usize| {
        Tensor::<2>::random(
            dims,
            Distribution::Normal(0.0, 1.0 / (k as f64).sqrt()),
            device,
        )
    };
    check_product(
        out,
        "[300,257]·[257,129]",
        r([300, 257], 257),
        r([257, 129], 1),
    );
    check_product(
        out,
        "lhsᵀ",
        r([257, 300], 257).transpose(),
        r([257, 129], 1),
    );
    check_product(
        out,
        "rhsᵀ",
        r([300, 257], 257),
        r([129, 257], 1).transpose(),
    );
    let wide = r([300, 400], 257);
    check_product(
        out,
        "column slice",
        wide.slice([0..300, 50..307]),
        r([257, 129], 1),
    );
    let x = Tensor::<3>::random([3, 70, 64], Distribution::Normal(0.0, 0.125), device);
    let w = r([64, 50], 1).unsqueeze::<3>();
    check_product(out, "[3,70,64]·[1,64,50]", x.clone(), w);
    let y = Tensor::<3>::random([3, 64, 50], Distribution::Normal(0.0, 1.0), device);
    check_product(out, "[3,70,64]·[3,64,50]", x, y);
    // A linear attention's k·vᵀ: heads 3..6 and 6..9 of one [2, 9, 32, 48] tensor, so the
    // batch (2, 3) has no single stride (cuBLAS: a loop over the 2).
    let qkv = Tensor::<4>::random([2, 9, 32, 48], Distribution::Normal(0.0, 0.15), device);
    let k = qkv.clone().slice([0..2, 3..6, 0..32, 0..48]);
    let v = qkv.slice([0..2, 6..9, 0..32, 0..48]);
    check_product(out, "chunked heads k·vᵀ", k, v.swap_dims(2, 3));
}

/// The fused MixerBlock tail against burn's LayerNorm, Linear and GELU modules on the same
/// device, for an input stored (B, H, C, W) and read as (B, C, H, W), with and without the
/// residual. Columns of 32, 16, 8 and 4 (vector width 4), 6 (width 2) and 5 (width 1).
fn mixer_tail_checks(out: &mut Vec<Check>, device: &Device, dims: [usize; 4]) {
    let [b, c, h, w] = dims;
    let mut ln = LayerNormConfig::new(h).init(device);
    ln.gamma = Param::from_tensor(Tensor::random([h], Distribution::Uniform(0.5, 1.5), device));
    let beta = Tensor::random([h], Distribution::Normal(0.0, 1.0), device);
    ln.beta = Some(Param::from_tensor(beta));
    let fc1: Linear = LinearConfig::new(h, 4 * h).init(device);
    let fc2: Linear = LinearConfig::new(4 * h, h).init(device);
    let x =
        Tensor::<4>::random([b, h, c, w], Distribution::Normal(0.2, 1.5), device).swap_dims(1, 2);
    let f = Tensor::<3>::random([b, h, c * w], Distribution::Normal(0.0, 1.0), device);
    let b_f = Tensor::<1>::random([c * w], Distribution::Normal(0.0, 1.0), device);
    let emb = Tensor::<2>::random([b, c], Distribution::Normal(0.0, 1.0), device);
    let bias = |l: &Linear| l.bias.as_ref().expect("Linear has a bias").val();
    let mlp = TemporalMlp {
        ln_gamma: ln.gamma.val(),
        ln_beta: ln.beta.as_ref().expect("set above").val(),
        ln_eps: 1e-5,
        w1: fc1.weight.val(),
        b1: bias(&fc1),
        w2: fc2.weight.val(),
        b2: bias(&fc2),
    };
    let rows = ln.forward(x.clone().swap_dims(2, 3).reshape([b * c * w, h]));
    let t = fc2
        .forward(gelu(fc1.forward(rows)))
        .reshape([b, c, w, h])
        .swap_dims(2, 3);
    let fb = (f.clone() + b_f.clone().reshape([1, 1, c * w]))
        .reshape([b, h, c, w])
        .swap_dims(1, 2);
    let plain = t + fb;
    let with_res = plain.clone() + emb.clone().reshape([b, c, 1, 1]) + x.clone();
    for (residual, want) in [(false, plain), (true, with_res)] {
        let got = mixer_tail(
            x.clone(),
            f.clone(),
            &mlp,
            b_f.clone(),
            emb.clone(),
            residual,
        );
        let tag = format!("mixer_tail {dims:?} residual {residual}");
        check(out, tag, got, want, 2e-4);
    }
}

/// Softmax over the last axis of a strided view (the keys cut from a qkv tensor) against burn's
/// `softmax`, forward and input gradient, at row lengths H·W of MixerUnet's attention levels.
fn softmax_checks(out: &mut Vec<Check>, device: &Device, dims: [usize; 4]) {
    let ad = device.clone().autodiff();
    let x0 = Tensor::<4>::random(dims, Distribution::Normal(0.0, 3.0), &ad);
    let mut wdims = dims;
    wdims[1] /= 3;
    let w = Tensor::<4>::random(wdims, Distribution::Normal(0.0, 1.0), &ad);
    let run = |fused: bool| {
        let x = x0.clone().require_grad();
        let k = x.clone().chunk(3, 1).swap_remove(1);
        let y = if fused {
            softmax_last(k)
        } else {
            softmax(k, 3)
        };
        let grads = (y.clone() * w.clone()).sum().backward();
        (y.inner(), x.grad(&grads).expect("x grad"))
    };
    let ((yf, gf), (yr, gr)) = (run(true), run(false));
    let tag = format!("softmax of keys cut from {dims:?}");
    check(out, format!("{tag}: y"), yf, yr, 1e-6);
    check(out, format!("{tag}: dx"), gf, gr, 1e-5);
}

/// InstanceNorm (LayerNorm kernels with per-channel affine) against burn's `InstanceNorm`
/// module, forward, at the attention inputs of MixerUnet's levels (rows of H·W = 768 and 96).
fn channel_norm_checks(out: &mut Vec<Check>, device: &Device, dims: [usize; 4]) {
    let c = dims[1];
    let mut norm = InstanceNormConfig::new(c).with_affine(true).init(device);
    let gamma = Tensor::random([c], Distribution::Uniform(0.5, 1.5), device);
    let beta = Tensor::random([c], Distribution::Normal(0.0, 1.0), device);
    norm.gamma = Some(Param::from_tensor(gamma.clone()));
    norm.beta = Some(Param::from_tensor(beta.clone()));
    let x = Tensor::<4>::random(dims, Distribution::Normal(0.3, 2.0), device);
    let got = channel_norm(x.clone(), gamma, beta, 1e-5);
    check(
        out,
        format!("instance_norm {dims:?}"),
        got,
        norm.forward(x),
        1e-4,
    );
}

/// The fused channel-wise sum against burn's adds, at a MixerBlock output shape.
fn channel_sum_checks(out: &mut Vec<Check>, device: &Device, dims: [usize; 3]) {
    let [b, c, _] = dims;
    let a = Tensor::<3>::random(dims, Distribution::Normal(0.0, 1.0), device);
    let r = Tensor::<3>::random(dims, Distribution::Normal(0.0, 1.0), device);
    let bias = Tensor::<1>::random([c], Distribution::Normal(0.0, 1.0), device);
    let emb = Tensor::<2>::random([b, c], Distribution::Normal(0.0, 1.0), device);
    let want =
        a.clone() + r.clone() + bias.clone().reshape([1, c, 1]) + emb.clone().reshape([b, c, 1]);
    let got = channel_sum(a, r, bias, emb);
    check(out, format!("channel_sum {dims:?}"), got, want, 1e-5);
}

/// Every fused kernel against its composite on `device` (seeded), at the MixerUnet's shapes
/// (temporal rows H = 32, feature rows C·W = 384 and 3072, a row length that is not a multiple
/// of 32) and odd sizes.
pub fn run(device: &Device) -> Vec<Check> {
    device.seed(2024);
    let mut out = Vec::new();
    for (rows, h) in [(4096, 32), (1000, 4), (512, 384), (64, 3072), (37, 240)] {
        layer_norm_checks(&mut out, device, rows, h);
    }
    // Temporal rows (H = 32, 8) and feature rows (C·W = 30 short, 384 long) of permuted views.
    for (dims, feature) in [
        ([4, 16, 32, 24], false),
        ([3, 5, 8, 6], false),
        ([3, 5, 8, 6], true),
        ([2, 16, 8, 24], true),
    ] {
        strided_layer_norm_checks(&mut out, device, dims, feature);
    }
    for (rows, n) in [(4096, 128), (33, 97)] {
        bias_gelu_checks(&mut out, device, rows, n);
    }
    // MixerUnet's downsample (3×3, stride (2, 1), padding 1), final conv (3×3, padding 1) and the
    // transposed conv's im2col (2×3 taps, stride 1, padding (1, 0) / (1, 1)).
    let c = &mut out;
    im2col_checks(c, device, [3, 16, 32, 24], [3, 3], [2, 1], [(1, 1), (1, 1)]);
    im2col_checks(c, device, [2, 8, 8, 5], [3, 3], [1, 1], [(1, 1), (1, 1)]);
    im2col_checks(c, device, [2, 8, 4, 5], [2, 3], [1, 1], [(1, 0), (1, 1)]);
    // The kernel multiplies in f32; the reference's products run in true f32 too (under the
    // default TF32 precision they differ from it by ~8e-4).
    let precision = crate::precision::matmul_precision();
    crate::precision::set_matmul_precision(crate::MatmulPrecision::Highest);
    for dims in [
        [64, 16, 32, 24],
        [8, 32, 16, 24],
        [8, 64, 8, 24],
        [16, 128, 4, 24],
        [3, 5, 6, 7],
        [3, 4, 5, 3],
    ] {
        mixer_tail_checks(&mut out, device, dims);
    }
    crate::precision::set_matmul_precision(precision);
    for dims in [[16, 12, 32, 768], [16, 12, 32, 96], [3, 6, 5, 37]] {
        softmax_checks(&mut out, device, dims);
    }
    for dims in [[64, 16, 32, 24], [64, 128, 4, 24], [3, 5, 3, 7]] {
        channel_norm_checks(&mut out, device, dims);
    }
    for dims in [[64, 16, 768], [3, 5, 7]] {
        channel_sum_checks(&mut out, device, dims);
    }
    adam_checks(&mut out, device);
    blend_checks(&mut out, device);
    flat_view_checks(&mut out, device);
    #[cfg(feature = "cuda")]
    let (before, min_flops) = (crate::cublas::counts().0, crate::cublas::set_min_flops(0.0));
    matmul_checks(&mut out, device);
    #[cfg(feature = "cuda")]
    crate::cublas::set_min_flops(min_flops);
    // On CUDA with cuBLAS loaded, every product above must have gone through it.
    #[cfg(feature = "cuda")]
    if (0..16).any(|i| device.clone().inner() == Device::cuda(i))
        && crate::cublas::install().is_ok()
    {
        let taken = crate::cublas::counts().0 - before;
        out.push(Check {
            name: format!("cuBLAS took the 7 products ({taken} GEMMs)"),
            max_abs_err: if taken >= 7 { 0.0 } else { 1.0 },
            tolerance: 0.0,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    /// On the CPU every check passes (composites against composites, and FusedAdam exactly).
    #[test]
    fn every_check_passes_on_the_cpu() {
        let checks = super::run(&burn::tensor::Device::flex());
        assert_eq!(
            checks.len(),
            5 * 4 + 4 * 4 + 2 * 3 + 3 * 2 + 6 * 2 + 3 * 2 + 3 + 2 + 2 + 2 + 7 + 1 // + the flat Adam
        );
        for c in &checks {
            assert!(c.ok(), "{c:?}");
        }
    }
}
