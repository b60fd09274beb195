//! Data-parallel training over several GPUs of one host (issue 9).
//!
//! One model replica per device, all copied from the first one (same weights, same parameter
//! ids). Every step the host draws the window indices and the EDM noise of the whole global batch
//! B from the run's seeded streams, exactly as on one device, and cuts them into N contiguous
//! shards of B/N samples; replica k computes the loss and the gradients of shard k on its device.
//! The gradients (and the loss) are then averaged across the devices with burn's collective
//! all-reduce ([`burn::tensor::distributed::all_reduce`], `ReduceOperation::Mean`, NCCL's
//! `ncclAvg` on CUDA), every replica clips the averaged gradients by their global norm and takes
//! the same Adam step, and replica 0 updates the EMA. Checkpoints hold replica 0.
//!
//! What is equal to one-device training: the window indices, σ, n and the dropout mask of every
//! sample; the initial weights; the optimizer, LR schedule, clipping and EMA rules. Because the
//! per-sample loss is averaged with equal weights and every shard has B/N samples, the mean of
//! the shard gradients is mathematically the full-batch gradient, so the two runs differ only by
//! floating-point summation order (per-shard reductions, then the cross-device mean). That
//! difference is ~1e-7 relative in one step and grows slowly over training, as any change of
//! reduction order (another GPU, another batch kernel) does.
//!
//! Each replica runs on its own worker thread for the whole run, so that the host-side work of
//! N forward/backward passes (graph building, kernel launches) overlaps and each device keeps
//! one CubeCL stream. The collective calls themselves are asynchronous: every worker issues its
//! all-reduces in the same (parameter visit) order and nothing reads a reduced value back on the
//! host before all workers have issued theirs.
//!
//! burn's CPU backend (`flex`) has no collective operations (its `DistributedOps` are the
//! unimplemented defaults), so several CPU devices cannot train data-parallel; the unit tests
//! below check the sharding, the averaging and the whole threaded step on one CPU device with a
//! test-only reduction in place of the collective.

use std::sync::mpsc::{Receiver, Sender, channel};
use std::thread::JoinHandle;

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::Device;
use burn::tensor::Tensor;
use burn::tensor::distributed::{
    DistributedConfig, DistributedContext, ReduceOperation, all_reduce,
};

use crate::config::DiffusionConfig;
use crate::denoiser::Denoiser;
use crate::error::DiffusionError;
use crate::train::{ShardEnv, StepInputs, clip_and_step};

/// How the replicas' gradients are averaged.
#[derive(Clone)]
pub(crate) enum Reducer {
    /// burn's collective all-reduce (NCCL on CUDA) over these (plain) devices.
    Collective(Vec<Device>),
    /// Test only: the mean of the replicas' tensors, all on one CPU device, summed in rank order.
    #[cfg(test)]
    HostMean(std::sync::Arc<tests::HostMean>),
}

/// Issues an all-reduce for every gradient, in the module's parameter visit order (the same on
/// every replica, which is what matches the collectives of different devices).
struct IssueAllReduce<'a> {
    grads: &'a mut GradientsParams,
    devices: &'a [Device],
}

impl ModuleVisitor for IssueAllReduce<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.grads.remove::<D>(param.id) {
            let reduced = all_reduce(g, ReduceOperation::Mean, self.devices.to_vec());
            // SAFETY: the handle is not used in any computation before `Reducer::reduce`
            // resolves the loss's all-reduce, issued after this one on the same device: that
            // `resolve` makes the device's compute stream wait for its collective stream, which
            // runs the collectives in issue order, so every earlier result is then complete.
            let reduced = unsafe { reduced.assume_resolved() };
            self.grads.register::<D>(param.id, reduced);
        }
    }
}

#[cfg(test)]
struct HostMeanGrads<'a> {
    grads: &'a mut GradientsParams,
    mean: &'a tests::HostMean,
    rank: usize,
}

#[cfg(test)]
impl ModuleVisitor for HostMeanGrads<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.grads.remove::<D>(param.id) {
            let g = self.mean.mean(self.rank, g);
            self.grads.register::<D>(param.id, g);
        }
    }
}

impl Reducer {
    /// Replaces every gradient of `model` in `grads` by its mean over the replicas and returns
    /// the mean of the replicas' losses.
    fn reduce(
        &self,
        rank: usize,
        model: &Denoiser,
        grads: &mut GradientsParams,
        loss: Tensor<1>,
    ) -> Tensor<1> {
        match self {
            Reducer::Collective(devices) => {
                let _ = rank; // every rank issues the same calls; NCCL ranks come from `devices`
                model.visit(&mut IssueAllReduce { grads, devices });
                all_reduce(loss, ReduceOperation::Mean, devices.clone()).resolve()
            }
            #[cfg(test)]
            Reducer::HostMean(mean) => {
                model.visit(&mut HostMeanGrads { grads, mean, rank });
                mean.mean(rank, loss)
            }
        }
    }
}

/// One step's work for one replica.
struct Job {
    model: Denoiser,
    optim: ModuleOptimizer,
    inputs: StepInputs,
    step: u64,
    /// The EMA and its decay when this step updates it (replica 0 only).
    ema: Option<(Denoiser, f64)>,
}

/// What a replica hands back after its step.
struct Done {
    model: Denoiser,
    optim: ModuleOptimizer,
    loss: Tensor<1>,
    norm: Tensor<1>,
    ema: Option<Denoiser>,
}

struct Worker {
    device: Device,
    jobs: Option<Sender<Job>>,
    done: Receiver<Result<Done, String>>,
    handle: Option<JoinHandle<()>>,
}

/// The result of one data-parallel step, for replica 0.
pub(crate) struct StepOut {
    pub model: Denoiser,
    pub optim: ModuleOptimizer,
    pub loss: Tensor<1>,
    pub norm: Tensor<1>,
    pub ema: Option<Denoiser>,
}

/// The replicas 1 … N−1 (replica 0 is the [`crate::Trainer`]'s own model and optimizer), one
/// worker thread per device, and burn's distributed context.
pub(crate) struct DataParallel {
    workers: Vec<Worker>,
    /// Model and optimizer of replicas 1 … N−1 between steps (index k − 1).
    replicas: Vec<Option<(Denoiser, ModuleOptimizer)>>,
    horizon: usize,
    width: usize,
    /// Dropped after the workers have stopped (see `Drop`).
    _context: Option<DistributedContext>,
}

/// Refuses device lists data-parallel training cannot use; the message says why.
pub(crate) fn check_devices(
    devices: &[Device],
    first: &Device,
    batch_size: usize,
) -> Result<(), DiffusionError> {
    let bad = |expected: String| {
        Err(DiffusionError::Config {
            key: "devices",
            expected,
        })
    };
    if devices.len() < 2 {
        return bad(format!(
            "at least two devices for data-parallel training, got {}",
            devices.len()
        ));
    }
    if !batch_size.is_multiple_of(devices.len()) {
        return bad(format!(
            "a global batch size divisible by the number of devices: train.batch_size = \
             {batch_size} does not split into {} equal shards (use e.g. {})",
            devices.len(),
            batch_size.next_multiple_of(devices.len())
        ));
    }
    for (i, d) in devices.iter().enumerate() {
        if devices[..i].contains(d) {
            return bad(format!("distinct devices, {d:?} is listed twice"));
        }
    }
    if devices[0] != *first {
        return bad(format!(
            "the run's own device {first:?} first in the list, got {:?}",
            devices[0]
        ));
    }
    Ok(())
}

impl DataParallel {
    /// Replicas of `model0`/`optim0` on `devices[1..]` (`devices[0]` is replica 0's device),
    /// each with a copy of the training data, gradients averaged by burn's all-reduce.
    pub(crate) fn new(
        config: &DiffusionConfig,
        env0: &ShardEnv,
        model0: &Denoiser,
        optim0: &ModuleOptimizer,
        devices: &[Device],
    ) -> Result<Self, DiffusionError> {
        let devices: Vec<Device> = devices.iter().map(|d| d.clone().inner()).collect();
        if devices.iter().any(|d| *d == Device::flex()) {
            return Err(DiffusionError::Config {
                key: "devices",
                expected: "devices of a backend with collective operations (CUDA, through \
                           NCCL): burn's CPU backend (flex) cannot all-reduce across devices"
                    .into(),
            });
        }
        check_devices(&devices, &env0.device, config.train.batch_size)?;
        let context = DistributedContext::init(
            devices.clone(),
            DistributedConfig {
                all_reduce_op: ReduceOperation::Mean,
            },
        );
        let reducers = vec![Reducer::Collective(devices.clone()); devices.len()];
        Ok(Self::with_reducers(
            config,
            env0,
            model0,
            optim0,
            &devices,
            reducers,
            Some(context),
        ))
    }

    /// The replicas and their workers with the given per-rank reducers.
    pub(crate) fn with_reducers(
        config: &DiffusionConfig,
        env0: &ShardEnv,
        model0: &Denoiser,
        optim0: &ModuleOptimizer,
        devices: &[Device],
        reducers: Vec<Reducer>,
        context: Option<DistributedContext>,
    ) -> Self {
        let workers = devices
            .iter()
            .zip(reducers)
            .enumerate()
            .map(|(rank, (device, reducer))| {
                let env = if rank == 0 {
                    env0.clone()
                } else {
                    env0.to_device(device)
                };
                spawn_worker(rank, env, reducer, config.clone())
            })
            .collect();
        let mut dp = Self {
            workers,
            replicas: Vec::new(),
            horizon: env0.horizon,
            width: env0.width,
            _context: context,
        };
        dp.resync(model0, optim0);
        dp
    }

    /// Number of devices (replicas).
    pub(crate) fn num_devices(&self) -> usize {
        self.workers.len()
    }

    /// Makes replicas 1 … N−1 copies of `model0` and `optim0` (after a restore).
    pub(crate) fn resync(&mut self, model0: &Denoiser, optim0: &ModuleOptimizer) {
        // `fork` keeps the parameter ids, which key the optimizer state; the optimizer moves
        // each parameter's state to that parameter's device on its next step.
        self.replicas = self.workers[1..]
            .iter()
            .map(|w| Some((model0.valid().fork(&w.device).train(), optim0.clone())))
            .collect();
    }

    /// One data-parallel step: shard k of `inputs` on replica k, averaged gradients, the same
    /// clipped Adam step everywhere, the EMA (if given) on replica 0.
    pub(crate) fn step(
        &mut self,
        model0: Denoiser,
        optim0: ModuleOptimizer,
        ema: Option<(Denoiser, f64)>,
        inputs: &StepInputs,
        step: u64,
    ) -> StepOut {
        let n = self.workers.len();
        let mut first = Some((model0, optim0, ema));
        for (k, worker) in self.workers.iter().enumerate() {
            let (model, optim, ema) = if k == 0 {
                first.take().expect("replica 0 sent once")
            } else {
                let (m, o) = self.replicas[k - 1]
                    .take()
                    .expect("replica present between steps");
                (m, o, None)
            };
            let job = Job {
                model,
                optim,
                inputs: inputs.shard(k, n, self.horizon, self.width),
                step,
                ema,
            };
            worker
                .jobs
                .as_ref()
                .expect("worker running")
                .send(job)
                .unwrap_or_else(|_| panic!("data-parallel worker {k} has stopped"));
        }
        let mut out = None;
        for (k, worker) in self.workers.iter().enumerate() {
            let done = match worker.done.recv() {
                Ok(Ok(done)) => done,
                Ok(Err(msg)) => panic!(
                    "data-parallel training step {step} failed on replica {k} ({:?}): {msg}",
                    worker.device
                ),
                Err(_) => panic!(
                    "data-parallel worker {k} ({:?}) stopped during step {step}",
                    worker.device
                ),
            };
            if k == 0 {
                out = Some(StepOut {
                    model: done.model,
                    optim: done.optim,
                    loss: done.loss,
                    norm: done.norm,
                    ema: done.ema,
                });
            } else {
                self.replicas[k - 1] = Some((done.model, done.optim));
            }
        }
        out.expect("replica 0 answered")
    }

    /// The current model of replica `k` (0 is not held here).
    #[cfg(test)]
    pub(crate) fn replica(&self, k: usize) -> &Denoiser {
        &self.replicas[k - 1].as_ref().expect("between steps").0
    }
}

impl Drop for DataParallel {
    fn drop(&mut self) {
        // Closing the job channels ends the worker loops; the distributed context (a field,
        // dropped after this) is closed only once no worker can issue a collective any more.
        for w in &mut self.workers {
            w.jobs.take();
        }
        for w in &mut self.workers {
            if let Some(h) = w.handle.take() {
                let _ = h.join();
            }
        }
    }
}

fn spawn_worker(rank: usize, env: ShardEnv, reducer: Reducer, config: DiffusionConfig) -> Worker {
    let (job_tx, job_rx) = channel::<Job>();
    let (done_tx, done_rx) = channel();
    let device = env.device.clone();
    let handle = std::thread::Builder::new()
        .name(format!("gta-dp-{rank}"))
        .spawn(move || {
            while let Ok(job) = job_rx.recv() {
                let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    run_job(rank, &env, &reducer, &config, job)
                }))
                .map_err(|e| {
                    e.downcast_ref::<String>()
                        .cloned()
                        .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_else(|| "panic".to_string())
                });
                if done_tx.send(result).is_err() {
                    break;
                }
            }
        })
        .expect("spawning a data-parallel worker thread");
    Worker {
        device,
        jobs: Some(job_tx),
        done: done_rx,
        handle: Some(handle),
    }
}

/// One replica's step: loss and gradients of its shard, the cross-replica mean, clipping by the
/// global norm of the averaged gradients, the optimizer step, and the EMA when asked.
fn run_job(
    rank: usize,
    env: &ShardEnv,
    reducer: &Reducer,
    config: &DiffusionConfig,
    job: Job,
) -> Done {
    let Job {
        model,
        mut optim,
        inputs,
        step,
        ema,
    } = job;
    let (loss, mut grads) = env.loss_and_grads(&model, &inputs);
    let loss = reducer.reduce(rank, &model, &mut grads, loss);
    let (model, norm) = clip_and_step(config, step, model, grads, &mut optim, &env.device);
    let ema = ema.map(|(ema, decay)| crate::ema::blend(ema, &model.valid(), decay));
    Done {
        model,
        optim,
        loss,
        norm,
        ema,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::{Arc, Barrier, Mutex};

    use burn::module::{Module, ModuleVisitor, Param};
    use burn::tensor::{Device, Tensor};

    use super::*;
    use crate::data::TrainData;
    use crate::train::{Trainer, build_optimizer};
    use crate::{DenoiserConfig, MixerUnetConfig};

    /// Test-only stand-in for the collective on one CPU device: every rank deposits its tensor,
    /// all wait, each sums the deposits in rank order and divides by N (so every rank gets the
    /// same bits), all wait again before the slots are reused.
    pub(crate) struct HostMean {
        slots: Mutex<Vec<Option<Tensor<1>>>>,
        barrier: Barrier,
        n: usize,
    }

    impl HostMean {
        pub(crate) fn new(n: usize) -> Self {
            Self {
                slots: Mutex::new(vec![None; n]),
                barrier: Barrier::new(n),
                n,
            }
        }

        pub(crate) fn mean<const D: usize>(&self, rank: usize, t: Tensor<D>) -> Tensor<D> {
            let shape = t.shape();
            let flat = t.reshape([shape.num_elements()]);
            self.slots.lock().unwrap()[rank] = Some(flat);
            self.barrier.wait();
            let sum = {
                let slots = self.slots.lock().unwrap();
                slots
                    .iter()
                    .map(|s| s.clone().expect("every rank deposited"))
                    .reduce(|a, b| a + b)
                    .expect("n > 0")
            };
            self.barrier.wait();
            sum.div_scalar(self.n as f32).reshape(shape)
        }
    }

    struct Dump(Vec<f32>);

    impl ModuleVisitor for Dump {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.0
                .extend(param.val().into_data().try_to_vec::<f32>().unwrap());
        }
    }

    pub(crate) fn weights<M: Module>(m: &M) -> Vec<f32> {
        let mut d = Dump(Vec::new());
        m.visit(&mut d);
        d.0
    }

    struct GradDump<'a>(&'a GradientsParams, Vec<f32>);

    impl ModuleVisitor for GradDump<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            // Parameters the loss does not reach have no gradient, in full batch and shards alike.
            if let Some(g) = self.0.get::<D>(param.id) {
                self.1.extend(g.into_data().try_to_vec::<f32>().unwrap());
            }
        }
    }

    fn grads_of(model: &Denoiser, grads: &GradientsParams) -> Vec<f32> {
        let mut d = GradDump(grads, Vec::new());
        model.visit(&mut d);
        d.1
    }

    /// Seeded data with a next-state row and a return condition, 60 windows of T = 4.
    fn data() -> TrainData {
        TrainData::synthetic(3, 2, 4, 64, 7)
    }

    pub(crate) fn config(batch: usize) -> DiffusionConfig {
        let mut c = DiffusionConfig {
            model: DenoiserConfig::MixerUnet(MixerUnetConfig {
                dim: 8,
                dim_mults: vec![1, 2],
                ..MixerUnetConfig::default()
            }),
            ..DiffusionConfig::default()
        };
        c.train.batch_size = batch;
        c.train.seed = 3;
        c.train.lr = 1e-3;
        // Cross an EMA copy → blend switch within the test's steps.
        c.train.ema.update_every = 2;
        c.train.ema.update_after_step = 2;
        c
    }

    fn max_rel(a: &[f32], b: &[f32]) -> f64 {
        assert_eq!(a.len(), b.len());
        let scale = a
            .iter()
            .map(|x| x.abs() as f64)
            .fold(0.0, f64::max)
            .max(1e-12);
        a.iter()
            .zip(b)
            .map(|(x, y)| (*x as f64 - *y as f64).abs() / scale)
            .fold(0.0, f64::max)
    }

    #[test]
    fn shards_are_contiguous_and_concatenate_to_the_batch() {
        let (b, t, d) = (6, 2, 3);
        let inputs = StepInputs {
            idx: (0..b as i64).map(|i| 10 + i).collect(),
            draw: crate::edm::TrainNoise {
                sigma: (0..b).map(|i| i as f32).collect(),
                noise: (0..b * t * d).map(|i| i as f32).collect(),
                keep: (0..b).map(|i| (i % 2) as f32).collect(),
            },
        };
        let shards: Vec<StepInputs> = (0..3).map(|k| inputs.shard(k, 3, t, d)).collect();
        assert_eq!(shards[1].idx, vec![12, 13]);
        assert_eq!(shards[2].draw.sigma, vec![4.0, 5.0]);
        assert_eq!(shards[1].draw.noise.len(), 2 * t * d);
        assert_eq!(shards[1].draw.noise[0], (2 * t * d) as f32);
        let mut joined = shards[0].clone();
        for s in &shards[1..] {
            joined.idx.extend(&s.idx);
            joined.draw.sigma.extend(&s.draw.sigma);
            joined.draw.noise.extend(&s.draw.noise);
            joined.draw.keep.extend(&s.draw.keep);
        }
        assert_eq!(joined, inputs);
    }

    #[test]
    fn bad_device_lists_are_refused_with_the_reason() {
        let cpu = Device::flex();
        let err = check_devices(std::slice::from_ref(&cpu), &cpu, 8)
            .unwrap_err()
            .to_string();
        assert!(err.contains("at least two devices"), "{err}");
        let err = check_devices(&[cpu.clone(), cpu.clone()], &cpu, 8)
            .unwrap_err()
            .to_string();
        assert!(err.contains("listed twice"), "{err}");
        // Collectives are refused on the CPU backend before anything is started.
        let trainer = Trainer::new(config(8), &data(), &cpu).unwrap();
        let err = DataParallel::new(
            &trainer.config,
            trainer.env(),
            trainer.model(),
            &build_optimizer(&trainer.config),
            &[cpu.clone(), cpu.clone()],
        );
        let err = err.err().expect("refused").to_string();
        assert!(err.contains("flex"), "{err}");
    }

    #[test]
    fn batch_must_split_into_equal_shards() {
        let cpu = Device::flex();
        let err = check_devices(&[cpu.clone(), cpu.clone(), cpu.clone()], &cpu, 10)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("batch_size = 10") && err.contains("3 equal shards") && err.contains("12"),
            "{err}"
        );
    }

    /// The averaging is exact up to floating-point order: the mean over N shards of each
    /// shard's gradient (mean loss over its B/N samples) is the gradient of the mean loss over
    /// the whole batch, and so is the mean of the shard losses.
    #[test]
    fn mean_of_shard_gradients_is_the_full_batch_gradient() {
        let cpu = Device::flex();
        let batch = 12;
        let trainer = Trainer::new(config(batch), &data(), &cpu).unwrap();
        let env = trainer.env();
        let model = trainer.model();
        let inputs = trainer.peek_inputs();
        let (loss_full, g_full) = env.loss_and_grads(model, &inputs);
        let g_full = grads_of(model, &g_full);
        let loss_full = loss_full.into_scalar::<f32>();
        for n in [2usize, 3, 4] {
            let mut sum: Option<Vec<f64>> = None;
            let mut loss_sum = 0.0f64;
            for k in 0..n {
                let (l, g) = env.loss_and_grads(model, &inputs.shard(k, n, env.horizon, env.width));
                loss_sum += l.into_scalar::<f32>() as f64;
                let g = grads_of(model, &g);
                let s = sum.get_or_insert_with(|| vec![0.0; g.len()]);
                s.iter_mut().zip(&g).for_each(|(a, b)| *a += *b as f64);
            }
            let mean: Vec<f32> = sum.unwrap().iter().map(|v| (v / n as f64) as f32).collect();
            let rel = max_rel(&g_full, &mean);
            assert!(
                rel < 1e-5,
                "N = {n}: gradient differs by {rel:e} (relative to max |g|)"
            );
            let loss_mean = loss_sum / n as f64;
            let lrel = (loss_mean - loss_full as f64).abs() / loss_full as f64;
            assert!(lrel < 1e-6, "N = {n}: loss {loss_mean} vs {loss_full}");
            // And a shard alone is not the full batch (the test can tell them apart).
            let (_, g0) = env.loss_and_grads(model, &inputs.shard(0, n, env.horizon, env.width));
            assert!(max_rel(&g_full, &grads_of(model, &g0)) > 1e-3);
        }
    }

    /// Gradient-wise `(g_0 + g_1 + …) / N` over `shards`, summed in rank order like
    /// [`HostMean`], registered for `model`'s parameters.
    struct SumInto<'a> {
        shards: &'a [GradientsParams],
        out: GradientsParams,
        n: usize,
    }

    impl ModuleVisitor for SumInto<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let parts: Vec<Tensor<D>> = self
                .shards
                .iter()
                .filter_map(|g| g.get::<D>(param.id))
                .collect();
            if parts.is_empty() {
                return;
            }
            let shape = parts[0].shape();
            let sum = parts
                .into_iter()
                .map(|t| t.reshape([shape.num_elements()]))
                .reduce(|a, b| a + b)
                .unwrap();
            self.out
                .register::<D>(param.id, sum.div_scalar(self.n as f32).reshape(shape));
        }
    }

    /// The threaded data-parallel step is exactly (bit for bit, on the CPU) the sequential
    /// reference "loss and gradients of each shard on one thread, mean in rank order, clip,
    /// Adam": no race between the replicas' threads, the shards in the right order, every replica
    /// fed its own shard.
    #[test]
    fn threaded_step_equals_the_sequential_shard_mean_bit_for_bit() {
        let cpu = Device::flex();
        let (batch, steps, n) = (12, 5, 3);
        let cfg = config(batch);
        let mut dp = Trainer::new(cfg.clone(), &data(), &cpu).unwrap();
        let mut model = dp.model().clone();
        let env = dp.env().clone();
        let mut sampler = crate::data::WindowSampler::new(cfg.train.seed, data().num_windows());
        let mut optim = build_optimizer(&cfg);
        let mut losses_ref = Vec::new();
        for step in 0..steps {
            let inputs =
                crate::train::draw_step_inputs(&cfg, &mut sampler, step, (env.horizon, env.width));
            let mut shard_grads = Vec::new();
            let mut shard_losses = Vec::new();
            for k in 0..n {
                let (l, g) =
                    env.loss_and_grads(&model, &inputs.shard(k, n, env.horizon, env.width));
                shard_grads.push(g);
                shard_losses.push(l);
            }
            let mut sum = SumInto {
                shards: &shard_grads,
                out: GradientsParams::new(),
                n,
            };
            model.visit(&mut sum);
            let loss = shard_losses
                .into_iter()
                .reduce(|a, b| a + b)
                .unwrap()
                .div_scalar(n as f32);
            losses_ref.push(loss.into_scalar::<f32>().to_bits());
            model = clip_and_step(&cfg, step, model, sum.out, &mut optim, &cpu).0;
        }

        let mean = Arc::new(HostMean::new(n));
        dp.enable_data_parallel_with(vec![cpu.clone(); n], vec![Reducer::HostMean(mean); n]);
        let losses_dp: Vec<u32> = (0..steps)
            .map(|_| dp.train_step().0.into_scalar::<f32>().to_bits())
            .collect();
        assert_eq!(losses_dp, losses_ref, "per-step losses");
        assert!(weights(dp.model()) == weights(&model), "weights differ");
    }

    /// One-device training written out (the loop of [`Trainer::train_step`] without the EMA),
    /// optionally with every batch in reverse sample order: the same mathematics in another
    /// floating-point order, the yardstick for "equal up to floating-point order".
    fn reference_losses(
        cfg: &DiffusionConfig,
        trainer: &Trainer,
        steps: u64,
        reverse: bool,
    ) -> Vec<f32> {
        let env = trainer.env().clone();
        let mut model = trainer.model().clone();
        let mut sampler = crate::data::WindowSampler::new(cfg.train.seed, data().num_windows());
        let mut optim = build_optimizer(cfg);
        let per = env.horizon * env.width;
        let mut losses = Vec::new();
        for step in 0..steps {
            let mut inputs =
                crate::train::draw_step_inputs(cfg, &mut sampler, step, (env.horizon, env.width));
            if reverse {
                inputs.idx.reverse();
                inputs.draw.sigma.reverse();
                inputs.draw.keep.reverse();
                let rows: Vec<&[f32]> = inputs.draw.noise.chunks(per).rev().collect();
                inputs.draw.noise = rows.concat();
            }
            let (loss, grads) = env.loss_and_grads(&model, &inputs);
            losses.push(loss.into_scalar::<f32>());
            model = clip_and_step(cfg, step, model, grads, &mut optim, &env.device).0;
        }
        losses
    }

    /// Largest per-step relative difference of two loss curves.
    fn curve_gap(a: &[f32], b: &[f32]) -> f64 {
        a.iter()
            .zip(b)
            .map(|(x, y)| (*x as f64 - *y as f64).abs() / (x.abs() as f64))
            .fold(0.0, f64::max)
    }

    /// The whole threaded data-parallel step (workers, shards, averaging, clipping, Adam, EMA)
    /// on one CPU device with the test reduction, against plain one-device training. The first
    /// step (same weights, same samples) agrees to float precision; after that the curves drift
    /// apart as any change of floating-point order makes them drift (Adam turns the sign of
    /// near-zero gradient components into whole steps), so the drift is compared with that of
    /// one-device training on the same batches in reverse sample order.
    #[test]
    fn threaded_data_parallel_training_matches_one_device() {
        let cpu = Device::flex();
        let (batch, steps) = (12, 6);
        let cfg = config(batch);
        let mut single = Trainer::new(cfg.clone(), &data(), &cpu).unwrap();
        let initial = single.model().clone();
        let reversed = reference_losses(&cfg, &single, steps, true);
        let plain = reference_losses(&cfg, &single, steps, false);
        let mut losses_1 = Vec::new();
        let mut norms_1 = Vec::new();
        for _ in 0..steps {
            let (l, n) = single.train_step();
            losses_1.push(l.into_scalar::<f32>());
            norms_1.push(n.into_scalar::<f32>());
        }
        // The written-out loop is the trainer's loop, bit for bit.
        assert_eq!(plain, losses_1);
        let control = curve_gap(&losses_1, &reversed);
        assert!(
            control > 0.0,
            "reversing the batch changed nothing: not a yardstick"
        );

        for n in [2usize, 3] {
            let mut dp = Trainer::with_model(cfg.clone(), &data(), initial.clone(), &cpu).unwrap();
            let mean = Arc::new(HostMean::new(n));
            let reducers = vec![Reducer::HostMean(mean); n];
            dp.enable_data_parallel_with(vec![cpu.clone(); n], reducers);
            assert_eq!(dp.num_devices(), n);
            let mut losses_n = Vec::new();
            let mut norms_n = Vec::new();
            for _ in 0..steps {
                let (l, g) = dp.train_step();
                losses_n.push(l.into_scalar::<f32>());
                norms_n.push(g.into_scalar::<f32>());
            }
            let first = curve_gap(&losses_1[..1], &losses_n[..1]);
            assert!(
                first < 1e-6,
                "N = {n}: first loss {} vs {}",
                losses_1[0],
                losses_n[0]
            );
            let first = curve_gap(&norms_1[..1], &norms_n[..1]);
            assert!(
                first < 1e-5,
                "N = {n}: first grad norm {} vs {}",
                norms_1[0],
                norms_n[0]
            );
            let gap = curve_gap(&losses_1, &losses_n);
            eprintln!("N = {n}: curve gap {gap:e}, reverse-order control {control:e}");
            assert!(
                gap <= 10.0 * control,
                "N = {n}: losses {losses_n:?} drift from {losses_1:?} by {gap:e}, ten times more \
                 than reordering the batch does ({control:e})"
            );
            // Every replica took the same update from the same averaged gradients.
            let wn = weights(dp.model());
            for k in 1..n {
                assert!(
                    weights(dp.parallel_replica(k)) == wn,
                    "N = {n}: replica {k} diverged from replica 0"
                );
            }
            // Training moved the weights, and the EMA followed replica 0.
            assert!(max_rel(&weights(&initial), &wn) > 1e-4);
            assert!(weights(dp.ema()) != weights(&initial));
        }
    }
}
