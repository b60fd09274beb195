//! Formats: bit-for-bit round trips (HDF5 ↔ npz ↔ Minari), the real door-human file, atomic writes
//! and one test per bad-input class asserting its one-line message.

mod common;

use std::path::Path;

use common::{DOOR, assert_bit_eq, sum, synthetic};
use gta_data::format::minari;
use gta_data::{Array, ArrayData, DataError, Format, ReadOptions, WriteOptions, read, write};

fn write_default(d: &gta_data::Dataset, p: &Path) {
    write(d, p, &WriteOptions::default())
        .unwrap_or_else(|e| panic!("writing {}: {e}", p.display()));
}

fn read_default(p: &Path) -> gta_data::Dataset {
    read(p, &ReadOptions::default()).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()))
}

/// Files in `dir` (to check that no temporary file is left behind).
fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn synthetic_round_trips_are_bit_exact_through_every_format() {
    for with_next in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let original = synthetic(with_next);
        let h5 = dir.path().join("a.hdf5");
        let npz = dir.path().join("b.npz");
        let mini = dir.path().join("c-minari");
        let back = dir.path().join("d.h5");
        write_default(&original, &h5);
        let from_h5 = read_default(&h5);
        assert_bit_eq(&original, &from_h5);
        write_default(&from_h5, &npz);
        let from_npz = read_default(&npz);
        assert_bit_eq(&original, &from_npz);
        write_default(&from_npz, &mini);
        assert!(
            mini.join("data/main_data.hdf5").is_file() && mini.join("data/metadata.json").is_file()
        );
        let from_minari = read_default(&mini);
        assert_bit_eq(&original, &from_minari);
        write_default(&from_minari, &back);
        assert_bit_eq(&original, &read_default(&back));
        assert_eq!(
            entries(dir.path()),
            ["a.hdf5", "b.npz", "c-minari", "d.h5"],
            "no temporary files left"
        );
    }
}

#[test]
fn minari_episodes_end_at_flags_last_row_and_next_obs_breaks() {
    // synthetic(): terminal at 3, next_obs[5] != obs[6], timeout at 7, terminal at 10, last row 11.
    let ranges = minari::episode_ranges(&synthetic(true)).unwrap();
    assert_eq!(ranges, vec![0..4, 4..6, 6..8, 8..11, 11..12]);
    // Without next_observations the break at 5 disappears.
    let ranges = minari::episode_ranges(&synthetic(false)).unwrap();
    assert_eq!(ranges, vec![0..4, 4..8, 8..11, 11..12]);
}

#[test]
fn minari_without_next_observations_repeats_the_last_observation_and_marks_it() {
    let dir = tempfile::tempdir().unwrap();
    let mini = dir.path().join("m");
    write_default(&synthetic(false), &mini);
    // Read the raw Minari file as plain HDF5: episode_1 covers rows 4..8, observations (5, 3) whose
    // final row repeats row 7 of the source.
    let raw = read(
        mini.join("data/main_data.hdf5"),
        &ReadOptions {
            format: Some(Format::Hdf5),
        },
    )
    .unwrap();
    let obs = raw.get("episode_1/observations").unwrap();
    assert_eq!(obs.shape, vec![5, 3]);
    let ArrayData::F64(v) = &obs.data else {
        panic!("observations dtype changed")
    };
    let src = synthetic(false);
    let ArrayData::F64(s) = &src.get("observations").unwrap().data else {
        unreachable!()
    };
    assert_eq!(
        &v[12..15],
        &s[21..24],
        "final observation = copy of the last stored one"
    );
    assert_eq!(raw.get("episode_1/terminations").unwrap().shape, vec![4]);
    // gta reads it back without inventing next_observations.
    assert!(read_default(&mini).get("next_observations").is_none());
}

#[test]
fn door_human_loads_with_golden_counts_and_sums() {
    let d = read_default(Path::new(DOOR));
    let (n, obs_dim, act_dim) = d.check_layout().unwrap();
    assert_eq!((n, obs_dim, act_dim), (6729, 39, 28));
    assert_eq!(d.dtype_name(), "float32");
    assert!(
        matches!(d.get("terminals").unwrap().data, ArrayData::Bool(_)),
        "h5py enum read as bool"
    );
    let count = |k: &str| d.flags(k).unwrap().unwrap().iter().filter(|&&b| b).count();
    assert_eq!((count("terminals"), count("timeouts")), (25, 25));
    let golden = [
        ("observations", 53477.17064455551),
        ("actions", -18479.72226436624),
        ("rewards", 19891.37855859101),
        ("infos/qpos", 55216.0644116887),
        ("infos/qvel", 19549.77285890304),
    ];
    for (key, want) in golden {
        let got = sum(&d, key);
        assert!(
            ((got - want) / want).abs() < 1e-6,
            "{key}: sum {got}, golden {want}"
        );
    }
    let r = d.rewards_f32().unwrap();
    assert_eq!(&r[..3], &[-0.2873746, -0.28976876, -0.2908445]);
    assert!(d.get("next_observations").is_none());
}

#[test]
fn door_human_round_trips_bit_exact_through_npz_minari_and_hdf5() {
    let dir = tempfile::tempdir().unwrap();
    let original = read_default(Path::new(DOOR));
    let npz = dir.path().join("door.npz");
    let mini = dir.path().join("door-minari");
    let h5 = dir.path().join("door.hdf5");
    write_default(&original, &npz);
    let a = read_default(&npz);
    assert_bit_eq(&original, &a);
    write_default(&a, &mini);
    let b = read_default(&mini);
    assert_bit_eq(&original, &b);
    write_default(&b, &h5);
    assert_bit_eq(&original, &read_default(&h5));
}

#[test]
fn existing_output_is_refused_unless_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x.npz");
    std::fs::write(&p, b"user data").unwrap();
    let err = write(&synthetic(true), &p, &WriteOptions::default()).unwrap_err();
    assert!(matches!(err, DataError::OutputExists { .. }), "{err}");
    assert_eq!(
        std::fs::read(&p).unwrap(),
        b"user data",
        "user file untouched"
    );
    write(
        &synthetic(true),
        &p,
        &WriteOptions {
            overwrite: true,
            ..Default::default()
        },
    )
    .unwrap();
    assert_bit_eq(&synthetic(true), &read_default(&p));
}

#[test]
fn failed_write_leaves_no_partial_output() {
    for name in ["bad.hdf5", "bad.npz", "bad-minari"] {
        let dir = tempfile::tempdir().unwrap();
        let mut d = synthetic(true);
        // The last key (alphabetically) claims more elements than it holds.
        d.insert(
            "zz_broken",
            Array::new(vec![5, 5], ArrayData::F32(vec![0.0; 3])),
        );
        let out = dir.path().join(name);
        let err = write(&d, &out, &WriteOptions::default()).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "{}: key `zz_broken`: holds 3 elements, expected 25 for shape [5, 5]",
                out.display()
            )
        );
        assert!(
            entries(dir.path()).is_empty(),
            "{name}: left {:?}",
            entries(dir.path())
        );
    }
}

// ---- one test per bad-input class, asserting the message ----

#[test]
fn error_missing_file() {
    let err = read("/nonexistent/x.hdf5", &ReadOptions::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "/nonexistent/x.hdf5: no such file or folder (expected a .hdf5/.h5 file, a .npz file or a Minari dataset folder)"
    );
}

#[test]
fn error_missing_key() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("nokey.hdf5");
    let mut d = synthetic(true);
    d.arrays.remove("rewards");
    write_default(&d, &p);
    let err = read_default(&p).check_layout().unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: missing key `rewards` (expected an (N,) or (N, 1) float array)",
            p.display()
        )
    );
}

#[test]
fn error_mismatched_lengths() {
    let mut d = synthetic(true);
    d.insert(
        "actions",
        Array::new(vec![11, 2], ArrayData::F32(vec![0.0; 22])),
    );
    let err = d.check_layout().unwrap_err();
    assert_eq!(
        err.to_string(),
        "synthetic: key `actions` has 11 rows, expected 12 (the rows of `observations`)"
    );
}

#[test]
fn error_wrong_dims() {
    let mut d = synthetic(true);
    d.insert(
        "rewards",
        Array::new(vec![12, 2], ArrayData::F32(vec![0.0; 24])),
    );
    let err = d.check_layout().unwrap_err();
    assert_eq!(
        err.to_string(),
        "synthetic: key `rewards` has shape [12, 2], expected (N,) or (N, 1)"
    );
    let mut d = synthetic(true);
    d.insert(
        "observations",
        Array::new(vec![36], ArrayData::F64(vec![0.0; 36])),
    );
    let err = d.check_layout().unwrap_err();
    assert_eq!(
        err.to_string(),
        "synthetic: key `observations` has shape [36], expected (N, obs_dim)"
    );
}

#[test]
fn error_non_finite() {
    let mut d = synthetic(true);
    if let ArrayData::F32(v) = &mut d.arrays.get_mut("actions").unwrap().data {
        v[2 * 2 + 1] = f32::NAN;
    }
    let err = d.check_finite().unwrap_err();
    assert_eq!(
        err.to_string(),
        "synthetic: key `actions` holds NaN at row 2, column 1 (expected finite numbers)"
    );
    let info = gta_data::DatasetInfo::from_dataset(&d, &Default::default()).unwrap();
    assert!(
        info.problems
            .contains(&"`actions` holds NaN at row 2, column 1".to_string()),
        "{:?}",
        info.problems
    );
}

#[test]
fn error_truncated_hdf5() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(DOOR).unwrap();
    let p = dir.path().join("truncated.hdf5");
    std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
    let err = read(&p, &ReadOptions::default()).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, DataError::NotHdf5 { .. }), "{msg}");
    assert!(
        msg.starts_with(&format!(
            "{}: not a readable HDF5 file (truncated or corrupt",
            p.display()
        )),
        "{msg}"
    );
    assert!(!msg.contains('\n'));
}

#[test]
fn error_not_hdf5() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("text.hdf5");
    std::fs::write(&p, "observations,actions\n1,2\n").unwrap();
    let err = read(&p, &ReadOptions::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: not a readable HDF5 file (no HDF5 signature); expected an HDF5 file written by h5py or gta",
            p.display()
        )
    );
}

#[test]
fn error_unknown_format() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("data.csv");
    std::fs::write(&p, "1,2\n").unwrap();
    let err = read(&p, &ReadOptions::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: unknown dataset format `.csv` (expected .hdf5, .h5, .npz or a Minari dataset folder)",
            p.display()
        )
    );
    let err = Format::from_name("parquet", &p).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: unknown dataset format `parquet` (expected one of hdf5, npz, minari)",
            p.display()
        )
    );
}

#[test]
fn error_truncated_npz() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("t.npz");
    write_default(&synthetic(true), &p);
    let bytes = std::fs::read(&p).unwrap();
    std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
    let msg = read(&p, &ReadOptions::default()).unwrap_err().to_string();
    assert!(
        msg.starts_with(&format!(
            "{}: key `/`: not a readable .npz (zip) archive",
            p.display()
        )),
        "{msg}"
    );
}

/// h5py and numpy read what gta writes: bools as numpy bool, gzip chunks, nested keys.
#[test]
fn python_reads_gta_files() {
    let probe = std::process::Command::new("python3")
        .args(["-c", "import h5py, numpy"])
        .output();
    if !probe.as_ref().is_ok_and(|o| o.status.success()) {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set but python3 with h5py and numpy is unavailable"
        );
        eprintln!("skip: python3 with h5py and numpy not available (pip install h5py numpy)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let h5 = dir.path().join("s.hdf5");
    let npz = dir.path().join("s.npz");
    write_default(&synthetic(true), &h5);
    write_default(&synthetic(true), &npz);
    let script = r#"
import sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
assert f["terminals"].dtype == np.bool_, f["terminals"].dtype
assert f["terminals"].compression == "gzip", f["terminals"].compression
assert f["observations"].dtype == np.float64 and f["observations"].shape == (12, 3)
assert f["observations"].compression == "gzip"
assert f["rewards"].shape == (12, 1) and f["actions"].dtype == np.float32
assert list(np.nonzero(f["terminals"][:])[0]) == [3, 10]
assert f["infos/qpos"].shape == (12, 2)
assert f["metadata/iteration"][()] == 7
assert f["metadata/algorithm"][()] == b"SAC", f["metadata/algorithm"][()]
z = np.load(sys.argv[2])
assert z["terminals"].dtype == np.bool_ and list(np.nonzero(z["terminals"])[0]) == [3, 10]
assert np.array_equal(z["observations"], f["observations"][:])
assert z["infos/qpos"].shape == (12, 2) and z["rewards"].dtype == np.float32
assert z["metadata/algorithm"][()] == b"SAC"
print("ok")
"#;
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&h5)
        .arg(&npz)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A main_data.hdf5 laid out as minari 0.5 writes it (envs-and-data.md §5.1), built directly with
/// hdf5-pure: observations (T+1, obs), reset info included in infos (T+1 rows), f64 rewards.
#[test]
fn reads_a_minari_layout_written_by_another_tool() {
    use hdf5_pure::{AttrValue, EnumTypeBuilder, FileBuilder};
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("pointless-v0").join("data");
    std::fs::create_dir_all(&data).unwrap();
    let bool_type = || {
        EnumTypeBuilder::u8_based()
            .u8_value("FALSE", 0)
            .u8_value("TRUE", 1)
            .build()
            .unwrap()
    };
    let mut fb = FileBuilder::new();
    // Episodes written out of order on purpose: episode_10 must come after episode_2.
    for (i, steps, first) in [(10usize, 1usize, 100.0f64), (2, 2, 0.0)] {
        let mut g = fb.create_group(&format!("episode_{i}"));
        g.set_attr("id", AttrValue::I64(i as i64));
        let obs: Vec<f64> = (0..(steps + 1) * 2).map(|k| first + k as f64).collect();
        g.create_dataset("observations")
            .with_f64_data(&obs)
            .with_shape(&[steps as u64 + 1, 2]);
        g.create_dataset("actions")
            .with_f32_data(&vec![0.5; steps])
            .with_shape(&[steps as u64, 1]);
        g.create_dataset("rewards").with_f64_data(&vec![1.0; steps]);
        let mut term = vec![0u8; steps];
        term[steps - 1] = 1;
        g.create_dataset("terminations")
            .with_enum_u8_data(bool_type(), &term);
        g.create_dataset("truncations")
            .with_enum_u8_data(bool_type(), &vec![0u8; steps]);
        let mut infos = g.create_group("infos");
        infos
            .create_dataset("x")
            .with_f32_data(&(0..=steps).map(|k| k as f32).collect::<Vec<_>>());
        g.add_group(infos.finish());
        fb.add_group(g.finish());
    }
    fb.write(data.join("main_data.hdf5")).unwrap();
    let d = read_default(&dir.path().join("pointless-v0"));
    assert_eq!(d.check_layout().unwrap(), (3, 2, 1));
    let ArrayData::F64(obs) = &d.get("observations").unwrap().data else {
        panic!("dtype")
    };
    assert_eq!(
        obs,
        &vec![0., 1., 2., 3., 100., 101.],
        "episode_2 (rows 0..2) before episode_10"
    );
    let ArrayData::F64(next) = &d.get("next_observations").unwrap().data else {
        panic!("dtype")
    };
    assert_eq!(
        next,
        &vec![2., 3., 4., 5., 102., 103.],
        "next_obs = observations[1:] per episode"
    );
    assert_eq!(
        d.flags("terminals").unwrap().unwrap(),
        vec![false, true, true]
    );
    let ArrayData::F32(x) = &d.get("infos/x").unwrap().data else {
        panic!("dtype")
    };
    assert_eq!(
        x,
        &vec![0., 1., 0.],
        "the T+1 reset-inclusive infos keep their first T rows"
    );
    assert!(matches!(d.get("rewards").unwrap().data, ArrayData::F64(_)));
}

/// minari 0.5.4 opens a folder gta wrote (skipped, with a note, where python3 lacks minari; CI does
/// not install it).
#[test]
fn python_minari_loads_gta_folder() {
    let probe = std::process::Command::new("python3")
        .args(["-c", "import minari, PIL"])
        .output();
    if !probe.as_ref().is_ok_and(|o| o.status.success()) {
        eprintln!("skip: python3 with minari 0.5.4 (and pillow) not available");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("gta").join("synthetic-v0");
    std::fs::create_dir_all(folder.parent().unwrap()).unwrap();
    write_default(&synthetic(true), &folder);
    let script = r#"
import minari, numpy as np
ds = minari.load_dataset("gta/synthetic-v0")
assert (ds.total_episodes, ds.total_steps) == (5, 12), (ds.total_episodes, ds.total_steps)
eps = list(ds.iterate_episodes())
assert [len(e.actions) for e in eps] == [4, 2, 2, 3, 1]
assert eps[0].observations.shape == (5, 3) and eps[0].observations.dtype == np.float64
assert [int(e.terminations.sum()) for e in eps] == [1, 0, 0, 1, 0]
assert float(np.concatenate([e.rewards.ravel() for e in eps]).sum()) == sum(0.5 * i - 1 for i in range(12))
print("ok")
"#;
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .env("MINARI_DATASETS_PATH", dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
