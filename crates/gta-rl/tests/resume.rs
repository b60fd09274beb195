//! Exact resume: k steps + checkpoint + load + (N − k) steps == N steps, bit for bit on CPU,
//! for every algorithm (issue 7: "checkpoints with exact resume").

use burn::tensor::Device;
use gta_data::QLearning;
use gta_rl::checkpoint::{self, latest};
use gta_rl::{Algo, MetricsRow, ReplayBuffer, RlConfig, Trainer};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn data(n: usize) -> QLearning {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let mut v = |k: usize| {
        (0..k)
            .map(|_| rng.random_range(-1.0f32..1.0))
            .collect::<Vec<_>>()
    };
    let observations = v(n * 3);
    let actions = v(n * 2);
    let rewards = v(n);
    let next_observations = v(n * 3);
    QLearning {
        observations,
        actions,
        rewards,
        next_observations,
        dones: (0..n).map(|i| i % 17 == 0).collect(),
        source_rows: (0..n).collect(),
    }
}

fn config(algo: Algo) -> RlConfig {
    let mut c = RlConfig {
        algo,
        ..RlConfig::default()
    };
    c.td3bc.hidden = 16;
    c.iql.hidden = 16;
    c.cql.hidden = 16;
    c.cql.n_actions = 3;
    // The Lagrange version, so log α′ and its Adam state are exercised too.
    c.cql.lagrange = true;
    c.mcq.hidden = 16;
    c.mcq.vae_hidden = 16;
    c.mcq.num_sampled_actions = 3;
    c.train.steps = 7;
    c.train.batch_size = 8;
    c.train.eval_every = 0;
    c.train.checkpoint_every = 1_000;
    c.train.seed = 3;
    c
}

fn buffer(device: &Device) -> ReplayBuffer {
    ReplayBuffer::new(&data(64), None, true, device).unwrap()
}

fn run(trainer: &mut Trainer, until: u64, dir: &std::path::Path) -> Vec<MetricsRow> {
    let mut rows = Vec::new();
    trainer
        .train(
            until,
            |r| rows.push(r.clone()),
            |t| checkpoint::save(t, dir).map(|_| ()),
        )
        .unwrap();
    rows
}

fn check_resume(algo: Algo) {
    let device = Device::flex();
    let (n, k) = (7, 3);
    let straight = tempfile::tempdir().unwrap();
    let mut a = Trainer::new(config(algo), buffer(&device)).unwrap();
    let rows_a = run(&mut a, n, straight.path());

    let resumed = tempfile::tempdir().unwrap();
    let mut b = Trainer::new(config(algo), buffer(&device)).unwrap();
    run(&mut b, k, resumed.path());
    drop(b);
    let ckpt = latest(resumed.path()).unwrap();
    assert!(ckpt.ends_with("step_000000003"), "{}", ckpt.display());
    let mut b = checkpoint::load(&ckpt, buffer(&device)).unwrap();
    assert_eq!(b.step_count(), k);
    let rows_b = run(&mut b, n, resumed.path());

    assert_eq!(
        a.policy().actor,
        b.policy().actor,
        "{algo}: actor weights differ"
    );
    let la = &rows_a.last().unwrap().losses;
    let lb = &rows_b.last().unwrap().losses;
    assert_eq!(la.len(), lb.len());
    // Every online and target parameter after step N, bit for bit (the resumed steps used the
    // restored Adam moments, so a wrong optimizer state would show here too).
    let pa = a.agent().params();
    let pb = b.agent().params();
    assert_eq!(pa.len(), pb.len());
    for (i, (x, y)) in pa.iter().zip(&pb).enumerate() {
        assert!(x == y, "{algo}: parameter tensor {i} differs after resume");
    }
    // And the resume really continued training: parameters moved since the checkpoint.
    let at_k = checkpoint::load(&ckpt, buffer(&device)).unwrap();
    assert_ne!(
        at_k.agent().params(),
        pb,
        "{algo}: steps after resume changed nothing"
    );
    // The reloaded checkpoint of step N holds the same parameters.
    let reloaded =
        checkpoint::load(&resumed.path().join("step_000000007"), buffer(&device)).unwrap();
    assert!(reloaded.agent().params() == pb);
    assert_eq!(rows_b.last().unwrap().step, n);
}

#[test]
fn td3bc_resume_is_exact() {
    check_resume(Algo::Td3bc);
}

#[test]
fn iql_resume_is_exact() {
    check_resume(Algo::Iql);
}

#[test]
fn cql_resume_is_exact() {
    check_resume(Algo::Cql);
}

#[test]
fn mcq_resume_is_exact() {
    check_resume(Algo::Mcq);
}
