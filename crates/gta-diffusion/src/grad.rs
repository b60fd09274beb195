//! Global-L2-norm gradient clipping as PyTorch's `clip_grad_norm_` (method.md §5), computed on
//! the device. burn's own clipping works per tensor, so it is written here.

use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::tensor::Tensor;

/// Elements each parameter's segment of a flat buffer is aligned to: 256, so that a segment
/// starts on CubeCL's 512-byte CUDA buffer alignment for 2-byte floats (bf16, f16) as well as
/// f32. Views of a flat buffer ([`gta_nn::kernels::flat_view`]) must start there.
pub const ALIGN: usize = 256;

/// Row length of the two-stage norm reduction ([`flat_norm`]); flat buffers are padded to a
/// multiple of it.
pub const NORM_ROW: usize = 1024;

/// Where each parameter lives in a flat, zero-padded buffer holding all of a module's
/// parameters (or their gradients, or Adam moments) end to end, in the module's visiting order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FlatLayout {
    /// The parameters, in visiting order.
    pub ids: Vec<ParamId>,
    /// Offset of each parameter's segment (a multiple of [`ALIGN`]).
    pub offsets: Vec<usize>,
    /// Number of elements of each parameter.
    pub lens: Vec<usize>,
    /// End of the last segment (a multiple of [`ALIGN`]); the buffer is [`Self::len`] long and
    /// the gaps hold zeros.
    pub total: usize,
}

impl FlatLayout {
    /// Length of the flat buffer: [`Self::total`] rounded up to a multiple of [`NORM_ROW`].
    pub fn len(&self) -> usize {
        self.total.div_ceil(NORM_ROW) * NORM_ROW
    }

    /// Whether no parameter was added.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Appends a parameter of `n` elements.
    pub fn push(&mut self, id: ParamId, n: usize) {
        self.ids.push(id);
        self.offsets.push(self.total);
        self.lens.push(n);
        self.total += n.div_ceil(ALIGN) * ALIGN;
    }

    /// Segment `k` of `flat` as a tensor of `shape` (its parameter's), sharing `flat`'s buffer
    /// ([`gta_nn::kernels::flat_view`]; burn's `slice` would copy unaligned ends on the GPU).
    pub fn segment<const D: usize>(
        &self,
        flat: &Tensor<1>,
        k: usize,
        shape: burn::tensor::Shape,
    ) -> Tensor<D> {
        assert_eq!(shape.num_elements(), self.lens[k], "segment {k}: size");
        gta_nn::kernels::flat_view(flat, self.offsets[k], shape)
    }

    /// `parts` (one per parameter, in order, with its length) written into a zero buffer: one
    /// fill plus one in-place slice write per part.
    pub fn gather(&self, parts: Vec<Tensor<1>>) -> Tensor<1> {
        assert_eq!(parts.len(), self.ids.len(), "one part per parameter");
        let first = parts.first().expect("at least one parameter");
        let opts = (&first.device(), first.dtype());
        let mut flat = Tensor::<1>::zeros([self.len()], opts);
        for (k, part) in parts.into_iter().enumerate() {
            let o = self.offsets[k];
            flat = flat.slice_assign(o..o + self.lens[k], part);
        }
        flat
    }
}

/// Collects every gradient flattened, for one sum of squares over their concatenation: a fill,
/// a square, a sum, plus one slice write per tensor, where a square, a sum and an add per tensor
/// cost ≈ 950 of the ≈ 4,150 launches of a MixerUnet step (318 parameter tensors; the step was
/// bound by launch overhead, `benchmarks/RESULTS.md`, session 5).
struct Flattened<'a> {
    grads: &'a GradientsParams,
    layout: FlatLayout,
    parts: Vec<Tensor<1>>,
}

impl ModuleVisitor for Flattened<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.grads.get::<D>(param.id) {
            let n = g.shape().num_elements();
            self.layout.push(param.id, n);
            self.parts.push(g.reshape([n]));
        }
    }
}

/// Replaces every gradient by its segment of the scaled flat buffer (views: no launch on the
/// GPU), in the order [`Flattened`] visited them.
struct Rescaled<'a> {
    grads: &'a mut GradientsParams,
    flat: Tensor<1>,
    layout: &'a FlatLayout,
    k: usize,
}

impl ModuleVisitor for Rescaled<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.grads.remove::<D>(param.id) {
            debug_assert_eq!(self.layout.ids[self.k], param.id);
            let part = self.layout.segment::<D>(&self.flat, self.k, g.shape());
            self.k += 1;
            self.grads.register::<D>(param.id, part);
        }
    }
}

/// All gradients of `module`'s parameters in one aligned, zero-padded flat buffer (visiting
/// order), and its layout; `None` when no parameter has a gradient.
pub fn concatenated<M: Module>(
    module: &M,
    grads: &GradientsParams,
) -> Option<(Tensor<1>, FlatLayout)> {
    let mut v = Flattened {
        grads,
        layout: FlatLayout::default(),
        parts: Vec::new(),
    };
    module.visit(&mut v);
    (!v.parts.is_empty()).then(|| (v.layout.gather(v.parts), v.layout))
}

/// L2 norm of a flat buffer, as a (1,) tensor. A length that is a multiple of [`NORM_ROW`] is
/// summed in two stages, rows of [`NORM_ROW`] and then the row sums: burn's one-stage sum of
/// all 29.7M squared gradients of a MixerUnet ran at ≈ 74 GB/s on an H100 (1.6 ms, 5% of a
/// captured training step; session-7 kernel profile in `benchmarks/RESULTS.md`), the row sums
/// run at memory speed.
pub fn flat_norm(flat: &Tensor<1>) -> Tensor<1> {
    let n = flat.dims()[0];
    let squares = flat.clone().powi_scalar(2);
    if n >= NORM_ROW && n.is_multiple_of(NORM_ROW) {
        squares
            .reshape([n / NORM_ROW, NORM_ROW])
            .sum_dim(1)
            // Along an axis again: a full `sum` is the slow one-stage kernel.
            .sum_dim(0)
            .reshape([1])
            .sqrt()
    } else {
        squares.sum().sqrt()
    }
}

/// The clipping factor `min(1, max_norm / (‖g‖ + 1e-6))` of PyTorch's `clip_grad_norm_`, as a
/// (1,) device tensor.
pub fn clip_coef(norm: Tensor<1>, max_norm: f64) -> Tensor<1> {
    (norm + 1e-6).recip().mul_scalar(max_norm).clamp_max(1.0)
}

/// Global L2 norm of all gradients of `module`'s parameters, as a (1,) device tensor.
pub fn global_norm<M: Module>(module: &M, grads: &GradientsParams) -> Option<Tensor<1>> {
    Some(flat_norm(&concatenated(module, grads)?.0))
}

/// Scales all gradients by `min(1, max_norm / (‖g‖ + 1e-6))` and returns the pre-clip norm.
/// One multiply over the concatenation; the gradients become views into it.
pub fn clip_global_norm<M: Module>(
    module: &M,
    grads: &mut GradientsParams,
    max_norm: f64,
) -> Option<Tensor<1>> {
    let (flat, layout) = concatenated(module, grads)?;
    let norm = flat_norm(&flat);
    let coef = clip_coef(norm.clone(), max_norm);
    let mut v = Rescaled {
        grads,
        flat: flat * coef,
        layout: &layout,
        k: 0,
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
