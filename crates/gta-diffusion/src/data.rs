//! Training windows kept on the device, gathered into batches by index (method.md §2.2), and
//! the seeded window sampler (shuffled passes, method.md §5 "Data order").

use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::DiffusionError;

/// Normalized training data, independent of the data crate's types.
///
/// Window j is `rows[starts[j] .. starts[j] + T − 1]` followed by the next-state row
/// `[next_obs[starts[j] + T − 2], filler]`. With `next_obs` empty (SynthER transitions) window j
/// is simply `rows[starts[j] .. starts[j] + T]`.
#[derive(Clone, Debug, Default)]
pub struct TrainData {
    /// Observation width.
    pub obs_dim: usize,
    /// Action width.
    pub act_dim: usize,
    /// Rows per window T.
    pub horizon: usize,
    /// Row width D (obs_dim + act_dim + 1 for GTA windows).
    pub transition_dim: usize,
    /// (N, D) normalized rows `[s | a | r]`, row-major.
    pub rows: Vec<f32>,
    /// (N, obs_dim) normalized next observations, row-major (empty: no next-state row).
    pub next_obs: Vec<f32>,
    /// First row of each window.
    pub starts: Vec<u32>,
    /// Condition per window (already scaled, e.g. 0.01·R), `cond_dim` values each.
    pub cond: Vec<f32>,
    /// Condition width (1 for the return).
    pub cond_dim: usize,
    /// Normalized zero filler for the action and reward columns of the next-state row
    /// (D − obs_dim values, −μ/σ per column; method.md §2.3).
    pub filler: Vec<f32>,
}

impl TrainData {
    /// Number of windows.
    pub fn num_windows(&self) -> usize {
        self.starts.len()
    }

    /// Seeded uniform(−1, 1) stand-in data of the given shape with every stride-1 window of
    /// `rows` rows (for benchmarks, where the values do not matter).
    pub fn synthetic(
        obs_dim: usize,
        act_dim: usize,
        horizon: usize,
        rows: usize,
        seed: u64,
    ) -> Self {
        use rand::RngExt;
        let d = obs_dim + act_dim + 1;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut uniform = |k: usize| {
            (0..k)
                .map(|_| rng.random::<f32>() * 2.0 - 1.0)
                .collect::<Vec<f32>>()
        };
        let body = horizon - 1;
        let starts: Vec<u32> = (0..=(rows - body) as u32).collect();
        Self {
            obs_dim,
            act_dim,
            horizon,
            transition_dim: d,
            rows: uniform(rows * d),
            next_obs: uniform(rows * obs_dim),
            cond: uniform(starts.len()),
            starts,
            cond_dim: 1,
            filler: vec![0.0; d - obs_dim],
        }
    }

    /// Whether windows end with a next-state row.
    pub fn has_next_state_row(&self) -> bool {
        !self.next_obs.is_empty()
    }

    /// Checks every length and index; the message names the field.
    pub fn validate(&self) -> Result<(), DiffusionError> {
        let err = |field, expected: String| Err(DiffusionError::Data { field, expected });
        let d = self.transition_dim;
        if d == 0 || self.horizon == 0 {
            return err(
                "transition_dim",
                format!(
                    "horizon and width must be > 0, got T = {}, D = {d}",
                    self.horizon
                ),
            );
        }
        if !self.rows.len().is_multiple_of(d) {
            return err(
                "rows",
                format!("length {} is not a multiple of D = {d}", self.rows.len()),
            );
        }
        let n = self.rows.len() / d;
        if self.starts.is_empty() {
            return err("starts", "at least one window expected, got none".into());
        }
        if self.cond_dim == 0 || self.cond.len() != self.starts.len() * self.cond_dim {
            return err(
                "cond",
                format!(
                    "{} values expected ({} windows × cond_dim {}), got {}",
                    self.starts.len() * self.cond_dim,
                    self.starts.len(),
                    self.cond_dim,
                    self.cond.len()
                ),
            );
        }
        let body = if self.has_next_state_row() {
            if self.obs_dim == 0 || self.obs_dim >= d {
                return err(
                    "obs_dim",
                    format!("0 < obs_dim < D = {d} expected, got {}", self.obs_dim),
                );
            }
            if self.next_obs.len() != n * self.obs_dim {
                return err(
                    "next_obs",
                    format!(
                        "{} values expected (N = {n} × obs_dim {}), got {}",
                        n * self.obs_dim,
                        self.obs_dim,
                        self.next_obs.len()
                    ),
                );
            }
            if self.filler.len() != d - self.obs_dim {
                return err(
                    "filler",
                    format!(
                        "{} values expected (D − obs_dim), got {}",
                        d - self.obs_dim,
                        self.filler.len()
                    ),
                );
            }
            if self.horizon < 2 {
                return err(
                    "horizon",
                    format!("T ≥ 2 expected with a next-state row, got {}", self.horizon),
                );
            }
            self.horizon - 1
        } else {
            self.horizon
        };
        if let Some((j, &s)) = self
            .starts
            .iter()
            .enumerate()
            .find(|(_, s)| **s as usize + body > n)
        {
            return err(
                "starts",
                format!("window {j} starts at row {s} and needs {body} rows, but there are {n}"),
            );
        }
        Ok(())
    }
}

/// [`TrainData`] uploaded once to the device; batches are gathered there by window index.
#[derive(Clone, Debug)]
pub struct DeviceData {
    rows: Tensor<2>,
    next_obs: Option<Tensor<2>>,
    filler: Option<Tensor<2>>,
    starts: Tensor<1, Int>,
    cond: Tensor<2>,
    offsets: Tensor<2, Int>,
    horizon: usize,
    width: usize,
    num_windows: usize,
}

impl DeviceData {
    /// Validates and uploads `data` to `device`.
    pub fn new(data: &TrainData, device: &Device) -> Result<Self, DiffusionError> {
        data.validate()?;
        let d = data.transition_dim;
        let n = data.rows.len() / d;
        let body = if data.has_next_state_row() {
            data.horizon - 1
        } else {
            data.horizon
        };
        let starts: Vec<i64> = data.starts.iter().map(|&s| s as i64).collect();
        Ok(Self {
            rows: Tensor::from_data(TensorData::new(data.rows.clone(), [n, d]), device),
            next_obs: data.has_next_state_row().then(|| {
                Tensor::from_data(
                    TensorData::new(data.next_obs.clone(), [n, data.obs_dim]),
                    device,
                )
            }),
            filler: data.has_next_state_row().then(|| {
                Tensor::from_data(
                    TensorData::new(data.filler.clone(), [1, d - data.obs_dim]),
                    device,
                )
            }),
            starts: Tensor::from_data(TensorData::new(starts, [data.starts.len()]), device),
            cond: Tensor::from_data(
                TensorData::new(data.cond.clone(), [data.starts.len(), data.cond_dim]),
                device,
            ),
            offsets: Tensor::<1, Int>::arange(0..body as i64, device).reshape([1, body]),
            horizon: data.horizon,
            width: d,
            num_windows: data.starts.len(),
        })
    }

    /// Number of windows.
    pub fn num_windows(&self) -> usize {
        self.num_windows
    }

    /// A copy of the same data on `device` (device to device where the backend can; one copy
    /// per replica in data-parallel training).
    pub fn to_device(&self, device: &Device) -> Self {
        Self {
            rows: self.rows.clone().to_device(device),
            next_obs: self.next_obs.clone().map(|t| t.to_device(device)),
            filler: self.filler.clone().map(|t| t.to_device(device)),
            starts: self.starts.clone().to_device(device),
            cond: self.cond.clone().to_device(device),
            offsets: self.offsets.clone().to_device(device),
            ..self.clone()
        }
    }

    /// Gathers windows `idx` (B,) into x0 (B, T, D) and their conditions (B, cond_dim).
    pub fn batch(&self, idx: Tensor<1, Int>) -> (Tensor<3>, Tensor<2>) {
        let b = idx.dims()[0];
        let body = self.offsets.dims()[1];
        let starts = self.starts.clone().select(0, idx.clone());
        let row_idx = (starts.clone().reshape([b, 1]) + self.offsets.clone()).reshape([b * body]);
        let x = self
            .rows
            .clone()
            .select(0, row_idx)
            .reshape([b, body, self.width]);
        let x = match (&self.next_obs, &self.filler) {
            (Some(next_obs), Some(filler)) => {
                let s_next = next_obs.clone().select(0, starts + (body as i64 - 1));
                let fill = filler.clone().repeat_dim(0, b);
                let last = Tensor::cat(vec![s_next, fill], 1).reshape([b, 1, self.width]);
                Tensor::cat(vec![x, last], 1)
            }
            _ => x,
        };
        debug_assert_eq!(x.dims(), [b, self.horizon, self.width]);
        (x, self.cond.clone().select(0, idx))
    }
}

/// Seeded source of window indices: shuffled passes over all windows, continued across pass
/// boundaries. Its whole state is `(epoch, position)`; the permutation of pass e is drawn from
/// a generator seeded by `(seed, e)`, so a resumed sampler continues exactly.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowSampler {
    /// Base seed.
    pub seed: u64,
    /// Number of windows.
    pub num_windows: usize,
    /// Current pass.
    pub epoch: u64,
    /// Position inside the current pass.
    pub position: usize,
    #[serde(skip)]
    perm: Vec<u32>,
}

impl WindowSampler {
    /// A sampler at the start of pass 0.
    pub fn new(seed: u64, num_windows: usize) -> Self {
        Self {
            seed,
            num_windows,
            epoch: 0,
            position: 0,
            perm: Vec::new(),
        }
    }

    fn permutation(&self) -> Vec<u32> {
        let mut perm: Vec<u32> = (0..self.num_windows as u32).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(crate::derive_seed(
            self.seed,
            crate::STREAM_SAMPLER,
            self.epoch,
        ));
        perm.shuffle(&mut rng);
        perm
    }

    /// The next `batch` window indices.
    pub fn next_batch(&mut self, batch: usize) -> Vec<u32> {
        let mut out = Vec::with_capacity(batch);
        while out.len() < batch {
            if self.perm.len() != self.num_windows {
                self.perm = self.permutation();
            }
            let take = (batch - out.len()).min(self.num_windows - self.position);
            out.extend_from_slice(&self.perm[self.position..self.position + take]);
            self.position += take;
            if self.position == self.num_windows {
                self.epoch += 1;
                self.position = 0;
                self.perm.clear();
            }
        }
        out
    }
}
