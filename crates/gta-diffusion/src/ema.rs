//! Exponential moving average of the weights with ema-pytorch 0.2.5 semantics (method.md §5).
//!
//! burn has no EMA; this is a `ModuleVisitor` that collects the online weights and a
//! `ModuleMapper` that blends them into the EMA copy, all on the device.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

/// EMA settings (method.md §5); defaults are the reference's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmaConfig {
    /// Maximum decay β (0.995).
    pub beta: f64,
    /// Update every this many calls (10).
    pub update_every: u64,
    /// Plain copy while the call counter is ≤ this (100).
    pub update_after_step: u64,
    /// Warm-up power of the decay (2/3).
    pub power: f64,
}

impl Default for EmaConfig {
    fn default() -> Self {
        Self {
            beta: 0.995,
            update_every: 10,
            update_after_step: 100,
            power: 2.0 / 3.0,
        }
    }
}

impl EmaConfig {
    /// What call `s` (= number of earlier calls) does: `None` nothing, `Some(0.0)` copy,
    /// `Some(d)` blend `ema ← d·ema + (1 − d)·θ` with `d = min(β, 1 − (1 + s − after)^(−power))`.
    pub fn decay(&self, s: u64) -> Option<f64> {
        if !s.is_multiple_of(self.update_every.max(1)) {
            None
        } else if s <= self.update_after_step {
            Some(0.0)
        } else {
            let d = 1.0 - (1.0 + (s - self.update_after_step) as f64).powf(-self.power);
            Some(d.min(self.beta))
        }
    }
}

/// Collects every float parameter, flattened, in visit order.
struct Collect(Vec<Tensor<1>>);

impl ModuleVisitor for Collect {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let t = param.val();
        let n = t.shape().num_elements();
        self.0.push(t.reshape([n]));
    }
}

/// Blends the collected online weights into the EMA parameters, in the same visit order.
struct Blend {
    online: std::vec::IntoIter<Tensor<1>>,
    decay: f64,
}

impl ModuleMapper for Blend {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let theta = self
            .online
            .next()
            .expect("EMA and online model have the same parameters");
        let decay = self.decay;
        param.map(|ema| {
            let theta = theta.reshape(ema.shape());
            if decay == 0.0 {
                // A copy in a buffer of its own (×1 is exact): `theta` is a view of the online
                // weights, which a captured training step updates in place
                // (`crate::graph_step`), so sharing its buffer would make the EMA follow them.
                theta.mul_scalar(1.0)
            } else {
                // ema-pytorch's `lerp_`: exact when ema == θ (frozen buffers stay bit-identical);
                // one fused kernel on CUDA.
                gta_nn::kernels::lerp(ema, theta, (1.0 - decay) as f32)
            }
        })
    }
}

/// `ema ← decay·ema + (1 − decay)·online`, computed as `ema + (1 − decay)·(online − ema)`, for
/// every float parameter (decay 0 copies).
/// `online` must be a non-autodiff module (e.g. `model.valid()`) of the same architecture.
pub fn blend<M: Module>(ema: M, online: &M, decay: f64) -> M {
    let mut collect = Collect(Vec::new());
    online.visit(&mut collect);
    let mut mapper = Blend {
        online: collect.0.into_iter(),
        decay,
    };
    ema.map(&mut mapper)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decay_follows_ema_pytorch_schedule() {
        let c = EmaConfig::default();
        assert_eq!(c.decay(0), Some(0.0));
        assert_eq!(c.decay(5), None);
        assert_eq!(c.decay(100), Some(0.0), "copy up to and including s = 100");
        let d110 = 1.0 - 11f64.powf(-2.0 / 3.0);
        assert!((c.decay(110).unwrap() - d110).abs() < 1e-15);
        // d reaches 0.995 near s ≈ 2,930 (method.md §5).
        assert!(c.decay(2_800).unwrap() < 0.995);
        assert_eq!(c.decay(3_000), Some(0.995));
    }
}
