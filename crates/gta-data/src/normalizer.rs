//! Per-dimension z-score normalizer of the model inputs (method.md §2.3): mean = column mean,
//! std = unbiased (N−1) column std + eps, applied elementwise to whole windows, no clamping.

use serde::{Deserialize, Serialize};

use crate::error::{DataError, Result};

/// The eps added to the std for the diffusion model inputs (method.md §2.3).
pub const MODEL_EPS: f64 = 1e-5;

/// Per-column statistics of a (N, D) matrix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Normalizer {
    /// Column means μ_d.
    pub mean: Vec<f32>,
    /// Column scales σ_d = unbiased std + eps.
    pub std: Vec<f32>,
}

impl Normalizer {
    /// Fits μ and σ = std_{N−1} + `eps` over the rows of `data` (row-major, `dim` columns), in f64.
    /// Needs at least two rows.
    pub fn fit(data: &[f32], dim: usize, eps: f64) -> Result<Normalizer> {
        let n = data.len().checked_div(dim).unwrap_or(0);
        if dim == 0 || n < 2 || data.len() != n * dim {
            return Err(DataError::InvalidOption {
                option: "normalizer".to_string(),
                detail: format!(
                    "needs at least 2 rows of width {dim}, got {} values",
                    data.len()
                ),
            });
        }
        let mut sum = vec![0f64; dim];
        for row in data.chunks_exact(dim) {
            for (s, &x) in sum.iter_mut().zip(row) {
                *s += x as f64;
            }
        }
        let mean: Vec<f64> = sum.iter().map(|s| s / n as f64).collect();
        let mut sq = vec![0f64; dim];
        for row in data.chunks_exact(dim) {
            for ((s, &x), m) in sq.iter_mut().zip(row).zip(&mean) {
                let d = x as f64 - m;
                *s += d * d;
            }
        }
        Ok(Normalizer {
            mean: mean.iter().map(|&m| m as f32).collect(),
            std: sq
                .iter()
                .map(|s| ((s / (n - 1) as f64).sqrt() + eps) as f32)
                .collect(),
        })
    }

    /// Width D.
    pub fn dim(&self) -> usize {
        self.mean.len()
    }

    /// In place: x ← (x − μ) / σ, column by column (`data` is row-major with D columns).
    pub fn normalize(&self, data: &mut [f32]) {
        for row in data.chunks_exact_mut(self.dim()) {
            for ((x, m), s) in row.iter_mut().zip(&self.mean).zip(&self.std) {
                *x = (*x - m) / s;
            }
        }
    }

    /// In place: x ← x·σ + μ (the inverse of [`Normalizer::normalize`]).
    pub fn denormalize(&self, data: &mut [f32]) {
        for row in data.chunks_exact_mut(self.dim()) {
            for ((x, m), s) in row.iter_mut().zip(&self.mean).zip(&self.std) {
                *x = *x * s + m;
            }
        }
    }
}
