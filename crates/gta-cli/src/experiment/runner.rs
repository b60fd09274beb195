//! Runs cells as subprocesses of the `gta` binary itself (as `gta demo` does), `jobs` at a time,
//! each into its own folder with its output in `log.txt`. A cell is finished when its folder holds
//! `DONE.json` (written atomically after the command succeeded, with the command, duration and
//! main outputs): finished cells are skipped on restart, and a folder without the marker (an
//! interrupted or failed cell) is removed and the cell run again. A `<id>.lock` file beside the
//! folder keeps two processes (e.g. Slurm array tasks sharing a model cell) from running the same
//! cell at once.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

use super::cells::{Cell, CellKind};
use crate::commands::run_dir::write_atomic;
use crate::exit::RuntimeFailure;

/// Name of a finished cell's marker file.
pub const DONE: &str = "DONE.json";

/// The contents of `DONE.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DoneMarker {
    /// Cell id.
    pub id: String,
    /// What the cell computed.
    pub kind: CellKind,
    /// The `gta` arguments it ran.
    pub args: Vec<String>,
    /// The same as one shell line.
    pub command: String,
    /// Start time, seconds since the Unix epoch.
    pub started_unix_s: f64,
    /// Wall-clock duration of the command in seconds.
    pub duration_s: f64,
    /// Main outputs by role.
    pub outputs: BTreeMap<String, PathBuf>,
}

/// Whether `cell` has finished (its DONE marker exists).
pub fn is_done(cell: &Cell) -> bool {
    cell.dir.join(DONE).is_file()
}

/// Reads a finished cell's marker.
pub fn read_done(cell: &Cell) -> anyhow::Result<DoneMarker> {
    let path = cell.dir.join(DONE);
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{}: not a DONE marker", path.display()))
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    Pending,
    Running,
    Done,
    Failed,
}

/// What one `run_cells` call did.
#[derive(Debug, Default)]
pub struct Summary {
    /// Cells run to completion now.
    pub ran: Vec<String>,
    /// Cells already finished before (skipped).
    pub skipped: Vec<String>,
    /// Cells that failed, with the reason.
    pub failed: Vec<(String, String)>,
    /// Cells not run because a dependency failed.
    pub blocked: Vec<String>,
}

/// Runs the cells with indices `wanted` (which must include their dependencies), at most `jobs`
/// at a time, printing one line per start and finish.
pub fn run_cells(cells: &[Cell], wanted: &[usize], jobs: usize) -> anyhow::Result<Summary> {
    let exe = std::env::current_exe().context("locating the gta binary")?;
    let mut state = vec![State::Pending; cells.len()];
    let mut summary = Summary::default();
    for &i in wanted {
        if is_done(&cells[i]) {
            state[i] = State::Done;
            summary.skipped.push(cells[i].id.clone());
        }
    }
    let (tx, rx) = mpsc::channel::<(usize, anyhow::Result<f64>)>();
    let mut running = 0usize;
    std::thread::scope(|scope| {
        loop {
            for &i in wanted {
                if running >= jobs.max(1) {
                    break;
                }
                if state[i] != State::Pending
                    || !cells[i].deps.iter().all(|&d| state[d] == State::Done)
                {
                    continue;
                }
                state[i] = State::Running;
                running += 1;
                println!("[start] {}: {}", cells[i].id, cells[i].command_line());
                let (tx, cell, exe) = (tx.clone(), &cells[i], exe.clone());
                scope.spawn(move || {
                    let _ = tx.send((i, run_one(&exe, cell)));
                });
            }
            if running == 0 {
                break;
            }
            let (i, result) = rx.recv().expect("a worker reports before it ends");
            running -= 1;
            match result {
                Ok(secs) if secs < 0.0 => {
                    state[i] = State::Done;
                    println!("[skip]  {}: finished by another process", cells[i].id);
                    summary.skipped.push(cells[i].id.clone());
                }
                Ok(secs) => {
                    state[i] = State::Done;
                    println!("[done]  {} in {secs:.1} s", cells[i].id);
                    summary.ran.push(cells[i].id.clone());
                }
                Err(e) => {
                    state[i] = State::Failed;
                    println!("[FAIL]  {}: {e:#}", cells[i].id);
                    summary.failed.push((cells[i].id.clone(), format!("{e:#}")));
                }
            }
        }
    });
    for &i in wanted {
        if state[i] == State::Pending {
            summary.blocked.push(cells[i].id.clone());
        }
    }
    Ok(summary)
}

/// Runs one cell (under its lock). Returns the command's duration, or −1 when another process
/// finished the cell while this one waited for the lock.
fn run_one(exe: &Path, cell: &Cell) -> anyhow::Result<f64> {
    let _lock = Lock::acquire(cell)?;
    if is_done(cell) {
        return Ok(-1.0);
    }
    if cell.dir.exists() {
        // An interrupted or failed attempt: start the cell from scratch.
        std::fs::remove_dir_all(&cell.dir)
            .with_context(|| format!("removing the unfinished cell {}", cell.dir.display()))?;
    }
    std::fs::create_dir_all(&cell.dir)
        .with_context(|| format!("creating {}", cell.dir.display()))?;
    for (path, text) in &cell.files {
        write_atomic(path, text)?;
    }
    let log_path = cell.dir.join("log.txt");
    let log = std::fs::File::create(&log_path)
        .with_context(|| format!("creating {}", log_path.display()))?;
    let started = SystemTime::now();
    let t0 = Instant::now();
    let status = std::process::Command::new(exe)
        .args(&cell.args)
        .stdout(log.try_clone().context("duplicating the log handle")?)
        .stderr(log)
        .status()
        .with_context(|| format!("running {}", exe.display()))?;
    let secs = t0.elapsed().as_secs_f64();
    if !status.success() {
        let tail = std::fs::read_to_string(&log_path).unwrap_or_default();
        let last: Vec<&str> = tail.lines().rev().take(3).collect();
        return Err(anyhow::Error::new(RuntimeFailure(format!(
            "`{}` failed ({status}); see {}: {}",
            cell.command_line(),
            log_path.display(),
            last.into_iter().rev().collect::<Vec<_>>().join(" | ")
        ))));
    }
    let marker = DoneMarker {
        id: cell.id.clone(),
        kind: cell.kind,
        args: cell.args.clone(),
        command: cell.command_line(),
        started_unix_s: started
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0),
        duration_s: secs,
        outputs: cell.outputs.clone(),
    };
    write_atomic(
        &cell.dir.join(DONE),
        &serde_json::to_string_pretty(&marker).context("serializing DONE.json")?,
    )?;
    Ok(secs)
}

/// An exclusive claim on a cell: `<out>/<id>.lock`, created with `create_new`, holding
/// `host pid`. A lock of this host whose process is gone is stale and taken over; a live one is
/// waited for.
struct Lock(PathBuf);

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

impl Lock {
    fn acquire(cell: &Cell) -> anyhow::Result<Lock> {
        let path = cell.dir.with_file_name(format!("{}.lock", cell.id));
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        let me = format!("{} {}", hostname(), std::process::id());
        let mut waited = false;
        loop {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut f) => {
                    use std::io::Write;
                    f.write_all(me.as_bytes())
                        .with_context(|| format!("writing {}", path.display()))?;
                    return Ok(Lock(path));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let owner = std::fs::read_to_string(&path).unwrap_or_default();
                    let mut it = owner.split_whitespace();
                    let (host, pid) = (it.next().unwrap_or(""), it.next().unwrap_or(""));
                    let stale = host == hostname()
                        && (pid == std::process::id().to_string()
                            || !Path::new("/proc").join(pid).exists());
                    if stale {
                        let _ = std::fs::remove_file(&path);
                        continue;
                    }
                    if !waited {
                        println!("[wait]  {}: running in process {owner}", cell.id);
                        waited = true;
                    }
                    std::thread::sleep(Duration::from_millis(500));
                }
                Err(e) => {
                    return Err(e).with_context(|| format!("creating {}", path.display()));
                }
            }
        }
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Fails with a runtime error listing failed and blocked cells, if any.
pub fn check(summary: &Summary) -> anyhow::Result<()> {
    if summary.failed.is_empty() && summary.blocked.is_empty() {
        return Ok(());
    }
    let failed: Vec<String> = summary.failed.iter().map(|(id, _)| id.clone()).collect();
    let msg = format!(
        "{} cell(s) failed ({}); {} not run because a dependency failed; re-run the same command to retry them",
        failed.len(),
        failed.join(", "),
        summary.blocked.len()
    );
    bail!(RuntimeFailure(msg))
}
