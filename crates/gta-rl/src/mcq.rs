//! Mildly conservative Q-learning (Lyu et al. 2022), following OfflineRL-Kit's `mcq.py` and
//! `run_mcq.py` (method.md §9.3): a SAC base (tanh-Gaussian actor with dropout, twin critics,
//! automatic entropy tuning), a CVAE behaviour model trained jointly, and the OOD
//! pseudo-target: for actions drawn from the policy at `s` and `s′`, the critics regress on
//! `min_k max_{i ≤ N} Q′_k(s, â_i)` with `â_i` decoded from the CVAE, weighted `1 − λ`
//! against the usual TD loss (weight λ).
//!
//! The update is sequential as in OfflineRL-Kit: the CVAE steps first, the critic loss uses
//! the updated CVAE, the actor loss the updated critics.

use std::path::Path;

use burn::module::Module;
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::agent::{Agent, Batch, HostMlp, Losses};
use crate::checkpoint::{load_module, load_optim, save_module, save_optims};
use crate::config::McqConfig;
use crate::cql::repeat_rows;
use crate::error::RlError;
use crate::nets::{Mlp, TwinCritic, host_params, layer_sizes, soft_update};
use crate::sac::{
    HALF_LN_2PI, LogScalar, dropout_mask, host_mean_actor, normals, temperature_loss, upload,
};
use crate::td3bc::torch_adam;

/// `mlp(x)` with ReLU between layers and `masks[i]` (inverted-dropout, `(B, width)`)
/// multiplied after hidden layer `i`'s ReLU (OfflineRL-Kit `MLP(dropout_rate = p)`: Linear,
/// ReLU, Dropout per hidden layer). No masks = evaluation mode.
pub fn forward_dropout(mlp: &Mlp, x: Tensor<2>, masks: &[Tensor<2>]) -> Tensor<2> {
    let last = mlp.layers.len() - 1;
    let mut h = x;
    for (i, layer) in mlp.layers.iter().enumerate() {
        h = layer.forward(h);
        if i < last {
            h = relu(h);
            if let Some(m) = masks.get(i) {
                h = h * m.clone();
            }
        }
    }
    h
}

/// OfflineRL-Kit's `ActorProb(MLP, TanhDiagGaussian(unbounded, conditioned_sigma))`: the mean
/// and log-std heads (`Linear(h, A)` each, PyTorch init) are fused into the trunk's last
/// layer `Linear(h, 2A)`; `log σ = clamp(head, log_std_min, log_std_max)`.
#[derive(Module, Debug)]
pub struct McqActor {
    /// Trunk with widths `[S, h×n, 2A]` (mean columns first).
    pub net: Mlp,
}

impl McqActor {
    /// `(mean, log σ)`, each `(B, A)`, with dropout `masks` (empty = evaluation).
    pub fn dist(
        &self,
        observations: Tensor<2>,
        masks: &[Tensor<2>],
        c: &McqConfig,
    ) -> (Tensor<2>, Tensor<2>) {
        let (mean, raw) =
            crate::sac::split_mean_log_std(forward_dropout(&self.net, observations, masks));
        (mean, raw.clamp(c.log_std_min, c.log_std_max))
    }

    /// Reparameterised `(max·tanh(u), log π)` with `u = mean + σ·ε` and OfflineRL-Kit's
    /// `TanhNormalWrapper.log_prob`: `Σ_j [log N(u_j) − log(max·(1 − tanh² u_j) + 1e-6)]`
    /// (the ε-regularised correction of the reference, kept for fidelity).
    pub fn sample(
        &self,
        observations: Tensor<2>,
        noise: &ActorNoise,
        c: &McqConfig,
    ) -> (Tensor<2>, Tensor<2>) {
        let (mean, log_std) = self.dist(observations, &noise.masks, c);
        let eps = noise.eps.clone();
        let [_, a] = eps.dims();
        let u = mean + log_std.clone().exp() * eps.clone();
        let squashed = u.tanh();
        let correction = squashed
            .clone()
            .square()
            .neg()
            .add_scalar(1.0)
            .mul_scalar(c.max_action)
            .add_scalar(1e-6)
            .log();
        let log_pi = (eps.square().mul_scalar(-0.5) - log_std - correction)
            .sum_dim(1)
            .sub_scalar(HALF_LN_2PI * a as f64);
        (squashed.mul_scalar(c.max_action), log_pi)
    }
}

/// The CVAE behaviour model (OfflineRL-Kit `VAE`, as BCQ's): encoder `[S + A, H, H, 2L]`
/// (mean and log-std heads fused), decoder `[S + L, H, H, A]` with `max·tanh` output.
#[derive(Module, Debug)]
pub struct Vae {
    /// `(s, a) → [μ_z, log σ_z]`.
    pub encoder: Mlp,
    /// `(s, z) → â` before `max·tanh`.
    pub decoder: Mlp,
}

impl Vae {
    /// A fresh CVAE with PyTorch's default init.
    pub fn new(
        obs_dim: usize,
        act_dim: usize,
        hidden: usize,
        latent: usize,
        rng: &mut ChaCha8Rng,
        device: &Device,
    ) -> Self {
        Self {
            encoder: Mlp::new(
                &[obs_dim + act_dim, hidden, hidden, 2 * latent],
                rng,
                device,
            ),
            decoder: Mlp::new(&[obs_dim + latent, hidden, hidden, act_dim], rng, device),
        }
    }

    /// `â = max·tanh(decoder([s, z]))`.
    pub fn decode(&self, observations: Tensor<2>, z: Tensor<2>, max_action: f64) -> Tensor<2> {
        self.decoder
            .forward(Tensor::cat(vec![observations, z], 1))
            .tanh()
            .mul_scalar(max_action)
    }

    /// `MSE(â, a) + KL`, `KL = −½·mean(1 + log σ² − μ² − σ²)` over all latent entries, with
    /// `z = μ + σ·eps`, `log σ` clamped to [−4, 15] (OfflineRL-Kit `MCQPolicy.learn`): `(1,)`.
    pub fn loss(
        &self,
        observations: Tensor<2>,
        actions: Tensor<2>,
        eps: Tensor<2>,
        max_action: f64,
    ) -> Tensor<1> {
        let h = self
            .encoder
            .forward(Tensor::cat(vec![observations.clone(), actions.clone()], 1));
        let [b, two_l] = h.dims();
        let l = two_l / 2;
        let mean = h.clone().slice([0..b, 0..l]);
        let log_std = h.slice([0..b, l..two_l]).clamp(-4.0, 15.0);
        let std = log_std.clone().exp();
        let z = mean.clone() + std.clone() * eps;
        let recon = (self.decode(observations, z, max_action) - actions)
            .square()
            .mean();
        let kl = (log_std.mul_scalar(2.0).add_scalar(1.0) - mean.square() - std.square())
            .mean()
            .mul_scalar(-0.5);
        recon + kl
    }
}

/// One actor call's draws: standard normals `(R, A)` and one dropout mask `(R, h)` per hidden
/// layer (none when the dropout rate is 0).
#[derive(Clone, Debug)]
pub struct ActorNoise {
    /// Reparameterisation noise.
    pub eps: Tensor<2>,
    /// Inverted-dropout masks, one per hidden layer.
    pub masks: Vec<Tensor<2>>,
}

/// One update's random draws (OfflineRL-Kit draws them in the same roles).
#[derive(Clone, Debug)]
pub struct McqNoise {
    /// `(B, L)`: the CVAE's reparameterisation.
    pub vae: Tensor<2>,
    /// Actor at s′ for the TD target (B rows).
    pub next: ActorNoise,
    /// `(2B·N, L)`: decoder latents (clipped to ±latent_clip when used), row `r·N + i` for
    /// state `r` of `[s; s′]`.
    pub latent: Tensor<2>,
    /// Actor at `[s; s′]` for the OOD actions (2B rows).
    pub ood: ActorNoise,
    /// Actor at s for the actor loss (B rows).
    pub pi: ActorNoise,
}

impl McqNoise {
    /// Draws from a ChaCha8 stream seeded `seed`, in field order (vae, next, latent, ood, pi;
    /// each actor call's normals before its masks).
    pub fn draw(seed: u64, batch: usize, act_dim: usize, c: &McqConfig, device: &Device) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let latent_dim = latent_dim(c, act_dim);
        let n = c.num_sampled_actions;
        let actor = |rng: &mut ChaCha8Rng, rows: usize| {
            let eps = upload(normals(rng, rows * act_dim), rows, act_dim, device);
            let masks = if c.actor_dropout > 0.0 {
                (0..c.n_hidden)
                    .map(|_| {
                        let m = dropout_mask(rng, rows * c.hidden, c.actor_dropout);
                        upload(m, rows, c.hidden, device)
                    })
                    .collect()
            } else {
                Vec::new()
            };
            ActorNoise { eps, masks }
        };
        let vae = upload(
            normals(&mut rng, batch * latent_dim),
            batch,
            latent_dim,
            device,
        );
        let next = actor(&mut rng, batch);
        let rows = 2 * batch * n;
        let latent = upload(
            normals(&mut rng, rows * latent_dim),
            rows,
            latent_dim,
            device,
        );
        let ood = actor(&mut rng, 2 * batch);
        let pi = actor(&mut rng, batch);
        Self {
            vae,
            next,
            latent,
            ood,
            pi,
        }
    }
}

/// The CVAE latent width: `vae_latent`, or 2·|A| when 0.
pub fn latent_dim(c: &McqConfig, act_dim: usize) -> usize {
    if c.vae_latent == 0 {
        2 * act_dim
    } else {
        c.vae_latent
    }
}

/// The critic losses of one update.
pub struct CriticLosses {
    /// `λ·in + (1 − λ)·ood`, summed over both critics: `(1,)`.
    pub total: Tensor<1>,
    /// `Σ_k mean (Q_k(s, a) − y)²`, `y = r + γ(1−d)·(min_k Q′_k(s′, a′) − α·log π(a′|s′))`.
    pub in_dist: Tensor<1>,
    /// `Σ_k mean (Q_k(s̃, ã) − y_ood)²` over `s̃ ∈ [s; s′]`, `ã ~ π(·|s̃)`,
    /// `y_ood = min_k max_i Q′_k(s̃, â_i)` with `â_i` from the CVAE decoder.
    pub ood: Tensor<1>,
}

/// OfflineRL-Kit `MCQPolicy.learn`'s critic part. `critic` autodiff; `critic_target`, `actor`
/// and `vae` plain; `alpha` the plain temperature `(1,)`.
#[allow(clippy::too_many_arguments)]
pub fn critic_losses(
    critic: &TwinCritic,
    critic_target: &TwinCritic,
    actor: &McqActor,
    vae: &Vae,
    batch: &Batch,
    noise: &McqNoise,
    alpha: Tensor<1>,
    c: &McqConfig,
) -> CriticLosses {
    let [b, _] = batch.actions.dims();
    let n = c.num_sampled_actions;
    // One actor pass over [s′; s; s′]: the TD target's action, then the OOD actions.
    let s_in = Tensor::cat(
        vec![batch.observations.clone(), batch.next_observations.clone()],
        0,
    );
    let stacked = ActorNoise {
        eps: Tensor::cat(vec![noise.next.eps.clone(), noise.ood.eps.clone()], 0),
        masks: noise
            .next
            .masks
            .iter()
            .zip(&noise.ood.masks)
            .map(|(m1, m2)| Tensor::cat(vec![m1.clone(), m2.clone()], 0))
            .collect(),
    };
    let (acts, log_pis) = actor.sample(
        Tensor::cat(vec![batch.next_observations.clone(), s_in.clone()], 0),
        &stacked,
        c,
    );
    let [_, a] = batch.actions.dims();
    let next_a = acts.clone().slice([0..b, 0..a]);
    let next_log_pi = log_pis.slice([0..b, 0..1]);
    let ood_a = acts.slice([b..3 * b, 0..a]);
    let next_q = critic_target.min_q(batch.next_observations.clone(), next_a)
        - next_log_pi * alpha.unsqueeze_dim::<2>(0);
    let not_done = batch.dones.clone().neg().add_scalar(1.0);
    let y = batch.rewards.clone() + not_done * next_q.mul_scalar(c.discount);

    let s_rep = repeat_rows(s_in.clone(), n);
    let z = noise.latent.clone().clamp(-c.latent_clip, c.latent_clip);
    let sampled = vae.decode(s_rep.clone(), z, c.max_action);
    let y_ood = critic_target
        .forward(s_rep, sampled)
        .reshape([2, 2 * b, n])
        .max_dim(2)
        .min_dim(0)
        .reshape([2 * b, 1]);

    // One fused critic pass over the data actions and the OOD actions.
    let obs_all = Tensor::cat(vec![batch.observations.clone(), s_in], 0).autodiff();
    let act_all = Tensor::cat(vec![batch.actions.clone(), ood_a], 0).autodiff();
    let q = critic.forward(obs_all, act_all); // (2, 3B, 1)
    let q_in = q.clone().slice([0..2, 0..b, 0..1]);
    let q_ood = q.slice([0..2, b..3 * b, 0..1]);
    let in_dist = (q_in - y.autodiff().unsqueeze_dim::<3>(0))
        .square()
        .sum()
        .div_scalar(b as f64);
    let ood = (q_ood - y_ood.autodiff().unsqueeze_dim::<3>(0))
        .square()
        .sum()
        .div_scalar(2.0 * b as f64);
    let total = in_dist.clone().mul_scalar(c.lambda) + ood.clone().mul_scalar(1.0 - c.lambda);
    CriticLosses {
        total,
        in_dist,
        ood,
    }
}

/// SAC's actor loss `−mean min_k Q_k(s, ã) + α·mean log π(ã|s)`, `ã ~ π(·|s)` (all autodiff;
/// `alpha` detached `(1,)`). Returns `(loss, log π (B, 1))`.
pub fn actor_loss(
    actor: &McqActor,
    critic: &TwinCritic,
    observations: Tensor<2>,
    noise: &ActorNoise,
    alpha: Tensor<1>,
    c: &McqConfig,
) -> (Tensor<1>, Tensor<2>) {
    let (a, log_pi) = actor.sample(observations.clone(), noise, c);
    let q = critic.min_q(observations, a);
    let loss = q.mean().neg() + log_pi.clone().mean() * alpha;
    (loss, log_pi)
}

/// MCQ: actor, twin critics and their target, CVAE, `log α`, four Adams.
pub struct Mcq {
    /// Hyper-parameters.
    pub config: McqConfig,
    actor: Option<McqActor>,
    critic: Option<TwinCritic>,
    vae: Option<Vae>,
    log_alpha: Option<LogScalar>,
    critic_target: TwinCritic,
    actor_optim: ModuleOptimizer,
    critic_optim: ModuleOptimizer,
    vae_optim: ModuleOptimizer,
    alpha_optim: ModuleOptimizer,
    device: Device,
    obs_dim: usize,
    act_dim: usize,
}

/// Widths: actor `[S, h×n, 2A]`, critics `[S + A, h×n, 1]`.
fn sizes(c: &McqConfig, obs_dim: usize, act_dim: usize) -> (Vec<usize>, Vec<usize>) {
    (
        layer_sizes(obs_dim, c.hidden, c.n_hidden, 2 * act_dim),
        layer_sizes(obs_dim + act_dim, c.hidden, c.n_hidden, 1),
    )
}

impl Mcq {
    /// Fresh networks on `device` (PyTorch default init), initialised from `seed`; `log α = 0`.
    pub fn new(
        config: McqConfig,
        obs_dim: usize,
        act_dim: usize,
        seed: u64,
        device: &Device,
    ) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let (actor_sizes, critic_sizes) = sizes(&config, obs_dim, act_dim);
        let actor = McqActor {
            net: Mlp::new(&actor_sizes, &mut rng, device),
        };
        let critic = TwinCritic::new(&critic_sizes, &mut rng, device);
        let latent = latent_dim(&config, act_dim);
        let vae = Vae::new(
            obs_dim,
            act_dim,
            config.vae_hidden,
            latent,
            &mut rng,
            device,
        );
        Self {
            critic_target: critic.valid(),
            actor: Some(actor.train()),
            critic: Some(critic.train()),
            vae: Some(vae.train()),
            log_alpha: Some(LogScalar::new(0.0, device).train()),
            actor_optim: torch_adam(),
            critic_optim: torch_adam(),
            vae_optim: torch_adam(),
            alpha_optim: torch_adam(),
            config,
            device: device.clone(),
            obs_dim,
            act_dim,
        }
    }

    /// The online actor (autodiff).
    pub fn actor(&self) -> &McqActor {
        self.actor.as_ref().expect("actor present between steps")
    }

    /// The current temperature: `clamp(exp(log α), 0, 1)` with auto-α, else the fixed α
    /// (plain `(1,)`).
    fn alpha(&self, log_alpha: &LogScalar) -> Tensor<1> {
        if self.config.auto_alpha {
            log_alpha.valid().exp().clamp(0.0, 1.0)
        } else {
            Tensor::from_floats([self.config.alpha as f32], &self.device)
        }
    }

    fn modules(&self) -> (&TwinCritic, &Vae, &LogScalar) {
        (
            self.critic.as_ref().expect("critic present between steps"),
            self.vae.as_ref().expect("vae present between steps"),
            self.log_alpha.as_ref().expect("log_alpha present"),
        )
    }
}

impl Agent for Mcq {
    fn update(&mut self, batch: &Batch, _step: u64, seed: u64) -> Losses {
        let c = self.config.clone();
        let [b, _] = batch.actions.dims();
        let noise = McqNoise::draw(seed, b, self.act_dim, &c, &self.device);
        let obs = batch.observations.clone().autodiff();

        let vae = self.vae.take().expect("vae present between steps");
        let loss_vae = vae.loss(
            obs.clone(),
            batch.actions.clone().autodiff(),
            noise.vae.clone().autodiff(),
            c.max_action,
        );
        let grads = GradientsParams::from_grads(loss_vae.backward(), &vae);
        let vae = self.vae_optim.step(c.vae_lr, vae, grads);

        let log_alpha = self.log_alpha.take().expect("log_alpha present");
        let alpha = self.alpha(&log_alpha);
        let actor = self.actor.take().expect("actor present between steps");
        let critic = self.critic.take().expect("critic present between steps");
        let cl = critic_losses(
            &critic,
            &self.critic_target,
            &actor.valid(),
            &vae.valid(),
            batch,
            &noise,
            alpha.clone(),
            &c,
        );
        let grads = GradientsParams::from_grads(cl.total.backward(), &critic);
        let critic = self.critic_optim.step(c.critic_lr, critic, grads);

        let (loss_pi, log_pi) = actor_loss(
            &actor,
            &critic,
            obs,
            &ActorNoise {
                eps: noise.pi.eps.autodiff(),
                masks: noise.pi.masks.into_iter().map(|m| m.autodiff()).collect(),
            },
            alpha.autodiff(),
            &c,
        );
        let loss_alpha = temperature_loss(&log_alpha, log_pi, -(self.act_dim as f64));
        let mut grads = (loss_pi.clone() + loss_alpha.clone()).backward();
        let g_actor = GradientsParams::from_module(&mut grads, &actor);
        let g_alpha = GradientsParams::from_module(&mut grads, &log_alpha);
        let actor = self.actor_optim.step(c.actor_lr, actor, g_actor);
        let log_alpha = if c.auto_alpha {
            self.alpha_optim.step(c.alpha_lr, log_alpha, g_alpha)
        } else {
            log_alpha
        };

        let target = std::mem::replace(&mut self.critic_target, critic.valid());
        self.critic_target = soft_update(target, &critic.valid(), c.tau);
        self.actor = Some(actor);
        self.critic = Some(critic);
        self.vae = Some(vae);
        self.log_alpha = Some(log_alpha);
        vec![
            ("critic_loss", cl.total.detach().inner()),
            ("actor_loss", loss_pi.detach().inner()),
            ("alpha_loss", loss_alpha.detach().inner()),
            ("vae_loss", loss_vae.detach().inner()),
        ]
    }

    fn act(&self, observations: Tensor<2>) -> Tensor<2> {
        let (mean, _) = self.actor().valid().dist(observations, &[], &self.config);
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
        let (critic, vae, log_alpha) = self.modules();
        let mut p = host_params(&self.actor().valid());
        p.extend(host_params(&critic.valid()));
        p.extend(host_params(&self.critic_target));
        p.extend(host_params(&vae.valid()));
        p.extend(host_params(&log_alpha.valid()));
        p
    }

    fn save(&self, dir: &Path) -> Result<(), RlError> {
        let (critic, vae, log_alpha) = self.modules();
        save_module(self.actor().valid(), dir, "actor.bpk")?;
        save_module(critic.valid(), dir, "critic.bpk")?;
        save_module(self.critic_target.clone(), dir, "critic_target.bpk")?;
        save_module(vae.valid(), dir, "vae.bpk")?;
        save_module(log_alpha.valid(), dir, "log_alpha.bpk")?;
        save_optims(
            dir,
            &[
                ("actor_optim.bpk", &self.actor_optim),
                ("critic_optim.bpk", &self.critic_optim),
                ("vae_optim.bpk", &self.vae_optim),
                ("alpha_optim.bpk", &self.alpha_optim),
            ],
        )
    }

    fn load(&mut self, dir: &Path) -> Result<(), RlError> {
        let (actor_sizes, critic_sizes) = sizes(&self.config, self.obs_dim, self.act_dim);
        let d = &self.device;
        // Loading overwrites every parameter; the init values are irrelevant.
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let actor = McqActor {
            net: Mlp::new(&actor_sizes, &mut rng, d),
        };
        let actor = load_module(actor, dir, "actor.bpk")?;
        let critic = TwinCritic::new(&critic_sizes, &mut rng, d);
        let critic = load_module(critic, dir, "critic.bpk")?;
        let critic_target = load_module(critic.clone(), dir, "critic_target.bpk")?;
        let latent = latent_dim(&self.config, self.act_dim);
        let c = &self.config;
        let vae = Vae::new(
            self.obs_dim,
            self.act_dim,
            c.vae_hidden,
            latent,
            &mut rng,
            d,
        );
        let vae = load_module(vae, dir, "vae.bpk")?;
        let log_alpha = load_module(LogScalar::new(0.0, d), dir, "log_alpha.bpk")?;
        self.actor_optim = load_optim(torch_adam(), dir, "actor_optim.bpk")?;
        self.critic_optim = load_optim(torch_adam(), dir, "critic_optim.bpk")?;
        self.vae_optim = load_optim(torch_adam(), dir, "vae_optim.bpk")?;
        self.alpha_optim = load_optim(torch_adam(), dir, "alpha_optim.bpk")?;
        self.actor = Some(actor.train());
        self.critic = Some(critic.train());
        self.critic_target = critic_target;
        self.vae = Some(vae.train());
        self.log_alpha = Some(log_alpha.train());
        Ok(())
    }
}
