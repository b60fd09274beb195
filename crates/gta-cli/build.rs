//! Embeds an rpath to the repository's `.mujoco/lib` (filled by `scripts/setup-mujoco.sh`) in the
//! `gta` binary and this package's test binaries, so they find `libmujoco.so.3.17.0` without
//! `LD_LIBRARY_PATH` (envs-and-data.md §1.5: a link argument reaches only the package that emits it).
//! A second rpath, `$ORIGIN`, lets a shipped `gta` (e.g. on the GPU machine) find a copy of
//! `libmujoco.so.3.17.0` placed next to it (§1.6).

use std::path::PathBuf;

fn main() {
    let manifest =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let lib = manifest.join("../../.mujoco/lib");
    let lib = lib.canonicalize().unwrap_or(lib);
    println!(
        "cargo::rerun-if-changed={}",
        lib.join("libmujoco.so.3.17.0").display()
    );
    println!("cargo::rustc-link-arg=-Wl,-rpath,{}", lib.display());
    println!("cargo::rustc-link-arg=-Wl,-rpath,$ORIGIN");
}
