//! Exact resume: N steps in one go equal k steps + checkpoint + load + (N − k) steps, bit for
//! bit on CPU (online weights, EMA weights, and the next losses). One test per binary so that no
//! other test touches the device's global random generator meanwhile.

mod common;

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::{Device, Tensor};
use gta_diffusion::checkpoint;
use gta_diffusion::{DenoiserConfig, DiffusionConfig, MixerUnetConfig, Trainer};

struct Dump(Vec<f32>);

impl ModuleVisitor for Dump {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.0
            .extend(param.val().into_data().try_to_vec::<f32>().unwrap());
    }
}

fn weights<M: Module>(m: &M) -> Vec<f32> {
    let mut d = Dump(Vec::new());
    m.visit(&mut d);
    d.0
}

#[test]
fn resume_reproduces_an_uninterrupted_run_bit_for_bit() {
    let data = common::synthetic_data(2, 20, 8);
    let mut config = DiffusionConfig {
        model: DenoiserConfig::MixerUnet(MixerUnetConfig {
            dim: 8,
            dim_mults: vec![1, 2],
            ..MixerUnetConfig::default()
        }),
        ..DiffusionConfig::default()
    };
    // Small numbers that still cross an EMA copy→blend switch, a restart of the LR schedule
    // and a pass boundary of the window sampler (26 windows, batch 8).
    config.train.steps = 24;
    config.train.batch_size = 8;
    config.train.ema.update_every = 2;
    config.train.ema.update_after_step = 6;
    config.train.restart_period = Some(10);
    config.train.log_every = 4;
    let (n, k) = (24u64, 11u64);
    let device = Device::flex();

    let mut full = Trainer::new(config.clone(), &data, &device).unwrap();
    let initial = full.model().clone();
    let mut losses_full = Vec::new();
    for _ in 0..n {
        losses_full.push(full.train_step().0.into_scalar::<f32>().to_bits());
    }

    let dir = tempfile::tempdir().unwrap();
    let mut first = Trainer::with_model(config, &data, initial, &device).unwrap();
    let mut losses = Vec::new();
    for _ in 0..k {
        losses.push(first.train_step().0.into_scalar::<f32>().to_bits());
    }
    let path = checkpoint::save(&first, dir.path()).unwrap();
    assert_eq!(
        checkpoint::latest(dir.path()).as_deref(),
        Some(path.as_path())
    );
    drop(first);
    let mut resumed = checkpoint::load(&path, &data, &device).unwrap();
    assert_eq!(resumed.step_count(), k);
    for _ in k..n {
        losses.push(resumed.train_step().0.into_scalar::<f32>().to_bits());
    }
    assert_eq!(losses, losses_full, "per-step losses");
    assert!(
        weights(resumed.model()) == weights(full.model()),
        "online weights differ"
    );
    assert!(
        weights(resumed.ema()) == weights(full.ema()),
        "EMA weights differ"
    );
    assert_eq!(resumed.sampler(), full.sampler());
}
