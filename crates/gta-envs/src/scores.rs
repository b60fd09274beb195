//! D4RL normalized scores: `100 · (return − REF_MIN) / (REF_MAX − REF_MIN)` with the reference
//! constants of `d4rl/infos.py` (envs-and-data.md §3).

use serde::Serialize;

use crate::error::EnvError;
use crate::spec::strip_version;

/// The two reference returns of one D4RL task family.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RefScores {
    /// REF_MIN_SCORE: the return that maps to 0 (random policy).
    pub min: f64,
    /// REF_MAX_SCORE: the return that maps to 100 (expert policy).
    pub max: f64,
}

impl RefScores {
    /// The normalized score ×100 of an undiscounted episode return (§3).
    pub fn normalize(&self, episode_return: f64) -> f64 {
        100.0 * (episode_return - self.min) / (self.max - self.min)
    }
}

/// Families in the table, for error messages.
const FAMILIES: &str = "halfcheetah/hopper/walker2d/ant-*-v2, maze2d-{umaze,medium,large}[-dense]-v1, \
                        antmaze-*, pen/door/hammer/relocate-*, kitchen-{complete,partial,mixed}-v0";

/// The reference scores of a D4RL dataset id (`hopper-medium-v2`, `maze2d-large-dense-v1`,
/// `antmaze-umaze-diverse-v2`, `door-human-v0`, `kitchen-mixed-v0`) or env name (`hopper`,
/// `maze2d-umaze`); all variants of a family share the constants (§3 table).
pub fn ref_scores(dataset_id: &str) -> Result<RefScores, EnvError> {
    let lower = dataset_id.trim().to_ascii_lowercase().replace('_', "");
    let key = strip_version(&lower);
    let head = key.split('-').next().unwrap_or("");
    let (min, max) = match head {
        "halfcheetah" => (-280.178953, 12135.0),
        "hopper" => (-20.272305, 3234.3),
        "walker2d" => (1.629008, 4592.3),
        "ant" => (-325.6, 3879.7),
        "maze2d" => {
            let dense = key.ends_with("-dense");
            match (key.trim_end_matches("-dense"), dense) {
                ("maze2d-umaze", false) => (23.85, 161.86),
                ("maze2d-medium", false) => (13.13, 277.39),
                ("maze2d-large", false) => (6.7, 273.99),
                ("maze2d-umaze", true) => (68.537689, 193.66285642381482),
                ("maze2d-medium", true) => (44.264742, 297.4552547777125),
                ("maze2d-large", true) => (30.569041, 303.4857382709002),
                _ => return Err(unknown(dataset_id)),
            }
        }
        "antmaze" => (0.0, 1.0),
        "pen" => (96.262799, 3076.8331017826877),
        "door" => (-56.512833, 2880.5693087298737),
        "hammer" => (-274.856578, 12794.134825156867),
        "relocate" => (-6.425911, 4233.877797728884),
        "kitchen" => (0.0, 4.0),
        _ => return Err(unknown(dataset_id)),
    };
    Ok(RefScores { min, max })
}

/// The D4RL normalized score ×100 of an episode return for a dataset id or env name (§3).
pub fn d4rl_score(dataset_id: &str, episode_return: f64) -> Result<f64, EnvError> {
    Ok(ref_scores(dataset_id)?.normalize(episode_return))
}

fn unknown(name: &str) -> EnvError {
    EnvError::UnknownScoreId {
        name: name.to_string(),
        expected: FAMILIES.to_string(),
    }
}
