//! Configuration of an online SAC run (`gta sac train`): the usual SAC defaults (Haarnoja et
//! al. 2018; rlkit, which trained D4RL's behaviour policies) and the run protocol.

use serde::{Deserialize, Serialize};

use crate::error::RlError;

/// Online SAC hyper-parameters and protocol. Every field has a default, so a TOML file may set
/// only what it changes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SacConfig {
    /// Env name (halfcheetah, hopper, walker2d, ant, maze2d-*).
    pub env: String,
    /// Run seed: every random draw is a function of (seed, stream, counter).
    pub seed: u64,
    /// Env steps to run (1,000,000).
    pub steps: u64,
    /// Hidden width of actor and critics (256).
    pub hidden: usize,
    /// Number of hidden layers of actor and critics (2).
    pub n_hidden: usize,
    /// Actor learning rate (3e-4).
    pub actor_lr: f64,
    /// Critic learning rate (3e-4).
    pub critic_lr: f64,
    /// Temperature (log α) learning rate (3e-4).
    pub alpha_lr: f64,
    /// Initial log α (0.0, i.e. α = 1, as rlkit).
    pub init_log_alpha: f64,
    /// Target entropy; `None` means −|A| (the usual heuristic).
    pub target_entropy: Option<f64>,
    /// Minibatch size (256).
    pub batch_size: usize,
    /// Discount γ (0.99).
    pub discount: f64,
    /// Polyak rate τ of the target critics (0.005), applied after every update.
    pub tau: f64,
    /// Lower clamp of the actor's log σ (−20, rlkit `LOG_SIG_MIN`).
    pub log_std_min: f64,
    /// Upper clamp of the actor's log σ (2, rlkit `LOG_SIG_MAX`).
    pub log_std_max: f64,
    /// Env steps with uniform-random actions before the policy acts and updates begin
    /// (10,000; rlkit's D4RL runs used 10,000 `min_num_steps_before_training` on every env, so
    /// hopper keeps 10,000 too rather than the 5,000 some codebases use).
    pub start_steps: u64,
    /// Gradient updates per env step once updates have begun (1).
    pub updates_per_step: u64,
    /// Replay capacity in transitions (1,000,000; the oldest are overwritten beyond it).
    pub replay_capacity: usize,
    /// Evaluate the deterministic (mean) policy every K env steps (10,000; 0 = never).
    pub eval_every: u64,
    /// Episodes per evaluation (10).
    pub eval_episodes: usize,
    /// Save a behaviour-policy snapshot (actor + its evaluation return) every K env steps
    /// (10,000; 0 = never). A snapshot is also taken at step 0.
    pub snapshot_every: u64,
    /// Write a resumable checkpoint every K env steps (50,000) and at the end. Only the newest
    /// checkpoint is kept (it holds the replay buffer).
    pub checkpoint_every: u64,
}

impl Default for SacConfig {
    fn default() -> Self {
        Self {
            env: String::new(),
            seed: 0,
            steps: 1_000_000,
            hidden: 256,
            n_hidden: 2,
            actor_lr: 3e-4,
            critic_lr: 3e-4,
            alpha_lr: 3e-4,
            init_log_alpha: 0.0,
            target_entropy: None,
            batch_size: 256,
            discount: 0.99,
            tau: 0.005,
            log_std_min: -20.0,
            log_std_max: 2.0,
            start_steps: 10_000,
            updates_per_step: 1,
            replay_capacity: 1_000_000,
            eval_every: 10_000,
            eval_episodes: 10,
            snapshot_every: 10_000,
            checkpoint_every: 50_000,
        }
    }
}

impl SacConfig {
    /// The default configuration for `env`.
    pub fn for_env(env: &str) -> Self {
        Self {
            env: env.to_string(),
            ..Self::default()
        }
    }

    /// The target entropy for `act_dim` actions.
    pub fn target_entropy_for(&self, act_dim: usize) -> f64 {
        self.target_entropy.unwrap_or(-(act_dim as f64))
    }

    /// Rejects values the trainer cannot run with.
    pub fn validate(&self) -> Result<(), RlError> {
        let bad = |key: &'static str, expected: &str| {
            Err(RlError::Config {
                key,
                expected: expected.to_string(),
            })
        };
        if self.hidden == 0 || self.n_hidden == 0 {
            return bad("hidden/n_hidden", "at least 1");
        }
        if self.batch_size == 0 {
            return bad("batch_size", "at least 1");
        }
        if self.replay_capacity < self.batch_size.max(1000) {
            return bad(
                "replay_capacity",
                "at least max(batch_size, 1000) (resume replays the current episode from it)",
            );
        }
        if !(0.0..=1.0).contains(&self.tau) {
            return bad("tau", "in [0, 1]");
        }
        if self.log_std_min >= self.log_std_max {
            return bad("log_std_min", "below log_std_max");
        }
        if self.checkpoint_every == 0 {
            return bad("checkpoint_every", "at least 1");
        }
        Ok(())
    }
}
