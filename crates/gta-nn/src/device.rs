//! Run-time device selection: `cpu` (burn's flex backend) or `cuda` (CubeCL → CUDA C++ → NVRTC).
//!
//! burn 0.22 picks the backend from a run-time [`Device`]; this module turns a user's `--device`
//! string into one, after checking (for CUDA) that the driver and NVRTC can actually be loaded, so
//! that a machine without a GPU gets one clear line instead of a panic on a runtime worker thread.

use std::fmt;
use std::str::FromStr;

use burn::tensor::Device;

/// Which backend a command runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceKind {
    /// burn's `flex` CPU backend (always compiled in).
    Cpu,
    /// The CUDA backend, GPU `index` (needs the `cuda` cargo feature).
    Cuda(usize),
}

impl fmt::Display for DeviceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceKind::Cpu => write!(f, "cpu"),
            DeviceKind::Cuda(0) => write!(f, "cuda"),
            DeviceKind::Cuda(i) => write!(f, "cuda:{i}"),
        }
    }
}

impl FromStr for DeviceKind {
    type Err = DeviceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "cpu" | "flex" => Ok(DeviceKind::Cpu),
            "cuda" | "gpu" => Ok(DeviceKind::Cuda(0)),
            other => {
                if let Some(idx) = other.strip_prefix("cuda:") {
                    idx.parse::<usize>().map(DeviceKind::Cuda).map_err(|_| {
                        DeviceError::Unknown(format!(
                            "{other:?}: expected cuda:<index>, e.g. cuda:0"
                        ))
                    })
                } else {
                    Err(DeviceError::Unknown(format!(
                        "{other:?}: expected one of cpu, cuda, cuda:<index>"
                    )))
                }
            }
        }
    }
}

/// Why a device could not be created.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    /// The device string is not one gta knows.
    #[error("unknown device {0}")]
    Unknown(String),
    /// The binary was built without the backend.
    #[error(
        "device '{0}' is not compiled into this binary (compiled: {1}); rebuild with `--features cuda`"
    )]
    NotCompiled(String, String),
    /// The backend is compiled in but the machine cannot run it.
    #[error("backend 'cuda' could not be initialized: {0}")]
    Unavailable(String),
}

/// The backends compiled into this binary.
pub fn compiled_backends() -> Vec<&'static str> {
    let mut v = vec!["cpu"];
    if cfg!(feature = "cuda") {
        v.push("cuda");
    }
    v
}

/// Create the device for `kind`, seeded with `seed`. For CUDA, first checks that `libcuda.so.1`
/// loads, `cuInit` succeeds, a device exists and `libnvrtc` loads.
pub fn init_device(kind: DeviceKind, seed: u64) -> Result<Device, DeviceError> {
    let device = match kind {
        DeviceKind::Cpu => Device::flex(),
        DeviceKind::Cuda(index) => cuda_device(index)?,
    };
    device.seed(seed);
    Ok(device)
}

/// Parses a comma-separated device list (`cuda:0,cuda:1`; `cuda` alone is GPU 0).
pub fn parse_device_list(list: &str) -> Result<Vec<DeviceKind>, DeviceError> {
    let kinds = list
        .split(',')
        .map(|s| s.trim().parse::<DeviceKind>())
        .collect::<Result<Vec<_>, _>>()?;
    for (i, k) in kinds.iter().enumerate() {
        if kinds[..i].contains(k) {
            return Err(DeviceError::Unknown(format!(
                "list {list:?}: {k} is listed twice"
            )));
        }
    }
    Ok(kinds)
}

/// Creates the devices of a data-parallel run (one replica each), seeded with `seed`. Several
/// devices must all be CUDA GPUs (burn's CPU backend has no collective operations), exist on this
/// machine, and NCCL (`libnccl.so.2`, which burn's all-reduce loads at run time) must load.
pub fn init_devices(kinds: &[DeviceKind], seed: u64) -> Result<Vec<Device>, DeviceError> {
    if kinds.len() > 1 {
        if let Some(k) = kinds.iter().find(|k| !matches!(k, DeviceKind::Cuda(_))) {
            return Err(DeviceError::Unknown(format!(
                "{k} in a multi-device list: several devices must all be CUDA GPUs \
                 (burn's CPU backend is one device, without collective operations)"
            )));
        }
        multi_gpu_preflight(kinds)?;
    }
    kinds.iter().map(|&k| init_device(k, seed)).collect()
}

#[cfg(feature = "cuda")]
fn multi_gpu_preflight(kinds: &[DeviceKind]) -> Result<(), DeviceError> {
    use libloading::{Library, Symbol};
    use std::ffi::c_int;
    let count = cuda_preflight()
        .map_err(DeviceError::Unavailable)
        .and_then(|_| {
            let lib = unsafe { Library::new("libcuda.so.1") }
                .map_err(|e| DeviceError::Unavailable(e.to_string()))?;
            let mut n: c_int = 0;
            unsafe {
                let count: Symbol<unsafe extern "C" fn(*mut c_int) -> c_int> = lib
                    .get(b"cuDeviceGetCount\0")
                    .map_err(|e| DeviceError::Unavailable(e.to_string()))?;
                count(&mut n);
            }
            std::mem::forget(lib);
            Ok(n as usize)
        })?;
    if let Some(k) = kinds
        .iter()
        .find(|k| matches!(k, DeviceKind::Cuda(i) if *i >= count))
    {
        return Err(DeviceError::Unavailable(format!(
            "{k} does not exist: this machine has {count} GPU(s) (cuda:0 … cuda:{})",
            count.saturating_sub(1)
        )));
    }
    let names = ["libnccl.so.2", "libnccl.so"];
    let found = names
        .iter()
        .find_map(|n| unsafe { Library::new(n) }.ok().map(|l| (n, l)));
    match found {
        Some((_, lib)) => {
            std::mem::forget(lib);
            Ok(())
        }
        None => Err(DeviceError::Unavailable(format!(
            "several GPUs need NCCL for the gradient all-reduce, but none of {names:?} loads; \
             install NCCL 2 (e.g. the libnccl2 package, or pip's nvidia-nccl-cu12) and add the \
             folder holding libnccl.so.2 to LD_LIBRARY_PATH"
        ))),
    }
}

#[cfg(not(feature = "cuda"))]
fn multi_gpu_preflight(kinds: &[DeviceKind]) -> Result<(), DeviceError> {
    Err(DeviceError::NotCompiled(
        kinds
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(","),
        compiled_backends().join(", "),
    ))
}

#[cfg(feature = "cuda")]
fn cuda_device(index: usize) -> Result<Device, DeviceError> {
    cuda_preflight().map_err(DeviceError::Unavailable)?;
    crate::gpu_cache::ensure_configured().map_err(|e| DeviceError::Unavailable(e.to_string()))?;
    match crate::cublas::install() {
        Ok(lib) => tracing::debug!("matmuls through cuBLAS ({lib})"),
        Err(why) => tracing::info!("matmuls through CubeCL's kernels: {why}"),
    }
    Ok(Device::cuda(index))
}

#[cfg(not(feature = "cuda"))]
fn cuda_device(index: usize) -> Result<Device, DeviceError> {
    Err(DeviceError::NotCompiled(
        DeviceKind::Cuda(index).to_string(),
        compiled_backends().join(", "),
    ))
}

/// Pre-flight check with plain `dlopen` of the libraries cudarc loads later, so that a missing
/// driver is a readable error rather than a panic inside the runtime. `libloading` is used instead
/// of hand-written FFI for the dynamic loading itself.
#[cfg(feature = "cuda")]
fn cuda_preflight() -> Result<String, String> {
    use libloading::{Library, Symbol};
    use std::ffi::c_int;
    let open = |names: &[&str]| -> Option<(String, Library)> {
        names
            .iter()
            .find_map(|n| unsafe { Library::new(n) }.ok().map(|l| (n.to_string(), l)))
    };
    let (cuda_name, cuda) = open(&["libcuda.so.1", "libcuda.so"]).ok_or(
        "libcuda.so.1 not found: no NVIDIA driver on this machine (or not on the loader path)",
    )?;
    let (n, v) = unsafe {
        let init: Symbol<unsafe extern "C" fn(u32) -> c_int> = cuda
            .get(b"cuInit\0")
            .map_err(|e| format!("{cuda_name}: {e}"))?;
        let count: Symbol<unsafe extern "C" fn(*mut c_int) -> c_int> = cuda
            .get(b"cuDeviceGetCount\0")
            .map_err(|e| format!("{cuda_name}: {e}"))?;
        let ver: Symbol<unsafe extern "C" fn(*mut c_int) -> c_int> = cuda
            .get(b"cuDriverGetVersion\0")
            .map_err(|e| format!("{cuda_name}: {e}"))?;
        let rc = init(0);
        if rc != 0 {
            return Err(format!(
                "cuInit(0) failed with CUresult {rc} (100 = no CUDA-capable device)"
            ));
        }
        let (mut n, mut v) = (0, 0);
        count(&mut n);
        ver(&mut v);
        (n, v)
    };
    if n == 0 {
        return Err("cuDeviceGetCount returned 0 devices".into());
    }
    let nvrtc_names = ["libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so"];
    let (nvrtc_name, _lib) = open(&nvrtc_names).ok_or_else(|| {
        format!(
            "driver OK ({n} device(s), CUDA {}.{}) but libnvrtc was not found (tried {nvrtc_names:?}); \
             add the CUDA runtime library folder to LD_LIBRARY_PATH, e.g. /usr/local/cuda/lib64",
            v / 1000,
            (v % 1000) / 10
        )
    })?;
    std::mem::forget(cuda);
    Ok(format!(
        "{cuda_name} ok, {n} device(s), driver CUDA {}.{}, {nvrtc_name} ok",
        v / 1000,
        (v % 1000) / 10
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_device_strings() {
        assert_eq!("cpu".parse::<DeviceKind>().unwrap(), DeviceKind::Cpu);
        assert_eq!("cuda".parse::<DeviceKind>().unwrap(), DeviceKind::Cuda(0));
        assert_eq!("cuda:3".parse::<DeviceKind>().unwrap(), DeviceKind::Cuda(3));
        assert!("tpu".parse::<DeviceKind>().is_err());
        assert!("cuda:x".parse::<DeviceKind>().is_err());
        assert_eq!(DeviceKind::Cuda(2).to_string(), "cuda:2");
    }

    #[test]
    fn parses_device_lists() {
        assert_eq!(
            parse_device_list("cuda:0,cuda:1").unwrap(),
            vec![DeviceKind::Cuda(0), DeviceKind::Cuda(1)]
        );
        assert_eq!(
            parse_device_list("cuda").unwrap(),
            vec![DeviceKind::Cuda(0)]
        );
        let err = parse_device_list("cuda,cuda:0").unwrap_err().to_string();
        assert!(err.contains("listed twice"), "{err}");
        assert!(parse_device_list("cuda:0,tpu").is_err());
        let err = init_devices(&[DeviceKind::Cpu, DeviceKind::Cuda(1)], 0)
            .unwrap_err()
            .to_string();
        assert!(err.contains("collective"), "{err}");
        assert_eq!(init_devices(&[DeviceKind::Cpu], 0).unwrap().len(), 1);
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn cuda_without_feature_is_a_clear_error() {
        let err = init_device(DeviceKind::Cuda(0), 0).unwrap_err().to_string();
        assert!(err.contains("not compiled"), "{err}");
    }
}
