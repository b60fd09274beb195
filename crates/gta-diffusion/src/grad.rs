//! Global-L2-norm gradient clipping as PyTorch's `clip_grad_norm_` (method.md §5), computed on
//! the device. burn's own clipping works per tensor, so it is written here.

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::Tensor;

/// Collects every gradient flattened, for one sum of squares over their concatenation: three
/// launches (cat, square, sum) plus one slice write per tensor, where a square, a sum and an add
/// per tensor cost ≈ 950 of the ≈ 4,150 launches of a MixerUnet step (318 parameter tensors;
/// the step is bound by launch overhead, `benchmarks/RESULTS.md`, session 5).
struct Flattened<'a> {
    grads: &'a GradientsParams,
    parts: Vec<Tensor<1>>,
}

impl ModuleVisitor for Flattened<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.grads.get::<D>(param.id) {
            let n = g.shape().num_elements();
            self.parts.push(g.reshape([n]));
        }
    }
}

/// Replaces every gradient by its part of the scaled concatenation (views: no launch), in the
/// order [`Flattened`] visited them.
struct Rescaled<'a> {
    grads: &'a mut GradientsParams,
    flat: Tensor<1>,
    offset: usize,
}

impl ModuleVisitor for Rescaled<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.grads.remove::<D>(param.id) {
            let shape = g.shape();
            let n = shape.num_elements();
            let part = self.flat.clone().slice([self.offset..self.offset + n]);
            self.offset += n;
            self.grads.register::<D>(param.id, part.reshape(shape));
        }
    }
}

/// All gradients of `module`'s parameters, flattened and concatenated (visiting order).
fn concatenated<M: Module>(module: &M, grads: &GradientsParams) -> Option<Tensor<1>> {
    let mut v = Flattened {
        grads,
        parts: Vec::new(),
    };
    module.visit(&mut v);
    (!v.parts.is_empty()).then(|| Tensor::cat(v.parts, 0))
}

/// Global L2 norm of all gradients of `module`'s parameters, as a (1,) device tensor.
pub fn global_norm<M: Module>(module: &M, grads: &GradientsParams) -> Option<Tensor<1>> {
    Some(concatenated(module, grads)?.powi_scalar(2).sum().sqrt())
}

/// Scales all gradients by `min(1, max_norm / (‖g‖ + 1e-6))` and returns the pre-clip norm.
/// One multiply over the concatenation; the gradients become views into it.
pub fn clip_global_norm<M: Module>(
    module: &M,
    grads: &mut GradientsParams,
    max_norm: f64,
) -> Option<Tensor<1>> {
    let flat = concatenated(module, grads)?;
    let norm = flat.clone().powi_scalar(2).sum().sqrt();
    let coef = (norm.clone() + 1e-6)
        .recip()
        .mul_scalar(max_norm)
        .clamp_max(1.0);
    let mut v = Rescaled {
        grads,
        flat: flat * coef,
        offset: 0,
    };
    module.visit(&mut v);
    Some(norm)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::{Linear, LinearConfig};
    use burn::tensor::{Device, Distribution};

    fn host(t: Tensor<2>) -> Vec<f32> {
        t.into_data().try_to_vec().expect("f32")
    }

    /// The norm over all gradients equals √Σg² computed on the host from the gradients
    /// themselves, and clipping scales every gradient by max_norm / (‖g‖ + 1e-6).
    #[test]
    fn global_norm_and_clipping_match_a_host_computation() {
        let device = Device::flex().autodiff();
        device.seed(3);
        let (a, b): (Linear, Linear) = (
            LinearConfig::new(7, 5).init(&device),
            LinearConfig::new(5, 3).init(&device),
        );
        let x = Tensor::<2>::random([4, 7], Distribution::Normal(0.0, 3.0), &device);
        let loss = b.forward(a.forward(x)).powi_scalar(2).sum();
        let model = (a, b);
        let mut grads = GradientsParams::from_grads(loss.backward(), &model);
        let ws = [model.0.weight.clone(), model.1.weight.clone()];
        let bs = [model.0.bias.clone().unwrap(), model.1.bias.clone().unwrap()];
        let mut values: Vec<f64> = Vec::new();
        for w in &ws {
            values.extend(
                host(grads.get::<2>(w.id).unwrap())
                    .iter()
                    .map(|&v| v as f64),
            );
        }
        for b in &bs {
            let g = grads.get::<1>(b.id).unwrap().unsqueeze::<2>();
            values.extend(host(g).iter().map(|&v| v as f64));
        }
        assert_eq!(values.len(), 7 * 5 + 5 + 5 * 3 + 3);
        let want = values.iter().map(|v| v * v).sum::<f64>().sqrt();
        let got = global_norm(&model, &grads).unwrap().into_scalar::<f32>() as f64;
        assert!((got - want).abs() <= 1e-5 * want, "{got} vs {want}");
        // Clip to a tenth of the norm: every gradient shrinks by the same factor.
        let before = host(grads.get::<2>(ws[0].id).unwrap());
        let max_norm = want / 10.0;
        let norm = clip_global_norm(&model, &mut grads, max_norm).unwrap();
        assert!((norm.into_scalar::<f32>() as f64 - want).abs() <= 1e-5 * want);
        let after = host(grads.get::<2>(ws[0].id).unwrap());
        let coef = max_norm / (want + 1e-6);
        for (x, y) in before.iter().zip(&after) {
            assert!((*x as f64 * coef - *y as f64).abs() <= 1e-6 + 1e-5 * x.abs() as f64);
        }
        // Below the limit nothing changes.
        let unchanged = host(grads.get::<2>(ws[0].id).unwrap());
        clip_global_norm(&model, &mut grads, 1e9).unwrap();
        assert_eq!(host(grads.get::<2>(ws[0].id).unwrap()), unchanged);
    }
}
