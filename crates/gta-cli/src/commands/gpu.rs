//! `gta gpu ...`: the CUDA backend's kernel and autotune cache (issue 12): warm it up for the
//! commands a job will run, and carry it to a fresh machine as one bundle file.
//!
//! The cache location and autotune level are the global `--gpu-cache` and `--autotune-level`
//! flags (see `gta_nn::gpu_cache`).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::{Parser, Subcommand};
use gta_nn::gpu_cache;

/// `gta gpu` subcommands.
#[derive(Subcommand, Debug)]
pub enum GpuCmd {
    /// Compile and autotune every kernel the chosen GPU commands need (the halfcheetah-shaped
    /// benchmarks: diffusion training at batch 256, augmentation, offline RL at batch 1024),
    /// filling the cache so that later runs start within seconds. Prints each part's time.
    Warmup(WarmupArgs),
    /// Where the cache lives and how big it is, and which library runs the GPU matmuls.
    Info,
    /// Write the whole cache to one file to carry elsewhere: CubeCL's bundle (compiled kernels,
    /// autotune results) and the NVIDIA driver's JIT cache, in a tar.
    Export {
        /// The bundle file to write (must not exist unless --overwrite).
        out: PathBuf,
        /// Replace an existing file.
        #[arg(long)]
        overwrite: bool,
    },
    /// Copy a file made by `gta gpu export` (or a bare CubeCL bundle) into this machine's cache.
    /// Entries made for another card or CubeCL version are kept but never used.
    Import {
        /// The bundle file.
        bundle: PathBuf,
    },
    /// Check every fused kernel of gta (LayerNorm for short and long rows, bias + GELU, Adam,
    /// the Polyak/EMA blends) against burn's composite ops on this device, forward and
    /// gradients, with random inputs. Prints one line per check; exits 1 if any is off.
    Selftest {
        /// cpu, cuda or cuda:N.
        #[arg(long, default_value = "cuda")]
        device: String,
    },
}

/// Arguments of `gta gpu warmup`.
#[derive(clap::Args, Debug)]
pub struct WarmupArgs {
    /// Comma-separated parts: diffusion-train, augment, rl (and rl's algorithms as rl:iql ...).
    #[arg(long, default_value = "diffusion-train,augment,rl")]
    what: String,
    /// cuda or cuda:N.
    #[arg(long, default_value = "cuda")]
    device: String,
    /// Windows per augmentation batch to warm up (use the batch your `gta augment` runs use).
    #[arg(long, default_value_t = 1000)]
    augment_batch: usize,
}

pub fn run(cmd: GpuCmd) -> anyhow::Result<()> {
    match cmd {
        GpuCmd::Warmup(args) => warmup(args),
        GpuCmd::Info => info(),
        GpuCmd::Export { out, overwrite } => {
            if out.exists() && !overwrite {
                anyhow::bail!("{} exists; pass --overwrite to replace it", out.display());
            }
            export(&out)
        }
        GpuCmd::Import { bundle } => import(&bundle),
        GpuCmd::Selftest { device } => selftest(&device),
    }
}

fn selftest(device: &str) -> anyhow::Result<()> {
    let kind: gta_nn::DeviceKind = device.parse()?;
    let device = gta_nn::init_device(kind, 0)?;
    let checks = gta_nn::kernels::selftest::run(&device);
    let mut failed = 0;
    for c in &checks {
        let verdict = if c.ok() { "ok" } else { "FAILED" };
        failed += usize::from(!c.ok());
        println!(
            "{verdict:6} {:40} max |fused - composite| {:.3e} (tolerance {:.0e})",
            c.name, c.max_abs_err, c.tolerance
        );
    }
    if failed > 0 {
        anyhow::bail!(crate::exit::RuntimeFailure(format!(
            "{failed} of {} fused-kernel checks failed on {kind}",
            checks.len()
        )));
    }
    println!("all {} fused-kernel checks passed on {kind}", checks.len());
    Ok(())
}

/// Name of the CubeCL bundle inside an export file.
const BUNDLE_ENTRY: &str = "cubecl.db";
/// Folder of the driver's JIT cache inside an export file.
const DRIVER_ENTRY: &str = "nv";

/// One tar file: CubeCL's bundle (compiled PTX, autotune results) and the driver's JIT cache.
fn export(out: &std::path::Path) -> anyhow::Result<()> {
    gpu_cache::ensure_configured()?;
    let opts = gpu_cache::current_options()?;
    let scratch = tempfile::tempdir().context("creating a scratch folder")?;
    let bundle = scratch.path().join(BUNDLE_ENTRY);
    let manifest = gpu_cache::export_bundle(&bundle)?;
    let tmp = out.with_extension("partial");
    let file =
        std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    let mut tar = tar::Builder::new(file);
    tar.append_path_with_name(&bundle, BUNDLE_ENTRY)?;
    let nv = opts.driver_cache();
    if nv.is_dir() {
        tar.append_dir_all(DRIVER_ENTRY, &nv)?;
    }
    tar.into_inner()?.sync_all()?;
    std::fs::rename(&tmp, out).with_context(|| format!("renaming to {}", out.display()))?;
    let size = std::fs::metadata(out).map(|m| m.len()).unwrap_or(0);
    println!(
        "wrote {} ({size} bytes; driver JIT cache {}): {manifest}",
        out.display(),
        if nv.is_dir() { "included" } else { "absent" }
    );
    Ok(())
}

/// Imports an export file (tar) or a bare CubeCL bundle.
fn import(path: &std::path::Path) -> anyhow::Result<()> {
    gpu_cache::ensure_configured()?;
    let opts = gpu_cache::current_options()?;
    let mut head = [0u8; 16];
    {
        use std::io::Read;
        let mut f =
            std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
        let _ = f.read(&mut head)?;
    }
    if head.starts_with(b"SQLite format 3") {
        let report = gpu_cache::import_bundle(path)?;
        println!("imported {}: {report}", path.display());
        return Ok(());
    }
    let scratch = tempfile::tempdir().context("creating a scratch folder")?;
    let file = std::fs::File::open(path)?;
    tar::Archive::new(file)
        .unpack(scratch.path())
        .with_context(|| {
            format!(
                "{}: not a gta GPU cache export (tar) or bundle",
                path.display()
            )
        })?;
    let bundle = scratch.path().join(BUNDLE_ENTRY);
    if !bundle.is_file() {
        anyhow::bail!(
            "{}: no {BUNDLE_ENTRY} inside: not a `gta gpu export` file",
            path.display()
        );
    }
    let report = gpu_cache::import_bundle(&bundle)?;
    let nv = scratch.path().join(DRIVER_ENTRY);
    let mut copied = 0usize;
    if nv.is_dir() {
        copied = copy_tree(&nv, &opts.driver_cache())?;
    }
    println!(
        "imported {}: {report}; driver JIT cache: {copied} files",
        path.display()
    );
    Ok(())
}

/// Copies every file below `from` to the same place below `to`; returns the count.
fn copy_tree(from: &std::path::Path, to: &std::path::Path) -> anyhow::Result<usize> {
    std::fs::create_dir_all(to)?;
    let mut n = 0;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            n += copy_tree(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
            n += 1;
        }
    }
    Ok(n)
}

fn info() -> anyhow::Result<()> {
    let opts = gpu_cache::current_options()?;
    let db = opts.database();
    let size = std::fs::metadata(&db).map(|m| m.len()).ok();
    println!("cache directory: {}", opts.dir.display());
    println!(
        "database: {} ({})",
        db.display(),
        size.map_or("absent".into(), |s| format!("{s} bytes"))
    );
    println!("autotune level: {:?}", opts.autotune_level);
    println!("matmuls: {}", gta_nn::precision::matmul_library());
    if let Some(f) = gpu_cache::user_config_file() {
        println!(
            "note: {} overrides these settings (CubeCL reads it instead)",
            f.display()
        );
    }
    Ok(())
}

/// Parses `args` as the flags of a `gta bench` subcommand (reusing their definitions).
fn parse<A: clap::Args>(args: &[&str]) -> anyhow::Result<A> {
    #[derive(Parser)]
    struct Wrap<A: clap::Args> {
        #[command(flatten)]
        inner: A,
    }
    let mut all = vec!["gta"];
    all.extend_from_slice(args);
    Ok(Wrap::<A>::try_parse_from(all)?.inner)
}

fn warmup(args: WarmupArgs) -> anyhow::Result<()> {
    let batch = args.augment_batch.to_string();
    let total = Instant::now();
    for part in args
        .what
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        let t = Instant::now();
        let dev = args.device.as_str();
        match part {
            "diffusion-train" => super::diffusion::bench_train(parse(&[
                "--device", dev, "--warmup", "2", "--steps", "2", "--json",
            ])?)?,
            "augment" => super::augment::bench(parse(&[
                "--device",
                dev,
                "--batch",
                &batch,
                "--batches",
                "1",
                "--json",
            ])?)?,
            p if p == "rl" || p.starts_with("rl:") => {
                let algo = p.strip_prefix("rl:").unwrap_or("td3bc");
                super::rl::bench_rl(parse(&[
                    "--algo", algo, "--device", dev, "--warmup", "3", "--steps", "3", "--json",
                ])?)?
            }
            other => {
                anyhow::bail!(
                    "--what: unknown part {other:?}; expected diffusion-train, augment, rl or rl:ALGO"
                );
            }
        }
        eprintln!("warmup {part}: {:.1} s", t.elapsed().as_secs_f64());
    }
    let opts = gpu_cache::current_options()?;
    let size = std::fs::metadata(opts.database())
        .map(|m| m.len())
        .unwrap_or(0);
    eprintln!(
        "warmup total {:.1} s; cache {} ({size} bytes)",
        total.elapsed().as_secs_f64(),
        opts.database().display()
    );
    Ok(())
}
