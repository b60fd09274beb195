//! TD3+BC (Fujimoto & Gu 2021), following CORL's `td3_bc.py` top to bottom (method.md §9.3):
//! deterministic tanh actor, twin critics (fused, [`TwinCritic`]), target-policy smoothing,
//! delayed actor and target updates, actor loss `−λ·Q1(s, π(s)) + (π(s) − a)²` with
//! `λ = α / mean|Q1|`.

use std::path::Path;

use burn::module::Module;
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Tensor, TensorData};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

use crate::agent::{Agent, Batch, HostMlp, Losses};
use crate::checkpoint::{load_module, load_optim, save_module, save_optims};
use crate::config::Td3BcConfig;
use crate::error::RlError;
use crate::nets::{Mlp, TwinCritic, host_params, layer_sizes, soft_update};

/// Adam with PyTorch's defaults β (0.9, 0.999), ε 1e-8 (burn's ε default is 1e-5;
/// rust-stack.md §2), one fused kernel per parameter tensor on CUDA ([`gta_nn::optim`]).
pub fn torch_adam() -> ModuleOptimizer {
    gta_nn::optim::adam(0.9, 0.999, 1e-8)
}

/// The actor's action `π(s) = max_action · tanh(mlp(s))`.
pub fn actor_action(actor: &Mlp, observations: Tensor<2>, max_action: f64) -> Tensor<2> {
    actor.forward(observations).tanh().mul_scalar(max_action)
}

/// The TD target `y = r + (1 − done)·γ·min_k Q′_k(s′, clip(π′(s′) + ε, ±max_action))` with
/// `ε = clip(noise · policy_noise, ±noise_clip)` (both scaled by max_action); `noise` is
/// standard normal, `(B, act_dim)`. Returns `(B, 1)` (no gradient: plain modules).
pub fn td_target(
    actor_target: &Mlp,
    critic_target: &TwinCritic,
    batch: &Batch,
    noise: Tensor<2>,
    c: &Td3BcConfig,
) -> Tensor<2> {
    let m = c.max_action;
    let eps = noise
        .mul_scalar(c.policy_noise * m)
        .clamp(-c.noise_clip * m, c.noise_clip * m);
    let next_action =
        (actor_action(actor_target, batch.next_observations.clone(), m) + eps).clamp(-m, m);
    let q_next = critic_target.min_q(batch.next_observations.clone(), next_action);
    let not_done = batch.dones.clone().neg().add_scalar(1.0);
    batch.rewards.clone() + not_done * q_next.mul_scalar(c.discount)
}

/// `MSE(Q1(s, a), y) + MSE(Q2(s, a), y)`: `(1,)`.
pub fn critic_loss(
    critic: &TwinCritic,
    observations: Tensor<2>,
    actions: Tensor<2>,
    target: Tensor<2>,
) -> Tensor<1> {
    let [b, _] = target.dims();
    let q = critic.forward(observations, actions); // (2, B, 1)
    (q - target.unsqueeze_dim::<3>(0))
        .square()
        .sum()
        .div_scalar(b as f64)
}

/// `−λ·mean Q1(s, π(s)) + mean (π(s) − a)²` with `λ = α / mean|Q1(s, π(s))|` (λ detached): `(1,)`.
pub fn actor_loss(
    actor: &Mlp,
    critic: &TwinCritic,
    observations: Tensor<2>,
    actions: Tensor<2>,
    c: &Td3BcConfig,
) -> Tensor<1> {
    let pi = actor_action(actor, observations.clone(), c.max_action);
    let q = critic.q1(observations, pi.clone());
    let lambda = q.clone().abs().mean().detach().recip().mul_scalar(c.alpha);
    let bc = (pi - actions).square().mean();
    bc - lambda * q.mean()
}

/// TD3+BC: actor, twin critics, their targets and two Adam optimizers.
pub struct Td3Bc {
    /// Hyper-parameters.
    pub config: Td3BcConfig,
    actor: Option<Mlp>,
    critic: Option<TwinCritic>,
    actor_target: Mlp,
    critic_target: TwinCritic,
    actor_optim: ModuleOptimizer,
    critic_optim: ModuleOptimizer,
    device: Device,
    obs_dim: usize,
    act_dim: usize,
}

impl Td3Bc {
    /// Fresh networks on `device`, initialised from `seed` (targets are copies).
    pub fn new(
        config: Td3BcConfig,
        obs_dim: usize,
        act_dim: usize,
        seed: u64,
        device: &Device,
    ) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let (h, n) = (config.hidden, config.n_hidden);
        let actor = Mlp::new(&layer_sizes(obs_dim, h, n, act_dim), &mut rng, device);
        let critic = TwinCritic::new(&layer_sizes(obs_dim + act_dim, h, n, 1), &mut rng, device);
        Self::from_parts(config, actor, critic, device, obs_dim, act_dim)
    }

    /// Builds the agent from given (plain) networks; targets start as copies.
    pub fn from_parts(
        config: Td3BcConfig,
        actor: Mlp,
        critic: TwinCritic,
        device: &Device,
        obs_dim: usize,
        act_dim: usize,
    ) -> Self {
        Self {
            actor_target: actor.valid(),
            critic_target: critic.valid(),
            actor: Some(actor.train()),
            critic: Some(critic.train()),
            actor_optim: torch_adam(),
            critic_optim: torch_adam(),
            config,
            device: device.clone(),
            obs_dim,
            act_dim,
        }
    }

    /// The online actor (autodiff).
    pub fn actor(&self) -> &Mlp {
        self.actor.as_ref().expect("actor present between steps")
    }

    /// The online twin critics (autodiff).
    pub fn critic(&self) -> &TwinCritic {
        self.critic.as_ref().expect("critic present between steps")
    }

    /// Standard-normal smoothing noise `(B, act_dim)` from a ChaCha8 stream seeded `seed`.
    pub fn draw_noise(&self, seed: u64, batch: usize) -> Tensor<2> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let noise: Vec<f32> = (0..batch * self.act_dim)
            .map(|_| rng.sample::<f32, _>(StandardNormal))
            .collect();
        Tensor::from_data(TensorData::new(noise, [batch, self.act_dim]), &self.device)
    }
}

impl Agent for Td3Bc {
    fn update(&mut self, batch: &Batch, step: u64, seed: u64) -> Losses {
        let c = self.config.clone();
        // CORL increments total_it first: the actor moves on updates 2, 4, … (policy_freq 2).
        let total_it = step + 1;
        let [b, _] = batch.actions.dims();
        let noise = self.draw_noise(seed, b);
        let target = td_target(&self.actor_target, &self.critic_target, batch, noise, &c);

        let obs = batch.observations.clone().autodiff();
        let act = batch.actions.clone().autodiff();
        let critic = self.critic.take().expect("critic present between steps");
        let loss_q = critic_loss(&critic, obs.clone(), act.clone(), target.autodiff());
        let grads = GradientsParams::from_grads(loss_q.backward(), &critic);
        let critic = self.critic_optim.step(c.critic_lr, critic, grads);
        let mut losses = vec![("critic_loss", loss_q.detach().inner())];

        if total_it.is_multiple_of(c.policy_freq) {
            let actor = self.actor.take().expect("actor present between steps");
            let loss_pi = actor_loss(&actor, &critic, obs, act, &c);
            let grads = GradientsParams::from_grads(loss_pi.backward(), &actor);
            let actor = self.actor_optim.step(c.actor_lr, actor, grads);
            let target = std::mem::replace(&mut self.critic_target, critic.valid());
            self.critic_target = soft_update(target, &critic.valid(), c.tau);
            let target = std::mem::replace(&mut self.actor_target, actor.valid());
            self.actor_target = soft_update(target, &actor.valid(), c.tau);
            losses.push(("actor_loss", loss_pi.detach().inner()));
            self.actor = Some(actor);
        }
        self.critic = Some(critic);
        losses
    }

    fn act(&self, observations: Tensor<2>) -> Tensor<2> {
        actor_action(&self.actor().valid(), observations, self.config.max_action)
    }

    fn host_actor(&self) -> HostMlp {
        HostMlp::from_mlp(&self.actor().valid(), Some(self.config.max_action as f32))
    }

    fn params(&self) -> Vec<Vec<f32>> {
        let mut p = host_params(&self.actor().valid());
        p.extend(host_params(&self.critic().valid()));
        p.extend(host_params(&self.actor_target));
        p.extend(host_params(&self.critic_target));
        p
    }

    fn save(&self, dir: &Path) -> Result<(), RlError> {
        save_module(self.actor().valid(), dir, "actor.bpk")?;
        save_module(self.critic().valid(), dir, "critic.bpk")?;
        save_module(self.actor_target.clone(), dir, "actor_target.bpk")?;
        save_module(self.critic_target.clone(), dir, "critic_target.bpk")?;
        save_optims(
            dir,
            &[
                ("actor_optim.bpk", &self.actor_optim),
                ("critic_optim.bpk", &self.critic_optim),
            ],
        )
    }

    fn load(&mut self, dir: &Path) -> Result<(), RlError> {
        let (h, n) = (self.config.hidden, self.config.n_hidden);
        let actor_sizes = layer_sizes(self.obs_dim, h, n, self.act_dim);
        let critic_sizes = layer_sizes(self.obs_dim + self.act_dim, h, n, 1);
        // Loading overwrites every parameter; the init values are irrelevant.
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let d = &self.device;
        let actor = load_module(Mlp::new(&actor_sizes, &mut rng, d), dir, "actor.bpk")?;
        let critic = load_module(
            TwinCritic::new(&critic_sizes, &mut rng, d),
            dir,
            "critic.bpk",
        )?;
        self.actor_target = load_module(actor.clone(), dir, "actor_target.bpk")?;
        self.critic_target = load_module(critic.clone(), dir, "critic_target.bpk")?;
        self.actor_optim = load_optim(torch_adam(), dir, "actor_optim.bpk")?;
        self.critic_optim = load_optim(torch_adam(), dir, "critic_optim.bpk")?;
        self.actor = Some(actor.train());
        self.critic = Some(critic.train());
        Ok(())
    }
}
