//! The training loop (method.md §5): Adam (β 0.9/0.99, ε 1e-8), global-norm clipping, LR
//! schedule, EMA, device-resident data, progress through a callback.

use std::time::Instant;

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::config::DiffusionConfig;
use crate::data::{DeviceData, TrainData, WindowSampler};
use crate::denoiser::{Denoiser, DenoiserConfig};
use crate::edm::{TrainNoise, edm_loss, loss_mask};
use crate::error::DiffusionError;

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

/// Adam with the run's β1, β2, ε and no weight decay (method.md §5; burn's defaults differ).
pub(crate) fn build_optimizer(config: &DiffusionConfig) -> ModuleOptimizer {
    let t = &config.train;
    AdamConfig::new()
        .with_beta_1(t.beta_1 as f32)
        .with_beta_2(t.beta_2 as f32)
        .with_epsilon(t.epsilon as f32)
        .init()
}

/// A training run: the online model (autodiff), its EMA, the optimizer, the data on the device
/// and the sampler. All randomness is a function of `(seed, step)`; see [`crate::derive_seed`].
pub struct Trainer {
    /// The resolved configuration.
    pub config: DiffusionConfig,
    model: Option<Denoiser>,
    ema: Denoiser,
    optim: ModuleOptimizer,
    data: DeviceData,
    sampler: WindowSampler,
    mask: Option<Tensor<2>>,
    conditional: bool,
    step: u64,
    device: Device,
    horizon: usize,
    width: usize,
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
        let optim = build_optimizer(&config);
        let sampler = WindowSampler::new(config.train.seed, data.num_windows());
        Ok(Self {
            model: Some(model),
            ema,
            optim,
            data: data_dev,
            sampler,
            mask,
            conditional,
            step: 0,
            device,
            horizon: data.horizon,
            width: data.transition_dim,
            config,
        })
    }

    /// Optimizer steps taken so far.
    pub fn step_count(&self) -> u64 {
        self.step
    }

    /// The device the run is on.
    pub fn device(&self) -> &Device {
        &self.device
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
        (self.horizon, self.width)
    }

    pub(crate) fn optimizer(&self) -> &ModuleOptimizer {
        &self.optim
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
    }

    /// One optimizer step. Returns the (detached) loss and pre-clip gradient norm as (1,)
    /// device tensors; nothing is read back to the host.
    pub fn train_step(&mut self) -> (Tensor<1>, Tensor<1>) {
        let b = self.config.train.batch_size;
        let ad = self.device.clone().autodiff();
        let idx: Vec<i64> = self
            .sampler
            .next_batch(b)
            .into_iter()
            .map(i64::from)
            .collect();
        let idx = Tensor::<1, Int>::from_data(TensorData::new(idx, [b]), &self.device);
        let (x0, cond) = self.data.batch(idx);
        let mut rng = ChaCha8Rng::seed_from_u64(crate::derive_seed(
            self.config.train.seed,
            crate::STREAM_NOISE,
            self.step,
        ));
        let draw = TrainNoise::draw(&mut rng, &self.config.edm, b, self.horizon, self.width);
        let sigma = Tensor::<1>::from_data(TensorData::new(draw.sigma, [b]), &ad);
        let noise = Tensor::<3>::from_data(
            TensorData::new(draw.noise, [b, self.horizon, self.width]),
            &ad,
        );
        let (cond, keep) = if self.conditional {
            let keep = Tensor::<2>::from_data(TensorData::new(draw.keep, [b, 1]), &ad);
            (Some(cond.autodiff()), Some(keep))
        } else {
            (None, None)
        };
        let model = self.model.take().expect("model present between steps");
        let mask = self
            .mask
            .clone()
            .unwrap_or_else(|| Tensor::ones([self.horizon, self.width], &ad));
        let loss = edm_loss(
            &model,
            x0.autodiff(),
            sigma,
            noise,
            cond,
            keep,
            mask,
            self.config.edm.sigma_data,
        );
        let mut grads = GradientsParams::from_grads(loss.backward(), &model);
        let norm = crate::grad::clip_global_norm(&model, &mut grads, self.config.train.grad_clip)
            .unwrap_or_else(|| Tensor::zeros([1], &self.device));
        let lr = self.config.train.lr_at(self.step);
        let model = self.optim.step(lr, model, grads);
        if let Some(decay) = self.config.train.ema.decay(self.step) {
            let ema = std::mem::replace(&mut self.ema, model.valid());
            self.ema = crate::ema::blend(ema, &model.valid(), decay);
        }
        self.model = Some(model);
        self.step += 1;
        (loss.detach().inner(), norm.inner())
    }

    /// Loss of the online model on a fixed batch (the first `batch` windows) with fixed noise
    /// drawn from `seed` and no condition dropout: a low-variance progress measure for tests
    /// and diagnostics. Reads one scalar back from the device.
    pub fn eval_loss(&self, seed: u64, batch: usize) -> f64 {
        let b = batch.min(self.data.num_windows());
        let idx = Tensor::<1, Int>::arange(0..b as i64, &self.device);
        let (x0, cond) = self.data.batch(idx);
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let draw = TrainNoise::draw(&mut rng, &self.config.edm, b, self.horizon, self.width);
        let sigma = Tensor::<1>::from_data(TensorData::new(draw.sigma, [b]), &self.device);
        let noise = Tensor::<3>::from_data(
            TensorData::new(draw.noise, [b, self.horizon, self.width]),
            &self.device,
        );
        let mask = self
            .mask
            .clone()
            .map(|m| m.inner())
            .unwrap_or_else(|| Tensor::ones([self.horizon, self.width], &self.device));
        let cond = self.conditional.then_some(cond);
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
                on_checkpoint(self)?;
            }
        }
        Ok(last)
    }
}
