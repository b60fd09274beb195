//! Settings of one augmentation run (method.md §6, §7.4, §11; reference-code-notes.md).

use gta_data::Reweighting;
use gta_diffusion::sampler::SamplerConfig;
use serde::{Deserialize, Serialize};

/// How the condition of each generated window is chosen (method.md §6.5, §11).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ConditionMode {
    /// c = 0.01·amp(R, α): α·R for R > 0, (2 − α)·R for R < 0 (paper eq. 11; the GTA default).
    Amplified,
    /// c = 0.01·R_max for every window, where R_max is the largest window return in the data;
    /// with `factor` f < 1, windows with R < f·R_max get f·R_max and the rest R_max (method.md §11).
    Fixed {
        /// f, the historical variant's threshold factor (1 = every window gets R_max).
        factor: f64,
    },
    /// No return guidance: the unconditional model only (w forced to 0; method.md §11).
    Unconditioned,
    /// Amplified reward inpainting (paper E.6): no guidance; the reward channel of rows 0…T−2 is
    /// overwritten with normalize(α·r_src) after every sampler step.
    RewardInpainting,
}

/// Everything `gta augment` needs besides the model and the dataset. Defaults are the
/// locomotion defaults of method.md §7.4 and the paper-faithful choices of the reference notes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AugmentConfig {
    /// μ: partial-noising ratio; denoising starts at k0 = ⌊N(1 − μ)⌋ (method.md §6.2; 0.5).
    pub mu: f64,
    /// α: return multiplier of the amplified condition (eq. 11; 1.3 for locomotion).
    pub alpha: f64,
    /// How conditions are chosen.
    pub condition: ConditionMode,
    /// Sampler constants and the guidance scale w (2.0) and its placement.
    pub sampler: SamplerConfig,
    /// Number of generated transitions to write (5,000,000; method.md §6.6). The last window is
    /// cut so the file holds exactly this many.
    pub transitions: usize,
    /// Windows denoised per batch (1000 in the reference); also the unit of resumable chunks.
    pub batch_windows: usize,
    /// Source-window selection: uniform shuffled passes, dense bins or sparse episodes (§2.6).
    pub reweighting: Reweighting,
    /// Only windows whose source episode's undiscounted return is at least this are used as
    /// sources (the mixed-quality experiment of paper E.2); `None` = all windows.
    pub min_episode_return: Option<f64>,
    /// Add the terminal penalty P back to generated rewards at copied terminal flags before
    /// writing (method.md §2.4; reference-code-notes.md §4: the official code never does).
    pub restore_terminal_reward: bool,
    /// The penalty P the model was trained with (100; 0 when the dataset had none).
    pub terminal_penalty: f32,
    /// Reference compatibility: condition dropout left on while sampling (0.25 in the official
    /// code; 0 = the paper's sampler; reference-code-notes.md §3).
    pub sample_cond_dropout: f64,
    /// Clip generated actions to [−1, 1] (off by default: counted and reported instead; notes §13).
    pub clip_actions: bool,
    /// Also write the original transitions in front of the generated ones.
    pub include_original: bool,
    /// Seed of source-window choice and sampler noise.
    pub seed: u64,
}

impl Default for AugmentConfig {
    fn default() -> Self {
        Self {
            mu: 0.5,
            alpha: 1.3,
            condition: ConditionMode::Amplified,
            sampler: SamplerConfig::default(),
            transitions: 5_000_000,
            batch_windows: 1000,
            reweighting: Reweighting::None,
            min_episode_return: None,
            restore_terminal_reward: true,
            terminal_penalty: 100.0,
            sample_cond_dropout: 0.0,
            clip_actions: false,
            include_original: false,
            seed: 0,
        }
    }
}

impl AugmentConfig {
    /// Checks ranges; the message names the field and the expected value.
    pub fn validate(&self) -> Result<(), crate::AugmentError> {
        let bad = |field: &str, expected: &str, got: String| {
            Err(crate::AugmentError::Config(format!(
                "{field} = {got}: expected {expected}"
            )))
        };
        if !(0.0..=1.0).contains(&self.mu) {
            return bad("mu", "a ratio in [0, 1]", self.mu.to_string());
        }
        if !self.alpha.is_finite() || self.alpha <= 0.0 {
            return bad(
                "alpha",
                "a positive multiplier (e.g. 1.3)",
                self.alpha.to_string(),
            );
        }
        if !self.sampler.guidance_scale.is_finite() {
            return bad(
                "guidance_scale",
                "a finite scale (e.g. 2.0)",
                self.sampler.guidance_scale.to_string(),
            );
        }
        if self.transitions == 0 {
            return bad("transitions", "at least 1", "0".into());
        }
        if self.batch_windows == 0 {
            return bad("batch_windows", "at least 1", "0".into());
        }
        if !(0.0..1.0).contains(&self.sample_cond_dropout) {
            return bad(
                "sample_cond_dropout",
                "a probability in [0, 1)",
                self.sample_cond_dropout.to_string(),
            );
        }
        Ok(())
    }
}
