//! Run folders shared by `gta diffusion train` and `gta rl train`: creation that never mixes a
//! new run into an old one, and atomic small-file writes (config.toml, metrics.csv).

use std::path::Path;

use anyhow::{Context, bail};

/// Writes `contents` to `path` through a temporary file in the same folder.
pub fn write_atomic(path: &Path, contents: &str) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, contents).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path)
        .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))?;
    Ok(())
}

/// Creates a new run folder; refuses one that exists and is not empty.
pub fn create_new(run_dir: &Path) -> anyhow::Result<()> {
    if run_dir.exists()
        && std::fs::read_dir(run_dir)
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        bail!(
            "--out {}: folder exists and is not empty (use --resume to continue a run)",
            run_dir.display()
        );
    }
    std::fs::create_dir_all(run_dir).with_context(|| format!("creating {}", run_dir.display()))
}
