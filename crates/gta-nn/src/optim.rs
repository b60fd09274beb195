//! Adam with one fused kernel per parameter tensor ([`FusedAdam`]), and the fused Polyak and
//! EMA blends. Same state type (`burn::optim::AdamState`) and the same arithmetic as burn's
//! `Adam`, so checkpoints are interchangeable and CPU results are identical (test below); on
//! CUDA the 13 launches per tensor become one. `GTA_COMPOSITE_ADAM=1` selects burn's `Adam`
//! instead (A/B measurements).

use burn::optim::{
    AdamConfig, AdamState, AdaptiveMomentumState, LearningRate, ModuleOptimizer, Optimizer,
};
use burn::tensor::{Device, Tensor};

use crate::kernels::{AdamScalars, adam_update};

/// Adam (no weight decay, no AMSGrad) whose update is [`adam_update`]: one kernel per tensor.
#[derive(Debug, Clone, Copy)]
pub struct FusedAdam {
    /// β1.
    pub beta_1: f32,
    /// β2.
    pub beta_2: f32,
    /// ε (added to √v̂, as PyTorch).
    pub epsilon: f32,
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
