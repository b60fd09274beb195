//! Where the CUDA backend keeps its compiled kernels and autotune results (issue 12).
//!
//! On a fresh GPU machine burn's CUDA backend compiles every kernel with NVRTC and (with the
//! `fusion` feature) autotunes every matmul, reduction and fused kernel before the first step
//! completes: minutes for the MixerUnet (`benchmarks/RESULTS.md`). CubeCL can persist both in
//! one *environment* database (`<dir>/<name>.db`), but by default the compiled-kernel cache is
//! off and the database lands in a folder that depends on the working directory.
//! [`configure`] pins it: one gta cache directory (`--gpu-cache`, `GTA_GPU_CACHE`, default
//! `~/.cache/gta/cubecl`), compiled-kernel caching on, an explicit autotune level.
//! [`export_bundle`] / [`import_bundle`] carry a warm database to another machine through
//! CubeCL's own bundle format (one SQLite file; entries are keyed by the CubeCL version and the
//! device, so a bundle from another card is ignored, never wrong).

use std::path::{Path, PathBuf};

/// How much effort autotune spends on a new kernel shape (CubeCL's levels).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AutotuneLevel {
    /// Fewest candidates: the cheapest cold start.
    Minimal,
    /// CubeCL's default.
    Balanced,
    /// More candidates.
    Extensive,
    /// Every candidate, exact shapes.
    Full,
}

impl std::str::FromStr for AutotuneLevel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "minimal" | "0" => Ok(Self::Minimal),
            "balanced" | "1" => Ok(Self::Balanced),
            "extensive" | "2" => Ok(Self::Extensive),
            "full" | "3" => Ok(Self::Full),
            other => Err(format!(
                "autotune level {other:?}: expected minimal, balanced, extensive or full"
            )),
        }
    }
}

/// The GPU cache settings of one process.
#[derive(Clone, Debug, PartialEq)]
pub struct GpuCacheOptions {
    /// Directory holding the environment database.
    pub dir: PathBuf,
    /// Autotune effort for shapes not yet in the cache.
    pub autotune_level: AutotuneLevel,
    /// Persist compiled kernels (NVRTC output) next to the autotune results.
    pub compile_cache: bool,
}

impl GpuCacheOptions {
    /// `dir` or `$GTA_GPU_CACHE` or `$XDG_CACHE_HOME/gta/cubecl` or `~/.cache/gta/cubecl`;
    /// the level from `level`, else `$CUBECL_AUTOTUNE_LEVEL`, else `fallback`.
    pub fn resolve(
        dir: Option<PathBuf>,
        level: Option<AutotuneLevel>,
        fallback: AutotuneLevel,
    ) -> Result<Self, String> {
        let dir = dir
            .or_else(|| std::env::var_os("GTA_GPU_CACHE").map(PathBuf::from))
            .unwrap_or_else(default_cache_dir);
        let level = match level {
            Some(l) => l,
            None => match std::env::var("CUBECL_AUTOTUNE_LEVEL") {
                Ok(v) => v.parse()?,
                Err(_) => fallback,
            },
        };
        Ok(Self {
            dir,
            autotune_level: level,
            compile_cache: true,
        })
    }

    /// The NVIDIA driver's JIT cache (PTX → machine code) inside [`Self::dir`]: CubeCL caches
    /// PTX, but loading PTX on a new machine still costs the driver's compilation (most of the
    /// first training step on a fresh H200 with a carried PTX cache, `benchmarks/RESULTS.md`).
    pub fn driver_cache(&self) -> PathBuf {
        self.dir.join("nv")
    }

    /// The environment database file inside [`Self::dir`] (CubeCL names it after the
    /// environment, `default.db` unless `CUBECL_ENVIRONMENT` says otherwise).
    pub fn database(&self) -> PathBuf {
        let name = std::env::var("CUBECL_ENVIRONMENT").unwrap_or_else(|_| "default".into());
        self.dir.join(format!("{name}.db"))
    }
}

/// The options the process asked for (set once by the CLI before any device exists).
static REQUESTED: std::sync::OnceLock<GpuCacheOptions> = std::sync::OnceLock::new();
/// Whether [`configure`] already ran in this process, and what it did.
static CONFIGURED: std::sync::OnceLock<Result<bool, String>> = std::sync::OnceLock::new();

/// Records the cache options for the first CUDA device this process creates (the CLI calls it
/// from its global `--gpu-cache` / `--autotune-level` flags). Later calls are ignored.
pub fn request(opts: GpuCacheOptions) {
    let _ = REQUESTED.set(opts);
}

/// The options this process uses: the [`request`]ed ones, else the defaults.
pub fn current_options() -> Result<GpuCacheOptions, GpuCacheError> {
    match REQUESTED.get() {
        Some(o) => Ok(o.clone()),
        None => GpuCacheOptions::resolve(None, None, AutotuneLevel::Minimal)
            .map_err(GpuCacheError::Config),
    }
}

/// Runs [`configure`] once, with the [`request`]ed options or the defaults (autotune level
/// `minimal`: see `benchmarks/RESULTS.md` for the cold-start cost of the others).
pub fn ensure_configured() -> Result<bool, GpuCacheError> {
    let r = CONFIGURED.get_or_init(|| {
        let opts = current_options().map_err(|e| e.to_string())?;
        configure(&opts).map_err(|e| e.to_string())
    });
    r.clone().map_err(GpuCacheError::Config)
}

/// Points the NVIDIA driver's JIT cache at [`GpuCacheOptions::driver_cache`] (4 GiB) unless the
/// user set `CUDA_CACHE_PATH`. Call at the start of `main`, before any thread exists: it sets
/// process environment variables, which the driver reads once at `cuInit`.
pub fn set_driver_cache_env(opts: &GpuCacheOptions) {
    if std::env::var_os("CUDA_CACHE_PATH").is_none() {
        // SAFETY: called from `main` before any other thread is spawned.
        unsafe { std::env::set_var("CUDA_CACHE_PATH", opts.driver_cache()) };
        if std::env::var_os("CUDA_CACHE_MAXSIZE").is_none() {
            unsafe { std::env::set_var("CUDA_CACHE_MAXSIZE", "4294967296") };
        }
    }
}

/// `$XDG_CACHE_HOME/gta/cubecl`, else `$HOME/.cache/gta/cubecl`, else `./.gta-cache/cubecl`.
pub fn default_cache_dir() -> PathBuf {
    if let Some(x) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(x).join("gta/cubecl");
    }
    if let Some(h) = std::env::var_os("HOME") {
        return PathBuf::from(h).join(".cache/gta/cubecl");
    }
    PathBuf::from(".gta-cache/cubecl")
}

/// Why the cache could not be configured or moved.
#[derive(Debug, thiserror::Error)]
pub enum GpuCacheError {
    /// The cache directory cannot be created.
    #[error("GPU cache directory {0}: {1}")]
    Dir(PathBuf, std::io::Error),
    /// CubeCL's configuration was read before gta could set it.
    #[error(
        "the CubeCL runtime configuration was already loaded (a cubecl.toml/burn.toml in {0} or a \
         GPU call before configure); gta's cache settings were not applied"
    )]
    AlreadyConfigured(String),
    /// A bundle could not be written or read.
    #[error("GPU cache bundle {0}: {1}")]
    Bundle(PathBuf, String),
    /// [`ensure_configured`] failed (the message of the first failure).
    #[error("GPU cache: {0}")]
    Config(String),
    /// The binary has no CUDA backend.
    #[error("this binary was built without the cuda feature: there is no GPU cache")]
    NoCuda,
}

/// Installs the CubeCL runtime configuration for this process: environment database in
/// `opts.dir`, compiled-kernel cache on, autotune level. Must run before the first CUDA device
/// is created. A `cubecl.toml` or `burn.toml` in the working directory (or a parent) wins: the
/// user configured CubeCL by hand, and gta then leaves it alone (returns `Ok(false)`).
#[cfg(feature = "cuda")]
pub fn configure(opts: &GpuCacheOptions) -> Result<bool, GpuCacheError> {
    use burn::cubecl::config::{CubeClRuntimeConfig, RuntimeConfig, autotune};
    if user_config_file().is_some() {
        return Ok(false);
    }
    std::fs::create_dir_all(&opts.dir).map_err(|e| GpuCacheError::Dir(opts.dir.clone(), e))?;
    let mut cfg = CubeClRuntimeConfig::default();
    cfg.environment.path = burn::cubecl::config::cache::CacheConfig::Directory(opts.dir.clone());
    cfg.compilation.cache = opts.compile_cache;
    cfg.autotune.level = match opts.autotune_level {
        AutotuneLevel::Minimal => autotune::AutotuneLevel::Minimal,
        AutotuneLevel::Balanced => autotune::AutotuneLevel::Balanced,
        AutotuneLevel::Extensive => autotune::AutotuneLevel::Extensive,
        AutotuneLevel::Full => autotune::AutotuneLevel::Full,
    };
    // CubeCL's own environment variables (CUBECL_DEBUG_LOG, CUBECL_DEBUG_OPTION=profile,
    // CUBECL_AUTOTUNE_LEVEL, ...) still apply on top: `try_set` alone would skip them.
    let cfg = cfg.override_from_env();
    if !CubeClRuntimeConfig::try_set(cfg) {
        return Err(GpuCacheError::AlreadyConfigured(
            std::env::current_dir()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
        ));
    }
    Ok(true)
}

/// Without CUDA there is nothing to configure.
#[cfg(not(feature = "cuda"))]
pub fn configure(_opts: &GpuCacheOptions) -> Result<bool, GpuCacheError> {
    Ok(false)
}

/// The first `cubecl.toml` / `burn.toml` in the working directory or its parents.
pub fn user_config_file() -> Option<PathBuf> {
    let mut dir = std::env::current_dir().ok()?;
    loop {
        for name in ["cubecl.toml", "burn.toml"] {
            let p = dir.join(name);
            if p.is_file() {
                return Some(p);
            }
        }
        if !dir.pop() {
            return None;
        }
    }
}

/// Writes the active environment (everything compiled and tuned so far, after [`configure`])
/// to one SQLite bundle file at `out`, via a temporary name renamed on success.
#[cfg(feature = "cuda")]
pub fn export_bundle(out: &Path) -> Result<String, GpuCacheError> {
    let tmp = out.with_extension("partial");
    let _ = std::fs::remove_file(&tmp);
    let manifest = burn::cubecl::environment::bundle()
        .save(&tmp, burn::cubecl::bundle::BundleFormat::Sqlite)
        .map_err(|e| GpuCacheError::Bundle(out.to_path_buf(), format!("{e:?}")))?;
    std::fs::rename(&tmp, out)
        .map_err(|e| GpuCacheError::Bundle(out.to_path_buf(), e.to_string()))?;
    Ok(format!("{manifest:?}"))
}

/// Copies every entry of the bundle at `path` into the active environment (after
/// [`configure`]); returns CubeCL's import report.
#[cfg(feature = "cuda")]
pub fn import_bundle(path: &Path) -> Result<String, GpuCacheError> {
    if !path.is_file() {
        return Err(GpuCacheError::Bundle(
            path.to_path_buf(),
            "no such file".into(),
        ));
    }
    let bundle = burn::cubecl::bundle::open(path)
        .map_err(|e| GpuCacheError::Bundle(path.to_path_buf(), format!("{e:?}")))?;
    let report = burn::cubecl::bundle::import(bundle.as_ref());
    Ok(format!("{report:?}"))
}

/// Without CUDA there is no cache to export.
#[cfg(not(feature = "cuda"))]
pub fn export_bundle(_out: &Path) -> Result<String, GpuCacheError> {
    Err(GpuCacheError::NoCuda)
}

/// Without CUDA there is no cache to import into.
#[cfg(not(feature = "cuda"))]
pub fn import_bundle(_path: &Path) -> Result<String, GpuCacheError> {
    Err(GpuCacheError::NoCuda)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_parse_names_and_numbers_and_refuse_others() {
        assert_eq!(
            "minimal".parse::<AutotuneLevel>(),
            Ok(AutotuneLevel::Minimal)
        );
        assert_eq!("3".parse::<AutotuneLevel>(), Ok(AutotuneLevel::Full));
        let e = "fast".parse::<AutotuneLevel>().unwrap_err();
        assert!(e.contains("\"fast\"") && e.contains("minimal"), "{e}");
    }

    #[test]
    fn explicit_dir_and_level_win_and_database_is_inside_the_dir() {
        let o = GpuCacheOptions::resolve(
            Some("/x/cache".into()),
            Some(AutotuneLevel::Extensive),
            AutotuneLevel::Minimal,
        )
        .unwrap();
        assert_eq!(o.dir, PathBuf::from("/x/cache"));
        assert_eq!(o.autotune_level, AutotuneLevel::Extensive);
        assert!(o.compile_cache);
        assert_eq!(o.database().parent(), Some(Path::new("/x/cache")));
    }
}
