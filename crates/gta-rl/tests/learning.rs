//! Learning test CI can afford (issue 7): on a small dataset from a scripted expert in
//! maze2d-umaze, the TD3+BC, IQL, CQL, MCQ and Decision Transformer policies beat the random
//! policy by a clear, asserted margin.

use burn::tensor::Device;
use gta_data::QLearning;
use gta_envs::{Policy, PolicyRng, RandomPolicy, evaluate, make_env};
use gta_rl::dt_data::{DtTrajectory, returns_to_go};
use gta_rl::{Algo, DtData, DtTrainer, ReplayBuffer, RlConfig, Trainer};
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
    expert_episodes(episodes).0
}

/// The same episodes, also cut into DT trajectories (undiscounted return-to-go).
fn expert_episodes(episodes: u64) -> (QLearning, Vec<DtTrajectory>) {
    let mut trajs = Vec::new();
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
        let first = q.rewards.len();
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
        trajs.push(DtTrajectory {
            observations: q.observations[first * 4..].to_vec(),
            actions: q.actions[first * 2..].to_vec(),
            returns_to_go: returns_to_go(&q.rewards[first..]),
            first_timestep: 0,
        });
    }
    (q, trajs)
}

/// Trains `algo` (hidden width 64 to fit the CI budget) for `steps` steps on 12 noisy-expert
/// episodes and asserts its final evaluation closes at least half of the random→expert gap.
fn beats_random(algo: Algo, steps: u64) {
    beats_random_with(algo, steps, 0.5, |_| {});
}

/// [`beats_random`] with algorithm settings adjusted by `tweak` (to fit the CI budget),
/// asserting the final return closes `fraction` of the random→expert gap.
fn beats_random_with(algo: Algo, steps: u64, fraction: f64, tweak: impl Fn(&mut RlConfig)) {
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
    config.cql.hidden = 64;
    config.mcq.hidden = 64;
    config.mcq.vae_hidden = 64;
    config.train.steps = steps;
    config.train.batch_size = 256;
    config.train.eval_every = 0;
    config.train.eval_episodes = episodes;
    config.train.seed = 1;
    tweak(&mut config);
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
        eval.return_mean
            > random.return_mean + fraction * (expert.return_mean - random.return_mean),
        "{algo} {} must close {fraction} of the gap from random {} to expert {}",
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

/// CQL in its maze2d form (Lagrange, target action gap 5). CI adaptations: 4 sampled actions
/// instead of 10, and the policy LR 3e-4 instead of CORL's 3e-5, which needs far more than
/// CI's 500 steps (at 3e-5 the policy reaches about 125 after 1,000 steps; at 3e-4 it matches
/// the expert by step 400 for seeds 1–3).
#[test]
fn cql_beats_random_on_expert_umaze() {
    beats_random_with(Algo::Cql, 500, 0.5, |c| {
        c.cql.n_actions = 4;
        c.cql.policy_lr = 3e-4;
        c.cql.lagrange = true;
        c.cql.target_action_gap = 5.0;
    });
}

/// MCQ. CI adaptations: 4 decoder samples instead of 10, and a fixed temperature α = 0.05:
/// the auto-tuned one starts at 1 and takes far more than CI's steps to fall, so the
/// entropy bonus dominates (about 129 after 1,000 steps with auto-α). MCQ is the least
/// conservative of the four and its short-run return swings with the seed (about 160, 185
/// and 75 after 1,000 steps for seeds 1–3), so the asserted margin is a quarter of the gap.
#[test]
fn mcq_beats_random_on_expert_umaze() {
    beats_random_with(Algo::Mcq, 1_000, 0.25, |c| {
        c.mcq.num_sampled_actions = 4;
        c.mcq.auto_alpha = false;
        c.mcq.alpha = 0.05;
    });
}

/// Decision Transformer on the same 12 noisy-expert episodes, conditioned on the reference's
/// maze2d target return 280. CI adaptations: a smaller GPT (E 32, 2 layers, K 10), batch 64,
/// 200 steps, LR 1e-3 with a 20-step warm-up instead of 1e-4 over 10k (CORL's schedule needs
/// far more steps than CI has). Asserts it closes half of the random→expert gap (measured:
/// 248.5, 245.6 and 245.0 for seeds 1–3 against expert 247.5 and random 15.3).
#[test]
fn dt_beats_random_on_expert_umaze() {
    let episodes = 30;
    let expert = evaluate("maze2d-umaze", &Expert, episodes, 0).unwrap();
    let random = evaluate("maze2d-umaze", &RandomPolicy { act_dim: 2 }, episodes, 0).unwrap();
    let device = Device::flex();
    let (_, trajs) = expert_episodes(12);
    let n = trajs.len();
    let mut config = RlConfig {
        algo: Algo::Dt,
        env: "maze2d-umaze".into(),
        ..RlConfig::default()
    };
    config.dt.embedding_dim = 32;
    config.dt.n_layers = 2;
    config.dt.seq_len = 10;
    config.dt.episode_len = 300;
    config.dt.learning_rate = 1e-3;
    config.dt.warmup_steps = 20;
    let steps = 200;
    config.train.steps = steps;
    config.train.batch_size = 64;
    config.train.eval_every = 0;
    config.train.eval_episodes = episodes;
    config.train.seed = 1;
    let data = DtData::new(trajs, 4, 2, n, config.dt.state_std_eps).unwrap();
    let mut trainer = DtTrainer::new(config, data, &device).unwrap();
    let row = trainer
        .train(steps, |_| {}, |_| Ok(()))
        .unwrap()
        .expect("a final row");
    let eval = row.eval.expect("evaluated at the end");
    eprintln!(
        "umaze returns: expert {:.1}, random {:.1}, dt {:.1} (score {:.1}); {:.0} steps/s",
        expert.return_mean,
        random.return_mean,
        eval.return_mean,
        eval.normalized_score,
        row.steps_per_s
    );
    assert!(
        eval.return_mean > random.return_mean + 0.5 * (expert.return_mean - random.return_mean),
        "dt {} must close half of the gap from random {} to expert {}",
        eval.return_mean,
        random.return_mean,
        expert.return_mean
    );
}
