//! The optimizer step captured as one CUDA graph and replayed (issue 5).
//!
//! A MixerUnet training step is ≈ 3,000 kernel launches. Launched one by one from the host they
//! cost 15–30 µs each in burn's dispatch, autodiff bookkeeping and CubeCL's launch path, which is
//! more than the GPU needs to run them (`benchmarks/RESULTS.md`, session 6: 42 ms of GPU time in
//! a 95–140 ms step). Recorded once into a CUDA graph, the whole step is one launch.
//!
//! A graph replays its kernels against the buffers and launch arguments of the recorded run, so
//! everything that changes from step to step lives in device buffers that keep their address:
//!
//! - the host-drawn inputs (window indices, σ, the condition-dropout mask, the noise) are
//!   packed into one buffer ([`Packed`]) and copied into it in place before every step;
//! - the parameters and both Adam moments live in three flat buffers ([`FlatLayout`], each
//!   parameter a view of its aligned segment), updated in place by one clipped-Adam kernel
//!   ([`gta_nn::kernels::adam_flat`]) that reads the clip factor and the step's learning rate
//!   and bias corrections from the device; the host writes those scalars between replays.
//!
//! Flat buffers also cut launches: one Adam kernel instead of one per parameter tensor (318),
//! and no copies of the clipped gradients.
//!
//! The sequence (one device, [`crate::TrainConfig::cuda_graph`]):
//!
//! 1. the first step of a run (or after a resume) is the ordinary one: it creates the Adam
//!    states;
//! 2. the second moves weights and moments into the flat buffers (the optimizer's states become
//!    views of them, so checkpoints keep their format), arms the allocator (`graph_prepare`) and
//!    runs the capturable step eagerly: the warm-up, which leaves the memory pools holding what
//!    the recording will ask for;
//! 3. the third is recorded and then replayed; every later step writes its inputs and
//!    replays.
//!
//! Replayed steps run the same kernels with the same arguments every time. Against the ordinary
//! step the arithmetic is the same; on CUDA the two agree to the bit, apart from the order of the
//! gradient-norm reduction (`benchmarks/gpu-session7.sh graph-eq`), on the CPU to f32 rounding
//! (test below). The EMA update (every 10 steps) stays outside the graph. On a backend without
//! graph support (the CPU) step 3 falls back to re-running the capturable step every time.

use burn::backend::{Backend, BackendGraph, Dispatch};
use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::{DType, Device, FloatDType, Tensor, TensorData};
use gta_nn::kernels::{AdamScalars, adam_flat, copy_into};
use gta_nn::optim::{FlatMoments, StateAccess};

use crate::config::DiffusionConfig;
use crate::denoiser::Denoiser;
use crate::grad::{FlatLayout, clip_coef, concatenated, flat_norm};
use crate::train::{ShardEnv, StepInputs};

/// Where the capture stands.
enum Phase {
    /// The next step arms the allocator and runs eagerly.
    Warmup,
    /// The next step is recorded, then replayed.
    Capture,
    /// Every step replays this graph.
    Replay(BackendGraph<Dispatch>),
    /// No graph support on this backend: every step re-runs the capturable step.
    Eager,
}

/// Offsets of the packed host inputs of one step: `[idx (as f32) | σ | keep | noise]`.
#[derive(Clone, Copy, Debug)]
struct Packed {
    batch: usize,
    horizon: usize,
    width: usize,
}

impl Packed {
    fn len(&self) -> usize {
        self.batch * (3 + self.horizon * self.width)
    }

    /// The inputs as one host vector. Window indices travel as f32, exact below 2^24.
    fn pack(&self, inputs: &StepInputs) -> Vec<f32> {
        let b = self.batch;
        assert_eq!(inputs.idx.len(), b, "graph step: batch size changed");
        let mut out = Vec::with_capacity(self.len());
        out.extend(inputs.idx.iter().map(|&i| {
            assert!(i < 1 << 24, "graph step: window index {i} ≥ 2^24");
            i as f32
        }));
        out.extend_from_slice(&inputs.draw.sigma);
        if inputs.draw.keep.len() == b {
            out.extend_from_slice(&inputs.draw.keep);
        } else {
            out.extend(std::iter::repeat_n(1.0, b));
        }
        out.extend_from_slice(&inputs.draw.noise);
        assert_eq!(out.len(), self.len(), "graph step: input sizes");
        out
    }
}

/// Each float parameter's id and value, flattened, in visiting order.
struct Values(Vec<(ParamId, Tensor<1>)>);

impl ModuleVisitor for Values {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let t = param.val().inner();
        let n = t.shape().num_elements();
        self.0.push((param.id, t.reshape([n])));
    }
}

/// Registers every float parameter's own value as its "gradient": a gradient set that makes the
/// optimizer visit every parameter (the values are not used by an export or an install).
struct AllParams(GradientsParams);

impl ModuleVisitor for AllParams {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.0.register::<D>(param.id, param.val().inner());
    }
}

/// One optimizer pass over every parameter with `access` armed (export or install).
fn visit_optimizer(model: Denoiser, optim: &mut ModuleOptimizer) -> Denoiser {
    let mut all = AllParams(GradientsParams::new());
    model.visit(&mut all);
    optim.step(0.0, model, all.0)
}

/// Makes the parameters in `layout` views of their segments of `flat` (trainable leaves).
struct Views<'a> {
    layout: &'a FlatLayout,
    flat: &'a Tensor<1>,
    k: usize,
}

impl ModuleMapper for Views<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let k = self.k;
        if self.layout.ids.get(k) != Some(&param.id) {
            return param;
        }
        self.k += 1;
        param.map(|t| {
            let view: Tensor<D> = self.layout.segment(self.flat, k, t.shape());
            view.autodiff().require_grad()
        })
    }
}

/// The flat buffers, the device inputs and the captured graph of one run's step.
pub(crate) struct GraphStep {
    layout: Packed,
    /// Where each trained parameter lives in `params`, `m` and `v`.
    flat: FlatLayout,
    params: Tensor<1>,
    m: Tensor<1>,
    v: Tensor<1>,
    /// Adam's step counter of the last step taken.
    time: usize,
    /// The packed inputs, refreshed in place before every step.
    inputs: Tensor<1>,
    /// `[lr, combined_factor, eps_hat]` of the next update, refreshed in place.
    scalars: Tensor<1>,
    phase: Phase,
    /// Loss and pre-clip norm as written by the recorded run; every replay rewrites them.
    outputs: Option<(Tensor<1>, Tensor<1>)>,
}

impl GraphStep {
    /// Moves `model`'s weights and `optim`'s moments (the optimizer must hold `access` and have
    /// stepped at least once) into flat buffers, for steps of `env`'s shapes at batch `batch`.
    /// Returns the model whose parameters are views of the flat weights.
    pub fn enter(
        env: &ShardEnv,
        batch: usize,
        model: Denoiser,
        optim: &mut ModuleOptimizer,
        access: &StateAccess,
    ) -> (Self, Denoiser) {
        access.export();
        let model = visit_optimizer(model, optim);
        let (moments, time) = access.take_export();
        assert!(
            time > 0,
            "the captured step needs Adam states (take an ordinary step first)"
        );
        let mut values = Values(Vec::new());
        model.visit(&mut values);
        assert_eq!(
            values.0.len(),
            moments.len(),
            "one export entry per parameter"
        );
        // Parameters without an Adam state (never given a gradient) stay outside.
        let mut flat = FlatLayout::default();
        let (mut ps, mut ms, mut vs) = (Vec::new(), Vec::new(), Vec::new());
        for ((id, value), moment) in values.0.into_iter().zip(&moments) {
            if let Some((m, v)) = moment {
                flat.push(id, value.shape().num_elements());
                ps.push(value);
                ms.push(m.clone());
                vs.push(v.clone());
            }
        }
        let (params, m, v) = (flat.gather(ps), flat.gather(ms), flat.gather(vs));
        let model = model.map(&mut Views {
            layout: &flat,
            flat: &params,
            k: 0,
        });
        let packed = Packed {
            batch,
            horizon: env.horizon,
            width: env.width,
        };
        let mut step = Self {
            layout: packed,
            flat,
            params,
            m,
            v,
            time,
            // f32 whatever the run's float dtype: window indices must stay exact.
            inputs: Tensor::zeros([packed.len()], (&env.device, DType::F32)),
            scalars: Tensor::zeros([3], &env.device),
            phase: Phase::Warmup,
            outputs: None,
        };
        let model = step.sync(model, optim, access);
        (step, model)
    }

    /// Installs views of the current flat moments, with the current step counter, as the
    /// optimizer's states, so that it saves (and would continue) exactly this state.
    pub fn sync(
        &mut self,
        model: Denoiser,
        optim: &mut ModuleOptimizer,
        access: &StateAccess,
    ) -> Denoiser {
        let mut ids = Ids(Vec::new());
        model.visit(&mut ids);
        let mut k = 0;
        let moments: Vec<FlatMoments> = ids
            .0
            .iter()
            .map(|id| {
                (self.flat.ids.get(k) == Some(id)).then(|| {
                    k += 1;
                    let n = burn::tensor::Shape::from(vec![self.flat.lens[k - 1]]);
                    (
                        self.flat.segment(&self.m, k - 1, n.clone()),
                        self.flat.segment(&self.v, k - 1, n),
                    )
                })
            })
            .collect();
        access.install(moments, self.time);
        let model = visit_optimizer(model, optim);
        access.reset();
        model
    }

    /// One optimizer step through the capturable path (see the module doc). `step` is the
    /// 0-based step index (it fixes the learning rate). Returns the model (views of the updated
    /// flat weights), and the loss and pre-clip norm in buffers of their own.
    // In a build without a graph-capable backend the captured graph's type is uninhabited, so
    // the code after a successful capture is unreachable there.
    #[allow(unreachable_code, unused_variables)]
    pub fn step(
        &mut self,
        env: &ShardEnv,
        config: &DiffusionConfig,
        step: u64,
        model: Denoiser,
        inputs: &StepInputs,
    ) -> (Denoiser, Tensor<1>, Tensor<1>) {
        let device = &env.device;
        // Diagnosis only (GTA_GRAPH_DIAG=stale-inputs): replays reuse the captured step's inputs,
        // to measure what writing them costs. Not a training mode.
        let stale = matches!(self.phase, Phase::Replay(_)) && stale_inputs_diagnosis();
        if !stale {
            let host = self.layout.pack(inputs);
            let n = host.len();
            let fresh = Tensor::<1>::from_data(TensorData::new(host, [n]), (device, DType::F32));
            self.inputs = copy_into(self.inputs.clone(), fresh);
        }
        let t = &config.train;
        self.time += 1;
        let s = AdamScalars::new(
            t.beta_1 as f32,
            t.beta_2 as f32,
            t.epsilon as f32,
            self.time,
            t.lr_at(step),
        );
        let fresh = Tensor::<1>::from_floats([s.lr as f32, s.combined_factor, s.eps_hat], device);
        self.scalars = copy_into(self.scalars.clone(), fresh);

        let dispatch = device.as_dispatch();
        match &self.phase {
            Phase::Replay(graph) => {
                // SAFETY: every buffer the recorded step reads or writes is alive: the inputs,
                // scalars, flat weights and moments and the outputs are held here, the data and
                // mask by `env`; everything else was allocated inside the window and is pinned
                // by the graph. All writes and reads go through this thread's stream, ordered
                // with the replay.
                unsafe { Dispatch::graph_replay(dispatch, graph) }.unwrap_or_else(|e| {
                    panic!(
                        "replaying the captured training step failed: {e} \
                         (GTA_CUDA_GRAPH=0 or `[train] cuda_graph = false` launches op by op)"
                    )
                });
                let (loss, norm) = self.outputs.as_ref().expect("outputs of the recorded step");
                // Copies: the next replay overwrites the graph's own output buffers.
                (
                    model,
                    loss.clone().mul_scalar(1.0),
                    norm.clone().mul_scalar(1.0),
                )
            }
            Phase::Warmup => {
                // Arms the allocator; the eager run below is the warm-up the recording needs.
                // GTA_CUDA_GRAPH=eager keeps the flat-buffer step without the graph (diagnosis).
                if std::env::var("GTA_CUDA_GRAPH").is_ok_and(|v| v == "eager") {
                    self.phase = Phase::Eager;
                } else if let Err(e) = Dispatch::graph_prepare(dispatch) {
                    tracing::warn!("no CUDA graph for the training step ({e}); launching op by op");
                    self.phase = Phase::Eager;
                } else {
                    self.phase = Phase::Capture;
                }
                self.body(env, config, model)
            }
            Phase::Capture => match Dispatch::graph_start_capture(dispatch) {
                Err(_) => {
                    // No hardware graphs (the CPU): re-run the step every time.
                    self.phase = Phase::Eager;
                    self.body(env, config, model)
                }
                Ok(()) => {
                    let (model, loss, norm) = self.body(env, config, model);
                    let graph = Dispatch::graph_stop_capture(dispatch).unwrap_or_else(|e| {
                        // The recorded launches never ran and the buffers they would have
                        // written now carry the failure, so the run cannot go on.
                        panic!(
                            "capturing the training step as a CUDA graph failed: {e}. Rerun \
                             with GTA_CUDA_GRAPH=0 (or `[train] cuda_graph = false`) to launch \
                             op by op"
                        )
                    });
                    // SAFETY: as for the replays above; the recorded step has not run yet, this
                    // replay is its execution.
                    unsafe { Dispatch::graph_replay(dispatch, &graph) }.unwrap_or_else(|e| {
                        panic!("replaying the captured training step failed: {e}")
                    });
                    self.phase = Phase::Replay(graph);
                    let out = (loss.clone().mul_scalar(1.0), norm.clone().mul_scalar(1.0));
                    self.outputs = Some((loss, norm));
                    (model, out.0, out.1)
                }
            },
            Phase::Eager => self.body(env, config, model),
        }
    }

    /// The capturable step: inputs read from the packed buffer, the EDM loss and its gradients,
    /// the gradients gathered into a flat buffer, its norm, and one clipped-Adam update of the
    /// flat weights and moments. Nothing here reads from or writes to the host.
    fn body(
        &mut self,
        env: &ShardEnv,
        config: &DiffusionConfig,
        model: Denoiser,
    ) -> (Denoiser, Tensor<1>, Tensor<1>) {
        let Packed {
            batch: b,
            horizon: h,
            width: w,
        } = self.layout;
        let buf = &self.inputs;
        // The run's float dtype (that of the parameters and Adam's scalars).
        let dtype = FloatDType::from(self.scalars.dtype());
        let idx = buf.clone().slice(0..b).int();
        let sigma = buf.clone().slice(b..2 * b).cast(dtype);
        let keep = env
            .conditional
            .then(|| buf.clone().slice(2 * b..3 * b).reshape([b, 1]).cast(dtype));
        let noise = buf
            .clone()
            .slice(3 * b..self.layout.len())
            .reshape([b, h, w])
            .cast(dtype);
        let (loss, grads) = env.loss_and_grads_on(&model, idx, sigma, noise, keep);
        let (flat_grad, layout) = concatenated(&model, &grads).expect("gradients");
        assert_eq!(
            layout, self.flat,
            "the parameters with gradients changed since the flat buffers were laid out"
        );
        let norm = flat_norm(&flat_grad);
        let coef = clip_coef(norm.clone(), config.train.grad_clip);
        let t = &config.train;
        let (params, m, v) = adam_flat(
            self.params.clone(),
            flat_grad,
            self.m.clone(),
            self.v.clone(),
            coef,
            self.scalars.clone(),
            t.beta_1 as f32,
            t.beta_2 as f32,
        );
        (self.params, self.m, self.v) = (params, m, v);
        // On CUDA the update was in place and these are views of the same buffer; on the CPU
        // the update returned new buffers.
        let model = model.map(&mut Views {
            layout: &self.flat,
            flat: &self.params,
            k: 0,
        });
        (model, loss, norm)
    }
}

/// Every float parameter's id, in visiting order.
struct Ids(Vec<ParamId>);

impl ModuleVisitor for Ids {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.0.push(param.id);
    }
}

/// `GTA_GRAPH_DIAG=stale-inputs` (read once): see [`GraphStep::step`].
fn stale_inputs_diagnosis() -> bool {
    static STALE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *STALE.get_or_init(|| std::env::var("GTA_GRAPH_DIAG").is_ok_and(|v| v == "stale-inputs"))
}

/// Whether the run's configuration and environment allow the captured step: the setting and
/// `GTA_CUDA_GRAPH` (unless `0`), the fused Adam (not `GTA_COMPOSITE_ADAM=1`), and a device
/// other than the CPU's (tests opt in on the CPU with `force`).
pub(crate) fn enabled(config: &DiffusionConfig, device: &Device, force: bool) -> bool {
    if force {
        return true;
    }
    config.train.cuda_graph
        && !std::env::var("GTA_CUDA_GRAPH").is_ok_and(|v| v == "0")
        && !gta_nn::optim::composite_adam_requested()
        && *device != Device::flex()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint;
    use crate::data::TrainData;
    use crate::data_parallel::tests::{config as dp_config, weights as values};
    use crate::train::Trainer;

    fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
        assert_eq!(a.len(), b.len());
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max)
    }

    /// The data-parallel tests' small MixerUnet run, with an LR restart inside the test's steps.
    fn config() -> DiffusionConfig {
        let mut c = dp_config(8);
        c.train.restart_period = Some(4);
        c
    }

    /// The capturable step (on the CPU the "graph" re-runs it: packed inputs, flat weights and
    /// moments, one clipped-Adam update, device-side scalars) follows the ordinary step through
    /// an EMA copy → blend switch and an LR restart: same losses and norms, weights and EMA to
    /// f32 rounding (the CPU's vector kernels round the flat and per-tensor layouts slightly
    /// differently). Its checkpoint (after the optimizer sync) holds the flat moments and step
    /// counter: resuming it continues the run.
    #[test]
    fn capturable_step_follows_the_ordinary_step() {
        let data = TrainData::synthetic(3, 2, 4, 64, 7);
        let device = Device::flex();
        let mut plain = Trainer::new(config(), &data, &device).unwrap();
        let mut graph = Trainer::new(config(), &data, &device).unwrap();
        graph.force_graph_step();
        let initial = values(graph.model());
        assert_eq!(values(plain.model()), initial);
        for step in 0..9 {
            let (lp, np) = plain.train_step();
            let (lg, ng) = graph.train_step();
            let (lp, lg) = (lp.into_scalar::<f32>(), lg.into_scalar::<f32>());
            assert!(
                (lp - lg).abs() <= 1e-5 * lp.abs(),
                "loss of step {step}: {lp} vs {lg}"
            );
            let (np, ng) = (np.into_scalar::<f32>(), ng.into_scalar::<f32>());
            assert!(
                (np - ng).abs() <= 1e-5 * np.abs(),
                "norm of step {step}: {np} vs {ng}"
            );
        }
        assert!(graph.uses_graph_step(), "the capturable path ran");
        let (wp, wg) = (values(plain.model()), values(graph.model()));
        assert!(
            max_abs_diff(&wp, &wg) < 1e-5,
            "weights {}",
            max_abs_diff(&wp, &wg)
        );
        assert!(max_abs_diff(&wg, &initial) > 1e-4, "the weights moved");
        let (ep, eg) = (values(plain.ema()), values(graph.ema()));
        assert!(
            max_abs_diff(&ep, &eg) < 1e-5,
            "EMA {}",
            max_abs_diff(&ep, &eg)
        );

        let dir = tempfile::tempdir().unwrap();
        assert!(graph.optimizer_is_stale());
        assert!(
            checkpoint::save(&graph, dir.path()).is_err(),
            "a stale optimizer is not saved"
        );
        graph.sync_optimizer();
        let (pa, pb) = (dir.path().join("a"), dir.path().join("b"));
        let pa = checkpoint::save(&plain, &pa).unwrap();
        let pb = checkpoint::save(&graph, &pb).unwrap();
        let mut ra = checkpoint::load(&pa, &data, &device).unwrap();
        let mut rb = checkpoint::load(&pb, &data, &device).unwrap();
        rb.force_graph_step();
        for step in 9..13 {
            let (la, _) = ra.train_step();
            let (lb, _) = rb.train_step();
            let (lg, _) = graph.train_step();
            let (la, lb, lg) = (
                la.into_scalar::<f32>(),
                lb.into_scalar::<f32>(),
                lg.into_scalar::<f32>(),
            );
            assert!(
                (la - lb).abs() <= 1e-5 * la.abs(),
                "resumed loss of step {step}: {la} vs {lb}"
            );
            assert!(
                (lg - lb).abs() <= 1e-5 * lg.abs(),
                "uninterrupted {lg} vs resumed {lb}"
            );
        }
        let (wa, wb) = (values(ra.model()), values(rb.model()));
        assert!(
            max_abs_diff(&wa, &wb) < 1e-5,
            "resumed weights {}",
            max_abs_diff(&wa, &wb)
        );
    }
}
