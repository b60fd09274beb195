//! Classifier-free guidance on the EDM denoiser: the [`GuidedDenoiser`] the sampler calls,
//! built from a trained network and a batch of conditions (method.md §6.4, paper eq. 4–5).
//!
//! The conditional and unconditional passes run as **one** forward of size 2B: the batch is
//! duplicated, and the second half gets the zero condition embedding through a keep-mask of 0,
//! which is exactly the unconditional call (method.md §3.2).

use burn::tensor::{Distribution, Tensor};

use crate::denoiser::Denoiser;
use crate::edm;
use crate::sampler::GuidedDenoiser;

/// A trained denoiser with the conditions of one batch of windows.
pub struct EdmGuidance<'a> {
    net: &'a Denoiser,
    sigma_data: f64,
    /// (B, cond_dim) conditions c (already ×0.01 and amplified as wanted).
    cond: Tensor<2>,
    /// Reference compatibility (reference-code-notes.md §3): probability that a conditional call
    /// silently drops a sample's condition, redrawn per call. 0 = the paper's sampler.
    sample_cond_dropout: f64,
}

impl<'a> EdmGuidance<'a> {
    /// Guidance for conditions `cond` (B, cond_dim) with `sample_cond_dropout` = 0 for the
    /// paper's behaviour (use 0.25 to reproduce the official sampler).
    pub fn new(
        net: &'a Denoiser,
        sigma_data: f64,
        cond: Tensor<2>,
        sample_cond_dropout: f64,
    ) -> Self {
        Self {
            net,
            sigma_data,
            cond,
            sample_cond_dropout,
        }
    }

    fn sigma(&self, b: usize, sigma: f64) -> Tensor<1> {
        Tensor::<1>::ones([b], &self.cond.device()).mul_scalar(sigma)
    }

    /// The keep-mask (B, 1) of the conditional half: ones, or Bernoulli(1 − p) in compat mode.
    fn keep(&self, b: usize) -> Tensor<2> {
        let device = self.cond.device();
        if self.sample_cond_dropout > 0.0 {
            Tensor::<2>::random(
                [b, 1],
                Distribution::Bernoulli(1.0 - self.sample_cond_dropout),
                &device,
            )
        } else {
            Tensor::<2>::ones([b, 1], &device)
        }
    }
}

impl GuidedDenoiser for EdmGuidance<'_> {
    fn denoise_pair(&mut self, x: Tensor<3>, sigma: f64) -> (Tensor<3>, Tensor<3>) {
        let b = x.dims()[0];
        let x2 = Tensor::cat(vec![x.clone(), x], 0);
        let cond2 = Tensor::cat(vec![self.cond.clone(), self.cond.clone()], 0);
        let keep2 = Tensor::cat(
            vec![
                self.keep(b),
                Tensor::<2>::zeros([b, 1], &self.cond.device()),
            ],
            0,
        );
        let out = edm::denoise(
            self.net,
            x2,
            &self.sigma(2 * b, sigma),
            self.sigma_data,
            Some(cond2),
            Some(keep2),
        );
        let mut halves = out.split(b, 0).into_iter();
        let d_c = halves.next().expect("conditional half");
        let d_u = halves.next().expect("unconditional half");
        (d_c, d_u)
    }

    fn denoise_cond(&mut self, x: Tensor<3>, sigma: f64) -> Tensor<3> {
        let b = x.dims()[0];
        let keep = (self.sample_cond_dropout > 0.0).then(|| self.keep(b));
        edm::denoise(
            self.net,
            x,
            &self.sigma(b, sigma),
            self.sigma_data,
            Some(self.cond.clone()),
            keep,
        )
    }

    fn denoise_uncond(&mut self, x: Tensor<3>, sigma: f64) -> Tensor<3> {
        let b = x.dims()[0];
        edm::denoise(
            self.net,
            x,
            &self.sigma(b, sigma),
            self.sigma_data,
            None,
            None,
        )
    }
}
