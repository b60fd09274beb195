//! Windows of T = H + 1 rows and their return conditions (method.md §2.2–2.5), in a compact,
//! gather-friendly form: one (N, D) row matrix `[s | a | r]` and a start index per window.

use serde::{Deserialize, Serialize};

use crate::episodes::Trajectories;
use crate::error::{DataError, Result};
use crate::normalizer::{MODEL_EPS, Normalizer};

/// How windows and conditions are made (method.md §2.2–2.5; paper-faithful defaults).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct WindowOptions {
    /// T: rows per window = transitions per window + 1 next-state row (default 32; any T ≥ 2).
    pub horizon: usize,
    /// γ of the discounted return-to-go condition (default 0.99, §2.5).
    pub gamma: f64,
    /// c_scale: condition c = reward_scale · R (default 0.01, §2.5).
    pub reward_scale: f64,
    /// Subtract `penalty` from the last reward of terminated episodes (default true; off for maze
    /// and Adroit, §2.4 and envs-and-data.md §8).
    pub terminal_penalty: bool,
    /// P, the terminal penalty (default 100, §2.4).
    pub penalty: f32,
    /// eps added to the unbiased std of the normalizer (default 1e-5, §2.3).
    pub eps: f64,
}

impl Default for WindowOptions {
    fn default() -> Self {
        WindowOptions {
            horizon: 32,
            gamma: 0.99,
            reward_scale: 0.01,
            terminal_penalty: true,
            penalty: 100.0,
            eps: MODEL_EPS,
        }
    }
}

/// All windows of a dataset. Window j's rows 0..T−2 are `rows[starts[j] .. starts[j] + T − 1]`;
/// row T−1 is `[next_obs[starts[j] + T − 2], 0_act, 0_rew]` (method.md §2.2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowSet {
    /// Observation width.
    pub obs_dim: usize,
    /// Action width.
    pub act_dim: usize,
    /// T, rows per window.
    pub horizon: usize,
    /// (N, D) rows `[s | a | r]` of all transitions, D = obs_dim + act_dim + 1, penalty applied.
    pub rows: Vec<f32>,
    /// (N, obs_dim) next states.
    pub next_obs: Vec<f32>,
    /// (N,) terminal flags of the rows (generated windows copy their source window's flags, §2.4).
    pub row_terminals: Vec<bool>,
    /// Global row index of each window's row 0.
    pub starts: Vec<u32>,
    /// Condition c = reward_scale · G_{t0} per window (§2.5).
    pub cond: Vec<f32>,
    /// Source episode index of each window.
    pub episode: Vec<u32>,
    /// Start t0 of each window inside its episode.
    pub t0: Vec<u32>,
    /// Undiscounted return-to-go from t0, before the penalty (for DT, §2.2).
    pub rtg_undiscounted: Vec<f32>,
    /// First window id of each episode (windows of an episode are contiguous).
    pub episode_first_window: Vec<u32>,
    /// Number of windows of each episode (0 for episodes shorter than T − 1 transitions).
    pub episode_windows: Vec<u32>,
    /// Discounted return G_0 of each episode without penalty (the sparse-reweighting score, §2.6).
    pub episode_score: Vec<f64>,
    /// Normalizer over the raw rows (all transitions, no penalty, §2.3).
    pub normalizer: Normalizer,
}

impl WindowSet {
    /// Cuts every window (stride 1, never across episodes; episodes with fewer than T − 1
    /// transitions give none) and computes conditions and the normalizer.
    pub fn build(traj: &Trajectories, options: &WindowOptions) -> Result<WindowSet> {
        let horizon = options.horizon;
        if horizon < 2 {
            return Err(DataError::InvalidOption {
                option: "horizon".to_string(),
                detail: format!(
                    "is {horizon}, expected T >= 2 (T − 1 transitions + a next-state row)"
                ),
            });
        }
        let (obs_dim, act_dim) = (traj.obs_dim, traj.act_dim);
        let d = obs_dim + act_dim + 1;
        let n = traj.len();
        let mut rows = Vec::with_capacity(n * d);
        for i in 0..n {
            rows.extend_from_slice(&traj.observations[i * obs_dim..(i + 1) * obs_dim]);
            rows.extend_from_slice(&traj.actions[i * act_dim..(i + 1) * act_dim]);
            rows.push(traj.rewards[i]);
        }
        let normalizer = Normalizer::fit(&rows, d, options.eps)?;
        let l = horizon - 1;
        let mut set = WindowSet {
            obs_dim,
            act_dim,
            horizon,
            rows,
            next_obs: traj.next_observations.clone(),
            row_terminals: traj.terminals.clone(),
            starts: Vec::new(),
            cond: Vec::new(),
            episode: Vec::new(),
            t0: Vec::new(),
            rtg_undiscounted: Vec::new(),
            episode_first_window: Vec::new(),
            episode_windows: Vec::new(),
            episode_score: Vec::new(),
            normalizer,
        };
        for (e, ep) in traj.episodes.iter().enumerate() {
            let raw: Vec<f64> = traj.rewards[ep.start..ep.start + ep.len]
                .iter()
                .map(|&r| r as f64)
                .collect();
            let mut penalized = raw.clone();
            if options.terminal_penalty
                && ep.terminated
                && let Some(last) = penalized.last_mut()
            {
                *last -= options.penalty as f64;
                set.rows[(ep.start + ep.len - 1) * d + d - 1] -= options.penalty;
            }
            let discounted = reward_to_go(&penalized, options.gamma);
            let undiscounted = reward_to_go(&raw, 1.0);
            set.episode_score.push(
                reward_to_go(&raw, options.gamma)
                    .first()
                    .copied()
                    .unwrap_or(0.0),
            );
            set.episode_first_window.push(set.starts.len() as u32);
            let count = if ep.len >= l { ep.len - l + 1 } else { 0 };
            set.episode_windows.push(count as u32);
            for t0 in 0..count {
                set.starts.push((ep.start + t0) as u32);
                set.cond
                    .push((options.reward_scale * discounted[t0]) as f32);
                set.episode.push(e as u32);
                set.t0.push(t0 as u32);
                set.rtg_undiscounted.push(undiscounted[t0] as f32);
            }
        }
        Ok(set)
    }

    /// D = obs_dim + act_dim + 1.
    pub fn row_dim(&self) -> usize {
        self.obs_dim + self.act_dim + 1
    }

    /// Number of windows.
    pub fn len(&self) -> usize {
        self.starts.len()
    }

    /// Whether there are no windows.
    pub fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }

    /// The raw (un-normalized, penalty applied) (T, D) window `id`, appended to `out`.
    pub fn window_raw_into(&self, id: usize, out: &mut Vec<f32>) {
        let d = self.row_dim();
        let s = self.starts[id] as usize;
        let l = self.horizon - 1;
        out.extend_from_slice(&self.rows[s * d..(s + l) * d]);
        let last = s + l - 1;
        out.extend_from_slice(&self.next_obs[last * self.obs_dim..(last + 1) * self.obs_dim]);
        out.extend(std::iter::repeat_n(0.0, self.act_dim + 1));
    }

    /// The normalized (B, T, D) windows `ids`, row-major, on the CPU (method.md §2.3: row T−1's
    /// zero fillers are normalized too).
    pub fn materialize(&self, ids: &[u32]) -> Vec<f32> {
        let mut out = Vec::with_capacity(ids.len() * self.horizon * self.row_dim());
        for &id in ids {
            self.window_raw_into(id as usize, &mut out);
        }
        self.normalizer.normalize(&mut out);
        out
    }
}

/// G_t = Σ_{k=t}^{n−1} γ^{k−t} r_k for every t (method.md §2.5), in f64.
pub fn reward_to_go(rewards: &[f64], gamma: f64) -> Vec<f64> {
    let mut g = vec![0.0; rewards.len()];
    let mut acc = 0.0;
    for (t, &r) in rewards.iter().enumerate().rev() {
        acc = r + gamma * acc;
        g[t] = acc;
    }
    g
}
