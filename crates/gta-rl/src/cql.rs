//! Conservative Q-learning (Kumar et al. 2020), following CORL's `cql.py` (method.md §9.3):
//! a SAC-style tanh-Gaussian actor with automatic entropy tuning (target entropy −|A|), twin
//! critics (fused, [`TwinCritic`]) regressed on `r + γ(1−d)·min Q′(s′, a′ ~ π)` plus the
//! conservative penalty `α_cql·(logsumexp_a Q(s, a) − Q(s, a_data))`, the logsumexp estimated
//! by importance sampling over uniform-random, current-policy and next-policy actions. The
//! Lagrange variant (maze2d) tunes `log α′` so the penalty meets a target action gap.
//!
//! Every loss is computed from the parameters at the start of the update (as CORL, which
//! computes all losses before any optimizer step); the actor and the critics are then
//! stepped from two backward passes.

use std::path::Path;

use burn::module::{Module, Param};
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Tensor};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::agent::{Agent, Batch, HostMlp, Losses};
use crate::checkpoint::{load_module, load_optim, save_module, save_optims};
use crate::config::CqlConfig;
use crate::error::RlError;
use crate::nets::{Mlp, TwinCritic, host_params, layer_sizes, soft_update};
use crate::sac::{
    LogScalar, gaussian_log_prob, host_mean_actor, normals, orthogonal_twin_critic, set_layer,
    tanh_gaussian_sample, tanh_log_det, temperature_loss, uniforms, upload, xavier_uniform,
};
use crate::td3bc::torch_adam;

/// CORL's `TanhGaussianPolicy`: `mlp(s) = [mean, raw_log_std]`, `log σ = clamp(m·raw + o,
/// log_std_min, log_std_max)` with a learnable multiplier `m` and offset `o`, action
/// `max_action·tanh(mean + σ·ε)`.
#[derive(Module, Debug)]
pub struct TanhGaussianActor {
    /// The trunk; outputs `2·act_dim` columns (mean, then raw log-std).
    pub net: Mlp,
    /// The learnable log-std multiplier `m`, `(1,)`.
    pub log_std_multiplier: Param<Tensor<1>>,
    /// The learnable log-std offset `o`, `(1,)`.
    pub log_std_offset: Param<Tensor<1>>,
}

impl TanhGaussianActor {
    /// A fresh actor with widths `sizes` (last = 2·act_dim): hidden layers with PyTorch's
    /// default init, the output layer Xavier-uniform with gain 1e-2 and zero bias (CORL
    /// `init_module_weights(base_network)`, which the policy calls without orthogonal init).
    pub fn new(sizes: &[usize], c: &CqlConfig, rng: &mut ChaCha8Rng, device: &Device) -> Self {
        let mut net = Mlp::new(sizes, rng, device);
        let k = sizes.len() - 2;
        let w = xavier_uniform(rng, sizes[k], sizes[k + 1], 1e-2);
        set_layer(&mut net, k, w, device);
        Self {
            net,
            log_std_multiplier: Param::from_tensor(Tensor::from_floats(
                [c.log_std_multiplier as f32],
                device,
            )),
            log_std_offset: Param::from_tensor(Tensor::from_floats(
                [c.log_std_offset as f32],
                device,
            )),
        }
    }

    /// `(mean, log σ)` of the pre-tanh Gaussian, each `(B, act_dim)`.
    pub fn dist(&self, observations: Tensor<2>, c: &CqlConfig) -> (Tensor<2>, Tensor<2>) {
        let (mean, raw) = crate::sac::split_mean_log_std(self.net.forward(observations));
        let m = self.log_std_multiplier.val().unsqueeze_dim::<2>(0);
        let o = self.log_std_offset.val().unsqueeze_dim::<2>(0);
        let log_std = (raw * m + o).clamp(c.log_std_min, c.log_std_max);
        (mean, log_std)
    }

    /// Reparameterised `(max_action·tanh(u), log π)` with `u = mean + σ·eps`; `eps` is standard
    /// normal `(B, act_dim)`; log π `(B, 1)` includes the tanh correction (not the max_action
    /// scaling, as CORL).
    pub fn sample(
        &self,
        observations: Tensor<2>,
        eps: Tensor<2>,
        c: &CqlConfig,
    ) -> (Tensor<2>, Tensor<2>) {
        let (mean, log_std) = self.dist(observations, c);
        let (a, log_pi) = tanh_gaussian_sample(mean, log_std, eps);
        (a.mul_scalar(c.max_action), log_pi)
    }

    /// `log π(a|s)` of given actions `(B, 1)` (the BC warm-up's likelihood): `u = atanh(a/max)`
    /// with `|a/max|` clamped to 1 − 1e-6. CORL's `log_prob` (by a slip) scores a fresh sample
    /// instead of `a`; this is the intended quantity. Unused with the default `bc_steps = 0`.
    pub fn log_prob(
        &self,
        observations: Tensor<2>,
        actions: Tensor<2>,
        c: &CqlConfig,
    ) -> Tensor<2> {
        let (mean, log_std) = self.dist(observations, c);
        let y = actions
            .div_scalar(c.max_action)
            .clamp(-1.0 + 1e-6, 1.0 - 1e-6);
        // atanh(y) = ½·(ln(1 + y) − ln(1 − y)).
        let u = (y.clone().log1p() - y.neg().log1p()).mul_scalar(0.5);
        gaussian_log_prob(u.clone(), mean, log_std) - tanh_log_det(u).sum_dim(1)
    }
}

/// `x (B, D)` → `(B·n, D)` with each row repeated `n` times consecutively (row `b·n + k` is
/// row `b`; CORL's `extend_and_repeat` flattened).
pub fn repeat_rows(x: Tensor<2>, n: usize) -> Tensor<2> {
    let [b, d] = x.dims();
    x.unsqueeze_dim::<3>(1).repeat_dim(1, n).reshape([b * n, d])
}

/// One update's random draws: standard normals for the policy's reparameterisation and
/// uniform actions for the logsumexp. Row `b·n + k` of the `(B·n, A)` fields belongs to
/// state `b`.
#[derive(Clone, Debug)]
pub struct CqlNoise {
    /// `(B, A)`: π(·|s) for the policy loss.
    pub pi: Tensor<2>,
    /// `(B, A)`: π(·|s′) for the TD target.
    pub next: Tensor<2>,
    /// `(B·n, A)`: π(·|s) repeated, the "current" logsumexp actions.
    pub current: Tensor<2>,
    /// `(B·n, A)`: π(·|s′) repeated, the "next" logsumexp actions.
    pub next_repeat: Tensor<2>,
    /// `(B·n, A)`: U(−1, 1) actions, the "random" logsumexp actions.
    pub random: Tensor<2>,
}

impl CqlNoise {
    /// Draws from a ChaCha8 stream seeded `seed`: normals for pi, next, current, next_repeat
    /// (in that order), then the uniforms; uploaded as two tensors.
    pub fn draw(seed: u64, batch: usize, n: usize, act_dim: usize, device: &Device) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let (b, bn) = (batch, batch * n);
        let rows = 2 * b + 2 * bn;
        let z = upload(normals(&mut rng, rows * act_dim), rows, act_dim, device);
        let random = upload(
            uniforms(&mut rng, bn * act_dim, -1.0, 1.0),
            bn,
            act_dim,
            device,
        );
        let a = act_dim;
        Self {
            pi: z.clone().slice([0..b, 0..a]),
            next: z.clone().slice([b..2 * b, 0..a]),
            current: z.clone().slice([2 * b..2 * b + bn, 0..a]),
            next_repeat: z.slice([2 * b + bn..rows, 0..a]),
            random,
        }
    }
}

/// The actor's draws used by the critic loss, taken before any parameter moves (plain,
/// no gradient).
#[derive(Clone, Debug)]
pub struct CqlSamples {
    /// `(B, A)` a′ ~ π(·|s′) for the TD target, and its `(B, 1)` log-probability.
    pub next: (Tensor<2>, Tensor<2>),
    /// `(B·n, A)` actions ~ π(·|s) and `(B·n, 1)` log-probabilities.
    pub current: (Tensor<2>, Tensor<2>),
    /// `(B·n, A)` actions ~ π(·|s′) and `(B·n, 1)` log-probabilities.
    pub next_repeat: (Tensor<2>, Tensor<2>),
    /// `(B·n, A)` uniform actions.
    pub random: Tensor<2>,
}

/// Samples the critic loss's actions from a plain (non-autodiff) actor, in one actor pass
/// over the stacked states `[s′; s repeated; s′ repeated]` (gpu-performance.md §6b: fewer,
/// larger launches).
pub fn draw_samples(
    actor: &TanhGaussianActor,
    batch: &Batch,
    noise: &CqlNoise,
    c: &CqlConfig,
) -> CqlSamples {
    let n = c.n_actions;
    let [b, a] = batch.actions.dims();
    let bn = b * n;
    let states = Tensor::cat(
        vec![
            batch.next_observations.clone(),
            repeat_rows(batch.observations.clone(), n),
            repeat_rows(batch.next_observations.clone(), n),
        ],
        0,
    );
    let eps = Tensor::cat(
        vec![
            noise.next.clone(),
            noise.current.clone(),
            noise.next_repeat.clone(),
        ],
        0,
    );
    let (act, log_pi) = actor.sample(states, eps, c);
    let rows = |r: std::ops::Range<usize>| {
        (
            act.clone().slice([r.clone(), 0..a]),
            log_pi.clone().slice([r, 0..1]),
        )
    };
    CqlSamples {
        next: rows(0..b),
        current: rows(b..b + bn),
        next_repeat: rows(b + bn..b + 2 * bn),
        random: noise.random.clone(),
    }
}

/// The policy-side losses of one update.
pub struct PolicyLosses {
    /// `mean(α·log π(ã|s) − min_k Q_k(s, ã))`, or during BC steps `mean(α·log π(ã|s) −
    /// log π(a|s))`: `(1,)`.
    pub policy: Tensor<1>,
    /// The temperature loss (zero without automatic tuning): `(1,)`.
    pub alpha: Tensor<1>,
}

/// CORL `_policy_loss` and `_alpha_and_alpha_loss`: `alpha` is `exp(log α)·multiplier`
/// (detached) with automatic tuning, else the multiplier. All arguments autodiff; `eps` is
/// the `(B, A)` policy noise.
#[allow(clippy::too_many_arguments)]
pub fn policy_losses(
    actor: &TanhGaussianActor,
    critic: &TwinCritic,
    log_alpha: &LogScalar,
    observations: Tensor<2>,
    actions: Tensor<2>,
    eps: Tensor<2>,
    bc: bool,
    c: &CqlConfig,
) -> PolicyLosses {
    let [_, act_dim] = actions.dims();
    let (new_actions, log_pi) = actor.sample(observations.clone(), eps, c);
    let (alpha, alpha_loss) = if c.automatic_entropy_tuning {
        (
            log_alpha.exp().detach().mul_scalar(c.alpha_multiplier),
            temperature_loss(log_alpha, log_pi.clone(), -(act_dim as f64)),
        )
    } else {
        let zero = log_alpha.value.val().detach().mul_scalar(0.0);
        (zero.clone().add_scalar(c.alpha_multiplier), zero)
    };
    let entropy = log_pi * alpha.unsqueeze_dim::<2>(0);
    let policy = if bc {
        (entropy - actor.log_prob(observations, actions, c)).mean()
    } else {
        (entropy - critic.min_q(observations, new_actions)).mean()
    };
    PolicyLosses {
        policy,
        alpha: alpha_loss,
    }
}

/// The critic-side losses of one update.
pub struct QLosses {
    /// `MSE(Q1(s, a), y) + MSE(Q2(s, a), y)`: `(1,)`.
    pub td: Tensor<1>,
    /// The conservative penalty summed over both critics (α′-weighted in the Lagrange
    /// version): `(1,)`.
    pub cql: Tensor<1>,
    /// Lagrange version only: `−½·α′·α_cql·Σ_k (gap_k − τ)` with the gaps detached, `(1,)`.
    pub alpha_prime: Option<Tensor<1>>,
    /// `logsumexp − Q(s, a)` averaged over the batch, per critic: `(2,)` (detached).
    pub gap: Tensor<1>,
}

/// CORL `_q_loss`. `critic` and `log_alpha_prime` are autodiff, `critic_target` and
/// `samples` plain; `alpha` is the plain temperature `(1,)` (used with `backup_entropy`).
pub fn q_losses(
    critic: &TwinCritic,
    critic_target: &TwinCritic,
    log_alpha_prime: &LogScalar,
    batch: &Batch,
    samples: &CqlSamples,
    alpha: Tensor<1>,
    c: &CqlConfig,
) -> QLosses {
    let [b, act_dim] = batch.actions.dims();
    let n = c.n_actions;
    let (next_a, next_log_pi) = samples.next.clone();
    let mut target_q = critic_target.min_q(batch.next_observations.clone(), next_a);
    if c.backup_entropy {
        target_q = target_q - next_log_pi * alpha.unsqueeze_dim::<2>(0);
    }
    let not_done = batch.dones.clone().neg().add_scalar(1.0);
    let y = (batch.rewards.clone() + not_done * target_q.mul_scalar(c.discount)).autodiff();

    // One fused pass over [data, random, next-policy, current-policy] actions.
    let obs = batch.observations.clone();
    let obs_rep = repeat_rows(obs.clone(), n);
    let obs_all = Tensor::cat(vec![obs, obs_rep.clone(), obs_rep.clone(), obs_rep], 0);
    let act_all = Tensor::cat(
        vec![
            batch.actions.clone(),
            samples.random.clone(),
            samples.next_repeat.0.clone(),
            samples.current.0.clone(),
        ],
        0,
    );
    let q_all = critic.forward(obs_all.autodiff(), act_all.autodiff()); // (2, B + 3Bn, 1)
    let block = |k: usize| {
        let start = b + k * b * n;
        q_all
            .clone()
            .slice([0..2, start..start + b * n, 0..1])
            .reshape([2, b, n])
    };
    let q_pred = q_all.clone().slice([0..2, 0..b, 0..1]); // (2, B, 1)
    let (q_rand, q_next, q_cur) = (block(0), block(1), block(2));
    let td = (q_pred.clone() - y.unsqueeze_dim::<3>(0))
        .square()
        .sum()
        .div_scalar(b as f64);

    let cat = if c.importance_sample {
        let log_density = |lp: &Tensor<2>| lp.clone().reshape([1, b, n]).autodiff();
        let random_density = act_dim as f64 * 0.5f64.ln();
        Tensor::cat(
            vec![
                q_rand.sub_scalar(random_density),
                q_next - log_density(&samples.next_repeat.1),
                q_cur - log_density(&samples.current.1),
            ],
            2,
        )
    } else {
        Tensor::cat(vec![q_rand, q_pred.clone(), q_next, q_cur], 2)
    };
    let x = cat.div_scalar(c.temp);
    let m = x.clone().max_dim(2).detach();
    let ood = ((x - m.clone()).exp().sum_dim(2).log() + m).mul_scalar(c.temp); // (2, B, 1)
    let mut diff = ood - q_pred;
    if c.clip_diff_min.is_some() || c.clip_diff_max.is_some() {
        diff = diff.clamp(
            c.clip_diff_min.unwrap_or(f64::MIN),
            c.clip_diff_max.unwrap_or(f64::MAX),
        );
    }
    let gap = diff.mean_dim(1).reshape([2]); // (2,)
    let (cql, alpha_prime) = if c.lagrange {
        let ap = log_alpha_prime.exp().clamp(0.0, 1e6);
        let shortfall = gap.clone().sub_scalar(c.target_action_gap);
        let cql = (shortfall.clone() * ap.clone().detach())
            .sum()
            .mul_scalar(c.cql_alpha);
        let ap_loss = (ap * shortfall.detach().sum()).mul_scalar(-0.5 * c.cql_alpha);
        (cql, Some(ap_loss))
    } else {
        (gap.clone().sum().mul_scalar(c.cql_alpha), None)
    };
    QLosses {
        td,
        cql,
        alpha_prime,
        gap: gap.detach().inner(),
    }
}

/// CQL: tanh-Gaussian actor, twin critics and their target, `log α`, `log α′`, four Adams.
pub struct Cql {
    /// Hyper-parameters.
    pub config: CqlConfig,
    actor: Option<TanhGaussianActor>,
    critic: Option<TwinCritic>,
    log_alpha: Option<LogScalar>,
    log_alpha_prime: Option<LogScalar>,
    critic_target: TwinCritic,
    actor_optim: ModuleOptimizer,
    critic_optim: ModuleOptimizer,
    alpha_optim: ModuleOptimizer,
    alpha_prime_optim: ModuleOptimizer,
    device: Device,
    obs_dim: usize,
    act_dim: usize,
}

impl Cql {
    /// Fresh networks on `device`, initialised from `seed`: critics orthogonal (when
    /// `orthogonal_init`), `log α = 0`, `log α′ = 1` (CORL `Scalar(0.0)`, `Scalar(1.0)`).
    pub fn new(
        config: CqlConfig,
        obs_dim: usize,
        act_dim: usize,
        seed: u64,
        device: &Device,
    ) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let (actor_sizes, critic_sizes) = sizes(&config, obs_dim, act_dim);
        let critic = if config.orthogonal_init {
            orthogonal_twin_critic(&critic_sizes, &mut rng, device)
        } else {
            TwinCritic::new(&critic_sizes, &mut rng, device)
        };
        let actor = TanhGaussianActor::new(&actor_sizes, &config, &mut rng, device);
        Self::from_parts(config, actor, critic, device, obs_dim, act_dim)
    }

    /// Builds the agent from given (plain) networks; the target starts as a copy.
    pub fn from_parts(
        config: CqlConfig,
        actor: TanhGaussianActor,
        critic: TwinCritic,
        device: &Device,
        obs_dim: usize,
        act_dim: usize,
    ) -> Self {
        Self {
            critic_target: critic.valid(),
            actor: Some(actor.train()),
            critic: Some(critic.train()),
            log_alpha: Some(LogScalar::new(0.0, device).train()),
            log_alpha_prime: Some(LogScalar::new(1.0, device).train()),
            actor_optim: torch_adam(),
            critic_optim: torch_adam(),
            alpha_optim: torch_adam(),
            alpha_prime_optim: torch_adam(),
            config,
            device: device.clone(),
            obs_dim,
            act_dim,
        }
    }

    /// The online actor (autodiff).
    pub fn actor(&self) -> &TanhGaussianActor {
        self.actor.as_ref().expect("actor present between steps")
    }

    fn modules(&self) -> (&TwinCritic, &LogScalar, &LogScalar) {
        (
            self.critic.as_ref().expect("critic present between steps"),
            self.log_alpha.as_ref().expect("log_alpha present"),
            self.log_alpha_prime
                .as_ref()
                .expect("log_alpha_prime present"),
        )
    }
}

/// Actor and critic widths: `[S, h×n, 2A]`, `[S + A, h×n, 1]`.
fn sizes(c: &CqlConfig, obs_dim: usize, act_dim: usize) -> (Vec<usize>, Vec<usize>) {
    (
        layer_sizes(obs_dim, c.hidden, c.n_hidden, 2 * act_dim),
        layer_sizes(obs_dim + act_dim, c.hidden, c.n_hidden, 1),
    )
}

impl Agent for Cql {
    fn update(&mut self, batch: &Batch, step: u64, seed: u64) -> Losses {
        let c = self.config.clone();
        let total_it = step + 1; // CORL increments total_it first
        let [b, _] = batch.actions.dims();
        let noise = CqlNoise::draw(seed, b, c.n_actions, self.act_dim, &self.device);
        let actor = self.actor.take().expect("actor present between steps");
        let critic = self.critic.take().expect("critic present between steps");
        let log_alpha = self.log_alpha.take().expect("log_alpha present");
        let log_alpha_prime = self
            .log_alpha_prime
            .take()
            .expect("log_alpha_prime present");

        // Draws for the critic loss and the temperature, before anything moves.
        let samples = draw_samples(&actor.valid(), batch, &noise, &c);
        let alpha = if c.automatic_entropy_tuning {
            log_alpha.valid().exp().mul_scalar(c.alpha_multiplier)
        } else {
            Tensor::from_floats([c.alpha_multiplier as f32], &self.device)
        };

        let obs = batch.observations.clone().autodiff();
        let act = batch.actions.clone().autodiff();
        let pl = policy_losses(
            &actor,
            &critic,
            &log_alpha,
            obs,
            act,
            noise.pi.autodiff(),
            total_it <= c.bc_steps,
            &c,
        );
        let mut grads = (pl.policy.clone() + pl.alpha.clone()).backward();
        let g_actor = GradientsParams::from_module(&mut grads, &actor);
        let g_alpha = GradientsParams::from_module(&mut grads, &log_alpha);
        let actor = self.actor_optim.step(c.policy_lr, actor, g_actor);
        let log_alpha = if c.automatic_entropy_tuning {
            self.alpha_optim.step(c.policy_lr, log_alpha, g_alpha)
        } else {
            log_alpha
        };

        let ql = q_losses(
            &critic,
            &self.critic_target,
            &log_alpha_prime,
            batch,
            &samples,
            alpha,
            &c,
        );
        let total = match &ql.alpha_prime {
            Some(ap) => ql.td.clone() + ql.cql.clone() + ap.clone(),
            None => ql.td.clone() + ql.cql.clone(),
        };
        let mut grads = total.backward();
        let g_critic = GradientsParams::from_module(&mut grads, &critic);
        let g_prime = GradientsParams::from_module(&mut grads, &log_alpha_prime);
        let critic = self.critic_optim.step(c.qf_lr, critic, g_critic);
        let log_alpha_prime = if c.lagrange {
            self.alpha_prime_optim
                .step(c.qf_lr, log_alpha_prime, g_prime)
        } else {
            log_alpha_prime
        };
        if total_it.is_multiple_of(c.target_update_period) {
            let target = std::mem::replace(&mut self.critic_target, critic.valid());
            self.critic_target = soft_update(target, &critic.valid(), c.tau);
        }
        self.actor = Some(actor);
        self.critic = Some(critic);
        self.log_alpha = Some(log_alpha);
        self.log_alpha_prime = Some(log_alpha_prime);

        let mut losses = vec![
            ("td_loss", ql.td.detach().inner()),
            ("cql_loss", ql.cql.detach().inner()),
            ("policy_loss", pl.policy.detach().inner()),
            ("alpha_loss", pl.alpha.detach().inner()),
        ];
        if let Some(ap) = ql.alpha_prime {
            losses.push(("alpha_prime_loss", ap.detach().inner()));
        }
        losses
    }

    fn act(&self, observations: Tensor<2>) -> Tensor<2> {
        let (mean, _) = self.actor().valid().dist(observations, &self.config);
        mean.tanh().mul_scalar(self.config.max_action)
    }

    fn host_actor(&self) -> HostMlp {
        host_mean_actor(
            &self.actor().valid().net,
            self.act_dim,
            self.config.max_action,
        )
    }

    fn params(&self) -> Vec<Vec<f32>> {
        let (critic, log_alpha, log_alpha_prime) = self.modules();
        let mut p = host_params(&self.actor().valid());
        p.extend(host_params(&critic.valid()));
        p.extend(host_params(&self.critic_target));
        p.extend(host_params(&log_alpha.valid()));
        p.extend(host_params(&log_alpha_prime.valid()));
        p
    }

    fn save(&self, dir: &Path) -> Result<(), RlError> {
        let (critic, log_alpha, log_alpha_prime) = self.modules();
        save_module(self.actor().valid(), dir, "actor.bpk")?;
        save_module(critic.valid(), dir, "critic.bpk")?;
        save_module(self.critic_target.clone(), dir, "critic_target.bpk")?;
        save_module(log_alpha.valid(), dir, "log_alpha.bpk")?;
        save_module(log_alpha_prime.valid(), dir, "log_alpha_prime.bpk")?;
        save_optims(
            dir,
            &[
                ("actor_optim.bpk", &self.actor_optim),
                ("critic_optim.bpk", &self.critic_optim),
                ("alpha_optim.bpk", &self.alpha_optim),
                ("alpha_prime_optim.bpk", &self.alpha_prime_optim),
            ],
        )
    }

    fn load(&mut self, dir: &Path) -> Result<(), RlError> {
        let (actor_sizes, critic_sizes) = sizes(&self.config, self.obs_dim, self.act_dim);
        let d = &self.device;
        // Loading overwrites every parameter; the init values are irrelevant.
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let actor = TanhGaussianActor::new(&actor_sizes, &self.config, &mut rng, d);
        let actor = load_module(actor, dir, "actor.bpk")?;
        let critic = TwinCritic::new(&critic_sizes, &mut rng, d);
        let critic = load_module(critic, dir, "critic.bpk")?;
        let critic_target = load_module(critic.clone(), dir, "critic_target.bpk")?;
        let log_alpha = load_module(LogScalar::new(0.0, d), dir, "log_alpha.bpk")?;
        let log_alpha_prime = load_module(LogScalar::new(0.0, d), dir, "log_alpha_prime.bpk")?;
        self.actor_optim = load_optim(torch_adam(), dir, "actor_optim.bpk")?;
        self.critic_optim = load_optim(torch_adam(), dir, "critic_optim.bpk")?;
        self.alpha_optim = load_optim(torch_adam(), dir, "alpha_optim.bpk")?;
        self.alpha_prime_optim = load_optim(torch_adam(), dir, "alpha_prime_optim.bpk")?;
        self.actor = Some(actor.train());
        self.critic = Some(critic.train());
        self.critic_target = critic_target;
        self.log_alpha = Some(log_alpha.train());
        self.log_alpha_prime = Some(log_alpha_prime.train());
        Ok(())
    }
}
