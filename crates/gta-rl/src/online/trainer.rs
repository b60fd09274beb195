//! The online SAC loop (`gta sac train`): act in the native env (uniform actions for the first
//! `start_steps`, then stochastic SAC actions), store the transition, update once per env step;
//! evaluate the mean-action policy, snapshot the actor, write metrics rows and checkpoints.
//!
//! Run folder: `metrics.csv` (one row per evaluation), `snapshots/step_NNNNNNNNN.policy`
//! (the actor and its evaluation return), `checkpoints/step_NNNNNNNNN/` (the newest only).
//!
//! Every random draw is a function of `(seed, stream, counter)`: the action noise of env step
//! t, the reset noise of episode e, the minibatch and the update noise of update u. A checkpoint
//! therefore needs no RNG state; the env's simulator state is rebuilt on resume by resetting
//! the current episode with its seed and replaying its actions (kept in the replay buffer), which
//! reproduces MuJoCo's state bit for bit (warm-start included), unlike setting qpos/qvel.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::tensor::{Device, Tensor};
use gta_envs::{Env, EnvSpec, make_env};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::checkpoint::{checkpoint_name, latest, save_atomic};
use crate::error::RlError;
use crate::online::agent::SacAgent;
use crate::online::config::SacConfig;
use crate::online::policy::{
    BehaviourPolicy, MeanPolicy, PolicyHeader, SnapshotInfo, sample_action, uniform_action,
};
use crate::online::replay::HostReplay;
use crate::{STREAM_AGENT, STREAM_INIT, STREAM_SAMPLE, derive_seed};

/// Random stream: the action (uniform or policy noise) of env step t.
pub const STREAM_ACT: u64 = 11;
/// Random stream: the reset noise of training episode e.
pub const STREAM_RESET: u64 = 12;
/// Random stream: the reset seeds of the evaluation episodes (the same episodes every time).
pub const STREAM_EVAL: u64 = 13;

/// Version of the online checkpoint layout.
pub const SAC_SCHEMA_VERSION: u32 = 1;

/// `state.json` of an online SAC checkpoint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SacState {
    /// [`SAC_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Env steps done.
    pub env_steps: u64,
    /// Gradient updates done.
    pub updates: u64,
    /// Training episodes started before the current one.
    pub episode: u64,
    /// Steps of the current episode.
    pub episode_len: u64,
    /// Return of the current episode so far.
    pub episode_return: f64,
    /// Returns of the episodes finished since the last metrics row.
    pub pending_returns: Vec<f64>,
    /// State width.
    pub obs_dim: usize,
    /// Action width.
    pub act_dim: usize,
    /// The run configuration.
    pub config: SacConfig,
}

/// One metrics row (at every evaluation, snapshot and the last step).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SacRow {
    /// Env steps done.
    pub env_step: u64,
    /// Gradient updates done.
    pub updates: u64,
    /// Training episodes finished.
    pub episodes: u64,
    /// Mean return of the training episodes finished since the previous row.
    pub train_return: Option<f64>,
    /// Mean return of the deterministic evaluation.
    pub eval_return: Option<f64>,
    /// Its D4RL normalized score.
    pub normalized_score: Option<f64>,
    /// Mean critic loss since the previous row (NaN without updates).
    pub q_loss: f64,
    /// Mean policy loss since the previous row.
    pub policy_loss: f64,
    /// Mean temperature loss since the previous row.
    pub alpha_loss: f64,
    /// α now.
    pub alpha: f64,
    /// Gradient updates per second since the previous row (evaluation excluded).
    pub updates_per_s: f64,
    /// Env steps per second since the previous row (evaluation excluded).
    pub env_steps_per_s: f64,
}

impl SacRow {
    /// The CSV header.
    pub const CSV_HEADER: &'static str = "env_step,updates,episodes,train_return,eval_return,normalized_score,q_loss,policy_loss,alpha_loss,alpha,updates_per_s,env_steps_per_s";

    /// One CSV line (empty fields for missing values).
    pub fn csv_row(&self) -> String {
        let opt = |v: Option<f64>| v.map_or(String::new(), |x| x.to_string());
        [
            self.env_step.to_string(),
            self.updates.to_string(),
            self.episodes.to_string(),
            opt(self.train_return),
            opt(self.eval_return),
            opt(self.normalized_score),
            self.q_loss.to_string(),
            self.policy_loss.to_string(),
            self.alpha_loss.to_string(),
            self.alpha.to_string(),
            self.updates_per_s.to_string(),
            self.env_steps_per_s.to_string(),
        ]
        .join(",")
    }
}

/// An online SAC run.
pub struct SacTrainer {
    /// The configuration.
    pub config: SacConfig,
    agent: SacAgent,
    replay: HostReplay,
    env: Box<dyn Env>,
    spec: EnvSpec,
    env_steps: u64,
    updates: u64,
    episode: u64,
    episode_len: u64,
    episode_return: f64,
    pending_returns: Vec<f64>,
    obs: Vec<f32>,
    loss_sums: Option<[Tensor<1>; 3]>,
    loss_count: u64,
}

impl SacTrainer {
    /// A fresh run of `config.env` on `device`.
    pub fn new(config: SacConfig, device: &Device) -> Result<Self, RlError> {
        config.validate()?;
        let env = make_env(&config.env)?;
        let spec = env.spec().clone();
        let (obs_dim, act_dim) = (spec.obs_dim, spec.act_dim);
        let agent = SacAgent::new(
            config.clone(),
            obs_dim,
            act_dim,
            derive_seed(config.seed, STREAM_INIT, 0),
            device,
        );
        let replay = HostReplay::new(config.replay_capacity, obs_dim, act_dim);
        let mut t = Self {
            config,
            agent,
            replay,
            env,
            spec,
            env_steps: 0,
            updates: 0,
            episode: 0,
            episode_len: 0,
            episode_return: 0.0,
            pending_returns: Vec::new(),
            obs: Vec::new(),
            loss_sums: None,
            loss_count: 0,
        };
        t.reset_episode();
        Ok(t)
    }

    /// Env steps done.
    pub fn env_steps(&self) -> u64 {
        self.env_steps
    }

    /// Gradient updates done.
    pub fn updates(&self) -> u64 {
        self.updates
    }

    /// The learner.
    pub fn agent(&self) -> &SacAgent {
        &self.agent
    }

    /// The replay buffer.
    pub fn replay(&self) -> &HostReplay {
        &self.replay
    }

    /// The env's spec.
    pub fn spec(&self) -> &EnvSpec {
        &self.spec
    }

    fn reset_seed(&self, episode: u64) -> u64 {
        derive_seed(self.config.seed, STREAM_RESET, episode)
    }

    fn reset_episode(&mut self) {
        let seed = self.reset_seed(self.episode);
        self.obs = self.env.reset(seed).iter().map(|&v| v as f32).collect();
        self.episode_len = 0;
        self.episode_return = 0.0;
    }

    /// One env step, then `updates_per_step` updates once `start_steps` env steps are done.
    pub fn step(&mut self) -> Result<(), RlError> {
        let c = &self.config;
        let t = self.env_steps;
        let mut rng = ChaCha8Rng::seed_from_u64(derive_seed(c.seed, STREAM_ACT, t));
        let act_dim = self.spec.act_dim;
        let action = if t < c.start_steps {
            uniform_action(act_dim, &mut rng)
        } else {
            let out = self.agent.actor_outputs(&self.obs, 1);
            sample_action(&out, act_dim, c.log_std_min, c.log_std_max, &mut rng).0
        };
        let a64: Vec<f64> = action.iter().map(|&v| v as f64).collect();
        let step = self.env.step(&a64)?;
        let next: Vec<f32> = step.obs.iter().map(|&v| v as f32).collect();
        self.episode_len += 1;
        self.episode_return += step.reward;
        self.replay
            .push(&self.obs, &action, step.reward as f32, &next, step.terminal);
        self.env_steps += 1;
        if step.terminal || self.episode_len >= self.spec.max_episode_steps as u64 {
            self.pending_returns.push(self.episode_return);
            self.episode += 1;
            self.reset_episode();
        } else {
            self.obs = next;
        }
        if self.env_steps >= self.config.start_steps {
            for _ in 0..self.config.updates_per_step {
                self.update();
            }
        }
        Ok(())
    }

    /// One gradient update on a minibatch of the replay buffer.
    pub fn update(&mut self) {
        let (seed, u) = (self.config.seed, self.updates);
        let batch = self.replay.sample(
            derive_seed(seed, STREAM_SAMPLE, u),
            self.config.batch_size,
            self.agent.device(),
        );
        let losses = self
            .agent
            .update(&batch, derive_seed(seed, STREAM_AGENT, u));
        self.updates += 1;
        self.loss_count += 1;
        self.loss_sums = Some(match self.loss_sums.take() {
            None => losses,
            Some([a, b, c]) => {
                let [x, y, z] = losses;
                [a + x, b + y, c + z]
            }
        });
    }

    /// Evaluates the mean-action policy: `eval_episodes` episodes with fixed reset seeds.
    pub fn evaluate(&self) -> Result<gta_envs::EvalResult, RlError> {
        Ok(gta_envs::evaluate(
            &self.config.env,
            &MeanPolicy(self.agent.host_actor()),
            self.config.eval_episodes.max(1),
            derive_seed(self.config.seed, STREAM_EVAL, 0),
        )?)
    }

    /// The current actor as a one-snapshot behaviour policy with evaluation return `eval_return`.
    pub fn snapshot(&self, eval_return: f64) -> BehaviourPolicy {
        let actor = self.agent.host_actor();
        BehaviourPolicy {
            header: PolicyHeader {
                format: "gta-sac-policy".into(),
                env: self.spec.name.to_string(),
                sizes: actor.sizes.clone(),
                log_std_min: self.config.log_std_min,
                log_std_max: self.config.log_std_max,
                random_steps: self.config.start_steps,
                end_step: self.env_steps,
                snapshots: vec![SnapshotInfo {
                    env_step: self.env_steps,
                    eval_return,
                }],
            },
            actors: vec![actor],
        }
    }

    fn row(&mut self, eval: bool, dt: f64, env_steps_since: u64) -> Result<SacRow, RlError> {
        let (q_loss, policy_loss, alpha_loss) = match self.loss_sums.take() {
            Some([a, b, c]) => {
                let n = self.loss_count as f64;
                let r = |t: Tensor<1>| t.into_scalar::<f32>() as f64 / n;
                (r(a), r(b), r(c))
            }
            None => (f64::NAN, f64::NAN, f64::NAN),
        };
        let updates_since = self.loss_count;
        self.loss_count = 0;
        let returns = std::mem::take(&mut self.pending_returns);
        let train_return =
            (!returns.is_empty()).then(|| returns.iter().sum::<f64>() / returns.len() as f64);
        let ev = if eval { Some(self.evaluate()?) } else { None };
        Ok(SacRow {
            env_step: self.env_steps,
            updates: self.updates,
            episodes: self.episode,
            train_return,
            eval_return: ev.as_ref().map(|e| e.return_mean),
            normalized_score: ev.as_ref().map(|e| e.normalized_score),
            q_loss,
            policy_loss,
            alpha_loss,
            alpha: self.agent.alpha(),
            updates_per_s: updates_since as f64 / dt,
            env_steps_per_s: env_steps_since as f64 / dt,
        })
    }

    /// Runs until `until` env steps are done. A row is produced (and passed to `on_row`) at
    /// step 0 of a fresh run, at every `eval_every`/`snapshot_every` multiple and at `until`;
    /// with `out`, rows are appended to `out/metrics.csv`, snapshots written to
    /// `out/snapshots/` and checkpoints to `out/checkpoints/` (every `checkpoint_every` and at
    /// `until`; older ones are removed). Returns the last row.
    pub fn train(
        &mut self,
        until: u64,
        out: Option<&Path>,
        mut on_row: impl FnMut(&SacRow),
    ) -> Result<Option<SacRow>, RlError> {
        let c = self.config.clone();
        let mut metrics = match out {
            Some(dir) => Some(open_metrics(dir, self.env_steps)?),
            None => None,
        };
        let mut last = None;
        let mut emit = |t: &mut Self,
                        snap: bool,
                        dt: f64,
                        since: u64,
                        metrics: &mut Option<std::fs::File>|
         -> Result<SacRow, RlError> {
            let row = t.row(c.eval_episodes > 0, dt, since)?;
            if let Some(f) = metrics.as_mut() {
                writeln!(f, "{}", row.csv_row()).map_err(|e| RlError::io("metrics.csv", e))?;
            }
            if let (true, Some(dir)) = (snap, out) {
                let sdir = dir.join("snapshots");
                std::fs::create_dir_all(&sdir).map_err(|e| RlError::io(&sdir, e))?;
                let path = sdir.join(format!("{}.policy", checkpoint_name(t.env_steps)));
                let policy = t.snapshot(row.eval_return.unwrap_or(f64::NAN));
                std::fs::write(&path, policy.to_bytes()).map_err(|e| RlError::io(&path, e))?;
            }
            on_row(&row);
            Ok(row)
        };
        if self.env_steps == 0 && until > 0 {
            last = Some(emit(self, c.snapshot_every > 0, 1.0, 0, &mut metrics)?);
        }
        let mut t0 = Instant::now();
        let mut since = 0u64;
        while self.env_steps < until {
            self.step()?;
            since += 1;
            let n = self.env_steps;
            let at_eval = c.eval_every > 0 && n.is_multiple_of(c.eval_every);
            let at_snap = c.snapshot_every > 0 && n.is_multiple_of(c.snapshot_every);
            if at_eval || at_snap || n == until {
                let dt = t0.elapsed().as_secs_f64();
                last = Some(emit(self, at_snap, dt, since, &mut metrics)?);
                since = 0;
                t0 = Instant::now();
            }
            if let Some(dir) = out
                && (n.is_multiple_of(c.checkpoint_every) || n == until)
            {
                self.save(&dir.join("checkpoints"))?;
            }
        }
        Ok(last)
    }

    /// Writes a checkpoint `parent/step_NNNNNNNNN/` (networks, optimizers, replay buffer,
    /// counters) and removes older ones. Returns its path.
    pub fn save(&self, parent: &Path) -> Result<PathBuf, RlError> {
        let state = SacState {
            schema_version: SAC_SCHEMA_VERSION,
            env_steps: self.env_steps,
            updates: self.updates,
            episode: self.episode,
            episode_len: self.episode_len,
            episode_return: self.episode_return,
            pending_returns: self.pending_returns.clone(),
            obs_dim: self.spec.obs_dim,
            act_dim: self.spec.act_dim,
            config: self.config.clone(),
        };
        let dst = save_atomic(parent, &checkpoint_name(self.env_steps), |tmp| {
            self.agent.save(tmp)?;
            self.replay.save(&tmp.join("replay.bin"))?;
            let json = serde_json::to_string_pretty(&state).expect("state serializes");
            std::fs::write(tmp.join("state.json"), json)
                .map_err(|e| RlError::io(tmp.join("state.json"), e))
        })?;
        for entry in std::fs::read_dir(parent).map_err(|e| RlError::io(parent, e))? {
            let p = entry.map_err(|e| RlError::io(parent, e))?.path();
            let old = p
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_prefix("step_"))
                .and_then(|s| s.parse::<u64>().ok())
                .is_some_and(|s| s < self.env_steps);
            if old {
                std::fs::remove_dir_all(&p).map_err(|e| RlError::io(&p, e))?;
            }
        }
        Ok(dst)
    }

    /// Restores the run saved in checkpoint `dir` on `device`, continuing exactly.
    pub fn load(dir: &Path, device: &Device) -> Result<Self, RlError> {
        let path = dir.join("state.json");
        let text = std::fs::read_to_string(&path).map_err(|e| RlError::io(&path, e))?;
        let state: SacState =
            serde_json::from_str(&text).map_err(|e| RlError::checkpoint(&path, e))?;
        if state.schema_version != SAC_SCHEMA_VERSION {
            return Err(RlError::checkpoint(
                &path,
                format!(
                    "schema_version {SAC_SCHEMA_VERSION} expected, found {}",
                    state.schema_version
                ),
            ));
        }
        let mut t = Self::new(state.config.clone(), device)?;
        t.agent.load(dir)?;
        t.replay = HostReplay::load(&dir.join("replay.bin"))?;
        t.env_steps = state.env_steps;
        t.updates = state.updates;
        t.episode = state.episode;
        t.pending_returns = state.pending_returns;
        // Rebuild the simulator: reset the current episode and replay its actions.
        t.reset_episode();
        let k = state.episode_len;
        for back in (1..=k).rev() {
            let a: Vec<f64> = t
                .replay
                .action_back(back)
                .iter()
                .map(|&v| v as f64)
                .collect();
            let step = t.env.step(&a)?;
            t.obs = step.obs.iter().map(|&v| v as f32).collect();
        }
        if k > 0 && t.obs.as_slice() != t.replay.next_back(1) {
            return Err(RlError::checkpoint(
                dir,
                "replaying the current episode did not reproduce the saved state",
            ));
        }
        t.episode_len = k;
        t.episode_return = state.episode_return;
        Ok(t)
    }

    /// Restores the newest checkpoint under `parent`.
    pub fn load_latest(parent: &Path, device: &Device) -> Result<Self, RlError> {
        let dir = latest(parent)
            .ok_or_else(|| RlError::checkpoint(parent, "no checkpoint to resume from"))?;
        Self::load(&dir, device)
    }
}

/// Opens `dir/metrics.csv` for appending, first dropping rows after `env_step` (a resumed run
/// rewrites them) and writing the header into a new file.
fn open_metrics(dir: &Path, env_step: u64) -> Result<std::fs::File, RlError> {
    std::fs::create_dir_all(dir).map_err(|e| RlError::io(dir, e))?;
    let path = dir.join("metrics.csv");
    let kept: Vec<String> = std::fs::read_to_string(&path)
        .unwrap_or_default()
        .lines()
        .skip(1)
        .filter(|l| {
            l.split(',')
                .next()
                .and_then(|s| s.parse::<u64>().ok())
                .is_some_and(|s| s <= env_step)
        })
        .map(str::to_string)
        .collect();
    let mut text = String::from(SacRow::CSV_HEADER);
    text.push('\n');
    for l in kept {
        text.push_str(&l);
        text.push('\n');
    }
    std::fs::write(&path, text).map_err(|e| RlError::io(&path, e))?;
    std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .map_err(|e| RlError::io(&path, e))
}
