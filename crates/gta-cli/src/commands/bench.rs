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
    /// Fixed cost of one tensor operation: a chain of small element-wise ops, without and with
    /// autodiff (forward + backward), in µs per op. The MixerUnet training step issues ≈ 3,200
    /// launches; this says how much of the step their fixed cost alone takes.
    Ops(BenchOpsArgs),
}

/// Arguments of `gta bench ops`.
#[derive(clap::Args, Debug)]
pub struct BenchOpsArgs {
    /// Device: cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Operations per chain (each a small element-wise op on a [256, 64] tensor).
    #[arg(long, default_value_t = 3200)]
    ops: usize,
    /// Timed chains (after one warm-up chain).
    #[arg(long, default_value_t = 5)]
    reps: usize,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

/// `gta bench ops`.
fn bench_ops(args: BenchOpsArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.ops > 0 && args.reps > 0,
        "--ops and --reps must be positive"
    );
    let kind: gta_nn::DeviceKind = args.device.parse()?;
    let device = gta_nn::init_device(kind, 0)?;
    let mut per_op = [0.0f64; 2];
    for (k, autodiff) in [false, true].into_iter().enumerate() {
        gta_nn::overhead::op_chain(&device, args.ops, autodiff);
        let secs: f64 = (0..args.reps)
            .map(|_| gta_nn::overhead::op_chain(&device, args.ops, autodiff).0)
            .sum();
        per_op[k] = secs / (args.reps * args.ops) as f64 * 1e6;
    }
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "bench": "ops", "device": kind.to_string(), "ops": args.ops, "reps": args.reps,
                "us_per_op": per_op[0], "us_per_op_autodiff_forward_backward": per_op[1],
            })
        );
    } else {
        println!(
            "ops bench on {kind}: chains of {} element-wise ops on [256, 64]",
            args.ops
        );
        println!("  {:.1} µs per op without autodiff", per_op[0]);
        println!(
            "  {:.1} µs per op with autodiff (forward + backward)",
            per_op[1]
        );
    }
    Ok(())
}

pub fn run(cmd: BenchCmd) -> anyhow::Result<()> {
    match cmd {
        BenchCmd::Env(args) => super::env::bench(args),
        BenchCmd::DiffusionTrain(args) => super::diffusion::bench_train(args),
        BenchCmd::Augment(args) => super::augment::bench(args),
        BenchCmd::Rl(args) => super::rl::bench_rl(args),
        BenchCmd::Ops(args) => bench_ops(args),
    }
}
