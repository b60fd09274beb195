//! D4RL's maze2d data-collection controller (envs-and-data.md §6.1, `d4rl/pointmaze/
//! waypoint_controller.py`): shortest-path waypoints over the maze grid, then a PD controller
//! `10·(waypoint − pos) − 1·vel`, clipped to ±1, plus Gaussian action noise for the `noisy` data.
//!
//! The grid path is a breadth-first search from the goal cell (on a 4-connected unit grid BFS
//! gives the same shortest paths as D4RL's 50-iteration Q-iteration with γ = 0.99).

use std::collections::VecDeque;

use rand_distr::{Distribution, Normal};

use crate::maze2d::layout;
use crate::policy::{Policy, PolicyRng};
use crate::spec::EnvId;

/// The waypoint controller for one maze and its goal cell.
#[derive(Clone, Debug)]
pub struct WaypointPolicy {
    /// Steps to the goal from each cell (u32::MAX for walls), row-major.
    dist: Vec<u32>,
    cols: usize,
    rows: usize,
    goal: [f64; 2],
    /// Standard deviation of the Gaussian action noise (D4RL's noisy data: 0.5).
    pub noise_std: f32,
    /// Proportional gain (10).
    pub p_gain: f64,
    /// Derivative gain on velocity (1).
    pub d_gain: f64,
}

impl WaypointPolicy {
    /// The controller for maze `id` (a Maze2d id) towards its `G` cell.
    pub fn new(id: EnvId, noise_std: f32) -> Self {
        let rows_s = layout(id);
        let (rows, cols) = (rows_s.len(), rows_s[0].len());
        let free: Vec<bool> = rows_s
            .iter()
            .flat_map(|r| r.chars().map(|c| c != '#'))
            .collect();
        let g = rows_s
            .iter()
            .enumerate()
            .find_map(|(r, row)| row.find('G').map(|c| (r, c)))
            .expect("maze layouts have a goal");
        let mut dist = vec![u32::MAX; rows * cols];
        dist[g.0 * cols + g.1] = 0;
        let mut queue = VecDeque::from([g]);
        while let Some((r, c)) = queue.pop_front() {
            let here = dist[r * cols + c];
            for (dr, dc) in [(-1i64, 0i64), (1, 0), (0, -1), (0, 1)] {
                let (nr, nc) = (r as i64 + dr, c as i64 + dc);
                if nr < 0 || nc < 0 || nr >= rows as i64 || nc >= cols as i64 {
                    continue;
                }
                let k = nr as usize * cols + nc as usize;
                if free[k] && dist[k] == u32::MAX {
                    dist[k] = here + 1;
                    queue.push_back((nr as usize, nc as usize));
                }
            }
        }
        Self {
            dist,
            cols,
            rows,
            goal: [g.0 as f64, g.1 as f64],
            noise_std,
            p_gain: 10.0,
            d_gain: 1.0,
        }
    }

    /// Steps from cell (r, c) to the goal (None for walls or outside).
    pub fn steps_to_goal(&self, r: usize, c: usize) -> Option<u32> {
        (r < self.rows && c < self.cols)
            .then(|| self.dist[r * self.cols + c])
            .filter(|&d| d != u32::MAX)
    }

    /// The next waypoint (a cell centre, or the goal itself) from position `pos`.
    pub fn waypoint(&self, pos: [f64; 2]) -> [f64; 2] {
        let (r, c) = (
            pos[0].round().max(0.0) as usize,
            pos[1].round().max(0.0) as usize,
        );
        let Some(d) = self.steps_to_goal(r, c) else {
            return self.goal;
        };
        if d == 0 {
            return self.goal;
        }
        for (dr, dc) in [(-1i64, 0i64), (1, 0), (0, -1), (0, 1)] {
            let (nr, nc) = (r as i64 + dr, c as i64 + dc);
            if nr >= 0 && nc >= 0 && self.steps_to_goal(nr as usize, nc as usize) == Some(d - 1) {
                return [nr as f64, nc as f64];
            }
        }
        self.goal
    }
}

impl Policy for WaypointPolicy {
    fn act_batch(&self, observations: &[f32], n: usize, rngs: &mut [PolicyRng]) -> Vec<f32> {
        let noise = Normal::new(0.0f32, self.noise_std.max(0.0)).expect("finite std");
        let mut out = Vec::with_capacity(2 * n);
        for (i, rng) in rngs.iter_mut().enumerate().take(n) {
            let o = &observations[4 * i..4 * i + 4];
            let wp = self.waypoint([o[0] as f64, o[1] as f64]);
            for k in 0..2 {
                let a = self.p_gain * (wp[k] - o[k] as f64) - self.d_gain * o[2 + k] as f64;
                let eps = if self.noise_std > 0.0 {
                    noise.sample(rng)
                } else {
                    0.0
                };
                out.push((a.clamp(-1.0, 1.0) as f32 + eps).clamp(-1.0, 1.0));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bfs_distances_follow_the_u_maze() {
        // U_MAZE: goal (1,1); path (1,1)-(1,2)-(1,3)-(2,3)-(3,3)-(3,2)-(3,1).
        let p = WaypointPolicy::new(EnvId::Maze2dUmaze, 0.0);
        let want = [
            ((1, 1), 0),
            ((1, 2), 1),
            ((1, 3), 2),
            ((2, 3), 3),
            ((3, 3), 4),
            ((3, 2), 5),
            ((3, 1), 6),
        ];
        for ((r, c), d) in want {
            assert_eq!(p.steps_to_goal(r, c), Some(d), "cell ({r},{c})");
        }
        assert_eq!(p.steps_to_goal(0, 0), None);
        assert_eq!(p.waypoint([3.1, 1.0]), [3.0, 2.0]);
        assert_eq!(p.waypoint([1.0, 1.2]), [1.0, 1.0]);
    }
}
