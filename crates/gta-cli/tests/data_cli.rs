//! `gta data info|convert` end to end: the built binary on the real door-human file, conversions,
//! and exit code 2 with a one-line message for every bad-input class.

use std::path::Path;
use std::process::{Command, Output};

const GTA: &str = env!("CARGO_BIN_EXE_gta");
const DOOR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/d4rl/door-v0_demos_clipped.hdf5"
);

fn gta(args: &[&str]) -> Output {
    Command::new(GTA).args(args).output().expect("running gta")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts exit code 2 and a single `error: ...` line on stderr containing every fragment.
fn assert_bad_input(o: &Output, fragments: &[&str]) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(2), "stderr: {err}");
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(lines.len(), 1, "one error line expected: {err}");
    for f in fragments {
        assert!(lines[0].contains(f), "`{f}` not in: {}", lines[0]);
    }
}

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Writes a 4-row D4RL-layout .npz with the library after `edit` has broken it in one way.
fn write_npz(
    dir: &Path,
    name: &str,
    edit: impl FnOnce(&mut gta_data::Dataset),
) -> std::path::PathBuf {
    let mut d = gta_data::Dataset::new("x");
    let n = 4;
    use gta_data::{Array, ArrayData};
    d.insert(
        "observations",
        Array::new(vec![n, 2], ArrayData::F32(vec![0.5; n * 2])),
    );
    d.insert(
        "actions",
        Array::new(vec![n, 1], ArrayData::F32(vec![0.1; n])),
    );
    d.insert("rewards", Array::new(vec![n], ArrayData::F32(vec![1.0; n])));
    d.insert(
        "terminals",
        Array::new(vec![n], ArrayData::Bool(vec![false, true, false, true])),
    );
    edit(&mut d);
    let p = dir.join(name);
    gta_data::write(&d, &p, &Default::default()).unwrap();
    p
}

#[test]
fn info_json_on_door_human() {
    let o = gta(&["data", "info", DOOR, "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["transitions"], 6729);
    assert_eq!(v["obs_dim"], 39);
    assert_eq!(v["act_dim"], 28);
    assert_eq!(v["terminals"], 25);
    assert_eq!(v["timeouts"], 25);
    assert_eq!(
        v["episodes"], 50,
        "terminals | timeouts splits each demo in two"
    );
    assert_eq!(v["dtype"], "float32");
    assert!(v["return_mean"].is_f64() && v["problems"].as_array().unwrap().is_empty());
    let o = gta(&["data", "info", DOOR, "--json", "--split", "terminals"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["episodes"], 25);
}

#[test]
fn info_table_on_door_human() {
    let o = gta(&["data", "info", DOOR]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.lines()
            .any(|l| l.starts_with("transitions") && l.ends_with("6729")),
        "{out}"
    );
    assert!(out.contains("problems: none"), "{out}");
}

#[test]
fn convert_door_to_npz_and_back_gives_identical_arrays() {
    let dir = tempfile::tempdir().unwrap();
    let npz = dir.path().join("door.npz");
    let h5 = dir.path().join("door.hdf5");
    let mini = dir.path().join("door-minari");
    for (from, to, extra) in [
        (DOOR, path_str(&npz), None),
        (path_str(&npz), path_str(&mini), Some("minari")),
        (path_str(&mini), path_str(&h5), None),
    ] {
        let mut args = vec!["data", "convert", from, to];
        if let Some(f) = extra {
            args.extend(["--format", f]);
        }
        let o = gta(&args);
        assert!(o.status.success(), "convert {from} -> {to}: {}", stderr(&o));
    }
    let a = gta_data::read(DOOR, &Default::default()).unwrap();
    let b = gta_data::read(&h5, &Default::default()).unwrap();
    assert!(
        a.bit_eq(&b),
        "door -> npz -> minari -> hdf5 changed an array"
    );
    // A second convert onto an existing output is refused without --overwrite, allowed with it.
    let o = gta(&["data", "convert", DOOR, path_str(&npz)]);
    assert_bad_input(&o, &[path_str(&npz), "already exists"]);
    let o = gta(&["data", "convert", DOOR, path_str(&npz), "--overwrite"]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn exit2_missing_file() {
    let o = gta(&["data", "info", "/nonexistent/door.hdf5"]);
    assert_bad_input(&o, &["/nonexistent/door.hdf5", "no such file"]);
}

#[test]
fn exit2_missing_key() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_npz(dir.path(), "k.npz", |d| {
        d.arrays.remove("rewards");
    });
    let o = gta(&["data", "info", path_str(&p)]);
    assert_bad_input(&o, &[path_str(&p), "missing key `rewards`", "expected"]);
}

#[test]
fn exit2_mismatched_lengths() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_npz(dir.path(), "l.npz", |d| {
        d.insert(
            "rewards",
            gta_data::Array::new(vec![3], gta_data::ArrayData::F32(vec![1.0; 3])),
        );
    });
    let o = gta(&["data", "info", path_str(&p)]);
    assert_bad_input(&o, &[path_str(&p), "`rewards` has 3 rows, expected 4"]);
}

#[test]
fn exit2_wrong_dims() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_npz(dir.path(), "d.npz", |d| {
        d.insert(
            "actions",
            gta_data::Array::new(vec![4], gta_data::ArrayData::F32(vec![1.0; 4])),
        );
    });
    let o = gta(&["data", "info", path_str(&p)]);
    assert_bad_input(
        &o,
        &[
            path_str(&p),
            "`actions` has shape [4], expected (N, act_dim)",
        ],
    );
}

#[test]
fn exit2_nan_and_no_partial_output_after_failed_convert() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_npz(dir.path(), "n.npz", |d| {
        if let gta_data::ArrayData::F32(v) = &mut d.arrays.get_mut("observations").unwrap().data {
            v[2 * 2 + 1] = f32::INFINITY;
        }
    });
    let o = gta(&["data", "info", path_str(&p), "--json"]);
    assert_bad_input(
        &o,
        &[path_str(&p), "`observations` holds inf at row 2, column 1"],
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        v["problems"][0], "`observations` holds inf at row 2, column 1",
        "report printed too"
    );
    for out in ["out.hdf5", "out.npz", "out-minari"] {
        let target = dir.path().join(out);
        let o = gta(&["data", "convert", path_str(&p), path_str(&target)]);
        assert_bad_input(&o, &["holds inf at row 2, column 1"]);
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            left,
            vec![std::ffi::OsString::from("n.npz")],
            "partial output left behind"
        );
    }
}

#[test]
fn exit2_truncated_and_non_hdf5_files() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(DOOR).unwrap();
    let t = dir.path().join("truncated.hdf5");
    std::fs::write(&t, &bytes[..bytes.len() / 3]).unwrap();
    let o = gta(&["data", "info", path_str(&t)]);
    assert_bad_input(
        &o,
        &[
            path_str(&t),
            "not a readable HDF5 file (truncated or corrupt",
        ],
    );
    let x = dir.path().join("notes.h5");
    std::fs::write(&x, "hello").unwrap();
    let o = gta(&[
        "data",
        "convert",
        path_str(&x),
        path_str(&dir.path().join("o.npz")),
    ]);
    assert_bad_input(&o, &[path_str(&x), "no HDF5 signature"]);
    assert!(!dir.path().join("o.npz").exists());
}

#[test]
fn exit2_unknown_format() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("data.parquet");
    std::fs::write(&p, "x").unwrap();
    let o = gta(&["data", "info", path_str(&p)]);
    assert_bad_input(
        &o,
        &[
            path_str(&p),
            "unknown dataset format `.parquet`",
            "expected",
        ],
    );
    let o = gta(&[
        "data",
        "convert",
        DOOR,
        path_str(&dir.path().join("out.csv")),
    ]);
    assert_bad_input(&o, &["out.csv", "unknown dataset format `.csv`"]);
    assert!(!dir.path().join("out.csv").exists());
}
