//! Episodes and the transition views of a dataset (method.md §2.1; envs-and-data.md §4.4, §8):
//! the split rule, the trailing partial episode, next states, and the `qlearning` view.

use serde::{Deserialize, Serialize};

use crate::dataset::{ACTIONS, Dataset, NEXT_OBSERVATIONS, OBSERVATIONS, TERMINALS, TIMEOUTS};
use crate::error::Result;

/// Which flags end an episode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SplitRule {
    /// `terminals[i] || timeouts[i]`: D4RL locomotion (method.md §2.1), the default.
    #[default]
    TerminalsOrTimeouts,
    /// `terminals[i]` only: Adroit human demos, whose timeouts fire mid-demo (envs-and-data.md §8).
    Terminals,
    /// `timeouts[i]` only: maze2d (method.md §2.1).
    Timeouts,
}

/// How a dataset is cut into episodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct EpisodeOptions {
    /// Which flags end an episode (default `terminals | timeouts`).
    pub split: SplitRule,
    /// Keep the rows after the last episode end as a final, incomplete episode (default false:
    /// dropped, as the GTA and DT pipelines do, envs-and-data.md §4.4).
    pub keep_partial: bool,
}

/// One episode as a row range of the dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Episode {
    /// First dataset row.
    pub start: usize,
    /// Number of dataset rows.
    pub len: usize,
    /// Whether the last row has `terminals = 1` (a true termination: the −100 penalty applies).
    pub terminated: bool,
    /// Whether the episode ended by the split rule (false for a kept trailing partial episode).
    pub complete: bool,
}

impl Episode {
    /// The dataset rows of this episode.
    pub fn rows(&self) -> std::ops::Range<usize> {
        self.start..self.start + self.len
    }
}

/// Splits N rows into episodes from the flags (absent timeouts count as all false).
pub fn split_episodes(
    terminals: &[bool],
    timeouts: Option<&[bool]>,
    options: &EpisodeOptions,
) -> Vec<Episode> {
    let n = terminals.len();
    let timeout = |i: usize| timeouts.is_some_and(|t| t[i]);
    let mut episodes = Vec::new();
    let mut start = 0;
    for (i, &terminal) in terminals.iter().enumerate() {
        let end = match options.split {
            SplitRule::TerminalsOrTimeouts => terminal || timeout(i),
            SplitRule::Terminals => terminal,
            SplitRule::Timeouts => timeout(i),
        };
        if end {
            episodes.push(Episode {
                start,
                len: i + 1 - start,
                terminated: terminal,
                complete: true,
            });
            start = i + 1;
        }
    }
    if options.keep_partial && start < n {
        episodes.push(Episode {
            start,
            len: n - start,
            terminated: false,
            complete: false,
        });
    }
    episodes
}

/// The episodes of `dataset` under `options` (checks the layout first).
pub fn episodes(dataset: &Dataset, options: &EpisodeOptions) -> Result<Vec<Episode>> {
    dataset.check_layout()?;
    let terminals = dataset.flags(TERMINALS)?.unwrap_or_default();
    let timeouts = dataset.flags(TIMEOUTS)?;
    Ok(split_episodes(&terminals, timeouts.as_deref(), options))
}

/// The transitions of the kept episodes, as f32 row-major matrices: what windows are cut from.
///
/// Next states come from `next_observations` when present; otherwise next_obs[i] = obs[i+1] inside
/// the episode and each episode's last row is dropped (its next state is unknown, §8).
#[derive(Debug, Clone, PartialEq)]
pub struct Trajectories {
    /// Observation width.
    pub obs_dim: usize,
    /// Action width.
    pub act_dim: usize,
    /// (N, obs_dim) states s_t.
    pub observations: Vec<f32>,
    /// (N, act_dim) actions a_t.
    pub actions: Vec<f32>,
    /// (N,) rewards r_t as stored (no penalty).
    pub rewards: Vec<f32>,
    /// (N, obs_dim) next states s'_t.
    pub next_observations: Vec<f32>,
    /// (N,) `terminals` flags of the kept rows.
    pub terminals: Vec<bool>,
    /// Episodes as ranges of *transition* indices (`start`, `len` count transitions, not dataset
    /// rows); `terminated` tells whether the last kept transition has `terminals = 1`.
    pub episodes: Vec<Episode>,
}

impl Trajectories {
    /// Builds the transition view (checks layout and finiteness first).
    pub fn from_dataset(dataset: &Dataset, options: &EpisodeOptions) -> Result<Trajectories> {
        let (_, obs_dim, act_dim) = dataset.check_layout()?;
        dataset.check_finite()?;
        let (obs, _) = dataset.f32_matrix(OBSERVATIONS)?;
        let (act, _) = dataset.f32_matrix(ACTIONS)?;
        let rew = dataset.rewards_f32()?;
        let term = dataset.flags(TERMINALS)?.unwrap_or_default();
        let next = match dataset.get(NEXT_OBSERVATIONS) {
            Some(_) => Some(dataset.f32_matrix(NEXT_OBSERVATIONS)?.0),
            None => None,
        };
        let mut t = Trajectories {
            obs_dim,
            act_dim,
            observations: Vec::new(),
            actions: Vec::new(),
            rewards: Vec::new(),
            next_observations: Vec::new(),
            terminals: Vec::new(),
            episodes: Vec::new(),
        };
        for ep in episodes(dataset, options)? {
            let kept = if next.is_some() { ep.len } else { ep.len - 1 };
            if kept == 0 {
                continue;
            }
            let start = t.rewards.len();
            for i in ep.start..ep.start + kept {
                t.observations
                    .extend_from_slice(&obs[i * obs_dim..(i + 1) * obs_dim]);
                t.actions
                    .extend_from_slice(&act[i * act_dim..(i + 1) * act_dim]);
                t.rewards.push(rew[i]);
                t.terminals.push(term[i]);
                let src = next.as_deref().unwrap_or(&obs);
                let j = if next.is_some() { i } else { i + 1 };
                t.next_observations
                    .extend_from_slice(&src[j * obs_dim..(j + 1) * obs_dim]);
            }
            // Only a kept terminal transition makes the episode "terminated" (the −100 penalty
            // target); without next_observations the terminal row itself is dropped.
            let terminated = term[ep.start + kept - 1];
            t.episodes.push(Episode {
                start,
                len: kept,
                terminated,
                complete: ep.complete,
            });
        }
        Ok(t)
    }

    /// Number of transitions.
    pub fn len(&self) -> usize {
        self.rewards.len()
    }

    /// Whether there are no transitions.
    pub fn is_empty(&self) -> bool {
        self.rewards.is_empty()
    }
}

/// D4RL's `qlearning_dataset` view (envs-and-data.md §4.4): next_obs = obs[i+1] (or
/// `next_observations[i]` when `use_next_observations` and present), rows with `timeouts[i]` skipped,
/// done = terminals[i]. The dataset's last row is dropped when next_obs comes from obs[i+1].
#[derive(Debug, Clone, PartialEq)]
pub struct QLearning {
    /// (M, obs_dim) states.
    pub observations: Vec<f32>,
    /// (M, act_dim) actions.
    pub actions: Vec<f32>,
    /// (M,) rewards.
    pub rewards: Vec<f32>,
    /// (M, obs_dim) next states.
    pub next_observations: Vec<f32>,
    /// (M,) done flags (= terminals).
    pub dones: Vec<bool>,
    /// Dataset row of each kept transition.
    pub source_rows: Vec<usize>,
}

/// Builds the `qlearning` view of `dataset`.
pub fn qlearning(dataset: &Dataset, use_next_observations: bool) -> Result<QLearning> {
    let (n, obs_dim, act_dim) = dataset.check_layout()?;
    dataset.check_finite()?;
    let (obs, _) = dataset.f32_matrix(OBSERVATIONS)?;
    let (act, _) = dataset.f32_matrix(ACTIONS)?;
    let rew = dataset.rewards_f32()?;
    let term = dataset.flags(TERMINALS)?.unwrap_or_default();
    let timeouts = dataset.flags(TIMEOUTS)?.unwrap_or_else(|| vec![false; n]);
    let next = match dataset.get(NEXT_OBSERVATIONS) {
        Some(_) if use_next_observations => Some(dataset.f32_matrix(NEXT_OBSERVATIONS)?.0),
        _ => None,
    };
    let last = if next.is_some() {
        n
    } else {
        n.saturating_sub(1)
    };
    let mut q = QLearning {
        observations: Vec::new(),
        actions: Vec::new(),
        rewards: Vec::new(),
        next_observations: Vec::new(),
        dones: Vec::new(),
        source_rows: Vec::new(),
    };
    for i in (0..last).filter(|&i| !timeouts[i]) {
        q.observations
            .extend_from_slice(&obs[i * obs_dim..(i + 1) * obs_dim]);
        q.actions
            .extend_from_slice(&act[i * act_dim..(i + 1) * act_dim]);
        q.rewards.push(rew[i]);
        match &next {
            Some(nx) => q
                .next_observations
                .extend_from_slice(&nx[i * obs_dim..(i + 1) * obs_dim]),
            None => q
                .next_observations
                .extend_from_slice(&obs[(i + 1) * obs_dim..(i + 2) * obs_dim]),
        }
        q.dones.push(term[i]);
        q.source_rows.push(i);
    }
    Ok(q)
}
