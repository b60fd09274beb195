//! Maze2d (D4RL `maze2d-*-v1`, envs-and-data.md §6.1; `d4rl/pointmaze/maze_model.py`): a point
//! mass with two slide joints in a maze of unit cells, MJCF generated from the layout.
//!
//! Each step clips the action to ±1 and the velocity to ±5, then runs one 0.01 s Euler step.
//! obs = [qpos, qvel]; the sparse reward is 1 when ‖qpos − target‖ ≤ 0.5 after the step (dense:
//! exp(−‖qpos − target‖)); never terminal. The target is the goal cell `G` (row, column); resets
//! pick a uniformly random empty-or-goal cell plus U(−0.1, 0.1) on qpos and 0.1·N(0, 1) on qvel.

use std::fmt::Write as _;
use std::sync::OnceLock;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::env::{Env, Step, check_len};
use crate::error::EnvError;
use crate::locomotion::{add_normal, add_uniform};
use crate::sim::{Model, Sim, cached_model, clip_action};
use crate::spec::{EnvId, EnvSpec};

/// D4RL `U_MAZE` (rows; `#` wall, `O` free, `G` goal).
pub const U_MAZE: [&str; 5] = ["#####", "#GOO#", "###O#", "#OOO#", "#####"];

/// D4RL `MEDIUM_MAZE` (8×8).
pub const MEDIUM_MAZE: [&str; 8] = [
    "########", "#OO##OO#", "#OO#OOO#", "##OOO###", "#OO#OOO#", "#O#OO#O#", "#OOO#OG#", "########",
];

/// D4RL `LARGE_MAZE` (9×12).
pub const LARGE_MAZE: [&str; 9] = [
    "############",
    "#OOOO#OOOOO#",
    "#O##O#O#O#O#",
    "#OOOOOO#OOO#",
    "#O####O###O#",
    "#OO#O#OOOOO#",
    "##O#O#O#O###",
    "#OO#OOO#OGO#",
    "############",
];

/// Distance to the target within which the sparse reward is 1.
pub const GOAL_RADIUS: f64 = 0.5;
/// `clip_velocity` bound applied before every step.
pub const MAX_SPEED: f64 = 5.0;

/// The layout rows of a Maze2d env.
pub fn layout(id: EnvId) -> &'static [&'static str] {
    match id {
        EnvId::Maze2dUmaze | EnvId::Maze2dUmazeDense => &U_MAZE,
        EnvId::Maze2dMedium | EnvId::Maze2dMediumDense => &MEDIUM_MAZE,
        _ => &LARGE_MAZE,
    }
}

/// The point-maze MJCF of `maze_model.py::point_maze` (visual-only textures and lights left out).
pub fn maze_mjcf(rows: &[&str]) -> String {
    let mut walls = String::new();
    for (r, row) in rows.iter().enumerate() {
        for (c, tile) in row.chars().enumerate() {
            if tile == '#' {
                let _ = writeln!(
                    walls,
                    r#"    <geom conaffinity="1" type="box" name="wall_{r}_{c}" pos="{} {} 0" size="0.5 0.5 0.2" rgba=".7 .5 .3 1"/>"#,
                    r as f64 + 1.0,
                    c as f64 + 1.0
                );
            }
        }
    }
    format!(
        r#"<mujoco model="point_maze">
  <compiler inertiafromgeom="true" angle="radian"/>
  <option timestep="0.01" gravity="0 0 0" iterations="20" integrator="Euler"/>
  <default>
    <joint damping="1" limited="false"/>
    <geom friction=".5 .1 .1" density="1000" margin="0.002" condim="1" contype="2" conaffinity="1"/>
  </default>
  <worldbody>
    <geom name="ground" size="40 40 0.25" pos="0 0 -0.1" type="plane" contype="1" conaffinity="0"/>
    <body name="particle" pos="1.2 1.2 0">
      <geom name="particle_geom" type="sphere" size="0.1" rgba="0 0 1 0" contype="1"/>
      <site name="particle_site" pos="0 0 0" size="0.2" rgba="0.3 0.6 0.3 1"/>
      <joint name="ball_x" type="slide" pos="0 0 0" axis="1 0 0"/>
      <joint name="ball_y" type="slide" pos="0 0 0" axis="0 1 0"/>
    </body>
    <site name="target_site" pos="0 0 0" size="0.2" rgba=".6 .3 .3 1"/>
{walls}  </worldbody>
  <actuator>
    <motor joint="ball_x" ctrlrange="-1 1" ctrllimited="true" gear="100"/>
    <motor joint="ball_y" ctrlrange="-1 1" ctrllimited="true" gear="100"/>
  </actuator>
</mujoco>
"#
    )
}

/// A Maze2d environment.
pub(crate) struct Maze2d {
    sim: Sim,
    spec: EnvSpec,
    dense: bool,
    /// The goal position in qpos coordinates (the `G` cell's row and column).
    target: [f64; 2],
    /// Empty cells in row-major order, then the goal cell (`empty_and_goal_locations`).
    reset_cells: Vec<[f64; 2]>,
    elapsed: usize,
}

impl Maze2d {
    /// Builds the maze env `id` (one of the six Maze2d ids).
    pub fn new(id: EnvId) -> Result<Self, EnvError> {
        let model = Self::model(id)?;
        let spec = id.spec();
        let rows = layout(id);
        let mut reset_cells = Vec::new();
        let mut goal = None;
        for (r, row) in rows.iter().enumerate() {
            for (c, tile) in row.chars().enumerate() {
                match tile {
                    'O' => reset_cells.push([r as f64, c as f64]),
                    'G' => goal = Some([r as f64, c as f64]),
                    _ => {}
                }
            }
        }
        let target = goal.expect("every D4RL maze layout has one goal cell");
        reset_cells.push(target);
        let dense = matches!(
            id,
            EnvId::Maze2dUmazeDense | EnvId::Maze2dMediumDense | EnvId::Maze2dLargeDense
        );
        let sim = Sim::new(model, spec.frame_skip);
        Ok(Maze2d {
            sim,
            spec,
            dense,
            target,
            reset_cells,
            elapsed: 0,
        })
    }

    fn model(id: EnvId) -> Result<Model, EnvError> {
        static UMAZE: OnceLock<Result<Model, String>> = OnceLock::new();
        static MEDIUM: OnceLock<Result<Model, String>> = OnceLock::new();
        static LARGE: OnceLock<Result<Model, String>> = OnceLock::new();
        let (cell, name) = match layout(id).len() {
            5 => (&UMAZE, "maze2d-umaze"),
            8 => (&MEDIUM, "maze2d-medium"),
            _ => (&LARGE, "maze2d-large"),
        };
        cached_model(cell, name, || maze_mjcf(layout(id)))
    }

    fn reward(&self, qpos: &[f64]) -> f64 {
        let distance = (qpos[0] - self.target[0]).hypot(qpos[1] - self.target[1]);
        if self.dense {
            (-distance).exp()
        } else if distance <= GOAL_RADIUS {
            1.0
        } else {
            0.0
        }
    }
}

impl Env for Maze2d {
    fn spec(&self) -> &EnvSpec {
        &self.spec
    }

    fn reset(&mut self, seed: u64) -> Vec<f64> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut qpos = self.reset_cells[rng.random_range(0..self.reset_cells.len())].to_vec();
        let mut qvel = vec![0.0; 2];
        add_uniform(&mut rng, &mut qpos, 0.1);
        add_normal(&mut rng, &mut qvel, 0.1);
        self.sim.reset_to(&qpos, &qvel);
        self.elapsed = 0;
        self.observation()
    }

    fn reset_to_state(&mut self, qpos: &[f64], qvel: &[f64]) -> Result<Vec<f64>, EnvError> {
        check_len(&self.spec, "qpos", qpos.len(), 2)?;
        check_len(&self.spec, "qvel", qvel.len(), 2)?;
        self.sim.reset_to(qpos, qvel);
        self.elapsed = 0;
        Ok(self.observation())
    }

    fn step(&mut self, action: &[f64]) -> Result<Step, EnvError> {
        check_len(&self.spec, "action", action.len(), 2)?;
        let action = clip_action(action);
        for v in self.sim.data.qvel_mut() {
            *v = v.clamp(-MAX_SPEED, MAX_SPEED);
        }
        self.sim.advance(&action);
        self.elapsed += 1;
        let obs = self.observation();
        Ok(Step {
            reward: self.reward(&obs[..2]),
            obs,
            terminal: false,
            timeout: self.elapsed >= self.spec.max_episode_steps,
        })
    }

    fn set_state_from_obs(&mut self, obs: &[f64]) -> Result<(), EnvError> {
        check_len(&self.spec, "observation", obs.len(), 4)?;
        self.sim.reset_to(&obs[..2], &obs[2..]);
        self.elapsed = 0;
        Ok(())
    }

    fn sim_state(&self) -> Option<(Vec<f64>, Vec<f64>)> {
        let data = &self.sim.data;
        Some((data.qpos().to_vec(), data.qvel().to_vec()))
    }

    fn observation(&self) -> Vec<f64> {
        let data = &self.sim.data;
        data.qpos().iter().chain(data.qvel()).copied().collect()
    }
}
