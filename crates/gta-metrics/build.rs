//! Embeds an rpath to the repository's `.mujoco/lib` in this package's test binaries, which step
//! MuJoCo through gta-envs (a link argument only reaches the package that emits it;
//! envs-and-data.md §1.5).

use std::path::PathBuf;

fn main() {
    let manifest =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let lib = manifest.join("../../.mujoco/lib");
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rustc-link-arg=-Wl,-rpath,{}", lib.display());
}
