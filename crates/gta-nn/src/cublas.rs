//! Matmuls through cuBLAS on CubeCL's own CUDA stream.
//!
//! burn's untuned CubeCL matmul ran the MixerUnet's GEMMs at ≈ 5 TFLOPS on an H100 (session-4
//! profile, `benchmarks/RESULTS.md`): a third of a training step. cuBLAS is NVIDIA's tuned GEMM
//! library, so no kernel of our own could match it; this module plugs it in underneath burn:
//!
//! - the patched burn-cubecl (`patches/README.md`) offers every matmul to a hook first;
//! - the patched cubecl-cuda hands out the raw device pointer *and* the CUDA stream of a buffer
//!   (`ComputeClient::get_resource`), after ordering that stream behind the buffer's writers;
//! - [`gemm_plan`](crate::gemm_plan) maps the row-major views (transposed, broadcast, batched)
//!   onto one `cublasGemmStridedBatchedEx` call, which is enqueued on that same stream.
//!
//! Layouts one call cannot express fall back to CubeCL's kernel. f32 uses TF32 tensor cores
//! (`CUBLAS_COMPUTE_32F_FAST_TF32`) under the default `--matmul-precision high`, like CubeCL's
//! untuned routine, and true f32 under `highest`; bf16/f16 accumulate in f32.
//!
//! `GTA_CUBLAS=0` keeps CubeCL's matmuls (for A/B runs); `GTA_CUBLAS_LIB=/path/libcublas.so.N`
//! names the library. Otherwise it is looked up on the loader path, in `/usr/local/cuda/lib64`
//! and in the `nvidia/*/lib` folders of the PyTorch wheels of `/opt/torch/.venv` (where the GPU
//! machine has it). Without it gta runs CubeCL's matmuls and says so once.

use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::c_void;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use burn::tensor::DType;
use burn_cubecl::tensor::CubeTensor;
use cudarc::cublas::sys as cb;
use cudarc::driver::sys as drv;

use crate::gemm_plan::{GemmPlan, Unsupported, plan};

use cubecl_cuda::CudaServer;

static TAKEN: AtomicU64 = AtomicU64::new(0);
static FALLBACK: AtomicU64 = AtomicU64::new(0);
static SMALL: AtomicU64 = AtomicU64::new(0);
static STATUS: OnceLock<Result<String, String>> = OnceLock::new();

/// Matmuls since the process started: taken by cuBLAS, left to CubeCL because one cuBLAS call
/// cannot express them, left to CubeCL because they are below [`MIN_FLOPS`].
pub fn counts() -> (u64, u64, u64) {
    (
        TAKEN.load(Ordering::Relaxed),
        FALLBACK.load(Ordering::Relaxed),
        SMALL.load(Ordering::Relaxed),
    )
}

/// Loads cuBLAS and installs the matmul hook, once per process (`Ok(library)` when cuBLAS
/// serves matmuls, `Err(reason)` when CubeCL keeps them).
pub fn install() -> &'static Result<String, String> {
    STATUS.get_or_init(|| {
        if std::env::var("GTA_CUBLAS").is_ok_and(|v| v == "0") {
            return Err("GTA_CUBLAS=0".into());
        }
        let lib = load_library()?;
        let min_flops = std::env::var("GTA_CUBLAS_MIN_FLOPS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(DEFAULT_MIN_FLOPS);
        set_min_flops(min_flops);
        burn_cubecl::kernel::matmul::set_external_matmul(Some(hook));
        Ok(lib)
    })
}

/// Where cuBLAS may live besides the loader path.
fn candidate_dirs() -> Vec<PathBuf> {
    let mut dirs = vec![PathBuf::from("/usr/local/cuda/lib64")];
    // PyTorch's CUDA wheels (nvidia-cublas): <venv>/lib/python3.X/site-packages/nvidia/*/lib.
    if let Ok(entries) = std::fs::read_dir("/opt/torch/.venv/lib") {
        for py in entries.flatten() {
            let nvidia = py.path().join("site-packages/nvidia");
            if let Ok(pkgs) = std::fs::read_dir(&nvidia) {
                dirs.extend(pkgs.flatten().map(|p| p.path().join("lib")));
            }
        }
    }
    dirs
}

/// Makes `libcublas.so.*` loadable by the bare names cudarc tries: a library opened once by
/// its full path is found again by its soname.
fn load_library() -> Result<String, String> {
    let keep = |path: &std::path::Path| -> Result<(), String> {
        // cuBLAS needs cuBLASLt beside it; load that first when it is there.
        if let Some(dir) = path.parent() {
            for lt in ["libcublasLt.so.13", "libcublasLt.so.12"] {
                if let Ok(l) = unsafe { libloading::Library::new(dir.join(lt)) } {
                    std::mem::forget(l);
                    break;
                }
            }
        }
        let l = unsafe { libloading::Library::new(path) }
            .map_err(|e| format!("{}: {e}", path.display()))?;
        std::mem::forget(l);
        Ok(())
    };
    if let Ok(path) = std::env::var("GTA_CUBLAS_LIB") {
        keep(path.as_ref())?;
        return check_loaded(path);
    }
    if unsafe { cb::is_culib_present() } {
        return check_loaded("libcublas (loader path)".into());
    }
    for dir in candidate_dirs() {
        for name in ["libcublas.so.13", "libcublas.so.12"] {
            let path = dir.join(name);
            if path.exists() && keep(&path).is_ok() {
                return check_loaded(path.display().to_string());
            }
        }
    }
    Err(
        "libcublas not found (loader path, /usr/local/cuda/lib64, /opt/torch/.venv wheels); \
         set GTA_CUBLAS_LIB"
            .into(),
    )
}

fn check_loaded(what: String) -> Result<String, String> {
    if unsafe { cb::is_culib_present() } {
        Ok(what)
    } else {
        Err(format!(
            "{what} was opened but cudarc cannot load libcublas by name"
        ))
    }
}

/// Matmuls below this many flops (2·m·n·k·batch) stay with CubeCL (f64 bits): read from
/// `GTA_CUBLAS_MIN_FLOPS` (default [`DEFAULT_MIN_FLOPS`]) by [`install`], or [`set_min_flops`].
static MIN_FLOPS: AtomicU64 = AtomicU64::new(0);

/// See [`MIN_FLOPS`].
pub const DEFAULT_MIN_FLOPS: f64 = 0.0;

/// Sets the size below which matmuls stay with CubeCL (the self-test sets 0 to check cuBLAS on
/// small products). Returns the previous value.
pub fn set_min_flops(flops: f64) -> f64 {
    f64::from_bits(MIN_FLOPS.swap(flops.to_bits(), Ordering::Relaxed))
}

fn hook(lhs: &CubeTensor, rhs: &CubeTensor, out: &CubeTensor) -> bool {
    if DISABLED.load(Ordering::Relaxed) {
        return false;
    }
    let (o, k) = (out.meta.shape(), lhs.meta.shape());
    let flops = 2.0 * o.num_elements() as f64 * k[k.num_dims() - 1] as f64;
    if flops < f64::from_bits(MIN_FLOPS.load(Ordering::Relaxed)) {
        SMALL.fetch_add(1, Ordering::Relaxed);
        return false;
    }
    let taken = prepare(lhs, rhs, out).and_then(|call| {
        if PROBED.load(Ordering::Acquire) {
            submit(call, lhs, rhs, out)
        } else {
            // The first GEMM waits for its pointers and runs here, where a cuBLAS failure can
            // still fall back; later ones are queued like kernel launches.
            blocking(&call, lhs, rhs, out).inspect_err(|e| {
                DISABLED.store(true, Ordering::Relaxed);
                tracing::warn!("cuBLAS failed on its first GEMM, using CubeCL's matmuls: {e}");
            })?;
            PROBED.store(true, Ordering::Release);
            Ok(())
        }
    });
    match taken {
        Ok(()) => {
            TAKEN.fetch_add(1, Ordering::Relaxed);
            true
        }
        Err(reason) => {
            if FALLBACK.fetch_add(1, Ordering::Relaxed) == 0 {
                tracing::debug!("first matmul left to CubeCL: {reason}");
            }
            false
        }
    }
}

static PROBED: AtomicBool = AtomicBool::new(false);
static DISABLED: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// One cuBLAS handle per CUDA context used from this thread, with its workspace
    /// (handle, device pointer).
    static HANDLES: RefCell<HashMap<usize, (usize, u64)>> = RefCell::new(HashMap::new());
}

/// Bytes of the workspace each cuBLAS handle gets (NVIDIA's recommendation for Hopper).
///
/// Set explicitly because since CUDA 12.2 cuBLAS otherwise takes its workspace with
/// `cudaMallocAsync`, which inside a CUDA-graph capture becomes a memory node, and CubeCL refuses
/// to instantiate a graph holding one (the captured training step, `gta_diffusion::graph_step`).
/// The buffer is allocated once per handle, before any capture, outside CubeCL's pools, and
/// lives as long as the process.
const WORKSPACE_BYTES: usize = 32 << 20;

/// Makes the stream's context current on this thread and returns this thread's handle for it
/// and the handle's workspace.
fn handle_for(stream: drv::CUstream) -> Result<(cb::cublasHandle_t, u64), String> {
    let mut ctx: drv::CUcontext = std::ptr::null_mut();
    let mut cur: drv::CUcontext = std::ptr::null_mut();
    unsafe {
        let rc = drv::cuStreamGetCtx(stream, &mut ctx);
        if rc != drv::CUresult::CUDA_SUCCESS {
            return Err(format!("cuStreamGetCtx: {rc:?}"));
        }
        drv::cuCtxGetCurrent(&mut cur);
        if cur != ctx {
            let rc = drv::cuCtxSetCurrent(ctx);
            if rc != drv::CUresult::CUDA_SUCCESS {
                return Err(format!("cuCtxSetCurrent: {rc:?}"));
            }
        }
    }
    HANDLES.with(|h| {
        let mut h = h.borrow_mut();
        if let Some(&(handle, workspace)) = h.get(&(ctx as usize)) {
            return Ok((handle as cb::cublasHandle_t, workspace));
        }
        let mut handle: cb::cublasHandle_t = std::ptr::null_mut();
        let st = unsafe { cb::cublasCreate_v2(&mut handle) };
        if st != cb::cublasStatus_t::CUBLAS_STATUS_SUCCESS {
            return Err(format!("cublasCreate: {st:?}"));
        }
        let mut workspace: drv::CUdeviceptr = 0;
        let rc = unsafe { drv::cuMemAlloc_v2(&mut workspace, WORKSPACE_BYTES) };
        if rc != drv::CUresult::CUDA_SUCCESS {
            return Err(format!("cuMemAlloc of the cuBLAS workspace: {rc:?}"));
        }
        h.insert(ctx as usize, (handle as usize, workspace));
        Ok((handle, workspace))
    })
}

/// One planned GEMM: the plan and the cuBLAS types.
#[derive(Debug, Clone, Copy)]
struct Call {
    plan: GemmPlan,
    data_type: cb::cudaDataType,
    compute: cb::cublasComputeType_t,
    /// Bytes per element.
    elem_bytes: u64,
}

/// Plans `out = lhs · rhs`, or says why cuBLAS cannot take it.
fn prepare(lhs: &CubeTensor, rhs: &CubeTensor, out: &CubeTensor) -> Result<Call, String> {
    let elem_bytes = lhs.dtype.size() as u64;
    let (data_type, compute) = match (lhs.dtype, rhs.dtype, out.dtype) {
        (DType::F32, DType::F32, DType::F32) => (
            cb::cudaDataType::CUDA_R_32F,
            if crate::precision::matmul_precision() == crate::MatmulPrecision::High {
                cb::cublasComputeType_t::CUBLAS_COMPUTE_32F_FAST_TF32
            } else {
                cb::cublasComputeType_t::CUBLAS_COMPUTE_32F
            },
        ),
        (DType::BF16, DType::BF16, DType::BF16) => (
            cb::cudaDataType::CUDA_R_16BF,
            cb::cublasComputeType_t::CUBLAS_COMPUTE_32F,
        ),
        (DType::F16, DType::F16, DType::F16) => (
            cb::cudaDataType::CUDA_R_16F,
            cb::cublasComputeType_t::CUBLAS_COMPUTE_32F,
        ),
        other => return Err(format!("dtypes {other:?}")),
    };
    fn view(t: &CubeTensor) -> (&[usize], &[usize]) {
        (t.meta.shape(), t.meta.strides())
    }
    let (l, r, o) = (view(lhs), view(rhs), view(out));
    let plan = plan(l, r, o)
        .map_err(|e: Unsupported| format!("{e:?}: lhs {l:?}, rhs {r:?}, out {o:?}"))?;
    Ok(Call {
        plan,
        data_type,
        compute,
        elem_bytes,
    })
}

/// A device pointer and the stream it was handed out on.
type Ptr = (u64, drv::CUstream);

/// The GEMM with pointers fetched by a round trip to the server (the first call of a process).
fn blocking(
    call: &Call,
    lhs: &CubeTensor,
    rhs: &CubeTensor,
    out: &CubeTensor,
) -> Result<(), String> {
    let resource = |t: &CubeTensor| {
        t.client
            .get_resource::<CudaServer>(t.handle.clone())
            .map_err(|e| format!("get_resource: {e:?}"))
    };
    // Held until the call is enqueued: a bound allocation is not handed out again meanwhile.
    let held = [resource(rhs)?, resource(lhs)?, resource(out)?];
    enqueue(
        call,
        std::array::from_fn(|i| (held[i].resource().ptr, held[i].resource().stream)),
    )
}

/// The GEMM queued on the server like a kernel launch. A failure there can no longer fall back
/// (the product would silently be missing), so it stops the process with the reason.
fn submit(call: Call, lhs: &CubeTensor, rhs: &CubeTensor, out: &CubeTensor) -> Result<(), String> {
    let handles = vec![rhs.handle.clone(), lhs.handle.clone(), out.handle.clone()];
    out.client
        .submit_with_resources::<CudaServer, _>(handles, move |resources| {
            let done = resources
                .map_err(|e| format!("get_resource: {e:?}"))
                .and_then(|held| {
                    let ptrs = std::array::from_fn(|i| {
                        (held[i].resource().ptr, held[i].resource().stream)
                    });
                    enqueue(&call, ptrs)
                });
            if let Err(e) = done {
                eprintln!(
                    "error: a cuBLAS matmul failed on the GPU ({e}); rerun with GTA_CUBLAS=0"
                );
                std::process::abort();
            }
        })
        .map_err(|e| format!("submit_with_resources: {e:?}"))
}

/// Enqueues the GEMM on the stream of the pointers `[rhs, lhs, out]`.
fn enqueue(call: &Call, [ra, rb, rc]: [Ptr; 3]) -> Result<(), String> {
    let stream = rc.1;
    if stream.is_null() || ra.1 != stream || rb.1 != stream {
        return Err("operands on different streams".into());
    }
    let (handle, workspace) = handle_for(stream)?;
    let op = |t: bool| {
        if t {
            cb::cublasOperation_t::CUBLAS_OP_T
        } else {
            cb::cublasOperation_t::CUBLAS_OP_N
        }
    };
    let p = &call.plan;
    let (alpha, beta) = (1.0f32, 0.0f32);
    let st = unsafe { cb::cublasSetStream_v2(handle, stream as cb::cudaStream_t) };
    if st != cb::cublasStatus_t::CUBLAS_STATUS_SUCCESS {
        return Err(format!("cublasSetStream: {st:?}"));
    }
    // cublasSetStream resets the workspace to cuBLAS's own pool, so set ours after it.
    let st =
        unsafe { cb::cublasSetWorkspace_v2(handle, workspace as *mut c_void, WORKSPACE_BYTES) };
    if st != cb::cublasStatus_t::CUBLAS_STATUS_SUCCESS {
        return Err(format!("cublasSetWorkspace: {st:?}"));
    }
    let mut st = cb::cublasStatus_t::CUBLAS_STATUS_SUCCESS;
    for lp in 0..p.loops as u64 {
        let [oa, ob, oc] = p.loop_strides.map(|s| lp * s as u64 * call.elem_bytes);
        st = unsafe {
            cb::cublasGemmStridedBatchedEx(
                handle,
                op(p.a.transposed),
                op(p.b.transposed),
                p.m as i32,
                p.n as i32,
                p.k as i32,
                &alpha as *const f32 as *const c_void,
                (ra.0 + oa) as *const c_void,
                call.data_type,
                p.a.ld as i32,
                p.a.batch_stride,
                (rb.0 + ob) as *const c_void,
                call.data_type,
                p.b.ld as i32,
                p.b.batch_stride,
                &beta as *const f32 as *const c_void,
                (rc.0 + oc) as *mut c_void,
                call.data_type,
                p.ldc as i32,
                p.batch_stride_c,
                p.batch as i32,
                call.compute,
                cb::cublasGemmAlgo_t::CUBLAS_GEMM_DEFAULT,
            )
        };
        if st != cb::cublasStatus_t::CUBLAS_STATUS_SUCCESS {
            break;
        }
    }
    if st != cb::cublasStatus_t::CUBLAS_STATUS_SUCCESS {
        return Err(format!("cublasGemmStridedBatchedEx: {st:?} for {p:?}"));
    }
    Ok(())
}
