//! Online SAC throughput: `cargo run --release -p gta-rl --example sac_speed -- [env] [env_steps]
//! [hidden] [batch] [device]` runs `start_steps` random steps, then env steps with one update
//! each, and prints updates/s (env stepping and action sampling included).

use std::time::Instant;

use gta_nn::{DeviceKind, init_device};
use gta_rl::online::{SacConfig, SacTrainer};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let env = args.get(1).map_or("halfcheetah", |s| s.as_str());
    let steps: u64 = args.get(2).map_or(2000, |s| s.parse().unwrap());
    let hidden: usize = args.get(3).map_or(256, |s| s.parse().unwrap());
    let batch: usize = args.get(4).map_or(256, |s| s.parse().unwrap());
    let kind: DeviceKind = args.get(5).map_or("cpu", |s| s.as_str()).parse().unwrap();
    let device = init_device(kind, 0).unwrap();
    let mut c = SacConfig::for_env(env);
    c.hidden = hidden;
    c.batch_size = batch;
    c.start_steps = 1000;
    c.eval_every = 0;
    c.snapshot_every = 0;
    c.eval_episodes = 0;
    let mut t = SacTrainer::new(c, &device).unwrap();
    for _ in 0..1000 + 50 {
        t.step().unwrap();
    }
    let _ = t.agent().alpha(); // sync
    let u0 = t.updates();
    let t0 = Instant::now();
    for _ in 0..steps {
        t.step().unwrap();
    }
    let _ = t.agent().alpha(); // sync
    let dt = t0.elapsed().as_secs_f64();
    let n = t.updates() - u0;
    println!(
        "{env} hidden {hidden} batch {batch} device {kind}: {n} env steps + updates in {dt:.2} s = {:.1} updates/s",
        n as f64 / dt
    );
}
