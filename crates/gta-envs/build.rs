//! Finds MuJoCo 3.17.0 and the gymnasium XMLs that `scripts/setup-mujoco.sh` placed in the
//! repository's `.mujoco/` folder (envs-and-data.md §1.4–1.5):
//! - embeds an rpath to `.mujoco/lib` in this package's binaries and test binaries, so they find
//!   `libmujoco.so.3.17.0` at run time without `LD_LIBRARY_PATH`;
//! - exports `GTA_MUJOCO_ASSETS` (absolute path of `.mujoco/assets`) for `include_str!` /
//!   `include_bytes!`, so the XML models (and the Adroit meshes, loaded through MuJoCo's virtual
//!   file system) are compiled into the library and no run-time path is needed.
//!
//! Linking itself is done by mujoco-rs through `MUJOCO_DYNAMIC_LINK_DIR` (`.cargo/config.toml`).

use std::path::PathBuf;

fn main() {
    let manifest =
        PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let root = manifest
        .join("../..")
        .canonicalize()
        .expect("crates/gta-envs sits two levels below the root");
    let lib = root.join(".mujoco/lib");
    let assets = root.join(".mujoco/assets");
    let needed = [
        lib.join("libmujoco.so.3.17.0"),
        assets.join("half_cheetah.xml"),
        assets.join("hopper.xml"),
        assets.join("walker2d.xml"),
        assets.join("ant.xml"),
    ];
    // The Adroit hand files adroit.rs embeds (gymnasium-robotics 1.4.2, envs-and-data.md §6.3);
    // keep in sync with ADROIT_FILES of scripts/setup-mujoco.sh.
    let adroit = assets.join("adroit_hand");
    let adroit_files = [
        "adroit_door.xml",
        "adroit_pen.xml",
        "adroit_model.xml",
        "adroit_assets.xml",
    ]
    .iter()
    .map(|f| adroit.join(f))
    .chain(
        [
            "forearm_simple",
            "wrist",
            "palm",
            "lfmetacarpal",
            "knuckle",
            "F3",
            "F2",
            "F1",
            "TH3_z",
            "TH2_z",
            "TH1_z",
        ]
        .iter()
        .map(|m| adroit.join(format!("resources/meshes/{m}.stl"))),
    );
    let needed: Vec<PathBuf> = needed.into_iter().chain(adroit_files).collect();
    for file in &needed {
        println!("cargo::rerun-if-changed={}", file.display());
        if !file.is_file() {
            panic!(
                "{} is missing: run `scripts/setup-mujoco.sh` from the repository root first",
                file.display()
            );
        }
    }
    println!("cargo::rustc-link-arg=-Wl,-rpath,{}", lib.display());
    println!("cargo::rustc-env=GTA_MUJOCO_ASSETS={}", assets.display());
}
