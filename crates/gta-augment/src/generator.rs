//! The trained EDM model with the guided partial-noise sampler, as a [`WindowGenerator`]
//! (method.md §6.2–6.4). Data goes to the device once per batch and comes back once.

use burn::tensor::{Device, Tensor, TensorData};
use gta_diffusion::Denoiser;
use gta_diffusion::guidance::EdmGuidance;
use gta_diffusion::sampler::{self, SamplerConfig};

use crate::augment::WindowGenerator;
use crate::config::{AugmentConfig, ConditionMode};
use crate::error::AugmentError;

/// EMA weights + sampler settings on one device.
pub struct EdmGenerator {
    net: Denoiser,
    device: Device,
    sigma_data: f64,
    sampler: SamplerConfig,
    mu: f64,
    sample_cond_dropout: f64,
    horizon: usize,
    width: usize,
}

impl EdmGenerator {
    /// A generator for windows of `horizon` × `width` with the network `net` (EMA weights) on
    /// `device`. Unconditioned and reward-inpainting modes force w = 0 (method.md §11).
    pub fn new(
        net: Denoiser,
        device: Device,
        sigma_data: f64,
        cfg: &AugmentConfig,
        horizon: usize,
        width: usize,
    ) -> Self {
        let mut sampler = cfg.sampler.clone();
        if matches!(
            cfg.condition,
            ConditionMode::Unconditioned | ConditionMode::RewardInpainting
        ) {
            sampler.guidance_scale = 0.0;
        }
        let net = match sampler.network_dtype {
            gta_diffusion::sampler::NetworkDtype::F32 => net,
            other => net.cast(other.float_dtype()),
        };
        Self {
            net,
            device,
            sigma_data,
            sampler,
            mu: cfg.mu,
            sample_cond_dropout: cfg.sample_cond_dropout,
            horizon,
            width,
        }
    }
}

impl WindowGenerator for EdmGenerator {
    fn generate(
        &mut self,
        source: &[f32],
        cond: &[f32],
        batch: usize,
        seed: u64,
        inpaint: Option<(&[f32], &[f32])>,
    ) -> Result<Vec<f32>, AugmentError> {
        let shape = [batch, self.horizon, self.width];
        let upload3 =
            |v: &[f32]| Tensor::<3>::from_data(TensorData::new(v.to_vec(), shape), &self.device);
        let x = upload3(source);
        let c = Tensor::<2>::from_data(TensorData::new(cond.to_vec(), [batch, 1]), &self.device);
        self.device.seed(seed);
        let mut guidance =
            EdmGuidance::new(&self.net, self.sigma_data, c, self.sample_cond_dropout);
        let out = match inpaint {
            None => sampler::sample(&self.sampler, &mut guidance, x, self.mu),
            Some((values, mask)) => {
                let (v, m) = (upload3(values), upload3(mask));
                sampler::sample_inpainted(&self.sampler, &mut guidance, x, self.mu, &v, &m)
            }
        };
        // `convert`: a half-precision device (the `--float-dtype` speed probe) reads back as f32.
        out.into_data()
            .convert::<f32>()
            .try_to_vec::<f32>()
            .map_err(|e| AugmentError::Model(format!("reading generated windows back: {e:?}")))
    }
}
