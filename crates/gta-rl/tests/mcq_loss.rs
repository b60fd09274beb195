//! MCQ losses (CVAE, critic with the OOD pseudo-target, actor, temperature) on a tiny fixed
//! batch with fixed weights and explicit noise and dropout masks, against an independent f64
//! computation (issue 7).

// Reference loops index several parallel arrays by the same row.
#![allow(clippy::needless_range_loop)]

mod common;

use burn::module::Module;
use burn::tensor::{Device, Tensor};
use common::*;
use gta_rl::McqConfig;
use gta_rl::mcq::{ActorNoise, McqActor, McqNoise, Vae, actor_loss, critic_losses};
use gta_rl::nets::{Mlp, TwinCritic, host_params, layer_sizes};
use gta_rl::sac::{LogScalar, temperature_loss};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

const B: usize = 3;
const S: usize = 3;
const A: usize = 2;
const L: usize = 2 * A;
const N: usize = 2;
const H: usize = 5;

fn fixed(rows: usize, cols: usize, k: usize, scale: f64) -> Mat {
    (0..rows)
        .map(|i| {
            (0..cols)
                .map(|j| ((i * cols + j + 5 * k) as f64 * 0.61 + 0.2).sin() * scale)
                .collect()
        })
        .collect()
}

/// Inverted-dropout masks with p = 0.5: entries 0 or 2.
fn masks(rows: usize, k: usize) -> Vec<Mat> {
    (0..2)
        .map(|l| {
            (0..rows)
                .map(|i| {
                    (0..H)
                        .map(|j| {
                            if (i + 2 * j + k + l).is_multiple_of(3) {
                                0.0
                            } else {
                                2.0
                            }
                        })
                        .collect()
                })
                .collect()
        })
        .collect()
}

struct RawActorNoise {
    eps: Mat,
    masks: Vec<Mat>,
}

fn raw_actor_noise(rows: usize, k: usize) -> RawActorNoise {
    RawActorNoise {
        eps: fixed(rows, A, k, 1.0),
        masks: masks(rows, k),
    }
}

fn upload(r: &RawActorNoise, device: &Device) -> ActorNoise {
    ActorNoise {
        eps: tensor(&r.eps, device),
        masks: r.masks.iter().map(|m| tensor(m, device)).collect(),
    }
}

/// f64 actor with dropout masks: `(tanh(u), log π)` with OfflineRL-Kit's ε-regularised
/// tanh correction.
fn actor_ref(
    s: &[f64],
    noise: &RawActorNoise,
    row: usize,
    pa: &[Vec<f32>],
    c: &McqConfig,
) -> (Vec<f64>, f64) {
    let layers = mlp_layers(pa);
    let mut h = s.to_vec();
    for (k, (w, b)) in layers.iter().enumerate() {
        h = linear(&h, w, b);
        if k + 1 < layers.len() {
            for (j, v) in h.iter_mut().enumerate() {
                *v = v.max(0.0) * noise.masks[k][row][j];
            }
        }
    }
    let mut a = Vec::new();
    let mut logp = 0.0;
    for j in 0..A {
        let ls = h[A + j].clamp(c.log_std_min, c.log_std_max);
        let eps = noise.eps[row][j];
        let t = (h[j] + ls.exp() * eps).tanh();
        a.push(t);
        logp += -0.5 * eps * eps
            - ls
            - 0.5 * (2.0 * std::f64::consts::PI).ln()
            - (1.0 - t * t + 1e-6).ln();
    }
    (a, logp)
}

fn qk(s: &[f64], a: &[f64], p: &[Vec<f32>], k: usize) -> f64 {
    q(&cat(s, a), &twin_layers(p, k))
}

#[test]
fn mcq_losses_match_f64_reference() {
    let device = Device::flex();
    let c = McqConfig {
        hidden: H,
        actor_dropout: 0.5,
        num_sampled_actions: N,
        vae_hidden: 6,
        lambda: 0.9,
        ..McqConfig::default()
    };
    let mut rng = ChaCha8Rng::seed_from_u64(8);
    let actor = McqActor {
        net: Mlp::new(&layer_sizes(S, H, 2, 2 * A), &mut rng, &device),
    };
    let critic = TwinCritic::new(&layer_sizes(S + A, H, 2, 1), &mut rng, &device);
    let target = TwinCritic::new(&layer_sizes(S + A, H, 2, 1), &mut rng, &device);
    let vae = Vae::new(S, A, 6, L, &mut rng, &device);
    let (batch, [obs, act, rew, next, done]) = tiny_batch(&device);
    let (pa, pq, pt, pv) = (
        host_params(&actor),
        host_params(&critic),
        host_params(&target),
        host_params(&vae),
    );
    let (enc, dec) = (mlp_layers(&pv[..6]), mlp_layers(&pv[6..]));

    let raw_vae = fixed(B, L, 0, 1.0);
    let raw_next = raw_actor_noise(B, 1);
    // Latents beyond ±0.5 so the clip matters.
    let raw_latent = fixed(2 * B * N, L, 2, 1.4);
    let raw_ood = raw_actor_noise(2 * B, 3);
    let raw_pi = raw_actor_noise(B, 4);
    let noise = McqNoise {
        vae: tensor(&raw_vae, &device),
        next: upload(&raw_next, &device),
        latent: tensor(&raw_latent, &device),
        ood: upload(&raw_ood, &device),
        pi: upload(&raw_pi, &device),
    };
    let alpha = 0.7f64;

    // CVAE: MSE(â, a) + KL, z = μ + σ·ε, log σ clamped to [−4, 15].
    let (mut recon, mut kl) = (0.0, 0.0);
    for b in 0..B {
        let e = mlp(&cat(&obs[b], &act[b]), &enc);
        let z: Vec<f64> = (0..L)
            .map(|j| {
                let ls = e[L + j].clamp(-4.0, 15.0);
                kl += -0.5 * (1.0 + 2.0 * ls - e[j] * e[j] - (2.0 * ls).exp()) / (B * L) as f64;
                e[j] + ls.exp() * raw_vae[b][j]
            })
            .collect();
        let u = mlp(&cat(&obs[b], &z), &dec);
        for j in 0..A {
            recon += (u[j].tanh() - act[b][j]).powi(2) / (B * A) as f64;
        }
    }
    let got = vae
        .clone()
        .train()
        .loss(
            batch.observations.clone().autodiff(),
            batch.actions.clone().autodiff(),
            noise.vae.clone().autodiff(),
            1.0,
        )
        .into_scalar::<f32>() as f64;
    assert!(
        close(got, recon + kl, 1e-5),
        "vae loss {got} vs {}",
        recon + kl
    );

    // Critic: λ·in + (1 − λ)·ood.
    let mut in_dist = 0.0;
    for b in 0..B {
        let (a2, lp2) = actor_ref(&next[b], &raw_next, b, &pa, &c);
        let nq = qk(&next[b], &a2, &pt, 0).min(qk(&next[b], &a2, &pt, 1)) - alpha * lp2;
        let y = rew[b][0] + (1.0 - done[b][0]) * 0.99 * nq;
        for k in 0..2 {
            in_dist += (qk(&obs[b], &act[b], &pq, k) - y).powi(2) / B as f64;
        }
    }
    let s_in: Vec<Vec<f64>> = obs.iter().chain(&next).cloned().collect();
    let mut ood = 0.0;
    for (r, s) in s_in.iter().enumerate() {
        let mut best = [f64::MIN; 2];
        for i in 0..N {
            let z: Vec<f64> = raw_latent[r * N + i]
                .iter()
                .map(|v| v.clamp(-0.5, 0.5))
                .collect();
            let a_hat: Vec<f64> = mlp(&cat(s, &z), &dec).iter().map(|v| v.tanh()).collect();
            for (k, m) in best.iter_mut().enumerate() {
                *m = m.max(qk(s, &a_hat, &pt, k));
            }
        }
        let y_ood = best[0].min(best[1]);
        let (a_ood, _) = actor_ref(s, &raw_ood, r, &pa, &c);
        for k in 0..2 {
            ood += (qk(s, &a_ood, &pq, k) - y_ood).powi(2) / (2 * B) as f64;
        }
    }
    let cl = critic_losses(
        &critic.clone().train(),
        &target,
        &actor,
        &vae,
        &batch,
        &noise,
        Tensor::from_floats([alpha as f32], &device),
        &c,
    );
    let got_in = cl.in_dist.into_scalar::<f32>() as f64;
    let got_ood = cl.ood.into_scalar::<f32>() as f64;
    let got_total = cl.total.into_scalar::<f32>() as f64;
    assert!(
        close(got_in, in_dist, 1e-5),
        "in-distribution {got_in} vs {in_dist}"
    );
    assert!(close(got_ood, ood, 1e-5), "ood {got_ood} vs {ood}");
    let want = 0.9 * in_dist + 0.1 * ood;
    assert!(
        close(got_total, want, 1e-5),
        "critic loss {got_total} vs {want}"
    );

    // Actor: −mean min_k Q_k(s, ã) + α·mean log π; temperature: −log α·mean(log π − |A|).
    let (mut want_pi, mut mean_lp) = (0.0, 0.0);
    for b in 0..B {
        let (a, lp) = actor_ref(&obs[b], &raw_pi, b, &pa, &c);
        want_pi += (-qk(&obs[b], &a, &pq, 0).min(qk(&obs[b], &a, &pq, 1)) + alpha * lp) / B as f64;
        mean_lp += lp / B as f64;
    }
    let (loss, log_pi) = actor_loss(
        &actor.train(),
        &critic.train(),
        batch.observations.clone().autodiff(),
        &ActorNoise {
            eps: noise.pi.eps.clone().autodiff(),
            masks: noise
                .pi
                .masks
                .iter()
                .map(|m| m.clone().autodiff())
                .collect(),
        },
        Tensor::from_floats([alpha as f32], &device).autodiff(),
        &c,
    );
    let got = loss.into_scalar::<f32>() as f64;
    assert!(close(got, want_pi, 1e-5), "actor loss {got} vs {want_pi}");
    let log_alpha = -0.2f64;
    let got = temperature_loss(
        &LogScalar::new(log_alpha, &device).train(),
        log_pi,
        -(A as f64),
    )
    .into_scalar::<f32>() as f64;
    let want = -log_alpha * (mean_lp - A as f64);
    assert!(close(got, want, 1e-5), "alpha loss {got} vs {want}");
}
