//! `gta-envs`: native MuJoCo environments with D4RL semantics for `gta` (issue 3;
//! `../shared/docs/envs-and-data.md`).
//!
//! - [`Env`]: HalfCheetah, Hopper, Walker2d, Ant (gym v2 = gymnasium v4 semantics on MuJoCo 3.17,
//!   §2), Maze2d umaze/medium/large (§6.1) and Adroit door/pen (D4RL v0 semantics on the
//!   gymnasium-robotics models, §6.3), built by name or D4RL dataset id with [`make_env`].
//! - [`replay`]: one-step replay of a recorded dataset from its stored simulator states, the
//!   measure of how far the native dynamics are from the data's.
//! - [`Oracle`] / [`one_step`]: (s, a) → (s′, r, terminal) from observations (§7).
//! - [`evaluate`]: parallel seeded rollouts of a [`Policy`] with D4RL normalized scores.
//! - [`collect`]: log rollouts as a D4RL-layout dataset; [`WaypointPolicy`]: D4RL's maze2d
//!   data controller.
//! - [`d4rl_score`] / [`ref_scores`]: the reference-score table of `d4rl/infos.py` (§3).
//!
//! MuJoCo comes from `scripts/setup-mujoco.sh` (`.mujoco/`); the XML models are compiled in.

pub mod adroit;
mod ant;
mod collect;
mod env;
mod error;
mod eval;
mod half_cheetah;
mod hopper;
mod locomotion;
pub mod maze2d;
mod oracle;
mod policy;
mod replay;
mod scores;
mod sim;
mod spec;
mod walker2d;
mod waypoint;

pub use collect::collect;
pub use env::{Env, Step, make_env, make_env_id};
pub use error::EnvError;
pub use eval::{
    EvalResult, Evaluation, episode_seeds, evaluate, evaluate_seeds, evaluate_with_success,
    mean_std, policy_rng,
};
pub use oracle::{Oracle, Transition, one_step};
pub use policy::{Policy, PolicyRng, RandomPolicy, ZeroPolicy};
pub use replay::{ReplayReport, Summary, replay};
pub use scores::{RefScores, d4rl_score, ref_scores};
pub use spec::{EnvId, EnvSpec};
pub use waypoint::WaypointPolicy;
