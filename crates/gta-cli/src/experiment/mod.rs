//! The experiment runner behind `gta experiment` (issue 8 item 3): a spec ([`spec`]) becomes a
//! DAG of cells ([`cells`]), run as `gta` subprocesses with restart-safe markers ([`runner`]),
//! and summarized into tables and plots ([`report`]). docs/experiments.md is the user reference.

pub mod cells;
pub mod report;
pub mod runner;
pub mod spec;

/// The resolved spec an output folder was created for (written by `run`, read by `report`).
pub const SPEC_FILE: &str = "spec.json";
