//! Environment identities and static descriptions: names, D4RL dataset ids, dimensions, time
//! limits and reference scores (envs-and-data.md §2.2, §3, §6.1).

use serde::Serialize;

use crate::error::EnvError;
use crate::scores::{RefScores, ref_scores};

/// One native environment gta can step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EnvId {
    /// gym `HalfCheetah` (D4RL-v2 = gymnasium v4 semantics).
    HalfCheetah,
    /// gym `Hopper`.
    Hopper,
    /// gym `Walker2d`.
    Walker2d,
    /// gym `Ant` (111-dim observation as in D4RL).
    Ant,
    /// D4RL `maze2d-umaze-v1`, sparse reward.
    Maze2dUmaze,
    /// D4RL `maze2d-medium-v1`, sparse reward.
    Maze2dMedium,
    /// D4RL `maze2d-large-v1`, sparse reward.
    Maze2dLarge,
    /// D4RL `maze2d-umaze-dense-v1`, reward exp(−distance).
    Maze2dUmazeDense,
    /// D4RL `maze2d-medium-dense-v1`.
    Maze2dMediumDense,
    /// D4RL `maze2d-large-dense-v1`.
    Maze2dLargeDense,
    /// Adroit door (D4RL `door-human-v0` semantics, §6.3).
    Door,
    /// Adroit pen (D4RL `pen-human-v0` semantics, §6.3).
    Pen,
}

/// Static description of an environment (the `Env::spec()` of the architecture sketch).
#[derive(Debug, Clone, Serialize)]
pub struct EnvSpec {
    /// Which environment.
    pub id: EnvId,
    /// Short name accepted everywhere (`hopper`, `maze2d-umaze`).
    pub name: &'static str,
    /// Observation length (17/11/17/111 locomotion, 4 maze2d, 39 door, 45 pen).
    pub obs_dim: usize,
    /// Action length; actions are clipped to [−1, 1] before use.
    pub act_dim: usize,
    /// Generalized coordinates `nq` of the MuJoCo model.
    pub nq: usize,
    /// Generalized velocities `nv`.
    pub nv: usize,
    /// MuJoCo steps per env step.
    pub frame_skip: usize,
    /// Env-step duration: `timestep × frame_skip`.
    pub dt: f64,
    /// Time limit; `Step::timeout` is set on the step that reaches it.
    pub max_episode_steps: usize,
    /// D4RL dataset ids recorded in this environment.
    pub datasets: Vec<String>,
    /// D4RL reference scores used by the normalized score (§3).
    pub ref_scores: RefScores,
}

/// D4RL's Adroit dataset variants (`door-human-v0`, ...).
const ADROIT_VARIANTS: [&str; 3] = ["human", "cloned", "expert"];

const LOCOMOTION_VARIANTS: [&str; 6] = [
    "random",
    "medium",
    "medium-replay",
    "medium-expert",
    "expert",
    "full-replay",
];

impl EnvId {
    /// Every environment, in listing order.
    pub const ALL: [EnvId; 12] = [
        EnvId::HalfCheetah,
        EnvId::Hopper,
        EnvId::Walker2d,
        EnvId::Ant,
        EnvId::Maze2dUmaze,
        EnvId::Maze2dMedium,
        EnvId::Maze2dLarge,
        EnvId::Maze2dUmazeDense,
        EnvId::Maze2dMediumDense,
        EnvId::Maze2dLargeDense,
        EnvId::Door,
        EnvId::Pen,
    ];

    /// The short name (`halfcheetah`, `maze2d-umaze-dense`).
    pub fn name(self) -> &'static str {
        match self {
            EnvId::HalfCheetah => "halfcheetah",
            EnvId::Hopper => "hopper",
            EnvId::Walker2d => "walker2d",
            EnvId::Ant => "ant",
            EnvId::Maze2dUmaze => "maze2d-umaze",
            EnvId::Maze2dMedium => "maze2d-medium",
            EnvId::Maze2dLarge => "maze2d-large",
            EnvId::Maze2dUmazeDense => "maze2d-umaze-dense",
            EnvId::Maze2dMediumDense => "maze2d-medium-dense",
            EnvId::Maze2dLargeDense => "maze2d-large-dense",
            EnvId::Door => "door",
            EnvId::Pen => "pen",
        }
    }

    /// Parses an env name or a D4RL dataset id: `hopper`, `Hopper-v4`, `hopper-medium-v2`,
    /// `half_cheetah`, `maze2d-umaze-v1`, `maze2d-large-dense-v1`, `door`, `door-human-v0`,
    /// `pen-expert-v1` (case-insensitive).
    pub fn parse(name: &str) -> Result<EnvId, EnvError> {
        let key = strip_version(&name.trim().to_ascii_lowercase()).replace('_', "");
        let found = if let Some(rest) = key.strip_prefix("maze2d-") {
            let dense = rest.ends_with("-dense");
            match (rest.trim_end_matches("-dense"), dense) {
                ("umaze", false) => Some(EnvId::Maze2dUmaze),
                ("medium", false) => Some(EnvId::Maze2dMedium),
                ("large", false) => Some(EnvId::Maze2dLarge),
                ("umaze", true) => Some(EnvId::Maze2dUmazeDense),
                ("medium", true) => Some(EnvId::Maze2dMediumDense),
                ("large", true) => Some(EnvId::Maze2dLargeDense),
                _ => None,
            }
        } else {
            let (head, variant) = key.split_once('-').unwrap_or((key.as_str(), ""));
            let known_variant = variant.is_empty() || LOCOMOTION_VARIANTS.contains(&variant);
            let adroit_variant = variant.is_empty() || ADROIT_VARIANTS.contains(&variant);
            match head {
                "door" if adroit_variant => Some(EnvId::Door),
                "pen" if adroit_variant => Some(EnvId::Pen),
                "halfcheetah" if known_variant => Some(EnvId::HalfCheetah),
                "hopper" if known_variant => Some(EnvId::Hopper),
                "walker2d" if known_variant => Some(EnvId::Walker2d),
                "ant" if known_variant => Some(EnvId::Ant),
                _ => None,
            }
        };
        found.ok_or_else(|| EnvError::UnknownEnv {
            name: name.to_string(),
            expected: format!(
                "{} (or a D4RL dataset id such as hopper-medium-v2, maze2d-umaze-v1, door-human-v0)",
                EnvId::ALL.map(EnvId::name).join(", ")
            ),
        })
    }

    /// Whether this is a Maze2d variant (§6.1).
    pub fn is_maze2d(self) -> bool {
        matches!(
            self,
            EnvId::Maze2dUmaze
                | EnvId::Maze2dMedium
                | EnvId::Maze2dLarge
                | EnvId::Maze2dUmazeDense
                | EnvId::Maze2dMediumDense
                | EnvId::Maze2dLargeDense
        )
    }

    /// Whether this is an Adroit hand task (§6.3).
    pub fn is_adroit(self) -> bool {
        matches!(self, EnvId::Door | EnvId::Pen)
    }

    /// D4RL's (mj_envs') episode success rule: the goal achieved in more than this many steps of
    /// the episode (door 25, pen 20); `None` for tasks without one.
    pub fn success_min_steps(self) -> Option<usize> {
        match self {
            EnvId::Door => Some(25),
            EnvId::Pen => Some(20),
            _ => None,
        }
    }

    /// D4RL dataset ids recorded in this environment.
    pub fn datasets(self) -> Vec<String> {
        if self.is_maze2d() {
            vec![format!("{}-v1", self.name())]
        } else if self.is_adroit() {
            ADROIT_VARIANTS
                .iter()
                .map(|v| format!("{}-{v}-v0", self.name()))
                .collect()
        } else {
            LOCOMOTION_VARIANTS
                .iter()
                .map(|v| format!("{}-{v}-v2", self.name()))
                .collect()
        }
    }

    /// The static description (dimensions from §2.2, §6.1 and §6.3).
    pub fn spec(self) -> EnvSpec {
        // (obs_dim, act_dim, nq, nv, frame_skip, timestep, max_episode_steps)
        let (obs_dim, act_dim, nq, nv, frame_skip, timestep, max_episode_steps) = match self {
            EnvId::HalfCheetah => (17, 6, 9, 9, 5, 0.01, 1000),
            EnvId::Hopper => (11, 3, 6, 6, 4, 0.002, 1000),
            EnvId::Walker2d => (17, 6, 9, 9, 4, 0.002, 1000),
            EnvId::Ant => (111, 8, 15, 14, 5, 0.01, 1000),
            EnvId::Maze2dUmaze | EnvId::Maze2dUmazeDense => (4, 2, 2, 2, 1, 0.01, 300),
            EnvId::Maze2dMedium | EnvId::Maze2dMediumDense => (4, 2, 2, 2, 1, 0.01, 600),
            EnvId::Maze2dLarge | EnvId::Maze2dLargeDense => (4, 2, 2, 2, 1, 0.01, 800),
            EnvId::Door => (39, 28, 30, 30, 5, 0.002, 200),
            EnvId::Pen => (45, 24, 30, 30, 5, 0.002, 100),
        };
        EnvSpec {
            id: self,
            name: self.name(),
            obs_dim,
            act_dim,
            nq,
            nv,
            frame_skip,
            dt: timestep * frame_skip as f64,
            max_episode_steps,
            datasets: self.datasets(),
            ref_scores: ref_scores(self.name()).expect("every EnvId has a row in the score table"),
        }
    }
}

/// Drops a trailing `-v<digits>` version suffix.
pub(crate) fn strip_version(name: &str) -> &str {
    match name.rfind("-v") {
        Some(i) if name.len() > i + 2 && name[i + 2..].bytes().all(|b| b.is_ascii_digit()) => {
            &name[..i]
        }
        _ => name,
    }
}
