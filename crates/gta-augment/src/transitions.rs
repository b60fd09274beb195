//! From generated windows to transitions (method.md §6.7) and the terminal-reward restoration
//! of §2.4 / reference-code-notes.md §4.

/// The columns of a block of generated transitions.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Transitions {
    /// (n, obs_dim) states s: rows 0…T−2, columns [0, obs).
    pub observations: Vec<f32>,
    /// (n, act_dim) actions: rows 0…T−2, columns [obs, obs+act).
    pub actions: Vec<f32>,
    /// (n,) rewards: rows 0…T−2, column obs+act (penalty restored if asked).
    pub rewards: Vec<f32>,
    /// (n, obs_dim) next states s′: rows **1…T−1**, columns [0, obs).
    pub next_observations: Vec<f32>,
    /// (n,) terminal flags copied from the source window, same positions.
    pub terminals: Vec<bool>,
    /// (n,) the generated window each transition belongs to.
    pub window_id: Vec<u32>,
    /// (n,) position 0…T−2 inside its window.
    pub step_in_window: Vec<u32>,
}

impl Transitions {
    /// Number of transitions.
    pub fn len(&self) -> usize {
        self.rewards.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.rewards.is_empty()
    }

    /// Keeps the first `n` transitions.
    pub fn truncate(&mut self, n: usize, obs_dim: usize, act_dim: usize) {
        self.observations.truncate(n * obs_dim);
        self.actions.truncate(n * act_dim);
        self.rewards.truncate(n);
        self.next_observations.truncate(n * obs_dim);
        self.terminals.truncate(n);
        self.window_id.truncate(n);
        self.step_in_window.truncate(n);
    }
}

/// Splits raw (un-normalized) windows `windows` (B, T, D) into B·(T−1) transitions.
/// `terminals` (B, T−1) are the source windows' flags; `first_window_id` numbers the windows.
/// With `restore_penalty = Some(P)`, P is added back to the reward wherever the copied flag is
/// set (the model learned to emit r − P there). The action and reward of row T−1 are discarded.
pub fn split_windows(
    windows: &[f32],
    horizon: usize,
    obs_dim: usize,
    act_dim: usize,
    terminals: &[bool],
    first_window_id: u32,
    restore_penalty: Option<f32>,
) -> Transitions {
    let d = obs_dim + act_dim + 1;
    let l = horizon - 1;
    let b = windows.len() / (horizon * d);
    assert_eq!(windows.len(), b * horizon * d, "windows must be (B, T, D)");
    assert_eq!(terminals.len(), b * l, "terminals must be (B, T-1)");
    let mut t = Transitions::default();
    for w in 0..b {
        let win = &windows[w * horizon * d..(w + 1) * horizon * d];
        for k in 0..l {
            let row = &win[k * d..(k + 1) * d];
            let next = &win[(k + 1) * d..(k + 1) * d + obs_dim];
            let terminal = terminals[w * l + k];
            t.observations.extend_from_slice(&row[..obs_dim]);
            t.actions
                .extend_from_slice(&row[obs_dim..obs_dim + act_dim]);
            let mut r = row[obs_dim + act_dim];
            if let (true, Some(p)) = (terminal, restore_penalty) {
                r += p;
            }
            t.rewards.push(r);
            t.next_observations.extend_from_slice(next);
            t.terminals.push(terminal);
            t.window_id.push(first_window_id + w as u32);
            t.step_in_window.push(k as u32);
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_become_transitions_with_next_states_from_the_following_row() {
        // obs 2, act 1, D = 4, T = 3: two transitions per window; values encode (w, row, col).
        let (t_rows, d) = (3, 4);
        let windows: Vec<f32> = (0..2 * t_rows * d).map(|i| i as f32).collect();
        let terminals = [false, false, false, true];
        let t = split_windows(&windows, 3, 2, 1, &terminals, 10, Some(100.0));
        assert_eq!(t.len(), 4);
        assert_eq!(t.observations, vec![0., 1., 4., 5., 12., 13., 16., 17.]);
        assert_eq!(t.actions, vec![2., 6., 14., 18.]);
        assert_eq!(
            t.next_observations,
            vec![4., 5., 8., 9., 16., 17., 20., 21.]
        );
        // Reward of window 1, row 1 is 19, restored by +100 because its copied flag is set.
        assert_eq!(t.rewards, vec![3., 7., 15., 119.]);
        assert_eq!(t.terminals, terminals.to_vec());
        assert_eq!(t.window_id, vec![10, 10, 11, 11]);
        assert_eq!(t.step_in_window, vec![0, 1, 0, 1]);
        // next_obs of transition k equals obs of k + 1 inside a window.
        assert_eq!(&t.next_observations[0..2], &t.observations[2..4]);
        let unrestored = split_windows(&windows, 3, 2, 1, &terminals, 0, None);
        assert_eq!(unrestored.rewards[3], 19.0);
    }
}
