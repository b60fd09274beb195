//! Decision Transformer (Chen et al. 2021), following CORL's `dt.py` as the GTA reference runs
//! it (method.md §9.2–9.3): a GPT over the token sequence `(R_0, s_0, a_0, R_1, s_1, a_1, …)`
//! that predicts `a_t` from the state token, trained with a masked MSE on K-step segments
//! ([`crate::dt_data`]), AdamW with linear warm-up and global-norm gradient clipping, and
//! evaluated by conditioning on a target return that decreases by the observed (scaled)
//! rewards.
//!
//! Architecture (CORL `DecisionTransformer`):
//! - timestep embedding (table of `episode_len + K` rows) added to the linear embeddings of
//!   R (×`reward_scale`), s (normalized) and a;
//! - LayerNorm + dropout on the interleaved 3K tokens;
//! - `n_layers` pre-LN blocks: `x + drop(MHA(LN(x)))` with a causal mask (+ key padding
//!   mask) and dropout on the attention weights, then `x + drop(W2 GELU(W1 LN(x)))`, W1 4×
//!   wide;
//! - a final LayerNorm, and `tanh(W h_s)·max_action` on the state tokens.
//!
//! Init (CORL `_init_weights` + PyTorch `MultiheadAttention`): linear and embedding weights
//! N(0, 0.02²), biases 0, LayerNorm (1, 0); the packed q/k/v projection is Xavier-uniform
//! over its `(3E, E)` matrix. Dropout masks are drawn on the host from the step's seeded
//! stream (as MCQ's, [`crate::sac::dropout_mask`]), so a resumed run repeats exactly.

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::module::{Module, ModuleVisitor, Param};
use burn::nn::{Embedding, LayerNorm, LayerNormConfig, Linear};
use burn::optim::{AdamWConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::activation::{gelu, softmax};
use burn::tensor::{Device, Int, Tensor, TensorData};
use gta_data::Normalizer;
use gta_envs::{EnvId, EvalResult};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

use crate::agent::Losses;
use crate::checkpoint::{CheckpointState, SCHEMA_VERSION, checkpoint_name, read_state};
use crate::checkpoint::{load_module, load_optim, save_module, save_optims};
use crate::config::{Algo, DtConfig, RlConfig};
use crate::dt_data::{DtBatch, DtData};
use crate::error::RlError;
use crate::nets::{host_params, uniform};
use crate::sac::dropout_mask;
use crate::train::{EvalReport, MetricsRow};
use crate::{STREAM_AGENT, STREAM_INIT, STREAM_SAMPLE, derive_seed};

/// Additive attention bias of a masked (causal or padded) key: large enough that its softmax
/// weight underflows to exactly 0 in f32.
pub const MASKED: f32 = -1e9;

fn normal<const D: usize>(
    rng: &mut ChaCha8Rng,
    shape: [usize; D],
    std: f64,
    device: &Device,
) -> Tensor<D> {
    let n = shape.iter().product();
    let v: Vec<f32> = (0..n)
        .map(|_| rng.sample::<f32, _>(StandardNormal) * std as f32)
        .collect();
    Tensor::from_data(TensorData::new(v, shape), device)
}

/// CORL's linear init: weight `[in, out]` ~ N(0, 0.02²), bias 0.
fn linear(d_in: usize, d_out: usize, rng: &mut ChaCha8Rng, device: &Device) -> Linear {
    Linear {
        weight: Param::from_tensor(normal(rng, [d_in, d_out], 0.02, device)),
        bias: Some(Param::from_tensor(Tensor::zeros([d_out], device))),
    }
}

/// One pre-LN transformer block (CORL `TransformerBlock`).
#[derive(Module, Debug)]
pub struct DtBlock {
    /// LayerNorm before attention.
    pub norm1: LayerNorm,
    /// Packed q/k/v projection `E → 3E`.
    pub qkv: Linear,
    /// Attention output projection `E → E`.
    pub proj: Linear,
    /// LayerNorm before the MLP.
    pub norm2: LayerNorm,
    /// MLP `E → 4E`.
    pub fc1: Linear,
    /// MLP `4E → E`.
    pub fc2: Linear,
}

/// Inverted-dropout masks of one forward pass (`None` = no dropout at that site).
#[derive(Clone, Debug, Default)]
pub struct DtDropout {
    /// `(B, 3K, E)` after the embedding LayerNorm.
    pub embedding: Option<Tensor<3>>,
    /// Per block: attention weights `(B, H, 3K, 3K)`.
    pub attention: Vec<Option<Tensor<4>>>,
    /// Per block: attention output and MLP output masks `(B, 3K, E)`.
    pub residual: Vec<[Option<Tensor<3>>; 2]>,
}

fn apply<const D: usize>(x: Tensor<D>, mask: Option<&Tensor<D>>) -> Tensor<D> {
    match mask {
        Some(m) => x * m.clone(),
        None => x,
    }
}

impl DtBlock {
    fn new(e: usize, rng: &mut ChaCha8Rng, device: &Device) -> Self {
        // PyTorch MultiheadAttention: in_proj_weight (3E, E) Xavier-uniform, bias 0.
        let bound = (6.0 / (4 * e) as f64).sqrt();
        let qkv = Linear {
            weight: Param::from_tensor(uniform(rng, [e, 3 * e], bound, device)),
            bias: Some(Param::from_tensor(Tensor::zeros([3 * e], device))),
        };
        Self {
            norm1: LayerNormConfig::new(e).init(device),
            qkv,
            proj: linear(e, e, rng, device),
            norm2: LayerNormConfig::new(e).init(device),
            fc1: linear(e, 4 * e, rng, device),
            fc2: linear(4 * e, e, rng, device),
        }
    }

    /// Multi-head self-attention of `x (B, T, E)` with additive `bias (B|1, 1, T, T)` and an
    /// optional dropout mask on the weights: `(B, T, E)`.
    pub fn attention(
        &self,
        x: Tensor<3>,
        heads: usize,
        bias: Tensor<4>,
        weight_dropout: Option<&Tensor<4>>,
    ) -> Tensor<3> {
        let [b, t, e] = x.dims();
        let dh = e / heads;
        let qkv = self.qkv.forward(x);
        let part = |k: usize| {
            qkv.clone()
                .slice([0..b, 0..t, k * e..(k + 1) * e])
                .reshape([b, t, heads, dh])
                .swap_dims(1, 2)
        };
        let (q, k, v) = (part(0), part(1), part(2));
        let scores = q
            .matmul(k.swap_dims(2, 3))
            .mul_scalar(1.0 / (dh as f64).sqrt())
            + bias;
        let w = apply(softmax(scores, 3), weight_dropout);
        let out = w.matmul(v).swap_dims(1, 2).reshape([b, t, e]);
        self.proj.forward(out)
    }

    fn forward(
        &self,
        x: Tensor<3>,
        heads: usize,
        bias: Tensor<4>,
        weight_dropout: Option<&Tensor<4>>,
        residual: Option<&[Option<Tensor<3>>; 2]>,
    ) -> Tensor<3> {
        let (r1, r2) = match residual {
            Some([a, m]) => (a.as_ref(), m.as_ref()),
            None => (None, None),
        };
        let a = self.attention(self.norm1.forward(x.clone()), heads, bias, weight_dropout);
        let x = x + apply(a, r1);
        let m = self
            .fc2
            .forward(gelu(self.fc1.forward(self.norm2.forward(x.clone()))));
        x + apply(m, r2)
    }
}

/// The GPT of the Decision Transformer (CORL `DecisionTransformer`).
#[derive(Module, Debug)]
pub struct DtModel {
    /// Timestep embedding, `episode_len + K` rows.
    pub timestep_emb: Embedding,
    /// State embedding `S → E`.
    pub state_emb: Linear,
    /// Action embedding `A → E`.
    pub action_emb: Linear,
    /// Return-to-go embedding `1 → E`.
    pub return_emb: Linear,
    /// LayerNorm of the token sequence.
    pub emb_norm: LayerNorm,
    /// Transformer blocks.
    pub blocks: Vec<DtBlock>,
    /// Final LayerNorm.
    pub out_norm: LayerNorm,
    /// Action head `E → A` (followed by tanh·max_action).
    pub action_head: Linear,
}

/// The inputs of one forward pass.
#[derive(Clone, Debug)]
pub struct DtInput {
    /// `(B, K, S)` normalized states.
    pub states: Tensor<3>,
    /// `(B, K, A)` actions.
    pub actions: Tensor<3>,
    /// `(B, K, 1)` scaled returns-to-go.
    pub returns_to_go: Tensor<3>,
    /// `(B, K)` timesteps.
    pub timesteps: Tensor<2, Int>,
    /// `(B, K)` 1 = data, 0 = padding (`None` = all data).
    pub mask: Option<Tensor<2>>,
}

impl DtInput {
    /// The inputs of a training batch.
    pub fn from_batch(batch: &DtBatch) -> Self {
        Self {
            states: batch.states.clone(),
            actions: batch.actions.clone(),
            returns_to_go: batch.returns_to_go.clone(),
            timesteps: batch.timesteps.clone(),
            mask: Some(batch.mask.clone()),
        }
    }

    /// The same inputs on the autodiff device.
    pub fn autodiff(self) -> Self {
        Self {
            states: self.states.autodiff(),
            actions: self.actions.autodiff(),
            returns_to_go: self.returns_to_go.autodiff(),
            timesteps: self.timesteps.autodiff(),
            mask: self.mask.map(|m| m.autodiff()),
        }
    }
}

/// The causal bias `(1, 1, T, T)`: 0 where key ≤ query, [`MASKED`] after.
pub fn causal_bias(t: usize, device: &Device) -> Tensor<4> {
    let v: Vec<f32> = (0..t * t)
        .map(|i| if i % t > i / t { MASKED } else { 0.0 })
        .collect();
    Tensor::from_data(TensorData::new(v, [1, 1, t, t]), device)
}

impl DtModel {
    /// A fresh model for `config`, weights drawn from `rng` (CORL init, module doc).
    pub fn new(
        config: &DtConfig,
        obs_dim: usize,
        act_dim: usize,
        rng: &mut ChaCha8Rng,
        device: &Device,
    ) -> Self {
        let e = config.embedding_dim;
        let rows = config.episode_len + config.seq_len;
        Self {
            timestep_emb: Embedding {
                weight: Param::from_tensor(normal(rng, [rows, e], 0.02, device)),
            },
            state_emb: linear(obs_dim, e, rng, device),
            action_emb: linear(act_dim, e, rng, device),
            return_emb: linear(1, e, rng, device),
            emb_norm: LayerNormConfig::new(e).init(device),
            blocks: (0..config.n_layers)
                .map(|_| DtBlock::new(e, rng, device))
                .collect(),
            out_norm: LayerNormConfig::new(e).init(device),
            action_head: linear(e, act_dim, rng, device),
        }
    }

    /// Predicted actions `(B, K, A)` from the state tokens. `heads` attention heads; the
    /// padding mask (if any) masks padded keys as PyTorch's `key_padding_mask`; `dropout`
    /// masks are multiplied in where given (training).
    pub fn forward(
        &self,
        input: DtInput,
        heads: usize,
        max_action: f64,
        dropout: Option<&DtDropout>,
    ) -> Tensor<3> {
        let [b, k, _] = input.states.dims();
        let [_, e] = self.timestep_emb.weight.dims();
        let t = 3 * k;
        let time = self.timestep_emb.forward(input.timesteps);
        let r = self.return_emb.forward(input.returns_to_go) + time.clone();
        let s = self.state_emb.forward(input.states) + time.clone();
        let a = self.action_emb.forward(input.actions) + time;
        let tokens = Tensor::stack::<4>(vec![r, s, a], 2).reshape([b, t, e]);
        let device = tokens.device();
        let mut bias = causal_bias(t, &device);
        if let Some(mask) = input.mask {
            // (B, K) → (B, 3K): each step's mask for its R, s and a tokens.
            let keys = mask
                .reshape([b, k, 1])
                .repeat_dim(2, 3)
                .reshape([b, 1, 1, t])
                .sub_scalar(1.0)
                .mul_scalar(-MASKED as f64);
            bias = bias + keys;
        }
        let drop = dropout.cloned().unwrap_or_default();
        let mut h = apply(self.emb_norm.forward(tokens), drop.embedding.as_ref());
        for (i, block) in self.blocks.iter().enumerate() {
            let w = drop.attention.get(i).and_then(|m| m.as_ref());
            h = block.forward(h, heads, bias.clone(), w, drop.residual.get(i));
        }
        let h = self.out_norm.forward(h);
        let state_tokens = h.reshape([b, k, 3, e]).slice([0..b, 0..k, 1..2, 0..e]);
        self.action_head
            .forward(state_tokens.reshape([b, k, e]))
            .tanh()
            .mul_scalar(max_action)
    }
}

/// CORL's loss: `mean((â − a)² · mask)` over all `B·K·A` entries (padded entries count in
/// the denominator but contribute 0): `(1,)`.
pub fn action_loss(predicted: Tensor<3>, actions: Tensor<3>, mask: Tensor<2>) -> Tensor<1> {
    let [b, k, _] = predicted.dims();
    ((predicted - actions).square() * mask.reshape([b, k, 1])).mean()
}

/// CORL's LambdaLR warm-up: update `step` (0-based) uses `lr · min((step + 1) / warmup, 1)`.
pub fn warmup_lr(lr: f64, warmup_steps: u64, step: u64) -> f64 {
    if warmup_steps == 0 {
        lr
    } else {
        lr * ((step + 1) as f64 / warmup_steps as f64).min(1.0)
    }
}

/// The dropout masks of one training forward pass of a `(B, K)` batch, drawn from a ChaCha8
/// stream seeded `seed` (embedding, then per block attention weights, attention output, MLP
/// output).
///
/// Cost: `B·3K·(E·(1 + 2·n_layers) + H·3K·n_layers)` values, about 66M per step at the
/// reference's batch 1024 (1.5 s in an unoptimized build); on a GPU this host work and its
/// upload bound the step rate. A device-side counter-based generator keyed on (seed, index)
/// would remove it while keeping exact resume (not done yet).
pub fn draw_dropout(config: &DtConfig, batch: usize, device: &Device, seed: u64) -> DtDropout {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (b, t, e, h) = (
        batch,
        3 * config.seq_len,
        config.embedding_dim,
        config.n_heads,
    );
    let mask3 = |p: f64, rng: &mut ChaCha8Rng| {
        (p > 0.0).then(|| {
            Tensor::<3>::from_data(
                TensorData::new(dropout_mask(rng, b * t * e, p), [b, t, e]),
                device,
            )
        })
    };
    let embedding = mask3(config.embedding_dropout, &mut rng);
    let mut attention = Vec::new();
    let mut residual = Vec::new();
    for _ in 0..config.n_layers {
        let p = config.attention_dropout;
        attention.push((p > 0.0).then(|| {
            Tensor::<4>::from_data(
                TensorData::new(dropout_mask(&mut rng, b * h * t * t, p), [b, h, t, t]),
                device,
            )
        }));
        let r1 = mask3(config.residual_dropout, &mut rng);
        let r2 = mask3(config.residual_dropout, &mut rng);
        residual.push([r1, r2]);
    }
    DtDropout {
        embedding,
        attention,
        residual,
    }
}

struct SquaredNorm<'a> {
    grads: &'a GradientsParams,
    total: Option<Tensor<1>>,
}

impl ModuleVisitor for SquaredNorm<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.grads.get::<D>(param.id) {
            let sq = g.square().sum();
            self.total = Some(match self.total.take() {
                Some(t) => t + sq,
                None => sq,
            });
        }
    }
}

struct Scale<'a> {
    grads: &'a mut GradientsParams,
    coef: Tensor<1>,
}

impl ModuleVisitor for Scale<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.grads.remove::<D>(param.id) {
            let coef = self.coef.clone().reshape([1; D]);
            self.grads.register::<D>(param.id, g * coef);
        }
    }
}

/// PyTorch's `clip_grad_norm_` on the device: scales every gradient by
/// `min(1, max_norm / (‖g‖₂ + 1e-6))` over the global norm (burn's own clipping is per
/// tensor, rust-stack.md §2). Returns the pre-clip norm `(1,)`.
pub fn clip_global_norm<M: Module>(
    module: &M,
    grads: &mut GradientsParams,
    max_norm: f64,
) -> Option<Tensor<1>> {
    let mut v = SquaredNorm { grads, total: None };
    module.visit(&mut v);
    let norm = v.total?.sqrt();
    let coef = (norm.clone() + 1e-6)
        .recip()
        .mul_scalar(max_norm)
        .clamp_max(1.0);
    module.visit(&mut Scale { grads, coef });
    Some(norm)
}

fn adamw(c: &DtConfig) -> ModuleOptimizer {
    AdamWConfig::new()
        .with_beta_1(c.beta_1 as f32)
        .with_beta_2(c.beta_2 as f32)
        .with_epsilon(1e-8)
        .with_weight_decay(c.weight_decay as f32)
        .init()
}

/// The Decision Transformer: model and AdamW state.
pub struct Dt {
    /// Hyper-parameters.
    pub config: DtConfig,
    model: Option<DtModel>,
    optim: ModuleOptimizer,
    device: Device,
    obs_dim: usize,
    act_dim: usize,
}

impl Dt {
    /// A fresh model on `device`, initialised from `seed`.
    pub fn new(
        config: DtConfig,
        obs_dim: usize,
        act_dim: usize,
        seed: u64,
        device: &Device,
    ) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let model = DtModel::new(&config, obs_dim, act_dim, &mut rng, device);
        Self::from_model(config, model, device, obs_dim, act_dim)
    }

    /// Wraps a given (plain) model with a fresh AdamW.
    pub fn from_model(
        config: DtConfig,
        model: DtModel,
        device: &Device,
        obs_dim: usize,
        act_dim: usize,
    ) -> Self {
        Self {
            optim: adamw(&config),
            model: Some(model.train()),
            config,
            device: device.clone(),
            obs_dim,
            act_dim,
        }
    }

    /// The model (autodiff).
    pub fn model(&self) -> &DtModel {
        self.model.as_ref().expect("model present between steps")
    }

    /// The device.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// One AdamW update on `batch`; `step` (earlier updates) drives the warm-up, `seed` the
    /// dropout masks. Returns the detached `action_loss`.
    pub fn update(&mut self, batch: &DtBatch, step: u64, seed: u64) -> Losses {
        let c = self.config.clone();
        let [b, _, _] = batch.states.dims();
        let dropout = draw_dropout(&c, b, &self.device, seed);
        let model = self.model.take().expect("model present between steps");
        let input = DtInput::from_batch(batch).autodiff();
        let pred = model.forward(input, c.n_heads, c.max_action, Some(&dropout));
        let loss = action_loss(
            pred,
            batch.actions.clone().autodiff(),
            batch.mask.clone().autodiff(),
        );
        let mut grads = GradientsParams::from_grads(loss.backward(), &model);
        if c.clip_grad > 0.0 {
            clip_global_norm(&model, &mut grads, c.clip_grad);
        }
        let lr = warmup_lr(c.learning_rate, c.warmup_steps, step);
        self.model = Some(self.optim.step(lr, model, grads));
        vec![("action_loss", loss.detach().inner())]
    }

    /// Deterministic actions `(B, K, A)` (no dropout) for plain (non-autodiff) inputs.
    pub fn predict(&self, input: DtInput) -> Tensor<3> {
        self.model()
            .valid()
            .forward(input, self.config.n_heads, self.config.max_action, None)
    }

    /// Every float parameter flattened to host f32 (tests and diagnostics).
    pub fn params(&self) -> Vec<Vec<f32>> {
        host_params(&self.model().valid())
    }

    /// Writes `dt.bpk` (model) and `dt_optim.bpk` (AdamW moments) into `dir`.
    pub fn save(&self, dir: &Path) -> Result<(), RlError> {
        save_module(self.model().valid(), dir, "dt.bpk")?;
        save_optims(dir, &[("dt_optim.bpk", &self.optim)])
    }

    /// Replaces model and optimizer state with those saved in `dir`.
    pub fn load(&mut self, dir: &Path) -> Result<(), RlError> {
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let (c, d) = (&self.config, &self.device);
        let model = DtModel::new(c, self.obs_dim, self.act_dim, &mut rng, d);
        let model = load_module(model, dir, "dt.bpk")?;
        self.optim = load_optim(adamw(&self.config), dir, "dt_optim.bpk")?;
        self.model = Some(model.train());
        Ok(())
    }
}

/// Evaluates `dt` on `env_id` for `episodes` episodes (reset seeds `seed, seed+1, …`, as
/// `gta_envs::evaluate`), CORL's `eval_rollout` for all episodes in lockstep: the context holds
/// the last K steps of `(R, s, a)` (the current action slot 0), `R_0 = target_return ·
/// reward_scale` and `R_{t+1} = R_t − reward_scale · r_t`; states are normalized with
/// `normalizer`; at most `episode_len` steps. One batched device forward per env step.
///
/// `gta_envs::Policy` maps anonymous rows to actions, so it cannot carry a per-episode
/// context; this rollout builds the same [`EvalResult`] (same seeds, same D4RL score constants).
pub fn evaluate(
    dt: &Dt,
    normalizer: &Normalizer,
    env_id: &str,
    target_return: f64,
    episodes: usize,
    seed: u64,
) -> Result<EvalResult, RlError> {
    let c = &dt.config;
    let id = EnvId::parse(env_id)?;
    if episodes == 0 {
        return Err(gta_envs::EnvError::NoEpisodes {
            env: env_id.to_string(),
        }
        .into());
    }
    let ref_scores = gta_envs::ref_scores(env_id).unwrap_or(id.spec().ref_scores);
    let seeds = gta_envs::episode_seeds(seed, episodes);
    let model = dt.model().valid();
    let device = dt.device().clone();
    let (s_dim, a_dim, k_max) = (dt.obs_dim, dt.act_dim, c.seq_len);
    let mut envs: Vec<Box<dyn gta_envs::Env>> = seeds
        .iter()
        .map(|_| gta_envs::make_env_id(id))
        .collect::<Result<_, _>>()?;
    let norm = |o: Vec<f64>| {
        let mut v: Vec<f32> = o.iter().map(|&x| x as f32).collect();
        normalizer.normalize(&mut v);
        v
    };
    let mut states: Vec<Vec<f32>> = envs
        .iter_mut()
        .zip(&seeds)
        .map(|(env, &s)| norm(env.reset(s)))
        .collect();
    let mut actions: Vec<Vec<f32>> = vec![Vec::new(); episodes];
    let mut rtg: Vec<Vec<f32>> = vec![vec![(target_return * c.reward_scale) as f32]; episodes];
    let mut totals = vec![(0.0f64, 0usize); episodes];
    let mut live: Vec<usize> = (0..episodes).collect();
    let max_t = c.episode_len + c.seq_len - 1;
    for t in 0..c.episode_len {
        if live.is_empty() {
            break;
        }
        let l = (t + 1).min(k_max);
        let first = t + 1 - l;
        let n = live.len();
        let mut s_in = Vec::with_capacity(n * l * s_dim);
        let mut a_in = Vec::with_capacity(n * l * a_dim);
        let mut r_in = Vec::with_capacity(n * l);
        for &i in &live {
            s_in.extend_from_slice(&states[i][first * s_dim..(t + 1) * s_dim]);
            a_in.extend_from_slice(&actions[i][first * a_dim..t * a_dim]);
            a_in.extend(std::iter::repeat_n(0.0, a_dim));
            r_in.extend_from_slice(&rtg[i][first..=t]);
        }
        let ts: Vec<i64> = (0..n)
            .flat_map(|_| (first..=t).map(|j| j.min(max_t) as i64))
            .collect();
        let input = DtInput {
            states: Tensor::from_data(TensorData::new(s_in, [n, l, s_dim]), &device),
            actions: Tensor::from_data(TensorData::new(a_in, [n, l, a_dim]), &device),
            returns_to_go: Tensor::from_data(TensorData::new(r_in, [n, l, 1]), &device),
            timesteps: Tensor::from_data(TensorData::new(ts, [n, l]), &device),
            mask: None,
        };
        let pred = model
            .forward(input, c.n_heads, c.max_action, None)
            .slice([0..n, l - 1..l, 0..a_dim])
            .into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .expect("f32 actions");
        let mut still = Vec::with_capacity(n);
        for (j, &i) in live.iter().enumerate() {
            let act = &pred[j * a_dim..(j + 1) * a_dim];
            let step = envs[i].step(&act.iter().map(|&v| v as f64).collect::<Vec<_>>())?;
            actions[i].extend_from_slice(act);
            states[i].extend(norm(step.obs));
            let next = rtg[i][t] as f64 - c.reward_scale * step.reward;
            rtg[i].push(next as f32);
            totals[i].0 += step.reward;
            totals[i].1 += 1;
            if !(step.terminal || step.timeout) {
                still.push(i);
            }
        }
        live = still;
    }
    let (returns, lengths): (Vec<f64>, Vec<usize>) = totals.into_iter().unzip();
    let normalized_scores: Vec<f64> = returns.iter().map(|&r| ref_scores.normalize(r)).collect();
    let (return_mean, return_std) = gta_envs::mean_std(&returns);
    let (normalized_score, normalized_score_std) = gta_envs::mean_std(&normalized_scores);
    Ok(EvalResult {
        env: env_id.to_string(),
        seeds,
        returns,
        lengths,
        normalized_scores,
        return_mean,
        return_std,
        normalized_score,
        normalized_score_std,
    })
}

/// A DT training run: config, model, the host sequence data and the step counter. Every random
/// draw of step `k` is seeded from `(seed, stream, k)` (segments: [`STREAM_SAMPLE`], dropout:
/// [`STREAM_AGENT`]), so a resumed run repeats the uninterrupted one exactly.
pub struct DtTrainer {
    /// The resolved configuration (`algo = dt`).
    pub config: RlConfig,
    dt: Dt,
    data: DtData,
    step: u64,
}

impl DtTrainer {
    /// A fresh run over `data` on `device`. With an env set, the data's state and action widths
    /// must match it and the target return must be known (`dt.target_return` or the env
    /// family's default).
    pub fn new(config: RlConfig, data: DtData, device: &Device) -> Result<Self, RlError> {
        config.validate()?;
        check_target(&config)?;
        if !config.env.is_empty() {
            let spec = EnvId::parse(&config.env)?.spec();
            for (what, expected, got) in [
                ("observation width", spec.obs_dim, data.obs_dim),
                ("action width", spec.act_dim, data.act_dim),
            ] {
                if expected != got {
                    return Err(RlError::Shape {
                        what: format!("dataset {what} for env {}", config.env),
                        expected,
                        got,
                    });
                }
            }
        }
        let seed = derive_seed(config.train.seed, STREAM_INIT, 0);
        let dt = Dt::new(config.dt.clone(), data.obs_dim, data.act_dim, seed, device);
        Ok(Self {
            config,
            dt,
            data,
            step: 0,
        })
    }

    /// Gradient steps done.
    pub fn step_count(&self) -> u64 {
        self.step
    }

    /// The model and optimizer.
    pub fn dt(&self) -> &Dt {
        &self.dt
    }

    /// The sequence data.
    pub fn data(&self) -> &DtData {
        &self.data
    }

    /// One gradient step on a seeded batch of segments; returns the detached device losses.
    pub fn train_step(&mut self) -> Losses {
        let seed = self.config.train.seed;
        let c = &self.config.dt;
        let picks = self.data.sample(
            derive_seed(seed, STREAM_SAMPLE, self.step),
            self.config.train.batch_size,
        );
        let host = self.data.segments(
            &picks,
            c.seq_len,
            c.reward_scale,
            c.episode_len + c.seq_len - 1,
        );
        let batch = host.to_device(self.data.obs_dim, self.data.act_dim, self.dt.device());
        let losses = self.dt.update(
            &batch,
            self.step,
            derive_seed(seed, STREAM_AGENT, self.step),
        );
        self.step += 1;
        losses
    }

    /// Evaluates the current model for `episodes` episodes of `config.env` from the run seed.
    pub fn evaluate(&self, episodes: usize) -> Result<EvalReport, RlError> {
        let target = check_target(&self.config)?;
        let r = evaluate(
            &self.dt,
            &self.data.normalizer,
            &self.config.env,
            target,
            episodes,
            self.config.train.seed,
        )?;
        Ok(EvalReport {
            return_mean: r.return_mean,
            normalized_score: r.normalized_score,
            normalized_score_std: r.normalized_score_std,
        })
    }

    /// Runs until `until_step` steps are done, with the same cadence and callbacks as
    /// [`crate::Trainer::train`]: a metrics row (and an evaluation when `config.env` is set)
    /// every `eval_every` steps and after the last one, a checkpoint callback every
    /// `checkpoint_every` steps and after the last one.
    pub fn train(
        &mut self,
        until_step: u64,
        mut on_row: impl FnMut(&MetricsRow),
        mut on_checkpoint: impl FnMut(&DtTrainer) -> Result<(), RlError>,
    ) -> Result<Option<MetricsRow>, RlError> {
        let t = self.config.train.clone();
        let mut sum: Option<Tensor<1>> = None;
        let mut count = 0u64;
        let mut t0 = Instant::now();
        let mut last = None;
        while self.step < until_step {
            for (_, loss) in self.train_step() {
                sum = Some(match sum.take() {
                    Some(s) => s + loss,
                    None => loss,
                });
            }
            count += 1;
            let at_eval = t.eval_every > 0 && self.step.is_multiple_of(t.eval_every);
            if at_eval || self.step == until_step {
                let mut losses = std::collections::BTreeMap::new();
                if let Some(s) = sum.take() {
                    losses.insert(
                        "action_loss".to_string(),
                        s.into_scalar::<f32>() as f64 / count as f64,
                    );
                }
                let steps_per_s = count as f64 / t0.elapsed().as_secs_f64();
                let eval = if self.config.env.is_empty() || t.eval_episodes == 0 {
                    None
                } else {
                    Some(self.evaluate(t.eval_episodes)?)
                };
                let row = MetricsRow {
                    step: self.step,
                    losses,
                    eval,
                    steps_per_s,
                };
                on_row(&row);
                last = Some(row);
                count = 0;
                t0 = Instant::now();
            }
            if self.step.is_multiple_of(t.checkpoint_every) || self.step == until_step {
                on_checkpoint(self)?;
            }
        }
        Ok(last)
    }
}

/// The evaluation target return of `config` (error naming `dt.target_return` when the env
/// family has no default and none is set; 0 when no env is set).
fn check_target(config: &RlConfig) -> Result<f64, RlError> {
    if config.env.is_empty() {
        return Ok(0.0);
    }
    config
        .dt
        .target_return_for(&config.env)
        .ok_or_else(|| RlError::Config {
            key: "dt.target_return",
            expected: format!(
                "a target return for env {:?} (defaults exist for halfcheetah, walker2d, hopper, maze2d)",
                config.env
            ),
        })
}

/// Writes the run to `parent/step_NNNNNNNNN/` (`dt.bpk`, `dt_optim.bpk`, `state.json` with
/// `buffer_len` = total trajectory steps) under a temporary name, then renames it.
pub fn save(trainer: &DtTrainer, parent: &Path) -> Result<PathBuf, RlError> {
    std::fs::create_dir_all(parent).map_err(|e| RlError::io(parent, e))?;
    let name = checkpoint_name(trainer.step_count());
    let tmp = parent.join(format!(".{name}.tmp"));
    let dst = parent.join(&name);
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| RlError::io(&tmp, e))?;
    }
    std::fs::create_dir(&tmp).map_err(|e| RlError::io(&tmp, e))?;
    trainer.dt.save(&tmp)?;
    let data = &trainer.data;
    let state = CheckpointState {
        schema_version: SCHEMA_VERSION,
        step: trainer.step_count(),
        obs_dim: data.obs_dim,
        act_dim: data.act_dim,
        buffer_len: data.len(),
        normalizer: data.normalizer.clone(),
        config: trainer.config.clone(),
    };
    let json = serde_json::to_string_pretty(&state).expect("checkpoint state serializes");
    std::fs::write(tmp.join("state.json"), json)
        .map_err(|e| RlError::io(tmp.join("state.json"), e))?;
    if dst.exists() {
        std::fs::remove_dir_all(&dst).map_err(|e| RlError::io(&dst, e))?;
    }
    std::fs::rename(&tmp, &dst).map_err(|e| RlError::io(&dst, e))?;
    Ok(dst)
}

/// The model of the checkpoint `dir` (for `gta rl eval`), with its state.
pub fn load_model(dir: &Path, device: &Device) -> Result<(Dt, CheckpointState), RlError> {
    let state = read_state(dir)?;
    if state.config.algo != Algo::Dt {
        return Err(RlError::checkpoint(
            dir.join("state.json"),
            format!("algo dt expected, found {}", state.config.algo),
        ));
    }
    let mut dt = Dt::new(
        state.config.dt.clone(),
        state.obs_dim,
        state.act_dim,
        0,
        device,
    );
    dt.load(dir)?;
    Ok((dt, state))
}

/// Rebuilds the run saved in `dir` over `data` (which must hold the same trajectories),
/// continuing exactly where it stopped.
pub fn load(dir: &Path, data: DtData, device: &Device) -> Result<DtTrainer, RlError> {
    let (dt, state) = load_model(dir, device)?;
    let check = |what: &str, expected: usize, got: usize| {
        if expected == got {
            Ok(())
        } else {
            Err(RlError::Shape {
                what: format!("{} ({what})", dir.display()),
                expected,
                got,
            })
        }
    };
    check("obs_dim", state.obs_dim, data.obs_dim)?;
    check("act_dim", state.act_dim, data.act_dim)?;
    check("trajectory steps", state.buffer_len, data.len())?;
    Ok(DtTrainer {
        config: state.config,
        dt,
        data,
        step: state.step,
    })
}
