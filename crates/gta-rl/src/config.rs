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
    /// Conservative Q-learning (Kumar et al. 2020; CORL `cql.py`), Lagrange variant optional.
    Cql,
    /// Mildly conservative Q-learning (Lyu et al. 2022; OfflineRL-Kit `mcq.py`).
    Mcq,
    /// Decision Transformer (Chen et al. 2021; CORL `dt.py`): trains on trajectory segments
    /// with [`crate::dt::DtTrainer`], not on transitions.
    Dt,
}

impl std::str::FromStr for Algo {
    type Err = RlError;
    fn from_str(s: &str) -> Result<Self, RlError> {
        match s {
            "td3bc" | "td3_bc" | "td3+bc" => Ok(Algo::Td3bc),
            "iql" => Ok(Algo::Iql),
            "cql" => Ok(Algo::Cql),
            "mcq" => Ok(Algo::Mcq),
            "dt" => Ok(Algo::Dt),
            other => Err(RlError::Config {
                key: "algo",
                expected: format!("one of td3bc, iql, cql, mcq, dt; got {other:?}"),
            }),
        }
    }
}

impl std::fmt::Display for Algo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Algo::Td3bc => "td3bc",
            Algo::Iql => "iql",
            Algo::Cql => "cql",
            Algo::Mcq => "mcq",
            Algo::Dt => "dt",
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

/// CQL hyper-parameters (method.md §9.3). Where method.md is silent the values are CORL
/// `cql.py`'s `TrainConfig` defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CqlConfig {
    /// Hidden width of actor and critics (256).
    pub hidden: usize,
    /// Number of hidden layers of actor and critics (3; CORL's actor is always 256×3).
    pub n_hidden: usize,
    /// Actor learning rate; also the entropy temperature's (3e-5).
    pub policy_lr: f64,
    /// Critic learning rate; also the Lagrange multiplier's (3e-4).
    pub qf_lr: f64,
    /// Discount γ (0.99).
    pub discount: f64,
    /// Polyak rate of the target critics, `soft_target_update_rate` (5e-3).
    pub tau: f64,
    /// Target update every this many steps (1).
    pub target_update_period: u64,
    /// Multiplier on the entropy temperature α (1.0).
    pub alpha_multiplier: f64,
    /// Tune α towards the target entropy −|A| (true); otherwise α = alpha_multiplier.
    pub automatic_entropy_tuning: bool,
    /// Subtract α·log π(a′|s′) in the TD target (false).
    pub backup_entropy: bool,
    /// Sampled actions per state for the logsumexp, each of random / current / next (10).
    pub n_actions: usize,
    /// Importance-sample the logsumexp (subtract the sampling log-densities) (true).
    pub importance_sample: bool,
    /// Lagrange version: α′ tuned so the conservative gap meets `target_action_gap`
    /// (false; the reference turns it on for maze2d, and `gta rl train` does so there).
    pub lagrange: bool,
    /// Target action gap τ of the Lagrange version (−1 in CORL; 5.0 for maze2d).
    pub target_action_gap: f64,
    /// Temperature of the logsumexp (1.0).
    pub temp: f64,
    /// Weight of the conservative penalty, `cql_alpha` (10.0).
    pub cql_alpha: f64,
    /// Lower clip of `logsumexp − Q(s, a)` per sample (none).
    pub clip_diff_min: Option<f64>,
    /// Upper clip of `logsumexp − Q(s, a)` per sample (none).
    pub clip_diff_max: Option<f64>,
    /// Orthogonal critic init (gain √2 hidden, 1e-2 output, zero biases) (true).
    pub orthogonal_init: bool,
    /// Behaviour-cloning policy updates at the start (0).
    pub bc_steps: u64,
    /// Initial value of the learnable log-std multiplier (1.0).
    pub log_std_multiplier: f64,
    /// Initial value of the learnable log-std offset (−1.0).
    pub log_std_offset: f64,
    /// Lower clamp of the policy's log-std (−20).
    pub log_std_min: f64,
    /// Upper clamp of the policy's log-std (2).
    pub log_std_max: f64,
    /// Action bound of the env (1.0).
    pub max_action: f64,
}

impl Default for CqlConfig {
    fn default() -> Self {
        Self {
            hidden: 256,
            n_hidden: 3,
            policy_lr: 3e-5,
            qf_lr: 3e-4,
            discount: 0.99,
            tau: 5e-3,
            target_update_period: 1,
            alpha_multiplier: 1.0,
            automatic_entropy_tuning: true,
            backup_entropy: false,
            n_actions: 10,
            importance_sample: true,
            lagrange: false,
            target_action_gap: -1.0,
            temp: 1.0,
            cql_alpha: 10.0,
            clip_diff_min: None,
            clip_diff_max: None,
            orthogonal_init: true,
            bc_steps: 0,
            log_std_multiplier: 1.0,
            log_std_offset: -1.0,
            log_std_min: -20.0,
            log_std_max: 2.0,
            max_action: 1.0,
        }
    }
}

/// MCQ hyper-parameters (method.md §9.3; OfflineRL-Kit `run_mcq.py` defaults).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct McqConfig {
    /// Hidden width of actor and critics (400).
    pub hidden: usize,
    /// Number of hidden layers of actor and critics (2).
    pub n_hidden: usize,
    /// Dropout rate after each hidden layer of the actor (0.1).
    pub actor_dropout: f64,
    /// Actor learning rate (3e-4).
    pub actor_lr: f64,
    /// Critic learning rate (3e-4).
    pub critic_lr: f64,
    /// Tune the temperature α towards the target entropy −|A| (true).
    pub auto_alpha: bool,
    /// Temperature learning rate (3e-4).
    pub alpha_lr: f64,
    /// Fixed temperature when `auto_alpha` is off (0.2).
    pub alpha: f64,
    /// Weight λ of the in-distribution TD loss; 1 − λ weighs the OOD pseudo-target loss (0.9).
    pub lambda: f64,
    /// Decoder samples per state for the OOD pseudo-target (10).
    pub num_sampled_actions: usize,
    /// Hidden width of the CVAE's encoder and decoder (750, two layers each).
    pub vae_hidden: usize,
    /// Latent width of the CVAE (0 = 2·|A|).
    pub vae_latent: usize,
    /// CVAE learning rate (1e-3).
    pub vae_lr: f64,
    /// Clip of the latent when sampling the decoder (0.5).
    pub latent_clip: f64,
    /// Discount γ (0.99).
    pub discount: f64,
    /// Polyak rate of the target critics (0.005).
    pub tau: f64,
    /// Lower clamp of the actor's log-std (−5).
    pub log_std_min: f64,
    /// Upper clamp of the actor's log-std (2).
    pub log_std_max: f64,
    /// Action bound of the env (1.0).
    pub max_action: f64,
}

impl Default for McqConfig {
    fn default() -> Self {
        Self {
            hidden: 400,
            n_hidden: 2,
            actor_dropout: 0.1,
            actor_lr: 3e-4,
            critic_lr: 3e-4,
            auto_alpha: true,
            alpha_lr: 3e-4,
            alpha: 0.2,
            lambda: 0.9,
            num_sampled_actions: 10,
            vae_hidden: 750,
            vae_latent: 0,
            vae_lr: 1e-3,
            latent_clip: 0.5,
            discount: 0.99,
            tau: 0.005,
            log_std_min: -5.0,
            log_std_max: 2.0,
            max_action: 1.0,
        }
    }
}

/// Decision Transformer hyper-parameters (method.md §9.3: CORL `dt.py` as the GTA reference
/// runs it). Where method.md is silent the values are CORL `dt.py`'s `TrainConfig` defaults.
/// The protocol (100k steps, evaluation every 10k steps over 100 episodes, batch 1024) lives
/// in [`TrainConfig`]; see [`TrainConfig::for_algo`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DtConfig {
    /// Token embedding width (128).
    pub embedding_dim: usize,
    /// Transformer blocks (3).
    pub n_layers: usize,
    /// Attention heads (1).
    pub n_heads: usize,
    /// Context length K in timesteps; the GPT sees 3K tokens (R, s, a per step) (20).
    pub seq_len: usize,
    /// Longest episode: size of the timestep embedding table is `episode_len + seq_len`, and
    /// evaluation stops after this many steps (1000).
    pub episode_len: usize,
    /// Dropout on the attention weights (0.1).
    pub attention_dropout: f64,
    /// Dropout on the attention output and the MLP output of each block (0.1).
    pub residual_dropout: f64,
    /// Dropout after the embedding LayerNorm (0.1).
    pub embedding_dropout: f64,
    /// AdamW peak learning rate (1e-4).
    pub learning_rate: f64,
    /// AdamW β1 (0.9).
    pub beta_1: f64,
    /// AdamW β2 (0.999).
    pub beta_2: f64,
    /// AdamW decoupled weight decay, applied to every parameter as CORL does (1e-4).
    pub weight_decay: f64,
    /// Global L2 gradient-norm clip, `clip_grad_norm_` (0.25; 0 = off).
    pub clip_grad: f64,
    /// Linear warm-up: step k (0-based) uses `lr · min((k + 1) / warmup_steps, 1)` (10,000).
    pub warmup_steps: u64,
    /// Returns-to-go and evaluation rewards are multiplied by this (0.001).
    pub reward_scale: f64,
    /// Target return of the evaluation rollouts, unscaled (none = per env family: halfcheetah
    /// 12000, walker2d 5000, hopper 3600, maze2d 280, method.md §9.3).
    pub target_return: Option<f64>,
    /// Multiply the first RTG of each generated window by this α (the older loader's
    /// behaviour, reference-code-notes.md §14; none = the release behaviour, method.md §9.3).
    pub amplify_rtg: Option<f64>,
    /// eps added to the state std over the union of original and generated states (CORL and
    /// the GTA reference `dt.py` use 1e-6, not the Q-learning algorithms' 1e-3).
    pub state_std_eps: f64,
    /// Action bound: the head outputs `tanh(·)·max_action` (1.0).
    pub max_action: f64,
}

impl Default for DtConfig {
    fn default() -> Self {
        Self {
            embedding_dim: 128,
            n_layers: 3,
            n_heads: 1,
            seq_len: 20,
            episode_len: 1000,
            attention_dropout: 0.1,
            residual_dropout: 0.1,
            embedding_dropout: 0.1,
            learning_rate: 1e-4,
            beta_1: 0.9,
            beta_2: 0.999,
            weight_decay: 1e-4,
            clip_grad: 0.25,
            warmup_steps: 10_000,
            reward_scale: 0.001,
            target_return: None,
            amplify_rtg: None,
            state_std_eps: 1e-6,
            max_action: 1.0,
        }
    }
}

impl DtConfig {
    /// The evaluation target return for `env` (an env or dataset id): `target_return` if set,
    /// else the reference's per-family value (method.md §9.3), else `None`.
    pub fn target_return_for(&self, env: &str) -> Option<f64> {
        if self.target_return.is_some() {
            return self.target_return;
        }
        let family = env.split('-').next().unwrap_or("");
        match family {
            "halfcheetah" => Some(12000.0),
            "walker2d" => Some(5000.0),
            "hopper" => Some(3600.0),
            "maze2d" => Some(280.0),
            _ => None,
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

impl TrainConfig {
    /// The paper protocol of `algo` (method.md §9.2): DT trains 100k steps and evaluates every
    /// 10k steps over 100 episodes; the others use [`TrainConfig::default`].
    pub fn for_algo(algo: Algo) -> Self {
        match algo {
            Algo::Dt => Self {
                steps: 100_000,
                eval_every: 10_000,
                eval_episodes: 100,
                ..Self::default()
            },
            _ => Self::default(),
        }
    }
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
    /// CQL settings (used when `algo = cql`).
    pub cql: CqlConfig,
    /// MCQ settings (used when `algo = mcq`).
    pub mcq: McqConfig,
    /// Decision Transformer settings (used when `algo = dt`).
    pub dt: DtConfig,
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
            cql: CqlConfig::default(),
            mcq: McqConfig::default(),
            dt: DtConfig::default(),
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
        if self.cql.n_actions == 0 || self.mcq.num_sampled_actions == 0 {
            return bad("n_actions", "a positive number of sampled actions");
        }
        if self.cql.target_update_period == 0 {
            return bad("cql.target_update_period", "a positive step count");
        }
        if !(0.0..=1.0).contains(&self.mcq.lambda) {
            return bad("mcq.lambda", "a value in [0, 1]");
        }
        if !(0.0..1.0).contains(&self.mcq.actor_dropout) {
            return bad("mcq.actor_dropout", "a value in [0, 1)");
        }
        let d = &self.dt;
        if d.embedding_dim == 0 || d.n_heads == 0 || !d.embedding_dim.is_multiple_of(d.n_heads) {
            return bad(
                "dt.embedding_dim",
                "a positive width divisible by dt.n_heads",
            );
        }
        if d.seq_len == 0 || d.episode_len == 0 || d.n_layers == 0 {
            return bad(
                "dt.seq_len",
                "positive dt.seq_len, dt.episode_len and dt.n_layers",
            );
        }
        if [d.attention_dropout, d.residual_dropout, d.embedding_dropout]
            .iter()
            .any(|p| !(0.0..1.0).contains(p))
        {
            return bad("dt.*_dropout", "dropout rates in [0, 1)");
        }
        if !(d.reward_scale > 0.0 && d.state_std_eps >= 0.0 && d.clip_grad >= 0.0) {
            return bad(
                "dt.reward_scale",
                "a positive reward_scale and non-negative state_std_eps and clip_grad",
            );
        }
        if self.cql.temp <= 0.0 {
            return bad("cql.temp", "a positive temperature");
        }
        if [
            self.td3bc.hidden,
            self.iql.hidden,
            self.cql.hidden,
            self.mcq.hidden,
        ]
        .contains(&0)
            || self.mcq.vae_hidden == 0
        {
            return bad("hidden", "a positive layer width");
        }
        Ok(())
    }
}
