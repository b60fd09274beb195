//! Helpers shared by the integration tests.
#![allow(dead_code)]

use burn::tensor::Tensor;
use gta_diffusion::TrainData;

/// Path of a file in `../shared/fixtures/official/`.
pub fn fixture(name: &str) -> String {
    format!(
        "{}/../../../shared/fixtures/official/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// Reads every array of an `.npz` as (name, shape, f32 values); integer arrays are skipped.
pub fn read_npz(path: &str) -> Vec<(String, Vec<usize>, Vec<f32>)> {
    let mut npz = npyz::npz::NpzArchive::open(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let names: Vec<String> = npz.array_names().map(str::to_string).collect();
    let mut out = Vec::new();
    for name in names {
        let arr = npz.by_name(&name).unwrap().unwrap();
        let shape: Vec<usize> = arr.shape().iter().map(|&s| s as usize).collect();
        if let Ok(v) = arr.into_vec::<f32>() {
            out.push((name, shape, v));
        }
    }
    out
}

/// ‖a − b‖ / ‖b‖.
pub fn rel_err(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len());
    let num: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| ((*x - *y) as f64).powi(2))
        .sum();
    let den: f64 = b.iter().map(|y| (*y as f64).powi(2)).sum();
    (num / den).sqrt()
}

/// A small synthetic GTA dataset: `episodes` episodes of `len` rows, D = 5 (obs 3, act 1,
/// reward 1), windows of T rows with stride 1. The dynamics are smooth and deterministic so a
/// tiny model can learn them; the condition is a per-window scalar.
pub fn synthetic_data(episodes: usize, len: usize, horizon: usize) -> TrainData {
    let (obs, act, d) = (3usize, 1usize, 5usize);
    let mut rows = Vec::new();
    let mut next_obs = Vec::new();
    let mut starts = Vec::new();
    let mut cond = Vec::new();
    for e in 0..episodes {
        let phase = e as f32 * 0.7;
        let base = rows.len() / d;
        let state = |t: usize| {
            let x = t as f32 * 0.2 + phase;
            [x.sin(), x.cos(), (0.5 * x).sin()]
        };
        for t in 0..len {
            let s = state(t);
            let a = (t as f32 * 0.2 + phase).cos() * 0.8;
            let r = s[0] * 0.5 + a * 0.3;
            rows.extend_from_slice(&[s[0], s[1], s[2], a, r]);
            next_obs.extend_from_slice(&state(t + 1));
        }
        for t0 in 0..=(len - (horizon - 1)) {
            starts.push((base + t0) as u32);
            cond.push(((t0 as f32) * 0.05 + phase).sin() * 0.1);
        }
    }
    TrainData {
        obs_dim: obs,
        act_dim: act,
        horizon,
        transition_dim: d,
        rows,
        next_obs,
        starts,
        cond,
        cond_dim: 1,
        filler: vec![-0.1, 0.2],
    }
}

/// A tensor's values as f32.
pub fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().unwrap()
}

pub fn max_abs(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Checks `a` against the reference `b`: relative error ≤ `tol`; returns it.
pub fn check(what: &str, a: Vec<f32>, b: Vec<f32>, tol: f64) -> f64 {
    assert_eq!(a.len(), b.len(), "{what}: length");
    let rel = rel_err(&a, &b);
    println!("{what}: rel {rel:.3e}, max abs {:.3e}", max_abs(&a, &b));
    assert!(rel <= tol, "{what}: relative error {rel:e} > {tol:e}");
    rel
}
