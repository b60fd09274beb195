//! One module per subcommand group.

pub mod augment;
pub mod bench;
pub mod data;
pub mod demo;
pub mod diffusion;
pub mod env;
pub mod experiment;
pub mod gpu;
pub mod import_official;
pub mod quality;
pub mod rl;
pub mod run_dir;
pub mod sac;
pub mod synther;
