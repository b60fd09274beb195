//! IQL losses on a tiny fixed batch against an independent f64 computation (issue 7).

mod common;

use burn::tensor::Device;
use common::*;
use gta_rl::IqlConfig;
use gta_rl::iql::{GaussianActor, actor_loss, cosine_lr, q_loss, value_loss};
use gta_rl::nets::{Mlp, TwinCritic, host_params, layer_sizes};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

#[test]
fn iql_losses_match_f64_reference() {
    let device = Device::flex();
    let cfg = IqlConfig::default();
    let mut rng = ChaCha8Rng::seed_from_u64(21);
    let qf = TwinCritic::new(&layer_sizes(5, 4, 2, 1), &mut rng, &device);
    let q_target = TwinCritic::new(&layer_sizes(5, 4, 2, 1), &mut rng, &device);
    let vf = Mlp::new(&layer_sizes(3, 4, 2, 1), &mut rng, &device);
    let mut actor = GaussianActor::new(&layer_sizes(3, 4, 2, 2), &mut rng, &device);
    // log-std (−0.5, 3.0): the second is clamped to log_std_max = 2.
    actor.log_std = burn::module::Param::from_tensor(burn::tensor::Tensor::from_floats(
        [-0.5f32, 3.0],
        &device,
    ));
    let (batch, [obs, act, rew, next, done]) = tiny_batch(&device);
    let (pq, pqt, pv, pa) = (
        host_params(&qf),
        host_params(&q_target),
        host_params(&vf),
        host_params(&actor),
    );

    // V: adv = min_k Q′_k(s, a) − V(s); loss = mean |τ − 1[adv<0]|·adv².
    let mut adv = Vec::new();
    let mut want_v = 0.0;
    for i in 0..3 {
        let x = cat(&obs[i], &act[i]);
        let tq = q(&x, &twin_layers(&pqt, 0)).min(q(&x, &twin_layers(&pqt, 1)));
        let a = tq - mlp(&obs[i], &mlp_layers(&pv))[0];
        let w = if a < 0.0 { 1.0 - 0.7 } else { 0.7 };
        want_v += w * a * a / 3.0;
        adv.push(a);
    }
    let target_q = q_target.min_q(batch.observations.clone(), batch.actions.clone());
    let (got_v, got_adv) = value_loss(&vf, batch.observations.clone(), target_q, 0.7);
    let got_v = got_v.into_scalar::<f32>() as f64;
    assert!(close(got_v, want_v, 1e-5), "value loss {got_v} vs {want_v}");
    let got_adv = mat(got_adv);
    for i in 0..3 {
        assert!(close(got_adv[i][0], adv[i], 1e-5));
    }
    assert!(adv.iter().any(|&a| a < 0.0) || adv.iter().any(|&a| a > 0.0));

    // Q: y = r + (1 − d)·γ·V(s′); loss = (MSE(Q1, y) + MSE(Q2, y)) / 2.
    let next_v: Vec<f64> = next.iter().map(|s| mlp(s, &mlp_layers(&pv))[0]).collect();
    let mut want_q = 0.0;
    for k in 0..2 {
        for i in 0..3 {
            let y = rew[i][0] + (1.0 - done[i][0]) * 0.99 * next_v[i];
            let qi = q(&cat(&obs[i], &act[i]), &twin_layers(&pq, k));
            want_q += (qi - y).powi(2) / 3.0 / 2.0;
        }
    }
    let nv = tensor(&next_v.iter().map(|v| vec![*v]).collect(), &device);
    let got_q = q_loss(
        &qf,
        batch.observations.clone(),
        batch.actions.clone(),
        batch.rewards.clone(),
        batch.dones.clone(),
        nv,
        0.99,
    )
    .into_scalar::<f32>() as f64;
    assert!(close(got_q, want_q, 1e-5), "q loss {got_q} vs {want_q}");

    // Actor: mean(min(exp(β·adv), 100) · −log N(a; tanh(mlp(s)), exp(clamp(log_std)))).
    // Advantages scaled so that one weight hits the clamp.
    let adv_s: Vec<f64> = vec![2.0, -0.3, 0.1];
    let log_std = [-0.5f64, 2.0];
    let mut want_pi = 0.0;
    for i in 0..3 {
        let mean: Vec<f64> = mlp(&obs[i], &mlp_layers(&pa[..6]))
            .iter()
            .map(|v| v.tanh())
            .collect();
        let mut logp = 0.0;
        for j in 0..2 {
            let sd = log_std[j].exp();
            let z = (act[i][j] - mean[j]) / sd;
            logp += -0.5 * z * z - log_std[j] - 0.5 * (2.0 * std::f64::consts::PI).ln();
        }
        want_pi += (3.0 * adv_s[i]).exp().min(100.0) * -logp / 3.0;
    }
    let adv_t = tensor(&adv_s.iter().map(|v| vec![*v]).collect(), &device);
    let got_pi = actor_loss(
        &actor,
        batch.observations.clone(),
        batch.actions.clone(),
        adv_t,
        &cfg,
    )
    .into_scalar::<f32>() as f64;
    assert!(
        close(got_pi, want_pi, 1e-5),
        "actor loss {got_pi} vs {want_pi}"
    );
}

#[test]
fn actor_lr_is_cosine_annealed_to_zero() {
    assert_eq!(cosine_lr(3e-4, 0, 100), 3e-4);
    assert!((cosine_lr(3e-4, 50, 100) - 1.5e-4).abs() < 1e-15);
    assert!(cosine_lr(3e-4, 100, 100).abs() < 1e-15);
}
