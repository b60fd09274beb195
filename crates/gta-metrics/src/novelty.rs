//! Novelty (paper eq. 18; method.md §10): the mean over generated points of the L2 distance to the
//! nearest original point, over the **whole** original set, with aligned features [s | a].
//!
//! Exact brute force, parallel over generated points. It is O(N_gen · N_orig · dim): fine for the
//! sizes CPU runs use; the paper-scale 1M × 1M search belongs on the GPU (a later, batched-matmul
//! implementation). A k-d tree does not help much at 17–23 dimensions, so none is used.

use rayon::prelude::*;

/// Mean over the rows of `generated` (width `dim`) of the distance to the nearest row of `original`.
pub fn mean_nn_distance(generated: &[f32], original: &[f32], dim: usize) -> f64 {
    let n = generated.len() / dim;
    if n == 0 || original.is_empty() {
        return f64::NAN;
    }
    let total: f64 = generated
        .par_chunks(dim)
        .map(|g| {
            original
                .chunks_exact(dim)
                .map(|o| g.iter().zip(o).map(|(a, b)| (a - b) * (a - b)).sum::<f32>())
                .fold(f32::INFINITY, f32::min)
                .sqrt() as f64
        })
        .sum();
    total / n as f64
}

/// Columns `[from, from + width)` of a row-major matrix with `cols` columns, or the
/// concatenation [s | a] when given two matrices.
fn columns(a: &[f32], a_dim: usize, b: Option<(&[f32], usize)>) -> (Vec<f32>, usize) {
    match b {
        None => (a.to_vec(), a_dim),
        Some((b, b_dim)) => {
            let n = a.len() / a_dim;
            let mut out = Vec::with_capacity(n * (a_dim + b_dim));
            for i in 0..n {
                out.extend_from_slice(&a[i * a_dim..(i + 1) * a_dim]);
                out.extend_from_slice(&b[i * b_dim..(i + 1) * b_dim]);
            }
            (out, a_dim + b_dim)
        }
    }
}

/// (state, action, state-action) novelty of generated (s, a) against original (s, a).
pub fn novelty(
    gen_obs: &[f32],
    gen_act: &[f32],
    orig_obs: &[f32],
    orig_act: &[f32],
    obs_dim: usize,
    act_dim: usize,
) -> (f64, f64, f64) {
    let s = mean_nn_distance(gen_obs, orig_obs, obs_dim);
    let a = mean_nn_distance(gen_act, orig_act, act_dim);
    let (g, d) = columns(gen_obs, obs_dim, Some((gen_act, act_dim)));
    let (o, _) = columns(orig_obs, obs_dim, Some((orig_act, act_dim)));
    (s, a, mean_nn_distance(&g, &o, d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_neighbour_distances_by_hand() {
        let original = [0.0, 0.0, 3.0, 4.0, 10.0, 0.0];
        // (1, 0) → nearest (0, 0) at 1; (3, 5) → (3, 4) at 1; (7, 0) → (10, 0) at 3.
        let generated = [1.0, 0.0, 3.0, 5.0, 7.0, 0.0];
        assert!((mean_nn_distance(&generated, &original, 2) - 5.0 / 3.0).abs() < 1e-6);
        assert_eq!(mean_nn_distance(&original, &original, 2), 0.0);
    }

    #[test]
    fn state_action_features_are_aligned() {
        // One original transition s = (0, 0), a = (1); generated s = (0, 0), a = (3).
        let (s, a, sa) = novelty(&[0.0, 0.0], &[3.0], &[0.0, 0.0], &[1.0], 2, 1);
        assert_eq!((s, a, sa), (0.0, 2.0, 2.0));
    }
}
