//! `gta bench ...`: throughput benchmarks. Each prints its figure and the ratio to the anchor in
//! `../shared/docs/performance.md`; `--json` prints one JSON object instead. Benchmarks are never
//! timed tests: they are commands a person or a GPU job runs.

use clap::Subcommand;

#[derive(Subcommand, Debug)]
pub enum BenchCmd {
    /// Environment steps per second on one core (random actions).
    Env(super::env::BenchEnvArgs),
    /// Diffusion training steps per second for the halfcheetah-shaped MixerUnet.
    DiffusionTrain(super::diffusion::BenchTrainArgs),
    /// Generated transitions per second of the guided partial-noise sampler (halfcheetah model).
    Augment(super::augment::BenchAugmentArgs),
    /// Offline-RL gradient steps per second at batch 1024 (TD3+BC, IQL).
    Rl(super::rl::BenchRlArgs),
}

pub fn run(cmd: BenchCmd) -> anyhow::Result<()> {
    match cmd {
        BenchCmd::Env(args) => super::env::bench(args),
        BenchCmd::DiffusionTrain(args) => super::diffusion::bench_train(args),
        BenchCmd::Augment(args) => super::augment::bench(args),
        BenchCmd::Rl(args) => super::rl::bench_rl(args),
    }
}
