//! The training loop (method.md §5): Adam (β 0.9/0.99, ε 1e-8), global-norm clipping, LR
//! schedule, EMA, device-resident data, progress through a callback.

use std::time::Instant;

use burn::module::Module;
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::config::DiffusionConfig;
use crate::data::{DeviceData, TrainData, WindowSampler};
use crate::data_parallel::DataParallel;
use crate::denoiser::{Denoiser, DenoiserConfig};
use crate::edm::{TrainNoise, edm_loss, loss_mask};
use crate::error::DiffusionError;
use crate::graph_step::GraphStep;
use gta_nn::optim::StateAccess;

/// One progress report, emitted every `log_every` steps and at the end of [`Trainer::train`].
#[derive(Clone, Debug, PartialEq)]
pub struct StepReport {
    /// Optimizer steps taken so far.
    pub step: u64,
    /// Mean training loss over the steps since the previous report.
    pub loss: f64,
    /// Learning rate of the last step.
    pub lr: f64,
    /// Global gradient norm (before clipping) of the last step.
    pub grad_norm: f64,
    /// Steps per second since the previous report (wall clock, device synced).
    pub steps_per_s: f64,
}

impl StepReport {
    /// CSV header matching [`StepReport::csv_row`].
    pub const CSV_HEADER: &'static str = "step,loss,lr,grad_norm,steps_per_s";

    /// One CSV row.
    pub fn csv_row(&self) -> String {
        format!(
            "{},{},{},{},{}",
            self.step, self.loss, self.lr, self.grad_norm, self.steps_per_s
        )
    }
}

/// Builds the network for `config` with `T`, `D` taken from the data, seeded from the run seed.
pub fn init_model(
    config: &DiffusionConfig,
    horizon: usize,
    transition_dim: usize,
    device: &Device,
) -> Denoiser {
    let mut model = config.model.clone();
    model.set_shape(horizon, transition_dim);
    device.seed(crate::derive_seed(config.train.seed, crate::STREAM_INIT, 0));
    model.init(device)
}

/// Adam with the run's β1, β2, ε and no weight decay (method.md §5; burn's defaults differ);
/// one fused kernel per parameter tensor on CUDA ([`gta_nn::optim`]).
pub(crate) fn build_optimizer(config: &DiffusionConfig) -> ModuleOptimizer {
    build_optimizer_with(config, None)
}

/// [`build_optimizer`] whose fused Adam carries `access` (the captured step moves the moments
/// through it, see [`crate::graph_step`]); it behaves exactly as the plain one otherwise.
pub(crate) fn build_optimizer_with(
    config: &DiffusionConfig,
    access: Option<StateAccess>,
) -> ModuleOptimizer {
    let t = &config.train;
    gta_nn::optim::adam_with(t.beta_1 as f32, t.beta_2 as f32, t.epsilon as f32, access)
}

/// A training run: the online model (autodiff), its EMA, the optimizer, the data on the device
/// and the sampler. All randomness is a function of `(seed, step)`; see [`crate::derive_seed`].
pub struct Trainer {
    /// The resolved configuration.
    pub config: DiffusionConfig,
    model: Option<Denoiser>,
    ema: Denoiser,
    optim: ModuleOptimizer,
    env: ShardEnv,
    sampler: WindowSampler,
    step: u64,
    /// The other replicas and their worker threads when training on several devices
    /// ([`Trainer::enable_data_parallel`]); `None` on one device.
    parallel: Option<DataParallel>,
    /// The state access shared with `optim`'s fused Adam (the captured step's moments).
    access: StateAccess,
    /// Ordinary steps since the run was created or restored (the captured step needs one).
    ordinary_steps: u64,
    /// The captured (CUDA-graph) step, once the run uses it ([`crate::graph_step`]).
    graph: Option<GraphStep>,
    /// Whether the captured step is used (config, environment and device; see
    /// [`crate::graph_step::enabled`]).
    graph_enabled: bool,
    /// The optimizer's states lag behind the captured step's flat buffers until
    /// [`Trainer::sync_optimizer`] runs.
    optim_stale: bool,
}

/// The host-side random inputs of one optimizer step (or of one shard of it): window indices and
/// the EDM training noise, drawn from the run's seeded streams.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct StepInputs {
    /// Window indices, (B,).
    pub idx: Vec<i64>,
    /// σ, n and the condition-dropout mask for those windows.
    pub draw: TrainNoise,
}

impl StepInputs {
    /// Samples `k·b/n … (k+1)·b/n − 1` of every per-sample array (`n` must divide `b`): shard `k`
    /// of `n` in data-parallel training. Shards are contiguous, so concatenating them in order
    /// gives back the whole batch.
    pub fn shard(&self, k: usize, n: usize, horizon: usize, width: usize) -> StepInputs {
        let b = self.idx.len();
        debug_assert!(b.is_multiple_of(n) && k < n);
        let s = b / n;
        let rows = k * s..(k + 1) * s;
        let per = horizon * width;
        StepInputs {
            idx: self.idx[rows.clone()].to_vec(),
            draw: TrainNoise {
                sigma: self.draw.sigma[rows.clone()].to_vec(),
                noise: self.draw.noise[rows.start * per..rows.end * per].to_vec(),
                keep: self.draw.keep[rows].to_vec(),
            },
        }
    }
}

/// Everything a replica needs, besides its weights, to compute the loss of a (sub)batch on its
/// device: the device-resident training data, the loss mask and the shapes. Cheap to clone (the
/// tensors are shared handles).
#[derive(Clone, Debug)]
pub(crate) struct ShardEnv {
    pub device: Device,
    pub data: DeviceData,
    pub mask: Option<Tensor<2>>,
    pub conditional: bool,
    pub horizon: usize,
    pub width: usize,
    pub sigma_data: f64,
}

impl ShardEnv {
    /// The same environment on `device`: the training data copied there (device to device),
    /// the loss mask rebuilt there.
    pub fn to_device(&self, device: &Device) -> Self {
        Self {
            device: device.clone(),
            data: self.data.to_device(device),
            mask: self
                .mask
                .as_ref()
                .map(|m| m.clone().inner().to_device(device).autodiff()),
            ..self.clone()
        }
    }

    /// Masked EDM loss of `model` on `inputs` (mean over its samples) and its gradients.
    /// Returns the loss detached, as a (1,) tensor on the plain device.
    pub fn loss_and_grads(
        &self,
        model: &Denoiser,
        inputs: &StepInputs,
    ) -> (Tensor<1>, GradientsParams) {
        let b = inputs.idx.len();
        let dev = &self.device;
        let idx = Tensor::<1, Int>::from_data(TensorData::new(inputs.idx.clone(), [b]), dev);
        let draw = &inputs.draw;
        let sigma = Tensor::<1>::from_data(TensorData::new(draw.sigma.clone(), [b]), dev);
        let noise = Tensor::<3>::from_data(
            TensorData::new(draw.noise.clone(), [b, self.horizon, self.width]),
            dev,
        );
        let keep = self
            .conditional
            .then(|| Tensor::<2>::from_data(TensorData::new(draw.keep.clone(), [b, 1]), dev));
        self.loss_and_grads_on(model, idx, sigma, noise, keep)
    }

    /// [`Self::loss_and_grads`] on inputs already on the device (plain, non-autodiff tensors):
    /// window indices (B,), σ (B,), noise (B, T, D) and the condition keep mask (B, 1), which an
    /// unconditional model ignores. Launches kernels only (the captured step, `graph_step`).
    pub fn loss_and_grads_on(
        &self,
        model: &Denoiser,
        idx: Tensor<1, Int>,
        sigma: Tensor<1>,
        noise: Tensor<3>,
        keep: Option<Tensor<2>>,
    ) -> (Tensor<1>, GradientsParams) {
        let (x0, cond) = self.data.batch(idx);
        let (sigma, noise) = (sigma.autodiff(), noise.autodiff());
        let (cond, keep) = match keep {
            Some(keep) if self.conditional => (Some(cond.autodiff()), Some(keep.autodiff())),
            _ => (None, None),
        };
        let mask = self.mask.clone().unwrap_or_else(|| {
            Tensor::ones([self.horizon, self.width], &self.device.clone().autodiff())
        });
        let loss = edm_loss(
            model,
            x0.autodiff(),
            sigma,
            noise,
            cond,
            keep,
            mask,
            self.sigma_data,
        );
        let grads = GradientsParams::from_grads(loss.backward(), model);
        (loss.detach().inner(), grads)
    }
}

/// The window indices of the next `train.batch_size` windows of `sampler` and the noise of step
/// `step` (stream `(seed, STREAM_NOISE, step)`), for the whole global batch.
pub(crate) fn draw_step_inputs(
    config: &DiffusionConfig,
    sampler: &mut WindowSampler,
    step: u64,
    (horizon, width): (usize, usize),
) -> StepInputs {
    let b = config.train.batch_size;
    let idx = sampler.next_batch(b).into_iter().map(i64::from).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(crate::derive_seed(
        config.train.seed,
        crate::STREAM_NOISE,
        step,
    ));
    let draw = TrainNoise::draw(&mut rng, &config.edm, b, horizon, width);
    StepInputs { idx, draw }
}

/// Global-norm clipping and the optimizer step with the learning rate of step `step`. Returns
/// the updated model and the pre-clip norm (a (1,) tensor on `device`).
pub(crate) fn clip_and_step(
    config: &DiffusionConfig,
    step: u64,
    model: Denoiser,
    mut grads: GradientsParams,
    optim: &mut ModuleOptimizer,
    device: &Device,
) -> (Denoiser, Tensor<1>) {
    let norm = crate::grad::clip_global_norm(&model, &mut grads, config.train.grad_clip)
        .unwrap_or_else(|| Tensor::zeros([1], device));
    let lr = config.train.lr_at(step);
    (optim.step(lr, model, grads), norm)
}

impl Trainer {
    /// A fresh run on `device` (model initialised from the run seed).
    pub fn new(
        config: DiffusionConfig,
        data: &TrainData,
        device: &Device,
    ) -> Result<Self, DiffusionError> {
        let model = init_model(&config, data.horizon, data.transition_dim, device);
        Self::with_model(config, data, model, device)
    }

    /// A fresh run starting from the given (non-autodiff or autodiff) `model`.
    pub fn with_model(
        config: DiffusionConfig,
        data: &TrainData,
        model: Denoiser,
        device: &Device,
    ) -> Result<Self, DiffusionError> {
        config.validate()?;
        let device = device.clone();
        let data_dev = DeviceData::new(data, &device)?;
        if let DenoiserConfig::ResMlp(_) = config.model
            && data.horizon != 1
        {
            return Err(DiffusionError::Config {
                key: "model.kind",
                expected: format!(
                    "res_mlp denoises single transitions (T = 1), data has T = {}",
                    data.horizon
                ),
            });
        }
        let conditional = model.is_conditional();
        let mask = data.has_next_state_row().then(|| {
            loss_mask(
                data.horizon,
                data.transition_dim,
                Some(data.obs_dim),
                &device,
            )
            .autodiff()
        });
        let model = model.valid().train();
        let ema = model.valid();
        let access = StateAccess::default();
        let optim = build_optimizer_with(&config, Some(access.clone()));
        // The captured step passes window indices as f32, exact below 2^24 windows.
        let graph_enabled =
            crate::graph_step::enabled(&config, &device, false) && data.num_windows() < 1 << 24;
        let sampler = WindowSampler::new(config.train.seed, data.num_windows());
        let env = ShardEnv {
            device,
            data: data_dev,
            mask,
            conditional,
            horizon: data.horizon,
            width: data.transition_dim,
            sigma_data: config.edm.sigma_data,
        };
        Ok(Self {
            model: Some(model),
            ema,
            optim,
            env,
            sampler,
            step: 0,
            parallel: None,
            access,
            ordinary_steps: 0,
            graph: None,
            graph_enabled,
            optim_stale: false,
            config,
        })
    }

    /// Optimizer steps taken so far.
    pub fn step_count(&self) -> u64 {
        self.step
    }

    /// The device the run is on.
    pub fn device(&self) -> &Device {
        &self.env.device
    }

    /// The online model (autodiff).
    pub fn model(&self) -> &Denoiser {
        self.model.as_ref().expect("model present between steps")
    }

    /// The EMA model (used for sampling).
    pub fn ema(&self) -> &Denoiser {
        &self.ema
    }

    /// The window sampler (its position is part of the checkpoint).
    pub fn sampler(&self) -> &WindowSampler {
        &self.sampler
    }

    /// (T, D) of the training windows.
    pub fn shape(&self) -> (usize, usize) {
        (self.env.horizon, self.env.width)
    }

    /// The optimizer. After replayed (CUDA-graph) steps its saved step counters lag until
    /// [`Trainer::sync_optimizer`]; [`Trainer::optimizer_is_stale`] says so.
    pub(crate) fn optimizer(&self) -> &ModuleOptimizer {
        &self.optim
    }

    /// A fresh optimizer of this run's kind, wired to the captured step's switch (for loading a
    /// saved state into).
    pub(crate) fn fresh_optimizer(&self) -> ModuleOptimizer {
        build_optimizer_with(&self.config, Some(self.access.clone()))
    }

    /// Whether captured steps left the optimizer's states behind (a checkpoint written now would
    /// hold old moments and step counters).
    pub fn optimizer_is_stale(&self) -> bool {
        self.optim_stale
    }

    /// Makes the optimizer's states those of the captured step (views of its flat moments, its
    /// step counter; no kernel runs). Called before every checkpoint by [`Trainer::train`].
    pub fn sync_optimizer(&mut self) {
        let Some(graph) = self.graph.as_mut().filter(|_| self.optim_stale) else {
            return;
        };
        let model = self.model.take().expect("model present between steps");
        self.model = Some(graph.sync(model, &mut self.optim, &self.access));
        self.optim_stale = false;
    }

    /// Whether the run's steps go through the captured CUDA-graph step (after the first one):
    /// one CUDA device, `[train] cuda_graph` on and `GTA_CUDA_GRAPH` not `0`
    /// ([`crate::graph_step`]).
    pub fn uses_cuda_graph(&self) -> bool {
        self.graph_enabled && self.parallel.is_none()
    }

    /// Use the captured step on this run whatever the device (the CPU re-runs its closure):
    /// lets the tests compare it with the ordinary step.
    #[cfg(test)]
    pub(crate) fn force_graph_step(&mut self) {
        self.graph_enabled = true;
    }

    /// Whether steps now go through the capturable path.
    #[cfg(test)]
    pub(crate) fn uses_graph_step(&self) -> bool {
        self.graph.is_some()
    }

    pub(crate) fn restore(
        &mut self,
        model: Denoiser,
        ema: Denoiser,
        optim: ModuleOptimizer,
        sampler: WindowSampler,
        step: u64,
    ) {
        self.model = Some(model);
        self.ema = ema;
        self.optim = optim;
        self.sampler = sampler;
        self.step = step;
        // A new optimizer state: the next step is an ordinary one again (it re-creates the
        // capture's preconditions), and the counters are those just loaded.
        self.graph = None;
        self.access.reset();
        self.ordinary_steps = 0;
        self.optim_stale = false;
        if let Some(parallel) = &mut self.parallel {
            parallel.resync(
                self.model.as_ref().expect("model just restored"),
                &self.optim,
            );
        }
    }

    /// The window indices and noise of the current step, drawn from the run's seeded streams
    /// (the sampler's position and `(seed, STREAM_NOISE, step)`), for the whole global batch.
    fn draw_inputs(&mut self) -> StepInputs {
        draw_step_inputs(
            &self.config,
            &mut self.sampler,
            self.step,
            (self.env.horizon, self.env.width),
        )
    }

    /// The inputs the next step will draw, without advancing the sampler.
    #[cfg(test)]
    pub(crate) fn peek_inputs(&self) -> StepInputs {
        let mut sampler = self.sampler.clone();
        draw_step_inputs(
            &self.config,
            &mut sampler,
            self.step,
            (self.env.horizon, self.env.width),
        )
    }

    /// The device-side training environment of replica 0.
    #[cfg(test)]
    pub(crate) fn env(&self) -> &ShardEnv {
        &self.env
    }

    /// Train on `devices` from now on (issue 9): `devices[0]` must be this run's device, the
    /// others get a copy of the current model, optimizer state and training data; each step
    /// splits the global batch `train.batch_size` into equal shards (it must divide) and averages
    /// the gradients with burn's collective all-reduce (NCCL on CUDA). Checkpoints keep holding
    /// the model of `devices[0]`, so a run can be resumed on any number of devices. See
    /// [`crate::data_parallel`] for what is equal to one-device training.
    ///
    /// A list of one device (this run's) leaves training as it is.
    pub fn enable_data_parallel(&mut self, devices: &[Device]) -> Result<(), DiffusionError> {
        if devices.len() == 1 && devices[0] == self.env.device {
            return Ok(());
        }
        self.parallel = None;
        let parallel =
            DataParallel::new(&self.config, &self.env, self.model(), &self.optim, devices)?;
        self.parallel = Some(parallel);
        Ok(())
    }

    /// Data parallelism with test reducers (all replicas on the CPU device).
    #[cfg(test)]
    pub(crate) fn enable_data_parallel_with(
        &mut self,
        devices: Vec<Device>,
        reducers: Vec<crate::data_parallel::Reducer>,
    ) {
        self.parallel = Some(DataParallel::with_reducers(
            &self.config,
            &self.env,
            self.model(),
            &self.optim,
            &devices,
            reducers,
            None,
        ));
    }

    /// Model of replica `k ≥ 1` between steps.
    #[cfg(test)]
    pub(crate) fn parallel_replica(&self, k: usize) -> &Denoiser {
        self.parallel.as_ref().expect("data parallel").replica(k)
    }

    /// Number of devices the run trains on (1 unless [`Trainer::enable_data_parallel`]).
    pub fn num_devices(&self) -> usize {
        self.parallel.as_ref().map_or(1, DataParallel::num_devices)
    }

    /// One optimizer step. Returns the (detached) loss and pre-clip gradient norm as (1,)
    /// device tensors; nothing is read back to the host.
    ///
    /// With data parallelism enabled the batch is split across the devices, the gradients (and
    /// the loss) are averaged by burn's all-reduce, and the returned tensors are on the first
    /// device; see [`crate::data_parallel`].
    pub fn train_step(&mut self) -> (Tensor<1>, Tensor<1>) {
        let inputs = self.draw_inputs();
        let model = self.model.take().expect("model present between steps");
        let decay = self.config.train.ema.decay(self.step);
        let (model, loss, norm) = match &mut self.parallel {
            Some(parallel) => {
                let ema = decay.map(|d| (self.ema.clone(), d));
                let optim = std::mem::replace(&mut self.optim, build_optimizer(&self.config));
                let out = parallel.step(model, optim, ema, &inputs, self.step);
                self.optim = out.optim;
                if let Some(ema) = out.ema {
                    self.ema = ema;
                }
                (out.model, out.loss, out.norm)
            }
            // The captured step, once an ordinary step has created the Adam states.
            None if self.graph_enabled && self.ordinary_steps > 0 => {
                let model = match self.graph {
                    Some(_) => model,
                    None => {
                        let batch = inputs.idx.len();
                        let (graph, model) = GraphStep::enter(
                            &self.env,
                            batch,
                            model,
                            &mut self.optim,
                            &self.access,
                        );
                        self.graph = Some(graph);
                        model
                    }
                };
                let graph = self.graph.as_mut().expect("entered above");
                let (model, loss, norm) =
                    graph.step(&self.env, &self.config, self.step, model, &inputs);
                self.optim_stale = true;
                if let Some(decay) = decay {
                    let ema = std::mem::replace(&mut self.ema, model.valid());
                    self.ema = crate::ema::blend(ema, &model.valid(), decay);
                }
                (model, loss, norm)
            }
            None => {
                self.ordinary_steps += 1;
                let (loss, grads) = self.env.loss_and_grads(&model, &inputs);
                let (model, norm) = clip_and_step(
                    &self.config,
                    self.step,
                    model,
                    grads,
                    &mut self.optim,
                    &self.env.device,
                );
                if let Some(decay) = decay {
                    let ema = std::mem::replace(&mut self.ema, model.valid());
                    self.ema = crate::ema::blend(ema, &model.valid(), decay);
                }
                (model, loss, norm)
            }
        };
        self.model = Some(model);
        self.step += 1;
        (loss, norm)
    }

    /// Loss of the online model on a fixed batch (the first `batch` windows) with fixed noise
    /// drawn from `seed` and no condition dropout: a low-variance progress measure for tests
    /// and diagnostics. Reads one scalar back from the device.
    pub fn eval_loss(&self, seed: u64, batch: usize) -> f64 {
        let env = &self.env;
        let (horizon, width, device) = (env.horizon, env.width, &env.device);
        let b = batch.min(env.data.num_windows());
        let idx = Tensor::<1, Int>::arange(0..b as i64, device);
        let (x0, cond) = env.data.batch(idx);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let draw = TrainNoise::draw(&mut rng, &self.config.edm, b, horizon, width);
        let sigma = Tensor::<1>::from_data(TensorData::new(draw.sigma, [b]), device);
        let noise =
            Tensor::<3>::from_data(TensorData::new(draw.noise, [b, horizon, width]), device);
        let mask = env
            .mask
            .clone()
            .map(|m| m.inner())
            .unwrap_or_else(|| Tensor::ones([horizon, width], device));
        let cond = env.conditional.then_some(cond);
        let net = self.model().valid();
        edm_loss(
            &net,
            x0,
            sigma,
            noise,
            cond,
            None,
            mask,
            self.config.edm.sigma_data,
        )
        .into_scalar::<f32>() as f64
    }

    /// Runs until `until_step` optimizer steps are done, calling `on_report` every `log_every`
    /// steps (and after the last) and `on_checkpoint` every `checkpoint_every` steps.
    pub fn train(
        &mut self,
        until_step: u64,
        mut on_report: impl FnMut(&StepReport),
        mut on_checkpoint: impl FnMut(&Trainer) -> Result<(), DiffusionError>,
    ) -> Result<Option<StepReport>, DiffusionError> {
        let log_every = self.config.train.log_every;
        let ckpt_every = self.config.train.checkpoint_every;
        let mut last = None;
        let mut sum: Option<Tensor<1>> = None;
        let mut count = 0u64;
        let mut t0 = Instant::now();
        while self.step < until_step {
            let (loss, norm) = self.train_step();
            sum = Some(match sum.take() {
                Some(s) => s + loss,
                None => loss,
            });
            count += 1;
            if self.step.is_multiple_of(log_every) || self.step == until_step {
                let total = sum.take().expect("at least one step").into_scalar::<f32>() as f64;
                let report = StepReport {
                    step: self.step,
                    loss: total / count as f64,
                    lr: self.config.train.lr_at(self.step - 1),
                    grad_norm: norm.into_scalar::<f32>() as f64,
                    steps_per_s: count as f64 / t0.elapsed().as_secs_f64(),
                };
                on_report(&report);
                last = Some(report);
                count = 0;
                t0 = Instant::now();
            }
            if self.step.is_multiple_of(ckpt_every) || self.step == until_step {
                self.sync_optimizer();
                on_checkpoint(self)?;
            }
        }
        Ok(last)
    }
}
