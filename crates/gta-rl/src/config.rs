//! Run configuration (method.md §9.2, §9.3). Defaults are the paper's (CORL) settings.

use serde::{Deserialize, Serialize};

use crate::error::RlError;

/// Which offline-RL algorithm a run trains.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Algo {
    /// TD3+BC (Fujimoto & Gu 2021; CORL `td3_bc.py`).
    Td3bc,
    /// Implicit Q-learning (Kostrikov et al. 2021; CORL `iql.py`).
    Iql,
}

impl std::str::FromStr for Algo {
    type Err = RlError;
    fn from_str(s: &str) -> Result<Self, RlError> {
        match s {
            "td3bc" | "td3_bc" | "td3+bc" => Ok(Algo::Td3bc),
            "iql" => Ok(Algo::Iql),
            other => Err(RlError::Config {
                key: "algo",
                expected: format!("one of td3bc, iql; got {other:?}"),
            }),
        }
    }
}

impl std::fmt::Display for Algo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Algo::Td3bc => "td3bc",
            Algo::Iql => "iql",
        })
    }
}

/// TD3+BC hyper-parameters (method.md §9.3, CORL defaults).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Td3BcConfig {
    /// Hidden width of actor and critics (256).
    pub hidden: usize,
    /// Number of hidden layers (2).
    pub n_hidden: usize,
    /// Actor learning rate (3e-4).
    pub actor_lr: f64,
    /// Critic learning rate (3e-4).
    pub critic_lr: f64,
    /// Discount γ (0.99).
    pub discount: f64,
    /// Polyak rate τ of the target networks (0.005).
    pub tau: f64,
    /// Std of the target-policy smoothing noise, in units of max_action (0.2).
    pub policy_noise: f64,
    /// Clip of that noise, in units of max_action (0.5).
    pub noise_clip: f64,
    /// Actor and target updates every this many critic updates (2).
    pub policy_freq: u64,
    /// BC weight α: λ = α / mean|Q| (2.5).
    pub alpha: f64,
    /// Action bound of the env (1.0 for every D4RL task).
    pub max_action: f64,
}

impl Default for Td3BcConfig {
    fn default() -> Self {
        Self {
            hidden: 256,
            n_hidden: 2,
            actor_lr: 3e-4,
            critic_lr: 3e-4,
            discount: 0.99,
            tau: 0.005,
            policy_noise: 0.2,
            noise_clip: 0.5,
            policy_freq: 2,
            alpha: 2.5,
            max_action: 1.0,
        }
    }
}

/// IQL hyper-parameters (method.md §9.3, CORL defaults).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IqlConfig {
    /// Hidden width of actor, Q and V (256).
    pub hidden: usize,
    /// Number of hidden layers (2).
    pub n_hidden: usize,
    /// Actor learning rate, cosine-annealed to 0 over the run's steps (3e-4).
    pub actor_lr: f64,
    /// Twin-Q learning rate (3e-4).
    pub qf_lr: f64,
    /// V learning rate (3e-4).
    pub vf_lr: f64,
    /// Discount γ (0.99).
    pub discount: f64,
    /// Polyak rate of the target Q (0.005).
    pub tau: f64,
    /// Inverse temperature β of the advantage weights (3.0).
    pub beta: f64,
    /// Expectile of the V loss (0.7).
    pub expectile: f64,
    /// Clamp of exp(β·A) (100).
    pub exp_adv_max: f64,
    /// Lower clamp of the actor's log-std (−5).
    pub log_std_min: f64,
    /// Upper clamp of the actor's log-std (2).
    pub log_std_max: f64,
    /// Action bound of the env (1.0).
    pub max_action: f64,
}

impl Default for IqlConfig {
    fn default() -> Self {
        Self {
            hidden: 256,
            n_hidden: 2,
            actor_lr: 3e-4,
            qf_lr: 3e-4,
            vf_lr: 3e-4,
            discount: 0.99,
            tau: 0.005,
            beta: 3.0,
            expectile: 0.7,
            exp_adv_max: 100.0,
            log_std_min: -5.0,
            log_std_max: 2.0,
            max_action: 1.0,
        }
    }
}

/// Protocol settings (method.md §9.2).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    /// Gradient steps (1,000,000).
    pub steps: u64,
    /// Minibatch size (1024, the paper's override of CORL's 256).
    pub batch_size: usize,
    /// Evaluate every this many steps (5,000); 0 = only at the end.
    pub eval_every: u64,
    /// Episodes per evaluation (10 for locomotion, 100 for maze2d/antmaze/adroit/kitchen).
    pub eval_episodes: usize,
    /// Checkpoint every this many steps (50,000); the last step is always checkpointed.
    pub checkpoint_every: u64,
    /// Run seed: network init, minibatches, noise and the eval env resets.
    pub seed: u64,
    /// Normalize states with mean/std (+1e-3) over the union of original and generated data.
    pub normalize_states: bool,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            steps: 1_000_000,
            batch_size: 1024,
            eval_every: 5_000,
            eval_episodes: 10,
            checkpoint_every: 50_000,
            seed: 0,
            normalize_states: true,
        }
    }
}

/// A whole run: algorithm, its hyper-parameters, the protocol and the env.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RlConfig {
    /// The algorithm.
    pub algo: Algo,
    /// Env or D4RL dataset id used for evaluation and score normalization ("" = no evaluation).
    pub env: String,
    /// TD3+BC settings (used when `algo = td3bc`).
    pub td3bc: Td3BcConfig,
    /// IQL settings (used when `algo = iql`).
    pub iql: IqlConfig,
    /// Protocol settings.
    pub train: TrainConfig,
}

impl Default for RlConfig {
    fn default() -> Self {
        Self {
            algo: Algo::Td3bc,
            env: String::new(),
            td3bc: Td3BcConfig::default(),
            iql: IqlConfig::default(),
            train: TrainConfig::default(),
        }
    }
}

impl RlConfig {
    /// Checks value ranges.
    pub fn validate(&self) -> Result<(), RlError> {
        let t = &self.train;
        let bad = |key, expected: &str| {
            Err(RlError::Config {
                key,
                expected: expected.to_string(),
            })
        };
        if t.batch_size == 0 {
            return bad("train.batch_size", "a positive batch size");
        }
        if t.checkpoint_every == 0 {
            return bad("train.checkpoint_every", "a positive step count");
        }
        if self.td3bc.policy_freq == 0 {
            return bad("td3bc.policy_freq", "a positive step count");
        }
        if !(0.0..1.0).contains(&self.iql.expectile) {
            return bad("iql.expectile", "a value in [0, 1)");
        }
        if self.td3bc.hidden == 0 || self.iql.hidden == 0 {
            return bad("hidden", "a positive layer width");
        }
        Ok(())
    }
}
