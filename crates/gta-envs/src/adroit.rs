//! Adroit door and pen with D4RL v0 semantics (`d4rl/hand_manipulation_suite/{door,pen}_v0.py`,
//! envs-and-data.md §6.3), on the gymnasium-robotics 1.4.2 hand models (D4RL's own `DAPG_*.xml`
//! do not load in MuJoCo 3.17).
//!
//! **Models.** `adroit_door.xml` / `adroit_pen.xml` include `adroit_model.xml` and
//! `adroit_assets.xml`, which reference 11 STL meshes. All of them are compiled in
//! (`include_bytes!`, about 1.1 MB) and loaded through MuJoCo's virtual file system, so the binary
//! needs no asset folder at run time. One load-time edit: the 5 PNG textures of
//! `adroit_assets.xml` (visual only, about 1 MB) are replaced by flat builtin textures, so they need
//! not be embedded; nothing that the dynamics read changes. D4RL's actuator changes (wrist gain
//! 10 / bias −10, finger and thumb gain 1 / bias −1) are applied to the compiled model as D4RL
//! does; the 1.4.2 XML already carries these values, so this only pins the semantics.
//!
//! **Common.** timestep 0.002, frame_skip 5 (dt 0.01). Actions are clipped to [−1, 1] and mapped
//! to `mid + a·range` of each actuator's ctrlrange. Reset: `mj_resetData`, `qpos0`, zero velocity,
//! plus the per-episode randomisation below, drawn from the reset seed.
//!
//! **Door** (obs 39, act 28, nq = nv = 30, 200 steps, never terminal):
//! obs = qpos[1:−2] (27) ‖ latch ‖ door angle ‖ palm (S_grasp) ‖ handle (S_handle) ‖ palm − handle
//! ‖ open flag (±1, door angle > 1.0). Reward = −0.1‖palm − handle‖ − 0.1(door − 1.57)²
//! − 1e-5‖qvel‖² + 2·[door > 0.2] + 8·[door > 1.0] + 10·[door > 1.35]. Success: door ≥ 1.35.
//! The door frame's position is drawn per episode: x ∈ U(−0.3, −0.2), y ∈ U(0.25, 0.35),
//! z ∈ U(0.252, 0.35). It is not stored in D4RL files, but the handle position in the observation
//! determines it exactly (the frame has no joint and no rotation), which is how
//! [`Env::reset_to_recorded_state`] and [`Env::set_state_from_obs`] recover it.
//!
//! **Pen** (obs 45, act 24, nq = nv = 30, 100 steps): obs = qpos[:−6] (24) ‖ pen position ‖ pen
//! velocity qvel[−6:] ‖ pen orientation ‖ target orientation ‖ pen − target position (eps_ball) ‖
//! pen − target orientation (orientations are unit vectors bottom → top). Reward = −dist + o
//! (o = orientation similarity) + 10·[dist < 0.075 ∧ o > 0.9] + 50·[dist < 0.075 ∧ o > 0.95], and
//! −5 plus termination when the pen falls below z = 0.075. Success: dist < 0.075 ∧ o > 0.95. The
//! target's orientation is `euler2quat(U(−1, 1), U(−1, 1), 0)` per episode.

use std::sync::OnceLock;

use mujoco_rs::prelude::{MjData, MjModel, MjtObjBase};
use mujoco_rs::wrappers::MjVfs;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::env::{Env, Step, check_len};
use crate::error::EnvError;
use crate::sim::{Model, cached_model_with, clip_action};
use crate::spec::{EnvId, EnvSpec};

/// One embedded file of the `adroit_hand` folder: its path relative to the folder and its bytes.
type Asset = (&'static str, &'static [u8]);

macro_rules! adroit_asset {
    ($path:literal) => {
        (
            $path,
            include_bytes!(concat!(env!("GTA_MUJOCO_ASSETS"), "/adroit_hand/", $path)) as &[u8],
        )
    };
}

/// gymnasium-robotics 1.4.2 `adroit_hand` files (Apache-2.0, Vikash Kumar), copied by
/// `scripts/setup-mujoco.sh`: the two task XMLs, the hand and asset includes, and the meshes
/// `adroit_assets.xml` references (`meshdir="resources/meshes/"`).
const ASSETS: [Asset; 15] = [
    adroit_asset!("adroit_door.xml"),
    adroit_asset!("adroit_pen.xml"),
    adroit_asset!("adroit_model.xml"),
    adroit_asset!("adroit_assets.xml"),
    adroit_asset!("resources/meshes/forearm_simple.stl"),
    adroit_asset!("resources/meshes/wrist.stl"),
    adroit_asset!("resources/meshes/palm.stl"),
    adroit_asset!("resources/meshes/lfmetacarpal.stl"),
    adroit_asset!("resources/meshes/knuckle.stl"),
    adroit_asset!("resources/meshes/F3.stl"),
    adroit_asset!("resources/meshes/F2.stl"),
    adroit_asset!("resources/meshes/F1.stl"),
    adroit_asset!("resources/meshes/TH3_z.stl"),
    adroit_asset!("resources/meshes/TH2_z.stl"),
    adroit_asset!("resources/meshes/TH1_z.stl"),
];

/// MuJoCo steps per env step (both tasks).
pub const FRAME_SKIP: usize = 5;
/// Door: the hinge angle from which the task counts as achieved (D4RL `goal_achieved`).
pub const DOOR_SUCCESS_ANGLE: f64 = 1.35;
/// Pen: the orientation similarity above which (with the position within [`PEN_GOAL_RADIUS`]) the
/// task counts as achieved.
pub const PEN_SUCCESS_SIMILARITY: f64 = 0.95;
/// Pen: the distance to the target position within which the bonuses apply.
pub const PEN_GOAL_RADIUS: f64 = 0.075;
/// Pen: below this height the pen has been dropped (−5 and termination).
pub const PEN_DROP_HEIGHT: f64 = 0.075;

/// `adroit_assets.xml` with every file texture replaced by a flat builtin one (visual only), so
/// the PNGs need not be embedded.
fn assets_xml_without_image_textures(xml: &str) -> String {
    let mut out = String::with_capacity(xml.len());
    for line in xml.split_inclusive('\n') {
        if line.trim_start().starts_with("<texture")
            && let Some(start) = line.find(" file=\"")
        {
            let rest = &line[start + 7..];
            let end = rest.find('"').map_or(line.len(), |e| start + 7 + e + 1);
            let cube = line.contains("type=\"cube\"");
            let size = if cube {
                r#" builtin="flat" rgb1="0.6 0.6 0.6" width="8" height="48""#
            } else {
                r#" builtin="flat" rgb1="0.6 0.6 0.6" width="8" height="8""#
            };
            out.push_str(&line[..start]);
            out.push_str(size);
            out.push_str(&line[end..]);
        } else {
            out.push_str(line);
        }
    }
    out
}

/// Loads `adroit_<task>.xml` from the embedded files through a MuJoCo virtual file system and
/// applies D4RL's actuator changes.
fn load(task_xml: &str) -> Result<MjModel, String> {
    let mut vfs = MjVfs::new();
    for (path, bytes) in ASSETS {
        let result = if path == "adroit_assets.xml" {
            let text = std::str::from_utf8(bytes).map_err(|e| format!("{path}: {e}"))?;
            vfs.add_from_buffer(path, assets_xml_without_image_textures(text).as_bytes())
        } else {
            vfs.add_from_buffer(path, bytes)
        };
        result.map_err(|e| format!("adding {path} to the virtual file system: {e}"))?;
    }
    let mut model = MjModel::from_xml_vfs(task_xml, &vfs).map_err(|e| e.to_string())?;
    let actuator = |name: &str| {
        model
            .name_to_id(MjtObjBase::mjOBJ_ACTUATOR, name)
            .ok_or_else(|| format!("{task_xml} has no actuator {name}"))
    };
    let (wrist, fingers) = (
        actuator("A_WRJ1")?..=actuator("A_WRJ0")?,
        actuator("A_FFJ3")?..=actuator("A_THJ0")?,
    );
    // D4RL door_v0/pen_v0 `__init__`: "change actuator sensitivity".
    // SAFETY: only gain and bias values change; no size, index or address table.
    let (gain, bias) = unsafe {
        (
            model.actuator_gainprm_mut().as_mut_ptr(),
            model.actuator_biasprm_mut().as_mut_ptr(),
        )
    };
    for (range, k) in [(wrist, 10.0), (fingers, 1.0)] {
        for id in range {
            // SAFETY: `id` is an actuator id of this model, so both rows exist.
            let (g, b) = unsafe { (&mut *gain.add(id), &mut *bias.add(id)) };
            g[..3].copy_from_slice(&[k, 0.0, 0.0]);
            b[..3].copy_from_slice(&[0.0, -k, 0.0]);
        }
    }
    Ok(model)
}

/// The shared, modified door model (loaded once per process).
fn door_model() -> Result<Model, EnvError> {
    static MODEL: OnceLock<Result<Model, String>> = OnceLock::new();
    cached_model_with(&MODEL, "door", || load("adroit_door.xml"))
}

/// The shared, modified pen model.
fn pen_model() -> Result<Model, EnvError> {
    static MODEL: OnceLock<Result<Model, String>> = OnceLock::new();
    cached_model_with(&MODEL, "pen", || load("adroit_pen.xml"))
}

/// Looks up a named object of `model`.
fn id_of(
    model: &MjModel,
    env: &'static str,
    kind: MjtObjBase,
    name: &str,
) -> Result<usize, EnvError> {
    model
        .name_to_id(kind, name)
        .ok_or_else(|| EnvError::ModelLoad {
            env,
            reason: format!("the model has no {kind:?} named {name}"),
        })
}

/// The simulation of one Adroit env: its own copy of the model (the tasks move a body per
/// episode, a model parameter), the data, and the action mapping.
struct Hand {
    data: MjData<Box<MjModel>>,
    act_mid: Vec<f64>,
    act_rng: Vec<f64>,
}

impl Hand {
    fn new(base: &Model) -> Hand {
        let model = Box::new(MjModel::clone(base));
        let (act_mid, act_rng) = model
            .actuator_ctrlrange()
            .iter()
            .map(|[lo, hi]| (0.5 * (lo + hi), 0.5 * (hi - lo)))
            .unzip();
        Hand {
            data: MjData::new(model),
            act_mid,
            act_rng,
        }
    }

    /// Clips the action to [−1, 1], maps it to `mid + a·range` and runs `FRAME_SKIP` steps.
    fn apply(&mut self, action: &[f64]) {
        let action = clip_action(action);
        for (c, ((a, mid), rng)) in self
            .data
            .ctrl_mut()
            .iter_mut()
            .zip(action.iter().zip(&self.act_mid).zip(&self.act_rng))
        {
            *c = mid + a * rng;
        }
        for _ in 0..FRAME_SKIP {
            self.data.step();
        }
    }

    /// `mj_resetData`, write the state, `mj_forward`.
    fn set_state(&mut self, qpos: &[f64], qvel: &[f64]) {
        self.data.reset();
        self.data.qpos_mut().copy_from_slice(qpos);
        self.data.qvel_mut().copy_from_slice(qvel);
        self.data.forward();
    }

    /// Sets a body's position relative to its parent (a model parameter); call `forward` after.
    fn set_body_pos(&mut self, body: usize, pos: [f64; 3]) {
        // SAFETY: only a position value changes, no size or index table.
        unsafe { self.data.model_mut() }.body_pos_mut()[body] = pos;
    }

    /// Sets a body's orientation relative to its parent; call `forward` after.
    fn set_body_quat(&mut self, body: usize, quat: [f64; 4]) {
        // SAFETY: only an orientation value changes, no size or index table.
        unsafe { self.data.model_mut() }.body_quat_mut()[body] = quat;
    }

    fn qpos0(&self) -> Vec<f64> {
        self.data.model().qpos0().to_vec()
    }

    fn site(&self, id: usize) -> [f64; 3] {
        self.data.site_xpos()[id]
    }
}

fn sub(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

fn norm(a: [f64; 3]) -> f64 {
    dot(a, a).sqrt()
}

fn scale(a: [f64; 3], k: f64) -> [f64; 3] {
    [a[0] * k, a[1] * k, a[2] * k]
}

fn vec3(values: &[f64]) -> [f64; 3] {
    [values[0], values[1], values[2]]
}

/// Adroit door (D4RL `door-v0`, `door-human-v0`).
pub struct Door {
    hand: Hand,
    spec: EnvSpec,
    /// qpos (and dof) address of `door_hinge`.
    hinge: usize,
    /// Joint id of `ARTz` (the forearm slide, qpos[0]).
    slide: usize,
    grasp_site: usize,
    handle_site: usize,
    /// Body `frame`, whose position is drawn per episode.
    frame: usize,
    elapsed: usize,
}

impl Door {
    /// A door env at `qpos0` with the XML's door position (call `reset` before an episode).
    pub fn new() -> Result<Door, EnvError> {
        let base = door_model()?;
        let spec = EnvId::Door.spec();
        let body = |n| id_of(&base, "door", MjtObjBase::mjOBJ_BODY, n);
        let site = |n| id_of(&base, "door", MjtObjBase::mjOBJ_SITE, n);
        let joint = |n| id_of(&base, "door", MjtObjBase::mjOBJ_JOINT, n);
        let hinge = base.jnt_qposadr()[joint("door_hinge")?] as usize;
        let slide = joint("ARTz")?;
        let (grasp_site, handle_site, frame) =
            (site("S_grasp")?, site("S_handle")?, body("frame")?);
        let mut hand = Hand::new(&base);
        hand.set_state(&hand.qpos0(), &vec![0.0; spec.nv]);
        Ok(Door {
            hand,
            spec,
            hinge,
            slide,
            grasp_site,
            handle_site,
            frame,
            elapsed: 0,
        })
    }

    /// The door frame's position this episode (not in the observation directly).
    pub fn door_position(&self) -> [f64; 3] {
        self.hand.data.model().body_pos()[self.frame]
    }

    /// D4RL's reward of the current state.
    fn reward(&self) -> f64 {
        let data = &self.hand.data;
        let door = data.qpos()[self.hinge];
        let palm_to_handle = norm(sub(
            self.hand.site(self.grasp_site),
            self.hand.site(self.handle_site),
        ));
        let qvel_sq: f64 = data.qvel().iter().map(|v| v * v).sum();
        let mut reward =
            -0.1 * palm_to_handle - 0.1 * (door - 1.57) * (door - 1.57) - 1e-5 * qvel_sq;
        if door > 0.2 {
            reward += 2.0;
        }
        if door > 1.0 {
            reward += 8.0;
        }
        if door > DOOR_SUCCESS_ANGLE {
            reward += 10.0;
        }
        reward
    }

    /// Places the door frame so that the handle site is at `handle` for the current joint state.
    /// The frame hangs from the world without joints or rotation, so the handle moves with it one
    /// to one.
    fn place_door_from_handle(&mut self, handle: [f64; 3]) {
        let current = self.hand.site(self.handle_site);
        let pos = self.door_position();
        let target = [
            pos[0] + handle[0] - current[0],
            pos[1] + handle[1] - current[1],
            pos[2] + handle[2] - current[2],
        ];
        self.hand.set_body_pos(self.frame, target);
        self.hand.data.forward();
    }
}

impl Env for Door {
    fn spec(&self) -> &EnvSpec {
        &self.spec
    }

    fn reset(&mut self, seed: u64) -> Vec<f64> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let pos = [
            rng.random_range(-0.3..-0.2),
            rng.random_range(0.25..0.35),
            rng.random_range(0.252..0.35),
        ];
        self.hand.set_body_pos(self.frame, pos);
        let qpos0 = self.hand.qpos0();
        self.hand.set_state(&qpos0, &vec![0.0; self.spec.nv]);
        self.elapsed = 0;
        self.observation()
    }

    fn reset_to_state(&mut self, qpos: &[f64], qvel: &[f64]) -> Result<Vec<f64>, EnvError> {
        check_len(&self.spec, "qpos", qpos.len(), self.spec.nq)?;
        check_len(&self.spec, "qvel", qvel.len(), self.spec.nv)?;
        self.hand.set_state(qpos, qvel);
        self.elapsed = 0;
        Ok(self.observation())
    }

    fn reset_to_recorded_state(
        &mut self,
        qpos: &[f64],
        qvel: &[f64],
        obs: &[f64],
    ) -> Result<Vec<f64>, EnvError> {
        check_len(&self.spec, "observation", obs.len(), self.spec.obs_dim)?;
        check_len(&self.spec, "qpos", qpos.len(), self.spec.nq)?;
        check_len(&self.spec, "qvel", qvel.len(), self.spec.nv)?;
        // The observation after a step reads positions computed at the start of the last MuJoCo
        // step (mj_step does not recompute them after integrating), i.e. at
        // qpos − timestep·qvel (semi-implicit Euler; every joint is a hinge or slide). Solving the
        // door position at that configuration makes it exact to float32 storage (constant within
        // each door-human demo to 2e-8); at qpos it would be off by up to ~1e-3.
        let h = self.hand.data.model().opt().timestep;
        let kinematic: Vec<f64> = qpos.iter().zip(qvel).map(|(q, v)| q - h * v).collect();
        self.hand.set_state(&kinematic, qvel);
        self.place_door_from_handle(vec3(&obs[32..35]));
        self.reset_to_state(qpos, qvel)
    }

    fn step(&mut self, action: &[f64]) -> Result<Step, EnvError> {
        check_len(&self.spec, "action", action.len(), self.spec.act_dim)?;
        self.hand.apply(action);
        self.elapsed += 1;
        Ok(Step {
            obs: self.observation(),
            reward: self.reward(),
            terminal: false,
            timeout: self.elapsed >= self.spec.max_episode_steps,
        })
    }

    /// qpos from the observation; the forearm slide (qpos[0]) from the palm position, the door
    /// position from the handle position; qvel is not observed and set to 0.
    fn set_state_from_obs(&mut self, obs: &[f64]) -> Result<(), EnvError> {
        check_len(&self.spec, "observation", obs.len(), self.spec.obs_dim)?;
        let nq = self.spec.nq;
        let mut qpos = vec![0.0; nq];
        qpos[1..nq - 2].copy_from_slice(&obs[..27]);
        qpos[nq - 1] = obs[27];
        qpos[self.hinge] = obs[28];
        self.hand.set_state(&qpos, &vec![0.0; self.spec.nv]);
        self.place_door_from_handle(vec3(&obs[32..35]));
        // The slide moves the whole forearm subtree along its axis: palm = palm(0) + q·axis.
        let axis = self.hand.data.xaxis()[self.slide];
        let offset = sub(vec3(&obs[29..32]), self.hand.site(self.grasp_site));
        qpos[0] = dot(offset, axis) / dot(axis, axis);
        self.hand.set_state(&qpos, &vec![0.0; self.spec.nv]);
        self.elapsed = 0;
        Ok(())
    }

    fn observation(&self) -> Vec<f64> {
        let q = self.hand.data.qpos();
        let nq = q.len();
        let door = q[self.hinge];
        let palm = self.hand.site(self.grasp_site);
        let handle = self.hand.site(self.handle_site);
        let mut obs = Vec::with_capacity(self.spec.obs_dim);
        obs.extend_from_slice(&q[1..nq - 2]);
        obs.push(q[nq - 1]);
        obs.push(door);
        obs.extend_from_slice(&palm);
        obs.extend_from_slice(&handle);
        obs.extend_from_slice(&sub(palm, handle));
        obs.push(if door > 1.0 { 1.0 } else { -1.0 });
        obs
    }

    fn sim_state(&self) -> Option<(Vec<f64>, Vec<f64>)> {
        let data = &self.hand.data;
        Some((data.qpos().to_vec(), data.qvel().to_vec()))
    }

    fn success(&self) -> Option<bool> {
        Some(self.hand.data.qpos()[self.hinge] >= DOOR_SUCCESS_ANGLE)
    }
}

/// mj_envs/gymnasium-robotics `euler2quat` (w, x, y, z).
pub fn euler2quat(euler: [f64; 3]) -> [f64; 4] {
    let (ai, aj, ak) = (euler[2] / 2.0, -euler[1] / 2.0, euler[0] / 2.0);
    let (si, sj, sk) = (ai.sin(), aj.sin(), ak.sin());
    let (ci, cj, ck) = (ai.cos(), aj.cos(), ak.cos());
    let (cc, cs) = (ci * ck, ci * sk);
    let (sc, ss) = (si * ck, si * sk);
    [
        cj * cc + sj * ss,
        cj * cs - sj * sc,
        -(cj * ss + sj * cc),
        cj * sc - sj * cs,
    ]
}

/// The shortest-arc rotation taking +z to the unit vector `d` (w, x, y, z).
fn quat_z_to(d: [f64; 3]) -> [f64; 4] {
    let w = 1.0 + d[2];
    if w < 1e-12 {
        return [0.0, 1.0, 0.0, 0.0];
    }
    let q = [w, -d[1], d[0], 0.0];
    let n = q.iter().map(|v| v * v).sum::<f64>().sqrt();
    q.map(|v| v / n)
}

/// Adroit pen (D4RL `pen-v0`, `pen-human-v0`).
pub struct Pen {
    hand: Hand,
    spec: EnvSpec,
    object: usize,
    target: usize,
    eps_ball: usize,
    obj_top: usize,
    obj_bottom: usize,
    tar_top: usize,
    tar_bottom: usize,
    pen_length: f64,
    tar_length: f64,
    /// The pen body's world position and rotation (row-major) with its six joints at zero.
    object_frame: ([f64; 3], [f64; 9]),
    elapsed: usize,
}

/// What the pen's reward and success read.
struct PenTask {
    dist: f64,
    similarity: f64,
    height: f64,
}

impl Pen {
    /// A pen env at `qpos0` with the XML's target orientation (call `reset` before an episode).
    pub fn new() -> Result<Pen, EnvError> {
        let base = pen_model()?;
        let spec = EnvId::Pen.spec();
        let body = |n| id_of(&base, "pen", MjtObjBase::mjOBJ_BODY, n);
        let site = |n| id_of(&base, "pen", MjtObjBase::mjOBJ_SITE, n);
        let mut hand = Hand::new(&base);
        hand.set_state(&hand.qpos0(), &vec![0.0; spec.nv]);
        let (object, target) = (body("Object")?, body("target")?);
        let (obj_top, obj_bottom) = (site("object_top")?, site("object_bottom")?);
        let (tar_top, tar_bottom) = (site("target_top")?, site("target_bottom")?);
        let pen_length = norm(sub(hand.site(obj_top), hand.site(obj_bottom)));
        let tar_length = norm(sub(hand.site(tar_top), hand.site(tar_bottom)));
        let object_frame = (hand.data.xpos()[object], hand.data.xmat()[object]);
        Ok(Pen {
            hand,
            spec,
            object,
            target,
            eps_ball: site("eps_ball")?,
            obj_top,
            obj_bottom,
            tar_top,
            tar_bottom,
            pen_length,
            tar_length,
            object_frame,
            elapsed: 0,
        })
    }

    fn orientations(&self) -> ([f64; 3], [f64; 3]) {
        let h = &self.hand;
        (
            scale(
                sub(h.site(self.obj_top), h.site(self.obj_bottom)),
                1.0 / self.pen_length,
            ),
            scale(
                sub(h.site(self.tar_top), h.site(self.tar_bottom)),
                1.0 / self.tar_length,
            ),
        )
    }

    fn task(&self) -> PenTask {
        let obj_pos = self.hand.data.xpos()[self.object];
        let (obj, tar) = self.orientations();
        PenTask {
            dist: norm(sub(obj_pos, self.hand.site(self.eps_ball))),
            similarity: dot(obj, tar),
            height: obj_pos[2],
        }
    }

    /// Points the target along the unit vector `orientation` (its roll is not observable and
    /// does not enter the observation or reward).
    fn set_target_orientation(&mut self, orientation: [f64; 3]) {
        let n = norm(orientation).max(1e-12);
        self.hand
            .set_body_quat(self.target, quat_z_to(scale(orientation, 1.0 / n)));
        self.hand.data.forward();
    }
}

impl Env for Pen {
    fn spec(&self) -> &EnvSpec {
        &self.spec
    }

    fn reset(&mut self, seed: u64) -> Vec<f64> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let x = rng.random_range(-1.0..1.0);
        let y = rng.random_range(-1.0..1.0);
        self.hand
            .set_body_quat(self.target, euler2quat([x, y, 0.0]));
        let qpos0 = self.hand.qpos0();
        self.hand.set_state(&qpos0, &vec![0.0; self.spec.nv]);
        self.elapsed = 0;
        self.observation()
    }

    fn reset_to_state(&mut self, qpos: &[f64], qvel: &[f64]) -> Result<Vec<f64>, EnvError> {
        check_len(&self.spec, "qpos", qpos.len(), self.spec.nq)?;
        check_len(&self.spec, "qvel", qvel.len(), self.spec.nv)?;
        self.hand.set_state(qpos, qvel);
        self.elapsed = 0;
        Ok(self.observation())
    }

    fn reset_to_recorded_state(
        &mut self,
        qpos: &[f64],
        qvel: &[f64],
        obs: &[f64],
    ) -> Result<Vec<f64>, EnvError> {
        check_len(&self.spec, "observation", obs.len(), self.spec.obs_dim)?;
        self.reset_to_state(qpos, qvel)?;
        self.set_target_orientation(vec3(&obs[36..39]));
        Ok(self.observation())
    }

    fn step(&mut self, action: &[f64]) -> Result<Step, EnvError> {
        check_len(&self.spec, "action", action.len(), self.spec.act_dim)?;
        self.hand.apply(action);
        self.elapsed += 1;
        let t = self.task();
        let mut reward = -t.dist + t.similarity;
        if t.dist < PEN_GOAL_RADIUS && t.similarity > 0.9 {
            reward += 10.0;
        }
        if t.dist < PEN_GOAL_RADIUS && t.similarity > PEN_SUCCESS_SIMILARITY {
            reward += 50.0;
        }
        let terminal = t.height < PEN_DROP_HEIGHT;
        if terminal {
            reward -= 5.0;
        }
        Ok(Step {
            obs: self.observation(),
            reward,
            terminal,
            timeout: self.elapsed >= self.spec.max_episode_steps,
        })
    }

    /// Hand qpos and pen velocity from the observation; the pen's translation from its position
    /// and its two tilt angles from its orientation (the roll about its own axis is not observed
    /// and set to 0); the target from the target orientation; hand velocities set to 0.
    fn set_state_from_obs(&mut self, obs: &[f64]) -> Result<(), EnvError> {
        check_len(&self.spec, "observation", obs.len(), self.spec.obs_dim)?;
        let (nq, nv) = (self.spec.nq, self.spec.nv);
        let mut qpos = vec![0.0; nq];
        let mut qvel = vec![0.0; nv];
        qpos[..nq - 6].copy_from_slice(&obs[..24]);
        qvel[nv - 6..].copy_from_slice(&obs[27..33]);
        // Body frame with the joints at zero: x = p0 + R0·t (slides first), then the hinges
        // rotate about the body's x, y, z in turn: z-axis = R0·Rx(a)·Ry(b)·ẑ.
        let (p0, r0) = self.object_frame;
        let r0t = |v: [f64; 3]| {
            [
                r0[0] * v[0] + r0[3] * v[1] + r0[6] * v[2],
                r0[1] * v[0] + r0[4] * v[1] + r0[7] * v[2],
                r0[2] * v[0] + r0[5] * v[1] + r0[8] * v[2],
            ]
        };
        let t = r0t(sub(vec3(&obs[24..27]), p0));
        let u = r0t(vec3(&obs[33..36]));
        let u = scale(u, 1.0 / norm(u).max(1e-12));
        qpos[nq - 6..nq - 3].copy_from_slice(&t);
        qpos[nq - 3] = (-u[1]).atan2(u[2]);
        qpos[nq - 2] = u[0].clamp(-1.0, 1.0).asin();
        qpos[nq - 1] = 0.0;
        self.hand.set_state(&qpos, &qvel);
        self.set_target_orientation(vec3(&obs[36..39]));
        self.elapsed = 0;
        Ok(())
    }

    fn observation(&self) -> Vec<f64> {
        let data = &self.hand.data;
        let (q, v) = (data.qpos(), data.qvel());
        let obj_pos = data.xpos()[self.object];
        let desired_pos = self.hand.site(self.eps_ball);
        let (obj, tar) = self.orientations();
        let mut obs = Vec::with_capacity(self.spec.obs_dim);
        obs.extend_from_slice(&q[..q.len() - 6]);
        obs.extend_from_slice(&obj_pos);
        obs.extend_from_slice(&v[v.len() - 6..]);
        obs.extend_from_slice(&obj);
        obs.extend_from_slice(&tar);
        obs.extend_from_slice(&sub(obj_pos, desired_pos));
        obs.extend_from_slice(&sub(obj, tar));
        obs
    }

    fn sim_state(&self) -> Option<(Vec<f64>, Vec<f64>)> {
        let data = &self.hand.data;
        Some((data.qpos().to_vec(), data.qvel().to_vec()))
    }

    fn success(&self) -> Option<bool> {
        let t = self.task();
        Some(t.dist < PEN_GOAL_RADIUS && t.similarity > PEN_SUCCESS_SIMILARITY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reward of a door step equals D4RL's formula recomputed from simulator quantities
    /// looked up by name here (sites, hinge joint, all velocities).
    #[test]
    fn door_reward_matches_an_independent_recomputation() {
        let mut env = Door::new().unwrap();
        env.reset(3);
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        for t in 0..30 {
            let action: Vec<f64> = (0..28).map(|_| rng.random_range(-1.0..1.0)).collect();
            let step = env.step(&action).unwrap();
            let data = &env.hand.data;
            let model = data.model();
            let site = |n| data.site_xpos()[model.name_to_id(MjtObjBase::mjOBJ_SITE, n).unwrap()];
            let hinge_joint = model
                .name_to_id(MjtObjBase::mjOBJ_JOINT, "door_hinge")
                .unwrap();
            let door = data.qpos()[model.jnt_qposadr()[hinge_joint] as usize];
            let (palm, handle) = (site("S_grasp"), site("S_handle"));
            let d = ((palm[0] - handle[0]).powi(2)
                + (palm[1] - handle[1]).powi(2)
                + (palm[2] - handle[2]).powi(2))
            .sqrt();
            let v2: f64 = data.qvel().iter().map(|v| v * v).sum();
            let bonus = [(0.2, 2.0), (1.0, 8.0), (1.35, 10.0)]
                .iter()
                .filter(|(th, _)| door > *th)
                .map(|(_, b)| b)
                .sum::<f64>();
            let want = -0.1 * d - 0.1 * (door - 1.57).powi(2) - 1e-5 * v2 + bonus;
            assert!(
                (step.reward - want).abs() < 1e-12,
                "step {t}: {} vs {want}",
                step.reward
            );
            // The observation carries the same quantities.
            assert_eq!(step.obs[28], door);
            assert_eq!(&step.obs[29..32], &palm);
            assert_eq!(&step.obs[32..35], &handle);
        }
    }

    #[test]
    fn door_position_is_drawn_in_range_per_seed() {
        let mut env = Door::new().unwrap();
        let mut seen = Vec::new();
        for seed in 0..20 {
            env.reset(seed);
            let p = env.door_position();
            assert!((-0.3..-0.2).contains(&p[0]), "{p:?}");
            assert!((0.25..0.35).contains(&p[1]), "{p:?}");
            assert!((0.252..0.35).contains(&p[2]), "{p:?}");
            seen.push(p);
        }
        seen.dedup();
        assert_eq!(seen.len(), 20, "every seed draws its own door position");
    }

    #[test]
    fn texture_edit_keeps_every_other_line() {
        let xml = "<a/>\n  <texture type=\"cube\" name=\"wood\" file=\"wood.png\" />\n  <texture type=\"2d\" name=\"m\" file=\"m.png\"/>\n<b/>\n";
        let out = assets_xml_without_image_textures(xml);
        assert!(!out.contains("file="), "{out}");
        assert!(out.contains("name=\"wood\" builtin=\"flat\""), "{out}");
        assert!(out.contains("height=\"48\" />"), "{out}");
        assert!(
            out.starts_with("<a/>\n") && out.ends_with("<b/>\n"),
            "{out}"
        );
    }

    #[test]
    fn euler2quat_matches_known_values() {
        // Rotation about x by θ: (cos θ/2, sin θ/2, 0, 0) in mj_envs' convention.
        let q = euler2quat([0.6, 0.0, 0.0]);
        assert!((q[0] - 0.3f64.cos()).abs() < 1e-15 && (q[1] - 0.3f64.sin()).abs() < 1e-15);
        let q = euler2quat([0.3, -0.7, 0.0]);
        let n: f64 = q.iter().map(|v| v * v).sum();
        assert!((n - 1.0).abs() < 1e-12);
    }
}
