//! Decision Transformer (issue 7; method.md §9.3): the GPT forward and the masked loss against
//! an independent f64 implementation, the causal and padding masks, return-to-go construction
//! for original episodes and generated windows (E.4), segment sampling, and exact resume.

use std::path::PathBuf;

use burn::module::Module;
use burn::tensor::{Device, Int, Tensor, TensorData};
use gta_data::{Array, ArrayData, Dataset, EpisodeOptions, Trajectories};
use gta_rl::dt::{self, DtInput, DtModel, action_loss};
use gta_rl::dt_data::{
    DtTrajectory, generated_returns_to_go, generated_trajectories, returns_to_go,
};
use gta_rl::{Algo, DtConfig, DtData, DtTrainer, RlConfig};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

const S: usize = 3;
const A: usize = 2;

fn tiny_config() -> DtConfig {
    DtConfig {
        embedding_dim: 8,
        n_layers: 2,
        n_heads: 2,
        seq_len: 4,
        episode_len: 10,
        ..DtConfig::default()
    }
}

fn host(t: Tensor<2>) -> Vec<f64> {
    t.into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .unwrap()
        .into_iter()
        .map(|v| v as f64)
        .collect()
}

fn host1(t: Tensor<1>) -> Vec<f64> {
    host(t.unsqueeze_dim::<2>(0))
}

fn host3(t: Tensor<3>) -> Vec<f64> {
    let [a, b, c] = t.dims();
    host(t.reshape([a * b, c]))
}

/// A random `(B, K)` input on the host: states, actions, scaled RTG, timesteps, mask.
#[derive(Clone)]
struct HostInput {
    b: usize,
    k: usize,
    states: Vec<f32>,
    actions: Vec<f32>,
    rtg: Vec<f32>,
    timesteps: Vec<i64>,
    mask: Option<Vec<f32>>,
}

impl HostInput {
    fn random(b: usize, k: usize, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut v =
            |n: usize| -> Vec<f32> { (0..n).map(|_| rng.random_range(-1.0..1.0)).collect() };
        Self {
            b,
            k,
            states: v(b * k * S),
            actions: v(b * k * A),
            rtg: v(b * k),
            timesteps: (0..b * k).map(|i| (i % k + 2 * (i / k)) as i64).collect(),
            mask: None,
        }
    }

    fn device(&self, device: &Device) -> DtInput {
        let (b, k) = (self.b, self.k);
        DtInput {
            states: Tensor::from_data(TensorData::new(self.states.clone(), [b, k, S]), device),
            actions: Tensor::from_data(TensorData::new(self.actions.clone(), [b, k, A]), device),
            returns_to_go: Tensor::from_data(TensorData::new(self.rtg.clone(), [b, k, 1]), device),
            timesteps: Tensor::<2, Int>::from_data(
                TensorData::new(self.timesteps.clone(), [b, k]),
                device,
            ),
            mask: self
                .mask
                .as_ref()
                .map(|m| Tensor::from_data(TensorData::new(m.clone(), [b, k]), device)),
        }
    }
}

/// Host copy of one Linear: weight `[in, out]` row-major, bias.
struct Lin {
    w: Vec<f64>,
    b: Vec<f64>,
}

impl Lin {
    fn of(l: &burn::nn::Linear) -> Self {
        Lin {
            w: host(l.weight.val()),
            b: host1(l.bias.as_ref().unwrap().val()),
        }
    }
    fn apply(&self, x: &[f64]) -> Vec<f64> {
        let out = self.b.len();
        let mut y = self.b.clone();
        for (xi, row) in x.iter().zip(self.w.chunks_exact(out)) {
            for (yj, wij) in y.iter_mut().zip(row) {
                *yj += xi * wij;
            }
        }
        y
    }
}

struct Ln {
    g: Vec<f64>,
    b: Vec<f64>,
}

impl Ln {
    fn of(l: &burn::nn::LayerNorm) -> Self {
        Ln {
            g: host1(l.gamma.val()),
            b: host1(l.beta.as_ref().unwrap().val()),
        }
    }
    fn apply(&self, x: &[f64]) -> Vec<f64> {
        let n = x.len() as f64;
        let mean = x.iter().sum::<f64>() / n;
        let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
        x.iter()
            .enumerate()
            .map(|(i, v)| (v - mean) / (var + 1e-5).sqrt() * self.g[i] + self.b[i])
            .collect()
    }
}

/// erf with |error| < 1.5e-7 (Abramowitz & Stegun 7.1.26).
fn erf(x: f64) -> f64 {
    let t = 1.0 / (1.0 + 0.3275911 * x.abs());
    let y = 1.0
        - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t
            + 0.254829592)
            * t
            * (-x * x).exp();
    y.copysign(x)
}

/// The whole GPT forward written out in f64 from the model's parameters: token embeddings,
/// interleaving (R, s, a), pre-LN blocks with causal + key-padding masked multi-head softmax
/// attention and an exact-GELU MLP, final LN, tanh head on the state tokens. `(B, K, A)`.
fn host_forward(model: &DtModel, x: &HostInput, heads: usize) -> Vec<f64> {
    let time = host(model.timestep_emb.weight.val());
    let e = model.emb_norm.gamma.dims()[0];
    let (se, ae, re) = (
        Lin::of(&model.state_emb),
        Lin::of(&model.action_emb),
        Lin::of(&model.return_emb),
    );
    let (k, t, dh) = (x.k, 3 * x.k, e / heads);
    let mut out = Vec::new();
    for b in 0..x.b {
        let mut h: Vec<Vec<f64>> = Vec::new();
        for j in 0..k {
            let ts = x.timesteps[b * k + j] as usize;
            let te = &time[ts * e..(ts + 1) * e];
            let add = |v: Vec<f64>| v.iter().zip(te).map(|(a, b)| a + b).collect::<Vec<_>>();
            let f = |v: &[f32]| v.iter().map(|&y| y as f64).collect::<Vec<_>>();
            h.push(add(re.apply(&[x.rtg[b * k + j] as f64])));
            h.push(add(
                se.apply(&f(&x.states[(b * k + j) * S..(b * k + j + 1) * S]))
            ));
            h.push(add(
                ae.apply(&f(&x.actions[(b * k + j) * A..(b * k + j + 1) * A]))
            ));
        }
        let valid = |tok: usize| x.mask.as_ref().is_none_or(|m| m[b * k + tok / 3] > 0.5);
        let ln0 = Ln::of(&model.emb_norm);
        let mut h: Vec<Vec<f64>> = h.iter().map(|v| ln0.apply(v)).collect();
        for blk in &model.blocks {
            let n1 = Ln::of(&blk.norm1);
            let qkv = Lin::of(&blk.qkv);
            let proj = Lin::of(&blk.proj);
            let rows: Vec<Vec<f64>> = h.iter().map(|v| qkv.apply(&n1.apply(v))).collect();
            let mut att = vec![vec![0.0; e]; t];
            for hd in 0..heads {
                for i in 0..t {
                    let q = &rows[i][hd * dh..(hd + 1) * dh];
                    let keys: Vec<usize> = (0..=i).filter(|&j| valid(j)).collect();
                    let sc: Vec<f64> = keys
                        .iter()
                        .map(|&j| {
                            let kk = &rows[j][e + hd * dh..e + (hd + 1) * dh];
                            q.iter().zip(kk).map(|(a, b)| a * b).sum::<f64>() / (dh as f64).sqrt()
                        })
                        .collect();
                    let m = sc.iter().cloned().fold(f64::MIN, f64::max);
                    let z: f64 = sc.iter().map(|s| (s - m).exp()).sum();
                    for (&j, s) in keys.iter().zip(&sc) {
                        let w = (s - m).exp() / z;
                        for c in 0..dh {
                            att[i][hd * dh + c] += w * rows[j][2 * e + hd * dh + c];
                        }
                    }
                }
            }
            for i in 0..t {
                let p = proj.apply(&att[i]);
                h[i].iter_mut().zip(&p).for_each(|(a, b)| *a += b);
            }
            let (n2, fc1, fc2) = (Ln::of(&blk.norm2), Lin::of(&blk.fc1), Lin::of(&blk.fc2));
            for row in h.iter_mut() {
                let g: Vec<f64> = fc1
                    .apply(&n2.apply(row))
                    .iter()
                    .map(|&v| 0.5 * v * (1.0 + erf(v / 2f64.sqrt())))
                    .collect();
                let m = fc2.apply(&g);
                row.iter_mut().zip(&m).for_each(|(a, b)| *a += b);
            }
        }
        let (lo, head) = (Ln::of(&model.out_norm), Lin::of(&model.action_head));
        for j in 0..k {
            out.extend(
                head.apply(&lo.apply(&h[3 * j + 1]))
                    .iter()
                    .map(|v| v.tanh()),
            );
        }
    }
    out
}

fn model(config: &DtConfig, seed: u64, device: &Device) -> DtModel {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    DtModel::new(config, S, A, &mut rng, device)
}

fn close(a: &[f64], b: &[f64], tol: f64, what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!((x - y).abs() <= tol, "{what}[{i}]: {x} vs {y}");
    }
}

#[test]
fn forward_and_masked_loss_match_an_independent_f64_implementation() {
    let device = Device::flex();
    let c = tiny_config();
    // CORL init has zero biases and tiny weights; perturbed weights make every term (biases,
    // LayerNorm affine, attention) visible in the output.
    let m = model(&c, 1, &device);
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let m = m.map(&mut Perturb(&mut rng));
    let mut x = HostInput::random(3, c.seq_len, 7);
    x.mask = Some(vec![1., 1., 1., 1., 1., 1., 0., 0., 1., 0., 0., 0.]);
    let pred = m.forward(x.device(&device), c.n_heads, 1.0, None);
    let want = host_forward(&m, &x, c.n_heads);
    let got = host3(pred.clone());
    close(&got, &want, 2e-5, "predicted actions");
    assert!(got.iter().any(|v| v.abs() > 0.05), "non-trivial outputs");

    // The loss: mean over all B·K·A entries of mask·(â − a)², in f64 from the f64 forward.
    let target = HostInput::random(3, c.seq_len, 8).actions;
    let mask = x.mask.clone().unwrap();
    let mut sum = 0.0;
    for (i, (p, a)) in want.iter().zip(&target).enumerate() {
        sum += mask[i / A] as f64 * (p - *a as f64).powi(2);
    }
    let expected = sum / want.len() as f64;
    let loss = action_loss(
        pred,
        Tensor::from_data(TensorData::new(target, [3, c.seq_len, A]), &device),
        Tensor::from_data(TensorData::new(mask, [3, c.seq_len]), &device),
    );
    let loss = host1(loss)[0];
    assert!(
        (loss - expected).abs() < 1e-6,
        "loss {loss} vs f64 {expected}"
    );
}

/// Multiplies every parameter by a random factor in [0.5, 1.5) and adds U(−0.2, 0.2): every
/// term becomes visible while attention stays soft (large weights make it a hard max, under
/// which a leaking mask can go unnoticed).
struct Perturb<'a>(&'a mut ChaCha8Rng);

impl burn::module::ModuleMapper for Perturb<'_> {
    fn map_float<const D: usize>(
        &mut self,
        param: burn::module::Param<Tensor<D>>,
    ) -> burn::module::Param<Tensor<D>> {
        let scale = self.0.random_range(0.5..1.5);
        let seed = self.0.random::<u64>();
        param.map(|t| {
            let shape = t.shape();
            let n = shape.num_elements();
            let mut r = ChaCha8Rng::seed_from_u64(seed);
            let noise: Vec<f32> = (0..n).map(|_| r.random_range(-0.2..0.2)).collect();
            let dims: [usize; D] = t.dims();
            let device = t.device();
            t.mul_scalar(scale) + Tensor::from_data(TensorData::new(noise, dims), &device)
        })
    }
}

#[test]
fn causal_mask_future_tokens_do_not_change_earlier_predictions() {
    let device = Device::flex();
    let c = tiny_config();
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let m = model(&c, 4, &device).map(&mut Perturb(&mut rng));
    let x = HostInput::random(2, c.seq_len, 9);
    let base = host3(m.forward(x.device(&device), c.n_heads, 1.0, None));
    let j = 1; // change a_1, then (R_2, s_2): predictions of a_0 and a_1 must not move.
    let mut y = x.clone();
    for b in 0..2 {
        for d in 0..A {
            y.actions[(b * c.seq_len + j) * A + d] += 3.0;
        }
        y.rtg[b * c.seq_len + j + 1] -= 2.0;
        y.states[(b * c.seq_len + j + 1) * S] += 5.0;
    }
    let moved = host3(m.forward(y.device(&device), c.n_heads, 1.0, None));
    for b in 0..2 {
        for step in 0..c.seq_len {
            let r = (b * c.seq_len + step) * A..(b * c.seq_len + step + 1) * A;
            let diff: f64 = base[r.clone()]
                .iter()
                .zip(&moved[r])
                .map(|(p, q)| (p - q).abs())
                .sum();
            if step <= j {
                assert!(diff < 1e-6, "sample {b} step {step} saw the future: {diff}");
            } else {
                assert!(
                    diff > 1e-4,
                    "sample {b} step {step} ignores its past: {diff}"
                );
            }
        }
    }
}

#[test]
fn padded_positions_neither_affect_valid_predictions_nor_the_loss() {
    let device = Device::flex();
    let c = tiny_config();
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let m = model(&c, 6, &device).map(&mut Perturb(&mut rng));
    let mut x = HostInput::random(2, c.seq_len, 11);
    x.mask = Some(vec![1., 1., 0., 0., 1., 1., 1., 0.]);
    let mut y = x.clone();
    // Garbage in every padded step of y (states, actions, RTG).
    for (i, &mk) in x.mask.as_ref().unwrap().iter().enumerate() {
        if mk == 0.0 {
            y.states[i * S..(i + 1) * S].fill(50.0);
            y.actions[i * A..(i + 1) * A].fill(-0.9);
            y.rtg[i] = 30.0;
        }
    }
    let loss = |inp: &HostInput| {
        let pred = m.forward(inp.device(&device), c.n_heads, 1.0, None);
        let valid = host3(pred.clone());
        let l = action_loss(
            pred,
            inp.device(&device).actions,
            inp.device(&device).mask.unwrap(),
        );
        (valid, host1(l)[0])
    };
    let (px, lx) = loss(&x);
    let (py, ly) = loss(&y);
    let mask = x.mask.unwrap();
    let mut sum = 0.0;
    for i in 0..px.len() {
        if mask[i / A] > 0.0 {
            assert!((px[i] - py[i]).abs() < 1e-6, "valid prediction {i} moved");
            sum += (px[i] - x.actions[i] as f64).powi(2);
        }
    }
    let expected = sum / px.len() as f64;
    assert!(
        (lx - expected).abs() < 1e-6,
        "loss {lx} vs masked MSE {expected}"
    );
    assert!(
        (lx - ly).abs() < 1e-6,
        "padding changed the loss: {lx} vs {ly}"
    );
}

#[test]
fn returns_to_go_of_episodes_and_generated_windows_by_hand() {
    let rtg = returns_to_go(&[1.0, 2.0, 3.0, -0.5]);
    assert_eq!(rtg, vec![5.5, 4.5, 2.5, -0.5]);
    // Generated: R_0 given, then minus the generated rewards.
    let g = generated_returns_to_go(10.0, &[1.0, 2.5, -1.0]);
    assert_eq!(g, vec![10.0, 9.0, 6.5]);
}

fn f32s(v: Vec<f32>, shape: Vec<usize>) -> Array {
    Array::new(shape, ArrayData::F32(v))
}

fn u32s(v: Vec<u32>) -> Array {
    let n = v.len();
    Array::new(vec![n], ArrayData::U32(v))
}

/// Original: 2 episodes (3 steps ending in a timeout, 4 steps ending in a terminal), obs 1,
/// act 1, rewards 1..7 (row i has reward i+1).
fn original() -> Dataset {
    let mut ds = Dataset::new(PathBuf::from("orig.hdf5"));
    let n = 7;
    ds.insert(
        "observations",
        f32s((0..n).map(|i| i as f32).collect(), vec![n, 1]),
    );
    ds.insert(
        "next_observations",
        f32s((1..=n).map(|i| i as f32).collect(), vec![n, 1]),
    );
    ds.insert("actions", f32s(vec![0.1; n], vec![n, 1]));
    ds.insert(
        "rewards",
        f32s((1..=n).map(|i| i as f32).collect(), vec![n]),
    );
    let flag = |set: &[usize]| {
        Array::new(
            vec![n],
            ArrayData::Bool((0..n).map(|i| set.contains(&i)).collect()),
        )
    };
    ds.insert("terminals", flag(&[6]));
    ds.insert("timeouts", flag(&[2]));
    ds
}

#[test]
fn generated_windows_start_from_the_source_rtg_and_subtract_generated_rewards() {
    let orig = original();
    // Two windows of 2 steps (interleaved in the file) plus one original row in front
    // (window_id = u32::MAX, skipped): window 0 from episode 1 at t0 = 1, window 1 from
    // episode 0 at t0 = 0.
    let mut aug = Dataset::new(PathBuf::from("gen.hdf5"));
    let n = 5;
    aug.insert(
        "observations",
        f32s(vec![9., 10., 11., 20., 21.], vec![n, 1]),
    );
    aug.insert("next_observations", f32s(vec![0.; 5], vec![n, 1]));
    aug.insert("actions", f32s(vec![0.5, 0.1, 0.2, 0.3, 0.4], vec![n, 1]));
    aug.insert("rewards", f32s(vec![99., 0.5, 1.5, 2.0, 4.0], vec![n]));
    aug.insert(
        "terminals",
        Array::new(vec![n], ArrayData::Bool(vec![false; n])),
    );
    aug.insert(
        "timeouts",
        Array::new(vec![n], ArrayData::Bool(vec![false; n])),
    );
    aug.insert("window_id", u32s(vec![u32::MAX, 0, 0, 1, 1]));
    aug.insert("step_in_window", u32s(vec![u32::MAX, 0, 1, 0, 1]));
    aug.insert("windows/source_episode", u32s(vec![1, 0]));
    aug.insert("windows/source_t0", u32s(vec![1, 0]));
    let source = Trajectories::from_dataset(&orig, &EpisodeOptions::default()).unwrap();
    let g = generated_trajectories(&aug, &source, None).unwrap();
    assert_eq!(g.len(), 2);
    // Episode 1 = rows 3..7, rewards 4, 5, 6, 7; undiscounted RTG at t0 = 1: 5 + 6 + 7 = 18.
    assert_eq!(g[0].returns_to_go, vec![18.0, 17.5]);
    assert_eq!(g[0].observations, vec![10.0, 11.0]);
    assert_eq!(g[0].actions, vec![0.1, 0.2]);
    assert_eq!(g[0].first_timestep, 1);
    // Episode 0 = rows 0..3, rewards 1, 2, 3: RTG_0 = 6, then 6 − 2.0.
    assert_eq!(g[1].returns_to_go, vec![6.0, 4.0]);
    assert_eq!(g[1].first_timestep, 0);
    // The older loader's α: only R_0 is multiplied; later steps subtract the same rewards.
    let amp = generated_trajectories(&aug, &source, Some(1.5)).unwrap();
    assert_eq!(amp[0].returns_to_go, vec![27.0, 26.5]);

    // The union: original episodes (RTG to the end, undiscounted) then the windows.
    let c = DtConfig::default();
    let data = DtData::from_datasets(&orig, Some(&aug), &c).unwrap();
    assert_eq!(
        (data.spans.len(), data.original_trajectories, data.len()),
        (4, 2, 11)
    );
    assert_eq!(data.trajectory_returns_to_go(0), &[6.0, 5.0, 3.0]);
    assert_eq!(data.trajectory_returns_to_go(1), &[22.0, 18.0, 13.0, 7.0]);
    assert_eq!(data.trajectory_returns_to_go(3), &[6.0, 4.0]);

    // A window whose steps are out of order is refused with the key named.
    let mut bad = aug.clone();
    bad.insert("step_in_window", u32s(vec![u32::MAX, 1, 0, 0, 1]));
    let err = generated_trajectories(&bad, &source, None)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("step_in_window") && err.contains("gen.hdf5"),
        "{err}"
    );
    // Data without windows (e.g. SynthER output) is refused, naming the missing key.
    let mut plain = aug.clone();
    plain.arrays.remove("window_id");
    let err = DtData::from_datasets(&orig, Some(&plain), &c)
        .unwrap_err()
        .to_string();
    assert!(err.contains("window_id"), "{err}");
}

#[test]
fn segments_pad_at_the_end_and_sampling_follows_trajectory_length() {
    let traj = |len: usize, first: usize| DtTrajectory {
        observations: (0..len).map(|i| i as f32).collect(),
        actions: (0..len).map(|i| 0.1 * i as f32).collect(),
        returns_to_go: (0..len).map(|i| (100 - i) as f64).collect(),
        first_timestep: first,
    };
    let data = DtData::new(vec![traj(3, 0), traj(9, 5)], 1, 1, 1, 1e-6).unwrap();
    let seg = data.segments(&[(0, 1), (1, 2)], 4, 0.01, 12);
    // Trajectory 0 from step 1: 2 real steps, 2 padded at the end.
    assert_eq!(&seg.mask[..4], &[1.0, 1.0, 0.0, 0.0]);
    assert_eq!(&seg.returns_to_go[..4], &[0.99, 0.98, 0.0, 0.0]);
    assert_eq!(&seg.actions[..4], &[0.1, 0.2, 0.0, 0.0]);
    assert_eq!(
        &seg.timesteps[..4],
        &[1, 2, 3, 4],
        "padding keeps counting, as CORL"
    );
    let norm = |v: f32| (v - data.normalizer.mean[0]) / data.normalizer.std[0];
    assert!((seg.states[0] - norm(1.0)).abs() < 1e-6 && seg.states[2] == 0.0);
    // Trajectory 1 from step 2: timesteps 5 + 2 + k, clamped to 12.
    assert_eq!(&seg.mask[4..], &[1.0; 4]);
    assert_eq!(&seg.timesteps[4..], &[7, 8, 9, 10]);
    let clamped = data.segments(&[(1, 8)], 4, 1.0, 12);
    assert_eq!(clamped.timesteps, vec![12, 12, 12, 12]);
    assert_eq!(clamped.mask, vec![1.0, 0.0, 0.0, 0.0]);

    // Trajectory 1 holds 9 of the 12 steps: drawn 75 % of the time (±4σ over 4000 draws).
    let picks = data.sample(3, 4000);
    assert_eq!(picks, data.sample(3, 4000), "seeded");
    let long = picks.iter().filter(|p| p.0 == 1).count() as f64 / 4000.0;
    assert!((long - 0.75).abs() < 0.03, "{long}");
    assert!(picks.iter().all(|&(t, s)| s < data.spans[t].len));
}

fn random_data(seed: u64) -> DtData {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let trajs = (0..5)
        .map(|i| {
            let len = 3 + 2 * i;
            let rewards: Vec<f32> = (0..len).map(|_| rng.random_range(0.0..2.0)).collect();
            DtTrajectory {
                observations: (0..len * S).map(|_| rng.random_range(-1.0..1.0)).collect(),
                actions: (0..len * A).map(|_| rng.random_range(-1.0..1.0)).collect(),
                returns_to_go: returns_to_go(&rewards),
                first_timestep: i,
            }
        })
        .collect();
    DtData::new(trajs, S, A, 5, 1e-6).unwrap()
}

fn resume_config() -> RlConfig {
    let mut c = RlConfig {
        algo: Algo::Dt,
        dt: tiny_config(),
        ..RlConfig::default()
    };
    c.dt.warmup_steps = 3;
    c.train.steps = 6;
    c.train.batch_size = 4;
    c.train.eval_every = 0;
    c.train.checkpoint_every = 1_000;
    c.train.seed = 9;
    c
}

#[test]
fn dt_resume_is_exact() {
    let device = Device::flex();
    let (n, k) = (6, 2);
    let run = |t: &mut DtTrainer, until: u64, dir: &std::path::Path| {
        let mut rows = Vec::new();
        t.train(
            until,
            |r| rows.push(r.clone()),
            |t| dt::save(t, dir).map(|_| ()),
        )
        .unwrap();
        rows
    };
    let straight = tempfile::tempdir().unwrap();
    let mut a = DtTrainer::new(resume_config(), random_data(1), &device).unwrap();
    let rows_a = run(&mut a, n, straight.path());

    let resumed = tempfile::tempdir().unwrap();
    let mut b = DtTrainer::new(resume_config(), random_data(1), &device).unwrap();
    run(&mut b, k, resumed.path());
    drop(b);
    let ckpt = gta_rl::checkpoint::latest(resumed.path()).unwrap();
    assert!(ckpt.ends_with("step_000000002"), "{}", ckpt.display());
    let mut b = dt::load(&ckpt, random_data(1), &device).unwrap();
    assert_eq!(b.step_count(), k);
    let rows_b = run(&mut b, n, resumed.path());

    let (pa, pb) = (a.dt().params(), b.dt().params());
    assert_eq!(pa.len(), pb.len());
    for (i, (x, y)) in pa.iter().zip(&pb).enumerate() {
        assert!(x == y, "parameter tensor {i} differs after resume");
    }
    assert_eq!(rows_a.last().unwrap().step, n);
    assert_eq!(rows_b.last().unwrap().step, n);
    // One more step on each: same batch, dropout masks, learning rate and AdamW moments.
    let next = |t: &mut DtTrainer| t.train_step()[0].1.clone().into_scalar::<f32>();
    assert_eq!(
        next(&mut a).to_bits(),
        next(&mut b).to_bits(),
        "step {n}'s loss"
    );
    assert!(a.dt().params() == b.dt().params());
    let at_k = dt::load(&ckpt, random_data(1), &device).unwrap();
    assert_ne!(at_k.dt().params(), pb, "steps after resume changed nothing");
    // Different data is refused.
    let small = DtData::new(
        vec![DtTrajectory {
            observations: vec![0.0; 2 * S],
            actions: vec![0.0; 2 * A],
            returns_to_go: vec![1.0, 0.0],
            first_timestep: 0,
        }],
        S,
        A,
        1,
        1e-6,
    )
    .unwrap();
    let err = dt::load(&ckpt, small, &device)
        .err()
        .expect("mismatch")
        .to_string();
    assert!(err.contains("trajectory steps"), "{err}");
    // The transition trainer refuses dt, and a dt checkpoint, with an error.
    let err = gta_rl::Trainer::new(
        resume_config(),
        gta_rl::ReplayBuffer::new(
            &gta_rl::synthetic_qlearning(8, S, A, 0),
            None,
            true,
            &device,
        )
        .unwrap(),
    )
    .err()
    .expect("refused")
    .to_string();
    assert!(err.contains("DtTrainer"), "{err}");
}
