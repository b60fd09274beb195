//! Shared test helpers: an independent f64 reimplementation of the networks.

#![allow(dead_code)]

use burn::tensor::{Device, Tensor, TensorData};
use gta_rl::Batch;

/// Row-major f64 matrix.
pub type Mat = Vec<Vec<f64>>;

pub fn mat(t: Tensor<2>) -> Mat {
    let [_, w] = t.dims();
    let v = t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap();
    v.chunks(w)
        .map(|r| r.iter().map(|&x| x as f64).collect())
        .collect()
}

pub fn tensor(rows: &Mat, device: &Device) -> Tensor<2> {
    let (n, w) = (rows.len(), rows[0].len());
    let flat: Vec<f32> = rows.iter().flatten().map(|&x| x as f32).collect();
    Tensor::from_data(TensorData::new(flat, [n, w]), device)
}

/// y = x W + b with W `[in, out]` row-major.
pub fn linear(x: &[f64], w: &[f32], b: &[f32]) -> Vec<f64> {
    let out = b.len();
    let mut y: Vec<f64> = b.iter().map(|&v| v as f64).collect();
    for (i, xi) in x.iter().enumerate() {
        for j in 0..out {
            y[j] += xi * w[i * out + j] as f64;
        }
    }
    y
}

/// ReLU MLP from (weight, bias) pairs, no output activation.
pub fn mlp(x: &[f64], layers: &[(&[f32], &[f32])]) -> Vec<f64> {
    let mut h = x.to_vec();
    for (k, (w, b)) in layers.iter().enumerate() {
        h = linear(&h, w, b);
        if k + 1 < layers.len() {
            h.iter_mut().for_each(|v| *v = v.max(0.0));
        }
    }
    h
}

/// The params of an `Mlp` (visit order weight, bias per layer) as layer pairs.
pub fn mlp_layers(params: &[Vec<f32>]) -> Vec<(&[f32], &[f32])> {
    params
        .chunks(2)
        .map(|p| (p[0].as_slice(), p[1].as_slice()))
        .collect()
}

/// Critic k's layers from `TwinCritic` params (visit order: all weights, then all biases).
pub fn twin_layers(params: &[Vec<f32>], k: usize) -> Vec<(Vec<f32>, Vec<f32>)> {
    let l = params.len() / 2;
    (0..l)
        .map(|i| {
            let (w, b) = (&params[i], &params[l + i]);
            let (wn, bn) = (w.len() / 2, b.len() / 2);
            (
                w[k * wn..(k + 1) * wn].to_vec(),
                b[k * bn..(k + 1) * bn].to_vec(),
            )
        })
        .collect()
}

pub fn q(x: &[f64], layers: &[(Vec<f32>, Vec<f32>)]) -> f64 {
    let refs: Vec<(&[f32], &[f32])> = layers
        .iter()
        .map(|(w, b)| (w.as_slice(), b.as_slice()))
        .collect();
    mlp(x, &refs)[0]
}

pub fn cat(a: &[f64], b: &[f64]) -> Vec<f64> {
    a.iter().chain(b).copied().collect()
}

/// A fixed tiny batch: 3 transitions, obs 3, act 2; the last one terminal.
pub fn tiny_batch(device: &Device) -> (Batch, [Mat; 5]) {
    let obs = vec![
        vec![0.5, -1.0, 0.25],
        vec![-0.3, 0.8, 1.5],
        vec![1.2, 0.1, -0.7],
    ];
    let act = vec![vec![0.3, -0.9], vec![-0.5, 0.2], vec![0.99, 0.0]];
    let rew = vec![vec![1.0], vec![-0.5], vec![2.0]];
    let next = vec![
        vec![0.4, -0.9, 0.3],
        vec![-0.2, 0.7, 1.4],
        vec![1.1, 0.2, -0.6],
    ];
    let done = vec![vec![0.0], vec![0.0], vec![1.0]];
    let batch = Batch {
        observations: tensor(&obs, device),
        actions: tensor(&act, device),
        rewards: tensor(&rew, device),
        next_observations: tensor(&next, device),
        dones: tensor(&done, device),
    };
    (batch, [obs, act, rew, next, done])
}

pub fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol * (1.0 + b.abs())
}
