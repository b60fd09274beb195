//! The condition c of each generated window (method.md §6.5 and the ablation modes of §11).

use gta_diffusion::sampler::amplify_return;

use crate::config::ConditionMode;

/// Conditions for the source windows whose *training* conditions (c = 0.01·R, already scaled)
/// are `source_cond`; `all_cond` holds every window's condition (for R_max of the fixed mode).
/// Because scaling by 0.01 is positive, amp(0.01·R) = 0.01·amp(R), so this works on scaled values.
pub fn conditions(
    mode: &ConditionMode,
    alpha: f64,
    source_cond: &[f32],
    all_cond: &[f32],
) -> Vec<f32> {
    match mode {
        ConditionMode::Amplified => source_cond
            .iter()
            .map(|&c| amplify_return(c as f64, alpha) as f32)
            .collect(),
        ConditionMode::Fixed { factor } => {
            let c_max = all_cond.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
            let floor = factor * c_max;
            source_cond
                .iter()
                .map(|&c| {
                    if (c as f64) < floor {
                        floor as f32
                    } else {
                        c_max as f32
                    }
                })
                .collect()
        }
        // The condition is not used by the unconditional model; keep the source's for the record.
        ConditionMode::Unconditioned | ConditionMode::RewardInpainting => source_cond.to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amplified_scales_positive_up_and_negative_toward_zero() {
        let c = conditions(&ConditionMode::Amplified, 1.3, &[4.8, -2.0, 0.0], &[]);
        assert!((c[0] - 6.24).abs() < 1e-6);
        assert!((c[1] + 1.4).abs() < 1e-6);
        assert_eq!(c[2], 0.0);
    }

    #[test]
    fn fixed_mode_uses_the_largest_window_return() {
        let all = [1.0, 3.0, 2.0, 5.0];
        assert_eq!(
            conditions(
                &ConditionMode::Fixed { factor: 1.0 },
                1.3,
                &[1.0, 5.0],
                &all
            ),
            vec![5.0, 5.0]
        );
        // f = 0.5: windows below 2.5 get 2.5, the rest get R_max = 5.
        assert_eq!(
            conditions(
                &ConditionMode::Fixed { factor: 0.5 },
                1.3,
                &[1.0, 3.0, 2.0],
                &all
            ),
            vec![2.5, 5.0, 2.5]
        );
    }
}
