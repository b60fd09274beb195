//! CQL losses on a tiny fixed batch with fixed weights and explicit noise, against an
//! independent f64 computation (issue 7), plus the SAC building blocks it relies on.

// Reference loops index several parallel arrays by the same row.
#![allow(clippy::needless_range_loop)]

mod common;

use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor};
use common::*;
use gta_rl::cql::{CqlNoise, TanhGaussianActor, draw_samples, policy_losses, q_losses};
use gta_rl::nets::{TwinCritic, host_params, layer_sizes};
use gta_rl::sac::{LogScalar, dropout_mask, orthogonal, tanh_log_det};
use gta_rl::{Agent, Cql, CqlConfig};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

const B: usize = 3;
const A: usize = 2;
const N: usize = 2;

/// Deterministic "noise" (B·k rows): smooth, distinct, of both signs.
fn fixed(rows: usize, cols: usize, k: usize, scale: f64) -> Mat {
    (0..rows)
        .map(|i| {
            (0..cols)
                .map(|j| ((i * cols + j + 7 * k) as f64 * 0.77 + 0.3).sin() * scale)
                .collect()
        })
        .collect()
}

/// The f64 policy: `(max·tanh(u), log π)` with `u = mean + σ·ε`, `log σ = clamp(m·raw + o)`.
fn policy_ref(s: &[f64], eps: &[f64], pa: &[Vec<f32>], c: &CqlConfig) -> (Vec<f64>, f64) {
    let l = pa.len() - 2;
    let out = mlp(s, &mlp_layers(&pa[..l]));
    let (m, o) = (pa[l][0] as f64, pa[l + 1][0] as f64);
    let mut a = Vec::new();
    let mut logp = 0.0;
    for j in 0..A {
        let ls = (m * out[A + j] + o).clamp(c.log_std_min, c.log_std_max);
        let u = out[j] + ls.exp() * eps[j];
        let t = u.tanh();
        a.push(t * c.max_action);
        logp += -0.5 * eps[j] * eps[j]
            - ls
            - 0.5 * (2.0 * std::f64::consts::PI).ln()
            - (1.0 - t * t).ln();
    }
    (a, logp)
}

fn min_q(s: &[f64], a: &[f64], p: &[Vec<f32>]) -> f64 {
    let x = cat(s, a);
    q(&x, &twin_layers(p, 0)).min(q(&x, &twin_layers(p, 1)))
}

struct Fixture {
    actor: TanhGaussianActor,
    critic: TwinCritic,
    target: TwinCritic,
    noise: CqlNoise,
    raw: [Mat; 5],
    device: Device,
}

fn fixture(c: &CqlConfig) -> Fixture {
    let device = Device::flex();
    let mut rng = ChaCha8Rng::seed_from_u64(17);
    let mut actor = TanhGaussianActor::new(&layer_sizes(3, 5, 2, 2 * A), c, &mut rng, &device);
    // Larger output weights than CORL's 1e-2 init so tanh and log σ matter; m, o ≠ (1, −1).
    let mut rng2 = ChaCha8Rng::seed_from_u64(5);
    let other = gta_rl::nets::Mlp::new(&layer_sizes(3, 5, 2, 2 * A), &mut rng2, &device);
    actor.net.layers[2] = other.layers[2].clone();
    actor.log_std_multiplier = Param::from_tensor(Tensor::from_floats([0.8f32], &device));
    actor.log_std_offset = Param::from_tensor(Tensor::from_floats([-0.4f32], &device));
    let critic = TwinCritic::new(&layer_sizes(5, 6, 2, 1), &mut rng, &device);
    let target = TwinCritic::new(&layer_sizes(5, 6, 2, 1), &mut rng, &device);
    let raw = [
        fixed(B, A, 0, 1.0),
        fixed(B, A, 1, 1.0),
        fixed(B * N, A, 2, 1.2),
        fixed(B * N, A, 3, 0.9),
        fixed(B * N, A, 4, 0.95),
    ];
    let noise = CqlNoise {
        pi: tensor(&raw[0], &device),
        next: tensor(&raw[1], &device),
        current: tensor(&raw[2], &device),
        next_repeat: tensor(&raw[3], &device),
        random: tensor(&raw[4], &device),
    };
    Fixture {
        actor,
        critic,
        target,
        noise,
        raw,
        device,
    }
}

fn config(lagrange: bool, importance: bool, backup: bool) -> CqlConfig {
    CqlConfig {
        n_actions: N,
        lagrange,
        target_action_gap: 5.0,
        importance_sample: importance,
        backup_entropy: backup,
        ..CqlConfig::default()
    }
}

fn log_sum_exp(v: &[f64]) -> f64 {
    let m = v.iter().cloned().fold(f64::MIN, f64::max);
    m + v.iter().map(|x| (x - m).exp()).sum::<f64>().ln()
}

/// Checks `q_losses` (and the samples it is fed) for one variant of the config.
fn check_q_losses(c: &CqlConfig) {
    let f = fixture(c);
    let (batch, [obs, act, rew, next, done]) = tiny_batch(&f.device);
    let (pa, pq, pt) = (
        host_params(&f.actor),
        host_params(&f.critic),
        host_params(&f.target),
    );
    let alpha = 0.37f64;
    let log_alpha_prime = LogScalar::new(0.25, &f.device);
    let [_, _, cur_eps, nrep_eps, random] = &f.raw;

    let mut td = 0.0;
    let mut gaps = [0.0f64; 2];
    for b in 0..B {
        let (a_next, logp_next) = policy_ref(&next[b], &f.raw[1][b], &pa, c);
        let mut tq = min_q(&next[b], &a_next, &pt);
        if c.backup_entropy {
            tq -= alpha * logp_next;
        }
        let y = rew[b][0] + (1.0 - done[b][0]) * c.discount * tq;
        for (k, gap) in gaps.iter_mut().enumerate() {
            let layers = twin_layers(&pq, k);
            let qk = |a: &[f64]| q(&cat(&obs[b], a), &layers);
            let q_data = qk(&act[b]);
            td += (q_data - y).powi(2) / B as f64;
            let mut vals = Vec::new();
            let (mut rnd, mut nxt, mut cur) = (vec![], vec![], vec![]);
            for i in 0..N {
                let r = b * N + i;
                rnd.push(qk(&random[r]));
                let (an, lpn) = policy_ref(&next[b], &nrep_eps[r], &pa, c);
                let (ac, lpc) = policy_ref(&obs[b], &cur_eps[r], &pa, c);
                nxt.push((qk(&an), lpn));
                cur.push((qk(&ac), lpc));
            }
            if c.importance_sample {
                vals.extend(rnd.iter().map(|v| v - A as f64 * 0.5f64.ln()));
                vals.extend(nxt.iter().map(|(v, lp)| v - lp));
                vals.extend(cur.iter().map(|(v, lp)| v - lp));
            } else {
                vals.extend(&rnd);
                vals.push(q_data);
                vals.extend(nxt.iter().map(|(v, _)| *v));
                vals.extend(cur.iter().map(|(v, _)| *v));
            }
            *gap += (log_sum_exp(&vals) - q_data) / B as f64;
        }
    }
    let (want_cql, want_ap) = if c.lagrange {
        let ap = 0.25f64.exp();
        let short: f64 = gaps.iter().map(|g| g - c.target_action_gap).sum();
        (
            ap * c.cql_alpha * short,
            Some(-0.5 * ap * c.cql_alpha * short),
        )
    } else {
        (c.cql_alpha * (gaps[0] + gaps[1]), None)
    };

    let samples = draw_samples(&f.actor, &batch, &f.noise, c);
    let critic = f.critic.train();
    let ql = q_losses(
        &critic,
        &f.target,
        &log_alpha_prime.train(),
        &batch,
        &samples,
        Tensor::from_floats([alpha as f32], &f.device),
        c,
    );
    let got_td = ql.td.into_scalar::<f32>() as f64;
    let got_cql = ql.cql.into_scalar::<f32>() as f64;
    let got_gap: Vec<f32> = ql.gap.into_data().try_to_vec().unwrap();
    assert!(close(got_td, td, 1e-5), "td loss {got_td} vs {td}");
    for k in 0..2 {
        assert!(
            close(got_gap[k] as f64, gaps[k], 1e-5),
            "gap {k}: {got_gap:?} vs {gaps:?}"
        );
    }
    assert!(
        close(got_cql, want_cql, 1e-5),
        "cql loss {got_cql} vs {want_cql}"
    );
    match (ql.alpha_prime, want_ap) {
        (Some(got), Some(want)) => {
            let got = got.into_scalar::<f32>() as f64;
            assert!(close(got, want, 1e-5), "alpha' loss {got} vs {want}");
        }
        (None, None) => {}
        _ => panic!("alpha' loss present iff lagrange"),
    }
}

#[test]
fn cql_q_losses_match_f64_reference() {
    check_q_losses(&config(false, true, false));
}

#[test]
fn cql_lagrange_and_plain_logsumexp_match_f64_reference() {
    // Lagrange version, logsumexp without importance weights (includes Q(s, a)), and the
    // entropy backup: every switch of the critic loss.
    check_q_losses(&config(true, false, true));
}

#[test]
fn cql_policy_and_temperature_losses_match_f64_reference() {
    let c = config(false, true, false);
    let f = fixture(&c);
    let (batch, [obs, act, ..]) = tiny_batch(&f.device);
    let (pa, pq) = (host_params(&f.actor), host_params(&f.critic));
    let log_alpha = 0.3f64;
    let alpha = log_alpha.exp();
    let (mut want_pi, mut want_alpha, mut want_bc) = (0.0, 0.0, 0.0);
    for b in 0..B {
        let (a, logp) = policy_ref(&obs[b], &f.raw[0][b], &pa, &c);
        want_pi += (alpha * logp - min_q(&obs[b], &a, &pq)) / B as f64;
        want_alpha += -log_alpha * (logp - A as f64) / B as f64;
        // log π(a_data|s): u = atanh(a), Gaussian density minus log(1 − a²).
        let l = pa.len() - 2;
        let out = mlp(&obs[b], &mlp_layers(&pa[..l]));
        let mut lp_data = 0.0;
        for j in 0..A {
            let ls = (0.8 * out[A + j] - 0.4).clamp(c.log_std_min, c.log_std_max);
            let y = act[b][j];
            let u = y.atanh();
            let z = (u - out[j]) / ls.exp();
            lp_data +=
                -0.5 * z * z - ls - 0.5 * (2.0 * std::f64::consts::PI).ln() - (1.0 - y * y).ln();
        }
        want_bc += (alpha * logp - lp_data) / B as f64;
    }
    let actor = f.actor.train();
    let critic = f.critic.train();
    let la = LogScalar::new(log_alpha, &f.device).train();
    for (bc, want) in [(false, want_pi), (true, want_bc)] {
        let pl = policy_losses(
            &actor,
            &critic,
            &la,
            batch.observations.clone().autodiff(),
            batch.actions.clone().autodiff(),
            f.noise.pi.clone().autodiff(),
            bc,
            &c,
        );
        let got = pl.policy.into_scalar::<f32>() as f64;
        assert!(
            close(got, want, 1e-5),
            "policy loss (bc {bc}) {got} vs {want}"
        );
        let got = pl.alpha.into_scalar::<f32>() as f64;
        assert!(
            close(got, want_alpha, 1e-5),
            "alpha loss {got} vs {want_alpha}"
        );
    }
}

#[test]
fn lagrange_multiplier_moves_against_the_gap_shortfall() {
    // With a target gap far above the achieved one, −½α′α_cql Σ(gap − τ) has a positive
    // derivative in log α′, so Adam's first step lowers log α′ by its learning rate.
    let device = Device::flex();
    let (batch, _) = tiny_batch(&device);
    let c = CqlConfig {
        hidden: 8,
        n_actions: N,
        lagrange: true,
        target_action_gap: 1e3,
        ..CqlConfig::default()
    };
    let mut agent = Cql::new(c.clone(), 3, 2, 4, &device);
    let before = agent.params();
    agent.update(&batch, 0, 11);
    let after = agent.params();
    let (b0, a0) = (before.last().unwrap()[0], after.last().unwrap()[0]);
    assert_eq!(b0, 1.0, "log α′ starts at 1 (CORL Scalar(1.0))");
    assert!(
        ((b0 - a0) as f64 - c.qf_lr).abs() < 1e-6,
        "log α′ {b0} → {a0}, expected a step of −{}",
        c.qf_lr
    );
    // The target critic moved by τ towards the online one; the actor moved too.
    assert_ne!(before[0], after[0], "actor unchanged");
}

#[test]
fn orthogonal_init_has_orthonormal_rows_or_columns() {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    for (d_in, d_out) in [(5usize, 3usize), (3, 5), (4, 4)] {
        let gain = 1.5f64;
        let w = orthogonal(&mut rng, d_in, d_out, gain);
        // W_torch = our layoutᵀ is d_out × d_in; the smaller side is orthonormal × gain.
        let m = d_in.min(d_out);
        for p in 0..m {
            for r in 0..m {
                let dot: f64 = if d_out <= d_in {
                    (0..d_in)
                        .map(|i| w[i * d_out + p] as f64 * w[i * d_out + r] as f64)
                        .sum()
                } else {
                    (0..d_out)
                        .map(|o| w[p * d_out + o] as f64 * w[r * d_out + o] as f64)
                        .sum()
                };
                let want = if p == r { gain * gain } else { 0.0 };
                assert!(
                    (dot - want).abs() < 1e-5,
                    "({d_in},{d_out}) [{p},{r}] = {dot}"
                );
            }
        }
    }
}

#[test]
fn tanh_log_det_is_exact_and_finite() {
    let device = Device::flex();
    let us = [-3.0f64, -0.5, 0.0, 0.7, 2.5, 30.0, -30.0];
    let t = Tensor::<2>::from_floats([us.map(|u| u as f32)], &device);
    let got: Vec<f32> = tanh_log_det(t).into_data().try_to_vec().unwrap();
    for (u, g) in us.iter().zip(&got) {
        // log(1 − tanh² u) = log(sech² u) = −2·log cosh u, exact in f64 for |u| ≤ 30.
        let want = -2.0 * u.cosh().ln();
        assert!(
            g.is_finite() && close(*g as f64, want, 1e-5),
            "u {u}: {g} vs {want}"
        );
    }
}

#[test]
fn dropout_masks_keep_the_expectation() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let m = dropout_mask(&mut rng, 200_001, 0.1);
    assert_eq!(m.len(), 200_001);
    let keep = 1.0 / 0.9f32;
    assert!(m.iter().all(|&v| v == 0.0 || v == keep));
    let dropped = m.iter().filter(|&&v| v == 0.0).count() as f64 / m.len() as f64;
    assert!((dropped - 0.1).abs() < 0.003, "dropped fraction {dropped}");
}

#[test]
fn cql_checkpoint_without_lagrange_or_entropy_tuning_round_trips() {
    // Optimizers that never stepped (α′ without the Lagrange version, α without tuning) must
    // save and load too; a step after loading must match a step without the round trip.
    let device = Device::flex();
    let (batch, _) = tiny_batch(&device);
    let c = CqlConfig {
        hidden: 8,
        n_actions: N,
        automatic_entropy_tuning: false,
        bc_steps: 1,
        ..CqlConfig::default()
    };
    let mut a = Cql::new(c.clone(), 3, 2, 4, &device);
    a.update(&batch, 0, 1);
    let dir = tempfile::tempdir().unwrap();
    a.save(dir.path()).unwrap();
    let mut b = Cql::new(c, 3, 2, 99, &device);
    b.load(dir.path()).unwrap();
    assert!(a.params() == b.params());
    a.update(&batch, 1, 2);
    b.update(&batch, 1, 2);
    assert!(a.params() == b.params(), "second step differs after reload");
}
