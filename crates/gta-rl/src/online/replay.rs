//! The online replay buffer, on the host: a ring of `capacity` transitions; minibatches are
//! gathered on the host from seeded indices and uploaded (one small upload per update). Saved
//! raw (little-endian f32) in checkpoints.

use std::io::{Read, Write};
use std::path::Path;

use burn::tensor::{Device, Tensor, TensorData};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::agent::Batch;
use crate::error::RlError;

/// A ring buffer of `(s, a, r, s′, done)`.
#[derive(Clone, Debug, PartialEq)]
pub struct HostReplay {
    /// Maximum number of transitions.
    pub capacity: usize,
    /// State width.
    pub obs_dim: usize,
    /// Action width.
    pub act_dim: usize,
    /// Transitions stored (≤ capacity).
    pub len: usize,
    /// Transitions ever pushed (the next write goes to `pushed % capacity`).
    pub pushed: u64,
    obs: Vec<f32>,
    act: Vec<f32>,
    rew: Vec<f32>,
    next: Vec<f32>,
    done: Vec<f32>,
    // Gather scratch, reused by every minibatch.
    scratch: [Vec<f32>; 5],
}

impl HostReplay {
    /// An empty buffer.
    pub fn new(capacity: usize, obs_dim: usize, act_dim: usize) -> Self {
        Self {
            capacity,
            obs_dim,
            act_dim,
            len: 0,
            pushed: 0,
            obs: Vec::new(),
            act: Vec::new(),
            rew: Vec::new(),
            next: Vec::new(),
            done: Vec::new(),
            scratch: Default::default(),
        }
    }

    /// Appends one transition (overwriting the oldest when full).
    pub fn push(&mut self, obs: &[f32], act: &[f32], reward: f32, next: &[f32], done: bool) {
        let i = (self.pushed % self.capacity as u64) as usize;
        let (s, a) = (self.obs_dim, self.act_dim);
        if i == self.obs.len() / s.max(1) && self.len < self.capacity {
            self.obs.extend_from_slice(obs);
            self.act.extend_from_slice(act);
            self.rew.push(reward);
            self.next.extend_from_slice(next);
            self.done.push(done as u8 as f32);
        } else {
            self.obs[i * s..(i + 1) * s].copy_from_slice(obs);
            self.act[i * a..(i + 1) * a].copy_from_slice(act);
            self.rew[i] = reward;
            self.next[i * s..(i + 1) * s].copy_from_slice(next);
            self.done[i] = done as u8 as f32;
        }
        self.pushed += 1;
        self.len = (self.len + 1).min(self.capacity);
    }

    /// The action of the transition pushed `back` pushes ago (1 = the latest).
    pub fn action_back(&self, back: u64) -> &[f32] {
        let i = ((self.pushed - back) % self.capacity as u64) as usize;
        &self.act[i * self.act_dim..(i + 1) * self.act_dim]
    }

    /// `s′` of the transition pushed `back` pushes ago (1 = the latest).
    pub fn next_back(&self, back: u64) -> &[f32] {
        let i = ((self.pushed - back) % self.capacity as u64) as usize;
        &self.next[i * self.obs_dim..(i + 1) * self.obs_dim]
    }

    /// A uniform minibatch of `batch` rows (with replacement), indices from a ChaCha8 stream
    /// seeded `seed`, uploaded to `device`.
    pub fn sample(&mut self, seed: u64, batch: usize, device: &Device) -> Batch {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let (s, a) = (self.obs_dim, self.act_dim);
        let [o, ac, r, n, d] = &mut self.scratch;
        for v in [&mut *o, &mut *ac, &mut *r, &mut *n, &mut *d] {
            v.clear();
        }
        for _ in 0..batch {
            let i = rng.random_range(0..self.len);
            o.extend_from_slice(&self.obs[i * s..(i + 1) * s]);
            ac.extend_from_slice(&self.act[i * a..(i + 1) * a]);
            r.push(self.rew[i]);
            n.extend_from_slice(&self.next[i * s..(i + 1) * s]);
            d.push(self.done[i]);
        }
        let up = |v: &Vec<f32>, w: usize| {
            Tensor::<2>::from_data(TensorData::new(v.clone(), [batch, w]), device)
        };
        Batch {
            observations: up(o, s),
            actions: up(ac, a),
            rewards: up(r, 1),
            next_observations: up(n, s),
            dones: up(d, 1),
        }
    }

    /// Writes the buffer to `path` (header of six u64, then the arrays as LE f32).
    pub fn save(&self, path: &Path) -> Result<(), RlError> {
        let f = std::fs::File::create(path).map_err(|e| RlError::io(path, e))?;
        let mut w = std::io::BufWriter::new(f);
        let mut put = |bytes: &[u8]| w.write_all(bytes).map_err(|e| RlError::io(path, e));
        for v in [
            self.capacity as u64,
            self.obs_dim as u64,
            self.act_dim as u64,
            self.len as u64,
            self.pushed,
            self.rew.len() as u64,
        ] {
            put(&v.to_le_bytes())?;
        }
        for arr in [&self.obs, &self.act, &self.rew, &self.next, &self.done] {
            let bytes: Vec<u8> = arr.iter().flat_map(|v| v.to_le_bytes()).collect();
            put(&bytes)?;
        }
        drop(put);
        w.flush().map_err(|e| RlError::io(path, e))
    }

    /// Reads a buffer written by [`HostReplay::save`].
    pub fn load(path: &Path) -> Result<Self, RlError> {
        let f = std::fs::File::open(path).map_err(|e| RlError::io(path, e))?;
        let mut r = std::io::BufReader::new(f);
        let mut u64s = [0u64; 6];
        for v in &mut u64s {
            let mut b = [0u8; 8];
            r.read_exact(&mut b).map_err(|e| RlError::io(path, e))?;
            *v = u64::from_le_bytes(b);
        }
        let [capacity, obs_dim, act_dim, len, pushed, stored] = u64s.map(|v| v as usize);
        let mut read = |n: usize| -> Result<Vec<f32>, RlError> {
            let mut bytes = vec![0u8; n * 4];
            r.read_exact(&mut bytes).map_err(|e| RlError::io(path, e))?;
            Ok(bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
                .collect())
        };
        let obs = read(stored * obs_dim)?;
        let act = read(stored * act_dim)?;
        let rew = read(stored)?;
        let next = read(stored * obs_dim)?;
        let done = read(stored)?;
        Ok(Self {
            capacity,
            obs_dim,
            act_dim,
            len,
            pushed: pushed as u64,
            obs,
            act,
            rew,
            next,
            done,
            scratch: Default::default(),
        })
    }
}
