//! Behaviour policies: the SAC actor saved for dataset recipes, and its stochastic action on
//! the host.
//!
//! File format (`.policy`, little-endian): the 8 bytes `GTAPOL1\n`, a `u32` header length, a
//! JSON header ([`PolicyHeader`]), then for each snapshot and each layer the weight (`[in, out]`
//! row-major) and the bias as `f32`. One snapshot for `medium`/`expert`; a sequence for
//! `medium-replay` (each snapshot acts from its `env_step` to the next one's).

use std::f64::consts::LN_2;
use std::path::Path;

use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use serde::{Deserialize, Serialize};

use crate::agent::HostMlp;
use crate::error::RlError;
use crate::sac::HALF_LN_2PI;

const MAGIC: &[u8; 8] = b"GTAPOL1\n";

/// One actor of a behaviour-policy file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SnapshotInfo {
    /// Env steps of training when the snapshot was taken.
    pub env_step: u64,
    /// Mean return of the deterministic (mean-action) evaluation at that step.
    pub eval_return: f64,
}

/// The JSON header of a `.policy` file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyHeader {
    /// Always `gta-sac-policy`.
    pub format: String,
    /// Env name.
    pub env: String,
    /// Actor widths `[S, h, …, 2A]` (outputs: mean, then raw log σ).
    pub sizes: Vec<usize>,
    /// Lower clamp of log σ.
    pub log_std_min: f64,
    /// Upper clamp of log σ.
    pub log_std_max: f64,
    /// Env steps of uniform-random actions at the start of training (medium-replay).
    pub random_steps: u64,
    /// Env steps the last snapshot acted until (medium-replay: the medium point).
    pub end_step: u64,
    /// The snapshots, in training order.
    pub snapshots: Vec<SnapshotInfo>,
}

/// A behaviour policy: one or more actor snapshots of one SAC run.
#[derive(Clone, Debug, PartialEq)]
pub struct BehaviourPolicy {
    /// The header.
    pub header: PolicyHeader,
    /// The actors (no output squashing; `2A` outputs), one per snapshot.
    pub actors: Vec<HostMlp>,
}

impl BehaviourPolicy {
    /// Action width.
    pub fn act_dim(&self) -> usize {
        self.header.sizes.last().copied().unwrap_or(0) / 2
    }

    /// Observation width.
    pub fn obs_dim(&self) -> usize {
        self.header.sizes.first().copied().unwrap_or(0)
    }

    /// The file bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let header = serde_json::to_vec(&self.header).expect("header serializes");
        let mut out = Vec::new();
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(header.len() as u32).to_le_bytes());
        out.extend_from_slice(&header);
        for actor in &self.actors {
            for (w, b) in &actor.layers {
                for v in w.iter().chain(b) {
                    out.extend_from_slice(&v.to_le_bytes());
                }
            }
        }
        out
    }

    /// Parses file bytes; `path` names the file in errors.
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Self, RlError> {
        let bad = |what: String| RlError::Policy {
            path: path.to_path_buf(),
            what,
        };
        if bytes.len() < 12 || &bytes[..8] != MAGIC {
            return Err(bad("not a gta behaviour-policy file (bad magic)".into()));
        }
        let n = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes")) as usize;
        let body = bytes
            .get(12..12 + n)
            .ok_or_else(|| bad("truncated header".into()))?;
        let header: PolicyHeader =
            serde_json::from_slice(body).map_err(|e| bad(format!("header: {e}")))?;
        if header.format != "gta-sac-policy" || header.sizes.len() < 2 {
            return Err(bad(format!("unexpected header {header:?}")));
        }
        let per_actor: usize = header.sizes.windows(2).map(|w| w[0] * w[1] + w[1]).sum();
        let floats = &bytes[12 + n..];
        let expected = per_actor * header.snapshots.len() * 4;
        if floats.len() != expected {
            return Err(bad(format!(
                "{} weight bytes, expected {expected} for {} snapshots of sizes {:?}",
                floats.len(),
                header.snapshots.len(),
                header.sizes
            )));
        }
        let mut vals = floats
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")));
        let mut actors = Vec::new();
        for _ in &header.snapshots {
            let layers = header
                .sizes
                .windows(2)
                .map(|w| {
                    let weight: Vec<f32> = vals.by_ref().take(w[0] * w[1]).collect();
                    let bias: Vec<f32> = vals.by_ref().take(w[1]).collect();
                    (weight, bias)
                })
                .collect();
            actors.push(HostMlp {
                layers,
                sizes: header.sizes.clone(),
                tanh_scale: None,
            });
        }
        Ok(Self { header, actors })
    }

    /// Reads a `.policy` file.
    pub fn read(path: &Path) -> Result<Self, RlError> {
        let bytes = std::fs::read(path).map_err(|e| RlError::io(path, e))?;
        Self::from_bytes(&bytes, path)
    }

    /// A policy of the snapshots `idx` of `self` (same header otherwise).
    pub fn select(&self, idx: &[usize], end_step: u64) -> Self {
        let mut header = self.header.clone();
        header.snapshots = idx
            .iter()
            .map(|&i| self.header.snapshots[i].clone())
            .collect();
        header.end_step = end_step;
        Self {
            header,
            actors: idx.iter().map(|&i| self.actors[i].clone()).collect(),
        }
    }
}

/// `softplus(x) = ln(1 + eˣ)`, stable for large |x|.
fn softplus(x: f64) -> f64 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

/// A stochastic SAC action from the actor's raw `2A` outputs `out` (mean, raw log σ):
/// `u = mean + σ·ε` with ε ~ N(0, I) drawn from `rng` (f64), action `tanh(u)` rounded to f32,
/// and `log π(a|s) = Σ_j [−½ε_j² − log σ_j − ½ ln 2π − 2(ln 2 − u_j − softplus(−2u_j))]`
/// in f64. Training and the dataset recipes share this function, so a recipe explores exactly
/// as training did.
pub fn sample_action(
    out: &[f32],
    act_dim: usize,
    log_std_min: f64,
    log_std_max: f64,
    rng: &mut ChaCha8Rng,
) -> (Vec<f32>, f64) {
    let mut action = Vec::with_capacity(act_dim);
    let mut log_prob = 0.0;
    for j in 0..act_dim {
        let mean = out[j] as f64;
        let log_std = (out[act_dim + j] as f64).clamp(log_std_min, log_std_max);
        let eps: f64 = rng.sample(StandardNormal);
        let u = mean + log_std.exp() * eps;
        action.push(u.tanh() as f32);
        log_prob +=
            -0.5 * eps * eps - log_std - HALF_LN_2PI - 2.0 * (LN_2 - u - softplus(-2.0 * u));
    }
    (action, log_prob)
}

/// The deterministic action `tanh(mean)` of the raw outputs.
pub fn mean_action(out: &[f32], act_dim: usize) -> Vec<f32> {
    out[..act_dim].iter().map(|v| v.tanh()).collect()
}

/// Uniform actions in [−1, 1) (the initial exploration of training).
pub fn uniform_action(act_dim: usize, rng: &mut ChaCha8Rng) -> Vec<f32> {
    (0..act_dim)
        .map(|_| rng.random_range(-1.0f32..1.0))
        .collect()
}

/// The deterministic mean-action policy of a host actor, for `gta_envs::evaluate`.
#[derive(Clone, Debug)]
pub struct MeanPolicy(pub HostMlp);

impl gta_envs::Policy for MeanPolicy {
    fn act_batch(
        &self,
        observations: &[f32],
        n: usize,
        _rngs: &mut [gta_envs::PolicyRng],
    ) -> Vec<f32> {
        let two_a = *self.0.sizes.last().expect("sizes");
        let out = self.0.forward(observations, n);
        out.chunks_exact(two_a)
            .flat_map(|row| mean_action(row, two_a / 2))
            .collect()
    }
}

/// The stochastic policy of a host actor (per-episode streams), for `gta_envs::evaluate`.
#[derive(Clone, Debug)]
pub struct SamplePolicy {
    /// The actor.
    pub actor: HostMlp,
    /// Lower log σ clamp.
    pub log_std_min: f64,
    /// Upper log σ clamp.
    pub log_std_max: f64,
}

impl gta_envs::Policy for SamplePolicy {
    fn act_batch(
        &self,
        observations: &[f32],
        n: usize,
        rngs: &mut [gta_envs::PolicyRng],
    ) -> Vec<f32> {
        let two_a = *self.actor.sizes.last().expect("sizes");
        let out = self.actor.forward(observations, n);
        out.chunks_exact(two_a)
            .zip(rngs.iter_mut())
            .flat_map(|(row, rng)| {
                sample_action(row, two_a / 2, self.log_std_min, self.log_std_max, rng).0
            })
            .collect()
    }
}
