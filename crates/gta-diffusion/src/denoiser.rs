//! The network F behind the EDM preconditioning: GTA's MixerUnet or SynthER's residual MLP.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::tensor::{DType, Device, FloatDType, Tensor};
use serde::{Deserialize, Serialize};

use crate::mixer_unet::{MixerUnet, MixerUnetConfig};
use crate::resmlp::{ResMlp, ResMlpConfig};

/// Which denoiser to build (serde-tagged by `kind`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DenoiserConfig {
    /// GTA's MixerUnet over (T, D) windows (method.md §3).
    MixerUnet(MixerUnetConfig),
    /// SynthER's residual MLP over single transitions, T = 1 (method.md §8.1).
    ResMlp(ResMlpConfig),
}

impl Default for DenoiserConfig {
    fn default() -> Self {
        Self::MixerUnet(MixerUnetConfig::default())
    }
}

impl DenoiserConfig {
    /// Builds the network on `device` (PyTorch-default init from the device's seeded RNG).
    ///
    /// burn initialises parameters lazily; every parameter is materialised here, right away, so
    /// that the weights depend only on the generator state at this call.
    pub fn init(&self, device: &Device) -> Denoiser {
        let net = match self {
            Self::MixerUnet(c) => Denoiser::MixerUnet(c.init(device)),
            Self::ResMlp(c) => Denoiser::ResMlp(c.init(device)),
        };
        net.visit(&mut Materialize);
        net
    }

    /// Sets the data-dependent shape: rows T and row width D.
    pub fn set_shape(&mut self, horizon: usize, transition_dim: usize) {
        match self {
            Self::MixerUnet(c) => {
                c.horizon = horizon;
                c.transition_dim = transition_dim;
            }
            Self::ResMlp(c) => c.transition_dim = transition_dim,
        }
    }
}

/// Forces lazy parameter initialisation.
struct Materialize;

impl ModuleVisitor for Materialize {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let _ = param.val();
    }
}

/// A denoiser network F(x, c_noise, c) with x (B, T, D).
// Built once per run and moved, never stored in bulk: the variant size difference is harmless.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Denoiser {
    /// GTA's MixerUnet.
    MixerUnet(MixerUnet),
    /// SynthER's residual MLP (unconditional; T must be 1).
    ResMlp(ResMlp),
}

impl Denoiser {
    /// F(x, c_noise, cond): x (B, T, D), c_noise (B, 1), cond (B, cond_dim) or `None` for the
    /// unconditional call; `cond_keep` (B, 1) is the per-sample condition-dropout mask (1 keeps).
    /// The residual MLP ignores the condition.
    pub fn forward(
        &self,
        x: Tensor<3>,
        c_noise: Tensor<2>,
        cond: Option<Tensor<2>>,
        cond_keep: Option<Tensor<2>>,
    ) -> Tensor<3> {
        match self {
            Self::MixerUnet(net) => net.forward(x, c_noise, cond, cond_keep),
            Self::ResMlp(net) => {
                assert_eq!(
                    x.dims()[1],
                    1,
                    "the residual MLP denoises single transitions (T = 1)"
                );
                net.forward(x, c_noise)
            }
        }
    }

    /// Trainable parameter count (the frozen RFF frequencies excluded).
    pub fn num_trainable_params(&self) -> usize {
        match self {
            Self::MixerUnet(net) => net.num_trainable_params(),
            Self::ResMlp(net) => net.num_trainable_params(),
        }
    }

    /// The network with its weights stored as `dtype`, for mixed-precision sampling
    /// ([`crate::sampler::NetworkDtype`]). MixerUnet casts every weight except those of the
    /// noise and condition embeddings (`time_rff`, `time_fc*`, `cond_fc*`), which stay f32: the
    /// random-Fourier phases 2π·w·c_noise reach ~10², where bf16's 8-bit mantissa would lose
    /// the phase. The residual MLP (SynthER) is returned unchanged.
    pub fn cast(self, dtype: FloatDType) -> Self {
        match self {
            Self::MixerUnet(net) => Self::MixerUnet(net.map(&mut CastWeights {
                dtype,
                path: Vec::new(),
            })),
            other => other,
        }
    }

    /// The storage dtype of the network's block weights (what [`crate::edm::denoise`] casts
    /// the network input to).
    pub fn float_dtype(&self) -> DType {
        match self {
            Self::MixerUnet(net) => net.final_out.weight.val().dtype(),
            Self::ResMlp(net) => net.proj.weight.val().dtype(),
        }
    }

    /// Whether the network uses the condition (classifier-free guidance is meaningful).
    pub fn is_conditional(&self) -> bool {
        matches!(self, Self::MixerUnet(_))
    }
}

/// Casts float weights to `dtype`, except under the embedding modules (see [`Denoiser::cast`]).
struct CastWeights {
    dtype: FloatDType,
    /// Names of the modules entered so far.
    path: Vec<String>,
}

/// MixerUnet's top-level fields that compute the block embedding e = [c_emb, t_emb] (kept f32).
const EMBEDDING_MODULES: [&str; 5] = ["time_rff", "time_fc1", "time_fc2", "cond_fc1", "cond_fc2"];

impl ModuleMapper for CastWeights {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.pop();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        // Top-level fields only: the MixerBlocks have `time_fc*` fields of their own.
        if self
            .path
            .first()
            .is_some_and(|m| EMBEDDING_MODULES.contains(&m.as_str()))
        {
            param
        } else {
            let dtype = self.dtype;
            param.map(|t| t.cast(dtype))
        }
    }
}
