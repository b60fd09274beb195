//! Implicit Q-learning (Kostrikov et al. 2021), following CORL's `iql.py` (method.md §9.3):
//! expectile regression of V on the target twin-Q minimum, Q regression on `r + γ(1−d)V(s′)`,
//! advantage-weighted regression of a Gaussian actor with state-independent log-std, the
//! actor LR cosine-annealed over the run.

use std::f64::consts::PI;
use std::path::Path;

use burn::module::{Module, Param};
use burn::optim::{GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Tensor};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::agent::{Agent, Batch, HostMlp, Losses};
use crate::checkpoint::{load_module, load_optim, save_module, save_optims};
use crate::config::IqlConfig;
use crate::error::RlError;
use crate::nets::{Mlp, TwinCritic, host_params, layer_sizes, soft_update};
use crate::td3bc::torch_adam;

/// CORL's `GaussianPolicy`: mean `tanh(mlp(s))`, state-independent `log_std` (zeros at init),
/// `π(·|s) = N(mean, exp(clamp(log_std, min, max)))`.
#[derive(Module, Debug)]
pub struct GaussianActor {
    /// The mean network (tanh applied on top).
    pub net: Mlp,
    /// Per-dimension log standard deviation `(act_dim,)`.
    pub log_std: Param<Tensor<1>>,
}

impl GaussianActor {
    /// A fresh actor, weights drawn from `rng`.
    pub fn new(sizes: &[usize], rng: &mut ChaCha8Rng, device: &Device) -> Self {
        let act_dim = *sizes.last().expect("at least one layer");
        Self {
            net: Mlp::new(sizes, rng, device),
            log_std: Param::from_tensor(Tensor::zeros([act_dim], device)),
        }
    }

    /// The mean action `tanh(mlp(s))`: `(B, act_dim)`.
    pub fn mean(&self, observations: Tensor<2>) -> Tensor<2> {
        self.net.forward(observations).tanh()
    }

    /// `log π(a|s)` summed over action dimensions: `(B, 1)`.
    pub fn log_prob(
        &self,
        observations: Tensor<2>,
        actions: Tensor<2>,
        c: &IqlConfig,
    ) -> Tensor<2> {
        let [_, act_dim] = actions.dims();
        let log_std = self
            .log_std
            .val()
            .clamp(c.log_std_min, c.log_std_max)
            .unsqueeze_dim::<2>(0); // (1, A)
        let z = (actions - self.mean(observations)) / log_std.clone().exp();
        let per_dim = z.square().mul_scalar(-0.5) - log_std;
        per_dim
            .sum_dim(1)
            .sub_scalar(0.5 * act_dim as f64 * (2.0 * PI).ln())
    }
}

/// Expectile loss of V: `adv = Q_target_min(s, a) − V(s)`,
/// `mean(|τ − 1[adv < 0]| · adv²)`. Returns `(loss (1,), adv (B, 1))`.
pub fn value_loss(
    vf: &Mlp,
    observations: Tensor<2>,
    target_q: Tensor<2>,
    expectile: f64,
) -> (Tensor<1>, Tensor<2>) {
    let adv = target_q - vf.forward(observations);
    let weight = adv
        .clone()
        .lower_elem(0.0)
        .float()
        .neg()
        .add_scalar(expectile)
        .abs();
    ((weight * adv.clone().square()).mean(), adv)
}

/// `(MSE(Q1(s, a), y) + MSE(Q2(s, a), y)) / 2` with `y = r + (1 − d)·γ·V(s′)` (CORL divides
/// by the number of critics, unlike TD3+BC). `next_v` is `(B, 1)`.
pub fn q_loss(
    qf: &TwinCritic,
    batch_obs: Tensor<2>,
    batch_act: Tensor<2>,
    rewards: Tensor<2>,
    dones: Tensor<2>,
    next_v: Tensor<2>,
    discount: f64,
) -> Tensor<1> {
    let [b, _] = rewards.dims();
    let targets = rewards + dones.neg().add_scalar(1.0) * next_v.mul_scalar(discount);
    let q = qf.forward(batch_obs, batch_act);
    (q - targets.unsqueeze_dim::<3>(0))
        .square()
        .sum()
        .div_scalar(2.0 * b as f64)
}

/// Advantage-weighted regression: `mean(min(exp(β·adv), exp_adv_max) · (−log π(a|s)))`;
/// `adv` is `(B, 1)` without gradient.
pub fn actor_loss(
    actor: &GaussianActor,
    observations: Tensor<2>,
    actions: Tensor<2>,
    adv: Tensor<2>,
    c: &IqlConfig,
) -> Tensor<1> {
    let exp_adv = adv.mul_scalar(c.beta).exp().clamp_max(c.exp_adv_max);
    let bc = actor.log_prob(observations, actions, c).neg();
    (exp_adv * bc).mean()
}

/// The actor LR of update `k` of `total`: `lr·(1 + cos(π·k/total))/2` (PyTorch's
/// `CosineAnnealingLR(T_max = total)`, η_min 0).
pub fn cosine_lr(lr: f64, k: u64, total: u64) -> f64 {
    lr * (1.0 + (PI * k as f64 / total.max(1) as f64).cos()) / 2.0
}

/// IQL: Gaussian actor, twin Q with its target, V, and three Adam optimizers.
pub struct Iql {
    /// Hyper-parameters.
    pub config: IqlConfig,
    /// Total steps of the run (the cosine schedule's T_max).
    pub total_steps: u64,
    actor: Option<GaussianActor>,
    qf: Option<TwinCritic>,
    vf: Option<Mlp>,
    q_target: TwinCritic,
    actor_optim: ModuleOptimizer,
    qf_optim: ModuleOptimizer,
    vf_optim: ModuleOptimizer,
    device: Device,
    obs_dim: usize,
    act_dim: usize,
}

impl Iql {
    /// Fresh networks on `device`, initialised from `seed`.
    pub fn new(
        config: IqlConfig,
        total_steps: u64,
        obs_dim: usize,
        act_dim: usize,
        seed: u64,
        device: &Device,
    ) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let (h, n) = (config.hidden, config.n_hidden);
        let qf = TwinCritic::new(&layer_sizes(obs_dim + act_dim, h, n, 1), &mut rng, device);
        let vf = Mlp::new(&layer_sizes(obs_dim, h, n, 1), &mut rng, device);
        let actor = GaussianActor::new(&layer_sizes(obs_dim, h, n, act_dim), &mut rng, device);
        Self {
            q_target: qf.valid(),
            actor: Some(actor.train()),
            qf: Some(qf.train()),
            vf: Some(vf.train()),
            actor_optim: torch_adam(),
            qf_optim: torch_adam(),
            vf_optim: torch_adam(),
            config,
            total_steps,
            device: device.clone(),
            obs_dim,
            act_dim,
        }
    }

    /// The online actor (autodiff).
    pub fn actor(&self) -> &GaussianActor {
        self.actor.as_ref().expect("actor present between steps")
    }

    fn sizes(&self) -> (Vec<usize>, Vec<usize>, Vec<usize>) {
        let (h, n) = (self.config.hidden, self.config.n_hidden);
        (
            layer_sizes(self.obs_dim, h, n, self.act_dim),
            layer_sizes(self.obs_dim + self.act_dim, h, n, 1),
            layer_sizes(self.obs_dim, h, n, 1),
        )
    }
}

impl Agent for Iql {
    fn update(&mut self, batch: &Batch, step: u64, _seed: u64) -> Losses {
        let c = self.config.clone();
        let vf = self.vf.take().expect("vf present between steps");
        let next_v = vf.valid().forward(batch.next_observations.clone());
        let target_q = self
            .q_target
            .min_q(batch.observations.clone(), batch.actions.clone());

        let obs = batch.observations.clone().autodiff();
        let act = batch.actions.clone().autodiff();
        let (loss_v, adv) = value_loss(&vf, obs.clone(), target_q.autodiff(), c.expectile);
        let grads = GradientsParams::from_grads(loss_v.backward(), &vf);
        self.vf = Some(self.vf_optim.step(c.vf_lr, vf, grads));
        let adv = adv.detach();

        let qf = self.qf.take().expect("qf present between steps");
        let loss_q = q_loss(
            &qf,
            obs.clone(),
            act.clone(),
            batch.rewards.clone().autodiff(),
            batch.dones.clone().autodiff(),
            next_v.autodiff(),
            c.discount,
        );
        let grads = GradientsParams::from_grads(loss_q.backward(), &qf);
        let qf = self.qf_optim.step(c.qf_lr, qf, grads);
        let target = std::mem::replace(&mut self.q_target, qf.valid());
        self.q_target = soft_update(target, &qf.valid(), c.tau);
        self.qf = Some(qf);

        let actor = self.actor.take().expect("actor present between steps");
        let loss_pi = actor_loss(&actor, obs, act, adv, &c);
        let grads = GradientsParams::from_grads(loss_pi.backward(), &actor);
        let lr = cosine_lr(c.actor_lr, step, self.total_steps);
        self.actor = Some(self.actor_optim.step(lr, actor, grads));
        vec![
            ("value_loss", loss_v.detach().inner()),
            ("q_loss", loss_q.detach().inner()),
            ("actor_loss", loss_pi.detach().inner()),
        ]
    }

    fn act(&self, observations: Tensor<2>) -> Tensor<2> {
        let m = self.config.max_action;
        self.actor()
            .valid()
            .mean(observations)
            .mul_scalar(m)
            .clamp(-m, m)
    }

    fn host_actor(&self) -> HostMlp {
        HostMlp::from_mlp(
            &self.actor().valid().net,
            Some(self.config.max_action as f32),
        )
    }

    fn params(&self) -> Vec<Vec<f32>> {
        let mut p = host_params(&self.actor().valid());
        p.extend(host_params(&self.qf.as_ref().expect("qf present").valid()));
        p.extend(host_params(&self.vf.as_ref().expect("vf present").valid()));
        p.extend(host_params(&self.q_target));
        p
    }

    fn save(&self, dir: &Path) -> Result<(), RlError> {
        save_module(self.actor().valid(), dir, "actor.bpk")?;
        let qf = self.qf.as_ref().expect("qf present between steps");
        save_module(qf.valid(), dir, "qf.bpk")?;
        let vf = self.vf.as_ref().expect("vf present between steps");
        save_module(vf.valid(), dir, "vf.bpk")?;
        save_module(self.q_target.clone(), dir, "q_target.bpk")?;
        save_optims(
            dir,
            &[
                ("actor_optim.bpk", &self.actor_optim),
                ("qf_optim.bpk", &self.qf_optim),
                ("vf_optim.bpk", &self.vf_optim),
            ],
        )
    }

    fn load(&mut self, dir: &Path) -> Result<(), RlError> {
        let (actor_sizes, q_sizes, v_sizes) = self.sizes();
        let d = &self.device;
        // Loading overwrites every parameter; the init values are irrelevant.
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let actor = GaussianActor::new(&actor_sizes, &mut rng, d);
        let actor = load_module(actor, dir, "actor.bpk")?;
        let qf = load_module(TwinCritic::new(&q_sizes, &mut rng, d), dir, "qf.bpk")?;
        let q_target = load_module(qf.clone(), dir, "q_target.bpk")?;
        let vf = load_module(Mlp::new(&v_sizes, &mut rng, d), dir, "vf.bpk")?;
        self.actor_optim = load_optim(torch_adam(), dir, "actor_optim.bpk")?;
        self.qf_optim = load_optim(torch_adam(), dir, "qf_optim.bpk")?;
        self.vf_optim = load_optim(torch_adam(), dir, "vf_optim.bpk")?;
        self.actor = Some(actor.train());
        self.qf = Some(qf.train());
        self.vf = Some(vf.train());
        self.q_target = q_target;
        Ok(())
    }
}
