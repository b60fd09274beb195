//! Policies: observation(s) → action(s) (architecture sketch: `Policy`). Agents implement the
//! trait; `ZeroPolicy` and `RandomPolicy` are the scripted baselines of `gta env rollout`.

use rand::RngExt;
use rand_chacha::ChaCha8Rng;

/// The per-episode random stream handed to a policy (seeded from the episode seed).
pub type PolicyRng = ChaCha8Rng;

/// Maps observations to actions. Implementations must treat rows independently, so results do
/// not depend on how episodes are batched across threads.
pub trait Policy: Sync {
    /// Actions for `n` observations stored row-major in `observations` (n × obs_dim), returned
    /// row-major (n × act_dim); `rngs[i]` is row i's episode stream.
    fn act_batch(&self, observations: &[f32], n: usize, rngs: &mut [PolicyRng]) -> Vec<f32>;

    /// The action for one observation.
    fn act(&self, observation: &[f32], rng: &mut PolicyRng) -> Vec<f32> {
        self.act_batch(observation, 1, std::slice::from_mut(rng))
    }
}

/// Always outputs the zero action.
#[derive(Debug, Clone, Copy)]
pub struct ZeroPolicy {
    /// Action length.
    pub act_dim: usize,
}

impl Policy for ZeroPolicy {
    fn act_batch(&self, _observations: &[f32], n: usize, _rngs: &mut [PolicyRng]) -> Vec<f32> {
        vec![0.0; n * self.act_dim]
    }
}

/// Samples every action component uniformly from [−1, 1) (D4RL's `random` data, §4.3).
#[derive(Debug, Clone, Copy)]
pub struct RandomPolicy {
    /// Action length.
    pub act_dim: usize,
}

impl Policy for RandomPolicy {
    fn act_batch(&self, _observations: &[f32], n: usize, rngs: &mut [PolicyRng]) -> Vec<f32> {
        let mut actions = Vec::with_capacity(n * self.act_dim);
        for rng in rngs.iter_mut().take(n) {
            actions.extend((0..self.act_dim).map(|_| rng.random_range(-1.0f32..1.0)));
        }
        actions
    }
}
