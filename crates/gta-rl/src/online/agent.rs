//! The SAC learner: a tanh-Gaussian actor (`[S, h×n, 2A]` MLP → mean and clamped log σ, as
//! rlkit's `TanhGaussianPolicy`), fused twin critics with a Polyak-averaged target, a learnable
//! `log α` tuned towards the target entropy, and three Adams (PyTorch defaults).
//!
//! One update (every loss from the parameters at the start of the update):
//! - `ã, log π(ã|s)` reparameterised from the policy noise;
//! - temperature loss `−mean(log α · (log π(ã|s) + H̄))`, `log π` detached;
//! - policy loss `mean(α·log π(ã|s) − min_k Q_k(s, ã))`, α detached;
//! - TD target `y = r + γ(1 − d)·(min_k Q′_k(s′, a′) − α·log π(a′|s′))`, `a′ ~ π(·|s′)`;
//! - critic loss `MSE(Q1(s, a), y) + MSE(Q2(s, a), y)`;
//! then the actor and `log α` step from one backward pass, the critics from another, and the
//! target critics move by `τ`.

use std::path::Path;

use burn::module::{Module, Param};
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Tensor, TensorData};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::agent::{Batch, HostMlp};
use crate::checkpoint::{load_module, load_optim, save_module, save_optims};
use crate::error::RlError;
use crate::nets::{Mlp, TwinCritic, host_params, layer_sizes, soft_update};
use crate::online::config::SacConfig;
use crate::sac::{LogScalar, normals, tanh_gaussian_sample, temperature_loss, uniforms, upload};
use crate::td3bc::torch_adam;

/// `(mean, log σ)` of the pre-tanh Gaussian from the actor trunk's `2A` outputs, log σ clamped
/// to `[log_std_min, log_std_max]`.
pub fn actor_dist(actor: &Mlp, observations: Tensor<2>, c: &SacConfig) -> (Tensor<2>, Tensor<2>) {
    let (mean, raw) = crate::sac::split_mean_log_std(actor.forward(observations));
    (mean, raw.clamp(c.log_std_min, c.log_std_max))
}

/// Reparameterised `(tanh(mean + σ·eps), log π)` with `log π` `(B, 1)`.
pub fn actor_sample(
    actor: &Mlp,
    observations: Tensor<2>,
    eps: Tensor<2>,
    c: &SacConfig,
) -> (Tensor<2>, Tensor<2>) {
    let (mean, log_std) = actor_dist(actor, observations, c);
    tanh_gaussian_sample(mean, log_std, eps)
}

/// One update's standard-normal draws, `(B, A)` each.
#[derive(Clone, Debug)]
pub struct SacNoise {
    /// For `ã ~ π(·|s)` (policy and temperature losses).
    pub pi: Tensor<2>,
    /// For `a′ ~ π(·|s′)` (TD target).
    pub next: Tensor<2>,
}

impl SacNoise {
    /// `2·B·A` normals from a ChaCha8 stream seeded `seed` (pi first, then next).
    pub fn draw(seed: u64, batch: usize, act_dim: usize, device: &Device) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let z = upload(
            normals(&mut rng, 2 * batch * act_dim),
            2 * batch,
            act_dim,
            device,
        );
        Self {
            pi: z.clone().slice([0..batch, 0..act_dim]),
            next: z.slice([batch..2 * batch, 0..act_dim]),
        }
    }
}

/// The three losses of one update, `(1,)` each.
pub struct SacLosses {
    /// Critic loss `MSE(Q1, y) + MSE(Q2, y)`.
    pub q: Tensor<1>,
    /// Policy loss `mean(α·log π − min Q)`.
    pub policy: Tensor<1>,
    /// Temperature loss.
    pub alpha: Tensor<1>,
}

/// The SAC losses (module docs). `actor`, `critic`, `log_alpha` are the training (autodiff)
/// modules, `critic_target` plain; `batch` and `noise` plain tensors.
pub fn sac_losses(
    actor: &Mlp,
    critic: &TwinCritic,
    critic_target: &TwinCritic,
    log_alpha: &LogScalar,
    batch: &Batch,
    noise: &SacNoise,
    c: &SacConfig,
) -> SacLosses {
    let [b, act_dim] = batch.actions.dims();
    let obs = batch.observations.clone().autodiff();
    let (new_a, log_pi) = actor_sample(actor, obs.clone(), noise.pi.clone().autodiff(), c);
    let alpha_loss = temperature_loss(log_alpha, log_pi.clone(), c.target_entropy_for(act_dim));
    let alpha = log_alpha.exp().detach();
    let policy = (log_pi * alpha.unsqueeze_dim::<2>(0) - critic.min_q(obs.clone(), new_a)).mean();

    let alpha_plain = log_alpha.valid().exp();
    let (next_a, next_log_pi) = actor_sample(
        &actor.valid(),
        batch.next_observations.clone(),
        noise.next.clone(),
        c,
    );
    let soft_q = critic_target.min_q(batch.next_observations.clone(), next_a)
        - next_log_pi * alpha_plain.unsqueeze_dim::<2>(0);
    let not_done = batch.dones.clone().neg().add_scalar(1.0);
    let y = (batch.rewards.clone() + not_done * soft_q.mul_scalar(c.discount)).autodiff();
    let q = critic.forward(obs, batch.actions.clone().autodiff()); // (2, B, 1)
    let q_loss = (q - y.unsqueeze_dim::<3>(0))
        .square()
        .sum()
        .div_scalar(b as f64);
    SacLosses {
        q: q_loss,
        policy,
        alpha: alpha_loss,
    }
}

/// Actor and critic widths: `[S, h×n, 2A]`, `[S + A, h×n, 1]`.
pub fn sac_sizes(c: &SacConfig, obs_dim: usize, act_dim: usize) -> (Vec<usize>, Vec<usize>) {
    (
        layer_sizes(obs_dim, c.hidden, c.n_hidden, 2 * act_dim),
        layer_sizes(obs_dim + act_dim, c.hidden, c.n_hidden, 1),
    )
}

/// The SAC networks, target, temperature and optimizers.
pub struct SacAgent {
    /// Hyper-parameters.
    pub config: SacConfig,
    actor: Option<Mlp>,
    critic: Option<TwinCritic>,
    log_alpha: Option<LogScalar>,
    critic_target: TwinCritic,
    actor_optim: ModuleOptimizer,
    critic_optim: ModuleOptimizer,
    alpha_optim: ModuleOptimizer,
    device: Device,
    /// State width.
    pub obs_dim: usize,
    /// Action width.
    pub act_dim: usize,
}

impl SacAgent {
    /// Fresh networks from `seed`: PyTorch's `nn.Linear` init everywhere except the actor's
    /// output layer, U(±1e-3) for weight and bias (rlkit `init_w = 1e-3`); `log α` =
    /// `init_log_alpha`; the target critics start as a copy.
    pub fn new(
        config: SacConfig,
        obs_dim: usize,
        act_dim: usize,
        seed: u64,
        device: &Device,
    ) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let (actor_sizes, critic_sizes) = sac_sizes(&config, obs_dim, act_dim);
        let mut actor = Mlp::new(&actor_sizes, &mut rng, device);
        let k = actor.layers.len() - 1;
        let [d_in, d_out] = actor.layers[k].weight.dims();
        let w = uniforms(&mut rng, d_in * d_out, -1e-3, 1e-3);
        let bias = uniforms(&mut rng, d_out, -1e-3, 1e-3);
        actor.layers[k].weight =
            Param::from_tensor(Tensor::from_data(TensorData::new(w, [d_in, d_out]), device));
        actor.layers[k].bias = Some(Param::from_tensor(Tensor::from_data(
            TensorData::new(bias, [d_out]),
            device,
        )));
        let critic = TwinCritic::new(&critic_sizes, &mut rng, device);
        let log_alpha = LogScalar::new(config.init_log_alpha, device);
        Self {
            critic_target: critic.valid(),
            actor: Some(actor.train()),
            critic: Some(critic.train()),
            log_alpha: Some(log_alpha.train()),
            actor_optim: torch_adam(),
            critic_optim: torch_adam(),
            alpha_optim: torch_adam(),
            config,
            device: device.clone(),
            obs_dim,
            act_dim,
        }
    }

    /// The device the networks live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The online actor trunk (autodiff).
    pub fn actor(&self) -> &Mlp {
        self.actor.as_ref().expect("actor present between updates")
    }

    /// The online critics (autodiff).
    pub fn critic(&self) -> &TwinCritic {
        self.critic
            .as_ref()
            .expect("critic present between updates")
    }

    /// The target critics.
    pub fn critic_target(&self) -> &TwinCritic {
        &self.critic_target
    }

    /// `log α` (autodiff).
    pub fn log_alpha(&self) -> &LogScalar {
        self.log_alpha
            .as_ref()
            .expect("log_alpha present between updates")
    }

    /// One gradient update on `batch` with the noise of stream seed `seed`; returns the
    /// detached `(q, policy, alpha)` losses as `(1,)` device tensors (nothing read back).
    pub fn update(&mut self, batch: &Batch, seed: u64) -> [Tensor<1>; 3] {
        let c = self.config.clone();
        let [b, _] = batch.actions.dims();
        let noise = SacNoise::draw(seed, b, self.act_dim, &self.device);
        let actor = self.actor.take().expect("actor");
        let critic = self.critic.take().expect("critic");
        let log_alpha = self.log_alpha.take().expect("log_alpha");
        let l = sac_losses(
            &actor,
            &critic,
            &self.critic_target,
            &log_alpha,
            batch,
            &noise,
            &c,
        );
        let mut grads = (l.policy.clone() + l.alpha.clone()).backward();
        let g_actor = GradientsParams::from_module(&mut grads, &actor);
        let g_alpha = GradientsParams::from_module(&mut grads, &log_alpha);
        let actor = self.actor_optim.step(c.actor_lr, actor, g_actor);
        let log_alpha = self.alpha_optim.step(c.alpha_lr, log_alpha, g_alpha);
        let mut grads = l.q.clone().backward();
        let g_critic = GradientsParams::from_module(&mut grads, &critic);
        let critic = self.critic_optim.step(c.critic_lr, critic, g_critic);
        let target = std::mem::replace(&mut self.critic_target, critic.valid());
        self.critic_target = soft_update(target, &critic.valid(), c.tau);
        self.actor = Some(actor);
        self.critic = Some(critic);
        self.log_alpha = Some(log_alpha);
        [
            l.q.detach().inner(),
            l.policy.detach().inner(),
            l.alpha.detach().inner(),
        ]
    }

    /// The actor trunk's raw `2A` outputs (mean, unclamped log σ) for each of the `n` rows of
    /// `observations` (row-major), read back to the host.
    pub fn actor_outputs(&self, observations: &[f32], n: usize) -> Vec<f32> {
        let x = Tensor::from_data(
            TensorData::new(observations.to_vec(), [n, self.obs_dim]),
            &self.device,
        );
        self.actor()
            .valid()
            .forward(x)
            .into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .expect("f32 data")
    }

    /// The actor copied to the host (all `2A` outputs, no output squashing).
    pub fn host_actor(&self) -> HostMlp {
        HostMlp::from_mlp(&self.actor().valid(), None)
    }

    /// The current temperature α (reads the device).
    pub fn alpha(&self) -> f64 {
        self.log_alpha().valid().exp().into_scalar::<f32>() as f64
    }

    /// Every float parameter of actor, critics, target critics and `log α` (host f32).
    pub fn params(&self) -> Vec<Vec<f32>> {
        let mut p = host_params(&self.actor().valid());
        p.extend(host_params(&self.critic().valid()));
        p.extend(host_params(&self.critic_target));
        p.extend(host_params(&self.log_alpha().valid()));
        p
    }

    /// Writes networks, target, temperature and optimizer states into the existing `dir`.
    pub fn save(&self, dir: &Path) -> Result<(), RlError> {
        save_module(self.actor().valid(), dir, "actor.bpk")?;
        save_module(self.critic().valid(), dir, "critic.bpk")?;
        save_module(self.critic_target.clone(), dir, "critic_target.bpk")?;
        save_module(self.log_alpha().valid(), dir, "log_alpha.bpk")?;
        save_optims(
            dir,
            &[
                ("actor_optim.bpk", &self.actor_optim),
                ("critic_optim.bpk", &self.critic_optim),
                ("alpha_optim.bpk", &self.alpha_optim),
            ],
        )
    }

    /// Replaces every network, the target, `log α` and the optimizer states with those in `dir`.
    pub fn load(&mut self, dir: &Path) -> Result<(), RlError> {
        let (actor_sizes, critic_sizes) = sac_sizes(&self.config, self.obs_dim, self.act_dim);
        let d = &self.device;
        // Loading overwrites every parameter; the init values are irrelevant.
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let actor = load_module(Mlp::new(&actor_sizes, &mut rng, d), dir, "actor.bpk")?;
        let critic = TwinCritic::new(&critic_sizes, &mut rng, d);
        let critic = load_module(critic, dir, "critic.bpk")?;
        let critic_target = load_module(critic.clone(), dir, "critic_target.bpk")?;
        let log_alpha = load_module(LogScalar::new(0.0, d), dir, "log_alpha.bpk")?;
        self.actor_optim = load_optim(torch_adam(), dir, "actor_optim.bpk")?;
        self.critic_optim = load_optim(torch_adam(), dir, "critic_optim.bpk")?;
        self.alpha_optim = load_optim(torch_adam(), dir, "alpha_optim.bpk")?;
        self.actor = Some(actor.train());
        self.critic = Some(critic.train());
        self.critic_target = critic_target;
        self.log_alpha = Some(log_alpha.train());
        Ok(())
    }
}
