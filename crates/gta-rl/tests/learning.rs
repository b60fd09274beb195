//! Learning test CI can afford (issue 7): on a small dataset from a scripted expert in
//! maze2d-umaze, the TD3+BC and IQL policies beat the random policy by a clear, asserted margin.

use burn::tensor::Device;
use gta_data::QLearning;
use gta_envs::{Policy, PolicyRng, RandomPolicy, evaluate, make_env};
use gta_rl::{Algo, ReplayBuffer, RlConfig, Trainer};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

/// U-maze cells (row, col) in order along the corridor to the goal (1, 1).
const PATH: [[f64; 2]; 7] = [
    [3.0, 1.0],
    [3.0, 2.0],
    [3.0, 3.0],
    [2.0, 3.0],
    [1.0, 3.0],
    [1.0, 2.0],
    [1.0, 1.0],
];

/// Waypoint PD controller (as D4RL's maze2d data collector): head for the next cell along the
/// corridor, `a = clip(10·(waypoint − pos) − 1·vel, ±1)`.
struct Expert;

impl Expert {
    fn action(obs: &[f32]) -> [f32; 2] {
        let (p, v) = (
            [obs[0] as f64, obs[1] as f64],
            [obs[2] as f64, obs[3] as f64],
        );
        let d2 = |c: &[f64; 2]| (c[0] - p[0]).powi(2) + (c[1] - p[1]).powi(2);
        let here = (0..PATH.len())
            .min_by(|&a, &b| d2(&PATH[a]).total_cmp(&d2(&PATH[b])))
            .unwrap();
        let w = PATH[(here + 1).min(PATH.len() - 1)];
        let a = |k: usize| (10.0 * (w[k] - p[k]) - v[k]).clamp(-1.0, 1.0) as f32;
        [a(0), a(1)]
    }
}

impl Policy for Expert {
    fn act_batch(&self, observations: &[f32], n: usize, _rngs: &mut [PolicyRng]) -> Vec<f32> {
        observations
            .chunks_exact(4)
            .take(n)
            .flat_map(Expert::action)
            .collect()
    }
}

/// `episodes` noisy-expert episodes (action noise N(0, 0.3²)), D4RL q-learning layout.
fn expert_data(episodes: u64) -> QLearning {
    let mut env = make_env("maze2d-umaze").unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(99);
    let mut q = QLearning {
        observations: vec![],
        actions: vec![],
        rewards: vec![],
        next_observations: vec![],
        dones: vec![],
        source_rows: vec![],
    };
    for ep in 0..episodes {
        let mut obs: Vec<f32> = env.reset(1000 + ep).iter().map(|&v| v as f32).collect();
        loop {
            let a = Expert::action(&obs)
                .map(|a| (a + 0.3 * rng.sample::<f32, _>(StandardNormal)).clamp(-1.0, 1.0));
            let step = env.step(&[a[0] as f64, a[1] as f64]).unwrap();
            let next: Vec<f32> = step.obs.iter().map(|&v| v as f32).collect();
            q.source_rows.push(q.rewards.len());
            q.observations.extend(&obs);
            q.actions.extend(a);
            q.rewards.push(step.reward as f32);
            q.next_observations.extend(&next);
            q.dones.push(step.terminal);
            obs = next;
            if step.terminal || step.timeout {
                break;
            }
        }
    }
    q
}

/// Trains `algo` (hidden width 64 to fit the CI budget) for `steps` steps on 12 noisy-expert
/// episodes and asserts its final evaluation closes at least half of the random→expert gap.
fn beats_random(algo: Algo, steps: u64) {
    let episodes = 30;
    let expert = evaluate("maze2d-umaze", &Expert, episodes, 0).unwrap();
    let random = evaluate("maze2d-umaze", &RandomPolicy { act_dim: 2 }, episodes, 0).unwrap();
    assert!(
        expert.return_mean > random.return_mean + 50.0,
        "the scripted expert must be good: {} vs random {}",
        expert.return_mean,
        random.return_mean
    );

    let device = Device::flex();
    let data = expert_data(12);
    let buffer = ReplayBuffer::new(&data, None, true, &device).unwrap();
    let mut config = RlConfig {
        algo,
        env: "maze2d-umaze".into(),
        ..RlConfig::default()
    };
    config.td3bc.hidden = 64;
    config.iql.hidden = 64;
    config.train.steps = steps;
    config.train.batch_size = 256;
    config.train.eval_every = 0;
    config.train.eval_episodes = episodes;
    config.train.seed = 1;
    let mut trainer = Trainer::new(config, buffer).unwrap();
    let row = trainer
        .train(steps, |_| {}, |_| Ok(()))
        .unwrap()
        .expect("a final row");
    let eval = row.eval.expect("evaluated at the end");
    eprintln!(
        "umaze returns: expert {:.1}, random {:.1}, {algo} {:.1} (score {:.1}); {:.0} steps/s",
        expert.return_mean,
        random.return_mean,
        eval.return_mean,
        eval.normalized_score,
        row.steps_per_s
    );
    assert!(
        eval.return_mean > random.return_mean + 0.5 * (expert.return_mean - random.return_mean),
        "{algo} {} must close half the gap from random {} to expert {}",
        eval.return_mean,
        random.return_mean,
        expert.return_mean
    );
}

#[test]
fn td3bc_beats_random_on_expert_umaze() {
    beats_random(Algo::Td3bc, 1_000);
}

#[test]
fn iql_beats_random_on_expert_umaze() {
    beats_random(Algo::Iql, 1_000);
}
