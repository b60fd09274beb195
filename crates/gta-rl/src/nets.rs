//! Networks of the Q-learning algorithms (method.md §9.3): ReLU MLPs with PyTorch's default
//! `nn.Linear` init, twin critics fused into one batched network (gpu-performance.md §6b), and
//! the Polyak update of target networks.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::nn::Linear;
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor, TensorData};
use rand::RngExt;
use rand_chacha::ChaCha8Rng;

/// `U(−k, k)` of `shape` drawn on the host from `rng` and uploaded. Initialisation uses a host
/// stream rather than the device RNG because the device RNG is global to the process (two runs
/// in parallel threads would interleave their draws).
pub fn uniform<const D: usize>(
    rng: &mut ChaCha8Rng,
    shape: [usize; D],
    k: f64,
    device: &Device,
) -> Tensor<D> {
    let n = shape.iter().product();
    let k = k as f32;
    let v: Vec<f32> = (0..n).map(|_| rng.random_range(-k..k)).collect();
    Tensor::from_data(TensorData::new(v, shape), device)
}

/// PyTorch's `nn.Linear` init: weight `[in, out]` and bias from U(±1/√in).
pub fn linear(d_in: usize, d_out: usize, rng: &mut ChaCha8Rng, device: &Device) -> Linear {
    let k = 1.0 / (d_in as f64).sqrt();
    Linear {
        weight: Param::from_tensor(uniform(rng, [d_in, d_out], k, device)),
        bias: Some(Param::from_tensor(uniform(rng, [d_out], k, device))),
    }
}

/// `in → hidden × n_hidden → out` ReLU MLP without output activation (CORL's `MLP`/`Actor`
/// trunk), initialised like PyTorch ([`linear`]).
#[derive(Module, Debug)]
pub struct Mlp {
    /// The layers; weight `[in, out]`.
    pub layers: Vec<Linear>,
}

impl Mlp {
    /// A fresh MLP with layer widths `sizes`, weights drawn from `rng`.
    pub fn new(sizes: &[usize], rng: &mut ChaCha8Rng, device: &Device) -> Self {
        let layers = sizes
            .windows(2)
            .map(|w| linear(w[0], w[1], rng, device))
            .collect();
        Self { layers }
    }

    /// `x (B, in) → (B, out)`, ReLU between layers.
    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let last = self.layers.len() - 1;
        let mut h = x;
        for (i, layer) in self.layers.iter().enumerate() {
            h = layer.forward(h);
            if i < last {
                h = relu(h);
            }
        }
        h
    }
}

/// The widths `[input, hidden × n_hidden, output]`.
pub fn layer_sizes(input: usize, hidden: usize, n_hidden: usize, output: usize) -> Vec<usize> {
    let mut sizes = vec![input];
    sizes.extend(std::iter::repeat_n(hidden, n_hidden));
    sizes.push(output);
    sizes
}

/// Two Q networks `(s, a) → q` evaluated in one pass: layer k holds both critics' weights as
/// `[2, in, out]` and biases as `[2, 1, out]`, so each layer is one batched matmul (3 GEMMs
/// instead of 6, gpu-performance.md §6b). Each critic slice is initialised like `nn.Linear`.
#[derive(Module, Debug)]
pub struct TwinCritic {
    /// Weights `[2, in, out]` per layer.
    pub weights: Vec<Param<Tensor<3>>>,
    /// Biases `[2, 1, out]` per layer.
    pub biases: Vec<Param<Tensor<3>>>,
}

impl TwinCritic {
    /// Fresh twin critics with layer widths `sizes` (first = obs_dim + act_dim, last = 1),
    /// weights drawn from `rng`.
    pub fn new(sizes: &[usize], rng: &mut ChaCha8Rng, device: &Device) -> Self {
        let mut weights = Vec::new();
        let mut biases = Vec::new();
        for w in sizes.windows(2) {
            let k = 1.0 / (w[0] as f64).sqrt();
            weights.push(Param::from_tensor(uniform(rng, [2, w[0], w[1]], k, device)));
            biases.push(Param::from_tensor(uniform(rng, [2, 1, w[1]], k, device)));
        }
        Self { weights, biases }
    }

    /// `(s (B, S), a (B, A)) → q (2, B, 1)`: both critics on the same input.
    pub fn forward(&self, observations: Tensor<2>, actions: Tensor<2>) -> Tensor<3> {
        let x = Tensor::cat(vec![observations, actions], 1);
        let [b, d] = x.dims();
        let mut h = x.reshape([1, b, d]).repeat_dim(0, 2);
        let last = self.weights.len() - 1;
        for (i, (w, bias)) in self.weights.iter().zip(&self.biases).enumerate() {
            h = h.matmul(w.val()) + bias.val();
            if i < last {
                h = relu(h);
            }
        }
        h
    }

    /// `min(Q1, Q2)`: (B, 1).
    pub fn min_q(&self, observations: Tensor<2>, actions: Tensor<2>) -> Tensor<2> {
        self.forward(observations, actions)
            .min_dim(0)
            .squeeze_dim::<2>(0)
    }

    /// `Q1` alone: (B, 1).
    pub fn q1(&self, observations: Tensor<2>, actions: Tensor<2>) -> Tensor<2> {
        let q = self.forward(observations, actions);
        let [_, n, _] = q.dims();
        q.slice([0..1, 0..n, 0..1]).squeeze_dim::<2>(0)
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

struct Polyak {
    online: std::vec::IntoIter<Tensor<1>>,
    tau: f64,
}

impl ModuleMapper for Polyak {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let theta = self.online.next().expect("same architecture");
        let tau = self.tau;
        // One fused kernel on CUDA; the CPU computes `t·(1−τ) + θ·τ` as before.
        param.map(|t| {
            let shape = t.shape();
            gta_nn::kernels::axpby(t, theta.reshape(shape), (1.0 - tau) as f32, tau as f32)
        })
    }
}

/// Soft target update `θ′ ← τ·θ + (1 − τ)·θ′` of every float parameter (CORL `soft_update`).
/// `online` must be a non-autodiff module (`.valid()`) of the same architecture as `target`.
pub fn soft_update<M: Module>(target: M, online: &M, tau: f64) -> M {
    let mut collect = Collect(Vec::new());
    online.visit(&mut collect);
    target.map(&mut Polyak {
        online: collect.0.into_iter(),
        tau,
    })
}

/// Every float parameter of `module`, flattened to host f32, in visit order (for tests and
/// the host copy of the actor).
pub fn host_params<M: Module>(module: &M) -> Vec<Vec<f32>> {
    let mut collect = Collect(Vec::new());
    module.visit(&mut collect);
    collect
        .0
        .into_iter()
        .map(|t| {
            t.into_data()
                .convert::<f32>()
                .try_to_vec::<f32>()
                .expect("f32 data")
        })
        .collect()
}
