//! Learning-rate schedules (method.md §5; reference-code-notes.md §6).

use serde::{Deserialize, Serialize};

/// Which LR schedule to follow.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LrScheduleKind {
    /// Cosine with warm restarts, no warm-up, η_min = 0 (the reference's "cosinewarmup"):
    /// `lr(t) = lr/2 · (1 + cos(π · (t mod P) / P))`.
    #[default]
    CosineRestarts,
    /// Linear warm-up over `warmup_steps`, then one cosine to 0 at `total_steps`.
    WarmupCosine,
    /// Constant learning rate.
    Constant,
}

/// The learning rate after `t` optimizer steps (t = 0 for the first step).
///
/// `period` is the restart period P of `cosine_restarts` (the reference uses total/10).
pub fn learning_rate(
    kind: LrScheduleKind,
    base_lr: f64,
    t: u64,
    total_steps: u64,
    period: u64,
    warmup_steps: u64,
) -> f64 {
    let cosine =
        |num: f64, den: f64| 0.5 * base_lr * (1.0 + (std::f64::consts::PI * num / den).cos());
    match kind {
        LrScheduleKind::CosineRestarts => {
            let p = period.max(1);
            cosine((t % p) as f64, p as f64)
        }
        LrScheduleKind::WarmupCosine => {
            let w = warmup_steps.min(total_steps);
            if t < w {
                base_lr * (t + 1) as f64 / w as f64
            } else {
                let span = total_steps.saturating_sub(w).max(1);
                cosine((t - w).min(span) as f64, span as f64)
            }
        }
        LrScheduleKind::Constant => base_lr,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_restarts_matches_reference_formula() {
        // method.md §5: lr(t) = 1.5e-4 · (1 + cos(π · (t mod 100000) / 100000)).
        let f = |t: u64| {
            learning_rate(
                LrScheduleKind::CosineRestarts,
                3e-4,
                t,
                1_000_000,
                100_000,
                0,
            )
        };
        assert!((f(0) - 3e-4).abs() < 1e-15);
        assert!((f(50_000) - 1.5e-4).abs() < 1e-12);
        assert!((f(100_000) - 3e-4).abs() < 1e-15, "restart at the period");
        let t = 123_456u64;
        let want = 1.5e-4 * (1.0 + (std::f64::consts::PI * 23_456.0 / 100_000.0).cos());
        assert!((f(t) - want).abs() < 1e-15);
    }

    #[test]
    fn warmup_cosine_ramps_then_decays_to_zero() {
        let f = |t: u64| learning_rate(LrScheduleKind::WarmupCosine, 1.0, t, 110, 11, 10);
        assert!((f(0) - 0.1).abs() < 1e-12);
        assert!((f(9) - 1.0).abs() < 1e-12);
        assert!((f(10) - 1.0).abs() < 1e-12);
        assert!((f(60) - 0.5).abs() < 1e-12);
        assert!(f(110).abs() < 1e-12);
    }
}
