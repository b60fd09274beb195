//! Source-window samplers (method.md §2.6): unweighted shuffled passes, dense-bin reweighting
//! (paper eq. 16 in the reference's DDOM-derived form) and sparse episode reweighting.

use rand::distr::Distribution;
use rand::distr::weighted::WeightedIndex;
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::{DataError, Result};
use crate::windows::WindowSet;

/// Dense-reward reweighting constants (method.md §2.6, Table 9 in §7.2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DenseReweighting {
    /// N_B, number of equal-width bins of the condition (20, 50 or 100 in Table 9; default 50).
    pub n_bins: usize,
    /// κ, smoothing applied to bin fractions (default 1e-3).
    pub kappa: f64,
    /// τ, temperature of the soft value weight on condition units (default 5.0).
    pub tau: f64,
    /// Per-window weight clip (default 5.0).
    pub clip: f64,
}

impl Default for DenseReweighting {
    fn default() -> Self {
        DenseReweighting {
            n_bins: 50,
            kappa: 1e-3,
            tau: 5.0,
            clip: 5.0,
        }
    }
}

/// Sparse-reward reweighting (method.md §2.6; reference-code-notes.md §8).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SparseReweighting {
    /// λ, weight of episodes with a positive score (default 10).
    pub lambda: f64,
    /// Reproduce the reference's bug: every episode gets weight λ, i.e. uniform over episodes.
    pub sparse_weight_bug: bool,
}

impl Default for SparseReweighting {
    fn default() -> Self {
        SparseReweighting {
            lambda: 10.0,
            sparse_weight_bug: false,
        }
    }
}

/// Which source-window sampler to use.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Reweighting {
    /// Shuffled passes over all windows, without replacement within a pass.
    #[default]
    None,
    /// Dense-bin reweighting of windows by their condition.
    Dense(DenseReweighting),
    /// Episode reweighting by success, then a uniform window inside the episode.
    Sparse(SparseReweighting),
}

/// Per-window dense weights w_j (method.md §2.6 steps 1–6) from the conditions y_j = 0.01·R_j.
pub fn dense_weights(cond: &[f32], cfg: &DenseReweighting) -> Vec<f64> {
    let nb = cfg.n_bins.max(1);
    if cond.is_empty() {
        return Vec::new();
    }
    let y: Vec<f64> = cond.iter().map(|&c| c as f64).collect();
    let (mut lo, mut hi) = y
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        });
    if lo == hi {
        // numpy.histogram widens an empty range to [lo − 0.5, hi + 0.5].
        lo -= 0.5;
        hi += 0.5;
    }
    let edges: Vec<f64> = (0..=nb)
        .map(|b| lo + (hi - lo) * b as f64 / nb as f64)
        .collect();
    // Step 5: bin(j) = min(#{e_1..e_NB <= y_j}, N_B − 1): right-open bins, the last one closed.
    let bin_of = |v: f64| edges[1..].iter().filter(|&&e| e <= v).count().min(nb - 1);
    let bins: Vec<usize> = y.iter().map(|&v| bin_of(v)).collect();
    let mut counts = vec![0f64; nb];
    for &b in &bins {
        counts[b] += 1.0;
    }
    let total: f64 = counts.iter().sum();
    let p: Vec<f64> = counts.iter().map(|c| c / total).collect();
    // Step 3: softmax of the upper edges over τ (shifted by the max for stability; it cancels).
    let top = edges[nb] / cfg.tau;
    let e: Vec<f64> = edges[1..]
        .iter()
        .map(|&u| (u / cfg.tau - top).exp())
        .collect();
    let e_sum: f64 = e.iter().sum();
    // Step 4: q_b = s_b · p_b / (p_b + κ), then q ← q / (Σq + 1e-7).
    let q: Vec<f64> = e
        .iter()
        .zip(&p)
        .map(|(s, &pb)| s / e_sum * pb / (pb + cfg.kappa))
        .collect();
    let q_sum: f64 = q.iter().sum::<f64>() + 1e-7;
    // Step 6: w_j = clip(q_bin / (p_bin + 1e-7), 0, clip).
    bins.iter()
        .map(|&b| (q[b] / q_sum / (p[b] + 1e-7)).clamp(0.0, cfg.clip))
        .collect()
}

/// Per-episode sparse weights (method.md §2.6): 1 for score 0 (no success), λ for score > 0; every
/// episode λ with `sparse_weight_bug`. Episodes without windows get 0.
pub fn sparse_episode_weights(
    scores: &[f64],
    episode_windows: &[u32],
    cfg: &SparseReweighting,
) -> Vec<f64> {
    scores
        .iter()
        .zip(episode_windows)
        .map(|(&s, &n)| match (n, cfg.sparse_weight_bug) {
            (0, _) => 0.0,
            (_, true) => cfg.lambda,
            (_, false) if s > 0.0 => cfg.lambda,
            _ => 1.0,
        })
        .collect()
}

/// Draws source windows pass by pass, with an explicit seed.
pub struct WindowSampler {
    kind: Kind,
    rng: ChaCha8Rng,
}

enum Kind {
    Uniform(Vec<u32>),
    Dense(WeightedIndex<f64>, usize),
    Sparse {
        episodes: WeightedIndex<f64>,
        count: usize,
        first: Vec<u32>,
        windows: Vec<u32>,
    },
}

impl WindowSampler {
    /// A sampler over `set`'s windows; `seed` fixes every draw.
    pub fn new(set: &WindowSet, reweighting: &Reweighting, seed: u64) -> Result<WindowSampler> {
        let empty = || DataError::InvalidOption {
            option: "sampler".to_string(),
            detail: "the dataset has no windows (every episode is shorter than the horizon)"
                .to_string(),
        };
        if set.is_empty() {
            return Err(empty());
        }
        let kind = match reweighting {
            Reweighting::None => Kind::Uniform((0..set.len() as u32).collect()),
            Reweighting::Dense(cfg) => {
                let w = dense_weights(&set.cond, cfg);
                Kind::Dense(WeightedIndex::new(&w).map_err(|_| empty())?, w.len())
            }
            Reweighting::Sparse(cfg) => {
                let w = sparse_episode_weights(&set.episode_score, &set.episode_windows, cfg);
                let count = set.episode_windows.iter().filter(|&&n| n > 0).count();
                Kind::Sparse {
                    episodes: WeightedIndex::new(&w).map_err(|_| empty())?,
                    count,
                    first: set.episode_first_window.clone(),
                    windows: set.episode_windows.clone(),
                }
            }
        };
        Ok(WindowSampler {
            kind,
            rng: ChaCha8Rng::seed_from_u64(seed),
        })
    }

    /// The window ids of the next pass: a permutation of all windows (unweighted), #windows
    /// weighted draws with replacement (dense), or #episodes episode draws with a uniform window
    /// in each (sparse).
    pub fn next_pass(&mut self) -> Vec<u32> {
        match &mut self.kind {
            Kind::Uniform(ids) => {
                ids.shuffle(&mut self.rng);
                ids.clone()
            }
            Kind::Dense(dist, n) => (0..*n).map(|_| dist.sample(&mut self.rng) as u32).collect(),
            Kind::Sparse {
                episodes,
                count,
                first,
                windows,
            } => (0..*count)
                .map(|_| {
                    let e = episodes.sample(&mut self.rng);
                    first[e] + self.rng.random_range(0..windows[e])
                })
                .collect(),
        }
    }
}
