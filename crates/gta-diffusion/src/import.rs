//! Import of checkpoints written by the official GTA trainer (issue 10; docs/import-official.md).
//!
//! The official checkpoint is a `torch.save` zip holding `{step, model, opt, ema, scaler}`
//! (`../shared/fixtures/official/README.md`): `model` is the `ElucidatedDiffusion` state dict
//! (`net.*` = the MixerUnet, `normalizer.mean` / `normalizer.std`), and `ema` the
//! `ema_pytorch.EMA` state dict whose `ema_model.*` copy is what the official sampler uses.
//! The file is read with burn-store's PyTorch reader (no hand-written unpickler); the tensors
//! are mapped onto [`MixerUnet`] by [`crate::official::load_mixer_unet`], the same mapping the
//! npz path uses. The configuration (T, D, dim, dim_mults, ...) is inferred from the shapes.

use std::path::{Path, PathBuf};

use burn::tensor::{Device, Tensor, TensorData};
use burn_store::pytorch_reader::{self, PickleValue, PytorchReader};
use gta_data::Normalizer;
use serde::{Deserialize, Serialize};

use crate::denoiser::Denoiser;
use crate::edm::denoise;
use crate::error::DiffusionError;
use crate::mixer_unet::{MixerUnet, MixerUnetConfig};
use crate::official::{OfficialWeights, load_mixer_unet};

/// Largest relative error ‖a − b‖/‖b‖ accepted against `official_tiny_io.npz` for a float32
/// port (fixtures README: float64 differs from the stored float32 outputs by up to 2.7e-5).
pub const IO_TOLERANCE: f64 = 1e-4;

/// The official code's linear-attention head count (`LinearAttention(heads = 4)`); shapes only
/// give heads × dim_head, so the head count is taken as the reference's.
const REFERENCE_ATTN_HEADS: usize = 4;

/// Which copy of the weights to import.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WeightSet {
    /// `ema.ema_model.*`: the EMA weights the official sampler uses (default).
    #[default]
    Ema,
    /// `model.*`: the online (trained) weights.
    Model,
}

impl WeightSet {
    /// Prefix of the `ElucidatedDiffusion` state dict inside the checkpoint.
    pub fn prefix(self) -> &'static str {
        match self {
            Self::Ema => "ema.ema_model.",
            Self::Model => "model.",
        }
    }
}

/// Everything a failed import can report; each message names the file and, where there is
/// one, the tensor.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file cannot be read as a PyTorch checkpoint.
    #[error("{}: not a readable PyTorch checkpoint (a torch.save zip expected): {reason}", path.display())]
    NotCheckpoint {
        /// The checkpoint file.
        path: PathBuf,
        /// The reader's explanation.
        reason: String,
    },
    /// A tensor the model needs is absent.
    #[error("{}: tensor `{name}` is missing (expected shape {expected})", path.display())]
    Missing {
        /// The checkpoint file.
        path: PathBuf,
        /// Full name inside the checkpoint.
        name: String,
        /// The shape it should have.
        expected: String,
    },
    /// A tensor has a shape that does not fit the inferred model or the given dims.
    #[error("{}: tensor `{name}` has shape {found:?}, expected {expected}", path.display())]
    Shape {
        /// The checkpoint file.
        path: PathBuf,
        /// Full name inside the checkpoint.
        name: String,
        /// What was expected (a shape and, where useful, why).
        expected: String,
        /// The shape found.
        found: Vec<usize>,
    },
    /// Any other problem with one tensor or entry (dtype, unreadable bytes, a tensor no gta
    /// parameter corresponds to, the `step` entry).
    #[error("{}: `{name}`: {detail}", path.display())]
    Entry {
        /// The checkpoint (or npz) file.
        path: PathBuf,
        /// Full name of the tensor or entry.
        name: String,
        /// What is wrong.
        detail: String,
    },
}

/// An imported official model: its network, configuration and normalizer.
#[derive(Debug)]
pub struct OfficialCheckpoint {
    /// The checkpoint file read.
    pub path: PathBuf,
    /// The official trainer's `step` entry.
    pub step: u64,
    /// The weight copy that was imported.
    pub weights: WeightSet,
    /// The configuration that reproduces the official architecture (T, D included).
    pub config: MixerUnetConfig,
    /// The official data normalizer (`normalizer.mean` / `normalizer.std`, method.md §2.3).
    pub normalizer: Normalizer,
    /// The network holding the imported weights.
    pub net: MixerUnet,
}

/// Reads an official checkpoint, picks `weights`, infers the MixerUnet configuration from the
/// tensor shapes, checks it against `obs_dim` + `act_dim` + 1 reward column, and loads every
/// tensor by name onto a [`MixerUnet`] on `device` ([`read_state_dict`], then
/// [`from_state_dict`]).
pub fn import_official(
    path: &Path,
    obs_dim: usize,
    act_dim: usize,
    weights: WeightSet,
    device: &Device,
) -> Result<OfficialCheckpoint, ImportError> {
    let (step, tensors) = read_state_dict(path, weights)?;
    from_state_dict(path, step, &tensors, obs_dim, act_dim, weights, device)
}

/// Reads the `step` entry and every tensor of the chosen weight copy (names starting with
/// [`WeightSet::prefix`], kept in full) of the checkpoint at `path`, as float32.
pub fn read_state_dict(
    path: &Path,
    weights: WeightSet,
) -> Result<(u64, OfficialWeights), ImportError> {
    let reader = PytorchReader::new(path).map_err(|e| ImportError::NotCheckpoint {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let step = read_step(path)?;
    let tensors = read_tensors(path, &reader, weights.prefix())?;
    Ok((step, tensors))
}

/// Builds the imported model from the tensors of [`read_state_dict`] (`path` only names the
/// file in errors): infers the configuration, checks the dims, takes the normalizer, maps
/// the `net.*` tensors onto a [`MixerUnet`] and refuses missing, misshaped or unused ones.
pub fn from_state_dict(
    path: &Path,
    step: u64,
    tensors: &OfficialWeights,
    obs_dim: usize,
    act_dim: usize,
    weights: WeightSet,
    device: &Device,
) -> Result<OfficialCheckpoint, ImportError> {
    let prefix = weights.prefix();
    if !tensors.keys().any(|k| k.starts_with(prefix)) {
        return Err(ImportError::Missing {
            path: path.to_path_buf(),
            name: format!("{prefix}net.*"),
            expected: "the MixerUnet state dict".into(),
        });
    }
    let net_prefix = format!("{prefix}net.");
    let config = infer_config(path, tensors, &net_prefix, obs_dim, act_dim)?;
    let d = config.transition_dim;
    let stat = |what: &str| -> Result<Vec<f32>, ImportError> {
        let name = format!("{prefix}normalizer.{what}");
        match tensors.get(&name) {
            None => Err(ImportError::Missing {
                path: path.to_path_buf(),
                name,
                expected: format!("[{d}]"),
            }),
            Some((shape, _)) if shape.as_slice() != [d] => Err(ImportError::Shape {
                path: path.to_path_buf(),
                name,
                expected: format!("[{d}] (one statistic per column)"),
                found: shape.clone(),
            }),
            Some((_, v)) => Ok(v.clone()),
        }
    };
    let normalizer = Normalizer {
        mean: stat("mean")?,
        std: stat("std")?,
    };
    if let Some(s) = normalizer
        .std
        .iter()
        .find(|s| !(s.is_finite() && **s > 0.0))
    {
        return Err(ImportError::Entry {
            path: path.to_path_buf(),
            name: format!("{prefix}normalizer.std"),
            detail: format!("positive, finite scales expected, found {s}"),
        });
    }
    let net = load_mixer_unet(config.init(device), tensors, &net_prefix).map_err(|e| match e {
        DiffusionError::Import { name, expected } => ImportError::Entry {
            path: path.to_path_buf(),
            name,
            detail: expected,
        },
        other => ImportError::Entry {
            path: path.to_path_buf(),
            name: net_prefix.clone(),
            detail: other.to_string(),
        },
    })?;
    Ok(OfficialCheckpoint {
        path: path.to_path_buf(),
        step,
        weights,
        config,
        normalizer,
        net,
    })
}

/// The top-level `step` entry (an int).
fn read_step(path: &Path) -> Result<u64, ImportError> {
    let bad = |detail: String| ImportError::Entry {
        path: path.to_path_buf(),
        name: "step".into(),
        detail,
    };
    match PytorchReader::read_pickle_data(path, Some("step")) {
        Ok(PickleValue::Int(s)) if s >= 0 => Ok(s as u64),
        Ok(other) => Err(bad(format!("a non-negative int expected, found {other:?}"))),
        Err(pytorch_reader::PytorchError::KeyNotFound(_)) => Err(bad(
            "missing (an official checkpoint holds {step, model, opt, ema, scaler})".into(),
        )),
        Err(e) => Err(bad(e.to_string())),
    }
}

/// Every tensor whose name starts with `prefix`, as float32 (F64 / F16 / BF16 are converted).
fn read_tensors(
    path: &Path,
    reader: &PytorchReader,
    prefix: &str,
) -> Result<OfficialWeights, ImportError> {
    use pytorch_reader::DType as P;
    let mut out = OfficialWeights::new();
    for (name, t) in reader.tensors() {
        if !name.starts_with(prefix) {
            continue;
        }
        let bad = |detail: String| ImportError::Entry {
            path: path.to_path_buf(),
            name: name.clone(),
            detail,
        };
        let dtype = match t.dtype() {
            P::F32 => burn::tensor::DType::F32,
            P::F64 => burn::tensor::DType::F64,
            P::F16 => burn::tensor::DType::F16,
            P::BF16 => burn::tensor::DType::BF16,
            other => {
                return Err(bad(format!(
                    "a floating-point tensor expected, found {other:?}"
                )));
            }
        };
        let bytes = t.read().map_err(|e| bad(e.to_string()))?;
        let values = TensorData::from_bytes_vec(bytes, t.shape().to_vec(), dtype)
            .convert::<f32>()
            .try_into_vec::<f32>()
            .map_err(|e| bad(format!("{e:?}")))?;
        out.insert(name.clone(), (t.shape().to_vec(), values));
    }
    Ok(out)
}

/// Infers the [`MixerUnetConfig`] from the shapes of the `net.*` tensors (method.md §3.1):
/// rff k from `time_mlp.0.weights` (k), dim from `time_mlp.3.weight` (dim, 4·dim), the
/// condition width from `cond_mlp.0.weight` (2·dim, cond_dim), one level per
/// `downs.i.2.fn.norm.weight` (dim·m_i), T from `downs.0.0.ln2.weight` (T) and D from
/// `downs.0.0.ln1.weight` (1·D), which must equal obs_dim + act_dim + 1.
fn infer_config(
    path: &Path,
    w: &OfficialWeights,
    prefix: &str,
    obs_dim: usize,
    act_dim: usize,
) -> Result<MixerUnetConfig, ImportError> {
    let shape = |name: &str, rank: usize, what: &str| -> Result<Vec<usize>, ImportError> {
        let full = format!("{prefix}{name}");
        match w.get(&full) {
            None => Err(ImportError::Missing {
                path: path.to_path_buf(),
                name: full,
                expected: what.into(),
            }),
            Some((s, _)) if s.len() != rank || s.contains(&0) => Err(ImportError::Shape {
                path: path.to_path_buf(),
                name: full,
                expected: what.into(),
                found: s.clone(),
            }),
            Some((s, _)) => Ok(s.clone()),
        }
    };
    let rff_frequencies = shape("time_mlp.0.weights", 1, "[k]")?[0];
    let dim = shape("time_mlp.3.weight", 2, "[dim, 4·dim]")?[0];
    let cond_dim = shape("cond_mlp.0.weight", 2, "[2·dim, cond_dim]")?[1];
    let mut dim_mults = Vec::new();
    while w.contains_key(&format!(
        "{prefix}downs.{}.2.fn.norm.weight",
        dim_mults.len()
    )) {
        let i = dim_mults.len();
        let name = format!("downs.{i}.2.fn.norm.weight");
        let c = shape(&name, 1, "[dim·m]")?[0];
        if !c.is_multiple_of(dim) {
            return Err(ImportError::Shape {
                path: path.to_path_buf(),
                name: format!("{prefix}{name}"),
                expected: format!("a multiple of dim = {dim} channels"),
                found: vec![c],
            });
        }
        dim_mults.push(c / dim);
    }
    if dim_mults.is_empty() {
        return Err(ImportError::Missing {
            path: path.to_path_buf(),
            name: format!("{prefix}downs.0.2.fn.norm.weight"),
            expected: "[dim·m_0]".into(),
        });
    }
    let horizon = shape("downs.0.0.ln2.weight", 1, "[T]")?[0];
    let d = shape("downs.0.0.ln1.weight", 1, "[D]")?[0];
    let want = obs_dim + act_dim + 1;
    if d != want {
        return Err(ImportError::Shape {
            path: path.to_path_buf(),
            name: format!("{prefix}downs.0.0.ln1.weight"),
            expected: format!(
                "[{want}]: the checkpoint's windows are {d} columns wide, but --obs-dim {obs_dim} + \
                 --act-dim {act_dim} + 1 reward = {want}"
            ),
            found: vec![d],
        });
    }
    let qkv = shape(
        "downs.0.2.fn.fn.to_qkv.weight",
        4,
        "[3·heads·dim_head, C, 1, 1]",
    )?[0];
    let hidden = qkv / 3;
    if qkv % 3 != 0 || !hidden.is_multiple_of(REFERENCE_ATTN_HEADS) {
        return Err(ImportError::Shape {
            path: path.to_path_buf(),
            name: format!("{prefix}downs.0.2.fn.fn.to_qkv.weight"),
            expected: format!("a first extent of 3·{REFERENCE_ATTN_HEADS}·dim_head"),
            found: vec![qkv],
        });
    }
    Ok(MixerUnetConfig {
        dim,
        dim_mults,
        horizon,
        transition_dim: d,
        cond_dim,
        rff_frequencies,
        attn_heads: REFERENCE_ATTN_HEADS,
        attn_dim_head: hidden / REFERENCE_ATTN_HEADS,
        ..MixerUnetConfig::default()
    })
}

/// Relative errors ‖a − b‖/‖b‖ of gta's outputs against the official ones stored in
/// `official_tiny_io.npz`, one per output, in the order `net_out_cond`, `net_out_uncond`,
/// `denoised_cond`, `denoised_uncond`, `normalized_data` (fixtures README). `net` and
/// `normalizer` are the imported model; σ_data is the official 1.0 unless given otherwise.
pub fn compare_with_official_io(
    net: &Denoiser,
    normalizer: &Normalizer,
    sigma_data: f64,
    io_path: &Path,
    device: &Device,
) -> Result<Vec<(String, f64)>, ImportError> {
    let io = read_npz_f32(io_path)?;
    let get = |name: &str, rank: usize| -> Result<&(Vec<usize>, Vec<f32>), ImportError> {
        match io.get(name) {
            Some(a) if a.0.len() == rank => Ok(a),
            Some(a) => Err(ImportError::Shape {
                path: io_path.to_path_buf(),
                name: name.into(),
                expected: format!("rank {rank}"),
                found: a.0.clone(),
            }),
            None => Err(ImportError::Missing {
                path: io_path.to_path_buf(),
                name: name.into(),
                expected: format!("a float32 array of rank {rank}"),
            }),
        }
    };
    fn tensor<const R: usize>(a: &(Vec<usize>, Vec<f32>), device: &Device) -> Tensor<R> {
        let shape: [usize; R] = a.0.clone().try_into().expect("rank checked");
        Tensor::from_data(TensorData::new(a.1.clone(), shape), device)
    }
    let x: Tensor<3> = tensor(get("x", 3)?, device);
    let sigma: Tensor<1> = tensor(get("sigma", 1)?, device);
    let c_noise: Tensor<2> = tensor(get("c_noise", 2)?, device);
    let cond: Tensor<2> = tensor(get("cond", 2)?, device);
    let values = |t: Tensor<3>| t.into_data().convert::<f32>().try_into_vec::<f32>();
    let mut got: Vec<(&str, Vec<f32>)> = Vec::new();
    let outputs = [
        (
            "net_out_cond",
            net.forward(x.clone(), c_noise.clone(), Some(cond.clone()), None),
        ),
        (
            "net_out_uncond",
            net.forward(x.clone(), c_noise, None, None),
        ),
        (
            "denoised_cond",
            denoise(net, x.clone(), &sigma, sigma_data, Some(cond), None),
        ),
        (
            "denoised_uncond",
            denoise(net, x, &sigma, sigma_data, None, None),
        ),
    ];
    for (name, t) in outputs {
        let v = values(t).map_err(|e| ImportError::Entry {
            path: io_path.to_path_buf(),
            name: name.into(),
            detail: format!("reading the output back: {e:?}"),
        })?;
        got.push((name, v));
    }
    let raw = get("raw_data", 3)?;
    let d = normalizer.dim();
    if raw.0[2] != d {
        return Err(ImportError::Shape {
            path: io_path.to_path_buf(),
            name: "raw_data".into(),
            expected: format!("[B, T, {d}] (the normalizer's width)"),
            found: raw.0.clone(),
        });
    }
    let mut normalized = raw.1.clone();
    normalizer.normalize(&mut normalized);
    got.push(("normalized_data", normalized));
    let mut errors = Vec::new();
    for (name, v) in got {
        let want = get(name, 3)?;
        if want.1.len() != v.len() {
            return Err(ImportError::Shape {
                path: io_path.to_path_buf(),
                name: name.into(),
                expected: format!("{} values, as gta computed", v.len()),
                found: want.0.clone(),
            });
        }
        errors.push((name.to_string(), relative_error(&v, &want.1)));
    }
    Ok(errors)
}

/// ‖a − b‖ / ‖b‖ in f64.
pub fn relative_error(a: &[f32], b: &[f32]) -> f64 {
    let num: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| (*x as f64 - *y as f64).powi(2))
        .sum();
    let den: f64 = b.iter().map(|y| (*y as f64).powi(2)).sum();
    (num / den).sqrt()
}

/// Every float32 array of an `.npz` by name, as (shape, values); other dtypes are skipped.
fn read_npz_f32(path: &Path) -> Result<OfficialWeights, ImportError> {
    let bad = |name: &str, detail: String| ImportError::Entry {
        path: path.to_path_buf(),
        name: name.into(),
        detail,
    };
    let mut npz = npyz::npz::NpzArchive::open(path).map_err(|e| bad("(archive)", e.to_string()))?;
    let names: Vec<String> = npz.array_names().map(str::to_string).collect();
    let mut out = OfficialWeights::new();
    for name in names {
        let arr = npz
            .by_name(&name)
            .map_err(|e| bad(&name, e.to_string()))?
            .ok_or_else(|| bad(&name, "listed but absent".into()))?;
        let shape: Vec<usize> = arr.shape().iter().map(|&s| s as usize).collect();
        if let Ok(v) = arr.into_vec::<f32>() {
            out.insert(name, (shape, v));
        }
    }
    Ok(out)
}
