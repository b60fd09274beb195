use super::init_matmul_output;
use crate::{kernel::quantization::dequantize, tensor::CubeTensor};
use burn_backend::cubecl::dtype_to_storage_type;
use burn_backend::{DType, TensorMetadata};
use burn_std::{MatmulTransformAnalysis, MatmulTransformPolicy};
use cubek::{
    matmul::{
        definition::{MatmulElems, MatmulGlobalElems, MatmulSetupError},
        strategy::Strategy,
    },
    std::InputBinding,
};

#[cfg(feature = "autotune")]
use super::matmul_autotune;

/// The strategy to be used when launching a matmul kernel.
pub enum MatmulStrategy {
    #[cfg(feature = "autotune")]
    /// Using autotune to choose the best kernel based on runtime information.
    Autotune,
    /// Cube implementation of matmul.
    Cube,
}

impl Default for MatmulStrategy {
    fn default() -> Self {
        // if autotune is enabled, default to autotune
        #[cfg(feature = "autotune")]
        return MatmulStrategy::Autotune;

        #[cfg(not(feature = "autotune"))]
        MatmulStrategy::Cube
    }
}

// gta patch (patches/README.md): upstream's untuned matmul (`Strategy::default()`, the `Auto`
// routine) stages f32 operands through TF32 tensor cores whenever the card has them: about 10
// mantissa bits per product, so f32 results differ from a true f32 matmul by ~1e-3 relative per
// layer. Like PyTorch's `torch.set_float32_matmul_precision("highest")`, gta can ask for true
// f32 (the unit-level routine, no tensor cores) for verification; the default stays upstream's.
static F32_TENSOR_CORES: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(true);

/// Whether untuned f32 matmuls may use TF32 tensor cores (`true`, upstream's behaviour) or must
/// run in true f32 (`false`). Process-wide; set it before the first matmul for consistent results.
pub fn set_f32_matmul_tensor_cores(enabled: bool) {
    F32_TENSOR_CORES.store(enabled, core::sync::atomic::Ordering::Relaxed);
}

/// The current setting of [`set_f32_matmul_tensor_cores`].
pub fn f32_matmul_tensor_cores() -> bool {
    F32_TENSOR_CORES.load(core::sync::atomic::Ordering::Relaxed)
}

fn untuned_strategy(lhs_dtype: DType) -> Strategy {
    if lhs_dtype == DType::F32 && !f32_matmul_tensor_cores() {
        Strategy::MultiLevel(cubek::matmul::multi_level::Strategy::SimpleUnit(
            Default::default(),
        ))
    } else {
        routine_override().unwrap_or_default()
    }
}

// gta patch (patches/README.md), session 4: `GTA_MATMUL_ROUTINE` picks the untuned routine for
// A/B measurements on a card (upstream's `Auto` is SimpleCyclicCmma, ≈ 5 TFLOPS on the MixerUnet's
// GEMMs on an H100). Unknown names are reported once and ignored; a routine that cannot launch a
// given problem falls back to `Auto` for that call.
fn routine_override() -> Option<Strategy> {
    use cubek::matmul::multi_level::Strategy as M;
    static CHOICE: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    let name = CHOICE.get_or_init(|| std::env::var("GTA_MATMUL_ROUTINE").ok());
    let routine = match name.as_deref()? {
        "auto" => return None,
        "simple-cyclic" => M::SimpleCyclicCmma(Default::default()),
        "simple-tma" => M::SimpleTmaCmma(Default::default()),
        "double-cyclic" => M::DoubleCyclicCmma(Default::default()),
        "double-tilewise" => M::DoubleTilewiseCmma(Default::default()),
        "double-hybrid" => M::DoubleHybridCmma(Default::default()),
        "double-tma" => M::DoubleTmaCmma(Default::default()),
        "ordered-double" => M::OrderedDoubleCmma(Default::default()),
        "specialized-tma" => M::SpecializedTmaCmma(Default::default()),
        "tiled" => return Some(Strategy::Tiled(cubek::matmul::tiled::Strategy::Cmma(Default::default()))),
        other => {
            static WARNED: std::sync::Once = std::sync::Once::new();
            WARNED.call_once(|| eprintln!("GTA_MATMUL_ROUTINE={other}: unknown routine, using auto"));
            return None;
        }
    };
    Some(Strategy::MultiLevel(routine))
}

// gta patch (patches/README.md), session 5: an external GEMM (gta-nn's cuBLAS route) may take a
// matmul before CubeCL's kernels do. The hook gets `lhs`, `rhs` and the output after the
// broadcast fold below, writes the product into the output's buffer and returns `true`, or
// returns `false` (unsupported layout, dtype or device) and CubeCL launches its own kernel.
/// An external matmul: `(lhs, rhs, out) -> taken`. See [`set_external_matmul`].
pub type ExternalMatmul = fn(&CubeTensor, &CubeTensor, &CubeTensor) -> bool;

static EXTERNAL_MATMUL: std::sync::RwLock<Option<ExternalMatmul>> = std::sync::RwLock::new(None);

/// Installs (or with `None` removes) the external matmul tried before CubeCL's untuned kernels.
pub fn set_external_matmul(hook: Option<ExternalMatmul>) {
    *EXTERNAL_MATMUL.write().unwrap_or_else(|e| e.into_inner()) = hook;
}

fn external_matmul() -> Option<ExternalMatmul> {
    *EXTERNAL_MATMUL.read().unwrap_or_else(|e| e.into_inner())
}

fn is_two_level(tensor: &CubeTensor) -> bool {
    match tensor.dtype {
        DType::QFloat(scheme) => burn_backend::quantization::global_scale_dtype(&scheme).is_some(),
        _ => false,
    }
}

fn maybe_dequantize(tensor: CubeTensor, dtype: DType) -> CubeTensor {
    if is_two_level(&tensor) {
        dequantize(tensor, dtype)
    } else {
        tensor
    }
}

/// Launch a matmul kernel using the given strategy.
pub fn matmul(
    lhs: CubeTensor,
    rhs: CubeTensor,
    out: Option<CubeTensor>,
    strategy: MatmulStrategy,
    out_dtype: DType,
) -> Result<CubeTensor, MatmulSetupError> {
    let out = out.unwrap_or_else(|| init_matmul_output(&lhs, &rhs, out_dtype));

    // No quantized matmul kernel applies a per-tensor scale, and the autotune candidates panic on
    // the level rather than decline it, taking the whole tuning run down with them.
    let mut lhs = maybe_dequantize(lhs, out_dtype);
    let rhs = maybe_dequantize(rhs, out_dtype);

    // A broadcast-rhs batched matmul that would tile poorly is folded into a
    // single matmul: `[.., b, m, k] @ [.., 1, k, n]` runs as `[.., 1, b*m, k]`
    // instead of `b` matmuls that each re-read the whole rhs. Pure metadata —
    // the launch operands share the handles, the returned tensor keeps the
    // broadcast shape.
    let mut out_launch = out.clone();
    if lhs.qparams.is_none() {
        let analysis = MatmulTransformAnalysis::from_metadata(&lhs.meta, &rhs.meta, &out.meta);
        let action = MatmulTransformPolicy::default().action(&analysis);
        action.apply(&mut lhs.meta);
        action.apply(&mut out_launch.meta);
    }

    // gta patch: the external matmul (cuBLAS) first, for unquantized operands.
    if lhs.qparams.is_none() && rhs.qparams.is_none() {
        if let Some(hook) = external_matmul() {
            if hook(&lhs, &rhs, &out_launch) {
                return Ok(out);
            }
        }
    }

    match strategy {
        MatmulStrategy::Cube => {
            // gta patch: an overridden routine that cannot take this problem falls back to Auto.
            let strategy = untuned_strategy(lhs.dtype);
            let true_f32 = lhs.dtype == DType::F32 && !f32_matmul_tensor_cores();
            let overridden = routine_override().is_some() && !true_f32;
            match launch_matmul(&strategy, lhs.clone(), rhs.clone(), out_launch.clone()) {
                Err(_) if overridden => {
                    launch_matmul(&Strategy::default(), lhs, rhs, out_launch)?
                }
                result => result?,
            }
            Ok(out)
        }
        #[cfg(feature = "autotune")]
        MatmulStrategy::Autotune => {
            matmul_autotune(lhs, rhs, Some(out_launch), out_dtype);
            Ok(out)
        }
    }
}

pub(crate) fn launch_matmul_naive<S: Clone + Into<Strategy>>(
    strategy: &S,
    mut lhs: CubeTensor,
    mut rhs: CubeTensor,
    out: CubeTensor,
) -> Result<(), MatmulSetupError> {
    // Naive has very specific layout requirements for block scaled tensors, so we need to manually
    // dequantize if it fails to launch normally. This is because naive is assumed to always work.
    if lhs.qparams.is_some() || rhs.qparams.is_some() {
        match launch_matmul(strategy, lhs.clone(), rhs.clone(), out.clone()) {
            Err(_) => {
                if lhs.qparams.is_some() {
                    lhs = dequantize(lhs, out.dtype);
                }
                if rhs.qparams.is_some() {
                    rhs = dequantize(rhs, out.dtype);
                }
                launch_matmul(strategy, lhs, rhs, out)
            }
            Ok(_) => Ok(()),
        }
    } else {
        launch_matmul(strategy, lhs, rhs, out)
    }
}

pub(crate) fn launch_matmul<S: Clone + Into<Strategy>>(
    strategy: &S,
    lhs: CubeTensor,
    mut rhs: CubeTensor,
    out: CubeTensor,
) -> Result<(), MatmulSetupError> {
    let strategy: Strategy = strategy.clone().into();
    let client = &out.client;

    let lhs_quant_handles = lhs.quantized_handles();
    let out_dtype: DType = out.dtype;

    let (lhs_dtype, lhs_handle) = match lhs_quant_handles {
        None => {
            let lhs_dtype = lhs.dtype;
            (
                lhs_dtype,
                InputBinding::new(lhs.binding(), dtype_to_storage_type(lhs_dtype)),
            )
        }
        Some((data, scale)) => {
            let scheme = lhs.scheme();
            let data_dtype = data.dtype;
            let scale_dtype = scale.dtype;
            (
                out_dtype,
                InputBinding::quantized(
                    data.binding(),
                    scale.binding(),
                    lhs.meta.shape().clone(),
                    scheme,
                    dtype_to_storage_type(data_dtype),
                    dtype_to_storage_type(scale_dtype),
                ),
            )
        }
    };

    let rhs_quant_handles = rhs.quantized_handles();

    let (rhs_dtype, rhs_handle) = match rhs_quant_handles {
        None => (
            lhs_dtype,
            InputBinding::new(rhs.binding(), dtype_to_storage_type(lhs_dtype)),
        ),
        Some((data, scale)) => {
            // Extremely hacky fix to ensure naive can run in every case
            if matches!(
                strategy,
                Strategy::MultiLevel(cubek::matmul::multi_level::Strategy::Naive)
            ) && rhs.scheme().block_size().is_some()
            {
                rhs = dequantize(rhs.clone(), lhs_dtype);
                let rhs_dtype = rhs.dtype;
                (
                    lhs_dtype,
                    InputBinding::new(rhs.binding(), dtype_to_storage_type(rhs_dtype)),
                )
            } else {
                let scheme = rhs.scheme();
                let data_dtype = data.dtype;
                let scale_dtype = scale.dtype;
                (
                    out_dtype,
                    InputBinding::quantized(
                        data.binding(),
                        scale.binding(),
                        rhs.meta.shape().clone(),
                        scheme,
                        dtype_to_storage_type(data_dtype),
                        dtype_to_storage_type(scale_dtype),
                    ),
                )
            }
        }
    };

    let mut dtypes = MatmulElems::from_globals(&MatmulGlobalElems {
        lhs: dtype_to_storage_type(lhs_dtype),
        rhs: dtype_to_storage_type(rhs_dtype),
        out: dtype_to_storage_type(out_dtype),
    });

    cubek::matmul::launch::launch_ref(
        &strategy,
        client,
        lhs_handle,
        rhs_handle,
        out.clone().binding(),
        &mut dtypes,
    )?;

    Ok(())
}
