//! The training loop (method.md §9.2): seeded uniform minibatches from the device buffer, one
//! agent update per step, losses accumulated on the device, evaluation in the native env every
//! K steps (deterministic actions, buffer-normalized observations, D4RL normalized score),
//! one metrics row per evaluation, checkpoints through a callback.

use std::collections::BTreeMap;
use std::time::Instant;

use burn::tensor::{Device, Tensor};
use serde::Serialize;

use crate::agent::{Agent, HostPolicy, Losses};
use crate::buffer::ReplayBuffer;
use crate::config::{Algo, RlConfig};
use crate::cql::Cql;
use crate::error::RlError;
use crate::iql::Iql;
use crate::mcq::Mcq;
use crate::td3bc::Td3Bc;
use crate::{STREAM_AGENT, STREAM_INIT, STREAM_SAMPLE, derive_seed};

/// The loss names an algorithm reports, in CSV column order.
pub fn loss_names(algo: Algo) -> &'static [&'static str] {
    match algo {
        Algo::Td3bc => &["critic_loss", "actor_loss"],
        Algo::Iql => &["value_loss", "q_loss", "actor_loss"],
        Algo::Cql => &[
            "td_loss",
            "cql_loss",
            "policy_loss",
            "alpha_loss",
            "alpha_prime_loss",
        ],
        Algo::Mcq => &["critic_loss", "actor_loss", "alpha_loss", "vae_loss"],
        Algo::Dt => &["action_loss"],
    }
}

/// The agent of `config.algo` with fresh networks initialised from the run seed.
///
/// # Panics
/// For `Algo::Dt`, which trains on trajectory segments with [`crate::DtTrainer`] rather than
/// as a transition [`Agent`] ([`Trainer::new`] and `checkpoint::load` refuse it with an error).
pub fn build_agent(
    config: &RlConfig,
    obs_dim: usize,
    act_dim: usize,
    device: &Device,
) -> Box<dyn Agent> {
    let seed = derive_seed(config.train.seed, STREAM_INIT, 0);
    match config.algo {
        Algo::Td3bc => Box::new(Td3Bc::new(
            config.td3bc.clone(),
            obs_dim,
            act_dim,
            seed,
            device,
        )),
        Algo::Iql => Box::new(Iql::new(
            config.iql.clone(),
            config.train.steps,
            obs_dim,
            act_dim,
            seed,
            device,
        )),
        Algo::Cql => Box::new(Cql::new(config.cql.clone(), obs_dim, act_dim, seed, device)),
        Algo::Mcq => Box::new(Mcq::new(config.mcq.clone(), obs_dim, act_dim, seed, device)),
        Algo::Dt => panic!("algo dt is trained by gta_rl::DtTrainer, not as a transition Agent"),
    }
}

/// One evaluation: `gta_envs::evaluate` summary.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EvalReport {
    /// Mean undiscounted return.
    pub return_mean: f64,
    /// D4RL normalized score ×100, mean over episodes.
    pub normalized_score: f64,
    /// Population std of the normalized scores.
    pub normalized_score_std: f64,
}

/// One metrics row: written at every evaluation and after the last step.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MetricsRow {
    /// Gradient steps done.
    pub step: u64,
    /// Mean of each loss since the previous row (NaN when it was not computed).
    pub losses: BTreeMap<String, f64>,
    /// The evaluation at this step, if one ran.
    pub eval: Option<EvalReport>,
    /// Gradient steps per second since the previous row (device synced, evaluation excluded).
    pub steps_per_s: f64,
}

impl MetricsRow {
    /// CSV header for `algo`, matching [`MetricsRow::csv_row`].
    pub fn csv_header(algo: Algo) -> String {
        let mut cols = vec!["step".to_string()];
        cols.extend(loss_names(algo).iter().map(|s| s.to_string()));
        cols.extend(
            [
                "return_mean",
                "normalized_score",
                "normalized_score_std",
                "steps_per_s",
            ]
            .map(String::from),
        );
        cols.join(",")
    }

    /// One CSV row (empty fields for a missing evaluation).
    pub fn csv_row(&self, algo: Algo) -> String {
        let mut cols = vec![self.step.to_string()];
        for name in loss_names(algo) {
            cols.push(
                self.losses
                    .get(*name)
                    .map_or(String::new(), |v| v.to_string()),
            );
        }
        match &self.eval {
            Some(e) => cols.extend([
                e.return_mean.to_string(),
                e.normalized_score.to_string(),
                e.normalized_score_std.to_string(),
            ]),
            None => cols.extend([String::new(), String::new(), String::new()]),
        }
        cols.push(self.steps_per_s.to_string());
        cols.join(",")
    }
}

/// A training run: the resolved config, the agent, the device buffer and the step counter.
/// Every random draw of step `k` is seeded from `(seed, stream, k)`, so a run resumed from a
/// checkpoint repeats the uninterrupted run exactly.
pub struct Trainer {
    /// The resolved configuration.
    pub config: RlConfig,
    agent: Box<dyn Agent>,
    buffer: ReplayBuffer,
    step: u64,
}

impl Trainer {
    /// A fresh run over `buffer` (networks on the buffer's device).
    pub fn new(config: RlConfig, buffer: ReplayBuffer) -> Result<Self, RlError> {
        config.validate()?;
        if config.algo == Algo::Dt {
            return Err(RlError::Config {
                key: "algo",
                expected: "a transition algorithm (td3bc, iql, cql, mcq); dt trains with DtTrainer"
                    .into(),
            });
        }
        let agent = build_agent(&config, buffer.obs_dim, buffer.act_dim, buffer.device());
        Ok(Self {
            config,
            agent,
            buffer,
            step: 0,
        })
    }

    /// Rebuilds a run at `step` with agent state loaded by the caller (see `checkpoint::load`).
    pub(crate) fn restore(
        config: RlConfig,
        buffer: ReplayBuffer,
        agent: Box<dyn Agent>,
        step: u64,
    ) -> Self {
        Self {
            config,
            agent,
            buffer,
            step,
        }
    }

    /// Gradient steps done.
    pub fn step_count(&self) -> u64 {
        self.step
    }

    /// The agent.
    pub fn agent(&self) -> &dyn Agent {
        self.agent.as_ref()
    }

    /// The replay buffer.
    pub fn buffer(&self) -> &ReplayBuffer {
        &self.buffer
    }

    /// One gradient step; returns the detached device losses (nothing read back).
    pub fn train_step(&mut self) -> Losses {
        let seed = self.config.train.seed;
        let batch = self.buffer.sample(
            derive_seed(seed, STREAM_SAMPLE, self.step),
            self.config.train.batch_size,
        );
        let losses = self.agent.update(
            &batch,
            self.step,
            derive_seed(seed, STREAM_AGENT, self.step),
        );
        self.step += 1;
        losses
    }

    /// The current deterministic policy on the host, with the buffer's state statistics.
    pub fn policy(&self) -> HostPolicy {
        HostPolicy {
            actor: self.agent.host_actor(),
            normalizer: self.buffer.normalizer.clone(),
        }
    }

    /// Evaluates the current policy for `episodes` episodes of `config.env`, reset seeds
    /// `seed, seed+1, …` (the env is reseeded with the run seed at every evaluation, §9.2).
    pub fn evaluate(&self, episodes: usize) -> Result<EvalReport, RlError> {
        let result = gta_envs::evaluate(
            &self.config.env,
            &self.policy(),
            episodes,
            self.config.train.seed,
        )?;
        Ok(EvalReport {
            return_mean: result.return_mean,
            normalized_score: result.normalized_score,
            normalized_score_std: result.normalized_score_std,
        })
    }

    /// Runs until `until_step` steps are done. Every `eval_every` steps and after the last one
    /// it evaluates (when `config.env` is set) and calls `on_row`; every `checkpoint_every`
    /// steps and after the last one it calls `on_checkpoint`. Returns the last row.
    pub fn train(
        &mut self,
        until_step: u64,
        mut on_row: impl FnMut(&MetricsRow),
        mut on_checkpoint: impl FnMut(&Trainer) -> Result<(), RlError>,
    ) -> Result<Option<MetricsRow>, RlError> {
        let t = self.config.train.clone();
        let mut sums: BTreeMap<&'static str, (Tensor<1>, u64)> = BTreeMap::new();
        let mut count = 0u64;
        let mut t0 = Instant::now();
        let mut last = None;
        while self.step < until_step {
            for (name, loss) in self.train_step() {
                let entry = sums.remove(name);
                sums.insert(
                    name,
                    match entry {
                        Some((s, n)) => (s + loss, n + 1),
                        None => (loss, 1),
                    },
                );
            }
            count += 1;
            let at_eval = t.eval_every > 0 && self.step.is_multiple_of(t.eval_every);
            if at_eval || self.step == until_step {
                let losses: BTreeMap<String, f64> = std::mem::take(&mut sums)
                    .into_iter()
                    .map(|(k, (s, n))| (k.to_string(), s.into_scalar::<f32>() as f64 / n as f64))
                    .collect();
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
