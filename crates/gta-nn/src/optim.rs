//! Adam with one fused kernel per parameter tensor ([`FusedAdam`]), and the fused Polyak and
//! EMA blends. Same state type (`burn::optim::AdamState`) and the same arithmetic as burn's
//! `Adam`, so checkpoints are interchangeable and CPU results are identical (test below); on
//! CUDA the 13 launches per tensor become one. `GTA_COMPOSITE_ADAM=1` selects burn's `Adam`
//! instead (A/B measurements).
//!
//! [`StateAccess`] lets a caller take the Adam moments out of a `ModuleOptimizer` and put
//! others in (views of flat buffers updated by [`crate::kernels::adam_flat`], the captured
//! training step of `gta-diffusion`), through one ordinary `step` call that updates nothing.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use burn::optim::{
    AdamConfig, AdamState, AdaptiveMomentumState, LearningRate, ModuleOptimizer, Optimizer,
};
use burn::tensor::{Device, Tensor};

use crate::kernels::{AdamScalars, adam_update};

/// Adam (no weight decay, no AMSGrad) whose update is [`adam_update`]: one kernel per tensor.
#[derive(Debug, Clone)]
pub struct FusedAdam {
    /// β1.
    pub beta_1: f32,
    /// β2.
    pub beta_2: f32,
    /// ε (added to √v̂, as PyTorch).
    pub epsilon: f32,
    /// `None`: always the ordinary step. `Some`: a handle that can turn the next step into a
    /// state export or import ([`StateAccess`]).
    pub access: Option<StateAccess>,
}

/// One parameter's Adam moments, flattened: `(m, v)` of its state, or `None` when it has no
/// state (a parameter that never had a gradient).
pub type FlatMoments = Option<(Tensor<1>, Tensor<1>)>;

/// What the next optimizer step of a [`FusedAdam`] holding a [`StateAccess`] does.
#[derive(Debug, Default)]
enum AccessMode {
    /// The ordinary update.
    #[default]
    Step,
    /// No update: append every parameter's moments (flattened), in the visiting order, and the
    /// largest step counter seen.
    Export(Vec<FlatMoments>, usize),
    /// No update: replace every parameter's moments by the next entry (reshaped to the
    /// parameter's shape; `None` keeps the parameter's state) and set the step counters to the
    /// given value.
    Install(VecDeque<FlatMoments>, usize),
}

/// A handle shared between a [`FusedAdam`] and code that keeps the optimizer state elsewhere
/// for a while (the captured training step): [`Self::export`] and [`Self::install`] each arm
/// the next `ModuleOptimizer::step`, which must visit every parameter (pass a gradient for each)
/// and then updates nothing.
#[derive(Debug, Clone, Default)]
pub struct StateAccess(Arc<Mutex<AccessMode>>);

impl StateAccess {
    /// Arms the next step to export the moments; [`Self::take_export`] returns them.
    pub fn export(&self) {
        *self.0.lock().expect("state access lock") = AccessMode::Export(Vec::new(), 0);
    }

    /// The moments collected by the step armed with [`Self::export`], in the module's visiting
    /// order, and the step counter `t` of the states (0 when none has a state). Disarms.
    pub fn take_export(&self) -> (Vec<FlatMoments>, usize) {
        match std::mem::take(&mut *self.0.lock().expect("state access lock")) {
            AccessMode::Export(moments, time) => (moments, time),
            other => panic!("take_export without an exporting step ({other:?})"),
        }
    }

    /// Arms the next step to install `moments` (visiting order) with step counter `time`.
    pub fn install(&self, moments: Vec<FlatMoments>, time: usize) {
        *self.0.lock().expect("state access lock") = AccessMode::Install(moments.into(), time);
    }

    /// Back to ordinary steps (also after an install, which disarms itself when it has used
    /// every entry).
    pub fn reset(&self) {
        *self.0.lock().expect("state access lock") = AccessMode::Step;
    }
}

impl Optimizer for FusedAdam {
    type State<const D: usize> = AdamState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        if let Some(access) = &self.access {
            let mut mode = access.0.lock().expect("state access lock");
            match &mut *mode {
                AccessMode::Step => {}
                AccessMode::Export(out, time) => {
                    out.push(state.as_ref().map(|s| {
                        let n = tensor.shape().num_elements();
                        *time = (*time).max(s.momentum.time);
                        let m = s.momentum.moment_1.clone().reshape([n]);
                        (m, s.momentum.moment_2.clone().reshape([n]))
                    }));
                    return (tensor, state);
                }
                AccessMode::Install(queue, time) => {
                    let entry = queue.pop_front().expect("install: one entry per parameter");
                    let time = *time;
                    if queue.is_empty() {
                        *mode = AccessMode::Step;
                    }
                    let state = match entry {
                        Some((m, v)) => {
                            let shape = tensor.shape();
                            let (m, v) = (m.reshape(shape.clone()), v.reshape(shape));
                            Some(AdamState::new(AdaptiveMomentumState::new(time, m, v)))
                        }
                        None => state,
                    };
                    return (tensor, state);
                }
            }
        }
        // A fresh state is zero moments: β·0 + (1−β)·g is exactly burn's first-step moment.
        let (m, v, time) = match state {
            Some(s) => (
                s.momentum.moment_1,
                s.momentum.moment_2,
                s.momentum.time + 1,
            ),
            None => (grad.zeros_like(), grad.zeros_like(), 1),
        };
        let s = AdamScalars::new(self.beta_1, self.beta_2, self.epsilon, time, lr);
        let (param, m, v) = adam_update(tensor, grad, m, v, s);
        let momentum = AdaptiveMomentumState::new(time, m, v);
        (param, Some(AdamState::new(momentum)))
    }

    fn to_device<const D: usize>(mut state: Self::State<D>, device: &Device) -> Self::State<D> {
        state.momentum = state.momentum.to_device(device);
        state
    }
}

/// Whether `GTA_COMPOSITE_ADAM=1` asks for burn's own (unfused) Adam.
pub fn composite_adam_requested() -> bool {
    std::env::var("GTA_COMPOSITE_ADAM").is_ok_and(|v| v == "1")
}

/// A module optimizer running Adam with β1, β2, ε and no weight decay: [`FusedAdam`], or
/// burn's `Adam` when `GTA_COMPOSITE_ADAM=1`.
pub fn adam(beta_1: f32, beta_2: f32, epsilon: f32) -> ModuleOptimizer {
    adam_with(beta_1, beta_2, epsilon, None)
}

/// [`adam`] whose [`FusedAdam`] carries `access` (ignored with `GTA_COMPOSITE_ADAM=1`).
pub fn adam_with(
    beta_1: f32,
    beta_2: f32,
    epsilon: f32,
    access: Option<StateAccess>,
) -> ModuleOptimizer {
    if composite_adam_requested() {
        AdamConfig::new()
            .with_beta_1(beta_1)
            .with_beta_2(beta_2)
            .with_epsilon(epsilon)
            .init()
    } else {
        ModuleOptimizer::from(FusedAdam {
            beta_1,
            beta_2,
            epsilon,
            access,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::{Linear, LinearConfig};
    use burn::optim::GradientsParams;
    use burn::tensor::Distribution;

    fn params(m: &Linear) -> Vec<Vec<f32>> {
        let mut out = vec![m.weight.val().into_data().try_to_vec::<f32>().unwrap()];
        out.push(
            m.bias
                .as_ref()
                .unwrap()
                .val()
                .into_data()
                .try_to_vec()
                .unwrap(),
        );
        out
    }

    /// Five steps of FusedAdam equal five steps of burn's Adam bit for bit on the CPU, with a
    /// varying learning rate, and the saved states are interchangeable.
    #[test]
    fn fused_adam_equals_burns_adam_bit_for_bit() {
        let device = Device::flex().autodiff();
        device.seed(7);
        let init = LinearConfig::new(5, 3).init(&device);
        let start = params(&init);
        let (mut a, mut b) = (init.clone(), init);
        let mut burn_adam = AdamConfig::new()
            .with_beta_1(0.9)
            .with_beta_2(0.99)
            .with_epsilon(1e-8)
            .init();
        let mut fused = ModuleOptimizer::from(FusedAdam {
            beta_1: 0.9,
            beta_2: 0.99,
            epsilon: 1e-8,
            access: None,
        });
        for step in 0..5 {
            let x = Tensor::<2>::random([4, 5], Distribution::Normal(0.0, 1.0), &device);
            let lr = 1e-2 / (1.0 + step as f64);
            let loss_a = a.forward(x.clone()).powi_scalar(2).mean();
            let g = GradientsParams::from_grads(loss_a.backward(), &a);
            a = burn_adam.step(lr, a, g);
            let loss_b = b.forward(x).powi_scalar(2).mean();
            let g = GradientsParams::from_grads(loss_b.backward(), &b);
            b = fused.step(lr, b, g);
            assert_eq!(params(&a), params(&b), "step {step}");
        }
        // The parameters moved (the comparison is not between two untouched copies).
        assert_ne!(params(&a), start);
    }

    /// An export returns every state's moments and counter without changing anything; an
    /// install of other moments and counter is what the next ordinary step continues from, and
    /// the flat clipped step (`adam_flat`) equals the per-tensor step of the clipped gradients.
    #[test]
    fn state_export_install_and_the_flat_step() {
        let device = Device::flex().autodiff();
        device.seed(5);
        let init = LinearConfig::new(6, 4).init(&device);
        let (mut a, mut b) = (init.clone(), init);
        let access = StateAccess::default();
        let mut opt_a = adam(0.9, 0.99, 1e-8);
        let mut opt_b = adam_with(0.9, 0.99, 1e-8, Some(access.clone()));
        let all = |m: &Linear| {
            let mut g = GradientsParams::new();
            g.register(m.weight.id, m.weight.val().inner());
            let bias = m.bias.as_ref().unwrap();
            g.register(bias.id, bias.val().inner());
            g
        };
        let x = Tensor::<2>::random([3, 6], Distribution::Normal(0.0, 1.0), &device);
        for _ in 0..2 {
            let g = GradientsParams::from_grads(
                a.forward(x.clone()).powi_scalar(2).mean().backward(),
                &a,
            );
            a = opt_a.step(1e-2, a, g);
            let g = GradientsParams::from_grads(
                b.forward(x.clone()).powi_scalar(2).mean().backward(),
                &b,
            );
            b = opt_b.step(1e-2, b, g);
        }
        access.export();
        let before = params(&b);
        b = opt_b.step(1.0, b.clone(), all(&b));
        let (moments, time) = access.take_export();
        assert_eq!(params(&b), before, "an export changes no weight");
        assert_eq!((moments.len(), time), (2, 2));
        assert_eq!(
            params(&a),
            params(&b),
            "same weights before the clipped step"
        );

        // One clipped step of `a` through the per-tensor path …
        let coef = 0.5f32;
        let g =
            GradientsParams::from_grads(a.forward(x.clone()).powi_scalar(2).mean().backward(), &a);
        let mut scaled = GradientsParams::new();
        let w = g.get::<2>(a.weight.id).unwrap().mul_scalar(coef);
        let bias_id = a.bias.as_ref().unwrap().id;
        let bg = g.get::<1>(bias_id).unwrap().mul_scalar(coef);
        scaled.register(a.weight.id, w);
        scaled.register(bias_id, bg);
        a = opt_a.step(1e-2, a, scaled);
        // … and through the flat kernel on `b`'s exported moments.
        let g = GradientsParams::from_grads(b.forward(x).powi_scalar(2).mean().backward(), &b);
        let flat = |w: Tensor<2>, bias: Tensor<1>| Tensor::cat(vec![w.reshape([24]), bias], 0);
        let inner = device.clone().inner();
        let wb = b.weight.val().inner();
        let bb = b.bias.as_ref().unwrap().val().inner();
        let p = flat(wb, bb);
        let grad = flat(
            g.get::<2>(b.weight.id).unwrap(),
            g.get::<1>(bias_id).unwrap(),
        );
        let (mw, vw) = moments[0].clone().unwrap();
        let (mb, vb) = moments[1].clone().unwrap();
        let m = Tensor::cat(vec![mw, mb], 0);
        let v = Tensor::cat(vec![vw, vb], 0);
        let s = AdamScalars::new(0.9, 0.99, 1e-8, 3, 1e-2);
        let scalars = Tensor::<1>::from_floats([s.lr as f32, s.combined_factor, s.eps_hat], &inner);
        let c = Tensor::<1>::from_floats([coef], &inner);
        let (p, m, v) = crate::kernels::adam_flat(p, grad, m, v, c, scalars, 0.9, 0.99);
        let pa = params(&a);
        let pf: Vec<f32> = p.into_data().try_to_vec().unwrap();
        // Equal up to a few f32 roundings of the update: the CPU backend's vectorised kernels
        // round some elements of different layouts differently (the CUDA kernels compute both
        // per element; `gta gpu selftest` compares them there).
        for (x, y) in pf.iter().zip([pa[0].clone(), pa[1].clone()].concat()) {
            assert!(
                (x - y).abs() <= 1e-7 + 1e-6 * y.abs(),
                "flat step {x} vs {y}"
            );
        }

        // Install the flat moments with t = 3 into `b`'s optimizer: its next ordinary step
        // equals `a`'s.
        let mf = |t: &Tensor<1>, r: std::ops::Range<usize>| t.clone().slice([r]);
        access.install(
            vec![
                Some((mf(&m, 0..24), mf(&v, 0..24))),
                Some((mf(&m, 24..28), mf(&v, 24..28))),
            ],
            3,
        );
        let mut b2 = Linear {
            weight: b.weight.clone().map(|_| {
                Tensor::<1>::from_data(pf[..24].to_vec().as_slice(), &device)
                    .reshape([6, 4])
                    .require_grad()
            }),
            bias: b.bias.clone().map(|p| {
                p.map(|_| {
                    Tensor::<1>::from_data(pf[24..].to_vec().as_slice(), &device).require_grad()
                })
            }),
            ..b.clone()
        };
        b2 = opt_b.step(1.0, b2.clone(), all(&b2));
        let x = Tensor::<2>::random([3, 6], Distribution::Normal(0.0, 1.0), &device);
        let g =
            GradientsParams::from_grads(a.forward(x.clone()).powi_scalar(2).mean().backward(), &a);
        a = opt_a.step(1e-3, a, g);
        let g = GradientsParams::from_grads(b2.forward(x).powi_scalar(2).mean().backward(), &b2);
        b2 = opt_b.step(1e-3, b2, g);
        for (x, y) in params(&a).concat().iter().zip(params(&b2).concat()) {
            assert!((x - y).abs() <= 1e-7 + 1e-6 * y.abs(), "{x} vs {y}");
        }
    }

    /// The blends equal their composite definitions.
    #[test]
    fn axpby_and_lerp_match_their_formulas() {
        let device = Device::flex();
        let x = Tensor::<1>::from_floats([1.0, -2.0, 3.5], &device);
        let y = Tensor::<1>::from_floats([0.5, 4.0, 3.5], &device);
        let p = crate::kernels::axpby(x.clone(), y.clone(), 0.995, 0.005);
        let l = crate::kernels::lerp(x, y, 0.25);
        let p: Vec<f32> = p.into_data().try_to_vec().unwrap();
        let l: Vec<f32> = l.into_data().try_to_vec().unwrap();
        assert_eq!(
            p,
            vec![1.0 * 0.995 + 0.5 * 0.005, -2.0 * 0.995 + 4.0 * 0.005, 3.5]
        );
        assert_eq!(l, vec![1.0 + (0.5 - 1.0) * 0.25, -2.0 + 6.0 * 0.25, 3.5]);
    }
}
